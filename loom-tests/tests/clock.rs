//! `ManualClock`'s promise: a thread that sees the time another thread set also sees
//! what that thread did before moving it. Models with a time window rely on it (a
//! thread at the new tick sees the outcomes of the old one, see `time_window.rs`).
#![cfg(loom)]

use std::time::Duration;

use loom::sync::Arc;
use loom::sync::atomic::{AtomicU64, Ordering};
use warden_breaker::{Clock, ManualClock};
use warden_loom_tests::explore;

/// One thread stores a value (`Relaxed`: only the clock may order it) and moves the
/// clock 1 ms; another reads the clock and, if it sees the new time, the value. It
/// must be the stored one: `advance` releases, `now_nanos` acquires.
#[test]
fn a_thread_seeing_the_new_time_sees_what_came_before() {
    explore(
        "clock::a_thread_seeing_the_new_time_sees_what_came_before",
        3,
        || {
            let clock = ManualClock::new();
            let data = Arc::new(AtomicU64::new(0));
            // Both threads start with an RMW on one word, so loom explores either
            // order (its gap with threads that start with loads: see the README).
            let gate = Arc::new(AtomicU64::new(0));
            let (c, d, g) = (clock.clone(), Arc::clone(&data), Arc::clone(&gate));
            let t = loom::thread::spawn(move || {
                g.fetch_add(1, Ordering::Relaxed);
                d.store(1, Ordering::Relaxed);
                c.advance(Duration::from_millis(1));
            });
            gate.fetch_add(1, Ordering::Relaxed);
            if clock.now_nanos() == 1_000_000 {
                assert_eq!(
                    data.load(Ordering::Relaxed),
                    1,
                    "saw the new time without what came before it"
                );
            }
            t.join().expect("model thread");
        },
    );
}
