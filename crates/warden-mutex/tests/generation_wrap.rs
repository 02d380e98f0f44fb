//! The mutex reference holds permits across generations the way the lock-free
//! breaker must: its generation is a `u64`, so a permit held across 2^20 (and
//! 2^21) real transitions, the point where the lock-free breaker's 20-bit
//! generation field repeats, is still told apart from the current generation.
//! Each case admits a call, moves the breaker through exactly that many
//! generations with commands or natural transitions, reports the outcome, and
//! checks that nothing changed. Permits that time their call (`SlowCalls`), which
//! the lock-free breaker must tell apart by their full generation too, are held
//! across the same laps: resets, force-open/reset pairs, natural flapping,
//! counting-interval expiries, and reconfigurations that add or remove the rule.

use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use warden_breaker::{Counts, ManualClock, SlowCalls, State};
use warden_mutex::CircuitBreaker;

/// Generations the lock-free breaker's 20-bit field tells apart.
const LAP: u32 = 1 << 20;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Trips at the first failure; 1 ms timeout; one probe closes it.
fn trip_on_first_failure() -> (CircuitBreaker, ManualClock) {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::builder("wrap")
        .ready_to_trip(|c| c.consecutive_failures >= 1)
        .timeout(ms(1))
        .clock(clock.clone())
        .build()
        .expect("valid settings");
    (cb, clock)
}

/// The breaker's generation, as its `Debug` output shows it: each case checks
/// that it moved by exactly the laps it says (a miscounted case would still
/// pass on this reference, whose generation is a `u64`, while missing the
/// lock-free breaker's wrap).
fn generation(cb: &CircuitBreaker) -> u64 {
    let text = format!("{cb:?}");
    let (_, rest) = text
        .split_once("generation: ")
        .expect("Debug shows the generation");
    rest.split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a number")
}

fn resets(cb: &CircuitBreaker, n: u32) {
    for _ in 0..n {
        cb.reset();
    }
}

#[test]
fn closed_failure_after_a_lap_of_resets_changes_nothing() {
    let (cb, _clock) = trip_on_first_failure();
    let held = cb.try_acquire().expect("closed admits");
    let admitted = generation(&cb);
    resets(&cb, LAP);
    assert_eq!(generation(&cb) - admitted, u64::from(LAP));
    held.failure();
    assert_eq!(
        cb.state(),
        State::Closed,
        "a stale failure tripped the breaker"
    );
    assert_eq!(cb.counts(), Counts::default());
}

#[test]
fn closed_success_after_two_laps_of_resets_is_not_counted() {
    let (cb, _clock) = trip_on_first_failure();
    let held = cb.try_acquire().expect("closed admits");
    let admitted = generation(&cb);
    resets(&cb, 2 * LAP);
    assert_eq!(generation(&cb) - admitted, 2 * u64::from(LAP));
    held.success();
    assert_eq!(
        cb.counts(),
        Counts::default(),
        "a stale success was counted"
    );
}

#[test]
fn owned_permit_across_a_lap_of_force_open_and_reset() {
    let (cb, _clock) = trip_on_first_failure();
    let cb = Arc::new(cb);
    let held = cb.try_acquire_owned().expect("closed admits");
    let admitted = generation(&cb);
    for _ in 0..LAP / 2 {
        cb.force_open();
        cb.reset();
    }
    assert_eq!(generation(&cb) - admitted, u64::from(LAP));
    held.failure();
    assert_eq!(
        cb.state(),
        State::Closed,
        "a stale failure tripped the breaker"
    );
    assert_eq!(cb.counts(), Counts::default());
}

#[test]
fn timed_slow_success_after_a_lap_of_resets_changes_nothing() {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::builder("wrap")
        .slow_calls(
            SlowCalls::new(ms(1))
                .with_slow_rate_percent(50)
                .with_min_calls(1),
        )
        .clock(clock.clone())
        .build()
        .expect("valid settings");
    let held = cb.try_acquire().expect("closed admits");
    let admitted = generation(&cb);
    resets(&cb, LAP);
    assert_eq!(generation(&cb) - admitted, u64::from(LAP));
    clock.advance(ms(2));
    held.success(); // slow: it would trip a 50 % rule over one call
    assert_eq!(
        cb.state(),
        State::Closed,
        "a stale slow call tripped the breaker"
    );
    assert_eq!(cb.counts(), Counts::default());
}

