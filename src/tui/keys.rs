//! Every key binding, defined once: [`BINDINGS`] feeds the key handler, the
//! footer hints and the `?` help overlay. Only key *presses* count (a
//! terminal that reports releases and repeats does not fire keys twice).

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::scroll::Scroll;
use crate::event::SECONDS;
use crate::pipeline::Command;

/// What a key asks for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Action {
    Quit,
    /// Hand the terminal back to the shell and stop (Ctrl-Z); `fg` resumes.
    Suspend,
    /// Close the help, else unzoom, else dismiss a flash message; never quits.
    Back,
    /// A change to the pipeline.
    Control(Command),
    AddSlowSubscriber,
    RemoveSlowSubscriber,
    ToggleFreeze,
    FocusNext,
    FocusPrev,
    ToggleZoom,
    CycleWindow,
    /// Latency over time: linear or logarithmic y axis.
    ToggleLogScale,
    ToggleHelp,
    ToggleRecording,
    /// Replay only: seek by this many seconds.
    Seek(i64),
    /// Scroll the help when it is open, else the focused pane.
    Scroll(Scroll),
}

/// One binding: the keys, how the footer and help name it, what it does.
pub struct Binding {
    /// Key codes (with required modifiers) that trigger it.
    pub keys: &'static [(KeyCode, KeyModifiers)],
    /// How help shows the keys.
    pub label: &'static str,
    /// Short footer hint; `None` keeps it out of the footer.
    pub hint: Option<&'static str>,
    pub help: &'static str,
    pub action: Action,
    /// Whether it works while replaying a recording.
    pub in_replay: bool,
}

const NONE: KeyModifiers = KeyModifiers::NONE;
const CTRL: KeyModifiers = KeyModifiers::CONTROL;

const fn ch(c: char) -> (KeyCode, KeyModifiers) {
    (KeyCode::Char(c), NONE)
}

/// The stall and crash keys' fault size.
pub const STALL_FOR: u64 = 5 * SECONDS;
/// The burst key's size.
pub const BURST_FACTOR: f64 = 5.0;
pub const BURST_FOR: u64 = 5 * SECONDS;

