//! The telemetry backends a registry feeds besides Prometheus (features `otel`,
//! `metrics-facade`, `tracing`): each watches every breaker the registry
//! creates and hears its state changes; none adds anything to a guarded call.
//! What only the registry knows (timeouts, bulkhead rejections, retry
//! attempts) goes into each name's `CallerCounts`, which `otel` and
//! `metrics-facade` read with the breaker's totals.

use std::sync::Arc;

use warden_breaker::{CircuitBreaker, State};

#[cfg(any(feature = "otel", feature = "metrics-facade"))]
use warden_telemetry::CallerCounts;

#[cfg(any(feature = "otel", feature = "metrics-facade", feature = "tracing"))]
use crate::RegistryBuilder;
#[cfg(any(feature = "otel", feature = "metrics-facade"))]
use crate::{Registry, RegistryError};

/// A name's counts for the telemetry backends: one relaxed atomic add per
/// timeout or bulkhead rejection, on those paths only; nothing without `otel`
/// or `metrics-facade` given to the builder.
#[derive(Clone, Debug, Default)]
pub(crate) struct Counting {
    #[cfg(any(feature = "otel", feature = "metrics-facade"))]
    counts: Option<Arc<CallerCounts>>,
}

impl Counting {
    #[inline]
    pub(crate) fn timed_out(&self) {
        #[cfg(any(feature = "otel", feature = "metrics-facade"))]
        if let Some(c) = &self.counts {
            c.record_timeout();
        }
    }

    #[inline]
    pub(crate) fn bulkhead_full(&self) {
        #[cfg(any(feature = "otel", feature = "metrics-facade"))]
        if let Some(c) = &self.counts {
            c.record_bulkhead_rejection();
        }
    }
}

/// The backends given to the builder.
#[derive(Clone, Debug, Default)]
pub(crate) struct Backends {
    #[cfg(feature = "otel")]
    otel: Option<Arc<warden_telemetry::otel::OtelMetrics>>,
    #[cfg(feature = "metrics-facade")]
    metrics_facade: Option<Arc<warden_telemetry::metrics_facade::MetricsFacade>>,
    #[cfg(feature = "tracing")]
    tracing: Option<Arc<warden_telemetry::events::Tracing>>,
}

impl Backends {
    /// A new breaker: each backend reads it from now on, the metrics
    /// backends with the name's new counts (returned for the registry to fill).
    pub(crate) fn watch(&self, breaker: &Arc<CircuitBreaker>) -> Counting {
        #[cfg(any(feature = "otel", feature = "metrics-facade"))]
        let counting = {
            let mut wanted = false;
            #[cfg(feature = "otel")]
            {
                wanted |= self.otel.is_some();
            }
            #[cfg(feature = "metrics-facade")]
            {
                wanted |= self.metrics_facade.is_some();
            }
            Counting {
                counts: wanted.then(Arc::default),
            }
        };
        #[cfg(not(any(feature = "otel", feature = "metrics-facade")))]
        let counting = Counting::default();
        #[cfg(feature = "otel")]
        if let (Some(o), Some(counts)) = (&self.otel, &counting.counts) {
            o.watch_with(breaker, counts);
        }
        #[cfg(feature = "metrics-facade")]
        if let (Some(m), Some(counts)) = (&self.metrics_facade, &counting.counts) {
            m.watch_with(breaker, counts);
        }
        #[cfg(feature = "tracing")]
        if let Some(t) = &self.tracing {
            t.watch(breaker);
        }
        let _ = breaker;
        counting
    }

    /// A breaker's state change, from its callback.
    pub(crate) fn on_state_change(&self, name: &str, from: State, to: State) {
        #[cfg(feature = "metrics-facade")]
        if let Some(m) = &self.metrics_facade {
            m.on_state_change(name, from, to);
        }
        #[cfg(feature = "tracing")]
        if let Some(t) = &self.tracing {
            t.on_state_change(name, from, to);
        }
        let _ = (name, from, to);
    }
}

#[cfg(any(feature = "otel", feature = "metrics-facade", feature = "tracing"))]
impl RegistryBuilder {
    /// Exports every breaker through OpenTelemetry observable instruments,
    /// read when the SDK collects (feature `otel`).
    ///
    /// ```
    /// use opentelemetry::metrics::MeterProvider;
    /// use warden_kit::telemetry::otel::OtelMetrics;
    /// let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder().build();
    /// let registry = warden_kit::Registry::builder()
    ///     .otel(OtelMetrics::register(&provider.meter("warden")))
    ///     .build()?;
    /// let _ = registry.pipeline("db")?.execute(|| Ok::<_, ()>(()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "otel")]
    #[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
    pub fn otel(mut self, otel: warden_telemetry::otel::OtelMetrics) -> Self {
        self.backends.otel = Some(Arc::new(otel));
        self
    }

    /// Exports every breaker through the `metrics` facade at each of its
    /// transitions (feature `metrics-facade`); run
    /// [`MetricsFacade::every`](warden_telemetry::metrics_facade::MetricsFacade::every)
    /// (or call `export` from a task of yours) for the counts in between.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use warden_kit::telemetry::metrics_facade::MetricsFacade;
    /// let facade = Arc::new(MetricsFacade::new());
    /// let registry = warden_kit::Registry::builder().metrics_facade(facade.clone()).build()?;
    /// let _ = registry.pipeline("db")?.execute(|| Ok::<_, ()>(()));
    /// assert_eq!(facade.export(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "metrics-facade")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics-facade")))]
    pub fn metrics_facade(
        mut self,
        facade: Arc<warden_telemetry::metrics_facade::MetricsFacade>,
    ) -> Self {
        self.backends.metrics_facade = Some(facade);
        self
    }

