//! The shared ring every subscriber reads, and the decoded pages readers
//! share. Owns the slot format contract ([`Slot`]) and the seqlock that
//! keeps a reader from ever seeing a torn slot.

use super::config::Nanos;
use super::sync::{AtomicU64, Ordering, fence};

/// Words per ring slot.
pub const SLOT_WORDS: usize = 4;

/// What the broadcaster carries: a small `Copy` value that encodes to
/// exactly [`SLOT_WORDS`] `u64` words and back.
///
/// The ring stores each value as relaxed atomic words and checks a stamp
/// before and after copying them, so a reader never *keeps* a torn value;
/// but it may *decode* one before it learns so and throws it away.
/// [`decode_into`](Slot::decode_into) must therefore accept any words
/// without panicking (returning false for words `encode` never writes is
/// the ideal), and `decode_into(encode(v))` must give back `v`.
pub trait Slot: Copy + Send + Sync + 'static {
    /// A value to fill buffers with before they are written.
    const BLANK: Self;
    /// This value as words.
    fn encode(&self) -> [u64; SLOT_WORDS];
    /// Decodes words written by [`encode`](Slot::encode) into `out`; false
    /// (leaving `out` unspecified) for words that are no encoding.
    fn decode_into(words: [u64; SLOT_WORDS], out: &mut Self) -> bool;
    /// The value's timestamp (ns on the publisher's time line), used to
    /// stamp notices so they sort with the stream.
    fn timestamp(&self) -> Nanos;
    /// [`decode_into`](Slot::decode_into), returning the value.
    fn decode(words: [u64; SLOT_WORDS]) -> Option<Self> {
        let mut v = Self::BLANK;
        Self::decode_into(words, &mut v).then_some(v)
    }
}

/// Events per block: the unit one stamp guards. Smaller under loom, so a
/// model laps a ring in a handful of events.
#[cfg(not(loom))]
pub(crate) const BLOCK: u64 = 16;
#[cfg(loom)]
pub(crate) const BLOCK: u64 = 2;
/// What [`Ring::decode_block`] returns for a whole block, every event decoded.
#[cfg(not(loom))]
pub(crate) const WHOLE_BLOCK: u32 = u32::MAX >> (32 - BLOCK);
/// A block's stamp while the publisher rewrites it.
const WRITING: u64 = u64::MAX;

/// The shared ring of events, each as [`SLOT_WORDS`] relaxed atomic words,
/// in blocks of [`BLOCK`] guarded by one stamp each (a seqlock). Written by
/// the publisher only.
pub(crate) struct Ring<T> {
    /// Slot `seq & mask` holds event `seq` of the newest lap written there.
    /// Invariant: a word is only ever stored between its block's stamp
    /// being set to [`WRITING`] (or the block's lap having begun) and the
    /// block's stamp being set to `first + 1`; so a reader whose two stamp
    /// loads (Acquire before, fence + load after) both give `first + 1` read
    /// words of lap `first` only.
    words: Box<[AtomicU64]>,
    /// Per block: `first + 1` while the block holds the lap whose first
    /// sequence number is `first`, [`WRITING`] while the publisher starts a
    /// new lap in it, 0 before it was ever written. Only ever increases
    /// within a lap's life (`WRITING` excepted).
    stamps: Box<[AtomicU64]>,
    mask: u64,
    _slot: std::marker::PhantomData<T>,
}

impl<T: Slot> Ring<T> {
    pub(crate) fn new(len: usize) -> Ring<T> {
        debug_assert!(len.is_power_of_two() && len as u64 >= BLOCK);
        Ring {
            words: std::iter::repeat_with(|| AtomicU64::new(0))
                .take(len * SLOT_WORDS)
                .collect(),
            stamps: std::iter::repeat_with(|| AtomicU64::new(0))
                .take(len / BLOCK as usize)
                .collect(),
            mask: len as u64 - 1,
            _slot: std::marker::PhantomData,
        }
    }

    pub(crate) fn len(&self) -> u64 {
        self.mask + 1
    }

    /// Writes the first event of a block's new lap.
    #[inline]
    pub(crate) fn write_first(&self, seq: u64, e: &T) {
        let stamp = &self.stamps[((seq & self.mask) / BLOCK) as usize];
        stamp.store(WRITING, Ordering::Relaxed);
        fence(Ordering::Release);
        self.write_next(seq, e);
        stamp.store(seq + 1, Ordering::Release);
    }

    /// Writes an event into a block whose lap has begun.
    #[inline]
    pub(crate) fn write_next(&self, seq: u64, e: &T) {
        let i = (seq & self.mask) as usize * SLOT_WORDS;
        for (a, v) in self.words[i..i + SLOT_WORDS].iter().zip(e.encode()) {
            a.store(v, Ordering::Relaxed);
        }
    }

