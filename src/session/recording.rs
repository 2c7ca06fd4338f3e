//! Recordings read back: [`Recording::load`] reads a file the recorder
//! wrote (the format is in [`super::record`]), checks every line, and holds
//! the events for a replay.
//!
//! # What is refused
//!
//! Each refusal is one line naming the file and, where it applies, the
//! line: `rec.jsonl:12: line longer than 1 MiB`.
//!
//! - Line 1 that is not a fantop session header of this version; a header
//!   field of the wrong type (`version must be an integer, got "x"`) or
//!   missing; a key given twice (`duplicate key "seed"`); settings the
//!   pipeline never runs with (a rate above 100 M/s, 0 workers, ...).
//! - A line longer than [`MAX_LINE_BYTES`], or not UTF-8, or neither an
//!   event nor a gap (`{"gap":N}`); a key given twice in an event; a
//!   negative or out-of-range number, named (`worker must be from 0 to
//!   1023, got 9999`).
//! - An event no pipeline makes: time going backwards; a worker id at or
//!   beyond the largest pool (1,024); a latency longer than the time since
//!   the pipeline started; a request arriving twice or out of order (ids
//!   are given in arrival order, so a duplicated or reordered line shows);
//!   a queue depth beyond the largest queue or above its own peak; a load
//!   change the controls would refuse (the same checks as
//!   [`Command::validate`]); a scenario step beyond the header's steps.
//! - Gap counts that add up to more than `u64::MAX` events.
//! - More than [`MAX_REPLAY_EVENTS`] events.
//! - No event at all: a header alone, and a header followed by a cut-off
//!   line, give the same error.
//!
//! A last line cut off mid-write (no newline and not a whole JSON object)
//! is not an error: [`Recording::warning`] names it and what is complete is
//! replayed. A UTF-8 byte-order mark before the header is skipped, as the
//! scenario loader does.
//!
//! # Bounds
//!
//! A line is read through a limit of [`MAX_LINE_BYTES`] + 1 bytes, so an
//! endless line (`/dev/zero`) is refused after 1 MiB and never held whole.
//! The events are kept in one `Vec<Event>` trimmed to their number: 40
//! bytes an event ([`Event`]'s size), and the replay moves that vector into
//! its player rather than copying it (README, "Bounds", has the measured
//! figure).
//!
//! # Inputs that are not files
//!
//! The file is opened without blocking, so a FIFO with no writer never
//! hangs `open()`: a writer has [`FIFO_WRITER_WAIT`] (5 s) to come, then
//! the FIFO is "nothing to read"; a pipe or FIFO with a writer is read as
//! its data comes. Devices read like files:
//! `/dev/zero` ends at the line limit, `/dev/urandom` at its first line,
//! which is not a header.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::record::{FORMAT, Header, VERSION};
use crate::event::{Event, EventKind, LoadChange, Nanos, RequestId, WorkerId};
use crate::format;
use crate::pipeline::control::{
    Command, MAX_QUEUE_CAPACITY, MAX_WORKERS, check_error_rate, check_queue, check_rate, check_workers,
};

/// Largest recording `replay` loads, in events (40 bytes each in memory).
pub const MAX_REPLAY_EVENTS: usize = 50_000_000;
/// Longest line a recording may hold, newline excluded (1 MiB). The
/// longest the recorder writes is the header, whose size grows with a
/// scenario's step labels; events are under 200 bytes.
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// How long the reader waits before asking a pipe with a writer but no
/// data again (the file is open without blocking).
const PIPE_POLL: Duration = Duration::from_millis(5);
/// How long a FIFO may go without a writer before anything was read from
/// it: the writer may start just after `replay` (`fantop replay p & cat r >
/// p`), but a FIFO nobody writes to must not hang the replay.
pub const FIFO_WRITER_WAIT: Duration = Duration::from_secs(5);

