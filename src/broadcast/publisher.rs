//! The publishing half: writes events into the ring, publishes them by
//! advancing the head, takes subscribers on and retires them, runs the
//! health checks, and writes the notices they call for.

use std::time::Instant;

use super::broadcaster::Broadcaster;
use super::config::{Delivery, EvictionPolicy};
use super::config::{Nanos, SubscriberId};
use super::health::{Health, Verdict};
use super::hub::{Hub, trim_ended};
use super::notice::{EvictReason, Notice, NoticeKind};
use super::ring::{BLOCK, Slot};
use super::stats::{
    NO_SEQ, Position, STATE_CLOSED, STATE_EVICTED, STATE_HEALTHY, STATE_JOINING, STATE_LAGGING, Shared,
};
use super::sync::{Arc, Ordering, lock, pause, spin_loop, yield_now};

/// One publish in this many is timed for [`PublisherStats::busy_ns`](super::PublisherStats::busy_ns).
pub const TIME_PUBLISH_EVERY: u64 = 256;

/// One flush in this many is timed for [`PublisherStats::busy_ns`](super::PublisherStats::busy_ns).
pub const TIME_EVERY: u64 = 64;

/// One flush in this many reads the clock to see whether a health check is
/// due (ticks always do), so a publisher that never ticks still checks.
const HEALTH_PROBE_EVERY: u64 = 64;

/// The publisher's view of one subscriber.
struct Watch {
    shared: Arc<Shared>,
    /// Its cursor as last read. Cursors only move forward, so while
    /// `cursor_seen + capacity >= head` it cannot have lost anything.
    cursor_seen: u64,
    health: Health,
}

/// The publishing half. Owned by one thread; not `Clone`.
pub struct Publisher<T: Slot> {
    hub: Arc<Hub<T>>,
    watches: Vec<Watch>,
    /// Broadcaster time of the first tick that saw events buffered.
    buf_oldest: Option<Nanos>,
    /// Notices for the log at the end of this flush or tick. Bounded by the
    /// subscribers: each causes at most one join, one health and one end
    /// notice per flush.
    notices: Vec<Notice>,
    /// Notices written to the log so far.
    notices_written: u64,
    /// The newest published event's timestamp, for `head` (notices' `t`).
    stamp: Option<(u64, Nanos)>,
    /// Events written to the ring so far: `head..seq` are not yet published.
    seq: u64,
    /// Events published so far (the head, owned here).
    head: u64,
    /// Flushes so far (for sampling the cost figure and probing health).
    flushes: u64,
    /// `config.max_batch`, kept at hand for the per-event check.
    max_batch: usize,
    /// Head advances so far (mirrored in `hub.counters`).
    batches: u64,
    /// The head past which some subscriber may have lost events (the least
    /// `cursor_seen + capacity`); `u64::MAX` when a due check is already
    /// waiting for the next interval.
    next_check: u64,
    /// Broadcaster time at which the next health check is due.
    next_sweep: Nanos,
    /// Subscribers the last health check found lagging: while none is, none
    /// can have lost events since (the head is within `next_check`) and
    /// nothing is buffered, an idle [`Publisher::tick`] reads no clock.
    lagging: usize,
    /// Someone may have lost events since the last health check, which
    /// waits for its interval: a tick must not skip it.
    sweep_owed: bool,
    /// Subscriber health looks so far (mirrored in `hub.counters`).
    health_checks: u64,
    /// The sequence number at which some [`Delivery::Wait`] subscriber may
    /// have no room left (the least `cursor_seen + capacity` of them).
    room_until: u64,
    /// `head + max_batch`: a publish that reaches it flushes.
    flush_at: u64,
    /// What one `Instant::now()` pair costs here, taken off timed samples.
    clock_cost: u64,
    closed: bool,
}

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

impl<T: Slot> std::fmt::Debug for Publisher<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("subscribers", &self.watches.len())
            .field("buffered", &(self.seq - self.head))
            .finish()
    }
}

impl<T: Slot> Publisher<T> {
    pub(super) fn new(hub: Arc<Hub<T>>) -> Publisher<T> {
        let max_batch = hub.config.max_batch;
        Publisher {
            hub,
            watches: Vec::new(),
            buf_oldest: None,
            notices: Vec::new(),
            notices_written: 0,
            stamp: None,
            seq: 0,
            head: 0,
            flushes: 0,
            max_batch,
            batches: 0,
            next_check: u64::MAX,
            next_sweep: 0,
            lagging: 0,
            sweep_owed: false,
            health_checks: 0,
            room_until: u64::MAX,
            flush_at: max_batch as u64,
            clock_cost: clock_cost(),
            closed: false,
        }
    }

