//! `--screenshot FILE.svg`: the final frame as an SVG that parses as XML
//! and holds exactly the frame's text (pane titles, every number), each
//! cell's colours and attributes, and the theme's background; the file is
//! created exclusively, so an existing file is never overwritten.
//!
//! The library's SVG is compared cell by cell with the buffer it was made
//! from; the binary's `--offscreen --screenshot` run is checked for the
//! same titles and figures. (Quitting the live monitor and a replay with
//! `--screenshot` are driven in tmux, in `e2e_tmux.rs`.)

#[path = "support/svg_text.rs"]
mod svg_text;

use std::path::PathBuf;
use std::process::{Command, Output};

use fantop::broadcast::{self, BroadcastConfig};
use fantop::clock::Clock;
use fantop::collector::SnapshotReader;
use fantop::event::SECONDS;
use fantop::pipeline::{Sim, SimConfig};
use fantop::tui::app::{App, Mode};
use fantop::tui::svg::{frame_of, to_svg};
use fantop::tui::theme::Theme;
use ratatui::buffer::Buffer;
use ratatui::style::Modifier;
use svg_text::svg_rows;

const TITLES: [&str; 5] = [" Throughput ", " Latency ", " Subscribers ", " Workers ", " Events "];

/// An app that has seen 6 s of a seeded run, drawn at 120x36.
fn frame(theme: Theme) -> Buffer {
    let (mut publisher, broadcaster) = broadcast::channel(BroadcastConfig::default(), Clock::manual());
    let mut app = App::new(&broadcaster, SnapshotReader::default(), theme, Mode::Live { seed: 7 });
    let mut sim = Sim::new(SimConfig {
        seed: 7,
        ..Default::default()
    });
    let mut events = Vec::new();
    sim.advance_until(6 * SECONDS, &mut events);
    for chunk in events.chunks(2_048) {
        publisher.publish_all(chunk);
        publisher.flush();
        app.pump();
    }
    frame_of(&app, 120, 36)
}

/// The buffer's rows as text, trailing blanks trimmed.
fn buffer_rows(buf: &Buffer) -> Vec<String> {
    (0..buf.area.height)
        .map(|y| {
            let row: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
            row.trim_end().to_string()
        })
        .collect()
}

/// The SVG of a frame parses as XML and holds the frame's text exactly,
/// row by row and column by column: so every pane title and every number
/// on screen is in it, where the screen had it.
#[test]
fn screenshot_svg_parses_and_holds_the_frames_text_cell_by_cell() {
    for theme in [Theme::COLOR, Theme::LIGHT, Theme::MONO] {
        let buf = frame(theme);
        let svg = to_svg(&buf, theme);
        let (_, rows) = svg_rows(&svg);
        let expected = buffer_rows(&buf);
        let trimmed = |r: &[String]| {
            let mut r = r.to_vec();
            while r.last().is_some_and(String::is_empty) {
                r.pop();
            }
            r
        };
        assert_eq!(trimmed(&rows), trimmed(&expected), "{:?}", theme.name);
        let text = rows.join("\n");
        for title in TITLES {
            assert!(text.contains(title), "{title} missing:\n{text}");
        }
        assert!(
            rows[0].contains("seed 7") && rows[0].contains("00:00:06"),
            "{}",
            rows[0]
        );
        assert!(!svg.contains("<script") && !svg.contains("@font-face") && !svg.contains("href"));
    }
}

/// Cell attributes and colours carry over: the bold header words are bold,
/// the header bar is painted, and the light theme's page is white.
#[test]
fn screenshot_svg_keeps_colours_attributes_and_the_themes_background() {
    let buf = frame(Theme::LIGHT);
    assert!(
        buf[(1, 0)].modifier.contains(Modifier::BOLD),
        "the header's name is bold"
    );
    let svg = to_svg(&buf, Theme::LIGHT);
    let (doc, _) = svg_rows(&svg);
    let page = doc
        .descendants()
        .find(|n| n.has_tag_name("rect"))
        .expect("a background");
    assert_eq!(page.attribute("fill"), Some("#ffffff"));
    let name = doc
        .descendants()
        .find(|n| n.has_tag_name("tspan") && n.text() == Some("fantop"))
        .expect("the header's name");
    assert_eq!(name.attribute("font-weight"), Some("bold"));
    // The header bar (#eeeeee in the light palette) is one rectangle across.
    assert!(
        svg.contains("width=\"1008.0\" height=\"17.0\" fill=\"#eeeeee\""),
        "{svg}"
    );
    let mono = to_svg(&frame(Theme::MONO), Theme::MONO);
    assert!(
        mono.contains("<rect x=\"0.0\" y=\"0.0\" width=\"1008.0\" height=\"17.0\" fill=\"#e5e5e5\"/>"),
        "the reversed mono header is painted in the foreground colour"
    );
}

