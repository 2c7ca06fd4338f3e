//! The fan-out: one [`Publisher`] hands every value to any number of
//! [`Subscription`]s, and tells them about each other with [`Notice`]s.
//!
//! This module is a generic primitive: it carries any [`Slot`] (a small
//! `Copy` value that encodes to four `u64` words; fantop's `Event` is one,
//! see `crate::wire`), reads time from any [`TimeSource`], and imports
//! nothing else of the crate. The examples below use fantop's `Event` and
//! manual `Clock`.
//!
//! # Shape
//!
//! [`channel`] returns the two halves. The [`Publisher`] is owned by exactly
//! one thread (the pipeline). It buffers events and, on [`Publisher::flush`]
//! (or when the buffer reaches [`BroadcastConfig::max_batch`], or on
//! [`Publisher::tick`] once the oldest buffered event is older than
//! [`BroadcastConfig::max_batch_age`]), writes them into **one ring shared by
//! every subscriber** and advances the ring's head. Each subscriber keeps its
//! own cursor into the ring; its queue is the stretch between its cursor and
//! the head, bounded by its `capacity`.
//!
//! So a publish costs the same with 1 subscriber or 10,000: the publisher
//! writes each event once (four words in a ring slot, no allocation, no lock)
//! and never touches a subscriber's state on the way. It looks at
//! subscribers only to judge their health (at most once per
//! [`BroadcastConfig::health_interval`] each, see below), and when one joins
//! or leaves. It never waits (except for [`Delivery::Wait`] subscribers).
//!
//! The [`Broadcaster`] handle is cheap to clone and `Send`: any thread can
//! [`subscribe`](Broadcaster::subscribe) at any time, and read every
//! subscriber's [`SubscriberStats`] and the [`PublisherStats`] without
//! stopping the publisher.
//!
//! Receiving: [`Subscription::recv`] (and `try_recv`, `recv_timeout`,
//! `recv_deadline`) hands back a [`Batch`], which derefs to the events
//! (`&[T]`) and carries the notices that came with them
//! ([`Batch::notices`]); [`Subscription::drain`] hands every queued event to
//! a closure (skipping notices), and [`Subscription::drain_with`] hands
//! events and notices to two closures, interleaved exactly in stream order
//! ([`Subscription::drain_items`] to one closure taking an [`Item`], when
//! both need the same state).
//!
//! ```
//! use fantop::broadcast::{channel, BroadcastConfig, NoticeKind};
//! use fantop::clock::Clock;
//! use fantop::event::{Event, EventKind};
//!
//! let (mut publisher, broadcaster) = channel(BroadcastConfig::default(), Clock::manual());
//! let sub = broadcaster.subscribe("panel");
//! publisher.publish(Event::new(1, EventKind::RequestArrived { id: 0 }));
//! publisher.flush();
//! let batch = sub.try_recv().unwrap().expect("a batch");
//! assert_eq!(batch.len(), 1); // the event...
//! assert_eq!(batch[0].t, 1);
//! // ...and, beside it, its own "joined" notice.
//! assert_eq!(batch.notices()[0].kind, NoticeKind::Joined);
//! assert_eq!(batch.notices()[0].subscriber, sub.id());
//! ```
//!
//! # Lagging
//!
//! A subscriber's queue holds at most its `capacity` **events**. When the
//! publisher moves more than `capacity` events past a subscriber's cursor,
//! the **oldest** events in its queue are lost to it: its next receive skips
//! them, starting again `capacity` events behind the head, and its `dropped`
//! counter includes them from the moment they fall out of its window (the
//! stats compute it from the head and the cursor; nothing is counted late).
//! The other subscribers are not affected, and the publisher does not wait.
//! Like `tokio::sync::broadcast`, a lagging receiver keeps the newest events,
//! not the oldest; unlike it, the loss is counted in the stats (and
//! announced in notices) rather than returned as an error, so receiving code
//! stays a plain loop.
//!
//! # Health and eviction
//!
//! Health is judged on **loss over time**. Once per
//! [`BroadcastConfig::health_interval`] (default 250 ms of broadcaster time)
//! the publisher looks at each [`Delivery::Drop`] subscriber's counters:
//!
//! - it is [`Lagging`](SubscriberState::Lagging) while it lost events since
//!   the previous check, and [`Healthy`](SubscriberState::Healthy) once a
//!   whole interval passes with no loss. How often it receives does not
//!   matter: only what it lost.
//! - it is **evicted** under the [`EvictionPolicy`] when either rule fires:
//!   it lost events at *every* check for [`losing_for`](EvictionPolicy::losing_for)
//!   (default 2 s, counted from the first check that found it losing), **or**
//!   it lost more than [`max_lost_percent`](EvictionPolicy::max_lost_percent)
//!   (default 50 %) of what was published to it over the last
//!   [`window`](EvictionPolicy::window) (default 2 s; not before it has been
//!   watched that long).
//!
//! The checks happen at ticks and flushes once the interval has passed (a
//! flush that may have made someone lose events brings a due check
//! forward), never more often than once per interval per subscriber; so
//! with `max_batch = 1` and thousands of subscribers lagging, health costs
//! O(1) per event.
//!
//! A worked example with the defaults, 10,000 events/s published, and a
//! subscriber with a queue of 256 that visits every 50 ms, each visit
//! taking what is queued: each visit finds 500 events published, of which
//! its queue kept 256, so it loses 244 of every 500 (49 %). It is Lagging
//! from the first check (0.25 s) on, but not evicted for the share (49 % is
//! not more than 50 %); it *is* evicted at the check at 2.25 s, having lost
//! events at every check for 2 s: reason "losing for 2s". Had it visited
//! every 100 ms (1,000 published per visit, 744 lost: 74 %), the share rule
//! would have evicted it at the check at 2 s, the first with 2 s of
//! history: "lost 74% over 2s". A subscriber that loses a few events once
//! in a while is Lagging for one interval and Healthy again the next; it is
//! never evicted.
//!
//! Eviction removes it from the publisher, announces it
//! ([`NoticeKind::Evicted`]) to everyone, and makes the evicted
//! subscription's next receive return [`RecvError::Evicted`] with the
//! reason and its total loss: what it dropped, plus everything still in its
//! queue, which it will not receive. To keep watching, subscribe again.
//!
//! ```
//! use fantop::broadcast::{channel, BroadcastConfig, EvictReason, RecvError, SubscribeOptions};
//! use fantop::clock::Clock;
//! use fantop::event::{Event, EventKind, MILLIS};
//!
//! let clock = Clock::manual();
//! let (mut publisher, b) = channel(BroadcastConfig::default(), clock.clone());
//! let sub = b.subscribe_with(SubscribeOptions::new("nibbler").capacity(256));
//! publisher.tick(); // takes it on at 0 s
//! let mut id = 0;
//! let end = loop {
//!     // Every 50 ms, 2,560 events, of which its queue keeps the newest 256.
//!     for _ in 0..2560 {
//!         publisher.publish(Event::new(clock.now(), EventKind::RequestArrived { id }));
//!         id += 1;
//!     }
//!     clock.advance(50 * MILLIS);
//!     publisher.tick();
//!     // It visits often, and still loses 90 % of the stream.
//!     if let Err(end) = sub.drain(|_| {}) {
//!         break end;
//!     }
//! };
//! let reason = EvictReason::LostShare { percent: 90, window_ns: 2_000 * MILLIS };
//! assert!(matches!(end, RecvError::Evicted { reason: r, .. } if r == reason));
//! assert_eq!(reason.to_string(), "lost 90% over 2s");
//! assert_eq!(clock.now(), 2_000 * MILLIS, "at the first check with 2 s of history");
//! ```
//!
//! # Notices
//!
//! The broadcaster announces what happens to its subscribers with
//! [`Notice`]s, beside the payload (they are not events, take no ring slot
//! and no queue space, and are not in the event counters): a subscriber
//! [joined](NoticeKind::Joined), is [lagging](NoticeKind::Lagging), is
//! [healthy](NoticeKind::Healthy) again, was [evicted](NoticeKind::Evicted),
//! or [left](NoticeKind::Left). Every subscriber receives every notice made
//! from its own join on, in stream order: a notice's
//! [`seq`](Notice::seq) is the number of events published before it, and a
//! subscription hands it over once its cursor reaches that point (even if
//! it skipped the events around it).
//!
//! Notices are bounded. A subscriber gets at most one lagging notice per
//! [`LAGGING_NOTICE_EVERY`] (1 s), carrying what it lost since the previous
//! one, and one healthy notice when it recovers after one; so however often
//! it flaps, it causes at most two notices a second, plus one each for its
//! join and its end. The publisher writes them to a log of the newest
//! [`BroadcastConfig::notice_capacity`] notices (default 4,096), once per
//! flush or tick that has any (the per-event publish path never touches
//! it); a subscription that falls further behind than that in notices
//! misses the oldest, and its stats count them
//! ([`SubscriberStats::notices_missed`]).
//!
//! # Closing
//!
//! Dropping a [`Subscription`] unsubscribes it: the events it left unread
//! count as never published to it (not as dropped), and the publisher forgets
//! it (and announces [`NoticeKind::Left`]) at its next flush or tick.
//! A subscription holds no queue of its own, so there is nothing else to free.
//! Dropping or [closing](Publisher::close) the publisher closes every
//! subscription *after* what is queued: subscribers receive everything that
//! was published (within their capacity), and every notice, then
//! [`RecvError::Closed`].
//!
//! ```
//! use fantop::broadcast::{channel, BroadcastConfig, RecvError};
//! use fantop::clock::Clock;
//! use fantop::event::{Event, EventKind};
//!
//! let (mut publisher, b) = channel(BroadcastConfig::default(), Clock::manual());
//! let sub = b.subscribe("reader");
//! publisher.publish(Event::new(1, EventKind::RequestArrived { id: 0 }));
//! publisher.close(); // flushes what is buffered first
//! let (mut events, mut notices) = (0, 0);
//! let end = loop {
//!     match sub.recv() {
//!         Ok(batch) => {
//!             events += batch.len();
//!             notices += batch.notices().len();
//!         }
//!         Err(end) => break end,
//!     }
//! };
//! assert_eq!(end, RecvError::Closed);
//! assert_eq!((events, notices), (1, 1)); // the event, and its own "joined" notice
//! ```
//!
//! # Nothing is lost silently
//!
//! For every subscriber, at every moment that neither side is in the middle
//! of a call: `published_while_subscribed == delivered + dropped + queued`
//! (events; notices it missed are counted apart).
//!
//! ```
//! use fantop::broadcast::{channel, BroadcastConfig, SubscribeOptions};
//! use fantop::clock::Clock;
//! use fantop::event::{Event, EventKind};
//!
//! let config = BroadcastConfig { max_batch: 4, ..BroadcastConfig::default() };
//! let (mut publisher, b) = channel(config, Clock::manual());
//! let sub = b.subscribe_with(SubscribeOptions::new("small").capacity(4));
//! publisher.tick();
//! for id in 0..10 {
//!     publisher.publish(Event::new(id, EventKind::RequestArrived { id }));
//! }
//! publisher.flush();
//! let count = |s: fantop::broadcast::SubscriberStats| {
//!     (s.published_while_subscribed, s.delivered, s.dropped, s.queued)
//! };
//! // Its queue holds the newest 4; the 6 before are lost to it, and counted.
//! assert_eq!(count(sub.stats()), (10, 0, 6, 4));
//! sub.try_recv().unwrap();
//! assert_eq!(count(sub.stats()), (10, 4, 6, 0));
//! ```
//!
//! # Waiting subscribers
//!
//! A subscriber made with [`Delivery::Wait`] is never dropped for or evicted:
//! before overwriting an event such a subscriber has not read, the publisher
//! waits for it. Only `--fast` mode uses it, where simulated time is virtual
//! and pacing the simulation to its consumers is right. It is a deliberate
//! exception to "the publisher never blocks".
//!
//! # Concurrency
//!
//! The ring is written by the publisher only: each event as four relaxed
//! atomic words, in blocks of 16 events guarded by one sequence stamp each
//! (a seqlock). A reader checks a block's stamp before and after copying
//! what it wants from it, so it either gets the events it asked for or
//! learns the block was overwritten, never a torn mix; no `unsafe`
//! anywhere. A subscriber's position and loss (cursor, skipped) are a
//! seqlock too, so stats never pair a new loss with an old position. A
//! receiver that finds nothing waits on a condition variable the publisher
//! signals after a flush or new notices, only when someone is waiting.
//!
//! Decoding is shared. Once a whole page of 256 events is published, the
//! first reader to want it decodes it (checking every block's stamp, as
//! above) into an immutable page and offers it to the others through one of
//! 64 slots, by compare-and-swap: they read its events in place, so with N
//! subscribers an event is decoded about once rather than N times. A page
//! only ever replaces an older one in its slot, and a reader that finds a
//! newer page there, or no other subscriber to share with, reads the ring
//! itself. The publisher never touches pages.
//!
//! Every hand-ordered atomic, lock and wake-up comes from a small shim
//! (`sync.rs`), so the model tests in `tests/loom_broadcast.rs` run the same
//! code under [loom](https://docs.rs/loom) (`RUSTFLAGS="--cfg loom"`). In
//! the loom build the shared pages are compiled out (they rest on
//! `arc-swap`, which loom cannot see into) and every reader decodes from the
//! ring, which is the path pages only shortcut; blocks are 2 events there.
//!
//! # Bounds
//!
//! The ring: [`BroadcastConfig::ring_capacity`] events (rounded up to a power
//! of two; 32 bytes each, plus 8 per block of 16), allocated once. A
//! subscriber's queue: its `capacity` events, at most the ring's size less
//! one batch and one block. Decoded pages: 64 of 256 events, plus at most 4
//! kept for reuse and, briefly, a page a reader still holds when it is
//! replaced. Events written but not yet published: at most `max_batch`.
//! Notices: the log keeps [`BroadcastConfig::notice_capacity`]; a
//! subscription holds at most as many fetched and not yet handed over; the
//! publisher makes at most one join, one end, and two health notices per
//! subscriber per second. Health records: at most 18 samples per
//! subscriber. Stats of ended subscribers: the last
//! [`BroadcastConfig::ended_retained`] are kept for display, the rest freed.

