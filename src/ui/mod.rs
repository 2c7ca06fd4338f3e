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
pub mod theme;

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, never, select, tick};
use ratatui::Terminal;
use ratatui::backend::{Backend, CrosstermBackend};
use ratatui::crossterm::event::{self as cevent, Event as CEvent, KeyEventKind, MouseButton, MouseEventKind};
use ratatui::crossterm::{cursor, execute, terminal};
use ratatui::layout::Rect;

use crate::broadcast::{self, BroadcastConfig};
use crate::clock::Clock;
use crate::collector::{Collector, Snapshot};
use crate::event::Nanos;
use crate::run;
use crate::sim::{Action, Control, Pace, Pipeline, PipelineOptions, SimConfig};
use crate::slow::SlowSubscribers;
use app::{App, Effect, Mode};
use theme::Theme;

/// Default and allowed frame rates.
pub const DEFAULT_FPS: u32 = 20;
pub const MAX_FPS: u32 = 120;

/// Set by the panic hook (or a restore) so no thread draws on a restored terminal.
static STOP_DRAWING: AtomicBool = AtomicBool::new(false);
static RESTORED: AtomicBool = AtomicBool::new(true);
static MOUSE: AtomicBool = AtomicBool::new(false);

/// Puts the terminal back as the shell expects it. Safe to call twice.
pub fn restore_terminal() {
    STOP_DRAWING.store(true, Ordering::SeqCst);
    if RESTORED.swap(true, Ordering::SeqCst) {
        return;
    }
    let mut out = io::stdout();
    if MOUSE.load(Ordering::SeqCst) {
        let _ = execute!(out, cevent::DisableMouseCapture);
    }
    let _ = execute!(out, terminal::LeaveAlternateScreen, cursor::Show);
    let _ = terminal::disable_raw_mode();
    let _ = out.flush();
}

/// Raw mode, alternate screen, mouse; restored on drop and on panic.
pub struct TerminalGuard {
    pub terminal: Terminal<CrosstermBackend<io::Stdout>>,
}

impl TerminalGuard {
    pub fn enter(mouse: bool) -> anyhow::Result<TerminalGuard> {
        install_panic_hook();
        STOP_DRAWING.store(false, Ordering::SeqCst);
        terminal::enable_raw_mode().map_err(|e| anyhow::anyhow!("cannot put the terminal in raw mode: {e}"))?;
        RESTORED.store(false, Ordering::SeqCst);
        MOUSE.store(mouse, Ordering::SeqCst);
        let mut out = io::stdout();
        let setup = execute!(out, terminal::EnterAlternateScreen, cursor::Hide).and_then(|_| {
            if mouse { execute!(out, cevent::EnableMouseCapture) } else { Ok(()) }
        });
        if let Err(e) = setup {
            restore_terminal();
            anyhow::bail!("cannot set up the terminal: {e}");
        }
        match Terminal::new(CrosstermBackend::new(io::stdout())) {
            Ok(terminal) => Ok(TerminalGuard { terminal }),
            Err(e) => {
                restore_terminal();
                anyhow::bail!("cannot size the terminal: {e}")
            }
        }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

fn install_panic_hook() {
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return;
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
}

/// What the loop hears from outside the terminal.
pub enum Input {
    Key(ratatui::crossterm::event::KeyEvent),
    Click { col: u16, row: u16 },
    Resize,
}

/// Reads terminal input on `fantop/input` until the receiver is dropped.
pub fn spawn_input() -> io::Result<(Receiver<Input>, JoinHandle<()>)> {
    let (tx, rx) = crossbeam_channel::bounded(256);
    let handle = std::thread::Builder::new().name("fantop/input".into()).spawn(move || input_loop(tx))?;
    Ok((rx, handle))
}

fn input_loop(tx: Sender<Input>) {
    loop {
        // Poll with a timeout so the thread notices when the UI has gone.
        match cevent::poll(Duration::from_millis(100)) {
            Ok(true) => {}
            Ok(false) => {
                if STOP_DRAWING.load(Ordering::SeqCst) {
                    return;
                }
                continue;
            }
            Err(_) => return,
        }
        let input = match cevent::read() {
            Ok(CEvent::Key(k)) if k.kind == KeyEventKind::Press => Input::Key(k),
            Ok(CEvent::Mouse(m)) if matches!(m.kind, MouseEventKind::Down(MouseButton::Left)) => Input::Click {
                col: m.column,
                row: m.row,
            },
            Ok(CEvent::Resize(..)) => Input::Resize,
            Ok(_) => continue,
            Err(_) => return,
        };
        if tx.send(input).is_err() {
            return;
        }
    }
}

/// SIGTERM, SIGHUP and SIGINT arrive here as a message.
pub fn spawn_signals() -> io::Result<Receiver<i32>> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let (tx, rx) = crossbeam_channel::bounded(4);
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGHUP, SIGINT])?;
    std::thread::Builder::new().name("fantop/signals".into()).spawn(move || {
        for s in signals.forever() {
            if tx.send(s).is_err() {
                return;
            }
        }
    })?;
    Ok(rx)
}

