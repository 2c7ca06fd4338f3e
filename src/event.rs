//! The one vocabulary of fantop: every fact the pipeline, the broadcaster and
//! the controls produce is an [`Event`].
//!
//! An event is small and `Copy` (40 bytes in memory, four words in the
//! broadcaster's ring, see `crate::wire`), so publishing one allocates
//! nothing. Its
//! timestamp `t` is nanoseconds on the pipeline's monotonic clock, which
//! starts at zero when the pipeline starts (simulated time in `--fast` mode,
//! the wall clock otherwise; see [`crate::clock`]).
//!
//! Control never rides this channel: commands travel on their own typed
//! channel ([`crate::pipeline::Control`]); what a command *changed* comes back here
//! as a [`EventKind::LoadChanged`] so every subscriber sees it in order.
//! What happens to the broadcaster's own subscribers (joins, lagging,
//! evictions) is not an event either: the broadcaster announces it with its
//! own notices, beside the events (`crate::broadcast::Notice`).
//!
//! This module imports nothing of the crate: everything else may import it.
use serde::{Deserialize, Serialize};

/// Nanoseconds on the pipeline clock.
pub type Nanos = u64;
/// A worker slot in the simulated pool (`w0`, `w1`, ...).
pub type WorkerId = u16;
/// A simulated request, numbered in arrival order from 0.
pub type RequestId = u64;

/// Nanoseconds in a millisecond, second, ... (for readable constants).
pub const MICROS: Nanos = 1_000;
pub const MILLIS: Nanos = 1_000_000;
pub const SECONDS: Nanos = 1_000_000_000;

/// One timestamped fact.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Nanoseconds since the pipeline started.
    pub t: Nanos,
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    pub const fn new(t: Nanos, kind: EventKind) -> Self {
        Event { t, kind }
    }
}

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum EventKind {
    /// A request entered the pipeline's queue.
    RequestArrived {
        id: RequestId,
    },
    /// A worker took the request off the queue.
    RequestStarted {
        id: RequestId,
        worker: WorkerId,
    },
    /// The request finished; `latency` is completion − arrival (queue wait +
    /// service), so it is free of coordinated omission.
    RequestCompleted {
        id: RequestId,
        worker: WorkerId,
        latency: Nanos,
        ok: bool,
    },
    /// The queue was full when the request arrived: it was turned away.
    RequestRejected {
        id: RequestId,
    },

    WorkerSpawned {
        worker: WorkerId,
    },
    /// The worker left the pool (removed by a control; a busy worker finishes
    /// its request first).
    WorkerStopped {
        worker: WorkerId,
    },
    WorkerHeartbeat {
        worker: WorkerId,
    },
    /// The health monitor saw the worker miss its heartbeats.
    WorkerStalled {
        worker: WorkerId,
    },
    /// A stalled worker's heartbeats resumed.
    WorkerRecovered {
        worker: WorkerId,
    },
    /// The worker crashed; its in-flight request (if any) failed.
    WorkerCrashed {
        worker: WorkerId,
        lost_request: Option<RequestId>,
    },

    /// A sample of the pipeline's FIFO queue: its depth now, and the
    /// deepest it was since the previous sample (so no peak is missed).
    QueueDepth {
        depth: u32,
        peak: u32,
        capacity: u32,
    },

    /// A load setting changed (by a key, a scenario or the API).
    LoadChanged {
        change: LoadChange,
    },
    /// A scripted scenario reached step `step` (0-based).
    ScenarioStep {
        step: u16,
    },

    /// An arrival found the queue full: the first rejection of a spell
    /// (its `RequestRejected` follows). Once per spell, however many follow.
    QueueFull,
    /// A rejection spell ended: no arrival was rejected for a second of
    /// pipeline time and the queue has room. `rejected`: arrivals the spell
    /// turned away.
    QueueHasRoom {
        rejected: u64,
    },
    /// The real-time pipeline's pace over one window of wall time
    /// (`window_ms`, about a second; the run's last one may be shorter),
    /// published for every window in which it skipped pipeline time and for
    /// the one that ends a spell of falling short. `achieved`: arrivals it
    /// generated per second of wall time in the window; `skipped`: pipeline
    /// time (ns) it left without arrivals because it could not simulate it
    /// in time; `short`: the window fell short of the target rate (see
    /// `crate::pipeline::pace`).
    ArrivalPace {
        achieved: f64,
        skipped: Nanos,
        window_ms: u32,
        short: bool,
    },
}

/// A change to the simulated load, as applied.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "set", rename_all = "snake_case")]
pub enum LoadChange {
    Rate {
        per_s: f64,
    },
    Workers {
        count: u16,
    },
    Service {
        dist: ServiceDist,
    },
    ErrorRate {
        fraction: f64,
    },
    QueueCapacity {
        capacity: u32,
    },
    /// Arrivals run at `factor` × the rate until `duration` has passed.
    BurstStarted {
        factor: f64,
        duration: Nanos,
    },
    BurstEnded,
    Paused,
    Resumed,
    /// A fault was injected: `worker` stalls for `duration`.
    StallInjected {
        worker: WorkerId,
        duration: Nanos,
    },
    /// A fault was injected: `worker` crashes.
    CrashInjected {
        worker: WorkerId,
    },
    AutoRestart {
        on: bool,
    },
    /// A deliberately slow subscriber was added (`added`) or removed.
    SlowSubscriber {
        added: bool,
    },
    /// Event recording started or stopped.
    Recording {
        on: bool,
    },
}

/// How long serving one request takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ServiceDist {
    /// Always exactly `ns`.
    Const { ns: Nanos },
    /// Exponential with mean `mean_ns`.
    Exp { mean_ns: Nanos },
    /// Log-normal with median `median_ns` and 99th percentile `p99_ns`.
    LogNormal { median_ns: Nanos, p99_ns: Nanos },
}

impl Default for ServiceDist {
    fn default() -> Self {
        ServiceDist::LogNormal {
            median_ns: 2 * MILLIS,
            p99_ns: 20 * MILLIS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_stays_small_enough_to_copy_in_batches() {
        assert!(std::mem::size_of::<Event>() <= 40, "{}", std::mem::size_of::<Event>());
    }

    #[test]
    fn events_round_trip_through_json() {
        let evs = [
            Event::new(
                5,
                EventKind::RequestCompleted {
                    id: 1,
                    worker: 2,
                    latency: 300,
                    ok: false,
                },
            ),
            Event::new(
                6,
                EventKind::LoadChanged {
                    change: LoadChange::Service {
                        dist: ServiceDist::default(),
                    },
                },
            ),
            Event::new(7, EventKind::ScenarioStep { step: 3 }),
            Event::new(
                8,
                EventKind::WorkerCrashed {
                    worker: 1,
                    lost_request: None,
                },
            ),
        ];
        for ev in evs {
            let line = serde_json::to_string(&ev).unwrap();
            let back: Event = serde_json::from_str(&line).unwrap();
            assert_eq!(back, ev, "{line}");
        }
    }
}
