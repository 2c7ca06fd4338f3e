//! Recordings: what the recorder writes, what replay makes of it, and how
//! bad files are refused.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use fantop::broadcast::{self, BroadcastConfig, Delivery};
use fantop::clock::Clock;
use fantop::event::{Event, EventKind};
use fantop::pipeline::SimConfig;
use fantop::run::config_summary;
use fantop::session::files::{self, Naming};
use fantop::session::record::{Header, Recorder};
use fantop::session::recording::Recording;

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
    let _ = std::fs::remove_file(&path);
    let out = files::open(&path, Naming::Given).unwrap();
    let rec = Recorder::start_with_capacity(&b, out, &header, Delivery::Drop, 256).unwrap();
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
        (vec!["replay", "x.jsonl", "--max-idle", "0"], "--max-idle"),
        (vec!["replay", "x.jsonl", "--max-idle", "soon"], "--max-idle"),
        (
            vec!["replay", "x.jsonl", "--headless", "--fast", "--max-idle", "1s"],
            "--max-idle",
        ),
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
    let rec = Recording::load(&path).expect("loads");
    assert_eq!(rec.events.len(), 2, "{:?}", rec.events);
    assert!(rec.warning.is_none());
    std::fs::remove_dir_all(&dir).ok();
}

/// Runs fantop in `cwd`, killing it if it has not ended within a minute: a
/// hang fails the test instead of stalling it (this bounds no timing).
fn fantop_or_hang(args: &[&str], cwd: &Path) -> Output {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let mut child = Command::new(env!("CARGO_BIN_EXE_fantop"))
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("fantop {args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

/// One line on stderr, exit 1, no panic; returns the line.
fn one_line_error(out: &Output, what: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{what}: {err}");
    assert!(!err.contains("panicked"), "{what}: {err}");
    assert_eq!(err.trim().lines().count(), 1, "{what}: one line: {err}");
    err.trim().to_string()
}

/// Replay reads its input through a documented line bound (1 MiB): an
/// endless line (`/dev/zero`) or random bytes end with one line at once,
/// paced or fast, and a long line in a file is named by its number. (The
/// replay monitor loads its file the same way, once it has a terminal.)
#[test]
fn replay_input_is_read_through_a_line_bound() {
    let dir = temp_dir("bounds");
    for args in [
        &["replay", "/dev/zero", "--headless"][..],
        &["replay", "/dev/zero", "--headless", "--fast"],
    ] {
        let e = one_line_error(&fantop_or_hang(args, &dir), "/dev/zero");
        assert!(e.ends_with("/dev/zero:1: line longer than 1 MiB"), "{e}");
    }
    let e = one_line_error(
        &fantop_or_hang(&["replay", "/dev/urandom", "--headless"], &dir),
        "urandom",
    );
    assert!(e.contains("/dev/urandom:1: "), "{e}");
    let mut text = format!("{HEADER}\n");
    for id in 0..10 {
        text.push_str(&format!("{{\"t\":{id},\"ev\":\"request_arrived\",\"id\":{id}}}\n"));
    }
    text.push_str(&format!(
        "{{\"t\":11,\"ev\":\"request_arrived\",\"id\":11,\"pad\":\"{}\"}}\n",
        "x".repeat(2 << 20)
    ));
    std::fs::write(dir.join("long.jsonl"), text).unwrap();
    let e = one_line_error(&fantop_or_hang(&["replay", "long.jsonl", "--headless"], &dir), "long");
    assert!(e.ends_with("long.jsonl:12: line longer than 1 MiB"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A FIFO nobody writes to is refused (opening it never blocks; a writer
/// has 5 s to come), and one whose writer starts after the replay is read.
#[test]
fn a_fifo_without_a_writer_is_refused_and_one_with_a_writer_is_read() {
    let dir = temp_dir("fifo");
    match Command::new("mkfifo").arg(dir.join("in.jsonl")).status() {
        Ok(s) if s.success() => {}
        _ if std::env::var("CI").as_deref() == Ok("true") => panic!("mkfifo is needed"),
        _ => {
            eprintln!("skipped: mkfifo is not available");
            return;
        }
    }
    let e = one_line_error(&fantop_or_hang(&["replay", "in.jsonl", "--headless"], &dir), "fifo");
    assert!(
        e.contains("in.jsonl: nothing to read (no writer opened the FIFO within 5 s)"),
        "{e}"
    );
    let content = format!("{HEADER}\n{{\"t\":1,\"ev\":\"request_arrived\",\"id\":0}}\n");
    let fifo = dir.join("in.jsonl");
    // Opening for writing waits for the reader, which replay now is.
    let writer = std::thread::spawn(move || std::fs::write(fifo, content).unwrap());
    let summary = json(&fantop_or_hang(&["replay", "in.jsonl", "--headless", "--fast"], &dir));
    writer.join().unwrap();
    assert_eq!(summary["requests"]["arrived"], 1);
    std::fs::remove_dir_all(&dir).ok();
}

/// Gap counts add with a check: two gaps of u64::MAX are refused on the
/// line where the sum overflows (a debug build used to panic).
#[test]
fn gap_counts_that_overflow_are_refused_on_their_line() {
    let dir = temp_dir("gap-overflow");
    let path = dir.join("gaps.jsonl");
    let max = u64::MAX;
    std::fs::write(
        &path,
        format!("{HEADER}\n{{\"gap\":{max}}}\n{{\"t\":1,\"ev\":\"request_arrived\",\"id\":0}}\n{{\"gap\":{max}}}\n"),
    )
    .unwrap();
    let e = Recording::load(&path).unwrap_err().to_string();
    assert!(
        e.ends_with("gaps.jsonl:4: the gaps add up to more than 18446744073709551615 missed events"),
        "{e}"
    );
    std::fs::write(
        &path,
        format!("{HEADER}\n{{\"gap\":{max}}}\n{{\"t\":1,\"ev\":\"request_arrived\",\"id\":0}}\n"),
    )
    .unwrap();
    assert_eq!(
        Recording::load(&path).unwrap().missed,
        max,
        "one gap of u64::MAX is a count like another"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// A paced replay jumps over idle stretches longer than --max-idle, so a
/// recording with a 31-year gap replays to its end (at the original pace)
/// and counts everything.
#[test]
fn a_paced_replay_of_a_31_year_gap_jumps_over_it() {
    let dir = temp_dir("idle");
    let years_31 = 31 * 365 * 86_400 * 1_000_000_000u64;
    std::fs::write(
        dir.join("gap.jsonl"),
        format!(
            "{HEADER}\n{{\"t\":1,\"ev\":\"request_arrived\",\"id\":0}}\n{{\"t\":{years_31},\"ev\":\"request_arrived\",\"id\":1}}\n"
        ),
    )
    .unwrap();
    let out = fantop_or_hang(&["replay", "gap.jsonl", "--headless", "--max-idle", "10ms"], &dir);
    let summary = json(&out);
    assert_eq!(summary["requests"]["arrived"], 2);
    assert_eq!(summary["simulated_s"], (years_31 - 1) as f64 / 1e9);
    std::fs::remove_dir_all(&dir).ok();
}

/// Header errors say what is wrong and where; a byte-order mark is skipped;
/// a key given twice is named.
#[test]
fn header_errors_name_the_field_and_a_byte_order_mark_is_accepted() {
    let dir = temp_dir("header");
    let event = "{\"t\":1,\"ev\":\"request_arrived\",\"id\":0}";
    let bad_version = HEADER.replace("\"version\":1", "\"version\":\"x\"");
    let e = replay_error(&dir, "v.jsonl", Some(&format!("{bad_version}\n{event}\n")));
    assert!(e.contains("v.jsonl:1: version must be an integer, got \"x\""), "{e}");
    let twice = HEADER.replace("\"seed\":1", "\"seed\":1,\"seed\":2");
    let e = replay_error(&dir, "twice.jsonl", Some(&format!("{twice}\n{event}\n")));
    assert!(e.contains("twice.jsonl:1: duplicate key \"seed\""), "{e}");
    std::fs::write(dir.join("bom.jsonl"), format!("\u{feff}{HEADER}\n{event}\n")).unwrap();
    let summary = json(&fantop(&["replay", "bom.jsonl", "--headless", "--fast"], &dir));
    assert_eq!(summary["requests"]["arrived"], 1);
    std::fs::remove_dir_all(&dir).ok();
}

/// A header followed by one cut-off line gives exactly what a header alone
/// gives: nothing to replay.
#[test]
fn a_header_and_a_cut_off_line_fail_as_a_header_alone_does() {
    let dir = temp_dir("header-only");
    let alone = replay_error(&dir, "r.jsonl", Some(&format!("{HEADER}\n")));
    let cut = replay_error(&dir, "r.jsonl", Some(&format!("{HEADER}\n{{\"t\":1,\"ev\":\"requ")));
    assert_eq!(alone, cut);
    assert!(
        alone.contains("r.jsonl: holds a header but no events: nothing to replay"),
        "{alone}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Events no pipeline publishes are refused with the file and line: a
/// worker beyond the largest pool, a negative number, a latency longer
/// than the run, a duplicated arrival.
#[test]
fn impossible_events_are_refused_with_file_and_line() {
    let dir = temp_dir("impossible");
    let ok = "{\"t\":1,\"ev\":\"request_arrived\",\"id\":0}";
    for (line, expected) in [
        (
            "{\"t\":2,\"ev\":\"request_started\",\"id\":0,\"worker\":9999}",
            "worker must be from 0 to 1023, got 9999",
        ),
        (
            "{\"t\":2,\"ev\":\"request_arrived\",\"id\":-3}",
            "id must not be negative, got -3",
        ),
        (
            "{\"t\":2,\"ev\":\"request_completed\",\"id\":0,\"worker\":1,\"latency\":3000,\"ok\":true}",
            "latency 3µs is longer than the time since the pipeline started (2ns)",
        ),
        (ok, "request 0 arrives after request 0"),
    ] {
        let e = replay_error(&dir, "m.jsonl", Some(&format!("{HEADER}\n{ok}\n{line}\n")));
        assert!(e.contains(&format!("m.jsonl:3: {expected}")), "{line}: {e}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// The line an error names, if it names one (`file:N: why`).
fn error_line(e: &str, path: &Path) -> Option<usize> {
    let rest = e.strip_prefix(&path.display().to_string())?.strip_prefix(':')?;
    rest.split_once(':')?.0.parse().ok()
}

/// A tiny deterministic generator for the mutations.
fn next_random(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *state >> 33
}

/// Mutated recordings never panic or hang: each cut at a byte offset loads
/// (what is complete, with a warning if a line was cut) or, when no event
/// is whole, is refused; each flipped byte and each duplicated line loads
/// or is refused with one line naming the file and a line at or after the
/// mutation.
#[test]
fn mutated_recordings_load_or_fail_with_one_line_naming_file_and_line() {
    let dir = temp_dir("mutants");
    json(&fantop(
        &[
            "--headless",
            "--fast",
            "--duration",
            "300ms",
            "--seed",
            "8",
            "--record",
            "r.jsonl",
        ],
        &dir,
    ));
    let original = std::fs::read(dir.join("r.jsonl")).unwrap();
    let full = Recording::load(&dir.join("r.jsonl")).unwrap().events.len();
    let path = dir.join("m.jsonl");
    let line_of = |offset: usize| 1 + original[..offset].iter().filter(|&&b| b == b'\n').count();
    let second_line_end = original
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(1)
        .unwrap()
        .0;
    let check = |result: anyhow::Result<Recording>, at_or_after: usize, what: &str| match result {
        Ok(r) => assert!(r.events.len() <= full + 1, "{what}"),
        Err(e) => {
            let e = e.to_string();
            assert_eq!(e.lines().count(), 1, "{what}: {e}");
            assert!(e.starts_with(&path.display().to_string()), "{what}: {e}");
            if let Some(n) = error_line(&e, &path) {
                assert!(n >= at_or_after, "{what}: names line {n}, before the mutation: {e}");
            }
        }
    };
    let mut seed = 12345;
    // Cuts: every offset through line 2, then a sample.
    let mut cuts: Vec<usize> = (0..=second_line_end + 1).collect();
    cuts.extend((0..200).map(|_| next_random(&mut seed) as usize % original.len()));
    for cut in cuts {
        std::fs::write(&path, &original[..cut]).unwrap();
        let result = Recording::load(&path);
        if cut > second_line_end {
            // An event is whole: a cut is never an error.
            let r = result.unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
            let mid_line = original[cut - 1] != b'\n';
            assert_eq!(r.warning.is_some(), mid_line && original[cut] != b'\n', "cut at {cut}");
        } else {
            check(result, 1, &format!("cut at {cut}"));
        }
    }
    for _ in 0..300 {
        let mut m = original.clone();
        let at = next_random(&mut seed) as usize % m.len();
        m[at] = next_random(&mut seed) as u8;
        std::fs::write(&path, &m).unwrap();
        check(
            Recording::load(&path),
            line_of(at),
            &format!("byte {at} set to {}", m[at]),
        );
    }
    let lines: Vec<&[u8]> = original.split_inclusive(|&b| b == b'\n').collect();
    for _ in 0..100 {
        let k = 1 + next_random(&mut seed) as usize % (lines.len() - 1);
        let mut m = lines[..=k].concat();
        m.extend(lines[k..].concat());
        std::fs::write(&path, &m).unwrap();
        let result = Recording::load(&path);
        let duplicate = String::from_utf8_lossy(lines[k]).to_string();
        if duplicate.contains("\"request_arrived\"") {
            let e = result.expect_err("a duplicated arrival is refused").to_string();
            assert!(e.contains(&format!(":{}: request ", k + 2)), "{duplicate}: {e}");
        } else {
            check(result, k + 2, &format!("line {} twice", k + 1));
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}
