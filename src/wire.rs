//! The ring slot format: an [`Event`] as exactly [`WORDS`] `u64` words, the
//! broadcaster's [`Slot`] for fantop's events.
//!
//! [`encode`] is lossless for every variant and every field value, including
//! every `f64` bit pattern (NaN payloads, `-0.0`): `decode(encode(e))` gives
//! back `e` bit for bit. [`decode`] accepts only words that [`encode`]
//! produces and returns `None` for anything else (unknown tag or sub-tag, a
//! bool or `Option` bit above 1, any nonzero bit a variant does not use), so
//! a torn or garbage slot never becomes an event. Tag 0 is never used: an
//! all-zero (never written) slot decodes to `None`.
//!
//! Layout: word 0 is `t`; word 1 holds the [`EventKind`] tag in bits 0..8 and
//! the variant's small fields above it; words 2 and 3 hold the `u64`
//! payloads (`f64` as [`f64::to_bits`]). Unused bits and words are 0. Fields
//! in word 1, by variant family:
//!
//! | word 1 bits | most variants                 | `LoadChanged`         |
//! |-------------|-------------------------------|-----------------------|
//! | 8..16       | `u16` worker / step, in 8..24 | `LoadChange` sub-tag  |
//! | 16..24      |                               | `ServiceDist` sub-tag |
//! | 24          | bool / `Option` is-some       | bool                  |
//! | 32..64      | `u32` depth                   | `u16` / `u32` value   |
//!
//! Subscriber announcements are not events: the broadcaster carries them
//! beside the payload as its own notices (tags 14..=17, which they used,
//! stay unused).
//!
//! Encoding and decoding are one `match` of shifts and masks each: no loops,
//! no allocation.

use crate::broadcast::{SLOT_WORDS, Slot};
use crate::event::{Event, EventKind, LoadChange, Nanos, ServiceDist};

/// Words per encoded event.
pub const WORDS: usize = SLOT_WORDS;

impl Slot for Event {
    const BLANK: Event = Event::new(0, EventKind::RequestArrived { id: 0 });

    #[inline]
    fn encode(&self) -> [u64; SLOT_WORDS] {
        encode(self)
    }

    #[inline(always)]
    fn decode_into(words: [u64; SLOT_WORDS], out: &mut Event) -> bool {
        decode_into(words, out)
    }

    #[inline]
    fn timestamp(&self) -> Nanos {
        self.t
    }
}

/// `EventKind` tags (word 1, bits 0..8). 0 is reserved for "no event".
mod tag {
    pub const REQUEST_ARRIVED: u8 = 1;
    pub const REQUEST_STARTED: u8 = 2;
    pub const REQUEST_COMPLETED: u8 = 3;
    pub const REQUEST_REJECTED: u8 = 4;
    pub const WORKER_SPAWNED: u8 = 5;
    pub const WORKER_STOPPED: u8 = 6;
    pub const WORKER_HEARTBEAT: u8 = 7;
    pub const WORKER_STALLED: u8 = 8;
    pub const WORKER_RECOVERED: u8 = 9;
    pub const WORKER_CRASHED: u8 = 10;
    pub const QUEUE_DEPTH: u8 = 11;
    pub const LOAD_CHANGED: u8 = 12;
    pub const SCENARIO_STEP: u8 = 13;
    // 14..=17 were the subscriber announcements, now the broadcaster's notices.
    pub const QUEUE_FULL: u8 = 18;
    pub const QUEUE_HAS_ROOM: u8 = 19;
    pub const ARRIVAL_PACE: u8 = 20;
}

/// `LoadChange` sub-tags (word 1, bits 8..16).
mod load {
    pub const RATE: u8 = 1;
    pub const WORKERS: u8 = 2;
    pub const SERVICE: u8 = 3;
    pub const ERROR_RATE: u8 = 4;
    pub const QUEUE_CAPACITY: u8 = 5;
    pub const BURST_STARTED: u8 = 6;
    pub const BURST_ENDED: u8 = 7;
    pub const PAUSED: u8 = 8;
    pub const RESUMED: u8 = 9;
    pub const STALL_INJECTED: u8 = 10;
    pub const CRASH_INJECTED: u8 = 11;
    pub const AUTO_RESTART: u8 = 12;
    pub const SLOW_SUBSCRIBER: u8 = 13;
    pub const RECORDING: u8 = 14;
}

