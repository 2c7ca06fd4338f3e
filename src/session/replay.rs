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
//! # Idle gaps
//!
//! A paced replay does not sit through long idle stretches: when nothing
//! happens for longer than `max_idle` of recording time (`--max-idle`,
//! default [`DEFAULT_MAX_IDLE`], the asciinema convention), the position
//! jumps to the next event, and the player says so once per jump with an
//! [`IdleSkip`] ([`PlayerControl::take_skips`]; the TUI logs it in the
//! Events pane). So a recording with a 31-year gap replays in seconds.
//!
//! The position stays recording time throughout: at a jump it moves from
//! `idle start + max_idle` straight to the next event's time, so what the
//! header shows (`position/length`) and what a seek moves by (±10 s) are
//! the recording's own seconds; only the wall time spent on the gap is
//! shortened. An idle stretch is measured from the newest event published
//! or from where a seek or a resume left the position, whichever is later:
//! a seek into a gap plays `max_idle` of it and then jumps. Seeks publish
//! what they pass at once, so they never report a skip. A fast replay
//! (`Pace::Fast`) has no idle time to compress.
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
/// Longest idle stretch a paced replay plays before it jumps to the next
/// event (5 s of recording time, as asciinema's `idle_time_limit`).
pub const DEFAULT_MAX_IDLE: Nanos = 5 * crate::event::SECONDS;
/// Bound of the queue of [`IdleSkip`] reports: beyond it, reports are
/// dropped (nobody reads them in a headless replay).
pub const SKIP_QUEUE: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pace {
    /// Original pace × `speed`; idle stretches longer than `max_idle`
    /// (recording time) are cut short (see the module doc).
    Paced {
        speed: f64,
        max_idle: Nanos,
    },
    Fast,
}

/// A paced replay jumped over an idle stretch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdleSkip {
    /// Where playback resumed: the next event's time.
    pub to: Nanos,
    /// The whole idle stretch, from its start to `to`.
    pub gap: Nanos,
    /// The part not played (`gap` − `max_idle`).
    pub skipped: Nanos,
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
    skips: Receiver<IdleSkip>,
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
    /// The idle stretches jumped over since the last call, oldest first
    /// (at most [`SKIP_QUEUE`] kept between calls).
    pub fn take_skips(&self) -> Vec<IdleSkip> {
        self.skips.try_iter().collect()
    }
}

/// A running player thread.
pub struct Player {
    control: PlayerControl,
    thread: Option<JoinHandle<()>>,
}

impl Player {
    /// Starts publishing `events` (time-ordered) through `publisher`, and
    /// through the streams `restart` gives, if any. The player's thread
    /// takes the vector over (a replay holds its events once).
    /// With `linger`, the player stays at the end of the recording (for
    /// seeks) until stopped; without, it closes the publisher at the end.
    pub fn start(
        events: Vec<Event>,
        publisher: Publisher<Event>,
        pace: Pace,
        linger: bool,
        restart: Option<Restart>,
    ) -> std::io::Result<Player> {
        let (tx, rx) = crossbeam_channel::bounded(COMMAND_QUEUE);
        let (skips_tx, skips) = crossbeam_channel::bounded(SKIP_QUEUE);
        let start = events.first().map_or(0, |e| e.t);
        let length = events.last().map_or(0, |e| e.t);
        let position = Arc::new(Position::default());
        position.at.store(start, Ordering::Release);
        let pos = position.clone();
        let thread = std::thread::Builder::new()
            .name("fantop/replay".into())
            .spawn(move || {
                let io = PlayerIo { rx, skips_tx, pos };
                play(&events, publisher, restart, pace, linger, &io)
            })?;
        Ok(Player {
            control: PlayerControl {
                tx,
                skips,
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

/// The player thread's ends of its channels, and the position it shares.
struct PlayerIo {
    rx: Receiver<Command>,
    skips_tx: Sender<IdleSkip>,
    pos: Arc<Position>,
}

struct State {
    next: usize,
    at: Nanos,
    /// Recording time the current idle stretch counts from: the newest
    /// event published, or where a seek or resume left the position.
    idle_from: Nanos,
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
            self.idle_from = self.idle_from.max(e.t);
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
                // Time spent paused is not idle time of the recording.
                self.idle_from = self.idle_from.max(self.at);
            }
            Command::Seek(to) => {
                if to < self.at {
                    // The caller has given us fresh subscribers: start over
                    // and fast-forward.
                    self.next = 0;
                    self.restart_tap();
                }
                self.at = to;
                self.idle_from = to;
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
    events: &[Event],
    mut publisher: Publisher<Event>,
    restart: Option<Restart>,
    pace: Pace,
    linger: bool,
    io: &PlayerIo,
) {
    let (rx, pos) = (&io.rx, &*io.pos);
    let start = events.first().map_or(0, |e| e.t);
    let length = events.last().map_or(0, |e| e.t);
    let mut st = State {
        next: 0,
        at: start,
        idle_from: start,
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
                Ok(cmd) if st.apply(cmd, events, &mut publisher, pos) => continue,
                _ => break,
            }
        }
        let target = match pace {
            Pace::Fast => events[st.next].t,
            Pace::Paced { speed, max_idle } if !st.paused => {
                let played = (st.anchor.0.elapsed().as_nanos() as f64 * speed) as Nanos;
                let target = st.anchor.1.saturating_add(played);
                let next = events[st.next].t;
                let idle_end = st.idle_from.saturating_add(max_idle);
                if next > idle_end && target >= idle_end {
                    // Nothing happens for longer than max_idle: jump to the next event.
                    let _ = io.skips_tx.try_send(IdleSkip {
                        to: next,
                        gap: next - st.idle_from,
                        skipped: next - idle_end,
                    });
                    st.anchor = (Instant::now(), next);
                    next
                } else {
                    target
                }
            }
            Pace::Paced { .. } => st.at,
        };
        st.at = st.at.max(target).min(length);
        // In fast mode, publish in slices so controls get in now and then.
        st.catch_up(
            events,
            &mut publisher,
            if pace == Pace::Fast { 4096 } else { usize::MAX },
        );
        pos.at.store(st.at, Ordering::Release);
        if st.next >= events.len() {
            continue;
        }
        let wait = match pace {
            Pace::Fast => Duration::ZERO,
            Pace::Paced { speed, .. } if !st.paused => {
                let gap = events[st.next].t.saturating_sub(st.at) as f64 / speed;
                Duration::from_nanos(gap as u64).min(TICK)
            }
            Pace::Paced { .. } => TICK,
        };
        let cmd = if wait.is_zero() {
            rx.try_recv().ok()
        } else {
            rx.recv_timeout(wait).ok()
        };
        if let Some(cmd) = cmd
            && !st.apply(cmd, events, &mut publisher, pos)
        {
            break;
        }
    }
    publisher.close();
    if let Some(tap) = st.tap.take() {
        tap.close();
    }
}
