//! Error types.
//!
//! A [`CircuitBreakerService`](crate::CircuitBreakerService) returns
//! [`BoxError`](crate::BoxError): the inner service's own errors, boxed, or a
//! breaker rejection when the breaker did not let the request through. A
//! rejection is the toolkit's one rejection type,
//! [`warden_breaker::Rejected`]: find it in a boxed error with [`rejection`],
//! which also looks through errors that wrap it (their
//! [`source`](std::error::Error::source) chain). Its message is the core's
//! ("circuit breaker is open: call not made").
//!
//! Inside the box a rejection travels as a zero-sized private type, so boxing
//! it does not allocate: an open breaker rejects every request at no
//! allocation cost (boxing the one-byte `Rejected` itself would allocate).
//!
//! Map a rejection, typically to `503 Service Unavailable`:
//!
//! ```
//! use warden_breaker::Rejected;
//! use warden_tower::{BoxError, error};
//!
//! fn status(err: &BoxError) -> u16 {
//!     match error::rejection(err.as_ref()) {
//!         Some(Rejected::Open | Rejected::TooManyRequests | Rejected::Throttled) => 503,
//!         None => 502,
//!     }
//! }
//! assert_eq!(status(&error::boxed(Rejected::Open)), 503);
//! assert_eq!(status(&"connection reset".into()), 502);
//! assert_eq!(error::boxed(Rejected::Open).to_string(), Rejected::Open.to_string());
//! ```

use std::error::Error;
use std::fmt;

use warden_breaker::Rejected;

/// [`Rejected::Open`] in a box, without an allocation (zero-sized).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Open;

/// [`Rejected::TooManyRequests`] in a box, without an allocation (zero-sized).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TooManyRequests;

/// [`Rejected::Throttled`] in a box, without an allocation (zero-sized).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Throttled;

impl fmt::Debug for Throttled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&Rejected::Throttled, f)
    }
}

impl fmt::Display for Throttled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Rejected::Throttled, f)
    }
}

impl Error for Throttled {}

impl fmt::Debug for Open {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&Rejected::Open, f)
    }
}

impl fmt::Display for Open {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Rejected::Open, f)
    }
}

impl Error for Open {}

impl fmt::Debug for TooManyRequests {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&Rejected::TooManyRequests, f)
    }
}

impl fmt::Display for TooManyRequests {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Rejected::TooManyRequests, f)
    }
}

impl Error for TooManyRequests {}

/// The boxed error for a rejection, as the service returns it (without
/// allocating). For tests and for middleware of your own that rejects the way
/// the breaker does.
///
/// ```
/// use warden_breaker::Rejected;
/// let err = warden_tower::error::boxed(Rejected::TooManyRequests);
/// assert_eq!(warden_tower::error::rejection(&*err), Some(Rejected::TooManyRequests));
/// ```
pub fn boxed(kind: Rejected) -> crate::BoxError {
    match kind {
        Rejected::Open => Box::new(Open),
        Rejected::TooManyRequests => Box::new(TooManyRequests),
        Rejected::Throttled => Box::new(Throttled),
    }
}

/// If `err`, or an error in its [`source`](Error::source) chain, is a breaker
/// rejection, which one.
///
/// Looking through the chain finds rejections that other middleware wrapped
/// (`tower::buffer`'s `ServiceError`, for one).
///
/// ```
/// use warden_breaker::Rejected;
/// use warden_tower::{error, BoxError};
///
/// let err: BoxError = error::boxed(Rejected::TooManyRequests);
/// assert_eq!(error::rejection(&*err), Some(Rejected::TooManyRequests));
/// // The core's own type, boxed by other code, is found too.
/// let err: BoxError = Box::new(Rejected::Open);
/// assert_eq!(error::rejection(&*err), Some(Rejected::Open));
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
        if e.is::<Throttled>() {
            return Some(warden_breaker::Rejected::Throttled);
        }
        if let Some(r) = e.downcast_ref::<Rejected>() {
            return Some(*r);
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
    fn boxed_rejections_speak_as_the_core_does() {
        for r in [Rejected::Open, Rejected::TooManyRequests] {
            assert_eq!(boxed(r).to_string(), r.to_string());
            assert_eq!(format!("{:?}", boxed(r)), format!("{r:?}"));
        }
    }
}
