//! Classifiers: what a finished request means to the breaker.
//!
//! The service hands every result of the inner service, before its error is
//! boxed, to a [`Classifier`], and records the [`Outcome`] it returns. The
//! result itself is passed on unchanged: a `500` classified as a failure is
//! still returned to the caller as a response.
//!
//! * [`DefaultClassifier`]: `Err` is a failure, `Ok` a success.
//! * [`HttpClassifier`]: for `http::Response`s; `5xx` is a failure, any other
//!   status a success, every error a failure; both parts configurable.
//! * Any `Fn(&Result<Res, E>) -> Outcome + Clone`.
//!
//! A classifier sees the response head only. To have a successful response
//! recorded when its body ends (a `200` cut off mid-body then counts as a
//! failure), use [`CircuitBreakerLayer::until_end_of_body`](crate::CircuitBreakerLayer::until_end_of_body).
//!
//! A classifier is cloned into each response future, so keep it cheap to clone
//! (the two above are `Copy`; share anything large in an `Arc`).

use std::fmt;

use http::StatusCode;
use warden_breaker::Outcome;

/// Decides the [`Outcome`] of a finished request.
///
/// Implemented by [`DefaultClassifier`], [`HttpClassifier`] and closures.
///
/// ```
/// use warden_breaker::Outcome;
/// use warden_tower::classify::Classifier;
///
/// /// Timeouts count; "not found" says nothing about the peer's health.
/// #[derive(Clone)]
/// struct Lookup;
///
/// impl Classifier<String, std::io::Error> for Lookup {
///     fn classify(&self, result: &Result<String, std::io::Error>) -> Outcome {
///         match result {
///             Ok(_) => Outcome::Success,
///             Err(e) if e.kind() == std::io::ErrorKind::NotFound => Outcome::Ignored,
///             Err(_) => Outcome::Failure,
///         }
///     }
/// }
/// let not_found = std::io::Error::from(std::io::ErrorKind::NotFound);
/// assert_eq!(Lookup.classify(&Err(not_found)), Outcome::Ignored);
/// ```
pub trait Classifier<Res, E> {
    /// The outcome of `result`, a response or an error of the inner service.
    fn classify(&self, result: &Result<Res, E>) -> Outcome;
}

impl<Res, E, F> Classifier<Res, E> for F
where
    F: Fn(&Result<Res, E>) -> Outcome,
{
    #[inline]
    fn classify(&self, result: &Result<Res, E>) -> Outcome {
        self(result)
    }
}

/// `Err` is a failure, `Ok` a success: the breaker's own rule for `call`.
///
/// ```
/// use warden_breaker::Outcome;
/// use warden_tower::classify::{Classifier, DefaultClassifier};
/// assert_eq!(DefaultClassifier.classify(&Ok::<_, ()>(1)), Outcome::Success);
/// assert_eq!(DefaultClassifier.classify(&Err::<u8, _>("refused")), Outcome::Failure);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DefaultClassifier;

impl<Res, E> Classifier<Res, E> for DefaultClassifier {
    #[inline]
    fn classify(&self, result: &Result<Res, E>) -> Outcome {
        if result.is_ok() {
            Outcome::Success
        } else {
            Outcome::Failure
        }
    }
}

/// Counts every error as a failure: the error rule of a new [`HttpClassifier`].
///
/// ```
/// use warden_tower::classify::HttpClassifier;
/// let c: HttpClassifier<warden_tower::classify::EveryError> = HttpClassifier::new();
/// # let _ = c;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EveryError;

/// Classifies `http::Response`s by status and errors by a rule of your choosing.
///
/// New, it counts `5xx` responses and every error as failures and any other
/// status (`4xx` included: the client's mistake, not the peer's ill health) as a
/// success. [`statuses`](Self::statuses) replaces the status rule and
/// [`errors`](Self::errors) the error rule.
///
/// ```
/// use http::{Response, StatusCode};
/// use warden_breaker::Outcome;
/// use warden_tower::classify::{Classifier, HttpClassifier};
///
/// type Result = std::result::Result<Response<()>, std::io::Error>;
/// let res = |code: u16| -> Result { Ok(Response::builder().status(code).body(()).unwrap()) };
/// let err = |e: std::io::Error| -> Result { Err(e) };
///
/// let c = HttpClassifier::new();
/// assert_eq!(c.classify(&res(503)), Outcome::Failure);
/// assert_eq!(c.classify(&res(404)), Outcome::Success);
/// assert_eq!(c.classify(&err(std::io::Error::other("reset"))), Outcome::Failure);
///
/// // 429 counts too; connection refused does, a timeout we set ourselves does not.
/// let c = HttpClassifier::new()
///     .statuses(|s| match s {
///         StatusCode::TOO_MANY_REQUESTS => Outcome::Failure,
///         s => HttpClassifier::server_errors(s),
///     })
///     .errors(|e: &std::io::Error| match e.kind() {
///         std::io::ErrorKind::TimedOut => Outcome::Ignored,
///         _ => Outcome::Failure,
///     });
/// assert_eq!(c.classify(&res(429)), Outcome::Failure);
/// let timed_out = std::io::Error::from(std::io::ErrorKind::TimedOut);
/// assert_eq!(c.classify(&err(timed_out)), Outcome::Ignored);
/// ```
#[derive(Clone, Copy)]
pub struct HttpClassifier<F = EveryError> {
    status: fn(StatusCode) -> Outcome,
    errors: F,
}

