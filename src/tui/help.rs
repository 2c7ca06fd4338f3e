//! The keys, shown twice from one table ([`super::keys::BINDINGS`]): the
//! footer's hints that fit the width, and the help overlay (`?`).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::keys::{self, BINDINGS};
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

pub fn draw_help(frame: &mut Frame, area: Rect, replay: bool, t: Theme) {
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
