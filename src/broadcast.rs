//! The fan-out: one [`Publisher`] hands every event to any number of
//! [`Subscription`]s, each through its own bounded queue (the design note's
//! `MetricsBroadcaster`).
//!
//! # Shape
//!
//! [`channel`] returns the two halves. The [`Publisher`] is owned by exactly one
//! thread (the pipeline); it buffers events and, on [`Publisher::flush`] (or when
//! the buffer reaches [`BroadcastConfig::max_batch`], or on
//! [`Publisher::tick`] once the oldest buffered event is older than
//! [`BroadcastConfig::max_batch_age`]), turns the buffer into one shared,
//! immutable [`Batch`] (`Arc<[Event]>`) and offers that same `Arc` to every
//! subscriber's queue. Publishing therefore allocates once per batch, never
//! once per subscriber, and never blocks (except for [`Delivery::Wait`]
//! subscribers, see below).
//!
//! The [`Broadcaster`] handle is cheap to clone and `Send`: any thread can
//! [`subscribe`](Broadcaster::subscribe) at any time, and read every
//! subscriber's [`SubscriberStats`] and the [`PublisherStats`] without
//! stopping the publisher (they are atomics, written by the publisher and the
//! subscriber, read by anyone).
//!
//! ```
//! use fantop::broadcast::{channel, BroadcastConfig};
//! use fantop::clock::Clock;
//! use fantop::event::{Event, EventKind};
//!
//! let (mut publisher, broadcaster) = channel(BroadcastConfig::default(), Clock::manual());
//! let sub = broadcaster.subscribe("panel");
//! publisher.publish(Event::new(1, EventKind::RequestArrived { id: 0 }));
//! publisher.flush();
//! let batch = sub.try_recv().unwrap().expect("one batch");
//! assert_eq!(batch[0].t, 1);
//! ```
//!
//! # Lagging
//!
//! Each subscriber's queue holds at most its `capacity` **events** (not
//! batches). A batch is enqueued whole or not at all: when it does not fit,
//! that subscriber loses the whole batch, its `dropped` counter grows by the
//! batch's length, and it becomes [`SubscriberState::Lagging`]. The other
//! subscribers are not affected — they get the batch as usual, and the
//! publisher does not wait. The first drop of a lagging spell publishes
//! [`EventKind::SubscriberLagging`] to everyone.
//!
//! A lagging subscriber is healthy again once it has received something since
//! its last drop and its queue is back to half its capacity or less (the
//! hysteresis keeps a consumer that nibbles one batch at a time from flapping
//! between the two states). The events it lost stay counted. It never sees a
//! gap marker in the stream itself: the counters in [`Subscription::stats`]
//! are the record.
//!
//! # Eviction
//!
//! Under the [`EvictionPolicy`] a subscriber that stays lagging for
//! `full_for` (default 2 s on the broadcaster's clock, from the first drop of
//! the spell), or that loses `max_drops` events in one lagging spell (off by
//! default), is evicted at the publish that crosses the limit. Eviction removes its queue from the publisher, publishes
//! [`EventKind::SubscriberEvicted`] to everyone else, and makes the evicted
//! subscription's next receive return [`RecvError::Evicted`] with the reason
//! and its total drop count; events still in its queue at that point are
//! discarded and counted as dropped. To keep watching, subscribe again.
//!
//! ```
//! use fantop::broadcast::{channel, BroadcastConfig, RecvError, SubscribeOptions};
//! use fantop::clock::Clock;
//! use fantop::event::{Event, EventKind, SECONDS};
//!
//! let clock = Clock::manual();
//! let config = BroadcastConfig { max_batch: 4, ..BroadcastConfig::default() };
//! let (mut publisher, b) = channel(config, clock.clone());
//! let healthy = b.subscribe("healthy");
//! let stalled = b.subscribe_with(SubscribeOptions::new("stalled").capacity(4));
//! let mut received = 0;
//! for id in 0..16 {
//!     publisher.publish(Event::new(id, EventKind::RequestArrived { id }));
//!     clock.advance(SECONDS); // `stalled` never receives: its queue stays full
//!     received += healthy.drain(|_| {}).unwrap();
//! }
//! publisher.flush();
//! received += healthy.drain(|_| {}).unwrap();
//! // The healthy subscriber got all 16 events (plus the announcements).
//! assert_eq!(b.stats()[0].dropped, 0);
//! assert!(received >= 16);
//! match stalled.recv() {
//!     Err(RecvError::Evicted { dropped, .. }) => assert!(dropped > 0),
//!     other => panic!("expected an eviction, got {other:?}"),
//! }
//! ```
//!
//! # Closing
//!
//! Dropping a [`Subscription`] unsubscribes it: its queue is emptied at once
//! (events it left unread count as never published to it, not as dropped),
//! and the publisher forgets it (and publishes [`EventKind::SubscriberLeft`])
//! at its next flush. Dropping or [closing](Publisher::close) the publisher
//! closes every queue *after* what is queued: subscribers receive everything
//! that was published, then [`RecvError::Closed`].
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
//! let mut seen = 0;
//! let end = loop {
//!     match sub.recv() {
//!         Ok(batch) => seen += batch.len(),
//!         Err(end) => break end,
//!     }
//! };
//! assert_eq!(end, RecvError::Closed);
//! assert_eq!(seen, 2); // its own "joined" announcement, then the event
//! ```
//!
//! # Nothing is lost silently
//!
//! For every subscriber, at every moment that no publish is in progress:
//! `published_while_subscribed == delivered + dropped + queued`.
//!
//! # Waiting subscribers
//!
//! A subscriber made with [`Delivery::Wait`] is never dropped for or evicted:
//! the publisher waits for room in its queue instead. Only `--fast` mode uses
//! it, where simulated time is virtual and pacing the simulation to its
//! consumers is right. It is a deliberate exception to "the publisher never
//! blocks".
//!
//! # Bounds
//!
//! Queues: `capacity` events each (default [`DEFAULT_SUBSCRIBER_CAPACITY`]).
//! Publisher buffer: `max_batch` events. Stats of ended subscribers: the last
//! [`BroadcastConfig::ended_retained`] are kept for display, the rest freed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use crossbeam_utils::CachePadded;

