//! The facade's integration tests, in one binary (one link).

mod asynch;
mod config;
mod metrics;
mod presets;
mod registry;
