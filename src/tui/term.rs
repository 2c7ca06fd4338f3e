//! The terminal's care: raw mode and the alternate screen on the way in,
//! and restoring them on every way out — quit, error, signal, and a panic
//! in any thread (a chained hook that first tells the loop to stop
//! drawing); handing it back and taking it again around a suspension
//! (Ctrl-Z, SIGTSTP, SIGCONT); and whether there is a terminal at all
//! ([`check_terminal`]). Also the input thread.

use std::cell::RefCell;
use std::io::{self, IsTerminal, Write};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self as cevent, Event as CEvent, KeyEventKind, MouseButton, MouseEventKind};
use ratatui::crossterm::{cursor, execute, terminal};

use super::output::CastOutput;
use crate::session::cast::Cast;

/// Set by the panic hook (or a restore) so no thread draws on a restored terminal.
pub(crate) static STOP_DRAWING: AtomicBool = AtomicBool::new(false);
pub(crate) static RESTORED: AtomicBool = AtomicBool::new(true);
static MOUSE: AtomicBool = AtomicBool::new(false);

/// Puts the terminal back as the shell expects it. Safe to call twice.
pub fn restore_terminal() {
    STOP_DRAWING.store(true, Ordering::SeqCst);
    if RESTORED.swap(true, Ordering::SeqCst) {
        return;
    }
    leave_screen();
}

/// Mouse capture off, the normal screen, the cursor shown, raw mode off.
fn leave_screen() {
    let mut out = io::stdout();
    if MOUSE.load(Ordering::SeqCst) {
        let _ = execute!(out, cevent::DisableMouseCapture);
    }
    let _ = execute!(out, terminal::LeaveAlternateScreen, cursor::Show);
    let _ = terminal::disable_raw_mode();
    let _ = out.flush();
}

/// Raw mode, the alternate screen, the cursor hidden, mouse capture if
/// asked; on failure the terminal is put back.
fn take_screen(mouse: bool) -> anyhow::Result<()> {
    terminal::enable_raw_mode().map_err(|e| anyhow::anyhow!("cannot put the terminal in raw mode: {e}"))?;
    RESTORED.store(false, Ordering::SeqCst);
    MOUSE.store(mouse, Ordering::SeqCst);
    let mut out = io::stdout();
    let setup = execute!(out, terminal::EnterAlternateScreen, cursor::Hide).and_then(|_| {
        if mouse {
            execute!(out, cevent::EnableMouseCapture)
        } else {
            Ok(())
        }
    });
    if let Err(e) = setup {
        restore_terminal();
        anyhow::bail!("cannot set up the terminal: {e}");
    }
    Ok(())
}

/// Ctrl-Z or SIGTSTP: hands the terminal back to the shell (as on exit),
/// stops the process as SIGTSTP's default action would, and — once it is
/// continued (`fg`, SIGCONT) — takes the terminal again. The caller then
/// redraws everything. Does nothing when the terminal was already restored
/// (a thread panicked: the loop is ending).
///
/// The stop is SIGSTOP, which is what signal-hook's
/// `emulate_default_handler` raises for SIGTSTP (our handler replaced the
/// default one); it waits for SIGCONT like any job stopped by Ctrl-Z.
pub fn suspend() -> anyhow::Result<()> {
    if RESTORED.swap(true, Ordering::SeqCst) {
        return Ok(());
    }
    leave_screen();
    let stopped = signal_hook::low_level::emulate_default_handler(signal_hook::consts::SIGTSTP);
    if STOP_DRAWING.load(Ordering::SeqCst) {
        // A thread panicked while we were stopped: stay restored.
        return Ok(());
    }
    take_screen(MOUSE.load(Ordering::SeqCst))?;
    stopped.map_err(|e| anyhow::anyhow!("cannot suspend: {e}"))
}

