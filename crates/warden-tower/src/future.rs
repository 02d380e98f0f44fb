//! Future types.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use warden_breaker::{Outcome, OwnedPermit, Rejected};

use crate::BoxError;
use crate::classify::Classifier;
use crate::holder::HeldPermit;

pin_project! {
    /// Response future of [`CircuitBreakerService`](crate::CircuitBreakerService).
    ///
    /// Holds the call's permit until the inner future finishes, then records the
    /// classifier's outcome. Dropped before that (a cancelled request, a
    /// `tokio::time::timeout` that fired), it drops the permit unreported, which
    /// gives a half-open probe slot back. If the inner future (or the
    /// classifier) panics, the permit records a failure as the panic unwinds
    /// through `poll`, wherever the panic is caught: by the runtime, or by a
    /// `catch_unwind` around this future (tower-http's `CatchPanicLayer`),
    /// which then keeps the future without its permit.
    ///
    /// Once it has the inner future's result, the future drops the inner
    /// future, records the outcome and returns the result; polled again after
    /// that, it panics (as `std::future::Ready` does). A rejected call's
    /// future returns its rejection every time it is polled.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tower::{Service, ServiceExt, service_fn};
    /// use warden_breaker::CircuitBreaker;
    /// use warden_tower::CircuitBreakerService;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), warden_tower::BoxError> {
    /// let cb = Arc::new(CircuitBreaker::builder("db").build()?);
    /// let mut svc = CircuitBreakerService::new(
    ///     service_fn(|()| std::future::pending::<Result<(), std::io::Error>>()),
    ///     cb.clone(),
    /// );
    /// let fut = svc.ready().await?.call(());
    /// assert_eq!(cb.counts().requests, 1);
    /// drop(fut); // cancelled: no outcome recorded
    /// assert_eq!(cb.counts().total_failures + cb.counts().total_successes, 0);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// `P` is the permit: [`OwnedPermit`] for a breaker in an `Arc` (the
    /// default), `Permit<'static>` for one from `from_static` (see
    /// [`holder`](crate::holder)).
    pub struct ResponseFuture<F, C, P = OwnedPermit> {
        #[pin]
        state: ResponseState<F, C, P>,
    }
}

pin_project! {
    #[project = ResponseStateProj]
    #[project_replace = ResponseStateReplace]
    enum ResponseState<F, C, P> {
        Called {
            #[pin]
            fut: F,
            // `None` once a panic in `fut` recorded a failure.
            permit: Option<P>,
            classifier: C,
        },
        // A refused call: the rejection, then zeros. The compiler merges the two
        // arms of `call` into one set of words moved into the caller's `.await`,
        // so every word the admitted arm writes should be written by the refused
        // arm too: a word left unwritten there (the rejection in one word, or a
        // payload-less state per rejection) made the merged word keep the
        // previous call's value, which went through a stack slot on every call
        // (callgrind, `benches/examples/tower_batches.rs`: `from_static` 117 ->
        // 111 instructions a call). With the inner service's future in two words
        // (a ready one) and the permit's three, these four words fill the state.
        Refused {
            kind: Refusal,
            zero: [usize; 3],
        },
        // The result was returned (and its outcome recorded).
        Done,
    }
}

impl<F, C, P> ResponseFuture<F, C, P> {
    #[inline]
    pub(crate) fn called(fut: F, permit: P, classifier: C) -> Self {
        ResponseFuture {
            state: ResponseState::Called {
                fut,
                permit: Some(permit),
                classifier,
            },
        }
    }

    #[inline]
    pub(crate) fn rejected(kind: Rejected) -> Self {
        ResponseFuture {
            state: ResponseState::Refused {
                kind: kind.into(),
                zero: [0; 3],
            },
        }
    }
}

