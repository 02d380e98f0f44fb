//! The production counter path under loom: threads that own a counter stripe bump
//! it with a plain load and store (no read-modify-write), racing the readers of
//! `counts()` and the sweep that retags stale stripes. Each model turns owned slots
//! on (`__private::loom_owned_slots`); this file is its own test binary, so the
//! other models keep the shared-stripe path.
#![cfg(loom)]

use warden_breaker::__private::{SWEEP_PERIOD, loom_owned_slots};
use warden_breaker::{Counts, State};
use warden_loom_tests::{explore, setup_bare, setup_bare_at_generation};

/// Closed, never trips, no observer (the fast paths). Two threads each make two
/// successful calls on their own stripe while the main thread, which owns a third,
/// makes one and reads the counts. A read while calls are in flight never exceeds
/// what was done; once the threads are joined the counts are exact.
#[test]
fn owned_stripes_count_exactly() {
    loom_owned_slots(true);
    // Bound 2: bound 3 explores 68,670 interleavings in 20 s.
    explore("owned_slots::owned_stripes_count_exactly", 2, || {
        let rig = setup_bare(|b| b.ready_to_trip(|_| false));
        let calls = |rig: &warden_loom_tests::Rig| {
            for _ in 0..2 {
                rig.acquire().success();
            }
        };
        let a = rig.spawn(move |rig| calls(&rig));
        let b = rig.spawn(move |rig| calls(&rig));
        rig.start();
        rig.acquire().success();
        let during = rig.cb.counts();
        let during_totals = rig.cb.totals().successes;
        assert!((1..=5).contains(&during_totals), "{during_totals}");
        assert!(
            during.requests <= 5 && during.total_successes <= 5,
            "{during:?}"
        );
        assert!(
            during.requests >= 1 && during.total_successes >= 1,
            "{during:?}"
        );
        a.join().expect("model thread");
        b.join().expect("model thread");

        assert_eq!(
            rig.cb.counts(),
            Counts {
                requests: 5,
                total_successes: 5,
                consecutive_successes: 5,
                ..Counts::default()
            }
        );
        assert_eq!(rig.cb.totals().successes, 5);
    });
}

/// Closed in the generation just before a sweep, trip at the first failure,
/// `max_requests = 1`, no observer. A success admitted there races (on its own
/// stripe) the main thread's failure, whose trip starts the sweep generation and
/// sweeps the stripes, then the probe that closes the breaker and one call in the
/// new closed generation. Whenever the stale store lands, before, during or after
/// the sweep's exchange on that stripe, the new generation counts exactly its own
/// call.
#[test]
fn owned_stripe_races_the_sweep() {
    loom_owned_slots(true);
    explore("owned_slots::owned_stripe_races_the_sweep", 3, || {
        let rig = setup_bare_at_generation(SWEEP_PERIOD - 1, |b| {
            b.ready_to_trip(|c| c.total_failures >= 1)
        });
        let old = rig.acquire();
        let t = rig.spawn(move |_| old.success());
        rig.start();
        rig.acquire().failure();
        rig.expire();
        rig.acquire().success();
        // The close may be pending, handed to the stale success's thread (its stale
        // report evaluated time): then wait for it.
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
    });
}
