//! Transition delivery: every transition reaches the callback and the observer exactly
//! once, in order, each delivery happening-before the next, including transitions
//! requested while an earlier transition's callbacks are still running (the
//! `PENDING`/`REQ` hand-over of `breaker.rs`).
//!
//! The [`Recorder`](warden_loom_tests::Recorder) checks order and happens-before
//! inside every callback; its callbacks do loom-visible work, so loom switches
//! threads in the middle of them ("callbacks that take time").
#![cfg(loom)]

use std::time::Duration;

use warden_breaker::State;
use warden_loom_tests::{Coverage, explore, setup};

/// Closed, trip at the first failure, `max_requests = 1`. The main thread fails a
/// call; another thread moves the clock past the timeout and then makes a call that
/// fails; a third looks at the state (which performs a due Open → HalfOpen).
/// Depending on the interleaving the breaker goes through any prefix of Closed →
/// Open → HalfOpen → Open; whatever happens, deliveries form one chain, in order,
/// once each.
///
/// Coverage: some interleavings must have the probe failure arrive while the third
/// thread is still delivering Open → HalfOpen, so that it delivers the HalfOpen →
/// Open it was handed.
#[test]
fn trip_and_recovery_deliver_in_order() {
    let handed_over = Coverage::new();
    let seen = handed_over.clone();
    explore(
        "callbacks::trip_and_recovery_deliver_in_order",
        3,
        move || {
            let rig = setup(|b| b.ready_to_trip(|c| c.total_failures >= 1));
            let prober = rig.spawn(|rig| {
                rig.clock.advance(Duration::from_millis(2));
                if let Ok(p) = rig.cb.try_acquire_owned() {
                    p.failure();
                }
            });
            let looker = rig.spawn(|rig| {
                let _ = rig.cb.state();
                loom::thread::current().id()
            });
            rig.start();
            if let Ok(p) = rig.cb.try_acquire_owned() {
                p.failure();
            }
            prober.join().expect("model thread");
            let looker = looker.join().expect("model thread");

            let delivered = rig.rec.transitions();
            assert_eq!(
                (delivered[0].from, delivered[0].to),
                (State::Closed, State::Open),
                "a failure always trips: {delivered:?}"
            );
            let tally = rig.rec.tally();
            assert_eq!(tally.admitted(), tally.settled());
            if delivered.len() == 3
                && delivered[1].thread == looker
                && delivered[2].thread == looker
            {
                seen.hit();
            }
            rig.rec.assert_settled(&rig.cb);
        },
    );
    assert!(
        handed_over.hits() > 0,
        "no interleaving handed a probe failure over"
    );
}

/// Open and due, `max_requests = 2`, trip at the first failure. Two callers race to
/// turn the breaker half-open; both are admitted (unless the failing probe is done
/// before the other asks); one succeeds, the other fails. When
/// the failure arrives while the winner is still delivering Open → HalfOpen, it
/// cannot start a transition: it sets `REQ` and the winner delivers HalfOpen → Open
/// right after. Every interleaving delivers exactly Open → HalfOpen → Open, once each,
/// in order, and ends open.
#[test]
fn probe_failure_during_half_open_callback() {
    let handed_over = Coverage::new();
    let seen = handed_over.clone();
    explore(
        "callbacks::probe_failure_during_half_open_callback",
        3,
        move || {
            let rig = setup(|b| b.max_requests(2).ready_to_trip(|c| c.total_failures >= 1));
            rig.open_and_expire();
            let before = rig.begin();

            let t = rig.spawn(|rig| {
                // Refused only if the other probe already failed.
                if let Ok(p) = rig.cb.try_acquire_owned() {
                    p.success();
                }
                loom::thread::current().id()
            });
            rig.start();
            rig.cb
                .try_acquire_owned()
                .expect("the first probe, or the second of two slots")
                .failure();
            let other = t.join().expect("model thread");

            assert_eq!(
                rig.rec.changes_after(before),
                [
                    (State::Open, State::HalfOpen),
                    (State::HalfOpen, State::Open)
                ]
            );
            let delivered = rig.rec.transitions();
            if delivered[before].thread == other && delivered[before + 1].thread == other {
                seen.hit();
            }
            rig.rec.assert_settled(&rig.cb);
        },
    );
    assert!(
        handed_over.hits() > 0,
        "no interleaving handed the failure over"
    );
}

/// Open and due, `max_requests = 2`. One thread only looks at the state (performing
/// Open → HalfOpen without taking a slot); two callers take the two probe slots and
/// succeed. When both successes land while Open → HalfOpen is still being delivered,
/// neither may close the breaker (a transition is pending); the delivering thread
/// sees the successes and closes it. Every interleaving delivers exactly Open →
/// HalfOpen → Closed, in order, and ends closed.
#[test]
fn probes_close_during_half_open_callback() {
    let handed_over = Coverage::new();
    let seen = handed_over.clone();
    explore(
        "callbacks::probes_close_during_half_open_callback",
        3,
        move || {
            let rig = setup(|b| b.max_requests(2).ready_to_trip(|c| c.total_failures >= 1));
            rig.open_and_expire();
            let before = rig.begin();

            let looker = rig.spawn(|rig| {
                let _ = rig.cb.state();
                loom::thread::current().id()
            });
            let prober = rig.spawn(|rig| {
                rig.cb
                    .try_acquire_owned()
                    .expect("two probes, two slots")
                    .success()
            });
            rig.start();
            rig.cb
                .try_acquire_owned()
                .expect("two probes, two slots")
                .success();
            let looker = looker.join().expect("model thread");
            prober.join().expect("model thread");

            assert_eq!(
                rig.rec.changes_after(before),
                [
                    (State::Open, State::HalfOpen),
                    (State::HalfOpen, State::Closed)
                ]
            );
            let delivered = rig.rec.transitions();
            if delivered[before + 1].thread == looker {
                seen.hit();
            }
            rig.rec.assert_settled(&rig.cb);
        },
    );
    assert!(
        handed_over.hits() > 0,
        "no interleaving handed the close over"
    );
}
