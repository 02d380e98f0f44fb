//! The async call: [`CircuitBreaker::call_async`] and
//! [`CircuitBreaker::call_async_with`], a future that holds its permit across
//! `.await`.
//!
//! The permit is a borrowed [`Permit`]: no `Arc`, no allocation, no
//! reference-count traffic per call. Admission happens at the first poll
//! (futures are lazy: building the future and never polling it asks nothing of
//! the breaker). A future dropped before it finished gives its half-open slot
//! back without an outcome, like a dropped permit. A panic while polling the
//! guarded future counts as a failure, even when something further out catches
//! it (tower-http's `CatchPanic`, `FutureExt::catch_unwind`, a runtime's task
//! boundary): the permit is dropped while the panic unwinds.

use std::future::Future;

use crate::{CircuitBreaker, Error, Outcome};

impl CircuitBreaker {
    /// The async [`call`](Self::call): asks for admission at the first poll, runs
    /// the future `f` returns, and records its result: `Ok` a success, `Err` a
    /// failure. A rejected call never builds the future.
    ///
    /// The returned future holds a borrowed permit across `.await` (no
    /// allocation, no reference count). Dropping it before it finishes gives a
    /// half-open slot back without an outcome; a panic inside the guarded
    /// future counts as a failure, even when caught further out.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use warden_breaker::{CircuitBreaker, Error};
    ///
    /// async fn fetch(id: u32) -> Result<String, std::io::Error> {
    ///     Ok(format!("user {id}")) // your client here
    /// }
    ///
    /// let cb = CircuitBreaker::builder("users").build()?;
    /// match cb.call_async(|| fetch(7)).await {
    ///     Ok(user) => assert_eq!(user, "user 7"),
    ///     Err(Error::Rejected(_)) => { /* shed load */ }
    ///     Err(Error::Inner(e)) => return Err(e.into()),
    /// }
    /// assert_eq!(cb.counts().total_successes, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn call_async<T, E, F, Fut>(&self, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.call_async_with(f, |r: &Result<T, E>| {
            if r.is_ok() {
                Outcome::Success
            } else {
                Outcome::Failure
            }
        })
        .await
    }

    /// [`call_async`](Self::call_async) with `classify` deciding what the result
    /// means to the breaker, as [`call_with`](Self::call_with) does. The result is
    /// returned unchanged whatever the classification.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use warden_breaker::{CircuitBreaker, Outcome};
    ///
    /// let cb = CircuitBreaker::builder("http").build()?;
    /// let status = cb
    ///     .call_async_with(
    ///         || async { Ok::<u16, std::io::Error>(404) },
    ///         |r| match r {
    ///             Ok(s) if *s >= 500 => Outcome::Failure, // the peer is failing
    ///             Ok(_) => Outcome::Success,
    ///             Err(_) => Outcome::Failure,
    ///         },
    ///     )
    ///     .await?;
    /// assert_eq!(status, 404);
    /// assert_eq!(cb.counts().total_successes, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn call_async_with<T, E, F, Fut, C>(&self, f: F, classify: C) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: FnOnce(&Result<T, E>) -> Outcome,
    {
        let permit = self.try_acquire()?;
        // A panic in `f` or in the future unwinds through this async fn, which drops
        // its live locals as it unwinds: the permit's drop sees the panic and records
        // a failure, even if the panic is caught further out and this future is
        // dropped long after (tests/call_async.rs checks both).
        let result = f().await;
        permit.record(classify(&result));
        result.map_err(Error::Inner)
    }
}
