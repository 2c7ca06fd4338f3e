//! Signals as messages: one named thread, `fantop/signals`, turns the
//! signals a run handles into [`Signal`]s on a channel, so any loop can
//! `select!` on them with its other inputs. Owns that thread; imports
//! nothing of the crate.
//!
//! # Which signals, and what a run does with them
//!
//! - [`STOP_SIGNALS`] (SIGINT, SIGTERM, SIGHUP, SIGQUIT) stop a run the
//!   orderly way: the terminal is restored, files are finished, the summary
//!   is printed, and the process exits with [`exit_status`] (128 + the
//!   signal's number), so a script can tell a stopped run from a finished
//!   one.
//! - With job control ([`spawn_signals`]`(true)`, the terminal monitor):
//!   SIGTSTP asks the monitor to hand the terminal back and stop
//!   ([`Signal::Suspend`]); SIGCONT says it was continued and must take the
//!   terminal again and redraw everything ([`Signal::Continued`]). Runs
//!   without a terminal leave both to their default actions.

use std::io;
use std::thread::JoinHandle;

use crossbeam_channel::Receiver;
use signal_hook::consts::{SIGCONT, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGTSTP};

/// The signals that stop a run in order: SIGINT, SIGTERM, SIGHUP, SIGQUIT.
pub const STOP_SIGNALS: [i32; 4] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT];

/// Bound of the signal channel. A signal that finds it full is dropped:
/// the loop has not yet acted on the ones queued (a stop among them ends
/// the run anyway), and a thread blocked on a full channel could not be
/// joined.
const SIGNAL_QUEUE: usize = 8;

/// A signal, as the loops see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// One of [`STOP_SIGNALS`], by number.
    Stop(i32),
    /// SIGTSTP (job control only): hand the terminal back, then stop.
    Suspend,
    /// SIGCONT (job control only): the process was continued.
    Continued,
}

/// The process's exit status after a stop signal: 128 + its number, the
/// shells' convention (SIGINT 130, SIGTERM 143, SIGHUP 129, SIGQUIT 131).
pub fn exit_status(signal: i32) -> u8 {
    u8::try_from(128 + signal.clamp(0, 127)).unwrap_or(u8::MAX)
}

/// A signal's name (`SIGTERM`), or its number for one this module does not know.
pub fn name(signal: i32) -> String {
    signal_hook::low_level::signal_name(signal).map_or_else(|| format!("signal {signal}"), str::to_string)
}

/// The handled signals, delivered as messages on `rx` by the
/// `fantop/signals` thread. Dropping it stops and joins the thread.
pub struct SignalWatch {
    pub rx: Receiver<Signal>,
    handle: signal_hook::iterator::Handle,
    thread: Option<JoinHandle<()>>,
}

impl Drop for SignalWatch {
    fn drop(&mut self) {
        self.handle.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts handling [`STOP_SIGNALS`] and, with `job_control`, SIGTSTP and
/// SIGCONT.
pub fn spawn_signals(job_control: bool) -> io::Result<SignalWatch> {
    let (tx, rx) = crossbeam_channel::bounded(SIGNAL_QUEUE);
    let mut handled = STOP_SIGNALS.to_vec();
    if job_control {
        handled.extend([SIGTSTP, SIGCONT]);
    }
    let mut signals = signal_hook::iterator::Signals::new(&handled)?;
    let handle = signals.handle();
    let thread = std::thread::Builder::new()
        .name("fantop/signals".into())
        .spawn(move || {
            for s in signals.forever() {
                let signal = match s {
                    SIGTSTP => Signal::Suspend,
                    SIGCONT => Signal::Continued,
                    n => Signal::Stop(n),
                };
                if let Err(crossbeam_channel::TrySendError::Disconnected(_)) = tx.try_send(signal) {
                    return;
                }
            }
        })?;
    Ok(SignalWatch {
        rx,
        handle,
        thread: Some(thread),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_signal_exits_with_128_plus_its_number() {
        assert_eq!(exit_status(SIGINT), 130);
        assert_eq!(exit_status(SIGTERM), 143);
        assert_eq!(exit_status(SIGHUP), 129);
        assert_eq!(exit_status(SIGQUIT), 131);
    }

    #[test]
    fn signals_are_named_as_the_shell_names_them() {
        assert_eq!(name(SIGTERM), "SIGTERM");
        assert_eq!(name(SIGHUP), "SIGHUP");
    }
}
