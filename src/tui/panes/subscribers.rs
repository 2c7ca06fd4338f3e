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

use super::{Ctx, PaneId, PaneView, block, has_room, title};
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
    let detail = format!(
        "{live} live{evicted}  publish {} ev/s, {:.0} ns/ev",
        format::compact(f.events_per_s),
        f.ns_per_event
    );
    let block = block(title("Subscribers", detail, t), t, pane);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if !has_room(area) {
        return;
    }
    let gauge_w: usize = if inner.width >= 100 { 10 } else { 5 };
    // Columns by priority; narrow panes drop the least important ones.
    let wide = inner.width >= 96;
    let medium = inner.width >= 72;
    // Live subscribers first (in joining order), then ended ones, newest
    // first. When they do not all fit, the last row counts what is not shown.
    let room = inner.height.saturating_sub(1) as usize;
    let live: Vec<&SubscriberStats> = f.subscribers.iter().filter(|s| !s.state.is_ended()).collect();
    let ended: Vec<&SubscriberStats> = f.subscribers.iter().rev().filter(|s| s.state.is_ended()).collect();
    let order: Vec<&SubscriberStats> = if live.len() + ended.len() <= room {
        live.iter().chain(&ended).copied().collect()
    } else {
        let room = room.saturating_sub(1);
        // The newest ended one keeps a row (an eviction is news); live ones
        // come next; older ended ones get what is left.
        let ended_n = ended.len().min(1).min(room);
        let live_n = live.len().min(room - ended_n);
        let ended_n = ended.len().min(room - live_n);
        // Of the live ones, the lagging are kept first; shown in joining order.
        let mut keep: Vec<usize> = (0..live.len()).collect();
        keep.sort_by_key(|&i| (live[i].state == SubscriberState::Healthy, i));
        keep.truncate(live_n);
        keep.sort_unstable();
        keep.iter()
            .map(|&i| live[i])
            .chain(ended[..ended_n].iter().copied())
            .collect()
    };
    let hidden = f.subscribers.len() - order.len();
    let mut rows: Vec<Row> = order
        .into_iter()
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
    if hidden > 0 {
        rows.push(Row::new(vec![Cell::from(Span::styled(
            format!("… {hidden} more"),
            t.dim(),
        ))]));
    }
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
