//! Property test of the broadcaster's accounting over random single-threaded
//! schedules of publishes, flushes, ticks, receives, stalls, joins, leaves and
//! clock steps.
//!
//! After every step, for every subscriber the broadcaster reports:
//! `published_while_subscribed == delivered + dropped + queued`, and its queue
//! is within capacity. For every live subscription: the data it received is in
//! publish order (each data event's payload is its publish index), lies
//! within what was flushed since it subscribed, and every gap in it is covered
//! by its drop count; the notices it received are in stream order. At the end
//! the publisher closes and every subscription drains to `Closed` (or
//! `Evicted`) with everything accounted for.

use proptest::prelude::*;
use proptest::sample::Index;

use fantop::broadcast::{
    BroadcastConfig, Broadcaster, EvictionPolicy, Publisher, RecvError, SubscribeOptions, SubscriberState,
    SubscriberStats, Subscription, channel,
};
use fantop::broadcast::{EvictReason, SubscriberId};
use fantop::clock::Clock;
use fantop::event::{Event, EventKind, MILLIS};

#[derive(Clone, Debug)]
enum Op {
    /// Publish this many data events (flushing whenever the buffer fills).
    Publish(u64),
    Flush,
    Tick,
    /// Receive everything queued for one subscriber.
    Drain(Index),
    /// Receive at most one batch for one subscriber.
    RecvOne(Index),
    /// Receive everything queued for every subscriber that is not stalled.
    DrainAll,
    /// Stall (or un-stall) one subscriber: `DrainAll` passes it by.
    Stall(Index),
    /// Subscribe with this capacity.
    Subscribe(usize),
    /// Drop one subscription.
    Unsubscribe(Index),
    /// Move the broadcaster's manual clock forward (ns).
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1u64..=12).prop_map(Op::Publish),
        2 => Just(Op::Flush),
        2 => Just(Op::Tick),
        3 => any::<Index>().prop_map(Op::Drain),
        2 => any::<Index>().prop_map(Op::RecvOne),
        3 => Just(Op::DrainAll),
        1 => any::<Index>().prop_map(Op::Stall),
        2 => (1usize..=24).prop_map(Op::Subscribe),
        1 => any::<Index>().prop_map(Op::Unsubscribe),
        2 => (0u64..=3 * MILLIS).prop_map(Op::Advance),
    ]
}

fn broadcast_config() -> impl Strategy<Value = BroadcastConfig> {
    (
        1usize..=6,
        0u64..=2 * MILLIS,
        proptest::option::of(0u64..=4 * MILLIS),
        proptest::option::of(0u8..=100),
        0u64..=4 * MILLIS,
        1u64..=2 * MILLIS,
        // Small rings, so schedules lap them often.
        prop_oneof![Just(16usize), Just(64)],
    )
        .prop_map(
            |(max_batch, max_batch_age, losing_for, max_lost_percent, window, health_interval, ring_capacity)| {
                BroadcastConfig {
                    ring_capacity,
                    default_capacity: 16,
                    max_batch,
                    max_batch_age,
                    health_interval,
                    eviction: EvictionPolicy {
                        losing_for,
                        max_lost_percent,
                        window,
                    },
                    // Keep every ended subscriber's row, so all can be checked.
                    ended_retained: 1024,
                    notice_capacity: 64,
                }
            },
        )
}

/// One live subscription and what it has received.
struct Sub {
    sub: Subscription<Event>,
    /// The first data id it can receive: the first not flushed when it subscribed.
    first_id: u64,
    last_id: Option<u64>,
    data: u64,
    /// Where its last notice sat in the stream.
    last_notice_seq: u64,
    stalled: bool,
}

struct World {
    publisher: Option<Publisher<Event>>,
    b: Broadcaster<Event>,
    clock: Clock,
    config: BroadcastConfig,
    subs: Vec<Sub>,
    /// Payload of the next data event.
    next_id: u64,
    names: u64,
}

impl World {
    fn new(config: BroadcastConfig) -> Self {
        let clock = Clock::manual();
        let (publisher, b) = channel(config, clock.clone());
        World {
            publisher: Some(publisher),
            b,
            clock,
            config,
            subs: Vec::new(),
            next_id: 0,
            names: 0,
        }
    }

    fn publisher(&mut self) -> &mut Publisher<Event> {
        self.publisher.as_mut().expect("publisher open")
    }

