//! Errors: rejections, the wrapper returned by [`CircuitBreaker::call`], and
//! configuration errors.
//!
//! [`CircuitBreaker::call`]: crate::CircuitBreaker::call

use std::fmt;

/// Why the breaker refused to admit a call.
///
/// ```
/// use warden_breaker::Rejected;
/// assert_eq!(Rejected::Open.to_string(), "circuit breaker is open");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rejected {
    /// The breaker is open.
    Open,
    /// The breaker is half-open and all its probe slots are taken.
    TooManyRequests,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rejected::Open => "circuit breaker is open",
            Rejected::TooManyRequests => "too many requests",
        })
    }
}

impl std::error::Error for Rejected {}

/// The error of a guarded call: a rejection, or the call's own error.
///
/// `Inner` displays the inner error as is and forwards its `source()`, so an
/// error chain prints each message once.
///
/// ```
/// use warden_breaker::Error;
/// let e: Error<std::io::Error> = Error::TooManyRequests;
/// assert_eq!(e.to_string(), "too many requests");
/// assert!(Error::<&str>::Inner("boom").into_inner().is_some());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error<E> {
    /// Rejected: the breaker is open.
    Open,
    /// Rejected: half-open and every probe slot is taken.
    TooManyRequests,
    /// The call ran and returned this error.
    Inner(E),
}

impl<E> Error<E> {
    /// True if the breaker rejected the call (it did not run).
    ///
    /// ```
    /// use warden_breaker::Error;
    /// assert!(Error::<()>::Open.is_rejection());
    /// ```
    pub fn is_rejection(&self) -> bool {
        !matches!(self, Error::Inner(_))
    }

    /// The rejection, if this is one.
    ///
    /// ```
    /// use warden_breaker::{Error, Rejected};
    /// assert_eq!(Error::<()>::Open.rejection(), Some(Rejected::Open));
    /// ```
    pub fn rejection(&self) -> Option<Rejected> {
        match self {
            Error::Open => Some(Rejected::Open),
            Error::TooManyRequests => Some(Rejected::TooManyRequests),
            Error::Inner(_) => None,
        }
    }

    /// The call's own error, if it ran.
    ///
    /// ```
    /// use warden_breaker::Error;
    /// assert_eq!(Error::Inner(7).into_inner(), Some(7));
    /// ```
    pub fn into_inner(self) -> Option<E> {
        match self {
            Error::Inner(e) => Some(e),
            _ => None,
        }
    }
}

impl<E> From<Rejected> for Error<E> {
    fn from(r: Rejected) -> Self {
        match r {
            Rejected::Open => Error::Open,
            Rejected::TooManyRequests => Error::TooManyRequests,
        }
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Open => Rejected::Open.fmt(f),
            Error::TooManyRequests => Rejected::TooManyRequests.fmt(f),
            Error::Inner(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error> std::error::Error for Error<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Inner(e) => e.source(),
            _ => None,
        }
    }
}

/// An invalid setting given to a [`Builder`](crate::Builder).
///
/// Every variant names the field, the value given and what is allowed.
///
/// ```
/// use std::time::Duration;
/// use warden_breaker::{CircuitBreaker, ConfigError};
/// let err = CircuitBreaker::builder("db")
///     .timeout(Duration::from_micros(1500))
///     .build()
///     .unwrap_err();
/// assert!(matches!(err, ConfigError::NotWholeMillis { field: "timeout", .. }));
/// assert!(err.to_string().contains("timeout"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A number outside its allowed range.
    #[error("invalid {field}: {value} is outside the allowed range {allowed}")]
    OutOfRange {
        /// The setting.
        field: &'static str,
        /// The value given.
        value: String,
        /// The allowed range, in words.
        allowed: &'static str,
    },
    /// Two settings that cannot be combined.
    #[error("invalid {field}: cannot be combined with {other}")]
    Conflict {
        /// The setting.
        field: &'static str,
        /// The setting it conflicts with.
        other: &'static str,
    },
    /// A duration finer than the breaker's 1 ms resolution (it would have to be rounded).
    #[error(
        "invalid {field}: {value:?} is not a whole number of milliseconds (the breaker's time resolution is 1 ms)"
    )]
    NotWholeMillis {
        /// The setting.
        field: &'static str,
        /// The duration given.
        value: std::time::Duration,
    },
}
