//! OpenTelemetry observable instruments (feature `otel`): read from the
//! breakers' totals when the SDK collects, so recording costs nothing per call.
//!
//! | instrument | kind | attributes |
//! | --- | --- | --- |
//! | `warden.circuit_breaker.state` | observable gauge (i64) | `name` (0 closed, 1 open, 2 half-open) |
//! | `warden.circuit_breaker.successes` | observable counter (u64) | `name` |
//! | `warden.circuit_breaker.failures` | observable counter (u64) | `name` |
//! | `warden.circuit_breaker.timeouts` | observable counter (u64) | `name` |
//! | `warden.circuit_breaker.rejections` | observable counter (u64) | `name`, `reason` (`open`, `too_many_requests`, `bulkhead_full`; `throttled` once an adaptive throttle shed a call) |
//! | `warden.circuit_breaker.transitions` | observable counter (u64) | `name`, `from`, `to` |
//! | `warden.circuit_breaker.throttle_probability` | observable gauge (f64) | `name` (only breakers whose trip rule is an adaptive throttle): the probability, 0 to 1, with which it rejects a call now |
//! | `warden.retry.attempts` | observable counter (u64) | `name` (once a retry attempt was counted) |
//! | `warden.retry.retries` | observable counter (u64) | `name` (likewise) |
//!
//! Timeouts, bulkhead rejections and retry attempts are the breaker name's
//! [`CallerCounts`], which the caller records (the `warden-kit` facade does for
//! every name it creates); the rest is read from the breaker itself.
//!
//! Exported to Prometheus (directly or through an OpenTelemetry collector)
//! these become `warden_circuit_breaker_state`, `..._successes_total` and so on,
//! the names `warden-prometheus` uses. Observable counters report the
//! cumulative lifetime total; the SDK turns them into deltas if the exporter
//! asks for delta temporality.
//!
//! Only the API crate (`opentelemetry`) is a dependency: the application picks
//! the SDK and exporter. With OTLP (`opentelemetry-otlp`, not a dependency of
//! this crate):
//!
//! ```ignore
//! let exporter = opentelemetry_otlp::MetricExporter::builder().with_tonic().build()?;
//! let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
//!     .with_periodic_exporter(exporter)
//!     .build();
//! let instruments = warden_telemetry::otel::OtelMetrics::register(&provider.meter("warden"));
//! instruments.watch(&breaker); // an Arc<CircuitBreaker>
//! ```
//!
//! The state gauge is read with [`CircuitBreaker::state`], which performs a
//! due transition (an open breaker whose timeout passed turns half-open) on the
//! collecting thread. The throttle gauge is
//! [`CircuitBreaker::throttle_probability`] at collection: the throttle's last
//! evaluation (0 while the breaker is not closed by its rules), with the
//! instruments' other names it becomes `warden_circuit_breaker_throttle_probability`
//! in Prometheus (no unit is set, so no exporter appends one).

use std::fmt;
use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Meter, ObservableCounter, ObservableGauge};
use warden_breaker::{CircuitBreaker, Totals};

use crate::watched::Watched;
use crate::{CallerCounts, edges, label, rejections};

/// The instruments, registered with one [`Meter`], and the breakers they read.
///
/// ```
/// use std::sync::Arc;
/// use opentelemetry::metrics::MeterProvider;
/// use warden_breaker::CircuitBreaker;
/// use warden_telemetry::otel::OtelMetrics;
///
/// let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder().build();
/// let otel = OtelMetrics::register(&provider.meter("warden"));
/// let cb = Arc::new(CircuitBreaker::builder("db").build()?);
/// otel.watch(&cb);
/// # Ok::<(), warden_breaker::ConfigError>(())
/// ```
pub struct OtelMetrics {
    watched: Arc<Watched>,
    _state: ObservableGauge<i64>,
    _throttle: ObservableGauge<f64>,
    _counters: [ObservableCounter<u64>; 7],
}

impl fmt::Debug for OtelMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelMetrics").finish_non_exhaustive()
    }
}

/// The observations of one counter for one breaker's totals (default totals
/// for a counter that reads only the caller's counts) and its caller's counts.
type Observe = fn(&str, &Totals, &CallerCounts, &mut dyn FnMut(u64, &[KeyValue]));

