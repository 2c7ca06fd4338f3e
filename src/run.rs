//! Wiring: builds a broadcaster, a collector and a pipeline for one run,
//! and tears them down in order (pipeline, then publisher closes, then the
//! collector drains and returns the final snapshot).

use std::path::PathBuf;
use std::sync::Arc;

use crate::broadcast::{self, BroadcastConfig, Broadcaster, Delivery, SubscribeOptions};
use crate::clock::Clock;
use crate::collector::{Collector, CollectorOptions, Snapshot};
use crate::event::{Event, EventKind, LoadChange, Nanos, SECONDS};
use crate::parse::dist_text;
use crate::record::{Header, RecordStats, Recorder, Recording, ScenarioInfo};
use crate::replay::{Pace as ReplayPace, Player};
use crate::scenario::StepAction;
use crate::sim::Action;
use crate::sim::{Pace, Pipeline, PipelineOptions, PipelineReport, Scheduled, SimConfig};
use crate::slow::SlowSubscribers;
use crate::summary::{ConfigSummary, Summary};

/// Collector queue bound: as much of the broadcaster's ring as a queue may
/// hold (`subscribe` keeps it within the ring; with the default ring,
/// 261,872 events, under a second at 100,000 requests/s).
pub const COLLECTOR_CAPACITY: usize = crate::broadcast::DEFAULT_RING_CAPACITY;

/// A headless run's settings.
#[derive(Clone, Debug, Default)]
pub struct HeadlessOptions {
    pub sim: SimConfig,
    pub duration: Option<Nanos>,
    pub fast: bool,
    pub timeline: Vec<Scheduled>,
    /// A scenario's steps, for the ones the pipeline does not carry out
    /// itself (slow subscribers, recording on/off; display steps are ignored).
    pub steps: Vec<StepAction>,
    /// Record the whole run to this file.
    pub record: Option<PathBuf>,
    pub scenario: Option<ScenarioInfo>,
}

/// What a finished headless run leaves.
pub struct HeadlessRun {
    pub summary: Summary,
    pub snapshot: Arc<Snapshot>,
    pub report: PipelineReport,
    /// Recordings written.
    pub recordings: Vec<RecordStats>,
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

/// Runs the pipeline without a UI until its duration (or timeline) ends.
pub fn headless(opts: HeadlessOptions) -> anyhow::Result<HeadlessRun> {
    let clock = Clock::start();
    let (publisher, broadcaster): (_, Broadcaster<Event>) =
        broadcast::channel(BroadcastConfig::default(), clock.clone());
    let collector = Collector::spawn(&broadcaster, collector_options(opts.fast))?;
    let delivery = if opts.fast { Delivery::Wait } else { Delivery::Drop };
    let config = config_summary(&opts.sim, opts.duration, opts.fast);
    let header = Header::new(opts.sim.seed, config.clone(), opts.scenario.clone());
    let mut recorder = match &opts.record {
        Some(path) => Some(Recorder::start(&broadcaster, path, &header, delivery)?),
        None => None,
    };
    // The main thread follows the stream for scenario steps it must carry out.
    let follow = (!opts.steps.is_empty()).then(|| {
        broadcaster.subscribe_with(
            SubscribeOptions::new("scenario")
                .capacity(COLLECTOR_CAPACITY)
                .delivery(delivery),
        )
    });
    let mut pipeline_opts = PipelineOptions::new(opts.sim, if opts.fast { Pace::Fast } else { Pace::RealTime });
    pipeline_opts.duration = opts.duration;
    pipeline_opts.timeline = opts.timeline.clone();
    let pipeline = Pipeline::start(pipeline_opts, publisher, clock)?;
    // Ctrl-C, SIGTERM or SIGHUP end the run cleanly: the summary is printed
    // and any recording flushed and closed.
    let watch = crate::ui::spawn_signals()?;
    let stopper = {
        let (rx, control) = (watch.rx.clone(), pipeline.control());
        std::thread::Builder::new()
            .name("fantop/stopper".into())
            .spawn(move || {
                if rx.recv().is_ok() {
                    let _ = control.apply(Action::Stop);
                }
            })?
    };
    let mut recordings = Vec::new();
    if let Some(sub) = follow {
        let mut slow = if opts.fast {
            SlowSubscribers::new_virtual(&broadcaster)
        } else {
            SlowSubscribers::new(&broadcaster)
        };
        let control = pipeline.control();
        while let Ok(batch) = sub.recv() {
            if let Some(last) = batch.last() {
                slow.tick_virtual(last.t);
            }
            for e in batch.iter() {
                if let EventKind::ScenarioStep { step } = e.kind
                    && let Some(action) = opts.steps.get(step as usize)
                {
                    let announce = |change| {
                        let _ = control.apply(Action::Announce(change));
                    };
                    match action {
                        StepAction::AddSlowSubscriber if slow.add().is_ok() => {
                            announce(LoadChange::SlowSubscriber { added: true })
                        }
                        StepAction::RemoveSlowSubscriber if slow.remove().is_some() => {
                            announce(LoadChange::SlowSubscriber { added: false })
                        }
                        StepAction::RecordStart if recorder.is_none() => {
                            let path = match &opts.record {
                                Some(p) => crate::record::fresh_path(p),
                                None => PathBuf::from(crate::record::default_file_name()),
                            };
                            recorder = Some(Recorder::start(&broadcaster, &path, &header, delivery)?);
                            let _ = control.apply(Action::AnnounceState);
                            announce(LoadChange::Recording { on: true });
                        }
                        StepAction::RecordStop => {
                            if let Some(r) = recorder.take() {
                                announce(LoadChange::Recording { on: false });
                                recordings.push(r.stop()?);
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        drop(slow);
    }
    let report = pipeline.join();
    drop(watch);
    let _ = stopper.join();
    if let Some(r) = recorder.take() {
        recordings.push(r.finish()?);
    }
    let snapshot = collector.join();
    let summary = Summary::build(
        opts.sim.seed,
        config,
        report.elapsed.as_secs_f64(),
        &snapshot,
        &broadcaster.publisher_stats(),
        &broadcaster.stats(),
    );
    Ok(HeadlessRun {
        summary,
        snapshot,
        report,
        recordings,
    })
}

/// Replays a recording without a UI and summarizes it like a live headless run.
pub fn replay_headless(recording: Recording, fast: bool, speed: f64) -> anyhow::Result<Summary> {
    let started = std::time::Instant::now();
    let (publisher, broadcaster) = broadcast::channel(BroadcastConfig::default(), Clock::start());
    let collector = Collector::spawn(&broadcaster, collector_options(true))?;
    let pace = if fast {
        ReplayPace::Fast
    } else {
        ReplayPace::Paced(speed)
    };
    let header = recording.header.clone();
    let events: Arc<[Event]> = recording.events.into();
    Player::start(events, publisher, pace, false)?.join();
    let snapshot = collector.join();
    Ok(Summary::build(
        header.seed,
        header.config,
        started.elapsed().as_secs_f64(),
        &snapshot,
        &broadcaster.publisher_stats(),
        &broadcaster.stats(),
    ))
}
