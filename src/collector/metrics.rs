//! The [`Metrics`] fold: every event in, aggregate state out. Plain data
//! with one writer (the collector thread, or a test, or a replay that owns
//! one); [`Metrics::snapshot`] turns it into an immutable
//! [`super::snapshot::Snapshot`].
//!
//! Bounds: latency histograms track 1 ns ..= 1 hour at 3 significant digits
//! (larger values are clamped to the maximum); rate history keeps
//! [`RATE_HISTORY_S`] + 1 one-second buckets; the windowed histogram keeps
//! [`LATENCY_WINDOW_S`] one-second histograms; workers are tracked up to
//! [`MAX_WORKERS`].

use hdrhistogram::Histogram;

use super::snapshot::{
    LatencySummary, LoadSettings, Overload, RATE_WINDOWS_S, SecondCounts, Snapshot, Totals, WindowRates, WorkerState,
    WorkerStats,
};
use super::window::{SecondRing, WindowedHistogram, latency_histogram, record_latency};
use crate::event::{Event, EventKind, LoadChange, Nanos, SECONDS, WorkerId};

/// Seconds of per-second rate buckets kept (the longest rate window).
pub const RATE_HISTORY_S: u64 = 60;
/// Seconds covered by the windowed latency figures.
pub const LATENCY_WINDOW_S: u64 = 10;
/// Highest worker id tracked (the pool is limited to this many).
pub const MAX_WORKERS: usize = 1024;

