//! A [`tower::retry::Policy`] built from a [`warden_retry::RetryPolicy`].
//!
//! [`WardenPolicy`] makes `tower::retry::Retry` follow a warden retry policy:
//! its attempt limit, its backoff and jitter, its time limit, its `retry_if`,
//! its shared [`RetryBudget`](warden_retry::RetryBudget) and its rule for
//! breaker rejections.
//!
//! * **Which results are retried.** A [`Classifier`] says which results are
//!   failed attempts (default: every `Err`; [`HttpClassifier`] adds `5xx`
//!   responses). A failed attempt whose error the policy's `retry_if` refuses is
//!   not retried (responses have no error, so only the classifier sees them).
//! * **Breaker rejections** ([`warden_breaker::Rejected`], found by [`error::rejection`] in a
//!   [`BoxError`], which is what a [`CircuitBreakerLayer`]
//!   below the retry returns) end the request at once, unless the policy
//!   [retries rejections](warden_retry::RetryPolicyBuilder::retry_rejections):
//!   retrying into an open breaker only adds load.
//! * **Waits** are the policy's [`delays`](warden_retry::RetryPolicy::delays):
//!   retry `k` waits the `k`-th of them, on tokio's timer, drawn from a
//!   [`warden_retry::DelayCursor`] each request keeps (O(1) per
//!   retry). A zero wait does not touch the timer but yields to the runtime
//!   once, so a run of instant failures never holds the thread: a surrounding
//!   timeout or `select!` fires on time. With
//!   [`rng_seed`](warden_retry::RetryPolicyBuilder::rng_seed) the waits are
//!   exactly those of a `warden_retry` run.
//! * **Budget**: only attempts that reached the downstream count. A request
//!   deposits once, when its first attempt comes back with anything but a
//!   breaker rejection; each retry withdraws, and a refused withdrawal returns
//!   the last result as is. The token comes back if that retry is rejected by
//!   the breaker or never made (the request dropped while waiting). A request
//!   that cannot be retried (not cloned) is never seen again by the policy and
//!   pays nothing in.
//! * **Time limit**: with `max_elapsed`, a retry whose wait would end past the
//!   limit (from the first attempt) is not made.
//! * **Only idempotent HTTP requests are retried by default**: a
//!   [`CloneRequest`] hook decides which requests are copied for a retry.
//!   [`CloneIdempotent`] (default) clones `http::Request`s whose method is
//!   `GET`, `HEAD`, `OPTIONS`, `TRACE`, `PUT` or `DELETE`, so a `POST /charge`
//!   is sent once. Opt in to more explicitly: [`CloneAll`] clones any `Clone`
//!   request (every method, and non-HTTP requests), a closure anything else
//!   (a `POST` carrying an idempotency key, say). A request the hook returns
//!   `None` for is sent once and never retried.
//!
//! The policy's `on_retry` hook and observer are not called: they belong to
//! `warden_retry`'s own loop.
//!
//! When the retries run out, tower returns the last result: a `5xx` response
//! stays a response. If the breaker below opens between two attempts, the
//! last result is its rejection ([`warden_breaker::Rejected::Open`]), not the earlier `5xx`:
//! tower hands the policy each result by `&mut` and drops it when a retry
//! follows, and a policy cannot keep a response of any type without a
//! placeholder to put in its stead. Map the rejection to `503` (see
//! [`error::rejection`]).
//!
//! ```
//! use std::time::Duration;
//! use tower::{ServiceBuilder, ServiceExt};
//! use warden_retry::RetryPolicy;
//! use warden_tower::retry::{CloneAll, WardenPolicy};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let policy = RetryPolicy::builder()
//!     .max_attempts(3)
//!     .base_delay(Duration::ZERO)
//!     .retry_if(|e: &&str| *e != "bad request")
//!     .build()?;
//! let calls = std::sync::atomic::AtomicU32::new(0);
//! let svc = ServiceBuilder::new()
//!     // Not HTTP: every request may be retried, so say so.
//!     .retry(WardenPolicy::new(policy).clone_requests(CloneAll))
//!     .service_fn(|_: ()| {
//!         let n = calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
//!         async move { if n < 2 { Err("flaky") } else { Ok(n) } }
//!     });
//! assert_eq!(svc.oneshot(()).await, Ok(2)); // two retries
//! # Ok(())
//! # }
//! ```
//!
//! [`CircuitBreakerLayer`]: crate::CircuitBreakerLayer

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use warden_breaker::{Outcome, Rejected};
use warden_retry::{DelayCursor, RetryPolicy, Withdrawal};

