//! The simulated pipeline over the library API, in fast (virtual-time) mode:
//! overload behaves like an overloaded queue, scripted actions happen at
//! their exact simulated times, and refused actions change nothing. And in
//! real time on a manual clock: a pipeline that cannot keep up skips what it
//! cannot simulate and says so, stops when told, and holds back for the
//! subscriber it keeps pace with.
//!
//! Events are observed through a lossless ([`Delivery::Wait`]) subscription
//! drained on its own thread until the publisher closes; nothing waits on
//! wall time and nothing asserts on it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use fantop::broadcast::{self, BroadcastConfig, Broadcaster, Delivery, RecvError, SubscribeOptions};
use fantop::clock::Clock;
use fantop::event::{Event, EventKind, LoadChange, MILLIS, Nanos, SECONDS, ServiceDist};
use fantop::pipeline::{Command, Pace, Pipeline, PipelineOptions, PipelineReport, Scheduled, SimConfig};
use fantop::run::{self, HeadlessOptions, HeadlessRun};

/// Subscribes losslessly now and collects every event matching `keep` on a
/// thread, until the publisher closes.
fn record(broadcaster: &Broadcaster<Event>, keep: fn(&Event) -> bool) -> JoinHandle<Vec<Event>> {
    let sub = broadcaster.subscribe_with(
        SubscribeOptions::new("test-recorder")
            .capacity(1 << 20)
            .delivery(Delivery::Wait),
    );
    std::thread::spawn(move || {
        let mut out = Vec::new();
        loop {
            match sub.recv() {
                Ok(batch) => out.extend(batch.iter().filter(|e| keep(e))),
                Err(RecvError::Closed) => return out,
                Err(e) => panic!("a waiting subscriber ended early: {e}"),
            }
        }
    })
}

/// Runs a fast pipeline with `timeline` to its end, recording what `keep` selects.
fn run_pipeline(config: SimConfig, timeline: Vec<Scheduled>, keep: fn(&Event) -> bool) -> (PipelineReport, Vec<Event>) {
    let clock = Clock::start();
    let (publisher, broadcaster) = broadcast::channel(BroadcastConfig::default(), clock.clone());
    let recorder = record(&broadcaster, keep);
    let mut opts = PipelineOptions::new(config, Pace::Fast);
    opts.timeline = timeline;
    let report = Pipeline::start(opts, publisher, clock).expect("pipeline starts").join();
    (report, recorder.join().expect("recorder thread"))
}

fn at(t: Nanos, action: Command) -> Scheduled {
    Scheduled { at: t, action }
}

/// Every event: the broadcaster's news about its subscribers comes as
/// notices beside the events, never as events.
fn every_event(_: &Event) -> bool {
    true
}

fn is_load_change(e: &Event) -> bool {
    matches!(e.kind, EventKind::LoadChanged { .. })
}

fn load_changes(events: &[Event]) -> Vec<(Nanos, LoadChange)> {
    events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::LoadChanged { change } => Some((e.t, change)),
            _ => None,
        })
        .collect()
}

/// The `LoadChanged` events a pipeline announces at start.
fn initial_settings(c: &SimConfig) -> Vec<(Nanos, LoadChange)> {
    vec![
        (0, LoadChange::Rate { per_s: c.rate }),
        (0, LoadChange::Workers { count: c.workers }),
        (0, LoadChange::Service { dist: c.service }),
        (0, LoadChange::ErrorRate { fraction: c.error_rate }),
        (
            0,
            LoadChange::QueueCapacity {
                capacity: c.queue_capacity,
            },
        ),
        (0, LoadChange::AutoRestart { on: c.auto_restart }),
    ]
}

fn times(events: &[Event], kind: EventKind) -> Vec<Nanos> {
    events.iter().filter(|e| e.kind == kind).map(|e| e.t).collect()
}

/// 4 workers at 1 ms mean service (capacity 4,000/s) offered 20,000/s.
fn overload(queue_capacity: u32) -> SimConfig {
    SimConfig {
        rate: 20_000.0,
        workers: 4,
        service: ServiceDist::Exp { mean_ns: MILLIS },
        error_rate: 0.0,
        queue_capacity,
        seed: 5,
        ..SimConfig::default()
    }
}

