//! Live control of the simulated pipeline: [`Command`]s sent through a
//! cloneable [`Control`] handle on their own bounded channel. Control never
//! rides the event stream; what a command changed comes back on it as
//! [`crate::event::EventKind::LoadChanged`].
//!
//! Absolute settings are validated before they are sent, and an invalid one
//! is returned as a [`ControlError`] that changes nothing. Relative steps
//! (the keys' ×1.25, +1 worker, ...) are clamped into the valid range by the
//! pipeline instead, so a key held down stops at a limit rather than failing.

use crossbeam_channel::{Sender, TrySendError};

use crate::event::{LoadChange, Nanos, ServiceDist, WorkerId};

/// Highest arrival rate accepted, requests/s, and the ceiling of the rate in
/// force (rate × burst factor): a burst or a rate step never takes it higher.
pub const MAX_RATE: f64 = 100_000_000.0;
/// Lowest rate a relative step goes down to, requests/s.
pub const MIN_STEP_RATE: f64 = 0.1;
/// Largest worker pool.
pub const MAX_WORKERS: u16 = 1024;
/// Largest pipeline queue.
pub const MAX_QUEUE_CAPACITY: u32 = 1_000_000;
/// Longest service time a relative step goes up to.
pub const MAX_STEP_SERVICE: Nanos = 60 * crate::event::SECONDS;
/// Bound of the control channel: commands beyond it are refused, not queued.
pub const CONTROL_QUEUE: usize = 1024;

/// One change to the pipeline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Command {
    SetRate(f64),
    /// Multiply the target rate (clamped to `MIN_STEP_RATE..=MAX_RATE`).
    ScaleRate(f64),
    SetWorkers(u16),
    /// Add (or with a negative count remove) workers, clamped to `1..=MAX_WORKERS`.
    AddWorkers(i32),
    SetService(ServiceDist),
    /// Multiply every service-time parameter (clamped to 1 µs ..= 60 s).
    ScaleService(f64),
    SetErrorRate(f64),
    /// Add to the error fraction, clamped to `0..=1`.
    AddErrorRate(f64),
    SetQueueCapacity(u32),
    /// Arrivals at `factor` × rate for `duration`, never above [`MAX_RATE`]:
    /// the factor applied (and announced) is at most the one that takes the
    /// rate to the ceiling, and a rate raised during the burst stays at it.
    Burst {
        factor: f64,
        duration: Nanos,
    },
    Pause,
    Resume,
    TogglePause,
    /// Stall a worker (`None`: a random live one) for `duration`.
    Stall {
        worker: Option<WorkerId>,
        duration: Nanos,
    },
    /// Crash a worker (`None`: a random live one).
    Crash {
        worker: Option<WorkerId>,
    },
    SetAutoRestart(bool),
    /// Publish a change made outside the pipeline (slow subscribers,
    /// recording) so it is in the stream with everything else.
    Announce(LoadChange),
    /// Mark a scenario step in the stream.
    ScenarioStep(u16),
    /// A scenario step carried out above the pipeline (slow subscribers,
    /// recording, display). A [`super::Stepper`] meeting it in its timeline
    /// flushes and hands it over as a [`super::StepDue`] before publishing
    /// anything later; sent through a [`Control`] it changes nothing.
    AppStep(u16),
    /// Publish every current setting again (so a recording started
    /// mid-run knows the load it starts from).
    AnnounceState,
    /// End the run.
    Stop,
}

/// A command that was refused; nothing changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlError(pub String);

impl std::fmt::Display for ControlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ControlError {}

fn err<T>(msg: impl Into<String>) -> Result<T, ControlError> {
    Err(ControlError(msg.into()))
}

/// Checks a rate: a finite number > 0, at most [`MAX_RATE`].
pub fn check_rate(rate: f64) -> Result<f64, ControlError> {
    if !rate.is_finite() || rate <= 0.0 {
        return err(format!("rate must be a number greater than 0 (got {rate})"));
    }
    if rate > MAX_RATE {
        return err(format!("rate must be at most {MAX_RATE} requests/s (got {rate})"));
    }
    Ok(rate)
}

/// Checks an error fraction: `0..=1`.
pub fn check_error_rate(f: f64) -> Result<f64, ControlError> {
    if !(0.0..=1.0).contains(&f) {
        return err(format!("error rate must be between 0 and 1 (got {f})"));
    }
    Ok(f)
}