use crate::clock::Clock;
use crate::event::{Event, EventKind, EvictReason, Nanos, SECONDS, SubscriberId};

/// A published batch: shared, immutable, in publish order.
pub type Batch = Arc<[Event]>;

/// Default per-subscriber queue bound, in events.
pub const DEFAULT_SUBSCRIBER_CAPACITY: usize = 65_536;
/// Default largest batch, in events.
pub const DEFAULT_MAX_BATCH: usize = 256;
/// Default age at which [`Publisher::tick`] flushes a partial batch.
pub const DEFAULT_MAX_BATCH_AGE: Nanos = 100_000;
/// Default time a queue may stay full before eviction.
pub const DEFAULT_EVICT_AFTER: Nanos = 2 * SECONDS;
/// Default number of ended subscribers whose stats are kept for display.
pub const DEFAULT_ENDED_RETAINED: usize = 32;

/// When a lagging subscriber is evicted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvictionPolicy {
    /// Evict when the queue has stayed full this long (ns). `None`: never on time.
    pub full_for: Option<Nanos>,
    /// Evict after this many drops in one lagging spell. `None`: never on count.
    pub max_drops: Option<u64>,
}

impl Default for EvictionPolicy {
    fn default() -> Self {
        EvictionPolicy {
            full_for: Some(DEFAULT_EVICT_AFTER),
            max_drops: None,
        }
    }
}

/// Broadcaster settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BroadcastConfig {
    /// Queue bound for subscribers that do not choose their own, in events.
    pub default_capacity: usize,
    /// A buffer of this many events is flushed at once.
    pub max_batch: usize,
    /// [`Publisher::tick`] flushes a buffer whose oldest event is this old.
    pub max_batch_age: Nanos,
    pub eviction: EvictionPolicy,
    /// Stats of this many ended subscribers are kept for display.
    pub ended_retained: usize,
}

impl Default for BroadcastConfig {
    fn default() -> Self {
        BroadcastConfig {
            default_capacity: DEFAULT_SUBSCRIBER_CAPACITY,
            max_batch: DEFAULT_MAX_BATCH,
            max_batch_age: DEFAULT_MAX_BATCH_AGE,
            eviction: EvictionPolicy::default(),
            ended_retained: DEFAULT_ENDED_RETAINED,
        }
    }
}

/// What the publisher does when a subscriber's queue is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Delivery {
    /// Drop the batch for this subscriber, count it, evict under the policy.
    #[default]
    Drop,
    /// Wait for room (never evicted). For virtual-time runs only.
    Wait,
}

/// How to subscribe.
#[derive(Clone, Debug)]
pub struct SubscribeOptions {
    pub name: String,
    /// Queue bound in events; `None` uses the broadcaster's default. Never
    /// below `max_batch`, so a full batch always fits an empty queue.
    pub capacity: Option<usize>,
    pub delivery: Delivery,
}

impl SubscribeOptions {
    pub fn new(name: impl Into<String>) -> Self {
        SubscribeOptions {
            name: name.into(),
            capacity: None,
            delivery: Delivery::Drop,
        }
    }
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity);
        self
    }
    pub fn delivery(mut self, delivery: Delivery) -> Self {
        self.delivery = delivery;
        self
    }
}

/// A subscriber's state as the stats report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscriberState {
    /// Subscribed; the publisher has not yet taken it on (next flush).
    Joining,
    Healthy,
    /// Its queue was full at the last publish: it is losing events.
    Lagging,
    Evicted,
    /// Unsubscribed, or the publisher closed.
    Closed,
}

impl SubscriberState {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => SubscriberState::Joining,
            1 => SubscriberState::Healthy,
            2 => SubscriberState::Lagging,
            3 => SubscriberState::Evicted,
            _ => SubscriberState::Closed,
        }
    }
    pub fn is_ended(self) -> bool {
        matches!(self, SubscriberState::Evicted | SubscriberState::Closed)
    }
    pub fn label(self) -> &'static str {
        match self {
            SubscriberState::Joining => "JOINING",
            SubscriberState::Healthy => "OK",
            SubscriberState::Lagging => "LAGGING",
            SubscriberState::Evicted => "EVICTED",
            SubscriberState::Closed => "CLOSED",
        }
    }
}

/// How a subscription ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecvError {
    /// The broadcaster evicted this subscriber; `dropped` is its total loss.
    Evicted { reason: EvictReason, dropped: u64 },
    /// The publisher closed; everything published was delivered first.
    Closed,
}

