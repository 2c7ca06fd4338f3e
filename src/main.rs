//! The `fantop` binary: parses the command line, resolves the run's settings
//! (flags given explicitly, then a scenario's settings, then defaults) and
//! hands over to the library.
//!
//! Exit status: 0 the run finished (or quit); 1 it failed (a bad file, an
//! I/O error), with one line naming what was wrong; 2 a usage error, one
//! line and a pointer to `--help`; 128 + n stopped by signal n (SIGINT 130,
//! SIGTERM 143, SIGHUP 129, SIGQUIT 131) after finishing its files and
//! printing its summary.
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
use clap::{ArgMatches, CommandFactory, error::ErrorKind};
use fantop::cli::{self, Cli, Command, ReplayArgs, UiArgs};
use fantop::format;
use fantop::pipeline::SimConfig;
use fantop::run::{self, HeadlessOptions};
use fantop::session::RecordingSetup;
use fantop::session::files::{self, Refused};
use fantop::session::record::ScenarioInfo;
use fantop::session::recording::Recording;
use fantop::session::replay::Pace as ReplayPace;
use fantop::session::scenario::{self, Scenario, StepAction};
use fantop::signals;
use fantop::tui::svg::Screenshot;
use fantop::tui::{self, Exit, MonitorOptions, Outcome, theme::Theme};

