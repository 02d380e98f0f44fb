//! Client-side adaptive throttling ([`AdaptiveThrottle`]): a trip rule that
//! sheds a share of the calls instead of opening the breaker.

use std::cell::Cell;
use std::time::Duration;

use crate::ConfigError;
use crate::clock::NANOS_PER_TICK;
use crate::counters::tag_of;
use crate::policy::MAX_TIME_BUCKETS;
use crate::state::{MAX_DURATION_TICKS, PAYLOAD_BITS};
use crate::sync::{AtomicU64, Ordering};

/// A trip rule that sheds load in proportion to how much the dependency fails
/// (client-side adaptive throttling, from the "Handling Overload" chapter of
/// Google's SRE book), set with
/// [`Builder::adaptive_throttle`](crate::Builder::adaptive_throttle).
///
/// Over a rolling window of the closed state, the breaker keeps
///
/// * **requests**: the calls offered to it, counted when they end: successes,
///   failures and the calls it rejected itself under this rule;
/// * **accepts**: the calls the classifier counted as [`Outcome::Success`](crate::Outcome::Success)
///   (with [`call`](crate::CircuitBreaker::call), an `Ok` result; with
///   [`call_with`](crate::CircuitBreaker::call_with) or a permit, what you report).
///
/// [`Outcome::Ignored`](crate::Outcome::Ignored) outcomes and permits dropped
/// without an outcome are neither. A closed breaker rejects a call with
/// probability
///
/// `min(max(0, (requests - k * accepts) / (requests + 1)), max_reject_percent / 100)`
///
/// and never while the window holds fewer than `min_requests` requests. While the
/// dependency answers, `requests ≈ accepts` and nothing is rejected (for `k = 2`,
/// until half the calls fail); as it fails, the share of calls rejected rises
/// smoothly towards `1 - k * accepts / requests`, with no open/closed cliff and
/// no probe phase: the calls that still go through measure the dependency.
///
/// A rejection returns [`Rejected::Throttled`](crate::Rejected::Throttled); it
/// counts as a request of the window but not in [`Counts`](crate::Counts) (the
/// call was not admitted). The breaker stays [`State::Closed`](crate::State::Closed):
/// this rule never opens it and replaces the failure rules (setting it with
/// `ready_to_trip`, a [`CountWindow`](crate::CountWindow), a
/// [`TimeWindow`](crate::TimeWindow) or [`SlowCalls`](crate::SlowCalls) is a
/// [`ConfigError::Conflict`]). Manual commands still apply: a breaker forced
/// open rejects every call with [`Rejected::Open`](crate::Rejected::Open), and
/// forced closed or disabled it throttles nothing.
///
/// The window is the last `window` of the closed generation in `buckets`
/// buckets, and ages a bucket at a time, exactly like a [`TimeWindow`](crate::TimeWindow)'s
/// (it uses the same per-thread counts and bucket ring: an accepted call only
/// bumps its own thread's counter). Like every count, it starts empty in each
/// generation (after an interval reset or a manual command).
///
/// The probability is evaluated at every failure, at every rejection, at a
/// success while the window's `requests - k * accepts` is above zero, at the
/// first outcome of each bucket, and at an admission in a later bucket than the
/// last evaluation while it is above zero. In between, admissions use the last
/// value: a success cannot raise it (`k >= 1`), so a healthy breaker reads one
/// word per admission and draws no random number. An admission after the window
/// moved on, before any outcome in the new bucket, may still see a zero that the
/// aging would have raised; the next outcome corrects it. Under concurrency two
/// evaluations may land in either order (the value is at most one event stale).
///
/// [`CircuitBreaker::reconfigure`](crate::CircuitBreaker::reconfigure) treats the
/// throttle like the other trip rules: to or from a throttle, or to another
/// window length or bucket count, a closed breaker starts a fresh generation
/// with an empty window; a new `k`, minimum or cap keeps the window and is
/// evaluated at once. Instances of one breaker in several processes can shed on
/// their combined window: [`CircuitBreaker::throttle_window`](crate::CircuitBreaker::throttle_window)
/// is what one instance counted,
/// [`CircuitBreaker::set_throttle_peers`](crate::CircuitBreaker::set_throttle_peers)
/// adds the others' (`warden-redis` does both every slice).
///
/// The draw is per thread (a wyrand generator in a thread-local: no shared write,
/// a few instructions) and starts from a random state; tests make it
/// reproducible with [`AdaptiveThrottle::set_thread_draws`]. Rejections are
/// counted on a shared word (the breaker is shedding load then).
///
/// ```
/// use std::time::Duration;
/// use warden_breaker::{AdaptiveThrottle, CircuitBreaker, Error, ManualClock, Rejected, State};
/// let clock = ManualClock::new();
/// let cb = CircuitBreaker::builder("api")
///     .adaptive_throttle(
///         AdaptiveThrottle::new(Duration::from_secs(10)).with_buckets(10).with_k(2.0).with_min_requests(10),
///     )
///     .clock(clock.clone())
///     .build()?;
/// AdaptiveThrottle::set_thread_draws(7);
/// // The backend fails every call: the rule sheds more and more of them.
/// let mut rejected = 0;
/// for _ in 0..1000 {
///     match cb.call(|| Err::<(), _>("503")) {
///         Err(Error::Rejected(Rejected::Throttled)) => rejected += 1,
///         _ => {}
///     }
/// }
/// assert!(rejected > 900, "{rejected}");
/// assert_eq!(cb.state(), State::Closed); // it never opens
/// # Ok::<(), warden_breaker::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct AdaptiveThrottle {
    #[cfg_attr(
        feature = "serde",
        serde(rename = "window_ms", serialize_with = "crate::serde_units::millis")
    )]
    window: Duration,
    buckets: u32,
    k: f64,
    min_requests: u32,
    max_reject_percent: u32,
}

