//! Throughput: completed, failed and arriving requests per second, now and
//! over the chart window, with the target rate marked.
//!
//! A second in which the pane's stream lost events is marked lossy: the
//! chart leaves it out and the headline reads the second before, until a
//! collector snapshot that holds the whole second replaces its counts and
//! target with the collector's (the collector keeps the last minute's
//! seconds).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{Ctx, HISTORY_S, PaneId, PaneView, Series, YAxis, block, draw_time_chart, has_room, sec, series, title};
use crate::collector::Snapshot;
use crate::collector::window::SecondRing;
use crate::event::{Event, EventKind, LoadChange, Nanos, SECONDS};
use crate::format;
use crate::tui::feed::View;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub arrived: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub rejected: u64,
    /// The stream lost events in this second, and no snapshot has replaced
    /// its counts yet.
    pub lossy: bool,
}

#[derive(Clone, Debug)]
pub struct ThroughputView {
    secs: SecondRing<Counts>,
    /// Target rate per second over time (rate × burst), sampled per second.
    target_at: SecondRing<f64>,
    pub now: Nanos,
    pub rate: f64,
    pub burst: Option<f64>,
    /// Pipeline time of the newest setting change applied from the stream.
    load_at: Nanos,
}

impl Default for ThroughputView {
    fn default() -> Self {
        ThroughputView {
            secs: SecondRing::new(HISTORY_S),
            target_at: SecondRing::new(HISTORY_S),
            now: 0,
            rate: 0.0,
            burst: None,
            load_at: 0,
        }
    }
}

impl View for ThroughputView {
    fn apply(&mut self, ev: &Event) {
        self.now = self.now.max(ev.t);
        let s = sec(ev.t);
        match ev.kind {
            EventKind::RequestArrived { .. } => self.secs.at(s).arrived += 1,
            EventKind::RequestCompleted { ok: true, .. } => self.secs.at(s).succeeded += 1,
            EventKind::RequestCompleted { ok: false, .. } => self.secs.at(s).failed += 1,
            EventKind::RequestRejected { .. } => self.secs.at(s).rejected += 1,
            EventKind::LoadChanged { change } => match change {
                LoadChange::Rate { per_s } => {
                    self.rate = per_s;
                    self.load_at = ev.t;
                }
                LoadChange::BurstStarted { factor, .. } => {
                    self.burst = Some(factor);
                    self.load_at = ev.t;
                }
                LoadChange::BurstEnded => {
                    self.burst = None;
                    self.load_at = ev.t;
                }
                _ => {}
            },
            _ => {}
        }
        *self.target_at.at(s) = self.target();
    }

    fn lost(&mut self, from: Nanos, to: Nanos) {
        let last = sec(to);
        for s in sec(from).max(last.saturating_sub(HISTORY_S as u64 - 1))..=last {
            self.secs.at(s).lossy = true;
        }
    }

    fn resync(&mut self, snapshot: &Snapshot) {
        if snapshot.at >= self.load_at {
            self.rate = snapshot.load.rate;
            self.burst = snapshot.load.burst;
            *self.target_at.at(sec(self.now)) = self.target();
        }
        self.now = self.now.max(snapshot.at);
        // Seconds both the snapshot and this view have seen end.
        let complete = sec(snapshot.at).min(sec(self.now));
        for (s, c) in &snapshot.seconds {
            if *s < complete && self.secs.get(*s).is_some_and(|mine| mine.lossy) {
                *self.secs.at(*s) = Counts {
                    arrived: c.arrived,
                    succeeded: c.succeeded,
                    failed: c.failed,
                    rejected: c.rejected,
                    lossy: false,
                };
                *self.target_at.at(*s) = c.target;
            }
        }
    }
}

impl PaneView for ThroughputView {
    const ID: PaneId = PaneId::Throughput;
    fn render(&self, ctx: &Ctx, pane: super::Frame, frame: &mut Frame, area: Rect) {
        render(self, ctx, pane, frame, area);
    }
}

impl ThroughputView {
    /// The target arrival rate now (rate × burst factor).
    pub fn target(&self) -> f64 {
        self.rate * self.burst.unwrap_or(1.0)
    }

