//! The real `fantop` binary in a real terminal (tmux): it draws every pane,
//! a key changes the live pipeline, `q` exits with status 0, and the shell
//! gets its terminal back (the summary line prints cleanly on the normal
//! screen, not on the alternate screen or in raw mode).
//!
//! It needs tmux. Under CI (`CI` set; `.ci/run` installs tmux) a missing
//! tmux fails the test; on a developer's machine with only the Rust
//! toolchain it is skipped with a message, so `cargo test` passes there.
//! The test runs on a private tmux server (its own socket, `tmux -S`), so it
//! never touches a user's sessions, and a guard kills that server and
//! removes its files however the test ends.

#[path = "support/svg_text.rs"]
mod svg_text;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// How long any one awaited condition may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(30);
/// Pause between two polls of the screen.
const POLL: Duration = Duration::from_millis(100);

/// A tmux session on its own server socket; killed (with its server) on drop.
struct Tmux {
    socket: PathBuf,
    session: String,
    status_file: PathBuf,
}

impl Tmux {
    /// Starts `program` (a shell command line) in a detached `cols`x`rows`
    /// session. When it exits, the wrapper writes `EXIT=<status>` to the
    /// status file and keeps the pane open so its last screen can be read.
    fn start(cols: u16, rows: u16, program: &str) -> Tmux {
        let id = format!("fantop-e2e-{}-{}", std::process::id(), nanos_now());
        let tmux = Tmux {
            socket: std::env::temp_dir().join(format!("{id}.sock")),
            session: id.clone(),
            status_file: std::env::temp_dir().join(format!("{id}.status")),
        };
        let command = format!(
            "TERM=xterm-256color {program} ; echo EXIT=$? > {}; sleep 30",
            sh_quote(&tmux.status_file.to_string_lossy())
        );
        let out = tmux.run(&[
            "new-session",
            "-d",
            "-s",
            &tmux.session,
            "-x",
            &cols.to_string(),
            "-y",
            &rows.to_string(),
            &command,
        ]);
        assert!(
            out.status.success(),
            "tmux new-session failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        match Command::new("tmux").arg("-S").arg(&self.socket).args(args).output() {
            Ok(out) => out,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                panic!("tmux is required for this end-to-end test (CI installs it): apt-get install tmux")
            }
            Err(e) => panic!("cannot run tmux: {e}"),
        }
    }

    /// The visible screen as text.
    fn screen(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-t", &self.session]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn send(&self, key: &str) {
        let out = self.run(&["send-keys", "-t", &self.session, key]);
        assert!(
            out.status.success(),
            "send-keys {key}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Polls the screen until `ok` holds; fails with the last screen at the deadline.
    fn wait_for_screen(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(POLL);
        }
    }

    /// Polls the status file the wrapper writes when the program exits.
    fn wait_for_exit(&self) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Ok(s) = std::fs::read_to_string(&self.status_file)
                && s.ends_with('\n')
            {
                return s.trim().to_string();
            }
            assert!(
                Instant::now() < deadline,
                "fantop did not exit after q; the screen:\n{}",
                self.screen()
            );
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // Only this test's private server: its session and the program in it.
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
        let _ = std::fs::remove_file(&self.socket);
        let _ = std::fs::remove_file(&self.status_file);
    }
}

fn nanos_now() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// Single-quotes `s` for `sh`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn header(screen: &str) -> &str {
    screen.lines().next().unwrap_or("")
}

/// Started in a terminal, fantop draws its header and all five panes; `+`
/// raises the live rate from 2,000/s to 2,500/s; `q` exits with status 0 and
/// leaves the terminal clean, with the summary line at the start of a line.
/// Whether tmux can run here; without it, fails under CI and skips elsewhere.
fn tmux_available() -> bool {
    if Command::new("tmux").arg("-V").output().is_ok() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("tmux is required for this end-to-end test under CI (.ci/run installs it: apt-get install tmux)");
    }
    eprintln!("skipping the tmux end-to-end test: tmux is not installed (apt-get install tmux to run it)");
    false
}