/// A recording read back, validated.
#[derive(Clone, Debug)]
pub struct Recording {
    pub path: PathBuf,
    pub header: Header,
    /// Pipeline events in time order, the vector trimmed to their number.
    /// (Subscriber announcements are the broadcaster's notices, not events:
    /// older recordings' `subscriber_*` lines are skipped, and a replay's
    /// broadcaster makes its own.)
    pub events: Vec<Event>,
    /// Events the recorder missed (sum of gap lines).
    pub missed: u64,
    /// Set when the last line was cut off (replay what is complete).
    pub warning: Option<String>,
}

impl Recording {
    /// Reads and validates a recording. Errors are one line naming the file
    /// and, where it applies, the line (see the module doc).
    pub fn load(path: &Path) -> anyhow::Result<Recording> {
        let name = path.display();
        if path.is_dir() {
            bail!("{name}: is a directory, not a fantop session recording");
        }
        let input = open(path).map_err(|e| anyhow!("{name}: cannot open: {e}"))?;
        let fifo = input.fifo;
        let mut lines = Lines::new(input);
        let header = match lines.next().map_err(|e| anyhow!("{name}:{e}"))? {
            None if fifo => bail!(
                "{name}: nothing to read (no writer opened the FIFO within {} s)",
                FIFO_WRITER_WAIT.as_secs()
            ),
            None => bail!("{name}: empty file, not a fantop session recording"),
            Some(line) => {
                let text = line.text.strip_prefix('\u{feff}').unwrap_or(line.text);
                parse_header(text, line.complete).map_err(|why| anyhow!("{name}:1: {why}"))?
            }
        };
        let mut checks = Checks::new(&header);
        let mut events = Vec::new();
        let mut missed: u64 = 0;
        let mut warning = None;
        while let Some(line) = lines.next().map_err(|e| anyhow!("{name}:{e}"))? {
            let n = line.number;
            let text = line.text.trim();
            if text.is_empty() {
                continue;
            }
            match parse_line(text) {
                Ok(Parsed::Event(e)) => {
                    checks.check(&e).map_err(|why| anyhow!("{name}:{n}: {why}"))?;
                    if events.len() >= MAX_REPLAY_EVENTS {
                        bail!(
                            "{name}:{n}: too long to replay (more than {} events)",
                            format::count(MAX_REPLAY_EVENTS as u64)
                        );
                    }
                    events.push(e);
                }
                Ok(Parsed::Gap(gap)) => {
                    missed = missed.checked_add(gap).ok_or_else(|| {
                        anyhow!("{name}:{n}: the gaps add up to more than {} missed events", u64::MAX)
                    })?;
                }
                Ok(Parsed::Skipped) => {}
                Err(_) if !line.complete => {
                    warning = Some(format!(
                        "{name}:{n}: last line is incomplete (the recording was cut off); replaying the {} events before it",
                        format::count(events.len() as u64)
                    ));
                    break;
                }
                Err(why) => bail!("{name}:{n}: {why}"),
            }
        }
        // A header alone and a header with a cut-off line are the same: nothing to replay.
        if events.is_empty() {
            bail!("{name}: holds a header but no events: nothing to replay");
        }
        events.shrink_to_fit();
        Ok(Recording {
            path: path.to_path_buf(),
            header,
            events,
            missed,
            warning,
        })
    }

    /// Pipeline time of the last event.
    pub fn length(&self) -> Nanos {
        self.events.last().map_or(0, |e| e.t)
    }
}

/// Opens `path` for reading without blocking (a FIFO with no writer would
/// block `open()` forever).
fn open(path: &Path) -> io::Result<Input> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
    }
    let file = options.open(path)?;
    #[cfg(unix)]
    let fifo = {
        use std::os::unix::fs::FileTypeExt;
        file.metadata().is_ok_and(|m| m.file_type().is_fifo())
    };
    #[cfg(not(unix))]
    let fifo = false;
    Ok(Input {
        file,
        fifo,
        opened: Instant::now(),
        read_any: false,
    })
}

