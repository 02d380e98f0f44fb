//! What an `execute` returns: [`Execution`] and [`ExecuteError`]. A
//! breaker's refusal is the core's one rejection type,
//! [`Rejected`](warden_breaker::Rejected), re-exported as
//! `warden_kit::Rejected`; a full bulkhead is [`ExecuteError::BulkheadFull`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use warden_breaker::{Outcome, Rejected};

use crate::State;

/// Why an execution produced no value.
///
/// `Inner` and `Fallback` display the error as is and forward its `source()`.
///
/// ```
/// use warden_kit::{ExecuteError, Rejected};
/// let e: ExecuteError<std::io::Error> =
///     ExecuteError::Rejected { breaker: "kafka".into(), rejected: Rejected::Open };
/// assert_eq!(e.to_string(), "breaker \"kafka\": circuit breaker is open: call not made");
/// assert!(!e.is_retryable());
/// let full: ExecuteError<std::io::Error> =
///     ExecuteError::BulkheadFull { breaker: "kafka".into(), max_concurrent: 8 };
/// assert_eq!(full.to_string(), "breaker \"kafka\": bulkhead full (8 calls in flight): call not made");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ExecuteError<E> {
    /// The breaker refused the call; it was not run.
    Rejected {
        /// The breaker's name (the message quotes at most 64 bytes of it).
        breaker: Arc<str>,
        /// Why: the state that refused the call.
        rejected: Rejected,
    },
    /// The name's bulkhead already had `max_concurrent` calls in flight; the
    /// call was not run.
    BulkheadFull {
        /// The breaker's name (the message quotes at most 64 bytes of it).
        breaker: Arc<str>,
        /// The bulkhead's limit.
        max_concurrent: u32,
    },
    /// The call ran and returned this error.
    Inner(E),
    /// The call did not finish within this time; it was dropped (async) or
    /// its result discarded (sync), and counted as a failure.
    Timeout(Duration),
    /// The call failed or was refused, then the fallback failed with this
    /// error.
    Fallback(E),
    /// The registry has been shut down.
    Shutdown,
}

impl<E> ExecuteError<E> {
    /// Whether a retry may help: the call ran and failed, or timed out. Use it
    /// as a retry policy's `retry_if` (rejections and shutdown end a run at
    /// once).
    ///
    /// ```
    /// use warden_kit::{ExecuteError, RetryPolicy};
    /// let policy = RetryPolicy::<ExecuteError<std::io::Error>>::builder()
    ///     .retry_if(ExecuteError::is_retryable)
    ///     .build()?;
    /// assert!(policy.is_retryable(&ExecuteError::Timeout(std::time::Duration::from_secs(1))));
    /// assert!(!policy.is_retryable(&ExecuteError::Shutdown));
    /// # Ok::<(), warden_kit::retry::ConfigError>(())
    /// ```
    pub fn is_retryable(&self) -> bool {
        matches!(self, ExecuteError::Inner(_) | ExecuteError::Timeout(_))
    }

    /// The breaker's rejection, if the breaker refused the call.
    ///
    /// ```
    /// use warden_kit::{ExecuteError, Rejected};
    /// let e = ExecuteError::<()>::Rejected { breaker: "db".into(), rejected: Rejected::Open };
    /// assert_eq!(e.rejection(), Some(Rejected::Open));
    /// ```
    pub fn rejection(&self) -> Option<Rejected> {
        match self {
            ExecuteError::Rejected { rejected, .. } => Some(*rejected),
            _ => None,
        }
    }

    /// The call's (or the fallback's) own error, if there is one.
    ///
    /// ```
    /// assert_eq!(warden_kit::ExecuteError::Inner(7).into_inner(), Some(7));
    /// ```
    pub fn into_inner(self) -> Option<E> {
        match self {
            ExecuteError::Inner(e) | ExecuteError::Fallback(e) => Some(e),
            _ => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for ExecuteError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecuteError::Rejected { breaker, rejected } => {
                write!(
                    f,
                    "breaker {:?}: {rejected}",
                    crate::quote::bounded(breaker)
                )
            }
            ExecuteError::BulkheadFull {
                breaker,
                max_concurrent,
            } => write!(
                f,
                "breaker {:?}: bulkhead full ({max_concurrent} calls in flight): call not made",
                crate::quote::bounded(breaker)
            ),
            ExecuteError::Inner(e) | ExecuteError::Fallback(e) => e.fmt(f),
            ExecuteError::Timeout(d) => write!(f, "call timed out after {d:?}"),
            ExecuteError::Shutdown => f.write_str("registry is shut down"),
        }
    }
}

