//! `fantop bench --scale` and `fantop bench --memory` as a user runs them:
//! the real binary, tiny sizes (`--quick`, a few seconds of `--minutes`),
//! `--json`. Checks the documented shapes (schemas `fantop-bench-scale/1`
//! and `fantop-bench-memory/1`) and that every figure is a finite positive
//! number. No timing assertions: the numbers depend on the machine (and
//! this is a debug build).

use std::process::{Command, Output};

use serde_json::Value;

fn fantop(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fantop"))
        .args(args)
        .output()
        .expect("the fantop binary runs")
}

/// Runs `fantop` with `args` and parses its one JSON value.
fn json(args: &[&str]) -> Value {
    let out = fantop(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "fantop {args:?} failed: {err}");
    let text = String::from_utf8(out.stdout).expect("stdout is UTF-8");
    let mut values = serde_json::Deserializer::from_str(&text).into_iter::<Value>();
    let v = values.next().expect("one JSON value").expect("valid JSON");
    assert!(values.next().is_none(), "more than one JSON value on stdout");
    v
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

fn count(v: &Value, what: &str) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("{what} is not a count: {v}"))
}

fn array<'a>(v: &'a Value, what: &str) -> &'a Vec<Value> {
    let a = v.as_array().unwrap_or_else(|| panic!("{what} is not an array: {v}"));
    assert!(!a.is_empty(), "{what} is empty");
    a
}

