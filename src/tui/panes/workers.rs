//! Workers: the pool's size, who is busy, each worker's completions and
//! health (alive / stalled / crashed), and the pipeline queue's depth.
//!
//! After its stream lost events the view takes, from the collector's
//! snapshot, the pool size, the queue's capacity and each worker's state
//! and completions — for every worker it has heard nothing newer about.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{Ctx, PaneId, PaneView, block, has_room, title};
use crate::collector::{Snapshot, WorkerState};
use crate::event::{Event, EventKind, LoadChange, Nanos};
use crate::format;
use crate::tui::feed::View;

/// Workers tracked (the pool's limit).
pub const MAX_TRACKED: usize = crate::pipeline::control::MAX_WORKERS as usize;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Health {
    #[default]
    Alive,
    Stalled,
    Crashed,
    Stopped,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkerCell {
    pub present: bool,
    pub busy: bool,
    pub health: Health,
    /// Completed requests (ok or failed).
    pub completed: u64,
    /// When the current health began.
    pub since: Nanos,
    /// Pipeline time of the newest event about this worker.
    pub seen_at: Nanos,
}

#[derive(Clone, Debug, Default)]
pub struct WorkersView {
    pub cells: Vec<WorkerCell>,
    pub pool: u16,
    pub queue_depth: u32,
    pub queue_capacity: u32,
    pub now: Nanos,
    /// Pipeline time of the newest queue sample applied.
    depth_at: Nanos,
    /// Pipeline time of the newest pool-size or queue announcement applied.
    settings_at: Nanos,
}

impl WorkersView {
    fn cell(&mut self, w: u16) -> Option<&mut WorkerCell> {
        let i = w as usize;
        if i >= MAX_TRACKED {
            return None;
        }
        if self.cells.len() <= i {
            self.cells.resize(i + 1, WorkerCell::default());
        }
        Some(&mut self.cells[i])
    }

    fn set_health(&mut self, w: u16, t: Nanos, health: Health) {
        if let Some(c) = self.cell(w) {
            c.present = true;
            c.health = health;
            c.since = t;
        }
    }

    /// Workers present and not stopped: (live, busy).
    pub fn counts(&self) -> (usize, usize) {
        let live = self
            .cells
            .iter()
            .filter(|c| c.present && matches!(c.health, Health::Alive | Health::Stalled));
        // A stalled worker holding a request is stalled, not busy.
        let busy = live.clone().filter(|c| c.busy && c.health == Health::Alive).count();
        (live.count(), busy)
    }
}

impl View for WorkersView {
    fn apply(&mut self, ev: &Event) {
        self.now = self.now.max(ev.t);
        if let Some(w) = worker_of(&ev.kind)
            && let Some(c) = self.cell(w)
        {
            c.seen_at = ev.t;
        }
        match ev.kind {
            EventKind::WorkerSpawned { worker } => {
                self.set_health(worker, ev.t, Health::Alive);
                if let Some(c) = self.cell(worker) {
                    c.busy = false;
                }
            }
            EventKind::WorkerStopped { worker } => {
                self.set_health(worker, ev.t, Health::Stopped);
                if let Some(c) = self.cell(worker) {
                    c.busy = false;
                }
            }
            EventKind::WorkerStalled { worker } => self.set_health(worker, ev.t, Health::Stalled),
            EventKind::WorkerRecovered { worker } => self.set_health(worker, ev.t, Health::Alive),
            EventKind::WorkerCrashed { worker, .. } => {
                self.set_health(worker, ev.t, Health::Crashed);
                if let Some(c) = self.cell(worker) {
                    c.busy = false;
                }
            }
            EventKind::RequestStarted { worker, .. } => {
                if let Some(c) = self.cell(worker) {
                    c.present = true;
                    c.busy = true;
                }
            }
            EventKind::RequestCompleted { worker, .. } => {
                if let Some(c) = self.cell(worker) {
                    c.completed += 1;
                    c.busy = false;
                }
            }
            EventKind::QueueDepth { depth, capacity, .. } => {
                self.queue_depth = depth;
                self.queue_capacity = capacity;
                self.depth_at = ev.t;
            }
            EventKind::LoadChanged {
                change: LoadChange::Workers { count },
            } => {
                self.pool = count;
                self.settings_at = ev.t;
            }
            EventKind::LoadChanged {
                change: LoadChange::QueueCapacity { capacity },
            } => {
                self.queue_capacity = capacity;
                self.settings_at = ev.t;
            }
            _ => {}
        }
    }

    fn resync(&mut self, snapshot: &Snapshot) {
        if snapshot.at >= self.settings_at {
            self.pool = snapshot.load.workers;
            self.queue_capacity = snapshot.queue_capacity;
        }
        if snapshot.at >= self.depth_at {
            self.queue_depth = snapshot.queue_depth;
        }
        self.now = self.now.max(snapshot.at);
        for w in &snapshot.workers {
            let Some(c) = self.cell(w.id) else { continue };
            // Completions only grow: never count fewer than this view saw.
            c.completed = c.completed.max(w.completed + w.failed);
            if snapshot.at < c.seen_at {
                continue; // this view heard of it since: that is newer
            }
            let health = match w.state {
                WorkerState::Idle | WorkerState::Busy => Health::Alive,
                WorkerState::Stalled => Health::Stalled,
                WorkerState::Crashed => Health::Crashed,
                WorkerState::Stopped => Health::Stopped,
            };
            *c = WorkerCell {
                present: true,
                busy: w.state == WorkerState::Busy,
                health,
                completed: c.completed,
                since: w.since,
                seen_at: snapshot.at,
            };
        }
    }
}

/// The worker an event is about, if any.
fn worker_of(kind: &EventKind) -> Option<u16> {
    match *kind {
        EventKind::WorkerSpawned { worker }
        | EventKind::WorkerStopped { worker }
        | EventKind::WorkerStalled { worker }
        | EventKind::WorkerRecovered { worker }
        | EventKind::WorkerCrashed { worker, .. }
        | EventKind::RequestStarted { worker, .. }
        | EventKind::RequestCompleted { worker, .. } => Some(worker),
        _ => None,
    }
}

impl PaneView for WorkersView {
    const ID: PaneId = PaneId::Workers;
    fn render(&self, ctx: &Ctx, pane: super::Frame, frame: &mut Frame, area: Rect) {
        render(self, ctx, pane, frame, area);
    }
}

/// Width of one worker cell: `w12  ● busy        12.3k  ` (id, symbol, state, count).
const CELL_W: usize = 27;
/// Width of a compact cell: `w12 ● 12.3k `.
const COMPACT_W: usize = 12;

pub fn render(view: &WorkersView, ctx: &Ctx, pane: super::Frame, frame: &mut Frame, area: Rect) {
    let t = ctx.theme;
    let (live, busy) = view.counts();
    // The pool's target, and how many are actually up when that differs
    // (crashed workers without auto-restart).
    let pool = if live == view.pool as usize {
        view.pool.to_string()
    } else {
        format!("{live} of {}", view.pool)
    };
    let detail = format!(
        "{pool} ({busy} busy)  queue {}/{}",
        format::count(view.queue_depth as u64),
        format::count(view.queue_capacity as u64)
    );
    let block = block(title("Workers", detail, t), t, pane);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if !has_room(area) {
        return;
    }
    let shown: Vec<(usize, &WorkerCell)> = view
        .cells
        .iter()
        .enumerate()
        .filter(|(_, c)| c.present && c.health != Health::Stopped)
        .collect();
    let rows = inner.height as usize;
    // Full cells (`w3 ● busy 1.2k`) when they all fit, else compact ones
    // (`w3 ● 1.2k`, the symbol alone telling the state).
    let full_cols = (inner.width as usize / CELL_W).max(1);
    let compact = shown.len() > full_cols * rows;
    let cell_w = if compact { COMPACT_W } else { CELL_W };
    let cols = (inner.width as usize / cell_w).max(1);
    let capacity = cols * rows;
    let overflow = shown.len() > capacity;
    let take = if overflow {
        capacity.saturating_sub(1)
    } else {
        shown.len()
    };
    let mut cells: Vec<Vec<Span>> = shown[..take]
        .iter()
        .map(|(id, c)| {
            let (sym, state, style) = match c.health {
                Health::Crashed => ("✖", "CRASHED".to_string(), t.bad()),
                Health::Stalled => (
                    "◌",
                    format!("STALLED {}", format::duration_s(view.now.saturating_sub(c.since))),
                    t.warn(),
                ),
                Health::Stopped => (" ", "stopped".to_string(), t.dim()),
                Health::Alive if c.busy => ("●", "busy".to_string(), t.ok()),
                Health::Alive => ("○", "idle".to_string(), t.dim()),
            };
            let count = format::compact(c.completed as f64);
            let id = format!("w{id}");
            if compact {
                vec![
                    Span::styled(format!("{id:<4}"), t.label()),
                    Span::styled(format!("{sym} "), style),
                    Span::styled(format!("{count:>5} "), style),
                ]
            } else {
                vec![
                    Span::styled(format!("{id:<5}"), t.label()),
                    Span::styled(format!("{sym} "), style),
                    Span::styled(format!("{state:<11}{count:>6}  "), style),
                ]
            }
        })
        .collect();
    if overflow {
        cells.push(vec![Span::styled(format!("… {} more", shown.len() - take), t.dim())]);
    }
    let mut lines: Vec<Line> = cells.chunks(cols).map(|row| Line::from(row.concat())).collect();
    if shown.is_empty() {
        lines.push(Line::from(Span::styled("no workers running", t.dim())));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::{LoadSettings, WorkerStats};
    use crate::event::SECONDS;

    /// A resync takes the pool, the queue's capacity and each worker's state
    /// from the snapshot, except for a worker the view heard of after the
    /// snapshot was taken.
    #[test]
    fn resync_keeps_what_the_view_heard_after_the_snapshot() {
        let mut v = WorkersView::default();
        let crash = EventKind::WorkerCrashed {
            worker: 1,
            lost_request: None,
        };
        v.apply(&Event::new(5 * SECONDS, crash));
        let snapshot = Snapshot {
            at: 4 * SECONDS,
            events: 1,
            load: LoadSettings {
                workers: 2,
                ..LoadSettings::default()
            },
            workers: vec![
                WorkerStats {
                    id: 0,
                    completed: 7,
                    failed: 1,
                    state: WorkerState::Stalled,
                    since: 3 * SECONDS,
                },
                WorkerStats {
                    id: 1,
                    state: WorkerState::Busy,
                    ..WorkerStats::default()
                },
            ],
            queue_capacity: 100,
            ..Snapshot::default()
        };
        v.resync(&snapshot);
        let w0 = v.cells[0];
        assert_eq!(
            (w0.present, w0.health, w0.completed, w0.since),
            (true, Health::Stalled, 8, 3 * SECONDS)
        );
        assert_eq!(v.cells[1].health, Health::Crashed);
        assert_eq!((v.pool, v.queue_capacity), (2, 100));
        assert_eq!(v.counts(), (1, 0));
    }
}
