//! [`Pipeline`] and [`Fallback`]: the one way to run a call through a named
//! breaker.

use std::fmt;
#[cfg(feature = "tokio")]
use std::future::Future;
#[cfg(feature = "tokio")]
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use warden_breaker::{Outcome, State};
use warden_retry::{RetryError, RetryPolicy};

use crate::ExecuteError;
use crate::Registry;
use crate::execution::{Execution, Primary};
use crate::registry::{Entry, NamedBreaker, RegistryError, nanos, stop_reason};

type ClassifyFn<T, E> = dyn Fn(&Result<T, E>) -> Outcome + Send + Sync;
type SyncFallbackFn<T, E> = dyn Fn(ExecuteError<E>) -> Result<T, ExecuteError<E>> + Send + Sync;
#[cfg(feature = "tokio")]
type BoxFuture<R> = Pin<Box<dyn Future<Output = R> + Send>>;
#[cfg(feature = "tokio")]
type AsyncFallbackFn<T, E> =
    dyn Fn(ExecuteError<E>) -> BoxFuture<Result<T, ExecuteError<E>>> + Send + Sync;

/// What a [`Pipeline`] gives instead of an error (its outermost strategy).
///
/// * [`value`](Self::value): a fixed value.
/// * [`from_fn`](Self::from_fn): a function of the error.
/// * [`last_good`](Self::last_good): the last value the call gave, if it is
///   not older than a maximum age.
/// * [`secondary`](Self::secondary) and
///   [`secondary_async`](Self::secondary_async): another call, through its
///   own pipeline (a replica, a second provider).
///
/// A fallback's own error is [`ExecuteError::Fallback`]; the run's
/// [`Execution`] still says what happened to the call itself
/// ([`succeeded`](Execution::succeeded), [`is_rejected`](Execution::is_rejected),
/// [`timed_out`](Execution::timed_out)) and that the fallback ran
/// ([`used_fallback`](Execution::used_fallback)).
pub struct Fallback<T, E> {
    kind: Kind<T, E>,
}

impl<T, E> Clone for Fallback<T, E> {
    fn clone(&self) -> Self {
        Fallback {
            kind: match &self.kind {
                Kind::Sync(f) => Kind::Sync(Arc::clone(f)),
                Kind::LastGood(m) => Kind::LastGood(Arc::clone(m)),
                #[cfg(feature = "tokio")]
                Kind::Async(f) => Kind::Async(Arc::clone(f)),
            },
        }
    }
}

impl<T, E> fmt::Debug for Fallback<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            Kind::Sync(_) => "Fallback::Sync",
            Kind::LastGood(_) => "Fallback::LastGood",
            #[cfg(feature = "tokio")]
            Kind::Async(_) => "Fallback::Async",
        })
    }
}

enum Kind<T, E> {
    Sync(Arc<SyncFallbackFn<T, E>>),
    LastGood(Arc<dyn Memory<T>>),
    #[cfg(feature = "tokio")]
    Async(Arc<AsyncFallbackFn<T, E>>),
}

/// The last good value and when it was seen (registry clock nanoseconds).
trait Memory<T>: Send + Sync {
    fn remember(&self, value: &T, now: u64);
    fn recall(&self, now: u64) -> Option<T>;
}

struct LastGood<T> {
    max_age: u64,
    slot: Mutex<Option<(T, u64)>>,
}

impl<T: Clone + Send> Memory<T> for LastGood<T> {
    fn remember(&self, value: &T, now: u64) {
        let value = value.clone(); // outside the lock
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        // Two successes overlapping: the one seen earlier may get here last (its
        // clone was slower, its thread preempted); it must not replace the newer
        // value with an older value and time. Seen at the same time (a clock
        // standing still): the later store wins. A clock stepping back, which a
        // `Clock` must not do, keeps the value until it catches up.
        if slot.as_ref().is_none_or(|(_, seen)| *seen <= now) {
            *slot = Some((value, now));
        }
    }

    fn recall(&self, now: u64) -> Option<T> {
        let slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        // A clock stepping back (`now` before `seen`) gives age 0: still fresh.
        slot.as_ref()
            .filter(|(_, seen)| now.saturating_sub(*seen) <= self.max_age)
            .map(|(value, _)| value.clone())
    }
}

