//! Queueing-theory faithfulness: with Poisson arrivals, exponential service
//! and `c` workers (an M/M/c queue with an effectively infinite buffer), the
//! simulation's probability of waiting and mean latency must match the
//! Erlang C formulas.
//!
//! Each point runs the pure [`Sim`] (no threads, no broadcaster) with a fixed
//! seed, folds the events into per-batch counters in a custom [`Sink`]
//! (nothing is stored but each request's arrival time), skips a warm-up, and
//! compares against theory with a tolerance derived from the sampling error:
//! the measurement window is split into [`BATCHES`] batches by arrival time,
//! the standard error is estimated from the spread of the batch means, and
//! the estimate must lie within [`SIGMAS`] standard errors plus a small
//! relative slack ([`SLACK`]) of the exact value.

use fantop::event::{Event, EventKind, MILLIS, Nanos, SECONDS, ServiceDist};
use fantop::pipeline::{Command, Sim, SimConfig, Sink};

/// Batches the measurement window is split into for the batch-means error.
const BATCHES: usize = 20;
/// Standard errors allowed between measurement and theory.
const SIGMAS: f64 = 4.5;
/// Relative slack on top of the sampling error (ns rounding, batch-means bias).
const SLACK: f64 = 0.02;
/// Mean service time at every point: μ = 1/ms.
const MEAN_SERVICE: Nanos = MILLIS;

/// Erlang C: the probability that an arrival waits in an M/M/c queue with
/// offered load `a` = λ/μ erlangs (requires `a < c`).
fn erlang_c(c: u32, a: f64) -> f64 {
    assert!(a < c as f64, "unstable: a = {a} >= c = {c}");
    // Σ_{k<c} a^k/k!, and a^c/c!, computed by recurrence.
    let mut term = 1.0;
    let mut sum = 0.0;
    for k in 0..c {
        sum += term;
        term *= a / (k + 1) as f64;
    }
    let top = term * c as f64 / (c as f64 - a);
    top / (sum + top)
}

/// Folds the event stream into per-batch counters for requests that arrived
/// in `[warm_up, end)`; everything else (warm-up, heartbeats, samples) is
/// discarded.
struct Fold {
    warm_up: Nanos,
    end: Nanos,
    batch_ns: Nanos,
    /// Arrival time of request `id` (ids are dense from 0).
    arrivals: Vec<Nanos>,
    arrived: [u64; BATCHES],
    started: [u64; BATCHES],
    waited: [u64; BATCHES],
    completed: [u64; BATCHES],
    latency_sum: [f64; BATCHES],
    rejected: u64,
    failed: u64,
}

impl Fold {
    fn new(warm_up: Nanos, end: Nanos) -> Self {
        Fold {
            warm_up,
            end,
            batch_ns: (end - warm_up).div_ceil(BATCHES as Nanos),
            arrivals: Vec::new(),
            arrived: [0; BATCHES],
            started: [0; BATCHES],
            waited: [0; BATCHES],
            completed: [0; BATCHES],
            latency_sum: [0.0; BATCHES],
            rejected: 0,
            failed: 0,
        }
    }

    /// The batch of a request that arrived at `t`, if it is measured.
    fn batch(&self, t: Nanos) -> Option<usize> {
        (t >= self.warm_up && t < self.end).then(|| ((t - self.warm_up) / self.batch_ns) as usize)
    }
}

impl Sink for Fold {
    fn emit(&mut self, ev: Event) {
        match ev.kind {
            EventKind::RequestArrived { id } => {
                assert_eq!(id, self.arrivals.len() as u64, "request ids are dense");
                self.arrivals.push(ev.t);
                if let Some(b) = self.batch(ev.t) {
                    self.arrived[b] += 1;
                }
            }
            EventKind::RequestStarted { id, .. } => {
                let arrived_at = self.arrivals[id as usize];
                if let Some(b) = self.batch(arrived_at) {
                    self.started[b] += 1;
                    // A request that finds an idle worker starts at its arrival time.
                    if ev.t > arrived_at {
                        self.waited[b] += 1;
                    }
                }
            }
            EventKind::RequestCompleted { id, latency, ok, .. } => {
                let arrived_at = self.arrivals[id as usize];
                assert_eq!(ev.t - arrived_at, latency, "latency = completion - arrival");
                if !ok {
                    self.failed += 1;
                }
                if let Some(b) = self.batch(arrived_at) {
                    self.completed[b] += 1;
                    self.latency_sum[b] += latency as f64;
                }
            }
            EventKind::RequestRejected { .. } => self.rejected += 1,
            _ => {}
        }
    }
}

/// A ratio estimate over the batches: the pooled value and its batch-means
/// standard error.
fn batch_estimate(num: &[f64; BATCHES], den: &[u64; BATCHES]) -> (f64, f64) {
    let pooled = num.iter().sum::<f64>() / den.iter().sum::<u64>() as f64;
    let means: Vec<f64> = num.iter().zip(den).map(|(n, &d)| n / d as f64).collect();
    let avg = means.iter().sum::<f64>() / BATCHES as f64;
    let var = means.iter().map(|m| (m - avg).powi(2)).sum::<f64>() / (BATCHES - 1) as f64;
    (pooled, (var / BATCHES as f64).sqrt())
}

