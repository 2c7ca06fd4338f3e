//! Events: a short log of what is worth noticing (evictions, lagging
//! subscribers, stalls, crashes and restarts, bursts, control changes,
//! scenario steps, recording on/off), newest first. Heartbeats and request
//! traffic are not notable. Keeps the last [`LOG_LEN`] entries.

use std::collections::VecDeque;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{Ctx, Fanout, block, has_room, title};
use crate::broadcast::{EvictReason, Notice, NoticeKind, SubscriberId};
use crate::event::{Event, EventKind, LoadChange, Nanos, WorkerId};
use crate::format;
use crate::ui::feed::View;
use crate::ui::panes::header::service_text;
use crate::ui::theme::Theme;

/// Entries kept.
pub const LOG_LEN: usize = 200;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Notable {
    Lagging(SubscriberId),
    Evicted {
        id: SubscriberId,
        reason: EvictReason,
        dropped: u64,
    },
    Left(SubscriberId),
    Stalled(WorkerId),
    Recovered(WorkerId),
    Crashed {
        worker: WorkerId,
        lost: bool,
    },
    Restarted(WorkerId),
    Stopped(WorkerId),
    Load(LoadChange),
    Step(u16),
}

/// Entries kept for [`EventsView::take_fresh`] between two takes.
pub const FRESH_LEN: usize = 1024;

#[derive(Clone, Debug, Default)]
pub struct EventsView {
    pub log: VecDeque<(Nanos, Notable)>,
    /// Entries not yet taken by the loop (scenario steps to carry out, cast markers).
    fresh: VecDeque<(Nanos, Notable)>,
    /// Workers that crashed and have not respawned (to tell restarts apart).
    crashed: Vec<WorkerId>,
    /// Labels of scenario steps, if a scenario runs.
    pub step_labels: Vec<String>,
    /// The settings as announced so far: a re-announcement of an unchanged
    /// setting (a recording starting, a pane resubscribing) is not news.
    settings: crate::collector::LoadSettings,
    queue_capacity: u32,
    auto_restart: Option<bool>,
}

impl EventsView {
    fn push(&mut self, t: Nanos, n: Notable) {
        if self.log.len() == LOG_LEN {
            self.log.pop_back();
        }
        self.log.push_front((t, n));
        if self.fresh.len() == FRESH_LEN {
            self.fresh.pop_front();
        }
        self.fresh.push_back((t, n));
    }

    /// Whether an announced setting differs from what was known (and
    /// remembers it). Faults, bursts and the like are always news.
    fn is_news(&mut self, change: LoadChange) -> bool {
        let before = (self.settings, self.queue_capacity, self.auto_restart);
        match change {
            LoadChange::QueueCapacity { capacity } => self.queue_capacity = capacity,
            LoadChange::AutoRestart { on } => self.auto_restart = Some(on),
            LoadChange::Rate { .. }
            | LoadChange::Workers { .. }
            | LoadChange::Service { .. }
            | LoadChange::ErrorRate { .. }
            | LoadChange::Paused
            | LoadChange::Resumed => self.settings.apply(change),
            _ => return true,
        }
        before != (self.settings, self.queue_capacity, self.auto_restart)
    }

    /// Entries logged since the last take, oldest first.
    pub fn take_fresh(&mut self) -> Vec<(Nanos, Notable)> {
        self.fresh.drain(..).collect()
    }
}

impl View for EventsView {
    fn apply(&mut self, ev: &Event) {
        let n = match ev.kind {
            EventKind::WorkerStalled { worker } => Notable::Stalled(worker),
            EventKind::WorkerRecovered { worker } => Notable::Recovered(worker),
            EventKind::WorkerCrashed { worker, lost_request } => {
                self.crashed.push(worker);
                Notable::Crashed {
                    worker,
                    lost: lost_request.is_some(),
                }
            }
            EventKind::WorkerSpawned { worker } if self.crashed.contains(&worker) => {
                self.crashed.retain(|w| *w != worker);
                Notable::Restarted(worker)
            }
            EventKind::WorkerStopped { worker } => Notable::Stopped(worker),
            EventKind::LoadChanged { change } => {
                if !self.is_news(change) || ev.t == 0 {
                    // The settings at start are in the header; log changes only.
                    return;
                }
                Notable::Load(change)
            }
            EventKind::ScenarioStep { step } => Notable::Step(step),
            _ => return,
        };
        self.push(ev.t, n);
    }

