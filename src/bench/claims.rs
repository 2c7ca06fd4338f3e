//! The headline comparisons (`fantop bench` without `--scale`/`--memory`):
//! the design note's claims measured against baselines in the same run.

use std::fmt::Write as _;
use std::hint::black_box;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex, RwLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, ensure};
use serde::Serialize;

use super::baseline::{CrossbeamBatched, Drainer, consume};
use super::report::*;
use crate::broadcast::{self, BroadcastConfig, Broadcaster, Publisher, Subscription};
use crate::clock::Clock;
use crate::collector::{Collector, Snapshot, SnapshotReader};
use crate::event::{Event, EventKind, MILLIS, Nanos, SECONDS, ServiceDist};
use crate::pipeline::{Sim, SimConfig, Sink};
use crate::run::{self, HeadlessOptions};

/// The JSON schema name; changes only if a field is renamed or removed.
pub const SCHEMA: &str = "fantop-bench/1";
/// Subscriber counts of the fan-out section.
pub const FANOUT_SUBSCRIBERS: [usize; 5] = [1, 4, 16, 64, 256];
/// Events per batch in the fan-out section (fantop's default `max_batch`).
pub const FANOUT_BATCH: usize = broadcast::DEFAULT_MAX_BATCH;
/// Workers in the snapshot used for queries.
pub const SNAPSHOT_WORKERS: u16 = 8;

/// The design note's performance claims, quoted only to compare with.
const NOTE_MUTEX_UPDATE_NS: f64 = 50.0 * 1e6; // "50ms per metrics update (mutex lock + deep copy)"
const NOTE_CHANNEL_SEND_NS: f64 = 0.1 * 1e6; // "0.1ms per metrics update (channel send)"
const NOTE_CHANNEL_QUERY_NS: f64 = 1e6; // "GetMetrics() Queries: 1ms (channel query)"

/// How much work each section does.
#[derive(Clone, Copy, Debug)]
struct Plan {
    /// Timed repetitions per figure (after calibration and a warm-up).
    reps: usize,
    /// Wall time one repetition of a micro-measurement aims for.
    target: Duration,
    /// Events published per timed fan-out round.
    round: usize,
    /// Wall time one headless run aims for.
    pipeline_target: Duration,
    pipeline_reps: usize,
    /// Simulated time behind the query snapshot.
    snapshot_sim: Nanos,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                reps: 5,
                target: Duration::from_millis(5),
                round: 4 * FANOUT_BATCH,
                pipeline_target: Duration::from_millis(250),
                pipeline_reps: 3,
                snapshot_sim: 2 * SECONDS,
            }
        } else {
            Plan {
                reps: 7,
                target: Duration::from_millis(20),
                round: 16 * FANOUT_BATCH,
                pipeline_target: Duration::from_secs(1),
                pipeline_reps: 5,
                snapshot_sim: 10 * SECONDS,
            }
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct UpdateRow {
    pub method: &'static str,
    pub threads: usize,
    pub ns_per_update: Spread,
}

#[derive(Clone, Debug, Serialize)]
pub struct QueryRow {
    pub method: &'static str,
    pub ns_per_query: Spread,
}

#[derive(Clone, Debug, Serialize)]
pub struct FanoutCost {
    pub ns_per_event: Spread,
    pub ns_per_event_subscriber: Spread,
    /// Events delivered to all subscribers per second of a whole round,
    /// from the first publish until the consumer has read everything.
    pub delivered_per_s: Spread,
}

#[derive(Clone, Debug, Serialize)]
pub struct FanoutRow {
    pub subscribers: usize,
    pub fantop: FanoutCost,
    pub crossbeam: FanoutCost,
    /// fantop's median ns per event over crossbeam's.
    pub ratio: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Fanout {
    pub batch: usize,
    pub events_per_round: usize,
    /// Events dropped or refused during measurement: always 0 in a report
    /// (the bench fails otherwise).
    pub dropped: u64,
    pub rows: Vec<FanoutRow>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Throughput {
    pub requests_per_s: Spread,
}

#[derive(Clone, Debug, Serialize)]
pub struct PipelineFigures {
    pub rate: f64,
    pub workers: u16,
    pub service: String,
    pub simulated_s: f64,
    /// Requests that arrived in the simulated span (the same in both runs).
    pub requests: u64,
    /// Runs of each kind behind the figures (they alternate).
    pub repetitions: usize,
    pub headless_fast: Throughput,
    pub sim_only: Throughput,
}

/// Everything `fantop bench` measured.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub machine: Machine,
    pub build: &'static str,
    pub command: String,
    pub date: String,
    pub quick: bool,
    pub repetitions: usize,
    pub metrics_update: Vec<UpdateRow>,
    pub snapshot_query: Vec<QueryRow>,
    pub snapshot_workers: usize,
    pub fanout: Fanout,
    pub pipeline: PipelineFigures,
    pub reading: Vec<String>,
}

/// Measures everything. Progress goes to stderr when it is a terminal.
pub fn measure(quick: bool) -> anyhow::Result<Report> {
    let plan = Plan::new(quick);
    let progress = |what: &str| {
        if std::io::stderr().is_terminal() {
            // Progress only: a terminal that fails it loses nothing the
            // report (on stdout) does not say.
            let _ = std::io::Write::write_fmt(&mut std::io::stderr(), format_args!("fantop bench: {what}...\n"));
        }
    };
    let mut machine = machine();
    let cpu_before = CpuTicks::now();
    let command = command_line();
    let date = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    progress("metrics update");
    let metrics_update = metrics_update(&plan);
    progress("snapshot query");
    let (snapshot_query, snapshot_workers) = snapshot_query(&plan)?;
    progress("fan-out");
    let fanout = fanout(&plan)?;
    progress("pipeline");
    let pipeline = pipeline(&plan)?;
    machine.others_cpus = cpu_before.zip(CpuTicks::now()).map(|(a, b)| b.others_cpus_since(&a));
    let mut report = Report {
        schema: SCHEMA,
        machine,
        build: if cfg!(debug_assertions) { "debug" } else { "release" },
        command,
        date,
        quick,
        repetitions: plan.reps,
        metrics_update,
        snapshot_query,
        snapshot_workers,
        fanout,
        pipeline,
        reading: Vec::new(),
    };
    report.reading = reading(&report);
    Ok(report)
}

/// Calibrates how many operations make one repetition of `plan.target`,
/// warms up, and returns ns per operation over `plan.reps` repetitions.
/// `run(n)` performs `n` operations and returns the time they took.
fn measure_ns(plan: &Plan, mut run: impl FnMut(u64) -> Duration) -> Spread {
    let target = plan.target.as_nanos() as f64;
    let mut n: u64 = 1;
    let n = loop {
        let took = run(n).as_nanos().max(1) as f64;
        if took >= target / 10.0 || n >= 1 << 40 {
            break ((n as f64 * target / took).ceil() as u64).max(1);
        }
        n = (n as f64 * (target / 10.0 / took).clamp(2.0, 100.0)).ceil() as u64;
    };
    run(n); // warm-up
    Spread::of((0..plan.reps).map(|_| run(n).as_nanos() as f64 / n as f64).collect())
}

// ---------------------------------------------------------------------------
// 1. metrics update

/// The state an update changes.
#[derive(Default, Debug)]
struct Counters {
    requests: u64,
}

/// Channel bound for the owner-thread variant, in updates.
const OWNER_CHANNEL: usize = 1024;

/// `threads` threads each run `op` `n` times, all starting together; the
/// wall time from the first start to the last finish.
fn run_threads(threads: usize, n: u64, op: &(impl Fn(usize) + Sync)) -> Duration {
    let barrier = Barrier::new(threads);
    thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    for _ in 0..n {
                        op(i);
                    }
                    (start, Instant::now())
                })
            })
            .collect();
        span(handles.into_iter().map(|h| h.join().expect("bench thread")))
    })
}

