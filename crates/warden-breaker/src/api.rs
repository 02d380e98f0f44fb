//! [`Breaker`]: the surface shared by the lock-free breaker and the mutex
//! reference (`warden-mutex`), so tests, fuzzers and benches drive both with
//! one generic harness.

use crate::{CircuitBreaker, Counts, Error, Outcome, OwnedPermit, Permit, Rejected, State};

/// A permit of some [`Breaker`].
///
/// ```
/// use warden_breaker::{BreakerPermit, CircuitBreaker, Outcome};
/// fn finish(p: impl BreakerPermit, ok: bool) {
///     p.record(if ok { Outcome::Success } else { Outcome::Failure });
/// }
/// let cb = CircuitBreaker::builder("x").build()?;
/// finish(cb.try_acquire()?, true);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait BreakerPermit {
    /// Records the call's outcome, consuming the permit.
    fn record(self, outcome: Outcome);
}

impl BreakerPermit for Permit<'_> {
    #[inline]
    fn record(self, outcome: Outcome) {
        Permit::record(self, outcome)
    }
}

impl BreakerPermit for OwnedPermit {
    #[inline]
    fn record(self, outcome: Outcome) {
        OwnedPermit::record(self, outcome)
    }
}

/// A circuit breaker with gobreaker's semantics.
///
/// ```
/// use warden_breaker::{Breaker, CircuitBreaker};
/// fn guarded<B: Breaker>(b: &B) -> bool {
///     b.call(|| Ok::<_, ()>(())).is_ok()
/// }
/// assert!(guarded(&CircuitBreaker::builder("x").build()?));
/// # Ok::<(), warden_breaker::ConfigError>(())
/// ```
pub trait Breaker: Send + Sync {
    /// The two-step permit.
    type Permit<'a>: BreakerPermit
    where
        Self: 'a;

    /// The breaker's name.
    fn name(&self) -> &str;
    /// The state, after any transition that is due.
    fn state(&self) -> State;
    /// Counts of the current generation (no time evaluation).
    fn counts(&self) -> Counts;
    /// Asks for admission.
    fn try_acquire(&self) -> Result<Self::Permit<'_>, Rejected>;

    /// Runs `f` if admitted, classifying the result with `classify`.
    #[inline]
    fn call_with<T, E, F, C>(&self, f: F, classify: C) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Result<T, E>,
        C: FnOnce(&Result<T, E>) -> Outcome,
    {
        let permit = self.try_acquire()?;
        let result = f();
        permit.record(classify(&result));
        result.map_err(Error::Inner)
    }

    /// Runs `f` if admitted; `Err` is a failure.
    #[inline]
    fn call<T, E, F>(&self, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Result<T, E>,
    {
        self.call_with(f, |r| {
            if r.is_ok() {
                Outcome::Success
            } else {
                Outcome::Failure
            }
        })
    }
}

impl Breaker for CircuitBreaker {
    type Permit<'a> = Permit<'a>;

    #[inline]
    fn name(&self) -> &str {
        CircuitBreaker::name(self)
    }
    #[inline]
    fn state(&self) -> State {
        CircuitBreaker::state(self)
    }
    #[inline]
    fn counts(&self) -> Counts {
        CircuitBreaker::counts(self)
    }
    #[inline]
    fn try_acquire(&self) -> Result<Permit<'_>, Rejected> {
        CircuitBreaker::try_acquire(self)
    }
}
