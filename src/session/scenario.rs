//! Scripted scenarios (`--scenario FILE.toml`): a timeline of actions, so a
//! demo runs the same way every time.
//!
//! ```toml
//! # Pool saturation and recovery.
//! name = "Pool saturation and recovery"
//! description = "Arrivals outgrow the pool; more workers bring it back."
//!
//! [settings]              # optional: the run's starting load
//! seed = 42
//! rate = 1500
//!
//! [[step]]
//! at = "6s"               # time since the start; steps in time order
//! action = "rate"
//! value = 4000
//! label = "rate → 4,000/s: beyond capacity"   # optional
//!
//! [[step]]
//! at = "40s"
//! action = "end"
//! ```
//!
//! Every key action is scriptable; [`ACTIONS`] lists them and the keys each
//! takes. A file is validated as a whole before anything starts: every
//! problem is reported as `FILE:LINE: message`, the line being the one of
//! the offending key, or of the step's `[[step]]` header when a key is
//! missing or the step as a whole is misplaced. Values are checked by the
//! same rules as the command line and the keys ([`crate::pipeline::control`],
//! [`crate::parse`]).
//!
//! A scenario becomes a pipeline timeline ([`Scenario::timeline`]): each
//! step puts an [`Command::ScenarioStep`] marker in the event stream at its
//! time, followed by its pipeline action if it has one. Steps for the app
//! (slow subscribers, recording, display) are followed by an
//! [`Command::AppStep`] instead: the pipeline hands them to the run's
//! [`crate::session::Session`] at that exact simulated time.

use std::io::Read;
use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use toml::{Spanned, Value};

use crate::event::{Nanos, SECONDS, ServiceDist, WorkerId};
use crate::pipeline::control::{MAX_WORKERS, check_error_rate, check_queue, check_rate, check_workers};
use crate::pipeline::{Command, ControlError, Scheduled, SimConfig};

/// Most steps in one scenario: the stream's step marker is a `u16`.
pub const MAX_STEPS: usize = u16::MAX as usize;
/// Largest scenario file read.
pub const MAX_FILE_BYTES: u64 = 4 << 20;
/// Longest `name` or `label`, in characters (each is shown on one line).
pub const MAX_LABEL_CHARS: usize = 120;
/// The panes `focus` can name, in the UI's focus order.
pub const PANES: [&str; 5] = ["throughput", "latency", "subscribers", "workers", "events"];
/// The chart windows `window` can choose, in seconds (the `t` key's cycle).
/// Chart time windows the `window` step may pick (and `t` cycles through), in seconds.
pub const WINDOWS_S: [u64; 3] = [30, 60, 300];

/// One scriptable action: its name, the keys it takes besides `at`,
/// `action` and `label` (a trailing `?` marks an optional one), and what it does.
#[derive(Clone, Copy, Debug)]
pub struct ActionInfo {
    pub name: &'static str,
    pub keys: &'static [&'static str],
    pub about: &'static str,
}

const fn info(name: &'static str, keys: &'static [&'static str], about: &'static str) -> ActionInfo {
    ActionInfo { name, keys, about }
}

/// Every action a step can take.
pub const ACTIONS: &[ActionInfo] = &[
    info("rate", &["value"], "set the arrival rate, requests/s"),
    info("rate_scale", &["factor"], "multiply the arrival rate"),
    info("workers", &["value"], "set the worker pool size"),
    info("add_workers", &["count"], "add workers (negative: remove)"),
    info(
        "service",
        &["value"],
        "set the service-time distribution, e.g. \"lognormal:2ms:20ms\"",
    ),
    info("service_scale", &["factor"], "multiply the service time"),
    info("error_rate", &["value"], "set the failing fraction, 0..=1"),
    info(
        "add_error_rate",
        &["value"],
        "add to the failing fraction (negative: subtract)",
    ),
    info("queue", &["value"], "set the queue capacity"),
    info("burst", &["factor", "for"], "arrivals at factor × the rate for a while"),
    info("pause", &[], "stop arrivals"),
    info("resume", &[], "restart arrivals"),
    info(
        "stall",
        &["worker?", "for"],
        "stall a worker (default: a random live one)",
    ),
    info("crash", &["worker?"], "crash a worker (default: a random live one)"),
    info("auto_restart", &["value"], "restart crashed workers (true or false)"),
    info("slow_subscriber", &[], "add a deliberately slow subscriber"),
    info("remove_slow_subscriber", &[], "remove a slow subscriber"),
    info("record_start", &[], "start recording the event stream"),
    info("record_stop", &[], "stop recording"),
    info("freeze", &[], "freeze the display"),
    info("unfreeze", &[], "unfreeze the display"),
    info(
        "focus",
        &["pane"],
        "focus a pane: throughput, latency, subscribers, workers or events",
    ),
    info("zoom", &["value"], "zoom the focused pane (true) or unzoom (false)"),
    info("window", &["value"], "chart window: \"30s\", \"1m\" or \"5m\""),
    info("note", &[], "a marker only; needs `label`"),
    info("end", &[], "end the run"),
];

/// A loaded, valid scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// The file it came from, as given.
    pub path: String,
    /// Its `name`, or the file's stem.
    pub name: String,
    pub description: String,
    pub settings: Settings,
    /// In time order; at most [`MAX_STEPS`]; an `end` step, if any, is last.
    pub steps: Vec<Step>,
}

