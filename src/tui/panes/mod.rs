//! The panes. Each module owns one view type (built only from its own
//! subscription, see [`super::feed`]) and one `render` function that only
//! borrows it. Rendering never panics on a tiny area: every size
//! computation saturates, and a pane with no room for content shows its
//! border alone.
//!
//! The app holds its panes as one collection of [`Pane`]s (a [`Feed`] of a
//! [`PaneView`]): pumping, resynchronising, freezing and drawing iterate it,
//! and a pane's border reports what its own feed lost ([`Frame`]).

pub mod events;
pub mod header;
pub mod latency;
pub mod subscribers;
pub mod throughput;
pub mod workers;

use std::any::Any;

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Block;

use super::feed::{Feed, Losses, Pumped, View};
use super::scroll::ScrollState;
use super::theme::{SERIES, Theme};
use crate::broadcast::{PublisherStats, SubscriberStats};
use crate::collector::Snapshot;
use crate::event::Nanos;

/// The panes, in focus order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaneId {
    Throughput,
    Latency,
    Subscribers,
    Workers,
    Events,
}

impl PaneId {
    pub const ALL: [PaneId; 5] = [
        PaneId::Throughput,
        PaneId::Latency,
        PaneId::Subscribers,
        PaneId::Workers,
        PaneId::Events,
    ];

    /// The name its subscription goes by (and a scenario's `focus` uses).
    pub fn name(self) -> &'static str {
        match self {
            PaneId::Throughput => "throughput",
            PaneId::Latency => "latency",
            PaneId::Subscribers => "subscribers",
            PaneId::Workers => "workers",
            PaneId::Events => "events",
        }
    }

    /// Whether the pane is a list that scrolls (`j`/`k`, PgUp/PgDn,
    /// Home/End, the wheel); the charts do not.
    pub fn scrolls(self) -> bool {
        matches!(self, PaneId::Subscribers | PaneId::Workers | PaneId::Events)
    }
}

/// A view that is a pane: which one it is, and how it draws.
pub trait PaneView: View + Clone + Default + 'static {
    const ID: PaneId;
    /// Draws the view; only borrows it.
    fn render(&self, ctx: &Ctx, pane: Frame, frame: &mut ratatui::Frame, area: Rect);
}

/// Something the screen can draw as a pane: a live pane, or a frozen copy.
pub trait Drawn {
    fn draw(&self, ctx: &Ctx, focused: bool, frame: &mut ratatui::Frame, area: Rect);
}

