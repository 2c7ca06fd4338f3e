//! Publish cost per event against the number of subscribers N, for fantop's
//! broadcaster and for two baselines: a plain crossbeam-channel fan-out and
//! `tokio::sync::broadcast` (group `publish_per_event`); and the reading
//! side, cost per delivery on one thread, against the crossbeam fan-out
//! (group `read_per_delivery`, see [`read_per_delivery`]).
//!
//! # What is measured
//!
//! One iteration publishes `EVENTS_PER_ITER` events to N subscribers and is
//! timed from the first publish to the return of the last call that hands
//! the events to the queues (including the final `flush` for fantop). The
//! group's throughput is `EVENTS_PER_ITER` elements, so results read per event
//! published (not per event delivered: one event reaches N queues).
//!
//! - `fantop_batched`: `max_batch` 256, so every 256 publishes make one
//!   shared `Arc<[Event]>` offered to every queue; then `flush`.
//! - `fantop_unbatched`: `max_batch` 1: a flush (one batch of one) per event.
//! - `crossbeam_batched`: N bounded channels of `Arc<[Event]>`; the same
//!   256-event batches built the same way, `try_send` of a clone to each.
//! - `crossbeam_unbatched`: N bounded channels of `Event`, `try_send` of
//!   each event to each.
//! - `tokio_batched` / `tokio_unbatched`: one `tokio::sync::broadcast`
//!   channel with N receivers, `send` of each 256-event `Arc<[Event]>` batch
//!   (built the same way) or of each `Event`. Its shape differs: `send`
//!   stores the value once in a ring shared by all receivers (under one
//!   lock) and each receiver clones it out on receive, so the publisher's
//!   cost hardly depends on N and the per-subscriber work is on the
//!   consumer side, which is not timed here. A receiver that falls more
//!   than the ring's capacity behind loses the oldest values (`Lagged` on
//!   its next receive): the ring holds twice an iteration's values, and lags
//!   are counted and asserted to be 0 like the others' drops.
//!
//! Every subscriber is drained concurrently by one drainer thread for all of
//! them, which reads every event it receives ([`fantop::bench::baseline::consume`]),
//! as a real consumer would, so the publisher pays for the contention on the
//! queues and for handing the data over. Between iterations, outside the timed section, the bench
//! waits until the drainer has received every event of the iteration, so
//! every timed iteration starts with empty queues; and every queue holds at
//! least `EVENTS_PER_ITER` events, so no event can be dropped (fantop) or
//! refused (crossbeam). What is measured is therefore successful delivery to
//! every subscriber, never the cheaper path of dropping; each benchmark
//! asserts afterwards that nothing was dropped or refused.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use crossbeam_channel::{Receiver, Sender};

use fantop::bench::baseline::Batch;
use fantop::bench::baseline::{CrossbeamBatched, Drainer, consume, read_all};
use fantop::broadcast::{BroadcastConfig, Broadcaster, Publisher, channel};
use fantop::clock::Clock;
use fantop::event::{Event, EventKind};
use tokio::sync::broadcast as tokio_broadcast;

const SUBSCRIBERS: [usize; 6] = [1, 4, 16, 64, 256, 1024];
/// Events published per timed iteration.
const EVENTS_PER_ITER: usize = 1024;
/// Batch size of the batched variants (fantop's default `max_batch`).
const BATCH: usize = 256;

/// A fan-out under test: publishes one iteration's events to all subscribers.
trait Fanout {
    fn publish_round(&mut self, events: &[Event]);
    /// Panics if any event was dropped or refused.
    fn assert_nothing_lost(&self);
}

struct Fantop {
    publisher: Publisher<Event>,
    broadcaster: Broadcaster<Event>,
}

impl Fantop {
    fn new(n: usize, max_batch: usize) -> (Self, Drainer, u64) {
        let config = BroadcastConfig {
            max_batch,
            ..BroadcastConfig::default()
        };
        assert!(config.default_capacity >= EVENTS_PER_ITER);
        let (mut publisher, broadcaster) = channel(config, Clock::start());
        let subs: Vec<_> = (0..n).map(|i| broadcaster.subscribe(format!("bench{i}"))).collect();
        publisher.tick(); // takes them all on (their join notices are not events)
        let drainer = Drainer::spawn(subs, |s| s.drain(consume).expect("subscription open") as u64);
        assert_eq!(broadcaster.publisher_stats().events, 0);
        (Fantop { publisher, broadcaster }, drainer, 0)
    }
}

impl Fanout for Fantop {
    fn publish_round(&mut self, events: &[Event]) {
        for e in events {
            self.publisher.publish(*e);
        }
        self.publisher.flush();
    }

    fn assert_nothing_lost(&self) {
        for s in self.broadcaster.stats() {
            assert_eq!((s.dropped, s.evictions), (0, 0), "measured drops: {s:?}");
        }
    }
}

