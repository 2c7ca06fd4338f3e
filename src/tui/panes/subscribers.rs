//! Subscribers: the health of the fan-out. One row per broadcaster
//! subscriber (the panes themselves, the collector, the recorder, injected
//! slow ones), from the broadcaster's live counters; the title carries the
//! publisher's rate and cost per event. The view folds the broadcaster's
//! notices into per-subscriber "lagging since" times.

use std::collections::HashMap;

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table};

use super::{Ctx, PaneId, PaneView, block, fit_title, has_room, right_note, title};
use crate::broadcast::{Notice, NoticeKind, SubscriberId, SubscriberState, SubscriberStats};
use crate::event::{Event, Nanos};
use crate::format;
use crate::tui::feed::View;
use crate::tui::panes::latency::bar;
use crate::tui::theme::Theme;

/// Announcements seen, per subscriber (bounded by the broadcaster's ids in
/// use: entries of subscribers that left are removed).
#[derive(Clone, Debug, Default)]
pub struct SubscribersView {
    pub now: Nanos,
    /// When each subscriber last started lagging.
    pub lagging_since: HashMap<SubscriberId, Nanos>,
    pub evictions_seen: u64,
}

impl View for SubscribersView {
    fn apply(&mut self, ev: &Event) {
        self.now = self.now.max(ev.t);
    }

    fn notice(&mut self, n: &Notice) {
        self.now = self.now.max(n.t);
        let id = n.subscriber;
        match n.kind {
            NoticeKind::Lagging { .. } => {
                self.lagging_since.entry(id).or_insert(n.t);
            }
            NoticeKind::Evicted { .. } => {
                self.evictions_seen += 1;
                self.lagging_since.remove(&id);
            }
            NoticeKind::Healthy { .. } | NoticeKind::Left => {
                self.lagging_since.remove(&id);
            }
            NoticeKind::Joined => {}
        }
    }
}

impl PaneView for SubscribersView {
    const ID: PaneId = PaneId::Subscribers;
    fn render(&self, ctx: &Ctx, pane: super::Frame, frame: &mut Frame, area: Rect) {
        render(self, ctx, pane, frame, area);
    }
}

fn state_style(s: SubscriberState, t: Theme) -> Style {
    match s {
        SubscriberState::Healthy => t.ok(),
        SubscriberState::Joining => t.dim(),
        SubscriberState::Lagging => t.warn(),
        SubscriberState::Evicted => t.bad(),
        SubscriberState::Closed => t.dim(),
    }
}

/// "12ms" since the last receive, "-" if none or ended.
fn last_rx(s: &SubscriberStats, clock_now: Nanos) -> String {
    match s.last_recv {
        Some(t) if !s.state.is_ended() => match clock_now.saturating_sub(t) {
            0 => "now".into(),
            d => format::duration(d),
        },
        _ => "-".into(),
    }
}