impl std::fmt::Display for RecvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecvError::Evicted { reason, dropped } => {
                write!(f, "evicted ({reason}) after dropping {dropped} events")
            }
            RecvError::Closed => write!(f, "broadcaster closed"),
        }
    }
}

impl std::error::Error for RecvError {}

/// A point-in-time copy of one subscriber's counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriberStats {
    pub id: SubscriberId,
    pub name: String,
    pub state: SubscriberState,
    /// Events queued for it now (its lag).
    pub queued: u64,
    pub capacity: u64,
    pub delivered: u64,
    pub dropped: u64,
    /// Events published while it was subscribed.
    pub published_while_subscribed: u64,
    /// Broadcaster-clock time of its last receive, if any.
    pub last_recv: Option<Nanos>,
    /// Evictions of subscribers by this name, this one included.
    pub evictions: u32,
    pub last_evict_reason: Option<EvictReason>,
    pub delivery: Delivery,
}

/// A point-in-time copy of the publisher's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PublisherStats {
    pub events: u64,
    pub batches: u64,
    /// Wall time spent inside flushes (ns), to report the cost per event:
    /// one flush in [`TIME_EVERY`] is timed and counted that many times.
    pub busy_ns: u64,
    /// Subscribers currently receiving.
    pub subscribers: u32,
}

impl PublisherStats {
    /// Mean publish cost per event, in ns.
    pub fn ns_per_event(&self) -> f64 {
        if self.events == 0 {
            0.0
        } else {
            self.busy_ns as f64 / self.events as f64
        }
    }
}

const STATE_JOINING: u8 = 0;
const STATE_HEALTHY: u8 = 1;
const STATE_LAGGING: u8 = 2;
const STATE_EVICTED: u8 = 3;
const STATE_CLOSED: u8 = 4;
const NO_RECV: u64 = u64::MAX;
/// `joined_seq` / `left_seq` not set yet.
const NO_SEQ: u64 = u64::MAX;

/// Counters one subscriber shares between its publisher side, its
/// subscription and stats readers. Every counter has exactly one writer, and
/// the publisher's and the subscriber's live on separate cache lines, so a
/// publish does not touch a line the subscriber writes (and vice versa)
/// unless the queue looks full.
#[derive(Debug)]
struct Shared {
    id: SubscriberId,
    name: String,
    capacity: usize,
    delivery: Delivery,
    /// Written by either side, but only on state changes (rare).
    state: AtomicU8,
    /// Publisher's event count when it took this subscriber on / let it go.
    joined_seq: AtomicU64,
    left_seq: AtomicU64,
    evictions: AtomicU32,
    /// Encoded [`EvictReason`]: tag in the top bit, value below. 0 = none.
    evict_reason: AtomicU64,
    pubs: CachePadded<PublisherSide>,
    subs: CachePadded<SubscriberSide>,
}

/// Written by the publisher only.
#[derive(Debug, Default)]
struct PublisherSide {
    /// Events put in the queue.
    enqueued: AtomicU64,
    /// Events not put in the queue because it was full.
    dropped: AtomicU64,
}

/// Written by the subscription only.
#[derive(Debug)]
struct SubscriberSide {
    /// Events taken out of the queue, by any of the three ways below.
    consumed: AtomicU64,
    /// Taken out and discarded on eviction (they count as dropped).
    discarded: AtomicU64,
    /// Still queued when the subscription was dropped: the subscriber chose
    /// to leave them, so they are neither delivered nor dropped, and do not
    /// count as published to it.
    unread: AtomicU64,
    last_recv: AtomicU64,
}

const REASON_DROPS_BIT: u64 = 1 << 63;

impl Shared {
    fn state(&self) -> SubscriberState {
        SubscriberState::from_u8(self.state.load(Ordering::Acquire))
    }
    fn reason(&self) -> Option<EvictReason> {
        match self.evict_reason.load(Ordering::Acquire) {
            0 => None,
            v if v & REASON_DROPS_BIT != 0 => Some(EvictReason::TooManyDrops {
                dropped: v & !REASON_DROPS_BIT,
            }),
            v => Some(EvictReason::QueueFull { for_ns: v }),
        }
    }
    fn set_reason(&self, reason: EvictReason) {
        let v = match reason {
            EvictReason::QueueFull { for_ns } => for_ns.clamp(1, REASON_DROPS_BIT - 1),
            EvictReason::TooManyDrops { dropped } => REASON_DROPS_BIT | dropped.min(REASON_DROPS_BIT - 1),
        };
        self.evict_reason.store(v, Ordering::Release);
    }
    /// Events in the queue now.
    fn queued(&self) -> u64 {
        let consumed = self.subs.consumed.load(Ordering::Acquire);
        self.pubs.enqueued.load(Ordering::Acquire).saturating_sub(consumed)
    }
    /// Events received by the subscriber.
    fn delivered(&self) -> u64 {
        // The parts first: `consumed` is raised after them.
        let discarded = self.subs.discarded.load(Ordering::Acquire);
        let unread = self.subs.unread.load(Ordering::Acquire);
        self.subs
            .consumed
            .load(Ordering::Acquire)
            .saturating_sub(discarded + unread)
    }
    /// Events lost: not queued because the queue was full, or discarded on eviction.
    fn dropped(&self) -> u64 {
        self.pubs.dropped.load(Ordering::Acquire) + self.subs.discarded.load(Ordering::Acquire)
    }
    /// Empties the queue of a subscription being dropped.
    fn leave_unread(&self, rx: &Receiver<Batch>) {
        while let Ok(batch) = rx.try_recv() {
            self.subs.unread.fetch_add(batch.len() as u64, Ordering::AcqRel);
            self.subs.consumed.fetch_add(batch.len() as u64, Ordering::AcqRel);
        }
    }
    /// Empties the queue of an evicted subscription, counting what was in it as dropped.
    fn discard(&self, rx: &Receiver<Batch>) {
        while let Ok(batch) = rx.try_recv() {
            self.subs.discarded.fetch_add(batch.len() as u64, Ordering::AcqRel);
            self.subs.consumed.fetch_add(batch.len() as u64, Ordering::AcqRel);
        }
    }
}

