//! [`Builder`] and the validated [`Settings`] it produces.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{NANOS_PER_TICK, TimeBase};
use crate::error::quote;
use crate::policy::{validate_slow_calls, validate_time_window};
use crate::state::{MAX_DURATION_TICKS, MAX_REQUESTS};
use crate::{
    AdaptiveThrottle, CircuitBreaker, Clock, ConfigError, Counts, Observer, QuantaClock,
    ReconfigureError, SlowCalls, State, TimeWindow,
};

/// gobreaker's default open duration, used when the timeout is zero.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// gobreaker's default trip rule: more than this many consecutive failures.
pub const DEFAULT_CONSECUTIVE_FAILURES: u32 = 5;

type TripFn = dyn Fn(&Counts) -> bool + Send + Sync;

/// Exponential growth of the open duration while probes keep failing: Resilience4j's
/// exponential `waitIntervalFunctionInOpenState`, linkerd's doubling probation.
///
/// The *k*-th consecutive re-trip (a failed half-open probe re-opening the
/// breaker; *k* counts from 1 and goes back to 0 when the breaker closes, is
/// reset, or is forced) stays open for `timeout × multiplier^k`, at most `max`. A
/// trip from closed stays open for `timeout`. With jitter `j` %, every open
/// duration is then shortened by a pseudo-random share of up to `j` % (so it
/// never exceeds the cap), drawn from a hash of the jitter seed, the tick and *k*: a
/// fleet of breakers with different seeds does not probe in step, while a given
/// seed replays exactly (tests, the mutex reference).
///
/// Use it for a dependency that takes a variable time to recover (a database
/// restarting, a rate-limited API): failed probes back off instead of hitting it
/// every `timeout`.
///
/// ```
/// use std::time::Duration;
/// use warden_breaker::{CircuitBreaker, ManualClock, OpenBackoff, State};
///
/// let clock = ManualClock::new();
/// let cb = CircuitBreaker::builder("db")
///     .timeout(Duration::from_secs(1))
///     .ready_to_trip(|c| c.consecutive_failures >= 1)
///     .open_backoff(OpenBackoff::exponential(2, Duration::from_secs(60)))
///     .clock(clock.clone())
///     .build()?;
/// let _ = cb.call(|| Err::<(), _>("down")); // open for 1 s
/// clock.advance(Duration::from_millis(1001));
/// let _ = cb.call(|| Err::<(), _>("down")); // the probe fails: open for 2 s
/// clock.advance(Duration::from_millis(2000));
/// assert_eq!(cb.state(), State::Open);
/// clock.advance(Duration::from_millis(1));
/// assert_eq!(cb.state(), State::HalfOpen);
/// # Ok::<(), warden_breaker::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct OpenBackoff {
    multiplier: u32,
    #[cfg_attr(
        feature = "serde",
        serde(rename = "max_ms", serialize_with = "crate::serde_units::millis")
    )]
    max: Duration,
    jitter_percent: u32,
    seed: Option<u64>,
}

impl OpenBackoff {
    /// Open durations grow by `multiplier` per consecutive re-trip, up to `max`
    /// (whole milliseconds, at least the timeout, at most 2^39 ms). A multiplier
    /// of 1 keeps the timeout (useful with jitter alone); 0 is an error.
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = warden_breaker::OpenBackoff::exponential(2, Duration::from_secs(300));
    /// assert_eq!(b.multiplier(), 2);
    /// ```
    pub const fn exponential(multiplier: u32, max: Duration) -> Self {
        Self {
            multiplier,
            max,
            jitter_percent: 0,
            seed: None,
        }
    }

    /// Shortens every open duration by a pseudo-random share of up to `percent` %
    /// (0..=100; default 0).
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = warden_breaker::OpenBackoff::exponential(2, Duration::from_secs(300)).jitter(20);
    /// assert_eq!(b.jitter_percent(), 20);
    /// ```
    pub const fn jitter(mut self, percent: u32) -> Self {
        self.jitter_percent = percent;
        self
    }

    /// The jitter's seed (default: random per breaker). Breakers with one seed
    /// jitter alike at the same tick and re-trip count.
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = warden_breaker::OpenBackoff::exponential(2, Duration::from_secs(9)).seed(7);
    /// assert_eq!(b.seed_value(), Some(7));
    /// ```
    pub const fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The growth factor per re-trip.
    ///
    /// ```
    /// # use std::time::Duration;
    /// assert_eq!(warden_breaker::OpenBackoff::exponential(3, Duration::ZERO).multiplier(), 3);
    /// ```
    pub const fn multiplier(&self) -> u32 {
        self.multiplier
    }

    /// The longest open duration.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let b = warden_breaker::OpenBackoff::exponential(3, Duration::from_secs(5));
    /// assert_eq!(b.max(), Duration::from_secs(5));
    /// ```
    pub const fn max(&self) -> Duration {
        self.max
    }

    /// The jitter, in percent of each open duration.
    ///
    /// ```
    /// # use std::time::Duration;
    /// assert_eq!(warden_breaker::OpenBackoff::exponential(2, Duration::ZERO).jitter_percent(), 0);
    /// ```
    pub const fn jitter_percent(&self) -> u32 {
        self.jitter_percent
    }

    /// The jitter seed given with [`seed`](Self::seed), if any.
    ///
    /// ```
    /// # use std::time::Duration;
    /// assert_eq!(warden_breaker::OpenBackoff::exponential(2, Duration::ZERO).seed_value(), None);
    /// ```
    pub const fn seed_value(&self) -> Option<u64> {
        self.seed
    }
}

/// A built-in trip rule: the failure rate over the last `size` calls of the closed
/// state (Resilience4j's `COUNT_BASED` sliding window), set with
/// [`Builder::count_window`].
///
/// Every success and failure of the current closed generation enters the window
/// (ignored outcomes and dropped permits do not); after each failure the breaker
/// trips if the window holds at least `min_calls` calls and at least
/// `failure_rate_percent` % of them failed. Like every count, the window starts
/// empty in each generation (after a transition or an interval reset). Use it when
/// a consecutive-failures rule is too jumpy for a dependency that fails a share of
/// requests (a flaky node behind a load balancer) and you want "half the last 100
/// calls failed" instead.
///
/// The window is lock-free, exact whenever outcomes do not overlap, and free for
/// successes: they stay on the calling thread's own counters, as with the default
/// rule; a failure records where it happened in a ring of `size` slots and counts
/// the failures among the last `size` calls by binary search (see `BENCHMARKS.md`).
///
/// ```
/// use warden_breaker::{CircuitBreaker, CountWindow, State};
/// let cb = CircuitBreaker::builder("api")
///     .count_window(CountWindow::new(10).with_min_calls(4).with_failure_rate_percent(50))
///     .build()?;
/// for ok in [true, false, true] {
///     let _ = cb.call(|| if ok { Ok(()) } else { Err("503") });
/// }
/// assert_eq!(cb.state(), State::Closed); // 3 calls: under the minimum
/// let _ = cb.call(|| Err::<(), _>("503")); // 2 of 4 failed: 50 %
/// assert_eq!(cb.state(), State::Open);
/// # Ok::<(), warden_breaker::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CountWindow {
    size: u32,
    min_calls: u32,
    failure_rate_percent: u32,
}