/// A file opened without blocking, read as if it blocked: a pipe with a
/// writer but no data yet is asked again every [`PIPE_POLL`]; a FIFO that
/// has had no writer yet is waited for up to [`FIFO_WRITER_WAIT`]. (A FIFO
/// whose writers have come and gone reads as its end.)
struct Input {
    file: File,
    fifo: bool,
    opened: Instant,
    /// Anything was read: an empty read is the end from then on.
    read_any: bool,
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.file.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(PIPE_POLL),
                Ok(0) if self.fifo && !self.read_any && !buf.is_empty() && self.opened.elapsed() < FIFO_WRITER_WAIT => {
                    std::thread::sleep(PIPE_POLL)
                }
                Ok(n) => {
                    self.read_any |= n > 0;
                    return Ok(n);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// One line of the file, without its newline.
struct Line<'a> {
    /// 1-based.
    number: usize,
    text: &'a str,
    /// It ended with a newline (the last line of a cut-off file does not).
    complete: bool,
}

/// Why a line could not be read; displays as `N: why`, to follow the
/// file's name and a colon.
struct LineError {
    number: usize,
    why: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.number, self.why)
    }
}

/// The file's lines, each read through a limit of [`MAX_LINE_BYTES`] + 1
/// bytes into one reused buffer.
struct Lines<R> {
    reader: BufReader<R>,
    buf: Vec<u8>,
    number: usize,
}

impl<R: Read> Lines<R> {
    fn new(input: R) -> Self {
        Lines {
            reader: BufReader::with_capacity(1 << 16, input),
            buf: Vec::new(),
            number: 0,
        }
    }

    /// The next line; `None` at the end of the file.
    fn next(&mut self) -> Result<Option<Line<'_>>, LineError> {
        self.number += 1;
        let number = self.number;
        let fail = |why: String| LineError { number, why };
        self.buf.clear();
        let limit = MAX_LINE_BYTES as u64 + 1;
        let got = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| fail(format!("cannot read: {e}")))?;
        if got == 0 {
            return Ok(None);
        }
        let complete = self.buf.last() == Some(&b'\n');
        if complete {
            self.buf.pop();
        }
        if self.buf.len() > MAX_LINE_BYTES {
            return Err(fail(format!("line longer than {} MiB", MAX_LINE_BYTES >> 20)));
        }
        let text = match std::str::from_utf8(&self.buf) {
            Ok(text) => text,
            // A cut-off last line may end inside a character: keep what is whole.
            Err(e) if !complete => std::str::from_utf8(&self.buf[..e.valid_up_to()]).unwrap_or_default(),
            Err(_) => return Err(fail("not UTF-8 text (a recording is JSON Lines)".into())),
        };
        Ok(Some(Line { number, text, complete }))
    }
}

/// What an event line holds.
enum Parsed {
    Event(Event),
    /// `{"gap":N}`: the recorder missed N events here.
    Gap(u64),
    /// An old subscriber announcement (see [`OldAnnouncement`]).
    Skipped,
}

#[derive(Deserialize)]
struct GapLine {
    gap: u64,
}

/// Subscriber announcements, which recordings made before the broadcaster
/// carried them as its own notices may hold: they belong to the
/// broadcaster that made them, so they are read and skipped.
#[derive(Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
#[allow(clippy::enum_variant_names)] // the names on file
enum OldAnnouncement {
    SubscriberJoined {},
    SubscriberLagging {},
    SubscriberEvicted {},
    SubscriberLeft {},
}

/// Parses a line after the header; the error says why it is not one.
fn parse_line(text: &str) -> Result<Parsed, String> {
    let event_error = match serde_json::from_str::<Event>(text) {
        Ok(e) => return Ok(Parsed::Event(e)),
        Err(e) => e,
    };
    if let Ok(g) = serde_json::from_str::<GapLine>(text) {
        return Ok(Parsed::Gap(g.gap));
    }
    if serde_json::from_str::<OldAnnouncement>(text).is_ok() {
        return Ok(Parsed::Skipped);
    }
    Err(describe_bad_line(text, &event_error))
}