fn span(spans: impl Iterator<Item = (Instant, Instant)>) -> Duration {
    let (mut first, mut last) = (None::<Instant>, None::<Instant>);
    for (a, b) in spans {
        first = Some(first.map_or(a, |f| f.min(a)));
        last = Some(last.map_or(b, |l| l.max(b)));
    }
    match (first, last) {
        (Some(a), Some(b)) => b.saturating_duration_since(a),
        _ => Duration::ZERO,
    }
}

/// `threads` threads each send `n` updates to an owner thread that applies
/// them; the wall time from the first send to the owner having applied all.
fn run_channel(threads: usize, n: u64) -> Duration {
    let (tx, rx) = crossbeam_channel::bounded::<u64>(OWNER_CHANNEL);
    let barrier = Barrier::new(threads);
    thread::scope(|s| {
        let owner = s.spawn(move || {
            let mut state = Counters::default();
            for v in rx.iter() {
                black_box(&mut state).requests += v;
            }
            black_box(state);
            Instant::now()
        });
        let senders: Vec<_> = (0..threads)
            .map(|_| {
                let tx = tx.clone();
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    for _ in 0..n {
                        tx.send(1).expect("owner alive");
                    }
                    start
                })
            })
            .collect();
        drop(tx);
        let starts: Vec<Instant> = senders.into_iter().map(|h| h.join().expect("sender")).collect();
        let end = owner.join().expect("owner");
        span(starts.into_iter().map(|s| (s, end)))
    })
}

fn metrics_update(plan: &Plan) -> Vec<UpdateRow> {
    let mut rows = Vec::new();
    rows.push(UpdateRow {
        method: "plain",
        threads: 1,
        ns_per_update: measure_ns(plan, |n| {
            let mut c = Counters::default();
            let start = Instant::now();
            for _ in 0..n {
                black_box(&mut c).requests += 1;
            }
            let took = start.elapsed();
            black_box(c);
            took
        }),
    });
    for threads in [1, 2] {
        let mutex = Mutex::new(Counters::default());
        rows.push(UpdateRow {
            method: "mutex",
            threads,
            ns_per_update: measure_ns(plan, |n| {
                run_threads(threads, n, &|_| {
                    black_box(&mutex).lock().expect("not poisoned").requests += 1;
                })
            }),
        });
        let rwlock = RwLock::new(Counters::default());
        rows.push(UpdateRow {
            method: "rwlock_write",
            threads,
            ns_per_update: measure_ns(plan, |n| {
                run_threads(threads, n, &|_| {
                    black_box(&rwlock).write().expect("not poisoned").requests += 1;
                })
            }),
        });
        let atomic = AtomicU64::new(0);
        rows.push(UpdateRow {
            method: "atomic_fetch_add",
            threads,
            ns_per_update: measure_ns(plan, |n| {
                run_threads(threads, n, &|_| {
                    black_box(&atomic).fetch_add(1, Ordering::Relaxed);
                })
            }),
        });
        rows.push(UpdateRow {
            method: "channel_to_owner",
            threads,
            ns_per_update: measure_ns(plan, |n| run_channel(threads, n)),
        });
    }
    // The control: 2 threads, each its own counter on its own cache line.
    // Nothing is shared, so if the 2 threads really run in parallel this
    // costs what 1 thread's update does; if it costs about twice that, they
    // took turns on one CPU and the 2-thread rows measure time-sharing more
    // than contention.
    let own = [OwnLine::default(), OwnLine::default()];
    rows.push(UpdateRow {
        method: "atomic_own_line",
        threads: 2,
        ns_per_update: measure_ns(plan, |n| {
            run_threads(2, n, &|i| {
                black_box(&own[i].0).fetch_add(1, Ordering::Relaxed);
            })
        }),
    });
    rows
}

