//! Live control of the simulated pipeline: [`Command`]s sent through a
//! cloneable [`Control`] handle on their own bounded channel. Control never
//! rides the event stream; what a command changed comes back on it as
//! [`crate::event::EventKind::LoadChanged`].
//!
//! Absolute settings are validated before they are sent, and an invalid one
//! is returned as a [`ControlError`] that changes nothing. Relative steps
//! (the keys' ×1.25, +1 worker, ...) are clamped into the valid range by the
//! pipeline instead, so a key held down stops at a limit rather than failing.
//! The step functions ([`step_rate`], [`step_workers`], [`step_error_rate`],
//! [`scale_service`]) are the pipeline's, and [`Command::limit`] tells from
//! the same functions when a step would change nothing, so a screen can say
//! so.

use crossbeam_channel::{Sender, TrySendError};

use crate::event::{LoadChange, MICROS, Nanos, ServiceDist, WorkerId};
use crate::format;

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
/// Shortest service time a relative step goes down to.
pub const MIN_STEP_SERVICE: Nanos = MICROS;
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
    /// Multiply every service-time parameter by one factor (see [`scale_service`]).
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

/// The rate a ×`f` step takes `rate` to: within
/// `MIN_STEP_RATE..=MAX_RATE`, and never against the step's direction (a
/// rate set below the floor is not raised by a step down).
pub fn step_rate(rate: f64, f: f64) -> f64 {
    let r = rate * f;
    if f < 1.0 {
        r.max(MIN_STEP_RATE.min(rate))
    } else {
        r.min(MAX_RATE.max(rate))
    }
}

/// The pool size a step of `d` workers takes `n` to, within `1..=MAX_WORKERS`.
pub fn step_workers(n: u16, d: i32) -> u16 {
    (n as i64 + d as i64).clamp(1, MAX_WORKERS as i64) as u16
}

/// The error fraction a step of `d` takes `f` to, within `0..=1` (rounded
/// to a millionth, so steps up and down meet again).
pub fn step_error_rate(f: f64, d: f64) -> f64 {
    ((f + d).clamp(0.0, 1.0) * 1e6).round() / 1e6
}

/// The distribution a ×`f` step takes `dist` to. Every parameter is
/// multiplied by one factor, so their ratio (a lognormal's p50:p99) holds up
/// to rounding to whole nanoseconds; the factor is cut so that no parameter
/// passes `MIN_STEP_SERVICE..=MAX_STEP_SERVICE`: the step stops when either
/// parameter reaches its bound. A parameter already at (or beyond) the bound
/// the step goes towards leaves the distribution as it is.
pub fn scale_service(dist: ServiceDist, f: f64) -> ServiceDist {
    let (lo, hi) = match dist {
        ServiceDist::Const { ns } => (ns, ns),
        ServiceDist::Exp { mean_ns } => (mean_ns, mean_ns),
        ServiceDist::LogNormal { median_ns, p99_ns } => (median_ns.min(p99_ns), median_ns.max(p99_ns)),
    };
    let up = f > 1.0;
    if !f.is_finite() || f <= 0.0 || f == 1.0 || (up && hi >= MAX_STEP_SERVICE) || (!up && lo <= MIN_STEP_SERVICE) {
        return dist;
    }
    let f = if up {
        f.min(MAX_STEP_SERVICE as f64 / hi as f64)
    } else {
        f.max(MIN_STEP_SERVICE as f64 / lo as f64)
    };
    let s = |v: Nanos| ((v as f64 * f).round() as Nanos).max(1);
    match dist {
        ServiceDist::Const { ns } => ServiceDist::Const { ns: s(ns) },
        ServiceDist::Exp { mean_ns } => ServiceDist::Exp { mean_ns: s(mean_ns) },
        ServiceDist::LogNormal { median_ns, p99_ns } => {
            let median_ns = s(median_ns);
            ServiceDist::LogNormal {
                median_ns,
                p99_ns: s(p99_ns).max(median_ns),
            }
        }
    }
}

/// The settings a relative step is taken from, as far as they are known
/// (`rate` 0: none announced yet; `workers` 0 or `service` `None`: not
/// known).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepFrom {
    pub rate: f64,
    pub workers: u16,
    pub service: Option<ServiceDist>,
    pub error_rate: f64,
}

