//! Preconfigured breakers, as in the Go `resilience` package (`NewKafkaCircuitBreaker()`
//! and friends): each returns a core [`Builder`] named after its dependency,
//! to build directly or to adjust first. The settings, and why, are on
//! [`BreakerConfig`]'s presets, which the [`Registry`](crate::Registry) uses.
//!
//! ```
//! let kafka = warden_kit::presets::kafka().build()?;
//! assert_eq!(kafka.name(), "kafka");
//! let payments = warden_kit::presets::default("payments")
//!     .on_state_change(|name, from, to| eprintln!("{name}: {from} -> {to}"))
//!     .build()?;
//! assert_eq!(payments.settings().timeout().as_secs(), 60);
//! # Ok::<(), warden_kit::breaker::ConfigError>(())
//! ```

use warden_breaker::Builder;

use crate::BreakerConfig;

/// A breaker named `kafka` with [`BreakerConfig::kafka`]'s settings.
///
/// ```
/// let cb = warden_kit::presets::kafka().build()?;
/// assert_eq!((cb.settings().max_requests(), cb.settings().timeout().as_secs()), (5, 30));
/// # Ok::<(), warden_kit::breaker::ConfigError>(())
/// ```
pub fn kafka() -> Builder {
    BreakerConfig::kafka().builder("kafka")
}

/// A breaker named `clickhouse` with [`BreakerConfig::clickhouse`]'s settings.
///
/// ```
/// let cb = warden_kit::presets::clickhouse().build()?;
/// assert_eq!((cb.settings().max_requests(), cb.settings().timeout().as_secs()), (1, 60));
/// # Ok::<(), warden_kit::breaker::ConfigError>(())
/// ```
pub fn clickhouse() -> Builder {
    BreakerConfig::clickhouse().builder("clickhouse")
}

/// A breaker named `notification` with [`BreakerConfig::notification`]'s
/// settings.
///
/// ```
/// let cb = warden_kit::presets::notification().build()?;
/// assert_eq!((cb.settings().max_requests(), cb.settings().timeout().as_secs()), (2, 15));
/// # Ok::<(), warden_kit::breaker::ConfigError>(())
/// ```
pub fn notification() -> Builder {
    BreakerConfig::notification().builder("notification")
}

/// A breaker named `name` with [`BreakerConfig::default`]'s settings
/// (gobreaker's defaults).
///
/// ```
/// use warden_kit::{Counts, State};
/// let cb = warden_kit::presets::default("inventory").build()?;
/// assert_eq!(cb.name(), "inventory");
/// assert!(!cb.settings().ready_to_trip(&Counts { consecutive_failures: 5, ..Counts::default() }));
/// assert!(cb.settings().ready_to_trip(&Counts { consecutive_failures: 6, ..Counts::default() }));
/// # let _ = State::Closed;
/// # Ok::<(), warden_kit::breaker::ConfigError>(())
/// ```
pub fn default(name: &str) -> Builder {
    BreakerConfig::default().builder(name)
}
