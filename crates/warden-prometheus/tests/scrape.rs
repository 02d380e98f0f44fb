//! The metrics as Prometheus sees them: a scripted sequence of calls, then a
//! scrape of the text exposition over a real HTTP listener on loopback.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus::core::Collector;
use prometheus::{Encoder, IntCounterVec, Opts, Registry, TextEncoder};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use warden_breaker::{AdaptiveThrottle, CircuitBreaker, Error, ManualClock, Rejected, State};
use warden_prometheus::{Error as MetricsError, Metrics};
use warden_retry::{ManualSleeper, RetryPolicy, with_breaker_and_retry};

/// A `/metrics` endpoint on 127.0.0.1, port chosen by the OS; stops when the
/// sender is used or dropped.
struct Server {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

async fn serve(registry: Registry) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, mut stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                accepted = listener.accept() => {
                    let (stream, _) = accepted.unwrap();
                    let registry = registry.clone();
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let registry = registry.clone();
                        async move {
                            if req.uri().path() != "/metrics" {
                                let mut not_found = Response::new(Full::new(Bytes::new()));
                                *not_found.status_mut() = StatusCode::NOT_FOUND;
                                return Ok::<_, Infallible>(not_found);
                            }
                            let mut body = Vec::new();
                            let encoder = TextEncoder::new();
                            encoder.encode(&registry.gather(), &mut body).unwrap();
                            let mut response = Response::new(Full::new(Bytes::from(body)));
                            response.headers_mut().insert(
                                hyper::header::CONTENT_TYPE,
                                encoder.format_type().parse().unwrap(),
                            );
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
    });
    Server { addr, stop, task }
}

async fn get(addr: SocketAddr, path: &str) -> (StatusCode, String) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    let conn = tokio::spawn(conn);
    let req = Request::get(path)
        .header(hyper::header::HOST, addr.to_string())
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = sender.send_request(req).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    drop(sender);
    conn.await.unwrap().unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// Samples of a text exposition: (metric name, labels) -> value.
fn samples(text: &str) -> BTreeMap<(String, BTreeMap<String, String>), f64> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let labels = rest
                    .trim_end_matches('}')
                    .split(',')
                    .filter(|p| !p.is_empty())
                    .map(|pair| {
                        let (k, v) = pair.split_once('=').unwrap();
                        (k.to_owned(), v.trim_matches('"').to_owned())
                    })
                    .collect();
                (name.to_owned(), labels)
            }
            None => (series.to_owned(), BTreeMap::new()),
        };
        out.insert((name, labels), value.parse().unwrap());
    }
    out
}

fn value(
    samples: &BTreeMap<(String, BTreeMap<String, String>), f64>,
    name: &str,
    labels: &[(&str, &str)],
) -> Option<f64> {
    let labels = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples.get(&(name.to_owned(), labels)).copied()
}

