//! The discrete-event core of the simulated pipeline: Poisson arrivals, a
//! bounded FIFO queue, a pool of workers with heartbeats and health, and
//! injected faults. Pure and single-threaded: [`Sim::advance_until`] runs
//! every event due up to a time and emits what happened into a [`Sink`].
//!
//! Time is the simulation's own (ns). Latency = completion − arrival, both
//! read from that clock, so it is exact at any scale and whatever the
//! machine's load; how simulated time follows the wall clock is the runner's
//! business ([`super::Pipeline`]).
//!
//! Determinism: all randomness comes from one `ChaCha8Rng` seeded with the
//! run's seed (a portable, documented algorithm: the same seed gives the same
//! arrivals, service times, outcomes and fault targets on every machine).
//! Simultaneous timers fire in the order they were scheduled.
//!
//! Workers are simulated entities, not threads: a thousand of them cost
//! nothing, and their timing is exact. Their heartbeats are real events,
//! and the health monitor works only from what it saw of them: a worker is
//! reported stalled after [`SimConfig::missed_heartbeats`] missed
//! heartbeats, and recovered at the first one after that.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Exp1, StandardNormal};

use super::control::{
    Command, ControlError, MAX_QUEUE_CAPACITY, MAX_RATE, scale_service, step_error_rate, step_rate, step_workers,
};
use crate::broadcast::Publisher;
use crate::event::{Event, EventKind, LoadChange, MILLIS, Nanos, RequestId, ServiceDist, WorkerId};

/// z such that P(N(0,1) < z) = 0.99: turns a (median, p99) pair into sigma.
const Z_99: f64 = 2.326_347_874_040_841;

/// Where the simulation's events go.
pub trait Sink {
    fn emit(&mut self, event: Event);
}

impl Sink for Vec<Event> {
    fn emit(&mut self, event: Event) {
        self.push(event);
    }
}

impl Sink for Publisher<Event> {
    fn emit(&mut self, event: Event) {
        self.publish(event);
    }
}

/// The pipeline's settings. All of them can change live through [`Command`]s.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SimConfig {
    /// Target arrival rate, requests/s.
    pub rate: f64,
    pub workers: u16,
    pub service: ServiceDist,
    /// Fraction of requests that fail.
    pub error_rate: f64,
    pub queue_capacity: u32,
    pub seed: u64,
    /// Restart a crashed worker after `restart_delay`.
    pub auto_restart: bool,
    pub restart_delay: Nanos,
    pub heartbeat_every: Nanos,
    pub missed_heartbeats: u32,
    pub queue_sample_every: Nanos,
}

pub const DEFAULT_RATE: f64 = 2_000.0;
pub const DEFAULT_WORKERS: u16 = 8;
pub const DEFAULT_ERROR_RATE: f64 = 0.01;
pub const DEFAULT_QUEUE_CAPACITY: u32 = 10_000;

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            rate: DEFAULT_RATE,
            workers: DEFAULT_WORKERS,
            service: ServiceDist::default(),
            error_rate: DEFAULT_ERROR_RATE,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            seed: 0,
            auto_restart: true,
            restart_delay: 500 * MILLIS,
            heartbeat_every: 100 * MILLIS,
            missed_heartbeats: 3,
            queue_sample_every: 10 * MILLIS,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Idle,
    Busy {
        req: RequestId,
        arrived: Nanos,
        ok: bool,
    },
    /// Crashed; restarts when a `Restart` timer fires (if auto-restart).
    Crashed,
    Stopped,
}

#[derive(Clone, Debug)]
struct Worker {
    status: Status,
    /// Bumped to cancel this worker's pending completion / stall-end timers.
    generation: u32,
    /// Finish the current request, then stop.
    retiring: bool,
    /// The worker does nothing (no work, no heartbeats) until then.
    stalled_until: Nanos,
    last_heartbeat: Nanos,
    reported_stalled: bool,
    completed: u64,
    /// In the idle stack (avoids duplicates).
    listed_idle: bool,
    /// Crashed, with a restart scheduled.
    restart_pending: bool,
}

impl Worker {
    fn new(now: Nanos) -> Self {
        Worker {
            status: Status::Idle,
            generation: 0,
            retiring: false,
            stalled_until: 0,
            last_heartbeat: now,
            reported_stalled: false,
            completed: 0,
            listed_idle: false,
            restart_pending: false,
        }
    }
    fn alive(&self) -> bool {
        matches!(self.status, Status::Idle | Status::Busy { .. })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    Complete { worker: WorkerId, generation: u32 },
    StallEnd { worker: WorkerId, generation: u32 },
    Restart { worker: WorkerId, generation: u32 },
    Heartbeat,
    QueueSample,
    BurstEnd { generation: u32 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Timer {
    at: Nanos,
    seq: u64,
    kind: TimerKind,
}

/// What a worker is doing, as the pipeline reports it and the collector
/// folds it from the events. Serialised (and labelled) in snake case:
/// `"idle"`, `"busy"`, `"stalled"`, `"crashed"`, `"stopped"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerState {
    #[default]
    Idle,
    Busy,
    /// Alive but missing heartbeats (holding its request, if any).
    Stalled,
    Crashed,
    Stopped,
}

impl WorkerState {
    /// The state as the summary and reports spell it.
    pub fn label(self) -> &'static str {
        match self {
            WorkerState::Idle => "idle",
            WorkerState::Busy => "busy",
            WorkerState::Stalled => "stalled",
            WorkerState::Crashed => "crashed",
            WorkerState::Stopped => "stopped",
        }
    }
}

/// A worker's state for the final report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerReport {
    pub id: WorkerId,
    pub completed: u64,
    pub state: WorkerState,
}

/// The simulation.
pub struct Sim {
    cfg: SimConfig,
    now: Nanos,
    rng: ChaCha8Rng,
    queue: VecDeque<(RequestId, Nanos)>,
    peak: u32,
    workers: Vec<Worker>,
    /// Idle workers, longest idle first (work is spread round-robin).
    idle: VecDeque<WorkerId>,
    timers: BinaryHeap<Reverse<Timer>>,
    timer_seq: u64,
    next_arrival: Option<Nanos>,
    next_id: RequestId,
    paused: bool,
    burst: Option<f64>,
    burst_generation: u32,
    started: bool,
    /// No arrival is generated before this time: the real-time runner
    /// skips pipeline time it could not simulate in time
    /// ([`Sim::skip_arrivals_until`]).
    arrivals_from: Nanos,
    /// The rejection spell going on, if any.
    rejecting: Option<RejectionSpell>,
}

