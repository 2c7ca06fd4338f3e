//! One monotonic clock for the whole program: nanoseconds since the pipeline
//! started. Every event timestamp, eviction timer and "last receive" time is
//! read from a [`Clock`], so they are comparable with each other.
//!
//! A clock is either real (backed by [`Instant`]) or manual (tests and
//! `--fast` mode advance it explicitly), so eviction timing can be tested
//! without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::event::Nanos;

/// A cheap, cloneable handle to a monotonic clock.
#[derive(Clone, Debug)]
pub struct Clock {
    source: Source,
}

#[derive(Clone, Debug)]
enum Source {
    Real(Instant),
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// A real clock whose zero is now.
    pub fn start() -> Self {
        Clock {
            source: Source::Real(Instant::now()),
        }
    }

    /// A clock that only moves when [`Clock::set`] or [`Clock::advance`] is called.
    pub fn manual() -> Self {
        Clock {
            source: Source::Manual(Arc::new(AtomicU64::new(0))),
        }
    }

    /// Nanoseconds since the clock's zero.
    pub fn now(&self) -> Nanos {
        match &self.source {
            Source::Real(start) => start.elapsed().as_nanos() as Nanos,
            Source::Manual(t) => t.load(Ordering::Acquire),
        }
    }

    /// The instant of the clock's zero, for a real clock.
    pub fn epoch(&self) -> Option<Instant> {
        match &self.source {
            Source::Real(start) => Some(*start),
            Source::Manual(_) => None,
        }
    }

    /// Moves a manual clock forward to `t` (never backwards). No effect on a real clock.
    pub fn set(&self, t: Nanos) {
        if let Source::Manual(cur) = &self.source {
            cur.fetch_max(t, Ordering::AcqRel);
        }
    }

    /// Moves a manual clock forward by `d`. No effect on a real clock.
    pub fn advance(&self, d: Nanos) {
        if let Source::Manual(cur) = &self.source {
            cur.fetch_add(d, Ordering::AcqRel);
        }
    }
}

/// The broadcaster reads fantop's clock through its own time-source trait.
impl crate::broadcast::TimeSource for Clock {
    fn now(&self) -> Nanos {
        Clock::now(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_forward_and_only_when_told() {
        let c = Clock::manual();
        assert_eq!(c.now(), 0);
        c.advance(10);
        c.set(5);
        assert_eq!(c.now(), 10);
        c.set(20);
        assert_eq!(c.clone().now(), 20);
    }

    #[test]
    fn real_clock_is_monotonic() {
        let c = Clock::start();
        let a = c.now();
        let b = c.now();
        assert!(b >= a);
    }
}
