//! The command line as a user meets it: the real `fantop` binary, run as a
//! child process. Bad flags are usage errors (exit 2) that name the flag and
//! the accepted form without panicking; a headless run prints one JSON
//! object in the documented schema, reproducible from its seed.

use std::process::{Command, Output};

use serde_json::Value;

fn fantop(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fantop"))
        .args(args)
        .output()
        .expect("the fantop binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs a headless fast run and parses its stdout as one JSON object.
fn summary(args: &[&str]) -> (Value, String) {
    let out = fantop(args);
    let err = stderr(&out);
    assert!(out.status.success(), "{args:?} failed: {err}");
    let text = String::from_utf8(out.stdout).expect("stdout is UTF-8");
    // Exactly one JSON value on stdout, nothing else.
    let mut values = serde_json::Deserializer::from_str(&text).into_iter::<Value>();
    let v = values.next().expect("one JSON value").expect("valid JSON");
    assert!(values.next().is_none(), "more than one JSON value on stdout: {text}");
    assert!(v.is_object(), "{v}");
    (v, err)
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().expect("an object").keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

fn sorted<'a>(k: &[&'a str]) -> Vec<&'a str> {
    let mut k = k.to_vec();
    k.sort_unstable();
    k
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not an unsigned integer: {v}"))
}

/// Every bad flag exits with status 2 and a message naming the flag and the
/// accepted form, never a panic.
#[test]
fn bad_flags_exit_2_naming_the_flag_and_the_accepted_form() {
    // (arguments, what stderr must contain: the flag, then the accepted form)
    let cases: &[(&[&str], &[&str])] = &[
        (&["--rate", "-5"], &["--rate", "greater than 0"]),
        (&["--rate", "0"], &["--rate", "greater than 0"]),
        (&["--rate", "abc"], &["--rate", "requests per second"]),
        (&["--rate", "inf"], &["--rate", "greater than 0"]),
        (&["--workers", "0"], &["--workers", "between 1 and 1024"]),
        (&["--workers", "2000"], &["--workers", "between 1 and 1024"]),
        (&["--error-rate", "1.5"], &["--error-rate", "between 0 and 1"]),
        (&["--error-rate", "-0.1"], &["--error-rate", "between 0 and 1"]),
        (&["--queue", "0"], &["--queue", "between 1 and"]),
        (
            &["--duration", "5"],
            &["--duration", "has no unit", "ns, us, ms, s, m or h"],
        ),
        (&["--duration", "0s"], &["--duration", "greater than zero"]),
        (
            &["--service", "lognormal:20ms:2ms"],
            &["--service", "p99", "lognormal:MEDIAN:P99"],
        ),
        (
            &["--service", "gamma:1ms"],
            &["--service", "unknown kind 'gamma'", "exp:MEAN"],
        ),
        (&["--fast"], &["--fast", "--headless"]),
        (&["--headless"], &["--headless", "--duration DUR"]),
        (&["--no-such-flag"], &["--no-such-flag", "--help"]),
    ];
    for (args, needles) in cases {
        let out = fantop(args);
        let err = stderr(&out);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: exit status {:?}; stderr: {err}",
            out.status
        );
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
        assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
        for needle in *needles {
            assert!(
                err.contains(needle),
                "{args:?}: stderr does not mention {needle:?}: {err}"
            );
        }
    }
}

