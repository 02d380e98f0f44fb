//! The facade (`warden-kit`) with each metrics backend on: a prebuilt
//! pipeline with only its name's breaker (`Registry::pipeline`, built once),
//! in a registry without metrics (`warden-kit`) and in registries given
//! Prometheus (`warden-kit-prometheus`, `RegistryBuilder::metrics`),
//! OpenTelemetry (`warden-kit-otel`, `RegistryBuilder::otel`) or the `metrics`
//! facade (`warden-kit-metrics-rs`, `RegistryBuilder::metrics_facade`). Each
//! backend reads the breaker's totals and the name's caller counts when it
//! collects, so their figures against `warden-kit`'s are what exporting
//! metrics costs a guarded call through the facade (the target: at most
//! 1 ns). They run `closed_success` and `open_reject`, the workloads whose
//! paths record a total per call. `warden-kit-again` ([`NoMetricsAgain`]) is
//! `warden-kit` measured a second time, right after the backends: the A/A
//! control that shows the report how far this run's figures move without any
//! difference in the code. All five run one copy of the loop
//! ([`pipeline_loop`]), so their figures differ only in the registry behind
//! the pipeline, not in where the compiler placed each contender's copy of the
//! harness's loop.
//!
//! Also compiled into `examples/facade_loop.rs`, which counts the
//! instructions of the same calls under callgrind.

use std::any::Any;
use std::hint::black_box;
use std::marker::PhantomData;
use std::sync::Arc;

use opentelemetry::metrics::MeterProvider;
use warden_benches::contenders::trip;
use warden_benches::harness::{Called, Contender, Workload, backend};
use warden_kit::telemetry::metrics_facade::MetricsFacade;
use warden_kit::telemetry::otel::OtelMetrics;
use warden_kit::{ExecuteError, Execution, Pipeline, Registry, RegistryBuilder, State};

/// The name every facade contender's pipeline uses.
const NAME: &str = "db";

/// Which metrics backend the registry is given.
pub(crate) trait Backend: Send + Sync + 'static {
    /// The contender's name.
    const NAME: &'static str;
    /// Gives the backend to the builder; returns what must live as long as
    /// the registry.
    fn attach(builder: RegistryBuilder) -> (RegistryBuilder, Box<dyn Any + Send + Sync>);
}

/// No metrics.
pub(crate) struct NoMetrics;
/// No metrics, under the A/A control's name (the same registry and pipeline
/// as [`NoMetrics`]).
pub(crate) struct NoMetricsAgain;
/// `warden-prometheus`'s collector.
pub(crate) struct Prometheus;
/// OpenTelemetry observable instruments (an SDK meter provider).
pub(crate) struct Otel;
/// The `metrics` facade exporter (no recorder installed: its exports, at
/// transitions, are no-ops; calls never export).
pub(crate) struct MetricsRs;

impl Backend for NoMetrics {
    const NAME: &'static str = "warden-kit";
    fn attach(builder: RegistryBuilder) -> (RegistryBuilder, Box<dyn Any + Send + Sync>) {
        (builder, Box::new(()))
    }
}

impl Backend for NoMetricsAgain {
    const NAME: &'static str = warden_benches::report::FACADE_BASELINE_AGAIN;
    fn attach(builder: RegistryBuilder) -> (RegistryBuilder, Box<dyn Any + Send + Sync>) {
        NoMetrics::attach(builder)
    }
}

impl Backend for Prometheus {
    const NAME: &'static str = "warden-kit-prometheus";
    fn attach(builder: RegistryBuilder) -> (RegistryBuilder, Box<dyn Any + Send + Sync>) {
        let registry = warden_kit::metrics::prometheus::Registry::new();
        let metrics = warden_kit::metrics::Metrics::register(&registry).expect("a fresh registry");
        (builder.metrics(metrics), Box::new(registry))
    }
}

impl Backend for Otel {
    const NAME: &'static str = "warden-kit-otel";
    fn attach(builder: RegistryBuilder) -> (RegistryBuilder, Box<dyn Any + Send + Sync>) {
        let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder().build();
        let otel = OtelMetrics::register(&provider.meter("bench"));
        (builder.otel(otel), Box::new(provider))
    }
}

impl Backend for MetricsRs {
    const NAME: &'static str = "warden-kit-metrics-rs";
    fn attach(builder: RegistryBuilder) -> (RegistryBuilder, Box<dyn Any + Send + Sync>) {
        let facade = Arc::new(MetricsFacade::new());
        (
            builder.metrics_facade(Arc::clone(&facade)),
            Box::new(facade),
        )
    }
}

/// A prebuilt pipeline of a registry given backend `B`.
pub(crate) struct Facade<B: Backend> {
    pipeline: Pipeline<u64, u64>,
    registry: Registry,
    _keep: Box<dyn Any + Send + Sync>,
    _backend: PhantomData<B>,
}

impl<B: Backend> std::fmt::Debug for Facade<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(B::NAME)
    }
}

/// Maps an execution to what the harness checks.
#[inline]
fn called(ex: &Execution<u64, u64>) -> Called {
    match (ex.value(), ex.error()) {
        (Some(v), _) => Called::Ok(*v),
        (None, Some(ExecuteError::Inner(e))) => Called::Failed(*e),
        _ => Called::Rejected,
    }
}

/// One guarded call through `pipeline`, as every facade contender makes it.
#[inline]
fn through(pipeline: &Pipeline<u64, u64>, op: impl FnOnce() -> Result<u64, u64>) -> Called {
    // `execute` takes an `FnMut`: the harness's operation runs once.
    let mut op = Some(op);
    called(&pipeline.execute(|| op.take().map_or(Err(u64::MAX), |op| op())))
}

/// The timed loop of every facade contender (the harness's loop for the
/// workloads they run), one copy for all.
#[inline(never)]
pub(crate) fn pipeline_loop(pipeline: &Pipeline<u64, u64>, iters: u64) {
    for i in 0..iters {
        black_box(through(pipeline, || backend(i, false)));
    }
}

impl<B: Backend> Contender for Facade<B> {
    const NAME: &'static str = B::NAME;

    fn prepare(workload: Workload, _calls: u64) -> Option<Self> {
        if !matches!(workload, Workload::ClosedSuccess | Workload::OpenReject) {
            return None;
        }
        // The default configuration is the other contenders' (more than 5
        // consecutive failures trip, 60 s open, one half-open probe).
        let (builder, keep) = B::attach(Registry::builder());
        let registry = builder.build().expect("valid benchmark settings");
        let pipeline = registry.pipeline(NAME).expect("a running registry");
        let this = Facade {
            pipeline,
            registry,
            _keep: keep,
            _backend: PhantomData,
        };
        let want = if workload == Workload::OpenReject {
            trip(&this);
            State::Open
        } else {
            State::Closed
        };
        assert_eq!(this.pipeline.state(), want);
        assert!(this.registry.breaker(NAME).is_ok());
        Some(this)
    }

    #[inline]
    fn call(&self, op: impl FnOnce() -> Result<u64, u64>) -> Called {
        through(&self.pipeline, op)
    }

    fn run(&self, _workload: Workload, iters: u64, _thread: usize) {
        pipeline_loop(&self.pipeline, iters);
    }
}
