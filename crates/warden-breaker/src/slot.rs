//! Per-thread counter slots.
//!
//! The closed success path must not write a cache line another core writes,
//! and on this hardware a locked read-modify-write costs ~4.7 ns even
//! uncontended, against ~0.25 ns for a plain load and store. So every thread
//! that calls a breaker claims one of [`SLOTS`] process-wide slot indices on
//! first use and releases it when it exits; in each breaker, the stripe with
//! that index is written by that thread alone, with a plain load and store.
//! Threads beyond [`SLOTS`] (or calls made while a thread's locals are being
//! torn down) share the [`OVERFLOW`] stripe, updated with compare-and-swap.
//!
//! Under `cfg(loom)` every thread uses the shared stripe by default, the path
//! of threads beyond [`SLOTS`]; a model can turn owned slots on
//! (`__private::loom_owned_slots`), and then its first [`SLOTS`] threads each own
//! a stripe, written with the plain load and store production uses, racing the
//! readers of the counts and the sweep. (Slots are not given back at thread exit
//! under loom: a model's threads live as long as its execution.)

/// Number of owned slots (one bit each in the claim bitmap). With the overflow
/// stripe that makes a power of two, so a stripe index masked with
/// [`INDEX_MASK`] needs no bounds check on the hot path.
#[cfg(not(loom))]
pub(crate) const SLOTS: usize = 63;
#[cfg(loom)]
pub(crate) const SLOTS: usize = 3;

/// Index of the shared stripe that threads without a slot use.
pub(crate) const OVERFLOW: usize = SLOTS;
/// Stripes per breaker: the owned slots and the overflow stripe.
pub(crate) const STRIPES: usize = SLOTS + 1;
/// Every valid stripe index is below `STRIPES`, a power of two.
pub(crate) const INDEX_MASK: usize = STRIPES - 1;
const _: () = assert!(STRIPES.is_power_of_two());

#[cfg(not(loom))]
mod registry {
    use super::{OVERFLOW, SLOTS};
    use std::cell::Cell;
    // The registry is process-global and compiled out under loom (see the module
    // docs), so it takes std's atomics directly rather than the `sync` shim.
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    /// Bit `i` set: slot `i` is owned by a live thread. Bits `SLOTS..64` are set
    /// from the start: they are not slots.
    static CLAIMED: AtomicU64 = AtomicU64::new(!((1 << SLOTS) - 1));
    /// One past the highest slot index ever claimed: stripes above it were never written.
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
            if i < SLOTS {
                // Calls made by later destructors of this thread use the shared stripe.
                INDEX.with(|c| c.set(OVERFLOW));
                // Release: pairs with the Acquire claim of the next owner, which then sees
                // every stripe store this thread made and continues from it.
                CLAIMED.fetch_and(!(1 << i), Ordering::Release);
            }
        }
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
        // down, it cannot own a slot and uses the shared stripe.
        let Ok(i) = GUARD.try_with(|g| {
            let i = take_free_slot();
            g.0.set(i);
            i
        }) else {
            INDEX.with(|c| c.set(OVERFLOW));
            return OVERFLOW;
        };
        INDEX.with(|c| c.set(i));
        i
    }

    /// Claims the lowest free slot, or returns `OVERFLOW` if all are taken (this
    /// thread then shares the overflow stripe for good).
    fn take_free_slot() -> usize {
        // Relaxed: only a starting guess for the exchange below.
        let mut bits = CLAIMED.load(Ordering::Relaxed);
        loop {
            if bits == u64::MAX {
                return OVERFLOW;
            }
            let i = (!bits).trailing_zeros() as usize;
            match CLAIMED.compare_exchange_weak(
                bits,
                bits | (1 << i),
                // Acquire: pairs with the Release in `SlotGuard::drop` of the slot's last owner.
                Ordering::Acquire,
                // Relaxed: a failure only refreshes the guess.
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    // Relaxed: sequenced before this thread's first stripe store, so any
                    // thread that synchronises with those stores also sees the new mark.
                    HIGH_WATER.fetch_max(i + 1, Ordering::Relaxed);
                    return i;
                }
                Err(actual) => bits = actual,
            }
        }
    }

    /// Stripes `0..high_water()` may have been written; the rest are still zero.
    #[inline]
    pub(crate) fn high_water() -> usize {
        // Relaxed: see the store in `claim`.
        HIGH_WATER.load(Ordering::Relaxed)
    }
}

#[cfg(loom)]
mod registry {
    use super::{OVERFLOW, SLOTS};
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use std::cell::Cell;
    // A std atomic: the switch is set outside the model, before it runs.
    use std::sync::atomic::AtomicBool;

    /// Whether loom threads claim owned slots (off: every one uses the shared stripe).
    pub(crate) static OWNED: AtomicBool = AtomicBool::new(false);

    loom::lazy_static! {
        /// The next slot to hand out, per execution of the model.
        static ref NEXT: AtomicUsize = AtomicUsize::new(0);
        /// As in production: one past the highest slot claimed.
        static ref HIGH_WATER: AtomicUsize = AtomicUsize::new(0);
    }

    loom::thread_local! {
        static INDEX: Cell<usize> = Cell::new(usize::MAX);
    }

    fn owned() -> bool {
        // Relaxed: set before the model starts, never while it runs.
        OWNED.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn current() -> usize {
        if !owned() {
            return OVERFLOW;
        }
        let i = INDEX.with(Cell::get);
        if i != usize::MAX {
            return i;
        }
        // Relaxed: as production's claim, which orders nothing for the stripes of a
        // fresh slot (never written before) but the high-water mark below.
        let i = NEXT.fetch_add(1, Ordering::Relaxed);
        let i = if i < SLOTS {
            // Relaxed: as production's (see `take_free_slot` there).
            HIGH_WATER.fetch_max(i + 1, Ordering::Relaxed);
            i
        } else {
            OVERFLOW
        };
        INDEX.with(|c| c.set(i));
        i
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

pub(crate) use registry::{current, high_water};