    /// Emits a `tracing` event for every state change of every breaker, and a
    /// rejection summary per breaker and transition (feature `tracing`; targets,
    /// levels and fields in [`warden_telemetry::events`]). A name with an
    /// adaptive throttle ([`TripRule::Adaptive`](crate::TripRule::Adaptive))
    /// sheds calls while its breaker stays closed, with no transition to
    /// summarize them at: run
    /// [`Tracing::every`](warden_telemetry::events::Tracing::every) (or call
    /// `report_all` from a task of yours) for those.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use warden_kit::telemetry::events::Tracing;
    /// let tracing = Arc::new(Tracing::new());
    /// let registry = warden_kit::Registry::builder().tracing(tracing.clone()).build()?;
    /// registry.breaker("db")?.breaker().force_open(); // WARN warden::state breaker="db" from="closed" to="open"
    /// let _ = registry.pipeline("db")?.execute(|| Ok::<_, ()>(())); // refused
    /// assert_eq!(tracing.report_all(), 1); // DEBUG warden::rejections breaker="db" state="open" open=1 ...
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "tracing")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
    pub fn tracing(mut self, tracing: Arc<warden_telemetry::events::Tracing>) -> Self {
        self.backends.tracing = Some(tracing);
        self
    }
}

/// A retry observer counting a name's retry attempts and retries for every
/// metrics backend its registry has: Prometheus (`warden_retry_attempts_total`,
/// `warden_retry_retries_total`, feature `metrics`), OpenTelemetry
/// (`warden.retry.attempts`, `warden.retry.retries`) and the `metrics` facade
/// (`warden_retry_attempts_total`, `warden_retry_retries_total`). Install it
/// on the policy of the name's pipelines with `RetryPolicyBuilder::observer`;
/// get one from [`Registry::retry_observer`]. Each attempt costs one relaxed
/// atomic add per backend kind (Prometheus's counter, the name's
/// [`CallerCounts`]). Cheap to clone.
#[cfg(any(feature = "otel", feature = "metrics-facade"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "otel", feature = "metrics-facade"))))]
#[derive(Clone, Debug)]
pub struct RetryCounter {
    #[cfg(feature = "metrics")]
    prometheus: Option<warden_prometheus::RetryMetrics>,
    counts: Option<Arc<CallerCounts>>,
}

#[cfg(any(feature = "otel", feature = "metrics-facade"))]
impl warden_retry::RetryObserver for RetryCounter {
    #[inline]
    fn on_attempt(&self, attempt: u32) {
        #[cfg(feature = "metrics")]
        if let Some(p) = &self.prometheus {
            p.on_attempt(attempt);
        }
        if let Some(c) = &self.counts {
            c.record_attempt();
        }
        let _ = attempt;
    }

    #[inline]
    fn on_retry(&self, attempt: u32, wait: std::time::Duration) {
        #[cfg(feature = "metrics")]
        if let Some(p) = &self.prometheus {
            p.on_retry(attempt, wait);
        }
        if let Some(c) = &self.counts {
            c.record_retry();
        }
        let _ = (attempt, wait);
    }
}

#[cfg(any(feature = "otel", feature = "metrics-facade"))]
impl Registry {
    /// A [`RetryCounter`] for `name`: a retry observer that counts the
    /// attempts and retries of runs with it in every metrics backend of this
    /// registry (features `otel`, `metrics-facade`; Prometheus too if given
    /// to the builder). Creates the name's breaker if it is new, as
    /// [`pipeline`](Self::pipeline) does; the counts are those of the breaker
    /// the name has now (after [`remove`](Self::remove) or an eviction, take
    /// a new observer with the new pipeline).
    ///
    /// # Errors
    ///
    /// As [`breaker`](Self::breaker).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use warden_kit::{ExecuteError, RetryPolicy};
    /// use warden_kit::telemetry::metrics_facade::MetricsFacade;
    /// let registry = warden_kit::Registry::builder()
    ///     .metrics_facade(Arc::new(MetricsFacade::new()))
    ///     .build()?;
    /// let policy = RetryPolicy::<ExecuteError<&str>>::builder()
    ///     .base_delay(std::time::Duration::ZERO)
    ///     .retry_if(ExecuteError::is_retryable)
    ///     .observer(registry.retry_observer("db")?)
    ///     .build()?;
    /// let ex = registry.pipeline("db")?.with_retry(policy).execute(|| Err::<(), _>("down"));
    /// assert_eq!(ex.attempts(), 3); // warden_retry_attempts_total{name="db"} 3 at the next export
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn retry_observer(&self, name: &str) -> Result<RetryCounter, RegistryError> {
        let breaker = self.breaker(name)?;
        Ok(RetryCounter {
            #[cfg(feature = "metrics")]
            prometheus: self.retry_metrics(name),
            counts: breaker.entry().hooks.telemetry.counts.clone(),
        })
    }
}
