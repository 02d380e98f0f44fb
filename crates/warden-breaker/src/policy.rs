//! The time-based trip rules: [`TimeWindow`] and [`SlowCalls`], with their
//! validation. ([`CountWindow`](crate::CountWindow) lives with the builder.)

use std::time::Duration;

use crate::ConfigError;
use crate::clock::NANOS_PER_TICK;
use crate::state::MAX_DURATION_TICKS;

/// The largest number of [`TimeWindow`] buckets.
pub const MAX_TIME_BUCKETS: u32 = 1024;

/// A built-in trip rule: the failure rate over the last `length` of the closed
/// state, kept in `buckets` buckets (Resilience4j's `TIME_BASED` sliding window,
/// gobreaker v2.2's `BucketPeriod`), set with
/// [`Builder::time_window`](crate::Builder::time_window).
///
/// An outcome belongs to the bucket of the tick at which it is recorded
/// (`tick / bucket_width`). After each failure the breaker trips if the current,
/// partial bucket and the `buckets - 1` before it hold at least `min_calls`
/// successes and failures together and at least `failure_rate_percent` % of them
/// failed. Ignored outcomes and dropped permits are not calls; like every count,
/// the window starts empty in each generation (after a transition, an interval
/// reset or a manual command).
///
/// Use it for traffic whose rate varies: "half the calls of the last 10 seconds
/// failed" means the same at 10 and at 10,000 calls per second, where a count
/// window of 100 calls spans a hundredth of a second at peak and minutes at night.
/// Every recorded outcome needs the time. On the default clock
/// ([`QuantaClock`](crate::QuantaClock)) with buckets of 50 ms or more it is the
/// time the crate's ticker thread publishes each millisecond, one load (the
/// thread runs while such settings are alive; see the crate docs, "Time"), so an
/// outcome may land in a bucket up to a millisecond plus the thread's scheduling
/// delay early; otherwise it is a clock read. Successes stay on the calling
/// thread's own counters and the shared bucket ring is written once per bucket.
///
/// ```
/// use std::time::Duration;
/// use warden_breaker::{CircuitBreaker, ManualClock, State, TimeWindow};
/// let clock = ManualClock::new();
/// let cb = CircuitBreaker::builder("api")
///     // the last 10 s in 10 buckets of 1 s; at least 4 calls; trip at 50 %
///     .time_window(TimeWindow::new(Duration::from_secs(10)).with_buckets(10).with_min_calls(4).with_failure_rate_percent(50))
///     .clock(clock.clone())
///     .build()?;
/// let _ = cb.call(|| Err::<(), _>("503"));
/// let _ = cb.call(|| Err::<(), _>("503"));
/// clock.advance(Duration::from_secs(10)); // both failures leave the window
/// for _ in 0..3 {
///     let _ = cb.call(|| Ok::<_, ()>(()));
/// }
/// let _ = cb.call(|| Err::<(), _>("503")); // 1 of 4 in the window: 25 %
/// assert_eq!(cb.state(), State::Closed);
/// let _ = cb.call(|| Err::<(), _>("503")); // 2 of 5: 40 %
/// let _ = cb.call(|| Err::<(), _>("503")); // 3 of 6: 50 %
/// assert_eq!(cb.state(), State::Open);
/// # Ok::<(), warden_breaker::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TimeWindow {
    #[cfg_attr(
        feature = "serde",
        serde(rename = "length_ms", serialize_with = "crate::serde_units::millis")
    )]
    length: Duration,
    buckets: u32,
    min_calls: u32,
    failure_rate_percent: u32,
}

impl TimeWindow {
    /// The last `length` (whole milliseconds, at most 2^39 ms), with
    /// Resilience4j's defaults for the rest: 10 buckets, at least 100 calls,
    /// trip at 50 %. Change each with its named `with_` method, so two numbers
    /// cannot be swapped by position. Validated by
    /// [`Builder::build`](crate::Builder::build).
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_breaker::TimeWindow;
    /// let w = TimeWindow::new(Duration::from_secs(60))
    ///     .with_buckets(60)
    ///     .with_min_calls(20)
    ///     .with_failure_rate_percent(50);
    /// assert_eq!(w.bucket_width(), Duration::from_secs(1));
    /// let d = TimeWindow::new(Duration::from_secs(10));
    /// assert_eq!((d.buckets(), d.min_calls(), d.failure_rate_percent()), (10, 100, 50));
    /// ```
    pub const fn new(length: Duration) -> Self {
        Self {
            length,
            buckets: 10,
            min_calls: 100,
            failure_rate_percent: 50,
        }
    }

