//! [`Registry`]: named breakers, created on first use, with `execute` paths,
//! bulkheads, timeouts and a lifecycle.
//!
//! # Lookup
//!
//! The names live in a [`papaya::HashMap`], a lock-free concurrent map: a
//! lookup pins the map (a thread-local epoch guard, no lock, no write to a
//! shared line) and probes it; inserting or removing a name changes one slot,
//! so the 100,000th name costs what the first does. It was chosen by
//! measuring the candidates (papaya, scc's `HashIndex`, dashmap, and the
//! copy-on-write map behind `arc-swap` it replaced): papaya and the
//! copy-on-write map read at the same cost, dashmap's reads take a shard's
//! read lock (a write to a shared line, which costs two threads calling one
//! name), and the copy-on-write map copies every name on each insert. papaya
//! also never clones a value to resize, so a name's entry is held exactly
//! once by the map, which eviction relies on to see unused entries.
//! Creating, removing and evicting names take a mutex (cold paths), which also
//! guarantees exactly one breaker per name however many threads race to
//! create it.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use warden_breaker::{CircuitBreaker, Clock, Counts, Mode, Outcome, QuantaClock, Rejected, State};
use warden_retry::{RetryPolicy, StopReason};

use crate::bulkhead::BulkheadPermit;
use crate::quote::{QUOTE_MAX, bounded};
use crate::{BreakerConfig, Bulkhead, ConfigError, ExecuteError, RegistryConfig};

type StateChangeFn = dyn Fn(&str, State, State) + Send + Sync;
/// foldhash: a name is hashed on every lookup, and SipHash (std's default) costs
/// more than the rest of the lookup; foldhash keeps a per-process random seed.
type Map = papaya::HashMap<Box<str>, Arc<Entry>, foldhash::fast::RandomState>;

/// `State::Closed` as `Entry::last_state` stores it.
const CLOSED: u8 = 0;

/// The default [`RegistryBuilder::max_name_len`].
pub const DEFAULT_MAX_NAME_LEN: usize = 256;

/// How many queued names a creation at the cap looks at for one it may evict,
/// so a full registry whose names all carry information answers in bounded
/// time instead of scanning every name.
const EVICTION_PROBES: usize = 32;

/// A clock shared by every breaker of a registry.
#[derive(Clone, Debug)]
struct SharedClock(Arc<dyn Clock>);

impl Clock for SharedClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        self.0.now_nanos()
    }
}

/// The registry's clock as a name's calls read it (a pipeline reads it twice
/// per call, for `Execution::elapsed`): the default clock read in place, any
/// other through its pointer.
#[derive(Clone, Debug)]
pub(crate) enum CallClock {
    Quanta(QuantaClock),
    Shared(Arc<dyn Clock>),
}

impl CallClock {
    fn of(clock: &Arc<dyn Clock>) -> Self {
        let any: &dyn std::any::Any = &**clock;
        match any.downcast_ref::<QuantaClock>() {
            Some(quanta) => CallClock::Quanta(quanta.clone()),
            None => CallClock::Shared(Arc::clone(clock)),
        }
    }

    #[inline]
    pub(crate) fn now_nanos(&self) -> u64 {
        match self {
            CallClock::Quanta(clock) => clock.now_nanos(),
            CallClock::Shared(clock) => clock.now_nanos(),
        }
    }
}

/// What only the registry knows about a call, for the metrics.
#[derive(Clone, Default)]
pub(crate) struct Hooks {
    #[cfg(feature = "metrics")]
    metrics: Option<warden_prometheus::BreakerMetrics>,
    /// The counts the other metrics backends read (see `backends.rs`).
    pub(crate) telemetry: crate::backends::Counting,
}

impl Hooks {
    #[inline]
    pub(crate) fn timed_out(&self) {
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.metrics {
            m.record_timeout();
        }
        self.telemetry.timed_out();
    }

    #[inline]
    pub(crate) fn bulkhead_full(&self) {
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.metrics {
            m.record_bulkhead_rejection();
        }
        self.telemetry.bulkhead_full();
    }
}

/// Why a registry operation failed.
///
/// ```
/// let registry = warden_kit::Registry::builder().build()?;
/// registry.shutdown();
/// assert!(matches!(registry.breaker("db"), Err(warden_kit::RegistryError::Shutdown)));
/// # Ok::<(), warden_kit::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `configure` came after the name's breaker was created: change a breaker
    /// in use with [`Registry::reconfigure`].
    #[error(
        "breaker {name:?} already exists; configure sets up a name before its first use, reconfigure changes a breaker in use"
    )]
    AlreadyCreated {
        /// The name (at most 64 bytes of it).
        name: String,
    },
    /// [`Registry::reconfigure`] named a breaker that neither exists nor is
    /// configured.
    #[error("breaker {name:?} is neither in use nor configured: nothing to reconfigure")]
    NotFound {
        /// The name (at most 64 bytes of it).
        name: String,
    },
    /// The registry has been shut down.
    #[error("registry is shut down")]
    Shutdown,
    /// The name was refused (too long, not configured in a strict registry,
    /// or the registry is full).
    #[error(transparent)]
    Name(#[from] NameError),
}

/// Why a registry refused a new name.
///
/// ```
/// use warden_kit::{NameError, Registry, RegistryError};
/// let registry = Registry::builder().max_breakers(1).build()?;
/// let db = registry.breaker("db")?;
/// assert!(matches!(registry.breaker("cache"), Err(RegistryError::Name(NameError::Full { max: 1 }))));
/// # drop(db);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The name is longer than [`RegistryBuilder::max_name_len`].
    #[error("breaker name of {len} bytes is longer than the maximum {max}: {prefix:?}")]
    TooLong {
        /// The name's length in bytes.
        len: usize,
        /// The maximum.
        max: usize,
        /// The name's first 64 bytes at most.
        prefix: String,
    },
    /// The registry is [strict](RegistryBuilder::strict) and the name was
    /// not configured.
    #[error("breaker {name:?} is not configured and the registry only takes configured names")]
    NotConfigured {
        /// The name (at most 64 bytes of it).
        name: String,
    },
    /// The registry holds [`max_breakers`](RegistryBuilder::max_breakers)
    /// names and none of those it looked at can be evicted (each carries
    /// information or is in use), and no overflow breaker was chosen.
    #[error("registry is full: {max} breakers, none of them idle")]
    Full {
        /// The cap.
        max: usize,
    },
}

/// A name's status, as [`Registry::list`] reports it.
///
/// ```
/// let registry = warden_kit::Registry::builder().build()?;
/// let _ = registry.pipeline("db")?.execute(|| Ok::<_, ()>(()));
/// let status = &registry.list()[0];
/// assert_eq!((status.name.as_str(), status.counts.total_successes), ("db", 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct BreakerStatus {
    /// The breaker's name.
    pub name: String,
    /// Its state (a due transition is made first).
    pub state: State,
    /// Its counts in the current generation.
    pub counts: Counts,
    /// Calls running now through its bulkhead, if it has one.
    pub in_flight: Option<u32>,
    /// Its bulkhead size, if it has one.
    pub max_concurrent: Option<u32>,
    /// How hard its adaptive throttle sheds calls, if its trip rule is one
    /// ([`TripRule::Adaptive`](crate::TripRule::Adaptive)): a throttle
    /// rejects calls while the breaker stays [`State::Closed`], which `state`
    /// alone does not show.
    pub throttle: Option<ThrottleStatus>,
    /// The fleet's state of this name as last read from Redis, with a
    /// [`RegistryBuilder::fleet`] (feature `redis`); `None` without a fleet,
    /// before the first read and while Redis is unreachable.
    #[cfg(feature = "redis")]
    pub fleet: Option<warden_redis::FleetView>,
    /// Whether this name is coordinated through Redis right now, with a
    /// [`RegistryBuilder::fleet`] (feature `redis`); `None` without a fleet.
    #[cfg(feature = "redis")]
    pub coordination: Option<warden_redis::Coordination>,
}

