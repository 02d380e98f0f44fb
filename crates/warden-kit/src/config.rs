//! Per-name configuration: [`BreakerConfig`] (with the presets), the trip
//! rule, and loading a whole registry's configuration from TOML or JSON
//! ([`RegistryConfig`]).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::quote::{QUOTE_MAX, bounded};
use warden_breaker::{
    AdaptiveThrottle, Builder, CircuitBreaker, CountWindow, Counts, OpenBackoff, SlowCalls,
    TimeWindow,
};

/// When a closed breaker opens.
///
/// In files: `trip = { consecutive_failures = 6 }`,
/// `trip = { failure_rate = { failure_rate_percent = 50, min_requests = 20 } }`,
/// `trip = { count_window = { size = 100, min_calls = 20, failure_rate_percent = 50 } }`,
/// `trip = { time_window = { length = "10s", buckets = 10, min_calls = 20, failure_rate_percent = 50 } }`
/// or, to shed load instead of opening,
/// `trip = { adaptive = { window = "30s", k = 2.0 } }` (with optional `buckets`,
/// `min_requests` and `max_reject_percent`).
///
/// `ConsecutiveFailures`, `FailureRate` and `Custom` are gobreaker's
/// `ReadyToTrip` over the counts of the counting interval; `CountWindow` and
/// `TimeWindow` are the core's built-in sliding windows
/// ([`warden_breaker::CountWindow`], [`warden_breaker::TimeWindow`]), which
/// forget old calls without an `interval` reset.
///
/// **Rates.** Every rate is a whole percent, in files and in code, as in the
/// core: `failure_rate_percent = 50` here, [`SlowCallsConfig::rate_percent`],
/// [`OpenBackoffConfig::jitter_percent`]. A share such as `failure_rate = 0.5`
/// (the form files used before) is refused with an error naming the field and
/// its replacement.
///
/// ```
/// use warden_kit::{Counts, TripRule};
/// let rule = TripRule::FailureRate { failure_rate_percent: 50, min_requests: 10 };
/// assert!(!rule.should_trip(&Counts { requests: 9, total_failures: 9, ..Counts::default() }));
/// assert!(rule.should_trip(&Counts { requests: 10, total_failures: 5, ..Counts::default() }));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub enum TripRule {
    /// Opens at the `n`th consecutive failure (`n >= 1`). gobreaker's default,
    /// "more than 5", is `ConsecutiveFailures(6)`.
    ConsecutiveFailures(u32),
    /// Opens when at least `min_requests` calls were made in the current
    /// counting interval and at least `failure_rate_percent` % of them failed
    /// (`1..=100`, `min_requests >= 1`).
    FailureRate {
        /// Failure rate that trips, whole percent in `1..=100`.
        failure_rate_percent: u32,
        /// Calls needed in the interval before the rate is looked at.
        min_requests: u32,
    },
    /// Opens when, among the last `size` calls of the closed state, at least
    /// `min_calls` were made and at least `failure_rate_percent` % of them failed
    /// (Resilience4j's count-based sliding window; the core's
    /// [`CountWindow`](warden_breaker::CountWindow), lock-free and free for
    /// successes). Calls are successes and failures: unlike
    /// [`FailureRate`](Self::FailureRate)'s `min_requests`, calls still
    /// running, ignored or dropped are not counted.
    ///
    /// Use it for a dependency that fails a share of requests (a flaky node
    /// behind a load balancer), where consecutive failures are too jumpy.
    ///
    /// ```
    /// use warden_kit::{BreakerConfig, Registry, State, TripRule};
    /// let rule = TripRule::CountWindow { size: 10, min_calls: 4, failure_rate_percent: 50 };
    /// let registry = Registry::builder()
    ///     .configure("api", BreakerConfig::default().with_trip(rule))
    ///     .build()?;
    /// for ok in [true, false, true] {
    ///     let _ = registry.pipeline("api")?.execute(|| if ok { Ok(()) } else { Err("503") });
    /// }
    /// let ex = registry.pipeline("api")?.execute(|| Err::<(), _>("503")); // 2 of 4 failed
    /// assert_eq!(ex.state(), Some(State::Open));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    CountWindow {
        /// Calls in the window, `1..=1024`.
        size: u32,
        /// Calls the window must hold before the rate is looked at,
        /// `1..=size`.
        min_calls: u32,
        /// Failure rate that trips, whole percent in `1..=100`.
        failure_rate_percent: u32,
    },
    /// Opens when the calls of the last `length` of the closed state, kept in
    /// `buckets` buckets, number at least `min_calls` and at least
    /// `failure_rate_percent` % of them failed (Resilience4j's time-based sliding
    /// window; the core's [`TimeWindow`](warden_breaker::TimeWindow)).
    ///
    /// Use it for traffic whose rate varies: "half the calls of the last 10 s
    /// failed" means the same at 10 and at 10,000 calls per second.
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_kit::{BreakerConfig, ManualClock, Registry, State, TripRule};
    /// let rule = TripRule::TimeWindow {
    ///     length: Duration::from_secs(10),
    ///     buckets: 10,
    ///     min_calls: 4,
    ///     failure_rate_percent: 50,
    /// };
    /// let clock = ManualClock::new();
    /// let registry = Registry::builder()
    ///     .configure("api", BreakerConfig::default().with_trip(rule))
    ///     .clock(clock.clone())
    ///     .build()?;
    /// let _ = registry.pipeline("api")?.execute(|| Err::<(), _>("503"));
    /// clock.advance(Duration::from_secs(10)); // the failure leaves the window
    /// for _ in 0..3 {
    ///     let _ = registry.pipeline("api")?.execute(|| Ok::<_, &str>(()));
    /// }
    /// let ex = registry.pipeline("api")?.execute(|| Err::<(), _>("503")); // 1 of 4
    /// assert_eq!(ex.state(), Some(State::Closed));
    /// let _ = registry.pipeline("api")?.execute(|| Err::<(), _>("503")); // 2 of 5
    /// let ex = registry.pipeline("api")?.execute(|| Err::<(), _>("503")); // 3 of 6
    /// assert_eq!(ex.state(), Some(State::Open));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    TimeWindow {
        /// The span of the window: whole milliseconds, at most 2^39 ms (in
        /// files, a duration like `timeout`).
        length: Duration,
        /// Buckets the window is kept in, `1..=1024`, each a whole number of
        /// milliseconds (`length` divisible by `buckets` in ms).
        buckets: u32,
        /// Calls the window must hold before the rate is looked at (`>= 1`).
        min_calls: u32,
        /// Failure rate that trips, whole percent in `1..=100`.
        failure_rate_percent: u32,
    },
    /// Never opens: sheds a random share of the calls that grows with the
    /// failures (client-side adaptive throttling; the core's
    /// [`AdaptiveThrottle`](warden_breaker::AdaptiveThrottle), whose docs give
    /// the exact rule). Over the last `window` a closed breaker rejects a call
    /// with probability `max(0, (requests - k * accepts) / (requests + 1))`,
    /// at most `max_reject_percent` %, and never below `min_requests` requests; a
    /// rejection is [`Rejected::Throttled`](warden_breaker::Rejected::Throttled).
    /// Cannot be combined with [`slow_calls`](BreakerConfig::slow_calls).
    ///
    /// In files every field but `window` has a default (10 buckets, `k = 2`, 10
    /// requests, `max_reject_percent = 100`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_kit::{BreakerConfig, Registry, State, TripRule};
    /// let rule = TripRule::Adaptive {
    ///     window: Duration::from_secs(30),
    ///     buckets: 10,
    ///     k: 2.0,
    ///     min_requests: 10,
    ///     max_reject_percent: 90,
    /// };
    /// let registry = Registry::builder()
    ///     .configure("api", BreakerConfig::default().with_trip(rule))
    ///     .build()?;
    /// let api = registry.pipeline("api")?;
    /// let shed = (0..1000)
    ///     .filter(|_| api.execute(|| Err::<(), _>("503")).is_rejected())
    ///     .count();
    /// assert!(shed > 700, "{shed}"); // about 90 % once the window holds 10 requests
    /// assert_eq!(registry.breaker("api")?.state(), State::Closed);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    Adaptive {
        /// The span of the window: whole milliseconds, at most 2^39 ms (in
        /// files, a duration like `timeout`).
        window: Duration,
        /// Buckets the window is kept in, `1..=1024`, each a whole number of
        /// milliseconds.
        buckets: u32,
        /// Requests allowed per accept before shedding starts: finite, `>= 1`.
        k: f64,
        /// Requests the window must hold before anything is shed.
        min_requests: u32,
        /// The highest rejection probability, whole percent in `0..=100`.
        max_reject_percent: u32,
    },
    /// Your own rule (the Go `resilience` package's `ReadyToTrip(counts)`); not available in files.
    Custom(Arc<dyn Fn(&Counts) -> bool + Send + Sync>),
}