/// `ServiceDist` sub-tags (word 1, bits 16..24).
mod dist {
    pub const CONST: u8 = 1;
    pub const EXP: u8 = 2;
    pub const LOG_NORMAL: u8 = 3;
}

// Word 1 field masks.
const M_TAG: u64 = 0xFF;
const M_U16: u64 = 0xFFFF << 8;
const M_FLAG: u64 = 1 << 24;
const M_HI16: u64 = 0xFFFF << 32;
const M_HI32: u64 = 0xFFFF_FFFF << 32;
const M_SUB: u64 = 0xFF << 8;
const M_SUB2: u64 = 0xFF << 16;
/// A payload word (2 or 3) that is used in full / not at all.
const ALL: u64 = u64::MAX;
const UNUSED: u64 = 0;

#[inline(always)]
fn u16_at8(v: u16) -> u64 {
    u64::from(v) << 8
}

#[inline(always)]
fn flag_at24(b: bool) -> u64 {
    u64::from(b) << 24
}

#[inline(always)]
fn hi16(v: u16) -> u64 {
    u64::from(v) << 32
}

#[inline(always)]
fn hi32(v: u32) -> u64 {
    u64::from(v) << 32
}

#[inline(always)]
fn sub(t: u8, s: u8) -> u64 {
    u64::from(t) | u64::from(s) << 8
}

#[inline(always)]
fn sub2(t: u8, s: u8, s2: u8) -> u64 {
    sub(t, s) | u64::from(s2) << 16
}

/// Encodes `e` as four words (see the module docs for the layout).
#[inline]
pub fn encode(e: &Event) -> [u64; WORDS] {
    use EventKind as K;
    // No wildcard arms: a new variant anywhere in the event types must be given a layout here.
    let (w1, w2, w3) = match e.kind {
        K::RequestArrived { id } => (u64::from(tag::REQUEST_ARRIVED), id, 0),
        K::RequestStarted { id, worker } => (u64::from(tag::REQUEST_STARTED) | u16_at8(worker), id, 0),
        K::RequestCompleted {
            id,
            worker,
            latency,
            ok,
        } => (
            u64::from(tag::REQUEST_COMPLETED) | u16_at8(worker) | flag_at24(ok),
            id,
            latency,
        ),
        K::RequestRejected { id } => (u64::from(tag::REQUEST_REJECTED), id, 0),
        K::WorkerSpawned { worker } => (u64::from(tag::WORKER_SPAWNED) | u16_at8(worker), 0, 0),
        K::WorkerStopped { worker } => (u64::from(tag::WORKER_STOPPED) | u16_at8(worker), 0, 0),
        K::WorkerHeartbeat { worker } => (u64::from(tag::WORKER_HEARTBEAT) | u16_at8(worker), 0, 0),
        K::WorkerStalled { worker } => (u64::from(tag::WORKER_STALLED) | u16_at8(worker), 0, 0),
        K::WorkerRecovered { worker } => (u64::from(tag::WORKER_RECOVERED) | u16_at8(worker), 0, 0),
        K::WorkerCrashed { worker, lost_request } => (
            u64::from(tag::WORKER_CRASHED) | u16_at8(worker) | flag_at24(lost_request.is_some()),
            lost_request.unwrap_or(0),
            0,
        ),
        K::QueueDepth { depth, peak, capacity } => (
            u64::from(tag::QUEUE_DEPTH) | hi32(depth),
            u64::from(peak) | hi32(capacity),
            0,
        ),
        K::LoadChanged { change } => {
            use LoadChange as L;
            let t = tag::LOAD_CHANGED;
            match change {
                L::Rate { per_s } => (sub(t, load::RATE), per_s.to_bits(), 0),
                L::Workers { count } => (sub(t, load::WORKERS) | hi16(count), 0, 0),
                L::Service { dist } => match dist {
                    ServiceDist::Const { ns } => (sub2(t, load::SERVICE, dist::CONST), ns, 0),
                    ServiceDist::Exp { mean_ns } => (sub2(t, load::SERVICE, dist::EXP), mean_ns, 0),
                    ServiceDist::LogNormal { median_ns, p99_ns } => {
                        (sub2(t, load::SERVICE, dist::LOG_NORMAL), median_ns, p99_ns)
                    }
                },
                L::ErrorRate { fraction } => (sub(t, load::ERROR_RATE), fraction.to_bits(), 0),
                L::QueueCapacity { capacity } => (sub(t, load::QUEUE_CAPACITY) | hi32(capacity), 0, 0),
                L::BurstStarted { factor, duration } => (sub(t, load::BURST_STARTED), factor.to_bits(), duration),
                L::BurstEnded => (sub(t, load::BURST_ENDED), 0, 0),
                L::Paused => (sub(t, load::PAUSED), 0, 0),
                L::Resumed => (sub(t, load::RESUMED), 0, 0),
                L::StallInjected { worker, duration } => (sub(t, load::STALL_INJECTED) | hi16(worker), duration, 0),
                L::CrashInjected { worker } => (sub(t, load::CRASH_INJECTED) | hi16(worker), 0, 0),
                L::AutoRestart { on } => (sub(t, load::AUTO_RESTART) | flag_at24(on), 0, 0),
                L::SlowSubscriber { added } => (sub(t, load::SLOW_SUBSCRIBER) | flag_at24(added), 0, 0),
                L::Recording { on } => (sub(t, load::RECORDING) | flag_at24(on), 0, 0),
            }
        }
        K::ScenarioStep { step } => (u64::from(tag::SCENARIO_STEP) | u16_at8(step), 0, 0),
        K::QueueFull => (u64::from(tag::QUEUE_FULL), 0, 0),
        K::QueueHasRoom { rejected } => (u64::from(tag::QUEUE_HAS_ROOM), rejected, 0),
        K::ArrivalPace {
            achieved,
            skipped,
            window_ms,
            short,
        } => (
            u64::from(tag::ARRIVAL_PACE) | flag_at24(short) | hi32(window_ms),
            achieved.to_bits(),
            skipped,
        ),
    };
    [e.t, w1, w2, w3]
}

