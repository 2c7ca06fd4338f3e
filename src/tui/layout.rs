//! Where everything goes on the screen: the header line, the five panes (or
//! the focused one, zoomed), and the footer, where a flash message shows in
//! place of the key hints while it lasts — so a message never moves the
//! panes. Pure: it only computes rectangles, so clicks and drawing agree.

use ratatui::layout::{Constraint, Layout, Rect};

use super::panes::PaneId;

/// Below this size the screen shows one line asking for more room.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;

/// The screen's regions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Areas {
    pub header: Rect,
    /// Where a flash message shows: the footer's line.
    pub flash: Rect,
    pub footer: Rect,
    /// Indexed like [`PaneId::ALL`]; zero-sized when hidden by zoom.
    pub panes: [Rect; 5],
}

/// The regions of a screen of `area`: the pane `zoomed` alone or all five,
/// and `subscribers` rows wanted by the Subscribers pane.
pub fn areas(area: Rect, zoomed: Option<usize>, subscribers: usize) -> Areas {
    let [header, body, footer] =
        Layout::vertical([Constraint::Length(1), Constraint::Fill(1), Constraint::Length(1)]).areas(area);
    let mut panes = [Rect::default(); PaneId::ALL.len()];
    if let Some(focus) = zoomed {
        if let Some(p) = panes.get_mut(focus) {
            *p = body;
        }
    } else {
        // The Subscribers pane gets a row per subscriber (up to 11) but
        // at most 40% of the height; the charts get 40%.
        let subs_rows = (subscribers.min(u16::MAX as usize) as u16)
            .saturating_add(3)
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
        flash: footer,
        footer,
        panes,
    }
}
