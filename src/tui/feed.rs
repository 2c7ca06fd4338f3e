//! A pane's own subscription. Each pane is a [`Feed`]: a subscription to the
//! broadcaster plus the view state it folds the stream into. No pane reads
//! another's state.
//!
//! A feed drains its queue on the UI's frame tick (never blocking). Two
//! things can cost it events, and it notices both:
//!
//! - **Lagging**: the publisher moved more than [`PANE_CAPACITY`] events
//!   past it between two frames, so it lost its oldest ones (its
//!   subscription's `dropped` count rose since the last pump).
//! - **Eviction**: it lagged for too long; it resubscribes at once and
//!   counts the events the eviction cost it.
//!
//! Either way its view was built from a partial stream, and whatever was
//! announced only once (the load settings, a worker's crash) may be missing.
//! So the feed **resynchronises** its view from the collector's newest
//! [`Snapshot`] ([`View::resync`]): the collector is the owner of the truth,
//! built to keep up with the whole stream. It keeps doing so at every pump
//! until it has applied a snapshot at least as new as the newest event it
//! had seen when it noticed the loss. The feed also records, per second of
//! pipeline time, how many events it missed ([`Losses`]), so the pane's
//! border can say so while the loss is in its window.

use crate::broadcast::{
    Broadcaster, Delivery, EvictReason, Item, Notice, RecvError, SubscribeOptions, SubscriberId, Subscription,
};
use crate::collector::Snapshot;
use crate::collector::window::SecondRing;
use crate::event::{Event, Nanos, SECONDS};

/// Queue bound of a pane's subscription, in events: at 100,000 requests/s
/// (about 330,000 events/s) that is 200 ms of stream, four frames at 20 fps.
pub const PANE_CAPACITY: usize = 65_536;

/// Seconds of loss history a feed keeps: the longest chart window (5 min)
/// plus the second in progress.
pub const LOSS_HISTORY_S: usize = 301;

/// State a pane builds from the stream.
pub trait View {
    fn apply(&mut self, ev: &Event);
    /// The broadcaster's notices about its subscribers, in stream order
    /// with the events. Ignored unless a view cares.
    fn notice(&mut self, _n: &Notice) {}
    /// Called after a drain that applied events: derive what is costly to
    /// keep current per event (merged histograms, ...).
    fn settle(&mut self) {}
    /// Events were lost somewhere between pipeline times `from` and `to`
    /// (the newest event seen before and after the drain that noticed it):
    /// views with per-second history mark those seconds.
    fn lost(&mut self, _from: Nanos, _to: Nanos) {}
    /// Takes from the collector's snapshot what a partial stream may have
    /// cost the view. Never replaces what the view saw after `snapshot.at`.
    fn resync(&mut self, _snapshot: &Snapshot) {}
}

/// What a feed lost, for its border. Bounded: one bucket per second for
/// [`LOSS_HISTORY_S`] seconds.
#[derive(Clone, Debug)]
pub struct Losses {
    /// Times this feed was evicted.
    pub evictions: u32,
    /// Events lost to those evictions (including what they dropped while
    /// lagging first).
    pub evicted_lost: u64,
    /// Events missed, by the second (of pipeline time) the loss was noticed in.
    missed: SecondRing<u64>,
    /// Pipeline time of the newest event applied.
    pub now: Nanos,
}

impl Default for Losses {
    fn default() -> Self {
        Losses {
            evictions: 0,
            evicted_lost: 0,
            missed: SecondRing::new(LOSS_HISTORY_S),
            now: 0,
        }
    }
}

impl Losses {
    fn note(&mut self, n: u64) {
        *self.missed.at(self.now / SECONDS) += n;
    }

    /// Events missed within the window of `window_s` seconds ending now
    /// (the second in progress included).
    pub fn missed_within(&self, window_s: u64) -> u64 {
        let now_sec = self.now / SECONDS;
        self.missed
            .range(now_sec.saturating_sub(window_s), now_sec)
            .map(|(_, n)| *n)
            .sum()
    }
}

/// What one pump did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pumped {
    /// Events applied (an eviction or a resync counts as a change too).
    pub changed: usize,
    /// The stream has ended for good (publisher closed).
    pub closed: bool,
    /// Evicted (and resubscribed).
    pub evicted: bool,
    /// The eviction as the broadcaster announced it: the subscription's id
    /// then, why, and everything it lost. A feed evicted in the same check
    /// as the Events pane's own feed misses the notice, so the app logs it.
    pub eviction: Option<(SubscriberId, EvictReason, u64)>,
    /// Events lost since the last pump.
    pub lost: u64,
}

/// A subscription and the view built from it.
pub struct Feed<V> {
    name: String,
    delivery: Delivery,
    broadcaster: Broadcaster<Event>,
    sub: Subscription<Event>,
    pub view: V,
    pub losses: Losses,
    /// The subscription's `dropped` count at the last pump.
    dropped_seen: u64,
    /// Resynchronise at each pump until a snapshot this new was applied.
    resync_until: Option<Nanos>,
}

impl<V: View> Feed<V> {
    /// Subscribes as `name`. `Delivery::Wait` is for replays, where the
    /// player may wait for the panes; live panes drop and get evicted like
    /// any other subscriber.
    pub fn new(broadcaster: &Broadcaster<Event>, name: &str, delivery: Delivery, view: V) -> Self {
        Feed {
            name: name.to_string(),
            delivery,
            broadcaster: broadcaster.clone(),
            sub: subscribe(broadcaster, name, delivery),
            view,
            losses: Losses::default(),
            dropped_seen: 0,
            resync_until: None,
        }
    }

