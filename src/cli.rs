//! The command line (clap derive). Every value is validated at parse time, so
//! a bad flag is a usage error (exit 2) that names the flag and the accepted
//! form, before anything starts. So is a flag that would do nothing: one
//! given without the flag it needs (`--size` without `--offscreen`), beside
//! one that makes it moot (`--fps` with `--headless`; [`POINTLESS`]), or
//! before a subcommand it does not belong to. Numeric flags take negative
//! numbers as values, so `--fps -1` gets `--fps`'s own message.
//!
//! A usage error is one line, then `For more information, try '--help'.`
//! ([`usage_message`]); `--help` and `--version` print as usual.

use std::path::PathBuf;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::event::{Nanos, ServiceDist};
use crate::pipeline::SimConfig;
use crate::pipeline::control::{check_error_rate, check_queue, check_rate, check_workers};
use crate::tui::theme::ThemeName;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "fantop",
    version,
    about = "A top for a fan-out: watch a metrics broadcaster work under a simulated load",
    long_about = None,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(flatten)]
    pub load: LoadArgs,

    /// Run without the terminal UI for --duration and print a JSON summary.
    #[arg(long)]
    pub headless: bool,

    /// With --headless: run simulated time as fast as the CPU allows.
    #[arg(long)]
    pub fast: bool,

    /// How long to run (e.g. 30s, 1.5m, 500ms). Required with --headless.
    #[arg(long, value_name = "DUR", allow_hyphen_values = true, value_parser = parse_duration)]
    pub duration: Option<Nanos>,

    #[command(flatten)]
    pub ui: UiArgs,

    /// Record the event stream to FILE (JSON Lines; `fantop replay FILE` plays it).
    /// FILE must not exist (a terminal or /dev/null is written in place).
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,

    /// Play a scripted timeline of actions (TOML; see assets/scenarios/).
    #[arg(long, value_name = "FILE.toml")]
    pub scenario: Option<PathBuf>,

    /// Write what the monitor draws to FILE as an asciicast v2 (asciinema) file.
    /// FILE must not exist (a terminal or /dev/null is written in place).
    #[arg(long, value_name = "FILE.cast", conflicts_with = "headless")]
    pub cast: Option<PathBuf>,

    /// Render without a terminal, in simulated time, straight into --cast (and/or --screenshot).
    #[arg(long, conflicts_with = "headless")]
    pub offscreen: bool,

    /// Screen size for --offscreen, COLSxROWS [default: 120x36].
    #[arg(long, value_name = "COLSxROWS", allow_hyphen_values = true, value_parser = parse_size)]
    pub size: Option<(u16, u16)>,

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

    /// Instead: the live monitor's answer to keys at 100,000,000 requests/s against 2,000/s,
    /// key to effect on screen and q to exit (with --quick: fewer presses).
    #[arg(long, conflicts_with_all = ["scale", "memory"])]
    pub responsive: bool,

    /// With --memory: how long to run, in minutes (default 10).
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = parse_minutes)]
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
    #[arg(long, value_name = "X", default_value = "1", allow_negative_numbers = true, value_parser = parse_speed)]
    pub speed: f64,

    /// No UI: print the same JSON summary as a live headless run.
    #[arg(long)]
    pub headless: bool,

    /// With --headless: as fast as possible instead of at the original pace.
    #[arg(long)]
    pub fast: bool,

    /// Jump over idle stretches longer than DUR (recording time), e.g. 5s, 500ms;
    /// the Events pane says so. The position shown stays recording time.
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = parse_duration, conflicts_with = "fast")]
    pub max_idle: Nanos,

    #[command(flatten)]
    pub ui: UiArgs,
}

/// The terminal UI.
#[derive(Args, Debug, Clone)]
pub struct UiArgs {
    /// Most frames drawn per second, 1..=120 (only when something changed; a key redraws at once).
    #[arg(long, value_name = "N", default_value = "20", allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(1..=120))]
    pub fps: u32,

    /// Leave the mouse to the terminal (copy/paste works; no click-to-focus or wheel scrolling).
    #[arg(long)]
    pub no_mouse: bool,

