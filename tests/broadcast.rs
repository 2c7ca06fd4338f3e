//! Integration tests of the broadcaster's contract (see `fantop::broadcast`),
//! over its public API only.
//!
//! Nothing here sleeps to synchronize or asserts on timing: eviction timing runs
//! on `Clock::manual()`, and threads meet through joins, channels, barriers or
//! by spinning on an observable state change.

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread;

use fantop::broadcast::{
    BroadcastConfig, Broadcaster, Delivery, EvictionPolicy, Publisher, RecvError, SubscribeOptions, SubscriberState,
    SubscriberStats, Subscription, channel,
};
use fantop::clock::Clock;
use fantop::event::{Event, EventKind, EvictReason, MILLIS, SECONDS, SubscriberId};

/// The `i`-th data event: its payload is its publish index.
fn ev(i: u64) -> Event {
    Event::new(i, EventKind::RequestArrived { id: i })
}

fn publish_range(publisher: &mut Publisher, ids: std::ops::Range<u64>) {
    for i in ids {
        publisher.publish(ev(i));
    }
}

fn config(max_batch: usize, eviction: EvictionPolicy) -> BroadcastConfig {
    BroadcastConfig {
        max_batch,
        eviction,
        ended_retained: 4096,
        ..BroadcastConfig::default()
    }
}

const NO_EVICTION: EvictionPolicy = EvictionPolicy {
    full_for: None,
    max_drops: None,
};

/// Everything one subscriber has received so far, split into data ids and
/// announcements.
#[derive(Debug, Default)]
struct Seen {
    ids: Vec<u64>,
    notices: Vec<EventKind>,
    events: u64,
}

impl Seen {
    fn take(&mut self, batch: &[Event]) {
        for e in batch {
            self.events += 1;
            match e.kind {
                EventKind::RequestArrived { id } => self.ids.push(id),
                other => self.notices.push(other),
            }
        }
    }

    /// Receives everything queued now; returns how the subscription ended, if it did.
    fn drain(&mut self, sub: &Subscription) -> Option<RecvError> {
        loop {
            match sub.try_recv() {
                Ok(Some(batch)) => self.take(&batch),
                Ok(None) => return None,
                Err(end) => return Some(end),
            }
        }
    }

    /// Receives until the subscription ends.
    fn recv_to_end(&mut self, sub: &Subscription) -> RecvError {
        loop {
            match sub.recv() {
                Ok(batch) => self.take(&batch),
                Err(end) => return end,
            }
        }
    }

    fn assert_strictly_increasing(&self, who: &str) {
        for w in self.ids.windows(2) {
            assert!(w[0] < w[1], "{who}: {} then {} (ids {:?})", w[0], w[1], self.ids);
        }
    }

    /// Ids missing between the first and the last received.
    fn gaps(&self) -> u64 {
        match (self.ids.first(), self.ids.last()) {
            (Some(first), Some(last)) => last - first + 1 - self.ids.len() as u64,
            _ => 0,
        }
    }

    fn saw(&self, f: impl Fn(&EventKind) -> bool) -> bool {
        self.notices.iter().any(f)
    }
}

fn row(b: &Broadcaster, id: SubscriberId) -> SubscriberStats {
    b.stats()
        .into_iter()
        .find(|s| s.id == id)
        .unwrap_or_else(|| panic!("subscriber {id} not in stats"))
}

fn assert_accounted(s: &SubscriberStats) {
    assert_eq!(
        s.published_while_subscribed,
        s.delivered + s.dropped + s.queued,
        "published_while_subscribed != delivered + dropped + queued for {s:?}"
    );
}