/// Reads a `trip` section: a table naming exactly one rule. Two rules in one
/// section get an error saying so (the derived form said "wanted exactly 1
/// element"), naming at most 64 bytes of each key.
impl<'de> Deserialize<'de> for TripRule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(TripRuleVisitor)
    }
}

const TRIP_RULES: &[&str] = &[
    "consecutive_failures",
    "failure_rate",
    "count_window",
    "time_window",
    "adaptive",
];

struct TripRuleVisitor;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FailureRateSpec {
    failure_rate_percent: Option<u32>,
    min_requests: u32,
    /// The old share form, refused with a message saying what replaced it.
    ratio: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CountWindowSpec {
    size: u32,
    min_calls: u32,
    failure_rate_percent: Option<u32>,
    failure_rate: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TimeWindowSpec {
    #[serde(deserialize_with = "duration::required")]
    length: Duration,
    buckets: u32,
    min_calls: u32,
    failure_rate_percent: Option<u32>,
    failure_rate: Option<serde::de::IgnoredAny>,
}

/// The error for a rate written in the old form (a share such as `0.5`).
fn old_rate<E: serde::de::Error>(old: &str, new: &str) -> E {
    E::custom(format!(
        "`{old}` (a share such as 0.5) was replaced by `{new}`, a whole percent (50)"
    ))
}

/// A rate in its percent field, refusing the old share field.
fn percent_field<E: serde::de::Error>(
    percent: Option<u32>,
    share: Option<&serde::de::IgnoredAny>,
    old: &str,
    new: &'static str,
) -> Result<u32, E> {
    match (percent, share) {
        (_, Some(_)) => Err(old_rate(old, new)),
        (Some(p), None) => Ok(p),
        (None, None) => Err(E::missing_field(new)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdaptiveSpec {
    #[serde(deserialize_with = "duration::required")]
    window: Duration,
    #[serde(default = "AdaptiveSpec::buckets")]
    buckets: u32,
    #[serde(default = "AdaptiveSpec::k")]
    k: f64,
    #[serde(default = "AdaptiveSpec::min_requests")]
    min_requests: u32,
    #[serde(default = "AdaptiveSpec::max_reject_percent")]
    max_reject_percent: u32,
}

impl AdaptiveSpec {
    const DEFAULT: AdaptiveThrottle = AdaptiveThrottle::new(Duration::from_secs(1));

    fn buckets() -> u32 {
        Self::DEFAULT.buckets()
    }
    fn k() -> f64 {
        Self::DEFAULT.k()
    }
    fn min_requests() -> u32 {
        Self::DEFAULT.min_requests()
    }
    fn max_reject_percent() -> u32 {
        Self::DEFAULT.max_reject_percent()
    }
}

impl<'de> serde::de::Visitor<'de> for TripRuleVisitor {
    type Value = TripRule;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a table naming exactly one rule: consecutive_failures, failure_rate, count_window, time_window or adaptive",
        )
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<TripRule, A::Error> {
        use serde::de::Error;
        let Some(key) = map.next_key::<String>()? else {
            return Err(A::Error::custom(
                "a trip section names exactly one rule (consecutive_failures, failure_rate, count_window, time_window or adaptive); it names none",
            ));
        };
        let rule = match key.as_str() {
            "consecutive_failures" => TripRule::ConsecutiveFailures(map.next_value()?),
            "failure_rate" => {
                let r: FailureRateSpec = map.next_value()?;
                TripRule::FailureRate {
                    failure_rate_percent: percent_field(
                        r.failure_rate_percent,
                        r.ratio.as_ref(),
                        "ratio",
                        "failure_rate_percent",
                    )?,
                    min_requests: r.min_requests,
                }
            }
            "count_window" => {
                let w: CountWindowSpec = map.next_value()?;
                TripRule::CountWindow {
                    size: w.size,
                    min_calls: w.min_calls,
                    failure_rate_percent: percent_field(
                        w.failure_rate_percent,
                        w.failure_rate.as_ref(),
                        "failure_rate",
                        "failure_rate_percent",
                    )?,
                }
            }
            "time_window" => {
                let w: TimeWindowSpec = map.next_value()?;
                TripRule::TimeWindow {
                    length: w.length,
                    buckets: w.buckets,
                    min_calls: w.min_calls,
                    failure_rate_percent: percent_field(
                        w.failure_rate_percent,
                        w.failure_rate.as_ref(),
                        "failure_rate",
                        "failure_rate_percent",
                    )?,
                }
            }
            "adaptive" => {
                let a: AdaptiveSpec = map.next_value()?;
                TripRule::Adaptive {
                    window: a.window,
                    buckets: a.buckets,
                    k: a.k,
                    min_requests: a.min_requests,
                    max_reject_percent: a.max_reject_percent,
                }
            }
            other => return Err(A::Error::unknown_variant(&bounded(other), TRIP_RULES)),
        };
        if let Some(second) = map.next_key::<String>()? {
            return Err(A::Error::custom(format!(
                "a trip section names exactly one rule; this one names `{}` and `{}` (keep one)",
                bounded(&key),
                bounded(&second)
            )));
        }
        Ok(rule)
    }
}

/// The range of a rate that must be positive.
const RATE_ALLOWED: &str = "1..=100 (whole percent)";

fn check_rate(scope: &str, field: &str, percent: u32) -> Result<(), ConfigError> {
    if (1..=100).contains(&percent) {
        Ok(())
    } else {
        Err(ConfigError::out_of_range(
            scope,
            field,
            percent,
            RATE_ALLOWED,
        ))
    }
}

/// Whether `failures` are at least `percent` % of `calls` (exact, in integers).
fn at_least_percent(failures: u32, calls: u32, percent: u32) -> bool {
    u64::from(failures) * 100 >= u64::from(percent) * u64::from(calls)
}

impl TripRule {
    /// A rule from a closure.
    ///
    /// ```
    /// let rule = warden_kit::TripRule::custom(|c| c.total_failures >= 3);
    /// assert!(rule.should_trip(&warden_kit::Counts { total_failures: 3, ..Default::default() }));
    /// ```
    pub fn custom(f: impl Fn(&Counts) -> bool + Send + Sync + 'static) -> Self {
        TripRule::Custom(Arc::new(f))
    }

    /// Whether a closed breaker with `counts` opens under this rule.
    ///
    /// The window rules are judged by the core over its window, which
    /// [`Counts`] does not hold; here they take the counts as the window's
    /// contents (calls = `total_successes + total_failures`), which is what
    /// the core sees while the generation has no more calls than the window
    /// and none has aged out.
    ///
    /// ```
    /// use warden_kit::{Counts, TripRule};
    /// let rule = TripRule::ConsecutiveFailures(2);
    /// assert!(rule.should_trip(&Counts { consecutive_failures: 2, ..Default::default() }));
    /// let rule = TripRule::CountWindow { size: 10, min_calls: 4, failure_rate_percent: 50 };
    /// assert!(rule.should_trip(&Counts { total_successes: 2, total_failures: 2, ..Default::default() }));
    /// ```
    pub fn should_trip(&self, counts: &Counts) -> bool {
        match self {
            TripRule::ConsecutiveFailures(n) => counts.consecutive_failures >= *n,
            TripRule::FailureRate {
                failure_rate_percent,
                min_requests,
            } => {
                counts.requests >= *min_requests
                    && counts.requests > 0
                    && at_least_percent(
                        counts.total_failures,
                        counts.requests,
                        *failure_rate_percent,
                    )
            }
            TripRule::CountWindow {
                min_calls,
                failure_rate_percent,
                ..
            }
            | TripRule::TimeWindow {
                min_calls,
                failure_rate_percent,
                ..
            } => {
                let calls = counts.total_successes.saturating_add(counts.total_failures);
                calls >= *min_calls
                    && calls > 0
                    && at_least_percent(counts.total_failures, calls, *failure_rate_percent)
            }
            TripRule::Adaptive { .. } => false,
            TripRule::Custom(f) => f(counts),
        }
    }

    /// Sets this rule on a core builder (the core checks the windows' ranges).
    fn apply(&self, builder: Builder) -> Builder {
        match *self {
            TripRule::CountWindow {
                size,
                min_calls,
                failure_rate_percent,
            } => builder.count_window(
                CountWindow::new(size)
                    .with_min_calls(min_calls)
                    .with_failure_rate_percent(failure_rate_percent),
            ),
            TripRule::TimeWindow {
                length,
                buckets,
                min_calls,
                failure_rate_percent,
            } => builder.time_window(
                TimeWindow::new(length)
                    .with_buckets(buckets)
                    .with_min_calls(min_calls)
                    .with_failure_rate_percent(failure_rate_percent),
            ),
            TripRule::Adaptive {
                window,
                buckets,
                k,
                min_requests,
                max_reject_percent,
            } => builder.adaptive_throttle(
                AdaptiveThrottle::new(window)
                    .with_buckets(buckets)
                    .with_k(k)
                    .with_min_requests(min_requests)
                    .with_max_reject_percent(max_reject_percent),
            ),
            _ => {
                let trip = self.clone();
                builder.ready_to_trip(move |c| trip.should_trip(c))
            }
        }
    }

    /// The checks the core cannot make (the gobreaker-style rate); the core
    /// checks the windows.
    fn validate(&self, scope: &str) -> Result<(), ConfigError> {
        match self {
            TripRule::ConsecutiveFailures(0) => Err(ConfigError::out_of_range(
                scope,
                "trip.consecutive_failures",
                0,
                "1..=4294967295",
            )),
            TripRule::FailureRate {
                failure_rate_percent,
                ..
            } if !(1..=100).contains(failure_rate_percent) => Err(ConfigError::out_of_range(
                scope,
                "trip.failure_rate.failure_rate_percent",
                failure_rate_percent,
                RATE_ALLOWED,
            )),
            TripRule::FailureRate {
                min_requests: 0, ..
            } => Err(ConfigError::out_of_range(
                scope,
                "trip.failure_rate.min_requests",
                0,
                "1..=4294967295",
            )),
            _ => Ok(()),
        }
    }
}

impl fmt::Debug for TripRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TripRule::ConsecutiveFailures(n) => {
                f.debug_tuple("ConsecutiveFailures").field(n).finish()
            }
            TripRule::FailureRate {
                failure_rate_percent,
                min_requests,
            } => f
                .debug_struct("FailureRate")
                .field("failure_rate_percent", failure_rate_percent)
                .field("min_requests", min_requests)
                .finish(),
            TripRule::CountWindow {
                size,
                min_calls,
                failure_rate_percent,
            } => f
                .debug_struct("CountWindow")
                .field("size", size)
                .field("min_calls", min_calls)
                .field("failure_rate_percent", failure_rate_percent)
                .finish(),
            TripRule::TimeWindow {
                length,
                buckets,
                min_calls,
                failure_rate_percent,
            } => f
                .debug_struct("TimeWindow")
                .field("length", length)
                .field("buckets", buckets)
                .field("min_calls", min_calls)
                .field("failure_rate_percent", failure_rate_percent)
                .finish(),
            TripRule::Adaptive {
                window,
                buckets,
                k,
                min_requests,
                max_reject_percent,
            } => f
                .debug_struct("Adaptive")
                .field("window", window)
                .field("buckets", buckets)
                .field("k", k)
                .field("min_requests", min_requests)
                .field("max_reject_percent", max_reject_percent)
                .finish(),
            TripRule::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

impl PartialEq for TripRule {
    /// Custom rules are equal only to clones of themselves.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (TripRule::ConsecutiveFailures(a), TripRule::ConsecutiveFailures(b)) => a == b,
            (
                TripRule::FailureRate {
                    failure_rate_percent: a,
                    min_requests: m,
                },
                TripRule::FailureRate {
                    failure_rate_percent: b,
                    min_requests: n,
                },
            ) => a == b && m == n,
            (
                TripRule::CountWindow {
                    size: s1,
                    min_calls: m1,
                    failure_rate_percent: r1,
                },
                TripRule::CountWindow {
                    size: s2,
                    min_calls: m2,
                    failure_rate_percent: r2,
                },
            ) => s1 == s2 && m1 == m2 && r1 == r2,
            (
                TripRule::TimeWindow {
                    length: l1,
                    buckets: b1,
                    min_calls: m1,
                    failure_rate_percent: r1,
                },
                TripRule::TimeWindow {
                    length: l2,
                    buckets: b2,
                    min_calls: m2,
                    failure_rate_percent: r2,
                },
            ) => l1 == l2 && b1 == b2 && m1 == m2 && r1 == r2,
            (
                TripRule::Adaptive {
                    window: w1,
                    buckets: b1,
                    k: k1,
                    min_requests: m1,
                    max_reject_percent: r1,
                },
                TripRule::Adaptive {
                    window: w2,
                    buckets: b2,
                    k: k2,
                    min_requests: m2,
                    max_reject_percent: r2,
                },
            ) => w1 == w2 && b1 == b2 && k1 == k2 && m1 == m2 && r1 == r2,
            (TripRule::Custom(a), TripRule::Custom(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// The slow-call rule of a [`BreakerConfig`] (set with
/// [`BreakerConfig::slow_calls`]): the core's
/// [`SlowCalls`](warden_breaker::SlowCalls).
///
/// A call admitted in the closed state is slow when its outcome comes
/// `threshold` or more after its admission (on the breaker's clock, the
/// registry's). The breaker opens when, after a slow outcome, the window holds
/// at least `min_calls` calls and at least `rate_percent` % of them were slow. The
/// window is the trip rule's [`CountWindow`](TripRule::CountWindow) or
/// [`TimeWindow`](TripRule::TimeWindow) if it is one, otherwise every call of
/// the closed generation (since the last state change or `interval` reset).
/// It combines with any trip rule. Use it for a dependency that slows down
/// before it fails (a database with a full connection pool): the breaker opens
/// while calls still succeed.
///
/// In files: `slow_calls = { threshold = "2s", rate_percent = 50, min_calls = 20 }`.
///
/// ```
/// use std::time::Duration;
/// let c = warden_kit::BreakerConfig::default().with_slow_calls(Duration::from_secs(2), 50, 20);
/// let slow = c.slow_calls().unwrap();
/// assert_eq!((slow.threshold, slow.rate_percent, slow.min_calls), (Duration::from_secs(2), 50, 20));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(try_from = "SlowCallsSpec")]
#[non_exhaustive]
pub struct SlowCallsConfig {
    /// From this duration on a call is slow (`> 0`, at most 2^39 ms; any
    /// precision). In files, a duration like `timeout`.
    pub threshold: Duration,
    /// Rate of slow calls that trips, whole percent in `1..=100`, as
    /// [`TripRule`]'s rates.
    pub rate_percent: u32,
    /// Calls the window must hold before the rate is looked at (`>= 1`).
    pub min_calls: u32,
}

/// A `slow_calls` section as written, with the old share field to refuse.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlowCallsSpec {
    #[serde(deserialize_with = "duration::required")]
    threshold: Duration,
    rate_percent: Option<u32>,
    min_calls: u32,
    rate: Option<serde::de::IgnoredAny>,
}

impl TryFrom<SlowCallsSpec> for SlowCallsConfig {
    type Error = String;

    fn try_from(s: SlowCallsSpec) -> Result<Self, String> {
        let rate_percent = match (s.rate_percent, s.rate) {
            (_, Some(_)) => {
                return Err("`rate` (a share such as 0.5) was replaced by `rate_percent`, a whole percent (50)".into());
            }
            (Some(p), None) => p,
            (None, None) => return Err("missing field `rate_percent`".into()),
        };
        Ok(SlowCallsConfig {
            threshold: s.threshold,
            rate_percent,
            min_calls: s.min_calls,
        })
    }
}

/// Exponential growth of the open duration of a [`BreakerConfig`] (set with
/// [`BreakerConfig::open_backoff`]): the core's
/// [`OpenBackoff`](warden_breaker::OpenBackoff).
///
/// The *k*-th consecutive re-trip (a failed half-open probe; *k* goes back to
/// 0 when the breaker closes) stays open `timeout × multiplier^k`, at most
/// `max`; a trip from closed stays open `timeout`. Each open duration is then
/// shortened by a pseudo-random share of up to `jitter_percent` %, seeded per breaker,
/// so a fleet does not probe in step. Use it for a dependency that takes a
/// variable time to recover: failed probes back off instead of hitting it
/// every `timeout`.
///
/// In files: `open_backoff = { multiplier = 2, max = "5m", jitter_percent = 10 }`
/// (`jitter_percent` optional, default 0).
///
/// ```
/// use std::time::Duration;
/// let c = warden_kit::BreakerConfig::default().with_open_backoff(2, Duration::from_secs(300), 10);
/// let b = c.open_backoff().unwrap();
/// assert_eq!((b.multiplier, b.max, b.jitter_percent), (2, Duration::from_secs(300), 10));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(try_from = "OpenBackoffSpec")]
#[non_exhaustive]
pub struct OpenBackoffConfig {
    /// Growth factor per consecutive re-trip (`>= 1`; 1 keeps the timeout).
    pub multiplier: u32,
    /// The longest open duration: whole milliseconds, at least the `timeout`
    /// (60 s if that is zero), at most 2^39 ms. In files, a duration.
    pub max: Duration,
    /// Largest share cut from each open duration, whole percent in
    /// `0..=100`; 0 for none.
    pub jitter_percent: u32,
}

/// An `open_backoff` section as written, with the old share field to refuse.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenBackoffSpec {
    multiplier: u32,
    #[serde(deserialize_with = "duration::required")]
    max: Duration,
    #[serde(default)]
    jitter_percent: u32,
    jitter: Option<serde::de::IgnoredAny>,
}

impl TryFrom<OpenBackoffSpec> for OpenBackoffConfig {
    type Error = &'static str;

    fn try_from(s: OpenBackoffSpec) -> Result<Self, &'static str> {
        if s.jitter.is_some() {
            return Err(
                "`jitter` (a share such as 0.1) was replaced by `jitter_percent`, a whole percent (10)",
            );
        }
        Ok(OpenBackoffConfig {
            multiplier: s.multiplier,
            max: s.max,
            jitter_percent: s.jitter_percent,
        })
    }
}

/// How one named breaker behaves in a [`Registry`](crate::Registry): the
/// breaker's settings (gobreaker's), its trip rule, a bulkhead and a default
/// per-call timeout.
///
/// Start from a preset and adjust:
///
/// ```
/// use std::time::Duration;
/// use warden_kit::BreakerConfig;
/// let config = BreakerConfig::kafka().with_timeout(Duration::from_secs(10));
/// assert_eq!(config.timeout(), Duration::from_secs(10));
/// assert_eq!(config.max_requests(), 5);
/// ```
///
/// | preset | trip rule | interval | open `timeout` | `max_requests` | `max_concurrent` | `call_timeout` |
/// | --- | --- | --- | --- | --- | --- | --- |
/// | [`default`](BreakerConfig::default) | 6 consecutive failures | never | 60 s | 1 | unlimited | none |
/// | [`kafka`](BreakerConfig::kafka) | ≥ 50 % of ≥ 20 calls | 60 s | 30 s | 5 | unlimited | 5 s |
/// | [`clickhouse`](BreakerConfig::clickhouse) | 5 consecutive failures | never | 60 s | 1 | 8 | 30 s |
/// | [`notification`](BreakerConfig::notification) | 3 consecutive failures | never | 15 s | 2 | 32 | 3 s |
/// | [`http`](BreakerConfig::http) | ≥ 50 % of the last 100 calls (≥ 20) | never | 30 s | 3 | 64 | 10 s |
///
/// No preset sets the core's other policies; add them to any preset:
///
/// | policy | set with | in files |
/// | --- | --- | --- |
/// | failure rate over the last N calls | [`trip`](Self::trip)`(`[`TripRule::CountWindow`]`)` | `trip = { count_window = { size = 100, min_calls = 20, failure_rate_percent = 50 } }` |
/// | failure rate over the last span of time | [`trip`](Self::trip)`(`[`TripRule::TimeWindow`]`)` | `trip = { time_window = { length = "10s", buckets = 10, min_calls = 20, failure_rate_percent = 50 } }` |
/// | slow calls | [`slow_calls`](Self::slow_calls) | `slow_calls = { threshold = "2s", rate_percent = 50, min_calls = 20 }` |
/// | growing open durations | [`open_backoff`](Self::open_backoff) | `open_backoff = { multiplier = 2, max = "5m", jitter_percent = 10 }` |
/// | bounded half-open state | [`half_open_max_wait`](Self::half_open_max_wait) | `half_open_max_wait = "30s"` |
///
/// ```
/// use std::time::Duration;
/// use warden_kit::{BreakerConfig, TripRule};
/// let config = BreakerConfig::clickhouse()
///     .with_trip(TripRule::CountWindow { size: 50, min_calls: 10, failure_rate_percent: 50 })
///     .with_slow_calls(Duration::from_secs(10), 80, 10)
///     .with_open_backoff(2, Duration::from_secs(600), 10)
///     .with_half_open_max_wait(Duration::from_secs(120));
/// config.validate("breakers.clickhouse")?;
/// # Ok::<(), warden_kit::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct BreakerConfig {
    max_requests: u32,
    interval: Duration,
    timeout: Duration,
    trip: TripRule,
    max_concurrent: u32,
    call_timeout: Option<Duration>,
    slow_calls: Option<SlowCallsConfig>,
    open_backoff: Option<OpenBackoffConfig>,
    half_open_max_wait: Duration,
}

impl Default for BreakerConfig {
    /// gobreaker's defaults, so a port from the Go `resilience` packages behaves the same:
    /// `max_requests` 1, no counting interval, 60 s open, trip after more than
    /// 5 consecutive failures (`ConsecutiveFailures(6)`); no bulkhead and no
    /// call timeout (nothing a gobreaker user had).
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = warden_kit::BreakerConfig::default();
    /// assert_eq!(c.timeout(), Duration::from_secs(60));
    /// assert_eq!(c.trip(), &warden_kit::TripRule::ConsecutiveFailures(6));
    /// ```
    fn default() -> Self {
        Self {
            max_requests: 1,
            interval: Duration::ZERO,
            timeout: warden_breaker::DEFAULT_TIMEOUT,
            trip: TripRule::ConsecutiveFailures(warden_breaker::DEFAULT_CONSECUTIVE_FAILURES + 1),
            max_concurrent: 0,
            call_timeout: None,
            slow_calls: None,
            open_backoff: None,
            half_open_max_wait: Duration::ZERO,
        }
    }
}

impl BreakerConfig {
    /// For a Kafka producer (the Go `resilience` package's `NewKafkaCircuitBreaker`).
    ///
    /// * **Trips on a failure rate, ≥ 50 % of at least 20 calls, counted per
    ///   60 s interval**: producers send at high rates, and a partition leader
    ///   moving fails a few sends while the rest succeed; a rate rides that
    ///   out where a consecutive-failure rule would flap, and the 20-call floor
    ///   keeps a quiet minute from tripping on one or two errors.
    /// * **Open 30 s**: leader elections and broker restarts take seconds to
    ///   tens of seconds; 30 s is also the client's default request timeout.
    /// * **5 half-open probes, 5 successes to close**: sends go to different
    ///   partitions and brokers, so one success says little about the cluster.
    /// * **Call timeout 5 s**: a healthy produce takes milliseconds; a send
    ///   still waiting after 5 s counts as a failure long before the client's
    ///   own 30 s timeout. No bulkhead: the client already bounds in-flight
    ///   requests per broker.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = warden_kit::BreakerConfig::kafka();
    /// assert_eq!(c.trip(), &warden_kit::TripRule::FailureRate { failure_rate_percent: 50, min_requests: 20 });
    /// assert_eq!((c.interval(), c.timeout()), (Duration::from_secs(60), Duration::from_secs(30)));
    /// assert_eq!((c.max_requests(), c.max_concurrent()), (5, 0));
    /// assert_eq!(c.call_timeout(), Some(Duration::from_secs(5)));
    /// ```
    pub fn kafka() -> Self {
        Self {
            max_requests: 5,
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
            trip: TripRule::FailureRate {
                failure_rate_percent: 50,
                min_requests: 20,
            },
            max_concurrent: 0,
            call_timeout: Some(Duration::from_secs(5)),
            slow_calls: None,
            open_backoff: None,
            half_open_max_wait: Duration::ZERO,
        }
    }

    /// For ClickHouse queries and inserts (the Go `resilience` package's
    /// `NewClickHouseCircuitBreaker`).
    ///
    /// * **Trips at 5 consecutive failures**: queries are few and heavy, so a
    ///   rate over a minimum number of calls would take long to reach; five
    ///   failures in a row means the server keeps refusing.
    /// * **Open 60 s, one probe**: ClickHouse's transient errors are mostly
    ///   overload (too many parts while merges catch up, memory limits), which
    ///   clears in tens of seconds to minutes; probing sooner or with more
    ///   queries adds load to a struggling server.
    /// * **At most 8 concurrent queries** from this process: one client should
    ///   not use up the server's limit on simultaneous queries.
    /// * **Call timeout 30 s**: analytical queries legitimately take seconds.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = warden_kit::BreakerConfig::clickhouse();
    /// assert_eq!(c.trip(), &warden_kit::TripRule::ConsecutiveFailures(5));
    /// assert_eq!((c.timeout(), c.max_requests()), (Duration::from_secs(60), 1));
    /// assert_eq!(c.max_concurrent(), 8);
    /// assert_eq!(c.call_timeout(), Some(Duration::from_secs(30)));
    /// ```
    pub fn clickhouse() -> Self {
        Self {
            max_requests: 1,
            interval: Duration::ZERO,
            timeout: Duration::from_secs(60),
            trip: TripRule::ConsecutiveFailures(5),
            max_concurrent: 8,
            call_timeout: Some(Duration::from_secs(30)),
            slow_calls: None,
            open_backoff: None,
            half_open_max_wait: Duration::ZERO,
        }
    }

    /// For notification providers: e-mail, SMS, push (the Go `resilience` package's
    /// `NewNotificationCircuitBreaker`).
    ///
    /// * **Trips at 3 consecutive failures**: notifications are off the
    ///   request's critical path and can be queued, so stop calling a failing
    ///   provider early.
    /// * **Open 15 s, 2 probes**: provider outages are mostly rate limits and
    ///   short blips, and a notification delayed for long loses its value, so
    ///   probe again soon.
    /// * **At most 32 concurrent sends**: stay under the provider's rate limits
    ///   and keep a slow provider from tying up the service's tasks.
    /// * **Call timeout 3 s**: a provider slower than that is as good as down
    ///   for an interactive send; the fallback queues the message.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = warden_kit::BreakerConfig::notification();
    /// assert_eq!(c.trip(), &warden_kit::TripRule::ConsecutiveFailures(3));
    /// assert_eq!((c.timeout(), c.max_requests()), (Duration::from_secs(15), 2));
    /// assert_eq!((c.max_concurrent(), c.call_timeout()), (32, Some(Duration::from_secs(3))));
    /// ```
    pub fn notification() -> Self {
        Self {
            max_requests: 2,
            interval: Duration::ZERO,
            timeout: Duration::from_secs(15),
            trip: TripRule::ConsecutiveFailures(3),
            max_concurrent: 32,
            call_timeout: Some(Duration::from_secs(3)),
            slow_calls: None,
            open_backoff: None,
            half_open_max_wait: Duration::ZERO,
        }
    }

    /// For an HTTP peer: another service's API, called over HTTP (no Go
    /// counterpart; the settings follow the standard resilience pipeline of
    /// .NET's `Microsoft.Extensions.Http.Resilience` where it has one).
    ///
    /// * **Trips at ≥ 50 % failures of the last 100 calls, once at least 20
    ///   are in**: a service behind a load balancer fails part of its calls
    ///   when one instance of several is bad; a rate over a window rides that
    ///   out, the 20-call floor keeps a few errors at start-up from tripping.
    /// * **Open 30 s, 3 probes, 3 successes to close**: a restarting instance
    ///   or a deployment takes tens of seconds; three probes go to more than
    ///   one instance behind the balancer before the peer counts as healthy.
    /// * **At most 64 concurrent calls** from this process: a peer that slows
    ///   down otherwise collects this service's tasks and connections without
    ///   bound.
    /// * **Call timeout 10 s** per attempt (.NET's attempt timeout): an
    ///   interactive request has a budget of seconds, and a peer still silent
    ///   after 10 s counts as a failure.
    ///
    /// What counts as a failure is the call's `Err` (a refused connection, a
    /// reset, a timeout); count `5xx` responses too with a classifier
    /// (`warden_kit::tower::classify(HttpClassifier::new())`, feature `tower`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_kit::TripRule;
    /// let c = warden_kit::BreakerConfig::http();
    /// assert_eq!(c.trip(), &TripRule::CountWindow { size: 100, min_calls: 20, failure_rate_percent: 50 });
    /// assert_eq!((c.timeout(), c.max_requests()), (Duration::from_secs(30), 3));
    /// assert_eq!((c.max_concurrent(), c.call_timeout()), (64, Some(Duration::from_secs(10))));
    /// ```
    pub fn http() -> Self {
        Self::default()
            .with_trip(TripRule::CountWindow {
                size: 100,
                min_calls: 20,
                failure_rate_percent: 50,
            })
            .with_timeout(Duration::from_secs(30))
            .with_max_requests(3)
            .with_max_concurrent(64)
            .with_call_timeout(Some(Duration::from_secs(10)))
    }

    /// Half-open probe limit and successes needed to close (`0` means 1, as in
    /// gobreaker).
    ///
    /// ```
    /// assert_eq!(warden_kit::BreakerConfig::default().with_max_requests(3).max_requests(), 3);
    /// ```
    pub fn with_max_requests(mut self, max_requests: u32) -> Self {
        self.max_requests = max_requests;
        self
    }

    /// Closed-state counting interval (zero: counts are never cleared while
    /// closed). Whole milliseconds.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = warden_kit::BreakerConfig::default().with_interval(Duration::from_secs(10));
    /// assert_eq!(c.interval(), Duration::from_secs(10));
    /// ```
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// How long the breaker stays open (zero means 60 s, as in gobreaker).
    /// Whole milliseconds.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = warden_kit::BreakerConfig::default().with_timeout(Duration::from_secs(5));
    /// assert_eq!(c.timeout(), Duration::from_secs(5));
    /// ```
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The trip rule.
    ///
    /// ```
    /// use warden_kit::{BreakerConfig, TripRule};
    /// let c = BreakerConfig::default().with_trip(TripRule::ConsecutiveFailures(2));
    /// assert_eq!(c.trip(), &TripRule::ConsecutiveFailures(2));
    /// ```
    pub fn with_trip(mut self, trip: TripRule) -> Self {
        self.trip = trip;
        self
    }

    /// A custom trip rule (the Go `resilience` package's `ReadyToTrip`).
    ///
    /// ```
    /// let c = warden_kit::BreakerConfig::default()
    ///     .with_ready_to_trip(|c| c.requests >= 5 && c.total_failures * 2 >= c.requests);
    /// assert!(matches!(c.trip(), warden_kit::TripRule::Custom(_)));
    /// ```
    pub fn with_ready_to_trip(self, f: impl Fn(&Counts) -> bool + Send + Sync + 'static) -> Self {
        self.with_trip(TripRule::custom(f))
    }

    /// The bulkhead: at most this many calls of this name run at once; more
    /// are rejected at once. `0` means no limit: the name has no bulkhead
    /// (unlike a standalone [`Bulkhead::new(0)`](crate::Bulkhead::new), which
    /// has zero slots and refuses every call).
    ///
    /// ```
    /// assert_eq!(warden_kit::BreakerConfig::default().with_max_concurrent(4).max_concurrent(), 4);
    /// ```
    pub fn with_max_concurrent(mut self, max_concurrent: u32) -> Self {
        self.max_concurrent = max_concurrent;
        self
    }

    /// The timeout of each attempt of the name's pipelines (a pipeline's
    /// `with_timeout` replaces it); `None` for none. An attempt that times
    /// out counts as a failure: an async one is dropped at the deadline, a
    /// sync one runs to its end and its late result is discarded.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = warden_kit::BreakerConfig::default().with_call_timeout(Some(Duration::from_millis(250)));
    /// assert_eq!(c.call_timeout(), Some(Duration::from_millis(250)));
    /// ```
    pub fn with_call_timeout(mut self, call_timeout: Option<Duration>) -> Self {
        self.call_timeout = call_timeout;
        self
    }

    /// Also trips on slow calls (see [`SlowCallsConfig`]): calls taking
    /// `threshold` or more are slow, and the breaker opens when at least
    /// `min_calls` are in the window and a share of at least `rate` (a whole
    /// percent in `(0, 1]`) of them were slow.
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_kit::{BreakerConfig, ManualClock, Registry, State};
    /// let clock = ManualClock::new();
    /// let registry = Registry::builder()
    ///     .configure("db", BreakerConfig::default().with_slow_calls(Duration::from_secs(2), 50, 4))
    ///     .clock(clock.clone())
    ///     .build()?;
    /// let slow = || {
    ///     clock.advance(Duration::from_secs(3));
    ///     Ok::<_, ()>(())
    /// };
    /// for _ in 0..2 {
    ///     let _ = registry.pipeline("db")?.execute(|| Ok::<_, ()>(())); // fast
    /// }
    /// let _ = registry.pipeline("db")?.execute(slow); // 1 slow of 3: under the minimum
    /// let ex = registry.pipeline("db")?.execute(slow); // 2 slow of 4: 50 %
    /// assert!(ex.succeeded());
    /// assert_eq!(ex.state(), Some(State::Open));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_slow_calls(
        mut self,
        threshold: Duration,
        rate_percent: u32,
        min_calls: u32,
    ) -> Self {
        self.slow_calls = Some(SlowCallsConfig {
            threshold,
            rate_percent,
            min_calls,
        });
        self
    }

    /// Grows the open duration on consecutive re-trips (see
    /// [`OpenBackoffConfig`]): `timeout × multiplier^k` for the *k*-th failed
    /// probe in a row, at most `max`, minus a random share of up to
    /// `jitter_percent` % (`0..=100`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_kit::{BreakerConfig, ManualClock, Registry, State, TripRule};
    /// let clock = ManualClock::new();
    /// let config = BreakerConfig::default()
    ///     .with_trip(TripRule::ConsecutiveFailures(1))
    ///     .with_timeout(Duration::from_secs(1))
    ///     .with_open_backoff(2, Duration::from_secs(60), 0);
    /// let registry = Registry::builder().configure("db", config).clock(clock.clone()).build()?;
    /// let _ = registry.pipeline("db")?.execute(|| Err::<(), _>("down")); // open for 1 s
    /// clock.advance(Duration::from_millis(1001));
    /// let ex = registry.pipeline("db")?.execute(|| Err::<(), _>("down")); // the probe fails: open for 2 s
    /// assert_eq!(ex.state(), Some(State::Open));
    /// clock.advance(Duration::from_millis(2000));
    /// assert_eq!(registry.breaker("db")?.state(), State::Open);
    /// clock.advance(Duration::from_millis(1));
    /// assert_eq!(registry.breaker("db")?.state(), State::HalfOpen);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_open_backoff(
        mut self,
        multiplier: u32,
        max: Duration,
        jitter_percent: u32,
    ) -> Self {
        self.open_backoff = Some(OpenBackoffConfig {
            multiplier,
            max,
            jitter_percent,
        });
        self
    }

    /// The longest the breaker stays half-open (zero, the default: no limit,
    /// gobreaker's behaviour). When probes do not report within it (hung or
    /// leaked calls), the breaker **re-opens**, as if a probe had failed (a
    /// re-trip for [`open_backoff`](Self::open_backoff)). Whole milliseconds.
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_kit::{BreakerConfig, ManualClock, Registry, State, TripRule};
    /// let clock = ManualClock::new();
    /// let config = BreakerConfig::default()
    ///     .with_trip(TripRule::ConsecutiveFailures(1))
    ///     .with_timeout(Duration::from_secs(1))
    ///     .with_half_open_max_wait(Duration::from_secs(5));
    /// let registry = Registry::builder().configure("db", config).clock(clock.clone()).build()?;
    /// let db = registry.breaker("db")?;
    /// let _ = db.pipeline().execute(|| Err::<(), _>("down"));
    /// clock.advance(Duration::from_millis(1001));
    /// let hung = db.breaker().try_acquire().expect("the probe"); // never reports
    /// clock.advance(Duration::from_millis(5001));
    /// assert_eq!(db.state(), State::Open);
    /// # drop(hung);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_half_open_max_wait(mut self, max_wait: Duration) -> Self {
        self.half_open_max_wait = max_wait;
        self
    }

