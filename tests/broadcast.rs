//! Integration tests of the broadcaster's contract (see `fantop::broadcast`),
//! over its public API only, with fantop's `Event` as the slot.
//!
//! Nothing here sleeps to synchronize or asserts on timing: health checks
//! run on `Clock::manual()`, and threads meet through joins, channels,
//! barriers or by spinning on an observable state change.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread;

use fantop::broadcast::{
    Batch, BroadcastConfig, Broadcaster, DEFAULT_HEALTH_INTERVAL, Delivery, EvictReason, EvictionPolicy, Item, Notice,
    NoticeKind, Publisher, RecvError, SubscribeOptions, SubscriberId, SubscriberState, SubscriberStats, Subscription,
    channel,
};
use fantop::clock::Clock;
use fantop::event::{Event, EventKind, MILLIS, Nanos, SECONDS};

/// One health interval (250 ms by default).
const INTERVAL: Nanos = DEFAULT_HEALTH_INTERVAL;

/// The `i`-th data event: its payload is its publish index.
fn ev(i: u64) -> Event {
    Event::new(i, EventKind::RequestArrived { id: i })
}

fn publish_range(publisher: &mut Publisher<Event>, ids: std::ops::Range<u64>) {
    for i in ids {
        publisher.publish(ev(i));
    }
}

/// Publishes `ids` stamped with the clock's time, then flushes.
fn publish_at(publisher: &mut Publisher<Event>, clock: &Clock, ids: std::ops::Range<u64>) {
    for id in ids {
        publisher.publish(Event::new(clock.now(), EventKind::RequestArrived { id }));
    }
    publisher.flush();
}

/// Moves the clock one health interval on and lets the publisher check.
fn next_interval(publisher: &mut Publisher<Event>, clock: &Clock) {
    clock.advance(INTERVAL);
    publisher.tick();
}

fn config(max_batch: usize, eviction: EvictionPolicy) -> BroadcastConfig {
    BroadcastConfig {
        max_batch,
        eviction,
        ended_retained: 4096,
        ..BroadcastConfig::default()
    }
}

const NO_EVICTION: EvictionPolicy = EvictionPolicy::NEVER;

/// Everything one subscriber has received so far: data ids, and the notices
/// beside them.
#[derive(Debug, Default)]
struct Seen {
    ids: Vec<u64>,
    notices: Vec<Notice>,
    events: u64,
}

impl Seen {
    fn take(&mut self, batch: &Batch<Event>) {
        for e in batch.iter() {
            self.events += 1;
            if let EventKind::RequestArrived { id } = e.kind {
                self.ids.push(id);
            }
        }
        self.notices.extend_from_slice(batch.notices());
    }

    /// Receives everything queued now; returns how the subscription ended, if it did.
    fn drain(&mut self, sub: &Subscription<Event>) -> Option<RecvError> {
        loop {
            match sub.try_recv() {
                Ok(Some(batch)) => self.take(&batch),
                Ok(None) => return None,
                Err(end) => return Some(end),
            }
        }
    }