struct CrossbeamUnbatched {
    senders: Vec<Sender<Event>>,
    refused: u64,
}

impl CrossbeamUnbatched {
    fn new(n: usize) -> (Self, Drainer, u64) {
        let (senders, receivers): (Vec<_>, Vec<Receiver<Event>>) =
            (0..n).map(|_| crossbeam_channel::bounded(2 * EVENTS_PER_ITER)).unzip();
        let drainer = Drainer::spawn(receivers, |rx| {
            let mut n = 0;
            for e in rx.try_iter() {
                consume(&e);
                n += 1;
            }
            n
        });
        (CrossbeamUnbatched { senders, refused: 0 }, drainer, 0)
    }
}

impl Fanout for CrossbeamUnbatched {
    fn publish_round(&mut self, events: &[Event]) {
        for e in events {
            for tx in &self.senders {
                if tx.try_send(*e).is_err() {
                    self.refused += 1;
                }
            }
        }
    }

    fn assert_nothing_lost(&self) {
        assert_eq!(self.refused, 0, "measured refusals");
    }
}

/// The shared baseline (`fantop::bench::baseline`), sized so an iteration never
/// fills a channel.
fn crossbeam_batched(n: usize) -> (CrossbeamBatched, Drainer, u64) {
    let (fan, drainer) = CrossbeamBatched::new(n, BATCH, 2 * EVENTS_PER_ITER.div_ceil(BATCH));
    (fan, drainer, 0)
}

impl Fanout for CrossbeamBatched {
    fn publish_round(&mut self, events: &[Event]) {
        CrossbeamBatched::publish_round(self, events);
    }

    fn assert_nothing_lost(&self) {
        assert_eq!(self.refused, 0, "measured refusals");
    }
}

/// A tokio broadcast channel with `n` receivers drained by one drainer; `read`
/// consumes the events in one value and counts them. Returns the sender, the drainer and the
/// count of values receivers lost to lagging.
fn tokio_channel<T: Clone + Send + 'static>(
    n: usize,
    capacity: usize,
    read: fn(&T) -> u64,
) -> (tokio_broadcast::Sender<T>, Drainer, Arc<AtomicU64>) {
    let (tx, first) = tokio_broadcast::channel::<T>(capacity);
    let receivers: Vec<RefCell<tokio_broadcast::Receiver<T>>> = std::iter::once(first)
        .chain((1..n).map(|_| tx.subscribe()))
        .map(RefCell::new)
        .collect();
    let lagged = Arc::new(AtomicU64::new(0));
    let drainer = {
        let lagged = lagged.clone();
        Drainer::spawn(receivers, move |rx| {
            let mut rx = rx.borrow_mut();
            let mut k = 0;
            loop {
                match rx.try_recv() {
                    Ok(v) => k += read(&v),
                    Err(tokio_broadcast::error::TryRecvError::Lagged(lost)) => {
                        lagged.fetch_add(lost, Ordering::Relaxed);
                    }
                    Err(_) => break,
                }
            }
            k
        })
    };
    (tx, drainer, lagged)
}

struct TokioUnbatched {
    tx: tokio_broadcast::Sender<Event>,
    lagged: Arc<AtomicU64>,
    refused: u64,
}

impl TokioUnbatched {
    fn new(n: usize) -> (Self, Drainer, u64) {
        let (tx, drainer, lagged) = tokio_channel(n, 2 * EVENTS_PER_ITER, |e| {
            consume(e);
            1
        });
        (TokioUnbatched { tx, lagged, refused: 0 }, drainer, 0)
    }
}

impl Fanout for TokioUnbatched {
    fn publish_round(&mut self, events: &[Event]) {
        for e in events {
            if self.tx.send(*e).is_err() {
                self.refused += 1;
            }
        }
    }

    fn assert_nothing_lost(&self) {
        assert_eq!(
            (self.refused, self.lagged.load(Ordering::Relaxed)),
            (0, 0),
            "measured refusals or lags"
        );
    }
}

struct TokioBatched {
    tx: tokio_broadcast::Sender<Batch>,
    buf: Vec<Event>,
    lagged: Arc<AtomicU64>,
    refused: u64,
}

impl TokioBatched {
    fn new(n: usize) -> (Self, Drainer, u64) {
        let (tx, drainer, lagged) = tokio_channel(n, 2 * EVENTS_PER_ITER.div_ceil(BATCH), |b: &Batch| {
            b.iter().for_each(consume);
            b.len() as u64
        });
        let fanout = TokioBatched {
            tx,
            buf: Vec::with_capacity(BATCH),
            lagged,
            refused: 0,
        };
        (fanout, drainer, 0)
    }

    fn send_buffered(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let batch: Batch = Arc::from(self.buf.as_slice());
        self.buf.clear();
        let len = batch.len() as u64;
        if self.tx.send(batch).is_err() {
            self.refused += len;
        }
    }
}