    /// The half-open probe limit as given (`0` means 1).
    ///
    /// ```
    /// assert_eq!(warden_kit::BreakerConfig::default().max_requests(), 1);
    /// ```
    pub fn max_requests(&self) -> u32 {
        self.max_requests
    }

    /// The counting interval.
    ///
    /// ```
    /// assert!(warden_kit::BreakerConfig::default().interval().is_zero());
    /// ```
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The open duration as given (zero means 60 s).
    ///
    /// ```
    /// assert_eq!(warden_kit::BreakerConfig::default().timeout().as_secs(), 60);
    /// ```
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The trip rule.
    ///
    /// ```
    /// assert!(matches!(warden_kit::BreakerConfig::default().trip(), warden_kit::TripRule::ConsecutiveFailures(6)));
    /// ```
    pub fn trip(&self) -> &TripRule {
        &self.trip
    }

    /// The bulkhead size (`0`: no limit).
    ///
    /// ```
    /// assert_eq!(warden_kit::BreakerConfig::default().max_concurrent(), 0);
    /// ```
    pub fn max_concurrent(&self) -> u32 {
        self.max_concurrent
    }

    /// The default async call timeout.
    ///
    /// ```
    /// assert_eq!(warden_kit::BreakerConfig::default().call_timeout(), None);
    /// ```
    pub fn call_timeout(&self) -> Option<Duration> {
        self.call_timeout
    }

