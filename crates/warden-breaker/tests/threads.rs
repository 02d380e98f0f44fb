//! Many threads on one breaker: every thread keeps a counter cell of its own
//! (there is no cliff past 64 threads), and counts are exact once no call is in
//! flight, whether the threads run together or one after another reusing slots.
#![cfg(not(loom))]

use std::sync::Barrier;

use warden_breaker::{CircuitBreaker, Counts, Outcome};

fn never_trips(name: &str) -> CircuitBreaker {
    CircuitBreaker::builder(name)
        .ready_to_trip(|_| false)
        .build()
        .expect("valid settings")
}

/// 256 threads live at once (so they hold 256 distinct slots), each making 2,000
/// calls: every 10th a failure, every 25th ignored, the rest successes. Once all
/// are joined the counts are exact.
#[test]
fn two_hundred_fifty_six_threads_count_exactly() {
    const THREADS: u32 = 256;
    const CALLS: u32 = 2_000;
    let cb = never_trips("wide");
    let start = Barrier::new(THREADS as usize);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                start.wait();
                for i in 0..CALLS {
                    let p = cb.try_acquire().expect("closed admits");
                    match (i % 10, i % 25) {
                        (0, _) => p.failure(),
                        (_, 0) => p.record(Outcome::Ignored),
                        _ => p.success(),
                    }
                }
                // Everyone stays alive until all are done: no slot is reused.
                start.wait();
            });
        }
    });
    let per_thread_failures = CALLS / 10;
    let per_thread_ignored = (0..CALLS).filter(|i| i % 25 == 0 && i % 10 != 0).count() as u32;
    let per_thread_successes = CALLS - per_thread_failures - per_thread_ignored;
    let c = cb.counts();
    assert_eq!(
        (
            c.requests,
            c.total_successes,
            c.total_failures,
            c.total_exclusions
        ),
        (
            THREADS * CALLS,
            THREADS * per_thread_successes,
            THREADS * per_thread_failures,
            THREADS * per_thread_ignored
        ),
        "{c:?}"
    );
}

/// 10,000 threads created and exited one after another, each making 10 calls
/// on two breakers: each takes the slot its predecessor gave back (and that
/// slot's cells, continuing from their counts). Nothing is lost.
#[test]
fn ten_thousand_threads_in_sequence_reuse_slots_and_lose_nothing() {
    let a = never_trips("a");
    let b = never_trips("b");
    for _ in 0..10_000 {
        std::thread::scope(|s| {
            s.spawn(|| {
                for _ in 0..10 {
                    a.call(|| Ok::<_, ()>(())).expect("closed");
                    b.call(|| Ok::<_, ()>(())).expect("closed");
                }
            });
        });
    }
    let want = Counts {
        requests: 100_000,
        total_successes: 100_000,
        consecutive_successes: 100_000,
        ..Counts::default()
    };
    assert_eq!(a.counts(), want);
    assert_eq!(b.counts(), want);
}

/// Readers summing the counts while threads make calls, exit and are replaced
/// (their slots and cells reused): a read never exceeds the calls started, and
/// once all are joined the count is exact.
#[test]
fn readers_while_threads_exit_and_slots_are_reused() {
    let cb = never_trips("churn");
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut last = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let c = cb.counts();
                assert!(c.requests <= 8 * 500 * 100, "{c:?}");
                last = c.requests;
            }
            last
        });
        for _ in 0..100 {
            std::thread::scope(|s| {
                for _ in 0..8 {
                    s.spawn(|| {
                        for _ in 0..500 {
                            cb.call(|| Ok::<_, ()>(())).expect("closed");
                        }
                    });
                }
            });
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = reader.join().expect("reader");
    });
    assert_eq!(cb.counts().requests, 8 * 500 * 100);
    assert_eq!(cb.counts().total_successes, 8 * 500 * 100);
}
