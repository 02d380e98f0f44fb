//! `otel::OtelMetrics` end to end through the OpenTelemetry SDK: a meter
//! provider with a periodic reader into the SDK's in-memory exporter; a flush
//! collects the observable instruments, which read the breakers' totals then.
#![cfg(feature = "otel")]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::metrics::MeterProvider;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use warden_breaker::{AdaptiveThrottle, CircuitBreaker, Error, ManualClock, Rejected, State};
use warden_telemetry::otel::OtelMetrics;

/// Every value as f64: the counts here are exact in it, and the throttle
/// gauge is one.
type Points = BTreeMap<(String, Vec<(String, String)>), f64>;

/// The last collection's data points.
fn collect(provider: &SdkMeterProvider, exporter: &InMemoryMetricExporter) -> Points {
    exporter.reset();
    provider.force_flush().unwrap();
    let mut points = Points::new();
    for rm in exporter.get_finished_metrics().unwrap() {
        for sm in rm.scope_metrics() {
            for m in sm.metrics() {
                let mut add = |attrs: Vec<(String, String)>, v: f64| {
                    let mut attrs = attrs;
                    attrs.sort();
                    points.insert((m.name().to_owned(), attrs), v);
                };
                let attrs = |it: &mut dyn Iterator<Item = &opentelemetry::KeyValue>| {
                    it.map(|kv| (kv.key.to_string(), kv.value.to_string()))
                        .collect::<Vec<_>>()
                };
                match m.data() {
                    AggregatedMetrics::U64(MetricData::Sum(s)) => {
                        assert!(s.is_monotonic(), "{}", m.name());
                        for p in s.data_points() {
                            add(attrs(&mut p.attributes()), p.value() as f64);
                        }
                    }
                    AggregatedMetrics::I64(MetricData::Gauge(g)) => {
                        for p in g.data_points() {
                            add(attrs(&mut p.attributes()), p.value() as f64);
                        }
                    }
                    AggregatedMetrics::F64(MetricData::Gauge(g)) => {
                        for p in g.data_points() {
                            add(attrs(&mut p.attributes()), p.value());
                        }
                    }
                    other => panic!("unexpected data for {}: {other:?}", m.name()),
                }
            }
        }
    }
    points
}

fn get(points: &Points, name: &str, attrs: &[(&str, &str)]) -> Option<i128> {
    get_f64(points, name, attrs).map(|v| v as i128)
}

fn get_f64(points: &Points, name: &str, attrs: &[(&str, &str)]) -> Option<f64> {
    let mut attrs: Vec<_> = attrs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    attrs.sort();
    points.get(&(name.to_owned(), attrs)).copied()
}

#[test]
fn observable_instruments_read_the_totals_at_collection() {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    let otel = OtelMetrics::register(&provider.meter("warden"));
    let cb = Arc::new(
        CircuitBreaker::builder("db")
            .ready_to_trip(|c| c.consecutive_failures >= 1)
            .build()
            .unwrap(),
    );
    otel.watch(&cb);
    for _ in 0..3 {
        cb.call(|| Ok::<_, ()>(())).unwrap();
    }
    let p = collect(&provider, &exporter);
    let name = [("name", "db")];
    assert_eq!(get(&p, "warden.circuit_breaker.successes", &name), Some(3));
    assert_eq!(get(&p, "warden.circuit_breaker.state", &name), Some(0));
    assert_eq!(
        get_f64(&p, "warden.circuit_breaker.throttle_probability", &name),
        None,
        "no throttle, no throttle gauge"
    );

    let _ = cb.call(|| Err::<(), _>(())); // trips
    for _ in 0..5 {
        assert!(cb.call(|| Ok::<_, ()>(())).is_err());
    }
    let p = collect(&provider, &exporter);
    assert_eq!(get(&p, "warden.circuit_breaker.state", &name), Some(1));
    assert_eq!(get(&p, "warden.circuit_breaker.failures", &name), Some(1));
    let reason = |r| {
        get(
            &p,
            "warden.circuit_breaker.rejections",
            &[("name", "db"), ("reason", r)],
        )
    };
    assert_eq!(
        (reason("open"), reason("too_many_requests")),
        (Some(5), Some(0))
    );
    let edge = |from, to| {
        get(
            &p,
            "warden.circuit_breaker.transitions",
            &[("name", "db"), ("from", from), ("to", to)],
        )
    };
    assert_eq!(edge("closed", "open"), Some(1));
    assert_eq!(edge("half_open", "closed"), Some(0));
    assert_eq!(
        edge("open", "closed"),
        None,
        "a manual edge appears once taken"
    );
    cb.reset();
    let p = collect(&provider, &exporter);
    assert_eq!(
        get(
            &p,
            "warden.circuit_breaker.transitions",
            &[("name", "db"), ("from", "open"), ("to", "closed")]
        ),
        Some(1)
    );
    assert_eq!(cb.state(), State::Closed);

    drop(cb);
    let p = collect(&provider, &exporter);
    assert_eq!(
        get(&p, "warden.circuit_breaker.successes", &name),
        None,
        "dropped breakers leave"
    );
    provider.shutdown().unwrap();
}

