//! A small service calling a flaky dependency through a `warden_kit::Registry`:
//! breaker + retry + timeout + bulkhead + fallback, with Prometheus metrics on
//! `/metrics`.
//!
//! ```text
//! cargo run -p warden-kit --example service -- --duration 4
//! WARDEN_METRICS_PORT=9898 cargo run -p warden-kit --example service   # fixed port
//! cargo run -p warden-kit --features tracing --example service   # + tracing events
//! ```
//!
//! With the `tracing` feature the registry also emits the `warden::state`
//! events (`WARN` when the breaker opens) and one `warden::rejections` summary
//! per transition, printed by a `tracing-subscriber` formatter at `DEBUG`.
//!
//! Four clients ask an "inventory" service for stock levels every 10 ms. The
//! dependency is healthy for the first quarter of the run, then fails (errors
//! and calls that hang past the 150 ms call timeout) until 60 % of the run,
//! then recovers. The breaker opens during the outage, probes every 500 ms,
//! and closes once the dependency is back; meanwhile the pipeline's fallback serves
//! the last stock seen. Transitions are printed as they happen; at the end the
//! program scrapes its own `/metrics` over HTTP, prints the warden series and
//! the registry's list, shuts everything down and exits.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use warden_kit::metrics::Metrics;
use warden_kit::metrics::prometheus::{self, Encoder, TextEncoder};
use warden_kit::{BreakerConfig, ExecuteError, Fallback, Registry, RetryPolicy, TripRule};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The dependency: healthy, then an outage, then healthy again.
struct Inventory {
    start: Instant,
    run: Duration,
    calls: AtomicU64,
}

#[derive(Debug)]
struct Unavailable;

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("inventory service unavailable")
    }
}

impl std::error::Error for Unavailable {}

impl Inventory {
    async fn stock(&self, item: u64) -> Result<u64, Unavailable> {
        let n = self.calls.fetch_add(1, Ordering::Relaxed);
        let phase = self.start.elapsed().as_secs_f64() / self.run.as_secs_f64();
        tokio::time::sleep(Duration::from_millis(2)).await;
        if (0.25..0.6).contains(&phase) {
            if n.is_multiple_of(3) {
                // Hangs: the call timeout cuts it off.
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            return Err(Unavailable);
        }
        // Healthy, with an occasional error that retry absorbs.
        if n % 50 == 7 {
            return Err(Unavailable);
        }
        Ok(100 + item)
    }
}

fn parse_duration() -> Result<Duration, BoxError> {
    let mut args = std::env::args().skip(1);
    let mut seconds = 4.0;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--duration" => {
                let value = args.next().ok_or("--duration needs a number of seconds")?;
                seconds = value.parse::<f64>()?;
            }
            other => return Err(format!("unknown argument {other:?} (use --duration SECS)").into()),
        }
    }
    if !(seconds > 0.0 && seconds <= 3600.0) {
        return Err("--duration must be between 0 and 3600 seconds".into());
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Serves `GET /metrics` until `stop` changes.
async fn serve_metrics(
    listener: TcpListener,
    prom: prometheus::Registry,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let prom = prom.clone();
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let prom = prom.clone();
                    async move {
                        let mut response = Response::new(Full::new(Bytes::new()));
                        if req.uri().path() != "/metrics" {
                            *response.status_mut() = StatusCode::NOT_FOUND;
                            return Ok::<_, Infallible>(response);
                        }
                        let encoder = TextEncoder::new();
                        let mut body = Vec::new();
                        if encoder.encode(&prom.gather(), &mut body).is_err() {
                            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                            return Ok(response);
                        }
                        *response.body_mut() = Full::new(Bytes::from(body));
                        if let Ok(value) = encoder.format_type().parse() {
                            response.headers_mut().insert(hyper::header::CONTENT_TYPE, value);
                        }
                        Ok(response)
                    }
                });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
}

