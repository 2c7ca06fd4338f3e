//! The `fantop` binary: parses the command line, resolves the run's settings
//! (flags given explicitly, then a scenario's settings, then defaults) and
//! hands over to the library. Usage errors exit 2; a bad file or a failed
//! run exits 1 with one line naming what was wrong.
//!
//! Nothing here prints with `println!`/`eprintln!` (which panic when the
//! stream is full or closed): every line goes through a [`Console`], which
//! keeps what failed to print, and a run whose output or files failed
//! (`2>/dev/full`, a full disk under `--record`) ends with one
//! `fantop: error: …` line per failure and exit status 1.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, error::ErrorKind};
use fantop::cli::{Cli, Command, ReplayArgs};
use fantop::format;
use fantop::pipeline::SimConfig;
use fantop::run::{self, HeadlessOptions};
use fantop::session::RecordingSetup;
use fantop::session::files::{self, Refused};
use fantop::session::record::{Recording, ScenarioInfo};
use fantop::session::scenario::{self, Scenario, StepAction};
use fantop::tui::{self, Exit, MonitorOptions, Outcome, theme::Theme};

fn main() -> ExitCode {
    let matches = Cli::command().try_get_matches().unwrap_or_else(|e| clap_exit(e));
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| clap_exit(e));
    let mut console = Console::default();
    let result = match &cli.command {
        Some(Command::Replay(args)) => replay(args, &mut console),
        Some(Command::Bench(args)) => fantop::bench::run(args),
        None => run(&cli, &matches, &mut console),
    };
    if let Err(e) = result {
        console.errors.push(format!("{e:#}"));
    }
    console.finish()
}

/// Prints clap's message (help, version, a usage error) and exits with its
/// status; help or version that could not be printed exit 1.
fn clap_exit(e: clap::Error) -> ! {
    let printed = e.print();
    let code = match e.exit_code() {
        0 if printed.is_err() => 1,
        code => code,
    };
    std::process::exit(code)
}

/// The run's stdout and stderr. A line that cannot be written (the stream
/// is full or closed) is not lost silently: the failure is kept (once per
/// stream) and reported by [`Console::finish`], with the run's other
/// errors.
#[derive(Default)]
struct Console {
    /// One line each, without the `fantop: error: ` prefix.
    errors: Vec<String>,
}

impl Console {
    /// A line on stdout.
    fn out(&mut self, line: &str) {
        let mut o = std::io::stdout().lock();
        let r = writeln!(o, "{line}").and_then(|()| o.flush());
        self.check("stdout", r);
    }

    /// A line on stderr.
    fn err(&mut self, line: &str) {
        let mut e = std::io::stderr().lock();
        let r = writeln!(e, "{line}").and_then(|()| e.flush());
        self.check("stderr", r);
    }

    fn check(&mut self, stream: &str, r: std::io::Result<()>) {
        if let Err(e) = r {
            let line = format!("{stream}: {}", files::describe(&e));
            if !self.errors.contains(&line) {
                self.errors.push(line);
            }
        }
    }

    /// Files that failed during the run (each names the file and why).
    fn failed(&mut self, failures: &[String]) {
        self.errors.extend(failures.iter().cloned());
    }