#[test]
fn caller_counts_are_observed_with_the_breaker() {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    let otel = OtelMetrics::register(&provider.meter("warden"));
    let cb = Arc::new(CircuitBreaker::builder("db").build().unwrap());
    let counts = otel.watch(&cb);
    let name = [("name", "db")];
    let bulkhead = [("name", "db"), ("reason", "bulkhead_full")];

    let p = collect(&provider, &exporter);
    assert_eq!(get(&p, "warden.circuit_breaker.timeouts", &name), Some(0));
    assert_eq!(
        get(&p, "warden.circuit_breaker.rejections", &bulkhead),
        Some(0)
    );
    assert_eq!(
        get(&p, "warden.retry.attempts", &name),
        None,
        "no retry series before a retry attempt"
    );

    counts.record_timeout();
    for _ in 0..4 {
        counts.record_bulkhead_rejection();
    }
    for _ in 0..3 {
        counts.record_attempt();
    }
    counts.record_retry();
    let p = collect(&provider, &exporter);
    assert_eq!(get(&p, "warden.circuit_breaker.timeouts", &name), Some(1));
    assert_eq!(
        get(&p, "warden.circuit_breaker.rejections", &bulkhead),
        Some(4)
    );
    assert_eq!(get(&p, "warden.retry.attempts", &name), Some(3));
    assert_eq!(get(&p, "warden.retry.retries", &name), Some(1));

    // A new breaker of the same name keeps the name's counts; counts given
    // with `watch_with` replace them, and the name's counters go on from what
    // they reached (a counter never goes down).
    let again = Arc::new(CircuitBreaker::builder("db").build().unwrap());
    assert!(Arc::ptr_eq(&otel.watch(&again), &counts));
    let shared = Arc::new(warden_telemetry::CallerCounts::default());
    otel.watch_with(&again, &shared);
    shared.record_timeout();
    shared.record_timeout();
    let p = collect(&provider, &exporter);
    assert_eq!(get(&p, "warden.circuit_breaker.timeouts", &name), Some(3));
    assert_eq!(get(&p, "warden.retry.attempts", &name), Some(3));
    provider.shutdown().unwrap();
}

#[test]
fn throttled_rejections_are_observed_once_a_throttle_sheds() {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    let otel = OtelMetrics::register(&provider.meter("warden"));
    let cb = Arc::new(
        CircuitBreaker::builder("api")
            .adaptive_throttle(AdaptiveThrottle::new(Duration::from_secs(10)))
            .clock(ManualClock::new())
            .build()
            .unwrap(),
    );
    otel.watch(&cb);
    let throttled = [("name", "api"), ("reason", "throttled")];
    AdaptiveThrottle::set_thread_draws(3);
    // Fewer requests than the minimum (10): every call runs, nothing is shed.
    for _ in 0..5 {
        assert_eq!(cb.call(|| Err::<(), _>("503")), Err(Error::Inner("503")));
    }
    let p = collect(&provider, &exporter);
    assert_eq!(
        get(&p, "warden.circuit_breaker.rejections", &throttled),
        None,
        "no throttled series before a call was shed"
    );
    assert_eq!(
        get(&p, "warden.circuit_breaker.failures", &[("name", "api")]),
        Some(5)
    );
    let probability = "warden.circuit_breaker.throttle_probability";
    assert_eq!(
        get_f64(&p, probability, &[("name", "api")]),
        Some(0.0),
        "a throttle's gauge is there from the start"
    );
    let shed = (0..100)
        .filter(|_| cb.call(|| Err::<(), _>("503")) == Err(Error::Rejected(Rejected::Throttled)))
        .count() as i128;
    assert!(shed > 50, "{shed}");
    let p = collect(&provider, &exporter);
    assert_eq!(
        get(&p, "warden.circuit_breaker.rejections", &throttled),
        Some(shed)
    );
    assert_eq!(
        get(&p, "warden.circuit_breaker.failures", &[("name", "api")]),
        Some(105 - shed)
    );
    // The probability now, exactly.
    assert!(cb.throttle_probability() > 0.5);
    assert_eq!(
        get_f64(&p, probability, &[("name", "api")]),
        Some(cb.throttle_probability())
    );
    provider.shutdown().unwrap();
}

