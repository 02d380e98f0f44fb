//! Delay arithmetic: [`Backoff`] (how the delay grows), [`Jitter`] (how it is
//! randomised) and [`Delays`] (the waits of one run).

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};

use crate::RetryPolicy;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// How the delay between attempts grows.
///
/// Retry `k` (`k = 1` for the wait after the first failed call) waits:
///
/// | backoff | delay before jitter |
/// | --- | --- |
/// | `Constant` | `base` |
/// | `Linear` | `base × k` |
/// | `Exponential { factor }` | `base × factorᵏ⁻¹` |
///
/// capped at `max_delay`. The arithmetic is done in `u128` nanoseconds with
/// checked operations; any overflow yields `max_delay`, so every attempt
/// number (up to `u32::MAX`) gives a defined, capped delay.
///
/// ```
/// use std::time::Duration;
/// use warden_retry::Backoff;
/// let (base, max) = (Duration::from_millis(100), Duration::from_secs(1));
/// assert_eq!(Backoff::Constant.delay(base, max, 3), Duration::from_millis(100));
/// assert_eq!(Backoff::Linear.delay(base, max, 3), Duration::from_millis(300));
/// assert_eq!(Backoff::exponential().delay(base, max, 3), Duration::from_millis(400));
/// assert_eq!(Backoff::exponential().delay(base, max, u32::MAX), max); // no overflow
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backoff {
    /// Every wait is `base`.
    Constant,
    /// Wait `k` is `base × k`.
    Linear,
    /// Wait `k` is `base × factorᵏ⁻¹`; the builder accepts a factor of at least 2.
    Exponential {
        /// The growth factor.
        factor: u32,
    },
}

impl Backoff {
    /// Exponential backoff doubling each time.
    ///
    /// ```
    /// assert_eq!(warden_retry::Backoff::exponential(), warden_retry::Backoff::Exponential { factor: 2 });
    /// ```
    pub const fn exponential() -> Self {
        Backoff::Exponential { factor: 2 }
    }

    /// The delay before retry `retry` (1 for the wait after the first failure;
    /// 0 is treated as 1), capped at `max`. Never panics and never overflows.
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_retry::Backoff;
    /// let ms = Duration::from_millis;
    /// let b = Backoff::Exponential { factor: 3 };
    /// let waits: Vec<_> = (1..=5).map(|k| b.delay(ms(10), ms(500), k)).collect();
    /// assert_eq!(waits, [ms(10), ms(30), ms(90), ms(270), ms(500)]);
    /// ```
    pub fn delay(self, base: Duration, max: Duration, retry: u32) -> Duration {
        let retry = retry.max(1);
        let base = base.as_nanos();
        let max_nanos = max.as_nanos();
        let nanos = match self {
            _ if base == 0 => Some(0),
            Backoff::Constant => Some(base),
            // base < 2^95 ns and retry < 2^32, so this never overflows u128.
            Backoff::Linear => base.checked_mul(u128::from(retry)),
            Backoff::Exponential { factor } => u128::from(factor)
                .checked_pow(retry - 1)
                .and_then(|m| base.checked_mul(m)),
        };
        match nanos {
            Some(n) if n < max_nanos => from_nanos_u128(n),
            _ => max,
        }
    }
}

/// How the delay is randomised so that clients that failed together do not
/// retry together.
///
/// With `d` the capped delay of the [`Backoff`] (the kinds of AWS's
/// "Exponential Backoff And Jitter"):
///
/// | jitter | wait |
/// | --- | --- |
/// | `None` | `d` |
/// | `Full` | uniform in `[0, d]` |
/// | `Equal` | `d/2 + uniform in [0, d − d/2]` (integer halves) |
/// | `Decorrelated` | `min(max_delay, uniform in [base, max(base, 3 × previous)])`, previous starting at `base` |
///
/// Decorrelated jitter derives each wait from the previous *wait*, not from
/// the attempt number, so it ignores the backoff kind. Jittered waits are
/// computed in whole nanoseconds, up to `u64::MAX` ns (584 years; longer
/// delays are treated as that).
///
/// A uniform draw in `[lo, hi]` takes one `u64` `x` from the run's RNG and
/// returns `lo + ⌊x · (hi − lo + 1) / 2⁶⁴⌋`: `x = 0` gives `lo`,
/// `x = u64::MAX` gives `hi`, `x = 2⁶³` the midpoint. The bias of this mapping
/// is below `(hi − lo + 1) / 2⁶⁴`, far under a nanosecond for any delay, and it
/// makes draws predictable in tests with a stub RNG
/// ([`RetryPolicyBuilder::rng`](crate::RetryPolicyBuilder::rng)).
///
/// ```
/// use std::time::Duration;
/// use warden_retry::{Jitter, RetryPolicy};
/// let policy = RetryPolicy::<()>::builder()
///     .base_delay(Duration::from_millis(100))
///     .jitter(Jitter::Full)
///     .rng_seed(7)
///     .build()?;
/// assert!(policy.delays().all(|d| d <= Duration::from_millis(200)));
/// # Ok::<(), warden_retry::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Jitter {
    /// The backoff's delay as is.
    None,
    /// Uniform in `[0, d]`: spreads retries the most, may retry at once.
    Full,
    /// `d/2` plus uniform in `[0, d − d/2]`: spread, yet never below half.
    Equal,
    /// Uniform in `[base, 3 × previous]`, capped: each wait grows from the
    /// previous one, whatever the backoff kind.
    Decorrelated,
}

