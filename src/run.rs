//! Wiring: one [`Stack`] builds what every run needs — a clock (real, or
//! manual for simulated time), the broadcaster, the collector, and a source
//! (the pipeline on its thread, a [`Stepper`] driven by the caller, or a
//! replay [`Player`]) — and tears it down in one order:
//!
//! 1. the source stops (pipeline or player), which closes the publisher, so
//!    every subscriber receives everything and then the end;
//! 2. the caller's panes (dropped by the caller before [`Stack::finish`]);
//! 3. the [`Session`]'s recordings and cast finish (they now hold
//!    everything), its slow subscribers stop;
//! 4. the collector joins and returns the final snapshot.
//!
//! The terminal monitor (`tui::run_live`, `tui::run_offscreen`,
//! `tui::run_replay`) and the headless runs here ([`headless`],
//! [`replay_headless`]) all build their run with a `Stack` and carry out
//! side effects through one [`Session`].
//!
//! # Simulated time
//!
//! `--offscreen` and `--headless --fast` step the pipeline on the calling
//! thread in frames of [`VIRTUAL_FRAME`] ([`Stack::step_frame`]): the
//! manual clock is set to the frame's end, the stepper runs to it and
//! hands each app-level scenario step to the session at its exact simulated
//! time, before publishing anything later; then the session ticks (slow
//! subscribers take their batch on simulated time). Eviction and every
//! recording's content therefore depend only on the seed and the scenario,
//! and the two modes agree.
//!
//! # Real time
//!
//! The pipeline runs on its own thread and sends app-level steps on a
//! channel bounded by [`STEPS_QUEUE`]; the headless loop here, or the TUI
//! loop, selects on it and hands each to the session.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, select, tick};

use crate::broadcast::{
    self, BroadcastConfig, Broadcaster, Delivery, Publisher, PublisherStats, SubscribeOptions, SubscriberStats,
};
use crate::clock::Clock;
use crate::collector::{Collector, CollectorOptions, Snapshot, SnapshotReader};
use crate::event::{Event, MILLIS, Nanos, SECONDS};
use crate::parse::dist_text;
use crate::pipeline::{
    Command, Control, Pace, Pipeline, PipelineOptions, PipelineReport, Scheduled, SimConfig, StepDue, Stepper,
};
use crate::session::record::{RecordStats, ScenarioInfo};
use crate::session::recording::Recording;
use crate::session::replay::{Pace as ReplayPace, Player, PlayerControl, Restart};
use crate::session::scenario::StepAction;
use crate::session::summary::{ConfigSummary, Summary};
use crate::session::{Intent, RecordingSetup, Session, SessionOptions};
use crate::signals::Signal;

pub use crate::collector::COLLECTOR_CAPACITY;

/// A frame of simulated time: `--headless --fast` steps in these, as
/// `--offscreen` does at its default 20 frames a second, so the two agree.
pub const VIRTUAL_FRAME: Nanos = 50 * MILLIS;
/// Bound of the real-time pipeline's channel of app-level steps. The
/// pipeline waits while it is full (checking for a stop): the loops drain
/// it every frame, and a scenario has few steps at one time.
pub const STEPS_QUEUE: usize = 64;
/// How often a real-time headless run lets its session look for evictions,
/// and a headless replay looks whether its player is done.
pub const HEADLESS_TICK: Duration = Duration::from_millis(50);

/// A headless run's settings.
#[derive(Clone, Debug, Default)]
pub struct HeadlessOptions {
    pub sim: SimConfig,
    pub duration: Option<Nanos>,
    pub fast: bool,
    pub timeline: Vec<Scheduled>,
    /// A scenario's steps, indexed like its `AppStep`s (slow subscribers,
    /// recording on/off; display steps are ignored).
    pub steps: Vec<StepAction>,
    /// Record to this file (created there, never over an existing file;
    /// later windows of the same run get `FILE-2`, … — see
    /// [`RecordingSetup::path`]): the whole run, or, if the scenario has
    /// `record_start` steps, the windows they start.
    pub record: Option<PathBuf>,
    pub scenario: Option<ScenarioInfo>,
}

/// What a finished headless run leaves.
pub struct HeadlessRun {
    pub summary: Summary,
    pub snapshot: Arc<Snapshot>,
    pub report: PipelineReport,
    /// Recordings written, in order.
    pub recordings: Vec<RecordStats>,
    /// The session's notes (files written, evictions), in order.
    pub notes: Vec<String>,
    /// The stop signal that ended the run early (SIGINT, SIGTERM, ...), if one did.
    pub stopped_by: Option<i32>,
    /// Files that failed (a full disk), each naming the file and why: the
    /// run went on to its end, and its exit status is 1.
    pub failures: Vec<String>,
}

