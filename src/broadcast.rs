//! The fan-out: one [`Publisher`] hands every event to any number of
//! [`Subscription`]s (the design note's `MetricsBroadcaster`).
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
//! subscribers only when one of them *could* have fallen a full queue behind
//! (it remembers each cursor as last seen, and a cursor only moves forward),
//! while one is lagging, and when one joins or leaves. It never waits (except
//! for [`Delivery::Wait`] subscribers, see below).
//!
//! The [`Broadcaster`] handle is cheap to clone and `Send`: any thread can
//! [`subscribe`](Broadcaster::subscribe) at any time, and read every
//! subscriber's [`SubscriberStats`] and the [`PublisherStats`] without
//! stopping the publisher (they are derived from atomics: the head, and each
//! subscriber's cursor and drop count, each with one writer).
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
//! let batch = sub.try_recv().unwrap().expect("a batch");
//! // Its own "joined" announcement, then the event.
//! assert_eq!(batch.len(), 2);
//! assert_eq!(batch[1].t, 1);
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
//! not the oldest; unlike it, the loss is counted in the stats rather than
//! returned as an error, so receiving code stays a plain loop.
//!
//! The publisher notices a subscriber that is losing events at the next flush
//! after it falls a full queue behind, marks it [`SubscriberState::Lagging`],
//! and publishes [`EventKind::SubscriberLagging`] to everyone. A lagging
//! subscriber is healthy again once it has received something since its last
//! observed loss *and* its queue is back to half its capacity or less (the
//! hysteresis keeps a consumer that nibbles one batch at a time from
//! flapping). The events it lost stay counted. It never sees a gap marker in
//! the stream itself: the counters in [`Subscription::stats`] are the record.
//!
//! # Eviction
//!
//! Under the [`EvictionPolicy`] a subscriber that stays lagging for
//! `full_for` (default 2 s on the broadcaster's clock, from when its loss was
//! first observed), or that loses `max_drops` events in one lagging spell (off
//! by default), is evicted at the first flush or tick that sees it cross the
//! limit (with more than [`LAG_CHECK_ALWAYS`] lagging, lagging subscribers
//! are looked at once per [`LAG_CHECK_EVERY`] rather than at every flush).
//! Eviction removes it from the publisher, publishes
//! [`EventKind::SubscriberEvicted`] to everyone else, and makes the evicted
//! subscription's next receive return [`RecvError::Evicted`] with the reason
//! and its total loss: what it dropped, plus everything still in its queue,
//! which it will not receive. To keep watching, subscribe again.
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
//!     clock.advance(SECONDS); // `stalled` never receives: it falls behind
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
//! Dropping a [`Subscription`] unsubscribes it: the events it left unread
//! count as never published to it (not as dropped), and the publisher forgets
//! it (and publishes [`EventKind::SubscriberLeft`]) at its next flush or tick.
//! A subscription holds no queue of its own, so there is nothing else to free.
//! Dropping or [closing](Publisher::close) the publisher closes every
//! subscription *after* what is queued: subscribers receive everything that
//! was published (within their capacity), then [`RecvError::Closed`].
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
//! For every subscriber, at every moment that neither side is in the middle
//! of a call: `published_while_subscribed == delivered + dropped + queued`.
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
//! atomic words ([`crate::words`]), in blocks of 16 events guarded by one
//! sequence stamp each (a seqlock). A reader checks a block's stamp before
//! and after copying what it wants from it, so it either gets the events it
//! asked for or learns the block was overwritten, never a torn mix; no
//! `unsafe` anywhere. A receiver that finds nothing waits on a condition
//! variable the publisher signals after a flush, only when someone is
//! waiting.
//!
//! Decoding is shared. Once a whole page of [`PAGE`] events is published,
//! the first reader to want it decodes it (checking every block's stamp, as
//! above) into an immutable page and offers it to the others through one of
//! [`PAGES`] slots, by compare-and-swap: they read its events in place, so
//! with N subscribers an event is decoded about once rather than N times.
//! A page only ever replaces an older one in its slot, and a reader that finds a
//! newer page there, or no other subscriber to share with, reads the ring
//! itself. The publisher never touches pages.
//!
//! # Bounds
//!
//! The ring: [`BroadcastConfig::ring_capacity`] events (rounded up to a power
//! of two; 32 bytes each, plus 8 per block of 16), allocated once. A
//! subscriber's queue: its `capacity` events, at most the ring's size less
//! one batch and one block. Decoded pages: [`PAGES`] of [`PAGE`] events
//! (40 bytes each: 640 KiB in all), plus at most [`SPARE_PAGES`] kept for
//! reuse and, briefly, a page a reader still holds when it is replaced.
//! Events written but not yet published: at most `max_batch`. Stats of
//! ended subscribers: the last
//! [`BroadcastConfig::ended_retained`] are kept for display, the rest freed.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, ArcSwapOption};
use crossbeam_channel::{Receiver, Sender};
use crossbeam_utils::CachePadded;

use crate::clock::Clock;
use crate::event::{Event, EventKind, EvictReason, Nanos, SECONDS, SubscriberId};
use crate::words::{self, WORDS};

/// What a receive hands back: up to `max_batch` events, in publish order.
pub type Batch = Vec<Event>;

/// Default size of the shared ring, in events (8 MiB).
pub const DEFAULT_RING_CAPACITY: usize = 1 << 18;
/// Default per-subscriber queue bound, in events.
pub const DEFAULT_SUBSCRIBER_CAPACITY: usize = 65_536;
/// Default largest batch, in events.
pub const DEFAULT_MAX_BATCH: usize = 256;
/// Default age at which [`Publisher::tick`] flushes a partial batch.
pub const DEFAULT_MAX_BATCH_AGE: Nanos = 40_000;
/// Default time a subscriber may stay lagging before eviction.
pub const DEFAULT_EVICT_AFTER: Nanos = 2 * SECONDS;
/// Up to this many lagging subscribers are looked at again (recovered,
/// evicted) at every flush; more are looked at once per [`LAG_CHECK_EVERY`]
/// of broadcaster time, so thousands lagging do not make every flush cost
/// a look at each.
pub const LAG_CHECK_ALWAYS: usize = 64;
pub const LAG_CHECK_EVERY: Nanos = 1_000_000;
/// Default number of ended subscribers whose stats are kept for display.
pub const DEFAULT_ENDED_RETAINED: usize = 32;

/// When a lagging subscriber is evicted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvictionPolicy {
    /// Evict when it has been lagging this long (ns). `None`: never on time.
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
    /// Events the shared ring holds (rounded up to a power of two, and to at
    /// least `default_capacity + max_batch + 16`). It bounds every queue.
    pub ring_capacity: usize,
    /// Queue bound for subscribers that do not choose their own, in events.
    pub default_capacity: usize,
    /// A buffer of this many events is flushed at once, and a receive hands
    /// back at most this many.
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
            ring_capacity: DEFAULT_RING_CAPACITY,
            default_capacity: DEFAULT_SUBSCRIBER_CAPACITY,
            max_batch: DEFAULT_MAX_BATCH,
            max_batch_age: DEFAULT_MAX_BATCH_AGE,
            eviction: EvictionPolicy::default(),
            ended_retained: DEFAULT_ENDED_RETAINED,
        }
    }
}

