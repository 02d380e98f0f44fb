use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_service::Service;
use warden_breaker::{CircuitBreaker, Rejected, State};

use crate::BoxError;
use crate::classify::{Classifier, DefaultClassifier};
use crate::future::ResponseFuture;
use crate::holder::Holder;

/// A service guarded by a circuit breaker.
///
/// Each `call` asks the breaker for a permit. Admitted, the request goes
/// to the inner service and the [`ResponseFuture`] carries the permit; when the
/// response (or error) arrives the classifier decides the outcome and the permit
/// records it. Rejected, the request never reaches the inner service and the
/// future resolves to the breaker's rejection
/// ([`warden_breaker::Rejected`], found with [`error::rejection`](crate::error::rejection)).
/// A future dropped
/// before it finishes drops its permit, which gives a half-open probe slot back.
///
/// # Readiness
///
/// `poll_ready` holds no permit: a service polled ready and then dropped, or
/// cloned, must not keep a half-open slot taken. While the breaker is closed or
/// half-open it passes the inner service's readiness through (back-pressure works
/// as without the layer). While the breaker is open it reports ready at once
/// without polling the inner service, as `tower::load_shed` does, so callers get
/// their rejection immediately even when the inner service is saturated by the
/// failing dependency; the `call` that follows is rejected with
/// [`Rejected::Open`](warden_breaker::Rejected::Open), counted in the
/// breaker's totals (`rejected_open`) like any rejection, so metrics see it.
/// If the breaker is no longer open by then (its open timeout passed in
/// between), the call is still refused, as the inner service was not polled
/// ready, without taking a probe slot (and without being counted).
///
/// "At once" holds for callers that poll after the breaker opened. A caller
/// already parked in `poll_ready` on the inner service (which returned
/// `Pending` while the breaker was closed) is not woken by the breaker
/// opening: the breaker holds no waker of it. It is woken by the inner
/// service as usual (when that becomes ready, or fails), and its next
/// `poll_ready` then sees the open breaker and reports ready, so its `call`
/// is rejected without reaching the inner service. To bound that wait, put a
/// timeout (`tower::timeout`, `tokio::time::timeout`) above this layer.
///
/// ```
/// use std::sync::Arc;
/// use tower::{Service, ServiceExt, service_fn};
/// use warden_breaker::{CircuitBreaker, State};
/// use warden_tower::{CircuitBreakerService, error};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), warden_tower::BoxError> {
/// let breaker = Arc::new(
///     CircuitBreaker::builder("flaky")
///         .ready_to_trip(|c| c.consecutive_failures >= 1)
///         .build()?,
/// );
/// let inner = service_fn(|fail: bool| async move {
///     if fail { Err("boom") } else { Ok("pong") }
/// });
/// let mut svc = CircuitBreakerService::new(inner, breaker.clone());
///
/// assert!(svc.ready().await?.call(true).await.is_err());
/// assert_eq!(breaker.state(), State::Open);
/// let err = svc.ready().await?.call(false).await.unwrap_err();
/// assert_eq!(error::rejection(&*err), Some(warden_breaker::Rejected::Open));
/// # Ok(())
/// # }
/// ```
///
/// The type parameter `H` is how the breaker is held: `Arc<CircuitBreaker>`
/// (the default; [`new`](Self::new), [`with_classifier`](Self::with_classifier))
/// or `&'static CircuitBreaker` ([`from_static`](CircuitBreakerService::from_static));
/// see [`holder`](crate::holder).
pub struct CircuitBreakerService<S, C = DefaultClassifier, H = Arc<CircuitBreaker>> {
    inner: S,
    breaker: H,
    classifier: C,
    /// `poll_ready` saw the breaker open and reported ready without polling
    /// `inner`: the next `call` must not reach `inner` (it is not known to be ready).
    shed: bool,
}

// ===== impl CircuitBreakerService =====

impl<S> CircuitBreakerService<S> {
    /// Guards `inner` with `breaker`, counting `Err` as failure.
    ///
    /// ```
    /// let cb = warden_breaker::CircuitBreaker::builder("db").build()?;
    /// let svc = warden_tower::CircuitBreakerService::new(tower::service_fn(|()| async {
    ///     Ok::<_, std::io::Error>(())
    /// }), cb);
    /// # let _ = svc;
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn new(inner: S, breaker: impl Into<Arc<CircuitBreaker>>) -> Self {
        Self::with_classifier(inner, breaker, DefaultClassifier)
    }
}

impl<S, C> CircuitBreakerService<S, C> {
    /// Guards `inner` with `breaker`, classifying results with `classifier`.
    ///
    /// ```
    /// use warden_tower::{CircuitBreakerService, classify::HttpClassifier};
    /// let cb = warden_breaker::CircuitBreaker::builder("api").build()?;
    /// let inner = tower::service_fn(|_req: http::Request<()>| async {
    ///     Ok::<_, std::io::Error>(http::Response::new(()))
    /// });
    /// let svc = CircuitBreakerService::with_classifier(inner, cb, HttpClassifier::new());
    /// # let _ = svc;
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn with_classifier(
        inner: S,
        breaker: impl Into<Arc<CircuitBreaker>>,
        classifier: C,
    ) -> Self {
        Self::with_holder(inner, breaker.into(), classifier)
    }
}

