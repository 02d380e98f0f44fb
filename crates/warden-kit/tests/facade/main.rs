//! The facade's integration tests, in one binary (one link).

#[cfg(feature = "tokio")]
mod asynch;
mod config;
#[cfg(feature = "metrics")]
mod metrics;
mod names;
mod policies;
mod presets;
mod reconfigure;
mod registry;
mod status;