impl<F, C, P, T, E> Future for ResponseFuture<F, C, P>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    C: Classifier<T, E>,
    P: HeldPermit,
{
    type Output = Result<T, BoxError>;

    // Always inlined: with `#[inline]` alone the compiler kept it a call from the
    // caller's future for the `from_static` layer (bigger than the bare service's
    // future, which it inlines), which cost 21 of the 150 instructions of a guarded
    // call (callgrind, `benches/examples/tower_batches.rs`: 150 -> 129 per call,
    // `Arc` 176 -> 165; short batches 2026-12-06 19:27 UTC: 5.5-5.7 -> 4.4 ns over
    // the bare service at one thread).
    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        if let ResponseStateProj::Called { fut, permit, .. } = state.as_mut().project() {
            let result = ready!(poll_guarded(|cx| fut.poll(cx), permit, cx));
            // The permit and the classifier leave in the move that marks the
            // future done: no `None` written back for the permit, and the
            // caller's drop of the finished future has no permit to look at.
            if let ResponseStateReplace::Called {
                permit: Some(permit),
                classifier,
                ..
            } = state.project_replace(ResponseState::Done)
            {
                // If the classifier panics, the permit drops while panicking: a failure.
                permit.record(classifier.classify(&result));
            }
            return Poll::Ready(match result {
                Ok(response) => Ok(response),
                Err(e) => Err(box_error(e)),
            });
        }
        // One test of the state on the admitted path; which refusal it was is
        // read out of line.
        Poll::Ready(Err(refusal(&state)))
    }
}

/// The error of a rejected call's future: the breaker's rejection, boxed.
#[cold]
#[inline(never)]
fn refusal<F, C, P>(state: &ResponseState<F, C, P>) -> BoxError {
    crate::error::boxed(match state {
        ResponseState::Refused { kind, .. } => (*kind).into(),
        // `Called` never comes here (`poll` returns before).
        ResponseState::Called { .. } | ResponseState::Done => polled_after_done(),
    })
}

/// A finished future polled again: a broken `Future` contract, as std's
/// futures answer it.
#[cold]
#[inline(never)]
fn polled_after_done() -> ! {
    panic!("`ResponseFuture` polled after it returned its result")
}

/// Boxes an error of the inner service. Out of line: the error path allocates
/// anyway, and inline its code sat in every admitted call's `poll`.
#[cold]
#[inline(never)]
pub(crate) fn box_error<E: Into<BoxError>>(e: E) -> BoxError {
    e.into()
}

/// A rejection kept in a whole word. Kept as the one-byte [`Rejected`], it left
/// seven bytes of padding in the second word of the future, and every move of
/// the future (from `call` into the caller's `.await`) copied that word in four
/// pieces: four instructions per call, admitted or not.
#[derive(Clone, Copy)]
#[repr(u64)]
pub(crate) enum Refusal {
    Open,
    TooManyRequests,
    Throttled,
}

impl From<Rejected> for Refusal {
    #[inline]
    fn from(r: Rejected) -> Self {
        match r {
            Rejected::Open => Refusal::Open,
            Rejected::TooManyRequests => Refusal::TooManyRequests,
            Rejected::Throttled => Refusal::Throttled,
        }
    }
}

impl From<Refusal> for Rejected {
    #[inline]
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Open => Rejected::Open,
            Refusal::TooManyRequests => Rejected::TooManyRequests,
            Refusal::Throttled => Rejected::Throttled,
        }
    }
}

/// Polls `poll`, recording a failure with `permit` if it panics.
///
/// The failure is recorded while the panic unwinds through this call: the
/// permit must not wait for its future (or body) to be dropped, which a
/// `catch_unwind` around it does only later, if ever. When `poll` returns, the
/// guard is forgotten rather than dropped, so the normal path costs nothing,
/// not even a look at std's panic count.
#[inline]
pub(crate) fn poll_guarded<T, P: HeldPermit>(
    poll: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    permit: &mut Option<P>,
    cx: &mut Context<'_>,
) -> Poll<T> {
    let guard = FailOnPanic(permit);
    let out = poll(cx);
    std::mem::forget(guard);
    out
}

/// Records a failure with the permit when dropped. Only [`poll_guarded`]
/// makes one, and forgets it unless a panic unwinds through it.
struct FailOnPanic<'a, P: HeldPermit>(&'a mut Option<P>);

impl<P: HeldPermit> Drop for FailOnPanic<'_, P> {
    #[cold]
    fn drop(&mut self) {
        if let Some(permit) = self.0.take() {
            permit.record(Outcome::Failure);
        }
    }
}

impl<F, C, P: fmt::Debug> fmt::Debug for ResponseFuture<F, C, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ResponseFuture");
        match &self.state {
            ResponseState::Called { permit, .. } => d.field("permit", permit),
            ResponseState::Refused { kind, .. } => d.field("rejected", &Rejected::from(*kind)),
            ResponseState::Done => d.field("done", &true),
        }
        .finish()
    }
}