impl AdaptiveThrottle {
    /// The last `window` (whole milliseconds, at most 2^39 ms), with the SRE
    /// book's defaults for the rest: 10 buckets, `k = 2`, at least 10 requests,
    /// no cap below 100 %. Change each with its named `with_` method. Validated
    /// by [`Builder::build`](crate::Builder::build).
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_breaker::AdaptiveThrottle;
    /// let t = AdaptiveThrottle::new(Duration::from_secs(30));
    /// assert_eq!((t.buckets(), t.k(), t.min_requests(), t.max_reject_percent()), (10, 2.0, 10, 100));
    /// ```
    pub const fn new(window: Duration) -> Self {
        Self {
            window,
            buckets: 10,
            k: 2.0,
            min_requests: 10,
            max_reject_percent: 100,
        }
    }

    /// The number of buckets (1..=[`MAX_TIME_BUCKETS`], each a whole number of
    /// milliseconds): the window moves on one bucket at a time.
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = warden_breaker::AdaptiveThrottle::new(Duration::from_secs(30)).with_buckets(30);
    /// assert_eq!(t.bucket_width(), Duration::from_secs(1));
    /// ```
    #[must_use]
    pub const fn with_buckets(mut self, buckets: u32) -> Self {
        self.buckets = buckets;
        self
    }

    /// The multiplier `k` (finite, >= 1): how many requests per accept the rule
    /// lets through before it sheds. Lower is more aggressive; the SRE book uses 2.
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = warden_breaker::AdaptiveThrottle::new(Duration::from_secs(30)).with_k(1.5);
    /// assert_eq!(t.k(), 1.5);
    /// ```
    #[must_use]
    pub const fn with_k(mut self, k: f64) -> Self {
        self.k = k;
        self
    }

    /// The requests the window must hold before anything is rejected (any
    /// number; 0 and 1 both mean from the first failure).
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = warden_breaker::AdaptiveThrottle::new(Duration::from_secs(30)).with_min_requests(50);
    /// assert_eq!(t.min_requests(), 50);
    /// ```
    #[must_use]
    pub const fn with_min_requests(mut self, min_requests: u32) -> Self {
        self.min_requests = min_requests;
        self
    }

