//! Circuit breaker + retry (+ fallback): every attempt goes through a
//! [`warden_breaker`] breaker.

use warden_breaker::{Breaker, BreakerPermit, Error as BreakerError, Outcome};

use crate::exec::{SyncTimer, sleep_sync};
use crate::run::{Next, Run, Verdict};
use crate::{RetryError, RetryPolicy, StopReason};

/// Retries `op` under `policy`, every attempt through `breaker` (the Go `resilience` package's
/// `WithCircuitBreakerAndRetry`).
///
/// * Each attempt asks the breaker first; the call's `Err` is a failure to the
///   breaker, `Ok` a success (the breaker's `call` semantics; a panic is a
///   failure and continues unwinding).
/// * With a [`RetryBudget`](crate::RetryBudget), only attempts the breaker
///   admitted count: the first admitted one deposits, and a retry's token is
///   given back if the breaker rejects it.
/// * A rejection (open, or half-open with every probe slot taken) ends the run
///   at once with [`StopReason::Rejected`](crate::StopReason::Rejected),
///   unless the policy [retries rejections](crate::RetryPolicyBuilder::retry_rejections):
///   retrying into an open breaker only adds load.
/// * The errors are [`warden_breaker::Error<E>`]: each says whether the breaker
///   rejected the attempt or the call failed, and
///   [`RetryError::rejection`](crate::RetryError::rejection) says it of the
///   last one. The policy's `retry_if` and `on_retry` see the call's own `E`.
///
/// # Errors
///
/// A [`RetryError`] of [`warden_breaker::Error`]s, one per kept attempt.
///
/// # Examples
///
/// ```
/// use warden_breaker::{CircuitBreaker, Rejected};
/// use warden_retry::{with_breaker_and_retry, ManualSleeper, RetryPolicy, StopReason};
///
/// let cb = CircuitBreaker::builder("kafka")
///     .ready_to_trip(|c| c.consecutive_failures >= 2)
///     .build()?;
/// let policy = RetryPolicy::kafka().to_builder().sleeper(ManualSleeper::new()).build()?;
///
/// let mut calls = 0;
/// let err = with_breaker_and_retry(&cb, &policy, || { calls += 1; Err::<(), _>("broker down") })
///     .unwrap_err();
/// assert_eq!(calls, 2); // the second failure opened the breaker
/// assert_eq!(err.reason(), StopReason::Rejected(Rejected::Open));
/// assert_eq!(err.to_string(),
///     "gave up after 3 attempts (rejected by the circuit breaker): \
///      #1: broker down; #2: broker down; #3: circuit breaker is open: call not made");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[inline]
pub fn with_breaker_and_retry<B, T, E, F>(
    breaker: &B,
    policy: &RetryPolicy<E>,
    mut op: F,
) -> Result<T, RetryError<BreakerError<E>>>
where
    B: Breaker,
    F: FnMut() -> Result<T, E>,
{
    let mut timer = SyncTimer::start(policy);
    let mut run = Run::new(policy);
    loop {
        run.begin_attempt();
        let result = match breaker.try_acquire() {
            Err(rejected) => {
                run.rejected();
                Err(BreakerError::from(rejected))
            }
            Ok(permit) => {
                run.ran();
                // If `op` panics, `permit` drops while panicking: a failure.
                let result = op();
                permit.record(outcome(&result));
                result.map_err(BreakerError::Inner)
            }
        };
        match result {
            Ok(value) => {
                run.succeeded();
                return Ok(value);
            }
            Err(error) => {
                let verdict = verdict(policy, &error);
                match run.failed(error, verdict, call_error, || timer.elapsed(policy)) {
                    Next::Retry(wait) => sleep_sync(policy, wait),
                    Next::Stop(e) => return Err(e),
                }
            }
        }
    }
}

/// [`with_breaker_and_retry`], then `fallback(error)` if it gives up (the
/// the Go `resilience` package's `WithCircuitBreakerAndRetryWithFallback`). The fallback sees whether
/// the breaker or the call ended the run.
///
/// ```
/// use warden_breaker::CircuitBreaker;
/// use warden_retry::{with_breaker_and_retry_with_fallback, RetryPolicy};
///
/// let cb = CircuitBreaker::builder("clickhouse").build()?;
/// let policy = RetryPolicy::builder().max_attempts(2).base_delay(std::time::Duration::ZERO).build()?;
/// let rows = with_breaker_and_retry_with_fallback(
///     &cb,
///     &policy,
///     || Err::<Vec<u32>, _>("too many simultaneous queries"),
///     |err| if err.is_rejection() { Ok(vec![]) } else { Err(err.into_last()) },
/// );
/// assert!(rows.unwrap_err().into_inner().is_some()); // the call failed; not a rejection
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn with_breaker_and_retry_with_fallback<B, T, E, E2, F, G>(
    breaker: &B,
    policy: &RetryPolicy<E>,
    op: F,
    fallback: G,
) -> Result<T, E2>
where
    B: Breaker,
    F: FnMut() -> Result<T, E>,
    G: FnOnce(RetryError<BreakerError<E>>) -> Result<T, E2>,
{
    with_breaker_and_retry(breaker, policy, op).or_else(fallback)
}