mod broadcaster;
mod config;
mod health;
mod hub;
mod notice;
mod publisher;
mod ring;
mod stats;
mod subscription;
mod sync;

pub use broadcaster::Broadcaster;
pub use config::{
    BroadcastConfig, DEFAULT_ENDED_RETAINED, DEFAULT_HEALTH_INTERVAL, DEFAULT_LOSING_FOR, DEFAULT_LOSS_WINDOW,
    DEFAULT_MAX_BATCH, DEFAULT_MAX_BATCH_AGE, DEFAULT_MAX_LOST_PERCENT, DEFAULT_NOTICE_CAPACITY, DEFAULT_RING_CAPACITY,
    DEFAULT_SUBSCRIBER_CAPACITY, Delivery, EvictionPolicy, LAGGING_NOTICE_EVERY, Nanos, SubscribeOptions, SubscriberId,
    TimeSource,
};
pub use notice::{EvictReason, Notice, NoticeKind};
pub use publisher::{Publisher, TIME_EVERY, TIME_PUBLISH_EVERY};
pub use ring::{SLOT_WORDS, Slot};
pub use stats::{PublisherStats, SubscriberState, SubscriberStats};
pub use subscription::{Batch, Item, RecvError, Subscription};

use crossbeam_utils::CachePadded;

