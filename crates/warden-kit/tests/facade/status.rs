//! Statuses as data: `Registry::list()` serialized to JSON and served over real
//! HTTP (an axum route on loopback, fetched with hyper's client), as the
//! `status` example does.

use std::sync::Arc;

use axum::{Json, Router, routing::get};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use serde_json::{Value, json};
use warden_kit::{BreakerConfig, Registry, TripRule};

#[tokio::test]
async fn breakers_are_served_as_json_over_http() {
    let registry = Arc::new(
        Registry::builder()
            .configure(
                "clickhouse",
                BreakerConfig::clickhouse().with_trip(TripRule::ConsecutiveFailures(2)),
            )
            .configure("kafka", BreakerConfig::kafka().with_max_concurrent(4))
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
            .build()
            .unwrap(),
    );
    for _ in 0..2 {
        let _ = registry
            .pipeline("clickhouse")
            .unwrap()
            .execute(|| Err::<(), _>("refused"));
    }
    let _ = registry
        .pipeline("kafka")
        .unwrap()
        .execute(|| Ok::<_, ()>(()));
    // One failure: the throttle rejects (1 - 2 * 0) / (1 + 1) of the calls.
    let _ = registry
        .pipeline("api")
        .unwrap()
        .execute(|| Err::<(), _>("503"));

    let served = Arc::clone(&registry);
    let app = Router::new().route("/breakers", get(move || async move { Json(served.list()) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let request = hyper::Request::get("/breakers")
        .header("host", "localhost")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let list: Value = serde_json::from_slice(&body).unwrap();
    server.abort();

    let by_name = |name: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|b| b["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} missing from {list}"))
    };
    let ch = by_name("clickhouse");
    assert_eq!(ch["state"], json!("open"));
    // A new generation started with the trip: its counts are zero.
    assert_eq!(ch["counts"]["requests"], json!(0));
    let kafka = by_name("kafka");
    assert_eq!(kafka["state"], json!("closed"));
    assert_eq!(kafka["counts"]["total_successes"], json!(1));
    assert_eq!(kafka["max_concurrent"], json!(4));
    assert_eq!(kafka["in_flight"], json!(0));
    assert_eq!(kafka["throttle"], json!(null), "no throttle");
    let api = by_name("api");
    assert_eq!(api["state"], json!("closed"));
    assert_eq!(
        api["throttle"],
        json!({"reject_ppm": 500_000, "requests": 1, "accepts": 0})
    );
    // Exactly what serde gives for the in-process list (no field lost on the wire).
    assert_eq!(list, serde_json::to_value(registry.list()).unwrap());
}