/// What the publisher does when a subscriber is a full queue behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Delivery {
    /// Let it lose its oldest events, count them, evict under the policy.
    #[default]
    Drop,
    /// Wait for it (never evicted). For virtual-time runs only.
    Wait,
}

/// How to subscribe.
#[derive(Clone, Debug)]
pub struct SubscribeOptions {
    pub name: String,
    /// Queue bound in events; `None` uses the broadcaster's default. Kept
    /// within `max_batch ..= ring size - max_batch - 16` (the most the ring
    /// can hold for it while the publisher writes the next batch).
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
    /// It fell a full queue behind: it is losing its oldest events.
    Lagging,
    Evicted,
    /// Unsubscribed, or the publisher closed.
    Closed,
}

impl SubscriberState {
    fn from_u8(v: u8) -> Self {
        match v {
            STATE_JOINING => SubscriberState::Joining,
            STATE_HEALTHY => SubscriberState::Healthy,
            STATE_LAGGING => SubscriberState::Lagging,
            STATE_EVICTED => SubscriberState::Evicted,
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
    /// Flushes that published something (each advances the head once per
    /// `max_batch` events).
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
/// A block's stamp while the publisher rewrites it.
const WRITING: u64 = u64::MAX;
/// Events per block: the unit one stamp guards.
const BLOCK: u64 = 16;
/// What [`Ring::decode_block`] returns for a whole block, every event decoded.
const WHOLE_BLOCK: u32 = u32::MAX >> (32 - BLOCK);
/// Events per page: the unit readers share decoded. The first reader to
/// want a whole published page decodes it for everyone (when there is
/// anyone to share it with); the others read the events it made.
pub const PAGE: u64 = 256;
/// Decoded pages kept shared: the newest `PAGES` (16,384 events, 640 KiB).
pub const PAGES: usize = 64;

/// Events `first .. first + PAGE`, decoded from the ring. Immutable once
/// shared.
struct Page {
    first: u64,
    events: Box<[Event]>,
}

/// What a page buffer holds before it is first written.
const BLANK: Event = Event::new(0, EventKind::RequestArrived { id: 0 });

/// A reader's hold on a shared page (a slot's `Some`, as loaded).
type PageGuard = arc_swap::Guard<Option<Arc<Page>>>;

/// Where a slot's page is, to tell whether a compare-and-swap took.
fn ptr(page: &Option<Arc<Page>>) -> Option<*const Page> {
    page.as_ref().map(Arc::as_ptr)
}

/// The newest decoded pages, page `first / PAGE` in slot
/// `first / PAGE % PAGES`. Written by readers, by compare-and-swap, only
/// with a page newer than the one it replaces; never by the publisher.
struct Pages {
    slots: Box<[ArcSwapOption<Page>]>,
    /// Buffers of pages no reader holds any more, to decode the next into.
    spares: Receiver<Box<[Event]>>,
    recycled: Sender<Box<[Event]>>,
}

/// Page buffers kept for reuse, at most.
pub const SPARE_PAGES: usize = 4;

impl Pages {
    fn new() -> Pages {
        let (recycled, spares) = crossbeam_channel::bounded(SPARE_PAGES);
        Pages {
            slots: std::iter::repeat_with(ArcSwapOption::empty).take(PAGES).collect(),
            spares,
            recycled,
        }
    }

    /// A buffer to decode a page into: a spare if there is one.
    fn spare(&self) -> Box<[Event]> {
        self.spares
            .try_recv()
            .unwrap_or_else(|_| vec![BLANK; PAGE as usize].into_boxed_slice())
    }

    /// Keeps `events` for reuse, or frees it if enough are kept.
    fn recycle(&self, events: Box<[Event]>) {
        let _ = self.recycled.try_send(events);
    }

    fn slot(&self, first: u64) -> &ArcSwapOption<Page> {
        &self.slots[(first / PAGE) as usize % PAGES]
    }
}

/// The shared ring of events, each as [`WORDS`] relaxed atomic words, in
/// blocks of [`BLOCK`] guarded by one stamp each (a seqlock): `first + 1`
/// while the block holds the lap whose first sequence number is `first`,
/// [`WRITING`] while the publisher starts a new lap in it, 0 before it was
/// ever written. Written by the publisher only.
struct Ring {
    words: Box<[AtomicU64]>,
    stamps: Box<[AtomicU64]>,
    mask: u64,
}

impl Ring {
    fn new(len: usize) -> Ring {
        debug_assert!(len.is_power_of_two() && len as u64 >= BLOCK);
        Ring {
            words: std::iter::repeat_with(AtomicU64::default).take(len * WORDS).collect(),
            stamps: std::iter::repeat_with(AtomicU64::default)
                .take(len / BLOCK as usize)
                .collect(),
            mask: len as u64 - 1,
        }
    }

    fn len(&self) -> u64 {
        self.mask + 1
    }

    /// Writes `e` as sequence number `seq`, after `seq - 1`. The first write
    /// of a block's new lap marks the block, so readers of the lap it
    /// replaces see it overwritten, never torn.
    #[inline]
    fn write(&self, seq: u64, e: &Event) {
        if seq.is_multiple_of(BLOCK) {
            self.write_first(seq, e);
        } else {
            self.write_next(seq, e);
        }
    }

    /// Writes the first event of a block's new lap.
    #[inline]
    fn write_first(&self, seq: u64, e: &Event) {
        let stamp = &self.stamps[((seq & self.mask) / BLOCK) as usize];
        stamp.store(WRITING, Ordering::Relaxed);
        fence(Ordering::Release);
        self.write_next(seq, e);
        stamp.store(seq + 1, Ordering::Release);
    }

    /// Writes an event into a block whose lap has begun.
    #[inline]
    fn write_next(&self, seq: u64, e: &Event) {
        let i = (seq & self.mask) as usize * WORDS;
        for (a, v) in self.words[i..i + WORDS].iter().zip(words::encode(e)) {
            a.store(v, Ordering::Relaxed);
        }
    }

    /// The timestamp of the event written as `seq` (by this thread).
    fn time_of(&self, seq: u64) -> Nanos {
        self.words[(seq & self.mask) as usize * WORDS].load(Ordering::Relaxed)
    }

    /// Decodes events `from..to` (published, within one block) into `out`,
    /// straight from the ring: `None` if the block has been (or is being)
    /// overwritten, else which of them decoded (bit `i` for `out[i]`; all of
    /// them, unless the words are not an encoding, which checked words
    /// always are). A torn read is harmless because it is discarded: the
    /// stamp is checked again after.
    #[inline]
    fn decode_block(&self, from: u64, to: u64, out: &mut [Event]) -> Option<u32> {
        let first = from - from % BLOCK;
        debug_assert!(to <= first + BLOCK && out.len() >= (to - from) as usize);
        let stamp = &self.stamps[((from & self.mask) / BLOCK) as usize];
        if stamp.load(Ordering::Acquire) != first + 1 {
            return None;
        }
        // A block never wraps the ring: one slice, no per-word bounds checks.
        let i = (from & self.mask) as usize * WORDS;
        let src = &self.words[i..i + (to - from) as usize * WORDS];
        let mut decoded = 0;
        for (k, (e, w)) in out.iter_mut().zip(src.chunks_exact(WORDS)).enumerate() {
            let ok = words::decode_into(std::array::from_fn(|j| w[j].load(Ordering::Relaxed)), e);
            decoded |= u32::from(ok) << k;
        }
        fence(Ordering::Acquire);
        (stamp.load(Ordering::Relaxed) == first + 1).then_some(decoded)
    }
}

/// One subscriber's state, shared between its subscription, the publisher
/// and stats readers. The subscription writes its cursor and counters; the
/// publisher writes the join and, on eviction or close, the end; the state
/// changes by compare-and-swap, and whoever moves it to an end writes
/// `left_seq`.
#[derive(Debug)]
struct Shared {
    id: SubscriberId,
    name: String,
    capacity: u64,
    delivery: Delivery,
    state: AtomicU8,
    /// The head when the publisher took it on: the first event it is offered.
    joined_seq: AtomicU64,
    /// The head when it ended (unsubscribed, evicted or closed).
    left_seq: AtomicU64,
    evictions: AtomicU32,
    /// Encoded [`EvictReason`]: tag in the top bit, value below. 0 = none.
    evict_reason: AtomicU64,
    subs: CachePadded<SubscriberSide>,
}

/// Written by the subscription only (the cursor also by the publisher, once,
/// before it takes the subscriber on).
#[derive(Debug)]
struct SubscriberSide {
    /// The next sequence number it will read: everything before was
    /// delivered, skipped, or left unread.
    cursor: AtomicU64,
    /// Events it skipped because they fell out of its window.
    skipped: AtomicU64,
    /// Still queued when the subscription was dropped: the subscriber chose
    /// to leave them, so they are neither delivered nor dropped, and do not
    /// count as published to it.
    unread: AtomicU64,
    last_recv: AtomicU64,
}

const REASON_DROPS_BIT: u64 = 1 << 63;

/// A subscriber's counters, derived from the head and its cursor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Account {
    published: u64,
    delivered: u64,
    dropped: u64,
    queued: u64,
}

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
    /// Where its stream ends for accounting: the head while it is live, the
    /// head when it ended otherwise (the current head until that is written).
    fn end(&self, state: u8, head: u64) -> u64 {
        match state {
            STATE_EVICTED | STATE_CLOSED => match self.left_seq.load(Ordering::Acquire) {
                NO_SEQ => head,
                left => left,
            },
            _ => head,
        }
    }
    /// Its counters, given the publisher's head.
    fn account(&self, head: u64) -> Account {
        let state = self.state.load(Ordering::Acquire);
        let joined = self.joined_seq.load(Ordering::Acquire);
        if joined == NO_SEQ {
            return Account::default(); // never taken on: nothing was offered to it
        }
        let cursor = self.subs.cursor.load(Ordering::Acquire);
        let skipped = self.subs.skipped.load(Ordering::Acquire);
        let unread = self.subs.unread.load(Ordering::Acquire);
        let end = self.end(state, head).max(cursor);
        let backlog = end - cursor;
        // An evicted subscriber loses everything it had not received.
        let queued = if state == STATE_EVICTED {
            0
        } else {
            backlog.min(self.capacity)
        };
        Account {
            published: (end - joined).saturating_sub(unread),
            delivered: (cursor - joined).saturating_sub(skipped + unread),
            dropped: skipped + backlog - queued,
            queued,
        }
    }
}

#[derive(Default)]
struct PublisherCounters {
    batches: AtomicU64,
    busy_ns: AtomicU64,
}

/// State the [`Broadcaster`] handles and subscriptions share with the publisher.
struct Hub {
    config: BroadcastConfig,
    clock: Clock,
    ring: Ring,
    pages: Pages,
    /// Events published: the ring holds sequence numbers `head - ring.len() .. head`.
    head: CachePadded<AtomicU64>,
    next_id: AtomicU32,
    /// Every live subscriber plus the last few ended ones, for stats.
    registry: ArcSwap<Vec<Arc<Shared>>>,
    joins_tx: Sender<Arc<Shared>>,
    /// Set by `subscribe` after queueing a join; cleared by the publisher.
    joins_pending: AtomicBool,
    /// Set by a dropped subscription; cleared by the publisher.
    leaves_pending: AtomicBool,
    /// Written by the publisher at every flush, on a line of their own so
    /// receivers reading the fields above do not pay for it.
    counters: CachePadded<PublisherCounters>,
    active: AtomicU32,
    closed: AtomicBool,
    /// Receivers waiting in `wait`; the publisher signals only if nonzero.
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

impl Hub {
    /// Wakes every waiting receiver (after a flush, an eviction, a close).
    fn wake_all(&self) {
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.wake.notify_all();
        }
    }

