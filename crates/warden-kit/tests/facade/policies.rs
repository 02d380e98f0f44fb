//! The core's policies through the facade: count and time windows, slow calls,
//! open backoff and the half-open bound, set in code and in TOML/JSON files,
//! their errors, and their behaviour through `Registry::execute` on a
//! `ManualClock`.

use std::time::Duration;

use warden_kit::breaker::{self, CountWindow, SlowCalls, TimeWindow};
use warden_kit::{
    BreakerConfig, ConfigError, ManualClock, NamedBreaker, Registry, RegistryConfig, State,
    TripRule,
};

const MS: Duration = Duration::from_millis(1);

fn registry_with(config: BreakerConfig) -> (Registry, ManualClock) {
    let clock = ManualClock::new();
    let registry = Registry::builder()
        .configure("db", config)
        .clock(clock.clone())
        .build()
        .unwrap();
    (registry, clock)
}

fn fail(db: &NamedBreaker) -> Option<State> {
    db.pipeline().execute(|| Err::<(), _>("down")).state()
}

fn succeed(db: &NamedBreaker) -> Option<State> {
    db.pipeline().execute(|| Ok::<_, &str>(())).state()
}

/// A call that takes `took` on the registry's clock and succeeds.
fn succeed_after(db: &NamedBreaker, clock: &ManualClock, took: Duration) -> Option<State> {
    db.pipeline()
        .execute(|| {
            clock.advance(took);
            Ok::<_, &str>(())
        })
        .state()
}

fn count_window() -> TripRule {
    TripRule::CountWindow {
        size: 100,
        min_calls: 20,
        failure_rate_percent: 50,
    }
}

fn time_window() -> TripRule {
    TripRule::TimeWindow {
        length: Duration::from_secs(10),
        buckets: 10,
        min_calls: 20,
        failure_rate_percent: 25,
    }
}

/// Every new setting, as code sets it; the files below must load to this.
fn all_policies(trip: TripRule) -> BreakerConfig {
    BreakerConfig::default()
        .with_timeout(Duration::from_secs(5))
        .with_trip(trip)
        .with_slow_calls(Duration::from_secs(2), 50, 20)
        .with_open_backoff(2, Duration::from_secs(300), 10)
        .with_half_open_max_wait(Duration::from_secs(30))
}

#[test]
fn code_settings_reach_the_core_builder() {
    let c = all_policies(count_window());
    let slow = c.slow_calls().unwrap();
    assert_eq!(
        (slow.threshold, slow.rate_percent, slow.min_calls),
        (Duration::from_secs(2), 50, 20)
    );
    let backoff = c.open_backoff().unwrap();
    assert_eq!(
        (backoff.multiplier, backoff.max, backoff.jitter_percent),
        (2, Duration::from_secs(300), 10)
    );
    assert_eq!(c.half_open_max_wait(), Duration::from_secs(30));
    c.validate("default").unwrap();

    let s = c.builder("db").settings().unwrap();
    assert_eq!(
        s.count_window(),
        Some(
            CountWindow::new(100)
                .with_min_calls(20)
                .with_failure_rate_percent(50)
        )
    );
    assert_eq!(s.time_window(), None);
    assert_eq!(
        s.slow_calls(),
        Some(
            SlowCalls::new(Duration::from_secs(2))
                .with_slow_rate_percent(50)
                .with_min_calls(20)
        )
    );
    assert_eq!(s.half_open_max_wait_ticks(), 30_000);
    // A trip from closed: the timeout; re-trips double it; each minus at most
    // 10 % jitter.
    for (retrips, full) in [(0, 5_000), (1, 10_000), (2, 20_000), (10, 300_000)] {
        for now in [0, 1, 12_345] {
            let t = s.open_ticks(retrips, now);
            assert!(t <= full && t >= full - full / 10, "{retrips} {now}: {t}");
        }
    }

    let s = all_policies(time_window())
        .builder("db")
        .settings()
        .unwrap();
    assert_eq!(
        s.time_window(),
        Some(
            TimeWindow::new(Duration::from_secs(10))
                .with_buckets(10)
                .with_min_calls(20)
                .with_failure_rate_percent(25)
        )
    );
    assert_eq!(s.count_window(), None);

    // Without the new settings nothing changes (gobreaker's defaults).
    let s = BreakerConfig::default().builder("db").settings().unwrap();
    assert_eq!(
        (
            s.slow_calls(),
            s.half_open_max_wait_ticks(),
            s.open_ticks(3, 0)
        ),
        (None, 0, 60_000)
    );
}