/// State the [`Broadcaster`] handles share with the publisher.
struct Hub {
    config: BroadcastConfig,
    clock: Clock,
    next_id: AtomicU32,
    /// Every live subscriber plus the last few ended ones, for stats.
    registry: ArcSwap<Vec<Arc<Shared>>>,
    joins_tx: Sender<(Arc<Shared>, Sender<Batch>)>,
    events: AtomicU64,
    batches: AtomicU64,
    busy_ns: AtomicU64,
    active: AtomicU32,
    /// Set by `subscribe` after queueing a join; cleared by the publisher.
    joins_pending: std::sync::atomic::AtomicBool,
    closed: std::sync::atomic::AtomicBool,
}

/// Creates a broadcaster: the one publishing half and a cloneable handle for
/// subscribing and reading stats.
pub fn channel(config: BroadcastConfig, clock: Clock) -> (Publisher, Broadcaster) {
    let (joins_tx, joins_rx) = crossbeam_channel::unbounded();
    let hub = Arc::new(Hub {
        config,
        clock,
        next_id: AtomicU32::new(1),
        registry: ArcSwap::from_pointee(Vec::new()),
        joins_tx,
        events: AtomicU64::new(0),
        batches: AtomicU64::new(0),
        busy_ns: AtomicU64::new(0),
        active: AtomicU32::new(0),
        joins_pending: std::sync::atomic::AtomicBool::new(false),
        closed: std::sync::atomic::AtomicBool::new(false),
    });
    let publisher = Publisher {
        hub: hub.clone(),
        joins_rx,
        slots: Vec::new(),
        buf: Vec::with_capacity(config.max_batch.max(1)),
        buf_oldest: None,
        notices: Vec::new(),
        seq: 0,
        last_t: 0,
        flushes: 0,
        max_batch: config.max_batch.max(1),
        batches: 0,
    };
    (publisher, Broadcaster { hub })
}

/// The subscribing and observing half of a broadcaster. Clone freely.
#[derive(Clone)]
pub struct Broadcaster {
    hub: Arc<Hub>,
}

impl std::fmt::Debug for Broadcaster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broadcaster").finish_non_exhaustive()
    }
}

impl Broadcaster {
    /// Subscribes with the default capacity, dropping on a full queue.
    pub fn subscribe(&self, name: impl Into<String>) -> Subscription {
        self.subscribe_with(SubscribeOptions::new(name))
    }