impl<T: 'static, E: 'static> Fallback<T, E> {
    /// Always `value` (cloned for each use).
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().build()?;
    /// let p = r.pipeline("feed")?.with_fallback(warden_kit::Fallback::value(Vec::<u32>::new()));
    /// assert_eq!(p.execute(|| Err("down")).value(), Some(&vec![]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn value(value: T) -> Self
    where
        T: Clone + Send + Sync,
    {
        Self::sync(move |_| Ok(value.clone()))
    }

    /// `f(error)`: a value, or the fallback's own error
    /// ([`ExecuteError::Fallback`]). `f` sees why the run failed.
    ///
    /// ```
    /// use warden_kit::{ExecuteError, Fallback};
    /// let r = warden_kit::Registry::builder().build()?;
    /// let p = r.pipeline("stock")?.with_fallback(Fallback::from_fn(|err| match err {
    ///     ExecuteError::Rejected { .. } => Ok(0), // breaker open: "unknown stock"
    ///     _ => Err("no stock"),
    /// }));
    /// let ex = p.execute(|| Err::<u32, _>("refused"));
    /// assert!(matches!(ex.error(), Some(ExecuteError::Fallback("no stock"))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_fn<F>(f: F) -> Self
    where
        F: Fn(ExecuteError<E>) -> Result<T, E> + Send + Sync + 'static,
    {
        Self::sync(move |error| f(error).map_err(ExecuteError::Fallback))
    }

    /// The last value a call of this pipeline (or of its clones) returned
    /// and the breaker counted as a success (of calls finishing together, the
    /// one whose end the registry's clock read last), if it was seen at most `max_age`
    /// ago on the registry's clock; with nothing that fresh, the run's error
    /// stands and [`used_fallback`](Execution::used_fallback) is false. Each
    /// good value is cloned and stored under an uncontended lock.
    ///
    /// ```
    /// use std::time::Duration;
    /// let clock = warden_kit::ManualClock::new();
    /// let r = warden_kit::Registry::builder().clock(clock.clone()).build()?;
    /// let rates = r.pipeline("rates")?.with_fallback(warden_kit::Fallback::last_good(Duration::from_secs(60)));
    /// let _ = rates.execute(|| Ok::<_, &str>(1.08));
    /// clock.advance(Duration::from_secs(30));
    /// assert_eq!(rates.execute(|| Err("down")).value(), Some(&1.08)); // 30 s old
    /// clock.advance(Duration::from_secs(31));
    /// assert!(rates.execute(|| Err("down")).value().is_none()); // too old
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn last_good(max_age: Duration) -> Self
    where
        T: Clone + Send,
    {
        Fallback {
            kind: Kind::LastGood(Arc::new(LastGood::<T> {
                max_age: nanos(max_age),
                slot: Mutex::new(None),
            })),
        }
    }

    /// Runs `call` through `secondary` (another name's pipeline: a replica, a
    /// second provider), so the secondary has its own breaker. The
    /// secondary's error is the run's: its call's error as
    /// [`ExecuteError::Fallback`], its refusals as they are (naming the
    /// secondary's breaker).
    ///
    /// ```
    /// use warden_kit::Fallback;
    /// let r = warden_kit::Registry::builder().build()?;
    /// let replica = r.pipeline("db-replica")?;
    /// let primary = r.pipeline("db")?.with_fallback(Fallback::secondary(replica, || Ok("from the replica")));
    /// assert_eq!(primary.execute(|| Err("primary down")).value(), Some(&"from the replica"));
    /// assert_eq!(r.breaker("db-replica")?.counts().total_successes, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn secondary<F>(secondary: Pipeline<T, E>, call: F) -> Self
    where
        F: Fn() -> Result<T, E> + Send + Sync + 'static,
    {
        Self::sync(move |_| {
            secondary.execute(&call).into_result().map_err(|e| match e {
                ExecuteError::Inner(e) => ExecuteError::Fallback(e),
                other => other,
            })
        })
    }

