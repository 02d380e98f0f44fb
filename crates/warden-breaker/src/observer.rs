//! The [`Observer`] hook: per-call and per-transition events for metrics and
//! logging.

use crate::{Rejected, State};

/// Receives a breaker's events. Every method has an empty default, so an
/// observer implements only what it needs.
///
/// Per-call events run on the calling thread, synchronously, without any lock;
/// keep them cheap (increment pre-resolved counters, don't resolve labels per
/// call). [`on_state_change`](Observer::on_state_change) runs exactly once per
/// transition, after the `on_state_change` callback of the builder, in
/// transition order per breaker (see the crate docs on callbacks).
///
/// A breaker without observers pays one predictable branch per event.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use warden_breaker::{CircuitBreaker, Observer};
///
/// #[derive(Default)]
/// struct Failures(AtomicU64);
/// impl Observer for Failures {
///     fn on_failure(&self) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///     }
/// }
///
/// let failures = Arc::new(Failures::default());
/// let cb = CircuitBreaker::builder("db").observer(failures.clone()).build()?;
/// let _ = cb.call(|| Err::<(), _>("down"));
/// assert_eq!(failures.0.load(Ordering::Relaxed), 1);
/// # Ok::<(), warden_breaker::ConfigError>(())
/// ```
pub trait Observer: Send + Sync + 'static {
    /// A call was admitted in `state` (closed or half-open).
    fn on_admitted(&self, state: State) {
        let _ = state;
    }
    /// A call was refused.
    fn on_rejected(&self, rejected: Rejected) {
        let _ = rejected;
    }
    /// A call reported success. Reported even when the breaker's generation has
    /// moved on since the call was admitted (the counts then ignore it).
    fn on_success(&self) {}
    /// A call reported failure (also for panics). Reported even when stale, like
    /// [`on_success`](Observer::on_success).
    fn on_failure(&self) {}
    /// A call reported an outcome that counts as neither success nor failure.
    fn on_ignored(&self) {}
    /// A permit was dropped without an outcome (a cancelled call).
    fn on_dropped(&self) {}
    /// The breaker named `name` moved from `from` to `to`.
    fn on_state_change(&self, name: &str, from: State, to: State) {
        let _ = (name, from, to);
    }
}

impl<O: Observer + ?Sized> Observer for std::sync::Arc<O> {
    fn on_admitted(&self, state: State) {
        (**self).on_admitted(state)
    }
    fn on_rejected(&self, rejected: Rejected) {
        (**self).on_rejected(rejected)
    }
    fn on_success(&self) {
        (**self).on_success()
    }
    fn on_failure(&self) {
        (**self).on_failure()
    }
    fn on_ignored(&self) {
        (**self).on_ignored()
    }
    fn on_dropped(&self) {
        (**self).on_dropped()
    }
    fn on_state_change(&self, name: &str, from: State, to: State) {
        (**self).on_state_change(name, from, to)
    }
}