/// A headless run prints one JSON object whose keys are exactly the
/// documented schema, and whose counts add up.
#[test]
fn headless_summary_has_exactly_the_documented_schema() {
    let (v, _) = summary(&["--headless", "--fast", "--duration", "2s", "--seed", "7"]);
    assert_eq!(
        keys(&v),
        sorted(&[
            "fantop_version",
            "seed",
            "config",
            "elapsed_s",
            "simulated_s",
            "requests",
            "throughput_per_s",
            "latency_us",
            "queue",
            "workers",
            "events_published",
            "collector_lost_events",
            "subscribers",
            "slow_subscribers",
        ])
    );
    assert_eq!(
        keys(&v["config"]),
        sorted(&[
            "rate",
            "workers",
            "service",
            "error_rate",
            "queue_capacity",
            "auto_restart",
            "duration_s",
            "fast"
        ])
    );
    assert_eq!(
        keys(&v["requests"]),
        sorted(&["arrived", "succeeded", "failed", "rejected", "in_flight_at_end"])
    );
    assert_eq!(keys(&v["throughput_per_s"]), sorted(&["arrived", "completed"]));
    assert_eq!(
        keys(&v["latency_us"]),
        sorted(&["mean", "p50", "p90", "p99", "p999", "max"])
    );
    assert_eq!(keys(&v["queue"]), sorted(&["max_depth"]));
    let workers = v["workers"].as_array().expect("workers is an array");
    assert_eq!(workers.len(), 8, "the default pool");
    for w in workers {
        assert_eq!(keys(w), sorted(&["id", "completed", "state"]));
    }
    let subs = v["subscribers"].as_array().expect("subscribers is an array");
    assert!(!subs.is_empty());
    for s in subs {
        assert_eq!(
            keys(s),
            sorted(&[
                "name",
                "state",
                "delivered",
                "dropped",
                "queued",
                "published_while_subscribed"
            ])
        );
    }

    assert_eq!(v["fantop_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(u(&v["seed"]), 7);
    assert_eq!(v["config"]["fast"], true);
    assert_eq!(v["config"]["duration_s"], 2.0);
    assert_eq!(v["simulated_s"], 2.0);

    let r = &v["requests"];
    assert!(u(&r["arrived"]) > 0);
    assert_eq!(
        u(&r["arrived"]),
        u(&r["succeeded"]) + u(&r["failed"]) + u(&r["rejected"]) + u(&r["in_flight_at_end"]),
        "every arrival is accounted for: {r}"
    );

    let published = u(&v["events_published"]);
    let collector = subs
        .iter()
        .find(|s| s["name"] == "collector")
        .expect("a collector subscriber");
    assert_eq!(
        u(&collector["dropped"]),
        0,
        "the collector loses nothing in --fast mode"
    );
    assert_eq!(u(&collector["delivered"]), published, "{collector}");
    assert_eq!(u(&collector["published_while_subscribed"]), published, "{collector}");
}

/// Two --fast runs with the same seed print the same summary, except the
/// wall time they took.
#[test]
fn same_seed_in_fast_mode_reproduces_the_summary() {
    let args = ["--headless", "--fast", "--duration", "2s", "--seed", "42"];
    let (mut a, _) = summary(&args);
    let (mut b, _) = summary(&args);
    let ea = a.as_object_mut().unwrap().remove("elapsed_s");
    let eb = b.as_object_mut().unwrap().remove("elapsed_s");
    assert!(ea.is_some() && eb.is_some(), "elapsed_s is reported");
    assert_eq!(a, b);
}

/// Without --seed, the seed chosen is reported on stderr and in the JSON.
#[test]
fn a_random_seed_is_reported_on_stderr_and_in_the_summary() {
    let (v, err) = summary(&["--headless", "--fast", "--duration", "100ms"]);
    let seed: u64 = err
        .split("seed ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no seed on stderr: {err}"));
    assert!(
        err.contains(&format!("--seed {seed}")),
        "stderr says how to reproduce: {err}"
    );
    assert_eq!(u(&v["seed"]), seed);
}

/// Runs fantop with no terminal at all: stdin from /dev/null, stdout and
/// stderr into pipes.
fn fantop_without_terminal(args: &[&str], cwd: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fantop"))
        .args(args)
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("the fantop binary runs")
}

/// Asserts a usage error: exit 2, nothing on stdout, and on stderr exactly
/// one line naming what was wrong plus the pointer to --help.
fn assert_one_line_usage_error(args: &[&str], out: &Output) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {:?}; stderr: {err}", out.status);
    assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{args:?}: not one line and the tip:\n{err}");
    assert!(lines[0].starts_with("fantop: error: "), "{args:?}: {err}");
    assert_eq!(lines[1], "For more information, try '--help'.", "{args:?}");
    lines[0].to_string()
}

/// Every usage error, clap's or fantop's own, prints one line and the
/// pointer to --help: no usage block, no blank lines.
#[test]
fn a_usage_error_is_one_line_and_the_pointer_to_help() {
    for args in [
        &["--no-such-flag"][..],
        &["--fsat"],
        &["--rate", "abc"],
        &["--headless"],
        &["--fast"],
        &["--offscreen"],
        &["--cast", "x.cast", "--headless"],
        &["replay"],
        &["repaly"],
        &["bench", "--scale", "--memory"],
    ] {
        assert_one_line_usage_error(args, &fantop(args));
    }
    // Clap's tip survives, folded into the line.
    let line = assert_one_line_usage_error(&["--fsat"], &fantop(&["--fsat"]));
    assert!(line.contains("a similar argument exists: '--fast'"), "{line}");
}

/// --help and --version are not errors: printed whole on stdout, status 0.
#[test]
fn help_and_version_print_normally_and_exit_0() {
    for (args, needle) in [
        (&["--help"][..], "Usage: fantop [OPTIONS]"),
        (&["-h"], "--headless"),
        (&["replay", "--help"], "Usage: fantop replay"),
        (&["bench", "--help"], "--minutes"),
        (&["--version"], env!("CARGO_PKG_VERSION")),
    ] {
        let out = fantop(args);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(text.contains(needle), "{args:?}: {text}");
    }
}

