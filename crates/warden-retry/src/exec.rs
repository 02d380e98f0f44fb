//! Running a policy: [`retry`] and [`retry_async`], and the fallbacks
//! [`with_fallback`] and [`with_fallback_async`].

use std::time::{Duration, Instant};

use crate::run::{Next, Run, Verdict};
use crate::{RetryError, RetryPolicy, StopReason};

/// Calls `op` until it succeeds or `policy` gives up, waiting between
/// attempts on the policy's [`Sleeper`](crate::Sleeper) (the calling thread
/// blocks).
///
/// # Errors
///
/// A [`RetryError`] with the attempts' errors (all, or the last, per the
/// policy's [`Retention`](crate::Retention)) and the [`StopReason`].
///
/// # Examples
///
/// ```
/// use warden_retry::{retry, ManualSleeper, RetryPolicy};
///
/// let sleeper = ManualSleeper::new();
/// let policy = RetryPolicy::builder().sleeper(sleeper.clone()).rng_seed(1).build()?;
/// let mut calls = 0;
/// let value = retry(&policy, || {
///     calls += 1;
///     if calls < 3 { Err("connection reset") } else { Ok(calls) }
/// })?;
/// assert_eq!(value, 3);
/// assert_eq!(sleeper.sleeps().len(), 2); // two waits, none after the success
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[inline]
pub fn retry<T, E, F>(policy: &RetryPolicy<E>, op: F) -> Result<T, RetryError<E>>
where
    F: FnMut() -> Result<T, E>,
{
    retry_with_stop(policy, |_| None, op)
}

/// [`retry`] with a verdict of the caller's that comes before the policy's
/// `retry_if`: when `stop(&error)` returns a [`StopReason`], the run ends at
/// once with it. For wrappers whose error type can say "this attempt never
/// ran" (a breaker or bulkhead rejection, a shut-down registry), so that a
/// policy without a matching `retry_if` still does not retry into them.
///
/// # Errors
///
/// As [`retry`].
///
/// # Examples
///
/// ```
/// use warden_retry::{retry_with_stop, RetryPolicy, StopReason};
/// let policy = RetryPolicy::builder().base_delay(std::time::Duration::ZERO).build()?;
/// let mut calls = 0;
/// let err = retry_with_stop(
///     &policy,
///     |e: &&str| (*e == "shut down").then_some(StopReason::NotRetryable),
///     || {
///         calls += 1;
///         Err::<(), _>("shut down")
///     },
/// )
/// .unwrap_err();
/// assert_eq!((calls, err.reason()), (1, StopReason::NotRetryable));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[inline]
pub fn retry_with_stop<T, E, F, S>(
    policy: &RetryPolicy<E>,
    stop: S,
    mut op: F,
) -> Result<T, RetryError<E>>
where
    F: FnMut() -> Result<T, E>,
    S: Fn(&E) -> Option<StopReason>,
{
    let mut timer = SyncTimer::start(policy);
    let mut run = Run::new(policy);
    loop {
        run.begin_attempt();
        run.ran();
        match op() {
            Ok(value) => {
                run.succeeded();
                return Ok(value);
            }
            Err(error) => {
                let verdict = match stop(&error) {
                    Some(reason) => Verdict::Stop(reason),
                    None => verdict(policy, &error),
                };
                match run.failed(error, verdict, |e| Some(e), || timer.elapsed(policy)) {
                    Next::Retry(wait) => sleep_sync(policy, wait),
                    Next::Stop(e) => return Err(e),
                }
            }
        }
    }
}

