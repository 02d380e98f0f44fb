//! Commands racing a transition the delivering thread performs on someone else's
//! behalf: a failed probe's re-open, a successful probe's close. The delivering
//! thread decides what follows its callbacks from one look at the state word and
//! names the transition only once its exchange succeeded, so a command landing
//! between that look and the exchange never breaks the callback chain (the
//! recorder checks every `from` against the previous `to` as the callbacks run).
#![cfg(loom)]

use warden_breaker::{Mode, State};
use warden_loom_tests::{Coverage, explore, setup};

/// Open with its timeout passed, `max_requests = 2`, trip at the first failure. One
/// thread looks at the state (turning the breaker half-open and delivering Open →
/// HalfOpen), another takes a probe and fails it (during those callbacks: a re-open
/// handed to the delivering thread), and the main thread resets the breaker.
/// Whatever the order, the transitions form one chain ending in the breaker's state,
/// and the reset took effect.
///
/// Coverage: some interleaving must have the delivering thread catch up with the
/// reset (deliver a transition to Closed it did not start).
#[test]
fn handed_over_reopen_races_a_reset() {
    let caught_up = Coverage::new();
    let seen = caught_up.clone();
    explore(
        "commands_chain::handed_over_reopen_races_a_reset",
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
                if let Ok(p) = rig.cb.try_acquire_owned() {
                    p.failure();
                }
            });
            rig.start();
            rig.cb.reset();
            let looker = looker.join().expect("model thread");
            prober.join().expect("model thread");

            let delivered = rig.rec.transitions();
            if delivered[before..]
                .iter()
                .any(|t| t.thread == looker && t.to == State::Closed)
            {
                seen.hit();
            }
            assert_eq!(rig.cb.mode(), Mode::Normal);
            rig.rec.assert_settled(&rig.cb);
        },
    );
    assert!(
        caught_up.hits() > 0,
        "no reset was caught up by the delivering thread"
    );
}

/// Open with its timeout passed, `max_requests = 1`. One thread turns the breaker
/// half-open, another's probe succeeds (during those callbacks: a close handed to the
/// delivering thread), and the main thread forces the breaker open. The chain stays
/// unbroken and the breaker ends forced open.
#[test]
fn handed_over_close_races_a_force_open() {
    explore(
        "commands_chain::handed_over_close_races_a_force_open",
        3,
        || {
            let rig = setup(|b| b.max_requests(1).ready_to_trip(|c| c.total_failures >= 1));
            rig.open_and_expire();
            let looker = rig.spawn(|rig| {
                let _ = rig.cb.state();
            });
            let prober = rig.spawn(|rig| {
                if let Ok(p) = rig.cb.try_acquire_owned() {
                    p.success();
                }
            });
            rig.start();
            rig.cb.force_open();
            looker.join().expect("model thread");
            prober.join().expect("model thread");

            assert_eq!(
                (rig.cb.state(), rig.cb.mode()),
                (State::Open, Mode::ForcedOpen)
            );
            rig.rec.assert_settled(&rig.cb);
        },
    );
}
