//! Metrics through the registry: the values after scripted sequences.

use std::time::Duration;

use warden_kit::metrics::Metrics;
use warden_kit::metrics::prometheus::{self, Encoder, TextEncoder};
use warden_kit::{BreakerConfig, ExecuteError, ManualClock, Registry, RetryPolicy, TripRule};

fn scrape(registry: &prometheus::Registry) -> String {
    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&registry.gather(), &mut out)
        .unwrap();
    String::from_utf8(out).unwrap()
}

#[tokio::test(start_paused = true)]
async fn scripted_sequence_through_the_registry() {
    let prom = prometheus::Registry::new();
    let clock = ManualClock::new();
    let registry = Registry::builder()
        .configure(
            "api",
            BreakerConfig::default()
                .with_trip(TripRule::ConsecutiveFailures(3))
                .with_timeout(Duration::from_secs(5))
                .with_call_timeout(Some(Duration::from_millis(100)))
                .with_max_concurrent(1),
        )
        .metrics(Metrics::register(&prom).unwrap())
        .clock(clock.clone())
        .build()
        .unwrap();

    // 2 successes; a call that finds the bulkhead (size 1) full from inside
    // another call; then 1 failure and 2 timeouts (the third consecutive failure trips).
    for _ in 0..2 {
        assert!(
            registry
                .pipeline("api")
                .unwrap()
                .execute(|| Ok::<_, &str>(()))
                .has_value()
        );
    }
    let outer = registry.pipeline("api").unwrap().execute(|| {
        let inner = registry
            .pipeline("api")
            .unwrap()
            .execute(|| Ok::<_, &str>(()));
        assert!(inner.is_rejected());
        Ok::<_, &str>(())
    });
    assert!(outer.has_value());
    let _ = registry
        .pipeline("api")
        .unwrap()
        .execute(|| Err::<(), _>("500"));
    for _ in 0..2 {
        let ex = registry
            .pipeline("api")
            .unwrap()
            .execute_async(std::future::pending::<Result<(), &str>>)
            .await;
        assert!(ex.timed_out());
    }
    // Open now: two rejections.
    for _ in 0..2 {
        assert!(
            registry
                .pipeline("api")
                .unwrap()
                .execute(|| Ok::<_, &str>(()))
                .is_rejected()
        );
    }
    clock.advance(Duration::from_millis(5001));
    assert!(
        registry
            .pipeline("api")
            .unwrap()
            .execute(|| Ok::<_, &str>(()))
            .has_value()
    ); // probe closes it

    // A retry run on another name: 3 attempts, all failing.
    let policy = RetryPolicy::<ExecuteError<&str>>::builder()
        .base_delay(Duration::ZERO)
        .retry_if(ExecuteError::is_retryable)
        .observer(registry.retry_metrics("db").unwrap())
        .build()
        .unwrap();
    let ex = registry
        .pipeline("db")
        .unwrap()
        .with_retry(policy.clone())
        .execute(|| Err::<(), _>("down"));
    assert_eq!(ex.attempts(), 3);

    let text = scrape(&prom);
    let expect = [
        r#"warden_circuit_breaker_state{name="api"} 0"#,
        r#"warden_circuit_breaker_successes_total{name="api"} 4"#,
        r#"warden_circuit_breaker_failures_total{name="api"} 3"#,
        r#"warden_circuit_breaker_timeouts_total{name="api"} 2"#,
        r#"warden_circuit_breaker_rejections_total{name="api",reason="open"} 2"#,
        r#"warden_circuit_breaker_rejections_total{name="api",reason="bulkhead_full"} 1"#,
        r#"warden_circuit_breaker_rejections_total{name="api",reason="too_many_requests"} 0"#,
        r#"warden_circuit_breaker_transitions_total{from="closed",name="api",to="open"} 1"#,
        r#"warden_circuit_breaker_transitions_total{from="open",name="api",to="half_open"} 1"#,
        r#"warden_circuit_breaker_transitions_total{from="half_open",name="api",to="closed"} 1"#,
        r#"warden_circuit_breaker_failures_total{name="db"} 3"#,
        r#"warden_retry_attempts_total{name="db"} 3"#,
        r#"warden_retry_retries_total{name="db"} 2"#,
    ];
    for line in expect {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}

#[test]
fn without_metrics_nothing_is_registered() {
    let registry = Registry::builder().build().unwrap();
    assert!(registry.metrics().is_none());
    assert!(registry.retry_metrics("db").is_none());
}

#[test]
fn removed_and_evicted_names_lose_their_series_and_are_counted() {
    let prom = prometheus::Registry::new();
    let registry = Registry::builder()
        .metrics(Metrics::register(&prom).unwrap())
        .max_breakers(1)
        .build()
        .unwrap();
    let _ = registry
        .pipeline("old")
        .unwrap()
        .execute(|| Ok::<_, ()>(()));
    assert!(scrape(&prom).contains(r#"name="old""#));
    let _ = registry
        .pipeline("new")
        .unwrap()
        .execute(|| Ok::<_, ()>(())); // evicts "old" at the cap
    let _ = registry.retry_metrics("new");
    registry.remove("new").expect("the name is there");
    let text = scrape(&prom);
    assert!(!text.contains("name="), "series left:\n{text}");
    for line in [
        r#"warden_registry_evictions_total{reason="capacity"} 1"#,
        r#"warden_registry_evictions_total{reason="removed"} 1"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}
