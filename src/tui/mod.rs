//! The terminal monitor: the loop, the terminal's care and feeding, and the
//! three ways to run it — live ([`run_live`]), rendered offscreen in
//! simulated time ([`run_offscreen`]) and replaying a recording
//! ([`run_replay`]). Each builds its run with a [`crate::run::Stack`] and
//! leaves every side effect (slow subscribers, recordings, scenario steps,
//! cast markers, the exit notes) to one [`crate::session::Session`]; the
//! TUI only applies what the session asks of the display
//! ([`crate::session::Intent`]).
//!
//! The loop waits on one crossbeam `select!` over input, signals, the
//! scenario steps the pipeline hands over and a frame ticker (no polling
//! sleep). On each tick it drains every pane's subscription and draws — at
//! most `fps` times a second, and only when something changed. Input is
//! drawn at once: a key, click, wheel turn or resize that changed the
//! screen redraws it without waiting for the next tick, whatever `--fps`.
//! It is generic over the ratatui `Backend`, so tests drive it on
//! `TestBackend`.
//!
//! The terminal is restored on every way out: quit, Ctrl-C, a stop signal
//! (SIGINT, SIGTERM, SIGHUP, SIGQUIT: [`Exit::Signal`], exit status 128 + n),
//! an error, and a panic in any thread (a chained panic hook, which first
//! tells the loop to stop drawing). Ctrl-Z or SIGTSTP hand it back to the
//! shell and stop the process; `fg` (SIGCONT) takes it again and redraws
//! everything.

pub mod app;
pub mod driver;
pub mod feed;
pub mod help;
pub mod keys;
pub mod layout;
pub mod output;
pub mod panes;
pub mod scroll;
pub mod svg;
pub mod term;
pub mod theme;

use std::cell::RefCell;
use std::io;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crossbeam_channel::{Receiver, never, select, tick};
use ratatui::backend::{Backend, CrosstermBackend};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};

use crate::collector::Snapshot;
use crate::event::{LoadChange, Nanos};
use crate::pipeline::{Command, Pace, Scheduled, SimConfig, StepDue};
use crate::run::{self, Stack, Time};
use crate::session::cast::{Cast, CastTime};
use crate::session::recording::Recording;
use crate::session::replay::Pace as ReplayPace;
use crate::session::scenario::StepAction;
use crate::session::{RecordingSetup, Session, SessionOptions};
pub use crate::signals::{Signal, spawn_signals};
use app::{App, Effect, Mode};
pub use driver::{Driver, LiveDriver, ReplayDriver, apply_intent};
use output::CastOutput;
use term::STOP_DRAWING;
pub use term::{Input, TerminalGuard, restore_terminal, spawn_input};
use theme::Theme;

/// Default and allowed frame rates. At the default, an offscreen frame is
/// [`run::VIRTUAL_FRAME`], the frame `--headless --fast` steps in.
pub const DEFAULT_FPS: u32 = 20;
pub const MAX_FPS: u32 = 120;

/// The loop's inputs besides the app.
pub struct LoopIo {
    pub input: Receiver<Input>,
    pub signals: Receiver<Signal>,
    /// Scenario steps the pipeline hands over (`never()` when none).
    pub steps: Receiver<StepDue>,
    pub fps: u32,
    /// Whether the loop draws on the real terminal, which Ctrl-Z and
    /// SIGTSTP hand back to the shell (false on a test backend: they do
    /// nothing).
    pub job_control: bool,
}

/// Why the loop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Quit,
    /// A stop signal (SIGINT, SIGTERM, SIGHUP, SIGQUIT), by number.
    Signal(i32),
    /// The run ended by itself (duration, scenario, end of a replay).
    Finished,
    /// Another thread panicked; the terminal was restored by the hook.
    Panicked,
    /// The terminal went away (its window closed); everything was still
    /// shut down in order and every file finished.
    TerminalLost,
}