use crate::BoxError;
use crate::classify::{Classifier, DefaultClassifier};
use crate::error;

#[cfg(doc)]
use crate::classify::HttpClassifier;

/// Makes the copy of a request that a retry will send, or declines to.
///
/// Implemented by [`CloneAll`], [`CloneIdempotent`] (HTTP requests only) and
/// closures `Fn(&Req) -> Option<Req>`.
///
/// ```
/// use warden_tower::retry::CloneRequest;
/// // Retry only requests that carry an idempotency key.
/// let keyed = |req: &http::Request<String>| {
///     req.headers().contains_key("idempotency-key").then(|| req.clone())
/// };
/// let req = http::Request::post("/pay").body(String::new()).unwrap();
/// assert!(keyed.clone_request(&req).is_none());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot copy a `{Req}` for a retry",
    note = "`WardenPolicy::new` retries only `http::Request`s with an idempotent method; \
            for other requests choose explicitly, e.g. `.clone_requests(CloneAll)`"
)]
pub trait CloneRequest<Req> {
    /// A copy of `req` to send again, or `None` if it must not be retried.
    fn clone_request(&self, req: &Req) -> Option<Req>;
}

impl<Req, F> CloneRequest<Req> for F
where
    F: Fn(&Req) -> Option<Req>,
{
    fn clone_request(&self, req: &Req) -> Option<Req> {
        self(req)
    }
}

/// Clones every request that is `Clone`: the explicit opt-in to retrying
/// every HTTP method (a `POST` included) and the choice for non-HTTP requests.
/// For HTTP, `http::Request<B>` with a cloneable body, such as `Full<Bytes>`
/// or `Empty<Bytes>`; a streaming `Incoming` body is not, and does not
/// compile here.
///
/// ```
/// use warden_tower::retry::{CloneAll, CloneRequest};
/// assert_eq!(CloneAll.clone_request(&"ping"), Some("ping"));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CloneAll;