    /// The number of buckets (1..=[`MAX_TIME_BUCKETS`], each a whole number of
    /// milliseconds): the window moves on one bucket at a time.
    ///
    /// ```
    /// use std::time::Duration;
    /// let w = warden_breaker::TimeWindow::new(Duration::from_secs(10)).with_buckets(5);
    /// assert_eq!(w.bucket_width(), Duration::from_secs(2));
    /// ```
    #[must_use]
    pub const fn with_buckets(mut self, buckets: u32) -> Self {
        self.buckets = buckets;
        self
    }

    /// The calls (successes and failures, >= 1) the window must hold before its
    /// rate can trip.
    ///
    /// ```
    /// use std::time::Duration;
    /// let w = warden_breaker::TimeWindow::new(Duration::from_secs(10)).with_min_calls(20);
    /// assert_eq!(w.min_calls(), 20);
    /// ```
    #[must_use]
    pub const fn with_min_calls(mut self, min_calls: u32) -> Self {
        self.min_calls = min_calls;
        self
    }

    /// The failure rate that trips, in whole percent (1..=100).
    ///
    /// ```
    /// use std::time::Duration;
    /// let w = warden_breaker::TimeWindow::new(Duration::from_secs(10))
    ///     .with_failure_rate_percent(25);
    /// assert_eq!(w.failure_rate_percent(), 25);
    /// ```
    #[must_use]
    pub const fn with_failure_rate_percent(mut self, percent: u32) -> Self {
        self.failure_rate_percent = percent;
        self
    }

    /// The span of the window.
    ///
    /// ```
    /// use std::time::Duration;
    /// let w = warden_breaker::TimeWindow::new(Duration::from_secs(10)).with_buckets(10).with_min_calls(5).with_failure_rate_percent(50);
    /// assert_eq!(w.length(), Duration::from_secs(10));
    /// ```
    pub const fn length(&self) -> Duration {
        self.length
    }

    /// The number of buckets the window is kept in.
    ///
    /// ```
    /// use std::time::Duration;
    /// let w = warden_breaker::TimeWindow::new(Duration::from_secs(10)).with_buckets(5).with_min_calls(5).with_failure_rate_percent(50);
    /// assert_eq!(w.buckets(), 5);
    /// ```
    pub const fn buckets(&self) -> u32 {
        self.buckets
    }

    /// The span of one bucket: `length / buckets` (zero if `buckets` is zero,
    /// which [`build`](crate::Builder::build) refuses).
    ///
    /// ```
    /// use std::time::Duration;
    /// let w = warden_breaker::TimeWindow::new(Duration::from_secs(10)).with_buckets(5).with_min_calls(5).with_failure_rate_percent(50);
    /// assert_eq!(w.bucket_width(), Duration::from_secs(2));
    /// ```
    pub const fn bucket_width(&self) -> Duration {
        match self.length.checked_div(self.buckets) {
            Some(width) => width,
            None => Duration::ZERO,
        }
    }

    /// Calls the window must hold before the rate can trip.
    ///
    /// ```
    /// use std::time::Duration;
    /// let w = warden_breaker::TimeWindow::new(Duration::from_secs(10)).with_buckets(5).with_min_calls(7).with_failure_rate_percent(50);
    /// assert_eq!(w.min_calls(), 7);
    /// ```
    pub const fn min_calls(&self) -> u32 {
        self.min_calls
    }

    /// The failure rate, in percent, that trips.
    ///
    /// ```
    /// use std::time::Duration;
    /// let w = warden_breaker::TimeWindow::new(Duration::from_secs(10)).with_buckets(5).with_min_calls(7).with_failure_rate_percent(50);
    /// assert_eq!(w.failure_rate_percent(), 50);
    /// ```
    pub const fn failure_rate_percent(&self) -> u32 {
        self.failure_rate_percent
    }

    /// Whether a window holding `calls` outcomes, `failures` of them failures, trips.
    ///
    /// ```
    /// use std::time::Duration;
    /// let w = warden_breaker::TimeWindow::new(Duration::from_secs(10)).with_buckets(5).with_min_calls(4).with_failure_rate_percent(50);
    /// assert!(!w.trips(3, 3));
    /// assert!(w.trips(4, 2));
    /// ```
    pub const fn trips(&self, calls: u32, failures: u32) -> bool {
        rate_trips(
            calls as u64,
            failures as u64,
            self.min_calls,
            self.failure_rate_percent,
        )
    }