    /// The slow-call rule, if any.
    ///
    /// ```
    /// assert_eq!(warden_kit::BreakerConfig::default().slow_calls(), None);
    /// ```
    pub fn slow_calls(&self) -> Option<SlowCallsConfig> {
        self.slow_calls
    }

    /// The open-duration backoff, if any.
    ///
    /// ```
    /// assert_eq!(warden_kit::BreakerConfig::default().open_backoff(), None);
    /// ```
    pub fn open_backoff(&self) -> Option<OpenBackoffConfig> {
        self.open_backoff
    }

    /// The longest half-open state (zero: no limit).
    ///
    /// ```
    /// assert!(warden_kit::BreakerConfig::default().half_open_max_wait().is_zero());
    /// ```
    pub fn half_open_max_wait(&self) -> Duration {
        self.half_open_max_wait
    }

    /// A core breaker builder named `name` with these settings (the bulkhead
    /// and call timeout are the registry's business, not the breaker's).
    ///
    /// ```
    /// let cb = warden_kit::BreakerConfig::clickhouse().builder("clickhouse").build()?;
    /// assert_eq!(cb.settings().timeout().as_secs(), 60);
    /// # Ok::<(), warden_kit::breaker::ConfigError>(())
    /// ```
    pub fn builder(&self, name: &str) -> Builder {
        let mut builder = CircuitBreaker::builder(name)
            .max_requests(self.max_requests)
            .interval(self.interval)
            .timeout(self.timeout)
            .half_open_max_wait(self.half_open_max_wait);
        builder = self.trip.apply(builder);
        // Rates are whole percent here as in the core, which checks their ranges.
        if let Some(s) = self.slow_calls {
            builder = builder.slow_calls(
                SlowCalls::new(s.threshold)
                    .with_slow_rate_percent(s.rate_percent)
                    .with_min_calls(s.min_calls),
            );
        }
        if let Some(b) = self.open_backoff {
            builder = builder.open_backoff(
                OpenBackoff::exponential(b.multiplier, b.max).jitter(b.jitter_percent),
            );
        }
        builder
    }