    /// Applies everything queued; after a loss, resynchronises from
    /// `snapshot` (the collector's newest).
    pub fn pump(&mut self, snapshot: &Snapshot) -> Pumped {
        let from = self.losses.now;
        let (view, now) = (&mut self.view, &mut self.losses.now);
        let result = self.sub.drain_items(|item| match item {
            Item::Event(e) => {
                *now = (*now).max(e.t);
                view.apply(e)
            }
            Item::Notice(n) => view.notice(n),
        });
        if !matches!(result, Ok(0)) {
            self.view.settle();
        }
        let mut out = Pumped::default();
        match result {
            Ok(n) => {
                out.changed = n;
                let dropped = self.sub.stats().dropped;
                out.lost = dropped.saturating_sub(self.dropped_seen);
                self.dropped_seen = dropped;
            }
            Err(RecvError::Closed) => out.closed = true,
            Err(RecvError::Evicted { reason, dropped }) => {
                out.eviction = Some((self.sub.id(), reason, dropped));
                self.losses.evictions += 1;
                self.losses.evicted_lost += dropped;
                // `dropped` is its whole loss, what was counted while lagging included.
                out.lost = dropped.saturating_sub(self.dropped_seen);
                out.evicted = true;
                out.changed = 1;
                // It received nothing since it was cut off: what it lost
                // reaches at least as far as the collector has seen.
                if snapshot.is_published() {
                    self.losses.now = self.losses.now.max(snapshot.at);
                }
                self.sub = subscribe(&self.broadcaster, &self.name, self.delivery);
                self.dropped_seen = 0;
            }
        }
        if out.lost > 0 {
            self.losses.note(out.lost);
            self.view.lost(from, self.losses.now);
            self.resync_until = Some(self.resync_until.unwrap_or(0).max(self.losses.now));
        }
        if let Some(until) = self.resync_until
            && snapshot.is_published()
        {
            self.view.resync(snapshot);
            out.changed += 1;
            if snapshot.at >= until {
                self.resync_until = None;
            }
        }
        out
    }

    /// Starts over on a fresh subscription with `view` (a replay seeking back).
    pub fn reset(&mut self, view: V) {
        *self = Feed::new(&self.broadcaster, &self.name, self.delivery, view);
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

fn subscribe(b: &Broadcaster<Event>, name: &str, delivery: Delivery) -> Subscription<Event> {
    b.subscribe_with(SubscribeOptions::new(name).capacity(PANE_CAPACITY).delivery(delivery))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broadcast::{self, BroadcastConfig};
    use crate::clock::Clock;
    use crate::event::EventKind;

    /// Counts what it is told.
    #[derive(Default)]
    struct Probe {
        applied: u64,
        losses: Vec<(Nanos, Nanos)>,
        resynced_at: Vec<Nanos>,
    }

    impl View for Probe {
        fn apply(&mut self, _: &Event) {
            self.applied += 1;
        }
        fn lost(&mut self, from: Nanos, to: Nanos) {
            self.losses.push((from, to));
        }
        fn resync(&mut self, snapshot: &Snapshot) {
            self.resynced_at.push(snapshot.at);
        }
    }

    fn snapshot(at: Nanos) -> Snapshot {
        Snapshot {
            at,
            events: 1,
            ..Snapshot::default()
        }
    }

    /// Publishes `n` arrivals at t = 1 ..= n ns.
    fn publish(publisher: &mut broadcast::Publisher<Event>, n: u64) {
        for id in 1..=n {
            publisher.publish(Event::new(id, EventKind::RequestArrived { id }));
        }
        publisher.flush();
    }

    /// A feed that lost events resynchronises at every pump until it has
    /// applied a snapshot at least as new as the newest event it had seen
    /// when it noticed the loss; the loss shows in its record for the window.
    #[test]
    fn a_feed_resyncs_after_a_loss_until_a_snapshot_covers_it() {
        let (mut publisher, b) = broadcast::channel(BroadcastConfig::default(), Clock::manual());
        let mut feed = Feed::new(&b, "probe", Delivery::Drop, Probe::default());
        let n = PANE_CAPACITY as u64 + 10_000;
        publish(&mut publisher, n);
        let p = feed.pump(&Snapshot::default());
        assert!(p.lost >= 10_000, "{p:?}");
        assert_eq!(feed.view.losses, vec![(0, n)]);
        // No published snapshot yet: nothing to resync from.
        assert!(feed.view.resynced_at.is_empty());
        feed.pump(&snapshot(n - 1));
        feed.pump(&snapshot(n - 1));
        feed.pump(&snapshot(n));
        feed.pump(&snapshot(n + 1));
        assert_eq!(feed.view.resynced_at, vec![n - 1, n - 1, n]);
        assert_eq!(feed.losses.missed_within(1), p.lost);
    }

    /// A feed that keeps up never resynchronises and records no loss.
    #[test]
    fn a_feed_without_loss_never_resyncs() {
        let (mut publisher, b) = broadcast::channel(BroadcastConfig::default(), Clock::manual());
        let mut feed = Feed::new(&b, "probe", Delivery::Drop, Probe::default());
        for _ in 0..3 {
            publish(&mut publisher, 1_000);
            let p = feed.pump(&snapshot(0));
            assert_eq!(p.lost, 0);
        }
        assert!(feed.view.losses.is_empty() && feed.view.resynced_at.is_empty());
        assert_eq!(feed.losses.missed_within(300), 0);
    }
}
