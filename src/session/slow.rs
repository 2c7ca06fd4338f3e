//! Deliberately slow subscribers, to inject the fault the broadcaster exists
//! to contain. Each runs on its own thread (`fantop/slow-N`), takes one
//! batch every [`SLOW_EVERY`] with a small queue, so under any real load its
//! queue fills, it lags, and the broadcaster evicts it — while every other
//! subscriber keeps receiving everything.

use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{RecvTimeoutError, Sender};

use crate::broadcast::{Broadcaster, SubscribeOptions};
use crate::event::Event;
use crate::event::Nanos;

/// Queue bound of a slow subscriber, in events.
pub const SLOW_CAPACITY: usize = 4_096;
/// A slow subscriber takes one batch this often.
pub const SLOW_EVERY: Duration = Duration::from_millis(250);
/// Most slow subscribers at once.
pub const MAX_SLOW: usize = 64;

struct Slow {
    name: String,
    stop_tx: Sender<()>,
    thread: JoinHandle<()>,
}

/// The slow subscribers of one run. Dropping it stops and joins them all.
pub struct SlowSubscribers {
    broadcaster: Broadcaster<Event>,
    next: u32,
    live: Vec<Slow>,
    /// Virtual-time runs: no threads; each takes one batch per
    /// [`SLOW_EVERY`] of simulated time when [`SlowSubscribers::tick_virtual`]
    /// is called, so what happens to them depends only on simulated time.
    /// Holds each one's subscription and its next receive time.
    virtual_subs: Option<Vec<(crate::broadcast::Subscription<Event>, Option<Nanos>)>>,
}

impl SlowSubscribers {
    pub fn new(broadcaster: &Broadcaster<Event>) -> Self {
        SlowSubscribers {
            broadcaster: broadcaster.clone(),
            next: 1,
            live: Vec::new(),
            virtual_subs: None,
        }
    }

    /// For runs in simulated time (offscreen, `--fast`): slow subscribers
    /// without threads, paced by [`SlowSubscribers::tick_virtual`].
    pub fn new_virtual(broadcaster: &Broadcaster<Event>) -> Self {
        SlowSubscribers {
            broadcaster: broadcaster.clone(),
            next: 1,
            live: Vec::new(),
            virtual_subs: Some(Vec::new()),
        }
    }

