//! The warden circuit breaker behind one [`std::sync::Mutex`]: the benchmark
//! baseline and the test oracle of the lock-free [`warden_breaker`].
//!
//! This crate is written the way `sony/gobreaker` and the Go `resilience` packages are: every
//! entry point takes the lock, lets the breaker catch up with the clock
//! (`current_state(now)`: an expired counting interval starts a new
//! generation, an expired open timeout turns the breaker half-open), acts on
//! the state it finds, and unlocks. Nothing in it is clever, which is the
//! point: the lock-free breaker must be observably identical to it, and the
//! differential driver (`warden-conformance`) checks that after every
//! operation.
//!
//! It has the same public surface as [`warden_breaker::CircuitBreaker`] and
//! the same semantics, listed in that crate's documentation: gobreaker's
//! states, counts, generations and strict `expiry < now` boundaries at 1 ms
//! resolution, plus warden's additions (a permit dropped without an outcome
//! releases its half-open slot, [`Outcome::Ignored`] frees one too, a permit
//! dropped while panicking records a failure). Both breakers take their time
//! from [`Settings::now_ticks`], so breakers built from clones of one
//! [`Settings`] see the same ticks.
//!
//! # Differences from the lock-free breaker
//!
//! * Every call takes the lock twice (admission and outcome); under
//!   contention calls queue on it. That is what the benchmarks measure.
//! * `ready_to_trip` runs **while the lock is held** (as in gobreaker): it
//!   must not call into the same breaker, or it deadlocks.
//! * State-change callbacks do **not** run under the lock, unlike gobreaker,
//!   where calling `State()` or `Counts()` from `OnStateChange` deadlocks
//!   (gobreaker issue #37). Transitions are queued under the lock, in the
//!   order they happen; after unlocking, one thread at a time delivers the
//!   queue, so callbacks still run exactly once per transition and in
//!   transition order, and may call back into the breaker.
//! * Manual commands (`force_open`, `reset`, ...) queue their state change like
//!   any transition, so every command's change is delivered. The lock-free
//!   breaker delivers the net change of commands issued while a callback runs
//!   (see its `force_open`); a single-threaded run, like the differential
//!   driver's, cannot tell them apart.
//! * The trip-rule windows are kept literally, under the lock: a count window is
//!   a queue of the last `size` outcomes, a time window a queue of its non-empty
//!   buckets (each outcome in the bucket of the tick at which it is recorded), and
//!   slow calls are timed from a closed-state admission to its outcome with
//!   [`Settings::now_nanos`]. They are exact under any concurrency, which the
//!   lock-free breaker guarantees only for sequential histories (its
//!   [`TimeWindow`] may attribute an outcome racing a bucket's first outcome to
//!   the bucket before).
//! * Generations are `u64` and never wrap (the lock-free breaker's are 20 bits).
//! * A panic while the lock is held (only `ready_to_trip` runs user code there)
//!   poisons the mutex; the breaker recovers the guard and carries on, since
//!   every update it makes under the lock leaves the state consistent.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use warden_mutex::{CircuitBreaker, Error, State};
//!
//! let cb = CircuitBreaker::builder("clickhouse")
//!     .timeout(Duration::from_secs(30))
//!     .build()?;
//! match cb.call(|| Ok::<_, std::io::Error>(3)) {
//!     Ok(rows) => assert_eq!(rows, 3),
//!     Err(Error::Rejected(_)) => { /* shed load */ }
//!     Err(Error::Inner(e)) => eprintln!("query failed: {e}"),
//! }
//! assert_eq!(cb.state(), State::Closed);
//! # Ok::<(), warden_mutex::ConfigError>(())
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]
#![doc(test(attr(deny(warnings))))]

use std::collections::VecDeque;
use std::fmt;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

pub use warden_breaker::{
    AdaptiveThrottle, Breaker, BreakerPermit, Clock, ConfigError, CountWindow, Counts, Error,
    MAX_TIME_BUCKETS, ManualClock, Mode, Observer, OpenBackoff, Outcome, QuantaClock,
    ReconfigureError, Rejected, Settings, SlowCalls, State, TimeWindow, Totals,
};
use warden_breaker::{MAX_FORCED_DEADLINE, MAX_TICK};

/// Configures a [`CircuitBreaker`]: a thin wrapper over
/// [`warden_breaker::Builder`], so both breakers accept and reject exactly the
/// same settings.
///
/// ```
/// use std::time::Duration;
/// let cb = warden_mutex::CircuitBreaker::builder("kafka")
///     .max_requests(3)
///     .interval(Duration::from_secs(10))
///     .timeout(Duration::from_secs(30))
///     .build()?;
/// assert_eq!(cb.settings().max_requests(), 3);
/// # Ok::<(), warden_mutex::ConfigError>(())
/// ```
#[derive(Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder {
    inner: warden_breaker::Builder,
}

impl Builder {
    fn map(self, f: impl FnOnce(warden_breaker::Builder) -> warden_breaker::Builder) -> Self {
        Self {
            inner: f(self.inner),
        }
    }

    /// Half-open probe limit and the consecutive successes that close the breaker
    /// again. `0` means 1; see [`warden_breaker::Builder::max_requests`].
    ///
    /// ```
    /// let cb = warden_mutex::CircuitBreaker::builder("x").max_requests(0).build()?;
    /// assert_eq!(cb.settings().max_requests(), 1);
    /// # Ok::<(), warden_mutex::ConfigError>(())
    /// ```
    pub fn max_requests(self, max_requests: u32) -> Self {
        self.map(|b| b.max_requests(max_requests))
    }

    /// Period after which a closed breaker clears its counts; zero: never. See
    /// [`warden_breaker::Builder::interval`].
    ///
    /// ```
    /// use std::time::Duration;
    /// let cb = warden_mutex::CircuitBreaker::builder("x").interval(Duration::from_secs(5)).build()?;
    /// assert_eq!(cb.settings().interval(), Duration::from_secs(5));
    /// # Ok::<(), warden_mutex::ConfigError>(())
    /// ```
    pub fn interval(self, interval: Duration) -> Self {
        self.map(|b| b.interval(interval))
    }

    /// How long the breaker stays open; zero means 60 s. See
    /// [`warden_breaker::Builder::timeout`].
    ///
    /// ```
    /// let cb = warden_mutex::CircuitBreaker::builder("x").build()?;
    /// assert_eq!(cb.settings().timeout().as_secs(), 60);
    /// # Ok::<(), warden_mutex::ConfigError>(())
    /// ```
    pub fn timeout(self, timeout: Duration) -> Self {
        self.map(|b| b.timeout(timeout))
    }

    /// The rule that trips a closed breaker (default: more than 5 consecutive
    /// failures). Here it runs while the breaker's lock is held, so it must not
    /// call into the same breaker.
    ///
    /// ```
    /// use warden_mutex::{CircuitBreaker, Counts, State};
    /// let cb = CircuitBreaker::builder("x").ready_to_trip(|c: &Counts| c.total_failures >= 1).build()?;
    /// let _ = cb.call(|| Err::<(), _>("boom"));
    /// assert_eq!(cb.state(), State::Open);
    /// # Ok::<(), warden_mutex::ConfigError>(())
    /// ```
    pub fn ready_to_trip<F>(self, ready_to_trip: F) -> Self
    where
        F: Fn(&Counts) -> bool + Send + Sync + 'static,
    {
        self.map(|b| b.ready_to_trip(ready_to_trip))
    }

    /// The callback run on every state change with `(name, from, to)`: after the
    /// lock is released, exactly once per transition, in transition order. It may
    /// call back into the breaker.
    ///
    /// ```
    /// let _cb = warden_mutex::CircuitBreaker::builder("x")
    ///     .on_state_change(|name, from, to| eprintln!("{name}: {from} -> {to}"))
    ///     .build()?;
    /// # Ok::<(), warden_mutex::ConfigError>(())
    /// ```
    pub fn on_state_change<F>(self, on_state_change: F) -> Self
    where
        F: Fn(&str, State, State) + Send + Sync + 'static,
    {
        self.map(|b| b.on_state_change(on_state_change))
    }

    /// The time source (default: a new [`QuantaClock`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_mutex::{CircuitBreaker, ManualClock, State};
    /// let clock = ManualClock::new();
    /// let cb = CircuitBreaker::builder("x")
    ///     .timeout(Duration::from_secs(1))
    ///     .ready_to_trip(|c| c.consecutive_failures >= 1)
    ///     .clock(clock.clone())
    ///     .build()?;
    /// let _ = cb.call(|| Err::<(), _>("boom"));
    /// clock.advance(Duration::from_millis(1000));
    /// assert_eq!(cb.state(), State::Open); // strictly after the timeout...
    /// clock.advance(Duration::from_millis(1));
    /// assert_eq!(cb.state(), State::HalfOpen); // ...it lets probes through
    /// # Ok::<(), warden_mutex::ConfigError>(())
    /// ```
    pub fn clock<C: Clock>(self, clock: C) -> Self {
        self.map(|b| b.clock(clock))
    }

    /// Open-duration backoff on consecutive re-trips; see
    /// [`warden_breaker::Builder::open_backoff`].
    ///
    /// ```
    /// use std::time::Duration;
    /// let cb = warden_mutex::CircuitBreaker::builder("x")
    ///     .open_backoff(warden_mutex::OpenBackoff::exponential(2, Duration::from_secs(600)))
    ///     .build()?;
    /// assert_eq!(cb.settings().open_ticks(1, 0), 120_000);
    /// # Ok::<(), warden_mutex::ConfigError>(())
    /// ```
    pub fn open_backoff(self, backoff: OpenBackoff) -> Self {
        self.map(|b| b.open_backoff(backoff))
    }

    /// Trips on the failure rate over the last calls; see
    /// [`warden_breaker::Builder::count_window`].
    ///
    /// ```
    /// let cb = warden_mutex::CircuitBreaker::builder("x")
    ///     .count_window(warden_mutex::CountWindow::new(10).with_min_calls(4).with_failure_rate_percent(50))
    ///     .build()?;
    /// assert!(cb.settings().count_window().is_some());
    /// # Ok::<(), warden_mutex::ConfigError>(())
    /// ```
    pub fn count_window(self, window: CountWindow) -> Self {
        self.map(|b| b.count_window(window))
    }