/// The fields every report starts with.
fn preamble(v: &Value, schema: &str, command: &str) {
    assert_eq!(v["schema"], schema);
    assert!(
        matches!(v["build"].as_str(), Some("debug" | "release")),
        "{}",
        v["build"]
    );
    assert!(
        v["command"].as_str().is_some_and(|c| c.contains(command)),
        "{}",
        v["command"]
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
    assert!(v["machine"]["cpus"].as_u64().is_some_and(|n| n >= 1));
}

fn sentences(v: &Value) {
    for line in array(v, "reading") {
        let line = line.as_str().expect("a sentence");
        assert!(!line.is_empty());
        assert!(
            line.split(|c: char| !c.is_alphanumeric())
                .all(|w| w != "NaN" && w != "inf"),
            "the reading has a number that is not one: {line}"
        );
    }
}

#[test]
fn quick_scale_json_has_the_documented_shape_and_finite_positive_figures() {
    let v = json(&["bench", "--scale", "--quick", "--json"]);
    assert_eq!(
        keys(&v),
        sorted(&[
            "schema", "machine", "build", "command", "date", "quick", "wall_s", "latency", "stalled", "scale",
            "reading",
        ])
    );
    preamble(&v, "fantop-bench-scale/1", "bench --scale --quick --json");
    assert_eq!(v["quick"], true);
    positive(&v["wall_s"], "wall_s");

    // 1. latency: the baseline first, its ratios 1; every percentile positive and ordered.
    let l = &v["latency"];
    assert_eq!(
        keys(l),
        sorted(&["rate", "subscribers", "seconds", "rounds", "rows", "targets"])
    );
    assert_eq!(l["rate"], 100_000.0);
    assert_eq!(l["subscribers"], 4);
    let rows = array(&l["rows"], "latency.rows");
    let variants: Vec<&str> = rows.iter().map(|r| r["variant"].as_str().expect("variant")).collect();
    assert_eq!(
        variants,
        [
            "crossbeam_unbatched",
            "fantop_unbatched",
            "fantop_batch64_age",
            "fantop_batch64_size_only"
        ]
    );
    for r in rows {
        let what = r["variant"].as_str().unwrap();
        assert_eq!(
            keys(r),
            sorted(&[
                "variant",
                "max_batch",
                "max_batch_age_us",
                "events",
                "achieved_rate",
                "mean_batch",
                "lost",
                "p50_us",
                "p99_us",
                "p999_us",
                "max_us",
                "newest_p50_us",
                "newest_p99_us",
                "p50_ratio",
                "p99_ratio",
                "p999_ratio",
            ]),
            "{what}"
        );
        assert_eq!(r["lost"], 0, "{what}");
        assert!(count(&r["events"], what) > 0);
        let q: Vec<f64> = ["p50_us", "p99_us", "p999_us", "max_us"]
            .iter()
            .map(|k| positive(&r[k], &format!("{what}.{k}")))
            .collect();
        assert!(q.windows(2).all(|w| w[0] <= w[1]), "{what}: {q:?}");
        for k in [
            "achieved_rate",
            "mean_batch",
            "newest_p50_us",
            "newest_p99_us",
            "p50_ratio",
            "p99_ratio",
            "p999_ratio",
        ] {
            positive(&r[k], &format!("{what}.{k}"));
        }
    }
    assert_eq!(rows[0]["p50_ratio"], 1.0);
    let targets = array(&l["targets"], "latency.targets");
    assert_eq!(targets.len(), 3);
    for t in targets {
        assert_eq!(keys(t), sorted(&["what", "value_us", "target_us", "met"]));
        let (value, target) = (
            positive(&t["value_us"], "value_us"),
            positive(&t["target_us"], "target_us"),
        );
        assert_eq!(t["met"], value <= target, "{t}");
    }

    // 2. stalled subscriber: both cases, the stalled one dropped (it never receives).
    let s = &v["stalled"];
    assert_eq!(
        keys(s),
        sorted(&[
            "subscribers",
            "rate",
            "seconds",
            "repetitions",
            "stalled_capacity",
            "rows",
            "target_met"
        ])
    );
    assert_eq!(s["subscribers"], 16);
    let rows = array(&s["rows"], "stalled.rows");
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0]["case"].as_str(), rows[1]["case"].as_str()),
        (Some("all_healthy"), Some("one_stalled"))
    );
    for r in rows {
        let what = r["case"].as_str().unwrap();
        assert_eq!(
            keys(r),
            sorted(&[
                "case",
                "flushes",
                "p50_ns",
                "p99_ns",
                "p999_ns",
                "max_ns",
                "p999_ratio",
                "achieved_rate",
                "healthy_dropped",
                "stalled_dropped",
                "stalled_evicted_at_s"
            ])
        );
        assert!(count(&r["flushes"], what) > 0);
        count(&r["healthy_dropped"], what);
        let q: Vec<f64> = ["p50_ns", "p99_ns", "p999_ns", "max_ns"]
            .iter()
            .map(|k| positive(&r[k], &format!("{what}.{k}")))
            .collect();
        assert!(q.windows(2).all(|w| w[0] <= w[1]), "{what}: {q:?}");
        positive(&r["p999_ratio"], what);
        positive(&r["achieved_rate"], what);
        assert!(r["stalled_evicted_at_s"].is_array());
    }
    assert!(rows[0]["stalled_dropped"].is_null());
    assert!(count(&rows[1]["stalled_dropped"], "stalled_dropped") > 0);
    assert_eq!(s["target_met"], rows[1]["p999_ratio"].as_f64().unwrap() <= 2.0);

    // 3. scale: one row per count and per rate; what the drainers lost adds up.
    let c = &v["scale"];
    assert_eq!(
        keys(c),
        sorted(&[
            "drainers",
            "capacity",
            "dropped",
            "rss_before_mib",
            "subscribers",
            "rates"
        ])
    );
    let lost = count(&c["dropped"], "dropped");
    positive(&c["rss_before_mib"], "rss_before_mib");
    let row_keys = sorted(&[
        "subscribers",
        "rate",
        "achieved_rate",
        "events",
        "mean_batch",
        "ns_per_event",
        "ns_per_event_subscriber",
        "ns_per_flush",
        "max_late_us",
        "publisher_cpu",
        "idle_tick_ns",
        "rss_subscribed_mib",
        "rss_mib",
        "backlog",
        "dropped",
        "ratio",
    ]);
    let check = |rows: &Vec<Value>| -> Vec<(u64, f64)> {
        rows.iter()
            .map(|r| {
                assert_eq!(keys(r), row_keys);
                for k in [
                    "rate",
                    "achieved_rate",
                    "mean_batch",
                    "ns_per_event",
                    "ns_per_event_subscriber",
                    "ns_per_flush",
                    "publisher_cpu",
                    "idle_tick_ns",
                    "rss_mib",
                    "ratio",
                ] {
                    positive(&r[k], k);
                }
                assert!(r["rss_subscribed_mib"].as_f64().is_some_and(f64::is_finite));
                assert!(r["max_late_us"].as_f64().is_some_and(|l| l.is_finite() && l >= 0.0));
                count(&r["backlog"], "backlog");
                count(&r["dropped"], "dropped");
                assert!(count(&r["events"], "events") > 0);
                (count(&r["subscribers"], "subscribers"), r["rate"].as_f64().unwrap())
            })
            .collect()
    };
    let by_subs = check(array(&c["subscribers"], "scale.subscribers"));
    assert_eq!(by_subs, [(1, 100_000.0), (10, 100_000.0), (100, 100_000.0)]);
    let by_rate = check(array(&c["rates"], "scale.rates"));
    assert_eq!(by_rate, [(16, 10_000.0), (16, 100_000.0), (16, 1_000_000.0)]);
    let row_drops: u64 = ["subscribers", "rates"]
        .iter()
        .flat_map(|k| c[*k].as_array().unwrap())
        .map(|r| r["dropped"].as_u64().unwrap())
        .sum();
    assert_eq!(row_drops, lost, "the section's drops are its rows' drops");

    sentences(&v["reading"]);
}

