//! `reconfigure` racing calls: the settings are swapped whole, and every operation
//! decides with one version of them, old or new, never a mix.
//!
//! Under loom the settings cell is a mutex around an `Arc` (the production cell is
//! arc-swap, which has no loom model): these models check the breaker's protocol
//! around the swap (one load per operation, the closed generation restarted after
//! publishing a new window), not arc-swap itself.
#![cfg(loom)]

use std::time::Duration;

use warden_breaker::{
    CircuitBreaker, CountWindow, Counts, OpenBackoff, Rejected, SlowCalls, State, TimeWindow,
};
use warden_loom_tests::{explore, setup, setup_bare};

const MS: Duration = Duration::from_millis(1);

/// A failure that trips under the old rule (one failure, open 10 ms) races a
/// reconfiguration to a rule that never trips (open 20 ms). Either the failure saw
/// the old settings and tripped with the old timeout, or it saw the new ones and
/// only counted: never the old rule with the new timeout.
#[test]
fn reconfigure_races_a_tripping_failure() {
    explore("reconfigure::races_a_tripping_failure", 3, || {
        let rig = setup(|b| {
            b.ready_to_trip(|c| c.total_failures >= 1)
                .timeout(Duration::from_millis(10))
        });
        let permit = rig.acquire();
        let before = rig.begin();

        let t = rig.spawn(move |_| permit.failure());
        rig.start();
        rig.cb
            .reconfigure(
                CircuitBreaker::builder("loom")
                    .ready_to_trip(|_| false)
                    .timeout(Duration::from_millis(20)),
            )
            .expect("valid settings");
        t.join().expect("model thread");

        match rig.rec.changes_after(before).as_slice() {
            [] => {
                assert_eq!(rig.cb.state(), State::Closed);
                assert_eq!(rig.cb.counts().total_failures, 1, "counted, kept");
            }
            [(State::Closed, State::Open)] => {
                rig.clock.advance(Duration::from_millis(10) + MS);
                assert_eq!(rig.cb.state(), State::HalfOpen, "the old rule's timeout");
            }
            other => panic!("unexpected transitions {other:?}"),
        }
        rig.rec.assert_settled(&rig.cb);
    });
}

/// A half-open probe fails (open 1 ms, no backoff) while a reconfiguration installs
/// a 20 ms timeout with a threefold backoff. The re-opened breaker stays open for
/// the old 1 ms or the new first re-trip's 60 ms: 20 ms (the old "no backoff" with
/// the new timeout) would be a mix.
#[test]
fn reconfigure_races_a_half_open_probe() {
    explore("reconfigure::races_a_half_open_probe", 3, || {
        let rig = setup(|b| b.ready_to_trip(|c| c.total_failures >= 1));
        rig.half_open();
        let probe = rig.acquire();
        let before = rig.begin();

        let t = rig.spawn(move |_| probe.failure());
        rig.start();
        rig.cb
            .reconfigure(
                CircuitBreaker::builder("loom")
                    .ready_to_trip(|c| c.total_failures >= 1)
                    .timeout(Duration::from_millis(20))
                    .open_backoff(OpenBackoff::exponential(3, Duration::from_millis(100))),
            )
            .expect("valid settings");
        t.join().expect("model thread");

        assert_eq!(
            rig.rec.changes_after(before),
            [(State::HalfOpen, State::Open)]
        );
        rig.clock.advance(2 * MS);
        if rig.cb.state() != State::HalfOpen {
            rig.clock.advance(Duration::from_millis(20));
            assert_eq!(rig.cb.state(), State::Open, "neither 1 ms nor 60 ms: a mix");
            rig.clock.advance(Duration::from_millis(40));
            assert_eq!(rig.cb.state(), State::HalfOpen, "the new 60 ms");
        }
        rig.rec.assert_settled(&rig.cb);
    });
}

/// A failure that trips a count window of 2 races a reconfiguration to a window of
/// 4 (a new shape: a fresh closed generation with a new window, built before it is
/// published). Either the failure tripped the breaker in the old generation, or it
/// was ignored as stale and the new generation starts from zero; the new window
/// then works.
#[test]
fn reconfigure_to_a_new_window_races_a_failure() {
    let window = |size| {
        CountWindow::new(size)
            .with_min_calls(1)
            .with_failure_rate_percent(100)
    };
    explore(
        "reconfigure::to_a_new_window_races_a_failure",
        3,
        move || {
            let rig = setup_bare(|b| b.count_window(window(2)));
            let permit = rig.acquire();

            let t = rig.spawn(move |_| permit.failure());
            rig.start();
            rig.cb
                .reconfigure(CircuitBreaker::builder("loom").count_window(window(4)))
                .expect("valid settings");
            t.join().expect("model thread");

            match rig.cb.state() {
                State::Open => {}
                State::Closed => {
                    assert_eq!(rig.cb.counts(), Counts::default(), "a stale failure");
                    rig.acquire().failure();
                    assert_eq!(rig.cb.state(), State::Open, "the new window trips");
                }
                other => panic!("unexpected state {other:?}"),
            }
        },
    );
}

