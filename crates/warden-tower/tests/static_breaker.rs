//! A breaker that lives for the program (`CircuitBreakerLayer::from_static`,
//! `CircuitBreakerService::from_static`) behaves as one in an `Arc`: outcomes
//! are recorded, a dropped response future gives its half-open slot back, and
//! a panic is a failure, also when caught around the future. Breakers are
//! leaked (`Box::leak`), each test its own, on `ManualClock`s.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
use warden_breaker::{CircuitBreaker, ManualClock, Rejected, State};
use warden_tower::classify::DefaultClassifier;
use warden_tower::{BoxError, CircuitBreakerLayer, CircuitBreakerService, error};

const OPEN_FOR: Duration = Duration::from_secs(5);

fn leaked(clock: &ManualClock, max_requests: u32, trip_after: u32) -> &'static CircuitBreaker {
    Box::leak(Box::new(
        CircuitBreaker::builder("static")
            .timeout(OPEN_FOR)
            .max_requests(max_requests)
            .ready_to_trip(move |c| c.consecutive_failures >= trip_after)
            .clock(clock.clone())
            .build()
            .expect("valid settings"),
    ))
}

/// A future that panics when polled.
struct Bomb;

impl Future for Bomb {
    type Output = Result<(), BoxError>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        panic!("inner future panicked")
    }
}

fn poll_catching<F: Future>(fut: Pin<&mut F>) -> Result<Poll<F::Output>, ()> {
    let mut cx = Context::from_waker(Waker::noop());
    catch_unwind(AssertUnwindSafe(|| fut.poll(&mut cx))).map_err(|_| ())
}

#[tokio::test(flavor = "current_thread")]
async fn outcomes_trip_and_reject_as_with_an_arc() {
    let clock = ManualClock::new();
    let cb = leaked(&clock, 1, 2);
    let mut svc = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::from_static(cb))
        .service(service_fn(|fail: bool| async move {
            if fail { Err("boom") } else { Ok("pong") }
        }));
    assert_eq!(
        svc.ready().await.unwrap().call(false).await.unwrap(),
        "pong"
    );
    assert_eq!(cb.counts().total_successes, 1);
    for _ in 0..2 {
        assert!(svc.ready().await.unwrap().call(true).await.is_err());
    }
    assert_eq!(cb.state(), State::Open);
    let err = svc.ready().await.unwrap().call(false).await.unwrap_err();
    assert_eq!(error::rejection(&*err), Some(Rejected::Open), "{err}");
    clock.advance(OPEN_FOR + Duration::from_millis(1));
    assert_eq!(
        svc.ready().await.unwrap().call(false).await.unwrap(),
        "pong"
    );
    assert_eq!(cb.state(), State::Closed, "the probe closed it");
}

#[tokio::test(flavor = "current_thread")]
async fn a_dropped_future_gives_the_half_open_slot_back() {
    let clock = ManualClock::new();
    let cb = leaked(&clock, 1, 1);
    let _ = cb.call(|| Err::<(), ()>(()));
    clock.advance(OPEN_FOR + Duration::from_millis(1));
    assert_eq!(cb.state(), State::HalfOpen);
    let mut svc = CircuitBreakerService::from_static(
        service_fn(|hang: bool| async move {
            if hang {
                std::future::pending::<()>().await;
            }
            Ok::<_, std::io::Error>(())
        }),
        cb,
        DefaultClassifier,
    );
    let probe = svc.ready().await.unwrap().call(true);
    let err = svc.ready().await.unwrap().call(false).await.unwrap_err();
    assert!(
        error::rejection(&*err) == Some(Rejected::TooManyRequests),
        "the only slot is taken: {err}"
    );
    drop(probe); // cancelled: its slot comes back, no outcome recorded
    assert_eq!(cb.state(), State::HalfOpen);
    svc.ready().await.unwrap().call(false).await.unwrap();
    assert_eq!(cb.state(), State::Closed, "the next probe got the slot");
}