    /// Trips on the failure rate over the last stretch of time, kept in buckets;
    /// see [`warden_breaker::Builder::time_window`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_mutex::{CircuitBreaker, ManualClock, State, TimeWindow};
    /// let clock = ManualClock::new();
    /// // 10 s in 10 buckets of 1 s; at least 4 calls, trip at 50 % failures.
    /// let cb = CircuitBreaker::builder("x")
    ///     .time_window(TimeWindow::new(Duration::from_secs(10)).with_buckets(10).with_min_calls(4).with_failure_rate_percent(50))
    ///     .clock(clock.clone())
    ///     .build()?;
    /// let _ = cb.call(|| Err::<(), _>("boom"));
    /// let _ = cb.call(|| Err::<(), _>("boom"));
    /// clock.advance(Duration::from_secs(10)); // both failures leave the window
    /// let _ = cb.call(|| Ok::<_, &str>(()));
    /// let _ = cb.call(|| Ok::<_, &str>(()));
    /// let _ = cb.call(|| Err::<(), _>("boom"));
    /// assert_eq!(cb.state(), State::Closed, "1 failure of 3 calls in the window");
    /// let _ = cb.call(|| Err::<(), _>("boom"));
    /// assert_eq!(cb.state(), State::Open, "2 of 4: 50 %");
    /// # Ok::<(), warden_mutex::ConfigError>(())
    /// ```
    pub fn time_window(self, window: TimeWindow) -> Self {
        self.map(|b| b.time_window(window))
    }

    /// Sheds a share of the calls instead of opening; see
    /// [`warden_breaker::Builder::adaptive_throttle`]. The reference keeps the
    /// window as per-bucket counts under the lock and evaluates the rule at the
    /// same events as the lock-free breaker, drawing from the same per-thread
    /// sequence ([`AdaptiveThrottle::draw`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_mutex::{AdaptiveThrottle, CircuitBreaker, Error, Rejected, State};
    /// let cb = CircuitBreaker::builder("api")
    ///     .adaptive_throttle(AdaptiveThrottle::new(Duration::from_secs(10)))
    ///     .build()?;
    /// AdaptiveThrottle::set_thread_draws(1);
    /// let shed = (0..1000)
    ///     .filter(|_| cb.call(|| Err::<(), _>("503")) == Err(Error::Rejected(Rejected::Throttled)))
    ///     .count();
    /// assert!(shed > 900);
    /// assert_eq!(cb.state(), State::Closed);
    /// # Ok::<(), warden_mutex::ConfigError>(())
    /// ```
    pub fn adaptive_throttle(self, throttle: AdaptiveThrottle) -> Self {
        self.map(|b| b.adaptive_throttle(throttle))
    }

    /// Trips on the rate of slow calls (measured with the breaker's clock from
    /// admission to outcome); see [`warden_breaker::Builder::slow_calls`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_mutex::{CircuitBreaker, ManualClock, SlowCalls, State};
    /// let clock = ManualClock::new();
    /// // Calls of 100 ms or more are slow; trip when half of at least 2 calls are.
    /// let cb = CircuitBreaker::builder("x")
    ///     .slow_calls(SlowCalls::new(Duration::from_millis(100)).with_slow_rate_percent(50).with_min_calls(2))
    ///     .clock(clock.clone())
    ///     .build()?;
    /// let _ = cb.call(|| Ok::<_, ()>(()));
    /// let _ = cb.call(|| {
    ///     clock.advance(Duration::from_millis(100));
    ///     Ok::<_, ()>(())
    /// });
    /// assert_eq!(cb.state(), State::Open, "a slow success trips too");
    /// # Ok::<(), warden_mutex::ConfigError>(())
    /// ```
    pub fn slow_calls(self, slow: SlowCalls) -> Self {
        self.map(|b| b.slow_calls(slow))
    }

    /// The longest a half-open generation lasts before it re-opens; see
    /// [`warden_breaker::Builder::half_open_max_wait`].
    ///
    /// ```
    /// use std::time::Duration;
    /// let cb = warden_mutex::CircuitBreaker::builder("x")
    ///     .half_open_max_wait(Duration::from_secs(5))
    ///     .build()?;
    /// assert_eq!(cb.settings().half_open_max_wait_ticks(), 5000);
    /// # Ok::<(), warden_mutex::ConfigError>(())
    /// ```
    pub fn half_open_max_wait(self, max_wait: Duration) -> Self {
        self.map(|b| b.half_open_max_wait(max_wait))
    }

    /// Adds an observer; each one sees every event.
    ///
    /// ```
    /// #[derive(Debug)]
    /// struct Log;
    /// impl warden_mutex::Observer for Log {}
    /// let _cb = warden_mutex::CircuitBreaker::builder("x").observer(Log).build()?;
    /// # Ok::<(), warden_mutex::ConfigError>(())
    /// ```
    pub fn observer<O: Observer>(self, observer: O) -> Self {
        self.map(|b| b.observer(observer))
    }

    /// Validates the settings without building a breaker.
    ///
    /// ```
    /// let s = warden_mutex::CircuitBreaker::builder("x").settings()?;
    /// let _cb = warden_mutex::CircuitBreaker::from_settings(s);
    /// # Ok::<(), warden_mutex::ConfigError>(())
    /// ```
    pub fn settings(self) -> Result<Settings, ConfigError> {
        self.inner.settings()
    }

    /// Validates the settings (exactly as [`warden_breaker::Builder::build`] does)
    /// and builds the breaker.
    ///
    /// ```
    /// use std::time::Duration;
    /// let err = warden_mutex::CircuitBreaker::builder("x")
    ///     .timeout(Duration::from_micros(1500))
    ///     .build()
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("timeout"));
    /// ```
    pub fn build(self) -> Result<CircuitBreaker, ConfigError> {
        self.settings().map(CircuitBreaker::from_settings)
    }

    /// The wrapped lock-free builder, to build the other breaker from the same
    /// configuration.
    ///
    /// ```
    /// let b = warden_mutex::CircuitBreaker::builder("x").max_requests(2);
    /// let lock_free = b.into_inner().build()?;
    /// assert_eq!(lock_free.settings().max_requests(), 2);
    /// # Ok::<(), warden_mutex::ConfigError>(())
    /// ```
    pub fn into_inner(self) -> warden_breaker::Builder {
        self.inner
    }
}

impl From<warden_breaker::Builder> for Builder {
    /// Wraps a lock-free builder.
    ///
    /// ```
    /// let b: warden_mutex::Builder = warden_breaker::CircuitBreaker::builder("x").into();
    /// assert_eq!(b.build()?.name(), "x");
    /// # Ok::<(), warden_mutex::ConfigError>(())
    /// ```
    fn from(inner: warden_breaker::Builder) -> Self {
        Self { inner }
    }
}

/// Everything the lock protects: gobreaker's `CircuitBreaker` fields, plus the
/// half-open slot count and the queue of undelivered state changes.
#[derive(Debug)]
struct Inner {
    state: State,
    /// Bumped by every state change and closed-state interval reset. Never wraps.
    generation: u64,
    counts: Counts,
    /// Tick at which the current state expires, gobreaker's `expiry`: closed, the
    /// end of the counting interval (`0`: never); open, the end of the timeout;
    /// half-open, the end of the max wait (`0`: no max wait).
    expiry: u64,
    /// Half-open: probes holding a slot (admitted, minus those released by
    /// [`Outcome::Ignored`] or a drop without outcome). A success keeps its slot.
    held: u32,
    /// The manual command in force (`None`: [`Mode::Normal`]).
    manual: Option<Manual>,
    /// With an open backoff: the generation of the last open state entered by a
    /// re-trip (a failed probe), and its count of consecutive re-trips. A failed
    /// probe of the half-open generation right after it counts one more; any
    /// other re-trip is the first.
    retrip: (u64, u64),
    /// With a count window: the closed generation's last outcomes, oldest first, at
    /// most its size.
    window: VecDeque<Recorded>,
    /// With a time window: the closed generation's non-empty buckets, oldest first;
    /// those that left the window are dropped when an outcome is recorded.
    buckets: VecDeque<Bucket>,
    /// With slow calls and neither window: the closed generation's slow outcomes.
    slow: u64,
    /// The closed generation's successes and failures. Never wraps: `counts` wraps
    /// modulo 2^32 like gobreaker's, but a rule comparing counts must not (2^32 + 20
    /// calls of which 5 were slow are not 5 slow calls of 20).
    calls: u64,
    /// With an adaptive throttle: the closed generation's non-empty buckets as
    /// (index, requests, accepts), oldest first.
    throttle_buckets: VecDeque<(u64, u64, u64)>,
    /// With an adaptive throttle: the last evaluation in this generation as
    /// (probability as a fraction of 2^32, `requests - k * accepts > 0`, the first
    /// tick after its bucket).
    throttle_last: Option<(u32, bool, u64)>,
    /// State changes not yet delivered to the callback and observers, oldest first.
    pending: VecDeque<(State, State)>,
    /// Some thread is delivering `pending` right now (outside the lock).
    delivering: bool,
    /// Lifetime totals, never reset.
    totals: Totals,
}

/// One closed-state outcome in a count window.
#[derive(Clone, Copy, Debug)]
struct Recorded {
    failure: bool,
    slow: bool,
}

/// The closed-state outcomes recorded in one time-window bucket.
#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    /// `tick / bucket width`.
    index: u64,
    calls: u64,
    failures: u64,
    slow: u64,
}

/// What a window holds when a rule looks at it.
#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    calls: u64,
    failures: u64,
    slow: u64,
}

/// A rate rule on counts that never wrap: at least `min_calls` calls and `hits` at
/// least `percent` % of them.
fn rate_trips(calls: u64, hits: u64, min_calls: u32, percent: u32) -> bool {
    calls >= u64::from(min_calls)
        && u128::from(hits) * 100 >= u128::from(percent) * u128::from(calls)
}

/// A manual command in force. The breaker's `state` is `Open` for the forced-open
/// ones (`expiry` is the deadline of `ForcedOpenUntil`, unused otherwise) and
/// `Closed` for the others (`expiry` 0: no counting interval).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Manual {
    ForcedOpen,
    ForcedOpenUntil,
    ForcedClosed,
    Disabled,
}