/// The aggregate state. Plain data: the collector thread owns one; tests and
/// replays can own one too.
pub struct Metrics {
    at: Nanos,
    since: Option<Nanos>,
    events: u64,
    totals: Totals,
    buckets: SecondRing<SecondCounts>,
    window: WindowedHistogram,
    total: Histogram<u64>,
    workers: Vec<Option<WorkerStats>>,
    /// Whether each worker (by id) has a request in service; a stall keeps it.
    in_service: Vec<bool>,
    queue_depth: u32,
    queue_capacity: u32,
    queue_max_depth: u32,
    load: LoadSettings,
    overload: Overload,
    lost_events: u64,
    /// Bumped at each setting or overload announcement applied (what the
    /// panes take from a snapshot when their own stream lost it).
    announcements: u64,
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
            overload: Overload::default(),
            lost_events: 0,
            announcements: 0,
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
                    w.state = WorkerState::Busy;
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
                    if w.state == WorkerState::Busy {
                        w.state = WorkerState::Idle;
                    }
                }
            }
            EventKind::RequestRejected { .. } => {
                self.totals.rejected += 1;
                self.bucket(sec).rejected += 1;
                if self.overload.rejecting {
                    self.overload.spell_rejected += 1;
                }
            }
            EventKind::QueueFull => {
                self.announcements += 1;
                self.overload.rejecting = true;
                self.overload.spell_rejected = 0;
            }
            EventKind::QueueHasRoom { rejected } => {
                self.announcements += 1;
                self.overload.rejecting = false;
                self.overload.spell_rejected = rejected;
                self.overload.spells_ended += 1;
            }
            EventKind::ArrivalPace {
                achieved,
                skipped,
                window_ms,
                short,
            } => {
                self.announcements += 1;
                let o = &mut self.overload;
                o.achieving = short.then_some(achieved);
                o.skipped_ns += skipped;
                if short {
                    o.short_ms += u64::from(window_ms);
                    o.short_arrivals += achieved * f64::from(window_ms) / 1e3;
                }
            }
            EventKind::WorkerSpawned { worker } => self.set_health(worker, ev.t, WorkerState::Idle),
            EventKind::WorkerStopped { worker } => self.set_health(worker, ev.t, WorkerState::Stopped),
            EventKind::WorkerStalled { worker } => self.set_health(worker, ev.t, WorkerState::Stalled),
            EventKind::WorkerRecovered { worker } => {
                // Back to work: busy if its request is still in service.
                let busy = self.in_service.get(worker as usize).copied().unwrap_or(false);
                let state = if busy { WorkerState::Busy } else { WorkerState::Idle };
                self.set_health(worker, ev.t, state);
            }
            // Its lost request, if any, arrives as a failed completion.
            EventKind::WorkerCrashed { worker, .. } => self.set_health(worker, ev.t, WorkerState::Crashed),
            EventKind::QueueDepth { depth, peak, capacity } => {
                self.queue_depth = depth;
                self.queue_capacity = capacity;
                self.queue_max_depth = self.queue_max_depth.max(peak).max(depth);
            }
            EventKind::LoadChanged { change } => {
                self.announcements += 1;
                self.apply_load(change);
                self.bucket(sec).target = self.target();
            }
            EventKind::WorkerHeartbeat { .. } | EventKind::ScenarioStep { .. } => {}
        }
    }

    /// The target arrival rate now: rate × burst factor, at most the
    /// pipeline's ceiling (as the pipeline applies it).
    fn target(&self) -> f64 {
        (self.load.rate * self.load.burst.unwrap_or(1.0)).min(crate::pipeline::control::MAX_RATE)
    }

    fn apply_load(&mut self, change: LoadChange) {
        if let LoadChange::QueueCapacity { capacity } = change {
            self.queue_capacity = capacity;
        }
        self.load.apply(change);
    }

    /// How many setting and overload announcements were applied so far: a
    /// reader that sees it change knows a snapshot taken now carries news
    /// the panes may need at once.
    pub fn announcements(&self) -> u64 {
        self.announcements
    }

    /// Counts events this collector never saw.
    pub fn note_lost(&mut self, n: u64) {
        self.lost_events += n;
    }

    /// The bucket of second `sec`; a new one starts at the current target.
    fn bucket(&mut self, sec: u64) -> &mut SecondCounts {
        let target = self.target();
        let held = self.buckets.get(sec).is_some();
        let b = self.buckets.at(sec);
        if !held {
            b.target = target;
        }
        b
    }

    fn set_health(&mut self, id: WorkerId, t: Nanos, state: WorkerState) {
        if let Some(w) = self.worker(id) {
            w.state = state;
            w.since = t;
        }
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

    /// The buckets held, oldest first.
    fn seconds(&self) -> Vec<(u64, SecondCounts)> {
        let now_sec = self.at / SECONDS;
        let mut out: Vec<(u64, SecondCounts)> = self
            .buckets
            .range(now_sec.saturating_sub(RATE_HISTORY_S), now_sec)
            .map(|(s, c)| (s, *c))
            .collect();
        out.sort_unstable_by_key(|(s, _)| *s);
        out
    }

    /// The immutable view of the state now.
    pub fn snapshot(&self) -> Snapshot {
        let merged = self.window.merged(self.at);
        Snapshot {
            at: self.at,
            since: self.since.unwrap_or(0),
            events: self.events,
            totals: self.totals,
            seconds: self.seconds(),
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
            overload: self.overload,
            lost_events: self.lost_events,
        }
    }

    /// The cumulative latency histogram (for exact summaries).
    pub fn latency_histogram(&self) -> &Histogram<u64> {
        &self.total
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::event::MILLIS;

    fn ev(t: Nanos, kind: EventKind) -> Event {
        Event::new(t, kind)
    }

    pub(crate) fn fixed_events() -> Vec<Event> {
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
        let second = |arrived, succeeded, failed, rejected| SecondCounts {
            arrived,
            succeeded,
            failed,
            rejected,
            target: 0.0,
        };
        assert_eq!(s.seconds, vec![(0, second(4, 1, 0, 1)), (1, second(0, 1, 1, 0))]);
        assert_eq!((s.workers[1].since, s.workers[0].since), (2 * SECONDS, 0));
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
            (2, 0, WorkerState::Idle)
        );
        assert_eq!(
            (s.workers[1].completed, s.workers[1].failed, s.workers[1].state),
            (0, 1, WorkerState::Stalled)
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
        assert_eq!(state(&[spawn, stall, recover]), WorkerState::Idle);
        assert_eq!(state(&[spawn, start, stall, recover]), WorkerState::Busy);
        assert_eq!(state(&[spawn, start, stall, done, recover]), WorkerState::Idle);
    }
}