/// The `[settings]` table: the load a scenario starts from. `None`: not set.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Settings {
    pub seed: Option<u64>,
    pub rate: Option<f64>,
    pub workers: Option<u16>,
    pub service: Option<ServiceDist>,
    pub error_rate: Option<f64>,
    pub queue: Option<u32>,
    pub auto_restart: Option<bool>,
}

impl Settings {
    /// Overwrites the settings that are set (the seed too) in `cfg`.
    pub fn apply_to(&self, cfg: &mut SimConfig) {
        if let Some(v) = self.seed {
            cfg.seed = v;
        }
        if let Some(v) = self.rate {
            cfg.rate = v;
        }
        if let Some(v) = self.workers {
            cfg.workers = v;
        }
        if let Some(v) = self.service {
            cfg.service = v;
        }
        if let Some(v) = self.error_rate {
            cfg.error_rate = v;
        }
        if let Some(v) = self.queue {
            cfg.queue_capacity = v;
        }
        if let Some(v) = self.auto_restart {
            cfg.auto_restart = v;
        }
    }
}

/// One step of the timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// When, since the start.
    pub at: Nanos,
    /// Line of its `[[step]]` header (1-based).
    pub line: usize,
    /// Its `label`, or one made from the action.
    pub label: String,
    pub what: StepAction,
}

/// What a step does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StepAction {
    /// A change to the pipeline (validated).
    Pipeline(Command),
    AddSlowSubscriber,
    RemoveSlowSubscriber,
    RecordStart,
    RecordStop,
    /// Freeze (`true`) or unfreeze the display.
    Freeze(bool),
    /// Focus a pane: an index into [`PANES`].
    Focus(usize),
    Zoom(bool),
    /// Chart window, seconds (one of [`WINDOWS_S`]).
    Window(u64),
    /// Only a marker (its label).
    Note,
    /// End the run.
    End,
}

/// Why a scenario file was refused. Displays as `FILE:LINE: message` (or
/// `FILE: message` when no line applies), on one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    pub path: String,
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path, self.message),
            None => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

impl std::error::Error for ScenarioError {}

/// Reads and validates a scenario file.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let label = path.display().to_string();
    let fail = |message: String| ScenarioError {
        path: label.clone(),
        line: None,
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| fail(format!("cannot open the scenario: {}", io_reason(&e))))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(format!("cannot read the scenario: {}", io_reason(&e))))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(fail(format!(
            "the file is larger than {} MiB; is it a scenario?",
            MAX_FILE_BYTES >> 20
        )));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        ScenarioError {
            path: label.clone(),
            line: Some(1 + bytes[..offset].iter().filter(|&&b| b == b'\n').count()),
            message: "the file is not UTF-8 text".into(),
        }
    })?;
    parse(&label, &text)
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Validates a scenario's text; `path_label` names it in errors (and gives
/// the default name).
pub fn parse(path_label: &str, text: &str) -> Result<Scenario, ScenarioError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let p = Parser::new(path_label, text);
    let raw: RawFile = toml::from_str(text).map_err(|e| ScenarioError {
        path: path_label.to_string(),
        line: e.span().map(|s| p.line_of(s.start)),
        message: single_line(&toml_message(e.message())),
    })?;
    p.scenario(raw)
}

impl Scenario {
    /// The pipeline timeline: for step `i`, an [`Command::ScenarioStep`]`(i)`
    /// marker at its time, then its pipeline action if it has one (`end`
    /// gives [`Command::Stop`]), or [`Command::AppStep`]`(i)` if it is the
    /// app's (slow subscribers, recording, display).
    pub fn timeline(&self) -> Vec<Scheduled> {
        let mut out = Vec::with_capacity(self.steps.len() * 2);
        for (i, step) in self.steps.iter().enumerate() {
            out.push(Scheduled {
                at: step.at,
                action: Command::ScenarioStep(i as u16),
            });
            let action = match step.what {
                StepAction::Pipeline(a) => a,
                StepAction::End => Command::Stop,
                StepAction::Note => continue,
                _ => Command::AppStep(i as u16),
            };
            out.push(Scheduled { at: step.at, action });
        }
        out
    }

    /// Time of the `end` step, if any.
    pub fn end(&self) -> Option<Nanos> {
        self.steps.iter().find(|s| s.what == StepAction::End).map(|s| s.at)
    }

    /// Step labels, indexed like the steps.
    pub fn labels(&self) -> Vec<String> {
        self.steps.iter().map(|s| s.label.clone()).collect()
    }
}

