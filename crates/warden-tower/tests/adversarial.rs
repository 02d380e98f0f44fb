//! Adversarial use of the middleware and the retry policy: panics caught
//! around the response future, instant failures under a retry, rejections
//! and cancellations against the budget, non-idempotent requests over real
//! loopback HTTP. Breakers and budgets run on `ManualClock`s; the one test
//! in real time says why.

#![cfg(feature = "retry")]

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::Router;
use axum::extract::State as AxumState;
use axum::http::StatusCode;
use axum::routing::post;
use http_body_util::Empty;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
use warden_breaker::{CircuitBreaker, ManualClock, Rejected, State};
use warden_retry::{RetryBudget, RetryPolicy};
use warden_tower::classify::HttpClassifier;
use warden_tower::retry::{CloneAll, WardenPolicy};
use warden_tower::{BoxError, CircuitBreakerLayer, CircuitBreakerService, error};

const OPEN_FOR: Duration = Duration::from_secs(5);

fn breaker(clock: &ManualClock, max_requests: u32, trip_after: u32) -> Arc<CircuitBreaker> {
    Arc::new(
        CircuitBreaker::builder("adversary")
            .timeout(OPEN_FOR)
            .max_requests(max_requests)
            .ready_to_trip(move |c| c.consecutive_failures >= trip_after)
            .clock(clock.clone())
            .build()
            .unwrap(),
    )
}

fn budget(ratio: f64, per_sec: u32) -> Arc<RetryBudget> {
    Arc::new(
        RetryBudget::builder()
            .retry_ratio(ratio)
            .min_per_sec(per_sec)
            .clock(ManualClock::new())
            .build()
            .unwrap(),
    )
}

/// A future that panics when polled.
struct Bomb;
impl Future for Bomb {
    type Output = Result<(), BoxError>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        panic!("inner future panicked")
    }
}

/// What tower-http's `CatchPanicLayer` does: catch a panic out of `poll` and
/// keep the future (it is dropped later, not while panicking).
fn poll_catching<F: Future>(fut: Pin<&mut F>) -> Result<Poll<F::Output>, ()> {
    let mut cx = Context::from_waker(Waker::noop());
    catch_unwind(AssertUnwindSafe(|| fut.poll(&mut cx))).map_err(|_| ())
}

#[test]
fn a_caught_panic_is_a_failure() {
    let clock = ManualClock::new();
    let cb = breaker(&clock, 5, 3);
    let mut svc = CircuitBreakerService::new(service_fn(|()| Bomb), cb.clone());
    for _ in 0..3 {
        let mut cx = Context::from_waker(Waker::noop());
        assert!(svc.poll_ready(&mut cx).is_ready());
        let fut = svc.call(());
        let mut fut = pin!(fut);
        assert!(poll_catching(fut.as_mut()).is_err());
        // The future outlives the panic, as under a catch-panic layer.
    }
    assert_eq!(cb.state(), State::Open, "three caught panics trip it");

    // Five half-open probes that panic: the first failure reopens it.
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

#[test]
fn instant_failures_under_a_retry_return_to_the_runtime() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let policy = RetryPolicy::<&str>::builder()
        .max_attempts(1_000)
        .base_delay(Duration::ZERO)
        .build()
        .unwrap();
    let svc = ServiceBuilder::new()
        .retry(WardenPolicy::new(policy).clone_requests(CloneAll))
        .service(service_fn(move |()| {
            // Relaxed: a counter read after the polls below.
            counter.fetch_add(1, Ordering::Relaxed);
            std::future::ready(Err::<(), _>("instant failure"))
        }));
    let mut fut = pin!(svc.oneshot(()));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    assert_eq!(calls.load(Ordering::Relaxed), 1, "one attempt per poll");
    let mut polls = 1;
    while fut.as_mut().poll(&mut cx).is_pending() {
        polls += 1;
    }
    assert_eq!((calls.load(Ordering::Relaxed), polls + 1), (1_000, 1_000));
}

