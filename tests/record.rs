//! Recordings: what the recorder writes, what replay makes of it, and how
//! bad files are refused.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use fantop::broadcast::{self, BroadcastConfig, Delivery};
use fantop::clock::Clock;
use fantop::event::{Event, EventKind};
use fantop::pipeline::SimConfig;
use fantop::run::config_summary;
use fantop::session::record::{Header, Recorder, Recording};

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fantop-rec-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn fantop(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fantop"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Replaying a recording of a headless run gives exactly its counts,
/// latency percentiles, queue depth and per-worker figures.
#[test]
fn replay_of_a_headless_recording_reproduces_its_figures_exactly() {
    let dir = temp_dir("replay-same");
    let live = json(&fantop(
        &[
            "--headless",
            "--fast",
            "--duration",
            "15s",
            "--seed",
            "21",
            "--rate",
            "3000",
            "--record",
            "run.jsonl",
        ],
        &dir,
    ));
    let replay = json(&fantop(&["replay", "run.jsonl", "--headless", "--fast"], &dir));
    for key in [
        "seed",
        "config",
        "simulated_s",
        "requests",
        "throughput_per_s",
        "pace",
        "latency_us",
        "queue",
        "workers",
    ] {
        assert_eq!(live[key], replay[key], "{key} differs");
    }
    // The recording run's recorder saw everything the collector saw.
    let subs = live["subscribers"].as_array().unwrap();
    let rec = subs.iter().find(|s| s["name"] == "recorder").expect("recorder listed");
    assert_eq!(rec["dropped"], 0);
    assert_eq!(rec["delivered"], live["events_published"]);
    std::fs::remove_dir_all(&dir).ok();
}

/// A recording starts with the documented header and holds one event per line.
#[test]
fn recording_has_a_header_then_one_event_per_line() {
    let dir = temp_dir("format");
    json(&fantop(
        &[
            "--headless",
            "--fast",
            "--duration",
            "2s",
            "--seed",
            "4",
            "--record",
            "r.jsonl",
        ],
        &dir,
    ));
    let text = std::fs::read_to_string(dir.join("r.jsonl")).unwrap();
    let mut lines = text.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["format"], "fantop-session");
    assert_eq!(header["version"], 1);
    assert_eq!(header["seed"], 4);
    for key in ["fantop_version", "config", "started_at"] {
        assert!(header.get(key).is_some(), "header lacks {key}");
    }
    let mut n = 0;
    for l in lines {
        let e: Event = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"));
        assert!(e.t <= 2_000_000_000);
        n += 1;
    }
    assert!(n > 10_000, "{n} events");
    // Load settings are in the stream, so a replay shows them.
    assert!(text.contains("\"ev\":\"load_changed\""));
    std::fs::remove_dir_all(&dir).ok();
}

/// A recorder that falls behind writes `{"gap":N}` records, and events
/// written plus events missed equal what was published to it.
#[test]
fn a_recorder_that_falls_behind_writes_gap_records_for_what_it_missed() {
    let dir = temp_dir("gaps");
    let path = dir.join("gaps.jsonl");
    let (mut publisher, b) = broadcast::channel(BroadcastConfig::default(), Clock::manual());
    let header = Header::new(1, config_summary(&SimConfig::default(), None, false), None);
    let rec = Recorder::start_with_capacity(&b, &path, &header, Delivery::Drop, 256).unwrap();
    for i in 0..200_000u64 {
        publisher.publish(Event::new(i, EventKind::RequestArrived { id: i }));
    }
    let published = {
        publisher.flush();
        b.stats()
            .iter()
            .find(|s| s.name == "recorder")
            .unwrap()
            .published_while_subscribed
    };
    publisher.close();
    let stats = rec.finish().unwrap();
    assert!(stats.missed > 0, "a 256-event queue cannot hold 200,000 events");
    assert_eq!(stats.events + stats.missed, published);
    let text = std::fs::read_to_string(&path).unwrap();
    let gaps: u64 = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()?.get("gap")?.as_u64())
        .sum();
    assert_eq!(gaps, stats.missed);
    let loaded = Recording::load(&path).unwrap();
    assert_eq!(loaded.missed, stats.missed);
    std::fs::remove_dir_all(&dir).ok();
}

fn replay_error(dir: &Path, name: &str, content: Option<&str>) -> String {
    if let Some(c) = content {
        std::fs::write(dir.join(name), c).unwrap();
    }
    let out = fantop(&["replay", name, "--headless", "--fast"], dir);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{name}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    err
}

const HEADER: &str = r#"{"format":"fantop-session","version":1,"fantop_version":"0.1.0","seed":1,"config":{"rate":2000.0,"workers":8,"service":"lognormal:2ms:20ms","error_rate":0.01,"queue_capacity":10000,"auto_restart":true,"duration_s":1.0,"fast":true},"started_at":"2026-11-27T08:00:00Z"}"#;

