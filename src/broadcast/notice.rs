//! Notices: the broadcaster's own announcements about its subscribers
//! (joined, lagging, healthy again, evicted, left), delivered to every
//! subscriber beside the payload and in stream order, and the bounded log
//! the publisher writes them to.

use std::collections::VecDeque;

use super::config::{MILLIS, Nanos, SECONDS, SubscriberId};
use super::sync::{AtomicU64, Mutex, Ordering, lock};

/// One announcement about one subscriber.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Notice {
    /// Where it sits in the stream: the number of payload events published
    /// before it. A subscription hands it over after the event `seq - 1`
    /// and before the event `seq`.
    pub seq: u64,
    /// The timestamp ([`Slot::timestamp`](super::Slot::timestamp)) of the
    /// newest payload event published before it (0 if none), so it sorts
    /// with the stream.
    pub t: Nanos,
    /// Whom it is about.
    pub subscriber: SubscriberId,
    pub kind: NoticeKind,
}

/// What a [`Notice`] says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "notice", rename_all = "snake_case")]
pub enum NoticeKind {
    /// The publisher took it on: it receives from `seq` on.
    Joined,
    /// It lost events in the last health interval. At most one per
    /// subscriber per [`LAGGING_NOTICE_EVERY`](super::LAGGING_NOTICE_EVERY):
    /// `lost` is what it lost since its previous lagging notice (or since it
    /// joined), `dropped` its total loss so far.
    Lagging { lost: u64, dropped: u64 },
    /// It went a whole health interval without losing anything, after a
    /// lagging notice. `dropped` is its total loss so far.
    Healthy { dropped: u64 },
    /// The eviction policy removed it. `dropped` is its whole loss:
    /// everything it had not received.
    Evicted { reason: EvictReason, dropped: u64 },
    /// It unsubscribed (its subscription was dropped).
    Left,
}

/// Why the broadcaster evicted a subscriber: which rule of the
/// [`EvictionPolicy`](super::EvictionPolicy) fired.
///
/// Notices are not part of fantop's recordings, so these names are written
/// nowhere; they serialise with a `why` tag should anyone write them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum EvictReason {
    /// It lost events at every health check for at least `for_ns`
    /// ([`EvictionPolicy::losing_for`](super::EvictionPolicy::losing_for)).
    LosingFor { for_ns: Nanos },
    /// It lost `percent` % of what was published to it over the last
    /// `window_ns`, more than
    /// [`EvictionPolicy::max_lost_percent`](super::EvictionPolicy::max_lost_percent) allows.
    LostShare { percent: u8, window_ns: Nanos },
}

impl std::fmt::Display for EvictReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            EvictReason::LosingFor { for_ns } => write!(f, "losing for {}", Span(for_ns)),
            EvictReason::LostShare { percent, window_ns } => write!(f, "lost {percent}% over {}", Span(window_ns)),
        }
    }
}

/// A span of broadcaster time, shortly: `2s`, `1.5s`, `250ms`, `40µs`.
struct Span(Nanos);

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ns = self.0;
        let (unit, name) = if ns >= SECONDS {
            (SECONDS, "s")
        } else if ns >= MILLIS {
            (MILLIS, "ms")
        } else if ns >= 1_000 {
            (1_000, "µs")
        } else {
            (1, "ns")
        };
        let (whole, tenths) = (ns / unit, ns % unit * 10 / unit);
        if tenths == 0 {
            write!(f, "{whole}{name}")
        } else {
            write!(f, "{whole}.{tenths}{name}")
        }
    }
}

/// The notices published so far, the newest `capacity` of them kept.
/// Written by the publisher only (at flushes and ticks, never per event);
/// read by subscriptions, which copy what they have not seen.
pub(crate) struct NoticeLog {
    /// Notices `first .. first + notices.len()`. Bounded: at most
    /// `capacity`; the oldest go first.
    kept: Mutex<Kept>,
    /// Notices written so far: `first + notices.len()` once the lock is
    /// released. Stored SeqCst after each write, like the head, so a
    /// receiver that goes to sleep after seeing the old count is woken.
    written: AtomicU64,
    capacity: usize,
}

struct Kept {
    first: u64,
    notices: VecDeque<Notice>,
}

impl NoticeLog {
    pub(crate) fn new(capacity: usize) -> NoticeLog {
        NoticeLog {
            kept: Mutex::new(Kept {
                first: 0,
                notices: VecDeque::new(),
            }),
            written: AtomicU64::new(0),
            capacity,
        }
    }

    /// Notices written so far.
    pub(crate) fn written(&self) -> u64 {
        self.written.load(Ordering::SeqCst)
    }

    /// Appends `notices` (publisher only), dropping the oldest kept beyond
    /// the bound. Returns the new count written.
    pub(crate) fn append(&self, notices: &mut Vec<Notice>) -> u64 {
        let mut kept = lock(&self.kept);
        for n in notices.drain(..) {
            if kept.notices.len() == self.capacity {
                kept.notices.pop_front();
                kept.first += 1;
            }
            kept.notices.push_back(n);
        }
        let written = kept.first + kept.notices.len() as u64;
        drop(kept);
        self.written.store(written, Ordering::SeqCst);
        written
    }

    /// Copies notices `from..` into `out`; returns the index after the last
    /// one copied and how many of those asked for were already gone.
    pub(crate) fn copy_from(&self, from: u64, out: &mut VecDeque<Notice>) -> (u64, u64) {
        let kept = lock(&self.kept);
        let start = from.max(kept.first);
        let skip = (start - kept.first) as usize;
        out.extend(kept.notices.iter().skip(skip).copied());
        (kept.first + kept.notices.len() as u64, start - from)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn reasons_say_which_rule_fired() {
        let losing = EvictReason::LosingFor { for_ns: 2 * SECONDS };
        assert_eq!(losing.to_string(), "losing for 2s");
        let share = EvictReason::LostShare {
            percent: 93,
            window_ns: 2 * SECONDS,
        };
        assert_eq!(share.to_string(), "lost 93% over 2s");
        assert_eq!(Span(1_500 * MILLIS).to_string(), "1.5s");
        assert_eq!(Span(250 * MILLIS).to_string(), "250ms");
        assert_eq!(Span(7).to_string(), "7ns");
    }

    #[test]
    fn the_notice_log_keeps_the_newest_and_counts_what_a_slow_reader_missed() {
        let log = NoticeLog::new(2);
        let n = |seq| Notice {
            seq,
            t: 0,
            subscriber: 1,
            kind: NoticeKind::Left,
        };
        assert_eq!(log.append(&mut vec![n(0), n(1), n(2)]), 3);
        let mut out = VecDeque::new();
        assert_eq!(log.copy_from(0, &mut out), (3, 1));
        assert_eq!(out.iter().map(|n| n.seq).collect::<Vec<_>>(), [1, 2]);
        out.clear();
        assert_eq!(log.copy_from(3, &mut out), (3, 0));
        assert!(out.is_empty());
    }
}