    /// The highest rejection probability, in whole percent (0..=100; 0 never
    /// rejects): keeps some calls flowing to a dependency that fails completely,
    /// so its recovery is seen sooner.
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = warden_breaker::AdaptiveThrottle::new(Duration::from_secs(30)).with_max_reject_percent(90);
    /// assert_eq!(t.reject_probability(1000, 0), 0.9);
    /// ```
    #[must_use]
    pub const fn with_max_reject_percent(mut self, percent: u32) -> Self {
        self.max_reject_percent = percent;
        self
    }

    /// The span of the window.
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = warden_breaker::AdaptiveThrottle::new(Duration::from_secs(30));
    /// assert_eq!(t.window(), Duration::from_secs(30));
    /// ```
    pub const fn window(&self) -> Duration {
        self.window
    }

    /// The number of buckets the window is kept in.
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(warden_breaker::AdaptiveThrottle::new(Duration::from_secs(30)).buckets(), 10);
    /// ```
    pub const fn buckets(&self) -> u32 {
        self.buckets
    }

    /// The span of one bucket: `window / buckets` (zero if `buckets` is zero,
    /// which [`build`](crate::Builder::build) refuses).
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = warden_breaker::AdaptiveThrottle::new(Duration::from_secs(30));
    /// assert_eq!(t.bucket_width(), Duration::from_secs(3));
    /// ```
    pub const fn bucket_width(&self) -> Duration {
        match self.window.checked_div(self.buckets) {
            Some(width) => width,
            None => Duration::ZERO,
        }
    }

    /// The multiplier `k`.
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(warden_breaker::AdaptiveThrottle::new(Duration::from_secs(30)).k(), 2.0);
    /// ```
    pub const fn k(&self) -> f64 {
        self.k
    }

    /// The requests the window must hold before anything is rejected.
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(warden_breaker::AdaptiveThrottle::new(Duration::from_secs(30)).min_requests(), 10);
    /// ```
    pub const fn min_requests(&self) -> u32 {
        self.min_requests
    }

    /// The highest rejection probability, in percent.
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(warden_breaker::AdaptiveThrottle::new(Duration::from_secs(30)).max_reject_percent(), 100);
    /// ```
    pub const fn max_reject_percent(&self) -> u32 {
        self.max_reject_percent
    }

    /// The probability of rejecting a call when the window holds `requests`
    /// requests and `accepts` accepts: `max(0, (requests - k * accepts) /
    /// (requests + 1))`, capped at `max_reject_percent`, and 0 below `min_requests`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = warden_breaker::AdaptiveThrottle::new(Duration::from_secs(30)).with_min_requests(10);
    /// assert_eq!(t.reject_probability(100, 50), 0.0); // half fail: nothing shed yet
    /// assert_eq!(t.reject_probability(99, 0), 0.99);
    /// assert_eq!(t.reject_probability(9, 0), 0.0); // below the minimum
    /// ```
    pub fn reject_probability(&self, requests: u64, accepts: u64) -> f64 {
        if requests < u64::from(self.min_requests) {
            return 0.0;
        }
        let excess = requests as f64 - self.k * accepts as f64;
        if excess <= 0.0 {
            return 0.0;
        }
        (excess / (requests as f64 + 1.0)).min(f64::from(self.max_reject_percent) / 100.0)
    }

    /// [`reject_probability`](Self::reject_probability) as a fraction of 2^32
    /// (what a draw is compared with), and whether `requests - k * accepts` is
    /// above zero (the window is failing, whether or not that rejects yet).
    pub(crate) fn evaluate(&self, requests: u64, accepts: u64) -> (u32, bool) {
        let p = self.reject_probability(requests, accepts);
        let failing = requests as f64 - self.k * accepts as f64 > 0.0;
        ((p * 4_294_967_296.0).min(u32::MAX as f64) as u32, failing)
    }