/// Subscribers joining and leaving from several threads while the publisher
/// runs all get events in publish order, every gap counted as dropped, and
/// every one's counters add up once quiescent.
#[test]
fn concurrent_joins_and_leaves_keep_order_and_account_for_every_event() {
    const MIN_EVENTS: u64 = 20_000;
    const THREADS: usize = 4;
    const ROUNDS: usize = 12;

    let (mut publisher, broadcaster) = channel(config(32, EvictionPolicy::default()), Clock::manual());
    // Two subscribers present from the very start stay to the end.
    let from_start: Vec<Subscription> = (0..2).map(|i| broadcaster.subscribe(format!("start{i}"))).collect();
    publisher.tick();

    let go = Arc::new(Barrier::new(THREADS + 1 + from_start.len()));
    let (churned_tx, churned_rx) = mpsc::channel::<()>();
    // Publishes until every churner is done leaving (so all the churn happens
    // while it publishes), then closes; returns how many events it published.
    let pub_thread = {
        let go = go.clone();
        thread::spawn(move || {
            go.wait();
            let mut churned = 0;
            let mut i = 0;
            while i < MIN_EVENTS || churned < THREADS {
                publisher.publish(ev(i));
                if i % 97 == 0 {
                    publisher.tick(); // take on joiners, retire leavers
                    churned += churned_rx.try_iter().count();
                }
                if i % 211 == 0 {
                    publisher.flush(); // a partial batch
                }
                i += 1;
            }
            publisher.close();
            i
        })
    };

    // Each churner subscribes, takes a few batches and leaves, round after
    // round; then subscribes once more and stays to the end.
    let churners: Vec<_> = (0..THREADS)
        .map(|t| {
            let b = broadcaster.clone();
            let go = go.clone();
            let churned = churned_tx.clone();
            thread::spawn(move || {
                go.wait();
                let mut left = Vec::new();
                for round in 0..ROUNDS - 1 {
                    let sub = b.subscribe(format!("t{t}r{round}"));
                    let who = format!("{} ({})", sub.name(), sub.id());
                    let mut seen = Seen::default();
                    for _ in 0..(t + round) % 5 + 1 {
                        // The publisher runs until this thread is done: it gets batches.
                        seen.take(&sub.recv().unwrap_or_else(|e| panic!("{who}: {e}")));
                    }
                    seen.assert_strictly_increasing(&who);
                    left.push((sub.id(), seen.gaps()));
                    drop(sub); // leaves, with whatever is still queued
                }
                let sub = b.subscribe(format!("t{t}r{}", ROUNDS - 1));
                churned.send(()).unwrap();
                let mut seen = Seen::default();
                assert_eq!(seen.recv_to_end(&sub), RecvError::Closed);
                (sub.id(), seen, left)
            })
        })
        .collect();

    let starters: Vec<_> = from_start
        .into_iter()
        .map(|sub| {
            let go = go.clone();
            thread::spawn(move || {
                go.wait();
                let mut seen = Seen::default();
                assert_eq!(seen.recv_to_end(&sub), RecvError::Closed);
                (sub.id(), seen, Vec::new())
            })
        })
        .collect();

    let total = pub_thread.join().expect("publisher thread");
    let mut stayers: Vec<(SubscriberId, Seen)> = Vec::new();
    let mut leavers: Vec<(SubscriberId, u64)> = Vec::new();
    for h in starters.into_iter().chain(churners) {
        let (id, seen, left) = h.join().expect("subscriber thread");
        stayers.push((id, seen));
        leavers.extend(left);
    }
    assert_eq!(leavers.len(), THREADS * (ROUNDS - 1));

    // Quiescent: the publisher is closed and every thread has finished.
    let stats = broadcaster.stats();
    assert_eq!(stats.len(), 2 + THREADS * ROUNDS, "every subscriber has a row");
    for s in &stats {
        assert_accounted(s);
        assert_eq!(s.state, SubscriberState::Closed, "{s:?}");
        assert!(s.queued <= s.capacity, "{s:?}");
    }
    assert_eq!(broadcaster.publisher_stats().subscribers, 0);

    let by_id: HashMap<_, _> = stats.iter().map(|s| (s.id, s)).collect();
    for (id, gaps) in &leavers {
        assert!(*gaps <= by_id[id].dropped, "{:?}: {gaps} ids missing", by_id[id]);
    }
    for (i, (id, seen)) in stayers.iter().enumerate() {
        let s = by_id[id];
        let who = format!("{} ({id})", s.name);
        seen.assert_strictly_increasing(&who);
        assert_eq!(seen.events, s.delivered, "{who}");
        assert_eq!(s.queued, 0, "{who}: drained to the end");
        assert_eq!(s.delivered + s.dropped, s.published_while_subscribed, "{who}");
        // No gap it was not told about: whatever is missing was counted as
        // dropped (with the default capacity, normally nothing is).
        let first = if i < 2 {
            0
        } else {
            seen.ids.first().copied().unwrap_or(total)
        };
        let missing = total - first - seen.ids.len() as u64;
        assert!(missing <= s.dropped, "{who}: {missing} missing, {} dropped", s.dropped);
        if s.dropped == 0 {
            assert_eq!(seen.ids, (first..total).collect::<Vec<_>>(), "{who}");
        }
    }
}