#[test]
fn live_monitor_draws_takes_a_key_and_quits_cleanly() {
    if !tmux_available() {
        return;
    }
    let program = format!("{} --seed 1", sh_quote(env!("CARGO_BIN_EXE_fantop")));
    let tmux = Tmux::start(120, 36, &program);

    let screen = tmux.wait_for_screen("the header at rate 2,000/s and all five panes", |s| {
        header(s).contains("rate 2,000/s")
            && ["Throughput", "Latency", "Subscribers", "Workers", "Events"]
                .iter()
                .all(|t| s.contains(t))
    });
    assert!(header(&screen).contains("seed 1"), "{screen}");

    tmux.send("+");
    tmux.wait_for_screen("the header at rate 2,500/s after +", |s| {
        header(s).contains("rate 2,500/s")
    });

    tmux.send("q");
    assert_eq!(tmux.wait_for_exit(), "EXIT=0");

    let after = tmux.wait_for_screen("the summary line after exit", |s| s.contains("fantop: ran"));
    let summary = after.lines().find(|l| l.contains("fantop: ran")).unwrap_or_default();
    // In raw mode a newline does not return the carriage: the line would not
    // start at column 0. Left on the alternate screen, the panes would show.
    assert!(
        summary.starts_with("fantop: ran "),
        "summary not at column 0: {summary:?}\n{after}"
    );
    assert!(summary.contains("; seed 1"), "{summary}");
    for pane in ["Throughput", "Subscribers", "Workers"] {
        assert!(
            !after.contains(pane),
            "the monitor is still on screen after exit:\n{after}"
        );
    }
    assert!(!after.contains('\u{1b}'), "escape sequences printed raw:\n{after:?}");
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fantop-e2e-{name}-{}-{}", std::process::id(), nanos_now()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Whether the screen shows the monitor (its header and its panes).
fn shows_monitor(s: &str) -> bool {
    header(s).contains("fantop")
        && ["Throughput", "Subscribers", "Workers", "Events"]
            .iter()
            .all(|t| s.contains(t))
}

/// Asserts the terminal is the shell's again: the exit line at column 0
/// (raw mode would not return the carriage), no pane left on screen (the
/// alternate screen was left), no escape sequence printed raw.
fn assert_restored(after: &str, exit_line: &str) {
    let line = after.lines().find(|l| l.contains(exit_line)).unwrap_or_default();
    assert!(
        line.starts_with("fantop: ran "),
        "exit line not at column 0: {line:?}\n{after}"
    );
    for pane in ["Throughput", "Subscribers", "Workers"] {
        assert!(!after.contains(pane), "the monitor is still on screen:\n{after}");
    }
    assert!(!after.contains('\u{1b}'), "escape sequences printed raw:\n{after:?}");
}

/// Runs `fantop ARGS` in tmux (in `dir`), waits for the monitor, sends it
/// `signal` (a `kill -s` name) and returns its exit status and the screen
/// after it exited.
fn stop_monitor_with(dir: &std::path::Path, args: &str, signal: &str) -> (String, String) {
    let pid_file = dir.join("pid");
    // `exec` keeps the pid the shell wrote, and its status is fantop's.
    let program = format!(
        "sh -c {}",
        sh_quote(&format!(
            "cd {} && echo $$ > pid && exec {} {args}",
            sh_quote(&dir.to_string_lossy()),
            sh_quote(env!("CARGO_BIN_EXE_fantop"))
        ))
    );
    let tmux = Tmux::start(120, 36, &program);
    tmux.wait_for_screen("the monitor", shows_monitor);
    let pid = std::fs::read_to_string(&pid_file)
        .expect("the pid file")
        .trim()
        .to_string();
    let sent = Command::new("kill")
        .args(["-s", signal, &pid])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "kill -s {signal} {pid}");
    let status = tmux.wait_for_exit();
    let after = tmux.wait_for_screen("the exit line", |s| s.contains("fantop: ran"));
    (status, after)
}

