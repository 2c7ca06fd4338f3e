//! [`Broadcaster`]: the cloneable handle that subscribes and reads every
//! subscriber's and the publisher's counters without stopping the publisher.

use crossbeam_utils::CachePadded;

use super::config::{BroadcastConfig, SubscribeOptions, TimeSource};
use super::hub::{Hub, trim_ended};
use super::ring::{BLOCK, Slot};
use super::stats::{self, PublisherStats, STATE_CLOSED, STATE_JOINING, Shared, SubscriberStats};
use super::subscription::Subscription;
use super::sync::{self, Arc, AtomicU32, AtomicU64, Mutex, Ordering, lock};

/// The subscribing and observing half of a broadcaster. Clone freely.
pub struct Broadcaster<T> {
    pub(crate) hub: Arc<Hub<T>>,
}

impl<T> Broadcaster<T> {
    pub(crate) fn new(hub: Arc<Hub<T>>) -> Self {
        Broadcaster { hub }
    }
}

impl<T> Clone for Broadcaster<T> {
    fn clone(&self) -> Self {
        Broadcaster { hub: self.hub.clone() }
    }
}

impl<T> std::fmt::Debug for Broadcaster<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broadcaster").finish_non_exhaustive()
    }
}

impl<T: Slot> Broadcaster<T> {
    /// Subscribes with the default capacity, losing the oldest events when
    /// a full queue behind.
    pub fn subscribe(&self, name: impl Into<String>) -> Subscription<T> {
        self.subscribe_with(SubscribeOptions::new(name))
    }

    /// Subscribes. The subscription receives every event flushed after the
    /// publisher's next flush begins (including what is buffered then), and
    /// every notice from its own join on. If the broadcaster is already
    /// closed, the first receive returns [`RecvError::Closed`](super::RecvError::Closed).
    pub fn subscribe_with(&self, opts: SubscribeOptions) -> Subscription<T> {
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
            state: sync::AtomicU8::new(STATE_JOINING),
            joined_seq: AtomicU64::new(stats::NO_SEQ),
            joined_notice: AtomicU64::new(0),
            left_seq: AtomicU64::new(stats::NO_SEQ),
            evictions: AtomicU32::new(0),
            evict_reason: Mutex::new(None),
            notices_missed: AtomicU64::new(0),
            progress: CachePadded::new(stats::Progress::new()),
        });
        {
            // A subscriber that comes back under an ended one's name inherits
            // its eviction history and takes its row.
            let mut list = lock(&hub.registry);
            list.retain(|s| {
                let inherit = s.name == shared.name && s.state().is_ended();
                if inherit {
                    shared
                        .evictions
                        .fetch_max(s.evictions.load(Ordering::Acquire), Ordering::AcqRel);
                    let mut reason = lock(&shared.evict_reason);
                    if reason.is_none() {
                        *reason = s.reason();
                    }
                }
                !inherit
            });
            list.push(shared.clone());
            trim_ended(&mut list, hub.config.ended_retained);
        }
        {
            let mut joins = lock(&hub.joins);
            if joins.closed {
                // Nothing more will be published: it ends before it began.
                shared.state.store(STATE_CLOSED, Ordering::Release);
            } else {
                joins.queue.push(shared.clone());
                hub.joins_pending.store(true, Ordering::Release);
            }
        }
        Subscription::new(shared, hub.clone())
    }

    /// Stats of every live subscriber and the last few ended ones, in
    /// subscription order.
    pub fn stats(&self) -> Vec<SubscriberStats> {
        let head = self.hub.head.load(Ordering::Acquire);
        let list = lock(&self.hub.registry).clone();
        list.iter().map(|s| s.stats(head)).collect()
    }

    pub fn publisher_stats(&self) -> PublisherStats {
        let c = &self.hub.counters;
        PublisherStats {
            events: self.hub.head.load(Ordering::Acquire),
            notices: self.hub.notices.written(),
            batches: c.batches.load(Ordering::Acquire),
            busy_ns: c.busy_ns.load(Ordering::Acquire),
            subscribers: self.hub.active.load(Ordering::Acquire),
            health_checks: c.health_checks.load(Ordering::Acquire),
        }
    }

    /// The broadcaster's clock.
    pub fn clock(&self) -> &dyn TimeSource {
        &*self.hub.clock
    }

    /// The settings in force (the ring's size rounded up).
    pub fn config(&self) -> &BroadcastConfig {
        &self.hub.config
    }
}