/// A counter alone on its cache line (128 bytes covers adjacent-line prefetch).
#[derive(Default)]
#[repr(align(128))]
struct OwnLine(AtomicU64);

// ---------------------------------------------------------------------------
// 2. snapshot query

/// A real collector's reader and final snapshot after `sim` of simulated
/// time at the default load with `SNAPSHOT_WORKERS` workers.
fn realistic_snapshot(sim: Nanos) -> anyhow::Result<(SnapshotReader, Arc<Snapshot>)> {
    let (mut publisher, broadcaster) = broadcast::channel(BroadcastConfig::default(), Clock::manual());
    // Lossless (`Wait`), blocking for each batch: the `--fast` collector.
    let collector = Collector::spawn(&broadcaster, run::collector_options(true))?;
    let mut s = Sim::new(SimConfig {
        workers: SNAPSHOT_WORKERS,
        seed: 1,
        ..SimConfig::default()
    });
    s.advance_until(sim, &mut publisher);
    publisher.close();
    let reader = collector.reader();
    let snapshot = collector.join();
    ensure!(
        snapshot.workers.len() == SNAPSHOT_WORKERS as usize && snapshot.lost_events == 0 && snapshot.totals.arrived > 0,
        "the query snapshot is not the expected one: {} workers, {} lost events",
        snapshot.workers.len(),
        snapshot.lost_events
    );
    Ok((reader, snapshot))
}

fn snapshot_query(plan: &Plan) -> anyhow::Result<(Vec<QueryRow>, usize)> {
    let (reader, snapshot) = realistic_snapshot(plan.snapshot_sim)?;
    let workers = snapshot.workers.len();
    let mut rows = Vec::new();
    rows.push(QueryRow {
        method: "arc_swap_load",
        ns_per_query: measure_ns(plan, |n| {
            let start = Instant::now();
            for _ in 0..n {
                black_box(black_box(&reader).load());
            }
            start.elapsed()
        }),
    });
    let locked = Mutex::new((*snapshot).clone());
    rows.push(QueryRow {
        method: "mutex_clone",
        ns_per_query: measure_ns(plan, |n| {
            let start = Instant::now();
            for _ in 0..n {
                black_box(black_box(&locked).lock().expect("not poisoned").clone());
            }
            start.elapsed()
        }),
    });
    let (req_tx, req_rx) = crossbeam_channel::bounded::<()>(1);
    let (resp_tx, resp_rx) = crossbeam_channel::bounded::<Snapshot>(1);
    let owned = (*snapshot).clone();
    let owner = thread::spawn(move || {
        for () in req_rx.iter() {
            if resp_tx.send(owned.clone()).is_err() {
                break;
            }
        }
    });
    rows.push(QueryRow {
        method: "owner_round_trip",
        ns_per_query: measure_ns(plan, |n| {
            let start = Instant::now();
            for _ in 0..n {
                req_tx.send(()).expect("owner alive");
                black_box(resp_rx.recv().expect("owner replies"));
            }
            start.elapsed()
        }),
    });
    drop(req_tx);
    owner.join().expect("owner thread");
    Ok((rows, workers))
}

// ---------------------------------------------------------------------------
// 3. fan-out

/// A fan-out under test, with its subscribers drained concurrently.
trait Fan {
    /// Hands `events` to every subscriber's queue (the timed part).
    fn publish_round(&mut self, events: &[Event]);
    /// Events dropped or refused so far.
    fn lost(&self) -> u64;
}

struct FantopFan {
    publisher: Publisher<Event>,
    broadcaster: Broadcaster<Event>,
}

impl Fan for FantopFan {
    fn publish_round(&mut self, events: &[Event]) {
        for e in events {
            self.publisher.publish(*e);
        }
        self.publisher.flush();
    }

    fn lost(&self) -> u64 {
        self.broadcaster
            .stats()
            .iter()
            .map(|s| s.dropped + u64::from(s.evictions))
            .sum()
    }
}

