//! The adaptive throttle's counts: outcomes recorded on two threads while a third
//! decides an admission. Its window is the time window's bucket ring over the
//! per-thread counts, its last evaluation one word; racing evaluations may store
//! in either order (documented), but no outcome may be lost from the window.
#![cfg(loom)]

use std::time::Duration;

use warden_breaker::{AdaptiveThrottle, Rejected, State};
use warden_loom_tests::{explore, setup_bare};

/// A draw state whose first draw is below 2^32 / 100: a call is rejected under it
/// whenever the rejection probability is at least 1 %.
fn low_draw_start() -> u64 {
    (0u64..)
        .find(|&start| {
            AdaptiveThrottle::set_thread_draws(start);
            AdaptiveThrottle::draw() < u32::MAX / 100
        })
        .expect("a draw state")
}

/// 2 ms in 2 buckets, k = 2, from the first request. Bucket 0 holds a success
/// (requests 1, accepts 1: nothing shed). At tick 1 another thread records a
/// failure and a third a success, both into the new bucket (racing to claim its
/// ring slot and snapshot the counts), while the main thread asks for admission
/// (it reads the last evaluation). Then, on the main thread: its own call fails,
/// and one more failure. The window then holds S F S F F (requests 5, accepts 2:
/// probability 1/6), so an admission with a draw under 1 % must be rejected.
/// Losing either racing failure from the window (requests 4: probability 0), or
/// a snapshot taken after an outcome of its bucket, admits it.
#[test]
fn outcomes_racing_a_decision_all_reach_the_window() {
    let start = low_draw_start();
    explore(
        "throttle::outcomes_racing_a_decision_all_reach_the_window",
        // Three threads: bound 3 explores 689,907 interleavings in 182 s on the
        // loaded 2-core VM, too long for CI; 2 keeps it in seconds.
        2,
        move || {
            let rig = setup_bare(|b| {
                b.adaptive_throttle(
                    AdaptiveThrottle::new(Duration::from_millis(2))
                        .with_buckets(2)
                        .with_min_requests(1),
                )
            });
            rig.acquire().success();
            let (failing, ok) = (rig.acquire(), rig.acquire());
            rig.clock.advance(Duration::from_millis(1));
            let t1 = rig.spawn(move |_| failing.failure());
            let t2 = rig.spawn(move |_| ok.success());
            rig.start();
            // Nothing was failing before the racing failure, and it alone makes
            // requests - 2 accepts at most 3 - 4: this admission is never shed.
            let mine = rig.cb.try_acquire().expect("not shed");
            t1.join().expect("model thread");
            t2.join().expect("model thread");
            mine.failure();
            rig.acquire().failure();
            AdaptiveThrottle::set_thread_draws(start);
            assert_eq!(
                rig.cb.try_acquire().map(drop),
                Err(Rejected::Throttled),
                "the window lost an outcome"
            );
            assert_eq!(rig.cb.state(), State::Closed);
        },
    );
}

/// Admissions look at the throttle only while the breaker's shedding bit is set,
/// which each evaluation updates from the last evaluation word. Here two
/// failures race, each evaluating after its own record, so either may store
/// last and each saw the window with or without the other's failure (S F:
/// nothing shed, S F F: a quarter shed): whichever evaluation stores last, at
/// rest an admission must agree with it (rejected under a draw below 1 %
/// exactly when the stored probability is above it). A bit left by the
/// evaluation before the last, clear over a window that sheds, admits it.
#[test]
fn the_shedding_bit_follows_the_last_of_racing_evaluations() {
    let start = low_draw_start();
    explore(
        "throttle::the_shedding_bit_follows_the_last_of_racing_evaluations",
        2,
        move || {
            let rig = setup_bare(|b| {
                b.adaptive_throttle(
                    AdaptiveThrottle::new(Duration::from_millis(2))
                        .with_buckets(2)
                        .with_min_requests(1),
                )
            });
            rig.acquire().success();
            let (a, b) = (rig.acquire(), rig.acquire());
            let t1 = rig.spawn(move |_| a.failure());
            let t2 = rig.spawn(move |_| b.failure());
            rig.start();
            t1.join().expect("model thread");
            t2.join().expect("model thread");
            let sheds = rig.cb.throttle_probability() >= 0.01;
            AdaptiveThrottle::set_thread_draws(start);
            let admitted = rig.cb.try_acquire().map(drop);
            if sheds {
                assert_eq!(
                    admitted,
                    Err(Rejected::Throttled),
                    "the bit missed a shedding evaluation"
                );
            } else {
                assert_eq!(
                    admitted,
                    Ok(()),
                    "shed with the last evaluation shedding nothing"
                );
            }
        },
    );
}