fn headless_fast(sim: SimConfig, duration: Nanos) -> HeadlessRun {
    run::headless(HeadlessOptions {
        sim,
        duration: Some(duration),
        fast: true,
        timeline: Vec::new(),
        ..Default::default()
    })
    .expect("headless run")
}

/// Offered more than the pool can serve, an unbounded queue grows at the
/// excess rate λ − cμ.
#[test]
fn an_overloaded_pool_grows_its_queue_at_the_excess_rate() {
    let excess = 20_000.0 - 4_000.0;
    let at_1s = headless_fast(overload(1_000_000), SECONDS);
    let at_2s = headless_fast(overload(1_000_000), 2 * SECONDS);
    for (run, secs) in [(&at_1s, 1.0), (&at_2s, 2.0)] {
        let s = &run.snapshot;
        let expect = excess * secs;
        let depth = s.queue_depth as f64;
        assert!(
            (depth - expect).abs() < 0.05 * expect,
            "queue {depth} after {secs} s, expected about {expect}"
        );
        assert_eq!(s.totals.rejected, 0, "the queue has room");
        // Served at the pool's capacity, no faster.
        let completed = s.totals.completed() as f64;
        assert!(
            (completed - 4_000.0 * secs).abs() < 0.05 * 4_000.0 * secs,
            "{completed} completed in {secs} s"
        );
    }
    assert!(at_2s.snapshot.queue_depth > at_1s.snapshot.queue_depth);
    assert!(at_2s.snapshot.queue_max_depth >= at_2s.snapshot.queue_depth);
}

/// Overloaded with a small queue, the queue fills, arrivals are rejected, and
/// latency (queue wait + service) is far above the service time.
#[test]
fn an_overloaded_pool_with_a_small_queue_rejects_and_latency_far_exceeds_service() {
    let run = headless_fast(overload(100), 2 * SECONDS);
    let s = &run.snapshot;
    let r = &run.summary.requests;
    assert_eq!(s.queue_max_depth, 100, "the queue filled");
    assert_eq!(run.summary.queue.max_depth, 100);
    // About (λ − cμ)/λ = 80% of arrivals are turned away.
    let rejected = r.rejected as f64 / r.arrived as f64;
    assert!((0.7..0.9).contains(&rejected), "rejected fraction {rejected}");
    assert_eq!(r.arrived, r.succeeded + r.failed + r.rejected + r.in_flight_at_end);
    // A full queue of 100 drains at 4/ms: about 25 ms of wait on a 1 ms service.
    let service_us = 1_000.0;
    let l = &run.summary.latency_us;
    assert!(l.mean > 10.0 * service_us, "mean latency {} us", l.mean);
    assert!(l.p50 > 10.0 * service_us, "median latency {} us", l.p50);
}

