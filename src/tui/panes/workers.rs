//! Workers: the pool's size, who is busy, each worker's completions and
//! health (alive / stalled / crashed), and the pipeline queue's depth.
//!
//! The title counts each state (`1,024: 656 busy, 1 stalled, 2 crashed`).
//! The grid's cells are as wide as the widest id needs, and show less
//! (state word, then completions) rather than get cramped. A pool that fits
//! is listed by id, each worker keeping its place; one that does not lists
//! faulted workers first, then busy, then idle — every faulted one in view
//! at the top — and scrolls (`j`/`k`, PgUp/PgDn, Home/End, the wheel), its
//! position in the title (`1-24 of 1,024`).
//!
//! After its stream lost events the view takes, from the collector's
//! snapshot, the pool size, the queue's capacity and each worker's state
//! and completions — for every worker it has heard nothing newer about.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{Ctx, PaneId, PaneView, block, border_note, fit_title, has_room, right_note, title};
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

/// How many workers are in each state (stopped ones are not counted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Workers shown: present and not stopped.
    pub shown: usize,
    pub busy: usize,
    pub stalled: usize,
    pub crashed: usize,
}

impl WorkersView {
    /// The workers shown (present, not stopped), by id; `by_state`: stalled
    /// and crashed first, then busy, then idle, by id within each.
    pub fn ordered(&self, by_state: bool) -> Vec<(usize, &WorkerCell)> {
        let mut shown: Vec<(usize, &WorkerCell)> = self
            .cells
            .iter()
            .enumerate()
            .filter(|(_, c)| c.present && c.health != Health::Stopped)
            .collect();
        let rank = |c: &WorkerCell| match c.health {
            Health::Stalled => 0,
            Health::Crashed => 1,
            Health::Alive if c.busy => 2,
            _ => 3,
        };
        if by_state {
            shown.sort_by_key(|&(id, c)| (rank(c), id));
        }
        shown
    }

    pub fn tally(&self) -> Tally {
        let mut t = Tally::default();
        for c in self.cells.iter().filter(|c| c.present && c.health != Health::Stopped) {
            t.shown += 1;
            match c.health {
                Health::Stalled => t.stalled += 1,
                Health::Crashed => t.crashed += 1,
                Health::Alive if c.busy => t.busy += 1,
                _ => {}
            }
        }
        t
    }
}

/// How much a worker's cell shows, widest first: the first that fits every
/// worker is used; when none does, [`Cells::Compact`] (or [`Cells::Bare`]
/// where two compact ones do not fit side by side) and the list scrolls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cells {
    /// `w12  ● busy        12.3k` (id, symbol, state, completions).
    Full,
    /// `w12  ● 12.3k`: the symbol alone tells the state.
    Compact,
    /// `w12  ●`.
    Bare,
}

impl Cells {
    /// Columns of one cell whose id column is `id_w` wide (a gap included).
    fn width(self, id_w: usize) -> usize {
        match self {
            Cells::Full => id_w + 2 + 11 + 6 + 2,
            Cells::Compact => id_w + 2 + 5 + 2,
            Cells::Bare => id_w + 1 + 2,
        }
    }
}

pub fn render(view: &WorkersView, ctx: &Ctx, pane: super::Frame, frame: &mut Frame, area: Rect) {
    let t = ctx.theme;
    let scroll = ctx.scrolls.pane(PaneId::Workers);
    let mut shown = view.ordered(false);
    let n = view.tally();
    // An id column as wide as the widest id, and a space after it.
    let id_w = shown
        .iter()
        .map(|(id, _)| id.to_string().len() + 2)
        .max()
        .unwrap_or(0)
        .max(4);
    let rows = area.height.saturating_sub(2) as usize;
    let inner_w = area.width.saturating_sub(2) as usize;
    let fits = |c: Cells| (inner_w / c.width(id_w)).max(1) * rows >= shown.len();
    let cells = [Cells::Full, Cells::Compact, Cells::Bare]
        .into_iter()
        .find(|&c| fits(c))
        .unwrap_or(if inner_w >= 2 * Cells::Compact.width(id_w) {
            Cells::Compact
        } else {
            Cells::Bare
        });
    let cols = (inner_w / cells.width(id_w)).max(1);
    if cols * rows < shown.len() {
        // It scrolls: the faulted first, so they are in view from the top.
        shown = view.ordered(true);
    }
    // The columns share the width: spare columns go between cells.
    let cell_w = (inner_w / cols).max(cells.width(id_w));
    let top = scroll.window(shown.len().div_ceil(cols), rows);
    let positions = crate::tui::scroll::positions(top * cols, rows * cols, shown.len());

    // The pool's target, and how many are up when that differs (a pool
    // being resized, crashed workers without auto-restart).
    let pool = if n.shown == view.pool as usize {
        format::count(view.pool as u64)
    } else {
        format!(
            "{} of {}",
            format::count(n.shown as u64),
            format::count(view.pool as u64)
        )
    };
    let mut faults = String::new();
    let mut short_faults = String::new();
    for (k, word, sym) in [(n.stalled, "stalled", "◌"), (n.crashed, "crashed", "✖")] {
        if k > 0 {
            faults.push_str(&format!(", {} {word}", format::count(k as u64)));
            short_faults.push_str(&format!(" {k}{sym}"));
        }
    }
    let busy = format::count(n.busy as u64);
    let queue = format!(
        "queue {}/{}",
        format::count(view.queue_depth as u64),
        format::count(view.queue_capacity as u64)
    );
    let (detail, note) = fit_title(
        "Workers",
        vec![
            format!("{pool}: {busy} busy{faults}"),
            format!("{pool}: {busy}●{short_faults}"),
            pool.clone(),
        ],
        positions,
        area.width,
        pane.focused,
    );
    let mut block = block(title("Workers", detail, t), t, pane);
    if let Some(p) = &note {
        block = block.title(right_note(p, t));
    }
    // The queue at the bottom right, where it fits beside the border's note.
    let beside = border_note(pane).map_or(0, |n| n.chars().count() + 1);
    if beside + queue.chars().count() + 4 <= area.width as usize {
        block = block.title_bottom(right_note(&queue, t));
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if !has_room(area) {
        return;
    }
    let cell = |(id, c): &(usize, &WorkerCell)| -> Vec<Span> {
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
        let mut spans = vec![
            Span::styled(format!("{id:<id_w$}"), t.label()),
            Span::styled(sym, style),
        ];
        let pad = cell_w - cells.width(id_w);
        spans.push(match cells {
            Cells::Full => Span::styled(format!(" {state:<11}{count:>6}"), style),
            Cells::Compact => Span::styled(format!(" {count:>5}"), style),
            Cells::Bare => Span::raw(""),
        });
        spans.push(Span::raw(" ".repeat(pad + 2)));
        spans
    };
    let mut lines: Vec<Line> = shown
        .chunks(cols)
        .skip(top)
        .take(rows)
        .map(|row| Line::from(row.iter().flat_map(cell).collect::<Vec<_>>()))
        .collect();
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
        let tally = v.tally();
        assert_eq!((tally.shown, tally.busy, tally.stalled, tally.crashed), (2, 0, 1, 1));
    }
}