/// The half-open admission reads `max_requests` and the max wait from one inline
/// word, not the settings. Half-open with its one probe slot held, a max wait of
/// 2 ms already passed; a reconfiguration to two probes and no max wait races an
/// admission. The old limits re-open the breaker (the caller is refused as open),
/// the new ones admit a second probe; the old probe limit with the new "no max
/// wait" would refuse it as one probe too many: a mix. (Reading the two limits
/// from different versions fails this model.)
#[test]
fn reconfigure_races_a_half_open_admission() {
    explore("reconfigure::races_a_half_open_admission", 3, || {
        let rig = setup(|b| {
            b.ready_to_trip(|c| c.total_failures >= 1)
                .half_open_max_wait(Duration::from_millis(2))
        });
        rig.half_open();
        let _probe = rig.acquire();
        rig.clock.advance(Duration::from_millis(3));
        let before = rig.begin();

        let asker = rig.spawn(|rig| rig.cb.try_acquire_owned().map(|_| ()));
        rig.start();
        rig.cb
            .reconfigure(
                CircuitBreaker::builder("loom")
                    .ready_to_trip(|c| c.total_failures >= 1)
                    .max_requests(2),
            )
            .expect("valid settings");
        let asked = asker.join().expect("model thread");

        match asked {
            Err(Rejected::Open) => assert_eq!(
                rig.rec.changes_after(before),
                [(State::HalfOpen, State::Open)],
                "the old max wait re-opens"
            ),
            Ok(()) => {
                assert!(rig.rec.changes_after(before).is_empty());
                assert_eq!(rig.cb.state(), State::HalfOpen, "no max wait any more");
            }
            Err(Rejected::TooManyRequests) => panic!("the old probe limit, the new max wait"),
            Err(Rejected::Throttled) => panic!("no throttle is configured"),
        }
        rig.rec.assert_settled(&rig.cb);
    });
}

/// A timed success reads the slow-call threshold from an inline word and judges a
/// call that is slow by it again with the settings it then loads. A call of 2 ms
/// reports success while a reconfiguration raises the threshold from 1 ms to 5 ms
/// and the rule's minimum from 1 call to 2. Old settings: slow, and it trips. New:
/// not slow, nothing counted as slow. Counted slow by the old threshold and judged
/// by the new minimum (slow, but no trip) would be a mix.
#[test]
fn reconfigure_races_a_timed_success() {
    let rule = |threshold_ms, min_calls| {
        SlowCalls::new(Duration::from_millis(threshold_ms))
            .with_slow_rate_percent(100)
            .with_min_calls(min_calls)
    };
    explore("reconfigure::races_a_timed_success", 3, move || {
        let rig = setup_bare(|b| b.slow_calls(rule(1, 1)));
        let permit = rig.acquire();
        rig.clock.advance(Duration::from_millis(2));

        let t = rig.spawn(move |_| permit.success());
        rig.start();
        rig.cb
            .reconfigure(CircuitBreaker::builder("loom").slow_calls(rule(5, 2)))
            .expect("valid settings");
        t.join().expect("model thread");

        match rig.cb.state() {
            State::Open => assert_eq!(rig.cb.totals().slow_calls, 1),
            State::Closed => assert_eq!(rig.cb.totals().slow_calls, 0, "slow by a mix"),
            other => panic!("unexpected state {other:?}"),
        }
    });
}

/// A time-window success needs no settings while its bucket is already entered
/// (an inline copy of the window's cursor, tagged with the generation). A success
/// of the old window races a reconfiguration to a window of another shape (a new
/// closed generation, a new window): afterwards a success and a failure fill the new
/// window (2 calls, 50 %) and trip it. A cursor that still vouched for the old
/// window would let the success skip the new window's bucket: the failure would
/// then see only itself, under the minimum.
#[test]
fn reconfigure_to_a_new_time_window_races_a_success() {
    let window = |ms, buckets| {
        TimeWindow::new(Duration::from_millis(ms))
            .with_buckets(buckets)
            .with_min_calls(2)
            .with_failure_rate_percent(50)
    };
    explore(
        "reconfigure::to_a_new_time_window_races_a_success",
        3,
        move || {
            let rig = setup_bare(|b| b.time_window(window(2, 2)));
            rig.acquire().success(); // enters the old window's bucket 0
            let permit = rig.acquire();

            let t = rig.spawn(move |_| permit.success());
            rig.start();
            rig.cb
                .reconfigure(CircuitBreaker::builder("loom").time_window(window(1, 1)))
                .expect("valid settings");
            t.join().expect("model thread");

            assert_eq!(rig.cb.state(), State::Closed);
            rig.acquire().success();
            rig.acquire().failure();
            assert_eq!(rig.cb.state(), State::Open, "S F in the new window trips");
        },
    );
}