/// fantop's broadcaster with `n` subscribers; the drainer and the events
/// every subscriber has received once taken on (none: joins are notices).
fn fantop_fan(n: usize, round: usize) -> anyhow::Result<(FantopFan, Drainer, u64)> {
    let config = BroadcastConfig::default();
    ensure!(config.default_capacity >= round, "queues must hold a whole round");
    let (mut publisher, broadcaster) = broadcast::channel(config, Clock::start());
    let subs: Vec<Subscription<Event>> = (0..n).map(|i| broadcaster.subscribe(format!("bench{i}"))).collect();
    publisher.tick(); // takes them on (their join notices are not events)
    let drainer = Drainer::spawn(subs, |s| s.drain(consume).map_or(0, |k| k as u64));
    let received = n as u64 * broadcaster.publisher_stats().events;
    drainer.wait_for(received);
    Ok((FantopFan { publisher, broadcaster }, drainer, received))
}

/// The crossbeam baseline, sized so a round never fills a channel.
fn crossbeam_fan(n: usize, round: usize) -> (CrossbeamBatched, Drainer, u64) {
    let (fan, drainer) = CrossbeamBatched::new(n, FANOUT_BATCH, 2 * round.div_ceil(FANOUT_BATCH));
    (fan, drainer, 0)
}

impl Fan for CrossbeamBatched {
    fn publish_round(&mut self, events: &[Event]) {
        CrossbeamBatched::publish_round(self, events);
    }

    fn lost(&self) -> u64 {
        self.refused
    }
}

/// ns per event published (publisher side only), deliveries per second
/// (the whole round, consumer included) and events lost.
fn measure_fan(
    plan: &Plan,
    n: usize,
    (mut fan, drainer, mut received): (impl Fan, Drainer, u64),
    events: &[Event],
) -> (FanoutCost, u64) {
    // Repetitions are sized by whole rounds (publishing until the consumer
    // has read the last event), so a slow consumer cannot stretch the run;
    // each call also notes the publisher's own time, and the repetitions
    // are the last calls.
    let mut busy_per_round = Vec::new();
    let whole_round = measure_ns(plan, |rounds| {
        let mut busy = Duration::ZERO;
        let whole = Instant::now();
        for _ in 0..rounds {
            let start = Instant::now();
            fan.publish_round(events);
            busy += start.elapsed();
            received += (n * events.len()) as u64;
            drainer.wait_for(received);
        }
        busy_per_round.push(busy.as_nanos() as f64 / rounds as f64);
        whole.elapsed()
    });
    let per_round = Spread::of(busy_per_round.split_off(busy_per_round.len().saturating_sub(plan.reps)));
    drop(drainer);
    let per_event = per_round.map(|ns| ns / events.len() as f64);
    let deliveries = (n * events.len()) as f64;
    let cost = FanoutCost {
        ns_per_event: per_event,
        ns_per_event_subscriber: per_event.map(|ns| ns / n as f64),
        delivered_per_s: whole_round.map(|ns| deliveries / ns * 1e9),
    };
    (cost, fan.lost())
}

/// `n` events of the default simulated load (seed 1): the mix of kinds
/// readers decode in practice. Shared with the criterion benches.
pub fn sim_events(n: usize) -> Vec<Event> {
    let mut sim = Sim::new(SimConfig {
        seed: 1,
        ..SimConfig::default()
    });
    let mut out = Vec::with_capacity(n + 64);
    let mut until = 0;
    while out.len() < n {
        until += 100 * MILLIS;
        sim.advance_until(until, &mut out);
    }
    out.truncate(n);
    out
}

fn fanout(plan: &Plan) -> anyhow::Result<Fanout> {
    let events = sim_events(plan.round);
    let mut rows = Vec::new();
    let mut dropped = 0;
    for n in FANOUT_SUBSCRIBERS {
        let (fantop, lost_f) = measure_fan(plan, n, fantop_fan(n, plan.round)?, &events);
        let (crossbeam, lost_c) = measure_fan(plan, n, crossbeam_fan(n, plan.round), &events);
        dropped += lost_f + lost_c;
        ensure!(
            dropped == 0,
            "fan-out to {n} subscribers lost events during measurement (fantop {lost_f}, crossbeam {lost_c}): figures would be invalid"
        );
        rows.push(FanoutRow {
            subscribers: n,
            ratio: fantop.ns_per_event.median / crossbeam.ns_per_event.median,
            fantop,
            crossbeam,
        });
    }
    Ok(Fanout {
        batch: FANOUT_BATCH,
        events_per_round: plan.round,
        dropped,
        rows,
    })
}

// ---------------------------------------------------------------------------
// 4. pipeline

/// The load both pipeline benchmarks simulate (`fantop bench` and `cargo bench`).
pub fn pipeline_load() -> SimConfig {
    SimConfig {
        rate: 100_000.0,
        workers: 300,
        service: ServiceDist::Exp { mean_ns: 2 * MILLIS },
        seed: 1,
        ..SimConfig::default()
    }
}

/// A sink that counts arrivals and otherwise only touches each event: the
/// bare simulation's reference in both pipeline benchmarks.
#[derive(Default)]
pub struct CountArrivals(pub u64);

impl Sink for CountArrivals {
    fn emit(&mut self, event: Event) {
        if let EventKind::RequestArrived { .. } = black_box(event).kind {
            self.0 += 1;
        }
    }
}

fn headless_once(simulated: Nanos) -> anyhow::Result<(u64, Duration)> {
    let start = Instant::now();
    let run = run::headless(HeadlessOptions {
        sim: pipeline_load(),
        duration: Some(simulated),
        fast: true,
        ..HeadlessOptions::default()
    })
    .context("headless run")?;
    Ok((run.summary.requests.arrived, start.elapsed()))
}