    /// The async [`secondary`](Self::secondary): `call`'s future runs through
    /// `secondary`'s [`execute_async`](Pipeline::execute_async). Only
    /// [`execute_async`](Pipeline::execute_async) runs it; a sync
    /// [`execute`](Pipeline::execute) of a pipeline with this fallback
    /// returns the run's error as if there were no fallback.
    ///
    #[cfg_attr(feature = "tokio", doc = "```")]
    #[cfg_attr(not(feature = "tokio"), doc = "```ignore")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use warden_kit::Fallback;
    /// let r = warden_kit::Registry::builder().build()?;
    /// let backup = r.pipeline("sms-backup")?;
    /// let sms = r
    ///     .pipeline("sms")?
    ///     .with_fallback(Fallback::secondary_async(backup, || async { Ok::<_, String>("sent by backup") }));
    /// let ex = sms.execute_async(|| async { Err("provider down".to_owned()) }).await;
    /// assert_eq!(ex.value(), Some(&"sent by backup"));
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub fn secondary_async<F, Fut>(secondary: Pipeline<T, E>, call: F) -> Self
    where
        T: Send,
        E: Send,
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let call = Arc::new(call);
        Fallback {
            kind: Kind::Async(Arc::new(move |_| {
                let secondary = secondary.clone();
                let call = Arc::clone(&call);
                Box::pin(async move {
                    secondary
                        .execute_async(|| call())
                        .await
                        .into_result()
                        .map_err(|e| match e {
                            ExecuteError::Inner(e) => ExecuteError::Fallback(e),
                            other => other,
                        })
                })
            })),
        }
    }

    fn sync<F>(f: F) -> Self
    where
        F: Fn(ExecuteError<E>) -> Result<T, ExecuteError<E>> + Send + Sync + 'static,
    {
        Fallback {
            kind: Kind::Sync(Arc::new(f)),
        }
    }
}

/// A call's path through a named breaker, composed once from strategies and
/// run many times with [`execute`](Self::execute) (sync) or
/// [`execute_async`](Self::execute_async), each returning an [`Execution`].
///
/// # Order
///
/// A pipeline always nests its strategies in this order, outermost first
/// (the order Polly's `ResiliencePipeline` documentation recommends):
///
/// 1. **fallback** ([`with_fallback`](Pipeline::with_fallback)): sees the run's
///    final error, whatever produced it: the call's own, a timeout, the
///    breaker's or the bulkhead's refusal, a shut-down registry. It runs once,
///    after every retry.
/// 2. **retry** ([`with_retry`](Pipeline::with_retry)): each attempt goes
///    through everything below it, so every attempt is judged by the breaker,
///    a breaker that trips mid-run stops the run (a refusal is not retried
///    unless the policy retries rejections), and the bulkhead slot is not
///    held through the backoff waits.
/// 3. **bulkhead** (the name's `max_concurrent`): a full bulkhead refuses the
///    attempt before the breaker is asked, so it never takes a half-open
///    probe slot it would not use.
/// 4. **breaker** (the name's): admits or refuses the attempt and records its
///    outcome, decided by the [classifier](Pipeline::with_classifier).
/// 5. **timeout** ([`with_timeout`](Pipeline::with_timeout), by default the
///    name's [`call_timeout`](crate::BreakerConfig::call_timeout)): per attempt
///    and inside the breaker, so a timed-out attempt counts as a failure and
///    the next attempt gets a fresh deadline.
///
/// The order is fixed rather than chosen per pipeline: each other order loses
/// something (a timeout outside the breaker is never counted; a retry inside
/// the breaker holds one permit across attempts; a fallback inside the retry
/// hides every failure from it).
///
/// # Cost
///
/// A pipeline is built once ([`NamedBreaker::pipeline`],
/// [`Registry::pipeline`](crate::Registry::pipeline)) and kept; running it
/// allocates nothing and, with only the breaker, costs what one guarded call
/// costs: the shutdown flag, the breaker's admission, two reads of the
/// registry's clock (for [`Execution::elapsed`]) and the state after. The
/// strategies it has are looked at once, when it is built: a strategy it
/// does not have costs nothing per call, and each one it has adds only its
/// own work (a timeout reads no extra clock; the last-good fallback clones
/// each good value under an uncontended lock).
///
/// ```
/// use std::time::Duration;
/// use warden_kit::{BreakerConfig, ExecuteError, Fallback, Registry, RetryPolicy};
///
/// let registry = Registry::builder()
///     .configure("prices", BreakerConfig::default().with_max_concurrent(16))
///     .build()?;
/// // Built once, at start-up.
/// let prices = registry
///     .pipeline("prices")?
///     .with_retry(
///         RetryPolicy::builder()
///             .base_delay(Duration::ZERO)
///             .retry_if(ExecuteError::is_retryable)
///             .build()?,
///     )
///     .with_fallback(Fallback::value(100)); // a list price
///
/// // Run on every request.
/// let ex = prices.execute(|| Err::<u32, _>("connection reset"));
/// assert_eq!((ex.value(), ex.attempts(), ex.used_fallback()), (Some(&100), 3, true));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Built from [`NamedBreaker::pipeline`] or
/// [`Registry::pipeline`](crate::Registry::pipeline), which give the name's
/// breaker, bulkhead and call timeout; the `with_` methods add the rest.
/// Cheap to clone; clones share the breaker and the last-good value.
///
/// A pipeline keeps its name's breaker: it stays usable after the name is
/// [removed](crate::Registry::remove) or evicted (then on the retired
/// breaker), and every run gives [`ExecuteError::Shutdown`] after
/// [`Registry::shutdown`](crate::Registry::shutdown).
pub struct Pipeline<T, E> {
    entry: Arc<Entry>,
    plan: Plan,
    timeout: Option<Duration>,
    retry: Option<RetryPolicy<ExecuteError<E>>>,
    fallback: Option<Fallback<T, E>>,
    classify: Option<Arc<ClassifyFn<T, E>>>,
}