impl<E: std::error::Error> std::error::Error for ExecuteError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ExecuteError::Inner(e) | ExecuteError::Fallback(e) => e.source(),
            _ => None,
        }
    }
}

/// What happened to the call itself, before any fallback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Primary {
    Succeeded,
    Failed,
    TimedOut,
    /// Refused: by the breaker (`Some`) or by a full bulkhead (`None`).
    Rejected(Option<Rejected>),
    NotRun,
}

impl Primary {
    pub(crate) fn of<T, E>(result: &Result<T, ExecuteError<E>>) -> Self {
        match result {
            Ok(_) => Primary::Succeeded,
            Err(ExecuteError::Inner(_) | ExecuteError::Fallback(_)) => Primary::Failed,
            Err(ExecuteError::Timeout(_)) => Primary::TimedOut,
            Err(ExecuteError::Rejected { rejected, .. }) => Primary::Rejected(Some(*rejected)),
            Err(ExecuteError::BulkheadFull { .. }) => Primary::Rejected(None),
            Err(ExecuteError::Shutdown) => Primary::NotRun,
        }
    }
}

/// The result of a [`Pipeline`](crate::Pipeline) run: the value or the error, and what happened on
/// the way (the Go `resilience` package's "richer results").
///
/// ```
/// let registry = warden_kit::Registry::builder().build()?;
/// let ex = registry.pipeline("db")?.execute(|| Ok::<_, std::io::Error>(42));
/// assert_eq!(ex.value(), Some(&42));
/// assert!(!ex.is_rejected() && !ex.used_fallback());
/// assert_eq!((ex.attempts(), ex.state()), (1, Some(warden_kit::State::Closed)));
/// let n: u32 = ex.into_result()?;
/// # let _ = n;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "an execution carries the call's result"]
pub struct Execution<T, E> {
    pub(crate) result: Result<T, ExecuteError<E>>,
    pub(crate) primary: Primary,
    pub(crate) fallback: bool,
    pub(crate) state: Option<State>,
    pub(crate) attempts: u32,
    pub(crate) elapsed: Duration,
}

impl<T: fmt::Debug, E: fmt::Debug> fmt::Debug for Execution<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Execution")
            .field("result", &self.result)
            .field("fallback", &self.fallback)
            .field("state", &self.state)
            .field("attempts", &self.attempts)
            .field("elapsed", &self.elapsed)
            .finish()
    }
}

impl<T, E> Execution<T, E> {
    /// A pipeline's run: `last` is the outcome the breaker recorded for the
    /// last attempt (`None`: refused or never admitted), which makes an `Ok`
    /// the classifier counted as a failure a failed call.
    #[inline]
    pub(crate) fn ran(
        result: Result<T, ExecuteError<E>>,
        last: Option<Outcome>,
        state: Option<State>,
        attempts: u32,
        elapsed: Duration,
    ) -> Self {
        let primary = match (&result, last) {
            (Ok(_), Some(Outcome::Failure)) => Primary::Failed,
            _ => Primary::of(&result),
        };
        Self {
            primary,
            result,
            fallback: false,
            state,
            attempts,
            elapsed,
        }
    }

    /// Replaces an error with what `fallback` makes of it.
    #[inline]
    pub(crate) fn fall_back(
        mut self,
        fallback: impl FnOnce(ExecuteError<E>) -> Result<T, ExecuteError<E>>,
    ) -> Self {
        if let Err(error) = self.result {
            self.result = fallback(error);
            self.fallback = true;
        }
        self
    }

    /// The async [`fall_back`](Self::fall_back).
    #[cfg(feature = "tokio")]
    pub(crate) async fn fall_back_async<Fut>(
        mut self,
        fallback: impl FnOnce(ExecuteError<E>) -> Fut,
    ) -> Self
    where
        Fut: Future<Output = Result<T, ExecuteError<E>>>,
    {
        if let Err(error) = self.result {
            self.result = fallback(error).await;
            self.fallback = true;
        }
        self
    }

