//! The service contract without a network: readiness, permits, classification,
//! panics. Inner services are in-process; the breaker runs on a `ManualClock`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
use warden_breaker::{CircuitBreaker, ManualClock, Outcome, Rejected, State};
use warden_tower::{BoxError, CircuitBreakerLayer, CircuitBreakerService, error};

const TIMEOUT: Duration = Duration::from_secs(5);

fn breaker(clock: &ManualClock, max_requests: u32) -> Arc<CircuitBreaker> {
    Arc::new(
        CircuitBreaker::builder("svc")
            .timeout(TIMEOUT)
            .max_requests(max_requests)
            .ready_to_trip(|c| c.consecutive_failures >= 1)
            .clock(clock.clone())
            .build()
            .unwrap(),
    )
}

fn noop_cx() -> Context<'static> {
    Context::from_waker(std::task::Waker::noop())
}

/// An inner service that is ready only when told, and counts its calls.
#[derive(Clone, Default)]
struct Gated {
    ready: Arc<AtomicUsize>,
    calls: Arc<AtomicUsize>,
    polls: Arc<AtomicUsize>,
}

impl Service<bool> for Gated {
    type Response = &'static str;
    type Error = &'static str;
    type Future = std::future::Ready<Result<&'static str, &'static str>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Relaxed: single-threaded test bookkeeping.
        self.polls.fetch_add(1, Ordering::Relaxed);
        if self.ready.load(Ordering::Relaxed) > 0 {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    fn call(&mut self, ok: bool) -> Self::Future {
        self.calls.fetch_add(1, Ordering::Relaxed);
        std::future::ready(if ok { Ok("ok") } else { Err("failed") })
    }
}

fn trip(svc: &mut CircuitBreakerService<Gated>) {
    let mut cx = noop_cx();
    assert!(svc.poll_ready(&mut cx).is_ready());
    let mut fut = std::pin::pin!(svc.call(false));
    assert!(matches!(fut.as_mut().poll(&mut cx), Poll::Ready(Err(_))));
    assert_eq!(svc.breaker().state(), State::Open);
}

#[test]
fn closed_passes_inner_readiness_through() {
    let clock = ManualClock::new();
    let inner = Gated::default();
    let mut svc = CircuitBreakerService::new(inner.clone(), breaker(&clock, 1));
    let mut cx = noop_cx();
    assert!(svc.poll_ready(&mut cx).is_pending());
    inner.ready.store(1, Ordering::Relaxed);
    assert!(svc.poll_ready(&mut cx).is_ready());
}

#[test]
fn open_is_ready_at_once_and_never_touches_inner() {
    let clock = ManualClock::new();
    let inner = Gated::default();
    inner.ready.store(1, Ordering::Relaxed);
    let cb = breaker(&clock, 1);
    let mut svc = CircuitBreakerService::new(inner.clone(), cb.clone());
    trip(&mut svc);
    let (polls, calls) = (
        inner.polls.load(Ordering::Relaxed),
        inner.calls.load(Ordering::Relaxed),
    );

    // The inner service is saturated now, yet callers are answered at once.
    inner.ready.store(0, Ordering::Relaxed);
    let mut cx = noop_cx();
    for _ in 0..5 {
        assert!(matches!(svc.poll_ready(&mut cx), Poll::Ready(Ok(()))));
        let fut = std::pin::pin!(svc.call(true));
        match fut.poll(&mut cx) {
            Poll::Ready(Err(e)) => assert_eq!(
                error::rejection(&*e),
                Some(warden_breaker::Rejected::Open),
                "{e}"
            ),
            other => panic!("expected a rejection, got {other:?}"),
        }
    }
    assert_eq!(inner.polls.load(Ordering::Relaxed), polls);
    assert_eq!(inner.calls.load(Ordering::Relaxed), calls);

    // Once half-open, readiness is the inner service's again.
    clock.advance(TIMEOUT + Duration::from_millis(1));
    assert!(svc.poll_ready(&mut cx).is_pending());
    assert_eq!(cb.state(), State::HalfOpen);
    inner.ready.store(1, Ordering::Relaxed);
    assert!(svc.poll_ready(&mut cx).is_ready());
    let fut = std::pin::pin!(svc.call(true));
    assert!(matches!(fut.poll(&mut cx), Poll::Ready(Ok("ok"))));
    assert_eq!(cb.state(), State::Closed);
}

#[test]
fn ready_while_open_then_called_after_the_timeout_is_still_shed() {
    // `poll_ready` skipped the inner service because the breaker was open; by
    // `call` the timeout has passed, but the inner service was never polled, so
    // the call must not reach it.
    let clock = ManualClock::new();
    let inner = Gated::default();
    inner.ready.store(1, Ordering::Relaxed);
    let cb = breaker(&clock, 1);
    let mut svc = CircuitBreakerService::new(inner.clone(), cb.clone());
    trip(&mut svc);
    let calls = inner.calls.load(Ordering::Relaxed);
    let mut cx = noop_cx();
    assert!(svc.poll_ready(&mut cx).is_ready());
    clock.advance(TIMEOUT + Duration::from_millis(1));
    let fut = std::pin::pin!(svc.call(true));
    assert!(
        matches!(fut.poll(&mut cx), Poll::Ready(Err(e)) if error::rejection(&*e) == Some(warden_breaker::Rejected::Open))
    );
    assert_eq!(inner.calls.load(Ordering::Relaxed), calls);
    // No probe slot was taken by the shed call.
    assert_eq!(cb.state(), State::HalfOpen);
    assert_eq!(cb.counts().requests, 0);
}

#[test]
fn poll_ready_takes_no_permit() {
    let clock = ManualClock::new();
    let inner = Gated::default();
    inner.ready.store(1, Ordering::Relaxed);
    let cb = breaker(&clock, 1);
    let mut a = CircuitBreakerService::new(inner.clone(), cb.clone());
    trip(&mut a);
    clock.advance(TIMEOUT + Duration::from_millis(1));

    // Many clones polled ready in half-open with one probe slot: none holds it.
    let mut cx = noop_cx();
    let mut clones: Vec<_> = (0..4).map(|_| a.clone()).collect();
    for c in &mut clones {
        assert!(c.poll_ready(&mut cx).is_ready());
    }
    assert_eq!(cb.counts().requests, 0);
    drop(clones);
    assert_eq!(cb.counts().requests, 0);

    // The slot goes to whichever calls first.
    let mut b = a.clone();
    assert!(a.poll_ready(&mut cx).is_ready());
    assert!(b.poll_ready(&mut cx).is_ready());
    let first = a.call(true);
    assert_eq!(cb.counts().requests, 1);
    let second = std::pin::pin!(b.call(true));
    assert!(
        matches!(second.poll(&mut cx), Poll::Ready(Err(e)) if error::rejection(&*e) == Some(warden_breaker::Rejected::TooManyRequests))
    );
    let first = std::pin::pin!(first);
    assert!(matches!(first.poll(&mut cx), Poll::Ready(Ok("ok"))));
    assert_eq!(cb.state(), State::Closed);
}

#[test]
fn clones_do_not_inherit_shed_readiness() {
    let clock = ManualClock::new();
    let inner = Gated::default();
    inner.ready.store(1, Ordering::Relaxed);
    let cb = breaker(&clock, 1);
    let mut svc = CircuitBreakerService::new(inner.clone(), cb.clone());
    trip(&mut svc);
    let mut cx = noop_cx();
    assert!(svc.poll_ready(&mut cx).is_ready()); // shed
    clock.advance(TIMEOUT + Duration::from_millis(1));
    let mut clone = svc.clone();
    // The clone polls for itself: half-open now, inner ready, admitted.
    assert!(clone.poll_ready(&mut cx).is_ready());
    let fut = std::pin::pin!(clone.call(true));
    assert!(matches!(fut.poll(&mut cx), Poll::Ready(Ok("ok"))));
    assert_eq!(cb.state(), State::Closed);
}

#[test]
fn inner_readiness_errors_pass_through() {
    let clock = ManualClock::new();
    let cb = breaker(&clock, 1);
    let mut cx = noop_cx();

    /// Always fails readiness.
    struct Broken;
    impl Service<()> for Broken {
        type Response = ();
        type Error = std::io::Error;
        type Future = std::future::Ready<Result<(), std::io::Error>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Err(std::io::Error::other("broken")))
        }
        fn call(&mut self, (): ()) -> Self::Future {
            unreachable!("never ready")
        }
    }
    let mut broken = CircuitBreakerService::new(Broken, cb.clone());
    match broken.poll_ready(&mut cx) {
        Poll::Ready(Err(e)) => assert_eq!(e.to_string(), "broken"),
        other => panic!("{other:?}"),
    }
    // A readiness error is not a request: nothing is recorded.
    assert_eq!(cb.counts(), Default::default());
}

