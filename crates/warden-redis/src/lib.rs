//! Fleet-wide circuit breakers on Redis.
//!
//! Every instance of a service keeps its own lock-free
//! [`CircuitBreaker`](warden_breaker::CircuitBreaker) for each dependency; a
//! [`Fleet`] (one per instance: one Redis connection, one background task) makes
//! the instances' breakers of the same name act as one:
//!
//! * **Shared trip decisions.** Every [`slice`](FleetConfig::slice) (100 ms by
//!   default) the task reads each local breaker's counts, publishes what they
//!   gained since the last slice and gets the fleet-wide counts back, in one Lua
//!   script (one Redis round trip per breaker per slice, whatever the traffic). The
//!   local breaker's own policy (`ready_to_trip`, or its count or time window) is applied to
//!   the fleet-wide counts, so failures spread thinly over many instances trip them
//!   all. A local trip is reported too (see
//!   [`propagate_local_trips`](FleetConfig::propagate_local_trips)).
//! * **Shared state.** The open decision, with its generation and deadline (on the
//!   Redis server's clock), lives in Redis; each instance learns it within one
//!   slice plus a round trip and forces its local breaker open; all turn half-open
//!   together when the fleet does.
//! * **Fleet-wide half-open.** At most `max_requests` probes run across the whole
//!   fleet per half-open generation: each probe holds a token (a sorted-set member
//!   with an expiry, [`probe_ttl`](FleetConfig::probe_ttl)) released when its
//!   outcome is reported or when it expires, so an instance that dies holding one
//!   cannot strand the fleet. `max_requests` successes close the fleet; a failure
//!   re-opens it.
//! * **Redis down or slow.** No guarded call ever waits for Redis: the hot path is
//!   the local breaker's admission plus one relaxed load. Every Redis command has a
//!   timeout; when one fails, every breaker of the instance decides locally (its own
//!   trips still protect it), [`Coordination::LocalOnly`] is reported (status,
//!   `tracing` warning, [`on_coordination_change`](FleetConfig::on_coordination_change)
//!   for a metric), and the task reconnects with backoff and rejoins.
//!
//! # Consistency
//!
//! Counts are merged per slice, not per call: the fleet sees an instance's
//! outcomes up to one slice late, consecutive runs are merged in slice order (an
//! approximation when instances interleave), and outcomes recorded between a poll
//! and a local reset (an interval expiry or a state change) are not published.
//! Open, half-open and close are decided once, in Redis, with generations; an
//! instance may admit calls for up to one slice plus a round trip after the fleet
//! opened, and the local breaker's open backoff and half-open max wait are not
//! shared (the fleet uses the plain `timeout`). A count or time window's rate rule
//! is applied to the fleet's counts of its current generation (all calls since the
//! last transition or interval reset), not to the fleet's last N calls or last span
//! of time, and slow calls are judged locally only (a local trip still reaches the
//! fleet). Settings are not shared:
//! every instance must build its breaker of a name with the same settings.
//!
//! # Example
//!
//! ```no_run
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use warden_breaker::{CircuitBreaker, Error};
//! use warden_redis::{Fleet, FleetConfig};
//!
//! let fleet = Fleet::start(FleetConfig::new("redis://127.0.0.1:6379/").namespace("shop"))?;
//! let db = fleet.attach(Arc::new(
//!     CircuitBreaker::builder("postgres").timeout(Duration::from_secs(10)).build()?,
//! ))?;
//! match db.call(|| Ok::<_, std::io::Error>(42)) {
//!     Ok(n) => assert_eq!(n, 42),
//!     Err(Error::Rejected(_)) => { /* the fleet says no: shed */ }
//!     Err(Error::Inner(e)) => eprintln!("query failed: {e}"),
//! }
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]
#![doc(test(attr(deny(warnings))))]

mod breaker;
mod config;
mod delta;
mod fleet;
mod script;

pub use breaker::{
    Coordination, FleetBreaker, FleetPermit, FleetStatus, FleetView, OwnedFleetPermit,
};
pub use config::{
    DEFAULT_NAMESPACE, DEFAULT_PROBE_TTL, DEFAULT_RECONNECT_MAX, DEFAULT_REDIS_TIMEOUT,
    DEFAULT_SLICE, FleetConfig, FleetError,
};
pub use fleet::{Fleet, FleetStats};