    /// Receives until the subscription ends.
    fn recv_to_end(&mut self, sub: &Subscription<Event>) -> RecvError {
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

    /// The kinds of the notices about `id`, in order.
    fn about(&self, id: SubscriberId) -> Vec<NoticeKind> {
        self.notices
            .iter()
            .filter(|n| n.subscriber == id)
            .map(|n| n.kind)
            .collect()
    }
}

fn row(b: &Broadcaster<Event>, id: SubscriberId) -> SubscriberStats {
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

fn is_lagging(k: &NoticeKind) -> bool {
    matches!(k, NoticeKind::Lagging { .. })
}

/// A subscriber that loses events at every health check is Lagging from the
/// first check that sees the loss, and evicted once it has been losing for
/// `losing_for`, with that reason; the others hear of it and lose nothing.
#[test]
fn a_subscriber_losing_at_every_check_is_evicted_after_losing_for() {
    let clock = Clock::manual();
    let policy = EvictionPolicy {
        losing_for: Some(SECONDS),
        max_lost_percent: None,
        ..EvictionPolicy::default()
    };
    let (mut publisher, b) = channel(config(4, policy), clock.clone());
    let healthy = b.subscribe("healthy");
    let stalled = b.subscribe_with(SubscribeOptions::new("stalled").capacity(8));
    let mut seen = Seen::default();
    publisher.tick(); // both taken on, and checked, at 0 s
    publish_range(&mut publisher, 0..12); // stalled keeps the newest 8
    let s = row(&b, stalled.id());
    assert_eq!((s.queued, s.dropped), (8, 4), "a loss is counted at once");
    assert_eq!(s.state, SubscriberState::Healthy, "and judged at the next check");

    next_interval(&mut publisher, &clock); // 0.25 s: it lost since the last check
    assert_eq!(row(&b, stalled.id()).state, SubscriberState::Lagging);
    seen.drain(&healthy);
    assert_eq!(
        seen.about(stalled.id()),
        [NoticeKind::Joined, NoticeKind::Lagging { lost: 4, dropped: 4 }]
    );

    // It loses 4 more in every interval: still lagging at 0.5, 0.75, 1 s.
    let mut next = 12;
    for _ in 0..3 {
        publish_range(&mut publisher, next..next + 4);
        next += 4;
        next_interval(&mut publisher, &clock);
        let s = row(&b, stalled.id());
        assert_eq!(s.state, SubscriberState::Lagging);
        assert_accounted(&s);
    }
    // 1.25 s: losing at every check for 1 s.
    publish_range(&mut publisher, next..next + 4);
    next += 4;
    next_interval(&mut publisher, &clock);
    let s = row(&b, stalled.id());
    let reason = EvictReason::LosingFor { for_ns: SECONDS };
    assert_eq!(
        (s.state, s.evictions, s.last_evict_reason),
        (SubscriberState::Evicted, 1, Some(reason))
    );
    assert_eq!(reason.to_string(), "losing for 1s");
    // Everything published to it is lost to it: 28 events, none queued any more.
    assert_eq!((s.queued, s.dropped, s.published_while_subscribed), (0, 28, 28));
    assert_accounted(&s);
    assert_eq!(publisher.subscriber_count(), 1);

    // The others hear of it; no lagging notice in between (one per second).
    seen.drain(&healthy);
    assert_eq!(
        seen.about(stalled.id()),
        [
            NoticeKind::Joined,
            NoticeKind::Lagging { lost: 4, dropped: 4 },
            NoticeKind::Evicted { reason, dropped: 28 }
        ]
    );
    // Its next receive ends it, reporting the same loss; and stays so.
    assert_eq!(stalled.try_recv(), Err(RecvError::Evicted { reason, dropped: 28 }));
    assert!(
        matches!(stalled.recv(), Err(RecvError::Evicted { .. })),
        "eviction is sticky"
    );

    // The healthy one got every event, in order, and dropped nothing.
    publish_range(&mut publisher, next..next + 4);
    next += 4;
    publisher.close();
    assert_eq!(seen.recv_to_end(&healthy), RecvError::Closed);
    assert_eq!(seen.ids, (0..next).collect::<Vec<_>>());
    let h = row(&b, healthy.id());
    assert_eq!((h.dropped, h.delivered), (0, seen.events));
    assert_accounted(&h);
}

/// A subscriber that receives every 50 ms but loses 90 % of what is
/// published to it is Lagging at every check (no flapping) and is evicted
/// by the share rule once 2 s of history show it, however often it visits.
#[test]
fn a_subscriber_losing_90_percent_is_evicted_however_often_it_visits() {
    let clock = Clock::manual();
    // The share rule alone (50 % over 2 s, the default).
    let policy = EvictionPolicy {
        losing_for: None,
        ..EvictionPolicy::default()
    };
    let (mut publisher, b) = channel(config(8, policy), clock.clone());
    let watcher = b.subscribe("watcher");
    let nibbler = b.subscribe_with(SubscribeOptions::new("nibbler").capacity(8));
    publisher.tick();
    let (mut next, mut visits, mut seen) = (0, 0, Seen::default());
    let end = loop {
        // 80 events per 50 ms, of which its queue keeps the newest 8.
        publish_at(&mut publisher, &clock, next..next + 80);
        next += 80;
        clock.advance(50 * MILLIS);
        publisher.tick();
        seen.drain(&watcher);
        visits += 1;
        match nibbler.drain(|_| {}) {
            Ok(n) => assert_eq!(n, 8),
            Err(end) => break end,
        }
        if clock.now() >= INTERVAL {
            let state = nibbler.stats().state;
            assert_eq!(state, SubscriberState::Lagging, "at {} ms", clock.now() / MILLIS);
        }
    };
    let reason = EvictReason::LostShare {
        percent: 90,
        window_ns: 2 * SECONDS,
    };
    let s = row(&b, nibbler.id());
    assert_eq!(
        end,
        RecvError::Evicted {
            reason,
            dropped: s.published_while_subscribed - s.delivered
        }
    );
    assert_eq!(reason.to_string(), "lost 90% over 2s");
    assert_eq!(
        (clock.now(), visits),
        (2 * SECONDS, 40),
        "at the first check with 2 s of history"
    );
    assert_accounted(&s);
    // Lagging at every check, announced at 0.25 s and 1.25 s only.
    seen.drain(&watcher);
    let lagging = seen.about(nibbler.id()).iter().filter(|k| is_lagging(k)).count();
    assert_eq!(lagging, 2);
}

/// A lagging subscriber that loses nothing for a whole interval is Healthy
/// again, announced once; what it lost stays counted.
#[test]
fn a_subscriber_that_recovers_is_reported_healthy_once() {
    let clock = Clock::manual();
    let (mut publisher, b) = channel(config(4, EvictionPolicy::default()), clock.clone());
    let slow = b.subscribe_with(SubscribeOptions::new("slow").capacity(8));
    publisher.tick();
    publish_range(&mut publisher, 0..12); // loses its 4 oldest
    next_interval(&mut publisher, &clock);
    assert_eq!(row(&b, slow.id()).state, SubscriberState::Lagging);

    // It receives the newest 8, and keeps up from then on.
    let mut seen = Seen::default();
    assert_eq!(seen.drain(&slow), None);
    assert_eq!(seen.ids, (4..12).collect::<Vec<_>>());
    next_interval(&mut publisher, &clock); // a whole interval without loss
    let s = row(&b, slow.id());
    assert_eq!((s.state, s.dropped), (SubscriberState::Healthy, 4));
    let mut next = 12;
    for _ in 0..8 {
        publish_range(&mut publisher, next..next + 4);
        next += 4;
        next_interval(&mut publisher, &clock);
        seen.drain(&slow);
    }
    assert_eq!(
        seen.about(slow.id()),
        [
            NoticeKind::Joined,
            NoticeKind::Lagging { lost: 4, dropped: 4 },
            NoticeKind::Healthy { dropped: 4 }
        ]
    );
    assert_eq!(seen.ids, (4..next).collect::<Vec<_>>());
    let s = row(&b, slow.id());
    assert_eq!((s.state, s.dropped), (SubscriberState::Healthy, 4));
    assert_accounted(&s);
}

/// However a subscriber flaps between losing and not, it is announced
/// lagging at most once per second (each notice carrying what it lost since
/// the previous one), and healthy only after a lagging notice.
#[test]
fn lagging_notices_are_at_most_one_per_subscriber_per_second() {
    let clock = Clock::manual();
    let (mut publisher, b) = channel(config(4, NO_EVICTION), clock.clone());
    let watcher = b.subscribe("watcher");
    let subs: Vec<_> = (0..20)
        .map(|i| b.subscribe_with(SubscribeOptions::new(format!("s{i}")).capacity(8)))
        .collect();
    publisher.tick();
    let (mut next, mut seen) = (0, Seen::default());
    // 10 s in steps of 50 ms, 6 events each. Subscriber `i` misses one
    // visit in 7 (offset by `i`), losing 4: some intervals lose, some not.
    for step in 0..200u64 {
        publish_at(&mut publisher, &clock, next..next + 6);
        next += 6;
        clock.advance(50 * MILLIS);
        publisher.tick();
        seen.drain(&watcher);
        for (i, s) in subs.iter().enumerate() {
            if !(step + i as u64).is_multiple_of(7) {
                s.drain(|_| {}).unwrap();
            }
        }
    }
    for s in &subs {
        let about: Vec<&Notice> = seen.notices.iter().filter(|n| n.subscriber == s.id()).collect();
        let lagging: Vec<&Notice> = about.iter().copied().filter(|n| is_lagging(&n.kind)).collect();
        for w in lagging.windows(2) {
            assert!(
                w[1].t - w[0].t >= SECONDS,
                "{}: lagging at {} then {}",
                s.name(),
                w[0].t,
                w[1].t
            );
        }
        assert!(
            lagging.len() <= 10,
            "{}: {} lagging notices in 10 s",
            s.name(),
            lagging.len()
        );
        // Coalesced: the counts of what it lost add up to its loss so far.
        let lost: u64 = lagging
            .iter()
            .map(|n| match n.kind {
                NoticeKind::Lagging { lost, .. } => lost,
                _ => 0,
            })
            .sum();
        if let Some(NoticeKind::Lagging { dropped, .. }) = lagging.last().map(|n| n.kind) {
            assert_eq!(lost, dropped, "{}", s.name());
        }
        // Healthy only ever follows lagging.
        let mut announced_lagging = false;
        let mut healthy = 0;
        for n in &about {
            match n.kind {
                NoticeKind::Lagging { .. } => announced_lagging = true,
                NoticeKind::Healthy { .. } => {
                    assert!(announced_lagging, "{}: healthy without lagging: {about:?}", s.name());
                    announced_lagging = false;
                    healthy += 1;
                }
                _ => {}
            }
        }
        assert!(healthy >= 2, "{} flapped: {about:?}", s.name());
    }
}

/// In a run like the scale benchmark's (1,024 subscribers, unbatched, each
/// visiting every 4 ms and now and then missing a visit and losing events),
/// notices stay far fewer than the events published, and the publisher
/// looks at each subscriber's health at most once per interval.
#[test]
fn notices_never_outnumber_payload_events() {
    const N: usize = 1024;
    let clock = Clock::manual();
    let (mut publisher, b) = channel(config(1, EvictionPolicy::default()), clock.clone());
    let subs: Vec<_> = (0..N)
        .map(|i| b.subscribe_with(SubscribeOptions::new(format!("s{i}")).capacity(48)))
        .collect();
    publisher.tick();
    let mut next = 0;
    let mut lagging: HashMap<SubscriberId, Vec<Nanos>> = HashMap::new();
    let mut notices = 0u64;
    // 2 s at 8,000 events/s, in steps of 4 ms (32 events, a flush each).
    // Subscriber `i` misses one visit in 70 (offset by `i`), losing 16.
    for step in 0..500u64 {
        publish_at(&mut publisher, &clock, next..next + 32);
        next += 32;
        clock.advance(4 * MILLIS);
        publisher.tick();
        for (i, s) in subs.iter().enumerate() {
            if (step + i as u64).is_multiple_of(70) {
                continue;
            }
            s.drain_with(
                |_| {},
                |n| {
                    if i == 0 {
                        notices += 1;
                    }
                    if is_lagging(&n.kind) && n.subscriber == s.id() {
                        lagging.entry(n.subscriber).or_default().push(n.t);
                    }
                },
            )
            .unwrap();
        }
    }
    let p = b.publisher_stats();
    assert_eq!(p.events, next);
    assert!(
        p.notices < p.events / 2,
        "{} notices for {} events",
        p.notices,
        p.events
    );
    assert_eq!(notices, p.notices, "every subscriber sees every notice");
    assert!(lagging.len() > N / 2, "most subscribers lagged at some point");
    for (id, times) in &lagging {
        for w in times.windows(2) {
            assert!(
                w[1] - w[0] >= SECONDS,
                "subscriber {id}: lagging at {} then {}",
                w[0],
                w[1]
            );
        }
    }
    // One look per subscriber when it joined, then one per interval (9
    // checks in 2 s, at 0, 0.25, ... 2 s).
    assert!(
        p.health_checks <= N as u64 * 10,
        "{} health looks for {N} subscribers",
        p.health_checks
    );
    for s in b.stats() {
        assert_accounted(&s);
        assert_eq!(s.evictions, 0, "{s:?}");
    }
}

/// With `max_batch = 1` and every subscriber falling behind, the publisher
/// looks at each subscriber's health once per interval, not at every flush:
/// the health cost per event does not grow with the subscribers.
#[test]
fn health_checks_look_at_each_subscriber_at_most_once_per_interval() {
    const N: u64 = 256;
    let clock = Clock::manual();
    let (mut publisher, b) = channel(config(1, NO_EVICTION), clock.clone());
    let subs: Vec<_> = (0..N)
        .map(|i| b.subscribe_with(SubscribeOptions::new(format!("s{i}")).capacity(8)))
        .collect();
    publisher.tick(); // a look at each as it joins, and the first check
    let base = b.publisher_stats().health_checks;
    assert_eq!(base, 2 * N);
    // Half an interval: 10,000 flushes, every subscriber a full queue behind.
    for i in 0..10_000 {
        publisher.publish(ev(i));
        if i % 100 == 0 {
            clock.advance(INTERVAL / 200);
            publisher.tick();
        }
    }
    assert_eq!(b.publisher_stats().health_checks, base, "no check due yet");
    assert!(subs.iter().all(|s| s.stats().state == SubscriberState::Healthy));
    // Four intervals, one check each.
    for k in 0..4 {
        publish_range(&mut publisher, 10_000 + k * 1000..10_000 + (k + 1) * 1000);
        next_interval(&mut publisher, &clock);
    }
    assert_eq!(b.publisher_stats().health_checks, base + 4 * N);
    assert!(subs.iter().all(|s| s.stats().state == SubscriberState::Lagging));
}

/// Stats read while a lapped subscriber skips and receives on another
/// thread never count a skip twice: a skip counted both as skipped and as
/// out of its window would show as a delivery taken back, so its delivery
/// count never goes down; and its counters always add up.
#[test]
fn stats_never_count_a_skip_twice() {
    let config = BroadcastConfig {
        ring_capacity: 64,
        default_capacity: 8,
        ..config(4, NO_EVICTION)
    };
    let (mut publisher, b) = channel(config, Clock::manual());
    let sub = b.subscribe("lapped");
    publisher.tick();
    let id = sub.id();
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let done = done.clone();
        thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let _ = sub.try_recv();
            }
            sub
        })
    };
    // How often the watcher has read the stats: the publisher goes on until
    // it has read them while the reader ran (however the threads are
    // scheduled on a busy machine), so the test never passes vacuously.
    let watched = Arc::new(AtomicU64::new(0));
    let watcher = {
        let (b, done, watched) = (b.clone(), done.clone(), watched.clone());
        thread::spawn(move || {
            // (`dropped` alone may go down, by what the reader delivers from
            // a stretch the stats, with a newer head, saw out of its window:
            // the ring still held it.)
            let (mut delivered, mut reads) = (0, 0u64);
            while !done.load(Ordering::Relaxed) {
                let s = row(&b, id);
                assert!(
                    s.delivered >= delivered,
                    "delivered went from {delivered} to {}: {s:?}",
                    s.delivered
                );
                assert_accounted(&s);
                delivered = s.delivered;
                reads += 1;
                watched.store(reads, Ordering::Relaxed);
            }
            reads
        })
    };
    let mut i = 0;
    while i < 300_000 || watched.load(Ordering::Relaxed) < 1_000 {
        publisher.publish(ev(i));
        i += 1;
    }
    done.store(true, Ordering::Relaxed);
    let sub = reader.join().expect("reader");
    assert!(watcher.join().expect("watcher") > 0);
    let s = sub.stats();
    assert_accounted(&s);
    assert!(s.dropped > 0, "it was lapped: {s:?}");
}

