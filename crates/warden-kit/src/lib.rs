//! Resilience for Rust services: circuit breakers, retry, bulkheads and
//! timeouts behind a registry of named breakers, with presets and Prometheus
//! metrics.
//!
//! `warden-kit` is the crate services depend on. It puts the lock-free
//! [`warden_breaker`] core and [`warden_retry`] behind a [`Registry`] of named
//! breakers, like the Go `resilience` packages' `CircuitBreakerFactory` (`Execute(name, f)`,
//! `ExecuteWithFallback`, `ExecuteContext`, custom configuration, lifecycle,
//! "richer results"), and adds what their wish list asked for: retry,
//! timeouts, bulkheads and Prometheus.
//!
//! # Contents
//!
//! | need | use |
//! | --- | --- |
//! | guard calls to named dependencies | [`Registry::pipeline`]: a [`Pipeline`] (fallback, retry, bulkhead, breaker, timeout, in that order) built once, run with [`execute`](Pipeline::execute) or [`execute_async`](Pipeline::execute_async) |
//! | decide what counts as a failure | [`Pipeline::with_classifier`] (the closure form the core's `call_with` and the tower layer take) |
//! | serve something instead of an error | [`Fallback`]: a value, a function of the error, the last good value, a secondary call |
//! | know what happened | [`Execution`]: value or [`ExecuteError`], [`rejection`](Execution::rejection), [`state`](Execution::state), [`attempts`](Execution::attempts), [`elapsed`](Execution::elapsed) |
//! | configure names | [`BreakerConfig`] and its presets [`kafka`](BreakerConfig::kafka), [`clickhouse`](BreakerConfig::clickhouse), [`notification`](BreakerConfig::notification), [`http`](BreakerConfig::http), [`default`](BreakerConfig::default) |
//! | choose when a breaker opens | [`TripRule`]: consecutive failures, failure rate per interval, [count window](TripRule::CountWindow), [time window](TripRule::TimeWindow), [adaptive throttle](TripRule::Adaptive) (sheds load instead of opening), custom; [`slow_calls`](BreakerConfig::slow_calls) ([`SlowCallsConfig`]) |
//! | choose how it recovers | [`open_backoff`](BreakerConfig::open_backoff) ([`OpenBackoffConfig`]), [`half_open_max_wait`](BreakerConfig::half_open_max_wait), `timeout`, `max_requests` |
//! | configure from a file | [`RegistryConfig::from_toml_str`], [`RegistryConfig::from_json_str`] |
//! | bound and manage names | [`max_breakers`](RegistryBuilder::max_breakers), [`max_name_len`](RegistryBuilder::max_name_len), [`strict`](RegistryBuilder::strict), [`idle_eviction`](RegistryBuilder::idle_eviction), [`overflow_breaker`](RegistryBuilder::overflow_breaker), [`remove`](Registry::remove), [`drain`](Registry::drain) |
//! | a ready pipeline for a kind of dependency (Kafka, ClickHouse, notifications, HTTP peers) | [`presets`]: [`Preset::pipeline`], and [`Preset::idempotent_pipeline`] (with the preset's retry) for calls safe to repeat |
//! | limit concurrency | [`Bulkhead`] (or `max_concurrent` in a config) |
//! | export metrics | [`metrics`] (feature `metrics`), [`RegistryBuilder::metrics`] |
//! | the building blocks | [`breaker`] (the core), [`retry`] |
//!
//! # Examples
//!
//! (With the default `metrics` feature.)
//!
#![cfg_attr(feature = "metrics", doc = "```")]
#![cfg_attr(not(feature = "metrics"), doc = "```ignore")]
//! use std::sync::Arc;
//! use warden_kit::{BreakerConfig, ExecuteError, Fallback, Registry};
//!
//! let prometheus = warden_kit::metrics::prometheus::Registry::new();
//! let registry = Arc::new(
//!     Registry::builder()
//!         .configure("kafka", BreakerConfig::kafka())
//!         .metrics(warden_kit::metrics::Metrics::register(&prometheus)?)
//!         .on_state_change(|name, from, to| eprintln!("{name}: {from} -> {to}"))
//!         .build()?,
//! );
//!
//! // Built once: the name's breaker, then what to do when it fails.
//! let kafka = registry
//!     .pipeline("kafka")?
//!     .with_fallback(Fallback::from_fn(|err: ExecuteError<std::io::Error>| {
//!         eprintln!("spooling locally: {err}");
//!         Ok(())
//!     }));
//! let ex = kafka.execute(|| produce("order-42"));
//! assert!(ex.has_value());
//! for status in registry.list() {
//!     println!("{} {} {:?}", status.name, status.state, status.counts);
//! }
//! # fn produce(_: &str) -> std::io::Result<()> { Ok(()) }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Configuration files
//!
//! Durations are integer milliseconds or strings with units (`"30s"`,
//! `"1m 30s"`); `0` turns `max_concurrent` and `call_timeout` off. Errors
//! name the field (`breakers.kafka.timeout`). See [`RegistryConfig`].
//!
//! ```toml
//! [default]
//! timeout = "30s"
//!
//! [breakers.kafka]
//! preset = "kafka"
//!
//! [breakers.clickhouse]
//! preset = "clickhouse"
//! max_concurrent = 4
//! trip = { failure_rate = { failure_rate_percent = 50, min_requests = 10 } }
//!
//! [breakers.payments]
//! trip = { time_window = { length = "10s", buckets = 10, min_calls = 20, failure_rate_percent = 50 } }
//! slow_calls = { threshold = "2s", rate_percent = 50, min_calls = 20 }
//! open_backoff = { multiplier = 2, max = "5m", jitter_percent = 10 }
//! half_open_max_wait = "30s"
//! ```
//!
//! Rates are whole percent everywhere, as in the core (`failure_rate_percent
//! = 50`, `rate_percent`, `jitter_percent`); a share in the old form
//! (`failure_rate = 0.5`) is an error naming the field to write instead.
//!
//! # Cost
//!
//! A registry lookup pins a lock-free concurrent map (papaya) and probes it
//! (foldhash): no lock and no shared-line write; creating a name changes one
//! slot, whatever the number of names. A [`Pipeline`] is built once and kept:
//! running it does no lookup and allocates nothing; with only the name's
//! breaker it costs what the former `NamedBreaker::execute` did (the
//! breaker, two clock reads for `elapsed`, the state after). Building one per
//! call ([`Registry::pipeline`] for names known only per request) adds the
//! lookup and a reference count taken and dropped, a write to the name's
//! shared line that concurrent callers of one name contend on: keep
//! pipelines where names are known ahead. A bulkhead is one shared counter
//! per name, so concurrent calls on one name contend on it too. The figures,
//! with the commands and the machine's load, are in
//! `crates/warden-kit/benches/registry.rs`.

