//! Parsing of the values people type: durations (`500us`, `2ms`, `1.5s`,
//! `1m`) and service-time distributions (`const:500us`, `exp:1ms`,
//! `lognormal:2ms:20ms`). Errors say what was wrong and what is accepted;
//! the CLI, scenarios and the control API share these.

use crate::event::{MILLIS, Nanos, SECONDS, ServiceDist};

/// The accepted duration form, for error messages.
pub const DURATION_FORM: &str = "a number with a unit: ns, us, ms, s, m or h (e.g. 500us, 2ms, 1.5s, 1m)";
/// The accepted distribution forms, for error messages.
pub const DIST_FORM: &str = "const:DUR, exp:MEAN or lognormal:MEDIAN:P99 (e.g. lognormal:2ms:20ms)";

/// Parses a positive duration such as `500us`, `2ms`, `1.5s`, `1m`.
pub fn duration(s: &str) -> Result<Nanos, String> {
    let s = s.trim();
    if s.starts_with('-') {
        return Err(format!("'{s}' must be greater than zero; expected {DURATION_FORM}"));
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("'{s}' has no unit; expected {DURATION_FORM}"))?;
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration; expected {DURATION_FORM}"))?;
    let scale = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        _ => return Err(format!("'{s}' has an unknown unit '{unit}'; expected {DURATION_FORM}")),
    };
    let ns = value * scale;
    if !ns.is_finite() || ns > 1e18 {
        return Err(format!("'{s}' is too long"));
    }
    if ns < 1.0 {
        return Err(format!("'{s}' must be greater than zero"));
    }
    Ok(ns.round() as Nanos)
}

/// Parses a service-time distribution.
pub fn dist(s: &str) -> Result<ServiceDist, String> {
    let parts: Vec<&str> = s.trim().split(':').collect();
    let bad = |why: String| format!("bad distribution '{s}': {why}; expected {DIST_FORM}");
    match parts.as_slice() {
        ["const", d] => Ok(ServiceDist::Const {
            ns: duration(d).map_err(bad)?,
        }),
        ["exp", d] => Ok(ServiceDist::Exp {
            mean_ns: duration(d).map_err(bad)?,
        }),
        ["lognormal", m, p] => {
            let median_ns = duration(m).map_err(bad)?;
            let p99_ns = duration(p).map_err(bad)?;
            if p99_ns < median_ns {
                return Err(bad("p99 must be at least the median".into()));
            }
            Ok(ServiceDist::LogNormal { median_ns, p99_ns })
        }
        [kind, ..] if !matches!(*kind, "const" | "exp" | "lognormal") => Err(bad(format!("unknown kind '{kind}'"))),
        _ => Err(bad("wrong number of parts".into())),
    }
}

/// The canonical text of a distribution (parses back to the same value).
pub fn dist_text(d: &ServiceDist) -> String {
    match *d {
        ServiceDist::Const { ns } => format!("const:{}", duration_text(ns)),
        ServiceDist::Exp { mean_ns } => format!("exp:{}", duration_text(mean_ns)),
        ServiceDist::LogNormal { median_ns, p99_ns } => {
            format!("lognormal:{}:{}", duration_text(median_ns), duration_text(p99_ns))
        }
    }
}

/// An exact duration text in the largest unit that divides it.
pub fn duration_text(ns: Nanos) -> String {
    for (unit, scale) in [("s", SECONDS), ("ms", MILLIS), ("us", 1_000)] {
        if ns >= scale && ns.is_multiple_of(scale) {
            return format!("{}{unit}", ns / scale);
        }
    }
    format!("{ns}ns")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_every_documented_unit() {
        assert_eq!(duration("500us"), Ok(500_000));
        assert_eq!(duration("500µs"), Ok(500_000));
        assert_eq!(duration("2ms"), Ok(2_000_000));
        assert_eq!(duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(duration("1m"), Ok(60_000_000_000));
        assert_eq!(duration("10ns"), Ok(10));
    }

    #[test]
    fn durations_reject_missing_units_zero_and_garbage() {
        for bad in ["5", "0s", "-1s", "1.2.3s", "ms", "3 parsecs", "", "1e3s", "0.1ns"] {
            assert!(duration(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn distributions_parse_and_print_back() {
        for text in ["const:500us", "exp:1ms", "lognormal:2ms:20ms"] {
            let d = dist(text).unwrap();
            assert_eq!(dist_text(&d), text);
        }
        assert_eq!(dist("lognormal:2ms:20ms"), Ok(ServiceDist::default()));
    }

    #[test]
    fn distributions_reject_p99_below_median_and_unknown_kinds() {
        assert!(dist("lognormal:20ms:2ms").unwrap_err().contains("p99"));
        assert!(dist("gamma:1ms").unwrap_err().contains("unknown kind"));
        assert!(dist("exp").is_err());
        assert!(dist("const:1ms:2ms").is_err());
        assert!(dist("exp:fast").is_err());
    }
}