    /// Checks every setting; errors name the field, prefixed by `scope` (the
    /// registry uses `default` or `breakers.<name>`).
    ///
    /// # Errors
    ///
    /// The first invalid setting.
    ///
    /// ```
    /// use std::time::Duration;
    /// let bad = warden_kit::BreakerConfig::default().with_timeout(Duration::from_micros(1500));
    /// let err = bad.validate("breakers.kafka").unwrap_err();
    /// assert_eq!(err.path(), "breakers.kafka.timeout");
    /// ```
    pub fn validate(&self, scope: &str) -> Result<(), ConfigError> {
        self.trip.validate(scope)?;
        if let Some(s) = self.slow_calls {
            check_rate(scope, "slow_calls.rate_percent", s.rate_percent)?;
        }
        if let Some(b) = self.open_backoff
            && b.jitter_percent > 100
        {
            return Err(ConfigError::out_of_range(
                scope,
                "open_backoff.jitter_percent",
                b.jitter_percent,
                "0..=100 (whole percent)",
            ));
        }
        // The core checks ranges and whole milliseconds; its error names the field.
        self.builder(scope)
            .settings()
            .map_err(|error| ConfigError::Breaker {
                scope: scope.to_owned(),
                error,
            })?;
        if self.call_timeout.is_some_and(|t| t.is_zero()) {
            return Err(ConfigError::out_of_range(
                scope,
                "call_timeout",
                "0s",
                "greater than zero (use none for no timeout)",
            ));
        }
        Ok(())
    }
}

