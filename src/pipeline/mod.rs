//! The simulated analysis pipeline (the design note's
//! `ChannelAnalysisPipeline` and its orchestrator): a [`model::Sim`] driven by
//! one thread, `fantop/pipeline`, which owns the sim and the broadcaster's
//! [`Publisher`], takes [`Command`]s from its [`Control`] channel and a
//! scripted timeline, and publishes what happens.
//!
//! Pacing ([`Pace`]):
//! - `RealTime`: simulated time follows the wall clock. Each scheduler tick
//!   (default 5 ms, or sooner when a command arrives) the thread runs every
//!   event due up to *now* and publishes them. Timestamps come from the
//!   simulation, so a late wake-up delays delivery a little but changes no
//!   figure: OS sleep precision does not matter. It runs in bounded slices
//!   and looks at its commands between them, skips what it cannot simulate
//!   in time, holds back for the subscriber it keeps pace with, and reports
//!   when it falls short of its rate: see [`pace`].
//! - `Fast`: simulated time runs as fast as the CPU allows. Subscribers that
//!   must not lose anything subscribe with [`crate::broadcast::Delivery::Wait`]
//!   and the publisher waits for them.
//!
//! Scenario steps the pipeline does not carry out itself
//! ([`Command::AppStep`]: slow subscribers, recording, display) are handed
//! over as a [`StepDue`] at their exact simulated time, after everything
//! before them was published and before anything after:
//! - a caller stepping a [`Stepper`] gets it back from [`Stepper::advance`]
//!   and carries it out before advancing again;
//! - the pipeline thread sends it on [`PipelineOptions::steps_tx`] and, in
//!   either pace, waits until the receiver has dropped the [`StepDue`] (and
//!   applies the commands sent meanwhile) before it publishes anything more.
//!   In real time the wait is the receiving loop's reaction time (it selects
//!   on the channel); timestamps come from the simulation, so it delays
//!   delivery, never a figure. It never waits past a `Stop`.
//!
//! Shutdown: at the end of the duration, a `Stop` action, or when the
//! [`Pipeline`] is dropped, arrivals halt where they are; requests still
//! queued or in service are reported as `in_flight_at_end` (neither succeeded
//! nor failed). The publisher is then closed, so every subscriber receives
//! everything and then a clean end, and [`Pipeline::join`] returns the
//! report. No thread outlives the join.

pub mod control;
pub mod model;
pub mod pace;

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, SendTimeoutError, Sender};

pub use control::{Command, Control, ControlError};
pub use model::{Sim, SimConfig, Sink, WorkerReport};
pub use pace::PaceMeter;

use crate::broadcast::Publisher;
use crate::clock::Clock;
use crate::event::Event;
use crate::event::{MILLIS, Nanos};

/// How simulated time relates to the wall clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    RealTime,
    Fast,
}

/// Default scheduler tick in real-time mode.
pub const DEFAULT_TICK: Duration = Duration::from_millis(5);
/// Simulated time run between control checks in fast mode.
pub const FAST_CHUNK: Nanos = 10 * MILLIS;

/// A command scripted to happen at a simulated time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scheduled {
    pub at: Nanos,
    pub action: Command,
}

/// A scenario step ([`Command::AppStep`]) for whoever runs the session,
/// handed over at its simulated time. The pipeline thread waits until this
/// value is dropped: drop it once the step is applied.
#[derive(Debug)]
pub struct StepDue {
    /// The step's index in its scenario.
    pub step: u16,
    /// Its simulated time.
    pub at: Nanos,
    /// Held until the step is applied; dropping it releases the pipeline.
    _applied: Option<Sender<()>>,
}

impl StepDue {
    /// A step that nothing waits for.
    pub fn new(step: u16, at: Nanos) -> StepDue {
        StepDue {
            step,
            at,
            _applied: None,
        }
    }

    /// Says the step was applied (the same as dropping it).
    pub fn applied(self) {}
}

