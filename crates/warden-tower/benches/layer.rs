//! Added latency per request: the same immediately-ready `service_fn` called
//! bare, through `CircuitBreakerLayer` (breaker in an `Arc`, and `&'static`)
//! and through `tower-resilience-circuitbreaker` (default configuration), each
//! driven by `ServiceExt::ready` + `call` + `.await` on a current-thread tokio
//! runtime per thread, at 1 thread (`layer/…`) and 2 threads (`layer_2t/…`,
//! each thread with its own clone of the service and its own runtime; the
//! figure is the mean of the threads' own times per call).
//!
//! `cargo bench -p warden-tower --bench layer`

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::{Barrier, OnceLock};
use std::time::{Duration, Instant};

use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};
use warden_breaker::CircuitBreaker;
use warden_tower::CircuitBreakerLayer;

/// Times `iters` requests through `svc` (cloned once per batch, not per request).
async fn drive<S>(mut svc: S, iters: u64) -> Duration
where
    S: Service<u64, Response = u64>,
    S::Error: std::fmt::Debug,
{
    let start = Instant::now();
    for i in 0..iters {
        let res = svc.ready().await.map(|s| s.call(black_box(i)));
        match res {
            Ok(fut) => {
                let _ = black_box(fut.await);
            }
            Err(e) => panic!("not ready: {e:?}"),
        }
    }
    start.elapsed()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}

/// `iters` requests on each of `threads` threads, each with its own clone of
/// `svc` and its own current-thread runtime, started together; the mean of
/// the threads' times.
fn drive_threads<S>(svc: &S, threads: u32, iters: u64) -> Duration
where
    S: Service<u64, Response = u64> + Clone + Send,
    S::Error: std::fmt::Debug,
{
    let start = Barrier::new(threads as usize);
    let total: Duration = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let svc = svc.clone();
                let start = &start;
                scope.spawn(move || {
                    let rt = runtime();
                    start.wait();
                    rt.block_on(drive(svc, iters))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("bench thread"))
            .sum()
    });
    total / threads
}

fn bare() -> impl Service<u64, Response = u64, Error = Infallible, Future: Send> + Clone + Send {
    service_fn(|x: u64| std::future::ready(Ok::<_, Infallible>(x)))
}

/// The breakers a closed call goes through, built once.
fn static_breaker() -> &'static CircuitBreaker {
    static CB: OnceLock<CircuitBreaker> = OnceLock::new();
    CB.get_or_init(|| {
        CircuitBreaker::builder("bench-static")
            .build()
            .expect("breaker")
    })
}

fn bench_closed(g: &mut BenchmarkGroup<'_, WallTime>, threads: u32) {
    let arc = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(
            CircuitBreaker::builder("bench").build().expect("breaker"),
        ))
        .service(bare());
    let stat = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::from_static(static_breaker()))
        .service(bare());
    let peer = tower_resilience_circuitbreaker::CircuitBreakerLayer::builder()
        .build()
        .expect("peer breaker")
        .layer(bare());
    let svc = bare();
    g.bench_function("bare", |b| {
        b.iter_custom(|iters| drive_threads(&svc, threads, iters))
    });
    g.bench_function("closed_success", |b| {
        b.iter_custom(|iters| drive_threads(&arc, threads, iters))
    });
    g.bench_function("closed_success_static", |b| {
        b.iter_custom(|iters| drive_threads(&stat, threads, iters))
    });
    g.bench_function("tower_resilience", |b| {
        b.iter_custom(|iters| drive_threads(&peer, threads, iters))
    });
}

fn layer(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("layer");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
    bench_closed(&mut g, 1);

    let open = CircuitBreaker::builder("bench-open")
        .ready_to_trip(|c| c.consecutive_failures >= 1)
        .build()
        .expect("breaker");
    let _ = open.call(|| Err::<(), ()>(()));
    let open = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(open))
        .service(bare());
    g.bench_function("open_rejected", |b| {
        b.to_async(&rt)
            .iter_custom(|iters| drive(open.clone(), iters))
    });
    // What the closed path is made of: the core's owned permit alone (an `Arc`
    // clone and drop around the admission and the success).
    let cb = std::sync::Arc::new(
        CircuitBreaker::builder("bench-permit")
            .build()
            .expect("breaker"),
    );
    g.bench_function("owned_permit_only", |b| {
        b.iter(|| match cb.try_acquire_owned() {
            Ok(p) => p.success(),
            Err(e) => panic!("{e}"),
        })
    });
    g.bench_function("borrowed_permit_only", |b| {
        b.iter(|| match cb.try_acquire() {
            Ok(p) => p.success(),
            Err(e) => panic!("{e}"),
        })
    });
    g.finish();

    let mut g = c.benchmark_group("layer_2t");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
    bench_closed(&mut g, 2);
    g.finish();
}

criterion_group!(benches, layer);
criterion_main!(benches);