/// A circuit breaker with gobreaker's semantics behind one [`Mutex`]; see the
/// crate docs and [`warden_breaker::CircuitBreaker`] for the state machine.
///
/// ```
/// use std::time::Duration;
/// use warden_mutex::{CircuitBreaker, Error, Rejected, ManualClock, State};
///
/// let clock = ManualClock::new();
/// let cb = CircuitBreaker::builder("payments")
///     .timeout(Duration::from_secs(10))
///     .clock(clock.clone())
///     .build()?;
/// for _ in 0..6 {
///     let _ = cb.call(|| Err::<(), _>("connection refused"));
/// }
/// assert_eq!(cb.state(), State::Open);
/// assert!(matches!(cb.call(|| Ok::<_, &str>(1)), Err(Error::Rejected(Rejected::Open))));
/// clock.advance(Duration::from_millis(10_001));
/// assert_eq!(cb.call(|| Ok::<_, &str>(2)), Ok(2)); // the probe succeeds
/// assert_eq!(cb.state(), State::Closed);
/// # Ok::<(), warden_mutex::ConfigError>(())
/// ```
pub struct CircuitBreaker {
    inner: Mutex<Inner>,
    /// The current settings. Every decision reads them under `inner`'s lock, which
    /// [`reconfigure`](Self::reconfigure) holds while it replaces them, so one
    /// operation sees one version. (Read outside the lock only for what never
    /// changes: the clock, the callback and the observers.)
    settings: RwLock<Arc<Settings>>,
    name: Arc<str>,
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("CircuitBreaker")
            .field("name", &self.name())
            .field("state", &inner.state)
            .field("generation", &inner.generation)
            .field("counts", &inner.counts)
            .field("expiry", &inner.expiry)
            .finish()
    }
}

impl CircuitBreaker {
    /// Starts configuring a breaker named `name`.
    ///
    /// ```
    /// let cb = warden_mutex::CircuitBreaker::builder("kafka").build()?;
    /// assert_eq!(cb.name(), "kafka");
    /// # Ok::<(), warden_mutex::ConfigError>(())
    /// ```
    pub fn builder(name: &str) -> Builder {
        Builder {
            inner: warden_breaker::CircuitBreaker::builder(name),
        }
    }

    /// A breaker from validated settings. Built from a clone of the settings of a
    /// lock-free breaker, it shares that breaker's clock, time origin, callback and
    /// observers.
    ///
    /// ```
    /// let s = warden_breaker::CircuitBreaker::builder("x").settings()?;
    /// let lock_free = warden_breaker::CircuitBreaker::from_settings(s.clone());
    /// let mutex = warden_mutex::CircuitBreaker::from_settings(s);
    /// assert_eq!(lock_free.state(), mutex.state());
    /// # Ok::<(), warden_mutex::ConfigError>(())
    /// ```
    pub fn from_settings(settings: Settings) -> Self {
        let expiry = match settings.interval_ticks() {
            0 => 0,
            i => settings.now_ticks().saturating_add(i).min(MAX_TICK),
        };
        Self {
            inner: Mutex::new(Inner {
                state: State::Closed,
                generation: 1,
                counts: Counts::default(),
                expiry,
                held: 0,
                manual: None,
                retrip: (0, 0),
                window: VecDeque::new(),
                buckets: VecDeque::new(),
                slow: 0,
                calls: 0,
                throttle_buckets: VecDeque::new(),
                throttle_last: None,
                pending: VecDeque::new(),
                delivering: false,
                totals: Totals::default(),
            }),
            name: settings.name().into(),
            settings: RwLock::new(Arc::new(settings)),
        }
    }

    /// The breaker's name.
    ///
    /// ```
    /// assert_eq!(warden_mutex::CircuitBreaker::builder("db").build()?.name(), "db");
    /// # Ok::<(), warden_mutex::ConfigError>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The breaker's current settings (those it was built with, or the last ones
    /// given to [`reconfigure`](Self::reconfigure)).
    ///
    /// ```
    /// let cb = warden_mutex::CircuitBreaker::builder("db").build()?;
    /// assert_eq!(cb.settings().timeout_ticks(), 60_000);
    /// # Ok::<(), warden_mutex::ConfigError>(())
    /// ```
    pub fn settings(&self) -> Settings {
        Settings::clone(&self.cur())
    }

    /// The current settings.
    fn cur(&self) -> Arc<Settings> {
        Arc::clone(&self.settings.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Replaces the settings while calls run, keeping state, generation and
    /// counts by the rules of [`warden_breaker::CircuitBreaker::reconfigure`]
    /// (the same table, implemented here on the lock's plain fields): timeout and
    /// backoff from the next trip; `max_requests` at once; the half-open max wait
    /// sets each period's deadline when it begins (zero suspends it); the interval
    /// at once, keeping the counts; a new trip-rule shape (kind, count-window size,
    /// time-window or throttle length or buckets) starts a new closed generation in
    /// a closed breaker; a throttle's new `k`, minimum or cap is evaluated at once; a call admitted before slow calls were added is never slow; name,
    /// clock, callback and observers cannot change.
    ///
    /// # Errors
    ///
    /// See [`ReconfigureError`]; on error nothing changed.
    ///
    /// ```
    /// use std::time::Duration;
    /// let cb = warden_mutex::CircuitBreaker::builder("db").build()?;
    /// cb.reconfigure(warden_mutex::CircuitBreaker::builder("db").timeout(Duration::from_secs(5)))?;
    /// assert_eq!(cb.settings().timeout(), Duration::from_secs(5));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reconfigure(&self, builder: Builder) -> Result<(), ReconfigureError> {
        let mut inner = self.lock();
        let old = self.cur();
        let new = Arc::new(builder.inner.settings_for(&old)?);
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = Arc::clone(&new);
        let now = new.now_ticks();
        let size = |s: &Settings| s.count_window().map(|w| w.size());
        let shape = |s: &Settings| s.time_window().map(|w| (w.buckets(), w.bucket_width()));
        let throttle = |s: &Settings| {
            s.adaptive_throttle()
                .map(|t| (t.buckets(), t.bucket_width()))
        };
        let same_shape = size(&old) == size(&new)
            && shape(&old) == shape(&new)
            && throttle(&old) == throttle(&new);
        let closed = inner.state == State::Closed && inner.manual.is_none();
        if closed && !same_shape {
            self.new_generation(&mut inner, now);
        } else if closed && old.interval_ticks() != new.interval_ticks() {
            inner.expiry = match new.interval_ticks() {
                0 => 0,
                i => now.saturating_add(i).min(MAX_TICK),
            };
        }
        if closed && same_shape && new.adaptive_throttle().is_some() {
            // A new k, minimum or cap applies at once, to the window so far.
            self.throttle_evaluate(&mut inner, now, None);
        }
        self.unlock(inner);
        Ok(())
    }

    /// Takes the lock. A panic while it was held (in `ready_to_trip`) leaves
    /// `Inner` consistent, since each update under the lock is complete before user
    /// code runs, so a poisoned lock is recovered rather than turned into a panic.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The current state, performing a due transition first (an open breaker whose
    /// timeout passed turns half-open; a closed breaker whose interval passed clears
    /// its counts).
    ///
    /// ```
    /// let cb = warden_mutex::CircuitBreaker::builder("db").build()?;
    /// assert_eq!(cb.state(), warden_mutex::State::Closed);
    /// # Ok::<(), warden_mutex::ConfigError>(())
    /// ```
    pub fn state(&self) -> State {
        let mut inner = self.lock();
        let now = self.cur().now_ticks();
        let state = self.current_state(&mut inner, now);
        self.unlock(inner);
        state
    }

    /// Counts of the current generation. Like gobreaker, it does not look at the
    /// clock: after an interval or timeout passes, the counts change only once
    /// something calls [`state`](Self::state) or makes a call.
    ///
    /// ```
    /// let cb = warden_mutex::CircuitBreaker::builder("db").build()?;
    /// let _ = cb.call(|| Ok::<_, ()>(()));
    /// assert_eq!(cb.counts().total_successes, 1);
    /// # Ok::<(), warden_mutex::ConfigError>(())
    /// ```
    pub fn counts(&self) -> Counts {
        self.lock().counts
    }

    /// Lifetime totals, as [`warden_breaker::CircuitBreaker::totals`] defines them:
    /// every reported outcome (also stale ones), refusals by reason, slow
    /// closed-state calls and delivered transitions, never reset.
    ///
    /// ```
    /// let cb = warden_mutex::CircuitBreaker::builder("db").build()?;
    /// let _ = cb.call(|| Ok::<_, ()>(()));
    /// cb.force_open();
    /// let _ = cb.call(|| Ok::<_, ()>(()));
    /// let t = cb.totals();
    /// assert_eq!((t.successes, t.rejected_open, t.all_transitions()), (1, 1, 1));
    /// # Ok::<(), warden_mutex::ConfigError>(())
    /// ```
    pub fn totals(&self) -> Totals {
        self.lock().totals
    }

    /// Runs `f` if the breaker admits it; `Err` counts as a failure, and a panic
    /// counts as a failure and keeps unwinding.
    ///
    /// ```
    /// let cb = warden_mutex::CircuitBreaker::builder("db").build()?;
    /// assert_eq!(cb.call(|| "42".parse::<u32>()), Ok(42));
    /// assert!(cb.call(|| "x".parse::<u32>()).unwrap_err().into_inner().is_some());
    /// # Ok::<(), warden_mutex::ConfigError>(())
    /// ```
    pub fn call<T, E, F>(&self, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Result<T, E>,
    {
        self.call_with(f, |r| {
            if r.is_ok() {
                Outcome::Success
            } else {
                Outcome::Failure
            }
        })
    }

    /// Like [`call`](Self::call), with `classify` deciding what the result means
    /// to the breaker. The result is returned unchanged whatever the
    /// classification.
    ///
    /// ```
    /// use warden_mutex::{CircuitBreaker, Outcome};
    /// let cb = CircuitBreaker::builder("http").build()?;
    /// let r = cb.call_with(|| Err::<(), u16>(404), |r| match r {
    ///     Err(code) if *code < 500 => Outcome::Ignored,
    ///     Err(_) => Outcome::Failure,
    ///     Ok(_) => Outcome::Success,
    /// });
    /// assert!(r.is_err());
    /// assert_eq!(cb.counts().total_exclusions, 1);
    /// # Ok::<(), warden_mutex::ConfigError>(())
    /// ```
    pub fn call_with<T, E, F, C>(&self, f: F, classify: C) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Result<T, E>,
        C: FnOnce(&Result<T, E>) -> Outcome,
    {
        let permit = self.try_acquire()?;
        // If `f` panics, `permit` drops while panicking and records a failure.
        let result = f();
        permit.record(classify(&result));
        result.map_err(Error::Inner)
    }

    /// Two-step use: asks for admission now and reports the outcome later through
    /// the returned [`Permit`].
    ///
    /// ```
    /// let cb = warden_mutex::CircuitBreaker::builder("db").build()?;
    /// let permit = cb.try_acquire()?;
    /// permit.success();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_acquire(&self) -> Result<Permit<'_>, Rejected> {
        self.before_request().map(|ticket| Permit {
            breaker: self,
            ticket,
        })
    }

    /// [`try_acquire`](Self::try_acquire) for a shared breaker: the permit owns an
    /// `Arc`, so it can cross threads and `.await` points.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let cb = Arc::new(warden_mutex::CircuitBreaker::builder("db").build()?);
    /// let permit = cb.try_acquire_owned()?;
    /// std::thread::spawn(move || permit.success()).join().unwrap();
    /// assert_eq!(cb.counts().total_successes, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_acquire_owned(self: &Arc<Self>) -> Result<OwnedPermit, Rejected> {
        self.before_request().map(|ticket| OwnedPermit {
            breaker: Arc::clone(self),
            ticket: Some(ticket),
        })
    }

