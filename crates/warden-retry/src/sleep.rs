//! How the synchronous functions wait: the [`Sleeper`] trait, the real
//! [`ThreadSleeper`] and the test [`ManualSleeper`].

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use warden_breaker::ManualClock;

/// Blocks the calling thread between synchronous attempts.
///
/// Implement it to wait some other way (a simulation, a test double). The
/// `*_async` functions do not use it: they wait on tokio's timer.
///
/// ```
/// use std::time::Duration;
/// use warden_retry::Sleeper;
/// #[derive(Debug)]
/// struct Spin;
/// impl Sleeper for Spin {
///     fn sleep(&self, duration: Duration) {
///         let end = std::time::Instant::now() + duration;
///         while std::time::Instant::now() < end {
///             std::hint::spin_loop();
///         }
///     }
/// }
/// Spin.sleep(Duration::from_nanos(10));
/// ```
pub trait Sleeper: Send + Sync + fmt::Debug + 'static {
    /// Waits for `duration` (never called with zero).
    fn sleep(&self, duration: Duration);
}

/// The default sleeper: [`std::thread::sleep`].
///
/// ```
/// use std::time::Duration;
/// use warden_retry::{Sleeper, ThreadSleeper};
/// ThreadSleeper.sleep(Duration::from_micros(1));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct ThreadSleeper;

impl Sleeper for ThreadSleeper {
    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// A sleeper that never blocks: it records each wait and, if given a
/// [`ManualClock`], advances it by the wait, so deadlines pass as if the time
/// had been waited. Clones share the record and the clock.
///
/// ```
/// use std::time::Duration;
/// use warden_breaker::{Clock, ManualClock};
/// use warden_retry::{ManualSleeper, Sleeper};
///
/// let clock = ManualClock::new();
/// let sleeper = ManualSleeper::with_clock(clock.clone());
/// sleeper.sleep(Duration::from_secs(3));
/// assert_eq!(sleeper.sleeps(), [Duration::from_secs(3)]);
/// assert_eq!(clock.now_nanos(), 3_000_000_000);
/// ```
#[derive(Clone, Debug, Default)]
pub struct ManualSleeper {
    sleeps: Arc<Mutex<Vec<Duration>>>,
    clock: Option<ManualClock>,
}

impl ManualSleeper {
    /// A sleeper that only records.
    ///
    /// ```
    /// assert!(warden_retry::ManualSleeper::new().sleeps().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// A sleeper that records and advances `clock` by each wait.
    ///
    /// ```
    /// use warden_breaker::ManualClock;
    /// let s = warden_retry::ManualSleeper::with_clock(ManualClock::new());
    /// assert_eq!(s.total(), std::time::Duration::ZERO);
    /// ```
    pub fn with_clock(clock: ManualClock) -> Self {
        Self {
            sleeps: Arc::default(),
            clock: Some(clock),
        }
    }

    /// Every wait so far, in order.
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_retry::{ManualSleeper, Sleeper};
    /// let s = ManualSleeper::new();
    /// s.sleep(Duration::from_millis(1));
    /// s.sleep(Duration::from_millis(2));
    /// assert_eq!(s.sleeps(), [Duration::from_millis(1), Duration::from_millis(2)]);
    /// ```
    pub fn sleeps(&self) -> Vec<Duration> {
        self.sleeps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The sum of every wait so far (saturating).
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_retry::{ManualSleeper, Sleeper};
    /// let s = ManualSleeper::new();
    /// s.sleep(Duration::from_millis(5));
    /// s.sleep(Duration::from_millis(7));
    /// assert_eq!(s.total(), Duration::from_millis(12));
    /// ```
    pub fn total(&self) -> Duration {
        self.sleeps()
            .iter()
            .fold(Duration::ZERO, |a, d| a.saturating_add(*d))
    }
}

impl Sleeper for ManualSleeper {
    fn sleep(&self, duration: Duration) {
        self.sleeps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(duration);
        if let Some(clock) = &self.clock {
            clock.advance(duration);
        }
    }
}