#[test]
fn rates_are_whole_percent_as_in_the_core() {
    for percent in [1, 7, 29, 50, 100] {
        let c = BreakerConfig::default().with_trip(TripRule::CountWindow {
            size: 10,
            min_calls: 1,
            failure_rate_percent: percent,
        });
        c.validate("default").unwrap();
        let w = c.builder("x").settings().unwrap().count_window().unwrap();
        assert_eq!(w.failure_rate_percent(), percent);
    }
    for percent in [0, 101, u32::MAX] {
        let c = BreakerConfig::default().with_trip(TripRule::CountWindow {
            size: 10,
            min_calls: 1,
            failure_rate_percent: percent,
        });
        let err = c.validate("default").unwrap_err();
        assert_eq!(
            err.path(),
            "default.trip.count_window.failure_rate_percent",
            "{percent}: {err:?}"
        );
        assert!(c.builder("x").build().is_err(), "{percent}");
        let rule = TripRule::FailureRate {
            failure_rate_percent: percent,
            min_requests: 1,
        };
        let err = BreakerConfig::default()
            .with_trip(rule)
            .validate("default")
            .unwrap_err();
        assert_eq!(err.path(), "default.trip.failure_rate.failure_rate_percent");
    }
    // Jitter may be 0; rates may not.
    BreakerConfig::default()
        .with_open_backoff(2, Duration::from_secs(60), 0)
        .validate("default")
        .unwrap();
    let err = BreakerConfig::default()
        .with_slow_calls(Duration::from_secs(1), 0, 1)
        .validate("default")
        .unwrap_err();
    assert_eq!(err.path(), "default.slow_calls.rate_percent");
    let err = BreakerConfig::default()
        .with_open_backoff(2, Duration::from_secs(60), 101)
        .validate("default")
        .unwrap_err();
    assert_eq!(err.path(), "default.open_backoff.jitter_percent");
    assert!(
        BreakerConfig::default()
            .with_open_backoff(2, Duration::from_secs(60), 101)
            .builder("x")
            .build()
            .is_err()
    );
    // The gobreaker-style rate is exact in integers: 1 failure of 3 is 33.3 %.
    let rule = TripRule::FailureRate {
        failure_rate_percent: 34,
        min_requests: 3,
    };
    let counts = |failures| warden_kit::Counts {
        requests: 3,
        total_failures: failures,
        ..Default::default()
    };
    assert!(!rule.should_trip(&counts(1)));
    assert!(rule.should_trip(&counts(2)));
}

const TOML: &str = r#"
[default]
timeout = "5s"
slow_calls = { threshold = "2s", rate_percent = 50, min_calls = 20 }
open_backoff = { multiplier = 2, max = "5m", jitter_percent = 10 }
half_open_max_wait = "30s"
trip = { count_window = { size = 100, min_calls = 20, failure_rate_percent = 50 } }

[breakers.timed]
trip = { time_window = { length = "10s", buckets = 10, min_calls = 20, failure_rate_percent = 25 } }

[breakers.ms]
preset = "default"
timeout = 5000
slow_calls = { threshold = 2000, rate_percent = 50, min_calls = 20 }
open_backoff = { multiplier = 2, max = 300000, jitter_percent = 10 }
half_open_max_wait = 30000
trip = { time_window = { length = 10000, buckets = 10, min_calls = 20, failure_rate_percent = 25 } }

[breakers.plain]
preset = "kafka"
open_backoff = { multiplier = 3, max = "10m" }
"#;

const JSON: &str = r#"{
  "default": {
    "timeout": "5s",
    "slow_calls": { "threshold": "2s", "rate_percent": 50, "min_calls": 20 },
    "open_backoff": { "multiplier": 2, "max": "5m", "jitter_percent": 10 },
    "half_open_max_wait": "30s",
    "trip": { "count_window": { "size": 100, "min_calls": 20, "failure_rate_percent": 50 } }
  },
  "breakers": {
    "timed": {
      "trip": { "time_window": { "length": "10s", "buckets": 10, "min_calls": 20, "failure_rate_percent": 25 } }
    },
    "ms": {
      "preset": "default",
      "timeout": 5000,
      "slow_calls": { "threshold": 2000, "rate_percent": 50, "min_calls": 20 },
      "open_backoff": { "multiplier": 2, "max": 300000, "jitter_percent": 10 },
      "half_open_max_wait": 30000,
      "trip": { "time_window": { "length": 10000, "buckets": 10, "min_calls": 20, "failure_rate_percent": 25 } }
    },
    "plain": { "preset": "kafka", "open_backoff": { "multiplier": 3, "max": "10m" } }
  }
}"#;

