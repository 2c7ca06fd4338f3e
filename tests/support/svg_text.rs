//! Reads a `--screenshot` SVG back (for the tests): parses it as XML with
//! roxmltree (so a file that is not well-formed fails), then puts each
//! glyph at the row its `<text y>` and the column its `x` give, the way
//! [`fantop::tui::svg`] laid them out.

use fantop::tui::svg::{BASELINE, CELL_H, CELL_W};

/// The parsed document and its screen's rows (trailing blanks trimmed).
pub fn svg_rows(svg: &str) -> (roxmltree::Document<'_>, Vec<String>) {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("the SVG is not well-formed XML: {e}"));
    let mut grid: Vec<Vec<char>> = Vec::new();
    for text in doc.descendants().filter(|n| n.has_tag_name("text")) {
        let y: f64 = text.attribute("y").expect("a row's y").parse().expect("a number");
        let row = ((y - BASELINE) / CELL_H).round() as usize;
        for span in text.children().filter(|n| n.has_tag_name("tspan")) {
            let xs = span.attribute("x").expect("glyph columns").split(' ');
            for (x, c) in xs.zip(span.text().unwrap_or_default().chars()) {
                let col = (x.parse::<f64>().expect("a number") / CELL_W).round() as usize;
                if grid.len() <= row {
                    grid.resize(row + 1, Vec::new());
                }
                if grid[row].len() <= col {
                    grid[row].resize(col + 1, ' ');
                }
                grid[row][col] = c;
            }
        }
    }
    let rows = grid
        .into_iter()
        .map(|r| r.into_iter().collect::<String>().trim_end().to_string())
        .collect();
    (doc, rows)
}