/// Why a configuration was refused. Every variant names the field, as a dotted
/// path from the top of the file (`breakers.kafka.timeout`).
///
/// ```
/// let err = warden_kit::RegistryConfig::from_toml_str("[breakers.kafka]\nmax_requests = -1\n").unwrap_err();
/// assert_eq!(err.path(), "breakers.kafka.max_requests");
/// ```
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file is not valid TOML/JSON, or a value has the wrong type or an
    /// unknown name.
    #[error("{format} config: {}{message}", at(path))]
    Parse {
        /// `"toml"` or `"json"`.
        format: &'static str,
        /// Where the parser stopped (empty at the top level).
        path: String,
        /// The parser's message.
        message: String,
    },
    /// A breaker setting the core refused (out of range, not whole
    /// milliseconds). [`path`](Self::path) and the message name the field
    /// where it is written (`breakers.db.trip.count_window.size`), the source
    /// names it as the core does (`count_window.size`). The message includes
    /// the core's, so the core error is a field, not a `source()`: walking the
    /// chain prints each message once.
    #[error("{}: {error}", breaker_path(scope, error))]
    Breaker {
        /// `default` or `breakers.<name>`.
        scope: String,
        /// The core's error, which names the setting.
        error: warden_breaker::ConfigError,
    },
    /// Any other value outside its allowed range.
    #[error("invalid {path}: {value} is outside the allowed range {allowed}")]
    OutOfRange {
        /// The field.
        path: String,
        /// The value given.
        value: String,
        /// What is allowed.
        allowed: &'static str,
    },
}