    /// One `fantop: error: …` line per failure on stderr (best effort: a
    /// stderr that fails has nowhere else to go); exit 1 if there were any.
    fn finish(self) -> ExitCode {
        let mut e = std::io::stderr().lock();
        for line in &self.errors {
            let _ = writeln!(e, "fantop: error: {line}");
        }
        if self.errors.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

fn usage(kind: ErrorKind, msg: &str) -> ! {
    Cli::command().error(kind, msg).exit()
}

fn given(m: &ArgMatches, id: &str) -> bool {
    m.value_source(id) == Some(ValueSource::CommandLine)
}

/// The load: explicit flags win over the scenario's settings, which win
/// over the defaults.
fn sim_config(cli: &Cli, m: &ArgMatches, scenario: Option<&Scenario>) -> SimConfig {
    let seed = cli
        .load
        .seed
        .or_else(|| scenario.and_then(|s| s.settings.seed))
        // A random seed fits in 32 bits, so it stays short enough to read
        // and type.
        .unwrap_or_else(|| u64::from(rand::random::<u32>()));
    let mut c = cli.load.sim_config(seed);
    if let Some(s) = scenario.map(|s| &s.settings) {
        if let Some(v) = s.rate.filter(|_| !given(m, "rate")) {
            c.rate = v;
        }
        if let Some(v) = s.workers.filter(|_| !given(m, "workers")) {
            c.workers = v;
        }
        if let Some(v) = s.service.filter(|_| !given(m, "service")) {
            c.service = v;
        }
        if let Some(v) = s.error_rate.filter(|_| !given(m, "error_rate")) {
            c.error_rate = v;
        }
        if let Some(v) = s.queue.filter(|_| !given(m, "queue")) {
            c.queue_capacity = v;
        }
        if let Some(v) = s.auto_restart.filter(|_| !given(m, "no_auto_restart")) {
            c.auto_restart = v;
        }
    }
    c
}

/// Checks the run's files before anything starts: no output is an input or
/// another output (a usage error naming both flags), and no output exists
/// already (see `session::files`). A new file flag is one more pair here.
fn check_files(cli: &Cli) -> anyhow::Result<()> {
    let inputs = [("--scenario", cli.scenario.as_deref())];
    let outputs = [("--record", cli.record.as_deref()), ("--cast", cli.cast.as_deref())];
    match files::check(&present(&inputs), &present(&outputs)) {
        Ok(()) => Ok(()),
        Err(Refused::Usage(msg)) => usage(ErrorKind::ArgumentConflict, &msg),
        Err(Refused::File(msg)) => Err(anyhow::Error::msg(msg)),
    }
}

/// The flags that were given, with their paths.
fn present<'a>(flags: &[(&'static str, Option<&'a Path>)]) -> Vec<(&'static str, &'a Path)> {
    flags.iter().filter_map(|&(flag, p)| Some((flag, p?))).collect()
}

fn run(cli: &Cli, m: &ArgMatches, console: &mut Console) -> anyhow::Result<()> {
    check_files(cli)?;
    let scenario = match &cli.scenario {
        Some(p) => Some(scenario::load(p)?),
        None => None,
    };
    let sim = sim_config(cli, m, scenario.as_ref());
    let duration = cli.duration.or_else(|| scenario.as_ref().and_then(|s| s.end()));
    if cli.headless && duration.is_none() {
        usage(
            ErrorKind::MissingRequiredArgument,
            "--headless needs --duration DUR (e.g. --duration 10s) or a --scenario with an end step",
        );
    }
    if cli.offscreen && duration.is_none() {
        usage(
            ErrorKind::MissingRequiredArgument,
            "--offscreen needs --duration DUR or a --scenario with an end step",
        );
    }
    let info = scenario.as_ref().map(|s| ScenarioInfo {
        name: s.name.clone(),
        steps: s.labels(),
    });
    let timeline = scenario.as_ref().map(|s| s.timeline()).unwrap_or_default();
    let steps: Vec<_> = scenario
        .as_ref()
        .map(|s| s.steps.iter().map(|st| st.what).collect())
        .unwrap_or_default();
    let seed_was_chosen = cli.load.seed.is_none() && scenario.as_ref().is_none_or(|s| s.settings.seed.is_none());
    if cli.headless {
        if seed_was_chosen {
            console.err(&format!(
                "fantop: seed {} (rerun with --seed {} to reproduce)",
                sim.seed, sim.seed
            ));
        }
        let r = run::headless(HeadlessOptions {
            sim,
            duration,
            fast: cli.fast,
            timeline,
            steps,
            record: cli.record.clone(),
            scenario: info,
        })?;
        // Printed even when a file failed: the run went on to its end.
        console.out(&serde_json::to_string_pretty(&r.summary)?);
        warn_collector_loss(console, r.summary.collector_lost_events);
        // Stdout holds only the JSON; the notes (files written, evictions) go to stderr.
        for n in &r.notes {
            console.err(&format!("fantop: {n}"));
        }
        console.failed(&r.failures);
        return Ok(());
    }
    // With `record_start` steps, `--record FILE` only names the files.
    let record_at_start = cli.record.is_some() && !steps.contains(&StepAction::RecordStart);
    let opts = MonitorOptions {
        sim,
        fps: cli.ui.fps,
        mouse: !cli.ui.no_mouse,
        theme: Theme::from_env(cli.ui.no_color),
        duration,
        timeline,
        steps,
        step_labels: info.as_ref().map(|i| i.steps.clone()).unwrap_or_default(),
        recording: RecordingSetup {
            seed: sim.seed,
            config: run::config_summary(&sim, duration, cli.offscreen),
            scenario: info,
            path: cli.record.clone(),
        },
        record_at_start,
        cast: cli.cast.clone(),
    };
    let outcome = if cli.offscreen {
        tui::run_offscreen(opts, cli.size.0, cli.size.1)?
    } else {
        tui::run_live(opts)?
    };
    report(console, &outcome, Some(sim.seed));
    Ok(())
}

/// One line on how the run went, then the notes (every file written), then
/// the files that failed (as errors, by [`Console::finish`]).
fn report(console: &mut Console, o: &Outcome, seed: Option<u64>) {
    let s = &o.snapshot;
    let t = s.totals;
    let ok = if t.completed() > 0 {
        t.succeeded as f64 * 100.0 / t.completed() as f64
    } else {
        0.0
    };
    console.out(&format!(
        "fantop: ran {} of pipeline time, {} requests completed ({ok:.1}% ok), {} rejected, p99 {}{}{}",
        format::clock(s.at),
        format::count(t.completed()),
        format::count(t.rejected),
        format::duration(s.latency_total.p99),
        seed.map_or(String::new(), |s| format!("; seed {s}")),
        match o.exit {
            Exit::Signal(n) => format!(" (stopped by signal {n})"),
            Exit::Panicked => " (a thread panicked)".into(),
            Exit::TerminalLost => " (the terminal went away)".into(),
            _ => String::new(),
        }
    ));
    for n in &o.notes {
        console.out(&format!("fantop: {n}"));
    }
    warn_collector_loss(console, s.lost_events);
    console.failed(&o.failures);
}

/// Says on stderr that the figures undercount, when the collector lost events.
fn warn_collector_loss(console: &mut Console, lost: u64) {
    if lost > 0 {
        console.err(&format!(
            "fantop: warning: the collector missed {} events (it could not keep up); the figures undercount the run",
            format::count(lost)
        ));
    }
}

fn replay(args: &ReplayArgs, console: &mut Console) -> anyhow::Result<()> {
    let recording = Recording::load(Path::new(&args.file))?;
    if let Some(w) = &recording.warning {
        console.err(&format!("fantop: warning: {w}"));
    }
    if recording.missed > 0 {
        console.err(&format!(
            "fantop: warning: the recorder missed {} events of this run (marked as gaps); figures cover what was recorded",
            format::count(recording.missed)
        ));
    }
    if args.headless {
        let summary = run::replay_headless(recording, args.fast, args.speed)?;
        console.out(&serde_json::to_string_pretty(&summary)?);
        warn_collector_loss(console, summary.collector_lost_events);
        return Ok(());
    }
    let outcome = tui::run_replay(
        recording,
        args.speed,
        args.ui.fps,
        !args.ui.no_mouse,
        Theme::from_env(args.ui.no_color),
    )?;
    report(console, &outcome, None);
    Ok(())
}
