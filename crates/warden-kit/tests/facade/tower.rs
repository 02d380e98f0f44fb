//! The registry as a tower layer, over real HTTP: an axum server on loopback,
//! a hyper client guarded by `Registry::layer` with warden-tower's
//! `HttpClassifier`, and a pipeline on the same name.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use tower::{Service, ServiceBuilder, ServiceExt};
use warden_kit::tower::{BoxError, HttpClassifier, classify};
use warden_kit::{BreakerConfig, ExecuteError, Registry, Rejected, State, TripRule};

/// One request on a fresh loopback connection.
async fn get_path(
    addr: std::net::SocketAddr,
    path: String,
) -> Result<http::Response<Bytes>, BoxError> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let request = hyper::Request::get(path)
        .header("host", "localhost")
        .body(Empty::<Bytes>::new())?;
    let (head, body) = sender.send_request(request).await?.into_parts();
    Ok(http::Response::from_parts(
        head,
        body.collect().await?.to_bytes(),
    ))
}

#[tokio::test]
async fn a_layer_from_a_registry_shares_the_breaker_with_pipelines_over_http() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    let app = Router::new()
        .route("/ok", get(|| async { "fine" }))
        .route(
            "/fail",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        )
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                counted.fetch_add(1, Ordering::Relaxed);
                next.run(req)
            },
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let registry = Registry::builder()
        .configure(
            "api",
            BreakerConfig::default()
                .with_trip(TripRule::ConsecutiveFailures(3))
                .with_max_concurrent(8),
        )
        .build()
        .unwrap();
    let mut client = ServiceBuilder::new()
        .layer(
            registry
                .layer("api")
                .unwrap()
                .classifier(HttpClassifier::new()),
        )
        .service_fn(move |path: String| get_path(addr, path));
    // The pipeline's classifier is the layer's, adapted.
    let pipeline = registry
        .pipeline("api")
        .unwrap()
        .with_classifier(classify(HttpClassifier::new()));

    let response = client
        .ready()
        .await
        .unwrap()
        .call("/ok".into())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(pipeline.execute(get_ok).succeeded());
    let status = &registry.list()[0];
    assert_eq!(status.name, "api");
    assert_eq!(status.counts.total_successes, 2); // one from each way in
    assert_eq!(status.in_flight, Some(0)); // the layer's slot went back

    // A 5xx is returned as a response, and counted as a failure through the classifier.
    for _ in 0..3 {
        let response = client
            .ready()
            .await
            .unwrap()
            .call("/fail".into())
            .await
            .unwrap();
        assert_eq!(response.status(), 500);
        assert_eq!(&response.body()[..], b"boom");
    }
    assert_eq!(registry.list()[0].state, State::Open);
    assert_eq!(hits.load(Ordering::Relaxed), 4);

    // Open: the layer refuses without a request, and so does the pipeline.
    let err = client
        .ready()
        .await
        .unwrap()
        .call("/ok".into())
        .await
        .unwrap_err();
    assert_eq!(warden_tower::error::rejection(&*err), Some(Rejected::Open));
    assert_eq!(hits.load(Ordering::Relaxed), 4);
    let ex = pipeline.execute(get_ok);
    assert_eq!(ex.rejection(), Some(Rejected::Open));
    let status = &registry.list()[0];
    assert_eq!(status.in_flight, Some(0));
    server.abort();
}

fn get_ok() -> Result<http::Response<Bytes>, BoxError> {
    Ok(http::Response::new(Bytes::from_static(b"cached")))
}