fn sim_once(simulated: Nanos) -> (u64, Duration) {
    let start = Instant::now();
    let mut sim = Sim::new(pipeline_load());
    let mut count = CountArrivals::default();
    sim.advance_until(simulated, &mut count);
    (count.0, start.elapsed())
}

fn pipeline(plan: &Plan) -> anyhow::Result<PipelineFigures> {
    // Calibrate the simulated span on growing runs (which also warm up)
    // until one takes a good part of the target, then scale to the target.
    let target = plan.pipeline_target.as_secs_f64();
    let mut probe = 20 * MILLIS;
    let simulated = loop {
        let took = headless_once(probe)?.1.as_secs_f64().max(1e-6);
        if took >= target / 4.0 || probe >= 3_600 * SECONDS {
            break ((probe as f64 * target / took) as Nanos / MILLIS).max(10) * MILLIS;
        }
        probe = (probe as f64 * (target / 4.0 / took).clamp(2.0, 20.0)) as Nanos;
    };
    let rate = |(requests, took): (u64, Duration)| requests as f64 / took.as_secs_f64();

    // The calibration runs warmed the headless path up; one run warms the
    // bare Sim. Then the two alternate, so a change in the machine's load
    // hits both alike.
    let (requests, _) = sim_once(simulated);
    let (mut headless, mut sim) = (Vec::new(), Vec::new());
    for _ in 0..plan.pipeline_reps {
        let h = headless_once(simulated)?;
        let s = sim_once(simulated);
        ensure!(
            h.0 == requests && s.0 == requests,
            "runs of one seed simulated different requests: {requests}, headless {}, Sim {}",
            h.0,
            s.0
        );
        headless.push(rate(h));
        sim.push(rate(s));
    }
    let load = pipeline_load();
    Ok(PipelineFigures {
        rate: load.rate,
        workers: load.workers,
        service: crate::parse::dist_text(&load.service),
        simulated_s: simulated as f64 / SECONDS as f64,
        requests,
        repetitions: plan.pipeline_reps,
        headless_fast: Throughput {
            requests_per_s: Spread::of(headless),
        },
        sim_only: Throughput {
            requests_per_s: Spread::of(sim),
        },
    })
}

// ---------------------------------------------------------------------------
// The report

/// A ratio in words: `11.2`, `4,230`, `11.2 million`.
fn num(x: f64) -> String {
    if x >= 1e9 {
        format!("{} billion", sig3(x / 1e9))
    } else if x >= 1e6 {
        format!("{} million", sig3(x / 1e6))
    } else if x >= 1e3 {
        crate::format::count(x.round() as u64)
    } else {
        sig3(x)
    }
}

/// `x`'s orders of magnitude, when there are at least two.
fn oom(x: f64) -> String {
    if x >= 100.0 {
        format!(" ({:.1} orders of magnitude)", x.log10())
    } else {
        String::new()
    }
}

/// A spread of durations in the median's unit: `7.02 [5.33–7.31] ns`.
fn spread_ns(s: &Spread) -> String {
    let (div, unit) = unit_of(s.median);
    format!(
        "{} [{}–{}] {unit}",
        sig3(s.median / div),
        sig3(s.min / div),
        sig3(s.max / div)
    )
}

fn spread_rate(s: &Spread) -> String {
    format!("{}/s [{}–{}]", fmt_rate(s.median), fmt_rate(s.min), fmt_rate(s.max))
}

const UPDATE_METHODS: [(&str, &str); 6] = [
    ("plain", "plain struct field (reference)"),
    ("mutex", "Mutex"),
    ("rwlock_write", "RwLock (write)"),
    ("atomic_fetch_add", "AtomicU64::fetch_add"),
    ("channel_to_owner", "channel send to owner thread"),
    ("atomic_own_line", "control: own AtomicU64 per thread"),
];

const QUERY_METHODS: [(&str, &str); 3] = [
    ("arc_swap_load", "ArcSwap load (SnapshotReader::load)"),
    ("mutex_clone", "clone under a Mutex"),
    ("owner_round_trip", "request/response to owner thread"),
];

impl Report {
    fn update(&self, method: &str, threads: usize) -> Option<&Spread> {
        self.metrics_update
            .iter()
            .find(|r| r.method == method && r.threads == threads)
            .map(|r| &r.ns_per_update)
    }

    fn query(&self, method: &str) -> Option<&Spread> {
        self.snapshot_query
            .iter()
            .find(|r| r.method == method)
            .map(|r| &r.ns_per_query)
    }

    /// The human-readable report.
    pub fn table(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "fantop bench — {}, {} CPUs, {} build",
            self.machine.cpu, self.machine.cpus, self.build
        );
        let _ = writeln!(
            o,
            "load:    average {:.2} before the run; {} while it ran",
            self.machine.loadavg_1m,
            self.machine.others_cpus.map_or("unknown".to_string(), |c| format!(
                "{c:.2} CPUs busy with other processes"
            ))
        );
        let _ = writeln!(o, "command: {}", self.command);
        let _ = writeln!(o, "date:    {}", self.date);
        let _ = writeln!(
            o,
            "each figure: median of {} repetitions after calibration and a warm-up, [min–max]",
            self.repetitions
        );
        if self.build == "debug" {
            let _ = writeln!(
                o,
                "WARNING: debug build: these numbers say little; use `cargo run --release -- bench`"
            );
        }