/// Bad recordings are refused with one line naming the file and line, exit 1.
#[test]
fn bad_recordings_get_one_line_errors_naming_file_and_line() {
    let dir = temp_dir("bad");
    let e = replay_error(&dir, "missing.jsonl", None);
    assert!(e.contains("missing.jsonl: cannot open"), "{e}");
    let e = replay_error(&dir, "empty.jsonl", Some(""));
    assert!(e.contains("empty.jsonl: empty file"), "{e}");
    let e = replay_error(&dir, "other.jsonl", Some("{\"hello\":1}\n"));
    assert!(e.contains("other.jsonl:1: not a fantop session"), "{e}");
    let e = replay_error(&dir, "text.jsonl", Some("just some text\n"));
    assert!(e.contains("text.jsonl:1: not a fantop session"), "{e}");
    let v9 = HEADER.replace("\"version\":1", "\"version\":9");
    let e = replay_error(&dir, "v9.jsonl", Some(&format!("{v9}\n")));
    assert!(e.contains("v9.jsonl:1: unsupported recording version 9"), "{e}");
    let garbage = format!(
        "{HEADER}\n{{\"t\":1,\"ev\":\"request_arrived\",\"id\":0}}\nnot json\n{{\"t\":2,\"ev\":\"request_arrived\",\"id\":1}}\n"
    );
    let e = replay_error(&dir, "garbage.jsonl", Some(&garbage));
    assert!(e.contains("garbage.jsonl:3: not a fantop event"), "{e}");
    let backwards = format!(
        "{HEADER}\n{{\"t\":5,\"ev\":\"request_arrived\",\"id\":0}}\n{{\"t\":2,\"ev\":\"request_arrived\",\"id\":1}}\n"
    );
    let e = replay_error(&dir, "backwards.jsonl", Some(&backwards));
    assert!(e.contains("backwards.jsonl:3: time goes backwards"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A recording cut off mid-line replays what is complete, with a warning
/// naming the line.
#[test]
fn a_truncated_last_line_is_warned_about_and_the_rest_replayed() {
    let dir = temp_dir("truncated");
    let content = format!(
        "{HEADER}\n{{\"t\":1,\"ev\":\"request_arrived\",\"id\":0}}\n{{\"t\":2,\"ev\":\"request_arrived\",\"id\":1}}\n{{\"t\":3,\"ev\":\"requ"
    );
    std::fs::write(dir.join("cut.jsonl"), content).unwrap();
    let out = fantop(&["replay", "cut.jsonl", "--headless", "--fast"], &dir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cut.jsonl:4: last line is incomplete"), "{err}");
    let summary = json(&out);
    assert_eq!(summary["requests"]["arrived"], 2);
    std::fs::remove_dir_all(&dir).ok();
}

/// Replay flags are validated like every other flag (exit 2).
#[test]
fn replay_flags_are_validated() {
    let dir = temp_dir("flags");
    for (args, needle) in [
        (vec!["replay", "x.jsonl", "--speed", "0"], "--speed"),
        (vec!["replay", "x.jsonl", "--speed", "500"], "--speed"),
        (vec!["replay", "x.jsonl", "--fast"], "--headless"),
        (vec!["replay"], "FILE"),
    ] {
        let out = fantop(&args, &dir);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Recordings made before subscriber announcements became the broadcaster's
/// notices hold `subscriber_*` lines: they still load, those lines skipped.
#[test]
fn recordings_with_old_subscriber_announcements_still_load() {
    let dir = temp_dir("announcements");
    let content = format!(
        "{HEADER}\n{{\"t\":0,\"ev\":\"subscriber_joined\",\"id\":1}}\n{{\"t\":1,\"ev\":\"request_arrived\",\"id\":0}}\n\
         {{\"t\":1,\"ev\":\"subscriber_lagging\",\"id\":2,\"dropped\":5}}\n\
         {{\"t\":2,\"ev\":\"subscriber_evicted\",\"id\":2,\"reason\":{{\"why\":\"queue_full\",\"for_ns\":2000000000}},\"dropped\":9}}\n\
         {{\"t\":2,\"ev\":\"subscriber_left\",\"id\":3}}\n{{\"t\":3,\"ev\":\"request_arrived\",\"id\":1}}\n"
    );
    let path = dir.join("old.jsonl");
    std::fs::write(&path, content).unwrap();
    let rec = fantop::session::record::Recording::load(&path).expect("loads");
    assert_eq!(rec.events.len(), 2, "{:?}", rec.events);
    assert!(rec.warning.is_none());
    std::fs::remove_dir_all(&dir).ok();
}
