//! Slow calls: slow outcomes racing across the slow-call rate, alone and over a
//! count or a time window.
#![cfg(loom)]

use std::time::Duration;

use warden_breaker::{Builder, CountWindow, Outcome, SlowCalls, State, TimeWindow};
use warden_loom_tests::{explore, setup};

/// The race every model here runs: optionally one fast success at tick 0, then
/// two calls admitted at tick 0 report `outcome` at tick 1 on two threads (both
/// slow, from 1 ms). Asserts exactly one Closed → Open and settled counts.
fn two_slow_calls_race(
    name: &str,
    configure: fn(Builder) -> Builder,
    fast_success_first: bool,
    outcome: Outcome,
) {
    explore(name, 2, move || {
        let rig = setup(configure);
        if fast_success_first {
            rig.acquire().success();
        }
        let (mine, theirs) = (rig.acquire(), rig.acquire());
        rig.clock.advance(Duration::from_millis(1));
        let t = rig.spawn(move |_| theirs.record(outcome));
        rig.start();
        mine.record(outcome);
        t.join().expect("model thread");

        assert_eq!(rig.rec.changes(), [(State::Closed, State::Open)]);
        rig.rec.assert_settled(&rig.cb);
    });
}

/// Slow from 1 ms, trip at 100 % of at least 2 calls, the default failure rule
/// (so only the slow-call rule can trip); both calls succeed. Whichever slow call
/// is counted second sees 2 slow of 2 calls and trips; the first sees 1 call,
/// under the minimum.
#[test]
fn racing_slow_successes_trip_once() {
    two_slow_calls_race(
        "slow_calls::racing_slow_successes_trip_once",
        |b| {
            b.slow_calls(
                SlowCalls::new(Duration::from_millis(1))
                    .with_slow_rate_percent(100)
                    .with_min_calls(2),
            )
        },
        false,
        Outcome::Success,
    );
}

/// The same with two slow failures and a failure rule that never trips
/// (`ready_to_trip` false): the slow-call rule alone must trip exactly once.
#[test]
fn racing_slow_failures_trip_once() {
    two_slow_calls_race(
        "slow_calls::racing_slow_failures_trip_once",
        |b| {
            b.ready_to_trip(|_| false).slow_calls(
                SlowCalls::new(Duration::from_millis(1))
                    .with_slow_rate_percent(100)
                    .with_min_calls(2),
            )
        },
        false,
        Outcome::Failure,
    );
}

/// Over a count window of 2 (its failure rule never trips: no failures), slow
/// from 1 ms at 100 % of at least 2 calls: a fast success, then two slow successes
/// race. The slow call counted second finds both slow calls among the last 2 calls
/// (its ring slot and the other's, written or not yet: an unwritten slot counts as
/// in the window) and trips; the first finds 1 of 2.
#[test]
fn racing_slow_successes_over_a_count_window_trip_once() {
    two_slow_calls_race(
        "slow_calls::racing_slow_successes_over_a_count_window_trip_once",
        |b| {
            b.count_window(
                CountWindow::new(2)
                    .with_min_calls(2)
                    .with_failure_rate_percent(100),
            )
            .slow_calls(
                SlowCalls::new(Duration::from_millis(1))
                    .with_slow_rate_percent(100)
                    .with_min_calls(2),
            )
        },
        true,
        Outcome::Success,
    );
}

/// Over a time window of 2 ms in 1 ms buckets (its failure rule never trips: a
/// minimum of 100 calls), slow from 1 ms at 60 % of at least 2 calls: a fast
/// success at tick 0 gives bucket 0 its snapshot, then two slow successes race
/// into bucket 1 (both may try to claim its slot). The slow call counted second
/// sees 2 slow of 3 (66 %) from bucket 0's snapshot and trips; the first sees at
/// most 1 of 2.
#[test]
fn racing_slow_successes_over_a_time_window_trip_once() {
    two_slow_calls_race(
        "slow_calls::racing_slow_successes_over_a_time_window_trip_once",
        |b| {
            b.time_window(
                TimeWindow::new(Duration::from_millis(2))
                    .with_buckets(2)
                    .with_min_calls(100)
                    .with_failure_rate_percent(100),
            )
            .slow_calls(
                SlowCalls::new(Duration::from_millis(1))
                    .with_slow_rate_percent(60)
                    .with_min_calls(2),
            )
        },
        true,
        Outcome::Success,
    );
}
