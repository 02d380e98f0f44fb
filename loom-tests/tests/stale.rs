//! Stale generations: outcomes of calls admitted in an older generation change
//! nothing, whatever they race with.
#![cfg(loom)]

use warden_breaker::{Counts, State};
use warden_loom_tests::{explore, setup, setup_bare};

/// `max_requests = 2`. The setup leaves two stale permits behind: one admitted while
/// closed, one probe of an earlier half-open generation (whose sibling probe failed
/// and reopened the breaker); then the timeout passes again. Now a fresh caller
/// turns the breaker half-open and its probe succeeds, while the stale closed permit
/// reports a success and the stale probe is dropped.
///
/// Had the stale success counted, the second success would close the breaker; had
/// the stale drop given back a slot, the held-probe count would underflow or free a
/// slot nobody holds. Every interleaving ends half-open with exactly the fresh
/// probe's success counted, after exactly one more Open → HalfOpen (which the stale
/// reports may perform themselves: like gobreaker they still evaluate time).
#[test]
fn stale_outcomes_change_nothing() {
    explore("stale::stale_outcomes_change_nothing", 3, || {
        let rig = setup(|b| b.max_requests(2).ready_to_trip(|c| c.total_failures >= 1));
        let closed_permit = rig.acquire();
        rig.half_open();
        let old_probe = rig.acquire();
        rig.acquire().failure();
        assert_eq!(rig.cb.state(), State::Open);
        rig.expire();
        let before = rig.begin();

        let a = rig.spawn(move |_| closed_permit.success());
        let b = rig.spawn(move |_| drop(old_probe));
        rig.start();
        rig.acquire().success();
        a.join().expect("model thread");
        b.join().expect("model thread");

        assert_eq!(
            rig.rec.changes_after(before),
            [(State::Open, State::HalfOpen)]
        );
        assert_eq!(
            rig.cb.counts(),
            Counts {
                requests: 1,
                total_successes: 1,
                consecutive_successes: 1,
                ..Counts::default()
            }
        );
        let tally = rig.rec.tally();
        assert_eq!(
            (tally.admitted_half_open, tally.successes, tally.dropped),
            (1, 2, 1)
        );
        rig.rec.assert_settled(&rig.cb);
    });
}

/// A closed-state failure admitted before a trip arrives while another failure trips
/// the breaker (threshold: one failure). Whether it lands first (and trips itself) or
/// after the trip (stale), there is exactly one Closed → Open.
#[test]
fn stale_failure_races_trip() {
    explore("stale::stale_failure_races_trip", 3, || {
        let rig = setup(|b| b.ready_to_trip(|c| c.total_failures >= 1));
        let (first, second) = (rig.acquire(), rig.acquire());
        let before = rig.begin();

        let t = rig.spawn(move |_| first.failure());
        rig.start();
        second.failure();
        t.join().expect("model thread");

        assert_eq!(
            rig.rec.changes_after(before),
            [(State::Closed, State::Open)]
        );
        assert_eq!(rig.cb.counts(), Counts::default());
        rig.rec.assert_settled(&rig.cb);
    });
}

/// Without an observer a closed success takes the fast path: one comparison of the
/// live word with the admission word, then a counter bump. Here that success comes
/// from a call admitted in the first closed generation while the main thread trips
/// the breaker, lets the timeout pass, closes it with a successful probe
/// (`max_requests = 1`) and makes one successful call in the new closed generation.
/// Whenever the old success lands, the new generation counts exactly its own call:
/// a bump from the old generation that landed after the check must not overwrite
/// the new generation's count.
#[test]
fn stale_fast_path_success_keeps_new_counts() {
    explore("stale::stale_fast_path_success_keeps_new_counts", 3, || {
        let rig = setup_bare(|b| b.ready_to_trip(|c| c.total_failures >= 1));
        let old = rig.acquire();

        let t = rig.spawn(move |_| old.success());
        rig.start();
        rig.acquire().failure();
        rig.expire();
        rig.acquire().success();
        // The close may still be pending, handed over to the old success's thread
        // (its stale report evaluated time and turned the breaker half-open): then
        // the breaker refuses until that thread has closed it.
        match rig.cb.try_acquire_owned() {
            Ok(p) => {
                p.success();
                t.join().expect("model thread");
            }
            Err(_) => {
                t.join().expect("model thread");
                rig.acquire().success();
            }
        }

        assert_eq!(
            rig.rec.changes(),
            [
                (State::Closed, State::Open),
                (State::Open, State::HalfOpen),
                (State::HalfOpen, State::Closed)
            ]
        );
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
