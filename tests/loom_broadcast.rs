//! Model checks of the broadcaster's hand-ordered atomics with loom: each
//! test explores the interleavings of two racing threads (spawned, with the
//! model's main thread setting up and checking after both are joined) over
//! a tiny ring (blocks of 2 events under loom), and asserts an invariant in
//! every one.
//!
//! Run with (as `.ci/run` does):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 \
//!     cargo test --target-dir target/loom --test 'loom_*'
//! ```
//!
//! Under loom the shared decoded pages are compiled out (readers decode
//! from the ring), see `fantop::broadcast`'s "Concurrency".
#![cfg(loom)]

use std::sync::Arc as StdArc;
use std::sync::atomic::{AtomicU64 as StdAtomicU64, Ordering as StdOrdering};

use loom::thread;

use fantop::broadcast::{
    BroadcastConfig, Broadcaster, EvictionPolicy, Nanos, NoticeKind, Publisher, RecvError, SLOT_WORDS, Slot,
    SubscriberState, Subscription, TimeSource, channel,
};

/// A test event whose words carry a check, so a torn read cannot decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Tick(u64);

impl Slot for Tick {
    const BLANK: Tick = Tick(0);
    fn encode(&self) -> [u64; SLOT_WORDS] {
        [self.0, !self.0, self.0.rotate_left(17), 0x5EED]
    }
    fn decode_into(w: [u64; SLOT_WORDS], out: &mut Tick) -> bool {
        *out = Tick(w[0]);
        w[1] == !w[0] && w[2] == w[0].rotate_left(17) && w[3] == 0x5EED
    }
    fn timestamp(&self) -> Nanos {
        self.0
    }
}

/// A clock that moves only when told (outside the model: plain std atomics).
#[derive(Clone, Default)]
struct Manual(StdArc<StdAtomicU64>);

impl TimeSource for Manual {
    fn now(&self) -> Nanos {
        self.0.load(StdOrdering::Acquire)
    }
}

/// Explores `f` with at most two preemptions unless `LOOM_MAX_PREEMPTIONS`
/// says otherwise, and says how many interleavings it ran.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.max_branches = 100_000;
    let runs = StdArc::new(StdAtomicU64::new(0));
    let counted = runs.clone();
    let started = std::time::Instant::now();
    builder.check(move || {
        counted.fetch_add(1, StdOrdering::Relaxed);
        f()
    });
    eprintln!(
        "loom: {} interleavings in {:.1?}",
        runs.load(StdOrdering::Relaxed),
        started.elapsed()
    );
}

/// One-event batches on the smallest ring: 4 slots, each subscriber's queue
/// one event.
fn tiny(eviction: EvictionPolicy) -> BroadcastConfig {
    BroadcastConfig {
        ring_capacity: 4,
        default_capacity: 1,
        max_batch: 1,
        eviction,
        ended_retained: 8,
        notice_capacity: 16,
        ..BroadcastConfig::default()
    }
}

/// A channel with one subscriber, taken on.
fn one_subscriber(config: BroadcastConfig, clock: Manual) -> (Publisher<Tick>, Broadcaster<Tick>, Subscription<Tick>) {
    let (mut publisher, b) = channel(config, clock);
    let sub = b.subscribe("sub");
    publisher.tick();
    (publisher, b, sub)
}

/// Receives until the end, checking order; returns the ids and how it ended.
fn receive_to_end(sub: &Subscription<Tick>, ids: &mut Vec<u64>) -> RecvError {
    loop {
        match sub.recv() {
            Ok(batch) => ids.extend(batch.iter().map(|t| t.0)),
            Err(end) => return end,
        }
    }
}

/// (a) A reader racing a writer that laps it never sees a torn event, gets
/// what it gets in order, and counts what it lost exactly.
#[test]
fn a_lapped_reader_never_sees_a_torn_event_and_counts_its_loss_exactly() {
    const EVENTS: u64 = 7;
    model(|| {
        let (mut publisher, b, sub) = one_subscriber(tiny(EvictionPolicy::NEVER), Manual::default());
        let writer = thread::spawn(move || {
            for i in 1..=EVENTS {
                publisher.publish(Tick(i));
            }
            publisher.close();
        });
        let reader = thread::spawn(move || {
            let mut ids = Vec::new();
            for _ in 0..3 {
                // A torn event would not decode (and would be counted, not shown).
                if let Ok(Some(batch)) = sub.try_recv() {
                    ids.extend(batch.iter().map(|t| t.0));
                }
            }
            (sub, ids)
        });
        writer.join().unwrap();
        let (sub, mut ids) = reader.join().unwrap();
        assert_eq!(receive_to_end(&sub, &mut ids), RecvError::Closed);
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        assert!(ids.iter().all(|&i| (1..=EVENTS).contains(&i)), "{ids:?}");
        let s = sub.stats();
        assert_eq!(s.published_while_subscribed, EVENTS);
        assert_eq!((s.delivered, s.queued), (ids.len() as u64, 0));
        assert_eq!(s.delivered + s.dropped, EVENTS, "{s:?}, got {ids:?}");
        drop(b);
    });
}

/// (b) A receiver that waits is always woken by a publish: no lost wake-up
/// (loom reports a deadlock if the receiver can sleep through it).
#[test]
fn a_waiting_receiver_is_always_woken_by_a_publish() {
    model(|| {
        let (mut publisher, _b, sub) = one_subscriber(tiny(EvictionPolicy::NEVER), Manual::default());
        let receiver = thread::spawn(move || {
            let batch = sub.recv().expect("a batch");
            let mut ids: Vec<u64> = batch.iter().map(|t| t.0).collect();
            // Its own join notice may come alone, before the event.
            while ids.is_empty() {
                ids.extend(sub.recv().expect("a batch").iter().map(|t| t.0));
            }
            assert_eq!(ids, [7]);
            sub
        });
        let sender = thread::spawn(move || {
            publisher.publish(Tick(7));
            publisher
        });
        let sub = receiver.join().unwrap();
        assert_eq!(sub.stats().delivered, 1);
        drop(sender.join().unwrap());
    });
}

