//! Profiling aid: `n` closed calls (`ready` + `call` + `.await`) through a
//! bare service, the layer with `from_static` or the layer with `new`, on a
//! current-thread runtime. Each mode's loop is its own function so that
//! `valgrind --tool=callgrind --toggle-collect='*run_static*'` counts only it.
//!
//! `cargo run -p warden-tower --release --example layer_loop -- static 1000000`

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::{Arc, OnceLock};

use tower::{Layer, Service, ServiceExt, service_fn};
use warden_breaker::CircuitBreaker;
use warden_tower::CircuitBreakerLayer;

async fn drive<S>(mut svc: S, n: u64) -> u64
where
    S: Service<u64, Response = u64>,
    S::Error: std::fmt::Debug,
{
    let mut sum = 0;
    for i in 0..n {
        let fut = match svc.ready().await {
            Ok(s) => s.call(black_box(i)),
            Err(e) => panic!("not ready: {e:?}"),
        };
        match fut.await {
            Ok(v) => sum += black_box(v),
            Err(e) => panic!("failed: {e:?}"),
        }
    }
    sum
}

fn bare() -> impl Service<u64, Response = u64, Error = Infallible> + Clone {
    service_fn(|x: u64| std::future::ready(Ok::<_, Infallible>(x)))
}

#[inline(never)]
fn run_bare(rt: &tokio::runtime::Runtime, n: u64) -> u64 {
    rt.block_on(drive(bare(), n))
}

#[inline(never)]
fn run_static(rt: &tokio::runtime::Runtime, cb: &'static CircuitBreaker, n: u64) -> u64 {
    rt.block_on(drive(CircuitBreakerLayer::from_static(cb).layer(bare()), n))
}

#[inline(never)]
fn run_arc(rt: &tokio::runtime::Runtime, cb: Arc<CircuitBreaker>, n: u64) -> u64 {
    rt.block_on(drive(CircuitBreakerLayer::new(cb).layer(bare()), n))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "static".into());
    let n: u64 = args
        .next()
        .map_or(1_000_000, |s| s.parse().expect("a count"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    // Built (and the clock calibrated) before the timed loop.
    static CB: OnceLock<CircuitBreaker> = OnceLock::new();
    let cb = CB.get_or_init(|| CircuitBreaker::builder("static").build().expect("breaker"));
    let arc = Arc::new(CircuitBreaker::builder("arc").build().expect("breaker"));
    let start = std::time::Instant::now();
    let sum = match mode.as_str() {
        "bare" => run_bare(&rt, n),
        "static" => run_static(&rt, cb, n),
        "arc" => run_arc(&rt, arc, n),
        other => panic!("unknown mode {other}: bare, static or arc"),
    };
    let ns = start.elapsed().as_nanos() as f64 / n as f64;
    println!("{mode}: {ns:.2} ns per call (sum {sum})");
}
