//! Errors: rejections, the wrapper returned by [`CircuitBreaker::call`], and
//! configuration errors.
//!
//! [`CircuitBreaker::call`]: crate::CircuitBreaker::call

use std::fmt;

use crate::State;

/// Why the breaker refused to admit a call: the one rejection type of the
/// whole toolkit. The core returns it from [`try_acquire`], inside
/// [`Error::Rejected`] from [`call`], and the adapters (`warden-tower`'s
/// layer, `warden-retry`, the `warden-kit` facade) pass this same type on.
///
/// Its message names the state that refused the call. It does not carry the
/// breaker's name: it is a one-byte `Copy` value so that rejecting a call
/// costs no allocation and no reference-count traffic (an `Arc<str>` name
/// would be a shared-line read-modify-write on every rejection). The adapters
/// that box or log a rejection add the name where they have it.
///
/// ```
/// use warden_breaker::{Rejected, State};
/// assert_eq!(Rejected::Open.to_string(), "circuit breaker is open: call not made");
/// assert_eq!(Rejected::TooManyRequests.state(), State::HalfOpen);
/// ```
///
/// [`try_acquire`]: crate::CircuitBreaker::try_acquire
/// [`call`]: crate::CircuitBreaker::call
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "kebab-case")
)]
pub enum Rejected {
    /// The breaker is open (tripped, or forced open): no call goes through
    /// until its timeout ends.
    Open,
    /// The breaker is half-open and every probe slot (`max_requests`) is
    /// taken by a call still in flight.
    TooManyRequests,
    /// The breaker is closed and its [`AdaptiveThrottle`](crate::AdaptiveThrottle)
    /// shed this call (a random share of the calls, growing with the failures).
    Throttled,
}

impl Rejected {
    /// The state that refused the call.
    ///
    /// ```
    /// use warden_breaker::{Rejected, State};
    /// assert_eq!(Rejected::Open.state(), State::Open);
    /// ```
    pub const fn state(self) -> State {
        match self {
            Rejected::Open => State::Open,
            Rejected::TooManyRequests => State::HalfOpen,
            Rejected::Throttled => State::Closed,
        }
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rejected::Open => "circuit breaker is open: call not made",
            Rejected::TooManyRequests => {
                "circuit breaker is half-open and all its probe slots are taken: call not made"
            }
            Rejected::Throttled => {
                "circuit breaker is shedding load (adaptive throttle): call not made"
            }
        })
    }
}

impl std::error::Error for Rejected {}

/// The error of a guarded call: the breaker's [`Rejected`], or the call's own
/// error.
///
/// `Inner` displays the inner error as is and forwards its `source()`, so an
/// error chain prints each message once.
///
/// ```
/// use warden_breaker::{Error, Rejected};
/// let e: Error<std::io::Error> = Error::Rejected(Rejected::TooManyRequests);
/// assert_eq!(e.to_string(), Rejected::TooManyRequests.to_string());
/// assert!(Error::<&str>::Inner("boom").into_inner().is_some());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error<E> {
    /// The breaker refused the call; it did not run.
    Rejected(Rejected),
    /// The call ran and returned this error.
    Inner(E),
}

impl<E> Error<E> {
    /// True if the breaker rejected the call (it did not run).
    ///
    /// ```
    /// use warden_breaker::{Error, Rejected};
    /// assert!(Error::<()>::Rejected(Rejected::Open).is_rejection());
    /// ```
    pub fn is_rejection(&self) -> bool {
        matches!(self, Error::Rejected(_))
    }

    /// The rejection, if this is one.
    ///
    /// ```
    /// use warden_breaker::{Error, Rejected};
    /// assert_eq!(Error::<()>::Rejected(Rejected::Open).rejection(), Some(Rejected::Open));
    /// ```
    pub fn rejection(&self) -> Option<Rejected> {
        match self {
            Error::Rejected(r) => Some(*r),
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
            Error::Rejected(_) => None,
        }
    }
}

impl<E> From<Rejected> for Error<E> {
    fn from(r: Rejected) -> Self {
        Error::Rejected(r)
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Rejected(r) => r.fmt(f),
            Error::Inner(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error> std::error::Error for Error<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Inner(e) => e.source(),
            Error::Rejected(_) => None,
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

/// Why [`CircuitBreaker::reconfigure`](crate::CircuitBreaker::reconfigure) refused
/// new settings. Nothing changed: the breaker keeps its settings.
///
/// ```
/// use warden_breaker::{CircuitBreaker, ReconfigureError};
/// let cb = CircuitBreaker::builder("db").build()?;
/// let err = cb.reconfigure(CircuitBreaker::builder("cache")).unwrap_err();
/// assert!(matches!(err, ReconfigureError::Name { .. }));
/// assert_eq!(err.to_string(), r#"breaker "db" cannot be renamed to "cache": a breaker's name is fixed"#);
/// # Ok::<(), warden_breaker::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReconfigureError {
    /// A setting is invalid, exactly as [`Builder::build`](crate::Builder::build) would say.
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    /// The settings name another breaker. Both names are quoted to at most 64
    /// bytes.
    #[error("breaker {breaker:?} cannot be renamed to {given:?}: a breaker's name is fixed")]
    Name {
        /// The breaker's name (a prefix of it, if longer than the limit).
        breaker: String,
        /// The name the settings gave (a prefix of it, if longer than the limit).
        given: String,
    },
    /// The settings set a clock: a breaker keeps the clock and time origin it was
    /// built with (its deadlines are ticks of that clock).
    #[error(
        "a breaker's clock cannot change: build the new settings without `clock` (the breaker keeps its own)"
    )]
    Clock,
    /// The settings set a state-change callback or observers: a breaker keeps the
    /// ones it was built with, so that they hear of every transition exactly once.
    #[error(
        "a breaker's state-change callback and observers cannot change: build the new settings without `on_state_change` and `observer` (the breaker keeps its own)"
    )]
    Hooks,
}

/// The longest prefix of user input (a name) an error message quotes, in bytes.
pub(crate) const QUOTE_LIMIT: usize = 64;

/// `s` cut to at most [`QUOTE_LIMIT`] bytes on a character boundary, marked with
/// `...` when cut.
pub(crate) fn quote(s: &str) -> String {
    if s.len() <= QUOTE_LIMIT {
        return s.to_owned();
    }
    let mut end = QUOTE_LIMIT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}
