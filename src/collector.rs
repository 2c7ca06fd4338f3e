//! The single owner of aggregate metrics (the design note's
//! `ChannelPipelineMetrics`).
//!
//! One thread, `fantop/collector`, owns a [`Metrics`] value and is its only
//! writer: there is no `Mutex` or `RwLock` anywhere near it. It takes events
//! as a *broadcaster subscriber* rather than from a private channel, so that
//! its health (lag, drops, evictions) shows in the Subscribers pane like every
//! other consumer's, and the fan-out stays the one way events travel.
//!
//! Readers never talk to the thread. Every [`CollectorOptions::snapshot_every`]
//! (and when the stream ends) it builds an immutable [`Snapshot`] and swaps it
//! into an [`ArcSwap`]; a query ([`SnapshotReader::load`]) is one atomic `Arc`
//! load, tens of nanoseconds, not a request/response round trip. A snapshot
//! never changes after it is handed out: the next one is a new `Arc`.
//!
//! Shutdown: when the publisher closes, the subscription delivers everything
//! that was published and then ends; the thread applies it all, stores the
//! final snapshot and exits, and [`Collector::join`] returns that snapshot.
//! Nothing can hang: the thread only waits on its subscription, which ends
//! when the publisher is dropped, whatever order things are dropped in.
//!
//! If the collector is ever evicted (it is built to keep up, with a large
//! queue), it resubscribes at once and counts the events it lost in
//! [`Snapshot::lost_events`]: figures are then marked incomplete, never
//! silently wrong.
//!
//! Bounds: latency histograms track 1 ns ..= 1 hour at 3 significant digits
//! (larger values are clamped to the maximum); rate history keeps
//! [`RATE_HISTORY_S`] one-second buckets; the windowed histogram keeps
//! [`LATENCY_WINDOW_S`] one-second histograms; workers are tracked up to
//! [`MAX_WORKERS`].

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::stats::{SecondRing, WindowedHistogram, latency_histogram, record_latency};

use crate::broadcast::{Broadcaster, RecvError, SubscribeOptions, Subscription};
use crate::event::{Event, EventKind, LoadChange, Nanos, SECONDS, ServiceDist, WorkerId};

/// Seconds of per-second rate buckets kept (the longest rate window).
pub const RATE_HISTORY_S: u64 = 60;
/// Seconds covered by the windowed latency figures.
pub const LATENCY_WINDOW_S: u64 = 10;
/// The rate windows a snapshot reports, in seconds.
pub const RATE_WINDOWS_S: [u64; 3] = [1, 10, 60];
/// Highest worker id tracked (the pool is limited to this many).
pub const MAX_WORKERS: usize = 1024;
pub use crate::stats::MAX_TRACKED_LATENCY;
/// How often the collector publishes a snapshot by default.
pub const DEFAULT_SNAPSHOT_EVERY: Duration = Duration::from_millis(250);

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

/// A worker's health as the events describe it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerHealth {
    #[default]
    Idle,
    Busy,
    Stalled,
    Crashed,
    Stopped,
}

impl WorkerHealth {
    pub fn label(self) -> &'static str {
        match self {
            WorkerHealth::Idle => "idle",
            WorkerHealth::Busy => "busy",
            WorkerHealth::Stalled => "stalled",
            WorkerHealth::Crashed => "crashed",
            WorkerHealth::Stopped => "stopped",
        }
    }
}

