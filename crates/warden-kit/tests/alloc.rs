//! Zero allocations per call through a prebuilt pipeline: a counting global
//! allocator proves that running a kept `Pipeline` (the breaker alone, or with
//! a classifier, a fixed-value fallback and a sync timeout) never allocates.
//!
//! The allocator counts per thread, so tests running in parallel on other
//! threads do not disturb the count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

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

use warden_kit::breaker::Outcome;
use warden_kit::{BreakerConfig, Fallback, ManualClock, Registry, TripRule};

#[test]
fn a_prebuilt_pipeline_allocates_nothing_per_call() {
    let clock = ManualClock::new();
    let registry = Registry::builder()
        .clock(clock.clone())
        .configure(
            "db",
            BreakerConfig::default()
                .with_trip(TripRule::ConsecutiveFailures(1_000_000))
                .with_max_concurrent(4),
        )
        .build()
        .expect("valid");
    let plain = registry.pipeline::<u64, u64>("db").expect("running");
    let composed = registry
        .pipeline::<u64, u64>("db")
        .expect("running")
        .with_timeout(Some(Duration::from_secs(1)))
        .with_classifier(|r: &Result<u64, u64>| match r {
            Err(0) => Outcome::Ignored,
            Err(_) => Outcome::Failure,
            Ok(_) => Outcome::Success,
        })
        .with_fallback(Fallback::value(7));
    // Warm-up: the first call of a thread claims its counter slot, and the
    // breaker's first failure allocates its claim words (once, see the core's
    // `claims.rs`).
    let _ = plain.execute(|| Ok(1));
    let _ = plain.execute(|| Err(1));
    let _ = composed.execute(|| Ok(1));
    let n = allocations_in(|| {
        for i in 0..10_000u64 {
            assert!(plain.execute(|| Ok(i)).has_value());
            assert!(plain.execute(|| Err(i)).error().is_some());
        }
    });
    assert_eq!(n, 0, "breaker-only pipeline");
    let n = allocations_in(|| {
        for i in 0..10_000u64 {
            assert!(composed.execute(|| Ok(i)).succeeded());
            assert_eq!(composed.execute(|| Err(i % 3)).value(), Some(&7));
        }
    });
    assert_eq!(n, 0, "pipeline with timeout, classifier and fallback");
}