/// The largest [`CountWindow`] size.
pub const MAX_COUNT_WINDOW: u32 = 1024;

impl CountWindow {
    /// The last `size` calls (1..=[`MAX_COUNT_WINDOW`]), with Resilience4j's
    /// defaults for the rest: trip at 50 % once the window holds
    /// `min(size, 100)` calls. Change each with its named `with_` method, so two
    /// numbers cannot be swapped by position. Validated by [`Builder::build`].
    ///
    /// ```
    /// use warden_breaker::CountWindow;
    /// let w = CountWindow::new(100).with_min_calls(20).with_failure_rate_percent(50);
    /// assert_eq!((w.size(), w.min_calls(), w.failure_rate_percent()), (100, 20, 50));
    /// assert_eq!(CountWindow::new(10).min_calls(), 10);
    /// ```
    pub const fn new(size: u32) -> Self {
        Self {
            size,
            min_calls: if size < 100 { size } else { 100 },
            failure_rate_percent: 50,
        }
    }

    /// The calls (1..=`size`) the window must hold before its rate can trip.
    ///
    /// ```
    /// assert_eq!(warden_breaker::CountWindow::new(8).with_min_calls(3).min_calls(), 3);
    /// ```
    #[must_use]
    pub const fn with_min_calls(mut self, min_calls: u32) -> Self {
        self.min_calls = min_calls;
        self
    }

    /// The failure rate that trips, in whole percent (1..=100).
    ///
    /// ```
    /// let w = warden_breaker::CountWindow::new(8).with_failure_rate_percent(25);
    /// assert_eq!(w.failure_rate_percent(), 25);
    /// ```
    #[must_use]
    pub const fn with_failure_rate_percent(mut self, percent: u32) -> Self {
        self.failure_rate_percent = percent;
        self
    }

    /// Calls in the window.
    ///
    /// ```
    /// assert_eq!(warden_breaker::CountWindow::new(8).with_min_calls(1).with_failure_rate_percent(50).size(), 8);
    /// ```
    pub const fn size(&self) -> u32 {
        self.size
    }

    /// Calls the window must hold before the rate can trip.
    ///
    /// ```
    /// assert_eq!(warden_breaker::CountWindow::new(8).with_min_calls(3).with_failure_rate_percent(50).min_calls(), 3);
    /// ```
    pub const fn min_calls(&self) -> u32 {
        self.min_calls
    }

    /// The failure rate, in percent, that trips.
    ///
    /// ```
    /// assert_eq!(warden_breaker::CountWindow::new(8).with_min_calls(3).with_failure_rate_percent(50).failure_rate_percent(), 50);
    /// ```
    pub const fn failure_rate_percent(&self) -> u32 {
        self.failure_rate_percent
    }

    /// Whether a window holding `calls` outcomes, `failures` of them failures, trips.
    ///
    /// ```
    /// let w = warden_breaker::CountWindow::new(8).with_min_calls(4).with_failure_rate_percent(50);
    /// assert!(!w.trips(3, 3));
    /// assert!(w.trips(4, 2));
    /// ```
    pub const fn trips(&self, calls: u32, failures: u32) -> bool {
        calls >= self.min_calls
            && failures as u64 * 100 >= self.failure_rate_percent as u64 * calls as u64
    }
}

/// [`OpenBackoff`] validated, in ticks.
#[derive(Clone, Copy, Debug)]
struct Backoff {
    // The two percent-sized fields as u32 share one word: 24 bytes instead of 32
    // in every breaker's settings (see the memory budget in the crate docs).
    multiplier: u32,
    jitter_percent: u32,
    max_ticks: u64,
    seed: u64,
}

/// splitmix64's finaliser: a well-mixed hash of one word.
const fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Backoff {
    /// The open duration of the `retrips`-th consecutive re-trip at tick `now`.
    fn ticks(&self, base: u64, retrips: u64, now: u64) -> u64 {
        let growth = u32::try_from(retrips)
            .ok()
            .and_then(|k| u64::from(self.multiplier).checked_pow(k))
            .unwrap_or(u64::MAX);
        let t = base.saturating_mul(growth).min(self.max_ticks);
        if self.jitter_percent == 0 {
            return t;
        }
        // A uniform fraction in [0, 1) with 53 bits, from the jitter seed, the tick and the count.
        let h = mix(self.seed ^ mix(now ^ mix(retrips))) >> 11;
        let cut = (u128::from(t) * u128::from(self.jitter_percent) * u128::from(h)) >> 53;
        t - (cut / 100) as u64
    }
}
type StateChangeFn = dyn Fn(&str, State, State) + Send + Sync;

/// Configures a breaker; [`build`](Builder::build) validates every setting.
///
/// Zero values mean what they mean in gobreaker: `max_requests(0)` is 1,
/// `interval(ZERO)` never clears counts while closed, `timeout(ZERO)` is 60 s.
///
/// ```
/// use std::time::Duration;
/// use warden_breaker::{CircuitBreaker, Counts};
///
/// let cb = CircuitBreaker::builder("kafka")
///     .max_requests(3)
///     .interval(Duration::from_secs(10))
///     .timeout(Duration::from_secs(30))
///     .ready_to_trip(|c: &Counts| c.requests >= 10 && c.total_failures * 2 >= c.requests)
///     .on_state_change(|name, from, to| println!("{name}: {from} -> {to}"))
///     .build()?;
/// assert_eq!(cb.name(), "kafka");
/// # Ok::<(), warden_breaker::ConfigError>(())
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder {
    name: Arc<str>,
    max_requests: u32,
    interval: Duration,
    timeout: Duration,
    ready_to_trip: Option<Arc<TripFn>>,
    on_state_change: Option<Arc<StateChangeFn>>,
    clock: Option<Arc<dyn Clock>>,
    observers: Vec<Arc<dyn Observer>>,
    open_backoff: Option<OpenBackoff>,
    half_open_max_wait: Duration,
    count_window: Option<CountWindow>,
    time_window: Option<TimeWindow>,
    slow_calls: Option<SlowCalls>,
    adaptive_throttle: Option<AdaptiveThrottle>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("name", &self.name)
            .field("max_requests", &self.max_requests)
            .field("interval", &self.interval)
            .field("timeout", &self.timeout)
            .field("custom_ready_to_trip", &self.ready_to_trip.is_some())
            .field("on_state_change", &self.on_state_change.is_some())
            .field("clock", &self.clock)
            .field("observers", &self.observers.len())
            .field("open_backoff", &self.open_backoff)
            .field("half_open_max_wait", &self.half_open_max_wait)
            .field("count_window", &self.count_window)
            .field("time_window", &self.time_window)
            .field("slow_calls", &self.slow_calls)
            .field("adaptive_throttle", &self.adaptive_throttle)
            .finish()
    }
}

