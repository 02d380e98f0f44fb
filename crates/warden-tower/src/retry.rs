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
//! * **Breaker rejections** ([`error::Open`], [`error::TooManyRequests`] in a
//!   [`BoxError`], which is what a [`CircuitBreakerLayer`]
//!   below the retry returns) end the request at once, unless the policy
//!   [retries rejections](warden_retry::RetryPolicyBuilder::retry_rejections):
//!   retrying into an open breaker only adds load.
//! * **Waits** are the policy's [`delays`](warden_retry::RetryPolicy::delays):
//!   retry `k` waits the `k`-th of them, on tokio's timer (a zero wait does not
//!   touch the timer). With [`rng_seed`](warden_retry::RetryPolicyBuilder::rng_seed)
//!   the waits are exactly those of a `warden_retry` run.
//! * **Budget**: each request deposits once, before its first attempt; each
//!   retry withdraws, and a refused withdrawal returns the last result as is.
//! * **Time limit**: with `max_elapsed`, a retry whose wait would end past the
//!   limit (from the first attempt) is not made.
//! * **Requests are cloned only where they can be**: a [`CloneRequest`] hook
//!   decides. [`CloneAll`] (default) clones any `Clone` request, such as
//!   `http::Request<Full<Bytes>>`; [`CloneIdempotent`] clones HTTP requests
//!   whose method is idempotent only; a closure can do anything else. A request
//!   the hook returns `None` for is sent once and never retried.
//!
//! The policy's `on_retry` hook and observer are not called: they belong to
//! `warden_retry`'s own loop.
//!
//! When the retries run out, tower returns the last result: a `5xx` response
//! stays a response.
//!
//! ```
//! use std::time::Duration;
//! use tower::{ServiceBuilder, ServiceExt};
//! use warden_retry::RetryPolicy;
//! use warden_tower::retry::WardenPolicy;
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
//!     .retry(WardenPolicy::new(policy))
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
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use warden_breaker::{Outcome, Rejected};
use warden_retry::RetryPolicy;

use crate::BoxError;
use crate::classify::{Classifier, DefaultClassifier};
use crate::error;

#[cfg(doc)]
use crate::classify::HttpClassifier;

/// Makes the copy of a request that a retry will send, or declines to.
///
/// Implemented by [`CloneAll`], [`CloneIdempotent`] and closures
/// `Fn(&Req) -> Option<Req>`.
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

/// Clones every request that is `Clone` (for HTTP: `http::Request<B>` with a
/// cloneable body, such as `Full<Bytes>` or `Empty<Bytes>`; a streaming
/// `Incoming` body is not, and does not compile here).
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
/// sent twice.
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
/// retry count, the warden policy itself is shared through an `Arc`.
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
pub struct WardenPolicy<E, K = DefaultClassifier, R = CloneAll> {
    policy: Arc<RetryPolicy<E>>,
    classifier: K,
    cloner: R,
    /// Retries granted to this request so far. Always 0 in the policy the
    /// `Retry` service keeps: tower calls `retry` only on per-request clones.
    retries: u32,
    /// When the request's first attempt started (kept only with a time limit).
    started: Option<Instant>,
}

