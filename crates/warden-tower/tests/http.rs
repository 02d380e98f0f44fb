//! End-to-end tests over real loopback HTTP: an axum server on 127.0.0.1:0 whose
//! handler fails on demand and counts hits, and a hyper client stack with the
//! breaker layer (or, in the last test, the layer on the server's router).
//!
//! The breaker runs on a `ManualClock`: nothing sleeps, time moves only when a
//! test advances it. Every request loop is bounded.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State as AxumState;
use axum::http::StatusCode;
use axum::routing::get;
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;
use tower::{Service, ServiceBuilder, ServiceExt};
use warden_breaker::{CircuitBreaker, ManualClock, Rejected, State};
use warden_tower::classify::HttpClassifier;
use warden_tower::{BoxError, CircuitBreakerLayer, error};

const TIMEOUT: Duration = Duration::from_secs(10);
const TRIP_AFTER: u32 = 3;

/// What the handlers share with the test.
#[derive(Default)]
struct Shared {
    /// Requests that reached a handler.
    hits: AtomicUsize,
    /// `/` answers 500 while set ...
    fail: AtomicBool,
    /// ... and to this many more requests.
    fail_next: AtomicUsize,
    /// `/slow` signals this once it is running ...
    entered: Notify,
    /// ... and waits for this before it answers.
    release: Notify,
}

async fn flaky(AxumState(s): AxumState<Arc<Shared>>) -> (StatusCode, &'static str) {
    // Relaxed: the counter and flag are read/written around awaited requests,
    // which order them (the request/response round trip synchronises).
    s.hits.fetch_add(1, Ordering::Relaxed);
    let fail_next = s
        .fail_next
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
        .is_ok();
    if fail_next || s.fail.load(Ordering::Relaxed) {
        (StatusCode::INTERNAL_SERVER_ERROR, "down")
    } else {
        (StatusCode::OK, "up")
    }
}

async fn slow(AxumState(s): AxumState<Arc<Shared>>) -> &'static str {
    s.hits.fetch_add(1, Ordering::Relaxed);
    s.entered.notify_one();
    s.release.notified().await;
    "late"
}

async fn not_found(AxumState(s): AxumState<Arc<Shared>>) -> StatusCode {
    s.hits.fetch_add(1, Ordering::Relaxed);
    StatusCode::NOT_FOUND
}

fn routes(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(flaky))
        .route("/slow", get(slow))
        .route("/missing", get(not_found))
        .with_state(shared)
}

/// A server on an ephemeral loopback port, shut down by `shutdown`.
struct TestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl TestServer {
    async fn start(app: impl FnOnce(Arc<Shared>) -> Router) -> Self {
        let shared = Arc::new(Shared::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let app = app(shared.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        TestServer {
            addr,
            shared,
            stop: Some(stop),
            task,
        }
    }

    fn hits(&self) -> usize {
        self.shared.hits.load(Ordering::Relaxed)
    }

    fn set_failing(&self, fail: bool) {
        self.shared.fail.store(fail, Ordering::Relaxed);
    }

    #[cfg(feature = "retry")]
    fn fail_next(&self, n: usize) {
        self.shared.fail_next.store(n, Ordering::Relaxed);
    }

    fn request(&self, path: &str) -> http::Request<Empty<Bytes>> {
        http::Request::get(format!("http://{}{path}", self.addr))
            .body(Empty::new())
            .unwrap()
    }

    /// Lets any parked `/slow` handler finish, then stops the server gracefully.
    async fn shutdown(mut self) {
        self.shared.release.notify_waiters();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(30), &mut self.task)
            .await
            .expect("server stops")
            .unwrap();
    }
}

fn client() -> Client<HttpConnector, Empty<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

fn breaker(clock: &ManualClock, max_requests: u32) -> Arc<CircuitBreaker> {
    Arc::new(
        CircuitBreaker::builder("loopback")
            .timeout(TIMEOUT)
            .max_requests(max_requests)
            .ready_to_trip(|c| c.consecutive_failures >= TRIP_AFTER)
            .clock(clock.clone())
            .build()
            .unwrap(),
    )
}

/// Sends one request through `svc`, waiting for readiness first.
async fn send<S>(svc: &mut S, req: http::Request<Empty<Bytes>>) -> Result<S::Response, S::Error>
where
    S: Service<http::Request<Empty<Bytes>>>,
{
    svc.ready().await?.call(req).await
}

fn rejection(result: Result<http::Response<Incoming>, BoxError>) -> Rejected {
    let err = result.expect_err("the breaker should have rejected the request");
    error::rejection(&*err).unwrap_or_else(|| panic!("not a rejection: {err}"))
}

#[tokio::test]
async fn opens_rejects_without_reaching_the_server_half_opens_and_closes() {
    let server = TestServer::start(routes).await;
    let clock = ManualClock::new();
    let cb = breaker(&clock, 1);
    let mut svc = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(cb.clone()).classifier(HttpClassifier::new()))
        .service(client());

