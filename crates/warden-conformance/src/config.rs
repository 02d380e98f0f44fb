//! [`Config`]: the settings both breakers of a differential run are built from.

use std::fmt;
use std::time::Duration;

use warden_breaker::{
    AdaptiveThrottle, CircuitBreaker, CountWindow, Counts, ManualClock, OpenBackoff, Settings,
    SlowCalls, TimeWindow,
};

use crate::bytes::Bytes;

/// The rule that trips a closed breaker in a run.
///
/// ```
/// use warden_breaker::Counts;
/// use warden_conformance::TripRule;
/// let rule = TripRule::FailureRatio { min_requests: 4, percent: 50 };
/// assert!(rule.trips(&Counts { requests: 4, total_failures: 2, ..Counts::default() }));
/// assert!(!rule.trips(&Counts { requests: 3, total_failures: 3, ..Counts::default() }));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TripRule {
    /// No `ready_to_trip` given: the breaker's default (more than 5 consecutive
    /// failures).
    Default,
    /// `consecutive_failures >= n`.
    ConsecutiveFailures(u32),
    /// `total_failures >= n`.
    TotalFailures(u32),
    /// `requests >= min_requests && total_failures * 100 >= percent * requests`.
    FailureRatio {
        /// The fewest requests before the ratio is considered.
        min_requests: u32,
        /// The failure percentage that trips.
        percent: u32,
    },
    /// The breaker's built-in [`CountWindow`] instead of `ready_to_trip` (decided
    /// by the breakers; [`TripRule::trips`] says `false`).
    CountWindow {
        /// Calls in the window.
        size: u32,
        /// Calls before the rate is considered.
        min_calls: u32,
        /// The failure percentage that trips.
        percent: u32,
    },
    /// The breaker's built-in [`TimeWindow`] instead of `ready_to_trip` (decided
    /// by the breakers; [`TripRule::trips`] says `false`).
    TimeWindow {
        /// The window's span in ms.
        length_ms: u64,
        /// Buckets it is kept in (`length_ms` is a multiple of it).
        buckets: u32,
        /// Calls before the rate is considered.
        min_calls: u32,
        /// The failure percentage that trips.
        percent: u32,
    },
    /// The breaker's built-in [`AdaptiveThrottle`](warden_breaker::AdaptiveThrottle)
    /// instead of `ready_to_trip` (never opens; [`TripRule::trips`] says `false`).
    Adaptive {
        /// The window's span in ms.
        window_ms: u64,
        /// Buckets it is kept in (`window_ms` is a multiple of it).
        buckets: u32,
        /// `k` in tenths (10 is `k = 1`).
        k_tenths: u32,
        /// Requests before anything is shed.
        min_requests: u32,
        /// The highest rejection probability, in percent.
        max_reject_percent: u32,
    },
}

impl TripRule {
    /// Whether a closed breaker with `counts` trips (for [`TripRule::Default`]:
    /// gobreaker's default rule).
    ///
    /// ```
    /// use warden_breaker::Counts;
    /// use warden_conformance::TripRule;
    /// assert!(TripRule::Default.trips(&Counts { consecutive_failures: 6, ..Counts::default() }));
    /// ```
    pub fn trips(self, c: &Counts) -> bool {
        match self {
            TripRule::Default => {
                c.consecutive_failures > warden_breaker::DEFAULT_CONSECUTIVE_FAILURES
            }
            TripRule::ConsecutiveFailures(n) => c.consecutive_failures >= n,
            TripRule::TotalFailures(n) => c.total_failures >= n,
            TripRule::FailureRatio {
                min_requests,
                percent,
            } => {
                c.requests >= min_requests
                    && u64::from(c.total_failures) * 100
                        >= u64::from(percent) * u64::from(c.requests)
            }
            TripRule::CountWindow { .. }
            | TripRule::TimeWindow { .. }
            | TripRule::Adaptive { .. } => false,
        }
    }
}

/// The configuration of one differential run: both breakers are built from
/// clones of the one [`Settings`] it makes.
///
/// ```
/// use warden_conformance::{Config, TripRule};
/// let config = Config { max_requests: 2, interval_ms: 0, timeout_ms: 5, trip: TripRule::ConsecutiveFailures(1), ..Config::default() };
/// assert_eq!(config.timeout_ticks(), 5);
/// assert_eq!(Config::from_bytes(&[]).timeout_ms, 1); // missing bytes read as zero
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// `max_requests` as given to the builder (0 means 1).
    pub max_requests: u32,
    /// The counting interval in ms (0: never).
    pub interval_ms: u64,
    /// The open timeout in ms (0: the 60 s default).
    pub timeout_ms: u64,
    /// The trip rule.
    pub trip: TripRule,
    /// Open-duration backoff on consecutive re-trips (`None`: the plain timeout).
    pub open_backoff: Option<OpenBackoff>,
    /// The half-open max wait in ms (0: none).
    pub half_open_max_wait_ms: u64,
    /// The slow-call rule, on top of the trip rule (`None`: calls are not timed).
    pub slow_calls: Option<SlowCalls>,
}