/// Decodes words written by [`encode`].
///
/// `None` if the words are not an encoding produced by `encode` (unknown tag / sub-tag / invalid bool or option bits).
#[inline]
pub fn decode(w: [u64; WORDS]) -> Option<Event> {
    let mut e = Event::new(0, EventKind::RequestArrived { id: 0 });
    decode_into(w, &mut e).then_some(e)
}

/// [`decode`] straight into `out` (the fields stored in place, which a
/// reader copying whole events right after can load without stalling);
/// false, leaving `out` unspecified, where `decode` gives `None`.
#[inline(always)]
pub fn decode_into(w: [u64; WORDS], out: &mut Event) -> bool {
    use EventKind as K;
    let [t, w1, w2, w3] = w;
    // The request events are nearly all the traffic, interleaved at random:
    // one jump on the tag for them, with their checks folded into one
    // condition each (`&`, not `&&`: no extra branch to mispredict).
    let small = w1 & !(M_TAG | M_U16 | M_FLAG) == 0;
    let kind = match w1 as u8 {
        tag::REQUEST_COMPLETED if small => K::RequestCompleted {
            id: w2,
            worker: (w1 >> 8) as u16,
            latency: w3,
            ok: w1 & M_FLAG != 0,
        },
        tag::REQUEST_STARTED if small & (w1 & M_FLAG == 0) & (w3 == 0) => K::RequestStarted {
            id: w2,
            worker: (w1 >> 8) as u16,
        },
        tag::REQUEST_ARRIVED if (w1 == u64::from(tag::REQUEST_ARRIVED)) & (w3 == 0) => K::RequestArrived { id: w2 },
        _ => match decode_other(w) {
            Some(e) => e.kind,
            None => return false,
        },
    };
    out.t = t;
    out.kind = kind;
    true
}

