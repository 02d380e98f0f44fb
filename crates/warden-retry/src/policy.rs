//! [`RetryPolicy`]: how many attempts, how long to wait between them, which
//! errors to retry, and who to tell; built and validated by
//! [`RetryPolicyBuilder`].

use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use rand::RngCore;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use warden_breaker::Clock;

use crate::backoff::{Delays, RngFactory};
use crate::{Backoff, ConfigError, Jitter, RetryBudget, RetryObserver, Sleeper};

/// The cap on waits when the builder is given none: 30 s, or the base delay if
/// that is longer.
///
/// ```
/// use std::time::Duration;
/// use warden_retry::{RetryPolicy, DEFAULT_MAX_DELAY};
/// let p = RetryPolicy::<()>::builder().base_delay(Duration::from_secs(60)).build()?;
/// assert_eq!(p.max_delay(), Duration::from_secs(60));
/// assert_eq!(RetryPolicy::<()>::builder().build()?.max_delay(), DEFAULT_MAX_DELAY);
/// # Ok::<(), warden_retry::ConfigError>(())
/// ```
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(30);

/// How many of the first and of the last attempts' errors a
/// [`RetryError`](crate::RetryError) keeps by default with `max_attempts`
/// ([`Retention::Ends`]): a run of `max_attempts(u32::MAX)` keeps at most
/// `2 × DEFAULT_KEPT` errors.
///
/// ```
/// use warden_retry::{Retention, RetryPolicy, DEFAULT_KEPT};
/// assert_eq!(RetryPolicy::<()>::default().retention(), Retention::Ends(DEFAULT_KEPT));
/// ```
pub const DEFAULT_KEPT: u32 = 10;

type RetryIf<E> = Arc<dyn Fn(&E) -> bool + Send + Sync>;
type OnRetry<E> = Arc<dyn Fn(u32, &E, Duration) + Send + Sync>;

/// Which attempt errors a [`RetryError`](crate::RetryError) keeps.
///
/// ```
/// use warden_retry::{Retention, RetryPolicy};
/// let p = RetryPolicy::<()>::builder().retention(Retention::Last).build()?;
/// assert_eq!(p.retention(), Retention::Last);
/// # Ok::<(), warden_retry::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Retention {
    /// The errors of the first `n` attempts and of the last `n` (the final
    /// one included), in order; the error counts the ones between
    /// ([`RetryError::dropped`](crate::RetryError::dropped)). Memory stays
    /// bounded whatever the number of attempts. The default with
    /// `max_attempts` is `Ends(DEFAULT_KEPT)`; `Ends(0)` keeps only the last.
    Ends(u32),
    /// Every attempt's error, in order: memory grows with the attempts.
    All,
    /// Only the last attempt's error (the default with `until_success`, whose
    /// attempts are not bounded in number).
    Last,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AttemptsSetting {
    Limited(u32),
    UntilSuccess(Duration),
}

/// A validated retry policy: attempts, delays, which errors to retry, a time
/// limit, a shared budget, and hooks.
///
/// `E` is the error type of the operations it retries (its `retry_if` and
/// `on_retry` see `&E`). A policy is cheap to clone (hooks are shared through
/// `Arc`) and is used by reference: one policy serves any number of runs, on
/// any number of threads, concurrently.
///
/// * **Attempts count calls**: `max_attempts(3)` is one call and at most two
///   retries. [`until_success`](RetryPolicyBuilder::until_success) retries
///   without a count, bounded by a total deadline instead.
/// * **Waits**: wait `k` (after failed call `k`) follows the
///   [`Backoff`] from `base_delay`, capped at `max_delay`, then the
///   [`Jitter`]. No wait follows the last attempt. A zero wait retries at once.
/// * **Time limit**: with `max_elapsed`, a retry that would start after the
///   limit (measured from the first call) is not made, and the run stops
///   without waiting. Calls themselves are never interrupted.
/// * **Hooks**: `on_retry(attempt, &error, wait)` runs only when a retry will
///   follow, after every check, just before the wait.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use warden_retry::{retry, Backoff, Jitter, RetryPolicy};
///
/// let policy = RetryPolicy::builder()
///     .max_attempts(4)
///     .base_delay(Duration::from_millis(50))
///     .max_delay(Duration::from_secs(1))
///     .backoff(Backoff::exponential())
///     .jitter(Jitter::Equal)
///     .retry_if(|e: &std::io::Error| e.kind() != std::io::ErrorKind::PermissionDenied)
///     .on_retry(|attempt, e, wait| eprintln!("attempt {attempt} failed ({e}); retrying in {wait:?}"))
///     .max_elapsed(Duration::from_secs(5))
///     .build()?;
///
/// let value = retry(&policy, || Ok::<_, std::io::Error>(42))?;
/// assert_eq!(value, 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RetryPolicy<E> {
    attempts: Option<NonZeroU32>,
    base_delay: Duration,
    max_delay: Duration,
    backoff: Backoff,
    jitter: Jitter,
    max_elapsed: Option<Duration>,
    retention: Retention,
    retry_rejections: bool,
    retry_if: Option<RetryIf<E>>,
    on_retry: Option<OnRetry<E>>,
    budget: Option<Arc<RetryBudget>>,
    observer: Option<Arc<dyn RetryObserver>>,
    rng: Option<RngFactory>,
    sleeper: Option<Arc<dyn Sleeper>>,
    clock: Option<Arc<dyn Clock>>,
}