    /// Whether the breaker follows its state machine or a manual command; does not
    /// look at the clock. See [`warden_breaker::CircuitBreaker::mode`].
    ///
    /// ```
    /// use warden_mutex::{CircuitBreaker, Mode};
    /// let cb = CircuitBreaker::builder("db").build()?;
    /// cb.force_closed();
    /// assert_eq!(cb.mode(), Mode::ForcedClosed);
    /// # Ok::<(), warden_mutex::ConfigError>(())
    /// ```
    pub fn mode(&self) -> Mode {
        match self.lock().manual {
            None => Mode::Normal,
            Some(Manual::ForcedOpen | Manual::ForcedOpenUntil) => Mode::ForcedOpen,
            Some(Manual::ForcedClosed) => Mode::ForcedClosed,
            Some(Manual::Disabled) => Mode::Disabled,
        }
    }

    /// Forces the breaker open until the next command; see
    /// [`warden_breaker::CircuitBreaker::force_open`].
    ///
    /// ```
    /// use warden_mutex::{CircuitBreaker, State};
    /// let cb = CircuitBreaker::builder("db").build()?;
    /// cb.force_open();
    /// assert_eq!(cb.state(), State::Open);
    /// # Ok::<(), warden_mutex::ConfigError>(())
    /// ```
    pub fn force_open(&self) {
        self.command(Some(Manual::ForcedOpen), 0);
    }

    /// Forces the breaker open for `duration` (rounded up to whole ms), then it
    /// turns half-open; see [`warden_breaker::CircuitBreaker::force_open_for`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_mutex::{CircuitBreaker, ManualClock, State};
    /// let clock = ManualClock::new();
    /// let cb = CircuitBreaker::builder("db").clock(clock.clone()).build()?;
    /// cb.force_open_for(Duration::from_millis(10));
    /// clock.advance(Duration::from_millis(11));
    /// assert_eq!(cb.state(), State::HalfOpen);
    /// # Ok::<(), warden_mutex::ConfigError>(())
    /// ```
    pub fn force_open_for(&self, duration: Duration) {
        let deadline = self.cur().deadline_after(duration);
        if deadline > MAX_FORCED_DEADLINE {
            self.command(Some(Manual::ForcedOpen), 0);
        } else {
            self.command(Some(Manual::ForcedOpenUntil), deadline);
        }
    }

    /// Forces the breaker closed (admit all, count nothing, never trip); see
    /// [`warden_breaker::CircuitBreaker::force_closed`].
    ///
    /// ```
    /// let cb = warden_mutex::CircuitBreaker::builder("db").build()?;
    /// cb.force_closed();
    /// let _ = cb.call(|| Err::<(), _>(()));
    /// assert_eq!(cb.counts().total_failures, 0);
    /// # Ok::<(), warden_mutex::ConfigError>(())
    /// ```
    pub fn force_closed(&self) {
        self.command(Some(Manual::ForcedClosed), 0);
    }

    /// Disables the breaker (admit all, count, never trip); see
    /// [`warden_breaker::CircuitBreaker::disable`].
    ///
    /// ```
    /// let cb = warden_mutex::CircuitBreaker::builder("db").build()?;
    /// cb.disable();
    /// let _ = cb.call(|| Err::<(), _>(()));
    /// assert_eq!(cb.counts().total_failures, 1);
    /// # Ok::<(), warden_mutex::ConfigError>(())
    /// ```
    pub fn disable(&self) {
        self.command(Some(Manual::Disabled), 0);
    }

    /// Back to [`Mode::Normal`], closed, fresh counts; see
    /// [`warden_breaker::CircuitBreaker::reset`].
    ///
    /// ```
    /// let cb = warden_mutex::CircuitBreaker::builder("db").build()?;
    /// cb.force_open();
    /// cb.reset();
    /// assert_eq!(cb.state(), warden_mutex::State::Closed);
    /// # Ok::<(), warden_mutex::ConfigError>(())
    /// ```
    pub fn reset(&self) {
        self.command(None, 0);
    }

    /// Installs a command: a new generation in the state it implies, whatever the
    /// breaker was doing and without looking at the clock first (the lock-free
    /// breaker replaces its word the same way); a change of state is queued.
    fn command(&self, manual: Option<Manual>, deadline: u64) {
        let mut inner = self.lock();
        let now = self.cur().now_ticks();
        let from = inner.state;
        inner.state = match manual {
            Some(Manual::ForcedOpen | Manual::ForcedOpenUntil) => State::Open,
            _ => State::Closed,
        };
        inner.manual = manual;
        self.new_generation(&mut inner, now);
        match manual {
            None => {} // reset: closed with a fresh counting interval
            Some(Manual::ForcedOpenUntil) => inner.expiry = deadline,
            Some(_) => inner.expiry = 0,
        }
        if from != inner.state {
            let to = inner.state;
            inner.pending.push_back((from, to));
        }
        self.unlock(inner);
    }

    /// gobreaker's `currentState(now)`: lets the state catch up with the clock.
    /// Expiry comparisons are strict (`expiry < now`), as in gobreaker.
    fn current_state(&self, inner: &mut Inner, now: u64) -> State {
        match inner.state {
            State::Closed => {
                // Forced closed and disabled have no counting interval (expiry 0).
                if inner.expiry != 0 && inner.expiry < now {
                    self.new_generation(inner, now);
                }
            }
            State::Open => {
                // Forced open without a deadline never expires.
                if inner.manual != Some(Manual::ForcedOpen) && inner.expiry < now {
                    self.set_state(inner, State::HalfOpen, now);
                }
            }
            State::HalfOpen => {
                // A half-open generation that outlived its max wait re-opens, as a
                // failed probe would.
                // `expiry` 0: the period began without a max wait (a later
                // reconfiguration does not give it one); a max wait set to zero
                // suspends a deadline the period began with.
                if self.cur().half_open_max_wait_ticks() != 0
                    && inner.expiry != 0
                    && inner.expiry < now
                {
                    self.set_state(inner, State::Open, now);
                }
            }
        }
        inner.state
    }

    /// gobreaker's `setState`: a real change starts a new generation and queues the
    /// callbacks (delivered by [`unlock`](Self::unlock), outside the lock).
    fn set_state(&self, inner: &mut Inner, to: State, now: u64) {
        if inner.state == to {
            return;
        }
        let from = inner.state;
        // Re-trips are counted only while a backoff is set (as the lock-free breaker
        // does): a reconfiguration that adds one starts counting afresh.
        let retrips = match (from, to) {
            _ if !self.cur().has_open_backoff() => 0,
            (State::HalfOpen, State::Open) if inner.retrip.0 == inner.generation - 1 => {
                inner.retrip.1 + 1
            }
            (State::HalfOpen, State::Open) => 1,
            _ => 0,
        };
        inner.state = to;
        // Every state-machine transition leaves a manual mode (only a forced-open
        // deadline passing can cause one there).
        inner.manual = None;
        self.new_generation(inner, now);
        if to == State::Open {
            inner.expiry = now
                .saturating_add(self.cur().open_ticks(retrips, now))
                .min(MAX_TICK);
            if retrips != 0 {
                inner.retrip = (inner.generation, retrips);
            }
        }
        inner.pending.push_back((from, to));
    }

    /// gobreaker's `toNewGeneration`: clears the counts and sets the expiry of the
    /// (possibly new) current state.
    fn new_generation(&self, inner: &mut Inner, now: u64) {
        inner.generation += 1;
        inner.counts = Counts::default();
        inner.window.clear();
        inner.buckets.clear();
        inner.throttle_buckets.clear();
        inner.throttle_last = None;
        inner.slow = 0;
        inner.calls = 0;
        inner.held = 0;
        let after = |ticks: u64| now.saturating_add(ticks).min(MAX_TICK);
        inner.expiry = match inner.state {
            State::Closed => match self.cur().interval_ticks() {
                0 => 0,
                i => after(i),
            },
            State::Open => after(self.cur().timeout_ticks()),
            State::HalfOpen => match self.cur().half_open_max_wait_ticks() {
                0 => 0,
                m => after(m),
            },
        };
    }

    /// gobreaker's `beforeRequest`, then the admission event.
    fn before_request(&self) -> Result<Ticket, Rejected> {
        let mut inner = self.lock();
        let now = self.cur().now_ticks();
        let result = match self.current_state(&mut inner, now) {
            State::Open => Err(Rejected::Open),
            State::Closed if inner.manual.is_none() && self.throttle_rejects(&mut inner, now) => {
                Err(Rejected::Throttled)
            }
            State::HalfOpen if inner.held >= self.cur().max_requests() => {
                Err(Rejected::TooManyRequests)
            }
            state => {
                // Forced closed counts nothing; disabled counts like closed.
                if inner.manual != Some(Manual::ForcedClosed) {
                    inner.counts.requests = inner.counts.requests.wrapping_add(1);
                }
                if state == State::HalfOpen {
                    inner.held += 1;
                }
                // Slow calls time closed-state admissions, and only those (half-open
                // and manual generations do not evaluate them); nobody else pays
                // for the clock read.
                let start_ns = match self.cur().slow_calls() {
                    Some(_) if state == State::Closed => Some(self.cur().now_nanos()),
                    _ => None,
                };
                Ok(Ticket {
                    generation: inner.generation,
                    state,
                    start_ns,
                })
            }
        };
        match result {
            Err(Rejected::Open) => inner.totals.rejected_open += 1,
            Err(Rejected::TooManyRequests) => inner.totals.rejected_too_many_requests += 1,
            Err(Rejected::Throttled) => inner.totals.rejected_throttled += 1,
            Ok(_) => {}
        }
        // The open -> half-open change above (if any) is delivered before the
        // admission event, the lock-free breaker's order.
        self.unlock(inner);
        match result {
            Ok(t) => self.cur().observe(|o| o.on_admitted(t.state)),
            Err(r) => self.cur().observe(|o| o.on_rejected(r)),
        }
        result
    }