/// `GET http://addr/metrics`, as a scraper would.
async fn scrape(addr: SocketAddr) -> Result<String, BoxError> {
    let stream = TcpStream::connect(addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let conn = tokio::spawn(conn);
    let request = Request::get("/metrics")
        .header(hyper::header::HOST, addr.to_string())
        .body(Full::new(Bytes::new()))?;
    let body = sender
        .send_request(request)
        .await?
        .into_body()
        .collect()
        .await?;
    drop(sender);
    conn.await??;
    Ok(String::from_utf8(body.to_bytes().to_vec())?)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let run = parse_duration()?;
    let start = Instant::now();

    // Metrics, then the registry: one named breaker per dependency.
    let prom = prometheus::Registry::new();
    let builder = Registry::builder()
        .configure(
            "inventory",
            BreakerConfig::default()
                .with_trip(TripRule::ConsecutiveFailures(5))
                .with_timeout(Duration::from_millis(500))
                .with_max_requests(2)
                .with_max_concurrent(8)
                .with_call_timeout(Some(Duration::from_millis(150))),
        )
        .metrics(Metrics::register(&prom)?)
        .on_state_change(move |name, from, to| {
            println!(
                "[{:6.2}s] {name}: {from} -> {to}",
                start.elapsed().as_secs_f64()
            );
        });
    // With `tracing`: state changes and rejection summaries as events, printed.
    #[cfg(feature = "tracing")]
    let builder = {
        tracing_subscriber::fmt()
            .with_max_level(tracing_subscriber::filter::LevelFilter::DEBUG)
            .init();
        builder.tracing(Arc::new(warden_kit::telemetry::events::Tracing::new()))
    };
    let registry = Arc::new(builder.build()?);
    // The composition, built once: fallback (the last stock seen), retry,
    // then the name's bulkhead, breaker and call timeout for each attempt.
    let pipeline = registry
        .pipeline("inventory")?
        .with_retry(
            RetryPolicy::<ExecuteError<Unavailable>>::builder()
                .max_attempts(3)
                .base_delay(Duration::from_millis(20))
                .retry_if(ExecuteError::is_retryable)
                .observer(
                    registry
                        .retry_metrics("inventory")
                        .ok_or("metrics are on")?,
                )
                .build()?,
        )
        .with_fallback(Fallback::last_good(run));

    let port: u16 = match std::env::var("WARDEN_METRICS_PORT") {
        Ok(p) => p.parse()?,
        Err(_) => 0,
    };
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    println!("serving metrics on http://{addr}/metrics for {run:?}");
    let (stop_server, server_stopped) = watch::channel(false);
    let server = tokio::spawn(serve_metrics(listener, prom.clone(), server_stopped));
    let (stop, stopped) = watch::channel(false);

    let inventory = Arc::new(Inventory {
        start,
        run,
        calls: AtomicU64::new(0),
    });
    let served = Arc::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]);
    let clients: Vec<_> = (0..4u64)
        .map(|client| {
            let (pipeline, inventory, served) =
                (pipeline.clone(), inventory.clone(), served.clone());
            let mut stopped = stopped.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(10));
                loop {
                    tokio::select! {
                        _ = stopped.changed() => return,
                        _ = tick.tick() => {}
                    }
                    let item = client;
                    let ex = pipeline.execute_async(|| inventory.stock(item)).await;
                    let kind = if ex.succeeded() {
                        0 // from the dependency
                    } else if ex.is_rejected() {
                        1 // the breaker (or bulkhead) refused: the last stock seen, if any
                    } else {
                        2 // the attempts failed: the last stock seen, if any
                    };
                    served[kind].fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    tokio::time::sleep(run).await;
    stop.send(true)?;
    for client in clients {
        client.await?;
    }

    let text = scrape(addr).await?;
    println!("\n/metrics (warden series):");
    for line in text.lines().filter(|l| l.starts_with("warden_")) {
        println!("  {line}");
    }
    let [fresh, refused, failed] = [0, 1, 2].map(|i| served[i].load(Ordering::Relaxed));
    println!(
        "\nrequests: {fresh} from the dependency, {refused} refused by the breaker, {failed} failed (both served the last stock seen, once there was one)"
    );
    for status in registry.shutdown() {
        println!(
            "registry: {} is {}, counts {:?}, in flight {:?}",
            status.name, status.state, status.counts, status.in_flight
        );
    }
    stop_server.send(true)?;
    server.await?;
    Ok(())
}