/// One worker's counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct WorkerStats {
    pub id: WorkerId,
    pub completed: u64,
    pub failed: u64,
    pub state: WorkerHealth,
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
            LoadChange::QueueCapacity { .. }
            | LoadChange::StallInjected { .. }
            | LoadChange::CrashInjected { .. }
            | LoadChange::AutoRestart { .. }
            | LoadChange::SlowSubscriber { .. }
            | LoadChange::Recording { .. } => {}
        }
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
    /// Rates over [`RATE_WINDOWS_S`].
    pub rates: [WindowRates; 3],
    /// Latency over the last [`LATENCY_WINDOW_S`] seconds.
    pub latency_window: LatencySummary,
    /// Latency since the start.
    pub latency_total: LatencySummary,
    pub workers: Vec<WorkerStats>,
    pub queue_depth: u32,
    pub queue_capacity: u32,
    pub queue_max_depth: u32,
    /// Requests admitted (arrived, not rejected) and not yet completed:
    /// queued or in service.
    pub in_flight: u64,
    pub load: LoadSettings,
    /// Events the collector lost to eviction (0 when the figures are complete).
    pub lost_events: u64,
}

impl Snapshot {
    /// Rates over the window of `window_s` seconds, if reported.
    pub fn rate(&self, window_s: u64) -> Option<&WindowRates> {
        self.rates.iter().find(|r| r.window_s == window_s)
    }
}

#[derive(Clone, Copy, Default)]
struct RateBucket {
    arrived: u64,
    succeeded: u64,
    failed: u64,
    rejected: u64,
}

