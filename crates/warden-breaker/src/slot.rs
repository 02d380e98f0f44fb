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
//! Under `cfg(loom)` there are no owned slots: every thread uses the shared
//! stripe, the path whose interleavings matter.

/// Number of owned slots (one bit each in the claim bitmap). With the overflow
/// stripe that makes a power of two, so a stripe index masked with
/// [`INDEX_MASK`] needs no bounds check on the hot path.
#[cfg(not(loom))]
pub(crate) const SLOTS: usize = 63;
#[cfg(loom)]
pub(crate) const SLOTS: usize = 0;

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
    #[inline]
    pub(crate) fn current() -> usize {
        super::OVERFLOW
    }
    #[inline]
    pub(crate) fn high_water() -> usize {
        0
    }
}

pub(crate) use registry::{current, high_water};
