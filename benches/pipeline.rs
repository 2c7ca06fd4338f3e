//! Headless fast-mode simulation throughput, in requests per second of wall
//! time: the whole run (pipeline thread → broadcaster → collector thread,
//! via `fantop::run::headless`) against the pure discrete-event `Sim` with
//! no broadcaster as the baseline. The gap between the two is the cost of
//! publishing and aggregating every event.
//!
//! Load: 100,000 requests/s on 300 workers with exp:2ms service (ρ ≈ 0.67),
//! 5 s simulated, fixed seed, so every iteration does the same work.
//!
//! Run with `cargo bench --bench pipeline`; `-- --test` runs each once.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fantop::bench::{CountArrivals, pipeline_load};
use fantop::event::{Nanos, SECONDS};
use fantop::pipeline::Sim;
use fantop::run::{self, HeadlessOptions};

const SIMULATED: Nanos = 5 * SECONDS;

fn pure_sim() -> CountArrivals {
    let mut sim = Sim::new(pipeline_load());
    let mut count = CountArrivals::default();
    sim.advance_until(SIMULATED, &mut count);
    count
}

fn headless() -> u64 {
    let run = run::headless(HeadlessOptions {
        sim: pipeline_load(),
        duration: Some(SIMULATED),
        fast: true,
        timeline: Vec::new(),
        ..Default::default()
    })
    .expect("headless run");
    run.summary.requests.arrived
}

fn bench(c: &mut Criterion) {
    // Same seed, same requests: the pure sim's count is the run's.
    let requests = pure_sim().0;
    assert_eq!(headless(), requests, "the headless run simulates the same requests");

    let mut group = c.benchmark_group("pipeline");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(requests));
    group.bench_function("sim_only", |b| b.iter(|| black_box(pure_sim().0)));
    group.bench_function("headless_fast", |b| b.iter(|| black_box(headless())));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
