//! Open → HalfOpen and half-open admission: the transition raced by several callers,
//! the `max_requests` cap, and probe outcomes racing each other.
#![cfg(loom)]

use warden_breaker::{Counts, State};
use warden_loom_tests::{explore, setup};

/// The timeout has passed; three callers race `try_acquire` on the open breaker with
/// `max_requests = 2`. One of them turns it half-open (taking the first probe slot in
/// the same exchange); exactly one Open → HalfOpen transition is delivered, and
/// exactly two callers are admitted: never more than `max_requests`, and no slot is
/// lost to the race either.
#[test]
fn open_to_half_open_once() {
    explore("half_open::open_to_half_open_once", 3, || {
        let rig = setup(|b| b.max_requests(2).ready_to_trip(|c| c.total_failures >= 1));
        rig.open_and_expire();
        let before = rig.begin();

        let threads: Vec<_> = (0..2)
            .map(|_| rig.spawn(|rig| rig.cb.try_acquire_owned().ok()))
            .collect();
        rig.start();
        let mut permits = vec![rig.cb.try_acquire_owned().ok()];
        permits.extend(threads.into_iter().map(|t| t.join().expect("model thread")));

        let admitted = permits.iter().flatten().count();
        assert_eq!(admitted, 2, "max_requests = 2 of three callers");
        assert_eq!(
            rig.rec.changes_after(before),
            [(State::Open, State::HalfOpen)]
        );
        let tally = rig.rec.tally();
        assert_eq!((tally.admitted_half_open, tally.rejected_too_many), (2, 1));
        assert_eq!(rig.cb.counts().requests, 2);
        rig.rec.assert_settled(&rig.cb);
    });
}

/// Already half-open (no probe yet), `max_requests = 2`, three callers: each admission
/// is an exchange on the held-probe count, so exactly two are admitted. This is the
/// model the `warden_mutant` build (admission as load + store) must fail.
#[test]
fn admission_cap_two_of_three() {
    explore("half_open::admission_cap_two_of_three", 3, || {
        let rig = setup(|b| b.max_requests(2).ready_to_trip(|c| c.total_failures >= 1));
        rig.half_open();
        let before = rig.begin();

        let threads: Vec<_> = (0..2)
            .map(|_| rig.spawn(|rig| rig.cb.try_acquire_owned().ok()))
            .collect();
        rig.start();
        let mut permits = vec![rig.cb.try_acquire_owned().ok()];
        permits.extend(threads.into_iter().map(|t| t.join().expect("model thread")));

        let admitted = permits.iter().flatten().count();
        assert_eq!(admitted, 2, "max_requests = 2 of three callers");
        let tally = rig.rec.tally();
        assert_eq!((tally.admitted_half_open, tally.rejected_too_many), (2, 1));
        assert_eq!(rig.cb.counts().requests, 2, "held probes match admissions");
        assert!(rig.rec.changes_after(before).is_empty());
        rig.rec.assert_settled(&rig.cb);
    });
}

/// Two probes of one half-open generation (`max_requests = 2`) report a success and a
/// failure concurrently. Slot accounting makes closing impossible here (closing needs
/// both probes to succeed), so every interleaving ends open: the failure opens it,
/// exactly once, whether the success was counted before it or arrives stale after.
#[test]
fn probe_success_races_failure() {
    explore("half_open::probe_success_races_failure", 3, || {
        let rig = setup(|b| b.max_requests(2).ready_to_trip(|c| c.total_failures >= 1));
        rig.half_open();
        let (ok, bad) = (rig.acquire(), rig.acquire());
        let before = rig.begin();

        let t = rig.spawn(move |_| ok.success());
        rig.start();
        bad.failure();
        t.join().expect("model thread");

        assert_eq!(
            rig.rec.changes_after(before),
            [(State::HalfOpen, State::Open)]
        );
        assert_eq!(rig.cb.counts(), Counts::default());
        let tally = rig.rec.tally();
        assert_eq!((tally.successes, tally.failures), (1, 1));
        rig.rec.assert_settled(&rig.cb);
    });
}

/// The success that closes a half-open breaker races a new call that fails, with a
/// threshold of one failure. The new call is either refused (both slots still held:
/// the breaker ends closed after one HalfOpen → Closed) or admitted into the new
/// closed generation, possibly while the HalfOpen → Closed callbacks still run, and
/// its failure trips the breaker: then Closed → Open follows, exactly once, after the
/// close (handed over to the callback thread if it is still running).
#[test]
fn closing_success_races_new_failure() {
    explore("half_open::closing_success_races_new_failure", 3, || {
        let rig = setup(|b| b.max_requests(2).ready_to_trip(|c| c.total_failures >= 1));
        rig.half_open();
        rig.acquire().success();
        let last = rig.acquire();
        let before = rig.begin();

        let t = rig.spawn(move |_| last.success());
        rig.start();
        let admitted = match rig.cb.try_acquire_owned() {
            Ok(p) => {
                p.failure();
                true
            }
            Err(_) => false,
        };
        t.join().expect("model thread");

        let closed = (State::HalfOpen, State::Closed);
        if admitted {
            assert_eq!(
                rig.rec.changes_after(before),
                [closed, (State::Closed, State::Open)]
            );
        } else {
            assert_eq!(rig.rec.changes_after(before), [closed]);
            assert_eq!(rig.rec.tally().rejected_too_many, 1);
        }
        assert_eq!(
            rig.cb.counts(),
            Counts::default(),
            "new generation, nothing counted"
        );
        rig.rec.assert_settled(&rig.cb);
    });
}