fn main() -> ExitCode {
    let (cli, matches) = cli::parse().unwrap_or_else(|e| exit_usage(&e));
    let mut console = Console::default();
    let result = match &cli.command {
        Some(Command::Replay(args)) => replay(args, &mut console),
        Some(Command::Bench(args)) => fantop::bench::run(args).map(|()| 0),
        None => run(&cli, &matches, &mut console),
    };
    let status = result.unwrap_or_else(|e| {
        console.errors.push(format!("{e:#}"));
        1
    });
    console.finish(status)
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
    /// stderr that fails has nowhere else to go); the run's `status`, or 1
    /// if there were failures and no stop signal set it.
    fn finish(self, status: u8) -> ExitCode {
        let mut e = std::io::stderr().lock();
        for line in &self.errors {
            let _ = writeln!(e, "fantop: error: {line}");
        }
        match status {
            0 if !self.errors.is_empty() => ExitCode::FAILURE,
            n => ExitCode::from(n),
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

/// Checks the run's files before anything starts: no output is an input or
/// another output (a usage error naming both flags), and no output exists
/// already (see `session::files`). A new file flag is one more pair here.
fn check_files(cli: &Cli) -> anyhow::Result<()> {
    let inputs = [("--scenario", cli.scenario.as_deref())];
    let outputs = [
        ("--record", cli.record.as_deref()),
        ("--cast", cli.cast.as_deref()),
        ("--screenshot", cli.ui.screenshot.as_deref()),
    ];
    refuse(files::check(&present(&inputs), &present(&outputs)))
}

/// A refused file check: a usage error, or a failed run.
fn refuse(checked: Result<(), Refused>) -> anyhow::Result<()> {
    match checked {
        Ok(()) => Ok(()),
        Err(Refused::Usage(msg)) => usage(ErrorKind::ArgumentConflict, &msg),
        Err(Refused::File(msg)) => Err(anyhow::Error::msg(msg)),
    }
}

/// The flags that were given, with their paths.
fn present<'a>(flags: &[(&'static str, Option<&'a Path>)]) -> Vec<(&'static str, &'a Path)> {
    flags.iter().filter_map(|&(flag, p)| Some((flag, p?))).collect()
}

/// Runs `fantop` itself; its exit status.
fn run(cli: &Cli, m: &ArgMatches, console: &mut Console) -> anyhow::Result<u8> {
    if !cli.headless && !cli.offscreen {
        need_terminal(
            "the monitor",
            "use --headless --duration DUR for a JSON summary, or --offscreen --cast FILE.cast to render the screen into a file",
        );
    }
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
        return Ok(stopped(console, r.stopped_by));
    }
    let theme = ui_theme(&cli.ui);
    // Opened now, so a run never ends to find its screenshot's name taken.
    let screenshot = cli.ui.screenshot.as_deref().map(Screenshot::create).transpose()?;
    // With `record_start` steps, `--record FILE` only names the files.
    let record_at_start = cli.record.is_some() && !steps.contains(&StepAction::RecordStart);
    let opts = MonitorOptions {
        sim,
        fps: cli.ui.fps,
        mouse: !cli.ui.no_mouse,
        theme,
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
        keep_frame: screenshot.is_some(),
    };
    let outcome = if cli.offscreen {
        let (cols, rows) = cli.size.unwrap_or(cli::DEFAULT_SIZE);
        tui::run_offscreen(opts, cols, rows)?
    } else {
        tui::run_live(opts)?
    };
    report(console, &outcome, Some(sim.seed));
    write_screenshot(console, screenshot, &outcome, theme);
    Ok(exit_code(outcome.exit))
}

/// The theme of `--theme` (else `FANTOP_THEME`) and `--no-color`; a bad
/// `FANTOP_THEME` is a usage error naming it.
fn ui_theme(ui: &UiArgs) -> Theme {
    match ui.theme_name() {
        Ok(name) => Theme::from_env(ui.no_color).named(name),
        Err(e) => usage(ErrorKind::InvalidValue, &e),
    }
}

/// Writes the run's final frame to its `--screenshot` file, if any: a note
/// when written, a failure (exit 1) naming the file when not.
fn write_screenshot(console: &mut Console, shot: Option<Screenshot>, outcome: &Outcome, theme: Theme) {
    if let (Some(shot), Some(frame)) = (shot, &outcome.frame) {
        match shot.write(frame, theme) {
            Ok(note) => console.out(&format!("fantop: {note}")),
            Err(e) => console.failed(&[format!("{e:#}")]),
        }
    }
}

/// A monitor's exit status.
fn exit_code(exit: Exit) -> u8 {
    match exit {
        Exit::Quit | Exit::Finished => 0,
        Exit::Signal(n) => signals::exit_status(n),
        // A terminal that went away without a SIGHUP ends the run as one would.
        Exit::TerminalLost => signals::exit_status(signal_hook::consts::SIGHUP),
        Exit::Panicked => 1,
    }
}

/// A headless run's exit status; says on stderr when a stop signal ended
/// it (the JSON summary on stdout covers the run as far as it went).
fn stopped(console: &mut Console, signal: Option<i32>) -> u8 {
    let Some(n) = signal else {
        return 0;
    };
    console.err(&format!(
        "fantop: stopped by {}; the summary covers the run up to then",
        signals::name(n)
    ));
    signals::exit_status(n)
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
            Exit::Signal(n) => format!(" (stopped by {})", signals::name(n)),
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

/// Runs `fantop replay`.
fn replay(args: &ReplayArgs, console: &mut Console) -> anyhow::Result<u8> {
    if !args.headless {
        need_terminal("the replay monitor", "use --headless for a JSON summary");
    }
    if !args.headless {
        let outputs = [("--screenshot", args.ui.screenshot.as_deref())];
        refuse(files::check(&[("FILE", args.file.as_path())], &present(&outputs)))?;
    }
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
        console.out(&serde_json::to_string_pretty(&r.summary)?);
        warn_collector_loss(console, r.summary.collector_lost_events);
        return Ok(stopped(console, r.stopped_by));
    }
    let theme = ui_theme(&args.ui);
    let screenshot = args.ui.screenshot.as_deref().map(Screenshot::create).transpose()?;
    let outcome = tui::run_replay(
        recording,
        pace,
        args.ui.fps,
        !args.ui.no_mouse,
        theme,
        screenshot.is_some(),
    )?;
    report(console, &outcome, None);
    write_screenshot(console, screenshot, &outcome, theme);
    Ok(exit_code(outcome.exit))
}
