//! What connects the loop to a run: a [`Driver`] carries out the effects
//! keys ask for and the scenario steps the pipeline hands over, through the
//! run's [`Session`] (which owns every side effect), and applies what the
//! session asks of the display ([`Intent`]) to the [`App`]. The live
//! monitor's driver controls a pipeline; a replay's, a player.

use super::app::{App, Effect, Mode};
use super::panes::WINDOWS_S;
use super::panes::events::Notable;
use crate::event::{LoadChange, Nanos, SECONDS};
use crate::pipeline::{Command, Control, StepDue};
use crate::run::Stack;
use crate::session::replay::PlayerControl;
use crate::session::{Intent, Session};

/// Applies what the session asked of the display.
pub fn apply_intent(app: &mut App, intent: Intent) {
    match intent {
        Intent::Focus(p) => app.focus = p.min(4),
        Intent::Zoom(on) => app.zoom = on,
        Intent::Freeze(on) => app.set_frozen(on),
        Intent::Window(s) => {
            if let Some(w) = WINDOWS_S.iter().position(|&x| x == s) {
                app.window = w;
            }
        }
        Intent::Flash(msg) => app.flash(msg),
        Intent::RecordingStarted(path) => app.recording_started(&path),
        Intent::OutputFailed { recording, why } => app.output_failed(recording, why),
    }
}

/// Writes cast markers for newly logged notable events: each scenario
/// step, and each fault injected by a key (one a step injected already has
/// the step's marker).
pub fn mark_notables(app: &App, session: &mut Session, notables: Vec<(Nanos, Notable)>) {
    if session.cast().is_none() {
        return;
    }
    let mut step_at = None;
    for (t, n) in notables {
        let marker = match n {
            Notable::Step(_) => {
                step_at = Some(t);
                true
            }
            Notable::Load(
                LoadChange::StallInjected { .. }
                | LoadChange::CrashInjected { .. }
                | LoadChange::SlowSubscriber { added: true },
            ) => step_at != Some(t),
            _ => false,
        };
        if marker {
            session.mark(t, &app.describe(&n));
        }
    }
}

/// Carries out the effects the app asks for, and the steps handed over.
pub trait Driver {
    fn effect(&mut self, app: &mut App, effect: Effect);
    /// A scenario step handed over by the pipeline (real time).
    fn step(&mut self, _app: &mut App, _due: StepDue) {}
    /// Called every frame tick, after the panes were pumped.
    fn tick(&mut self, _app: &mut App) {}
    /// Whether the run has ended on its own (duration, scenario end).
    fn finished(&self) -> bool {
        false
    }
}

/// The live monitor's driver: the run's stack, the pipeline's control and
/// the session.
pub struct LiveDriver {
    pub stack: Stack,
    pub control: Control,
    pub session: Session,
}

impl Driver for LiveDriver {
    fn effect(&mut self, app: &mut App, effect: Effect) {
        let control = &self.control;
        let mut announce = |a| {
            let _ = control.apply(a);
        };
        let now = self.stack.clock.now();
        let refused = match effect {
            Effect::Control(a) => control.apply(a).err().map(|e| format!("refused: {e}")),
            Effect::AddSlowSubscriber => self.session.add_slow_subscriber(now, &mut announce).err(),
            Effect::RemoveSlowSubscriber => self.session.remove_slow_subscriber(now, &mut announce).err(),
            Effect::ToggleRecording => {
                apply_intent(app, self.session.toggle_recording(&mut announce));
                None
            }
            Effect::Seek(_) => Some("seeking works while replaying a recording".into()),
            Effect::None | Effect::Redraw | Effect::Quit | Effect::Suspend => None,
        };
        if let Some(msg) = refused {
            app.flash(msg);
        }
    }

    fn step(&mut self, app: &mut App, due: StepDue) {
        let control = &self.control;
        let mut announce = |a| {
            let _ = control.apply(a);
        };
        if let Some(intent) = self.session.apply_step(due.step, due.at, &mut announce) {
            apply_intent(app, intent);
        }
    }

    fn tick(&mut self, app: &mut App) {
        if app.take_resubscribed() {
            // A pane lost its subscription: tell it the settings again.
            let _ = self.control.apply(Command::AnnounceState);
        }
        let control = &self.control;
        let mut announce = |a| {
            let _ = control.apply(a);
        };
        for intent in self.session.tick(self.stack.clock.now(), &mut announce) {
            apply_intent(app, intent);
        }
        let notables = app.take_notables();
        mark_notables(app, &mut self.session, notables);
    }

    fn finished(&self) -> bool {
        self.stack.source_ended()
    }
}

/// A replay's driver: pause and seek the player; slow subscribers through
/// the session.
pub struct ReplayDriver {
    pub stack: Stack,
    pub player: PlayerControl,
    pub session: Session,
}

impl Driver for ReplayDriver {
    fn effect(&mut self, app: &mut App, effect: Effect) {
        let now = self.player.now();
        let refused = match effect {
            Effect::Control(Command::TogglePause) => {
                self.player.toggle_pause();
                None
            }
            Effect::Seek(secs) => {
                let by = secs.unsigned_abs().saturating_mul(SECONDS);
                let to = if secs < 0 {
                    now.saturating_sub(by)
                } else {
                    now.saturating_add(by)
                }
                .clamp(self.player.start, self.player.length);
                if to < now {
                    // The player starts over (and so does the collector's stream).
                    app.reset_panes();
                }
                self.player.seek(to);
                None
            }
            Effect::AddSlowSubscriber => self.session.add_slow_subscriber(now, &mut |_| {}).err(),
            Effect::RemoveSlowSubscriber => self.session.remove_slow_subscriber(now, &mut |_| {}).err(),
            Effect::Control(_) | Effect::ToggleRecording => Some("not available while replaying a recording".into()),
            Effect::None | Effect::Redraw | Effect::Quit | Effect::Suspend => None,
        };
        if let Some(msg) = refused {
            app.flash(msg);
        }
    }

    fn tick(&mut self, app: &mut App) {
        if let Mode::Replay {
            position,
            paused,
            ended,
            ..
        } = &mut app.mode
        {
            *position = self.player.now();
            *paused = self.player.paused();
            *ended = self.player.done();
        }
        for skip in self.player.take_skips() {
            app.log_idle_skip(skip);
        }
        // A replay writes no files: nothing to show from the session.
        let _ = self.session.tick(self.player.now(), &mut |_| {});
        let _ = app.take_notables();
    }

    fn finished(&self) -> bool {
        false
    }
}
