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

/// Number of owned slots (one bit each in the claim bitmap).
#[cfg(not(loom))]
pub(crate) const SLOTS: usize = 64;
#[cfg(loom)]
pub(crate) const SLOTS: usize = 0;

/// Index of the shared stripe that threads without a slot use.
pub(crate) const OVERFLOW: usize = SLOTS;

#[cfg(not(loom))]
mod registry {
    use super::{OVERFLOW, SLOTS};
    use std::cell::Cell;
    // The registry is process-global and compiled out under loom (see the module
    // docs), so it takes std's atomics directly rather than the `sync` shim.
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    /// Bit `i` set: slot `i` is owned by a live thread.
    static CLAIMED: AtomicU64 = AtomicU64::new(0);
    /// One past the highest slot index ever claimed: stripes above it were never written.
    static HIGH_WATER: AtomicUsize = AtomicUsize::new(0);

    const UNCLAIMED: usize = usize::MAX;

    struct SlotGuard(Cell<usize>);

    impl Drop for SlotGuard {
        fn drop(&mut self) {
            let i = self.0.get();
            if i < SLOTS {
                // Release: pairs with the Acquire claim of the next owner, which then sees
                // every stripe store this thread made and continues from it.
                CLAIMED.fetch_and(!(1 << i), Ordering::Release);
            }
        }
    }

    thread_local! {
        static SLOT: SlotGuard = const { SlotGuard(Cell::new(UNCLAIMED)) };
    }

    #[inline]
    pub(crate) fn current() -> usize {
        SLOT.try_with(|s| match s.0.get() {
            UNCLAIMED => claim(s),
            i => i,
        })
        .unwrap_or(OVERFLOW)
    }

    #[cold]
    fn claim(s: &SlotGuard) -> usize {
        // Relaxed: only a starting guess for the exchange below.
        let mut bits = CLAIMED.load(Ordering::Relaxed);
        loop {
            if bits == u64::MAX {
                // All slots taken: this thread shares the overflow stripe for good.
                s.0.set(OVERFLOW);
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
                    s.0.set(i);
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
