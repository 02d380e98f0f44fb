//! Lifetime totals (`CircuitBreaker::totals`): every path that counts, exactness
//! across threads once they are joined (owned stripes and the shared overflow
//! stripe), and independence from generations.

use std::sync::Arc;
use std::time::Duration;

use warden_breaker::{
    CircuitBreaker, ManualClock, Observer, Outcome, Rejected, SlowCalls, State, Totals,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn trip_after_one(clock: &ManualClock) -> CircuitBreaker {
    CircuitBreaker::builder("t")
        .ready_to_trip(|c| c.consecutive_failures >= 1)
        .timeout(ms(10))
        .clock(clock.clone())
        .build()
        .unwrap()
}

#[test]
fn a_fresh_breaker_has_zero_totals() {
    let cb = CircuitBreaker::builder("t").build().unwrap();
    assert_eq!(cb.totals(), Totals::default());
}

#[test]
fn every_outcome_and_refusal_is_counted_across_a_full_cycle() {
    let clock = ManualClock::new();
    let cb = trip_after_one(&clock);
    assert_eq!(cb.call(|| Ok::<_, ()>(())), Ok(()));
    let _ = cb.call_with(|| Err::<(), _>(404), |_| Outcome::Ignored);
    drop(cb.try_acquire().unwrap());
    let _ = cb.call(|| Err::<(), _>("down")); // trips
    assert_eq!(cb.state(), State::Open);
    for _ in 0..3 {
        assert!(cb.call(|| Ok::<_, ()>(())).is_err());
    }
    clock.advance(ms(11));
    let probe = cb.try_acquire().unwrap(); // open -> half-open
    assert_eq!(cb.try_acquire().unwrap_err(), Rejected::TooManyRequests);
    probe.success(); // half-open -> closed
    let t = cb.totals();
    assert_eq!(
        (t.successes, t.failures, t.ignored, t.dropped),
        (2, 1, 1, 1),
        "{t:?}"
    );
    assert_eq!((t.rejected_open, t.rejected_too_many_requests), (3, 1));
    assert_eq!(t.rejections(Rejected::Open), 3);
    assert_eq!(t.transitions(State::Closed, State::Open), 1);
    assert_eq!(t.transitions(State::Open, State::HalfOpen), 1);
    assert_eq!(t.transitions(State::HalfOpen, State::Closed), 1);
    assert_eq!(t.transitions(State::HalfOpen, State::Open), 0);
    assert_eq!(t.all_transitions(), 3);
    // The generation's counts restarted; the totals did not.
    assert_eq!(cb.counts().total_successes, 0);
}

#[test]
fn commands_count_as_transitions_and_forced_modes_still_count_outcomes() {
    let cb = CircuitBreaker::builder("t").build().unwrap();
    cb.force_open();
    assert!(cb.call(|| Ok::<_, ()>(())).is_err());
    cb.force_closed();
    let _ = cb.call(|| Ok::<_, ()>(()));
    let _ = cb.call(|| Err::<(), _>(()));
    cb.disable();
    let _ = cb.call(|| Ok::<_, ()>(()));
    cb.reset(); // closed -> closed: no transition
    let t = cb.totals();
    assert_eq!((t.successes, t.failures, t.rejected_open), (2, 1, 1));
    assert_eq!(t.transitions(State::Closed, State::Open), 1);
    assert_eq!(t.transitions(State::Open, State::Closed), 1);
    assert_eq!(t.all_transitions(), 2);
}

#[test]
fn stale_outcomes_count_in_totals_but_not_in_counts() {
    let cb = CircuitBreaker::builder("t").build().unwrap();
    let p = cb.try_acquire().unwrap();
    cb.reset(); // a new generation: p is stale
    p.success();
    assert_eq!(cb.counts().total_successes, 0);
    assert_eq!(cb.totals().successes, 1);
}

#[test]
fn panics_count_as_failures() {
    let cb = CircuitBreaker::builder("t").build().unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = cb.call(|| -> Result<(), ()> { panic!("boom") });
    }));
    assert!(r.is_err());
    assert_eq!(cb.totals().failures, 1);
}

