//! Latency from arrival (queue wait + service): percentiles over a sliding
//! window, a histogram of that window, and p50/p99 per second over the chart
//! window (on a linear or, with `y`, a logarithmic axis).
//!
//! # The histogram's bins
//!
//! The bins span the window's values, from its minimum to its maximum, on
//! edges of a "nice" log-spaced ladder: the 1-2-5 sequence (1, 2, 5, 10,
//! 20, 50 ... of the unit) when that gives enough rows, else ISO 3's
//! preferred numbers, which keep the 1-2-5 edges (R10: 1, 1.25, 1.6, 2,
//! 2.5, 3.15, 4, 5, 6.3, 8; then R20, R40, R80), and when even R80 is too
//! coarse (values within a few percent of each other, as a saturated
//! pipeline's 4 s latencies) even steps of 1, 2 or 5 in a lower digit
//! (3.90s, 3.95s, 4.00s ...). Of these, the coarsest that gives at least
//! one bin per row is taken, and of its edges those nearest (in log) to an
//! even log spacing from the minimum to the maximum are kept, one fewer
//! than the rows. So the histogram never
//! collapses to one bar while the values differ, and values spread over
//! more than a decade fill every row the pane has.
//!
//! Cost: the window's histogram is reduced to its recorded buckets with
//! running counts when it is merged (four times a second of pipeline
//! time, bounded by the histogram's bucket count); a frame then tries at
//! most six ladders over at most 13 decades (then even steps), picks from
//! at most a few times [`MAX_BINS`] edges, and counts each bin with a binary
//! search.

use hdrhistogram::Histogram;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{
    CHART_MIN_HEIGHT, CHART_MIN_WIDTH, Ctx, HISTORY_S, PaneId, PaneView, Series, YAxis, block, draw_time_chart,
    has_room, sec, series, title,
};
use crate::collector::LatencySummary;
use crate::collector::window::{SecondRing, WindowedHistogram, latency_histogram};
use crate::event::{Event, EventKind, Nanos};
use crate::format;
use crate::tui::feed::View;

/// Seconds the percentiles and histogram cover.
pub const WINDOW_S: u64 = 10;

/// Most histogram rows, however tall the pane.
pub const MAX_BINS: usize = 64;