impl<Req: Clone> CloneRequest<Req> for CloneAll {
    fn clone_request(&self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

/// Clones HTTP requests whose method is idempotent (`GET`, `HEAD`, `PUT`,
/// `DELETE`, `OPTIONS`, `TRACE`) and declines the rest, so a `POST` is never
/// sent twice. The default of [`WardenPolicy::new`].
///
/// ```
/// use warden_tower::retry::{CloneIdempotent, CloneRequest};
/// let get = http::Request::get("/a").body(()).unwrap();
/// let post = http::Request::post("/a").body(()).unwrap();
/// assert!(CloneIdempotent.clone_request(&get).is_some());
/// assert!(CloneIdempotent.clone_request(&post).is_none());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CloneIdempotent;

impl<B: Clone> CloneRequest<http::Request<B>> for CloneIdempotent {
    fn clone_request(&self, req: &http::Request<B>) -> Option<http::Request<B>> {
        req.method().is_idempotent().then(|| req.clone())
    }
}

/// A [`tower::retry::Policy`] following a [`warden_retry::RetryPolicy`]; see
/// the [module docs](self) for the rules.
///
/// `E` is the error type of the service it retries (for a retry above a
/// [`CircuitBreakerLayer`](crate::CircuitBreakerLayer), [`BoxError`]); the
/// policy's `retry_if` sees it. `K` classifies results, `R` clones requests.
///
/// tower clones the policy for every request: the clone carries the request's
/// retry count, its delay cursor and its unspent budget token; the warden
/// policy itself is shared through an `Arc`.
///
/// ```
/// use std::time::Duration;
/// use warden_retry::RetryPolicy;
/// use warden_tower::{BoxError, classify::HttpClassifier, retry::{CloneIdempotent, WardenPolicy}};
///
/// let policy = RetryPolicy::<BoxError>::builder()
///     .max_attempts(3)
///     .base_delay(Duration::from_millis(50))
///     .build()?;
/// let retry = WardenPolicy::new(policy)
///     .classifier(HttpClassifier::new())
///     .clone_requests(CloneIdempotent);
/// let layer = tower::retry::RetryLayer::new(retry);
/// # let _ = layer;
/// # Ok::<(), warden_retry::ConfigError>(())
/// ```
pub struct WardenPolicy<E, K = DefaultClassifier, R = CloneIdempotent> {
    policy: Arc<RetryPolicy<E>>,
    classifier: K,
    cloner: R,
    /// Retries granted to this request so far. Always 0 in the policy the
    /// `Retry` service keeps: tower calls `retry` only on per-request clones.
    retries: u32,
    /// When the request's first attempt started (kept only with a time limit).
    started: Option<Instant>,
    /// This request's waits. In a `Mutex` only to keep the policy `Sync` (the
    /// RNG inside is `Send` only); reached through `&mut`, never locked.
    delays: Mutex<DelayCursor>,
    /// The request deposited into the budget.
    deposited: bool,
    /// The token paid for the granted retry, while it waits to be sent.
    unspent: Option<Unspent>,
    /// The token paid for the attempt in flight, until its result says
    /// whether it reached the downstream.
    in_flight: Option<Unspent>,
}

impl<E> WardenPolicy<E> {
    /// Follows `policy`; every `Err` is a failed attempt ([`DefaultClassifier`]),
    /// and only HTTP requests with an idempotent method are retried
    /// ([`CloneIdempotent`]; see [`clone_requests`](Self::clone_requests) for
    /// others). Takes a `RetryPolicy` or an `Arc` of one.
    ///
    /// ```
    /// let p = warden_tower::retry::WardenPolicy::new(warden_retry::RetryPolicy::<()>::default());
    /// assert_eq!(p.policy().max_attempts(), Some(3));
    /// ```
    pub fn new(policy: impl Into<Arc<RetryPolicy<E>>>) -> Self {
        WardenPolicy {
            policy: policy.into(),
            classifier: DefaultClassifier,
            cloner: CloneIdempotent,
            retries: 0,
            started: None,
            delays: Mutex::new(DelayCursor::new()),
            deposited: false,
            unspent: None,
            in_flight: None,
        }
    }
}

impl<E, K, R> WardenPolicy<E, K, R> {
    /// Replaces the classifier that says which results are failed attempts
    /// ([`Outcome::Failure`]); [`HttpClassifier`] retries `5xx` responses too.
    ///
    /// ```
    /// use warden_tower::{classify::HttpClassifier, retry::WardenPolicy};
    /// let p = WardenPolicy::new(warden_retry::RetryPolicy::<()>::default())
    ///     .classifier(HttpClassifier::new());
    /// # let _ = p;
    /// ```
    pub fn classifier<K2>(self, classifier: K2) -> WardenPolicy<E, K2, R> {
        WardenPolicy {
            policy: self.policy,
            classifier,
            cloner: self.cloner,
            retries: self.retries,
            started: self.started,
            delays: self.delays,
            deposited: self.deposited,
            unspent: self.unspent,
            in_flight: self.in_flight,
        }
    }

    /// Replaces the hook that clones requests for retries.
    ///
    /// ```
    /// use warden_tower::retry::{CloneIdempotent, WardenPolicy};
    /// let p = WardenPolicy::new(warden_retry::RetryPolicy::<()>::default())
    ///     .clone_requests(CloneIdempotent);
    /// # let _ = p;
    /// ```
    pub fn clone_requests<R2>(self, cloner: R2) -> WardenPolicy<E, K, R2> {
        WardenPolicy {
            policy: self.policy,
            classifier: self.classifier,
            cloner,
            retries: self.retries,
            started: self.started,
            delays: self.delays,
            deposited: self.deposited,
            unspent: self.unspent,
            in_flight: self.in_flight,
        }
    }

    /// The warden retry policy followed.
    ///
    /// ```
    /// let p = warden_tower::retry::WardenPolicy::new(warden_retry::RetryPolicy::<()>::default());
    /// assert!(p.policy().budget().is_none());
    /// ```
    pub fn policy(&self) -> &Arc<RetryPolicy<E>> {
        &self.policy
    }

    /// The wait before this request's next retry: the next of the policy's
    /// own delay sequence (so a seeded policy gives a run's exact waits).
    fn next_wait(&mut self) -> Duration {
        self.delays
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .next_wait(&self.policy)
    }
}

/// A budget token paid for a retry that is not yet known to have reached the
/// downstream: dropped, it is given back; [`keep`](Self::keep) spends it.
struct Unspent {
    budget: Arc<warden_retry::RetryBudget>,
    receipt: Option<Withdrawal>,
}

impl Unspent {
    fn keep(mut self) {
        self.receipt = None;
    }
}

impl Drop for Unspent {
    fn drop(&mut self) {
        if let Some(receipt) = self.receipt.take() {
            self.budget.refund(receipt);
        }
    }
}

impl<E, K: Clone, R: Clone> Clone for WardenPolicy<E, K, R> {
    /// A copy for a new request (what tower makes of the service's policy):
    /// the settings and the first attempt's start, with fresh waits and no
    /// budget tokens (a token is given back or spent once).
    fn clone(&self) -> Self {
        WardenPolicy {
            policy: self.policy.clone(),
            classifier: self.classifier.clone(),
            cloner: self.cloner.clone(),
            retries: self.retries,
            started: self.started,
            delays: Mutex::new(DelayCursor::new()),
            deposited: self.deposited,
            unspent: None,
            in_flight: None,
        }
    }
}

impl<E, K: fmt::Debug, R: fmt::Debug> fmt::Debug for WardenPolicy<E, K, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WardenPolicy")
            .field("policy", &self.policy)
            .field("classifier", &self.classifier)
            .field("cloner", &self.cloner)
            .field("retries", &self.retries)
            .finish()
    }
}

