//! Small bounded aggregates shared by every consumer that builds its own
//! view from the stream (the collector and each UI pane own their own
//! instances; nothing here is shared between threads).
//!
//! - [`SecondRing`]: per-second buckets for the last `N` seconds.
//! - [`WindowedHistogram`]: latency percentiles over the last `N` seconds,
//!   as a ring of one-second HdrHistograms merged on demand.
//!
//! Both are keyed by event time (pipeline clock), so they are exact in
//! `--fast` mode and replays too. Memory is fixed at construction.

use hdrhistogram::Histogram;

use crate::event::{Nanos, SECONDS};

/// Largest latency a histogram tracks (1 hour); larger values are clamped.
pub const MAX_TRACKED_LATENCY: Nanos = 3_600 * SECONDS;

/// A latency histogram: 1 ns ..= 1 hour, 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_TRACKED_LATENCY, 3).expect("static histogram bounds are valid")
}

/// Records `v` ns, clamped into the tracked range.
pub fn record_latency(h: &mut Histogram<u64>, v: Nanos) {
    h.saturating_record(v.clamp(1, MAX_TRACKED_LATENCY));
}

/// One bucket per second for the last `len` seconds.
#[derive(Clone, Debug)]
pub struct SecondRing<T> {
    slots: Vec<(u64, T)>,
}

impl<T: Default + Clone> SecondRing<T> {
    /// A ring covering `len` seconds (at least 1).
    pub fn new(len: usize) -> Self {
        SecondRing {
            slots: vec![(u64::MAX, T::default()); len.max(1)],
        }
    }

    /// Seconds covered.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// The bucket for second `sec`, cleared if it held an older second.
    pub fn at(&mut self, sec: u64) -> &mut T {
        let n = self.slots.len() as u64;
        let slot = &mut self.slots[(sec % n) as usize];
        if slot.0 != sec {
            *slot = (sec, T::default());
        }
        &mut slot.1
    }

    /// The bucket for `sec`, if the ring still holds it.
    pub fn get(&self, sec: u64) -> Option<&T> {
        let n = self.slots.len() as u64;
        let slot = &self.slots[(sec % n) as usize];
        (slot.0 == sec).then_some(&slot.1)
    }

    /// Buckets for seconds `from..=to` that the ring holds.
    pub fn range(&self, from: u64, to: u64) -> impl Iterator<Item = (u64, &T)> {
        self.slots
            .iter()
            .filter(move |(s, _)| *s != u64::MAX && *s >= from && *s <= to)
            .map(|(s, t)| (*s, t))
    }
}

/// Latency over a sliding window of whole seconds.
#[derive(Clone, Debug)]
pub struct WindowedHistogram {
    ring: Vec<(u64, Histogram<u64>)>,
}

impl WindowedHistogram {
    pub fn new(window_s: usize) -> Self {
        WindowedHistogram {
            ring: (0..window_s.max(1)).map(|_| (u64::MAX, latency_histogram())).collect(),
        }
    }

    pub fn window_s(&self) -> u64 {
        self.ring.len() as u64
    }

    /// Records a latency completed at event time `t`.
    pub fn record(&mut self, t: Nanos, v: Nanos) {
        let sec = t / SECONDS;
        let n = self.ring.len() as u64;
        let (tag, h) = &mut self.ring[(sec % n) as usize];
        if *tag != sec {
            h.reset();
            *tag = sec;
        }
        record_latency(h, v);
    }

    /// The histogram of the window ending at `now`: the current second and
    /// the `window_s - 1` before it.
    pub fn merged(&self, now: Nanos) -> Histogram<u64> {
        let mut out = latency_histogram();
        self.merge_into(now, &mut out);
        out
    }

    /// Adds the window ending at `now` into `out` (reusing its allocation).
    pub fn merge_into(&self, now: Nanos, out: &mut Histogram<u64>) {
        out.reset();
        let now_sec = now / SECONDS;
        let first = (now_sec + 1).saturating_sub(self.window_s());
        for (sec, h) in &self.ring {
            if *sec != u64::MAX && *sec >= first && *sec <= now_sec && !h.is_empty() {
                out.add(h).expect("histograms share bounds");
            }
        }
    }

    /// The histogram of one second, if held and non-empty.
    pub fn second(&self, sec: u64) -> Option<&Histogram<u64>> {
        let n = self.ring.len() as u64;
        let (tag, h) = &self.ring[(sec % n) as usize];
        (*tag == sec && !h.is_empty()).then_some(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_ring_reuses_slots_for_newer_seconds() {
        let mut r: SecondRing<u32> = SecondRing::new(3);
        *r.at(0) += 1;
        *r.at(1) += 2;
        *r.at(3) += 5; // reuses second 0's slot
        assert_eq!(r.get(0), None);
        assert_eq!(r.get(3), Some(&5));
        let held: Vec<u64> = r.range(0, 10).map(|(s, _)| s).collect();
        assert_eq!(held.len(), 2);
    }

    #[test]
    fn windowed_histogram_merges_only_the_window() {
        let mut w = WindowedHistogram::new(2);
        w.record(0, 100);
        w.record(SECONDS, 200);
        w.record(2 * SECONDS, 300);
        let h = w.merged(2 * SECONDS);
        assert_eq!(h.len(), 2);
        assert_eq!(h.min(), 200);
    }
}
