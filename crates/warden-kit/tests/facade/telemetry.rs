//! The telemetry backends wired by one builder call each: every breaker the
//! registry creates is watched, and its state changes reach the backends.

use std::sync::Arc;

use opentelemetry::metrics::MeterProvider;
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use warden_kit::telemetry::events::Tracing;
use warden_kit::telemetry::metrics_facade::MetricsFacade;
use warden_kit::telemetry::otel::OtelMetrics;
use warden_kit::{Registry, State};

#[test]
fn every_backend_sees_every_breaker_the_registry_creates() {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    let facade = Arc::new(MetricsFacade::new());
    let tracing = Arc::new(Tracing::new());
    let registry = Registry::builder()
        .otel(OtelMetrics::register(&provider.meter("warden")))
        .metrics_facade(facade.clone())
        .tracing(tracing.clone())
        .build()
        .unwrap();
    for name in ["a", "b"] {
        let _ = registry.pipeline(name).unwrap().execute(|| Ok::<_, ()>(()));
    }
    assert_eq!(facade.export(), 2);
    let db = registry.breaker("a").unwrap();
    db.breaker().force_open();
    let _ = registry.pipeline("a").unwrap().execute(|| Ok::<_, ()>(())); // refused
    // The transition back to closed reports the one rejection.
    db.breaker().reset();
    assert_eq!(db.state(), State::Closed);
    assert_eq!(
        tracing.report_all(),
        0,
        "already reported at the transition"
    );

    provider.force_flush().unwrap();
    let names: Vec<String> = exporter
        .get_finished_metrics()
        .unwrap()
        .iter()
        .flat_map(|rm| rm.scope_metrics())
        .flat_map(|s| s.metrics().map(|m| m.name().to_owned()))
        .collect();
    assert!(
        names.contains(&"warden.circuit_breaker.rejections".to_owned()),
        "{names:?}"
    );
    provider.shutdown().unwrap();
}
