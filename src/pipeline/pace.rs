//! Whether the real-time pipeline keeps up with its target rate, and what
//! it says when it does not.
//!
//! # Keeping up
//!
//! In real time the pipeline simulates, at every turn of its loop, what is
//! due up to the wall clock's *now*, in slices of at most [`SLICE_BUDGET`]
//! arrivals and timers (it looks at its controls between slices, so a
//! command or a stop takes effect within one slice whatever the rate).
//! When it cannot simulate as fast as time passes (a rate beyond what the
//! CPU can generate, or a collector it waits for), simulated time falls
//! behind the wall clock. It lets it fall behind by at most [`MAX_LAG`]:
//! what lies further back is **skipped**, run without arrivals (timers still
//! fire: completions, heartbeats, queue samples), and arrivals resume at
//! the target rate after it. So pipeline time stays within [`MAX_LAG`] of
//! the wall clock (but while it holds back for the subscriber it keeps pace
//! with, when it simulates nothing at all), every figure per second of
//! pipeline time (the panes', the summary's) is also per second of wall
//! time, and a hiccup shorter than [`MAX_LAG`] (the machine busy for a
//! moment) is caught up, never skipped. A longer one, a process stopped
//! with Ctrl-Z and continued included, is skipped and reported as a
//! shortfall: arrivals were not generated in real time then.
//!
//! # Keeping pace with the collector
//!
//! Live runs name the collector in
//! [`super::PipelineOptions::keep_pace_with`]: before each slice the
//! pipeline looks at the collector's backlog ([`Publisher::backlog`], one
//! read of its cursor) and, while it is over half the collector's queue,
//! generates nothing and looks again after [`HOLD_WAIT`]. A slice publishes
//! at most about three events per arrival or timer (some 25,000, plus a
//! heartbeat's one per worker), far less than the other half of the
//! collector's 261,872-event queue, so the collector never loses an event to
//! the pipeline's speed; the time it costs is skipped and reported like any
//! other shortfall.
//!
//! [`Publisher::backlog`]: crate::broadcast::Publisher::backlog
//!
//! # Falling short, stated
//!
//! The [`PaceMeter`] looks at windows of [`PACE_WINDOW`] (1 s) of wall
//! time. For each it knows, from what the pipeline actually did:
//!
//! - **achieved**: arrivals generated in the window per second of wall time
//!   (what the header shows as `achieving 655k/s`);
//! - **skipped**: pipeline time of the window left without arrivals.
//!
//! A window **falls short** when more than [`SHORT_ABOVE`] (5 %) of it was
//! skipped: 50 ms of every second, far beyond scheduling jitter (which
//! [`MAX_LAG`] absorbs anyway), so only a pipeline that really cannot keep
//! up is reported. The decision is on time, not on counts: at 10
//! requests/s a window holds a Poisson number of arrivals (8 is as likely
//! as 12), which says nothing about keeping up, while skipped time does.
//! A spell of short windows ends at the first window that skipped less than
//! [`RECOVERED_BELOW`] (1 %): the gap between the two thresholds keeps a
//! pipeline hovering at its limit from flapping. The meter publishes an
//! [`EventKind::ArrivalPace`] for every window that skipped anything or
//! ends a spell, and for the run's last, partial window if it skipped
//! anything (so the stream holds all the time skipped, and the summary
//! can add it up); nothing otherwise: a run that keeps up publishes none.

use std::time::Duration;

use crate::event::{EventKind, MILLIS, Nanos, SECONDS};

/// Arrivals and timers one slice of the real-time loop runs at most, before
/// the pipeline looks at its controls and its pace again (a millisecond or
/// two of work).
pub const SLICE_BUDGET: usize = 8_192;
/// How far simulated time may fall behind the wall clock before the
/// pipeline skips the rest.
pub const MAX_LAG: Nanos = 250 * MILLIS;
/// The wall-time window the pace is judged over.
pub const PACE_WINDOW: Nanos = SECONDS;
/// A window falls short when more than this fraction of it was skipped.
pub const SHORT_ABOVE: f64 = 0.05;
/// A spell of short windows ends at a window that skipped less than this.
pub const RECOVERED_BELOW: f64 = 0.01;
/// How long the pipeline waits before looking again while the subscriber it
/// keeps pace with catches up.
pub const HOLD_WAIT: Duration = Duration::from_millis(1);

/// Judges the pace window by window; see the module doc.
#[derive(Clone, Debug)]
pub struct PaceMeter {
    /// Wall (broadcaster-clock) time the window began.
    window_start: Nanos,
    /// Arrivals generated when it began.
    arrivals_start: u64,
    /// Pipeline time skipped in the window.
    skipped: Nanos,
    /// The last window judged fell short.
    short: bool,
    /// Short windows so far.
    short_windows: u64,
}

impl PaceMeter {
    /// A meter whose first window starts at `now` with `arrivals` generated.
    pub fn new(now: Nanos, arrivals: u64) -> PaceMeter {
        PaceMeter {
            window_start: now,
            arrivals_start: arrivals,
            skipped: 0,
            short: false,
            short_windows: 0,
        }
    }