//! # Feature flags
//!
//! * `metrics` (default): Prometheus metrics through [`warden_prometheus`]
//!   (re-exported as [`metrics`]), and [`RegistryBuilder::metrics`]. On by
//!   default because the Go `resilience` package ships them and a service wants them; turn it off
//!   (`default-features = false`) to drop the `prometheus` dependency.
//! * `tokio` (default): the `execute_async*` methods (per-call timeouts and
//!   async retry on tokio's timer) and `warden-retry`'s async functions.
//! * `otel`, `metrics-facade`, `tracing`: the backends of `warden-telemetry`
//!   (re-exported as `telemetry`), each wired by one builder call
//!   (`RegistryBuilder::otel`, `RegistryBuilder::metrics_facade`,
//!   `RegistryBuilder::tracing`); each reads the breakers' own totals at
//!   collection time or at transitions, never per call. `otel` and
//!   `metrics-facade` also export each name's timeouts and bulkhead rejections
//!   (counted by the registry when they happen) and, through
//!   `Registry::retry_observer`, its retry attempts: the families of
//!   `warden-prometheus`.
//! * `tower`: [`Registry::layer`](crate::Registry) and the `tower`
//!   module: a tower layer on a name's breaker, bulkhead and metrics, and
//!   `warden_tower`'s classifiers for pipelines.
//! * `redis`: fleet-wide breakers through Redis (the `warden-redis` crate,
//!   re-exported as `fleet`) and `RegistryBuilder::fleet`, which coordinates every
//!   breaker of a registry across instances and adds each name's fleet state and
//!   coordination to [`Registry::list`].

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]
#![doc(test(attr(deny(warnings))))]

mod backends;
mod bulkhead;
mod config;
mod execution;
mod pipeline;
pub mod presets;
mod quote;
mod registry;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod tower;

#[cfg(any(feature = "otel", feature = "metrics-facade"))]
pub use backends::RetryCounter;
pub use bulkhead::{Bulkhead, BulkheadPermit};
pub use config::{
    BreakerConfig, BreakerSpec, ConfigError, OpenBackoffConfig, Preset, RegistryConfig,
    SlowCallsConfig, TripRule,
};
pub use execution::{ExecuteError, Execution};
pub use pipeline::{Fallback, Pipeline};
pub use registry::{
    BreakerStatus, DEFAULT_MAX_NAME_LEN, Drained, NameError, NamedBreaker, Registry,
    RegistryBuilder, RegistryError, ThrottleStatus,
};

/// The lock-free circuit breaker core ([`warden_breaker`]).
pub use warden_breaker as breaker;
pub use warden_breaker::{
    CircuitBreaker, Clock, Counts, ManualClock, QuantaClock, Rejected, State,
};

/// Retry, backoff, jitter and budgets ([`warden_retry`]).
pub use warden_retry as retry;
pub use warden_retry::{Backoff, Jitter, RetryPolicy};

/// Prometheus metrics ([`warden_prometheus`]; feature `metrics`).
#[cfg(feature = "metrics")]
pub use warden_prometheus as metrics;

/// OpenTelemetry, `metrics` facade and `tracing` backends ([`warden_telemetry`];
/// features `otel`, `metrics-facade`, `tracing`).
#[cfg(any(feature = "otel", feature = "metrics-facade", feature = "tracing"))]
pub use warden_telemetry as telemetry;

/// Fleet-wide breakers through Redis ([`warden_redis`]; feature `redis`).
#[cfg(feature = "redis")]
pub use warden_redis as fleet;
