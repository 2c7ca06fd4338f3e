//! Screenshots (`--screenshot FILE.svg`): a frame of the monitor as a
//! standalone SVG — a monospace grid with each cell's colours and
//! attributes (bold, italic, underline, crossed out, reversed, dim,
//! hidden), no external fonts, stylesheets or scripts.
//!
//! Every glyph is placed at its own column (`x` lists one position per
//! character), so the grid holds whatever font the viewer substitutes.
//! Colours are resolved to RGB as xterm draws them ([`super::theme::rgb`]);
//! the terminal's default colours are the theme's ([`Theme::canvas`]), so a
//! light-theme screenshot has a white background. Text is XML-escaped, and
//! characters XML cannot hold become U+FFFD.
//!
//! [`Screenshot`] owns the output file: opened when the run starts as every
//! output is ([`crate::session::files::open`]: created exclusively, an
//! existing file never overwritten, a FIFO refused, a character device
//! written in place), so a run does not find out at its end that it cannot
//! write; written once with the final frame; and a file it created is
//! removed again if the run ends without one.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::{Buffer, Cell};
use ratatui::style::Modifier;
use ratatui::text::Span;

use super::app::App;
use super::theme::{Theme, rgb};
use crate::session::files::{self, Naming, Output};

/// Cell width and height, and the font size, in SVG user units (px).
pub const CELL_W: f64 = 8.4;
pub const CELL_H: f64 = 17.0;
pub const FONT_SIZE: f64 = 14.0;
/// Baseline of a row's text below the row's top.
pub const BASELINE: f64 = 13.0;
/// Locally installed monospace fonts, in order; nothing is fetched.
pub const FONT_FAMILY: &str = "ui-monospace, 'DejaVu Sans Mono', 'Cascadia Mono', Menlo, Consolas, monospace";

/// Draws the whole screen of `app` as it is now into a `width`x`height`
/// buffer (the frame a terminal of that size would show).
pub fn frame_of(app: &App, width: u16, height: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a test backend never fails");
    terminal.draw(|f| app.draw(f)).expect("a test backend never fails");
    terminal.backend().buffer().clone()
}

/// `#rrggbb`.
fn hex((r, g, b): (u8, u8, u8)) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// A cell's colours as drawn: defaults resolved, reversed applied.
fn colours(cell: &Cell, theme: Theme) -> (String, String) {
    let (dfg, dbg) = theme.canvas();
    let fg = rgb(cell.fg, dfg);
    let bg = rgb(cell.bg, dbg);
    if cell.modifier.contains(Modifier::REVERSED) {
        (hex(bg), hex(fg))
    } else {
        (hex(fg), hex(bg))
    }
}

/// Appends `s` XML-escaped, with characters XML 1.0 cannot hold replaced.
fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(' '),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
}

/// The text attributes of a cell, as SVG presentation attributes.
fn text_attrs(cell: &Cell, fg: &str) -> String {
    let m = cell.modifier;
    let mut a = format!(" fill=\"{fg}\"");
    if m.contains(Modifier::BOLD) {
        a.push_str(" font-weight=\"bold\"");
    }
    if m.contains(Modifier::ITALIC) {
        a.push_str(" font-style=\"italic\"");
    }
    if m.contains(Modifier::DIM) {
        a.push_str(" fill-opacity=\"0.6\"");
    }
    let deco: Vec<&str> = [
        (Modifier::UNDERLINED, "underline"),
        (Modifier::CROSSED_OUT, "line-through"),
    ]
    .into_iter()
    .filter(|(flag, _)| m.contains(*flag))
    .map(|(_, d)| d)
    .collect();
    if !deco.is_empty() {
        let _ = write!(a, " text-decoration=\"{}\"", deco.join(" "));
    }
    a
}