/// A stalled subscriber goes Lagging at the flush that moves the head a full
/// queue past it (losing its oldest events), and is evicted at the first
/// flush after it has been lagging for `full_for`; the others are told and
/// lose nothing.
#[test]
fn stalled_subscriber_is_evicted_once_full_for_has_passed() {
    let clock = Clock::manual();
    let policy = EvictionPolicy {
        full_for: Some(SECONDS),
        max_drops: None,
    };
    let (mut publisher, b) = channel(config(4, policy), clock.clone());
    let healthy = b.subscribe("healthy");
    let stalled = b.subscribe_with(SubscribeOptions::new("stalled").capacity(8));
    let mut seen = Seen::default();
    publisher.tick(); // [Joined healthy, Joined stalled]: stalled holds 2

    publish_range(&mut publisher, 0..4); // stalled holds 6
    assert_eq!(row(&b, stalled.id()).state, SubscriberState::Healthy);
    publish_range(&mut publisher, 4..8); // 10 published: its 2 oldest are lost
    seen.drain(&healthy);
    let s = row(&b, stalled.id());
    assert_eq!(s.state, SubscriberState::Lagging);
    // The announcement of its lag (made when it had lost 2) costs it one more.
    assert_eq!((s.queued, s.dropped), (8, 3));
    assert!(seen.saw(|k| *k
        == EventKind::SubscriberLagging {
            id: stalled.id(),
            dropped: 2
        }));

    // Not yet: lagging for half of `full_for`.
    clock.advance(SECONDS / 2);
    publish_range(&mut publisher, 8..12);
    seen.drain(&healthy);
    let s = row(&b, stalled.id());
    assert_eq!(s.state, SubscriberState::Lagging);
    assert_eq!((s.queued, s.dropped), (8, 7));
    assert_accounted(&s);

    // Past `full_for` since the first drop: the next publish evicts it.
    clock.advance(SECONDS / 2 + 1);
    publish_range(&mut publisher, 12..16);
    let s = row(&b, stalled.id());
    assert_eq!(s.state, SubscriberState::Evicted);
    assert_eq!(s.evictions, 1);
    let reason = EvictReason::QueueFull { for_ns: SECONDS };
    assert_eq!(s.last_evict_reason, Some(reason));
    assert_accounted(&s);
    assert_eq!(publisher.subscriber_count(), 1);

    // Everything it had not received is lost to it: all 19 events published
    // to it (2 joins, 16 data, 1 lagging notice), none queued any more.
    assert_eq!((s.queued, s.dropped, s.published_while_subscribed), (0, 19, 19));

    // The others hear of it in the same flush.
    seen.drain(&healthy);
    assert!(seen.saw(|k| *k
        == EventKind::SubscriberEvicted {
            id: stalled.id(),
            reason,
            dropped: 19,
        }));

    // Its next receive ends it, reporting the same loss.
    match stalled.try_recv() {
        Err(RecvError::Evicted { reason: r, dropped }) => {
            assert_eq!(r, reason);
            assert_eq!(dropped, 19);
        }
        other => panic!("expected eviction, got {other:?}"),
    }
    assert!(
        matches!(stalled.recv(), Err(RecvError::Evicted { .. })),
        "eviction is sticky"
    );
    let s = row(&b, stalled.id());
    assert_eq!((s.queued, s.delivered), (0, 0));
    assert_accounted(&s);

    // The healthy one got every event, in order, and dropped nothing.
    publish_range(&mut publisher, 16..20);
    publisher.close();
    assert_eq!(seen.recv_to_end(&healthy), RecvError::Closed);
    assert_eq!(seen.ids, (0..20).collect::<Vec<_>>());
    let h = row(&b, healthy.id());
    assert_eq!(h.dropped, 0);
    assert_eq!(h.delivered, seen.events);
    assert_accounted(&h);
}

/// Under `max_drops`, a stalled subscriber is evicted at the publish whose
/// drop brings its loss in the lagging spell to the limit, whatever the clock.
#[test]
fn stalled_subscriber_is_evicted_once_it_has_dropped_max_drops() {
    let clock = Clock::manual();
    let policy = EvictionPolicy {
        full_for: None,
        max_drops: Some(10),
    };
    let (mut publisher, b) = channel(config(4, policy), clock.clone());
    let healthy = b.subscribe("healthy");
    let stalled = b.subscribe_with(SubscribeOptions::new("stalled").capacity(6));
    let mut seen = Seen::default();
    publisher.tick(); // stalled holds 2
    publish_range(&mut publisher, 0..4); // stalled holds 6: full
    for (batch, dropped) in [(1u64, 5u64), (2, 9)] {
        // Time does not matter under this policy.
        clock.advance(3600 * SECONDS);
        publish_range(&mut publisher, batch * 4..batch * 4 + 4);
        let s = row(&b, stalled.id());
        assert_eq!(s.state, SubscriberState::Lagging, "after batch {batch}");
        // Its own lagging notice did not fit either.
        assert_eq!(s.dropped, dropped, "after batch {batch}");
    }
    publish_range(&mut publisher, 12..16); // 13 >= 10
    let s = row(&b, stalled.id());
    assert_eq!(s.state, SubscriberState::Evicted);
    let reason = EvictReason::TooManyDrops { dropped: 10 };
    assert_eq!(s.last_evict_reason, Some(reason));
    assert_eq!(s.evictions, 1);
    assert_eq!(
        stalled.try_recv(),
        Err(RecvError::Evicted {
            reason,
            dropped: s.published_while_subscribed
        })
    );

    publisher.close();
    assert_eq!(seen.recv_to_end(&healthy), RecvError::Closed);
    let lost = s.published_while_subscribed; // its whole loss: everything published to it
    assert!(seen.saw(|k| matches!(k, EventKind::SubscriberEvicted { id, reason: r, dropped } if *id == stalled.id() && *r == reason && *dropped == lost)));
    assert_eq!(seen.ids, (0..16).collect::<Vec<_>>());
    assert_eq!(row(&b, healthy.id()).dropped, 0);
}

