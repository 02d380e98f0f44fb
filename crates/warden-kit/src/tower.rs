//! The registry as a tower layer (feature `tower`): [`Registry::layer`] and
//! [`NamedBreaker::layer`] guard a [`tower`](https://docs.rs/tower) service
//! with a name's breaker, bulkhead and metrics, the same ones its
//! [`Pipeline`](crate::Pipeline)s use, so [`Registry::list`] and the
//! Prometheus series count calls from both.
//!
//! Each request goes through, outermost first: the registry's shutdown flag,
//! the name's bulkhead (held until the response future finishes), then
//! `warden_tower`'s [`CircuitBreakerService`] on the name's breaker, which
//! records the outcome its [`Classifier`] gives (with [`HttpClassifier`], a
//! `5xx` response is a failure). Errors are boxed: a refusal by the breaker is
//! `warden_tower`'s (see `warden_tower::error::rejection`), a full bulkhead
//! or a shut-down registry an [`ExecuteError`]`<Infallible>`. A call timeout
//! is not applied here; add `tower::timeout` inside the layer to have
//! timeouts counted as failures.
//!
//! With a fleet (feature `redis`), the layer is admitted by the name's local
//! breaker, which follows the fleet's state; half-open probes are not
//! coordinated across instances as the pipeline's are.
//!
//! Classifiers are shared with the pipeline: a closure
//! `Fn(&Result<T, E>) -> Outcome` is a [`Classifier`], and [`classify`]
//! turns any [`Classifier`] into the closure
//! [`Pipeline::with_classifier`](crate::Pipeline::with_classifier) takes.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;
use warden_breaker::Outcome;
pub use warden_tower::classify::{Classifier, DefaultClassifier, HttpClassifier};
pub use warden_tower::{BoxError, CircuitBreakerService};

use crate::registry::Entry;
use crate::{ExecuteError, NamedBreaker, Registry, RegistryError};

/// `classifier` as the closure [`Pipeline::with_classifier`](crate::Pipeline::with_classifier)
/// takes, so one classifier serves the layer and the pipeline.
///
/// ```
/// use warden_kit::tower::{HttpClassifier, classify};
/// let r = warden_kit::Registry::builder().build()?;
/// let api = r.pipeline("api")?.with_classifier(classify(HttpClassifier::new()));
/// let ex = api.execute(|| {
///     Ok::<_, std::io::Error>(http::Response::builder().status(503).body(()).unwrap())
/// });
/// assert!(ex.has_value() && !ex.succeeded()); // the 503 is returned, and counted as a failure
/// assert_eq!(r.breaker("api")?.counts().total_failures, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn classify<T, E, C>(classifier: C) -> impl Fn(&Result<T, E>) -> Outcome + Send + Sync + 'static
where
    C: Classifier<T, E> + Send + Sync + 'static,
{
    move |result| classifier.classify(result)
}

impl Registry {
    /// A tower layer guarding a service with the breaker, bulkhead and
    /// metrics of `name` (created on first use): see the [module](self)
    /// (feature `tower`).
    ///
    /// # Errors
    ///
    /// As [`breaker`](Self::breaker).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), warden_kit::tower::BoxError> {
    /// use tower::{Service, ServiceExt};
    /// use warden_kit::tower::HttpClassifier;
    /// let registry = warden_kit::Registry::builder().build()?;
    /// let mut svc = tower::ServiceBuilder::new()
    ///     .layer(registry.layer("api")?.classifier(HttpClassifier::new()))
    ///     .service_fn(|_req: ()| async {
    ///         Ok::<_, std::io::Error>(http::Response::builder().status(500).body(()).unwrap())
    ///     });
    /// let response = svc.ready().await?.call(()).await?;
    /// assert_eq!(response.status(), 500); // returned as is, counted as a failure
    /// assert_eq!(registry.list()[0].counts.total_failures, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn layer(&self, name: &str) -> Result<RegistryLayer, RegistryError> {
        Ok(self.breaker(name)?.layer())
    }
}

impl NamedBreaker {
    /// A tower layer guarding a service with this name's breaker, bulkhead
    /// and metrics: see [`Registry::layer`] (feature `tower`).
    ///
    /// ```
    /// let db = warden_kit::Registry::builder().build()?.breaker("db")?;
    /// let layer = db.layer();
    /// assert_eq!(layer.name(), "db");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn layer(&self) -> RegistryLayer {
        RegistryLayer {
            entry: Arc::clone(self.entry()),
            classifier: DefaultClassifier,
        }
    }
}

