use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;
use warden_breaker::CircuitBreaker;

use crate::CircuitBreakerService;
use crate::body::EndOfBodyLayer;
use crate::classify::DefaultClassifier;

/// Wraps services in a [`CircuitBreakerService`] guarded by one shared breaker.
///
/// The layer holds configuration only: the breaker (in an `Arc`, shared by
/// every service it makes and by you, to read its state) and the
/// [`Classifier`](crate::classify::Classifier).
///
/// ```
/// use std::sync::Arc;
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
/// use warden_breaker::CircuitBreaker;
/// use warden_tower::CircuitBreakerLayer;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), warden_tower::BoxError> {
/// let breaker = Arc::new(CircuitBreaker::builder("echo").build()?);
/// let svc = ServiceBuilder::new()
///     .layer(CircuitBreakerLayer::new(breaker.clone()))
///     .service(service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x) }));
/// assert_eq!(svc.oneshot(7).await?, 7);
/// assert_eq!(breaker.counts().total_successes, 1);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct CircuitBreakerLayer<C = DefaultClassifier> {
    breaker: Arc<CircuitBreaker>,
    classifier: C,
}

impl CircuitBreakerLayer {
    /// A layer guarding with `breaker`, counting `Err` as failure
    /// ([`DefaultClassifier`]). Takes a `CircuitBreaker` or an
    /// `Arc<CircuitBreaker>` (keep a clone of the `Arc` to watch the breaker).
    ///
    /// ```
    /// let cb = warden_breaker::CircuitBreaker::builder("db").build()?;
    /// let layer = warden_tower::CircuitBreakerLayer::new(cb);
    /// assert_eq!(layer.breaker().name(), "db");
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn new(breaker: impl Into<Arc<CircuitBreaker>>) -> Self {
        CircuitBreakerLayer {
            breaker: breaker.into(),
            classifier: DefaultClassifier,
        }
    }
}

impl<C> CircuitBreakerLayer<C> {
    /// Replaces the classifier.
    ///
    /// ```
    /// use warden_tower::{CircuitBreakerLayer, classify::HttpClassifier};
    /// let cb = warden_breaker::CircuitBreaker::builder("api").build()?;
    /// let layer = CircuitBreakerLayer::new(cb).classifier(HttpClassifier::new());
    /// # let _ = layer;
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn classifier<D>(self, classifier: D) -> CircuitBreakerLayer<D> {
        CircuitBreakerLayer {
            breaker: self.breaker,
            classifier,
        }
    }

    /// The breaker the layer's services share.
    ///
    /// ```
    /// let layer = warden_tower::CircuitBreakerLayer::new(
    ///     warden_breaker::CircuitBreaker::builder("db").build()?,
    /// );
    /// assert_eq!(layer.breaker().state(), warden_breaker::State::Closed);
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn breaker(&self) -> &Arc<CircuitBreaker> {
        &self.breaker
    }

    /// For HTTP: record a successful response when its body ends (or fails)
    /// rather than when its head arrives, so a `200` whose body is cut off
    /// counts as a failure; see [`body`](crate::body).
    ///
    /// ```
    /// use warden_tower::{CircuitBreakerLayer, classify::HttpClassifier};
    /// let cb = warden_breaker::CircuitBreaker::builder("api").build()?;
    /// let layer = CircuitBreakerLayer::new(cb).classifier(HttpClassifier::new()).until_end_of_body();
    /// # let _ = layer;
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn until_end_of_body(self) -> EndOfBodyLayer<C> {
        EndOfBodyLayer::new(self.breaker, self.classifier)
    }
}

impl<S, C: Clone> Layer<S> for CircuitBreakerLayer<C> {
    type Service = CircuitBreakerService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService::with_classifier(inner, self.breaker.clone(), self.classifier.clone())
    }
}

impl<C: fmt::Debug> fmt::Debug for CircuitBreakerLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerLayer")
            .field("breaker", &self.breaker.name())
            .field("classifier", &self.classifier)
            .finish()
    }
}
