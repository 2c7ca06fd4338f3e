//! Each subscriber's shared record ([`Shared`]: state, join and end points,
//! and its position/loss pair) and the point-in-time copies derived from it
//! for anyone to read ([`SubscriberStats`], [`PublisherStats`]).

use super::config::Delivery;
use super::config::{Nanos, SubscriberId};
use super::notice::EvictReason;
use super::sync::{AtomicU8, AtomicU32, AtomicU64, Mutex, Ordering, lock, spin_loop};

/// A subscriber's state as the stats report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscriberState {
    /// Subscribed; the publisher has not yet taken it on (next flush).
    Joining,
    /// It lost nothing in the last health interval.
    Healthy,
    /// It lost events in the last health interval.
    Lagging,
    Evicted,
    /// Unsubscribed, or the publisher closed.
    Closed,
}

pub(crate) const STATE_JOINING: u8 = 0;
pub(crate) const STATE_HEALTHY: u8 = 1;
pub(crate) const STATE_LAGGING: u8 = 2;
pub(crate) const STATE_EVICTED: u8 = 3;
pub(crate) const STATE_CLOSED: u8 = 4;
/// No receive yet.
pub(crate) const NO_RECV: u64 = u64::MAX;
/// `joined_seq` / `left_seq` not set yet.
pub(crate) const NO_SEQ: u64 = u64::MAX;

impl SubscriberState {
    pub(crate) fn from_u8(v: u8) -> Self {
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

/// A point-in-time copy of one subscriber's counters (payload events only;
/// notices are not counted here).
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
    /// Notices it never received because the notice log had moved on.
    pub notices_missed: u64,
}

/// A point-in-time copy of the publisher's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PublisherStats {
    /// Payload events published.
    pub events: u64,
    /// Notices published (beside the events, not counted in them).
    pub notices: u64,
    /// Flushes that published something (each advances the head once per
    /// `max_batch` events).
    pub batches: u64,
    /// Wall time spent inside flushes (ns), to report the cost per event:
    /// sampled, see [`TIME_EVERY`](super::TIME_EVERY).
    pub busy_ns: u64,
    /// Subscribers currently receiving.
    pub subscribers: u32,
    /// Looks the publisher took at a subscriber's health so far: at most one
    /// per subscriber per health interval (plus one per join).
    pub health_checks: u64,
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

/// One subscriber's state, shared between its subscription, the publisher
/// and stats readers. The subscription writes its [`Progress`]; the
/// publisher writes the join and, on eviction or close, the end; the state
/// changes by compare-and-swap, and whoever moves it to an end writes
/// `left_seq`.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) id: SubscriberId,
    pub(crate) name: String,
    pub(crate) capacity: u64,
    pub(crate) delivery: Delivery,
    /// One of the `STATE_*`. Moves Joining → Healthy ⇄ Lagging → Evicted or
    /// Closed (or Joining → Closed), only by compare-and-swap; the ends are
    /// final. The publisher's moves to an end are SeqCst, paired with the
    /// `sleepers` count (see `Hub::sleepers`).
    pub(crate) state: AtomicU8,
    /// The head when the publisher took it on: the first event it is
    /// offered. Written once (before the state leaves Joining), or reset to
    /// [`NO_SEQ`] if it left before it was taken on.
    pub(crate) joined_seq: AtomicU64,
    /// The notice index of its own join notice: the first notice it is
    /// handed. Written before the state leaves Joining.
    pub(crate) joined_notice: AtomicU64,
    /// The head when it ended (unsubscribed, evicted or closed); written
    /// once, right after the state moves to an end, by whoever moved it.
    pub(crate) left_seq: AtomicU64,
    pub(crate) evictions: AtomicU32,
    /// Set (by the publisher) before the state moves to Evicted, so whoever
    /// sees Evicted finds it.
    pub(crate) evict_reason: Mutex<Option<EvictReason>>,
    /// Notices it missed (the log had moved on); written by the subscription.
    pub(crate) notices_missed: AtomicU64,
    pub(crate) progress: crossbeam_utils::CachePadded<Progress>,
}

/// A subscriber's position and loss: written by one thread at a time (the
/// publisher once, when it takes the subscriber on; then its subscription
/// only), read by anyone, always as one consistent triple.
///
/// It is a seqlock: the writer makes `version` odd, stores the fields, and
/// makes it even again; a reader retries until it reads the same even
/// version before and after. So a reader never pairs a new `skipped` with an
/// old `cursor` (which would count a skip twice: once in `skipped`, once
/// as out of its window).
#[derive(Debug)]
pub(crate) struct Progress {
    /// Even while the fields below are consistent; odd while the writer
    /// updates them. Only the writer changes it, by +1 each time.
    version: AtomicU64,
    /// The next sequence number it will read: everything before was
    /// delivered, skipped, or left unread. Only moves forward.
    cursor: AtomicU64,
    /// Events it skipped because they fell out of its window (or did not
    /// decode). Only grows.
    skipped: AtomicU64,
    /// Still queued when the subscription was dropped: the subscriber chose
    /// to leave them, so they are neither delivered nor dropped, and do not
    /// count as published to it. Written once, by the drop.
    unread: AtomicU64,
    /// Broadcaster time of its last receive ([`NO_RECV`] before any); a
    /// display figure outside the triple.
    pub(crate) last_recv: AtomicU64,
}

