//! The time to render one full frame of the monitor at 200x60 on ratatui's
//! `TestBackend`, from a realistic state: an `App` on a broadcaster with a
//! manual clock, fed 60 s of the default simulated load (every pane pumped
//! as it goes, nothing dropped), the clock following simulated time.
//!
//! Two measurements, both through `terminal.draw(|f| app.draw(f))`:
//!
//! - `steady`: frame after frame of the same state, as the live loop draws
//!   when little changed. ratatui renders every widget into a freshly reset
//!   buffer each frame, so all of `App::draw` runs every time; the diff
//!   against the previous frame is computed in full but finds nothing to
//!   write to the backend.
//! - `full`: the same, but before each iteration (untimed)
//!   `terminal.swap_buffers()` blanks the previous frame, so the diff finds
//!   every non-blank cell changed and the backend writes them all: the cost
//!   of the first frame after a clear or a resize, the most a frame can cost.
//!
//! `terminal.clear()` is not used: on a real terminal it also erases the
//! screen, and its cost is not the frame's.
//!
//! Run with `cargo bench --bench render`; `-- --test` runs each once.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use fantop::broadcast::{self, BroadcastConfig};
use fantop::clock::Clock;
use fantop::event::{MILLIS, SECONDS};
use fantop::pipeline::{Sim, SimConfig};
use fantop::tui::app::{App, Mode};
use fantop::tui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const WIDTH: u16 = 200;
const HEIGHT: u16 = 60;

fn render(c: &mut Criterion) {
    let clock = Clock::manual();
    let (mut publisher, broadcaster) = broadcast::channel(BroadcastConfig::default(), clock.clone());
    let mut app = App::new(&broadcaster, Default::default(), Theme::COLOR, Mode::Live { seed: 1 });
    let mut sim = Sim::new(SimConfig {
        seed: 1,
        ..SimConfig::default()
    });
    let mut buf = Vec::new();
    let mut t = 0;
    while t < 60 * SECONDS {
        t += 100 * MILLIS;
        sim.advance_until(t, &mut buf);
        publisher.publish_all(&buf);
        buf.clear();
        publisher.flush();
        clock.set(t);
        app.pump();
    }
    app.pump();
    for s in broadcaster.stats() {
        assert_eq!(s.dropped, 0, "pane {} fell behind while filling", s.name);
    }

    let mut terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT)).expect("test backend");
    terminal.draw(|f| app.draw(f)).expect("draw");
    let drawn = terminal
        .backend()
        .buffer()
        .content
        .iter()
        .filter(|c| c.symbol() != " ")
        .count();
    eprintln!(
        "render: {drawn} non-blank cells of {}",
        WIDTH as usize * HEIGHT as usize
    );
    assert!(
        drawn > (WIDTH as usize * HEIGHT as usize) / 10,
        "the frame is nearly empty ({drawn} cells drawn): not a realistic state"
    );

    let mut group = c.benchmark_group("render_200x60");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("steady", |b| {
        b.iter(|| {
            terminal.draw(|f| app.draw(f)).expect("draw");
            black_box(terminal.backend().buffer().area);
        })
    });
    group.bench_function("full", |b| {
        b.iter_custom(|iters| {
            let mut busy = Duration::ZERO;
            for _ in 0..iters {
                terminal.swap_buffers(); // untimed: blanks the previous frame
                let started = Instant::now();
                terminal.draw(|f| app.draw(f)).expect("draw");
                busy += started.elapsed();
                black_box(terminal.backend().buffer().area);
            }
            busy
        })
    });
    group.finish();
    drop(publisher);
}

criterion_group!(benches, render);
criterion_main!(benches);