/// Why a line is not a recording line, in words (no parser positions).
fn describe_bad_line(text: &str, event_error: &serde_json::Error) -> String {
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return "not a fantop event: not JSON (a recording holds one JSON object per line)".into();
    };
    if let Some(why) = bad_number(&value) {
        return why;
    }
    let message = event_error.to_string();
    let message = without_position(&message);
    match message.strip_prefix("duplicate field ") {
        Some(key) => format!("duplicate key \"{}\"", key.trim_matches('`')),
        None => format!("not a fantop event: {message}"),
    }
}

/// The largest value each integer field of an event line may hold.
fn integer_bound(key: &str) -> Option<u64> {
    Some(match key {
        "t" | "id" | "latency" | "gap" | "duration" | "ns" | "mean_ns" | "median_ns" | "p99_ns" | "lost_request" => {
            u64::MAX
        }
        "worker" => MAX_WORKERS as u64 - 1,
        "step" | "count" => u16::MAX as u64,
        "depth" | "peak" | "capacity" => u32::MAX as u64,
        _ => return None,
    })
}

/// The first integer field (at any depth) holding what its type cannot: a
/// negative number, a fraction, text, or more than it may hold.
fn bad_number(v: &Value) -> Option<String> {
    let Value::Object(map) = v else { return None };
    for (key, value) in map {
        if let Some(max) = integer_bound(key) {
            // `lost_request` is null when no request was lost.
            let none = value.is_null() && key == "lost_request";
            if let Err(why) = want_integer(key, value, max)
                && !none
            {
                return Some(why);
            }
        }
        if let Some(why) = bad_number(value) {
            return Some(why);
        }
    }
    None
}

/// `value` as an integer from 0 to `max`, or why not (`{path} must be ...`).
fn want_integer(path: &str, value: &Value, max: u64) -> Result<u64, String> {
    match value.as_u64() {
        Some(n) if n <= max => Ok(n),
        Some(_) => Err(format!("{path} must be from 0 to {max}, got {}", shown(value))),
        None if value.is_i64() && max == u64::MAX => Err(format!("{path} must not be negative, got {}", shown(value))),
        None if value.is_i64() => Err(format!("{path} must be from 0 to {max}, got {}", shown(value))),
        None => Err(format!("{path} must be an integer, got {}", shown(value))),
    }
}

/// A JSON value as it would be written, shortened for an error line.
fn shown(v: &Value) -> String {
    const MAX: usize = 40;
    let s = v.to_string();
    if s.chars().count() <= MAX {
        s
    } else {
        format!("{}…", s.chars().take(MAX - 1).collect::<String>())
    }
}

/// A serde_json message without its ` at line L column C`.
fn without_position(message: &str) -> &str {
    message.rsplit_once(" at line ").map_or(message, |(m, _)| m)
}

/// What the lines after the header must agree with.
struct Checks {
    last_t: Nanos,
    /// The newest request id that arrived: ids are given in arrival order.
    last_arrival: Option<RequestId>,
    /// How many steps the header's scenario lists, if it names one.
    steps: Option<usize>,
}

impl Checks {
    fn new(header: &Header) -> Checks {
        Checks {
            last_t: 0,
            last_arrival: None,
            steps: header.scenario.as_ref().map(|s| s.steps.len()),
        }
    }

