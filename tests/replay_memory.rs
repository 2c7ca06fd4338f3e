//! What a replay holds per event, measured: the resident size a headless
//! replay adds per event of its recording stays within 1.25 × the size of
//! an [`Event`] (40 bytes): the loaded events are held once, not copied
//! for the player. Alone in its test binary, so no other test's memory
//! shows in the process's figures. Linux only (it reads `/proc/self`).

use std::io::Write;
use std::path::Path;

use fantop::event::Event;
use fantop::run;
use fantop::session::recording::Recording;
use fantop::session::replay::Pace;

const HEADER: &str = r#"{"format":"fantop-session","version":1,"fantop_version":"0.1.0","seed":1,"config":{"rate":2000.0,"workers":8,"service":"lognormal:2ms:20ms","error_rate":0.01,"queue_capacity":10000,"auto_restart":true,"duration_s":1.0,"fast":true},"started_at":"2026-11-27T08:00:00Z"}"#;

/// A `/proc/self/status` figure in bytes (`VmRSS`, `VmHWM`).
fn status_bytes(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Starts a fresh peak (`VmHWM`) from the resident size now.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Writes a recording of `requests` requests (3 events each).
fn write_recording(path: &Path, requests: u64) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(out, "{HEADER}").unwrap();
    for id in 0..requests {
        let t = 1_000 * id + 1_000_000;
        writeln!(out, "{{\"t\":{t},\"ev\":\"request_arrived\",\"id\":{id}}}").unwrap();
        writeln!(
            out,
            "{{\"t\":{t},\"ev\":\"request_started\",\"id\":{id},\"worker\":{}}}",
            id % 8
        )
        .unwrap();
        writeln!(
            out,
            "{{\"t\":{},\"ev\":\"request_completed\",\"id\":{id},\"worker\":{},\"latency\":500,\"ok\":true}}",
            t + 500,
            id % 8
        )
        .unwrap();
    }
    out.flush().unwrap();
}

/// The peak resident size a load and headless replay of `path` adds.
fn replay_peak(path: &Path) -> u64 {
    let before = status_bytes("VmRSS:").unwrap();
    assert!(reset_peak());
    let recording = Recording::load(path).unwrap();
    run::replay_headless(recording, Pace::Fast).unwrap();
    status_bytes("VmHWM:").unwrap().saturating_sub(before)
}

/// A replay holds its events once: 40 bytes each (the size of an
/// `Event`), within 25 %, beyond what a replay of a tiny recording costs.
#[test]
fn replay_memory_per_event_stays_within_a_quarter_of_the_event_size() {
    if status_bytes("VmHWM:").is_none() || !reset_peak() {
        assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "needs /proc/self (Linux)");
        eprintln!("skipped: no /proc/self/status or clear_refs (not Linux)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("fantop-replay-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (small, big) = (dir.join("small.jsonl"), dir.join("big.jsonl"));
    write_recording(&small, 1_000);
    write_recording(&big, 250_000);
    // What a replay costs besides its events (rings, histograms, threads).
    let fixed = replay_peak(&small);
    let events = 3 * 250_000u64;
    let per_event = replay_peak(&big).saturating_sub(fixed) as f64 / events as f64;
    let bound = 1.25 * std::mem::size_of::<Event>() as f64;
    eprintln!(
        "replay memory: {per_event:.1} bytes an event (bound {bound}; fixed {} KiB)",
        fixed / 1024
    );
    assert!(
        per_event <= bound,
        "{per_event:.1} bytes an event, more than {bound} (1.25 × size_of::<Event>())"
    );
    std::fs::remove_dir_all(&dir).ok();
}
