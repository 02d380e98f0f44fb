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
use std::sync::{Arc, Mutex};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Meter, ObservableCounter, ObservableGauge};
use warden_breaker::{CircuitBreaker, Totals};

use crate::watched::{Replaced, Watched};
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
    watched: Arc<Watched<Carry>>,
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
/// for a counter that reads only the caller's counts) and its caller's counts,
/// each continuing what the name's earlier breakers and counts reached.
type Observe = fn(&str, &Totals, &Caller, &mut dyn FnMut(u64, &[KeyValue]));

/// A name's caller counts as observed: its [`CallerCounts`] plus what the
/// counts it had before reached.
#[derive(Clone, Copy, Debug, Default)]
struct Caller {
    timeouts: u64,
    bulkhead_full: u64,
    attempts: u64,
    retries: u64,
}

impl Caller {
    fn of(counts: &CallerCounts) -> Self {
        Self {
            timeouts: counts.timeouts(),
            bulkhead_full: counts.bulkhead_rejections(),
            attempts: counts.attempts(),
            retries: counts.retries(),
        }
    }

    fn plus(self, o: Self) -> Self {
        Self {
            timeouts: self.timeouts.wrapping_add(o.timeouts),
            bulkhead_full: self.bulkhead_full.wrapping_add(o.bulkhead_full),
            attempts: self.attempts.wrapping_add(o.attempts),
            retries: self.retries.wrapping_add(o.retries),
        }
    }

    /// Whether the retry series are observed (once an attempt was counted).
    fn has_retries(&self) -> bool {
        self.attempts != 0 || self.retries != 0
    }
}

/// `a + b`, field by field (wrapping, as the totals' own sums).
fn plus(a: &Totals, b: &Totals) -> Totals {
    let mut t = *a;
    let add = |x: &mut u64, y: u64| *x = x.wrapping_add(y);
    add(&mut t.successes, b.successes);
    add(&mut t.failures, b.failures);
    add(&mut t.ignored, b.ignored);
    add(&mut t.dropped, b.dropped);
    add(&mut t.slow_calls, b.slow_calls);
    add(&mut t.rejected_open, b.rejected_open);
    add(
        &mut t.rejected_too_many_requests,
        b.rejected_too_many_requests,
    );
    add(&mut t.rejected_throttled, b.rejected_throttled);
    for (row, other) in t.transitions.iter_mut().zip(&b.transitions) {
        for (x, y) in row.iter_mut().zip(other) {
            add(x, *y);
        }
    }
    t
}

/// What a watched name carries over from the breakers and counts it had
/// before, so its counters never go down when a new breaker of the name
/// replaces one (a registry evicting an idle name and creating it again): an
/// observed value that went down is a reset to a reader with cumulative
/// temporality, and a subtraction below zero to one with delta temporality
/// (the SDK's collection panics in a debug build, and reports a delta near
/// 2^64 in a release build).
#[derive(Debug, Default)]
struct Carry {
    /// Added to the breaker's totals.
    base: Totals,
    /// Added to the caller's counts.
    caller_base: Caller,
    /// The totals last observed, base included: what the name reached if its
    /// breaker is dropped before a new one replaces it.
    last: Mutex<Totals>,
}

impl Carry {
    /// The carry of a breaker newly watched under a name that had `old`.
    fn after(old: Option<Replaced<'_, Carry>>) -> Self {
        let Some(old) = old else {
            return Self::default();
        };
        let base = match old.breaker {
            // Watched again: its totals are still to come, not carried.
            Some(_) if old.same_breaker => old.extra.base,
            Some(cb) => plus(&old.extra.base, &cb.totals()),
            None => *old.extra.last(),
        };
        let caller_base = if old.counts_kept {
            old.extra.caller_base
        } else {
            old.extra.caller_base.plus(Caller::of(old.counts))
        };
        let last = if old.same_breaker {
            *old.extra.last()
        } else {
            base
        };
        Self {
            base,
            caller_base,
            last: Mutex::new(last),
        }
    }

    fn last(&self) -> std::sync::MutexGuard<'_, Totals> {
        // A `Totals` is written whole: a poisoned one is still valid.
        self.last.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The breaker's totals `t` as observed, remembered as the last ones.
    fn totals(&self, t: &Totals) -> Totals {
        let observed = plus(&self.base, t);
        *self.last() = observed;
        observed
    }

    /// The caller's `counts` as observed.
    fn caller(&self, counts: &CallerCounts) -> Caller {
        self.caller_base.plus(Caller::of(counts))
    }
}

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
        let watched = Arc::new(Watched::<Carry>::default());
        let w = Arc::clone(&watched);
        let state = meter
            .i64_observable_gauge("warden.circuit_breaker.state")
            .with_description(
                "Current state of the circuit breaker (0 - Closed, 1 - Open, 2 - HalfOpen)",
            )
            .with_callback(move |o| {
                for (cb, _, _) in w.live_with_extra() {
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
                for (cb, _, _) in w.live_with_extra() {
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
                        for (cb, counts, carry) in w.live_with_extra() {
                            let t = if totals {
                                carry.totals(&cb.totals())
                            } else {
                                Totals::default()
                            };
                            let c = carry.caller(&counts);
                            observe(cb.name(), &t, &c, &mut |v, attrs| o.observe(v, attrs));
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
                |name, _, c, o| o(c.timeouts, &[KeyValue::new("name", name.to_owned())]),
            ),
            counter(
                "warden.circuit_breaker.rejections",
                "Total number of calls the circuit breaker refused, by reason",
                true,
                |name, t, c, o| {
                    for (reason, v) in rejections(t, c.bulkhead_full) {
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
                        o(c.attempts, &[KeyValue::new("name", name.to_owned())]);
                    }
                },
            ),
            counter(
                "warden.retry.retries",
                "Total number of retries (attempts after a failure)",
                false,
                |name, _, c, o| {
                    if c.has_retries() {
                        o(c.retries, &[KeyValue::new("name", name.to_owned())]);
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
    /// same name replaces it and keeps the counts; the name's counters go on
    /// from what they reached (they never go down). Watching the same breaker
    /// again changes nothing; watching a breaker again after another of its
    /// name replaced it counts its totals once more (only the latest breaker
    /// of a name is remembered): replace a name's breaker with a new one,
    /// never with an earlier one.
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
        self.watched.watch_with_extra(breaker, None, Carry::after).0
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
        self.watched
            .watch_with_extra(breaker, Some(counts), Carry::after);
    }
}
