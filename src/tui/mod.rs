//! The terminal monitor: the loop, the terminal's care and feeding, and the
//! wiring of a live run (pipeline, collector, panes, slow subscribers).
//!
//! The loop waits on one crossbeam `select!` over input, signals and a frame
//! ticker (no polling sleep). On each tick it drains every pane's
//! subscription and draws — at most `fps` times a second, and only when
//! something changed. It is generic over the ratatui `Backend`, so tests
//! drive it on `TestBackend`.
//!
//! The terminal is restored on every way out: quit, Ctrl-C, SIGTERM/SIGHUP,
//! an error, and a panic in any thread (a chained panic hook, which first
//! tells the loop to stop drawing).

pub mod app;
pub mod feed;
pub mod keys;
pub mod panes;
pub mod session;
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
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};

use crate::broadcast::{self, BroadcastConfig, Delivery};
use crate::clock::Clock;
use crate::collector::{Collector, Snapshot};
use crate::event::{Event, LoadChange, Nanos};
use crate::pipeline::{Action, Pace, Pipeline, PipelineOptions, Scheduled, SimConfig, Stepper};
use crate::run;
use crate::session::cast::{Cast, CastOutput, CastTime};
use crate::session::record::Recording;
use crate::session::replay::{Pace as ReplayPace, Player};
use crate::session::scenario::StepAction;
use crate::session::slow::SlowSubscribers;
pub use crate::signals::spawn_signals;
use app::{App, Effect, Mode};
pub use session::{Driver, LiveDriver, RecordingSetup, ReplayDriver, Session};
pub use term::{Input, TerminalGuard, restore_terminal, spawn_input};
use term::{RESTORED, STOP_DRAWING};
use theme::Theme;

/// Default and allowed frame rates.
pub const DEFAULT_FPS: u32 = 20;
pub const MAX_FPS: u32 = 120;

/// The loop's inputs besides the app.
pub struct LoopIo {
    pub input: Receiver<Input>,
    pub signals: Receiver<i32>,
    pub fps: u32,
}

/// Why the loop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Quit,
    Signal(i32),
    /// The run ended by itself (duration, scenario, end of a replay).
    Finished,
    /// Another thread panicked; the terminal was restored by the hook.
    Panicked,
    /// The terminal went away (its window closed); everything was still
    /// shut down in order and every file finished.
    TerminalLost,
}

