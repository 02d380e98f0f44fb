//! How the middleware holds its breaker, and the permit a response carries.
//!
//! A breaker given as an `Arc` is shared by counting: every admitted call's
//! future keeps the breaker alive with an [`OwnedPermit`], one increment and
//! one decrement of the `Arc`'s count per call. That count is one cache line
//! for every thread calling through clones of the service, so under load two
//! threads take turns owning it. A breaker given as `&'static` (a `static`, a
//! `OnceLock`, or `Box::leak` of a breaker that lives as long as the program)
//! needs no count: its futures carry the core's borrowed [`Permit<'static>`],
//! and a closed call touches only the breaker's own per-thread lines.

use std::fmt;
use std::sync::Arc;

use warden_breaker::{CircuitBreaker, Outcome, OwnedPermit, Permit, Rejected};

/// The breaker a layer, service or body holds.
#[derive(Clone)]
pub(crate) enum Handle {
    /// Kept alive by reference counting: each admitted call clones the `Arc`.
    Shared(Arc<CircuitBreaker>),
    /// Lives for the rest of the program: calls borrow it.
    Static(&'static CircuitBreaker),
}

impl Handle {
    #[inline]
    pub(crate) fn get(&self) -> &CircuitBreaker {
        match self {
            Handle::Shared(arc) => arc,
            Handle::Static(breaker) => breaker,
        }
    }

    /// Asks the breaker for admission; the permit can outlive `self`.
    #[inline]
    pub(crate) fn acquire(&self) -> Result<Admitted, Rejected> {
        match self {
            Handle::Shared(arc) => arc.try_acquire_owned().map(Admitted::Owned),
            Handle::Static(breaker) => breaker.try_acquire().map(Admitted::Borrowed),
        }
    }
}

/// The permit of one admitted call, `'static` either way. Same rules as the
/// core's permits: dropped unreported it records what the core's drop does
/// (a failure while panicking, else the half-open slot given back).
pub(crate) enum Admitted {
    Owned(OwnedPermit),
    Borrowed(Permit<'static>),
}

impl Admitted {
    #[inline]
    pub(crate) fn record(self, outcome: Outcome) {
        match self {
            Admitted::Owned(p) => p.record(outcome),
            Admitted::Borrowed(p) => p.record(outcome),
        }
    }
}

impl fmt::Debug for Admitted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Admitted::Owned(p) => p.fmt(f),
            Admitted::Borrowed(p) => p.fmt(f),
        }
    }
}