    /// Monochrome (also when NO_COLOR is set); states stay readable in words.
    #[arg(long)]
    pub no_color: bool,

    /// Colours for a dark or a light terminal background (default dark; also FANTOP_THEME).
    #[arg(long, value_name = "dark|light", value_parser = ThemeName::parse)]
    pub theme: Option<ThemeName>,

    /// At the end (quit, or the end of --offscreen), write the screen to FILE.svg; never overwrites.
    #[arg(long, value_name = "FILE.svg")]
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

/// `--size` when not given.
pub const DEFAULT_SIZE: (u16, u16) = (120, 36);

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

/// A flag that does nothing in some company. Given on the command line
/// there, it is a usage error naming both flags (clap's `requires` would
/// name only the one missing).
pub struct Pointless {
    /// The subcommand (`None`: `fantop` itself).
    pub command: Option<&'static str>,
    /// Both as their long names, without the dashes.
    pub flag: &'static str,
    pub other: &'static str,
    /// A flag that does for `flag` what `other` does (`--offscreen` needs
    /// `--cast` or `--screenshot`).
    pub or: Option<&'static str>,
    /// `true`: `flag` does nothing without `other`; `false`: nothing beside it.
    pub without: bool,
    pub why: &'static str,
}

const fn needs(command: Option<&'static str>, flag: &'static str, other: &'static str, why: &'static str) -> Pointless {
    Pointless {
        command,
        flag,
        other,
        or: None,
        without: true,
        why,
    }
}

const fn moot(command: Option<&'static str>, flag: &'static str, other: &'static str, why: &'static str) -> Pointless {
    Pointless {
        command,
        flag,
        other,
        or: None,
        without: false,
        why,
    }
}

const REPLAY: Option<&str> = Some("replay");

/// Every flag that does nothing in some company, per command.
pub const POINTLESS: &[Pointless] = &[
    needs(
        None,
        "fast",
        "headless",
        "it runs a headless run's simulated time as fast as the CPU allows",
    ),
    Pointless {
        or: Some("screenshot"),
        ..needs(None, "offscreen", "cast", "it renders the monitor into those files")
    },
    needs(None, "size", "offscreen", "the monitor takes the terminal's size"),
    moot(None, "fps", "headless", "nothing is drawn"),
    moot(None, "no-color", "headless", "nothing is drawn"),
    moot(None, "theme", "headless", "nothing is drawn"),
    moot(None, "screenshot", "headless", "nothing is drawn"),
    moot(None, "no-mouse", "headless", "there is no screen"),
    moot(None, "no-mouse", "offscreen", "nothing reads the mouse"),
    needs(
        REPLAY,
        "fast",
        "headless",
        "the monitor replays at the original pace times --speed",
    ),
    moot(
        REPLAY,
        "speed",
        "fast",
        "a --fast replay runs as fast as the CPU allows",
    ),
    moot(REPLAY, "fps", "headless", "nothing is drawn"),
    moot(REPLAY, "no-color", "headless", "nothing is drawn"),
    moot(REPLAY, "theme", "headless", "nothing is drawn"),
    moot(REPLAY, "screenshot", "headless", "nothing is drawn"),
    moot(REPLAY, "no-mouse", "headless", "there is no screen"),
    needs(
        Some("bench"),
        "minutes",
        "memory",
        "it sets how long the memory run lasts",
    ),
];

fn given(m: &ArgMatches, long: &str) -> bool {
    m.value_source(&long.replace('-', "_")) == Some(ValueSource::CommandLine)
}

/// Parses the process's command line: the flags, then whether any of them
/// is [`POINTLESS`]. Help and version come back as errors too (clap's
/// `DisplayHelp`, `DisplayVersion`): see [`usage_message`].
pub fn parse() -> Result<(Cli, ArgMatches), clap::Error> {
    parse_from(std::env::args_os())
}

/// [`parse`], from the given arguments (the first is the program's name).
pub fn parse_from<I, T>(args: I) -> Result<(Cli, ArgMatches), clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = Cli::command().try_get_matches_from(args)?;
    let cli = Cli::from_arg_matches(&matches)?;
    let sub = matches.subcommand();
    for p in POINTLESS {
        let m = match (p.command, sub) {
            (None, _) => &matches,
            (Some(name), Some((s, m))) if name == s => m,
            _ => continue,
        };
        let other = given(m, p.other) || p.or.is_some_and(|o| given(m, o));
        if given(m, p.flag) && other != p.without {
            let (kind, msg) = if p.without {
                let or = p.or.map_or(String::new(), |o| format!(" or --{o}"));
                (
                    ErrorKind::MissingRequiredArgument,
                    format!("--{} needs --{}{or}: {}", p.flag, p.other, p.why),
                )
            } else {
                (
                    ErrorKind::ArgumentConflict,
                    format!("--{} does nothing with --{}: {}", p.flag, p.other, p.why),
                )
            };
            return Err(Cli::command().error(kind, msg));
        }
    }
    Ok((cli, matches))
}

