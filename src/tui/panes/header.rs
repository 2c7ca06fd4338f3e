//! The header line: the load settings that are set, run state, seed and
//! elapsed time. The header folds the settings from its own subscription
//! like a pane, and takes them from the collector's snapshot when its stream
//! lost events (see [`super::super::feed`]), so the rate and workers it shows
//! are always the ones set. When the collector itself lost events, the
//! header says so: every figure is then incomplete.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::collector::{LoadSettings, Snapshot};
use crate::event::{Event, EventKind, Nanos, ServiceDist};
use crate::format;
use crate::tui::feed::View;
use crate::tui::theme::Theme;

#[derive(Clone, Debug, Default)]
pub struct HeaderView {
    pub load: LoadSettings,
    pub now: Nanos,
    /// Pipeline time of the newest setting change applied from the stream.
    load_at: Nanos,
}

impl View for HeaderView {
    fn apply(&mut self, ev: &Event) {
        self.now = self.now.max(ev.t);
        if let EventKind::LoadChanged { change } = ev.kind {
            self.load.apply(change);
            self.load_at = ev.t;
        }
    }

    fn resync(&mut self, snapshot: &Snapshot) {
        if snapshot.at >= self.load_at {
            self.load = snapshot.load;
        }
        // Time has reached at least what the collector has seen.
        self.now = self.now.max(snapshot.at);
    }
}

/// What the run is doing, for the header.
#[derive(Clone, Debug, PartialEq)]
pub enum RunState {
    Running,
    Paused,
    Frozen,
    /// Replaying a recording; position and length in ns.
    Replay {
        position: Nanos,
        length: Nanos,
        paused: bool,
        /// Played to its end.
        ended: bool,
    },
}

/// Everything the header shows besides the view.
pub struct HeaderInfo {
    pub state: RunState,
    pub seed: Option<u64>,
    /// Events the collector never saw (its figures are incomplete).
    pub collector_lost: u64,
    /// The recording failed (a write error): `REC FAILED` until one starts
    /// again, whatever the stream says.
    pub rec_failed: bool,
}

pub fn service_text(d: &ServiceDist) -> String {
    match *d {
        ServiceDist::Const { ns } => format!("const {}", format::duration(ns)),
        ServiceDist::Exp { mean_ns } => format!("exp mean {}", format::duration(mean_ns)),
        ServiceDist::LogNormal { median_ns, p99_ns } => {
            format!(
                "lognormal p50 {} p99 {}",
                format::duration(median_ns),
                format::duration(p99_ns)
            )
        }
    }
}

pub fn render(view: &HeaderView, info: &HeaderInfo, theme: Theme, frame: &mut Frame, area: Rect) {
    let l = &view.load;
    let rate = match l.burst {
        Some(f) => format!("{}/s ×{f} burst", format::count((l.rate * f).round() as u64)),
        None => format!("{}/s", format::count(l.rate.round() as u64)),
    };
    let state = match &info.state {
        RunState::Running if l.paused => ("PAUSED".to_string(), theme.warn()),
        RunState::Running => ("RUNNING".to_string(), theme.ok()),
        RunState::Paused => ("PAUSED".to_string(), theme.warn()),
        RunState::Frozen => ("FROZEN".to_string(), theme.warn()),
        RunState::Replay {
            position,
            length,
            paused,
            ended,
        } => (
            format!(
                "REPLAY{} {}/{}",
                if *ended {
                    " ENDED"
                } else if *paused {
                    " PAUSED"
                } else {
                    ""
                },
                format::clock(*position),
                format::clock(*length)
            ),
            theme.accent(),
        ),
    };
    // Segments in priority order; those that do not fit are left out, and
    // the rest keep their natural order.
    let mut segments: Vec<(u8, Vec<Span>)> = vec![
        (0, vec![Span::styled(" fantop", theme.title())]),
        (1, vec![Span::raw("rate "), Span::styled(rate, theme.value())]),
        (
            2,
            vec![
                Span::raw("workers "),
                Span::styled(l.workers.to_string(), theme.value()),
            ],
        ),
    ];
    if let Some(d) = &l.service {
        segments.push((
            5,
            vec![Span::raw("service "), Span::styled(service_text(d), theme.value())],
        ));
    }
    segments.push((
        4,
        vec![
            Span::raw("errors "),
            Span::styled(format!("{:.1}%", l.error_rate * 100.0), theme.value()),
        ],
    ));
    segments.push((0, vec![Span::styled(state.0, state.1)]));
    // A replay shows the recording's own "recording on" events: not news here.
    if info.rec_failed {
        segments.push((0, vec![Span::styled("REC FAILED", theme.bad())]));
    } else if l.recording && !matches!(info.state, RunState::Replay { .. }) {
        segments.push((0, vec![Span::styled("● REC", theme.bad())]));
    }
    if info.collector_lost > 0 {
        segments.push((
            3,
            vec![Span::styled(
                format!("⚠ collector missed {} events", format::count(info.collector_lost)),
                theme.warn(),
            )],
        ));
    }
    let right = match info.seed {
        Some(s) => format!("seed {s}  {} ", format::clock(view.now)),
        None => format!("{} ", format::clock(view.now)),
    };
    let width = area.width as usize;
    let seg_w = |spans: &Vec<Span>| spans.iter().map(|s| s.width()).sum::<usize>() + 2;
    let right_w = right.chars().count();
    let mut keep = vec![false; segments.len()];
    // The seed and clock are kept whenever the line has room for a minimal header beside them.
    let show_right = width >= right_w + 40;
    let mut used = if show_right { right_w + 1 } else { 0 };
    for prio in 0..=5u8 {
        for (i, (p, spans)) in segments.iter().enumerate() {
            if *p == prio && used + seg_w(spans) <= width {
                used += seg_w(spans);
                keep[i] = true;
            }
        }
    }
    let mut left: Vec<Span> = Vec::new();
    for (i, (_, spans)) in segments.into_iter().enumerate() {
        if keep[i] {
            if !left.is_empty() {
                left.push(Span::raw("  "));
            }
            left.extend(spans);
        }
    }
    let left_w: usize = left.iter().map(|s| s.width()).sum();
    if show_right && left_w + right_w <= width {
        left.push(Span::raw(" ".repeat(width - left_w - right_w)));
        left.push(Span::raw(right));
    }
    frame.render_widget(Paragraph::new(Line::from(left)).style(theme.header()), area);
}
