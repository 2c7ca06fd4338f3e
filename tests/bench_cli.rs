//! `fantop bench` as a user runs it: the real binary, `--quick --json`.
//! Checks the documented JSON shape (schema `fantop-bench/1`) and that every
//! figure is a finite positive number with a consistent spread. No timing
//! assertions: the numbers depend on the machine (and this is a debug build).

use std::process::{Command, Output};

use serde_json::Value;

fn fantop(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fantop"))
        .args(args)
        .output()
        .expect("the fantop binary runs")
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect();
    k.sort_unstable();
    k
}

fn sorted<'a>(k: &[&'a str]) -> Vec<&'a str> {
    let mut k = k.to_vec();
    k.sort_unstable();
    k
}

fn positive(v: &Value, what: &str) -> f64 {
    let x = v.as_f64().unwrap_or_else(|| panic!("{what} is not a number: {v}"));
    assert!(x.is_finite() && x > 0.0, "{what} is not a finite positive number: {x}");
    x
}

/// A spread: five finite positive numbers, min <= p25 <= median <= p75 <= max.
fn spread(v: &Value, what: &str) -> usize {
    assert_eq!(keys(v), sorted(&["median", "p25", "p75", "min", "max"]), "{what}");
    let q: Vec<f64> = ["min", "p25", "median", "p75", "max"]
        .iter()
        .map(|k| positive(&v[k], &format!("{what}.{k}")))
        .collect();
    assert!(q.windows(2).all(|w| w[0] <= w[1]), "{what} is not ordered: {q:?}");
    1
}

fn array<'a>(v: &'a Value, what: &str) -> &'a Vec<Value> {
    let a = v.as_array().unwrap_or_else(|| panic!("{what} is not an array: {v}"));
    assert!(!a.is_empty(), "{what} is empty");
    a
}