impl Default for Config {
    /// Every setting at its zero value: gobreaker's defaults.
    fn default() -> Self {
        Self {
            max_requests: 0,
            interval_ms: 0,
            timeout_ms: 0,
            trip: TripRule::Default,
            open_backoff: None,
            half_open_max_wait_ms: 0,
            slow_calls: None,
        }
    }
}

/// Intervals a decoded config picks from (ms; 0 is "never", listed twice so
/// half the runs have no interval).
const INTERVALS: [u64; 8] = [0, 0, 0, 0, 1, 2, 5, 13];
/// Timeouts a decoded config picks from (ms; 0 is the 60 s default).
const TIMEOUTS: [u64; 8] = [1, 1, 2, 3, 7, 10, 50, 0];
/// Time windows a decoded config picks from: (length ms, buckets), bucket widths
/// of 1 to 3 ms, so the op decoder's small advances cross bucket edges.
const TIME_WINDOWS: [(u64, u32); 8] = [
    (1, 1),
    (2, 1),
    (2, 2),
    (4, 2),
    (3, 3),
    (6, 3),
    (8, 4),
    (10, 5),
];
/// Slow-call thresholds a decoded config picks from (ns, whole microseconds as the
/// breakers require): the smallest, just under, at and just over one tick, and a
/// few ticks.
const SLOW_THRESHOLDS: [u64; 8] = [
    1_000, 999_000, 1_000_000, 1_001_000, 1_500_000, 2_000_000, 3_000_000, 5_000_000,
];
/// Failure and slow-call percentages a decoded config picks from.
const PERCENTS: [u32; 4] = [25, 50, 60, 100];

impl Config {
    /// Decodes a config from the front of `bytes` (missing bytes read as zero,
    /// so every input is valid).
    pub(crate) fn decode(bytes: &mut Bytes<'_>) -> Self {
        let max_requests = u32::from(bytes.next() % 5);
        let interval_ms = INTERVALS[usize::from(bytes.next()) % INTERVALS.len()];
        let timeout_ms = TIMEOUTS[usize::from(bytes.next()) % TIMEOUTS.len()];
        let n = u32::from(bytes.next() % 4) + 1;
        let trip = match bytes.next() % 8 {
            0 | 1 => TripRule::ConsecutiveFailures(n),
            2 => TripRule::TotalFailures(n),
            3 => TripRule::FailureRatio {
                min_requests: n,
                percent: PERCENTS[usize::from(bytes.next()) % 4],
            },
            4 => {
                let b = bytes.next();
                let size = [1, 2, 3, 5, 8, 13][usize::from(b) % 6];
                TripRule::CountWindow {
                    size,
                    min_calls: n.min(size),
                    percent: PERCENTS[usize::from(b >> 4) % 4],
                }
            }
            5 | 6 => {
                let b = bytes.next();
                let (length_ms, buckets) = TIME_WINDOWS[usize::from(b) % TIME_WINDOWS.len()];
                TripRule::TimeWindow {
                    length_ms,
                    buckets,
                    min_calls: n,
                    percent: PERCENTS[usize::from(b >> 4) % 4],
                }
            }
            _ => TripRule::Default,
        };
        let mut config = Self {
            max_requests,
            interval_ms,
            timeout_ms,
            trip,
            open_backoff: None,
            half_open_max_wait_ms: 0,
            slow_calls: None,
        };
        // Half the runs back off: multiplier 1..=3, cap 1x..=8x the timeout, jitter
        // 0, 25 or 100 %, a seed from the input.
        let b = bytes.next();
        if b & 1 == 1 {
            let max = Duration::from_millis(
                config.timeout_ticks() * [1, 2, 5, 8][usize::from(b >> 1) % 4],
            );
            config.open_backoff = Some(
                OpenBackoff::exponential(u32::from(b >> 3) % 3 + 1, max)
                    .jitter([0, 0, 25, 100][usize::from(b >> 5) % 4])
                    .seed(u64::from(bytes.next())),
            );
        }
        // Half the runs bound the half-open state (ms).
        config.half_open_max_wait_ms = [0, 0, 0, 0, 1, 2, 3, 10][usize::from(bytes.next()) % 8];
        // Half the runs time their calls: a threshold around a tick, rate and minimum
        // from the input.
        let b = bytes.next();
        if b & 1 == 1 {
            config.slow_calls = Some(
                SlowCalls::new(Duration::from_nanos(
                    SLOW_THRESHOLDS[usize::from(b >> 1) % 8],
                ))
                .with_slow_rate_percent(PERCENTS[usize::from(b >> 4) % 4])
                .with_min_calls(u32::from(b >> 6) + 1),
            );
        }
        // Half the runs without slow calls or a window shed load instead (an
        // adaptive throttle of the window sizes above).
        let b = bytes.next();
        let plain = !matches!(
            config.trip,
            TripRule::CountWindow { .. } | TripRule::TimeWindow { .. }
        );
        if b & 1 == 1 && plain && config.slow_calls.is_none() {
            let (window_ms, buckets) = TIME_WINDOWS[usize::from(b >> 2) % TIME_WINDOWS.len()];
            config.trip = TripRule::Adaptive {
                window_ms,
                buckets,
                k_tenths: [10, 15, 20, 30][usize::from(b >> 5) % 4],
                min_requests: [0, 1, 3, 8][usize::from(bytes.next()) % 4],
                max_reject_percent: if b >> 7 == 1 { 50 } else { 100 },
            };
        }
        config
    }