/// A subscriber that never receives stays Lagging however little is
/// published: only receiving ends a spell, and its timer runs from the
/// first observed loss.
#[test]
fn a_stalled_subscriber_stays_lagging_until_it_receives() {
    let clock = Clock::manual();
    let policy = EvictionPolicy {
        full_for: Some(SECONDS),
        max_drops: None,
    };
    let (mut publisher, b) = channel(config(4, policy), clock.clone());
    let _healthy = b.subscribe("healthy");
    let stalled = b.subscribe_with(SubscribeOptions::new("stalled").capacity(8));
    publisher.tick(); // stalled holds 2
    publish_range(&mut publisher, 0..4); // 6
    publish_range(&mut publisher, 4..8); // 10, then its lagging notice: 11
    let s = row(&b, stalled.id());
    assert_eq!((s.state, s.queued, s.dropped), (SubscriberState::Lagging, 8, 3));

    // Another subscriber joining is announced: one more event past it.
    let _late = b.subscribe("late");
    publisher.tick();
    let s = row(&b, stalled.id());
    assert_eq!((s.state, s.queued, s.dropped), (SubscriberState::Lagging, 8, 4));

    // The spell (and its timer) ran on from the first drop.
    clock.advance(SECONDS);
    publish_range(&mut publisher, 8..12);
    assert_eq!(row(&b, stalled.id()).state, SubscriberState::Evicted);
}

/// Dropping a subscription frees the batches queued for it at once; the
/// publisher forgets it at its next tick and announces that it left.
#[test]
fn dropping_a_subscription_is_forgotten_at_the_next_tick_and_announced() {
    let (mut publisher, b) = channel(config(4, NO_EVICTION), Clock::manual());
    let a = b.subscribe("a");
    let quiet = b.subscribe("quiet");
    publisher.tick();
    let mut seen = Seen::default();
    seen.drain(&a);

    publish_range(&mut publisher, 0..4);
    let batch = a.try_recv().unwrap().expect("a batch");
    assert_eq!(batch.len(), 4);
    let q = row(&b, quiet.id());
    assert_eq!(q.queued, 2 + 4);

    let quiet_id = quiet.id();
    drop(quiet);
    let q = row(&b, quiet_id);
    assert_eq!(q.state, SubscriberState::Closed);
    // What it left unread is not a drop: it is not counted as published to it.
    assert_eq!((q.queued, q.dropped, q.published_while_subscribed), (0, 0, 0));
    assert_accounted(&q);

    assert_eq!(
        publisher.subscriber_count(),
        2,
        "forgotten only at the next flush or tick"
    );
    publisher.tick();
    assert_eq!(publisher.subscriber_count(), 1);
    assert_eq!(b.publisher_stats().subscribers, 1);
    let mut after = Seen::default();
    after.drain(&a);
    assert_eq!(after.notices, vec![EventKind::SubscriberLeft { id: quiet_id }]);
    let q = row(&b, quiet_id);
    assert_accounted(&q);
    assert_eq!(q.published_while_subscribed, 0, "it read none of the 6 events offered");
}

/// Closing the publisher flushes what is buffered, and every subscriber then
/// receives everything published before `Closed`.
#[test]
fn close_delivers_everything_then_closed() {
    let (mut publisher, b) = channel(config(16, NO_EVICTION), Clock::manual());
    let subs: Vec<Subscription> = (0..3).map(|i| b.subscribe(format!("s{i}"))).collect();
    publish_range(&mut publisher, 0..100); // the last 4 stay buffered
    assert_eq!(publisher.buffered(), 4);
    publisher.close();

    let late = b.subscribe("late");
    assert_eq!(late.try_recv(), Err(RecvError::Closed), "subscribing after close");

    for sub in &subs {
        let mut seen = Seen::default();
        assert_eq!(seen.recv_to_end(sub), RecvError::Closed);
        assert_eq!(seen.ids, (0..100).collect::<Vec<_>>());
        assert_eq!(sub.recv(), Err(RecvError::Closed), "closed stays closed");
        assert_eq!(sub.try_recv(), Err(RecvError::Closed));
        let s = row(&b, sub.id());
        assert_eq!(s.state, SubscriberState::Closed);
        assert_eq!((s.dropped, s.queued), (0, 0));
        assert_eq!(s.delivered, seen.events);
        assert_accounted(&s);
    }
}