#[tokio::test(flavor = "current_thread")]
async fn a_timeout_around_a_retry_of_instant_failures_fires_on_time() {
    // Real time: the point is that the runtime's timer gets to run. Bounded:
    // the timeout is 50 ms, the policy's own deadline 2 s.
    let policy = RetryPolicy::<&str>::builder()
        .until_success(Duration::from_secs(2))
        .base_delay(Duration::ZERO)
        .build()
        .unwrap();
    let svc = ServiceBuilder::new()
        .retry(WardenPolicy::new(policy).clone_requests(CloneAll))
        .service(service_fn(|()| std::future::ready(Err::<(), _>("down"))));
    let start = std::time::Instant::now();
    let out = tokio::time::timeout(Duration::from_millis(50), svc.oneshot(())).await;
    assert!(out.is_err(), "the timeout fired");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
}

/// A retry over a breaker over a downstream that always fails.
fn stack(
    cb: &Arc<CircuitBreaker>,
    policy: RetryPolicy<BoxError>,
    calls: &Arc<AtomicUsize>,
) -> impl Service<(), Response = (), Error = BoxError, Future: Send> + Clone {
    let calls = calls.clone();
    ServiceBuilder::new()
        .retry(WardenPolicy::new(policy).clone_requests(CloneAll))
        .layer(CircuitBreakerLayer::new(cb.clone()))
        .service(service_fn(move |()| {
            calls.fetch_add(1, Ordering::Relaxed);
            std::future::ready(Err::<(), BoxError>("dead".into()))
        }))
}

#[tokio::test]
async fn rejected_requests_pay_nothing_into_the_budget() {
    let clock = ManualClock::new();
    let cb = breaker(&clock, 1, 1);
    let b = budget(0.2, 0);
    let calls = Arc::new(AtomicUsize::new(0));
    let policy = RetryPolicy::builder()
        .max_attempts(4)
        .base_delay(Duration::ZERO)
        .budget(b.clone())
        .build()
        .unwrap();
    let svc = stack(&cb, policy, &calls);
    // Trip it: one call, no retry (nothing banked yet, no reserve).
    let _ = svc.clone().oneshot(()).await;
    assert_eq!(
        (cb.state(), calls.load(Ordering::Relaxed)),
        (State::Open, 1)
    );
    for _ in 0..1_000 {
        let err = svc.clone().oneshot(()).await.unwrap_err();
        assert_eq!(error::rejection(&*err), Some(Rejected::Open));
    }
    assert_eq!(b.available(), 0, "1,000 rejections banked nothing");
    // The downstream is still dead when the breaker lets requests through:
    // ten requests make ten calls and two retries (0.2 + 10 × 0.2 tokens).
    clock.advance(OPEN_FOR + Duration::from_millis(1));
    let trip_never = breaker(&clock, 1, u32::MAX);
    let svc = stack(
        &trip_never,
        RetryPolicy::builder()
            .max_attempts(4)
            .base_delay(Duration::ZERO)
            .budget(b.clone())
            .build()
            .unwrap(),
        &calls,
    );
    for _ in 0..10 {
        let _ = svc.clone().oneshot(()).await;
    }
    assert_eq!(calls.load(Ordering::Relaxed), 1 + 10 + 2);
}

