//! The monitor's state: the panes (one collection of [`Pane`]s, each its
//! own [`Feed`]), the header (fed the same way), focus, zoom, freeze, help,
//! scroll positions and the chart window. It turns key [`Action`]s into UI
//! changes and [`Effect`]s for the loop to carry out, and draws the whole
//! screen from borrowed state.
//!
//! Which list a scroll key moves: the help while it is open, else the
//! focused pane (the zoomed one is the focused one); the mouse wheel moves
//! the pane under the pointer. While the help is open, keys other than
//! scrolling, closing and quitting do nothing.
//!
//! Each pump loads the collector's newest snapshot once (one atomic load)
//! and hands it to every feed: a feed that lost events resynchronises from
//! it (see [`super::feed`]), and the header reports the collector's own
//! losses, if any.

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Span;
use ratatui::widgets::{Paragraph, Wrap};

use super::feed::Feed;
use super::help::{draw_help, footer_line};
use super::keys::{Action, BINDINGS};
pub use super::layout::{Areas, MIN_HEIGHT, MIN_WIDTH};
pub use super::panes::PaneId;
use super::panes::events::EventsView;
use super::panes::header::{self, HeaderInfo, HeaderView, RunState};
use super::panes::latency::LatencyView;
use super::panes::subscribers::SubscribersView;
use super::panes::throughput::ThroughputView;
use super::panes::workers::WorkersView;
use super::panes::{self, Ctx, Drawn, Fanout, Pane, PaneView, Scrolls, WINDOWS_S};
use super::scroll::{Scroll, WHEEL_ROWS};
use super::theme::Theme;
use crate::broadcast::{Broadcaster, Delivery, PublisherStats};
use crate::collector::SnapshotReader;
use crate::event::Event;
use crate::event::{Nanos, SECONDS};
use crate::pipeline::Command;
use crate::pipeline::control::StepFrom;
use crate::session::replay::IdleSkip;

/// What the loop must do after a command.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Effect {
    None,
    /// Redraw (UI state changed).
    Redraw,
    Quit,
    /// Hand the terminal back and stop until continued (Ctrl-Z).
    Suspend,
    Control(Command),
    AddSlowSubscriber,
    RemoveSlowSubscriber,
    ToggleRecording,
    Seek(i64),
}

/// Live or replaying, for the header and which keys work.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    Live {
        seed: u64,
    },
    Replay {
        seed: Option<u64>,
        position: Nanos,
        length: Nanos,
        paused: bool,
        /// Played to its end (it stays there for seeks until quit).
        ended: bool,
    },
}

pub struct App {
    pub theme: Theme,
    pub mode: Mode,
    pub focus: usize,
    pub zoom: bool,
    pub frozen: bool,
    pub help: bool,
    pub window: usize,
    /// The latency-over-time chart's y axis is logarithmic (`y`).
    pub log_latency: bool,
    /// A one-line message in the footer's place (refused actions, limits,
    /// notices).
    pub flash: Option<(String, Instant)>,
    /// The recording failed: the header shows `REC FAILED` until one
    /// starts again.
    pub rec_failed: bool,
    /// Where the lists and the help are scrolled to.
    pub scroll: Scrolls,
    broadcaster: Broadcaster<Event>,
    /// The collector's newest snapshot, to resynchronise feeds that lost events.
    snapshots: SnapshotReader,
    header: Feed<HeaderView>,
    /// The panes, in [`PaneId::ALL`] order.
    panes: Vec<Box<dyn Pane>>,
    /// Labels of scenario steps, if a scenario runs (for the Events pane).
    step_labels: Vec<String>,
    fanout: Fanout,
    /// Events the collector lost, as of its newest snapshot.
    collector_lost: u64,
    /// What the screen showed when the display froze; drawn instead of the
    /// live views until it unfreezes (the panes keep consuming meanwhile).
    frozen_scene: Option<Box<Frozen>>,
    /// A pane resubscribed after an eviction since the last take.
    resubscribed: bool,
    /// Broadcaster-clock time and publisher counters at the last rate sample.
    fanout_sample: Option<(Nanos, PublisherStats)>,
    ended: bool,
}

/// How long a flash message stays.
const FLASH_FOR: std::time::Duration = std::time::Duration::from_secs(4);

