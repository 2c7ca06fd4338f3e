//! Where the terminal backend's bytes go: the terminal (if any) and the
//! cast being written (if any). A terminal that fails a write is let go
//! rather than failing the draw, and the loop then ends the run cleanly.

use std::cell::RefCell;
use std::io::{self, Write};
use std::rc::Rc;

use crate::session::cast::Cast;

/// Set when writing to the terminal failed (it went away: the window was
/// closed, the pty hung up). The loop then ends the run cleanly.
pub static TERMINAL_LOST: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether the terminal has gone away.
pub fn terminal_lost() -> bool {
    TERMINAL_LOST.load(std::sync::atomic::Ordering::SeqCst)
}

/// The writer the terminal backend draws into: the terminal (if any), and
/// the cast (if any). A terminal that fails a write is let go (and
/// [`TERMINAL_LOST`] set) rather than failing the draw: the run then ends
/// through the normal shutdown, which writes every file to the end.
pub struct CastOutput<W: Write> {
    pub terminal: Option<W>,
    pub cast: Option<Rc<RefCell<Cast>>>,
}

impl<W: Write> CastOutput<W> {
    fn lose_terminal(&mut self) {
        self.terminal = None;
        TERMINAL_LOST.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl<W: Write> Write for CastOutput<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(t) = &mut self.terminal
            && t.write_all(buf).is_err()
        {
            self.lose_terminal();
        }
        if let Some(c) = &self.cast {
            c.borrow_mut().output(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if let Some(t) = &mut self.terminal
            && t.flush().is_err()
        {
            self.lose_terminal();
        }
        if let Some(c) = &self.cast {
            // A failed cast keeps its error for the session to report; the
            // draw goes on.
            c.borrow_mut().flush_output();
        }
        Ok(())
    }
}
