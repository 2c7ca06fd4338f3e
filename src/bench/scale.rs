//! `fantop bench --scale` and `fantop bench --memory`: the broadcaster's
//! latency, isolation, scaling and memory, measured on this machine, each
//! figure next to a baseline measured in the same run.
//!
//! # `--scale` sections
//!
//! 1. **latency** — publish→receive time per event at a steady 100,000
//!    events/s to 4 subscribers, each drained by its own thread blocking in
//!    `recv`. A publisher thread paces itself (spin, then yield) to each
//!    event's due time, stamps the publish instant into the event (`t`, on a
//!    shared [`Clock::start`] clock), publishes it and calls `tick()` every
//!    loop. A receiver reads the clock once per batch it receives and
//!    records `now − t` for each event of the batch into an HdrHistogram.
//!    Variants: fantop unbatched (`max_batch` 1, a flush per event); fantop
//!    batches of 64 with the default age flush (50 µs); fantop batches of 64 without
//!    an age flush (size only); and the baseline, a crossbeam `bounded`
//!    channel per subscriber with each `Event` sent on its own. The first
//!    tenth of each run is a warm-up and not recorded. Two rounds of all
//!    four (one with `--quick`), merged per variant.
//! 2. **stalled subscriber** — 16 subscribers at 250,000 events/s (default
//!    broadcaster settings, `tick()` every loop), the publisher's cost per
//!    publishing call that flushed (timed per call), with all 16 drained
//!    against 15 drained and one that never receives (capacity 4,096
//!    events, so it lags within milliseconds and the default policy evicts
//!    it 2 s later). The healthy subscribers are drained by one thread,
//!    round-robin with `try_recv`; their drops are reported (they must be 0).
//! 3. **scale** — publisher cost per event (time in the publishing loop's
//!    iterations that published or flushed, over events published) and the
//!    process's resident memory, against the subscriber count (1 … 10,000 at
//!    100,000 events/s) and the event rate (10k … 1M events/s with 16).
//!    Default broadcaster settings and `tick()` every loop, so batches are
//!    as large as the age flush or the publisher's own lateness makes them
//!    (the mean batch is reported). Subscribers are drained by
//!    `cpus − 1` threads, round-robin with `try_recv`, with the default
//!    queue bound (65,536 events in the shared ring): how far they fell
//!    behind is reported as the backlog, and what they lost by falling a
//!    whole queue behind as dropped — neither changes what a publish costs,
//!    since publishing never touches a subscriber. Also: the cost of one
//!    `tick()` with nothing buffered.
//!
//! # `--memory`
//!
//! The live pipeline ([`Pipeline`](crate::pipeline::Pipeline) in real time, as `fantop --headless`
//! wires it, with the live collector) at 100,000 requests/s (400 workers,
//! `exp:2ms`) for `--minutes` (default 10), plus one stalled subscriber:
//! capacity 4,096 events, never receives; each time the broadcaster evicts
//! it, it subscribes again under the same name (so evictions repeat every
//! ~2 s for the whole run). The resident set (VmRSS) is sampled every 10 s;
//! the reference is the sample at 1 minute (or half the run, if shorter),
//! and the target is the sample at the end within 10% of it. The collector
//! must lose nothing.
//!
//! # JSON (`--json`)
//!
//! ```text
//! --scale: {
//!   "schema": "fantop-bench-scale/1",
//!   "machine": { ...as fantop-bench/1... }, "build": "release" | "debug",
//!   "command": "...", "date": "...", "quick": false, "wall_s": 41.2,
//!   "latency": { "rate": 100000.0, "subscribers": 4, "seconds": 2.0, "rounds": 2,
//!     "rows": [ { "variant": "crossbeam_unbatched" | "fantop_unbatched" | "fantop_batch64_age"
//!                            | "fantop_batch64_size_only",
//!                 "max_batch": 1, "max_batch_age_us": null | 100.0, "events": 180000,
//!                 "achieved_rate": 99998.0, "mean_batch": 1.0, "lost": 0,
//!                 "p50_us": 2.1, "p99_us": 9.0, "p999_us": 30.0, "max_us": 80.0,
//!                 "newest_p50_us": 2.1, "newest_p99_us": 9.0,   // per batch: receive − newest event's publish
//!                 "p50_ratio": 1.0, "p99_ratio": 1.0, "p999_ratio": 1.0 } ],   // over the baseline row
//!     "targets": [ { "what": "...", "value_us": 40.0, "target_us": 60.0, "met": true } ] },
//!   "stalled": { "subscribers": 16, "rate": 250000.0, "seconds": 3.0, "repetitions": 3,
//!     "stalled_capacity": 4096,
//!     "rows": [ { "case": "all_healthy" | "one_stalled", "flushes": 60000,
//!                 "p50_ns": 900.0, "p99_ns": 3000.0, "p999_ns": 9000.0, "max_ns": 50000.0,
//!                 "p999_ratio": 1.0, "healthy_dropped": 0, "achieved_rate": 249990.0,
//!                 "stalled_dropped": null | 700000, "stalled_evicted_at_s": [ 2.02, ... ] } ],
//!     "target_met": true },
//!   "scale": { "drainers": 1, "capacity": 65536, "dropped": 0, "rss_before_mib": 5.0,
//!     "subscribers": [ ROW ], "rates": [ ROW ] },
//!   "reading": [ "<sentence>", ... ] }
//!   ROW = { "subscribers": 16, "rate": 100000.0, "achieved_rate": 99990.0, "events": 100000,
//!           "mean_batch": 10.2, "ns_per_event": 1200.0, "ns_per_event_subscriber": 75.0,
//!           "ns_per_flush": 12000.0, "max_late_us": 40.0, "publisher_cpu": 0.12,
//!           "idle_tick_ns": 30.0, "rss_subscribed_mib": 0.1, "rss_mib": 7.5, "backlog": 256, "dropped": 0, "ratio": 1.0 }
//!           // ratio: ns_per_event over the first row's
//!
//! --memory: {
//!   "schema": "fantop-bench-memory/1", "machine", "build", "command", "date",
//!   "load": { "rate": 100000.0, "workers": 400, "service": "exp:2ms", "seed": 1 },
//!   "minutes": 10.0, "elapsed_s": 600.1, "simulated_s": 600.0, "arrived": 60000000,
//!   "arrival_rate": 100001.0, "events_published": 240000000, "cpu_cores": 0.6,
//!   "rss": { "reference_at_s": 60.0, "reference_mib": 9.0, "end_at_s": 599.0, "end_mib": 9.1, "max_mib": 9.3,
//!            "end_over_reference": 1.01, "within_10pct": true,
//!            "samples": [ { "t_s": 10.0, "rss_mib": 8.0 } ] },
//!   "collector": { "dropped": 0, "lost_events": 0, "evictions": 0 },
//!   "stalled": { "evictions": 290, "dropped": 1000000 } }
//! ```