    /// Whether the head has moved from `head` or `s` left `state`. SeqCst:
    /// in `wait` this load follows the `sleepers` increment, pairing with
    /// the publisher's head store and `sleepers` load (no lost wake-up).
    fn moved(&self, s: &Shared, head: u64, state: u8) -> bool {
        self.head.load(Ordering::SeqCst) != head || s.state.load(Ordering::SeqCst) != state
    }

    /// Spins, then yields, a bounded number of times while the head stays at
    /// `head` and `s` in `state`: true as soon as either changes.
    fn backoff(&self, s: &Shared, head: u64, state: u8) -> bool {
        for step in 0..BACKOFF_STEPS {
            if step < BACKOFF_SPIN_STEPS {
                for _ in 0..1 << step {
                    std::hint::spin_loop();
                }
            } else {
                std::thread::yield_now();
            }
            if self.moved(s, head, state) {
                return true;
            }
        }
        false
    }

    /// Waits until the head moves past `head` or `s` changes state from
    /// `state`, or `deadline` passes. Returns false on time-out.
    fn wait(&self, s: &Shared, head: u64, state: u8, deadline: Option<Instant>) -> bool {
        let mut guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        let woke = loop {
            if self.moved(s, head, state) {
                break true;
            }
            match deadline {
                None => guard = self.wake.wait(guard).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break false;
                    }
                    guard = self.wake.wait_timeout(guard, left).unwrap_or_else(|e| e.into_inner()).0;
                }
            }
        };
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
        woke
    }
}