    /// Whether a pipeline could have published `e` after what came before.
    fn check(&mut self, e: &Event) -> Result<(), String> {
        if e.t < self.last_t {
            return Err(format!("time goes backwards ({} ns after {} ns)", e.t, self.last_t));
        }
        self.last_t = e.t;
        match e.kind {
            EventKind::RequestArrived { id } => {
                if let Some(prev) = self.last_arrival
                    && id <= prev
                {
                    return Err(format!(
                        "request {id} arrives after request {prev} (ids are given in arrival order: a duplicated or reordered line?)"
                    ));
                }
                self.last_arrival = Some(id);
            }
            EventKind::RequestCompleted { worker, latency, .. } => {
                check_worker(worker)?;
                if latency > e.t {
                    return Err(format!(
                        "latency {} is longer than the time since the pipeline started ({})",
                        format::duration(latency),
                        format::duration(e.t)
                    ));
                }
            }
            EventKind::RequestStarted { worker, .. }
            | EventKind::WorkerSpawned { worker }
            | EventKind::WorkerStopped { worker }
            | EventKind::WorkerHeartbeat { worker }
            | EventKind::WorkerStalled { worker }
            | EventKind::WorkerRecovered { worker }
            | EventKind::WorkerCrashed { worker, .. } => check_worker(worker)?,
            EventKind::QueueDepth { depth, peak, capacity } => {
                check_queue(capacity as u64).map_err(|e| e.to_string())?;
                if depth > MAX_QUEUE_CAPACITY || peak > MAX_QUEUE_CAPACITY {
                    return Err(format!(
                        "queue depth must be at most {MAX_QUEUE_CAPACITY} (the largest queue), got {}",
                        depth.max(peak)
                    ));
                }
                if peak < depth {
                    return Err(format!("queue peak {peak} is below its depth {depth}"));
                }
            }
            EventKind::LoadChanged { change } => check_change(change)?,
            EventKind::ScenarioStep { step } => {
                if let Some(n) = self.steps
                    && step as usize >= n
                {
                    return Err(format!("scenario step {step} is beyond the header's {n} steps"));
                }
            }
            EventKind::RequestRejected { .. } => {}
        }
        Ok(())
    }
}

fn check_worker(worker: WorkerId) -> Result<(), String> {
    if worker >= MAX_WORKERS {
        return Err(format!("worker must be from 0 to {}, got {worker}", MAX_WORKERS - 1));
    }
    Ok(())
}

/// A load change must be one the controls accept: the same checks.
fn check_change(change: LoadChange) -> Result<(), String> {
    let command = match change {
        LoadChange::Rate { per_s } => Command::SetRate(per_s),
        LoadChange::Workers { count } => Command::SetWorkers(count),
        LoadChange::Service { dist } => Command::SetService(dist),
        LoadChange::ErrorRate { fraction } => Command::SetErrorRate(fraction),
        LoadChange::QueueCapacity { capacity } => Command::SetQueueCapacity(capacity),
        LoadChange::BurstStarted { factor, duration } => Command::Burst { factor, duration },
        LoadChange::StallInjected { worker, duration } => Command::Stall {
            worker: Some(worker),
            duration,
        },
        LoadChange::CrashInjected { worker } => Command::Crash { worker: Some(worker) },
        LoadChange::BurstEnded
        | LoadChange::Paused
        | LoadChange::Resumed
        | LoadChange::AutoRestart { .. }
        | LoadChange::SlowSubscriber { .. }
        | LoadChange::Recording { .. } => return Ok(()),
    };
    command.validate().map_err(|e| e.to_string())
}

/// What a header field holds, for errors that say what is wrong.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    /// A whole number, 0 or more.
    Integer,
    Number,
    Flag,
    Object,
    Texts,
}

/// The header's fields: name, kind, required.
const HEADER_FIELDS: &[(&str, Kind, bool)] = &[
    ("format", Kind::Text, true),
    ("version", Kind::Integer, true),
    ("fantop_version", Kind::Text, true),
    ("seed", Kind::Integer, true),
    ("config", Kind::Object, true),
    ("started_at", Kind::Text, true),
    ("scenario", Kind::Object, false),
];

const CONFIG_FIELDS: &[(&str, Kind, bool)] = &[
    ("rate", Kind::Number, true),
    ("workers", Kind::Integer, true),
    ("service", Kind::Text, true),
    ("error_rate", Kind::Number, true),
    ("queue_capacity", Kind::Integer, true),
    ("auto_restart", Kind::Flag, true),
    ("duration_s", Kind::Number, false),
    ("fast", Kind::Flag, true),
];

const SCENARIO_FIELDS: &[(&str, Kind, bool)] = &[("name", Kind::Text, true), ("steps", Kind::Texts, true)];

