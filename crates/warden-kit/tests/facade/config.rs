//! Loading configuration from TOML and JSON; every error names its field.

use std::time::Duration;

use warden_kit::{BreakerConfig, ConfigError, Registry, RegistryConfig, TripRule};

const TOML: &str = r#"
[default]
timeout = "20s"
max_requests = 2

[breakers.kafka]
preset = "kafka"
call_timeout = 2000

[breakers.search]
trip = { failure_rate = { failure_rate_percent = 25, min_requests = 50 } }
interval = "1m 30s"
max_concurrent = 64

[breakers.sms]
preset = "notification"
max_concurrent = 0
call_timeout = "0s"
"#;

const JSON: &str = r#"{
  "default": { "timeout": 20000, "max_requests": 2 },
  "breakers": {
    "kafka": { "preset": "kafka", "call_timeout": "2s" },
    "search": {
      "trip": { "failure_rate": { "failure_rate_percent": 25, "min_requests": 50 } },
      "interval": 90000,
      "max_concurrent": 64
    },
    "sms": { "preset": "notification", "max_concurrent": 0, "call_timeout": 0 }
  }
}"#;

#[test]
fn toml_and_json_describe_the_same_registry() {
    let from_toml = RegistryConfig::from_toml_str(TOML)
        .unwrap()
        .resolve()
        .unwrap();
    let from_json = RegistryConfig::from_json_str(JSON)
        .unwrap()
        .resolve()
        .unwrap();
    assert_eq!(from_toml, from_json);

    let (default, named) = from_toml;
    assert_eq!(
        default,
        BreakerConfig::default()
            .with_timeout(Duration::from_secs(20))
            .with_max_requests(2)
    );
    assert_eq!(
        named["kafka"],
        BreakerConfig::kafka().with_call_timeout(Some(Duration::from_secs(2)))
    );
    // No preset: starts from [default].
    assert_eq!(
        named["search"],
        default
            .clone()
            .with_trip(TripRule::FailureRate {
                failure_rate_percent: 25,
                min_requests: 50
            })
            .with_interval(Duration::from_secs(90))
            .with_max_concurrent(64)
    );
    // Zero turns the preset's bulkhead and timeout off.
    assert_eq!(
        named["sms"],
        BreakerConfig::notification()
            .with_max_concurrent(0)
            .with_call_timeout(None)
    );

    let registry = Registry::builder()
        .config(RegistryConfig::from_toml_str(TOML).unwrap())
        .build()
        .unwrap();
    assert_eq!(registry.breaker("search").unwrap().in_flight(), Some(0));
    assert_eq!(
        registry.breaker("anything").unwrap().config().timeout(),
        Duration::from_secs(20)
    );
}

fn toml_err(text: &str) -> ConfigError {
    RegistryConfig::from_toml_str(text).unwrap_err()
}

fn json_err(text: &str) -> ConfigError {
    RegistryConfig::from_json_str(text).unwrap_err()
}

#[test]
fn invalid_toml_names_the_field() {
    let cases = [
        (
            "[breakers.kafka]\ntimout = \"1s\"\n",
            "breakers.kafka.timout",
            "unknown field",
        ),
        (
            "[breakers.kafka]\nmax_requests = \"two\"\n",
            "breakers.kafka.max_requests",
            "invalid type",
        ),
        (
            "[breakers.kafka]\nmax_requests = -1\n",
            "breakers.kafka.max_requests",
            "invalid value",
        ),
        (
            "[breakers.kafka]\ntimeout = \"soon\"\n",
            "breakers.kafka.timeout",
            "invalid duration \"soon\"",
        ),
        (
            "[breakers.kafka]\ntimeout = -5\n",
            "breakers.kafka.timeout",
            "invalid value",
        ),
        (
            "[breakers.kafka]\ntimeout = 1.5\n",
            "breakers.kafka.timeout",
            "invalid type",
        ),
        (
            "[breakers.kafka]\npreset = \"redis\"\n",
            "breakers.kafka.preset",
            "unknown variant",
        ),
        (
            "[breakers.kafka]\ntrip = { sometimes = 3 }\n",
            "breakers.kafka.trip",
            "unknown variant",
        ),
        (
            "[default]\ncall_timeout = [1]\n",
            "default.call_timeout",
            "invalid type",
        ),
        ("[extra]\n", "extra", "unknown field"),
    ];
    for (text, path, message) in cases {
        let err = toml_err(text);
        assert!(
            matches!(err, ConfigError::Parse { format: "toml", .. }),
            "{text}: {err:?}"
        );
        assert_eq!(err.path(), path, "{text}: {err}");
        assert!(err.to_string().contains(message), "{text}: {err}");
        assert!(
            err.to_string()
                .starts_with(&format!("toml config: {path}: ")),
            "{err}"
        );
    }
}