fn check_loaded(file: RegistryConfig) {
    let (default, named) = file.resolve().unwrap();
    assert_eq!(default, all_policies(count_window()));
    // A section inherits the default's policies and replaces the trip rule.
    assert_eq!(named["timed"], all_policies(time_window()));
    assert_eq!(named["ms"], all_policies(time_window()));
    assert_eq!(
        named["plain"],
        BreakerConfig::kafka().with_open_backoff(3, Duration::from_secs(600), 0)
    );
    // And the registry builds breakers with them.
    let registry = Registry::builder().config(file).build().unwrap();
    let s = registry
        .breaker("timed")
        .unwrap()
        .breaker()
        .settings()
        .clone();
    assert_eq!(
        s.time_window(),
        Some(
            TimeWindow::new(Duration::from_secs(10))
                .with_buckets(10)
                .with_min_calls(20)
                .with_failure_rate_percent(25)
        )
    );
    assert_eq!(
        s.slow_calls(),
        Some(
            SlowCalls::new(Duration::from_secs(2))
                .with_slow_rate_percent(50)
                .with_min_calls(20)
        )
    );
    assert_eq!(s.half_open_max_wait_ticks(), 30_000);
    let s = registry
        .breaker("other")
        .unwrap()
        .breaker()
        .settings()
        .clone();
    assert_eq!(
        s.count_window(),
        Some(
            CountWindow::new(100)
                .with_min_calls(20)
                .with_failure_rate_percent(50)
        )
    );
    let s = registry
        .breaker("plain")
        .unwrap()
        .breaker()
        .settings()
        .clone();
    assert_eq!(
        (s.open_ticks(0, 0), s.open_ticks(1, 0), s.open_ticks(9, 0)),
        (30_000, 90_000, 600_000)
    );
}

#[test]
fn toml_sets_every_policy() {
    check_loaded(RegistryConfig::from_toml_str(TOML).unwrap());
}

#[test]
fn json_sets_every_policy() {
    check_loaded(RegistryConfig::from_json_str(JSON).unwrap());
}

