//! What the Prometheus observer adds to a guarded call.
//!
//! `cargo bench -p warden-prometheus --bench observer -- --warm-up-time 1 --measurement-time 2`
//!
//! * `bare`: the closure alone.
//! * `breaker`: `CircuitBreaker::call` on the closed success path, no observer.
//! * `breaker+metrics`: the same breaker with a `BreakerMetrics` observer
//!   (one relaxed increment of the name's success counter per call).
//! * `failure/*`: a failing call (the breaker never trips: `ready_to_trip` is
//!   false), so the failure counter is the one incremented.
//! * `two-threads/*`: both cores calling the same breaker at once; time per call
//!   on each thread. With metrics both threads increment the same counter line.

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use warden_breaker::CircuitBreaker;
use warden_prometheus::Metrics;

fn breakers() -> (CircuitBreaker, CircuitBreaker) {
    let metrics = Metrics::register(&prometheus::Registry::new()).expect("fresh registry");
    let plain = CircuitBreaker::builder("bench")
        .ready_to_trip(|_| false)
        .build()
        .expect("valid");
    let observed = CircuitBreaker::builder("bench")
        .ready_to_trip(|_| false)
        .observer(metrics.breaker("bench"))
        .build()
        .expect("valid");
    (plain, observed)
}

fn single_thread(c: &mut Criterion) {
    let (plain, observed) = breakers();
    let mut g = c.benchmark_group("success");
    g.bench_function("bare", |b| {
        b.iter(|| black_box(Ok::<u64, ()>(black_box(1))))
    });
    g.bench_function("breaker", |b| {
        b.iter(|| black_box(plain.call(|| Ok::<u64, ()>(black_box(1)))))
    });
    g.bench_function("breaker+metrics", |b| {
        b.iter(|| black_box(observed.call(|| Ok::<u64, ()>(black_box(1)))))
    });
    g.finish();

    let mut g = c.benchmark_group("failure");
    g.bench_function("breaker", |b| {
        b.iter(|| black_box(plain.call(|| Err::<u64, u64>(black_box(1)))))
    });
    g.bench_function("breaker+metrics", |b| {
        b.iter(|| black_box(observed.call(|| Err::<u64, u64>(black_box(1)))))
    });
    g.finish();
}

/// Per-call time with two threads calling `cb` together (the slower thread's).
fn together(cb: &Arc<CircuitBreaker>, iters: u64) -> Duration {
    let barrier = Arc::new(Barrier::new(2));
    let threads: Vec<_> = (0..2)
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
    threads
        .into_iter()
        .map(|t| t.join().expect("bench thread"))
        .max()
        .unwrap_or_default()
}

fn two_threads(c: &mut Criterion) {
    let (plain, observed) = breakers();
    let (plain, observed) = (Arc::new(plain), Arc::new(observed));
    let mut g = c.benchmark_group("two-threads");
    g.bench_function("breaker", |b| {
        b.iter_custom(|iters| together(&plain, iters))
    });
    g.bench_function("breaker+metrics", |b| {
        b.iter_custom(|iters| together(&observed, iters))
    });
    g.finish();
}

criterion_group!(benches, single_thread, two_threads);
criterion_main!(benches);