    /// The event written as `seq`, read by the thread that wrote it (the
    /// publisher), so no stamp is needed.
    pub(crate) fn own(&self, seq: u64) -> Option<T> {
        let i = (seq & self.mask) as usize * SLOT_WORDS;
        T::decode(std::array::from_fn(|j| self.words[i + j].load(Ordering::Relaxed)))
    }

    /// Decodes events `from..to` (published, within one block) into `out`,
    /// straight from the ring: `None` if the block has been (or is being)
    /// overwritten, else which of them decoded (bit `i` for `out[i]`; all of
    /// them, unless the words are not an encoding, which checked words
    /// always are). A torn read is harmless because it is discarded: the
    /// stamp is checked again after.
    #[inline]
    pub(crate) fn decode_block(&self, from: u64, to: u64, out: &mut [T]) -> Option<u32> {
        let first = from - from % BLOCK;
        debug_assert!(to <= first + BLOCK && out.len() >= (to - from) as usize);
        let stamp = &self.stamps[((from & self.mask) / BLOCK) as usize];
        if stamp.load(Ordering::Acquire) != first + 1 {
            return None;
        }
        // A block never wraps the ring: one slice, no per-word bounds checks.
        let i = (from & self.mask) as usize * SLOT_WORDS;
        let src = &self.words[i..i + (to - from) as usize * SLOT_WORDS];
        let mut decoded = 0;
        for (k, (e, w)) in out.iter_mut().zip(src.chunks_exact(SLOT_WORDS)).enumerate() {
            let ok = T::decode_into(std::array::from_fn(|j| w[j].load(Ordering::Relaxed)), e);
            decoded |= u32::from(ok) << k;
        }
        fence(Ordering::Acquire);
        (stamp.load(Ordering::Relaxed) == first + 1).then_some(decoded)
    }
}

#[cfg(not(loom))]
pub(crate) use pages::{PAGE, Page, PageGuard, Pages, ptr};

/// Shared decoded pages (not under loom: `arc-swap` is opaque to it).
#[cfg(not(loom))]
mod pages {
    use std::sync::Arc;

    use arc_swap::ArcSwapOption;
    use crossbeam_channel::{Receiver, Sender};

    use super::Slot;

    /// Events per page: the unit readers share decoded. The first reader to
    /// want a whole published page decodes it for everyone (when there is
    /// anyone to share it with); the others read the events it made.
    pub const PAGE: u64 = 256;
    /// Decoded pages kept shared: the newest `PAGES` (16,384 events).
    pub const PAGES: usize = 64;
    /// Page buffers kept for reuse, at most.
    pub const SPARE_PAGES: usize = 4;

    /// Events `first .. first + PAGE`, decoded from the ring. Immutable once
    /// shared.
    pub(crate) struct Page<T> {
        pub(crate) first: u64,
        pub(crate) events: Box<[T]>,
    }

    /// A reader's hold on a shared page (a slot's `Some`, as loaded).
    pub(crate) type PageGuard<T> = arc_swap::Guard<Option<Arc<Page<T>>>>;

    /// Where a slot's page is, to tell whether a compare-and-swap took.
    pub(crate) fn ptr<T>(page: &Option<Arc<Page<T>>>) -> Option<*const Page<T>> {
        page.as_ref().map(Arc::as_ptr)
    }

    /// The newest decoded pages, page `first / PAGE` in slot
    /// `first / PAGE % PAGES`. Written by readers, by compare-and-swap, only
    /// with a page newer than the one it replaces; never by the publisher.
    pub(crate) struct Pages<T> {
        slots: Box<[ArcSwapOption<Page<T>>]>,
        /// Buffers of pages no reader holds any more, to decode the next
        /// into: at most [`SPARE_PAGES`].
        spares: Receiver<Box<[T]>>,
        recycled: Sender<Box<[T]>>,
    }

    impl<T: Slot> Pages<T> {
        pub(crate) fn new() -> Pages<T> {
            let (recycled, spares) = crossbeam_channel::bounded(SPARE_PAGES);
            Pages {
                slots: std::iter::repeat_with(ArcSwapOption::empty).take(PAGES).collect(),
                spares,
                recycled,
            }
        }

        /// A buffer to decode a page into: a spare if there is one.
        pub(crate) fn spare(&self) -> Box<[T]> {
            self.spares
                .try_recv()
                .unwrap_or_else(|_| vec![T::BLANK; PAGE as usize].into_boxed_slice())
        }

        /// Keeps `events` for reuse, or frees it if enough are kept.
        pub(crate) fn recycle(&self, events: Box<[T]>) {
            let _ = self.recycled.try_send(events);
        }

        pub(crate) fn slot(&self, first: u64) -> &ArcSwapOption<Page<T>> {
            &self.slots[(first / PAGE) as usize % PAGES]
        }
    }
}
