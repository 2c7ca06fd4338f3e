//! Health: the judgement the publisher passes on each [`Delivery::Drop`]
//! subscriber once per health interval, from its loss over time — never
//! from spells a receive resets — and the notices that judgement allows.
//!
//! [`Delivery::Drop`]: super::Delivery::Drop

use std::collections::VecDeque;

use super::config::Nanos;
use super::config::{EvictionPolicy, LAGGING_NOTICE_EVERY};
use super::notice::{EvictReason, NoticeKind};

/// Samples kept per subscriber for the share rule: one per
/// `window / HISTORY` at most, so the history is bounded by `HISTORY + 2`
/// whatever the interval.
const HISTORY: u64 = 16;

/// What one health check concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing lost since the previous check.
    Healthy,
    /// It lost events since the previous check.
    Lagging,
    /// Evict it.
    Evict(EvictReason),
}

/// A subscriber's counters at one check.
#[derive(Clone, Copy, Debug)]
struct Sample {
    t: Nanos,
    /// Payload events published to it so far.
    published: u64,
    /// Of those, lost to it so far.
    dropped: u64,
}

/// One subscriber's health record, kept by the publisher.
#[derive(Debug, Default)]
pub(crate) struct Health {
    /// Its total loss at the previous check.
    dropped_seen: u64,
    /// The first check of the current unbroken run of checks that found it
    /// losing; `None` while the last check found no loss.
    losing_since: Option<Nanos>,
    /// Samples, oldest first, spaced at least `window / HISTORY` apart; the
    /// oldest is the newest one at least `window` old, once there is one.
    /// Bounded by `HISTORY + 2`.
    history: VecDeque<Sample>,
    /// Whether its last notice said lagging (not yet followed by healthy).
    announced_lagging: bool,
    /// When its last lagging notice went out.
    last_lagging_notice: Option<Nanos>,
    /// Its total loss at its last lagging notice.
    dropped_announced: u64,
}

impl Health {
    /// A record for a subscriber taken on at `now`, with nothing lost yet.
    pub(crate) fn new(now: Nanos) -> Health {
        let mut h = Health::default();
        h.history.push_back(Sample {
            t: now,
            published: 0,
            dropped: 0,
        });
        h
    }

    /// Judges it at `now`, given what was published to it and what it
    /// lost so far (both only ever grow).
    ///
    /// A loss read from a cursor the subscriber had not yet moved can be
    /// taken back by a later read (it still received from the ring what the
    /// publisher's head already counted out of its window), so the record
    /// keeps the larger: it never goes down, and nothing here underflows.
    pub(crate) fn judge(&mut self, now: Nanos, published: u64, dropped: u64, policy: &EvictionPolicy) -> Verdict {
        let dropped = dropped.max(self.dropped_seen);
        let published = published.max(self.history.back().map_or(0, |s| s.published));
        let losing = dropped > self.dropped_seen;
        self.dropped_seen = dropped;
        self.record(
            Sample {
                t: now,
                published,
                dropped,
            },
            policy.window,
        );
        if !losing {
            self.losing_since = None;
            return Verdict::Healthy;
        }
        let since = *self.losing_since.get_or_insert(now);
        if let Some(limit) = policy.losing_for
            && now.saturating_sub(since) >= limit
        {
            return Verdict::Evict(EvictReason::LosingFor { for_ns: limit });
        }
        if let Some(max) = policy.max_lost_percent
            && let Some(base) = self.history.front()
            && now.saturating_sub(base.t) >= policy.window
        {
            let published = published.saturating_sub(base.published);
            let lost = dropped.saturating_sub(base.dropped);
            // lost / published > max / 100, in integers.
            if published > 0 && u128::from(lost) * 100 > u128::from(published) * u128::from(max) {
                let percent = (u128::from(lost) * 100 / u128::from(published)).min(100) as u8;
                return Verdict::Evict(EvictReason::LostShare {
                    percent,
                    window_ns: policy.window,
                });
            }
        }
        Verdict::Lagging
    }

    /// Keeps `s` if it is far enough from the previous sample, and forgets
    /// samples no longer needed as the window's base.
    fn record(&mut self, s: Sample, window: Nanos) {
        let spacing = (window / HISTORY).max(1);
        if self
            .history
            .back()
            .is_none_or(|last| s.t >= last.t.saturating_add(spacing))
        {
            self.history.push_back(s);
        }
        // The base is the newest sample at least `window` old: drop those before it.
        while self.history.len() >= 2 && s.t.saturating_sub(self.history[1].t) >= window {
            self.history.pop_front();
        }
    }

