//! What an instance publishes each slice: the change in its local breaker's
//! counts since the previous poll. Polling keeps the guarded call untouched (no
//! extra counter on the hot path); the price is that outcomes recorded between a
//! poll and a local reset (interval expiry, state change) are not published.

use warden_breaker::Counts;

/// Outcome counts of one slice, plus the local run lengths at its end (to carry
/// the consecutive counts across instances).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Delta {
    pub(crate) requests: u64,
    pub(crate) successes: u64,
    pub(crate) failures: u64,
    pub(crate) exclusions: u64,
    pub(crate) last_consecutive_successes: u64,
    pub(crate) last_consecutive_failures: u64,
}

impl Delta {
    /// The change from `prev` to `cur`. A total that went down means the local
    /// breaker reset its counts in between (a new generation): everything in `cur`
    /// is then new.
    pub(crate) fn between(prev: Counts, cur: Counts) -> Self {
        let reset = cur.requests < prev.requests
            || cur.total_successes < prev.total_successes
            || cur.total_failures < prev.total_failures
            || cur.total_exclusions < prev.total_exclusions;
        let base = if reset { Counts::default() } else { prev };
        Self {
            requests: u64::from(cur.requests - base.requests),
            successes: u64::from(cur.total_successes - base.total_successes),
            failures: u64::from(cur.total_failures - base.total_failures),
            exclusions: u64::from(cur.total_exclusions - base.total_exclusions),
            last_consecutive_successes: u64::from(cur.consecutive_successes),
            last_consecutive_failures: u64::from(cur.consecutive_failures),
        }
    }

    /// Whether there is anything to publish.
    pub(crate) fn is_empty(&self) -> bool {
        self.requests + self.successes + self.failures + self.exclusions == 0
    }
}

/// The fleet's counts as the local policy sees them (saturating at `u32::MAX`).
pub(crate) fn fleet_counts(c: [u64; 6]) -> Counts {
    let n = |x: u64| u32::try_from(x).unwrap_or(u32::MAX);
    Counts {
        requests: n(c[0]),
        total_successes: n(c[1]),
        total_failures: n(c[2]),
        total_exclusions: n(c[3]),
        consecutive_successes: n(c[4]),
        consecutive_failures: n(c[5]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(r: u32, s: u32, f: u32, cs: u32, cf: u32) -> Counts {
        Counts {
            requests: r,
            total_successes: s,
            total_failures: f,
            total_exclusions: 0,
            consecutive_successes: cs,
            consecutive_failures: cf,
        }
    }

    #[test]
    fn a_slice_is_the_difference_of_two_polls() {
        let d = Delta::between(counts(10, 7, 3, 0, 3), counts(15, 9, 6, 0, 3));
        assert_eq!((d.requests, d.successes, d.failures), (5, 2, 3));
        assert_eq!(d.last_consecutive_failures, 3);
        assert!(!d.is_empty());
    }

    #[test]
    fn a_reset_in_between_publishes_the_new_generation_whole() {
        // 10 successes, reset, 4 calls (1 success, 3 failures): successes went down.
        let d = Delta::between(counts(10, 10, 0, 10, 0), counts(4, 1, 3, 0, 3));
        assert_eq!((d.requests, d.successes, d.failures), (4, 1, 3));
    }

    #[test]
    fn no_change_is_empty() {
        let c = counts(3, 1, 2, 0, 2);
        assert!(Delta::between(c, c).is_empty());
    }

    #[test]
    fn fleet_counts_saturate() {
        let c = fleet_counts([u64::MAX, 1, 2, 3, 4, 5]);
        assert_eq!(c.requests, u32::MAX);
        assert_eq!(c.consecutive_failures, 5);
    }
}
