//! Time sources: the [`Clock`] trait, the default [`QuantaClock`] and the test
//! [`ManualClock`].
//!
//! The breaker reads time only when it must (an open breaker deciding whether
//! its timeout passed, a closed breaker with a counting interval, a
//! transition); with default settings a closed breaker never reads the clock.
//! Time is converted to whole-millisecond ticks since the breaker was built
//! (see the bit budget in the crate docs).

use std::any::Any;
use std::fmt;
use std::time::Duration;

use crate::sync::{Arc, AtomicU64, Ordering};
use crate::ticker::{self, Lease};

/// The process clock's origin (under loom, where no ticker runs: each clock's own).
fn process_origin() -> quanta::Instant {
    #[cfg(not(loom))]
    return ticker::process_origin();
    #[cfg(loom)]
    return quanta::Instant::now();
}

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
pub trait Clock: Any + Send + Sync + fmt::Debug + 'static {
    /// Nanoseconds since an origin that is fixed for this clock.
    fn now_nanos(&self) -> u64;
}

/// The default clock: [`quanta`]'s TSC-based time, measured from one origin for
/// the whole process.
///
/// Every read is an exact clock read (`quanta::Instant::now()`, ~9 ns on a VM
/// that traps nothing, more on one that does). Breakers on this clock read it
/// only when they need the exact time; the paths that only need "about now" (an
/// open breaker rejecting a call, a time window or a slow-call rule of
/// [50 ms](crate::TimeWindow) or more) load the time a `warden-ticker` thread
/// publishes once a millisecond instead. That thread runs only while a breaker
/// on this clock is open, or settings with a time window or slow calls on this
/// clock are alive (see the crate docs, "Time"). No other clock starts it.
///
/// It never reads `quanta::Instant::recent()`, whose value freezes for good once
/// a `quanta::Upkeep` thread started by anyone in the process is stopped.
///
/// ```
/// use warden_breaker::{Clock, QuantaClock};
/// let (a, b) = (QuantaClock::new(), QuantaClock::new());
/// let (t1, t2) = (a.now_nanos(), b.now_nanos());
/// assert!(t2 >= t1, "one origin for every QuantaClock in the process");
/// ```
#[derive(Clone, Debug)]
pub struct QuantaClock {
    origin: quanta::Instant,
}