/// The async [`with_breaker_and_retry`]: each attempt takes a breaker permit,
/// awaits `op()` holding it, and records the outcome.
///
/// Dropping the returned future cancels the run at once; a permit held by the
/// attempt in flight is dropped with it, which gives a half-open probe slot
/// back (the breaker counts nothing for it).
///
/// # Errors
///
/// As [`with_breaker_and_retry`].
///
/// # Panics
///
/// When it has to wait outside a tokio runtime with the time driver enabled.
///
/// # Examples
///
/// ```
/// use warden_breaker::CircuitBreaker;
/// use warden_retry::{with_breaker_and_retry_async, RetryPolicy};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cb = CircuitBreaker::builder("notifications").build()?;
/// let policy = RetryPolicy::default();
/// let mut calls = 0;
/// let sent = with_breaker_and_retry_async(&cb, &policy, || {
///     calls += 1;
///     let n = calls;
///     async move { if n == 1 { Err("503") } else { Ok("sent") } }
/// })
/// .await?;
/// assert_eq!(sent, "sent");
/// // The breaker saw both attempts.
/// assert_eq!((cb.counts().total_failures, cb.counts().total_successes), (1, 1));
/// # Ok(())
/// # }
/// ```
#[cfg(feature = "tokio")]
pub async fn with_breaker_and_retry_async<B, T, E, F, Fut>(
    breaker: &B,
    policy: &RetryPolicy<E>,
    mut op: F,
) -> Result<T, RetryError<BreakerError<E>>>
where
    B: Breaker,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let timer = crate::exec::AsyncTimer::start(policy);
    let mut run = Run::new(policy);
    loop {
        run.begin_attempt();
        let result = match breaker.try_acquire() {
            Err(rejected) => {
                run.rejected();
                Err(BreakerError::from(rejected))
            }
            Ok(permit) => {
                run.ran();
                // If this future is dropped here, `permit` drops unreported:
                // the breaker releases its slot. If `op()` panics, `permit`
                // drops while panicking: a failure.
                let result = op().await;
                permit.record(outcome(&result));
                result.map_err(BreakerError::Inner)
            }
        };
        match result {
            Ok(value) => {
                run.succeeded();
                return Ok(value);
            }
            Err(error) => {
                let verdict = verdict(policy, &error);
                match run.failed(error, verdict, call_error, || timer.elapsed()) {
                    Next::Retry(wait) => crate::exec::sleep_async(wait).await,
                    Next::Stop(e) => return Err(e),
                }
            }
        }
    }
}

/// The async [`with_breaker_and_retry_with_fallback`].
///
/// ```
/// use warden_breaker::CircuitBreaker;
/// use warden_retry::{with_breaker_and_retry_with_fallback_async, RetryPolicy};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), warden_breaker::ConfigError> {
/// let cb = CircuitBreaker::builder("search").build()?;
/// let hits = with_breaker_and_retry_with_fallback_async(
///     &cb,
///     &RetryPolicy::default(),
///     || async { Err::<u32, _>("timeout") },
///     |_err| async { Ok::<_, ()>(0) },
/// )
/// .await;
/// assert_eq!(hits, Ok(0));
/// # Ok(())
/// # }
/// ```
#[cfg(feature = "tokio")]
pub async fn with_breaker_and_retry_with_fallback_async<B, T, E, E2, F, Fut, G, GFut>(
    breaker: &B,
    policy: &RetryPolicy<E>,
    op: F,
    fallback: G,
) -> Result<T, E2>
where
    B: Breaker,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    G: FnOnce(RetryError<BreakerError<E>>) -> GFut,
    GFut: Future<Output = Result<T, E2>>,
{
    match with_breaker_and_retry_async(breaker, policy, op).await {
        Ok(value) => Ok(value),
        Err(error) => fallback(error).await,
    }
}

fn outcome<T, E>(result: &Result<T, E>) -> Outcome {
    if result.is_ok() {
        Outcome::Success
    } else {
        Outcome::Failure
    }
}

fn verdict<E>(policy: &RetryPolicy<E>, error: &BreakerError<E>) -> Verdict {
    match error {
        BreakerError::Inner(e) => crate::exec::verdict(policy, e),
        rejected => match rejected.rejection() {
            Some(r) if !policy.retries_rejections() => Verdict::Stop(StopReason::Rejected(r)),
            _ => Verdict::Retryable,
        },
    }
}

fn call_error<E>(error: &BreakerError<E>) -> Option<&E> {
    match error {
        BreakerError::Inner(e) => Some(e),
        _ => None,
    }
}