/// Invalid values, each as a TOML line in `[breakers.db]` and the same in JSON:
/// (TOML value line, JSON section body, path under `breakers.db`, message part).
const INVALID: &[(&str, &str, &str, &str)] = &[
    (
        "trip = { count_window = { size = 10, min_calls = 5, failure_rate = 0.5 } }",
        r#""trip": {"count_window": {"size": 10, "min_calls": 5, "failure_rate": 0.5}}"#,
        "trip",
        "`failure_rate` (a share such as 0.5) was replaced by `failure_rate_percent`, a whole percent (50)",
    ),
    (
        "trip = { count_window = { size = 10, min_calls = 5, failure_rate_percent = 0 } }",
        r#""trip": {"count_window": {"size": 10, "min_calls": 5, "failure_rate_percent": 0}}"#,
        "trip.count_window.failure_rate_percent",
        "outside the allowed range",
    ),
    (
        "trip = { count_window = { size = 0, min_calls = 1, failure_rate_percent = 50 } }",
        r#""trip": {"count_window": {"size": 0, "min_calls": 1, "failure_rate_percent": 50}}"#,
        "trip.count_window.size",
        "1..=1024",
    ),
    (
        "trip = { count_window = { size = 2000, min_calls = 1, failure_rate_percent = 50 } }",
        r#""trip": {"count_window": {"size": 2000, "min_calls": 1, "failure_rate_percent": 50}}"#,
        "trip.count_window.size",
        "1..=1024",
    ),
    (
        "trip = { count_window = { size = 10, min_calls = 11, failure_rate_percent = 50 } }",
        r#""trip": {"count_window": {"size": 10, "min_calls": 11, "failure_rate_percent": 50}}"#,
        "trip.count_window.min_calls",
        "1..=size",
    ),
    (
        "trip = { time_window = { length = \"1500us\", buckets = 1, min_calls = 1, failure_rate_percent = 50 } }",
        r#""trip": {"time_window": {"length": "1500us", "buckets": 1, "min_calls": 1, "failure_rate_percent": 50}}"#,
        "trip.time_window.length",
        "whole number of milliseconds",
    ),
    (
        "trip = { time_window = { length = 0, buckets = 1, min_calls = 1, failure_rate_percent = 50 } }",
        r#""trip": {"time_window": {"length": 0, "buckets": 1, "min_calls": 1, "failure_rate_percent": 50}}"#,
        "trip.time_window.length",
        "1 ms..=2^39 ms",
    ),
    (
        "trip = { time_window = { length = \"1s\", buckets = 3, min_calls = 1, failure_rate_percent = 50 } }",
        r#""trip": {"time_window": {"length": "1s", "buckets": 3, "min_calls": 1, "failure_rate_percent": 50}}"#,
        "trip.time_window.buckets",
        "whole milliseconds",
    ),
    (
        "trip = { time_window = { length = \"10s\", buckets = 10, min_calls = 0, failure_rate_percent = 50 } }",
        r#""trip": {"time_window": {"length": "10s", "buckets": 10, "min_calls": 0, "failure_rate_percent": 50}}"#,
        "trip.time_window.min_calls",
        "outside the allowed range",
    ),
    (
        "trip = { time_window = { length = \"10s\", buckets = 10, min_calls = 5, failure_rate_percent = 101 } }",
        r#""trip": {"time_window": {"length": "10s", "buckets": 10, "min_calls": 5, "failure_rate_percent": 101}}"#,
        "trip.time_window.failure_rate_percent",
        "outside the allowed range",
    ),
    (
        "slow_calls = { threshold = \"2s\", rate = 0.5, min_calls = 5 }",
        r#""slow_calls": {"threshold": "2s", "rate": 0.5, "min_calls": 5}"#,
        "slow_calls",
        "`rate` (a share such as 0.5) was replaced by `rate_percent`, a whole percent (50)",
    ),
    (
        "slow_calls = { threshold = \"2s\", rate_percent = 150, min_calls = 5 }",
        r#""slow_calls": {"threshold": "2s", "rate_percent": 150, "min_calls": 5}"#,
        "slow_calls.rate_percent",
        "1..=100 (whole percent)",
    ),
    (
        "slow_calls = { threshold = 0, rate_percent = 50, min_calls = 5 }",
        r#""slow_calls": {"threshold": 0, "rate_percent": 50, "min_calls": 5}"#,
        "slow_calls.threshold",
        "1 µs..=2^39 µs",
    ),
    (
        "slow_calls = { threshold = \"2s\", rate_percent = 50, min_calls = 0 }",
        r#""slow_calls": {"threshold": "2s", "rate_percent": 50, "min_calls": 0}"#,
        "slow_calls.min_calls",
        "outside the allowed range",
    ),
    (
        "open_backoff = { multiplier = 0, max = \"5m\" }",
        r#""open_backoff": {"multiplier": 0, "max": "5m"}"#,
        "open_backoff.multiplier",
        "outside the allowed range",
    ),
    (
        "open_backoff = { multiplier = 2, max = \"30s\" }",
        r#""open_backoff": {"multiplier": 2, "max": "30s"}"#,
        "open_backoff.max",
        "at least the timeout",
    ),
    (
        "open_backoff = { multiplier = 2, max = \"90500us\" }",
        r#""open_backoff": {"multiplier": 2, "max": "90500us"}"#,
        "open_backoff.max",
        "whole number of milliseconds",
    ),
    (
        "open_backoff = { multiplier = 2, max = \"5m\", jitter = 0.1 }",
        r#""open_backoff": {"multiplier": 2, "max": "5m", "jitter": 0.1}"#,
        "open_backoff",
        "`jitter` (a share such as 0.1) was replaced by `jitter_percent`, a whole percent (10)",
    ),
    (
        "open_backoff = { multiplier = 2, max = \"5m\", jitter_percent = 101 }",
        r#""open_backoff": {"multiplier": 2, "max": "5m", "jitter_percent": 101}"#,
        "open_backoff.jitter_percent",
        "0..=100 (whole percent)",
    ),
    (
        "trip = { failure_rate = { ratio = 0.5, min_requests = 10 } }",
        r#""trip": {"failure_rate": {"ratio": 0.5, "min_requests": 10}}"#,
        "trip",
        "`ratio` (a share such as 0.5) was replaced by `failure_rate_percent`, a whole percent (50)",
    ),
    (
        "trip = { adaptive = { window = \"10s\", k = 0.5 } }",
        r#""trip": {"adaptive": {"window": "10s", "k": 0.5}}"#,
        "trip.adaptive.k",
        ">= 1",
    ),
    (
        "trip = { adaptive = { window = \"1500us\" } }",
        r#""trip": {"adaptive": {"window": "1500us"}}"#,
        "trip.adaptive.window",
        "whole number of milliseconds",
    ),
    (
        "trip = { adaptive = { window = \"1s\", buckets = 3 } }",
        r#""trip": {"adaptive": {"window": "1s", "buckets": 3}}"#,
        "trip.adaptive.buckets",
        "whole milliseconds",
    ),
    (
        "trip = { adaptive = { window = \"1s\", max_reject_percent = 101 } }",
        r#""trip": {"adaptive": {"window": "1s", "max_reject_percent": 101}}"#,
        "trip.adaptive.max_reject_percent",
        "0..=100",
    ),
    (
        "half_open_max_wait = \"1500us\"",
        r#""half_open_max_wait": "1500us""#,
        "half_open_max_wait",
        "whole number of milliseconds",
    ),
];