impl<E> RetryPolicy<E> {
    /// Starts configuring a policy; the builder starts from
    /// [`RetryPolicy::default`]'s settings.
    ///
    /// ```
    /// let policy = warden_retry::RetryPolicy::<std::io::Error>::builder().max_attempts(5).build()?;
    /// assert_eq!(policy.max_attempts(), Some(5));
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn builder() -> RetryPolicyBuilder<E> {
        RetryPolicyBuilder::new()
    }

    /// A builder holding this policy's settings and hooks, to derive a variant.
    ///
    /// The policy's `max_delay` is carried over as a default, not as a
    /// setting: a base delay longer than it, given to the builder, raises it
    /// to the base delay (as on a fresh builder); an explicit
    /// [`max_delay`](RetryPolicyBuilder::max_delay) replaces it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_retry::RetryPolicy;
    /// let slow = RetryPolicy::<()>::kafka().to_builder().base_delay(Duration::from_secs(10)).build()?;
    /// assert_eq!(slow.max_delay(), Duration::from_secs(10));
    /// let same = RetryPolicy::<()>::kafka().to_builder().build()?;
    /// assert_eq!(same.max_delay(), Duration::from_secs(5));
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    ///
    /// ```
    /// use warden_retry::RetryPolicy;
    /// let strict = RetryPolicy::<std::io::Error>::kafka()
    ///     .to_builder()
    ///     .retry_if(|e| e.kind() == std::io::ErrorKind::TimedOut)
    ///     .build()?;
    /// assert_eq!(strict.max_attempts(), Some(5));
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn to_builder(&self) -> RetryPolicyBuilder<E> {
        RetryPolicyBuilder {
            attempts: match self.attempts {
                Some(n) => AttemptsSetting::Limited(n.get()),
                None => AttemptsSetting::UntilSuccess(self.max_elapsed.unwrap_or(Duration::MAX)),
            },
            base_delay: self.base_delay,
            // Not set on the new builder: a longer base delay given to it
            // raises the cap to itself, as on a fresh builder.
            max_delay: None,
            inherited_max_delay: Some(self.max_delay),
            backoff: self.backoff,
            jitter: self.jitter,
            max_elapsed: self.max_elapsed,
            retention: Some(self.retention),
            retry_rejections: self.retry_rejections,
            retry_if: self.retry_if.clone(),
            on_retry: self.on_retry.clone(),
            budget: self.budget.clone(),
            observer: self.observer.clone(),
            rng: self.rng.clone(),
            sleeper: self.sleeper.clone(),
            clock: self.clock.clone(),
        }
    }

    /// The Go `resilience` package's Kafka preset: **5 attempts, 200 ms base**, exponential
    /// backoff doubling (waits up to 200, 400, 800, 1600 ms; capped at 5 s if
    /// extended), **full jitter**.
    ///
    /// Why: a broker failover or partition leader election fails every
    /// producer and partition at the same moment, so their retries need the
    /// widest spread (full jitter does the least total work under contention
    /// in AWS's study of backoff and jitter); the doubling gives an election a
    /// few seconds to finish within the five attempts.
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_retry::{Backoff, Jitter, RetryPolicy};
    /// let p = RetryPolicy::<()>::kafka();
    /// assert_eq!(p.max_attempts(), Some(5));
    /// assert_eq!(p.base_delay(), Duration::from_millis(200));
    /// assert_eq!((p.backoff(), p.jitter()), (Backoff::exponential(), Jitter::Full));
    /// assert!(p.delays().zip([200, 400, 800, 1600]).all(|(d, ms)| d <= Duration::from_millis(ms)));
    /// ```
    pub fn kafka() -> Self {
        Self::preset(
            5,
            Duration::from_millis(200),
            Duration::from_secs(5),
            Jitter::Full,
        )
    }