    /// gobreaker's `afterRequest`; `None` is a permit dropped without an outcome.
    fn after_request(&self, ticket: Ticket, outcome: Option<Outcome>) {
        self.cur().observe(|o| match outcome {
            Some(Outcome::Success) => o.on_success(),
            Some(Outcome::Failure) => o.on_failure(),
            Some(Outcome::Ignored) => o.on_ignored(),
            None => o.on_dropped(),
        });
        let mut inner = self.lock();
        let t = &mut inner.totals;
        match outcome {
            Some(Outcome::Success) => t.successes += 1,
            Some(Outcome::Failure) => t.failures += 1,
            Some(Outcome::Ignored) => t.ignored += 1,
            None => t.dropped += 1,
        }
        let now = self.cur().now_ticks();
        // Time is evaluated even for a stale outcome, as gobreaker does.
        let state = self.current_state(&mut inner, now);
        if inner.generation == ticket.generation {
            let slow = match self.cur().slow_calls() {
                Some(rule) if ticket.state == State::Closed => ticket
                    .start_ns
                    .is_some_and(|start| rule.is_slow(start, self.cur().now_nanos())),
                _ => false,
            };
            self.record(&mut inner, state, outcome, now, slow);
        }
        self.unlock(inner);
    }

    /// The throttle's bucket width in ticks (1 without a throttle).
    fn throttle_width(&self) -> u64 {
        self.cur()
            .adaptive_throttle()
            .map_or(1, |rule| {
                u64::try_from(rule.bucket_width().as_millis()).unwrap_or(u64::MAX)
            })
            .max(1)
    }

    /// Whether the adaptive throttle sheds a call offered at `now` (closed by the
    /// rules): a draw only when the last evaluation's probability is above zero,
    /// re-evaluated first if its bucket is over; a rejection is a request.
    fn throttle_rejects(&self, inner: &mut Inner, now: u64) -> bool {
        let Some((p, _, until)) = inner.throttle_last else {
            return false;
        };
        if p == 0 || self.cur().adaptive_throttle().is_none() {
            return false;
        }
        let p = if now >= until {
            self.throttle_evaluate(inner, now, None)
        } else {
            p
        };
        if AdaptiveThrottle::draw() >= p {
            return false;
        }
        self.throttle_evaluate(inner, now, Some(false));
        true
    }

    /// Counts a request at `now` (`Some(accepted)`) into the throttle's window,
    /// evaluates the rule over the window ending in `now`'s bucket and keeps the
    /// result; returns its probability.
    fn throttle_evaluate(&self, inner: &mut Inner, now: u64, request: Option<bool>) -> u32 {
        let Some(rule) = self.cur().adaptive_throttle() else {
            return 0;
        };
        let width = u64::try_from(rule.bucket_width().as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let index = now / width;
        let oldest = index.saturating_sub(u64::from(rule.buckets()) - 1);
        while inner.throttle_buckets.front().is_some_and(|b| b.0 < oldest) {
            inner.throttle_buckets.pop_front();
        }
        if let Some(accepted) = request {
            if inner.throttle_buckets.back().is_none_or(|b| b.0 != index) {
                inner.throttle_buckets.push_back((index, 0, 0));
            }
            if let Some(b) = inner.throttle_buckets.back_mut() {
                b.1 += 1;
                b.2 += u64::from(accepted);
            }
        }
        let (requests, accepts) = inner
            .throttle_buckets
            .iter()
            .filter(|b| (oldest..=index).contains(&b.0))
            .fold((0, 0), |(r, a), b| (r + b.1, a + b.2));
        let p = rule.reject_probability(requests, accepts);
        let p = (p * 4_294_967_296.0).min(f64::from(u32::MAX)) as u32;
        let failing = requests as f64 - rule.k() * accepts as f64 > 0.0;
        inner.throttle_last = Some((p, failing, (index + 1).saturating_mul(width)));
        p
    }

    /// Adds a closed-state outcome to the generation's window and returns what the
    /// window holds with it: the last `size` outcomes with a count window; with a
    /// time window, the outcomes whose bucket is among the `buckets` ending with
    /// this one's (`now / width`); otherwise every success and failure of the
    /// generation (only `calls` and `slow` are used then, by the slow-call rule).
    fn push_outcome(&self, inner: &mut Inner, now: u64, failure: bool, slow: bool) -> Tally {
        if let Some(rule) = self.cur().count_window() {
            inner.window.push_back(Recorded { failure, slow });
            if inner.window.len() > rule.size() as usize {
                inner.window.pop_front();
            }
            let mut t = Tally::default();
            for r in &inner.window {
                t.calls += 1;
                t.failures += u64::from(r.failure);
                t.slow += u64::from(r.slow);
            }
            return t;
        }
        if let Some(rule) = self.cur().time_window() {
            // Validation makes the width a whole number of ms, at least 1.
            let width = u64::try_from(rule.bucket_width().as_millis())
                .unwrap_or(u64::MAX)
                .max(1);
            let index = now / width;
            let oldest = index.saturating_sub(u64::from(rule.buckets()) - 1);
            while inner.buckets.front().is_some_and(|b| b.index < oldest) {
                inner.buckets.pop_front();
            }
            // Ticks never go back under the lock, so this is the newest bucket or a
            // new one after it.
            if inner.buckets.back().is_none_or(|b| b.index != index) {
                inner.buckets.push_back(Bucket {
                    index,
                    ..Bucket::default()
                });
            }
            if let Some(b) = inner.buckets.back_mut() {
                b.calls += 1;
                b.failures += u64::from(failure);
                b.slow += u64::from(slow);
            }
            let mut t = Tally::default();
            for b in inner
                .buckets
                .iter()
                .filter(|b| (oldest..=index).contains(&b.index))
            {
                t.calls += b.calls;
                t.failures += b.failures;
                t.slow += b.slow;
            }
            return t;
        }
        if slow {
            inner.slow += 1;
        }
        Tally {
            calls: inner.calls,
            failures: u64::from(inner.counts.total_failures),
            slow: inner.slow,
        }
    }

    /// Applies an outcome of the current generation (`slow`: a closed-state
    /// admission that took at least the slow-call threshold).
    fn record(
        &self,
        inner: &mut Inner,
        state: State,
        outcome: Option<Outcome>,
        now: u64,
        slow: bool,
    ) {
        let c = &mut inner.counts;
        match inner.manual {
            None => {}
            // Disabled: counted as in closed, never trips.
            Some(Manual::Disabled) => {
                match outcome {
                    Some(Outcome::Success) => {
                        c.total_successes = c.total_successes.wrapping_add(1);
                        c.consecutive_successes = c.consecutive_successes.wrapping_add(1);
                        c.consecutive_failures = 0;
                    }
                    Some(Outcome::Failure) => {
                        c.total_failures = c.total_failures.wrapping_add(1);
                        c.consecutive_failures = c.consecutive_failures.wrapping_add(1);
                        c.consecutive_successes = 0;
                    }
                    Some(Outcome::Ignored) => {
                        c.total_exclusions = c.total_exclusions.wrapping_add(1)
                    }
                    None => {}
                }
                return;
            }
            // Forced closed counts nothing; forced open admits nobody.
            Some(_) => return,
        }
        match (state, outcome) {
            (State::Open, _) => {} // an open generation admits nobody
            (State::HalfOpen, Some(Outcome::Success)) => {
                c.total_successes = c.total_successes.wrapping_add(1);
                c.consecutive_successes = c.consecutive_successes.wrapping_add(1);
                c.consecutive_failures = 0;
                if c.consecutive_successes >= self.cur().max_requests() {
                    self.set_state(inner, State::Closed, now);
                }
            }
            (State::Closed, Some(outcome @ (Outcome::Success | Outcome::Failure))) => {
                let failure = outcome == Outcome::Failure;
                inner.calls += 1;
                if slow {
                    inner.totals.slow_calls += 1;
                }
                let c = &mut inner.counts;
                if failure {
                    c.total_failures = c.total_failures.wrapping_add(1);
                    c.consecutive_failures = c.consecutive_failures.wrapping_add(1);
                    c.consecutive_successes = 0;
                } else {
                    c.total_successes = c.total_successes.wrapping_add(1);
                    c.consecutive_successes = c.consecutive_successes.wrapping_add(1);
                    c.consecutive_failures = 0;
                }
                let window = self.push_outcome(inner, now, failure, slow);
                if self.cur().adaptive_throttle().is_some() {
                    // The throttle replaces the failure rules and never opens. A
                    // success evaluates only if it can change the probability.
                    let evaluates = failure
                        || inner
                            .throttle_last
                            .is_none_or(|(p, failing, until)| p != 0 || failing || now >= until);
                    if evaluates {
                        self.throttle_evaluate(inner, now, Some(!failure));
                    } else if let Some(b) = inner.throttle_buckets.back_mut()
                        && b.0 == now / self.throttle_width()
                    {
                        b.1 += 1;
                        b.2 += 1;
                    } else {
                        self.throttle_evaluate(inner, now, Some(true));
                    }
                    return;
                }
                // The failure rule first, then the slow-call rule; either trips.
                let mut trips = failure
                    && if let Some(rule) = self.cur().count_window() {
                        let (min, rate) = (rule.min_calls(), rule.failure_rate_percent());
                        rate_trips(window.calls, window.failures, min, rate)
                    } else if let Some(rule) = self.cur().time_window() {
                        let (min, rate) = (rule.min_calls(), rule.failure_rate_percent());
                        rate_trips(window.calls, window.failures, min, rate)
                    } else {
                        self.cur().ready_to_trip(&inner.counts)
                    };
                if !trips && slow {
                    trips = self.cur().slow_calls().is_some_and(|rule| {
                        let (min, rate) = (rule.min_calls(), rule.slow_rate_percent());
                        rate_trips(window.calls, window.slow, min, rate)
                    });
                }
                if trips {
                    self.set_state(inner, State::Open, now);
                }
            }
            (State::HalfOpen, Some(Outcome::Failure)) => self.set_state(inner, State::Open, now),
            (_, Some(Outcome::Ignored)) => {
                c.total_exclusions = c.total_exclusions.wrapping_add(1);
                if state == State::HalfOpen {
                    inner.held = inner.held.saturating_sub(1);
                }
            }
            // Dropped unreported: in closed it stays in `requests` (gobreaker's `done`
            // never called); in half-open it gives its slot back.
            (State::Closed, None) => {}
            (State::HalfOpen, None) => inner.held = inner.held.saturating_sub(1),
        }
    }

    /// Releases the lock, then delivers queued state changes unless another thread
    /// already is.
    ///
    /// gobreaker calls `OnStateChange` with its mutex held, so a callback that
    /// looks at the breaker deadlocks (gobreaker issue #37). Here the changes are
    /// queued under the lock, in the order they happened, and delivered without
    /// it. One thread at a time delivers (`delivering`), taking one change at a
    /// time from the queue, so callbacks run exactly once per transition and in
    /// transition order even when other threads, or the callbacks themselves,
    /// cause further transitions meanwhile: those are queued and delivered by the
    /// same loop. A panicking callback does not stop delivery; the first panic
    /// resumes once the queue is empty.
    fn unlock<'a>(&'a self, mut inner: MutexGuard<'a, Inner>) {
        if inner.delivering || inner.pending.is_empty() {
            return;
        }
        inner.delivering = true;
        let mut panic = None;
        while let Some((from, to)) = inner.pending.pop_front() {
            inner.totals.transitions[from.index()][to.index()] += 1;
            drop(inner);
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| {
                self.cur().notify_state_change(from, to)
            })) {
                panic.get_or_insert(p);
            }
            inner = self.lock();
        }
        inner.delivering = false;
        drop(inner);
        if let Some(p) = panic {
            resume_unwind(p);
        }
    }
}

