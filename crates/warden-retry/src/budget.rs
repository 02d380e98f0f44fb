//! [`RetryBudget`]: a lock-free limit on retries as a fraction of recent
//! first attempts, shared by every run that holds it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use warden_breaker::{Clock, QuantaClock};

use crate::ConfigError;

/// Slots per window.
const LIVE_SLOTS: u64 = 10;
/// Buckets: the live slots plus the next one, cleared ahead of time so that
/// threads entering it never race the clearing.
const BUCKETS: usize = 11;
/// Milli-tokens per retry.
const TOKEN: i64 = 1000;

/// A lock-free retry budget shared across calls.
///
/// # Why budgets and not only max attempts
///
/// During an outage every call fails, so with `max_attempts(3)` every call
/// becomes three: the retries triple the load on a dependency that is already
/// down, and with retries at several layers of a stack the factors multiply.
/// A budget caps retries *across* calls: each first attempt deposits
/// `retry_ratio` of a token, each retry withdraws a whole one, and a reserve of
/// `min_per_sec` tokens per second of the window lets a quiet client still
/// retry now and then. With the defaults (ratio 0.2, 10 per second, 10 s
/// window) retries add at most 20 % plus 10 per second to the load, however
/// many attempts the policy allows. This is Finagle's and tower's design.
///
/// # How it works
///
/// Time is cut into slots of a tenth of the window. Each slot has a bucket
/// (an `AtomicI64` of milli-tokens: deposits add, withdrawals subtract) and a
/// `balance` word holds the sum of the live buckets. A withdrawal is one
/// compare-and-swap on `balance` that succeeds only if `balance + reserve`
/// covers a token, so concurrent withdrawals never overdraw it. When time
/// enters a new slot, the one thread whose exchange on the `swept` slot number
/// wins clears the buckets that left the window (taking each with a swap) and
/// subtracts what they held from `balance`. Every change to a bucket is
/// mirrored in `balance`, so once no call is in flight `balance` is exactly
/// the sum of the live buckets.
///
/// A deposit or withdrawal stays in the window for between 0.9 and 1 window
/// length (it leaves with its slot). A thread stalled across a slot boundary
/// between its two updates can leave its milli-tokens in a neighbouring slot:
/// the accounting stays consistent, only the moment they expire moves.
///
/// # Memory ordering
///
/// Every atomic here is a counter that publishes no other memory, so all
/// operations are `Relaxed`: the accounting needs each read-modify-write to be
/// atomic, nothing more. Callers may rely on nothing beyond the counts.
///
/// # Examples
///
/// Share it between policies and threads through an `Arc`:
/// [`RetryPolicyBuilder::budget`](crate::RetryPolicyBuilder::budget).
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use warden_breaker::ManualClock;
/// use warden_retry::{retry, RetryBudget, RetryPolicy, StopReason};
///
/// let budget = Arc::new(
///     RetryBudget::builder()
///         .retry_ratio(0.5)
///         .min_per_sec(0)
///         .clock(ManualClock::new())
///         .build()?,
/// );
/// let policy = RetryPolicy::builder()
///     .max_attempts(10)
///     .base_delay(Duration::ZERO)
///     .budget(budget.clone())
///     .build()?;
/// // Each run deposits half a token: the first cannot retry, the second
/// // completes a token and retries once.
/// let first = retry(&policy, || Err::<(), _>("down")).unwrap_err();
/// assert_eq!((first.attempts(), first.reason()), (1, StopReason::Budget));
/// let second = retry(&policy, || Err::<(), _>("down")).unwrap_err();
/// assert_eq!((second.attempts(), second.reason()), (2, StopReason::Budget));
/// # Ok::<(), warden_retry::ConfigError>(())
/// ```
pub struct RetryBudget {
    /// Milli-tokens one first attempt deposits.
    deposit: i64,
    /// Milli-tokens always available on top of `balance`.
    reserve: i64,
    slot_nanos: u64,
    window: Duration,
    retry_ratio: f64,
    min_per_sec: u32,
    /// Sum of the live buckets, in milli-tokens.
    balance: AtomicI64,
    /// The latest slot whose expiry has been handled.
    swept: AtomicU64,
    buckets: [AtomicI64; BUCKETS],
    clock: Arc<dyn Clock>,
}

impl RetryBudget {
    /// Starts configuring a budget: window 10 s, retry ratio 0.2, 10 retries
    /// per second in reserve, [`QuantaClock`].
    ///
    /// ```
    /// let b = warden_retry::RetryBudget::builder().build()?;
    /// assert_eq!(b.available(), 100); // 10 per second over a 10 s window
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn builder() -> RetryBudgetBuilder {
        RetryBudgetBuilder::default()
    }

