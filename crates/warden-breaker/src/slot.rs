//! Per-thread counter slots: process-wide thread ids, dense and recycled.
//!
//! The closed success path must not write a cache line another core writes,
//! and on this hardware a locked read-modify-write costs ~4.7 ns even
//! uncontended, against ~0.25 ns for a plain load and store. So every thread
//! that calls a breaker takes a process-wide slot index on its first call and
//! gives it back when it exits; in each breaker, the counter cell with that
//! index is written by that thread alone, with a plain load and store (see
//! `counters.rs` for how a breaker finds, and lazily allocates, that cell).
//!
//! Indices are dense: a new thread takes the smallest free index, so a
//! process that runs N threads at a time uses indices below N however many
//! threads it has started and stopped, and a breaker's directory of cells
//! (which grows with the highest index that called it) stays small. Up to
//! [`MAX_SLOTS`] threads own a slot at once; threads beyond that (or calls
//! made while a thread's locals are being torn down) get [`SHARED`] and share
//! one cell per breaker, updated with compare-and-swap.
//!
//! Taking and returning an index happens once per thread, under a mutex (a
//! free list kept as a min-heap); the per-call path only reads the index from
//! a const-initialised thread-local. The mutex also orders a slot's reuse: the
//! exiting thread's unlock happens-before the next owner's lock, so the next
//! owner continues from every count its predecessor stored, with plain loads
//! and stores.
//!
//! Under `cfg(loom)` every thread uses the shared cell by default; a model can
//! turn owned slots on (`__private::loom_owned_slots`), and then each model
//! thread takes the smallest free of [`MAX_SLOTS`] slots (3 under loom: two
//! direct cells and one in the directory's first level; a fourth thread
//! shares), and gives it back when the model says the thread exits
//! (`__private::loom_exit_thread`), so the models cover first calls, reuse
//! and the shared cell.

/// Threads that can own a slot at once (the rest share one cell per breaker).
/// Large enough for any thread pool; a breaker only pays for the slots that
/// actually called it.
#[cfg(not(loom))]
pub(crate) const MAX_SLOTS: usize = 1 << 16;
#[cfg(loom)]
pub(crate) const MAX_SLOTS: usize = 3;

/// The index of threads without a slot: every breaker's shared cell.
pub(crate) const SHARED: usize = MAX_SLOTS;

#[cfg(not(loom))]
mod registry {
    use super::{MAX_SLOTS, SHARED};
    use std::cell::Cell;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    // The registry is process-global and compiled out under loom (see the module
    // docs), so it takes std's primitives directly rather than the `sync` shim.
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Mutex, PoisonError};

    /// Indices below `next` not owned by a live thread, smallest first.
    struct Free {
        next: usize,
        returned: BinaryHeap<Reverse<usize>>,
    }

    static FREE: Mutex<Free> = Mutex::new(Free {
        next: 0,
        returned: BinaryHeap::new(),
    });
    /// One past the highest slot index ever taken: cells above it were never written.
    static HIGH_WATER: AtomicUsize = AtomicUsize::new(0);

    const UNCLAIMED: usize = usize::MAX;

    thread_local! {
        /// This thread's slot index. Const-initialised and without a destructor, so
        /// reading it is one thread-relative load with no lazy-state check, and it
        /// stays readable while other thread-locals are being destroyed.
        static INDEX: Cell<usize> = const { Cell::new(UNCLAIMED) };
        /// Owns the claimed slot; its destructor gives the slot back at thread exit.
        static GUARD: SlotGuard = const { SlotGuard(Cell::new(UNCLAIMED)) };
    }

    struct SlotGuard(Cell<usize>);

    impl Drop for SlotGuard {
        fn drop(&mut self) {
            let i = self.0.get();
            if i < MAX_SLOTS {
                // Calls made by later destructors of this thread use the shared cell.
                INDEX.with(|c| c.set(SHARED));
                // The unlock happens-before the next owner's lock: it continues from
                // every count this thread stored in its cells.
                let mut free = FREE.lock().unwrap_or_else(PoisonError::into_inner);
                free.returned.push(std::cmp::Reverse(i));
            }
        }
    }

    /// This thread's slot, or `UNCLAIMED` (`usize::MAX`) before its first call.
    #[inline]
    pub(crate) fn peek() -> usize {
        INDEX.with(Cell::get)
    }

    #[inline]
    pub(crate) fn current() -> usize {
        match INDEX.with(Cell::get) {
            UNCLAIMED => claim(),
            i => i,
        }
    }

    #[cold]
    fn claim() -> usize {
        // Register the guard first: if this thread's locals are already being torn
        // down, it cannot own a slot and uses the shared cell.
        let Ok(i) = GUARD.try_with(|g| {
            let i = take_free_slot();
            g.0.set(i);
            i
        }) else {
            INDEX.with(|c| c.set(SHARED));
            return SHARED;
        };
        INDEX.with(|c| c.set(i));
        i
    }

    /// Takes the smallest free slot, or `SHARED` if all are owned (this thread then
    /// uses the shared cells for good).
    fn take_free_slot() -> usize {
        let mut free = FREE.lock().unwrap_or_else(PoisonError::into_inner);
        let i = match free.returned.pop() {
            Some(Reverse(i)) => i,
            None if free.next < MAX_SLOTS => {
                free.next += 1;
                free.next - 1
            }
            None => return SHARED,
        };
        // Relaxed: sequenced before this thread's first store to its cells, so any
        // thread that synchronises with those stores also sees the new mark.
        HIGH_WATER.fetch_max(i + 1, Ordering::Relaxed);
        i
    }

    /// Cells `0..high_water()` may have been written; the rest were never created.
    #[inline]
    pub(crate) fn high_water() -> usize {
        // Relaxed: see the store in `take_free_slot`.
        HIGH_WATER.load(Ordering::Relaxed)
    }
}

