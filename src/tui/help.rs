//! The keys, shown twice from one table ([`super::keys::BINDINGS`]): the
//! footer's hints that fit the width, and the help overlay (`?`): one
//! column, a binding a line, that scrolls when it is longer than the screen
//! and wraps a description rather than cut it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::keys::{self, BINDINGS};
use super::scroll::ScrollState;
use super::theme::Theme;

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

/// Columns the keys take in the help, before their description.
const KEY_W: usize = 13;

/// The help's lines for the mode: one binding a line, its description
/// word-wrapped under itself (never cut) when it is wider than `width`.
pub fn help_lines(width: usize, replay: bool, t: Theme) -> Vec<Line<'static>> {
    let room = width.saturating_sub(KEY_W).max(1);
    let mut lines = Vec::new();
    for b in BINDINGS.iter().filter(|b| !replay || b.in_replay) {
        for (i, part) in wrap(b.help, room).into_iter().enumerate() {
            let key = if i == 0 { b.label } else { "" };
            lines.push(Line::from(vec![
                Span::styled(format!("{key:>w$}  ", w = KEY_W - 2), t.key()),
                Span::raw(part),
            ]));
        }
    }
    lines
}

/// `text` in lines of at most `width` characters, broken between words (a
/// word longer than a line is broken inside).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let mut word: Vec<char> = word.chars().collect();
        let used = line.chars().count();
        if used > 0 && used + 1 + word.len() <= width {
            line.push(' ');
            line.extend(&word);
            continue;
        }
        if used > 0 {
            out.push(std::mem::take(&mut line));
        }
        while word.len() > width {
            out.push(word.drain(..width).collect());
        }
        line = word.into_iter().collect();
    }
    out.push(line);
    out
}

/// The help overlay: one column of keys and what they do, centred in
/// `area`, scrolled to `scroll` when it is longer than the room.
pub fn draw_help(frame: &mut Frame, area: Rect, replay: bool, scroll: &ScrollState, t: Theme) {
    let inner_w = (area.width as usize).saturating_sub(2);
    let longest = BINDINGS
        .iter()
        .filter(|b| !replay || b.in_replay)
        .map(|b| KEY_W + b.help.chars().count())
        .max()
        .unwrap_or(0);
    let lines = help_lines(inner_w, replay, t);
    let w = ((longest + 1).min(inner_w) as u16 + 2).min(area.width);
    let h = (lines.len() as u16).saturating_add(2).min(area.height);
    let page = h.saturating_sub(2) as usize;
    let top = scroll.window(lines.len(), page);
    let popup = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    let mut block = Block::bordered()
        .title(Span::styled(" Keys (? or Esc closes) ", t.title()))
        .border_style(t.border(true));
    if let Some(at) = scroll.label() {
        block = block
            .title(Line::from(Span::styled(format!(" {at} "), t.label())).right_aligned())
            .title_bottom(Line::from(Span::styled(" j/k PgDn PgUp scroll ", t.label())).right_aligned());
    }
    let shown: Vec<Line> = lines.into_iter().skip(top).take(page).collect();
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(shown).block(block), popup);
}