/// What a headless replay leaves.
pub struct ReplayRun {
    pub summary: Summary,
    /// The stop signal that ended the replay early, if one did.
    pub stopped_by: Option<i32>,
}

pub fn config_summary(sim: &SimConfig, duration: Option<Nanos>, fast: bool) -> ConfigSummary {
    ConfigSummary {
        rate: sim.rate,
        workers: sim.workers,
        service: dist_text(&sim.service),
        error_rate: sim.error_rate,
        queue_capacity: sim.queue_capacity,
        auto_restart: sim.auto_restart,
        duration_s: duration.map(|d| d as f64 / SECONDS as f64),
        fast,
    }
}

/// The collector's subscription: lossless (`Wait`) when time is virtual.
pub fn collector_options(fast: bool) -> CollectorOptions {
    let delivery = if fast { Delivery::Wait } else { Delivery::Drop };
    CollectorOptions {
        subscribe: SubscribeOptions::new("collector")
            .capacity(COLLECTOR_CAPACITY)
            .delivery(delivery),
        poll_every: if fast {
            None
        } else {
            CollectorOptions::default().poll_every
        },
        ..CollectorOptions::default()
    }
}

/// Whether a run's clock is the wall clock or simulated time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Time {
    /// The wall clock; the pipeline runs on its thread in real time.
    Real,
    /// A manual clock moved by the caller ([`Stack::step_frame`]): the
    /// broadcaster's batching and eviction run on simulated time.
    Virtual,
}

/// Where the events come from.
enum Source {
    /// Not started: the stack still holds the publisher.
    Idle(Publisher<Event>),
    Thread(Pipeline),
    Stepper(Box<Stepper>),
    Player(Player),
    /// Stopped; the publisher is closed.
    Done,
}

/// The collector, replaceable while a replay runs (see
/// [`crate::session::replay::Restart`]). Locked only to swap it, read its
/// newest snapshot or join it: never on the event path.
type CollectorSlot = Arc<Mutex<Option<Collector>>>;

/// How a stack's run ended.
pub struct Finished {
    /// The collector's final snapshot: every event the run published.
    pub snapshot: Arc<Snapshot>,
    /// The pipeline's report (not for a replay).
    pub report: Option<PipelineReport>,
    /// Wall time from [`Stack::new`] to the source's end.
    pub elapsed: Duration,
    pub publisher: PublisherStats,
    /// Every subscriber's stats, the collector's included.
    pub subscribers: Vec<SubscriberStats>,
    /// The session's notes, in order.
    pub notes: Vec<String>,
    /// The files that failed, each naming the file and why (see
    /// [`Session::failures`]).
    pub failures: Vec<String>,
}

/// One run's clock, broadcaster, collector and source; see the module doc.
pub struct Stack {
    pub clock: Clock,
    pub broadcaster: Broadcaster<Event>,
    time: Time,
    source: Source,
    collector: CollectorSlot,
    /// The broadcaster a replay's collector reads, restarted at each seek
    /// back (its stats are reported with the main one's).
    collector_broadcaster: Arc<Mutex<Option<Broadcaster<Event>>>>,
    /// Where every collector of this stack publishes its snapshots (one
    /// cell for the stack's life, so panes keep reading the live one after a
    /// replay's collector is replaced).
    snapshots: SnapshotReader,
    report: Option<PipelineReport>,
    started: Instant,
}

impl Stack {
    /// A clock, a broadcaster and the collector subscribed to it. Subscribe
    /// panes and start a session before starting the source, so they see
    /// everything.
    pub fn new(time: Time) -> anyhow::Result<Stack> {
        let mut stack = Self::bare(time);
        let opts = CollectorOptions {
            publish_to: Some(stack.snapshots.clone()),
            ..collector_options(time == Time::Virtual)
        };
        let collector = Collector::spawn(&stack.broadcaster, opts)?;
        stack.collector = Arc::new(Mutex::new(Some(collector)));
        Ok(stack)
    }

    /// A stack for a replay: its collector comes with [`Stack::play`].
    pub fn for_replay() -> Stack {
        Self::bare(Time::Real)
    }

    fn bare(time: Time) -> Stack {
        let clock = match time {
            Time::Real => Clock::start(),
            Time::Virtual => Clock::manual(),
        };
        let (publisher, broadcaster) = broadcast::channel(BroadcastConfig::default(), clock.clone());
        Stack {
            clock,
            broadcaster,
            time,
            source: Source::Idle(publisher),
            collector: Arc::new(Mutex::new(None)),
            collector_broadcaster: Arc::new(Mutex::new(None)),
            snapshots: SnapshotReader::default(),
            report: None,
            started: Instant::now(),
        }
    }