    /// The Go `resilience` package's ClickHouse preset: **4 attempts, 150 ms base**, exponential
    /// backoff doubling (waits 75–150, 150–300, 300–600 ms; capped at 2 s if
    /// extended), **equal jitter**.
    ///
    /// Why: ClickHouse's transient errors are mostly overload (too many
    /// simultaneous queries, too many parts while merges catch up, memory
    /// limits), so a retry must never come at once: equal jitter keeps at
    /// least half of each wait while still spreading clients apart, and the
    /// doubling gives merges and running queries time to finish.
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_retry::{Jitter, RetryPolicy};
    /// let p = RetryPolicy::<()>::clickhouse();
    /// assert_eq!((p.max_attempts(), p.base_delay()), (Some(4), Duration::from_millis(150)));
    /// assert_eq!(p.jitter(), Jitter::Equal);
    /// let ms = Duration::from_millis;
    /// for (d, ceiling) in p.delays().zip([150, 300, 600]) {
    ///     assert!(d >= ms(ceiling / 2) && d <= ms(ceiling));
    /// }
    /// ```
    pub fn clickhouse() -> Self {
        Self::preset(
            4,
            Duration::from_millis(150),
            Duration::from_secs(2),
            Jitter::Equal,
        )
    }

    fn preset(attempts: u32, base: Duration, max: Duration, jitter: Jitter) -> Self {
        Self {
            attempts: NonZeroU32::new(attempts),
            base_delay: base,
            max_delay: max,
            backoff: Backoff::exponential(),
            jitter,
            max_elapsed: None,
            retention: Retention::Ends(DEFAULT_KEPT),
            retry_rejections: false,
            retry_if: None,
            on_retry: None,
            budget: None,
            observer: None,
            rng: None,
            sleeper: None,
            clock: None,
        }
    }

    /// The maximum number of calls, `None` for `until_success`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_retry::RetryPolicy;
    /// let p = RetryPolicy::<()>::builder().until_success(Duration::from_secs(10)).build()?;
    /// assert_eq!(p.max_attempts(), None);
    /// assert_eq!(p.max_elapsed(), Some(Duration::from_secs(10)));
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn max_attempts(&self) -> Option<u32> {
        self.attempts.map(NonZeroU32::get)
    }

    /// The base delay.
    ///
    /// ```
    /// assert_eq!(warden_retry::RetryPolicy::<()>::default().base_delay().as_millis(), 100);
    /// ```
    pub fn base_delay(&self) -> Duration {
        self.base_delay
    }

    /// The cap on every wait.
    ///
    /// ```
    /// assert_eq!(warden_retry::RetryPolicy::<()>::default().max_delay().as_secs(), 30);
    /// ```
    pub fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// The backoff kind.
    ///
    /// ```
    /// use warden_retry::{Backoff, RetryPolicy};
    /// assert_eq!(RetryPolicy::<()>::default().backoff(), Backoff::exponential());
    /// ```
    pub fn backoff(&self) -> Backoff {
        self.backoff
    }

    /// The jitter kind.
    ///
    /// ```
    /// use warden_retry::{Jitter, RetryPolicy};
    /// assert_eq!(RetryPolicy::<()>::default().jitter(), Jitter::Equal);
    /// ```
    pub fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// The total time limit, measured from the start of the first call.
    ///
    /// ```
    /// assert_eq!(warden_retry::RetryPolicy::<()>::default().max_elapsed(), None);
    /// ```
    pub fn max_elapsed(&self) -> Option<Duration> {
        self.max_elapsed
    }

    /// Which errors a [`RetryError`](crate::RetryError) keeps.
    ///
    /// ```
    /// use warden_retry::{Retention, RetryPolicy, DEFAULT_KEPT};
    /// assert_eq!(RetryPolicy::<()>::default().retention(), Retention::Ends(DEFAULT_KEPT));
    /// ```
    pub fn retention(&self) -> Retention {
        self.retention
    }

