//! What a monitor run does besides drawing: the side effects keys and
//! scenario steps ask for (slow subscribers, recording, display changes),
//! cast markers, and the drivers that connect the loop to a live pipeline
//! or a replay player.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use super::app::{App, Effect, Mode};
use super::panes::WINDOWS_S;
use super::panes::events::Notable;
use crate::broadcast::{Broadcaster, Delivery};
use crate::cast::Cast;
use crate::event::Event;
use crate::event::{LoadChange, Nanos};
use crate::record::{self, Header, Recorder, ScenarioInfo};
use crate::replay::PlayerControl;
use crate::scenario::StepAction;
use crate::sim::{Action, Control, Pipeline};
use crate::slow::SlowSubscribers;
use crate::summary::ConfigSummary;

/// Everything needed to start a recording's header.
#[derive(Clone, Debug)]
pub struct RecordingSetup {
    pub seed: u64,
    pub config: ConfigSummary,
    pub scenario: Option<ScenarioInfo>,
    /// `--record FILE`; `r` without it writes `fantop-YYYYmmdd-HHMMSS.jsonl`.
    pub path: Option<PathBuf>,
    /// `Wait` when time is virtual (offscreen), else `Drop`.
    pub delivery: Delivery,
}

/// Side effects of one monitor run.
pub struct Session {
    broadcaster: Broadcaster<Event>,
    pub slow: SlowSubscribers,
    recorder: Option<Recorder>,
    recording: RecordingSetup,
    /// How many recordings this run started (to keep from overwriting).
    recordings: u32,
    steps: Vec<StepAction>,
    pub cast: Option<Rc<RefCell<Cast>>>,
    /// Messages for the user after the terminal is restored.
    pub notes: Vec<String>,
}

impl Session {
    pub fn new(
        broadcaster: &Broadcaster<Event>,
        slow: SlowSubscribers,
        recording: RecordingSetup,
        steps: Vec<StepAction>,
    ) -> Self {
        Session {
            broadcaster: broadcaster.clone(),
            slow,
            recorder: None,
            recording,
            recordings: 0,
            steps,
            cast: None,
            notes: Vec::new(),
        }
    }

    pub fn recording(&self) -> bool {
        self.recorder.is_some()
    }

    /// Starts recording (`--record FILE` at launch, or `r`).
    pub fn start_recording(&mut self, announce: &mut dyn FnMut(Action)) -> Result<PathBuf, String> {
        let base = match &self.recording.path {
            Some(p) => p.clone(),
            None => PathBuf::from(record::default_file_name()),
        };
        // Never overwrite what this run (or an earlier one) recorded.
        let path = if self.recordings == 0 && self.recording.path.is_some() {
            base
        } else {
            record::fresh_path(&base)
        };
        let header = Header::new(
            self.recording.seed,
            self.recording.config.clone(),
            self.recording.scenario.clone(),
        );
        let r =
            Recorder::start(&self.broadcaster, &path, &header, self.recording.delivery).map_err(|e| e.to_string())?;
        self.recorder = Some(r);
        self.recordings += 1;
        // The recorder subscribed first, so it sees the settings it starts from.
        announce(Action::AnnounceState);
        announce(Action::Announce(LoadChange::Recording { on: true }));
        Ok(path)
    }

    /// Stops recording; the file is complete when this returns.
    pub fn stop_recording(&mut self, announce: &mut dyn FnMut(Action)) -> Option<String> {
        let r = self.recorder.take()?;
        announce(Action::Announce(LoadChange::Recording { on: false }));
        Some(match r.stop() {
            Ok(s) => format!(
                "recorded {} events to {}{}",
                crate::format::count(s.events),
                s.path.display(),
                if s.missed > 0 {
                    format!(" ({} missed, marked as gaps)", s.missed)
                } else {
                    String::new()
                }
            ),
            Err(e) => format!("recording stopped with an error: {e}"),
        })
    }

    /// Ends the run's recording after the stream closed (it then holds everything).
    pub fn finish_recording(&mut self) {
        if let Some(r) = self.recorder.take() {
            let path = r.path().display().to_string();
            match r.finish() {
                Ok(s) => self.notes.push(format!(
                    "recorded {} events to {}{}",
                    crate::format::count(s.events),
                    path,
                    if s.missed > 0 {
                        format!(" ({} missed, marked as gaps)", s.missed)
                    } else {
                        String::new()
                    }
                )),
                Err(e) => self.notes.push(format!("recording {path} ended with an error: {e}")),
            }
        }
    }

    /// Carries out what the app asked for that is not the pipeline's.
    pub fn effect(&mut self, app: &mut App, effect: Effect, announce: &mut dyn FnMut(Action)) {
        match effect {
            Effect::AddSlowSubscriber => match self.slow.add() {
                Ok(_) => announce(Action::Announce(LoadChange::SlowSubscriber { added: true })),
                Err(e) => app.flash(e),
            },
            Effect::RemoveSlowSubscriber => match self.slow.remove() {
                Some(_) => announce(Action::Announce(LoadChange::SlowSubscriber { added: false })),
                None => app.flash("no slow subscriber to remove (s adds one)"),
            },
            Effect::ToggleRecording => {
                if self.recording() {
                    if let Some(msg) = self.stop_recording(announce) {
                        app.flash(msg);
                    }
                } else {
                    match self.start_recording(announce) {
                        Ok(p) => app.flash(format!("recording to {}", p.display())),
                        Err(e) => app.flash(e),
                    }
                }
            }
            Effect::Control(a) => announce(a),
            Effect::Seek(_) => app.flash("seeking works while replaying a recording"),
            Effect::None | Effect::Redraw | Effect::Quit => {}
        }
    }

