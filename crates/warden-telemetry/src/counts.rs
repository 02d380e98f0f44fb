//! What only the caller of a breaker knows: timeouts, bulkhead rejections and
//! retry attempts.

use std::sync::atomic::{AtomicU64, Ordering};

/// The counts of one name that its breaker cannot know, kept by whoever runs
/// the calls (the `warden-kit` facade does it for every name it creates) and
/// read by the `otel` and `metrics` backends when they collect or export:
///
/// * timeouts (`warden.circuit_breaker.timeouts`): calls that went past their
///   time limit (the caller reports them to the breaker as failures too);
/// * bulkhead rejections (`rejections` with `reason` `bulkhead_full`): calls
///   refused before reaching the breaker because the name's concurrency limit
///   was reached;
/// * retry attempts and retries (`warden.retry.attempts`,
///   `warden.retry.retries`): attempts of retry runs (first attempts included,
///   refused ones too) and the attempts that followed a failure.
///
/// Each record is one relaxed atomic add on this struct, on paths that are not
/// a plain guarded call: when a timer fired, when a bulkhead refused, per
/// attempt of a retry run (what `warden-prometheus`'s counters cost for the
/// same events). A backend's `watch` (`OtelMetrics::watch`,
/// `MetricsFacade::watch`) hands out the counts of a breaker's name; give the
/// same counts to every backend with `watch_with`.
///
/// ```
/// let counts = warden_telemetry::CallerCounts::default();
/// counts.record_timeout();
/// counts.record_attempt();
/// assert_eq!((counts.timeouts(), counts.attempts(), counts.retries()), (1, 1, 0));
/// ```
#[derive(Debug, Default)]
pub struct CallerCounts {
    timeouts: AtomicU64,
    bulkhead_rejections: AtomicU64,
    attempts: AtomicU64,
    retries: AtomicU64,
}

impl CallerCounts {
    /// Counts a call that timed out.
    ///
    /// ```
    /// let c = warden_telemetry::CallerCounts::default();
    /// c.record_timeout();
    /// assert_eq!(c.timeouts(), 1);
    /// ```
    #[inline]
    pub fn record_timeout(&self) {
        // Relaxed: a statistic, read by collections that need no order with the calls.
        self.timeouts.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a call refused because its bulkhead was full.
    ///
    /// ```
    /// let c = warden_telemetry::CallerCounts::default();
    /// c.record_bulkhead_rejection();
    /// assert_eq!(c.bulkhead_rejections(), 1);
    /// ```
    #[inline]
    pub fn record_bulkhead_rejection(&self) {
        self.bulkhead_rejections.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an attempt of a retry run (call it before each attempt, the
    /// first included, as `RetryObserver::on_attempt` is called).
    ///
    /// ```
    /// let c = warden_telemetry::CallerCounts::default();
    /// c.record_attempt();
    /// assert_eq!(c.attempts(), 1);
    /// ```
    #[inline]
    pub fn record_attempt(&self) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a retry: an attempt failed and another follows (as
    /// `RetryObserver::on_retry` is called).
    ///
    /// ```
    /// let c = warden_telemetry::CallerCounts::default();
    /// c.record_retry();
    /// assert_eq!(c.retries(), 1);
    /// ```
    #[inline]
    pub fn record_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// Timeouts counted so far.
    ///
    /// ```
    /// assert_eq!(warden_telemetry::CallerCounts::default().timeouts(), 0);
    /// ```
    pub fn timeouts(&self) -> u64 {
        self.timeouts.load(Ordering::Relaxed)
    }

    /// Bulkhead rejections counted so far.
    ///
    /// ```
    /// assert_eq!(warden_telemetry::CallerCounts::default().bulkhead_rejections(), 0);
    /// ```
    pub fn bulkhead_rejections(&self) -> u64 {
        self.bulkhead_rejections.load(Ordering::Relaxed)
    }

    /// Retry attempts counted so far.
    ///
    /// ```
    /// assert_eq!(warden_telemetry::CallerCounts::default().attempts(), 0);
    /// ```
    pub fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::Relaxed)
    }

    /// Retries counted so far.
    ///
    /// ```
    /// assert_eq!(warden_telemetry::CallerCounts::default().retries(), 0);
    /// ```
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// Whether retry series are exported for this name: once a retry attempt
    /// was counted (names without retry carry no retry series).
    #[cfg(feature = "metrics")]
    pub(crate) fn has_retries(&self) -> bool {
        self.attempts() != 0 || self.retries() != 0
    }
}
