//! Classification at the end of an HTTP response body.
//!
//! A [`CircuitBreakerService`](crate::CircuitBreakerService) records each
//! outcome when the response head arrives: a `200` whose body is then cut off
//! (the peer dropped the connection mid-body, a proxy timed out) counts as a
//! success. [`EndOfBodyLayer`] (from
//! [`CircuitBreakerLayer::until_end_of_body`](crate::CircuitBreakerLayer::until_end_of_body))
//! waits for the body instead, as tower-http's end-of-stream classifiers do:
//!
//! * a response the classifier calls a failure (a `5xx`), an ignored one, and
//!   every error are recorded when the head arrives, as before;
//! * a response it calls a success carries the permit in its body
//!   ([`ClassifiedBody`]): the body's end records the success, a body error
//!   records a failure;
//! * a body dropped before its end (the caller stopped reading) records
//!   nothing and gives a half-open probe slot back, like a cancelled request;
//!   dropped while panicking, it records a failure.
//!
//! Until its body ends, a successful request still holds its permit: in
//! half-open, a probe slot stays taken while the caller reads the body.
//!
//! ```
//! use http_body_util::{BodyExt, Full};
//! use hyper::body::Bytes;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use warden_breaker::CircuitBreaker;
//! use warden_tower::{CircuitBreakerLayer, classify::HttpClassifier};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), warden_tower::BoxError> {
//! let cb = std::sync::Arc::new(CircuitBreaker::builder("files").build()?);
//! let svc = ServiceBuilder::new()
//!     .layer(CircuitBreakerLayer::new(cb.clone()).classifier(HttpClassifier::new()).until_end_of_body())
//!     .service(service_fn(|_: ()| async {
//!         Ok::<_, std::io::Error>(http::Response::new(Full::new(Bytes::from("report"))))
//!     }));
//! let res = svc.oneshot(()).await?;
//! assert_eq!(cb.counts().total_successes, 0); // not yet: the body is unread
//! let body = res.into_body().collect().await?.to_bytes();
//! assert_eq!((&body[..], cb.counts().total_successes), (&b"report"[..], 1));
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;
use warden_breaker::{CircuitBreaker, Outcome, OwnedPermit, Rejected, State};

use crate::BoxError;
use crate::classify::Classifier;
use crate::future::{Refusal, poll_guarded};
use crate::holder::{HeldPermit, Holder};

/// A [`CircuitBreakerLayer`](crate::CircuitBreakerLayer) whose successful
/// responses are recorded at the end of their body; see the
/// [module docs](self).
///
/// ```
/// use warden_tower::{CircuitBreakerLayer, classify::HttpClassifier};
/// let cb = warden_breaker::CircuitBreaker::builder("api").build()?;
/// let layer = CircuitBreakerLayer::new(cb).classifier(HttpClassifier::new()).until_end_of_body();
/// assert_eq!(layer.breaker().name(), "api");
/// # Ok::<(), warden_breaker::ConfigError>(())
/// ```
///
/// `H` is how the breaker is held, as in the layer it comes from (see
/// [`holder`](crate::holder)).
#[derive(Clone)]
pub struct EndOfBodyLayer<C, H = Arc<CircuitBreaker>> {
    breaker: H,
    classifier: C,
}

impl<C, H: Holder> EndOfBodyLayer<C, H> {
    pub(crate) fn new(breaker: H, classifier: C) -> Self {
        EndOfBodyLayer {
            breaker,
            classifier,
        }
    }

    /// The breaker this layer guards services with.
    ///
    /// ```
    /// let cb = warden_breaker::CircuitBreaker::builder("api").build()?;
    /// let layer = warden_tower::CircuitBreakerLayer::new(cb).until_end_of_body();
    /// assert_eq!(layer.breaker().name(), "api");
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn breaker(&self) -> &CircuitBreaker {
        self.breaker.breaker()
    }
}

