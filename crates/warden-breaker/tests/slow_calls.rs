//! The slow-call trip rule: calls timed with the breaker's clock, on a `ManualClock`.

use std::time::Duration;

use warden_breaker::{
    CircuitBreaker, ConfigError, CountWindow, ManualClock, SlowCalls, State, TimeWindow,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A call taking `took` on `clock`, succeeding or failing.
fn call(cb: &CircuitBreaker, clock: &ManualClock, took: u64, ok: bool) {
    let _ = cb.call(|| {
        clock.advance(ms(took));
        if ok { Ok(()) } else { Err(()) }
    });
}

fn rig(rule: SlowCalls) -> (CircuitBreaker, ManualClock) {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::builder("slow")
        .slow_calls(rule)
        .timeout(ms(10))
        .clock(clock.clone())
        .build()
        .unwrap();
    (cb, clock)
}

#[test]
fn trips_on_the_slow_rate_of_the_generation() {
    let (cb, clock) = rig(SlowCalls::new(ms(100))
        .with_slow_rate_percent(50)
        .with_min_calls(4));
    call(&cb, &clock, 5, true);
    call(&cb, &clock, 99, true); // just under the threshold: fast
    call(&cb, &clock, 100, true); // at the threshold: slow (1 of 3, under the minimum)
    assert_eq!(cb.state(), State::Closed);
    call(&cb, &clock, 250, true); // 2 of 4: 50 %
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn a_slow_failure_counts_as_slow_and_as_a_failure() {
    let (cb, clock) = rig(SlowCalls::new(ms(100))
        .with_slow_rate_percent(100)
        .with_min_calls(1));
    call(&cb, &clock, 100, false);
    assert_eq!(cb.state(), State::Open, "1 of 1 slow");
    assert_eq!(cb.counts().total_failures, 0, "a new generation");
}

#[test]
fn time_is_measured_from_admission_not_from_the_call() {
    let (cb, clock) = rig(SlowCalls::new(ms(100))
        .with_slow_rate_percent(100)
        .with_min_calls(1));
    let permit = cb.try_acquire().unwrap();
    clock.advance(ms(150)); // waiting with the permit counts: the caller waits too
    permit.success();
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn ignored_dropped_and_half_open_calls_are_not_judged() {
    let (cb, clock) = rig(SlowCalls::new(ms(10))
        .with_slow_rate_percent(100)
        .with_min_calls(1));
    let p = cb.try_acquire().unwrap();
    clock.advance(ms(20));
    p.ignore();
    let p = cb.try_acquire().unwrap();
    clock.advance(ms(20));
    drop(p);
    assert_eq!(cb.state(), State::Closed);
    call(&cb, &clock, 10, true);
    assert_eq!(cb.state(), State::Open);
    clock.advance(ms(11));
    call(&cb, &clock, 50, true); // a slow probe still closes it (gobreaker's rule)
    assert_eq!(cb.state(), State::Closed);
}

#[test]
fn combines_with_the_failure_rule() {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::builder("both")
        .ready_to_trip(|c| c.consecutive_failures >= 3)
        .slow_calls(
            SlowCalls::new(ms(100))
                .with_slow_rate_percent(50)
                .with_min_calls(10),
        )
        .clock(clock.clone())
        .build()
        .unwrap();
    for _ in 0..3 {
        call(&cb, &clock, 1, false);
    }
    assert_eq!(cb.state(), State::Open, "the failure rule still trips");
}

#[test]
fn over_a_count_window_slow_calls_slide_out() {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::builder("count")
        .count_window(
            CountWindow::new(4)
                .with_min_calls(4)
                .with_failure_rate_percent(100),
        )
        .slow_calls(
            SlowCalls::new(ms(100))
                .with_slow_rate_percent(50)
                .with_min_calls(4),
        )
        .clock(clock.clone())
        .build()
        .unwrap();
    call(&cb, &clock, 200, true); // slow, 1 call
    for _ in 0..4 {
        call(&cb, &clock, 1, true);
    }
    call(&cb, &clock, 200, true); // window: S S S slow -> 1 of 4
    assert_eq!(cb.state(), State::Closed);
    call(&cb, &clock, 200, false); // S S slow slow -> 2 of 4
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn over_a_time_window_old_slow_calls_leave() {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::builder("time")
        .time_window(
            TimeWindow::new(ms(1000))
                .with_buckets(10)
                .with_min_calls(100)
                .with_failure_rate_percent(100),
        )
        .slow_calls(
            SlowCalls::new(ms(300))
                .with_slow_rate_percent(50)
                .with_min_calls(2),
        )
        .clock(clock.clone())
        .build()
        .unwrap();
    call(&cb, &clock, 400, true); // slow, recorded at tick 400: 1 of 1
    clock.advance(ms(1000));
    call(&cb, &clock, 1, true);
    call(&cb, &clock, 1, true);
    call(&cb, &clock, 400, true); // the first has left: 1 of 3
    assert_eq!(cb.state(), State::Closed);
    call(&cb, &clock, 400, true); // 2 of 4
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn calls_are_timed_in_whole_microseconds_from_admission() {
    let (cb, clock) = rig(SlowCalls::new(Duration::from_micros(500))
        .with_slow_rate_percent(100)
        .with_min_calls(1));
    clock.advance(Duration::from_nanos(999)); // admitted 1 ns before a microsecond ends
    let p = cb.try_acquire().unwrap();
    clock.advance(Duration::from_nanos(499_001)); // 499.001 µs later: 500 whole µs
    p.success();
    assert_eq!(cb.state(), State::Open, "500 whole microseconds");
    let (cb, clock) = rig(SlowCalls::new(Duration::from_micros(500))
        .with_slow_rate_percent(100)
        .with_min_calls(1));
    let p = cb.try_acquire().unwrap(); // admitted at a microsecond's start
    clock.advance(Duration::from_nanos(499_999));
    p.success();
    assert_eq!(cb.state(), State::Closed, "499 whole microseconds");
}

#[test]
fn a_long_call_is_slow_for_its_whole_span() {
    let (cb, clock) = rig(SlowCalls::new(Duration::from_secs(3600))
        .with_slow_rate_percent(100)
        .with_min_calls(1));
    let p = cb.try_acquire().unwrap();
    clock.advance(Duration::from_secs(5 * 86_400)); // five days: within the 12.7-day span
    p.success();
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn builder_rejects_invalid_slow_calls_with_typed_errors() {
    let field = |rule: SlowCalls| match CircuitBreaker::builder("x").slow_calls(rule).build() {
        Err(ConfigError::OutOfRange { field, .. }) => field,
        other => panic!("expected OutOfRange, got {other:?}"),
    };
    assert_eq!(
        field(
            SlowCalls::new(Duration::ZERO)
                .with_slow_rate_percent(50)
                .with_min_calls(1)
        ),
        "slow_calls.threshold"
    );
    assert_eq!(
        field(
            SlowCalls::new(Duration::MAX)
                .with_slow_rate_percent(50)
                .with_min_calls(1)
        ),
        "slow_calls.threshold"
    );
    assert_eq!(
        field(
            SlowCalls::new(ms(1))
                .with_slow_rate_percent(0)
                .with_min_calls(1)
        ),
        "slow_calls.slow_rate_percent"
    );
    assert_eq!(
        field(
            SlowCalls::new(ms(1))
                .with_slow_rate_percent(101)
                .with_min_calls(1)
        ),
        "slow_calls.slow_rate_percent"
    );
    assert_eq!(
        field(
            SlowCalls::new(ms(1))
                .with_slow_rate_percent(50)
                .with_min_calls(0)
        ),
        "slow_calls.min_calls"
    );
    assert_eq!(
        field(
            SlowCalls::new(Duration::from_nanos(1500))
                .with_slow_rate_percent(50)
                .with_min_calls(1)
        ),
        "slow_calls.threshold",
        "calls are timed in whole microseconds"
    );
    assert_eq!(
        field(
            SlowCalls::new(Duration::from_micros((1 << 39) + 1))
                .with_slow_rate_percent(50)
                .with_min_calls(1)
        ),
        "slow_calls.threshold"
    );
    // Sub-millisecond thresholds are fine, down to one microsecond.
    for t in [Duration::from_micros(1), Duration::from_micros(1 << 39)] {
        CircuitBreaker::builder("x")
            .slow_calls(
                SlowCalls::new(t)
                    .with_slow_rate_percent(100)
                    .with_min_calls(1),
            )
            .build()
            .unwrap();
    }
}