/// The live monitor stopped by SIGTERM restores the terminal, finishes its
/// recording (whole to the last line), prints its exit line saying so and
/// exits 143; SIGQUIT restores the terminal too and exits 131.
#[test]
fn a_stop_signal_restores_the_terminal_finishes_the_recording_and_exits_128_plus_n() {
    if !tmux_available() {
        return;
    }
    for (signal, status) in [("TERM", "EXIT=143"), ("QUIT", "EXIT=131")] {
        let dir = temp_dir(&format!("stop-{signal}"));
        let (exit, after) = stop_monitor_with(&dir, "--seed 1 --record rec.jsonl", signal);
        assert_eq!(exit, status, "SIG{signal}; the screen:\n{after}");
        assert_restored(&after, "fantop: ran");
        // The exit line may wrap.
        assert!(
            after.replace('\n', "").contains(&format!("(stopped by SIG{signal})")),
            "{after}"
        );
        let text = std::fs::read_to_string(dir.join("rec.jsonl")).expect("the recording");
        assert!(text.ends_with('\n'), "the recording ends mid-line");
        let recording = fantop::session::recording::Recording::load(&dir.join("rec.jsonl")).unwrap();
        assert_eq!(recording.warning, None, "the recording is cut off");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// `fantop replay` in the terminal, stopped by SIGINT, restores the
/// terminal, prints its exit line and exits 130.
#[test]
fn a_replay_stopped_by_sigint_restores_the_terminal_and_exits_130() {
    if !tmux_available() {
        return;
    }
    let dir = temp_dir("replay-int");
    let made = Command::new(env!("CARGO_BIN_EXE_fantop"))
        .args([
            "--headless",
            "--fast",
            "--duration",
            "60s",
            "--seed",
            "1",
            "--record",
            "rec.jsonl",
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let (exit, after) = stop_monitor_with(&dir, "replay rec.jsonl", "INT");
    assert_eq!(exit, "EXIT=130", "the screen:\n{after}");
    assert_restored(&after, "fantop: ran");
    assert!(after.replace('\n', "").contains("(stopped by SIGINT)"), "{after}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Ctrl-Z in the monitor, under an interactive shell with job control,
/// hands the terminal back (the shell's prompt shows, not the monitor) and
/// stops the job; `fg` brings the monitor back, drawn whole, taking keys;
/// `q` then exits 0 with the terminal clean.
#[test]
fn ctrl_z_hands_the_terminal_to_the_shell_and_fg_brings_the_monitor_back() {
    if !tmux_available() {
        return;
    }
    const PROMPT: &str = "fantop-e2e$";
    let tmux = Tmux::start(
        120,
        36,
        &format!("env PS1={} bash --norc --noprofile -i", sh_quote(&format!("{PROMPT} "))),
    );
    tmux.wait_for_screen("the shell's prompt", |s| s.contains(PROMPT));
    tmux.send(&format!("{} --seed 1", sh_quote(env!("CARGO_BIN_EXE_fantop"))));
    tmux.send("Enter");
    tmux.wait_for_screen("the monitor", |s| {
        shows_monitor(s) && header(s).contains("rate 2,000/s")
    });

    tmux.send("C-z");
    let stopped = tmux.wait_for_screen("the shell's prompt after Ctrl-Z", |s| {
        s.contains("Stopped") && s.trim_end().ends_with(PROMPT)
    });
    for pane in ["Throughput", "Subscribers", "Workers"] {
        assert!(!stopped.contains(pane), "the monitor is still on screen:\n{stopped}");
    }
    assert!(
        !stopped.contains('\u{1b}'),
        "escape sequences printed raw:\n{stopped:?}"
    );

    tmux.send("fg");
    tmux.send("Enter");
    let back = tmux.wait_for_screen("the monitor after fg", shows_monitor);
    // Drawn whole: the shell's lines are gone.
    assert!(!back.contains(PROMPT), "the shell still shows through:\n{back}");
    tmux.send("+");
    tmux.wait_for_screen("the header at rate 2,500/s after +", |s| {
        header(s).contains("rate 2,500/s")
    });

    tmux.send("q");
    let after = tmux.wait_for_screen("the exit line", |s| {
        s.contains("fantop: ran") && s.trim_end().ends_with(PROMPT)
    });
    assert_restored(&after, "fantop: ran");
    tmux.send("echo FANTOP_EXIT=$?");
    tmux.send("Enter");
    tmux.wait_for_screen("fantop's exit status", |s| s.contains("FANTOP_EXIT=0"));
}

/// A recording that fails in the live monitor (`--record /dev/full`: every
/// write fails) turns `● REC` into `REC FAILED` at once, the Events pane
/// says why, `q` still quits, and the exit status is 1 with one line naming
/// the file.
#[test]
fn a_failed_recording_shows_rec_failed_and_the_monitor_exits_1() {
    if !tmux_available() {
        return;
    }
    let program = format!("{} --seed 1 --record /dev/full", sh_quote(env!("CARGO_BIN_EXE_fantop")));
    let tmux = Tmux::start(120, 36, &program);
    let screen = tmux.wait_for_screen("REC FAILED in the header", |s| header(s).contains("REC FAILED"));
    assert!(!header(&screen).contains("● REC"), "{screen}");
    tmux.wait_for_screen("the Events pane saying why", |s| {
        s.lines()
            .skip(2)
            .any(|l| l.contains("recording failed: /dev/full: No space left"))
    });
    tmux.send("q");
    assert_eq!(tmux.wait_for_exit(), "EXIT=1");
    let after = tmux.wait_for_screen("the error line after exit", |s| s.contains("fantop: error:"));
    assert!(
        after.contains("fantop: error: /dev/full: No space left on device"),
        "{after}"
    );
}

/// Recordings started and stopped with `r` are each named in the exit
/// lines, with the files they wrote.
#[test]
fn recordings_stopped_with_r_are_listed_in_the_exit_line() {
    if !tmux_available() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("fantop-e2e-r-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let program = format!(
        "cd {} && {} --seed 1",
        sh_quote(&dir.to_string_lossy()),
        sh_quote(env!("CARGO_BIN_EXE_fantop"))
    );
    let tmux = Tmux::start(120, 36, &program);
    tmux.wait_for_screen("the header", |s| header(s).contains("RUNNING"));
    for _ in 0..2 {
        tmux.send("r");
        tmux.wait_for_screen("● REC", |s| header(s).contains("● REC"));
        tmux.send("r");
        tmux.wait_for_screen("recording stopped", |s| !header(s).contains("REC"));
    }
    tmux.send("q");
    assert_eq!(tmux.wait_for_exit(), "EXIT=0");
    let after = tmux.wait_for_screen("the exit lines", |s| s.contains("fantop: ran"));
    let mut written: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    written.sort();
    assert_eq!(written.len(), 2, "{written:?}");
    for f in &written {
        let f = f.to_string_lossy();
        assert!(
            after.contains(&format!(" events to {f}")),
            "{f} is not listed:\n{after}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// The Workers pane's title row of a screen.
fn workers_title(screen: &str) -> &str {
    screen.lines().find(|l| l.contains(" Workers ")).unwrap_or("")
}

/// In a real terminal, Esc never quits (it says that q does), the scroll
/// keys reach the focused Workers pane of a full pool (End scrolls to the
/// last workers, Home back to the first), and `q` then exits with status 0.
#[test]
fn esc_never_quits_and_scroll_keys_move_the_focused_pane() {
    if !tmux_available() {
        return;
    }
    let program = format!("{} --seed 1 --workers 1024", sh_quote(env!("CARGO_BIN_EXE_fantop")));
    let tmux = Tmux::start(120, 36, &program);
    tmux.wait_for_screen("the Workers pane of 1,024 workers", |s| {
        workers_title(s).contains(" Workers 1,024: ") && workers_title(s).contains("of 1,024")
    });

    tmux.send("Escape");
    tmux.wait_for_screen("the hint that q quits", |s| {
        s.contains("q quits (Esc closes help and zoom)")
    });
    assert!(
        std::fs::read_to_string(&tmux.status_file).is_err(),
        "fantop exited on Esc:\n{}",
        tmux.screen()
    );

    for _ in 0..3 {
        tmux.send("Tab");
    }
    tmux.wait_for_screen("the Workers pane focused", |s| workers_title(s).contains("▶ Workers"));
    tmux.send("End");
    tmux.wait_for_screen("the last workers after End", |s| {
        workers_title(s).contains("-1,024 of 1,024")
    });
    tmux.send("Home");
    tmux.wait_for_screen("the first workers after Home", |s| workers_title(s).contains(" 1-"));

    tmux.send("q");
    assert_eq!(tmux.wait_for_exit(), "EXIT=0");
}

/// `--screenshot FILE.svg` on the live monitor and on a replay: at `q`
/// the screen as it was is written to FILE.svg (a well-formed SVG whose
/// text is what the terminal showed: the header, every pane's title), and
/// the exit message says so.
#[test]
fn quitting_the_monitor_or_a_replay_writes_the_screen_as_svg() {
    if !tmux_available() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("fantop-e2e-svg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let bin = sh_quote(env!("CARGO_BIN_EXE_fantop"));
    let recording = dir.join("run.jsonl");
    let rec = Command::new(env!("CARGO_BIN_EXE_fantop"))
        .args(["--headless", "--fast", "--duration", "3s", "--seed", "5", "--record"])
        .arg(&recording)
        .output()
        .expect("a headless run");
    assert!(rec.status.success(), "{}", String::from_utf8_lossy(&rec.stderr));
    let cases = [
        ("live.svg", format!("{bin} --seed 1 --theme light"), "seed 1"),
        (
            "replay.svg",
            format!("{bin} replay {}", sh_quote(&recording.to_string_lossy())),
            "seed 5",
        ),
    ];
    for (name, command, seed) in cases {
        let svg_path = dir.join(name);
        let program = format!("{command} --screenshot {}", sh_quote(&svg_path.to_string_lossy()));
        let tmux = Tmux::start(100, 30, &program);
        tmux.wait_for_screen("every pane", |s| {
            header(s).contains(seed) && ["Throughput", "Latency", "Events"].iter().all(|t| s.contains(t))
        });
        tmux.send("q");
        assert_eq!(tmux.wait_for_exit(), "EXIT=0", "{name}");
        let after = tmux.wait_for_screen("the exit message", |s| s.contains("screenshot (100x30) written to"));
        let svg = std::fs::read_to_string(&svg_path).unwrap_or_else(|e| panic!("{name}: {e}\n{after}"));
        let (_, rows) = svg_text::svg_rows(&svg);
        assert!(rows[0].contains(seed), "{name}: {}", rows[0]);
        let text = rows.join("\n");
        for title in [" Throughput ", " Latency ", " Subscribers ", " Workers ", " Events "] {
            assert!(text.contains(title), "{name}: {title} missing:\n{text}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