/// Where the core's `field` is written in a [`BreakerConfig`] or a file.
fn facade_field(field: &str) -> Cow<'_, str> {
    match field {
        "slow_calls.slow_rate_percent" => "slow_calls.rate_percent".into(),
        "adaptive" => "trip.adaptive".into(),
        f if f.starts_with("count_window.")
            || f.starts_with("time_window.")
            || f.starts_with("adaptive.") =>
        {
            format!("trip.{f}").into()
        }
        f => f.into(),
    }
}

/// The dotted path of a core error's field under `scope` (the scope alone for
/// errors without one).
fn breaker_path(scope: &str, source: &warden_breaker::ConfigError) -> String {
    match source {
        warden_breaker::ConfigError::OutOfRange { field, .. }
        | warden_breaker::ConfigError::NotWholeMillis { field, .. }
        | warden_breaker::ConfigError::Conflict { field, .. } => {
            format!("{scope}.{}", facade_field(field))
        }
        _ => scope.to_owned(),
    }
}

fn at(path: &str) -> String {
    if path.is_empty() || path == "." {
        String::new()
    } else {
        format!("{path}: ")
    }
}

impl ConfigError {
    fn out_of_range(
        scope: &str,
        field: &str,
        value: impl fmt::Display,
        allowed: &'static str,
    ) -> Self {
        ConfigError::OutOfRange {
            path: bounded_path(&format!("{scope}.{field}")),
            value: bounded(&value.to_string()),
            allowed,
        }
    }

    /// The dotted path of the offending field (empty when a file could not be
    /// parsed at all).
    ///
    /// ```
    /// let err = warden_kit::RegistryConfig::from_json_str(r#"{"default": {"trip": {"consecutive_failures": 0}}}"#)
    ///     .unwrap_err();
    /// assert_eq!(err.path(), "default.trip.consecutive_failures");
    /// ```
    pub fn path(&self) -> String {
        match self {
            ConfigError::Parse { path, .. } if path == "." => String::new(),
            ConfigError::Parse { path, .. } | ConfigError::OutOfRange { path, .. } => path.clone(),
            ConfigError::Breaker { scope, error } => breaker_path(scope, error),
        }
    }
}

/// A registry's configuration as written in a file: a `default` section for
/// names without their own, and a `breakers` table keyed by name. Every
/// section may start from a `preset` and override any field.
///
/// Durations are integers of milliseconds or strings with units
/// (`"1500ms"`, `"30s"`, `"1m 30s"`, humantime's syntax). For
/// `max_concurrent` and `call_timeout`, `0` means none (no bulkhead, no
/// timeout); for `max_requests`, `0` means 1 and for `timeout`, `0` means
/// 60 s (gobreaker's zero values); for `half_open_max_wait`, `0` means no
/// limit. Rates are whole percent (`failure_rate_percent = 50`,
/// `rate_percent`, `jitter_percent`), as in the core; the old share fields
/// (`ratio`, `failure_rate`, `rate`, `jitter` = `0.5`) are errors that name
/// their replacement, see [`TripRule`]. Unknown fields are errors.
///
/// The core's policies, each table's fields as in [`TripRule`],
/// [`SlowCallsConfig`] and [`OpenBackoffConfig`]:
///
/// ```toml
/// trip = { count_window = { size = 100, min_calls = 20, failure_rate_percent = 50 } }
/// trip = { time_window = { length = "10s", buckets = 10, min_calls = 20, failure_rate_percent = 50 } }
/// trip = { adaptive = { window = "30s", buckets = 10, k = 2.0, min_requests = 10, max_reject_percent = 90 } }
/// slow_calls = { threshold = "2s", rate_percent = 50, min_calls = 20 }
/// open_backoff = { multiplier = 2, max = "5m", jitter_percent = 10 }   # jitter optional
/// half_open_max_wait = "30s"
/// ```
///
/// A section inherits `slow_calls`, `open_backoff` and `half_open_max_wait`
/// from its base like every other field; a file cannot switch an inherited
/// policy off (start that section from a `preset` instead).
///
/// ```
/// let config = warden_kit::RegistryConfig::from_toml_str(r#"
///     [default]
///     timeout = "20s"
///
///     [breakers.kafka]
///     preset = "kafka"
///     call_timeout = 2000          # ms
///
///     [breakers.search]
///     trip = { failure_rate = { failure_rate_percent = 25, min_requests = 50 } }
///     interval = "1m"
///     max_concurrent = 64
///
///     [breakers.db]
///     trip = { time_window = { length = "30s", buckets = 30, min_calls = 20, failure_rate_percent = 50 } }
///     slow_calls = { threshold = "2s", rate_percent = 80, min_calls = 20 }
///     open_backoff = { multiplier = 2, max = "10m" }
///     half_open_max_wait = "1m"
/// "#)?;
/// let (default, named) = config.resolve()?;
/// assert_eq!(default.timeout().as_secs(), 20);
/// assert_eq!(named["kafka"].max_requests(), 5); // from the preset
/// assert_eq!(named["kafka"].call_timeout().unwrap().as_millis(), 2000);
/// assert_eq!(named["search"].timeout().as_secs(), 20); // from [default]
/// assert_eq!(named["db"].slow_calls().unwrap().rate_percent, 80);
/// assert_eq!(named["db"].open_backoff().unwrap().jitter_percent, 0);
/// assert_eq!(named["db"].half_open_max_wait().as_secs(), 60);
///
/// let err = warden_kit::RegistryConfig::from_toml_str(
///     "[breakers.db]\nslow_calls = { threshold = \"2s\", rate_percent = 101, min_calls = 20 }\n",
/// )
/// .unwrap_err();
/// assert_eq!(err.path(), "breakers.db.slow_calls.rate_percent");
/// # Ok::<(), warden_kit::ConfigError>(())
/// ```
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RegistryConfig {
    /// Settings of names without a section of their own.
    #[serde(default)]
    pub default: Option<BreakerSpec>,
    /// Settings by breaker name.
    #[serde(default)]
    pub breakers: BTreeMap<String, BreakerSpec>,
}

/// One section of a [`RegistryConfig`]: every field optional.
///
/// ```
/// let spec = warden_kit::BreakerSpec::default();
/// assert!(spec.preset.is_none());
/// ```
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BreakerSpec {
    /// The preset to start from (`default`, `kafka`, `clickhouse`,
    /// `notification`, `http`). Without one, a named section starts from the file's
    /// `default` section, and that from [`BreakerConfig::default`].
    pub preset: Option<Preset>,
    /// See [`BreakerConfig::max_requests`].
    pub max_requests: Option<u32>,
    /// See [`BreakerConfig::interval`].
    #[serde(default, deserialize_with = "duration::option")]
    pub interval: Option<Duration>,
    /// See [`BreakerConfig::timeout`].
    #[serde(default, deserialize_with = "duration::option")]
    pub timeout: Option<Duration>,
    /// See [`TripRule`].
    pub trip: Option<TripRule>,
    /// See [`BreakerConfig::max_concurrent`] (`0`: no limit).
    pub max_concurrent: Option<u32>,
    /// See [`BreakerConfig::call_timeout`] (`0`: no timeout).
    #[serde(default, deserialize_with = "duration::option")]
    pub call_timeout: Option<Duration>,
    /// See [`BreakerConfig::slow_calls`]:
    /// `slow_calls = { threshold = "2s", rate_percent = 50, min_calls = 20 }`.
    pub slow_calls: Option<SlowCallsConfig>,
    /// See [`BreakerConfig::open_backoff`]:
    /// `open_backoff = { multiplier = 2, max = "5m", jitter_percent = 10 }`.
    pub open_backoff: Option<OpenBackoffConfig>,
    /// See [`BreakerConfig::half_open_max_wait`] (`0`: no limit).
    #[serde(default, deserialize_with = "duration::option")]
    pub half_open_max_wait: Option<Duration>,
}

