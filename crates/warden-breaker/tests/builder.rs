//! Builder validation: every invalid setting is a typed error naming the field
//! and the allowed range; valid extremes are accepted; zero values mean what
//! they mean in gobreaker.

use std::time::Duration;

use warden_breaker::{CircuitBreaker, ConfigError, MAX_DURATION_TICKS, MAX_REQUESTS};

fn max_duration() -> Duration {
    Duration::from_millis(MAX_DURATION_TICKS)
}

#[test]
fn zero_values_are_gobreakers_defaults() {
    let s = CircuitBreaker::builder("")
        .settings()
        .expect("defaults are valid");
    assert_eq!(s.name(), "");
    assert_eq!(s.max_requests(), 1);
    assert_eq!(s.interval(), Duration::ZERO);
    assert_eq!(s.timeout(), Duration::from_secs(60));
}

#[test]
fn extremes_are_accepted() {
    let s = CircuitBreaker::builder("x")
        .max_requests(MAX_REQUESTS)
        .interval(max_duration())
        .timeout(max_duration())
        .settings()
        .expect("the largest values are valid");
    assert_eq!(s.max_requests(), MAX_REQUESTS);
    assert_eq!(s.interval(), max_duration());
    assert_eq!(s.timeout_ticks(), MAX_DURATION_TICKS);
    CircuitBreaker::builder("x")
        .interval(Duration::from_millis(1))
        .timeout(Duration::from_millis(1))
        .build()
        .expect("1 ms is valid");
}

#[test]
fn max_requests_out_of_range() {
    for v in [MAX_REQUESTS + 1, u32::MAX] {
        let err = CircuitBreaker::builder("x")
            .max_requests(v)
            .build()
            .unwrap_err();
        assert_eq!(
            err,
            ConfigError::OutOfRange {
                field: "max_requests",
                value: v.to_string(),
                allowed: "0..=1048575 (0 means 1)"
            }
        );
        let msg = err.to_string();
        assert!(
            msg.contains("max_requests") && msg.contains(&v.to_string()) && msg.contains("1048575"),
            "{msg}"
        );
    }
}

#[test]
fn durations_beyond_the_representable_range() {
    for d in [
        max_duration() + Duration::from_millis(1),
        Duration::from_secs(u64::MAX),
    ] {
        let err = CircuitBreaker::builder("x").timeout(d).build().unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::OutOfRange {
                    field: "timeout",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("2^39 ms"), "{err}");
        let err = CircuitBreaker::builder("x")
            .interval(d)
            .build()
            .unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::OutOfRange {
                    field: "interval",
                    ..
                }
            ),
            "{err:?}"
        );
    }
}

#[test]
fn sub_millisecond_durations_are_rejected_not_rounded() {
    for d in [
        Duration::from_nanos(1),
        Duration::from_micros(999),
        Duration::from_micros(1500),
    ] {
        let err = CircuitBreaker::builder("x")
            .interval(d)
            .build()
            .unwrap_err();
        assert_eq!(
            err,
            ConfigError::NotWholeMillis {
                field: "interval",
                value: d
            }
        );
        let err = CircuitBreaker::builder("x").timeout(d).build().unwrap_err();
        assert_eq!(
            err,
            ConfigError::NotWholeMillis {
                field: "timeout",
                value: d
            }
        );
        assert!(err.to_string().contains("1 ms"), "{err}");
    }
}

#[test]
fn a_duration_too_large_is_out_of_range_not_a_fraction() {
    // Duration::MAX has a fractional millisecond too; its real problem is its size.
    for d in [
        Duration::MAX,
        Duration::from_secs(u64::MAX),
        Duration::from_millis(1 << 40),
    ] {
        for err in [
            CircuitBreaker::builder("x").timeout(d).build().unwrap_err(),
            CircuitBreaker::builder("x")
                .interval(d)
                .build()
                .unwrap_err(),
            CircuitBreaker::builder("x")
                .half_open_max_wait(d)
                .build()
                .unwrap_err(),
            CircuitBreaker::builder("x")
                .time_window(
                    warden_breaker::TimeWindow::new(d)
                        .with_buckets(10)
                        .with_min_calls(20)
                        .with_failure_rate_percent(50),
                )
                .build()
                .unwrap_err(),
        ] {
            assert!(
                matches!(err, ConfigError::OutOfRange { .. }),
                "{d:?}: {err:?}"
            );
            assert!(err.to_string().contains("2^39 ms"), "{err}");
        }
    }
}

#[test]
fn config_error_is_a_std_error() {
    fn takes(_: &dyn std::error::Error) {}
    takes(
        &CircuitBreaker::builder("x")
            .max_requests(u32::MAX)
            .build()
            .unwrap_err(),
    );
}