    /// Subscribes. The subscription receives every event flushed after the
    /// publisher's next flush begins. If the broadcaster is already closed,
    /// the first receive returns [`RecvError::Closed`].
    pub fn subscribe_with(&self, opts: SubscribeOptions) -> Subscription {
        let hub = &self.hub;
        let capacity = opts
            .capacity
            .unwrap_or(hub.config.default_capacity)
            .max(hub.config.max_batch)
            .max(1);
        let (tx, rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(Shared {
            id: hub.next_id.fetch_add(1, Ordering::Relaxed),
            name: opts.name,
            capacity,
            delivery: opts.delivery,
            state: AtomicU8::new(STATE_JOINING),
            joined_seq: AtomicU64::new(NO_SEQ),
            left_seq: AtomicU64::new(NO_SEQ),
            evictions: AtomicU32::new(0),
            evict_reason: AtomicU64::new(0),
            pubs: CachePadded::new(PublisherSide::default()),
            subs: CachePadded::new(SubscriberSide {
                consumed: AtomicU64::new(0),
                discarded: AtomicU64::new(0),
                unread: AtomicU64::new(0),
                last_recv: AtomicU64::new(NO_RECV),
            }),
        });
        let retained = hub.config.ended_retained;
        hub.registry.rcu(|list| {
            // A subscriber that comes back under an ended one's name inherits
            // its eviction history and takes its row.
            let mut next: Vec<Arc<Shared>> = Vec::with_capacity(list.len() + 1);
            for s in list.iter() {
                if s.name == shared.name && s.state().is_ended() {
                    shared
                        .evictions
                        .fetch_max(s.evictions.load(Ordering::Acquire), Ordering::AcqRel);
                    if shared.evict_reason.load(Ordering::Acquire) == 0 {
                        shared
                            .evict_reason
                            .store(s.evict_reason.load(Ordering::Acquire), Ordering::Release);
                    }
                } else {
                    next.push(s.clone());
                }
            }
            next.push(shared.clone());
            trim_ended(&mut next, retained);
            next
        });
        let sent = hub.joins_tx.send((shared.clone(), tx)).is_ok();
        hub.joins_pending.store(true, Ordering::Release);
        if hub.closed.load(Ordering::Acquire) || !sent {
            shared.state.store(STATE_CLOSED, Ordering::Release);
        } else if hub.closed.load(Ordering::Acquire) {
            // The publisher closed while we joined: it may already have
            // drained its joins, and would then never close this one.
            let _ = shared
                .state
                .compare_exchange(STATE_JOINING, STATE_CLOSED, Ordering::AcqRel, Ordering::Acquire);
        }
        Subscription {
            shared,
            rx,
            clock: hub.clock.clone(),
        }
    }

    /// Stats of every live subscriber and the last few ended ones, in
    /// subscription order.
    pub fn stats(&self) -> Vec<SubscriberStats> {
        let published = self.hub.events.load(Ordering::Acquire);
        self.hub
            .registry
            .load()
            .iter()
            .map(|s| stats_of(s, published))
            .collect()
    }

    pub fn publisher_stats(&self) -> PublisherStats {
        PublisherStats {
            events: self.hub.events.load(Ordering::Acquire),
            batches: self.hub.batches.load(Ordering::Acquire),
            busy_ns: self.hub.busy_ns.load(Ordering::Acquire),
            subscribers: self.hub.active.load(Ordering::Acquire),
        }
    }

    pub fn clock(&self) -> &Clock {
        &self.hub.clock
    }

    pub fn config(&self) -> &BroadcastConfig {
        &self.hub.config
    }
}

fn trim_ended(list: &mut Vec<Arc<Shared>>, retained: usize) {
    let ended = list.iter().filter(|s| s.state().is_ended()).count();
    let mut excess = ended.saturating_sub(retained);
    list.retain(|s| {
        if excess > 0 && s.state().is_ended() {
            excess -= 1;
            false
        } else {
            true
        }
    });
}

fn stats_of(s: &Shared, published_now: u64) -> SubscriberStats {
    let state = s.state();
    let joined = s.joined_seq.load(Ordering::Acquire);
    let published = match state {
        SubscriberState::Joining => 0,
        SubscriberState::Healthy | SubscriberState::Lagging => published_now.saturating_sub(joined),
        // Never taken on: nothing was published to it.
        _ if joined == NO_SEQ => 0,
        // Unsubscribed, not yet retired: nothing was offered to it since.
        _ => match s.left_seq.load(Ordering::Acquire) {
            NO_SEQ => published_now.saturating_sub(joined),
            left => left.saturating_sub(joined),
        },
    };
    let last = s.subs.last_recv.load(Ordering::Acquire);
    SubscriberStats {
        id: s.id,
        name: s.name.clone(),
        state,
        queued: s.queued(),
        capacity: s.capacity as u64,
        delivered: s.delivered(),
        dropped: s.dropped(),
        published_while_subscribed: published.saturating_sub(s.subs.unread.load(Ordering::Acquire)),
        last_recv: (last != NO_RECV).then_some(last),
        evictions: s.evictions.load(Ordering::Acquire),
        last_evict_reason: s.reason(),
        delivery: s.delivery,
    }
}

/// The receiving end of one subscriber. Dropping it unsubscribes.
pub struct Subscription {
    shared: Arc<Shared>,
    rx: Receiver<Batch>,
    clock: Clock,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.shared.id)
            .field("name", &self.shared.name)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    pub fn id(&self) -> SubscriberId {
        self.shared.id
    }

    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Waits for the next batch.
    pub fn recv(&self) -> Result<Batch, RecvError> {
        if let Some(end) = self.evicted() {
            return Err(end);
        }
        let r = self.rx.recv().ok();
        self.accept(r)
    }

    /// The next batch if one is queued: `Ok(None)` when the queue is empty.
    pub fn try_recv(&self) -> Result<Option<Batch>, RecvError> {
        if let Some(end) = self.evicted() {
            return Err(end);
        }
        match self.rx.try_recv() {
            Ok(b) => self.accept(Some(b)).map(Some),
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => self.accept(None).map(Some),
        }
    }

