//! The telemetry backends a registry feeds besides Prometheus (features `otel`,
//! `metrics-facade`, `tracing`): each watches every breaker the registry
//! creates and hears its state changes; none adds anything per call.

use std::sync::Arc;

use warden_breaker::{CircuitBreaker, State};

#[cfg(any(feature = "otel", feature = "metrics-facade", feature = "tracing"))]
use crate::RegistryBuilder;

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
    /// A new breaker: each backend reads it from now on.
    pub(crate) fn watch(&self, breaker: &Arc<CircuitBreaker>) {
        #[cfg(feature = "otel")]
        if let Some(o) = &self.otel {
            o.watch(breaker);
        }
        #[cfg(feature = "metrics-facade")]
        if let Some(m) = &self.metrics_facade {
            m.watch(breaker);
        }
        #[cfg(feature = "tracing")]
        if let Some(t) = &self.tracing {
            t.watch(breaker);
        }
        let _ = breaker;
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
    /// levels and fields in [`warden_telemetry::events`]).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use warden_kit::telemetry::events::Tracing;
    /// let registry = warden_kit::Registry::builder().tracing(Arc::new(Tracing::new())).build()?;
    /// registry.breaker("db")?.breaker().force_open(); // WARN warden::state breaker="db" from="closed" to="open"
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "tracing")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
    pub fn tracing(mut self, tracing: Arc<warden_telemetry::events::Tracing>) -> Self {
        self.backends.tracing = Some(tracing);
        self
    }
}
