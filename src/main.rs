//! The `fantop` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, error::ErrorKind};
use fantop::cli::Cli;
use fantop::run::{self, HeadlessOptions};

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
        Err(anyhow::anyhow!("the terminal UI is not built yet; use --headless --duration 10s"))
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fantop: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
