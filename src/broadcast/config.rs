//! Settings: the broadcaster's [`BroadcastConfig`] (with its
//! [`EvictionPolicy`]), how one subscribes ([`SubscribeOptions`],
//! [`Delivery`]), and the clock the broadcaster reads ([`TimeSource`]).
//! Every default is a documented constant here.

/// Nanoseconds on the broadcaster's [`TimeSource`].
pub type Nanos = u64;
/// A subscriber, unique for the broadcaster's life.
pub type SubscriberId = u32;

pub(crate) const MILLIS: Nanos = 1_000_000;
pub(crate) const SECONDS: Nanos = 1_000_000_000;

/// Default size of the shared ring, in events (8 MiB of 4-word slots).
pub const DEFAULT_RING_CAPACITY: usize = 1 << 18;
/// Default per-subscriber queue bound, in events.
pub const DEFAULT_SUBSCRIBER_CAPACITY: usize = 65_536;
/// Default largest batch, in events.
pub const DEFAULT_MAX_BATCH: usize = 256;
/// Default age at which [`Publisher::tick`](super::Publisher::tick) flushes a partial batch.
pub const DEFAULT_MAX_BATCH_AGE: Nanos = 40_000;
/// Default health-check interval: each subscriber's health is judged once
/// per this much broadcaster time.
pub const DEFAULT_HEALTH_INTERVAL: Nanos = 250 * MILLIS;
/// Default for [`EvictionPolicy::losing_for`].
pub const DEFAULT_LOSING_FOR: Nanos = 2 * SECONDS;
/// Default for [`EvictionPolicy::max_lost_percent`].
pub const DEFAULT_MAX_LOST_PERCENT: u8 = 50;
/// Default for [`EvictionPolicy::window`].
pub const DEFAULT_LOSS_WINDOW: Nanos = 2 * SECONDS;
/// Default number of ended subscribers whose stats are kept for display.
pub const DEFAULT_ENDED_RETAINED: usize = 32;
/// Default bound of the notice log, in notices.
pub const DEFAULT_NOTICE_CAPACITY: usize = 4096;
/// At most one lagging notice per subscriber per this much broadcaster time.
pub const LAGGING_NOTICE_EVERY: Nanos = SECONDS;

/// The broadcaster's clock: nanoseconds on a monotonic time line. The
/// application passes its own (the crate's `clock::Clock` implements it);
/// tests pass a manual one so health checks run without sleeping.
pub trait TimeSource: Send + Sync + 'static {
    /// Nanoseconds since the clock's zero; never decreases.
    fn now(&self) -> Nanos;
}

/// When a [`Delivery::Drop`] subscriber that loses events is evicted.
///
/// Both rules are judged at health checks (once per
/// [`BroadcastConfig::health_interval`]); either one evicts. See the module
/// docs' "Health and eviction" for a worked example.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvictionPolicy {
    /// Evict a subscriber that lost events at every health check for this
    /// long (ns), counted from the first check that found it losing. `None`:
    /// never on this rule.
    pub losing_for: Option<Nanos>,
    /// Evict a subscriber that lost more than this percentage of what was
    /// published to it over the last [`window`](Self::window), however often
    /// it receives. `None`: never on this rule. Values above 100 never fire.
    pub max_lost_percent: Option<u8>,
    /// The span the share rule looks back over (ns). A subscriber watched
    /// for less than this is not judged by the share rule yet.
    pub window: Nanos,
}

impl EvictionPolicy {
    /// Never evicts.
    pub const NEVER: EvictionPolicy = EvictionPolicy {
        losing_for: None,
        max_lost_percent: None,
        window: DEFAULT_LOSS_WINDOW,
    };
}

impl Default for EvictionPolicy {
    fn default() -> Self {
        EvictionPolicy {
            losing_for: Some(DEFAULT_LOSING_FOR),
            max_lost_percent: Some(DEFAULT_MAX_LOST_PERCENT),
            window: DEFAULT_LOSS_WINDOW,
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
    /// [`Publisher::tick`](super::Publisher::tick) flushes a buffer whose
    /// oldest event is this old.
    pub max_batch_age: Nanos,
    /// Each subscriber's health is judged at most once per this much
    /// broadcaster time (at least 1 ns).
    pub health_interval: Nanos,
    pub eviction: EvictionPolicy,
    /// Stats of this many ended subscribers are kept for display.
    pub ended_retained: usize,
    /// The notice log keeps the newest this many notices (at least 16); a
    /// subscriber that falls further behind in notices misses the oldest,
    /// and its stats count them.
    pub notice_capacity: usize,
}

impl Default for BroadcastConfig {
    fn default() -> Self {
        BroadcastConfig {
            ring_capacity: DEFAULT_RING_CAPACITY,
            default_capacity: DEFAULT_SUBSCRIBER_CAPACITY,
            max_batch: DEFAULT_MAX_BATCH,
            max_batch_age: DEFAULT_MAX_BATCH_AGE,
            health_interval: DEFAULT_HEALTH_INTERVAL,
            eviction: EvictionPolicy::default(),
            ended_retained: DEFAULT_ENDED_RETAINED,
            notice_capacity: DEFAULT_NOTICE_CAPACITY,
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