        let _ = writeln!(
            o,
            "\n1. metrics update: add 1 to one u64 counter; ns per update as seen by each updating thread"
        );
        let mut rows = vec![vec![
            "method".to_string(),
            "1 thread".to_string(),
            "2 threads, same state".to_string(),
        ]];
        for (method, label) in UPDATE_METHODS {
            let cell = |threads| self.update(method, threads).map_or("—".to_string(), spread_ns);
            rows.push(vec![label.to_string(), cell(1), cell(2)]);
        }
        o.push_str(&columns(&rows, &[]));
        let _ = writeln!(
            o,
            "   (channel: crossbeam bounded({OWNER_CHANNEL}); timed until the owner thread has applied every update)"
        );

        let _ = writeln!(
            o,
            "\n2. snapshot query: ns to get a copy of a Snapshot with {} workers (1 querying thread)",
            self.snapshot_workers
        );
        let rows: Vec<Vec<String>> = QUERY_METHODS
            .iter()
            .filter_map(|(m, label)| self.query(m).map(|s| vec![label.to_string(), spread_ns(s)]))
            .collect();
        o.push_str(&columns(&rows, &[]));

        let f = &self.fanout;
        let _ = writeln!(
            o,
            "\n3. fan-out: publisher-side ns per event, batches of {}, {} events per timed round, one consumer\n   \
             thread draining every queue concurrently and reading every event; delivered: events reaching all\n   \
             subscribers per second of a whole round, until the consumer has read the last",
            f.batch, f.events_per_round
        );
        let mut rows = vec![
            [
                "subs",
                "fantop",
                "per sub",
                "delivered",
                "crossbeam",
                "per sub",
                "delivered",
                "fantop/crossbeam",
            ]
            .map(String::from)
            .to_vec(),
        ];
        for r in &f.rows {
            rows.push(vec![
                r.subscribers.to_string(),
                spread_ns(&r.fantop.ns_per_event),
                fmt_ns(r.fantop.ns_per_event_subscriber.median),
                format!("{}/s", fmt_rate(r.fantop.delivered_per_s.median)),
                spread_ns(&r.crossbeam.ns_per_event),
                fmt_ns(r.crossbeam.ns_per_event_subscriber.median),
                format!("{}/s", fmt_rate(r.crossbeam.delivered_per_s.median)),
                format!("{}x", sig3(r.ratio)),
            ]);
        }
        o.push_str(&columns(&rows, &[0, 3, 6, 7]));
        let _ = writeln!(
            o,
            "   dropped or refused while measuring: {} (fantop's subscriber counters, crossbeam's try_send results)",
            f.dropped
        );

        let p = &self.pipeline;
        let _ = writeln!(
            o,
            "\n4. pipeline: simulated requests per second of wall time, fast mode\n   \
             (rate {}/s, {} workers, {}, {} s simulated = {} requests, same seed in both;\n   \
             median of {} alternating runs of each after a warm-up, [min–max])",
            p.rate,
            p.workers,
            p.service,
            p.simulated_s,
            crate::format::count(p.requests),
            p.repetitions
        );
        let rows = vec![
            vec![
                "headless --fast (broadcaster + collector)".to_string(),
                spread_rate(&p.headless_fast.requests_per_s),
            ],
            vec![
                "Sim alone, no broadcaster (reference)".to_string(),
                spread_rate(&p.sim_only.requests_per_s),
            ],
        ];
        o.push_str(&columns(&rows, &[]));

        let _ = writeln!(o, "\nreading");
        for line in &self.reading {
            let _ = writeln!(o, "{}", wrap(line, 100, "   - ", "     "));
        }
        o
    }
}