/// Notices come in stream order: `drain_with` hands each over after the
/// events published before it and before those published after it; a
/// subscriber sees the notices from its own join on.
#[test]
fn notices_arrive_in_stream_order_beside_the_events() {
    let (mut publisher, b) = channel(config(4, NO_EVICTION), Clock::manual());
    let watcher = b.subscribe("watcher");
    publisher.tick();
    publish_range(&mut publisher, 0..6);
    publisher.flush();
    let late = b.subscribe("late");
    publish_range(&mut publisher, 6..10); // a full batch: takes `late` on first
    let items = |sub: &Subscription<Event>| {
        let mut items = Vec::new();
        sub.drain_items(|item| match item {
            Item::Event(e) => items.push(format!("{}", e.t)),
            Item::Notice(n) => items.push(format!("{:?} {}", n.kind, n.subscriber)),
        })
        .unwrap();
        items
    };
    let (w, l) = (watcher.id(), late.id());
    assert_eq!(
        items(&late),
        [format!("Joined {l}"), "6".into(), "7".into(), "8".into(), "9".into()]
    );
    drop(late);
    publisher.tick(); // announces that it left
    publish_range(&mut publisher, 10..12);
    publisher.flush();
    let mut expected = vec![format!("Joined {w}")];
    expected.extend((0..6).map(|i| i.to_string()));
    expected.push(format!("Joined {l}"));
    expected.extend((6..10).map(|i| i.to_string()));
    expected.push(format!("Left {l}"));
    expected.extend((10..12).map(|i| i.to_string()));
    assert_eq!(items(&watcher), expected);
}

