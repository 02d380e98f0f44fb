use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;
use warden_breaker::CircuitBreaker;

use crate::CircuitBreakerService;
use crate::body::EndOfBodyLayer;
use crate::classify::DefaultClassifier;
use crate::holder::Holder;

/// Wraps services in a [`CircuitBreakerService`] guarded by one shared breaker.
///
/// The layer holds configuration only: the breaker (shared by every service
/// it makes and by you, to read its state) and the
/// [`Classifier`](crate::classify::Classifier).
///
/// # `Arc` or `&'static`
///
/// [`new`](Self::new) shares the breaker through an `Arc`: each admitted
/// call's future holds a clone, so the breaker lives as long as any request
/// still in flight. That costs two atomic read-modify-writes per call on the
/// `Arc`'s count, one cache line that every thread calling through this
/// layer writes: cheap on one thread, a line the threads pass back and forth
/// when several call at once. [`from_static`](Self::from_static) takes a
/// breaker that lives for the rest of the program (a `static` with
/// `OnceLock`, or `Box::leak`): calls borrow it and count nothing, so a closed
/// call writes only the breaker's own per-thread counters and its cost stays
/// flat as threads are added. Use it for breakers made once at start-up, the
/// usual case; keep `new` for breakers made and dropped while the program
/// runs (a leaked breaker's memory is never given back). Both behave the same
/// in every other way. How the breaker is held is the layer's type parameter
/// `H` (`Arc<CircuitBreaker>`, the default, or `&'static CircuitBreaker`; see
/// [`holder`](crate::holder)), so neither pays for the other at run time.
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
pub struct CircuitBreakerLayer<C = DefaultClassifier, H = Arc<CircuitBreaker>> {
    breaker: H,
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

    /// A layer guarding with a breaker that lives for the rest of the
    /// program, counting `Err` as failure. Calls borrow the breaker rather
    /// than clone an `Arc` of it, which takes the one cache line all threads
    /// would write out of every call (see [`CircuitBreakerLayer`]). The layer
    /// is a `CircuitBreakerLayer<_, &'static CircuitBreaker>`, its services
    /// `CircuitBreakerService<_, _, &'static CircuitBreaker>`.
    ///
    /// ```
    /// use std::sync::OnceLock;
    /// use tower::{ServiceBuilder, ServiceExt, service_fn};
    /// use warden_breaker::CircuitBreaker;
    /// use warden_tower::CircuitBreakerLayer;
    ///
    /// static BILLING: OnceLock<CircuitBreaker> = OnceLock::new();
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), warden_tower::BoxError> {
    /// let billing = BILLING.get_or_init(|| {
    ///     CircuitBreaker::builder("billing").build().expect("valid settings")
    /// });
    /// let svc = ServiceBuilder::new()
    ///     .layer(CircuitBreakerLayer::from_static(billing))
    ///     .service(service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x) }));
    /// assert_eq!(svc.oneshot(7).await?, 7);
    /// assert_eq!(billing.counts().total_successes, 1);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// A breaker built at run time (from a configuration file, say) can be
    /// leaked once: `CircuitBreakerLayer::from_static(Box::leak(Box::new(cb)))`.
    pub fn from_static(
        breaker: &'static CircuitBreaker,
    ) -> CircuitBreakerLayer<DefaultClassifier, &'static CircuitBreaker> {
        CircuitBreakerLayer {
            breaker,
            classifier: DefaultClassifier,
        }
    }
}

impl<C, H: Holder> CircuitBreakerLayer<C, H> {
    /// Replaces the classifier.
    ///
    /// ```
    /// use warden_tower::{CircuitBreakerLayer, classify::HttpClassifier};
    /// let cb = warden_breaker::CircuitBreaker::builder("api").build()?;
    /// let layer = CircuitBreakerLayer::new(cb).classifier(HttpClassifier::new());
    /// # let _ = layer;
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn classifier<D>(self, classifier: D) -> CircuitBreakerLayer<D, H> {
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
    pub fn breaker(&self) -> &CircuitBreaker {
        self.breaker.breaker()
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
    pub fn until_end_of_body(self) -> EndOfBodyLayer<C, H> {
        EndOfBodyLayer::new(self.breaker, self.classifier)
    }
}

impl<S, C: Clone, H: Holder> Layer<S> for CircuitBreakerLayer<C, H> {
    type Service = CircuitBreakerService<S, C, H>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService::with_holder(inner, self.breaker.clone(), self.classifier.clone())
    }
}

impl<C: fmt::Debug, H: Holder> fmt::Debug for CircuitBreakerLayer<C, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerLayer")
            .field("breaker", &self.breaker.breaker().name())
            .field("classifier", &self.classifier)
            .finish()
    }
}