/// The breaker rejection inside `e`, if `e` is a [`BoxError`] holding one (what
/// a [`CircuitBreakerService`](crate::CircuitBreakerService) returns) or a
/// rejection itself.
fn rejection_of<E: 'static>(e: &E) -> Option<Rejected> {
    let any: &dyn Any = e;
    if let Some(boxed) = any.downcast_ref::<BoxError>() {
        error::rejection(&**boxed)
    } else if any.is::<error::Open>() {
        Some(Rejected::Open)
    } else if any.is::<error::TooManyRequests>() {
        Some(Rejected::TooManyRequests)
    } else {
        any.downcast_ref::<Rejected>().copied()
    }
}

impl<Req, Res, E, K, R> tower::retry::Policy<Req, Res, E> for WardenPolicy<E, K, R>
where
    E: 'static,
    K: Classifier<Res, E>,
    R: CloneRequest<Req>,
{
    type Future = Delay;

    fn retry(&mut self, _req: &mut Req, result: &mut Result<Res, E>) -> Option<Self::Future> {
        let rejection = match &*result {
            Err(e) => rejection_of(e),
            Ok(_) => None,
        };
        let in_flight = self.in_flight.take();
        if rejection.is_some() {
            // Never reached the downstream: a retry's token goes back (dropped).
            drop(in_flight);
        } else {
            if let Some(token) = in_flight {
                token.keep();
            }
            if !self.deposited {
                self.deposited = true;
                if let Some(budget) = self.policy.budget() {
                    budget.deposit();
                }
            }
        }
        let retryable = match &*result {
            Err(e) => match rejection {
                Some(_) => self.policy.retries_rejections(),
                None => {
                    self.classifier.classify(result) == Outcome::Failure
                        && self.policy.is_retryable(e)
                }
            },
            Ok(_) => self.classifier.classify(result) == Outcome::Failure,
        };
        if !retryable {
            return None;
        }
        // The call that just failed was attempt `retries + 1`.
        let failed_attempt = self.retries.saturating_add(1);
        if self
            .policy
            .max_attempts()
            .is_some_and(|max| failed_attempt >= max)
        {
            return None;
        }
        let wait = self.next_wait();
        if let Some(limit) = self.policy.max_elapsed() {
            let elapsed = self.started.map_or(Duration::ZERO, |s| s.elapsed());
            if elapsed.saturating_add(wait) > limit {
                return None;
            }
        }
        if let Some(budget) = self.policy.budget() {
            let receipt = budget.withdraw()?;
            // Held until the retry is sent; given back if the request is
            // dropped first.
            self.unspent = Some(Unspent {
                budget: budget.clone(),
                receipt: Some(receipt),
            });
        }
        self.retries = failed_attempt;
        Some(Delay::new(wait))
    }

    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        if self.retries == 0 {
            // Before the request's first attempt (tower asks the service's own
            // policy; it clones the policy for the request afterwards).
            if self.policy.max_elapsed().is_some() {
                self.started = Some(Instant::now());
            }
        } else {
            // The granted retry is being sent; its result says whether it
            // reached the downstream.
            self.in_flight = self.unspent.take();
        }
        self.cloner.clone_request(req)
    }
}