/// A notice made while a subscriber was a full queue behind still reaches
/// it, before the events published after it, though the events around it
/// were lost to it.
#[test]
fn notices_made_while_a_subscriber_lost_events_still_reach_it() {
    let (mut publisher, b) = channel(config(4, NO_EVICTION), Clock::manual());
    let slow = b.subscribe_with(SubscribeOptions::new("slow").capacity(8));
    publisher.tick();
    publish_range(&mut publisher, 0..4);
    let other = b.subscribe("other");
    publish_range(&mut publisher, 4..40); // `other` joins at 4; `slow` keeps 32..40
    let mut seen = Seen::default();
    seen.drain(&slow);
    assert_eq!(seen.ids, (32..40).collect::<Vec<_>>());
    assert_eq!(seen.about(other.id()), [NoticeKind::Joined]);
    let s = slow.stats();
    assert_eq!((s.dropped, s.notices_missed), (32, 0));
    assert_accounted(&s);
}

/// The notice log is bounded: a subscriber that falls further behind in
/// notices than it holds misses the oldest, and its stats count them.
#[test]
fn a_subscriber_too_far_behind_in_notices_misses_the_oldest_and_counts_them() {
    let config = BroadcastConfig {
        notice_capacity: 16,
        ..config(4, NO_EVICTION)
    };
    let (mut publisher, b) = channel(config, Clock::manual());
    let quiet = b.subscribe("quiet");
    publisher.tick(); // its own join: notice 0
    let mut others = Vec::new();
    for i in 0..40 {
        others.push(b.subscribe(format!("o{i}")));
        publisher.tick(); // notices 1..=40
    }
    assert_eq!(b.publisher_stats().notices, 41);
    let mut seen = Seen::default();
    assert_eq!(seen.drain(&quiet), None);
    assert_eq!(seen.notices.len(), 16, "the newest 16");
    assert_eq!(seen.notices.last().map(|n| n.subscriber), Some(others[39].id()));
    assert_eq!(quiet.stats().notices_missed, 41 - 16);
}

