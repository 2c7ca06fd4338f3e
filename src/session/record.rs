//! Event recordings: their format and writing them ([`Recorder`]). Reading
//! them back is [`super::recording`]'s
//! ([`Recording::load`](super::recording::Recording::load)).
//!
//! # The file
//!
//! JSON Lines. Line 1 is a [`Header`]:
//! `{"format":"fantop-session","version":1,"fantop_version":..,"seed":..,"config":{..},"started_at":..}`
//! (plus `scenario` when one ran). Then one [`Event`] per line, with its
//! timestamp `t` in ns since the pipeline started, e.g.
//! `{"t":1500000,"ev":"request_completed","id":7,"worker":2,"latency":2100000,"ok":true}`.
//! If the recorder ever missed events, a line `{"gap":N}` says how many,
//! where it noticed.
//!
//! # The recorder
//!
//! A broadcaster subscriber with its own thread (`fantop/recorder`) and a
//! buffered writer, off the publisher's path. It drains its queue every
//! [`RECORDER_POLL`] (or per batch with [`Delivery::Wait`] in virtual-time
//! runs, where nothing may be lost), and flushes at least every
//! [`FLUSH_EVERY`], so a crash loses at most that much and leaves every
//! complete line readable. Stopping (or the stream ending) drains what is
//! queued, flushes and closes the file.
//!
//! The file is opened by [`crate::session::files::open`] (never an existing
//! file, never a wait), and everything, the header included, is written on
//! the recorder's thread: a write that fails (a full disk) ends the
//! recorder at once with an error naming the file, which the session
//! notices on its next tick.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use serde::{Deserialize, Serialize};

use crate::broadcast::{Broadcaster, Delivery, RecvError, SubscribeOptions, Subscription};
use crate::event::Event;
use crate::session::files::{self, Output};
use crate::session::summary::ConfigSummary;

/// The `format` of line 1.
pub const FORMAT: &str = "fantop-session";
/// The version this fantop writes and reads.
pub const VERSION: u32 = 1;
/// The recorder's queue bound, in events: as much of the broadcaster's ring
/// as a queue may hold (with the default ring 261,872 events, under a
/// second at 100,000 requests/s).
pub const RECORDER_CAPACITY: usize = crate::broadcast::DEFAULT_RING_CAPACITY;
/// How often the recorder drains its queue in live runs.
pub const RECORDER_POLL: Duration = Duration::from_millis(10);
/// Longest time written events may sit in the buffer.
pub const FLUSH_EVERY: Duration = Duration::from_millis(200);

/// A scenario's identity, so a replay can label its steps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScenarioInfo {
    pub name: String,
    pub steps: Vec<String>,
}

/// Line 1 of a recording.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub version: u32,
    pub fantop_version: String,
    pub seed: u64,
    pub config: ConfigSummary,
    /// Wall-clock time the recording started (RFC 3339, UTC).
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<ScenarioInfo>,
}

impl Header {
    pub fn new(seed: u64, config: ConfigSummary, scenario: Option<ScenarioInfo>) -> Header {
        Header {
            format: FORMAT.into(),
            version: VERSION,
            fantop_version: env!("CARGO_PKG_VERSION").into(),
            seed,
            config,
            started_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            scenario,
        }
    }
}

/// `fantop-YYYYmmdd-HHMMSS.jsonl`, from the local wall clock (UTC).
pub fn default_file_name() -> String {
    let stamp = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    // 2026-11-27T08:30:05Z -> 20261127-083005
    let digits: String = stamp.chars().filter(|c| c.is_ascii_digit()).collect();
    format!("fantop-{}-{}.jsonl", &digits[..8], &digits[8..14])
}

/// What a finished recording holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordStats {
    pub path: PathBuf,
    pub events: u64,
    /// Events missed (written as `{"gap":N}` lines).
    pub missed: u64,
}

/// A running recorder. Dropping it (even while unwinding) stops it the way
/// [`Recorder::stop`] does, so the file always ends on a complete line.
pub struct Recorder {
    path: PathBuf,
    /// The header could not be written (known at start in simulated time).
    header_failed: bool,
    stop_tx: Sender<()>,
    thread: Option<JoinHandle<io::Result<RecordStats>>>,
}

impl Recorder {
    /// Subscribes to `broadcaster` and starts `fantop/recorder`, which
    /// writes the header and then the events to `out` (opened with
    /// [`crate::session::files::open`]). Nothing is written on the caller's
    /// thread, so a slow or failing file never holds it up: a write error
    /// ends the recorder ([`Recorder::ended`]) and is returned, naming the
    /// file, by [`Recorder::stop`] or [`Recorder::finish`].
    ///
    /// In simulated time ([`Delivery::Wait`], where the run waits for its
    /// recorder anyway) this waits for the header to be written, so a file
    /// that cannot take it is [`Recorder::ended`] from the first frame on,
    /// whatever the threads' timing.
    pub fn start(
        broadcaster: &Broadcaster<Event>,
        out: Output,
        header: &Header,
        delivery: Delivery,
    ) -> anyhow::Result<Recorder> {
        Self::start_with_capacity(broadcaster, out, header, delivery, RECORDER_CAPACITY)
    }

