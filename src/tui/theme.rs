//! Colours, chart markers and styles in one place: no pane names a colour.
//!
//! Two palettes, for dark and for light terminals (`--theme dark|light`,
//! or `FANTOP_THEME`; dark by default). The dark one uses the terminal's
//! own ANSI colours; the light one uses fixed colours of the 256-colour
//! palette that read on white: every text style has a contrast ratio of at
//! least 4.5:1 against white (WCAG AA for text), every chart line at least
//! 3:1 (AA for graphics), which a test checks with [`contrast`]; the
//! header bar sets both its colours, and every text style reads on it too.
//! Neither palette sets any other background.
//!
//! With `NO_COLOR` or `--no-color` every style is plain (bold, dim and
//! reverse survive, so focus and state stay visible), states are always
//! also written in words, and chart series differ by marker ([`SERIES`]),
//! never by colour alone.

use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;

/// Which palette: for a dark or a light terminal background.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ThemeName {
    #[default]
    Dark,
    Light,
}

impl ThemeName {
    /// The environment variable that picks a palette when `--theme` is not given.
    pub const ENV: &'static str = "FANTOP_THEME";

    /// Parses `dark` or `light` (case-insensitive); the error says what is accepted.
    pub fn parse(s: &str) -> Result<ThemeName, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "dark" => Ok(ThemeName::Dark),
            "light" => Ok(ThemeName::Light),
            _ => Err("expected dark or light".to_string()),
        }
    }
}

/// The colours of one palette.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Palette {
    /// What the palette assumes the terminal's default colours are (the
    /// SVG screenshot paints them; the contrast test measures against them).
    pub canvas_fg: Color,
    pub canvas_bg: Color,
    pub dim: Color,
    pub label: Color,
    pub ok: Color,
    pub warn: Color,
    pub bad: Color,
    pub accent: Color,
    pub header_fg: Color,
    pub header_bg: Color,
    /// Chart series, by [`SERIES`] index.
    pub series: [Color; 4],
}

/// For dark backgrounds: the terminal's ANSI colours.
pub const DARK: Palette = Palette {
    canvas_fg: Color::Gray,
    canvas_bg: Color::Black,
    dim: Color::DarkGray,
    label: Color::Gray,
    ok: Color::Green,
    warn: Color::Yellow,
    // The bright red: plain red on black is under 4.5:1 in xterm's colours.
    bad: Color::LightRed,
    accent: Color::Cyan,
    header_fg: Color::White,
    // Navy rather than the ANSI blue, on which xterm's bright red is 2.3:1.
    header_bg: Color::Indexed(17), // #00005f
    series: [Color::Green, Color::LightRed, Color::Cyan, Color::Yellow],
};

/// For light backgrounds: 256-colour palette entries dark enough for white.
pub const LIGHT: Palette = Palette {
    canvas_fg: Color::Black,
    canvas_bg: Color::White,
    dim: Color::Indexed(242),       // #6c6c6c
    label: Color::Indexed(239),     // #4e4e4e
    ok: Color::Indexed(22),         // #005f00
    warn: Color::Indexed(94),       // #875f00
    bad: Color::Indexed(124),       // #af0000
    accent: Color::Indexed(25),     // #005faf
    header_fg: Color::Indexed(16),  // #000000
    header_bg: Color::Indexed(255), // #eeeeee
    series: [
        Color::Indexed(28),
        Color::Indexed(124),
        Color::Indexed(25),
        Color::Indexed(90), // #870087
    ],
};

/// A chart series' look besides its colour: the marker its points are
/// drawn with and the sample the legend shows. Distinct for every series
/// index, so lines are told apart in monochrome too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeriesLook {
    pub marker: Marker,
    pub sample: &'static str,
}

/// Series looks by index (the same index as [`Theme::series`]).
pub const SERIES: [SeriesLook; 4] = [
    SeriesLook {
        marker: Marker::Braille,
        sample: "⠒⠒",
    },
    SeriesLook {
        marker: Marker::Block,
        sample: "██",
    },
    SeriesLook {
        marker: Marker::Dot,
        sample: "••",
    },
    SeriesLook {
        marker: Marker::Bar,
        sample: "▄▄",
    },
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
    pub name: ThemeName,
}