    /// A config decoded from arbitrary bytes (the fuzz target's input format);
    /// never panics.
    ///
    /// ```
    /// let c = warden_conformance::Config::from_bytes(&[3, 4, 5, 0, 0]);
    /// assert_eq!((c.max_requests, c.interval_ms, c.timeout_ms), (3, 1, 10));
    /// ```
    pub fn from_bytes(data: &[u8]) -> Self {
        Self::decode(&mut Bytes::new(data))
    }

    /// The slow-call threshold in nanoseconds (`None` without slow calls).
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_breaker::SlowCalls;
    /// let config = warden_conformance::Config {
    ///     slow_calls: Some(SlowCalls::new(Duration::from_micros(1500)).with_slow_rate_percent(50).with_min_calls(2)),
    ///     ..Default::default()
    /// };
    /// assert_eq!(config.slow_threshold_nanos(), Some(1_500_000));
    /// ```
    pub fn slow_threshold_nanos(&self) -> Option<u64> {
        self.slow_calls
            .map(|s| u64::try_from(s.threshold().as_nanos()).unwrap_or(u64::MAX))
    }

    /// The open timeout in ticks, after the zero default.
    ///
    /// ```
    /// assert_eq!(warden_conformance::Config::default().timeout_ticks(), 60_000);
    /// ```
    pub fn timeout_ticks(&self) -> u64 {
        match self.timeout_ms {
            0 => warden_breaker::DEFAULT_TIMEOUT.as_millis() as u64,
            t => t,
        }
    }

    /// Validated settings with this config, `clock` and the given callback and
    /// observer (the driver installs recorders).
    pub(crate) fn settings(
        &self,
        clock: &ManualClock,
        on_state_change: impl Fn(&str, warden_breaker::State, warden_breaker::State)
        + Send
        + Sync
        + 'static,
        observer: impl warden_breaker::Observer,
    ) -> Result<Settings, warden_breaker::ConfigError> {
        self.builder_with(
            CircuitBreaker::builder("differential")
                .clock(clock.clone())
                .on_state_change(on_state_change)
                .observer(observer),
        )
        .settings()
    }

    /// A builder with this config and no clock or hooks: what
    /// [`CircuitBreaker::reconfigure`] takes (the breaker keeps its own clock and
    /// hooks).
    ///
    /// ```
    /// let c = warden_conformance::Config { max_requests: 3, ..Default::default() };
    /// let cb = warden_breaker::CircuitBreaker::builder("differential").build()?;
    /// cb.reconfigure(c.builder())?;
    /// assert_eq!(cb.settings().max_requests(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder(&self) -> warden_breaker::Builder {
        self.builder_with(CircuitBreaker::builder("differential"))
    }

    /// `b` with this config's settings.
    fn builder_with(&self, b: warden_breaker::Builder) -> warden_breaker::Builder {
        let mut b = b
            .max_requests(self.max_requests)
            .interval(Duration::from_millis(self.interval_ms))
            .timeout(Duration::from_millis(self.timeout_ms));
        b = b.half_open_max_wait(Duration::from_millis(self.half_open_max_wait_ms));
        if let Some(backoff) = self.open_backoff {
            b = b.open_backoff(backoff);
        }
        match self.trip {
            TripRule::Default => {}
            TripRule::CountWindow {
                size,
                min_calls,
                percent,
            } => {
                b = b.count_window(
                    CountWindow::new(size)
                        .with_min_calls(min_calls)
                        .with_failure_rate_percent(percent),
                )
            }
            TripRule::TimeWindow {
                length_ms,
                buckets,
                min_calls,
                percent,
            } => {
                b = b.time_window(
                    TimeWindow::new(Duration::from_millis(length_ms))
                        .with_buckets(buckets)
                        .with_min_calls(min_calls)
                        .with_failure_rate_percent(percent),
                )
            }
            TripRule::Adaptive {
                window_ms,
                buckets,
                k_tenths,
                min_requests,
                max_reject_percent,
            } => {
                b = b.adaptive_throttle(
                    AdaptiveThrottle::new(Duration::from_millis(window_ms))
                        .with_buckets(buckets)
                        .with_k(f64::from(k_tenths) / 10.0)
                        .with_min_requests(min_requests)
                        .with_max_reject_percent(max_reject_percent),
                )
            }
            rule => b = b.ready_to_trip(move |c| rule.trips(c)),
        }
        if let Some(slow) = self.slow_calls {
            b = b.slow_calls(slow);
        }
        b
    }
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "max_requests {}, interval {} ms, timeout {} ms, trip {:?}, open backoff {:?}, \
             half-open max wait {} ms, slow calls {:?}",
            self.max_requests,
            self.interval_ms,
            self.timeout_ms,
            self.trip,
            self.open_backoff,
            self.half_open_max_wait_ms,
            self.slow_calls
        )
    }
}