impl App {
    /// Subscribes the header and every pane. Call before the pipeline starts
    /// publishing so the panes see the stream from its first event.
    /// `snapshots` reads the collector's snapshots (a default reader, which
    /// never has one, leaves feeds that lose events without a source to
    /// resynchronise from).
    pub fn new(broadcaster: &Broadcaster<Event>, snapshots: SnapshotReader, theme: Theme, mode: Mode) -> App {
        let d = match mode {
            Mode::Replay { .. } => Delivery::Wait,
            Mode::Live { .. } => Delivery::Drop,
        };
        App {
            theme,
            mode,
            focus: 0,
            zoom: false,
            frozen: false,
            help: false,
            window: 1,
            log_latency: false,
            flash: None,
            rec_failed: false,
            scroll: Scrolls::default(),
            broadcaster: broadcaster.clone(),
            snapshots,
            header: Feed::new(broadcaster, "header", d, HeaderView::default()),
            panes: subscribe_panes(broadcaster, d),
            step_labels: Vec::new(),
            fanout: Fanout::default(),
            collector_lost: 0,
            frozen_scene: None,
            resubscribed: false,
            fanout_sample: None,
            ended: false,
        }
    }

    /// Scenario step labels for the Events pane.
    pub fn set_step_labels(&mut self, labels: Vec<String>) {
        self.step_labels = labels;
    }

    /// Drains the header's and every pane's subscription (resynchronising
    /// those that lost events from the collector's newest snapshot) and
    /// re-reads the fan-out counters. Returns whether anything changed on
    /// screen.
    pub fn pump(&mut self) -> bool {
        let snapshot = self.snapshots.load();
        let mut n = usize::from(snapshot.lost_events != self.collector_lost);
        self.collector_lost = snapshot.lost_events;
        let (mut closed, mut evicted) = (true, false);
        let header = ("header", self.header.pump(&snapshot));
        let mut evictions = Vec::new();
        let pumped = self.panes.iter_mut().map(|p| (p.id().name(), p.pump(&snapshot)));
        for (name, p) in std::iter::once(header).chain(pumped) {
            n += p.changed;
            closed &= p.closed;
            evicted |= p.evicted;
            if let Some((id, reason, dropped)) = p.eviction {
                // Named as it was, though its row now shows the new subscription.
                self.fanout.remember(id, name);
                evictions.push((id, reason, dropped));
            }
        }
        if !evictions.is_empty() {
            // The Events pane may have been evicted in the same check and
            // missed these notices: log them from the feeds (once each).
            let now = self.now();
            if let Some(events) = self.events_view() {
                for (id, reason, dropped) in evictions {
                    events.log_eviction(now, id, reason, dropped);
                }
            }
        }
        self.resubscribed |= evicted;
        self.ended = closed;
        self.refresh_fanout();
        if self.flash.as_ref().is_some_and(|(_, at)| at.elapsed() > FLASH_FOR) {
            self.flash = None;
            n += 1;
        }
        n > 0
    }

    /// Whether the stream has ended (publisher closed) for every pane.
    pub fn stream_ended(&self) -> bool {
        self.ended
    }

    fn refresh_fanout(&mut self) {
        // The broadcaster's clock: wall time live, simulated time offscreen.
        let now = self.broadcaster.clock().now();
        let p = self.broadcaster.publisher_stats();
        match self.fanout_sample {
            Some((at, prev)) if now.saturating_sub(at) >= 500_000_000 => {
                let dt = (now - at) as f64 / 1e9;
                let events = p.events.saturating_sub(prev.events);
                self.fanout.events_per_s = events as f64 / dt;
                self.fanout.ns_per_event = if events > 0 {
                    p.busy_ns.saturating_sub(prev.busy_ns) as f64 / events as f64
                } else {
                    0.0
                };
                self.fanout_sample = Some((now, p));
            }
            None => self.fanout_sample = Some((now, p)),
            _ => {}
        }
        self.fanout.publisher = p;
        self.fanout.set_subscribers(self.broadcaster.stats());
    }

    /// Notable events since the last call (scenario steps, faults, ...).
    pub fn take_notables(&mut self) -> Vec<(Nanos, panes::events::Notable)> {
        self.events_view().map_or_else(Vec::new, EventsView::take_fresh)
    }

    /// The Events pane's view.
    fn events_view(&mut self) -> Option<&mut EventsView> {
        self.panes
            .iter_mut()
            .find_map(|p| p.as_any_mut().downcast_mut::<Feed<EventsView>>())
            .map(|events| &mut events.view)
    }