/// A pane: its own subscription, the view it builds, and what it lost.
pub trait Pane: Drawn {
    fn id(&self) -> PaneId;
    /// Drains its subscription; after a loss, resynchronises from `snapshot`.
    fn pump(&mut self, snapshot: &Snapshot) -> Pumped;
    /// Starts over with a fresh view on a fresh subscription.
    fn reset(&mut self);
    /// A copy of what it shows now, to draw while the display is frozen.
    fn frozen(&self) -> Box<dyn Drawn>;
    /// For the one thing the app asks of a particular pane (the Events
    /// pane's fresh notables).
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// A pane's view and losses as they were when the display froze.
struct Still<V> {
    view: V,
    losses: Losses,
}

fn frame_of(losses: &Losses, ctx: &Ctx, focused: bool) -> Frame {
    Frame {
        focused,
        evictions: losses.evictions,
        lost: losses.evicted_lost,
        missed: losses.missed_within(ctx.window_s),
    }
}

impl<V: PaneView> Drawn for Still<V> {
    fn draw(&self, ctx: &Ctx, focused: bool, frame: &mut ratatui::Frame, area: Rect) {
        self.view.render(ctx, frame_of(&self.losses, ctx, focused), frame, area);
    }
}

impl<V: PaneView> Drawn for Feed<V> {
    fn draw(&self, ctx: &Ctx, focused: bool, frame: &mut ratatui::Frame, area: Rect) {
        self.view.render(ctx, frame_of(&self.losses, ctx, focused), frame, area);
    }
}

impl<V: PaneView> Pane for Feed<V> {
    fn id(&self) -> PaneId {
        V::ID
    }
    fn pump(&mut self, snapshot: &Snapshot) -> Pumped {
        Feed::pump(self, snapshot)
    }
    fn reset(&mut self) {
        Feed::reset(self, V::default());
    }
    fn frozen(&self) -> Box<dyn Drawn> {
        Box::new(Still {
            view: self.view.clone(),
            losses: self.losses.clone(),
        })
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Chart time windows `t` cycles through, in seconds.
pub use crate::session::scenario::WINDOWS_S;
/// Seconds of history a pane keeps (the longest window, plus the current
/// second): the span of a feed's record of losses too.
pub const HISTORY_S: usize = super::feed::LOSS_HISTORY_S;

/// The fan-out's health, read once per frame from the broadcaster's
/// counters (not from the stream: the stream cannot carry its own counts).
#[derive(Clone, Debug, Default)]
pub struct Fanout {
    pub subscribers: Vec<SubscriberStats>,
    pub publisher: PublisherStats,
    /// Events published per second, over the last measurement interval.
    pub events_per_s: f64,
    /// Publish cost per event over the last interval, ns.
    pub ns_per_event: f64,
    /// The name of every subscriber seen in the stats, the newest
    /// [`NAMES_KEPT`] ids: a subscriber that came back under its name (a pane
    /// evicted and resubscribed) takes its row, and the log still names the
    /// id it had.
    names: std::collections::BTreeMap<u32, String>,
}

/// Subscriber names the fan-out remembers after their rows are gone.
pub const NAMES_KEPT: usize = 4096;

impl Fanout {
    /// Takes the broadcaster's stats, remembering every name in them.
    pub fn set_subscribers(&mut self, subscribers: Vec<SubscriberStats>) {
        for s in &subscribers {
            self.names.entry(s.id).or_insert_with(|| s.name.clone());
        }
        while self.names.len() > NAMES_KEPT {
            self.names.pop_first();
        }
        self.subscribers = subscribers;
    }

    /// Remembers `name` for subscriber `id` (one whose row is already gone).
    pub fn remember(&mut self, id: u32, name: &str) {
        self.names.entry(id).or_insert_with(|| name.to_string());
        while self.names.len() > NAMES_KEPT {
            self.names.pop_first();
        }
    }

    /// The name of subscriber `id`: as the broadcaster lists it, or as it
    /// was listed before it left.
    pub fn name(&self, id: u32) -> String {
        self.subscribers
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.name.clone())
            .or_else(|| self.names.get(&id).cloned())
            .unwrap_or_else(|| format!("subscriber #{id}"))
    }
}

/// The monitor's scroll positions: one per pane (only the lists, see
/// [`PaneId::scrolls`], use theirs) and the help's.
#[derive(Clone, Debug, Default)]
pub struct Scrolls {
    /// In [`PaneId::ALL`] order.
    pub panes: [ScrollState; PaneId::ALL.len()],
    pub help: ScrollState,
}

impl Scrolls {
    pub fn pane(&self, id: PaneId) -> &ScrollState {
        &self.panes[PaneId::ALL.iter().position(|p| *p == id).unwrap_or(0)]
    }
}

/// What every render function may read besides its own view.
pub struct Ctx<'a> {
    pub theme: Theme,
    /// Chart window, seconds.
    pub window_s: u64,
    pub fanout: &'a Fanout,
    /// The broadcaster's clock now (for "last rx").
    pub clock_now: Nanos,
    /// Labels of scenario steps, if a scenario runs.
    pub step_labels: &'a [String],
    /// Where each list is scrolled to (a render records what it drew).
    pub scrolls: &'a Scrolls,
    /// The latency-over-time chart's y axis is logarithmic (`y`).
    pub log_latency: bool,
}

/// How a pane's frame looks: focus, and its own subscription's health.
#[derive(Clone, Copy, Debug, Default)]
pub struct Frame {
    pub focused: bool,
    pub evictions: u32,
    /// Events lost to evictions.
    pub lost: u64,
    /// Events its feed missed within the chart window.
    pub missed: u64,
}

/// A pane's bordered block with its title, focus and eviction note.
pub fn block<'a>(mut title: Line<'a>, theme: Theme, frame: Frame) -> Block<'a> {
    if frame.focused {
        // Visible without colour too: a marker before the name.
        title.spans.insert(0, Span::styled("▶", theme.border(true)));
    }
    let mut b = Block::bordered().border_style(theme.border(frame.focused)).title(title);
    if let Some(note) = border_note(frame) {
        b = b.title_bottom(Line::from(Span::styled(note, theme.warn())));
    }
    b
}