/// Closing with receivers blocked on other threads wakes them with everything
/// published, then `Closed`.
#[test]
fn close_wakes_blocked_receivers_after_delivering_everything() {
    let (mut publisher, b) = channel(config(8, NO_EVICTION), Clock::manual());
    let (ready_tx, ready_rx) = mpsc::channel();
    let receivers: Vec<_> = (0..3)
        .map(|i| {
            let sub = b.subscribe(format!("r{i}"));
            let ready = ready_tx.clone();
            thread::spawn(move || {
                ready.send(()).unwrap();
                let mut seen = Seen::default();
                let end = seen.recv_to_end(&sub);
                (end, seen.ids)
            })
        })
        .collect();
    for _ in 0..3 {
        ready_rx.recv().unwrap();
    }
    publish_range(&mut publisher, 0..1000);
    publisher.close();
    for h in receivers {
        let (end, ids) = h.join().unwrap();
        assert_eq!(end, RecvError::Closed);
        assert_eq!(ids, (0..1000).collect::<Vec<_>>());
    }
}

/// A `Delivery::Wait` subscriber with a slow consumer loses nothing and is
/// never evicted, even under a policy that evicts others at their first drop.
#[test]
fn wait_subscriber_loses_nothing_and_is_never_evicted() {
    const TOTAL: u64 = 5_000;
    let clock = Clock::manual();
    let policy = EvictionPolicy {
        full_for: Some(0),
        max_drops: Some(1),
    };
    let (mut publisher, b) = channel(config(8, policy), clock.clone());
    // Its queue holds one full batch: the publisher must wait at nearly every flush.
    let waiter = b.subscribe_with(SubscribeOptions::new("waiter").capacity(8).delivery(Delivery::Wait));
    let stalled = b.subscribe_with(SubscribeOptions::new("stalled").capacity(8));
    let waiter_id = waiter.id();

    let consumer = thread::spawn(move || {
        let mut seen = Seen::default();
        let mut work = 0u64;
        let end = loop {
            match waiter.recv() {
                Ok(batch) => {
                    seen.take(&batch);
                    // Slower than the publisher: some work per event.
                    for e in batch.iter() {
                        for k in 0..200 {
                            work = std::hint::black_box(work.wrapping_mul(31).wrapping_add(e.t ^ k));
                        }
                    }
                }
                Err(end) => break end,
            }
        };
        (end, seen)
    });

    let (mid_tx, mid_rx) = mpsc::channel();
    let (joined_tx, joined_rx) = mpsc::channel::<()>();
    let producer = thread::spawn(move || {
        for i in 0..TOTAL {
            clock.advance(MILLIS);
            publisher.publish(ev(i));
            if i == TOTAL / 2 {
                // Someone joins mid-stream, announced in the flush of a full batch.
                mid_tx.send(()).unwrap();
                joined_rx.recv().unwrap();
            }
        }
        publisher.close();
    });
    mid_rx.recv().unwrap();
    let late = b.subscribe("late");
    joined_tx.send(()).unwrap();

    producer.join().unwrap();
    let (end, seen) = consumer.join().unwrap();
    assert_eq!(end, RecvError::Closed, "closed, not evicted");
    assert_eq!(seen.ids, (0..TOTAL).collect::<Vec<_>>());
    assert!(seen.saw(|k| *k == EventKind::SubscriberJoined { id: late.id() }));
    assert!(seen.saw(|k| matches!(k, EventKind::SubscriberEvicted { id, .. } if *id == stalled.id())));

    let w = row(&b, waiter_id);
    assert_eq!(w.delivery, Delivery::Wait);
    assert_eq!((w.dropped, w.evictions, w.last_evict_reason), (0, 0, None));
    assert_eq!(w.delivered, seen.events);
    assert_accounted(&w);
    // The policy was live: the drop subscriber beside it was evicted.
    assert_eq!(row(&b, stalled.id()).state, SubscriberState::Evicted);
}

/// A lagging subscriber that catches up is Healthy again at the next flush
/// that finds its queue half empty or less; what it lost was its oldest
/// events, and they stay counted.
#[test]
fn lagging_subscriber_that_catches_up_is_healthy_again_and_keeps_its_drops() {
    let (mut publisher, b) = channel(config(4, EvictionPolicy::default()), Clock::manual());
    let slow = b.subscribe_with(SubscribeOptions::new("slow").capacity(6));
    publisher.tick(); // holds 1
    publish_range(&mut publisher, 0..4); // 5
    publish_range(&mut publisher, 4..8); // 9: loses 3; its lagging notice: 10
    publish_range(&mut publisher, 8..12); // 14
    let s = row(&b, slow.id());
    assert_eq!((s.state, s.dropped, s.queued), (SubscriberState::Lagging, 8, 6));

    // It receives the newest 6: id 7, its lagging notice, ids 8..12.
    let mut seen = Seen::default();
    assert_eq!(seen.drain(&slow), None);
    assert_eq!(seen.ids, (7..12).collect::<Vec<_>>());
    assert!(seen.saw(|k| *k
        == EventKind::SubscriberLagging {
            id: slow.id(),
            dropped: 3
        }));
    // Still Lagging until a flush looks again.
    assert_eq!(row(&b, slow.id()).state, SubscriberState::Lagging);

    publish_range(&mut publisher, 12..14);
    publisher.flush(); // 2 queued of 6: half empty
    let s = row(&b, slow.id());
    assert_eq!((s.state, s.dropped), (SubscriberState::Healthy, 8));
    assert_accounted(&s);
    seen.drain(&slow);
    assert_eq!(seen.ids, (7..14).collect::<Vec<_>>());
    // What it lost is exactly what was counted: its join notice and ids 0..7.
    assert_eq!(1 + seen.ids[0], s.dropped);

    // A second spell adds to the count and is announced again.
    publish_range(&mut publisher, 14..18); // 4
    publish_range(&mut publisher, 18..22); // 8: loses 2; its notice: 9
    let s = row(&b, slow.id());
    assert_eq!((s.state, s.dropped), (SubscriberState::Lagging, 11));
    seen.drain(&slow);
    assert!(seen.saw(|k| *k
        == EventKind::SubscriberLagging {
            id: slow.id(),
            dropped: 10
        }));
}