    /// Logs in the Events pane that a replay jumped over an idle stretch.
    pub fn log_idle_skip(&mut self, skip: IdleSkip) {
        if let Some(events) = self.events_view() {
            events.log_idle_skip(skip.to, skip.gap, skip.skipped);
        }
    }

    /// How a notable event reads (for cast markers).
    pub fn describe(&self, n: &panes::events::Notable) -> String {
        panes::events::describe(n, &self.fanout, &self.step_labels, self.theme).0
    }

    /// Re-subscribes the header and every pane with fresh state (a replay
    /// seeking back).
    pub fn reset_panes(&mut self) {
        self.header.reset(HeaderView::default());
        for p in &mut self.panes {
            p.reset();
        }
    }

    /// Freezes (or unfreezes) the display: while frozen it shows what it
    /// showed at that moment; unfreezing shows the views, which kept up.
    pub fn set_frozen(&mut self, on: bool) {
        self.frozen = on;
        self.frozen_scene = on.then(|| {
            Box::new(Frozen {
                header: self.header.view.clone(),
                panes: self.panes.iter().map(|p| p.frozen()).collect(),
                fanout: self.fanout.clone(),
                clock_now: self.broadcaster.clock().now(),
                collector_lost: self.collector_lost,
            })
        });
    }

    /// Whether a pane resubscribed after an eviction since the last call
    /// (its view then needs the current settings announced again).
    pub fn take_resubscribed(&mut self) -> bool {
        std::mem::take(&mut self.resubscribed)
    }