    /// Adds one (`slow-1`, `slow-2`, ...); returns its name.
    pub fn add(&mut self) -> Result<String, String> {
        if let Some(subs) = &mut self.virtual_subs {
            if subs.len() >= MAX_SLOW {
                return Err(format!("at most {MAX_SLOW} slow subscribers"));
            }
            let name = format!("slow-{}", self.next);
            self.next += 1;
            let sub = self
                .broadcaster
                .subscribe_with(SubscribeOptions::new(name.clone()).capacity(SLOW_CAPACITY));
            subs.push((sub, None));
            return Ok(name);
        }
        self.reap();
        if self.live.len() >= MAX_SLOW {
            return Err(format!("at most {MAX_SLOW} slow subscribers"));
        }
        let name = format!("slow-{}", self.next);
        self.next += 1;
        let sub = self
            .broadcaster
            .subscribe_with(SubscribeOptions::new(name.clone()).capacity(SLOW_CAPACITY));
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(1);
        let thread = std::thread::Builder::new()
            .name(format!("fantop/{name}"))
            .spawn(move || {
                loop {
                    // The deliberate slowness: wait, unless told to stop.
                    match stop_rx.recv_timeout(SLOW_EVERY) {
                        Err(RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                    if sub.try_recv().is_err() {
                        return; // evicted or closed: done
                    }
                }
            })
            .map_err(|e| format!("cannot start a slow subscriber: {e}"))?;
        self.live.push(Slow {
            name: name.clone(),
            stop_tx,
            thread,
        });
        Ok(name)
    }

    /// Removes the newest one still subscribed; returns its name. When
    /// every one has ended already (evicted), there is nothing to remove:
    /// they are forgotten, and the error says so, naming them.
    pub fn remove(&mut self) -> Result<String, String> {
        let stats = self.broadcaster.stats();
        let subscribed = |name: &str| stats.iter().any(|s| s.name == name && !s.state.is_ended());
        let names: Vec<String> = match &self.virtual_subs {
            Some(subs) => subs.iter().map(|(s, _)| s.name().to_string()).collect(),
            None => self.live.iter().map(|s| s.name.clone()).collect(),
        };
        if names.is_empty() {
            return Err("no slow subscriber to remove (s adds one)".into());
        }
        let Some(i) = names.iter().rposition(|n| subscribed(n)) else {
            // Only ended ones: forget them all (their threads have stopped
            // or stop at once).
            if let Some(subs) = &mut self.virtual_subs {
                subs.clear();
            }
            for s in self.live.drain(..) {
                let _ = s.stop_tx.send(());
                let _ = s.thread.join();
            }
            let verb = if names.len() == 1 { "was" } else { "were" };
            return Err(format!(
                "nothing to remove: {} {verb} evicted already",
                names.join(", ")
            ));
        };
        if let Some(subs) = &mut self.virtual_subs {
            subs.remove(i);
        } else {
            let s = self.live.remove(i);
            let _ = s.stop_tx.send(());
            let _ = s.thread.join();
        }
        Ok(names[i].clone())
    }

    /// Virtual slow subscribers each take one batch if [`SLOW_EVERY`] of
    /// simulated time has passed since their last one (no-op otherwise).
    pub fn tick_virtual(&mut self, now: Nanos) {
        let every = SLOW_EVERY.as_nanos() as Nanos;
        for (sub, next) in self.virtual_subs.iter_mut().flatten() {
            let due = *next.get_or_insert(now + every);
            if now >= due {
                // An evicted or closed one just stays ended.
                let _ = sub.try_recv();
                *next = Some(now + every);
            }
        }
    }

    /// How many there are (running or ended but not removed).
    pub fn len(&self) -> usize {
        self.live.len() + self.virtual_subs.as_ref().map_or(0, Vec::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets ended ones beyond the bound.
    fn reap(&mut self) {
        while self.live.len() >= MAX_SLOW {
            match self.live.iter().position(|s| s.thread.is_finished()) {
                Some(i) => {
                    let s = self.live.remove(i);
                    let _ = s.thread.join();
                }
                None => break,
            }
        }
    }
}

impl Drop for SlowSubscribers {
    fn drop(&mut self) {
        for s in &self.live {
            let _ = s.stop_tx.send(());
        }
        for s in self.live.drain(..) {
            let _ = s.thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broadcast::{BroadcastConfig, SubscriberState};
    use crate::clock::Clock;
    use crate::event::{EventKind, MILLIS};

    /// `S` once the slow subscriber was evicted removes nothing and says so
    /// (rather than report a removal); then there is none left to remove.
    /// One still subscribed is removed before an older evicted one.
    #[test]
    fn removing_after_an_eviction_says_there_is_nothing_to_remove() {
        let clock = Clock::manual();
        let (mut publisher, b) = crate::broadcast::channel(BroadcastConfig::default(), clock.clone());
        let mut slow = SlowSubscribers::new_virtual(&b);
        assert_eq!(slow.add().as_deref(), Ok("slow-1"));
        // 4 s at 10,000 events/s that slow-1 never takes (no tick_virtual).
        for ms in 0..4_000 {
            clock.set(ms * MILLIS);
            for _ in 0..10 {
                publisher.publish(Event::new(ms * MILLIS, EventKind::WorkerHeartbeat { worker: 0 }));
            }
            publisher.tick();
        }
        publisher.flush();
        let state = |name: &str| b.stats().iter().find(|s| s.name == name).map(|s| s.state);
        assert_eq!(state("slow-1"), Some(SubscriberState::Evicted));
        assert_eq!(slow.add().as_deref(), Ok("slow-2"));
        assert_eq!(
            slow.remove().as_deref(),
            Ok("slow-2"),
            "the one still subscribed goes first"
        );
        assert_eq!(
            slow.remove(),
            Err("nothing to remove: slow-1 was evicted already".to_string())
        );
        assert!(slow.is_empty());
        assert_eq!(
            slow.remove(),
            Err("no slow subscriber to remove (s adds one)".to_string())
        );
    }
}
