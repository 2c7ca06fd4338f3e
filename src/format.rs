//! Human-readable numbers for the screen and the CLI: durations (`2.1ms`),
//! counts with thousands separators (`1,234,567`) and compact rates (`6.1k`).
//! Pure functions; the panes and the summary share them.

use crate::event::Nanos;

/// A duration in the largest unit that keeps it readable: `850ns`, `12µs`,
/// `2.1ms`, `1.5s`, `2m05s`.
pub fn duration(ns: Nanos) -> String {
    let f = ns as f64;
    if ns < 1_000 {
        format!("{ns}ns")
    } else if ns < 1_000_000 {
        trim(f / 1e3, "µs")
    } else if ns < 1_000_000_000 {
        trim(f / 1e6, "ms")
    } else if ns < 60_000_000_000 {
        trim(f / 1e9, "s")
    } else {
        let s = ns / 1_000_000_000;
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

/// A span of time of any length, rounded to its largest unit: under a
/// minute as [`duration`], then `12m`, `5h`, `3d`, `31y` (a year of 365.25
/// days).
pub fn span(ns: Nanos) -> String {
    const MINUTE: Nanos = 60 * 1_000_000_000;
    const HOUR: Nanos = 60 * MINUTE;
    const DAY: Nanos = 24 * HOUR;
    const YEAR: Nanos = 365 * DAY + DAY / 4;
    let (unit, name) = match ns {
        _ if ns < MINUTE => return duration(ns),
        _ if ns < HOUR => (MINUTE, "m"),
        _ if ns < DAY => (HOUR, "h"),
        _ if ns < YEAR => (DAY, "d"),
        _ => (YEAR, "y"),
    };
    format!("{}{name}", ns / unit + u64::from(ns % unit >= unit / 2))
}

/// One decimal below 10, none above: `2.1ms`, `19.8ms` -> `20ms`.
fn trim(v: f64, unit: &str) -> String {
    if v < 10.0 {
        let s = format!("{v:.1}");
        let s = s.strip_suffix(".0").unwrap_or(&s);
        format!("{s}{unit}")
    } else {
        format!("{v:.0}{unit}")
    }
}

/// `1234567` -> `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A rate or count in at most 5 characters: `950`, `6.1k`, `20k`, `1.2M`.
pub fn compact(v: f64) -> String {
    let v = if v.is_finite() { v.max(0.0) } else { 0.0 };
    if v < 1_000.0 {
        format!("{v:.0}")
    } else if v < 1e6 {
        trim(v / 1e3, "k")
    } else if v < 1e9 {
        trim(v / 1e6, "M")
    } else {
        trim(v / 1e9, "G")
    }
}

/// Elapsed time as `HH:MM:SS`.
pub fn clock(ns: Nanos) -> String {
    let s = ns / 1_000_000_000;
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

/// A duration in whole seconds: `<1s`, `4s`, `2m05s` (for ages shown live).
pub fn duration_s(ns: Nanos) -> String {
    let s = ns / 1_000_000_000;
    if s == 0 {
        return "<1s".into();
    }
    if s < 60 {
        format!("{s}s")
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(duration(850), "850ns");
        assert_eq!(duration(12_000), "12µs");
        assert_eq!(duration(2_100_000), "2.1ms");
        assert_eq!(duration(2_000_000), "2ms");
        assert_eq!(duration(19_800_000), "20ms");
        assert_eq!(duration(1_500_000_000), "1.5s");
        assert_eq!(duration(125_000_000_000), "2m05s");
    }

    #[test]
    fn spans_of_any_length_round_to_their_largest_unit() {
        let s = 1_000_000_000;
        assert_eq!(span(7 * s), "7s");
        assert_eq!(span(90 * s), "2m");
        assert_eq!(span(5 * 3600 * s), "5h");
        assert_eq!(span(3 * 86_400 * s), "3d");
        let year = 31_557_600 * s;
        assert_eq!(span(31 * year - 20_000_000), "31y");
        assert_eq!(span(u64::MAX), "585y");
    }

    #[test]
    fn counts_get_thousands_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
    }

    #[test]
    fn compact_rates_fit_five_columns() {
        assert_eq!(compact(950.0), "950");
        assert_eq!(compact(6_100.0), "6.1k");
        assert_eq!(compact(20_000.0), "20k");
        assert_eq!(compact(1_200_000.0), "1.2M");
        assert_eq!(compact(f64::NAN), "0");
        for v in [0.0, 999.4, 9_999.0, 99_999.0, 999_999.0, 5e9] {
            assert!(compact(v).chars().count() <= 5, "{v} -> {}", compact(v));
        }
    }

    #[test]
    fn clock_shows_hours_minutes_seconds() {
        assert_eq!(clock(83 * 1_000_000_000), "00:01:23");
    }
}
