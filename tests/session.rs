//! The run's session and stack: a scenario's app-level steps happen at their
//! exact simulated time in every mode, `--headless --fast` is reproducible
//! and agrees with `--offscreen`, recordings never overwrite each other, and
//! a replay counts exactly what its recording holds, whatever the seeks.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use fantop::event::{Event, Nanos, SECONDS};
use fantop::pipeline::Command as PipelineCommand;
use fantop::run::{self, HeadlessOptions, Stack};
use fantop::session::recording::Recording;
use fantop::session::replay::{DEFAULT_MAX_IDLE, IdleSkip, Pace, PlayerControl};
use fantop::session::scenario;
use fantop::session::{Intent, RecordingSetup, Session, SessionOptions};
use fantop::tui::app::{App, Effect, Mode};
use fantop::tui::theme::Theme;
use fantop::tui::{Driver, ReplayDriver};

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fantop-session-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn fantop(args: &[&str], cwd: &Path) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_fantop"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "fantop {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn shipped() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

fn scenario_path(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/scenarios")
        .join(name)
        .display()
        .to_string()
}

/// What a run did that the modes must agree on, read from its notes
/// (`fantop: …` lines): evictions with their simulated time, and the
/// recordings (events each holds), in order.
#[derive(Debug, PartialEq)]
struct Outcome {
    evictions: Vec<String>,
    recorded: Vec<u64>,
    files: Vec<PathBuf>,
}

fn outcome(notes: &str, cwd: &Path) -> Outcome {
    let mut o = Outcome {
        evictions: Vec::new(),
        recorded: Vec::new(),
        files: Vec::new(),
    };
    for line in notes.lines().filter_map(|l| l.strip_prefix("fantop: ")) {
        if line.contains(" evicted at ") {
            o.evictions.push(line.to_string());
        } else if let Some(rest) = line.strip_prefix("recorded ") {
            let (n, path) = rest.split_once(" events to ").expect("recorded N events to PATH");
            o.recorded.push(n.replace(',', "").parse().unwrap());
            o.files.push(cwd.join(path));
        }
    }
    o
}

/// A headless `--fast` run's summary without its wall-clock field, and its outcome.
fn headless_fast(scenario: &str, cwd: &Path) -> (serde_json::Value, Outcome) {
    let out = fantop(&["--headless", "--fast", "--scenario", scenario], cwd);
    let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_object_mut()
        .unwrap()
        .remove("elapsed_s")
        .expect("elapsed_s is the wall-clock field");
    (v, outcome(&String::from_utf8_lossy(&out.stderr), cwd))
}

fn offscreen(scenario: &str, cwd: &Path) -> Outcome {
    let out = fantop(&["--offscreen", "--cast", "run.cast", "--scenario", scenario], cwd);
    outcome(&String::from_utf8_lossy(&out.stdout), cwd)
}

/// Three `--headless --fast` runs of each shipped scenario print the same
/// summary (but for `elapsed_s`), and evict and record as `--offscreen` does.
#[test]
fn fast_headless_runs_of_every_shipped_scenario_agree_with_each_other_and_with_offscreen() {
    let files = shipped();
    assert!(files.len() >= 4, "{files:?}");
    for path in files {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let scenario = path.display().to_string();
        let dir = temp_dir(&format!("agree-{name}"));
        let (first, fast) = headless_fast(&scenario, &dir);
        for _ in 0..2 {
            let (again, fast_again) = headless_fast(&scenario, &dir);
            assert_eq!(again, first, "{name}: summaries differ between --fast runs");
            assert_eq!(fast_again.evictions, fast.evictions, "{name}");
            assert_eq!(fast_again.recorded, fast.recorded, "{name}");
        }
        let off = offscreen(&scenario, &dir);
        assert_eq!(
            off.evictions, fast.evictions,
            "{name}: evictions differ from --offscreen"
        );
        assert_eq!(
            off.recorded, fast.recorded,
            "{name}: recordings differ from --offscreen"
        );
        // The summary's record of slow subscribers says the same as the notes.
        let evicted = first["slow_subscribers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| !s["evicted_s"].is_null())
            .count();
        assert_eq!(evicted, fast.evictions.len(), "{name}");
        std::fs::remove_dir_all(&dir).ok();
    }
}

/// The slow-subscriber story evicts slow-1 with `--fast`, about 2.8 s after
/// it was added (a full queue, then 2 s lagging), at the same simulated time
/// as `--offscreen`.
#[test]
fn slow_subscriber_scenario_evicts_slow_1_in_fast_mode_when_offscreen_does() {
    let dir = temp_dir("evicts");
    let scenario = scenario_path("slow-subscriber.toml");
    let (summary, fast) = headless_fast(&scenario, &dir);
    let slow1 = &summary["slow_subscribers"][0];
    assert_eq!(slow1["name"], "slow-1");
    assert_eq!(slow1["added_s"], 4.0, "added at its step's exact time");
    let evicted = slow1["evicted_s"].as_f64().expect("slow-1 is evicted");
    assert!((6.0..7.5).contains(&evicted), "slow-1 evicted at {evicted} s");
    let state = summary["subscribers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "slow-1")
        .map(|s| s["state"].clone());
    assert_eq!(state, Some("evicted".into()));
    assert!(
        fast.evictions[0].starts_with("slow-1 evicted at "),
        "{:?}",
        fast.evictions
    );
    let off = offscreen(&scenario, &dir);
    assert_eq!(off.evictions[0], fast.evictions[0]);
    std::fs::remove_dir_all(&dir).ok();
}

fn span(file: &Path) -> (Nanos, Nanos, usize) {
    let r = Recording::load(file).unwrap();
    let first = r.events.first().expect("events").t;
    (first, r.length(), r.events.len())
}

/// `record-window.toml` writes two files in `--headless --fast` and two in
/// `--offscreen`: each holds exactly its window (2–4 s, 6–9 s), the modes
/// hold the same events, and no run reuses or overwrites another's file.
#[test]
fn record_windows_write_two_files_with_their_spans_in_fast_and_offscreen_alike() {
    let dir = temp_dir("windows");
    let scenario = scenario_path("record-window.toml");
    let windows = [(2 * SECONDS, 4 * SECONDS), (6 * SECONDS, 9 * SECONDS)];
    let (_, fast) = headless_fast(&scenario, &dir);
    assert_eq!(fast.files.len(), 2, "{fast:?}");
    let fast_bytes: Vec<Vec<u8>> = fast.files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    let off = offscreen(&scenario, &dir);
    assert_eq!(off.files.len(), 2, "{off:?}");
    let mut all: Vec<&PathBuf> = fast.files.iter().chain(&off.files).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 4, "every recording has its own file: {all:?}");
    for (f, bytes) in fast.files.iter().zip(&fast_bytes) {
        assert_eq!(&std::fs::read(f).unwrap(), bytes, "{} was overwritten", f.display());
    }
    for run in [&fast, &off] {
        for (file, (from, to)) in run.files.iter().zip(windows) {
            let (first, last, n) = span(file);
            assert!(
                from <= first && last <= to,
                "{}: {first}..{last} outside {from}..{to}",
                file.display()
            );
            assert!(last > from + SECONDS, "{} holds its whole window", file.display());
            assert!(n > 1000, "{}: {n} events", file.display());
        }
    }
    assert_eq!(fast.recorded, off.recorded);
    for (a, b) in fast.files.iter().zip(&off.files) {
        assert_eq!(span(a), span(b), "{} and {} differ", a.display(), b.display());
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Polls `done` (the player works on its own thread) for at most a minute.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn record_run(dir: &Path) -> PathBuf {
    let file = dir.join("run.jsonl");
    let s = scenario::load(Path::new(&scenario_path("worker-faults.toml"))).unwrap();
    let mut sim = fantop::pipeline::SimConfig {
        seed: 9,
        ..Default::default()
    };
    sim.rate = 1500.0;
    let run = run::headless(HeadlessOptions {
        sim,
        duration: Some(25 * SECONDS),
        fast: true,
        timeline: s.timeline(),
        steps: s.steps.iter().map(|st| st.what).collect(),
        record: Some(file.clone()),
        scenario: None,
    })
    .unwrap();
    assert_eq!(run.recordings.len(), 1);
    run.recordings[0].path.clone()
}

/// A replay driven through the TUI's replay driver, with seeks back and
/// forth (and past either end), ends with the collector holding exactly
/// what `replay FILE --headless --fast` counts.
#[test]
fn replay_after_seeks_counts_exactly_what_the_recording_holds() {
    let dir = temp_dir("seeks");
    let file = record_run(&dir);
    let expected = run::replay_headless(Recording::load(&file).unwrap(), Pace::Fast)
        .unwrap()
        .summary;
    let recording = Recording::load(&file).unwrap();

    let mut stack = Stack::for_replay();
    let start = recording.events.first().unwrap().t;
    let snapshots = stack.snapshots();
    let mut app = App::new(
        &stack.broadcaster,
        snapshots.clone(),
        Theme::from_env(true),
        Mode::Replay {
            seed: Some(recording.header.seed),
            position: start,
            length: recording.length(),
            paused: false,
            ended: false,
        },
    );
    let session = run::replay_session(&stack, &recording);
    let pace = Pace::Paced {
        speed: 100.0,
        max_idle: DEFAULT_MAX_IDLE,
    };
    let player = stack.play(recording.events.clone(), pace, true).unwrap();
    let mut driver = ReplayDriver {
        stack,
        player: player.clone(),
        session,
    };
    // The panes take what the player publishes (it waits for them), as
    // the loop's frames would.
    driver.effect(&mut app, Effect::Control(PipelineCommand::TogglePause));
    wait_until("paused", || {
        app.pump();
        player.paused()
    });
    let seek = |driver: &mut ReplayDriver, app: &mut App, player: &PlayerControl, secs: i64| {
        let to = (player.now() as i64 + secs * SECONDS as i64).clamp(player.start as i64, player.length as i64);
        driver.effect(app, Effect::Seek(secs));
        wait_until("the seek", || {
            app.pump();
            player.now() == to as Nanos
        });
    };
    for secs in [10, -10, 10, 10, -10, -30, 20, 100, -10, 10, -100, 10] {
        seek(&mut driver, &mut app, &player, secs);
    }
    driver.effect(&mut app, Effect::Control(PipelineCommand::TogglePause));
    wait_until("the end of the replay", || {
        app.pump();
        player.done()
    });
    // What the panes resync from is the collector running now, not one a
    // seek back replaced.
    wait_until("the panes' snapshot to cover the recording", || {
        snapshots.load().totals.arrived == expected.requests.arrived
    });
    let ReplayDriver { stack, mut session, .. } = driver;
    let finished = stack.finish(&mut session, app);
    let t = finished.snapshot.totals;
    let r = &expected.requests;
    assert_eq!(
        (t.arrived, t.succeeded, t.failed, t.rejected),
        (r.arrived, r.succeeded, r.failed, r.rejected)
    );
    let l = finished.snapshot.latency_total;
    assert_eq!(
        (l.p99 as f64 / 1e3, l.max as f64 / 1e3),
        (expected.latency_us.p99, expected.latency_us.max)
    );
    assert_eq!(l.count, t.completed(), "each completion counted once");
    assert_eq!(finished.snapshot.queue_max_depth, expected.queue.max_depth);
    std::fs::remove_dir_all(&dir).ok();
}

/// A recording started mid-run replays from its first event: the position
/// starts there (not at 0), and seeking back stops there.
#[test]
fn a_replay_of_a_recording_started_mid_run_starts_at_its_first_event() {
    let dir = temp_dir("mid-run");
    let (_, fast) = headless_fast(&scenario_path("record-window.toml"), &dir);
    let recording = Recording::load(&fast.files[1]).unwrap();
    let first = recording.events.first().unwrap().t;
    assert!(first >= 6 * SECONDS, "the second window starts at 6 s, not {first}");
    let mut stack = Stack::for_replay();
    let mut session = run::replay_session(&stack, &recording);
    let player = stack
        .play(
            recording.events.clone(),
            Pace::Paced {
                speed: 1.0,
                max_idle: DEFAULT_MAX_IDLE,
            },
            true,
        )
        .unwrap();
    assert_eq!(player.start, first);
    assert!(
        player.now() >= first,
        "position {} before the first event",
        player.now()
    );
    player.toggle_pause();
    wait_until("paused", || player.paused());
    player.seek(0);
    wait_until("back at the first event", || player.now() == first);
    let finished = stack.finish(&mut session, ());
    assert!(finished.snapshot.events > 0, "the first events were played at once");
    std::fs::remove_dir_all(&dir).ok();
}

/// In real time the pipeline thread hands app-level steps to the headless
/// loop's session: each is carried out once, stamped with its step's time.
#[test]
fn real_time_headless_carries_out_app_steps_once_at_their_time() {
    let dir = temp_dir("real-time");
    let file = dir.join("s.toml");
    std::fs::write(
        &file,
        "[[step]]\nat = \"200ms\"\naction = \"slow_subscriber\"\n\
         [[step]]\nat = \"300ms\"\naction = \"remove_slow_subscriber\"\n\
         [[step]]\nat = \"600ms\"\naction = \"end\"\n",
    )
    .unwrap();
    let out = fantop(
        &["--headless", "--scenario", file.to_str().unwrap(), "--seed", "1"],
        &dir,
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let slow = v["slow_subscribers"].as_array().unwrap();
    assert_eq!(slow.len(), 1, "{slow:?}");
    assert_eq!(slow[0]["name"], "slow-1");
    assert_eq!(slow[0]["added_s"], 0.2);
    assert_eq!(slow[0]["removed_s"], 0.3);
    std::fs::remove_dir_all(&dir).ok();
}

/// The events of a recording file (its lines after the header).
fn recorded_events(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect()
}

/// In real time too, a recording window opens and closes at its steps'
/// exact simulated times: the pipeline waits for the session to start or
/// stop the recorder, so the file holds exactly what the `--fast` run's
/// does, beginning with the settings it starts from.
#[test]
fn a_real_time_recording_window_holds_exactly_what_the_fast_one_does() {
    let scenario = "[settings]\nseed = 3\nrate = 2000\n\
         [[step]]\nat = \"200ms\"\naction = \"record_start\"\n\
         [[step]]\nat = \"500ms\"\naction = \"record_stop\"\n\
         [[step]]\nat = \"600ms\"\naction = \"end\"\n";
    let mut files = Vec::new();
    for fast in [true, false] {
        let dir = temp_dir(if fast { "window-fast" } else { "window-real" });
        std::fs::write(dir.join("w.toml"), scenario).unwrap();
        let mut args = vec!["--headless", "--scenario", "w.toml", "--record", "w.jsonl"];
        if fast {
            args.push("--fast");
        }
        fantop(&args, &dir);
        files.push(recorded_events(&dir.join("w.jsonl")));
        std::fs::remove_dir_all(&dir).ok();
    }
    let (fast, real) = (&files[0], &files[1]);
    assert!(fast.len() > 100, "{} events recorded", fast.len());
    assert!(
        fast[0].contains("\"t\":200000000") && fast[0].contains("load_changed"),
        "{}",
        fast[0]
    );
    assert_eq!(real.len(), fast.len(), "first: {} / {}", real[0], fast[0]);
    assert_eq!(real, fast);
}

/// Arrivals at these times, ids in order.
fn arrivals(times: &[Nanos]) -> Vec<Event> {
    times
        .iter()
        .enumerate()
        .map(|(id, &t)| Event::new(t, fantop::event::EventKind::RequestArrived { id: id as u64 }))
        .collect()
}

/// A seek into an idle gap plays `max_idle` of it and then jumps to the
/// next event; each jump is reported once (with the gap as measured from
/// the seek), seeks report none, and the position stays recording time
/// (exactly the seek's target, then each event's time, then the length).
#[test]
fn a_seek_into_an_idle_gap_plays_max_idle_of_it_then_jumps() {
    let events = arrivals(&[0, 100 * SECONDS, 200 * SECONDS]);
    let max_idle = 50 * fantop::event::MILLIS;
    let mut stack = Stack::for_replay();
    let mut session = run::replay_session(&stack, &recording_of(events.clone()));
    let player = stack.play(events, Pace::Paced { speed: 1.0, max_idle }, true).unwrap();
    player.toggle_pause();
    wait_until("paused", || player.paused());
    player.seek(50 * SECONDS);
    wait_until("at the seek's target", || player.now() == 50 * SECONDS);
    // Whatever the player did before the pause landed: from here on, it is exact.
    let _ = player.take_skips();
    player.toggle_pause();
    wait_until("the end", || player.done());
    assert_eq!(player.now(), 200 * SECONDS);
    let skips = player.take_skips();
    assert_eq!(
        skips,
        [
            IdleSkip {
                to: 100 * SECONDS,
                gap: 50 * SECONDS,
                skipped: 50 * SECONDS - max_idle,
            },
            IdleSkip {
                to: 200 * SECONDS,
                gap: 100 * SECONDS,
                skipped: 100 * SECONDS - max_idle,
            },
        ]
    );
    // Seeking back over both gaps publishes what it passes and reports nothing.
    player.toggle_pause();
    wait_until("paused", || player.paused());
    player.seek(0);
    wait_until("back at the start", || player.now() == 0);
    assert!(player.take_skips().is_empty());
    let finished = stack.finish(&mut session, ());
    assert!(finished.snapshot.events > 0);
}

/// A recording of `events` with a plain header.
fn recording_of(events: Vec<Event>) -> Recording {
    let config = run::config_summary(&fantop::pipeline::SimConfig::default(), None, false);
    Recording {
        path: PathBuf::from("mem.jsonl"),
        header: fantop::session::record::Header::new(1, config, None),
        events,
        missed: 0,
        warning: None,
    }
}

/// The TUI's replay: a 31-year idle gap is jumped over, the Events pane
/// says so once, and at the end the header says ENDED.
#[test]
fn a_tui_replay_logs_a_skipped_idle_gap_once_and_says_ended() {
    // 31 years of 365.25 days.
    let years_31 = 31 * 36_525 * 864 * SECONDS;
    let events = arrivals(&[0, SECONDS / 1000, years_31, years_31 + 1]);
    let recording = recording_of(events);
    let stack = Stack::for_replay();
    let mut app = App::new(
        &stack.broadcaster,
        stack.snapshots(),
        Theme::from_env(true),
        Mode::Replay {
            seed: Some(1),
            position: 0,
            length: recording.length(),
            paused: false,
            ended: false,
        },
    );
    let session = run::replay_session(&stack, &recording);
    let mut stack = stack;
    let pace = Pace::Paced {
        speed: 1.0,
        max_idle: 20 * fantop::event::MILLIS,
    };
    let player = stack.play(recording.events.clone(), pace, true).unwrap();
    let mut driver = ReplayDriver {
        stack,
        player: player.clone(),
        session,
    };
    let draw = |app: &App| {
        let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 36)).unwrap();
        t.draw(|f| app.draw(f)).unwrap();
        let b = t.backend().buffer().clone();
        (0..b.area.height)
            .map(|y| (0..b.area.width).map(|x| b[(x, y)].symbol()).collect::<String>())
            .collect::<Vec<_>>()
    };
    assert!(!draw(&app)[0].contains("ENDED"), "{}", draw(&app)[0]);
    wait_until("the end of the replay", || {
        app.pump();
        driver.tick(&mut app);
        player.done() && app.now() == years_31 + 1
    });
    driver.tick(&mut app);
    let screen = draw(&app);
    assert!(screen[0].contains("REPLAY ENDED"), "{}", screen[0]);
    let logged = screen
        .iter()
        .filter(|l| l.contains("skipped 31y of a 31y idle gap"))
        .count();
    assert_eq!(logged, 1, "{}", screen.join("\n"));
    let ReplayDriver { stack, mut session, .. } = driver;
    stack.finish(&mut session, app);
}

/// What `r` does with a `--record` FIFO made after the run started (no
/// reader): the session refuses it at once, naming it, never waiting in
/// open(), so the monitor's loop (and `q`) goes on.
#[test]
fn the_r_key_never_waits_for_a_fifo_reader() {
    let dir = temp_dir("r-fifo");
    let fifo = dir.join("p.jsonl");
    match Command::new("mkfifo").arg(&fifo).status() {
        Ok(s) if s.success() => {}
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => panic!("mkfifo is required under CI"),
        _ => {
            eprintln!("skipping: mkfifo is not available");
            return;
        }
    }
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let f = fifo.clone();
    // The session is the UI thread's (not Send): it lives on this thread.
    std::thread::spawn(move || {
        let (publisher, broadcaster) = fantop::broadcast::channel(
            fantop::broadcast::BroadcastConfig::default(),
            fantop::clock::Clock::start(),
        );
        let mut session = Session::new(
            &broadcaster,
            SessionOptions {
                recording: RecordingSetup {
                    seed: 1,
                    config: run::config_summary(&fantop::pipeline::SimConfig::default(), None, false),
                    scenario: None,
                    path: Some(f),
                },
                steps: Vec::new(),
                virtual_time: false,
            },
        );
        let first = session.toggle_recording(&mut |_| {});
        let failures = session.failures();
        drop(publisher);
        let _ = done_tx.send((first, failures));
    });
    let (first, failures) = done_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("r returned (it waits for a FIFO reader)");
    let why = format!("{}: is a FIFO", fifo.display());
    match first {
        Intent::OutputFailed {
            recording: true,
            why: w,
        } => assert!(w.starts_with(&why), "{w}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(failures.len(), 1, "{failures:?}");
    std::fs::remove_dir_all(&dir).ok();
}