#[derive(Clone, Debug)]
pub struct LatencyView {
    window: WindowedHistogram,
    /// p50 and p99 of each finished second.
    history: SecondRing<Option<(Nanos, Nanos)>>,
    /// The merged window, refreshed after each drain.
    merged: Histogram<u64>,
    /// The merged window's recorded buckets: (highest value of the bucket,
    /// count of values up to it), ascending. At most the histogram's
    /// bucket count; refreshed with `merged`.
    recorded: Vec<(Nanos, u64)>,
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
            recorded: Vec::new(),
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
        self.recorded.clear();
        let mut total = 0;
        for v in self.merged.iter_recorded() {
            total += v.count_since_last_iteration();
            self.recorded.push((v.value_iterated_to(), total));
        }
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

/// ISO 3's R80 series of preferred numbers (× 100): 80 steps a decade,
/// each about 2.9% above the one before. Every second one is R40, every
/// fourth R20, every eighth R10; all of them hold 1, 2 and 5.
const R80: [u64; 80] = [
    100, 103, 106, 109, 112, 115, 118, 122, 125, 128, 132, 136, 140, 145, 150, 155, 160, 165, 170, 175, 180, 185, 190,
    195, 200, 206, 212, 218, 224, 230, 236, 243, 250, 258, 265, 272, 280, 290, 300, 307, 315, 325, 335, 345, 355, 365,
    375, 387, 400, 412, 425, 437, 450, 462, 475, 487, 500, 515, 530, 545, 560, 580, 600, 615, 630, 650, 670, 690, 710,
    730, 750, 775, 800, 825, 850, 875, 900, 925, 950, 975,
];

/// The log-spaced ladders bin edges are taken from, coarsest first, as
/// (mantissas × 100 within a decade, take every n-th): decades, the 1-2-5
/// sequence, then R10, R20, R40 and R80.
const LADDERS: [(&[u64], usize); 6] = [
    (&[100], 1),
    (&[100, 200, 500], 1),
    (&R80, 8),
    (&R80, 4),
    (&R80, 2),
    (&R80, 1),
];

/// The edges of a ladder strictly above `lo` and at most `hi` (in ns).
fn ladder_edges((mantissas, every): (&[u64], usize), lo: Nanos, hi: Nanos) -> Vec<Nanos> {
    let mut out = Vec::new();
    let mut decade = 1u64;
    while decade.saturating_mul(10) <= lo {
        decade *= 10;
    }
    while decade <= hi {
        for m in mantissas.iter().step_by(every) {
            let scaled = u128::from(*m) * u128::from(decade);
            if !scaled.is_multiple_of(100) {
                continue;
            }
            let e = u64::try_from(scaled / 100).unwrap_or(u64::MAX);
            if e > hi {
                return out;
            }
            if e > lo {
                out.push(e);
            }
        }
        decade = match decade.checked_mul(10) {
            Some(d) => d,
            None => break,
        };
    }
    out
}

/// Evenly spaced edges, multiples of 1, 2 or 5 × 10^k, strictly above
/// `lo` and at most `hi`: the coarsest steps giving at least `rows` bins,
/// or the finest there are, no finer than a thousandth of `hi` (the
/// histogram's precision).
fn linear_edges(lo: Nanos, hi: Nanos, rows: usize) -> Vec<Nanos> {
    let mut best = Vec::new();
    let mut pow = 1u64;
    while pow.saturating_mul(10) <= hi {
        pow *= 10;
    }
    loop {
        for m in [5, 2, 1] {
            let step = pow.saturating_mul(m);
            if step.saturating_mul(1000) < hi {
                return best;
            }
            if step < hi {
                best = ((lo / step + 1)..=(hi / step)).map(|k| k * step).collect();
                if best.len() + 1 >= rows {
                    return best;
                }
            }
        }
        if pow == 1 {
            return best;
        }
        pow /= 10;
    }
}

/// Bin edges for values from `lo` to `hi` in at most `rows` bins (see the
/// module doc): the edges between bins, ascending, each above `lo` and at
/// most `hi`.
pub fn bin_edges(lo: Nanos, hi: Nanos, rows: usize) -> Vec<Nanos> {
    let rows = rows.min(MAX_BINS);
    if rows <= 1 || hi <= lo {
        return Vec::new();
    }
    let mut best = Vec::new();
    for ladder in LADDERS {
        let edges = ladder_edges(ladder, lo, hi);
        let enough = edges.len() + 1 >= rows;
        if edges.len() > best.len() || enough {
            best = edges;
        }
        if enough {
            break;
        }
    }
    // Less than R80 can split (values within a few percent of each
    // other, as under saturation): even steps, which so close together
    // are as good as log-spaced.
    if best.len() + 1 < rows {
        let even = linear_edges(lo, hi, rows);
        if even.len() > best.len() {
            best = even;
        }
    }
    // Too many: keep those nearest (in log) to an even log spacing from
    // `lo` to `hi`, in order.
    if best.len() + 1 > rows {
        let (l, h) = ((lo.max(1) as f64).ln(), (hi.max(1) as f64).ln());
        let mut kept = Vec::with_capacity(rows - 1);
        let mut from = 0;
        for k in 1..rows {
            let ideal = l + (h - l) * k as f64 / rows as f64;
            let off = |i: &usize| ((best[*i] as f64).ln() - ideal).abs();
            // Leave room for the picks still to come.
            let until = best.len() - (rows - 1 - k);
            let i = (from..until).min_by(|a, b| off(a).total_cmp(&off(b))).unwrap_or(from);
            kept.push(best[i]);
            from = i + 1;
        }
        best = kept;
    }
    best
}

/// An edge as a label, exact to its last significant digit: `1.5ms`,
/// `3.95s`, `200µs`.
pub fn edge_label(e: Nanos) -> String {
    let (unit, name) = match e {
        0..1_000 => (1, "ns"),
        1_000..1_000_000 => (1_000, "µs"),
        1_000_000..1_000_000_000 => (1_000_000, "ms"),
        1_000_000_000..60_000_000_000 => (1_000_000_000, "s"),
        _ => return format::duration(e),
    };
    let whole = e / unit;
    let mut frac = e % unit;
    if frac == 0 {
        return format!("{whole}{name}");
    }
    // Decimals to the last non-zero digit (at most 3: three significant
    // digits is as fine as an edge goes).
    let mut width = match unit {
        1_000 => 3,
        1_000_000 => 6,
        _ => 9,
    };
    while frac.is_multiple_of(10) {
        frac /= 10;
        width -= 1;
    }
    let digits = format!("{frac:0width$}");
    let digits = &digits[..digits.len().min(3)];
    format!("{whole}.{digits}{name}")
}

impl LatencyView {
    /// Histogram rows: (label, count), at most `rows` of them, spanning the
    /// window's values (see the module doc). Each label is the bin's upper
    /// edge (`<2ms`), the last one's its lower edge (`≥50ms`).
    pub fn bins(&self, rows: usize) -> Vec<(String, u64)> {
        let Some(&(_, total)) = self.recorded.last() else {
            return Vec::new();
        };
        if rows == 0 {
            return Vec::new();
        }
        // Bucket values as counted: each bucket at its highest value.
        let (lo, hi) = (
            self.recorded[0].0.max(1),
            self.recorded[self.recorded.len() - 1].0.max(1),
        );
        let edges = bin_edges(lo, hi, rows);
        // Values below `e`: the running count of the last bucket under it.
        let below = |e: Nanos| {
            let i = self.recorded.partition_point(|(v, _)| *v < e);
            if i == 0 { 0 } else { self.recorded[i - 1].1 }
        };
        let mut out = Vec::with_capacity(edges.len() + 1);
        let mut prev = 0;
        for e in &edges {
            let n = below(*e);
            out.push((format!("<{}", edge_label(*e)), n - prev));
            prev = n;
        }
        let from = edges.last().copied().unwrap_or(lo);
        out.push((format!("≥{}", edge_label(from)), total - prev));
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
            Span::styled(d(s.p50), t.series(P50_LOOK)),
            Span::styled("  p90 ", t.label()),
            Span::styled(d(s.p90), t.value()),
            Span::styled("  p99 ", t.label()),
            Span::styled(d(s.p99), t.series(P99_LOOK)),
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
    if chart_area.width >= CHART_MIN_WIDTH && chart_area.height >= CHART_MIN_HEIGHT {
        render_history(view, ctx, frame, chart_area);
    }
}

/// The looks (series colour and marker) of the p50 and p99 lines.
const P50_LOOK: usize = 0;
const P99_LOOK: usize = 2;

/// The bins, one a row, and on the last row the legend (so no bin shares
/// a line with the chart's axis labels beside it).
fn render_histogram(view: &LatencyView, ctx: &Ctx, frame: &mut Frame, area: Rect) {
    let t = ctx.theme;
    if area.height < 2 {
        return;
    }
    let [bins_area, legend_area] = Layout::vertical([Constraint::Fill(1), Constraint::Length(1)]).areas(area);
    let bins = view.bins(bins_area.height as usize);
    let total: u64 = bins.iter().map(|b| b.1).sum();
    let peak = bins.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let label_w = bins.iter().map(|b| b.0.chars().count()).max().unwrap_or(0);
    let bar_w = (area.width as usize).saturating_sub(label_w + 6);
    let lines: Vec<Line> = bins
        .iter()
        .map(|(label, n)| {
            // A bin that holds anything never reads 0%.
            let pct = match *n as f64 * 100.0 / total.max(1) as f64 {
                _ if *n == 0 => "0%".to_string(),
                p if p < 0.5 => "<1%".to_string(),
                p => format!("{p:.0}%"),
            };
            let b = bar(*n as f64 / peak as f64, bar_w.saturating_sub(1));
            let pad = bar_w.saturating_sub(b.chars().count());
            Line::from(vec![
                Span::styled(format!("{label:>label_w$} "), t.label()),
                Span::styled(b, t.accent()),
                Span::raw(" ".repeat(pad)),
                Span::styled(format!("{pct:>4}"), t.dim()),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), bins_area);
    let n = view.summary.count;
    let legend = [
        format!(" % of the {} requests, log-spaced bins", format::count(n)),
        format!(" % of {} requests", format::count(n)),
        format!(" % of {}", format::compact(n as f64)),
        " %".to_string(),
    ]
    .into_iter()
    .find(|l| l.chars().count() < legend_area.width as usize)
    .unwrap_or_default();
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled("█", t.accent()),
            Span::styled(legend, t.dim()),
        ])),
        legend_area,
    );
}

