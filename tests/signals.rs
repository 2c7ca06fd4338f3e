//! Stop signals against the real binary, without a terminal: a run stopped
//! by SIGINT, SIGTERM, SIGHUP or SIGQUIT finishes its files (the last line
//! of a recording or a cast is whole), still prints its summary, and exits
//! with 128 + the signal's number, so a script can tell a stopped run from a
//! finished one. (The terminal monitor's side is in `e2e_tmux.rs`.)
//!
//! A signal is sent only once the child handles it: the test reads the
//! child's caught-signal mask in `/proc` (Linux), so nothing depends on
//! timing; elsewhere these tests are skipped with a message.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use fantop::session::recording::Recording;
use serde_json::Value;

/// How long any one awaited condition may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(20);

/// (name for `kill -s`, number, the exit status it must give)
const SIGINT: (&str, i32, i32) = ("INT", 2, 130);
const SIGTERM: (&str, i32, i32) = ("TERM", 15, 143);
const SIGHUP: (&str, i32, i32) = ("HUP", 1, 129);
const SIGQUIT: (&str, i32, i32) = ("QUIT", 3, 131);

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fantop-signals-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Whether `/proc` tells which signals a process catches.
fn proc_available() -> bool {
    if Path::new("/proc/self/status").exists() {
        return true;
    }
    eprintln!("skipping: these tests read /proc/PID/status (Linux) to know when the child handles signals");
    false
}

fn spawn(args: &[&str], cwd: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_fantop"))
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the fantop binary runs")
}

/// Polls `ok` until it holds; kills the child and fails at the deadline.
fn wait_for(child: &mut Child, what: &str, ok: impl Fn(&mut Child) -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !ok(child) {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("fantop ended ({status}) while waiting for {what}");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("timed out waiting for {what}");
        }
        std::thread::sleep(POLL);
    }
}

/// Whether the process catches signal `n` (its SigCgt mask in /proc).
fn catches(pid: u32, n: i32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (n - 1)) != 0)
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |s| s.lines().count())
}

/// Sends `signal` once the child catches it and `ready` holds; returns what
/// the child printed after it exited.
fn stop(mut child: Child, signal: (&str, i32, i32), ready: impl Fn() -> bool) -> Output {
    let pid = child.id();
    wait_for(&mut child, "the child to handle the signal", |_| catches(pid, signal.1));
    wait_for(&mut child, "the run to be under way", |_| ready());
    let sent = Command::new("kill")
        .args(["-s", signal.0, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "kill -s {} {pid} failed", signal.0);
    wait_for(&mut child, "the child to exit after the signal", |c| {
        matches!(c.try_wait(), Ok(Some(_)))
    });
    child.wait_with_output().expect("the child's output")
}

fn assert_stopped_by(out: &Output, signal: (&str, i32, i32)) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(signal.2),
        "SIG{} must exit {}: {}; stderr: {err}",
        signal.0,
        signal.2,
        out.status
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// Stdout holds exactly one JSON summary.
fn assert_summary(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("stdout is not one JSON summary ({e}): {text}"));
    assert!(v["requests"]["arrived"].is_u64(), "{v}");
    v
}

/// A recording ends with a whole line and loads without a warning.
fn assert_complete_recording(path: &Path, seen_lines: usize) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.ends_with('\n'), "the recording ends mid-line");
    let last = text.lines().last().unwrap();
    serde_json::from_str::<Value>(last).unwrap_or_else(|e| panic!("last line is not JSON ({e}): {last}"));
    assert!(text.lines().count() >= seen_lines, "the recording lost lines");
    let r = Recording::load(path).unwrap();
    assert_eq!(r.warning, None, "the recording is cut off");
}

/// A real-time headless run stopped by any stop signal prints its summary,
/// finishes its recording and exits with 128 + the signal's number.
#[test]
fn a_headless_run_stopped_by_a_signal_prints_its_summary_and_exits_128_plus_n() {
    if !proc_available() {
        return;
    }
    for signal in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] {
        let dir = temp_dir(&format!("headless-{}", signal.0));
        let rec = dir.join("rec.jsonl");
        let child = spawn(
            &["--headless", "--duration", "1h", "--seed", "1", "--record", "rec.jsonl"],
            &dir,
        );
        // The header and at least one flush of events.
        let out = stop(child, signal, || lines(&rec) >= 2);
        assert_stopped_by(&out, signal);
        assert_summary(&out);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("stopped by SIG{}", signal.0)), "{err}");
        assert_complete_recording(&rec, 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// `--headless --fast` (simulated time on one thread) stops the same way.
#[test]
fn a_fast_headless_run_stopped_by_sigint_exits_130_with_its_summary_and_recording() {
    if !proc_available() {
        return;
    }
    let dir = temp_dir("fast");
    let rec = dir.join("rec.jsonl");
    let child = spawn(
        &[
            "--headless",
            "--fast",
            "--duration",
            "24h",
            "--rate",
            "100",
            "--seed",
            "1",
            "--record",
            "rec.jsonl",
        ],
        &dir,
    );
    let out = stop(child, SIGINT, || lines(&rec) >= 2);
    assert_stopped_by(&out, SIGINT);
    let v = assert_summary(&out);
    assert!(
        v["simulated_s"].as_f64().is_some_and(|s| s < 24.0 * 3600.0),
        "the run did not stop early: {v}"
    );
    assert_complete_recording(&rec, 2);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--offscreen` stopped by SIGTERM finishes its cast (every line whole
/// JSON), prints its exit line and exits 143.
#[test]
fn an_offscreen_run_stopped_by_sigterm_finishes_its_cast_and_exits_143() {
    if !proc_available() {
        return;
    }
    let dir = temp_dir("offscreen");
    let cast = dir.join("run.cast");
    let child = spawn(
        &["--offscreen", "--cast", "run.cast", "--duration", "24h", "--seed", "1"],
        &dir,
    );
    let out = stop(child, SIGTERM, || lines(&cast) >= 3);
    assert_stopped_by(&out, SIGTERM);
    let text = std::fs::read_to_string(&cast).unwrap();
    assert!(text.ends_with('\n'), "the cast ends mid-line");
    for (i, line) in text.lines().enumerate() {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("cast line {} is not JSON ({e})", i + 1));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("fantop: ran ") && stdout.contains("(stopped by SIGTERM)"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `fantop replay --headless` stopped by SIGHUP prints the summary of what
/// it replayed and exits 129.
#[test]
fn a_headless_replay_stopped_by_sighup_prints_its_summary_and_exits_129() {
    if !proc_available() {
        return;
    }
    let dir = temp_dir("replay");
    let made = Command::new(env!("CARGO_BIN_EXE_fantop"))
        .args([
            "--headless",
            "--fast",
            "--duration",
            "5s",
            "--seed",
            "1",
            "--record",
            "rec.jsonl",
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    // At a tenth of the pace, the replay takes 50 s: the signal comes first.
    let child = spawn(&["replay", "rec.jsonl", "--headless", "--speed", "0.1"], &dir);
    let out = stop(child, SIGHUP, || true);
    assert_stopped_by(&out, SIGHUP);
    assert_summary(&out);
    let _ = std::fs::remove_dir_all(&dir);
}
