//! [`Registry`]: named breakers, created on first use, with `execute` paths,
//! bulkheads, timeouts and a lifecycle.
//!
//! # Lookup
//!
//! The names live in an immutable `HashMap` behind an [`ArcSwap`]: a lookup
//! is an `arc-swap` load (no lock, no shared-line write: the reader's
//! protection lives in a thread-local slot) and one hash-map probe. Creating a
//! name takes a mutex, re-checks, copies the map with the new entry and swaps
//! it in; creations are rare (once per name), so copying is cheaper than
//! making every lookup pay for a concurrent map. The mutex also guarantees
//! exactly one breaker per name however many threads race to create it.

use std::collections::HashMap;
use std::fmt;
#[cfg(feature = "tokio")]
use std::sync::atomic::AtomicU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use warden_breaker::{CircuitBreaker, Clock, Counts, Outcome, QuantaClock, State};
use warden_retry::{RetryError, RetryPolicy, StopReason};

use crate::bulkhead::BulkheadPermit;
use crate::execution::{Execution, NotRun};
use crate::{BreakerConfig, Bulkhead, ConfigError, ExecuteError, RegistryConfig, Rejection};

type StateChangeFn = dyn Fn(&str, State, State) + Send + Sync;
/// foldhash: a name is hashed on every lookup, and SipHash (std's default) costs
/// more than the rest of the lookup; foldhash keeps a per-process random seed.
type Map = HashMap<Box<str>, Arc<Entry>, foldhash::fast::RandomState>;

/// A clock shared by every breaker of a registry.
#[derive(Clone, Debug)]
struct SharedClock(Arc<dyn Clock>);

impl Clock for SharedClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        self.0.now_nanos()
    }
}

/// What only the registry knows about a call, for the metrics.
#[derive(Clone, Default)]
struct Hooks {
    #[cfg(feature = "metrics")]
    metrics: Option<warden_prometheus::BreakerMetrics>,
}

impl Hooks {
    #[cfg(feature = "tokio")]
    #[inline]
    fn timed_out(&self) {
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.metrics {
            m.record_timeout();
        }
    }

    #[inline]
    fn bulkhead_full(&self) {
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.metrics {
            m.record_bulkhead_rejection();
        }
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
    /// `configure` came after the name's breaker was created (configure
    /// names before their first use).
    #[error("breaker {name:?} already exists; configure it before its first use")]
    AlreadyCreated {
        /// The name.
        name: String,
    },
    /// The registry has been shut down.
    #[error("registry is shut down")]
    Shutdown,
}

/// A name's status, as [`Registry::list`] reports it.
///
/// ```
/// let registry = warden_kit::Registry::builder().build()?;
/// let _ = registry.execute("db", || Ok::<_, ()>(()));
/// let status = &registry.list()[0];
/// assert_eq!((status.name.as_str(), status.counts.total_successes), ("db", 1));
/// # Ok::<(), warden_kit::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
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

/// The breaker permit of one attempt: the local breaker's, or (with a fleet) the
/// fleet breaker's, which also carries a fleet half-open probe token.
enum AttemptPermit<'a> {
    Local(warden_breaker::Permit<'a>),
    #[cfg(feature = "redis")]
    Fleet(warden_redis::FleetPermit<'a>),
}

impl AttemptPermit<'_> {
    #[inline]
    fn record(self, outcome: Outcome) {
        match self {
            AttemptPermit::Local(p) => p.record(outcome),
            #[cfg(feature = "redis")]
            AttemptPermit::Fleet(p) => p.record(outcome),
        }
    }
}

/// One name: its breaker and what goes around it.
struct Entry {
    breaker: Arc<CircuitBreaker>,
    /// The breaker's fleet-wide coordination, with a `RegistryBuilder::fleet`.
    #[cfg(feature = "redis")]
    fleet: Option<warden_redis::FleetBreaker>,
    bulkhead: Option<Bulkhead>,
    config: BreakerConfig,
    /// Set by `Registry::shutdown`; read on every call.
    shut_down: AtomicBool,
    clock: Arc<dyn Clock>,
    hooks: Hooks,
}

impl Entry {
    fn status(&self) -> BreakerStatus {
        BreakerStatus {
            name: self.breaker.name().to_owned(),
            state: self.breaker.state(),
            counts: self.breaker.counts(),
            in_flight: self.bulkhead.as_ref().map(Bulkhead::in_flight),
            max_concurrent: self.bulkhead.as_ref().map(Bulkhead::max),
            #[cfg(feature = "redis")]
            fleet: self.fleet.as_ref().and_then(|f| f.fleet_state()),
            #[cfg(feature = "redis")]
            coordination: self.fleet.as_ref().map(|f| f.coordination()),
        }
    }

