//! The `fantop` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, error::ErrorKind};
use fantop::cli::Cli;
use fantop::format;
use fantop::run::{self, HeadlessOptions};
use fantop::ui::{self, Exit, LiveOptions, theme::Theme};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.headless && cli.duration.is_none() {
        Cli::command()
            .error(ErrorKind::MissingRequiredArgument, "--headless needs --duration DUR (e.g. --duration 10s)")
            .exit();
    }
    let seed = cli.load.seed.unwrap_or_else(rand::random);
    let sim = cli.load.sim_config(seed);
    let result = if cli.headless {
        eprintln!("fantop: seed {seed} (rerun with --seed {seed} to reproduce)");
        run::headless(HeadlessOptions {
            sim,
            duration: cli.duration,
            fast: cli.fast,
            timeline: Vec::new(),
        })
        .and_then(|r| {
            println!("{}", serde_json::to_string_pretty(&r.summary)?);
            Ok(())
        })
    } else {
        ui::run_live(LiveOptions {
            sim,
            fps: cli.ui.fps,
            mouse: !cli.ui.no_mouse,
            theme: Theme::from_env(cli.ui.no_color),
            duration: cli.duration,
        })
        .map(|(snapshot, exit)| {
            let t = snapshot.totals;
            let ok = if t.completed() > 0 { t.succeeded as f64 * 100.0 / t.completed() as f64 } else { 0.0 };
            println!(
                "fantop: ran {} (simulated), {} requests completed ({ok:.1}% ok), {} rejected, p99 {}; seed {seed}{}",
                format::clock(snapshot.at),
                format::count(t.completed()),
                format::count(t.rejected),
                format::duration(snapshot.latency_total.p99),
                match exit {
                    Exit::Signal(s) => format!(" (stopped by signal {s})"),
                    Exit::Panicked => " (a thread panicked)".into(),
                    _ => String::new(),
                }
            );
        })
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fantop: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
