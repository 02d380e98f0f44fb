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
//! | guard calls to named dependencies | [`Registry`]: [`execute`](Registry::execute), [`execute_with_fallback`](Registry::execute_with_fallback), [`execute_with_retry`](Registry::execute_with_retry), [`execute_async`](Registry::execute_async) (per-call timeout), [`execute_async_with_retry`](Registry::execute_async_with_retry) |
//! | know what happened | [`Execution`]: value or [`ExecuteError`], [`rejection`](Execution::rejection), [`state`](Execution::state), [`attempts`](Execution::attempts), [`elapsed`](Execution::elapsed) |
//! | configure names | [`BreakerConfig`] and its presets [`kafka`](BreakerConfig::kafka), [`clickhouse`](BreakerConfig::clickhouse), [`notification`](BreakerConfig::notification), [`default`](BreakerConfig::default) |
//! | choose when a breaker opens | [`TripRule`]: consecutive failures, failure rate per interval, [count window](TripRule::CountWindow), [time window](TripRule::TimeWindow), [adaptive throttle](TripRule::Adaptive) (sheds load instead of opening), custom; [`slow_calls`](BreakerConfig::slow_calls) ([`SlowCallsConfig`]) |
//! | choose how it recovers | [`open_backoff`](BreakerConfig::open_backoff) ([`OpenBackoffConfig`]), [`half_open_max_wait`](BreakerConfig::half_open_max_wait), `timeout`, `max_requests` |
//! | configure from a file | [`RegistryConfig::from_toml_str`], [`RegistryConfig::from_json_str`] |
//! | bound and manage names | [`max_breakers`](RegistryBuilder::max_breakers), [`max_name_len`](RegistryBuilder::max_name_len), [`strict`](RegistryBuilder::strict), [`idle_eviction`](RegistryBuilder::idle_eviction), [`overflow_breaker`](RegistryBuilder::overflow_breaker), [`remove`](Registry::remove), [`drain`](Registry::drain) |
//! | a single preconfigured breaker | [`presets`] |
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
//! use warden_kit::{BreakerConfig, ExecuteError, Registry};
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
//! let ex = registry
//!     .execute("kafka", || produce("order-42"))
//!     .or_fallback(|err: ExecuteError<std::io::Error>| {
//!         eprintln!("spooling locally: {err}");
//!         Ok(())
//!     });
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
//! trip = { failure_rate = { ratio = 0.5, min_requests = 10 } }
//!
//! [breakers.payments]
//! trip = { time_window = { length = "10s", buckets = 10, min_calls = 20, failure_rate = 0.5 } }
//! slow_calls = { threshold = "2s", rate = 0.5, min_calls = 20 }
//! open_backoff = { multiplier = 2, max = "5m", jitter = 0.1 }
//! half_open_max_wait = "30s"
//! ```
//!
//! Rates are shares of 1; the core's windows, slow calls and jitter count in
//! whole percent, so `0.505` there is an error naming the field rather than
//! a rounded value.
//!
//! # Cost
//!
//! A registry lookup pins a lock-free concurrent map (papaya) and probes it
//! (foldhash): no lock and no shared-line write; creating a name changes one
//! slot, whatever the number of names. Measured on the project's 2-core machine
//! (`cargo bench -p warden-kit --bench registry -- --warm-up-time 1 --measurement-time 2`),
//! closed breaker, successful call:
//!
//! | path | per call |
//! | --- | --- |
//! | `CircuitBreaker::call` (the core alone) | 2.5 ns |
//! | `NamedBreaker::execute` (kept handle: + two clock reads for `elapsed`, the state after) | 22 ns |
//! | `Registry::execute` (+ the name lookup; 1 or 100 names) | 40-41 ns |
//! | `Registry::execute` with metrics | 50 ns |
//! | `Registry::execute` with a bulkhead | 44 ns |
//! | `Registry::execute`, two threads on one name | 42 ns |
//! | `Registry::execute` with a bulkhead, two threads on one name | 71 ns |
//!
//! These figures were taken with the registry's earlier copy-on-write map; a
//! side-by-side run of both builds (2026-12-06, same bench, machine loaded by
//! six sessions) showed no difference in `Registry::execute` beyond the noise.
//! So the lookup costs about 18 ns; keep a [`NamedBreaker`]
//! ([`Registry::breaker`]) where that matters. A bulkhead is one shared
//! counter per name, so concurrent calls on one name contend on it.

//! # Feature flags
//!
//! * `metrics` (default): Prometheus metrics through [`warden_prometheus`]
//!   (re-exported as [`metrics`]), and [`RegistryBuilder::metrics`]. On by
//!   default because the Go `resilience` package ships them and a service wants them; turn it off
//!   (`default-features = false`) to drop the `prometheus` dependency.
//! * `tokio` (default): the `execute_async*` methods (per-call timeouts and
//!   async retry on tokio's timer) and `warden-retry`'s async functions.
//! * `redis`: fleet-wide breakers through Redis (the `warden-redis` crate,
//!   re-exported as `fleet`) and `RegistryBuilder::fleet`, which coordinates every
//!   breaker of a registry across instances and adds each name's fleet state and
//!   coordination to [`Registry::list`].

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]
#![doc(test(attr(deny(warnings))))]

mod bulkhead;
mod config;
mod execution;
pub mod presets;
mod quote;
mod registry;

pub use bulkhead::{Bulkhead, BulkheadPermit};
pub use config::{
    BreakerConfig, BreakerSpec, ConfigError, OpenBackoffConfig, Preset, RegistryConfig,
    SlowCallsConfig, TripRule,
};
pub use execution::{ExecuteError, Execution};
pub use registry::{
    BreakerStatus, DEFAULT_MAX_NAME_LEN, Drained, NameError, NamedBreaker, Registry,
    RegistryBuilder, RegistryError,
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

/// Fleet-wide breakers through Redis ([`warden_redis`]; feature `redis`).
#[cfg(feature = "redis")]
pub use warden_redis as fleet;
