//! Latency from arrival (queue wait + service): percentiles over a sliding
//! window, a histogram of that window, and p50/p99 per second over the chart
//! window.

use hdrhistogram::Histogram;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{Ctx, HISTORY_S, PaneId, PaneView, block, has_room, sec, series, time_chart, title};
use crate::collector::LatencySummary;
use crate::collector::window::{SecondRing, WindowedHistogram, latency_histogram};
use crate::event::{Event, EventKind, Nanos};
use crate::format;
use crate::tui::feed::View;

/// Seconds the percentiles and histogram cover.
pub const WINDOW_S: u64 = 10;

#[derive(Clone, Debug)]
pub struct LatencyView {
    window: WindowedHistogram,
    /// p50 and p99 of each finished second.
    history: SecondRing<Option<(Nanos, Nanos)>>,
    /// The merged window, refreshed after each drain.
    merged: Histogram<u64>,
    pub summary: LatencySummary,
    pub now: Nanos,
    /// The last second whose p50/p99 went into `history`.
    done_sec: u64,
    /// Pipeline time of the last merge.
    merged_at: Option<Nanos>,
}

/// How often (pipeline time) the window's percentiles are recomputed.
pub const SETTLE_EVERY: Nanos = 250_000_000;

impl Default for LatencyView {
    fn default() -> Self {
        LatencyView {
            window: WindowedHistogram::new(WINDOW_S as usize),
            history: SecondRing::new(HISTORY_S),
            merged: latency_histogram(),
            summary: LatencySummary::default(),
            now: 0,
            done_sec: 0,
            merged_at: None,
        }
    }
}

impl View for LatencyView {
    fn apply(&mut self, ev: &Event) {
        let s = sec(ev.t);
        // Seal the seconds that ended before this event (only those the
        // history still holds: a replay may jump years ahead).
        self.done_sec = self.done_sec.max(s.saturating_sub(HISTORY_S as u64));
        while self.done_sec < s {
            let h = self.window.second(self.done_sec);
            let p = h.map(|h| (h.value_at_quantile(0.5), h.value_at_quantile(0.99)));
            *self.history.at(self.done_sec) = p;
            self.done_sec += 1;
        }
        self.now = self.now.max(ev.t);
        if let EventKind::RequestCompleted { latency, .. } = ev.kind {
            self.window.record(ev.t, latency);
        }
    }

    fn settle(&mut self) {
        // Merging the window's histograms is the costliest thing a frame
        // does; four times a second (of pipeline time) is as often as
        // anyone reads percentiles.
        if self
            .merged_at
            .is_some_and(|t| self.now.saturating_sub(t) < SETTLE_EVERY)
        {
            return;
        }
        self.merged_at = Some(self.now);
        self.window.merge_into(self.now, &mut self.merged);
        self.summary = LatencySummary::of(&self.merged);
    }
}

/// A lossy stream still samples latency fairly (it loses whole stretches,
/// not particular requests), so the view keeps its figures; the border says
/// that the window holds a loss.
impl PaneView for LatencyView {
    const ID: PaneId = PaneId::Latency;
    fn render(&self, ctx: &Ctx, pane: super::Frame, frame: &mut Frame, area: Rect) {
        render(self, ctx, pane, frame, area);
    }
}

impl LatencyView {
    /// Histogram rows: (label, count), on a 1-2-5 scale spanning the
    /// window's values, at most `rows` of them.
    pub fn bins(&self, rows: usize) -> Vec<(String, u64)> {
        let h = &self.merged;
        if h.is_empty() || rows == 0 {
            return Vec::new();
        }
        let (lo, hi) = (h.min().max(1), h.max().max(1));
        let mut edges: Vec<u64> = Vec::new();
        let mut decade = 1u64;
        while decade <= hi.saturating_mul(10) && decade < u64::MAX / 10 {
            for m in [1, 2, 5] {
                let e = decade * m;
                if e > lo && e <= hi {
                    edges.push(e);
                }
            }
            decade *= 10;
        }
        // Too many bins for the rows: keep every k-th edge.
        let step = edges.len().div_ceil(rows.saturating_sub(1).max(1)).max(1);
        let edges: Vec<u64> = edges.into_iter().step_by(step).collect();
        // One pass over the histogram: each recorded value into its bin.
        let mut counts = vec![0u64; edges.len() + 1];
        for v in h.iter_recorded() {
            let bin = edges.partition_point(|&e| e <= v.value_iterated_to());
            counts[bin] += v.count_since_last_iteration();
        }
        let mut out: Vec<(String, u64)> = edges
            .iter()
            .zip(&counts)
            .map(|(e, n)| (format!("<{}", format::duration(*e)), *n))
            .collect();
        let from = edges.last().copied().unwrap_or(0);
        out.push((format!("≥{}", format::duration(from.max(lo))), counts[edges.len()]));
        out
    }
}

const EIGHTHS: [&str; 8] = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];