    /// Counts pipeline time skipped in the current window.
    pub fn skipped(&mut self, ns: Nanos) {
        self.skipped += ns;
    }

    /// Whether the last window judged fell short.
    pub fn is_short(&self) -> bool {
        self.short
    }

    /// Windows judged short so far.
    pub fn short_windows(&self) -> u64 {
        self.short_windows
    }

    /// At wall time `now` with `arrivals` generated so far: once the window
    /// is over, judges it and starts the next. Returns what to publish: an
    /// [`EventKind::ArrivalPace`] for a window that skipped anything or
    /// ends a spell.
    pub fn tick(&mut self, now: Nanos, arrivals: u64) -> Option<EventKind> {
        if now.saturating_sub(self.window_start) < PACE_WINDOW {
            return None;
        }
        self.judge(now, arrivals)
    }

    /// At the run's end: judges the last, partial window, if it skipped
    /// anything (a window of a few ms that skipped nothing says nothing).
    pub fn finish(&mut self, now: Nanos, arrivals: u64) -> Option<EventKind> {
        if self.skipped == 0 || now <= self.window_start {
            return None;
        }
        self.judge(now, arrivals)
    }

    fn judge(&mut self, now: Nanos, arrivals: u64) -> Option<EventKind> {
        let wall = now.saturating_sub(self.window_start).max(1);
        let generated = arrivals.saturating_sub(self.arrivals_start);
        let achieved = generated as f64 * SECONDS as f64 / wall as f64;
        let skipped_fraction = self.skipped as f64 / wall as f64;
        let was = self.short;
        self.short = if was {
            skipped_fraction >= RECOVERED_BELOW
        } else {
            skipped_fraction > SHORT_ABOVE
        };
        self.short_windows += u64::from(self.short);
        let skipped = std::mem::take(&mut self.skipped);
        self.window_start = now;
        self.arrivals_start = arrivals;
        (self.short || was || skipped > 0).then_some(EventKind::ArrivalPace {
            achieved,
            skipped,
            window_ms: (wall / MILLIS).min(u64::from(u32::MAX)) as u32,
            short: self.short,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pace(e: Option<EventKind>) -> Option<(f64, Nanos, bool)> {
        e.map(|k| match k {
            EventKind::ArrivalPace {
                achieved,
                skipped,
                short,
                ..
            } => (achieved, skipped, short),
            other => panic!("{other:?}"),
        })
    }

    /// A window that skipped more than 5 % falls short; the spell goes on
    /// while windows skip 1 % or more and ends at one that skips less, which
    /// is published once; windows that skip nothing and end no spell publish
    /// nothing.
    #[test]
    fn a_spell_starts_above_five_percent_skipped_and_ends_below_one() {
        let mut m = PaceMeter::new(0, 0);
        assert_eq!(m.tick(SECONDS / 2, 100), None, "the window is not over");
        m.skipped(40 * MILLIS);
        assert_eq!(
            pace(m.tick(SECONDS, 1_000)),
            Some((1_000.0, 40 * MILLIS, false)),
            "4 % skipped keeps up"
        );
        m.skipped(60 * MILLIS);
        assert_eq!(pace(m.tick(2 * SECONDS, 1_500)), Some((500.0, 60 * MILLIS, true)));
        m.skipped(20 * MILLIS);
        assert_eq!(pace(m.tick(3 * SECONDS, 2_000)), Some((500.0, 20 * MILLIS, true)));
        m.skipped(5 * MILLIS);
        assert_eq!(pace(m.tick(4 * SECONDS, 3_000)), Some((1_000.0, 5 * MILLIS, false)));
        assert_eq!(pace(m.tick(5 * SECONDS, 4_000)), None);
        assert_eq!(m.short_windows(), 2);
    }

    /// Achieved is arrivals per second of the window's actual wall length,
    /// which the report carries.
    #[test]
    fn achieved_is_per_second_of_wall_time() {
        let mut m = PaceMeter::new(0, 0);
        m.skipped(SECONDS);
        let e = m.tick(2 * SECONDS, 3_000);
        assert!(
            matches!(e, Some(EventKind::ArrivalPace { window_ms: 2_000, .. })),
            "{e:?}"
        );
        assert_eq!(pace(e), Some((1_500.0, SECONDS, true)));
    }

    /// The run's last, partial window is reported if it skipped anything.
    #[test]
    fn the_last_partial_window_is_reported_if_it_skipped() {
        let mut m = PaceMeter::new(0, 0);
        assert_eq!(m.finish(SECONDS / 2, 10), None, "nothing skipped");
        m.skipped(400 * MILLIS);
        let e = m.finish(SECONDS / 2, 10);
        assert!(
            matches!(e, Some(EventKind::ArrivalPace { window_ms: 500, .. })),
            "{e:?}"
        );
        assert_eq!(pace(e), Some((20.0, 400 * MILLIS, true)));
    }
}
