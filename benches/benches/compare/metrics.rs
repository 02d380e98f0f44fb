//! `warden-breaker` with each metrics backend on: the same breaker as the
//! `warden-breaker` contender, watched by `warden-prometheus`'s collector, by
//! OpenTelemetry observable instruments (`warden-otel`), by the `metrics`
//! facade exporter (`warden-metrics-rs`, transition hook installed) or by the
//! `tracing` events (`warden-tracing`, transition hook installed), each of
//! which reads the breaker's state and lifetime totals at collection time or
//! at a transition. Their figures against `warden-breaker`'s are what
//! recording metrics costs a call (the target: at most 1 ns). They run the
//! workloads whose paths record a total per call: `closed_success` (the
//! success total on the calling thread's stripe) and `open_reject` (the
//! rejection total, likewise).
//!
//! [`BreakerAgain`] is the group's A/A control: `warden-breaker` itself,
//! measured a second time right after the backends, so the report can tell
//! this run's noise from what a backend costs.

use std::sync::Arc;

use opentelemetry::metrics::MeterProvider;
use warden_benches::contenders::{OPEN_TIMEOUT, WardenBreaker, trip};
use warden_benches::harness::{Called, Contender, Workload};
use warden_benches::report::BASELINE_AGAIN;
use warden_breaker::{CircuitBreaker, Error, State};
use warden_prometheus::Metrics;
use warden_telemetry::events::Tracing;
use warden_telemetry::metrics_facade::MetricsFacade;
use warden_telemetry::otel::OtelMetrics;

/// A watched breaker and the registry that scrapes it.
#[derive(Debug)]
pub(crate) struct Prometheus {
    cb: Arc<CircuitBreaker>,
    _registry: prometheus::Registry,
}

impl Contender for Prometheus {
    const NAME: &'static str = "warden-prometheus";

    fn prepare(workload: Workload, _calls: u64) -> Option<Self> {
        if !matches!(workload, Workload::ClosedSuccess | Workload::OpenReject) {
            return None;
        }
        let registry = prometheus::Registry::new();
        let metrics = Metrics::register(&registry).expect("a fresh registry");
        let cb = Arc::new(
            CircuitBreaker::builder(Self::NAME)
                .max_requests(1)
                .timeout(OPEN_TIMEOUT)
                .build()
                .expect("valid benchmark settings"),
        );
        metrics.watch(&cb);
        let this = Prometheus {
            cb,
            _registry: registry,
        };
        let want = if workload == Workload::OpenReject {
            trip(&this);
            State::Open
        } else {
            State::Closed
        };
        assert_eq!(this.cb.state(), want);
        // The series are there: the collector reads this breaker.
        assert!(
            this._registry
                .gather()
                .iter()
                .any(|f| f.name() == "warden_circuit_breaker_state" && !f.get_metric().is_empty())
        );
        Some(this)
    }

    #[inline]
    fn call(&self, op: impl FnOnce() -> Result<u64, u64>) -> Called {
        match self.cb.call(op) {
            Ok(v) => Called::Ok(v),
            Err(Error::Inner(e)) => Called::Failed(e),
            Err(_) => Called::Rejected,
        }
    }
}

/// A breaker with one `warden-telemetry` backend on.
pub(crate) struct Telemetry<K: Kind> {
    cb: Arc<CircuitBreaker>,
    _keep: Box<dyn std::any::Any + Send + Sync>,
    _kind: std::marker::PhantomData<K>,
}

impl<K: Kind> std::fmt::Debug for Telemetry<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(K::NAME)
    }
}

/// Which backend.
pub(crate) trait Kind: Send + Sync + 'static {
    const NAME: &'static str;
    /// Installs the backend's transition hook (if it has one) and watches the
    /// breaker; returns what must live as long as it.
    fn attach(
        builder: warden_breaker::Builder,
    ) -> (Arc<CircuitBreaker>, Box<dyn std::any::Any + Send + Sync>);
}

