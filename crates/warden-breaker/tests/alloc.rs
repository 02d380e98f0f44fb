//! Zero allocations per call: a counting global allocator proves that the
//! closed, open and half-open paths (admission, outcome, rejection and the
//! transitions between them) never allocate.
//!
//! The allocator counts per thread, so tests running in parallel on other
//! threads do not disturb the count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use warden_breaker::{
    CircuitBreaker, CountWindow, Error, ManualClock, Rejected, SlowCalls, State, TimeWindow,
};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// The only `unsafe` in the workspace's tests: a `GlobalAlloc` impl must be unsafe.
#[allow(unsafe_code)]
// SAFETY: every method forwards to `System` with the caller's arguments unchanged;
// the extra work is a thread-local counter bump, which does not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_in(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

fn breaker() -> (CircuitBreaker, ManualClock) {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::builder("alloc")
        .max_requests(2)
        .timeout(Duration::from_secs(1))
        .clock(clock.clone())
        .build()
        .expect("valid settings");
    // Warm-up: the first call of a thread claims its counter slot, and its first
    // look at the settings (here a failure) claims arc-swap's per-thread node, once.
    let _ = cb.call(|| Ok::<_, ()>(()));
    let _ = cb.call(|| Err::<(), _>(()));
    (cb, clock)
}

#[test]
fn closed_path_does_not_allocate() {
    let (cb, _clock) = breaker();
    let n = allocations_in(|| {
        for i in 0..10_000u32 {
            // Failures never reach the trip threshold: every 4th call fails.
            let r = cb.call(|| if i % 4 == 0 { Err(i) } else { Ok(i) });
            assert!(r.is_ok() || matches!(r, Err(Error::Inner(_))));
            let p = cb.try_acquire().expect("closed admits");
            p.success();
            drop(cb.try_acquire()); // dropped unreported
            cb.try_acquire().expect("closed admits").ignore();
        }
        assert_eq!(cb.counts().requests, 40_002); // the warm-up made 2
    });
    assert_eq!(n, 0, "allocations on the closed path");
}

#[test]
fn open_path_and_transitions_do_not_allocate() {
    let (cb, clock) = breaker();
    let n = allocations_in(|| {
        for _ in 0..100 {
            // Closed -> Open.
            for _ in 0..6 {
                let _ = cb.call(|| Err::<(), _>(()));
            }
            assert_eq!(cb.state(), State::Open);
            for _ in 0..1_000 {
                assert!(matches!(
                    cb.call(|| Ok::<_, ()>(())),
                    Err(Error::Rejected(Rejected::Open))
                ));
            }
            // Open -> HalfOpen, saturated, then HalfOpen -> Closed.
            clock.advance(Duration::from_millis(1001));
            let a = cb.try_acquire().expect("probe 1");
            let b = cb.try_acquire().expect("probe 2");
            for _ in 0..1_000 {
                assert!(matches!(
                    cb.call(|| Ok::<_, ()>(())),
                    Err(Error::Rejected(Rejected::TooManyRequests))
                ));
            }
            drop(b); // released
            a.success();
            cb.try_acquire().expect("probe 2 again").success();
            assert_eq!(cb.state(), State::Closed);
        }
    });
    assert_eq!(n, 0, "allocations on open/half-open paths and transitions");
}