/// A horizontal bar of `frac` of `width` cells, in eighths.
pub fn bar(frac: f64, width: usize) -> String {
    let eighths = (frac.clamp(0.0, 1.0) * width as f64 * 8.0).round() as usize;
    let mut s = "█".repeat(eighths / 8);
    s.push_str(EIGHTHS[eighths % 8]);
    s
}

pub fn render(view: &LatencyView, ctx: &Ctx, pane: super::Frame, frame: &mut Frame, area: Rect) {
    let t = ctx.theme;
    let block = block(
        title(
            "Latency",
            format!("from arrival, last {WINDOW_S}s · p50/p99 per second"),
            t,
        ),
        t,
        pane,
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if !has_room(area) {
        return;
    }
    let s = &view.summary;
    let d = |ns: Nanos| format::duration(ns);
    let line = if s.count == 0 {
        Line::from(Span::styled("no completions in the window", t.dim()))
    } else {
        Line::from(vec![
            Span::styled("p50 ", t.label()),
            Span::styled(d(s.p50), t.series(0)),
            Span::styled("  p90 ", t.label()),
            Span::styled(d(s.p90), t.value()),
            Span::styled("  p99 ", t.label()),
            Span::styled(d(s.p99), t.series(3)),
            Span::styled("  p99.9 ", t.label()),
            Span::styled(d(s.p999), t.value()),
            Span::styled("  max ", t.label()),
            Span::styled(d(s.max), t.value()),
        ])
    };
    let [top, body] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(inner);
    frame.render_widget(Paragraph::new(line), top);
    if body.height < 3 || body.width < 20 {
        return;
    }
    let [hist_area, chart_area] = if body.width >= 60 {
        Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)])
            .spacing(2)
            .areas(body)
    } else {
        [body, Rect::default()]
    };
    render_histogram(view, ctx, frame, hist_area);
    if chart_area.width >= 20 && chart_area.height >= 4 {
        render_history(view, ctx, frame, chart_area);
    }
}

fn render_histogram(view: &LatencyView, ctx: &Ctx, frame: &mut Frame, area: Rect) {
    let t = ctx.theme;
    let bins = view.bins(area.height as usize);
    let total: u64 = bins.iter().map(|b| b.1).sum();
    let peak = bins.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let label_w = bins.iter().map(|b| b.0.chars().count()).max().unwrap_or(0);
    let bar_w = (area.width as usize).saturating_sub(label_w + 6);
    let lines: Vec<Line> = bins
        .iter()
        .map(|(label, n)| {
            let pct = if total > 0 {
                *n as f64 * 100.0 / total as f64
            } else {
                0.0
            };
            let b = bar(*n as f64 / peak as f64, bar_w.saturating_sub(1));
            let pad = bar_w.saturating_sub(b.chars().count());
            Line::from(vec![
                Span::styled(format!("{label:>label_w$} "), t.label()),
                Span::styled(b, t.accent()),
                Span::raw(" ".repeat(pad)),
                Span::styled(format!("{pct:>3.0}%"), t.dim()),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), area);
}

fn render_history(view: &LatencyView, ctx: &Ctx, frame: &mut Frame, area: Rect) {
    let t = ctx.theme;
    let w = ctx.window_s;
    let p50 = series(view.now, w, |s| {
        view.history.get(s).copied().flatten().map(|p| p.0 as f64)
    });
    let p99 = series(view.now, w, |s| {
        view.history.get(s).copied().flatten().map(|p| p.1 as f64)
    });
    // At least 1 ms of range, so an empty chart has sensible labels.
    let max = p99.iter().chain(&p50).map(|p| p.1).fold(1e6, f64::max) * 1.1;
    let lines = [("p99", t.series(3), p99), ("p50", t.series(0), p50)];
    let chart = time_chart(&lines, w, max, |v| format::duration(v as u64), false, t);
    frame.render_widget(chart, area);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::MILLIS;

    #[test]
    fn bars_are_drawn_in_eighths() {
        assert_eq!(bar(0.0, 4), "");
        assert_eq!(bar(1.0, 4), "████");
        assert_eq!(bar(0.5, 1), "▌");
    }

    #[test]
    fn histogram_bins_count_every_value_once() {
        let mut v = LatencyView::default();
        for (i, ms) in [1u64, 2, 3, 5, 8, 13, 21, 34].iter().enumerate() {
            v.apply(&Event::new(
                i as u64,
                EventKind::RequestCompleted {
                    id: i as u64,
                    worker: 0,
                    latency: ms * MILLIS,
                    ok: true,
                },
            ));
        }
        v.settle();
        for rows in [1, 3, 5, 20] {
            let bins = v.bins(rows);
            assert_eq!(bins.iter().map(|b| b.1).sum::<u64>(), 8, "{rows}: {bins:?}");
            assert!(bins.len() <= rows.max(2), "{rows}: {bins:?}");
        }
    }
}