#[test]
fn invalid_policy_values_name_the_field_path() {
    for (toml_line, json_body, field, message) in INVALID {
        let path = format!("breakers.db.{field}");
        let toml_text = format!("[breakers.db]\n{toml_line}\n");
        let json_text = format!(r#"{{"breakers": {{"db": {{{json_body}}}}}}}"#);
        for err in [
            RegistryConfig::from_toml_str(&toml_text).unwrap_err(),
            RegistryConfig::from_json_str(&json_text).unwrap_err(),
        ] {
            // An old share field is a parse error; a value out of range is not.
            let old_form = message.contains("was replaced by");
            assert!(
                matches!(
                    (&err, old_form),
                    (
                        ConfigError::OutOfRange { .. } | ConfigError::Breaker { .. },
                        false
                    ) | (ConfigError::Parse { .. }, true)
                ),
                "{toml_line}: {err:?}"
            );
            assert_eq!(err.path(), path, "{toml_line}: {err}");
            let shown = err.to_string();
            assert!(shown.contains(&path), "{toml_line}: {shown}");
            assert!(shown.contains(message), "{toml_line}: {shown}");
        }
    }
}

#[test]
fn core_errors_keep_the_core_error_and_print_it_once() {
    let err = RegistryConfig::from_toml_str(
        "[breakers.db]\ntrip = { time_window = { length = \"1s\", buckets = 3, min_calls = 1, failure_rate_percent = 50 } }\n",
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::Breaker {
                ref scope,
                error: breaker::ConfigError::OutOfRange { field: "time_window.buckets", .. },
            } if scope == "breakers.db"
        ),
        "{err:?}"
    );
    // The message includes the core's, so the chain ends here: printing the
    // chain shows it once.
    assert!(std::error::Error::source(&err).is_none());
    assert_eq!(
        err.to_string()
            .matches("invalid time_window.buckets")
            .count(),
        1
    );
    assert!(
        err.to_string()
            .starts_with("breakers.db.trip.time_window.buckets: invalid time_window.buckets: "),
        "{err}"
    );
    // The same from code, through the registry builder and `configure`.
    let bad = BreakerConfig::default().with_slow_calls(Duration::ZERO, 50, 1);
    let err = Registry::builder()
        .configure("db", bad.clone())
        .build()
        .unwrap_err();
    assert_eq!(err.path(), "breakers.db.slow_calls.threshold");
    let registry = Registry::builder().build().unwrap();
    match registry.configure("db", bad) {
        Err(warden_kit::RegistryError::Config(e)) => {
            assert_eq!(e.path(), "breakers.db.slow_calls.threshold");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn malformed_policy_sections_are_parse_errors_with_their_path() {
    let cases = [
        (
            "[breakers.db]\nslow_calls = { threshold = \"2s\", rate_percent = 50, min_calls = 5, speed = 1 }\n",
            "breakers.db.slow_calls.speed",
            "unknown field",
        ),
        (
            "[breakers.db]\nslow_calls = { threshold = \"soon\", rate_percent = 50, min_calls = 5 }\n",
            "breakers.db.slow_calls.threshold",
            "invalid duration",
        ),
        (
            "[breakers.db]\nslow_calls = { threshold = \"2s\", rate_percent = 50 }\n",
            "breakers.db.slow_calls",
            "missing field `min_calls`",
        ),
        (
            "[breakers.db]\nopen_backoff = { multiplier = -2, max = \"5m\" }\n",
            "breakers.db.open_backoff.multiplier",
            "invalid value",
        ),
        (
            "[breakers.db]\ntrip = { time_window = { length = \"10s\", buckets = 10, min_calls = 5, failure_rate_percent = 50, extra = 1 } }\n",
            "breakers.db.trip.time_window.extra",
            "unknown field `extra`",
        ),
        (
            "[breakers.db]\ntrip = { time_window = { length = [1], buckets = 10, min_calls = 5, failure_rate_percent = 50 } }\n",
            "breakers.db.trip.time_window.length",
            "invalid type",
        ),
        (
            "[breakers.db]\nhalf_open_max_wait = \"later\"\n",
            "breakers.db.half_open_max_wait",
            "invalid duration",
        ),
        // Two rules in one section: the message says so (it said "wanted exactly 1 element").
        (
            "[breakers.db]\ntrip = { consecutive_failures = 5, count_window = { size = 10, min_calls = 5, failure_rate_percent = 50 } }\n",
            "breakers.db.trip",
            "names exactly one rule; this one names `consecutive_failures` and `count_window`",
        ),
        (
            "[breakers.db]\ntrip = {}\n",
            "breakers.db.trip",
            "it names none",
        ),
        (
            "[breakers.db]\ntrip = { sliding = 5 }\n",
            "breakers.db.trip",
            "unknown variant `sliding`, expected one of",
        ),
    ];
    for (text, path, message) in cases {
        let err = RegistryConfig::from_toml_str(text).unwrap_err();
        assert!(
            matches!(err, ConfigError::Parse { format: "toml", .. }),
            "{text}: {err:?}"
        );
        assert_eq!(err.path(), path, "{text}: {err}");
        assert!(err.to_string().contains(message), "{text}: {err}");
    }
    let err = RegistryConfig::from_json_str(
        r#"{"breakers": {"db": {"open_backoff": {"multiplier": 2, "max": "5m", "jitter_percent": "lots"}}}}"#,
    )
    .unwrap_err();
    assert_eq!(err.path(), "breakers.db.open_backoff.jitter_percent");
    assert!(err.to_string().contains("invalid type"), "{err}");
    let err = RegistryConfig::from_json_str(
        r#"{"breakers": {"db": {"trip": {"consecutive_failures": 5, "failure_rate": {"failure_rate_percent": 50, "min_requests": 10}}}}}"#,
    )
    .unwrap_err();
    assert_eq!(err.path(), "breakers.db.trip");
    assert!(err.to_string().contains("names exactly one rule"), "{err}");
}

#[test]
fn count_window_trips_at_its_rate_over_the_last_calls() {
    let (registry, _clock) =
        registry_with(BreakerConfig::default().with_trip(TripRule::CountWindow {
            size: 4,
            min_calls: 4,
            failure_rate_percent: 75,
        }));
    let db = registry.breaker("db").unwrap();
    for _ in 0..3 {
        // 100 % failed, but under the minimum of 4 calls; and the default
        // rule (6 consecutive failures) is replaced, not added.
        assert_eq!(fail(&db), Some(State::Closed));
    }
    for _ in 0..4 {
        assert_eq!(succeed(&db), Some(State::Closed));
    }
    // The three failures have left the window: S S S F is 25 %.
    assert_eq!(fail(&db), Some(State::Closed));
    assert_eq!(fail(&db), Some(State::Closed)); // S S F F: 50 %
    // S F F F: 75 %, although the generation as a whole is 6 of 10 (60 %).
    assert_eq!(fail(&db), Some(State::Open));

    // The window replaces the default rule (more than 5 consecutive failures).
    let (registry, _clock) =
        registry_with(BreakerConfig::default().with_trip(TripRule::CountWindow {
            size: 10,
            min_calls: 10,
            failure_rate_percent: 50,
        }));
    let db = registry.breaker("db").unwrap();
    for _ in 0..9 {
        assert_eq!(fail(&db), Some(State::Closed));
    }
    assert_eq!(fail(&db), Some(State::Open));
}

#[test]
fn time_window_trips_at_its_rate_over_the_last_span() {
    let config = BreakerConfig::default().with_trip(TripRule::TimeWindow {
        length: Duration::from_secs(10),
        buckets: 10,
        min_calls: 4,
        failure_rate_percent: 75,
    });
    // Two failures at 0 s are still in the window 9.999 s later (bucket 9
    // reaches back to bucket 0) ...
    let (registry, clock) = registry_with(config.clone());
    let db = registry.breaker("db").unwrap();
    fail(&db);
    fail(&db);
    clock.advance(Duration::from_millis(9_999));
    assert_eq!(succeed(&db), Some(State::Closed));
    assert_eq!(fail(&db), Some(State::Open), "3 of 4 failed: 75 %");

    // ... and gone 10 s later (bucket 10 reaches back to bucket 1).
    let (registry, clock) = registry_with(config);
    let db = registry.breaker("db").unwrap();
    fail(&db);
    fail(&db);
    clock.advance(Duration::from_secs(10));
    assert_eq!(succeed(&db), Some(State::Closed));
    assert_eq!(fail(&db), Some(State::Closed), "2 calls: under the minimum");
    assert_eq!(fail(&db), Some(State::Closed), "2 of 3: under 75 %");
    assert_eq!(fail(&db), Some(State::Open), "3 of 4");
}

#[test]
fn slow_calls_trip_though_every_call_succeeds() {
    let (registry, clock) =
        registry_with(BreakerConfig::default().with_slow_calls(Duration::from_secs(2), 50, 4));
    let db = registry.breaker("db").unwrap();
    let fast = Duration::from_secs(2) - MS;
    let slow = Duration::from_secs(2);
    assert_eq!(succeed_after(&db, &clock, fast), Some(State::Closed));
    assert_eq!(succeed_after(&db, &clock, fast), Some(State::Closed));
    assert_eq!(
        succeed_after(&db, &clock, slow),
        Some(State::Closed),
        "1 slow of 3: under the minimum"
    );
    let ex = db.pipeline().execute(|| {
        clock.advance(slow);
        Ok::<_, &str>(())
    });
    assert!(ex.succeeded());
    assert_eq!(ex.state(), Some(State::Open), "2 slow of 4: 50 %");

    // Without the setting, slow calls are just calls.
    let (registry, clock) = registry_with(BreakerConfig::default());
    let db = registry.breaker("db").unwrap();
    for _ in 0..10 {
        assert_eq!(
            succeed_after(&db, &clock, Duration::from_secs(60)),
            Some(State::Closed)
        );
    }
}

#[test]
fn slow_calls_share_the_count_window() {
    // Failures alone never trip this window (100 % of 4 calls, all succeed).
    let config = BreakerConfig::default()
        .with_trip(TripRule::CountWindow {
            size: 4,
            min_calls: 4,
            failure_rate_percent: 100,
        })
        .with_slow_calls(Duration::from_secs(1), 50, 4);
    let (registry, clock) = registry_with(config);
    let db = registry.breaker("db").unwrap();
    let slow = Duration::from_secs(1);
    assert_eq!(succeed_after(&db, &clock, slow), Some(State::Closed));
    for _ in 0..4 {
        assert_eq!(succeed(&db), Some(State::Closed));
    }
    // The first slow call has left the window: f f f S is 25 %.
    assert_eq!(succeed_after(&db, &clock, slow), Some(State::Closed));
    // f f S S: 50 % over the window, though 3 of the generation's 7 (43 %).
    assert_eq!(succeed_after(&db, &clock, slow), Some(State::Open));
}

/// Milliseconds until the open breaker turns half-open, found by stepping the clock.
fn open_for(db: &NamedBreaker, clock: &ManualClock) -> u64 {
    assert_eq!(db.state(), State::Open);
    for ms in 1..=1_000_000 {
        clock.advance(MS);
        if db.state() != State::Open {
            assert_eq!(db.state(), State::HalfOpen);
            return ms - 1; // half-open at the first tick after opened + duration
        }
    }
    panic!("still open after 1000 s");
}

#[test]
fn open_backoff_doubles_the_open_time_up_to_its_cap() {
    let config = BreakerConfig::default()
        .with_trip(TripRule::ConsecutiveFailures(1))
        .with_timeout(Duration::from_secs(1))
        .with_open_backoff(2, Duration::from_secs(5), 0);
    let (registry, clock) = registry_with(config);
    let db = registry.breaker("db").unwrap();
    assert_eq!(fail(&db), Some(State::Open));
    assert_eq!(
        open_for(&db, &clock),
        1_000,
        "a trip from closed: the timeout"
    );
    for expected in [2_000, 4_000, 5_000, 5_000] {
        assert_eq!(fail(&db), Some(State::Open), "the probe fails: a re-trip");
        assert_eq!(open_for(&db, &clock), expected);
    }
    // A successful probe closes the breaker and resets the backoff.
    assert_eq!(succeed(&db), Some(State::Closed));
    assert_eq!(fail(&db), Some(State::Open));
    assert_eq!(open_for(&db, &clock), 1_000);

    // Without it, every open period is the timeout.
    let (registry, clock) = registry_with(
        BreakerConfig::default()
            .with_trip(TripRule::ConsecutiveFailures(1))
            .with_timeout(Duration::from_secs(1)),
    );
    let db = registry.breaker("db").unwrap();
    fail(&db);
    for _ in 0..3 {
        assert_eq!(open_for(&db, &clock), 1_000);
        fail(&db);
    }
}

#[test]
fn open_backoff_jitter_only_shortens() {
    let config = BreakerConfig::default()
        .with_trip(TripRule::ConsecutiveFailures(1))
        .with_timeout(Duration::from_secs(1))
        .with_open_backoff(2, Duration::from_secs(8), 50);
    let (registry, clock) = registry_with(config);
    let db = registry.breaker("db").unwrap();
    fail(&db);
    let mut shortened = false;
    for full in [1_000, 2_000, 4_000, 8_000, 8_000, 8_000, 8_000] {
        let t = open_for(&db, &clock);
        assert!(t <= full && t >= full / 2, "{t} for {full}");
        shortened |= t < full;
        fail(&db);
    }
    assert!(shortened, "50 % jitter never drew a cut in 7 open periods");
}

#[test]
fn half_open_max_wait_reopens_a_breaker_whose_probe_never_reports() {
    let base = BreakerConfig::default()
        .with_trip(TripRule::ConsecutiveFailures(1))
        .with_timeout(Duration::from_secs(1));
    let (registry, clock) =
        registry_with(base.clone().with_half_open_max_wait(Duration::from_secs(5)));
    let db = registry.breaker("db").unwrap();
    fail(&db);
    clock.advance(Duration::from_millis(1_001));
    let hung = db.breaker().try_acquire().unwrap(); // a probe that never reports
    clock.advance(Duration::from_secs(5));
    assert_eq!(db.state(), State::HalfOpen, "at the bound: still half-open");
    clock.advance(MS);
    assert_eq!(db.state(), State::Open, "after the bound: re-opened");
    drop(hung);
    assert_eq!(open_for(&db, &clock), 1_000);
    assert_eq!(succeed(&db), Some(State::Closed));

    // Without it (gobreaker's behaviour) the breaker waits for the probe.
    let (registry, clock) = registry_with(base);
    let db = registry.breaker("db").unwrap();
    fail(&db);
    clock.advance(Duration::from_millis(1_001));
    let hung = db.breaker().try_acquire().unwrap();
    clock.advance(Duration::from_secs(3600));
    assert_eq!(db.state(), State::HalfOpen);
    let ex = db.pipeline().execute(|| Ok::<_, &str>(()));
    assert!(ex.is_rejected(), "the one probe slot is held");
    drop(hung);
}

#[test]
fn a_file_policy_reaches_the_breaker() {
    let file = RegistryConfig::from_toml_str(
        r#"
        [breakers.db]
        slow_calls = { threshold = "500ms", rate_percent = 100, min_calls = 2 }
        "#,
    )
    .unwrap();
    let clock = ManualClock::new();
    let registry = Registry::builder()
        .config(file)
        .clock(clock.clone())
        .build()
        .unwrap();
    let db = registry.breaker("db").unwrap();
    let slow = Duration::from_millis(500);
    assert_eq!(succeed_after(&db, &clock, slow), Some(State::Closed));
    assert_eq!(succeed_after(&db, &clock, slow), Some(State::Open));
    // Other names use the default section: no slow-call rule.
    let other = registry.breaker("other").unwrap();
    for _ in 0..5 {
        assert_eq!(succeed_after(&other, &clock, slow), Some(State::Closed));
    }
}

#[test]
fn the_adaptive_throttle_from_files_sheds_load_and_never_opens() {
    let toml = r#"
        [breakers.api]
        trip = { adaptive = { window = "30s", k = 2.0 } }

        [breakers.tuned]
        trip = { adaptive = { window = 10000, buckets = 5, k = 1.5, min_requests = 50, max_reject_percent = 90 } }
    "#;
    let json = r#"{ "breakers": {
        "api": { "trip": { "adaptive": { "window": "30s", "k": 2.0 } } },
        "tuned": { "trip": { "adaptive": { "window": 10000, "buckets": 5, "k": 1.5, "min_requests": 50, "max_reject_percent": 90 } } }
    } }"#;
    for file in [
        RegistryConfig::from_toml_str(toml).unwrap(),
        RegistryConfig::from_json_str(json).unwrap(),
    ] {
        let (_, named) = file.clone().resolve().unwrap();
        let rule = |name: &str| named[name].trip().clone();
        assert_eq!(
            rule("api"),
            TripRule::Adaptive {
                window: Duration::from_secs(30),
                buckets: 10,
                k: 2.0,
                min_requests: 10,
                max_reject_percent: 100,
            },
            "the defaults fill what the file leaves out"
        );
        assert_eq!(
            rule("tuned"),
            TripRule::Adaptive {
                window: Duration::from_secs(10),
                buckets: 5,
                k: 1.5,
                min_requests: 50,
                max_reject_percent: 90,
            }
        );
        let clock = ManualClock::new();
        let registry = Registry::builder()
            .config(file)
            .clock(clock.clone())
            .build()
            .unwrap();
        breaker::AdaptiveThrottle::set_thread_draws(1);
        let api = registry.pipeline("tuned").unwrap();
        let mut shed = 0;
        for _ in 0..2000 {
            let ex = api.execute(|| Err::<(), _>("503"));
            assert_eq!(ex.state(), Some(State::Closed));
            shed += usize::from(ex.is_rejected());
        }
        // 49 requests go through before the minimum, then about 90 % are shed.
        assert!((1650..1850).contains(&shed), "{shed}");
    }
}

#[test]
fn adaptive_throttle_conflicts_and_unknown_fields_are_errors() {
    // With slow calls: the core refuses the combination, naming the rule.
    let toml = "[breakers.db]\ntrip = { adaptive = { window = \"1s\" } }\nslow_calls = { threshold = \"2s\", rate_percent = 50, min_calls = 20 }\n";
    let err = RegistryConfig::from_toml_str(toml).unwrap_err();
    assert_eq!(err.path(), "breakers.db.trip.adaptive", "{err}");
    assert!(err.to_string().contains("slow_calls"), "{err}");
    // An unknown field is an error, not ignored; the window is required.
    for line in [
        "trip = { adaptive = { window = \"1s\", kk = 2 } }",
        "trip = { adaptive = { k = 2 } }",
    ] {
        assert!(
            RegistryConfig::from_toml_str(&format!("[breakers.db]\n{line}\n")).is_err(),
            "{line}"
        );
    }
}