fn render_history(view: &LatencyView, ctx: &Ctx, frame: &mut Frame, area: Rect) {
    let w = ctx.window_s;
    let line = |pick: fn((Nanos, Nanos)) -> Nanos| {
        series(view.now, w, |s| {
            view.history.get(s).copied().flatten().map(|p| pick(p) as f64)
        })
    };
    let mut lines = [
        Series {
            name: "p99",
            short: "p99",
            look: P99_LOOK,
            points: line(|p| p.1),
        },
        Series {
            name: "p50",
            short: "p50",
            look: P50_LOOK,
            points: line(|p| p.0),
        },
    ];
    let values = || lines.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let y = if ctx.log_latency {
        let lo = values().fold(f64::INFINITY, f64::min);
        let hi = values().fold(0.0, f64::max);
        let plot_rows = area.height.saturating_sub(3);
        let axis = log_axis(lo, hi, plot_rows);
        for s in &mut lines {
            for p in &mut s.points {
                p.1 = p.1.max(1.0).log10();
            }
        }
        axis
    } else {
        // At least 1 ms of range, so an empty chart has sensible labels.
        let max = values().fold(1e6, f64::max) * 1.1;
        YAxis::linear(max, |v| format::duration(v as u64))
    };
    let note = if ctx.log_latency { "log y" } else { "linear y" };
    draw_time_chart(frame, area, &lines, w, y, Some(note), ctx.theme);
}