/// An evicted subscriber keeps its row in `Broadcaster::stats()` (state,
/// count, reason), and a new subscription under its name inherits the count.
#[test]
fn eviction_stays_in_stats_and_resubscription_inherits_the_count() {
    let clock = Clock::manual();
    let policy = EvictionPolicy {
        full_for: Some(SECONDS),
        max_drops: None,
    };
    let (mut publisher, b) = channel(config(4, policy), clock.clone());
    let _other = b.subscribe("other");

    let evict = |publisher: &mut Publisher, sub: &Subscription, next: &mut u64| {
        while row(&b, sub.id()).dropped == 0 {
            publish_range(publisher, *next..*next + 4);
            *next += 4;
        }
        clock.advance(2 * SECONDS);
        publish_range(publisher, *next..*next + 4);
        *next += 4;
    };
    let mut next = 0;
    let first = b.subscribe_with(SubscribeOptions::new("panel").capacity(4));
    publisher.tick();
    evict(&mut publisher, &first, &mut next);

    let reason = EvictReason::QueueFull { for_ns: SECONDS };
    let s = row(&b, first.id());
    assert_eq!(s.name, "panel");
    assert_eq!(
        (s.state, s.evictions, s.last_evict_reason),
        (SubscriberState::Evicted, 1, Some(reason))
    );
    assert!(s.dropped > 0);
    assert_accounted(&s);
    assert!(matches!(first.try_recv(), Err(RecvError::Evicted { .. })));
    // The row outlives the subscription.
    let first_id = first.id();
    drop(first);
    let s = row(&b, first_id);
    assert_eq!((s.state, s.evictions), (SubscriberState::Evicted, 1));

    // Coming back under the same name inherits the history and takes the row.
    let second = b.subscribe_with(SubscribeOptions::new("panel").capacity(4));
    assert_ne!(second.id(), first_id);
    let s = row(&b, second.id());
    assert_eq!(
        (s.state, s.evictions, s.last_evict_reason),
        (SubscriberState::Joining, 1, Some(reason))
    );
    assert_eq!(s.dropped, 0, "counters start afresh");
    assert!(b.stats().iter().all(|s| s.id != first_id), "the old row is replaced");
    publisher.tick();
    assert_eq!(row(&b, second.id()).state, SubscriberState::Healthy);

    evict(&mut publisher, &second, &mut next);
    let s = row(&b, second.id());
    assert_eq!((s.state, s.evictions), (SubscriberState::Evicted, 2));

    // A different name starts from zero.
    let fresh = b.subscribe("another");
    assert_eq!(row(&b, fresh.id()).evictions, 0);
}

/// No batch holds more than `max_batch` events, even when announcements share
/// a flush with a full batch, so a full batch always fits an empty queue.
#[test]
fn no_batch_exceeds_max_batch_even_when_announcements_share_the_flush() {
    let (mut publisher, b) = channel(config(4, NO_EVICTION), Clock::manual());
    let watcher = b.subscribe("watcher");
    let mut batches = Vec::new();
    let mut others = Vec::new();
    let mut next = 0;
    for joiners in [1, 2, 0, 9, 0, 3] {
        if joiners == 0 {
            others.clear(); // everyone else leaves
        }
        others
            .extend((0..joiners).map(|j| b.subscribe_with(SubscribeOptions::new(format!("o{next}-{j}")).capacity(4))));
        // A full batch: flushes, with the joins and leaves announced.
        publish_range(&mut publisher, next..next + 4);
        next += 4;
        while let Some(batch) = watcher.try_recv().unwrap() {
            batches.push(batch);
        }
    }
    publisher.close();
    while let Ok(batch) = watcher.recv() {
        batches.push(batch);
    }
    let mut seen = Seen::default();
    for batch in &batches {
        assert!(batch.len() <= 4, "batch of {}: {batch:?}", batch.len());
        seen.take(batch);
    }
    assert_eq!(seen.ids, (0..next).collect::<Vec<_>>());
    let joined = seen
        .notices
        .iter()
        .filter(|k| matches!(k, EventKind::SubscriberJoined { .. }))
        .count();
    assert_eq!(joined, 1 + 15);
    assert_eq!(row(&b, watcher.id()).dropped, 0);
}