/// [`decode`] for everything but the request events (which it also takes,
/// to reject their invalid forms).
#[inline(never)]
fn decode_other(w: [u64; WORDS]) -> Option<Event> {
    use EventKind as K;
    let [t, w1, w2, w3] = w;
    let u16_8 = (w1 >> 8) as u16;
    let flag = w1 & M_FLAG != 0;
    let hi16 = (w1 >> 32) as u16;
    let hi32 = (w1 >> 32) as u32;
    let s = (w1 >> 8) as u8;
    let s2 = (w1 >> 16) as u8;
    // Each arm names the event and the bits it uses in words 1..=3; any other set bit rejects the words.
    let (kind, m1, m2, m3) = match w1 as u8 {
        tag::REQUEST_ARRIVED => (K::RequestArrived { id: w2 }, 0, ALL, UNUSED),
        tag::REQUEST_STARTED => (K::RequestStarted { id: w2, worker: u16_8 }, M_U16, ALL, UNUSED),
        tag::REQUEST_COMPLETED => (
            K::RequestCompleted {
                id: w2,
                worker: u16_8,
                latency: w3,
                ok: flag,
            },
            M_U16 | M_FLAG,
            ALL,
            ALL,
        ),
        tag::REQUEST_REJECTED => (K::RequestRejected { id: w2 }, 0, ALL, UNUSED),
        tag::WORKER_SPAWNED => (K::WorkerSpawned { worker: u16_8 }, M_U16, UNUSED, UNUSED),
        tag::WORKER_STOPPED => (K::WorkerStopped { worker: u16_8 }, M_U16, UNUSED, UNUSED),
        tag::WORKER_HEARTBEAT => (K::WorkerHeartbeat { worker: u16_8 }, M_U16, UNUSED, UNUSED),
        tag::WORKER_STALLED => (K::WorkerStalled { worker: u16_8 }, M_U16, UNUSED, UNUSED),
        tag::WORKER_RECOVERED => (K::WorkerRecovered { worker: u16_8 }, M_U16, UNUSED, UNUSED),
        tag::WORKER_CRASHED => (
            K::WorkerCrashed {
                worker: u16_8,
                lost_request: flag.then_some(w2),
            },
            M_U16 | M_FLAG,
            if flag { ALL } else { UNUSED },
            UNUSED,
        ),
        tag::QUEUE_DEPTH => (
            K::QueueDepth {
                depth: hi32,
                peak: w2 as u32,
                capacity: (w2 >> 32) as u32,
            },
            M_HI32,
            ALL,
            UNUSED,
        ),
        tag::LOAD_CHANGED => {
            use LoadChange as L;
            let (change, m1, m2, m3) = match s {
                load::RATE => (
                    L::Rate {
                        per_s: f64::from_bits(w2),
                    },
                    0,
                    ALL,
                    UNUSED,
                ),
                load::WORKERS => (L::Workers { count: hi16 }, M_HI16, UNUSED, UNUSED),
                load::SERVICE => {
                    let (dist, m3) = match s2 {
                        dist::CONST => (ServiceDist::Const { ns: w2 }, UNUSED),
                        dist::EXP => (ServiceDist::Exp { mean_ns: w2 }, UNUSED),
                        dist::LOG_NORMAL => (
                            ServiceDist::LogNormal {
                                median_ns: w2,
                                p99_ns: w3,
                            },
                            ALL,
                        ),
                        _ => return None,
                    };
                    (L::Service { dist }, M_SUB2, ALL, m3)
                }
                load::ERROR_RATE => (
                    L::ErrorRate {
                        fraction: f64::from_bits(w2),
                    },
                    0,
                    ALL,
                    UNUSED,
                ),
                load::QUEUE_CAPACITY => (L::QueueCapacity { capacity: hi32 }, M_HI32, UNUSED, UNUSED),
                load::BURST_STARTED => (
                    L::BurstStarted {
                        factor: f64::from_bits(w2),
                        duration: w3,
                    },
                    0,
                    ALL,
                    ALL,
                ),
                load::BURST_ENDED => (L::BurstEnded, 0, UNUSED, UNUSED),
                load::PAUSED => (L::Paused, 0, UNUSED, UNUSED),
                load::RESUMED => (L::Resumed, 0, UNUSED, UNUSED),
                load::STALL_INJECTED => (
                    L::StallInjected {
                        worker: hi16,
                        duration: w2,
                    },
                    M_HI16,
                    ALL,
                    UNUSED,
                ),
                load::CRASH_INJECTED => (L::CrashInjected { worker: hi16 }, M_HI16, UNUSED, UNUSED),
                load::AUTO_RESTART => (L::AutoRestart { on: flag }, M_FLAG, UNUSED, UNUSED),
                load::SLOW_SUBSCRIBER => (L::SlowSubscriber { added: flag }, M_FLAG, UNUSED, UNUSED),
                load::RECORDING => (L::Recording { on: flag }, M_FLAG, UNUSED, UNUSED),
                _ => return None,
            };
            (K::LoadChanged { change }, M_SUB | m1, m2, m3)
        }
        tag::SCENARIO_STEP => (K::ScenarioStep { step: u16_8 }, M_U16, UNUSED, UNUSED),
        tag::QUEUE_FULL => (K::QueueFull, 0, UNUSED, UNUSED),
        tag::QUEUE_HAS_ROOM => (K::QueueHasRoom { rejected: w2 }, 0, ALL, UNUSED),
        tag::ARRIVAL_PACE => (
            K::ArrivalPace {
                achieved: f64::from_bits(w2),
                skipped: w3,
                window_ms: hi32,
                short: flag,
            },
            M_FLAG | M_HI32,
            ALL,
            ALL,
        ),
        _ => return None,
    };
    if (w1 & !(M_TAG | m1)) | (w2 & !m2) | (w3 & !m3) != 0 {
        return None;
    }
    Some(Event { t, kind })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{MILLIS, SECONDS};
    use proptest::prelude::*;

    /// Every `f64` bit pattern: the special classes `any` favours, plus raw bits (NaN payloads included).
    fn any_f64_bits() -> impl Strategy<Value = f64> {
        prop_oneof![any::<f64>(), any::<u64>().prop_map(f64::from_bits)]
    }

    fn any_service_dist() -> impl Strategy<Value = ServiceDist> {
        prop_oneof![
            any::<u64>().prop_map(|ns| ServiceDist::Const { ns }),
            any::<u64>().prop_map(|mean_ns| ServiceDist::Exp { mean_ns }),
            (any::<u64>(), any::<u64>()).prop_map(|(median_ns, p99_ns)| ServiceDist::LogNormal { median_ns, p99_ns }),
        ]
    }

    fn any_load_change() -> impl Strategy<Value = LoadChange> {
        use LoadChange as L;
        prop_oneof![
            any_f64_bits().prop_map(|per_s| L::Rate { per_s }),
            any::<u16>().prop_map(|count| L::Workers { count }),
            any_service_dist().prop_map(|dist| L::Service { dist }),
            any_f64_bits().prop_map(|fraction| L::ErrorRate { fraction }),
            any::<u32>().prop_map(|capacity| L::QueueCapacity { capacity }),
            (any_f64_bits(), any::<u64>()).prop_map(|(factor, duration)| L::BurstStarted { factor, duration }),
            Just(L::BurstEnded),
            Just(L::Paused),
            Just(L::Resumed),
            (any::<u16>(), any::<u64>()).prop_map(|(worker, duration)| L::StallInjected { worker, duration }),
            any::<u16>().prop_map(|worker| L::CrashInjected { worker }),
            any::<bool>().prop_map(|on| L::AutoRestart { on }),
            any::<bool>().prop_map(|added| L::SlowSubscriber { added }),
            any::<bool>().prop_map(|on| L::Recording { on }),
        ]
    }

    fn any_kind() -> impl Strategy<Value = EventKind> {
        use EventKind as K;
        prop_oneof![
            any::<u64>().prop_map(|id| K::RequestArrived { id }),
            (any::<u64>(), any::<u16>()).prop_map(|(id, worker)| K::RequestStarted { id, worker }),
            (any::<u64>(), any::<u16>(), any::<u64>(), any::<bool>()).prop_map(|(id, worker, latency, ok)| {
                K::RequestCompleted {
                    id,
                    worker,
                    latency,
                    ok,
                }
            }),
            any::<u64>().prop_map(|id| K::RequestRejected { id }),
            any::<u16>().prop_map(|worker| K::WorkerSpawned { worker }),
            any::<u16>().prop_map(|worker| K::WorkerStopped { worker }),
            any::<u16>().prop_map(|worker| K::WorkerHeartbeat { worker }),
            any::<u16>().prop_map(|worker| K::WorkerStalled { worker }),
            any::<u16>().prop_map(|worker| K::WorkerRecovered { worker }),
            (any::<u16>(), proptest::option::of(any::<u64>()))
                .prop_map(|(worker, lost_request)| K::WorkerCrashed { worker, lost_request }),
            (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(depth, peak, capacity)| K::QueueDepth {
                depth,
                peak,
                capacity
            }),
            any_load_change().prop_map(|change| K::LoadChanged { change }),
            any::<u16>().prop_map(|step| K::ScenarioStep { step }),
            Just(K::QueueFull),
            any::<u64>().prop_map(|rejected| K::QueueHasRoom { rejected }),
            (any_f64_bits(), any::<u64>(), any::<u32>(), any::<bool>()).prop_map(
                |(achieved, skipped, window_ms, short)| K::ArrivalPace {
                    achieved,
                    skipped,
                    window_ms,
                    short
                }
            ),
        ]
    }

    fn any_event() -> impl Strategy<Value = Event> {
        (any::<u64>(), any_kind()).prop_map(|(t, kind)| Event { t, kind })
    }

    /// `decode(encode(e))` is `e`: equal by `==`, and bit for bit in its `f64` fields (where `==` can't see NaN).
    fn assert_round_trips(e: Event) {
        let w = encode(&e);
        let back = decode(w).unwrap_or_else(|| panic!("{e:?} encoded as {w:x?} does not decode"));
        // `==` is reflexive unless an f64 field is NaN; then the re-encoded words compare the bits.
        let twin = e;
        if twin == e {
            assert_eq!(back, e, "{w:x?}");
        }
        assert_eq!(encode(&back), w, "{e:?} -> {back:?}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn every_event_round_trips_losslessly_including_all_f64_bit_patterns(e in any_event()) {
            assert_round_trips(e);
        }

        /// Flip each bit of words 1..=3 of a valid encoding in turn: decode
        /// either rejects the words or yields an event that encodes to exactly
        /// them (a change in a field), never an event from words `encode`
        /// would not write.
        #[test]
        fn decode_accepts_only_words_encode_produces(e in any_event()) {
            let valid = encode(&e);
            for word in 1..WORDS {
                for bit in 0..64 {
                    let mut w = valid;
                    w[word] ^= 1 << bit;
                    if let Some(back) = decode(w) {
                        prop_assert_eq!(encode(&back), w, "{:?} flipped to {:x?} decoded as {:?}", e, w, back);
                    }
                }
            }
        }
    }

    #[test]
    fn unknown_tags_and_sub_tags_and_non_bool_bits_decode_to_none() {
        // Tag 0 is reserved: a never-written (all-zero) slot is not an event.
        assert_eq!(decode([0; WORDS]), None);
        assert_eq!(decode([5, 0, 7, 9]), None);
        for t in [0xFF, 14, 15, 16, 17, 21, 0x80] {
            assert_eq!(decode([1, t, 0, 0]), None, "tag {t:#x}");
        }
        // LoadChanged with an unknown LoadChange sub-tag, and Service with an unknown ServiceDist sub-tag.
        assert_eq!(decode([1, sub(tag::LOAD_CHANGED, 0), 0, 0]), None);
        assert_eq!(decode([1, sub(tag::LOAD_CHANGED, 15), 0, 0]), None);
        assert_eq!(decode([1, sub2(tag::LOAD_CHANGED, load::SERVICE, 0), 1, 0]), None);
        assert_eq!(decode([1, sub2(tag::LOAD_CHANGED, load::SERVICE, 4), 1, 0]), None);

        // A bool stored as 2 (bit 25 instead of 24), and 3 (both bits).
        let ok = encode(&Event::new(
            1,
            EventKind::RequestCompleted {
                id: 2,
                worker: 3,
                latency: 4,
                ok: true,
            },
        ));
        assert!(decode(ok).is_some());
        assert_eq!(decode([ok[0], ok[1] ^ (0b11 << 24), ok[2], ok[3]]), None);
        assert_eq!(decode([ok[0], ok[1] | (1 << 25), ok[2], ok[3]]), None);
        let on = encode(&Event::new(
            1,
            EventKind::LoadChanged {
                change: LoadChange::Recording { on: true },
            },
        ));
        assert!(decode(on).is_some());
        assert_eq!(decode([on[0], on[1] | (1 << 25), 0, 0]), None);

        // Option: None with a value in word 2, and an is-some bit of 2.
        let crashed_none = u64::from(tag::WORKER_CRASHED) | u16_at8(1);
        assert!(decode([1, crashed_none, 0, 0]).is_some());
        assert_eq!(decode([1, crashed_none, 42, 0]), None);
        assert_eq!(decode([1, crashed_none | (1 << 25), 42, 0]), None);

        // A payload in a word the variant does not use.
        assert_eq!(decode([1, u64::from(tag::WORKER_SPAWNED), 0, 1]), None);
        assert_eq!(decode([1, u64::from(tag::REQUEST_ARRIVED), 3, 1]), None);
    }

    #[test]
    fn one_example_of_every_variant_round_trips_with_a_distinct_tag() {
        use EventKind as K;
        use LoadChange as L;
        let kinds = [
            K::RequestArrived { id: u64::MAX },
            K::RequestStarted {
                id: 1,
                worker: u16::MAX,
            },
            K::RequestCompleted {
                id: 2,
                worker: 3,
                latency: 4 * MILLIS,
                ok: true,
            },
            K::RequestRejected { id: 5 },
            K::WorkerSpawned { worker: 6 },
            K::WorkerStopped { worker: 7 },
            K::WorkerHeartbeat { worker: 8 },
            K::WorkerStalled { worker: 9 },
            K::WorkerRecovered { worker: 10 },
            K::WorkerCrashed {
                worker: 11,
                lost_request: Some(0),
            },
            K::WorkerCrashed {
                worker: 11,
                lost_request: None,
            },
            K::QueueDepth {
                depth: u32::MAX,
                peak: 1,
                capacity: u32::MAX - 1,
            },
            K::LoadChanged {
                change: L::Rate { per_s: -0.0 },
            },
            K::LoadChanged {
                change: L::Workers { count: 12 },
            },
            K::LoadChanged {
                change: L::Service {
                    dist: ServiceDist::Const { ns: 13 },
                },
            },
            K::LoadChanged {
                change: L::Service {
                    dist: ServiceDist::Exp { mean_ns: 14 },
                },
            },
            K::LoadChanged {
                change: L::Service {
                    dist: ServiceDist::LogNormal {
                        median_ns: 2 * MILLIS,
                        p99_ns: 20 * MILLIS,
                    },
                },
            },
            K::LoadChanged {
                change: L::ErrorRate { fraction: f64::NAN },
            },
            K::LoadChanged {
                change: L::QueueCapacity { capacity: 15 },
            },
            K::LoadChanged {
                change: L::BurstStarted {
                    factor: f64::INFINITY,
                    duration: SECONDS,
                },
            },
            K::LoadChanged { change: L::BurstEnded },
            K::LoadChanged { change: L::Paused },
            K::LoadChanged { change: L::Resumed },
            K::LoadChanged {
                change: L::StallInjected {
                    worker: 16,
                    duration: 17,
                },
            },
            K::LoadChanged {
                change: L::CrashInjected { worker: 18 },
            },
            K::LoadChanged {
                change: L::AutoRestart { on: true },
            },
            K::LoadChanged {
                change: L::SlowSubscriber { added: false },
            },
            K::LoadChanged {
                change: L::Recording { on: true },
            },
            K::ScenarioStep { step: 19 },
            K::QueueFull,
            K::QueueHasRoom { rejected: 20 },
            K::ArrivalPace {
                achieved: 21.5,
                skipped: 22,
                window_ms: 23,
                short: true,
            },
        ];
        let mut tags = Vec::new();
        for (i, kind) in kinds.into_iter().enumerate() {
            let e = Event::new(i as u64, kind);
            assert_round_trips(e);
            // Tag and sub-tags (bits 0..24, less the u16 field of the variants without sub-tags).
            let w1 = encode(&e)[1];
            let key = match w1 as u8 {
                tag::LOAD_CHANGED => w1 & (M_TAG | M_SUB | M_SUB2),
                tag::WORKER_CRASHED => w1 & (M_TAG | M_FLAG),
                _ => w1 & M_TAG,
            };
            assert!(
                !tags.contains(&key),
                "{kind:?} reuses the tag of another variant ({key:#x})"
            );
            tags.push(key);
        }
        // 16 kinds, + 13 more LoadChange, + 2 more ServiceDist, + WorkerCrashed's None.
        assert_eq!(tags.len(), 16 + 13 + 2 + 1);
    }
}