impl<E> WardenPolicy<E> {
    /// Follows `policy`; every `Err` is a failed attempt ([`DefaultClassifier`]),
    /// and `Clone` requests are retried ([`CloneAll`]). Takes a `RetryPolicy`
    /// or an `Arc` of one.
    ///
    /// ```
    /// let p = warden_tower::retry::WardenPolicy::new(warden_retry::RetryPolicy::<()>::default());
    /// assert_eq!(p.policy().max_attempts(), Some(3));
    /// ```
    pub fn new(policy: impl Into<Arc<RetryPolicy<E>>>) -> Self {
        WardenPolicy {
            policy: policy.into(),
            classifier: DefaultClassifier,
            cloner: CloneAll,
            retries: 0,
            started: None,
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

    /// The wait before retry `retry` (1-based): the policy's own delay sequence,
    /// drawn afresh (so a seeded policy gives a run's exact waits).
    fn wait(&self, retry: u32) -> Duration {
        let index = usize::try_from(retry.saturating_sub(1)).unwrap_or(usize::MAX);
        self.policy
            .delays()
            .nth(index)
            .unwrap_or_else(|| self.policy.max_delay())
    }
}

impl<E, K: Clone, R: Clone> Clone for WardenPolicy<E, K, R> {
    fn clone(&self) -> Self {
        WardenPolicy {
            policy: self.policy.clone(),
            classifier: self.classifier.clone(),
            cloner: self.cloner.clone(),
            retries: self.retries,
            started: self.started,
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
        None
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
        let retryable = match &*result {
            Err(e) => match rejection_of(e) {
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
        let wait = self.wait(failed_attempt);
        if let Some(limit) = self.policy.max_elapsed() {
            let elapsed = self.started.map_or(Duration::ZERO, |s| s.elapsed());
            if elapsed.saturating_add(wait) > limit {
                return None;
            }
        }
        if let Some(budget) = self.policy.budget()
            && !budget.try_withdraw()
        {
            return None;
        }
        self.retries = failed_attempt;
        Some(Delay::new(wait))
    }

    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        if self.retries == 0 {
            // Before the request's first attempt (tower asks the service's own
            // policy; it clones the policy for the request afterwards).
            if let Some(budget) = self.policy.budget() {
                budget.deposit();
            }
            if self.policy.max_elapsed().is_some() {
                self.started = Some(Instant::now());
            }
        }
        self.cloner.clone_request(req)
    }
}

pin_project! {
    /// The wait before a retry: tokio's timer, or nothing for a zero wait.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower::retry::Policy;
    /// use warden_tower::retry::WardenPolicy;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), warden_retry::ConfigError> {
    /// let policy = warden_retry::RetryPolicy::builder().base_delay(Duration::ZERO).build()?;
    /// let mut p = WardenPolicy::new(policy);
    /// let mut req = ();
    /// let _ = Policy::<(), (), &str>::clone_request(&mut p, &req);
    /// let wait = Policy::<(), (), &str>::retry(&mut p, &mut req, &mut Err("down"));
    /// wait.expect("retried").await;
    /// # Ok(())
    /// # }
    /// ```
    pub struct Delay {
        #[pin]
        sleep: Option<Sleep>,
    }
}

impl Delay {
    fn new(wait: Duration) -> Self {
        Delay {
            sleep: (!wait.is_zero()).then(|| tokio::time::sleep(wait)),
        }
    }
}

impl Future for Delay {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.project().sleep.as_pin_mut() {
            Some(sleep) => sleep.poll(cx),
            None => Poll::Ready(()),
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

    type P = WardenPolicy<BoxError>;

    fn policy(b: warden_retry::RetryPolicyBuilder<BoxError>) -> P {
        WardenPolicy::new(b.build().unwrap())
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
        let mut open: Result<(), BoxError> = Err(error::Open::new().into());
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
            RetryPolicy::<error::TooManyRequests>::builder()
                .base_delay(Duration::ZERO)
                .build()
                .unwrap(),
        );
        let mut busy = Err(error::TooManyRequests::new());
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
        // Two requests: two deposits of one token each.
        let mut a = start(&mut svc_policy);
        let mut b = start(&mut svc_policy);
        assert_eq!(budget.available(), 2);
        // Re-cloning for a retry does not deposit again.
        assert!(fail(&mut a).is_some());
        let _ = Policy::<(), (), BoxError>::clone_request(&mut a, &());
        assert_eq!(budget.available(), 1);
        assert!(fail(&mut a).is_some());
        assert!(fail(&mut b).is_none(), "budget spent");
        assert_eq!(budget.available(), 0);
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
        let expected: Vec<_> = p.policy().delays().collect();
        let got: Vec<_> = (1..=4).map(|k| p.wait(k)).collect();
        assert_eq!(got, expected);
    }
}