/// An adaptive throttle's status, as [`BreakerStatus::throttle`] reports it.
///
/// `reject_ppm` is an integer (parts per million) so that statuses compare
/// exactly (`BreakerStatus` is `Eq`). The window's counts are this
/// instance's own at the time of the read, the inputs of the throttle's
/// formula, `(requests - k * accepts) / (requests + 1)`. The probability is
/// the throttle's last evaluation, which outcomes bring up to date, and with a
/// fleet (feature `redis`) it also counts the other instances' window, so the
/// two may differ a little.
///
/// ```
/// use std::time::Duration;
/// use warden_kit::{BreakerConfig, Registry, ThrottleStatus, TripRule};
/// let registry = Registry::builder()
///     .configure(
///         "api",
///         BreakerConfig::default().with_trip(TripRule::Adaptive {
///             window: Duration::from_secs(10),
///             buckets: 10,
///             k: 2.0,
///             min_requests: 1,
///             max_reject_percent: 100,
///         }),
///     )
///     .build()?;
/// let _ = registry.pipeline("api")?.execute(|| Err::<(), _>("503"));
/// let _ = registry.pipeline("db")?.execute(|| Ok::<_, ()>(()));
/// let list = registry.list();
/// // (1 - 2 * 0) / (1 + 1): half the calls are rejected, the breaker is closed.
/// let api = list[0].throttle.expect("a throttle");
/// assert_eq!((api.reject_ppm, api.requests, api.accepts), (500_000, 1, 0));
/// assert_eq!(api.reject_probability(), 0.5);
/// assert_eq!(list[1].throttle, None::<ThrottleStatus>); // "db" has no throttle
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ThrottleStatus {
    /// The probability with which the throttle rejects a call now, in parts per
    /// million (0..=1,000,000, rounded to the nearest):
    /// [`CircuitBreaker::throttle_probability`](warden_breaker::CircuitBreaker::throttle_probability)
    /// times 10^6. 0 while the breaker is not closed by its rules.
    pub reject_ppm: u32,
    /// The calls its window holds (successes, failures and the calls it shed):
    /// [`CircuitBreaker::throttle_window`](warden_breaker::CircuitBreaker::throttle_window)'s
    /// first count.
    pub requests: u64,
    /// The successes its window holds: `throttle_window`'s second count.
    pub accepts: u64,
}

impl ThrottleStatus {
    /// Reads `breaker`'s throttle; `None` if its trip rule is not an adaptive
    /// throttle.
    fn of(breaker: &CircuitBreaker) -> Option<Self> {
        let (requests, accepts) = breaker.throttle_window()?;
        // In 0..=1: rounds into 0..=1_000_000.
        let reject_ppm = (breaker.throttle_probability() * 1e6).round() as u32;
        Some(Self {
            reject_ppm,
            requests,
            accepts,
        })
    }

    /// `reject_ppm` as a probability, 0 to 1.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use warden_kit::{BreakerConfig, Registry, TripRule};
    /// # let registry = Registry::builder()
    /// #     .default_config(BreakerConfig::default().with_trip(TripRule::Adaptive {
    /// #         window: Duration::from_secs(10), buckets: 10, k: 2.0, min_requests: 10, max_reject_percent: 100,
    /// #     }))
    /// #     .build()?;
    /// let _ = registry.pipeline("api")?.execute(|| Ok::<_, ()>(()));
    /// assert_eq!(registry.list()[0].throttle.map(|t| t.reject_probability()), Some(0.0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reject_probability(&self) -> f64 {
        f64::from(self.reject_ppm) / 1e6
    }
}

/// The breaker permit of one attempt: the local breaker's, or (with a fleet) the
/// fleet breaker's, which also carries a fleet half-open probe token.
pub(crate) enum AttemptPermit<'a> {
    Local(warden_breaker::Permit<'a>),
    #[cfg(feature = "redis")]
    Fleet(warden_redis::FleetPermit<'a>),
}

impl AttemptPermit<'_> {
    #[inline]
    pub(crate) fn record(self, outcome: Outcome) {
        match self {
            AttemptPermit::Local(p) => p.record(outcome),
            #[cfg(feature = "redis")]
            AttemptPermit::Fleet(p) => p.record(outcome),
        }
    }
}

/// Why a name got no breaker.
#[derive(Debug)]
enum NotRun {
    Shutdown,
    Config(ConfigError),
    Name(NameError),
}

/// One name: its breaker and what goes around it.
pub(crate) struct Entry {
    pub(crate) breaker: Arc<CircuitBreaker>,
    /// The name, shared with the errors that name this breaker (a reference
    /// count per rejection, no copy of the name).
    pub(crate) name: Arc<str>,
    /// The breaker's fleet-wide coordination, with a `RegistryBuilder::fleet`.
    #[cfg(feature = "redis")]
    fleet: Option<warden_redis::FleetBreaker>,
    /// The name's concurrency limit; `max` 0 is no bulkhead (nothing counted).
    /// Resized by `Registry::reconfigure`.
    pub(crate) bulkhead: Bulkhead,
    /// The configuration in force, replaced whole by `Registry::reconfigure`
    /// (read by the async calls for their timeout, and by eviction).
    pub(crate) config: ArcSwap<BreakerConfig>,
    /// Whether `config` is the name's own (a configured name is never evicted);
    /// set by `Registry::reconfigure`. Read and written under the registry's mutex.
    configured: AtomicBool,
    /// Set by `Registry::shutdown`; read on every call.
    shut_down: AtomicBool,
    /// Set by calls (only when clear: a load on the hot path), cleared by the
    /// idle sweep; next to `shut_down`, which every call reads anyway.
    used: AtomicBool,
    /// When the idle sweep last saw `used` set (clock nanoseconds); written
    /// under the registry's mutex.
    idle_since: AtomicU64,
    /// The state the breaker's last transition went to (`State::as_gauge`),
    /// written by its state-change callback: eviction reads it before asking
    /// the breaker, so a breaker that may be open is never asked under the
    /// registry's mutex (asking can run callbacks, which may call back in).
    last_state: Arc<AtomicU8>,
    pub(crate) clock: CallClock,
    pub(crate) hooks: Hooks,
}

impl Entry {
    /// The error of a call this breaker refused, naming it.
    #[cold]
    fn rejected<E>(&self, rejected: Rejected) -> ExecuteError<E> {
        ExecuteError::Rejected {
            breaker: Arc::clone(&self.name),
            rejected,
        }
    }

    fn status(&self) -> BreakerStatus {
        BreakerStatus {
            name: self.breaker.name().to_owned(),
            state: self.breaker.state(),
            counts: self.breaker.counts(),
            in_flight: self.bulkhead().map(Bulkhead::in_flight),
            max_concurrent: self.bulkhead().map(Bulkhead::max),
            throttle: ThrottleStatus::of(&self.breaker),
            #[cfg(feature = "redis")]
            fleet: self.fleet.as_ref().and_then(|f| f.fleet_state()),
            #[cfg(feature = "redis")]
            coordination: self.fleet.as_ref().map(|f| f.coordination()),
        }
    }

    /// The bulkhead, if the name has one now.
    fn bulkhead(&self) -> Option<&Bulkhead> {
        (self.bulkhead.max() != 0).then_some(&self.bulkhead)
    }

    #[inline]
    pub(crate) fn is_shut_down(&self) -> bool {
        // Relaxed: the flag publishes nothing; a call that starts after `shutdown`
        // returned (happens-after it) reads `true` by coherence.
        self.shut_down.load(Ordering::Relaxed)
    }

    /// Marks the entry used since the last idle sweep: a load, and a store only
    /// the first time after a sweep.
    #[inline]
    pub(crate) fn mark_used(&self) {
        // Relaxed: a hint for the idle sweep, which re-checks the breaker itself.
        if !self.used.load(Ordering::Relaxed) {
            self.used.store(true, Ordering::Relaxed);
        }
    }

    /// Calls admitted in the current generation that have not reported yet.
    fn unfinished(&self) -> u32 {
        let c = self.breaker.counts();
        let finished = u64::from(c.total_successes)
            + u64::from(c.total_failures)
            + u64::from(c.total_exclusions);
        let breaker = u64::from(c.requests).saturating_sub(finished);
        // Counted even without a limit now: calls admitted under an older one.
        let bulkhead = self.bulkhead.in_flight();
        u32::try_from(breaker).unwrap_or(u32::MAX).max(bulkhead)
    }

    /// Whether dropping this breaker loses nothing: not configured by name,
    /// following its state machine, closed, no failure in its
    /// window or streak (no slow call either, when slow calls are judged),
    /// and nothing in flight. `refs` is how many references the registry
    /// itself holds: one more means a kept handle or a running async call.
    fn carries_no_information(self: &Arc<Self>, refs: usize) -> bool {
        // A breaker in a fleet is judged the same way: what the fleet knows
        // lives in Redis, and a fleet-held open shows here as a forced mode.
        // Relaxed: written under the registry's mutex, which the callers hold.
        if self.configured.load(Ordering::Relaxed) || Arc::strong_count(self) > refs {
            return false;
        }
        // Relaxed: a hint; `state()` below confirms. A breaker whose last
        // transition went anywhere but closed carries information.
        if self.last_state.load(Ordering::Relaxed) != CLOSED {
            return false;
        }
        if self.breaker.mode() != Mode::Normal || self.breaker.state() != State::Closed {
            return false;
        }
        let c = self.breaker.counts();
        if c.total_failures != 0 || c.consecutive_failures != 0 {
            return false;
        }
        // Slow successes are not in `Counts`: any outcome may have been slow.
        if self.config.load().slow_calls().is_some() && c.total_successes != 0 {
            return false;
        }
        self.unfinished() == 0
    }

