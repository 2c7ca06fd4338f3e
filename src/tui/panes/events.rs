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

use super::{Ctx, Fanout, PaneId, PaneView, block, has_room, title};
use crate::broadcast::{EvictReason, Notice, NoticeKind, SubscriberId};
use crate::collector::{LoadSettings, Snapshot};
use crate::event::{Event, EventKind, LoadChange, Nanos, WorkerId};
use crate::format;
use crate::tui::feed::View;
use crate::tui::panes::header::service_text;
use crate::tui::theme::Theme;

/// Entries kept.
pub const LOG_LEN: usize = 200;

#[derive(Clone, Debug, PartialEq)]
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
    /// A paced replay jumped over an idle stretch of `gap`, `skipped` of
    /// it unplayed (`--max-idle`).
    IdleSkipped {
        gap: Nanos,
        skipped: Nanos,
    },
    /// A file the run writes failed: what, and the error naming the file.
    Failed(String),
}

/// Entries kept for [`EventsView::take_fresh`] between two takes.
pub const FRESH_LEN: usize = 1024;

#[derive(Clone, Debug, Default)]
pub struct EventsView {
    pub log: VecDeque<(Nanos, Notable)>,
    /// Entries not yet taken by the loop (scenario steps to carry out, cast markers).
    fresh: VecDeque<(Nanos, Notable)>,
    /// Workers that crashed and have not respawned (to tell restarts apart;
    /// bounded by the pool's limit).
    crashed: Vec<WorkerId>,
    /// The settings as announced so far: a re-announcement of an unchanged
    /// setting (a recording starting, a pane resubscribing) is not news.
    settings: LoadSettings,
    queue_capacity: u32,
    auto_restart: Option<bool>,
    /// Pipeline time of the newest setting announcement applied.
    settings_at: Nanos,
    /// `settings` holds what was set (it saw or resynchronised them), so a
    /// difference from a snapshot's is a change it missed.
    settings_known: bool,
    /// Subscribers whose lagging spell is logged already: the broadcaster
    /// repeats its lagging notice (at most once a second) while the loss
    /// goes on, and the log shows the spell once. At most
    /// [`MAX_LAGGING_TRACKED`] (the oldest are forgotten first).
    lagging: VecDeque<SubscriberId>,
    /// Subscribers whose eviction is logged (from its notice, or from the
    /// evicted feed itself when this pane missed the notice), so it is
    /// logged once. At most [`MAX_LAGGING_TRACKED`].
    evicted: VecDeque<SubscriberId>,
}

/// Lagging subscribers the Events pane remembers, to log each spell once.
pub const MAX_LAGGING_TRACKED: usize = 1024;

impl EventsView {
    /// Logs the eviction of subscriber `id` once, whichever way it is
    /// heard of first (its notice, or a feed of this app that was evicted).
    pub fn log_eviction(&mut self, t: Nanos, id: SubscriberId, reason: EvictReason, dropped: u64) {
        if let Some(i) = self.lagging.iter().position(|&s| s == id) {
            self.lagging.remove(i);
        }
        if self.evicted.contains(&id) {
            return;
        }
        if self.evicted.len() == MAX_LAGGING_TRACKED {
            self.evicted.pop_front();
        }
        self.evicted.push_back(id);
        self.push(t, Notable::Evicted { id, reason, dropped });
    }

    /// Logs a replay's jump over an idle stretch (the player reports each
    /// once), at `t`, where playback resumed.
    pub fn log_idle_skip(&mut self, t: Nanos, gap: Nanos, skipped: Nanos) {
        self.push(t, Notable::IdleSkipped { gap, skipped });
    }

