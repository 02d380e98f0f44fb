//! What the registry adds to a guarded call.
//!
//! `cargo bench -p warden-kit --bench registry -- --warm-up-time 1 --measurement-time 2`
//!
//! * `breaker.call`: the core breaker alone (closed, success), no elapsed time.
//! * `pipeline.execute`: a prebuilt `Pipeline` with only the name's breaker (no
//!   lookup): the breaker, two clock reads for `elapsed`, the state after, the
//!   `Execution`.
//! * `registry.pipeline+execute/<n> names`: a pipeline built per call
//!   (`Registry::pipeline(name)`, for names known only per request) with `n`
//!   names registered: the lookup (a pin of the concurrent map and a probe)
//!   and a reference count taken and dropped, then the call.
//! * `create/<n> names`: creating a new name's breaker (`Registry::breaker` on a
//!   name not seen before) in a registry holding `n` names: the N-th name costs
//!   what the first does. Without a fleet (a fleet needs a Redis server; its
//!   attach is the fleet's own cost on top).
//! * `pipeline.execute+metrics`: with a Prometheus observer.
//! * `pipeline.execute+bulkhead`: with `max_concurrent` (two atomic operations on
//!   the name's counter).
//! * `two-threads/*`: both cores through clones of one pipeline at once.
//!
//! The pipeline replaced `NamedBreaker::execute` (a kept handle) and
//! `Registry::execute(name, ..)`. Measured 2026-12-06 on the project's 2-core
//! machine shared by 6 sessions (load average 7 to 12 during the runs, so
//! absolute figures are several times a quiet machine's and vary by half
//! between runs): the bench binary of commit fb6796c (before) and of commit
//! 501a908 (after, same bench source but for the names) run alternately,
//! three rounds, each `<binary> --bench --warm-up-time 1 --measurement-time 3
//! "execute/(breaker.call|handle.execute)$"` (before) or
//! `"execute/(breaker.call|pipeline.execute)$"` (after), criterion's mean:
//!
//! | round | `handle.execute` (before) | `pipeline.execute` (after) |
//! | --- | --- | --- |
//! | 1 | 162.7 ns | 121.6 ns |
//! | 2 | 117.8 ns | 256.4 ns |
//! | 3 | 194.2 ns | 210.2 ns |
//!
//! The spread between rounds (118 to 256 ns; `breaker.call` alone read 8 to
//! 57 ns in the same rounds) is larger than any difference between the two
//! paths, so timing on this machine cannot tell them apart. Instructions can:
//! callgrind over a loop of 100,000 and of 200,000 calls
//! (`examples/pipeline_loop.rs`, and the same loop over `NamedBreaker::execute`
//! built from commit fb6796c; `cargo build --release -p warden-kit --example
//! pipeline_loop`, then `valgrind --tool=callgrind
//! --toggle-collect='*run_calls*' target/release/examples/pipeline_loop <n>`;
//! per call = the difference of the two totals over 100,000). Measured
//! 2026-12-06 in one session on the loaded machine (instruction counts do not
//! depend on the load):
//!
//! | loop over | instructions per call |
//! | --- | --- |
//! | `NamedBreaker::execute` (fb6796c, the removed method) | 300 |
//! | `Pipeline::execute` at fb17e0e (one path for every pipeline without retry or fallback) | 354 |
//! | `Pipeline::execute` after (its own path for a pipeline with only the breaker) | 296 |
//!
//! Where the 58 went: the breaker-only path is chosen when the pipeline is
//! built (one test per call instead of one per strategy; no outcome carried
//! to the `Execution`) and the name's admission is inlined (354 to 320); the
//! registry's default clock is read in place rather than through its `Arc`
//! (320 to 303); the result is wrapped after the second clock read and the
//! state, so it stays in registers (303 to 296). Of the 296, the two clock
//! reads take about 90 and the state after the call 45 (32 at fb6796c: the
//! core's `state()` grew since, which the pipeline does not control). The
//! prebuilt pipeline allocates nothing per call (`tests/alloc.rs`).
//! Building a pipeline per call (`registry.pipeline+execute/1 names`) read
//! 293 ns against `Registry::execute`'s 155 to 257 ns in separate runs of
//! the same session (`cargo bench -p warden-kit --bench registry --
//! --warm-up-time 1 --measurement-time 3 "execute/"`), consistent with the
//! reference count it adds.
//!
//! Measured 2026-12-06 at commit 32c23ab on the project's 2-core machine while
//! it ran 6 sessions (load average 11: absolute figures are several times a
//! quiet machine's; `breaker.call` is about 3 ns when quiet),
//! `cargo bench -p warden-kit --bench registry -- --warm-up-time 1 --measurement-time 3 "execute/|create/"`:
//!
//! | | 1 name | 100,000 names |
//! | --- | --- | --- |
//! | `registry.execute` (lookup + call) | 175 ns | 197 ns |
//! | `create` (a new name) | 4.7 µs | 7.0 µs |
//!
//! `handle.execute` (no lookup) measured 178 ns in the same run, so the lookup
//! is within the noise. Before the concurrent map, a new name cost 94 µs among
//! the first 5,000 names and 3.3 ms among names 35,000 to 40,000 (the map was
//! copied on every creation).
//!
//! With a fleet (2026-12-06, commit 6a830c7, load average about 11,
//! `cargo bench -p warden-kit --features redis --bench registry -- --warm-up-time 1 --measurement-time 3 "create/"`):
//!
//! | | 1 name | 10,000 names |
//! | --- | --- | --- |
//! | `create` with a fleet | 1.04 ms | 1.04 ms |
//!
//! against 6.3 µs (1 name) and 10.3 µs (100,000 names) without a fleet in the
//! same run. Attaching a name to the fleet costs about 1 ms whatever the
//! count (the fleet's own cost), so filling 100,000 fleet names would take
//! minutes: the fleet case stops at 10,000. Fleet names cannot be removed,
//! so those registries also grow by every name the run creates.

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use warden_kit::{BreakerConfig, CircuitBreaker, Registry};

