//! The receiving end: a [`Subscription`] is a cursor into the shared ring,
//! a place in the notice log, and the ways to receive ([`Batch`], `drain`,
//! `drain_with`). Owns the reading side of every promise in the module docs:
//! whole events in publish order, every skip counted, notices in stream
//! order.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::config::SubscriberId;
use super::hub::Hub;
use super::notice::EvictReason;
use super::notice::Notice;
use super::ring::{BLOCK, Slot};
use super::stats::{NO_SEQ, Position, STATE_CLOSED, STATE_EVICTED, STATE_JOINING, Shared, SubscriberStats};
use super::sync::{Arc, Ordering, lock, spin_loop, yield_now};

/// What a receive hands back: up to `max_batch` events in publish order
/// (deref it: `&[T]`), and the notices that came with them, in stream order
/// (each notice's [`seq`](Notice::seq) places it among the events).
///
/// A batch is never empty: it has an event or a notice.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch<T> {
    events: Vec<T>,
    notices: Vec<Notice>,
}

impl<T> Default for Batch<T> {
    fn default() -> Self {
        Batch {
            events: Vec::new(),
            notices: Vec::new(),
        }
    }
}

impl<T> Batch<T> {
    /// The notices handed over with these events.
    pub fn notices(&self) -> &[Notice] {
        &self.notices
    }

    /// The events, owned.
    pub fn into_events(self) -> Vec<T> {
        self.events
    }

    /// Whether it holds neither events nor notices.
    pub fn is_empty_of_everything(&self) -> bool {
        self.events.is_empty() && self.notices.is_empty()
    }
}

impl<T> std::ops::Deref for Batch<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.events
    }
}

impl<T> IntoIterator for Batch<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;
    fn into_iter(self) -> Self::IntoIter {
        self.events.into_iter()
    }
}

impl<'a, T> IntoIterator for &'a Batch<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.events.iter()
    }
}

/// One thing a subscription hands over, in stream order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Item<'a, T> {
    Event(&'a T),
    Notice(&'a Notice),
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

/// The receiving end of one subscriber: a cursor into the shared ring.
/// Dropping it unsubscribes. `Send` but not `Sync`: one thread at a time
/// moves its cursor.
pub struct Subscription<T> {
    shared: Arc<Shared>,
    hub: Arc<Hub<T>>,
    /// Notices fetched from the log and not yet handed over (their `seq` is
    /// past the cursor), oldest first. Bounded by the log's capacity: the
    /// oldest go (counted as missed) beyond it.
    pending: RefCell<VecDeque<Notice>>,
    /// The index of the next notice to fetch from the log; [`NO_SEQ`] until
    /// the publisher has taken it on.
    notice_next: Cell<u64>,
}

impl<T> std::fmt::Debug for Subscription<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.shared.id)
            .field("name", &self.shared.name)
            .finish_non_exhaustive()
    }
}

/// What one look at the ring found.
enum Took {
    /// This many events and notices were handed over.
    Some { events: usize },
    /// Nothing yet: the head, state and notice count as seen, to wait for a change.
    Nothing { head: u64, state: u8, notices: u64 },
}

/// A waiting receiver's backoff before it sleeps: this many steps, the
/// first [`BACKOFF_SPIN_STEPS`] spinning 1, 2, 4, ... times, the rest
/// yielding the CPU once each. (One step under loom: the model explores
/// the sleep, which is what can go wrong.)
#[cfg(not(loom))]
const BACKOFF_STEPS: u32 = 10;
#[cfg(loom)]
const BACKOFF_STEPS: u32 = 1;
const BACKOFF_SPIN_STEPS: u32 = 6;

impl<T: Slot> Subscription<T> {
    pub(super) fn new(shared: Arc<Shared>, hub: Arc<Hub<T>>) -> Subscription<T> {
        Subscription {
            shared,
            hub,
            pending: RefCell::new(VecDeque::new()),
            notice_next: Cell::new(NO_SEQ),
        }
    }

    pub fn id(&self) -> SubscriberId {
        self.shared.id
    }

    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Waits for the next batch (at most `max_batch` events, and the
    /// notices due with them).
    pub fn recv(&self) -> Result<Batch<T>, RecvError> {
        self.recv_until(None).map(Option::unwrap_or_default)
    }

    /// The next batch if anything is queued: `Ok(None)` when nothing is.
    pub fn try_recv(&self) -> Result<Option<Batch<T>>, RecvError> {
        let mut batch = Batch::default();
        match self.take(self.hub.config.max_batch, |item| batch.push(item))? {
            Took::Some { .. } => Ok(Some(batch)),
            Took::Nothing { .. } => Ok(None),
        }
    }

    /// Waits at most `timeout` for the next batch: `Ok(None)` on time-out.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<Batch<T>>, RecvError> {
        self.recv_until(Some(Instant::now() + timeout))
    }