/// SIGCONT: whoever stopped the process (SIGSTOP from outside, or a shell
/// that reset the terminal meanwhile) may have changed the terminal's
/// modes: sets raw mode, the alternate screen and the mouse again. The
/// caller then redraws everything.
pub fn retake() -> anyhow::Result<()> {
    if RESTORED.swap(true, Ordering::SeqCst) {
        return Ok(());
    }
    // The terminal library only sets raw mode when it thinks it is off.
    let _ = terminal::disable_raw_mode();
    take_screen(MOUSE.load(Ordering::SeqCst))
}

/// Whether the monitor can run here: it draws on stdout and reads keys from
/// stdin or, when stdin is not a terminal, from the process's controlling
/// terminal (`/dev/tty`), as the terminal library does. `Err` says what is
/// missing, for a one-line usage error.
pub fn check_terminal() -> Result<(), &'static str> {
    if !io::stdout().is_terminal() {
        return Err("stdout is not one");
    }
    let tty = || std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty");
    if !io::stdin().is_terminal() && tty().is_err() {
        return Err("there is none to read keys from");
    }
    Ok(())
}

/// Raw mode, alternate screen, mouse; restored on drop and on panic.
/// The live terminal's backend: stdout, teed into a cast when recording one.
pub type LiveBackend = CrosstermBackend<CastOutput<io::Stdout>>;

pub struct TerminalGuard {
    pub terminal: Terminal<LiveBackend>,
}

impl TerminalGuard {
    /// Takes over the terminal; with `cast`, everything drawn is also
    /// written to it.
    pub fn enter(mouse: bool, cast: Option<Rc<RefCell<Cast>>>) -> anyhow::Result<TerminalGuard> {
        install_panic_hook();
        STOP_DRAWING.store(false, Ordering::SeqCst);
        take_screen(mouse)?;
        let output = CastOutput {
            terminal: Some(io::stdout()),
            cast,
        };
        match Terminal::new(CrosstermBackend::new(output)) {
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
    INPUT_STOP.store(false, Ordering::SeqCst);
    let (tx, rx) = crossbeam_channel::bounded(256);
    let handle = std::thread::Builder::new()
        .name("fantop/input".into())
        .spawn(move || input_loop(tx))?;
    Ok((rx, handle))
}

/// Tells the input thread to end (the loop is over).
pub(crate) static INPUT_STOP: AtomicBool = AtomicBool::new(false);

/// How long shutdown waits for the input thread.
const INPUT_GRACE: Duration = Duration::from_millis(500);

/// Stops the input thread and joins it — unless it is stuck in the
/// terminal library's read of a terminal that hung up, which never returns:
/// then it is left to end with the process rather than hang the exit.
pub fn stop_input(thread: JoinHandle<()>) {
    INPUT_STOP.store(true, Ordering::SeqCst);
    let deadline = std::time::Instant::now() + INPUT_GRACE;
    while !thread.is_finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    if thread.is_finished() {
        let _ = thread.join();
    }
}

fn input_loop(tx: Sender<Input>) {
    let mut instant_returns = 0u32;
    loop {
        if INPUT_STOP.load(Ordering::SeqCst) || STOP_DRAWING.load(Ordering::SeqCst) || super::output::terminal_lost() {
            return;
        }
        // Poll with a timeout so the thread notices when the UI has gone.
        let asked = std::time::Instant::now();
        match cevent::poll(Duration::from_millis(100)) {
            Ok(true) => {}
            Ok(false) => {
                // A poll that returns at once with nothing, again and again,
                // means the terminal has hung up: stop rather than spin.
                if asked.elapsed() < Duration::from_millis(1) {
                    instant_returns += 1;
                    if instant_returns > 100 {
                        super::output::TERMINAL_LOST.store(true, Ordering::SeqCst);
                        return;
                    }
                } else {
                    instant_returns = 0;
                }
                continue;
            }
            Err(_) => {
                super::output::TERMINAL_LOST.store(true, Ordering::SeqCst);
                return;
            }
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
