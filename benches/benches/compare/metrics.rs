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
//! The group's references are the same breaker with no backend, measured
//! before the backends (`warden-breaker-unwatched`) and again right after them
//! (`warden-breaker-again`, the A/A control), so the report can tell this
//! run's noise from what a backend costs. All six run one copy of the loop
//! ([`watched_loop`]): their figures differ only in the breaker they call, not
//! in where the compiler placed a copy of the harness's loop for each
//! contender's type (which alone moved figures of identical code by 1-3 ns on
//! the 2-core VM of 2026-12-06, leaving the 1 ns checks unresolved).

use std::sync::Arc;

use opentelemetry::metrics::MeterProvider;
use std::hint::black_box;

use warden_benches::contenders::{OPEN_TIMEOUT, trip};
use warden_benches::harness::{Called, Contender, Workload, backend};
use warden_benches::report::{BASELINE_AGAIN, METRICS_UNWATCHED};
use warden_breaker::{CircuitBreaker, Error, State};
use warden_prometheus::Metrics;
use warden_telemetry::events::Tracing;
use warden_telemetry::metrics_facade::MetricsFacade;
use warden_telemetry::otel::OtelMetrics;

/// One guarded call, as every contender of the group makes it.
#[inline]
fn guarded(cb: &CircuitBreaker, op: impl FnOnce() -> Result<u64, u64>) -> Called {
    match cb.call(op) {
        Ok(v) => Called::Ok(v),
        Err(Error::Inner(e)) => Called::Failed(e),
        Err(_) => Called::Rejected,
    }
}

/// The timed loop of every contender of the group (the harness's loop for the
/// workloads they run, `closed_success` and `open_reject`), one copy for all.
#[inline(never)]
pub(crate) fn watched_loop(cb: &CircuitBreaker, iters: u64) {
    for i in 0..iters {
        black_box(guarded(cb, || backend(i, false)));
    }
}

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
        guarded(&self.cb, op)
    }

    fn run(&self, _workload: Workload, iters: u64, _thread: usize) {
        watched_loop(&self.cb, iters);
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
        guarded(&self.cb, op)
    }

    fn run(&self, _workload: Workload, iters: u64, _thread: usize) {
        watched_loop(&self.cb, iters);
    }
}

/// No backend: the group's reference, measured before the backends.
pub(crate) struct Unwatched;
/// No backend, measured again right after the backends: the A/A control.
pub(crate) struct Again;

impl Kind for Unwatched {
    const NAME: &'static str = METRICS_UNWATCHED;
    fn attach(
        builder: warden_breaker::Builder,
    ) -> (Arc<CircuitBreaker>, Box<dyn std::any::Any + Send + Sync>) {
        let cb = Arc::new(builder.build().expect("valid benchmark settings"));
        (cb, Box::new(()))
    }
}

impl Kind for Again {
    const NAME: &'static str = BASELINE_AGAIN;
    fn attach(
        builder: warden_breaker::Builder,
    ) -> (Arc<CircuitBreaker>, Box<dyn std::any::Any + Send + Sync>) {
        Unwatched::attach(builder)
    }
}