    /// The bucket width in ticks (validated: >= 1).
    pub(crate) fn width_ticks(&self) -> u64 {
        (self.length.as_millis() as u64 / u64::from(self.buckets.max(1))).max(1)
    }
}

/// A built-in trip rule on slow calls (Resilience4j's `slowCallRateThreshold` and
/// `slowCallDurationThreshold`), set with
/// [`Builder::slow_calls`](crate::Builder::slow_calls).
///
/// A call admitted in the closed state is slow when its outcome (a success or a
/// failure) is recorded `threshold` or more after its admission, both read from
/// the breaker's clock, in whole microseconds ([`is_slow`](Self::is_slow)). After each slow outcome the breaker trips
/// if the window holds at least `min_calls` calls and at least
/// `slow_rate_percent` % of them were slow. The window is the breaker's
/// [`CountWindow`](crate::CountWindow) or [`TimeWindow`] if one is set, otherwise
/// the closed generation so far (every success and failure since the last state
/// change or interval reset). Half-open probes are judged by gobreaker's rules
/// only (any failure re-opens, `max_requests` successes close).
///
/// Use it for a dependency that degrades by slowing down before it fails (a
/// database with a full connection pool, a GC-bound service): the breaker opens
/// while calls still succeed, before timeouts pile up in the caller. Only this
/// policy needs the time at admission; its outcomes take the breaker's slower
/// recording path (see `BENCHMARKS.md`). On the default clock
/// ([`QuantaClock`](crate::QuantaClock)) a threshold of 50 ms or more times calls
/// with the time the crate's ticker thread publishes each millisecond (one load
/// at each end, to within a millisecond plus the thread's scheduling delay; the
/// thread runs while such settings are alive, see the crate docs, "Time"); a
/// finer threshold reads the clock at both ends.
///
/// ```
/// use std::time::Duration;
/// use warden_breaker::{CircuitBreaker, ManualClock, SlowCalls, State};
/// let clock = ManualClock::new();
/// let cb = CircuitBreaker::builder("db")
///     // 2 s or more is slow; trip when half of at least 4 calls were slow
///     .slow_calls(SlowCalls::new(Duration::from_secs(2)).with_slow_rate_percent(50).with_min_calls(4))
///     .clock(clock.clone())
///     .build()?;
/// for _ in 0..2 {
///     cb.call(|| Ok::<_, ()>(())).unwrap(); // fast
/// }
/// let slow = || {
///     clock.advance(Duration::from_secs(3));
///     Ok::<_, ()>(())
/// };
/// cb.call(slow).unwrap(); // 1 slow of 3 calls: under the minimum
/// assert_eq!(cb.state(), State::Closed);
/// cb.call(slow).unwrap(); // 2 slow of 4: 50 %
/// assert_eq!(cb.state(), State::Open);
/// # Ok::<(), warden_breaker::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SlowCalls {
    #[cfg_attr(
        feature = "serde",
        serde(rename = "threshold_us", serialize_with = "crate::serde_units::micros")
    )]
    threshold: Duration,
    slow_rate_percent: u32,
    min_calls: u32,
}

impl SlowCalls {
    /// Calls taking at least `threshold` (whole microseconds, 1 µs..=2^39 µs) are
    /// slow, with Resilience4j's defaults for the rest: trip when 100 % of the
    /// window's calls are slow and it holds at least 100. Change each with its
    /// named `with_` method. Validated by [`Builder::build`](crate::Builder::build).
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_breaker::SlowCalls;
    /// let s = SlowCalls::new(Duration::from_millis(500)).with_slow_rate_percent(50).with_min_calls(10);
    /// assert_eq!(s.threshold(), Duration::from_millis(500));
    /// let d = SlowCalls::new(Duration::from_secs(1));
    /// assert_eq!((d.slow_rate_percent(), d.min_calls()), (100, 100));
    /// ```
    pub const fn new(threshold: Duration) -> Self {
        Self {
            threshold,
            slow_rate_percent: 100,
            min_calls: 100,
        }
    }

