//! What the collector hands out: the immutable [`Snapshot`] and the plain
//! value types inside it. Nothing here changes after it is built; a snapshot
//! carries everything a reader needs to rebuild its own picture of the run
//! when its own stream lost events (the settings, every worker's state, the
//! queue, the totals and the last minute's per-second counts).

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::event::{LoadChange, Nanos, ServiceDist, WorkerId};
pub use crate::pipeline::model::WorkerState;

/// The rate windows a snapshot reports, in seconds.
pub const RATE_WINDOWS_S: [u64; 3] = [1, 10, 60];

/// Request counts since the start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub arrived: u64,
    pub started: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub rejected: u64,
}

impl Totals {
    pub fn completed(&self) -> u64 {
        self.succeeded + self.failed
    }
}

/// Request counts within one second of pipeline time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct SecondCounts {
    pub arrived: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub rejected: u64,
    /// The target arrival rate (rate × burst factor) as of the second's
    /// last event, requests/s.
    pub target: f64,
}

/// Per-second rates over one window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct WindowRates {
    pub window_s: u64,
    pub arrived: f64,
    pub succeeded: f64,
    pub failed: f64,
    pub rejected: f64,
}

impl WindowRates {
    pub fn completed(&self) -> f64 {
        self.succeeded + self.failed
    }
}

/// Latency percentiles, in ns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub mean: f64,
    pub p50: Nanos,
    pub p90: Nanos,
    pub p99: Nanos,
    pub p999: Nanos,
    pub max: Nanos,
}

impl LatencySummary {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return LatencySummary::default();
        }
        LatencySummary {
            count: h.len(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// One worker's counts and state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct WorkerStats {
    pub id: WorkerId,
    pub completed: u64,
    pub failed: u64,
    pub state: WorkerState,
    /// Pipeline time its health last changed (spawned, stalled, recovered,
    /// crashed, stopped); busy and idle are not health changes.
    pub since: Nanos,
}

/// The load settings as last announced on the stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct LoadSettings {
    pub rate: f64,
    pub workers: u16,
    pub service: Option<ServiceDist>,
    pub error_rate: f64,
    pub paused: bool,
    /// Burst factor while a burst is on.
    pub burst: Option<f64>,
    /// A recording is being written.
    pub recording: bool,
}

impl LoadSettings {
    /// Folds one announced change in.
    pub fn apply(&mut self, change: LoadChange) {
        match change {
            LoadChange::Rate { per_s } => self.rate = per_s,
            LoadChange::Workers { count } => self.workers = count,
            LoadChange::Service { dist } => self.service = Some(dist),
            LoadChange::ErrorRate { fraction } => self.error_rate = fraction,
            LoadChange::BurstStarted { factor, .. } => self.burst = Some(factor),
            LoadChange::BurstEnded => self.burst = None,
            LoadChange::Paused => self.paused = true,
            LoadChange::Resumed => self.paused = false,
            LoadChange::Recording { on } => self.recording = on,
            LoadChange::QueueCapacity { .. }
            | LoadChange::StallInjected { .. }
            | LoadChange::CrashInjected { .. }
            | LoadChange::AutoRestart { .. }
            | LoadChange::SlowSubscriber { .. } => {}
        }
    }
}

/// Overload as the stream announced it: the real-time pipeline's pace
/// ([`crate::event::EventKind::ArrivalPace`]) and the queue's rejection
/// spells ([`crate::event::EventKind::QueueFull`],
/// [`crate::event::EventKind::QueueHasRoom`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Overload {
    /// While the pipeline falls short of its target rate: the arrivals per
    /// second of wall time it achieved in its last pace window.
    pub achieving: Option<f64>,
    /// Wall time in pace windows that fell short, ms.
    pub short_ms: u64,
    /// Arrivals generated in those windows (their achieved rate × length).
    pub short_arrivals: f64,
    /// Pipeline time left without arrivals because the pipeline could not
    /// simulate it in time, ns.
    pub skipped_ns: Nanos,
    /// A rejection spell is going on (the queue is full and turns arrivals away).
    pub rejecting: bool,
    /// Arrivals rejected in the spell going on, or else in the last one.
    pub spell_rejected: u64,
    /// Rejection spells that ended.
    pub spells_ended: u64,
}

impl Overload {
    /// Arrivals per second of wall time over the windows that fell short,
    /// if any did.
    pub fn achieved_while_short(&self) -> Option<f64> {
        (self.short_ms > 0).then(|| self.short_arrivals * 1e3 / self.short_ms as f64)
    }
}

/// An immutable view of the metrics at one moment.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Snapshot {
    /// Pipeline time of the newest event applied.
    pub at: Nanos,
    /// Pipeline time of the first event applied (0 for a whole run; later
    /// for a recording started mid-run).
    pub since: Nanos,
    /// Events applied.
    pub events: u64,
    pub totals: Totals,
    /// Counts per second of pipeline time, oldest first: every second the
    /// collector still holds (at most `RATE_HISTORY_S + 1`, the last being
    /// the second in progress at `at`).
    pub seconds: Vec<(u64, SecondCounts)>,
    /// Rates over [`RATE_WINDOWS_S`].
    pub rates: [WindowRates; 3],
    /// Latency over the last `LATENCY_WINDOW_S` seconds.
    pub latency_window: LatencySummary,
    /// Latency since the start.
    pub latency_total: LatencySummary,
    /// Every worker seen, by id (at most `MAX_WORKERS`).
    pub workers: Vec<WorkerStats>,
    pub queue_depth: u32,
    pub queue_capacity: u32,
    pub queue_max_depth: u32,
    /// Requests admitted (arrived, not rejected) and not yet completed:
    /// queued or in service.
    pub in_flight: u64,
    pub load: LoadSettings,
    pub overload: Overload,
    /// Events the collector never saw: dropped while it lagged, or lost to
    /// an eviction (0 when the figures are complete).
    pub lost_events: u64,
}

impl Snapshot {
    /// Rates over the window of `window_s` seconds, if reported.
    pub fn rate(&self, window_s: u64) -> Option<&WindowRates> {
        self.rates.iter().find(|r| r.window_s == window_s)
    }

    /// The counts of second `sec`, if the snapshot holds it.
    pub fn second(&self, sec: u64) -> Option<&SecondCounts> {
        self.seconds.iter().find(|(s, _)| *s == sec).map(|(_, c)| c)
    }

    /// Whether a collector has published this snapshot (the reader's
    /// placeholder before the first one has applied no event).
    pub fn is_published(&self) -> bool {
        self.events > 0
    }
}