    /// Sets the calling thread's draw generator to `state`, so the draws that
    /// follow are a fixed sequence: for reproducible tests and simulations. Every
    /// thread's generator starts from a random state otherwise; two threads set
    /// to the same state draw the same sequence.
    ///
    /// ```
    /// use warden_breaker::AdaptiveThrottle;
    /// AdaptiveThrottle::set_thread_draws(42);
    /// let first: Vec<u32> = (0..3).map(|_| AdaptiveThrottle::draw()).collect();
    /// AdaptiveThrottle::set_thread_draws(42);
    /// let again: Vec<u32> = (0..3).map(|_| AdaptiveThrottle::draw()).collect();
    /// assert_eq!(first, again);
    /// ```
    pub fn set_thread_draws(state: u64) {
        DRAW_STATE.with(|s| s.set(state));
    }

    /// The calling thread's next draw, uniform over `u32`: a call is rejected
    /// when its draw is below the probability times 2^32. Public so that another
    /// implementation of the rule (the mutex reference) draws the same numbers.
    ///
    /// ```
    /// let _ = warden_breaker::AdaptiveThrottle::draw();
    /// ```
    #[inline]
    pub fn draw() -> u32 {
        DRAW_STATE.with(|s| {
            // wyrand: one add, one 64x64 -> 128 multiply.
            let x = s.get().wrapping_add(0xa076_1d64_78bd_642f);
            s.set(x);
            let m = u128::from(x) * u128::from(x ^ 0xe703_7ed1_a0b4_28db);
            (((m >> 64) as u64 ^ m as u64) >> 32) as u32
        })
    }

    /// The bucket width in ticks (validated: >= 1).
    pub(crate) fn width_ticks(&self) -> u64 {
        (self.window.as_millis() as u64 / u64::from(self.buckets.max(1))).max(1)
    }
}

thread_local! {
    static DRAW_STATE: Cell<u64> = Cell::new(random_state());
}

fn random_state() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0x7468_726f_u64)
}

fn out_of_range(field: &'static str, value: impl ToString, allowed: &'static str) -> ConfigError {
    ConfigError::OutOfRange {
        field,
        value: value.to_string(),
        allowed,
    }
}

pub(crate) fn validate(t: AdaptiveThrottle) -> Result<(), ConfigError> {
    // Range first: a length too large to store is that, whatever its fraction.
    let ms = t.window.as_millis();
    if ms > u128::from(MAX_DURATION_TICKS) || t.window.is_zero() {
        return Err(out_of_range(
            "adaptive.window",
            format!("{:?}", t.window),
            "1 ms..=2^39 ms, in whole milliseconds",
        ));
    }
    if !(u64::from(t.window.subsec_nanos())).is_multiple_of(NANOS_PER_TICK) {
        return Err(ConfigError::NotWholeMillis {
            field: "adaptive.window",
            value: t.window,
        });
    }
    if t.buckets == 0 || t.buckets > MAX_TIME_BUCKETS || !ms.is_multiple_of(u128::from(t.buckets)) {
        return Err(out_of_range(
            "adaptive.buckets",
            t.buckets,
            "1..=1024, dividing the window into whole milliseconds",
        ));
    }
    if !(t.k.is_finite() && t.k >= 1.0) {
        return Err(out_of_range("adaptive.k", t.k, "finite, >= 1"));
    }
    if t.max_reject_percent > 100 {
        return Err(out_of_range(
            "adaptive.max_reject_percent",
            t.max_reject_percent,
            "0..=100",
        ));
    }
    Ok(())
}

/// `[generation tag: 20 | 0: 11 | failing: 1 | probability: 32]`.
const FAILING: u64 = 1 << 32;
const PROBABILITY_MASK: u64 = (1 << 32) - 1;
const TAG_MASK: u64 = !((1 << PAYLOAD_BITS) - 1);

