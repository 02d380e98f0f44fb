//! How a [`CircuitBreaker`] applies its [`AdaptiveThrottle`](crate::AdaptiveThrottle):
//! the few steps the admission and recording paths dispatch to (the rule and its
//! semantics are in `throttle.rs`).
//!
//! The throttle's window is the breaker's time-window machinery: a [`Buckets`]
//! ring of start snapshots over the generation's counts. Accepts are the
//! successes (on the calling thread's stripe), requests are successes, failures
//! and this rule's rejections. The rejections are kept in the generation's
//! slow-call count, free here since [`SlowCalls`](crate::SlowCalls) cannot be
//! combined with the throttle, so that the bucket snapshots carry them with no
//! change to the ring.

use super::*;
use crate::AdaptiveThrottle;
use crate::throttle::Throttle;

impl CircuitBreaker {
    /// Whether the throttle rejects a call admitted from state word `s` (never
    /// without a throttle, and never unless the breaker is closed by its rules).
    #[inline]
    pub(super) fn throttles(&self, s: Snapshot) -> bool {
        let Some(t) = &self.throttle else {
            return false;
        };
        if s.tag() != Tag::Closed || s.is_open_requested() {
            return false;
        }
        // The common case: the last evaluation sheds nothing, no draw.
        t.probability(s.generation()) != 0 && self.throttle_draw(t, s)
    }

    /// A draw against the current probability; a rejection is counted and
    /// re-evaluates.
    #[cold]
    #[inline(never)]
    fn throttle_draw(&self, t: &Throttle, s: Snapshot) -> bool {
        let generation = s.generation();
        let now = self.settings.now_ticks().min(MAX_TICK);
        if s.payload() != 0 && !s.is_pending() && now > s.payload() {
            // The counting interval expired: the admission starts a new generation,
            // whose window is empty.
            return false;
        }
        let p = if t.bucket_moved(now) {
            self.throttle_evaluate(t, generation, now)
        } else {
            t.probability(generation)
        };
        if AdaptiveThrottle::draw() >= p {
            return false;
        }
        if let Some(b) = &self.buckets {
            b.enter(
                generation,
                b.standing_still(generation, now),
                &self.counters,
            );
        }
        self.counters.count_slow(generation);
        self.throttle_evaluate(t, generation, now);
        true
    }

    /// After a closed-state success at tick `now`, already counted.
    #[inline]
    pub(super) fn throttle_success(&self, generation: u32, now: u64) {
        if let Some(t) = &self.throttle
            && t.success_evaluates(generation, now)
        {
            self.throttle_evaluate(t, generation, now);
        }
    }

    /// Evaluates the rule over the window ending in the bucket of tick `now` and
    /// stores the result; returns its probability (a fraction of 2^32).
    #[cold]
    pub(super) fn throttle_evaluate(&self, t: &Throttle, generation: u32, now: u64) -> u32 {
        let Some(b) = &self.buckets else {
            return 0;
        };
        let now = b.standing_still(generation, now);
        let so_far = self.counters.calls(generation);
        // Without a start snapshot (another thread is still writing this bucket's,
        // and no older bucket in the window has one) the window reads as empty.
        let window = b
            .start(generation, now)
            .map(|start| so_far.since(start))
            .unwrap_or_default();
        let accepts = u64::from(window.successes);
        let requests = accepts + u64::from(window.failures) + u64::from(window.slow);
        t.store(generation, now, requests, accepts)
    }
}