/// (b') A receiver that waits is woken by a notice alone (no event): here,
/// another subscriber leaving.
#[test]
fn a_waiting_receiver_is_woken_by_a_notice() {
    model(|| {
        let (mut publisher, b) = channel::<Tick>(tiny(EvictionPolicy::NEVER), Manual::default());
        let watcher = b.subscribe("watcher");
        let visitor = b.subscribe("visitor");
        publisher.tick();
        let visitor_id = visitor.id();
        let joined = watcher.try_recv().unwrap().expect("the joins");
        assert_eq!(joined.notices().len(), 2);
        let receiver = thread::spawn(move || {
            let batch = watcher.recv().expect("a batch");
            assert!(batch.is_empty(), "no event was published");
            let about: Vec<_> = batch.notices().iter().map(|n| (n.subscriber, n.kind)).collect();
            assert_eq!(about, [(visitor_id, NoticeKind::Left)]);
        });
        let leaver = thread::spawn(move || {
            drop(visitor);
            publisher.tick(); // forgets it and announces that it left
            publisher
        });
        receiver.join().unwrap();
        drop(leaver.join().unwrap());
    });
}

/// (c) Subscribing while the publisher closes ends in `Closed`, never a
/// receive that hangs.
#[test]
fn subscribe_racing_close_ends_closed_and_never_hangs() {
    model(|| {
        let (publisher, b) = channel::<Tick>(tiny(EvictionPolicy::NEVER), Manual::default());
        let subscriber = thread::spawn(move || {
            let sub = b.subscribe("late");
            let mut ids = Vec::new();
            assert_eq!(receive_to_end(&sub, &mut ids), RecvError::Closed);
            assert!(ids.is_empty());
            let s = sub.stats();
            assert_eq!(s.state, SubscriberState::Closed);
            assert_eq!(s.published_while_subscribed, 0);
        });
        let closer = thread::spawn(move || publisher.close());
        subscriber.join().unwrap();
        closer.join().unwrap();
    });
}

/// (d) Dropping a subscription while the publisher evicts it leaves one
/// consistent end: evicted (counted once, with a reason) or closed, its
/// counters adding up either way, and the publisher forgetting it.
#[test]
fn dropping_a_subscription_racing_its_eviction_leaves_consistent_counts() {
    model(|| {
        let clock = Manual::default();
        let policy = EvictionPolicy {
            losing_for: Some(0),
            max_lost_percent: None,
            window: 0,
        };
        let (mut publisher, b, sub) = one_subscriber(tiny(policy), clock.clone());
        let id = sub.id();
        publisher.publish(Tick(1));
        publisher.publish(Tick(2)); // its queue holds 1: it lost one
        clock.0.store(1_000_000_000, StdOrdering::Release); // a check is due
        let dropper = thread::spawn(move || drop(sub));
        let evicter = thread::spawn(move || {
            publisher.tick(); // evicts it, unless it has left
            publisher
        });
        dropper.join().unwrap();
        let mut publisher = evicter.join().unwrap();
        publisher.tick(); // forgets it, if it left
        assert_eq!(publisher.subscriber_count(), 0);
        let s = b.stats().into_iter().find(|s| s.id == id).expect("its row");
        assert_eq!(
            s.published_while_subscribed,
            s.delivered + s.dropped + s.queued,
            "{s:?}"
        );
        assert_eq!(s.queued, 0, "{s:?}");
        match s.state {
            SubscriberState::Evicted => {
                assert_eq!(s.evictions, 1);
                assert!(s.last_evict_reason.is_some());
                assert_eq!((s.published_while_subscribed, s.dropped), (2, 2), "{s:?}");
            }
            SubscriberState::Closed => {
                assert_eq!((s.evictions, s.last_evict_reason), (0, None));
                // It left its queued event unread: not published to it.
                assert_eq!((s.published_while_subscribed, s.dropped), (1, 1), "{s:?}");
            }
            other => panic!("ended {other:?}"),
        }
    });
}

/// (e) The position/loss pair is read consistently: stats read while the
/// subscriber skips and receives see it before or after, never a skip
/// counted twice.
#[test]
fn stats_read_the_position_and_loss_consistently() {
    model(|| {
        let (mut publisher, b, sub) = one_subscriber(tiny(EvictionPolicy::NEVER), Manual::default());
        for i in 1..=3 {
            publisher.publish(Tick(i)); // it keeps the newest: 2 lost, 1 queued
        }
        let reader = thread::spawn(move || {
            let batch = sub.try_recv().unwrap().expect("a batch");
            assert_eq!(batch.iter().map(|t| t.0).collect::<Vec<_>>(), [3]);
            sub
        });
        let watcher = thread::spawn(move || {
            let s = b.stats().pop().expect("a row");
            assert_eq!(s.dropped, 2, "{s:?}");
            assert!(
                (s.delivered, s.queued) == (0, 1) || (s.delivered, s.queued) == (1, 0),
                "{s:?}"
            );
        });
        watcher.join().unwrap();
        let sub = reader.join().unwrap();
        assert_eq!((sub.stats().delivered, sub.stats().dropped), (1, 2));
        drop(publisher);
    });
}
