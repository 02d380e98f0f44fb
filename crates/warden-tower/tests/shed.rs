//! Calls the middleware sheds because `poll_ready` saw the breaker open: each
//! is a rejection in the breaker's own totals (what every metrics backend and
//! the tracing summaries read), with either holder and at the end of the
//! body, and the inner service is never called. (A breaker that leaves the
//! open state between `poll_ready` and `call`: `tests/service.rs`.)

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tower::{Layer, Service, service_fn};
use warden_breaker::{CircuitBreaker, ManualClock};
use warden_tower::{CircuitBreakerLayer, error};

const OPEN_FOR: Duration = Duration::from_secs(5);

fn breaker(clock: &ManualClock) -> CircuitBreaker {
    CircuitBreaker::builder("shed")
        .timeout(OPEN_FOR)
        .ready_to_trip(|c| c.consecutive_failures >= 1)
        .clock(clock.clone())
        .build()
        .expect("valid settings")
}

/// `poll_ready` then `call`, and the response future polled once (every
/// future here is ready at once).
fn request<S: Service<u32>>(svc: &mut S) -> Result<S::Response, S::Error> {
    let mut cx = Context::from_waker(Waker::noop());
    match svc.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => {}
        _ => panic!("the services here are always ready"),
    }
    let mut fut = std::pin::pin!(svc.call(1));
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(r) => r,
        Poll::Pending => panic!("the futures here are ready at once"),
    }
}

/// An inner service that counts its calls.
fn counting(
    calls: &Arc<AtomicU32>,
) -> impl Service<
    u32,
    Response = u32,
    Error = std::io::Error,
    Future = std::future::Ready<Result<u32, std::io::Error>>,
> + Clone {
    let calls = Arc::clone(calls);
    service_fn(move |x: u32| {
        calls.fetch_add(1, Relaxed);
        std::future::ready(Ok(x))
    })
}

fn http_counting(
    calls: &Arc<AtomicU32>,
) -> impl Service<
    u32,
    Response = http::Response<String>,
    Error = std::io::Error,
    Future = std::future::Ready<Result<http::Response<String>, std::io::Error>>,
> + Clone {
    let calls = Arc::clone(calls);
    service_fn(move |_: u32| {
        calls.fetch_add(1, Relaxed);
        std::future::ready(Ok(http::Response::new(String::new())))
    })
}

#[test]
fn a_call_shed_while_open_is_counted_as_a_rejection() {
    let clock = ManualClock::new();
    let shared = Arc::new(breaker(&clock));
    let leaked: &'static CircuitBreaker = Box::leak(Box::new(breaker(&clock)));
    let calls = Arc::new(AtomicU32::new(0));
    shared.force_open();
    leaked.force_open();
    let mut arc = CircuitBreakerLayer::new(Arc::clone(&shared)).layer(counting(&calls));
    let mut stat = CircuitBreakerLayer::from_static(leaked).layer(counting(&calls));
    let mut body = CircuitBreakerLayer::new(Arc::clone(&shared))
        .until_end_of_body()
        .layer(http_counting(&calls));
    for _ in 0..3 {
        let e = request(&mut arc).unwrap_err();
        assert_eq!(error::rejection(&*e), Some(warden_breaker::Rejected::Open));
        assert!(request(&mut stat).is_err());
    }
    assert!(request(&mut body).is_err());
    assert_eq!(calls.load(Relaxed), 0, "the inner service was never called");
    assert_eq!(
        shared.totals().rejected_open,
        4,
        "three through the layer, one at the end of body"
    );
    assert_eq!(leaked.totals().rejected_open, 3);
}