impl Breaker for CircuitBreaker {
    type Permit<'a> = Permit<'a>;

    fn name(&self) -> &str {
        CircuitBreaker::name(self)
    }
    fn state(&self) -> State {
        CircuitBreaker::state(self)
    }
    fn counts(&self) -> Counts {
        CircuitBreaker::counts(self)
    }
    fn try_acquire(&self) -> Result<Permit<'_>, Rejected> {
        CircuitBreaker::try_acquire(self)
    }
}

/// What a permit reports back with: the generation that admitted it, the state
/// it was admitted in and, with slow calls configured, when (closed state only).
#[derive(Clone, Copy, Debug)]
struct Ticket {
    generation: u64,
    state: State,
    /// [`Settings::now_nanos`] at a closed-state admission when slow calls are
    /// configured; `None` otherwise (such a call is never slow, even if a
    /// reconfiguration added slow calls before it ended).
    start_ns: Option<u64>,
}

/// The outcome a permit records when dropped unreported.
fn drop_outcome() -> Option<Outcome> {
    if std::thread::panicking() {
        Some(Outcome::Failure)
    } else {
        None
    }
}

/// Admission to one call, borrowed from its breaker; the same rules as
/// [`warden_breaker::Permit`]: dropped unreported it releases a half-open slot,
/// dropped while its thread panics it records a failure.
///
/// ```
/// let cb = warden_mutex::CircuitBreaker::builder("db").build()?;
/// match cb.try_acquire() {
///     Ok(permit) => permit.failure(),
///     Err(rejected) => eprintln!("not sent: {rejected}"),
/// }
/// assert_eq!(cb.counts().total_failures, 1);
/// # Ok::<(), warden_mutex::ConfigError>(())
/// ```
#[must_use = "a permit records a failure or releases its slot when dropped; report the outcome"]
#[clippy::has_significant_drop]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    ticket: Ticket,
}

impl Permit<'_> {
    /// Records `outcome` for the admitted call.
    ///
    /// ```
    /// let cb = warden_mutex::CircuitBreaker::builder("db").build()?;
    /// cb.try_acquire()?.record(warden_mutex::Outcome::Ignored);
    /// assert_eq!(cb.counts().total_exclusions, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn record(self, outcome: Outcome) {
        let this = ManuallyDrop::new(self);
        this.breaker.after_request(this.ticket, Some(outcome));
    }

    /// Records a success.
    ///
    /// ```
    /// let cb = warden_mutex::CircuitBreaker::builder("db").build()?;
    /// cb.try_acquire()?.success();
    /// assert_eq!(cb.counts().consecutive_successes, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn success(self) {
        self.record(Outcome::Success)
    }

    /// Records a failure.
    ///
    /// ```
    /// let cb = warden_mutex::CircuitBreaker::builder("db").build()?;
    /// cb.try_acquire()?.failure();
    /// assert_eq!(cb.counts().consecutive_failures, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn failure(self) {
        self.record(Outcome::Failure)
    }

    /// Records an outcome that is neither success nor failure; in half-open the
    /// probe slot is freed.
    ///
    /// ```
    /// let cb = warden_mutex::CircuitBreaker::builder("db").build()?;
    /// cb.try_acquire()?.ignore();
    /// assert_eq!(cb.counts().total_exclusions, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ignore(self) {
        self.record(Outcome::Ignored)
    }

    /// The state the call was admitted in (closed, or half-open for a probe).
    ///
    /// ```
    /// let cb = warden_mutex::CircuitBreaker::builder("db").build()?;
    /// let p = cb.try_acquire()?;
    /// assert_eq!(p.admitted_in(), warden_mutex::State::Closed);
    /// p.success();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn admitted_in(&self) -> State {
        self.ticket.state
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.breaker.after_request(self.ticket, drop_outcome());
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.breaker.name())
            .field("generation", &self.ticket.generation)
            .field("admitted_in", &self.ticket.state)
            .finish()
    }
}

impl BreakerPermit for Permit<'_> {
    fn record(self, outcome: Outcome) {
        Permit::record(self, outcome)
    }
}

/// Admission to one call that owns an `Arc` of its breaker, so it is `'static`.
/// Same rules as [`Permit`].
///
/// ```
/// use std::sync::Arc;
/// let cb = Arc::new(warden_mutex::CircuitBreaker::builder("db").build()?);
/// let permit = cb.try_acquire_owned()?;
/// drop(permit); // no outcome: in closed state it stays counted as a request
/// assert_eq!(cb.counts().requests, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a permit records a failure or releases its slot when dropped; report the outcome"]
#[clippy::has_significant_drop]
pub struct OwnedPermit {
    breaker: Arc<CircuitBreaker>,
    /// `None` once reported, so `Drop` does nothing more.
    ticket: Option<Ticket>,
}

impl OwnedPermit {
    /// Records `outcome` for the admitted call.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let cb = Arc::new(warden_mutex::CircuitBreaker::builder("db").build()?);
    /// cb.try_acquire_owned()?.record(warden_mutex::Outcome::Failure);
    /// assert_eq!(cb.counts().total_failures, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn record(mut self, outcome: Outcome) {
        if let Some(ticket) = self.ticket.take() {
            self.breaker.after_request(ticket, Some(outcome));
        }
    }

    /// Records a success.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let cb = Arc::new(warden_mutex::CircuitBreaker::builder("db").build()?);
    /// cb.try_acquire_owned()?.success();
    /// assert_eq!(cb.counts().total_successes, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn success(self) {
        self.record(Outcome::Success)
    }

    /// Records a failure.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let cb = Arc::new(warden_mutex::CircuitBreaker::builder("db").build()?);
    /// cb.try_acquire_owned()?.failure();
    /// assert_eq!(cb.counts().total_failures, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn failure(self) {
        self.record(Outcome::Failure)
    }

    /// Records an outcome that is neither success nor failure.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let cb = Arc::new(warden_mutex::CircuitBreaker::builder("db").build()?);
    /// cb.try_acquire_owned()?.ignore();
    /// assert_eq!(cb.counts().total_exclusions, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ignore(self) {
        self.record(Outcome::Ignored)
    }

    /// The state the call was admitted in.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let cb = Arc::new(warden_mutex::CircuitBreaker::builder("db").build()?);
    /// let p = cb.try_acquire_owned()?;
    /// assert_eq!(p.admitted_in(), warden_mutex::State::Closed);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn admitted_in(&self) -> State {
        self.ticket.map_or(State::Closed, |t| t.state)
    }

    /// The breaker this permit belongs to.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let cb = Arc::new(warden_mutex::CircuitBreaker::builder("db").build()?);
    /// let p = cb.try_acquire_owned()?;
    /// assert_eq!(p.breaker().name(), "db");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn breaker(&self) -> &Arc<CircuitBreaker> {
        &self.breaker
    }
}

impl Drop for OwnedPermit {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.breaker.after_request(ticket, drop_outcome());
        }
    }
}

impl fmt::Debug for OwnedPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPermit")
            .field("breaker", &self.breaker.name())
            .field("ticket", &self.ticket)
            .finish()
    }
}

