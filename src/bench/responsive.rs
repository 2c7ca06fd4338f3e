//! `fantop bench --responsive`: how quickly the live monitor answers its
//! keys at the highest rate it accepts (100,000,000 requests/s, far beyond
//! what the pipeline can generate), next to the same measurement at the
//! default 2,000 requests/s in the same run.
//!
//! Each run is the real live monitor: a [`Stack`] in real time (pipeline
//! thread, broadcaster, collector thread), the [`App`] with every pane, a
//! [`Session`], and [`event_loop`] with its [`LiveDriver`], drawing on a
//! 120x36 [`TestBackend`] wrapped so that every flushed frame's header row
//! is handed to the bench with the time it was drawn. Only the terminal is
//! missing: keys come through the loop's input channel as the input thread
//! would send them.
//!
//! After a warm-up (overload in full swing: the pipeline falling short, the
//! panes losing events), the bench presses `-` and `+` in turn and times
//! each **key → effect**: from sending the key to the first frame whose
//! header shows the rate the key set (`rate 80,000,000/s`, then
//! `rate 100,000,000/s`): the key reached the loop, the pipeline applied it
//! and announced it, the header's feed received it and the frame was drawn.
//! Then it presses `q` and times **q → exited**: from sending it to the run
//! torn down in order ([`Stack::finish`]: pipeline stopped and joined,
//! panes dropped, session finished, collector joined), which is what the
//! binary does before it exits. The issue's targets: 200 ms and 500 ms.
//!
//! # JSON (`--json`), schema `fantop-bench-responsive/1`
//!
//! ```text
//! { "schema": "fantop-bench-responsive/1", "machine": {..}, "build": .., "command": .., "date": ..,
//!   "quick": false, "runs": 3, "presses_per_run": 6, "warm_up_s": 3.0, "fps": 20,
//!   "rows": [ { "rate": 2000.0, "achieved_per_s": 1999.2 | null, "collector_lost_events": 0,
//!               "key_to_effect_ms": SPREAD, "q_to_exit_ms": SPREAD, "missed_keys": 0 } ],
//!   "ratio": { "key_to_effect": 1.1, "q_to_exit": 1.4 },   // row 2 median / row 1 median
//!   "targets": { "key_to_effect_ms": 200.0, "q_to_exit_ms": 500.0, "met": true } }
//! ```
//! `achieved_per_s` is the pipeline's achieved rate while it fell short
//! (null if it kept up); `missed_keys` counts presses whose effect did not
//! show within [`GIVE_UP`] (they are left out of the spread).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use ratatui::Terminal;
use ratatui::backend::{Backend, ClearType, TestBackend, WindowSize};
use ratatui::buffer::Cell;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::{Position, Size};
use serde::Serialize;

use super::report::*;
use crate::pipeline::{Pace, SimConfig};
use crate::run::{self, Stack, Time};
use crate::session::{RecordingSetup, Session, SessionOptions};
use crate::tui::app::{App, Mode};
use crate::tui::theme::Theme;
use crate::tui::{DEFAULT_FPS, Exit, Input, LiveDriver, LoopIo, event_loop};

pub const RESPONSIVE_SCHEMA: &str = "fantop-bench-responsive/1";
/// The rate under test, and the baseline measured in the same run.
pub const OVERLOAD_RATE: f64 = crate::pipeline::control::MAX_RATE;
pub const BASELINE_RATE: f64 = crate::pipeline::model::DEFAULT_RATE;
/// The issue's targets.
pub const KEY_TARGET_MS: f64 = 200.0;
pub const QUIT_TARGET_MS: f64 = 500.0;
/// A key whose effect has not shown by then counts as missed.
pub const GIVE_UP: Duration = Duration::from_secs(5);
/// The screen the monitor draws on.
const SIZE: (u16, u16) = (120, 36);

