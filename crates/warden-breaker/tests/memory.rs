//! What a breaker costs in memory, and that its per-thread counters grow only
//! with the threads that call it.
//!
//! A counting global allocator keeps the bytes live (requested sizes; the
//! allocator's own rounding and headers come on top, see `BENCHMARKS.md` for
//! RSS). Only this test binary's threads allocate during the measurements: each
//! test takes a lock so they run one at a time.
#![cfg(not(loom))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicIsize, Ordering};

use warden_breaker::CircuitBreaker;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

#[allow(unsafe_code)]
// SAFETY: every method forwards to `System` with the caller's arguments unchanged;
// the extra work is an atomic add and a thread-local counter bump, which do not
// allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        let _ = ALLOCATED.try_with(|c| c.set(c.get() + layout.size()));
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        let _ = ALLOCATED.try_with(|c| c.set(c.get() + new_size));
        // SAFETY: forwarded contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One test at a time: the counter is process-wide.
static SERIAL: Mutex<()> = Mutex::new(());

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// A breaker that only one thread has called costs at most 512 bytes in all:
/// the struct, its settings' heap and the caller's counter cell. 100,000 of
/// them, each built and called once, are measured together.
#[test]
fn a_breaker_called_by_one_thread_costs_at_most_512_bytes() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // On a thread of its own, joined before the lock is released: its counter slot
    // is given back by then, so the other test sees the same free slots each round.
    std::thread::spawn(one_thread_breakers).join().unwrap();
}

fn one_thread_breakers() {
    const N: usize = 100_000;
    // The vector's own buffer first, so only the breakers are measured.
    let mut breakers: Vec<CircuitBreaker> = Vec::with_capacity(N);
    // This thread's slot, taken on its first call ever, is not a breaker's cost.
    let warm = CircuitBreaker::builder("warm").build().unwrap();
    warm.call(|| Ok::<_, ()>(())).unwrap();
    let before = live();
    for i in 0..N {
        let cb = CircuitBreaker::builder(&format!("upstream-{i:06}"))
            .build()
            .unwrap();
        cb.call(|| Ok::<_, ()>(())).unwrap();
        breakers.push(cb);
    }
    let heap = (live() - before) as usize / N;
    let each = size_of::<CircuitBreaker>() + heap;
    eprintln!(
        "one-thread breaker: {} B struct + {heap} B heap = {each} B",
        size_of::<CircuitBreaker>()
    );
    assert!(each <= 512, "{each} bytes per breaker");
    assert!(breakers.iter().all(|cb| cb.counts().requests == 1));
}

/// Bytes this thread has allocated (not net of frees).
fn allocated_by_this_thread_in(f: impl FnOnce()) -> usize {
    let before = ALLOCATED.with(Cell::get);
    f();
    ALLOCATED.with(Cell::get) - before
}

/// Counter memory grows with the threads that call a breaker, not with the
/// threads in the process: after 64 threads called another breaker, each of 8
/// threads calling this one allocates one 64-byte cell on its first call (plus,
/// for threads past the first 4 slots, its share of the directory), nothing on
/// later calls, and 8 later threads reusing the slots allocate no more than that.
#[test]
fn counter_memory_follows_the_threads_that_call() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cb = CircuitBreaker::builder("grows").build().unwrap();
    let other = CircuitBreaker::builder("other").build().unwrap();
    // 64 threads live at once, each calling the other breaker only. Each is joined
    // by its handle: the end of a scope waits for the closures but not for the
    // threads' exit, so a thread-local destructor (which gives the slot back) could
    // still be pending when the next threads start, and they would take slots past
    // the first 8, whose directory levels this test does not expect.
    let start = std::sync::Barrier::new(64);
    std::thread::scope(|s| {
        let threads: Vec<_> = (0..64)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    other.call(|| Ok::<_, ()>(())).unwrap();
                    start.wait();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    });
    assert_eq!(other.counts().requests, 64);
    // 8 threads at once call `cb`: (first call, the 999 after it) per thread.
    let round = || {
        let start = std::sync::Barrier::new(8);
        std::thread::scope(|s| {
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        start.wait();
                        let first = allocated_by_this_thread_in(|| {
                            cb.call(|| Ok::<_, ()>(())).unwrap();
                        });
                        let rest = allocated_by_this_thread_in(|| {
                            for _ in 1..1000 {
                                cb.call(|| Ok::<_, ()>(())).unwrap();
                            }
                        });
                        start.wait();
                        (first, rest)
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|t| t.join().unwrap())
                .collect::<Vec<_>>()
        })
    };
    let first = round();
    assert!(first.iter().all(|&(_, rest)| rest == 0), "{first:?}");
    let cells: usize = first.iter().map(|&(f, _)| f).sum();
    // 8 cells; the directory past the first 4 slots: its table (14 levels and the
    // shared cell's pointer), and the levels of slots 4..8 (4 pointers) and 8..16 (8
    // pointers; one of the first 8 slots may be held by another test's thread), each
    // a boxed slice.
    let directory = 15 * 8 + 2 * 16 + (4 + 8) * 8;
    assert!(
        (8 * 64..=8 * 64 + directory).contains(&cells),
        "{cells} bytes for 8 callers: {first:?}"
    );
    assert_eq!(cb.counts().requests, 8000);
    // The next 8 threads take slots the first 8 gave back, and their cells: no more
    // than the first round allocated (a slot whose thread-local destructor has not run
    // yet when the next thread starts is replaced by another free one, which may need
    // its own cell), and nothing after a thread's first call.
    let again = round();
    let again_cells: usize = again.iter().map(|&(f, _)| f).sum();
    assert!(again.iter().all(|&(_, rest)| rest == 0), "{again:?}");
    assert!(again_cells <= cells, "{again:?} after {first:?}");
    assert_eq!(cb.counts().requests, 16_000);
}
