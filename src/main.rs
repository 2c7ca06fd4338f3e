//! The `fantop` binary: parses the command line, resolves the run's settings
//! (flags given explicitly, then a scenario's settings, then defaults) and
//! hands over to the library.
//!
//! Exit status: 0 the run finished (or quit); 1 it failed (a bad file, an
//! I/O error), with one line naming what was wrong; 2 a usage error, one
//! line and a pointer to `--help`; 128 + n stopped by signal n (SIGINT 130,
//! SIGTERM 143, SIGHUP 129, SIGQUIT 131) after finishing its files and
//! printing its summary.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, error::ErrorKind};
use fantop::cli::{self, Cli, Command, ReplayArgs};
use fantop::format;
use fantop::pipeline::SimConfig;
use fantop::run::{self, HeadlessOptions};
use fantop::session::RecordingSetup;
use fantop::session::record::ScenarioInfo;
use fantop::session::recording::Recording;
use fantop::session::replay::Pace as ReplayPace;
use fantop::session::scenario::{self, Scenario, StepAction};
use fantop::signals;
use fantop::tui::{self, Exit, MonitorOptions, Outcome, theme::Theme};

fn main() -> ExitCode {
    let (cli, matches) = cli::parse().unwrap_or_else(|e| exit_usage(&e));
    let result = match &cli.command {
        Some(Command::Replay(args)) => replay(args),
        Some(Command::Bench(args)) => fantop::bench::run(args).map(|()| ExitCode::SUCCESS),
        None => run(&cli, &matches),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // Never panic on a closed stderr (a terminal that went away).
            let _ = writeln!(std::io::stderr(), "fantop: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Prints a parse error and exits: help and version on stdout (status 0), a
/// usage error as [`cli::usage_message`] (status 2). Only before anything
/// has started.
fn exit_usage(e: &clap::Error) -> ! {
    let Some(text) = cli::usage_message(e) else {
        // Help or version, as clap prints them (in colour on a terminal);
        // a failed write is a failed run.
        let written = e.print().and_then(|()| std::io::stdout().flush());
        std::process::exit(if written.is_ok() { 0 } else { 1 })
    };
    let _ = std::io::stderr().write_all(text.as_bytes());
    std::process::exit(2)
}

fn usage(kind: ErrorKind, msg: &str) -> ! {
    exit_usage(&Cli::command().error(kind, msg))
}

/// The terminal monitor needs a terminal: without one it is a usage error
/// that says what to use instead.
fn need_terminal(monitor: &str, instead: &str) {
    if let Err(missing) = tui::term::check_terminal() {
        usage(
            ErrorKind::Io,
            &format!("{monitor} needs a terminal and {missing}; {instead}"),
        );
    }
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

/// Runs `fantop` itself.
fn run(cli: &Cli, m: &ArgMatches) -> anyhow::Result<ExitCode> {
    if !cli.headless && !cli.offscreen {
        need_terminal(
            "the monitor",
            "use --headless --duration DUR for a JSON summary, or --offscreen --cast FILE.cast to render the screen into a file",
        );
    }
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
            eprintln!(
                "fantop: seed {} (rerun with --seed {} to reproduce)",
                sim.seed, sim.seed
            );
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
        writeln!(std::io::stdout(), "{}", serde_json::to_string_pretty(&r.summary)?)?;
        warn_collector_loss(r.summary.collector_lost_events);
        // Stdout holds only the JSON; the notes (files written, evictions) go to stderr.
        for n in &r.notes {
            let _ = writeln!(std::io::stderr(), "fantop: {n}");
        }
        return Ok(stopped(r.stopped_by));
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
        let (cols, rows) = cli.size.unwrap_or(cli::DEFAULT_SIZE);
        tui::run_offscreen(opts, cols, rows)?
    } else {
        tui::run_live(opts)?
    };
    report(&outcome, Some(sim.seed));
    Ok(exit_code(outcome.exit))
}

/// A monitor's exit status.
fn exit_code(exit: Exit) -> ExitCode {
    match exit {
        Exit::Quit | Exit::Finished => ExitCode::SUCCESS,
        Exit::Signal(n) => ExitCode::from(signals::exit_status(n)),
        // A terminal that went away without a SIGHUP ends the run as one would.
        Exit::TerminalLost => ExitCode::from(signals::exit_status(signal_hook::consts::SIGHUP)),
        Exit::Panicked => ExitCode::FAILURE,
    }
}

/// A headless run's exit status; says on stderr when a stop signal ended
/// it (the JSON summary on stdout covers the run as far as it went).
fn stopped(signal: Option<i32>) -> ExitCode {
    let Some(n) = signal else {
        return ExitCode::SUCCESS;
    };
    let _ = writeln!(
        std::io::stderr(),
        "fantop: stopped by {}; the summary covers the run up to then",
        signals::name(n)
    );
    ExitCode::from(signals::exit_status(n))
}

/// One line on how the run went, then the notes (files written). Writes
/// that fail (the terminal went away) are ignored: the files are written.
fn report(o: &Outcome, seed: Option<u64>) {
    let mut out = std::io::stdout();
    let s = &o.snapshot;
    let t = s.totals;
    let ok = if t.completed() > 0 {
        t.succeeded as f64 * 100.0 / t.completed() as f64
    } else {
        0.0
    };
    let _ = writeln!(
        out,
        "fantop: ran {} of pipeline time, {} requests completed ({ok:.1}% ok), {} rejected, p99 {}{}{}",
        format::clock(s.at),
        format::count(t.completed()),
        format::count(t.rejected),
        format::duration(s.latency_total.p99),
        seed.map_or(String::new(), |s| format!("; seed {s}")),
        match o.exit {
            Exit::Signal(n) => format!(" (stopped by {})", signals::name(n)),
            Exit::Panicked => " (a thread panicked)".into(),
            Exit::TerminalLost => " (the terminal went away)".into(),
            _ => String::new(),
        }
    );
    for n in &o.notes {
        let _ = writeln!(out, "fantop: {n}");
    }
    warn_collector_loss(s.lost_events);
}

/// Says on stderr that the figures undercount, when the collector lost events.
fn warn_collector_loss(lost: u64) {
    if lost > 0 {
        let _ = writeln!(
            std::io::stderr(),
            "fantop: warning: the collector missed {} events (it could not keep up); the figures undercount the run",
            format::count(lost)
        );
    }
}

/// Runs `fantop replay`.
fn replay(args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    if !args.headless {
        need_terminal("the replay monitor", "use --headless for a JSON summary");
    }
    let recording = Recording::load(Path::new(&args.file))?;
    if let Some(w) = &recording.warning {
        eprintln!("fantop: warning: {w}");
    }
    if recording.missed > 0 {
        eprintln!(
            "fantop: warning: the recorder missed {} events of this run (marked as gaps); figures cover what was recorded",
            format::count(recording.missed)
        );
    }
    let pace = if args.fast {
        ReplayPace::Fast
    } else {
        ReplayPace::Paced {
            speed: args.speed,
            max_idle: args.max_idle,
        }
    };
    if args.headless {
        let r = run::replay_headless(recording, pace)?;
        writeln!(std::io::stdout(), "{}", serde_json::to_string_pretty(&r.summary)?)?;
        warn_collector_loss(r.summary.collector_lost_events);
        return Ok(stopped(r.stopped_by));
    }
    let outcome = tui::run_replay(
        recording,
        pace,
        args.ui.fps,
        !args.ui.no_mouse,
        Theme::from_env(args.ui.no_color),
    )?;
    report(&outcome, None);
    Ok(exit_code(outcome.exit))
}