    /// Records a first attempt: adds `retry_ratio` of a token.
    ///
    /// ```
    /// use warden_breaker::ManualClock;
    /// let b = warden_retry::RetryBudget::builder().min_per_sec(0).retry_ratio(1.0).clock(ManualClock::new()).build()?;
    /// b.deposit();
    /// assert_eq!(b.available(), 1);
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn deposit(&self) {
        let bucket = index(self.slot());
        if self.deposit != 0 {
            // Relaxed (both): counters publishing nothing else; see RetryBudget's Memory ordering.
            self.buckets[bucket].fetch_add(self.deposit, Ordering::Relaxed);
            self.balance.fetch_add(self.deposit, Ordering::Relaxed);
        }
    }

    /// Asks for one retry: takes a token and returns `true` if the balance
    /// plus the reserve covers it, else returns `false` and takes nothing.
    ///
    /// ```
    /// use warden_breaker::ManualClock;
    /// let b = warden_retry::RetryBudget::builder().min_per_sec(1).clock(ManualClock::new()).build()?;
    /// let granted = (0..20).filter(|_| b.try_withdraw()).count();
    /// assert_eq!(granted, 10); // the reserve: 1 per second over 10 s
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn try_withdraw(&self) -> bool {
        self.withdraw().is_some()
    }