impl OtelMetrics {
    /// Registers the instruments with `meter`; they observe the breakers given
    /// to [`watch`](Self::watch) at every collection.
    ///
    /// ```
    /// use opentelemetry::metrics::MeterProvider;
    /// let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder().build();
    /// let _otel = warden_telemetry::otel::OtelMetrics::register(&provider.meter("warden"));
    /// ```
    pub fn register(meter: &Meter) -> Self {
        let watched = Arc::new(Watched::default());
        let w = Arc::clone(&watched);
        let state = meter
            .i64_observable_gauge("warden.circuit_breaker.state")
            .with_description(
                "Current state of the circuit breaker (0 - Closed, 1 - Open, 2 - HalfOpen)",
            )
            .with_callback(move |o| {
                for (cb, _) in w.live() {
                    o.observe(
                        crate::state_of(&cb).as_gauge(),
                        &[KeyValue::new("name", cb.name().to_owned())],
                    );
                }
            })
            .build();
        let w = Arc::clone(&watched);
        let throttle = meter
            .f64_observable_gauge("warden.circuit_breaker.throttle_probability")
            .with_description(
                "Probability with which the adaptive throttle rejects a call now (0 to 1)",
            )
            .with_callback(move |o| {
                for (cb, _) in w.live() {
                    if let Some(p) = crate::throttle_probability(&cb) {
                        o.observe(p, &[KeyValue::new("name", cb.name().to_owned())]);
                    }
                }
            })
            .build();
        // `totals`: whether the counter reads the breaker's totals (a pass over
        // its counter lines) or only the caller's counts.
        let counter =
            |name: &'static str, description: &'static str, totals: bool, observe: Observe| {
                let w = Arc::clone(&watched);
                meter
                    .u64_observable_counter(name)
                    .with_description(description)
                    .with_callback(move |o| {
                        for (cb, counts) in w.live() {
                            let t = if totals {
                                cb.totals()
                            } else {
                                Totals::default()
                            };
                            observe(cb.name(), &t, &counts, &mut |v, attrs| o.observe(v, attrs));
                        }
                    })
                    .build()
            };
        let counters = [
            counter(
                "warden.circuit_breaker.successes",
                "Total number of circuit breaker successes",
                true,
                |name, t, _, o| o(t.successes, &[KeyValue::new("name", name.to_owned())]),
            ),
            counter(
                "warden.circuit_breaker.failures",
                "Total number of circuit breaker failures",
                true,
                |name, t, _, o| o(t.failures, &[KeyValue::new("name", name.to_owned())]),
            ),
            counter(
                "warden.circuit_breaker.timeouts",
                "Total number of circuit breaker timeouts",
                false,
                |name, _, c, o| o(c.timeouts(), &[KeyValue::new("name", name.to_owned())]),
            ),
            counter(
                "warden.circuit_breaker.rejections",
                "Total number of calls the circuit breaker refused, by reason",
                true,
                |name, t, c, o| {
                    for (reason, v) in rejections(t, c) {
                        o(
                            v,
                            &[
                                KeyValue::new("name", name.to_owned()),
                                KeyValue::new("reason", reason),
                            ],
                        );
                    }
                },
            ),
            counter(
                "warden.circuit_breaker.transitions",
                "Total number of circuit breaker state changes",
                true,
                |name, t, _, o| {
                    for (from, to) in edges(t) {
                        o(
                            t.transitions(from, to),
                            &[
                                KeyValue::new("name", name.to_owned()),
                                KeyValue::new("from", label(from)),
                                KeyValue::new("to", label(to)),
                            ],
                        );
                    }
                },
            ),
            counter(
                "warden.retry.attempts",
                "Total number of retry attempts",
                false,
                |name, _, c, o| {
                    if c.has_retries() {
                        o(c.attempts(), &[KeyValue::new("name", name.to_owned())]);
                    }
                },
            ),
            counter(
                "warden.retry.retries",
                "Total number of retries (attempts after a failure)",
                false,
                |name, _, c, o| {
                    if c.has_retries() {
                        o(c.retries(), &[KeyValue::new("name", name.to_owned())]);
                    }
                },
            ),
        ];
        Self {
            watched,
            _state: state,
            _throttle: throttle,
            _counters: counters,
        }
    }

    /// Observes `breaker` (held weakly) at every collection from now on, and
    /// returns the [`CallerCounts`] exported with it: record its timeouts,
    /// bulkhead rejections and retry attempts there. A later breaker of the
    /// same name replaces it and keeps the counts.
    ///
    /// ```
    /// use opentelemetry::metrics::MeterProvider;
    /// let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder().build();
    /// let otel = warden_telemetry::otel::OtelMetrics::register(&provider.meter("warden"));
    /// let counts = otel.watch(&std::sync::Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?));
    /// counts.record_timeout(); // warden.circuit_breaker.timeouts{name="db"} 1 at the next collection
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn watch(&self, breaker: &Arc<CircuitBreaker>) -> Arc<CallerCounts> {
        self.watched.watch(breaker, None)
    }

    /// [`watch`](Self::watch) with counts shared with other backends (or kept
    /// by the caller): the same counts given to the `metrics` facade's
    /// `watch_with` are exported by both.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use opentelemetry::metrics::MeterProvider;
    /// use warden_telemetry::CallerCounts;
    /// let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder().build();
    /// let otel = warden_telemetry::otel::OtelMetrics::register(&provider.meter("warden"));
    /// let counts = Arc::new(CallerCounts::default());
    /// otel.watch_with(&Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?), &counts);
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn watch_with(&self, breaker: &Arc<CircuitBreaker>, counts: &Arc<CallerCounts>) {
        self.watched.watch(breaker, Some(counts));
    }
}
