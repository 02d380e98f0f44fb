//! What fleet coordination adds to a guarded call.
//!
//! `cargo bench -p warden-redis --bench fleet -- --warm-up-time 1 --measurement-time 3`
//!
//! Starts its own `redis-server` on a free loopback port (as the tests do) and a
//! `Fleet` whose background task syncs every 100 ms (the default slice) on a tokio
//! worker thread while the bench thread calls.
//!
//! * `success/local`: `CircuitBreaker::call` on the closed success path, the
//!   breaker held by value.
//! * `success/local-arc`: the same through an `Arc<CircuitBreaker>`, the way a
//!   breaker shared by tasks (and the one a `FleetBreaker` wraps) is held.
//! * `success/fleet`: `FleetBreaker::call` on the same kind of breaker attached to a
//!   connected fleet (fleet closed): one relaxed load of the verdict, then the local
//!   breaker's admission through its `Arc`.
//! * `failure/*`: the same with a failing call (`ready_to_trip` never trips).
//!
//! Redis operations per call and convergence time: `examples/measure.rs`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use warden_breaker::CircuitBreaker;
use warden_redis::{Coordination, Fleet, FleetConfig};

fn breaker() -> CircuitBreaker {
    CircuitBreaker::builder("bench")
        .ready_to_trip(|_| false)
        .build()
        .expect("valid")
}

fn guarded_call(c: &mut Criterion) {
    let server = support::RedisServer::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let fleet = {
        let _guard = rt.enter();
        Fleet::start(FleetConfig::new(server.url())).expect("valid config")
    };
    let local = breaker();
    let shared = Arc::new(breaker());
    let fleet_cb = fleet.attach(Arc::new(breaker())).expect("first attach");
    let deadline = Instant::now() + Duration::from_secs(10);
    while fleet.coordination() != Coordination::Fleet || fleet_cb.fleet_state().is_none() {
        assert!(
            Instant::now() < deadline,
            "the fleet did not connect to redis-server"
        );
        std::thread::sleep(Duration::from_millis(5));
    }

    let mut g = c.benchmark_group("success");
    g.bench_function("local", |b| {
        b.iter(|| black_box(local.call(|| Ok::<u64, ()>(black_box(1)))))
    });
    g.bench_function("fleet", |b| {
        b.iter(|| black_box(fleet_cb.call(|| Ok::<u64, ()>(black_box(1)))))
    });
    g.bench_function("local-arc", |b| {
        b.iter(|| black_box(shared.call(|| Ok::<u64, ()>(black_box(1)))))
    });
    g.finish();

    let mut g = c.benchmark_group("failure");
    g.bench_function("local", |b| {
        b.iter(|| black_box(local.call(|| Err::<u64, u64>(black_box(1)))))
    });
    g.bench_function("fleet", |b| {
        b.iter(|| black_box(fleet_cb.call(|| Err::<u64, u64>(black_box(1)))))
    });
    g.bench_function("local-arc", |b| {
        b.iter(|| black_box(shared.call(|| Err::<u64, u64>(black_box(1)))))
    });
    g.finish();

    // The bench never left the fleet's closed path and Redis stayed reachable.
    assert_eq!(fleet.coordination(), Coordination::Fleet);
    assert_eq!(fleet.stats().errors, 0);
    drop(fleet);
    drop(rt);
}

criterion_group!(benches, guarded_call);
criterion_main!(benches);
