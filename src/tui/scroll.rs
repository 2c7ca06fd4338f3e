//! Scrolling: the keys' and the wheel's moves ([`Scroll`]) and a list's
//! position ([`ScrollState`]; the app keeps one for each of the Subscribers,
//! Workers and Events panes and the help, see [`super::panes::Scrolls`]).
//!
//! How long a list is and how many of its rows fit are known only where it
//! is drawn, so a render records both in the state as it reads the first row
//! to show ([`ScrollState::window`], clamped there) — as ratatui's own
//! `ListState` does — and a move is taken from what was last drawn. The
//! state is interior (`Cell`s) so that drawing keeps borrowing the app.

use std::cell::Cell;

/// A move through a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scroll {
    /// Down (positive) or up (negative) by this many rows.
    Rows(i32),
    /// Down (positive) or up (negative) by this many pages.
    Pages(i32),
    Top,
    Bottom,
}

/// Rows one turn of the mouse wheel moves.
pub const WHEEL_ROWS: i32 = 3;

/// Where a list is scrolled to, and how it was last drawn.
#[derive(Clone, Debug, Default)]
pub struct ScrollState {
    /// Index of the first row shown.
    top: Cell<usize>,
    /// Rows in the list at the last draw.
    total: Cell<usize>,
    /// Rows that fitted at the last draw.
    page: Cell<usize>,
}

impl ScrollState {
    /// Records a draw of a list of `total` rows of which `page` fit, and
    /// returns the first row to show (the position, clamped so that the
    /// last page is full).
    pub fn window(&self, total: usize, page: usize) -> usize {
        self.total.set(total);
        self.page.set(page);
        let top = self.top.get().min(total.saturating_sub(page));
        self.top.set(top);
        top
    }

    /// Applies a move to the position, within the list as last drawn.
    /// Returns whether the position changed.
    pub fn apply(&self, to: Scroll) -> bool {
        let (top, page) = (self.top.get(), self.page.get().max(1));
        let last = self.total.get().saturating_sub(self.page.get());
        let by = |n: i32, size: usize| {
            let d = (n.unsigned_abs() as usize).saturating_mul(size);
            if n < 0 {
                top.saturating_sub(d)
            } else {
                top.saturating_add(d)
            }
        };
        let new = match to {
            Scroll::Rows(n) => by(n, 1),
            Scroll::Pages(n) => by(n, page),
            Scroll::Top => 0,
            Scroll::Bottom => last,
        }
        .min(last);
        self.top.set(new);
        new != top
    }

    /// The first row shown (as last drawn).
    pub fn top(&self) -> usize {
        self.top.get()
    }

    /// `12-30 of 200` when the list was longer than what fitted, else
    /// nothing.
    pub fn label(&self) -> Option<String> {
        position(self.top.get(), self.page.get(), self.total.get())
    }

    /// The position as a title can show it, longest first (see
    /// [`positions`]).
    pub fn labels(&self) -> Vec<String> {
        positions(self.top.get(), self.page.get(), self.total.get())
    }
}

/// `12-30 of 200` (1-based, inclusive) for rows `top..top + page` of
/// `total`, when not everything fits (and something does).
pub fn position(top: usize, page: usize, total: usize) -> Option<String> {
    if total <= page || page == 0 {
        return None;
    }
    let last = (top + page).min(total);
    Some(format!(
        "{}-{} of {}",
        crate::format::count(top as u64 + 1),
        crate::format::count(last as u64),
        crate::format::count(total as u64)
    ))
}

/// [`position`] and its short form for narrow titles (`12-30/200`); none
/// when everything fits.
pub fn positions(top: usize, page: usize, total: usize) -> Vec<String> {
    position(top, page, total).map_or_else(Vec::new, |p| {
        let short = p.replacen(" of ", "/", 1);
        vec![p, short]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Moves stop at both ends; a page is what fitted; the position is
    /// clamped when the list shrinks or the page grows.
    #[test]
    fn moves_stay_within_the_list_as_drawn() {
        let s = ScrollState::default();
        assert!(!s.apply(Scroll::Rows(1)), "nothing drawn yet: nothing to scroll");
        assert_eq!(s.window(200, 19), 0);
        assert_eq!(s.label().as_deref(), Some("1-19 of 200"));
        assert!(!s.apply(Scroll::Rows(-1)));
        assert!(s.apply(Scroll::Rows(11)));
        assert_eq!(s.window(200, 19), 11);
        assert_eq!(s.label().as_deref(), Some("12-30 of 200"));
        s.apply(Scroll::Pages(1));
        assert_eq!(s.top(), 30);
        s.apply(Scroll::Bottom);
        assert_eq!(s.top(), 181);
        assert!(!s.apply(Scroll::Pages(3)));
        assert_eq!(s.label().as_deref(), Some("182-200 of 200"));
        s.apply(Scroll::Top);
        assert_eq!(s.top(), 0);
        s.apply(Scroll::Bottom);
        assert_eq!(s.window(50, 19), 31, "the list shrank");
        assert_eq!(s.window(50, 60), 0, "everything fits");
        assert_eq!(s.label(), None);
    }
}