#[test]
fn a_short_memory_run_has_the_documented_shape_and_loses_nothing() {
    let v = json(&["bench", "--memory", "--minutes", "0.05", "--json"]);
    assert_eq!(
        keys(&v),
        sorted(&[
            "schema",
            "machine",
            "build",
            "command",
            "date",
            "load",
            "minutes",
            "elapsed_s",
            "simulated_s",
            "arrived",
            "arrival_rate",
            "events_published",
            "cpu_cores",
            "rss",
            "collector",
            "stalled",
        ])
    );
    preamble(&v, "fantop-bench-memory/1", "bench --memory --minutes 0.05 --json");
    assert_eq!(keys(&v["load"]), sorted(&["rate", "workers", "service", "seed"]));
    assert_eq!(v["load"]["rate"], 100_000.0);
    assert_eq!(v["minutes"], 0.05);
    for k in ["elapsed_s", "simulated_s", "arrival_rate"] {
        positive(&v[k], k);
    }
    assert!(count(&v["arrived"], "arrived") > 0);
    assert!(count(&v["events_published"], "events_published") > 0);
    assert!(v["cpu_cores"].is_null() || v["cpu_cores"].as_f64().is_some_and(|c| c.is_finite() && c >= 0.0));

    let r = &v["rss"];
    assert_eq!(
        keys(r),
        sorted(&[
            "reference_at_s",
            "reference_mib",
            "end_at_s",
            "end_mib",
            "max_mib",
            "end_over_reference",
            "within_10pct",
            "samples"
        ])
    );
    for k in [
        "reference_at_s",
        "reference_mib",
        "end_at_s",
        "end_mib",
        "max_mib",
        "end_over_reference",
    ] {
        positive(&r[k], k);
    }
    assert!(r["end_at_s"].as_f64() > r["reference_at_s"].as_f64());
    assert!(r["within_10pct"].is_boolean());
    for s in array(&r["samples"], "samples") {
        assert_eq!(keys(s), sorted(&["t_s", "rss_mib"]));
        positive(&s["t_s"], "t_s");
        positive(&s["rss_mib"], "rss_mib");
    }

    // The collector never loses anything; the stalled subscriber always does.
    let c = &v["collector"];
    assert_eq!(keys(c), sorted(&["dropped", "lost_events", "evictions"]));
    assert_eq!(
        (&c["dropped"], &c["lost_events"], &c["evictions"]),
        (&0.into(), &0.into(), &0.into())
    );
    assert_eq!(keys(&v["stalled"]), sorted(&["evictions", "dropped"]));
    assert!(count(&v["stalled"]["dropped"], "stalled.dropped") > 0);
    count(&v["stalled"]["evictions"], "stalled.evictions");
}

#[test]
fn scale_and_memory_flags_are_checked() {
    for args in [
        &["bench", "--scale", "--memory"][..],
        &["bench", "--minutes", "1"],
        &["bench", "--memory", "--minutes", "0"],
        &["bench", "--memory", "--quick"],
    ] {
        let out = fantop(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(out.stdout.is_empty());
    }
}