/// The plain-language reading: every number in it comes from `r` (the
/// design note's claims are quoted as claims).
fn reading(r: &Report) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(others) = r.machine.others_cpus.filter(|&o| o >= 0.2) {
        out.push(format!(
            "The machine was shared: other processes kept {others:.2} of its {} CPUs busy on average while \
             this ran. Figures that need a second CPU (the 2-thread rows, the owner, consumer and collector \
             threads) suffer most from that; compare with a run on a quiet machine before reading much into \
             them.",
            r.machine.cpus
        ));
    }
    let get = |m, t| r.update(m, t).map_or(f64::NAN, |s| s.median);
    let (plain, m1, w1, a1, c1) = (
        get("plain", 1),
        get("mutex", 1),
        get("rwlock_write", 1),
        get("atomic_fetch_add", 1),
        get("channel_to_owner", 1),
    );

    let (order, by) = if c1 > m1 {
        ("the channel is the slower of the two", c1 / m1)
    } else {
        ("the channel is the faster of the two", m1 / c1)
    };
    out.push(format!(
        "An uncontended Mutex update costs {} and a channel send to an owner thread {} (RwLock write {}, \
         AtomicU64 fetch_add {}, a plain field {}). The design note's claimed 50 ms per mutex update is off by \
         a factor of {}{}, its claimed 0.1 ms per channel send by a factor of {}{}; and {order}, by {} times.",
        fmt_ns(m1),
        fmt_ns(c1),
        fmt_ns(w1),
        fmt_ns(a1),
        fmt_ns(plain),
        num(NOTE_MUTEX_UPDATE_NS / m1),
        oom(NOTE_MUTEX_UPDATE_NS / m1),
        num(NOTE_CHANNEL_SEND_NS / c1),
        oom(NOTE_CHANNEL_SEND_NS / c1),
        num(by),
    ));

    let contended: Vec<String> = UPDATE_METHODS
        .iter()
        .filter_map(|(m, _)| {
            let (one, two) = (r.update(m, 1)?.median, r.update(m, 2)?.median);
            Some(format!(
                "{} {} ({} times uncontended)",
                method_label(m),
                fmt_ns(two),
                num(two / one)
            ))
        })
        .collect();
    let best = r
        .metrics_update
        .iter()
        .filter(|u| u.threads == 2 && u.method != "atomic_own_line")
        .min_by(|a, b| a.ns_per_update.median.total_cmp(&b.ns_per_update.median));
    if let Some(best) = best {
        out.push(format!(
            "With 2 threads updating the same state: {}. In this run the cheapest shared update under contention \
             was {} at {}{}; contended figures depend on how the two threads are scheduled and vary severalfold \
             between runs on a shared machine, so compare them within one run only.",
            contended.join(", "),
            method_label(best.method),
            fmt_ns(best.ns_per_update.median),
            if r.machine.cpus <= 2 {
                format!(
                    " (the channel rows run 3 threads, the owner included, on {} CPUs)",
                    r.machine.cpus
                )
            } else {
                String::new()
            },
        ));
    }

    if let (Some(own), Some(one)) = (r.update("atomic_own_line", 2), r.update("atomic_fetch_add", 1)) {
        let x = own.median / one.median;
        out.push(if x >= 1.5 {
            format!(
                "But the 2 threads did not really run in parallel: with nothing shared (each its own counter on \
                 its own cache line) an update still cost {} against {} for 1 thread ({} times). They took turns \
                 on a CPU, so the 2-thread rows above measure time-sharing more than contention.",
                fmt_ns(own.median),
                fmt_ns(one.median),
                num(x)
            )
        } else {
            format!(
                "The 2 threads did run in parallel: with nothing shared (each its own counter on its own cache \
                 line) an update cost {} against {} for 1 thread, so what the 2-thread rows add is the cost of \
                 sharing the state.",
                fmt_ns(own.median),
                fmt_ns(one.median)
            )
        });
    }

    let q = |m| r.query(m).map_or(f64::NAN, |s| s.median);
    let (arc, mc, rt) = (q("arc_swap_load"), q("mutex_clone"), q("owner_round_trip"));
    out.push(format!(
        "A snapshot query costs {} as an ArcSwap load, {} as a clone under a Mutex and {} as a request/response \
         to an owner thread: the round trip costs {} times an ArcSwap load{}, and the note's claimed 1 ms per \
         channel query is off by a factor of {}.",
        fmt_ns(arc),
        fmt_ns(mc),
        fmt_ns(rt),
        num(rt / arc),
        oom(rt / arc),
        num(NOTE_CHANNEL_QUERY_NS / rt),
    ));

    let rows = &r.fanout.rows;
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        let lo = rows.iter().min_by(|a, b| a.ratio.total_cmp(&b.ratio)).unwrap_or(first);
        let hi = rows.iter().max_by(|a, b| a.ratio.total_cmp(&b.ratio)).unwrap_or(first);
        let compare = if hi.ratio <= 1.0 {
            format!(
                "fantop is never the dearer: from {}x (at {}) to {}x (at {})",
                sig3(lo.ratio),
                lo.subscribers,
                sig3(hi.ratio),
                hi.subscribers
            )
        } else if lo.ratio >= 1.0 {
            format!(
                "fantop always costs more, from {}x (at {}) to {}x (at {}); it also does more per batch and \
                 subscriber (queued and delivered counters, state checks, lag and eviction bookkeeping)",
                sig3(lo.ratio),
                lo.subscribers,
                sig3(hi.ratio),
                hi.subscribers
            )
        } else {
            format!(
                "fantop costs more at some counts (up to {}x, at {}) and less at others (down to {}x, at {})",
                sig3(hi.ratio),
                hi.subscribers,
                sig3(lo.ratio),
                lo.subscribers
            )
        };
        let marginal = |c: &FanoutCost, c1: &FanoutCost| {
            (c.ns_per_event.median - c1.ns_per_event.median) / (last.subscribers - first.subscribers).max(1) as f64
        };
        out.push(format!(
            "Publishing one event costs fantop {} with {} and {} with {} subscribers, so each further subscriber \
             adds {}; the bare crossbeam fan-out costs {} and {} ({} per further subscriber). \
             fantop/crossbeam: {compare}. Nothing was dropped or refused while measuring.",
            fmt_ns(first.fantop.ns_per_event.median),
            plural(first.subscribers, "subscriber"),
            fmt_ns(last.fantop.ns_per_event.median),
            last.subscribers,
            per_further_subscriber(marginal(&last.fantop, &first.fantop)),
            fmt_ns(first.crossbeam.ns_per_event.median),
            fmt_ns(last.crossbeam.ns_per_event.median),
            fmt_ns(marginal(&last.crossbeam, &first.crossbeam)),
        ));
        let busiest = |side: fn(&FanoutRow) -> &FanoutCost| {
            rows.iter().map(|r| side(r).delivered_per_s.median).fold(0.0, f64::max)
        };
        let (df, dc) = (busiest(|r| &r.fantop), busiest(|r| &r.crossbeam));
        let ratio = |f: f64, c: f64| {
            if c > 0.0 {
                format!("{}x", sig3(f / c))
            } else {
                "—".into()
            }
        };
        let at16 = rows.iter().find(|r| r.subscribers == 16).map_or(String::new(), |r| {
            let (f, c) = (r.fantop.delivered_per_s.median, r.crossbeam.delivered_per_s.median);
            format!(
                "at 16 subscribers fantop delivered {}/s and crossbeam {}/s ({} the rate); ",
                fmt_rate(f),
                fmt_rate(c),
                ratio(f, c)
            )
        });
        out.push(format!(
            "Delivery is the other side of that trade: the ring holds each event as words, and a reader decodes \
             them; whole pages of 256 events are decoded once, by the first reader to want them, and shared with \
             the rest, while the crossbeam fan-out hands each subscriber the same ready batch. With one consumer \
             thread reading for all subscribers, {at16}at most, fantop delivered {}/s and crossbeam {}/s ({} the \
             rate).",
            fmt_rate(df),
            fmt_rate(dc),
            ratio(df, dc),
        ));
    }

    let p = &r.pipeline;
    let (h, s) = (p.headless_fast.requests_per_s.median, p.sim_only.requests_per_s.median);
    let extra = 1e9 / h - 1e9 / s;
    out.push(if extra > 0.0 {
        format!(
            "In fast mode the whole pipeline (simulation → broadcaster → collector thread) runs {}/s simulated \
             requests against {}/s for the bare Sim: publishing and aggregating add {} of wall time per request, \
             {:.0}% of the headless run's wall time.",
            fmt_rate(h),
            fmt_rate(s),
            fmt_ns(extra),
            100.0 * (1.0 - h / s)
        )
    } else {
        format!(
            "In fast mode the whole pipeline (simulation → broadcaster → collector thread) runs {}/s simulated \
             requests against {}/s for the bare Sim: publishing and aggregating added no measurable wall time \
             per request in this run.",
            fmt_rate(h),
            fmt_rate(s)
        )
    });

    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        let per_sub = (last.fantop.ns_per_event.median - first.fantop.ns_per_event.median)
            / (last.subscribers - first.subscribers).max(1) as f64;
        out.push(format!(
            "So the channel design is not what makes updates fast{}. What it buys is isolation and fan-out: a \
             reader gets a finished snapshot in {} without touching the writer, a slow subscriber loses its own \
             events instead of stalling the publisher (by design; not measured here), and one more subscriber \
             costs the publisher {}.",
            if c1 > m1 {
                format!(
                    ": a send to an owner thread costs {} times an uncontended lock",
                    num(c1 / m1)
                )
            } else {
                String::new()
            },
            fmt_ns(arc),
            per_further_subscriber(per_sub),
        ));
    }
    out
}