    fn push(&mut self, t: Nanos, n: Notable) {
        if self.log.len() == LOG_LEN {
            self.log.pop_back();
        }
        self.log.push_front((t, n.clone()));
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

    /// Logs a file that failed (`recording failed: rec.jsonl: No space
    /// left on device`), at pipeline time `t`.
    pub fn log_failure(&mut self, t: Nanos, what: String) {
        self.push(t, Notable::Failed(what));
    }

    /// Entries logged since the last take, oldest first.
    pub fn take_fresh(&mut self) -> Vec<(Nanos, Notable)> {
        self.fresh.drain(..).collect()
    }
}

impl View for EventsView {
    fn notice(&mut self, n: &Notice) {
        let id = n.subscriber;
        if let NoticeKind::Evicted { reason, dropped } = n.kind {
            self.log_eviction(n.t, id, reason, dropped);
            return;
        }
        let known = self.lagging.iter().position(|&s| s == id);
        match (n.kind, known) {
            // Still lagging: the spell is in the log already.
            (NoticeKind::Lagging { .. }, Some(_)) => return,
            (NoticeKind::Lagging { .. }, None) => {
                if self.lagging.len() == MAX_LAGGING_TRACKED {
                    self.lagging.pop_front();
                }
                self.lagging.push_back(id);
            }
            (_, Some(i)) => {
                self.lagging.remove(i);
            }
            _ => {}
        }
        if let Some(notable) = subscriber_notable(n) {
            self.push(n.t, notable);
        }
    }

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
                self.settings_at = ev.t;
                self.settings_known = true;
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

