//! Serves every breaker's status as JSON on `GET /breakers` (axum), the way a
//! service exposes its breakers to an operator or a dashboard.
//!
//! ```text
//! cargo run -p warden-kit --example status             # serves until Ctrl-C
//! cargo run -p warden-kit --example status -- --once   # fetches itself once and exits
//! ```
//!
//! A response looks like
//! `[{"name":"clickhouse","state":"open","counts":{"requests":0,...},"in_flight":0,"max_concurrent":null,...}]`:
//! states and modes are kebab-case strings, counts are numbers.

use std::sync::Arc;

use axum::{Json, Router, extract::State, routing::get};
use warden_kit::{BreakerConfig, BreakerStatus, Registry, TripRule};

/// The route: `GET /breakers` returns `registry.list()` as JSON.
fn app(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/breakers", get(breakers))
        .with_state(registry)
}

async fn breakers(State(registry): State<Arc<Registry>>) -> Json<Vec<BreakerStatus>> {
    Json(registry.list())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let registry = Arc::new(
        Registry::builder()
            .configure(
                "clickhouse",
                BreakerConfig::clickhouse().with_trip(TripRule::ConsecutiveFailures(2)),
            )
            .build()?,
    );
    // Some traffic: clickhouse fails twice and opens, kafka succeeds.
    for _ in 0..2 {
        let _ = registry
            .pipeline("clickhouse")
            .unwrap()
            .execute(|| Err::<(), _>("connection refused"));
    }
    let _ = registry
        .pipeline("kafka")
        .unwrap()
        .execute(|| Ok::<_, ()>(()));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    println!("serving http://{addr}/breakers");
    let server = tokio::spawn(async move { axum::serve(listener, app(registry)).await });

    if std::env::args().any(|a| a == "--once") {
        let body = fetch(addr).await?;
        println!("{body}");
        server.abort();
        return Ok(());
    }
    server.await??;
    Ok(())
}

/// One plain HTTP/1.1 GET on loopback, without a client library.
async fn fetch(addr: std::net::SocketAddr) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(b"GET /breakers HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut response = String::new();
    s.read_to_string(&mut response).await?;
    Ok(response
        .split_once("\r\n\r\n")
        .map_or(response.clone(), |(_, body)| body.to_owned()))
}