/// The frame in `buf` as an SVG document, with `theme`'s default colours.
pub fn to_svg(buf: &Buffer, theme: Theme) -> String {
    let area = buf.area;
    let (w, h) = (f64::from(area.width) * CELL_W, f64::from(area.height) * CELL_H);
    let (_, canvas_bg) = theme.canvas();
    let mut out = String::with_capacity(usize::from(area.width) * usize::from(area.height) * 24);
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.1}\" height=\"{h:.1}\" viewBox=\"0 0 {w:.1} {h:.1}\" \
         font-family=\"{FONT_FAMILY}\" font-size=\"{FONT_SIZE}\">\n\
         <title>fantop {}x{}</title>\n\
         <rect width=\"100%\" height=\"100%\" fill=\"{}\"/>\n",
        area.width,
        area.height,
        hex(canvas_bg)
    );
    let canvas = hex(canvas_bg);
    let row_cells = |y: u16| (0..area.width).map(move |x| &buf[(area.x + x, area.y + y)]);
    // Backgrounds: a rectangle for each run of cells of one colour that
    // differs from the canvas.
    out.push_str("<g shape-rendering=\"crispEdges\">\n");
    for y in 0..area.height {
        let mut run: Option<(u16, String)> = None;
        let cells: Vec<&Cell> = row_cells(y).collect();
        for x in 0..=area.width {
            let bg = cells.get(usize::from(x)).map(|c| colours(c, theme).1);
            if run.as_ref().map(|r| &r.1) != bg.as_ref() {
                if let Some((start, colour)) = run.take()
                    && colour != canvas
                {
                    let _ = writeln!(
                        out,
                        "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{CELL_H:.1}\" fill=\"{colour}\"/>",
                        f64::from(start) * CELL_W,
                        f64::from(y) * CELL_H,
                        f64::from(x - start) * CELL_W,
                    );
                }
                run = bg.map(|c| (x, c));
            }
        }
    }
    out.push_str("</g>\n");
    // Text: one element per row; a tspan per run of non-blank cells of one
    // style, each glyph at its column.
    for y in 0..area.height {
        let cells: Vec<&Cell> = row_cells(y).collect();
        let mut row = String::new();
        let mut x = 0usize;
        while x < cells.len() {
            let cell = cells[x];
            let sym = cell.symbol();
            if sym.trim().is_empty() || cell.modifier.contains(Modifier::HIDDEN) {
                x += 1;
                continue;
            }
            let (fg, _) = colours(cell, theme);
            let attrs = text_attrs(cell, &fg);
            let (mut xs, mut text) = (String::new(), String::new());
            while x < cells.len() {
                let c = cells[x];
                let sym = c.symbol();
                if sym.trim().is_empty()
                    || c.modifier.contains(Modifier::HIDDEN)
                    || text_attrs(c, &colours(c, theme).0) != attrs
                {
                    break;
                }
                // One x per character; a cluster's later characters
                // share its column.
                for _ in sym.chars() {
                    let _ = write!(xs, "{}{:.1}", if xs.is_empty() { "" } else { " " }, x as f64 * CELL_W);
                }
                escape_into(&mut text, sym);
                x += Span::raw(sym).width().max(1);
            }
            let _ = write!(row, "<tspan x=\"{xs}\"{attrs}>{text}</tspan>");
        }
        if !row.is_empty() {
            let _ = writeln!(out, "<text y=\"{:.1}\">{row}</text>", f64::from(y) * CELL_H + BASELINE);
        }
    }
    out.push_str("</svg>\n");
    out
}

/// The screenshot file of a run: opened at the start, written once at the
/// end. Dropped unwritten, it removes the (empty) file it created.
#[derive(Debug)]
pub struct Screenshot {
    path: PathBuf,
    output: Option<Output>,
}

impl Screenshot {
    /// Opens `path` for the screenshot (see the module doc); the error
    /// names the flag and the file.
    pub fn create(path: &Path) -> anyhow::Result<Screenshot> {
        let output =
            files::open(path, Naming::Given).map_err(|e| anyhow::anyhow!("--screenshot {}", files::describe(&e)))?;
        Ok(Screenshot {
            path: path.to_path_buf(),
            output: Some(output),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `frame` as SVG and closes the file; returns the note for the
    /// exit message. The error names the file.
    pub fn write(mut self, frame: &Buffer, theme: Theme) -> anyhow::Result<String> {
        let mut output = self.output.take().expect("written once");
        let svg = to_svg(frame, theme);
        let written = output.file.write_all(svg.as_bytes()).and_then(|()| output.file.flush());
        written.map_err(|e| anyhow::anyhow!("{}", files::describe(&files::named(&self.path, e))))?;
        if !output.device {
            // On disk before the run says it is written.
            let _ = output.file.sync_all();
        }
        Ok(format!(
            "screenshot ({}x{}) written to {}",
            frame.area.width,
            frame.area.height,
            self.path.display()
        ))
    }
}

impl Drop for Screenshot {
    fn drop(&mut self) {
        if let Some(o) = self.output.take()
            && !o.device
        {
            // Made by this run and never written: leave nothing behind.
            let _ = std::fs::remove_file(&o.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::layout::Rect;
    use ratatui::style::{Color, Style};

    #[test]
    fn text_is_escaped_and_characters_xml_cannot_hold_are_replaced() {
        let mut s = String::new();
        escape_into(&mut s, "a<b>&\"'\u{1b}");
        assert_eq!(s, "a&lt;b&gt;&amp;&quot;&apos;\u{fffd}");
    }

    #[test]
    fn reversed_cells_swap_their_colours_and_defaults_are_the_themes() {
        let mut buf = Buffer::empty(Rect::new(0, 0, 2, 1));
        buf[(0, 0)]
            .set_symbol("x")
            .set_style(Style::new().add_modifier(Modifier::REVERSED));
        buf[(1, 0)]
            .set_symbol("y")
            .set_style(Style::new().fg(Color::Indexed(25)));
        assert_eq!(
            colours(&buf[(0, 0)], Theme::LIGHT),
            ("#ffffff".into(), "#000000".into())
        );
        assert_eq!(
            colours(&buf[(1, 0)], Theme::LIGHT),
            ("#005faf".into(), "#ffffff".into())
        );
        let svg = to_svg(&buf, Theme::LIGHT);
        assert!(svg.contains("<rect x=\"0.0\" y=\"0.0\" width=\"8.4\" height=\"17.0\" fill=\"#000000\"/>"));
        assert!(svg.contains("fill=\"#005faf\">y</tspan>"), "{svg}");
    }

    #[test]
    fn an_existing_file_is_never_overwritten_and_an_unwritten_one_is_removed() {
        let dir = std::env::temp_dir().join(format!("fantop-svg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("taken.svg");
        std::fs::write(&path, "mine").unwrap();
        let err = Screenshot::create(&path).unwrap_err().to_string();
        assert!(
            err.contains("--screenshot") && err.contains("taken.svg: already exists"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "mine");
        let fresh = dir.join("fresh.svg");
        drop(Screenshot::create(&fresh).unwrap());
        assert!(!fresh.exists(), "an unwritten screenshot leaves no file");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