    /// Waits at most `timeout` for the next batch: `Ok(None)` on time-out.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<Batch>, RecvError> {
        if let Some(end) = self.evicted() {
            return Err(end);
        }
        match self.rx.recv_timeout(timeout) {
            Ok(b) => self.accept(Some(b)).map(Some),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => self.accept(None).map(Some),
        }
    }

    /// Waits until `deadline` for the next batch: `Ok(None)` when it passes.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<Option<Batch>, RecvError> {
        self.recv_timeout(deadline.saturating_duration_since(Instant::now()))
    }

    /// Receives every queued batch and hands each event to `f`, without
    /// waiting. Returns how many events were handled, or how the subscription
    /// ended (after handling what was queued).
    pub fn drain(&self, mut f: impl FnMut(&Event)) -> Result<usize, RecvError> {
        let mut n = 0;
        while let Some(batch) = self.try_recv()? {
            n += batch.len();
            batch.iter().for_each(&mut f);
        }
        Ok(n)
    }

    /// This subscriber's counters now.
    pub fn stats(&self) -> SubscriberStats {
        // Published count is the hub's; the subscription does not hold the
        // hub, so this reads the frozen value for ended subscribers and an
        // estimate (delivered + dropped + queued) for live ones.
        let mut s = stats_of(&self.shared, 0);
        if !s.state.is_ended() {
            s.published_while_subscribed = s.delivered + s.dropped + s.queued;
        }
        s
    }

    fn evicted(&self) -> Option<RecvError> {
        if self.shared.state.load(Ordering::Acquire) != STATE_EVICTED {
            return None;
        }
        self.shared.discard(&self.rx);
        Some(RecvError::Evicted {
            reason: self.shared.reason().unwrap_or(EvictReason::TooManyDrops { dropped: 0 }),
            dropped: self.shared.dropped(),
        })
    }

    fn accept(&self, r: Option<Batch>) -> Result<Batch, RecvError> {
        match r {
            Some(batch) => {
                let subs = &self.shared.subs;
                subs.consumed.fetch_add(batch.len() as u64, Ordering::AcqRel);
                subs.last_recv.store(self.clock.now(), Ordering::Release);
                Ok(batch)
            }
            None => Err(self.evicted().unwrap_or(RecvError::Closed)),
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let _ = self
            .shared
            .state
            .compare_exchange(STATE_JOINING, STATE_CLOSED, Ordering::AcqRel, Ordering::Acquire);
        let _ = self
            .shared
            .state
            .compare_exchange(STATE_HEALTHY, STATE_CLOSED, Ordering::AcqRel, Ordering::Acquire);
        let _ = self
            .shared
            .state
            .compare_exchange(STATE_LAGGING, STATE_CLOSED, Ordering::AcqRel, Ordering::Acquire);
        if self.shared.state.load(Ordering::Acquire) == STATE_EVICTED {
            self.shared.discard(&self.rx);
        } else {
            self.shared.leave_unread(&self.rx);
        }
    }
}

/// The publisher's view of one subscriber.
struct Slot {
    shared: Arc<Shared>,
    tx: Sender<Batch>,
    /// Broadcaster time of the first drop in the current lagging spell.
    full_since: Option<Nanos>,
    drops_in_spell: u64,
    /// Its `delivered` count at its last drop: a lagging spell ends only once
    /// it has received since (an announcement that still fits is no catch-up).
    delivered_at_drop: u64,
    /// Events this slot put in the queue (mirrored in `pubs.enqueued`).
    enqueued: u64,
    /// The subscriber's `consumed` as last read: re-read only when the
    /// queue looks full, so a publish normally never reads the line the
    /// subscriber writes.
    consumed_seen: u64,
    /// Events flushed when it was found closed and skipped, if it was.
    left_at: Option<u64>,
}

/// The publishing half. Owned by one thread; not `Clone`.
pub struct Publisher {
    hub: Arc<Hub>,
    joins_rx: Receiver<(Arc<Shared>, Sender<Batch>)>,
    slots: Vec<Slot>,
    buf: Vec<Event>,
    /// Broadcaster time of the first tick that saw the buffer non-empty.
    buf_oldest: Option<Nanos>,
    /// Announcements (joins, evictions, ...) for the next flush.
    notices: Vec<EventKind>,
    /// Events flushed so far (mirrors `hub.events`, owned here).
    seq: u64,
    /// Timestamp of the newest event flushed.
    last_t: Nanos,
    /// Flushes so far (for sampling the cost figure).
    flushes: u64,
    /// `config.max_batch`, kept at hand for the per-event check.
    max_batch: usize,
    /// Batches delivered (mirrored in `hub.batches`).
    batches: u64,
}

/// One flush in this many is timed for [`PublisherStats::busy_ns`].
pub const TIME_EVERY: u64 = 8;

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("subscribers", &self.slots.len())
            .field("buffered", &self.buf.len())
            .finish()
    }
}

impl Publisher {
    /// A handle for subscribing and stats.
    pub fn broadcaster(&self) -> Broadcaster {
        Broadcaster { hub: self.hub.clone() }
    }

    /// Buffers one event; flushes when the buffer reaches `max_batch`.
    /// Inlined into the caller: it runs once per event.
    #[inline]
    pub fn publish(&mut self, event: Event) {
        self.buf.push(event);
        if self.buf.len() >= self.max_batch {
            self.flush();
        }
    }

    /// Buffers events in order, flushing full batches as they fill.
    pub fn publish_all(&mut self, events: &[Event]) {
        for e in events {
            self.publish(*e);
        }
    }

    /// Flushes a partial batch that has waited `max_batch_age` (counted from
    /// the first tick that saw it, so publishing itself never reads the
    /// clock), and takes on new subscribers and retires closed ones even when
    /// nothing is buffered. Call it from the publishing thread's loop.
    pub fn tick(&mut self) {
        let old = if self.buf.is_empty() {
            false
        } else {
            let now = self.hub.clock.now();
            now.saturating_sub(*self.buf_oldest.get_or_insert(now)) >= self.hub.config.max_batch_age
        };
        if old
            || !self.notices.is_empty()
            || !self.joins_rx.is_empty()
            || self
                .slots
                .iter()
                .any(|s| s.shared.state.load(Ordering::Acquire) == STATE_CLOSED)
        {
            self.flush();
        }
    }

    /// Events buffered and not yet flushed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Subscribers currently receiving.
    pub fn subscriber_count(&self) -> usize {
        self.slots.len()
    }