impl BreakerPermit for OwnedPermit {
    fn record(self, outcome: Outcome) {
        OwnedPermit::record(self, outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn clocked(b: Builder) -> (CircuitBreaker, ManualClock) {
        let clock = ManualClock::new();
        let cb = b.clock(clock.clone()).build().expect("valid settings");
        (cb, clock)
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn default_trips_on_the_sixth_consecutive_failure() {
        let cb = CircuitBreaker::builder("t").build().expect("valid");
        for _ in 0..5 {
            let _ = cb.call(|| Err::<(), _>(()));
        }
        assert_eq!(cb.state(), State::Closed);
        assert_eq!(
            cb.counts(),
            Counts {
                requests: 5,
                total_failures: 5,
                consecutive_failures: 5,
                ..Counts::default()
            }
        );
        let _ = cb.call(|| Err::<(), _>(()));
        assert_eq!(cb.state(), State::Open);
        assert_eq!(cb.counts(), Counts::default());
    }

    #[test]
    fn open_turns_half_open_strictly_after_the_timeout() {
        let (cb, clock) = clocked(
            CircuitBreaker::builder("t")
                .timeout(ms(10))
                .ready_to_trip(|c| c.consecutive_failures >= 1),
        );
        let _ = cb.call(|| Err::<(), _>(()));
        clock.advance(ms(10));
        assert_eq!(cb.try_acquire().unwrap_err(), Rejected::Open);
        clock.advance(ms(1));
        let probe = cb.try_acquire().expect("half-open admits a probe");
        assert_eq!(probe.admitted_in(), State::HalfOpen);
        assert_eq!(
            cb.try_acquire().unwrap_err(),
            Rejected::TooManyRequests,
            "max_requests 1"
        );
        drop(probe);
        assert_eq!(cb.counts().requests, 1, "a released probe still counts");
        cb.try_acquire().expect("the slot was released").success();
        assert_eq!(cb.state(), State::Closed);
    }

    #[test]
    fn interval_resets_counts_and_makes_outstanding_permits_stale() {
        let (cb, clock) = clocked(CircuitBreaker::builder("t").interval(ms(5)));
        let stale = cb.try_acquire().expect("closed admits");
        let _ = cb.call(|| Err::<(), _>(()));
        clock.advance(ms(5));
        assert_eq!(cb.counts().requests, 2);
        clock.advance(ms(1));
        // Counts do not evaluate time; state does.
        assert_eq!(cb.counts().requests, 2);
        assert_eq!(cb.state(), State::Closed);
        assert_eq!(cb.counts(), Counts::default());
        stale.failure();
        assert_eq!(cb.counts(), Counts::default());
    }

    #[test]
    fn callbacks_run_outside_the_lock_in_order() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let cb = Arc::new_cyclic(|weak: &std::sync::Weak<CircuitBreaker>| {
            let weak = weak.clone();
            let seen = Arc::clone(&seen);
            CircuitBreaker::builder("t")
                .timeout(ms(1))
                .ready_to_trip(|c| c.consecutive_failures >= 1)
                .on_state_change(move |_, from, to| {
                    // Re-entering the breaker would deadlock under gobreaker's design.
                    let now = weak.upgrade().map(|cb| (cb.state(), cb.counts()));
                    seen.lock().expect("not poisoned").push((from, to, now));
                })
                .build()
                .expect("valid")
        });
        let _ = cb.call(|| Err::<(), _>(()));
        assert_eq!(
            *seen.lock().expect("not poisoned"),
            vec![(
                State::Closed,
                State::Open,
                Some((State::Open, Counts::default()))
            )]
        );
    }

    #[test]
    fn a_transition_caused_by_a_callback_is_delivered_after_it() {
        let clock = ManualClock::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let cb = Arc::new_cyclic(|weak: &std::sync::Weak<CircuitBreaker>| {
            let (weak, seen, clock) = (weak.clone(), Arc::clone(&seen), clock.clone());
            CircuitBreaker::builder("t")
                .timeout(ms(1))
                .ready_to_trip(|c| c.consecutive_failures >= 1)
                .clock(clock.clone())
                .on_state_change(move |_, from, to| {
                    seen.lock().expect("not poisoned").push((from, to));
                    if to == State::Open {
                        // Lets the timeout pass and looks: open -> half-open, queued
                        // while this callback runs, delivered right after it.
                        clock.advance(ms(2));
                        if let Some(cb) = weak.upgrade() {
                            assert_eq!(cb.state(), State::HalfOpen);
                        }
                        seen.lock().expect("not poisoned").push((to, to));
                    }
                })
                .build()
                .expect("valid")
        });
        let _ = cb.call(|| Err::<(), _>(()));
        assert_eq!(
            *seen.lock().expect("not poisoned"),
            vec![
                (State::Closed, State::Open),
                (State::Open, State::Open),
                (State::Open, State::HalfOpen)
            ]
        );
    }

    #[test]
    fn a_panicking_ready_to_trip_poisons_nothing_observable() {
        let cb = CircuitBreaker::builder("t")
            .ready_to_trip(|c| {
                assert!(c.total_failures < 2, "deliberate panic in ready_to_trip");
                false
            })
            .build()
            .expect("valid");
        let _ = cb.call(|| Err::<(), _>(()));
        let r = catch_unwind(AssertUnwindSafe(|| cb.call(|| Err::<(), _>(()))));
        assert!(r.is_err(), "the panic reaches the caller");
        assert!(cb.inner.is_poisoned());
        // The breaker keeps working on the recovered guard.
        assert_eq!(cb.state(), State::Closed);
        assert_eq!(cb.counts().total_failures, 2);
        assert_eq!(cb.call(|| Ok::<_, ()>(7)), Ok(7));
    }

    #[test]
    fn a_panicking_callback_still_delivers_the_rest() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c2 = Arc::clone(&calls);
        let (cb, clock) = clocked(
            CircuitBreaker::builder("t")
                .timeout(ms(1))
                .ready_to_trip(|c| c.consecutive_failures >= 1)
                .on_state_change(move |_, _, to| {
                    c2.fetch_add(1, Ordering::Relaxed);
                    assert_ne!(to, State::Open, "deliberate panic in a callback");
                }),
        );
        let r = catch_unwind(AssertUnwindSafe(|| cb.call(|| Err::<(), _>(()))));
        assert!(r.is_err());
        clock.advance(ms(2));
        assert_eq!(cb.state(), State::HalfOpen, "delivery did not wedge");
        assert_eq!(calls.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_permit_dropped_while_panicking_records_a_failure() {
        let cb = CircuitBreaker::builder("t").build().expect("valid");
        let r = catch_unwind(AssertUnwindSafe(|| {
            cb.call(|| -> Result<(), ()> { panic!("deliberate panic in a call") })
        }));
        assert!(r.is_err());
        assert_eq!(cb.counts().total_failures, 1);
    }

    fn fail(cb: &CircuitBreaker) {
        let _ = cb.call(|| Err::<(), _>(()));
    }

    fn succeed(cb: &CircuitBreaker) {
        let _ = cb.call(|| Ok::<_, ()>(()));
    }

    /// A call that takes `d` on `clock` and ends with `ok`.
    fn slow(cb: &CircuitBreaker, clock: &ManualClock, d: Duration, ok: bool) {
        let _ = cb.call(|| {
            clock.advance(d);
            if ok { Ok(()) } else { Err(()) }
        });
    }

    #[test]
    fn time_window_counts_the_current_bucket_and_the_ones_before_it() {
        // 4 ms in 2 buckets of 2 ms; 2 calls, trip at 100 %.
        let (cb, clock) = clocked(
            CircuitBreaker::builder("t").time_window(
                TimeWindow::new(ms(4))
                    .with_buckets(2)
                    .with_min_calls(2)
                    .with_failure_rate_percent(100),
            ),
        );
        fail(&cb); // tick 0, bucket 0
        clock.advance(ms(3));
        fail(&cb); // tick 3, bucket 1: buckets 0..=1 hold both
        assert_eq!(cb.state(), State::Open);

        let (cb, clock) = clocked(
            CircuitBreaker::builder("t").time_window(
                TimeWindow::new(ms(4))
                    .with_buckets(2)
                    .with_min_calls(2)
                    .with_failure_rate_percent(100),
            ),
        );
        clock.advance(ms(1));
        fail(&cb); // tick 1, bucket 0
        clock.advance(ms(3));
        fail(&cb); // tick 4, bucket 2: bucket 0 left although only 3 ms passed
        assert_eq!(cb.state(), State::Closed);
        clock.advance(ms(1));
        fail(&cb); // tick 5, bucket 2
        assert_eq!(cb.state(), State::Open);
    }

    #[test]
    fn time_window_uses_the_record_tick_and_evaluates_only_on_failures() {
        // 10 ms in 10 buckets; 2 calls, 100 %.
        let (cb, clock) = clocked(
            CircuitBreaker::builder("t").time_window(
                TimeWindow::new(ms(10))
                    .with_buckets(10)
                    .with_min_calls(2)
                    .with_failure_rate_percent(100),
            ),
        );
        let early = cb.try_acquire().expect("closed");
        clock.advance(ms(10));
        // Admitted at tick 0 (bucket 0, out of the window 1..=10 by now), recorded
        // at tick 10: it counts in bucket 10.
        early.failure();
        fail(&cb);
        assert_eq!(cb.state(), State::Open, "2 failures of 2 in the window");

        // 2 calls, 50 %: a success reaching the rate does not trip; the next
        // failure does.
        let (cb, _clock) = clocked(
            CircuitBreaker::builder("t").time_window(
                TimeWindow::new(ms(10))
                    .with_buckets(10)
                    .with_min_calls(2)
                    .with_failure_rate_percent(50),
            ),
        );
        fail(&cb); // 1 call: under the minimum
        succeed(&cb); // 1 failure of 2, but a success is not evaluated
        assert_eq!(cb.state(), State::Closed);
        fail(&cb); // 2 of 3
        assert_eq!(cb.state(), State::Open);
    }

    #[test]
    fn time_window_starts_empty_in_each_generation() {
        // Interval 3 ms: the reset at tick 4 empties the window (100 ms, 1 bucket).
        let (cb, clock) = clocked(
            CircuitBreaker::builder("t").interval(ms(3)).time_window(
                TimeWindow::new(ms(100))
                    .with_buckets(1)
                    .with_min_calls(2)
                    .with_failure_rate_percent(100),
            ),
        );
        fail(&cb);
        clock.advance(ms(4));
        fail(&cb);
        assert_eq!(
            cb.state(),
            State::Closed,
            "the first failure was reset away"
        );
        fail(&cb);
        assert_eq!(cb.state(), State::Open);
        // Ignored outcomes and drops are not calls.
        let (cb, _clock) = clocked(
            CircuitBreaker::builder("t").time_window(
                TimeWindow::new(ms(100))
                    .with_buckets(4)
                    .with_min_calls(2)
                    .with_failure_rate_percent(50),
            ),
        );
        let _ = cb.call_with(|| Err::<(), _>(()), |_| Outcome::Ignored);
        drop(cb.try_acquire().expect("closed"));
        fail(&cb);
        assert_eq!(cb.state(), State::Closed, "one call in the window");
    }

    #[test]
    fn slow_calls_threshold_is_inclusive_and_a_slow_success_trips() {
        let (cb, clock) = clocked(
            CircuitBreaker::builder("t").slow_calls(
                SlowCalls::new(ms(5))
                    .with_slow_rate_percent(100)
                    .with_min_calls(1),
            ),
        );
        slow(&cb, &clock, Duration::from_nanos(4_999_999), true);
        assert_eq!(cb.state(), State::Closed, "just under the threshold");
        slow(&cb, &clock, ms(5), true);
        assert_eq!(cb.state(), State::Closed, "1 slow of 2: 50 %");
        let (cb, clock) = clocked(
            CircuitBreaker::builder("t").slow_calls(
                SlowCalls::new(ms(5))
                    .with_slow_rate_percent(100)
                    .with_min_calls(1),
            ),
        );
        slow(&cb, &clock, ms(5), true);
        assert_eq!(cb.state(), State::Open, "at the threshold: slow");
    }

    const WRAP: u64 = 1 << 32;

    /// Test seam: exactly what `successes` closed-state successes leave behind.
    fn after_successes(cb: &CircuitBreaker, successes: u64) {
        let mut inner = cb.inner.lock().expect("not poisoned");
        inner.counts.requests = successes as u32;
        inner.counts.total_successes = successes as u32;
        inner.counts.consecutive_successes = successes as u32;
        inner.calls = successes;
    }

    // The same three cases as the core's unit tests past 2^32 calls: the two agree.

    #[test]
    fn count_window_past_2_pow_32_calls_counts_its_real_last_calls() {
        let cb = CircuitBreaker::builder("t")
            .count_window(
                CountWindow::new(100)
                    .with_min_calls(10)
                    .with_failure_rate_percent(50),
            )
            .build()
            .expect("valid");
        after_successes(&cb, WRAP - 50);
        for call in 0..1_000 {
            let r = if call % 10 == 9 { Err(()) } else { Ok(()) };
            let _ = cb.call(|| r);
            assert_eq!(cb.state(), State::Closed, "tripped at call {call}");
        }
        for _ in 0..60 {
            let _ = cb.call(|| Err::<(), _>(()));
        }
        assert_eq!(cb.state(), State::Open);
    }

    #[test]
    fn slow_call_rate_without_a_window_past_2_pow_32_calls() {
        // Before: the rule read total successes plus failures, which wrap modulo
        // 2^32, as the generation's calls, and tripped at a rate of about 1e-9.
        let (cb, clock) = clocked(
            CircuitBreaker::builder("t").slow_calls(
                SlowCalls::new(ms(1))
                    .with_slow_rate_percent(50)
                    .with_min_calls(10),
            ),
        );
        after_successes(&cb, WRAP - 20);
        for _ in 0..40 {
            slow(&cb, &clock, ms(2), true);
        }
        assert_eq!(cb.state(), State::Closed, "40 slow of 2^32 + 20 calls");
    }

    #[test]
    fn consecutive_successes_past_2_pow_32() {
        let cb = CircuitBreaker::builder("t").build().expect("valid");
        after_successes(&cb, WRAP - 2);
        let _ = cb.call(|| Err::<(), _>(()));
        for _ in 0..5 {
            let _ = cb.call(|| Ok::<_, ()>(()));
        }
        let c = cb.counts();
        assert_eq!(c.consecutive_successes, 5);
        assert_eq!(
            c.total_successes, 3,
            "Counts wrap modulo 2^32 like gobreaker's"
        );
        assert_eq!(c.consecutive_failures, 0);
    }

    #[test]
    fn slow_calls_without_a_window_count_the_generation() {
        // Slow from 1 µs; 50 % of at least 4 calls. The default failure rule.
        let (cb, clock) = clocked(
            CircuitBreaker::builder("t").interval(ms(10)).slow_calls(
                SlowCalls::new(Duration::from_micros(1))
                    .with_slow_rate_percent(50)
                    .with_min_calls(4),
            ),
        );
        let ns = Duration::from_micros(1);
        slow(&cb, &clock, ns, false);
        slow(&cb, &clock, ns, true);
        succeed(&cb);
        assert_eq!(cb.state(), State::Closed, "2 slow of 3: under the minimum");
        let _ = cb.call_with(|| Err::<(), _>(()), |_| Outcome::Ignored);
        succeed(&cb); // 4 calls, but only a slow outcome evaluates the rule
        assert_eq!(cb.state(), State::Closed);
        succeed(&cb);
        slow(&cb, &clock, ns, true); // 3 slow of 6: 50 %
        assert_eq!(cb.state(), State::Open);

        // An interval reset starts the count again.
        let (cb, clock) = clocked(
            CircuitBreaker::builder("t").interval(ms(10)).slow_calls(
                SlowCalls::new(ms(1))
                    .with_slow_rate_percent(100)
                    .with_min_calls(2),
            ),
        );
        slow(&cb, &clock, ms(1), true); // 1 of 1: under the minimum
        clock.advance(ms(10)); // tick 11: the interval (expiry 10) has passed
        slow(&cb, &clock, ms(1), true);
        assert_eq!(cb.state(), State::Closed, "1 slow of 1 in the new interval");
        slow(&cb, &clock, ms(1), true);
        assert_eq!(cb.state(), State::Open, "2 slow of 2");
    }

    #[test]
    fn slow_calls_with_a_count_window_count_its_last_calls() {
        // Window of 3; slow: 1 ms, 60 % of at least 3.
        let (cb, clock) = clocked(
            CircuitBreaker::builder("t")
                .count_window(
                    CountWindow::new(3)
                        .with_min_calls(3)
                        .with_failure_rate_percent(100),
                )
                .slow_calls(
                    SlowCalls::new(ms(1))
                        .with_slow_rate_percent(60)
                        .with_min_calls(3),
                ),
        );
        slow(&cb, &clock, ms(1), true);
        succeed(&cb);
        succeed(&cb);
        slow(&cb, &clock, ms(1), true); // the window is S S slow: 1 of 3
        assert_eq!(
            cb.state(),
            State::Closed,
            "the first slow call left the window"
        );
        slow(&cb, &clock, ms(1), true); // 2 of 3: 66 %
        assert_eq!(cb.state(), State::Open);
    }

    #[test]
    fn slow_calls_with_a_time_window_count_its_buckets() {
        // 4 ms in 4 buckets; failures never trip (min 100); slow: 1 ms, 100 % of 2.
        let (cb, clock) = clocked(
            CircuitBreaker::builder("t")
                .time_window(
                    TimeWindow::new(ms(4))
                        .with_buckets(4)
                        .with_min_calls(100)
                        .with_failure_rate_percent(100),
                )
                .slow_calls(
                    SlowCalls::new(ms(2))
                        .with_slow_rate_percent(100)
                        .with_min_calls(2),
                ),
        );
        slow(&cb, &clock, ms(2), false); // recorded at tick 2
        clock.advance(ms(3));
        slow(&cb, &clock, ms(2), true); // tick 7: bucket 2 is out (window 4..=7)
        assert_eq!(cb.state(), State::Closed);
        slow(&cb, &clock, ms(2), true); // tick 9: window 6..=9 holds 2 slow of 2
        assert_eq!(cb.state(), State::Open);
    }

    #[test]
    fn a_slow_failure_trips_once_on_either_rule() {
        let changes = Arc::new(AtomicUsize::new(0));
        let c2 = Arc::clone(&changes);
        let (cb, clock) = clocked(
            CircuitBreaker::builder("t")
                .ready_to_trip(|c| c.consecutive_failures >= 1)
                .slow_calls(
                    SlowCalls::new(ms(1))
                        .with_slow_rate_percent(100)
                        .with_min_calls(1),
                )
                .on_state_change(move |_, _, _| {
                    c2.fetch_add(1, Ordering::Relaxed);
                }),
        );
        slow(&cb, &clock, ms(1), false); // both rules trip
        assert_eq!(cb.state(), State::Open);
        assert_eq!(changes.load(Ordering::Relaxed), 1, "one transition");
    }

    #[test]
    fn slow_calls_are_not_evaluated_in_half_open_manual_or_stale_generations() {
        let (cb, clock) = clocked(
            CircuitBreaker::builder("t")
                .max_requests(2)
                .timeout(ms(1))
                .ready_to_trip(|c| c.consecutive_failures >= 1)
                .slow_calls(
                    SlowCalls::new(ms(1))
                        .with_slow_rate_percent(100)
                        .with_min_calls(1),
                ),
        );
        fail(&cb);
        clock.advance(ms(2));
        slow(&cb, &clock, ms(5), true); // a slow probe: half-open keeps gobreaker's rules
        assert_eq!(cb.state(), State::HalfOpen);
        succeed(&cb);
        assert_eq!(cb.state(), State::Closed);
        // A permit of the closed generation outlives a disable: stale.
        let stale = cb.try_acquire().expect("closed");
        cb.disable();
        clock.advance(ms(5));
        stale.success();
        slow(&cb, &clock, ms(5), true);
        assert_eq!(cb.state(), State::Closed, "disabled never trips");
        assert_eq!(
            cb.counts().total_successes,
            1,
            "the stale success is ignored"
        );
        cb.force_closed();
        slow(&cb, &clock, ms(5), true);
        assert_eq!(cb.state(), State::Closed, "forced closed never trips");
        // A permit admitted before the reset, slow by now, is stale too.
        let stale = cb.try_acquire().expect("forced closed admits");
        cb.reset();
        clock.advance(ms(5));
        stale.success();
        assert_eq!(cb.state(), State::Closed);
        slow(&cb, &clock, ms(5), true);
        assert_eq!(cb.state(), State::Open, "normal again: the slow call trips");
    }

    #[test]
    fn threads_agree_on_the_half_open_limit() {
        let clock = ManualClock::new();
        let cb = Arc::new(
            CircuitBreaker::builder("t")
                .max_requests(3)
                .timeout(ms(1))
                .ready_to_trip(|c| c.consecutive_failures >= 1)
                .clock(clock.clone())
                .build()
                .expect("valid"),
        );
        let _ = cb.call(|| Err::<(), _>(()));
        clock.advance(ms(2));
        let admitted: Vec<_> = (0..4)
            .map(|_| {
                let cb = Arc::clone(&cb);
                std::thread::spawn(move || cb.try_acquire_owned().ok())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().expect("no panic"))
            .collect();
        assert_eq!(admitted.iter().filter(|p| p.is_some()).count(), 3);
        for p in admitted.into_iter().flatten() {
            p.success();
        }
        assert_eq!(cb.state(), State::Closed);
    }
}
