//! Error types.
//!
//! A [`CircuitBreakerService`](crate::CircuitBreakerService) returns
//! [`BoxError`](crate::BoxError): the inner service's own errors, boxed, or one
//! of the two rejections below when the breaker did not let the request through.
//! Both rejections are zero-sized, so boxing one does not allocate: an open
//! breaker rejects every request at no allocation cost.
//!
//! Callers test for a rejection with [`rejection`], which also looks through
//! errors that wrap it (their [`source`](std::error::Error::source) chain), and
//! map it, typically to `503 Service Unavailable`:
//!
//! ```
//! use warden_tower::{error, BoxError};
//! use warden_breaker::Rejected;
//!
//! fn status(err: &BoxError) -> u16 {
//!     match error::rejection(err.as_ref()) {
//!         Some(Rejected::Open | Rejected::TooManyRequests) => 503,
//!         None => 502,
//!     }
//! }
//! assert_eq!(status(&error::Open::new().into()), 503);
//! assert_eq!(status(&"connection reset".into()), 502);
//! ```

use std::error::Error;
use std::fmt;

/// The breaker is open: the request was not sent.
///
/// ```
/// let err: warden_tower::BoxError = warden_tower::error::Open::new().into();
/// assert!(err.is::<warden_tower::error::Open>());
/// assert_eq!(err.to_string(), "circuit breaker is open");
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Open {
    _p: (),
}

impl Open {
    /// The rejection of an open breaker.
    ///
    /// ```
    /// assert_eq!(warden_tower::error::Open::new(), Default::default());
    /// ```
    pub const fn new() -> Self {
        Open { _p: () }
    }
}

impl fmt::Debug for Open {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Open")
    }
}

impl fmt::Display for Open {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("circuit breaker is open")
    }
}

impl Error for Open {}

/// The breaker is half-open and every probe slot is taken: the request was not
/// sent.
///
/// ```
/// use warden_tower::error::TooManyRequests;
/// let err: warden_tower::BoxError = TooManyRequests::new().into();
/// assert!(err.is::<TooManyRequests>());
/// assert_eq!(err.to_string(), "circuit breaker is half-open and its probe slots are taken");
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TooManyRequests {
    _p: (),
}

impl TooManyRequests {
    /// The rejection of a half-open breaker whose probe slots are all taken.
    ///
    /// ```
    /// let _ = warden_tower::error::TooManyRequests::new();
    /// ```
    pub const fn new() -> Self {
        TooManyRequests { _p: () }
    }
}

impl fmt::Debug for TooManyRequests {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TooManyRequests")
    }
}

impl fmt::Display for TooManyRequests {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("circuit breaker is half-open and its probe slots are taken")
    }
}

impl Error for TooManyRequests {}

impl From<Open> for warden_breaker::Rejected {
    fn from(_: Open) -> Self {
        warden_breaker::Rejected::Open
    }
}

impl From<TooManyRequests> for warden_breaker::Rejected {
    fn from(_: TooManyRequests) -> Self {
        warden_breaker::Rejected::TooManyRequests
    }
}

/// The rejection error for `kind`, boxed (without allocating: both are zero-sized).
pub(crate) fn boxed(kind: warden_breaker::Rejected) -> crate::BoxError {
    match kind {
        warden_breaker::Rejected::Open => Box::new(Open::new()),
        warden_breaker::Rejected::TooManyRequests => Box::new(TooManyRequests::new()),
    }
}

/// If `err`, or an error in its [`source`](Error::source) chain, is a breaker
/// rejection ([`Open`] or [`TooManyRequests`]), which one.
///
/// Looking through the chain finds rejections that other middleware wrapped
/// (`tower::buffer`'s `ServiceError`, for one).
///
/// ```
/// use warden_breaker::Rejected;
/// use warden_tower::{error, BoxError};
///
/// let err: BoxError = error::TooManyRequests::new().into();
/// assert_eq!(error::rejection(&*err), Some(Rejected::TooManyRequests));
///
/// let io = std::io::Error::other("refused");
/// assert_eq!(error::rejection(&io), None);
/// ```
pub fn rejection(err: &(dyn Error + 'static)) -> Option<warden_breaker::Rejected> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if e.is::<Open>() {
            return Some(warden_breaker::Rejected::Open);
        }
        if e.is::<TooManyRequests>() {
            return Some(warden_breaker::Rejected::TooManyRequests);
        }
        cur = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapper(crate::BoxError);
    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("wrapped")
        }
    }
    impl Error for Wrapper {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&*self.0)
        }
    }

    #[test]
    fn rejections_are_zero_sized() {
        assert_eq!(std::mem::size_of::<Open>(), 0);
        assert_eq!(std::mem::size_of::<TooManyRequests>(), 0);
    }

    #[test]
    fn rejection_looks_through_the_source_chain() {
        let err = Wrapper(boxed(warden_breaker::Rejected::Open));
        assert_eq!(rejection(&err), Some(warden_breaker::Rejected::Open));
        let err = Wrapper(boxed(warden_breaker::Rejected::TooManyRequests));
        assert_eq!(
            rejection(&err),
            Some(warden_breaker::Rejected::TooManyRequests)
        );
        let err = Wrapper("other".into());
        assert_eq!(rejection(&err), None);
    }

    #[test]
    fn kinds_convert_back() {
        assert_eq!(
            warden_breaker::Rejected::from(Open::new()),
            warden_breaker::Rejected::Open
        );
        assert_eq!(
            warden_breaker::Rejected::from(TooManyRequests::new()),
            warden_breaker::Rejected::TooManyRequests
        );
    }
}