/// A consistent read of a [`Progress`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Position {
    pub(crate) cursor: u64,
    pub(crate) skipped: u64,
    pub(crate) unread: u64,
}

impl Progress {
    pub(crate) fn new() -> Progress {
        Progress {
            version: AtomicU64::new(0),
            cursor: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            unread: AtomicU64::new(0),
            last_recv: AtomicU64::new(NO_RECV),
        }
    }

    /// The cursor alone (it only moves forward, so a stale one is a lower bound).
    pub(crate) fn cursor(&self) -> u64 {
        self.cursor.load(Ordering::Acquire)
    }

    /// The triple as last written (by the writer itself: no retry needed).
    pub(crate) fn own(&self) -> Position {
        Position {
            cursor: self.cursor.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            unread: self.unread.load(Ordering::Relaxed),
        }
    }

    /// Stores `p` (the one writer only). Data stores are Release, so a
    /// reader that sees any of them also sees the odd version before it.
    pub(crate) fn write(&self, p: Position) {
        let v = self.version.load(Ordering::Relaxed);
        self.version.store(v.wrapping_add(1), Ordering::Relaxed);
        self.cursor.store(p.cursor, Ordering::Release);
        self.skipped.store(p.skipped, Ordering::Release);
        self.unread.store(p.unread, Ordering::Release);
        self.version.store(v.wrapping_add(2), Ordering::Release);
    }

    /// A consistent triple: retried while the writer is in the middle of a
    /// write (a few stores: it never waits there).
    pub(crate) fn read(&self) -> Position {
        loop {
            let before = self.version.load(Ordering::Acquire);
            if before.is_multiple_of(2) {
                let p = Position {
                    cursor: self.cursor.load(Ordering::Acquire),
                    skipped: self.skipped.load(Ordering::Acquire),
                    unread: self.unread.load(Ordering::Acquire),
                };
                // Ordered after the Acquire loads: if any of them saw a
                // newer write, this sees at least that write's odd version.
                if self.version.load(Ordering::Relaxed) == before {
                    return p;
                }
            }
            spin_loop();
        }
    }
}

/// A subscriber's counters, derived from the head and its position.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Account {
    pub(crate) published: u64,
    pub(crate) delivered: u64,
    pub(crate) dropped: u64,
    pub(crate) queued: u64,
}

impl Shared {
    pub(crate) fn state(&self) -> SubscriberState {
        SubscriberState::from_u8(self.state.load(Ordering::Acquire))
    }

    pub(crate) fn reason(&self) -> Option<EvictReason> {
        *lock(&self.evict_reason)
    }

    /// Where its stream ends for accounting: the head while it is live, the
    /// head when it ended otherwise (the current head until that is written).
    pub(crate) fn end(&self, state: u8, head: u64) -> u64 {
        match state {
            STATE_EVICTED | STATE_CLOSED => match self.left_seq.load(Ordering::Acquire) {
                NO_SEQ => head,
                left => left,
            },
            _ => head,
        }
    }

    /// Its counters, given the publisher's head.
    pub(crate) fn account(&self, head: u64) -> Account {
        let state = self.state.load(Ordering::Acquire);
        let joined = self.joined_seq.load(Ordering::Acquire);
        if joined == NO_SEQ {
            return Account::default(); // never taken on: nothing was offered to it
        }
        self.account_at(state, joined, head, self.progress.read())
    }

    /// Its counters from values read by the caller.
    pub(crate) fn account_at(&self, state: u8, joined: u64, head: u64, p: Position) -> Account {
        let end = self.end(state, head).max(p.cursor);
        let backlog = end - p.cursor;
        // An evicted subscriber loses everything it had not received.
        let queued = if state == STATE_EVICTED {
            0
        } else {
            backlog.min(self.capacity)
        };
        Account {
            published: (end - joined).saturating_sub(p.unread),
            delivered: (p.cursor - joined).saturating_sub(p.skipped + p.unread),
            dropped: p.skipped + backlog - queued,
            queued,
        }
    }

    pub(crate) fn stats(&self, head: u64) -> SubscriberStats {
        let state = self.state();
        let a = self.account(head);
        let last = self.progress.last_recv.load(Ordering::Acquire);
        SubscriberStats {
            id: self.id,
            name: self.name.clone(),
            state,
            queued: a.queued,
            capacity: self.capacity,
            delivered: a.delivered,
            dropped: a.dropped,
            published_while_subscribed: a.published,
            last_recv: (last != NO_RECV).then_some(last),
            evictions: self.evictions.load(Ordering::Acquire),
            last_evict_reason: self.reason(),
            delivery: self.delivery,
            notices_missed: self.notices_missed.load(Ordering::Relaxed),
        }
    }
}