#[test]
fn invalid_values_name_the_field() {
    let cases = [
        (
            "[breakers.db]\ntimeout = \"1500us\"\n",
            "breakers.db.timeout",
            "whole number of milliseconds",
        ),
        (
            "[breakers.db]\ninterval = \"1ns\"\n",
            "breakers.db.interval",
            "whole number of milliseconds",
        ),
        (
            "[breakers.db]\nmax_requests = 2000000\n",
            "breakers.db.max_requests",
            "outside the allowed range",
        ),
        (
            "[breakers.db]\ntrip = { consecutive_failures = 0 }\n",
            "breakers.db.trip.consecutive_failures",
            "outside the allowed range",
        ),
        (
            "[breakers.db]\ntrip = { failure_rate = { failure_rate_percent = 101, min_requests = 5 } }\n",
            "breakers.db.trip.failure_rate.failure_rate_percent",
            "101",
        ),
        (
            "[breakers.db]\ntrip = { failure_rate = { failure_rate_percent = 0, min_requests = 5 } }\n",
            "breakers.db.trip.failure_rate.failure_rate_percent",
            "1..=100 (whole percent)",
        ),
        (
            "[breakers.db]\ntrip = { failure_rate = { failure_rate_percent = 50, min_requests = 0 } }\n",
            "breakers.db.trip.failure_rate.min_requests",
            "outside",
        ),
        (
            "[default]\ntimeout = \"0.5ms\"\n",
            "default.timeout",
            "whole number",
        ),
    ];
    for (text, path, message) in cases {
        let err = toml_err(text);
        assert!(!matches!(err, ConfigError::Parse { .. }), "{text}: {err:?}");
        assert_eq!(err.path(), path, "{text}: {err}");
        assert!(err.to_string().contains(message), "{text}: {err}");
    }
    // The breaker's own error is the source.
    let err = toml_err("[breakers.db]\ntimeout = \"1500us\"\n");
    assert!(matches!(
        err,
        ConfigError::Breaker { ref scope, error: warden_kit::breaker::ConfigError::NotWholeMillis { field: "timeout", .. } } if scope == "breakers.db"
    ));
    assert!(
        std::error::Error::source(&err).is_none(),
        "the message already includes the core's"
    );
}

