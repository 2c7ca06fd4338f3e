//! Everything a run does besides computing and drawing: recordings and their
//! file format ([`record`]), reading them back ([`recording`]), replaying
//! them ([`replay`]), scripted scenarios
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
//! - starts and stops recordings: the `--record` name the first time, a
//!   name fantop chooses after that (opened by [`files::open`]: no file is
//!   ever reused or overwritten, and no open waits);
//! - notices at once when a recording or the cast fails (a full disk): the
//!   failure names the file, goes to the display as an [`Intent`] and into
//!   [`Session::failures`], which make the run's exit status 1;
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
pub mod files;
pub mod record;
pub mod recording;
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
use files::Naming;
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
    /// `--record FILE`: the run's first recording is created there
    /// exactly (an existing file is refused; a terminal or device is
    /// written in place); later ones are `FILE-2.jsonl`, `FILE-3.jsonl`, …
    /// (the first free name). Without it, recordings are named
    /// `fantop-YYYYmmdd-HHMMSS.jsonl` (or the first free `-N` after it).
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

/// Most failed files the session names (each `r` that fails is one); the
/// rest are counted.
pub const MAX_FAILURES: usize = 64;

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
    /// A recording started, to this file: the header shows `● REC` again.
    RecordingStarted(PathBuf),
    /// A file the run writes failed; `why` names it (`rec.jsonl: No space
    /// left on device`). The Events pane says so, and for a recording the
    /// header shows `REC FAILED` until one starts again.
    OutputFailed {
        recording: bool,
        why: String,
    },
}