impl HttpClassifier {
    /// `5xx` and every error are failures; any other status is a success.
    ///
    /// ```
    /// let _ = warden_tower::classify::HttpClassifier::new();
    /// ```
    pub const fn new() -> Self {
        HttpClassifier {
            status: Self::server_errors,
            errors: EveryError,
        }
    }

    /// The default status rule: `5xx` is a failure, any other status a success.
    /// Call it from your own rule for the statuses you do not single out.
    ///
    /// ```
    /// use http::StatusCode;
    /// use warden_breaker::Outcome;
    /// use warden_tower::classify::HttpClassifier;
    /// assert_eq!(HttpClassifier::server_errors(StatusCode::BAD_GATEWAY), Outcome::Failure);
    /// assert_eq!(HttpClassifier::server_errors(StatusCode::NOT_FOUND), Outcome::Success);
    /// ```
    pub fn server_errors(status: StatusCode) -> Outcome {
        if status.is_server_error() {
            Outcome::Failure
        } else {
            Outcome::Success
        }
    }
}

impl Default for HttpClassifier {
    fn default() -> Self {
        Self::new()
    }
}

impl<F> HttpClassifier<F> {
    /// Replaces the status rule (a function or a closure that captures nothing).
    ///
    /// ```
    /// use http::StatusCode;
    /// use warden_breaker::Outcome;
    /// use warden_tower::classify::HttpClassifier;
    /// // 501 means "not implemented", not "unhealthy".
    /// let c = HttpClassifier::new().statuses(|s| match s {
    ///     StatusCode::NOT_IMPLEMENTED => Outcome::Ignored,
    ///     s => HttpClassifier::server_errors(s),
    /// });
    /// # let _ = c;
    /// ```
    pub fn statuses(self, rule: fn(StatusCode) -> Outcome) -> Self {
        HttpClassifier {
            status: rule,
            errors: self.errors,
        }
    }

    /// Replaces the error rule: `rule(&error)` gives the outcome of an `Err`.
    ///
    /// ```
    /// use warden_breaker::Outcome;
    /// use warden_tower::classify::{Classifier, HttpClassifier};
    /// // Only failing to connect says the peer is down; other errors are ours.
    /// let c = HttpClassifier::new().errors(|e: &hyper_util::client::legacy::Error| {
    ///     if e.is_connect() { Outcome::Failure } else { Outcome::Ignored }
    /// });
    /// let ok: Result<http::Response<()>, _> = Ok(http::Response::new(()));
    /// assert_eq!(c.classify(&ok), Outcome::Success);
    /// ```
    pub fn errors<G>(self, rule: G) -> HttpClassifier<G> {
        HttpClassifier {
            status: self.status,
            errors: rule,
        }
    }
}

impl<F> fmt::Debug for HttpClassifier<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClassifier")
            .field("status", &self.status)
            .field("errors", &std::any::type_name::<F>())
            .finish()
    }
}

impl<B, E> Classifier<http::Response<B>, E> for HttpClassifier<EveryError> {
    #[inline]
    fn classify(&self, result: &Result<http::Response<B>, E>) -> Outcome {
        match result {
            Ok(res) => (self.status)(res.status()),
            Err(_) => Outcome::Failure,
        }
    }
}

impl<B, E, F> Classifier<http::Response<B>, E> for HttpClassifier<F>
where
    F: Fn(&E) -> Outcome,
{
    #[inline]
    fn classify(&self, result: &Result<http::Response<B>, E>) -> Outcome {
        match result {
            Ok(res) => (self.status)(res.status()),
            Err(e) => (self.errors)(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(e: &'static str) -> Result<http::Response<()>, &'static str> {
        Err(e)
    }

    fn res(code: u16) -> Result<http::Response<()>, &'static str> {
        Ok(http::Response::builder()
            .status(code)
            .body(())
            .expect("valid status"))
    }

    #[test]
    fn http_classifier_default_rules() {
        let c = HttpClassifier::new();
        for code in [100, 200, 204, 301, 400, 404, 429, 499] {
            assert_eq!(c.classify(&res(code)), Outcome::Success, "{code}");
        }
        for code in [500, 502, 503, 504, 599] {
            assert_eq!(c.classify(&res(code)), Outcome::Failure, "{code}");
        }
        assert_eq!(c.classify(&err("reset")), Outcome::Failure);
    }

    #[test]
    fn http_classifier_custom_rules() {
        let c = HttpClassifier::new()
            .statuses(|s| {
                if s == StatusCode::SERVICE_UNAVAILABLE {
                    Outcome::Ignored
                } else {
                    HttpClassifier::server_errors(s)
                }
            })
            .errors(|e: &&str| {
                if *e == "ours" {
                    Outcome::Ignored
                } else {
                    Outcome::Failure
                }
            });
        assert_eq!(c.classify(&res(503)), Outcome::Ignored);
        assert_eq!(c.classify(&res(500)), Outcome::Failure);
        assert_eq!(c.classify(&err("ours")), Outcome::Ignored);
        assert_eq!(c.classify(&err("theirs")), Outcome::Failure);
    }

    #[test]
    fn closures_are_classifiers() {
        let c = |r: &Result<u8, ()>| match r {
            Ok(0) => Outcome::Ignored,
            Ok(_) => Outcome::Success,
            Err(()) => Outcome::Failure,
        };
        assert_eq!(Classifier::classify(&c, &Ok(0)), Outcome::Ignored);
        assert_eq!(Classifier::classify(&c, &Err(())), Outcome::Failure);
    }
}