impl<S, C: Clone, H: Holder> Layer<S> for EndOfBodyLayer<C, H> {
    type Service = EndOfBodyService<S, C, H>;

    fn layer(&self, inner: S) -> Self::Service {
        EndOfBodyService {
            inner,
            breaker: self.breaker.clone(),
            classifier: self.classifier.clone(),
            shed: false,
        }
    }
}

impl<C: fmt::Debug, H: Holder> fmt::Debug for EndOfBodyLayer<C, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndOfBodyLayer")
            .field("breaker", &self.breaker.breaker().name())
            .field("classifier", &self.classifier)
            .finish()
    }
}

/// The service of an [`EndOfBodyLayer`]: a
/// [`CircuitBreakerService`](crate::CircuitBreakerService) (same readiness,
/// rejections and errors) whose responses come back with a
/// [`ClassifiedBody`].
///
/// ```
/// use tower::Layer;
/// let cb = warden_breaker::CircuitBreaker::builder("api").build()?;
/// let svc = warden_tower::CircuitBreakerLayer::new(cb).until_end_of_body().layer(());
/// # let _ = svc;
/// # Ok::<(), warden_breaker::ConfigError>(())
/// ```
pub struct EndOfBodyService<S, C, H = Arc<CircuitBreaker>> {
    inner: S,
    breaker: H,
    classifier: C,
    /// As in `CircuitBreakerService`: `poll_ready` saw the breaker open.
    shed: bool,
}

impl<S, C, H, B, Req> Service<Req> for EndOfBodyService<S, C, H>
where
    S: Service<Req, Response = http::Response<B>>,
    S::Error: Into<BoxError>,
    C: Classifier<http::Response<B>, S::Error> + Clone,
    H: Holder,
{
    type Response = http::Response<ClassifiedBody<B, H::Permit>>;
    type Error = BoxError;
    type Future = EndOfBodyFuture<S::Future, C, H::Permit>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // As CircuitBreakerService::poll_ready: open means ready at once (the
        // call is shed), and no permit is held between poll_ready and call.
        if self.breaker.breaker().state() == State::Open {
            self.shed = true;
            return Poll::Ready(Ok(()));
        }
        self.shed = false;
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let state = if std::mem::take(&mut self.shed) {
            FutureState::Rejected {
                kind: Rejected::Open.into(),
            }
        } else {
            match self.breaker.acquire() {
                Ok(permit) => FutureState::Called {
                    fut: self.inner.call(req),
                    permit: Some(permit),
                    classifier: self.classifier.clone(),
                },
                Err(kind) => FutureState::Rejected { kind: kind.into() },
            }
        };
        EndOfBodyFuture { state }
    }
}

impl<S: Clone, C: Clone, H: Holder> Clone for EndOfBodyService<S, C, H> {
    fn clone(&self) -> Self {
        EndOfBodyService {
            inner: self.inner.clone(),
            breaker: self.breaker.clone(),
            classifier: self.classifier.clone(),
            shed: false,
        }
    }
}

impl<S: fmt::Debug, C: fmt::Debug, H: Holder> fmt::Debug for EndOfBodyService<S, C, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndOfBodyService")
            .field("inner", &self.inner)
            .field("breaker", &self.breaker.breaker().name())
            .field("classifier", &self.classifier)
            .finish()
    }
}

pin_project! {
    /// Response future of [`EndOfBodyService`]: records failures and errors
    /// when the head arrives, hands a success's permit to the body. `P` is the
    /// permit, as in [`ResponseFuture`](crate::ResponseFuture).
    pub struct EndOfBodyFuture<F, C, P = OwnedPermit> {
        #[pin]
        state: FutureState<F, C, P>,
    }
}

pin_project! {
    #[project = FutureStateProj]
    enum FutureState<F, C, P> {
        Called {
            #[pin]
            fut: F,
            permit: Option<P>,
            classifier: C,
        },
        Rejected {
            kind: Refusal,
        },
    }
}