pub(crate) struct Otel;
pub(crate) struct MetricsRs;
pub(crate) struct TracingEvents;

impl Kind for Otel {
    const NAME: &'static str = "warden-otel";
    fn attach(
        builder: warden_breaker::Builder,
    ) -> (Arc<CircuitBreaker>, Box<dyn std::any::Any + Send + Sync>) {
        let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder().build();
        let otel = OtelMetrics::register(&provider.meter("bench"));
        let cb = Arc::new(builder.build().expect("valid benchmark settings"));
        otel.watch(&cb);
        (cb, Box::new((provider, otel)))
    }
}

impl Kind for MetricsRs {
    const NAME: &'static str = "warden-metrics-rs";
    fn attach(
        builder: warden_breaker::Builder,
    ) -> (Arc<CircuitBreaker>, Box<dyn std::any::Any + Send + Sync>) {
        let facade = Arc::new(MetricsFacade::new());
        let hook = Arc::clone(&facade);
        let cb = Arc::new(
            builder
                .on_state_change(move |n, f, t| hook.on_state_change(n, f, t))
                .build()
                .expect("valid benchmark settings"),
        );
        facade.watch(&cb);
        (cb, Box::new(facade))
    }
}

impl Kind for TracingEvents {
    const NAME: &'static str = "warden-tracing";
    fn attach(
        builder: warden_breaker::Builder,
    ) -> (Arc<CircuitBreaker>, Box<dyn std::any::Any + Send + Sync>) {
        let tracing = Arc::new(Tracing::new());
        let hook = Arc::clone(&tracing);
        let cb = Arc::new(
            builder
                .on_state_change(move |n, f, t| hook.on_state_change(n, f, t))
                .build()
                .expect("valid benchmark settings"),
        );
        tracing.watch(&cb);
        (cb, Box::new(tracing))
    }
}

impl<K: Kind> Contender for Telemetry<K> {
    const NAME: &'static str = K::NAME;

    fn prepare(workload: Workload, _calls: u64) -> Option<Self> {
        if !matches!(workload, Workload::ClosedSuccess | Workload::OpenReject) {
            return None;
        }
        let builder = CircuitBreaker::builder(K::NAME)
            .max_requests(1)
            .timeout(OPEN_TIMEOUT);
        let (cb, keep) = K::attach(builder);
        let this = Telemetry {
            cb,
            _keep: keep,
            _kind: std::marker::PhantomData,
        };
        let want = if workload == Workload::OpenReject {
            trip(&this);
            State::Open
        } else {
            State::Closed
        };
        assert_eq!(this.cb.state(), want);
        Some(this)
    }

    #[inline]
    fn call(&self, op: impl FnOnce() -> Result<u64, u64>) -> Called {
        match self.cb.call(op) {
            Ok(v) => Called::Ok(v),
            Err(Error::Inner(e)) => Called::Failed(e),
            Err(_) => Called::Rejected,
        }
    }
}

/// The A/A control: the `warden-breaker` contender (same settings, same
/// calls) under its own name, measured after the backends. Its figure against
/// `warden-breaker`'s, both from one run, is what this run cannot resolve; a
/// type of its own, like each backend, so it gets its own copy of the
/// harness's loop, placed by the compiler as theirs are.
#[derive(Debug)]
pub(crate) struct BreakerAgain(WardenBreaker);

impl Contender for BreakerAgain {
    const NAME: &'static str = BASELINE_AGAIN;

    fn prepare(workload: Workload, calls: u64) -> Option<Self> {
        // The workloads the backends run, and no others.
        if !matches!(workload, Workload::ClosedSuccess | Workload::OpenReject) {
            return None;
        }
        WardenBreaker::prepare(workload, calls).map(BreakerAgain)
    }

    #[inline]
    fn call(&self, op: impl FnOnce() -> Result<u64, u64>) -> Called {
        self.0.call(op)
    }
}