#[test]
fn slow_calls_are_counted_by_the_slow_call_rule() {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::builder("t")
        .slow_calls(
            SlowCalls::new(ms(100))
                .with_slow_rate_percent(100)
                .with_min_calls(1000),
        )
        .clock(clock.clone())
        .build()
        .unwrap();
    for took in [5, 100, 250] {
        let _ = cb.call(|| {
            clock.advance(ms(took));
            Ok::<_, ()>(())
        });
    }
    let t = cb.totals();
    assert_eq!((t.successes, t.slow_calls), (3, 2));
}

/// A slow failure that trips by the failure rule is still a slow call.
#[test]
fn a_slow_failure_that_trips_is_counted_as_slow() {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::builder("t")
        .ready_to_trip(|c| c.consecutive_failures >= 1)
        .slow_calls(SlowCalls::new(ms(100)).with_min_calls(1000))
        .clock(clock.clone())
        .build()
        .unwrap();
    let _ = cb.call(|| {
        clock.advance(ms(150));
        Err::<(), _>(())
    });
    assert_eq!(cb.state(), State::Open);
    let t = cb.totals();
    assert_eq!((t.failures, t.slow_calls), (1, 1));
}

#[derive(Default)]
struct Nothing;
impl Observer for Nothing {}

#[test]
fn observers_do_not_change_what_is_counted() {
    let cb = CircuitBreaker::builder("t")
        .observer(Arc::new(Nothing))
        .build()
        .unwrap();
    let _ = cb.call(|| Ok::<_, ()>(()));
    cb.force_open();
    let _ = cb.call(|| Ok::<_, ()>(()));
    let t = cb.totals();
    assert_eq!((t.successes, t.rejected_open), (1, 1));
}

/// `threads` threads each make `per_thread` successes, failures (ignored by a
/// trip rule that never trips) and, on a forced-open twin, rejections; joined,
/// the totals are exact.
fn racing_calls_are_exact(threads: usize, per_thread: u64) {
    let cb = Arc::new(
        CircuitBreaker::builder("t")
            .ready_to_trip(|_| false)
            .build()
            .unwrap(),
    );
    let open = Arc::new(CircuitBreaker::builder("o").build().unwrap());
    open.force_open();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (cb, open) = (cb.clone(), open.clone());
            std::thread::spawn(move || {
                for i in 0..per_thread {
                    let _ = cb.call(|| if i % 4 == 0 { Err(()) } else { Ok(()) });
                    let _ = open.call(|| Ok::<_, ()>(()));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let n = threads as u64 * per_thread;
    let failures = threads as u64 * per_thread.div_ceil(4);
    let t = cb.totals();
    assert_eq!((t.successes, t.failures), (n - failures, failures));
    assert_eq!(open.totals().rejected_open, n);
}

#[test]
fn racing_calls_on_owned_stripes_are_exact_once_joined() {
    racing_calls_are_exact(4, 20_000);
}

/// More threads than owned slots (63) at once: the rest share the overflow stripe.
#[test]
fn racing_calls_beyond_the_owned_slots_are_exact_once_joined() {
    racing_calls_are_exact(80, 500);
}

/// A slot given back at thread exit is taken by the next thread, which continues
/// from the totals the last owner left.
#[test]
fn totals_survive_threads_coming_and_going() {
    let cb = Arc::new(CircuitBreaker::builder("t").build().unwrap());
    for _ in 0..10 {
        let cb = cb.clone();
        std::thread::spawn(move || {
            for _ in 0..100 {
                let _ = cb.call(|| Ok::<_, ()>(()));
            }
        })
        .join()
        .unwrap();
    }
    assert_eq!(cb.totals().successes, 1000);
}