pin_project! {
    /// The wait before a retry: tokio's timer, or for a zero wait one yield to
    /// the runtime (pending once, waking itself), so a loop of instant
    /// failures cannot hold the thread.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower::retry::Policy;
    /// use warden_tower::retry::WardenPolicy;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), warden_retry::ConfigError> {
    /// let policy = warden_retry::RetryPolicy::builder().base_delay(Duration::ZERO).build()?;
    /// let mut p = WardenPolicy::new(policy).clone_requests(warden_tower::retry::CloneAll);
    /// let mut req = ();
    /// let _ = Policy::<(), (), &str>::clone_request(&mut p, &req);
    /// let wait = Policy::<(), (), &str>::retry(&mut p, &mut req, &mut Err("down"));
    /// wait.expect("retried").await; // yields once, then ready
    /// # Ok(())
    /// # }
    /// ```
    pub struct Delay {
        #[pin]
        sleep: Option<Sleep>,
        // A zero wait has yielded once.
        yielded: bool,
    }
}

impl Delay {
    fn new(wait: Duration) -> Self {
        Delay {
            sleep: (!wait.is_zero()).then(|| tokio::time::sleep(wait)),
            yielded: false,
        }
    }
}

impl Future for Delay {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        match this.sleep.as_pin_mut() {
            Some(sleep) => sleep.poll(cx),
            None if *this.yielded => Poll::Ready(()),
            None => {
                *this.yielded = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }
}

impl fmt::Debug for Delay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delay")
            .field("deadline", &self.sleep.as_ref().map(|s| s.deadline()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::retry::Policy;
    use warden_retry::{Backoff, Jitter, RetryBudget};

    type P = WardenPolicy<BoxError, DefaultClassifier, CloneAll>;

    fn policy(b: warden_retry::RetryPolicyBuilder<BoxError>) -> P {
        WardenPolicy::new(b.build().unwrap()).clone_requests(CloneAll)
    }

    fn fail(p: &mut P) -> Option<Delay> {
        Policy::<(), (), BoxError>::retry(p, &mut (), &mut Err("down".into()))
    }

    fn start(p: &mut P) -> P {
        assert!(Policy::<(), (), BoxError>::clone_request(p, &()).is_some());
        p.clone()
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_and_waits_follow_the_policy() {
        let ms = Duration::from_millis;
        let mut svc_policy = policy(
            RetryPolicy::builder()
                .max_attempts(4)
                .base_delay(ms(10))
                .backoff(Backoff::exponential())
                .jitter(Jitter::None),
        );
        let mut p = start(&mut svc_policy);
        let mut waits = Vec::new();
        while let Some(d) = fail(&mut p) {
            waits.push(d.sleep.as_ref().map(|s| s.deadline() - Instant::now()));
            assert!(Policy::<(), (), BoxError>::clone_request(&mut p, &()).is_some());
        }
        assert_eq!(waits.len(), 3, "4 attempts = 3 retries");
        // The clock is paused: each deadline is exactly the wait from now.
        assert_eq!(waits, [Some(ms(10)), Some(ms(20)), Some(ms(40))]);
        // The service's own policy was not advanced.
        assert_eq!(svc_policy.retries, 0);
    }

    #[test]
    fn success_and_refused_errors_are_not_retried() {
        let mut p = policy(
            RetryPolicy::builder()
                .base_delay(Duration::ZERO)
                .retry_if(|e: &BoxError| e.to_string() != "fatal"),
        );
        assert!(Policy::<(), (), BoxError>::retry(&mut p.clone(), &mut (), &mut Ok(())).is_none());
        let mut fatal: Result<(), BoxError> = Err("fatal".into());
        assert!(Policy::<(), (), BoxError>::retry(&mut p.clone(), &mut (), &mut fatal).is_none());
        assert!(fail(&mut p).is_some());
    }

    #[test]
    fn rejections_end_the_request_unless_the_policy_retries_them() {
        let mut open: Result<(), BoxError> = Err(error::boxed(warden_breaker::Rejected::Open));
        let mut p = policy(RetryPolicy::builder().base_delay(Duration::ZERO));
        assert!(Policy::<(), (), BoxError>::retry(&mut p, &mut (), &mut open).is_none());
        let mut p = policy(
            RetryPolicy::builder()
                .base_delay(Duration::ZERO)
                .retry_rejections(true),
        );
        assert!(Policy::<(), (), BoxError>::retry(&mut p, &mut (), &mut open).is_some());
        // A bare rejection type is recognised too.
        let mut q = WardenPolicy::new(
            RetryPolicy::<warden_breaker::Rejected>::builder()
                .base_delay(Duration::ZERO)
                .build()
                .unwrap(),
        )
        .clone_requests(CloneAll);
        let mut busy = Err(warden_breaker::Rejected::TooManyRequests);
        assert!(Policy::<(), (), _>::retry(&mut q, &mut (), &mut busy).is_none());
    }

    #[test]
    fn budget_deposits_once_per_request_and_withdraws_per_retry() {
        let budget = Arc::new(
            RetryBudget::builder()
                .retry_ratio(1.0)
                .min_per_sec(0)
                .clock(warden_breaker::ManualClock::new())
                .build()
                .unwrap(),
        );
        let mut svc_policy = policy(
            RetryPolicy::builder()
                .max_attempts(10)
                .base_delay(Duration::ZERO)
                .budget(budget.clone()),
        );
        // Two requests: nothing deposited until an attempt comes back.
        let mut a = start(&mut svc_policy);
        let mut b = start(&mut svc_policy);
        assert_eq!(budget.available(), 0);
        // a's first result deposits one token, its retry takes it.
        assert!(fail(&mut a).is_some());
        assert_eq!(budget.available(), 0);
        let _ = Policy::<(), (), BoxError>::clone_request(&mut a, &());
        // b's first result deposits one, a's second failure (not a first
        // attempt: no deposit) retries with it.
        let mut ok: Result<(), BoxError> = Ok(());
        assert!(Policy::<(), (), BoxError>::retry(&mut b, &mut (), &mut ok).is_none());
        assert_eq!(budget.available(), 1);
        assert!(fail(&mut a).is_some());
        assert_eq!(budget.available(), 0);
        let _ = Policy::<(), (), BoxError>::clone_request(&mut a, &());
        assert!(fail(&mut a).is_none(), "budget spent");
    }

    #[tokio::test(start_paused = true)]
    async fn time_limit_counts_from_the_first_attempt() {
        let ms = Duration::from_millis;
        let mut svc_policy = policy(
            RetryPolicy::builder()
                .max_attempts(100)
                .base_delay(ms(100))
                .backoff(Backoff::Constant)
                .jitter(Jitter::None)
                .max_elapsed(ms(250)),
        );
        let mut p = start(&mut svc_policy);
        fail(&mut p).expect("0 + 100 <= 250").await;
        fail(&mut p).expect("100 + 100 <= 250").await;
        assert!(fail(&mut p).is_none(), "200 + 100 > 250");
    }

    #[test]
    fn requests_that_cannot_be_cloned_are_declined() {
        let mut p = WardenPolicy::new(RetryPolicy::<()>::default()).clone_requests(CloneIdempotent);
        let post = http::Request::post("/").body(()).unwrap();
        let get = http::Request::get("/").body(()).unwrap();
        assert!(Policy::<_, (), ()>::clone_request(&mut p, &post).is_none());
        assert!(Policy::<_, (), ()>::clone_request(&mut p, &get).is_some());
    }

    #[test]
    fn seeded_jitter_matches_the_policy_delays() {
        let p = policy(
            RetryPolicy::builder()
                .max_attempts(5)
                .jitter(Jitter::Full)
                .rng_seed(42),
        );
        let mut p = p;
        let expected: Vec<_> = p.policy().delays().collect();
        let got: Vec<_> = (1..=4).map(|_| p.next_wait()).collect();
        assert_eq!(got, expected);
    }
}
