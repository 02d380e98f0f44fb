//! Stale outcomes and the windows' slots: a failure (or success) that passed its
//! generation check just before the generation moved on must not write a slot the
//! new generation uses.
#![cfg(loom)]

use warden_breaker::{CountWindow, Counts, Outcome, State, TimeWindow};
use warden_loom_tests::{explore, setup_bare};

/// A count window of 2 calls, tripping at 100 % of at least 2. A failure admitted in
/// the first generation races a reset and the new generation's failure, success,
/// success, failure (its window then holds one failure of two calls: no trip). The
/// stale failure may take the same ring slot as the new generation's first failure;
/// written after it, it would keep that failure in the window for good and trip the
/// breaker at the fourth call. The ring never lets an older generation's event
/// overwrite a newer one's.
#[test]
fn stale_failure_never_overwrites_the_new_generations_window() {
    explore(
        "stale_slots::stale_failure_never_overwrites_the_new_generations_window",
        3,
        || {
            let rig = setup_bare(|b| {
                b.count_window(
                    CountWindow::new(2)
                        .with_min_calls(2)
                        .with_failure_rate_percent(100),
                )
            });
            let old = rig.acquire();
            let stale = rig.spawn(move |_| old.failure());
            rig.start();
            rig.cb.reset();
            rig.acquire().failure();
            rig.acquire().success();
            rig.acquire().success();
            rig.acquire().failure();
            stale.join().expect("model thread");

            assert_eq!(rig.cb.state(), State::Closed);
            let c = rig.cb.counts();
            assert_eq!((c.requests, c.total_successes, c.total_failures), (4, 2, 2));
            assert!(rig.rec.changes().is_empty());
        },
    );
}

/// A time window of one 2 ms bucket, tripping at 100 % of at least 2 calls. The
/// first generation has a success in the bucket (so its snapshot is published); a
/// call admitted in it reports `outcome` while the main thread resets and has the
/// new generation fail twice in the same bucket, which must trip exactly once.
/// Had the stale outcome claimed the slot the new generation published, the
/// second failure would have found a snapshot taken after the first (one call,
/// not two) or none of its generation (itself alone, under the minimum of 2).
fn stale_outcome_races_the_new_generations_bucket(name: &str, outcome: Outcome) {
    explore(name, 3, move || {
        let rig = setup_bare(|b| {
            b.time_window(
                TimeWindow::new(std::time::Duration::from_millis(2))
                    .with_buckets(1)
                    .with_min_calls(2)
                    .with_failure_rate_percent(100),
            )
        });
        rig.acquire().success();
        let old = rig.acquire();
        let stale = rig.spawn(move |_| old.record(outcome));
        rig.start();
        rig.cb.reset();
        rig.acquire().failure();
        rig.acquire().failure();
        stale.join().expect("model thread");

        assert_eq!(rig.cb.state(), State::Open, "2 failures of 2 calls");
        assert_eq!(rig.cb.counts(), Counts::default());
        assert_eq!(rig.rec.changes(), [(State::Closed, State::Open)]);
    });
}

/// A stale success (the success's inline path stops at its copy of the cursor
/// unless that copy moved on).
#[test]
fn stale_outcome_never_claims_the_new_generations_bucket() {
    stale_outcome_races_the_new_generations_bucket(
        "stale_slots::stale_outcome_never_claims_the_new_generations_bucket",
        Outcome::Success,
    );
}

/// A stale failure, which reaches the bucket's slot itself: it may find the slot
/// published by the new generation, and must find its own generation over and
/// leave the slot.
#[test]
fn stale_failure_never_claims_the_new_generations_bucket() {
    stale_outcome_races_the_new_generations_bucket(
        "stale_slots::stale_failure_never_claims_the_new_generations_bucket",
        Outcome::Failure,
    );
}