    /// Reads the newest snapshot of whichever collector runs now.
    pub fn snapshots(&self) -> SnapshotReader {
        self.snapshots.clone()
    }

    pub fn time(&self) -> Time {
        self.time
    }

    fn take_publisher(&mut self) -> anyhow::Result<Publisher<Event>> {
        match std::mem::replace(&mut self.source, Source::Done) {
            Source::Idle(p) => Ok(p),
            other => {
                self.source = other;
                anyhow::bail!("the run's source was already started")
            }
        }
    }

    /// Starts the pipeline on its thread (real time: `opts.pace` should be
    /// `RealTime`). With `steps`, app-level steps are handed over on a
    /// channel bounded by [`STEPS_QUEUE`], returned here.
    pub fn start_pipeline(
        &mut self,
        mut opts: PipelineOptions,
        steps: bool,
    ) -> anyhow::Result<(Control, Option<Receiver<StepDue>>)> {
        let publisher = self.take_publisher()?;
        let steps_rx = steps.then(|| {
            let (tx, rx) = crossbeam_channel::bounded(STEPS_QUEUE);
            opts.steps_tx = Some(tx);
            rx
        });
        let pipeline = Pipeline::start(opts, publisher, self.clock.clone())?;
        let control = pipeline.control();
        self.source = Source::Thread(pipeline);
        Ok((control, steps_rx))
    }

    /// Prepares the pipeline to be stepped by the caller in simulated time
    /// ([`Stack::step_frame`]). Needs a [`Time::Virtual`] stack.
    pub fn start_stepper(&mut self, mut opts: PipelineOptions) -> anyhow::Result<()> {
        anyhow::ensure!(self.time == Time::Virtual, "a stepped pipeline needs simulated time");
        let publisher = self.take_publisher()?;
        opts.pace = Pace::Fast;
        opts.steps_tx = None;
        self.source = Source::Stepper(Box::new(Stepper::new(opts, publisher, self.clock.clone(), None)));
        Ok(())
    }

    /// Applies a command to a stepped pipeline now (no-op otherwise).
    pub fn apply(&mut self, action: Command) {
        if let Source::Stepper(s) = &mut self.source {
            s.apply(action);
        }
    }

    /// Runs a stepped pipeline to simulated time `t` (the end of a frame):
    /// sets the clock to `t`, hands each app-level step due on the way to
    /// `session` at its exact time (what it announces is applied before
    /// anything later is published), publishes everything, then ticks the
    /// session at `t`. Returns what the steps asked of the display.
    pub fn step_frame(&mut self, t: Nanos, session: &mut Session) -> Vec<Intent> {
        let Source::Stepper(stepper) = &mut self.source else {
            return Vec::new();
        };
        self.clock.set(t);
        let mut intents = Vec::new();
        while let Some(due) = stepper.advance(t) {
            let mut announce = |a| stepper.apply(a);
            intents.extend(session.apply_step(due.step, due.at, &mut announce));
            due.applied();
        }
        stepper.flush();
        intents.extend(session.tick(t, &mut |a| stepper.apply(a)));
        intents
    }

    /// Simulated time now: a stepped pipeline's, else the clock's.
    pub fn now(&self) -> Nanos {
        match &self.source {
            Source::Stepper(s) => s.now(),
            _ => self.clock.now(),
        }
    }

    /// Whether the source has ended by itself (the pipeline's duration or
    /// its timeline's end; a replay played to its end).
    pub fn source_ended(&self) -> bool {
        match &self.source {
            Source::Thread(p) => p.is_finished(),
            Source::Stepper(s) => s.ended(),
            // Done publishing, or its thread ended some other way (a panic).
            Source::Player(p) => p.control().done() || p.is_finished(),
            Source::Idle(_) | Source::Done => true,
        }
    }