/// Checks the fields of `object` (named `path`) against `fields`. An
/// optional field may be absent or null.
fn check_fields(path: &str, object: &Value, fields: &[(&str, Kind, bool)]) -> Result<(), String> {
    for &(key, kind, required) in fields {
        let name = if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        };
        let value = match object.get(key) {
            None | Some(Value::Null) if !required => continue,
            None => return Err(format!("the header has no \"{name}\"")),
            Some(v) => v,
        };
        let wrong = |what: &str| Err(format!("{name} must be {what}, got {}", shown(value)));
        match kind {
            Kind::Text if !value.is_string() => return wrong("a string"),
            Kind::Integer => {
                want_integer(&name, value, u64::MAX)?;
            }
            Kind::Number if !value.is_number() => return wrong("a number"),
            Kind::Flag if !value.is_boolean() => return wrong("true or false"),
            Kind::Object if !value.is_object() => return wrong("an object"),
            Kind::Texts if !value.as_array().is_some_and(|a| a.iter().all(Value::is_string)) => {
                return wrong("a list of strings");
            }
            _ => {}
        }
    }
    Ok(())
}

/// Reads line 1 (without a byte-order mark). `complete`: it ended with a
/// newline.
fn parse_header(line: &str, complete: bool) -> Result<Header, String> {
    let not_header = "not a fantop session recording (line 1 is not a JSON header)";
    let v: Value = match serde_json::from_str(line.trim()) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return Err(not_header.into()),
        Err(_) if !complete && line.trim_start().starts_with('{') => {
            return Err("the header is cut off (the file ends inside line 1)".into());
        }
        Err(_) => return Err(not_header.into()),
    };
    if v.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(format!(
            "not a fantop session recording (line 1 has no \"format\":\"{FORMAT}\")"
        ));
    }
    let version = v.get("version").ok_or("the header has no \"version\"")?;
    match want_integer("version", version, u64::MAX)? {
        x if x == VERSION as u64 => {}
        x => {
            return Err(format!(
                "unsupported recording version {x} (this fantop reads version {VERSION})"
            ));
        }
    }
    no_duplicate_keys(line)?;
    check_fields("", &v, HEADER_FIELDS)?;
    check_fields("config", &v["config"], CONFIG_FIELDS)?;
    if let Some(s) = v.get("scenario").filter(|s| !s.is_null()) {
        check_fields("scenario", s, SCENARIO_FIELDS)?;
    }
    let header: Header = serde_json::from_value(v).map_err(|e| format!("bad header: {e}"))?;
    check_config(&header).map_err(|why| format!("header config: {why}"))?;
    Ok(header)
}

/// The header's settings must be ones the pipeline runs with.
fn check_config(header: &Header) -> Result<(), String> {
    let c = &header.config;
    check_rate(c.rate).map_err(|e| e.to_string())?;
    check_workers(c.workers as u64).map_err(|e| e.to_string())?;
    check_error_rate(c.error_rate).map_err(|e| e.to_string())?;
    check_queue(c.queue_capacity as u64).map_err(|e| e.to_string())?;
    if let Some(d) = c.duration_s
        && (d < 0.0 || !d.is_finite())
    {
        return Err(format!("duration_s must not be negative, got {d}"));
    }
    Ok(())
}

/// Fails on the first object key given twice, naming it with its path
/// (`duplicate key "config.workers"`). JSON parsers keep one of the two
/// silently; a recording has no reason to hold both.
fn no_duplicate_keys(text: &str) -> Result<(), String> {
    let mut de = serde_json::Deserializer::from_str(text);
    NoDuplicates("")
        .deserialize(&mut de)
        .map_err(|e| without_position(&e.to_string()).to_string())
}

/// Walks a JSON value (any depth) for duplicate keys; holds the path so far.
struct NoDuplicates<'p>(&'p str);