#[cfg(loom)]
mod registry {
    use super::{MAX_SLOTS, SHARED};
    use loom::sync::Mutex;
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use std::cell::Cell;
    // A std atomic: the switch is set outside the model, before it runs.
    use std::sync::atomic::AtomicBool;

    /// Whether loom threads claim owned slots (off: every one uses the shared cell).
    pub(crate) static OWNED: AtomicBool = AtomicBool::new(false);

    loom::lazy_static! {
        /// As in production: the next fresh slot and the slots given back, per
        /// execution of the model.
        static ref FREE: Mutex<(usize, Vec<usize>)> = Mutex::new((0, Vec::new()));
        /// As in production: one past the highest slot claimed.
        static ref HIGH_WATER: AtomicUsize = AtomicUsize::new(0);
    }

    loom::thread_local! {
        static INDEX: Cell<usize> = Cell::new(usize::MAX);
    }

    pub(crate) fn owned() -> bool {
        // Relaxed: set before the model starts, never while it runs.
        OWNED.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// As production's: the slot, or `usize::MAX` before the first call.
    pub(crate) fn peek() -> usize {
        if !owned() {
            return SHARED;
        }
        INDEX.with(Cell::get)
    }

    pub(crate) fn current() -> usize {
        if !owned() {
            return SHARED;
        }
        let i = INDEX.with(Cell::get);
        if i != usize::MAX {
            return i;
        }
        let i = {
            let mut free = FREE.lock().unwrap();
            let smallest = free.1.iter().enumerate().min_by_key(|(_, s)| **s);
            match smallest.map(|(at, _)| at) {
                Some(at) => free.1.swap_remove(at),
                None if free.0 < MAX_SLOTS => {
                    free.0 += 1;
                    free.0 - 1
                }
                None => SHARED,
            }
        };
        if i < MAX_SLOTS {
            // Relaxed: as production's (see `take_free_slot` there).
            HIGH_WATER.fetch_max(i + 1, Ordering::Relaxed);
        }
        INDEX.with(|c| c.set(i));
        i
    }

    /// What production's slot guard does at thread exit.
    pub(crate) fn exit_thread() {
        let i = INDEX.with(|c| c.replace(SHARED));
        if i < MAX_SLOTS {
            FREE.lock().unwrap().1.push(i);
        }
    }

    pub(crate) fn high_water() -> usize {
        if !owned() {
            return 0;
        }
        // Relaxed: as production's.
        HIGH_WATER.load(Ordering::Relaxed)
    }
}

/// Turns owned slots on or off for the loom models run after this call.
#[cfg(loom)]
pub(crate) fn loom_owned_slots(on: bool) {
    // Relaxed: read by the models this thread runs next.
    registry::OWNED.store(on, std::sync::atomic::Ordering::Relaxed);
}

pub(crate) use registry::{current, high_water, peek};
#[cfg(loom)]
pub(crate) use registry::{exit_thread, owned as loom_owned};