/// The aggregate state. Plain data: the collector thread owns one; tests and
/// replays can own one too.
pub struct Metrics {
    at: Nanos,
    since: Option<Nanos>,
    events: u64,
    totals: Totals,
    buckets: SecondRing<RateBucket>,
    window: WindowedHistogram,
    total: Histogram<u64>,
    workers: Vec<Option<WorkerStats>>,
    /// Whether each worker (by id) has a request in service; a stall keeps it.
    in_service: Vec<bool>,
    queue_depth: u32,
    queue_capacity: u32,
    queue_max_depth: u32,
    load: LoadSettings,
    lost_events: u64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        Metrics {
            at: 0,
            since: None,
            events: 0,
            totals: Totals::default(),
            buckets: SecondRing::new(RATE_HISTORY_S as usize + 1),
            window: WindowedHistogram::new(LATENCY_WINDOW_S as usize),
            total: latency_histogram(),
            workers: Vec::new(),
            in_service: Vec::new(),
            queue_depth: 0,
            queue_capacity: 0,
            queue_max_depth: 0,
            load: LoadSettings::default(),
            lost_events: 0,
        }
    }

    /// Applies one event.
    pub fn apply(&mut self, ev: &Event) {
        self.events += 1;
        self.at = self.at.max(ev.t);
        self.since.get_or_insert(ev.t);
        let sec = ev.t / SECONDS;
        match ev.kind {
            EventKind::RequestArrived { .. } => {
                self.totals.arrived += 1;
                self.bucket(sec).arrived += 1;
            }
            EventKind::RequestStarted { worker, .. } => {
                self.set_in_service(worker, true);
                self.totals.started += 1;
                if let Some(w) = self.worker(worker) {
                    w.state = WorkerHealth::Busy;
                }
            }
            EventKind::RequestCompleted {
                worker, latency, ok, ..
            } => {
                if ok {
                    self.totals.succeeded += 1;
                    self.bucket(sec).succeeded += 1;
                } else {
                    self.totals.failed += 1;
                    self.bucket(sec).failed += 1;
                }
                record_latency(&mut self.total, latency);
                self.window.record(ev.t, latency);
                self.set_in_service(worker, false);
                if let Some(w) = self.worker(worker) {
                    if ok {
                        w.completed += 1;
                    } else {
                        w.failed += 1;
                    }
                    if w.state == WorkerHealth::Busy {
                        w.state = WorkerHealth::Idle;
                    }
                }
            }
            EventKind::RequestRejected { .. } => {
                self.totals.rejected += 1;
                self.bucket(sec).rejected += 1;
            }
            EventKind::WorkerSpawned { worker } => {
                if let Some(w) = self.worker(worker) {
                    w.state = WorkerHealth::Idle;
                }
            }
            EventKind::WorkerStopped { worker } => {
                if let Some(w) = self.worker(worker) {
                    w.state = WorkerHealth::Stopped;
                }
            }
            EventKind::WorkerStalled { worker } => {
                if let Some(w) = self.worker(worker) {
                    w.state = WorkerHealth::Stalled;
                }
            }
            EventKind::WorkerRecovered { worker } => {
                // Back to work: busy if its request is still in service.
                let busy = self.in_service.get(worker as usize).copied().unwrap_or(false);
                if let Some(w) = self.worker(worker) {
                    w.state = if busy { WorkerHealth::Busy } else { WorkerHealth::Idle };
                }
            }
            EventKind::WorkerCrashed { worker, .. } => {
                // Its lost request, if any, arrives as a failed completion.
                if let Some(w) = self.worker(worker) {
                    w.state = WorkerHealth::Crashed;
                }
            }
            EventKind::QueueDepth { depth, peak, capacity } => {
                self.queue_depth = depth;
                self.queue_capacity = capacity;
                self.queue_max_depth = self.queue_max_depth.max(peak).max(depth);
            }
            EventKind::LoadChanged { change } => self.apply_load(change),
            EventKind::WorkerHeartbeat { .. } | EventKind::ScenarioStep { .. } => {}
        }
    }

    fn apply_load(&mut self, change: LoadChange) {
        if let LoadChange::QueueCapacity { capacity } = change {
            self.queue_capacity = capacity;
        }
        self.load.apply(change);
    }

    /// Counts events this collector never saw.
    pub fn note_lost(&mut self, n: u64) {
        self.lost_events += n;
    }

    fn bucket(&mut self, sec: u64) -> &mut RateBucket {
        self.buckets.at(sec)
    }

    fn set_in_service(&mut self, id: WorkerId, on: bool) {
        let i = id as usize;
        if i < MAX_WORKERS {
            if self.in_service.len() <= i {
                self.in_service.resize(i + 1, false);
            }
            self.in_service[i] = on;
        }
    }

    fn worker(&mut self, id: WorkerId) -> Option<&mut WorkerStats> {
        let i = id as usize;
        if i >= MAX_WORKERS {
            return None;
        }
        if self.workers.len() <= i {
            self.workers.resize(i + 1, None);
        }
        Some(self.workers[i].get_or_insert(WorkerStats {
            id,
            ..WorkerStats::default()
        }))
    }

    fn rates(&self, window_s: u64) -> WindowRates {
        let now_sec = self.at / SECONDS;
        let first_sec = (now_sec + 1).saturating_sub(window_s);
        let span = self.at.saturating_sub(first_sec * SECONDS);
        let mut r = WindowRates {
            window_s,
            ..WindowRates::default()
        };
        if span == 0 {
            return r;
        }
        for (_, b) in self.buckets.range(first_sec, now_sec) {
            r.arrived += b.arrived as f64;
            r.succeeded += b.succeeded as f64;
            r.failed += b.failed as f64;
            r.rejected += b.rejected as f64;
        }
        let secs = span as f64 / SECONDS as f64;
        r.arrived /= secs;
        r.succeeded /= secs;
        r.failed /= secs;
        r.rejected /= secs;
        r
    }

    /// The immutable view of the state now.
    pub fn snapshot(&self) -> Snapshot {
        let merged = self.window.merged(self.at);
        Snapshot {
            at: self.at,
            since: self.since.unwrap_or(0),
            events: self.events,
            totals: self.totals,
            rates: RATE_WINDOWS_S.map(|w| self.rates(w)),
            latency_window: LatencySummary::of(&merged),
            latency_total: LatencySummary::of(&self.total),
            workers: self.workers.iter().flatten().copied().collect(),
            queue_depth: self.queue_depth,
            queue_capacity: self.queue_capacity,
            queue_max_depth: self.queue_max_depth,
            in_flight: self
                .totals
                .arrived
                .saturating_sub(self.totals.rejected + self.totals.completed()),
            load: self.load,
            lost_events: self.lost_events,
        }
    }

    /// The cumulative latency histogram (for exact summaries).
    pub fn latency_histogram(&self) -> &Histogram<u64> {
        &self.total
    }
}