impl<'de> DeserializeSeed<'de> for NoDuplicates<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NoDuplicates<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(NoDuplicates(self.0))?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen: Vec<String> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.0.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.0)
            };
            if seen.contains(&key) {
                return Err(de::Error::custom(format!("duplicate key \"{path}\"")));
            }
            map.next_value_seed(NoDuplicates(&path))?;
            seen.push(key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = r#"{"format":"fantop-session","version":1,"fantop_version":"0.1.0","seed":1,"config":{"rate":2000.0,"workers":8,"service":"lognormal:2ms:20ms","error_rate":0.01,"queue_capacity":10000,"auto_restart":true,"duration_s":1.0,"fast":true},"started_at":"2026-11-27T08:00:00Z"}"#;

    /// The header with one more top-level field.
    fn with_field(field: &str) -> String {
        format!("{},{field}}}", &HEADER[..HEADER.len() - 1])
    }

    fn header_error(line: &str) -> String {
        parse_header(line, true).unwrap_err()
    }

    #[test]
    fn headers_are_checked_for_format_and_version() {
        assert!(header_error("garbage").contains("not a fantop session"));
        assert!(header_error("{\"format\":\"other\"}").contains("not a fantop session"));
        let v2 = "{\"format\":\"fantop-session\",\"version\":2}";
        assert!(header_error(v2).contains("unsupported recording version 2"));
        assert!(parse_header(HEADER, true).is_ok());
    }

    /// A header field of the wrong type says which and what it holds.
    #[test]
    fn header_errors_say_what_is_wrong() {
        let cases = [
            (
                "\"version\":1",
                "\"version\":\"x\"",
                "version must be an integer, got \"x\"",
            ),
            (
                "\"version\":1",
                "\"version\":-1",
                "version must not be negative, got -1",
            ),
            ("\"seed\":1", "\"seed\":1.5", "seed must be an integer, got 1.5"),
            ("\"seed\":1,", "", "the header has no \"seed\""),
            (
                "\"workers\":8",
                "\"workers\":\"8\"",
                "config.workers must be an integer, got \"8\"",
            ),
            (
                "\"workers\":8",
                "\"workers\":0",
                "header config: workers must be between 1 and 1024",
            ),
            (
                "\"rate\":2000.0",
                "\"rate\":1e12",
                "header config: rate must be at most",
            ),
            (
                "\"fast\":true",
                "\"fast\":1",
                "config.fast must be true or false, got 1",
            ),
            (
                "\"config\":{",
                "\"config\":[],\"x\":{",
                "config must be an object, got []",
            ),
            ("\"seed\":1", "\"seed\":1,\"seed\":2", "duplicate key \"seed\""),
            (
                "\"workers\":8",
                "\"workers\":8,\"workers\":9",
                "duplicate key \"config.workers\"",
            ),
        ];
        for (from, to, expected) in cases {
            let line = HEADER.replacen(from, to, 1);
            assert_ne!(line, HEADER, "{from}");
            let e = header_error(&line);
            assert!(e.contains(expected), "{to}: {e}");
        }
        let e = header_error(&with_field(r#""scenario":{"name":"s","steps":[1]}"#));
        assert!(e.contains("scenario.steps must be a list of strings, got [1]"), "{e}");
    }

    /// A header cut off by the end of the file says so.
    #[test]
    fn a_cut_off_header_says_so() {
        let e = parse_header(&HEADER[..40], false).unwrap_err();
        assert!(e.contains("the header is cut off"), "{e}");
    }

    /// Numbers an event field cannot hold are named with the field.
    #[test]
    fn out_of_range_numbers_are_named() {
        for (line, expected) in [
            (
                r#"{"t":-1,"ev":"request_arrived","id":0}"#,
                "t must not be negative, got -1",
            ),
            (
                r#"{"t":1,"ev":"request_started","id":0,"worker":70000}"#,
                "worker must be from 0 to 1023, got 70000",
            ),
            (
                r#"{"t":1,"ev":"request_arrived","id":"x"}"#,
                "id must be an integer, got \"x\"",
            ),
            (r#"{"gap":-5}"#, "gap must not be negative, got -5"),
            (r#"{"t":1,"t":2,"ev":"request_arrived","id":0}"#, "duplicate key \"t\""),
            (
                r#"{"t":1,"ev":"nonsense"}"#,
                "not a fantop event: unknown variant `nonsense`",
            ),
        ] {
            let Err(e) = parse_line(line) else {
                panic!("{line} parsed")
            };
            assert!(e.contains(expected), "{line}: {e}");
        }
    }

    /// A pipeline never publishes these: each is refused with why.
    #[test]
    fn impossible_events_are_refused() {
        let header: Header = parse_header(HEADER, true).unwrap();
        for (events, expected) in [
            (
                vec![r#"{"t":1,"ev":"worker_spawned","worker":9999}"#],
                "worker must be from 0 to 1023, got 9999",
            ),
            (
                vec![r#"{"t":5,"ev":"request_completed","id":0,"worker":1,"latency":6,"ok":true}"#],
                "latency 6ns is longer than the time since the pipeline started (5ns)",
            ),
            (
                vec![
                    r#"{"t":1,"ev":"request_arrived","id":3}"#,
                    r#"{"t":1,"ev":"request_arrived","id":3}"#,
                ],
                "request 3 arrives after request 3",
            ),
            (
                vec![r#"{"t":1,"ev":"queue_depth","depth":5,"peak":4,"capacity":10}"#],
                "queue peak 4 is below its depth 5",
            ),
            (
                vec![r#"{"t":1,"ev":"queue_depth","depth":5,"peak":2000000,"capacity":10}"#],
                "queue depth must be at most 1000000",
            ),
            (
                vec![r#"{"t":1,"ev":"queue_depth","depth":0,"peak":0,"capacity":0}"#],
                "queue capacity must be between 1",
            ),
            (
                vec![r#"{"t":1,"ev":"load_changed","change":{"set":"rate","per_s":-5.0}}"#],
                "rate must be a number greater than 0",
            ),
            (
                vec![r#"{"t":1,"ev":"load_changed","change":{"set":"workers","count":5000}}"#],
                "workers must be between 1 and 1024",
            ),
            (
                vec![r#"{"t":1,"ev":"load_changed","change":{"set":"error_rate","fraction":2.0}}"#],
                "error rate must be between 0 and 1",
            ),
            (
                vec![r#"{"t":1,"ev":"load_changed","change":{"set":"crash_injected","worker":4096}}"#],
                "worker must be below 1024",
            ),
        ] {
            let mut checks = Checks::new(&header);
            let mut result = Ok(());
            for line in &events {
                let Ok(Parsed::Event(e)) = parse_line(line) else {
                    panic!("{line} does not parse")
                };
                result = checks.check(&e);
                if result.is_err() {
                    break;
                }
            }
            let e = result.expect_err(expected);
            assert!(e.contains(expected), "{events:?}: {e}");
        }
        let header = parse_header(&with_field(r#""scenario":{"name":"s","steps":["a","b"]}"#), true).unwrap();
        let mut checks = Checks::new(&header);
        let Ok(Parsed::Event(step)) = parse_line(r#"{"t":1,"ev":"scenario_step","step":2}"#) else {
            panic!()
        };
        let e = checks.check(&step).unwrap_err();
        assert!(e.contains("scenario step 2 is beyond the header's 2 steps"), "{e}");
    }

    /// Lines are read through a bound: a longer one is an error naming it.
    #[test]
    fn a_line_longer_than_the_bound_is_refused_by_number() {
        let mut text = b"short\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES));
        text.extend(b"\n");
        text.extend(std::iter::repeat_n(b'y', MAX_LINE_BYTES + 1));
        text.extend(b"\nnever read\n");
        let mut lines = Lines::new(&text[..]);
        assert_eq!(lines.next().ok().flatten().map(|l| l.text.len()), Some(5));
        let exactly = lines.next().ok().flatten().expect("a line of exactly the bound");
        assert!(exactly.complete && exactly.text.len() == MAX_LINE_BYTES);
        let Err(e) = lines.next() else {
            panic!("longer than the bound")
        };
        assert_eq!(e.to_string(), "3: line longer than 1 MiB");
    }
}