#[tokio::test]
async fn classifier_decides_and_the_result_passes_through_unchanged() {
    let clock = ManualClock::new();
    let cb = breaker(&clock, 1);
    let svc = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(cb.clone()).classifier(
            |r: &Result<u16, BoxError>| match r {
                Ok(code) if *code >= 500 => Outcome::Failure,
                Ok(_) => Outcome::Success,
                Err(_) => Outcome::Ignored,
            },
        ))
        .service(service_fn(|code: u16| async move {
            if code == 0 {
                Err::<u16, BoxError>("no code".into())
            } else {
                Ok(code)
            }
        }));
    assert_eq!(svc.clone().oneshot(200).await.unwrap(), 200);
    let err = svc.clone().oneshot(0).await.unwrap_err();
    assert_eq!(err.to_string(), "no code");
    assert_eq!(error::rejection(&*err), None);
    assert_eq!(cb.counts().total_successes, 1);
    assert_eq!(cb.counts().total_exclusions, 1);
    assert_eq!(svc.clone().oneshot(503).await.unwrap(), 503);
    assert_eq!(cb.state(), State::Open);
    let err = svc.oneshot(200).await.unwrap_err();
    assert_eq!(error::rejection(&*err), Some(Rejected::Open));
}

#[tokio::test]
async fn dropped_future_in_closed_records_nothing() {
    let clock = ManualClock::new();
    let cb = breaker(&clock, 1);
    let mut svc = CircuitBreakerService::new(
        service_fn(|()| std::future::pending::<Result<(), BoxError>>()),
        cb.clone(),
    );
    for _ in 0..3 {
        let fut = svc.ready().await.unwrap().call(());
        drop(fut);
    }
    let c = cb.counts();
    assert_eq!(c.requests, 3);
    assert_eq!(c.total_successes + c.total_failures + c.total_exclusions, 0);
    assert_eq!(cb.state(), State::Closed);
}