/// Creates a run's random number generator.
pub(crate) type RngFactory = std::sync::Arc<dyn Fn() -> Box<dyn RngCore + Send> + Send + Sync>;

/// A run's delay state: the retry number, the previous wait (decorrelated
/// jitter) and the RNG, created on the first jittered wait only.
pub(crate) struct DelayState {
    retry: u32,
    previous: Option<Duration>,
    rng: Option<Box<dyn RngCore + Send>>,
}

impl DelayState {
    pub(crate) const fn new() -> Self {
        Self {
            retry: 0,
            previous: None,
            rng: None,
        }
    }

    /// The wait before the next retry.
    pub(crate) fn next<E>(&mut self, policy: &RetryPolicy<E>) -> Duration {
        self.retry = self.retry.saturating_add(1);
        let base = policy.base_delay();
        let max = policy.max_delay();
        let jitter = policy.jitter();
        if jitter == Jitter::None {
            return policy.backoff().delay(base, max, self.retry);
        }
        let rng: &mut dyn RngCore = &mut **self
            .rng
            .get_or_insert_with(|| make_rng(policy.rng_factory()));
        match jitter {
            Jitter::Full => {
                let d = nanos(policy.backoff().delay(base, max, self.retry));
                Duration::from_nanos(uniform(rng, 0, d))
            }
            Jitter::Equal => {
                let d = nanos(policy.backoff().delay(base, max, self.retry));
                let half = d / 2;
                Duration::from_nanos(half + uniform(rng, 0, d - half))
            }
            // `None` returned above; `Decorrelated` and any future kind land here.
            _ => {
                let lo = nanos(base);
                let previous = self.previous.map_or(lo, nanos);
                let hi = previous.saturating_mul(3).max(lo);
                let wait = Duration::from_nanos(uniform(rng, lo, hi)).min(max);
                self.previous = Some(wait);
                wait
            }
        }
    }
}

impl fmt::Debug for DelayState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DelayState")
            .field("retry", &self.retry)
            .field("previous", &self.previous)
            .finish_non_exhaustive()
    }
}

fn make_rng(factory: Option<&RngFactory>) -> Box<dyn RngCore + Send> {
    match factory {
        Some(make) => make(),
        // std's RandomState keys are random per process and differ per call, so
        // concurrent runs get unrelated sequences without a thread-local RNG.
        None => Box::new(SmallRng::seed_from_u64(RandomState::new().hash_one(0u8))),
    }
}