/// A usage error as what to print on stderr: one line naming what was wrong
/// (`fantop: error: …`, with clap's list of missing flags and its tips
/// folded in, and no usage block), then `For more information, try
/// '--help'.`. `None` for help and version, which are not errors (clap's
/// `Error::print` prints them as usual).
pub fn usage_message(e: &clap::Error) -> Option<String> {
    if !e.use_stderr() {
        return None;
    }
    let text = e.render().to_string();
    let mut line = String::new();
    let mut in_list = false;
    for l in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if l.starts_with("Usage:") || l.starts_with("For more information") {
            break;
        }
        if line.is_empty() {
            line.push_str("fantop: ");
            line.push_str(l);
        } else if l.starts_with("tip:") {
            line.push_str("; ");
            line.push_str(l);
            in_list = false;
        } else {
            line.push_str(if in_list { ", " } else { " " });
            line.push_str(l);
            in_list = true;
        }
        if l.ends_with(':') {
            in_list = false;
        }
    }
    if matches!(
        e.kind(),
        ErrorKind::MissingRequiredArgument | ErrorKind::MissingSubcommand
    ) && let Some(ContextValue::StyledStr(usage)) = e.get(ContextKind::Usage)
    {
        let usage = usage.to_string();
        let usage = usage.trim().trim_start_matches("Usage:").trim();
        if !usage.is_empty() {
            line.push_str(&format!(" (usage: {usage})"));
        }
    }
    Some(format!("{line}\nFor more information, try '--help'.\n"))
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

    /// `--flag` and its value, if it takes one.
    fn flag(command: Option<&str>, long: &str) -> Vec<String> {
        let cmd = Cli::command();
        let cmd = match command {
            Some(c) => cmd.find_subcommand(c).expect("a subcommand").clone(),
            None => cmd,
        };
        let arg = cmd
            .get_arguments()
            .find(|a| a.get_long() == Some(long))
            .unwrap_or_else(|| panic!("no --{long} in {command:?}"));
        let mut v = vec![format!("--{long}")];
        if arg.get_action().takes_values() {
            let value = match long {
                "size" => "80x24",
                "fps" => "10",
                "speed" => "2",
                "minutes" => "1",
                "cast" => "x.cast",
                "screenshot" => "x.svg",
                "theme" => "light",
                other => panic!("no sample value for --{other}"),
            };
            v.push(value.into());
        }
        v
    }

    /// The command line of a `POINTLESS` row: the command, the flag, and
    /// (`with_other`) the other flag with what that one needs itself.
    fn args(p: &Pointless, with_other: bool) -> Vec<String> {
        let mut a = vec!["fantop".to_string()];
        if let Some(c) = p.command {
            a.push(c.into());
        }
        if p.command == REPLAY {
            a.push("rec.jsonl".into());
        }
        a.extend(flag(p.command, p.flag));
        if with_other {
            a.extend(flag(p.command, p.other));
            match (p.command, p.other) {
                (None, "offscreen") => a.extend(flag(None, "cast")),
                (REPLAY, "fast") => a.push("--headless".into()),
                _ => {}
            }
        }
        a
    }

    /// Each flag that does nothing without another (or beside another) is a
    /// usage error naming both, and fine in the company it needs.
    #[test]
    fn every_pointless_flag_is_a_usage_error_naming_both_flags() {
        for p in POINTLESS {
            let bad = args(p, !p.without);
            let e = match parse_from(&bad) {
                Err(e) => e,
                Ok(_) => panic!("{bad:?} was accepted"),
            };
            let msg = usage_message(&e).expect("a usage error");
            for f in [p.flag, p.other] {
                assert!(msg.contains(&format!("--{f}")), "{bad:?}: {msg}");
            }
            if p.without {
                let good = args(p, true);
                assert!(parse_from(&good).is_ok(), "{good:?} was refused");
            }
        }
    }

    /// `--offscreen` renders into a cast, a screenshot or both; with neither
    /// it is a usage error that names all three flags.
    #[test]
    fn offscreen_takes_a_cast_or_a_screenshot() {
        for ok in [
            &["fantop", "--offscreen", "--screenshot", "x.svg"][..],
            &["fantop", "--offscreen", "--cast", "x.cast"],
            &["fantop", "--offscreen", "--cast", "x.cast", "--screenshot", "x.svg"],
        ] {
            assert!(parse_from(ok).is_ok(), "{ok:?}");
        }
        let e = parse_from(["fantop", "--offscreen"]).expect_err("neither");
        let msg = usage_message(&e).expect("a usage error");
        for f in ["--offscreen", "--cast", "--screenshot"] {
            assert!(msg.contains(f), "{msg}");
        }
    }

    /// A usage error is one line and the pointer to --help: no usage block,
    /// clap's tips folded in; help is not an error.
    #[test]
    fn a_usage_error_is_one_line_and_the_pointer_to_help() {
        for args in [
            &["fantop", "--fsat"][..],
            &["fantop", "replay"],
            &["fantop", "--fps", "-1"],
            &["fantop", "--size", "80x24"],
            &["fantop", "--seed", "1", "replay", "x"],
        ] {
            let e = parse_from(args).expect_err("an error");
            let msg = usage_message(&e).expect("a usage error");
            let lines: Vec<&str> = msg.lines().collect();
            assert_eq!(lines.len(), 2, "{args:?}: {msg}");
            assert!(lines[0].starts_with("fantop: error: "), "{msg}");
            assert_eq!(lines[1], "For more information, try '--help'.");
        }
        let e = parse_from(["fantop", "--fsat"]).unwrap_err();
        assert!(
            usage_message(&e)
                .unwrap()
                .contains("tip: a similar argument exists: '--fast'")
        );
        let e = parse_from(["fantop", "replay"]).unwrap_err();
        assert!(usage_message(&e).unwrap().contains("<FILE>"));
        for help in ["--help", "--version", "-h"] {
            let e = parse_from(["fantop", help]).unwrap_err();
            assert!(usage_message(&e).is_none(), "{help}");
        }
    }

    /// Negative numbers reach the flag's own check (not `unexpected argument`).
    #[test]
    fn negative_values_get_the_flags_own_message() {
        for (args, needle) in [
            (&["fantop", "--fps", "-1"][..], "1..=120"),
            (&["fantop", "--duration", "-1s"], "greater than zero"),
            (
                &["fantop", "--offscreen", "--cast", "x", "--size", "-80x24"],
                "COLSxROWS",
            ),
            (&["fantop", "replay", "x", "--speed", "-2"], "speed must be"),
            (&["fantop", "bench", "--memory", "--minutes", "-1"], "minutes must be"),
            (&["fantop", "--rate", "-5"], "greater than 0"),
        ] {
            let e = parse_from(args).expect_err("an error");
            let msg = usage_message(&e).expect("a usage error");
            assert!(!msg.contains("unexpected argument"), "{args:?}: {msg}");
            assert!(msg.contains(needle), "{args:?}: {msg}");
        }
    }
}