pub fn render(view: &SubscribersView, ctx: &Ctx, pane: super::Frame, frame: &mut Frame, area: Rect) {
    let t = ctx.theme;
    let clock_now = ctx.clock_now;
    let f = ctx.fanout;
    let live = f.subscribers.iter().filter(|s| !s.state.is_ended()).count();
    let evicted = if view.evictions_seen > 0 {
        format!(", {} evicted", view.evictions_seen)
    } else {
        String::new()
    };
    // Live subscribers first (in joining order), then ended ones, newest
    // first. When they do not all fit, the ones in trouble (lagging, the
    // newest ended: an eviction is news) come first, and the list scrolls.
    let page = area.height.saturating_sub(3) as usize;
    let live_rows: Vec<&SubscriberStats> = f.subscribers.iter().filter(|s| !s.state.is_ended()).collect();
    let ended: Vec<&SubscriberStats> = f.subscribers.iter().rev().filter(|s| s.state.is_ended()).collect();
    let order: Vec<&SubscriberStats> = if live_rows.len() + ended.len() <= page {
        live_rows.iter().chain(&ended).copied().collect()
    } else {
        let lagging = live_rows.iter().filter(|s| s.state != SubscriberState::Healthy);
        let healthy = live_rows.iter().filter(|s| s.state == SubscriberState::Healthy);
        lagging
            .chain(ended.iter().take(1))
            .chain(healthy)
            .chain(ended.iter().skip(1))
            .copied()
            .collect()
    };
    let scroll = ctx.scrolls.pane(PaneId::Subscribers);
    let top = scroll.window(order.len(), page);
    let (detail, note) = fit_title(
        "Subscribers",
        vec![
            format!(
                "{live} live{evicted}  publish {} ev/s, {:.0} ns/ev",
                format::compact(f.events_per_s),
                f.ns_per_event
            ),
            format!("{live} live{evicted}"),
        ],
        scroll.labels(),
        area.width,
        pane.focused,
    );
    let mut block = block(title("Subscribers", detail, t), t, pane);
    if let Some(p) = &note {
        block = block.title(right_note(p, t));
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if !has_room(area) {
        return;
    }
    let gauge_w: usize = if inner.width >= 100 { 10 } else { 5 };
    // Columns by priority; narrow panes drop the least important ones.
    let wide = inner.width >= 96;
    let medium = inner.width >= 72;
    let rows: Vec<Row> = order
        .into_iter()
        .skip(top)
        .take(page)
        .map(|s| {
            let fill = if s.capacity > 0 {
                s.queued as f64 / s.capacity as f64
            } else {
                0.0
            };
            let gauge = if s.state.is_ended() {
                format!("{:<gauge_w$}{:>5}", "", "-")
            } else {
                format!("{:<gauge_w$}{:>4.0}%", bar(fill, gauge_w), fill * 100.0)
            };
            let evictions = match (s.evictions, s.last_evict_reason) {
                (0, _) => "0".to_string(),
                (n, Some(r)) => format!("{n} ({r})"),
                (n, None) => n.to_string(),
            };
            let lag = if s.state.is_ended() {
                "-".to_string()
            } else {
                format::count(s.queued)
            };
            let dropped_style = if s.dropped > 0 { t.bad() } else { t.text() };
            let mut cells = vec![
                Cell::from(s.name.clone()),
                Cell::from(Span::styled(s.state.label(), state_style(s.state, t))),
            ];
            if medium {
                cells.push(Cell::from(Span::styled(
                    gauge,
                    if fill > 0.8 { t.warn() } else { t.accent() },
                )));
            }
            cells.push(Cell::from(Line::from(lag).right_aligned()));
            cells.push(Cell::from(Line::from(format::count(s.delivered)).right_aligned()));
            cells.push(Cell::from(
                Line::from(Span::styled(format::count(s.dropped), dropped_style)).right_aligned(),
            ));
            if wide {
                cells.push(Cell::from(Line::from(last_rx(s, clock_now)).right_aligned()));
            }
            if medium {
                cells.push(Cell::from(Span::styled(
                    evictions,
                    if s.evictions > 0 { t.warn() } else { t.text() },
                )));
            }
            Row::new(cells)
        })
        .collect();
    let name_w = f
        .subscribers
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(6, 24) as u16;
    let mut names: Vec<(&str, Constraint, bool)> = vec![
        ("name", Constraint::Length(name_w), false),
        ("state", Constraint::Length(8), false),
    ];
    if medium {
        names.push(("queue", Constraint::Length(gauge_w as u16 + 5), false));
    }
    names.push(("lag", Constraint::Length(7), true));
    names.push(("delivered", Constraint::Length(11), true));
    names.push(("dropped", Constraint::Length(10), true));
    if wide {
        names.push(("last rx", Constraint::Length(8), true));
    }
    if medium {
        names.push(("evictions", Constraint::Fill(1), false));
    }
    let header = Row::new(
        names
            .iter()
            .map(|(h, _, right)| Cell::from(Line::from(*h).right_aligned_if(*right))),
    )
    .style(t.label());
    let widths: Vec<Constraint> = names.iter().map(|n| n.1).collect();
    frame.render_widget(Table::new(rows, widths).header(header).column_spacing(1), inner);
}

trait RightIf {
    fn right_aligned_if(self, yes: bool) -> Self;
}

impl RightIf for Line<'_> {
    fn right_aligned_if(self, yes: bool) -> Self {
        if yes { self.right_aligned() } else { self }
    }
}