use hub::{Hub, Joins, PublisherCounters};
use notice::NoticeLog;
use ring::{BLOCK, Ring};
use sync::{Arc, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Condvar, Mutex};

/// Creates a broadcaster: the one publishing half and a cloneable handle for
/// subscribing and reading stats.
pub fn channel<T: Slot>(mut config: BroadcastConfig, clock: impl TimeSource) -> (Publisher<T>, Broadcaster<T>) {
    config.max_batch = config.max_batch.max(1);
    config.default_capacity = config.default_capacity.max(config.max_batch);
    config.health_interval = config.health_interval.max(1);
    config.notice_capacity = config.notice_capacity.max(16);
    let ring_len = config
        .ring_capacity
        .max(config.default_capacity + config.max_batch + BLOCK as usize)
        .max(2 * config.max_batch)
        .next_power_of_two();
    config.ring_capacity = ring_len;
    let hub = Arc::new(Hub {
        config,
        clock: Box::new(clock),
        ring: Ring::new(ring_len),
        #[cfg(not(loom))]
        pages: ring::Pages::new(),
        head: CachePadded::new(AtomicU64::new(0)),
        notices: NoticeLog::new(config.notice_capacity),
        next_id: AtomicU32::new(1),
        registry: Mutex::new(Vec::new()),
        joins: Mutex::new(Joins {
            closed: false,
            queue: Vec::new(),
        }),
        joins_pending: AtomicBool::new(false),
        leaves_pending: AtomicBool::new(false),
        counters: CachePadded::new(PublisherCounters::default()),
        active: AtomicU32::new(0),
        sleepers: AtomicUsize::new(0),
        lock: Mutex::new(()),
        wake: Condvar::new(),
    });
    let broadcaster = Broadcaster::new(hub.clone());
    (Publisher::new(hub), broadcaster)
}

/// A slot and a clock for the module's own tests, so they need nothing of
/// the crate.
#[cfg(test)]
pub(crate) mod testing {
    use super::{Nanos, SLOT_WORDS, Slot, TimeSource};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A test event: its timestamp and a payload, with a checksum word so
    /// torn words do not decode.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) struct Tick {
        pub(crate) t: Nanos,
        pub(crate) id: u64,
    }

    impl Slot for Tick {
        const BLANK: Tick = Tick { t: 0, id: 0 };
        fn encode(&self) -> [u64; SLOT_WORDS] {
            [self.t, self.id, !self.id, 1]
        }
        fn decode_into(w: [u64; SLOT_WORDS], out: &mut Tick) -> bool {
            *out = Tick { t: w[0], id: w[1] };
            w[2] == !w[1] && w[3] == 1
        }
        fn timestamp(&self) -> Nanos {
            self.t
        }
    }

    /// A clock that moves only when told.
    #[derive(Clone, Default)]
    pub(crate) struct ManualTime(pub(crate) Arc<AtomicU64>);

    impl TimeSource for ManualTime {
        fn now(&self) -> Nanos {
            self.0.load(Ordering::Acquire)
        }
    }
}
