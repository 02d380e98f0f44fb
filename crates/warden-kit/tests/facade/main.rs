//! The facade's integration tests, in one binary (one link).

#[cfg(feature = "tokio")]
mod asynch;
mod config;
#[cfg(feature = "metrics")]
mod metrics;
mod names;
#[cfg(feature = "tokio")]
mod pipeline;
mod policies;
mod presets;
mod reconfigure;
mod registry;
mod status;
#[cfg(all(feature = "otel", feature = "metrics-facade", feature = "tracing"))]
mod telemetry;
#[cfg(feature = "tower")]
mod tower;