/// Dropping a subscription frees its queue at once; the publisher forgets
/// it at its next tick and announces that it left.
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
    assert_eq!(q.queued, 4);

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
    assert_eq!(after.about(quiet_id), [NoticeKind::Left]);
    assert!(after.ids.is_empty());
    let q = row(&b, quiet_id);
    assert_accounted(&q);
    assert_eq!(q.published_while_subscribed, 0, "it read none of the 4 events offered");
}

/// Closing the publisher flushes what is buffered, and every subscriber then
/// receives everything published before `Closed`.
#[test]
fn close_delivers_everything_then_closed() {
    let (mut publisher, b) = channel(config(16, NO_EVICTION), Clock::manual());
    let subs: Vec<Subscription<Event>> = (0..3).map(|i| b.subscribe(format!("s{i}"))).collect();
    publish_range(&mut publisher, 0..100); // the last 4 stay buffered
    assert_eq!(publisher.buffered(), 4);
    publisher.close();

    let late = b.subscribe("late");
    assert_eq!(late.try_recv(), Err(RecvError::Closed), "subscribing after close");

    for sub in &subs {
        let mut seen = Seen::default();
        assert_eq!(seen.recv_to_end(sub), RecvError::Closed);
        assert_eq!(seen.ids, (0..100).collect::<Vec<_>>());
        assert_eq!(
            seen.notices.len(),
            3 - sub.id() as usize + 1,
            "the joins from its own on"
        );
        assert_eq!(sub.recv(), Err(RecvError::Closed), "closed stays closed");
        assert_eq!(sub.try_recv(), Err(RecvError::Closed));
        let s = row(&b, sub.id());
        assert_eq!(s.state, SubscriberState::Closed);
        assert_eq!((s.dropped, s.queued), (0, 0));
        assert_eq!(s.delivered, seen.events);
        assert_accounted(&s);
    }
}