impl Theme {
    pub const COLOR: Theme = Theme {
        color: true,
        name: ThemeName::Dark,
    };
    pub const LIGHT: Theme = Theme {
        color: true,
        name: ThemeName::Light,
    };
    pub const MONO: Theme = Theme {
        color: false,
        name: ThemeName::Dark,
    };

    /// The dark palette, in colour unless `no_color` or a non-empty
    /// `NO_COLOR` in the environment.
    pub fn from_env(no_color: bool) -> Theme {
        let env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Theme {
            color: !(no_color || env),
            name: ThemeName::Dark,
        }
    }

    /// The same, with palette `name`.
    pub fn named(self, name: ThemeName) -> Theme {
        Theme { name, ..self }
    }

    pub fn palette(&self) -> &'static Palette {
        match self.name {
            ThemeName::Dark => &DARK,
            ThemeName::Light => &LIGHT,
        }
    }

    fn fg(&self, c: fn(&Palette) -> Color) -> Style {
        if self.color {
            Style::new().fg(c(self.palette()))
        } else {
            Style::new()
        }
    }

    pub fn text(&self) -> Style {
        Style::new()
    }
    pub fn dim(&self) -> Style {
        if self.color {
            self.fg(|p| p.dim)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        }
    }
    pub fn label(&self) -> Style {
        self.fg(|p| p.label)
    }
    pub fn value(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }
    pub fn ok(&self) -> Style {
        self.fg(|p| p.ok)
    }
    pub fn warn(&self) -> Style {
        self.fg(|p| p.warn).add_modifier(Modifier::BOLD)
    }
    pub fn bad(&self) -> Style {
        self.fg(|p| p.bad).add_modifier(Modifier::BOLD)
    }
    pub fn accent(&self) -> Style {
        self.fg(|p| p.accent)
    }
    pub fn title(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }
    pub fn border(&self, focused: bool) -> Style {
        if focused {
            self.fg(|p| p.accent).add_modifier(Modifier::BOLD)
        } else {
            self.dim()
        }
    }
    pub fn header(&self) -> Style {
        if self.color {
            let p = self.palette();
            Style::new().bg(p.header_bg).fg(p.header_fg)
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }
    pub fn key(&self) -> Style {
        self.fg(|p| p.accent).add_modifier(Modifier::BOLD)
    }
    /// Series colours in charts (pair with [`SERIES`] for the marker).
    pub fn series(&self, i: usize) -> Style {
        if self.color {
            let s = &self.palette().series;
            Style::new().fg(s[i % s.len()])
        } else {
            Style::new()
        }
    }

    /// The terminal's default foreground and background as this palette
    /// assumes them, as RGB.
    pub fn canvas(&self) -> ((u8, u8, u8), (u8, u8, u8)) {
        let p = self.palette();
        (rgb(p.canvas_fg, (0, 0, 0)), rgb(p.canvas_bg, (0, 0, 0)))
    }
}

/// The RGB of a colour, taking the named and 256-palette colours as xterm
/// draws them by default; `Reset` is `default`.
pub fn rgb(c: Color, default: (u8, u8, u8)) -> (u8, u8, u8) {
    const ANSI: [(u8, u8, u8); 16] = [
        (0, 0, 0),
        (205, 0, 0),
        (0, 205, 0),
        (205, 205, 0),
        (0, 0, 238),
        (205, 0, 205),
        (0, 205, 205),
        (229, 229, 229),
        (127, 127, 127),
        (255, 0, 0),
        (0, 255, 0),
        (255, 255, 0),
        (92, 92, 255),
        (255, 0, 255),
        (0, 255, 255),
        (255, 255, 255),
    ];
    let indexed = |i: u8| -> (u8, u8, u8) {
        match i {
            0..=15 => ANSI[i as usize],
            16..=231 => {
                let level = |v: u8| if v == 0 { 0 } else { 55 + 40 * v };
                let i = i - 16;
                (level(i / 36), level(i / 6 % 6), level(i % 6))
            }
            _ => {
                let g = 8 + 10 * (i - 232);
                (g, g, g)
            }
        }
    };
    match c {
        Color::Reset => default,
        Color::Black => ANSI[0],
        Color::Red => ANSI[1],
        Color::Green => ANSI[2],
        Color::Yellow => ANSI[3],
        Color::Blue => ANSI[4],
        Color::Magenta => ANSI[5],
        Color::Cyan => ANSI[6],
        Color::Gray => ANSI[7],
        Color::DarkGray => ANSI[8],
        Color::LightRed => ANSI[9],
        Color::LightGreen => ANSI[10],
        Color::LightYellow => ANSI[11],
        Color::LightBlue => ANSI[12],
        Color::LightMagenta => ANSI[13],
        Color::LightCyan => ANSI[14],
        Color::White => ANSI[15],
        Color::Indexed(i) => indexed(i),
        Color::Rgb(r, g, b) => (r, g, b),
    }
}