impl<S, C> CircuitBreakerService<S, C, &'static CircuitBreaker> {
    /// Guards `inner` with a breaker that lives for the rest of the program,
    /// classifying results with `classifier`. Calls borrow the breaker instead
    /// of counting references to it, which keeps a shared cache line out of
    /// every call; see [`CircuitBreakerLayer::from_static`](crate::CircuitBreakerLayer::from_static).
    ///
    /// ```
    /// use std::sync::OnceLock;
    /// use warden_breaker::CircuitBreaker;
    /// use warden_tower::{CircuitBreakerService, classify::DefaultClassifier};
    ///
    /// static DB: OnceLock<CircuitBreaker> = OnceLock::new();
    /// let db = DB.get_or_init(|| CircuitBreaker::builder("db").build().expect("valid settings"));
    /// let inner = tower::service_fn(|()| async { Ok::<_, std::io::Error>(()) });
    /// let svc = CircuitBreakerService::from_static(inner, db, DefaultClassifier);
    /// assert_eq!(svc.breaker().name(), "db");
    /// ```
    pub fn from_static(inner: S, breaker: &'static CircuitBreaker, classifier: C) -> Self {
        Self::with_holder(inner, breaker, classifier)
    }
}

impl<S, C, H: Holder> CircuitBreakerService<S, C, H> {
    pub(crate) fn with_holder(inner: S, breaker: H, classifier: C) -> Self {
        CircuitBreakerService {
            inner,
            breaker,
            classifier,
            shed: false,
        }
    }

    /// The breaker guarding this service.
    ///
    /// ```
    /// let cb = warden_breaker::CircuitBreaker::builder("db").build()?;
    /// let svc = warden_tower::CircuitBreakerService::new((), cb);
    /// assert_eq!(svc.breaker().name(), "db");
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn breaker(&self) -> &CircuitBreaker {
        self.breaker.breaker()
    }

    /// The inner service.
    ///
    /// ```
    /// let cb = warden_breaker::CircuitBreaker::builder("db").build()?;
    /// let svc = warden_tower::CircuitBreakerService::new(7u8, cb);
    /// assert_eq!(*svc.get_ref(), 7);
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// let cb = warden_breaker::CircuitBreaker::builder("db").build()?;
    /// let mut svc = warden_tower::CircuitBreakerService::new(7u8, cb);
    /// *svc.get_mut() += 1;
    /// assert_eq!(*svc.get_ref(), 8);
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    ///
    /// ```
    /// let cb = warden_breaker::CircuitBreaker::builder("db").build()?;
    /// let svc = warden_tower::CircuitBreakerService::new(7u8, cb);
    /// assert_eq!(svc.into_inner(), 7);
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, C, H, Req> Service<Req> for CircuitBreakerService<S, C, H>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: Classifier<S::Response, S::Error> + Clone,
    H: Holder,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, C, H::Permit>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // An open breaker rejects the next call without touching `inner`, so there
        // is nothing to wait for: report ready now (as load_shed does) rather than
        // queue callers behind an inner service the failing dependency saturated.
        // `state()` is one load while closed; while open it reads the clock and
        // performs the open -> half-open transition when the timeout has passed.
        if self.breaker.breaker().state() == State::Open {
            self.shed = true;
            return Poll::Ready(Ok(()));
        }
        self.shed = false;
        // No permit is taken here: one held from `poll_ready` to `call` would leak
        // a half-open slot for as long as a ready-but-idle clone lives.
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    // Always inlined: the refused arm writes the whole future (see
    // `ResponseState::Refused`), and with `#[inline]` alone the compiler then
    // kept `call` a function returning the future through memory (callgrind,
    // `benches/examples/tower_batches.rs`: 24 instructions more a `from_static`
    // call).
    #[inline(always)]
    fn call(&mut self, req: Req) -> Self::Future {
        if self.shed {
            // Readiness only counts once; `inner` was not polled, so it must not be called.
            self.shed = false;
            return ResponseFuture::rejected(shed(&self.breaker));
        }
        match self.breaker.acquire() {
            Ok(permit) => {
                ResponseFuture::called(self.inner.call(req), permit, self.classifier.clone())
            }
            // The breaker changed between `poll_ready` and `call`: `inner` keeps the
            // readiness it reserved for the next call.
            Err(kind) => ResponseFuture::rejected(kind),
        }
    }
}

/// The refusal of a call `poll_ready` shed (the breaker was open), asked of the
/// breaker while it is still open, so that it counts it in its totals like any
/// rejection (the metrics backends and the `tracing` summaries read them
/// there). A breaker no longer open (its open timeout passed since
/// `poll_ready`) is not asked: the inner service was not polled ready, so the
/// call is refused anyway, and asking would take a half-open probe slot and
/// count a request for a call never made; that refusal goes uncounted. Only
/// after `poll_ready` saw the breaker open, never on a path that admits calls.
#[cold]
pub(crate) fn shed<H: Holder>(breaker: &H) -> Rejected {
    if breaker.breaker().state() != State::Open {
        return Rejected::Open;
    }
    match breaker.acquire() {
        Err(kind) => kind,
        // It left the open state between the two reads: as above, with the
        // probe's slot given back by the unreported drop.
        Ok(permit) => {
            drop(permit);
            Rejected::Open
        }
    }
}

impl<S: Clone, C: Clone, H: Holder> Clone for CircuitBreakerService<S, C, H> {
    fn clone(&self) -> Self {
        CircuitBreakerService {
            inner: self.inner.clone(),
            breaker: self.breaker.clone(),
            classifier: self.classifier.clone(),
            // A clone has not been polled: readiness is per clone (as in load_shed).
            shed: false,
        }
    }
}

impl<S: fmt::Debug, C: fmt::Debug, H: Holder> fmt::Debug for CircuitBreakerService<S, C, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerService")
            .field("inner", &self.inner)
            .field("breaker", &self.breaker.breaker().name())
            .field("classifier", &self.classifier)
            .finish()
    }
}
