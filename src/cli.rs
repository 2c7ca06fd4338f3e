//! The command line (clap derive). Every value is validated at parse time, so
//! a bad flag is a usage error (exit 2) that names the flag and the accepted
//! form, before anything starts.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::event::{Nanos, ServiceDist};
use crate::pipeline::SimConfig;
use crate::pipeline::control::{check_error_rate, check_queue, check_rate, check_workers};
use crate::tui::theme::ThemeName;

#[derive(Parser, Debug, Clone)]
#[command(group = clap::ArgGroup::new("offscreen_output").args(["cast", "screenshot"]).multiple(true))]
#[command(
    name = "fantop",
    version,
    about = "A top for a fan-out: watch a metrics broadcaster work under a simulated load",
    long_about = None
)]
pub struct Cli {
    #[command(flatten)]
    pub load: LoadArgs,

    /// Run without the terminal UI for --duration and print a JSON summary.
    #[arg(long)]
    pub headless: bool,

    /// With --headless: run simulated time as fast as the CPU allows.
    #[arg(long, requires = "headless")]
    pub fast: bool,

    /// How long to run (e.g. 30s, 1.5m, 500ms). Required with --headless.
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub duration: Option<Nanos>,

    #[command(flatten)]
    pub ui: UiArgs,

    /// Record the event stream to FILE (JSON Lines; `fantop replay FILE` plays it).
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,

    /// Play a scripted timeline of actions (TOML; see assets/scenarios/).
    #[arg(long, value_name = "FILE.toml")]
    pub scenario: Option<PathBuf>,

    /// Write what the monitor draws to FILE as an asciicast v2 (asciinema) file.
    #[arg(long, value_name = "FILE.cast", conflicts_with = "headless")]
    pub cast: Option<PathBuf>,

    /// Render without a terminal, in simulated time, straight into --cast (and/or --screenshot).
    #[arg(long, requires = "offscreen_output", conflicts_with = "headless")]
    pub offscreen: bool,

    /// Screen size for --offscreen, COLSxROWS (e.g. 120x36).
    #[arg(long, value_name = "COLSxROWS", default_value = "120x36", value_parser = parse_size, requires = "offscreen")]
    pub size: (u16, u16),

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Replay a recording into the monitor (or, --headless, into a JSON summary).
    Replay(ReplayArgs),
    /// Measure the costs behind the design (updates, queries, fan-out, pipeline) and print a table.
    Bench(BenchArgs),
}

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// A short run (about 3 s): fewer, shorter repetitions.
    #[arg(long)]
    pub quick: bool,

    /// Print the report as JSON (schema `fantop-bench/1`, documented in `fantop::bench`;
    /// with --scale or --memory, the schemas documented in `fantop::bench::scale`).
    #[arg(long)]
    pub json: bool,

    /// Instead: publish→receive latency, one stalled subscriber, and cost and memory
    /// against subscribers and event rate (with --quick: tiny sizes).
    #[arg(long, conflicts_with = "memory")]
    pub scale: bool,

    /// Instead: run the live pipeline at 100,000 requests/s in real time with a stalled
    /// subscriber for --minutes and sample the resident memory.
    #[arg(long, conflicts_with = "quick")]
    pub memory: bool,

    /// With --memory: how long to run, in minutes (default 10).
    #[arg(long, value_name = "N", requires = "memory", value_parser = parse_minutes)]
    pub minutes: Option<f64>,
}

fn parse_minutes(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| "expected a number of minutes, e.g. 10 or 0.5".to_string())?;
    if !(v > 0.0 && v <= 24.0 * 60.0) {
        return Err(format!("minutes must be above 0 and at most 1440 (got {v})"));
    }
    Ok(v)
}

#[derive(Args, Debug, Clone)]
pub struct ReplayArgs {
    /// A recording made with --record or the r key.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Playback speed relative to the original pace, 0.1..=100.
    #[arg(long, value_name = "X", default_value = "1", value_parser = parse_speed)]
    pub speed: f64,

    /// No UI: print the same JSON summary as a live headless run.
    #[arg(long)]
    pub headless: bool,

    /// With --headless: as fast as possible instead of at the original pace.
    #[arg(long, requires = "headless")]
    pub fast: bool,

    #[command(flatten)]
    pub ui: UiArgs,
}

/// The terminal UI.
#[derive(Args, Debug, Clone)]
pub struct UiArgs {
    /// Most frames drawn per second, 1..=120 (only when something changed).
    #[arg(long, value_name = "N", default_value = "20", value_parser = clap::value_parser!(u32).range(1..=120))]
    pub fps: u32,

    /// Leave the mouse to the terminal (copy/paste works; no click-to-focus).
    #[arg(long)]
    pub no_mouse: bool,

    /// Monochrome (also when NO_COLOR is set); states stay readable in words.
    #[arg(long)]
    pub no_color: bool,

    /// Colours for a dark or a light terminal background (default dark; also FANTOP_THEME).
    #[arg(long, value_name = "dark|light", value_parser = ThemeName::parse, conflicts_with = "headless")]
    pub theme: Option<ThemeName>,

    /// At the end (quit, or the end of --offscreen), write the screen to FILE.svg; never overwrites.
    #[arg(long, value_name = "FILE.svg", conflicts_with = "headless")]
    pub screenshot: Option<PathBuf>,
}

