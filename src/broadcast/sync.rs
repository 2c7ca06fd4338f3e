//! The loom shim: every atomic, lock and wake-up the broadcaster orders by
//! hand comes from here, so `RUSTFLAGS="--cfg loom"` swaps them for loom's
//! model-checked versions (as tokio's `src/loom/` does) and the model tests
//! in `tests/loom_broadcast.rs` explore their interleavings.
//!
//! Under loom the shared decoded pages (which rest on `arc-swap`, which loom
//! cannot see into) are compiled out: every reader decodes from the ring
//! itself, which is the path the pages only shortcut. Everything else is the
//! same code.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence};
#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence};
#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// A busy-wait hint. Under loom it yields to the model, so a spinning thread
/// lets the one it waits for run.
#[inline]
pub(crate) fn spin_loop() {
    #[cfg(loom)]
    loom::hint::spin_loop();
    #[cfg(not(loom))]
    std::hint::spin_loop();
}

/// Gives up the CPU (to the model, under loom).
#[inline]
pub(crate) fn yield_now() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::thread::yield_now();
}

/// Locks `m`, ignoring poisoning: every critical section here leaves its
/// data consistent at each step, so a panic elsewhere does not spoil it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A longer pause in a wait loop: a short sleep (a yield to the model,
/// under loom, which has no time).
#[inline]
pub(crate) fn pause() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::thread::sleep(std::time::Duration::from_micros(20));
}

/// Where two threads meet Dekker-style on SeqCst accesses (a store, then a
/// load of what the other stores): the head, notice count or an end state
/// against the `sleepers` count. SeqCst accesses already order this in a
/// real build; loom treats them as AcqRel (its documented limitation), so
/// under loom a SeqCst fence stands in for that total order.
#[inline(always)]
pub(crate) fn seqcst_meet() {
    #[cfg(loom)]
    fence(Ordering::SeqCst);
}
