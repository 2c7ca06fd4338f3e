//! The monitor's state: the panes (each its own [`Feed`]), focus, zoom,
//! freeze, help and the chart window. It turns key [`Command`]s into UI
//! changes and [`Effect`]s for the loop to carry out, and draws the whole
//! screen from borrowed state.

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::feed::Feed;
use super::keys::{self, BINDINGS, Command};
use super::panes::events::EventsView;
use super::panes::header::{self, HeaderInfo, HeaderView, RunState};
use super::panes::latency::LatencyView;
use super::panes::subscribers::SubscribersView;
use super::panes::throughput::ThroughputView;
use super::panes::workers::WorkersView;
use super::panes::{self, Ctx, Fanout, WINDOWS_S};
use super::theme::Theme;
use crate::broadcast::{Broadcaster, Delivery, PublisherStats};
use crate::event::Event;
use crate::event::Nanos;
use crate::sim::Action;

/// Below this size the screen shows one line asking for more room.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;

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
}

/// What the loop must do after a command.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Effect {
    None,
    /// Redraw (UI state changed).
    Redraw,
    Quit,
    Control(Action),
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
    /// A one-line message under the header (refused actions, notices).
    pub flash: Option<(String, Instant)>,
    broadcaster: Broadcaster<Event>,
    header: Feed<HeaderView>,
    throughput: Feed<ThroughputView>,
    latency: Feed<LatencyView>,
    subscribers: Feed<SubscribersView>,
    workers: Feed<WorkersView>,
    events: Feed<EventsView>,
    fanout: Fanout,
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
    /// Subscribes every pane. Call before the pipeline starts publishing so
    /// the panes see the stream from its first event.
    pub fn new(broadcaster: &Broadcaster<Event>, theme: Theme, mode: Mode) -> App {
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
            flash: None,
            broadcaster: broadcaster.clone(),
            header: Feed::new(broadcaster, "header", d, HeaderView::default()),
            throughput: Feed::new(broadcaster, "throughput", d, ThroughputView::default()),
            latency: Feed::new(broadcaster, "latency", d, LatencyView::default()),
            subscribers: Feed::new(broadcaster, "subscribers", d, SubscribersView::default()),
            workers: Feed::new(broadcaster, "workers", d, WorkersView::default()),
            events: Feed::new(broadcaster, "events", d, EventsView::default()),
            fanout: Fanout::default(),
            frozen_scene: None,
            resubscribed: false,
            fanout_sample: None,
            ended: false,
        }
    }

    /// Scenario step labels for the Events pane.
    pub fn set_step_labels(&mut self, labels: Vec<String>) {
        self.events.view.step_labels = labels;
    }

    /// Drains every pane's subscription and re-reads the fan-out counters.
    /// Returns whether anything changed on screen.
    pub fn pump(&mut self) -> bool {
        let mut n = 0;
        let mut closed = true;
        macro_rules! pump {
            ($($f:ident),*) => {$(
                let evictions = self.$f.evictions;
                let (k, c) = self.$f.pump();
                n += k;
                closed &= c;
                self.resubscribed |= self.$f.evictions != evictions;
            )*};
        }
        pump!(header, throughput, latency, subscribers, workers, events);
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
        self.fanout.subscribers = self.broadcaster.stats();
    }

    /// Notable events since the last call (scenario steps, faults, ...).
    pub fn take_notables(&mut self) -> Vec<(Nanos, panes::events::Notable)> {
        self.events.view.take_fresh()
    }

    /// How a notable event reads (for cast markers).
    pub fn describe(&self, n: &panes::events::Notable) -> String {
        panes::events::describe(n, &self.fanout, &self.events.view.step_labels, self.theme).0
    }

    /// Re-subscribes every pane with fresh state (a replay seeking back).
    pub fn reset_panes(&mut self) {
        let b = self.broadcaster.clone();
        let d = Delivery::Wait;
        let labels = std::mem::take(&mut self.events.view.step_labels);
        self.header = Feed::new(&b, "header", d, HeaderView::default());
        self.throughput = Feed::new(&b, "throughput", d, ThroughputView::default());
        self.latency = Feed::new(&b, "latency", d, LatencyView::default());
        self.subscribers = Feed::new(&b, "subscribers", d, SubscribersView::default());
        self.workers = Feed::new(&b, "workers", d, WorkersView::default());
        self.events = Feed::new(&b, "events", d, EventsView::default());
        self.events.view.step_labels = labels;
    }

    /// Freezes (or unfreezes) the display: while frozen it shows what it
    /// showed at that moment; unfreezing shows the views, which kept up.
    pub fn set_frozen(&mut self, on: bool) {
        self.frozen = on;
        self.frozen_scene = on.then(|| {
            Box::new(Frozen {
                header: self.header.view.clone(),
                throughput: self.throughput.view.clone(),
                latency: self.latency.view.clone(),
                subscribers: self.subscribers.view.clone(),
                workers: self.workers.view.clone(),
                events: self.events.view.clone(),
                fanout: self.fanout.clone(),
                clock_now: self.broadcaster.clock().now(),
                notes: self.notes(),
            })
        });
    }

    /// Whether a pane resubscribed after an eviction since the last call
    /// (its view then needs the current settings announced again).
    pub fn take_resubscribed(&mut self) -> bool {
        std::mem::take(&mut self.resubscribed)
    }

    /// Each pane's (evictions, events lost), in [`PaneId::ALL`] order.
    fn notes(&self) -> [(u32, u64); 5] {
        [
            (self.throughput.evictions, self.throughput.lost),
            (self.latency.evictions, self.latency.lost),
            (self.subscribers.evictions, self.subscribers.lost),
            (self.workers.evictions, self.workers.lost),
            (self.events.evictions, self.events.lost),
        ]
    }

    /// What to draw: the frozen copy, or the live views.
    fn scene(&self) -> Scene<'_> {
        match &self.frozen_scene {
            Some(f) => Scene {
                header: &f.header,
                throughput: &f.throughput,
                latency: &f.latency,
                subscribers: &f.subscribers,
                workers: &f.workers,
                events: &f.events,
                fanout: &f.fanout,
                clock_now: f.clock_now,
                notes: f.notes,
            },
            None => Scene {
                header: &self.header.view,
                throughput: &self.throughput.view,
                latency: &self.latency.view,
                subscribers: &self.subscribers.view,
                workers: &self.workers.view,
                events: &self.events.view,
                fanout: &self.fanout,
                clock_now: self.broadcaster.clock().now(),
                notes: self.notes(),
            },
        }
    }

    /// Pipeline time the panes have reached.
    pub fn now(&self) -> Nanos {
        self.header.view.now
    }

    pub fn flash(&mut self, msg: impl Into<String>) {
        self.flash = Some((msg.into(), Instant::now()));
    }

    fn replaying(&self) -> bool {
        matches!(self.mode, Mode::Replay { .. })
    }

    /// Applies a command to the UI state; returns what the loop must do.
    pub fn on_command(&mut self, cmd: Command) -> Effect {
        if self.replaying() && !BINDINGS.iter().any(|b| b.command == cmd && b.in_replay) {
            self.flash("not available while replaying a recording");
            return Effect::Redraw;
        }
        match cmd {
            Command::Quit => Effect::Quit,
            Command::Back if self.help => {
                self.help = false;
                Effect::Redraw
            }
            Command::Back if self.zoom => {
                self.zoom = false;
                Effect::Redraw
            }
            Command::Back => Effect::Quit,
            Command::ToggleHelp => {
                self.help = !self.help;
                Effect::Redraw
            }
            Command::ToggleFreeze => {
                self.set_frozen(!self.frozen);
                Effect::Redraw
            }
            Command::FocusNext => {
                self.focus = (self.focus + 1) % PaneId::ALL.len();
                Effect::Redraw
            }
            Command::FocusPrev => {
                self.focus = (self.focus + PaneId::ALL.len() - 1) % PaneId::ALL.len();
                Effect::Redraw
            }
            Command::ToggleZoom => {
                self.zoom = !self.zoom;
                Effect::Redraw
            }
            Command::CycleWindow => {
                self.window = (self.window + 1) % WINDOWS_S.len();
                Effect::Redraw
            }
            Command::Act(a) => Effect::Control(a),
            Command::AddSlowSubscriber => Effect::AddSlowSubscriber,
            Command::RemoveSlowSubscriber => Effect::RemoveSlowSubscriber,
            Command::ToggleRecording => Effect::ToggleRecording,
            Command::Seek(s) => Effect::Seek(s),
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
        PaneId::ALL[self.focus]
    }

    /// Where everything goes on a screen of `area`.
    pub fn layout(&self, area: Rect) -> Areas {
        let [header, flash, body, footer] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(u16::from(self.flash.is_some())),
            Constraint::Fill(1),
            Constraint::Length(1),
        ])
        .areas(area);
        let mut panes = [Rect::default(); 5];
        if self.zoom {
            panes[self.focus] = body;
        } else {
            // The Subscribers pane gets a row per subscriber (up to 11) but
            // at most 40% of the height; the charts get 40%.
            let subs_rows = (self.fanout.subscribers.len() as u16 + 3)
                .clamp(5, 14)
                .min(body.height * 2 / 5);
            let [top, subs, bottom] = Layout::vertical([
                Constraint::Percentage(40),
                Constraint::Length(subs_rows),
                Constraint::Fill(1),
            ])
            .areas(body);
            let [tp, lat] = Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(top);
            let [wk, ev] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(bottom);
            panes = [tp, lat, subs, wk, ev];
        }
        Areas {
            header,
            flash,
            footer,
            panes,
        }
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
                ..
            } => RunState::Replay {
                position: *position,
                length: *length,
                paused: *paused,
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
        header::render(scene.header, &HeaderInfo { state, seed }, t, frame, areas.header);
        if let Some((msg, _)) = &self.flash {
            frame.render_widget(Paragraph::new(Span::styled(format!(" {msg}"), t.warn())), areas.flash);
        }
        let ctx = Ctx {
            theme: t,
            window_s: WINDOWS_S[self.window],
            fanout: scene.fanout,
        };
        for (i, id) in PaneId::ALL.iter().enumerate() {
            let area = areas.panes[i];
            if area.width == 0 || area.height == 0 {
                continue;
            }
            let pane = panes::Frame {
                focused: i == self.focus,
                evictions: scene.notes[i].0,
                lost: scene.notes[i].1,
            };
            match id {
                PaneId::Throughput => panes::throughput::render(scene.throughput, &ctx, pane, frame, area),
                PaneId::Latency => panes::latency::render(scene.latency, &ctx, pane, frame, area),
                PaneId::Subscribers => {
                    panes::subscribers::render(scene.subscribers, &ctx, scene.clock_now, pane, frame, area)
                }
                PaneId::Workers => panes::workers::render(scene.workers, &ctx, pane, frame, area),
                PaneId::Events => panes::events::render(scene.events, &ctx, pane, frame, area),
            }
        }
        frame.render_widget(
            Paragraph::new(footer_line(areas.footer.width, self.replaying(), t)),
            areas.footer,
        );
        if self.help {
            // Between the header and the footer, which stay readable.
            let room = Rect {
                y: area.y + 1,
                height: area.height.saturating_sub(2),
                ..area
            };
            draw_help(frame, room, self.replaying(), t);
        }
    }
}

