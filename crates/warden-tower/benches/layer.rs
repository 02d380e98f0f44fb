//! Added latency per request: the same immediately-ready `service_fn` called
//! bare and through `CircuitBreakerLayer`, both driven by `ServiceExt::ready`
//! + `call` + `.await` on one current-thread tokio runtime.
//!
//! `cargo bench -p warden-tower --bench layer`

use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
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

fn layer(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let bare = service_fn(|x: u64| std::future::ready(Ok::<_, Infallible>(x)));

    let closed = CircuitBreaker::builder("bench").build().expect("breaker");
    let closed = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(closed))
        .service(bare);

    let open = CircuitBreaker::builder("bench-open")
        .ready_to_trip(|c| c.consecutive_failures >= 1)
        .build()
        .expect("breaker");
    let _ = open.call(|| Err::<(), ()>(()));
    let open = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(open))
        .service(bare);

    let mut g = c.benchmark_group("layer");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
    g.bench_function("bare", |b| {
        b.to_async(&rt).iter_custom(|iters| drive(bare, iters))
    });
    g.bench_function("closed_success", |b| {
        b.to_async(&rt)
            .iter_custom(|iters| drive(closed.clone(), iters))
    });
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
}

criterion_group!(benches, layer);
criterion_main!(benches);
