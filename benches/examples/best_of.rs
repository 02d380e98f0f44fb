//! warden-breaker in one workload of the comparison, timed as the best of many short
//! rounds: on a machine shared with other jobs, the fastest round is the one no other
//! job preempted. Also the loop that callgrind counts (`--toggle-collect='*run_loop*'`).
//!
//! ```text
//! cargo run --release -p warden-benches --example best_of -- WORKLOAD [CALLS] [THREADS] [ROUNDS]
//! ```
//!
//! Prints `WORKLOAD/THREADSt NS`: the slowest thread's best round, in ns per call.
use std::sync::{Arc, Barrier};
use warden_benches::contenders::WardenBreaker;
use warden_benches::harness::{Contender, Workload, run_loop};
fn main() {
    let mut a = std::env::args().skip(1);
    let name = a
        .next()
        .expect("usage: best_of WORKLOAD [CALLS] [THREADS] [ROUNDS]");
    let n: u64 = a.next().map_or(200_000, |s| s.parse().unwrap());
    let threads: usize = a.next().map_or(1, |s| s.parse().unwrap());
    let rounds: usize = a.next().map_or(2, |s| s.parse().unwrap());
    let w = Workload::from_name(&name).expect("known workload");
    let c = Arc::new(WardenBreaker::prepare(w, 2 * n).expect("prepared"));
    let barrier = Arc::new(Barrier::new(threads));
    let hs: Vec<_> = (0..threads)
        .map(|t| {
            let (c, b) = (Arc::clone(&c), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let mut best = f64::MAX;
                for _ in 0..rounds {
                    b.wait();
                    let s = std::time::Instant::now();
                    run_loop(&*c, w, n, t);
                    best = best.min(s.elapsed().as_nanos() as f64 / n as f64);
                }
                best
            })
        })
        .collect();
    let best: Vec<f64> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    let worst = best.iter().cloned().fold(0.0, f64::max);
    println!("{name}/{threads}t {worst:.2}");
}