    /// A handle for subscribing and stats.
    pub fn broadcaster(&self) -> Broadcaster<T> {
        Broadcaster::new(self.hub.clone())
    }

    /// Writes one event into the ring, to be published at the next flush;
    /// flushes when `max_batch` are waiting. Inlined into the caller: it
    /// runs once per event.
    #[inline]
    pub fn publish(&mut self, event: T) {
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

    /// Writes the first event of a block; samples the write cost. Kept out
    /// of line (one event in a block takes it) so that `publish`'s hot path
    /// stays small enough to inline and needs few registers.
    #[inline(never)]
    fn write_first(&mut self, event: T) {
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
    pub fn publish_all(&mut self, events: &[T]) {
        for e in events {
            self.publish(*e);
        }
    }

    /// Flushes a partial batch that has waited `max_batch_age` (counted from
    /// the first tick that saw it, so publishing itself never reads the
    /// clock); takes on new subscribers, retires departed ones, and runs the
    /// health check when it is due, even when nothing is buffered. Call it
    /// from the publishing thread's loop.
    pub fn tick(&mut self) {
        let pending = self.hub.joins_pending.load(Ordering::Acquire) || self.hub.leaves_pending.load(Ordering::Acquire);
        let judged = self.lagging == 0 && !self.sweep_owed && self.head <= self.next_check;
        if self.seq == self.head && judged && !pending {
            // Nothing to flush and nobody to judge: no clock read (the
            // pipeline's loop calls this at every turn).
            self.post_notices();
            return;
        }
        let now = self.hub.clock.now();
        let old = self.seq != self.head
            && now.saturating_sub(*self.buf_oldest.get_or_insert(now)) >= self.hub.config.max_batch_age;
        if old || self.hub.joins_pending.load(Ordering::Acquire) || self.hub.leaves_pending.load(Ordering::Acquire) {
            self.flush();
        }
        if now >= self.next_sweep {
            self.sweep(now);
        }
        self.post_notices();
    }

    /// Events written and not yet published.
    pub fn buffered(&self) -> usize {
        (self.seq - self.head) as usize
    }

    /// Subscribers currently receiving.
    pub fn subscriber_count(&self) -> usize {
        self.watches.len()
    }

    /// Publishes everything written, takes on joiners and retires leavers
    /// (announcing them), runs the health check if one is due, and wakes
    /// receivers that wait.
    pub fn flush(&mut self) {
        // The cost figure is sampled: one flush in `TIME_EVERY` is timed and
        // counts for `TIME_EVERY` (two clock reads per flush would be most
        // of a small flush's cost).
        self.flushes = self.flushes.wrapping_add(1);
        let started = self.flushes.is_multiple_of(TIME_EVERY).then(Instant::now);
        self.maintain();
        self.publish_head();
        if self.head > self.next_check || self.flushes.is_multiple_of(HEALTH_PROBE_EVERY) {
            self.probe_health();
        }
        self.post_notices();
        if let Some(started) = started {
            let busy = (started.elapsed().as_nanos() as u64).saturating_sub(self.clock_cost) * TIME_EVERY;
            self.hub.counters.busy_ns.fetch_add(busy, Ordering::Relaxed);
        }
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

    /// Writes the notices made so far to the log, and wakes whoever waits.
    fn post_notices(&mut self) {
        if self.notices.is_empty() {
            return;
        }
        self.notices_written = self.hub.notices.append(&mut self.notices);
        self.hub.wake_all();
    }

    /// Makes a notice about `subscriber`, placed after everything published.
    fn notice(&mut self, subscriber: SubscriberId, kind: NoticeKind) {
        let head = self.head;
        let t = match self.stamp {
            Some((at, t)) if at == head => t,
            _ => {
                let t = head
                    .checked_sub(1)
                    .and_then(|last| self.hub.ring.own(last))
                    .map_or(0, |e| e.timestamp());
                self.stamp = Some((head, t));
                t
            }
        };
        self.notices.push(Notice {
            seq: head,
            t,
            subscriber,
            kind,
        });
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

    /// Reads the clock and runs the health check if it is due; otherwise a
    /// possible loss waits for it (no more looks until then).
    #[cold]
    fn probe_health(&mut self) {
        let now = self.hub.clock.now();
        if now >= self.next_sweep {
            self.sweep(now);
        } else if self.head > self.next_check {
            self.next_check = u64::MAX;
            self.sweep_owed = true;
        }
    }

    /// The health check: judges every [`Delivery::Drop`] subscriber on what
    /// it lost since the last check (marking it lagging, healthy or
    /// evicted) and makes the notices that calls for. One look at each, once
    /// per interval.
    fn sweep(&mut self, now: Nanos) {
        self.next_sweep = now.saturating_add(self.hub.config.health_interval);
        self.sweep_owed = false;
        let head = self.head;
        let policy: EvictionPolicy = self.hub.config.eviction;
        let mut next_check = u64::MAX;
        let mut evicted = false;
        let mut lagging = 0;
        let mut made = Vec::new();
        for w in &mut self.watches {
            let s = &*w.shared;
            if s.delivery == Delivery::Wait {
                continue;
            }
            let state = s.state.load(Ordering::Acquire);
            if state != STATE_HEALTHY && state != STATE_LAGGING {
                continue; // it left: retired at the next flush
            }
            let p = s.progress.read();
            w.cursor_seen = w.cursor_seen.max(p.cursor);
            let a = s.account_at(state, s.joined_seq.load(Ordering::Acquire), head, p);
            self.health_checks += 1;
            let verdict = w.health.judge(now, a.published, a.dropped, &policy);
            let (from, to) = match verdict {
                Verdict::Healthy => (STATE_LAGGING, STATE_HEALTHY),
                Verdict::Lagging => {
                    lagging += 1;
                    (STATE_HEALTHY, STATE_LAGGING)
                }
                Verdict::Evict(reason) => {
                    // Everything it had not received is lost to it.
                    let dropped = p.skipped + head.saturating_sub(p.cursor);
                    if evict(s, reason, head) {
                        made.push((s.id, NoticeKind::Evicted { reason, dropped }));
                    }
                    evicted = true;
                    continue;
                }
            };
            let _ = s.state.compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire);
            if let Some(kind) = w.health.notice(now, verdict, a.dropped) {
                made.push((s.id, kind));
            }
            next_check = next_check.min(w.cursor_seen + s.capacity);
        }
        self.next_check = next_check;
        self.lagging = lagging;
        for (id, kind) in made {
            self.notice(id, kind);
        }
        self.hub
            .counters
            .health_checks
            .store(self.health_checks, Ordering::Relaxed);
        if evicted {
            self.hub.wake_all(); // an evicted receiver that waits learns it now
            self.retire();
        }
    }

    /// Takes on subscribers that joined since the last flush and retires
    /// departed ones: two plain loads in the common case.
    #[inline]
    fn maintain(&mut self) {
        let hub = &*self.hub;
        if hub.joins_pending.load(Ordering::Relaxed) && hub.joins_pending.swap(false, Ordering::AcqRel) {
            self.take_on_joiners();
        }
        let hub = &*self.hub;
        if hub.leaves_pending.load(Ordering::Relaxed) && hub.leaves_pending.swap(false, Ordering::AcqRel) {
            self.retire();
        }
    }

    /// Takes on the subscribers queued to join.
    #[cold]
    fn take_on_joiners(&mut self) {
        let joined = std::mem::take(&mut lock(&self.hub.joins).queue);
        let now = self.hub.clock.now();
        for shared in joined {
            // It is offered everything not yet published, and every notice
            // from its own join on.
            shared.progress.write(Position {
                cursor: self.head,
                ..Position::default()
            });
            shared.joined_seq.store(self.head, Ordering::Release);
            let notice_at = self.notices_written + self.notices.len() as u64;
            shared.joined_notice.store(notice_at, Ordering::Release);
            if shared
                .state
                .compare_exchange(STATE_JOINING, STATE_HEALTHY, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                self.notice(shared.id, NoticeKind::Joined);
                self.next_check = self.next_check.min(self.head + shared.capacity);
                if shared.delivery == Delivery::Wait {
                    self.room_until = self.room_until.min(self.head + shared.capacity);
                }
                self.health_checks += 1;
                self.watches.push(Watch {
                    cursor_seen: self.head,
                    shared,
                    health: Health::new(now),
                });
            } else {
                // Dropped before we took it on: it saw nothing.
                shared.joined_seq.store(NO_SEQ, Ordering::Release);
            }
        }
        self.hub.active.store(self.watches.len() as u32, Ordering::Release);
    }

    /// Forgets subscribers that ended, announcing those that left.
    fn retire(&mut self) {
        let mut left = Vec::new();
        self.watches.retain(|w| {
            let state = w.shared.state.load(Ordering::Acquire);
            if state == STATE_CLOSED {
                left.push(w.shared.id);
            }
            state == STATE_HEALTHY || state == STATE_LAGGING
        });
        for id in left {
            self.notice(id, NoticeKind::Left);
        }
        self.room_until = self
            .watches
            .iter()
            .filter(|w| w.shared.delivery == Delivery::Wait)
            .map(|w| w.cursor_seen + w.shared.capacity)
            .min()
            .unwrap_or(u64::MAX);
        let hub = &*self.hub;
        hub.active.store(self.watches.len() as u32, Ordering::Release);
        let retained = hub.config.ended_retained;
        trim_ended(&mut lock(&hub.registry), retained);
    }

    /// Flushes what is buffered, then closes every subscription: subscribers
    /// receive everything published, then [`RecvError::Closed`](super::RecvError::Closed).
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        // The moves to Closed are SeqCst, like the head's store: a receiver
        // that waits saw the old state after announcing itself in
        // `sleepers`, or `wake_all` sees it there (no lost wake-up).
        if std::mem::replace(&mut self.closed, true) {
            return;
        }
        self.flush();
        let head = self.head;
        for w in self.watches.drain(..) {
            let s = &*w.shared;
            for from in [STATE_HEALTHY, STATE_LAGGING] {
                if s.state
                    .compare_exchange(from, STATE_CLOSED, Ordering::SeqCst, Ordering::Acquire)
                    .is_ok()
                {
                    s.left_seq.store(head, Ordering::Release);
                }
            }
        }
        // Late joiners: nothing more will be published.
        let late = {
            let mut joins = lock(&self.hub.joins);
            joins.closed = true;
            std::mem::take(&mut joins.queue)
        };
        for shared in late {
            if shared
                .state
                .compare_exchange(STATE_JOINING, STATE_CLOSED, Ordering::SeqCst, Ordering::Acquire)
                .is_ok()
            {
                shared.left_seq.store(head, Ordering::Release);
            }
        }
        self.hub.active.store(0, Ordering::Release);
        self.hub.wake_all();
    }
}

impl<T: Slot> Drop for Publisher<T> {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Moves `s` to Evicted for `reason` at `head` (unless it has just left).
fn evict(s: &Shared, reason: EvictReason, head: u64) -> bool {
    // The reason goes first: the subscription reads it once it sees the
    // state. If it has just left, the old one stays. SeqCst, as the moves
    // to Closed: it wakes a receiver that waits.
    let before = lock(&s.evict_reason).replace(reason);
    for from in [STATE_LAGGING, STATE_HEALTHY] {
        if s.state
            .compare_exchange(from, STATE_EVICTED, Ordering::SeqCst, Ordering::Acquire)
            .is_ok()
        {
            s.left_seq.store(head, Ordering::Release);
            s.evictions.fetch_add(1, Ordering::AcqRel);
            return true;
        }
    }
    *lock(&s.evict_reason) = before;
    false
}

/// Waits until the event `seq` fits `s`'s queue (or it leaves); returns its
/// cursor as last read.
fn wait_for_room(s: &Shared, seq: u64) -> u64 {
    let mut spins = 0u32;
    loop {
        let cursor = s.progress.cursor();
        if seq + 1 - cursor <= s.capacity || s.state.load(Ordering::Acquire) == STATE_CLOSED {
            return cursor;
        }
        spins += 1;
        if spins < 64 {
            spin_loop();
        } else if spins < 128 {
            yield_now();
        } else {
            pause();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::super::testing::Tick;
    use super::super::{BroadcastConfig, Nanos, TimeSource, channel};

    /// A manual clock that counts how often it is read.
    #[derive(Clone, Default)]
    struct CountingTime {
        now: Arc<AtomicU64>,
        reads: Arc<AtomicU64>,
    }

    impl TimeSource for CountingTime {
        fn now(&self) -> Nanos {
            self.reads.fetch_add(1, Ordering::Relaxed);
            self.now.load(Ordering::Relaxed)
        }
    }

    /// A tick with nothing buffered and every subscriber healthy reads no
    /// clock (the pipeline's loop ticks at every turn); one with a lagging
    /// subscriber to judge does.
    #[test]
    fn an_idle_tick_reads_no_clock_while_everyone_is_healthy() {
        let clock = CountingTime::default();
        let config = BroadcastConfig {
            max_batch: 4,
            default_capacity: 4,
            ..BroadcastConfig::default()
        };
        let (mut publisher, b) = channel::<Tick>(config, clock.clone());
        let sub = b.subscribe("reader");
        for id in 0..8 {
            publisher.publish(Tick { t: id, id });
        }
        publisher.flush();
        sub.drain(|_| {}).unwrap();
        // The next health check sees it caught up.
        clock.now.store(config.health_interval, Ordering::Relaxed);
        publisher.tick();
        let before = clock.reads.load(Ordering::Relaxed);
        for _ in 0..1_000 {
            publisher.tick();
        }
        assert_eq!(clock.reads.load(Ordering::Relaxed), before, "idle ticks read the clock");

        // It falls more than its queue behind: the next ticks must judge it.
        for id in 8..64 {
            publisher.publish(Tick { t: id, id });
        }
        publisher.flush();
        let before = clock.reads.load(Ordering::Relaxed);
        publisher.tick();
        assert!(
            clock.reads.load(Ordering::Relaxed) > before,
            "a loss to judge reads the clock"
        );
        drop(sub);
    }
}
