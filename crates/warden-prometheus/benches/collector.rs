//! What exporting a breaker adds to a guarded call: nothing by construction
//! (the collector reads the breaker's own totals at scrape time), measured
//! anyway, with a scrape running every millisecond on another thread.
//!
//! `cargo bench -p warden-prometheus --bench collector -- --warm-up-time 1 --measurement-time 2`
//!
//! * `{success,open}/1t/{plain,watched}`: `CircuitBreaker::call` on the closed
//!   success path and on an open (forced) breaker, without and with
//!   `Metrics::watch`.
//! * `{success,open}/2t/*`: both cores calling the same breaker at once; time
//!   per call on the slower thread.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use warden_breaker::CircuitBreaker;
use warden_prometheus::Metrics;

fn breaker(open: bool) -> Arc<CircuitBreaker> {
    let cb = CircuitBreaker::builder("bench")
        .ready_to_trip(|_| false)
        .build()
        .expect("valid");
    if open {
        cb.force_open();
    }
    Arc::new(cb)
}

/// Per-call time with `threads` threads calling `cb` together (the slowest).
fn together(cb: &Arc<CircuitBreaker>, threads: usize, iters: u64) -> Duration {
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (cb, barrier) = (cb.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let start = Instant::now();
                for _ in 0..iters {
                    let _ = black_box(cb.call(|| Ok::<u64, ()>(black_box(1))));
                }
                start.elapsed()
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|t| t.join().expect("bench thread"))
        .max()
        .unwrap_or_default()
}

fn bench(c: &mut Criterion) {
    let registry = prometheus::Registry::new();
    let metrics = Metrics::register(&registry).expect("fresh registry");
    // A scraper, as a Prometheus server would be (far more often than one).
    let stop = Arc::new(AtomicBool::new(false));
    let scraper = {
        let (stop, registry) = (stop.clone(), registry.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                black_box(registry.gather());
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    for (workload, open) in [("success", false), ("open", true)] {
        let mut g = c.benchmark_group(workload);
        for threads in [1, 2] {
            let plain = breaker(open);
            let watched = breaker(open);
            metrics.watch(&watched);
            for (name, cb) in [("plain", &plain), ("watched", &watched)] {
                g.bench_function(format!("{threads}t/{name}"), |b| {
                    b.iter_custom(|iters| together(cb, threads, iters))
                });
            }
        }
        g.finish();
    }
    stop.store(true, Ordering::Relaxed);
    scraper.join().expect("scraper");
}

criterion_group!(benches, bench);
criterion_main!(benches);
