//! Tower middleware for the [`warden_breaker`] circuit breaker.
//!
//! # Why
//!
//! Services built on [`tower`](https://docs.rs/tower) (axum and tonic servers,
//! hyper clients, `reqwest`-like stacks) compose middleware as layers. This
//! crate puts a breaker into such a stack as one more layer: while the peer
//! fails, requests are turned away at once with a typed error instead of piling
//! up on a dependency that cannot answer.
//!
//! # Contents
//!
//! * [`CircuitBreakerLayer`] / [`CircuitBreakerService`]: the middleware. One
//!   shared [`CircuitBreaker`](warden_breaker::CircuitBreaker) per dependency,
//!   in an `Arc` ([`CircuitBreakerLayer::new`]) or, for a breaker that lives
//!   for the program, borrowed ([`CircuitBreakerLayer::from_static`], the
//!   faster one: see [Cost](#cost)); each request takes a permit in `call`,
//!   and its [`ResponseFuture`] records the outcome.
//! * [`holder`]: how the breaker is held, as a type parameter
//!   (`Arc<CircuitBreaker>` by default, `&'static CircuitBreaker` from
//!   `from_static`), so each service carries only its own path.
//! * [`classify`]: what a response or error means to the breaker. Default: an
//!   `Err` is a failure; [`HttpClassifier`](classify::HttpClassifier) counts `5xx`
//!   (and the errors you choose) as failures and `4xx` as successes.
//! * [`body`]: for HTTP, record a successful response when its body ends
//!   (a `200` cut off mid-body is a failure):
//!   [`CircuitBreakerLayer::until_end_of_body`].
//! * [`error`]: finding the breaker's rejection ([`warden_breaker::Rejected`]) in a boxed error,
//!   returned as [`BoxError`]; [`error::rejection`] finds them for mapping to
//!   `503`.
//! * `retry` (feature `retry`): `WardenPolicy`, a `tower::retry::Policy`
//!   following a `warden_retry::RetryPolicy` (backoff, budget, `retry_if`),
//!   cloning requests only where a hook allows.
//!
//! # Examples
//!
//! A hyper client whose `5xx` answers and connection errors trip the breaker:
//!
//! ```no_run
//! use std::sync::Arc;
//! use http_body_util::Empty;
//! use hyper::body::Bytes;
//! use hyper_util::{client::legacy::Client, rt::TokioExecutor};
//! use tower::{Service, ServiceBuilder, ServiceExt};
//! use warden_breaker::CircuitBreaker;
//! use warden_tower::{CircuitBreakerLayer, classify::HttpClassifier, error};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), warden_tower::BoxError> {
//! let breaker = Arc::new(CircuitBreaker::builder("billing").build()?);
//! let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
//! let mut billing = ServiceBuilder::new()
//!     .layer(CircuitBreakerLayer::new(breaker.clone()).classifier(HttpClassifier::new()))
//!     .service(client);
//!
//! let req = http::Request::get("http://127.0.0.1:8080/invoices").body(Empty::new())?;
//! match billing.ready().await?.call(req).await {
//!     Ok(res) => println!("{}", res.status()),
//!     Err(e) if error::rejection(&*e).is_some() => println!("billing is down: 503"),
//!     Err(e) => println!("request failed: {e}"),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! On an axum server, put `HandleErrorLayer` above the breaker to turn
//! rejections into responses (axum routes need infallible services), and add
//! them with `Router::route_layer`: it wraps the routes only, so a request
//! for an unknown path still gets axum's 404 while the breaker is open
//! (`Router::layer` wraps the fallback too, and would answer it 503):
//!
//! ```
//! use axum::{Router, error_handling::HandleErrorLayer, http::StatusCode, routing::get};
//! use tower::ServiceBuilder;
//! use warden_tower::{BoxError, CircuitBreakerLayer, classify::HttpClassifier, error};
//!
//! # fn main() -> Result<(), warden_breaker::ConfigError> {
//! let breaker = warden_breaker::CircuitBreaker::builder("reports").build()?;
//! let app: Router = Router::new().route("/report", get(|| async { "ok" })).route_layer(
//!     ServiceBuilder::new()
//!         .layer(HandleErrorLayer::new(|e: BoxError| async move {
//!             match error::rejection(&*e) {
//!                 Some(_) => StatusCode::SERVICE_UNAVAILABLE,
//!                 None => StatusCode::INTERNAL_SERVER_ERROR,
//!             }
//!         }))
//!         .layer(CircuitBreakerLayer::new(breaker).classifier(HttpClassifier::new())),
//! );
//! # let _ = app;
//! # Ok(())
//! # }
//! ```
//!
//! # Cost
//!
//! A closed call through the layer costs the core's admission and success
//! record, a look at the breaker's state in `poll_ready` (so that an open
//! breaker reports ready at once), and the future's bookkeeping (the permit,
//! the classifier). Nothing allocates, and with the default settings a closed
//! call reads no clock. With
//! [`CircuitBreakerLayer::new`] each admitted call also clones and drops the
//! breaker's `Arc`: two atomic read-modify-writes on the `Arc`'s count, a
//! cache line that every thread calling through the layer writes, so the
//! threads pass it back and forth and the call gets slower as threads are
//! added. [`CircuitBreakerLayer::from_static`] takes a `&'static
//! CircuitBreaker` (a `static` with `OnceLock`, or `Box::leak`) and counts
//! nothing: a closed call writes only the calling thread's own counters, and
//! its future holds the core's borrowed two-word permit.
//! The price is that the breaker is never freed, which suits breakers made
//! once at start-up; breakers created and dropped at run time belong in an
//! `Arc`. Which of the two a service holds is part of its type
//! ([`holder`]), not a branch taken per call: a `from_static` service's
//! `call` and its future's `poll` contain no `Arc` code, which keeps them
//! small enough to be inlined into the caller's `.await`.
//!
//! The `Arc` count is not avoided per call because the response future must
//! own what keeps its breaker alive: a future is `'static` and may outlive
//! the service, the layer and every other handle to the breaker. Borrowing
//! from the service is impossible (a tower future borrows nothing from it),
//! and keeping spare clones in a per-thread cache would hold breakers alive
//! after their last user dropped them, an observable change; a breaker that
//! lives for the program is what `from_static` is for.
//!
//! Measured in the comparison's own driver (`benches/examples/tower_batches.rs`:
//! `ready().await`, `call`, `.await` per request in one async block, as a
//! handler does; 2026-12-07, `valgrind --tool=callgrind
//! --toggle-collect='*Contender>::run' target/release/examples/tower_batches
//! 100000 1 static 1`, and `arc`, `bare`, the difference between 200,000 and
//! 100,000 calls): a closed call is 111 instructions with `from_static` and
//! 156 with an `Arc`, against 28 for the bare service; the core's admission,
//! success record and state look are about 58 of the 83 `from_static` adds
//! (the future's `poll` and the service's `call` are always inlined into the
//! caller's: left to the compiler `poll` stayed a call, 21 instructions more).
//! On 2026-12-06 (129 and 165 instructions) in short batches
//! (`tower_batches 100000 200 bare,static 1`, fastest of 200, load average 2.3-2.9 on a
//! 2-core VM shared with other jobs) that came to 4.4 ns over the bare
//! service with `from_static` (5.5-5.7 with the call), and earlier the same
//! day 32-33 ns with an `Arc` (its two locked
//! read-modify-writes). More figures are in the repository's `BENCHMARKS.md`.
//!
//! # Runtime
//!
//! The middleware itself uses no runtime and no timer: the breaker keeps its
//! own clock. It depends on `tower-layer` and `tower-service`, not on `tower`.
//! The retry policy waits on tokio's timer.
//!
//! # Feature flags
//!
//! * `retry` (default): the `retry` module; adds `tower` (its `retry`
//!   feature), `tokio` (`time`) and `warden-retry`.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![doc(test(attr(deny(warnings))))]

pub mod body;
pub mod classify;
pub mod error;
pub mod future;
pub mod holder;
mod layer;
#[cfg(feature = "retry")]
pub mod retry;
mod service;

pub use self::future::ResponseFuture;
pub use self::layer::CircuitBreakerLayer;
pub use self::service::CircuitBreakerService;

/// The error type of a [`CircuitBreakerService`]: the inner service's error or a
/// rejection from [`error`], boxed (the same alias as `tower::BoxError`).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