    /// Counts per second now: the last complete second (the one before if
    /// that one is lossy and the one before is not), or the partial first
    /// second scaled to a rate.
    pub fn per_second(&self) -> (f64, f64, f64, f64) {
        let now_sec = sec(self.now);
        let f = |c: &Counts, scale: f64| {
            (
                c.succeeded as f64 * scale,
                c.failed as f64 * scale,
                c.arrived as f64 * scale,
                c.rejected as f64 * scale,
            )
        };
        if now_sec == 0 {
            let elapsed = self.now as f64 / SECONDS as f64;
            return match self.secs.get(0) {
                Some(c) if elapsed > 0.05 => f(c, 1.0 / elapsed),
                _ => (0.0, 0.0, 0.0, 0.0),
            };
        }
        let last = match (
            self.secs.get(now_sec - 1),
            now_sec.checked_sub(2).and_then(|s| self.secs.get(s)),
        ) {
            (Some(c), Some(before)) if c.lossy && !before.lossy => Some(before),
            (c, _) => c,
        };
        last.map_or((0.0, 0.0, 0.0, 0.0), |c| f(c, 1.0))
    }
}

pub fn render(view: &ThroughputView, ctx: &Ctx, pane: super::Frame, frame: &mut Frame, area: Rect) {
    let t = ctx.theme;
    let detail = format!("target {}", format::rate(view.target()));
    let block = block(title("Throughput", detail, t), t, pane);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if !has_room(area) {
        return;
    }
    let (ok, failed, arrived, rejected) = view.per_second();
    // Full numbers and words when they fit; then compact numbers (2.6k);
    // then short words.
    let line = |fmt: &dyn Fn(f64) -> String, words: [&'static str; 4]| {
        let mut spans = vec![
            Span::styled(words[0], t.label()),
            Span::styled(format!("{}/s", fmt(ok + failed)), t.series(0)),
            Span::styled(words[1], t.label()),
            Span::styled(format!("{}/s", fmt(failed)), t.series(1)),
            Span::styled(words[2], t.label()),
            Span::styled(format!("{}/s", fmt(arrived)), t.series(2)),
        ];
        if rejected > 0.0 {
            spans.push(Span::styled(words[3], t.label()));
            spans.push(Span::styled(format!("{}/s", fmt(rejected)), t.bad()));
        }
        Line::from(spans)
    };
    const LONG: [&str; 4] = ["completed ", "  failed ", "  in ", "  rejected "];
    const SHORT: [&str; 4] = ["done ", " fail ", " in ", " rej "];
    let full = |v: f64| format::count(v.round() as u64);
    let spans = [
        line(&full, LONG),
        line(&format::compact, LONG),
        line(&format::compact, SHORT),
    ]
    .into_iter()
    .find(|l| l.width() <= inner.width as usize)
    .unwrap_or_else(|| line(&format::compact, SHORT));
    let [line, chart_area] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(inner);
    frame.render_widget(Paragraph::new(spans), line);
    let w = ctx.window_s;
    // Lossy seconds are left out: their counts are known to be short.
    let get = |f: fn(&Counts) -> u64| {
        series(view.now, w, |s| {
            view.secs.get(s).filter(|c| !c.lossy).map(|c| f(c) as f64)
        })
    };
    let lines = [
        Series {
            name: "completed",
            short: "done",
            look: 0,
            points: get(|c| c.succeeded + c.failed),
        },
        Series {
            name: "failed",
            short: "fail",
            look: 1,
            points: get(|c| c.failed),
        },
        Series {
            name: "arrivals",
            short: "in",
            look: 2,
            points: get(|c| c.arrived),
        },
        Series {
            name: "target",
            short: "tgt",
            look: 3,
            points: series(view.now, w, |s| view.target_at.get(s).copied()),
        },
    ];
    let max = lines
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(view.target(), f64::max)
        .max(10.0)
        * 1.1;
    draw_time_chart(
        frame,
        chart_area,
        &lines,
        w,
        YAxis::linear(max, format::compact),
        None,
        t,
    );
}