/// Open, then half-open with one probe admitted, held while the breaker moves
/// through exactly one lap of generations back to half-open (`LAP - 2` resets, a
/// trip, the timeout); then `report` reports the probe.
fn probe_held_across_a_lap(report: impl FnOnce(warden_mutex::Permit<'_>)) -> CircuitBreaker {
    let (cb, clock) = trip_on_first_failure();
    let _ = cb.call(|| Err::<(), _>(()));
    clock.advance(ms(2));
    let probe = cb.try_acquire().expect("half-open admits a probe");
    assert_eq!(cb.state(), State::HalfOpen);
    let admitted = generation(&cb);
    resets(&cb, LAP - 2);
    let _ = cb.call(|| Err::<(), _>(()));
    clock.advance(ms(2));
    assert_eq!(cb.state(), State::HalfOpen, "a lap later, half-open again");
    assert_eq!(generation(&cb) - admitted, u64::from(LAP));
    report(probe);
    cb
}

#[test]
fn half_open_probe_success_after_a_lap_does_not_close() {
    let cb = probe_held_across_a_lap(|p| p.success());
    assert_eq!(
        cb.state(),
        State::HalfOpen,
        "a stale probe closed the breaker"
    );
    assert_eq!(cb.counts(), Counts::default());
}

#[test]
fn half_open_probe_failure_after_a_lap_does_not_reopen() {
    let cb = probe_held_across_a_lap(|p| p.failure());
    assert_eq!(
        cb.state(),
        State::HalfOpen,
        "a stale probe re-opened the breaker"
    );
}

#[test]
fn closed_failure_after_a_lap_of_natural_flapping_changes_nothing() {
    // Each cycle is three generations (trip, half-open, close): LAP cycles are three
    // laps, back to the admitting generation's field value.
    let (cb, clock) = trip_on_first_failure();
    let held = cb.try_acquire().expect("closed admits");
    let admitted = generation(&cb);
    for _ in 0..LAP {
        let _ = cb.call(|| Err::<(), _>(()));
        clock.advance(ms(2));
        let _ = cb.call(|| Ok::<_, ()>(()));
    }
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(generation(&cb) - admitted, 3 * u64::from(LAP));
    held.failure();
    assert_eq!(
        cb.state(),
        State::Closed,
        "a stale failure tripped the breaker"
    );
}

/// Calls of 10 ms or more are slow, and one slow call of one trips.
const SLOW_CALLS: SlowCalls = SlowCalls::new(Duration::from_millis(10))
    .with_slow_rate_percent(100)
    .with_min_calls(1);

/// Trips at the first failure or the first slow call: every closed permit times
/// its call.
fn timed_trips_at(n: u32, clock: &ManualClock) -> warden_mutex::Builder {
    CircuitBreaker::builder("wrap")
        .ready_to_trip(move |c| c.consecutive_failures >= n)
        .timeout(ms(1))
        .slow_calls(SLOW_CALLS)
        .clock(clock.clone())
}

/// What a stale timed failure leaves: closed, nothing counted (nor slow), and a
/// fresh call counted from zero.
fn a_stale_timed_outcome_changed_nothing(cb: &CircuitBreaker) {
    assert_eq!(
        cb.state(),
        State::Closed,
        "a stale outcome tripped the breaker"
    );
    assert_eq!(
        cb.counts(),
        Counts::default(),
        "a stale outcome was counted"
    );
    assert_eq!(
        cb.totals().slow_calls,
        0,
        "a stale outcome was counted slow"
    );
    cb.try_acquire().expect("closed admits").success();
    assert_eq!(cb.counts().total_successes, 1);
}

#[test]
fn timed_permits_count_in_their_generation() {
    let clock = ManualClock::new();
    let cb = timed_trips_at(1, &clock).build().unwrap();
    cb.try_acquire().unwrap().failure();
    assert_eq!(
        cb.state(),
        State::Open,
        "the failure of its generation trips"
    );
    let cb = timed_trips_at(1, &clock).build().unwrap();
    let held = cb.try_acquire().unwrap();
    clock.advance(ms(20));
    held.success();
    assert_eq!(
        (cb.state(), cb.totals().slow_calls),
        (State::Open, 1),
        "the slow success of its generation trips"
    );
}

#[test]
fn timed_closed_failure_after_a_lap_of_resets_changes_nothing() {
    let clock = ManualClock::new();
    let cb = timed_trips_at(1, &clock).build().unwrap();
    let held = cb.try_acquire().expect("closed admits");
    let admitted = generation(&cb);
    resets(&cb, LAP);
    assert_eq!(generation(&cb) - admitted, u64::from(LAP));
    held.failure();
    a_stale_timed_outcome_changed_nothing(&cb);
}

#[test]
fn timed_closed_success_after_two_laps_of_resets_is_not_counted() {
    let clock = ManualClock::new();
    let cb = timed_trips_at(1, &clock).build().unwrap();
    let held = cb.try_acquire().expect("closed admits");
    let admitted = generation(&cb);
    resets(&cb, 2 * LAP);
    assert_eq!(generation(&cb) - admitted, 2 * u64::from(LAP));
    held.success();
    a_stale_timed_outcome_changed_nothing(&cb);
}

#[test]
fn timed_owned_failure_on_another_thread_after_a_lap_of_force_open_and_reset() {
    let clock = ManualClock::new();
    let cb = Arc::new(timed_trips_at(1, &clock).build().unwrap());
    let held = cb.try_acquire_owned().expect("closed admits");
    let admitted = generation(&cb);
    let (go, wait) = mpsc::channel::<()>();
    let (done, reported) = mpsc::channel::<()>();
    let reporter = thread::spawn(move || {
        if wait.recv().is_ok() {
            held.failure();
            let _ = done.send(());
        }
    });
    for _ in 0..LAP / 2 {
        cb.force_open();
        cb.reset();
    }
    assert_eq!(generation(&cb) - admitted, u64::from(LAP));
    go.send(()).expect("the reporter waits");
    assert_eq!(
        reported.recv_timeout(Duration::from_secs(10)),
        Ok(()),
        "the report on the other thread did not return"
    );
    reporter.join().expect("the reporter does not panic");
    a_stale_timed_outcome_changed_nothing(&cb);
}

#[test]
fn timed_closed_failure_after_a_lap_of_natural_flapping_changes_nothing() {
    let clock = ManualClock::new();
    let cb = timed_trips_at(1, &clock).build().unwrap();
    let held = cb.try_acquire().expect("closed admits");
    let admitted = generation(&cb);
    for _ in 0..LAP {
        let _ = cb.call(|| Err::<(), _>(()));
        clock.advance(ms(2));
        let _ = cb.call(|| Ok::<_, ()>(()));
    }
    assert_eq!(generation(&cb) - admitted, 3 * u64::from(LAP));
    held.failure(); // slow too: 2^21 ms after its admission
    a_stale_timed_outcome_changed_nothing(&cb);
}

#[test]
fn timed_interval_failure_after_a_lap_of_interval_expiries_changes_nothing() {
    let clock = ManualClock::new();
    let cb = timed_trips_at(1, &clock).interval(ms(1)).build().unwrap();
    let held = cb.try_acquire().expect("closed admits");
    let admitted = generation(&cb);
    for _ in 0..LAP {
        clock.advance(ms(2));
        assert_eq!(cb.state(), State::Closed);
    }
    assert_eq!(generation(&cb) - admitted, u64::from(LAP));
    held.failure();
    a_stale_timed_outcome_changed_nothing(&cb);
}

#[test]
fn slow_calls_added_or_removed_around_a_held_permit() {
    // In the same generation the held failure counts (and trips at two); a lap
    // later it is stale.
    let clock = ManualClock::new();
    let untimed = || CircuitBreaker::builder("wrap").ready_to_trip(|c| c.consecutive_failures >= 2);
    let timed = || untimed().slow_calls(SLOW_CALLS);
    for (before, after) in [(untimed(), timed()), (timed(), untimed())] {
        let cb = before.clock(clock.clone()).build().unwrap();
        let held = cb.try_acquire().unwrap();
        let _ = cb.call(|| Err::<(), _>(()));
        cb.reconfigure(after).unwrap();
        held.failure();
        assert_eq!(cb.state(), State::Open, "the held failure was not counted");
    }
    for (before, after) in [(untimed(), timed()), (timed(), untimed())] {
        let cb = before.clock(clock.clone()).build().unwrap();
        let held = cb.try_acquire().unwrap();
        let _ = cb.call(|| Err::<(), _>(()));
        resets(&cb, LAP);
        let _ = cb.call(|| Err::<(), _>(()));
        cb.reconfigure(after).unwrap();
        held.failure();
        assert_eq!(cb.state(), State::Closed, "a stale failure tripped");
        assert_eq!(cb.counts().consecutive_failures, 1);
    }
}