    /// What to draw: the frozen copy, or the live views.
    fn scene(&self) -> Scene<'_> {
        match &self.frozen_scene {
            Some(f) => Scene {
                header: &f.header,
                panes: f.panes.iter().map(|p| p.as_ref()).collect(),
                fanout: &f.fanout,
                clock_now: f.clock_now,
                collector_lost: f.collector_lost,
            },
            None => Scene {
                header: &self.header.view,
                panes: self.panes.iter().map(|p| p.as_ref() as &dyn Drawn).collect(),
                fanout: &self.fanout,
                clock_now: self.broadcaster.clock().now(),
                collector_lost: self.collector_lost,
            },
        }
    }

    /// Pipeline time the panes have reached.
    pub fn now(&self) -> Nanos {
        self.header.view.now
    }

    /// The header's times as shown (the clock, and a replay's position, to
    /// the second, and its state): when this changes, the screen needs a
    /// redraw even if no event arrived (a seek or an idle stretch).
    pub fn shown_time(&self) -> (u64, u64, bool, bool) {
        let (position, paused, ended) = match self.mode {
            Mode::Replay {
                position,
                paused,
                ended,
                ..
            } => (position, paused, ended),
            Mode::Live { .. } => (0, false, false),
        };
        (self.now() / SECONDS, position / SECONDS, paused, ended)
    }

    pub fn flash(&mut self, msg: impl Into<String>) {
        self.flash = Some((msg.into(), Instant::now()));
    }

    /// A recording started (to `path`): the header shows `● REC` again.
    pub fn recording_started(&mut self, path: &std::path::Path) {
        self.rec_failed = false;
        self.flash(format!("recording to {}", path.display()));
    }

    /// A file the run writes failed (`why` names it): said at once in the
    /// flash line and the Events pane, and for a recording in the header.
    pub fn output_failed(&mut self, recording: bool, why: String) {
        let what = format!("{} failed: {why}", if recording { "recording" } else { "cast" });
        self.rec_failed |= recording;
        let now = self.now();
        if let Some(events) = self.events_view() {
            events.log_failure(now, what.clone());
        }
        self.flash(what);
    }

    fn replaying(&self) -> bool {
        matches!(self.mode, Mode::Replay { .. })
    }

    /// Applies a command to the UI state; returns what the loop must do.
    pub fn on_action(&mut self, action: Action) -> Effect {
        let help_key = matches!(
            action,
            Action::Quit | Action::Back | Action::ToggleHelp | Action::Scroll(_)
        );
        if self.help && !help_key {
            return Effect::None;
        }
        if self.replaying() && !BINDINGS.iter().any(|b| b.action == action && b.in_replay) {
            self.flash("not available while replaying a recording");
            return Effect::Redraw;
        }
        match action {
            Action::Quit => Effect::Quit,
            Action::Suspend => Effect::Suspend,
            Action::Back if self.help => {
                self.help = false;
                Effect::Redraw
            }
            Action::Back if self.zoom => {
                self.zoom = false;
                Effect::Redraw
            }
            Action::Back if self.flash.is_some() => {
                self.flash = None;
                Effect::Redraw
            }
            Action::Back => {
                self.flash("q quits (Esc closes help and zoom)");
                Effect::Redraw
            }
            Action::Scroll(to) => self.scroll_by_key(to),
            Action::ToggleHelp => {
                self.help = !self.help;
                Effect::Redraw
            }
            Action::ToggleFreeze => {
                self.set_frozen(!self.frozen);
                Effect::Redraw
            }
            Action::FocusNext => {
                self.focus = (self.focus + 1) % self.panes.len();
                Effect::Redraw
            }
            Action::FocusPrev => {
                self.focus = (self.focus + self.panes.len() - 1) % self.panes.len();
                Effect::Redraw
            }
            Action::ToggleZoom => {
                self.zoom = !self.zoom;
                Effect::Redraw
            }
            Action::CycleWindow => {
                self.window = (self.window + 1) % WINDOWS_S.len();
                Effect::Redraw
            }
            Action::ToggleLogScale => {
                self.log_latency = !self.log_latency;
                Effect::Redraw
            }
            Action::Control(a) => {
                // The step is sent all the same (the pipeline clamps it); the
                // message says why nothing moved.
                if let Some(msg) = a.limit(&self.step_from()) {
                    self.flash(msg);
                }
                Effect::Control(a)
            }
            Action::AddSlowSubscriber => Effect::AddSlowSubscriber,
            Action::RemoveSlowSubscriber => Effect::RemoveSlowSubscriber,
            Action::ToggleRecording => Effect::ToggleRecording,
            Action::Seek(s) => Effect::Seek(s),
        }
    }

    /// The settings a relative step starts from, as the header knows them.
    fn step_from(&self) -> StepFrom {
        let l = &self.header.view.load;
        StepFrom {
            rate: l.rate,
            workers: l.workers,
            service: l.service,
            error_rate: l.error_rate,
        }
    }

    /// A scroll key: the help when open, else the focused pane if it is a
    /// list (else a message saying which panes scroll).
    fn scroll_by_key(&mut self, to: Scroll) -> Effect {
        let focused = self.focused();
        let state = if self.help {
            &self.scroll.help
        } else if focused.scrolls() {
            self.scroll.pane(focused)
        } else {
            self.flash("j/k scroll Subscribers, Workers and Events: Tab or a click focuses one");
            return Effect::Redraw;
        };
        if state.apply(to) { Effect::Redraw } else { Effect::None }
    }

    /// The mouse wheel at (`col`, `row`) of `screen`: scrolls the help when
    /// open, else the list under the pointer.
    pub fn on_wheel(&mut self, screen: Rect, col: u16, row: u16, down: bool) -> Effect {
        let to = Scroll::Rows(if down { WHEEL_ROWS } else { -WHEEL_ROWS });
        let state = if self.help {
            Some(&self.scroll.help)
        } else {
            let at = ratatui::layout::Position { x: col, y: row };
            let areas = self.layout(screen);
            PaneId::ALL
                .iter()
                .zip(areas.panes)
                .find(|(id, a)| id.scrolls() && a.contains(at))
                .map(|(id, _)| self.scroll.pane(*id))
        };
        match state {
            Some(s) if s.apply(to) => Effect::Redraw,
            _ => Effect::None,
        }
    }

    /// Focuses the pane under a mouse click at (`col`, `row`) of `screen`.
    pub fn on_click(&mut self, screen: Rect, col: u16, row: u16) -> Effect {
        let areas = self.layout(screen);
        for (i, a) in areas.panes.iter().enumerate() {
            if a.width > 0 && a.contains(ratatui::layout::Position { x: col, y: row }) {
                self.focus = i;
                return Effect::Redraw;
            }
        }
        Effect::None
    }

    pub fn focused(&self) -> PaneId {
        self.panes[self.focus.min(self.panes.len() - 1)].id()
    }

    /// Where everything goes on a screen of `area`.
    pub fn layout(&self, area: Rect) -> Areas {
        super::layout::areas(area, self.zoom.then_some(self.focus), self.fanout.subscribers.len())
    }

    /// Draws the whole screen.
    pub fn draw(&self, frame: &mut Frame) {
        let area = frame.area();
        if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
            let full = format!(
                "terminal too small: {}x{} (need at least {MIN_WIDTH}x{MIN_HEIGHT})",
                area.width, area.height
            );
            // One line: the short form when the full one does not fit.
            let short = format!(
                "too small: {}x{}, need {MIN_WIDTH}x{MIN_HEIGHT}",
                area.width, area.height
            );
            let fits = |m: &String| m.chars().count() <= area.width as usize;
            let msg = if fits(&full) {
                full
            } else if fits(&short) {
                short
            } else {
                "too small".to_string()
            };
            frame.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
            return;
        }
        let areas = self.layout(area);
        let t = self.theme;
        let state = match &self.mode {
            Mode::Replay {
                position,
                length,
                paused,
                ended,
                ..
            } => RunState::Replay {
                position: *position,
                length: *length,
                paused: *paused,
                ended: *ended,
            },
            Mode::Live { .. } if self.frozen => RunState::Frozen,
            Mode::Live { .. } => RunState::Running,
        };
        let seed = match self.mode {
            Mode::Live { seed } => Some(seed),
            Mode::Replay { seed, .. } => seed,
        };
        let state = if self.frozen && matches!(state, RunState::Replay { .. }) {
            RunState::Frozen
        } else {
            state
        };
        let scene = self.scene();
        let info = HeaderInfo {
            state,
            seed,
            collector_lost: scene.collector_lost,
            rec_failed: self.rec_failed,
        };
        header::render(scene.header, &info, t, frame, areas.header);
        let ctx = Ctx {
            theme: t,
            window_s: WINDOWS_S[self.window],
            fanout: scene.fanout,
            clock_now: scene.clock_now,
            step_labels: &self.step_labels,
            scrolls: &self.scroll,
            log_latency: self.log_latency,
        };
        for (i, pane) in scene.panes.iter().enumerate() {
            let area = areas.panes[i];
            if area.width > 0 && area.height > 0 {
                pane.draw(&ctx, i == self.focus, frame, area);
            }
        }
        // A flash message takes the footer's place while it lasts.
        let footer = match &self.flash {
            Some((msg, _)) => Paragraph::new(Span::styled(format!(" {msg}"), t.warn())),
            None => Paragraph::new(footer_line(areas.footer.width, self.replaying(), t)),
        };
        frame.render_widget(footer, areas.flash);
        if self.help {
            // Between the header and the footer, which stay readable.
            let room = Rect {
                y: area.y + 1,
                height: area.height.saturating_sub(2),
                ..area
            };
            draw_help(frame, room, self.replaying(), &self.scroll.help, t);
        }
    }
}