impl QuantaClock {
    /// The process clock. The first call in a process calibrates quanta's global
    /// clock (up to ~200 ms, once) and fixes the origin, so build clocks at
    /// start-up, not on a hot path.
    ///
    /// ```
    /// use warden_breaker::{Clock, QuantaClock};
    /// let c = QuantaClock::new();
    /// assert!(c.now_nanos() < 60_000_000_000);
    /// ```
    pub fn new() -> Self {
        Self {
            origin: process_origin(),
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
        let d = quanta::Instant::now().saturating_duration_since(self.origin);
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
    /// The clock is [`QuantaClock`], whose time the ticker publishes.
    process: bool,
    /// Held while these settings time calls with the ticker (see [`Self::timed_nanos_if`]).
    lease: Option<std::sync::Arc<Lease>>,
}

impl TimeBase {
    pub(crate) fn new(clock: std::sync::Arc<dyn Clock>) -> Self {
        let epoch = clock.now_nanos();
        let any: &dyn Any = &*clock;
        // Under loom no ticker runs: every read is the clock's.
        let process = any.is::<QuantaClock>() && cfg!(not(loom));
        Self {
            clock,
            epoch,
            process,
            lease: None,
        }
    }

    /// These settings time every closed-state call (a time window, slow calls):
    /// with the process clock and rules no finer than [`ticker::COARSE_MIN`], take
    /// a lease on the ticker and time calls with its time from now on.
    pub(crate) fn timing_calls_if(mut self, finest: Option<Duration>) -> Self {
        if self.process && finest.is_some_and(|f| f >= ticker::COARSE_MIN) {
            self.lease = Some(std::sync::Arc::new(Lease::new()));
        }
        self
    }

    /// The same clock and epoch without a lease on the ticker: what a breaker keeps
    /// for its whole life (its settings, which `reconfigure` replaces, hold the
    /// lease while their rules time calls).
    pub(crate) fn fixed(&self) -> Self {
        Self {
            clock: std::sync::Arc::clone(&self.clock),
            epoch: self.epoch,
            process: self.process,
            lease: None,
        }
    }

    /// This clock and epoch with `other`'s lease (or none): the time base of a
    /// breaker's settings as [`crate::CircuitBreaker::settings`] reports them.
    pub(crate) fn with_lease_of(&self, other: &TimeBase) -> Self {
        Self {
            lease: other.lease.clone(),
            ..self.fixed()
        }
    }

    /// Whether these settings hold a lease on the ticker (see [`Self::timed_nanos_if`]).
    #[inline]
    pub(crate) fn has_lease(&self) -> bool {
        self.lease.is_some()
    }

    /// Whole milliseconds since the epoch, saturating at [`crate::state::MAX_TICK`].
    #[inline]
    pub(crate) fn now_ticks(&self) -> u64 {
        to_ticks(self.now_nanos())
    }

    /// Nanoseconds since the epoch.
    #[inline]
    pub(crate) fn now_nanos(&self) -> u64 {
        self.clock.now_nanos().saturating_sub(self.epoch)
    }

    /// A tick no later than now: the ticker's, if it runs for this clock, else
    /// [`Self::now_ticks`]. Good for "is this deadline still ahead?" (a `true`
    /// answer holds for the exact time too).
    #[inline]
    pub(crate) fn recent_ticks(&self) -> u64 {
        self.ticker_ticks().unwrap_or_else(|| self.now_ticks())
    }

    /// [`Self::recent_ticks`]'s ticker case alone: `None` where that reads the
    /// clock, for a caller that keeps the clock read off its common path.
    #[inline]
    pub(crate) fn ticker_ticks(&self) -> Option<u64> {
        if self.process
            && let Some(t) = ticker::recent()
        {
            return Some(to_ticks(t.saturating_sub(self.epoch)));
        }
        None
    }

    /// The time a closed-state call is timed with (a time window's bucket, a slow
    /// call's start and end): the ticker's while these settings hold a lease and
    /// it runs, else [`Self::now_nanos`].
    ///
    /// `leased`: whether the breaker's current settings hold a lease
    /// ([`Self::has_lease`]); a breaker keeps its epoch outside its settings, which
    /// may be shared (see `live.rs`) and are replaced by `reconfigure`.
    #[inline]
    pub(crate) fn timed_nanos_if(&self, leased: bool) -> u64 {
        if leased && let Some(t) = ticker::recent() {
            return t.saturating_sub(self.epoch);
        }
        self.now_nanos()
    }

    /// [`Self::timed_nanos_if`]'s ticker case alone: `None` where that reads the
    /// clock (no lease, or no ticker running), for a caller that keeps the clock
    /// read, a call, off its common path.
    #[inline]
    pub(crate) fn ticker_nanos_if(&self, leased: bool) -> Option<u64> {
        if leased && let Some(t) = ticker::recent() {
            return Some(t.saturating_sub(self.epoch));
        }
        None
    }

    /// An open word with deadline `tick` is about to be installed: keeps the ticker
    /// running until just past it, so rejections until then need no clock read.
    pub(crate) fn open_until(&self, tick: u64) {
        if self.process {
            ticker::keep_until(self.passed_at(tick));
        }
    }

    /// Whether the clock is [`QuantaClock`], whose time the ticker publishes.
    pub(crate) fn is_process(&self) -> bool {
        self.process
    }

    /// The clock's first time (nanoseconds) whose tick is later than `tick`: when a
    /// deadline of `tick` has passed.
    pub(crate) fn passed_at(&self, tick: u64) -> u64 {
        let after = tick.saturating_add(1).saturating_mul(NANOS_PER_TICK);
        self.epoch.saturating_add(after)
    }
}

/// Whole milliseconds in `nanos`, saturating at [`crate::state::MAX_TICK`].
#[inline]
pub(crate) fn to_ticks(nanos: u64) -> u64 {
    (nanos / NANOS_PER_TICK).min(crate::state::MAX_TICK)
}
