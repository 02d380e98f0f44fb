//! Arbitrary settings: `build()` returns a breaker or a typed `ConfigError` that
//! names an offending field, never panics, and the mutex reference's builder
//! agrees with the lock-free one. Covers the time window, slow calls and the
//! adaptive throttle too (their ranges, the bucket division, `k`, their conflicts).
#![no_main]

use std::time::Duration;

use arbitrary::Arbitrary;
use warden_breaker::{
    AdaptiveThrottle, CircuitBreaker, ConfigError, MAX_DURATION_TICKS, MAX_REQUESTS,
    MAX_TIME_BUCKETS, ManualClock, SlowCalls, State, TimeWindow,
};

#[derive(Arbitrary, Debug)]
enum Dur {
    Zero,
    Millis(u64),
    Nanos(u64),
    Raw(u64, u32),
    /// Whole milliseconds around the 2^39 ms limit.
    NearLimit(i16),
}

impl Dur {
    fn get(&self) -> Duration {
        match *self {
            Dur::Zero => Duration::ZERO,
            Dur::Millis(ms) => Duration::from_millis(ms),
            Dur::Nanos(ns) => Duration::from_nanos(ns),
            Dur::Raw(secs, nanos) => Duration::new(secs, nanos % 1_000_000_000),
            Dur::NearLimit(d) => {
                Duration::from_millis(MAX_DURATION_TICKS.saturating_add_signed(d.into()))
            }
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    name: String,
    max_requests: u32,
    /// Picks `max_requests` near the limit instead of the raw value.
    near_limit: Option<i8>,
    interval: Dur,
    timeout: Dur,
    trip_after: Option<u8>,
    time_window: Option<(Dur, u16, u32, u8)>,
    slow_calls: Option<(Dur, u8, u32)>,
    /// window, buckets, k (any bits, NaN included), min requests, cap in percent.
    adaptive: Option<(Dur, u16, f64, u32, u8)>,
}

impl Input {
    fn time_window(&self) -> Option<TimeWindow> {
        self.time_window.as_ref().map(|(len, buckets, min, pct)| {
            TimeWindow::new(len.get())
                .with_buckets(u32::from(*buckets))
                .with_min_calls(*min)
                .with_failure_rate_percent(u32::from(*pct))
        })
    }

    fn adaptive(&self) -> Option<AdaptiveThrottle> {
        self.adaptive.as_ref().map(|(len, buckets, k, min, cap)| {
            AdaptiveThrottle::new(len.get())
                .with_buckets(u32::from(*buckets))
                .with_k(*k)
                .with_min_requests(*min)
                .with_max_reject_percent(u32::from(*cap))
        })
    }

    fn slow_calls(&self) -> Option<SlowCalls> {
        self.slow_calls.as_ref().map(|(t, pct, min)| {
            SlowCalls::new(t.get())
                .with_slow_rate_percent(u32::from(*pct))
                .with_min_calls(*min)
        })
    }
}

/// What is wrong with a time window, if anything (the spec's rules).
fn time_window_problems(w: TimeWindow, problems: &mut Vec<(&'static str, &'static str)>) {
    let len = w.length();
    let ms = len.as_millis();
    // Range first: a length too large (or zero) is that, whatever its fraction.
    if len.is_zero() || ms > u128::from(MAX_DURATION_TICKS) {
        problems.push(("time_window.length", "out of range"));
    } else if !len.subsec_nanos().is_multiple_of(1_000_000) {
        problems.push(("time_window.length", "not whole milliseconds"));
    }
    if w.buckets() == 0
        || w.buckets() > MAX_TIME_BUCKETS
        || (ms != 0 && !ms.is_multiple_of(u128::from(w.buckets())))
    {
        problems.push(("time_window.buckets", "out of range"));
    }
    if w.min_calls() == 0 {
        problems.push(("time_window.min_calls", "out of range"));
    }
    if !(1..=100).contains(&w.failure_rate_percent()) {
        problems.push(("time_window.failure_rate_percent", "out of range"));
    }
}

/// What is wrong with an adaptive throttle, if anything.
fn adaptive_problems(t: AdaptiveThrottle, problems: &mut Vec<(&'static str, &'static str)>) {
    let len = t.window();
    let ms = len.as_millis();
    if len.is_zero() || ms > u128::from(MAX_DURATION_TICKS) {
        problems.push(("adaptive.window", "out of range"));
    } else if !len.subsec_nanos().is_multiple_of(1_000_000) {
        problems.push(("adaptive.window", "not whole milliseconds"));
    }
    if t.buckets() == 0
        || t.buckets() > MAX_TIME_BUCKETS
        || (ms != 0 && !ms.is_multiple_of(u128::from(t.buckets())))
    {
        problems.push(("adaptive.buckets", "out of range"));
    }
    if !(t.k().is_finite() && t.k() >= 1.0) {
        problems.push(("adaptive.k", "out of range"));
    }
    if t.max_reject_percent() > 100 {
        problems.push(("adaptive.max_reject_percent", "out of range"));
    }
}

/// What is wrong with a slow-call rule, if anything.
fn slow_calls_problems(s: SlowCalls, problems: &mut Vec<(&'static str, &'static str)>) {
    let t = s.threshold();
    if t.is_zero() || t.as_micros() > 1 << 39 || t.subsec_nanos() % 1_000 != 0 {
        problems.push(("slow_calls.threshold", "out of range"));
    }
    if s.min_calls() == 0 {
        problems.push(("slow_calls.min_calls", "out of range"));
    }
    if !(1..=100).contains(&s.slow_rate_percent()) {
        problems.push(("slow_calls.slow_rate_percent", "out of range"));
    }
}

/// What is wrong with a duration setting, if anything.
fn duration_problem(d: Duration) -> Option<&'static str> {
    // Range first, as the builder checks: `Duration::MAX` is too large, not a fraction.
    if d.as_millis() > u128::from(MAX_DURATION_TICKS) {
        Some("out of range")
    } else if !d.subsec_nanos().is_multiple_of(1_000_000) {
        Some("not whole milliseconds")
    } else {
        None
    }
}

fn builder(input: &Input, max_requests: u32, clock: &ManualClock) -> warden_breaker::Builder {
    let mut b = CircuitBreaker::builder(&input.name)
        .max_requests(max_requests)
        .interval(input.interval.get())
        .timeout(input.timeout.get())
        .clock(clock.clone());
    if let Some(n) = input.trip_after {
        b = b.ready_to_trip(move |c| c.consecutive_failures > u32::from(n));
    }
    if let Some(w) = input.time_window() {
        b = b.time_window(w);
    }
    if let Some(s) = input.slow_calls() {
        b = b.slow_calls(s);
    }
    if let Some(t) = input.adaptive() {
        b = b.adaptive_throttle(t);
    }
    b
}

libfuzzer_sys::fuzz_target!(|input: Input| {
    let max_requests = match input.near_limit {
        Some(d) => MAX_REQUESTS.saturating_add_signed(d.into()),
        None => input.max_requests,
    };
    let (interval, timeout) = (input.interval.get(), input.timeout.get());
    let mut problems = Vec::new();
    if max_requests > MAX_REQUESTS {
        problems.push(("max_requests", "out of range"));
    }
    if let Some(p) = duration_problem(interval) {
        problems.push(("interval", p));
    }
    if let Some(p) = duration_problem(timeout) {
        problems.push(("timeout", p));
    }
    if let Some(w) = input.time_window() {
        time_window_problems(w, &mut problems);
        if input.trip_after.is_some() {
            problems.push(("time_window", "conflict"));
        }
    }
    if let Some(s) = input.slow_calls() {
        slow_calls_problems(s, &mut problems);
    }
    if let Some(t) = input.adaptive() {
        adaptive_problems(t, &mut problems);
        if input.trip_after.is_some() || input.time_window.is_some() || input.slow_calls.is_some() {
            problems.push(("adaptive", "conflict"));
        }
    }

    let clock = ManualClock::new();
    let lock_free = builder(&input, max_requests, &clock).build();
    let mutex = warden_mutex::Builder::from(builder(&input, max_requests, &clock)).build();
    match (&lock_free, &mutex) {
        (Ok(_), Ok(_)) => {}
        (Err(a), Err(b)) => assert_eq!(a, b, "both builders validate alike"),
        _ => panic!("the builders disagree: {lock_free:?} vs {mutex:?}"),
    }

    match lock_free {
        Ok(cb) => {
            assert!(
                problems.is_empty(),
                "accepted invalid settings {problems:?}: {input:?}"
            );
            let s = cb.settings();
            assert_eq!(s.name(), input.name);
            assert_eq!(s.time_window(), input.time_window());
            assert_eq!(s.slow_calls(), input.slow_calls());
            assert_eq!(s.adaptive_throttle(), input.adaptive());
            assert_eq!(s.max_requests(), max_requests.max(1));
            assert_eq!(u128::from(s.interval_ticks()), interval.as_millis());
            let expected_timeout = if timeout.is_zero() {
                60_000
            } else {
                timeout.as_millis()
            };
            assert_eq!(u128::from(s.timeout_ticks()), expected_timeout);
            // The breaker works at the extremes of what was accepted: one failure trips
            // it only with `trip_after == Some(0)`, a time window whose minimum is one
            // call, or slow calls whose minimum is one call and whose threshold is 1 µs
            // (the failing call below takes 1 µs), and the timeout is honoured.
            assert_eq!(
                cb.call(|| {
                    clock.advance(Duration::from_micros(1));
                    Err::<(), _>(())
                }),
                Err(warden_breaker::Error::Inner(()))
            );
            let tripped = input.trip_after == Some(0)
                || input.time_window().is_some_and(|w| w.min_calls() == 1)
                || input.slow_calls().is_some_and(|s| {
                    s.min_calls() == 1 && s.threshold() == Duration::from_micros(1)
                });
            assert_eq!(
                cb.state(),
                if tripped { State::Open } else { State::Closed }
            );
            clock.advance(Duration::from_millis(s.timeout_ticks()));
            assert_eq!(
                cb.state(),
                if tripped { State::Open } else { State::Closed }
            );
            clock.advance(Duration::from_millis(1));
            assert_eq!(
                cb.state(),
                if tripped {
                    State::HalfOpen
                } else {
                    State::Closed
                }
            );
        }
        Err(e) => {
            let field = match &e {
                ConfigError::OutOfRange { field, .. } => {
                    assert!(
                        problems.contains(&(*field, "out of range")),
                        "{e:?} for {problems:?}"
                    );
                    field
                }
                ConfigError::NotWholeMillis { field, value } => {
                    assert!(
                        problems.contains(&(*field, "not whole milliseconds")),
                        "{e:?} for {problems:?}"
                    );
                    let expected = match *field {
                        "interval" => interval,
                        "timeout" => timeout,
                        "adaptive.window" => {
                            input.adaptive().map_or(Duration::ZERO, |t| t.window())
                        }
                        _ => input.time_window().map_or(Duration::ZERO, |w| w.length()),
                    };
                    assert_eq!(*value, expected);
                    field
                }
                ConfigError::Conflict { field, other } => {
                    let other_is_set = match *other {
                        "ready_to_trip" => input.trip_after.is_some(),
                        "time_window" => input.time_window.is_some(),
                        "slow_calls" => input.slow_calls.is_some(),
                        _ => false,
                    };
                    assert!(
                        matches!(*field, "time_window" | "adaptive") && other_is_set,
                        "{e:?}"
                    );
                    assert!(
                        problems.contains(&(*field, "conflict")),
                        "{e:?} for {problems:?}"
                    );
                    field
                }
                other => panic!("an error variant this target does not know: {other:?}"),
            };
            assert!(
                e.to_string().contains(field),
                "the message names the field: {e}"
            );
        }
    }
});