use std::fmt::Write as _;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use crossbeam_channel::{Receiver, Sender};
use hdrhistogram::Histogram;
use serde::Serialize;

use super::report::*;
use crate::broadcast::{self, BroadcastConfig, SubscribeOptions, Subscription};
use crate::clock::Clock;
use crate::event::{Event, EventKind, MICROS, Nanos, SECONDS};
use crate::session::slow::SLOW_CAPACITY;

pub const SCALE_SCHEMA: &str = "fantop-bench-scale/1";

// ---------------------------------------------------------------------------
// --scale

/// Section 1: events per second, subscribers, and the issue's targets.
pub const LATENCY_RATE: f64 = 100_000.0;
pub const LATENCY_SUBSCRIBERS: usize = 4;
pub const LATENCY_BATCH: usize = 64;
/// The broadcaster's default age flush.
pub const LATENCY_AGE: Nanos = broadcast::DEFAULT_MAX_BATCH_AGE;
const TARGET_AGE_P50_US: f64 = 60.0;
const TARGET_AGE_P99_US: f64 = 150.0;
const TARGET_UNBATCHED_P50_US: f64 = 3.0;
/// Section 2.
pub const STALL_SUBSCRIBERS: usize = 16;
pub const STALL_RATE: f64 = 250_000.0;
/// Section 3.
pub const SCALE_SUBSCRIBERS: [usize; 5] = [1, 10, 100, 1_000, 10_000];
pub const SCALE_RATE: f64 = 100_000.0;
pub const SCALE_RATES: [f64; 3] = [10_000.0, 100_000.0, 1_000_000.0];
pub const RATE_SUBSCRIBERS: usize = 16;

/// How long each part runs.
#[derive(Clone, Debug)]
struct ScalePlan {
    latency: Duration,
    /// Rounds of every latency variant, merged.
    latency_reps: usize,
    stall: Duration,
    /// Alternating runs of each stall case, merged.
    stall_reps: usize,
    scale: Duration,
    subscribers: Vec<usize>,
}