/// Checks a worker count: `1..=MAX_WORKERS`.
pub fn check_workers(n: u64) -> Result<u16, ControlError> {
    if n == 0 {
        return err(format!(
            "workers must be between 1 and {MAX_WORKERS} (got 0); pause to stop arrivals"
        ));
    }
    if n > MAX_WORKERS as u64 {
        return err(format!("workers must be between 1 and {MAX_WORKERS} (got {n})"));
    }
    Ok(n as u16)
}

/// Checks a queue capacity: `1..=MAX_QUEUE_CAPACITY`.
pub fn check_queue(n: u64) -> Result<u32, ControlError> {
    if n == 0 || n > MAX_QUEUE_CAPACITY as u64 {
        return err(format!(
            "queue capacity must be between 1 and {MAX_QUEUE_CAPACITY} (got {n})"
        ));
    }
    Ok(n as u32)
}

impl Command {
    /// Whether the command is well-formed, independent of the pipeline's state.
    pub fn validate(&self) -> Result<(), ControlError> {
        match *self {
            Command::SetRate(r) => check_rate(r).map(drop),
            Command::ScaleRate(f) | Command::ScaleService(f) => {
                if f.is_finite() && f > 0.0 {
                    Ok(())
                } else {
                    err(format!("scale factor must be a number greater than 0 (got {f})"))
                }
            }
            Command::SetWorkers(n) => check_workers(n as u64).map(drop),
            Command::SetErrorRate(f) => check_error_rate(f).map(drop),
            Command::AddErrorRate(d) if !d.is_finite() => err("error-rate step must be finite"),
            Command::SetQueueCapacity(n) => check_queue(n as u64).map(drop),
            Command::Burst { factor, duration } => {
                if !factor.is_finite() || factor <= 0.0 {
                    err(format!("burst factor must be greater than 0 (got {factor})"))
                } else if duration == 0 {
                    err("burst duration must be greater than 0")
                } else {
                    Ok(())
                }
            }
            Command::Stall { duration: 0, .. } => err("stall duration must be greater than 0"),
            Command::Stall { worker: Some(w), .. } | Command::Crash { worker: Some(w) } if w >= MAX_WORKERS => {
                err(format!("worker must be below {MAX_WORKERS} (got {w})"))
            }
            Command::SetService(d) => match d {
                ServiceDist::LogNormal { median_ns, p99_ns } if p99_ns < median_ns => {
                    err("service p99 must be at least the median")
                }
                ServiceDist::Const { ns: 0 }
                | ServiceDist::Exp { mean_ns: 0 }
                | ServiceDist::LogNormal { median_ns: 0, .. } => err("service time must be greater than 0"),
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }
}

/// A cloneable handle that sends commands to the pipeline.
#[derive(Clone, Debug)]
pub struct Control {
    pub(crate) actions_tx: Sender<Command>,
}

impl Control {
    /// Validates and sends a command. It takes effect at the pipeline's next
    /// scheduler tick. Errors: an invalid value, a full control queue, or a
    /// pipeline that has stopped.
    pub fn apply(&self, action: Command) -> Result<(), ControlError> {
        action.validate()?;
        match self.actions_tx.try_send(action) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => err("control queue is full; try again"),
            Err(TrySendError::Disconnected(_)) => err("the pipeline has stopped"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_absolute_values_are_refused() {
        for a in [
            Command::SetRate(-1.0),
            Command::SetRate(0.0),
            Command::SetRate(f64::NAN),
            Command::SetRate(f64::INFINITY),
            Command::SetWorkers(0),
            Command::SetWorkers(MAX_WORKERS + 1),
            Command::SetErrorRate(1.5),
            Command::SetErrorRate(-0.1),
            Command::SetQueueCapacity(0),
            Command::SetService(ServiceDist::LogNormal {
                median_ns: 5,
                p99_ns: 1,
            }),
            Command::SetService(ServiceDist::Const { ns: 0 }),
            Command::Burst {
                factor: 0.0,
                duration: 1,
            },
            Command::Stall {
                worker: None,
                duration: 0,
            },
            Command::ScaleRate(0.0),
        ] {
            assert!(a.validate().is_err(), "{a:?} was accepted");
        }
    }

    #[test]
    fn refused_actions_are_not_sent() {
        let (tx, rx) = crossbeam_channel::bounded(4);
        let c = Control { actions_tx: tx };
        assert!(
            c.apply(Command::SetErrorRate(2.0))
                .unwrap_err()
                .0
                .contains("between 0 and 1")
        );
        assert!(rx.is_empty());
        c.apply(Command::SetErrorRate(0.5)).unwrap();
        assert_eq!(rx.try_recv(), Ok(Command::SetErrorRate(0.5)));
    }
}
