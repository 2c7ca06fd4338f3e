//! The baselines fantop's broadcaster is measured against, shared by
//! `fantop bench` and the criterion benches so both measure the same thing:
//! a plain crossbeam-channel per-subscriber fan-out of shared batches, and a
//! drainer thread that empties every subscriber's queue concurrently, as real
//! consumers would.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};

use crossbeam_channel::{Receiver, Sender};

use crate::event::Event;

/// A batch shared by every subscriber's channel.
pub type Batch = Arc<[Event]>;

/// What every drainer does with each event it receives: reads it (a copy
/// the optimizer cannot drop), as a real consumer would. Counting a batch
/// without reading its events would leave the data in the publisher's cache
/// and flatter any design whose consumers never touch it.
#[inline]
pub fn consume(e: &Event) {
    std::hint::black_box(*e);
}

/// One thread that keeps draining a set of queues until dropped.
pub struct Drainer {
    received: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Drainer {
    /// `drain` receives everything queued for one subscriber now and returns
    /// how many events that was.
    pub fn spawn<R, F>(receivers: Vec<R>, mut drain: F) -> Drainer
    where
        R: Send + 'static,
        F: FnMut(&R) -> u64 + Send + 'static,
    {
        let received = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let (received, stop) = (received.clone(), stop.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    let n: u64 = receivers.iter().map(&mut drain).sum();
                    if n == 0 {
                        thread::yield_now();
                    } else {
                        received.fetch_add(n, Ordering::Release);
                    }
                }
            })
        };
        Drainer {
            received,
            stop,
            handle: Some(handle),
        }
    }

    /// Waits until `total` events have been received since the drainer started.
    pub fn wait_for(&self, total: u64) {
        while self.received.load(Ordering::Acquire) < total {
            thread::yield_now();
        }
    }
}

impl Drop for Drainer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Reads every event of every batch queued on `rx` now; how many events.
pub fn read_all(rx: &Receiver<Batch>) -> u64 {
    let mut k = 0;
    for batch in rx.try_iter() {
        batch.iter().for_each(consume);
        k += batch.len() as u64;
    }
    k
}

/// A plain per-subscriber fan-out: one bounded crossbeam channel per
/// subscriber; every `batch` events become one `Arc<[Event]>`, and a clone
/// is `try_send`-ed to each channel (a full channel refuses it, counted).
pub struct CrossbeamBatched {
    senders: Vec<Sender<Batch>>,
    buf: Vec<Event>,
    batch: usize,
    /// Events refused by full channels.
    pub refused: u64,
}

impl CrossbeamBatched {
    /// `n` subscribers with room for `capacity` batches each, and a drainer
    /// for them.
    pub fn new(n: usize, batch: usize, capacity: usize) -> (CrossbeamBatched, Drainer) {
        let (fan, receivers) = CrossbeamBatched::undrained(n, batch, capacity);
        (fan, Drainer::spawn(receivers, read_all))
    }

    /// The same fan-out with its receiving ends, for the caller to read.
    pub fn undrained(n: usize, batch: usize, capacity: usize) -> (CrossbeamBatched, Vec<Receiver<Batch>>) {
        let (senders, receivers): (Vec<_>, Vec<Receiver<Batch>>) =
            (0..n).map(|_| crossbeam_channel::bounded(capacity.max(1))).unzip();
        let fan = CrossbeamBatched {
            senders,
            buf: Vec::with_capacity(batch),
            batch: batch.max(1),
            refused: 0,
        };
        (fan, receivers)
    }

    /// Publishes `events` in batches, the last one possibly partial.
    pub fn publish_round(&mut self, events: &[Event]) {
        for e in events {
            self.buf.push(*e);
            if self.buf.len() >= self.batch {
                self.send_buffered();
            }
        }
        self.send_buffered();
    }

    fn send_buffered(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let batch: Batch = Arc::from(self.buf.as_slice());
        self.buf.clear();
        for tx in &self.senders {
            if tx.try_send(batch.clone()).is_err() {
                self.refused += batch.len() as u64;
            }
        }
    }
}