/// Uniform in `[lo, hi]` (`lo <= hi`) from one `u64` draw; see [`Jitter`].
fn uniform(rng: &mut dyn RngCore, lo: u64, hi: u64) -> u64 {
    let span = u128::from(hi - lo) + 1;
    let offset = (u128::from(rng.next_u64()) * span) >> 64;
    // offset <= hi - lo, so this fits and does not overflow.
    lo + u64::try_from(offset).unwrap_or(hi - lo)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn from_nanos_u128(n: u128) -> Duration {
    let secs = u64::try_from(n / NANOS_PER_SEC).unwrap_or(u64::MAX);
    // The remainder is below 10^9, so it fits in u32.
    let sub = u32::try_from(n % NANOS_PER_SEC).unwrap_or(0);
    Duration::new(secs, sub)
}

/// The waits of one run, drawn one at a time and kept between draws: for a
/// retry loop other than this crate's own (a `tower::retry::Policy`, a
/// hand-written loop) that keeps one per request. Each draw costs O(1),
/// where taking the `k`-th item of a fresh [`Delays`] costs O(k).
///
/// It draws exactly the waits a run of the policy makes (with
/// [`rng_seed`](crate::RetryPolicyBuilder::rng_seed), the same ones), ignoring
/// the attempt limit, the time limit and the budget, which the loop checks.
/// Pass it the same policy every time.
///
/// ```
/// use std::time::Duration;
/// use warden_retry::{DelayCursor, Jitter, RetryPolicy};
/// let policy = RetryPolicy::<()>::builder().max_attempts(4).jitter(Jitter::Full).rng_seed(7).build()?;
/// let mut cursor = DelayCursor::new();
/// let drawn: Vec<Duration> = (0..3).map(|_| cursor.next_wait(&policy)).collect();
/// assert_eq!(drawn, policy.delays().collect::<Vec<_>>());
/// assert_eq!(cursor.retries(), 3);
/// # Ok::<(), warden_retry::ConfigError>(())
/// ```
#[derive(Debug, Default)]
pub struct DelayCursor {
    state: DelayState,
}

impl DelayCursor {
    /// A cursor before the first wait.
    ///
    /// ```
    /// assert_eq!(warden_retry::DelayCursor::new().retries(), 0);
    /// ```
    pub const fn new() -> Self {
        Self {
            state: DelayState::new(),
        }
    }

    /// The wait before the next retry under `policy`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_retry::{DelayCursor, Jitter, RetryPolicy};
    /// let p = RetryPolicy::<()>::builder().jitter(Jitter::None).build()?;
    /// let mut c = DelayCursor::new();
    /// assert_eq!(c.next_wait(&p), Duration::from_millis(100));
    /// assert_eq!(c.next_wait(&p), Duration::from_millis(200));
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn next_wait<E>(&mut self, policy: &RetryPolicy<E>) -> Duration {
        self.state.next(policy)
    }

    /// How many waits were drawn.
    ///
    /// ```
    /// let mut c = warden_retry::DelayCursor::new();
    /// c.next_wait(&warden_retry::RetryPolicy::<()>::default());
    /// assert_eq!(c.retries(), 1);
    /// ```
    pub fn retries(&self) -> u32 {
        self.state.retry
    }
}

impl Default for DelayState {
    fn default() -> Self {
        Self::new()
    }
}

/// The waits a policy would make if every attempt failed: one per retry
/// (`max_attempts − 1` of them; endless for `until_success`), ignoring the
/// time limit and the budget. Returned by [`RetryPolicy::delays`].
///
/// Each `Delays` draws from a fresh RNG made like a run's, so with
/// [`rng_seed`](crate::RetryPolicyBuilder::rng_seed) it shows exactly the waits
/// a run of that policy makes.
///
/// ```
/// use std::time::Duration;
/// use warden_retry::{Backoff, Jitter, RetryPolicy};
/// let policy = RetryPolicy::<()>::builder()
///     .max_attempts(4)
///     .base_delay(Duration::from_millis(100))
///     .backoff(Backoff::Linear)
///     .jitter(Jitter::None)
///     .build()?;
/// let ms = Duration::from_millis;
/// assert_eq!(policy.delays().collect::<Vec<_>>(), [ms(100), ms(200), ms(300)]);
/// # Ok::<(), warden_retry::ConfigError>(())
/// ```
pub struct Delays<'a, E> {
    policy: &'a RetryPolicy<E>,
    state: DelayState,
    remaining: Option<u32>,
}

impl<'a, E> Delays<'a, E> {
    pub(crate) fn new(policy: &'a RetryPolicy<E>) -> Self {
        Self {
            policy,
            state: DelayState::new(),
            remaining: policy.max_attempts().map(|n| n - 1),
        }
    }
}

impl<E> Iterator for Delays<'_, E> {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if let Some(remaining) = &mut self.remaining {
            *remaining = remaining.checked_sub(1)?;
        }
        Some(self.state.next(self.policy))
    }
}

impl<E> fmt::Debug for Delays<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delays")
            .field("state", &self.state)
            .field("remaining", &self.remaining)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(u64);
    impl RngCore for Fixed {
        fn next_u32(&mut self) -> u32 {
            self.0 as u32
        }
        fn next_u64(&mut self) -> u64 {
            self.0
        }
        fn fill_bytes(&mut self, dst: &mut [u8]) {
            dst.fill(0);
        }
    }

    fn draw(x: u64, lo: u64, hi: u64) -> u64 {
        uniform(&mut Fixed(x), lo, hi)
    }

    #[test]
    fn uniform_hits_both_ends_and_the_midpoint() {
        assert_eq!(draw(0, 10, 20), 10);
        assert_eq!(draw(u64::MAX, 10, 20), 20);
        assert_eq!(draw(1 << 63, 10, 20), 15); // 10 + floor(11 / 2)
        assert_eq!(draw(u64::MAX, 0, u64::MAX), u64::MAX);
        assert_eq!(draw(0, u64::MAX, u64::MAX), u64::MAX);
        assert_eq!(draw(1 << 63, 0, u64::MAX), 1 << 63);
    }

    #[test]
    fn u128_nanos_round_trip() {
        let d = Duration::new(u64::MAX, 999_999_999);
        assert_eq!(from_nanos_u128(d.as_nanos()), d);
        assert_eq!(from_nanos_u128(1_500_000_000), Duration::from_millis(1500));
    }
}