    fn notice(&mut self, n: &Notice) {
        let id = n.subscriber;
        let notable = match n.kind {
            NoticeKind::Lagging { .. } => Notable::Lagging(id),
            NoticeKind::Evicted { reason, dropped } => Notable::Evicted { id, reason, dropped },
            NoticeKind::Left => Notable::Left(id),
            NoticeKind::Joined | NoticeKind::Healthy { .. } => return,
        };
        self.push(n.t, notable);
    }
}

/// The log line for one entry, and its style.
pub fn describe(n: &Notable, fanout: &Fanout, steps: &[String], t: Theme) -> (String, Style) {
    match *n {
        Notable::Lagging(id) => (
            format!("{} lagging: losing its oldest events", fanout.name(id)),
            t.warn(),
        ),
        Notable::Evicted { id, reason, dropped } => (
            format!(
                "{} evicted: {reason}, {} dropped",
                fanout.name(id),
                format::count(dropped)
            ),
            t.bad(),
        ),
        Notable::Left(id) => (format!("{} unsubscribed", fanout.name(id)), t.dim()),
        Notable::Stalled(w) => (format!("w{w} stalled: missed heartbeats"), t.warn()),
        Notable::Recovered(w) => (format!("w{w} recovered"), t.ok()),
        Notable::Crashed { worker, lost } => (
            format!("w{worker} crashed{}", if lost { ", its request failed" } else { "" }),
            t.bad(),
        ),
        Notable::Restarted(w) => (format!("w{w} restarted"), t.ok()),
        Notable::Stopped(w) => (format!("w{w} stopped"), t.dim()),
        Notable::Step(i) => (
            match steps.get(i as usize) {
                Some(label) => format!("scenario: {label}"),
                None => format!("scenario step {}", i + 1),
            },
            t.accent(),
        ),
        Notable::Load(c) => (load_text(&c), t.text()),
    }
}

fn load_text(c: &LoadChange) -> String {
    match *c {
        LoadChange::Rate { per_s } => format!("rate set to {}/s", format::count(per_s.round() as u64)),
        LoadChange::Workers { count } => format!("pool set to {count} workers"),
        LoadChange::Service { dist } => format!("service time {}", service_text(&dist)),
        LoadChange::ErrorRate { fraction } => format!("error rate {:.1}%", fraction * 100.0),
        LoadChange::QueueCapacity { capacity } => format!("queue capacity {}", format::count(capacity as u64)),
        LoadChange::BurstStarted { factor, duration } => format!("burst ×{factor} for {}", format::duration(duration)),
        LoadChange::BurstEnded => "burst ended".into(),
        LoadChange::Paused => "arrivals paused".into(),
        LoadChange::Resumed => "arrivals resumed".into(),
        LoadChange::StallInjected { worker, duration } => {
            format!("fault: stall w{worker} for {}", format::duration(duration))
        }
        LoadChange::CrashInjected { worker } => format!("fault: crash w{worker}"),
        LoadChange::AutoRestart { on } => format!("auto-restart {}", if on { "on" } else { "off" }),
        LoadChange::SlowSubscriber { added: true } => "slow subscriber added".into(),
        LoadChange::SlowSubscriber { added: false } => "slow subscriber removed".into(),
        LoadChange::Recording { on: true } => "recording started".into(),
        LoadChange::Recording { on: false } => "recording stopped".into(),
    }
}

pub fn render(view: &EventsView, ctx: &Ctx, pane: super::Frame, frame: &mut Frame, area: Rect) {
    let t = ctx.theme;
    let block = block(title("Events", String::new(), t), t, pane);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if !has_room(area) {
        return;
    }
    let lines: Vec<Line> = if view.log.is_empty() {
        vec![Line::from(Span::styled(
            "nothing notable yet: try s, k, K or b",
            t.dim(),
        ))]
    } else {
        view.log
            .iter()
            .take(inner.height as usize)
            .map(|(at, n)| {
                let (text, style) = describe(n, ctx.fanout, &view.step_labels, t);
                Line::from(vec![
                    Span::styled(format!("{} ", format::clock(*at)), t.dim()),
                    Span::styled(text, style),
                ])
            })
            .collect()
    };
    frame.render_widget(Paragraph::new(lines), inner);
}