#[tokio::test]
async fn retried_rejections_take_nothing_from_the_budget() {
    let clock = ManualClock::new();
    let cb = breaker(&clock, 1, 1);
    let b = budget(0.0, 10); // a reserve of 100 retries
    let calls = Arc::new(AtomicUsize::new(0));
    let policy = RetryPolicy::builder()
        .max_attempts(101)
        .base_delay(Duration::ZERO)
        .retry_rejections(true)
        .budget(b.clone())
        .build()
        .unwrap();
    let svc = stack(&cb, policy, &calls);
    // One call trips it; the 100 retries that follow are all rejected, and
    // each rejected retry's token comes back.
    let _ = svc.clone().oneshot(()).await;
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    assert_eq!(b.available(), 100);
    let err = svc.clone().oneshot(()).await.unwrap_err();
    assert_eq!(error::rejection(&*err), Some(Rejected::Open));
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    assert_eq!(
        b.available(),
        100,
        "101 rejected attempts, 0 calls, 0 tokens"
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_dropped_while_waiting_gives_its_token_back() {
    let b = budget(0.0, 1); // 10 in reserve
    let policy = RetryPolicy::<&str>::builder()
        .base_delay(Duration::from_secs(1))
        .budget(b.clone())
        .build()
        .unwrap();
    let svc = ServiceBuilder::new()
        .retry(WardenPolicy::new(policy).clone_requests(CloneAll))
        .service(service_fn(|()| std::future::ready(Err::<(), _>("down"))));
    let out = tokio::time::timeout(Duration::from_millis(10), svc.oneshot(())).await;
    assert!(out.is_err(), "cancelled during the first wait");
    assert_eq!(b.available(), 10);
}

#[test]
fn many_retries_cost_constant_time_each() {
    use tower::retry::Policy;
    // 200,000 retries of one request through the policy: drawing the k-th
    // wait afresh costs O(k) each (2·10¹⁰ draws in all); kept, O(1).
    let mut p = WardenPolicy::new(
        RetryPolicy::<&str>::builder()
            .max_attempts(u32::MAX)
            .base_delay(Duration::ZERO)
            .build()
            .unwrap(),
    )
    .clone_requests(CloneAll);
    let _ = Policy::<(), (), &str>::clone_request(&mut p, &());
    let mut per_request = p.clone();
    let start = std::time::Instant::now();
    for _ in 0..200_000 {
        let wait = Policy::<(), (), &str>::retry(&mut per_request, &mut (), &mut Err("down"));
        drop(wait.expect("retried"));
        let _ = Policy::<(), (), &str>::clone_request(&mut per_request, &());
    }
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}

/// Counts requests that reach the handler; always answers 500.
async fn charge(AxumState(hits): AxumState<Arc<AtomicUsize>>) -> StatusCode {
    hits.fetch_add(1, Ordering::Relaxed);
    StatusCode::INTERNAL_SERVER_ERROR
}

#[tokio::test]
async fn a_post_is_sent_once_unless_opted_in() {
    let hits = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route("/charge", post(charge).get(charge))
        .with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    let policy = Arc::new(
        RetryPolicy::<hyper_util::client::legacy::Error>::builder()
            .max_attempts(3)
            .base_delay(Duration::ZERO)
            .build()
            .unwrap(),
    );
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let req = |method: http::Method| {
        http::Request::builder()
            .method(method)
            .uri(format!("http://{addr}/charge"))
            .body(Empty::new())
            .unwrap()
    };

    // The default: WardenPolicy::new retries idempotent methods only.
    let svc = ServiceBuilder::new()
        .retry(WardenPolicy::new(policy.clone()).classifier(HttpClassifier::new()))
        .service(client.clone());
    let res = svc.clone().oneshot(req(http::Method::POST)).await.unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(hits.load(Ordering::Relaxed), 1, "POST /charge sent once");
    let _ = svc.clone().oneshot(req(http::Method::GET)).await.unwrap();
    assert_eq!(hits.load(Ordering::Relaxed), 1 + 3, "a GET is retried");

    // The explicit opt-in.
    let svc = ServiceBuilder::new()
        .retry(
            WardenPolicy::new(policy)
                .classifier(HttpClassifier::new())
                .clone_requests(CloneAll),
        )
        .service(client);
    let _ = svc.oneshot(req(http::Method::POST)).await.unwrap();
    assert_eq!(
        hits.load(Ordering::Relaxed),
        4 + 3,
        "opted in: POST retried"
    );

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("server stops")
        .unwrap();
}

/// A body that sends one chunk of a promised 1000 bytes, then fails: hyper's
/// server then drops the connection mid-body. The failure waits 5 ms (real
/// time, once per request) so that the head and the chunk are flushed first.
struct CutOff(Option<Pin<Box<tokio::time::Sleep>>>);

impl http_body::Body for CutOff {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        match &mut self.0 {
            None => {
                self.0 = Some(Box::pin(tokio::time::sleep(Duration::from_millis(5))));
                Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from_static(
                    b"partial",
                )))))
            }
            Some(sleep) => {
                std::task::ready!(sleep.as_mut().poll(cx));
                Poll::Ready(Some(Err(std::io::Error::other("disk gone"))))
            }
        }
    }
}