impl Fanout for TokioBatched {
    fn publish_round(&mut self, events: &[Event]) {
        for e in events {
            self.buf.push(*e);
            if self.buf.len() >= BATCH {
                self.send_buffered();
            }
        }
        self.send_buffered();
    }

    fn assert_nothing_lost(&self) {
        assert_eq!(
            (self.refused, self.lagged.load(Ordering::Relaxed)),
            (0, 0),
            "measured refusals or lags"
        );
    }
}

/// Benchmarks one fan-out: times each iteration's publishing only, then
/// (untimed) waits for the drainer to receive all of it.
fn bench_fanout<F: Fanout>(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    n: usize,
    (mut fanout, drainer, mut received): (F, Drainer, u64),
    events: &[Event],
) {
    c.bench_with_input(BenchmarkId::new(name, n), &n, |b, &n| {
        b.iter_custom(|iters| {
            let mut busy = Duration::ZERO;
            for _ in 0..iters {
                let started = Instant::now();
                fanout.publish_round(events);
                busy += started.elapsed();
                received += (n * events.len()) as u64;
                drainer.wait_for(received);
            }
            busy
        })
    });
    fanout.assert_nothing_lost();
    drop(drainer);
}

fn publish_per_event(c: &mut Criterion) {
    let events: Vec<Event> = (0..EVENTS_PER_ITER as u64)
        .map(|i| Event::new(i, EventKind::RequestArrived { id: i }))
        .collect();
    let mut group = c.benchmark_group("publish_per_event");
    group
        .throughput(Throughput::Elements(EVENTS_PER_ITER as u64))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for n in SUBSCRIBERS {
        bench_fanout(&mut group, "fantop_batched", n, Fantop::new(n, BATCH), &events);
        bench_fanout(&mut group, "fantop_unbatched", n, Fantop::new(n, 1), &events);
        bench_fanout(&mut group, "crossbeam_batched", n, crossbeam_batched(n), &events);
        bench_fanout(
            &mut group,
            "crossbeam_unbatched",
            n,
            CrossbeamUnbatched::new(n),
            &events,
        );
        bench_fanout(&mut group, "tokio_batched", n, TokioBatched::new(n), &events);
        bench_fanout(&mut group, "tokio_unbatched", n, TokioUnbatched::new(n), &events);
    }
    group.finish();
}

/// The reading side, on one thread with everything in cache: one iteration
/// publishes `EVENTS_PER_ITER` simulated events (untimed), then reads them
/// for every one of N subscribers (timed); throughput is per delivery.
/// fantop's readers decode from the ring (whole pages once, shared); the
/// crossbeam fan-out's readers take the same ready `Arc` batch.
fn read_per_delivery(c: &mut Criterion) {
    let events = fantop::bench::sim_events(EVENTS_PER_ITER);
    let mut group = c.benchmark_group("read_per_delivery");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for n in [1, 16, 64] {
        group.throughput(Throughput::Elements((n * EVENTS_PER_ITER) as u64));
        let (mut publisher, broadcaster) = channel(BroadcastConfig::default(), Clock::start());
        let subs: Vec<_> = (0..n).map(|i| broadcaster.subscribe(format!("reader{i}"))).collect();
        publisher.tick();
        for s in &subs {
            s.drain(consume).expect("subscription open");
        }
        group.bench_with_input(BenchmarkId::new("fantop", n), &n, |b, &n| {
            b.iter_custom(|iters| {
                let mut busy = Duration::ZERO;
                for _ in 0..iters {
                    publisher.publish_all(&events);
                    publisher.flush();
                    let started = Instant::now();
                    let read: usize = subs.iter().map(|s| s.drain(consume).expect("subscription open")).sum();
                    busy += started.elapsed();
                    assert_eq!(read, n * events.len(), "every event read by every subscriber");
                }
                busy
            })
        });
        let (mut fanout, receivers): (CrossbeamBatched, Vec<Receiver<Batch>>) =
            CrossbeamBatched::undrained(n, BATCH, EVENTS_PER_ITER.div_ceil(BATCH));
        group.bench_with_input(BenchmarkId::new("crossbeam_batched", n), &n, |b, &n| {
            b.iter_custom(|iters| {
                let mut busy = Duration::ZERO;
                for _ in 0..iters {
                    fanout.publish_round(&events);
                    let started = Instant::now();
                    let read: u64 = receivers.iter().map(read_all).sum();
                    busy += started.elapsed();
                    assert_eq!(read as usize, n * events.len(), "every event read by every subscriber");
                }
                busy
            })
        });
        assert_eq!(fanout.refused, 0, "measured refusals");
    }
    group.finish();
}

criterion_group!(benches, publish_per_event, read_per_delivery);
criterion_main!(benches);
