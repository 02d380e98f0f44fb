//! The presets trip where their documentation says.

use std::time::Duration;

use warden_kit::{BreakerConfig, ManualClock, Registry, State};

/// Failures (after `successes` successes) needed to open a fresh breaker with
/// `config`, counting up to `limit`.
fn failures_to_trip(config: BreakerConfig, successes: u32, limit: u32) -> Option<u32> {
    let registry = Registry::builder()
        .default_config(config)
        .clock(ManualClock::new())
        .build()
        .unwrap();
    for _ in 0..successes {
        assert!(
            registry
                .pipeline("x")
                .unwrap()
                .execute(|| Ok::<_, ()>(()))
                .has_value()
        );
    }
    (1..=limit).find(|_| {
        registry
            .pipeline("x")
            .unwrap()
            .execute(|| Err::<(), _>(()))
            .state()
            == Some(State::Open)
    })
}

#[test]
fn default_trips_like_gobreaker_after_more_than_five_consecutive_failures() {
    assert_eq!(failures_to_trip(BreakerConfig::default(), 0, 100), Some(6));
    let cb = warden_kit::presets::default("x").build().unwrap();
    assert_eq!(cb.settings().max_requests(), 1);
    assert_eq!(cb.settings().interval(), Duration::ZERO);
    assert_eq!(cb.settings().timeout(), Duration::from_secs(60));
}

#[test]
fn kafka_trips_at_half_failures_of_at_least_twenty_calls() {
    // All failures: nothing happens before the 20th call.
    assert_eq!(failures_to_trip(BreakerConfig::kafka(), 0, 100), Some(20));
    // 15 successes first: trips when failures reach half of the calls (15 of 30).
    assert_eq!(failures_to_trip(BreakerConfig::kafka(), 15, 100), Some(15));
    let cb = warden_kit::presets::kafka().build().unwrap();
    assert_eq!(cb.name(), "kafka");
    assert_eq!(
        (
            cb.settings().max_requests(),
            cb.settings().interval(),
            cb.settings().timeout()
        ),
        (5, Duration::from_secs(60), Duration::from_secs(30))
    );
}

#[test]
fn kafka_counts_restart_every_interval() {
    let clock = ManualClock::new();
    let registry = Registry::builder()
        .configure("kafka", BreakerConfig::kafka())
        .clock(clock.clone())
        .build()
        .unwrap();
    for _ in 0..19 {
        let _ = registry
            .pipeline("kafka")
            .unwrap()
            .execute(|| Err::<(), _>(()));
    }
    clock.advance(Duration::from_millis(60_001));
    // A new interval: the 20th failure is only the first of this minute.
    let ex = registry
        .pipeline("kafka")
        .unwrap()
        .execute(|| Err::<(), _>(()));
    assert_eq!(ex.state(), Some(State::Closed));
    assert_eq!(registry.breaker("kafka").unwrap().counts().requests, 1);
}

#[test]
fn clickhouse_and_notification_trip_on_consecutive_failures() {
    assert_eq!(
        failures_to_trip(BreakerConfig::clickhouse(), 0, 100),
        Some(5)
    );
    assert_eq!(
        failures_to_trip(BreakerConfig::notification(), 0, 100),
        Some(3)
    );
    let ch = warden_kit::presets::clickhouse().build().unwrap();
    assert_eq!((ch.name(), ch.settings().max_requests()), ("clickhouse", 1));
    let n = warden_kit::presets::notification().build().unwrap();
    assert_eq!(
        (n.name(), n.settings().timeout()),
        ("notification", Duration::from_secs(15))
    );
}

#[test]
fn preset_bulkheads_and_timeouts_reach_the_registry() {
    let registry = Registry::builder()
        .configure("ch", BreakerConfig::clickhouse())
        .configure("sms", BreakerConfig::notification())
        .configure("kafka", BreakerConfig::kafka())
        .build()
        .unwrap();
    let list: Vec<_> = ["ch", "kafka", "sms"]
        .iter()
        .map(|n| registry.breaker(n).unwrap().config().call_timeout())
        .collect();
    assert_eq!(list, [30, 5, 3].map(|s| Some(Duration::from_secs(s))));
    let statuses = registry.list();
    let max: Vec<_> = statuses.iter().map(|s| s.max_concurrent).collect();
    assert_eq!(max, [Some(8), None, Some(32)]);
}