impl UiArgs {
    /// The palette: `--theme`, else `FANTOP_THEME`, else dark. A bad
    /// `FANTOP_THEME` is an error that names it.
    pub fn theme_name(&self) -> Result<ThemeName, String> {
        if let Some(t) = self.theme {
            return Ok(t);
        }
        match std::env::var(ThemeName::ENV) {
            Ok(v) if v.trim().is_empty() => Ok(ThemeName::Dark),
            Ok(v) => ThemeName::parse(&v).map_err(|e| format!("invalid value '{v}' for {}: {e}", ThemeName::ENV)),
            Err(std::env::VarError::NotPresent) => Ok(ThemeName::Dark),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(format!("invalid value for {}: expected dark or light", ThemeName::ENV))
            }
        }
    }
}

/// The simulated load.
#[derive(Args, Debug, Clone)]
pub struct LoadArgs {
    /// Arrival rate, requests per second (Poisson).
    #[arg(long, allow_negative_numbers = true, value_name = "N", default_value = "2000", value_parser = parse_rate)]
    pub rate: f64,

    /// Worker pool size, 1..=1024.
    #[arg(long, allow_negative_numbers = true, value_name = "N", default_value = "8", value_parser = parse_workers)]
    pub workers: u16,

    /// Service-time distribution: const:DUR, exp:MEAN or lognormal:MEDIAN:P99.
    #[arg(long, value_name = "DIST", default_value = "lognormal:2ms:20ms", value_parser = parse_dist)]
    pub service: ServiceDist,

    /// Fraction of requests that fail, 0..=1.
    #[arg(long, allow_negative_numbers = true, value_name = "F", default_value = "0.01", value_parser = parse_error_rate)]
    pub error_rate: f64,

    /// Pipeline queue capacity; arrivals at a full queue are rejected.
    #[arg(long, allow_negative_numbers = true, value_name = "N", default_value = "10000", value_parser = parse_queue)]
    pub queue: u32,

    /// Seed for the simulation (ChaCha8); random and shown when omitted.
    #[arg(long, allow_negative_numbers = true, value_name = "N", value_parser = parse_seed)]
    pub seed: Option<u64>,

    /// Do not restart crashed workers.
    #[arg(long)]
    pub no_auto_restart: bool,
}

impl LoadArgs {
    /// The simulation settings, with `seed` filled in.
    pub fn sim_config(&self, seed: u64) -> SimConfig {
        SimConfig {
            rate: self.rate,
            workers: self.workers,
            service: self.service,
            error_rate: self.error_rate,
            queue_capacity: self.queue,
            seed,
            auto_restart: !self.no_auto_restart,
            ..SimConfig::default()
        }
    }
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| "expected a number of requests per second, e.g. 2000".to_string())?;
    check_rate(v).map_err(|e| e.0)
}

fn parse_workers(s: &str) -> Result<u16, String> {
    let v: u64 = s
        .trim()
        .parse()
        .map_err(|_| "expected a whole number from 1 to 1024".to_string())?;
    check_workers(v).map_err(|e| e.0)
}

fn parse_error_rate(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| "expected a fraction from 0 to 1, e.g. 0.01".to_string())?;
    check_error_rate(v).map_err(|e| e.0)
}

fn parse_queue(s: &str) -> Result<u32, String> {
    let v: u64 = s
        .trim()
        .parse()
        .map_err(|_| "expected a whole number of at least 1".to_string())?;
    check_queue(v).map_err(|e| e.0)
}

fn parse_seed(s: &str) -> Result<u64, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("expected a whole number from 0 to {}", u64::MAX))
}

fn parse_speed(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| "expected a number from 0.1 to 100, e.g. 2".to_string())?;
    if !(crate::session::replay::MIN_SPEED..=crate::session::replay::MAX_SPEED).contains(&v) {
        return Err(format!("speed must be from 0.1 to 100 (got {v})"));
    }
    Ok(v)
}

/// Parses `COLSxROWS`, e.g. `120x36`.
pub fn parse_size(s: &str) -> Result<(u16, u16), String> {
    let bad = || format!("expected COLSxROWS with 20..=1000 columns and 6..=500 rows, e.g. 120x36 (got '{s}')");
    let (c, r) = s.trim().split_once(['x', 'X']).ok_or_else(bad)?;
    let c: u16 = c.parse().map_err(|_| bad())?;
    let r: u16 = r.parse().map_err(|_| bad())?;
    if !(20..=1000).contains(&c) || !(6..=500).contains(&r) {
        return Err(bad());
    }
    Ok((c, r))
}

pub fn parse_duration(s: &str) -> Result<Nanos, String> {
    crate::parse::duration(s)
}

fn parse_dist(s: &str) -> Result<ServiceDist, String> {
    crate::parse::dist(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_match_the_documented_load() {
        let cli = Cli::try_parse_from(["fantop"]).unwrap();
        let c = cli.load.sim_config(1);
        assert_eq!(c.rate, 2000.0);
        assert_eq!(c.workers, 8);
        assert_eq!(c.service, ServiceDist::default());
        assert_eq!(c.error_rate, 0.01);
        assert_eq!(c.queue_capacity, 10_000);
    }
}