#[test]
fn window_policies_do_not_allocate() {
    let clock = ManualClock::new();
    let policies = [
        CircuitBreaker::builder("count")
            .count_window(
                CountWindow::new(16)
                    .with_min_calls(4)
                    .with_failure_rate_percent(90),
            )
            .slow_calls(
                SlowCalls::new(Duration::from_millis(5))
                    .with_slow_rate_percent(90)
                    .with_min_calls(4),
            ),
        CircuitBreaker::builder("time")
            .time_window(
                TimeWindow::new(Duration::from_millis(40))
                    .with_buckets(4)
                    .with_min_calls(4)
                    .with_failure_rate_percent(90),
            )
            .slow_calls(
                SlowCalls::new(Duration::from_millis(5))
                    .with_slow_rate_percent(90)
                    .with_min_calls(4),
            ),
    ];
    for builder in policies {
        let cb = builder
            .clock(clock.clone())
            .build()
            .expect("valid settings");
        let _ = cb.call(|| Ok::<_, ()>(())); // claims this thread's counter slot
        // The first outcome recorded off the fast path allocates the breaker's claim
        // words (one chunk, see `claims.rs`), once.
        let _ = cb.call(|| Err::<(), _>(()));
        let n = allocations_in(|| {
            for i in 0..10_000u32 {
                // Every 4th call fails and every 8th is slow: rates under 90 %, while
                // buckets rotate and rings wrap.
                let r = cb.call(|| {
                    if i % 8 == 0 {
                        clock.advance(Duration::from_millis(6));
                    }
                    if i % 4 == 0 { Err(i) } else { Ok(i) }
                });
                assert!(r.is_ok() || matches!(r, Err(Error::Inner(_))));
            }
            assert_eq!(cb.state(), State::Closed);
        });
        assert_eq!(n, 0, "allocations with {}", cb.name());
    }
}

/// Many breakers, many threads: a thread allocates its counter cell in a breaker
/// on its first call there, and nothing on any later call, whichever slot it got
/// (threads past the first few reach their cells through the breaker's
/// directory). 72 threads live at once, so slots beyond 64 are covered; each
/// calls 200 breakers (success, failure, ignored), first once, then 20 rounds.
#[test]
fn many_breakers_and_threads_do_not_allocate_after_the_first_call() {
    const THREADS: usize = 72;
    let breakers: Vec<CircuitBreaker> = (0..200)
        .map(|i| {
            CircuitBreaker::builder(&format!("b{i}"))
                .ready_to_trip(|_| false)
                .build()
                .expect("valid settings")
        })
        .collect();
    let all_warm = std::sync::Barrier::new(THREADS);
    let per_thread: Vec<u64> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    // A failure: the thread's first look at a breaker's settings
                    // (arc-swap's per-thread node, claimed once) happens here too.
                    for cb in &breakers {
                        let _ = cb.call(|| Err::<(), _>(()));
                    }
                    // Everyone holds a slot before anyone measures.
                    all_warm.wait();
                    let n = allocations_in(|| {
                        for round in 0..20u32 {
                            for cb in &breakers {
                                let _ = cb.call(|| {
                                    if round % 3 == 0 {
                                        Err(round)
                                    } else {
                                        Ok(round)
                                    }
                                });
                                cb.try_acquire().expect("closed admits").ignore();
                            }
                        }
                    });
                    all_warm.wait();
                    n
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("thread"))
            .collect()
    });
    assert!(
        per_thread.iter().all(|&n| n == 0),
        "allocations per thread: {per_thread:?}"
    );
    for cb in &breakers {
        let c = cb.counts();
        assert_eq!(c.requests as usize, THREADS * (1 + 40));
        assert_eq!(c.total_failures as usize, THREADS * (1 + 7));
    }
}

#[test]
fn the_counter_sees_allocations() {
    // Guards the two tests above against a counter that silently counts nothing.
    let n = allocations_in(|| drop(std::hint::black_box(Vec::<u64>::with_capacity(8))));
    assert_eq!(n, 1);
    let cb = CircuitBreaker::builder("boxed").build().expect("valid");
    assert!(allocations_in(|| drop(std::hint::black_box(Box::new(cb)))) >= 1);
}

#[test]
fn async_call_does_not_allocate() {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};
    let (cb, _clock) = breaker();
    let mut cx = Context::from_waker(Waker::noop());
    let n = allocations_in(|| {
        for i in 0..10_000u32 {
            let fut =
                pin!(cb.call_async(|| async move { if i % 4 == 0 { Err(i) } else { Ok(i) } }));
            match fut.poll(&mut cx) {
                Poll::Ready(r) => assert!(r.is_ok() || matches!(r, Err(Error::Inner(_)))),
                Poll::Pending => unreachable!("the guarded future is ready at once"),
            }
        }
        assert_eq!(cb.state(), State::Closed);
    });
    assert_eq!(n, 0, "allocations on the async path");
}
