//! Closed-state interval resets racing outcomes.
#![cfg(loom)]

use std::time::Duration;

use warden_breaker::{Counts, SlowCalls, State};
use warden_loom_tests::{explore, setup};

/// Interval 1 ms; trip at 2 consecutive failures. A call admitted in the first
/// counting interval fails while another thread moves the clock past the interval
/// and makes a call that fails too. The reset (a new generation, counts zeroed, no
/// callback) either comes after the first failure, which then belongs to the old
/// interval, or before it, which makes it stale. Either way the two failures are in
/// different intervals: the breaker never trips, and the new interval counts exactly
/// the second call and its failure. A failure of the old interval that wrote its
/// count over the new interval's would lose the new failure.
#[test]
fn interval_reset_races_failure() {
    explore("interval::interval_reset_races_failure", 3, || {
        let rig = setup(|b| {
            b.interval(Duration::from_millis(1))
                .ready_to_trip(|c| c.consecutive_failures >= 2)
        });
        let old = rig.acquire();
        let before = rig.begin();

        let t = rig.spawn(move |_| old.failure());
        rig.start();
        rig.clock.advance(Duration::from_millis(2));
        rig.acquire().failure();
        t.join().expect("model thread");

        assert!(rig.rec.changes_after(before).is_empty(), "never trips");
        assert_eq!(rig.cb.state(), State::Closed);
        assert_eq!(
            rig.cb.counts(),
            Counts {
                requests: 1,
                total_failures: 1,
                consecutive_failures: 1,
                ..Counts::default()
            }
        );
        rig.rec.assert_settled(&rig.cb);
    });
}

/// Two threads both see the interval expire and race to reset it; one of them also
/// records a success. Exactly one reset happens (a second would drop the success):
/// the new interval counts exactly one request and one success.
#[test]
fn racing_resets_keep_new_counts() {
    explore("interval::racing_resets_keep_new_counts", 3, || {
        let rig = setup(|b| b.interval(Duration::from_millis(1)));
        rig.acquire().failure();
        rig.clock.advance(Duration::from_millis(2));
        let before = rig.begin();

        let t = rig.spawn(|rig| rig.cb.state());
        rig.start();
        rig.acquire().success();
        assert_eq!(t.join().expect("model thread"), State::Closed);

        assert!(rig.rec.changes_after(before).is_empty());
        assert_eq!(
            rig.cb.counts(),
            Counts {
                requests: 1,
                total_successes: 1,
                consecutive_successes: 1,
                ..Counts::default()
            }
        );
        rig.rec.assert_settled(&rig.cb);
    });
}

/// Interval 1 ms; trip at 2 consecutive failures. The first interval ends on a
/// failure (a streak of 1), and a call admitted in it succeeds late on another
/// thread, while the main thread moves the clock past the interval and fails twice
/// in the new one. The late success either ends the old interval's streak or is
/// stale; in every interleaving the new interval's two failures are consecutive and
/// trip the breaker exactly once. A success that ended the old streak with a load
/// and a store instead of a compare-and-swap could store the old interval's reset
/// over the new interval's first failure: that streak lost, the second failure
/// would count as the first, and the breaker would never trip.
#[test]
fn stale_success_keeps_the_new_intervals_streak() {
    explore(
        "interval::stale_success_keeps_the_new_intervals_streak",
        3,
        || {
            let rig = setup(|b| {
                b.interval(Duration::from_millis(1))
                    .ready_to_trip(|c| c.consecutive_failures >= 2)
            });
            rig.acquire().failure();
            let late = rig.acquire();
            let before = rig.begin();

            let t = rig.spawn(move |_| late.success());
            rig.start();
            rig.clock.advance(Duration::from_millis(2));
            rig.acquire().failure();
            rig.acquire().failure();
            t.join().expect("model thread");

            assert_eq!(
                rig.rec.changes_after(before),
                [(State::Closed, State::Open)],
                "two consecutive failures of the new interval"
            );
            rig.rec.assert_settled(&rig.cb);
        },
    );
}

/// Interval 2 ms; slow from 1 ms, trip at 100 % slow of at least 2 calls. A call
/// admitted at tick 0 succeeds slow at tick 1 on another thread, while the main
/// thread moves the clock past the interval, admits two calls in the new one and
/// has both succeed slow at tick 4: the second sees 2 slow of 2 calls and trips.
/// The late success either counts in the old interval (1 slow call: under the
/// minimum) or, having read its clock before the interval ended, finds the slow-call
/// word tagged with the new interval: then it must find its own interval over, or
/// it would take the word for a write of the check-to-write window and re-tag it
/// (its generation's zero), and the new interval's second slow call would see 1 of
/// 2 and never trip.
#[test]
fn a_stale_slow_call_keeps_the_new_intervals_slow_calls() {
    explore(
        "interval::a_stale_slow_call_keeps_the_new_intervals_slow_calls",
        3,
        || {
            let rig = setup(|b| {
                b.interval(Duration::from_millis(2)).slow_calls(
                    SlowCalls::new(Duration::from_millis(1))
                        .with_slow_rate_percent(100)
                        .with_min_calls(2),
                )
            });
            let late = rig.acquire();
            rig.clock.advance(Duration::from_millis(1));
            let before = rig.begin();

            let t = rig.spawn(move |_| late.success());
            rig.start();
            rig.clock.advance(Duration::from_millis(2));
            let (first, second) = (rig.acquire(), rig.acquire());
            rig.clock.advance(Duration::from_millis(1));
            first.success();
            second.success();
            t.join().expect("model thread");

            assert_eq!(
                rig.rec.changes_after(before),
                [(State::Closed, State::Open)],
                "two slow calls of the new interval"
            );
            rig.rec.assert_settled(&rig.cb);
        },
    );
}