/// A scripted timeline's actions happen at exactly their simulated times,
/// faults run their course (stall → detected → recovered, crash → restart),
/// and a scripted `Stop` ends the run at its time.
#[test]
fn scripted_actions_take_effect_at_their_exact_simulated_times() {
    let config = SimConfig {
        rate: 1_000.0,
        workers: 4,
        service: ServiceDist::Exp { mean_ns: MILLIS },
        error_rate: 0.0,
        seed: 21,
        ..SimConfig::default()
    };
    let timeline = vec![
        at(SECONDS, Command::SetRate(500.0)),
        at(
            2 * SECONDS,
            Command::Stall {
                worker: Some(0),
                duration: SECONDS,
            },
        ),
        at(3 * SECONDS, Command::Crash { worker: Some(1) }),
        at(4 * SECONDS, Command::Stop),
    ];
    let (report, events) = run_pipeline(config, timeline, every_event);

    let mut expected = initial_settings(&config);
    expected.extend([
        (SECONDS, LoadChange::Rate { per_s: 500.0 }),
        (
            2 * SECONDS,
            LoadChange::StallInjected {
                worker: 0,
                duration: SECONDS,
            },
        ),
        (3 * SECONDS, LoadChange::CrashInjected { worker: 1 }),
    ]);
    assert_eq!(load_changes(&events), expected);

    // w0: detected stalled after missing heartbeats, recovered at the first beat after the stall.
    let stalled = times(&events, EventKind::WorkerStalled { worker: 0 });
    let recovered = times(&events, EventKind::WorkerRecovered { worker: 0 });
    assert_eq!(stalled.len(), 1, "{stalled:?}");
    assert_eq!(recovered.len(), 1, "{recovered:?}");
    assert!(
        stalled[0] > 2 * SECONDS && stalled[0] < 3 * SECONDS,
        "stalled at {}",
        stalled[0]
    );
    assert!(recovered[0] >= 3 * SECONDS && recovered[0] <= 3 * SECONDS + config.heartbeat_every);
    for w in [1, 2, 3] {
        assert!(
            times(&events, EventKind::WorkerStalled { worker: w }).is_empty(),
            "w{w} never stalled"
        );
    }

    // w1: crashed at 3 s, restarted after the restart delay.
    let crashes: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::WorkerCrashed { worker: 1, .. }))
        .collect();
    assert_eq!(crashes.len(), 1);
    assert_eq!(crashes[0].t, 3 * SECONDS);
    assert_eq!(
        times(&events, EventKind::WorkerSpawned { worker: 1 }),
        vec![0, 3 * SECONDS + config.restart_delay]
    );
    assert!(
        events
            .iter()
            .all(|e| !matches!(e.kind, EventKind::WorkerCrashed { worker: w, .. } if w != 1))
    );

    // Ended by the scripted Stop at 4 s simulated, with the events in time order.
    assert_eq!(report.simulated_ns, 4 * SECONDS);
    assert!(events.windows(2).all(|w| w[0].t <= w[1].t), "events in time order");
    assert!(events.iter().all(|e| e.t <= 4 * SECONDS));
    assert_eq!(report.config.rate, 500.0);
    assert_eq!(report.workers.len(), 4);
    for w in &report.workers {
        assert!(
            matches!(w.state.label(), "idle" | "busy"),
            "w{} ended {:?}",
            w.id,
            w.state
        );
    }
}

/// A scripted action with an invalid value is skipped: it changes nothing
/// and leaves no `LoadChanged` in the stream; a valid one after it applies.
#[test]
fn an_invalid_scripted_action_is_refused_and_changes_nothing() {
    let config = SimConfig {
        rate: 1_000.0,
        workers: 4,
        error_rate: 0.0,
        seed: 22,
        ..SimConfig::default()
    };
    let timeline = vec![
        at(SECONDS, Command::SetRate(-5.0)),
        at(SECONDS, Command::SetRate(f64::NAN)),
        at(SECONDS, Command::SetWorkers(0)),
        at(SECONDS, Command::SetErrorRate(1.5)),
        at(SECONDS, Command::SetQueueCapacity(0)),
        at(
            SECONDS,
            Command::Stall {
                worker: Some(0),
                duration: 0,
            },
        ),
        at(SECONDS, Command::Crash { worker: Some(9) }),
        at(2 * SECONDS, Command::SetRate(250.0)),
        at(3 * SECONDS, Command::Stop),
    ];
    let (report, events) = run_pipeline(config, timeline, every_event);

    let mut expected = initial_settings(&config);
    expected.push((2 * SECONDS, LoadChange::Rate { per_s: 250.0 }));
    assert_eq!(load_changes(&events), expected);
    assert!(
        !events.iter().any(|e| matches!(
            e.kind,
            EventKind::WorkerStopped { .. } | EventKind::WorkerStalled { .. } | EventKind::WorkerCrashed { .. }
        )),
        "no worker was touched"
    );
    assert_eq!(report.config, SimConfig { rate: 250.0, ..config });
    assert_eq!(report.simulated_ns, 3 * SECONDS);
}