    #[inline]
    fn is_shut_down(&self) -> bool {
        // Relaxed: the flag publishes nothing; a call that starts after `shutdown`
        // returned (happens-after it) reads `true` by coherence.
        self.shut_down.load(Ordering::Relaxed)
    }

    /// Admission of one attempt, shared by the sync and async paths: the shutdown
    /// check, a bulkhead slot (if the name has a bulkhead), then a breaker permit.
    #[inline]
    fn admit<E>(&self) -> Result<(Option<BulkheadPermit<'_>>, AttemptPermit<'_>), ExecuteError<E>> {
        if self.is_shut_down() {
            return Err(ExecuteError::Shutdown);
        }
        let slot = match &self.bulkhead {
            None => None,
            Some(b) => match b.try_acquire() {
                Some(slot) => Some(slot),
                None => {
                    self.hooks.bulkhead_full();
                    return Err(ExecuteError::Rejected(Rejection::BulkheadFull));
                }
            },
        };
        #[cfg(feature = "redis")]
        if let Some(fleet) = &self.fleet {
            let permit = fleet
                .try_acquire()
                .map_err(|r| ExecuteError::Rejected(r.into()))?;
            return Ok((slot, AttemptPermit::Fleet(permit)));
        }
        let permit = self
            .breaker
            .try_acquire()
            .map_err(|r| ExecuteError::Rejected(r.into()))?;
        Ok((slot, AttemptPermit::Local(permit)))
    }

    /// One guarded attempt; `true` if `f` ran.
    #[inline]
    fn run<T, E>(&self, f: impl FnOnce() -> Result<T, E>) -> (Result<T, ExecuteError<E>>, bool) {
        let (_slot, permit) = match self.admit() {
            Ok(guards) => guards,
            Err(e) => return (Err(e), false),
        };
        // A panic in `f` drops `permit` while panicking: a failure, then the panic goes on.
        let result = f();
        permit.record(if result.is_ok() {
            Outcome::Success
        } else {
            Outcome::Failure
        });
        (result.map_err(ExecuteError::Inner), true)
    }

    #[inline]
    fn elapsed_since(&self, start: u64) -> Duration {
        Duration::from_nanos(self.clock.now_nanos().saturating_sub(start))
    }

    #[inline]
    fn execute<T, E>(&self, f: impl FnOnce() -> Result<T, E>) -> Execution<T, E> {
        let start = self.clock.now_nanos();
        let (result, ran) = self.run(f);
        let elapsed = self.elapsed_since(start);
        Execution::new(result, Some(self.breaker.state()), u32::from(ran), elapsed)
    }

    fn execute_with_retry<T, E, F>(
        &self,
        policy: &RetryPolicy<ExecuteError<E>>,
        mut f: F,
    ) -> Execution<T, E>
    where
        F: FnMut() -> Result<T, E>,
    {
        let start = self.clock.now_nanos();
        let mut attempts = 0u32;
        let result = warden_retry::retry_with_stop(
            policy,
            |e| stop_reason(policy, e),
            || {
                let (result, ran) = self.run(&mut f);
                attempts += u32::from(ran);
                result
            },
        )
        .map_err(RetryError::into_last);
        let elapsed = self.elapsed_since(start);
        Execution::new(result, Some(self.breaker.state()), attempts, elapsed)
    }

    /// One guarded async attempt; `true` if the future was polled.
    #[cfg(feature = "tokio")]
    async fn run_async<T, E, F, Fut>(
        &self,
        timeout: Option<Duration>,
        f: F,
    ) -> (Result<T, ExecuteError<E>>, bool)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        // Both guards live in this future: dropping it (a cancelled call) gives the
        // bulkhead slot back and releases a half-open probe slot.
        let (_slot, permit) = match self.admit() {
            Ok(guards) => guards,
            Err(e) => return (Err(e), false),
        };
        let call = f();
        let result = match timeout {
            None => call.await.map_err(ExecuteError::Inner),
            Some(limit) => match tokio::time::timeout(limit, call).await {
                Ok(result) => result.map_err(ExecuteError::Inner),
                Err(_elapsed) => {
                    self.hooks.timed_out();
                    Err(ExecuteError::Timeout(limit))
                }
            },
        };
        permit.record(if result.is_ok() {
            Outcome::Success
        } else {
            Outcome::Failure
        });
        (result, true)
    }

