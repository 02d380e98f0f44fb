//! A simulated overload: a backend whose capacity drops to 30 % for 50 seconds,
//! and three clients offering it the same steady demand: one with no protection,
//! one behind a circuit breaker (opens for 5 s when half the calls of the last
//! 10 s failed, at least 20 of them), one behind the adaptive throttle (last
//! 10 s, k = 2). Deterministic: a `ManualClock` and fixed draws, so every
//! run prints the same table and draws the same plot.
//!
//! The backend serves 250 calls/s (a token bucket holding 50 ms of them); the
//! clients want 200 calls/s. From 30 s to 80 s it serves 75 calls/s, and every
//! call it cannot serve still costs it 0.3 of a served call's work (it parses
//! the request, queues it, times out: overload makes it slower still).
//!
//! `cargo run -p warden-breaker --example throttle_sim [-- out.svg]` prints a
//! table every 5 s of simulated time and writes an SVG plot of the load reaching
//! the backend and the share of the clients' calls that succeed, per second.

use std::fmt::Write as _;
use std::time::Duration;

use warden_breaker::{AdaptiveThrottle, CircuitBreaker, Error, ManualClock, TimeWindow};

const STEP: Duration = Duration::from_millis(10);
const SECONDS: usize = 120;
const STEPS_PER_SECOND: usize = 100;
/// Calls each client offers per step (200 calls/s).
const DEMAND: usize = 2;
const DEGRADED: std::ops::Range<usize> = 30..80;

/// The backend: a token bucket of capacity, in thousandths of a call.
struct Backend {
    tokens: u64,
    /// Calls that reached it in the current second.
    load: u64,
}

impl Backend {
    fn new() -> Self {
        Self { tokens: 0, load: 0 }
    }

    /// Refills one step's capacity at second `t`.
    fn tick(&mut self, t: usize) {
        let per_second: u64 = if DEGRADED.contains(&t) { 75 } else { 250 };
        let per_step = per_second * 1000 / STEPS_PER_SECOND as u64;
        // Holds at most 50 ms of capacity.
        self.tokens = (self.tokens + per_step).min(per_second * 1000 / 20);
    }

    /// Serves a call if it has the capacity; an unserved call still costs 0.3.
    fn call(&mut self) -> Result<(), &'static str> {
        self.load += 1;
        if self.tokens >= 1000 {
            self.tokens -= 1000;
            Ok(())
        } else {
            self.tokens = self.tokens.saturating_sub(300);
            Err("overloaded")
        }
    }
}

/// One client: how it guards its calls, and what it saw each second.
struct Client {
    name: &'static str,
    color: &'static str,
    guard: Option<CircuitBreaker>,
    backend: Backend,
    /// Per second: calls reaching the backend, successes, calls wanted.
    seconds: Vec<(u64, u64, u64)>,
    ok: u64,
    wanted: u64,
}

impl Client {
    fn new(name: &'static str, color: &'static str, guard: Option<CircuitBreaker>) -> Self {
        Self {
            name,
            color,
            guard,
            backend: Backend::new(),
            seconds: Vec::new(),
            ok: 0,
            wanted: 0,
        }
    }

    fn step(&mut self, t: usize) {
        self.backend.tick(t);
        for _ in 0..DEMAND {
            self.wanted += 1;
            let backend = &mut self.backend;
            let ok = match &self.guard {
                None => backend.call().is_ok(),
                Some(cb) => match cb.call(|| backend.call()) {
                    Ok(()) => true,
                    Err(Error::Rejected(_) | Error::Inner(_)) => false,
                },
            };
            self.ok += u64::from(ok);
        }
    }

    fn end_second(&mut self) {
        self.seconds.push((self.backend.load, self.ok, self.wanted));
        self.backend.load = 0;
        self.ok = 0;
        self.wanted = 0;
    }
}

fn main() {
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::builder("breaker")
        .time_window(
            TimeWindow::new(Duration::from_secs(10))
                .with_buckets(10)
                .with_min_calls(20)
                .with_failure_rate_percent(50),
        )
        .timeout(Duration::from_secs(5))
        .clock(clock.clone())
        .build()
        .expect("valid settings");
    let throttle = CircuitBreaker::builder("throttle")
        .adaptive_throttle(
            AdaptiveThrottle::new(Duration::from_secs(10))
                .with_buckets(10)
                .with_k(2.0),
        )
        .clock(clock.clone())
        .build()
        .expect("valid settings");
    AdaptiveThrottle::set_thread_draws(42);
    let mut clients = [
        Client::new("no protection", "#d62728", None),
        Client::new("circuit breaker", "#1f77b4", Some(breaker)),
        Client::new("adaptive throttle", "#2ca02c", Some(throttle)),
    ];
    for t in 0..SECONDS {
        for _ in 0..STEPS_PER_SECOND {
            for c in &mut clients {
                c.step(t);
            }
            clock.advance(STEP);
        }
        for c in &mut clients {
            c.end_second();
        }
    }
    print_table(&clients);
    let out = std::env::args().nth(1).unwrap_or_else(|| {
        format!(
            "{}/../../benches/results/throttle_sim.svg",
            env!("CARGO_MANIFEST_DIR")
        )
    });
    std::fs::write(&out, svg(&clients)).expect("write the plot");
    println!("\nplot: {out}");
}