/// The note at the bottom left of a pane's border, if any; the ⚠ says it
/// without colour too. An evicted pane's note counts what its evictions
/// cost (and wears the ⚠ while a loss is in the window); otherwise a loss
/// in the window is counted.
pub fn border_note(frame: Frame) -> Option<String> {
    if frame.evictions > 0 {
        Some(format!(
            " {}evicted {}×, lost {} events, resubscribed ",
            if frame.missed > 0 { "⚠ " } else { "" },
            frame.evictions,
            crate::format::count(frame.lost)
        ))
    } else if frame.missed > 0 {
        Some(format!(" ⚠ missed {} events ", crate::format::count(frame.missed)))
    } else {
        None
    }
}

/// A title line: the name in bold, then optional details.
pub fn title<'a>(name: &'a str, detail: String, theme: Theme) -> Line<'a> {
    let mut spans = vec![Span::styled(format!(" {name} "), theme.title())];
    if !detail.is_empty() {
        spans.push(Span::styled(format!("{detail} "), theme.label()));
    }
    Line::from(spans)
}

/// A pane title's detail and right-hand note (a scroll position) that fit a
/// pane `width` columns wide: the first of `details` (most informative
/// first) that fits beside a form of the note (`notes`, longest first),
/// else the first that fits alone, else neither.
pub fn fit_title(
    name: &str,
    details: Vec<String>,
    notes: Vec<String>,
    width: u16,
    focused: bool,
) -> (String, Option<String>) {
    // Corners, the focus marker and the name's padding; a note's padding
    // and a column between the two.
    let fixed = 2 + usize::from(focused) + name.chars().count() + 2;
    let fits = |d: &String, note: usize| {
        let detail = if d.is_empty() { 0 } else { d.chars().count() + 1 };
        fixed + detail + if note > 0 { note + 3 } else { 0 } <= width as usize
    };
    for d in &details {
        if let Some(n) = notes.iter().find(|n| fits(d, n.chars().count())) {
            return (d.clone(), Some(n.clone()));
        }
    }
    match details.into_iter().find(|d| fits(d, 0)) {
        Some(d) => (d, None),
        None => (String::new(), None),
    }
}

/// A right-aligned title note (a scroll position), for [`Block::title`].
pub fn right_note(note: &str, theme: Theme) -> Line<'static> {
    Line::from(Span::styled(format!(" {note} "), theme.label())).right_aligned()
}

/// Whether an area can show anything inside a border.
pub fn has_room(area: Rect) -> bool {
    area.width > 2 && area.height > 2
}

/// Seconds since start of event time `t`.
pub fn sec(t: Nanos) -> u64 {
    t / crate::event::SECONDS
}

/// The points of a per-second series over the window ending at `now`:
/// x = seconds before now (negative), only complete seconds.
pub fn series(now: Nanos, window_s: u64, mut value: impl FnMut(u64) -> Option<f64>) -> Vec<(f64, f64)> {
    let now_sec = sec(now);
    let first = now_sec.saturating_sub(window_s);
    (first..now_sec)
        .filter_map(|s| value(s).map(|v| (s as f64 - now_sec as f64, v)))
        .collect()
}

/// One line of a time chart: its names (long, and short for narrow
/// legends), its look (an index into the theme's series colours and
/// [`SERIES`] markers) and its points.
pub struct Series {
    pub name: &'static str,
    pub short: &'static str,
    pub look: usize,
    pub points: Vec<(f64, f64)>,
}

/// A chart's y axis: its bounds and the labels spread evenly from the
/// bottom to the top.
pub struct YAxis {
    pub bounds: [f64; 2],
    pub labels: Vec<String>,
}

impl YAxis {
    /// From 0 to `max`, labelled at 0, the middle and the top.
    pub fn linear(max: f64, label: impl Fn(f64) -> String) -> YAxis {
        YAxis {
            bounds: [0.0, max],
            labels: vec!["0".into(), label(max / 2.0), label(max)],
        }
    }
}