/// A name whose breaker is replaced (a registry evicting an idle name and
/// creating it again before the next collection, a service rebuilding a
/// breaker) keeps its counters monotonic: the new breaker's counts continue
/// from what the name's series reached. Observed as the new breaker's own
/// (smaller) totals, they went down, which an exporter with delta temporality
/// turns into a subtraction below zero (a panic in the SDK's collection in a
/// debug build, a delta near 2^64 in a release build), and one with
/// cumulative temporality into a reset.
#[test]
fn a_replaced_breaker_continues_its_names_counters() {
    let exporter = opentelemetry_sdk::metrics::InMemoryMetricExporterBuilder::new()
        .with_temporality(opentelemetry_sdk::metrics::Temporality::Delta)
        .build();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    let otel = OtelMetrics::register(&provider.meter("warden"));
    let build = || {
        Arc::new(
            CircuitBreaker::builder("db")
                .ready_to_trip(|c| c.consecutive_failures >= 1)
                .build()
                .unwrap(),
        )
    };
    let old = build();
    let counts = otel.watch(&old);
    for _ in 0..10 {
        old.call(|| Ok::<_, ()>(())).unwrap();
    }
    let _ = old.call(|| Err::<(), _>(())); // trips
    let _ = old.call(|| Ok::<_, ()>(())); // refused
    counts.record_timeout();
    let name = [("name", "db")];
    let p = collect(&provider, &exporter);
    assert_eq!(get(&p, "warden.circuit_breaker.successes", &name), Some(10));

    // Replaced before the next collection, with new caller counts (as a
    // registry does for each breaker it creates).
    drop(old);
    let new = build();
    otel.watch_with(&new, &Arc::new(warden_telemetry::CallerCounts::default()));
    for _ in 0..2 {
        new.call(|| Ok::<_, ()>(())).unwrap();
    }
    let p = collect(&provider, &exporter);
    // What happened since the last collection: the new breaker's two successes.
    assert_eq!(get(&p, "warden.circuit_breaker.successes", &name), Some(2));
    assert_eq!(get(&p, "warden.circuit_breaker.failures", &name), Some(0));
    assert_eq!(get(&p, "warden.circuit_breaker.timeouts", &name), Some(0));
    let _ = new.call(|| Err::<(), _>(())); // trips
    let p = collect(&provider, &exporter);
    assert_eq!(get(&p, "warden.circuit_breaker.failures", &name), Some(1));
    assert_eq!(
        get(
            &p,
            "warden.circuit_breaker.transitions",
            &[("name", "db"), ("from", "closed"), ("to", "open")]
        ),
        Some(1)
    );
}

/// Watching the same breaker again (idempotent) observes its totals once.
#[test]
fn watching_the_same_breaker_again_counts_nothing_twice() {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    let otel = OtelMetrics::register(&provider.meter("warden"));
    let cb = Arc::new(CircuitBreaker::builder("db").build().unwrap());
    let counts = otel.watch(&cb);
    for _ in 0..3 {
        cb.call(|| Ok::<_, ()>(())).unwrap();
    }
    counts.record_timeout();
    otel.watch(&cb);
    otel.watch_with(&cb, &counts);
    let p = collect(&provider, &exporter);
    let name = [("name", "db")];
    assert_eq!(get(&p, "warden.circuit_breaker.successes", &name), Some(3));
    assert_eq!(get(&p, "warden.circuit_breaker.timeouts", &name), Some(1));
}