/// How to run the pipeline.
#[derive(Clone, Debug)]
pub struct PipelineOptions {
    pub config: SimConfig,
    pub pace: Pace,
    /// Stop at this simulated time; `None`: run until stopped.
    pub duration: Option<Nanos>,
    /// Actions at fixed simulated times, in order.
    pub timeline: Vec<Scheduled>,
    pub tick: Duration,
    /// Where the pipeline thread hands over [`Command::AppStep`]s (`None`:
    /// they are skipped). Unused by a [`Stepper`] driven by its caller.
    pub steps_tx: Option<Sender<StepDue>>,
    /// In real time, the subscriber (by name) the pipeline keeps pace with:
    /// while it has more than half its queue still to receive, the pipeline
    /// generates nothing, and the time it cannot make up is skipped and
    /// reported like any shortfall ([`pace`]). The live runs name the
    /// collector, so the owner of every figure never loses an event to a
    /// rate the machine cannot carry. `None`: nobody.
    pub keep_pace_with: Option<String>,
}

impl PipelineOptions {
    pub fn new(config: SimConfig, pace: Pace) -> Self {
        PipelineOptions {
            config,
            pace,
            duration: None,
            timeline: Vec::new(),
            tick: DEFAULT_TICK,
            steps_tx: None,
            keep_pace_with: None,
        }
    }
}

/// What the pipeline thread reports when it ends.
#[derive(Clone, Debug, PartialEq)]
pub struct PipelineReport {
    pub simulated_ns: Nanos,
    pub elapsed: Duration,
    pub workers: Vec<WorkerReport>,
    /// Requests queued or in service when the run stopped.
    pub in_flight_at_end: u64,
    pub config: SimConfig,
    /// Real time: pace windows ([`pace::PACE_WINDOW`]) that fell short of
    /// the target rate, and pipeline time skipped because it could not be
    /// simulated in time (both 0 in `Fast` pace).
    pub short_windows: u64,
    pub skipped_ns: Nanos,
}

/// The running pipeline thread. Dropping it stops the run and joins the thread.
pub struct Pipeline {
    control: Control,
    thread: Option<JoinHandle<PipelineReport>>,
}

impl Pipeline {
    /// Starts `fantop/pipeline`. `clock` must be the broadcaster's clock; in
    /// real-time mode it is also the simulation's.
    pub fn start(opts: PipelineOptions, publisher: Publisher<Event>, clock: Clock) -> std::io::Result<Pipeline> {
        let (actions_tx, actions_rx) = crossbeam_channel::bounded(control::CONTROL_QUEUE);
        let thread = std::thread::Builder::new()
            .name("fantop/pipeline".into())
            .spawn(move || Stepper::new(opts, publisher, clock, Some(actions_rx)).run())?;
        Ok(Pipeline {
            control: Control { actions_tx },
            thread: Some(thread),
        })
    }

    pub fn control(&self) -> Control {
        self.control.clone()
    }

    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Waits for the run to end (its duration, its timeline's `Stop`, or a
    /// `Stop` from any [`Control`]) and returns the report.
    pub fn join(mut self) -> PipelineReport {
        let thread = self.thread.take().expect("joined once");
        match thread.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Stops the run now and returns the report.
    pub fn stop(self) -> PipelineReport {
        let _ = self.control.actions_tx.send(Command::Stop);
        self.join()
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = self.control.actions_tx.send(Command::Stop);
            let _ = thread.join();
        }
    }
}

/// The pipeline's stepping logic: a sim, its publisher and its timeline.
/// [`Pipeline`] runs one on its own thread; an offscreen render steps one
/// frame by frame from the UI thread, in simulated time.
pub struct Stepper {
    sim: Sim,
    publisher: Publisher<Event>,
    clock: Clock,
    actions_rx: Option<Receiver<Command>>,
    pace: Pace,
    duration: Option<Nanos>,
    timeline: std::vec::IntoIter<Scheduled>,
    next_step: Option<Scheduled>,
    tick: Duration,
    steps_tx: Option<Sender<StepDue>>,
    keep_pace_with: Option<String>,
    stopped: bool,
    /// Real time: the pace windows judged so far; pipeline time skipped.
    meter: Option<PaceMeter>,
    skipped_ns: Nanos,
}

/// How far one bounded advance got.
enum Advanced {
    /// An app-level step is due: carry it out, then advance again.
    Step(StepDue),
    /// The target was reached (or the run stopped on the way).
    Reached,
    /// The budget ran out first.
    OutOfBudget,
}

impl Stepper {
    /// A stepper whose commands come from `actions_rx` (if any) and its
    /// timeline.
    pub fn new(
        opts: PipelineOptions,
        publisher: Publisher<Event>,
        clock: Clock,
        actions_rx: Option<Receiver<Command>>,
    ) -> Self {
        let mut timeline = opts.timeline;
        timeline.sort_by_key(|s| s.at);
        let mut timeline = timeline.into_iter();
        let next_step = timeline.next();
        Stepper {
            sim: Sim::new(opts.config),
            publisher,
            clock,
            actions_rx,
            pace: opts.pace,
            duration: opts.duration,
            timeline,
            next_step,
            tick: opts.tick,
            steps_tx: opts.steps_tx,
            keep_pace_with: opts.keep_pace_with,
            stopped: false,
            meter: None,
            skipped_ns: 0,
        }
    }