/// What the display shows for a stopped recording: its note, or its failure.
fn stopped_intent(stopped: Result<String, String>) -> Intent {
    match stopped {
        Ok(note) => Intent::Flash(note),
        Err(why) => Intent::OutputFailed { recording: true, why },
    }
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
    /// The cast's failure has been reported.
    cast_failed: bool,
    /// The `--record` name is taken (by this run's first recording); later
    /// recordings get names fantop chooses. A device is never taken.
    given_path_used: bool,
    /// Recordings finished so far.
    recordings: Vec<RecordStats>,
    /// Messages for the user after the run, in order.
    notes: Vec<String>,
    /// Files that failed, in order, each naming the file and why: at most
    /// [`MAX_FAILURES`] (one per recording started, one for the cast).
    failures: Vec<String>,
    /// Failures past [`MAX_FAILURES`], counted.
    more_failures: u64,
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
            cast_failed: false,
            given_path_used: false,
            recordings: Vec::new(),
            notes: Vec::new(),
            failures: Vec::new(),
            more_failures: 0,
        }
    }

    /// Whether a recording is running.
    pub fn recording(&self) -> bool {
        self.recorder.is_some()
    }

    /// Starts recording (`--record FILE` at launch, `r`, or a
    /// `record_start` step) to the file [`RecordingSetup::path`] says;
    /// returns its path. A file that cannot be opened is a failure (in
    /// [`Session::failures`]); the error names it.
    pub fn start_recording(&mut self, announce: &mut dyn FnMut(Command)) -> Result<PathBuf, String> {
        if let Some(r) = &self.recorder {
            return Err(format!("already recording to {}", r.path().display()));
        }
        let (base, naming) = match &self.recording.path {
            Some(p) if !self.given_path_used => (p.clone(), Naming::Given),
            Some(p) => (p.clone(), Naming::Chosen),
            None => (PathBuf::from(record::default_file_name()), Naming::Chosen),
        };
        let out = match files::open(&base, naming) {
            Ok(out) => out,
            Err(e) => {
                self.fail(e.to_string());
                return Err(e.to_string());
            }
        };
        self.given_path_used |= naming == Naming::Given && !out.device;
        let path = out.path.clone();
        let header = Header::new(
            self.recording.seed,
            self.recording.config.clone(),
            self.recording.scenario.clone(),
        );
        let r = Recorder::start(&self.broadcaster, out, &header, self.delivery).map_err(|e| format!("{e:#}"))?;
        self.recorder = Some(r);
        // The recorder subscribed first, so it sees the settings it starts from.
        announce(Command::AnnounceState);
        announce(Command::Announce(LoadChange::Recording { on: true }));
        Ok(path)
    }

    /// Stops recording; the file is complete when this returns. Returns,
    /// if a recording was running, the note it added, or why it failed.
    pub fn stop_recording(&mut self, announce: &mut dyn FnMut(Command)) -> Option<Result<String, String>> {
        let r = self.recorder.take()?;
        announce(Command::Announce(LoadChange::Recording { on: false }));
        let path = r.path().to_path_buf();
        Some(self.note_recording(&path, r.stop()))
    }

    /// `r`: stops a running recording or starts one; says what happened.
    pub fn toggle_recording(&mut self, announce: &mut dyn FnMut(Command)) -> Intent {
        match self.stop_recording(announce) {
            Some(stopped) => stopped_intent(stopped),
            None => self.started(announce),
        }
    }

    /// Starts a recording; what the display should show.
    fn started(&mut self, announce: &mut dyn FnMut(Command)) -> Intent {
        match self.start_recording(announce) {
            Ok(p) => Intent::RecordingStarted(p),
            Err(why) => Intent::OutputFailed { recording: true, why },
        }
    }

    /// Notes a finished recording (or its failure, naming the file);
    /// returns the note, or why it failed.
    fn note_recording(&mut self, path: &Path, result: std::io::Result<RecordStats>) -> Result<String, String> {
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
            Err(e) => {
                let why = files::named(path, e).to_string();
                self.fail(why.clone());
                return Err(why);
            }
        };
        self.notes.push(note.clone());
        Ok(note)
    }

    /// Keeps a failure (at most [`MAX_FAILURES`]; later ones are counted).
    fn fail(&mut self, why: String) {
        if self.failures.len() < MAX_FAILURES {
            self.failures.push(why);
        } else {
            self.more_failures += 1;
        }
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
        let name = self
            .slow
            .remove()
            .ok_or_else(|| "no slow subscriber to remove (s adds one)".to_string())?;
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
            StepAction::RecordStart if !self.recording() => Some(self.started(announce)),
            StepAction::RecordStop => self.stop_recording(announce).map(stopped_intent),
            StepAction::Freeze(on) => Some(Intent::Freeze(on)),
            StepAction::Focus(p) => Some(Intent::Focus(p)),
            StepAction::Zoom(on) => Some(Intent::Zoom(on)),
            StepAction::Window(s) => Some(Intent::Window(s)),
            // Pipeline steps, notes and the end are the pipeline's.
            StepAction::RecordStart | StepAction::Pipeline(_) | StepAction::Note | StepAction::End => None,
        }
    }

    /// Called as simulated time passes (every frame of a stepped run, every
    /// tick of a real-time one): paces virtual slow subscribers, notes
    /// evictions, stamped `now`, and notices a recording or a cast that
    /// failed (what the display should show comes back).
    pub fn tick(&mut self, now: Nanos, announce: &mut dyn FnMut(Command)) -> Vec<Intent> {
        self.slow.tick_virtual(now);
        let intents = self.check_outputs(announce);
        self.note_evictions(now);
        intents
    }

    /// A recorder that ended on its own (its write failed, or the stream
    /// closed) is finished; a cast that failed is reported, once.
    fn check_outputs(&mut self, announce: &mut dyn FnMut(Command)) -> Vec<Intent> {
        let mut intents = Vec::new();
        if self.recorder.as_ref().is_some_and(Recorder::ended) {
            let r = self.recorder.take().expect("checked above");
            let path = r.path().to_path_buf();
            if let Err(why) = self.note_recording(&path, r.finish()) {
                announce(Command::Announce(LoadChange::Recording { on: false }));
                intents.push(Intent::OutputFailed { recording: true, why });
            }
        }
        let cast_failure = match &self.cast {
            Some((cast, _)) if !self.cast_failed => cast.borrow().failed().map(str::to_string),
            _ => None,
        };
        if let Some(why) = cast_failure {
            self.cast_failed = true;
            self.fail(why.clone());
            intents.push(Intent::OutputFailed { recording: false, why });
        }
        intents
    }

    fn note_evictions(&mut self, now: Nanos) {
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
            c.marker(label);
        }
    }

    /// Ends the run's side effects after the stream closed: the running
    /// recording (which then holds everything) and the cast are finished,
    /// slow subscribers stopped. Returns the notes, in order.
    pub fn finish(&mut self) -> Vec<String> {
        if let Some(r) = self.recorder.take() {
            let path = r.path().to_path_buf();
            let _ = self.note_recording(&path, r.finish());
        }
        if let Some((cast, path)) = self.cast.take() {
            let mut c = cast.borrow_mut();
            match c.finish() {
                Ok(()) => self
                    .notes
                    .push(format!("cast written to {} ({} events)", path.display(), c.events)),
                Err(_) if self.cast_failed => {}
                Err(e) => self.fail(files::named(&path, e).to_string()),
            }
        }
        self.slow = SlowSubscribers::new(&self.broadcaster);
        std::mem::take(&mut self.notes)
    }

    /// Recordings finished so far, in order.
    pub fn recordings(&self) -> &[RecordStats] {
        &self.recordings
    }

    /// Every file that failed so far, in order, each as one line naming
    /// the file and why (`rec.jsonl: No space left on device`); past
    /// [`MAX_FAILURES`], one line counting the rest. A run with any exits
    /// with status 1.
    pub fn failures(&self) -> Vec<String> {
        let mut all = self.failures.clone();
        if self.more_failures > 0 {
            all.push(format!("{} more files failed", self.more_failures));
        }
        all
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