impl<T, E> Clone for Pipeline<T, E> {
    fn clone(&self) -> Self {
        Pipeline {
            entry: Arc::clone(&self.entry),
            plan: self.plan,
            timeout: self.timeout,
            retry: self.retry.clone(),
            fallback: self.fallback.clone(),
            classify: self.classify.clone(),
        }
    }
}

impl<T, E> fmt::Debug for Pipeline<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("breaker", &self.entry.breaker.name())
            .field("timeout", &self.timeout)
            .field("retry", &self.retry.is_some())
            .field("fallback", &self.fallback)
            .field("classifier", &self.classify.is_some())
            .finish()
    }
}

/// What one attempt came to: `None` if it was refused (not run).
type Attempt<T, E> = (Result<T, ExecuteError<E>>, Option<Outcome>);

/// The path [`Pipeline::execute`] takes, chosen whenever a strategy is added
/// so that the strategies a pipeline does not have cost nothing per call: one
/// test of this instead of one per strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plan {
    /// Only the name's bulkhead and breaker: one attempt, `Err` a failure.
    Bare,
    /// One attempt with a timeout or a classifier.
    Attempt,
    /// Retry or a fallback around the attempts.
    Composed,
}

impl<T, E> Pipeline<T, E> {
    pub(crate) fn new(breaker: &NamedBreaker) -> Self {
        let entry = Arc::clone(breaker.entry());
        Pipeline {
            timeout: entry.config.load().call_timeout(),
            entry,
            plan: Plan::Bare,
            retry: None,
            fallback: None,
            classify: None,
        }
        .planned()
    }

    /// Chooses the path of [`execute`](Self::execute) for the strategies set.
    fn planned(mut self) -> Self {
        self.plan = if self.retry.is_some() || self.fallback.is_some() {
            Plan::Composed
        } else if self.timeout.is_some() || self.classify.is_some() {
            Plan::Attempt
        } else {
            Plan::Bare
        };
        self
    }