#[tokio::test]
async fn the_layer_uses_the_names_bulkhead_and_honours_shutdown() {
    let registry = Registry::builder()
        .configure("db", BreakerConfig::default().with_max_concurrent(1))
        .build()
        .unwrap();
    let mut svc = ServiceBuilder::new()
        .layer(registry.layer("db").unwrap())
        .service_fn(|n: u32| async move { Ok::<_, Infallible>(n) });
    // The first call's future holds the only slot until it finishes or is dropped.
    let first = svc.ready().await.unwrap().call(1);
    assert_eq!(registry.breaker("db").unwrap().in_flight(), Some(1));
    let err = svc.ready().await.unwrap().call(2).await.unwrap_err();
    assert!(matches!(
        err.downcast_ref::<ExecuteError<Infallible>>(),
        Some(ExecuteError::BulkheadFull {
            max_concurrent: 1,
            ..
        })
    ));
    // A pipeline on the same name finds the same bulkhead full.
    let ex = registry.pipeline("db").unwrap().execute(|| Ok::<_, ()>(()));
    assert!(ex.is_rejected() && ex.rejection().is_none());
    assert_eq!(first.await.unwrap(), 1);
    assert_eq!(registry.breaker("db").unwrap().in_flight(), Some(0));
    assert_eq!(svc.ready().await.unwrap().call(3).await.unwrap(), 3);

    registry.shutdown();
    let err = svc.ready().await.unwrap().call(4).await.unwrap_err();
    assert!(matches!(
        err.downcast_ref::<ExecuteError<Infallible>>(),
        Some(ExecuteError::Shutdown)
    ));
}

/// A status of 500 or more is a failure; the kind of result a service's own
/// HTTP client returns.
fn server_errors_fail(result: &Result<u16, std::io::Error>) -> warden_kit::breaker::Outcome {
    use warden_kit::breaker::Outcome;
    match result {
        Ok(status) if *status < 500 => Outcome::Success,
        _ => Outcome::Failure,
    }
}

#[tokio::test(flavor = "current_thread")]
async fn one_classifier_serves_the_core_a_pipeline_and_the_layer() {
    let registry = Registry::builder().build().unwrap();
    let api = registry.breaker("api").unwrap();
    // The core's two-way call.
    let core = api.breaker().call_with(|| Ok(503), server_errors_fail);
    assert!(matches!(core, Ok(503)));
    // A pipeline of the name.
    let pipeline = registry
        .pipeline("api")
        .unwrap()
        .with_classifier(server_errors_fail);
    assert!(!pipeline.execute(|| Ok(502)).succeeded());
    // The registry's tower layer on the name.
    let mut client = ServiceBuilder::new()
        .layer(
            registry
                .layer("api")
                .unwrap()
                .classifier(server_errors_fail),
        )
        .service_fn(|status: u16| async move { Ok::<_, std::io::Error>(status) });
    let status = client.ready().await.unwrap().call(500).await.unwrap();
    assert_eq!(status, 500);
    let ok = client.ready().await.unwrap().call(200).await.unwrap();
    assert_eq!(ok, 200);
    let counts = api.counts();
    assert_eq!((counts.total_failures, counts.total_successes), (3, 1));
}

#[tokio::test]
async fn the_layer_refuses_a_call_the_throttle_sheds_as_throttled() {
    let registry = Registry::builder()
        .configure(
            "api",
            BreakerConfig::default().with_trip(TripRule::Adaptive {
                window: std::time::Duration::from_secs(10),
                buckets: 10,
                k: 2.0,
                min_requests: 1,
                max_reject_percent: 100,
            }),
        )
        .clock(warden_kit::ManualClock::new())
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let mut svc = ServiceBuilder::new()
        .layer(registry.layer("api").unwrap())
        .service_fn(move |_: u32| {
            counted.fetch_add(1, Ordering::Relaxed);
            async { Err::<u32, BoxError>("503".into()) }
        });
    warden_kit::breaker::AdaptiveThrottle::set_thread_draws(3);
    let mut shed = 0;
    for i in 0..200 {
        let err = svc.ready().await.unwrap().call(i).await.unwrap_err();
        // Otherwise the service's own error, counted as a failure.
        if let Some(r) = warden_tower::error::rejection(&*err) {
            assert_eq!(r, Rejected::Throttled);
            assert_eq!(err.to_string(), Rejected::Throttled.to_string());
            shed += 1;
        }
    }
    assert!(shed > 150, "{shed}");
    assert_eq!(
        calls.load(Ordering::Relaxed) + shed,
        200,
        "a shed call never reaches the service"
    );
    let named = registry.breaker("api").unwrap();
    assert_eq!(named.state(), State::Closed);
    assert_eq!(named.in_flight(), None);
    assert_eq!(named.breaker().totals().rejected_throttled, shed as u64);
}