impl ScalePlan {
    fn new(quick: bool) -> ScalePlan {
        if quick {
            ScalePlan {
                latency: Duration::from_millis(200),
                latency_reps: 1,
                stall: Duration::from_millis(300),
                stall_reps: 1,
                scale: Duration::from_millis(100),
                subscribers: vec![1, 10, 100],
            }
        } else {
            ScalePlan {
                latency: Duration::from_secs(2),
                latency_reps: 2,
                // The default policy evicts after 2 s of losing (at most
                // 2.25 s after the first drop).
                stall: Duration::from_secs(3),
                stall_reps: 3,
                scale: Duration::from_secs(2),
                subscribers: SCALE_SUBSCRIBERS.to_vec(),
            }
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct LatencyRow {
    pub variant: &'static str,
    pub max_batch: usize,
    pub max_batch_age_us: Option<f64>,
    /// Events recorded (after the warm-up) over all subscribers.
    pub events: u64,
    pub achieved_rate: f64,
    pub mean_batch: f64,
    /// Events dropped or refused (must be 0).
    pub lost: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    /// Per batch: receive time − its newest event's publish time (the
    /// flush-to-receive time plus at most one event gap): the part of the
    /// latency that is not waiting in the publisher's buffer.
    pub newest_p50_us: f64,
    pub newest_p99_us: f64,
    pub p50_ratio: f64,
    pub p99_ratio: f64,
    pub p999_ratio: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Target {
    pub what: String,
    pub value_us: f64,
    pub target_us: f64,
    pub met: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Latency {
    pub rate: f64,
    pub subscribers: usize,
    /// Of each run.
    pub seconds: f64,
    /// Runs of each variant, merged.
    pub rounds: usize,
    pub rows: Vec<LatencyRow>,
    pub targets: Vec<Target>,
}

#[derive(Clone, Debug, Serialize)]
pub struct StallRow {
    pub case: &'static str,
    /// Publishing calls that flushed, over all repetitions.
    pub flushes: u64,
    pub p50_ns: f64,
    pub p99_ns: f64,
    pub p999_ns: f64,
    pub max_ns: f64,
    /// p99.9 over the all-healthy case's.
    pub p999_ratio: f64,
    pub achieved_rate: f64,
    /// Drops of the subscribers that kept receiving (must be 0).
    pub healthy_dropped: u64,
    pub stalled_dropped: Option<u64>,
    /// Seconds into each run when the stalled one was evicted (one per repetition).
    pub stalled_evicted_at_s: Vec<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Stalled {
    pub subscribers: usize,
    pub rate: f64,
    pub seconds: f64,
    pub repetitions: usize,
    pub stalled_capacity: usize,
    pub rows: Vec<StallRow>,
    pub target_met: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct ScaleRow {
    pub subscribers: usize,
    pub rate: f64,
    pub achieved_rate: f64,
    pub events: u64,
    pub mean_batch: f64,
    pub ns_per_event: f64,
    pub ns_per_event_subscriber: f64,
    /// The cost of one flush (one batch to every subscriber): `ns_per_event`
    /// × `mean_batch`.
    pub ns_per_flush: f64,
    /// How late the publisher got: the most an event was published after its
    /// due time.
    pub max_late_us: f64,
    /// Share of the run's wall time the publisher spent publishing (1.0 = a whole CPU).
    pub publisher_cpu: f64,
    /// One `tick()` with nothing buffered.
    pub idle_tick_ns: f64,
    /// VmRSS growth from creating the broadcaster and subscribing, once the
    /// joins were drained (memory freed by earlier rows may be reused, so
    /// this can understate).
    pub rss_subscribed_mib: f64,
    /// VmRSS when publishing ended (the whole process).
    pub rss_mib: f64,
    /// The most events queued for one subscriber when publishing ended (how
    /// far the drainers were behind).
    pub backlog: u64,
    /// Events the drainers lost by falling a whole queue behind (it does not
    /// change what publishing costs).
    pub dropped: u64,
    /// `ns_per_event` over the first row's.
    pub ratio: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Scale {
    pub drainers: usize,
    /// Every subscriber's queue bound (the default).
    pub capacity: usize,
    pub dropped: u64,
    pub rss_before_mib: f64,
    pub subscribers: Vec<ScaleRow>,
    pub rates: Vec<ScaleRow>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ScaleReport {
    pub schema: &'static str,
    pub machine: Machine,
    pub build: &'static str,
    pub command: String,
    pub date: String,
    pub quick: bool,
    pub wall_s: f64,
    pub latency: Latency,
    pub stalled: Stalled,
    pub scale: Scale,
    pub reading: Vec<String>,
}

/// Measures the three `--scale` sections.
pub fn measure_scale(quick: bool) -> anyhow::Result<ScaleReport> {
    let plan = ScalePlan::new(quick);
    let started = Instant::now();
    let mut machine = machine();
    let cpu_before = CpuTicks::now();
    let command = command_line();
    let date = date_now();
    progress("latency");
    let latency = latency(&plan)?;
    progress("stalled subscriber");
    let stalled = stalled(&plan)?;
    progress("scale");
    let scale = scale(&plan)?;
    machine.others_cpus = cpu_before.zip(CpuTicks::now()).map(|(a, b)| b.others_cpus_since(&a));
    let mut r = ScaleReport {
        schema: SCALE_SCHEMA,
        machine,
        build: build(),
        command,
        date,
        quick,
        wall_s: started.elapsed().as_secs_f64(),
        latency,
        stalled,
        scale,
        reading: Vec::new(),
    };
    r.reading = scale_reading(&r);
    Ok(r)
}

/// Waits a little without giving up the CPU for long.
fn pause() {
    for _ in 0..16 {
        std::hint::spin_loop();
    }
    thread::yield_now();
}

/// Events due by now at `rate` since `start` (the first is due at once), at most `total`.
fn due(start: Instant, rate: f64, total: u64) -> u64 {
    ((start.elapsed().as_nanos() as f64 * rate / 1e9) as u64 + 1).min(total)
}

fn arrival(i: u64, t: Nanos) -> Event {
    Event::new(t, EventKind::RequestArrived { id: i })
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60 * SECONDS, 3).expect("valid histogram bounds")
}

fn quantile_us(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1e3
}

// 1. latency --------------------------------------------------------------

struct LatencyRun {
    hist: Hists,
    achieved_rate: f64,
    mean_batch: f64,
    lost: u64,
}

/// What one receiver measured.
struct Hists {
    /// Per event: receive time − publish time.
    event: Histogram<u64>,
    /// Per batch received: receive time − the newest event's publish time
    /// (the flush-to-receive time, plus at most one event gap).
    newest: Histogram<u64>,
}

impl Hists {
    fn new() -> Hists {
        Hists {
            event: histogram(),
            newest: histogram(),
        }
    }

    /// Records one received batch; arrivals before `warm` are not recorded.
    fn batch<'a>(&mut self, now: Nanos, events: impl IntoIterator<Item = &'a Event>, warm: u64) {
        let mut newest = None;
        for e in events {
            if let EventKind::RequestArrived { id } = e.kind
                && id >= warm
            {
                self.event.saturating_record(now.saturating_sub(e.t).max(1));
                newest = newest.max(Some(e.t));
            }
        }
        if let Some(t) = newest {
            self.newest.saturating_record(now.saturating_sub(t).max(1));
        }
    }

    fn add(&mut self, other: &Hists) {
        self.event.add(&other.event).expect("same bounds");
        self.newest.add(&other.newest).expect("same bounds");
    }
}

/// A subscriber's own thread: blocks in `recv`, reads the clock once per
/// batch, records every arrival past the warm-up.
fn fantop_receiver(sub: Subscription<Event>, clock: Clock, warm: u64) -> JoinHandle<Hists> {
    thread::spawn(move || {
        let mut h = Hists::new();
        while let Ok(batch) = sub.recv() {
            h.batch(clock.now(), batch.iter(), warm);
        }
        h
    })
}

fn crossbeam_receiver(rx: Receiver<Event>, clock: Clock, warm: u64) -> JoinHandle<Hists> {
    thread::spawn(move || {
        let mut h = Hists::new();
        while let Ok(e) = rx.recv() {
            h.batch(clock.now(), [&e], warm);
        }
        h
    })
}

fn merge(handles: Vec<JoinHandle<Hists>>) -> Hists {
    let mut all = Hists::new();
    for h in handles {
        all.add(&h.join().expect("receiver thread"));
    }
    all
}

/// What the publishing loop does next.
enum Step {
    Publish(Event),
    Tick,
}

/// Publishes `total` arrivals at `rate`, each stamped with the clock at its
/// publish, with a `Tick` every loop. Returns the achieved rate.
fn paced(total: u64, rate: f64, clock: &Clock, mut step: impl FnMut(Step)) -> f64 {
    let start = Instant::now();
    let mut i = 0;
    while i < total {
        let due = due(start, rate, total);
        if i == due {
            step(Step::Tick);
            pause();
            continue;
        }
        while i < due {
            step(Step::Publish(arrival(i, clock.now())));
            i += 1;
        }
        step(Step::Tick);
    }
    total as f64 / start.elapsed().as_secs_f64()
}

fn latency_fantop(plan: &ScalePlan, max_batch: usize, age: Option<Nanos>) -> LatencyRun {
    let total = (LATENCY_RATE * plan.latency.as_secs_f64()) as u64;
    let clock = Clock::start();
    let config = BroadcastConfig {
        max_batch,
        max_batch_age: age.unwrap_or(Nanos::MAX),
        ..BroadcastConfig::default()
    };
    let (mut publisher, broadcaster) = broadcast::channel(config, clock.clone());
    let subs: Vec<Subscription<Event>> = (0..LATENCY_SUBSCRIBERS)
        .map(|i| broadcaster.subscribe(format!("latency{i}")))
        .collect();
    publisher.tick();
    let handles: Vec<_> = subs
        .into_iter()
        .map(|s| fantop_receiver(s, clock.clone(), total / 10))
        .collect();
    let achieved_rate = paced(total, LATENCY_RATE, &clock, |step| match step {
        Step::Publish(e) => publisher.publish(e),
        Step::Tick => publisher.tick(),
    });
    let stats = broadcaster.publisher_stats();
    publisher.close();
    let hist = merge(handles);
    let lost = broadcaster
        .stats()
        .iter()
        .map(|s| s.dropped + u64::from(s.evictions))
        .sum();
    LatencyRun {
        hist,
        achieved_rate,
        mean_batch: stats.events as f64 / stats.batches.max(1) as f64,
        lost,
    }
}

fn latency_crossbeam(plan: &ScalePlan) -> LatencyRun {
    let total = (LATENCY_RATE * plan.latency.as_secs_f64()) as u64;
    let clock = Clock::start();
    let cap = (total as usize).clamp(1, broadcast::DEFAULT_SUBSCRIBER_CAPACITY);
    let (txs, rxs): (Vec<Sender<Event>>, Vec<Receiver<Event>>) = (0..LATENCY_SUBSCRIBERS)
        .map(|_| crossbeam_channel::bounded(cap))
        .unzip();
    // A bounded channel is one array allocated up front: fill and empty it
    // once, so its pages are not first touched (faulted in) while measuring.
    for (tx, rx) in txs.iter().zip(&rxs) {
        while tx.try_send(arrival(u64::MAX, 0)).is_ok() {}
        while rx.try_recv().is_ok() {}
    }
    let handles: Vec<_> = rxs
        .into_iter()
        .map(|rx| crossbeam_receiver(rx, clock.clone(), total / 10))
        .collect();
    let mut refused = 0;
    let achieved_rate = paced(total, LATENCY_RATE, &clock, |step| {
        if let Step::Publish(e) = step {
            for tx in &txs {
                if tx.try_send(e).is_err() {
                    refused += 1;
                }
            }
        }
    });
    drop(txs);
    let hist = merge(handles);
    LatencyRun {
        hist,
        achieved_rate,
        mean_batch: 1.0,
        lost: refused,
    }
}

fn latency(plan: &ScalePlan) -> anyhow::Result<Latency> {
    let variants: [(&'static str, usize, Option<Nanos>); 4] = [
        ("crossbeam_unbatched", 1, None),
        ("fantop_unbatched", 1, None),
        ("fantop_batch64_age", LATENCY_BATCH, Some(LATENCY_AGE)),
        ("fantop_batch64_size_only", LATENCY_BATCH, None),
    ];
    // Every variant once per round, the rounds merged: a change in the
    // machine's load hits every variant alike.
    let mut runs: Vec<Vec<LatencyRun>> = variants.iter().map(|_| Vec::new()).collect();
    for _ in 0..plan.latency_reps {
        for ((variant, max_batch, age), runs) in variants.iter().zip(runs.iter_mut()) {
            runs.push(if variant.starts_with("crossbeam") {
                latency_crossbeam(plan)
            } else {
                latency_fantop(plan, *max_batch, *age)
            });
        }
    }
    let mut rows: Vec<LatencyRow> = Vec::new();
    for ((variant, max_batch, age), run) in variants.into_iter().zip(runs) {
        ensure!(!run.is_empty(), "no latency round ran");
        let rounds = run.len() as f64;
        let run = run.into_iter().reduce(|mut m, r| {
            m.hist.add(&r.hist);
            m.lost += r.lost;
            m.achieved_rate += r.achieved_rate;
            m.mean_batch += r.mean_batch;
            m
        });
        let mut run = run.context("no latency round ran")?;
        // Means over the rounds.
        run.achieved_rate /= rounds;
        run.mean_batch /= rounds;
        ensure!(
            run.lost == 0,
            "{variant}: {} events dropped or refused while measuring latency: figures would be invalid",
            run.lost
        );
        let h = &run.hist.event;
        ensure!(!h.is_empty(), "{variant}: no latency recorded");
        let newest = &run.hist.newest;
        let (p50, p99, p999) = (quantile_us(h, 0.5), quantile_us(h, 0.99), quantile_us(h, 0.999));
        let base = rows.first();
        let ratio = |v: f64, b: Option<f64>| b.map_or(1.0, |b| v / b);
        rows.push(LatencyRow {
            variant,
            max_batch,
            max_batch_age_us: age.map(|a| a as f64 / 1e3),
            events: h.len(),
            achieved_rate: run.achieved_rate,
            mean_batch: run.mean_batch,
            lost: run.lost,
            p50_us: p50,
            p99_us: p99,
            p999_us: p999,
            max_us: h.max() as f64 / 1e3,
            newest_p50_us: quantile_us(newest, 0.5),
            newest_p99_us: quantile_us(newest, 0.99),
            p50_ratio: ratio(p50, base.map(|b| b.p50_us)),
            p99_ratio: ratio(p99, base.map(|b| b.p99_us)),
            p999_ratio: ratio(p999, base.map(|b| b.p999_us)),
        });
    }
    let row = |v: &str| rows.iter().find(|r| r.variant == v).expect("measured");
    let (age, unbatched) = (row("fantop_batch64_age"), row("fantop_unbatched"));
    let target = |what: &str, value_us: f64, target_us: f64| Target {
        what: what.to_string(),
        value_us,
        target_us,
        met: value_us <= target_us,
    };
    let targets = vec![
        target("batched with age flush: p50", age.p50_us, TARGET_AGE_P50_US),
        target("batched with age flush: p99", age.p99_us, TARGET_AGE_P99_US),
        target("unbatched: p50", unbatched.p50_us, TARGET_UNBATCHED_P50_US),
    ];
    Ok(Latency {
        rate: LATENCY_RATE,
        subscribers: LATENCY_SUBSCRIBERS,
        seconds: plan.latency.as_secs_f64(),
        rounds: plan.latency_reps,
        rows,
        targets,
    })
}

// 2. stalled subscriber ----------------------------------------------------

/// Threads that drain `subs` round-robin with `try_recv` until each ends;
/// each returns the drops (and evictions) of the subscriptions it drained.
fn drain_threads(subs: Vec<Subscription<Event>>, threads: usize) -> Vec<JoinHandle<u64>> {
    let threads = threads.clamp(1, subs.len().max(1));
    let mut groups: Vec<Vec<Subscription<Event>>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, s) in subs.into_iter().enumerate() {
        groups[i % threads].push(s);
    }
    groups
        .into_iter()
        .map(|group| {
            thread::spawn(move || {
                let mut open = vec![true; group.len()];
                let mut left = group.len();
                while left > 0 {
                    let mut n = 0;
                    for (s, open) in group.iter().zip(open.iter_mut()) {
                        if !*open {
                            continue;
                        }
                        match s.drain(crate::bench::baseline::consume) {
                            Ok(k) => n += k,
                            Err(_) => {
                                *open = false;
                                left -= 1;
                            }
                        }
                    }
                    if n == 0 {
                        thread::yield_now();
                    }
                }
                group
                    .iter()
                    .map(|s| {
                        let st = s.stats();
                        st.dropped + u64::from(st.evictions)
                    })
                    .sum()
            })
        })
        .collect()
}

fn join_drops(handles: Vec<JoinHandle<u64>>) -> u64 {
    handles.into_iter().map(|h| h.join().expect("drainer thread")).sum()
}

struct StallRun {
    hist: Histogram<u64>,
    achieved_rate: f64,
    healthy_dropped: u64,
    stalled_dropped: Option<u64>,
    evicted_at: Option<f64>,
}

/// One run of the stall section: the publisher's cost of each publishing
/// call that flushed.
fn stall_once(plan: &ScalePlan, stall: bool) -> StallRun {
    let total = (STALL_RATE * plan.stall.as_secs_f64()) as u64;
    let gap = 1e9 / STALL_RATE;
    let (mut publisher, broadcaster) = broadcast::channel(BroadcastConfig::default(), Clock::start());
    let healthy = STALL_SUBSCRIBERS - usize::from(stall);
    let subs: Vec<Subscription<Event>> = (0..healthy)
        .map(|i| broadcaster.subscribe(format!("healthy{i}")))
        .collect();
    let stalled = stall.then(|| broadcaster.subscribe_with(SubscribeOptions::new("stalled").capacity(SLOW_CAPACITY)));
    publisher.tick();
    let drainers = drain_threads(subs, 1);
    let mut hist = histogram();
    let batches = || broadcaster.publisher_stats().batches;
    let mut timed = |publisher: &mut broadcast::Publisher<Event>, step: Step| {
        let before = batches();
        let t0 = Instant::now();
        match step {
            Step::Publish(e) => publisher.publish(e),
            Step::Tick => publisher.tick(),
        }
        let took = t0.elapsed().as_nanos() as u64;
        if batches() != before {
            hist.saturating_record(took.max(1));
        }
    };
    let subscribed = publisher.subscriber_count();
    let mut evicted_at = None;
    let start = Instant::now();
    let mut i = 0;
    while i < total {
        let due = due(start, STALL_RATE, total);
        let idle = i == due;
        while i < due {
            timed(&mut publisher, Step::Publish(arrival(i, (i as f64 * gap) as Nanos)));
            i += 1;
        }
        timed(&mut publisher, Step::Tick);
        if evicted_at.is_none() && publisher.subscriber_count() < subscribed {
            evicted_at = Some(start.elapsed().as_secs_f64());
        }
        if idle {
            pause();
        }
    }
    let achieved_rate = total as f64 / start.elapsed().as_secs_f64();
    publisher.close();
    let healthy_dropped = join_drops(drainers);
    StallRun {
        hist,
        achieved_rate,
        healthy_dropped,
        stalled_dropped: stalled.map(|s| s.stats().dropped),
        evicted_at,
    }
}

/// The runs of one stall case, merged.
struct StallCase {
    stall: bool,
    hist: Histogram<u64>,
    rates: Vec<f64>,
    healthy_dropped: u64,
    stalled_dropped: u64,
    evicted: Vec<f64>,
}

impl StallCase {
    fn new(stall: bool) -> StallCase {
        StallCase {
            stall,
            hist: histogram(),
            rates: Vec::new(),
            healthy_dropped: 0,
            stalled_dropped: 0,
            evicted: Vec::new(),
        }
    }

    fn add(&mut self, run: StallRun) {
        self.hist.add(&run.hist).expect("same bounds");
        self.rates.push(run.achieved_rate);
        self.healthy_dropped += run.healthy_dropped;
        self.stalled_dropped += run.stalled_dropped.unwrap_or(0);
        self.evicted.extend(run.evicted_at);
    }
}

fn stalled(plan: &ScalePlan) -> anyhow::Result<Stalled> {
    let mut cases = [StallCase::new(false), StallCase::new(true)];
    // Alternating, so a change in the machine's load hits both cases alike.
    for _ in 0..plan.stall_reps {
        for case in cases.iter_mut() {
            case.add(stall_once(plan, case.stall));
        }
    }
    let mut rows: Vec<StallRow> = Vec::new();
    for StallCase {
        stall,
        hist,
        rates,
        healthy_dropped,
        stalled_dropped,
        evicted,
    } in cases
    {
        ensure!(!hist.is_empty(), "no flush was timed");
        let p999 = hist.value_at_quantile(0.999) as f64;
        rows.push(StallRow {
            case: if stall { "one_stalled" } else { "all_healthy" },
            flushes: hist.len(),
            p50_ns: hist.value_at_quantile(0.5) as f64,
            p99_ns: hist.value_at_quantile(0.99) as f64,
            p999_ns: p999,
            max_ns: hist.max() as f64,
            p999_ratio: rows.first().map_or(1.0, |b| p999 / b.p999_ns),
            achieved_rate: Spread::of(rates).median,
            healthy_dropped,
            stalled_dropped: stall.then_some(stalled_dropped),
            stalled_evicted_at_s: evicted,
        });
    }
    let target_met = rows[1].p999_ratio <= 2.0;
    Ok(Stalled {
        subscribers: STALL_SUBSCRIBERS,
        rate: STALL_RATE,
        seconds: plan.stall.as_secs_f64(),
        repetitions: plan.stall_reps,
        stalled_capacity: SLOW_CAPACITY,
        rows,
        target_met,
    })
}

// 3. scale -----------------------------------------------------------------

/// Drainer threads for the scale section: every CPU but the publisher's.
fn drainer_threads() -> usize {
    thread::available_parallelism()
        .map_or(1, |n| n.get())
        .saturating_sub(1)
        .max(1)
}

/// One point: `n` subscribers at `rate`; the row without its ratio, and the drops.
fn scale_point(plan: &ScalePlan, n: usize, rate: f64) -> (ScaleRow, u64) {
    let total = ((rate * plan.scale.as_secs_f64()) as u64).max(1);
    let gap = 1e9 / rate;
    // Default settings: the publisher's cost does not depend on how far the
    // drainers fall behind (the backlog), and what they lose is reported.
    let config = BroadcastConfig::default();
    let rss_empty = rss_bytes();
    let (mut publisher, broadcaster) = broadcast::channel(config, Clock::start());
    let subs: Vec<Subscription<Event>> = (0..n).map(|i| broadcaster.subscribe(format!("s{i}"))).collect();
    publisher.tick(); // takes them on (their join notices are not events)
    // The cost of a tick with nothing to flush (a health check over every
    // subscriber is due at most once per interval).
    let ticks = (2_000_000 / n).clamp(100, 100_000);
    let t0 = Instant::now();
    for _ in 0..ticks {
        publisher.tick();
    }
    let idle_tick_ns = t0.elapsed().as_nanos() as f64 / ticks as f64;
    let drainers = drain_threads(subs, drainer_threads());
    // The memory of `n` idle subscriptions: once the joins are drained.
    while broadcaster.stats().iter().any(|s| s.queued > 0) {
        thread::sleep(Duration::from_millis(1));
    }
    let rss_subscribed = rss_bytes();
    let before = broadcaster.publisher_stats();

    let mut busy = Duration::ZERO;
    let mut late: f64 = 0.0;
    let start = Instant::now();
    let mut i = 0;
    while i < total {
        let due = due(start, rate, total);
        let buffered = publisher.buffered();
        let t0 = Instant::now();
        let published = due > i;
        if published {
            late = late.max(t0.duration_since(start).as_nanos() as f64 - i as f64 * gap);
        }
        while i < due {
            publisher.publish(arrival(i, (i as f64 * gap) as Nanos));
            i += 1;
        }
        publisher.tick();
        let took = t0.elapsed();
        if published || publisher.buffered() < buffered {
            busy += took;
        } else {
            pause();
        }
    }
    let wall = start.elapsed();
    let rss = rss_bytes();
    let after = broadcaster.publisher_stats();
    let backlog = broadcaster.stats().iter().map(|s| s.queued).max().unwrap_or(0);
    publisher.close();
    let dropped = join_drops(drainers);
    let ns_per_event = busy.as_nanos() as f64 / total as f64;
    let mean_batch = (after.events - before.events) as f64 / (after.batches - before.batches).max(1) as f64;
    let row = ScaleRow {
        subscribers: n,
        rate,
        achieved_rate: total as f64 / wall.as_secs_f64(),
        events: total,
        mean_batch,
        ns_per_event,
        ns_per_event_subscriber: ns_per_event / n as f64,
        ns_per_flush: ns_per_event * mean_batch,
        max_late_us: late / 1e3,
        publisher_cpu: busy.as_secs_f64() / wall.as_secs_f64(),
        idle_tick_ns,
        rss_subscribed_mib: (rss_subscribed as f64 - rss_empty as f64) / (1024.0 * 1024.0),
        rss_mib: mib(rss),
        backlog,
        dropped,
        ratio: 1.0,
    };
    (row, dropped)
}

fn scale(plan: &ScalePlan) -> anyhow::Result<Scale> {
    let rss_before = rss_bytes();
    let mut dropped = 0;
    let mut sweep = |points: Vec<(usize, f64)>| -> anyhow::Result<Vec<ScaleRow>> {
        let mut rows: Vec<ScaleRow> = Vec::new();
        for (n, rate) in points {
            let (mut row, lost) = scale_point(plan, n, rate);
            dropped += lost;
            row.ratio = rows.first().map_or(1.0, |b| row.ns_per_event / b.ns_per_event);
            rows.push(row);
        }
        Ok(rows)
    };
    // The rates first, then the counts in increasing order: memory freed by
    // a row may be reused by the next, so the largest comes last.
    let rates = sweep(SCALE_RATES.iter().map(|&r| (RATE_SUBSCRIBERS, r)).collect())?;
    let subscribers = sweep(plan.subscribers.iter().map(|&n| (n, SCALE_RATE)).collect())?;
    Ok(Scale {
        drainers: drainer_threads(),
        capacity: broadcast::DEFAULT_SUBSCRIBER_CAPACITY,
        dropped,
        rss_before_mib: mib(rss_before),
        subscribers,
        rates,
    })
}

// The report ----------------------------------------------------------------

fn us(v: f64) -> String {
    format!("{} µs", sig3(v))
}

fn x(v: f64) -> String {
    format!("{}x", sig3(v))
}

fn rate(r: f64) -> String {
    format!("{}/s", fmt_rate(r))
}

fn plural(n: usize) -> String {
    if n == 1 {
        "1 subscriber".into()
    } else {
        format!("{} subscribers", crate::format::count(n as u64))
    }
}

fn met(m: bool) -> &'static str {
    if m { "MET" } else { "MISSED" }
}

fn variant_label(v: &str) -> &'static str {
    match v {
        "crossbeam_unbatched" => "crossbeam bounded, each Event (baseline)",
        "fantop_unbatched" => "fantop unbatched (max_batch 1)",
        "fantop_batch64_age" => "fantop batches of 64, default age flush",
        "fantop_batch64_size_only" => "fantop batches of 64, size only",
        _ => "?",
    }
}

fn scale_rows(rows: &[ScaleRow]) -> String {
    let mut t = vec![
        [
            "subs",
            "rate",
            "achieved",
            "max late",
            "mean batch",
            "ns/event",
            "per flush",
            "publisher CPU",
            "idle tick",
            "RSS of subs",
            "VmRSS end",
            "backlog",
            "dropped",
            "ns/event ratio",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for r in rows {
        t.push(vec![
            crate::format::count(r.subscribers as u64),
            rate(r.rate),
            rate(r.achieved_rate),
            us(r.max_late_us),
            sig3(r.mean_batch),
            fmt_ns(r.ns_per_event),
            fmt_ns(r.ns_per_flush),
            format!("{:.0}%", r.publisher_cpu * 100.0),
            fmt_ns(r.idle_tick_ns),
            format!("{:+.1} MiB", r.rss_subscribed_mib),
            format!("{:.1} MiB", r.rss_mib),
            crate::format::count(r.backlog),
            crate::format::count(r.dropped),
            x(r.ratio),
        ]);
    }
    columns(&t, &(0..14).collect::<Vec<_>>())
}

impl ScaleReport {
    pub fn table(&self) -> String {
        let mut o = String::new();
        header(
            &mut o,
            "fantop bench --scale",
            &self.machine,
            self.build,
            &self.command,
            &self.date,
        );
        let _ = writeln!(o, "wall:    {:.1} s", self.wall_s);

        let l = &self.latency;
        let _ = writeln!(
            o,
            "\n1. publish→receive latency: {} events/s to {} subscribers, each drained by its own thread blocking\n   \
             in recv; receive time − publish time per event (first tenth of each run not recorded); {} round(s)\n   \
             of {} s per variant, merged; ratios are over the baseline's",
            crate::format::count(l.rate as u64),
            l.subscribers,
            l.rounds,
            l.seconds,
        );
        let mut t = vec![
            [
                "variant",
                "rate",
                "mean batch",
                "p50",
                "p99",
                "p99.9",
                "max",
                "p50 ratio",
                "p99 ratio",
                "p99.9 ratio",
                "newest p50",
                "newest p99",
            ]
            .map(String::from)
            .to_vec(),
        ];
        for r in &l.rows {
            t.push(vec![
                variant_label(r.variant).to_string(),
                rate(r.achieved_rate),
                sig3(r.mean_batch),
                us(r.p50_us),
                us(r.p99_us),
                us(r.p999_us),
                us(r.max_us),
                x(r.p50_ratio),
                x(r.p99_ratio),
                x(r.p999_ratio),
                us(r.newest_p50_us),
                us(r.newest_p99_us),
            ]);
        }
        o.push_str(&columns(&t, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]));
        let _ = writeln!(
            o,
            "   (newest: per batch, receive time − its newest event's publish time: the delivery part, without\n   \
             the wait in the publisher's buffer)"
        );
        let _ = writeln!(o, "   issue targets:");
        for tg in &l.targets {
            let _ = writeln!(
                o,
                "     {}: {:.1} µs against ≤ {:.0} µs: {}",
                tg.what,
                tg.value_us,
                tg.target_us,
                met(tg.met)
            );
        }

        let s = &self.stalled;
        let _ = writeln!(
            o,
            "\n2. one stalled subscriber: {} subscribers, {} events/s for {} s, default settings (max_batch {},\n   \
             age flush {} µs); the publisher's time per publishing call that flushed; {} alternating run(s)\n   \
             per case, merged. Healthy subscribers drained by one thread (try_recv, round-robin); the stalled\n   \
             one has capacity {} and never receives",
            s.subscribers,
            crate::format::count(s.rate as u64),
            s.seconds,
            broadcast::DEFAULT_MAX_BATCH,
            broadcast::DEFAULT_MAX_BATCH_AGE / MICROS,
            s.repetitions,
            s.stalled_capacity
        );
        let mut t = vec![
            [
                "case",
                "flushes",
                "rate",
                "p50",
                "p99",
                "p99.9",
                "max",
                "p99.9 ratio",
                "healthy dropped",
                "stalled one",
            ]
            .map(String::from)
            .to_vec(),
        ];
        for r in &s.rows {
            let stalled = match r.stalled_dropped {
                None => "—".to_string(),
                Some(d) => {
                    let at: Vec<String> = r.stalled_evicted_at_s.iter().map(|t| format!("{t:.2}")).collect();
                    if at.is_empty() {
                        format!("dropped {}, not evicted within the run", crate::format::count(d))
                    } else {
                        format!("dropped {}, evicted at {} s", crate::format::count(d), at.join("/"))
                    }
                }
            };
            t.push(vec![
                r.case.replace('_', " "),
                crate::format::count(r.flushes),
                rate(r.achieved_rate),
                fmt_ns(r.p50_ns),
                fmt_ns(r.p99_ns),
                fmt_ns(r.p999_ns),
                fmt_ns(r.max_ns),
                x(r.p999_ratio),
                r.healthy_dropped.to_string(),
                stalled,
            ]);
        }
        o.push_str(&columns(&t, &[1, 2, 3, 4, 5, 6, 7, 8]));
        let _ = writeln!(
            o,
            "   issue target: p99.9 with one stalled within 2x of all healthy: {} ({})",
            met(s.target_met),
            x(s.rows.get(1).map_or(f64::NAN, |r| r.p999_ratio))
        );

        let c = &self.scale;
        let _ = writeln!(
            o,
            "\n3. scale: publisher cost per event (time in the publishing loop's iterations that published or\n   \
             flushed, over events), default settings, tick() every loop; drained by {} thread(s) round-robin\n   \
             (try_recv), reading every event. Queues of {} events in the shared ring; dropped: what drainers\n   \
             that fell a whole queue behind lost ({} in all); backlog: the most events queued for one subscriber\n   \
             when publishing ended. RSS of subs: VmRSS growth\n   \
             from subscribing, once the joins were drained (understated when memory freed by earlier runs is\n   \
             reused). VmRSS before: {:.1} MiB",
            c.drainers,
            crate::format::count(c.capacity as u64),
            crate::format::count(c.dropped),
            c.rss_before_mib
        );
        let _ = writeln!(
            o,
            "   by subscribers, at {} events/s:",
            crate::format::count(SCALE_RATE as u64)
        );
        o.push_str(&scale_rows(&c.subscribers));
        let _ = writeln!(o, "   by event rate, {RATE_SUBSCRIBERS} subscribers:");
        o.push_str(&scale_rows(&c.rates));

        let _ = writeln!(o, "\nreading");
        for line in &self.reading {
            let _ = writeln!(o, "{}", wrap(line, 100, "   - ", "     "));
        }
        o
    }
}

/// Plain-language reading; every number comes from `r`.
fn scale_reading(r: &ScaleReport) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(others) = r.machine.others_cpus.filter(|&o| o >= 0.2) {
        out.push(format!(
            "The machine was shared: other processes kept {others:.2} of its {} CPUs busy on average while this \
             ran; latencies and tails suffer most from that.",
            r.machine.cpus
        ));
    }
    let l = &r.latency;
    let row = |v: &str| l.rows.iter().find(|x| x.variant == v);
    if let (Some(base), Some(unb), Some(age), Some(size)) = (
        row("crossbeam_unbatched"),
        row("fantop_unbatched"),
        row("fantop_batch64_age"),
        row("fantop_batch64_size_only"),
    ) {
        out.push(format!(
            "At {} events/s to {} blocking receivers, a bare crossbeam channel per subscriber delivers in {} \
             (p50; p99 {}). fantop unbatched takes {} ({} the baseline); with batches of 64 and the {} µs age \
             flush {} (p99 {}), batches averaging {} events; without the age flush a batch waits until it is full \
             and the p50 is {}.",
            crate::format::count(l.rate as u64),
            l.subscribers,
            us(base.p50_us),
            us(base.p99_us),
            us(unb.p50_us),
            x(unb.p50_ratio),
            LATENCY_AGE / MICROS,
            us(age.p50_us),
            us(age.p99_us),
            sig3(age.mean_batch),
            us(size.p50_us),
        ));
    }
    if let [healthy, stalled, ..] = r.stalled.rows.as_slice() {
        out.push(format!(
            "With one of {} subscribers stalled, a flush costs {} at p50 and {} at p99.9 against {} and {} with \
             all healthy ({} at p99.9); the healthy ones dropped {} events.",
            r.stalled.subscribers,
            fmt_ns(stalled.p50_ns),
            fmt_ns(stalled.p999_ns),
            fmt_ns(healthy.p50_ns),
            fmt_ns(healthy.p999_ns),
            x(stalled.p999_ratio),
            stalled.healthy_dropped,
        ));
    }
    let rows = &r.scale.subscribers;
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        let saturated = rows
            .iter()
            .find(|x| x.publisher_cpu >= 0.9 || x.achieved_rate < 0.95 * x.rate);
        out.push(format!(
            "From {} to {} subscribers at {} events/s the publisher's cost per event goes from {} to {} ({} the \
             first). A flush costs {} with {} and {} with {}: about {} more per further subscriber. Batches average \
             {} and {} events (the loop publishes what is due, so a publisher that falls behind makes larger \
             batches; it was at most {} late). A tick with nothing to flush costs {} at {} and {} \
             at {}. {}",
            first.subscribers,
            crate::format::count(last.subscribers as u64),
            crate::format::count(SCALE_RATE as u64),
            fmt_ns(first.ns_per_event),
            fmt_ns(last.ns_per_event),
            x(last.ratio),
            fmt_ns(first.ns_per_flush),
            plural(first.subscribers),
            fmt_ns(last.ns_per_flush),
            crate::format::count(last.subscribers as u64),
            fmt_ns((last.ns_per_flush - first.ns_per_flush) / (last.subscribers - first.subscribers).max(1) as f64),
            sig3(first.mean_batch),
            sig3(last.mean_batch),
            us(rows.iter().map(|x| x.max_late_us).fold(0.0, f64::max)),
            fmt_ns(first.idle_tick_ns),
            first.subscribers,
            fmt_ns(last.idle_tick_ns),
            crate::format::count(last.subscribers as u64),
            match saturated {
                Some(s) => format!(
                    "From {} subscribers on, the publisher was busy {:.0}% of the time (a whole CPU is 100%).",
                    crate::format::count(s.subscribers as u64),
                    s.publisher_cpu * 100.0,
                ),
                None => format!(
                    "The publisher kept up at every count (busy at most {:.0}% of the time).",
                    rows.iter().map(|x| x.publisher_cpu).fold(0.0, f64::max) * 100.0
                ),
            }
        ));
        let behind = rows
            .iter()
            .find(|x| x.backlog > 10 * broadcast::DEFAULT_MAX_BATCH as u64);
        let added = if last.rss_subscribed_mib >= 0.05 {
            format!(
                "added {:.1} MiB to the resident set (about {:.0} bytes each)",
                last.rss_subscribed_mib,
                last.rss_subscribed_mib * 1024.0 * 1024.0 / last.subscribers as f64
            )
        } else {
            "added too little to show in the resident set (memory freed by earlier runs is reused)".to_string()
        };
        out.push(format!(
            "Memory: {} idle subscriptions {added}. {}",
            crate::format::count(last.subscribers as u64),
            match behind {
                Some(b) => format!(
                    "But from {} subscribers on the drainers ({} thread(s), reading every event) fell \
                     behind: {} events queued for one subscriber when publishing ended, {} lost by subscribers a \
                     whole queue behind, and the process's resident set reached {:.1} MiB (the ring is allocated \
                     once, whoever falls behind).",
                    crate::format::count(b.subscribers as u64),
                    r.scale.drainers,
                    crate::format::count(b.backlog),
                    crate::format::count(b.dropped),
                    b.rss_mib,
                ),
                None => "The drainers kept up at every count.".to_string(),
            }
        ));
    }
    out
}