    /// The breaker's name.
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().build()?;
    /// assert_eq!(r.pipeline::<(), ()>("db")?.name(), "db");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(&self) -> &str {
        self.entry.breaker.name()
    }

    /// The breaker's state (a due transition is made first).
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().build()?;
    /// assert_eq!(r.pipeline::<(), ()>("db")?.state(), warden_kit::State::Closed);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn state(&self) -> State {
        self.entry.breaker.state()
    }

    /// Each attempt's time limit (`None`: none), replacing the name's
    /// [`call_timeout`](crate::BreakerConfig::call_timeout). An attempt that
    /// goes past it gives [`ExecuteError::Timeout`], counts as a failure to
    /// the breaker and in the metrics' `timeouts_total`.
    ///
    /// Async attempts are dropped at the deadline. A sync attempt cannot be
    /// interrupted: one that returns after its deadline is a timeout all the
    /// same (its value or error is dropped), measured on the registry's clock.
    /// A future that blocks its thread is only noticed when it returns; run
    /// blocking work with `tokio::task::spawn_blocking` to have it cut off on
    /// time.
    ///
    /// ```
    /// use std::time::Duration;
    /// let clock = warden_kit::ManualClock::new();
    /// let r = warden_kit::Registry::builder().clock(clock.clone()).build()?;
    /// let p = r.pipeline("db")?.with_timeout(Some(Duration::from_millis(100)));
    /// let ex = p.execute(|| { clock.advance(Duration::from_millis(150)); Ok::<_, ()>("late") });
    /// assert!(ex.timed_out() && ex.value().is_none());
    /// assert_eq!(r.breaker("db")?.counts().total_failures, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self.planned()
    }

    /// Runs the call again, as `policy` says, when an attempt fails. The
    /// policy sees [`ExecuteError`]s; `retry_if(ExecuteError::is_retryable)`
    /// retries the call's errors and timeouts. A refused attempt ends the run
    /// at once (unless the policy retries rejections), and so does a
    /// shut-down registry, whatever `retry_if` says. Sync runs wait on the
    /// policy's sleeper (blocking the thread), async runs on tokio's timer.
    /// [`attempts`](Execution::attempts) counts the attempts that ran; the
    /// run keeps the last attempt's error.
    ///
    /// ```
    /// use warden_kit::{ExecuteError, RetryPolicy};
    /// let r = warden_kit::Registry::builder().build()?;
    /// let p = r.pipeline("db")?.with_retry(
    ///     RetryPolicy::builder().base_delay(std::time::Duration::ZERO).retry_if(ExecuteError::is_retryable).build()?,
    /// );
    /// let mut calls = 0;
    /// let ex = p.execute(|| { calls += 1; if calls < 2 { Err("reset") } else { Ok(calls) } });
    /// assert_eq!((ex.value(), ex.attempts()), (Some(&2), 2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_retry(mut self, policy: RetryPolicy<ExecuteError<E>>) -> Self {
        self.retry = Some(policy);
        self.planned()
    }

    /// What to give instead of an error: see [`Fallback`].
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().build()?;
    /// let p = r.pipeline("search")?.with_fallback(warden_kit::Fallback::value(Vec::<String>::new()));
    /// let ex = p.execute(|| Err("down"));
    /// assert!(ex.used_fallback() && !ex.succeeded());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_fallback(mut self, fallback: Fallback<T, E>) -> Self {
        self.fallback = Some(fallback);
        self.planned()
    }

    /// What each attempt's result means to the breaker (default: `Err` is a
    /// failure, `Ok` a success). The same closure form works for the core's
    /// [`call_with`](warden_breaker::CircuitBreaker::call_with) and, as a
    /// `warden_tower::classify::Classifier`, for the tower layer; with the
    /// `tower` feature, `tower::classify` adapts any of
    /// `warden_tower`'s classifiers (such as `HttpClassifier`: a `5xx`
    /// response is a failure).
    ///
    /// The result itself is returned unchanged: an `Ok` counted as a failure
    /// still gives its value ([`has_value`](Execution::has_value)), but
    /// [`succeeded`](Execution::succeeded) is false, it is not remembered by
    /// [`Fallback::last_good`], and it is not retried (retry policies see
    /// errors). An [`Outcome::Ignored`] result is counted only as an
    /// exclusion.
    ///
    /// ```
    /// use warden_kit::breaker::Outcome;
    /// let r = warden_kit::Registry::builder().build()?;
    /// let p = r.pipeline("users")?.with_classifier(|result: &Result<u32, std::io::Error>| match result {
    ///     Err(e) if e.kind() == std::io::ErrorKind::NotFound => Outcome::Ignored, // says nothing of the peer
    ///     Err(_) => Outcome::Failure,
    ///     Ok(_) => Outcome::Success,
    /// });
    /// let _ = p.execute(|| Err(std::io::ErrorKind::NotFound.into()));
    /// assert_eq!(r.breaker("users")?.counts().total_failures, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_classifier<C>(mut self, classifier: C) -> Self
    where
        C: Fn(&Result<T, E>) -> Outcome + Send + Sync + 'static,
    {
        self.classify = Some(Arc::new(classifier));
        self.planned()
    }

    #[inline]
    fn outcome(&self, result: &Result<T, E>) -> Outcome {
        match &self.classify {
            None if result.is_ok() => Outcome::Success,
            None => Outcome::Failure,
            Some(classify) => classify(result),
        }
    }

    /// Runs `f` through the pipeline on this thread.
    ///
    /// A panic in `f` (or in the classifier) counts as a failure to the
    /// breaker and goes on unwinding.
    ///
    /// ```
    /// use warden_kit::{BreakerConfig, ExecuteError, Rejected, Registry, State, TripRule};
    /// let registry = Registry::builder()
    ///     .configure("db", BreakerConfig::default().with_trip(TripRule::ConsecutiveFailures(2)))
    ///     .build()?;
    /// let db = registry.pipeline("db")?;
    /// for _ in 0..2 {
    ///     let _ = db.execute(|| Err("down"));
    /// }
    /// let ex = db.execute(|| Ok(()));
    /// assert!(matches!(ex.error(), Some(ExecuteError::Rejected { rejected: Rejected::Open, .. })));
    /// assert_eq!((ex.attempts(), ex.state()), (0, Some(State::Open)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn execute<F>(&self, mut f: F) -> Execution<T, E>
    where
        F: FnMut() -> Result<T, E>,
    {
        match self.plan {
            Plan::Bare => self.execute_bare(f),
            Plan::Attempt => {
                // One attempt, built into its `Execution` in place.
                let entry = &*self.entry;
                let start = entry.clock.now_nanos();
                let (result, last) = self.attempt(&mut f);
                let elapsed = entry.clock.now_nanos().saturating_sub(start);
                Execution::ran(
                    result,
                    last,
                    Some(entry.breaker.state()),
                    u32::from(last.is_some()),
                    Duration::from_nanos(elapsed),
                )
            }
            Plan::Composed => self.execute_composed(f),
        }
    }

    /// [`execute`](Self::execute) with only the name's bulkhead and breaker:
    /// no strategy is asked whether it is there, and what happened is known
    /// on each branch without a second look at the result.
    #[inline]
    fn execute_bare(&self, f: impl FnOnce() -> Result<T, E>) -> Execution<T, E> {
        let entry = &*self.entry;
        let start = entry.clock.now_nanos();
        let (slot, permit) = match entry.admit() {
            Ok(guards) => guards,
            Err(refused) => return self.refused(start, refused),
        };
        // A panic in `f` drops `permit` while panicking: a failure, then the panic goes on.
        let result = f();
        permit.record(if result.is_ok() {
            Outcome::Success
        } else {
            Outcome::Failure
        });
        drop(slot);
        // Read before the result is wrapped, which keeps it out of memory.
        let elapsed = entry.clock.now_nanos().saturating_sub(start);
        let state = entry.breaker.state();
        let (result, primary) = match result {
            Ok(value) => (Ok(value), Primary::Succeeded),
            Err(e) => (Err(ExecuteError::Inner(e)), Primary::Failed),
        };
        Execution {
            result,
            primary,
            fallback: false,
            state: Some(state),
            attempts: 1,
            elapsed: Duration::from_nanos(elapsed),
        }
    }

    /// The `Execution` of a run whose one attempt was refused.
    #[cold]
    #[inline(never)]
    fn refused(&self, start: u64, refused: ExecuteError<E>) -> Execution<T, E> {
        let entry = &*self.entry;
        let elapsed = entry.clock.now_nanos().saturating_sub(start);
        Execution::ran(
            Err(refused),
            None,
            Some(entry.breaker.state()),
            0,
            Duration::from_nanos(elapsed),
        )
    }

    /// [`execute`](Self::execute) with retry or a fallback.
    #[inline(never)]
    fn execute_composed(&self, mut f: impl FnMut() -> Result<T, E>) -> Execution<T, E> {
        let entry = &*self.entry;
        let start = entry.clock.now_nanos();
        let (result, last, attempts) = match &self.retry {
            None => {
                let (result, last) = self.attempt(&mut f);
                (result, last, u32::from(last.is_some()))
            }
            Some(policy) => self.retry_sync(policy, f),
        };
        let now = entry.clock.now_nanos();
        let ex = Execution::ran(
            result,
            last,
            Some(entry.breaker.state()),
            attempts,
            Duration::from_nanos(now.saturating_sub(start)),
        );
        match &self.fallback {
            None => ex,
            Some(fallback) => self.fall_back_sync(fallback, ex, now),
        }
    }

    /// One guarded sync attempt.
    #[inline]
    fn attempt(&self, f: &mut impl FnMut() -> Result<T, E>) -> Attempt<T, E> {
        let entry = &*self.entry;
        let (_slot, permit) = match entry.admit() {
            Ok(guards) => guards,
            Err(e) => return (Err(e), None),
        };
        let Some(limit) = self.timeout else {
            // A panic in `f` drops `permit` while panicking: a failure, then the panic goes on.
            let result = f();
            let outcome = self.outcome(&result);
            permit.record(outcome);
            return (result.map_err(ExecuteError::Inner), Some(outcome));
        };
        let started = entry.clock.now_nanos();
        let result = f();
        if entry.clock.now_nanos().saturating_sub(started) > nanos(limit) {
            entry.hooks.timed_out();
            permit.record(Outcome::Failure);
            return (Err(ExecuteError::Timeout(limit)), Some(Outcome::Failure));
        }
        let outcome = self.outcome(&result);
        permit.record(outcome);
        (result.map_err(ExecuteError::Inner), Some(outcome))
    }

    fn retry_sync(
        &self,
        policy: &RetryPolicy<ExecuteError<E>>,
        mut f: impl FnMut() -> Result<T, E>,
    ) -> (Result<T, ExecuteError<E>>, Option<Outcome>, u32) {
        let mut attempts = 0u32;
        let mut last = None;
        let result = warden_retry::retry_with_stop(
            policy,
            |e| stop_reason(policy, e),
            || {
                let (result, outcome) = self.attempt(&mut f);
                attempts += u32::from(outcome.is_some());
                last = outcome;
                result
            },
        )
        .map_err(RetryError::into_last);
        (result, last, attempts)
    }

    /// The outermost strategy for a sync run (an async fallback is not run).
    fn fall_back_sync(
        &self,
        fallback: &Fallback<T, E>,
        ex: Execution<T, E>,
        now: u64,
    ) -> Execution<T, E> {
        match &fallback.kind {
            Kind::Sync(f) => ex.fall_back(|e| f(e)),
            Kind::LastGood(memory) => remember_or_recall(memory.as_ref(), ex, now),
            #[cfg(feature = "tokio")]
            Kind::Async(_) => ex,
        }
    }

    /// Awaits `f()` through the pipeline. `f` is called for each attempt;
    /// without retry only once the attempt is admitted, with retry before
    /// admission (the future is then polled only if admitted).
    ///
    /// Dropping the returned future (a cancelled request) drops the call and
    /// gives its bulkhead slot and any half-open probe slot back.
    /// [`elapsed`](Execution::elapsed) is read from tokio's clock.
    ///
    /// # Panics
    ///
    /// With a timeout or a retry wait, outside a tokio runtime with the time
    /// driver enabled.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use warden_kit::{BreakerConfig, Registry};
    /// let registry = Registry::builder()
    ///     .configure("api", BreakerConfig::default().with_call_timeout(Some(Duration::from_secs(1))))
    ///     .build()?;
    /// let api = registry.pipeline("api")?;
    /// let ex = api
    ///     .execute_async(|| async {
    ///         tokio::time::sleep(Duration::from_secs(5)).await; // too slow
    ///         Ok::<_, std::io::Error>("late")
    ///     })
    ///     .await;
    /// assert!(ex.timed_out());
    /// assert_eq!(registry.breaker("api")?.counts().total_failures, 1);
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub async fn execute_async<F, Fut>(&self, f: F) -> Execution<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let start = tokio::time::Instant::now();
        let (result, last, attempts) = match &self.retry {
            None => {
                let (result, last) = self.attempt_async(f).await;
                (result, last, u32::from(last.is_some()))
            }
            Some(policy) => self.retry_async(policy, f).await,
        };
        let ex = Execution::ran(
            result,
            last,
            Some(self.entry.breaker.state()),
            attempts,
            start.elapsed(),
        );
        let Some(fallback) = &self.fallback else {
            return ex;
        };
        match &fallback.kind {
            Kind::Async(f) => ex.fall_back_async(|e| f(e)).await,
            _ => self.fall_back_sync(fallback, ex, self.entry.clock.now_nanos()),
        }
    }

    /// One guarded async attempt; `f` is called once admitted.
    #[cfg(feature = "tokio")]
    async fn attempt_async<F, Fut>(&self, f: F) -> Attempt<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let entry = &*self.entry;
        // Both guards live in this future: dropping it (a cancelled call) gives the
        // bulkhead slot back and releases a half-open probe slot.
        let (_slot, permit) = match entry.admit() {
            Ok(guards) => guards,
            Err(e) => return (Err(e), None),
        };
        let Some(limit) = self.timeout else {
            let result = f().await;
            let outcome = self.outcome(&result);
            permit.record(outcome);
            return (result.map_err(ExecuteError::Inner), Some(outcome));
        };
        let started = tokio::time::Instant::now();
        match tokio::time::timeout(limit, f()).await {
            // A future that blocked its thread past the deadline finishes
            // before the timer is even looked at: late is a timeout.
            Ok(result) if started.elapsed() <= limit => {
                let outcome = self.outcome(&result);
                permit.record(outcome);
                (result.map_err(ExecuteError::Inner), Some(outcome))
            }
            _ => {
                entry.hooks.timed_out();
                permit.record(Outcome::Failure);
                (Err(ExecuteError::Timeout(limit)), Some(Outcome::Failure))
            }
        }
    }

    #[cfg(feature = "tokio")]
    async fn retry_async<F, Fut>(
        &self,
        policy: &RetryPolicy<ExecuteError<E>>,
        mut f: F,
    ) -> (Result<T, ExecuteError<E>>, Option<Outcome>, u32)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
        // Atomics rather than Cells so the returned future stays Send.
        let attempts = AtomicU32::new(0);
        let last = AtomicU8::new(NOT_RUN);
        let result = warden_retry::retry_async_with_stop(
            policy,
            |e| stop_reason(policy, e),
            || {
                // The attempt's future is created here but polled only if admitted.
                let call = f();
                let (attempts, last) = (&attempts, &last);
                async move {
                    let (result, outcome) = self.attempt_async(move || call).await;
                    // Relaxed: local counts, read after the run by this task.
                    attempts.fetch_add(u32::from(outcome.is_some()), Ordering::Relaxed);
                    last.store(encode(outcome), Ordering::Relaxed);
                    result
                }
            },
        )
        .await
        .map_err(RetryError::into_last);
        (result, decode(last.into_inner()), attempts.into_inner())
    }
}