/// Awaits `op()` until it succeeds or `policy` gives up, waiting between
/// attempts on tokio's timer (so `tokio::time::pause` drives it in tests).
///
/// Dropping the returned future cancels the run at once: the attempt in
/// flight is dropped, and a pending wait with it (no timer outlives it; a
/// budget token withdrawn for the retry that was waiting is given back).
/// The run returns to the runtime between attempts, even when the wait is
/// zero (it yields once instead of sleeping), so a surrounding
/// `tokio::time::timeout` or `select!` fires on time.
///
/// # Errors
///
/// As [`retry`].
///
/// # Panics
///
/// When it has to wait outside a tokio runtime with the time driver enabled
/// (as `tokio::time::sleep` does). Runs that do not wait need no runtime.
///
/// # Examples
///
/// ```
/// use warden_retry::{retry_async, RetryPolicy};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let policy = RetryPolicy::kafka();
/// let mut calls = 0;
/// let value = retry_async(&policy, || {
///     calls += 1;
///     let n = calls;
///     async move { if n < 2 { Err("leader not available") } else { Ok(n) } }
/// })
/// .await?;
/// assert_eq!(value, 2);
/// # Ok(())
/// # }
/// ```
#[cfg(feature = "tokio")]
pub async fn retry_async<T, E, F, Fut>(policy: &RetryPolicy<E>, op: F) -> Result<T, RetryError<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    retry_async_with_stop(policy, |_| None, op).await
}

/// [`retry_async`] with the caller's verdict first, as [`retry_with_stop`].
///
/// # Errors
///
/// As [`retry`].
///
/// ```
/// use warden_retry::{retry_async_with_stop, RetryPolicy, StopReason};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let policy = RetryPolicy::default();
/// let err = retry_async_with_stop(
///     &policy,
///     |_: &&str| Some(StopReason::NotRetryable),
///     || async { Err::<(), _>("rejected") },
/// )
/// .await
/// .unwrap_err();
/// assert_eq!(err.attempts(), 1);
/// # Ok(())
/// # }
/// ```
#[cfg(feature = "tokio")]
pub async fn retry_async_with_stop<T, E, F, Fut, S>(
    policy: &RetryPolicy<E>,
    stop: S,
    mut op: F,
) -> Result<T, RetryError<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    S: Fn(&E) -> Option<StopReason>,
{
    let start = AsyncTimer::start(policy);
    let mut run = Run::new(policy);
    loop {
        run.begin_attempt();
        run.ran();
        match op().await {
            Ok(value) => {
                run.succeeded();
                return Ok(value);
            }
            Err(error) => {
                let verdict = match stop(&error) {
                    Some(reason) => Verdict::Stop(reason),
                    None => verdict(policy, &error),
                };
                match run.failed(error, verdict, |e| Some(e), || start.elapsed()) {
                    Next::Retry(wait) => sleep_async(wait).await,
                    Next::Stop(e) => return Err(e),
                }
            }
        }
    }
}

/// Runs `op`; if it fails, returns `fallback(error)` instead (the Go `resilience` package's
/// `ExecuteWithFallback`). The fallback may itself fail, with its own error
/// type.
///
/// ```
/// use warden_retry::{retry, with_fallback, RetryPolicy};
/// let policy = RetryPolicy::builder().max_attempts(2).base_delay(std::time::Duration::ZERO).build()?;
/// let price = with_fallback(
///     || retry(&policy, || Err::<u32, _>("pricing service down")),
///     |err| {
///         eprintln!("serving the cached price: {err}");
///         Ok::<_, std::convert::Infallible>(100)
///     },
/// );
/// assert_eq!(price, Ok(100));
/// # Ok::<(), warden_retry::ConfigError>(())
/// ```
pub fn with_fallback<T, E, E2, F, G>(op: F, fallback: G) -> Result<T, E2>
where
    F: FnOnce() -> Result<T, E>,
    G: FnOnce(E) -> Result<T, E2>,
{
    op().or_else(fallback)
}