/// The presets, as a file names them (`preset = "kafka"`): each is a
/// [`BreakerConfig`] and a retry for idempotent calls, and gives a ready
/// pipeline for a name ([`Preset::pipeline`], [`Preset::idempotent_pipeline`];
/// see [`presets`](crate::presets) for what each one sets and why).
///
/// ```
/// assert_eq!(warden_kit::Preset::Kafka.config(), warden_kit::BreakerConfig::kafka());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Preset {
    /// [`BreakerConfig::default`].
    Default,
    /// [`BreakerConfig::kafka`].
    Kafka,
    /// [`BreakerConfig::clickhouse`].
    Clickhouse,
    /// [`BreakerConfig::notification`].
    Notification,
    /// [`BreakerConfig::http`].
    Http,
}

impl Preset {
    /// The preset's settings.
    ///
    /// ```
    /// assert_eq!(warden_kit::Preset::Default.config(), warden_kit::BreakerConfig::default());
    /// ```
    pub fn config(self) -> BreakerConfig {
        match self {
            Preset::Default => BreakerConfig::default(),
            Preset::Kafka => BreakerConfig::kafka(),
            Preset::Clickhouse => BreakerConfig::clickhouse(),
            Preset::Notification => BreakerConfig::notification(),
            Preset::Http => BreakerConfig::http(),
        }
    }
}

impl BreakerSpec {
    /// This section applied on top of `base` (or of its preset), validated.
    ///
    /// # Errors
    ///
    /// The first invalid setting, named `scope.field`.
    ///
    /// ```
    /// let mut spec = warden_kit::BreakerSpec::default();
    /// spec.max_concurrent = Some(3);
    /// let config = spec.apply(&warden_kit::BreakerConfig::default(), "breakers.db")?;
    /// assert_eq!(config.max_concurrent(), 3);
    /// # Ok::<(), warden_kit::ConfigError>(())
    /// ```
    pub fn apply(&self, base: &BreakerConfig, scope: &str) -> Result<BreakerConfig, ConfigError> {
        let mut c = match self.preset {
            Some(p) => p.config(),
            None => base.clone(),
        };
        if let Some(v) = self.max_requests {
            c.max_requests = v;
        }
        if let Some(v) = self.interval {
            c.interval = v;
        }
        if let Some(v) = self.timeout {
            c.timeout = v;
        }
        if let Some(v) = &self.trip {
            c.trip = v.clone();
        }
        if let Some(v) = self.max_concurrent {
            c.max_concurrent = v;
        }
        if let Some(v) = self.call_timeout {
            c.call_timeout = (!v.is_zero()).then_some(v);
        }
        if let Some(v) = self.slow_calls {
            c.slow_calls = Some(v);
        }
        if let Some(v) = self.open_backoff {
            c.open_backoff = Some(v);
        }
        if let Some(v) = self.half_open_max_wait {
            c.half_open_max_wait = v;
        }
        c.validate(scope)?;
        Ok(c)
    }
}

impl RegistryConfig {
    /// Parses and validates a TOML document.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Parse`] (with the field's path) for syntax, type and
    /// unknown-field errors; the other variants for invalid values.
    ///
    /// ```
    /// let err = warden_kit::RegistryConfig::from_toml_str("[breakers.db]\ntimeout = \"soon\"\n").unwrap_err();
    /// assert_eq!(err.path(), "breakers.db.timeout");
    /// assert!(err.to_string().starts_with("toml config: breakers.db.timeout: "), "{err}");
    /// ```
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let parse_error = |path: String, e: toml::de::Error| ConfigError::Parse {
            format: "toml",
            path: bounded_path(&path),
            message: toml_message(text, &e),
        };
        let de = toml::Deserializer::parse(text).map_err(|e| parse_error(String::new(), e))?;
        let config: Self = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            parse_error(path, e.into_inner())
        })?;
        config.resolve()?;
        Ok(config)
    }

    /// Parses and validates a JSON document.
    ///
    /// # Errors
    ///
    /// As [`from_toml_str`](Self::from_toml_str).
    ///
    /// ```
    /// let config = warden_kit::RegistryConfig::from_json_str(
    ///     r#"{"breakers": {"sms": {"preset": "notification", "timeout": "5s"}}}"#,
    /// )?;
    /// assert_eq!(config.resolve()?.1["sms"].timeout().as_secs(), 5);
    /// # Ok::<(), warden_kit::ConfigError>(())
    /// ```
    pub fn from_json_str(text: &str) -> Result<Self, ConfigError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let config: Self = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            ConfigError::Parse {
                format: "json",
                path: bounded_path(&path),
                message: bounded_message(&e.into_inner().to_string()),
            }
        })?;
        de.end().map_err(|e| ConfigError::Parse {
            format: "json",
            path: String::new(),
            message: bounded_message(&e.to_string()),
        })?;
        config.resolve()?;
        Ok(config)
    }

    /// The validated default configuration and the per-name ones.
    ///
    /// # Errors
    ///
    /// The first invalid setting.
    ///
    /// ```
    /// let (default, named) = warden_kit::RegistryConfig::default().resolve()?;
    /// assert_eq!(default, warden_kit::BreakerConfig::default());
    /// assert!(named.is_empty());
    /// # Ok::<(), warden_kit::ConfigError>(())
    /// ```
    pub fn resolve(&self) -> Result<(BreakerConfig, BTreeMap<String, BreakerConfig>), ConfigError> {
        let default = match &self.default {
            Some(spec) => spec.apply(&BreakerConfig::default(), "default")?,
            None => BreakerConfig::default(),
        };
        let mut named = BTreeMap::new();
        for (name, spec) in &self.breakers {
            let config = spec.apply(&default, &format!("breakers.{}", bounded(name)))?;
            named.insert(name.clone(), config);
        }
        Ok((default, named))
    }
}

/// toml's message, with the line it points at (its `Display` is a multi-line
/// snippet).
/// A parser's message with every quoted piece of input (in `"` or backticks,
/// as serde quotes values and keys) cut to its first 64 bytes, and the whole
/// message to 1 KiB at most, so a huge value or key does not make a huge error.
fn bounded_message(message: &str) -> String {
    const MAX: usize = 1024;
    let mut out = String::with_capacity(message.len().min(MAX + 64));
    let mut rest = message;
    while let Some(open) = rest.find(['"', '`']) {
        let quote = if rest[open..].starts_with('"') {
            '"'
        } else {
            '`'
        };
        out.push_str(&rest[..=open]);
        let after = &rest[open + 1..];
        let close = after.find(quote).unwrap_or(after.len());
        out.push_str(&bounded(&after[..close]));
        rest = &after[close..];
        if let Some(stripped) = rest.strip_prefix(quote) {
            out.push(quote);
            rest = stripped;
        }
    }
    out.push_str(rest);
    if out.len() > MAX {
        out = bounded_to(&out, MAX);
    }
    out
}

/// A dotted path with each segment cut to its first 64 bytes.
fn bounded_path(path: &str) -> String {
    if path.len() <= QUOTE_MAX {
        return path.to_owned();
    }
    path.split('.').map(bounded).collect::<Vec<_>>().join(".")
}

/// `s` cut to `max` bytes on a character boundary, its length said after it.
fn bounded_to(s: &str, max: usize) -> String {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &s[..end], s.len())
}

fn toml_message(text: &str, e: &toml::de::Error) -> String {
    let message = bounded_message(e.message().trim_end());
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("{message} (line {line})")
        }
        None => message,
    }
}

/// Durations in files: integer milliseconds, or a string with units.
mod duration {
    use std::fmt;
    use std::time::Duration;

    use serde::de::{self, Deserializer, Visitor};

    struct DurationVisitor;

    impl Visitor<'_> for DurationVisitor {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(
                "a duration: integer milliseconds or a string with units such as \"250ms\", \"30s\", \"1m 30s\"",
            )
        }

        fn visit_u64<E: de::Error>(self, ms: u64) -> Result<Duration, E> {
            Ok(Duration::from_millis(ms))
        }

        fn visit_i64<E: de::Error>(self, ms: i64) -> Result<Duration, E> {
            u64::try_from(ms)
                .map(Duration::from_millis)
                .map_err(|_| E::invalid_value(de::Unexpected::Signed(ms), &self))
        }

        fn visit_str<E: de::Error>(self, s: &str) -> Result<Duration, E> {
            humantime::parse_duration(s)
                .map_err(|e| E::custom(format!("invalid duration {s:?}: {e}")))
        }
    }

    struct OptionVisitor;

    impl<'de> Visitor<'de> for OptionVisitor {
        type Value = Option<Duration>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            DurationVisitor.expecting(f)
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(DurationVisitor).map(Some)
        }
    }

    pub(super) fn required<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_any(DurationVisitor)
    }

    pub(super) fn option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        d.deserialize_option(OptionVisitor)
    }
}