    /// Offers everything buffered to every subscriber, as one batch (plus
    /// batches of announcements, if the flush produced any). Pending
    /// announcements share that batch when it stays within `max_batch`, and
    /// go first in batches of their own otherwise: no batch is ever larger.
    pub fn flush(&mut self) {
        // The cost figure is sampled: one flush in `TIME_EVERY` is timed and
        // counts for `TIME_EVERY` (two clock reads per flush would be a
        // visible share of a small flush's cost).
        self.flushes = self.flushes.wrapping_add(1);
        let started = self.flushes.is_multiple_of(TIME_EVERY).then(Instant::now);
        self.maintain();
        if self.buf.is_empty() {
            // Nothing of our own to deliver: retire subscribers that left
            // meanwhile, so their announcement goes out now (a delivery
            // retires on its way).
            self.retire();
        }
        let mut delivered = false;
        if !self.notices.is_empty() {
            if self.buf.len() + self.notices.len() <= self.hub.config.max_batch {
                let now = self.time_hint();
                let notices: Vec<Event> = self.notices.drain(..).map(|k| Event::new(now, k)).collect();
                self.buf.splice(0..0, notices);
            } else {
                // Sharing the batch would make it larger than `max_batch`
                // (which a queue of that capacity could never take, and a
                // `Wait` subscriber would wait for forever): they go first.
                self.announce();
                delivered = true;
            }
        }
        if !self.buf.is_empty() {
            let batch: Batch = Arc::from(self.buf.as_slice());
            self.buf.clear();
            self.buf_oldest = None;
            self.deliver(&batch);
            delivered = true;
        }
        if delivered && !self.notices.is_empty() {
            // Evictions announced by this very delivery go out now, so
            // the others learn of them without waiting for more traffic.
            self.announce();
        }
        if let Some(started) = started {
            let busy = started.elapsed().as_nanos() as u64 * TIME_EVERY;
            self.hub.busy_ns.fetch_add(busy, Ordering::Relaxed);
        }
    }

    /// Delivers the pending announcements, in batches of at most `max_batch`.
    fn announce(&mut self) {
        let now = self.time_hint();
        let notices: Vec<Event> = self.notices.drain(..).map(|k| Event::new(now, k)).collect();
        for chunk in notices.chunks(self.hub.config.max_batch.max(1)) {
            self.deliver(&Batch::from(chunk));
        }
    }

    /// The pipeline-clock time to stamp announcements with, so they sort
    /// with the stream: the first buffered event's (announcements go before
    /// the buffer), else the newest flushed one's.
    fn time_hint(&self) -> Nanos {
        self.buf.first().map_or(self.last_t, |e| e.t)
    }

    fn deliver(&mut self, batch: &Batch) {
        let n = batch.len();
        // Read the clock only if a drop needs it.
        let mut now = None;
        let policy = self.hub.config.eviction;
        let seq_before = self.seq;
        let mut removed = false;
        for slot in &mut self.slots {
            let s = &*slot.shared;
            match s.state.load(Ordering::Acquire) {
                STATE_CLOSED => {
                    // Unsubscribed during this flush: this batch is not its.
                    slot.left_at.get_or_insert(seq_before);
                    removed = true;
                    continue;
                }
                STATE_EVICTED => {
                    removed = true;
                    continue;
                }
                _ => {}
            }
            let cap = s.capacity as u64;
            let n64 = n as u64;
            // The queue's length from our own count and the subscriber's
            // consumption as last seen (an overestimate); re-read the latter
            // only when that says the batch does not fit, or while lagging.
            if slot.enqueued - slot.consumed_seen + n64 > cap || slot.full_since.is_some() {
                slot.consumed_seen = s.subs.consumed.load(Ordering::Acquire);
            }
            if s.delivery == Delivery::Wait && slot.enqueued - slot.consumed_seen + n64 > cap {
                slot.consumed_seen = wait_for_room(s, slot.enqueued, n64);
                if s.state.load(Ordering::Acquire) == STATE_CLOSED {
                    slot.left_at.get_or_insert(seq_before);
                    removed = true;
                    continue;
                }
            }
            let queued_before = slot.enqueued - slot.consumed_seen;
            if queued_before + n64 <= cap {
                slot.enqueued += n64;
                s.pubs.enqueued.store(slot.enqueued, Ordering::Release);
                if slot.tx.send(batch.clone()).is_err() {
                    slot.enqueued -= n64;
                    s.pubs.enqueued.store(slot.enqueued, Ordering::Release);
                    slot.left_at.get_or_insert(seq_before);
                    removed = true;
                    continue;
                }
                // Hysteresis: a lagging spell ends only once the subscriber
                // has received since its last drop *and* its queue is back to
                // half full or less, so a consumer that nibbles one batch at a
                // time stays lagging (and is evicted) instead of flapping.
                if slot.full_since.is_some() && slot.consumed_seen != slot.delivered_at_drop && queued_before <= cap / 2
                {
                    slot.full_since = None;
                    slot.drops_in_spell = 0;
                    let _ = s
                        .state
                        .compare_exchange(STATE_LAGGING, STATE_HEALTHY, Ordering::AcqRel, Ordering::Acquire);
                }
            } else {
                s.pubs.dropped.fetch_add(n64, Ordering::AcqRel);
                slot.drops_in_spell += n64;
                slot.delivered_at_drop = slot.consumed_seen;
                let now = *now.get_or_insert_with(|| self.hub.clock.now());
                let since = *slot.full_since.get_or_insert(now);
                if s.state
                    .compare_exchange(STATE_HEALTHY, STATE_LAGGING, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    self.notices.push(EventKind::SubscriberLagging {
                        id: s.id,
                        dropped: s.dropped(),
                    });
                }
                let full_for = now.saturating_sub(since);
                let reason = match policy {
                    EvictionPolicy {
                        full_for: Some(limit), ..
                    } if full_for >= limit => Some(EvictReason::QueueFull { for_ns: limit }),
                    EvictionPolicy {
                        max_drops: Some(limit), ..
                    } if slot.drops_in_spell >= limit => Some(EvictReason::TooManyDrops { dropped: limit }),
                    _ => None,
                };
                if let Some(reason) = reason {
                    s.set_reason(reason);
                    s.evictions.fetch_add(1, Ordering::AcqRel);
                    s.state.store(STATE_EVICTED, Ordering::Release);
                    removed = true;
                    // What it loses in all: its drops so far and what is
                    // still queued, which its next receive discards.
                    let queued = slot.enqueued.saturating_sub(s.subs.consumed.load(Ordering::Acquire));
                    self.notices.push(EventKind::SubscriberEvicted {
                        id: s.id,
                        reason,
                        dropped: s.dropped() + queued,
                    });
                }
            }
        }
        self.seq += n as u64;
        self.last_t = batch.last().map_or(self.last_t, |e| e.t);
        self.hub.events.store(self.seq, Ordering::Release);
        self.batches += 1;
        self.hub.batches.store(self.batches, Ordering::Relaxed);
        if removed {
            self.retire();
        }
    }

