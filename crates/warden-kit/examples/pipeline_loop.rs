//! Profiling aid: `n` successful calls through a prebuilt pipeline with only
//! a breaker, in a function of its own so that
//! `valgrind --tool=callgrind --toggle-collect='*run_calls*'` counts only the
//! loop (instructions per call = the count over `n`).
//!
//! `cargo build --release -p warden-kit --example pipeline_loop`, then
//! `valgrind --tool=callgrind --toggle-collect='*run_calls*' target/release/examples/pipeline_loop 100000`
//! (and 200000: the difference over 100,000 is the cost per call, 296
//! instructions on 2026-12-06; see `benches/registry.rs`).

use std::hint::black_box;

#[inline(never)]
fn run_calls(p: &warden_kit::Pipeline<u64, ()>, n: u64) -> u64 {
    let mut s = 0;
    for i in 0..n {
        if let Some(v) = black_box(p.execute(|| Ok::<u64, ()>(black_box(i)))).value() {
            s += *v;
        }
    }
    s
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let r = warden_kit::Registry::builder().build().expect("valid");
    let p = r.pipeline("kafka").expect("running");
    println!("{}", run_calls(&p, n));
}