// ---------------------------------------------------------------------------
// The file as TOML gives it: every value spanned, typed later by hand so an
// error can say what was expected and where.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    name: Option<Spanned<Value>>,
    description: Option<Spanned<Value>>,
    settings: Option<Spanned<RawSettings>>,
    #[serde(default)]
    step: Vec<Spanned<RawStep>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    seed: Option<Spanned<Value>>,
    rate: Option<Spanned<Value>>,
    workers: Option<Spanned<Value>>,
    service: Option<Spanned<Value>>,
    error_rate: Option<Spanned<Value>>,
    queue: Option<Spanned<Value>>,
    auto_restart: Option<Spanned<Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    at: Option<Spanned<Value>>,
    action: Option<Spanned<Value>>,
    label: Option<Spanned<Value>>,
    value: Option<Spanned<Value>>,
    factor: Option<Spanned<Value>>,
    count: Option<Spanned<Value>>,
    worker: Option<Spanned<Value>>,
    pane: Option<Spanned<Value>>,
    #[serde(rename = "for")]
    for_: Option<Spanned<Value>>,
}

/// A message with any control characters (a newline in a quoted key, say)
/// escaped, so an error stays on one line.
fn single_line(msg: &str) -> String {
    msg.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The toml crate's message, in this format's words.
fn toml_message(msg: &str) -> String {
    let msg = msg.trim();
    if msg.starts_with("invalid type:") && msg.ends_with("expected a sequence") {
        return "`step` must be a list of steps: write each one under its own [[step]] header (two brackets)".into();
    }
    if msg.contains(" as i128") {
        return "integer out of range (TOML integers are 64-bit; write a larger seed as a string)".into();
    }
    let msg = msg.replace("unknown field", "unknown key");
    // A key one level off: a setting at the top, or a step key outside a step.
    if let Some(key) = msg.strip_prefix("unknown key `").and_then(|m| m.split('`').next())
        && msg.contains("`description`")
    {
        const SETTINGS: [&str; 7] = [
            "seed",
            "rate",
            "workers",
            "service",
            "error_rate",
            "queue",
            "auto_restart",
        ];
        if SETTINGS.contains(&key) {
            return format!("{msg}; `{key}` belongs under [settings]");
        }
        if ["at", "action", "label", "value", "for"].contains(&key) {
            return format!("{msg}; `{key}` belongs to a step, under a [[step]] header");
        }
    }
    msg
}

/// The key `name`, if present.
fn key<'v>(name: &'static str, v: &'v Option<Spanned<Value>>) -> Option<Key<'v>> {
    v.as_ref().map(|v| Key { name, v })
}

/// A present key: its name and spanned value.
#[derive(Clone, Copy)]
struct Key<'a> {
    name: &'static str,
    v: &'a Spanned<Value>,
}

impl Key<'_> {
    fn span(&self) -> Range<usize> {
        self.v.span()
    }
}

/// How a value reads in an error: its type and, when short, itself.
fn found(v: &Value) -> String {
    match v {
        Value::String(s) if s.chars().count() <= 40 => format!("the string {s:?}"),
        Value::String(_) => "a string".into(),
        Value::Integer(i) => format!("the integer {i}"),
        Value::Float(f) => format!("the number {f}"),
        Value::Boolean(b) => format!("the boolean {b}"),
        Value::Datetime(_) => "a date-time".into(),
        Value::Array(_) => "an array".into(),
        Value::Table(_) => "a table".into(),
    }
}

struct Parser<'a> {
    path: &'a str,
    /// Byte offset of each line's start.
    line_starts: Vec<usize>,
}

impl<'a> Parser<'a> {
    fn new(path: &'a str, text: &str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Parser { path, line_starts }
    }