/// A flag that would do nothing — without the flag it needs, beside one
/// that makes it moot, or before a subcommand — is a usage error naming
/// both flags.
#[test]
fn flags_that_do_nothing_without_another_are_usage_errors() {
    let cases: &[(&[&str], &[&str])] = &[
        (&["--size", "80x24"], &["--size", "--offscreen"]),
        (
            &["--size", "80x24", "--headless", "--duration", "1s"],
            &["--size", "--offscreen"],
        ),
        (&["--fast"], &["--fast", "--headless"]),
        (&["--offscreen"], &["--offscreen", "--cast"]),
        (
            &["--headless", "--duration", "1s", "--fps", "10"],
            &["--fps", "--headless"],
        ),
        (
            &["--headless", "--duration", "1s", "--no-color"],
            &["--no-color", "--headless"],
        ),
        (
            &["--offscreen", "--cast", "x.cast", "--no-mouse"],
            &["--no-mouse", "--offscreen"],
        ),
        (&["replay", "x.jsonl", "--fast"], &["--fast", "--headless"]),
        (
            &["replay", "x.jsonl", "--headless", "--fast", "--speed", "2"],
            &["--speed", "--fast"],
        ),
        (
            &["replay", "x.jsonl", "--headless", "--fps", "5"],
            &["--fps", "--headless"],
        ),
        (&["bench", "--minutes", "1"], &["--minutes", "--memory"]),
        (&["--seed", "1", "replay", "x.jsonl"], &["replay", "--seed"]),
        (&["--rate", "5", "bench"], &["bench", "--rate"]),
    ];
    for (args, needles) in cases {
        let line = assert_one_line_usage_error(args, &fantop(args));
        for needle in *needles {
            assert!(line.contains(needle), "{args:?}: does not name {needle}: {line}");
        }
    }
}

/// A negative number reaches the flag's own check and message, never
/// clap's `unexpected argument '-1'`.
#[test]
fn negative_values_get_the_flags_own_message() {
    let cases: &[(&[&str], &str)] = &[
        (&["--fps", "-1"], "1..=120"),
        (&["--duration", "-1s"], "greater than zero"),
        (&["--duration", "-5"], "greater than zero"),
        (&["--offscreen", "--cast", "x.cast", "--size", "-80x24"], "COLSxROWS"),
        (&["--rate", "-5"], "greater than 0"),
        (&["--workers", "-2"], "1 to 1024"),
        (&["--queue", "-1"], "at least 1"),
        (&["replay", "x.jsonl", "--speed", "-2"], "from 0.1 to 100"),
        (&["bench", "--memory", "--minutes", "-1"], "above 0"),
    ];
    for (args, needle) in cases {
        let line = assert_one_line_usage_error(args, &fantop(args));
        assert!(!line.contains("unexpected argument"), "{args:?}: {line}");
        assert!(
            line.contains(args[args.len() - 2]),
            "{args:?} does not name the flag: {line}"
        );
        assert!(line.contains(needle), "{args:?}: {line}");
    }
}

/// With no terminal (stdin from /dev/null, stdout into a pipe) the monitor
/// refuses to start, in one line suggesting --headless or --offscreen, exit
/// 2, before it writes anything; the modes that need no terminal run.
#[test]
fn the_monitor_without_a_terminal_is_a_usage_error_suggesting_headless_or_offscreen() {
    let dir = std::env::temp_dir().join(format!("fantop-cli-noterm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let args = ["--seed", "1", "--record", "r.jsonl"];
    let line = assert_one_line_usage_error(&args, &fantop_without_terminal(&args, &dir));
    for needle in ["needs a terminal", "--headless", "--offscreen"] {
        assert!(line.contains(needle), "{line}");
    }
    assert!(!dir.join("r.jsonl").exists(), "a recording was started");

    let made = fantop_without_terminal(
        &["--headless", "--fast", "--duration", "1s", "--record", "r.jsonl"],
        &dir,
    );
    assert!(made.status.success(), "{}", stderr(&made));
    let args = ["replay", "r.jsonl"];
    let line = assert_one_line_usage_error(&args, &fantop_without_terminal(&args, &dir));
    assert!(
        line.contains("needs a terminal") && line.contains("--headless"),
        "{line}"
    );
    let replayed = fantop_without_terminal(&["replay", "r.jsonl", "--headless", "--fast"], &dir);
    assert!(replayed.status.success(), "{}", stderr(&replayed));
    let offscreen = fantop_without_terminal(&["--offscreen", "--cast", "o.cast", "--duration", "1s"], &dir);
    assert!(offscreen.status.success(), "{}", stderr(&offscreen));
    let _ = std::fs::remove_dir_all(&dir);
}
