//! Wiring: builds a broadcaster, a collector and a pipeline for one run,
//! and tears them down in order (pipeline, then publisher closes, then the
//! collector drains and returns the final snapshot).

use std::sync::Arc;

use crate::broadcast::{self, BroadcastConfig, Broadcaster, Delivery, SubscribeOptions};
use crate::clock::Clock;
use crate::collector::{Collector, CollectorOptions, Snapshot};
use crate::event::{Nanos, SECONDS};
use crate::parse::dist_text;
use crate::sim::{Pace, Pipeline, PipelineOptions, PipelineReport, Scheduled, SimConfig};
use crate::summary::{ConfigSummary, Summary};

/// Collector queue bound: large enough to ride out a slow moment at
/// 100,000 requests/s without a drop.
pub const COLLECTOR_CAPACITY: usize = 1 << 20;

/// A headless run's settings.
#[derive(Clone, Debug)]
pub struct HeadlessOptions {
    pub sim: SimConfig,
    pub duration: Option<Nanos>,
    pub fast: bool,
    pub timeline: Vec<Scheduled>,
}

/// What a finished headless run leaves.
pub struct HeadlessRun {
    pub summary: Summary,
    pub snapshot: Arc<Snapshot>,
    pub report: PipelineReport,
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
        subscribe: SubscribeOptions::new("collector").capacity(COLLECTOR_CAPACITY).delivery(delivery),
        poll_every: if fast { None } else { CollectorOptions::default().poll_every },
        ..CollectorOptions::default()
    }
}

/// Runs the pipeline without a UI until its duration (or timeline) ends.
pub fn headless(opts: HeadlessOptions) -> anyhow::Result<HeadlessRun> {
    let clock = Clock::start();
    let (publisher, broadcaster): (_, Broadcaster) = broadcast::channel(BroadcastConfig::default(), clock.clone());
    let collector = Collector::spawn(&broadcaster, collector_options(opts.fast))?;
    let mut pipeline_opts = PipelineOptions::new(opts.sim, if opts.fast { Pace::Fast } else { Pace::RealTime });
    pipeline_opts.duration = opts.duration;
    pipeline_opts.timeline = opts.timeline;
    let pipeline = Pipeline::start(pipeline_opts, publisher, clock)?;
    let report = pipeline.join();
    let snapshot = collector.join();
    let summary = Summary::build(
        opts.sim.seed,
        config_summary(&opts.sim, opts.duration, opts.fast),
        report.elapsed.as_secs_f64(),
        &snapshot,
        &broadcaster.publisher_stats(),
        &broadcaster.stats(),
    );
    Ok(HeadlessRun { summary, snapshot, report })
}
