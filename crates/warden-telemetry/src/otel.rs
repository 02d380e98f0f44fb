//! OpenTelemetry observable instruments (feature `otel`): read from the
//! breakers' totals when the SDK collects, so recording costs nothing per call.
//!
//! | instrument | kind | attributes |
//! | --- | --- | --- |
//! | `warden.circuit_breaker.state` | observable gauge (i64) | `name` (0 closed, 1 open, 2 half-open) |
//! | `warden.circuit_breaker.successes` | observable counter (u64) | `name` |
//! | `warden.circuit_breaker.failures` | observable counter (u64) | `name` |
//! | `warden.circuit_breaker.rejections` | observable counter (u64) | `name`, `reason` (`open`, `too_many_requests`) |
//! | `warden.circuit_breaker.transitions` | observable counter (u64) | `name`, `from`, `to` |
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
//! collecting thread.

use std::fmt;
use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Meter, ObservableCounter, ObservableGauge};
use warden_breaker::{CircuitBreaker, Totals};

use crate::watched::Watched;
use crate::{edges, label};

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
    _counters: [ObservableCounter<u64>; 4],
}

impl fmt::Debug for OtelMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelMetrics").finish_non_exhaustive()
    }
}

/// The observations of one counter for one breaker's totals.
type Observe = fn(&str, &Totals, &mut dyn FnMut(u64, &[KeyValue]));

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
                for cb in w.live() {
                    o.observe(
                        crate::state_of(&cb).as_gauge(),
                        &[KeyValue::new("name", cb.name().to_owned())],
                    );
                }
            })
            .build();
        let counter = |name: &'static str, description: &'static str, observe: Observe| {
            let w = Arc::clone(&watched);
            meter
                .u64_observable_counter(name)
                .with_description(description)
                .with_callback(move |o| {
                    for cb in w.live() {
                        let t = cb.totals();
                        observe(cb.name(), &t, &mut |v, attrs| o.observe(v, attrs));
                    }
                })
                .build()
        };
        let counters = [
            counter(
                "warden.circuit_breaker.successes",
                "Total number of circuit breaker successes",
                |name, t, o| o(t.successes, &[KeyValue::new("name", name.to_owned())]),
            ),
            counter(
                "warden.circuit_breaker.failures",
                "Total number of circuit breaker failures",
                |name, t, o| o(t.failures, &[KeyValue::new("name", name.to_owned())]),
            ),
            counter(
                "warden.circuit_breaker.rejections",
                "Total number of calls the circuit breaker refused, by reason",
                |name, t, o| {
                    for (reason, v) in [
                        ("open", t.rejected_open),
                        ("too_many_requests", t.rejected_too_many_requests),
                    ] {
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
                |name, t, o| {
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
        ];
        Self {
            watched,
            _state: state,
            _counters: counters,
        }
    }

    /// Observes `breaker` (held weakly) at every collection from now on. A later
    /// breaker of the same name replaces it.
    ///
    /// ```
    /// use opentelemetry::metrics::MeterProvider;
    /// let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder().build();
    /// let otel = warden_telemetry::otel::OtelMetrics::register(&provider.meter("warden"));
    /// otel.watch(&std::sync::Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?));
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn watch(&self, breaker: &Arc<CircuitBreaker>) {
        self.watched.watch(breaker);
    }
}