/// An invalid value sent through `Control` is refused with an error and
/// never reaches the stream; a valid one sent after it does.
#[test]
fn an_invalid_control_action_is_refused_and_never_reaches_the_stream() {
    let config = SimConfig {
        rate: 1_000.0,
        workers: 4,
        error_rate: 0.0,
        seed: 23,
        ..SimConfig::default()
    };
    let clock = Clock::start();
    let (publisher, broadcaster) = broadcast::channel(BroadcastConfig::default(), clock.clone());
    let recorder = record(&broadcaster, is_load_change);
    // No duration and no timeline: the run lasts until it is stopped.
    let pipeline =
        Pipeline::start(PipelineOptions::new(config, Pace::Fast), publisher, clock).expect("pipeline starts");
    let control = pipeline.control();

    for bad in [
        Command::SetRate(-5.0),
        Command::SetRate(f64::INFINITY),
        Command::SetWorkers(0),
        Command::SetErrorRate(1.5),
        Command::SetQueueCapacity(0),
        Command::SetService(ServiceDist::Exp { mean_ns: 0 }),
    ] {
        let err = control.apply(bad).expect_err("invalid value refused");
        assert!(!err.0.is_empty(), "{bad:?} refused with a reason");
    }
    assert!(control.apply(Command::SetRate(-5.0)).unwrap_err().0.contains("rate"));
    control
        .apply(Command::SetRate(250.0))
        .expect("a valid action is accepted");
    let report = pipeline.stop();
    let events = recorder.join().expect("recorder thread");

    let changes = load_changes(&events);
    assert_eq!(changes[..6], initial_settings(&config)[..]);
    let later: Vec<LoadChange> = changes[6..].iter().map(|c| c.1).collect();
    assert_eq!(
        later,
        vec![LoadChange::Rate { per_s: 250.0 }],
        "only the valid action shows"
    );
    assert_eq!(report.config, SimConfig { rate: 250.0, ..config });
}

/// The summary's worker states (from the event stream) agree with the
/// simulation's own at the end, including a worker that recovered from a
/// stall with nothing to do.
#[test]
fn summary_worker_states_agree_with_the_simulation_after_a_stall() {
    let sim = SimConfig {
        rate: 1_000.0,
        workers: 2,
        service: ServiceDist::Exp { mean_ns: MILLIS },
        error_rate: 0.0,
        seed: 24,
        ..SimConfig::default()
    };
    let timeline = vec![
        at(SECONDS, Command::Pause),
        at(
            SECONDS + 100 * MILLIS,
            Command::Stall {
                worker: Some(0),
                duration: SECONDS,
            },
        ),
    ];
    let run = run::headless(HeadlessOptions {
        sim,
        duration: Some(3 * SECONDS),
        fast: true,
        timeline,
        ..Default::default()
    })
    .expect("headless run");
    let from_events: Vec<(u16, &str)> = run.summary.workers.iter().map(|w| (w.id, w.state.as_str())).collect();
    let from_sim: Vec<(u16, &str)> = run.report.workers.iter().map(|w| (w.id, w.state.label())).collect();
    assert_eq!(from_events, from_sim);
    assert_eq!(from_sim, vec![(0, "idle"), (1, "idle")]);
}

/// In fast pace the pipeline thread hands an app-level step over after
/// publishing everything before it, and waits until the step is applied:
/// what the receiver announced meanwhile comes right after the step's
/// marker, at the step's time, before any later event.
#[test]
fn a_fast_pipeline_waits_for_an_app_step_to_be_applied() {
    let clock = Clock::start();
    let (publisher, broadcaster) = broadcast::channel(BroadcastConfig::default(), clock.clone());
    let events = record(&broadcaster, |_| true);
    let (steps_tx, steps_rx) = crossbeam_channel::bounded(1);
    let mut opts = PipelineOptions::new(SimConfig::default(), Pace::Fast);
    opts.duration = Some(2 * SECONDS);
    opts.timeline = vec![
        Scheduled {
            at: SECONDS,
            action: Command::ScenarioStep(0),
        },
        Scheduled {
            at: SECONDS,
            action: Command::AppStep(0),
        },
    ];
    opts.steps_tx = Some(steps_tx);
    let pipeline = Pipeline::start(opts, publisher, clock).unwrap();
    let control = pipeline.control();
    let due = steps_rx.recv().expect("the step is handed over");
    assert_eq!((due.step, due.at), (0, SECONDS));
    control
        .apply(Command::Announce(LoadChange::SlowSubscriber { added: true }))
        .unwrap();
    due.applied();
    assert!(steps_rx.recv().is_err(), "one step, then the pipeline ends");
    pipeline.join();
    let events = events.join().unwrap();
    let marker = events
        .iter()
        .position(|e| matches!(e.kind, EventKind::ScenarioStep { step: 0 }))
        .expect("the marker");
    assert!(events[..marker].iter().all(|e| e.t <= SECONDS));
    let after = &events[marker + 1..];
    let announced = after
        .iter()
        .position(|e| matches!(e.kind, EventKind::LoadChanged { .. }))
        .expect("the announcement");
    assert!(
        after[..announced].iter().all(|e| e.t <= SECONDS),
        "nothing later came first"
    );
    assert_eq!(
        (after[announced].t, after[announced].kind),
        (
            SECONDS,
            EventKind::LoadChanged {
                change: LoadChange::SlowSubscriber { added: true }
            }
        )
    );
}