#[test]
fn quick_json_has_the_documented_shape_and_only_finite_positive_figures() {
    let out = fantop(&["bench", "--quick", "--json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "fantop bench --quick --json failed: {err}");
    let text = String::from_utf8(out.stdout).expect("stdout is UTF-8");
    let mut values = serde_json::Deserializer::from_str(&text).into_iter::<Value>();
    let v = values.next().expect("one JSON value").expect("valid JSON");
    assert!(values.next().is_none(), "more than one JSON value on stdout");

    assert_eq!(
        keys(&v),
        sorted(&[
            "schema",
            "machine",
            "build",
            "command",
            "date",
            "quick",
            "repetitions",
            "metrics_update",
            "snapshot_query",
            "snapshot_workers",
            "fanout",
            "pipeline",
            "reading",
        ])
    );
    assert_eq!(v["schema"], "fantop-bench/1");
    assert_eq!(v["quick"], true);
    assert!(
        matches!(v["build"].as_str(), Some("debug" | "release")),
        "{}",
        v["build"]
    );
    assert!(
        v["command"]
            .as_str()
            .is_some_and(|c| c.contains("bench --quick --json"))
    );
    assert!(
        v["date"].as_str().is_some_and(|d| d.len() >= 20 && d.ends_with('Z')),
        "{}",
        v["date"]
    );
    assert_eq!(
        keys(&v["machine"]),
        sorted(&["cpu", "cpus", "loadavg_1m", "others_cpus"])
    );
    let others = &v["machine"]["others_cpus"];
    assert!(
        others.is_null() || others.as_f64().is_some_and(|c| c.is_finite() && c >= 0.0),
        "{others}"
    );
    assert!(v["machine"]["cpus"].as_u64().is_some_and(|n| n >= 1));
    assert!(
        v["machine"]["loadavg_1m"]
            .as_f64()
            .is_some_and(|l| l.is_finite() && l >= 0.0)
    );
    assert!(v["repetitions"].as_u64().is_some_and(|n| n >= 3));
    let mut figures = 0;

    // 1. metrics update: every method uncontended, all but the plain field with 2 threads.
    let updates = array(&v["metrics_update"], "metrics_update");
    let mut seen: Vec<(String, u64)> = Vec::new();
    for u in updates {
        assert_eq!(keys(u), sorted(&["method", "threads", "ns_per_update"]));
        let m = u["method"].as_str().expect("method").to_string();
        let t = u["threads"].as_u64().expect("threads");
        figures += spread(&u["ns_per_update"], &format!("metrics_update {m}/{t}"));
        seen.push((m, t));
    }
    seen.sort();
    let mut want: Vec<(String, u64)> = vec![("plain".into(), 1)];
    for m in ["mutex", "rwlock_write", "atomic_fetch_add", "channel_to_owner"] {
        want.push((m.into(), 1));
        want.push((m.into(), 2));
    }
    want.push(("atomic_own_line".into(), 2));
    want.sort();
    assert_eq!(seen, want);

    // 2. snapshot query.
    let queries = array(&v["snapshot_query"], "snapshot_query");
    let mut methods: Vec<&str> = queries
        .iter()
        .map(|q| {
            assert_eq!(keys(q), sorted(&["method", "ns_per_query"]));
            figures += spread(&q["ns_per_query"], "snapshot_query");
            q["method"].as_str().expect("method")
        })
        .collect();
    methods.sort_unstable();
    assert_eq!(methods, sorted(&["arc_swap_load", "mutex_clone", "owner_round_trip"]));
    assert_eq!(v["snapshot_workers"], 8);

    // 3. fan-out: nothing dropped, one row per subscriber count.
    let f = &v["fanout"];
    assert_eq!(keys(f), sorted(&["batch", "events_per_round", "dropped", "rows"]));
    assert_eq!(f["dropped"], 0, "events were dropped while measuring");
    assert!(f["batch"].as_u64().is_some_and(|b| b >= 1));
    assert!(f["events_per_round"].as_u64().is_some_and(|b| b >= 1));
    let subs: Vec<u64> = array(&f["rows"], "fanout.rows")
        .iter()
        .map(|r| {
            assert_eq!(keys(r), sorted(&["subscribers", "fantop", "crossbeam", "ratio"]));
            for side in ["fantop", "crossbeam"] {
                assert_eq!(
                    keys(&r[side]),
                    sorted(&["ns_per_event", "ns_per_event_subscriber", "delivered_per_s"])
                );
                figures += spread(&r[side]["delivered_per_s"], side);
                figures += spread(&r[side]["ns_per_event"], side);
                figures += spread(&r[side]["ns_per_event_subscriber"], side);
            }
            positive(&r["ratio"], "fanout ratio");
            r["subscribers"].as_u64().expect("subscribers")
        })
        .collect();
    assert_eq!(subs, [1, 4, 16, 64, 256]);

    // 4. pipeline.
    let p = &v["pipeline"];
    assert_eq!(
        keys(p),
        sorted(&[
            "rate",
            "workers",
            "service",
            "simulated_s",
            "requests",
            "repetitions",
            "headless_fast",
            "sim_only"
        ])
    );
    positive(&p["rate"], "pipeline.rate");
    positive(&p["simulated_s"], "pipeline.simulated_s");
    assert!(p["requests"].as_u64().is_some_and(|n| n > 0));
    assert!(p["repetitions"].as_u64().is_some_and(|n| n >= 1));
    assert!(p["service"].as_str().is_some());
    for run in ["headless_fast", "sim_only"] {
        assert_eq!(keys(&p[run]), ["requests_per_s"]);
        figures += spread(&p[run]["requests_per_s"], run);
    }
    assert_eq!(figures, 10 + 3 + 5 * 6 + 2);

    // The reading: sentences, none with a non-number in it.
    let reading = array(&v["reading"], "reading");
    for line in reading {
        let line = line.as_str().expect("a sentence");
        assert!(!line.is_empty());
        let mut words = line.split(|c: char| !c.is_alphanumeric());
        assert!(
            words.all(|w| w != "NaN" && w != "inf"),
            "the reading has a number that is not one: {line}"
        );
    }
}

#[test]
fn an_unknown_bench_flag_is_a_usage_error() {
    let out = fantop(&["bench", "--bogus"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--bogus"), "{err}");
    assert!(out.stdout.is_empty());
}

/// A report that cannot be printed (stdout on a full device) is an error
/// naming stdout, exit 1: never a panic (101).
#[test]
fn a_full_stdout_fails_the_bench_with_exit_1_not_a_panic() {
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fantop"))
        .args(["bench", "--quick"])
        .stdout(full)
        .output()
        .expect("the fantop binary runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim(), "fantop: error: stdout: No space left on device");
}