    /// Admission of one attempt, shared by the sync and async paths: the shutdown
    /// check, a bulkhead slot (if the name has a bulkhead), then a breaker permit.
    /// Always inlined: called out of line it costs a pipeline call a fifth
    /// more instructions (the frame and the permits returned through memory).
    #[inline(always)]
    pub(crate) fn admit<E>(
        &self,
    ) -> Result<(Option<BulkheadPermit<'_>>, AttemptPermit<'_>), ExecuteError<E>> {
        if self.is_shut_down() {
            return Err(ExecuteError::Shutdown);
        }
        self.mark_used();
        // One read of the limit: a concurrent resize applies from the next call.
        let slot = match self.bulkhead.max() {
            0 => None,
            max => match self.bulkhead.try_acquire_below(max) {
                Some(slot) => Some(slot),
                None => {
                    self.hooks.bulkhead_full();
                    return Err(ExecuteError::BulkheadFull {
                        breaker: Arc::clone(&self.name),
                        max_concurrent: max,
                    });
                }
            },
        };
        #[cfg(feature = "redis")]
        if let Some(fleet) = &self.fleet {
            let permit = fleet.try_acquire().map_err(|r| self.rejected(r))?;
            return Ok((slot, AttemptPermit::Fleet(permit)));
        }
        let permit = self.breaker.try_acquire().map_err(|r| self.rejected(r))?;
        Ok((slot, AttemptPermit::Local(permit)))
    }
}

/// A handle to one named breaker of a [`Registry`], for callers that keep it
/// instead of looking the name up on every call. Cheap to clone.
///
/// Its [`pipeline`](Self::pipeline) runs calls; they give
/// [`ExecuteError::Shutdown`] once the registry is shut down.
///
/// ```
/// let registry = warden_kit::Registry::builder().build()?;
/// let kafka = registry.breaker("kafka")?;
/// let ex = kafka.pipeline().execute(|| Ok::<_, std::io::Error>("sent"));
/// assert_eq!(ex.value(), Some(&"sent"));
/// assert_eq!(kafka.counts().total_successes, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct NamedBreaker {
    entry: Arc<Entry>,
}

impl fmt::Debug for NamedBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamedBreaker")
            .field("name", &self.name())
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl NamedBreaker {
    /// The name.
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().build()?;
    /// assert_eq!(r.breaker("db")?.name(), "db");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(&self) -> &str {
        self.entry.breaker.name()
    }

    /// The breaker's state (a due transition is made first).
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().build()?;
    /// assert_eq!(r.breaker("db")?.state(), warden_kit::State::Closed);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn state(&self) -> State {
        self.entry.breaker.state()
    }

    /// The breaker's counts.
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().build()?;
    /// assert_eq!(r.breaker("db")?.counts().requests, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn counts(&self) -> Counts {
        self.entry.breaker.counts()
    }

    /// The configuration in force: the one the breaker was created from, or the
    /// last one given to [`Registry::reconfigure`] or [`Registry::reload`].
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().configure("kafka", warden_kit::BreakerConfig::kafka()).build()?;
    /// assert_eq!(*r.breaker("kafka")?.config(), warden_kit::BreakerConfig::kafka());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn config(&self) -> Arc<BreakerConfig> {
        self.entry.config.load_full()
    }

    /// The breaker itself, for its two-step API or generic code.
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().build()?;
    /// let db = r.breaker("db")?;
    /// db.breaker().try_acquire()?.success();
    /// assert_eq!(db.counts().total_successes, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.entry.breaker
    }

    /// The breaker's fleet coordination, with a [`RegistryBuilder::fleet`]
    /// (feature `redis`).
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().build()?;
    /// assert!(r.breaker("db")?.fleet().is_none()); // no fleet configured
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "redis")]
    pub fn fleet(&self) -> Option<&warden_redis::FleetBreaker> {
        self.entry.fleet.as_ref()
    }

    /// Calls running through the bulkhead now (`None` without a bulkhead).
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().configure("ch", warden_kit::BreakerConfig::clickhouse()).build()?;
    /// assert_eq!(r.breaker("ch")?.in_flight(), Some(0));
    /// assert_eq!(r.breaker("other")?.in_flight(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn in_flight(&self) -> Option<u32> {
        self.entry.bulkhead().map(Bulkhead::in_flight)
    }

    pub(crate) fn entry(&self) -> &Arc<Entry> {
        &self.entry
    }
}

/// Configures and builds a [`Registry`].
///
/// ```
/// use warden_kit::{BreakerConfig, Registry};
/// let registry = Registry::builder()
///     .default_config(BreakerConfig::default())
///     .configure("kafka", BreakerConfig::kafka())
///     .configure("clickhouse", BreakerConfig::clickhouse())
///     .on_state_change(|name, from, to| eprintln!("{name}: {from} -> {to}"))
///     .build()?;
/// # let _ = registry;
/// # Ok::<(), warden_kit::ConfigError>(())
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct RegistryBuilder {
    default: BreakerConfig,
    named: HashMap<String, BreakerConfig>,
    error: Option<ConfigError>,
    clock: Option<Arc<dyn Clock>>,
    on_state_change: Option<Arc<StateChangeFn>>,
    limits: Limits,
    #[cfg(feature = "metrics")]
    metrics: Option<warden_prometheus::Metrics>,
    /// OpenTelemetry, `metrics` facade, `tracing` (see `backends.rs`).
    pub(crate) backends: crate::backends::Backends,
    #[cfg(feature = "redis")]
    fleet: Option<Arc<warden_redis::Fleet>>,
}

/// The bounds on names, fixed when the registry is built.
#[derive(Clone, Debug)]
struct Limits {
    max_breakers: Option<usize>,
    max_name_len: usize,
    strict: bool,
    idle_after: Option<Duration>,
    overflow: Option<String>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_breakers: None,
            max_name_len: DEFAULT_MAX_NAME_LEN,
            strict: false,
            idle_after: None,
            overflow: None,
        }
    }
}

impl fmt::Debug for RegistryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryBuilder")
            .field("default", &self.default)
            .field("named", &self.named)
            .finish_non_exhaustive()
    }
}