// ---------------------------------------------------------------------------
// Real time, overloaded: the wall clock here is a manual clock the test
// moves, so what the pipeline can and cannot simulate "in time" is decided
// by the test, not by the machine's speed.

/// Waits (at most a minute: a hang is a failure, not a slow machine) until
/// `cond` holds.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "still waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// A lossless recorder of every event that also keeps the newest
/// timestamp where the test can read it while the run goes on.
fn record_live(broadcaster: &Broadcaster<Event>) -> (JoinHandle<Vec<Event>>, std::sync::Arc<AtomicU64>) {
    let newest = std::sync::Arc::new(AtomicU64::new(0));
    let seen = newest.clone();
    let sub = broadcaster.subscribe_with(
        SubscribeOptions::new("test-recorder")
            .capacity(1 << 20)
            .delivery(Delivery::Wait),
    );
    let thread = std::thread::spawn(move || {
        let mut out = Vec::new();
        loop {
            match sub.recv() {
                Ok(batch) => {
                    out.extend(batch.iter().copied());
                    if let Some(e) = out.last() {
                        seen.fetch_max(e.t, Ordering::SeqCst);
                    }
                }
                Err(RecvError::Closed) => return out,
                Err(e) => panic!("a waiting subscriber ended early: {e}"),
            }
        }
    });
    (thread, newest)
}

fn paces(events: &[Event]) -> Vec<(Nanos, f64, Nanos, bool)> {
    events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::ArrivalPace {
                achieved,
                skipped,
                short,
                ..
            } => Some((e.t, achieved, skipped, short)),
            _ => None,
        })
        .collect()
}

/// A real-time pipeline whose wall clock runs ten seconds ahead of what it
/// can simulate skips all but the last 250 ms (no arrivals in the skipped
/// time), says it fell short (arrivals it generated per second of wall
/// time, far below the rate), and once it keeps up for a whole window,
/// says so once.
#[test]
fn a_real_time_pipeline_that_cannot_keep_up_says_so_and_says_when_it_does() {
    let clock = Clock::manual();
    let (publisher, broadcaster) = broadcast::channel(BroadcastConfig::default(), clock.clone());
    let (recorder, newest) = record_live(&broadcaster);
    let rate = 100_000.0;
    let config = SimConfig {
        rate,
        workers: 64,
        seed: 3,
        ..SimConfig::default()
    };
    let pipeline = Pipeline::start(PipelineOptions::new(config, Pace::RealTime), publisher, clock.clone()).unwrap();
    // Started (its first pace window runs from before 1 ms)...
    clock.set(MILLIS);
    wait_until("the pipeline to start", || newest.load(Ordering::SeqCst) > 0);
    // ...then the wall clock leaps. Caught up when the queue sample at
    // 10 s (one every 10 ms) is out.
    clock.set(10 * SECONDS);
    wait_until("the pipeline to reach 10 s", || {
        newest.load(Ordering::SeqCst) >= 10 * SECONDS
    });
    // Then the clock moves in steps it can keep up with.
    for step in 1..=11 {
        let t = 10 * SECONDS + step * 100 * MILLIS;
        clock.set(t);
        wait_until("the pipeline to keep up", || newest.load(Ordering::SeqCst) >= t);
    }
    let report = pipeline.stop();
    let events = recorder.join().unwrap();
    let p = paces(&events);
    assert_eq!(p.len(), 2, "{p:?}");
    // The first window, judged as soon as the clock leapt: the first
    // slice's arrivals over 10 s of wall time.
    let (_, achieved, skipped, short) = p[0];
    assert!(short, "{p:?}");
    assert!((9_500 * MILLIS..=9_750 * MILLIS).contains(&skipped), "{p:?}");
    assert!(achieved > 0.0 && achieved < rate * 0.05, "{p:?}");
    let (_, _, skipped, short) = p[1];
    assert!(!short && skipped == 0, "{p:?}");
    assert!(
        report.skipped_ns >= 9_500 * MILLIS && report.short_windows == 1,
        "{report:?}"
    );
    let arrivals_in = |from: Nanos, to: Nanos| {
        events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::RequestArrived { .. }) && e.t > from && e.t < to)
            .count()
    };
    assert_eq!(arrivals_in(SECONDS, 9_700 * MILLIS), 0, "skipped time has no arrivals");
    let last = arrivals_in(9_750 * MILLIS, 10 * SECONDS) as f64;
    assert!(
        (last - rate * 0.25).abs() < rate * 0.25 * 0.05,
        "{last} arrivals in the last 250 ms"
    );
}