    /// [`Recorder::start`] with a queue bound other than [`RECORDER_CAPACITY`].
    pub fn start_with_capacity(
        broadcaster: &Broadcaster<Event>,
        out: Output,
        header: &Header,
        delivery: Delivery,
        capacity: usize,
    ) -> anyhow::Result<Recorder> {
        let path = out.path;
        let opts = SubscribeOptions::new("recorder").capacity(capacity).delivery(delivery);
        let sub = broadcaster.subscribe_with(opts.clone());
        let (stop_tx, stop_rx) = crossbeam_channel::bounded(1);
        let (header_tx, header_rx) = crossbeam_channel::bounded(1);
        let broadcaster = broadcaster.clone();
        let header = header.clone();
        let p = path.clone();
        let thread = std::thread::Builder::new()
            .name("fantop/recorder".into())
            .spawn(move || {
                let mut w = Writer {
                    out: BufWriter::with_capacity(1 << 16, out.file),
                    path: p.clone(),
                    events: 0,
                    missed: 0,
                    reported_drops: 0,
                };
                let written = w.write_header(&header);
                let _ = header_tx.send(written.is_ok());
                written
                    .and_then(|()| w.run(sub, &broadcaster, opts, stop_rx))
                    .map_err(|e| files::named(&p, e))
            })?;
        let header_failed = delivery == Delivery::Wait && !header_rx.recv().unwrap_or(false);
        Ok(Recorder {
            path,
            header_failed,
            stop_tx,
            thread: Some(thread),
        })
    }

    /// Whether the recorder has ended on its own: the stream closed, or a
    /// write failed (then [`Recorder::finish`] returns the error at once).
    pub fn ended(&self) -> bool {
        self.header_failed || self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops recording: what is queued is written, the file flushed and
    /// closed.
    pub fn stop(self) -> io::Result<RecordStats> {
        let _ = self.stop_tx.send(());
        self.finish()
    }

    /// Waits for the stream to end (the publisher closed), then closes the file.
    pub fn finish(mut self) -> io::Result<RecordStats> {
        match self.thread.take().expect("joined once").join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = self.stop_tx.send(());
            let _ = t.join();
        }
    }
}

struct Writer {
    out: BufWriter<File>,
    path: PathBuf,
    events: u64,
    missed: u64,
    /// Drops of the current subscription already written as gaps.
    reported_drops: u64,
}

impl Writer {
    fn write_header(&mut self, header: &Header) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, header)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }

    fn run(
        &mut self,
        mut sub: Subscription<Event>,
        broadcaster: &Broadcaster<Event>,
        opts: SubscribeOptions,
        stop_rx: Receiver<()>,
    ) -> io::Result<RecordStats> {
        let mut last_flush = Instant::now();
        let mut stopping = false;
        loop {
            if !stopping {
                stopping = !matches!(stop_rx.try_recv(), Err(TryRecvError::Empty));
            }
            let got = if opts.delivery == Delivery::Wait && !stopping {
                sub.recv_timeout(RECORDER_POLL)
                    .map(|b| b.into_iter().collect::<Vec<_>>())
            } else {
                let mut batches = Vec::new();
                loop {
                    match sub.try_recv() {
                        Ok(Some(b)) => batches.push(b),
                        Ok(None) => break Ok(batches),
                        Err(e) if batches.is_empty() => break Err(e),
                        Err(_) => break Ok(batches),
                    }
                }
            };
            match got {
                Ok(batches) => {
                    self.note_drops(sub.stats().dropped)?;
                    let idle = batches.is_empty();
                    for b in batches {
                        self.write_events(&b)?;
                    }
                    if stopping {
                        break;
                    }
                    if idle && opts.delivery != Delivery::Wait {
                        std::thread::sleep(RECORDER_POLL);
                    }
                }
                Err(RecvError::Closed) => break,
                Err(RecvError::Evicted { dropped, .. }) => {
                    self.note_drops(dropped)?;
                    sub = broadcaster.subscribe_with(opts.clone());
                    self.reported_drops = 0;
                }
            }
            if last_flush.elapsed() >= FLUSH_EVERY {
                self.out.flush()?;
                last_flush = Instant::now();
            }
        }
        self.out.flush()?;
        self.out.get_ref().sync_data().ok();
        Ok(RecordStats {
            path: self.path.clone(),
            events: self.events,
            missed: self.missed,
        })
    }

    fn note_drops(&mut self, dropped: u64) -> io::Result<()> {
        if dropped > self.reported_drops {
            let gap = dropped - self.reported_drops;
            writeln!(self.out, "{{\"gap\":{gap}}}")?;
            self.missed += gap;
            self.reported_drops = dropped;
        }
        Ok(())
    }

    fn write_events(&mut self, batch: &[Event]) -> io::Result<()> {
        for e in batch {
            serde_json::to_writer(&mut self.out, e)?;
            self.out.write_all(b"\n")?;
        }
        self.events += batch.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_file_names_follow_the_documented_pattern() {
        let n = default_file_name();
        assert!(n.starts_with("fantop-") && n.ends_with(".jsonl"), "{n}");
        assert_eq!(n.len(), "fantop-20261127-083005.jsonl".len(), "{n}");
    }
}