    /// Handles newly logged notable events: carries out the app-level part
    /// of scenario steps, and writes cast markers.
    pub fn on_notables(&mut self, app: &mut App, notables: Vec<(Nanos, Notable)>, announce: &mut dyn FnMut(Action)) {
        let mut step_at = None;
        for (t, n) in notables {
            let marker = match n {
                Notable::Step(i) => {
                    self.run_step(app, i as usize, announce);
                    step_at = Some(t);
                    true
                }
                // A fault a scenario step injected already has the step's marker.
                Notable::Load(
                    LoadChange::StallInjected { .. }
                    | LoadChange::CrashInjected { .. }
                    | LoadChange::SlowSubscriber { added: true },
                ) => step_at != Some(t),
                _ => false,
            };
            if marker && let Some(cast) = &self.cast {
                let label = app.describe(&n);
                let mut c = cast.borrow_mut();
                c.set_time(t);
                let _ = c.marker(&label);
            }
        }
    }

    fn run_step(&mut self, app: &mut App, i: usize, announce: &mut dyn FnMut(Action)) {
        let Some(step) = self.steps.get(i).cloned() else { return };
        match step {
            StepAction::AddSlowSubscriber => self.effect(app, Effect::AddSlowSubscriber, announce),
            StepAction::RemoveSlowSubscriber => self.effect(app, Effect::RemoveSlowSubscriber, announce),
            StepAction::RecordStart if !self.recording() => self.effect(app, Effect::ToggleRecording, announce),
            StepAction::RecordStop if self.recording() => self.effect(app, Effect::ToggleRecording, announce),
            StepAction::Freeze(on) => app.set_frozen(on),
            StepAction::Focus(p) => app.focus = p.min(4),
            StepAction::Zoom(on) => app.zoom = on,
            StepAction::Window(s) => {
                if let Some(w) = WINDOWS_S.iter().position(|&x| x == s) {
                    app.window = w;
                }
            }
            // Pipeline actions and the end were carried out by the pipeline.
            _ => {}
        }
    }
}

/// Carries out the effects the app asks for. The live monitor drives the
/// pipeline; a replay drives its player.
pub trait Driver {
    fn effect(&mut self, app: &mut App, effect: Effect);
    /// Called every frame tick, after the panes were pumped.
    fn tick(&mut self, _app: &mut App) {}
    /// Whether the run has ended on its own (duration, scenario end).
    fn finished(&self) -> bool {
        false
    }
}

/// The live monitor's driver: the pipeline's control and the session.
pub struct LiveDriver {
    pub pipeline: Pipeline,
    pub control: Control,
    pub session: Session,
}

impl LiveDriver {
    fn announcer(control: &Control) -> impl FnMut(Action) + '_ {
        move |a| {
            let _ = control.apply(a);
        }
    }
}

impl Driver for LiveDriver {
    fn effect(&mut self, app: &mut App, effect: Effect) {
        if let Effect::Control(a) = effect {
            if let Err(e) = self.control.apply(a) {
                app.flash(format!("refused: {e}"));
            }
            return;
        }
        let mut announce = Self::announcer(&self.control);
        self.session.effect(app, effect, &mut announce);
    }

    fn tick(&mut self, app: &mut App) {
        if app.take_resubscribed() {
            // A pane lost its subscription: tell it the settings again.
            let _ = self.control.apply(Action::AnnounceState);
        }
        let notables = app.take_notables();
        let mut announce = Self::announcer(&self.control);
        self.session.on_notables(app, notables, &mut announce);
    }

    fn finished(&self) -> bool {
        self.pipeline.is_finished()
    }
}

/// A replay's driver: pause and seek the player.
pub struct ReplayDriver {
    pub player: PlayerControl,
    pub slow: SlowSubscribers,
    /// Bytes of a cast being written alongside, for markers.
    pub cast: Option<Rc<RefCell<Cast>>>,
}

impl Driver for ReplayDriver {
    fn effect(&mut self, app: &mut App, effect: Effect) {
        match effect {
            Effect::Control(Action::TogglePause) => self.player.toggle_pause(),
            Effect::Seek(secs) => {
                let now = self.player.now() as i64;
                let to = (now + secs * 1_000_000_000).max(0) as u64;
                if (to as i64) < now {
                    app.reset_panes();
                }
                self.player.seek(to);
            }
            Effect::AddSlowSubscriber => {
                if let Err(e) = self.slow.add() {
                    app.flash(e);
                }
            }
            Effect::RemoveSlowSubscriber => {
                if self.slow.remove().is_none() {
                    app.flash("no slow subscriber to remove (s adds one)");
                }
            }
            Effect::Control(_) | Effect::ToggleRecording => app.flash("not available while replaying a recording"),
            Effect::None | Effect::Redraw | Effect::Quit => {}
        }
    }

    fn tick(&mut self, app: &mut App) {
        if let Mode::Replay { position, paused, .. } = &mut app.mode {
            *position = self.player.now();
            *paused = self.player.paused();
        }
        let _ = app.take_notables();
    }
}
