//! The retry loop's decisions, shared by the sync and async drivers: count
//! attempts, decide whether to retry, compute the wait, keep the errors, call
//! the hooks. The drivers only call, wait and measure time.

use std::time::Duration;

use crate::backoff::DelayState;
use crate::{Retention, RetryError, RetryPolicy, StopReason};

/// What a driver does after a failed attempt.
pub(crate) enum Next<X> {
    /// Wait this long, then make the next attempt.
    Retry(Duration),
    /// Give up with this error.
    Stop(RetryError<X>),
}

/// Whether a failed attempt may be retried, as far as its error goes.
#[derive(Clone, Copy)]
pub(crate) enum Verdict {
    Retryable,
    Stop(StopReason),
}

/// One run of a policy. `X` is the error kept per attempt: the call's `E`, or
/// `warden_breaker::Error<E>` for the breaker combinators.
pub(crate) struct Run<'p, E, X> {
    policy: &'p RetryPolicy<E>,
    attempts: u32,
    delays: DelayState,
    kept: Vec<X>,
}

impl<'p, E, X> Run<'p, E, X> {
    /// Starts a run; a budget, if any, is credited with this first attempt.
    #[inline]
    pub(crate) fn new(policy: &'p RetryPolicy<E>) -> Self {
        if let Some(budget) = policy.budget() {
            budget.deposit();
        }
        Self {
            policy,
            attempts: 0,
            delays: DelayState::new(),
            kept: Vec::new(),
        }
    }

    /// An attempt is about to start.
    #[inline]
    pub(crate) fn begin_attempt(&mut self) {
        self.attempts = self.attempts.saturating_add(1);
        if let Some(o) = self.policy.observer() {
            o.on_attempt(self.attempts);
        }
    }

    /// The attempt succeeded.
    #[inline]
    pub(crate) fn succeeded(&self) {
        if let Some(o) = self.policy.observer() {
            o.on_success(self.attempts);
        }
    }

    /// The attempt failed with `error`. `call_error` extracts the call's own
    /// error for `on_retry` (`None` for a breaker rejection); `elapsed` is
    /// asked only when the policy has a time limit.
    #[cold]
    pub(crate) fn failed(
        &mut self,
        error: X,
        verdict: Verdict,
        call_error: impl FnOnce(&X) -> Option<&E>,
        elapsed: impl FnOnce() -> Duration,
    ) -> Next<X> {
        if let Verdict::Stop(reason) = verdict {
            return Next::Stop(self.give_up(error, reason));
        }
        if self
            .policy
            .max_attempts()
            .is_some_and(|max| self.attempts >= max)
        {
            return Next::Stop(self.give_up(error, StopReason::Exhausted));
        }
        let wait = self.delays.next(self.policy);
        if let Some(limit) = self.policy.max_elapsed()
            && elapsed().saturating_add(wait) > limit
        {
            return Next::Stop(self.give_up(error, StopReason::Deadline));
        }
        if let Some(budget) = self.policy.budget()
            && !budget.try_withdraw()
        {
            return Next::Stop(self.give_up(error, StopReason::Budget));
        }
        if let Some(hook) = self.policy.on_retry_hook()
            && let Some(e) = call_error(&error)
        {
            hook(self.attempts, e, wait);
        }
        if let Some(o) = self.policy.observer() {
            o.on_retry(self.attempts, wait);
        }
        if self.policy.retention() == Retention::All {
            self.kept.push(error);
        }
        Next::Retry(wait)
    }

    fn give_up(&mut self, last: X, reason: StopReason) -> RetryError<X> {
        if let Some(o) = self.policy.observer() {
            o.on_give_up(self.attempts, reason);
        }
        RetryError::new(std::mem::take(&mut self.kept), last, self.attempts, reason)
    }
}