/// Runs the monitor until quit. Draws the stream's changes at most `fps`
/// times a second, only when something changed, and input's at once.
pub fn event_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    driver: &mut dyn Driver,
    io: &LoopIo,
    cast: Option<&Rc<RefCell<Cast>>>,
) -> anyhow::Result<Exit>
where
    B::Error: Send + Sync + 'static,
{
    let frame = Duration::from_secs_f64(1.0 / io.fps.clamp(1, MAX_FPS) as f64);
    let ticker = tick(frame);
    let mut input = io.input.clone();
    let mut steps = io.steps.clone();
    let mut dirty = true;
    let mut last_shown = None;
    let mut signals = io.signals.clone();
    // Draws now when something changed; `Some` when the loop must end.
    let draw = |terminal: &mut Terminal<B>, app: &App, dirty: &mut bool| -> anyhow::Result<Option<Exit>> {
        if *dirty {
            // Only a restore stops drawing, and the loop's own comes after
            // it: this one is the panic hook's.
            if STOP_DRAWING.load(Ordering::SeqCst) {
                return Ok(Some(Exit::Panicked));
            }
            terminal.draw(|f| app.draw(f))?;
            *dirty = false;
        }
        Ok(None)
    };
    loop {
        // Only a restore stops drawing, and the loop's own comes after it:
        // this one is the panic hook's.
        if STOP_DRAWING.load(Ordering::SeqCst) {
            return Ok(Exit::Panicked);
        }
        if output::terminal_lost() {
            return Ok(Exit::TerminalLost);
        }
        select! {
            recv(input) -> msg => {
                match msg {
                Ok(Input::Key(k)) => {
                    if let Some(b) = keys::binding_for(&k) {
                        match app.on_action(b.action) {
                            Effect::Quit => return Ok(Exit::Quit),
                            Effect::Suspend => { job_control(terminal, io, Stop::Suspend)?; dirty = true; }
                            Effect::None => {}
                            Effect::Redraw => dirty = true,
                            e => { driver.effect(app, e); dirty = true; }
                        }
                    }
                }
                Ok(Input::Click { col, row }) => {
                    let size = terminal.size()?;
                    if app.on_click(Rect::new(0, 0, size.width, size.height), col, row) != Effect::None {
                        dirty = true;
                    }
                }
                Ok(Input::Wheel { col, row, down }) => {
                    let size = terminal.size()?;
                    if app.on_wheel(Rect::new(0, 0, size.width, size.height), col, row, down) != Effect::None {
                        dirty = true;
                    }
                }
                Ok(Input::Resize) => {
                    terminal.autoresize()?;
                    if let Some(c) = cast {
                        let size = terminal.size()?;
                        c.borrow_mut().resize(size.width, size.height);
                    }
                    dirty = true;
                }
                Err(_) => input = never(),
                }
                // Input shows at once, not at the next tick.
                if let Some(exit) = draw(terminal, app, &mut dirty)? {
                    return Ok(exit);
                }
            },
            recv(steps) -> due => match due {
                Ok(due) => { driver.step(app, due); dirty = true; }
                // The pipeline ended; the ticker notices.
                Err(_) => steps = never(),
            },
            recv(signals) -> s => match s {
                Ok(Signal::Stop(n)) => return Ok(Exit::Signal(n)),
                Ok(Signal::Suspend) => { job_control(terminal, io, Stop::Suspend)?; dirty = true; }
                Ok(Signal::Continued) => { job_control(terminal, io, Stop::Continued)?; dirty = true; }
                // The watch is gone (never while the run holds it).
                Err(_) => signals = never(),
            },
            recv(ticker) -> _ => {
                if app.pump() && !app.frozen {
                    dirty = true;
                }
                driver.tick(app);
                // The header clock and a replay's position tick even when nothing else moves.
                let shown = Some(app.shown_time());
                if shown != last_shown && !app.frozen {
                    last_shown = shown;
                    dirty = true;
                }
                if let Some(exit) = draw(terminal, app, &mut dirty)? {
                    return Ok(exit);
                }
                if driver.finished() && app.stream_ended() {
                    return Ok(Exit::Finished);
                }
            }
        }
    }
}

/// Which side of a stop the loop is on.
enum Stop {
    /// Ctrl-Z or SIGTSTP: hand the terminal back and stop.
    Suspend,
    /// SIGCONT: continued; take the terminal again.
    Continued,
}

/// Job control on the real terminal (nothing on a test backend): hands it
/// back and stops until continued, or takes it again after a SIGCONT; then
/// clears it, so the next draw is whole.
fn job_control<B: Backend>(terminal: &mut Terminal<B>, io: &LoopIo, stop: Stop) -> anyhow::Result<()>
where
    B::Error: Send + Sync + 'static,
{
    if !io.job_control {
        return Ok(());
    }
    match stop {
        Stop::Suspend => term::suspend()?,
        Stop::Continued => term::retake()?,
    }
    terminal.clear()?;
    Ok(())
}

/// A monitor run's settings (live or offscreen).
#[derive(Clone, Debug)]
pub struct MonitorOptions {
    pub sim: SimConfig,
    pub fps: u32,
    pub mouse: bool,
    pub theme: Theme,
    pub duration: Option<Nanos>,
    /// A scenario's pipeline timeline, its steps (for the app-level ones) and labels.
    pub timeline: Vec<Scheduled>,
    pub steps: Vec<StepAction>,
    pub step_labels: Vec<String>,
    pub recording: RecordingSetup,
    /// Start recording at launch (`--record FILE`).
    pub record_at_start: bool,
    /// `--cast FILE`.
    pub cast: Option<PathBuf>,
    /// Keep the final frame in [`Outcome::frame`] (for `--screenshot`).
    pub keep_frame: bool,
}