/// Collector settings.
#[derive(Clone, Debug)]
pub struct CollectorOptions {
    /// Wall time between published snapshots.
    pub snapshot_every: Duration,
    /// How the collector subscribes (name, capacity, delivery).
    pub subscribe: SubscribeOptions,
    /// `Some(d)`: wake every `d` and drain what queued up (the publisher
    /// never pays for waking the collector: the live default). `None`: block
    /// for each batch (lowest latency; right for `--fast` runs, where the
    /// publisher waits for the collector anyway).
    pub poll_every: Option<Duration>,
}

/// The live collector's drain interval.
pub const DEFAULT_POLL_EVERY: Duration = Duration::from_millis(25);

impl Default for CollectorOptions {
    fn default() -> Self {
        CollectorOptions {
            snapshot_every: DEFAULT_SNAPSHOT_EVERY,
            subscribe: SubscribeOptions::new("collector").capacity(crate::run::COLLECTOR_CAPACITY),
            poll_every: Some(DEFAULT_POLL_EVERY),
        }
    }
}

/// A cheap, cloneable handle that reads the newest snapshot.
#[derive(Clone)]
pub struct SnapshotReader {
    cell: Arc<ArcSwap<Snapshot>>,
}

impl SnapshotReader {
    /// The newest snapshot: one atomic load.
    pub fn load(&self) -> Arc<Snapshot> {
        self.cell.load_full()
    }
}

/// The running collector thread.
pub struct Collector {
    reader: SnapshotReader,
    thread: JoinHandle<Arc<Snapshot>>,
}

impl Collector {
    /// Subscribes to `broadcaster` now (so it sees everything published
    /// from the next flush on) and starts the `fantop/collector` thread.
    pub fn spawn(broadcaster: &Broadcaster<Event>, opts: CollectorOptions) -> std::io::Result<Collector> {
        let cell = Arc::new(ArcSwap::from_pointee(Snapshot::default()));
        let reader = SnapshotReader { cell: cell.clone() };
        let sub = broadcaster.subscribe_with(opts.subscribe.clone());
        let broadcaster = broadcaster.clone();
        let thread = std::thread::Builder::new()
            .name("fantop/collector".into())
            .spawn(move || run(sub, broadcaster, opts, cell))?;
        Ok(Collector { reader, thread })
    }

    pub fn reader(&self) -> SnapshotReader {
        self.reader.clone()
    }