    /// Whether breaker rejections are retried (see
    /// [`retry_rejections`](RetryPolicyBuilder::retry_rejections)).
    ///
    /// ```
    /// assert!(!warden_retry::RetryPolicy::<()>::default().retries_rejections());
    /// ```
    pub fn retries_rejections(&self) -> bool {
        self.retry_rejections
    }

    /// The shared retry budget, if any.
    ///
    /// ```
    /// assert!(warden_retry::RetryPolicy::<()>::default().budget().is_none());
    /// ```
    pub fn budget(&self) -> Option<&Arc<RetryBudget>> {
        self.budget.as_ref()
    }

    /// Whether `error` may be retried (the `retry_if` predicate; every error
    /// when none was set).
    ///
    /// ```
    /// let p = warden_retry::RetryPolicy::builder().retry_if(|e: &u16| *e >= 500).build()?;
    /// assert!(p.is_retryable(&503));
    /// assert!(!p.is_retryable(&404));
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn is_retryable(&self, error: &E) -> bool {
        self.retry_if.as_ref().is_none_or(|f| f(error))
    }

    /// The waits this policy would make if every attempt failed (see
    /// [`Delays`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_retry::{Jitter, RetryPolicy};
    /// let p = RetryPolicy::<()>::builder().jitter(Jitter::None).build()?;
    /// let ms = Duration::from_millis;
    /// assert_eq!(p.delays().collect::<Vec<_>>(), [ms(100), ms(200)]);
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn delays(&self) -> Delays<'_, E> {
        Delays::new(self)
    }

    pub(crate) fn on_retry_hook(&self) -> Option<&OnRetry<E>> {
        self.on_retry.as_ref()
    }
    pub(crate) fn observer(&self) -> Option<&dyn RetryObserver> {
        self.observer.as_deref()
    }
    pub(crate) fn rng_factory(&self) -> Option<&RngFactory> {
        self.rng.as_ref()
    }
    pub(crate) fn sleeper(&self) -> Option<&dyn Sleeper> {
        self.sleeper.as_deref()
    }
    pub(crate) fn clock(&self) -> Option<&dyn Clock> {
        self.clock.as_deref()
    }
}

impl<E> Default for RetryPolicy<E> {
    /// The Go `resilience` package's default preset: **3 attempts, 100 ms base**, exponential
    /// backoff doubling (waits 50–100 then 100–200 ms; capped at
    /// [`DEFAULT_MAX_DELAY`] if extended), **equal jitter**. It is exactly what
    /// [`RetryPolicy::builder`] starts from.
    ///
    /// Why: like retry-go's default (backoff plus random jitter), it never
    /// retries at once, yet clients that failed together spread apart.
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_retry::RetryPolicy;
    /// let p = RetryPolicy::<std::io::Error>::default();
    /// assert_eq!((p.max_attempts(), p.base_delay()), (Some(3), Duration::from_millis(100)));
    /// ```
    fn default() -> Self {
        Self::preset(
            3,
            Duration::from_millis(100),
            DEFAULT_MAX_DELAY,
            Jitter::Equal,
        )
    }
}

impl<E> Clone for RetryPolicy<E> {
    fn clone(&self) -> Self {
        Self {
            retry_if: self.retry_if.clone(),
            on_retry: self.on_retry.clone(),
            budget: self.budget.clone(),
            observer: self.observer.clone(),
            rng: self.rng.clone(),
            sleeper: self.sleeper.clone(),
            clock: self.clock.clone(),
            ..*self
        }
    }
}

impl<E> fmt::Debug for RetryPolicy<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("max_attempts", &self.max_attempts())
            .field("base_delay", &self.base_delay)
            .field("max_delay", &self.max_delay)
            .field("backoff", &self.backoff)
            .field("jitter", &self.jitter)
            .field("max_elapsed", &self.max_elapsed)
            .field("retention", &self.retention)
            .field("retry_rejections", &self.retry_rejections)
            .field("retry_if", &self.retry_if.is_some())
            .field("on_retry", &self.on_retry.is_some())
            .field("budget", &self.budget)
            .field("observer", &self.observer.is_some())
            .field("rng", &self.rng.is_some())
            .field("sleeper", &self.sleeper)
            .field("clock", &self.clock)
            .finish()
    }
}