    /// Takes on subscribers that joined since the last flush and retires
    /// closed ones.
    fn maintain(&mut self) {
        // A plain load in the common case; the channel only when someone joined.
        if !self.hub.joins_pending.swap(false, Ordering::AcqRel) {
            return;
        }
        while let Ok((shared, tx)) = self.joins_rx.try_recv() {
            shared.joined_seq.store(self.seq, Ordering::Release);
            if shared
                .state
                .compare_exchange(STATE_JOINING, STATE_HEALTHY, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                self.notices.push(EventKind::SubscriberJoined { id: shared.id });
                self.slots.push(Slot {
                    shared,
                    tx,
                    full_since: None,
                    drops_in_spell: 0,
                    delivered_at_drop: 0,
                    enqueued: 0,
                    consumed_seen: 0,
                    left_at: None,
                });
            } else {
                // Dropped before we took it on: it saw nothing.
                shared.left_seq.store(self.seq, Ordering::Release);
            }
        }
    }

    fn retire(&mut self) {
        let seq = self.seq;
        let notices = &mut self.notices;
        self.slots.retain(|slot| {
            let state = slot.shared.state.load(Ordering::Acquire);
            let keep = state == STATE_HEALTHY || state == STATE_LAGGING;
            if !keep {
                slot.shared
                    .left_seq
                    .store(slot.left_at.unwrap_or(seq), Ordering::Release);
                if state == STATE_CLOSED {
                    notices.push(EventKind::SubscriberLeft { id: slot.shared.id });
                }
            }
            keep
        });
        self.hub.active.store(self.slots.len() as u32, Ordering::Release);
        let retained = self.hub.config.ended_retained;
        if self.hub.registry.load().iter().filter(|s| s.state().is_ended()).count() > retained {
            self.hub.registry.rcu(|list| {
                let mut next = (**list).clone();
                trim_ended(&mut next, retained);
                next
            });
        }
    }

    /// Flushes what is buffered, then closes every queue: subscribers receive
    /// everything published, then [`RecvError::Closed`].
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if self.hub.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        self.flush();
        let seq = self.seq;
        for slot in self.slots.drain(..) {
            slot.shared.left_seq.store(seq, Ordering::Release);
            let _ =
                slot.shared
                    .state
                    .compare_exchange(STATE_HEALTHY, STATE_CLOSED, Ordering::AcqRel, Ordering::Acquire);
            let _ =
                slot.shared
                    .state
                    .compare_exchange(STATE_LAGGING, STATE_CLOSED, Ordering::AcqRel, Ordering::Acquire);
        }
        // Late joiners: nothing more will be published.
        while let Ok((shared, _tx)) = self.joins_rx.try_recv() {
            shared.joined_seq.store(seq, Ordering::Release);
            shared.left_seq.store(seq, Ordering::Release);
            shared.state.store(STATE_CLOSED, Ordering::Release);
        }
        self.hub.active.store(0, Ordering::Release);
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Waits until `n` more events fit `s`'s queue (or it closes); returns the
/// subscriber's consumption as last read.
fn wait_for_room(s: &Shared, enqueued: u64, n: u64) -> u64 {
    let mut spins = 0u32;
    loop {
        let consumed = s.subs.consumed.load(Ordering::Acquire);
        if enqueued - consumed + n <= s.capacity as u64 || s.state.load(Ordering::Acquire) == STATE_CLOSED {
            return consumed;
        }
        spins += 1;
        if spins < 64 {
            std::hint::spin_loop();
        } else if spins < 128 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(20));
        }
    }
}
