//! `fantop bench`: measures, on this machine, the costs the design note made
//! claims about, and prints them with a plain-language reading computed from
//! this run's numbers only.
//!
//! # Sections
//!
//! 1. **metrics update** — one update adds 1 to one `u64` counter, through:
//!    a plain struct field (the reference, via [`black_box`](std::hint::black_box)), a `Mutex`, an
//!    `RwLock` (write lock), an `AtomicU64::fetch_add` (relaxed), and a send
//!    on a bounded crossbeam channel to an owner thread that applies it. Each
//!    with 1 updating thread and with 2 updating the same state. The figure is
//!    ns per update *as seen by each updating thread*: wall time from the
//!    threads' common start to the last one's end (for the channel: to the
//!    owner having applied every update), divided by the updates each thread
//!    made. The channel rows always have one thread more, the owner. A
//!    control row, `atomic_own_line`, has 2 threads each update their own
//!    counter on its own cache line: it tells whether the 2 threads really
//!    ran in parallel (then it costs what 1 thread's atomic update does).
//! 2. **snapshot query** — ns to get a copy of a realistic
//!    [`Snapshot`](crate::collector::Snapshot) (built by a real collector
//!    from a simulated run with 8 workers): an `ArcSwap` load through the
//!    collector's own [`SnapshotReader`](crate::collector::SnapshotReader),
//!    a clone under a `Mutex`, and a request/response round trip to an owner
//!    thread over two channels (the owner clones and sends the snapshot).
//!    One querying thread.
//! 3. **fan-out** — fantop's broadcaster against a bare crossbeam fan-out
//!    (one bounded channel per subscriber, `try_send` of the same shared
//!    `Arc<[Event]>` batch of 256 events to each) for 1, 4, 16, 64 and 256
//!    subscribers, with one consumer thread draining every queue
//!    concurrently. Only publishing is timed; between timed rounds the bench
//!    waits (untimed) until everything was received, so queues start empty
//!    and are large enough that nothing can be dropped. The bench fails
//!    rather than report a figure measured with a drop or refusal.
//! 4. **pipeline** — simulated requests per second of wall time in fast mode
//!    (`run::headless` with `fast: true`: pipeline thread → broadcaster →
//!    collector thread), and the bare [`Sim`](crate::pipeline::Sim) with no broadcaster as the
//!    reference, over the same simulated span (calibrated to about a second
//!    of wall time for the headless run, a fraction of that with `--quick`).
//!
//! Every figure is the median of several repetitions after a calibration
//! and a warm-up, with its spread (min, p25, p75, max).
//!
//! # JSON (`--json`), schema `fantop-bench/1`
//!
//! ```text
//! {
//!   "schema": "fantop-bench/1",
//!   "machine": { "cpu": "<model name>", "cpus": 2, "loadavg_1m": 0.4, "others_cpus": 0.1 | null },
//!   "build": "release" | "debug",
//!   "command": "fantop bench --json",
//!   "date": "2026-01-01T00:00:00Z",
//!   "quick": false,
//!   "repetitions": 7,              // of each figure but the pipeline's
//!   "metrics_update": [            // ns per update
//!     { "method": "plain" | "mutex" | "rwlock_write" | "atomic_fetch_add" | "channel_to_owner"
//!                 | "atomic_own_line",
//!       "threads": 1 | 2, "ns_per_update": SPREAD } ],
//!       // "plain": 1 thread only; "atomic_own_line": 2 threads only (the parallelism control)
//!   "snapshot_query": [            // ns per query
//!     { "method": "arc_swap_load" | "mutex_clone" | "owner_round_trip", "ns_per_query": SPREAD } ],
//!   "snapshot_workers": 8,
//!   "fanout": {
//!     "batch": 256, "events_per_round": 4096, "dropped": 0,
//!     "rows": [ { "subscribers": 1,
//!                 "fantop":    { "ns_per_event": SPREAD, "ns_per_event_subscriber": SPREAD,
//!                                "delivered_per_s": SPREAD },
//!                 "crossbeam": { ...the same },
//!                 "ratio": 1.3 } ] },          // fantop median / crossbeam median
//!   "pipeline": {
//!     "rate": 100000.0, "workers": 300, "service": "exp:2ms",
//!     "simulated_s": 2.5, "requests": 250123, "repetitions": 5,
//!     "headless_fast": { "requests_per_s": SPREAD },
//!     "sim_only":      { "requests_per_s": SPREAD } },
//!   "reading": [ "<sentence>", ... ]
//! }
//! SPREAD = { "median": f64, "p25": f64, "p75": f64, "min": f64, "max": f64 }
//! ```
//!
//! Fields are only ever added to this shape, never renamed or removed,
//! without changing `schema`.

pub mod baseline;
pub mod claims;
pub mod memory;
pub mod report;
pub mod scale;

pub use claims::{CountArrivals, measure, pipeline_load, sim_events};

use std::io::Write;

use crate::cli::BenchArgs;

/// Runs the benchmark and prints the report (a table, or JSON with `--json`):
/// `--memory`, `--scale`, or the headline claims.
pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    if args.memory {
        let r = memory::memory(args.minutes.unwrap_or(10.0))?;
        print_report(args.json, &r, || r.table())
    } else if args.scale {
        let r = scale::measure_scale(args.quick)?;
        print_report(args.json, &r, || r.table())
    } else {
        let r = claims::measure(args.quick)?;
        print_report(args.json, &r, || r.table())
    }
}

/// Writes the report to stdout; a stdout that fails (full, closed) is an
/// error naming it, never a panic.
fn print_report<R: serde::Serialize>(json: bool, report: &R, table: impl FnOnce() -> String) -> anyhow::Result<()> {
    let text = if json {
        format!("{}\n", serde_json::to_string_pretty(report)?)
    } else {
        table()
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| anyhow::anyhow!("stdout: {}", crate::session::files::describe(&e)))
}
