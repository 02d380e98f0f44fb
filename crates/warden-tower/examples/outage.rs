//! An outage on loopback: how much extra load do retries put on a failing
//! downstream, with and without a retry budget?
//!
//! An axum server on 127.0.0.1 answers `500` to a share of its requests (the
//! outage); 64 clients each send 50 requests a second through hyper and
//! `tower::retry` with a [`WardenPolicy`] (3 attempts, 10 ms base, equal
//! jitter, `5xx` retried). Each scenario runs for `--secs` seconds in three
//! modes: no retry, retry without a budget, retry with the default
//! [`RetryBudget`] (20 % of first attempts plus 10 a second). It prints, per
//! mode, the client requests, the calls the downstream received, the
//! amplification (calls / requests), the share of requests that got a `200`,
//! and the client-side latency percentiles.
//!
//! ```sh
//! cargo run -p warden-tower --release --example outage -- [--secs 2] [--clients 64] [--rate 50]
//! ```
//!
//! A load generator in the same process as its server measures both: the
//! figures depend on the machine and its load, the ratios much less.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use http_body_util::Empty;
use hyper::body::Bytes;
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use tower::{ServiceBuilder, ServiceExt};
use warden_retry::{Jitter, RetryBudget, RetryPolicy};
use warden_tower::classify::HttpClassifier;
use warden_tower::retry::WardenPolicy;

type HttpClient = Client<HttpConnector, Empty<Bytes>>;
type ClientError = hyper_util::client::legacy::Error;

/// The downstream: counts calls, fails `fail_per_mille` of them.
#[derive(Default)]
struct Downstream {
    calls: AtomicU64,
    fail_per_mille: AtomicU64,
}

async fn handler(State(d): State<Arc<Downstream>>) -> StatusCode {
    // Relaxed: counters read after the clients have finished.
    let n = d.calls.fetch_add(1, Ordering::Relaxed);
    // Spread the failures evenly: call n fails if its position in each
    // block of 1000 (scrambled so neighbours differ) is below the rate.
    let slot = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54; // 0..1024
    if slot * 1000 / 1024 < d.fail_per_mille.load(Ordering::Relaxed) {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    NoRetry,
    Retry,
    RetryWithBudget,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::NoRetry => "no retry",
            Mode::Retry => "retry, no budget",
            Mode::RetryWithBudget => "retry + budget",
        }
    }
}

struct Args {
    secs: f64,
    clients: u32,
    rate: u32,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        secs: 2.0,
        clients: 64,
        rate: 50,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = || format!("bad value for {flag}");
        match flag.as_str() {
            "--secs" => a.secs = value.parse().map_err(|_| bad())?,
            "--clients" => a.clients = value.parse().map_err(|_| bad())?,
            "--rate" => a.rate = value.parse().map_err(|_| bad())?,
            _ => return Err(format!("unknown flag {flag} (--secs, --clients, --rate)")),
        }
    }
    if !(a.secs > 0.0 && a.secs <= 600.0) || a.clients == 0 || a.rate == 0 {
        return Err("--secs must be in (0, 600], --clients and --rate above 0".into());
    }
    Ok(a)
}

fn policy(mode: Mode) -> Result<RetryPolicy<ClientError>, warden_retry::ConfigError> {
    let builder = RetryPolicy::builder()
        .max_attempts(match mode {
            Mode::NoRetry => 1,
            _ => 3,
        })
        .base_delay(Duration::from_millis(10))
        .jitter(Jitter::Equal);
    match mode {
        Mode::RetryWithBudget => builder.budget(Arc::new(RetryBudget::builder().build()?)),
        _ => builder,
    }
    .build()
}

struct Outcome {
    requests: u64,
    ok: u64,
    calls: u64,
    latencies: Vec<Duration>,
}

async fn run(
    addr: SocketAddr,
    down: &Downstream,
    mode: Mode,
    a: &Args,
) -> Result<Outcome, Box<dyn std::error::Error>> {
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let policy = Arc::new(policy(mode)?);
    let calls_before = down.calls.load(Ordering::Relaxed);
    let end = Instant::now() + Duration::from_secs_f64(a.secs);
    let period = Duration::from_secs_f64(1.0 / f64::from(a.rate));
    let mut tasks = Vec::new();
    for _ in 0..a.clients {
        let svc = ServiceBuilder::new()
            .retry(WardenPolicy::new(policy.clone()).classifier(HttpClassifier::new()))
            .service(client.clone());
        let uri = format!("http://{addr}/");
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let (mut latencies, mut ok) = (Vec::new(), 0u64);
            while Instant::now() < end {
                tick.tick().await;
                let req = http::Request::get(&uri).body(Empty::new())?;
                let start = Instant::now();
                let res = svc.clone().oneshot(req).await;
                latencies.push(start.elapsed());
                if res.is_ok_and(|r| r.status() == StatusCode::OK) {
                    ok += 1;
                }
            }
            Ok::<_, http::Error>((latencies, ok))
        }));
    }
    let mut out = Outcome {
        requests: 0,
        ok: 0,
        calls: 0,
        latencies: Vec::new(),
    };
    for t in tasks {
        let (latencies, ok) = t.await??;
        out.requests += latencies.len() as u64;
        out.ok += ok;
        out.latencies.extend(latencies);
    }
    out.calls = down.calls.load(Ordering::Relaxed) - calls_before;
    out.latencies.sort_unstable();
    Ok(out)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = args()?;
    let down = Arc::new(Downstream::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/", get(handler))
        .with_state(down.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });

    println!(
        "{} clients x {} req/s for {} s each; 3 attempts, 10 ms base, equal jitter; server on {addr}",
        a.clients, a.rate, a.secs
    );
    println!(
        "| failing | mode | client requests | downstream calls | amplification | 200s | p50 ms | p90 ms | p99 ms | max ms |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for fail in [500u64, 1000] {
        down.fail_per_mille.store(fail, Ordering::Relaxed);
        for mode in [Mode::NoRetry, Mode::Retry, Mode::RetryWithBudget] {
            let o = run(addr, &down, mode, &a).await?;
            println!(
                "| {} % | {} | {} | {} | {:.2}x | {:.1} % | {} | {} | {} | {} |",
                fail / 10,
                mode.name(),
                o.requests,
                o.calls,
                o.calls as f64 / o.requests.max(1) as f64,
                100.0 * o.ok as f64 / o.requests.max(1) as f64,
                ms(percentile(&o.latencies, 0.50)),
                ms(percentile(&o.latencies, 0.90)),
                ms(percentile(&o.latencies, 0.99)),
                ms(o.latencies.last().copied().unwrap_or_default()),
            );
        }
    }

    let _ = stop.send(());
    server.await??;
    Ok(())
}
