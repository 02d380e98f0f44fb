//! Manual control racing calls: a command is one exchange on the state word that
//! installs a new generation over whatever the breaker was doing, and a command
//! issued while a transition's callbacks run is caught up by the delivering thread.
#![cfg(loom)]

use warden_breaker::{Counts, Mode, State};
use warden_loom_tests::{Coverage, explore, setup};

/// Closed, trip at the first failure. One thread forces the breaker open while
/// two calls fail (each would trip). Whichever order: exactly one Closed → Open is
/// delivered (a trip after the command is stale; a command after the trip changes no
/// state), and the breaker ends forced open with zero counts.
#[test]
fn force_open_races_trips() {
    explore("manual::force_open_races_trips", 3, || {
        let rig = setup(|b| b.ready_to_trip(|c| c.total_failures >= 1));
        let (mine, theirs) = (rig.acquire(), rig.acquire());
        let t = rig.spawn(move |_| theirs.failure());
        let commander = rig.spawn(|rig| rig.cb.force_open());
        rig.start();
        mine.failure();
        t.join().expect("model thread");
        commander.join().expect("model thread");

        assert_eq!(rig.rec.changes(), [(State::Closed, State::Open)]);
        assert_eq!(rig.cb.mode(), Mode::ForcedOpen);
        assert_eq!(rig.cb.counts(), Counts::default());
        let tally = rig.rec.tally();
        assert_eq!((tally.admitted_closed, tally.failures), (2, 2));
        rig.rec.assert_settled(&rig.cb);
    });
}

/// Closed, trip at the first failure. A call fails (tripping) while another thread
/// resets the breaker. Either the reset comes first (the failure is stale: no
/// transition), or the trip does and the reset closes it again: Closed → Open →
/// Closed, in order, once each, even when the reset lands while Closed → Open is
/// still being delivered (then the tripping thread delivers Open → Closed too).
///
/// Coverage: some interleaving must have the reset arrive during the trip's callback.
#[test]
fn reset_during_trip_callback_is_caught_up() {
    let caught_up = Coverage::new();
    let seen = caught_up.clone();
    explore(
        "manual::reset_during_trip_callback_is_caught_up",
        3,
        move || {
            let rig = setup(|b| b.ready_to_trip(|c| c.total_failures >= 1));
            let permit = rig.acquire();
            let resetter = rig.spawn(|rig| rig.cb.reset());
            rig.start();
            permit.failure();
            let me = loom::thread::current().id();
            resetter.join().expect("model thread");

            let changes = rig.rec.changes();
            assert!(
                changes.is_empty()
                    || changes == [(State::Closed, State::Open), (State::Open, State::Closed)],
                "{changes:?}"
            );
            let delivered = rig.rec.transitions();
            if delivered.len() == 2 && delivered[1].thread == me {
                seen.hit();
            }
            assert_eq!(rig.cb.mode(), Mode::Normal);
            assert_eq!(rig.cb.counts(), Counts::default());
            rig.rec.assert_settled(&rig.cb);
        },
    );
    assert!(
        caught_up.hits() > 0,
        "no reset landed during the trip's callback"
    );
}

/// Disabled, `max_requests` irrelevant: two calls fail and one succeeds on three
/// threads while nothing may trip; then the counts are exact (requests 3, failures 2,
/// successes 1) and no transition was delivered.
#[test]
fn disabled_counts_racing_calls_and_never_trips() {
    explore(
        "manual::disabled_counts_racing_calls_and_never_trips",
        3,
        || {
            let rig = setup(|b| b.ready_to_trip(|c| c.total_failures >= 1));
            rig.cb.disable();
            let (a, b, c) = (rig.acquire(), rig.acquire(), rig.acquire());
            let t1 = rig.spawn(move |_| a.failure());
            let t2 = rig.spawn(move |_| b.failure());
            rig.start();
            c.success();
            t1.join().expect("model thread");
            t2.join().expect("model thread");

            assert!(rig.rec.changes().is_empty());
            assert_eq!(
                (rig.cb.state(), rig.cb.mode()),
                (State::Closed, Mode::Disabled)
            );
            let counts = rig.cb.counts();
            assert_eq!(
                (
                    counts.requests,
                    counts.total_failures,
                    counts.total_successes
                ),
                (3, 2, 1)
            );
            rig.rec.assert_settled(&rig.cb);
        },
    );
}