/// `last` of an async retry run before any attempt ran.
#[cfg(feature = "tokio")]
const NOT_RUN: u8 = 0;

/// An attempt's outcome in one byte (`NOT_RUN` when it was refused).
#[cfg(feature = "tokio")]
fn encode(outcome: Option<Outcome>) -> u8 {
    match outcome {
        None => NOT_RUN,
        Some(Outcome::Success) => 1,
        Some(Outcome::Ignored) => 2,
        Some(_) => 3,
    }
}

#[cfg(feature = "tokio")]
fn decode(byte: u8) -> Option<Outcome> {
    match byte {
        NOT_RUN => None,
        1 => Some(Outcome::Success),
        2 => Some(Outcome::Ignored),
        _ => Some(Outcome::Failure),
    }
}

/// The last-good fallback: a success is remembered, an error replaced by a
/// fresh enough memory.
fn remember_or_recall<T, E>(
    memory: &dyn Memory<T>,
    mut ex: Execution<T, E>,
    now: u64,
) -> Execution<T, E> {
    match &ex.result {
        Ok(value) if ex.succeeded() => memory.remember(value, now),
        Ok(_) => {}
        Err(_) => {
            if let Some(value) = memory.recall(now) {
                ex.result = Ok(value);
                ex.fallback = true;
            }
        }
    }
    ex
}

