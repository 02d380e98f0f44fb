//! Closed → Open: failures racing across the trip threshold.
#![cfg(loom)]

use warden_breaker::{Counts, State};
use warden_loom_tests::{explore, setup};

/// Two calls admitted in the same closed generation fail concurrently with a
/// threshold of one failure: both see the threshold reached and race to trip.
/// Exactly one Closed → Open transition happens, delivered once to the callback and
/// once to the observer.
#[test]
fn racing_trips_open_once() {
    explore("trip::racing_trips_open_once", 3, || {
        let rig = setup(|b| b.ready_to_trip(|c| c.total_failures >= 1));
        let (mine, theirs) = (rig.acquire(), rig.acquire());
        let t = rig.spawn(move |_| theirs.failure());
        rig.start();
        mine.failure();
        t.join().expect("model thread");

        assert_eq!(rig.rec.changes(), [(State::Closed, State::Open)]);
        let tally = rig.rec.tally();
        assert_eq!((tally.admitted_closed, tally.failures), (2, 2));
        assert_eq!(rig.cb.counts(), Counts::default(), "open counts are zero");
        rig.rec.assert_settled(&rig.cb);
    });
}

/// Three calls admitted in the same closed generation fail concurrently with a
/// threshold of two consecutive failures: whichever failures are counted second and
/// third both see the threshold reached and race to trip (the counts decide who
/// tries). Exactly one Closed → Open transition happens.
#[test]
fn failures_across_threshold_open_once() {
    explore("trip::failures_across_threshold_open_once", 2, || {
        let rig = setup(|b| b.ready_to_trip(|c| c.consecutive_failures >= 2));
        let mut permits: Vec<_> = (0..3).map(|_| rig.acquire()).collect();
        let mine = permits.pop().expect("three permits");
        let threads: Vec<_> = permits
            .into_iter()
            .map(|p| rig.spawn(move |_| p.failure()))
            .collect();
        rig.start();
        mine.failure();
        for t in threads {
            t.join().expect("model thread");
        }

        assert_eq!(rig.rec.changes(), [(State::Closed, State::Open)]);
        let tally = rig.rec.tally();
        assert_eq!((tally.admitted_closed, tally.failures), (3, 3));
        assert_eq!(rig.cb.counts(), Counts::default(), "open counts are zero");
        rig.rec.assert_settled(&rig.cb);
    });
}