    // Healthy, and a 404 is the client's mistake, not a failure.
    let res = send(&mut svc, server.request("/")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = send(&mut svc, server.request("/missing")).await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(cb.counts().total_successes, 2);
    assert_eq!(server.hits(), 2);

    // The peer starts failing: each 500 is still returned, and counted.
    server.set_failing(true);
    for i in 1..=TRIP_AFTER {
        assert_eq!(cb.state(), State::Closed, "closed before failure {i}");
        let res = send(&mut svc, server.request("/")).await.unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
    assert_eq!(cb.state(), State::Open);
    assert_eq!(server.hits(), 2 + TRIP_AFTER as usize);

    // Open: rejected with the typed error, and the server sees nothing.
    for _ in 0..10 {
        let err = send(&mut svc, server.request("/")).await.unwrap_err();
        assert_eq!(
            error::rejection(&*err),
            Some(warden_breaker::Rejected::Open),
            "{err}"
        );
        assert_eq!(err.to_string(), "circuit breaker is open: call not made");
    }
    assert_eq!(server.hits(), 2 + TRIP_AFTER as usize);

    // Not yet: the timeout is strict.
    clock.advance(TIMEOUT);
    assert_eq!(
        rejection(send(&mut svc, server.request("/")).await),
        Rejected::Open
    );
    clock.advance(Duration::from_millis(1));
    assert_eq!(cb.state(), State::HalfOpen);

    // The peer recovered: the probe succeeds and closes the breaker.
    server.set_failing(false);
    let res = send(&mut svc, server.request("/")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(server.hits(), 3 + TRIP_AFTER as usize);

    server.shutdown().await;
}

#[tokio::test]
async fn a_failed_probe_reopens() {
    let server = TestServer::start(routes).await;
    let clock = ManualClock::new();
    let cb = breaker(&clock, 2);
    let mut svc = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(cb.clone()).classifier(HttpClassifier::new()))
        .service(client());

    server.set_failing(true);
    for _ in 0..TRIP_AFTER {
        send(&mut svc, server.request("/")).await.unwrap();
    }
    assert_eq!(cb.state(), State::Open);
    clock.advance(TIMEOUT + Duration::from_millis(1));

    let res = send(&mut svc, server.request("/")).await.unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(cb.state(), State::Open);
    let hits = server.hits();
    assert_eq!(
        rejection(send(&mut svc, server.request("/")).await),
        Rejected::Open
    );
    assert_eq!(server.hits(), hits);

    // Two probes needed to close (max_requests = 2).
    clock.advance(TIMEOUT + Duration::from_millis(1));
    server.set_failing(false);
    send(&mut svc, server.request("/")).await.unwrap();
    assert_eq!(cb.state(), State::HalfOpen);
    send(&mut svc, server.request("/")).await.unwrap();
    assert_eq!(cb.state(), State::Closed);

    server.shutdown().await;
}

#[tokio::test]
async fn connection_errors_are_failures() {
    // Bind a port, then close it: connecting is refused.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);

    let clock = ManualClock::new();
    let cb = breaker(&clock, 1);
    let mut svc = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(cb.clone()).classifier(HttpClassifier::new()))
        .service(client());
    let req = || {
        http::Request::get(format!("http://{addr}/"))
            .body(Empty::<Bytes>::new())
            .unwrap()
    };
    for _ in 0..TRIP_AFTER {
        let err = send(&mut svc, req()).await.unwrap_err();
        assert_eq!(error::rejection(&*err), None, "{err}");
        assert!(
            err.downcast_ref::<hyper_util::client::legacy::Error>()
                .is_some_and(|e| e.is_connect()),
            "{err:?}"
        );
    }
    assert_eq!(cb.state(), State::Open);
    assert_eq!(rejection(send(&mut svc, req()).await), Rejected::Open);
}

#[tokio::test]
async fn cancelled_probe_gives_its_half_open_slot_back() {
    let server = TestServer::start(routes).await;
    let clock = ManualClock::new();
    let cb = breaker(&clock, 1);
    let mut svc = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(cb.clone()).classifier(HttpClassifier::new()))
        .service(client());

    server.set_failing(true);
    for _ in 0..TRIP_AFTER {
        send(&mut svc, server.request("/")).await.unwrap();
    }
    clock.advance(TIMEOUT + Duration::from_millis(1));
    assert_eq!(cb.state(), State::HalfOpen);
    server.set_failing(false);