/// How a monitor run ended and what it leaves.
pub struct Outcome {
    pub snapshot: Arc<Snapshot>,
    pub exit: Exit,
    /// Messages for the user (recordings written, ...), printed after the
    /// terminal is restored.
    pub notes: Vec<String>,
    /// Files that failed, each naming the file and why: the exit status is 1.
    pub failures: Vec<String>,
    /// The screen as it was at the end, when asked for (`keep_frame`).
    pub frame: Option<Buffer>,
}

fn cast_title(opts: &MonitorOptions) -> String {
    format!("fantop — seed {}", opts.sim.seed)
}

/// The session of a monitor run, recording from the start if asked (it
/// subscribes before the source starts, so it records from the first event).
fn monitor_session(stack: &Stack, opts: &MonitorOptions) -> anyhow::Result<Session> {
    let mut session = Session::new(
        &stack.broadcaster,
        SessionOptions {
            recording: opts.recording.clone(),
            steps: opts.steps.clone(),
            virtual_time: stack.time() == Time::Virtual,
        },
    );
    if opts.record_at_start {
        session.start_recording(&mut |_| {}).map_err(anyhow::Error::msg)?;
    }
    Ok(session)
}

/// Ends a run on the terminal: restores the terminal first, then shuts the
/// stack down in order (see [`crate::run`]) and stops the input thread.
fn shut_down(
    guard: TerminalGuard,
    io: LoopIo,
    input_thread: std::thread::JoinHandle<()>,
    stack: Stack,
    mut session: Session,
    app: App,
    exit: anyhow::Result<Exit>,
) -> anyhow::Result<Outcome> {
    drop(guard);
    drop(io);
    let finished = stack.finish(&mut session, app);
    term::stop_input(input_thread);
    Ok(Outcome {
        snapshot: finished.snapshot,
        exit: exit?,
        notes: finished.notes,
        failures: finished.failures,
        frame: None,
    })
}

/// The screen at the end of a run on the terminal, drawn again at the
/// terminal's size, when asked for.
fn final_frame(keep: bool, guard: &TerminalGuard, app: &App) -> Option<Buffer> {
    let size = guard.terminal.size().ok().filter(|_| keep)?;
    Some(svg::frame_of(app, size.width, size.height))
}

/// The panes of a monitor run, subscribed before the source starts.
fn monitor_app(stack: &Stack, opts: &MonitorOptions) -> App {
    let mut app = App::new(
        &stack.broadcaster,
        stack.snapshots(),
        opts.theme,
        Mode::Live { seed: opts.sim.seed },
    );
    app.set_step_labels(opts.step_labels.clone());
    app
}

/// Runs the live monitor on the terminal.
pub fn run_live(opts: MonitorOptions) -> anyhow::Result<Outcome> {
    // First, so a stop signal from now on finishes whatever files exist.
    let watch = spawn_signals(true)?;
    let mut stack = Stack::new(Time::Real)?;
    let mut app = monitor_app(&stack, &opts);
    let mut session = monitor_session(&stack, &opts)?;
    let size =
        ratatui::crossterm::terminal::size().map_err(|e| anyhow::anyhow!("cannot read the terminal size: {e}"))?;
    if let Some(path) = &opts.cast {
        let cast = Cast::create(
            path,
            size.0,
            size.1,
            &cast_title(&opts),
            CastTime::Wall(std::time::Instant::now()),
        )?;
        session.set_cast(Rc::new(RefCell::new(cast)), path.clone());
    }
    let mut guard = TerminalGuard::enter(opts.mouse, session.cast())?;
    let popts = run::pipeline_options(opts.sim, Pace::RealTime, opts.duration, &opts.timeline);
    let (control, steps) = stack.start_pipeline(popts, true)?;
    if session.recording() {
        let _ = control.apply(Command::Announce(LoadChange::Recording { on: true }));
    }
    let (input, input_thread) = spawn_input()?;
    let mut driver = LiveDriver {
        stack,
        control,
        session,
    };
    let io = LoopIo {
        input,
        signals: watch.rx.clone(),
        steps: steps.unwrap_or_else(never),
        fps: opts.fps,
        job_control: true,
    };
    let cast = driver.session.cast();
    let exit = event_loop(&mut guard.terminal, &mut app, &mut driver, &io, cast.as_ref());
    let frame = final_frame(opts.keep_frame, &guard, &app);
    let LiveDriver { stack, session, .. } = driver;
    let outcome = shut_down(guard, io, input_thread, stack, session, app, exit)?;
    Ok(Outcome { frame, ..outcome })
}

