//! The terminal monitor as drawn on ratatui's `TestBackend`: what each pane
//! shows at fixed sizes from fixed data (insta snapshots), that no size —
//! however small — makes a pane panic, and what every key does to the app.
//!
//! Every snapshot is drawn from one deterministic [`fixture`]: a seeded
//! [`Sim`] run for 12 simulated seconds at the default 2,000 requests/s,
//! with a burst, crashes, stalls, a pool and a rate change injected, published
//! through a broadcaster on a *manual* clock and pumped into the [`App`] as
//! it goes (as the UI's frame tick would).
//!
//! The manual clock stays at 12 s while publishing, then moves 250 ms on
//! before drawing. So "last rx" reads 250ms, no subscriber is evicted for
//! time, and the Subscribers title reads "publish 0 ev/s, 0 ns/ev": `App`
//! samples the publisher's rate only between pumps at least 0.5 s apart on
//! the broadcaster's clock, and its ns/ev is wall-clock time, which no
//! snapshot could hold.
//!
//! When the rendering changes on purpose, re-approve with
//! `INSTA_UPDATE=always cargo test --test ui`, delete any leftover
//! `tests/snapshots/*.snap.new`, and review the `.snap` diffs.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;

use fantop::broadcast::{
    self, BroadcastConfig, Broadcaster, EvictionPolicy, Publisher, SubscribeOptions, SubscriberState, Subscription,
};
use fantop::clock::Clock;
use fantop::collector::{CollectorOptions, Fold, SnapshotReader};
use fantop::event::{Event, EventKind, LoadChange, MILLIS, Nanos, SECONDS, ServiceDist};
use fantop::pipeline::control::{MAX_RATE, MAX_STEP_SERVICE, MAX_WORKERS, MIN_STEP_RATE};
use fantop::pipeline::{Command, Sim, SimConfig};
use fantop::tui::app::{App, Effect, MIN_HEIGHT, MIN_WIDTH, Mode, PaneId};
use fantop::tui::feed::{PANE_CAPACITY, View};
use fantop::tui::help::footer_line;
use fantop::tui::keys::{Action, BINDINGS, BURST_FACTOR, BURST_FOR, STALL_FOR, binding_for};
use fantop::tui::panes::events::EventsView;
use fantop::tui::panes::header::{self, HeaderInfo, HeaderView, RunState};
use fantop::tui::panes::latency::LatencyView;
use fantop::tui::panes::subscribers::SubscribersView;
use fantop::tui::panes::throughput::ThroughputView;
use fantop::tui::panes::workers::WorkersView;
use fantop::tui::panes::{self, Ctx, Fanout, Scrolls, WINDOWS_S};
use fantop::tui::theme::Theme;
use fantop::tui::{Driver, Exit, Input, LoopIo, event_loop};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::{Position, Rect};
use ratatui::style::Color;

// ---------------------------------------------------------------------------
// Fixture
// ---------------------------------------------------------------------------

/// The simulation's seed, also shown in the header.
const SEED: u64 = 1;
/// Arrival rate of the fixture (the binary's default).
const RATE: f64 = 2_000.0;
/// Simulated time the fixture runs to.
const END: Nanos = 12 * SECONDS;
/// Broadcaster-clock time between the last pump and the frame ("last rx").
const FRAME_LAG: Nanos = 250 * MILLIS;
/// Events published between two pumps (about 2/3 s of stream at 2,000/s).
const PUMP_EVERY: usize = 4_096;

/// How to build a fixture.
#[derive(Clone, Debug)]
struct Setup {
    theme: Theme,
    mode: Mode,
    rate: f64,
    /// The pool's size at the start.
    workers: u16,
    eviction: EvictionPolicy,
    /// Subscribe a `slow-1` (queue of 256) that never receives.
    slow_subscriber: bool,
    /// Pump only once, after everything is published: the UI stalled.
    ui_stalled: bool,
    /// Run a collector (its fold, polled after each chunk, publishing a
    /// snapshot each time) and give the app its snapshots.
    collector: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            theme: Theme::COLOR,
            mode: Mode::Live { seed: SEED },
            rate: RATE,
            workers: SimConfig::default().workers,
            eviction: EvictionPolicy::default(),
            slow_subscriber: false,
            ui_stalled: false,
            collector: false,
        }
    }
}

/// A pumped app and what must stay alive for its panes to read as live.
struct Fixture {
    app: App,
    broadcaster: Broadcaster<Event>,
    clock: Clock,
    /// Dropping the publisher closes every subscriber (rows would read CLOSED).
    publisher: Publisher<Event>,
    _slow: Option<Subscription<Event>>,
    _collector: Option<Fold>,
}

/// The fixture's stream at [`RATE`], generated once per test binary.
fn events() -> &'static [Event] {
    static EVENTS: OnceLock<Vec<Event>> = OnceLock::new();
    EVENTS.get_or_init(|| scripted_events(RATE, SimConfig::default().workers))
}

/// The fixture's stream: a seeded run to 12 s with faults and controls
/// injected at fixed simulated times.
fn scripted_events(rate: f64, workers: u16) -> Vec<Event> {
    let mut sim = Sim::new(SimConfig {
        seed: SEED,
        rate,
        workers,
        ..Default::default()
    });
    let script = [
        (
            3 * SECONDS,
            Command::Burst {
                factor: 1.5,
                duration: 2 * SECONDS,
            },
        ),
        (6 * SECONDS, Command::Crash { worker: Some(5) }),
        (7 * SECONDS, Command::AddWorkers(2)),
        (8 * SECONDS, Command::ScaleRate(1.25)),
        (
            9 * SECONDS,
            Command::Stall {
                worker: Some(2),
                duration: 2 * SECONDS,
            },
        ),
        (
            11 * SECONDS,
            Command::Stall {
                worker: Some(1),
                duration: 5 * SECONDS,
            },
        ),
        (11_800 * MILLIS, Command::Crash { worker: Some(6) }),
    ];
    let mut out = Vec::new();
    for (at, action) in script {
        sim.advance_until(at, &mut out);
        sim.apply(action, &mut out)
            .unwrap_or_else(|e| panic!("{action:?} at {at}: {e}"));
    }
    sim.advance_until(END, &mut out);
    out
}

/// Builds the app, publishes the scripted stream (pumping every
/// [`PUMP_EVERY`] events unless the UI is stalled), and moves the manual
/// clock [`FRAME_LAG`] past the last pump. Unless stalled, checks that no
/// pane lost an event.
fn fixture(setup: Setup) -> Fixture {
    let clock = Clock::manual();
    let config = BroadcastConfig {
        eviction: setup.eviction,
        ..Default::default()
    };
    let (mut publisher, broadcaster) = broadcast::channel(config, clock.clone());
    let mut collector = setup
        .collector
        .then(|| Fold::new(&broadcaster, CollectorOptions::default().subscribe));
    let snapshots = collector.as_ref().map_or_else(SnapshotReader::default, Fold::reader);
    let mut app = App::new(&broadcaster, snapshots, setup.theme, setup.mode.clone());
    let slow = setup
        .slow_subscriber
        .then(|| broadcaster.subscribe_with(SubscribeOptions::new("slow-1").capacity(256)));
    let owned;
    let events = if setup.rate == RATE && setup.workers == SimConfig::default().workers {
        events()
    } else {
        owned = scripted_events(setup.rate, setup.workers);
        &owned
    };
    // Health is judged over broadcaster time: where someone is to fall
    // behind, the clock follows the stream (else it stands at the end).
    let timed = setup.slow_subscriber || setup.ui_stalled;
    if !timed {
        clock.set(END);
    }
    for chunk in events.chunks(PUMP_EVERY) {
        chunk.iter().for_each(|e| publisher.publish(*e));
        publisher.flush();
        if let Some(c) = &mut collector {
            c.poll().expect("the stream is open");
            c.publish();
        }
        if timed && let Some(last) = chunk.last() {
            clock.set(last.t);
            publisher.tick();
        }
        if !setup.ui_stalled {
            app.pump();
        }
    }
    clock.set(END);
    app.pump();
    if timed {
        // A second with nothing published (two rate samples): the
        // publisher's rate and cost read 0, not a wall-clock measurement.
        for _ in 0..2 {
            clock.advance(500 * MILLIS);
            app.pump();
        }
    }
    clock.advance(FRAME_LAG);
    if !setup.ui_stalled {
        for s in broadcaster.stats().iter().filter(|s| s.name != "slow-1") {
            assert_eq!(
                (s.dropped, s.state),
                (0, SubscriberState::Healthy),
                "pane {} fell behind",
                s.name
            );
        }
    }
    Fixture {
        app,
        broadcaster,
        clock,
        publisher,
        _slow: slow,
        _collector: collector,
    }
}

fn live() -> Fixture {
    fixture(Setup::default())
}

/// A fixture with a never-receiving `slow-1`, evicted under the default policy.
fn with_slow_subscriber() -> Fixture {
    fixture(Setup {
        eviction: EvictionPolicy::default(),
        slow_subscriber: true,
        ..Setup::default()
    })
}

fn draw(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test backend");
    terminal.draw(|f| app.draw(f)).expect("draw");
    terminal
}

