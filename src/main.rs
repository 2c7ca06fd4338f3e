//! The `fantop` binary: parses the command line, resolves the run's settings
//! (flags given explicitly, then a scenario's settings, then defaults) and
//! hands over to the library. Usage errors exit 2; a bad file or a failed
//! run exits 1 with one line naming what was wrong.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, error::ErrorKind};
use fantop::cli::UiArgs;
use fantop::cli::{Cli, Command, ReplayArgs};
use fantop::format;
use fantop::pipeline::SimConfig;
use fantop::run::{self, HeadlessOptions};
use fantop::session::RecordingSetup;
use fantop::session::record::{Recording, ScenarioInfo};
use fantop::session::scenario::{self, Scenario, StepAction};
use fantop::tui::svg::Screenshot;
use fantop::tui::{self, Exit, MonitorOptions, Outcome, theme::Theme};

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let result = match &cli.command {
        Some(Command::Replay(args)) => replay(args),
        Some(Command::Bench(args)) => fantop::bench::run(args),
        None => run(&cli, &matches),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Never panic on a closed stderr (a terminal that went away).
            let _ = writeln!(std::io::stderr(), "fantop: error: {e:#}");
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

fn run(cli: &Cli, m: &ArgMatches) -> anyhow::Result<()> {
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
        return Ok(());
    }
    let theme = ui_theme(&cli.ui);
    // Taken now, so a run never ends to find its screenshot's name taken.
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
        tui::run_offscreen(opts, cli.size.0, cli.size.1)?
    } else {
        tui::run_live(opts)?
    };
    report(&outcome, Some(sim.seed));
    write_screenshot(screenshot, &outcome, theme)
}

/// The theme of `--theme` (else `FANTOP_THEME`) and `--no-color`; a bad
/// `FANTOP_THEME` is a usage error naming it.
fn ui_theme(ui: &UiArgs) -> Theme {
    match ui.theme_name() {
        Ok(name) => Theme::from_env(ui.no_color).named(name),
        Err(e) => usage(ErrorKind::InvalidValue, &e),
    }
}

/// Writes the run's final frame to its `--screenshot` file, if any.
fn write_screenshot(shot: Option<Screenshot>, outcome: &Outcome, theme: Theme) -> anyhow::Result<()> {
    if let (Some(shot), Some(frame)) = (shot, &outcome.frame) {
        let note = shot.write(frame, theme)?;
        let _ = writeln!(std::io::stdout(), "fantop: {note}");
    }
    Ok(())
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
            Exit::Signal(n) => format!(" (stopped by signal {n})"),
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

fn replay(args: &ReplayArgs) -> anyhow::Result<()> {
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
    if args.headless {
        let summary = run::replay_headless(recording, args.fast, args.speed)?;
        writeln!(std::io::stdout(), "{}", serde_json::to_string_pretty(&summary)?)?;
        warn_collector_loss(summary.collector_lost_events);
        return Ok(());
    }
    let theme = ui_theme(&args.ui);
    let screenshot = args.ui.screenshot.as_deref().map(Screenshot::create).transpose()?;
    let outcome = tui::run_replay(
        recording,
        args.speed,
        args.ui.fps,
        !args.ui.no_mouse,
        theme,
        screenshot.is_some(),
    )?;
    report(&outcome, None);
    write_screenshot(screenshot, &outcome, theme)
}
