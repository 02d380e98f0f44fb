//! Time sources: the [`Clock`] trait, the default [`QuantaClock`] and the test
//! [`ManualClock`].
//!
//! The breaker reads time only when it must (an open breaker deciding whether
//! its timeout passed, a closed breaker with a counting interval, a
//! transition); with default settings a closed breaker never reads the clock.
//! Time is converted to whole-millisecond ticks since the breaker was built
//! (see the bit budget in the crate docs).

use std::fmt;
use std::time::Duration;

use crate::sync::{Arc, AtomicU64, Ordering};

/// A monotonic time source.
///
/// Implement it to drive breakers from your own time (a simulation, a
/// runtime's paused clock). It must never go backwards; a clock that does is
/// treated as standing still until it catches up.
///
/// # Examples
///
/// ```
/// use warden_breaker::Clock;
///
/// #[derive(Debug)]
/// struct Frozen(u64);
/// impl Clock for Frozen {
///     fn now_nanos(&self) -> u64 { self.0 }
/// }
/// assert_eq!(Frozen(5).now_nanos(), 5);
/// ```
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Nanoseconds since an origin that is fixed for this clock.
    fn now_nanos(&self) -> u64;
}

/// The default clock: [`quanta`]'s TSC-based time.
///
/// It reads `quanta::Instant::recent()`, which is a plain atomic load (~1.5 ns)
/// when a [`quanta::Upkeep`] thread is running and a TSC read (~9 ns here)
/// when none is. Start one upkeep thread per process (a 1 ms interval matches
/// the breaker's resolution) to make open-state checks nearly free:
///
/// ```
/// let _upkeep = quanta::Upkeep::new(std::time::Duration::from_millis(1)).start();
/// let clock = warden_breaker::QuantaClock::new();
/// # use warden_breaker::Clock;
/// let _ = clock.now_nanos();
/// ```
#[derive(Clone, Debug)]
pub struct QuantaClock {
    origin: quanta::Instant,
}

impl QuantaClock {
    /// A clock whose origin is now. The first call in a process calibrates
    /// quanta's global clock (up to ~200 ms, once), so build clocks at start-up,
    /// not on a hot path.
    ///
    /// ```
    /// use warden_breaker::{Clock, QuantaClock};
    /// let c = QuantaClock::new();
    /// assert!(c.now_nanos() < 60_000_000_000);
    /// ```
    pub fn new() -> Self {
        Self {
            origin: quanta::Instant::now(),
        }
    }
}

impl Default for QuantaClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for QuantaClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        let d = quanta::Instant::recent().saturating_duration_since(self.origin);
        u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A clock that moves only when told to: the way every timing test drives a
/// breaker, so no test sleeps.
///
/// Clones share one time. A thread that reads the time another thread set with
/// [`advance`](Self::advance) also sees everything that thread did before
/// advancing it, so a test can move the clock on one thread and rely on what it
/// did before on another.
///
/// ```
/// use std::time::Duration;
/// use warden_breaker::{Clock, ManualClock};
///
/// let clock = ManualClock::new();
/// let shared = clock.clone();
/// clock.advance(Duration::from_millis(1500));
/// assert_eq!(shared.now_nanos(), 1_500_000_000);
/// ```
#[derive(Clone, Debug)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock at time zero.
    ///
    /// ```
    /// use warden_breaker::{Clock, ManualClock};
    /// assert_eq!(ManualClock::new().now_nanos(), 0);
    /// ```
    pub fn new() -> Self {
        Self {
            nanos: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Moves time forward by `by` (saturating at `u64::MAX` nanoseconds).
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_breaker::{Clock, ManualClock};
    /// let c = ManualClock::new();
    /// c.advance(Duration::from_nanos(3));
    /// assert_eq!(c.now_nanos(), 3);
    /// ```
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        // Release: pairs with the Acquire load in `now_nanos`, so a thread that sees the
        // new time also sees what the advancing thread did before moving it (loom:
        // `clock::a_thread_seeing_the_new_time_sees_what_came_before`).
        let mut cur = self.nanos.load(Ordering::Relaxed);
        loop {
            match self.nanos.compare_exchange_weak(
                cur,
                cur.saturating_add(by),
                Ordering::Release,
                // Relaxed: a failed exchange only feeds the next attempt.
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now_nanos(&self) -> u64 {
        // Acquire: pairs with the Release in `advance`.
        self.nanos.load(Ordering::Acquire)
    }
}

/// Nanoseconds in one tick.
pub(crate) const NANOS_PER_TICK: u64 = 1_000_000;

/// A clock plus the breaker's epoch: converts the clock's time into the
/// breaker's millisecond ticks.
#[derive(Clone, Debug)]
pub(crate) struct TimeBase {
    // std's Arc even under loom: loom's Arc cannot hold a `dyn` value.
    clock: std::sync::Arc<dyn Clock>,
    epoch: u64,
}

impl TimeBase {
    pub(crate) fn new(clock: std::sync::Arc<dyn Clock>) -> Self {
        let epoch = clock.now_nanos();
        Self { clock, epoch }
    }

    /// Whole milliseconds since the epoch, saturating at [`crate::state::MAX_TICK`].
    #[inline]
    pub(crate) fn now_ticks(&self) -> u64 {
        (self.now_nanos() / NANOS_PER_TICK).min(crate::state::MAX_TICK)
    }

    /// Nanoseconds since the epoch.
    #[inline]
    pub(crate) fn now_nanos(&self) -> u64 {
        self.clock.now_nanos().saturating_sub(self.epoch)
    }
}