/// A `Delivery::Wait` subscriber with a slow consumer loses nothing and is
/// never evicted, even under a policy that evicts others at their first loss.
#[test]
fn wait_subscriber_loses_nothing_and_is_never_evicted() {
    const TOTAL: u64 = 5_000;
    let clock = Clock::manual();
    let policy = EvictionPolicy {
        losing_for: Some(0),
        max_lost_percent: Some(0),
        window: 0,
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
            if i % 64 == 0 {
                publisher.tick();
            }
            if i == TOTAL / 2 {
                // Someone joins mid-stream, taken on at the next flush.
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
    assert_eq!(seen.about(late.id()).first(), Some(&NoticeKind::Joined));
    assert!(
        seen.about(stalled.id())
            .iter()
            .any(|k| matches!(k, NoticeKind::Evicted { .. }))
    );

    let w = row(&b, waiter_id);
    assert_eq!(w.delivery, Delivery::Wait);
    assert_eq!((w.dropped, w.evictions, w.last_evict_reason), (0, 0, None));
    assert_eq!(w.delivered, seen.events);
    assert_accounted(&w);
    // The policy was live: the drop subscriber beside it was evicted.
    assert_eq!(row(&b, stalled.id()).state, SubscriberState::Evicted);
}

/// An evicted subscriber keeps its row in `Broadcaster::stats()` (state,
/// count, reason), and a new subscription under its name inherits the count.
#[test]
fn eviction_stays_in_stats_and_resubscription_inherits_the_count() {
    let clock = Clock::manual();
    let policy = EvictionPolicy {
        losing_for: Some(SECONDS),
        max_lost_percent: None,
        ..EvictionPolicy::default()
    };
    let (mut publisher, b) = channel(config(4, policy), clock.clone());
    let _other = b.subscribe("other");

    // Publishes past its queue at every check until it is evicted.
    let evict = |publisher: &mut Publisher<Event>, sub: &Subscription<Event>, next: &mut u64| {
        while !row(&b, sub.id()).state.is_ended() {
            publish_range(publisher, *next..*next + 8);
            *next += 8;
            next_interval(publisher, &clock);
        }
    };
    let mut next = 0;
    let first = b.subscribe_with(SubscribeOptions::new("panel").capacity(4));
    publisher.tick();
    evict(&mut publisher, &first, &mut next);

    let reason = EvictReason::LosingFor { for_ns: SECONDS };
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

/// No batch holds more than `max_batch` events, however many notices come
/// with it (they take no queue space), so a full batch always fits an
/// empty queue.
#[test]
fn no_batch_exceeds_max_batch_whatever_notices_come_with_it() {
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
        assert!(!batch.is_empty() || !batch.notices().is_empty(), "an empty batch");
        seen.take(batch);
    }
    assert_eq!(seen.ids, (0..next).collect::<Vec<_>>());
    let joined = seen.notices.iter().filter(|n| n.kind == NoticeKind::Joined).count();
    let left = seen.notices.iter().filter(|n| n.kind == NoticeKind::Left).count();
    assert_eq!((joined, left), (1 + 15, 12));
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
    publisher.tick();
    publish_range(&mut publisher, 0..4); // gate holds 4: full
    let leaver_id = leaver.id();

    // The producer cannot write event 4 until `gate` makes room, and nothing
    // reads `gate` until `leaver` is gone: the drop happens while it waits.
    let (started_tx, started_rx) = crossbeam_channel::bounded(1);
    let producer = thread::spawn(move || {
        started_tx.send(()).unwrap();
        publish_range(&mut publisher, 4..8);
        publisher.close();
    });
    started_rx.recv().unwrap();
    drop(leaver);

    let mut seen = Seen::default();
    assert_eq!(seen.recv_to_end(&gate), RecvError::Closed);
    producer.join().unwrap();
    assert_eq!(seen.ids, (0..8).collect::<Vec<_>>());

    let l = row(&b, leaver_id);
    assert_eq!(l.state, SubscriberState::Closed);
    assert_accounted(&l);
    for s in b.stats() {
        assert_accounted(&s);
    }
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
    let from_start: Vec<Subscription<Event>> = (0..2).map(|i| broadcaster.subscribe(format!("start{i}"))).collect();
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
        .map(|sub: Subscription<Event>| {
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
    let (_publisher, b) = channel::<Event>(config, Clock::manual());
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