    /// 1-based line of a byte offset.
    fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= offset).max(1)
    }

    fn err(&self, span: Range<usize>, message: impl AsRef<str>) -> ScenarioError {
        ScenarioError {
            path: self.path.to_string(),
            line: Some(self.line_of(span.start)),
            message: single_line(message.as_ref()),
        }
    }

    fn wrong(&self, k: Key, expected: &str) -> ScenarioError {
        self.err(
            k.span(),
            format!("`{}` must be {expected}, not {}", k.name, found(k.v.get_ref())),
        )
    }

    /// A value checked by the control API's rules.
    fn control<T>(&self, k: Key, checked: Result<T, ControlError>) -> Result<T, ScenarioError> {
        checked.map_err(|e| self.err(k.span(), e.0))
    }

    fn number(&self, k: Key, expected: &str) -> Result<f64, ScenarioError> {
        match *k.v.get_ref() {
            Value::Integer(i) => Ok(i as f64),
            Value::Float(f) => Ok(f),
            _ => Err(self.wrong(k, expected)),
        }
    }

    fn integer(&self, k: Key, expected: &str) -> Result<i64, ScenarioError> {
        match *k.v.get_ref() {
            Value::Integer(i) => Ok(i),
            _ => Err(self.wrong(k, expected)),
        }
    }

    /// A non-negative integer that fits `u64`.
    fn count(&self, k: Key, expected: &str) -> Result<u64, ScenarioError> {
        u64::try_from(self.integer(k, expected)?).map_err(|_| self.wrong(k, expected))
    }

    fn boolean(&self, k: Key) -> Result<bool, ScenarioError> {
        match *k.v.get_ref() {
            Value::Boolean(b) => Ok(b),
            _ => Err(self.wrong(k, "true or false")),
        }
    }

    fn string<'v>(&self, k: Key<'v>, expected: &str) -> Result<&'v str, ScenarioError> {
        match k.v.get_ref() {
            Value::String(s) => Ok(s),
            _ => Err(self.wrong(k, expected)),
        }
    }

    fn duration(&self, k: Key) -> Result<Nanos, ScenarioError> {
        let s = self.string(k, "a duration string such as \"4s\" or \"500ms\"")?;
        crate::parse::duration(s).map_err(|e| self.err(k.span(), format!("`{}`: {e}", k.name)))
    }

    /// A step time: a duration, or zero ("0s").
    fn time(&self, k: Key) -> Result<Nanos, ScenarioError> {
        let s = self.string(k, "a time since the start such as \"5s\" or \"1.5m\"")?;
        match crate::parse::duration(s) {
            Ok(ns) => Ok(ns),
            Err(_) if is_zero_duration(s) => Ok(0),
            Err(e) => Err(self.err(k.span(), format!("`at`: {e}"))),
        }
    }

    /// A single-line, non-empty text of at most [`MAX_LABEL_CHARS`].
    fn one_line(&self, k: Key, s: &str) -> Result<String, ScenarioError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(self.err(k.span(), format!("`{}` is empty", k.name)));
        }
        if s.chars().any(char::is_control) {
            return Err(self.err(
                k.span(),
                format!("`{}` must be one line of text (no newlines or tabs)", k.name),
            ));
        }
        if s.chars().count() > MAX_LABEL_CHARS {
            return Err(self.err(
                k.span(),
                format!("`{}` is longer than {MAX_LABEL_CHARS} characters", k.name),
            ));
        }
        Ok(s.to_string())
    }

    fn scenario(&self, raw: RawFile) -> Result<Scenario, ScenarioError> {
        let name = match &raw.name {
            Some(v) => {
                let k = Key { name: "name", v };
                self.one_line(k, self.string(k, "text")?)?
            }
            None => Path::new(self.path)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "scenario".into()),
        };
        let description = match &raw.description {
            Some(v) => self.string(Key { name: "description", v }, "text")?.trim().to_string(),
            None => String::new(),
        };
        let settings = match &raw.settings {
            Some(s) => self.settings(s.get_ref())?,
            None => Settings::default(),
        };
        if raw.step.len() > MAX_STEPS {
            return Err(self.err(
                raw.step[MAX_STEPS].span(),
                format!(
                    "too many steps: at most {} (the step marker is 16-bit)",
                    crate::format::count(MAX_STEPS as u64)
                ),
            ));
        }
        let mut steps: Vec<Step> = Vec::with_capacity(raw.step.len());
        let mut end_line = None;
        for raw_step in &raw.step {
            let step = self.step(raw_step)?;
            if let Some(end_line) = end_line {
                let msg = if step.what == StepAction::End {
                    format!("more than one `end` step (the first is at line {end_line})")
                } else {
                    format!("step after the `end` step (line {end_line}); `end` must be the last step")
                };
                return Err(self.err(raw_step.span(), msg));
            }
            if let Some(prev) = steps.last()
                && step.at < prev.at
            {
                let at = raw_step.get_ref().at.as_ref().map_or(raw_step.span(), |a| a.span());
                return Err(self.err(
                    at,
                    format!(
                        "at {} is before the previous step's {} (line {}); steps must be in time order",
                        time_text(step.at),
                        time_text(prev.at),
                        prev.line
                    ),
                ));
            }
            if step.what == StepAction::End {
                end_line = Some(step.line);
            }
            steps.push(step);
        }
        Ok(Scenario {
            path: self.path.to_string(),
            name,
            description,
            settings,
            steps,
        })
    }

    fn settings(&self, raw: &RawSettings) -> Result<Settings, ScenarioError> {
        let mut s = Settings::default();
        if let Some(k) = key("seed", &raw.seed) {
            const SEED: &str = "a whole number from 0 to 18446744073709551615";
            s.seed = Some(match k.v.get_ref() {
                Value::String(t) => t.trim().parse().map_err(|_| self.wrong(k, SEED))?,
                _ => self.count(k, SEED)?,
            });
        }
        if let Some(k) = key("rate", &raw.rate) {
            s.rate = Some(self.control(k, check_rate(self.number(k, "a number of requests/s")?))?);
        }
        if let Some(k) = key("workers", &raw.workers) {
            let n = self.count(k, "a whole number of workers")?;
            s.workers = Some(self.control(k, check_workers(n))?);
        }
        if let Some(k) = key("service", &raw.service) {
            s.service = Some(self.dist(k)?);
        }
        if let Some(k) = key("error_rate", &raw.error_rate) {
            s.error_rate = Some(self.control(k, check_error_rate(self.number(k, "a fraction from 0 to 1")?))?);
        }
        if let Some(k) = key("queue", &raw.queue) {
            let n = self.count(k, "a whole number (the queue capacity)")?;
            s.queue = Some(self.control(k, check_queue(n))?);
        }
        if let Some(k) = key("auto_restart", &raw.auto_restart) {
            s.auto_restart = Some(self.boolean(k)?);
        }
        Ok(s)
    }

    fn dist(&self, k: Key) -> Result<ServiceDist, ScenarioError> {
        let text = self.string(k, "a distribution string such as \"lognormal:2ms:20ms\"")?;
        let d = crate::parse::dist(text).map_err(|e| self.err(k.span(), e))?;
        Command::SetService(d).validate().map_err(|e| self.err(k.span(), e.0))?;
        Ok(d)
    }

    fn step<'r>(&self, raw: &'r Spanned<RawStep>) -> Result<Step, ScenarioError> {
        let header = raw.span();
        let line = self.line_of(header.start);
        let r = raw.get_ref();

        let Some(action_key) = key("action", &r.action) else {
            return Err(self.err(
                header,
                format!("step has no `action`; expected one of: {}", action_names()),
            ));
        };
        let action = self.string(action_key, "an action name such as \"rate\"")?;
        let Some(&ActionInfo {
            name: action,
            keys: takes,
            ..
        }) = ACTIONS.iter().find(|a| a.name == action)
        else {
            let hint = closest(action)
                .map(|c| format!("did you mean `{c}`? "))
                .unwrap_or_default();
            return Err(self.err(
                action_key.span(),
                format!("unknown action `{action}`; {hint}expected one of: {}", action_names()),
            ));
        };
        let Some(at_key) = key("at", &r.at) else {
            return Err(self.err(header, "step has no `at` (its time since the start, e.g. at = \"5s\")"));
        };
        let at = self.time(at_key)?;

        // Keys this action does not take are refused, so a typo'd step
        // never runs differently from what it reads as.
        let optional = [
            key("value", &r.value),
            key("factor", &r.factor),
            key("count", &r.count),
            key("worker", &r.worker),
            key("pane", &r.pane),
            key("for", &r.for_),
        ];
        for k in optional.iter().flatten() {
            if !takes.iter().any(|t| t.trim_end_matches('?') == k.name) {
                let takes = if takes.is_empty() {
                    "no keys besides `at`, `action` and `label`".to_string()
                } else {
                    let keys: Vec<String> = takes.iter().map(|t| format!("`{}`", t.trim_end_matches('?'))).collect();
                    format!("only {} (besides `at`, `action` and `label`)", keys.join(" and "))
                };
                return Err(self.err(
                    k.span(),
                    format!("`{}` does not apply to `{action}`; it takes {takes}", k.name),
                ));
            }
        }
        let need = |name: &'static str, v: &'r Option<Spanned<Value>>, example: &str| {
            key(name, v).ok_or_else(|| self.err(header.clone(), format!("`{action}` needs `{name}` ({example})")))
        };
        let value = |example: &str| need("value", &r.value, example);
        let worker = |k: Option<Key>| -> Result<Option<WorkerId>, ScenarioError> {
            let Some(k) = k else { return Ok(None) };
            let expected = format!("a worker id from 0 to {}", MAX_WORKERS - 1);
            let w = self.count(k, &expected)?;
            if w >= MAX_WORKERS as u64 {
                return Err(self.err(k.span(), format!("`worker` must be below {MAX_WORKERS} (got {w})")));
            }
            Ok(Some(w as WorkerId))
        };

        // The key an error in the assembled action is blamed on.
        let mut blame = action_key;
        let what = match action {
            "rate" => {
                let k = value("requests/s, e.g. value = 20000")?;
                blame = k;
                let v = self.number(k, "a number of requests/s")?;
                StepAction::Pipeline(Command::SetRate(self.control(k, check_rate(v))?))
            }
            "rate_scale" | "service_scale" => {
                let k = need("factor", &r.factor, "e.g. factor = 1.5")?;
                blame = k;
                let f = self.number(k, "a number greater than 0")?;
                StepAction::Pipeline(if action == "rate_scale" {
                    Command::ScaleRate(f)
                } else {
                    Command::ScaleService(f)
                })
            }
            "workers" => {
                let k = value("the pool size, e.g. value = 16")?;
                blame = k;
                let n = self.count(k, "a whole number of workers")?;
                StepAction::Pipeline(Command::SetWorkers(self.control(k, check_workers(n))?))
            }
            "add_workers" => {
                let k = need(
                    "count",
                    &r.count,
                    "workers to add, or remove if negative, e.g. count = 4",
                )?;
                blame = k;
                let n = self.integer(k, "a whole number (negative removes workers)")?;
                let max = MAX_WORKERS as i64;
                if n == 0 || !(-max..=max).contains(&n) {
                    return Err(self.err(
                        k.span(),
                        format!("`count` must be between -{max} and {max} and not 0 (got {n})"),
                    ));
                }
                StepAction::Pipeline(Command::AddWorkers(n as i32))
            }
            "service" => {
                let k = value("a distribution, e.g. value = \"lognormal:4ms:40ms\"")?;
                blame = k;
                StepAction::Pipeline(Command::SetService(self.dist(k)?))
            }
            "error_rate" => {
                let k = value("a fraction from 0 to 1, e.g. value = 0.05")?;
                blame = k;
                let f = self.number(k, "a fraction from 0 to 1")?;
                StepAction::Pipeline(Command::SetErrorRate(self.control(k, check_error_rate(f))?))
            }
            "add_error_rate" => {
                let k = value("a fraction to add, e.g. value = 0.01")?;
                blame = k;
                let d = self.number(k, "a fraction from -1 to 1")?;
                if !(-1.0..=1.0).contains(&d) || d == 0.0 {
                    return Err(self.err(
                        k.span(),
                        format!("`value` must be between -1 and 1 and not 0 (got {d})"),
                    ));
                }
                StepAction::Pipeline(Command::AddErrorRate(d))
            }
            "queue" => {
                let k = value("the queue capacity, e.g. value = 5000")?;
                blame = k;
                let n = self.count(k, "a whole number (the queue capacity)")?;
                StepAction::Pipeline(Command::SetQueueCapacity(self.control(k, check_queue(n))?))
            }
            "burst" => {
                let fk = need("factor", &r.factor, "the rate multiplier, e.g. factor = 5")?;
                let dk = need("for", &r.for_, "how long, e.g. for = \"3s\"")?;
                blame = fk;
                let factor = self.number(fk, "a number greater than 0")?;
                let duration = self.duration(dk)?;
                StepAction::Pipeline(Command::Burst { factor, duration })
            }
            "pause" => StepAction::Pipeline(Command::Pause),
            "resume" => StepAction::Pipeline(Command::Resume),
            "stall" => {
                let dk = need("for", &r.for_, "how long, e.g. for = \"4s\"")?;
                let worker = worker(key("worker", &r.worker))?;
                blame = dk;
                let duration = self.duration(dk)?;
                StepAction::Pipeline(Command::Stall { worker, duration })
            }
            "crash" => StepAction::Pipeline(Command::Crash {
                worker: worker(key("worker", &r.worker))?,
            }),
            "auto_restart" => {
                let k = value("value = true or value = false")?;
                StepAction::Pipeline(Command::SetAutoRestart(self.boolean(k)?))
            }
            "slow_subscriber" => StepAction::AddSlowSubscriber,
            "remove_slow_subscriber" => StepAction::RemoveSlowSubscriber,
            "record_start" => StepAction::RecordStart,
            "record_stop" => StepAction::RecordStop,
            "freeze" => StepAction::Freeze(true),
            "unfreeze" => StepAction::Freeze(false),
            "focus" => {
                let k = need("pane", &r.pane, "e.g. pane = \"latency\"")?;
                let expected = format!("one of {}", quoted_list(&PANES));
                let pane = self.string(k, &expected)?;
                let i = PANES
                    .iter()
                    .position(|p| *p == pane)
                    .ok_or_else(|| self.err(k.span(), format!("unknown pane {pane:?}; expected {expected}")))?;
                StepAction::Focus(i)
            }
            "zoom" => StepAction::Zoom(self.boolean(value("value = true or value = false")?)?),
            "window" => {
                let k = value("e.g. value = \"1m\"")?;
                let names: Vec<String> = WINDOWS_S.iter().map(|&s| window_text(s)).collect();
                let expected = format!("one of {}", quoted_list(&names));
                let s = self.string(k, &expected)?;
                let secs = crate::parse::duration(s)
                    .ok()
                    .filter(|ns| ns % SECONDS == 0)
                    .map(|ns| ns / SECONDS)
                    .filter(|s| WINDOWS_S.contains(s))
                    .ok_or_else(|| self.err(k.span(), format!("unknown window {s:?}; expected {expected}")))?;
                StepAction::Window(secs)
            }
            "note" => {
                if r.label.is_none() {
                    return Err(self.err(header, "`note` needs `label` (the marker's text)"));
                }
                StepAction::Note
            }
            "end" => StepAction::End,
            _ => unreachable!("every name in ACTIONS is handled"),
        };
        if let StepAction::Pipeline(a) = what {
            a.validate().map_err(|e| self.err(blame.span(), e.0))?;
        }
        let label = match key("label", &r.label) {
            Some(k) => {
                let s = self.string(k, "text")?;
                self.one_line(k, s)?
            }
            None => default_label(&what),
        };
        Ok(Step { at, line, label, what })
    }
}

