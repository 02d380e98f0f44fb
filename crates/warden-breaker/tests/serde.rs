//! With the `serde` feature, statuses and settings serialize to the JSON a
//! status endpoint serves: kebab-case states and modes, counts as numbers,
//! durations as whole milliseconds (microseconds for the slow-call threshold).
#![cfg(feature = "serde")]

use std::time::Duration;

use serde_json::json;
use warden_breaker::{
    CircuitBreaker, CountWindow, Mode, OpenBackoff, Outcome, SlowCalls, State, TimeWindow,
};

#[test]
fn states_modes_and_outcomes_are_kebab_case_strings() {
    assert_eq!(
        serde_json::to_value(State::HalfOpen).unwrap(),
        json!("half-open")
    );
    assert_eq!(
        serde_json::to_value(State::Closed).unwrap(),
        json!("closed")
    );
    assert_eq!(
        serde_json::to_value(Mode::ForcedOpen).unwrap(),
        json!("forced-open")
    );
    assert_eq!(
        serde_json::to_value(Outcome::Ignored).unwrap(),
        json!("ignored")
    );
    // Each matches the Display form, so logs and JSON agree.
    for s in [State::Closed, State::Open, State::HalfOpen] {
        assert_eq!(serde_json::to_value(s).unwrap(), json!(s.to_string()));
    }
    for m in [
        Mode::Normal,
        Mode::ForcedOpen,
        Mode::ForcedClosed,
        Mode::Disabled,
    ] {
        assert_eq!(serde_json::to_value(m).unwrap(), json!(m.to_string()));
    }
}

#[test]
fn a_live_breakers_counts_serialize_field_by_field() {
    let cb = CircuitBreaker::builder("db").build().unwrap();
    cb.call(|| Ok::<_, ()>(())).unwrap();
    let _ = cb.call(|| Err::<(), _>(()));
    assert_eq!(
        serde_json::to_value(cb.counts()).unwrap(),
        json!({
            "requests": 2, "total_successes": 1, "total_failures": 1, "total_exclusions": 0,
            "consecutive_successes": 0, "consecutive_failures": 1
        })
    );
}

#[test]
fn settings_serialize_with_their_units_in_the_names() {
    assert_eq!(
        serde_json::to_value(
            TimeWindow::new(Duration::from_secs(10))
                .with_buckets(10)
                .with_min_calls(20)
                .with_failure_rate_percent(50)
        )
        .unwrap(),
        json!({"length_ms": 10_000, "buckets": 10, "min_calls": 20, "failure_rate_percent": 50})
    );
    assert_eq!(
        serde_json::to_value(
            CountWindow::new(100)
                .with_min_calls(20)
                .with_failure_rate_percent(50)
        )
        .unwrap(),
        json!({"size": 100, "min_calls": 20, "failure_rate_percent": 50})
    );
    assert_eq!(
        serde_json::to_value(
            SlowCalls::new(Duration::from_micros(1_500))
                .with_slow_rate_percent(80)
                .with_min_calls(20)
        )
        .unwrap(),
        json!({"threshold_us": 1_500, "slow_rate_percent": 80, "min_calls": 20})
    );
    let backoff = OpenBackoff::exponential(2, Duration::from_secs(300))
        .jitter(10)
        .seed(7);
    assert_eq!(
        serde_json::to_value(backoff).unwrap(),
        json!({"multiplier": 2, "max_ms": 300_000, "jitter_percent": 10, "seed": 7})
    );
}
