//! Everything a run does besides computing and drawing: recordings and their
//! file format ([`record`]), replaying them ([`replay`]), scripted scenarios
//! ([`scenario`]), asciicasts ([`cast`]), injected slow subscribers
//! ([`slow`]), the headless JSON [`summary`] — and the one [`Session`] that
//! owns a run's side effects.
//!
//! # The session
//!
//! Every way of running the pipeline (the terminal monitor, `--offscreen`,
//! `--headless` in real time and `--headless --fast`) has exactly one
//! [`Session`], and only the session:
//! - carries out a scenario's app-level steps (slow subscribers, recording
//!   on and off, display changes) — once, at the step's simulated time,
//!   whichever way the step reaches it (see [`crate::pipeline::StepDue`]);
//! - starts and stops recordings, always at a fresh file name
//!   ([`record::fresh_path`]): no file is ever reused or overwritten;
//! - adds, removes and (in simulated time) paces slow subscribers, and notes
//!   when each is evicted;
//! - writes cast markers;
//! - keeps the notes for the exit line (every file written, every eviction).
//!
//! It never touches the UI. What a step or a key asks of the display comes
//! back as an [`Intent`], which the TUI applies (and a headless run
//! ignores). What it asks of the pipeline (announcing a slow subscriber or a
//! recording in the stream) goes out through the `announce` callback each
//! method takes, so the same code serves a pipeline thread (its `Control`)
//! and a stepper driven on the caller's thread (`Stepper::apply`).
//!
//! Naming: the keys' side of this is the TUI's `Effect` (a command asked
//! for by a key); the pipeline's changes are `Command`s; an [`Intent`] is
//! neither: it is what the session would like the display to do.

pub mod cast;
pub mod record;
pub mod replay;
pub mod scenario;
pub mod slow;
pub mod summary;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::broadcast::{Broadcaster, Delivery, SubscriberState};
use crate::event::Event;
use crate::event::{LoadChange, Nanos, SECONDS};
use crate::pipeline::Command;
use cast::Cast;
use record::{Header, RecordStats, Recorder, ScenarioInfo};
use scenario::StepAction;
use slow::SlowSubscribers;
use summary::{ConfigSummary, SlowSummary};

/// Everything needed to start a recording's header.
#[derive(Clone, Debug)]
pub struct RecordingSetup {
    pub seed: u64,
    pub config: ConfigSummary,
    pub scenario: Option<ScenarioInfo>,
    /// `--record FILE`; without it, recordings are named
    /// `fantop-YYYYmmdd-HHMMSS.jsonl`. Either way the name is made fresh
    /// (`FILE-2.jsonl`, ...) if taken.
    pub path: Option<PathBuf>,
}

/// How a run's session behaves.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    pub recording: RecordingSetup,
    /// The scenario's steps, indexed like its `AppStep`s.
    pub steps: Vec<StepAction>,
    /// Simulated time (`--offscreen`, `--fast`): recorders subscribe
    /// losslessly (`Delivery::Wait`) and slow subscribers have no threads,
    /// taking a batch per 250 ms of simulated time at [`Session::tick`].
    pub virtual_time: bool,
}

/// Most slow subscribers the session remembers for the summary.
pub const MAX_SLOW_LIVES: usize = 1024;

/// What the session asks the display to do. Applied by the TUI; a headless
/// run ignores them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Intent {
    /// Focus a pane: an index into [`scenario::PANES`].
    Focus(usize),
    Zoom(bool),
    Freeze(bool),
    /// Chart window, seconds (one of [`scenario::WINDOWS_S`]).
    Window(u64),
    /// A one-line message for the user.
    Flash(String),
}

/// One injected slow subscriber's life, in simulated time.
#[derive(Clone, Debug, PartialEq)]
struct SlowLife {
    name: String,
    added: Nanos,
    removed: Option<Nanos>,
    evicted: Option<Nanos>,
}

/// A run's side effects. Lives on the thread that drives the run (the UI
/// thread, or the headless caller); dropping it stops what it started
/// (call [`Session::finish`] first to get the notes).
pub struct Session {
    broadcaster: Broadcaster<Event>,
    slow: SlowSubscribers,
    recorder: Option<Recorder>,
    recording: RecordingSetup,
    delivery: Delivery,
    steps: Vec<StepAction>,
    /// Slow subscribers added, in order: at most [`MAX_SLOW_LIVES`] (the
    /// oldest ended ones are forgotten first).
    slow_lives: Vec<SlowLife>,
    cast: Option<(Rc<RefCell<Cast>>, PathBuf)>,
    /// Recordings finished so far.
    recordings: Vec<RecordStats>,
    /// Messages for the user after the run, in order.
    notes: Vec<String>,
}

