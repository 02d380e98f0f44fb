//! The time window: outcomes racing into a bucket that has no start snapshot yet
//! (the bucket's ring slot is claimed, snapshotted and published by one of them),
//! and failures deciding a trip from the window meanwhile.
#![cfg(loom)]

use std::time::Duration;

use warden_breaker::{State, TimeWindow};
use warden_loom_tests::{Coverage, explore, setup};

/// 2 ms in 2 buckets of 1 ms, at least 3 calls, trip at 60 %. A success at tick 0
/// gives bucket 0 its snapshot; at tick 1 two failures race into bucket 1, both
/// trying to claim its slot. The window at either failure starts at bucket 0's
/// snapshot, so whichever failure is counted second sees S F F (66 %) and trips,
/// and the first sees S F (50 %, and under the minimum) and does not: exactly one
/// Closed → Open in every interleaving, whoever claims bucket 1.
#[test]
fn failures_racing_into_a_new_bucket_trip_once() {
    explore(
        "time_window::failures_racing_into_a_new_bucket_trip_once",
        3,
        || {
            let rig = setup(|b| {
                b.time_window(
                    TimeWindow::new(Duration::from_millis(2))
                        .with_buckets(2)
                        .with_min_calls(3)
                        .with_failure_rate_percent(60),
                )
            });
            rig.acquire().success();
            let (mine, theirs) = (rig.acquire(), rig.acquire());
            rig.clock.advance(Duration::from_millis(1));
            let t = rig.spawn(move |_| theirs.failure());
            rig.start();
            mine.failure();
            t.join().expect("model thread");

            assert_eq!(rig.rec.changes(), [(State::Closed, State::Open)]);
            let tally = rig.rec.tally();
            assert_eq!((tally.successes, tally.failures), (1, 2));
            rig.rec.assert_settled(&rig.cb);
        },
    );
}

/// 1 ms in 1 bucket, at least 2 calls, trip at 50 %. Bucket 0 holds a failure
/// (tick 0); at tick 1 a success and a failure race into bucket 1, whose snapshot
/// becomes the window's start. Bucket 0's failure is out of the window, so the
/// failure trips only if its window holds the success (S F, 50 %); counted before
/// the success, it sees only itself (1 call, under the minimum). A rotation that
/// kept bucket 0's failure would trip in every interleaving (F F, or F S F), so the
/// model asserts, after exploring, that both endings were reached; and in every
/// interleaving at most one Closed → Open.
#[test]
fn success_and_failure_racing_into_a_new_bucket() {
    let (tripped, stayed) = (Coverage::new(), Coverage::new());
    let (t2, s2) = (tripped.clone(), stayed.clone());
    explore(
        "time_window::success_and_failure_racing_into_a_new_bucket",
        3,
        move || {
            let rig = setup(|b| {
                b.time_window(
                    TimeWindow::new(Duration::from_millis(1))
                        .with_buckets(1)
                        .with_min_calls(2)
                        .with_failure_rate_percent(50),
                )
            });
            rig.acquire().failure();
            let (ok, failing) = (rig.acquire(), rig.acquire());
            rig.clock.advance(Duration::from_millis(1));
            let t = rig.spawn(move |_| ok.success());
            rig.start();
            failing.failure();
            t.join().expect("model thread");

            let changes = rig.rec.changes();
            match changes.as_slice() {
                [] => s2.hit(),
                [(State::Closed, State::Open)] => t2.hit(),
                other => panic!("at most one trip: {other:?}"),
            }
            rig.rec.assert_settled(&rig.cb);
        },
    );
    assert!(tripped.hits() > 0, "S F in the window trips");
    assert!(stayed.hits() > 0, "the failure of bucket 0 left the window");
}

/// 1 ms in 1 bucket (one ring slot, reused every tick), at least 3 calls, trip at
/// 30 %. Two writers of one slot, one per lap, neither ordered before the other by
/// anything but the slot itself: another thread succeeds at tick 0 (it may be the
/// first outcome of bucket 0 and write its snapshot, all zero), while the main
/// thread succeeds at tick 0, moves the clock to tick 1 and fails. Bucket 1's
/// snapshot, whoever writes it, holds both successes it saw (the main thread's own,
/// at least; the other thread, if it writes it at tick 1, saw the main thread's
/// through the clock), so the failure's window holds at most itself and one
/// success: 2 calls, under the minimum. The breaker never trips.
///
/// A slot claim that does not synchronise with the previous lap's publish lets
/// bucket 0's snapshot (zeros) be read under bucket 1's tag: S S F, 33 %, trips.
/// A [`ManualClock`](warden_breaker::ManualClock) whose new time does not carry
/// what the advancing thread did before lets the other thread take bucket 1's
/// snapshot without the main thread's success: the same trip.
#[test]
fn a_later_bucket_never_starts_with_an_earlier_snapshot() {
    explore(
        "time_window::a_later_bucket_never_starts_with_an_earlier_snapshot",
        3,
        || {
            let rig = setup(|b| {
                b.time_window(
                    TimeWindow::new(Duration::from_millis(1))
                        .with_buckets(1)
                        .with_min_calls(3)
                        .with_failure_rate_percent(30),
                )
            });
            let (theirs, first, second) = (rig.acquire(), rig.acquire(), rig.acquire());
            let t = rig.spawn(move |_| theirs.success());
            rig.start();
            first.success();
            rig.clock.advance(Duration::from_millis(1));
            second.failure();
            t.join().expect("model thread");

            assert_eq!(
                rig.rec.changes(),
                [],
                "bucket 0's successes counted at tick 1"
            );
            let tally = rig.rec.tally();
            assert_eq!((tally.successes, tally.failures), (2, 1));
            rig.rec.assert_settled(&rig.cb);
        },
    );
}
