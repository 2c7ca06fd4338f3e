//! Scripted scenarios: the file format, its errors, and the shipped stories.

use std::path::{Path, PathBuf};

use fantop::event::{EventKind, MILLIS, SECONDS, ServiceDist};
use fantop::pipeline::{Command, Scheduled, Sim, SimConfig, Sink};
use fantop::run::{self, HeadlessOptions};
use fantop::session::scenario::{self, MAX_STEPS, Scenario, ScenarioError, StepAction};
use proptest::prelude::*;

fn shipped_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenarios")
}

fn shipped() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(shipped_dir())
        .expect("assets/scenarios exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

fn load_shipped(name: &str) -> Scenario {
    scenario::load(&shipped_dir().join(name)).unwrap_or_else(|e| panic!("{e}"))
}

fn parse_err(text: &str) -> ScenarioError {
    match scenario::parse("demo.toml", text) {
        Ok(s) => panic!("accepted:\n{text}\n{s:#?}"),
        Err(e) => e,
    }
}

/// Asserts the error is at `line` and its message contains every fragment.
#[track_caller]
fn assert_err(text: &str, line: usize, fragments: &[&str]) {
    let e = parse_err(text);
    assert_eq!(e.line, Some(line), "wrong line for {e}\n---\n{text}");
    let shown = e.to_string();
    assert!(shown.starts_with(&format!("demo.toml:{line}: ")), "{shown}");
    for f in fragments {
        assert!(e.message.contains(f), "{shown:?} lacks {f:?}\n---\n{text}");
    }
}

/// The simulation config a scenario asks for, from the defaults.
fn config_of(s: &Scenario) -> SimConfig {
    let mut cfg = SimConfig::default();
    s.settings.apply_to(&mut cfg);
    cfg
}

// ---------------------------------------------------------------------------
// Shipped scenarios

/// Every file in assets/scenarios loads, tells one story (comment, name,
/// description), has a fixed seed and lasts 30–45 s, ending with `end`.
#[test]
fn shipped_scenarios_all_load() {
    let files = shipped();
    assert!(files.len() >= 3, "{files:?}");
    for path in files {
        let s = scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# "), "{}: no story comment on line 1", s.path);
        assert!(!s.name.is_empty() && !s.description.is_empty(), "{}", s.path);
        assert!(s.settings.seed.is_some(), "{}: no fixed seed", s.path);
        let end = s.end().unwrap_or_else(|| panic!("{}: no end step", s.path));
        assert!(
            (30 * SECONDS..=45 * SECONDS).contains(&end),
            "{}: ends at {end}",
            s.path
        );
        assert_eq!(s.steps.last().unwrap().what, StepAction::End);
        assert_eq!(s.labels().len(), s.steps.len());
        assert!(s.labels().iter().all(|l| !l.is_empty() && !l.contains('\n')));
    }
}

/// The three stories the README promises are shipped.
#[test]
fn the_documented_stories_are_shipped() {
    for name in ["saturation.toml", "slow-subscriber.toml", "worker-faults.toml"] {
        load_shipped(name);
    }
}

/// Saturation: rate beyond capacity fills the queue and rejects arrivals;
/// more workers and a lower rate drain it again by the end.
#[test]
fn saturation_story_saturates_then_recovers() {
    let s = load_shipped("saturation.toml");
    let run = run::headless(HeadlessOptions {
        sim: config_of(&s),
        duration: None,
        fast: true,
        timeline: s.timeline(),
        ..Default::default()
    })
    .unwrap();
    let sum = &run.summary;
    assert_eq!(run.report.simulated_ns, s.end().unwrap(), "the end step stops the run");
    assert!(sum.requests.rejected > 1_000, "rejected {}", sum.requests.rejected);
    assert!(sum.queue.max_depth >= 9_000, "max depth {}", sum.queue.max_depth);
    assert!(
        sum.latency_us.max > 1e6,
        "worst latency {} µs, expected seconds",
        sum.latency_us.max
    );
    // Recovered: the queue has drained by the end.
    assert!(
        sum.requests.in_flight_at_end < 200,
        "in flight at end {}",
        sum.requests.in_flight_at_end
    );
    assert_eq!(run.snapshot.load.workers, 16);
    assert_eq!(run.snapshot.load.rate, 2000.0);
}

/// Slow subscribers: the load itself stays healthy (no rejections, even in
/// the burst), so only the slow subscribers can lose events.
#[test]
fn slow_subscriber_story_keeps_the_pipeline_healthy() {
    let s = load_shipped("slow-subscriber.toml");
    let run = run::headless(HeadlessOptions {
        sim: config_of(&s),
        duration: None,
        fast: true,
        timeline: s.timeline(),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(run.report.simulated_ns, s.end().unwrap());
    assert_eq!(run.summary.requests.rejected, 0);
    assert!(
        run.summary.queue.max_depth < 1_000,
        "max depth {}",
        run.summary.queue.max_depth
    );
    let slow = s
        .steps
        .iter()
        .filter(|st| st.what == StepAction::AddSlowSubscriber)
        .count();
    assert!(slow >= 2, "adds {slow} slow subscribers");
    assert!(s.steps.iter().any(|st| st.what == StepAction::RemoveSlowSubscriber));
    assert!(
        s.timeline().iter().any(|t| matches!(t.action, Command::Burst { .. })),
        "has a burst"
    );
}

/// Worker faults, as the headless summary shows them: w5 crashed with
/// auto-restart off and stays down; a fresh w8 tops the pool up.
#[test]
fn worker_faults_story_leaves_its_marks_in_the_summary() {
    let s = load_shipped("worker-faults.toml");
    let run = run::headless(HeadlessOptions {
        sim: config_of(&s),
        duration: None,
        fast: true,
        timeline: s.timeline(),
        ..Default::default()
    })
    .unwrap();
    let workers = &run.summary.workers;
    let state = |id: u16| workers.iter().find(|w| w.id == id).map(|w| w.state.as_str());
    assert_eq!(state(5), Some("crashed"), "{workers:?}");
    assert!(matches!(state(8), Some("idle" | "busy")), "{workers:?}");
    assert!(run.summary.requests.failed > 0);
    assert_eq!(run.summary.requests.rejected, 0);
}

#[derive(Default)]
struct WorkerLog(Vec<(u64, EventKind)>);

impl Sink for WorkerLog {
    fn emit(&mut self, ev: fantop::event::Event) {
        if matches!(
            ev.kind,
            EventKind::WorkerStalled { .. }
                | EventKind::WorkerRecovered { .. }
                | EventKind::WorkerCrashed { .. }
                | EventKind::WorkerSpawned { .. }
        ) {
            self.0.push((ev.t, ev.kind));
        }
    }
}

/// Runs a timeline on the bare simulation as the pipeline thread does.
fn simulate(cfg: SimConfig, timeline: &[Scheduled]) -> WorkerLog {
    let mut sim = Sim::new(cfg);
    let mut log = WorkerLog::default();
    for step in timeline {
        sim.advance_until(step.at, &mut log);
        if step.action == Command::Stop {
            break;
        }
        let _ = sim.apply(step.action, &mut log);
    }
    log
}

/// Worker faults, event by event: the stall is flagged within the health
/// monitor's window and clears when it ends; w1 restarts, w5 does not.
#[test]
fn worker_faults_story_is_detected_by_the_health_monitor() {
    let s = load_shipped("worker-faults.toml");
    let log = simulate(config_of(&s), &s.timeline()).0;
    let first = |f: &dyn Fn(&EventKind) -> bool| log.iter().find(|(_, k)| f(k)).map(|(t, _)| *t);
    let stalled3 = first(&|k| *k == EventKind::WorkerStalled { worker: 3 }).expect("w3 flagged stalled");
    assert!(
        (5 * SECONDS..=5 * SECONDS + 500 * MILLIS).contains(&stalled3),
        "{stalled3}"
    );
    let recovered3 = first(&|k| *k == EventKind::WorkerRecovered { worker: 3 }).expect("w3 recovered");
    assert!(
        (9 * SECONDS..=9 * SECONDS + 200 * MILLIS).contains(&recovered3),
        "{recovered3}"
    );
    assert!(first(&|k| *k == EventKind::WorkerStalled { worker: 6 }).is_some());
    assert!(first(&|k| matches!(k, EventKind::WorkerCrashed { worker: 1, .. })) == Some(12 * SECONDS));
    let respawns = |w| {
        log.iter()
            .filter(|(t, k)| *t > 10 * SECONDS && *k == EventKind::WorkerSpawned { worker: w })
            .count()
    };
    assert_eq!(respawns(1), 1, "w1 restarts");
    assert_eq!(respawns(5), 0, "w5 stays down");
    assert_eq!(respawns(8), 1, "w8 tops the pool up");
    let crashes = log
        .iter()
        .filter(|(_, k)| matches!(k, EventKind::WorkerCrashed { .. }))
        .count();
    assert_eq!(crashes, 3);
}

// ---------------------------------------------------------------------------
// The conversion

const FULL: &str = r#"# every kind of step
name = "Everything"
description = "One of each."

[settings]
seed = 42
rate = 2000
workers = 8
service = "lognormal:2ms:20ms"
error_rate = 0.01
queue = 10000
auto_restart = false

[[step]]
at = "0s"
action = "focus"
pane = "latency"

[[step]]
at = "5s"
action = "rate"
value = 20000

[[step]]
at = "10s"
action = "slow_subscriber"
label = "a slow one"

[[step]]
at = "12s"
action = "stall"
worker = 3
for = "4s"

[[step]]
at = "12s"
action = "crash"

[[step]]
at = "20s"
action = "burst"
factor = 5
for = "3s"

[[step]]
at = "21s"
action = "service"
value = "exp:4ms"

[[step]]
at = "22s"
action = "add_workers"
count = -2

[[step]]
at = "23s"
action = "error_rate"
value = 0.5

[[step]]
at = "24s"
action = "queue"
value = 500

[[step]]
at = "25s"
action = "pause"

[[step]]
at = "26s"
action = "resume"

[[step]]
at = "27s"
action = "window"
value = "5m"

[[step]]
at = "28s"
action = "note"
label = "look at the tail"

[[step]]
at = "1m"
action = "end"
"#;

/// A full example converts to exactly this timeline: each step's marker,
/// then its pipeline action; app steps are handed over (`AppStep`); notes
/// have only the marker; `end` stops.
#[test]
fn a_full_example_converts_to_the_expected_timeline() {
    let s = scenario::parse("full.toml", FULL).unwrap();
    assert_eq!(s.name, "Everything");
    assert_eq!(s.description, "One of each.");
    let st = s.settings;
    assert_eq!(
        (st.seed, st.rate, st.workers, st.error_rate, st.queue, st.auto_restart),
        (Some(42), Some(2000.0), Some(8), Some(0.01), Some(10_000), Some(false))
    );
    assert_eq!(st.service, Some(ServiceDist::default()));

    let at = |s: u64| s * SECONDS;
    let mark = |t, i| Scheduled {
        at: t,
        action: Command::ScenarioStep(i),
    };
    let act = |t, action| Scheduled { at: t, action };
    let expected = vec![
        mark(0, 0),
        act(0, Command::AppStep(0)),
        mark(at(5), 1),
        act(at(5), Command::SetRate(20_000.0)),
        mark(at(10), 2),
        act(at(10), Command::AppStep(2)),
        mark(at(12), 3),
        act(
            at(12),
            Command::Stall {
                worker: Some(3),
                duration: at(4),
            },
        ),
        mark(at(12), 4),
        act(at(12), Command::Crash { worker: None }),
        mark(at(20), 5),
        act(
            at(20),
            Command::Burst {
                factor: 5.0,
                duration: at(3),
            },
        ),
        mark(at(21), 6),
        act(at(21), Command::SetService(ServiceDist::Exp { mean_ns: 4 * MILLIS })),
        mark(at(22), 7),
        act(at(22), Command::AddWorkers(-2)),
        mark(at(23), 8),
        act(at(23), Command::SetErrorRate(0.5)),
        mark(at(24), 9),
        act(at(24), Command::SetQueueCapacity(500)),
        mark(at(25), 10),
        act(at(25), Command::Pause),
        mark(at(26), 11),
        act(at(26), Command::Resume),
        mark(at(27), 12),
        act(at(27), Command::AppStep(12)),
        mark(at(28), 13),
        mark(at(60), 14),
        act(at(60), Command::Stop),
    ];
    assert_eq!(s.timeline(), expected);
    assert_eq!(s.end(), Some(at(60)));

    let whats: Vec<StepAction> = s.steps.iter().map(|st| st.what).collect();
    assert_eq!(whats[0], StepAction::Focus(1));
    assert_eq!(whats[2], StepAction::AddSlowSubscriber);
    assert_eq!(whats[12], StepAction::Window(300));
    assert_eq!(whats[13], StepAction::Note);
    assert_eq!(
        s.labels(),
        [
            "focus the latency pane",
            "rate → 20,000/s",
            "a slow one",
            "stall w3 for 4s",
            "crash a random worker",
            "burst ×5 for 3s",
            "service → exp:4ms",
            "remove 2 workers",
            "error rate → 50%",
            "queue capacity → 500",
            "pause arrivals",
            "resume arrivals",
            "chart window 5m",
            "look at the tail",
            "end of scenario",
        ]
    );
    // Each step's line is its [[step]] header.
    let lines: Vec<&str> = FULL.lines().collect();
    for st in &s.steps {
        assert_eq!(lines[st.line - 1], "[[step]]", "step at line {}", st.line);
    }
    assert_eq!(s.steps[0].line, 14);
}

/// A scenario without `end` runs until stopped; an empty one is valid too.
#[test]
fn end_is_optional() {
    let s = scenario::parse("x.toml", "[[step]]\nat = \"1s\"\naction = \"pause\"\n").unwrap();
    assert_eq!(s.end(), None);
    assert_eq!(s.name, "x", "the name defaults to the file stem");
    let empty = scenario::parse("dir/empty.toml", "# nothing\n").unwrap();
    assert!(empty.steps.is_empty() && empty.timeline().is_empty());
    assert_eq!(empty.name, "empty");
}

/// Steps at the same time keep their file order.
#[test]
fn simultaneous_steps_keep_file_order() {
    let s = scenario::parse(
        "x.toml",
        "[[step]]\nat = \"1s\"\naction = \"pause\"\n[[step]]\nat = \"1000ms\"\naction = \"resume\"\n",
    )
    .unwrap();
    let actions: Vec<Command> = s.timeline().iter().map(|t| t.action).collect();
    assert_eq!(
        actions,
        [
            Command::ScenarioStep(0),
            Command::Pause,
            Command::ScenarioStep(1),
            Command::Resume
        ]
    );
}

// ---------------------------------------------------------------------------
// Errors: each names the file, the line and the problem.

/// A missing file is named, with no line.
#[test]
fn missing_file_is_named() {
    let e = scenario::load(Path::new("/no/such/dir/story.toml")).unwrap_err();
    assert_eq!(e.line, None);
    assert_eq!(
        e.to_string(),
        "/no/such/dir/story.toml: cannot open the scenario: no such file"
    );
}

/// A directory or a non-UTF-8 file is refused, not read as TOML.
#[test]
fn unreadable_files_are_refused() {
    let dir = std::env::temp_dir().join(format!("fantop-scenario-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let e = scenario::load(&dir).unwrap_err();
    assert!(
        e.to_string().starts_with(&format!("{}: cannot read", dir.display())),
        "{e}"
    );
    let bin = dir.join("bin.toml");
    std::fs::write(&bin, b"name = \"x\"\n\xff\xfe\n").unwrap();
    let e = scenario::load(&bin).unwrap_err();
    assert_eq!((e.line, e.message.as_str()), (Some(2), "the file is not UTF-8 text"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// TOML syntax errors point at their line.
#[test]
fn syntax_errors_name_the_line() {
    assert_err("name = \"x\"\n\n[[step]]\nat = 5s\n", 4, &[]);
    assert_err("name = \"x\"\nname = \"y\"\n", 2, &["duplicate key"]);
    assert_err("[[step]\n", 1, &[]);
}

/// Unknown keys, at the top, in [settings] or in a step, are refused at their line.
#[test]
fn unknown_keys_are_refused() {
    assert_err(
        "name = \"x\"\nseed = 4\n",
        2,
        &["unknown key `seed`", "`seed` belongs under [settings]"],
    );
    assert_err("at = \"1s\"\n", 1, &["unknown key `at`", "under a [[step]] header"]);
    assert_err(
        "[settings]\nrate = 5\nthreads = 4\n",
        3,
        &["unknown key `threads`", "workers"],
    );
    assert_err(
        "[[step]]\nat = \"1s\"\naction = \"rate\"\nvalu = 5\n",
        4,
        &["unknown key `valu`", "`value`"],
    );
    assert_err("[[steps]]\nat = \"1s\"\n", 1, &["unknown key `steps`"]);
}

/// `[step]` instead of `[[step]]` gets a hint.
#[test]
fn a_single_bracket_step_gets_a_hint() {
    assert_err("[step]\nat = \"1s\"\naction = \"pause\"\n", 1, &["[[step]]"]);
}

/// An unknown action lists the valid ones (and suggests the nearest).
#[test]
fn unknown_actions_list_the_valid_ones() {
    assert_err(
        "[[step]]\nat = \"1s\"\naction = \"stal\"\nfor = \"1s\"\n",
        3,
        &[
            "unknown action `stal`",
            "did you mean `stall`?",
            "rate, rate_scale",
            "slow_subscriber",
            "end",
        ],
    );
    assert_err("\n[[step]]\nat = \"1s\"\n", 2, &["no `action`", "rate, rate_scale"]);
}

/// A missing required key is reported at the step's [[step]] header.
#[test]
fn missing_keys_are_reported_at_the_step_header() {
    assert_err("[[step]]\naction = \"pause\"\n", 1, &["no `at`"]);
    assert_err(
        "# c\n[[step]]\nat = \"1s\"\naction = \"rate\"\n",
        2,
        &["`rate` needs `value`"],
    );
    assert_err(
        "[[step]]\nat = \"1s\"\naction = \"stall\"\nworker = 1\n",
        1,
        &["`stall` needs `for`"],
    );
    assert_err(
        "[[step]]\nat = \"1s\"\naction = \"burst\"\nfor = \"1s\"\n",
        1,
        &["needs `factor`"],
    );
    assert_err("[[step]]\nat = \"1s\"\naction = \"note\"\n", 1, &["needs `label`"]);
    assert_err("[[step]]\nat = \"1s\"\naction = \"focus\"\n", 1, &["needs `pane`"]);
}

/// A key the action does not take is refused, not ignored.
#[test]
fn keys_that_do_not_apply_are_refused() {
    assert_err(
        "[[step]]\nat = \"1s\"\naction = \"rate\"\nvalue = 5\nfor = \"2s\"\n",
        5,
        &["`for` does not apply to `rate`", "only `value`"],
    );
    assert_err(
        "[[step]]\nat = \"1s\"\naction = \"pause\"\nvalue = true\n",
        4,
        &["`value` does not apply to `pause`"],
    );
}

/// Values follow the same rules as the command line and the keys.
#[test]
fn bad_values_follow_the_cli_rules() {
    let step = |body: &str| format!("[[step]]\nat = \"1s\"\n{body}\n");
    let cases: &[(&str, usize, &[&str])] = &[
        (
            "action = \"rate\"\nvalue = 0",
            4,
            &["rate must be a number greater than 0"],
        ),
        ("action = \"rate\"\nvalue = 1e9", 4, &["rate must be at most"]),
        ("action = \"rate\"\nvalue = nan", 4, &["rate must be"]),
        (
            "action = \"workers\"\nvalue = 0",
            4,
            &["workers must be between 1 and 1024"],
        ),
        (
            "action = \"workers\"\nvalue = 2000",
            4,
            &["workers must be between 1 and 1024"],
        ),
        ("action = \"workers\"\nvalue = 2.5", 4, &["a whole number"]),
        ("action = \"workers\"\nvalue = -3", 4, &["a whole number"]),
        (
            "action = \"error_rate\"\nvalue = 1.5",
            4,
            &["error rate must be between 0 and 1"],
        ),
        (
            "action = \"queue\"\nvalue = 0",
            4,
            &["queue capacity must be between 1"],
        ),
        (
            "action = \"service\"\nvalue = \"lognormal:20ms:2ms\"",
            4,
            &["p99 must be at least the median"],
        ),
        (
            "action = \"service\"\nvalue = \"gamma:1ms\"",
            4,
            &["unknown kind 'gamma'"],
        ),
        (
            "action = \"rate_scale\"\nfactor = 0",
            4,
            &["scale factor must be a number greater than 0"],
        ),
        (
            "action = \"burst\"\nfactor = -1\nfor = \"1s\"",
            4,
            &["burst factor must be greater than 0"],
        ),
        (
            "action = \"burst\"\nfactor = 2\nfor = \"0s\"",
            5,
            &["must be greater than zero"],
        ),
        ("action = \"stall\"\nfor = \"4 parsecs\"", 4, &["unknown unit"]),
        (
            "action = \"stall\"\nworker = 1024\nfor = \"1s\"",
            4,
            &["worker` must be below 1024"],
        ),
        ("action = \"crash\"\nworker = -1", 4, &["a worker id from 0 to 1023"]),
        ("action = \"add_workers\"\ncount = 0", 4, &["not 0"]),
        ("action = \"add_error_rate\"\nvalue = 2", 4, &["between -1 and 1"]),
        (
            "action = \"focus\"\npane = \"graphs\"",
            4,
            &["unknown pane \"graphs\"", "\"events\""],
        ),
        (
            "action = \"window\"\nvalue = \"2m\"",
            4,
            &["unknown window \"2m\"", "\"30s\", \"1m\" or \"5m\""],
        ),
        ("action = \"note\"\nlabel = \"\"", 4, &["`label` is empty"]),
        ("action = \"note\"\nlabel = \"two\\nlines\"", 4, &["one line"]),
    ];
    for (body, line, fragments) in cases {
        assert_err(&step(body), *line, fragments);
    }
    assert_err(
        "[[step]]\nat = \"soon\"\naction = \"pause\"\n",
        2,
        &["`at`", "not a duration"],
    );
    assert_err("[settings]\nworkers = 0\n", 2, &["workers must be between 1 and 1024"]);
    assert_err(
        "[settings]\nerror_rate = -0.5\n",
        2,
        &["error rate must be between 0 and 1"],
    );
    assert_err("[settings]\nservice = \"exp\"\n", 2, &["bad distribution"]);
    assert_err("[settings]\nseed = -1\n", 2, &["`seed` must be a whole number"]);
    assert_err("[settings]\nseed = 99999999999999999999\n", 2, &["out of range"]);
}

/// A value of the wrong type says what was expected and what was found.
#[test]
fn wrong_types_say_what_was_expected() {
    let step = |body: &str| format!("[[step]]\nat = \"1s\"\n{body}\n");
    assert_err(
        &step("action = \"rate\"\nvalue = true"),
        4,
        &["`value` must be a number of requests/s, not the boolean true"],
    );
    assert_err(
        &step("action = \"rate\"\nvalue = \"20000\""),
        4,
        &["must be a number", "the string \"20000\""],
    );
    assert_err(&step("action = \"zoom\"\nvalue = 1"), 4, &["must be true or false"]);
    assert_err(
        &step("action = \"auto_restart\"\nvalue = \"yes\""),
        4,
        &["true or false"],
    );
    assert_err(&step("action = 5"), 3, &["`action` must be an action name"]);
    assert_err(
        "[[step]]\nat = 5\naction = \"pause\"\n",
        2,
        &["`at` must be a time", "\"5s\""],
    );
    assert_err("[settings]\nrate = [1]\n", 2, &["not an array"]);
    assert_err("[settings]\nauto_restart = 1\n", 2, &["true or false"]);
    assert_err("name = 5\n", 1, &["`name` must be text"]);
}

/// Steps must be in time order; the error names the previous step's time and line.
#[test]
fn steps_out_of_order_are_refused() {
    assert_err(
        "[[step]]\nat = \"10s\"\naction = \"pause\"\n\n[[step]]\nat = \"5s\"\naction = \"resume\"\n",
        6,
        &["at 5s is before the previous step's 10s (line 1)", "time order"],
    );
}

/// `end` must be the last step, and there is at most one.
#[test]
fn nothing_may_follow_end() {
    assert_err(
        "[[step]]\nat = \"30s\"\naction = \"end\"\n[[step]]\nat = \"40s\"\naction = \"pause\"\n",
        4,
        &["step after the `end` step (line 1)"],
    );
    assert_err(
        "[[step]]\nat = \"30s\"\naction = \"end\"\n[[step]]\nat = \"30s\"\naction = \"end\"\n",
        4,
        &["more than one `end` step (the first is at line 1)"],
    );
}

fn many_steps(n: usize) -> String {
    let mut text = String::with_capacity(n * 40);
    for _ in 0..n {
        text.push_str("[[step]]\nat = \"1s\"\naction = \"pause\"\n");
    }
    text
}

/// At most 65,535 steps (the stream's step marker is a u16).
#[test]
fn at_most_65535_steps() {
    let ok = scenario::parse("demo.toml", &many_steps(MAX_STEPS)).unwrap();
    assert_eq!(ok.timeline().last().unwrap().action, Command::Pause);
    assert_eq!(
        ok.timeline()[2 * (MAX_STEPS - 1)].action,
        Command::ScenarioStep(u16::MAX - 1)
    );
    assert_err(
        &many_steps(MAX_STEPS + 1),
        3 * MAX_STEPS + 1,
        &["too many steps: at most 65,535"],
    );
}

/// An error is displayed on one line.
#[test]
fn errors_display_on_one_line() {
    for text in [
        "x = ",
        "[[step]]\nat = \"1s\"\naction = \"note\"\nlabel = \"a\\nb\"\n",
        "a = \"\"\"\n\n",
    ] {
        let e = parse_err(text);
        assert!(!e.to_string().contains('\n'), "{e}");
    }
}

// ---------------------------------------------------------------------------
// Garbage never panics.

const FRAGMENTS: &[&str] = &[
    "[[step]]\n",
    "[step]\n",
    "[settings]\n",
    "at = \"1s\"\n",
    "at = \"0s\"\n",
    "at = 5\n",
    "action = \"rate\"\n",
    "action = \"stall\"\n",
    "action = \"end\"\n",
    "action = \"window\"\n",
    "action = \"note\"\n",
    "value = 1e308\n",
    "value = -inf\n",
    "value = nan\n",
    "value = 9223372036854775807\n",
    "value = -9223372036854775808\n",
    "value = true\n",
    "value = \"1m\"\n",
    "value = [1, \"a\"]\n",
    "value = {a = 1}\n",
    "value = 1979-05-27T07:32:00Z\n",
    "factor = 0\n",
    "count = -2147483649\n",
    "worker = 65535\n",
    "for = \"18446744073709551615s\"\n",
    "for = \"1e400h\"\n",
    "label = \"\u{202e}\u{feff}é\"\n",
    "pane = \"\"\n",
    "seed = \"x\"\n",
    "rate = 0.0\n",
    "service = \"lognormal:1ns:1ns\"\n",
    "name = \"\"\"\nx\"\"\"\n",
    "\u{feff}",
    "\r\n",
    "=",
    "\"",
    "[[",
    "#",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random text never panics; an error always names the file.
    #[test]
    fn garbage_text_never_panics(text in "\\PC{0,200}") {
        if let Err(e) = scenario::parse("g.toml", &text) {
            prop_assert!(e.to_string().starts_with("g.toml"));
        }
    }

    /// Plausible files assembled from scenario fragments never panic, and
    /// an error's line is within the file.
    #[test]
    fn shuffled_fragments_never_panic(picks in prop::collection::vec(0..FRAGMENTS.len(), 0..24)) {
        let text: String = picks.iter().map(|&i| FRAGMENTS[i]).collect();
        if let Err(e) = scenario::parse("g.toml", &text) {
            let lines = text.split('\n').count();
            prop_assert!(e.line.is_none_or(|l| l >= 1 && l <= lines), "{} in {} lines:\n{}", e, lines, text);
            prop_assert!(!e.to_string().contains('\n'));
        }
    }
}