/// Carries out the effects the app asks for. The live monitor drives the
/// pipeline; a replay drives its player.
pub trait Driver {
    fn effect(&mut self, app: &mut App, effect: Effect);
    /// Called every frame tick (e.g. to update the replay position).
    fn tick(&mut self, _app: &mut App) {}
    /// Whether the run has ended on its own (duration, scenario end).
    fn finished(&self) -> bool {
        false
    }
}

/// The live monitor's driver: the pipeline's control and the slow subscribers.
pub struct LiveDriver {
    pub pipeline: Pipeline,
    pub control: Control,
    pub slow: SlowSubscribers,
}

impl Driver for LiveDriver {
    fn effect(&mut self, app: &mut App, effect: Effect) {
        match effect {
            Effect::Control(a) => {
                if let Err(e) = self.control.apply(a) {
                    app.flash(format!("refused: {e}"));
                }
            }
            Effect::AddSlowSubscriber => match self.slow.add() {
                Ok(_) => {
                    let _ = self.control.apply(Action::Announce(crate::event::LoadChange::SlowSubscriber { added: true }));
                }
                Err(e) => app.flash(e),
            },
            Effect::RemoveSlowSubscriber => match self.slow.remove() {
                Some(_) => {
                    let _ = self.control.apply(Action::Announce(crate::event::LoadChange::SlowSubscriber { added: false }));
                }
                None => app.flash("no slow subscriber to remove (s adds one)"),
            },
            Effect::ToggleRecording => app.flash("recording: start fantop with --record FILE"),
            Effect::Seek(_) => app.flash("seeking works while replaying a recording"),
            Effect::None | Effect::Redraw | Effect::Quit => {}
        }
    }

    fn finished(&self) -> bool {
        self.pipeline.is_finished()
    }
}

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
}

/// Runs the monitor until quit. Draws at most `fps` times a second, only
/// when something changed.
pub fn event_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    driver: &mut dyn Driver,
    io: &LoopIo,
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
                    dirty = true;
                }
                Err(_) => input = never(),
            },
            recv(io.signals) -> s => return Ok(Exit::Signal(s.unwrap_or(0))),
            recv(ticker) -> _ => {
                driver.tick(app);
                if app.pump() && !app.frozen {
                    dirty = true;
                }
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

/// A live monitor's settings.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    pub sim: SimConfig,
    pub fps: u32,
    pub mouse: bool,
    pub theme: Theme,
    pub duration: Option<Nanos>,
}

/// Runs the live monitor on the terminal. Returns the collector's final
/// snapshot and how the loop ended.
pub fn run_live(opts: LiveOptions) -> anyhow::Result<(std::sync::Arc<Snapshot>, Exit)> {
    let clock = Clock::start();
    let (publisher, broadcaster) = broadcast::channel(BroadcastConfig::default(), clock.clone());
    let collector = Collector::spawn(&broadcaster, run::collector_options(false))?;
    let mut app = App::new(&broadcaster, opts.theme, Mode::Live { seed: opts.sim.seed });
    let mut pipeline_opts = PipelineOptions::new(opts.sim, Pace::RealTime);
    pipeline_opts.duration = opts.duration;
    let signals = spawn_signals()?;
    let mut guard = TerminalGuard::enter(opts.mouse)?;
    let pipeline = Pipeline::start(pipeline_opts, publisher, clock)?;
    let (input, input_thread) = spawn_input()?;
    let mut driver = LiveDriver {
        control: pipeline.control(),
        slow: SlowSubscribers::new(&broadcaster),
        pipeline,
    };
    let io = LoopIo {
        input,
        signals,
        fps: opts.fps,
    };
    let exit = event_loop(&mut guard.terminal, &mut app, &mut driver, &io);
    // Stop drawing and restore the terminal first, then shut down in order:
    // slow subscribers, the pipeline (which closes the publisher), the
    // panes, and the collector, which has by then applied every event.
    drop(guard);
    let LiveDriver { pipeline, slow, .. } = driver;
    drop(slow);
    pipeline.stop();
    drop(app);
    let snapshot = collector.join();
    drop(io);
    let _ = input_thread.join();
    Ok((snapshot, exit?))
}
