//! Transitions on time: the ticker's look at a scheduled breaker
//! (`CircuitBreaker::schedule_transitions`) racing the breaker's own calls and
//! commands. The look is the ticker thread's code (`loom_look`: take the
//! registrations, perform the due transition with `state()`, read the next
//! deadline), run here on a model thread; the agenda around it is single-threaded
//! and has unit tests of its own.
#![cfg(loom)]

use std::time::Duration;

use warden_breaker::__private::{loom_look, loom_next_look, loom_schedule, loom_told};
use warden_breaker::{Mode, State};
use warden_loom_tests::{Coverage, explore, setup, setup_bare};

/// A scheduled breaker is open (its deadline registered, the ticker told). Another
/// thread forces it open for longer: a command that keeps the state registers a
/// later deadline, which does not tell the ticker (an earlier registration is
/// waiting). Meanwhile the ticker looks. Either the look read that registration and
/// then saw the command's word (it returns the new deadline), or it came first and
/// the registration found nothing waiting and told the ticker: the new deadline is
/// never lost.
///
/// Weakening the registration's Release or the look's Acquire lets the look read the
/// registration and still see the old word (the look then reports the old deadline
/// and nobody tells the ticker).
#[test]
fn a_registration_racing_the_look_is_never_lost() {
    let seen_by_look = Coverage::new();
    let hits = seen_by_look.clone();
    explore(
        "schedule::a_registration_racing_the_look_is_never_lost",
        3,
        move || {
            let rig = setup_bare(|b| b.ready_to_trip(|c| c.total_failures >= 1));
            loom_schedule(&rig.cb);
            rig.open();
            assert!(loom_told(&rig.cb), "the trip told the ticker");
            let commander = rig.spawn(|rig| rig.cb.force_open_for(Duration::from_millis(5)));
            rig.start();
            let look = loom_look(&rig.cb);
            commander.join().expect("model thread");
            let told = loom_told(&rig.cb);
            let wanted = loom_next_look(&rig.cb);
            assert!(wanted.is_some(), "forced open until a deadline");
            if !told {
                hits.hit();
            }
            assert!(
                told || look == wanted,
                "the forced deadline was registered without telling the ticker, and the \
                 look saw {look:?} instead of {wanted:?}"
            );
        },
    );
    assert!(
        seen_by_look.hits() > 0,
        "no interleaving had the look pick up the registration itself"
    );
}

/// Open with its timeout passed, scheduled, `max_requests = 1`. The ticker looks
/// (turning the breaker half-open), a call takes the probe and succeeds (it may turn
/// the breaker half-open itself), and the main thread resets the breaker. Open →
/// HalfOpen is delivered at most once, by whichever exchange won, and every
/// delivered transition starts where the previous one ended (the recorder checks
/// that inside the callbacks).
///
/// Coverage: the ticker's look delivers Open → HalfOpen in some interleavings and
/// the call does in others.
#[test]
fn the_look_races_a_probe_and_a_reset() {
    let by_look = Coverage::new();
    let by_call = Coverage::new();
    let (look_hits, call_hits) = (by_look.clone(), by_call.clone());
    explore(
        "schedule::the_look_races_a_probe_and_a_reset",
        3,
        move || {
            let rig = setup(|b| b.max_requests(1).ready_to_trip(|c| c.total_failures >= 1));
            loom_schedule(&rig.cb);
            rig.open_and_expire();
            let before = rig.begin();
            let ticker = rig.spawn(|rig| {
                let _ = loom_look(&rig.cb);
                loom::thread::current().id()
            });
            let prober = rig.spawn(|rig| {
                if let Ok(p) = rig.cb.try_acquire_owned() {
                    p.success();
                }
                loom::thread::current().id()
            });
            rig.start();
            rig.cb.reset();
            let ticker = ticker.join().expect("model thread");
            let prober = prober.join().expect("model thread");

            let delivered = rig.rec.transitions();
            let half_open: Vec<_> = delivered[before..]
                .iter()
                .filter(|t| (t.from, t.to) == (State::Open, State::HalfOpen))
                .collect();
            assert!(
                half_open.len() <= 1,
                "Open -> HalfOpen twice: {delivered:?}"
            );
            match half_open.first() {
                Some(t) if t.thread == ticker => look_hits.hit(),
                Some(t) if t.thread == prober => call_hits.hit(),
                _ => {}
            }
            assert_eq!(rig.cb.mode(), Mode::Normal);
            rig.rec.assert_settled(&rig.cb);
        },
    );
    assert!(
        by_look.hits() > 0,
        "the look never delivered Open -> HalfOpen"
    );
    assert!(
        by_call.hits() > 0,
        "the call never delivered Open -> HalfOpen"
    );
}

/// Half-open with a max wait that passed, scheduled. The ticker looks (re-opening
/// it, as a failed probe would) while a probe fails: the breaker re-opens once, and
/// the re-open's deadline is what the look or a registration hands the ticker next.
#[test]
fn the_look_races_a_failed_probe_at_the_max_wait() {
    explore(
        "schedule::the_look_races_a_failed_probe_at_the_max_wait",
        3,
        || {
            let rig = setup(|b| {
                b.max_requests(2)
                    .half_open_max_wait(Duration::from_millis(1))
                    .ready_to_trip(|c| c.total_failures >= 1)
            });
            loom_schedule(&rig.cb);
            rig.half_open();
            let probe = rig.acquire();
            rig.clock.advance(Duration::from_millis(2));
            let _ = loom_told(&rig.cb);
            let before = rig.begin();
            let ticker = rig.spawn(|rig| loom_look(&rig.cb));
            rig.start();
            probe.failure();
            let look = ticker.join().expect("model thread");
            let told = loom_told(&rig.cb);

            let changes = rig.rec.changes_after(before);
            assert_eq!(changes, [(State::HalfOpen, State::Open)], "one re-open");
            let wanted = loom_next_look(&rig.cb);
            assert!(wanted.is_some(), "open: a deadline");
            assert!(
                told || look == wanted,
                "the re-open's deadline reached neither the look ({look:?}) nor the \
                 ticker ({wanted:?})"
            );
            rig.rec.assert_settled(&rig.cb);
        },
    );
}

/// A breaker is scheduled (`schedule_transitions`) while another thread trips it.
/// Whatever the order, the open deadline reaches the ticker: either the attach
/// reads the word once the trip's delivery ended, or the delivery's end sees the
/// scheduler's cell and registers it itself. Weakening the attach's Release or the
/// delivery end's Acquire fence lets both miss each other.
#[test]
fn attaching_races_a_trip() {
    explore("schedule::attaching_races_a_trip", 3, || {
        let rig = setup_bare(|b| b.ready_to_trip(|c| c.total_failures >= 1));
        let tripper = rig.spawn(|rig| rig.acquire().failure());
        rig.start();
        loom_schedule(&rig.cb);
        tripper.join().expect("model thread");
        assert_eq!(rig.cb.state(), State::Open);
        assert!(
            loom_told(&rig.cb),
            "the open deadline was registered by neither the attach nor the delivery"
        );
    });
}