    fn run(mut self) -> PipelineReport {
        let started = Instant::now();
        self.sim.start(&mut self.publisher);
        match self.pace {
            Pace::RealTime => self.run_real_time(),
            Pace::Fast => self.run_fast(),
        }
        self.finish(started.elapsed())
    }

    /// Ends the run: flushes, reports and closes the publisher.
    pub fn finish(mut self, elapsed: Duration) -> PipelineReport {
        self.publisher.flush();
        let report = PipelineReport {
            simulated_ns: self.sim.now(),
            elapsed,
            in_flight_at_end: self.sim.queue_len() as u64
                + self
                    .sim
                    .worker_report()
                    .iter()
                    .filter(|w| w.state == model::WorkerState::Busy)
                    .count() as u64,
            workers: self.sim.worker_report(),
            config: *self.sim.config(),
            short_windows: self.meter.as_ref().map_or(0, PaceMeter::short_windows),
            skipped_ns: self.skipped_ns,
        };
        self.publisher.close();
        report
    }

    /// Advances to `target` (capped at the duration), applying scripted
    /// steps at their exact times. Stops early at an [`Command::AppStep`]:
    /// everything before it is published (flushed) and the step is returned;
    /// carry it out, then call `advance` again to go on.
    #[must_use = "an app-level step is due: carry it out, then advance again"]
    pub fn advance(&mut self, target: Nanos) -> Option<StepDue> {
        let mut unbounded = usize::MAX;
        match self.advance_within(target, &mut unbounded) {
            Advanced::Step(due) => Some(due),
            Advanced::Reached | Advanced::OutOfBudget => None,
        }
    }

    /// [`Stepper::advance`] running at most `budget` arrivals and timers.
    fn advance_within(&mut self, target: Nanos, budget: &mut usize) -> Advanced {
        let target = self.duration.map_or(target, |d| target.min(d));
        while let Some(step) = self.next_step.filter(|s| s.at <= target) {
            if !self.sim.advance_within(step.at, budget, &mut self.publisher) {
                return Advanced::OutOfBudget;
            }
            self.next_step = self.timeline.next();
            if let Command::AppStep(i) = step.action {
                self.publisher.flush();
                return Advanced::Step(StepDue::new(i, step.at));
            }
            self.apply(step.action);
            if self.stopped {
                return Advanced::Reached;
            }
        }
        if self.sim.advance_within(target, budget, &mut self.publisher) {
            Advanced::Reached
        } else {
            Advanced::OutOfBudget
        }
    }

    /// [`Stepper::advance`] on the pipeline thread, running at most `budget`
    /// arrivals and timers: hands app-level steps
    /// over on `steps_tx` and waits until each is applied (its [`StepDue`]
    /// dropped), in either pace, so a step takes effect at its exact
    /// simulated time: nothing after it is published before the session has
    /// carried it out, and the commands the session sent meanwhile are
    /// applied first. The wait ends early on a `Stop` (or when the receiver
    /// is gone), so a run that ends mid-step never hangs. Returns whether it
    /// reached `target` (or the run ended on the way).
    fn advance_handing_over(&mut self, target: Nanos, budget: &mut usize) -> bool {
        loop {
            let mut due = match self.advance_within(target, budget) {
                Advanced::Step(due) => due,
                Advanced::Reached => return true,
                Advanced::OutOfBudget => return false,
            };
            let Some(tx) = self.steps_tx.clone() else { continue };
            let (applied_tx, applied_rx) = crossbeam_channel::bounded::<()>(0);
            due._applied = Some(applied_tx);
            // Wait while the channel is full, but never past a stop.
            loop {
                match tx.send_timeout(due, self.tick) {
                    Ok(()) => break,
                    Err(SendTimeoutError::Disconnected(_)) => return true,
                    Err(SendTimeoutError::Timeout(d)) => due = d,
                }
                self.take_actions();
                if self.stopped {
                    return true;
                }
            }
            // Ends when the receiver drops the step (nothing is sent on it).
            let actions = self.actions_rx.clone().unwrap_or_else(crossbeam_channel::never);
            loop {
                crossbeam_channel::select! {
                    recv(applied_rx) -> _ => break,
                    recv(actions) -> command => match command {
                        Ok(c) => {
                            self.apply(c);
                            if self.stopped {
                                return true;
                            }
                        }
                        Err(_) => {
                            let _ = applied_rx.recv();
                            break;
                        }
                    },
                }
            }
            // What the session asked for while applying it comes first.
            self.take_actions();
        }
    }

