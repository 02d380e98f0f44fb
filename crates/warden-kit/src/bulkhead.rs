//! [`Bulkhead`]: a lock-free limit on concurrent calls.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};

use crossbeam_utils::CachePadded;

/// At most `max` calls at once; the next one is refused at once (no queue).
///
/// A permit is an RAII guard: the slot is given back when it drops, whether
/// the call finished, returned early, panicked, or its future was cancelled.
///
/// Admission is one compare-and-swap loop on one counter (its own cache line),
/// release one atomic subtraction: two shared-line writes per call, which is
/// what a concurrency limit costs. A registry name without `max_concurrent`
/// has no bulkhead and pays nothing.
///
/// # Memory ordering
///
/// The counter publishes no other memory, so every access is `Relaxed`: the
/// total modification order of the one atomic is what keeps the count exact
/// (never more than `max` permits alive). The limit is an atomic of its own
/// (also `Relaxed`): [`set_max`](Bulkhead::set_max) changes it while calls run.
/// A smaller limit takes no slot away: the calls in flight finish, and new
/// ones are admitted only once fewer than the new limit are in flight.
///
/// ```
/// let bulkhead = warden_kit::Bulkhead::new(2);
/// let a = bulkhead.try_acquire().expect("first");
/// let b = bulkhead.try_acquire().expect("second");
/// assert!(bulkhead.try_acquire().is_none()); // full
/// drop(a);
/// assert!(bulkhead.try_acquire().is_some());
/// # drop(b);
/// ```
pub struct Bulkhead {
    max: AtomicU32,
    in_flight: CachePadded<AtomicU32>,
}

impl fmt::Debug for Bulkhead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bulkhead")
            .field("max", &self.max())
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

impl Bulkhead {
    /// A bulkhead of `max` slots. `0` is zero slots: every call is refused
    /// (a drain, as [`set_max(0)`](Self::set_max) is), unlike a registry's
    /// [`max_concurrent`](crate::BreakerConfig::with_max_concurrent), where `0`
    /// means the name has no bulkhead at all. For no limit, use no bulkhead.
    ///
    /// ```
    /// assert_eq!(warden_kit::Bulkhead::new(8).max(), 8);
    /// assert!(warden_kit::Bulkhead::new(0).try_acquire().is_none()); // zero slots
    /// // A registry name configured with 0 has no bulkhead: nothing is refused.
    /// let registry = warden_kit::Registry::builder()
    ///     .configure("db", warden_kit::BreakerConfig::default().with_max_concurrent(0))
    ///     .build()?;
    /// assert_eq!(registry.breaker("db")?.in_flight(), None); // no bulkhead
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(max: u32) -> Self {
        Self {
            max: AtomicU32::new(max),
            in_flight: CachePadded::new(AtomicU32::new(0)),
        }
    }

    /// The number of slots.
    ///
    /// ```
    /// assert_eq!(warden_kit::Bulkhead::new(3).max(), 3);
    /// ```
    #[inline]
    pub fn max(&self) -> u32 {
        // Relaxed: see "Memory ordering".
        self.max.load(Ordering::Relaxed)
    }

    /// Changes the number of slots while calls run. Permits already taken stay
    /// valid: after a shrink, new calls are refused until fewer than `max` are
    /// in flight (with `0`, every new call: see [`new`](Self::new)).
    ///
    /// ```
    /// let b = warden_kit::Bulkhead::new(2);
    /// let (p, q) = (b.try_acquire(), b.try_acquire());
    /// b.set_max(1);
    /// drop(p);
    /// assert!(b.try_acquire().is_none(), "one still in flight: at the new limit");
    /// drop(q);
    /// assert!(b.try_acquire().is_some());
    /// ```
    pub fn set_max(&self, max: u32) {
        // Relaxed: see "Memory ordering".
        self.max.store(max, Ordering::Relaxed);
    }

    /// Permits alive now (a snapshot; it may change at once).
    ///
    /// ```
    /// let b = warden_kit::Bulkhead::new(3);
    /// let _p = b.try_acquire();
    /// assert_eq!(b.in_flight(), 1);
    /// ```
    pub fn in_flight(&self) -> u32 {
        // Relaxed: a statistic; see "Memory ordering".
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Takes a slot, or `None` when all are taken.
    ///
    /// ```
    /// let b = warden_kit::Bulkhead::new(1);
    /// let p = b.try_acquire();
    /// assert!(p.is_some() && b.try_acquire().is_none());
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Option<BulkheadPermit<'_>> {
        self.try_acquire_below(self.max())
    }

    /// [`try_acquire`](Self::try_acquire) against a limit the caller already read.
    #[inline]
    pub(crate) fn try_acquire_below(&self, max: u32) -> Option<BulkheadPermit<'_>> {
        // `then`, not `then_some`: a permit built and dropped on refusal would
        // give back a slot it never took.
        self.try_take_below(max)
            .then(|| BulkheadPermit { bulkhead: self })
    }

    /// Takes a slot without a guard if fewer than `max` (a limit the caller
    /// already read) are taken; the caller must [`give_back`](Self::give_back) it
    /// exactly once (for guards that own their bulkhead's owner).
    #[inline]
    pub(crate) fn try_take_below(&self, max: u32) -> bool {
        // Relaxed: the count is the only thing shared (see "Memory ordering").
        let mut cur = self.in_flight.load(Ordering::Relaxed);
        loop {
            if cur >= max {
                return false;
            }
            // Relaxed both ways: the exchange's place in the counter's modification
            // order is all that matters; a failure hands back the value to retry with.
            match self.in_flight.compare_exchange_weak(
                cur,
                cur + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Gives back a slot taken by [`try_take_below`](Self::try_take_below).
    #[inline]
    pub(crate) fn give_back(&self) {
        // Relaxed: see "Memory ordering"; the slot's increment precedes this
        // decrement in the counter's modification order, so it never underflows.
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One slot of a [`Bulkhead`], given back on drop.
///
/// ```
/// let b = warden_kit::Bulkhead::new(1);
/// {
///     let _permit = b.try_acquire().unwrap();
///     assert_eq!(b.in_flight(), 1);
/// }
/// assert_eq!(b.in_flight(), 0);
/// ```
#[must_use = "the slot is given back as soon as the permit is dropped"]
#[clippy::has_significant_drop]
pub struct BulkheadPermit<'a> {
    bulkhead: &'a Bulkhead,
}

impl fmt::Debug for BulkheadPermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadPermit")
            .field("max", &self.bulkhead.max())
            .finish()
    }
}

impl Drop for BulkheadPermit<'_> {
    #[inline]
    fn drop(&mut self) {
        self.bulkhead.give_back();
    }
}