impl Session {
    /// A session for a run on `broadcaster` (which it subscribes recorders
    /// and slow subscribers to).
    pub fn new(broadcaster: &Broadcaster<Event>, opts: SessionOptions) -> Session {
        let slow = if opts.virtual_time {
            SlowSubscribers::new_virtual(broadcaster)
        } else {
            SlowSubscribers::new(broadcaster)
        };
        Session {
            broadcaster: broadcaster.clone(),
            slow,
            recorder: None,
            recording: opts.recording,
            delivery: if opts.virtual_time {
                Delivery::Wait
            } else {
                Delivery::Drop
            },
            steps: opts.steps,
            slow_lives: Vec::new(),
            cast: None,
            recordings: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Whether a recording is running.
    pub fn recording(&self) -> bool {
        self.recorder.is_some()
    }

    /// Starts recording to a fresh file (`--record FILE` at launch, `r`, or
    /// a `record_start` step); returns its path.
    pub fn start_recording(&mut self, announce: &mut dyn FnMut(Command)) -> Result<PathBuf, String> {
        if let Some(r) = &self.recorder {
            return Err(format!("already recording to {}", r.path().display()));
        }
        let base = match &self.recording.path {
            Some(p) => p.clone(),
            None => PathBuf::from(record::default_file_name()),
        };
        let path = record::fresh_path(&base).map_err(|e| e.to_string())?;
        let header = Header::new(
            self.recording.seed,
            self.recording.config.clone(),
            self.recording.scenario.clone(),
        );
        let r = Recorder::start(&self.broadcaster, &path, &header, self.delivery).map_err(|e| format!("{e:#}"))?;
        self.recorder = Some(r);
        // The recorder subscribed first, so it sees the settings it starts from.
        announce(Command::AnnounceState);
        announce(Command::Announce(LoadChange::Recording { on: true }));
        Ok(path)
    }

    /// Stops recording; the file is complete when this returns. Returns
    /// the note it added, if a recording was running.
    pub fn stop_recording(&mut self, announce: &mut dyn FnMut(Command)) -> Option<String> {
        let r = self.recorder.take()?;
        announce(Command::Announce(LoadChange::Recording { on: false }));
        let path = r.path().to_path_buf();
        Some(self.note_recording(&path, r.stop()))
    }

    /// `r`: stops a running recording or starts one; says what happened.
    pub fn toggle_recording(&mut self, announce: &mut dyn FnMut(Command)) -> Intent {
        if self.recording() {
            Intent::Flash(self.stop_recording(announce).unwrap_or_default())
        } else {
            Intent::Flash(match self.start_recording(announce) {
                Ok(p) => format!("recording to {}", p.display()),
                Err(e) => e,
            })
        }
    }

    fn note_recording(&mut self, path: &Path, result: std::io::Result<RecordStats>) -> String {
        let note = match result {
            Ok(s) => {
                let note = format!(
                    "recorded {} events to {}{}",
                    crate::format::count(s.events),
                    s.path.display(),
                    if s.missed > 0 {
                        format!(" ({} missed, marked as gaps)", s.missed)
                    } else {
                        String::new()
                    }
                );
                self.recordings.push(s);
                note
            }
            Err(e) => format!("recording {} ended with an error: {e}", path.display()),
        };
        self.notes.push(note.clone());
        note
    }

    /// Adds a slow subscriber at simulated time `now`; returns its name.
    pub fn add_slow_subscriber(&mut self, now: Nanos, announce: &mut dyn FnMut(Command)) -> Result<String, String> {
        let name = self.slow.add()?;
        if self.slow_lives.len() >= MAX_SLOW_LIVES
            && let Some(i) = self
                .slow_lives
                .iter()
                .position(|l| l.removed.is_some() || l.evicted.is_some())
        {
            self.slow_lives.remove(i);
        }
        self.slow_lives.push(SlowLife {
            name: name.clone(),
            added: now,
            removed: None,
            evicted: None,
        });
        announce(Command::Announce(LoadChange::SlowSubscriber { added: true }));
        Ok(name)
    }

    /// Removes the newest slow subscriber; returns its name.
    pub fn remove_slow_subscriber(&mut self, now: Nanos, announce: &mut dyn FnMut(Command)) -> Result<String, String> {
        let name = self.slow.remove()?;
        if let Some(l) = self.slow_lives.iter_mut().rev().find(|l| l.name == name) {
            l.removed.get_or_insert(now);
        }
        announce(Command::Announce(LoadChange::SlowSubscriber { added: false }));
        Ok(name)
    }

    /// Carries out scenario step `step` (an `AppStep`) at its simulated time
    /// `at`. Steps that are not the app's change nothing.
    pub fn apply_step(&mut self, step: u16, at: Nanos, announce: &mut dyn FnMut(Command)) -> Option<Intent> {
        let what = *self.steps.get(step as usize)?;
        let refused = |e: String| Some(Intent::Flash(e));
        match what {
            StepAction::AddSlowSubscriber => self.add_slow_subscriber(at, announce).err().and_then(refused),
            StepAction::RemoveSlowSubscriber => self.remove_slow_subscriber(at, announce).err().and_then(refused),
            StepAction::RecordStart if !self.recording() => match self.start_recording(announce) {
                Ok(p) => Some(Intent::Flash(format!("recording to {}", p.display()))),
                Err(e) => refused(e),
            },
            StepAction::RecordStop => self.stop_recording(announce).map(Intent::Flash),
            StepAction::Freeze(on) => Some(Intent::Freeze(on)),
            StepAction::Focus(p) => Some(Intent::Focus(p)),
            StepAction::Zoom(on) => Some(Intent::Zoom(on)),
            StepAction::Window(s) => Some(Intent::Window(s)),
            // Pipeline steps, notes and the end are the pipeline's.
            StepAction::RecordStart | StepAction::Pipeline(_) | StepAction::Note | StepAction::End => None,
        }
    }

    /// Called as simulated time passes (every frame of a stepped run, every
    /// tick of a real-time one): paces virtual slow subscribers and notes
    /// evictions, stamped `now`.
    pub fn tick(&mut self, now: Nanos) {
        self.slow.tick_virtual(now);
        if self
            .slow_lives
            .iter()
            .all(|l| l.evicted.is_some() || l.removed.is_some())
        {
            return;
        }
        let stats = self.broadcaster.stats();
        for life in self
            .slow_lives
            .iter_mut()
            .filter(|l| l.evicted.is_none() && l.removed.is_none())
        {
            if stats
                .iter()
                .any(|s| s.name == life.name && s.state == SubscriberState::Evicted)
            {
                life.evicted = Some(now);
                self.notes.push(format!(
                    "{} evicted at {:.2} s of pipeline time",
                    life.name,
                    now as f64 / SECONDS as f64
                ));
            }
        }
    }

    /// Writes cast markers to this cast from now on, and finishes it in
    /// [`Session::finish`].
    pub fn set_cast(&mut self, cast: Rc<RefCell<Cast>>, path: PathBuf) {
        self.cast = Some((cast, path));
    }

    /// The cast being written, if any.
    pub fn cast(&self) -> Option<Rc<RefCell<Cast>>> {
        self.cast.as_ref().map(|(c, _)| c.clone())
    }

    /// Puts a marker in the cast (if any) at simulated time `t`.
    pub fn mark(&mut self, t: Nanos, label: &str) {
        if let Some((cast, _)) = &self.cast {
            let mut c = cast.borrow_mut();
            c.set_time(t);
            let _ = c.marker(label);
        }
    }

    /// Ends the run's side effects after the stream closed: the running
    /// recording (which then holds everything) and the cast are finished,
    /// slow subscribers stopped. Returns the notes, in order.
    pub fn finish(&mut self) -> Vec<String> {
        if let Some(r) = self.recorder.take() {
            let path = r.path().to_path_buf();
            self.note_recording(&path, r.finish());
        }
        if let Some((cast, path)) = self.cast.take() {
            let mut c = cast.borrow_mut();
            match c.finish() {
                Ok(()) => self
                    .notes
                    .push(format!("cast written to {} ({} events)", path.display(), c.events)),
                Err(e) => self
                    .notes
                    .push(format!("cast {} ended with an error: {e}", path.display())),
            }
        }
        self.slow = SlowSubscribers::new(&self.broadcaster);
        std::mem::take(&mut self.notes)
    }

    /// Recordings finished so far, in order.
    pub fn recordings(&self) -> &[RecordStats] {
        &self.recordings
    }

    /// Every slow subscriber added so far, for the summary.
    pub fn slow_summary(&self) -> Vec<SlowSummary> {
        let s = |t: Nanos| t as f64 / SECONDS as f64;
        self.slow_lives
            .iter()
            .map(|l| SlowSummary {
                name: l.name.clone(),
                added_s: s(l.added),
                removed_s: l.removed.map(s),
                evicted_s: l.evicted.map(s),
            })
            .collect()
    }
}