/// Rows a time chart needs: its legend, two rows of plot, the x axis and
/// its labels.
pub const CHART_MIN_HEIGHT: u16 = 5;
/// Columns a time chart needs.
pub const CHART_MIN_WIDTH: u16 = 20;

/// Draws a line chart of per-second series over the window ending now,
/// with its legend on the top row: each series' marker sample and name
/// (short names when the long ones do not fit), then `note`. Series are
/// listed first to last and drawn last to first, so the first is on top.
/// Draws nothing in an area under [`CHART_MIN_WIDTH`]x[`CHART_MIN_HEIGHT`].
pub fn draw_time_chart(
    frame: &mut ratatui::Frame,
    area: Rect,
    series: &[Series],
    window_s: u64,
    y: YAxis,
    note: Option<&str>,
    theme: Theme,
) {
    use ratatui::layout::{Constraint, Layout};
    use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Paragraph};
    if area.width < CHART_MIN_WIDTH || area.height < CHART_MIN_HEIGHT {
        return;
    }
    let [legend_area, chart_area] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    frame.render_widget(
        Paragraph::new(legend(series, note, legend_area.width, theme)),
        legend_area,
    );
    let datasets = series
        .iter()
        .rev()
        .map(|s| {
            Dataset::default()
                .marker(SERIES[s.look % SERIES.len()].marker)
                .graph_type(GraphType::Line)
                .style(theme.series(s.look))
                .data(&s.points)
        })
        .collect();
    let chart = Chart::new(datasets)
        .x_axis(
            Axis::default()
                .bounds([-(window_s as f64), 0.0])
                .labels(time_labels(window_s))
                .style(theme.dim()),
        )
        .y_axis(
            Axis::default()
                .bounds(y.bounds)
                .labels(y.labels.into_iter().map(Span::raw).collect::<Vec<_>>())
                .style(theme.dim()),
        )
        .legend_position(None);
    frame.render_widget(chart, chart_area);
}

/// A chart's legend in `width` columns: `⠒⠒ completed  ██ failed ...`,
/// with short names when the long ones do not fit, and the samples alone
/// as a last resort (each series' sample differs from the others').
pub fn legend(series: &[Series], note: Option<&str>, width: u16, theme: Theme) -> Line<'static> {
    let build = |name: fn(&Series) -> &'static str, gap: &'static str| {
        let mut spans = Vec::new();
        for (i, s) in series.iter().enumerate() {
            if i > 0 {
                spans.push(Span::raw(gap));
            }
            spans.push(Span::styled(SERIES[s.look % SERIES.len()].sample, theme.series(s.look)));
            let n = name(s);
            if !n.is_empty() {
                spans.push(Span::styled(format!(" {n}"), theme.label()));
            }
        }
        if let Some(note) = note {
            spans.push(Span::styled(format!("{gap}{note}"), theme.dim()));
        }
        Line::from(spans)
    };
    [
        build(|s| s.name, "  "),
        build(|s| s.short, "  "),
        build(|s| s.short, " "),
        build(|_| "", " "),
    ]
    .into_iter()
    .find(|l| l.width() <= width as usize)
    .unwrap_or_else(|| build(|_| "", " "))
}

/// Axis labels for a window: `-60s  -30s  now`.
pub fn time_labels(window_s: u64) -> Vec<Span<'static>> {
    let w = window_s as f64;
    vec![
        Span::raw(format!("-{}", crate::format::duration((w * 1e9) as u64))),
        Span::raw(format!("-{}", crate::format::duration((w / 2.0 * 1e9) as u64))),
        Span::raw("now"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A subscriber whose row is gone (a pane evicted, then back under its
    /// name with a new id) is still named in the log, not "subscriber #N".
    #[test]
    fn a_subscriber_that_left_keeps_its_name() {
        let (_publisher, b) =
            crate::broadcast::channel::<crate::event::Event>(Default::default(), crate::clock::Clock::manual());
        let first = b.subscribe("header");
        let mut f = Fanout::default();
        f.set_subscribers(b.stats());
        let old = first.id();
        drop(first);
        let _again = b.subscribe("header");
        f.set_subscribers(b.stats());
        assert!(f.subscribers.iter().all(|s| s.id != old), "its row was taken");
        assert_eq!(f.name(old), "header");
        assert_eq!(f.name(9_999), "subscriber #9999");
    }
}