    #[cfg(feature = "tokio")]
    async fn execute_async<T, E, F, Fut>(&self, timeout: Option<Duration>, f: F) -> Execution<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let start = tokio::time::Instant::now();
        let (result, ran) = self.run_async(timeout, f).await;
        Execution::new(
            result,
            Some(self.breaker.state()),
            u32::from(ran),
            start.elapsed(),
        )
    }

    #[cfg(feature = "tokio")]
    async fn execute_async_with_retry<T, E, F, Fut>(
        &self,
        policy: &RetryPolicy<ExecuteError<E>>,
        mut f: F,
    ) -> Execution<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let start = tokio::time::Instant::now();
        let timeout = self.config.get_call_timeout();
        // An atomic rather than a Cell so the returned future stays Send.
        let attempts = AtomicU32::new(0);
        let result = warden_retry::retry_async_with_stop(
            policy,
            |e| stop_reason(policy, e),
            || {
                // The attempt's future is created here but polled only if admitted.
                let call = f();
                let attempts = &attempts;
                async move {
                    let (result, ran) = self.run_async(timeout, move || call).await;
                    // Relaxed: a local count, read after the run by this task.
                    attempts.fetch_add(u32::from(ran), Ordering::Relaxed);
                    result
                }
            },
        )
        .await
        .map_err(RetryError::into_last);
        Execution::new(
            result,
            Some(self.breaker.state()),
            attempts.into_inner(),
            start.elapsed(),
        )
    }
}

