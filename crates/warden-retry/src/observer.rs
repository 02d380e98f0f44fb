//! [`RetryObserver`]: the seam metrics and logging hang on.

use std::time::Duration;

use crate::StopReason;

/// Receives a policy's events: every attempt, every retry, and how each run
/// ended. Every method has an empty default, so an observer implements only
/// what it needs. The Prometheus adapter counts `warden_retry_attempts_total`
/// from [`on_attempt`](Self::on_attempt) (or retries only, from
/// [`on_retry`](Self::on_retry)).
///
/// Events run on the calling thread (or task), synchronously, in order for one
/// run; keep them cheap (increment pre-resolved counters). A policy without an
/// observer pays one predictable branch per event.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use warden_retry::{retry, RetryObserver, RetryPolicy, StopReason};
///
/// #[derive(Default)]
/// struct Metrics { attempts: AtomicU64, retries: AtomicU64, gave_up: AtomicU64 }
/// impl RetryObserver for Metrics {
///     fn on_attempt(&self, _attempt: u32) { self.attempts.fetch_add(1, Ordering::Relaxed); }
///     fn on_retry(&self, _attempt: u32, _wait: Duration) { self.retries.fetch_add(1, Ordering::Relaxed); }
///     fn on_give_up(&self, _attempts: u32, _reason: StopReason) { self.gave_up.fetch_add(1, Ordering::Relaxed); }
/// }
///
/// let metrics = Arc::new(Metrics::default());
/// let policy = RetryPolicy::builder().base_delay(Duration::ZERO).observer(metrics.clone()).build()?;
/// let _ = retry(&policy, || Err::<(), _>("down"));
/// assert_eq!(metrics.attempts.load(Ordering::Relaxed), 3);
/// assert_eq!(metrics.retries.load(Ordering::Relaxed), 2);
/// assert_eq!(metrics.gave_up.load(Ordering::Relaxed), 1);
/// # Ok::<(), warden_retry::ConfigError>(())
/// ```
pub trait RetryObserver: Send + Sync + 'static {
    /// Attempt number `attempt` (1-based) is about to start. With a breaker,
    /// reported before asking the breaker, so rejected attempts count too.
    fn on_attempt(&self, attempt: u32) {
        let _ = attempt;
    }
    /// Attempt `attempt` failed and a retry will follow after `wait`.
    fn on_retry(&self, attempt: u32, wait: Duration) {
        let _ = (attempt, wait);
    }
    /// The run succeeded on attempt number `attempts`.
    fn on_success(&self, attempts: u32) {
        let _ = attempts;
    }
    /// The run gave up after `attempts` attempts, for `reason`.
    fn on_give_up(&self, attempts: u32, reason: StopReason) {
        let _ = (attempts, reason);
    }
}

impl<O: RetryObserver + ?Sized> RetryObserver for std::sync::Arc<O> {
    fn on_attempt(&self, attempt: u32) {
        (**self).on_attempt(attempt)
    }
    fn on_retry(&self, attempt: u32, wait: Duration) {
        (**self).on_retry(attempt, wait)
    }
    fn on_success(&self, attempts: u32) {
        (**self).on_success(attempts)
    }
    fn on_give_up(&self, attempts: u32, reason: StopReason) {
        (**self).on_give_up(attempts, reason)
    }
}