#[test]
fn a_finished_future_polled_again_panics_without_polling_inner() {
    let clock = ManualClock::new();
    let cb = breaker(&clock, 1);
    let polls = Arc::new(AtomicUsize::new(0));
    let counted = polls.clone();
    // An inner future that answers every poll, however often it is polled.
    let inner = service_fn(move |()| {
        let counted = counted.clone();
        std::future::poll_fn(move |_| {
            counted.fetch_add(1, Ordering::Relaxed);
            Poll::Ready(Ok::<_, BoxError>(()))
        })
    });
    let mut svc = CircuitBreakerService::new(inner, cb.clone());
    let mut cx = noop_cx();
    assert!(svc.poll_ready(&mut cx).is_ready());
    let mut fut = Box::pin(svc.call(()));
    assert!(matches!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(()))));
    let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = fut.as_mut().poll(&mut cx);
    }));
    let message = again.expect_err("a finished future polled again panics");
    assert_eq!(
        message.downcast_ref::<&str>(),
        Some(&"`ResponseFuture` polled after it returned its result")
    );
    assert_eq!(polls.load(Ordering::Relaxed), 1, "inner is polled once");
    assert_eq!(
        cb.counts().total_successes,
        1,
        "the outcome is recorded once"
    );
    drop(fut);
    assert_eq!(cb.counts().total_successes + cb.counts().total_failures, 1);
}

/// A future that panics when polled.
struct Bomb;
impl Future for Bomb {
    type Output = Result<(), BoxError>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        panic!("inner future panicked")
    }
}

#[tokio::test]
async fn a_panicking_inner_future_counts_as_a_failure() {
    let clock = ManualClock::new();
    let cb = breaker(&clock, 1);
    let svc = CircuitBreakerService::new(service_fn(|()| Bomb), cb.clone());
    let join = tokio::spawn(svc.oneshot(()));
    assert!(join.await.unwrap_err().is_panic());
    assert_eq!(cb.counts(), Default::default(), "open: counts zeroed");
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn service_and_future_are_send_and_sync_where_inner_is() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    let clock = ManualClock::new();
    let mut svc = CircuitBreakerService::new(Gated::default(), breaker(&clock, 1));
    send_sync(&svc);
    let fut = svc.call(true);
    send_sync(&fut);
    let layer = CircuitBreakerLayer::new(breaker(&clock, 1));
    send_sync(&layer);
}

#[test]
fn a_caught_classifier_panic_records_the_probes_failure_at_once() {
    // The classifier panics on a half-open probe's result, and a `catch_unwind`
    // around the poll keeps the future. The permit must record the failure as
    // the panic unwinds (the breaker reopens then), not wait for the future's
    // drop, which would release it unreported as a cancellation.
    let clock = ManualClock::new();
    let cb = breaker(&clock, 1);
    let inner = Gated::default();
    inner.ready.store(1, Ordering::Relaxed);
    let panicking =
        |_: &Result<&'static str, &'static str>| -> Outcome { panic!("the classifier panics") };
    let mut tripping = CircuitBreakerService::new(inner.clone(), cb.clone());
    trip(&mut tripping);
    clock.advance(TIMEOUT + Duration::from_millis(1));
    assert_eq!(cb.state(), State::HalfOpen);
    let mut svc = CircuitBreakerService::with_classifier(inner, cb.clone(), panicking);
    let mut cx = noop_cx();
    assert!(svc.poll_ready(&mut cx).is_ready());
    let mut fut = Box::pin(svc.call(true));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = fut.as_mut().poll(&mut cx);
    }));
    assert!(caught.is_err(), "the classifier's panic reaches the caller");
    assert_eq!(
        cb.state(),
        State::Open,
        "the failed probe reopened the breaker"
    );
    assert_eq!(cb.totals().failures, 2, "the trip and the probe");
    drop(fut);
    assert_eq!(cb.totals().failures, 2, "recorded once");
    assert_eq!(cb.state(), State::Open);
}