    /// The notice a verdict calls for, if any: a lagging notice at most once
    /// per [`LAGGING_NOTICE_EVERY`] (its `lost` covering everything since
    /// the previous one), a healthy notice only after a lagging one.
    pub(crate) fn notice(&mut self, now: Nanos, verdict: Verdict, dropped: u64) -> Option<NoticeKind> {
        match verdict {
            Verdict::Lagging => {
                let due = self
                    .last_lagging_notice
                    .is_none_or(|t| now.saturating_sub(t) >= LAGGING_NOTICE_EVERY);
                if !due {
                    return None;
                }
                let dropped = dropped.max(self.dropped_announced);
                let lost = dropped - self.dropped_announced;
                self.last_lagging_notice = Some(now);
                self.dropped_announced = dropped;
                self.announced_lagging = true;
                Some(NoticeKind::Lagging { lost, dropped })
            }
            Verdict::Healthy if self.announced_lagging => {
                self.announced_lagging = false;
                Some(NoticeKind::Healthy {
                    dropped: dropped.max(self.dropped_announced),
                })
            }
            Verdict::Healthy | Verdict::Evict(_) => None,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::broadcast::config::{MILLIS, SECONDS};

    const I: Nanos = 250 * MILLIS;

    /// Checks at 250 ms with `publish` published and `lose` lost per interval.
    fn run(h: &mut Health, policy: &EvictionPolicy, steps: &[(u64, u64)], t0: Nanos) -> Vec<Verdict> {
        let (mut published, mut dropped) = (0, 0);
        steps
            .iter()
            .enumerate()
            .map(|(i, &(publish, lose))| {
                published += publish;
                dropped += lose;
                h.judge(t0 + (i as u64 + 1) * I, published, dropped, policy)
            })
            .collect()
    }

    #[test]
    fn losing_at_every_check_for_two_seconds_evicts() {
        let policy = EvictionPolicy {
            max_lost_percent: None,
            ..EvictionPolicy::default()
        };
        let mut h = Health::new(0);
        let v = run(&mut h, &policy, &[(100, 1); 9], 0);
        // Losing from the check at 0.25 s; 2 s later, at 2.25 s, evicted.
        assert!(v[..8].iter().all(|v| *v == Verdict::Lagging), "{v:?}");
        assert_eq!(v[8], Verdict::Evict(EvictReason::LosingFor { for_ns: 2 * SECONDS }));
    }

    #[test]
    fn one_clean_interval_restarts_the_losing_run() {
        let policy = EvictionPolicy {
            max_lost_percent: None,
            ..EvictionPolicy::default()
        };
        let mut h = Health::new(0);
        let mut steps = vec![(100, 1); 7];
        steps.push((100, 0));
        steps.extend([(100, 1); 8]);
        let v = run(&mut h, &policy, &steps, 0);
        assert_eq!(v[7], Verdict::Healthy);
        assert!(v.iter().all(|v| !matches!(v, Verdict::Evict(_))), "{v:?}");
    }

    #[test]
    fn losing_most_of_the_stream_evicts_even_with_clean_intervals_between() {
        let policy = EvictionPolicy {
            losing_for: None,
            ..EvictionPolicy::default()
        };
        let mut h = Health::new(0);
        // Alternately loses 900 of 1,000 and nothing of 50: 900 of 1,050 (85 %) per pair.
        let steps: Vec<_> = (0..8).map(|i| if i % 2 == 0 { (1000, 900) } else { (50, 0) }).collect();
        let v = run(&mut h, &policy, &steps, 0);
        assert!(v[..7].iter().all(|v| !matches!(v, Verdict::Evict(_))), "{v:?}");
        // At 2 s, the check that loses: 3,600 of 4,200 over the window.
        let v = h.judge(9 * I, 5200, 4500, &policy);
        assert_eq!(
            v,
            Verdict::Evict(EvictReason::LostShare {
                percent: 85,
                window_ns: 2 * SECONDS
            })
        );
    }

    /// A loss a later read takes back (the subscriber still received it
    /// from the ring) neither underflows nor counts as a new loss.
    #[test]
    fn a_loss_taken_back_by_a_later_read_is_kept_and_not_counted_again() {
        let policy = EvictionPolicy::default();
        let mut h = Health::new(0);
        assert_eq!(h.judge(I, 100, 10, &policy), Verdict::Lagging);
        assert_eq!(h.judge(2 * I, 200, 6, &policy), Verdict::Healthy);
        assert_eq!(
            h.notice(2 * I, Verdict::Lagging, 6),
            Some(NoticeKind::Lagging { lost: 6, dropped: 6 })
        );
        assert_eq!(
            h.notice(9 * I, Verdict::Lagging, 4),
            Some(NoticeKind::Lagging { lost: 0, dropped: 6 })
        );
    }

    #[test]
    fn lagging_notices_are_coalesced_to_one_per_second() {
        let mut h = Health::new(0);
        let mut kinds = Vec::new();
        for i in 1..=8u64 {
            if let Some(k) = h.notice(i * I, Verdict::Lagging, i * 10) {
                kinds.push(k);
            }
        }
        assert_eq!(
            kinds,
            [
                NoticeKind::Lagging { lost: 10, dropped: 10 },
                NoticeKind::Lagging { lost: 40, dropped: 50 }
            ]
        );
        assert_eq!(
            h.notice(9 * I, Verdict::Healthy, 80),
            Some(NoticeKind::Healthy { dropped: 80 })
        );
        assert_eq!(h.notice(10 * I, Verdict::Healthy, 80), None);
    }
}