/// A handle to one named breaker of a [`Registry`], for callers that keep it
/// instead of looking the name up on every call. Cheap to clone.
///
/// It has the registry's `execute` methods without the name, and stops
/// working (every call returns [`ExecuteError::Shutdown`]) when the registry
/// is shut down.
///
/// ```
/// let registry = warden_kit::Registry::builder().build()?;
/// let kafka = registry.breaker("kafka")?;
/// let ex = kafka.execute(|| Ok::<_, std::io::Error>("sent"));
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

    /// The configuration the breaker was created from.
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().configure("kafka", warden_kit::BreakerConfig::kafka()).build()?;
    /// assert_eq!(r.breaker("kafka")?.config(), &warden_kit::BreakerConfig::kafka());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn config(&self) -> &BreakerConfig {
        &self.entry.config
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
        self.entry.bulkhead.as_ref().map(Bulkhead::in_flight)
    }

    /// See [`Registry::execute`].
    ///
    /// ```
    /// let db = warden_kit::Registry::builder().build()?.breaker("db")?;
    /// assert!(db.execute(|| Ok::<_, ()>(1)).is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn execute<T, E, F>(&self, f: F) -> Execution<T, E>
    where
        F: FnOnce() -> Result<T, E>,
    {
        self.entry.execute(f)
    }

    /// See [`Registry::execute_with_fallback`].
    ///
    /// ```
    /// let db = warden_kit::Registry::builder().build()?.breaker("db")?;
    /// let ex = db.execute_with_fallback(|| Err::<u32, _>("down"), |_| Ok(0));
    /// assert_eq!(ex.value(), Some(&0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn execute_with_fallback<T, E, F, G>(&self, f: F, fallback: G) -> Execution<T, E>
    where
        F: FnOnce() -> Result<T, E>,
        G: FnOnce(ExecuteError<E>) -> Result<T, E>,
    {
        self.entry.execute(f).or_fallback(fallback)
    }

    /// See [`Registry::execute_with_retry`].
    ///
    /// ```
    /// use warden_kit::{ExecuteError, RetryPolicy};
    /// let db = warden_kit::Registry::builder().build()?.breaker("db")?;
    /// let policy = RetryPolicy::<ExecuteError<&str>>::builder()
    ///     .base_delay(std::time::Duration::ZERO)
    ///     .retry_if(ExecuteError::is_retryable)
    ///     .build()?;
    /// assert_eq!(db.execute_with_retry(&policy, || Err::<(), _>("down")).attempts(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn execute_with_retry<T, E, F>(
        &self,
        policy: &RetryPolicy<ExecuteError<E>>,
        f: F,
    ) -> Execution<T, E>
    where
        F: FnMut() -> Result<T, E>,
    {
        self.entry.execute_with_retry(policy, f)
    }

    /// See [`Registry::execute_async`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let db = warden_kit::Registry::builder().build()?.breaker("db")?;
    /// assert!(db.execute_async(|| async { Ok::<_, ()>(1) }).await.is_ok());
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub async fn execute_async<T, E, F, Fut>(&self, f: F) -> Execution<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.entry
            .execute_async(self.entry.config.get_call_timeout(), f)
            .await
    }

    /// See [`Registry::execute_async_with_timeout`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// let db = warden_kit::Registry::builder().build()?.breaker("db")?;
    /// let ex = db
    ///     .execute_async_with_timeout(Some(Duration::from_millis(10)), || std::future::pending::<Result<(), ()>>())
    ///     .await;
    /// assert!(ex.timed_out());
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub async fn execute_async_with_timeout<T, E, F, Fut>(
        &self,
        timeout: Option<Duration>,
        f: F,
    ) -> Execution<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.entry.execute_async(timeout, f).await
    }

    /// See [`Registry::execute_async_with_retry`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use warden_kit::{ExecuteError, RetryPolicy};
    /// let db = warden_kit::Registry::builder().build()?.breaker("db")?;
    /// let policy = RetryPolicy::<ExecuteError<&str>>::builder().retry_if(ExecuteError::is_retryable).build()?;
    /// let ex = db.execute_async_with_retry(&policy, || async { Err::<(), _>("down") }).await;
    /// assert_eq!(ex.attempts(), 3);
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub async fn execute_async_with_retry<T, E, F, Fut>(
        &self,
        policy: &RetryPolicy<ExecuteError<E>>,
        f: F,
    ) -> Execution<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.entry.execute_async_with_retry(policy, f).await
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
    #[cfg(feature = "metrics")]
    metrics: Option<warden_prometheus::Metrics>,
    #[cfg(feature = "redis")]
    fleet: Option<Arc<warden_redis::Fleet>>,
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
    /// assert_eq!(r.breaker("sms")?.config(), &warden_kit::BreakerConfig::notification());
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
    /// assert_eq!(r.breaker("kafka")?.config().get_max_requests(), 5);
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
    /// assert_eq!(r.breaker("kafka")?.config(), &warden_kit::BreakerConfig::kafka());
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
    /// let ex = r.execute("db", || { clock.advance(std::time::Duration::from_millis(7)); Ok::<_, ()>(()) });
    /// assert_eq!(ex.elapsed().as_millis(), 7);
    /// # Ok::<(), warden_kit::ConfigError>(())
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

    /// Exports every breaker's metrics through `metrics` (feature `metrics`).
    ///
    /// ```
    /// let prometheus = warden_kit::metrics::prometheus::Registry::new();
    /// let metrics = warden_kit::metrics::Metrics::register(&prometheus)?;
    /// let r = warden_kit::Registry::builder().metrics(metrics).build()?;
    /// let _ = r.execute("db", || Ok::<_, ()>(()));
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
    /// let _ = registry.execute("db", || Ok::<_, ()>(()));
    /// println!("{:?}", registry.list()[0].coordination);
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "redis")]
    pub fn fleet(mut self, fleet: Arc<warden_redis::Fleet>) -> Self {
        self.fleet = Some(fleet);
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
    ///     .configure("db", warden_kit::BreakerConfig::default().interval(Duration::from_nanos(5)))
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
            self.named[name].validate(&format!("breakers.{name}"))?;
        }
        Ok(Registry {
            map: ArcSwap::from_pointee(Map::default()),
            slow: Mutex::new(Slow {
                default: self.default,
                named: self.named,
                shut_down: false,
            }),
            clock: self
                .clock
                .unwrap_or_else(|| Arc::new(QuantaClock::new()) as Arc<dyn Clock>),
            on_state_change: self.on_state_change,
            #[cfg(feature = "metrics")]
            metrics: self.metrics,
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
}

/// A set of named circuit breakers (the Go `resilience` package's `CircuitBreakerFactory`):
/// each name's breaker is created on first use from that name's
/// configuration or the default, and every call goes through it, its
/// bulkhead, and (async) its timeout.
///
/// Share it with `Arc`; every method takes `&self`.
///
/// * **Calls**: [`execute`](Self::execute), [`execute_with_fallback`](Self::execute_with_fallback),
///   [`execute_with_retry`](Self::execute_with_retry), and the async
///   [`execute_async`](Self::execute_async) (with the name's call timeout),
///   [`execute_async_with_timeout`](Self::execute_async_with_timeout),
///   [`execute_async_with_retry`](Self::execute_async_with_retry). Each
///   returns an [`Execution`]; [`Execution::or_fallback`] adds a fallback to
///   any of them.
/// * **Names**: [`configure`](Self::configure) before first use,
///   [`breaker`](Self::breaker) for a handle that skips the lookup,
///   [`list`](Self::list).
/// * **Lifecycle**: [`shutdown`](Self::shutdown).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use warden_kit::{BreakerConfig, Registry};
///
/// let registry = Arc::new(
///     Registry::builder()
///         .configure("inventory", BreakerConfig::default().max_concurrent(16))
///         .build()?,
/// );
/// let ex = registry.execute_with_fallback(
///     "inventory",
///     || Err::<u32, _>("connection refused"),
///     |_err| Ok(0), // serve "unknown stock" instead
/// );
/// assert_eq!(ex.value(), Some(&0));
/// assert!(ex.used_fallback() && !ex.is_rejected());
/// # Ok::<(), warden_kit::ConfigError>(())
/// ```
pub struct Registry {
    map: ArcSwap<Map>,
    slow: Mutex<Slow>,
    clock: Arc<dyn Clock>,
    on_state_change: Option<Arc<StateChangeFn>>,
    #[cfg(feature = "metrics")]
    metrics: Option<warden_prometheus::Metrics>,
    #[cfg(feature = "redis")]
    fleet: Option<Arc<warden_redis::Fleet>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("names", &self.map.load().len())
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
            #[cfg(feature = "metrics")]
            metrics: None,
            #[cfg(feature = "redis")]
            fleet: None,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Slow> {
        // Nothing under the lock can leave `Slow` half-updated: recover from poisoning.
        self.slow.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the name's entry, creating it first if needed. The hot path:
    /// an `arc-swap` load and a map probe, no lock, no reference-count traffic.
    #[inline]
    fn with_entry<R>(&self, name: &str, f: impl FnOnce(&Entry) -> R) -> Result<R, NotRun> {
        let map = self.map.load();
        if let Some(entry) = map.get(name) {
            return Ok(f(entry));
        }
        drop(map);
        let entry = self.create(name)?;
        Ok(f(&entry))
    }

    #[cfg(feature = "tokio")]
    fn entry(&self, name: &str) -> Result<Arc<Entry>, NotRun> {
        if let Some(entry) = self.map.load().get(name) {
            return Ok(Arc::clone(entry));
        }
        self.create(name)
    }

    #[cold]
    fn create(&self, name: &str) -> Result<Arc<Entry>, NotRun> {
        let slow = self.lock();
        if slow.shut_down {
            return Err(NotRun::Shutdown);
        }
        // Every writer holds the lock, so this load sees the latest map.
        let map = self.map.load_full();
        if let Some(entry) = map.get(name) {
            return Ok(Arc::clone(entry));
        }
        let config = slow.named.get(name).unwrap_or(&slow.default).clone();
        let entry = Arc::new(self.new_entry(name, config).map_err(NotRun::Config)?);
        let mut next = Map::clone(&map);
        next.insert(name.into(), Arc::clone(&entry));
        self.map.store(Arc::new(next));
        Ok(entry)
    }

    fn new_entry(&self, name: &str, config: BreakerConfig) -> Result<Entry, ConfigError> {
        let mut builder = config.builder(name).clock(SharedClock(self.clock.clone()));
        if let Some(f) = &self.on_state_change {
            let f = Arc::clone(f);
            builder = builder.on_state_change(move |name, from, to| f(name, from, to));
        }
        #[cfg_attr(not(feature = "metrics"), allow(unused_mut))]
        let mut hooks = Hooks::default();
        #[cfg(feature = "metrics")]
        if let Some(metrics) = &self.metrics {
            let m = metrics.breaker(name);
            builder = builder.observer(m.clone());
            hooks.metrics = Some(m);
        }
        let breaker = Arc::new(builder.build().map_err(|source| ConfigError::Breaker {
            scope: format!("breakers.{name}"),
            source,
        })?);
        Ok(Entry {
            // A name attached by other code (`FleetError::Duplicate`) stays local.
            #[cfg(feature = "redis")]
            fleet: self
                .fleet
                .as_ref()
                .and_then(|f| f.attach(Arc::clone(&breaker)).ok()),
            breaker,
            bulkhead: (config.get_max_concurrent() > 0)
                .then(|| Bulkhead::new(config.get_max_concurrent())),
            config,
            shut_down: AtomicBool::new(false),
            clock: self.clock.clone(),
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
    /// assert_eq!(registry.breaker("sms")?.config(), &BreakerConfig::notification());
    /// assert!(matches!(
    ///     registry.configure("sms", BreakerConfig::default()),
    ///     Err(RegistryError::AlreadyCreated { .. })
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn configure(&self, name: &str, config: BreakerConfig) -> Result<(), RegistryError> {
        config.validate(&format!("breakers.{name}"))?;
        let mut slow = self.lock();
        if slow.shut_down {
            return Err(RegistryError::Shutdown);
        }
        if self.map.load().contains_key(name) {
            return Err(RegistryError::AlreadyCreated {
                name: name.to_owned(),
            });
        }
        slow.named.insert(name.to_owned(), config);
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
        if let Some(entry) = self.map.load().get(name) {
            return Ok(NamedBreaker {
                entry: Arc::clone(entry),
            });
        }
        match self.create(name) {
            Ok(entry) => Ok(NamedBreaker { entry }),
            Err(NotRun::Shutdown) => Err(RegistryError::Shutdown),
            Err(NotRun::Config(e)) => Err(RegistryError::Config(e)),
        }
    }

    /// The handle of `name` if its breaker exists (never creates one).
    ///
    /// ```
    /// let registry = warden_kit::Registry::builder().build()?;
    /// assert!(registry.get("db").is_none());
    /// let _ = registry.execute("db", || Ok::<_, ()>(()));
    /// assert!(registry.get("db").is_some());
    /// # Ok::<(), warden_kit::ConfigError>(())
    /// ```
    pub fn get(&self, name: &str) -> Option<NamedBreaker> {
        self.map.load().get(name).map(|entry| NamedBreaker {
            entry: Arc::clone(entry),
        })
    }

    /// Every created breaker's status, sorted by name. Each state is read
    /// after making any due transition (an open breaker whose timeout passed
    /// reports half-open).
    ///
    /// ```
    /// let registry = warden_kit::Registry::builder().build()?;
    /// let _ = registry.execute("b", || Ok::<_, ()>(()));
    /// let _ = registry.execute("a", || Err::<(), _>(()));
    /// let list = registry.list();
    /// assert_eq!(list.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    /// assert_eq!(list[0].counts.total_failures, 1);
    /// # Ok::<(), warden_kit::ConfigError>(())
    /// ```
    pub fn list(&self) -> Vec<BreakerStatus> {
        let mut list: Vec<_> = self.map.load().values().map(|e| e.status()).collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }

    /// Shuts the registry down: from now on every `execute` (through the
    /// registry or a kept [`NamedBreaker`]) returns [`ExecuteError::Shutdown`]
    /// without running, and `breaker`/`configure` fail. Calls already running
    /// finish normally. Returns the final [`list`](Self::list). Calling it
    /// again changes nothing.
    ///
    /// ```
    /// use warden_kit::ExecuteError;
    /// let registry = warden_kit::Registry::builder().build()?;
    /// let _ = registry.execute("db", || Ok::<_, ()>(()));
    /// let last = registry.shutdown();
    /// assert_eq!(last[0].counts.total_successes, 1);
    /// let ex = registry.execute("db", || Ok::<_, ()>(()));
    /// assert!(matches!(ex.error(), Some(ExecuteError::Shutdown)));
    /// assert_eq!(ex.attempts(), 0);
    /// # Ok::<(), warden_kit::ConfigError>(())
    /// ```
    pub fn shutdown(&self) -> Vec<BreakerStatus> {
        let mut slow = self.lock();
        slow.shut_down = true;
        for entry in self.map.load().values() {
            // Relaxed: see `Entry::is_shut_down`.
            entry.shut_down.store(true, Ordering::Relaxed);
        }
        drop(slow);
        self.list()
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
        self.lock().shut_down
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
    /// let _ = registry.execute_with_retry("db", &policy, || Err::<(), _>("down"));
    /// assert_eq!(attempts.attempts(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "metrics")]
    pub fn retry_metrics(&self, name: &str) -> Option<warden_prometheus::RetryMetrics> {
        self.metrics.as_ref().map(|m| m.retry(name))
    }

    /// Runs `f` through the breaker named `name` (and its bulkhead): the
    /// the Go `resilience` package's `Execute(name, f)`. `Err` counts as a failure, a panic as a
    /// failure that goes on unwinding.
    ///
    /// The result says whether `f` ran ([`attempts`](Execution::attempts)),
    /// whether it was refused ([`rejection`](Execution::rejection)), the
    /// breaker's state afterwards and the time taken.
    ///
    /// ```
    /// use warden_kit::{BreakerConfig, ExecuteError, Rejection, Registry, State, TripRule};
    /// let registry = Registry::builder()
    ///     .configure("db", BreakerConfig::default().trip(TripRule::ConsecutiveFailures(2)))
    ///     .build()?;
    /// for _ in 0..2 {
    ///     let _ = registry.execute("db", || Err::<(), _>("down"));
    /// }
    /// let ex = registry.execute("db", || Ok::<_, &str>(()));
    /// assert!(matches!(ex.error(), Some(ExecuteError::Rejected(Rejection::Open))));
    /// assert_eq!((ex.attempts(), ex.state()), (0, Some(State::Open)));
    /// # Ok::<(), warden_kit::ConfigError>(())
    /// ```
    #[inline]
    pub fn execute<T, E, F>(&self, name: &str, f: F) -> Execution<T, E>
    where
        F: FnOnce() -> Result<T, E>,
    {
        self.with_entry(name, |entry| entry.execute(f))
            .unwrap_or_else(Execution::not_run)
    }

    /// [`execute`](Self::execute), then `fallback(error)` if it produced no
    /// value (the Go `resilience` package's `ExecuteWithFallback`). See
    /// [`Execution::or_fallback`].
    ///
    /// ```
    /// let registry = warden_kit::Registry::builder().build()?;
    /// let ex = registry.execute_with_fallback("search", || Err::<Vec<&str>, _>("down"), |_| Ok(vec![]));
    /// assert!(ex.used_fallback() && ex.value().is_some_and(|v| v.is_empty()));
    /// # Ok::<(), warden_kit::ConfigError>(())
    /// ```
    pub fn execute_with_fallback<T, E, F, G>(
        &self,
        name: &str,
        f: F,
        fallback: G,
    ) -> Execution<T, E>
    where
        F: FnOnce() -> Result<T, E>,
        G: FnOnce(ExecuteError<E>) -> Result<T, E>,
    {
        self.execute(name, f).or_fallback(fallback)
    }

    /// Runs `f` until it succeeds or `policy` gives up, every attempt through
    /// the name's breaker and bulkhead (waits block the thread, on the policy's
    /// sleeper). The policy sees [`ExecuteError`]s. An attempt the breaker or the
    /// bulkhead refused ends the run at once (unless the policy retries
    /// rejections), and so does a shut-down registry, whatever `retry_if` says;
    /// `retry_if(ExecuteError::is_retryable)` also stops at fallback errors. The
    /// result keeps the last attempt's
    /// error; [`attempts`](Execution::attempts) counts the attempts that ran.
    ///
    /// ```
    /// use warden_kit::{ExecuteError, RetryPolicy};
    /// let registry = warden_kit::Registry::builder().build()?;
    /// let policy = RetryPolicy::<ExecuteError<&str>>::builder()
    ///     .base_delay(std::time::Duration::ZERO)
    ///     .retry_if(ExecuteError::is_retryable)
    ///     .build()?;
    /// let mut calls = 0;
    /// let ex = registry.execute_with_retry("db", &policy, || {
    ///     calls += 1;
    ///     if calls < 2 { Err("reset") } else { Ok(calls) }
    /// });
    /// assert_eq!((ex.value(), ex.attempts()), (Some(&2), 2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn execute_with_retry<T, E, F>(
        &self,
        name: &str,
        policy: &RetryPolicy<ExecuteError<E>>,
        f: F,
    ) -> Execution<T, E>
    where
        F: FnMut() -> Result<T, E>,
    {
        self.with_entry(name, |entry| entry.execute_with_retry(policy, f))
            .unwrap_or_else(Execution::not_run)
    }

    /// Awaits `f()` through the name's breaker and bulkhead, with the name's
    /// [`call_timeout`](BreakerConfig::call_timeout) (the Go `resilience` package's
    /// `ExecuteContext`). A call that times out is dropped, counts as a
    /// failure to the breaker and in `timeouts_total`, and gives
    /// [`ExecuteError::Timeout`]. `f` is called only if the call is admitted.
    ///
    /// Dropping the returned future (a cancelled request) drops the call and
    /// gives its bulkhead slot and any half-open probe slot back.
    ///
    /// # Panics
    ///
    /// With a timeout, outside a tokio runtime with the time driver enabled.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), warden_kit::ConfigError> {
    /// use std::time::Duration;
    /// use warden_kit::{BreakerConfig, Registry};
    /// let registry = Registry::builder()
    ///     .configure("api", BreakerConfig::default().call_timeout(Some(Duration::from_secs(1))))
    ///     .build()?;
    /// let ex = registry
    ///     .execute_async("api", || async {
    ///         tokio::time::sleep(Duration::from_secs(5)).await; // too slow
    ///         Ok::<_, std::io::Error>("late")
    ///     })
    ///     .await;
    /// assert!(ex.timed_out());
    /// assert_eq!(registry.breaker("api").unwrap().counts().total_failures, 1);
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub async fn execute_async<T, E, F, Fut>(&self, name: &str, f: F) -> Execution<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        match self.entry(name) {
            Ok(entry) => {
                entry
                    .execute_async(entry.config.get_call_timeout(), f)
                    .await
            }
            Err(e) => Execution::not_run(e),
        }
    }

    /// [`execute_async`](Self::execute_async) with this call's own timeout
    /// (`None`: no timeout) instead of the name's.
    ///
    /// # Panics
    ///
    /// As [`execute_async`](Self::execute_async).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), warden_kit::ConfigError> {
    /// use std::time::Duration;
    /// let registry = warden_kit::Registry::builder().build()?;
    /// let ex = registry
    ///     .execute_async_with_timeout("api", Some(Duration::from_millis(50)), || async {
    ///         Ok::<_, ()>(1)
    ///     })
    ///     .await;
    /// assert_eq!(ex.value(), Some(&1));
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub async fn execute_async_with_timeout<T, E, F, Fut>(
        &self,
        name: &str,
        timeout: Option<Duration>,
        f: F,
    ) -> Execution<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        match self.entry(name) {
            Ok(entry) => entry.execute_async(timeout, f).await,
            Err(e) => Execution::not_run(e),
        }
    }

    /// The async [`execute_with_retry`](Self::execute_with_retry): every
    /// attempt through the breaker and bulkhead with the name's call timeout,
    /// waits on tokio's timer. `f` is called to create each attempt's future;
    /// the future is polled only if the attempt is admitted.
    ///
    /// # Panics
    ///
    /// When it has to wait or time out outside a tokio runtime with the time
    /// driver enabled.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use warden_kit::{ExecuteError, RetryPolicy};
    /// let registry = warden_kit::Registry::builder().build()?;
    /// let policy = RetryPolicy::<ExecuteError<&str>>::kafka()
    ///     .to_builder()
    ///     .retry_if(ExecuteError::is_retryable)
    ///     .build()?;
    /// let ex = registry
    ///     .execute_async_with_retry("kafka", &policy, || async { Err::<(), _>("leader not available") })
    ///     .await
    ///     .or_fallback(|_| Ok(())); // spool locally
    /// assert_eq!((ex.attempts(), ex.used_fallback()), (5, true));
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub async fn execute_async_with_retry<T, E, F, Fut>(
        &self,
        name: &str,
        policy: &RetryPolicy<ExecuteError<E>>,
        f: F,
    ) -> Execution<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        match self.entry(name) {
            Ok(entry) => entry.execute_async_with_retry(policy, f).await,
            Err(e) => Execution::not_run(e),
        }
    }
}

/// Errors that end a retried `execute` at once, whatever the policy's
/// `retry_if` says: an attempt that never ran (the breaker or the bulkhead
/// refused it) is not retried unless the policy retries rejections (retrying
/// into an open breaker only waits out the backoff), and a shut-down registry
/// or an invalid configuration will not change between attempts.
fn stop_reason<E>(
    policy: &RetryPolicy<ExecuteError<E>>,
    error: &ExecuteError<E>,
) -> Option<StopReason> {
    match error {
        ExecuteError::Rejected(r) if !policy.retries_rejections() => Some(match r {
            Rejection::Open => StopReason::Rejected(warden_breaker::Rejected::Open),
            Rejection::TooManyRequests => {
                StopReason::Rejected(warden_breaker::Rejected::TooManyRequests)
            }
            Rejection::BulkheadFull => StopReason::NotRetryable,
        }),
        ExecuteError::Shutdown | ExecuteError::Config(_) => Some(StopReason::NotRetryable),
        _ => None,
    }
}
