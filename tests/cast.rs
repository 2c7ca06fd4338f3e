//! Offscreen casts: a scenario rendered without a terminal into an
//! asciicast v2 file, checked by replaying it through a terminal emulator.

use std::path::PathBuf;
use std::process::Command;

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fantop-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

const SCENARIO: &str = r#"
name = "cast test"
description = "a slow subscriber is evicted while a worker stalls"
[settings]
seed = 11
[[step]]
at = "2s"
action = "slow_subscriber"
[[step]]
at = "5s"
action = "stall"
worker = 3
for = "3s"
[[step]]
at = "10s"
action = "end"
"#;

struct Cast {
    header: serde_json::Value,
    events: Vec<(f64, String, String)>,
}

/// The scenario rendered once, shared by the tests (rendering in a debug
/// build takes a few seconds).
fn rendered() -> &'static Cast {
    static CAST: std::sync::OnceLock<Cast> = std::sync::OnceLock::new();
    CAST.get_or_init(|| {
        let dir = temp_dir("cast");
        let cast = render(&dir, "120x36");
        std::fs::remove_dir_all(&dir).ok();
        cast
    })
}

fn render(dir: &std::path::Path, size: &str) -> Cast {
    let scenario = dir.join("s.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let cast = dir.join("out.cast");
    let out = Command::new(env!("CARGO_BIN_EXE_fantop"))
        .args([
            "--scenario",
            scenario.to_str().unwrap(),
            "--offscreen",
            "--size",
            size,
            "--cast",
        ])
        .arg(&cast)
        .env("TERM", "xterm-256color")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&cast).unwrap();
    let mut lines = text.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    let events = lines
        .map(|l| serde_json::from_str::<(f64, String, String)>(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    Cast { header, events }
}

/// The header and every event follow asciicast v2, in time order.
#[test]
fn offscreen_cast_is_valid_asciicast_v2() {
    let cast = rendered();
    let h = &cast.header;
    assert_eq!(h["version"], 2);
    assert_eq!((h["width"].as_u64(), h["height"].as_u64()), (Some(120), Some(36)));
    assert!(h["timestamp"].as_u64().is_some());
    assert!(h["title"].as_str().is_some());
    assert_eq!(h["env"]["TERM"], "xterm-256color");
    assert!(cast.events.windows(2).all(|w| w[0].0 <= w[1].0), "time goes forward");
    assert!(cast.events.iter().all(|e| ["o", "m", "r"].contains(&e.1.as_str())));
    // The last frame is at the scenario's end, in simulated seconds.
    assert_eq!(cast.events.last().unwrap().0, 10.0);
}

/// Scenario steps and injected faults are markers at their simulated times.
#[test]
fn scenario_steps_are_markers_at_their_times() {
    let cast = rendered();
    let markers: Vec<(f64, &str)> = cast
        .events
        .iter()
        .filter(|e| e.1 == "m")
        .map(|e| (e.0, e.2.as_str()))
        .collect();
    assert!(
        markers.iter().any(|(t, l)| *t == 2.0 && l.contains("slow subscriber")),
        "{markers:?}"
    );
    assert!(
        markers.iter().any(|(t, l)| *t == 5.0 && l.contains("stall w3")),
        "{markers:?}"
    );
    assert!(markers.iter().any(|(t, _)| *t == 10.0), "{markers:?}");
}

/// Played through a terminal emulator, the cast's last screen shows every
/// pane, the load, and the evicted slow subscriber.
#[test]
fn cast_replayed_through_a_terminal_emulator_shows_the_final_screen() {
    let cast = rendered();
    let (rows, cols) = (
        std::num::NonZeroU16::new(36).unwrap(),
        std::num::NonZeroU16::new(120).unwrap(),
    );
    let mut parser = vt100::Parser::new(rows, cols, 0);
    for (_, code, data) in &cast.events {
        if code == "o" {
            parser.process(data.as_bytes());
        }
    }
    let screen = parser.screen().contents();
    for title in ["Throughput", "Latency", "Subscribers", "Workers", "Events"] {
        assert!(screen.contains(title), "{title} missing:\n{screen}");
    }
    assert!(screen.contains("rate 2,000/s"), "{screen}");
    assert!(screen.contains("workers 8"), "{screen}");
    assert!(screen.contains("seed 11"), "{screen}");
    assert!(screen.contains("00:00:10"), "{screen}");
    let slow = screen
        .lines()
        .find(|l| l.contains("slow-1"))
        .unwrap_or_else(|| panic!("no slow-1 row:\n{screen}"));
    assert!(slow.contains("EVICTED"), "{slow}");
    assert!(screen.contains("slow-1 evicted"), "{screen}");
}
