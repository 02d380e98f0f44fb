//! `reconfigure` racing calls: the settings are swapped whole, and every operation
//! decides with one version of them, old or new, never a mix.
//!
//! Under loom the settings cell is a mutex around an `Arc` (the production cell is
//! arc-swap, which has no loom model): these models check the breaker's protocol
//! around the swap (one load per operation, the closed generation restarted after
//! publishing a new window), not arc-swap itself.
#![cfg(loom)]

use std::time::Duration;

use warden_breaker::{CircuitBreaker, CountWindow, Counts, OpenBackoff, State};
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
