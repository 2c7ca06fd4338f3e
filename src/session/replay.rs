//! Replaying a recording through a fresh broadcaster, into the same panes
//! or collector as a live run.
//!
//! One thread, `fantop/replay`, owns the [`Publisher`] and the recording's
//! events. It publishes each event when the replay position reaches its
//! timestamp; the position follows the wall clock scaled by the speed
//! (`Pace::Paced`), or runs as fast as the subscribers take it
//! (`Pace::Fast`, for headless replays). A [`PlayerControl`] pauses,
//! resumes and seeks. Seeking forward publishes the skipped events at once
//! (the panes need them to be right); seeking backward is the caller's job
//! to prepare (fresh panes), after which the player starts over from the
//! beginning and fast-forwards to the target.
//!
//! A replay starts at the recording's first event (a recording started
//! mid-run starts at its first event's time, not at 0), and seeks stay
//! between the first and the last event.
//!
//! Besides the main stream, the player can feed a second one that starts
//! over at each seek back (a [`Restart`]): the player closes it and asks
//! for a fresh one at the exact point where it starts over, so what that
//! stream carried since its start is always exactly the recording up to the
//! position. The run's collector reads that stream, so its figures stay
//! true after any number of seeks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use crate::broadcast::Publisher;
use crate::event::{Event, Nanos};

/// Replay speeds accepted.
pub const MIN_SPEED: f64 = 0.1;
pub const MAX_SPEED: f64 = 100.0;
/// Longest the player sleeps between checks.
const TICK: Duration = Duration::from_millis(5);

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pace {
    /// Original pace × speed.
    Paced(f64),
    Fast,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Command {
    TogglePause,
    /// Jump to this pipeline time.
    Seek(Nanos),
    Stop,
}

/// Gives the player a fresh second stream: called when it starts and at
/// each seek back (after the previous stream was closed). `None`: no
/// second stream from then on.
pub type Restart = Box<dyn FnMut() -> Option<Publisher<Event>> + Send>;

/// Bound of the player's command channel: commands beyond it are dropped
/// (a key held down seeks less far, nothing else).
pub const COMMAND_QUEUE: usize = 64;

/// Where the player is, readable from any thread.
#[derive(Debug, Default)]
pub struct Position {
    pub at: AtomicU64,
    pub paused: AtomicBool,
    pub done: AtomicBool,
}

/// Controls a running player.
#[derive(Clone)]
pub struct PlayerControl {
    tx: Sender<Command>,
    pub position: Arc<Position>,
    /// The first event's time: where the replay starts.
    pub start: Nanos,
    /// The last event's time.
    pub length: Nanos,
}

impl PlayerControl {
    pub fn toggle_pause(&self) {
        let _ = self.tx.try_send(Command::TogglePause);
    }
    /// Moves to `to` (clamped to the recording).
    pub fn seek(&self, to: Nanos) {
        let _ = self.tx.try_send(Command::Seek(to.clamp(self.start, self.length)));
    }
    pub fn stop(&self) {
        let _ = self.tx.try_send(Command::Stop);
    }
    pub fn now(&self) -> Nanos {
        self.position.at.load(Ordering::Acquire)
    }
    pub fn paused(&self) -> bool {
        self.position.paused.load(Ordering::Acquire)
    }
    pub fn done(&self) -> bool {
        self.position.done.load(Ordering::Acquire)
    }
}

/// A running player thread.
pub struct Player {
    control: PlayerControl,
    thread: Option<JoinHandle<()>>,
}

impl Player {
    /// Starts publishing `events` (time-ordered) through `publisher`, and
    /// through the streams `restart` gives, if any.
    /// With `linger`, the player stays at the end of the recording (for
    /// seeks) until stopped; without, it closes the publisher at the end.
    pub fn start(
        events: Arc<[Event]>,
        publisher: Publisher<Event>,
        pace: Pace,
        linger: bool,
        restart: Option<Restart>,
    ) -> std::io::Result<Player> {
        let (tx, rx) = crossbeam_channel::bounded(COMMAND_QUEUE);
        let start = events.first().map_or(0, |e| e.t);
        let length = events.last().map_or(0, |e| e.t);
        let position = Arc::new(Position::default());
        position.at.store(start, Ordering::Release);
        let pos = position.clone();
        let thread = std::thread::Builder::new()
            .name("fantop/replay".into())
            .spawn(move || play(events, publisher, restart, pace, linger, rx, &pos))?;
        Ok(Player {
            control: PlayerControl {
                tx,
                position,
                start,
                length,
            },
            thread: Some(thread),
        })
    }

    pub fn control(&self) -> PlayerControl {
        self.control.clone()
    }

    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Waits until everything is published and the publisher closed.
    pub fn join(mut self) {
        if let Some(t) = self.thread.take()
            && let Err(panic) = t.join()
        {
            std::panic::resume_unwind(panic);
        }
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.control.stop();
            let _ = t.join();
        }
    }
}