/// A log10 axis from the 1-2-5 value at or below `lo` to the one at or
/// above `hi` (ns; 1 ms to 2 ms when there is nothing to show), labelled
/// at the bottom, the top and, given 3 rows of plot or more, the middle.
pub fn log_axis(lo: f64, hi: f64, rows: u16) -> YAxis {
    let (lo, hi) = if lo.is_finite() && hi >= lo && lo > 0.0 {
        (lo.max(1.0), hi.max(1.0))
    } else {
        (1e6, 1e6)
    };
    // The 1-2-5 values in log10: a decade plus 0, log10(2) or log10(5).
    let steps = [0.0, 2f64.log10(), 5f64.log10()];
    let snap = |v: f64, up: bool| {
        let d = v.log10().floor();
        let cands = steps.iter().chain(&[1.0]).map(|s| d + s);
        if up {
            cands.filter(|c| *c >= v.log10() - 1e-9).fold(f64::INFINITY, f64::min)
        } else {
            cands
                .filter(|c| *c <= v.log10() + 1e-9)
                .fold(f64::NEG_INFINITY, f64::max)
        }
    };
    let bottom = snap(lo, false);
    let mut top = snap(hi, true);
    if top <= bottom {
        top = snap(10f64.powf(bottom) * 1.5, true);
    }
    let label = |x: f64| format::duration(10f64.powf(x).round() as u64);
    let labels = if rows >= 3 {
        vec![label(bottom), label((bottom + top) / 2.0), label(top)]
    } else {
        vec![label(bottom), label(top)]
    };
    YAxis {
        bounds: [bottom, top],
        labels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::MILLIS;

    /// Whether `e` is 1, 2 or 5 times a power of ten.
    fn on_125(mut e: u64) -> bool {
        while e >= 10 && e.is_multiple_of(10) {
            e /= 10;
        }
        matches!(e, 1 | 2 | 5)
    }

    #[test]
    fn bars_are_drawn_in_eighths() {
        assert_eq!(bar(0.0, 4), "");
        assert_eq!(bar(1.0, 4), "████");
        assert_eq!(bar(0.5, 1), "▌");
    }

    /// A view whose window holds `values` (ns), all completed in second 0.
    fn holding(values: impl IntoIterator<Item = u64>) -> LatencyView {
        let mut v = LatencyView::default();
        for (i, latency) in values.into_iter().enumerate() {
            v.apply(&Event::new(
                i as u64,
                EventKind::RequestCompleted {
                    id: i as u64,
                    worker: 0,
                    latency,
                    ok: true,
                },
            ));
        }
        v.settle();
        v
    }

    fn populated(bins: &[(String, u64)]) -> usize {
        bins.iter().filter(|b| b.1 > 0).count()
    }

    /// Values spread (log-uniformly) over just more than a decade fill
    /// every row from 6 up, counting each value once; before, the 1-2-5
    /// edges inside the range gave 4 bins whatever the height.
    #[test]
    fn values_over_more_than_a_decade_fill_at_least_six_rows() {
        let values: Vec<u64> = (0..=400)
            .map(|i| (1e6 * 10f64.powf(1.1 * i as f64 / 400.0)) as u64)
            .collect();
        let v = holding(values);
        for rows in 6..=24 {
            let bins = v.bins(rows);
            assert_eq!(bins.len(), rows, "{rows}: {bins:?}");
            assert_eq!(bins.iter().map(|b| b.1).sum::<u64>(), 401, "{rows}: {bins:?}");
            assert!(populated(&bins) >= 6, "{rows}: {bins:?}");
        }
    }

    /// Under saturation every latency is about 4 s (within a few percent):
    /// the bins still split that range into rows that show its shape,
    /// where the 1-2-5 edges put everything in one bar.
    #[test]
    fn saturated_latencies_near_four_seconds_do_not_collapse_to_one_bar() {
        let values: Vec<u64> = (0..1000u64).map(|i| 3_900 * MILLIS + i * 200_000).collect();
        let v = holding(values);
        for rows in [3, 6, 10, 17] {
            let bins = v.bins(rows);
            assert!(populated(&bins) >= rows.min(6), "{rows}: {bins:?}");
            assert_eq!(bins.iter().map(|b| b.1).sum::<u64>(), 1000);
        }
        let labels: Vec<String> = v.bins(10).into_iter().map(|b| b.0).collect();
        assert!(labels.iter().any(|l| l.starts_with("<3.9")), "{labels:?}");
        assert!(
            labels.iter().any(|l| l.starts_with("<4.0") || l.starts_with("<4s")),
            "{labels:?}"
        );
    }

    /// The bins go from the window's minimum (the first bin holds it) to
    /// its maximum (the last one holds it), and where the range is wide
    /// the edges are on the 1-2-5 sequence.
    #[test]
    fn bins_span_the_window_from_its_minimum_to_its_maximum_on_1_2_5_edges() {
        let v = holding([3_000, 40_000, 700_000, 2 * MILLIS, 90 * MILLIS, 1_300 * MILLIS]);
        let bins = v.bins(10);
        assert!(bins.first().unwrap().1 > 0 && bins.last().unwrap().1 > 0, "{bins:?}");
        let edges = bin_edges(3_000, 1_300 * MILLIS, 10);
        assert!(edges.iter().all(|e| on_125(*e)), "{edges:?}");
        assert!(edges.len() == 9 && edges[0] > 3_000 && *edges.last().unwrap() <= 1_300 * MILLIS);
    }

    #[test]
    fn edges_are_labelled_exactly() {
        assert_eq!(edge_label(2 * MILLIS), "2ms");
        assert_eq!(edge_label(3_950 * MILLIS), "3.95s");
        assert_eq!(edge_label(1_250_000), "1.25ms");
        assert_eq!(edge_label(500), "500ns");
        assert_eq!(edge_label(10_600 * MILLIS), "10.6s");
    }

    /// The log axis runs from a 1-2-5 value below the data to one above,
    /// labelled in between at the right height.
    #[test]
    fn the_log_axis_brackets_the_values_on_1_2_5_bounds() {
        let y = log_axis(3.0 * MILLIS as f64, 400.0 * MILLIS as f64, 8);
        assert_eq!(y.labels, ["2ms", "32ms", "500ms"]);
        assert!((y.bounds[0] - (2e6f64).log10()).abs() < 1e-9);
        assert!((y.bounds[1] - (5e8f64).log10()).abs() < 1e-9);
        let empty = log_axis(f64::INFINITY, 0.0, 2);
        assert_eq!(empty.labels.len(), 2);
        assert!(empty.bounds[1] > empty.bounds[0]);
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
