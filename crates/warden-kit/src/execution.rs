//! What an `execute` returns: [`Execution`] and [`ExecuteError`]. A
//! breaker's refusal is the core's one rejection type,
//! [`Rejected`](warden_breaker::Rejected), re-exported as
//! `warden_kit::Rejected`; a full bulkhead is [`ExecuteError::BulkheadFull`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use warden_breaker::Rejected;

use crate::{ConfigError, NameError, State};

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
    /// The call did not finish within this time (async calls); it was dropped
    /// and counted as a failure.
    Timeout(Duration),
    /// The call failed or was refused, then the fallback failed with this
    /// error.
    Fallback(E),
    /// The registry has been shut down.
    Shutdown,
    /// The name's configuration could not build a breaker. Configurations
    /// accepted by `configure` and `RegistryBuilder::build` never do this.
    Config(ConfigError),
    /// The registry refused the name (too long, not configured in a strict
    /// registry, or the registry is full).
    Name(NameError),
}

impl<E> ExecuteError<E> {
    /// Whether a retry may help: the call ran and failed, or timed out. Use it
    /// as a retry policy's `retry_if` (rejections, shutdown and configuration
    /// errors end a run at once).
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
            ExecuteError::Config(e) => e.fmt(f),
            ExecuteError::Name(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error> std::error::Error for ExecuteError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ExecuteError::Inner(e) | ExecuteError::Fallback(e) => e.source(),
            ExecuteError::Config(e) => e.source(),
            _ => None,
        }
    }
}

/// Why an execution never reached a breaker.
#[derive(Debug)]
pub(crate) enum NotRun {
    Shutdown,
    Config(ConfigError),
    Name(NameError),
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
            Err(ExecuteError::Shutdown | ExecuteError::Config(_) | ExecuteError::Name(_)) => {
                Primary::NotRun
            }
        }
    }
}