fn registry(names: usize, config: BreakerConfig) -> Registry {
    filled(
        Registry::builder()
            .default_config(config)
            .build()
            .expect("valid"),
        names,
    )
}

fn filled(registry: Registry, names: usize) -> Registry {
    for i in 0..names.saturating_sub(1) {
        let _ = registry.breaker(&format!("dependency-{i}"));
    }
    let _ = registry.breaker("kafka");
    registry
}

fn single_thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("execute");
    let cb = CircuitBreaker::builder("kafka").build().expect("valid");
    g.bench_function("breaker.call", |b| {
        b.iter(|| black_box(cb.call(|| Ok::<u64, ()>(black_box(1)))))
    });

    let r = registry(1, BreakerConfig::default());
    let pipeline = r.pipeline("kafka").expect("running");
    g.bench_function("pipeline.execute", |b| {
        b.iter(|| black_box(pipeline.execute(|| Ok::<u64, ()>(black_box(1)))))
    });
    for names in [1, 100_000] {
        let r = registry(names, BreakerConfig::default());
        g.bench_function(format!("registry.pipeline+execute/{names} names"), |b| {
            b.iter(|| {
                black_box(
                    r.pipeline(black_box("kafka"))
                        .expect("running")
                        .execute(|| Ok::<u64, ()>(black_box(1))),
                )
            })
        });
    }

    let prom = warden_kit::metrics::prometheus::Registry::new();
    let with_metrics = Registry::builder()
        .metrics(warden_kit::metrics::Metrics::register(&prom).expect("fresh registry"))
        .build()
        .expect("valid");
    let with_metrics = with_metrics.pipeline("kafka").expect("running");
    g.bench_function("pipeline.execute+metrics", |b| {
        b.iter(|| black_box(with_metrics.execute(|| Ok::<u64, ()>(black_box(1)))))
    });

    let bulkhead = registry(1, BreakerConfig::default().with_max_concurrent(64));
    let bulkhead = bulkhead.pipeline("kafka").expect("running");
    g.bench_function("pipeline.execute+bulkhead", |b| {
        b.iter(|| black_box(bulkhead.execute(|| Ok::<u64, ()>(black_box(1)))))
    });
    g.finish();
}

/// Creating names: each iteration creates one new name (timed) in a registry
/// holding `names`; the new names are removed again afterwards (untimed), so
/// the size stays put.
fn create(c: &mut Criterion) {
    let mut g = c.benchmark_group("create");
    for names in [1, 100_000] {
        let r = registry(names, BreakerConfig::default());
        g.bench_function(format!("{names} names"), |b| {
            b.iter_custom(|iters| create_new(&r, iters, true))
        });
    }
    // With a fleet (feature `redis`; `--features redis` on the command line):
    // the fleet points at a closed port, so no Redis server is involved and
    // the figure is the registry's creation plus the fleet's attach. Fleet
    // names cannot be removed, so the registry grows by the names created.
    #[cfg(feature = "redis")]
    {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let _entered = runtime.enter();
        // Not 100,000: attaching a name to the fleet costs about 1 ms, so the
        // setup alone would take minutes.
        for names in [1, 10_000] {
            let fleet = warden_kit::fleet::Fleet::start(warden_kit::fleet::FleetConfig::new(
                "redis://127.0.0.1:1/",
            ))
            .expect("valid");
            let r = filled(
                Registry::builder()
                    .fleet(Arc::new(fleet))
                    .build()
                    .expect("valid"),
                names,
            );
            g.bench_function(format!("{names} names, fleet"), |b| {
                b.iter_custom(|iters| create_new(&r, iters, false))
            });
        }
    }
    g.finish();
}

/// Creates `iters` names never seen by `r` and returns the time taken; removes
/// them afterwards (untimed) if `remove`.
fn create_new(r: &Registry, iters: u64, remove: bool) -> Duration {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let first = NEXT.fetch_add(iters, Ordering::Relaxed);
    let fresh: Vec<String> = (first..first + iters).map(|i| format!("new-{i}")).collect();
    let start = Instant::now();
    for name in &fresh {
        black_box(r.breaker(name).expect("running"));
    }
    let took = start.elapsed();
    if remove {
        for name in &fresh {
            let _ = r.remove(name);
        }
    }
    took
}

/// Per-call time with two threads calling through clones of one prebuilt
/// pipeline of `registry` together.
fn together(registry: &Arc<Registry>, iters: u64) -> Duration {
    let pipeline = registry.pipeline("kafka").expect("running");
    let barrier = Arc::new(Barrier::new(2));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (pipeline, barrier) = (pipeline.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let start = Instant::now();
                for _ in 0..iters {
                    let _ = black_box(pipeline.execute(|| Ok::<u64, ()>(black_box(1))));
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
    let mut g = c.benchmark_group("two-threads");
    let plain = Arc::new(registry(100, BreakerConfig::default()));
    g.bench_function("pipeline.execute", |b| {
        b.iter_custom(|iters| together(&plain, iters))
    });
    let bulkhead = Arc::new(registry(
        100,
        BreakerConfig::default().with_max_concurrent(64),
    ));
    g.bench_function("pipeline.execute+bulkhead", |b| {
        b.iter_custom(|iters| together(&bulkhead, iters))
    });
    g.finish();
}

criterion_group!(benches, single_thread, create, two_threads);
criterion_main!(benches);