/// `"0s"`, `"0"`, `"0.0ms"`: a zero time, which [`crate::parse::duration`]
/// refuses (a duration must be positive; a start time need not be).
fn is_zero_duration(s: &str) -> bool {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    num.parse::<f64>().is_ok_and(|v| v == 0.0)
        && (unit.is_empty() || crate::parse::duration(&format!("1{unit}")).is_ok())
}

fn action_names() -> String {
    ACTIONS.iter().map(|a| a.name).collect::<Vec<_>>().join(", ")
}

fn quoted_list<S: AsRef<str>>(items: &[S]) -> String {
    let q: Vec<String> = items.iter().map(|s| format!("{:?}", s.as_ref())).collect();
    match q.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => q.join(""),
    }
}

/// The action name nearest to a misspelt one (at most 2 edits away).
fn closest(name: &str) -> Option<&'static str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, &cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    }
    if name.chars().count() > 40 {
        return None;
    }
    let name = name.to_lowercase().replace(['-', ' '], "_");
    ACTIONS
        .iter()
        .map(|a| (distance(&name, a.name), a.name))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

/// A time for messages: exact and short (`10s`, `1500ms`, `0s`).
fn time_text(ns: Nanos) -> String {
    if ns == 0 {
        "0s".into()
    } else {
        crate::parse::duration_text(ns)
    }
}