/// In order of importance: the footer shows as many hints as fit, from the top.
pub static BINDINGS: &[Binding] = &[
    Binding {
        keys: &[ch('q'), (KeyCode::Char('c'), CTRL)],
        label: "q Ctrl-C",
        hint: Some("quit"),
        help: "quit",
        action: Action::Quit,
        in_replay: true,
    },
    Binding {
        keys: &[(KeyCode::Char('z'), CTRL)],
        label: "Ctrl-Z",
        hint: None,
        help: "suspend to the shell (fg resumes)",
        action: Action::Suspend,
        in_replay: true,
    },
    Binding {
        keys: &[(KeyCode::Esc, NONE)],
        label: "Esc",
        hint: None,
        help: "close help / unzoom (never quits)",
        action: Action::Back,
        in_replay: true,
    },
    Binding {
        keys: &[ch('+'), ch('='), (KeyCode::Up, NONE)],
        label: "+ = ↑",
        hint: Some("rate"),
        help: "arrival rate ×1.25",
        action: Action::Control(Command::ScaleRate(1.25)),
        in_replay: false,
    },
    Binding {
        keys: &[ch('-'), (KeyCode::Down, NONE)],
        label: "- ↓",
        hint: None,
        help: "arrival rate ÷1.25",
        action: Action::Control(Command::ScaleRate(0.8)),
        in_replay: false,
    },
    Binding {
        keys: &[ch(']')],
        label: "]",
        hint: Some("workers"),
        help: "one more worker",
        action: Action::Control(Command::AddWorkers(1)),
        in_replay: false,
    },
    Binding {
        keys: &[ch('[')],
        label: "[",
        hint: None,
        help: "one worker fewer (a busy one finishes first)",
        action: Action::Control(Command::AddWorkers(-1)),
        in_replay: false,
    },
    Binding {
        keys: &[ch('s')],
        label: "s",
        hint: Some("slow sub"),
        help: "add a deliberately slow subscriber",
        action: Action::AddSlowSubscriber,
        in_replay: true,
    },
    Binding {
        keys: &[ch('S')],
        label: "S",
        hint: None,
        help: "remove a slow subscriber",
        action: Action::RemoveSlowSubscriber,
        in_replay: true,
    },
    Binding {
        keys: &[ch('x')],
        label: "x",
        hint: Some("stall"),
        help: "stall a random worker for 5 s",
        action: Action::Control(Command::Stall {
            worker: None,
            duration: STALL_FOR,
        }),
        in_replay: false,
    },
    Binding {
        keys: &[ch('X')],
        label: "X",
        hint: Some("crash"),
        help: "crash a random worker",
        action: Action::Control(Command::Crash { worker: None }),
        in_replay: false,
    },
    Binding {
        keys: &[ch('b')],
        label: "b",
        hint: Some("burst"),
        help: "burst: arrivals ×5 for 5 s",
        action: Action::Control(Command::Burst {
            factor: BURST_FACTOR,
            duration: BURST_FOR,
        }),
        in_replay: false,
    },
    Binding {
        keys: &[ch(' ')],
        label: "space",
        hint: Some("pause"),
        help: "pause / resume arrivals (or the replay)",
        action: Action::Control(Command::TogglePause),
        in_replay: true,
    },
    Binding {
        keys: &[ch('f')],
        label: "f",
        hint: Some("freeze"),
        help: "freeze the display; the pipeline runs on",
        action: Action::ToggleFreeze,
        in_replay: true,
    },
    Binding {
        keys: &[ch('l')],
        label: "l",
        hint: Some("service"),
        help: "service time ×1.5 (p50 and p99 together)",
        action: Action::Control(Command::ScaleService(1.5)),
        in_replay: false,
    },
    Binding {
        keys: &[ch('L')],
        label: "L",
        hint: None,
        help: "service time ÷1.5 (p50 and p99 together)",
        action: Action::Control(Command::ScaleService(1.0 / 1.5)),
        in_replay: false,
    },
    Binding {
        keys: &[ch('e')],
        label: "e",
        hint: Some("errors"),
        help: "error rate +1 percentage point",
        action: Action::Control(Command::AddErrorRate(0.01)),
        in_replay: false,
    },
    Binding {
        keys: &[ch('E')],
        label: "E",
        hint: None,
        help: "error rate −1 percentage point",
        action: Action::Control(Command::AddErrorRate(-0.01)),
        in_replay: false,
    },
    Binding {
        keys: &[(KeyCode::Tab, NONE)],
        label: "Tab",
        hint: Some("focus"),
        help: "focus the next pane",
        action: Action::FocusNext,
        in_replay: true,
    },
    Binding {
        keys: &[(KeyCode::BackTab, NONE), (KeyCode::BackTab, KeyModifiers::SHIFT)],
        label: "Shift-Tab",
        hint: None,
        help: "focus the previous pane",
        action: Action::FocusPrev,
        in_replay: true,
    },
    Binding {
        keys: &[ch('z'), (KeyCode::Enter, NONE)],
        label: "z Enter",
        hint: Some("zoom"),
        help: "zoom the focused pane to full screen",
        action: Action::ToggleZoom,
        in_replay: true,
    },
    Binding {
        keys: &[ch('j')],
        label: "j",
        hint: Some("scroll"),
        help: "scroll down (the focused pane, or help)",
        action: Action::Scroll(Scroll::Rows(1)),
        in_replay: true,
    },
    Binding {
        keys: &[ch('k')],
        label: "k",
        hint: None,
        help: "scroll up",
        action: Action::Scroll(Scroll::Rows(-1)),
        in_replay: true,
    },
    Binding {
        keys: &[(KeyCode::PageDown, NONE)],
        label: "PgDn",
        hint: None,
        help: "scroll down a page",
        action: Action::Scroll(Scroll::Pages(1)),
        in_replay: true,
    },
    Binding {
        keys: &[(KeyCode::PageUp, NONE)],
        label: "PgUp",
        hint: None,
        help: "scroll up a page",
        action: Action::Scroll(Scroll::Pages(-1)),
        in_replay: true,
    },
    Binding {
        keys: &[(KeyCode::Home, NONE)],
        label: "Home",
        hint: None,
        help: "scroll to the top",
        action: Action::Scroll(Scroll::Top),
        in_replay: true,
    },
    Binding {
        keys: &[(KeyCode::End, NONE)],
        label: "End",
        hint: None,
        help: "scroll to the bottom",
        action: Action::Scroll(Scroll::Bottom),
        in_replay: true,
    },
    Binding {
        keys: &[ch('t')],
        label: "t",
        hint: Some("window"),
        help: "chart window: 30 s, 1 min, 5 min",
        action: Action::CycleWindow,
        in_replay: true,
    },
    Binding {
        keys: &[ch('y')],
        label: "y",
        hint: None,
        help: "latency chart: linear / log y axis",
        action: Action::ToggleLogScale,
        in_replay: true,
    },
    Binding {
        keys: &[ch('r')],
        label: "r",
        hint: Some("record"),
        help: "start / stop recording the event stream",
        action: Action::ToggleRecording,
        in_replay: false,
    },
    Binding {
        keys: &[(KeyCode::Left, NONE)],
        label: "←",
        hint: None,
        help: "replay: back 10 s",
        action: Action::Seek(-10),
        in_replay: true,
    },
    Binding {
        keys: &[(KeyCode::Right, NONE)],
        label: "→",
        hint: None,
        help: "replay: forward 10 s",
        action: Action::Seek(10),
        in_replay: true,
    },
    Binding {
        keys: &[ch('?')],
        label: "?",
        hint: Some("help"),
        help: "this help",
        action: Action::ToggleHelp,
        in_replay: true,
    },
];