/// Renders the monitor without a terminal, at a fixed size, in simulated
/// time: frame k shows the state at k/fps seconds. Writes the cast (and any
/// recording); deterministic for a seed and scenario, and (at the default
/// fps) the same run as `--headless --fast`.
pub fn run_offscreen(opts: MonitorOptions, width: u16, height: u16) -> anyhow::Result<Outcome> {
    let end = opts
        .duration
        .ok_or_else(|| anyhow::anyhow!("--offscreen needs --duration or a scenario with an end step"))?;
    // First, so a stop signal from now on finishes whatever files exist.
    let watch = spawn_signals(false)?;
    let mut stack = Stack::new(Time::Virtual)?;
    let mut app = monitor_app(&stack, &opts);
    let mut session = monitor_session(&stack, &opts)?;
    if let Some(path) = &opts.cast {
        let cast = Cast::create(path, width, height, &cast_title(&opts), CastTime::Manual(0))?;
        session.set_cast(Rc::new(RefCell::new(cast)), path.clone());
    }
    let output = CastOutput::<io::Sink> {
        terminal: None,
        cast: session.cast(),
    };
    let mut terminal = Terminal::with_options(
        CrosstermBackend::new(output),
        TerminalOptions {
            viewport: Viewport::Fixed(Rect::new(0, 0, width, height)),
        },
    )?;
    if let Some(c) = session.cast() {
        // A player starts on a blank screen with the cursor hidden.
        c.borrow_mut().output(b"\x1b[?25l\x1b[2J\x1b[H");
    }
    stack.start_stepper(run::pipeline_options(
        opts.sim,
        Pace::Fast,
        opts.duration,
        &opts.timeline,
    ))?;
    if session.recording() {
        stack.apply(Command::Announce(LoadChange::Recording { on: true }));
    }
    let frame_ns = 1_000_000_000 / opts.fps.clamp(1, MAX_FPS) as u64;
    let mut k = 0u64;
    let mut exit = Exit::Finished;
    loop {
        if let Ok(Signal::Stop(n)) = watch.rx.try_recv() {
            exit = Exit::Signal(n);
            break;
        }
        k += 1;
        let t = (k * frame_ns).min(end);
        let intents = stack.step_frame(t, &mut session);
        app.pump();
        for i in intents {
            apply_intent(&mut app, i);
        }
        let notables = app.take_notables();
        driver::mark_notables(&app, &mut session, notables);
        if let Some(c) = session.cast() {
            c.borrow_mut().set_time(t);
        }
        terminal.draw(|f| app.draw(f))?;
        if stack.source_ended() || t >= end {
            break;
        }
    }
    let frame = opts.keep_frame.then(|| svg::frame_of(&app, width, height));
    let finished = stack.finish(&mut session, app);
    Ok(Outcome {
        snapshot: finished.snapshot,
        exit,
        notes: finished.notes,
        failures: finished.failures,
        frame,
    })
}

/// Replays a recording on the terminal, at `speed` × the original pace
/// with idle stretches cut to `max_idle`, from its first event. With
/// `keep_frame`, the outcome holds the final frame.
pub fn run_replay(
    recording: Recording,
    pace: ReplayPace,
    fps: u32,
    mouse: bool,
    theme: Theme,
    keep_frame: bool,
) -> anyhow::Result<Outcome> {
    let watch = spawn_signals(true)?;
    let mut stack = Stack::for_replay();
    let start = recording.events.first().map_or(0, |e| e.t);
    let mut app = App::new(
        &stack.broadcaster,
        stack.snapshots(),
        theme,
        Mode::Replay {
            seed: Some(recording.header.seed),
            position: start,
            length: recording.length(),
            paused: false,
            ended: false,
        },
    );
    if let Some(s) = &recording.header.scenario {
        app.set_step_labels(s.steps.clone());
    }
    if let Some(w) = &recording.warning {
        app.flash(w.clone());
    }
    let session = run::replay_session(&stack, &recording);
    let mut guard = TerminalGuard::enter(mouse, None)?;
    let player = stack.play(recording.events, pace, true)?;
    let (input, input_thread) = spawn_input()?;
    let mut driver = ReplayDriver { stack, player, session };
    let io = LoopIo {
        input,
        signals: watch.rx.clone(),
        steps: never(),
        fps,
        job_control: true,
    };
    let exit = event_loop(&mut guard.terminal, &mut app, &mut driver, &io, None);
    let frame = final_frame(keep_frame, &guard, &app);
    let ReplayDriver { stack, session, .. } = driver;
    let outcome = shut_down(guard, io, input_thread, stack, session, app, exit)?;
    Ok(Outcome { frame, ..outcome })
}