// How a name's pipeline is reached from the registry; here, beside the type, so the
// registry need not know it.
impl NamedBreaker {
    /// The breaker's [`Pipeline`]: its breaker, its bulkhead and its call
    /// timeout, to which the `with_` methods add the rest. See
    /// [`Registry::pipeline`].
    ///
    /// ```
    /// let db = warden_kit::Registry::builder().build()?.breaker("db")?;
    /// let p = db.pipeline();
    /// assert!(p.execute(|| Ok::<_, ()>(1)).has_value());
    /// assert_eq!(db.counts().total_successes, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pipeline<T, E>(&self) -> Pipeline<T, E> {
        Pipeline::new(self)
    }
}

impl Registry {
    /// The pipeline of the breaker named `name`, created on first use: its
    /// breaker, its bulkhead and its call timeout; add retry, a fallback, a
    /// classifier or another timeout with the pipeline's `with_` methods.
    /// Build it once and keep it (the lookup happens here, not per call).
    /// See [`Pipeline`] for the order of the strategies.
    ///
    /// # Errors
    ///
    /// As [`breaker`](Self::breaker).
    ///
    /// ```
    /// use warden_kit::{Fallback, Registry};
    /// let registry = Registry::builder().build()?;
    /// let inventory = registry.pipeline("inventory")?.with_fallback(Fallback::value(0));
    /// let ex = inventory.execute(|| Err::<u32, _>("connection refused"));
    /// assert_eq!(ex.value(), Some(&0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pipeline<T, E>(&self, name: &str) -> Result<Pipeline<T, E>, RegistryError> {
        Ok(self.breaker(name)?.pipeline())
    }
}
