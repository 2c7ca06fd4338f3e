//! The single owner of aggregate metrics (the design note's
//! `ChannelPipelineMetrics`): the `fantop/collector` thread, the
//! [`Collector`] handle that starts and joins it, and the [`SnapshotReader`]
//! that reads what it publishes.
//!
//! - [`metrics`]: the [`Metrics`] fold (events in, aggregate state out).
//! - [`snapshot`]: the immutable [`Snapshot`] and the value types in it.
//! - [`window`]: the bounded per-second rings and windowed histograms that
//!   the collector and the UI panes each own their own instances of.
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
//! never changes after it is handed out: the next one is a new `Arc`. When
//! it applies a setting or overload announcement (a key's rate change, a
//! pipeline falling short), it publishes one early, at most every
//! [`ANNOUNCEMENT_SNAPSHOT_GAP`]: a pane whose own stream lost the
//! announcement (at millions of events a second they lose most) shows it at
//! its next frame rather than up to a quarter of a second later.
//!
//! Shutdown: when the publisher closes, the subscription delivers everything
//! that was published and then ends; the thread applies it all, stores the
//! final snapshot and exits, and [`Collector::join`] returns that snapshot.
//! Nothing can hang: the thread only waits on its subscription, which ends
//! when the publisher is dropped, whatever order things are dropped in.
//!
//! Keeping up: live, the collector drains its queue every
//! [`DEFAULT_POLL_EVERY`] (25 ms), and its queue holds as much of the
//! broadcaster's ring as a queue may ([`COLLECTOR_CAPACITY`], about 262,000
//! events): at 1,000,000 requests/s (some 2.3 million events/s) a poll finds
//! about 58,000 events, a fifth of the queue. Should it ever fall a full
//! queue behind anyway, the events it never saw — dropped while it lagged,
//! or lost to an eviction (after which it resubscribes at once) — are
//! counted in [`Snapshot::lost_events`]: figures are then marked
//! incomplete, never silently wrong.

pub mod metrics;
pub mod snapshot;
pub mod window;

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

pub use metrics::{LATENCY_WINDOW_S, MAX_WORKERS, Metrics, RATE_HISTORY_S};
pub use snapshot::{
    LatencySummary, LoadSettings, Overload, RATE_WINDOWS_S, SecondCounts, Snapshot, Totals, WindowRates, WorkerState,
    WorkerStats,
};
pub use window::MAX_TRACKED_LATENCY;

use crate::broadcast::{Broadcaster, RecvError, SubscribeOptions, Subscription};
use crate::event::Event;

/// How often the collector publishes a snapshot by default.
pub const DEFAULT_SNAPSHOT_EVERY: Duration = Duration::from_millis(250);

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
    /// Publish snapshots where this reader reads (a replay's collector,
    /// replaced at each seek back, keeps its readers); `None`: a new cell.
    pub publish_to: Option<SnapshotReader>,
}

/// The collector's subscriber name (the real-time pipeline keeps pace
/// with the subscriber of this name, see `PipelineOptions::keep_pace_with`).
pub const COLLECTOR_NAME: &str = "collector";

/// Collector queue bound: as much of the broadcaster's ring as a queue may
/// hold (`subscribe` keeps it within the ring; with the default ring,
/// 261,872 events, under a second at 100,000 requests/s).
pub const COLLECTOR_CAPACITY: usize = crate::broadcast::DEFAULT_RING_CAPACITY;

/// Least time between two snapshots published early, for a setting or
/// overload announcement (see [`Fold::announced_since_publish`]): at most
/// 50 a second however fast settings change.
pub const ANNOUNCEMENT_SNAPSHOT_GAP: Duration = Duration::from_millis(20);

/// The live collector's drain interval.
pub const DEFAULT_POLL_EVERY: Duration = Duration::from_millis(25);

impl Default for CollectorOptions {
    fn default() -> Self {
        CollectorOptions {
            snapshot_every: DEFAULT_SNAPSHOT_EVERY,
            subscribe: SubscribeOptions::new(COLLECTOR_NAME).capacity(COLLECTOR_CAPACITY),
            poll_every: Some(DEFAULT_POLL_EVERY),
            publish_to: None,
        }
    }
}

/// A cheap, cloneable handle that reads the newest snapshot.
#[derive(Clone)]
pub struct SnapshotReader {
    cell: Arc<ArcSwap<Snapshot>>,
}

impl std::fmt::Debug for SnapshotReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotReader").finish_non_exhaustive()
    }
}

impl SnapshotReader {
    /// The newest snapshot: one atomic load.
    pub fn load(&self) -> Arc<Snapshot> {
        self.cell.load_full()
    }
}

impl Default for SnapshotReader {
    /// A reader no collector writes to: it always reads an unpublished
    /// (empty) snapshot. For an app or a test without a collector.
    fn default() -> Self {
        SnapshotReader {
            cell: Arc::new(ArcSwap::from_pointee(Snapshot::default())),
        }
    }
}