/// A waiting receiver's backoff before it sleeps: this many steps, the
/// first [`BACKOFF_SPIN_STEPS`] spinning 1, 2, 4, ... times, the rest
/// yielding the CPU once each.
const BACKOFF_STEPS: u32 = 10;
const BACKOFF_SPIN_STEPS: u32 = 6;

/// Creates a broadcaster: the one publishing half and a cloneable handle for
/// subscribing and reading stats.
pub fn channel(mut config: BroadcastConfig, clock: Clock) -> (Publisher, Broadcaster) {
    config.max_batch = config.max_batch.max(1);
    config.default_capacity = config.default_capacity.max(config.max_batch);
    let ring_len = config
        .ring_capacity
        .max(config.default_capacity + config.max_batch + BLOCK as usize)
        .max(2 * config.max_batch)
        .next_power_of_two();
    config.ring_capacity = ring_len;
    let (joins_tx, joins_rx) = crossbeam_channel::unbounded();
    let hub = Arc::new(Hub {
        config,
        clock,
        ring: Ring::new(ring_len),
        pages: Pages::new(),
        head: CachePadded::new(AtomicU64::new(0)),
        next_id: AtomicU32::new(1),
        registry: ArcSwap::from_pointee(Vec::new()),
        joins_tx,
        joins_pending: AtomicBool::new(false),
        leaves_pending: AtomicBool::new(false),
        counters: CachePadded::default(),
        active: AtomicU32::new(0),
        closed: AtomicBool::new(false),
        sleepers: AtomicUsize::new(0),
        lock: Mutex::new(()),
        wake: Condvar::new(),
    });
    let publisher = Publisher {
        hub: hub.clone(),
        joins_rx,
        watches: Vec::new(),
        buf_oldest: None,
        notices: Vec::new(),
        seq: 0,
        head: 0,
        flushes: 0,
        max_batch: config.max_batch,
        batches: 0,
        next_check: u64::MAX,
        lagging: 0,
        lag_checked_at: 0,
        room_until: u64::MAX,
        flush_at: config.max_batch as u64,
        clock_cost: clock_cost(),
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
    /// Subscribes with the default capacity, losing the oldest events when
    /// a full queue behind.
    pub fn subscribe(&self, name: impl Into<String>) -> Subscription {
        self.subscribe_with(SubscribeOptions::new(name))
    }

    /// Subscribes. The subscription receives every event flushed after the
    /// publisher's next flush begins (including what is buffered then). If
    /// the broadcaster is already closed, the first receive returns
    /// [`RecvError::Closed`].
    pub fn subscribe_with(&self, opts: SubscribeOptions) -> Subscription {
        let hub = &self.hub;
        let max_capacity = (hub.ring.len() - BLOCK) as usize - hub.config.max_batch;
        let capacity = opts
            .capacity
            .unwrap_or(hub.config.default_capacity)
            .clamp(hub.config.max_batch, max_capacity);
        let shared = Arc::new(Shared {
            id: hub.next_id.fetch_add(1, Ordering::Relaxed),
            name: opts.name,
            capacity: capacity as u64,
            delivery: opts.delivery,
            state: AtomicU8::new(STATE_JOINING),
            joined_seq: AtomicU64::new(NO_SEQ),
            left_seq: AtomicU64::new(NO_SEQ),
            evictions: AtomicU32::new(0),
            evict_reason: AtomicU64::new(0),
            subs: CachePadded::new(SubscriberSide {
                cursor: AtomicU64::new(0),
                skipped: AtomicU64::new(0),
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
        let sent = hub.joins_tx.send(shared.clone()).is_ok();
        hub.joins_pending.store(true, Ordering::Release);
        if hub.closed.load(Ordering::Acquire) || !sent {
            // The publisher closed (maybe while we joined: it may already
            // have drained its joins, and would then never close this one).
            let _ = shared
                .state
                .compare_exchange(STATE_JOINING, STATE_CLOSED, Ordering::AcqRel, Ordering::Acquire);
        }
        Subscription {
            shared,
            hub: hub.clone(),
            _one_reader: std::marker::PhantomData,
        }
    }

    /// Stats of every live subscriber and the last few ended ones, in
    /// subscription order.
    pub fn stats(&self) -> Vec<SubscriberStats> {
        let head = self.hub.head.load(Ordering::Acquire);
        self.hub.registry.load().iter().map(|s| stats_of(s, head)).collect()
    }

    pub fn publisher_stats(&self) -> PublisherStats {
        PublisherStats {
            events: self.hub.head.load(Ordering::Acquire),
            batches: self.hub.counters.batches.load(Ordering::Acquire),
            busy_ns: self.hub.counters.busy_ns.load(Ordering::Acquire),
            subscribers: self.hub.active.load(Ordering::Acquire),
        }
    }

    pub fn clock(&self) -> &Clock {
        &self.hub.clock
    }

    /// The settings in force (the ring's size rounded up).
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

fn stats_of(s: &Shared, head: u64) -> SubscriberStats {
    let state = s.state();
    let a = s.account(head);
    let last = s.subs.last_recv.load(Ordering::Acquire);
    SubscriberStats {
        id: s.id,
        name: s.name.clone(),
        state,
        queued: a.queued,
        capacity: s.capacity,
        delivered: a.delivered,
        dropped: a.dropped,
        published_while_subscribed: a.published,
        last_recv: (last != NO_RECV).then_some(last),
        evictions: s.evictions.load(Ordering::Acquire),
        last_evict_reason: s.reason(),
        delivery: s.delivery,
    }
}

/// The receiving end of one subscriber: a cursor into the shared ring.
/// Dropping it unsubscribes. `Send` but not `Sync`: one thread at a time
/// moves its cursor.
pub struct Subscription {
    shared: Arc<Shared>,
    hub: Arc<Hub>,
    _one_reader: std::marker::PhantomData<Cell<()>>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.shared.id)
            .field("name", &self.shared.name)
            .finish_non_exhaustive()
    }
}

/// What one look at the ring found.
enum Took {
    /// This many events were handed over.
    Some(usize),
    /// Nothing yet: the head and state as seen, to wait for a change.
    Nothing { head: u64, state: u8 },
}

impl Subscription {
    pub fn id(&self) -> SubscriberId {
        self.shared.id
    }

    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Waits for the next batch (at most `max_batch` events).
    pub fn recv(&self) -> Result<Batch, RecvError> {
        self.recv_until(None).map(|b| b.unwrap_or_default())
    }

    /// The next batch if anything is queued: `Ok(None)` when nothing is.
    pub fn try_recv(&self) -> Result<Option<Batch>, RecvError> {
        let mut batch = Vec::new();
        match self.take(self.hub.config.max_batch, |e| batch.push(*e))? {
            Took::Some(_) => Ok(Some(batch)),
            Took::Nothing { .. } => Ok(None),
        }
    }

    /// Waits at most `timeout` for the next batch: `Ok(None)` on time-out.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<Batch>, RecvError> {
        self.recv_until(Some(Instant::now() + timeout))
    }

    /// Waits until `deadline` for the next batch: `Ok(None)` when it passes.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<Option<Batch>, RecvError> {
        self.recv_until(Some(deadline))
    }

    fn recv_until(&self, deadline: Option<Instant>) -> Result<Option<Batch>, RecvError> {
        loop {
            let mut batch = Vec::new();
            match self.take(self.hub.config.max_batch, |e| batch.push(*e))? {
                Took::Some(_) => return Ok(Some(batch)),
                Took::Nothing { head, state } => {
                    // A short backoff first (a few spins, then yields): a
                    // busy publisher's next flush is often microseconds
                    // away, and waking from a sleep costs more than that.
                    if !self.hub.backoff(&self.shared, head, state)
                        && !self.hub.wait(&self.shared, head, state, deadline)
                    {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Hands every queued event to `f`, without waiting. Returns how many
    /// events were handled, or how the subscription ended (after handling
    /// what was queued).
    pub fn drain(&self, f: impl FnMut(&Event)) -> Result<usize, RecvError> {
        match self.take(usize::MAX, f)? {
            Took::Some(n) => Ok(n),
            Took::Nothing { .. } => Ok(0),
        }
    }

    /// This subscriber's counters now.
    pub fn stats(&self) -> SubscriberStats {
        stats_of(&self.shared, self.hub.head.load(Ordering::Acquire))
    }

    /// Hands up to `max` queued events to `f`, skipping (and counting) what
    /// fell out of its window; `Err` once the subscription has ended and
    /// everything it may still receive has been received.
    fn take(&self, max: usize, mut f: impl FnMut(&Event)) -> Result<Took, RecvError> {
        let s = &*self.shared;
        let hub = &*self.hub;
        let state = s.state.load(Ordering::Acquire);
        match state {
            STATE_EVICTED => return Err(self.evicted()),
            STATE_JOINING => {
                let head = hub.head.load(Ordering::SeqCst);
                return Ok(Took::Nothing { head, state });
            }
            STATE_CLOSED if s.joined_seq.load(Ordering::Acquire) == NO_SEQ => return Err(RecvError::Closed),
            _ => {}
        }
        let start = s.subs.cursor.load(Ordering::Relaxed);
        let mut cursor = start;
        let mut skipped = 0;
        let mut n = 0;
        let mut end;
        loop {
            end = s.end(state, hub.head.load(Ordering::SeqCst));
            if end - cursor > s.capacity {
                // Fallen out of its window: the oldest are lost to it.
                skipped += end - s.capacity - cursor;
                cursor = end - s.capacity;
            }
            let stop = end.min(cursor.saturating_add((max - n) as u64));
            let mut lapped = false;
            let mut block = [BLANK; BLOCK as usize];
            // Pages before this one are not looked for again.
            let mut unshared = 0;
            while cursor < stop {
                // A whole published page is read as shared, plain events.
                let first = cursor - cursor % PAGE;
                if first >= unshared && first + PAGE <= end {
                    unshared = first + PAGE;
                    if let Some(page) = self.shared_page(first).as_deref().and_then(Option::as_deref) {
                        let to = stop.min(first + PAGE);
                        page.events[(cursor - first) as usize..(to - first) as usize]
                            .iter()
                            .for_each(&mut f);
                        n += (to - cursor) as usize;
                        cursor = to;
                        continue;
                    }
                }
                let to = stop.min(cursor - cursor % BLOCK + BLOCK);
                let len = (to - cursor) as usize;
                // Decoded in full before any is handed over, so `f` reads
                // events whose stores have landed.
                let Some(decoded) = hub.ring.decode_block(cursor, to, &mut block) else {
                    // Overwritten while we read: the publisher lapped us.
                    lapped = true;
                    break;
                };
                for (k, e) in block[..len].iter().enumerate() {
                    if decoded & 1 << k != 0 {
                        f(e);
                        n += 1;
                    } else {
                        // Checked words are always an encoding; if not, the
                        // event is counted lost rather than made up.
                        skipped += 1;
                    }
                }
                cursor = to;
            }
            if !lapped {
                break;
            }
        }
        if skipped > 0 {
            let before = s.subs.skipped.load(Ordering::Relaxed);
            s.subs.skipped.store(before + skipped, Ordering::Release);
        }
        if cursor != start {
            s.subs.cursor.store(cursor, Ordering::Release);
        }
        if n > 0 {
            s.subs.last_recv.store(hub.clock.now(), Ordering::Release);
            return Ok(Took::Some(n));
        }
        if state == STATE_CLOSED && cursor >= end {
            return Err(RecvError::Closed);
        }
        Ok(Took::Nothing { head: end, state })
    }

    /// The decoded page starting at `first` (published in full): shared by
    /// another reader, or decoded now and shared if there are other
    /// subscribers to share it with. `None` if it is neither shared nor
    /// worth sharing, if a newer page holds its slot, or if the ring has
    /// overwritten some of it: the caller reads the ring instead.
    fn shared_page(&self, first: u64) -> Option<PageGuard> {
        let hub = &*self.hub;
        let slot = hub.pages.slot(first);
        let current = slot.load();
        match current.as_ref() {
            Some(p) if p.first == first => return Some(current),
            Some(p) if p.first > first => return None,
            _ => {}
        }
        if hub.active.load(Ordering::Relaxed) < 2 {
            return None;
        }
        let mut events = hub.pages.spare();
        for (i, block) in events.chunks_exact_mut(BLOCK as usize).enumerate() {
            let from = first + i as u64 * BLOCK;
            if hub.ring.decode_block(from, from + BLOCK, block) != Some(WHOLE_BLOCK) {
                hub.pages.recycle(events);
                return None;
            }
        }
        let previous = slot.compare_and_swap(&current, Some(Arc::new(Page { first, events })));
        let swapped = ptr(&previous) == ptr(&current);
        drop(previous);
        // The page it displaced, to decode the next one into once no reader
        // holds it.
        if swapped
            && let Some(old) = arc_swap::Guard::into_inner(current)
            && let Ok(old) = Arc::try_unwrap(old)
        {
            hub.pages.recycle(old.events);
        }
        // Ours, or the same page decoded by another reader at once.
        Some(slot.load()).filter(|p| p.as_ref().is_some_and(|p| p.first == first))
    }

    /// How an evicted subscription ended: everything it had not received is lost.
    fn evicted(&self) -> RecvError {
        let s = &*self.shared;
        let head = self.hub.head.load(Ordering::Acquire);
        // The publisher writes `left_seq` right after the state.
        let mut spins = 0;
        while s.left_seq.load(Ordering::Acquire) == NO_SEQ && spins < 1_000 {
            spins += 1;
            std::hint::spin_loop();
        }
        RecvError::Evicted {
            reason: s.reason().unwrap_or(EvictReason::TooManyDrops { dropped: 0 }),
            dropped: s.account(head).dropped,
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let s = &*self.shared;
        let hub = &*self.hub;
        let mut state = s.state.load(Ordering::Acquire);
        loop {
            match state {
                STATE_EVICTED => return,
                STATE_CLOSED => break,
                _ => match s
                    .state
                    .compare_exchange(state, STATE_CLOSED, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => {
                        if state != STATE_JOINING {
                            // We ended it: we write where it ended.
                            s.left_seq.store(hub.head.load(Ordering::SeqCst), Ordering::Release);
                        }
                        hub.leaves_pending.store(true, Ordering::Release);
                        break;
                    }
                    Err(now) => state = now,
                },
            }
        }
        if s.joined_seq.load(Ordering::Acquire) == NO_SEQ {
            return;
        }
        // What it leaves unread counts as never published to it; what had
        // already fallen out of its window stays dropped.
        let end = s.end(STATE_CLOSED, hub.head.load(Ordering::Acquire));
        let cursor = s.subs.cursor.load(Ordering::Relaxed);
        let backlog = end.saturating_sub(cursor);
        let queued = backlog.min(s.capacity);
        if backlog > queued {
            let before = s.subs.skipped.load(Ordering::Relaxed);
            s.subs.skipped.store(before + backlog - queued, Ordering::Release);
        }
        s.subs.unread.store(queued, Ordering::Release);
        s.subs.cursor.store(cursor.max(end), Ordering::Release);
    }
}

/// The publisher's view of one subscriber.
struct Watch {
    shared: Arc<Shared>,
    /// Its cursor as last read. Cursors only move forward, so while
    /// `cursor_seen + capacity >= head` it cannot have lost anything, and the
    /// publisher need not read the line the subscriber writes.
    cursor_seen: u64,
    /// Set while it is lagging.
    spell: Option<Spell>,
}

/// One lagging spell of one subscriber.
struct Spell {
    /// Broadcaster time the loss was first observed.
    since: Nanos,
    /// Its drop count before the spell.
    dropped_before: u64,
    /// `cursor - skipped` (its progress) when a loss was last observed: the
    /// spell ends only once it has received since.
    progress_at_drop: u64,
}

/// The publishing half. Owned by one thread; not `Clone`.
pub struct Publisher {
    hub: Arc<Hub>,
    joins_rx: Receiver<Arc<Shared>>,
    watches: Vec<Watch>,
    /// Events written to the ring but not yet published: `head..seq`.
    /// Broadcaster time of the first tick that saw some.
    buf_oldest: Option<Nanos>,
    /// Announcements (joins, evictions, ...) for the next flush.
    notices: Vec<EventKind>,
    /// Events written to the ring so far.
    seq: u64,
    /// Events published so far (the head, owned here).
    head: u64,
    /// Flushes so far (for sampling the cost figure).
    flushes: u64,
    /// `config.max_batch`, kept at hand for the per-event check.
    max_batch: usize,
    /// Head advances so far (mirrored in `hub.batches`).
    batches: u64,
    /// The head past which some subscriber may have lost events (the least
    /// `cursor_seen + capacity` of the healthy ones).
    next_check: u64,
    /// Watches in a lagging spell.
    lagging: usize,
    /// Broadcaster time of the last look at the lagging ones.
    lag_checked_at: Nanos,
    /// The sequence number at which some [`Delivery::Wait`] subscriber may
    /// have no room left (the least `cursor_seen + capacity` of them).
    room_until: u64,
    /// `head + max_batch`: a publish that reaches it flushes.
    flush_at: u64,
    /// What one `Instant::now()` pair costs here, taken off timed samples.
    clock_cost: u64,
}

/// One publish in this many is timed for [`PublisherStats::busy_ns`].
pub const TIME_PUBLISH_EVERY: u64 = 256;

/// One flush in this many is timed for [`PublisherStats::busy_ns`].
pub const TIME_EVERY: u64 = 64;

/// The least time one `Instant::now()` pair measures here.
fn clock_cost() -> u64 {
    (0..64)
        .map(|_| {
            let t = Instant::now();
            t.elapsed().as_nanos() as u64
        })
        .min()
        .unwrap_or(0)
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("subscribers", &self.watches.len())
            .field("buffered", &self.buffered())
            .finish()
    }
}

impl Publisher {
    /// A handle for subscribing and stats.
    pub fn broadcaster(&self) -> Broadcaster {
        Broadcaster { hub: self.hub.clone() }
    }

    /// Writes one event into the ring, to be published at the next flush;
    /// flushes when `max_batch` are waiting. Inlined into the caller: it
    /// runs once per event.
    #[inline]
    pub fn publish(&mut self, event: Event) {
        let seq = self.seq;
        if seq >= self.room_until {
            self.make_room();
        }
        if seq.is_multiple_of(BLOCK) {
            self.write_first(event);
        } else {
            self.hub.ring.write_next(seq, &event);
        }
        self.seq = seq + 1;
        if self.seq >= self.flush_at {
            self.flush();
        }
    }

    /// Writes the first event of a block; samples the write cost.
    fn write_first(&mut self, event: Event) {
        let timed = self.seq.is_multiple_of(TIME_PUBLISH_EVERY).then(Instant::now);
        self.hub.ring.write_first(self.seq, &event);
        if let Some(started) = timed {
            let ns = (started.elapsed().as_nanos() as u64).saturating_sub(self.clock_cost);
            self.hub
                .counters
                .busy_ns
                .fetch_add(ns * TIME_PUBLISH_EVERY, Ordering::Relaxed);
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
    /// clock); takes on new subscribers, retires departed ones and checks
    /// lagging ones against the eviction policy even when nothing is
    /// buffered. Call it from the publishing thread's loop.
    pub fn tick(&mut self) {
        let old = if self.seq == self.head {
            false
        } else {
            let now = self.hub.clock.now();
            now.saturating_sub(*self.buf_oldest.get_or_insert(now)) >= self.hub.config.max_batch_age
        };
        if old
            || !self.notices.is_empty()
            || self.hub.joins_pending.load(Ordering::Acquire)
            || self.hub.leaves_pending.load(Ordering::Acquire)
        {
            self.flush();
        } else if self.lag_check_due() {
            self.check();
            if !self.notices.is_empty() {
                self.flush();
            }
        }
    }

    /// Events written and not yet published.
    pub fn buffered(&self) -> usize {
        (self.seq - self.head) as usize
    }

    /// Subscribers currently receiving.
    pub fn subscriber_count(&self) -> usize {
        self.watches.len()
    }

    /// Publishes everything written, then any pending announcements, and
    /// wakes receivers that wait. Announcements the flush itself causes (a
    /// subscriber found lagging or evicted) go out before it returns.
    pub fn flush(&mut self) {
        // The cost figure is sampled: one flush in `TIME_EVERY` is timed and
        // counts for `TIME_EVERY` (two clock reads per flush would be most
        // of a small flush's cost).
        self.flushes = self.flushes.wrapping_add(1);
        let started = self.flushes.is_multiple_of(TIME_EVERY).then(Instant::now);
        self.maintain();
        // Each subscriber can cause at most two announcements (lagging,
        // evicted), so this settles.
        loop {
            self.publish_head();
            if !self.notices.is_empty() {
                let now = self.last_t();
                let notices = std::mem::take(&mut self.notices);
                for kind in &notices {
                    if self.seq >= self.room_until {
                        self.make_room();
                    }
                    self.hub.ring.write(self.seq, &Event::new(now, *kind));
                    self.seq += 1;
                    if self.seq - self.head >= self.max_batch as u64 {
                        self.publish_head();
                    }
                }
                self.publish_head();
            }
            if self.head > self.next_check || self.lag_check_due() {
                self.check();
            }
            if self.notices.is_empty() {
                break;
            }
        }
        if let Some(started) = started {
            let busy = (started.elapsed().as_nanos() as u64).saturating_sub(self.clock_cost) * TIME_EVERY;
            self.hub.counters.busy_ns.fetch_add(busy, Ordering::Relaxed);
        }
    }

    /// The timestamp of the newest event written, to stamp announcements
    /// with so they sort with the stream.
    fn last_t(&self) -> Nanos {
        self.seq.checked_sub(1).map_or(0, |last| self.hub.ring.time_of(last))
    }

    /// Publishes what has been written, if anything, and wakes whoever waits.
    fn publish_head(&mut self) {
        if self.seq == self.head {
            return;
        }
        self.head = self.seq;
        self.buf_oldest = None;
        self.flush_at = self.head + self.max_batch as u64;
        let hub = &*self.hub;
        hub.head.store(self.head, Ordering::SeqCst);
        self.batches += 1;
        hub.counters.batches.store(self.batches, Ordering::Relaxed);
        hub.wake_all();
    }

    /// Waits until every [`Delivery::Wait`] subscriber has room for one
    /// more event (or has left), and notes when to look again.
    #[cold]
    fn make_room(&mut self) {
        let seq = self.seq;
        let mut until = u64::MAX;
        for w in &mut self.watches {
            let s = &*w.shared;
            if s.delivery != Delivery::Wait {
                continue;
            }
            if seq + 1 - w.cursor_seen > s.capacity {
                w.cursor_seen = wait_for_room(s, seq);
            }
            until = until.min(w.cursor_seen + s.capacity);
        }
        self.room_until = until;
    }

    /// Whether the lagging subscribers are due another look.
    fn lag_check_due(&self) -> bool {
        self.lagging > 0
            && (self.lagging <= LAG_CHECK_ALWAYS
                || self.hub.clock.now().saturating_sub(self.lag_checked_at) >= LAG_CHECK_EVERY)
    }

    /// Looks at the subscribers that may have lost events or are lagging:
    /// marks, recovers and evicts them, queueing the announcements.
    fn check(&mut self) {
        let seq = self.head;
        let policy = self.hub.config.eviction;
        let clock = &self.hub.clock;
        let mut now = None;
        let mut next_check = u64::MAX;
        let mut lagging = 0;
        let mut evicted = false;
        for w in &mut self.watches {
            let s = &*w.shared;
            if s.delivery == Delivery::Wait {
                continue;
            }
            if w.cursor_seen + s.capacity < seq || w.spell.is_some() {
                w.cursor_seen = s.subs.cursor.load(Ordering::Acquire).max(w.cursor_seen);
            }
            let backlog = seq.saturating_sub(w.cursor_seen);
            if backlog <= s.capacity && w.spell.is_none() {
                next_check = next_check.min(w.cursor_seen + s.capacity);
                continue;
            }
            let skipped = s.subs.skipped.load(Ordering::Acquire);
            // Compared only for change (the two loads are not one snapshot).
            let progress = w.cursor_seen.wrapping_sub(skipped);
            let now = *now.get_or_insert_with(|| clock.now());
            if backlog > s.capacity {
                // Losing its oldest events now.
                let dropped = skipped + backlog - s.capacity;
                let spell = w.spell.get_or_insert(Spell {
                    since: now,
                    dropped_before: skipped,
                    progress_at_drop: progress,
                });
                spell.progress_at_drop = progress;
                if s.state
                    .compare_exchange(STATE_HEALTHY, STATE_LAGGING, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    self.notices.push(EventKind::SubscriberLagging { id: s.id, dropped });
                }
            } else if let Some(spell) = &w.spell {
                // Hysteresis: the spell ends only once it has received since
                // its last loss *and* its queue is back to half full or less,
                // so a consumer that nibbles one batch at a time stays
                // lagging (and is evicted) instead of flapping.
                if progress != spell.progress_at_drop && backlog <= s.capacity / 2 {
                    w.spell = None;
                    let _ = s
                        .state
                        .compare_exchange(STATE_LAGGING, STATE_HEALTHY, Ordering::AcqRel, Ordering::Acquire);
                    next_check = next_check.min(w.cursor_seen + s.capacity);
                    continue;
                }
            }
            let Some(spell) = &w.spell else { continue };
            let dropped_in_spell = (skipped + backlog.saturating_sub(s.capacity)).saturating_sub(spell.dropped_before);
            let reason = match policy {
                EvictionPolicy {
                    full_for: Some(limit), ..
                } if now.saturating_sub(spell.since) >= limit => Some(EvictReason::QueueFull { for_ns: limit }),
                EvictionPolicy {
                    max_drops: Some(limit), ..
                } if dropped_in_spell >= limit => Some(EvictReason::TooManyDrops { dropped: limit }),
                _ => None,
            };
            match reason {
                Some(reason) => {
                    // The reason goes first: the subscription reads it once it
                    // sees the state. If it has just left, the old one stays.
                    let before = s.evict_reason.load(Ordering::Acquire);
                    s.set_reason(reason);
                    if s.state
                        .compare_exchange(STATE_LAGGING, STATE_EVICTED, Ordering::AcqRel, Ordering::Acquire)
                        .is_err()
                    {
                        s.evict_reason.store(before, Ordering::Release);
                    } else {
                        s.left_seq.store(seq, Ordering::Release);
                        s.evictions.fetch_add(1, Ordering::AcqRel);
                        // Everything it had not received is lost to it.
                        self.notices.push(EventKind::SubscriberEvicted {
                            id: s.id,
                            reason,
                            dropped: skipped + backlog,
                        });
                    }
                    evicted = true;
                }
                None => lagging += 1,
            }
        }
        self.next_check = next_check;
        self.lagging = lagging;
        if let Some(now) = now {
            self.lag_checked_at = now;
        }
        if evicted {
            self.hub.wake_all(); // an evicted receiver that waits learns it now
            self.retire();
        }
    }

    /// Takes on subscribers that joined since the last flush and retires
    /// departed ones.
    fn maintain(&mut self) {
        // Plain loads in the common case; the channel only when someone joined.
        let hub = &*self.hub;
        if hub.joins_pending.load(Ordering::Relaxed) && hub.joins_pending.swap(false, Ordering::AcqRel) {
            while let Ok(shared) = self.joins_rx.try_recv() {
                // It is offered everything not yet published.
                shared.subs.cursor.store(self.head, Ordering::Release);
                shared.joined_seq.store(self.head, Ordering::Release);
                if shared
                    .state
                    .compare_exchange(STATE_JOINING, STATE_HEALTHY, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    self.notices.push(EventKind::SubscriberJoined { id: shared.id });
                    self.next_check = self.next_check.min(self.head + shared.capacity);
                    if shared.delivery == Delivery::Wait {
                        self.room_until = self.room_until.min(self.head + shared.capacity);
                    }
                    self.watches.push(Watch {
                        cursor_seen: self.head,
                        shared,
                        spell: None,
                    });
                } else {
                    // Dropped before we took it on: it saw nothing.
                    shared.joined_seq.store(NO_SEQ, Ordering::Release);
                }
            }
            self.hub.active.store(self.watches.len() as u32, Ordering::Release);
        }
        if self.hub.leaves_pending.load(Ordering::Relaxed) && self.hub.leaves_pending.swap(false, Ordering::AcqRel) {
            self.retire();
        }
    }

    /// Forgets subscribers that ended, announcing those that left.
    fn retire(&mut self) {
        let notices = &mut self.notices;
        self.watches.retain(|w| {
            let state = w.shared.state.load(Ordering::Acquire);
            let keep = state == STATE_HEALTHY || state == STATE_LAGGING;
            if state == STATE_CLOSED {
                notices.push(EventKind::SubscriberLeft { id: w.shared.id });
            }
            keep
        });
        self.lagging = self.watches.iter().filter(|w| w.spell.is_some()).count();
        self.room_until = self
            .watches
            .iter()
            .filter(|w| w.shared.delivery == Delivery::Wait)
            .map(|w| w.cursor_seen + w.shared.capacity)
            .min()
            .unwrap_or(u64::MAX);
        self.hub.active.store(self.watches.len() as u32, Ordering::Release);
        let retained = self.hub.config.ended_retained;
        if self.hub.registry.load().iter().filter(|s| s.state().is_ended()).count() > retained {
            self.hub.registry.rcu(|list| {
                let mut next = (**list).clone();
                trim_ended(&mut next, retained);
                next
            });
        }
    }

    /// Flushes what is buffered, then closes every subscription: subscribers
    /// receive everything published, then [`RecvError::Closed`].
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if self.hub.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        self.flush();
        let seq = self.seq;
        for w in self.watches.drain(..) {
            let s = &*w.shared;
            for from in [STATE_HEALTHY, STATE_LAGGING] {
                if s.state
                    .compare_exchange(from, STATE_CLOSED, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    s.left_seq.store(seq, Ordering::Release);
                }
            }
        }
        // Late joiners: nothing more will be published.
        while let Ok(shared) = self.joins_rx.try_recv() {
            if shared
                .state
                .compare_exchange(STATE_JOINING, STATE_CLOSED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                shared.left_seq.store(seq, Ordering::Release);
            }
        }
        self.hub.active.store(0, Ordering::Release);
        self.hub.wake_all();
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Waits until the event `seq` fits `s`'s queue (or it leaves); returns its
/// cursor as last read.
fn wait_for_room(s: &Shared, seq: u64) -> u64 {
    let mut spins = 0u32;
    loop {
        let cursor = s.subs.cursor.load(Ordering::Acquire);
        if seq + 1 - cursor <= s.capacity || s.state.load(Ordering::Acquire) == STATE_CLOSED {
            return cursor;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn publish_n(p: &mut Publisher, n: u64) {
        for i in 0..n {
            p.publish(Event::new(i, EventKind::RequestArrived { id: i }));
        }
        p.flush();
    }

    /// The page starting at `first` as its slot holds it.
    fn slot_page(b: &Broadcaster, first: u64) -> Option<Arc<Page>> {
        b.hub.pages.slot(first).load_full().filter(|p| p.first == first)
    }

    #[test]
    fn a_whole_page_is_decoded_once_and_shared_by_every_reader() {
        let (mut p, b) = channel(BroadcastConfig::default(), Clock::manual());
        let subs: Vec<_> = (0..3).map(|i| b.subscribe(format!("s{i}"))).collect();
        p.tick();
        publish_n(&mut p, 3 * PAGE);
        let mut seen = vec![Vec::new(); subs.len()];
        for (s, seen) in subs.iter().zip(&mut seen) {
            s.drain(|e| seen.push(*e)).unwrap();
        }
        assert!(seen.iter().all(|s| *s == seen[0]), "every reader got the same stream");
        // The first reader decoded the whole pages; the slot still holds the
        // very page the others would be handed.
        let shared = slot_page(&b, PAGE).expect("page 1 decoded and shared");
        let again = subs[2].shared_page(PAGE).expect("shared");
        assert_eq!(
            ptr(&again),
            Some(Arc::as_ptr(&shared)),
            "the same page, not a second decode"
        );
        assert_eq!(&shared.events[..], &seen[0][PAGE as usize..2 * PAGE as usize]);
    }

    #[test]
    fn a_lone_subscriber_decodes_no_page() {
        let (mut p, b) = channel(BroadcastConfig::default(), Clock::manual());
        let sub = b.subscribe("alone");
        p.tick();
        publish_n(&mut p, 3 * PAGE);
        assert!(sub.drain(|_| {}).unwrap() > 2 * PAGE as usize);
        assert!(slot_page(&b, 0).is_none() && slot_page(&b, PAGE).is_none());
    }

    #[test]
    fn a_page_the_ring_has_partly_overwritten_is_not_decoded() {
        let config = BroadcastConfig {
            ring_capacity: 1024,
            default_capacity: 512,
            ..BroadcastConfig::default()
        };
        let (mut p, b) = channel(config, Clock::manual());
        let (behind, other) = (b.subscribe("behind"), b.subscribe("other"));
        p.tick();
        publish_n(&mut p, 1024 + 98);
        // With the two joins announced, the ring holds events 100..1124:
        // page 0 is whole and published, but its first 100 events are gone.
        assert!(behind.shared_page(0).is_none());
        assert!(slot_page(&b, 0).is_none());
        // What the reader still can get comes from the ring, in order.
        let mut ids = Vec::new();
        behind
            .drain(|e| {
                if let EventKind::RequestArrived { id } = e.kind {
                    ids.push(id)
                }
            })
            .unwrap();
        assert!(
            ids.windows(2).all(|w| w[1] == w[0] + 1),
            "in order, no gap within the window"
        );
        assert_eq!(ids.last(), Some(&(1024 + 98 - 1)));
        drop(other);
    }
}