/// Arrivals turned away by a full queue since the spell's first rejection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RejectionSpell {
    rejected: u64,
    last_at: Nanos,
}

/// A rejection spell ends at the first queue sample after this long without
/// a rejection, with room in the queue: a queue at capacity turns arrivals
/// away between completions, and the log shows such a spell once.
pub const REJECTION_QUIET: Nanos = crate::event::SECONDS;

impl Sim {
    pub fn new(cfg: SimConfig) -> Self {
        Sim {
            cfg,
            now: 0,
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            queue: VecDeque::new(),
            peak: 0,
            workers: Vec::new(),
            idle: VecDeque::new(),
            timers: BinaryHeap::new(),
            timer_seq: 0,
            next_arrival: None,
            next_id: 0,
            paused: false,
            burst: None,
            burst_generation: 0,
            started: false,
            arrivals_from: 0,
            rejecting: None,
        }
    }

    /// Simulated time now.
    pub fn now(&self) -> Nanos {
        self.now
    }

    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// Requests queued now.
    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    /// Workers that are alive (idle or busy).
    pub fn live_workers(&self) -> usize {
        self.workers.iter().filter(|w| w.alive()).count()
    }

    /// The time of the next thing that will happen, if anything is scheduled.
    pub fn next_event_at(&self) -> Option<Nanos> {
        let timer = self.timers.peek().map(|t| t.0.at);
        match (timer, self.next_arrival) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Per-worker counts and states.
    pub fn worker_report(&self) -> Vec<WorkerReport> {
        self.workers
            .iter()
            .enumerate()
            .map(|(i, w)| WorkerReport {
                id: i as WorkerId,
                completed: w.completed,
                state: match w.status {
                    _ if w.alive() && w.stalled_until > self.now => WorkerState::Stalled,
                    Status::Idle => WorkerState::Idle,
                    Status::Busy { .. } => WorkerState::Busy,
                    Status::Crashed => WorkerState::Crashed,
                    Status::Stopped => WorkerState::Stopped,
                },
            })
            .collect()
    }

    /// Emits the initial settings and spawns the pool. Called once, at time 0,
    /// by [`Sim::advance_until`] if not before.
    pub fn start(&mut self, sink: &mut impl Sink) {
        if self.started {
            return;
        }
        self.started = true;
        let c = self.cfg;
        for change in [
            LoadChange::Rate { per_s: c.rate },
            LoadChange::Workers { count: c.workers },
            LoadChange::Service { dist: c.service },
            LoadChange::ErrorRate { fraction: c.error_rate },
            LoadChange::QueueCapacity {
                capacity: c.queue_capacity,
            },
            LoadChange::AutoRestart { on: c.auto_restart },
        ] {
            self.emit(sink, EventKind::LoadChanged { change });
        }
        for _ in 0..c.workers {
            self.spawn_worker(sink);
        }
        self.schedule(c.heartbeat_every, TimerKind::Heartbeat);
        self.schedule(0, TimerKind::QueueSample);
        self.schedule_arrival();
    }

    /// Runs everything due at or before `until`, then sets the clock to `until`.
    pub fn advance_until(&mut self, until: Nanos, sink: &mut impl Sink) {
        let mut unbounded = usize::MAX;
        self.advance_within(until, &mut unbounded, sink);
    }

    /// [`Sim::advance_until`], running at most `budget` arrivals and timers
    /// (each taken off `budget`). Returns whether it reached `until` (the
    /// clock is then `until`); otherwise the clock stands at the last thing
    /// it ran, and the next call goes on from there. Bounds the work of one
    /// call, so a caller can look at its controls between calls whatever the
    /// rate.
    pub fn advance_within(&mut self, until: Nanos, budget: &mut usize, sink: &mut impl Sink) -> bool {
        self.start(sink);
        loop {
            let timer_at = self.timers.peek().map(|t| t.0.at);
            let arrival_first = match (self.next_arrival, timer_at) {
                (Some(a), Some(t)) => a < t,
                (Some(_), None) => true,
                _ => false,
            };
            let next = if arrival_first { self.next_arrival } else { timer_at };
            match next {
                Some(_) if *budget == 0 => return false,
                Some(at) if at <= until => {
                    *budget -= 1;
                    self.now = at;
                    if arrival_first {
                        self.arrive(sink);
                    } else if let Some(Reverse(t)) = self.timers.pop() {
                        self.fire(t.kind, sink);
                    }
                }
                _ => break,
            }
        }
        self.now = self.now.max(until);
        true
    }

    /// Generates no arrival before `t`: the pipeline time from now to `t`
    /// runs (completions, heartbeats, samples) without arrivals. The
    /// real-time runner calls it for time it could not simulate in time.
    /// Exact for the arrivals after `t` (Poisson arrivals are memoryless).
    /// Returns the arrival time skipped (0 if `t` is not later than what was
    /// already skipped, or than now).
    pub fn skip_arrivals_until(&mut self, t: Nanos) -> Nanos {
        let from = self.now.max(self.arrivals_from);
        if t <= from {
            return 0;
        }
        self.arrivals_from = t;
        if !self.paused {
            self.schedule_arrival();
        }
        t - from
    }

    /// Arrivals generated so far.
    pub fn arrivals(&self) -> u64 {
        self.next_id
    }

    fn emit(&self, sink: &mut impl Sink, kind: EventKind) {
        sink.emit(Event::new(self.now, kind));
    }

    fn schedule(&mut self, delay: Nanos, kind: TimerKind) {
        self.timer_seq += 1;
        self.timers.push(Reverse(Timer {
            at: self.now.saturating_add(delay),
            seq: self.timer_seq,
            kind,
        }));
    }

    /// The arrival rate in force: rate × burst factor, never above
    /// [`MAX_RATE`] (a burst, or a rate raised during one, stops at the
    /// ceiling).
    pub fn effective_rate(&self) -> f64 {
        (self.cfg.rate * self.burst.unwrap_or(1.0)).min(MAX_RATE)
    }

    /// Poisson arrivals: the next one an exponential gap from now (or from
    /// the end of skipped time). Called afresh whenever the rate changes
    /// (memorylessness keeps this exact).
    fn schedule_arrival(&mut self) {
        self.next_arrival = if self.paused {
            None
        } else {
            let gap: f64 = self.rng.sample::<f64, _>(Exp1) / self.effective_rate() * 1e9;
            let from = self.now.max(self.arrivals_from);
            Some(from.saturating_add((gap.round() as Nanos).max(1)))
        };
    }

    fn sample_service(&mut self) -> Nanos {
        let ns = match self.cfg.service {
            ServiceDist::Const { ns } => return ns.max(1),
            ServiceDist::Exp { mean_ns } => {
                let e: f64 = self.rng.sample(Exp1);
                e * mean_ns as f64
            }
            ServiceDist::LogNormal { median_ns, p99_ns } => {
                let sigma = ((p99_ns as f64).ln() - (median_ns as f64).ln()) / Z_99;
                let z: f64 = self.rng.sample(StandardNormal);
                (median_ns as f64) * (sigma * z).exp()
            }
        };
        (ns.round() as Nanos).clamp(1, 3_600 * crate::event::SECONDS)
    }

    fn arrive(&mut self, sink: &mut impl Sink) {
        let id = self.next_id;
        self.next_id += 1;
        self.emit(sink, EventKind::RequestArrived { id });
        if let Some(w) = self.take_idle() {
            self.begin(w, id, self.now, sink);
        } else if self.queue.len() >= self.cfg.queue_capacity as usize {
            let now = self.now;
            let spell = match &mut self.rejecting {
                Some(spell) => spell,
                None => {
                    self.emit(sink, EventKind::QueueFull);
                    self.rejecting.insert(RejectionSpell {
                        rejected: 0,
                        last_at: now,
                    })
                }
            };
            spell.rejected += 1;
            spell.last_at = now;
            self.emit(sink, EventKind::RequestRejected { id });
        } else {
            self.queue.push_back((id, self.now));
            self.peak = self.peak.max(self.queue.len() as u32);
        }
        self.schedule_arrival();
    }

    /// An idle worker that can take work now.
    fn take_idle(&mut self) -> Option<WorkerId> {
        while let Some(w) = self.idle.pop_front() {
            let worker = &mut self.workers[w as usize];
            worker.listed_idle = false;
            if worker.status == Status::Idle && !worker.retiring && worker.stalled_until <= self.now {
                return Some(w);
            }
        }
        None
    }

    fn make_available(&mut self, w: WorkerId, sink: &mut impl Sink) {
        let now = self.now;
        let worker = &mut self.workers[w as usize];
        if worker.status != Status::Idle || worker.retiring || worker.stalled_until > now {
            return;
        }
        if let Some((id, arrived)) = self.queue.pop_front() {
            self.begin(w, id, arrived, sink);
        } else if !worker.listed_idle {
            worker.listed_idle = true;
            self.idle.push_back(w);
        }
    }

    fn begin(&mut self, w: WorkerId, id: RequestId, arrived: Nanos, sink: &mut impl Sink) {
        let service = self.sample_service();
        let ok = self.cfg.error_rate <= 0.0 || self.rng.random::<f64>() >= self.cfg.error_rate;
        self.emit(sink, EventKind::RequestStarted { id, worker: w });
        let worker = &mut self.workers[w as usize];
        worker.status = Status::Busy { req: id, arrived, ok };
        let generation = worker.generation;
        self.schedule(service, TimerKind::Complete { worker: w, generation });
    }

    fn fire(&mut self, kind: TimerKind, sink: &mut impl Sink) {
        match kind {
            TimerKind::Complete { worker: w, generation } => {
                let worker = &mut self.workers[w as usize];
                if worker.generation != generation {
                    return;
                }
                let Status::Busy { req, arrived, ok } = worker.status else {
                    return;
                };
                if worker.stalled_until > self.now {
                    // Stalled mid-request: it finishes when the stall ends.
                    let delay = worker.stalled_until - self.now;
                    self.schedule(delay, kind);
                    return;
                }
                worker.completed += 1;
                worker.status = Status::Idle;
                let latency = self.now - arrived;
                self.emit(
                    sink,
                    EventKind::RequestCompleted {
                        id: req,
                        worker: w,
                        latency,
                        ok,
                    },
                );
                if self.workers[w as usize].retiring {
                    self.stop_worker(w, sink);
                } else {
                    self.make_available(w, sink);
                }
            }
            TimerKind::StallEnd { worker: w, generation } => {
                if self.workers[w as usize].generation == generation {
                    self.make_available(w, sink);
                }
            }
            TimerKind::Restart { worker: w, generation } => {
                let worker = &mut self.workers[w as usize];
                if worker.generation == generation && worker.status == Status::Crashed {
                    *worker = Worker {
                        completed: worker.completed,
                        generation: worker.generation + 1,
                        ..Worker::new(self.now)
                    };
                    self.emit(sink, EventKind::WorkerSpawned { worker: w });
                    self.make_available(w, sink);
                }
            }
            TimerKind::Heartbeat => {
                self.heartbeat(sink);
                self.schedule(self.cfg.heartbeat_every, TimerKind::Heartbeat);
            }
            TimerKind::QueueSample => {
                let depth = self.queue.len() as u32;
                let peak = self.peak.max(depth);
                self.emit(
                    sink,
                    EventKind::QueueDepth {
                        depth,
                        peak,
                        capacity: self.cfg.queue_capacity,
                    },
                );
                self.peak = depth;
                if let Some(spell) = self.rejecting
                    && self.now - spell.last_at >= REJECTION_QUIET
                    && depth < self.cfg.queue_capacity
                {
                    self.rejecting = None;
                    self.emit(
                        sink,
                        EventKind::QueueHasRoom {
                            rejected: spell.rejected,
                        },
                    );
                }
                self.schedule(self.cfg.queue_sample_every, TimerKind::QueueSample);
            }
            TimerKind::BurstEnd { generation } => {
                if generation == self.burst_generation && self.burst.take().is_some() {
                    self.emit(
                        sink,
                        EventKind::LoadChanged {
                            change: LoadChange::BurstEnded,
                        },
                    );
                    self.schedule_arrival();
                }
            }
        }
    }

    /// Live workers beat; the health monitor judges each by its last beat.
    fn heartbeat(&mut self, sink: &mut impl Sink) {
        let now = self.now;
        let limit = self.cfg.heartbeat_every * self.cfg.missed_heartbeats as Nanos;
        for i in 0..self.workers.len() {
            let w = i as WorkerId;
            let worker = &mut self.workers[i];
            if !worker.alive() {
                continue;
            }
            if worker.stalled_until <= now {
                worker.last_heartbeat = now;
                let recovered = std::mem::take(&mut worker.reported_stalled);
                self.emit(sink, EventKind::WorkerHeartbeat { worker: w });
                if recovered {
                    self.emit(sink, EventKind::WorkerRecovered { worker: w });
                }
            } else if now - worker.last_heartbeat >= limit && !worker.reported_stalled {
                worker.reported_stalled = true;
                self.emit(sink, EventKind::WorkerStalled { worker: w });
            }
        }
    }

    fn spawn_worker(&mut self, sink: &mut impl Sink) {
        let reuse = self.workers.iter().position(|w| w.status == Status::Stopped);
        let w = match reuse {
            Some(i) => {
                let completed = self.workers[i].completed;
                self.workers[i] = Worker {
                    completed,
                    generation: self.workers[i].generation + 1,
                    ..Worker::new(self.now)
                };
                i
            }
            None => {
                self.workers.push(Worker::new(self.now));
                self.workers.len() - 1
            }
        } as WorkerId;
        self.emit(sink, EventKind::WorkerSpawned { worker: w });
        self.make_available(w, sink);
    }

    fn stop_worker(&mut self, w: WorkerId, sink: &mut impl Sink) {
        let worker = &mut self.workers[w as usize];
        worker.status = Status::Stopped;
        worker.retiring = false;
        worker.generation += 1;
        self.emit(sink, EventKind::WorkerStopped { worker: w });
    }

    /// Workers in the pool: alive and not retiring, or crashed awaiting restart.
    fn pool_size(&self) -> usize {
        self.workers
            .iter()
            .filter(|w| (w.alive() && !w.retiring) || (w.status == Status::Crashed && w.restart_pending))
            .count()
    }

    fn resize_pool(&mut self, target: u16, sink: &mut impl Sink) {
        let mut size = self.pool_size();
        while size < target as usize {
            // Un-retire a busy worker first: cheaper than a new one.
            if let Some(w) = self.workers.iter_mut().rev().find(|w| w.retiring) {
                w.retiring = false;
            } else {
                self.spawn_worker(sink);
            }
            size += 1;
        }
        while size > target as usize {
            // Remove from the highest id down; a busy worker finishes first.
            let Some(i) = (0..self.workers.len()).rev().find(|&i| {
                let w = &self.workers[i];
                (w.alive() && !w.retiring) || (w.status == Status::Crashed && w.restart_pending)
            }) else {
                break;
            };
            let w = i as WorkerId;
            match self.workers[i].status {
                Status::Busy { .. } => self.workers[i].retiring = true,
                _ => self.stop_worker(w, sink),
            }
            size -= 1;
        }
    }

    fn random_live_worker(&mut self) -> Option<WorkerId> {
        let live: Vec<WorkerId> = (0..self.workers.len())
            .filter(|&i| self.workers[i].alive() && !self.workers[i].retiring)
            .map(|i| i as WorkerId)
            .collect();
        if live.is_empty() {
            None
        } else {
            Some(live[self.rng.random_range(0..live.len())])
        }
    }

    fn live_worker(&mut self, worker: Option<WorkerId>) -> Result<WorkerId, ControlError> {
        match worker {
            None => self
                .random_live_worker()
                .ok_or_else(|| ControlError("no live worker to inject a fault into".into())),
            Some(w) if self.workers.get(w as usize).is_some_and(|x| x.alive()) => Ok(w),
            Some(w) => Err(ControlError(format!("worker w{w} is not running"))),
        }
    }

    /// Applies a command now. Refused commands change nothing.
    pub fn apply(&mut self, action: Command, sink: &mut impl Sink) -> Result<(), ControlError> {
        action.validate()?;
        self.start(sink);
        let change = match action {
            Command::SetRate(r) | Command::ScaleRate(r) => {
                let rate = if let Command::ScaleRate(f) = action {
                    step_rate(self.cfg.rate, f)
                } else {
                    r
                };
                self.cfg.rate = rate;
                self.schedule_arrival();
                LoadChange::Rate { per_s: rate }
            }
            Command::SetWorkers(n) => {
                self.cfg.workers = n;
                self.resize_pool(n, sink);
                LoadChange::Workers { count: n }
            }
            Command::AddWorkers(d) => {
                let n = step_workers(self.cfg.workers, d);
                self.cfg.workers = n;
                self.resize_pool(n, sink);
                LoadChange::Workers { count: n }
            }
            Command::SetService(dist) => {
                self.cfg.service = dist;
                LoadChange::Service { dist }
            }
            Command::ScaleService(f) => {
                self.cfg.service = scale_service(self.cfg.service, f);
                LoadChange::Service { dist: self.cfg.service }
            }
            Command::SetErrorRate(f) => {
                self.cfg.error_rate = f;
                LoadChange::ErrorRate { fraction: f }
            }
            Command::AddErrorRate(d) => {
                let f = step_error_rate(self.cfg.error_rate, d);
                self.cfg.error_rate = f;
                LoadChange::ErrorRate { fraction: f }
            }
            Command::SetQueueCapacity(c) => {
                // Requests already queued stay; new ones are refused until
                // the queue is below the new capacity.
                self.cfg.queue_capacity = c.min(MAX_QUEUE_CAPACITY);
                LoadChange::QueueCapacity { capacity: c }
            }
            Command::Burst { factor, duration } => {
                // The ceiling bounds the burst: the factor announced (and
                // applied) is at most what takes the rate to MAX_RATE.
                let factor = factor.min(MAX_RATE / self.cfg.rate);
                self.burst = Some(factor);
                self.burst_generation += 1;
                self.schedule(
                    duration,
                    TimerKind::BurstEnd {
                        generation: self.burst_generation,
                    },
                );
                self.schedule_arrival();
                LoadChange::BurstStarted { factor, duration }
            }
            Command::Pause | Command::Resume | Command::TogglePause => {
                let pause = match action {
                    Command::Pause => true,
                    Command::Resume => false,
                    _ => !self.paused,
                };
                self.paused = pause;
                self.schedule_arrival();
                if pause { LoadChange::Paused } else { LoadChange::Resumed }
            }
            Command::Stall { worker, duration } => {
                let w = self.live_worker(worker)?;
                let worker = &mut self.workers[w as usize];
                worker.stalled_until = worker.stalled_until.max(self.now + duration);
                worker.generation += 1;
                let generation = worker.generation;
                if let Status::Busy { .. } = worker.status {
                    // Its request waits out the stall: reschedule completion
                    // with the remaining service time pushed back by `duration`.
                    self.reschedule_completion(w, duration);
                }
                self.schedule(duration, TimerKind::StallEnd { worker: w, generation });
                LoadChange::StallInjected { worker: w, duration }
            }
            Command::Crash { worker } => {
                let w = self.live_worker(worker)?;
                self.emit(
                    sink,
                    EventKind::LoadChanged {
                        change: LoadChange::CrashInjected { worker: w },
                    },
                );
                self.crash(w, sink);
                return Ok(());
            }
            Command::SetAutoRestart(on) => {
                self.cfg.auto_restart = on;
                if on {
                    // Workers that crashed while it was off restart now, as
                    // far as the pool's target size wants them.
                    let mut size = self.pool_size();
                    for i in 0..self.workers.len() {
                        if size >= self.cfg.workers as usize {
                            break;
                        }
                        let w = &mut self.workers[i];
                        if w.status == Status::Crashed && !w.restart_pending {
                            w.restart_pending = true;
                            let generation = w.generation;
                            self.schedule(
                                self.cfg.restart_delay,
                                TimerKind::Restart {
                                    worker: i as WorkerId,
                                    generation,
                                },
                            );
                            size += 1;
                        }
                    }
                }
                LoadChange::AutoRestart { on }
            }
            Command::Announce(change) => change,
            Command::AnnounceState => {
                let c = self.cfg;
                let mut changes = vec![
                    LoadChange::Rate { per_s: c.rate },
                    LoadChange::Workers { count: c.workers },
                    LoadChange::Service { dist: c.service },
                    LoadChange::ErrorRate { fraction: c.error_rate },
                    LoadChange::QueueCapacity {
                        capacity: c.queue_capacity,
                    },
                    LoadChange::AutoRestart { on: c.auto_restart },
                ];
                if self.paused {
                    changes.push(LoadChange::Paused);
                }
                for change in changes {
                    self.emit(sink, EventKind::LoadChanged { change });
                }
                return Ok(());
            }
            Command::ScenarioStep(step) => {
                self.emit(sink, EventKind::ScenarioStep { step });
                return Ok(());
            }
            Command::Stop | Command::AppStep(_) => return Ok(()),
        };
        self.emit(sink, EventKind::LoadChanged { change });
        Ok(())
    }

    /// Moves a busy worker's pending completion `by` later.
    fn reschedule_completion(&mut self, w: WorkerId, by: Nanos) {
        let generation = self.workers[w as usize].generation;
        let mut kept = Vec::with_capacity(self.timers.len());
        let mut moved = None;
        for Reverse(t) in self.timers.drain() {
            match t.kind {
                TimerKind::Complete { worker, .. } if worker == w && moved.is_none() => moved = Some(t.at),
                _ => kept.push(Reverse(t)),
            }
        }
        self.timers = kept.into();
        if let Some(at) = moved {
            let remaining = at.saturating_sub(self.now);
            self.schedule(remaining + by, TimerKind::Complete { worker: w, generation });
        }
    }

    fn crash(&mut self, w: WorkerId, sink: &mut impl Sink) {
        let now = self.now;
        let worker = &mut self.workers[w as usize];
        let lost = match worker.status {
            Status::Busy { req, arrived, .. } => Some((req, arrived)),
            _ => None,
        };
        worker.status = Status::Crashed;
        worker.generation += 1;
        worker.stalled_until = 0;
        worker.reported_stalled = false;
        let retiring = std::mem::take(&mut worker.retiring);
        let generation = worker.generation;
        self.emit(
            sink,
            EventKind::WorkerCrashed {
                worker: w,
                lost_request: lost.map(|l| l.0),
            },
        );
        if let Some((id, arrived)) = lost {
            self.emit(
                sink,
                EventKind::RequestCompleted {
                    id,
                    worker: w,
                    latency: now - arrived,
                    ok: false,
                },
            );
        }
        if retiring {
            self.stop_worker(w, sink);
        } else if self.cfg.auto_restart {
            self.workers[w as usize].restart_pending = true;
            self.schedule(self.cfg.restart_delay, TimerKind::Restart { worker: w, generation });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::SECONDS;

    /// A sim with `workers` workers of constant `service_ns`, no errors and
    /// `requests` requests put in service at times 0, 1, 2, ... ns.
    fn with_requests_in_service(workers: u16, service_ns: Nanos, requests: u64) -> (Sim, Vec<Event>) {
        let cfg = SimConfig {
            rate: 1.0,
            workers,
            service: ServiceDist::Const { ns: service_ns },
            error_rate: 0.0,
            ..SimConfig::default()
        };
        let mut sim = Sim::new(cfg);
        let mut out = Vec::new();
        sim.start(&mut out);
        for t in 0..requests {
            sim.next_arrival = Some(t);
            sim.advance_until(t, &mut out);
        }
        (sim, out)
    }

    fn run(cfg: SimConfig, until: Nanos) -> Vec<Event> {
        let mut sim = Sim::new(cfg);
        let mut out = Vec::new();
        sim.advance_until(until, &mut out);
        out
    }

    fn count(evs: &[Event], f: impl Fn(&EventKind) -> bool) -> usize {
        evs.iter().filter(|e| f(&e.kind)).count()
    }

    #[test]
    fn same_seed_gives_the_same_events() {
        let cfg = SimConfig {
            seed: 7,
            ..SimConfig::default()
        };
        assert_eq!(run(cfg, SECONDS), run(cfg, SECONDS));
        let other = SimConfig { seed: 8, ..cfg };
        assert_ne!(run(cfg, SECONDS), run(other, SECONDS));
    }

    #[test]
    fn events_come_in_time_order() {
        let evs = run(
            SimConfig {
                seed: 1,
                ..SimConfig::default()
            },
            2 * SECONDS,
        );
        assert!(evs.windows(2).all(|w| w[0].t <= w[1].t));
    }

    #[test]
    fn a_full_queue_rejects_arrivals() {
        let cfg = SimConfig {
            rate: 10_000.0,
            workers: 1,
            service: ServiceDist::Const { ns: 10 * MILLIS },
            queue_capacity: 5,
            ..SimConfig::default()
        };
        let evs = run(cfg, SECONDS);
        let arrived = count(&evs, |k| matches!(k, EventKind::RequestArrived { .. }));
        let rejected = count(&evs, |k| matches!(k, EventKind::RequestRejected { .. }));
        assert!(rejected > arrived / 2, "{rejected} of {arrived}");
        let max_depth = evs
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::QueueDepth { peak, .. } => Some(peak),
                _ => None,
            })
            .max();
        assert_eq!(max_depth, Some(5));
    }

    #[test]
    fn latency_is_queue_wait_plus_service() {
        // One worker, constant 1 ms service, arrivals much faster: the n-th
        // request waits for the n-1 before it.
        let cfg = SimConfig {
            rate: 1e6,
            workers: 1,
            service: ServiceDist::Const { ns: MILLIS },
            error_rate: 0.0,
            ..SimConfig::default()
        };
        let evs = run(cfg, 10 * MILLIS);
        let lat: Vec<Nanos> = evs
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::RequestCompleted { latency, .. } => Some(latency),
                _ => None,
            })
            .collect();
        assert!(lat.len() >= 9);
        assert!(lat.windows(2).all(|w| w[1] > w[0]), "queue wait grows: {lat:?}");
        assert!(lat[0] >= MILLIS);
    }

    #[test]
    fn removing_a_busy_worker_lets_it_finish_its_request() {
        let (mut sim, mut out) = with_requests_in_service(2, 100 * MILLIS, 2);
        sim.apply(Command::SetWorkers(1), &mut out).unwrap();
        sim.apply(Command::Pause, &mut out).unwrap();
        sim.advance_until(SECONDS, &mut out);
        let done = count(&out, |k| matches!(k, EventKind::RequestCompleted { ok: true, .. }));
        assert_eq!(done, 2, "both in-flight requests completed");
        let stopped: Vec<_> = out
            .iter()
            .filter(|e| matches!(e.kind, EventKind::WorkerStopped { .. }))
            .collect();
        assert_eq!(stopped.len(), 1);
        let EventKind::WorkerStopped { worker } = stopped[0].kind else {
            unreachable!()
        };
        let finished = out
            .iter()
            .find(|e| matches!(e.kind, EventKind::RequestCompleted { worker: w, .. } if w == worker))
            .expect("the removed worker finished its request");
        assert_eq!(stopped[0].t, finished.t, "stopped only after finishing");
        assert!(finished.t >= 100 * MILLIS);
        assert_eq!(sim.live_workers(), 1);
    }

    #[test]
    fn a_stalled_worker_is_detected_by_missed_heartbeats_and_recovers() {
        let cfg = SimConfig {
            rate: 1.0,
            workers: 2,
            ..SimConfig::default()
        };
        let mut sim = Sim::new(cfg);
        let mut out = Vec::new();
        sim.advance_until(SECONDS, &mut out);
        sim.apply(
            Command::Stall {
                worker: Some(1),
                duration: 2 * SECONDS,
            },
            &mut out,
        )
        .unwrap();
        sim.advance_until(5 * SECONDS, &mut out);
        let stalled: Vec<_> = out
            .iter()
            .filter(|e| e.kind == EventKind::WorkerStalled { worker: 1 })
            .collect();
        let recovered: Vec<_> = out
            .iter()
            .filter(|e| e.kind == EventKind::WorkerRecovered { worker: 1 })
            .collect();
        assert_eq!(stalled.len(), 1);
        assert_eq!(recovered.len(), 1);
        // Detected after 3 missed 100 ms heartbeats, recovered at the first beat after 3 s.
        assert!(
            stalled[0].t > SECONDS + 200 * MILLIS && stalled[0].t <= SECONDS + 400 * MILLIS,
            "{}",
            stalled[0].t
        );
        assert!(recovered[0].t >= 3 * SECONDS && recovered[0].t <= 3 * SECONDS + 100 * MILLIS);
        assert!(!out.iter().any(|e| e.kind == EventKind::WorkerStalled { worker: 0 }));
    }

    #[test]
    fn a_stall_delays_the_request_in_service_by_its_length() {
        let (mut sim, mut out) = with_requests_in_service(1, 100 * MILLIS, 1);
        sim.apply(Command::Pause, &mut out).unwrap();
        sim.advance_until(50 * MILLIS, &mut out);
        sim.apply(
            Command::Stall {
                worker: Some(0),
                duration: SECONDS,
            },
            &mut out,
        )
        .unwrap();
        sim.advance_until(3 * SECONDS, &mut out);
        let lat: Vec<Nanos> = out
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::RequestCompleted { latency, .. } => Some(latency),
                _ => None,
            })
            .collect();
        assert_eq!(lat, vec![SECONDS + 100 * MILLIS]);
    }

    #[test]
    fn a_crash_fails_the_request_in_flight_and_the_worker_restarts() {
        let (mut sim, mut out) = with_requests_in_service(1, SECONDS, 1);
        sim.apply(Command::Pause, &mut out).unwrap();
        sim.advance_until(100 * MILLIS, &mut out);
        sim.apply(Command::Crash { worker: Some(0) }, &mut out).unwrap();
        sim.advance_until(2 * SECONDS, &mut out);
        assert!(out.iter().any(|e| e.kind
            == EventKind::WorkerCrashed {
                worker: 0,
                lost_request: Some(0)
            }));
        assert!(out.iter().any(|e| e.kind
            == EventKind::RequestCompleted {
                id: 0,
                worker: 0,
                latency: 100 * MILLIS,
                ok: false
            }));
        let spawns = count(&out, |k| matches!(k, EventKind::WorkerSpawned { worker: 0 }));
        assert_eq!(spawns, 2, "spawned at start and restarted");
        assert_eq!(sim.live_workers(), 1);
        // No success for the crashed request later.
        assert_eq!(
            count(&out, |k| matches!(k, EventKind::RequestCompleted { ok: true, .. })),
            0
        );
    }

    #[test]
    fn without_auto_restart_a_crashed_worker_stays_down() {
        let cfg = SimConfig {
            rate: 1.0,
            workers: 2,
            auto_restart: false,
            ..SimConfig::default()
        };
        let mut sim = Sim::new(cfg);
        let mut out = Vec::new();
        sim.advance_until(10 * MILLIS, &mut out);
        sim.apply(Command::Crash { worker: Some(1) }, &mut out).unwrap();
        sim.advance_until(5 * SECONDS, &mut out);
        assert_eq!(sim.live_workers(), 1);
        assert!(sim.apply(Command::Crash { worker: Some(1) }, &mut out).is_err());
    }

    #[test]
    fn turning_auto_restart_on_restarts_workers_that_crashed_while_it_was_off() {
        let cfg = SimConfig {
            rate: 1.0,
            workers: 3,
            auto_restart: false,
            ..SimConfig::default()
        };
        let mut sim = Sim::new(cfg);
        let mut out = Vec::new();
        sim.advance_until(10 * MILLIS, &mut out);
        sim.apply(Command::Crash { worker: Some(1) }, &mut out).unwrap();
        sim.apply(Command::Crash { worker: Some(2) }, &mut out).unwrap();
        sim.advance_until(SECONDS, &mut out);
        assert_eq!(sim.live_workers(), 1);
        sim.apply(Command::SetAutoRestart(true), &mut out).unwrap();
        sim.advance_until(2 * SECONDS, &mut out);
        assert_eq!(sim.live_workers(), 3);
        // A later resize counts them as part of the pool: no extra worker.
        sim.apply(Command::SetWorkers(3), &mut out).unwrap();
        assert_eq!(sim.live_workers(), 3);
    }

    #[test]
    fn pausing_stops_arrivals_and_resuming_restarts_them() {
        let mut sim = Sim::new(SimConfig {
            seed: 3,
            ..SimConfig::default()
        });
        let mut out = Vec::new();
        sim.advance_until(SECONDS, &mut out);
        sim.apply(Command::Pause, &mut out).unwrap();
        let before = out.len();
        sim.advance_until(2 * SECONDS, &mut out);
        assert_eq!(
            count(&out[before..], |k| matches!(k, EventKind::RequestArrived { .. })),
            0
        );
        sim.apply(Command::TogglePause, &mut out).unwrap();
        sim.advance_until(3 * SECONDS, &mut out);
        assert!(count(&out[before..], |k| matches!(k, EventKind::RequestArrived { .. })) > 1000);
    }

    #[test]
    fn a_burst_multiplies_the_rate_then_ends() {
        let mut sim = Sim::new(SimConfig {
            rate: 1000.0,
            workers: 64,
            seed: 4,
            ..SimConfig::default()
        });
        let mut out = Vec::new();
        sim.advance_until(SECONDS, &mut out);
        sim.apply(
            Command::Burst {
                factor: 5.0,
                duration: SECONDS,
            },
            &mut out,
        )
        .unwrap();
        let mark = out.len();
        sim.advance_until(2 * SECONDS, &mut out);
        let during = count(&out[mark..], |k| matches!(k, EventKind::RequestArrived { .. }));
        let mark = out.len();
        sim.advance_until(3 * SECONDS, &mut out);
        let after = count(&out[mark..], |k| matches!(k, EventKind::RequestArrived { .. }));
        assert!((4000..6000).contains(&during), "{during}");
        assert!((800..1200).contains(&after), "{after}");
        assert!(out.iter().any(|e| e.kind
            == EventKind::LoadChanged {
                change: LoadChange::BurstEnded
            }));
    }

    /// `l` pressed until the service time stops: the p99 lands on its bound
    /// and the median keeps its ratio to it (today's 2 ms:20 ms is 1:10),
    /// rather than the median growing on alone.
    #[test]
    fn service_steps_stop_when_either_parameter_reaches_its_bound() {
        use crate::pipeline::control::{MAX_STEP_SERVICE, MIN_STEP_SERVICE};
        let mut sim = Sim::new(SimConfig {
            service: ServiceDist::LogNormal {
                median_ns: 2 * MILLIS,
                p99_ns: 20 * MILLIS,
            },
            ..SimConfig::default()
        });
        let mut out = Vec::new();
        // Presses a step `n` times; the median and p99 it leaves.
        let mut press = |f: f64, n: usize| {
            for _ in 0..n {
                sim.apply(Command::ScaleService(f), &mut out).unwrap();
            }
            match sim.config().service {
                ServiceDist::LogNormal { median_ns, p99_ns } => (median_ns, p99_ns),
                other => panic!("not lognormal: {other:?}"),
            }
        };
        let ratio = |(median, p99): (Nanos, Nanos)| p99 as f64 / median as f64;
        let up = press(1.5, 40);
        assert_eq!(up.1, MAX_STEP_SERVICE);
        assert!((ratio(up) - 10.0).abs() < 1e-3, "{up:?}");
        let down = press(1.0 / 1.5, 80);
        assert_eq!(down.0, MIN_STEP_SERVICE);
        assert!((ratio(down) - 10.0).abs() < 1e-2, "{down:?}");
    }

    /// A full queue is announced once per spell (`QueueFull` before the
    /// spell's first rejection), and the spell's end once, with exactly the
    /// arrivals it turned away, a quiet second after the last of them; a
    /// new spell is announced again.
    #[test]
    fn a_rejection_spell_is_announced_once_with_what_it_rejected() {
        let cfg = SimConfig {
            rate: 10_000.0,
            workers: 1,
            service: ServiceDist::Const { ns: 10 * MILLIS },
            queue_capacity: 5,
            ..SimConfig::default()
        };
        let mut sim = Sim::new(cfg);
        let mut out = Vec::new();
        sim.advance_until(SECONDS, &mut out);
        let full = |evs: &[Event]| count(evs, |k| *k == EventKind::QueueFull);
        let rejected = count(&out, |k| matches!(k, EventKind::RequestRejected { .. }));
        assert!(rejected > 1_000, "{rejected}");
        assert_eq!(full(&out), 1);
        let first = out
            .iter()
            .position(|e| matches!(e.kind, EventKind::RequestRejected { .. }))
            .unwrap();
        assert_eq!(out[first - 1].kind, EventKind::QueueFull);
        sim.apply(Command::Pause, &mut out).unwrap();
        sim.advance_until(3 * SECONDS, &mut out);
        let last_rejected = out
            .iter()
            .rev()
            .find(|e| matches!(e.kind, EventKind::RequestRejected { .. }))
            .unwrap()
            .t;
        let room: Vec<_> = out
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::QueueHasRoom { rejected } => Some((e.t, rejected)),
                _ => None,
            })
            .collect();
        assert_eq!(room.len(), 1, "{room:?}");
        assert_eq!(room[0].1, rejected as u64);
        // At the first queue sample (every 10 ms) a quiet second after the last rejection.
        let quiet_from = last_rejected + REJECTION_QUIET;
        assert!(
            (quiet_from..quiet_from + 10 * MILLIS).contains(&room[0].0),
            "{room:?} {last_rejected}"
        );
        sim.apply(Command::Resume, &mut out).unwrap();
        sim.advance_until(4 * SECONDS, &mut out);
        assert_eq!(full(&out), 2, "a new spell is announced");
    }

    /// A queue that never fills announces nothing.
    #[test]
    fn a_queue_with_room_announces_no_spell() {
        let evs = run(SimConfig::default(), 2 * SECONDS);
        assert!(
            !evs.iter()
                .any(|e| matches!(e.kind, EventKind::QueueFull | EventKind::QueueHasRoom { .. }))
        );
    }

    fn arrivals_between(evs: &[Event], from: Nanos, to: Nanos) -> usize {
        evs.iter()
            .filter(|e| matches!(e.kind, EventKind::RequestArrived { .. }) && e.t > from && e.t <= to)
            .count()
    }

    /// A burst stops at the 100 M/s ceiling: the factor announced (and
    /// applied) is the one that takes the rate there, and a rate raised
    /// during the burst keeps it there.
    #[test]
    fn a_burst_stops_at_the_rate_ceiling() {
        let mut sim = Sim::new(SimConfig {
            rate: 60_000_000.0,
            seed: 9,
            ..SimConfig::default()
        });
        let mut out = Vec::new();
        sim.advance_until(MILLIS, &mut out);
        sim.apply(
            Command::Burst {
                factor: 5.0,
                duration: SECONDS,
            },
            &mut out,
        )
        .unwrap();
        let announced = out.iter().rev().find_map(|e| match e.kind {
            EventKind::LoadChanged {
                change: LoadChange::BurstStarted { factor, .. },
            } => Some(factor),
            _ => None,
        });
        assert_eq!(announced, Some(MAX_RATE / 60_000_000.0));
        assert_eq!(sim.effective_rate(), MAX_RATE);
        sim.apply(Command::ScaleRate(1.25), &mut out).unwrap();
        assert_eq!(sim.effective_rate(), MAX_RATE);
        let start = sim.now();
        sim.advance_until(start + 100 * crate::event::MICROS, &mut out);
        // 10,000 expected at the ceiling (the uncapped burst: 37,500).
        let n = arrivals_between(&out, start, sim.now());
        assert!((9_000..11_000).contains(&n), "{n}");
    }

    /// Skipped time has no arrivals; they resume at the rate after it, and
    /// the skip reports the arrival time it took away (once).
    #[test]
    fn skipped_time_has_no_arrivals_and_they_resume_after_it() {
        let mut sim = Sim::new(SimConfig {
            rate: 1_000_000.0,
            workers: 64,
            seed: 2,
            ..SimConfig::default()
        });
        let mut out = Vec::new();
        sim.advance_until(10 * MILLIS, &mut out);
        assert_eq!(sim.skip_arrivals_until(60 * MILLIS), 50 * MILLIS);
        assert_eq!(sim.skip_arrivals_until(40 * MILLIS), 0, "already skipped");
        assert_eq!(sim.skip_arrivals_until(70 * MILLIS), 10 * MILLIS);
        sim.advance_until(110 * MILLIS, &mut out);
        assert_eq!(arrivals_between(&out, 10 * MILLIS, 70 * MILLIS), 0);
        let after = arrivals_between(&out, 70 * MILLIS, 110 * MILLIS);
        assert!((38_000..42_000).contains(&after), "{after}");
        // Timers ran through the skipped time: heartbeats and queue samples.
        assert!(
            out.iter()
                .any(|e| e.t > 10 * MILLIS && e.t < 70 * MILLIS && matches!(e.kind, EventKind::QueueDepth { .. }))
        );
    }

    /// Advancing within a budget stops when it is spent and goes on from
    /// there: in slices, the run is the same as in one go.
    #[test]
    fn a_bounded_advance_goes_on_where_it_stopped() {
        let cfg = SimConfig {
            rate: 100_000.0,
            seed: 5,
            ..SimConfig::default()
        };
        let whole = run(cfg, 100 * MILLIS);
        let mut sim = Sim::new(cfg);
        let mut sliced = Vec::new();
        let mut slices = 0;
        loop {
            let mut budget = 500;
            slices += 1;
            let reached = sim.advance_within(100 * MILLIS, &mut budget, &mut sliced);
            if reached {
                break;
            }
            assert_eq!(budget, 0);
            assert!(sim.now() < 100 * MILLIS);
        }
        assert!(slices > 10, "{slices}");
        assert_eq!(sliced, whole);
    }

    #[test]
    fn relative_steps_clamp_at_the_limits() {
        use crate::pipeline::control::MAX_WORKERS;
        let mut sim = Sim::new(SimConfig {
            workers: 1,
            error_rate: 0.0,
            ..SimConfig::default()
        });
        let mut out = Vec::new();
        sim.apply(Command::AddWorkers(-1), &mut out).unwrap();
        assert_eq!(sim.config().workers, 1);
        sim.apply(Command::AddErrorRate(-0.01), &mut out).unwrap();
        assert_eq!(sim.config().error_rate, 0.0);
        sim.apply(Command::AddWorkers(5000), &mut out).unwrap();
        assert_eq!(sim.config().workers, MAX_WORKERS);
        assert_eq!(sim.live_workers(), MAX_WORKERS as usize);
    }
}