/// The collector's work without its thread: a subscription folded into
/// [`Metrics`], polled by whoever owns it, publishing snapshots into the
/// cell its [`SnapshotReader`]s read. The `fantop/collector` thread owns
/// one; a test can own one and poll it on a simulated schedule.
pub struct Fold {
    metrics: Metrics,
    sub: Subscription<Event>,
    broadcaster: Broadcaster<Event>,
    subscribe: SubscribeOptions,
    /// The subscription's `dropped` counter when last read: what rose since
    /// was lost while lagging.
    dropped_seen: u64,
    cell: Arc<ArcSwap<Snapshot>>,
    /// Applied something since the last published snapshot.
    dirty: bool,
    /// [`Metrics::announcements`] in the last published snapshot.
    announced: u64,
}

impl Fold {
    /// Subscribes to `broadcaster` now (so it sees everything published
    /// from the next flush on).
    pub fn new(broadcaster: &Broadcaster<Event>, subscribe: SubscribeOptions) -> Fold {
        Fold {
            metrics: Metrics::new(),
            sub: broadcaster.subscribe_with(subscribe.clone()),
            broadcaster: broadcaster.clone(),
            subscribe,
            dropped_seen: 0,
            cell: Arc::new(ArcSwap::from_pointee(Snapshot::default())),
            dirty: false,
            announced: 0,
        }
    }

    pub fn reader(&self) -> SnapshotReader {
        SnapshotReader {
            cell: self.cell.clone(),
        }
    }

    /// Applies everything queued, without waiting, and counts what the
    /// subscription lost. Returns the events applied, or `Err` once the
    /// stream has ended (the publisher closed, everything applied).
    pub fn poll(&mut self) -> Result<usize, RecvError> {
        let metrics = &mut self.metrics;
        let r = self.sub.drain(|ev| metrics.apply(ev));
        self.settle(r)
    }

    /// Waits until `deadline` for one batch and applies it (the `--fast`
    /// collector, which the publisher waits for anyway).
    pub fn wait(&mut self, deadline: Instant) -> Result<usize, RecvError> {
        let metrics = &mut self.metrics;
        let r = self.sub.recv_deadline(deadline).map(|b| {
            b.map_or(0, |batch| {
                batch.iter().for_each(|ev| metrics.apply(ev));
                batch.len()
            })
        });
        self.settle(r)
    }

    /// Counts losses after a receive; resubscribes after an eviction.
    fn settle(&mut self, received: Result<usize, RecvError>) -> Result<usize, RecvError> {
        match received {
            Ok(n) => {
                self.dirty |= n > 0;
                let dropped = self.sub.stats().dropped;
                if dropped > self.dropped_seen {
                    self.metrics.note_lost(dropped - self.dropped_seen);
                    self.dirty = true;
                }
                self.dropped_seen = dropped;
                Ok(n)
            }
            Err(RecvError::Evicted { dropped, .. }) => {
                // `dropped` is its whole loss, the part already counted included.
                self.metrics.note_lost(dropped.saturating_sub(self.dropped_seen));
                self.dirty = true;
                self.sub = self.broadcaster.subscribe_with(self.subscribe.clone());
                self.dropped_seen = 0;
                Ok(0)
            }
            Err(RecvError::Closed) => Err(RecvError::Closed),
        }
    }

    /// Publishes a new snapshot if anything changed since the last one.
    pub fn publish(&mut self) {
        if std::mem::take(&mut self.dirty) {
            self.announced = self.metrics.announcements();
            self.cell.store(Arc::new(self.metrics.snapshot()));
        }
    }

    /// Whether a setting or overload announcement was applied since the
    /// last published snapshot: a pane that lost it in its own stream takes
    /// it from the next snapshot, so that one is worth publishing early.
    pub fn announced_since_publish(&self) -> bool {
        self.metrics.announcements() != self.announced
    }