fn print_table(clients: &[Client]) {
    print!("{:>5}", "t (s)");
    for c in clients {
        print!(" | {:>17} load/s  ok %", c.name);
    }
    println!();
    for t in (0..SECONDS).step_by(5) {
        print!("{t:>5}");
        for c in clients {
            let (load, ok, wanted) = c.seconds[t];
            print!(
                " | {:>24} {:>5.1}",
                load,
                100.0 * ok as f64 / wanted.max(1) as f64
            );
        }
        println!();
    }
    println!("\ntotals over {SECONDS} s (and over the degraded {DEGRADED:?} s):");
    for c in clients {
        let sum = |range: std::ops::Range<usize>| {
            c.seconds[range]
                .iter()
                .fold((0, 0, 0), |a, s| (a.0 + s.0, a.1 + s.1, a.2 + s.2))
        };
        let (load, ok, wanted) = sum(0..SECONDS);
        let (dload, dok, dwanted) = sum(DEGRADED);
        println!(
            "  {:>17}: {:>6} calls reached the backend, {:>5.1} % succeeded ({:>5} reached it, {:>5.1} % succeeded while degraded)",
            c.name,
            load,
            100.0 * ok as f64 / wanted as f64,
            dload,
            100.0 * dok as f64 / dwanted as f64
        );
    }
}

/// What a panel plots from one second's (load, successes, calls wanted).
type Per = dyn Fn(&(u64, u64, u64)) -> f64;

/// Two panels, hand-written SVG: calls/s reaching the backend, and the share
/// of the clients' calls that succeeded, per second.
fn svg(clients: &[Client]) -> String {
    let (w, h, left, right, top) = (900.0, 620.0, 70.0, 20.0, 40.0);
    let panel = 230.0;
    let gap = 60.0;
    let plot_w = w - left - right;
    let x = |t: f64| left + plot_w * t / SECONDS as f64;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">Backend capacity drops to 30 % from {} s to {} s (clients want 200 calls/s; capacity 250, then 75)</text>"#,
        w / 2.0,
        DEGRADED.start,
        DEGRADED.end
    );
    let panels: [(&str, f64, Box<Per>); 2] = [
        (
            "calls/s reaching the backend",
            250.0,
            Box::new(|s| s.0 as f64),
        ),
        (
            "% of the clients' calls that succeed",
            100.0,
            Box::new(|s| 100.0 * s.1 as f64 / s.2.max(1) as f64),
        ),
    ];
    for (i, (title, max, value)) in panels.iter().enumerate() {
        let y0 = top + i as f64 * (panel + gap);
        let y = |v: f64| y0 + panel - panel * v.min(*max) / max;
        // The degraded span, the frame, the grid.
        let _ = writeln!(
            s,
            r##"<rect x="{}" y="{y0}" width="{}" height="{panel}" fill="#f4e3c1"/>"##,
            x(DEGRADED.start as f64),
            x(DEGRADED.end as f64) - x(DEGRADED.start as f64)
        );
        let _ = writeln!(
            s,
            r#"<rect x="{left}" y="{y0}" width="{plot_w}" height="{panel}" fill="none" stroke="black"/>"#
        );
        for k in 0..=5 {
            let v = max * k as f64 / 5.0;
            let _ = writeln!(
                s,
                r##"<line x1="{left}" x2="{}" y1="{yy}" y2="{yy}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{v:.0}</text>"##,
                left + plot_w,
                left - 6.0,
                y(v) + 4.0,
                yy = y(v)
            );
        }
        for t in (0..=SECONDS).step_by(10) {
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" text-anchor="middle">{t}</text>"#,
                x(t as f64),
                y0 + panel + 16.0
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{left}" y="{}" font-size="13">{title} (per second; x: time in s)</text>"#,
            y0 - 6.0
        );
        // Wider lines first, so that where the clients agree every line shows.
        for (c, width) in clients.iter().zip([5.0, 3.2, 1.6]) {
            let points: Vec<String> = c
                .seconds
                .iter()
                .enumerate()
                .map(|(t, sec)| format!("{:.1},{:.1}", x(t as f64 + 0.5), y(value(sec))))
                .collect();
            let _ = writeln!(
                s,
                r#"<polyline fill="none" stroke="{}" stroke-width="{width}" points="{}"/>"#,
                c.color,
                points.join(" ")
            );
        }
    }
    for (i, c) in clients.iter().enumerate() {
        let lx = left + 10.0 + i as f64 * 200.0;
        let ly = h - 14.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" x2="{}" y1="{ly}" y2="{ly}" stroke="{}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#,
            lx + 24.0,
            c.color,
            lx + 30.0,
            ly + 4.0,
            c.name
        );
    }
    s.push_str("</svg>\n");
    s
}