    /// Faults and the like that were lost stay lost (the border says so);
    /// a setting change that was lost is logged late, at the snapshot's
    /// time, and the settings it knows are brought up to date, so their next
    /// announcement is not taken for news.
    fn resync(&mut self, snapshot: &Snapshot) {
        if snapshot.at < self.settings_at {
            return;
        }
        if self.settings_known {
            for change in missed_changes(&self.settings, self.queue_capacity, snapshot) {
                self.push(snapshot.at, Notable::Load(change));
            }
        }
        self.settings = snapshot.load;
        self.queue_capacity = snapshot.queue_capacity;
        self.settings_known = true;
    }
}

/// The setting changes that take `known` (and the queue's `capacity`) to
/// the snapshot's. A setting never known (zero, none) is not a change.
fn missed_changes(known: &LoadSettings, capacity: u32, snapshot: &Snapshot) -> Vec<LoadChange> {
    let now = &snapshot.load;
    let mut out = Vec::new();
    if now.rate != known.rate && known.rate > 0.0 {
        out.push(LoadChange::Rate { per_s: now.rate });
    }
    if now.workers != known.workers && known.workers > 0 {
        out.push(LoadChange::Workers { count: now.workers });
    }
    if let (Some(dist), Some(_)) = (now.service, known.service)
        && now.service != known.service
    {
        out.push(LoadChange::Service { dist });
    }
    if now.error_rate != known.error_rate {
        out.push(LoadChange::ErrorRate {
            fraction: now.error_rate,
        });
    }
    if now.paused != known.paused {
        out.push(if now.paused {
            LoadChange::Paused
        } else {
            LoadChange::Resumed
        });
    }
    if snapshot.queue_capacity != capacity && capacity > 0 {
        out.push(LoadChange::QueueCapacity {
            capacity: snapshot.queue_capacity,
        });
    }
    out
}

/// The broadcaster's notices about its subscribers, as log entries.
fn subscriber_notable(n: &Notice) -> Option<Notable> {
    let id = n.subscriber;
    match n.kind {
        NoticeKind::Lagging { .. } => Some(Notable::Lagging(id)),
        NoticeKind::Evicted { reason, dropped } => Some(Notable::Evicted { id, reason, dropped }),
        NoticeKind::Left => Some(Notable::Left(id)),
        NoticeKind::Joined | NoticeKind::Healthy { .. } => None,
    }
}

impl PaneView for EventsView {
    const ID: PaneId = PaneId::Events;
    fn render(&self, ctx: &Ctx, pane: super::Frame, frame: &mut Frame, area: Rect) {
        render(self, ctx, pane, frame, area);
    }
}

/// The log line for one entry, and its style.
pub fn describe(n: &Notable, fanout: &Fanout, steps: &[String], t: Theme) -> (String, Style) {
    match *n {
        Notable::Failed(ref what) => (what.clone(), t.bad()),
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
        Notable::IdleSkipped { gap, skipped } => (
            format!("skipped {} of a {} idle gap", format::span(skipped), format::span(gap)),
            t.dim(),
        ),
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
                let (text, style) = describe(n, ctx.fanout, ctx.step_labels, t);
                Line::from(vec![
                    Span::styled(format!("{} ", format::clock(*at)), t.dim()),
                    Span::styled(text, style),
                ])
            })
            .collect()
    };
    frame.render_widget(Paragraph::new(lines), inner);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::SECONDS;

    fn notice(t: Nanos, subscriber: SubscriberId, kind: NoticeKind) -> Notice {
        Notice {
            seq: 0,
            t,
            subscriber,
            kind,
        }
    }

    /// An eviction is logged once, whether the notice or the evicted feed
    /// tells the pane first.
    #[test]
    fn an_eviction_is_logged_once_however_it_is_heard_of() {
        let mut v = EventsView::default();
        let reason = EvictReason::LosingFor { for_ns: 2 * SECONDS };
        v.notice(&notice(SECONDS, 5, NoticeKind::Evicted { reason, dropped: 9 }));
        v.log_eviction(SECONDS, 5, reason, 9);
        v.log_eviction(2 * SECONDS, 6, reason, 7);
        v.notice(&notice(2 * SECONDS, 6, NoticeKind::Evicted { reason, dropped: 7 }));
        let logged = |id| {
            v.log
                .iter()
                .filter(|(_, n)| matches!(n, Notable::Evicted { id: i, .. } if *i == id))
                .count()
        };
        assert_eq!((logged(5), logged(6)), (1, 1), "{:?}", v.log);
    }

    /// A subscriber that goes on lagging is logged once per spell, however
    /// many lagging notices the broadcaster repeats; a new spell after it
    /// recovered is logged again.
    #[test]
    fn a_lagging_spell_is_logged_once() {
        let mut v = EventsView::default();
        let lagging = NoticeKind::Lagging { lost: 10, dropped: 10 };
        for s in 0..5 {
            v.notice(&notice(s * SECONDS, 7, lagging));
            v.notice(&notice(s * SECONDS, 8, lagging));
        }
        let logged = |v: &EventsView, id| v.log.iter().filter(|(_, n)| *n == Notable::Lagging(id)).count();
        assert_eq!((logged(&v, 7), logged(&v, 8)), (1, 1), "{:?}", v.log);
        v.notice(&notice(6 * SECONDS, 7, NoticeKind::Healthy { dropped: 50 }));
        v.notice(&notice(7 * SECONDS, 7, lagging));
        v.notice(&notice(8 * SECONDS, 8, lagging));
        assert_eq!((logged(&v, 7), logged(&v, 8)), (2, 1), "{:?}", v.log);
    }

    fn load(t: Nanos, change: LoadChange) -> Event {
        Event::new(t, EventKind::LoadChanged { change })
    }

    /// A setting change the pane's stream lost is logged late, from the
    /// snapshot; the settings a run starts with are not news, and a
    /// snapshot older than what the pane saw changes nothing.
    #[test]
    fn a_lost_setting_change_is_logged_from_the_snapshot() {
        let mut started_blind = EventsView::default();
        let mut snapshot = Snapshot {
            at: 3 * SECONDS,
            events: 1,
            load: LoadSettings {
                rate: 2_500.0,
                workers: 8,
                ..LoadSettings::default()
            },
            ..Snapshot::default()
        };
        started_blind.resync(&snapshot);
        assert!(started_blind.log.is_empty(), "{:?}", started_blind.log);

        let mut v = EventsView::default();
        v.apply(&load(0, LoadChange::Rate { per_s: 2_000.0 }));
        v.apply(&load(0, LoadChange::Workers { count: 8 }));
        v.apply(&load(4 * SECONDS, LoadChange::Workers { count: 8 }));
        v.resync(&snapshot);
        assert!(v.log.is_empty(), "an older snapshot is not news: {:?}", v.log);
        snapshot.at = 5 * SECONDS;
        v.resync(&snapshot);
        v.resync(&snapshot);
        let log: Vec<_> = v.log.iter().cloned().collect();
        assert_eq!(
            log,
            vec![(5 * SECONDS, Notable::Load(LoadChange::Rate { per_s: 2_500.0 }))]
        );
    }
}