    for round in 0..3 {
        // The only probe slot goes to a request the server holds on to.
        let mut probe = Box::pin(svc.ready().await.unwrap().call(server.request("/slow")));
        tokio::select! {
            res = &mut probe => panic!("the slow handler answered early: {res:?}"),
            () = server.shared.entered.notified() => {}
        }
        assert_eq!(
            cb.counts().requests,
            2 * round + 1,
            "probes admitted so far"
        );

        // While it is in flight, the half-open breaker admits nothing else.
        let hits = server.hits();
        assert_eq!(
            rejection(send(&mut svc, server.request("/")).await),
            Rejected::TooManyRequests
        );
        assert_eq!(server.hits(), hits);

        // Cancel it (what a timeout firing does): the slot comes back.
        drop(probe);
        assert_eq!(cb.state(), State::HalfOpen);
        assert_eq!(cb.counts().total_successes, 0);
        let slot = cb
            .try_acquire()
            .expect("the dropped probe released its slot");
        drop(slot);
    }

    // A probe that completes closes the breaker.
    let res = send(&mut svc, server.request("/")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(cb.state(), State::Closed);

    server.shutdown().await;
}

#[tokio::test]
async fn tokio_timeout_releases_the_probe() {
    let server = TestServer::start(routes).await;
    let clock = ManualClock::new();
    let cb = breaker(&clock, 1);
    let mut svc = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(cb.clone()).classifier(HttpClassifier::new()))
        .service(client());

    server.set_failing(true);
    for _ in 0..TRIP_AFTER {
        send(&mut svc, server.request("/")).await.unwrap();
    }
    clock.advance(TIMEOUT + Duration::from_millis(1));

    // Drive the probe until the server holds it, then hand it to
    // `tokio::time::timeout` with a deadline already due: the timeout polls it
    // once more, fires, and drops it (no wall-clock guess involved).
    let mut probe = Box::pin(svc.ready().await.unwrap().call(server.request("/slow")));
    tokio::select! {
        res = &mut probe => panic!("the slow handler answered early: {res:?}"),
        () = server.shared.entered.notified() => {}
    }
    assert!(tokio::time::timeout(Duration::ZERO, probe).await.is_err());
    assert_eq!(cb.state(), State::HalfOpen);
    assert_eq!(cb.counts().requests, 1);
    let slot = cb
        .try_acquire()
        .expect("the timed-out probe released its slot");
    drop(slot);

