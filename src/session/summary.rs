//! The JSON summary a headless run (or replay) prints: one object, schema
//! documented in the README and pinned by tests. Everything in it is
//! computed from the event stream (the collector's final snapshot), the
//! broadcaster's counters and the session's record of slow subscribers, so
//! a replay of a recording reproduces the run's figures exactly.
//!
//! Wall-clock fields: only `elapsed_s` (how long the run took). With
//! `--fast` every other field is a function of the seed and the scenario:
//! three runs print the same summary but for `elapsed_s`. In real time, when
//! subscribers receive (and so what a slow one drops, and when it is
//! evicted) also depends on the machine.

use serde::{Deserialize, Serialize};

use crate::broadcast::{PublisherStats, SubscriberStats};
use crate::collector::Snapshot;
use crate::event::SECONDS;

/// The run's settings as the summary reports them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfigSummary {
    pub rate: f64,
    pub workers: u16,
    pub service: String,
    pub error_rate: f64,
    pub queue_capacity: u32,
    pub auto_restart: bool,
    pub duration_s: Option<f64>,
    pub fast: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Requests {
    pub arrived: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub rejected: u64,
    pub in_flight_at_end: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    pub arrived: f64,
    pub completed: f64,
}

/// Latency in microseconds, from arrival to completion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencyUs {
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueueSummary {
    pub max_depth: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerSummary {
    pub id: u16,
    /// Requests it finished, successfully or not.
    pub completed: u64,
    pub state: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubscriberSummary {
    pub name: String,
    pub state: String,
    pub delivered: u64,
    pub dropped: u64,
    pub queued: u64,
    pub published_while_subscribed: u64,
}

/// An injected slow subscriber, times in seconds of pipeline time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlowSummary {
    pub name: String,
    pub added_s: f64,
    pub removed_s: Option<f64>,
    /// When the session saw it evicted (to the frame, 50 ms, in simulated
    /// time; to its tick in real time).
    pub evicted_s: Option<f64>,
}

/// How the real-time pipeline kept pace with its target rate (see
/// [`crate::pipeline::pace`]), from its pace reports in the stream: all
/// zero (and `achieved_per_s` null) when it kept up, and with `--fast`,
/// where time is simulated and nothing is skipped.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PaceSummary {
    /// Seconds of wall time in which it fell short: pace windows (about a
    /// second each) in which more than 5 % of the pipeline time had to be
    /// skipped.
    pub short_s: f64,
    /// Arrivals it generated per second of wall time in those windows: the
    /// achieved rate while short. Null if it never was.
    pub achieved_per_s: Option<f64>,
    /// Pipeline seconds left without arrivals because the pipeline could not
    /// simulate them in time (a run keeps within 250 ms of the wall clock).
    pub skipped_s: f64,
}

/// The summary object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub fantop_version: String,
    pub seed: u64,
    pub config: ConfigSummary,
    pub elapsed_s: f64,
    pub simulated_s: f64,
    pub requests: Requests,
    pub throughput_per_s: Throughput,
    /// Whether the real-time pipeline reached its target rate.
    #[serde(default)]
    pub pace: PaceSummary,
    pub latency_us: LatencyUs,
    pub queue: QueueSummary,
    pub workers: Vec<WorkerSummary>,
    pub events_published: u64,
    /// Events the collector missed (it could not keep up and lost its
    /// oldest): when nonzero, every count above undercounts the run.
    #[serde(default)]
    pub collector_lost_events: u64,
    pub subscribers: Vec<SubscriberSummary>,
    /// Slow subscribers the run injected, in order (empty for a replay).
    #[serde(default)]
    pub slow_subscribers: Vec<SlowSummary>,
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1e3
}

impl Summary {
    pub fn build(
        seed: u64,
        config: ConfigSummary,
        elapsed_s: f64,
        snapshot: &Snapshot,
        publisher: &PublisherStats,
        subscribers: &[SubscriberStats],
    ) -> Summary {
        let t = snapshot.totals;
        // The pipeline time the events cover: all of a run, or the part a
        // recording started mid-run holds.
        let simulated_s = snapshot.at.saturating_sub(snapshot.since) as f64 / SECONDS as f64;
        let per_s = |n: u64| if simulated_s > 0.0 { n as f64 / simulated_s } else { 0.0 };
        let l = snapshot.latency_total;
        Summary {
            fantop_version: env!("CARGO_PKG_VERSION").to_string(),
            seed,
            config,
            elapsed_s,
            simulated_s,
            requests: Requests {
                arrived: t.arrived,
                succeeded: t.succeeded,
                failed: t.failed,
                rejected: t.rejected,
                in_flight_at_end: snapshot.in_flight,
            },
            throughput_per_s: Throughput {
                arrived: per_s(t.arrived),
                completed: per_s(t.completed()),
            },
            pace: PaceSummary {
                short_s: snapshot.overload.short_ms as f64 / 1e3,
                achieved_per_s: snapshot.overload.achieved_while_short(),
                skipped_s: snapshot.overload.skipped_ns as f64 / SECONDS as f64,
            },
            latency_us: LatencyUs {
                mean: l.mean / 1e3,
                p50: us(l.p50),
                p90: us(l.p90),
                p99: us(l.p99),
                p999: us(l.p999),
                max: us(l.max),
            },
            queue: QueueSummary {
                max_depth: snapshot.queue_max_depth,
            },
            workers: snapshot
                .workers
                .iter()
                .map(|w| WorkerSummary {
                    id: w.id,
                    completed: w.completed + w.failed,
                    state: w.state.label().to_string(),
                })
                .collect(),
            events_published: publisher.events,
            collector_lost_events: snapshot.lost_events,
            subscribers: subscribers
                .iter()
                .map(|s| SubscriberSummary {
                    name: s.name.clone(),
                    state: s.state.label().to_lowercase(),
                    delivered: s.delivered,
                    dropped: s.dropped,
                    queued: s.queued,
                    published_while_subscribed: s.published_while_subscribed,
                })
                .collect(),
            slow_subscribers: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A summary built from a collector that lost events says how many, so
    /// nobody takes its undercounts for the run's figures.
    #[test]
    fn the_summary_reports_what_the_collector_missed() {
        let snapshot = Snapshot {
            lost_events: 718_084,
            ..Snapshot::default()
        };
        let config = ConfigSummary {
            rate: 1.0,
            workers: 1,
            service: String::new(),
            error_rate: 0.0,
            queue_capacity: 1,
            auto_restart: true,
            duration_s: None,
            fast: false,
        };
        let s = Summary::build(1, config, 0.0, &snapshot, &PublisherStats::default(), &[]);
        assert_eq!(s.collector_lost_events, 718_084);
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["collector_lost_events"], 718_084);
    }
}