impl Builder {
    pub(crate) fn new(name: &str) -> Self {
        Self {
            name: Arc::from(name),
            max_requests: 0,
            interval: Duration::ZERO,
            timeout: Duration::ZERO,
            ready_to_trip: None,
            on_state_change: None,
            clock: None,
            observers: Vec::new(),
            open_backoff: None,
            half_open_max_wait: Duration::ZERO,
            count_window: None,
            time_window: None,
            slow_calls: None,
            adaptive_throttle: None,
        }
    }

    /// Sheds a share of the calls in proportion to how much the dependency fails
    /// instead of opening (see [`AdaptiveThrottle`]). Setting it with another trip
    /// rule (`ready_to_trip`, a [`CountWindow`], a [`TimeWindow`] or [`SlowCalls`])
    /// is a [`ConfigError::Conflict`]; a window, bucket count, `k` or cap out of
    /// range is a [`ConfigError`] naming the field (`adaptive.k`, ...).
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_breaker::{AdaptiveThrottle, CircuitBreaker, ConfigError};
    /// let err = CircuitBreaker::builder("x")
    ///     .adaptive_throttle(AdaptiveThrottle::new(Duration::from_secs(10)).with_k(0.5))
    ///     .build()
    ///     .unwrap_err();
    /// assert!(matches!(err, ConfigError::OutOfRange { field: "adaptive.k", .. }));
    /// ```
    pub fn adaptive_throttle(mut self, throttle: AdaptiveThrottle) -> Self {
        self.adaptive_throttle = Some(throttle);
        self
    }

    /// Trips on the failure rate over the last calls instead of `ready_to_trip`
    /// (see [`CountWindow`]). Setting both is a [`ConfigError::Conflict`]; a size,
    /// minimum or rate out of range is a [`ConfigError::OutOfRange`].
    ///
    /// ```
    /// use warden_breaker::{CircuitBreaker, ConfigError, CountWindow};
    /// let err = CircuitBreaker::builder("x")
    ///     .count_window(CountWindow::new(10).with_min_calls(11).with_failure_rate_percent(50))
    ///     .build()
    ///     .unwrap_err();
    /// assert!(matches!(err, ConfigError::OutOfRange { field: "count_window.min_calls", .. }));
    /// ```
    pub fn count_window(mut self, window: CountWindow) -> Self {
        self.count_window = Some(window);
        self
    }

    /// Trips on the failure rate over the last span of time instead of
    /// `ready_to_trip` (see [`TimeWindow`]). Setting it with `ready_to_trip` or a
    /// [`CountWindow`] is a [`ConfigError::Conflict`]; a length, bucket count,
    /// minimum or rate out of range is a [`ConfigError`] naming the field.
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_breaker::{CircuitBreaker, ConfigError, TimeWindow};
    /// let err = CircuitBreaker::builder("x")
    ///     .time_window(TimeWindow::new(Duration::from_millis(1000)).with_buckets(3).with_min_calls(5).with_failure_rate_percent(50))
    ///     .build()
    ///     .unwrap_err(); // 1000 ms does not split into 3 whole-millisecond buckets
    /// assert!(matches!(err, ConfigError::OutOfRange { field: "time_window.buckets", .. }));
    /// ```
    pub fn time_window(mut self, window: TimeWindow) -> Self {
        self.time_window = Some(window);
        self
    }

    /// Also trips on the share of slow calls (see [`SlowCalls`]); combines with
    /// any failure rule. A zero threshold, a rate outside 1..=100 or a zero
    /// minimum is a [`ConfigError::OutOfRange`] naming the field.
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_breaker::{CircuitBreaker, ConfigError, SlowCalls};
    /// let err = CircuitBreaker::builder("x")
    ///     .slow_calls(SlowCalls::new(Duration::from_secs(1)).with_slow_rate_percent(0).with_min_calls(10))
    ///     .build()
    ///     .unwrap_err();
    /// assert!(matches!(err, ConfigError::OutOfRange { field: "slow_calls.slow_rate_percent", .. }));
    /// ```
    pub fn slow_calls(mut self, slow_calls: SlowCalls) -> Self {
        self.slow_calls = Some(slow_calls);
        self
    }

    /// The longest a half-open generation may last (Resilience4j's
    /// `maxWaitDurationInHalfOpenState`). Zero (the default, gobreaker's behaviour):
    /// no limit, the breaker stays half-open until its probes report. Otherwise the
    /// first look at the breaker (a call, an outcome, [`state`](CircuitBreaker::state))
    /// at a tick *after* `entered + max_wait` **re-opens** it, as if a probe had
    /// failed (with an [`OpenBackoff`] it is a re-trip): probes that never report
    /// (hung, leaked) cannot hold the breaker half-open forever, and the dependency
    /// gets another open period rather than a fresh burst of probes. Outcomes of the
    /// expired generation's probes are then ignored. Whole milliseconds, at most
    /// 2^39 ms; validated by [`build`](Self::build).
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_breaker::{CircuitBreaker, ManualClock, State};
    /// let clock = ManualClock::new();
    /// let cb = CircuitBreaker::builder("db")
    ///     .timeout(Duration::from_secs(1))
    ///     .half_open_max_wait(Duration::from_secs(5))
    ///     .ready_to_trip(|c| c.consecutive_failures >= 1)
    ///     .clock(clock.clone())
    ///     .build()?;
    /// let _ = cb.call(|| Err::<(), _>("down"));
    /// clock.advance(Duration::from_millis(1001));
    /// let hung = cb.try_acquire().expect("the probe"); // never reports
    /// clock.advance(Duration::from_millis(5001));
    /// assert_eq!(cb.state(), State::Open);
    /// # drop(hung);
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn half_open_max_wait(mut self, max_wait: Duration) -> Self {
        self.half_open_max_wait = max_wait;
        self
    }