    /// Publishes the final snapshot and returns it.
    pub fn finish(self) -> Arc<Snapshot> {
        let last = Arc::new(self.metrics.snapshot());
        self.cell.store(last.clone());
        last
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
        let mut fold = Fold::new(broadcaster, opts.subscribe.clone());
        if let Some(to) = &opts.publish_to {
            to.cell.store(Arc::new(Snapshot::default()));
            fold.cell = to.cell.clone();
        }
        let reader = fold.reader();
        let thread = std::thread::Builder::new()
            .name("fantop/collector".into())
            .spawn(move || run(fold, opts))?;
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

fn run(mut fold: Fold, opts: CollectorOptions) -> Arc<Snapshot> {
    let mut next_snapshot = Instant::now() + opts.snapshot_every;
    let mut last_snapshot = Instant::now();
    loop {
        let received = match opts.poll_every {
            None => fold.wait(next_snapshot),
            Some(every) => {
                let r = fold.poll();
                if matches!(r, Ok(0)) {
                    std::thread::sleep(every.min(next_snapshot.saturating_duration_since(Instant::now())));
                }
                r
            }
        };
        if received.is_err() {
            break;
        }
        let now = Instant::now();
        if now >= next_snapshot {
            fold.publish();
            next_snapshot = now + opts.snapshot_every;
            last_snapshot = now;
        } else if fold.announced_since_publish() && now >= last_snapshot + ANNOUNCEMENT_SNAPSHOT_GAP {
            // A setting changed (a key, a scenario step): panes that lost
            // it in their own stream see it at their next frame, not a
            // quarter of a second later.
            fold.publish();
            last_snapshot = now;
        }
    }
    fold.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Nanos;
    use metrics::tests::fixed_events;

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

    /// The stream of `--seed 14 --rate 1000000 --workers 8`, stepped on a
    /// manual clock `step` at a time to `end`, with the collector's fold
    /// polled after each step and publishing a snapshot every 250 ms.
    fn fold_at_a_million(step: Nanos, end: Nanos) -> (Arc<Snapshot>, crate::broadcast::SubscriberStats) {
        use crate::pipeline::{Pace, PipelineOptions, SimConfig, Stepper};
        let clock = crate::clock::Clock::manual();
        let (publisher, broadcaster) = crate::broadcast::channel(Default::default(), clock.clone());
        let mut fold = Fold::new(&broadcaster, CollectorOptions::default().subscribe);
        let sim = SimConfig {
            seed: 14,
            rate: 1_000_000.0,
            workers: 8,
            ..SimConfig::default()
        };
        let mut stepper = Stepper::new(PipelineOptions::new(sim, Pace::Fast), publisher, clock.clone(), None);
        let mut t = 0;
        while t < end {
            t += step;
            clock.set(t);
            let _ = stepper.advance(t);
            stepper.flush();
            fold.poll().expect("the stream is open");
            if t % (250 * crate::event::MILLIS) == 0 {
                fold.publish();
            }
        }
        fold.publish();
        let snapshot = fold.reader().load();
        let row = broadcaster
            .stats()
            .into_iter()
            .find(|s| s.name == "collector")
            .expect("listed");
        (snapshot, row)
    }

    /// Polled on its live schedule (every 25 ms) with its ring-sized queue,
    /// the collector loses nothing at 1,000,000 requests/s, and its snapshot
    /// holds the settings, all 8 workers and the queue's capacity.
    #[test]
    fn collector_loses_nothing_at_a_million_requests_per_second() {
        let (s, row) = fold_at_a_million(25 * crate::event::MILLIS, 2 * crate::event::SECONDS);
        assert_eq!((s.lost_events, row.dropped), (0, 0));
        assert_eq!(s.events, row.delivered);
        assert_eq!((s.load.rate, s.load.workers), (1_000_000.0, 8));
        assert_eq!(s.workers.len(), 8);
        assert!(s.queue_capacity > 0);
        assert!(s.totals.arrived > 1_900_000, "{:?}", s.totals);
    }

    /// Overload announcements are folded into the snapshot (the pace while
    /// short, skipped time, a rejection spell and what it rejected), and
    /// they, like setting changes and unlike request traffic, make the next
    /// snapshot worth publishing early.
    #[test]
    fn overload_announcements_are_folded_and_flagged_for_an_early_snapshot() {
        use crate::event::{EventKind, SECONDS};
        let (mut publisher, broadcaster) = crate::broadcast::channel(Default::default(), crate::clock::Clock::manual());
        let mut fold = Fold::new(&broadcaster, CollectorOptions::default().subscribe);
        let mut send = |fold: &mut Fold, kind| {
            publisher.publish(Event::new(SECONDS, kind));
            publisher.flush();
            fold.poll().expect("open");
        };
        send(&mut fold, EventKind::RequestArrived { id: 0 });
        assert!(!fold.announced_since_publish());
        let pace = |achieved, short| EventKind::ArrivalPace {
            achieved,
            skipped: 300 * crate::event::MILLIS,
            window_ms: 500,
            short,
        };
        send(&mut fold, pace(2_000.0, true));
        assert!(fold.announced_since_publish());
        fold.publish();
        assert!(!fold.announced_since_publish());
        send(&mut fold, EventKind::QueueFull);
        for id in 1..=3 {
            send(&mut fold, EventKind::RequestRejected { id });
        }
        assert!(fold.announced_since_publish());
        fold.publish();
        let o = fold.reader().load().overload;
        assert_eq!(
            (o.achieving, o.short_ms, o.rejecting, o.spell_rejected),
            (Some(2_000.0), 500, true, 3)
        );
        assert_eq!(o.achieved_while_short(), Some(2_000.0));
        send(&mut fold, pace(4_000.0, false));
        send(&mut fold, EventKind::QueueHasRoom { rejected: 3 });
        fold.publish();
        let o = fold.reader().load().overload;
        assert_eq!(
            (o.achieving, o.short_ms, o.skipped_ns),
            (None, 500, 600 * crate::event::MILLIS)
        );
        assert_eq!((o.rejecting, o.spell_rejected, o.spells_ended), (false, 3, 1));
    }

    /// A collector that falls a full queue behind says so: its snapshot
    /// counts exactly the events its subscription dropped.
    #[test]
    fn collector_that_lags_counts_what_it_lost_in_its_snapshot() {
        let (s, row) = fold_at_a_million(250 * crate::event::MILLIS, crate::event::SECONDS);
        assert!(row.dropped > 0, "{row:?}");
        assert_eq!(s.lost_events, row.dropped);
    }
}