/// The screen's text, one string per row.
fn rows(terminal: &Terminal<TestBackend>) -> Vec<String> {
    let buf = terminal.backend().buffer();
    (0..buf.area.height)
        .map(|y| (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect())
        .collect()
}

fn text(terminal: &Terminal<TestBackend>) -> String {
    rows(terminal).join("\n")
}

const TITLES: [&str; 5] = [" Throughput ", " Latency ", " Subscribers ", " Workers ", " Events "];

fn zoomed(fx: &mut Fixture, pane: PaneId) {
    fx.app.focus = PaneId::ALL.iter().position(|p| *p == pane).expect("a pane");
    fx.app.zoom = true;
}

// ---------------------------------------------------------------------------
// Snapshots: the whole screen
// ---------------------------------------------------------------------------

/// At 120x36 every pane is on screen with its title, and the header shows the
/// load the stream last announced (10 workers at 7 s, rate ×1.25 at 8 s),
/// the seed and the elapsed time.
#[test]
fn full_screen_at_120x36_shows_header_all_panes_and_footer() {
    let fx = live();
    let t = draw(&fx.app, 120, 36);
    let screen = text(&t);
    for title in TITLES {
        assert!(screen.contains(title), "{title} missing:\n{screen}");
    }
    let header = &rows(&t)[0];
    assert!(header.contains("rate 2,500/s  workers 10"), "{header}");
    assert!(header.contains("seed 1  00:00:12"), "{header}");
    assert!(rows(&t)[35].contains("? help"));
    insta::assert_snapshot!("full_120x36", t.backend());
}

/// A wide terminal shows every Subscribers column (queue gauge, last rx,
/// evictions) and a three-column worker grid.
#[test]
fn full_screen_at_200x60_shows_every_subscriber_column() {
    let fx = live();
    let t = draw(&fx.app, 200, 60);
    let screen = text(&t);
    for col in ["queue", "lag", "delivered", "dropped", "last rx", "evictions"] {
        assert!(screen.contains(col), "{col} missing:\n{screen}");
    }
    insta::assert_snapshot!("full_200x60", t.backend());
}

/// The classic 80x24 terminal still shows all five panes.
#[test]
fn full_screen_at_80x24_shows_all_five_panes() {
    let fx = live();
    let t = draw(&fx.app, 80, 24);
    let screen = text(&t);
    for title in TITLES {
        assert!(screen.contains(title), "{title} missing:\n{screen}");
    }
    insta::assert_snapshot!("full_80x24", t.backend());
}

/// The minimum size (60x16) draws the full layout, not the "too small" line.
#[test]
fn minimum_size_60x16_draws_the_layout() {
    let fx = live();
    let t = draw(&fx.app, MIN_WIDTH, MIN_HEIGHT);
    assert!(!text(&t).contains("too small"));
    insta::assert_snapshot!("full_60x16", t.backend());
}

/// The monochrome theme writes exactly the same text and uses no colour at
/// all; the colour theme does use colour.
#[test]
fn mono_theme_draws_the_same_text_without_any_colour() {
    let colour = live();
    let mono = fixture(Setup {
        theme: Theme::MONO,
        ..Setup::default()
    });
    let (tc, tm) = (draw(&colour.app, 120, 36), draw(&mono.app, 120, 36));
    assert_eq!(rows(&tc), rows(&tm));
    let coloured = |t: &Terminal<TestBackend>| {
        t.backend()
            .buffer()
            .content()
            .iter()
            .filter(|c| c.fg != Color::Reset || c.bg != Color::Reset)
            .count()
    };
    assert_eq!(coloured(&tm), 0, "mono theme used colour");
    assert!(coloured(&tc) > 0, "colour theme used no colour");
}

/// Each pane zoomed fills the body alone: no other pane's title shows.
#[test]
fn each_zoomed_pane_fills_the_screen_alone() {
    for (i, pane) in PaneId::ALL.iter().enumerate() {
        let mut fx = live();
        zoomed(&mut fx, *pane);
        let t = draw(&fx.app, 120, 36);
        let screen = text(&t);
        for (j, title) in TITLES.iter().enumerate() {
            assert_eq!(screen.contains(title), i == j, "zoom {pane:?}: {title}\n{screen}");
        }
        insta::assert_snapshot!(
            format!("zoom_{}_120x36", format!("{pane:?}").to_lowercase()),
            t.backend()
        );
    }
}

/// Each chart window (`t`) relabels the time axis: -30s, -1m00s, -5m00s.
#[test]
fn chart_window_sets_the_time_axis_labels() {
    let mut fx = live();
    zoomed(&mut fx, PaneId::Throughput);
    for (w, label) in [(0, "-30s"), (1, "-1m00s"), (2, "-5m00s")] {
        fx.app.window = w;
        let screen = text(&draw(&fx.app, 120, 36));
        assert!(
            screen.contains(label),
            "window {}: {label} missing:\n{screen}",
            WINDOWS_S[w]
        );
    }
    fx.app.window = 2;
    insta::assert_snapshot!("zoom_throughput_window_5m_120x36", draw(&fx.app, 120, 36).backend());
}

/// The help overlay draws over the panes, titled with how to close it.
#[test]
fn help_overlay_draws_over_the_panes() {
    let mut fx = live();
    fx.app.help = true;
    let t = draw(&fx.app, 120, 36);
    assert!(text(&t).contains("Keys (? or Esc closes)"));
    insta::assert_snapshot!("help_120x36", t.backend());
}

/// At 80x24 and at the minimum size the help is one column, a key a line,
/// that scrolls (PgDn to its end) with its position in the title: every
/// description shows whole on some page, none cut off.
#[test]
fn help_is_one_column_that_scrolls_with_every_description_whole() {
    for (w, h) in [(80, 24), (MIN_WIDTH, MIN_HEIGHT)] {
        let (mut app, _p) = bare_app(Mode::Live { seed: SEED });
        on_key(&mut app, key('?'));
        let first = draw(&app, w, h);
        let top = text(&first);
        assert!(top.contains("Keys (? or Esc closes)"), "{w}x{h}:\n{top}");
        assert!(
            top.contains(&format!("of {}", BINDINGS.len())),
            "{w}x{h}: no position\n{top}"
        );
        insta::assert_snapshot!(format!("help_{w}x{h}"), first.backend());
        let mut pages = vec![top];
        for _ in 0..BINDINGS.len() {
            on_key(&mut app, press(KeyCode::PageDown, KeyModifiers::NONE));
            pages.push(text(&draw(&app, w, h)));
        }
        let last = pages.last().expect("pages");
        assert!(
            last.contains(&format!("-{n} of {n}", n = BINDINGS.len())),
            "{w}x{h}: PgDn did not reach the end\n{last}"
        );
        for b in BINDINGS {
            assert!(
                pages
                    .iter()
                    .any(|p| p.contains(&format!("{:>11}  {}", b.label, b.help))),
                "{w}x{h}: {:?} never shown whole",
                b.help
            );
        }
        on_key(&mut app, press(KeyCode::Home, KeyModifiers::NONE));
        assert!(text(&draw(&app, w, h)).contains(" 1-"), "{w}x{h}: Home");
    }
}

/// While the help is open, only scrolling, closing and quitting keys do
/// anything: the others neither change the UI nor reach the pipeline.
#[test]
fn while_help_is_open_other_keys_do_nothing() {
    let (mut app, _p) = bare_app(Mode::Live { seed: SEED });
    on_key(&mut app, key('?'));
    for b in BINDINGS {
        let scrolls = matches!(b.action, Action::Scroll(_));
        if scrolls || matches!(b.action, Action::Quit | Action::Back | Action::ToggleHelp) {
            continue;
        }
        assert_eq!(
            app.on_action(b.action),
            Effect::None,
            "{} acted under the help",
            b.label
        );
    }
    assert_eq!(
        (app.focus, app.zoom, app.frozen, app.window, app.help),
        (0, false, false, 1, true)
    );
    assert!(app.flash.is_none(), "{:?}", app.flash);
    assert_eq!(on_key(&mut app, key('?')), Effect::Redraw);
    assert!(!app.help);
}

/// Every help line is shown whole on a wide screen (nothing cut off).
#[test]
fn help_overlay_shows_every_help_line_whole_on_a_wide_screen() {
    let mut fx = live();
    fx.app.help = true;
    let screen = text(&draw(&fx.app, 200, 60));
    for b in BINDINGS {
        assert!(screen.contains(b.help), "{:?} cut off:\n{screen}", b.help);
    }
}

/// In replay only the keys marked `in_replay` are listed in help.
#[test]
fn help_overlay_in_replay_lists_only_replay_keys() {
    // An app with no data, so the panes under the overlay stay quiet.
    let (mut app, _p) = bare_app(replay_mode());
    app.help = true;
    let screen = text(&draw(&app, 200, 60));
    for b in BINDINGS {
        let shown = screen.contains(&format!("{:>11}  ", b.label));
        assert_eq!(shown, b.in_replay, "{} in replay help", b.label);
    }
}

/// Below 60x16 the screen is one line saying what size is needed (a short form when the full one does not fit).
#[test]
fn too_small_terminal_asks_for_60x16() {
    let fx = live();
    let t = draw(&fx.app, 59, 16);
    assert_eq!(
        rows(&t)[0].trim_end(),
        "terminal too small: 59x16 (need at least 60x16)"
    );
    insta::assert_snapshot!("too_small_59x16", t.backend());
    let t = draw(&fx.app, 60, 15);
    assert!(rows(&t)[0].starts_with("terminal too small: 60x15"));
    insta::assert_snapshot!("too_small_20x6", draw(&fx.app, 20, 6).backend());
    insta::assert_snapshot!("too_small_1x1", draw(&fx.app, 1, 1).backend());
}

/// The header keeps the seed and the elapsed clock at every width the
/// layout draws (lower-priority segments such as the service give way).
#[test]
fn header_keeps_seed_and_clock_at_every_width() {
    for mode in [Mode::Live { seed: SEED }, replay_mode()] {
        let fx = fixture(Setup {
            mode: mode.clone(),
            ..Setup::default()
        });
        let lost: Vec<u16> = (MIN_WIDTH..=200)
            .filter(|w| !rows(&draw(&fx.app, *w, MIN_HEIGHT))[0].contains("seed 1  00:00:12"))
            .collect();
        assert!(lost.is_empty(), "{mode:?}: no seed/clock at widths {lost:?}");
    }
}

/// A replay shows REPLAY with position/length in the header, and a refused
/// key's flash message on the line under it.
#[test]
fn replay_header_and_refusal_flash() {
    let mut fx = fixture(Setup {
        mode: replay_mode(),
        ..Setup::default()
    });
    let before = rows(&draw(&fx.app, 120, 36));
    assert_eq!(fx.app.on_action(key_action('+')), Effect::Redraw);
    let t = draw(&fx.app, 120, 36);
    let r = rows(&t);
    assert!(r[0].contains("REPLAY 00:00:12/00:01:00"), "{}", r[0]);
    assert!(r[35].contains("not available while replaying a recording"), "{}", r[35]);
    assert_eq!(r[..35], before[..35], "the flash moved the panes");
    insta::assert_snapshot!("replay_flash_120x36", t.backend());
}

/// A flash message takes the footer's line while it lasts: the panes keep
/// their places at every size, zoomed or not.
#[test]
fn a_flash_message_does_not_move_the_panes() {
    let (mut app, _p) = bare_app(Mode::Live { seed: SEED });
    for (w, h) in [(MIN_WIDTH, MIN_HEIGHT), (80, 24), (120, 36), (200, 60)] {
        for zoom in [false, true] {
            app.zoom = zoom;
            app.flash = None;
            let screen = Rect::new(0, 0, w, h);
            let (areas, before) = (app.layout(screen), rows(&draw(&app, w, h)));
            app.flash("a message");
            assert_eq!(app.layout(screen), areas, "{w}x{h}");
            let after = rows(&draw(&app, w, h));
            let last = h as usize - 1;
            assert_eq!(after[..last], before[..last], "{w}x{h}");
            assert!(after[last].contains("a message"), "{w}x{h}: {}", after[last]);
        }
    }
}

// ---------------------------------------------------------------------------
// Snapshots: slow subscribers and evictions
// ---------------------------------------------------------------------------

/// A subscriber that never receives is evicted under the drop policy; its row
/// stays, reading EVICTED with the count and reason, and the pane's title
/// counts the eviction.
#[test]
fn evicted_slow_subscriber_row_reads_evicted_with_reason() {
    let mut fx = with_slow_subscriber();
    let slow = fx
        .broadcaster
        .stats()
        .into_iter()
        .find(|s| s.name == "slow-1")
        .expect("slow-1 listed");
    assert_eq!(slow.state, SubscriberState::Evicted);
    zoomed(&mut fx, PaneId::Subscribers);
    let t = draw(&fx.app, 120, 36);
    let row = rows(&t).into_iter().find(|r| r.contains("slow-1")).expect("slow-1 row");
    assert!(row.contains("EVICTED"), "{row}");
    assert!(row.contains("1 (losing for 2s)"), "{row}");
    assert!(rows(&t)[1].contains("6 live, 1 evicted"), "{}", rows(&t)[1]);
    insta::assert_snapshot!("slow_subscribers_zoom_120x36", t.backend());
}

/// The Events pane logs the slow subscriber's lagging and its eviction, by name.
#[test]
fn events_pane_logs_the_slow_subscribers_eviction() {
    let mut fx = with_slow_subscriber();
    zoomed(&mut fx, PaneId::Events);
    let t = draw(&fx.app, 120, 36);
    let screen = text(&t);
    assert!(screen.contains("slow-1 evicted: losing for 2s,"), "{screen}");
    assert!(screen.contains("slow-1 lagging: losing its oldest events"), "{screen}");
    insta::assert_snapshot!("slow_events_zoom_120x36", t.backend());
}

/// When the UI stalls so long that its panes' queues overflow, each pane is
/// evicted, resubscribes at once, and says so in its bottom border; the
/// screen still draws.
#[test]
fn panes_that_fall_behind_are_evicted_and_say_so_in_their_border() {
    let fx = fixture(Setup {
        eviction: EvictionPolicy::default(),
        ui_stalled: true,
        ..Setup::default()
    });
    let published = fx.broadcaster.publisher_stats().events;
    assert!(
        published > PANE_CAPACITY as u64,
        "{published} events fit a pane's queue"
    );
    let t = draw(&fx.app, 120, 36);
    let screen = text(&t);
    assert_eq!(screen.matches("evicted 1×, lost").count(), 5, "{screen}");
    // The Events pane was evicted in the same check and missed the notices:
    // the evictions are logged from the feeds, by name, once each.
    for pane in ["header", "throughput", "latency", "subscribers", "workers", "events"] {
        assert_eq!(screen.matches(&format!("{pane} evicted: lost")).count(), 1, "{screen}");
    }
    insta::assert_snapshot!("panes_evicted_120x36", t.backend());
}

// ---------------------------------------------------------------------------
// No size makes anything panic
// ---------------------------------------------------------------------------

/// Draws `f` at every size up to 70x20 and lists the sizes that panicked.
fn panics_at_small_sizes(mut f: impl FnMut(u16, u16)) -> Vec<(u16, u16)> {
    let mut failed = Vec::new();
    for w in 0..=70 {
        for h in 0..=20 {
            if catch_unwind(AssertUnwindSafe(|| f(w, h))).is_err() {
                failed.push((w, h));
            }
        }
    }
    failed
}

/// The app draws at every size from 0x0 to 70x20 — unzoomed, zoomed on each
/// pane, and with help open — without panicking.
#[test]
fn app_draws_at_every_small_size_without_panicking() {
    let mut fx = with_slow_subscriber();
    let mut states: Vec<(usize, bool, bool)> = vec![(0, false, false), (2, false, true)];
    states.extend((0..PaneId::ALL.len()).map(|i| (i, true, false)));
    for (focus, zoom, help) in states {
        fx.app.focus = focus;
        fx.app.zoom = zoom;
        fx.app.help = help;
        let app = &fx.app;
        let failed = panics_at_small_sizes(|w, h| {
            draw(app, w, h);
        });
        assert!(
            failed.is_empty(),
            "focus {focus} zoom {zoom} help {help}: panicked at {failed:?}"
        );
    }
}

/// Views built from the fixture's stream, for drawing panes directly.
struct Views {
    header: HeaderView,
    throughput: ThroughputView,
    latency: LatencyView,
    subscribers: SubscribersView,
    workers: WorkersView,
    events: EventsView,
    fanout: Fanout,
}

fn views(fx: &Fixture) -> Views {
    fn built<V: View + Default>(events: &[Event]) -> V {
        let mut v = V::default();
        events.iter().for_each(|e| v.apply(e));
        v.settle();
        v
    }
    let events = events();
    Views {
        header: built(events),
        throughput: built(events),
        latency: built(events),
        subscribers: built(events),
        workers: built(events),
        events: built(events),
        fanout: {
            let mut f = Fanout::default();
            f.publisher = fx.broadcaster.publisher_stats();
            f.events_per_s = 123_456.0;
            f.ns_per_event = 78.0;
            f.set_subscribers(fx.broadcaster.stats());
            f
        },
    }
}

/// The six things drawn directly: the five panes and the header line.
#[derive(Clone, Copy, Debug)]
enum Part {
    Throughput,
    Latency,
    Subscribers,
    Workers,
    Events,
    Header,
}

/// Draws one part into `area` of a `w`x`h` screen: focused, with an
/// eviction note in its border, and a long replay state in the header.
fn render_part(v: &Views, part: Part, window_s: u64, clock_now: Nanos, w: u16, h: u16, area: Rect) {
    let ctx = Ctx {
        theme: Theme::COLOR,
        window_s,
        fanout: &v.fanout,
        clock_now,
        step_labels: &[],
        scrolls: &Scrolls::default(),
        log_latency: false,
    };
    let frame = panes::Frame {
        focused: true,
        evictions: 3,
        lost: 1_234_567,
        missed: 6_700_000,
    };
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("test backend");
    t.draw(|f| match part {
        Part::Throughput => panes::throughput::render(&v.throughput, &ctx, frame, f, area),
        Part::Latency => panes::latency::render(&v.latency, &ctx, frame, f, area),
        Part::Subscribers => panes::subscribers::render(&v.subscribers, &ctx, frame, f, area),
        Part::Workers => panes::workers::render(&v.workers, &ctx, frame, f, area),
        Part::Events => panes::events::render(&v.events, &ctx, frame, f, area),
        Part::Header => {
            let state = RunState::Replay {
                position: 5 * SECONDS,
                length: 60 * SECONDS,
                paused: true,
                ended: false,
            };
            let info = HeaderInfo {
                state,
                seed: Some(u64::MAX),
                collector_lost: 1_234_567,
                rec_failed: false,
            };
            header::render(&v.header, &info, Theme::COLOR, f, area)
        }
    })
    .expect("draw");
}

/// Renders `part` into every area from 0x0 to 70x20 (placed off the
/// origin) and fails with the sizes that panicked.
fn part_renders_at_every_small_size(part: Part) {
    let fx = with_slow_subscriber();
    let v = views(&fx);
    let window_s = WINDOWS_S[1];
    let failed = panics_at_small_sizes(|w, h| {
        render_part(&v, part, window_s, fx.clock.now(), w + 2, h + 2, Rect::new(1, 1, w, h))
    });
    assert!(failed.is_empty(), "{part:?} panicked at {failed:?}");
}

/// The Throughput pane draws into any area up to 70x20 without panicking —
/// below the app's 60x16 guard too. (Likewise for the tests below.)
#[test]
fn throughput_pane_renders_at_every_small_size() {
    part_renders_at_every_small_size(Part::Throughput);
}

/// The Latency pane draws into any area up to 70x20 without panicking.
#[test]
fn latency_pane_renders_at_every_small_size() {
    part_renders_at_every_small_size(Part::Latency);
}

/// The Subscribers pane draws into any area up to 70x20 without panicking.
#[test]
fn subscribers_pane_renders_at_every_small_size() {
    part_renders_at_every_small_size(Part::Subscribers);
}

/// The Workers pane draws into any area up to 70x20 without panicking.
#[test]
fn workers_pane_renders_at_every_small_size() {
    part_renders_at_every_small_size(Part::Workers);
}

/// The Events pane draws into any area up to 70x20 without panicking.
#[test]
fn events_pane_renders_at_every_small_size() {
    part_renders_at_every_small_size(Part::Events);
}

/// The header line draws into any area up to 70x20 without panicking.
#[test]
fn header_renders_at_every_small_size() {
    part_renders_at_every_small_size(Part::Header);
}

/// Any part, in any chart window, at a random area anywhere on a random
/// screen up to 300x100, draws without panicking.
#[test]
fn parts_render_at_random_areas_and_windows_without_panicking() {
    let fx = with_slow_subscriber();
    let v = views(&fx);
    let parts = [
        Part::Throughput,
        Part::Latency,
        Part::Subscribers,
        Part::Workers,
        Part::Events,
        Part::Header,
    ];
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let cases = (
        0usize..6,
        0usize..3,
        1u16..300,
        1u16..100,
        any::<(u16, u16, u16, u16)>(),
    );
    runner
        .run(&cases, |(part, window, w, h, (x, y, aw, ah))| {
            let (x, y) = (x % w, y % h);
            let area = Rect::new(x, y, aw % (w - x + 1), ah % (h - y + 1));
            render_part(&v, parts[part], WINDOWS_S[window], fx.clock.now(), w, h, area);
            Ok(())
        })
        .unwrap();
}

/// Random sizes up to 400x150 and random focus, zoom, help, freeze and chart
/// window never make the app panic; below 60x16 the first row asks for more
/// room, and from 60x16 the footer offers help.
#[test]
fn app_draws_at_random_sizes_and_states_without_panicking() {
    let fx = RefCell::new(with_slow_subscriber());
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let states = (
        0u16..400,
        0u16..150,
        0usize..5,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        0usize..3,
    );
    runner
        .run(&states, |(w, h, focus, zoom, help, frozen, window)| {
            let mut fx = fx.borrow_mut();
            let app = &mut fx.app;
            (app.focus, app.zoom, app.help, app.frozen, app.window) = (focus, zoom, help, frozen, window);
            let t = draw(app, w, h);
            let rows = rows(&t);
            if w < MIN_WIDTH || h < MIN_HEIGHT {
                let first = rows.first().map_or("", String::as_str);
                prop_assert!(
                    w < 20 || h == 0 || first.starts_with("terminal too small: ") || first.starts_with("too small"),
                    "{first:?}"
                );
            } else {
                prop_assert!(rows[h as usize - 1].contains("? help"), "{:?}", rows[h as usize - 1]);
            }
            Ok(())
        })
        .unwrap();
}

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

fn press(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
    KeyEvent::new_with_kind(code, modifiers, KeyEventKind::Press)
}

fn key(c: char) -> KeyEvent {
    let shift = c.is_ascii_uppercase() || "+?".contains(c);
    press(
        KeyCode::Char(c),
        if shift { KeyModifiers::SHIFT } else { KeyModifiers::NONE },
    )
}

fn key_action(c: char) -> fantop::tui::keys::Action {
    binding_for(&key(c)).unwrap_or_else(|| panic!("{c:?} is bound")).action
}

/// What the app does with a key event, as the event loop would dispatch it.
fn on_key(app: &mut App, key: KeyEvent) -> Effect {
    binding_for(&key).map_or(Effect::None, |b| app.on_action(b.action))
}

fn bare_app(mode: Mode) -> (App, Publisher<Event>) {
    let (publisher, broadcaster) = broadcast::channel(BroadcastConfig::default(), Clock::manual());
    (
        App::new(&broadcaster, SnapshotReader::default(), Theme::MONO, mode),
        publisher,
    )
}

fn replay_mode() -> Mode {
    Mode::Replay {
        seed: Some(SEED),
        position: END,
        length: 60 * SECONDS,
        paused: false,
        ended: false,
    }
}

/// While live, each pipeline key returns its control action, and the slow
/// subscriber, recording, seek and quit keys return their effects.
#[test]
fn live_keys_return_their_effects() {
    let (mut app, _p) = bare_app(Mode::Live { seed: SEED });
    let none = KeyModifiers::NONE;
    let cases = [
        (key('+'), Effect::Control(Command::ScaleRate(1.25))),
        (key('='), Effect::Control(Command::ScaleRate(1.25))),
        (press(KeyCode::Up, none), Effect::Control(Command::ScaleRate(1.25))),
        (key('-'), Effect::Control(Command::ScaleRate(0.8))),
        (press(KeyCode::Down, none), Effect::Control(Command::ScaleRate(0.8))),
        (key(']'), Effect::Control(Command::AddWorkers(1))),
        (key('['), Effect::Control(Command::AddWorkers(-1))),
        (key('l'), Effect::Control(Command::ScaleService(1.5))),
        (key('L'), Effect::Control(Command::ScaleService(1.0 / 1.5))),
        (key('e'), Effect::Control(Command::AddErrorRate(0.01))),
        (key('E'), Effect::Control(Command::AddErrorRate(-0.01))),
        (
            key('b'),
            Effect::Control(Command::Burst {
                factor: BURST_FACTOR,
                duration: BURST_FOR,
            }),
        ),
        (key(' '), Effect::Control(Command::TogglePause)),
        (
            key('x'),
            Effect::Control(Command::Stall {
                worker: None,
                duration: STALL_FOR,
            }),
        ),
        (key('X'), Effect::Control(Command::Crash { worker: None })),
        (key('s'), Effect::AddSlowSubscriber),
        (key('S'), Effect::RemoveSlowSubscriber),
        (key('r'), Effect::ToggleRecording),
        (press(KeyCode::Left, none), Effect::Seek(-10)),
        (press(KeyCode::Right, none), Effect::Seek(10)),
        (key('q'), Effect::Quit),
        (press(KeyCode::Char('c'), KeyModifiers::CONTROL), Effect::Quit),
        (key('g'), Effect::None),
    ];
    for (k, effect) in cases {
        assert_eq!(on_key(&mut app, k), effect, "{k:?}");
        assert!(app.flash.is_none(), "{k:?} flashed {:?}", app.flash);
    }
}

/// Esc closes help first, then the zoom, and never quits: with nothing
/// open it says that q quits, and the next Esc dismisses that message.
#[test]
fn esc_closes_help_then_zoom_and_never_quits() {
    let (mut app, _p) = bare_app(Mode::Live { seed: SEED });
    let esc = press(KeyCode::Esc, KeyModifiers::NONE);
    assert_eq!(on_key(&mut app, key('z')), Effect::Redraw);
    assert_eq!(on_key(&mut app, key('?')), Effect::Redraw);
    assert!(app.zoom && app.help);
    assert_eq!(on_key(&mut app, esc), Effect::Redraw);
    assert!(app.zoom && !app.help);
    assert_eq!(on_key(&mut app, esc), Effect::Redraw);
    assert!(!app.zoom && !app.help);
    for _ in 0..3 {
        assert_eq!(on_key(&mut app, esc), Effect::Redraw);
        assert_eq!(
            app.flash.as_ref().map(|f| f.0.as_str()),
            Some("q quits (Esc closes help and zoom)")
        );
        assert_eq!(on_key(&mut app, esc), Effect::Redraw);
        assert!(app.flash.is_none());
    }
}

/// `q` quits at once, even with help and zoom open.
#[test]
fn q_quits_even_with_help_and_zoom_open() {
    let (mut app, _p) = bare_app(Mode::Live { seed: SEED });
    app.help = true;
    app.zoom = true;
    assert_eq!(on_key(&mut app, key('q')), Effect::Quit);
}

/// Tab visits all five panes in order and wraps; Shift-Tab (BackTab) goes
/// the other way and wraps too.
#[test]
fn tab_and_backtab_cycle_focus_through_all_five_panes_and_wrap() {
    let (mut app, _p) = bare_app(Mode::Live { seed: SEED });
    assert_eq!(app.focused(), PaneId::Throughput);
    let tab = press(KeyCode::Tab, KeyModifiers::NONE);
    let mut seen = Vec::new();
    for _ in 0..PaneId::ALL.len() {
        assert_eq!(on_key(&mut app, tab), Effect::Redraw);
        seen.push(app.focused());
    }
    use PaneId::*;
    assert_eq!(seen, [Latency, Subscribers, Workers, Events, Throughput]);
    for backtab in [
        press(KeyCode::BackTab, KeyModifiers::SHIFT),
        press(KeyCode::BackTab, KeyModifiers::NONE),
    ] {
        let mut seen = Vec::new();
        for _ in 0..PaneId::ALL.len() {
            assert_eq!(on_key(&mut app, backtab), Effect::Redraw);
            seen.push(app.focused());
        }
        assert_eq!(seen, [Events, Workers, Subscribers, Latency, Throughput]);
    }
}

/// `z` and Enter zoom the focused pane: it gets the whole body, the others
/// no room; pressing again unzooms.
#[test]
fn z_and_enter_toggle_zoom_of_the_focused_pane() {
    let (mut app, _p) = bare_app(Mode::Live { seed: SEED });
    let screen = Rect::new(0, 0, 120, 36);
    app.focus = 3;
    for k in [key('z'), press(KeyCode::Enter, KeyModifiers::NONE)] {
        assert_eq!(on_key(&mut app, k), Effect::Redraw);
        assert!(app.zoom);
        let areas = app.layout(screen);
        assert_eq!(areas.panes[3], Rect::new(0, 1, 120, 34));
        for (i, a) in areas.panes.iter().enumerate().filter(|(i, _)| *i != 3) {
            assert_eq!(a.area(), 0, "pane {i} visible while zoomed: {a:?}");
        }
        assert_eq!(on_key(&mut app, k), Effect::Redraw);
        assert!(!app.zoom);
    }
}

/// `t` cycles the chart window 1 min → 5 min → 30 s → 1 min.
#[test]
fn t_cycles_the_chart_window() {
    let (mut app, _p) = bare_app(Mode::Live { seed: SEED });
    let mut seen = vec![WINDOWS_S[app.window]];
    for _ in 0..WINDOWS_S.len() {
        assert_eq!(on_key(&mut app, key('t')), Effect::Redraw);
        seen.push(WINDOWS_S[app.window]);
    }
    assert_eq!(seen, [60, 300, 30, 60]);
}

/// `f` toggles the frozen flag, and the header says FROZEN while it is set.
#[test]
fn f_toggles_freeze_and_the_header_says_frozen() {
    let mut fx = live();
    assert!(rows(&draw(&fx.app, 120, 36))[0].contains("RUNNING"));
    assert_eq!(on_key(&mut fx.app, key('f')), Effect::Redraw);
    assert!(fx.app.frozen);
    let header = rows(&draw(&fx.app, 120, 36))[0].clone();
    assert!(header.contains("FROZEN") && !header.contains("RUNNING"), "{header}");
    assert_eq!(on_key(&mut fx.app, key('f')), Effect::Redraw);
    assert!(!fx.app.frozen);
}

/// While frozen, what is on screen does not change as events keep arriving.
#[test]
fn frozen_screen_does_not_change_when_more_events_arrive() {
    let mut fx = live();
    fx.app.set_frozen(true);
    let before = rows(&draw(&fx.app, 120, 36));
    let mut sim = Sim::new(SimConfig {
        seed: 99,
        rate: RATE,
        ..Default::default()
    });
    let mut more = Vec::new();
    sim.advance_until(2 * SECONDS, &mut more);
    for mut e in more {
        e.t += END;
        fx.publisher.publish(e);
    }
    fx.publisher.flush();
    fx.app.pump();
    assert_eq!(rows(&draw(&fx.app, 120, 36)), before);
}

/// Key releases and repeats do nothing at all (some terminals report them).
#[test]
fn key_releases_and_repeats_are_ignored() {
    let (mut app, _p) = bare_app(Mode::Live { seed: SEED });
    for kind in [KeyEventKind::Release, KeyEventKind::Repeat] {
        for c in ['+', 'q', 'f', 'z', '?', 't'] {
            let k = KeyEvent::new_with_kind(KeyCode::Char(c), KeyModifiers::NONE, kind);
            assert_eq!(on_key(&mut app, k), Effect::None, "{k:?}");
        }
        let tab = KeyEvent::new_with_kind(KeyCode::Tab, KeyModifiers::NONE, kind);
        assert_eq!(on_key(&mut app, tab), Effect::None);
    }
    assert_eq!(
        (app.focus, app.zoom, app.help, app.frozen, app.window),
        (0, false, false, false, 1)
    );
}

/// While replaying, a key that changes the live pipeline (rate, workers,
/// faults, recording) is refused: a flash message and a redraw, no control.
#[test]
fn replay_refuses_live_only_keys_with_a_flash() {
    let refused: Vec<_> = BINDINGS.iter().filter(|b| !b.in_replay).collect();
    assert!(refused.iter().any(|b| b.action == key_action('+')));
    for b in refused {
        let (mut app, _p) = bare_app(replay_mode());
        assert_eq!(app.on_action(b.action), Effect::Redraw, "{}", b.label);
        let (msg, _) = app
            .flash
            .as_ref()
            .unwrap_or_else(|| panic!("{} did not flash", b.label));
        assert_eq!(msg, "not available while replaying a recording");
    }
    let (mut app, _p) = bare_app(replay_mode());
    assert_eq!(on_key(&mut app, key('+')), Effect::Redraw);
    assert!(app.flash.is_some());
}

/// While replaying, the keys marked for replay still work as they do live
/// (space pauses playback, arrows seek, Tab focuses, q quits).
#[test]
fn replay_keeps_the_keys_marked_for_replay() {
    let (mut app, _p) = bare_app(replay_mode());
    let none = KeyModifiers::NONE;
    assert_eq!(on_key(&mut app, key(' ')), Effect::Control(Command::TogglePause));
    assert_eq!(on_key(&mut app, press(KeyCode::Left, none)), Effect::Seek(-10));
    assert_eq!(on_key(&mut app, press(KeyCode::Right, none)), Effect::Seek(10));
    assert_eq!(on_key(&mut app, key('s')), Effect::AddSlowSubscriber);
    assert_eq!(on_key(&mut app, press(KeyCode::Tab, none)), Effect::Redraw);
    assert_eq!(app.focus, 1);
    assert_eq!(on_key(&mut app, key('f')), Effect::Redraw);
    assert!(app.frozen);
    assert!(app.flash.is_none(), "{:?}", app.flash);
    assert_eq!(on_key(&mut app, key('q')), Effect::Quit);
}

/// A click focuses the pane under it; a click on the header focuses nothing.
#[test]
fn click_focuses_the_pane_under_it() {
    let (mut app, _p) = bare_app(Mode::Live { seed: SEED });
    let screen = Rect::new(0, 0, 120, 36);
    let areas = app.layout(screen);
    for (i, a) in areas.panes.iter().enumerate().rev() {
        assert_eq!(
            app.on_click(screen, a.x + a.width / 2, a.y + a.height / 2),
            Effect::Redraw
        );
        assert_eq!(app.focus, i);
    }
    assert_eq!(app.on_click(screen, 5, 0), Effect::None);
    assert!(areas.header.contains(Position::new(5, 0)));
}

// ---------------------------------------------------------------------------
// Footer
// ---------------------------------------------------------------------------

/// The footer never runs past the screen's width (from 7 columns, the width
/// of " ? help", up), and from 20 columns it always offers "? help"; hints
/// that do not fit are dropped from the end, `q quit` first to stay.
#[test]
fn footer_fits_every_width_and_always_offers_help() {
    for replay in [false, true] {
        for theme in [Theme::COLOR, Theme::MONO] {
            for width in 7..=400u16 {
                let line = footer_line(width, replay, theme);
                let s: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
                assert!(line.width() <= width as usize, "width {width}, replay {replay}: {s:?}");
                if width >= 20 {
                    assert!(s.contains("? help"), "width {width}, replay {replay}: {s:?}");
                    assert!(s.starts_with(" q quit"), "width {width}, replay {replay}: {s:?}");
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Panes recover the truth
// ---------------------------------------------------------------------------

/// The header row and the Workers pane's title row of a 120x36 screen.
fn header_and_workers_title(t: &Terminal<TestBackend>) -> (String, String) {
    let rows = rows(t);
    let title = rows.iter().find(|r| r.contains(" Workers ")).expect("a Workers pane");
    // The Workers pane's own title, not the Events pane's beside it.
    let title = title.split_inclusive('┐').next().unwrap_or_default().to_string();
    (rows[0].clone(), title)
}

/// A UI that keeps up shows no loss flag in any border.
#[test]
fn a_pane_with_no_loss_shows_no_flag() {
    let fx = live();
    let screen = text(&draw(&fx.app, 120, 36));
    assert!(!screen.contains("⚠ missed") && !screen.contains('⚠'), "{screen}");
}

/// A stalled UI whose panes lost the oldest events (the settings
/// announcements among them) shows, once resynchronised from the collector's
/// snapshot, the same header and Workers title as a UI that kept up, and
/// its borders flag the loss.
#[test]
fn panes_that_lost_events_resync_to_the_snapshots_settings() {
    let kept_up = live();
    let stalled = fixture(Setup {
        ui_stalled: true,
        collector: true,
        ..Setup::default()
    });
    let panes_dropped = stalled
        .broadcaster
        .stats()
        .iter()
        .filter(|s| s.name != "collector" && (s.dropped > 0 || s.evictions > 0))
        .count();
    assert_eq!(panes_dropped, 6, "the header and every pane lost events");
    let (want, got) = (draw(&kept_up.app, 120, 36), draw(&stalled.app, 120, 36));
    let (header, workers) = header_and_workers_title(&got);
    assert!(header.contains("rate 2,500/s  workers 10"), "{header}");
    assert_eq!((header, workers), header_and_workers_title(&want));
    // Under the health rule a UI stalled this long is evicted: either flag says so.
    let flagged = |t: &str| t.contains("⚠ missed ") || t.contains("⚠ evicted ");
    assert!(flagged(&text(&got)), "{}", text(&got));
}

/// Seconds a stalled Throughput pane lost events in are replaced by the
/// collector's counts: its figures and chart read as if it had kept up, and
/// only its border differs (it flags the loss).
#[test]
fn throughput_seconds_with_a_loss_take_the_collectors_counts() {
    let mut kept_up = live();
    let mut stalled = fixture(Setup {
        ui_stalled: true,
        collector: true,
        ..Setup::default()
    });
    zoomed(&mut kept_up, PaneId::Throughput);
    zoomed(&mut stalled, PaneId::Throughput);
    let (want, got) = (rows(&draw(&kept_up.app, 120, 36)), rows(&draw(&stalled.app, 120, 36)));
    // Between the header and the bottom border.
    assert_eq!(got[1..34], want[1..34]);
    assert!(
        got[34].contains("⚠ missed ") || got[34].contains("⚠ evicted "),
        "{}",
        got[34]
    );
}

/// The TUI at `--rate 1000000 --workers 8`, on the real pipeline stepped in
/// 25 ms of simulated time, with the collector polled at each step and the
/// panes pumped once per 50 ms frame (they cannot keep up: a frame brings
/// about 115,000 events to their 65,536-event queues): the header shows the
/// rate and workers set, the Workers title 8 workers, and borders the loss.
#[test]
fn at_a_million_requests_per_second_the_screen_shows_what_is_set() {
    use fantop::pipeline::{Pace, PipelineOptions, Stepper};
    let clock = Clock::manual();
    let (publisher, broadcaster) = broadcast::channel(BroadcastConfig::default(), clock.clone());
    let mut collector = Fold::new(&broadcaster, CollectorOptions::default().subscribe);
    let mut app = App::new(&broadcaster, collector.reader(), Theme::MONO, Mode::Live { seed: 14 });
    let sim = SimConfig {
        seed: 14,
        rate: 1_000_000.0,
        workers: 8,
        ..SimConfig::default()
    };
    let mut stepper = Stepper::new(PipelineOptions::new(sim, Pace::Fast), publisher, clock.clone(), None);
    for step in 1..=48u64 {
        let t = step * 25 * MILLIS;
        clock.set(t);
        let _ = stepper.advance(t);
        stepper.flush();
        collector.poll().expect("the stream is open");
        if step % 10 == 0 {
            collector.publish();
        }
        if step % 2 == 0 {
            app.pump();
        }
    }
    let panes_dropped = broadcaster.stats().iter().filter(|s| s.dropped > 0).count();
    assert_eq!(panes_dropped, 6, "the header and every pane fell behind");
    let t = draw(&app, 120, 36);
    let (header, workers) = header_and_workers_title(&t);
    assert!(header.contains("rate 1,000,000/s  workers 8"), "{header}");
    assert!(!header.contains("collector missed"), "{header}");
    assert!(workers.contains(" Workers 8: 8 busy "), "{workers}");
    assert!(text(&t).contains("⚠ missed "), "{}", text(&t));
}

/// When the collector itself lost events (it fell a full queue behind), the
/// header says how many: every figure is then incomplete.
#[test]
fn header_says_when_the_collector_lost_events() {
    let (mut publisher, broadcaster) = broadcast::channel(BroadcastConfig::default(), Clock::manual());
    let mut collector = Fold::new(&broadcaster, CollectorOptions::default().subscribe);
    let mut app = App::new(&broadcaster, collector.reader(), Theme::MONO, Mode::Live { seed: SEED });
    let mut sim = Sim::new(SimConfig {
        seed: SEED,
        rate: 200_000.0,
        ..Default::default()
    });
    let mut events = Vec::new();
    sim.advance_until(SECONDS, &mut events);
    assert!(
        events.len() > broadcast::DEFAULT_RING_CAPACITY,
        "{} events",
        events.len()
    );
    publisher.publish_all(&events);
    publisher.flush();
    collector.poll().expect("the stream is open");
    collector.publish();
    app.pump();
    let lost = collector.reader().load().lost_events;
    assert!(lost > 0);
    let header = rows(&draw(&app, 200, 36))[0].clone();
    assert!(
        header.contains(&format!("⚠ collector missed {} events", fantop::format::count(lost))),
        "{header}"
    );
}

// ---------------------------------------------------------------------------
// Under saturation: a full pool, long lists, limits
// ---------------------------------------------------------------------------

/// The fixture with the pool at its limit, 1,024 workers (w1 stalled and w6
/// crashed at the end, as in every fixture).
fn full_pool() -> Fixture {
    fixture(Setup {
        workers: 1024,
        ..Setup::default()
    })
}

/// The Workers pane's title row and the text of its grid rows.
fn workers_pane(t: &Terminal<TestBackend>) -> (String, Vec<String>) {
    let rows = rows(t);
    let i = rows
        .iter()
        .position(|r| r.contains(" Workers "))
        .expect("a Workers pane");
    let x = rows[i].find('┌').expect("its corner") + '┌'.len_utf8();
    let left = |r: &String| -> String {
        let from = r.get(..x).map_or(0, |p| p.chars().count());
        let w = rows[i][x..].chars().take_while(|c| *c != '┐').count();
        r.chars().skip(from).take(w).collect()
    };
    let grid = rows[i + 1..]
        .iter()
        .take_while(|r| !r.contains('└'))
        .map(left)
        .collect();
    (rows[i].clone(), grid)
}

/// The cells of a worker grid, in reading order: (`w12`, symbol).
fn worker_cells(grid: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in grid {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        for (i, tok) in tokens.iter().enumerate() {
            if tok.starts_with('w') {
                let sym = tokens.get(i + 1).copied().unwrap_or_default();
                out.push((tok.to_string(), sym.to_string()));
            }
        }
    }
    out
}

/// The view the Workers pane builds from the fixture's stream.
fn workers_view(workers: u16) -> WorkersView {
    let mut v = WorkersView::default();
    for e in scripted_events(RATE, workers) {
        v.apply(&e);
    }
    v
}

/// With 1,024 workers every faulted worker is in view: stalled and crashed
/// first, then busy, then idle; the title counts each state; each cell
/// keeps a space between the id and the state symbol (no `w100○`), at
/// 120x36 and at 80x24. A pool that fits stays in id order.
#[test]
fn a_full_pool_shows_faulted_workers_first_and_counts_each_state() {
    let fx = full_pool();
    let tally = workers_view(1024).tally();
    assert_eq!((tally.shown, tally.stalled, tally.crashed), (1024, 1, 1), "{tally:?}");
    for (w, h, counts) in [
        (120, 36, format!("1,024: {} busy, 1 stalled, 1 crashed", tally.busy)),
        (80, 24, format!("1,024: {}● 1◌ 1✖", tally.busy)),
    ] {
        let t = draw(&fx.app, w, h);
        let (title, grid) = workers_pane(&t);
        assert!(title.contains(&counts), "{w}x{h}: {title}");
        let cells = worker_cells(&grid);
        let shown = cells.len();
        assert!(
            title.contains(&format!(" 1-{shown} of 1,024 ")) || title.contains(&format!(" 1-{shown}/1,024 ")),
            "{w}x{h}: {title}"
        );
        let rank = |sym: &str| ["◌", "✖", "●", "○"].iter().position(|s| *s == sym);
        assert!(
            cells.iter().all(|(_, sym)| rank(sym).is_some()),
            "{w}x{h}: an id runs into its symbol: {cells:?}"
        );
        assert_eq!(cells[0], ("w1".into(), "◌".into()), "{w}x{h}: {cells:?}");
        assert_eq!(cells[1], ("w6".into(), "✖".into()), "{w}x{h}: {cells:?}");
        let ranks: Vec<usize> = cells.iter().filter_map(|(_, s)| rank(s)).collect();
        assert!(ranks.is_sorted(), "{w}x{h}: not faulted, busy, idle: {cells:?}");
        insta::assert_snapshot!(format!("workers_1024_{w}x{h}"), t.backend());
    }
    // A pool that fits is listed by id: each worker keeps its place.
    let (_, grid) = workers_pane(&draw(&live().app, 120, 36));
    let ids: Vec<String> = worker_cells(&grid).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, (0..10).map(|i| format!("w{i}")).collect::<Vec<_>>());
}

/// The focused Workers pane scrolls with j/k, PgDn/PgUp, Home/End, and its
/// title says which workers are in view; End reaches the last worker.
#[test]
fn the_workers_pane_scrolls_through_a_full_pool() {
    let mut fx = full_pool();
    fx.app.focus = 3;
    let title = |app: &App| workers_pane(&draw(app, 120, 36)).0;
    // Three cells a row, nine rows: 27 workers a page.
    assert!(title(&fx.app).contains(" 1-27 of 1,024 "), "{}", title(&fx.app));
    let none = KeyModifiers::NONE;
    for (k, at) in [
        (key('j'), " 4-30 of 1,024 "),
        (press(KeyCode::PageDown, none), " 31-57 of 1,024 "),
        (key('k'), " 28-54 of 1,024 "),
        (press(KeyCode::PageUp, none), " 1-27 of 1,024 "),
        (press(KeyCode::End, none), " 1,000-1,024 of 1,024 "),
    ] {
        assert_eq!(on_key(&mut fx.app, k), Effect::Redraw, "{k:?}");
        assert!(title(&fx.app).contains(at), "{k:?}: {}", title(&fx.app));
    }
    let (_, grid) = workers_pane(&draw(&fx.app, 120, 36));
    assert!(worker_cells(&grid).iter().any(|(id, _)| id == "w1023"), "{grid:?}");
    assert_eq!(
        on_key(&mut fx.app, press(KeyCode::End, none)),
        Effect::None,
        "already at the end"
    );
    assert_eq!(on_key(&mut fx.app, press(KeyCode::Home, none)), Effect::Redraw);
    assert!(title(&fx.app).contains(" 1-27 of 1,024 "));
}

/// A bare app that has logged `n` notable events (a stall or a recovery
/// of worker `i % 1000` at second `i + 1`, for i in 0..n).
fn app_with_notables(n: u64) -> (App, Publisher<Event>) {
    let (mut app, mut p) = bare_app(Mode::Live { seed: SEED });
    for i in 0..n {
        let worker = (i % 1000) as u16;
        let kind = if i % 2 == 0 {
            EventKind::WorkerStalled { worker }
        } else {
            EventKind::WorkerRecovered { worker }
        };
        p.publish(Event::new((i + 1) * SECONDS, kind));
    }
    p.flush();
    app.pump();
    (app, p)
}

/// The Events pane scrolls through all 200 entries it keeps (its bound),
/// down to the oldest, with its position in the title.
#[test]
fn the_events_pane_scrolls_through_all_200_entries() {
    let (mut app, _p) = app_with_notables(300);
    app.focus = 4;
    let screen = text(&draw(&app, 120, 36));
    assert!(screen.contains(" 1-9 of 200 "), "{screen}");
    assert!(screen.contains("00:05:00 w299 recovered"), "{screen}");
    assert_eq!(
        on_key(&mut app, press(KeyCode::End, KeyModifiers::NONE)),
        Effect::Redraw
    );
    let screen = text(&draw(&app, 120, 36));
    assert!(screen.contains(" 192-200 of 200 "), "{screen}");
    // The oldest entry kept: the 101st event (w100 stalled at 101 s).
    assert!(screen.contains("00:01:41 w100 stalled"), "{screen}");
    assert!(!screen.contains("00:01:40 "), "{screen}");
}

/// The Subscribers pane scrolls through more subscribers than fit, to the
/// newest.
#[test]
fn the_subscribers_pane_scrolls_to_the_last_subscriber() {
    let (publisher, broadcaster) = broadcast::channel(BroadcastConfig::default(), Clock::manual());
    let mut app = App::new(
        &broadcaster,
        SnapshotReader::default(),
        Theme::MONO,
        Mode::Live { seed: SEED },
    );
    let extra: Vec<_> = (1..=30).map(|i| broadcaster.subscribe(format!("extra-{i}"))).collect();
    app.pump();
    let total = broadcaster.stats().len();
    app.focus = 2;
    let screen = text(&draw(&app, 120, 36));
    assert!(screen.contains(&format!(" 1-10 of {total} ")), "{screen}");
    assert!(!screen.contains("extra-30"), "{screen}");
    assert_eq!(
        on_key(&mut app, press(KeyCode::End, KeyModifiers::NONE)),
        Effect::Redraw
    );
    let screen = text(&draw(&app, 120, 36));
    assert!(screen.contains(&format!("-{total} of {total} ")), "{screen}");
    assert!(screen.contains("extra-30"), "{screen}");
    drop((extra, publisher));
}

/// The mouse wheel scrolls the list under the pointer, focused or not, and
/// does nothing over a chart; with the help open it scrolls the help.
#[test]
fn the_wheel_scrolls_the_list_under_the_pointer() {
    let (mut app, _p) = app_with_notables(300);
    let screen = Rect::new(0, 0, 120, 36);
    draw(&app, 120, 36);
    let areas = app.layout(screen);
    let (events, chart) = (areas.panes[4], areas.panes[0]);
    assert_eq!(app.focus, 0, "the Throughput pane is focused");
    assert_eq!(app.on_wheel(screen, events.x + 3, events.y + 3, true), Effect::Redraw);
    assert!(text(&draw(&app, 120, 36)).contains(" 4-12 of 200 "));
    assert_eq!(app.on_wheel(screen, events.x + 3, events.y + 3, false), Effect::Redraw);
    assert!(text(&draw(&app, 120, 36)).contains(" 1-9 of 200 "));
    assert_eq!(app.on_wheel(screen, chart.x + 3, chart.y + 3, true), Effect::None);
    assert_eq!(app.focus, 0, "the wheel does not move the focus");
    app.help = true;
    draw(&app, 80, 24);
    assert_eq!(app.on_wheel(screen, 1, 1, true), Effect::Redraw);
    assert!(text(&draw(&app, 80, 24)).contains(&format!(" 4-23 of {} ", BINDINGS.len())));
}

/// A scroll key with a chart focused says which panes scroll.
#[test]
fn a_scroll_key_on_a_chart_says_which_panes_scroll() {
    let (mut app, _p) = bare_app(Mode::Live { seed: SEED });
    assert_eq!(on_key(&mut app, key('j')), Effect::Redraw);
    let (msg, _) = app.flash.as_ref().expect("a message");
    assert!(msg.contains("Subscribers, Workers and Events"), "{msg}");
}

/// A bare app whose header knows these settings (announced at 0 s).
fn app_with_settings(changes: &[LoadChange]) -> (App, Publisher<Event>) {
    let (mut app, mut p) = bare_app(Mode::Live { seed: SEED });
    for change in changes {
        p.publish(Event::new(0, EventKind::LoadChanged { change: *change }));
    }
    p.flush();
    app.pump();
    (app, p)
}

/// A step key at its limit still sends its (clamped, no-op) step, and says
/// in one line that it is at the limit; a step that changes something says
/// nothing.
#[test]
fn a_step_at_its_limit_says_so() {
    let at_limits = [
        LoadChange::Rate { per_s: MIN_STEP_RATE },
        LoadChange::Workers { count: 1 },
        LoadChange::Service {
            dist: ServiceDist::LogNormal {
                median_ns: 6 * SECONDS,
                p99_ns: MAX_STEP_SERVICE,
            },
        },
        LoadChange::ErrorRate { fraction: 0.0 },
    ];
    let (mut app, _p) = app_with_settings(&at_limits);
    for (k, said) in [
        ('-', "rate already at its lowest step, 0.1/s"),
        ('[', "already 1 worker, the fewest (space pauses arrivals)"),
        ('E', "error rate already 0%"),
        ('l', "service time already at its longest: 1m00s is the most"),
    ] {
        app.flash = None;
        assert_eq!(on_key(&mut app, key(k)), Effect::Control(key_command(k)), "{k}");
        assert_eq!(app.flash.as_ref().map(|f| f.0.as_str()), Some(said), "{k}");
    }
    for k in ['+', ']', 'e', 'L'] {
        app.flash = None;
        assert_eq!(on_key(&mut app, key(k)), Effect::Control(key_command(k)), "{k}");
        assert!(app.flash.is_none(), "{k} flashed {:?}", app.flash);
    }
    let (mut app, _p) = app_with_settings(&[
        LoadChange::Rate { per_s: MAX_RATE },
        LoadChange::Workers { count: MAX_WORKERS },
    ]);
    on_key(&mut app, key('+'));
    assert_eq!(
        app.flash.as_ref().map(|f| f.0.as_str()),
        Some("rate already at its highest, 100,000,000/s")
    );
    on_key(&mut app, key(']'));
    assert_eq!(
        app.flash.as_ref().map(|f| f.0.as_str()),
        Some("already 1,024 workers, the most")
    );
}

fn key_command(c: char) -> Command {
    match key_action(c) {
        Action::Control(cmd) => cmd,
        other => panic!("{c:?} is {other:?}"),
    }
}

/// A rate below 1/s reads with its decimals in the header and the Events
/// log (not `0/s`).
#[test]
fn rates_below_one_per_second_show_their_decimals() {
    let (mut app, mut p) = app_with_settings(&[LoadChange::Rate { per_s: 2.0 }]);
    p.publish(Event::new(
        SECONDS,
        EventKind::LoadChanged {
            change: LoadChange::Rate { per_s: 0.5 },
        },
    ));
    p.flush();
    app.pump();
    let screen = draw(&app, 120, 36);
    assert!(rows(&screen)[0].contains("rate 0.5/s"), "{}", rows(&screen)[0]);
    assert!(text(&screen).contains("rate set to 0.5/s"), "{}", text(&screen));
}

/// A loop driver that carries out nothing.
struct NoDriver;

impl Driver for NoDriver {
    fn effect(&mut self, _app: &mut App, _effect: Effect) {}
}

/// At one frame a second, a key's effect is drawn at once: the loop,
/// handed `?` and then `q`, has drawn the help before it quits — without
/// a frame tick in between (the first comes a second after the start).
#[test]
fn a_key_is_drawn_at_once_whatever_the_frame_rate() {
    let (mut app, _p) = bare_app(Mode::Live { seed: SEED });
    let (tx, rx) = crossbeam_channel::unbounded();
    for c in ['?', 'q'] {
        tx.send(Input::Key(key(c))).expect("queued");
    }
    let io = LoopIo {
        input: rx,
        signals: crossbeam_channel::never(),
        steps: crossbeam_channel::never(),
        fps: 1,
        job_control: false,
    };
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("test backend");
    let exit = event_loop(&mut terminal, &mut app, &mut NoDriver, &io, None).expect("the loop");
    assert_eq!(exit, Exit::Quit);
    let screen = text(&terminal);
    assert!(
        screen.contains("Keys (? or Esc closes)"),
        "the help was not drawn:\n{screen}"
    );
}

// Overload, stated
// ---------------------------------------------------------------------------

/// While the pipeline falls short of the rate set, the header says what it
/// achieves, and the Events pane logs the spell once when it starts and
/// once when it ends; a full queue is logged once when it starts rejecting
/// and once when it has room again, with what it rejected.
#[test]
fn overload_is_stated_in_the_header_and_logged_once_per_spell() {
    use fantop::event::{EventKind, LoadChange};
    let (mut app, mut publisher) = bare_app(Mode::Live { seed: SEED });
    let pace = |t, achieved, short| {
        Event::new(
            t,
            EventKind::ArrivalPace {
                achieved,
                skipped: if short { 300 * MILLIS } else { 0 },
                window_ms: 1_000,
                short,
            },
        )
    };
    let mut send = |app: &mut App, events: &[Event]| {
        publisher.publish_all(events);
        publisher.flush();
        app.pump();
        draw(app, 120, 36)
    };
    let start = [
        Event::new(
            0,
            EventKind::LoadChanged {
                change: LoadChange::Rate { per_s: 1_000_000.0 },
            },
        ),
        Event::new(
            0,
            EventKind::LoadChanged {
                change: LoadChange::Workers { count: 8 },
            },
        ),
    ];
    let t = send(&mut app, &start);
    assert!(!rows(&t)[0].contains("achieving"), "{}", rows(&t)[0]);
    let short: Vec<Event> = (1..=3).map(|s| pace(s * SECONDS, 655_000.0, true)).collect();
    let t = send(&mut app, &short);
    assert!(
        rows(&t)[0].contains("rate 1,000,000/s (achieving 655k/s)  workers 8"),
        "{}",
        rows(&t)[0]
    );
    let t = send(
        &mut app,
        &[
            Event::new(3 * SECONDS, EventKind::QueueFull),
            pace(4 * SECONDS, 1_000_000.0, false),
            Event::new(5 * SECONDS, EventKind::QueueHasRoom { rejected: 12_345 }),
        ],
    );
    assert!(!rows(&t)[0].contains("achieving"), "{}", rows(&t)[0]);
    let screen = text(&t);
    for line in [
        "rate falling short: 655k/s of 1,000,000/s",
        "rate reached again after 3s short",
        "queue full: rejecting arrivals",
        "queue has room again after 12,345 rejected",
    ] {
        assert_eq!(screen.matches(line).count(), 1, "{line:?} once in\n{screen}");
    }
}

/// At `--rate 100000000` the live monitor (real pipeline, collector and
/// panes, on a test screen) takes a key and quits on `q`: the key's rate is
/// the last one the collector saw, and the collector lost nothing (the
/// pipeline keeps pace with it). Time only bounds a hang.
#[test]
fn the_live_monitor_at_the_highest_rate_takes_keys_and_quits() {
    use fantop::pipeline::Pace;
    use fantop::run::{self, Stack, Time};
    use fantop::session::{RecordingSetup, Session, SessionOptions};
    use fantop::tui::{DEFAULT_FPS, Input, LiveDriver, LoopIo, event_loop};
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let sim = SimConfig {
            rate: fantop::pipeline::control::MAX_RATE,
            seed: SEED,
            ..SimConfig::default()
        };
        let mut stack = Stack::new(Time::Real).unwrap();
        let mut app = App::new(
            &stack.broadcaster,
            stack.snapshots(),
            Theme::MONO,
            Mode::Live { seed: SEED },
        );
        let session = Session::new(
            &stack.broadcaster,
            SessionOptions {
                recording: RecordingSetup {
                    seed: SEED,
                    config: run::config_summary(&sim, None, false),
                    scenario: None,
                    path: None,
                },
                steps: Vec::new(),
                virtual_time: false,
            },
        );
        let (control, steps) = stack
            .start_pipeline(run::pipeline_options(sim, Pace::RealTime, None, &[]), true)
            .unwrap();
        let (input_tx, input) = crossbeam_channel::bounded(8);
        let io = LoopIo {
            input,
            signals: crossbeam_channel::never(),
            steps: steps.unwrap(),
            fps: DEFAULT_FPS,
            job_control: false,
        };
        let mut driver = LiveDriver {
            stack,
            control,
            session,
        };
        let mut terminal = Terminal::new(TestBackend::new(120, 36)).unwrap();
        std::thread::spawn(move || {
            // Well into overload, then a key and a quit.
            std::thread::sleep(std::time::Duration::from_secs(1));
            input_tx.send(Input::Key(key('-'))).unwrap();
            input_tx.send(Input::Key(key('q'))).unwrap();
        });
        let exit = event_loop(&mut terminal, &mut app, &mut driver, &io, None).unwrap();
        let LiveDriver { stack, mut session, .. } = driver;
        let finished = stack.finish(&mut session, app);
        let _ = done_tx.send((exit, finished.snapshot));
    });
    let (exit, snapshot) = done_rx
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("the monitor quit");
    assert_eq!(exit, fantop::tui::Exit::Quit);
    assert_eq!(snapshot.load.rate, 80_000_000.0, "the key's rate");
    assert_eq!(snapshot.lost_events, 0, "the collector kept up");
}

// Charts: histogram bins, legends, markers, log scale; themes
// ---------------------------------------------------------------------------

/// Draws the latency view alone into a `w`x`h` screen (not focused, no
/// losses), with `theme` and the log scale as given.
fn latency_pane(view: &LatencyView, theme: Theme, log: bool, w: u16, h: u16) -> Terminal<TestBackend> {
    let fanout = Fanout::default();
    let ctx = Ctx {
        theme,
        window_s: WINDOWS_S[1],
        fanout: &fanout,
        clock_now: END,
        step_labels: &[],
        scrolls: &Scrolls::default(),
        log_latency: log,
    };
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("test backend");
    t.draw(|f| panes::latency::render(view, &ctx, panes::Frame::default(), f, f.area()))
        .expect("draw");
    t
}

/// The histogram's rows: those reading `<label ... N%` or `≥label ... N%`.
fn histogram_rows(t: &Terminal<TestBackend>) -> Vec<String> {
    rows(t)
        .into_iter()
        .filter(|r| {
            let r = r.trim_start_matches(['│', ' ']);
            (r.starts_with('<') || r.starts_with('≥')) && r.contains('%')
        })
        .collect()
}

/// A saturated pipeline (`--workers 1 --rate 5000`: latencies climb to
/// seconds as the queue fills) still shows the histogram's shape: many
/// rows with bars, spanning the window's values. Before, the 1-2-5 edges
/// left most of the window in one `≥5s`-style bar.
#[test]
fn saturated_latency_pane_still_shows_the_histograms_shape() {
    let mut sim = Sim::new(SimConfig {
        seed: SEED,
        rate: 5_000.0,
        workers: 1,
        ..Default::default()
    });
    let mut events = Vec::new();
    sim.advance_until(30 * SECONDS, &mut events);
    let mut view = LatencyView::default();
    events.iter().for_each(|e| view.apply(e));
    view.settle();
    assert!(view.summary.p50 > 4 * SECONDS, "saturated: p50 {}", view.summary.p50);
    let t = latency_pane(&view, Theme::MONO, false, 120, 16);
    let hist = histogram_rows(&t);
    let with_bars = hist.iter().filter(|r| r.contains('█')).count();
    assert!(with_bars >= 6, "{}", text(&t));
    let biggest = hist
        .iter()
        .map(|r| r.chars().filter(|c| *c == '█').count())
        .max()
        .unwrap_or(0);
    let total: usize = hist.iter().map(|r| r.chars().filter(|c| *c == '█').count()).sum();
    assert!(biggest * 2 < total, "one bar holds most of the window:\n{}", text(&t));
    insta::assert_snapshot!("latency_saturated_120x16", t.backend());
}

/// No histogram row shares a line with the latency chart's time axis
/// labels: that line holds the histogram's legend. Before, the last bin
/// (`≥50ms ... 0%`) ran into `-1m00s`.
#[test]
fn no_histogram_row_shares_a_line_with_the_charts_axis_labels() {
    let fx = live();
    for (w, h) in [(120, 36), (200, 60), (160, 48)] {
        let t = draw(&fx.app, w, h);
        let axis = rows(&t)
            .into_iter()
            .find(|r| r.contains("-1m00s") && r.matches("now").count() == 2)
            .expect("both charts' axis labels on one row");
        let latency = axis.split("││").nth(1).expect("the latency pane");
        assert!(!latency.contains('<') && !latency.contains('≥'), "{w}x{h}: {axis}");
        assert!(latency.contains("% of "), "{w}x{h}: the legend is there: {axis}");
    }
}

/// `y` switches the latency chart between a linear and a log y axis; the
/// legend says which. Log labels are 1-2-5 values (and their middle).
#[test]
fn y_toggles_the_latency_charts_log_scale() {
    let mut fx = live();
    zoomed(&mut fx, PaneId::Latency);
    assert!(text(&draw(&fx.app, 120, 36)).contains("linear y"));
    assert_eq!(on_key(&mut fx.app, key('y')), Effect::Redraw);
    assert!(fx.app.log_latency);
    let t = draw(&fx.app, 120, 36);
    assert!(text(&t).contains("log y"), "{}", text(&t));
    insta::assert_snapshot!("zoom_latency_log_120x36", t.backend());
    on_key(&mut fx.app, key('y'));
    assert!(text(&draw(&fx.app, 120, 36)).contains("linear y"));
}

/// The legend samples of the throughput and latency charts.
const THROUGHPUT_SAMPLES: [&str; 4] = ["⠒⠒", "██", "••", "▄▄"];
const LATENCY_SAMPLES: [&str; 2] = ["••", "⠒⠒"];

/// Wherever a chart is drawn (its time axis shows), its legend is too,
/// with every series' sample, at every size from 20x6 up; likewise the
/// histogram's. Before, the chart's legend hid below about half the pane.
#[test]
fn every_chart_shows_its_legend_at_every_size_it_is_drawn() {
    let fx = live();
    let v = views(&fx);
    let fanout = Fanout::default();
    let ctx = Ctx {
        theme: Theme::MONO,
        window_s: WINDOWS_S[1],
        fanout: &fanout,
        clock_now: END,
        step_labels: &[],
        scrolls: &Scrolls::default(),
        log_latency: false,
    };
    let mut drawn = (0, 0, 0);
    for w in (20..=140).step_by(8) {
        for h in (3..=40).step_by(2) {
            let mut t = Terminal::new(TestBackend::new(w, h)).expect("test backend");
            t.draw(|f| panes::throughput::render(&v.throughput, &ctx, panes::Frame::default(), f, f.area()))
                .expect("draw");
            let screen = text(&t);
            if screen.contains("now") {
                drawn.0 += 1;
                for s in THROUGHPUT_SAMPLES {
                    assert!(screen.contains(s), "{w}x{h}: no {s}\n{screen}");
                }
            }
            let t = latency_pane(&v.latency, Theme::MONO, false, w, h);
            let screen = text(&t);
            if screen.contains("now") {
                drawn.1 += 1;
                for s in LATENCY_SAMPLES {
                    assert!(screen.contains(s), "{w}x{h}: no {s}\n{screen}");
                }
            }
            if !histogram_rows(&t).is_empty() {
                drawn.2 += 1;
                assert!(screen.contains("█ %"), "{w}x{h}: no histogram legend\n{screen}");
            }
        }
    }
    assert!(drawn.0 > 100 && drawn.1 > 50 && drawn.2 > 100, "{drawn:?}");
}

/// Without colour (`NO_COLOR`, `--no-color`) each chart series is drawn
/// with its own marker: the charts hold braille (completed, p50), dots
/// (arrivals, p99) and blocks (failed). Before, every line was braille.
#[test]
fn without_colour_each_series_is_drawn_with_its_own_marker() {
    let mut mono = fixture(Setup {
        theme: Theme::MONO,
        ..Setup::default()
    });
    let is_braille = |c: char| ('\u{2801}'..='\u{28ff}').contains(&c);
    let cases: [(PaneId, &[char]); 2] = [(PaneId::Throughput, &['•', '█']), (PaneId::Latency, &['•'])];
    for (pane, markers) in cases {
        zoomed(&mut mono, pane);
        let t = draw(&mono.app, 120, 36);
        // The plot: right of the y axis, below the legend.
        let plot: String = rows(&t)[4..33]
            .iter()
            .map(|r| r.split('│').skip(2).collect::<Vec<_>>().join(""))
            .collect();
        assert!(plot.chars().any(is_braille), "{pane:?}: no braille line\n{}", text(&t));
        for m in markers {
            assert!(plot.contains(*m), "{pane:?}: no {m}\n{}", text(&t));
        }
    }
}

/// `--theme light`: every glyph on screen reads on a white background:
/// text (letters and digits) at 4.5:1 or more, everything else (borders,
/// bars, chart markers) at 3:1 or more, in xterm's colours. The dark
/// palette's grey labels (1.3:1 on white) fail this.
#[test]
fn light_theme_keeps_every_label_readable_on_white() {
    use fantop::tui::theme::{contrast, rgb};
    for theme in [Theme::LIGHT, Theme::COLOR] {
        let mut fx = fixture(Setup {
            theme,
            ..Setup::default()
        });
        fx.app.flash("a flash message");
        let screens = [draw(&fx.app, 120, 36), {
            fx.app.help = true;
            draw(&fx.app, 120, 36)
        }];
        let (dfg, dbg) = theme.canvas();
        for t in &screens {
            for cell in t.backend().buffer().content() {
                let sym = cell.symbol();
                if sym.trim().is_empty() {
                    continue;
                }
                let (mut fg, mut bg) = (rgb(cell.fg, dfg), rgb(cell.bg, dbg));
                if cell.modifier.contains(ratatui::style::Modifier::REVERSED) {
                    std::mem::swap(&mut fg, &mut bg);
                }
                // A solid patch (a chart's block marker) stands on the screen's background.
                if fg == bg {
                    bg = dbg;
                }
                let r = contrast(fg, bg);
                let need = if sym.chars().any(char::is_alphanumeric) {
                    4.5
                } else {
                    3.0
                };
                assert!(
                    r >= need,
                    "{:?}: '{sym}' {:?} on {:?}: {r:.2}:1",
                    theme.name,
                    cell.fg,
                    cell.bg
                );
            }
        }
    }
}