    /// Starts replaying `events` (the player takes them over). The collector reads a stream of its own
    /// that starts over at each seek back, with a fresh collector (the old
    /// one is joined), so its figures always cover exactly the recording
    /// up to the position.
    pub fn play(&mut self, events: Vec<Event>, pace: ReplayPace, linger: bool) -> anyhow::Result<PlayerControl> {
        let publisher = self.take_publisher()?;
        let slot = self.collector.clone();
        let current = self.collector_broadcaster.clone();
        let clock = self.clock.clone();
        let snapshots = self.snapshots.clone();
        let restart: Restart = Box::new(move || {
            // The previous stream was closed: its collector ends at once.
            let old = slot.lock().ok()?.take();
            if let Some(old) = old {
                let _ = old.join();
            }
            let (publisher, broadcaster) = broadcast::channel(BroadcastConfig::default(), clock.clone());
            let opts = CollectorOptions {
                publish_to: Some(snapshots.clone()),
                ..collector_options(true)
            };
            let collector = Collector::spawn(&broadcaster, opts).ok()?;
            *slot.lock().ok()? = Some(collector);
            *current.lock().ok()? = Some(broadcaster);
            Some(publisher)
        });
        let player = Player::start(events, publisher, pace, linger, Some(restart))?;
        let control = player.control();
        self.source = Source::Player(player);
        Ok(control)
    }

    /// The collector's newest snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshots.load()
    }

    /// Waits for the source to end by itself (a pipeline's duration or
    /// timeline end; a replay without linger at its end).
    pub fn wait(&mut self) {
        match std::mem::replace(&mut self.source, Source::Done) {
            Source::Thread(p) => self.report = Some(p.join()),
            Source::Player(p) => p.join(),
            other => self.source = other,
        }
    }

    /// Stops the source now, which closes the publisher.
    fn stop_source(&mut self) {
        match std::mem::replace(&mut self.source, Source::Done) {
            Source::Idle(p) => p.close(),
            Source::Thread(p) => self.report = Some(p.stop()),
            Source::Stepper(s) => self.report = Some(s.finish(self.started.elapsed())),
            Source::Player(p) => drop(p),
            Source::Done => {}
        }
    }

    /// Tears the run down in order (see the module doc): the source stops,
    /// `panes` (whatever holds the UI's subscriptions, or `()`) are dropped,
    /// the session finishes, the collector joins.
    ///
    /// A replay's panes go first: they subscribe losslessly (`Wait`), so a
    /// player in the middle of a catch-up may be waiting for them.
    pub fn finish<P>(mut self, session: &mut Session, panes: P) -> Finished {
        if matches!(self.source, Source::Player(_)) {
            drop(panes);
            self.stop_source();
        } else {
            self.stop_source();
            drop(panes);
        }
        let elapsed = self.started.elapsed();
        let notes = session.finish();
        let collector = self.collector.lock().ok().and_then(|mut c| c.take());
        let snapshot = collector.map(Collector::join).unwrap_or_default();
        let mut subscribers = self.broadcaster.stats();
        if let Some(b) = self.collector_broadcaster.lock().ok().and_then(|mut b| b.take()) {
            subscribers.extend(b.stats());
        }
        Finished {
            snapshot,
            report: self.report.take(),
            elapsed,
            publisher: self.broadcaster.publisher_stats(),
            subscribers,
            notes,
            failures: session.failures(),
        }
    }
}

/// The settings for a run's pipeline.
pub fn pipeline_options(
    sim: SimConfig,
    pace: Pace,
    duration: Option<Nanos>,
    timeline: &[Scheduled],
) -> PipelineOptions {
    let mut p = PipelineOptions::new(sim, pace);
    p.duration = duration;
    p.timeline = timeline.to_vec();
    p
}

