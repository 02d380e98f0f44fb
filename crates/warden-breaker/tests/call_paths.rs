//! `call` and `call_with` on a breaker that times its calls (slow calls) and on
//! one that does not: both must record exactly what the two-step API records
//! (successes, failures, exclusions, panics, half-open probes, slow calls) and
//! nothing for a call whose generation ended while it ran, however many
//! generations that was: the guarded function itself resets the breaker through
//! whole laps of the state word's 20-bit generation.
#![cfg(not(loom))]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use warden_breaker::{CircuitBreaker, ManualClock, Outcome, SlowCalls, State};

/// Generations the state word's 20-bit field tells apart.
const LAP: u32 = 1 << 20;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Trips at the first failure (or, timed, the first slow call); 1 ms timeout.
fn breaker(clock: &ManualClock, timed: bool) -> CircuitBreaker {
    let b = CircuitBreaker::builder("call")
        .ready_to_trip(|c| c.consecutive_failures >= 1)
        .timeout(ms(1))
        .clock(clock.clone());
    let b = if timed {
        b.slow_calls(
            SlowCalls::new(ms(10))
                .with_min_calls(1)
                .with_slow_rate_percent(100),
        )
    } else {
        b
    };
    b.build().expect("valid settings")
}

fn both(test: impl Fn(&ManualClock, &CircuitBreaker, bool)) {
    for timed in [false, true] {
        let clock = ManualClock::new();
        let cb = breaker(&clock, timed);
        test(&clock, &cb, timed);
    }
}

#[test]
fn successes_failures_and_exclusions_count_on_both_paths() {
    both(|_, cb, timed| {
        assert_eq!(cb.call(|| Ok::<_, ()>(1)), Ok(1), "timed: {timed}");
        let ignored = cb.call_with(|| Err::<(), u8>(4), |_| Outcome::Ignored);
        assert!(ignored.is_err());
        let c = cb.counts();
        assert_eq!(
            (c.requests, c.total_successes, c.total_exclusions),
            (2, 1, 1),
            "timed: {timed}"
        );
        assert_eq!(cb.state(), State::Closed);
        assert!(cb.call(|| Err::<(), _>(())).is_err());
        assert_eq!(cb.state(), State::Open, "timed: {timed}");
    });
}

#[test]
fn a_panic_in_the_guarded_function_records_a_failure_on_both_paths() {
    both(|_, cb, timed| {
        let r = catch_unwind(AssertUnwindSafe(|| {
            cb.call(|| -> Result<(), ()> { panic!("guarded call panics") })
        }));
        assert!(r.is_err());
        // The failure tripped the breaker (and the new generation's counts start
        // at zero).
        assert_eq!(cb.state(), State::Open, "timed: {timed}");
    });
}

#[test]
fn a_call_that_outlasts_the_threshold_is_slow_only_when_timed() {
    both(|clock, cb, timed| {
        let r = cb.call(|| {
            clock.advance(ms(11));
            Ok::<_, ()>(())
        });
        assert_eq!(r, Ok(()));
        let want = if timed { State::Open } else { State::Closed };
        assert_eq!(cb.state(), want, "timed: {timed}");
    });
}

#[test]
fn half_open_probes_through_call_close_and_reopen() {
    both(|clock, cb, timed| {
        assert!(cb.call(|| Err::<(), _>(())).is_err());
        clock.advance(ms(2));
        assert_eq!(cb.state(), State::HalfOpen);
        // A half-open probe is never timed.
        assert_eq!(cb.call(|| Ok::<_, ()>(())), Ok(()));
        assert_eq!(cb.state(), State::Closed, "timed: {timed}");
        assert!(cb.call(|| Err::<(), _>(())).is_err());
        clock.advance(ms(2));
        let r = catch_unwind(AssertUnwindSafe(|| {
            cb.call(|| -> Result<(), ()> { panic!("probe panics") })
        }));
        assert!(r.is_err());
        assert_eq!(cb.state(), State::Open, "timed: {timed}");
    });
}

/// The guarded function itself moves the breaker through a whole number of laps
/// of generations: the call's outcome belongs to a generation long gone.
fn outcome_after_laps_inside_the_call(laps: u32, outcome: Result<(), ()>, panics: bool) {
    both(|clock, cb, timed| {
        let before = cb.counts();
        let r = catch_unwind(AssertUnwindSafe(|| {
            cb.call(|| {
                for _ in 0..laps * LAP {
                    cb.reset();
                }
                clock.advance(ms(11)); // slow, if timed
                if panics {
                    panic!("guarded call panics a lap later");
                }
                outcome
            })
        }));
        assert_eq!(r.is_err(), panics);
        assert_eq!(cb.state(), State::Closed, "timed: {timed}");
        let after = cb.counts();
        assert_eq!(
            (after.total_successes, after.total_failures),
            (before.total_successes, before.total_failures),
            "timed: {timed}: a stale outcome was counted"
        );
        assert_eq!(after.consecutive_failures, 0, "timed: {timed}");
        // And the breaker still counts fresh calls.
        assert!(cb.call(|| Err::<(), _>(())).is_err());
        assert_eq!(cb.state(), State::Open, "timed: {timed}");
    });
}

#[test]
fn a_failure_a_lap_of_resets_later_changes_nothing() {
    outcome_after_laps_inside_the_call(1, Err(()), false);
}

#[test]
fn a_success_two_laps_of_resets_later_is_not_counted() {
    outcome_after_laps_inside_the_call(2, Ok(()), false);
}

#[test]
fn a_panic_a_lap_of_resets_later_changes_nothing() {
    outcome_after_laps_inside_the_call(1, Ok(()), true);
}