    // The slot is free: the next probe is admitted and closes the breaker.
    server.set_failing(false);
    let res = send(&mut svc, server.request("/")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(cb.state(), State::Closed);

    server.shutdown().await;
}

#[tokio::test]
async fn axum_router_layer_on_the_server() {
    use axum::error_handling::HandleErrorLayer;

    // `route_layer`, not `layer`: with `layer` the breaker also wraps axum's
    // fallback, so an unknown path answers 503 instead of 404 while it is open.

    let clock = ManualClock::new();
    let cb = breaker(&clock, 1);
    let layer = CircuitBreakerLayer::new(cb.clone()).classifier(HttpClassifier::new());
    let server = TestServer::start(move |shared| {
        routes(shared).route_layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|e: BoxError| async move {
                    match error::rejection(&*e) {
                        Some(_) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
                        None => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
                    }
                }))
                .layer(layer),
        )
    })
    .await;
    // A plain client: the breaker is the server's.
    let client = client();
    let status = |req| {
        let client = client.clone();
        async move { client.request(req).await.unwrap().status() }
    };

    assert_eq!(status(server.request("/")).await, StatusCode::OK);
    server.set_failing(true);
    for _ in 0..TRIP_AFTER {
        assert_eq!(
            status(server.request("/")).await,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
    assert_eq!(cb.state(), State::Open);

    // Shed by the server before the handler runs.
    let hits = server.hits();
    for _ in 0..5 {
        assert_eq!(
            status(server.request("/")).await,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    assert_eq!(server.hits(), hits);
    // Unknown paths are not the dependency's business: still 404.
    assert_eq!(status(server.request("/nope")).await, StatusCode::NOT_FOUND);

    clock.advance(TIMEOUT + Duration::from_millis(1));
    server.set_failing(false);
    assert_eq!(status(server.request("/")).await, StatusCode::OK);
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(server.hits(), hits + 1);

    server.shutdown().await;
}

#[cfg(feature = "retry")]
mod retry {
    use super::*;
    use warden_retry::{RetryBudget, RetryPolicy};
    use warden_tower::retry::{CloneIdempotent, WardenPolicy};

    fn budget(retry_ratio: f64) -> Arc<RetryBudget> {
        Arc::new(
            RetryBudget::builder()
                .retry_ratio(retry_ratio)
                .min_per_sec(0)
                .clock(ManualClock::new())
                .build()
                .unwrap(),
        )
    }

    #[tokio::test]
    async fn retries_5xx_within_its_budget() {
        let server = TestServer::start(routes).await;
        // One token per request, no reserve: retries never exceed requests.
        let budget = budget(1.0);
        let policy = RetryPolicy::builder()
            .max_attempts(10)
            .base_delay(Duration::ZERO)
            .budget(budget.clone())
            .build()
            .unwrap();
        let mut svc = ServiceBuilder::new()
            .retry(
                WardenPolicy::new(policy)
                    .classifier(HttpClassifier::new())
                    .clone_requests(CloneIdempotent),
            )
            .service(client());

        // Three healthy requests bank three tokens.
        for _ in 0..3 {
            let res = send(&mut svc, server.request("/")).await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
        }
        assert_eq!((server.hits(), budget.available()), (3, 3));

        // Two 500s, then 200: retried twice, the caller sees the 200.
        server.fail_next(2);
        let res = send(&mut svc, server.request("/")).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(server.hits(), 6);
        assert_eq!(budget.available(), 2, "3 + 1 deposited - 2 withdrawn");

        // A 404 is not a failure: not retried.
        let res = send(&mut svc, server.request("/missing")).await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert_eq!(server.hits(), 7);
        assert_eq!(budget.available(), 3);

        // Down for good: retries stop when the budget is spent, well before
        // the ten attempts the policy allows, and the last 500 is returned.
        server.set_failing(true);
        let res = send(&mut svc, server.request("/")).await.unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(server.hits(), 7 + 1 + 4, "first attempt + 4 funded retries");
        assert_eq!(budget.available(), 0);

        // From now on each request funds exactly one retry (ratio 1.0): the
        // retries add at most as much load as the requests themselves.
        for round in 1..=3 {
            let res = send(&mut svc, server.request("/")).await.unwrap();
            assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(server.hits(), 12 + 2 * round);
            assert_eq!(budget.available(), 0);
        }

        server.shutdown().await;
    }

    #[tokio::test]
    async fn non_idempotent_requests_are_sent_once() {
        let server = TestServer::start(|shared| {
            routes(shared.clone()).route("/", axum::routing::post(flaky).with_state(shared))
        })
        .await;
        let policy = RetryPolicy::builder()
            .max_attempts(5)
            .base_delay(Duration::ZERO)
            .build()
            .unwrap();
        let mut svc = ServiceBuilder::new()
            .retry(
                WardenPolicy::new(policy)
                    .classifier(HttpClassifier::new())
                    .clone_requests(CloneIdempotent),
            )
            .service(client());
        server.set_failing(true);
        let post = http::Request::post(format!("http://{}/", server.addr))
            .body(Empty::new())
            .unwrap();
        let res = send(&mut svc, post).await.unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(server.hits(), 1);
        let res = send(&mut svc, server.request("/")).await.unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(server.hits(), 1 + 5, "a GET is retried up to max_attempts");

        server.shutdown().await;
    }

    #[tokio::test]
    async fn retry_over_the_breaker_stops_at_the_rejection() {
        let server = TestServer::start(routes).await;
        let clock = ManualClock::new();
        let cb = breaker(&clock, 1);
        let policy = RetryPolicy::<BoxError>::builder()
            .max_attempts(10)
            .base_delay(Duration::ZERO)
            .build()
            .unwrap();
        let mut svc = ServiceBuilder::new()
            .retry(WardenPolicy::new(policy).classifier(HttpClassifier::new()))
            .layer(CircuitBreakerLayer::new(cb.clone()).classifier(HttpClassifier::new()))
            .service(client());

        server.set_failing(true);
        // Attempts 1-3 fail and trip the breaker; attempt 4 is rejected, and a
        // rejection is not retried: the caller gets the typed error.
        let err = send(&mut svc, server.request("/")).await.unwrap_err();
        assert_eq!(error::rejection(&*err), Some(Rejected::Open));
        assert_eq!(server.hits(), TRIP_AFTER as usize);
        assert_eq!(cb.state(), State::Open);

        // Half-open and recovered: one attempt, which closes the breaker.
        clock.advance(TIMEOUT + Duration::from_millis(1));
        server.set_failing(false);
        let res = send(&mut svc, server.request("/")).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(cb.state(), State::Closed);
        assert_eq!(server.hits(), TRIP_AFTER as usize + 1);

        server.shutdown().await;
    }
}