/// Configures a [`RetryPolicy`]; [`build`](Self::build) validates it.
///
/// Starts from [`RetryPolicy::default`]'s settings; `max_delay`, unless set,
/// is [`DEFAULT_MAX_DELAY`] or the base delay if that is longer. Setters never
/// fail; `build` reports the first invalid setting as a [`ConfigError`] naming
/// it.
///
/// ```
/// use warden_retry::{Backoff, RetryPolicy};
/// let err = RetryPolicy::<()>::builder()
///     .backoff(Backoff::Exponential { factor: 1 })
///     .build()
///     .unwrap_err();
/// assert_eq!(err.field(), "backoff.factor");
/// ```
pub struct RetryPolicyBuilder<E> {
    attempts: AttemptsSetting,
    base_delay: Duration,
    max_delay: Option<Duration>,
    /// The cap of the policy this builder was derived from, used when
    /// `max_delay` is not set (raised to the base delay if that is longer).
    inherited_max_delay: Option<Duration>,
    backoff: Backoff,
    jitter: Jitter,
    max_elapsed: Option<Duration>,
    retention: Option<Retention>,
    retry_rejections: bool,
    retry_if: Option<RetryIf<E>>,
    on_retry: Option<OnRetry<E>>,
    budget: Option<Arc<RetryBudget>>,
    observer: Option<Arc<dyn RetryObserver>>,
    rng: Option<RngFactory>,
    sleeper: Option<Arc<dyn Sleeper>>,
    clock: Option<Arc<dyn Clock>>,
}

impl<E> RetryPolicyBuilder<E> {
    fn new() -> Self {
        Self {
            attempts: AttemptsSetting::Limited(3),
            base_delay: Duration::from_millis(100),
            max_delay: None,
            inherited_max_delay: None,
            backoff: Backoff::exponential(),
            jitter: Jitter::Equal,
            max_elapsed: None,
            retention: None,
            retry_rejections: false,
            retry_if: None,
            on_retry: None,
            budget: None,
            observer: None,
            rng: None,
            sleeper: None,
            clock: None,
        }
    }