/// A breaker's throttle state: the last evaluation of its rule and the window
/// counts of other instances, in the breaker itself (24 bytes) so that an
/// admission decides with no look at the settings.
/// The rule (k, the minimum, the cap, the bucket width) comes with each
/// evaluation from the settings in force; an evaluation of a generation the
/// breaker has left reads as none.
#[derive(Debug)]
pub(crate) struct Throttle {
    /// The last evaluation, tagged with its generation (another generation's reads
    /// as "never evaluated": probability 0).
    last: AtomicU64,
    /// The first tick after the bucket of the last evaluation.
    until: AtomicU64,
    /// `[requests: 32 | accepts: 32]` of the same window at other instances of
    /// this breaker (a fleet), added to every evaluation; 0 alone.
    peers: AtomicU64,
}

impl Throttle {
    /// No evaluation yet: the word reads as probability 0 in any generation.
    pub(crate) fn new() -> Self {
        Self {
            last: AtomicU64::new(0),
            until: AtomicU64::new(0),
            peers: AtomicU64::new(0),
        }
    }

    /// The probability (a fraction of 2^32) of the last evaluation in `generation`.
    #[inline]
    pub(crate) fn probability(&self, generation: u32) -> u32 {
        // Relaxed: a statistic; nothing is published through it.
        let w = self.last.load(Ordering::Relaxed);
        if w & TAG_MASK == tag_of(generation) {
            (w & PROBABILITY_MASK) as u32
        } else {
            0
        }
    }

    /// Whether the last evaluation may shed calls in `generation`: `true` whenever
    /// [`Self::probability`] is not 0, and also (a false alarm the caller settles with
    /// [`Self::probability`]) for a failing window whose probability is 0. One
    /// subtraction and one compare: the word differs from the generation's bare tag
    /// only in the flag and probability bits (the low 40) exactly when the tags match.
    #[inline]
    pub(crate) fn may_shed(&self, generation: u32) -> bool {
        // Relaxed: see `probability`.
        let w = self.last.load(Ordering::Relaxed);
        (w ^ tag_of(generation)).wrapping_sub(1) < !TAG_MASK
    }

    /// The last evaluation's word, for the breaker's hot byte to follow (see
    /// `CircuitBreaker::sync_shedding`, and [`Self::sheds`] on it).
    pub(crate) fn last_word(&self) -> u64 {
        // SeqCst: one total order with the evaluation's store and the hot byte's
        // update in `sync_shedding`, whose re-check relies on it.
        self.last.load(Ordering::SeqCst)
    }

    /// Whether the evaluation word `w`, of whatever generation, may shed calls
    /// (see [`Self::may_shed`]).
    pub(crate) const fn sheds(w: u64) -> bool {
        w & !TAG_MASK != 0
    }

    /// Whether a success at `now_nanos` (since the breaker's epoch) in the
    /// generation of counter tag `tag` ([`tag_of`], which a closed ticket's word
    /// is) must re-evaluate: the last evaluation is of another generation or
    /// bucket, or the window was failing.
    ///
    /// The bucket's end is compared in nanoseconds (see `Quick::entered`): the
    /// caller converts nothing to ticks. A time whose tick saturates at `MAX_TICK`
    /// may answer `true` where the tick would not, which costs an evaluation.
    #[inline]
    pub(crate) fn success_evaluates(&self, tag: u64, now_nanos: u64) -> bool {
        // Relaxed: see `probability`.
        let w = self.last.load(Ordering::Relaxed);
        // The word is its generation's tag alone exactly when that generation's last
        // evaluation sheds nothing and is not failing (no other bit is ever set).
        // No overflow: `until` is at most `MAX_TICK` plus a bucket's width, below
        // 2^41 ticks (see `store`).
        w != tag || now_nanos >= self.until.load(Ordering::Relaxed) * NANOS_PER_TICK
    }

    /// Whether tick `now` is in a later bucket than the last evaluation.
    pub(crate) fn bucket_moved(&self, now: u64) -> bool {
        // Relaxed: see `probability`.
        now >= self.until.load(Ordering::Relaxed)
    }