    /// [`try_withdraw`](Self::try_withdraw) with a receipt: `Some` when a
    /// token was taken, which [`refund`](Self::refund) gives back if the retry
    /// it paid for never reaches the downstream (the run was cancelled while
    /// waiting, a hook panicked, the breaker rejected the attempt).
    ///
    /// ```
    /// use warden_breaker::ManualClock;
    /// let b = warden_retry::RetryBudget::builder().min_per_sec(1).clock(ManualClock::new()).build()?;
    /// let receipt = b.withdraw().expect("the reserve covers it");
    /// assert_eq!(b.available(), 9);
    /// b.refund(receipt);
    /// assert_eq!(b.available(), 10);
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn withdraw(&self) -> Option<Withdrawal> {
        let slot = self.slot();
        // Relaxed: the CAS below re-checks against the value it replaces.
        let mut current = self.balance.load(Ordering::Relaxed);
        loop {
            if current.saturating_add(self.reserve) < TOKEN {
                return None;
            }
            match self.balance.compare_exchange_weak(
                current,
                current - TOKEN,
                // Relaxed (both): the exchange's atomicity is the no-overdraw
                // guarantee; nothing else is published.
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
        // Relaxed: mirrors the withdrawal in its slot so it expires with it.
        self.buckets[index(slot)].fetch_sub(TOKEN, Ordering::Relaxed);
        Some(Withdrawal { slot })
    }

    /// Gives back the token `receipt` took, into the slot it was taken from,
    /// so it expires as the withdrawal would have. A withdrawal that already
    /// left the window is over: nothing is given back. (A refund racing the
    /// expiry of its own slot may land in the slot that replaces it, the same
    /// bounded drift as a thread stalled across a slot boundary.)
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_breaker::ManualClock;
    /// let clock = ManualClock::new();
    /// let b = warden_retry::RetryBudget::builder().min_per_sec(1).clock(clock.clone()).build()?;
    /// let receipt = b.withdraw().unwrap();
    /// clock.advance(Duration::from_secs(11)); // the withdrawal expired: 10 again
    /// b.refund(receipt);
    /// assert_eq!(b.available(), 10); // not 11
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn refund(&self, receipt: Withdrawal) {
        let now = self.slot();
        if now.saturating_sub(receipt.slot) >= LIVE_SLOTS {
            return;
        }
        // Relaxed (both): counters, as in `withdraw`.
        self.buckets[index(receipt.slot)].fetch_add(TOKEN, Ordering::Relaxed);
        self.balance.fetch_add(TOKEN, Ordering::Relaxed);
    }

    /// Whole retries available now (approximate while calls are in flight).
    ///
    /// ```
    /// use warden_breaker::ManualClock;
    /// let b = warden_retry::RetryBudget::builder().min_per_sec(2).clock(ManualClock::new()).build()?;
    /// assert_eq!(b.available(), 20);
    /// assert!(b.try_withdraw());
    /// assert_eq!(b.available(), 19);
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn available(&self) -> u64 {
        let _ = self.slot();
        // Relaxed: a statistic.
        let balance = self.balance.load(Ordering::Relaxed);
        u64::try_from(balance.saturating_add(self.reserve) / TOKEN).unwrap_or(0)
    }

    /// The window deposits and withdrawals count for.
    ///
    /// ```
    /// assert_eq!(warden_retry::RetryBudget::builder().build()?.window().as_secs(), 10);
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Retries allowed per first attempt.
    ///
    /// ```
    /// assert_eq!(warden_retry::RetryBudget::builder().build()?.retry_ratio(), 0.2);
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn retry_ratio(&self) -> f64 {
        self.retry_ratio
    }

    /// Retries per second of the window always allowed.
    ///
    /// ```
    /// assert_eq!(warden_retry::RetryBudget::builder().build()?.min_per_sec(), 10);
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn min_per_sec(&self) -> u32 {
        self.min_per_sec
    }

    /// Expires what left the window and returns the current slot.
    fn slot(&self) -> u64 {
        let now = self.clock.now_nanos() / self.slot_nanos;
        // Relaxed: only compared with `now`; the CAS below settles races.
        let mut seen = self.swept.load(Ordering::Relaxed);
        while seen < now {
            // Relaxed (both): the exchange only elects the one thread that
            // expires slots seen+1..=now; the buckets are atomics of their own.
            match self
                .swept
                .compare_exchange_weak(seen, now, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    self.expire(seen, now);
                    seen = now;
                }
                Err(actual) => seen = actual,
            }
        }
        // A clock read older than `swept` (another thread got further) uses `swept`.
        seen.max(now)
    }

    /// Time moved from slot `from` to slot `to`: the buckets of slots
    /// `from + 2 ..= to + 1` (which held slots eleven earlier, now outside the
    /// window) start afresh.
    fn expire(&self, from: u64, to: u64) {
        let last = to.saturating_add(1);
        let first = from
            .saturating_add(2)
            .max(last.saturating_sub(BUCKETS as u64 - 1));
        for slot in first..=last {
            // Relaxed: takes the bucket's whole content atomically; counters only.
            let net = self.buckets[index(slot)].swap(0, Ordering::Relaxed);
            if net != 0 {
                // Relaxed: mirrors the expiry in the balance.
                self.balance.fetch_sub(net, Ordering::Relaxed);
            }
        }
    }
}

/// The receipt of one token taken by [`RetryBudget::withdraw`], to
/// [`refund`](RetryBudget::refund) if the retry does not happen. Dropping it
/// keeps the withdrawal.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "drop it to keep the withdrawal, or refund it"]
pub struct Withdrawal {
    /// The slot the token was taken from.
    slot: u64,
}

fn index(slot: u64) -> usize {
    // The remainder is below BUCKETS, so the cast is lossless.
    (slot % BUCKETS as u64) as usize
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("window", &self.window)
            .field("retry_ratio", &self.retry_ratio)
            .field("min_per_sec", &self.min_per_sec)
            // Relaxed: a statistic.
            .field("balance_milli", &self.balance.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Configures a [`RetryBudget`]; [`build`](Self::build) validates it.
///
/// ```
/// use std::time::Duration;
/// use warden_retry::RetryBudget;
/// let err = RetryBudget::builder().retry_ratio(f64::NAN).build().unwrap_err();
/// assert_eq!(err.field(), "retry_ratio");
/// let err = RetryBudget::builder().window(Duration::from_millis(10)).build().unwrap_err();
/// assert_eq!(err.field(), "window");
/// ```
#[derive(Debug)]
pub struct RetryBudgetBuilder {
    window: Duration,
    retry_ratio: f64,
    min_per_sec: u32,
    clock: Option<Arc<dyn Clock>>,
}

impl Default for RetryBudgetBuilder {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(10),
            retry_ratio: 0.2,
            min_per_sec: 10,
            clock: None,
        }
    }
}

impl RetryBudgetBuilder {
    /// How long deposits and withdrawals count: 1 s to 1 h. Default 10 s.
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = warden_retry::RetryBudget::builder().window(Duration::from_secs(60)).build()?;
    /// assert_eq!(b.window().as_secs(), 60);
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Retries allowed per first attempt, 0.0 to 1000.0 (0.2: retries may add
    /// 20 % to the load). Default 0.2. Resolution: a thousandth.
    ///
    /// ```
    /// let b = warden_retry::RetryBudget::builder().retry_ratio(0.1).build()?;
    /// assert_eq!(b.retry_ratio(), 0.1);
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn retry_ratio(mut self, ratio: f64) -> Self {
        self.retry_ratio = ratio;
        self
    }

    /// Retries per second always allowed, whatever the traffic (they may be
    /// spent in a burst: the reserve is `min_per_sec × window` retries).
    /// Default 10.
    ///
    /// ```
    /// use warden_breaker::ManualClock;
    /// let b = warden_retry::RetryBudget::builder().min_per_sec(0).clock(ManualClock::new()).build()?;
    /// assert!(!b.try_withdraw());
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn min_per_sec(mut self, per_sec: u32) -> Self {
        self.min_per_sec = per_sec;
        self
    }

    /// The time source. Default: [`QuantaClock`] (its first use in a process
    /// calibrates it, once).
    ///
    /// ```
    /// use warden_breaker::ManualClock;
    /// let b = warden_retry::RetryBudget::builder().clock(ManualClock::new()).build()?;
    /// # let _ = b;
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn clock<C: Clock>(mut self, clock: C) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Validates the settings.
    ///
    /// # Errors
    ///
    /// [`ConfigError::OutOfRange`] for a `window` outside 1 s to 1 h or a
    /// `retry_ratio` that is not a number from 0.0 to 1000.0.
    ///
    /// ```
    /// let err = warden_retry::RetryBudget::builder().retry_ratio(-0.5).build().unwrap_err();
    /// assert!(err.to_string().contains("retry_ratio"));
    /// ```
    pub fn build(self) -> Result<RetryBudget, ConfigError> {
        if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&self.window) {
            return Err(ConfigError::out_of_range(
                "window",
                self.window,
                "1 s..=1 h",
            ));
        }
        if !(0.0..=1000.0).contains(&self.retry_ratio) {
            return Err(ConfigError::out_of_range(
                "retry_ratio",
                self.retry_ratio,
                "0.0..=1000.0",
            ));
        }
        // Both conversions are exact or bounded by the checks above:
        // window_ms <= 3.6e6, ratio * 1000 <= 1e6.
        let window_ms = i64::try_from(self.window.as_millis()).unwrap_or(i64::MAX);
        let slot_nanos = u64::try_from(self.window.as_nanos() / u128::from(LIVE_SLOTS))
            .unwrap_or(u64::MAX)
            .max(1);
        let clock = self
            .clock
            .unwrap_or_else(|| Arc::new(QuantaClock::new()) as Arc<dyn Clock>);
        let now = clock.now_nanos() / slot_nanos;
        Ok(RetryBudget {
            deposit: (self.retry_ratio * TOKEN as f64).round() as i64,
            reserve: i64::from(self.min_per_sec) * window_ms,
            slot_nanos,
            window: self.window,
            retry_ratio: self.retry_ratio,
            min_per_sec: self.min_per_sec,
            balance: AtomicI64::new(0),
            swept: AtomicU64::new(now),
            buckets: Default::default(),
            clock,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_breaker::ManualClock;

    fn budget(clock: &ManualClock, ratio: f64, per_sec: u32) -> RetryBudget {
        RetryBudget::builder()
            .retry_ratio(ratio)
            .min_per_sec(per_sec)
            .clock(clock.clone())
            .build()
            .unwrap()
    }

    #[test]
    fn balance_equals_the_live_buckets() {
        let clock = ManualClock::new();
        let b = budget(&clock, 0.5, 0);
        for step in 0..40 {
            for _ in 0..(step % 4) {
                b.deposit();
            }
            let _ = b.try_withdraw();
            clock.advance(Duration::from_millis(700));
            let _ = b.slot();
            let sum: i64 = b.buckets.iter().map(|x| x.load(Ordering::Relaxed)).sum();
            assert_eq!(sum, b.balance.load(Ordering::Relaxed), "step {step}");
        }
    }

    #[test]
    fn next_bucket_is_cleared_ahead() {
        let clock = ManualClock::new();
        let b = budget(&clock, 1.0, 0);
        b.deposit();
        // Ten slots later the deposit's slot is the one cleared ahead of slot 10.
        clock.advance(Duration::from_secs(9));
        assert_eq!(b.available(), 1);
        clock.advance(Duration::from_millis(999));
        assert_eq!(b.available(), 1);
        clock.advance(Duration::from_millis(1));
        assert_eq!(b.available(), 0);
        // A jump of many windows clears everything once.
        b.deposit();
        clock.advance(Duration::from_secs(1_000_000));
        assert_eq!(b.available(), 0);
    }
}