impl Command {
    /// For a relative step that would change nothing from `from` (it is at
    /// a limit), a one-line message saying which; `None` for any other
    /// command, a step that changes something, or a setting not known.
    pub fn limit(&self, from: &StepFrom) -> Option<String> {
        if from.rate <= 0.0 {
            return None; // nothing announced yet
        }
        match *self {
            Command::ScaleRate(f) if step_rate(from.rate, f) == from.rate => Some(if f < 1.0 {
                format!("rate already at its lowest step, {}", format::rate(from.rate))
            } else {
                format!("rate already at its highest, {}", format::rate(from.rate))
            }),
            Command::AddWorkers(d) if from.workers > 0 && step_workers(from.workers, d) == from.workers => {
                Some(if d < 0 {
                    format!("already {} worker, the fewest (space pauses arrivals)", from.workers)
                } else {
                    format!("already {} workers, the most", format::count(from.workers as u64))
                })
            }
            Command::AddErrorRate(d) if step_error_rate(from.error_rate, d) == from.error_rate => {
                Some(format!("error rate already {}%", from.error_rate * 100.0))
            }
            Command::ScaleService(f) => {
                let dist = from.service?;
                (scale_service(dist, f) == dist).then(|| {
                    if f < 1.0 {
                        format!(
                            "service time already at its shortest: {} is the least",
                            format::duration(MIN_STEP_SERVICE)
                        )
                    } else {
                        format!(
                            "service time already at its longest: {} is the most",
                            format::duration(MAX_STEP_SERVICE)
                        )
                    }
                })
            }
            _ => None,
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

    fn lognormal(d: ServiceDist) -> (Nanos, Nanos) {
        match d {
            ServiceDist::LogNormal { median_ns, p99_ns } => (median_ns, p99_ns),
            other => panic!("not lognormal: {other:?}"),
        }
    }

    proptest::proptest! {
        /// Any sequence of `l`/`L` presses keeps a lognormal's p50:p99 ratio
        /// (to within rounding to whole nanoseconds, bounded step by step),
        /// keeps both parameters within the bounds, and stops the step that
        /// would pass a bound on it; a press changes nothing exactly when
        /// [`Command::limit`] says so.
        #[test]
        fn service_steps_keep_the_p50_to_p99_ratio(
            median in MIN_STEP_SERVICE..=MAX_STEP_SERVICE,
            ratio in 1.0f64..1000.0,
            presses in proptest::collection::vec(proptest::bool::ANY, 0..80),
        ) {
            let p99 = ((median as f64 * ratio) as Nanos).min(MAX_STEP_SERVICE).max(median);
            let start = p99 as f64 / median as f64;
            let mut dist = ServiceDist::LogNormal { median_ns: median, p99_ns: p99 };
            // ln of how far rounding may have moved the ratio so far.
            let mut slack = 1e-12;
            for up in presses {
                let f = if up { 1.5 } else { 1.0 / 1.5 };
                let (m0, p0) = lognormal(dist);
                let next = scale_service(dist, f);
                let from = StepFrom { rate: 1.0, service: Some(dist), ..StepFrom::default() };
                proptest::prop_assert_eq!(Command::ScaleService(f).limit(&from).is_some(), next == dist);
                let (m, p) = lognormal(next);
                proptest::prop_assert!(m >= MIN_STEP_SERVICE && p <= MAX_STEP_SERVICE, "{m} {p}");
                if next != dist {
                    slack += (0.5 / (m as f64 - 0.5) + 0.5 / (p as f64 - 0.5)) * 1.01;
                    // The full step, or cut to land on the bound it reached.
                    let full = if up { (p0 as f64 * 1.5).round() as Nanos } else { (m0 as f64 / 1.5).round() as Nanos };
                    let reached = if up { p } else { m };
                    let bound = if up { MAX_STEP_SERVICE } else { MIN_STEP_SERVICE };
                    proptest::prop_assert!(reached.abs_diff(full) <= 1 || reached.abs_diff(bound) <= 1, "{m0}:{p0} -> {m}:{p}");
                }
                let drift = ((p as f64 / m as f64) / start).ln().abs();
                proptest::prop_assert!(drift <= slack, "ratio {start} -> {} ({m}:{p}), slack {slack}", p as f64 / m as f64);
                dist = next;
            }
        }
    }

    /// Each relative step at its limit has a one-line message; one step
    /// short of it has none.
    #[test]
    fn steps_at_a_limit_say_which() {
        let from = StepFrom {
            rate: MAX_RATE,
            workers: 1,
            service: Some(ServiceDist::Exp {
                mean_ns: MAX_STEP_SERVICE,
            }),
            error_rate: 0.0,
        };
        let said = |c: Command, from: &StepFrom| c.limit(from);
        assert_eq!(
            said(Command::ScaleRate(1.25), &from).as_deref(),
            Some("rate already at its highest, 100,000,000/s")
        );
        assert_eq!(said(Command::ScaleRate(0.8), &from), None);
        assert_eq!(
            said(Command::AddWorkers(-1), &from).as_deref(),
            Some("already 1 worker, the fewest (space pauses arrivals)")
        );
        assert_eq!(said(Command::AddWorkers(1), &from), None);
        assert_eq!(
            said(Command::AddErrorRate(-0.01), &from).as_deref(),
            Some("error rate already 0%")
        );
        assert_eq!(
            said(Command::ScaleService(1.5), &from).as_deref(),
            Some("service time already at its longest: 1m00s is the most")
        );
        assert_eq!(said(Command::ScaleService(1.0 / 1.5), &from), None);
        let other = StepFrom {
            rate: MIN_STEP_RATE,
            workers: MAX_WORKERS,
            service: Some(ServiceDist::Const { ns: MIN_STEP_SERVICE }),
            error_rate: 1.0,
        };
        assert_eq!(
            said(Command::ScaleRate(0.8), &other).as_deref(),
            Some("rate already at its lowest step, 0.1/s")
        );
        assert_eq!(
            said(Command::AddWorkers(1), &other).as_deref(),
            Some("already 1,024 workers, the most")
        );
        assert_eq!(
            said(Command::AddErrorRate(0.01), &other).as_deref(),
            Some("error rate already 100%")
        );
        assert_eq!(
            said(Command::ScaleService(1.0 / 1.5), &other).as_deref(),
            Some("service time already at its shortest: 1µs is the least")
        );
        assert_eq!(
            said(Command::ScaleRate(0.8), &StepFrom::default()),
            None,
            "rate not known"
        );
        // A rate set below the step floor is not raised by a step down.
        assert_eq!(step_rate(0.05, 0.8), 0.05);
    }
}