    /// Grows the open duration on consecutive re-trips (see [`OpenBackoff`]).
    /// Validated by [`build`](Self::build): a zero multiplier, a jitter above 100 %,
    /// or a `max` that is not whole milliseconds, exceeds 2^39 ms or is shorter
    /// than the timeout is a [`ConfigError`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_breaker::{CircuitBreaker, ConfigError, OpenBackoff};
    /// let err = CircuitBreaker::builder("x")
    ///     .timeout(Duration::from_secs(10))
    ///     .open_backoff(OpenBackoff::exponential(2, Duration::from_secs(5)))
    ///     .build()
    ///     .unwrap_err();
    /// assert!(matches!(err, ConfigError::OutOfRange { field: "open_backoff.max", .. }));
    /// ```
    pub fn open_backoff(mut self, backoff: OpenBackoff) -> Self {
        self.open_backoff = Some(backoff);
        self
    }

    /// Half-open probe limit and the consecutive successes that close the breaker
    /// again. `0` means 1; at most [`MAX_REQUESTS`](crate::MAX_REQUESTS).
    ///
    /// ```
    /// let cb = warden_breaker::CircuitBreaker::builder("x").max_requests(0).build()?;
    /// assert_eq!(cb.settings().max_requests(), 1);
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn max_requests(mut self, max_requests: u32) -> Self {
        self.max_requests = max_requests;
        self
    }

    /// Period after which a closed breaker clears its counts (a new generation).
    /// Zero: never. Whole milliseconds, at most 2^39 ms.
    ///
    /// ```
    /// use std::time::Duration;
    /// let cb = warden_breaker::CircuitBreaker::builder("x").interval(Duration::from_secs(5)).build()?;
    /// assert_eq!(cb.settings().interval(), Duration::from_secs(5));
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// How long the breaker stays open before it lets probes through. Zero means
    /// 60 s. Whole milliseconds, at most 2^39 ms. The breaker turns half-open at
    /// the first millisecond tick *after* `opened + timeout` (gobreaker's strict
    /// `expiry < now`, at 1 ms resolution).
    ///
    /// ```
    /// use std::time::Duration;
    /// let cb = warden_breaker::CircuitBreaker::builder("x").build()?;
    /// assert_eq!(cb.settings().timeout(), Duration::from_secs(60));
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the rule that trips a closed breaker, replacing the default
    /// (`consecutive_failures > 5`). It is called after every failure recorded in
    /// the closed state, with the counts already updated. If it panics, the failure
    /// stays counted and the panic reaches the caller that recorded it; when that
    /// caller is already unwinding (a permit dropped by a panicking call), the
    /// rule's panic is dropped instead of aborting the process, and the breaker
    /// does not trip on that failure.
    ///
    /// ```
    /// use warden_breaker::{CircuitBreaker, Counts};
    /// let cb = CircuitBreaker::builder("x").ready_to_trip(|c: &Counts| c.total_failures >= 1).build()?;
    /// let _ = cb.call(|| Err::<(), _>("boom"));
    /// assert_eq!(cb.state(), warden_breaker::State::Open);
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn ready_to_trip<F>(mut self, ready_to_trip: F) -> Self
    where
        F: Fn(&Counts) -> bool + Send + Sync + 'static,
    {
        self.ready_to_trip = Some(Arc::new(ready_to_trip));
        self
    }

    /// Sets the callback run on every state change with `(name, from, to)`,
    /// replacing an earlier one. It runs on the thread whose transition won,
    /// outside any lock, exactly once per transition and in transition order; it
    /// may call back into the breaker.
    ///
    /// ```
    /// let _cb = warden_breaker::CircuitBreaker::builder("x")
    ///     .on_state_change(|name, from, to| eprintln!("{name}: {from} -> {to}"))
    ///     .build()?;
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn on_state_change<F>(mut self, on_state_change: F) -> Self
    where
        F: Fn(&str, State, State) + Send + Sync + 'static,
    {
        self.on_state_change = Some(Arc::new(on_state_change));
        self
    }

    /// The time source (default: a [`QuantaClock`] shared by every breaker built
    /// without one, so a breaker costs no clock allocation of its own).
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_breaker::{CircuitBreaker, ManualClock, State};
    /// let clock = ManualClock::new();
    /// let cb = CircuitBreaker::builder("x")
    ///     .timeout(Duration::from_secs(1))
    ///     .ready_to_trip(|c| c.consecutive_failures >= 1)
    ///     .clock(clock.clone())
    ///     .build()?;
    /// let _ = cb.call(|| Err::<(), _>("boom"));
    /// clock.advance(Duration::from_millis(1001));
    /// assert_eq!(cb.state(), State::HalfOpen);
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn clock<C: Clock>(mut self, clock: C) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Adds an observer (several may be added; each sees every event).
    ///
    /// ```
    /// #[derive(Debug)]
    /// struct Log;
    /// impl warden_breaker::Observer for Log {}
    /// let _cb = warden_breaker::CircuitBreaker::builder("x").observer(Log).build()?;
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn observer<O: Observer>(mut self, observer: O) -> Self {
        self.observers.push(Arc::new(observer));
        self
    }

    /// Validates the settings without building a breaker, for
    /// [`CircuitBreaker::from_settings`] and other implementations of
    /// [`Breaker`](crate::Breaker) (the mutex reference).
    ///
    /// ```
    /// let settings = warden_breaker::CircuitBreaker::builder("x").settings()?;
    /// let _cb = warden_breaker::CircuitBreaker::from_settings(settings);
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn settings(self) -> Result<Settings, ConfigError> {
        self.validate(None)
    }

    /// Validates settings to replace `current` on a live breaker (see
    /// [`CircuitBreaker::reconfigure`], which calls it; the mutex reference does too).
    /// The result keeps `current`'s name, clock, time origin, state-change callback
    /// and observers, so the builder must name the same breaker and set none of
    /// the others.
    ///
    /// # Errors
    ///
    /// [`ReconfigureError::Name`] for another name, [`ReconfigureError::Clock`] or
    /// [`ReconfigureError::Hooks`] for a clock, callback or observer given, and
    /// [`ReconfigureError::Invalid`] for an invalid setting.
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_breaker::CircuitBreaker;
    /// let old = CircuitBreaker::builder("db").settings()?;
    /// let new = CircuitBreaker::builder("db").timeout(Duration::from_secs(5)).settings_for(&old)?;
    /// assert_eq!(new.timeout(), Duration::from_secs(5));
    /// # Ok::<(), warden_breaker::ReconfigureError>(())
    /// ```
    pub fn settings_for(self, current: &Settings) -> Result<Settings, ReconfigureError> {
        if *self.name != *current.name {
            return Err(ReconfigureError::Name {
                breaker: quote(&current.name),
                given: quote(&self.name),
            });
        }
        if self.clock.is_some() {
            return Err(ReconfigureError::Clock);
        }
        if self.on_state_change.is_some() || !self.observers.is_empty() {
            return Err(ReconfigureError::Hooks);
        }
        Ok(self.validate(Some(current))?)
    }

