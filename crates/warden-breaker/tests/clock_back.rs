//! A clock that steps back is treated as standing still until it catches up, as
//! [`Clock`] promises: slow calls, time-window buckets, open deadlines, counting
//! intervals and the half-open max wait never see time run backwards as a huge
//! jump forwards.
#![cfg(not(loom))]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use warden_breaker::{CircuitBreaker, Clock, SlowCalls, State, TimeWindow};

/// A clock the test sets to any time, backwards included.
#[derive(Debug, Default)]
struct Settable(AtomicU64);

impl Settable {
    fn set_micros(&self, micros: u64) {
        // Relaxed: the test's one thread sets and reads it.
        self.0.store(micros * 1_000, Ordering::Relaxed);
    }
}

#[derive(Debug)]
struct Shared(Arc<Settable>);

impl Clock for Shared {
    fn now_nanos(&self) -> u64 {
        // Relaxed: see `set_micros`.
        self.0.0.load(Ordering::Relaxed)
    }
}

/// The clock starts at 0, the breaker's origin; tests move it to 1 s once the
/// breaker is built, so it can step back without reaching the origin (where the
/// breaker's time saturates at 0).
fn clock() -> (Arc<Settable>, Shared) {
    let c = Arc::new(Settable::default());
    let shared = Shared(Arc::clone(&c));
    (c, shared)
}

#[test]
fn a_call_ending_before_it_started_is_not_slow() {
    // Before: 1 µs back read as 2^40 - 1 µs (12.7 days): slow, and the rule tripped.
    let (c, shared) = clock();
    let cb = CircuitBreaker::builder("slow")
        .slow_calls(
            SlowCalls::new(Duration::from_millis(1))
                .with_slow_rate_percent(50)
                .with_min_calls(1),
        )
        .clock(shared)
        .build()
        .unwrap();
    c.set_micros(1_000_000);
    let permit = cb.try_acquire().unwrap();
    c.set_micros(1_000_000 - 1);
    permit.success();
    assert_eq!(cb.state(), State::Closed, "a 0 µs call is not slow");
    // Standing still is all it is: a call that really takes the threshold is slow.
    let permit = cb.try_acquire().unwrap();
    c.set_micros(1_000_000 + 1_000);
    permit.success();
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn slow_call_rule_agrees_at_its_edges() {
    let s = SlowCalls::new(Duration::from_micros(1 << 39))
        .with_slow_rate_percent(50)
        .with_min_calls(1);
    assert!(
        s.is_slow(0, (1 << 39) * 1_000),
        "the longest threshold is reachable"
    );
    assert!(!s.is_slow(1_000, 0), "1 µs back");
    let ms = SlowCalls::new(Duration::from_millis(1))
        .with_slow_rate_percent(50)
        .with_min_calls(1);
    assert!(!ms.is_slow(3_600_000_000_000, 1_000), "an hour back");
}

#[test]
fn time_window_failures_after_a_step_back_count_in_the_latest_bucket() {
    // Four 10 ms buckets; at least 4 calls, 50 % failures trips.
    let (c, shared) = clock();
    let cb = CircuitBreaker::builder("window")
        .time_window(
            TimeWindow::new(Duration::from_millis(40))
                .with_buckets(4)
                .with_min_calls(4)
                .with_failure_rate_percent(50),
        )
        .clock(shared)
        .build()
        .unwrap();
    let at = |ms: u64| c.set_micros(1_000_000 + ms * 1_000);
    at(5); // bucket 0
    for _ in 0..10 {
        let _ = cb.call(|| Ok::<_, ()>(()));
    }
    at(45); // bucket 4: the window is buckets 1..=4, the successes have left it
    let _ = cb.call(|| Err::<(), _>(()));
    assert_eq!(cb.state(), State::Closed, "1 call is below min_calls");
    at(25); // the clock steps back 20 ms: time stands still at bucket 4
    for _ in 0..3 {
        let _ = cb.call(|| Err::<(), _>(()));
    }
    // Before: the failures claimed bucket 2 (already passed) and its window counted
    // only them (3 calls, below min_calls).
    assert_eq!(
        cb.state(),
        State::Open,
        "4 failures of 4 calls in the window"
    );
}

#[test]
fn deadlines_wait_for_the_clock_to_catch_up() {
    let (c, shared) = clock();
    let cb = CircuitBreaker::builder("deadline")
        .timeout(Duration::from_millis(10))
        .interval(Duration::from_millis(10))
        .half_open_max_wait(Duration::from_millis(10))
        .ready_to_trip(|c| c.consecutive_failures >= 2)
        .clock(shared)
        .build()
        .unwrap();
    let at = |ms: u64| c.set_micros(1_000_000 + ms * 1_000);
    // Interval: a failure at 5, the clock back to 0, another failure trips (the
    // interval that started at 0 has not expired).
    at(5);
    let _ = cb.call(|| Err::<(), _>(()));
    at(0);
    let _ = cb.call(|| Err::<(), _>(()));
    assert_eq!(cb.state(), State::Open);
    // Open until 10 ms after the trip at 0: stepping back keeps it open.
    at(11);
    at(3);
    assert_eq!(cb.state(), State::Open);
    at(11);
    assert_eq!(cb.state(), State::HalfOpen);
    // Max wait 10 ms from 11: the clock steps back, the probe slot stays held.
    let probe = cb.try_acquire().unwrap();
    at(2);
    assert_eq!(cb.state(), State::HalfOpen);
    at(21);
    assert_eq!(cb.state(), State::HalfOpen);
    at(22);
    assert_eq!(
        cb.state(),
        State::Open,
        "max wait passed once the clock caught up"
    );
    drop(probe);
}
