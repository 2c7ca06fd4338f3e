//! fantop: a `top` for a fan-out.
//!
//! Data flows one way, and the modules are listed in that order:
//!
//! ```text
//!  keys / scenario ──Command─▶ pipeline ──Publisher──▶ broadcast ─┬▶ Subscription: collector ──▶ Arc<Snapshot>
//!                              (sim: arrivals,         (one shared ├▶ Subscription: each TUI pane
//!                               queue, workers)         ring, a    ├▶ Subscription: recorder (session)
//!                                                       cursor     └▶ Subscription: injected slow ones
//!                                                       each)
//! ```
//!
//! - [`event`]: the vocabulary (`Event`, `Copy`, timestamped on [`clock`]); imports nothing.
//! - [`broadcast`]: the fan-out, generic over its slot type; never blocks,
//!   counts every drop, evicts subscribers that lose too much, and announces
//!   what happens to them in notices beside the events. Imports nothing of
//!   the crate.
//! - [`wire`]: an event as four words, the broadcaster ring's slot format
//!   (`impl Slot for Event`).
//! - [`pipeline`]: the simulated pipeline (discrete-event model, worker
//!   health, live control).
//! - [`collector`]: the single owner of aggregate metrics; hands out
//!   immutable snapshots.
//! - [`session`]: what a run does besides computing: recordings, replay,
//!   scenarios, casts, slow subscribers, the JSON summary — and the one
//!   `Session` per run that owns those side effects.
//! - [`run`]: the `Stack` every run is built from (clock, broadcaster,
//!   collector, source) and torn down in order; the headless runs.
//! - [`tui`]: the terminal monitor.
//! - [`bench`](mod@bench): `fantop bench` and the baselines it measures against.
//!
//! `pipeline` and `collector` never import `session`, `tui` or `run`;
//! `session` never imports `tui` (tested in `tests/layout.rs`).
#![forbid(unsafe_code)]

pub mod clock;
pub mod event;
pub mod format;
pub mod parse;
pub mod signals;

pub mod broadcast;
pub mod wire;

pub mod pipeline;

pub mod collector;

pub mod session;

pub mod run;

pub mod tui;

pub mod bench;

pub mod cli;
