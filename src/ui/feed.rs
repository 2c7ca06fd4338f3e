//! A pane's own subscription. Each pane is a [`Feed`]: a subscription to the
//! broadcaster plus the view state it folds the stream into. No pane reads
//! another's state.
//!
//! A feed drains its queue on the UI's frame tick (never blocking). If the
//! broadcaster evicts it (the UI fell behind), it records how many events it
//! lost, resubscribes at once, and its border says so; the pipeline never
//! waits for it.

use crate::broadcast::{Broadcaster, Delivery, Item, Notice, RecvError, SubscribeOptions, Subscription};
use crate::event::Event;

/// Queue bound of a pane's subscription, in events: at 100,000 requests/s
/// (about 330,000 events/s) that is 200 ms of stream, four frames at 20 fps.
pub const PANE_CAPACITY: usize = 65_536;

/// State a pane builds from the stream.
pub trait View {
    fn apply(&mut self, ev: &Event);
    /// The broadcaster's notices about its subscribers, in stream order
    /// with the events. Ignored unless a view cares.
    fn notice(&mut self, _n: &Notice) {}
    /// Called after a drain that applied events: derive what is costly to
    /// keep current per event (merged histograms, ...).
    fn settle(&mut self) {}
}

/// A subscription and the view built from it.
pub struct Feed<V> {
    name: String,
    delivery: Delivery,
    broadcaster: Broadcaster<Event>,
    sub: Subscription<Event>,
    pub view: V,
    /// Times this pane was evicted.
    pub evictions: u32,
    /// Events lost to those evictions.
    pub lost: u64,
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
            evictions: 0,
            lost: 0,
        }
    }

    /// Applies everything queued. Returns the number of events applied, and
    /// whether the stream has ended for good (publisher closed).
    pub fn pump(&mut self) -> (usize, bool) {
        let view = &mut self.view;
        let result = self.sub.drain_items(|item| match item {
            Item::Event(e) => view.apply(e),
            Item::Notice(n) => view.notice(n),
        });
        if !matches!(result, Ok(0)) {
            self.view.settle();
        }
        match result {
            Ok(n) => (n, false),
            Err(RecvError::Closed) => (0, true),
            Err(RecvError::Evicted { dropped, .. }) => {
                self.evictions += 1;
                self.lost += dropped;
                self.sub = subscribe(&self.broadcaster, &self.name, self.delivery);
                (1, false)
            }
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

fn subscribe(b: &Broadcaster<Event>, name: &str, delivery: Delivery) -> Subscription<Event> {
    b.subscribe_with(SubscribeOptions::new(name).capacity(PANE_CAPACITY).delivery(delivery))
}
