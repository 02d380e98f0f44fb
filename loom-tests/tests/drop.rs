//! Permits dropped without an outcome: a cancelled probe gives its half-open slot
//! back; a permit dropped while its thread panics records a failure.
#![cfg(loom)]

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use warden_breaker::{Counts, State};
use warden_loom_tests::{explore, setup};

/// The panic payload of the models' injected panics. `resume_unwind` starts the
/// unwind without running the panic hook, so thousands of interleavings print
/// nothing.
struct Injected;

/// Runs `f`, which must panic with [`Injected`], and swallows that panic.
fn expect_injected_panic(f: impl FnOnce()) {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("the call panics");
    assert!(
        payload.is::<Injected>(),
        "a panic other than the injected one"
    );
}

/// `max_requests = 1`: the only probe is cancelled (its permit dropped) while another
/// caller asks for a slot. The caller is refused before the drop and admitted after
/// it; if it was refused, a later caller gets the freed slot. Either way no slot is
/// lost, nothing is counted as an outcome, and the breaker stays half-open.
#[test]
fn dropped_probe_frees_its_slot() {
    explore("drop::dropped_probe_frees_its_slot", 3, || {
        let rig = setup(|b| b.ready_to_trip(|c| c.total_failures >= 1));
        rig.half_open();
        let probe = rig.acquire();
        let before = rig.begin();

        let t = rig.spawn(move |_| drop(probe));
        rig.start();
        let mine = rig.cb.try_acquire_owned().ok();
        t.join().expect("model thread");
        let second = mine.or_else(|| rig.cb.try_acquire_owned().ok());

        assert!(second.is_some(), "the dropped probe's slot is free again");
        assert!(rig.rec.changes_after(before).is_empty());
        assert_eq!(
            rig.cb.counts(),
            Counts {
                requests: 2,
                ..Counts::default()
            },
            "both probes counted as requests, no outcome"
        );
        let tally = rig.rec.tally();
        assert_eq!((tally.dropped, tally.settled()), (1, 1));
        drop(second);
        rig.rec.assert_settled(&rig.cb);
    });
}

/// `max_requests = 2`: a probe's call panics (the permit is dropped while unwinding)
/// while the other probe succeeds. The panic counts as a failure, so every
/// interleaving ends open, after exactly one HalfOpen → Open.
#[test]
fn panicking_probe_counts_as_failure() {
    explore("drop::panicking_probe_counts_as_failure", 3, || {
        let rig = setup(|b| b.max_requests(2).ready_to_trip(|c| c.total_failures >= 1));
        rig.half_open();
        let (panics, succeeds) = (rig.acquire(), rig.acquire());
        let before = rig.begin();

        let t = rig.spawn(move |_| {
            expect_injected_panic(move || {
                let _permit = panics;
                resume_unwind(Box::new(Injected));
            })
        });
        rig.start();
        succeeds.success();
        t.join().expect("model thread");

        assert_eq!(
            rig.rec.changes_after(before),
            [(State::HalfOpen, State::Open)]
        );
        let tally = rig.rec.tally();
        assert_eq!((tally.failures, tally.successes, tally.dropped), (1, 1, 0));
        rig.rec.assert_settled(&rig.cb);
    });
}

/// Closed, trip at the first failure: one `call` panics while another succeeds. The
/// panic propagates out of `call` and trips the breaker, exactly once.
#[test]
fn panicking_call_trips() {
    explore("drop::panicking_call_trips", 3, || {
        let rig = setup(|b| b.ready_to_trip(|c| c.total_failures >= 1));
        let before = rig.begin();

        let t = rig.spawn(|rig| {
            expect_injected_panic(|| {
                let _ = rig
                    .cb
                    .call(|| -> Result<(), ()> { resume_unwind(Box::new(Injected)) });
            })
        });
        rig.start();
        let mine = rig.cb.call(|| Ok::<_, ()>(()));
        t.join().expect("model thread");

        assert_eq!(
            rig.rec.changes_after(before),
            [(State::Closed, State::Open)]
        );
        let tally = rig.rec.tally();
        assert_eq!(tally.failures, 1);
        // The success was either admitted before the trip or refused after it.
        assert_eq!(mine.is_ok(), tally.successes == 1);
        assert_eq!(tally.admitted(), tally.settled());
        rig.rec.assert_settled(&rig.cb);
    });
}
