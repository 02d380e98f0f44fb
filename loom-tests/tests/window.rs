//! The count window: outcomes racing for numbers and slots, and failures deciding a
//! trip from a window other threads are still writing.
#![cfg(loom)]

use warden_breaker::{CountWindow, State};
use warden_loom_tests::{explore, setup};

/// Window of 2, minimum 2 calls, trip at 100 %: two closed-state failures race.
/// Whichever publishes second sees both failures, so the breaker trips exactly once
/// in every interleaving (two relaxed slot writes followed by two relaxed reads
/// could otherwise both miss the other write and never trip).
#[test]
fn racing_failures_see_each_other() {
    explore("window::racing_failures_see_each_other", 3, || {
        let rig = setup(|b| {
            b.count_window(
                CountWindow::new(2)
                    .with_min_calls(2)
                    .with_failure_rate_percent(100),
            )
        });
        let (mine, theirs) = (rig.acquire(), rig.acquire());
        let t = rig.spawn(move |_| theirs.failure());
        rig.start();
        mine.failure();
        t.join().expect("model thread");

        assert_eq!(rig.rec.changes(), [(State::Closed, State::Open)]);
        rig.rec.assert_settled(&rig.cb);
    });
}

/// Window of 3, minimum 1, trip at 34 %: two successes race for numbers and slots
/// on two threads; then, quiescent, the main thread fails twice. Exact, the window
/// is S S F after the first failure (33 %: no trip) and S F F after the second
/// (66 %: trips). A lost or misplaced success would show as S F (50 %) and trip
/// early.
#[test]
fn racing_successes_keep_the_window_exact() {
    explore("window::racing_successes_keep_the_window_exact", 3, || {
        let rig = setup(|b| {
            b.count_window(
                CountWindow::new(3)
                    .with_min_calls(1)
                    .with_failure_rate_percent(34),
            )
        });
        let (a, b) = (rig.acquire(), rig.acquire());
        let t = rig.spawn(move |_| a.success());
        rig.start();
        b.success();
        t.join().expect("model thread");

        rig.acquire().failure();
        assert!(rig.rec.changes().is_empty(), "S S F is 33 %: no trip");
        rig.acquire().failure();
        assert_eq!(rig.rec.changes(), [(State::Closed, State::Open)]);
        rig.rec.assert_settled(&rig.cb);
    });
}

/// Window of 2, minimum 2, trip at 67 %: a success (quiescent), then two failures
/// race for indices, positions and ring slots. The failure counted second has 3
/// calls and its window is the last 2, F F (100 %): it trips even when the other
/// failure's slot is not written yet (an unwritten slot of an index in the window
/// counts as in it). The failure counted first sees S F (50 %) and does not trip.
/// Exactly one Closed → Open in every interleaving.
#[test]
fn racing_failures_after_a_success_trip_once() {
    explore(
        "window::racing_failures_after_a_success_trip_once",
        3,
        || {
            let rig = setup(|b| {
                b.count_window(
                    CountWindow::new(2)
                        .with_min_calls(2)
                        .with_failure_rate_percent(67),
                )
            });
            rig.acquire().success();
            let (mine, theirs) = (rig.acquire(), rig.acquire());
            let t = rig.spawn(move |_| theirs.failure());
            rig.start();
            mine.failure();
            t.join().expect("model thread");

            assert_eq!(rig.rec.changes(), [(State::Closed, State::Open)]);
            rig.rec.assert_settled(&rig.cb);
        },
    );
}