impl RegistryBuilder {
    /// The configuration of names without one of their own (default:
    /// [`BreakerConfig::default`], gobreaker's settings).
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().default_config(warden_kit::BreakerConfig::notification()).build()?;
    /// assert_eq!(*r.breaker("sms")?.config(), warden_kit::BreakerConfig::notification());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn default_config(mut self, config: BreakerConfig) -> Self {
        self.default = config;
        self
    }

    /// The configuration of the breaker named `name` (replacing an earlier
    /// one for that name).
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().configure("kafka", warden_kit::BreakerConfig::kafka()).build()?;
    /// assert_eq!(r.breaker("kafka")?.config().max_requests(), 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn configure(mut self, name: impl Into<String>, config: BreakerConfig) -> Self {
        self.named.insert(name.into(), config);
        self
    }

    /// Takes the default and per-name configurations from a file's
    /// [`RegistryConfig`] (its `default` section replaces the default; its
    /// names are added).
    ///
    /// ```
    /// let file = warden_kit::RegistryConfig::from_toml_str("[breakers.kafka]\npreset = \"kafka\"\n")?;
    /// let r = warden_kit::Registry::builder().config(file).build()?;
    /// assert_eq!(*r.breaker("kafka")?.config(), warden_kit::BreakerConfig::kafka());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn config(mut self, config: RegistryConfig) -> Self {
        match config.resolve() {
            Ok((default, named)) => {
                self.default = default;
                self.named.extend(named);
            }
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self
    }

    /// The time source of every breaker and of the sync calls' `elapsed`
    /// (default: one [`QuantaClock`]). Tests pass a
    /// [`ManualClock`](crate::ManualClock).
    ///
    /// ```
    /// let clock = warden_kit::ManualClock::new();
    /// let r = warden_kit::Registry::builder().clock(clock.clone()).build()?;
    /// let ex = r.pipeline("db")?.execute(|| { clock.advance(std::time::Duration::from_millis(7)); Ok::<_, ()>(()) });
    /// assert_eq!(ex.elapsed().as_millis(), 7);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn clock<C: Clock>(mut self, clock: C) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// A callback run on every state change of every breaker, with `(name,
    /// from, to)`, exactly once per transition and in order per breaker.
    ///
    /// ```
    /// let r = warden_kit::Registry::builder()
    ///     .on_state_change(|name, from, to| println!("{name}: {from} -> {to}"))
    ///     .build()?;
    /// # let _ = r;
    /// # Ok::<(), warden_kit::ConfigError>(())
    /// ```
    pub fn on_state_change<F>(mut self, f: F) -> Self
    where
        F: Fn(&str, State, State) + Send + Sync + 'static,
    {
        self.on_state_change = Some(Arc::new(f));
        self
    }

    /// Exports every breaker's metrics through `metrics` (feature `metrics`):
    /// each breaker the registry creates is [watched](warden_prometheus::Metrics::watch),
    /// so a scrape reads its state and lifetime totals and a call pays nothing
    /// for them; timeouts and bulkhead rejections, which only the registry
    /// sees, are counted when they happen.
    ///
    /// ```
    /// let prometheus = warden_kit::metrics::prometheus::Registry::new();
    /// let metrics = warden_kit::metrics::Metrics::register(&prometheus)?;
    /// let r = warden_kit::Registry::builder().metrics(metrics).build()?;
    /// let _ = r.pipeline("db")?.execute(|| Ok::<_, ()>(()));
    /// assert!(prometheus.gather().iter().any(|f| f.name() == "warden_circuit_breaker_successes_total"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "metrics")]
    pub fn metrics(mut self, metrics: warden_prometheus::Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Coordinates every breaker of the registry across the instances sharing
    /// `fleet`'s Redis (feature `redis`): each breaker is attached to the fleet
    /// when its name is first used, and calls go through the
    /// [`FleetBreaker`](warden_redis::FleetBreaker) (the local admission plus one
    /// relaxed load while the fleet is closed). [`Registry::list`] then reports
    /// each name's fleet state and coordination. A name already attached to the
    /// fleet by other code stays local in this registry.
    ///
    /// ```no_run
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::sync::Arc;
    /// use warden_kit::fleet::{Fleet, FleetConfig};
    /// let fleet = Arc::new(Fleet::start(FleetConfig::new("redis://127.0.0.1:6379/"))?);
    /// let registry = warden_kit::Registry::builder().fleet(fleet).build()?;
    /// let _ = registry.pipeline("db")?.execute(|| Ok::<_, ()>(()));
    /// println!("{:?}", registry.list()[0].coordination);
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "redis")]
    pub fn fleet(mut self, fleet: Arc<warden_redis::Fleet>) -> Self {
        self.fleet = Some(fleet);
        self
    }

    /// At most `max` names at once (default: no limit). A new name beyond it
    /// evicts a breaker that carries no information (see
    /// [`Registry::evict_idle`] for which), looking at up to 32 names from the
    /// oldest; if none of them can go, the new name gets
    /// [`NameError::Full`], or the [`overflow_breaker`](Self::overflow_breaker)
    /// if one was chosen. Existing breakers keep their state either way, so
    /// names made up by clients cannot push out a failing name's breaker.
    ///
    /// ```
    /// use warden_kit::{NameError, Registry, RegistryError};
    /// let registry = Registry::builder().max_breakers(2).build()?;
    /// let _ = registry.pipeline("a")?.execute(|| Err::<(), _>("down")); // carries a failure
    /// let _ = registry.pipeline("b")?.execute(|| Ok::<_, ()>(()));      // carries nothing
    /// let _ = registry.pipeline("c")?.execute(|| Ok::<_, ()>(()));      // evicts b
    /// assert!(registry.get("a").is_some() && registry.get("b").is_none());
    /// let _ = registry.pipeline("d")?.execute(|| Err::<(), _>("down")); // evicts c
    /// assert!(matches!(registry.breaker("e"), Err(RegistryError::Name(NameError::Full { max: 2 }))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_breakers(mut self, max: usize) -> Self {
        self.limits.max_breakers = Some(max);
        self
    }

    /// The longest name accepted, in bytes (default
    /// [`DEFAULT_MAX_NAME_LEN`], 256); a longer one gets
    /// [`NameError::TooLong`]. Names become metric labels and, with a fleet,
    /// Redis keys sent on every sync.
    ///
    /// ```
    /// use warden_kit::{NameError, Registry, RegistryError};
    /// let registry = Registry::builder().max_name_len(8).build()?;
    /// assert!(matches!(registry.breaker("a-very-long-name"), Err(RegistryError::Name(NameError::TooLong { len: 16, .. }))));
    /// # Ok::<(), warden_kit::ConfigError>(())
    /// ```
    pub fn max_name_len(mut self, max: usize) -> Self {
        self.limits.max_name_len = max;
        self
    }

    /// Only names configured (by [`configure`](Self::configure),
    /// [`config`](Self::config) or [`Registry::configure`]) get a breaker;
    /// any other gets [`NameError::NotConfigured`] instead of a default
    /// breaker, so a misspelled name is an error rather than a silent new
    /// breaker.
    ///
    /// ```
    /// use warden_kit::{BreakerConfig, NameError, Registry, RegistryError};
    /// let registry = Registry::builder().strict(true).configure("kafka", BreakerConfig::kafka()).build()?;
    /// assert!(registry.breaker("kafka").is_ok());
    /// assert!(matches!(registry.breaker("kafak"), Err(RegistryError::Name(NameError::NotConfigured { .. }))));
    /// # Ok::<(), warden_kit::ConfigError>(())
    /// ```
    pub fn strict(mut self, strict: bool) -> Self {
        self.limits.strict = strict;
        self
    }

    /// Evicts breakers unused for at least `after` and carrying no
    /// information (see [`Registry::evict_idle`]). The registry sweeps when a
    /// new name is created and at least `after` passed since the last sweep;
    /// call [`Registry::evict_idle`] on a timer to sweep without new names.
    /// A name is idle between one and two sweeps after its last call.
    ///
    /// ```
    /// use std::time::Duration;
    /// let clock = warden_kit::ManualClock::new();
    /// let registry = warden_kit::Registry::builder()
    ///     .clock(clock.clone())
    ///     .idle_eviction(Duration::from_secs(60))
    ///     .build()?;
    /// let _ = registry.pipeline("db")?.execute(|| Ok::<_, ()>(()));
    /// clock.advance(Duration::from_secs(60));
    /// registry.evict_idle(); // saw a call since the last sweep: idle from now
    /// clock.advance(Duration::from_secs(60));
    /// assert_eq!(registry.evict_idle(), 1);
    /// assert!(registry.get("db").is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn idle_eviction(mut self, after: Duration) -> Self {
        self.limits.idle_after = Some(after);
        self
    }

    /// When the registry is full ([`max_breakers`](Self::max_breakers)) and
    /// nothing can be evicted, a new name's calls go through one shared
    /// breaker named `name` (with `name`'s configuration, else the default)
    /// instead of failing with [`NameError::Full`]. The shared breaker is not
    /// in [`Registry::list`] and does not count against the cap. Pick a name
    /// no call uses: its metric series carry that name.
    ///
    /// ```
    /// let registry = warden_kit::Registry::builder().max_breakers(1).overflow_breaker("other").build()?;
    /// let _db = registry.breaker("db")?;
    /// assert_eq!(registry.breaker("cache")?.name(), "other");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn overflow_breaker(mut self, name: impl Into<String>) -> Self {
        self.limits.overflow = Some(name.into());
        self
    }

    /// Validates every configuration and builds the registry.
    ///
    /// # Errors
    ///
    /// The first invalid configuration, its field named
    /// (`breakers.<name>.<field>` or `default.<field>`).
    ///
    /// ```
    /// use std::time::Duration;
    /// let err = warden_kit::Registry::builder()
    ///     .configure("db", warden_kit::BreakerConfig::default().with_interval(Duration::from_nanos(5)))
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.path(), "breakers.db.interval");
    /// ```
    pub fn build(self) -> Result<Registry, ConfigError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.default.validate("default")?;
        let mut names: Vec<_> = self.named.keys().collect();
        names.sort();
        for name in names {
            self.named[name].validate(&format!("breakers.{}", bounded(name)))?;
        }
        let clock = self
            .clock
            .unwrap_or_else(|| Arc::new(QuantaClock::new()) as Arc<dyn Clock>);
        Ok(Registry {
            map: Map::default(),
            shut_down: AtomicBool::new(false),
            slow: Mutex::new(Slow {
                default: self.default,
                named: self.named,
                shut_down: false,
                count: 0,
                queue: VecDeque::new(),
                queued_stale: 0,
                last_sweep: clock.now_nanos(),
                overflow: None,
            }),
            limits: self.limits,
            clock,
            on_state_change: self.on_state_change,
            #[cfg(feature = "metrics")]
            metrics: self.metrics,
            backends: Arc::new(self.backends),
            #[cfg(feature = "redis")]
            fleet: self.fleet,
        })
    }
}

/// What creations and configuration share, under the mutex.
struct Slow {
    default: BreakerConfig,
    named: HashMap<String, BreakerConfig>,
    shut_down: bool,
    /// Names in the map.
    count: usize,
    /// With a cap: every name in creation order, the candidates for eviction
    /// (a name looked at and kept goes to the back). Holds removed entries
    /// until they reach the front or the queue is compacted.
    queue: VecDeque<Arc<Entry>>,
    /// Removed entries still in `queue`.
    queued_stale: usize,
    /// Clock nanoseconds of the last idle sweep.
    last_sweep: u64,
    /// The shared overflow breaker, once created.
    overflow: Option<Arc<Entry>>,
}