/// The WCAG 2 contrast ratio of two colours (1 to 21).
pub fn contrast(a: (u8, u8, u8), b: (u8, u8, u8)) -> f64 {
    fn luminance((r, g, b): (u8, u8, u8)) -> f64 {
        let lin = |v: u8| {
            let c = v as f64 / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
    }
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The contrast of a style's text on its background, defaults resolved
    /// to the palette's canvas.
    fn ratio(t: Theme, style: Style) -> f64 {
        let (fg, bg) = t.canvas();
        let f = rgb(style.fg.unwrap_or(Color::Reset), fg);
        let b = rgb(style.bg.unwrap_or(Color::Reset), bg);
        contrast(f, b)
    }

    /// Every text style of both palettes reads on the background it
    /// assumes and on the header bar: at least 4.5:1 (WCAG AA for text);
    /// chart lines at least 3:1 (AA for graphics).
    #[test]
    fn every_label_is_readable_on_the_palettes_background() {
        for t in [Theme::COLOR, Theme::LIGHT] {
            let text = [
                ("text", t.text()),
                ("dim", t.dim()),
                ("label", t.label()),
                ("value", t.value()),
                ("ok", t.ok()),
                ("warn", t.warn()),
                ("bad", t.bad()),
                ("accent", t.accent()),
                ("title", t.title()),
                ("key", t.key()),
                ("focused border", t.border(true)),
                ("header", t.header()),
            ];
            for (name, s) in text {
                let r = ratio(t, s);
                assert!(r >= 4.5, "{:?} {name}: {r:.2}:1", t.name);
                // The header draws these spans on its own bar.
                let on_bar = t.header().patch(s);
                let r = ratio(t, on_bar);
                assert!(r >= 4.5, "{:?} {name} on the header: {r:.2}:1", t.name);
            }
            for i in 0..SERIES.len() {
                let r = ratio(t, t.series(i));
                assert!(r >= 3.0, "{:?} series {i}: {r:.2}:1", t.name);
            }
        }
    }

    #[test]
    fn contrast_matches_the_wcag_examples() {
        assert!((contrast((0, 0, 0), (255, 255, 255)) - 21.0).abs() < 1e-9);
        assert!((contrast((118, 118, 118), (255, 255, 255)) - 4.54).abs() < 0.01);
    }

    #[test]
    fn the_256_palette_maps_as_xterm_does() {
        assert_eq!(rgb(Color::Indexed(25), (0, 0, 0)), (0, 95, 175));
        assert_eq!(rgb(Color::Indexed(231), (0, 0, 0)), (255, 255, 255));
        assert_eq!(rgb(Color::Indexed(242), (0, 0, 0)), (108, 108, 108));
        assert_eq!(rgb(Color::Reset, (1, 2, 3)), (1, 2, 3));
    }

    #[test]
    fn each_series_has_its_own_marker_and_sample() {
        for (i, a) in SERIES.iter().enumerate() {
            for b in &SERIES[i + 1..] {
                assert_ne!(a.marker, b.marker);
                assert_ne!(a.sample, b.sample);
            }
        }
    }

    #[test]
    fn theme_names_parse_and_bad_ones_say_what_is_accepted() {
        assert_eq!(ThemeName::parse("Light"), Ok(ThemeName::Light));
        assert_eq!(ThemeName::parse("dark"), Ok(ThemeName::Dark));
        assert_eq!(ThemeName::parse("blue").unwrap_err(), "expected dark or light");
    }
}