#[tokio::test]
async fn a_body_cut_off_mid_way_is_a_failure() {
    use http_body_util::BodyExt;

    let app = Router::new()
        .route(
            "/cut",
            axum::routing::get(|| async {
                http::Response::builder()
                    .header(http::header::CONTENT_LENGTH, 1000)
                    .body(axum::body::Body::new(CutOff(None)))
                    .unwrap()
            }),
        )
        .route("/whole", axum::routing::get(|| async { "all of it" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let get = |path: &str| {
        http::Request::get(format!("http://{addr}{path}"))
            .body(Empty::new())
            .unwrap()
    };
    let clock = ManualClock::new();

    // Recorded at the head: ten cut-off 200s are ten successes.
    let head = breaker(&clock, 1, 100);
    let svc = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(head.clone()).classifier(HttpClassifier::new()))
        .service(client.clone());
    for _ in 0..10 {
        let res = svc.clone().oneshot(get("/cut")).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.into_body().collect().await.is_err(), "cut off");
    }
    assert_eq!(
        (head.counts().total_successes, head.counts().total_failures),
        (10, 0)
    );

    // Recorded at the end of the body: ten failures.
    let eob = breaker(&clock, 1, 100);
    let svc = ServiceBuilder::new()
        .layer(
            CircuitBreakerLayer::new(eob.clone())
                .classifier(HttpClassifier::new())
                .until_end_of_body(),
        )
        .service(client.clone());
    for round in 0..10 {
        let res = svc.clone().oneshot(get("/cut")).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            eob.counts().total_failures,
            round,
            "nothing recorded at the head"
        );
        assert!(res.into_body().collect().await.is_err(), "cut off");
    }
    assert_eq!(
        (eob.counts().total_successes, eob.counts().total_failures),
        (0, 10)
    );

    // A whole body is a success once read; one dropped unread records nothing.
    let res = svc.clone().oneshot(get("/whole")).await.unwrap();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"all of it");
    assert_eq!(eob.counts().total_successes, 1);
    drop(svc.clone().oneshot(get("/whole")).await.unwrap());
    assert_eq!(
        (eob.counts().total_successes, eob.counts().total_failures),
        (1, 10)
    );

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("server stops")
        .unwrap();
}

/// A body whose every poll panics.
struct PanickingBody;

impl http_body::Body for PanickingBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        panic!("body panicked")
    }
}

#[test]
fn a_caught_panic_in_a_body_or_its_head_is_a_failure() {
    let clock = ManualClock::new();
    let cb = breaker(&clock, 1, 100);
    let layer = CircuitBreakerLayer::new(cb.clone())
        .classifier(HttpClassifier::new())
        .until_end_of_body();

    // The head arrives, then reading the body panics: a failure, recorded while
    // the panic unwinds although the body outlives it (as under a catch-panic layer).
    let mut svc = tower::Layer::layer(
        &layer,
        service_fn(|()| async { Ok::<_, std::io::Error>(http::Response::new(PanickingBody)) }),
    );
    for round in 1..=3 {
        let mut cx = Context::from_waker(Waker::noop());
        assert!(svc.poll_ready(&mut cx).is_ready());
        let fut = pin!(svc.call(()));
        let Poll::Ready(Ok(res)) = fut.poll(&mut cx) else {
            panic!("the head is ready")
        };
        let mut body = pin!(res.into_body());
        let caught = catch_unwind(AssertUnwindSafe(|| {
            http_body::Body::poll_frame(body.as_mut(), &mut cx)
        }));
        assert!(caught.is_err());
        assert_eq!(
            cb.counts().total_failures,
            round,
            "recorded before the body is dropped"
        );
    }

    // The head's future panics.
    let mut svc = tower::Layer::layer(
        &layer,
        service_fn(|()| async {
            panic!("head panicked");
            #[allow(unreachable_code)]
            Ok::<http::Response<Empty<Bytes>>, std::io::Error>(http::Response::new(Empty::new()))
        }),
    );
    let mut cx = Context::from_waker(Waker::noop());
    assert!(svc.poll_ready(&mut cx).is_ready());
    let mut fut = pin!(svc.call(()));
    assert!(poll_catching(fut.as_mut()).is_err());
    assert_eq!(
        cb.counts().total_failures,
        4,
        "recorded before the future is dropped"
    );
    assert_eq!(cb.counts().total_successes, 0);
}
