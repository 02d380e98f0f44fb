//! The comparison's `tower_layer` workload (`benches/compare/tower.rs`, the same
//! contenders and the same loop) in short batches, reporting the fastest batch
//! of each contender: a figure that stays usable on a machine shared with other
//! jobs and on a VM that switches between a fast and a slow mode (see
//! BENCHMARKS.md, "Closed success on a Sapphire-Rapids-class VM").
//!
//! ```text
//! cargo run -p warden-benches --release --example tower_batches [calls per batch] [batches] [contenders] [threads]
//! ```
//!
//! Defaults: 100,000 calls per batch, 200 batches per contender, the contenders
//! interleaved, at 1 and 2 threads. `contenders` is a comma-separated subset of
//! `bare,static,arc` (default: all three), `threads` of thread counts (default
//! `1,2`). One contender, 1 batch and 1 thread count only that contender's
//! loop with callgrind:
//!
//! ```text
//! valgrind --tool=callgrind --toggle-collect='*Contender>::run' \
//!     target/release/examples/tower_batches 100000 1 static 1
//! ```
//!
//! (`Ir` / 100,000 is the instructions per call of the worker's loop, the
//! loop's own included; entering the runtime adds under 0.1 per call.)
//!
//! 2026-12-06, release build with line tables
//! (`CARGO_PROFILE_RELEASE_DEBUG=line-tables-only`, so that `objdump -l` maps
//! callgrind's `--dump-instr=yes` counts to source lines), the difference
//! between 200,000 and 100,000 calls per batch: bare 33.0, `from_static` 163.0
//! at `5551134` and 156.0 at `2e76a23`, `Arc` 191.0 and 178.0. Short batches
//! (`100000 200 bare,static,arc 1,2`, the two builds alternately, three rounds
//! each, 19:09-19:10 UTC, load average 2.3-2.7 with other jobs on the 2 cores),
//! ns added to the bare service at 1 thread: `from_static` 4.3-5.1 before and
//! 3.7-4.0 after, `Arc` 34.2-35.0 before and 31.6-33.3 after. Then (19:27 UTC) the
//! loop polls each request in its own async block rather than a nested `one`
//! future (which the compiler inlined for the bare service only): bare 28.0,
//! `from_static` 150.0, `Arc` 176.0; and the layer's `poll` always inlined:
//! `from_static` 129.0, `Arc` 165.0, short batches 4.4 ns over bare (5.5-5.7
//! before it, load average 2.3-2.9).
//!
//! 2026-12-07, same build and counts: a success ends the failure streak with
//! one comparison inline (`from_static` 122.0, `Arc` 160.0); the counters'
//! out-of-line paths laid out cold and the shared cell's generation derived
//! there (116.0, 156.0); a refused call's future written whole and `call`
//! always inlined, so no word of the previous call's future goes through a
//! stack slot (111.0, 156.0). Bare 28.0 throughout: `from_static` adds 83.0
//! (101.0 before). The core's `best_of` loops over the same steps
//! (`--toggle-collect='*run_loop*'`): `closed_success` 82 -> 75 -> 73 -> 73,
//! `time_window_success` 144 -> 138 -> 137, `slow_calls_success` 195 -> 189
//! -> 189, `adaptive_success` 152 -> 146 -> 145.

#[path = "../benches/compare/tower.rs"]
#[allow(dead_code, unreachable_pub)]
mod tower;

use tower::{BareStack, Tower, WardenArc, WardenStatic};
use warden_benches::harness::{Team, Workload};

fn main() {
    let mut args = std::env::args().skip(1);
    let iters = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000u64)
        .max(1);
    let batches = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(200u64)
        .max(1);
    let which = args.next().unwrap_or_else(|| "bare,static,arc".into());
    let threads_list: Vec<usize> = args
        .next()
        .map(|t| t.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2]);
    let wants = |name: &str| which.split(',').any(|w| w == name);
    let per_call = |d: std::time::Duration| d.as_secs_f64() * 1e9 / iters as f64;
    for threads in threads_list {
        let w = Workload::TowerLayer;
        let mut bare =
            wants("bare").then(|| Team::<Tower<BareStack>>::new(w, threads).expect("tower"));
        let mut stat =
            wants("static").then(|| Team::<Tower<WardenStatic>>::new(w, threads).expect("tower"));
        let mut arc =
            wants("arc").then(|| Team::<Tower<WardenArc>>::new(w, threads).expect("tower"));
        let mut best = [f64::MAX; 3];
        for _ in 0..batches {
            if let Some(t) = &mut bare {
                best[0] = best[0].min(per_call(t.run(iters)));
            }
            if let Some(t) = &mut stat {
                best[1] = best[1].min(per_call(t.run(iters)));
            }
            if let Some(t) = &mut arc {
                best[2] = best[2].min(per_call(t.run(iters)));
            }
        }
        print!("{threads}t:");
        for (name, b) in ["bare", "warden-breaker (from_static)", "warden-tower-arc"]
            .iter()
            .zip(best)
        {
            if b < f64::MAX {
                print!(" | {name} {b:.2} ns");
            }
        }
        println!();
    }
}