impl<F, C, P, B, E> Future for EndOfBodyFuture<F, C, P>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    E: Into<BoxError>,
    C: Classifier<http::Response<B>, E>,
    P: HeldPermit,
{
    type Output = Result<http::Response<ClassifiedBody<B, P>>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            FutureStateProj::Called {
                fut,
                permit,
                classifier,
            } => {
                let result = ready!(poll_guarded(|cx| fut.poll(cx), permit, cx));
                let Some(permit) = permit.take() else {
                    // Polled again after completion: nothing left to record.
                    return Poll::Ready(
                        result
                            .map(|r| r.map(ClassifiedBody::plain))
                            .map_err(Into::into),
                    );
                };
                let outcome = classifier.classify(&result);
                Poll::Ready(match result {
                    Ok(res) if outcome == Outcome::Success => {
                        Ok(res.map(|body| ClassifiedBody::new(body, permit)))
                    }
                    other => {
                        permit.record(outcome);
                        other
                            .map(|r| r.map(ClassifiedBody::plain))
                            .map_err(Into::into)
                    }
                })
            }
            FutureStateProj::Rejected { kind } => {
                Poll::Ready(Err(crate::error::boxed((*kind).into())))
            }
        }
    }
}

impl<F, C, P: fmt::Debug> fmt::Debug for EndOfBodyFuture<F, C, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("EndOfBodyFuture");
        match &self.state {
            FutureState::Called { permit, .. } => d.field("permit", permit),
            FutureState::Rejected { kind } => d.field("rejected", &Rejected::from(*kind)),
        }
        .finish()
    }
}

pin_project! {
    /// A response body that records its request's success when it ends, or a
    /// failure if it errors (see the [module docs](self)). Frames, errors and
    /// size hints pass through unchanged. `P` is the permit, as in
    /// [`ResponseFuture`](crate::ResponseFuture).
    pub struct ClassifiedBody<B, P = OwnedPermit> {
        #[pin]
        inner: B,
        // `None` once recorded, or for a response recorded at its head.
        permit: Option<P>,
    }
}

impl<B, P> ClassifiedBody<B, P> {
    fn new(inner: B, permit: P) -> Self {
        ClassifiedBody {
            inner,
            permit: Some(permit),
        }
    }

    fn plain(inner: B) -> Self {
        ClassifiedBody {
            inner,
            permit: None,
        }
    }

    /// Whether the outcome is still to be recorded by this body.
    ///
    /// ```
    /// # use http_body_util::Empty;
    /// # use hyper::body::Bytes;
    /// # use tower::{ServiceBuilder, ServiceExt, service_fn};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), warden_tower::BoxError> {
    /// let cb = warden_breaker::CircuitBreaker::builder("api").build()?;
    /// let svc = ServiceBuilder::new()
    ///     .layer(warden_tower::CircuitBreakerLayer::new(cb).until_end_of_body())
    ///     .service(service_fn(|_: ()| async {
    ///         Ok::<_, std::io::Error>(http::Response::new(Empty::<Bytes>::new()))
    ///     }));
    /// let res = svc.oneshot(()).await?;
    /// assert!(res.body().is_pending());
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_pending(&self) -> bool {
        self.permit.is_some()
    }
}

impl<B: Body, P: HeldPermit> Body for ClassifiedBody<B, P> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let inner = this.inner.as_mut();
        let frame = ready!(poll_guarded(|cx| inner.poll_frame(cx), this.permit, cx));
        let outcome = match &frame {
            None => Some(Outcome::Success),
            Some(Err(_)) => Some(Outcome::Failure),
            Some(Ok(_)) if this.inner.is_end_stream() => Some(Outcome::Success),
            Some(Ok(_)) => None,
        };
        if let Some(outcome) = outcome
            && let Some(permit) = this.permit.take()
        {
            permit.record(outcome);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B, P> fmt::Debug for ClassifiedBody<B, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClassifiedBody")
            .field("pending", &self.permit.is_some())
            .finish_non_exhaustive()
    }
}