#[test]
fn a_caught_panic_is_a_failure() {
    let clock = ManualClock::new();
    let cb = leaked(&clock, 5, 3);
    let mut svc = CircuitBreakerService::from_static(service_fn(|()| Bomb), cb, DefaultClassifier);
    for _ in 0..3 {
        let mut cx = Context::from_waker(Waker::noop());
        assert!(svc.poll_ready(&mut cx).is_ready());
        let fut = svc.call(());
        let mut fut = pin!(fut);
        assert!(poll_catching(fut.as_mut()).is_err());
        // The future outlives the panic, as under a catch-panic layer.
    }
    assert_eq!(cb.state(), State::Open, "three caught panics trip it");

    // Half-open probes that panic: the first failure reopens it, and the kept
    // futures, dropped later, record nothing more.
    clock.advance(OPEN_FOR + Duration::from_millis(1));
    assert_eq!(cb.state(), State::HalfOpen);
    let mut kept = Vec::new();
    for _ in 0..5 {
        let mut cx = Context::from_waker(Waker::noop());
        assert!(svc.poll_ready(&mut cx).is_ready());
        let mut fut = Box::pin(svc.call(()));
        let _ = poll_catching(fut.as_mut());
        kept.push(fut);
    }
    assert_eq!(cb.state(), State::Open);
    drop(kept);
    assert_eq!(cb.state(), State::Open);
}

#[tokio::test(flavor = "current_thread")]
async fn a_panic_in_a_spawned_request_is_a_failure() {
    let clock = ManualClock::new();
    let cb = leaked(&clock, 1, 1);
    let svc = tower::Layer::layer(&CircuitBreakerLayer::from_static(cb), service_fn(|()| Bomb));
    let joined = tokio::spawn(svc.oneshot(())).await;
    assert!(joined.unwrap_err().is_panic());
    // One failure trips it (the trip starts a new generation of counts).
    assert_eq!(
        cb.state(),
        State::Open,
        "the panic was recorded as a failure"
    );
}

#[test]
fn the_breaker_reads_back_and_end_of_body_keeps_it() {
    let clock = ManualClock::new();
    let cb = leaked(&clock, 1, 1);
    let layer = CircuitBreakerLayer::from_static(cb);
    assert!(std::ptr::eq(layer.breaker(), cb));
    assert!(std::ptr::eq(layer.until_end_of_body().breaker(), cb));
}

/// The response future of `S` for request `R`, by size.
fn future_size<S: Service<R>, R>(_: &S) -> usize {
    std::mem::size_of::<S::Future>()
}

/// A `from_static` service's response future is the inner future plus the
/// core's borrowed permit (three words), nothing more: no room kept for an
/// `Arc`-owning permit nor a tag telling the two apart, which made every
/// future 8 bytes larger (40 bytes here, instead of 32) and every call branch
/// on how the breaker is held. The same holds for the end-of-body future.
#[test]
fn a_static_response_future_holds_the_inner_future_and_a_borrowed_permit() {
    type Inner = std::future::Ready<Result<u64, std::convert::Infallible>>;
    let clock = ManualClock::new();
    let cb = leaked(&clock, 1, 1);
    let inner = service_fn(|x: u64| std::future::ready(Ok::<_, std::convert::Infallible>(x)));
    let want =
        std::mem::size_of::<Inner>() + std::mem::size_of::<warden_breaker::Permit<'static>>();
    let svc = tower::Layer::layer(&CircuitBreakerLayer::from_static(cb), inner);
    assert_eq!(future_size::<_, u64>(&svc), want);
    let http_inner = service_fn(|()| {
        std::future::ready(Ok::<_, std::convert::Infallible>(http::Response::new(())))
    });
    let end_of_body = tower::Layer::layer(
        &CircuitBreakerLayer::from_static(cb).until_end_of_body(),
        http_inner,
    );
    let http_want = std::mem::size_of::<
        std::future::Ready<Result<http::Response<()>, std::convert::Infallible>>,
    >() + std::mem::size_of::<warden_breaker::Permit<'static>>();
    assert_eq!(future_size::<_, ()>(&end_of_body), http_want);
}