/// What one more subscriber adds per event published, from the slope
/// between the fewest and most subscribers measured: a negative slope is
/// noise on a flat line, not a saving.
fn per_further_subscriber(ns: f64) -> String {
    if ns > 0.0 {
        format!("about {} per event", fmt_ns(ns))
    } else {
        "nothing measurable".to_string()
    }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn method_label(method: &str) -> &str {
    match method {
        "plain" => "a plain field",
        "mutex" => "Mutex",
        "rwlock_write" => "RwLock",
        "atomic_fetch_add" => "atomic fetch_add",
        "channel_to_owner" => "channel send",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_or_falling_cost_per_subscriber_reads_as_nothing_measurable() {
        assert_eq!(per_further_subscriber(-0.02), "nothing measurable");
        assert_eq!(per_further_subscriber(0.0), "nothing measurable");
        assert!(
            per_further_subscriber(1.5).starts_with("about 1.5"),
            "{}",
            per_further_subscriber(1.5)
        );
    }

    #[test]
    fn spread_quantiles_interpolate() {
        let s = Spread::of(vec![5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!((s.min, s.p25, s.median, s.p75, s.max), (1.0, 2.0, 3.0, 4.0, 5.0));
        let s = Spread::of(vec![1.0, 2.0]);
        assert_eq!((s.median, s.p25, s.p75), (1.5, 1.25, 1.75));
    }

    #[test]
    fn figures_read_in_fitting_units() {
        assert_eq!(fmt_ns(7.123), "7.12 ns");
        assert_eq!(fmt_ns(43.0), "43.0 ns");
        assert_eq!(fmt_ns(1234.0), "1.23 µs");
        assert_eq!(fmt_ns(50e6), "50.0 ms");
        assert_eq!(fmt_rate(1_234_567.0), "1.23M");
        assert_eq!(num(11.23), "11.2");
        assert_eq!(num(4230.4), "4,230");
        assert_eq!(num(1.12e7), "11.2 million");
        assert_eq!(oom(7.0e6), " (6.8 orders of magnitude)");
        assert_eq!(oom(50.0), "");
        let s = Spread::of(vec![5.33, 7.02, 7.31]);
        assert_eq!(spread_ns(&s), "7.02 [5.33–7.31] ns");
    }

    #[test]
    fn wrap_keeps_words_whole() {
        let w = wrap("aaa bbb ccc", 9, "- ", "  ");
        assert_eq!(w, "- aaa bbb\n  ccc");
    }
}