/// A copy of everything the panes draw, taken when the display freezes.
struct Frozen {
    header: HeaderView,
    throughput: ThroughputView,
    latency: LatencyView,
    subscribers: SubscribersView,
    workers: WorkersView,
    events: EventsView,
    fanout: Fanout,
    clock_now: Nanos,
    notes: [(u32, u64); 5],
}

/// Borrowed views for one frame.
struct Scene<'a> {
    header: &'a HeaderView,
    throughput: &'a ThroughputView,
    latency: &'a LatencyView,
    subscribers: &'a SubscribersView,
    workers: &'a WorkersView,
    events: &'a EventsView,
    fanout: &'a Fanout,
    clock_now: Nanos,
    notes: [(u32, u64); 5],
}

/// The screen's regions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Areas {
    pub header: Rect,
    pub flash: Rect,
    pub footer: Rect,
    /// Indexed like [`PaneId::ALL`]; zero-sized when hidden by zoom.
    pub panes: [Rect; 5],
}

/// Key hints that fit `width`: `q quit` first, `? help` always kept.
pub fn footer_line(width: u16, replay: bool, t: Theme) -> Line<'static> {
    let hints: Vec<(&str, &str)> = keys::hints(replay).collect();
    let help = hints.iter().find(|h| h.1 == "help").copied();
    let cost = |(k, h): &(&str, &str)| k.chars().count() + h.chars().count() + 4;
    let budget = (width as usize).saturating_sub(help.as_ref().map_or(0, cost) + 1);
    let mut used = 0;
    let mut spans = vec![Span::raw(" ")];
    for h in hints.iter().filter(|h| h.1 != "help") {
        if used + cost(h) > budget {
            break;
        }
        used += cost(h);
        spans.push(Span::styled(h.0.to_string(), t.key()));
        spans.push(Span::styled(format!(" {}   ", h.1), t.label()));
    }
    if let Some((k, h)) = help {
        spans.push(Span::styled(k.to_string(), t.key()));
        spans.push(Span::styled(format!(" {h}"), t.label()));
    }
    Line::from(spans)
}