    /// Validates every setting; with `keep`, takes the time and hooks from it.
    fn validate(mut self, keep: Option<&Settings>) -> Result<Settings, ConfigError> {
        if self.max_requests > MAX_REQUESTS {
            return Err(ConfigError::OutOfRange {
                field: "max_requests",
                value: self.max_requests.to_string(),
                allowed: "0..=1048575 (0 means 1)",
            });
        }
        let interval_ticks = duration_ticks("interval", self.interval)?;
        let timeout_ticks = match duration_ticks("timeout", self.timeout)? {
            0 => DEFAULT_TIMEOUT.as_millis() as u64,
            t => t,
        };
        let open_backoff = match self.open_backoff {
            None => None,
            Some(b) => {
                // Reconfigured without a seed: keep the breaker's, so its jitter
                // (and a mutex reference built alongside it) does not jump.
                let seed = b.seed.or(keep.and_then(|k| k.open_backoff.map(|o| o.seed)));
                Some(validate_backoff(b, seed, timeout_ticks, &self.name)?)
            }
        };
        if let Some(w) = self.count_window {
            validate_window(w)?;
            if self.ready_to_trip.is_some() {
                return Err(ConfigError::Conflict {
                    field: "count_window",
                    other: "ready_to_trip",
                });
            }
        }
        if let Some(w) = self.time_window {
            validate_time_window(w)?;
            if self.count_window.is_some() {
                return Err(ConfigError::Conflict {
                    field: "time_window",
                    other: "count_window",
                });
            }
            if self.ready_to_trip.is_some() {
                return Err(ConfigError::Conflict {
                    field: "time_window",
                    other: "ready_to_trip",
                });
            }
        }
        if let Some(s) = self.slow_calls {
            validate_slow_calls(s)?;
        }
        if let Some(t) = self.adaptive_throttle {
            crate::throttle::validate(t)?;
            let other = [
                (self.ready_to_trip.is_some(), "ready_to_trip"),
                (self.count_window.is_some(), "count_window"),
                (self.time_window.is_some(), "time_window"),
                (self.slow_calls.is_some(), "slow_calls"),
            ];
            if let Some((_, other)) = other.into_iter().find(|(set, _)| *set) {
                return Err(ConfigError::Conflict {
                    field: "adaptive",
                    other,
                });
            }
        }
        let half_open_max_wait_ticks =
            duration_ticks("half_open_max_wait", self.half_open_max_wait)?;
        let (time, observers) = match keep {
            Some(k) => {
                self.on_state_change.clone_from(&k.on_state_change);
                (k.time.fixed(), Arc::clone(&k.observers))
            }
            None => {
                let clock = self.clock.unwrap_or_else(shared_quanta_clock);
                let observers = if self.observers.is_empty() {
                    no_observers()
                } else {
                    self.observers.into()
                };
                (TimeBase::new(clock), observers)
            }
        };
        // A reconfiguration decides the lease again: the new rules may time calls or not.
        let time = time.timing_calls_if(finest_timing(
            self.time_window.as_ref(),
            self.slow_calls.as_ref(),
            self.adaptive_throttle.as_ref(),
        ));
        Ok(Settings {
            open_backoff,
            half_open_max_wait_ticks,
            count_window: self.count_window,
            time_window: self.time_window,
            slow_calls: self.slow_calls,
            adaptive_throttle: self.adaptive_throttle,
            admission_hooks: !observers.is_empty() || self.slow_calls.is_some(),
            record_path: if !observers.is_empty() {
                RecordPath::Observed
            } else if self.slow_calls.is_some()
                || self.time_window.is_some()
                || self.adaptive_throttle.is_some()
            {
                RecordPath::Timed
            } else {
                RecordPath::Plain
            },
            name: self.name,
            max_requests: self.max_requests.max(1),
            interval_ticks,
            timeout_ticks,
            ready_to_trip: self.ready_to_trip,
            on_state_change: self.on_state_change,
            observers,
            time,
        })
    }

    /// Validates the settings and builds the breaker.
    ///
    /// ```
    /// let err = warden_breaker::CircuitBreaker::builder("x").max_requests(u32::MAX).build();
    /// assert!(err.is_err());
    /// ```
    pub fn build(self) -> Result<CircuitBreaker, ConfigError> {
        self.settings().map(CircuitBreaker::from_settings)
    }
}

fn validate_window(w: CountWindow) -> Result<(), ConfigError> {
    let check = |field, value: u32, lo: u32, hi: u32, allowed| {
        if value < lo || value > hi {
            Err(ConfigError::OutOfRange {
                field,
                value: value.to_string(),
                allowed,
            })
        } else {
            Ok(())
        }
    };
    check("count_window.size", w.size, 1, MAX_COUNT_WINDOW, "1..=1024")?;
    check("count_window.min_calls", w.min_calls, 1, w.size, "1..=size")?;
    check(
        "count_window.failure_rate_percent",
        w.failure_rate_percent,
        1,
        100,
        "1..=100",
    )
}

fn validate_backoff(
    b: OpenBackoff,
    seed: Option<u64>,
    timeout_ticks: u64,
    name: &str,
) -> Result<Backoff, ConfigError> {
    if b.multiplier == 0 {
        return Err(ConfigError::OutOfRange {
            field: "open_backoff.multiplier",
            value: "0".to_owned(),
            allowed: "1..=4294967295",
        });
    }
    if b.jitter_percent > 100 {
        return Err(ConfigError::OutOfRange {
            field: "open_backoff.jitter",
            value: b.jitter_percent.to_string(),
            allowed: "0..=100 (percent)",
        });
    }
    let max_ticks = duration_ticks("open_backoff.max", b.max)?;
    if max_ticks < timeout_ticks {
        return Err(ConfigError::OutOfRange {
            field: "open_backoff.max",
            value: format!("{:?}", b.max),
            allowed: "at least the timeout (60 s if the timeout is zero), at most 2^39 ms",
        });
    }
    let seed = seed.unwrap_or_else(|| {
        use std::hash::BuildHasher;
        std::collections::hash_map::RandomState::new().hash_one(name)
    });
    Ok(Backoff {
        multiplier: b.multiplier,
        max_ticks,
        jitter_percent: b.jitter_percent,
        seed,
    })
}