struct State {
    next: usize,
    at: Nanos,
    anchor: (Instant, Nanos),
    paused: bool,
    /// The second stream, started over at each seek back.
    tap: Option<Publisher<Event>>,
    restart: Option<Restart>,
}

impl State {
    /// Publishes every event up to the position.
    fn catch_up(&mut self, events: &[Event], publisher: &mut Publisher<Event>, limit: usize) {
        let mut n = 0;
        while let Some(e) = events.get(self.next).filter(|e| e.t <= self.at) {
            publisher.publish(*e);
            if let Some(tap) = &mut self.tap {
                tap.publish(*e);
            }
            self.next += 1;
            n += 1;
            if n == limit {
                break;
            }
        }
        publisher.flush();
        if let Some(tap) = &mut self.tap {
            tap.flush();
        }
    }

    /// Closes the second stream (its readers get everything, then the
    /// end) and asks for a fresh one.
    fn restart_tap(&mut self) {
        if let Some(tap) = self.tap.take() {
            tap.close();
        }
        self.tap = self.restart.as_mut().and_then(|r| r());
    }

    fn apply(&mut self, cmd: Command, events: &[Event], publisher: &mut Publisher<Event>, pos: &Position) -> bool {
        match cmd {
            Command::Stop => return false,
            Command::TogglePause => {
                self.paused = !self.paused;
                pos.paused.store(self.paused, Ordering::Release);
            }
            Command::Seek(to) => {
                if to < self.at {
                    // The caller has given us fresh subscribers: start over
                    // and fast-forward.
                    self.next = 0;
                    self.restart_tap();
                }
                self.at = to;
                self.catch_up(events, publisher, usize::MAX);
                pos.done.store(self.next >= events.len(), Ordering::Release);
            }
        }
        self.anchor = (Instant::now(), self.at);
        pos.at.store(self.at, Ordering::Release);
        true
    }
}

fn play(
    events: Arc<[Event]>,
    mut publisher: Publisher<Event>,
    restart: Option<Restart>,
    pace: Pace,
    linger: bool,
    rx: Receiver<Command>,
    pos: &Position,
) {
    let start = events.first().map_or(0, |e| e.t);
    let length = events.last().map_or(0, |e| e.t);
    let mut st = State {
        next: 0,
        at: start,
        anchor: (Instant::now(), start),
        paused: false,
        tap: None,
        restart,
    };
    st.restart_tap();
    loop {
        if st.next >= events.len() {
            pos.at.store(length, Ordering::Release);
            pos.done.store(true, Ordering::Release);
            // At the end: a TUI replay stays for seeks; a headless one ends.
            if !linger {
                break;
            }
            match rx.recv() {
                Ok(cmd) if st.apply(cmd, &events, &mut publisher, pos) => continue,
                _ => break,
            }
        }
        let target = match pace {
            Pace::Fast => events[st.next].t,
            Pace::Paced(speed) if !st.paused => {
                st.anchor.1 + (st.anchor.0.elapsed().as_nanos() as f64 * speed) as Nanos
            }
            Pace::Paced(_) => st.at,
        };
        st.at = st.at.max(target).min(length);
        // In fast mode, publish in slices so controls get in now and then.
        st.catch_up(
            &events,
            &mut publisher,
            if pace == Pace::Fast { 4096 } else { usize::MAX },
        );
        pos.at.store(st.at, Ordering::Release);
        if st.next >= events.len() {
            continue;
        }
        let wait = match pace {
            Pace::Fast => Duration::ZERO,
            Pace::Paced(speed) if !st.paused => {
                let gap = events[st.next].t.saturating_sub(st.at) as f64 / speed;
                Duration::from_nanos(gap as u64).min(TICK)
            }
            Pace::Paced(_) => TICK,
        };
        let cmd = if wait.is_zero() {
            rx.try_recv().ok()
        } else {
            rx.recv_timeout(wait).ok()
        };
        if let Some(cmd) = cmd
            && !st.apply(cmd, &events, &mut publisher, pos)
        {
            break;
        }
    }
    publisher.close();
    if let Some(tap) = st.tap.take() {
        tap.close();
    }
}