/// Runs the pipeline without a UI until its duration (or timeline) ends,
/// or a stop signal (then the run is summarized as far as it went, its
/// recordings finished, and [`HeadlessRun::stopped_by`] says which).
/// `--fast` steps it on this thread in simulated time, exactly as
/// `--offscreen` does (without drawing).
pub fn headless(opts: HeadlessOptions) -> anyhow::Result<HeadlessRun> {
    let has_end = opts.duration.is_some() || opts.timeline.iter().any(|s| s.action == Command::Stop);
    anyhow::ensure!(has_end, "a headless run needs a duration or a timeline that ends");
    // First, so a stop signal from now on finishes whatever files exist.
    let watch = crate::signals::spawn_signals(false)?;
    let mut stopped_by = None;
    let time = if opts.fast { Time::Virtual } else { Time::Real };
    let mut stack = Stack::new(time)?;
    let config = config_summary(&opts.sim, opts.duration, opts.fast);
    let mut session = Session::new(
        &stack.broadcaster,
        SessionOptions {
            recording: RecordingSetup {
                seed: opts.sim.seed,
                config: config.clone(),
                scenario: opts.scenario.clone(),
                path: opts.record.clone(),
            },
            steps: opts.steps.clone(),
            virtual_time: opts.fast,
        },
    );
    let record_at_start = opts.record.is_some() && !opts.steps.contains(&StepAction::RecordStart);
    let pace = if opts.fast { Pace::Fast } else { Pace::RealTime };
    let popts = pipeline_options(opts.sim, pace, opts.duration, &opts.timeline);
    if opts.fast {
        if record_at_start {
            // Subscribed before the first event: it records everything.
            session.start_recording(&mut |_| {}).map_err(anyhow::Error::msg)?;
        }
        stack.start_stepper(popts)?;
        if session.recording() {
            stack.apply(Command::Announce(crate::event::LoadChange::Recording { on: true }));
        }
        let mut k = 0u64;
        while !stack.source_ended() {
            if let Ok(Signal::Stop(n)) = watch.rx.try_recv() {
                stopped_by = Some(n);
                break;
            }
            k += 1;
            let t = opts.duration.map_or(k * VIRTUAL_FRAME, |d| (k * VIRTUAL_FRAME).min(d));
            let _display = stack.step_frame(t, &mut session);
        }
    } else {
        if record_at_start {
            session.start_recording(&mut |_| {}).map_err(anyhow::Error::msg)?;
        }
        let (control, steps_rx) = stack.start_pipeline(popts, true)?;
        let steps_rx = steps_rx.expect("asked for");
        if session.recording() {
            let _ = control.apply(Command::Announce(crate::event::LoadChange::Recording { on: true }));
        }
        let mut announce = |a| {
            let _ = control.apply(a);
        };
        let ticker = tick(HEADLESS_TICK);
        loop {
            select! {
                recv(steps_rx) -> due => match due {
                    Ok(due) => {
                        let _display = session.apply_step(due.step, due.at, &mut announce);
                    }
                    // The pipeline ended.
                    Err(_) => break,
                },
                recv(watch.rx) -> s => if let Ok(Signal::Stop(n)) = s {
                    stopped_by.get_or_insert(n);
                    announce(Command::Stop);
                },
                recv(ticker) -> _ => {
                    let _display = session.tick(stack.clock.now(), &mut announce);
                }
            }
        }
        let _display = session.tick(stack.clock.now(), &mut announce);
        stack.wait();
    }
    drop(watch);
    let slow = session.slow_summary();
    let finished = stack.finish(&mut session, ());
    let report = finished.report.clone().expect("a pipeline ran");
    let mut summary = Summary::build(
        opts.sim.seed,
        config,
        finished.elapsed.as_secs_f64(),
        &finished.snapshot,
        &finished.publisher,
        &finished.subscribers,
    );
    summary.slow_subscribers = slow;
    Ok(HeadlessRun {
        summary,
        snapshot: finished.snapshot,
        report,
        recordings: session.recordings().to_vec(),
        notes: finished.notes,
        stopped_by,
        failures: finished.failures,
    })
}

/// Replays a recording without a UI and summarizes it like a live headless
/// run: to its end, or until a stop signal (then as far as it went);
/// `pace` is [`ReplayPace::Fast`] for `--fast`.
pub fn replay_headless(recording: Recording, pace: ReplayPace) -> anyhow::Result<ReplayRun> {
    let watch = crate::signals::spawn_signals(false)?;
    let mut stopped_by = None;
    let mut stack = Stack::for_replay();
    let mut session = replay_session(&stack, &recording);
    let header = recording.header.clone();
    stack.play(recording.events, pace, false)?;
    // The player says it is done through a flag: look at it every tick.
    let ticker = tick(HEADLESS_TICK);
    while !stack.source_ended() {
        select! {
            recv(watch.rx) -> s => if let Ok(Signal::Stop(n)) = s {
                stopped_by = Some(n);
                break;
            },
            recv(ticker) -> _ => {}
        }
    }
    drop(watch);
    if stopped_by.is_none() {
        stack.wait();
    }
    // After a stop signal this stops the player where it is.
    let finished = stack.finish(&mut session, ());
    Ok(ReplayRun {
        summary: Summary::build(
            header.seed,
            header.config,
            finished.elapsed.as_secs_f64(),
            &finished.snapshot,
            &finished.publisher,
            &finished.subscribers,
        ),
        stopped_by,
    })
}

/// A replay's session: slow subscribers only (recording a replay is refused).
pub fn replay_session(stack: &Stack, recording: &Recording) -> Session {
    Session::new(
        &stack.broadcaster,
        SessionOptions {
            recording: RecordingSetup {
                seed: recording.header.seed,
                config: recording.header.config.clone(),
                scenario: recording.header.scenario.clone(),
                path: None,
            },
            steps: Vec::new(),
            virtual_time: false,
        },
    )
}