/// A subscriber that unsubscribes while the publisher waits for a `Wait`
/// subscriber is accounted for exactly, and the waiting one loses nothing.
#[test]
fn unsubscribing_while_the_publisher_waits_is_accounted_for() {
    let (mut publisher, b) = channel(config(4, NO_EVICTION), Clock::manual());
    // Taken on first, so each flush offers to `gate` before `leaver`.
    let gate = b.subscribe_with(SubscribeOptions::new("gate").capacity(4).delivery(Delivery::Wait));
    let leaver = b.subscribe("leaver");
    publisher.tick(); // gate holds 2
    publish_range(&mut publisher, 0..2);
    publisher.flush(); // gate holds 4: full
    let leaver_id = leaver.id();

    // The producer cannot write event 2 until `gate` makes room, and nothing
    // reads `gate` until `leaver` is gone: the drop happens while it waits.
    let (started_tx, started_rx) = crossbeam_channel::bounded(1);
    let producer = thread::spawn(move || {
        started_tx.send(()).unwrap();
        publish_range(&mut publisher, 2..6);
        publisher.close();
    });
    started_rx.recv().unwrap();
    drop(leaver);

    let mut seen = Seen::default();
    assert_eq!(seen.recv_to_end(&gate), RecvError::Closed);
    producer.join().unwrap();
    assert_eq!(seen.ids, (0..6).collect::<Vec<_>>());

    let l = row(&b, leaver_id);
    assert_eq!(l.state, SubscriberState::Closed);
    assert_accounted(&l);
    for s in b.stats() {
        assert_accounted(&s);
    }
}

/// A subscriber that takes one batch at a time from a full queue stays
/// Lagging (no flapping, one announcement) until its queue is half empty.
#[test]
fn a_nibbling_subscriber_stays_lagging_until_its_queue_is_half_empty() {
    let (mut publisher, b) = channel(config(2, EvictionPolicy::default()), Clock::manual());
    let slow = b.subscribe_with(SubscribeOptions::new("slow").capacity(8));
    publisher.tick(); // its join notice: 1 queued
    publish_range(&mut publisher, 0..6); // 7 queued
    publish_range(&mut publisher, 6..8); // does not fit: lagging
    assert_eq!(row(&b, slow.id()).state, SubscriberState::Lagging);
    slow.try_recv().unwrap().expect("a batch"); // nibble the join notice: 7 queued
    slow.try_recv().unwrap().expect("a batch"); // nibble ids 0 and 1: 5 queued
    publish_range(&mut publisher, 8..10); // fits, but the queue was over half full
    assert_eq!(row(&b, slow.id()).state, SubscriberState::Lagging);
    let mut seen = Seen::default();
    seen.drain(&slow);
    publish_range(&mut publisher, 10..12); // drained: healthy again
    let s = row(&b, slow.id());
    assert_eq!(s.state, SubscriberState::Healthy);
    assert_accounted(&s);
    seen.drain(&slow);
    let lagging = seen
        .notices
        .iter()
        .filter(|k| matches!(k, EventKind::SubscriberLagging { .. }))
        .count();
    assert_eq!(lagging, 1, "one spell, one announcement");
}

/// The `i`-th data event of the lapping test: every field derives from `i`,
/// so an event mixed from two slots' words cannot pass as either.
fn checked_ev(i: u64) -> Event {
    Event::new(
        i,
        EventKind::RequestCompleted {
            id: i,
            worker: i as u16,
            latency: i.wrapping_mul(3),
            ok: i.is_multiple_of(2),
        },
    )
}

/// Readers on other threads, some of them slow enough to be lapped by the
/// publisher again and again on a tiny ring, only ever receive whole events,
/// in publish order, and every event they miss is counted as dropped.
#[test]
fn readers_lapped_by_the_publisher_never_see_a_torn_or_reordered_event() {
    lapped_readers(64, 4, &[8, 44, 1_000]);
}

/// The same on a ring that holds a few whole pages (256 events each), so
/// lapped readers also decode pages for each other and read shared ones.
#[test]
fn readers_sharing_decoded_pages_while_lapped_never_see_a_torn_or_reordered_event() {
    lapped_readers(1024, 64, &[300, 700, 900, 1_000]);
}

