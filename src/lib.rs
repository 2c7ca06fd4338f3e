//! fantop: a `top` for a fan-out.
//!
//! Data flows one way, and each piece of state has one owner:
//!
//! ```text
//!  keys / scenario ──Action──▶ pipeline thread ──Publisher──▶ broadcaster ─┬▶ Subscription: collector ──▶ Arc<Snapshot>
//!                              (sim: arrivals,    (one shared ring of       ├▶ Subscription: each TUI pane
//!                               queue, workers)    Event, a cursor each)    ├▶ Subscription: recorder
//!                                                                           └▶ Subscription: injected slow ones
//! ```
//!
//! - [`event`]: the vocabulary (`Event`, `Copy`, timestamped on [`clock`]).
//! - [`broadcast`]: the fan-out, generic over its slot type; never blocks, counts every drop, evicts
//!   subscribers that lose too much, and announces what happens to them in notices beside the events.
//! - [`wire`]: an event as four words, the broadcaster ring's slot format (`impl Slot for Event`).
//! - [`collector`]: the single owner of aggregate metrics; hands out immutable snapshots.
//! - [`sim`]: the simulated pipeline (discrete-event model, worker health, live control).
//! - [`run`]: wiring for one run; [`summary`]: the headless JSON summary.
#![forbid(unsafe_code)]

pub mod baseline;
pub mod bench;
pub mod bench_scale;
pub mod broadcast;
pub mod cast;
pub mod cli;
pub mod clock;
pub mod collector;
pub mod event;
pub mod format;
pub mod parse;
pub mod record;
pub mod replay;
pub mod run;
pub mod scenario;
pub mod sim;
pub mod slow;
pub mod stats;
pub mod summary;
pub mod ui;
pub mod wire;