#[test]
fn toml_syntax_errors_say_where() {
    let err = toml_err("[breakers.db]\ntimeout = \n");
    match &err {
        ConfigError::Parse {
            format,
            path,
            message,
        } => {
            assert_eq!((*format, path.as_str()), ("toml", ""));
            assert!(message.contains("line 2"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.path(), "");
}

#[test]
fn invalid_json_names_the_field() {
    let cases = [
        (
            r#"{"breakers": {"db": {"max_requests": "x"}}}"#,
            "breakers.db.max_requests",
            "invalid type",
        ),
        (
            r#"{"breakers": {"db": {"timeout": "forever"}}}"#,
            "breakers.db.timeout",
            "invalid duration",
        ),
        (
            r#"{"breakers": {"db": {"timeout": -1}}}"#,
            "breakers.db.timeout",
            "invalid value",
        ),
        (
            r#"{"breakers": {"db": {"bulkhead": 3}}}"#,
            "breakers.db.bulkhead",
            "unknown field",
        ),
        (
            r#"{"breakers": {"db": {"trip": {"consecutive_failures": -2}}}}"#,
            "breakers.db.trip.consecutive_failures",
            "invalid value",
        ),
        (
            r#"{"default": {"preset": "Kafka"}}"#,
            "default.preset",
            "unknown variant",
        ),
        (r#"{"breakers": []}"#, "breakers", "invalid type"),
    ];
    for (text, path, message) in cases {
        let err = json_err(text);
        assert!(
            matches!(err, ConfigError::Parse { format: "json", .. }),
            "{text}: {err:?}"
        );
        assert_eq!(err.path(), path, "{text}: {err}");
        assert!(err.to_string().contains(message), "{text}: {err}");
    }
    let err = json_err(r#"{"breakers": {"db": {"max_concurrent": 1}}} trailing"#);
    assert!(err.to_string().contains("trailing"), "{err}");
    // The old share form is refused with the field to write instead.
    let err = json_err(
        r#"{"breakers": {"db": {"trip": {"failure_rate": {"ratio": 0.5, "min_requests": 1}}}}}"#,
    );
    assert_eq!(err.path(), "breakers.db.trip");
    assert!(
        err.to_string()
            .contains("`ratio` (a share such as 0.5) was replaced by `failure_rate_percent`"),
        "{err}"
    );
}

#[test]
fn the_builder_validates_programmatic_configs() {
    let err = Registry::builder()
        .default_config(BreakerConfig::default().with_trip(TripRule::ConsecutiveFailures(0)))
        .build()
        .unwrap_err();
    assert_eq!(err.path(), "default.trip.consecutive_failures");
    let err = Registry::builder()
        .configure("a", BreakerConfig::default())
        .configure(
            "b",
            BreakerConfig::default().with_trip(TripRule::FailureRate {
                failure_rate_percent: 0,
                min_requests: 1,
            }),
        )
        .build()
        .unwrap_err();
    assert_eq!(
        err.path(),
        "breakers.b.trip.failure_rate.failure_rate_percent"
    );
    let err = Registry::builder()
        .configure(
            "c",
            BreakerConfig::default().with_call_timeout(Some(Duration::ZERO)),
        )
        .build()
        .unwrap_err();
    assert_eq!(err.path(), "breakers.c.call_timeout");
}

/// A huge value, key or name never makes a huge error message.
#[test]
fn errors_quote_a_bounded_prefix_of_the_input() {
    let huge = "x".repeat(10 << 20); // 10 MB
    let toml = format!("[breakers.db]\ntimeout = \"{huge}\"\n");
    let json = format!(r#"{{"breakers": {{"db": {{"timeout": "{huge}"}}}}}}"#);
    let key = format!("[breakers.{huge}]\ntimeout = \"soon\"\n");
    let range = format!("[breakers.{huge}]\ntrip = {{ consecutive_failures = 0 }}\n");
    for err in [
        RegistryConfig::from_toml_str(&toml).unwrap_err(),
        RegistryConfig::from_json_str(&json).unwrap_err(),
        RegistryConfig::from_toml_str(&key).unwrap_err(),
        RegistryConfig::from_toml_str(&range).unwrap_err(),
        RegistryConfig::from_json_str(&format!("{{\"{huge}\": 1}}")).unwrap_err(),
    ] {
        let message = err.to_string();
        assert!(
            message.len() < 2048,
            "{} bytes: {}",
            message.len(),
            &message[..200]
        );
        assert!(err.path().len() < 512, "{}", err.path().len());
        assert!(message.contains("xxxx"), "{message}"); // a prefix is still quoted
    }
    let registry = Registry::builder()
        .max_name_len(usize::MAX)
        .build()
        .unwrap();
    let err = registry
        .configure(
            &huge,
            BreakerConfig::default().with_trip(TripRule::ConsecutiveFailures(0)),
        )
        .unwrap_err();
    assert!(err.to_string().len() < 2048, "{}", err.to_string().len());
}
