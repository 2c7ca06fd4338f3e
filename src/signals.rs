//! Stop signals as messages: SIGTERM, SIGHUP and SIGINT arrive on a channel
//! from one named thread, so any loop can `select!` on them with its other
//! inputs. Owns that thread; imports nothing of the crate.

use std::io;
use std::thread::JoinHandle;

use crossbeam_channel::Receiver;

/// SIGTERM, SIGHUP and SIGINT, delivered as messages on `rx` by the
/// `fantop/signals` thread. Dropping it stops and joins the thread.
pub struct SignalWatch {
    pub rx: Receiver<i32>,
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

/// Starts watching for SIGTERM, SIGHUP and SIGINT.
pub fn spawn_signals() -> io::Result<SignalWatch> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let (tx, rx) = crossbeam_channel::bounded(4);
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGHUP, SIGINT])?;
    let handle = signals.handle();
    let thread = std::thread::Builder::new()
        .name("fantop/signals".into())
        .spawn(move || {
            for s in signals.forever() {
                if tx.send(s).is_err() {
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