    /// Stores `rule`'s evaluation of `generation`'s window at tick `now`, which
    /// held `requests` requests and `accepts` accepts; returns its probability.
    pub(crate) fn store(
        &self,
        rule: &AdaptiveThrottle,
        generation: u32,
        now: u64,
        requests: u64,
        accepts: u64,
    ) -> u32 {
        let (p, failing) = rule.evaluate(requests, accepts);
        let width = rule.width_ticks();
        let until = (now / width).saturating_add(1).saturating_mul(width);
        // Relaxed: statistics (see the rule's docs on racing evaluations).
        self.until.store(until, Ordering::Relaxed);
        let flag = if failing { FAILING } else { 0 };
        // SeqCst: pairs with `last_word` in the breaker's `sync_shedding`, which
        // follows every store (see there).
        self.last
            .store(tag_of(generation) | flag | u64::from(p), Ordering::SeqCst);
        p
    }

    /// The other instances' requests and accepts (see [`Self::set_peers`]).
    pub(crate) fn peers(&self) -> (u64, u64) {
        // Relaxed: a statistic, like the evaluation it feeds.
        let w = self.peers.load(Ordering::Relaxed);
        (w >> 32, w & u64::from(u32::MAX))
    }

    /// Sets the other instances' requests and accepts, each saturating at 2^32 - 1.
    pub(crate) fn set_peers(&self, requests: u64, accepts: u64) {
        let clamp = |n: u64| n.min(u64::from(u32::MAX));
        // Relaxed: see `peers`.
        self.peers.store(
            clamp(requests) << 32 | clamp(accepts.min(requests)),
            Ordering::Relaxed,
        );
    }

    /// Forgets the last evaluation, as of `generation` (run with the counters'
    /// sweep, so no old tag stays behind until the generation wraps onto it).
    pub(crate) fn sweep(&self, generation: u32) {
        self.forget_where(generation, |w| w & TAG_MASK != tag_of(generation));
    }

    /// Forgets the last evaluation if it is still `stale`'s, a generation that
    /// ended: see `Counters::forget`.
    pub(crate) fn forget(&self, stale: u32, current: u32) {
        self.forget_where(current, |w| w & TAG_MASK == tag_of(stale));
    }

    fn forget_where(&self, generation: u32, stale: impl Fn(u64) -> bool) {
        // Relaxed: see `probability`. A racing evaluation of a later generation may be
        // overwritten: the next outcome evaluates again. The word stored here sheds
        // nothing, so a hot byte updated without seeing it (see `last_word`) is left
        // set at worst: admissions then take the throttle's path, which decides by
        // this word.
        let w = self.last.load(Ordering::Relaxed);
        if stale(w) {
            let _ = self.last.compare_exchange(
                w,
                tag_of(generation),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// `may_shed` is `true` whenever `probability` is not 0, and only for the
    /// generation evaluated (a failing window at probability 0 may read `true`).
    #[test]
    fn may_shed_covers_every_nonzero_probability() {
        let rule = AdaptiveThrottle::new(Duration::from_secs(10)).with_min_requests(10);
        let t = Throttle::new();
        for generation in [0, 1, 7, (1 << crate::state::GEN_BITS) - 1] {
            assert!(!t.may_shed(generation), "never evaluated");
            for (requests, accepts) in [(100, 100), (100, 50), (100, 40), (9, 0), (1000, 0)] {
                let p = t.store(&rule, generation, 5, requests, accepts);
                assert_eq!(t.probability(generation), p);
                assert!(t.may_shed(generation) || p == 0, "{requests}/{accepts}");
                let (_, failing) = rule.evaluate(requests, accepts);
                assert_eq!(t.may_shed(generation), p != 0 || failing);
                let other = (generation + 1) & ((1 << crate::state::GEN_BITS) - 1);
                assert!(!t.may_shed(other), "another generation's evaluation");
                assert_eq!(t.probability(other), 0);
            }
            // A sweep as of the next generation forgets this one's evaluation.
            let next = (generation + 1) & ((1 << crate::state::GEN_BITS) - 1);
            t.sweep(next);
            assert!(!t.may_shed(generation) && !t.may_shed(next), "swept");
        }
    }
}
