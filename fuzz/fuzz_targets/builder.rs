//! Arbitrary settings: `build()` returns a breaker or a typed `ConfigError` that
//! names an offending field, never panics, and the mutex reference's builder
//! agrees with the lock-free one.
#![no_main]

use std::time::Duration;

use arbitrary::Arbitrary;
use warden_breaker::{
    CircuitBreaker, ConfigError, MAX_DURATION_TICKS, MAX_REQUESTS, ManualClock, State,
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
}

/// What is wrong with a duration setting, if anything.
fn duration_problem(d: Duration) -> Option<&'static str> {
    if !d.subsec_nanos().is_multiple_of(1_000_000) {
        Some("not whole milliseconds")
    } else if d.as_millis() > u128::from(MAX_DURATION_TICKS) {
        Some("out of range")
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
            assert_eq!(s.max_requests(), max_requests.max(1));
            assert_eq!(u128::from(s.interval_ticks()), interval.as_millis());
            let expected_timeout = if timeout.is_zero() {
                60_000
            } else {
                timeout.as_millis()
            };
            assert_eq!(u128::from(s.timeout_ticks()), expected_timeout);
            // The breaker works at the extremes of what was accepted: one failure trips
            // it only with `trip_after == Some(0)`, and the timeout is honoured.
            assert_eq!(
                cb.call(|| Err::<(), _>(())),
                Err(warden_breaker::Error::Inner(()))
            );
            let tripped = input.trip_after == Some(0);
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
                    assert_eq!(
                        *value,
                        if *field == "interval" {
                            interval
                        } else {
                            timeout
                        }
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