fn window_text(secs: u64) -> String {
    if secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// A number as people write it: `20,000`, `0.5`, `1.25`.
fn number_text(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        let s = crate::format::count(v.abs() as u64);
        if v < 0.0 { format!("−{s}") } else { s }
    } else {
        format!("{v}")
    }
}

/// A fraction as a percentage: `0.05` → `5%`, `0.005` → `0.5%`.
fn percent_text(f: f64) -> String {
    format!("{}%", (f * 100.0 * 1000.0).round() / 1000.0)
}

/// The label a step gets when it has none.
pub fn default_label(what: &StepAction) -> String {
    let dur = |ns: Nanos| crate::format::duration(ns);
    match *what {
        StepAction::Pipeline(a) => match a {
            Command::SetRate(r) => format!("rate → {}/s", number_text(r)),
            Command::ScaleRate(f) => format!("rate ×{}", number_text(f)),
            Command::SetWorkers(n) => format!("workers → {n}"),
            Command::AddWorkers(n) if n >= 0 => format!("add {n} worker{}", if n == 1 { "" } else { "s" }),
            Command::AddWorkers(n) => format!("remove {} worker{}", -n, if n == -1 { "" } else { "s" }),
            Command::SetService(d) => format!("service → {}", crate::parse::dist_text(&d)),
            Command::ScaleService(f) => format!("service time ×{}", number_text(f)),
            Command::SetErrorRate(f) => format!("error rate → {}", percent_text(f)),
            Command::AddErrorRate(d) if d >= 0.0 => {
                format!("error rate +{} points", percent_text(d).trim_end_matches('%'))
            }
            Command::AddErrorRate(d) => format!("error rate −{} points", percent_text(-d).trim_end_matches('%')),
            Command::SetQueueCapacity(n) => format!("queue capacity → {}", crate::format::count(n as u64)),
            Command::Burst { factor, duration } => format!("burst ×{} for {}", number_text(factor), dur(duration)),
            Command::Pause => "pause arrivals".into(),
            Command::Resume => "resume arrivals".into(),
            Command::TogglePause => "pause / resume arrivals".into(),
            Command::Stall {
                worker: Some(w),
                duration,
            } => format!("stall w{w} for {}", dur(duration)),
            Command::Stall { worker: None, duration } => format!("stall a random worker for {}", dur(duration)),
            Command::Crash { worker: Some(w) } => format!("crash w{w}"),
            Command::Crash { worker: None } => "crash a random worker".into(),
            Command::SetAutoRestart(on) => format!("auto-restart {}", if on { "on" } else { "off" }),
            Command::Stop => "end of scenario".into(),
            // Not produced from a scenario file.
            _ => "marker".into(),
        },
        StepAction::AddSlowSubscriber => "add a slow subscriber".into(),
        StepAction::RemoveSlowSubscriber => "remove a slow subscriber".into(),
        StepAction::RecordStart => "start recording".into(),
        StepAction::RecordStop => "stop recording".into(),
        StepAction::Freeze(true) => "freeze the display".into(),
        StepAction::Freeze(false) => "unfreeze the display".into(),
        StepAction::Focus(i) => format!("focus the {} pane", PANES.get(i).copied().unwrap_or("next")),
        StepAction::Zoom(true) => "zoom the focused pane".into(),
        StepAction::Zoom(false) => "unzoom".into(),
        StepAction::Window(s) => format!("chart window {}", window_text(s)),
        StepAction::Note => "note".into(),
        StepAction::End => "end of scenario".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::MILLIS;

    fn one_step(body: &str) -> Result<Step, ScenarioError> {
        parse("t.toml", &format!("[[step]]\nat = \"1s\"\n{body}\n")).map(|s| s.steps[0].clone())
    }

    /// Labels made from actions read as the change they make.
    #[test]
    fn default_labels_describe_the_change() {
        let cases = [
            ("action = \"rate\"\nvalue = 20000", "rate → 20,000/s"),
            ("action = \"rate\"\nvalue = 0.5", "rate → 0.5/s"),
            ("action = \"rate_scale\"\nfactor = 1.25", "rate ×1.25"),
            ("action = \"workers\"\nvalue = 16", "workers → 16"),
            ("action = \"add_workers\"\ncount = 4", "add 4 workers"),
            ("action = \"add_workers\"\ncount = -1", "remove 1 worker"),
            ("action = \"service\"\nvalue = \"exp:4ms\"", "service → exp:4ms"),
            ("action = \"service_scale\"\nfactor = 2", "service time ×2"),
            ("action = \"error_rate\"\nvalue = 0.05", "error rate → 5%"),
            ("action = \"add_error_rate\"\nvalue = -0.005", "error rate −0.5 points"),
            ("action = \"queue\"\nvalue = 5000", "queue capacity → 5,000"),
            ("action = \"burst\"\nfactor = 5\nfor = \"3s\"", "burst ×5 for 3s"),
            ("action = \"stall\"\nworker = 3\nfor = \"4s\"", "stall w3 for 4s"),
            ("action = \"stall\"\nfor = \"1500ms\"", "stall a random worker for 1.5s"),
            ("action = \"crash\"\nworker = 1", "crash w1"),
            ("action = \"crash\"", "crash a random worker"),
            ("action = \"auto_restart\"\nvalue = false", "auto-restart off"),
            ("action = \"slow_subscriber\"", "add a slow subscriber"),
            ("action = \"remove_slow_subscriber\"", "remove a slow subscriber"),
            ("action = \"record_start\"", "start recording"),
            ("action = \"unfreeze\"", "unfreeze the display"),
            ("action = \"focus\"\npane = \"workers\"", "focus the workers pane"),
            ("action = \"zoom\"\nvalue = true", "zoom the focused pane"),
            ("action = \"window\"\nvalue = \"5m\"", "chart window 5m"),
            ("action = \"pause\"", "pause arrivals"),
            ("action = \"end\"", "end of scenario"),
        ];
        for (body, label) in cases {
            assert_eq!(one_step(body).unwrap().label, label, "{body}");
        }
    }

    /// Every action in the table parses with its documented keys.
    #[test]
    fn every_listed_action_is_handled() {
        for &ActionInfo { name, keys, .. } in ACTIONS {
            let mut body = format!("action = \"{name}\"\nlabel = \"x\"\n");
            for key in keys.iter().map(|k| k.trim_end_matches('?')) {
                let v = match (key, name) {
                    ("value", "service") => "\"const:1ms\"",
                    ("value", "window") => "\"30s\"",
                    ("value", "auto_restart" | "zoom") => "true",
                    ("value", "error_rate" | "add_error_rate") => "0.1",
                    ("for", _) => "\"1s\"",
                    ("pane", _) => "\"events\"",
                    _ => "2",
                };
                body.push_str(&format!("{key} = {v}\n"));
            }
            one_step(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    /// A step may start at zero, written "0s" (durations elsewhere must be positive).
    #[test]
    fn zero_start_times_are_accepted() {
        for zero in ["0s", "0", "0.0ms"] {
            let s = parse("t.toml", &format!("[[step]]\nat = \"{zero}\"\naction = \"pause\"\n")).unwrap();
            assert_eq!(s.steps[0].at, 0);
        }
        assert!(is_zero_duration("0s") && !is_zero_duration("0parsecs") && !is_zero_duration("1s"));
    }

    /// The focus names follow the UI's pane order, and the windows its cycle.
    #[test]
    fn panes_and_windows_match_the_ui() {
        assert_eq!(
            one_step("action = \"focus\"\npane = \"latency\"").unwrap().what,
            StepAction::Focus(1)
        );
        assert_eq!(
            one_step("action = \"window\"\nvalue = \"60s\"").unwrap().what,
            StepAction::Window(60)
        );
    }

    /// Lines are counted from 1 across LF and CRLF files.
    #[test]
    fn byte_offsets_map_to_lines() {
        let p = Parser::new("t", "a\r\nb\nc");
        assert_eq!(
            [p.line_of(0), p.line_of(2), p.line_of(3), p.line_of(5), p.line_of(6)],
            [1, 1, 2, 3, 3]
        );
    }

    /// A misspelt action gets a suggestion.
    #[test]
    fn misspelt_actions_get_a_suggestion() {
        assert_eq!(closest("rat"), Some("rate"));
        assert_eq!(closest("slow-subscriber"), Some("slow_subscriber"));
        assert_eq!(closest("frobnicate"), None);
    }

    /// Settings overwrite only what they set.
    #[test]
    fn settings_apply_only_what_is_set() {
        let mut cfg = SimConfig::default();
        Settings {
            rate: Some(10.0),
            service: Some(ServiceDist::Const { ns: MILLIS }),
            ..Settings::default()
        }
        .apply_to(&mut cfg);
        assert_eq!(cfg.rate, 10.0);
        assert_eq!(cfg.service, ServiceDist::Const { ns: MILLIS });
        assert_eq!(cfg.workers, SimConfig::default().workers);
    }
}