#[tokio::test(flavor = "current_thread")]
async fn scripted_calls_show_up_in_a_scrape_over_http() {
    let registry = Registry::new();
    let metrics = Metrics::register(&registry).unwrap();
    let clock = ManualClock::new();

    let kafka = Arc::new(
        CircuitBreaker::builder("kafka")
            .ready_to_trip(|c| c.consecutive_failures >= 2)
            .timeout(Duration::from_secs(1))
            .max_requests(1)
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    let kafka_metrics = metrics.watch(&kafka);
    let clickhouse = Arc::new(
        CircuitBreaker::builder("clickhouse")
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    metrics.watch(&clickhouse);

    // kafka: 3 successes, 2 failures (the second trips it), 2 rejections while open.
    for _ in 0..3 {
        kafka.call(|| Ok::<_, &str>(())).unwrap();
    }
    for _ in 0..2 {
        assert!(kafka.call(|| Err::<(), _>("broker down")).is_err());
    }
    for _ in 0..2 {
        assert_eq!(
            kafka.call(|| Ok::<_, &str>(())),
            Err(Error::Rejected(Rejected::Open))
        );
    }
    // The timeout passes: one probe holds the only half-open slot, a second call
    // is refused with too_many_requests, the probe fails (back to open).
    clock.advance(Duration::from_millis(1001));
    let probe = kafka.try_acquire().unwrap();
    assert_eq!(
        kafka.call(|| Ok::<_, &str>(())),
        Err(Error::Rejected(Rejected::TooManyRequests))
    );
    kafka_metrics.record_timeout(); // the caller's timer fired:
    probe.failure(); // a timeout is a failure to the breaker
    // Next timeout: a successful probe closes it.
    clock.advance(Duration::from_millis(1001));
    kafka.call(|| Ok::<_, &str>(())).unwrap();
    assert_eq!(kafka.state(), State::Closed);

    // clickhouse: a retry run of 3 attempts, each failing (the breaker stays closed).
    let retry_metrics = metrics.retry("clickhouse");
    let policy = RetryPolicy::builder()
        .max_attempts(3)
        .sleeper(ManualSleeper::new())
        .observer(retry_metrics.clone())
        .build()
        .unwrap();
    let err = with_breaker_and_retry(&*clickhouse, &policy, || Err::<(), _>("too many parts"))
        .unwrap_err();
    assert_eq!(err.attempts(), 3);

    let server = serve(registry.clone()).await;
    let (status, text) = get(server.addr, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = get(server.addr, "/nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.stop.send(()).unwrap();
    server.task.await.unwrap();

    let s = samples(&text);
    let k = [("name", "kafka")];
    let c = [("name", "clickhouse")];
    assert_eq!(value(&s, "warden_circuit_breaker_state", &k), Some(0.0));
    assert_eq!(
        value(&s, "warden_circuit_breaker_successes_total", &k),
        Some(4.0)
    );
    assert_eq!(
        value(&s, "warden_circuit_breaker_failures_total", &k),
        Some(3.0)
    );
    assert_eq!(
        value(&s, "warden_circuit_breaker_timeouts_total", &k),
        Some(1.0)
    );
    let rejected = |reason| {
        value(
            &s,
            "warden_circuit_breaker_rejections_total",
            &[("name", "kafka"), ("reason", reason)],
        )
    };
    assert_eq!(rejected("open"), Some(2.0));
    assert_eq!(rejected("too_many_requests"), Some(1.0));
    assert_eq!(rejected("bulkhead_full"), Some(0.0));
    let transitions = |from, to| {
        value(
            &s,
            "warden_circuit_breaker_transitions_total",
            &[("from", from), ("name", "kafka"), ("to", to)],
        )
    };
    assert_eq!(transitions("closed", "open"), Some(1.0));
    assert_eq!(transitions("open", "half_open"), Some(2.0));
    assert_eq!(transitions("half_open", "open"), Some(1.0));
    assert_eq!(transitions("half_open", "closed"), Some(1.0));

    assert_eq!(value(&s, "warden_circuit_breaker_state", &c), Some(0.0));
    assert_eq!(
        value(&s, "warden_circuit_breaker_failures_total", &c),
        Some(3.0)
    );
    assert_eq!(value(&s, "warden_retry_attempts_total", &c), Some(3.0));
    assert_eq!(value(&s, "warden_retry_retries_total", &c), Some(2.0));
    assert!(text.contains(
        "# HELP warden_circuit_breaker_state Current state of the circuit breaker (0 - Closed, 1 - Open, 2 - HalfOpen)"
    ));
    assert!(text.contains("# TYPE warden_circuit_breaker_state gauge"));
    assert!(text.contains("# TYPE warden_retry_attempts_total counter"));
}

/// An adaptive throttle shedding calls while its breaker stays closed: the
/// scrape over HTTP carries its rejection probability, exactly the breaker's
/// `throttle_probability()` at that moment, for that name only, and follows it
/// with no call in between (a forced open makes it 0).
#[tokio::test(flavor = "current_thread")]
async fn a_throttles_rejection_probability_shows_up_in_a_scrape_over_http() {
    let registry = Registry::new();
    let metrics = Metrics::register(&registry).unwrap();
    let clock = ManualClock::new();
    let api = Arc::new(
        CircuitBreaker::builder("api")
            .adaptive_throttle(
                AdaptiveThrottle::new(Duration::from_secs(10))
                    .with_buckets(10)
                    .with_k(2.0)
                    .with_min_requests(10)
                    .with_max_reject_percent(90),
            )
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    let api_metrics = metrics.watch(&api);
    let db = Arc::new(
        CircuitBreaker::builder("db")
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    metrics.watch(&db);
    let _ = db.call(|| Ok::<_, &str>(()));

    // A backend failing 3 calls in 4, 40 calls a second for 5 seconds, with
    // fixed draws (this thread makes every call).
    AdaptiveThrottle::set_thread_draws(11);
    let mut throttled = 0;
    for _ in 0..5 {
        for i in 0..40 {
            match api.call(|| if i % 4 == 0 { Ok(()) } else { Err("503") }) {
                Err(Error::Rejected(Rejected::Throttled)) => throttled += 1,
                Ok(()) | Err(Error::Inner(_)) => {}
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        clock.advance(Duration::from_secs(1));
    }
    let probability = api.throttle_probability();
    assert!(throttled > 0 && probability > 0.0 && probability <= 0.9);
    assert_eq!(api.state(), State::Closed);
    assert_eq!(api_metrics.throttle_probability(), Some(probability));

    let server = serve(registry.clone()).await;
    let (status, text) = get(server.addr, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let s = samples(&text);
    let gauge = "warden_circuit_breaker_throttle_probability";
    assert_eq!(value(&s, gauge, &[("name", "api")]), Some(probability));
    assert_eq!(value(&s, gauge, &[("name", "db")]), None, "no throttle");
    assert!(text.contains(&format!("# TYPE {gauge} gauge")), "{text}");
    assert!(text.contains(&format!(
        "# HELP {gauge} Probability with which the adaptive throttle rejects a call now (0 to 1)"
    )));
    assert_eq!(
        value(
            &s,
            "warden_circuit_breaker_rejections_total",
            &[("name", "api"), ("reason", "throttled")]
        ),
        Some(throttled as f64)
    );

    // Read at scrape time: forced open, the throttle rejects nothing (the
    // breaker does), with no call made since.
    api.force_open();
    let (_, text) = get(server.addr, "/metrics").await;
    server.stop.send(()).unwrap();
    server.task.await.unwrap();
    assert_eq!(value(&samples(&text), gauge, &[("name", "api")]), Some(0.0));

    // `remove` counts the gauge among the name's series, as scraped: state,
    // successes, failures, timeouts, four rejection reasons, the four standard
    // edges (the forced open took one of them) and the throttle gauge.
    let series = samples(&text)
        .keys()
        .filter(|(_, labels)| labels.get("name").map(String::as_str) == Some("api"))
        .count();
    assert_eq!(series, 13);
    assert_eq!(metrics.remove("api"), series);
}

#[test]
fn the_gauge_follows_every_transition() {
    let metrics = Metrics::register(&Registry::new()).unwrap();
    let clock = ManualClock::new();
    let cb = Arc::new(
        CircuitBreaker::builder("db")
            .ready_to_trip(|c| c.consecutive_failures >= 1)
            .timeout(Duration::from_millis(10))
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    let m = metrics.watch(&cb);
    assert_eq!(m.state(), 0);
    let _ = cb.call(|| Err::<(), _>(()));
    assert_eq!(m.state(), 1);
    clock.advance(Duration::from_millis(11));
    // Read at scrape time: the due open -> half-open move happens on the read,
    // no call needed.
    assert_eq!(m.state(), 2);
    assert_eq!(cb.state(), State::HalfOpen);
    assert_eq!(m.transitions(State::Open, State::HalfOpen), 1);
    assert_eq!(m.transitions(State::Closed, State::HalfOpen), 0);
}

#[test]
fn registering_twice_is_an_error_and_leaves_the_registry_as_it_was() {
    let registry = Registry::new();
    let _first = Metrics::register(&registry).unwrap();
    match Metrics::register(&registry) {
        Err(MetricsError::AlreadyRegistered { metric }) => {
            assert_eq!(metric, "warden_circuit_breaker_state")
        }
        other => panic!("expected AlreadyRegistered, got {other:?}"),
    }
    // Another namespace in the same registry is fine.
    let other = Metrics::builder()
        .namespace("payments")
        .register(&registry)
        .unwrap();
    other.breaker("x").record_timeout();
    assert!(
        registry
            .gather()
            .iter()
            .any(|f| f.name() == "payments_circuit_breaker_timeouts_total")
    );
}

#[test]
fn a_name_clash_with_another_collector_is_an_error_and_rolls_back() {
    let registry = Registry::new();
    // Someone else owns warden_circuit_breaker_failures_total, with other labels.
    let theirs = IntCounterVec::new(
        Opts::new("warden_circuit_breaker_failures_total", "not ours"),
        &["service"],
    )
    .unwrap();
    registry.register(Box::new(theirs.clone())).unwrap();
    theirs.with_label_values(&["a"]).inc();

    let err = Metrics::register(&registry).unwrap_err();
    assert!(
        matches!(&err, MetricsError::AlreadyRegistered { metric } if metric == "warden_circuit_breaker_failures_total"),
        "{err:?}"
    );
    assert!(err.to_string().contains("already registered"));
    // The families registered before the clash (state, successes) were removed again:
    // they can be registered by themselves now.
    let state = prometheus::IntGaugeVec::new(
        Opts::new(
            "warden_circuit_breaker_state",
            "Current state of the circuit breaker (0 - Closed, 1 - Open, 2 - HalfOpen)",
        ),
        &["name"],
    )
    .unwrap();
    assert_eq!(state.desc().len(), 1);
    registry.register(Box::new(state)).unwrap();
}

#[test]
fn invalid_namespaces_are_refused() {
    let registry = Registry::new();
    for bad in ["9lives", "with-dash", "sp ace", "ünïcode"] {
        match Metrics::builder().namespace(bad).register(&registry) {
            Err(MetricsError::InvalidNamespace { namespace }) => assert_eq!(namespace, bad),
            other => panic!("{bad}: expected InvalidNamespace, got {other:?}"),
        }
    }
    assert!(registry.gather().is_empty());
    // A 1 MiB one is quoted to its first 64 bytes and its length.
    let huge = format!("9{}", "x".repeat(1 << 20));
    let err = Metrics::builder()
        .namespace(huge)
        .register(&registry)
        .expect_err("refused");
    let text = err.to_string();
    assert!(text.len() < 300, "{} bytes", text.len());
    assert!(text.contains("(1048577 bytes)"), "{text}");
}

#[test]
fn handles_share_series_and_recording_is_exact_across_threads() {
    let metrics = Metrics::register(&Registry::new()).unwrap();
    let cb = Arc::new(CircuitBreaker::builder("shared").build().unwrap());
    metrics.watch(&cb);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let cb = cb.clone();
            std::thread::spawn(move || {
                for i in 0..1000 {
                    let _ = cb.call(|| if i % 10 == 0 { Err(()) } else { Ok(()) });
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let again = metrics.breaker("shared"); // a second handle reads the same series
    assert_eq!(again.successes(), 3600);
    assert_eq!(again.failures(), 400);
}

#[test]
fn a_dropped_breaker_leaves_the_scrape_and_a_new_one_replaces_it() {
    let registry = Registry::new();
    let metrics = Metrics::register(&registry).unwrap();
    let old = Arc::new(CircuitBreaker::builder("db").build().unwrap());
    metrics.watch(&old);
    let _ = old.call(|| Ok::<_, ()>(()));
    let count = |registry: &Registry| {
        registry
            .gather()
            .iter()
            .find(|f| f.name() == "warden_circuit_breaker_successes_total")
            .map_or(0, |f| f.get_metric().len())
    };
    assert_eq!(count(&registry), 1);
    drop(old);
    assert_eq!(count(&registry), 0);
    let new = Arc::new(CircuitBreaker::builder("db").build().unwrap());
    let m = metrics.watch(&new);
    assert_eq!((count(&registry), m.successes()), (1, 0));
}

/// A command's edge (closed -> open by force_open) is exported once it happened.
#[test]
fn manual_edges_appear_once_taken() {
    let registry = Registry::new();
    let metrics = Metrics::register(&registry).unwrap();
    let cb = Arc::new(CircuitBreaker::builder("db").build().unwrap());
    metrics.watch(&cb);
    let edges = |registry: &Registry| {
        registry
            .gather()
            .iter()
            .find(|f| f.name() == "warden_circuit_breaker_transitions_total")
            .map_or(0, |f| f.get_metric().len())
    };
    assert_eq!(edges(&registry), 4);
    cb.force_open();
    cb.reset(); // open -> closed: not one of gobreaker's edges
    assert_eq!(edges(&registry), 5);
    assert_eq!(metrics.remove("db"), 12);
}

/// A state-change callback that panics during the scrape's state read (an
/// open breaker whose timeout passed turns half-open on the read) does not
/// take the scrape down.
#[test]
fn a_panicking_callback_does_not_break_the_scrape() {
    let registry = Registry::new();
    let metrics = Metrics::register(&registry).unwrap();
    let clock = ManualClock::new();
    let cb = Arc::new(
        CircuitBreaker::builder("db")
            .timeout(Duration::from_millis(10))
            .clock(clock.clone())
            .on_state_change(|_, _, to| {
                if to == State::HalfOpen {
                    panic!("callback bug")
                }
            })
            .build()
            .unwrap(),
    );
    metrics.watch(&cb);
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        cb.force_open_for(Duration::from_millis(5))
    }));
    clock.advance(Duration::from_millis(6));
    let families = registry.gather();
    let state = families
        .iter()
        .find(|f| f.name() == "warden_circuit_breaker_state")
        .unwrap();
    assert_eq!(state.get_metric()[0].get_gauge().get_value(), 2.0);
}

/// `remove` racing `watch` of the same name (a name evicted by one thread while
/// another creates it again): whatever the order, a name whose breaker is
/// exported again also exports the timeouts its new handle records. The
/// removal used to drop the name's pushed series after letting go of the
/// names' lock, so a `watch` landing in between lost its timeouts series for
/// good (the handle counted into a series no scrape saw). 2,000 rounds of two
/// threads, bounded by that count.
#[test]
fn a_name_watched_while_it_is_removed_keeps_its_timeouts_series() {
    let registry = Registry::new();
    let metrics = Metrics::register(&registry).unwrap();
    let cb = Arc::new(CircuitBreaker::builder("db").build().unwrap());
    let series = |family: &str| {
        registry
            .gather()
            .iter()
            .find(|f| f.name() == family)
            .map_or(0, |f| f.get_metric().len())
    };
    let mut lost = 0;
    for _ in 0..2_000 {
        metrics.watch(&cb);
        let start = std::sync::Barrier::new(2);
        let handle = std::thread::scope(|s| {
            s.spawn(|| {
                start.wait();
                metrics.remove("db");
            });
            start.wait();
            let m = metrics.watch(&cb);
            m.record_timeout();
            m
        });
        // Exported (the state gauge has the name): its timeouts are too.
        if series("warden_circuit_breaker_state") == 1 {
            let timeouts = series("warden_circuit_breaker_timeouts_total");
            if timeouts == 0 {
                lost += 1;
            } else {
                assert_eq!(handle.timeouts(), 1);
            }
        }
        metrics.remove("db");
    }
    assert_eq!(lost, 0, "rounds whose timeouts series was lost");
}