/// A tower [`Layer`] from a registry's name: see the [module](self).
#[derive(Clone)]
pub struct RegistryLayer<C = DefaultClassifier> {
    entry: Arc<Entry>,
    classifier: C,
}

impl<C> RegistryLayer<C> {
    /// Decides each response's outcome with `classifier` (default: `Err` is a
    /// failure).
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().build()?;
    /// let layer = r.layer("api")?.classifier(warden_kit::tower::HttpClassifier::new());
    /// # let _ = layer;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn classifier<D>(self, classifier: D) -> RegistryLayer<D> {
        RegistryLayer {
            entry: self.entry,
            classifier,
        }
    }

    /// The name.
    ///
    /// ```
    /// let r = warden_kit::Registry::builder().build()?;
    /// assert_eq!(r.layer("api")?.name(), "api");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(&self) -> &str {
        self.entry.breaker.name()
    }
}

impl<C: fmt::Debug> fmt::Debug for RegistryLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryLayer")
            .field("name", &self.name())
            .field("classifier", &self.classifier)
            .finish()
    }
}

impl<S, C: Clone> Layer<S> for RegistryLayer<C> {
    type Service = RegistryService<CircuitBreakerService<S, C>>;

    fn layer(&self, inner: S) -> Self::Service {
        RegistryService {
            inner: CircuitBreakerService::with_classifier(
                inner,
                Arc::clone(&self.entry.breaker),
                self.classifier.clone(),
            ),
            entry: Arc::clone(&self.entry),
        }
    }
}

/// The service [`RegistryLayer`] makes: the shutdown check and the bulkhead
/// around `inner` (the breaker's service).
#[derive(Clone)]
pub struct RegistryService<S> {
    inner: S,
    entry: Arc<Entry>,
}

impl<S> fmt::Debug for RegistryService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryService")
            .field("name", &self.entry.breaker.name())
            .finish_non_exhaustive()
    }
}

/// A bulkhead slot owned by a response future, given back on drop.
struct Slot(Arc<Entry>);

impl Drop for Slot {
    fn drop(&mut self) {
        // A slot was taken, so it is given back even if the limit changed since.
        self.0.bulkhead.give_back();
    }
}

impl<S, Req> Service<Req> for RegistryService<S>
where
    S: Service<Req, Error = BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let entry = &*self.entry;
        if entry.is_shut_down() {
            return ResponseFuture::failed(ExecuteError::Shutdown);
        }
        entry.mark_used();
        // No bulkhead: no slot, and no reference count touched per call.
        // The limit is read once: `Registry::reconfigure` may resize it meanwhile.
        let slot = match entry.bulkhead.max() {
            0 => None,
            max if entry.bulkhead.try_take_below(max) => Some(Slot(Arc::clone(&self.entry))),
            max => {
                entry.hooks.bulkhead_full();
                return ResponseFuture::failed(ExecuteError::BulkheadFull {
                    breaker: Arc::clone(&entry.name),
                    max_concurrent: max,
                });
            }
        };
        ResponseFuture {
            inner: Some(self.inner.call(req)),
            error: None,
            slot,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`RegistryService`]: the breaker's future, and
    /// the bulkhead slot until it finishes (or is dropped).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: Option<F>,
        error: Option<BoxError>,
        slot: Option<Slot>,
    }
}

impl<F> ResponseFuture<F> {
    #[cold]
    fn failed(error: ExecuteError<Infallible>) -> Self {
        ResponseFuture {
            inner: None,
            error: Some(Box::new(error)),
            slot: None,
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("refused", &self.inner.is_none())
            .finish_non_exhaustive()
    }
}

impl<F, T> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, BoxError>>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.inner.as_pin_mut() {
            Some(inner) => {
                let out = std::task::ready!(inner.poll(cx));
                // The call is over: its bulkhead slot goes back now, not when the
                // future is dropped.
                this.slot.take();
                Poll::Ready(out)
            }
            None => Poll::Ready(Err(this
                .error
                .take()
                .unwrap_or_else(|| Box::new(ExecuteError::<Infallible>::Shutdown)))),
        }
    }
}