/// The result of an `execute`: the value or the error, and what happened on
/// the way (the Go `resilience` package's "richer results").
///
/// ```
/// let registry = warden_kit::Registry::builder().build()?;
/// let ex = registry.execute("db", || Ok::<_, std::io::Error>(42));
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
    pub(crate) fn new(
        result: Result<T, ExecuteError<E>>,
        state: Option<State>,
        attempts: u32,
        elapsed: Duration,
    ) -> Self {
        Self {
            primary: Primary::of(&result),
            result,
            fallback: false,
            state,
            attempts,
            elapsed,
        }
    }

    /// An execution that never reached a breaker.
    pub(crate) fn not_run(why: NotRun) -> Self {
        let error = match why {
            NotRun::Shutdown => ExecuteError::Shutdown,
            NotRun::Config(e) => ExecuteError::Config(e),
            NotRun::Name(e) => ExecuteError::Name(e),
        };
        Self::new(Err(error), None, 0, Duration::ZERO)
    }

    /// The final result: the call's, or the fallback's if one ran.
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().build()?;
    /// assert!(r.execute("db", || Err::<(), _>("down")).result().is_err());
    /// # Ok::<(), warden_kit::ConfigError>(())
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
    /// assert_eq!(r.execute("db", || Ok::<_, ()>(1)).into_result().ok(), Some(1));
    /// # Ok::<(), warden_kit::ConfigError>(())
    /// ```
    pub fn into_result(self) -> Result<T, ExecuteError<E>> {
        self.result
    }

    /// The value, if there is one.
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().build()?;
    /// assert_eq!(r.execute("db", || Ok::<_, ()>(1)).value(), Some(&1));
    /// # Ok::<(), warden_kit::ConfigError>(())
    /// ```
    pub fn value(&self) -> Option<&T> {
        self.result.as_ref().ok()
    }

    /// The error, if there is one.
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().build()?;
    /// assert!(matches!(r.execute("db", || Err::<(), _>(5)).error(), Some(warden_kit::ExecuteError::Inner(5))));
    /// # Ok::<(), warden_kit::ConfigError>(())
    /// ```
    pub fn error(&self) -> Option<&ExecuteError<E>> {
        self.result.as_ref().err()
    }

    /// Whether the final result is a value: the call's, or its fallback's
    /// (see [`succeeded`](Self::succeeded) for "the call itself succeeded").
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().build()?;
    /// assert!(r.execute("db", || Ok::<_, ()>(())).has_value());
    /// let ex = r.execute("db", || Err::<(), _>("down")).or_fallback(|_| Ok(()));
    /// assert!(ex.has_value() && !ex.succeeded() && ex.used_fallback());
    /// # Ok::<(), warden_kit::ConfigError>(())
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
    /// let _ = r.execute("db", || Err::<(), _>("down")); // trips
    /// assert!(r.execute("db", || Ok::<_, &str>(())).is_rejected());
    /// # Ok::<(), warden_kit::ConfigError>(())
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
    /// assert_eq!(r.execute("db", || Ok::<_, ()>(())).rejection(), None);
    /// # Ok::<(), warden_kit::ConfigError>(())
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
    /// assert!(!r.execute("db", || Ok::<_, ()>(())).timed_out());
    /// # Ok::<(), warden_kit::ConfigError>(())
    /// ```
    pub fn timed_out(&self) -> bool {
        self.primary == Primary::TimedOut
    }

    /// Whether the call ran and succeeded (before any fallback).
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().build()?;
    /// let ex = r.execute("db", || Err::<(), _>(())).or_fallback(|_| Ok(()));
    /// assert!(ex.has_value() && !ex.succeeded() && ex.used_fallback());
    /// # Ok::<(), warden_kit::ConfigError>(())
    /// ```
    pub fn succeeded(&self) -> bool {
        self.primary == Primary::Succeeded
    }

    /// Whether a fallback ran (the final result is then the fallback's).
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().build()?;
    /// assert!(!r.execute("db", || Ok::<_, ()>(())).used_fallback());
    /// # Ok::<(), warden_kit::ConfigError>(())
    /// ```
    pub fn used_fallback(&self) -> bool {
        self.fallback
    }

    /// The breaker's state after the call; `None` when no breaker was reached
    /// (the registry was shut down before the name's first use).
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().build()?;
    /// assert_eq!(r.execute("db", || Ok::<_, ()>(())).state(), Some(warden_kit::State::Closed));
    /// r.shutdown();
    /// assert_eq!(r.execute("new", || Ok::<_, ()>(())).state(), None);
    /// # Ok::<(), warden_kit::ConfigError>(())
    /// ```
    pub fn state(&self) -> Option<State> {
        self.state
    }

    /// How many times the operation was run: 0 when it was refused, 1 for a
    /// plain call, up to the policy's attempts with retry.
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().build()?;
    /// assert_eq!(r.execute("db", || Ok::<_, ()>(())).attempts(), 1);
    /// # Ok::<(), warden_kit::ConfigError>(())
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
    /// assert!(r.execute("db", || Ok::<_, ()>(())).elapsed() < std::time::Duration::from_secs(60));
    /// # Ok::<(), warden_kit::ConfigError>(())
    /// ```
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// Replaces an error with `fallback(error)` (the Go `resilience` package's
    /// `ExecuteWithFallback`): any error, rejection or timeout; the fallback
    /// sees which. A failing fallback gives [`ExecuteError::Fallback`].
    ///
    /// ```
    /// use warden_kit::ExecuteError;
    /// let r = warden_kit::Registry::builder().build()?;
    /// let ex = r
    ///     .execute("prices", || Err::<u32, _>("timeout"))
    ///     .or_fallback(|err| match err {
    ///         ExecuteError::Inner(_) | ExecuteError::Rejected { .. } => Ok(100), // cached price
    ///         _ => Err("no price"),
    ///     });
    /// assert_eq!(ex.value(), Some(&100));
    /// # Ok::<(), warden_kit::ConfigError>(())
    /// ```
    pub fn or_fallback<F>(mut self, fallback: F) -> Self
    where
        F: FnOnce(ExecuteError<E>) -> Result<T, E>,
    {
        if let Err(error) = self.result {
            self.result = fallback(error).map_err(ExecuteError::Fallback);
            self.fallback = true;
        }
        self
    }

    /// The async [`or_fallback`](Self::or_fallback).
    ///
    #[cfg_attr(feature = "tokio", doc = "```")]
    #[cfg_attr(not(feature = "tokio"), doc = "```ignore")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), warden_kit::ConfigError> {
    /// let r = warden_kit::Registry::builder().build()?;
    /// let ex = r
    ///     .execute_async("feed", || async { Err::<Vec<u32>, _>("down") })
    ///     .await
    ///     .or_fallback_async(|_err| async { Ok(vec![]) })
    ///     .await;
    /// assert_eq!(ex.value(), Some(&vec![]));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn or_fallback_async<F, Fut>(mut self, fallback: F) -> Self
    where
        F: FnOnce(ExecuteError<E>) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if let Err(error) = self.result {
            self.result = fallback(error).await.map_err(ExecuteError::Fallback);
            self.fallback = true;
        }
        self
    }
}
