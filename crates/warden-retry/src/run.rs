//! The retry loop's decisions, shared by the sync and async drivers: count
//! attempts, decide whether to retry, compute the wait, keep the errors, call
//! the hooks, settle the budget. The drivers only call, wait and measure time.

use std::collections::VecDeque;
use std::time::Duration;

use crate::backoff::DelayState;
use crate::budget::Withdrawal;
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
///
/// Budget: the run deposits once, when its first attempt reaches the
/// downstream ([`ran`](Self::ran)); each retry withdraws, and the token is
/// given back if that retry never reaches the downstream (rejected by the
/// breaker, the run dropped while waiting, a hook panicking): dropping a
/// `Run` refunds a withdrawal not yet spent.
pub(crate) struct Run<'p, E, X> {
    policy: &'p RetryPolicy<E>,
    attempts: u32,
    delays: DelayState,
    kept: Kept<X>,
    deposited: bool,
    /// The token paid for the next attempt, until it reaches the downstream.
    unspent: Option<Withdrawal>,
}

impl<'p, E, X> Run<'p, E, X> {
    /// Starts a run. Nothing is read or allocated until an attempt fails.
    #[inline]
    pub(crate) fn new(policy: &'p RetryPolicy<E>) -> Self {
        Self {
            policy,
            attempts: 0,
            delays: DelayState::new(),
            kept: Kept::new(policy.retention()),
            deposited: false,
            unspent: None,
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

    /// The attempt reaches the downstream (for the plain drivers: every
    /// attempt; with a breaker: an admitted one). The first deposits into the
    /// budget; a retry's withdrawal is now spent.
    #[inline]
    pub(crate) fn ran(&mut self) {
        if !self.deposited {
            self.deposited = true;
            if let Some(budget) = self.policy.budget() {
                budget.deposit();
            }
        }
        self.unspent = None;
    }

    /// The attempt was rejected by the breaker: the retry it was did not
    /// reach the downstream, so its token goes back.
    #[inline]
    pub(crate) fn rejected(&mut self) {
        self.refund();
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
        if let Some(budget) = self.policy.budget() {
            match budget.withdraw() {
                // Held until the retry reaches the downstream: a panicking
                // hook below, or a run dropped while waiting, gives it back.
                Some(receipt) => self.unspent = Some(receipt),
                None => return Next::Stop(self.give_up(error, StopReason::Budget)),
            }
        }
        if let Some(hook) = self.policy.on_retry_hook()
            && let Some(e) = call_error(&error)
        {
            hook(self.attempts, e, wait);
        }
        if let Some(o) = self.policy.observer() {
            o.on_retry(self.attempts, wait);
        }
        self.kept.push(error);
        Next::Retry(wait)
    }

    fn give_up(&mut self, last: X, reason: StopReason) -> RetryError<X> {
        if let Some(o) = self.policy.observer() {
            o.on_give_up(self.attempts, reason);
        }
        let kept = std::mem::replace(&mut self.kept, Kept::new(Retention::Last));
        let (earlier, gap_at, dropped) = kept.finish(self.attempts);
        RetryError::new(earlier, gap_at, dropped, last, self.attempts, reason)
    }

    fn refund(&mut self) {
        if let Some(receipt) = self.unspent.take()
            && let Some(budget) = self.policy.budget()
        {
            budget.refund(receipt);
        }
    }
}

impl<E, X> Drop for Run<'_, E, X> {
    fn drop(&mut self) {
        // A retry paid for and never made: cancelled while waiting, or a hook
        // panicked after the withdrawal.
        self.refund();
    }
}

/// The errors of the attempts before the last, as the policy's [`Retention`]
/// keeps them: the first `head_cap`, then the newest `tail_cap` in a ring,
/// dropping what falls out between them.
struct Kept<X> {
    head: Vec<X>,
    head_cap: usize,
    tail: VecDeque<X>,
    tail_cap: usize,
}

impl<X> Kept<X> {
    fn new(retention: Retention) -> Self {
        let (head_cap, tail_cap) = match retention {
            Retention::All => (usize::MAX, 0),
            Retention::Last => (0, 0),
            Retention::Ends(n) => {
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                (n, n.saturating_sub(1))
            }
        };
        Self {
            head: Vec::new(),
            head_cap,
            tail: VecDeque::new(),
            tail_cap,
        }
    }

    fn push(&mut self, error: X) {
        if self.head.len() < self.head_cap {
            self.head.push(error);
        } else if self.tail_cap > 0 {
            if self.tail.len() == self.tail_cap {
                self.tail.pop_front();
            }
            self.tail.push_back(error);
        }
    }

    /// The kept errors in order, where the dropped ones were, and how many:
    /// every attempt before the last was pushed once, so the dropped ones are
    /// those not kept.
    fn finish(self, attempts: u32) -> (Vec<X>, usize, u32) {
        let gap_at = self.head.len();
        let mut earlier = self.head;
        earlier.extend(self.tail);
        let kept = u32::try_from(earlier.len()).unwrap_or(u32::MAX);
        (
            earlier,
            gap_at,
            attempts.saturating_sub(1).saturating_sub(kept),
        )
    }
}
