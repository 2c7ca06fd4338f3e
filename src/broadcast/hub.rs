//! The state the publisher, the [`super::Broadcaster`] handles and the
//! subscriptions share: the ring, the head, the notice log, the registry of
//! subscribers, pending joins and leaves, and the sleepers' condition
//! variable. Owned through an `Arc`; every field's writer is named on it.

use crossbeam_utils::CachePadded;

use super::config::{BroadcastConfig, TimeSource};
use super::notice::NoticeLog;
use super::ring::Ring;
use super::stats::Shared;
use super::sync::{self, Arc, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Condvar, Mutex, Ordering, lock};

/// Counters the publisher writes at flushes, for [`PublisherStats`].
#[derive(Default)]
pub(crate) struct PublisherCounters {
    pub(crate) batches: AtomicU64,
    pub(crate) busy_ns: AtomicU64,
    pub(crate) health_checks: AtomicU64,
}

/// Subscriptions waiting to be taken on, and whether they ever will be.
pub(crate) struct Joins {
    /// Set once by the publisher's close; nothing joins after.
    pub(crate) closed: bool,
    /// Bounded by the subscribers that subscribe between two flushes.
    pub(crate) queue: Vec<Arc<Shared>>,
}

/// State the [`Broadcaster`] handles and subscriptions share with the publisher.
pub(crate) struct Hub<T> {
    pub(crate) config: BroadcastConfig,
    pub(crate) clock: Box<dyn TimeSource>,
    pub(crate) ring: Ring<T>,
    #[cfg(not(loom))]
    pub(crate) pages: super::ring::Pages<T>,
    /// Events published: the ring holds sequence numbers `head - ring.len() .. head`.
    /// Written by the publisher only, SeqCst (paired with `sleepers`), after
    /// the ring words of every event below it.
    pub(crate) head: CachePadded<AtomicU64>,
    /// Notices published, written by the publisher only.
    pub(crate) notices: NoticeLog,
    pub(crate) next_id: AtomicU32,
    /// Every live subscriber plus the last few ended ones, for stats.
    pub(crate) registry: Mutex<Vec<Arc<Shared>>>,
    pub(crate) joins: Mutex<Joins>,
    /// Set by `subscribe` after queueing a join; cleared by the publisher.
    pub(crate) joins_pending: AtomicBool,
    /// Set by a dropped subscription; cleared by the publisher.
    pub(crate) leaves_pending: AtomicBool,
    /// Written by the publisher at flushes, on a line of their own so
    /// receivers reading the fields above do not pay for it.
    pub(crate) counters: CachePadded<PublisherCounters>,
    pub(crate) active: AtomicU32,
    /// Receivers waiting in `wait`; the publisher signals only if nonzero.
    /// Incremented (SeqCst) before a waiter's last look at the head and the
    /// notice count, which the publisher stores (SeqCst) before loading it:
    /// either the waiter sees the new value or the publisher sees the waiter.
    pub(crate) sleepers: AtomicUsize,
    pub(crate) lock: Mutex<()>,
    pub(crate) wake: Condvar,
}

impl<T> Hub<T> {
    /// Wakes every waiting receiver (after a flush, notices, an eviction, a close).
    pub(crate) fn wake_all(&self) {
        sync::seqcst_meet();
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = lock(&self.lock);
            self.wake.notify_all();
        }
    }
}

/// Keeps at most `retained` ended rows, dropping the oldest.
pub(crate) fn trim_ended(list: &mut Vec<Arc<Shared>>, retained: usize) {
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