/// Awaits `op`; if it fails, awaits `fallback(error)` instead.
///
/// ```
/// use warden_retry::{retry_async, with_fallback_async, RetryPolicy};
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let policy = RetryPolicy::default();
/// let greeting = with_fallback_async(
///     retry_async(&policy, || async { Err::<String, _>("timeout") }),
///     |err| async move { Ok::<_, ()>(format!("offline ({} attempts)", err.attempts())) },
/// )
/// .await;
/// assert_eq!(greeting.as_deref(), Ok("offline (3 attempts)"));
/// # }
/// ```
#[cfg(feature = "tokio")]
pub async fn with_fallback_async<T, E, E2, Fut, G, GFut>(op: Fut, fallback: G) -> Result<T, E2>
where
    Fut: Future<Output = Result<T, E>>,
    G: FnOnce(E) -> GFut,
    GFut: Future<Output = Result<T, E2>>,
{
    match op.await {
        Ok(value) => Ok(value),
        Err(error) => fallback(error).await,
    }
}

/// The retry verdict for a call's own error.
#[inline]
pub(crate) fn verdict<E>(policy: &RetryPolicy<E>, error: &E) -> Verdict {
    if policy.is_retryable(error) {
        Verdict::Retryable
    } else {
        Verdict::Stop(StopReason::NotRetryable)
    }
}

/// When a synchronous run started, read only if the policy has a time limit.
///
/// With a custom [`Clock`](warden_breaker::Clock), only forward movement
/// counts: a clock stepping back is taken as no time passing (it is not
/// subtracted from the time already elapsed), so it never extends a deadline.
pub(crate) enum SyncTimer {
    Unused,
    Std(Instant),
    Clock {
        /// The latest reading.
        last: u64,
        /// Forward movement summed since the start, in nanoseconds.
        elapsed: u64,
    },
}

impl SyncTimer {
    #[inline]
    pub(crate) fn start<E>(policy: &RetryPolicy<E>) -> Self {
        if policy.max_elapsed().is_none() {
            SyncTimer::Unused
        } else if let Some(clock) = policy.clock() {
            SyncTimer::Clock {
                last: clock.now_nanos(),
                elapsed: 0,
            }
        } else {
            SyncTimer::Std(Instant::now())
        }
    }

    pub(crate) fn elapsed<E>(&mut self, policy: &RetryPolicy<E>) -> Duration {
        match (self, policy.clock()) {
            (SyncTimer::Std(start), _) => start.elapsed(),
            (SyncTimer::Clock { last, elapsed }, Some(clock)) => {
                let now = clock.now_nanos();
                *elapsed = elapsed.saturating_add(now.saturating_sub(*last));
                *last = now;
                Duration::from_nanos(*elapsed)
            }
            _ => Duration::ZERO,
        }
    }
}

pub(crate) fn sleep_sync<E>(policy: &RetryPolicy<E>, wait: Duration) {
    if wait.is_zero() {
        return;
    }
    match policy.sleeper() {
        Some(sleeper) => sleeper.sleep(wait),
        None => std::thread::sleep(wait),
    }
}

/// When an async run started (tokio's clock), read only if the policy has a
/// time limit.
#[cfg(feature = "tokio")]
pub(crate) struct AsyncTimer(Option<tokio::time::Instant>);

#[cfg(feature = "tokio")]
impl AsyncTimer {
    #[inline]
    pub(crate) fn start<E>(policy: &RetryPolicy<E>) -> Self {
        Self(policy.max_elapsed().map(|_| tokio::time::Instant::now()))
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.0.map_or(Duration::ZERO, |start| start.elapsed())
    }
}

/// Waits `wait` on tokio's timer; a zero wait yields to the runtime once
/// instead (without touching the timer), so a loop of instant failures still
/// lets a surrounding timeout, `select!` or other task run.
#[cfg(feature = "tokio")]
pub(crate) async fn sleep_async(wait: Duration) {
    if wait.is_zero() {
        YieldNow(false).await;
    } else {
        tokio::time::sleep(wait).await;
    }
}

/// Pending once (waking itself at once), then ready.
#[cfg(feature = "tokio")]
struct YieldNow(bool);

#[cfg(feature = "tokio")]
impl Future for YieldNow {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}