    /// Publishes what is buffered.
    pub fn flush(&mut self) {
        self.publisher.flush();
    }

    /// Simulated time now.
    pub fn now(&self) -> Nanos {
        self.sim.now()
    }

    /// Applies a command now. Refused ones change nothing.
    pub fn apply(&mut self, action: Command) {
        if action == Command::Stop {
            self.stopped = true;
        }
        // A refused action (e.g. stalling a worker that is not running)
        // changes nothing; the stream shows only what was applied.
        let _ = self.sim.apply(action, &mut self.publisher);
    }

    /// Whether the run is over (duration reached, or stopped).
    pub fn ended(&self) -> bool {
        self.stopped || self.duration.is_some_and(|d| self.sim.now() >= d)
    }

    fn take_actions(&mut self) {
        let Some(rx) = self.actions_rx.clone() else { return };
        loop {
            match rx.try_recv() {
                Ok(a) => {
                    self.apply(a);
                }
                Err(_) => return,
            }
        }
    }

    /// Whether the subscriber it keeps pace with has more than half its
    /// queue still to receive.
    fn held_back(&self) -> bool {
        self.keep_pace_with
            .as_deref()
            .and_then(|name| self.publisher.backlog(name))
            .is_some_and(|(backlog, capacity)| backlog * 2 > capacity)
    }

    /// The real-time loop: one bounded slice at a time (see [`pace`]), the
    /// controls looked at between slices, time beyond [`pace::MAX_LAG`]
    /// skipped, and the pace judged and published window by window.
    fn run_real_time(&mut self) {
        let mut meter = PaceMeter::new(self.clock.now(), self.sim.arrivals());
        loop {
            let now = self.clock.now();
            let held = self.held_back();
            let caught_up = !held && self.advance_handing_over(now, &mut { pace::SLICE_BUDGET });
            self.take_actions();
            // Time past the run's end is never simulated, so never skipped.
            if let Some(behind) = now
                .checked_sub(pace::MAX_LAG)
                .map(|b| self.duration.map_or(b, |d| b.min(d)))
                && self.sim.now() < behind
            {
                let skipped = self.sim.skip_arrivals_until(behind);
                self.skipped_ns += skipped;
                meter.skipped(skipped);
            }
            if let Some(kind) = meter.tick(now, self.sim.arrivals()) {
                self.publisher.publish(Event::new(self.sim.now(), kind));
            }
            self.publisher.flush();
            if self.ended() {
                break;
            }
            // Caught up: sleep until the next tick, or a command. How late
            // we wake changes when events are delivered, never their
            // timestamps. Behind: go on at once, or, held back, shortly.
            let wait = if caught_up {
                self.tick
            } else if held {
                pace::HOLD_WAIT
            } else {
                continue;
            };
            let Some(rx) = self.actions_rx.clone() else {
                std::thread::sleep(wait);
                continue;
            };
            match rx.recv_timeout(wait) {
                Ok(a) => {
                    if !self.held_back() {
                        self.advance_handing_over(self.clock.now(), &mut { pace::SLICE_BUDGET });
                    }
                    self.apply(a);
                }
                Err(RecvTimeoutError::Timeout) => {}
                // Unreachable while the Pipeline holds its Control; sleep
                // rather than spin if it ever happens.
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(wait),
            }
        }
        if let Some(kind) = meter.finish(self.clock.now(), self.sim.arrivals()) {
            self.publisher.publish(Event::new(self.sim.now(), kind));
        }
        self.meter = Some(meter);
    }

    fn run_fast(&mut self) {
        loop {
            let target = self.sim.now() + FAST_CHUNK;
            let mut unbounded = usize::MAX;
            self.advance_handing_over(target, &mut unbounded);
            self.take_actions();
            self.publisher.tick();
            if self.ended() {
                return;
            }
        }
    }
}