/// Runs the monitor until quit. Draws at most `fps` times a second, only
/// when something changed.
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
    let mut dirty = true;
    let mut last_clock_sec = u64::MAX;
    loop {
        if STOP_DRAWING.load(Ordering::SeqCst) && !RESTORED.load(Ordering::SeqCst) {
            return Ok(Exit::Panicked);
        }
        if crate::session::cast::terminal_lost() {
            return Ok(Exit::TerminalLost);
        }
        select! {
            recv(input) -> msg => match msg {
                Ok(Input::Key(k)) => {
                    if let Some(b) = keys::binding_for(&k) {
                        match app.on_command(b.command) {
                            Effect::Quit => return Ok(Exit::Quit),
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
                Ok(Input::Resize) => {
                    terminal.autoresize()?;
                    if let Some(c) = cast {
                        let size = terminal.size()?;
                        c.borrow_mut().resize(size.width, size.height)?;
                    }
                    dirty = true;
                }
                Err(_) => input = never(),
            },
            recv(io.signals) -> s => return Ok(Exit::Signal(s.unwrap_or(0))),
            recv(ticker) -> _ => {
                if app.pump() && !app.frozen {
                    dirty = true;
                }
                driver.tick(app);
                // The header clock ticks even when nothing else moves.
                let sec = app.now() / crate::event::SECONDS;
                if sec != last_clock_sec && !app.frozen {
                    last_clock_sec = sec;
                    dirty = true;
                }
                if dirty {
                    if STOP_DRAWING.load(Ordering::SeqCst) && !RESTORED.load(Ordering::SeqCst) {
                        return Ok(Exit::Panicked);
                    }
                    terminal.draw(|f| app.draw(f))?;
                    dirty = false;
                }
                if driver.finished() && app.stream_ended() {
                    return Ok(Exit::Finished);
                }
            }
        }
    }
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
}

/// How a monitor run ended and what it leaves.
pub struct Outcome {
    pub snapshot: Arc<Snapshot>,
    pub exit: Exit,
    /// Messages for the user (recordings written, ...), printed after the
    /// terminal is restored.
    pub notes: Vec<String>,
}

fn pipeline_options(opts: &MonitorOptions, pace: Pace) -> PipelineOptions {
    let mut p = PipelineOptions::new(opts.sim, pace);
    p.duration = opts.duration;
    p.timeline = opts.timeline.clone();
    p
}

fn cast_title(opts: &MonitorOptions) -> String {
    format!("fantop — seed {}", opts.sim.seed)
}

/// Runs the live monitor on the terminal.
pub fn run_live(opts: MonitorOptions) -> anyhow::Result<Outcome> {
    let clock = Clock::start();
    let (publisher, broadcaster) = broadcast::channel(BroadcastConfig::default(), clock.clone());
    let collector = Collector::spawn(&broadcaster, run::collector_options(false))?;
    let mut app = App::new(
        &broadcaster,
        collector.reader(),
        opts.theme,
        Mode::Live { seed: opts.sim.seed },
    );
    app.set_step_labels(opts.step_labels.clone());
    let mut session = Session::new(
        &broadcaster,
        SlowSubscribers::new(&broadcaster),
        opts.recording.clone(),
        opts.steps.clone(),
    );
    if opts.record_at_start {
        // Subscribed before the pipeline starts: it records from the first event.
        session.start_recording(&mut |_| {}).map_err(|e| anyhow::anyhow!(e))?;
    }
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
        session.cast = Some(Rc::new(RefCell::new(cast)));
    }
    let watch = spawn_signals()?;
    let mut guard = TerminalGuard::enter(opts.mouse, session.cast.clone())?;
    let pipeline = Pipeline::start(pipeline_options(&opts, Pace::RealTime), publisher, clock)?;
    if opts.record_at_start {
        let _ = pipeline
            .control()
            .apply(Action::Announce(LoadChange::Recording { on: true }));
    }
    let (input, input_thread) = spawn_input()?;
    let mut driver = LiveDriver {
        control: pipeline.control(),
        pipeline,
        session,
    };
    let io = LoopIo {
        input,
        signals: watch.rx.clone(),
        fps: opts.fps,
    };
    let cast = driver.session.cast.clone();
    let exit = event_loop(&mut guard.terminal, &mut app, &mut driver, &io, cast.as_ref());
    // Restore the terminal first, then shut down in order: slow subscribers,
    // the pipeline (which closes the publisher), the panes, then the
    // recorder and the collector, which by then hold every event.
    drop(guard);
    let LiveDriver {
        pipeline, mut session, ..
    } = driver;
    let stopped = pipeline.stop();
    let _ = stopped;
    drop(app);
    session.finish_recording();
    if let Some(c) = &session.cast {
        c.borrow_mut().finish()?;
        session.notes.push(format!(
            "cast written to {}",
            opts.cast.as_ref().map_or(String::new(), |p| p.display().to_string())
        ));
    }
    let snapshot = collector.join();
    drop(io);
    term::stop_input(input_thread);
    Ok(Outcome {
        snapshot,
        exit: exit?,
        notes: std::mem::take(&mut session.notes),
    })
}

/// Renders the monitor without a terminal, at a fixed size, in simulated
/// time: frame k shows the state at k/fps seconds. Writes the cast (and any
/// recording); deterministic for a seed and scenario.
pub fn run_offscreen(opts: MonitorOptions, width: u16, height: u16) -> anyhow::Result<Outcome> {
    let end = opts
        .duration
        .ok_or_else(|| anyhow::anyhow!("--offscreen needs --duration or a scenario with an end step"))?;
    let clock = Clock::manual();
    let (publisher, broadcaster) = broadcast::channel(BroadcastConfig::default(), clock.clone());
    let collector = Collector::spawn(&broadcaster, run::collector_options(true))?;
    let mut app = App::new(
        &broadcaster,
        collector.reader(),
        opts.theme,
        Mode::Live { seed: opts.sim.seed },
    );
    app.set_step_labels(opts.step_labels.clone());
    let mut recording = opts.recording.clone();
    recording.delivery = Delivery::Wait;
    let mut session = Session::new(
        &broadcaster,
        SlowSubscribers::new_virtual(&broadcaster),
        recording,
        opts.steps.clone(),
    );
    if opts.record_at_start {
        session.start_recording(&mut |_| {}).map_err(|e| anyhow::anyhow!(e))?;
    }
    if let Some(path) = &opts.cast {
        let cast = Cast::create(path, width, height, &cast_title(&opts), CastTime::Manual(0))?;
        session.cast = Some(Rc::new(RefCell::new(cast)));
    }
    let output = CastOutput::<io::Sink> {
        terminal: None,
        cast: session.cast.clone(),
    };
    let mut terminal = Terminal::with_options(
        CrosstermBackend::new(output),
        TerminalOptions {
            viewport: Viewport::Fixed(Rect::new(0, 0, width, height)),
        },
    )?;
    if let Some(c) = &session.cast {
        // A player starts on a blank screen with the cursor hidden.
        c.borrow_mut().output(b"\x1b[?25l\x1b[2J\x1b[H");
    }
    let started = std::time::Instant::now();
    let mut stepper = Stepper::new(pipeline_options(&opts, Pace::Fast), publisher, clock.clone(), None);
    if opts.record_at_start {
        stepper.apply(Action::Announce(LoadChange::Recording { on: true }));
    }
    let frame_ns = 1_000_000_000 / opts.fps.clamp(1, MAX_FPS) as u64;
    let mut k = 0u64;
    loop {
        k += 1;
        let t = (k * frame_ns).min(end);
        clock.set(t);
        stepper.advance(t);
        stepper.flush();
        session.slow.tick_virtual(t);
        app.pump();
        let notables = app.take_notables();
        let mut pending = Vec::new();
        session.on_notables(&mut app, notables, &mut |a| pending.push(a));
        for a in pending {
            stepper.apply(a);
        }
        stepper.flush();
        if let Some(c) = &session.cast {
            c.borrow_mut().set_time(t);
        }
        terminal.draw(|f| app.draw(f))?;
        if stepper.ended() || t >= end {
            break;
        }
    }
    let _report = stepper.finish(started.elapsed());
    app.pump();
    drop(app);
    session.finish_recording();
    if let Some(c) = &session.cast {
        let mut c = c.borrow_mut();
        c.finish()?;
        session.notes.push(format!(
            "cast written to {} ({} events, {} simulated)",
            opts.cast.as_ref().map_or(String::new(), |p| p.display().to_string()),
            c.events,
            crate::format::duration(end)
        ));
    }
    drop(session.slow);
    let snapshot = collector.join();
    Ok(Outcome {
        snapshot,
        exit: Exit::Finished,
        notes: session.notes,
    })
}

/// Replays a recording on the terminal, at `speed` × the original pace.
pub fn run_replay(recording: Recording, speed: f64, fps: u32, mouse: bool, theme: Theme) -> anyhow::Result<Outcome> {
    let clock = Clock::start();
    let (publisher, broadcaster) = broadcast::channel(BroadcastConfig::default(), clock);
    let collector = Collector::spawn(&broadcaster, run::collector_options(true))?;
    let length = recording.length();
    let mut app = App::new(
        &broadcaster,
        collector.reader(),
        theme,
        Mode::Replay {
            seed: Some(recording.header.seed),
            position: 0,
            length,
            paused: false,
        },
    );
    if let Some(s) = &recording.header.scenario {
        app.set_step_labels(s.steps.clone());
    }
    if let Some(w) = &recording.warning {
        app.flash(w.clone());
    }
    let watch = spawn_signals()?;
    let mut guard = TerminalGuard::enter(mouse, None)?;
    let events: Arc<[Event]> = recording.events.into();
    let player = Player::start(events, publisher, ReplayPace::Paced(speed), true)?;
    let (input, input_thread) = spawn_input()?;
    let mut driver = ReplayDriver {
        player: player.control(),
        slow: SlowSubscribers::new(&broadcaster),
        cast: None,
    };
    let io = LoopIo {
        input,
        signals: watch.rx.clone(),
        fps,
    };
    let exit = event_loop(&mut guard.terminal, &mut app, &mut driver, &io, None);
    drop(guard);
    drop(driver);
    drop(player);
    drop(app);
    let snapshot = collector.join();
    drop(io);
    term::stop_input(input_thread);
    Ok(Outcome {
        snapshot,
        exit: exit?,
        notes: Vec::new(),
    })
}