/// Stopped while its wall clock is far ahead at the highest rate, the
/// pipeline ends (it never runs a batch it cannot finish in a slice).
#[test]
fn a_real_time_pipeline_at_the_highest_rate_stops_when_told() {
    let clock = Clock::manual();
    let (publisher, _broadcaster) = broadcast::channel(BroadcastConfig::default(), clock.clone());
    let config = SimConfig {
        rate: fantop::pipeline::control::MAX_RATE,
        seed: 4,
        ..SimConfig::default()
    };
    let pipeline = Pipeline::start(PipelineOptions::new(config, Pace::RealTime), publisher, clock.clone()).unwrap();
    clock.set(1_000 * SECONDS);
    std::thread::sleep(std::time::Duration::from_millis(50));
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let _ = done_tx.send(pipeline.stop());
    });
    let report = done_rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the pipeline stopped");
    assert!(report.simulated_ns < 1_000 * SECONDS);
}

/// In real time the pipeline keeps pace with the subscriber it is told to
/// (the live runs name the collector): while that one has more than half
/// its queue to receive it generates nothing, so it loses nothing however
/// far the clock runs ahead, and the time it could not simulate is skipped
/// and reported as a shortfall.
#[test]
fn a_real_time_pipeline_holds_back_for_the_subscriber_it_keeps_pace_with() {
    let clock = Clock::manual();
    let (publisher, broadcaster) = broadcast::channel(BroadcastConfig::default(), clock.clone());
    let stuck = broadcaster.subscribe_with(SubscribeOptions::new("collector").capacity(65_536));
    let probe = broadcaster.subscribe_with(SubscribeOptions::new("probe").capacity(1 << 16));
    let (recorder, newest) = record_live(&broadcaster);
    let config = SimConfig {
        rate: 1_000_000.0,
        seed: 6,
        ..SimConfig::default()
    };
    let mut opts = PipelineOptions::new(config, Pace::RealTime);
    opts.keep_pace_with = Some("collector".into());
    let pipeline = Pipeline::start(opts, publisher, clock.clone()).unwrap();
    let control = pipeline.control();
    clock.set(MILLIS);
    wait_until("the pipeline to start", || newest.load(Ordering::SeqCst) > 0);
    clock.set(2 * SECONDS);
    // A shortfall is published once the first window (1 s) is judged; the
    // stuck subscriber receives nothing meanwhile.
    let mut short = false;
    wait_until("a shortfall", || {
        let _ = probe.drain(|e| short |= matches!(e.kind, EventKind::ArrivalPace { short: true, .. }));
        short
    });
    // Time enough to overrun the stuck queue many times over, were it not
    // held (the assertion does not depend on how long this is).
    std::thread::sleep(std::time::Duration::from_millis(500));
    let held = stuck.stats();
    assert_eq!(held.dropped, 0, "{held:?}");
    assert!(held.queued > 0 && held.queued <= 65_536, "{held:?}");
    // Once it receives, the pipeline goes on, and it still loses nothing.
    wait_until("the pipeline to go on", || {
        let _ = stuck.drain(|_| {});
        newest.load(Ordering::SeqCst) >= 1_900 * MILLIS
    });
    assert_eq!(stuck.stats().dropped, 0, "{:?}", stuck.stats());
    control.apply(Command::Stop).unwrap();
    let report = pipeline.join();
    assert!(report.skipped_ns > SECONDS, "{report:?}");
    drop(stuck);
    drop(probe);
    recorder.join().unwrap();
}