/// A copy of everything the panes draw, taken when the display freezes.
struct Frozen {
    header: HeaderView,
    /// In [`PaneId::ALL`] order.
    panes: Vec<Box<dyn Drawn>>,
    fanout: Fanout,
    clock_now: Nanos,
    collector_lost: u64,
}

/// Borrowed state for one frame.
struct Scene<'a> {
    header: &'a HeaderView,
    /// In [`PaneId::ALL`] order.
    panes: Vec<&'a dyn Drawn>,
    fanout: &'a Fanout,
    clock_now: Nanos,
    collector_lost: u64,
}

/// Subscribes the five panes, in [`PaneId::ALL`] order.
fn subscribe_panes(b: &Broadcaster<Event>, d: Delivery) -> Vec<Box<dyn Pane>> {
    fn feed<V: PaneView>(b: &Broadcaster<Event>, d: Delivery) -> Box<dyn Pane> {
        Box::new(Feed::new(b, V::ID.name(), d, V::default()))
    }
    let panes = vec![
        feed::<ThroughputView>(b, d),
        feed::<LatencyView>(b, d),
        feed::<SubscribersView>(b, d),
        feed::<WorkersView>(b, d),
        feed::<EventsView>(b, d),
    ];
    debug_assert!(panes.iter().map(|p| p.id()).eq(PaneId::ALL));
    panes
}

#[cfg(test)]
mod tests {
    use super::PaneId;
    use crate::session::scenario::PANES;

    /// A scenario's `focus` step names the panes in the UI's focus order.
    #[test]
    fn scenario_pane_names_follow_the_focus_order() {
        assert_eq!(PANES.len(), PaneId::ALL.len());
        for (name, id) in PANES.iter().zip(PaneId::ALL) {
            assert_eq!(name.to_string(), format!("{id:?}").to_lowercase());
            assert_eq!(*name, id.name());
        }
    }
}