fn duration_ticks(field: &'static str, d: Duration) -> Result<u64, ConfigError> {
    // Range first: a duration too large to store is that, whatever its fraction
    // (`Duration::MAX` is not "a fraction of a millisecond" too many).
    let ms = d.as_millis();
    if ms > MAX_DURATION_TICKS as u128 {
        return Err(ConfigError::OutOfRange {
            field,
            value: format!("{d:?}"),
            allowed: "0..=2^39 ms (about 17.4 years), in whole milliseconds",
        });
    }
    if !(d.subsec_nanos() as u64).is_multiple_of(NANOS_PER_TICK) {
        return Err(ConfigError::NotWholeMillis { field, value: d });
    }
    Ok(ms as u64)
}

/// The finest rule that times calls (a time window's bucket, a slow-call
/// threshold), if any.
fn finest_timing(
    w: Option<&TimeWindow>,
    s: Option<&SlowCalls>,
    t: Option<&AdaptiveThrottle>,
) -> Option<Duration> {
    // A throttle is never combined with a time window: its buckets take their place.
    let bucket = w
        .map(|w| w.width_ticks())
        .or(t.map(|t| t.width_ticks()))
        .map(Duration::from_millis);
    let threshold = s.map(|s| s.threshold());
    match (bucket, threshold) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The bit of [`Settings::hot_bits`] that says observers or slow calls want
/// closed-state admissions (the settings' `admission_hooks`).
pub(crate) const HOT_HOOKS: u8 = 4;

/// The bit of [`Settings::hot_bits`] that says an [`AdaptiveThrottle`] decides
/// closed-state admissions.
pub(crate) const HOT_THROTTLE: u8 = 8;

/// Not a setting: the bit of the breaker's hot byte that is set while its
/// [`AdaptiveThrottle`]'s last evaluation may shed calls (see
/// `CircuitBreaker::sync_shedding`). A closed-state admission looks at the
/// throttle only while it is set: one that sheds nothing is the plain admission.
pub(crate) const HOT_SHEDDING: u8 = 16;

/// How a closed-state success is recorded, decided once by the settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RecordPath {
    /// The thread's own stripe and nothing else (the default).
    Plain,
    /// Also the clock: a [`TimeWindow`] bucket or a [`SlowCalls`] timing.
    Timed,
    /// Through the general path: observers want every event.
    Observed,
}

impl RecordPath {
    /// The path encoded in the low bits of [`Settings::hot_bits`].
    #[inline]
    pub(crate) const fn from_hot_bits(bits: u8) -> Self {
        match bits & 3 {
            0 => Self::Plain,
            1 => Self::Timed,
            _ => Self::Observed,
        }
    }
}

/// The default clock: one [`QuantaClock`] for every breaker built without a
/// clock (each breaker keeps its own epoch, see `TimeBase`), so building a
/// breaker allocates no clock of its own: 100,000 breakers save 100,000 small
/// allocations.
fn shared_quanta_clock() -> Arc<dyn Clock> {
    static DEFAULT: std::sync::OnceLock<Arc<dyn Clock>> = std::sync::OnceLock::new();
    Arc::clone(DEFAULT.get_or_init(|| Arc::new(QuantaClock::new())))
}

/// The empty observer list, shared (an empty `Arc<[_]>` still allocates).
fn no_observers() -> Arc<[Arc<dyn Observer>]> {
    static EMPTY: std::sync::OnceLock<Arc<[Arc<dyn Observer>]>> = std::sync::OnceLock::new();
    Arc::clone(EMPTY.get_or_init(|| Arc::from(Vec::new())))
}

/// Validated, normalised settings shared by a breaker and anything that needs
/// to behave exactly like it (the mutex reference, test oracles).
///
/// Cloning is cheap and clones share the clock and the time origin, so two
/// breakers built from clones of one `Settings` see the same ticks.
///
/// ```
/// let s = warden_breaker::CircuitBreaker::builder("x").settings()?;
/// assert_eq!(s.name(), "x");
/// # Ok::<(), warden_breaker::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Settings {
    name: Arc<str>,
    max_requests: u32,
    interval_ticks: u64,
    timeout_ticks: u64,
    ready_to_trip: Option<Arc<TripFn>>,
    on_state_change: Option<Arc<StateChangeFn>>,
    observers: Arc<[Arc<dyn Observer>]>,
    time: TimeBase,
    open_backoff: Option<Backoff>,
    half_open_max_wait_ticks: u64,
    count_window: Option<CountWindow>,
    time_window: Option<TimeWindow>,
    slow_calls: Option<SlowCalls>,
    adaptive_throttle: Option<AdaptiveThrottle>,
    /// How a closed-state success is recorded.
    record_path: RecordPath,
    /// Admissions notify observers or time calls.
    admission_hooks: bool,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("name", &self.name)
            .field("max_requests", &self.max_requests)
            .field("interval_ticks", &self.interval_ticks)
            .field("timeout_ticks", &self.timeout_ticks)
            .field("custom_ready_to_trip", &self.ready_to_trip.is_some())
            .field("on_state_change", &self.on_state_change.is_some())
            .field("observers", &self.observers.len())
            .field("time", &self.time)
            .field("open_backoff", &self.open_backoff)
            .field("half_open_max_wait_ticks", &self.half_open_max_wait_ticks)
            .field("count_window", &self.count_window)
            .field("time_window", &self.time_window)
            .field("slow_calls", &self.slow_calls)
            .field("adaptive_throttle", &self.adaptive_throttle)
            .finish()
    }
}

impl Settings {
    /// The breaker's name.
    ///
    /// ```
    /// assert_eq!(warden_breaker::CircuitBreaker::builder("n").settings()?.name(), "n");
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Probe limit in half-open, and successes needed to close (at least 1).
    ///
    /// ```
    /// assert_eq!(warden_breaker::CircuitBreaker::builder("n").settings()?.max_requests(), 1);
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn max_requests(&self) -> u32 {
        self.max_requests
    }