fn matches(key: &KeyEvent, (code, mods): (KeyCode, KeyModifiers)) -> bool {
    if key.code != code {
        return false;
    }
    if mods.is_empty() {
        // Shift is part of the character ('K', '+', '?'); Ctrl or Alt are not.
        !key.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
    } else {
        key.modifiers.contains(mods)
    }
}

/// The binding a key press triggers, if any. Releases and repeats are ignored.
pub fn binding_for(key: &KeyEvent) -> Option<&'static Binding> {
    if key.kind != KeyEventKind::Press {
        return None;
    }
    BINDINGS.iter().find(|b| b.keys.iter().any(|k| matches(key, *k)))
}

/// The footer's hints: `(keys, hint)` in table order, for the mode.
pub fn hints(replay: bool) -> impl Iterator<Item = (&'static str, &'static str)> {
    BINDINGS
        .iter()
        .filter(move |b| !replay || b.in_replay)
        .filter_map(|b| b.hint.map(|h| (footer_keys(b), h)))
}

/// Keys as the footer shows them: a pair like `+/-` when the next binding
/// is the opposite step and has no hint of its own.
fn footer_keys(b: &Binding) -> &'static str {
    match b.label {
        "+ = ↑" => "+/-",
        "]" => "]/[",
        "l" => "l/L",
        "e" => "e/E",
        "s" => "s/S",
        "j" => "j/k",
        "z Enter" => "z",
        "q Ctrl-C" => "q",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::crossterm::event::KeyEventState;

    fn press(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent {
            code,
            modifiers,
            kind: KeyEventKind::Press,
            state: KeyEventState::NONE,
        }
    }

    #[test]
    fn every_documented_key_maps_to_its_action() {
        let cases = [
            (press(KeyCode::Char('q'), NONE), Action::Quit),
            (press(KeyCode::Char('c'), CTRL), Action::Quit),
            (press(KeyCode::Char('z'), CTRL), Action::Suspend),
            (press(KeyCode::Esc, NONE), Action::Back),
            (
                press(KeyCode::Char('+'), KeyModifiers::SHIFT),
                Action::Control(Command::ScaleRate(1.25)),
            ),
            (
                press(KeyCode::Char('='), NONE),
                Action::Control(Command::ScaleRate(1.25)),
            ),
            (press(KeyCode::Up, NONE), Action::Control(Command::ScaleRate(1.25))),
            (
                press(KeyCode::Char('-'), NONE),
                Action::Control(Command::ScaleRate(0.8)),
            ),
            (press(KeyCode::Down, NONE), Action::Control(Command::ScaleRate(0.8))),
            (press(KeyCode::Char(']'), NONE), Action::Control(Command::AddWorkers(1))),
            (
                press(KeyCode::Char('['), NONE),
                Action::Control(Command::AddWorkers(-1)),
            ),
            (
                press(KeyCode::Char('l'), NONE),
                Action::Control(Command::ScaleService(1.5)),
            ),
            (
                press(KeyCode::Char('L'), KeyModifiers::SHIFT),
                Action::Control(Command::ScaleService(1.0 / 1.5)),
            ),
            (
                press(KeyCode::Char('e'), NONE),
                Action::Control(Command::AddErrorRate(0.01)),
            ),
            (
                press(KeyCode::Char('E'), KeyModifiers::SHIFT),
                Action::Control(Command::AddErrorRate(-0.01)),
            ),
            (
                press(KeyCode::Char('b'), NONE),
                Action::Control(Command::Burst {
                    factor: 5.0,
                    duration: 5 * SECONDS,
                }),
            ),
            (press(KeyCode::Char(' '), NONE), Action::Control(Command::TogglePause)),
            (press(KeyCode::Char('f'), NONE), Action::ToggleFreeze),
            (press(KeyCode::Char('s'), NONE), Action::AddSlowSubscriber),
            (
                press(KeyCode::Char('S'), KeyModifiers::SHIFT),
                Action::RemoveSlowSubscriber,
            ),
            (
                press(KeyCode::Char('x'), NONE),
                Action::Control(Command::Stall {
                    worker: None,
                    duration: 5 * SECONDS,
                }),
            ),
            (
                press(KeyCode::Char('X'), KeyModifiers::SHIFT),
                Action::Control(Command::Crash { worker: None }),
            ),
            (press(KeyCode::Char('j'), NONE), Action::Scroll(Scroll::Rows(1))),
            (press(KeyCode::Char('k'), NONE), Action::Scroll(Scroll::Rows(-1))),
            (press(KeyCode::PageDown, NONE), Action::Scroll(Scroll::Pages(1))),
            (press(KeyCode::PageUp, NONE), Action::Scroll(Scroll::Pages(-1))),
            (press(KeyCode::Home, NONE), Action::Scroll(Scroll::Top)),
            (press(KeyCode::End, NONE), Action::Scroll(Scroll::Bottom)),
            (press(KeyCode::Tab, NONE), Action::FocusNext),
            (press(KeyCode::BackTab, KeyModifiers::SHIFT), Action::FocusPrev),
            (press(KeyCode::Char('z'), NONE), Action::ToggleZoom),
            (press(KeyCode::Enter, NONE), Action::ToggleZoom),
            (press(KeyCode::Char('t'), NONE), Action::CycleWindow),
            (press(KeyCode::Char('y'), NONE), Action::ToggleLogScale),
            (press(KeyCode::Char('r'), NONE), Action::ToggleRecording),
            (press(KeyCode::Char('?'), KeyModifiers::SHIFT), Action::ToggleHelp),
        ];
        for (key, cmd) in cases {
            assert_eq!(binding_for(&key).map(|b| b.action), Some(cmd), "{key:?}");
        }
    }

    #[test]
    fn only_presses_count() {
        for kind in [KeyEventKind::Release, KeyEventKind::Repeat] {
            let key = KeyEvent {
                kind,
                ..press(KeyCode::Char('+'), NONE)
            };
            assert!(binding_for(&key).is_none());
        }
    }

    #[test]
    fn ctrl_and_alt_letters_are_not_plain_keys() {
        assert!(binding_for(&press(KeyCode::Char('k'), CTRL)).is_none());
        assert!(binding_for(&press(KeyCode::Char('q'), KeyModifiers::ALT)).is_none());
    }

    #[test]
    fn every_binding_has_help_and_a_unique_key() {
        let mut seen = Vec::new();
        for b in BINDINGS {
            assert!(!b.help.is_empty());
            for k in b.keys {
                assert!(!seen.contains(k), "{k:?} bound twice");
                seen.push(*k);
            }
        }
    }
}
