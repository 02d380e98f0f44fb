//! How the middleware holds its breaker, and the permit a response keeps.
//!
//! A layer, its services and their futures are generic over the breaker's
//! [`Holder`], one of two types:
//!
//! * `Arc<CircuitBreaker>`, from [`CircuitBreakerLayer::new`](crate::CircuitBreakerLayer::new)
//!   (the default type parameter): every admitted call's future keeps the
//!   breaker alive with an [`OwnedPermit`], one increment and one decrement of
//!   the `Arc`'s count per call. That count is one cache line for every thread
//!   calling through clones of the service, so under load the threads take
//!   turns owning it.
//! * `&'static CircuitBreaker`, from
//!   [`CircuitBreakerLayer::from_static`](crate::CircuitBreakerLayer::from_static)
//!   (a `static`, a `OnceLock`, or `Box::leak` of a breaker that lives as long
//!   as the program): its futures carry the core's borrowed
//!   [`Permit<'static>`](Permit), three words and no count, and a closed call
//!   touches only the breaker's own per-thread lines.
//!
//! Being a type rather than a run-time choice, the holder costs nothing per
//! call: a `from_static` service has no `Arc` code in it and no branch on how
//! the breaker is held, which keeps its `call` and its future's `poll` small
//! enough for the compiler to inline into the caller.
//!
//! Both traits are sealed: only those two holders and their permits implement them.
//!
//! ```
//! use std::sync::{Arc, OnceLock};
//! use tower::Layer;
//! use warden_breaker::CircuitBreaker;
//! use warden_tower::{CircuitBreakerService, CircuitBreakerLayer, classify::DefaultClassifier};
//!
//! static DB: OnceLock<CircuitBreaker> = OnceLock::new();
//! let db = DB.get_or_init(|| CircuitBreaker::builder("db").build().expect("valid settings"));
//! let fast: CircuitBreakerService<(), DefaultClassifier, &'static CircuitBreaker> =
//!     CircuitBreakerLayer::from_static(db).layer(());
//! let shared: CircuitBreakerService<()> =
//!     CircuitBreakerLayer::new(Arc::new(CircuitBreaker::builder("api").build()?)).layer(());
//! assert_eq!((fast.breaker().name(), shared.breaker().name()), ("db", "api"));
//! # Ok::<(), warden_breaker::ConfigError>(())
//! ```

use std::fmt;
use std::sync::Arc;

use warden_breaker::{CircuitBreaker, Outcome, OwnedPermit, Permit, Rejected};

mod sealed {
    /// Keeps [`Holder`](super::Holder) and [`HeldPermit`](super::HeldPermit)
    /// to this crate's implementations.
    #[allow(unreachable_pub)] // public in a private module: the sealed-trait pattern
    pub trait Sealed {}
}

/// How a layer, service or future holds its breaker: `Arc<CircuitBreaker>` or
/// `&'static CircuitBreaker` (see the [module docs](self)). Sealed.
pub trait Holder: Clone + sealed::Sealed {
    /// The permit an admitted call's future keeps until the call's outcome is
    /// known: [`OwnedPermit`] for an `Arc`, [`Permit<'static>`](Permit) for a
    /// `&'static`.
    type Permit: HeldPermit;

    /// The breaker.
    ///
    /// ```
    /// use warden_tower::holder::Holder;
    /// let cb: &'static _ = Box::leak(Box::new(warden_breaker::CircuitBreaker::builder("db").build()?));
    /// assert_eq!(Holder::breaker(&cb).name(), "db");
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    fn breaker(&self) -> &CircuitBreaker;

    /// Asks the breaker for admission: [`CircuitBreaker::try_acquire_owned`]
    /// for an `Arc`, [`CircuitBreaker::try_acquire`] for a `&'static`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use warden_tower::holder::Holder;
    /// let cb = Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?);
    /// cb.acquire()?.record(warden_breaker::Outcome::Success);
    /// assert_eq!(cb.counts().total_successes, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn acquire(&self) -> Result<Self::Permit, Rejected>;
}

/// The permit of one admitted call, kept by its future (or its response body):
/// [`OwnedPermit`] or [`Permit<'static>`](Permit). Same rules as the core's
/// permits: dropped unreported it records what their drop does (a failure
/// while panicking, else the half-open slot given back). Sealed.
pub trait HeldPermit: fmt::Debug + sealed::Sealed {
    /// Records `outcome` for the admitted call.
    ///
    /// ```
    /// use warden_tower::holder::HeldPermit;
    /// let cb = warden_breaker::CircuitBreaker::builder("db").build()?;
    /// HeldPermit::record(cb.try_acquire()?, warden_breaker::Outcome::Failure);
    /// assert_eq!(cb.counts().total_failures, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn record(self, outcome: Outcome);
}

impl sealed::Sealed for Arc<CircuitBreaker> {}

impl Holder for Arc<CircuitBreaker> {
    type Permit = OwnedPermit;

    #[inline]
    fn breaker(&self) -> &CircuitBreaker {
        self
    }

    #[inline]
    fn acquire(&self) -> Result<OwnedPermit, Rejected> {
        self.try_acquire_owned()
    }
}

impl sealed::Sealed for &'static CircuitBreaker {}

impl Holder for &'static CircuitBreaker {
    type Permit = Permit<'static>;

    #[inline]
    fn breaker(&self) -> &CircuitBreaker {
        self
    }

    #[inline]
    fn acquire(&self) -> Result<Permit<'static>, Rejected> {
        self.try_acquire()
    }
}

impl sealed::Sealed for OwnedPermit {}

impl HeldPermit for OwnedPermit {
    #[inline]
    fn record(self, outcome: Outcome) {
        OwnedPermit::record(self, outcome);
    }
}

impl sealed::Sealed for Permit<'_> {}

impl HeldPermit for Permit<'_> {
    #[inline]
    fn record(self, outcome: Outcome) {
        Permit::record(self, outcome);
    }
}