    /// Waits until `deadline` for the next batch: `Ok(None)` when it passes.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<Option<Batch<T>>, RecvError> {
        self.recv_until(Some(deadline))
    }

    fn recv_until(&self, deadline: Option<Instant>) -> Result<Option<Batch<T>>, RecvError> {
        loop {
            let mut batch = Batch::default();
            match self.take(self.hub.config.max_batch, |item| batch.push(item))? {
                Took::Some { .. } => return Ok(Some(batch)),
                Took::Nothing { head, state, notices } => {
                    // A short backoff first (a few spins, then yields): a
                    // busy publisher's next flush is often microseconds
                    // away, and waking from a sleep costs more than that.
                    let seen = Seen { head, state, notices };
                    if !self.backoff(seen) && !self.wait(seen, deadline) {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Hands every queued event to `f`, without waiting; notices due are
    /// consumed and not shown (use [`drain_with`](Self::drain_with) to see
    /// them). Returns how many events were handled, or how the subscription
    /// ended (after handling what was queued).
    pub fn drain(&self, mut f: impl FnMut(&T)) -> Result<usize, RecvError> {
        self.drain_items(|item| {
            if let Item::Event(e) = item {
                f(e)
            }
        })
    }

    /// Hands every queued event to `on_event` and every notice due to
    /// `on_notice`, interleaved in stream order, without waiting. Returns
    /// how many events were handled, or how the subscription ended.
    ///
    /// ```
    /// use fantop::broadcast::{channel, BroadcastConfig, NoticeKind};
    /// use fantop::clock::Clock;
    /// use fantop::event::{Event, EventKind};
    ///
    /// let (mut publisher, b) = channel(BroadcastConfig::default(), Clock::manual());
    /// let sub = b.subscribe("watcher");
    /// let visitor = b.subscribe("visitor");
    /// publisher.publish(Event::new(1, EventKind::RequestArrived { id: 0 }));
    /// publisher.flush(); // both joined, then the event
    /// drop(visitor);
    /// publisher.publish(Event::new(2, EventKind::RequestArrived { id: 1 }));
    /// publisher.flush(); // "visitor left", then the event
    /// let mut stream = Vec::new();
    /// let mut notices = Vec::new();
    /// sub.drain_with(|e| stream.push(e.t), |n| notices.push((n.seq, n.kind))).unwrap();
    /// assert_eq!(stream, [1, 2]);
    /// // Each notice's `seq`: how many events came before it.
    /// assert_eq!(
    ///     notices,
    ///     [(0, NoticeKind::Joined), (0, NoticeKind::Joined), (1, NoticeKind::Left)]
    /// );
    /// ```
    pub fn drain_with(
        &self,
        mut on_event: impl FnMut(&T),
        mut on_notice: impl FnMut(&Notice),
    ) -> Result<usize, RecvError> {
        self.drain_items(|item| match item {
            Item::Event(e) => on_event(e),
            Item::Notice(n) => on_notice(n),
        })
    }

    /// [`drain_with`](Self::drain_with) with one closure (for when both
    /// halves need the same state).
    pub fn drain_items(&self, f: impl FnMut(Item<'_, T>)) -> Result<usize, RecvError> {
        match self.take(usize::MAX, f)? {
            Took::Some { events } => Ok(events),
            Took::Nothing { .. } => Ok(0),
        }
    }

    /// This subscriber's counters now.
    pub fn stats(&self) -> SubscriberStats {
        self.shared.stats(self.hub.head.load(Ordering::Acquire))
    }

    /// Fetches notices the log has beyond what this subscription fetched.
    fn fetch_notices(&self, written: u64, pending: &mut VecDeque<Notice>) {
        let mut next = self.notice_next.get();
        if next == NO_SEQ {
            next = self.shared.joined_notice.load(Ordering::Acquire);
        }
        if written > next {
            let (after, missed) = self.hub.notices.copy_from(next, pending);
            next = after;
            let over = pending.len().saturating_sub(self.hub.config.notice_capacity);
            pending.drain(..over);
            if missed + over as u64 > 0 {
                self.shared
                    .notices_missed
                    .fetch_add(missed + over as u64, Ordering::Relaxed);
            }
        }
        self.notice_next.set(next);
    }

    /// Hands up to `max` queued events to `f`, with the notices due among
    /// them, skipping (and counting) what fell out of its window; `Err` once
    /// the subscription has ended and everything it may still receive has
    /// been received.
    fn take(&self, max: usize, mut f: impl FnMut(Item<'_, T>)) -> Result<Took, RecvError> {
        let s = &*self.shared;
        let hub = &*self.hub;
        let state = s.state.load(Ordering::Acquire);
        match state {
            STATE_EVICTED => return Err(self.evicted()),
            STATE_JOINING => {
                let head = hub.head.load(Ordering::SeqCst);
                let notices = hub.notices.written();
                return Ok(Took::Nothing { head, state, notices });
            }
            STATE_CLOSED if s.joined_seq.load(Ordering::Acquire) == NO_SEQ => return Err(RecvError::Closed),
            _ => {}
        }
        let notices = hub.notices.written();
        let mut pending = self.pending.borrow_mut();
        if notices > self.notice_next.get() || self.notice_next.get() == NO_SEQ {
            self.fetch_notices(notices, &mut pending);
        }
        let start = s.progress.own();
        let mut cursor = start.cursor;
        let mut skipped = 0;
        let mut n = 0;
        let mut handed = 0;
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
            let mut block = [T::BLANK; BLOCK as usize];
            // Pages before this one are not looked for again.
            #[cfg(not(loom))]
            let mut unshared = 0;
            while cursor < stop {
                // The notices due before event `cursor`.
                while let Some(notice) = pending.front().filter(|x| x.seq <= cursor) {
                    f(Item::Notice(notice));
                    pending.pop_front();
                    handed += 1;
                }
                // Events up to the next notice, at most.
                let limit = pending.front().map_or(stop, |x| x.seq.min(stop));
                // A whole published page is read as shared, plain events.
                #[cfg(not(loom))]
                {
                    use super::ring::PAGE;
                    let first = cursor - cursor % PAGE;
                    if first >= unshared && first + PAGE <= end {
                        unshared = first + PAGE;
                        if let Some(page) = self.shared_page(first).as_deref().and_then(Option::as_deref) {
                            let to = limit.min(first + PAGE);
                            page.events[(cursor - first) as usize..(to - first) as usize]
                                .iter()
                                .for_each(|e| f(Item::Event(e)));
                            n += (to - cursor) as usize;
                            cursor = to;
                            continue;
                        }
                    }
                }
                let to = limit.min(cursor - cursor % BLOCK + BLOCK);
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
                        f(Item::Event(e));
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
        // The notices due after the last event handed over.
        while let Some(notice) = pending.front().filter(|x| x.seq <= cursor) {
            f(Item::Notice(notice));
            pending.pop_front();
            handed += 1;
        }
        if cursor != start.cursor || skipped > 0 {
            s.progress.write(Position {
                cursor,
                skipped: start.skipped + skipped,
                unread: start.unread,
            });
        }
        if n > 0 {
            s.progress.last_recv.store(hub.clock.now(), Ordering::Release);
        }
        if n > 0 || handed > 0 {
            return Ok(Took::Some { events: n });
        }
        if state == STATE_CLOSED && cursor >= end {
            return Err(RecvError::Closed);
        }
        Ok(Took::Nothing {
            head: end,
            state,
            notices,
        })
    }

    /// The decoded page starting at `first` (published in full): shared by
    /// another reader, or decoded now and shared if there are other
    /// subscribers to share it with. `None` if it is neither shared nor
    /// worth sharing, if a newer page holds its slot, or if the ring has
    /// overwritten some of it: the caller reads the ring instead.
    #[cfg(not(loom))]
    fn shared_page(&self, first: u64) -> Option<super::ring::PageGuard<T>> {
        use super::ring::{Page, WHOLE_BLOCK, ptr};
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
        let previous = slot.compare_and_swap(&current, Some(std::sync::Arc::new(Page { first, events })));
        let swapped = ptr(&previous) == ptr(&current);
        drop(previous);
        // The page it displaced, to decode the next one into once no reader
        // holds it.
        if swapped
            && let Some(old) = arc_swap::Guard::into_inner(current)
            && let Ok(old) = std::sync::Arc::try_unwrap(old)
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
            spin_loop();
        }
        RecvError::Evicted {
            reason: s.reason().unwrap_or(EvictReason::LosingFor { for_ns: 0 }),
            dropped: s.account(head).dropped,
        }
    }

    /// Whether anything changed since `seen`. SeqCst: in `wait` these loads
    /// follow the `sleepers` increment, pairing with the publisher's stores
    /// of the head and notice count and its `sleepers` load (no lost wake-up).
    fn moved(&self, seen: Seen) -> bool {
        self.hub.head.load(Ordering::SeqCst) != seen.head
            || self.hub.notices.written() != seen.notices
            || self.shared.state.load(Ordering::SeqCst) != seen.state
    }

    /// Spins, then yields, a bounded number of times while nothing changes:
    /// true as soon as something does.
    fn backoff(&self, seen: Seen) -> bool {
        for step in 0..BACKOFF_STEPS {
            if step < BACKOFF_SPIN_STEPS {
                for _ in 0..1 << step {
                    spin_loop();
                }
            } else {
                yield_now();
            }
            if self.moved(seen) {
                return true;
            }
        }
        false
    }

    /// Waits until something changes since `seen`, or `deadline` passes.
    /// Returns false on time-out.
    fn wait(&self, seen: Seen, deadline: Option<Instant>) -> bool {
        let hub = &*self.hub;
        let mut guard = lock(&hub.lock);
        hub.sleepers.fetch_add(1, Ordering::SeqCst);
        super::sync::seqcst_meet();
        let woke = loop {
            if self.moved(seen) {
                break true;
            }
            match deadline {
                None => guard = hub.wake.wait(guard).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break false;
                    }
                    guard = hub.wake.wait_timeout(guard, left).unwrap_or_else(|e| e.into_inner()).0;
                }
            }
        };
        hub.sleepers.fetch_sub(1, Ordering::SeqCst);
        woke
    }
}

/// What a receive that found nothing saw.
#[derive(Clone, Copy)]
struct Seen {
    head: u64,
    state: u8,
    notices: u64,
}

impl<T: Copy> Batch<T> {
    fn push(&mut self, item: Item<'_, T>) {
        match item {
            Item::Event(e) => self.events.push(*e),
            Item::Notice(n) => self.notices.push(*n),
        }
    }
}

impl<T> Drop for Subscription<T> {
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
        let p = s.progress.own();
        let backlog = end.saturating_sub(p.cursor);
        let queued = backlog.min(s.capacity);
        s.progress.write(Position {
            cursor: p.cursor.max(end),
            skipped: p.skipped + (backlog - queued),
            unread: queued,
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::super::ring::{PAGE, Page, ptr};
    use super::super::testing::{ManualTime as Clock, Tick as Event};
    use super::super::{BroadcastConfig, Broadcaster, Publisher, channel};

    fn publish_n(p: &mut Publisher<Event>, n: u64) {
        for i in 0..n {
            p.publish(Event { t: i, id: i });
        }
        p.flush();
    }

    /// The page starting at `first` as its slot holds it.
    fn slot_page(b: &Broadcaster<Event>, first: u64) -> Option<std::sync::Arc<Page<Event>>> {
        b.hub.pages.slot(first).load_full().filter(|p| p.first == first)
    }

    #[test]
    fn a_whole_page_is_decoded_once_and_shared_by_every_reader() {
        let (mut p, b) = channel(BroadcastConfig::default(), Clock::default());
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
            Some(std::sync::Arc::as_ptr(&shared)),
            "the same page, not a second decode"
        );
        assert_eq!(&shared.events[..], &seen[0][PAGE as usize..2 * PAGE as usize]);
    }

    #[test]
    fn a_lone_subscriber_decodes_no_page() {
        let (mut p, b) = channel(BroadcastConfig::default(), Clock::default());
        let sub = b.subscribe("alone");
        p.tick();
        publish_n(&mut p, 3 * PAGE);
        assert_eq!(sub.drain(|_| {}).unwrap(), 3 * PAGE as usize);
        assert!(slot_page(&b, 0).is_none() && slot_page(&b, PAGE).is_none());
    }

    #[test]
    fn a_page_the_ring_has_partly_overwritten_is_not_decoded() {
        let config = BroadcastConfig {
            ring_capacity: 1024,
            default_capacity: 512,
            ..BroadcastConfig::default()
        };
        let (mut p, b) = channel(config, Clock::default());
        let (behind, other) = (b.subscribe("behind"), b.subscribe("other"));
        p.tick();
        publish_n(&mut p, 1024 + 100);
        // The ring holds events 100..1124: page 0 is whole and published,
        // but its first 100 events are gone.
        assert!(behind.shared_page(0).is_none());
        assert!(slot_page(&b, 0).is_none());
        // What the reader still can get comes from the ring, in order.
        let mut ids = Vec::new();
        behind.drain(|e| ids.push(e.id)).unwrap();
        assert!(
            ids.windows(2).all(|w| w[1] == w[0] + 1),
            "in order, no gap within the window"
        );
        assert_eq!(ids.last(), Some(&(1024 + 100 - 1)));
        drop(other);
    }
}