fn fantop(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fantop"))
        .args(args)
        .output()
        .expect("the fantop binary runs")
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fantop-screenshot-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("a temp dir");
    d
}

/// `--offscreen --screenshot FILE.svg` writes the final frame: it parses,
/// shows every pane title, the seed, the clock at the end and the rate;
/// the run says where it went. A second run to the same file fails with a
/// message naming it and leaves the file as it was.
#[test]
fn offscreen_screenshot_writes_the_last_frame_and_never_overwrites() {
    let dir = temp_dir("offscreen");
    let path = dir.join("shot.svg");
    let p = path.to_str().expect("a UTF-8 path");
    let args = [
        "--offscreen",
        "--screenshot",
        p,
        "--seed",
        "3",
        "--duration",
        "4s",
        "--size",
        "100x30",
        "--theme",
        "light",
    ];
    let out = fantop(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("screenshot (100x30) written to"), "{stdout}");
    let svg = std::fs::read_to_string(&path).expect("the screenshot");
    let (_, rows) = svg_rows(&svg);
    let text = rows.join("\n");
    for title in TITLES {
        assert!(text.contains(title), "{title} missing:\n{text}");
    }
    assert!(
        rows[0].contains("rate 2,000/s") && rows[0].contains("seed 3  00:00:04"),
        "{text}"
    );
    assert!(svg.contains("fill=\"#ffffff\""), "the light theme's page");

    let again = fantop(&args);
    assert_eq!(again.status.code(), Some(1));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("shot.svg: already exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).expect("still there"), svg);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--theme` takes dark or light and wins over `FANTOP_THEME`; a bad
/// value of either is a usage error (exit 2) naming where it came from;
/// `--screenshot` and `--theme` do nothing headless, so they are refused.
#[test]
fn theme_flag_and_environment_are_checked_and_the_flag_wins() {
    let run = |env: Option<&str>, args: &[String]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_fantop"));
        c.args(args).env_remove("FANTOP_THEME");
        if let Some(v) = env {
            c.env("FANTOP_THEME", v);
        }
        c.output().expect("the fantop binary runs")
    };
    let strings = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let dir = temp_dir("theme");
    let offscreen = |name: &str, extra: &[&str]| {
        let path = dir.join(name).to_string_lossy().into_owned();
        let mut a = strings(&["--offscreen", "--duration", "1s", "--seed", "1", "--screenshot", &path]);
        a.extend(strings(extra));
        a
    };

    let bad_env = run(Some("purple"), &offscreen("a.svg", &[]));
    assert_eq!(bad_env.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad_env.stderr);
    assert!(err.contains("FANTOP_THEME") && err.contains("dark or light"), "{err}");
    assert!(!dir.join("a.svg").exists(), "a usage error writes nothing");

    let bad_flag = run(None, &strings(&["--theme", "purple"]));
    assert_eq!(bad_flag.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad_flag.stderr);
    assert!(err.contains("--theme") && err.contains("dark or light"), "{err}");

    // The flag wins over a bad environment value; the environment alone works.
    let flag_wins = run(Some("purple"), &offscreen("b.svg", &["--theme", "light"]));
    assert!(
        flag_wins.status.success(),
        "{}",
        String::from_utf8_lossy(&flag_wins.stderr)
    );
    let env_light = run(Some("light"), &offscreen("c.svg", &[]));
    assert!(env_light.status.success());
    for f in ["b.svg", "c.svg"] {
        let svg = std::fs::read_to_string(dir.join(f)).expect("written");
        assert!(
            svg.contains("<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>"),
            "{f}"
        );
    }

    for args in [
        &["--headless", "--duration", "1s", "--screenshot", "x.svg"][..],
        &["--headless", "--duration", "1s", "--theme", "light"][..],
    ] {
        let out = run(None, &strings(args));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