    /// Data ids flushed so far: `0..flushed()`.
    fn flushed(&self) -> u64 {
        self.next_id - self.publisher.as_ref().map_or(0, |p| p.buffered() as u64)
    }

    fn row(&self, id: SubscriberId) -> SubscriberStats {
        self.b
            .stats()
            .into_iter()
            .find(|s| s.id == id)
            .unwrap_or_else(|| panic!("subscriber {id} has no row"))
    }

    fn pick(&self, i: &Index) -> Option<usize> {
        (!self.subs.is_empty()).then(|| i.index(self.subs.len()))
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Publish(k) => {
                for _ in 0..k {
                    let id = self.next_id;
                    self.next_id += 1;
                    self.publisher()
                        .publish(Event::new(id, EventKind::RequestArrived { id }));
                }
            }
            Op::Flush => self.publisher().flush(),
            Op::Tick => self.publisher().tick(),
            Op::Drain(ref i) => {
                if let Some(i) = self.pick(i) {
                    self.receive(i, usize::MAX);
                }
            }
            Op::RecvOne(ref i) => {
                if let Some(i) = self.pick(i) {
                    self.receive(i, 1);
                }
            }
            Op::DrainAll => {
                // Back to front: a receive may end (and remove) a subscription.
                for i in (0..self.subs.len()).rev() {
                    if !self.subs[i].stalled {
                        self.receive(i, usize::MAX);
                    }
                }
            }
            Op::Stall(ref i) => {
                if let Some(i) = self.pick(i) {
                    self.subs[i].stalled = !self.subs[i].stalled;
                }
            }
            Op::Subscribe(capacity) => {
                self.names += 1;
                let sub = self
                    .b
                    .subscribe_with(SubscribeOptions::new(format!("s{}", self.names)).capacity(capacity));
                let first_id = self.flushed();
                self.subs.push(Sub {
                    sub,
                    first_id,
                    last_id: None,
                    data: 0,
                    last_notice_seq: 0,
                    stalled: false,
                });
            }
            Op::Unsubscribe(ref i) => {
                if let Some(i) = self.pick(i) {
                    let gone = self.subs.remove(i);
                    let id = gone.sub.id();
                    let was_evicted = self.row(id).state == SubscriberState::Evicted;
                    drop(gone);
                    let row = self.row(id);
                    let state = if was_evicted {
                        SubscriberState::Evicted
                    } else {
                        SubscriberState::Closed
                    };
                    assert_eq!(row.state, state, "{row:?}");
                    assert_eq!(row.queued, 0, "dropping frees the queue: {row:?}");
                }
            }
            Op::Advance(ns) => self.clock.advance(ns),
        }
    }

    /// Receives up to `max_batches` batches for subscription `i`; removes it
    /// if it turns out to have been evicted.
    fn receive(&mut self, i: usize, max_batches: usize) {
        let flushed = self.flushed();
        let s = &mut self.subs[i];
        let who = format!("{} ({})", s.sub.name(), s.sub.id());
        let mut ended = None;
        for _ in 0..max_batches {
            match s.sub.try_recv() {
                Ok(Some(batch)) => {
                    assert!(!batch.is_empty() || !batch.notices().is_empty(), "{who}: empty batch");
                    assert!(batch.len() <= self.config.max_batch, "{who}: batch of {}", batch.len());
                    for e in batch.iter() {
                        let EventKind::RequestArrived { id } = e.kind else {
                            panic!("{who}: an event that was never published: {e:?}");
                        };
                        assert!(id >= s.first_id, "{who}: got {id}, subscribed at {}", s.first_id);
                        assert!(id < flushed, "{who}: got {id}, only {flushed} flushed");
                        if let Some(last) = s.last_id {
                            assert!(id > last, "{who}: {id} after {last}");
                        }
                        s.last_id = Some(id);
                        s.data += 1;
                    }
                    for n in batch.notices() {
                        assert!(n.seq >= s.last_notice_seq, "{who}: notice {n:?} out of order");
                        s.last_notice_seq = n.seq;
                    }
                }
                Ok(None) => break,
                Err(end) => {
                    ended = Some(end);
                    break;
                }
            }
        }
        match ended {
            None => {}
            Some(RecvError::Evicted { reason, dropped }) => {
                let id = s.sub.id();
                let row = self.row(id);
                assert_eq!(row.state, SubscriberState::Evicted, "{who}");
                assert_eq!(row.dropped, dropped, "{who}: eviction reports its total loss");
                assert_eq!(row.queued, 0, "{who}: its queue was discarded");
                assert_eq!(row.last_evict_reason, Some(reason), "{who}");
                let policy = self.config.eviction;
                match reason {
                    EvictReason::LosingFor { for_ns } => assert_eq!(Some(for_ns), policy.losing_for, "{who}"),
                    EvictReason::LostShare { percent, window_ns } => {
                        assert_eq!(window_ns, policy.window, "{who}");
                        assert!(policy.max_lost_percent.is_some_and(|max| percent >= max), "{who}");
                        assert!(dropped > 0, "{who}");
                    }
                }
                self.subs.remove(i);
            }
            Some(RecvError::Closed) => assert!(self.publisher.is_none(), "{who}: closed while the publisher is open"),
        }
    }

    /// The invariants that hold between any two steps.
    fn check(&self) {
        let flushed = self.flushed();
        let rows = self.b.stats();
        for row in &rows {
            assert_eq!(
                row.published_while_subscribed,
                row.delivered + row.dropped + row.queued,
                "published_while_subscribed != delivered + dropped + queued: {row:?}"
            );
            assert!(row.queued <= row.capacity, "queue over capacity: {row:?}");
            assert!(row.capacity >= self.config.max_batch as u64, "{row:?}");
            if row.state == SubscriberState::Lagging {
                assert!(row.dropped > 0, "lagging without a drop: {row:?}");
            }
        }
        for s in &self.subs {
            let row = rows
                .iter()
                .find(|r| r.id == s.sub.id())
                .unwrap_or_else(|| panic!("live subscriber {} has no row", s.sub.id()));
            assert_eq!(row.delivered, s.data, "{row:?}");
            // Every data id it missed, below the last one it got, was counted as dropped.
            if let Some(last) = s.last_id {
                let missed = last + 1 - s.first_id - s.data;
                assert!(
                    missed <= row.dropped,
                    "{missed} missed but {} dropped: {row:?}",
                    row.dropped
                );
            }
            // It is taken on at the first flush after it subscribed, which
            // offers it everything buffered then.
            let since = flushed - s.first_id;
            if row.state == SubscriberState::Joining {
                assert_eq!(since, 0, "no flush yet, so still joining: {row:?}");
            } else if !row.state.is_ended() {
                assert!(
                    row.published_while_subscribed >= since,
                    "{since} flushed since it joined: {row:?}"
                );
            }
        }
    }

    /// Closes the publisher and drains every subscription to its end.
    fn close_and_drain(&mut self) {
        self.publisher.take().expect("open").close();
        let flushed = self.next_id;
        for i in (0..self.subs.len()).rev() {
            self.receive(i, usize::MAX);
        }
        let rows = self.b.stats();
        for s in &self.subs {
            let end = s.sub.try_recv();
            assert_eq!(end, Err(RecvError::Closed), "{}", s.sub.name());
            let row = rows.iter().find(|r| r.id == s.sub.id()).expect("row");
            assert_eq!(row.state, SubscriberState::Closed);
            assert_eq!(row.queued, 0);
            assert_eq!(row.published_while_subscribed, row.delivered + row.dropped, "{row:?}");
            // Everything flushed since it subscribed reached it or was counted as dropped.
            let missed = flushed - s.first_id - s.data;
            assert!(
                missed <= row.dropped,
                "{missed} missed but {} dropped: {row:?}",
                row.dropped
            );
        }
        let p = self.b.publisher_stats();
        assert_eq!(p.subscribers, 0);
        assert_eq!(p.events, self.next_id, "{p:?}: the data, and nothing else");
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Whatever the schedule, every subscriber's counters add up after every
    /// step, queues stay within capacity, and data arrives in publish order
    /// with every gap counted as dropped.
    #[test]
    fn accounting_order_and_bounds_hold_after_every_step(
        config in broadcast_config(),
        initial in 1usize..=3,
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        let mut world = World::new(config);
        for _ in 0..initial {
            world.apply(&Op::Subscribe(config.max_batch * 2));
        }
        world.check();
        for op in &ops {
            world.apply(op);
            world.check();
        }
        world.close_and_drain();
    }
}