    /// The share of slow calls that trips, in whole percent (1..=100).
    ///
    /// ```
    /// use std::time::Duration;
    /// let s = warden_breaker::SlowCalls::new(Duration::from_secs(1)).with_slow_rate_percent(80);
    /// assert_eq!(s.slow_rate_percent(), 80);
    /// ```
    #[must_use]
    pub const fn with_slow_rate_percent(mut self, percent: u32) -> Self {
        self.slow_rate_percent = percent;
        self
    }

    /// The calls (>= 1) the window must hold before the slow-call rate can trip.
    ///
    /// ```
    /// use std::time::Duration;
    /// let s = warden_breaker::SlowCalls::new(Duration::from_secs(1)).with_min_calls(10);
    /// assert_eq!(s.min_calls(), 10);
    /// ```
    #[must_use]
    pub const fn with_min_calls(mut self, min_calls: u32) -> Self {
        self.min_calls = min_calls;
        self
    }

    /// The duration from which a call is slow.
    ///
    /// ```
    /// use std::time::Duration;
    /// let s = warden_breaker::SlowCalls::new(Duration::from_secs(1)).with_slow_rate_percent(50).with_min_calls(10);
    /// assert_eq!(s.threshold(), Duration::from_secs(1));
    /// ```
    pub const fn threshold(&self) -> Duration {
        self.threshold
    }

    /// The share of slow calls, in percent, that trips.
    ///
    /// ```
    /// use std::time::Duration;
    /// let s = warden_breaker::SlowCalls::new(Duration::from_secs(1)).with_slow_rate_percent(80).with_min_calls(10);
    /// assert_eq!(s.slow_rate_percent(), 80);
    /// ```
    pub const fn slow_rate_percent(&self) -> u32 {
        self.slow_rate_percent
    }

    /// Calls the window must hold before the rate can trip.
    ///
    /// ```
    /// use std::time::Duration;
    /// let s = warden_breaker::SlowCalls::new(Duration::from_secs(1)).with_slow_rate_percent(80).with_min_calls(10);
    /// assert_eq!(s.min_calls(), 10);
    /// ```
    pub const fn min_calls(&self) -> u32 {
        self.min_calls
    }

    /// Whether a window of `calls` calls, `slow` of them slow, trips.
    ///
    /// ```
    /// use std::time::Duration;
    /// let s = warden_breaker::SlowCalls::new(Duration::from_secs(1)).with_slow_rate_percent(50).with_min_calls(4);
    /// assert!(!s.trips(3, 3));
    /// assert!(s.trips(4, 2));
    /// ```
    pub const fn trips(&self, calls: u32, slow: u32) -> bool {
        rate_trips(
            calls as u64,
            slow as u64,
            self.min_calls,
            self.slow_rate_percent,
        )
    }

    /// [`trips`](Self::trips) on counts wider than 32 bits.
    pub(crate) const fn trips_wide(&self, calls: u64, slow: u64) -> bool {
        rate_trips(calls, slow, self.min_calls, self.slow_rate_percent)
    }

    /// Whether a call admitted at `start_nanos` and recorded at `end_nanos` (the
    /// breaker's clock, [`Settings::now_nanos`](crate::Settings::now_nanos)) is
    /// slow: whether the whole microseconds between them, `end / 1000 - start / 1000`
    /// (modulo 2^40 µs, 12.7 days), reach the threshold. A permit keeps its
    /// admission time at that resolution, in 40 bits; a call that takes 12.7 days
    /// or more is judged modulo that span.
    ///
    /// A clock that stepped back between the two reads is treated as standing still
    /// (the call took no time, so it is not slow), as [`Clock`](crate::Clock)
    /// promises: a difference of more than 2^39 µs (6.4 days, the longest
    /// threshold) modulo 2^40 µs is an end before the start.
    ///
    /// ```
    /// use std::time::Duration;
    /// let s = warden_breaker::SlowCalls::new(Duration::from_millis(2)).with_slow_rate_percent(50).with_min_calls(4);
    /// assert!(!s.is_slow(0, 1_999_999));
    /// assert!(s.is_slow(0, 2_000_000));
    /// // Whole microseconds of the clock: 2000 - 1 and 2000 - 0.
    /// assert!(!s.is_slow(1_000, 2_000_999));
    /// assert!(s.is_slow(999, 2_000_000));
    /// // The clock stepped back 1 µs: no time passed, not 12.7 days.
    /// assert!(!s.is_slow(5_000_000, 4_999_000));
    /// ```
    pub const fn is_slow(&self, start_nanos: u64, end_nanos: u64) -> bool {
        self.is_slow_since(start_nanos / 1_000, end_nanos)
    }