/// Runs one M/M/c point with about `requests` measured arrivals and checks
/// P(wait) and mean latency against Erlang C.
fn check_point(c: u16, rho: f64, requests: u64, seed: u64) {
    let mu = SECONDS as f64 / MEAN_SERVICE as f64; // per second
    let lambda = rho * c as f64 * mu;
    let a = lambda / mu;
    let p_wait = erlang_c(c as u32, a);
    let mean_latency = (p_wait / (c as f64 * mu - lambda) + 1.0 / mu) * SECONDS as f64; // ns

    // Warm-up: long enough for the queue to forget its empty start (many
    // relaxation times at these loads); then the measured window.
    let warm_up = (requests as f64 / lambda * 0.05 * SECONDS as f64) as Nanos;
    let end = warm_up + (requests as f64 / lambda * SECONDS as f64) as Nanos;
    let cfg = SimConfig {
        rate: lambda,
        workers: c,
        service: ServiceDist::Exp { mean_ns: MEAN_SERVICE },
        error_rate: 0.0,
        queue_capacity: 1_000_000,
        seed,
        ..SimConfig::default()
    };
    let mut sim = Sim::new(cfg);
    let mut fold = Fold::new(warm_up, end);
    sim.advance_until(end, &mut fold);
    // Stop arrivals and let every measured request finish, so the window's
    // latencies are not biased towards the short ones.
    sim.apply(Command::Pause, &mut fold).expect("pause is always valid");
    sim.advance_until(end + 10 * SECONDS, &mut fold);

    assert_eq!(fold.rejected, 0, "the queue never fills");
    assert_eq!(fold.failed, 0, "error_rate 0");
    let arrived: u64 = fold.arrived.iter().sum();
    assert_eq!(fold.started, fold.arrived, "every measured request started");
    assert_eq!(fold.completed, fold.arrived, "every measured request completed");
    assert!(arrived as f64 > requests as f64 * 0.95, "{arrived} measured requests");

    let waited = fold.waited.map(|w| w as f64);
    let (p_meas, p_se) = batch_estimate(&waited, &fold.started);
    let (w_meas, w_se) = batch_estimate(&fold.latency_sum, &fold.completed);
    let p_tol = SIGMAS * p_se + SLACK * p_wait;
    let w_tol = SIGMAS * w_se + SLACK * mean_latency;
    println!(
        "M/M/{c} rho={rho} lambda={lambda}/s mu={mu}/s n={arrived}: \
         P(wait) measured {p_meas:.5} theory {p_wait:.5} (se {p_se:.5}, z {:+.2}, tol {p_tol:.5}); \
         W measured {:.2}us theory {:.2}us (se {:.2}us, z {:+.2}, tol {:.2}us)",
        (p_meas - p_wait) / p_se,
        w_meas / 1e3,
        mean_latency / 1e3,
        w_se / 1e3,
        (w_meas - mean_latency) / w_se,
        w_tol / 1e3,
    );
    assert!(
        (p_meas - p_wait).abs() <= p_tol,
        "M/M/{c} rho={rho}: P(wait) {p_meas} vs Erlang C {p_wait} (se {p_se}, tolerance {p_tol})"
    );
    assert!(
        (w_meas - mean_latency).abs() <= w_tol,
        "M/M/{c} rho={rho}: mean latency {w_meas} ns vs {mean_latency} ns (se {w_se}, tolerance {w_tol})"
    );
}

/// The Erlang C helper itself: M/M/1 waits with probability ρ, and a
/// textbook M/M/2 value.
#[test]
fn erlang_c_matches_closed_forms() {
    assert!((erlang_c(1, 0.5) - 0.5).abs() < 1e-12);
    assert!((erlang_c(1, 0.9) - 0.9).abs() < 1e-12);
    // M/M/2 at a = 1: C = (1/2 · 2/1) / (1 + 1 + 1) = 1/3.
    assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
}

/// One worker at half load waits with probability ρ and has mean latency 1/(μ−λ).
#[test]
fn mm1_at_half_load_matches_erlang_c() {
    check_point(1, 0.5, 500_000, 11);
}

/// Four workers at ρ = 0.75 match Erlang C's P(wait) and mean latency.
#[test]
fn mm4_at_three_quarters_load_matches_erlang_c() {
    check_point(4, 0.75, 800_000, 12);
}

/// Eight workers at ρ = 0.9 match Erlang C's P(wait) and mean latency.
#[test]
fn mm8_at_nine_tenths_load_matches_erlang_c() {
    check_point(8, 0.9, 1_000_000, 13);
}

/// Sixteen workers at ρ = 0.9 match Erlang C's P(wait) and mean latency.
#[test]
fn mm16_at_nine_tenths_load_matches_erlang_c() {
    check_point(16, 0.9, 1_000_000, 14);
}