fn draw_help(frame: &mut Frame, area: Rect, replay: bool, t: Theme) {
    let entries: Vec<&keys::Binding> = BINDINGS.iter().filter(|b| !replay || b.in_replay).collect();
    // As many columns as the height needs.
    let fit = area.height.saturating_sub(2).max(1) as usize;
    let cols = entries.len().div_ceil(fit).max(1);
    let per_col = entries.len().div_ceil(cols);
    let longest = entries.iter().map(|b| 13 + b.help.chars().count()).max().unwrap_or(0);
    let col_w = (longest + 2).min((area.width as usize).saturating_sub(2) / cols);
    let lines: Vec<Line> = (0..per_col)
        .map(|r| {
            let mut spans = Vec::new();
            for c in 0..cols {
                if let Some(b) = entries.get(c * per_col + r) {
                    let text: String = format!("{:>11}  {}", b.label, b.help)
                        .chars()
                        .take(col_w.saturating_sub(1))
                        .collect();
                    let key_len = 13.min(text.chars().count());
                    let (k, h): (String, String) = (
                        text.chars().take(key_len).collect(),
                        text.chars().skip(key_len).collect(),
                    );
                    let pad = col_w.saturating_sub(text.chars().count());
                    spans.push(Span::styled(k, t.key()));
                    spans.push(Span::raw(h));
                    spans.push(Span::raw(" ".repeat(pad)));
                }
            }
            Line::from(spans)
        })
        .collect();
    let h = (per_col as u16 + 2).min(area.height);
    let w = ((col_w * cols) as u16 + 2).min(area.width);
    let popup = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .title(Span::styled(" Keys (? or Esc to close) ", t.title()))
                .border_style(t.border(true)),
        ),
        popup,
    );
}
