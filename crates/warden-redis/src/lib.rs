//! Fleet-wide circuit breakers on Redis.
//!
//! Every instance of a service keeps its own lock-free
//! [`CircuitBreaker`](warden_breaker::CircuitBreaker) for each dependency; a
//! [`Fleet`] (one per instance: one Redis connection and one background task,
//! plus a connection and a task listening for change notices) makes
//! the instances' breakers of the same name act as one:
//!
//! * **Shared trip decisions.** Every [`slice`](FleetConfig::slice) (100 ms by
//!   default) the task makes one Redis round trip (a pipeline): it reads the
//!   fleet's change log and, for each breaker with news (calls since the last
//!   slice, a probe, a change another instance announced), runs one Lua script that
//!   publishes what the local breaker gained and returns the fleet-wide counts and
//!   state. An idle breaker costs nothing. The local breaker's own policy
//!   (`ready_to_trip`, or its count or time window) is applied to the fleet-wide
//!   counts, so failures spread thinly over many instances trip them all. A local
//!   trip is reported too (see
//!   [`propagate_local_trips`](FleetConfig::propagate_local_trips)).
//! * **Shared state.** The open decision, with its generation and deadline (on the
//!   Redis server's clock), lives in Redis. A failure that opens a local breaker
//!   wakes the task, which publishes the trip at once (every breaker that tripped
//!   meanwhile in the same pipelined round trip), and every transition is
//!   announced twice: a change notice through pub/sub, which every other instance
//!   hears on a connection of its own and answers by syncing that breaker at
//!   once, so an open reaches every instance within a few round trips of the trip,
//!   whatever the slice; and the fleet-wide change log, read every slice, so an
//!   instance that missed the notice (its listening connection was down) still
//!   learns it within one slice plus two round trips. Every instance forces its
//!   local breaker open; all turn half-open together when the fleet does.
//! * **Fleet-wide half-open.** At most `max_requests` probes run across the whole
//!   fleet per half-open generation: each probe holds a token (a sorted-set member
//!   with an expiry, [`probe_ttl`](FleetConfig::probe_ttl)) released when its
//!   outcome is reported, when it expires, or when its fleet stops
//!   ([`Fleet::shutdown`], drop), so an instance that dies holding one cannot
//!   strand the fleet. A report counts only if its token is still in Redis
//!   (fencing). `max_requests` successes close the fleet; a failure re-opens it.
//! * **Fleet-wide shedding.** A breaker with an
//!   [`AdaptiveThrottle`](warden_breaker::AdaptiveThrottle) never opens the fleet;
//!   instead, every slice, each instance publishes its own window (requests and
//!   accepts) and adds the other instances' to its rule
//!   ([`set_throttle_peers`](warden_breaker::CircuitBreaker::set_throttle_peers)),
//!   so every instance sheds the same share of its calls, judged on the whole
//!   fleet's calls. An instance's window stops counting 10 slices after it was
//!   last published; while Redis is away each instance sheds on its own window.
//! * **Redis down, slow or wrong.** No guarded call ever waits for Redis: the hot
//!   path is the local breaker's admission plus one relaxed load. Every round trip
//!   has a timeout; when one fails or the server refuses (out of memory, read-only),
//!   every breaker of the instance decides locally (its own trips still protect it),
//!   [`Coordination::LocalOnly`] is reported (status, `tracing` warning,
//!   [`on_coordination_change`](FleetConfig::on_coordination_change) for a metric),
//!   and the task retries with a backoff that only a fully successful slice resets.
//!   A breaker whose keys are unreadable ([`Coordination::BadKey`]) or whose
//!   settings differ from the fleet's ([`Coordination::SettingsMismatch`]) decides
//!   locally alone. A slice that takes longer than the slice marks the fleet
//!   [`lagging`](Fleet::lagging).
//!
//! # Consistency
//!
//! Counts are merged per slice, not per call: the fleet sees an instance's
//! outcomes up to one slice late, consecutive runs are merged in slice order (an
//! approximation when instances interleave), and outcomes recorded between a poll
//! and a local reset (an interval expiry or a state change) are not published.
//! Open, half-open and close are decided once, in Redis, with generations; an
//! instance may admit calls for a few round trips after the fleet opened (up to
//! one slice plus two round trips when it missed the change notice; a local trip
//! recorded other than through a [`FleetPermit`], e.g. through an
//! [`OwnedFleetPermit`] or on the local breaker itself, is published within a
//! fifth of a slice), and the local breaker's open backoff and half-open max wait are
//! not shared (the fleet uses the plain `timeout`). A count or time window's rate
//! rule is applied to the fleet's counts of its current generation (all calls
//! since the last transition or interval reset), not to the fleet's last N calls
//! or last span of time, and slow calls are judged locally only (a local trip
//! still reaches the fleet). Settings are not shared: an instance whose settings
//! differ from those the fleet's state was created with stays local.
//!
//! Under faults:
//!
//! * **Redis loses data** (a flush, a restart without persistence, a failover to a
//!   replica that missed writes): the state carries an incarnation id; an instance
//!   that held an open decision of another incarnation republishes it with the time
//!   it had left, so an open decision is never cut short while any instance that
//!   knew it is running. A half-open fleet is republished half-open. Counts of the
//!   current closed generation are lost. Probe tokens are lost, and the reports of
//!   their probes are ignored.
//! * **Clock skew**: instances' clocks never matter (Redis's `TIME` is the only
//!   clock, and instances get remaining durations). A Redis clock that steps back,
//!   or a failover to a server whose clock differs, cannot keep the fleet open for
//!   longer than the breaker's `timeout`; a clock that steps forward ends an open
//!   period early (by the step, at most the timeout).
//! * **Partition**: an instance cut off from Redis decides locally (a breaker the
//!   fleet held open stays open until the deadline it knew); the others go on as a
//!   fleet without it, and it rejoins (republishing an open decision Redis lost)
//!   when Redis is back.
//!
//! Keys expire ([`key_ttl`](FleetConfig::key_ttl), 10 min by default) when no
//! instance uses a name any more; an open decision's keys live until its deadline
//! plus that time.
//!
//! # Redis Cluster
//!
//! [`FleetConfig::cluster`] coordinates through a Redis Cluster. Every key of a
//! breaker shares one hash slot (`<ns>:{<name>}:…`, with `%`, `{` and `}` in the
//! name escaped and the empty name written `%`), so its script runs on the master
//! of that slot; the fleet's change log lives in a slot of its own
//! (`<ns>:{%log}:…`). A script cannot write both, so on a cluster it changes only
//! its breaker's keys and says when it made a transition, and the instance
//! announces the transition in the change log, with its change notice, in the
//! same round (the notice goes out as on one server; an idle instance that
//! missed it learns of the change within one slice plus three round trips). If
//! the instance dies between the script and the announcement, the change is not
//! announced: instances with traffic on that breaker still learn it at their
//! next sync, idle ones when they next have calls (or, for an open decision they
//! held, at its deadline). The notice listener subscribes on one of the nodes it
//! was given (a notice published on any node reaches every node) and moves to
//! the next when that connection breaks.
//! Commands go to their slots' masters concurrently instead of in one pipeline,
//! and the client follows slot moves and failovers. While a master is failing
//! over, round trips to it fail and the instance decides locally, as when Redis
//! is down; an open decision it held is kept and, if the promoted replica missed
//! it, republished.
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
mod track;

pub use breaker::{
    Coordination, FleetBreaker, FleetPermit, FleetStatus, FleetView, OwnedFleetPermit,
};
pub use config::{
    DEFAULT_KEY_TTL, DEFAULT_NAMESPACE, DEFAULT_PROBE_TTL, DEFAULT_RECONNECT_MAX,
    DEFAULT_REDIS_TIMEOUT, DEFAULT_SLICE, FleetConfig, FleetError,
};
pub use fleet::{Fleet, FleetStats};
