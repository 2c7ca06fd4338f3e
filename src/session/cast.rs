//! asciicast v2 output: what the monitor draws, as a file `asciinema play`
//! and `agg` understand.
//!
//! The header line is `{"version":2,"width":W,"height":H,"timestamp":T,
//! "title":..,"env":{"TERM":..}}`; then `[t, "o", data]` with the exact
//! bytes written to the terminal, `[t, "r", "COLSxROWS"]` on resize and
//! `[t, "m", label]` markers at scenario steps and injected faults. `t` is
//! seconds since the start: wall time for a live cast, simulated time for an
//! offscreen one.
//!
//! The TUI's `tui::output::CastOutput` is the `Write` the ratatui backend
//! draws into: it passes the bytes to the terminal (if any) and, on each
//! flush (one per frame), appends one output event to the cast.
//!
//! The file is opened by [`crate::session::files::open`] as the user named
//! it (never an existing file; a terminal or device is written in place).
//! Each frame's event is written through at once, so a write that fails (a
//! full disk) is known at that frame: the cast keeps the first error
//! ([`Cast::failed`], naming the file), writes nothing more, and never
//! fails the draw; the session reports it.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::event::Nanos;
use crate::session::files::{self, Naming};

/// Where cast timestamps come from.
#[derive(Clone, Copy, Debug)]
pub enum CastTime {
    /// Seconds since this instant.
    Wall(Instant),
    /// Set explicitly ([`Cast::set_time`]): simulated time.
    Manual(Nanos),
}

#[derive(Serialize)]
struct Env {
    #[serde(rename = "TERM")]
    term: String,
}

#[derive(Serialize)]
struct CastHeader {
    version: u32,
    width: u16,
    height: u16,
    timestamp: u64,
    title: String,
    env: Env,
}

/// An asciicast v2 file being written.
pub struct Cast {
    out: BufWriter<File>,
    path: PathBuf,
    time: CastTime,
    /// The first write error, naming the file; nothing is written after it.
    error: Option<String>,
    /// Bytes written since the last flush, possibly ending mid-character.
    pending: Vec<u8>,
    pub events: u64,
}

impl Cast {
    /// Creates `path` (see [`files::open`]: an existing file is refused)
    /// and writes the header. The error names the file.
    pub fn create(path: &Path, width: u16, height: u16, title: &str, time: CastTime) -> anyhow::Result<Cast> {
        let file = files::open(path, Naming::Given)?.file;
        let mut out = BufWriter::new(file);
        let header = CastHeader {
            version: 2,
            width,
            height,
            timestamp: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            title: title.to_string(),
            env: Env {
                term: std::env::var("TERM")
                    .ok()
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| "xterm-256color".into()),
            },
        };
        serde_json::to_writer(&mut out, &header)?;
        out.write_all(b"\n")?;
        Ok(Cast {
            out,
            path: path.to_path_buf(),
            time,
            error: None,
            pending: Vec::new(),
            events: 0,
        })
    }

    /// Sets the time of the next events (manual time only).
    pub fn set_time(&mut self, t: Nanos) {
        if let CastTime::Manual(cur) = &mut self.time {
            *cur = (*cur).max(t);
        }
    }

    fn seconds(&self) -> f64 {
        match self.time {
            CastTime::Wall(start) => start.elapsed().as_secs_f64(),
            CastTime::Manual(ns) => ns as f64 / 1e9,
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The first write error, naming the file (`x.cast: No space left on
    /// device`), if a write failed.
    pub fn failed(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Keeps the first error: the cast writes nothing more.
    fn check(&mut self, r: io::Result<()>) {
        if let Err(e) = r {
            self.error = Some(files::named(&self.path, e).to_string());
            self.pending = Vec::new();
        }
    }

    fn event(&mut self, code: &str, data: &str) {
        if self.error.is_some() {
            return;
        }
        // Rounded to microseconds: asciinema's own precision.
        let t = (self.seconds() * 1e6).round() / 1e6;
        let r = serde_json::to_writer(&mut self.out, &(t, code, data))
            .map_err(io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"))
            .and_then(|()| self.out.flush());
        if r.is_ok() {
            self.events += 1;
        }
        self.check(r);
    }

    /// Bytes as the terminal received them (buffered until [`Cast::flush_output`]).
    pub fn output(&mut self, bytes: &[u8]) {
        if self.error.is_none() {
            self.pending.extend_from_slice(bytes);
        }
    }

    /// Writes the buffered bytes as one output event (keeping an incomplete
    /// UTF-8 sequence at the end for the next one).
    pub fn flush_output(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let valid = match std::str::from_utf8(&self.pending) {
            Ok(s) => s.len(),
            Err(e) => e.valid_up_to(),
        };
        if valid == 0 {
            return;
        }
        let rest = self.pending.split_off(valid);
        let text = String::from_utf8(std::mem::replace(&mut self.pending, rest)).expect("checked above");
        self.event("o", &text);
    }

    pub fn resize(&mut self, cols: u16, rows: u16) {
        self.flush_output();
        self.event("r", &format!("{cols}x{rows}"));
    }

    pub fn marker(&mut self, label: &str) {
        self.flush_output();
        self.event("m", label);
    }

    /// Writes what is buffered; the first error of the cast's life, if any,
    /// naming the file.
    pub fn finish(&mut self) -> io::Result<()> {
        self.flush_output();
        if self.error.is_none() {
            let r = self.out.flush();
            self.check(r);
        }
        match &self.error {
            Some(e) => Err(io::Error::other(e.clone())),
            None => Ok(()),
        }
    }
}

impl Drop for Cast {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_split_only_on_character_boundaries() {
        let dir = std::env::temp_dir().join(format!("fantop-cast-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.cast");
        let _ = std::fs::remove_file(&path);
        {
            let mut c = Cast::create(&path, 10, 2, "t", CastTime::Manual(0)).unwrap();
            let bytes = "a█b".as_bytes();
            c.output(&bytes[..2]); // 'a' and half of '█'
            c.flush_output();
            c.set_time(1_500_000_000);
            c.output(&bytes[2..]);
            c.marker("step 1");
            c.resize(20, 5);
            c.finish().unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("\"version\":2") && lines[0].contains("\"width\":10"));
        assert_eq!(lines[1], "[0.0,\"o\",\"a\"]");
        assert_eq!(lines[2], "[1.5,\"o\",\"█b\"]");
        assert_eq!(lines[3], "[1.5,\"m\",\"step 1\"]");
        assert_eq!(lines[4], "[1.5,\"r\",\"20x5\"]");
        std::fs::remove_dir_all(&dir).ok();
    }

    /// A cast to a full device keeps the first error, naming the file, and
    /// writes nothing more; the frames go on being accepted.
    #[test]
    fn a_failed_cast_keeps_its_first_error_naming_the_file() {
        let mut c = Cast::create(Path::new("/dev/full"), 10, 2, "t", CastTime::Manual(0)).unwrap();
        c.output(b"frame");
        c.flush_output();
        assert_eq!(c.failed(), Some("/dev/full: No space left on device"));
        c.output(b"more");
        c.marker("m");
        let e = c.finish().unwrap_err().to_string();
        assert_eq!(e, "/dev/full: No space left on device");
    }
}
