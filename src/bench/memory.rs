//! `fantop bench --memory`: the resident set of a long live run, sampled
//! over time, with the collector's and the panes' losses and a stalled
//! subscriber's effect, next to the same run's starting figures.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

use super::report::*;
use crate::broadcast::{self, BroadcastConfig, SubscribeOptions};
use crate::clock::Clock;
use crate::collector::Collector;
use crate::event::{MILLIS, Nanos, SECONDS, ServiceDist};
use crate::pipeline::{Pace, Pipeline, PipelineOptions, SimConfig};
use crate::run;
use crate::session::slow::SLOW_CAPACITY;

pub const MEMORY_SCHEMA: &str = "fantop-bench-memory/1";

// ---------------------------------------------------------------------------
// --memory

#[derive(Clone, Debug, Serialize)]
pub struct MemoryLoad {
    pub rate: f64,
    pub workers: u16,
    pub service: String,
    pub seed: u64,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct RssSample {
    pub t_s: f64,
    pub rss_mib: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct RssFigures {
    pub reference_at_s: f64,
    pub reference_mib: f64,
    /// The last sample, taken shortly before the pipeline's end.
    pub end_at_s: f64,
    pub end_mib: f64,
    /// Largest sample at or after the reference.
    pub max_mib: f64,
    pub end_over_reference: f64,
    pub within_10pct: bool,
    pub samples: Vec<RssSample>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CollectorLoss {
    /// The collector subscription's `dropped` counter at the end.
    pub dropped: u64,
    /// Events the collector knows it lost (from evictions).
    pub lost_events: u64,
    pub evictions: u32,
}

#[derive(Clone, Debug, Serialize)]
pub struct StalledFigures {
    pub evictions: u64,
    /// Events the stalled subscriber lost, over all its subscriptions.
    pub dropped: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct MemoryReport {
    pub schema: &'static str,
    pub machine: Machine,
    pub build: &'static str,
    pub command: String,
    pub date: String,
    pub load: MemoryLoad,
    pub minutes: f64,
    pub elapsed_s: f64,
    pub simulated_s: f64,
    pub arrived: u64,
    /// Arrivals per simulated second.
    pub arrival_rate: f64,
    pub events_published: u64,
    /// CPU time of this process over the run, in CPUs.
    pub cpu_cores: Option<f64>,
    pub rss: RssFigures,
    pub collector: CollectorLoss,
    pub stalled: StalledFigures,
}

/// The `--memory` load.
pub fn memory_load() -> SimConfig {
    SimConfig {
        rate: 100_000.0,
        workers: 400,
        service: ServiceDist::Exp { mean_ns: 2 * MILLIS },
        seed: 1,
        ..SimConfig::default()
    }
}

/// Runs the live pipeline for `minutes` with a stalled subscriber and samples RSS.
pub fn memory(minutes: f64) -> anyhow::Result<MemoryReport> {
    let mut machine = machine();
    let cpu_before = CpuTicks::now();
    let command = command_line();
    let date = date_now();
    let total = Duration::from_secs_f64(minutes * 60.0);
    let reference_at = Duration::from_secs(60).min(total / 2);
    let every = (total / 60).clamp(Duration::from_millis(100), Duration::from_secs(10));
    let sim = memory_load();

    let clock = Clock::start();
    let (publisher, broadcaster) = broadcast::channel(BroadcastConfig::default(), clock.clone());
    let collector = Collector::spawn(&broadcaster, run::collector_options(false)).context("collector")?;
    let mut opts = PipelineOptions::new(sim, Pace::RealTime);
    opts.duration = Some(total.as_nanos() as Nanos);
    let started = Instant::now();
    let pipeline = Pipeline::start(opts, publisher, clock).context("pipeline")?;
    progress(&format!(
        "memory: {minutes} min of the live pipeline at 100,000 requests/s"
    ));

    let stalled_opts = SubscribeOptions::new("stalled").capacity(SLOW_CAPACITY);
    let mut stalled = broadcaster.subscribe_with(stalled_opts.clone());
    let (mut evictions, mut stalled_dropped) = (0u64, 0u64);
    let mut samples = Vec::new();
    let mut reference = None;
    let mut next_sample = every;
    // Every sample is taken while the pipeline still runs (once it ends, it
    // frees its state and the figure would flatter the run).
    let end_at = total.saturating_sub((total / 20).min(Duration::from_secs(1)));
    let mut end = None;
    while !pipeline.is_finished() {
        std::thread::sleep(Duration::from_millis(50));
        if pipeline.is_finished() {
            break;
        }
        let now = started.elapsed();
        let s = stalled.stats();
        if s.state == broadcast::SubscriberState::Evicted {
            // Receiving now only discards what was left (counted as dropped).
            let _ = stalled.try_recv();
            evictions += 1;
            stalled_dropped += stalled.stats().dropped;
            stalled = broadcaster.subscribe_with(stalled_opts.clone());
        }
        if reference.is_none() && now >= reference_at {
            let r = RssSample {
                t_s: now.as_secs_f64(),
                rss_mib: mib(rss_bytes()),
            };
            reference = Some(r);
            samples.push(r);
        }
        if now >= next_sample && now < end_at {
            samples.push(RssSample {
                t_s: now.as_secs_f64(),
                rss_mib: mib(rss_bytes()),
            });
            next_sample += every;
        }
        if end.is_none() && now >= end_at {
            let e = RssSample {
                t_s: now.as_secs_f64(),
                rss_mib: mib(rss_bytes()),
            };
            end = Some(e);
            samples.push(e);
        }
    }
    samples.dedup_by(|a, b| a.t_s == b.t_s);
    let report = pipeline.join();
    let snapshot = collector.join();
    let elapsed = started.elapsed();
    stalled_dropped += stalled.stats().dropped;
    drop(stalled);
    let cpu_after = CpuTicks::now();
    machine.others_cpus = cpu_before.zip(cpu_after).map(|(a, b)| b.others_cpus_since(&a));
    let cpu_cores = cpu_before.zip(cpu_after).and_then(|(a, b)| {
        let total = b.total.saturating_sub(a.total);
        (total > 0).then(|| b.ours.saturating_sub(a.ours) as f64 / total as f64 * b.cpus as f64)
    });

    let reference = reference.context("the run ended before its reference sample")?;
    let end = end.context("the run ended before its end sample")?;
    let max_mib = samples
        .iter()
        .filter(|s| s.t_s >= reference.t_s)
        .map(|s| s.rss_mib)
        .fold(0.0, f64::max);
    let end_over = end.rss_mib / reference.rss_mib;
    let stats = broadcaster.stats();
    let col = stats.iter().find(|s| s.name == "collector");
    let simulated_s = report.simulated_ns as f64 / SECONDS as f64;
    Ok(MemoryReport {
        schema: MEMORY_SCHEMA,
        machine,
        build: build(),
        command,
        date,
        load: MemoryLoad {
            rate: sim.rate,
            workers: sim.workers,
            service: crate::parse::dist_text(&sim.service),
            seed: sim.seed,
        },
        minutes,
        elapsed_s: elapsed.as_secs_f64(),
        simulated_s,
        arrived: snapshot.totals.arrived,
        arrival_rate: snapshot.totals.arrived as f64 / simulated_s.max(1e-9),
        events_published: broadcaster.publisher_stats().events,
        cpu_cores,
        rss: RssFigures {
            reference_at_s: reference.t_s,
            reference_mib: reference.rss_mib,
            end_at_s: end.t_s,
            end_mib: end.rss_mib,
            max_mib,
            end_over_reference: end_over,
            within_10pct: (end_over - 1.0).abs() <= 0.10,
            samples,
        },
        collector: CollectorLoss {
            dropped: col.map_or(0, |c| c.dropped),
            lost_events: snapshot.lost_events,
            evictions: col.map_or(0, |c| c.evictions),
        },
        stalled: StalledFigures {
            evictions,
            dropped: stalled_dropped,
        },
    })
}

impl MemoryReport {
    pub fn table(&self) -> String {
        let mut o = String::new();
        header(
            &mut o,
            "fantop bench --memory",
            &self.machine,
            self.build,
            &self.command,
            &self.date,
        );
        let l = &self.load;
        let _ = writeln!(
            o,
            "\nlive pipeline, real time: rate {}/s, {} workers, {}, seed {}; {} min\n   \
             plus one stalled subscriber (capacity {SLOW_CAPACITY} events, never receives; re-subscribes \
             after each eviction)",
            l.rate, l.workers, l.service, l.seed, self.minutes
        );
        let r = &self.rss;
        let mut rows = vec![["", "t", "VmRSS"].map(String::from).to_vec()];
        let pick = |label: &str, s: &RssSample| {
            vec![
                label.to_string(),
                format!("{:.0} s", s.t_s),
                format!("{:.1} MiB", s.rss_mib),
            ]
        };
        if let Some(first) = r.samples.first() {
            rows.push(pick("first sample", first));
        }
        rows.push(vec![
            "reference".into(),
            format!("{:.0} s", r.reference_at_s),
            format!("{:.1} MiB", r.reference_mib),
        ]);
        rows.push(vec![
            "max after reference".into(),
            String::new(),
            format!("{:.1} MiB", r.max_mib),
        ]);
        rows.push(vec![
            "end".into(),
            format!("{:.0} s", r.end_at_s),
            format!("{:.1} MiB", r.end_mib),
        ]);
        o.push_str(&columns(&rows, &[1, 2]));
        let _ = writeln!(
            o,
            "   end / reference: {:.3} ({:+.1}%) — target within 10%: {}",
            r.end_over_reference,
            (r.end_over_reference - 1.0) * 100.0,
            if r.within_10pct { "MET" } else { "MISSED" }
        );
        // At most about 20 samples shown (all are in the JSON), the last always.
        let step = r.samples.len().div_ceil(20).max(1);
        let line: Vec<String> = r
            .samples
            .iter()
            .enumerate()
            .filter(|(i, _)| i % step == 0 || *i + 1 == r.samples.len())
            .map(|(_, s)| format!("{:.0}s {:.1}", s.t_s, s.rss_mib))
            .collect();
        let _ = writeln!(
            o,
            "{}",
            wrap(&format!("samples (MiB): {}", line.join(", ")), 100, "   ", "   ")
        );
        let _ = writeln!(
            o,
            "\n   ran {:.1} s of wall time for {:.1} s simulated: {} requests arrived ({:.0}/s), {} events published; \
             this process used {} CPUs",
            self.elapsed_s,
            self.simulated_s,
            crate::format::count(self.arrived),
            self.arrival_rate,
            crate::format::count(self.events_published),
            self.cpu_cores.map_or("?".into(), |c| format!("{c:.2}")),
        );
        let c = &self.collector;
        let _ = writeln!(
            o,
            "   collector: dropped {}, lost {}, evicted {} times — {}",
            c.dropped,
            c.lost_events,
            c.evictions,
            if c.dropped == 0 && c.lost_events == 0 && c.evictions == 0 {
                "lost nothing"
            } else {
                "LOST EVENTS"
            }
        );
        let _ = writeln!(
            o,
            "   stalled subscriber: evicted {} times, {} events dropped in all",
            self.stalled.evictions,
            crate::format::count(self.stalled.dropped)
        );
        o
    }
}
