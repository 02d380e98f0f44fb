//! The production counter path under loom: threads that own a counter cell (created
//! on their first call, through the breaker's directory past the first slots) bump
//! it with a plain load and store (no read-modify-write), racing the readers of
//! `counts()` (which read a cell as a seqlock: its generation word, which names the
//! full generation of its counts, around the counts) and the sweep (which retags the
//! shared words and must leave owned cells alone). Each model turns owned slots
//! on (`__private::loom_owned_slots`); this file is its own test binary, so the
//! other models keep the shared-stripe path.
#![cfg(loom)]

use warden_breaker::__private::{SWEEP_PERIOD, loom_exit_thread, loom_owned_slots};
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
/// sweeps the shared words, then the probe that closes the breaker and one call in
/// the new closed generation. Whenever the stale report lands, before, during or
/// after the sweep, the new generation counts exactly its own call.
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

/// Slot reuse: two threads each make two successful calls and exit (giving their
/// slot back), racing each other and the main thread's reads. The second may
/// take the slot the first gave back, and with it the first's cell, which it
/// then bumps with plain loads and stores continuing from the first's count (the
/// registry's lock orders the hand-over); or a slot of its own. Either way no
/// call is lost: once both are joined the counts are exact.
#[test]
fn an_exited_threads_slot_and_cell_are_reused_exactly() {
    loom_owned_slots(true);
    explore(
        "owned_slots::an_exited_threads_slot_and_cell_are_reused_exactly",
        2,
        || {
            let rig = setup_bare(|b| b.ready_to_trip(|_| false));
            let calls = |rig: &warden_loom_tests::Rig| {
                for _ in 0..2 {
                    rig.acquire().success();
                }
                loom_exit_thread();
            };
            let a = rig.spawn(move |rig| calls(&rig));
            let b = rig.spawn(move |rig| calls(&rig));
            rig.start();
            let during = rig.cb.counts();
            assert!(during.requests <= 4, "{during:?}");
            a.join().expect("model thread");
            b.join().expect("model thread");
            assert_eq!(
                rig.cb.counts(),
                Counts {
                    requests: 4,
                    total_successes: 4,
                    consecutive_successes: 4,
                    ..Counts::default()
                }
            );
        },
    );
}

/// Past the owned slots: under loom there are 3 (two direct cells and one in the
/// directory's first level). The main thread and three model threads each make
/// one successful call, so at least one thread finds every slot taken and uses
/// the shared cell (compare-and-swap), whose creation races the other threads'
/// cells and the reads. Exact once joined.
#[test]
fn threads_beyond_the_slots_share_one_cell_exactly() {
    loom_owned_slots(true);
    explore(
        "owned_slots::threads_beyond_the_slots_share_one_cell_exactly",
        1,
        || {
            let rig = setup_bare(|b| b.ready_to_trip(|_| false));
            rig.acquire().success();
            let threads: Vec<_> = (0..3)
                .map(|_| rig.spawn(move |rig| rig.acquire().success()))
                .collect();
            rig.start();
            let during = rig.cb.counts();
            assert!(during.requests <= 4, "{during:?}");
            for t in threads {
                t.join().expect("model thread");
            }
            assert_eq!(
                rig.cb.counts(),
                Counts {
                    requests: 4,
                    total_successes: 4,
                    consecutive_successes: 4,
                    ..Counts::default()
                }
            );
        },
    );
}

/// A call admitted in one closed generation reports success after a `reset()` began
/// the next, on the thread whose own cell has already counted a success of the new
/// generation, while another thread succeeds too. The late success is stale: it
/// never moves the thread's cell back to its own generation, which would wipe the
/// new generation's success there (a plain store writes the owned cell: the
/// outcome's generation check keeps it out, and a cell only ever moves to a later
/// generation).
#[test]
fn a_stale_success_keeps_the_new_generations_counts() {
    loom_owned_slots(true);
    explore(
        "owned_slots::a_stale_success_keeps_the_new_generations_counts",
        3,
        || {
            let rig = setup_bare(|b| b.ready_to_trip(|_| false));
            let stale = rig.acquire();
            rig.cb.reset();
            let a = rig.spawn(move |rig| rig.acquire().success());
            rig.start();
            rig.acquire().success();
            stale.success();
            a.join().expect("model thread");
            assert_eq!(
                rig.cb.counts(),
                Counts {
                    requests: 2,
                    total_successes: 2,
                    consecutive_successes: 2,
                    ..Counts::default()
                }
            );
            assert_eq!(rig.cb.state(), State::Closed);
        },
    );
}
