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