/// Readers with these queue bounds on threads of their own, against one
/// publisher writing 200,000 events in batches of `max_batch` into a ring
/// of `ring` events: each gets whole events in order, and counts every gap.
fn lapped_readers(ring: usize, max_batch: usize, capacities: &[usize]) {
    const EVENTS: u64 = 200_000;
    let config = BroadcastConfig {
        ring_capacity: ring,
        default_capacity: 8,
        ..config(max_batch, NO_EVICTION)
    };
    let (mut publisher, b) = channel(config, Clock::start());
    assert_eq!(b.config().ring_capacity, ring);
    let readers: Vec<_> = capacities
        .iter()
        .copied()
        .enumerate()
        .map(|(i, cap)| b.subscribe_with(SubscribeOptions::new(format!("r{i}")).capacity(cap)))
        .collect();
    publisher.tick();
    let handles: Vec<_> = readers
        .into_iter()
        .map(|sub| {
            thread::spawn(move || {
                let mut last = None;
                let mut data = 0u64;
                let end = loop {
                    match sub.recv() {
                        Ok(batch) => {
                            for e in &batch {
                                if let EventKind::RequestCompleted { id, .. } = e.kind {
                                    assert_eq!(*e, checked_ev(id), "a torn event");
                                    assert!(last < Some(id), "{id} after {last:?}");
                                    last = Some(id);
                                    data += 1;
                                }
                            }
                        }
                        Err(end) => break end,
                    }
                };
                assert_eq!(end, RecvError::Closed);
                (sub.id(), data)
            })
        })
        .collect();
    for i in 0..EVENTS {
        publisher.publish(checked_ev(i));
    }
    publisher.close();
    for h in handles {
        let (id, data) = h.join().expect("reader");
        let s = row(&b, id);
        assert_accounted(&s);
        assert_eq!(s.queued, 0);
        assert!(data + s.dropped >= EVENTS, "{data} received, {s:?}");
        assert!(s.capacity <= (ring - max_batch - 16) as u64, "{s:?}");
    }
}

/// A subscriber's queue bound is kept between one batch and what the ring
/// can hold for it while the publisher writes the next batch.
#[test]
fn a_queue_bound_is_kept_within_what_the_ring_can_hold() {
    let config = BroadcastConfig {
        ring_capacity: 100,
        default_capacity: 16,
        ..config(4, NO_EVICTION)
    };
    let (_publisher, b) = channel(config, Clock::manual());
    assert_eq!(b.config().ring_capacity, 128, "rounded up to a power of two");
    let capacity = |cap| {
        b.subscribe_with(SubscribeOptions::new("s").capacity(cap))
            .stats()
            .capacity
    };
    assert_eq!(capacity(1), 4, "at least one batch");
    assert_eq!(capacity(50), 50);
    assert_eq!(capacity(1_000_000), 128 - 4 - 16);
    assert_eq!(b.subscribe("default").stats().capacity, 16);
}

/// Subscribing and leaving thousands of times leaves nothing behind: the
/// publisher forgets every one that left, and only the last few ended rows
/// are kept for display.
#[test]
fn subscribing_and_leaving_many_times_leaves_nothing_behind() {
    let config = BroadcastConfig {
        ended_retained: 8,
        ..config(4, NO_EVICTION)
    };
    let (mut publisher, b) = channel(config, Clock::manual());
    let stays = b.subscribe("stays");
    for i in 0..5_000 {
        let sub = b.subscribe(format!("visitor{i}"));
        publisher.publish(ev(i));
        publisher.flush();
        assert!(sub.try_recv().unwrap().is_some());
        drop(sub);
        publisher.tick();
        stays.drain(|_| {}).unwrap();
    }
    assert_eq!(publisher.subscriber_count(), 1);
    assert_eq!(b.publisher_stats().subscribers, 1);
    let rows = b.stats();
    assert_eq!(rows.len(), 1 + 8, "{rows:?}");
    for s in &rows {
        assert_accounted(s);
    }
}

/// With more than `LAG_CHECK_ALWAYS` subscribers lagging, the publisher
/// looks at them once per `LAG_CHECK_EVERY` of broadcaster time instead of
/// at every flush: one that catches up is healthy again at the first flush
/// after that much time, not before.
#[test]
fn many_lagging_subscribers_are_looked_at_once_per_lag_check_interval() {
    use fantop::broadcast::{LAG_CHECK_ALWAYS, LAG_CHECK_EVERY};
    let clock = Clock::manual();
    let (mut publisher, b) = channel(config(4, NO_EVICTION), clock.clone());
    let subs: Vec<Subscription> = (0..LAG_CHECK_ALWAYS + 1)
        .map(|i| b.subscribe_with(SubscribeOptions::new(format!("s{i}")).capacity(8)))
        .collect();
    publisher.tick();
    publish_range(&mut publisher, 0..LAG_CHECK_ALWAYS as u64 + 12); // every one loses its oldest
    assert!(subs.iter().all(|s| s.stats().state == SubscriberState::Lagging));

    subs[0].drain(|_| {}).unwrap();
    publish_range(&mut publisher, 0..1);
    publisher.flush();
    assert_eq!(
        subs[0].stats().state,
        SubscriberState::Lagging,
        "not looked at again yet"
    );
    clock.advance(LAG_CHECK_EVERY);
    publish_range(&mut publisher, 1..2);
    publisher.flush();
    assert_eq!(subs[0].stats().state, SubscriberState::Healthy);
    assert_eq!(subs[1].stats().state, SubscriberState::Lagging);
    for s in &subs {
        assert_accounted(&s.stats());
    }
}
