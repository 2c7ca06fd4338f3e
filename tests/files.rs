//! The files and streams a run writes, at their edges: no output ever
//! clobbers an input, another output or an existing file; a FIFO never makes
//! a run wait; a full disk, a closed pipe or a full stdout/stderr is said in
//! one line naming the file and ends in exit status 1, never a panic (101);
//! and the exit line lists every file the run wrote. The real binary, run as
//! a child process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fantop-files-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn fantop(args: &[&str], cwd: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fantop"));
    c.args(args).current_dir(cwd).stdin(Stdio::null());
    c
}

fn run(args: &[&str], cwd: &Path) -> Output {
    fantop(args, cwd).output().expect("the fantop binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Waits for a child for at most a minute; a child still running then is
/// killed and the test fails (it hung).
fn wait_or_fail(mut child: Child, what: &str) -> Output {
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what}: still running after a minute (it hangs)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// The last screen of an asciicast, played through a terminal emulator.
fn last_screen(cast: &Path, cols: u16, rows: u16) -> String {
    let text = std::fs::read_to_string(cast).unwrap();
    let mut parser = vt100::Parser::new(
        std::num::NonZeroU16::new(rows).unwrap(),
        std::num::NonZeroU16::new(cols).unwrap(),
        0,
    );
    for line in text.lines().skip(1) {
        let (_, code, data): (f64, String, String) = serde_json::from_str(line).unwrap();
        if code == "o" {
            parser.process(data.as_bytes());
        }
    }
    parser.screen().contents()
}

/// A FIFO made with `mkfifo`, or `None` (with a one-line message) where
/// there is no `mkfifo` outside CI.
fn fifo(dir: &Path, name: &str) -> Option<PathBuf> {
    let p = dir.join(name);
    match Command::new("mkfifo").arg(&p).status() {
        Ok(s) if s.success() => Some(p),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => panic!("mkfifo is required under CI"),
        _ => {
            eprintln!("skipping a FIFO check: mkfifo is not available");
            None
        }
    }
}

/// A file opened for writing on /dev/full (every write fails with ENOSPC).
fn dev_full() -> std::fs::File {
    std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap()
}

/// `--record`/`--cast` naming the `--scenario` file, or one another, is a
/// usage error (exit 2) naming both flags, however the path is spelled; the
/// input is left as it was.
#[test]
fn an_output_that_is_an_input_or_another_output_is_a_usage_error() {
    let dir = temp_dir("clobber");
    let scenario = "[[step]]\nat = \"1s\"\naction = \"end\"\n";
    std::fs::write(dir.join("m.toml"), scenario).unwrap();
    let cases: &[(&[&str], [&str; 2])] = &[
        (
            &["--scenario", "m.toml", "--record", "m.toml", "--headless"],
            ["--record", "--scenario"],
        ),
        (
            &["--scenario", "m.toml", "--cast", "./m.toml", "--offscreen"],
            ["--cast", "--scenario"],
        ),
        (
            &[
                "--cast",
                "x.cast",
                "--record",
                "./x.cast",
                "--offscreen",
                "--duration",
                "1s",
            ],
            ["--record", "--cast"],
        ),
        (
            &["--cast", "sub/../y", "--record", "y", "--offscreen", "--duration", "1s"],
            ["--record", "--cast"],
        ),
    ];
    for (args, flags) in cases {
        let out = run(args, &dir);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        for f in flags {
            assert!(err.contains(f), "{args:?} does not name {f}: {err}");
        }
        assert!(!err.contains("panicked"), "{err}");
    }
    assert_eq!(std::fs::read_to_string(dir.join("m.toml")).unwrap(), scenario);
    assert!(
        !dir.join("x.cast").exists() && !dir.join("y").exists(),
        "nothing was written"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// A `--record` or `--cast` file that exists is refused in one line naming
/// it (exit 1), and left untouched.
#[test]
fn an_existing_output_file_is_refused_and_left_alone() {
    let dir = temp_dir("exists");
    std::fs::write(dir.join("r.jsonl"), "mine").unwrap();
    std::fs::write(dir.join("c.cast"), "mine too").unwrap();
    for args in [
        &[
            "--headless",
            "--fast",
            "--duration",
            "1s",
            "--seed",
            "1",
            "--record",
            "r.jsonl",
        ][..],
        &["--offscreen", "--duration", "1s", "--seed", "1", "--cast", "c.cast"][..],
    ] {
        let out = run(args, &dir);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        let name = args.last().unwrap();
        assert_eq!(
            err.trim(),
            format!(
                "fantop: error: {name}: already exists (fantop never overwrites a file: remove it or give another name)"
            )
        );
    }
    assert_eq!(std::fs::read_to_string(dir.join("r.jsonl")).unwrap(), "mine");
    assert_eq!(std::fs::read_to_string(dir.join("c.cast")).unwrap(), "mine too");
    std::fs::remove_dir_all(&dir).ok();
}

/// Two runs started together with the same `--record` file: exactly one
/// writes it, the other is refused naming it, and neither writes elsewhere.
#[test]
fn two_runs_given_the_same_record_file_never_both_write_it() {
    let dir = temp_dir("race");
    let args = [
        "--headless",
        "--fast",
        "--duration",
        "3s",
        "--seed",
        "1",
        "--record",
        "r.jsonl",
    ];
    let a = fantop(&args, &dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let b = fantop(&args, &dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let outs = [wait_or_fail(a, "run a"), wait_or_fail(b, "run b")];
    let ok = outs.iter().filter(|o| o.status.success()).count();
    assert_eq!(ok, 1, "{:?}", outs.iter().map(|o| text(&o.stderr)).collect::<Vec<_>>());
    let refused = outs.iter().find(|o| !o.status.success()).unwrap();
    assert!(
        text(&refused.stderr).contains("r.jsonl: already exists"),
        "{}",
        text(&refused.stderr)
    );
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    files.sort();
    assert_eq!(files, ["r.jsonl"]);
    fantop::session::recording::Recording::load(&dir.join("r.jsonl")).expect("one whole recording");
    std::fs::remove_dir_all(&dir).ok();
}

/// `--record` or `--cast` naming a FIFO that nobody reads ends at once with
/// one line naming it, instead of waiting in open() for a reader.
#[test]
fn an_output_to_a_fifo_is_refused_without_waiting_for_a_reader() {
    let dir = temp_dir("fifo");
    let Some(p) = fifo(&dir, "p") else { return };
    let p = p.to_str().unwrap();
    for args in [
        &["--headless", "--fast", "--duration", "1s", "--record", p][..],
        &["--offscreen", "--duration", "1s", "--cast", p][..],
    ] {
        let child = fantop(args, &dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = wait_or_fail(child, &format!("{args:?}"));
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.trim().starts_with(&format!("fantop: error: {p}: is a FIFO")),
            "{err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A character device (`/dev/null` here; a terminal, `/dev/stdout` on a
/// terminal) is written in place, and named in the exit line.
#[test]
fn a_record_or_cast_to_a_character_device_is_written_in_place() {
    let dir = temp_dir("device");
    let out = run(
        &[
            "--headless",
            "--fast",
            "--duration",
            "1s",
            "--seed",
            "1",
            "--record",
            "/dev/null",
        ],
        &dir,
    );
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains(" events to /dev/null"), "{err}");
    // One device may take several outputs: nothing is clobbered.
    let out = run(
        &[
            "--offscreen",
            "--duration",
            "1s",
            "--cast",
            "/dev/null",
            "--record",
            "/dev/null",
        ],
        &dir,
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains(" events to /dev/null\n"), "{stdout}");
    assert!(stdout.contains("fantop: cast written to /dev/null"), "{stdout}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A recording to a full disk (`/dev/full`): the headless run goes to its
/// end, still prints its JSON summary, says which file failed and why in
/// one line, and exits 1 — in simulated and in real time.
#[test]
fn a_full_disk_under_record_still_prints_the_summary_and_exits_1() {
    let dir = temp_dir("full");
    for fast in [true, false] {
        let mut args = vec!["--headless", "--duration", "1s", "--seed", "3", "--record", "/dev/full"];
        if fast {
            args.push("--fast");
        }
        let out = run(&args, &dir);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the JSON summary");
        assert_eq!(v["seed"], 3);
        assert!(v["requests"]["succeeded"].as_u64().unwrap() > 0, "{v}");
        assert!(
            err.lines()
                .any(|l| l == "fantop: error: /dev/full: No space left on device"),
            "{err}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// In the monitor, a recording that fails turns `● REC` into `REC FAILED`
/// and the Events pane says why (seen here in the frames of an offscreen
/// cast); the run goes on, and exits 1 naming the file.
#[test]
fn a_failed_recording_shows_rec_failed_and_the_run_exits_1() {
    let dir = temp_dir("rec-failed");
    let out = run(
        &[
            "--offscreen",
            "--duration",
            "2s",
            "--seed",
            "3",
            "--size",
            "120x36",
            "--cast",
            "c.cast",
            "--record",
            "/dev/full",
        ],
        &dir,
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("fantop: error: /dev/full: No space left on device"),
        "{err}"
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("fantop: ran 00:00:02"),
        "the run went to its end: {stdout}"
    );
    assert!(stdout.contains("cast written to c.cast"), "{stdout}");
    let screen = last_screen(&dir.join("c.cast"), 120, 36);
    let mut lines = screen.lines();
    let header = lines.next().unwrap();
    assert!(header.contains("REC FAILED") && !header.contains("● REC"), "{screen}");
    let flash = lines.next().unwrap();
    assert!(
        flash.contains("recording failed: /dev/full: No space left on device"),
        "{screen}"
    );
    let events = lines
        .skip_while(|l| !l.contains("Events"))
        .find(|l| l.contains("recording failed"))
        .unwrap_or_else(|| panic!("the Events pane does not say why:\n{screen}"));
    assert!(events.contains("/dev/full"), "{events}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A cast that fails (a full disk) does not end the run in silence: the run
/// goes on, its exit line still lists every file it wrote, and it exits 1
/// with one line naming the cast.
#[test]
fn a_failed_cast_is_named_and_the_exit_line_still_lists_the_files_written() {
    let dir = temp_dir("cast-failed");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenarios/record-window.toml");
    let out = run(
        &[
            "--offscreen",
            "--scenario",
            scenario.to_str().unwrap(),
            "--cast",
            "/dev/full",
            "--record",
            "w.jsonl",
        ],
        &dir,
    );
    let err = text(&out.stderr);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{err}");
    assert_eq!(err.trim(), "fantop: error: /dev/full: No space left on device");
    assert!(stdout.contains("fantop: ran 00:00:30"), "{stdout}");
    // Both windows, stopped by their record_stop steps.
    for f in ["w.jsonl", "w-2.jsonl"] {
        assert!(
            stdout.contains(&format!(" events to {f}\n")),
            "{f} is not listed: {stdout}"
        );
        assert!(dir.join(f).exists());
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A full stdout or stderr (`>/dev/full`, `2>/dev/full`) or a closed pipe
/// never panics (exit 101): a run that had something to print there exits 1;
/// one that printed nothing there exits 0.
#[test]
fn a_full_or_closed_stdout_or_stderr_exits_1_never_101() {
    let dir = temp_dir("streams");
    let headless = ["--headless", "--fast", "--duration", "1s", "--seed", "5"];
    let code = |args: &[&str], stdout: Stdio, stderr: Stdio| -> (Option<i32>, String) {
        let child = fantop(args, &dir).stdout(stdout).stderr(stderr).spawn().unwrap();
        let out = wait_or_fail(child, &format!("{args:?}"));
        (out.status.code(), text(&out.stderr))
    };
    // The summary cannot be printed.
    let (c, err) = code(&headless, dev_full().into(), Stdio::piped());
    assert_eq!(c, Some(1), "{err}");
    assert_eq!(err.trim(), "fantop: error: stdout: No space left on device");
    // The chosen seed cannot be said on stderr.
    let (c, _) = code(&headless[..4], Stdio::null(), dev_full().into());
    assert_eq!(c, Some(1));
    // Nothing goes to stderr: a full one changes nothing.
    let (c, _) = code(&headless, Stdio::null(), dev_full().into());
    assert_eq!(c, Some(0));
    // Help, the exit line of an offscreen run, a replay's warnings.
    let (c, _) = code(&["--help"], dev_full().into(), Stdio::null());
    assert_eq!(c, Some(1));
    let (c, _) = code(
        &["--offscreen", "--duration", "1s", "--cast", "/dev/null"],
        dev_full().into(),
        Stdio::null(),
    );
    assert_eq!(c, Some(1));
    let cut = "{\"format\":\"fantop-session\",\"version\":1,\"fantop_version\":\"0.1.0\",\"seed\":1,\"config\":{\"rate\":2000.0,\"workers\":8,\"service\":\"const:1ms\",\"error_rate\":0.0,\"queue_capacity\":100,\"auto_restart\":true,\"duration_s\":1.0,\"fast\":true},\"started_at\":\"2026-11-27T08:00:00Z\"}\n{\"t\":5,\"ev\":\"request_arrived\",\"id\":0}\n{\"t\":6,\"ev\":\"requ";
    std::fs::write(dir.join("cut.jsonl"), cut).unwrap();
    let (c, _) = code(
        &["replay", "cut.jsonl", "--headless", "--fast"],
        Stdio::null(),
        dev_full().into(),
    );
    assert_eq!(c, Some(1), "the cut-off warning could not be printed");
    // A pipe whose reader has gone.
    let mut child = fantop(&["--headless", "--fast", "--duration", "5s", "--seed", "5"], &dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = wait_or_fail(child, "a closed pipe");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr).trim(), "fantop: error: stdout: Broken pipe");
    std::fs::remove_dir_all(&dir).ok();
}
