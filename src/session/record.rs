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

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use serde::{Deserialize, Serialize};

use crate::broadcast::{Broadcaster, Delivery, RecvError, SubscribeOptions, Subscription};
use crate::event::Event;
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

/// A path that does not exist yet: `path`, or `stem-2.ext`, `stem-3.ext`,
/// ... when `path` is a file already. An existing path that is not a regular
/// file (a device such as `/dev/full`, a FIFO, a directory) is refused: a
/// recording is written to a new regular file, never beside a device.
pub fn fresh_path(path: &Path) -> io::Result<PathBuf> {
    match std::fs::metadata(path) {
        Err(_) => return Ok(path.to_path_buf()),
        Ok(m) if !m.is_file() => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{}: not a regular file (a recording is written to a new file)",
                    path.display()
                ),
            ));
        }
        Ok(_) => {}
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    Ok((2..)
        .map(|i| path.with_file_name(format!("{stem}-{i}{ext}")))
        .find(|p| std::fs::symlink_metadata(p).is_err())
        .expect("some suffix is free"))
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
    stop_tx: Sender<()>,
    thread: Option<JoinHandle<io::Result<RecordStats>>>,
}

impl Recorder {
    /// Creates `path` (an error names it), writes the header, subscribes to
    /// `broadcaster` and starts `fantop/recorder`.
    pub fn start(
        broadcaster: &Broadcaster<Event>,
        path: &Path,
        header: &Header,
        delivery: Delivery,
    ) -> anyhow::Result<Recorder> {
        Self::start_with_capacity(broadcaster, path, header, delivery, RECORDER_CAPACITY)
    }

    /// [`Recorder::start`] with a queue bound other than [`RECORDER_CAPACITY`].
    pub fn start_with_capacity(
        broadcaster: &Broadcaster<Event>,
        path: &Path,
        header: &Header,
        delivery: Delivery,
        capacity: usize,
    ) -> anyhow::Result<Recorder> {
        let file =
            File::create(path).map_err(|e| anyhow::anyhow!("cannot create recording {}: {e}", path.display()))?;
        let mut out = BufWriter::with_capacity(1 << 16, file);
        serde_json::to_writer(&mut out, header)?;
        out.write_all(b"\n")?;
        out.flush()
            .map_err(|e| anyhow::anyhow!("cannot write recording {}: {e}", path.display()))?;
        let opts = SubscribeOptions::new("recorder").capacity(capacity).delivery(delivery);
        let sub = broadcaster.subscribe_with(opts.clone());
        let (stop_tx, stop_rx) = crossbeam_channel::bounded(1);
        let broadcaster = broadcaster.clone();
        let p = path.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("fantop/recorder".into())
            .spawn(move || {
                let mut w = Writer {
                    out,
                    path: p,
                    events: 0,
                    missed: 0,
                    reported_drops: 0,
                };
                w.run(sub, &broadcaster, opts, stop_rx)
            })?;
        Ok(Recorder {
            path: path.to_path_buf(),
            stop_tx,
            thread: Some(thread),
        })
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

    /// A recording never goes beside a device or into a FIFO: an existing
    /// non-regular path is refused with its name; an existing file gets the
    /// next free `-N` name; a new path is used as it is.
    #[test]
    fn fresh_paths_refuse_what_is_not_a_regular_file() {
        let e = fresh_path(Path::new("/dev/null")).unwrap_err();
        assert!(e.to_string().contains("/dev/null: not a regular file"), "{e}");
        let dir = std::env::temp_dir().join(format!("fantop-fresh-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(fresh_path(&dir).is_err(), "a directory is refused");
        let taken = dir.join("r.jsonl");
        assert_eq!(fresh_path(&taken).unwrap(), taken);
        std::fs::write(&taken, "x").unwrap();
        assert_eq!(fresh_path(&taken).unwrap(), dir.join("r-2.jsonl"));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn default_file_names_follow_the_documented_pattern() {
        let n = default_file_name();
        assert!(n.starts_with("fantop-") && n.ends_with(".jsonl"), "{n}");
        assert_eq!(n.len(), "fantop-20261127-083005.jsonl".len(), "{n}");
    }
}