    /// Closed-state counting interval (zero: never cleared).
    ///
    /// ```
    /// assert!(warden_breaker::CircuitBreaker::builder("n").settings()?.interval().is_zero());
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ticks)
    }

    /// Open duration.
    ///
    /// ```
    /// assert_eq!(warden_breaker::CircuitBreaker::builder("n").settings()?.timeout().as_secs(), 60);
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ticks)
    }

    /// The counting interval in ticks (milliseconds); 0 means never.
    ///
    /// ```
    /// assert_eq!(warden_breaker::CircuitBreaker::builder("n").settings()?.interval_ticks(), 0);
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn interval_ticks(&self) -> u64 {
        self.interval_ticks
    }

    /// The open duration in ticks (milliseconds).
    ///
    /// ```
    /// assert_eq!(warden_breaker::CircuitBreaker::builder("n").settings()?.timeout_ticks(), 60_000);
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn timeout_ticks(&self) -> u64 {
        self.timeout_ticks
    }

    /// How long a breaker opening at tick `now` stays open, in ticks: the timeout,
    /// or with an [`OpenBackoff`] the backed-off and jittered duration of the
    /// `retrips`-th consecutive re-trip (0 for a trip from closed).
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_breaker::{CircuitBreaker, OpenBackoff};
    /// let s = CircuitBreaker::builder("n")
    ///     .timeout(Duration::from_millis(100))
    ///     .open_backoff(OpenBackoff::exponential(3, Duration::from_secs(1)))
    ///     .settings()?;
    /// assert_eq!(s.open_ticks(0, 0), 100);
    /// assert_eq!(s.open_ticks(2, 0), 900);
    /// assert_eq!(s.open_ticks(3, 0), 1000); // capped
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn open_ticks(&self, retrips: u64, now: u64) -> u64 {
        match &self.open_backoff {
            None => self.timeout_ticks,
            Some(b) => b.ticks(self.timeout_ticks, retrips, now),
        }
    }

    /// The longest a half-open generation lasts, in ticks (0: no limit); see
    /// [`Builder::half_open_max_wait`].
    ///
    /// ```
    /// assert_eq!(warden_breaker::CircuitBreaker::builder("n").settings()?.half_open_max_wait_ticks(), 0);
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn half_open_max_wait_ticks(&self) -> u64 {
        self.half_open_max_wait_ticks
    }

    /// The name, shared.
    pub(crate) fn name_arc(&self) -> &Arc<str> {
        &self.name
    }

    /// These settings as the breaker named `name` with time base `time` reports
    /// them (the value a breaker holds may be shared, see `live.rs`).
    pub(crate) fn for_breaker(&self, name: &Arc<str>, time: &TimeBase) -> Settings {
        let mut s = self.clone();
        s.name = Arc::clone(name);
        s.time = time.with_lease_of(&self.time);
        s
    }

    /// No closure, observer, backoff (its jitter has a seed of its own), window or
    /// slow-call rule: what is left are four numbers, the same for every breaker
    /// built with them ([`Self::plain_key`]), so breakers can share one value.
    // Under loom nothing is interned (see `live.rs`).
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn is_plain(&self) -> bool {
        self.ready_to_trip.is_none()
            && self.on_state_change.is_none()
            && self.observers.is_empty()
            && self.open_backoff.is_none()
            && self.count_window.is_none()
            && self.time_window.is_none()
            && self.slow_calls.is_none()
            && self.adaptive_throttle.is_none()
            && !self.time.has_lease()
    }

    /// What tells plain settings apart (see [`Self::is_plain`]).
    // Under loom nothing is interned (see `live.rs`).
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn plain_key(&self) -> [u64; 4] {
        [
            u64::from(self.max_requests),
            self.interval_ticks,
            self.timeout_ticks,
            self.half_open_max_wait_ticks,
        ]
    }

    /// [`Self::record_path`], `admission_hooks` and whether an
    /// [`AdaptiveThrottle`] is set ([`HOT_THROTTLE`]) in one byte, for the breaker's
    /// hot paths (see `CircuitBreaker::hot`).
    pub(crate) fn hot_bits(&self) -> u8 {
        self.record_path as u8
            | if self.admission_hooks { HOT_HOOKS } else { 0 }
            | if self.adaptive_throttle.is_some() {
                HOT_THROTTLE
            } else {
                0
            }
    }

    /// Whether open durations back off (an [`OpenBackoff`] is set). Consecutive
    /// re-trips are counted only while one is.
    ///
    /// ```
    /// let s = warden_breaker::CircuitBreaker::builder("n").settings()?;
    /// assert!(!s.has_open_backoff());
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    #[inline]
    pub fn has_open_backoff(&self) -> bool {
        self.open_backoff.is_some()
    }

    /// The breaker's time: whole milliseconds since these settings were
    /// validated, saturating at [`MAX_TICK`](crate::MAX_TICK).
    ///
    /// ```
    /// use std::time::Duration;
    /// let clock = warden_breaker::ManualClock::new();
    /// let s = warden_breaker::CircuitBreaker::builder("n").clock(clock.clone()).settings()?;
    /// clock.advance(Duration::from_micros(2999));
    /// assert_eq!(s.now_ticks(), 2);
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn now_ticks(&self) -> u64 {
        self.time.now_ticks()
    }

    /// The time base: the clock, the epoch and the ticker's time.
    #[inline]
    pub(crate) fn time(&self) -> &TimeBase {
        &self.time
    }

    /// The breaker's time in nanoseconds since these settings were validated
    /// (`now_ticks` is this divided by 1,000,000): how [`SlowCalls`] times calls.
    ///
    /// ```
    /// use std::time::Duration;
    /// let clock = warden_breaker::ManualClock::new();
    /// let s = warden_breaker::CircuitBreaker::builder("n").clock(clock.clone()).settings()?;
    /// clock.advance(Duration::from_micros(2999));
    /// assert_eq!(s.now_nanos(), 2_999_000);
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn now_nanos(&self) -> u64 {
        self.time.now_nanos()
    }

    /// The tick `duration` after now, rounded up to whole milliseconds and
    /// saturating at [`MAX_TICK`](crate::MAX_TICK): the deadline of
    /// [`CircuitBreaker::force_open_for`], shared with the mutex reference.
    ///
    /// ```
    /// use std::time::Duration;
    /// let s = warden_breaker::CircuitBreaker::builder("n")
    ///     .clock(warden_breaker::ManualClock::new())
    ///     .settings()?;
    /// assert_eq!(s.deadline_after(Duration::from_micros(1500)), 2);
    /// assert_eq!(s.deadline_after(Duration::MAX), warden_breaker::MAX_TICK);
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn deadline_after(&self, duration: Duration) -> u64 {
        let ms = duration.as_nanos().div_ceil(u128::from(NANOS_PER_TICK));
        let ms = u64::try_from(ms).unwrap_or(u64::MAX);
        self.now_ticks().saturating_add(ms).min(crate::MAX_TICK)
    }

    /// The built-in count-window trip rule, if one is set.
    ///
    /// ```
    /// use warden_breaker::{CircuitBreaker, CountWindow};
    /// let s = CircuitBreaker::builder("n").count_window(CountWindow::new(10).with_min_calls(5).with_failure_rate_percent(50)).settings()?;
    /// assert_eq!(s.count_window(), Some(CountWindow::new(10).with_min_calls(5).with_failure_rate_percent(50)));
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn count_window(&self) -> Option<CountWindow> {
        self.count_window
    }

    /// The built-in time-window trip rule, if one is set.
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_breaker::{CircuitBreaker, TimeWindow};
    /// let w = TimeWindow::new(Duration::from_secs(10)).with_buckets(10).with_min_calls(5).with_failure_rate_percent(50);
    /// let s = CircuitBreaker::builder("n").time_window(w).settings()?;
    /// assert_eq!(s.time_window(), Some(w));
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn time_window(&self) -> Option<TimeWindow> {
        self.time_window
    }

    /// The built-in slow-call trip rule, if one is set.
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_breaker::{CircuitBreaker, SlowCalls};
    /// let rule = SlowCalls::new(Duration::from_millis(250)).with_slow_rate_percent(50).with_min_calls(10);
    /// let s = CircuitBreaker::builder("n").slow_calls(rule).settings()?;
    /// assert_eq!(s.slow_calls(), Some(rule));
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn slow_calls(&self) -> Option<SlowCalls> {
        self.slow_calls
    }

    /// The adaptive throttle, if one is set.
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_breaker::{AdaptiveThrottle, CircuitBreaker};
    /// let rule = AdaptiveThrottle::new(Duration::from_secs(30)).with_k(1.5);
    /// let s = CircuitBreaker::builder("n").adaptive_throttle(rule).settings()?;
    /// assert_eq!(s.adaptive_throttle(), Some(rule));
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn adaptive_throttle(&self) -> Option<AdaptiveThrottle> {
        self.adaptive_throttle
    }

    /// Whether closed-state admissions are timed ([`SlowCalls`] is set).
    #[inline]
    pub(crate) fn times_calls(&self) -> bool {
        self.slow_calls.is_some()
    }

    /// Whether a closed breaker with these counts should trip.
    ///
    /// ```
    /// use warden_breaker::Counts;
    /// let s = warden_breaker::CircuitBreaker::builder("n").settings()?;
    /// assert!(!s.ready_to_trip(&Counts { consecutive_failures: 5, ..Counts::default() }));
    /// assert!(s.ready_to_trip(&Counts { consecutive_failures: 6, ..Counts::default() }));
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    ///
    /// A custom rule that panics while this thread is already unwinding (a permit
    /// dropped by a panicking call records a failure, which asks the rule) answers
    /// `false`: its panic is dropped and the first one carries on, as a hook's
    /// would be (a second panic there would abort the process). Otherwise its panic
    /// reaches the caller, after the failure was counted.
    pub fn ready_to_trip(&self, counts: &Counts) -> bool {
        match &self.ready_to_trip {
            Some(f) if std::thread::panicking() => {
                catch_unwind(AssertUnwindSafe(|| f(counts))).unwrap_or(false)
            }
            Some(f) => f(counts),
            None => counts.consecutive_failures > DEFAULT_CONSECUTIVE_FAILURES,
        }
    }

    /// Runs the state-change callback, then every observer's `on_state_change`.
    ///
    /// ```
    /// use warden_breaker::State;
    /// let s = warden_breaker::CircuitBreaker::builder("n").settings()?;
    /// s.notify_state_change(State::Closed, State::Open); // nothing installed: no-op
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    ///
    /// Each hook runs on its own: one that panics does not keep the others from
    /// hearing of the transition. The first panic is then resumed, unless this thread
    /// is already unwinding (a second panic would abort the process), in which case
    /// it is dropped and the first one carries on.
    pub fn notify_state_change(&self, from: State, to: State) {
        rethrow(self.notify_state_change_caught(from, to));
    }

    /// [`notify_state_change`](Self::notify_state_change), returning the first
    /// hook's panic instead of resuming it, so the caller finishes its own
    /// bookkeeping first.
    pub(crate) fn notify_state_change_caught(&self, from: State, to: State) -> Option<HookPanic> {
        let mut first = None;
        if let Some(f) = &self.on_state_change
            && let Err(p) = catch_unwind(AssertUnwindSafe(|| f(&self.name, from, to)))
        {
            first = Some(p);
        }
        for o in self.observers.iter() {
            if let Err(p) =
                catch_unwind(AssertUnwindSafe(|| o.on_state_change(&self.name, from, to)))
            {
                first.get_or_insert(p);
            }
        }
        first
    }

    /// Calls `event` on every observer (nothing if none is installed).
    ///
    /// ```
    /// let s = warden_breaker::CircuitBreaker::builder("n").settings()?;
    /// s.observe(|o| o.on_success());
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    ///
    /// Each observer runs on its own, and a panic is handled as in
    /// [`notify_state_change`](Self::notify_state_change).
    #[inline]
    pub fn observe(&self, event: impl Fn(&dyn Observer)) {
        rethrow(self.observe_caught(event));
    }

    /// [`observe`](Self::observe), returning the first observer's panic instead of
    /// resuming it.
    #[inline]
    pub(crate) fn observe_caught(&self, event: impl Fn(&dyn Observer)) -> Option<HookPanic> {
        if self.observers.is_empty() {
            return None;
        }
        self.observe_each(&event)
    }

    #[cold]
    fn observe_each(&self, event: &dyn Fn(&dyn Observer)) -> Option<HookPanic> {
        let mut first = None;
        for o in self.observers.iter() {
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| event(&**o))) {
                first.get_or_insert(p);
            }
        }
        first
    }
}

/// A hook's panic, caught so that the breaker finishes its bookkeeping (a slot
/// released, a count recorded, the other hooks run, `PENDING` cleared) first.
pub(crate) type HookPanic = Box<dyn std::any::Any + Send + 'static>;

/// Resumes a hook's panic once the breaker's bookkeeping is done, unless this thread
/// is already unwinding: a panic raised then would abort the process (a permit
/// dropped by a panicking call records the failure that trips the breaker, and the
/// state-change callback panics too). The unwinding panic carries on and the hook's
/// is dropped.
pub(crate) fn rethrow(panic: Option<HookPanic>) {
    if let Some(p) = panic
        && !std::thread::panicking()
    {
        resume_unwind(p);
    }
}
