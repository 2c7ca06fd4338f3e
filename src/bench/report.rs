//! What every `fantop bench` report shares: the machine it ran on, CPU
//! time, spreads of repeated measurements, and the number and table
//! formatting of the text reports.

use std::fmt::Write as _;
use std::thread;
use std::time::SystemTime;

use serde::Serialize;

/// A figure's distribution over the repetitions.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Spread {
    pub median: f64,
    pub p25: f64,
    pub p75: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub(crate) fn of(mut v: Vec<f64>) -> Spread {
        assert!(!v.is_empty());
        v.sort_by(f64::total_cmp);
        let q = |p: f64| {
            let x = p * (v.len() - 1) as f64;
            let (lo, hi) = (x.floor() as usize, x.ceil() as usize);
            v[lo] + (v[hi] - v[lo]) * (x - lo as f64)
        };
        Spread {
            median: q(0.5),
            p25: q(0.25),
            p75: q(0.75),
            min: v[0],
            max: v[v.len() - 1],
        }
    }

    pub(crate) fn map(self, f: impl Fn(f64) -> f64) -> Spread {
        // Monotonic maps only; a decreasing one swaps the ends.
        let (a, b) = (f(self.min), f(self.max));
        let (p25, p75) = (f(self.p25), f(self.p75));
        Spread {
            median: f(self.median),
            p25: p25.min(p75),
            p75: p25.max(p75),
            min: a.min(b),
            max: a.max(b),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cpus: usize,
    /// The 1-minute load average just before the run (0 when unknown).
    pub loadavg_1m: f64,
    /// CPUs kept busy by everything but this process, on average over the
    /// run (from /proc/stat and /proc/self/stat; `null` when unknown): how
    /// much the machine was shared while measuring.
    pub others_cpus: Option<f64>,
}

pub(crate) fn machine() -> Machine {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    let loadavg_1m = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0);
    Machine {
        cpu,
        cpus,
        loadavg_1m,
        others_cpus: None,
    }
}

/// CPU time from /proc: the whole machine's and this process's, in ticks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CpuTicks {
    /// Busy ticks of all CPUs (user, nice, system, irq, softirq, steal).
    busy: u64,
    /// All ticks of all CPUs.
    pub(crate) total: u64,
    /// CPUs counted in /proc/stat.
    pub(crate) cpus: u64,
    /// This process's user + system ticks.
    pub(crate) ours: u64,
}

impl CpuTicks {
    pub(crate) fn now() -> Option<CpuTicks> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let mut lines = stat.lines();
        let all: Vec<u64> = lines
            .next()?
            .strip_prefix("cpu ")?
            .split_whitespace()
            .map(|v| v.parse().ok())
            .collect::<Option<_>>()?;
        let field = |i: usize| all.get(i).copied().unwrap_or(0);
        // user nice system idle iowait irq softirq steal (guest is within user).
        let busy = field(0) + field(1) + field(2) + field(5) + field(6) + field(7);
        let total = busy + field(3) + field(4);
        let cpus = lines.filter(|l| l.starts_with("cpu")).count() as u64;
        let me = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command's closing parenthesis: state is field 3,
        // utime and stime are fields 14 and 15.
        let rest: Vec<&str> = me.rsplit_once(')')?.1.split_whitespace().collect();
        let ours = rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?;
        Some(CpuTicks {
            busy,
            total,
            cpus: cpus.max(1),
            ours,
        })
    }

    /// CPUs busy with other work, on average since `before`.
    pub(crate) fn others_cpus_since(&self, before: &CpuTicks) -> f64 {
        let total = self.total.saturating_sub(before.total);
        if total == 0 {
            return 0.0;
        }
        let others = self
            .busy
            .saturating_sub(before.busy)
            .saturating_sub(self.ours.saturating_sub(before.ours));
        others as f64 / total as f64 * self.cpus as f64
    }
}

pub(crate) fn command_line() -> String {
    let mut args = std::env::args();
    let prog = args
        .next()
        .map(|p| {
            std::path::Path::new(&p)
                .file_name()
                .map_or(p.clone(), |f| f.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "fantop".into());
    std::iter::once(prog).chain(args).collect::<Vec<_>>().join(" ")
}

/// The unit (divisor and name) that fits a duration in ns.
pub(crate) fn unit_of(ns: f64) -> (f64, &'static str) {
    if ns >= 1e6 {
        (1e6, "ms")
    } else if ns >= 1e3 {
        (1e3, "µs")
    } else {
        (1.0, "ns")
    }
}

/// A duration in ns, 3 significant digits, in a fitting unit.
pub fn fmt_ns(ns: f64) -> String {
    let (div, unit) = unit_of(ns);
    format!("{} {unit}", sig3(ns / div))
}

/// A number with 3 significant digits (no exponent below 1e6).
pub(crate) fn sig3(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A rate per second, 3 significant digits with k/M.
pub(crate) fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{}M", sig3(r / 1e6))
    } else if r >= 1e3 {
        format!("{}k", sig3(r / 1e3))
    } else {
        sig3(r)
    }
}

/// Lays out rows in columns (3-space indent, 2 spaces between); the columns
/// listed in `right` are right-aligned.
pub(crate) fn columns(rows: &[Vec<String>], right: &[usize]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::from("  ");
        for (i, cell) in row.iter().enumerate() {
            let pad = widths[i] - cell.chars().count();
            line.push_str("  ");
            if right.contains(&i) {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Wraps `text` at `width` columns, with a first-line and a continuation prefix.
pub(crate) fn wrap(text: &str, width: usize, first: &str, rest: &str) -> String {
    let mut out = String::from(first);
    let mut col = first.chars().count();
    let mut start = true;
    for word in text.split_whitespace() {
        let w = word.chars().count();
        if !start && col + 1 + w > width {
            out.push('\n');
            out.push_str(rest);
            col = rest.chars().count();
            start = true;
        }
        if !start {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += w;
        start = false;
    }
    out
}

/// The process's resident set now, in bytes (VmRSS), 0 when unknown.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

pub(crate) fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

pub(crate) fn date_now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

pub(crate) fn build() -> &'static str {
    if cfg!(debug_assertions) { "debug" } else { "release" }
}

pub(crate) fn progress(what: &str) {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        // Progress only: a terminal that fails it loses nothing the report
        // (on stdout) does not say.
        let _ = std::io::Write::write_fmt(&mut std::io::stderr(), format_args!("fantop bench: {what}...\n"));
    }
}

/// The machine lines every report starts with.
pub(crate) fn header(o: &mut String, title: &str, m: &Machine, build: &str, command: &str, date: &str) {
    let _ = writeln!(o, "{title} — {}, {} CPUs, {build} build", m.cpu, m.cpus);
    let _ = writeln!(
        o,
        "load:    average {:.2} before the run; {} while it ran",
        m.loadavg_1m,
        m.others_cpus.map_or("unknown".to_string(), |c| format!(
            "{c:.2} CPUs busy with other processes"
        ))
    );
    let _ = writeln!(o, "command: {command}");
    let _ = writeln!(o, "date:    {date}");
    if build == "debug" {
        let _ = writeln!(
            o,
            "WARNING: debug build: these numbers say little; use `cargo build --release`"
        );
    }
}