#[derive(Clone, Debug, Serialize)]
pub struct ResponsiveRow {
    pub rate: f64,
    pub achieved_per_s: Option<f64>,
    pub collector_lost_events: u64,
    pub key_to_effect_ms: Spread,
    pub q_to_exit_ms: Spread,
    pub missed_keys: u32,
}

#[derive(Clone, Debug, Serialize)]
pub struct Ratio {
    pub key_to_effect: f64,
    pub q_to_exit: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Targets {
    pub key_to_effect_ms: f64,
    pub q_to_exit_ms: f64,
    /// At the overload rate, every press showed its effect, the slowest key
    /// within its target and the slowest quit within its.
    pub met: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct ResponsiveReport {
    pub schema: &'static str,
    pub machine: Machine,
    pub build: &'static str,
    pub command: String,
    pub date: String,
    pub quick: bool,
    pub runs: u32,
    pub presses_per_run: u32,
    pub warm_up_s: f64,
    pub fps: u32,
    pub rows: Vec<ResponsiveRow>,
    pub ratio: Ratio,
    pub targets: Targets,
}

/// A [`TestBackend`] that hands each flushed frame's header row, and when
/// it was drawn, to the bench.
struct Probe {
    inner: TestBackend,
    frames: Sender<(Instant, String)>,
}

impl Backend for Probe {
    type Error = <TestBackend as Backend>::Error;

    fn draw<'a, I>(&mut self, content: I) -> Result<(), Self::Error>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        self.inner.draw(content)
    }
    fn hide_cursor(&mut self) -> Result<(), Self::Error> {
        self.inner.hide_cursor()
    }
    fn show_cursor(&mut self) -> Result<(), Self::Error> {
        self.inner.show_cursor()
    }
    fn get_cursor_position(&mut self) -> Result<Position, Self::Error> {
        self.inner.get_cursor_position()
    }
    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> Result<(), Self::Error> {
        self.inner.set_cursor_position(position)
    }
    fn clear(&mut self) -> Result<(), Self::Error> {
        self.inner.clear()
    }
    fn clear_region(&mut self, clear_type: ClearType) -> Result<(), Self::Error> {
        self.inner.clear_region(clear_type)
    }
    fn size(&self) -> Result<Size, Self::Error> {
        self.inner.size()
    }
    fn window_size(&mut self) -> Result<WindowSize, Self::Error> {
        self.inner.window_size()
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        self.inner.flush()?;
        let buf = self.inner.buffer();
        let header: String = (0..buf.area.width).map(|x| buf[(x, 0)].symbol()).collect();
        // Bounded: the bench reads every frame; a full channel drops one.
        let _ = self.frames.try_send((Instant::now(), header));
        Ok(())
    }
}

/// What one run measured.
struct RunFigures {
    keys_ms: Vec<f64>,
    missed: u32,
    quit_ms: f64,
    achieved: Option<f64>,
    collector_lost: u64,
}

fn key(c: char) -> Input {
    Input::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

/// The header's rate text for `rate`, as the header writes it.
fn rate_text(rate: f64) -> String {
    format!("rate {}/s", crate::format::count(rate.round() as u64))
}

/// Presses `-` and `+` in turn `presses` times after `warm_up`, timing each
/// to the first frame that shows its rate, then presses `q`; returns the
/// key times (ms), the misses and when `q` was sent.
fn type_keys(
    input: Sender<Input>,
    frames: Receiver<(Instant, String)>,
    rate: f64,
    warm_up: Duration,
    presses: u32,
) -> (Vec<f64>, u32, Instant) {
    std::thread::sleep(warm_up);
    let (mut times, mut missed) = (Vec::new(), 0);
    for i in 0..presses {
        let (c, set) = if i % 2 == 0 { ('-', rate / 1.25) } else { ('+', rate) };
        let needle = rate_text(set);
        while frames.try_recv().is_ok() {}
        let sent = Instant::now();
        if input.send(key(c)).is_err() {
            break;
        }
        let shown = loop {
            match frames.recv_deadline(sent + GIVE_UP) {
                Ok((at, header)) if header.contains(&needle) => break Some(at),
                Ok(_) => {}
                Err(_) => break None,
            }
        };
        match shown {
            Some(at) => times.push(at.duration_since(sent).as_secs_f64() * 1e3),
            None => missed += 1,
        }
        // Presses a little apart, as a person's are.
        std::thread::sleep(Duration::from_millis(100));
    }
    let quit = Instant::now();
    let _ = input.send(key('q'));
    (times, missed, quit)
}

/// One live run at `rate`: warm-up, presses, quit; torn down as the binary does.
fn run_once(rate: f64, warm_up: Duration, presses: u32) -> anyhow::Result<RunFigures> {
    let sim = SimConfig {
        rate,
        seed: 1,
        ..SimConfig::default()
    };
    let mut stack = Stack::new(Time::Real)?;
    let mut app = App::new(
        &stack.broadcaster,
        stack.snapshots(),
        Theme::MONO,
        Mode::Live { seed: 1 },
    );
    let session = Session::new(
        &stack.broadcaster,
        SessionOptions {
            recording: RecordingSetup {
                seed: 1,
                config: run::config_summary(&sim, None, false),
                scenario: None,
                path: None,
            },
            steps: Vec::new(),
            virtual_time: false,
        },
    );
    let (control, steps) = stack.start_pipeline(run::pipeline_options(sim, Pace::RealTime, None, &[]), true)?;
    let (input_tx, input_rx) = crossbeam_channel::bounded(256);
    let (frames_tx, frames_rx) = crossbeam_channel::bounded(1024);
    let mut terminal = Terminal::new(Probe {
        inner: TestBackend::new(SIZE.0, SIZE.1),
        frames: frames_tx,
    })?;
    let io = LoopIo {
        input: input_rx,
        signals: crossbeam_channel::never(),
        steps: steps.unwrap_or_else(crossbeam_channel::never),
        fps: DEFAULT_FPS,
        job_control: false,
    };
    let mut driver = LiveDriver {
        stack,
        control,
        session,
    };
    let typist = std::thread::Builder::new()
        .name("fantop/bench-typist".into())
        .spawn(move || type_keys(input_tx, frames_rx, rate, warm_up, presses))?;
    let exit = event_loop(&mut terminal, &mut app, &mut driver, &io, None)?;
    anyhow::ensure!(exit == Exit::Quit, "the monitor ended without a quit: {exit:?}");
    let LiveDriver { stack, mut session, .. } = driver;
    let finished = stack.finish(&mut session, app);
    let exited = Instant::now();
    let (keys_ms, missed, quit) = typist
        .join()
        .map_err(|_| anyhow::anyhow!("the typist thread panicked"))?;
    Ok(RunFigures {
        keys_ms,
        missed,
        quit_ms: exited.duration_since(quit).as_secs_f64() * 1e3,
        achieved: finished.snapshot.overload.achieved_while_short(),
        collector_lost: finished.snapshot.lost_events,
    })
}

fn row(rate: f64, runs: u32, warm_up: Duration, presses: u32) -> anyhow::Result<ResponsiveRow> {
    let (mut keys, mut quits, mut missed) = (Vec::new(), Vec::new(), 0);
    let (mut achieved, mut lost) = (Vec::new(), 0);
    for i in 0..runs {
        progress(&format!(
            "responsive: {} requests/s, run {} of {runs}",
            rate_text(rate),
            i + 1
        ));
        let f = run_once(rate, warm_up, presses)?;
        keys.extend(f.keys_ms);
        quits.push(f.quit_ms);
        missed += f.missed;
        achieved.extend(f.achieved);
        lost += f.collector_lost;
    }
    anyhow::ensure!(
        !keys.is_empty(),
        "no key press showed its effect at {}",
        rate_text(rate)
    );
    Ok(ResponsiveRow {
        rate,
        achieved_per_s: (!achieved.is_empty()).then(|| achieved.iter().sum::<f64>() / achieved.len() as f64),
        collector_lost_events: lost,
        key_to_effect_ms: Spread::of(keys),
        q_to_exit_ms: Spread::of(quits),
        missed_keys: missed,
    })
}

/// Measures the baseline rate, then the overload rate (see the module doc).
pub fn measure_responsive(quick: bool) -> anyhow::Result<ResponsiveReport> {
    let mut machine = machine();
    let cpu_before = CpuTicks::now();
    let command = command_line();
    let date = date_now();
    let (runs, presses, warm_up) = if quick {
        (1, 2, Duration::from_millis(1500))
    } else {
        (3, 6, Duration::from_secs(3))
    };
    let baseline = row(BASELINE_RATE, runs, warm_up, presses)?;
    let overload = row(OVERLOAD_RATE, runs, warm_up, presses)?;
    let cpu_after = CpuTicks::now();
    machine.others_cpus = cpu_before.zip(cpu_after).map(|(a, b)| b.others_cpus_since(&a));
    let ratio = Ratio {
        key_to_effect: overload.key_to_effect_ms.median / baseline.key_to_effect_ms.median,
        q_to_exit: overload.q_to_exit_ms.median / baseline.q_to_exit_ms.median,
    };
    let targets = Targets {
        key_to_effect_ms: KEY_TARGET_MS,
        q_to_exit_ms: QUIT_TARGET_MS,
        met: overload.missed_keys == 0
            && overload.key_to_effect_ms.max <= KEY_TARGET_MS
            && overload.q_to_exit_ms.max <= QUIT_TARGET_MS,
    };
    Ok(ResponsiveReport {
        schema: RESPONSIVE_SCHEMA,
        machine,
        build: build(),
        command,
        date,
        quick,
        runs,
        presses_per_run: presses,
        warm_up_s: warm_up.as_secs_f64(),
        fps: DEFAULT_FPS,
        rows: vec![baseline, overload],
        ratio,
        targets,
    })
}

impl ResponsiveReport {
    pub fn table(&self) -> String {
        let mut o = String::new();
        header(
            &mut o,
            "fantop bench --responsive",
            &self.machine,
            self.build,
            &self.command,
            &self.date,
        );
        let _ = writeln!(
            o,
            "each figure: the live monitor (pipeline, collector, every pane) on a {}x{} test screen at {} fps;\n\
             {} run(s) per rate, each {:.1} s of warm-up then {} presses of -/+ and a q; median [min–max]\n",
            SIZE.0, SIZE.1, self.fps, self.runs, self.warm_up_s, self.presses_per_run
        );
        let ms = |s: &Spread| format!("{} [{}–{}] ms", sig3(s.median), sig3(s.min), sig3(s.max));
        let mut rows = vec![vec![
            "rate".to_string(),
            "achieved".to_string(),
            "key → effect on screen".to_string(),
            "q → exited".to_string(),
            "keys missed".to_string(),
            "collector lost".to_string(),
        ]];
        for r in &self.rows {
            rows.push(vec![
                format!("{}/s", crate::format::count(r.rate as u64)),
                r.achieved_per_s
                    .map_or("kept up".to_string(), |a| format!("{}/s", fmt_rate(a))),
                ms(&r.key_to_effect_ms),
                ms(&r.q_to_exit_ms),
                r.missed_keys.to_string(),
                crate::format::count(r.collector_lost_events),
            ]);
        }
        rows.push(vec![
            "ratio".to_string(),
            String::new(),
            format!("{:.2}x", self.ratio.key_to_effect),
            format!("{:.2}x", self.ratio.q_to_exit),
        ]);
        o.push_str(&columns(&rows, &[4, 5]));
        let _ = writeln!(
            o,
            "\ntargets at {}/s: key → effect ≤ {} ms, q → exited ≤ {} ms (slowest of all presses): {}",
            crate::format::count(OVERLOAD_RATE as u64),
            self.targets.key_to_effect_ms,
            self.targets.q_to_exit_ms,
            if self.targets.met { "met" } else { "MISSED" }
        );
        o
    }
}
