//! The comparison harness's own loop ([`Team`], `run_loop`) in short batches,
//! reporting the fastest batch of each benchmark: a figure that stays usable on a
//! machine shared with other jobs, where criterion's long batches of a slower call
//! take more preemption than the bare call's short ones (see BENCHMARKS.md,
//! "Closed success on a Sapphire-Rapids-class VM").
//!
//! ```text
//! cargo run -p warden-benches --release --example short_batches [calls per batch] [batches]
//! ```
//!
//! Defaults: 100,000 calls per batch (under a millisecond), 200 batches per
//! benchmark, the benchmarks interleaved; at 1 and 2 threads.

use warden_benches::contenders::{Bare, WardenBreaker};
use warden_benches::harness::{Team, Workload};

const WORKLOADS: [Workload; 6] = [
    Workload::ClosedSuccess,
    Workload::ForcedOpenReject,
    Workload::OpenReject,
    Workload::HalfOpenSaturated,
    Workload::TimeWindowSuccess,
    Workload::AdaptiveSuccess,
];

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>());
    let iters = args.next().and_then(Result::ok).unwrap_or(100_000).max(1);
    let batches = args.next().and_then(Result::ok).unwrap_or(200).max(1);
    for threads in [1, 2] {
        let mut bare =
            Team::<Bare>::new(Workload::ClosedSuccess, threads).expect("bare runs closed");
        let mut teams: Vec<_> = WORKLOADS
            .iter()
            .map(|&w| Team::<WardenBreaker>::new(w, threads).expect("warden runs every workload"))
            .collect();
        let per_call = |d: std::time::Duration| d.as_secs_f64() * 1e9 / iters as f64;
        let mut best_bare = f64::MAX;
        let mut best = [f64::MAX; WORKLOADS.len()];
        for _ in 0..batches {
            best_bare = best_bare.min(per_call(bare.run(iters)));
            for (b, team) in best.iter_mut().zip(&mut teams) {
                *b = b.min(per_call(team.run(iters)));
            }
        }
        print!("{threads}t: bare {best_bare:.2} ns");
        for (w, b) in WORKLOADS.iter().zip(best) {
            print!(" | warden-breaker {} {b:.2} ns", w.name());
        }
        println!();
    }
}