    /// The final result: the call's, or the fallback's if one ran.
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().build()?;
    /// assert!(r.pipeline("db")?.execute(|| Err::<(), _>("down")).result().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn result(&self) -> &Result<T, ExecuteError<E>> {
        &self.result
    }

    /// The final result, by value.
    ///
    /// # Errors
    ///
    /// The execution's error.
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().build()?;
    /// assert_eq!(r.pipeline("db")?.execute(|| Ok::<_, ()>(1)).into_result().ok(), Some(1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_result(self) -> Result<T, ExecuteError<E>> {
        self.result
    }

    /// The value, if there is one.
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().build()?;
    /// assert_eq!(r.pipeline("db")?.execute(|| Ok::<_, ()>(1)).value(), Some(&1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn value(&self) -> Option<&T> {
        self.result.as_ref().ok()
    }

    /// The error, if there is one.
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().build()?;
    /// assert!(matches!(r.pipeline("db")?.execute(|| Err::<(), _>(5)).error(), Some(warden_kit::ExecuteError::Inner(5))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn error(&self) -> Option<&ExecuteError<E>> {
        self.result.as_ref().err()
    }

    /// Whether the final result is a value: the call's, or its fallback's
    /// (see [`succeeded`](Self::succeeded) for "the call itself succeeded").
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().build()?;
    /// assert!(r.pipeline("db")?.execute(|| Ok::<_, ()>(())).has_value());
    /// let p = r.pipeline("db")?.with_fallback(warden_kit::Fallback::value(()));
    /// let ex = p.execute(|| Err("down"));
    /// assert!(ex.has_value() && !ex.succeeded() && ex.used_fallback());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn has_value(&self) -> bool {
        self.result.is_ok()
    }

    /// Whether the breaker or the bulkhead refused the call (it did not run),
    /// whatever a fallback made of it.
    ///
    /// ```
    /// let r = warden_kit::Registry::builder()
    ///     .configure("db", warden_kit::BreakerConfig::default().with_trip(warden_kit::TripRule::ConsecutiveFailures(1)))
    ///     .build()?;
    /// let _ = r.pipeline("db")?.execute(|| Err::<(), _>("down")); // trips
    /// assert!(r.pipeline("db")?.execute(|| Ok::<_, &str>(())).is_rejected());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_rejected(&self) -> bool {
        matches!(self.primary, Primary::Rejected(_))
    }

    /// The breaker's rejection, if the breaker refused the call (`None` also
    /// when a full bulkhead refused it: see [`is_rejected`](Self::is_rejected)
    /// and [`error`](Self::error)).
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().build()?;
    /// assert_eq!(r.pipeline("db")?.execute(|| Ok::<_, ()>(())).rejection(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rejection(&self) -> Option<Rejected> {
        match self.primary {
            Primary::Rejected(r) => r,
            _ => None,
        }
    }

    /// Whether the call (its last attempt) timed out.
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().build()?;
    /// assert!(!r.pipeline("db")?.execute(|| Ok::<_, ()>(())).timed_out());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn timed_out(&self) -> bool {
        self.primary == Primary::TimedOut
    }

    /// Whether the call ran and succeeded (before any fallback).
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().build()?;
    /// let p = r.pipeline("db")?.with_fallback(warden_kit::Fallback::value(()));
    /// let ex = p.execute(|| Err(()));
    /// assert!(ex.has_value() && !ex.succeeded() && ex.used_fallback());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn succeeded(&self) -> bool {
        self.primary == Primary::Succeeded
    }

    /// Whether a fallback ran (the final result is then the fallback's).
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().build()?;
    /// assert!(!r.pipeline("db")?.execute(|| Ok::<_, ()>(())).used_fallback());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn used_fallback(&self) -> bool {
        self.fallback
    }

    /// The breaker's state after the call.
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().build()?;
    /// assert_eq!(r.pipeline("db")?.execute(|| Ok::<_, ()>(())).state(), Some(warden_kit::State::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn state(&self) -> Option<State> {
        self.state
    }

    /// How many times the operation was run: 0 when it was refused, 1 for a
    /// plain call, up to the policy's attempts with retry.
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().build()?;
    /// assert_eq!(r.pipeline("db")?.execute(|| Ok::<_, ()>(())).attempts(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Time from admission to the end of the last attempt (retry waits
    /// included, the fallback not), read from the registry's clock for sync
    /// calls and tokio's clock for async ones.
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().build()?;
    /// assert!(r.pipeline("db")?.execute(|| Ok::<_, ()>(())).elapsed() < std::time::Duration::from_secs(60));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }
}