    /// Waits for the stream to end (the publisher closed) and returns the
    /// final snapshot, which reflects every event published.
    pub fn join(self) -> Arc<Snapshot> {
        match self.thread.join() {
            Ok(s) => s,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

fn run(
    mut sub: Subscription<Event>,
    broadcaster: Broadcaster<Event>,
    opts: CollectorOptions,
    cell: Arc<ArcSwap<Snapshot>>,
) -> Arc<Snapshot> {
    let mut metrics = Metrics::new();
    let mut next_snapshot = Instant::now() + opts.snapshot_every;
    let mut dirty = false;
    loop {
        let received = match opts.poll_every {
            None => sub.recv_deadline(next_snapshot).map(|b| {
                b.map_or(0, |batch| {
                    batch.iter().for_each(|ev| metrics.apply(ev));
                    batch.len()
                })
            }),
            Some(every) => {
                let r = sub.drain(|ev| metrics.apply(ev));
                if matches!(r, Ok(0)) {
                    std::thread::sleep(every.min(next_snapshot.saturating_duration_since(Instant::now())));
                }
                r
            }
        };
        match received {
            Ok(n) => dirty |= n > 0,
            Err(RecvError::Closed) => break,
            Err(RecvError::Evicted { dropped, .. }) => {
                metrics.note_lost(dropped);
                sub = broadcaster.subscribe_with(opts.subscribe.clone());
            }
        }
        if Instant::now() >= next_snapshot {
            if dirty {
                cell.store(Arc::new(metrics.snapshot()));
                dirty = false;
            }
            next_snapshot = Instant::now() + opts.snapshot_every;
        }
    }
    let last = Arc::new(metrics.snapshot());
    cell.store(last.clone());
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::MILLIS;

    fn ev(t: Nanos, kind: EventKind) -> Event {
        Event::new(t, kind)
    }

    fn fixed_events() -> Vec<Event> {
        use EventKind::*;
        vec![
            ev(0, WorkerSpawned { worker: 0 }),
            ev(0, WorkerSpawned { worker: 1 }),
            ev(100 * MILLIS, RequestArrived { id: 0 }),
            ev(100 * MILLIS, RequestStarted { id: 0, worker: 0 }),
            ev(200 * MILLIS, RequestArrived { id: 1 }),
            ev(200 * MILLIS, RequestStarted { id: 1, worker: 1 }),
            ev(300 * MILLIS, RequestArrived { id: 2 }),
            ev(
                300 * MILLIS,
                QueueDepth {
                    depth: 1,
                    peak: 1,
                    capacity: 4,
                },
            ),
            ev(400 * MILLIS, RequestArrived { id: 3 }),
            ev(400 * MILLIS, RequestRejected { id: 3 }),
            ev(
                600 * MILLIS,
                RequestCompleted {
                    id: 0,
                    worker: 0,
                    latency: 500 * MILLIS,
                    ok: true,
                },
            ),
            ev(600 * MILLIS, RequestStarted { id: 2, worker: 0 }),
            ev(
                600 * MILLIS,
                QueueDepth {
                    depth: 0,
                    peak: 1,
                    capacity: 4,
                },
            ),
            ev(
                1_200 * MILLIS,
                RequestCompleted {
                    id: 1,
                    worker: 1,
                    latency: 1_000 * MILLIS,
                    ok: false,
                },
            ),
            ev(
                1_500 * MILLIS,
                RequestCompleted {
                    id: 2,
                    worker: 0,
                    latency: 1_200 * MILLIS,
                    ok: true,
                },
            ),
            ev(2_000 * MILLIS, WorkerStalled { worker: 1 }),
        ]
    }

    #[test]
    fn snapshot_of_a_fixed_event_list_matches_hand_computed_figures() {
        let mut m = Metrics::new();
        for e in fixed_events() {
            m.apply(&e);
        }
        let s = m.snapshot();
        assert_eq!(s.at, 2 * SECONDS);
        assert_eq!(s.events, 16);
        assert_eq!(
            s.totals,
            Totals {
                arrived: 4,
                started: 3,
                succeeded: 2,
                failed: 1,
                rejected: 1
            }
        );
        assert_eq!(s.in_flight, 0);
        assert_eq!((s.queue_depth, s.queue_capacity, s.queue_max_depth), (0, 4, 1));
        // Cumulative latency: 500 ms, 1000 ms, 1200 ms (3 significant digits).
        let l = s.latency_total;
        assert_eq!(l.count, 3);
        assert!(
            (l.mean - 900.0 * MILLIS as f64).abs() < 0.001 * 900.0 * MILLIS as f64,
            "{l:?}"
        );
        assert!(l.p50.abs_diff(1_000 * MILLIS) <= MILLIS, "{l:?}");
        assert!(l.max.abs_diff(1_200 * MILLIS) <= 2 * MILLIS, "{l:?}");
        // Workers: w0 completed 2, w1 failed 1 and is stalled.
        assert_eq!(s.workers.len(), 2);
        assert_eq!(
            (s.workers[0].completed, s.workers[0].failed, s.workers[0].state),
            (2, 0, WorkerHealth::Idle)
        );
        assert_eq!(
            (s.workers[1].completed, s.workers[1].failed, s.workers[1].state),
            (0, 1, WorkerHealth::Stalled)
        );
        // 10 s window at t = 2 s covers seconds 0..=2, i.e. 2 s of time: 4 arrivals -> 2/s.
        let r10 = s.rate(10).unwrap();
        assert!((r10.arrived - 2.0).abs() < 1e-9, "{r10:?}");
        assert!((r10.succeeded - 1.0).abs() < 1e-9, "{r10:?}");
        assert!((r10.rejected - 0.5).abs() < 1e-9, "{r10:?}");
        // 1 s window at t = 2.0 s covers second 2 only: nothing happened in it.
        assert_eq!(s.rate(1).unwrap().completed(), 0.0);
    }

    #[test]
    fn windowed_latency_forgets_what_is_older_than_the_window() {
        let mut m = Metrics::new();
        m.apply(&ev(
            SECONDS,
            EventKind::RequestCompleted {
                id: 0,
                worker: 0,
                latency: 900 * MILLIS,
                ok: true,
            },
        ));
        m.apply(&ev(
            20 * SECONDS,
            EventKind::RequestCompleted {
                id: 1,
                worker: 0,
                latency: 3 * MILLIS,
                ok: true,
            },
        ));
        let s = m.snapshot();
        assert_eq!(s.latency_window.count, 1);
        assert!(s.latency_window.max < 4 * MILLIS);
        assert_eq!(s.latency_total.count, 2);
    }

    #[test]
    fn huge_latencies_are_clamped_not_lost() {
        let mut m = Metrics::new();
        m.apply(&ev(
            0,
            EventKind::RequestCompleted {
                id: 0,
                worker: 0,
                latency: u64::MAX,
                ok: true,
            },
        ));
        assert_eq!(m.snapshot().latency_total.count, 1);
    }

    #[test]
    fn workers_beyond_the_bound_are_not_tracked() {
        let mut m = Metrics::new();
        m.apply(&ev(
            0,
            EventKind::WorkerSpawned {
                worker: MAX_WORKERS as WorkerId,
            },
        ));
        assert!(m.snapshot().workers.is_empty());
    }

    #[test]
    fn collector_thread_applies_everything_published_before_close() {
        let (mut publisher, broadcaster) = crate::broadcast::channel(Default::default(), crate::clock::Clock::manual());
        let collector = Collector::spawn(&broadcaster, CollectorOptions::default()).unwrap();
        for e in fixed_events() {
            publisher.publish(e);
        }
        publisher.close();
        let last = collector.join();
        let mut m = Metrics::new();
        fixed_events().iter().for_each(|e| m.apply(e));
        let expect = m.snapshot();
        assert_eq!(last.totals, expect.totals);
        assert_eq!(last.latency_total, expect.latency_total);
        // Its own "joined" notice is not an event.
        assert_eq!(last.events, expect.events);
    }

    #[test]
    fn collector_ends_when_the_publisher_is_dropped_first() {
        let (publisher, broadcaster) = crate::broadcast::channel(Default::default(), crate::clock::Clock::manual());
        let collector = Collector::spawn(&broadcaster, CollectorOptions::default()).unwrap();
        drop(publisher);
        drop(broadcaster);
        assert_eq!(collector.join().totals, Totals::default());
    }

    #[test]
    fn a_recovered_worker_is_busy_only_while_its_request_is_in_service() {
        use EventKind::*;
        let state = |evs: &[EventKind]| {
            let mut m = Metrics::new();
            evs.iter().for_each(|&k| m.apply(&ev(0, k)));
            m.snapshot().workers[0].state
        };
        let spawn = WorkerSpawned { worker: 0 };
        let stall = WorkerStalled { worker: 0 };
        let recover = WorkerRecovered { worker: 0 };
        let start = RequestStarted { id: 0, worker: 0 };
        let done = RequestCompleted {
            id: 0,
            worker: 0,
            latency: 1,
            ok: true,
        };
        assert_eq!(state(&[spawn, stall, recover]), WorkerHealth::Idle);
        assert_eq!(state(&[spawn, start, stall, recover]), WorkerHealth::Busy);
        assert_eq!(state(&[spawn, start, stall, done, recover]), WorkerHealth::Idle);
    }
}