    /// [`is_slow`](Self::is_slow) from an admission time already in microseconds
    /// (modulo 2^40).
    #[inline]
    pub(crate) const fn is_slow_since(&self, start_micros: u64, end_nanos: u64) -> bool {
        took_micros(start_micros, end_nanos) as u128 >= self.threshold.as_micros()
    }
}

/// The whole microseconds a call admitted at `start_micros` (modulo 2^40) and
/// recorded at `end_nanos` took, as [`SlowCalls::is_slow`] counts them (0 for an
/// end before the start).
#[inline]
pub(crate) const fn took_micros(start_micros: u64, end_nanos: u64) -> u64 {
    let took = (end_nanos / 1_000).wrapping_sub(start_micros) & MICROS_MASK;
    // Past half the span: the end is before the start (the clock stepped back),
    // which is standing still.
    if took > BACKWARDS_AFTER { 0 } else { took }
}

/// Slow-call times are kept in 40 bits of microseconds.
const MICROS_MASK: u64 = (1 << 40) - 1;
/// The longest slow-call threshold: 2^39 µs (6.4 days), half the span a ticket
/// can time, so any slow call is seen as slow for at least as long again.
const MAX_THRESHOLD_MICROS: u128 = 1 << 39;
/// A call's time modulo 2^40 µs above this is a clock that stepped back (see
/// [`SlowCalls::is_slow`]); the longest threshold is still reachable.
const BACKWARDS_AFTER: u64 = 1 << 39;

/// `calls >= min_calls && hits / calls >= percent / 100`, without overflow.
/// Counts are at most 40 bits (the counters' field), so `hits * 100` cannot overflow.
pub(crate) const fn rate_trips(calls: u64, hits: u64, min_calls: u32, percent: u32) -> bool {
    calls >= min_calls as u64 && hits.saturating_mul(100) >= (percent as u64).saturating_mul(calls)
}

fn out_of_range(field: &'static str, value: impl ToString, allowed: &'static str) -> ConfigError {
    ConfigError::OutOfRange {
        field,
        value: value.to_string(),
        allowed,
    }
}

fn check_percent(field: &'static str, percent: u32) -> Result<(), ConfigError> {
    if (1..=100).contains(&percent) {
        Ok(())
    } else {
        Err(out_of_range(field, percent, "1..=100"))
    }
}

pub(crate) fn validate_time_window(w: TimeWindow) -> Result<(), ConfigError> {
    // Range first: a length too large to store is that, whatever its fraction.
    let ms = w.length.as_millis();
    if ms > u128::from(MAX_DURATION_TICKS) || w.length.is_zero() {
        return Err(out_of_range(
            "time_window.length",
            format!("{:?}", w.length),
            "1 ms..=2^39 ms, in whole milliseconds",
        ));
    }
    if !(u64::from(w.length.subsec_nanos())).is_multiple_of(NANOS_PER_TICK) {
        return Err(ConfigError::NotWholeMillis {
            field: "time_window.length",
            value: w.length,
        });
    }
    if w.buckets == 0 || w.buckets > MAX_TIME_BUCKETS || !ms.is_multiple_of(u128::from(w.buckets)) {
        return Err(out_of_range(
            "time_window.buckets",
            w.buckets,
            "1..=1024, dividing the length into whole milliseconds",
        ));
    }
    if w.min_calls == 0 {
        return Err(out_of_range("time_window.min_calls", 0, "1..=4294967295"));
    }
    check_percent("time_window.failure_rate_percent", w.failure_rate_percent)
}

pub(crate) fn validate_slow_calls(s: SlowCalls) -> Result<(), ConfigError> {
    let t = s.threshold;
    if t.is_zero()
        || t.as_micros() > MAX_THRESHOLD_MICROS
        || !t.subsec_nanos().is_multiple_of(1_000)
    {
        return Err(out_of_range(
            "slow_calls.threshold",
            format!("{t:?}"),
            "1 µs..=2^39 µs (about 6.4 days), in whole microseconds",
        ));
    }
    if s.min_calls == 0 {
        return Err(out_of_range("slow_calls.min_calls", 0, "1..=4294967295"));
    }
    check_percent("slow_calls.slow_rate_percent", s.slow_rate_percent)
}
