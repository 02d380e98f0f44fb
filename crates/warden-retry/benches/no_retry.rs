//! The cost of the no-retry path: a call that succeeds first time, bare and
//! through `retry` with the default policy (plus variants that read the clock
//! or touch a budget).
//!
//! `cargo bench -p warden-retry --bench no_retry`

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use warden_breaker::CircuitBreaker;
use warden_retry::{RetryBudget, RetryPolicy, retry, with_breaker_and_retry};

fn op(x: u64) -> Result<u64, std::io::Error> {
    Ok(black_box(x).wrapping_mul(3))
}

fn no_retry(c: &mut Criterion) {
    let mut g = c.benchmark_group("no_retry");
    g.bench_function("bare_call", |b| b.iter(|| op(black_box(7))));

    let default = RetryPolicy::<std::io::Error>::default();
    g.bench_function("retry_default_policy", |b| {
        b.iter(|| retry(&default, || op(black_box(7))))
    });

    let deadline = RetryPolicy::<std::io::Error>::builder()
        .max_elapsed(Duration::from_secs(5))
        .build()
        .unwrap();
    g.bench_function("retry_with_max_elapsed", |b| {
        b.iter(|| retry(&deadline, || op(black_box(7))))
    });

    let budgeted = RetryPolicy::<std::io::Error>::builder()
        .budget(Arc::new(RetryBudget::builder().build().unwrap()))
        .build()
        .unwrap();
    g.bench_function("retry_with_budget", |b| {
        b.iter(|| retry(&budgeted, || op(black_box(7))))
    });

    let cb = CircuitBreaker::builder("bench").build().unwrap();
    g.bench_function("breaker_call", |b| b.iter(|| cb.call(|| op(black_box(7)))));
    g.bench_function("breaker_and_retry", |b| {
        b.iter(|| with_breaker_and_retry(&cb, &default, || op(black_box(7))))
    });
    g.finish();
}

criterion_group!(benches, no_retry);
criterion_main!(benches);
