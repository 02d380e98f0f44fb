//! Slow calls: slow outcomes racing across the slow-call rate.
#![cfg(loom)]

use std::time::Duration;

use warden_breaker::{SlowCalls, State};
use warden_loom_tests::{explore, setup};

/// Slow from 1 ms, trip at 100 % of at least 2 calls, the default failure rule
/// (so only the slow-call rule can trip). Two calls admitted at tick 0 both
/// succeed at tick 1, on two threads: both are slow. Whichever slow call is counted
/// second sees 2 slow of 2 calls and trips; the first sees 1 call, under the
/// minimum. Exactly one Closed → Open.
#[test]
fn racing_slow_successes_trip_once() {
    explore("slow_calls::racing_slow_successes_trip_once", 2, || {
        let rig = setup(|b| b.slow_calls(SlowCalls::new(Duration::from_millis(1), 100, 2)));
        let (mine, theirs) = (rig.acquire(), rig.acquire());
        rig.clock.advance(Duration::from_millis(1));
        let t = rig.spawn(move |_| theirs.success());
        rig.start();
        mine.success();
        t.join().expect("model thread");

        assert_eq!(rig.rec.changes(), [(State::Closed, State::Open)]);
        rig.rec.assert_settled(&rig.cb);
    });
}

/// The same with two slow failures and a failure rule that never trips
/// (`ready_to_trip` false): the slow-call rule alone must trip exactly once.
#[test]
fn racing_slow_failures_trip_once() {
    explore("slow_calls::racing_slow_failures_trip_once", 2, || {
        let rig = setup(|b| {
            b.ready_to_trip(|_| false)
                .slow_calls(SlowCalls::new(Duration::from_millis(1), 100, 2))
        });
        let (mine, theirs) = (rig.acquire(), rig.acquire());
        rig.clock.advance(Duration::from_millis(1));
        let t = rig.spawn(move |_| theirs.failure());
        rig.start();
        mine.failure();
        t.join().expect("model thread");

        assert_eq!(rig.rec.changes(), [(State::Closed, State::Open)]);
        rig.rec.assert_settled(&rig.cb);
    });
}