    /// At most `attempts` calls (the first one included): 3 means one call and
    /// two retries. Must be at least 1. Default 3. Replaces
    /// [`until_success`](Self::until_success) (whose deadline stays set as
    /// `max_elapsed`).
    ///
    /// ```
    /// use warden_retry::{retry, RetryPolicy};
    /// let p = RetryPolicy::builder().max_attempts(1).build()?;
    /// let mut calls = 0;
    /// let _ = retry(&p, || { calls += 1; Err::<(), _>("no") });
    /// assert_eq!(calls, 1); // one call, no retry, no wait
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.attempts = AttemptsSetting::Limited(attempts);
        self
    }

    /// Retries until a call succeeds (or `retry_if` refuses), with no limit on
    /// the number of attempts but a total `deadline`, which must be non-zero:
    /// it sets [`max_elapsed`](Self::max_elapsed) (a later `max_elapsed`
    /// overrides it). Unless
    /// [`retention`](Self::retention) is set, only the last error is kept.
    /// Replaces [`max_attempts`](Self::max_attempts).
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_retry::RetryPolicy;
    /// let p = RetryPolicy::<()>::builder().until_success(Duration::from_secs(30)).build()?;
    /// assert_eq!(p.max_attempts(), None);
    /// assert!(RetryPolicy::<()>::builder().until_success(Duration::ZERO).build().is_err());
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn until_success(mut self, deadline: Duration) -> Self {
        self.attempts = AttemptsSetting::UntilSuccess(deadline);
        self.max_elapsed = Some(deadline);
        self
    }

    /// The base delay the backoff grows from. Default 100 ms; zero retries at
    /// once.
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = warden_retry::RetryPolicy::<()>::builder().base_delay(Duration::ZERO).build()?;
    /// assert!(p.delays().all(|d| d.is_zero()));
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn base_delay(mut self, base: Duration) -> Self {
        self.base_delay = base;
        self
    }

    /// The cap on every wait, jitter included; at least the base delay.
    /// Default: [`DEFAULT_MAX_DELAY`], or the base delay if longer.
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_retry::{Jitter, RetryPolicy};
    /// let p = RetryPolicy::<()>::builder()
    ///     .max_attempts(10)
    ///     .jitter(Jitter::None)
    ///     .max_delay(Duration::from_millis(250))
    ///     .build()?;
    /// assert_eq!(p.delays().last(), Some(Duration::from_millis(250)));
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn max_delay(mut self, max: Duration) -> Self {
        self.max_delay = Some(max);
        self
    }

    /// How waits grow. Default [`Backoff::exponential`] (doubling).
    ///
    /// ```
    /// use warden_retry::{Backoff, RetryPolicy};
    /// let p = RetryPolicy::<()>::builder().backoff(Backoff::Constant).build()?;
    /// assert_eq!(p.backoff(), Backoff::Constant);
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// How waits are randomised. Default [`Jitter::Equal`].
    ///
    /// ```
    /// use warden_retry::{Jitter, RetryPolicy};
    /// let p = RetryPolicy::<()>::builder().jitter(Jitter::Decorrelated).build()?;
    /// assert_eq!(p.jitter(), Jitter::Decorrelated);
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Which errors are worth retrying; `false` stops at once with
    /// [`StopReason::NotRetryable`](crate::StopReason::NotRetryable). Default:
    /// every error.
    ///
    /// ```
    /// use warden_retry::{retry, RetryPolicy};
    /// let p = RetryPolicy::builder().retry_if(|status: &u16| *status >= 500).build()?;
    /// let mut calls = 0;
    /// let _ = retry(&p, || { calls += 1; Err::<(), u16>(404) });
    /// assert_eq!(calls, 1);
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn retry_if<F>(mut self, retry_if: F) -> Self
    where
        F: Fn(&E) -> bool + Send + Sync + 'static,
    {
        self.retry_if = Some(Arc::new(retry_if));
        self
    }

    /// Called as `on_retry(attempt, &error, wait)` when a retry will follow:
    /// `attempt` is the 1-based number of the call that just failed, `wait`
    /// the time about to be waited. Not called after the last attempt, nor
    /// when the run stops for any reason (unlike retry-go's `OnRetry`).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use warden_retry::{retry, RetryPolicy};
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// let p = RetryPolicy::builder()
    ///     .base_delay(Duration::ZERO)
    ///     .on_retry(move |n, e: &&str, wait| log.lock().unwrap().push((n, *e, wait)))
    ///     .build()?;
    /// let _ = retry(&p, || Err::<(), _>("busy"));
    /// assert_eq!(*seen.lock().unwrap(), [(1, "busy", Duration::ZERO), (2, "busy", Duration::ZERO)]);
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn on_retry<F>(mut self, on_retry: F) -> Self
    where
        F: Fn(u32, &E, Duration) + Send + Sync + 'static,
    {
        self.on_retry = Some(Arc::new(on_retry));
        self
    }

    /// A total time limit from the start of the first call: a retry whose wait
    /// would end after it is not made (the run stops at once with
    /// [`StopReason::Deadline`](crate::StopReason::Deadline)). Must be
    /// non-zero. Default: none.
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = warden_retry::RetryPolicy::<()>::builder().max_elapsed(Duration::from_secs(2)).build()?;
    /// assert_eq!(p.max_elapsed(), Some(Duration::from_secs(2)));
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn max_elapsed(mut self, limit: Duration) -> Self {
        self.max_elapsed = Some(limit);
        self
    }

    /// Which attempt errors the final error keeps. Default:
    /// `Ends(DEFAULT_KEPT)` with `max_attempts`, `Last` with `until_success`.
    ///
    /// ```
    /// use warden_retry::{retry, Retention, RetryPolicy};
    /// let p = RetryPolicy::builder()
    ///     .base_delay(std::time::Duration::ZERO)
    ///     .retention(Retention::Last)
    ///     .build()?;
    /// let err = retry(&p, || Err::<(), _>("down")).unwrap_err();
    /// assert_eq!(err.to_string(), "all 3 attempts failed: #3: down");
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn retention(mut self, retention: Retention) -> Self {
        self.retention = Some(retention);
        self
    }

    /// Whether the breaker combinators retry an attempt the breaker rejected
    /// (open, or half-open with every probe slot taken). Default `false`: a
    /// rejection ends the run at once, because retrying into an open breaker
    /// only adds load and the breaker will not close within a retry's wait.
    /// With `true`, a rejected attempt is retried like a failed one (it counts
    /// as an attempt and waits the backoff); `on_retry` is not called for it
    /// (there is no call error), the observer is.
    ///
    /// ```
    /// let p = warden_retry::RetryPolicy::<()>::builder().retry_rejections(true).build()?;
    /// assert!(p.retries_rejections());
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn retry_rejections(mut self, retry: bool) -> Self {
        self.retry_rejections = retry;
        self
    }

    /// A retry budget shared with other policies and runs: every run deposits
    /// on its first attempt that reaches the downstream (a breaker rejection
    /// does not) and withdraws before each retry, giving the token back if
    /// that retry is not made after all (rejected by the breaker, the run
    /// dropped while waiting, `on_retry` panicking); a refused withdrawal
    /// stops the run with [`StopReason::Budget`](crate::StopReason::Budget).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use warden_retry::{RetryBudget, RetryPolicy};
    /// let budget = Arc::new(RetryBudget::builder().build()?);
    /// let p = RetryPolicy::<()>::builder().budget(budget.clone()).build()?;
    /// assert!(Arc::ptr_eq(p.budget().unwrap(), &budget));
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn budget(mut self, budget: Arc<RetryBudget>) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The observer told of every attempt, retry and final outcome (for
    /// metrics). Replaces any previous one.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// use warden_retry::{retry, RetryObserver, RetryPolicy};
    /// #[derive(Default)]
    /// struct Attempts(AtomicU32);
    /// impl RetryObserver for Attempts {
    ///     fn on_attempt(&self, _attempt: u32) {
    ///         self.0.fetch_add(1, Ordering::Relaxed);
    ///     }
    /// }
    /// let counter = Arc::new(Attempts::default());
    /// let p = RetryPolicy::builder()
    ///     .base_delay(std::time::Duration::ZERO)
    ///     .observer(counter.clone())
    ///     .build()?;
    /// let _ = retry(&p, || Err::<(), _>("x"));
    /// assert_eq!(counter.0.load(Ordering::Relaxed), 3);
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn observer<O: RetryObserver>(mut self, observer: O) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// Where each run gets its jitter randomness: `make` is called once per run,
    /// at its first jittered wait. Default: a small fast RNG seeded from std's
    /// per-process random keys. Use it to inject a stub in tests.
    ///
    /// ```
    /// use rand::{rngs::SmallRng, SeedableRng};
    /// use warden_retry::{Jitter, RetryPolicy};
    /// let p = RetryPolicy::<()>::builder()
    ///     .jitter(Jitter::Full)
    ///     .rng(|| SmallRng::seed_from_u64(42))
    ///     .build()?;
    /// assert_eq!(p.delays().collect::<Vec<_>>(), p.delays().collect::<Vec<_>>());
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn rng<F, R>(mut self, make: F) -> Self
    where
        F: Fn() -> R + Send + Sync + 'static,
        R: RngCore + Send + 'static,
    {
        self.rng = Some(Arc::new(move || {
            Box::new(make()) as Box<dyn RngCore + Send>
        }));
        self
    }

    /// Every run draws its jitter from a small fast RNG seeded with `seed`, so
    /// runs are reproducible (and all alike: use this for tests and
    /// simulations, not to spread real clients).
    ///
    /// ```
    /// use warden_retry::{Jitter, RetryPolicy};
    /// let p = RetryPolicy::<()>::builder().jitter(Jitter::Decorrelated).rng_seed(1).build()?;
    /// let q = RetryPolicy::<()>::builder().jitter(Jitter::Decorrelated).rng_seed(1).build()?;
    /// assert!(p.delays().eq(q.delays()));
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn rng_seed(self, seed: u64) -> Self {
        self.rng(move || SmallRng::seed_from_u64(seed))
    }

    /// How the synchronous functions wait. Default: [`ThreadSleeper`](crate::ThreadSleeper).
    /// Tests pass a [`ManualSleeper`](crate::ManualSleeper), which never blocks.
    /// The `*_async` functions always wait on tokio's timer.
    ///
    /// ```
    /// use warden_retry::{retry, ManualSleeper, RetryPolicy};
    /// let sleeper = ManualSleeper::new();
    /// let p = RetryPolicy::builder().sleeper(sleeper.clone()).rng_seed(0).build()?;
    /// let _ = retry(&p, || Err::<(), _>("x"));
    /// assert_eq!(sleeper.sleeps().len(), 2);
    /// # Ok::<(), warden_retry::ConfigError>(())
    /// ```
    pub fn sleeper<S: Sleeper>(mut self, sleeper: S) -> Self {
        self.sleeper = Some(Arc::new(sleeper));
        self
    }

    /// The clock the synchronous functions measure `max_elapsed` with. Default:
    /// `std::time::Instant`. Pair a [`ManualClock`](warden_breaker::ManualClock)
    /// with a [`ManualSleeper`](crate::ManualSleeper) advancing it to test
    /// deadlines without waiting. The `*_async` functions use tokio's clock.
    ///
    /// ```
    /// use warden_breaker::ManualClock;
    /// let p = warden_retry::RetryPolicy::<()>::builder().clock(ManualClock::new()).build()?;
    /// # let _ = p;
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
    /// [`ConfigError::OutOfRange`] naming the first invalid setting:
    /// `max_attempts` 0; `until_success` or `max_elapsed` zero; `max_delay`
    /// below `base_delay`; `backoff.factor` below 2.
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_retry::RetryPolicy;
    /// let err = RetryPolicy::<()>::builder().max_elapsed(Duration::ZERO).build().unwrap_err();
    /// assert_eq!(err.field(), "max_elapsed");
    /// ```
    pub fn build(self) -> Result<RetryPolicy<E>, ConfigError> {
        let (attempts, max_elapsed, default_retention) = match self.attempts {
            AttemptsSetting::Limited(n) => {
                let n = NonZeroU32::new(n).ok_or_else(|| {
                    ConfigError::out_of_range(
                        "max_attempts",
                        n,
                        "1..=4294967295 (use until_success for no limit)",
                    )
                })?;
                (Some(n), self.max_elapsed, Retention::Ends(DEFAULT_KEPT))
            }
            AttemptsSetting::UntilSuccess(deadline) => {
                if deadline.is_zero() {
                    return Err(ConfigError::out_of_range(
                        "until_success",
                        deadline,
                        "a deadline greater than zero",
                    ));
                }
                // `until_success` set max_elapsed; a later `max_elapsed` may have changed it.
                (
                    None,
                    Some(self.max_elapsed.unwrap_or(deadline)),
                    Retention::Last,
                )
            }
        };
        if max_elapsed.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::out_of_range(
                "max_elapsed",
                Duration::ZERO,
                "greater than zero",
            ));
        }
        let max_delay = match self.max_delay {
            Some(max) if max < self.base_delay => {
                return Err(ConfigError::out_of_range(
                    "max_delay",
                    max,
                    "at least base_delay",
                ));
            }
            Some(max) => max,
            None => self
                .inherited_max_delay
                .unwrap_or(DEFAULT_MAX_DELAY)
                .max(self.base_delay),
        };
        if let Backoff::Exponential { factor } = self.backoff
            && factor < 2
        {
            return Err(ConfigError::out_of_range(
                "backoff.factor",
                factor,
                "2..=4294967295 (use Backoff::Constant for no growth)",
            ));
        }
        Ok(RetryPolicy {
            attempts,
            base_delay: self.base_delay,
            max_delay,
            backoff: self.backoff,
            jitter: self.jitter,
            max_elapsed,
            retention: self.retention.unwrap_or(default_retention),
            retry_rejections: self.retry_rejections,
            retry_if: self.retry_if,
            on_retry: self.on_retry,
            budget: self.budget,
            observer: self.observer,
            rng: self.rng,
            sleeper: self.sleeper,
            clock: self.clock,
        })
    }
}

impl<E> Default for RetryPolicyBuilder<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> Clone for RetryPolicyBuilder<E> {
    fn clone(&self) -> Self {
        Self {
            retry_if: self.retry_if.clone(),
            on_retry: self.on_retry.clone(),
            budget: self.budget.clone(),
            observer: self.observer.clone(),
            rng: self.rng.clone(),
            sleeper: self.sleeper.clone(),
            clock: self.clock.clone(),
            ..*self
        }
    }
}

impl<E> fmt::Debug for RetryPolicyBuilder<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicyBuilder")
            .field("attempts", &self.attempts)
            .field("base_delay", &self.base_delay)
            .field("max_delay", &self.max_delay)
            .field("backoff", &self.backoff)
            .field("jitter", &self.jitter)
            .field("max_elapsed", &self.max_elapsed)
            .finish_non_exhaustive()
    }
}