/// Why a name left the registry (the `reason` label of
/// `warden_registry_evictions_total`).
#[derive(Clone, Copy)]
enum Gone {
    Removed,
    Idle,
    Capacity,
}

impl Gone {
    #[cfg(feature = "metrics")]
    fn label(self) -> &'static str {
        match self {
            Gone::Removed => "removed",
            Gone::Idle => "idle",
            Gone::Capacity => "capacity",
        }
    }
}

/// What [`Registry::drain`] returns.
///
/// ```
/// let registry = warden_kit::Registry::builder().build()?;
/// let _ = registry.pipeline("db")?.execute(|| Ok::<_, ()>(()));
/// let drained = registry.drain(std::time::Duration::from_secs(5));
/// assert_eq!((drained.unfinished, drained.statuses[0].counts.total_successes), (0, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Drained {
    /// Every breaker's final status, sorted by name, read after the calls
    /// finished (or at the deadline).
    pub statuses: Vec<BreakerStatus>,
    /// Calls still running at the deadline (0: every call finished).
    pub unfinished: u64,
}

/// A set of named circuit breakers (the Go `resilience` package's `CircuitBreakerFactory`):
/// each name's breaker is created on first use from that name's
/// configuration or the default, and every call goes through it, its
/// bulkhead, and (async) its timeout.
///
/// Share it with `Arc`; every method takes `&self`.
///
/// * **Calls**: [`pipeline`](Self::pipeline) gives a name's [`Pipeline`](crate::Pipeline)
///   (its breaker, bulkhead and call timeout, plus the retry, fallback,
///   classifier or timeout you add), built once and run sync
///   ([`Pipeline::execute`](crate::Pipeline::execute)) or async ([`Pipeline::execute_async`](crate::Pipeline::execute_async)); each run
///   returns an [`Execution`](crate::Execution).
/// * **Names**: [`configure`](Self::configure) before first use,
///   [`breaker`](Self::breaker) for a handle that skips the lookup,
///   [`list`](Self::list), [`remove`](Self::remove),
///   [`evict_idle`](Self::evict_idle); bounds set on the builder
///   ([`max_breakers`](RegistryBuilder::max_breakers),
///   [`max_name_len`](RegistryBuilder::max_name_len),
///   [`strict`](RegistryBuilder::strict),
///   [`idle_eviction`](RegistryBuilder::idle_eviction)).
/// * **Lifecycle**: [`shutdown`](Self::shutdown), [`drain`](Self::drain).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use warden_kit::{BreakerConfig, Fallback, Registry};
///
/// let registry = Arc::new(
///     Registry::builder()
///         .configure("inventory", BreakerConfig::default().with_max_concurrent(16))
///         .build()?,
/// );
/// let inventory = registry
///     .pipeline("inventory")?
///     .with_fallback(Fallback::value(0)); // serve "unknown stock" instead
/// let ex = inventory.execute(|| Err::<u32, _>("connection refused"));
/// assert_eq!(ex.value(), Some(&0));
/// assert!(ex.used_fallback() && !ex.is_rejected());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Registry {
    map: Map,
    slow: Mutex<Slow>,
    /// `Slow::shut_down`, readable without the mutex (from callbacks too).
    shut_down: AtomicBool,
    limits: Limits,
    clock: Arc<dyn Clock>,
    on_state_change: Option<Arc<StateChangeFn>>,
    #[cfg(feature = "metrics")]
    metrics: Option<warden_prometheus::Metrics>,
    backends: Arc<crate::backends::Backends>,
    #[cfg(feature = "redis")]
    fleet: Option<Arc<warden_redis::Fleet>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("names", &self.map.len())
            .field("shut_down", &self.is_shut_down())
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// Starts configuring a registry.
    ///
    /// ```
    /// let registry = warden_kit::Registry::builder().build()?;
    /// assert!(registry.list().is_empty());
    /// # Ok::<(), warden_kit::ConfigError>(())
    /// ```
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder {
            default: BreakerConfig::default(),
            named: HashMap::new(),
            error: None,
            clock: None,
            on_state_change: None,
            limits: Limits::default(),
            #[cfg(feature = "metrics")]
            metrics: None,
            backends: crate::backends::Backends::default(),
            #[cfg(feature = "redis")]
            fleet: None,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Slow> {
        // Nothing under the lock can leave `Slow` half-updated: recover from poisoning.
        self.slow.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many references the registry itself holds to a live entry.
    fn own_refs(&self) -> usize {
        1 + usize::from(self.limits.max_breakers.is_some())
    }

    #[cold]
    fn create(&self, name: &str) -> Result<Arc<Entry>, NotRun> {
        let mut slow = self.lock();
        if slow.shut_down {
            return Err(NotRun::Shutdown);
        }
        // Every writer holds the lock, so this probe sees the latest map.
        if let Some(entry) = self.map.pin().get(name) {
            return Ok(Arc::clone(entry));
        }
        if name.len() > self.limits.max_name_len {
            return Err(NotRun::Name(NameError::TooLong {
                len: name.len(),
                max: self.limits.max_name_len,
                prefix: bounded_prefix(name),
            }));
        }
        let configured = slow.named.contains_key(name);
        if self.limits.strict && !configured {
            return Err(NotRun::Name(NameError::NotConfigured {
                name: bounded(name),
            }));
        }
        if let Some(after) = self.limits.idle_after {
            let now = self.clock.now_nanos();
            if now.saturating_sub(slow.last_sweep) >= nanos(after) {
                self.sweep(&mut slow, now, after);
            }
        }
        if let Some(max) = self.limits.max_breakers
            && slow.count >= max
            && !self.evict_for_capacity(&mut slow)
        {
            return match &self.limits.overflow {
                Some(overflow) => self.overflow_entry(&mut slow, overflow),
                None => Err(NotRun::Name(NameError::Full { max })),
            };
        }
        let config = slow.named.get(name).unwrap_or(&slow.default).clone();
        let entry = Arc::new(
            self.new_entry(name, config, configured)
                .map_err(NotRun::Config)?,
        );
        self.map.pin().insert(name.into(), Arc::clone(&entry));
        slow.count += 1;
        if self.limits.max_breakers.is_some() {
            slow.queue.push_back(Arc::clone(&entry));
        }
        Ok(entry)
    }

    /// The shared breaker for names that find the registry full.
    fn overflow_entry(&self, slow: &mut Slow, name: &str) -> Result<Arc<Entry>, NotRun> {
        if let Some(entry) = &slow.overflow {
            return Ok(Arc::clone(entry));
        }
        let configured = slow.named.contains_key(name);
        let config = slow.named.get(name).unwrap_or(&slow.default).clone();
        let entry = Arc::new(
            self.new_entry(name, config, configured)
                .map_err(NotRun::Config)?,
        );
        slow.overflow = Some(Arc::clone(&entry));
        Ok(entry)
    }

    /// Whether `entry` is still the map's entry for its name.
    fn is_current(&self, entry: &Arc<Entry>) -> bool {
        self.map
            .pin()
            .get(entry.breaker.name())
            .is_some_and(|e| Arc::ptr_eq(e, entry))
    }

    /// Takes `entry` out of the map if it carries no information, re-checking
    /// after the removal (a call that found it just before puts it back).
    /// `extra`: references the caller holds beyond the registry's own.
    fn try_retire(&self, slow: &mut Slow, entry: &Arc<Entry>, why: Gone, extra: usize) -> bool {
        let refs = self.own_refs() + extra;
        if !entry.carries_no_information(refs) {
            return false;
        }
        let name = entry.breaker.name();
        let map = self.map.pin();
        map.remove(name);
        // The removed reference is reclaimed only after this pin ends, so it
        // still counts among `refs` here.
        if !entry.carries_no_information(refs) {
            map.insert(name.into(), Arc::clone(entry));
            return false;
        }
        drop(map);
        slow.count -= 1;
        self.forget(entry, why);
        true
    }

    /// What follows a name leaving the map: its metric series and the count,
    /// and with a fleet its coordination (its keys then expire in Redis unless
    /// another instance still uses the name).
    fn forget(&self, entry: &Entry, why: Gone) {
        #[cfg(feature = "redis")]
        if let (Some(fleet), Some(_)) = (&self.fleet, &entry.fleet) {
            fleet.detach(entry.breaker.name());
        }
        #[cfg(feature = "metrics")]
        if let Some(metrics) = &self.metrics {
            metrics.remove(entry.breaker.name());
            metrics.record_eviction(why.label());
        }
        let _ = (entry, why);
    }

    /// At the cap: evicts one of the oldest names that carries no information,
    /// looking at no more than [`EVICTION_PROBES`] of them.
    fn evict_for_capacity(&self, slow: &mut Slow) -> bool {
        for _ in 0..EVICTION_PROBES {
            let Some(entry) = slow.queue.pop_front() else {
                return false;
            };
            if !self.is_current(&entry) {
                slow.queued_stale = slow.queued_stale.saturating_sub(1);
                continue;
            }
            if self.try_retire(slow, &entry, Gone::Capacity, 0) {
                return true;
            }
            slow.queue.push_back(entry);
        }
        false
    }

    /// The idle sweep: entries not used since the last sweep and idle for
    /// `after` go, if they carry no information.
    fn sweep(&self, slow: &mut Slow, now: u64, after: Duration) -> usize {
        slow.last_sweep = now;
        let idle: Vec<Arc<Entry>> = self
            .map
            .pin()
            .values()
            .filter(|e| {
                // Relaxed: hints; `try_retire` re-checks the breaker itself.
                if e.used.swap(false, Ordering::Relaxed) {
                    e.idle_since.store(now, Ordering::Relaxed);
                    return false;
                }
                now.saturating_sub(e.idle_since.load(Ordering::Relaxed)) >= nanos(after)
            })
            .cloned()
            .collect();
        let mut evicted = 0;
        for entry in idle {
            // `idle` holds one reference more than the registry does.
            if self.try_retire(slow, &entry, Gone::Idle, 1) {
                evicted += 1;
                slow.queued_stale += usize::from(self.limits.max_breakers.is_some());
            }
        }
        self.compact_queue(slow);
        evicted
    }

    /// Drops removed entries from the eviction queue once they are the
    /// majority, so removals cannot grow it without bound.
    fn compact_queue(&self, slow: &mut Slow) {
        if slow.queued_stale > slow.queue.len() / 2 {
            let mut queue = std::mem::take(&mut slow.queue);
            queue.retain(|e| self.is_current(e));
            slow.queue = queue;
            slow.queued_stale = 0;
        }
    }

    fn new_entry(
        &self,
        name: &str,
        config: BreakerConfig,
        configured: bool,
    ) -> Result<Entry, ConfigError> {
        // The default clock goes in as itself, so the core knows it for the process
        // clock: open rejections and time windows then load the ticker's time, and the
        // ticker moves the breaker on time (`schedule_transitions` below).
        let mut builder = match CallClock::of(&self.clock) {
            CallClock::Quanta(quanta) => config.builder(name).clock(quanta),
            CallClock::Shared(clock) => config.builder(name).clock(SharedClock(clock)),
        };
        let last_state = Arc::new(AtomicU8::new(CLOSED));
        let user = self.on_state_change.clone();
        let mirror = Arc::clone(&last_state);
        let backends = Arc::clone(&self.backends);
        builder = builder.on_state_change(move |name, from, to| {
            // Relaxed: a hint for eviction, which confirms with `state()`.
            mirror.store(
                u8::try_from(to.as_gauge()).unwrap_or(u8::MAX),
                Ordering::Relaxed,
            );
            backends.on_state_change(name, from, to);
            if let Some(f) = &user {
                f(name, from, to);
            }
        });
        let breaker = Arc::new(builder.build().map_err(|error| ConfigError::Breaker {
            scope: format!("breakers.{}", bounded(name)),
            error,
        })?);
        // Open -> half-open at the timeout (and the other timed moves) without waiting
        // for a call, so `list()`, the state gauges and the callbacks do not lag. On the
        // default clock only (a no-op on any other); 56 bytes once per breaker.
        breaker.schedule_transitions();
        let hooks = Hooks {
            // Pulled at scrape time from the breaker's own totals: nothing per call.
            #[cfg(feature = "metrics")]
            metrics: self.metrics.as_ref().map(|m| m.watch(&breaker)),
            telemetry: self.backends.watch(&breaker),
        };
        Ok(Entry {
            // A name attached by other code (`FleetError::Duplicate`) stays local.
            #[cfg(feature = "redis")]
            fleet: self
                .fleet
                .as_ref()
                .and_then(|f| f.attach(Arc::clone(&breaker)).ok()),
            name: Arc::from(breaker.name()),
            breaker,
            bulkhead: Bulkhead::new(config.max_concurrent()),
            config: ArcSwap::from_pointee(config),
            configured: AtomicBool::new(configured),
            shut_down: AtomicBool::new(false),
            used: AtomicBool::new(false),
            idle_since: AtomicU64::new(self.clock.now_nanos()),
            last_state,
            clock: CallClock::of(&self.clock),
            hooks,
        })
    }

    /// Sets the configuration of `name` before its first use.
    ///
    /// # Errors
    ///
    /// [`RegistryError::Config`] for an invalid configuration,
    /// [`RegistryError::AlreadyCreated`] when the name is already in use (its
    /// breaker keeps its configuration), [`RegistryError::Shutdown`] after
    /// [`shutdown`](Self::shutdown).
    ///
    /// ```
    /// use warden_kit::{BreakerConfig, Registry, RegistryError};
    /// let registry = Registry::builder().build()?;
    /// registry.configure("sms", BreakerConfig::notification())?;
    /// assert_eq!(*registry.breaker("sms")?.config(), BreakerConfig::notification());
    /// assert!(matches!(
    ///     registry.configure("sms", BreakerConfig::default()),
    ///     Err(RegistryError::AlreadyCreated { .. })
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn configure(&self, name: &str, config: BreakerConfig) -> Result<(), RegistryError> {
        if name.len() > self.limits.max_name_len {
            return Err(NameError::TooLong {
                len: name.len(),
                max: self.limits.max_name_len,
                prefix: bounded_prefix(name),
            }
            .into());
        }
        config.validate(&format!("breakers.{name}"))?;
        let mut slow = self.lock();
        if slow.shut_down {
            return Err(RegistryError::Shutdown);
        }
        if self.map.pin().contains_key(name) {
            return Err(RegistryError::AlreadyCreated {
                name: bounded(name),
            });
        }
        slow.named.insert(name.to_owned(), config);
        Ok(())
    }

    /// Changes the configuration of `name` while calls run, keeping its breaker's
    /// state, generation and counts where the new settings can use them (the rule
    /// for each setting is
    /// [`CircuitBreaker::reconfigure`](warden_breaker::CircuitBreaker::reconfigure)'s).
    /// The bulkhead follows `max_concurrent` at once: a smaller limit lets the
    /// calls in flight finish and admits new ones only below it; 0 removes it
    /// (calls admitted under it still give their slot back). The async call
    /// timeout applies to pipelines built afterwards (a [`Pipeline`](crate::Pipeline) keeps the
    /// timeout it was built with: build it again to follow). The new configuration
    /// becomes the name's own, as with [`configure`](Self::configure), so the
    /// name is never evicted for being idle. A name configured but not used yet
    /// just gets the new configuration for its first use.
    ///
    /// With a fleet (feature `redis`) the fleet keeps the fingerprint of the
    /// settings the name was attached with.
    ///
    /// # Errors
    ///
    /// [`RegistryError::Config`] for an invalid configuration (nothing
    /// changes), [`RegistryError::NotFound`] for a name neither in use nor
    /// configured, [`RegistryError::Shutdown`] after [`shutdown`](Self::shutdown).
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_kit::{BreakerConfig, Registry};
    /// let registry = Registry::builder().build()?;
    /// let _ = registry.pipeline::<(), _>("db")?.execute(|| Err("down"));
    /// registry.reconfigure("db", BreakerConfig::default().with_timeout(Duration::from_secs(5)))?;
    /// let db = registry.breaker("db")?;
    /// assert_eq!(db.counts().total_failures, 1, "counts kept");
    /// assert_eq!(db.config().timeout(), Duration::from_secs(5));
    /// assert!(registry.reconfigure("nope", BreakerConfig::default()).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reconfigure(&self, name: &str, config: BreakerConfig) -> Result<(), RegistryError> {
        config.validate(&format!("breakers.{}", bounded(name)))?;
        let mut slow = self.lock();
        if slow.shut_down {
            return Err(RegistryError::Shutdown);
        }
        let entry = self.map.pin().get(name).map(Arc::clone);
        if entry.is_none() && !slow.named.contains_key(name) {
            return Err(RegistryError::NotFound {
                name: bounded(name),
            });
        }
        if let Some(entry) = entry {
            Self::apply(&entry, &config);
        }
        slow.named.insert(name.to_owned(), config);
        Ok(())
    }

    /// Puts a validated `config` into the live `entry` (under the registry's
    /// mutex, so reconfigurations of one name run one at a time).
    fn apply(entry: &Entry, config: &BreakerConfig) {
        // Validated: the core accepts what `validate` accepted, and the builder sets
        // no clock or hooks (the breaker keeps its own).
        let result = entry
            .breaker
            .reconfigure(config.builder(entry.breaker.name()));
        debug_assert!(result.is_ok(), "{result:?}");
        entry.bulkhead.set_max(config.max_concurrent());
        entry.config.store(Arc::new(config.clone()));
        // Relaxed: read under the registry's mutex, which the caller holds.
        entry.configured.store(true, Ordering::Relaxed);
    }

    /// Applies a whole configuration file while calls run, all or nothing: every
    /// section is checked first (values, and each name against
    /// [`max_name_len`](RegistryBuilder::max_name_len)), and only if all pass is
    /// anything changed. Then each name in the file is
    /// [reconfigured](Self::reconfigure) if in use, or configured for its first
    /// use if not; names missing from the file are left alone (remove them with
    /// [`remove`](Self::remove)). The file's `default` section applies to names
    /// created afterwards; breakers already created from the old default keep
    /// their configuration unless the file names them.
    ///
    /// # Errors
    ///
    /// The first invalid setting or name, as a [`RegistryError`] quoting at most
    /// 64 bytes of any input; nothing was changed.
    /// [`RegistryError::Shutdown`] after [`shutdown`](Self::shutdown).
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_kit::{Registry, RegistryConfig};
    /// let registry = Registry::builder().max_name_len(16).build()?;
    /// let _ = registry.pipeline("db")?.execute(|| Ok::<_, ()>(()));
    /// let file = RegistryConfig::from_toml_str("[breakers.db]\ntimeout = \"5s\"\n[breakers.cache]\nmax_requests = 3\n")?;
    /// registry.reload(file)?;
    /// assert_eq!(registry.breaker("db")?.config().timeout(), Duration::from_secs(5));
    /// assert_eq!(registry.breaker("db")?.counts().total_successes, 1);
    /// assert_eq!(registry.breaker("cache")?.config().max_requests(), 3);
    /// // A name over the registry's limit: the whole file is refused.
    /// let bad = RegistryConfig::from_toml_str("[breakers.db]\ntimeout = \"1s\"\n[breakers.a-much-longer-name]\n")?;
    /// assert!(registry.reload(bad).is_err());
    /// assert_eq!(registry.breaker("db")?.config().timeout(), Duration::from_secs(5), "unchanged");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reload(&self, config: RegistryConfig) -> Result<(), RegistryError> {
        let (default, named) = config.resolve()?;
        default.validate("default")?;
        for (name, config) in &named {
            if name.len() > self.limits.max_name_len {
                return Err(NameError::TooLong {
                    len: name.len(),
                    max: self.limits.max_name_len,
                    prefix: bounded_prefix(name),
                }
                .into());
            }
            config.validate(&format!("breakers.{}", bounded(name)))?;
        }
        let mut slow = self.lock();
        if slow.shut_down {
            return Err(RegistryError::Shutdown);
        }
        slow.default = default;
        for (name, config) in named {
            if let Some(entry) = self.map.pin().get(name.as_str()) {
                Self::apply(entry, &config);
            }
            slow.named.insert(name, config);
        }
        Ok(())
    }

    /// A handle to the breaker named `name`, created now if needed. Keep it to
    /// skip the name lookup on every call.
    ///
    /// # Errors
    ///
    /// [`RegistryError::Shutdown`] after [`shutdown`](Self::shutdown).
    ///
    /// ```
    /// let registry = warden_kit::Registry::builder().build()?;
    /// let a = registry.breaker("db")?;
    /// let b = registry.breaker("db")?;
    /// assert!(std::ptr::eq(a.breaker(), b.breaker())); // one breaker per name
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn breaker(&self, name: &str) -> Result<NamedBreaker, RegistryError> {
        if self.is_shut_down() {
            return Err(RegistryError::Shutdown);
        }
        if let Some(entry) = self.map.pin().get(name) {
            return Ok(NamedBreaker {
                entry: Arc::clone(entry),
            });
        }
        match self.create(name) {
            Ok(entry) => Ok(NamedBreaker { entry }),
            Err(NotRun::Shutdown) => Err(RegistryError::Shutdown),
            Err(NotRun::Config(e)) => Err(RegistryError::Config(e)),
            Err(NotRun::Name(e)) => Err(RegistryError::Name(e)),
        }
    }

    /// The handle of `name` if its breaker exists (never creates one).
    ///
    /// ```
    /// let registry = warden_kit::Registry::builder().build()?;
    /// assert!(registry.get("db").is_none());
    /// let _ = registry.pipeline("db")?.execute(|| Ok::<_, ()>(()));
    /// assert!(registry.get("db").is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self, name: &str) -> Option<NamedBreaker> {
        self.map.pin().get(name).map(|entry| NamedBreaker {
            entry: Arc::clone(entry),
        })
    }

    /// Every created breaker's status, sorted by name. Each state is read
    /// after making any due transition (an open breaker whose timeout passed
    /// reports half-open).
    ///
    /// ```
    /// let registry = warden_kit::Registry::builder().build()?;
    /// let _ = registry.pipeline("b")?.execute(|| Ok::<_, ()>(()));
    /// let _ = registry.pipeline("a")?.execute(|| Err::<(), _>(()));
    /// let list = registry.list();
    /// assert_eq!(list.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    /// assert_eq!(list[0].counts.total_failures, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn list(&self) -> Vec<BreakerStatus> {
        let mut list: Vec<_> = self.map.pin().values().map(|e| e.status()).collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }

    /// Shuts the registry down: from now on every `execute` (through the
    /// registry or a kept [`NamedBreaker`]) returns [`ExecuteError::Shutdown`]
    /// without running, and `breaker`/`pipeline`/`configure` fail. Calls already running
    /// finish normally. With a fleet (feature `redis`), the fleet stops too: its
    /// background task gives this instance's unused probe tokens back and ends
    /// (see `Fleet::stop`). Returns the final [`list`](Self::list). Calling it
    /// again changes nothing.
    ///
    /// ```
    /// use warden_kit::ExecuteError;
    /// let registry = warden_kit::Registry::builder().build()?;
    /// let db = registry.pipeline("db")?;
    /// let _ = db.execute(|| Ok::<_, ()>(()));
    /// let last = registry.shutdown();
    /// assert_eq!(last[0].counts.total_successes, 1);
    /// let ex = db.execute(|| Ok::<_, ()>(()));
    /// assert!(matches!(ex.error(), Some(ExecuteError::Shutdown)));
    /// assert_eq!(ex.attempts(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown(&self) -> Vec<BreakerStatus> {
        let mut slow = self.lock();
        slow.shut_down = true;
        // Relaxed: as `Entry::shut_down`; writers re-check `Slow::shut_down`
        // under the mutex.
        self.shut_down.store(true, Ordering::Relaxed);
        for entry in self.map.pin().values().chain(slow.overflow.as_ref()) {
            // Relaxed: see `Entry::is_shut_down`.
            entry.shut_down.store(true, Ordering::Relaxed);
        }
        drop(slow);
        // The fleet's background work stops with the registry: its breakers
        // decide locally and its unused probe tokens go back to the fleet.
        #[cfg(feature = "redis")]
        if let Some(fleet) = &self.fleet {
            fleet.stop();
        }
        self.list()
    }

    /// [`shutdown`](Self::shutdown), then waits up to `deadline` for the calls
    /// already running to finish, and returns every breaker's final status.
    /// New calls get [`ExecuteError::Shutdown`] from the start.
    ///
    /// A running call is one its breaker admitted and has not heard back from
    /// (or that holds a bulkhead slot); a call admitted before its breaker
    /// changed generation (an interval reset, a trip) cannot change the counts
    /// any more and is not waited for. It waits on the real clock, checking
    /// every millisecond.
    ///
    /// ```
    /// use std::time::Duration;
    /// let registry = std::sync::Arc::new(warden_kit::Registry::builder().build()?);
    /// let db = registry.pipeline("db")?;
    /// let call = std::thread::spawn(move || {
    ///     db.execute(|| { std::thread::sleep(Duration::from_millis(20)); Ok::<_, ()>(()) })
    /// });
    /// while registry.get("db").is_none_or(|db| db.counts().requests == 0) {
    ///     std::thread::yield_now();
    /// }
    /// let drained = registry.drain(Duration::from_secs(5));
    /// assert_eq!((drained.unfinished, drained.statuses[0].counts.total_successes), (0, 1));
    /// assert!(call.join().unwrap().has_value());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn drain(&self, deadline: Duration) -> Drained {
        self.shutdown();
        let until = std::time::Instant::now() + deadline;
        loop {
            let overflow = self.lock().overflow.clone();
            let unfinished: u64 = self
                .map
                .pin()
                .values()
                .chain(overflow.as_ref())
                .map(|e| u64::from(e.unfinished()))
                .sum();
            if unfinished == 0 || std::time::Instant::now() >= until {
                return Drained {
                    statuses: self.list(),
                    unfinished,
                };
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Removes the breaker named `name` and its metric series, and returns
    /// its last status (`None` if there was no such breaker). The next use of
    /// the name creates a fresh breaker. A kept [`NamedBreaker`] goes on
    /// working on the removed breaker, which the registry no longer lists.
    ///
    /// With a fleet (feature `redis`), the name is detached from it too: its
    /// unused probe tokens go back, and its keys expire in Redis after the
    /// fleet's key time-to-live unless another instance still uses the name.
    ///
    /// ```
    /// let registry = warden_kit::Registry::builder().build()?;
    /// let _ = registry.pipeline("db")?.execute(|| Err::<(), _>("down"));
    /// let last = registry.remove("db").unwrap();
    /// assert_eq!(last.counts.total_failures, 1);
    /// assert!(registry.get("db").is_none() && registry.remove("db").is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn remove(&self, name: &str) -> Option<BreakerStatus> {
        let mut slow = self.lock();
        let map = self.map.pin();
        let entry = map.get(name).cloned()?;
        map.remove(name);
        drop(map);
        slow.count -= 1;
        if self.limits.max_breakers.is_some() {
            slow.queued_stale += 1;
            self.compact_queue(&mut slow);
        }
        self.forget(&entry, Gone::Removed);
        Some(entry.status())
    }

    /// Evicts every breaker that was not used in the last
    /// [`idle_eviction`](RegistryBuilder::idle_eviction) period and carries
    /// no information; returns how many went (0 without idle eviction).
    ///
    /// Only a breaker whose loss changes nothing is evicted: not configured
    /// by name, in its normal mode (not
    /// forced or disabled), closed, with no failure in its window or streak
    /// (and, when it judges slow calls, no outcome at all), nothing in flight,
    /// and no [`NamedBreaker`] handle kept anywhere. Open, half-open, failing,
    /// forced and configured breakers stay, so an idle sweep or a flood of
    /// new names never resets a failing dependency's history. Each eviction
    /// drops the name's metric series and counts in
    /// `warden_registry_evictions_total{reason="idle"}`.
    ///
    /// The check is made again after the name is taken out of the map, and
    /// the breaker goes back if a call reached it in between. A call that
    /// looked the name up just before the eviction and is admitted just after
    /// that second check runs on the retired breaker: its outcome is not
    /// carried over (the next call creates a fresh breaker). Calls that keep
    /// a name busy keep it listed; the window is the few instructions between
    /// a lookup and an admission.
    ///
    /// The sweep looks at every name, under the registry's mutex; it runs at
    /// most once per idle period from new names.
    ///
    /// ```
    /// use std::time::Duration;
    /// let clock = warden_kit::ManualClock::new();
    /// let registry = warden_kit::Registry::builder()
    ///     .clock(clock.clone())
    ///     .idle_eviction(Duration::from_secs(60))
    ///     .build()?;
    /// let _ = registry.pipeline("ok")?.execute(|| Ok::<_, ()>(()));
    /// let _ = registry.pipeline("failing")?.execute(|| Err::<(), _>("down"));
    /// for _ in 0..2 {
    ///     clock.advance(Duration::from_secs(60));
    ///     registry.evict_idle();
    /// }
    /// assert!(registry.get("ok").is_none());
    /// assert!(registry.get("failing").is_some()); // its failure is information
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn evict_idle(&self) -> usize {
        let Some(after) = self.limits.idle_after else {
            return 0;
        };
        let mut slow = self.lock();
        let now = self.clock.now_nanos();
        self.sweep(&mut slow, now, after)
    }

    /// How many names have a breaker now.
    ///
    /// ```
    /// let registry = warden_kit::Registry::builder().build()?;
    /// let _ = registry.pipeline("db")?.execute(|| Ok::<_, ()>(()));
    /// assert_eq!(registry.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no name has a breaker.
    ///
    /// ```
    /// assert!(warden_kit::Registry::builder().build()?.is_empty());
    /// # Ok::<(), warden_kit::ConfigError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    ///
    /// ```
    /// let registry = warden_kit::Registry::builder().build()?;
    /// assert!(!registry.is_shut_down());
    /// registry.shutdown();
    /// assert!(registry.is_shut_down());
    /// # Ok::<(), warden_kit::ConfigError>(())
    /// ```
    pub fn is_shut_down(&self) -> bool {
        // Relaxed: see `Entry::is_shut_down`.
        self.shut_down.load(Ordering::Relaxed)
    }

    /// The metrics given to the builder (feature `metrics`).
    ///
    /// ```
    /// assert!(warden_kit::Registry::builder().build()?.metrics().is_none());
    /// # Ok::<(), warden_kit::ConfigError>(())
    /// ```
    #[cfg(feature = "metrics")]
    pub fn metrics(&self) -> Option<&warden_prometheus::Metrics> {
        self.metrics.as_ref()
    }

    /// A retry observer counting `warden_retry_attempts_total{name}` for
    /// policies used with this name, if the registry has metrics (feature
    /// `metrics`).
    ///
    /// ```
    /// use warden_kit::{ExecuteError, RetryPolicy};
    /// let metrics = warden_kit::metrics::Metrics::register(&warden_kit::metrics::prometheus::Registry::new())?;
    /// let registry = warden_kit::Registry::builder().metrics(metrics).build()?;
    /// let attempts = registry.retry_metrics("db").unwrap();
    /// let policy = RetryPolicy::<ExecuteError<&str>>::builder()
    ///     .base_delay(std::time::Duration::ZERO)
    ///     .retry_if(ExecuteError::is_retryable)
    ///     .observer(attempts.clone())
    ///     .build()?;
    /// let _ = registry.pipeline("db")?.with_retry(policy.clone()).execute(|| Err::<(), _>("down"));
    /// assert_eq!(attempts.attempts(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "metrics")]
    pub fn retry_metrics(&self, name: &str) -> Option<warden_prometheus::RetryMetrics> {
        self.metrics.as_ref().map(|m| m.retry(name))
    }

    /// What `make` builds for `name` (a pipeline), giving the name `config` first
    /// unless it has a configuration of its own (from the builder, a file or
    /// [`configure`](Self::configure)), which stays in force. A strict
    /// registry takes only the names configured ahead, as for every call. A
    /// name that gets no breaker of its own (a full registry) is left
    /// unconfigured, so refused names leave nothing behind.
    ///
    /// # Errors
    ///
    /// [`RegistryError::AlreadyCreated`] when the name is in use with the
    /// registry's default configuration (its breaker cannot take `config`
    /// any more), and as [`breaker`](Self::breaker).
    pub(crate) fn configured_as<R>(
        &self,
        name: &str,
        config: impl FnOnce() -> BreakerConfig,
        make: impl FnOnce(&Self) -> Result<R, RegistryError>,
    ) -> Result<R, RegistryError> {
        let configured_here = {
            let mut slow = self.lock();
            if slow.shut_down {
                return Err(RegistryError::Shutdown);
            }
            if self.limits.strict || slow.named.contains_key(name) {
                false
            } else if self.map.pin().contains_key(name) {
                return Err(RegistryError::AlreadyCreated {
                    name: bounded(name),
                });
            } else if name.len() > self.limits.max_name_len {
                return Err(NameError::TooLong {
                    len: name.len(),
                    max: self.limits.max_name_len,
                    prefix: bounded_prefix(name),
                }
                .into());
            } else {
                slow.named.insert(name.to_owned(), config());
                true
            }
        };
        let made = make(self);
        if configured_here {
            let mut slow = self.lock();
            if !self.map.pin().contains_key(name) {
                slow.named.remove(name);
            }
        }
        made
    }
}

/// Nanoseconds of `d`, saturating.
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The first bytes of a name, for an error.
fn bounded_prefix(name: &str) -> String {
    let mut end = name.len().min(QUOTE_MAX);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_owned()
}

/// Errors that end a retried `execute` at once, whatever the policy's
/// `retry_if` says: an attempt that never ran (the breaker or the bulkhead
/// refused it) is not retried unless the policy retries rejections (retrying
/// into an open breaker only waits out the backoff), and a shut-down registry
/// or an invalid configuration will not change between attempts.
pub(crate) fn stop_reason<E>(
    policy: &RetryPolicy<ExecuteError<E>>,
    error: &ExecuteError<E>,
) -> Option<StopReason> {
    match error {
        ExecuteError::Rejected { rejected, .. } if !policy.retries_rejections() => {
            Some(StopReason::Rejected(*rejected))
        }
        ExecuteError::BulkheadFull { .. } if !policy.retries_rejections() => {
            Some(StopReason::NotRetryable)
        }
        ExecuteError::Shutdown => Some(StopReason::NotRetryable),
        _ => None,
    }
}
