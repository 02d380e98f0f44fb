//! Counts conserved under concurrent outcomes.
#![cfg(loom)]

use warden_breaker::{Counts, Rejected, State};
use warden_loom_tests::{explore, setup};

/// Closed, never trips. One thread reports a success then a failure, another ignores
/// one call and drops another. Every increment is a tagged exchange on a shared
/// word (under loom every thread uses the shared stripe), so none is lost:
/// `requests = successes + failures + exclusions + dropped`, and the streaks end
/// with the failure, the last success-or-failure either way.
#[test]
fn closed_counts_conserved() {
    explore("counts::closed_counts_conserved", 3, || {
        let rig = setup(|b| b.ready_to_trip(|_| false));
        let before = rig.begin();

        let t = rig.spawn(|rig| {
            rig.acquire().success();
            rig.acquire().failure();
        });
        rig.start();
        rig.acquire().ignore();
        drop(rig.acquire());
        t.join().expect("model thread");

        assert_eq!(
            rig.cb.counts(),
            Counts {
                requests: 4,
                total_successes: 1,
                total_failures: 1,
                total_exclusions: 1,
                consecutive_successes: 0,
                consecutive_failures: 1,
            }
        );
        let tally = rig.rec.tally();
        assert_eq!(
            (tally.admitted(), tally.settled(), tally.dropped),
            (4, 4, 1)
        );
        assert!(rig.rec.changes_after(before).is_empty());
        rig.rec.assert_settled(&rig.cb);
        let totals = rig.cb.totals();
        assert_eq!(
            (
                totals.successes,
                totals.failures,
                totals.ignored,
                totals.dropped
            ),
            (1, 1, 1, 1),
            "{totals:?}"
        );
    });
}

/// Lifetime totals under a trip: trip at the first failure. One thread fails
/// (and trips), another makes a call that is admitted and succeeds or is refused
/// as open, depending on the interleaving, and the main thread does the same.
/// Once joined the totals are exact: every call is a success, a failure or an
/// open rejection, and the one trip is one Closed -> Open transition.
#[test]
fn totals_exact_after_racing_calls_and_a_trip() {
    explore(
        "counts::totals_exact_after_racing_calls_and_a_trip",
        3,
        || {
            let rig = setup(|b| b.ready_to_trip(|c| c.total_failures >= 1));
            let call = |rig: &warden_loom_tests::Rig| match rig.cb.try_acquire() {
                Ok(p) => {
                    p.success();
                    0
                }
                Err(r) => {
                    assert_eq!(r, Rejected::Open);
                    1
                }
            };
            let fail = rig.spawn(|rig| rig.acquire().failure());
            let other = rig.spawn(move |rig| call(&rig));
            rig.start();
            let mut refused = call(&rig);
            fail.join().expect("model thread");
            refused += other.join().expect("model thread");

            let t = rig.cb.totals();
            assert_eq!(t.failures, 1, "{t:?}");
            assert_eq!(
                (t.successes, t.rejected_open),
                (2 - refused, refused),
                "{t:?}"
            );
            assert_eq!(t.transitions(State::Closed, State::Open), 1);
            assert_eq!(t.all_transitions(), 1);
            assert_eq!(rig.rec.changes(), [(State::Closed, State::Open)]);
        },
    );
}

/// Half-open with `max_requests = 3`: one probe succeeds, one is ignored, one is
/// dropped, concurrently. Ignored and dropped probes give their slots back and are
/// still counted as requests; nothing closes or opens the breaker.
#[test]
fn half_open_counts_conserved() {
    explore("counts::half_open_counts_conserved", 3, || {
        let rig = setup(|b| b.max_requests(3).ready_to_trip(|c| c.total_failures >= 1));
        rig.half_open();
        let (a, b, c) = (rig.acquire(), rig.acquire(), rig.acquire());
        let before = rig.begin();

        let ta = rig.spawn(move |_| a.success());
        let tb = rig.spawn(move |_| b.ignore());
        rig.start();
        drop(c);
        ta.join().expect("model thread");
        tb.join().expect("model thread");

        assert_eq!(rig.cb.state(), State::HalfOpen);
        assert_eq!(
            rig.cb.counts(),
            Counts {
                requests: 3,
                total_successes: 1,
                total_exclusions: 1,
                consecutive_successes: 1,
                ..Counts::default()
            }
        );
        // The two freed slots can be taken again; the third is the success's.
        let again: Vec<_> = (0..3)
            .filter_map(|_| rig.cb.try_acquire_owned().ok())
            .collect();
        assert_eq!(again.len(), 2);
        assert!(rig.rec.changes_after(before).is_empty());
        drop(again);
        rig.rec.assert_settled(&rig.cb);
    });
}
