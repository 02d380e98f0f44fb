//! The `tower_layer` workload's contenders: one service answering at
//! once, called bare, through warden's `CircuitBreakerLayer` (a breaker that
//! lives for the program, `from_static`; and one in an `Arc`, `new`) and
//! through `tower-resilience-circuitbreaker` 0.14 (its default configuration:
//! failure rate 50 % over the last 100 calls, 30 s open).
//!
//! Every thread of a benchmark has its own current-thread tokio runtime (made
//! on its first batch and kept) and its own clone of the service (made once
//! per batch); a call is `ready().await`, `call`, `.await`, as in an async
//! handler. Only the closed breaker is measured: every call succeeds.

use std::hint::black_box;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};

use tower::{Layer, Service, ServiceExt};
use warden_benches::contenders::OPEN_TIMEOUT;
use warden_benches::harness::{Called, Contender, Workload, backend};

thread_local! {
    /// This benchmark thread's runtime.
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime");
}

/// The backend's error, as a service error.
#[derive(Debug)]
pub(crate) struct Failed(u64);

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "backend failed with {}", self.0)
    }
}

impl std::error::Error for Failed {}

/// The request carries the backend's answer: the service returns it.
type Request = Result<u64, u64>;

/// The backend as a tower service: always ready, answers at once.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Backend;

impl Service<Request> for Backend {
    type Response = u64;
    type Error = Failed;
    type Future = std::future::Ready<Result<u64, Failed>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Failed>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        std::future::ready(req.map_err(Failed))
    }
}

/// One tower stack as a contender.
pub(crate) trait Stack: Send + 'static {
    const NAME: &'static str;
    type Svc: Service<Request, Response = u64, Future: Send> + Clone + Send + 'static;
    fn build() -> Self::Svc;
    /// Maps the service's answer.
    fn called(r: Result<u64, <Self::Svc as Service<Request>>::Error>) -> Called;
}

/// A tower stack, cloned by every thread at the start of each batch.
pub(crate) struct Tower<K: Stack>(Mutex<K::Svc>);

impl<K: Stack> Tower<K> {
    fn service(&self) -> K::Svc {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

async fn one<K: Stack>(svc: &mut K::Svc, req: Request) -> Called {
    match svc.ready().await {
        Ok(ready) => K::called(ready.call(req).await),
        Err(e) => K::called(Err(e)),
    }
}

impl<K: Stack> Contender for Tower<K> {
    const NAME: &'static str = K::NAME;

    fn prepare(workload: Workload, _calls: u64) -> Option<Self> {
        (workload == Workload::TowerLayer).then(|| Tower(Mutex::new(K::build())))
    }

    fn call(&self, op: impl FnOnce() -> Result<u64, u64>) -> Called {
        let mut svc = self.service();
        let req = op();
        RUNTIME.with(|rt| rt.block_on(one::<K>(&mut svc, req)))
    }

    fn run(&self, _workload: Workload, iters: u64, _thread: usize) {
        let mut svc = self.service();
        RUNTIME.with(|rt| {
            rt.block_on(async {
                for i in 0..iters {
                    // `one`'s body, written out: every stack's request is then polled
                    // in this one future, not in a nested one that the compiler
                    // inlines for the small bare service and calls for a bigger one.
                    let called = match svc.ready().await {
                        Ok(ready) => K::called(ready.call(backend(i, false)).await),
                        Err(e) => K::called(Err(e)),
                    };
                    black_box(called);
                }
            })
        });
    }
}

/// Maps a warden stack's result. Inlined with its error arm out of line, as the
/// bare stack's two-arm mapping is inlined whole: otherwise the harness, not the
/// layer, costs the warden stacks a call per request (the downcast made this
/// function too big to inline), and the difference to the bare service would
/// measure the harness.
#[inline]
fn warden_called(r: Result<u64, warden_tower::BoxError>) -> Called {
    match r {
        Ok(v) => Called::Ok(v),
        Err(e) => warden_failed(e),
    }
}

#[cold]
#[inline(never)]
fn warden_failed(e: warden_tower::BoxError) -> Called {
    match e.downcast::<Failed>() {
        Ok(f) => Called::Failed(f.0),
        Err(_) => Called::Rejected,
    }
}

fn warden_breaker() -> warden_breaker::CircuitBreaker {
    // As the other warden contenders: > 5 consecutive failures, 60 s open, one probe.
    warden_breaker::CircuitBreaker::builder("warden-tower")
        .max_requests(1)
        .timeout(OPEN_TIMEOUT)
        .build()
        .expect("valid benchmark settings")
}

/// No breaker: the backend service alone.
pub(crate) struct BareStack;

impl Stack for BareStack {
    const NAME: &'static str = "bare";
    type Svc = Backend;
    fn build() -> Backend {
        Backend
    }
    fn called(r: Result<u64, Failed>) -> Called {
        match r {
            Ok(v) => Called::Ok(v),
            Err(f) => Called::Failed(f.0),
        }
    }
}

/// warden's layer with a breaker that lives for the program
/// (`CircuitBreakerLayer::from_static`): the report's `warden-breaker`.
pub(crate) struct WardenStatic;

impl Stack for WardenStatic {
    const NAME: &'static str = "warden-breaker";
    type Svc = warden_tower::CircuitBreakerService<
        Backend,
        warden_tower::classify::DefaultClassifier,
        &'static warden_breaker::CircuitBreaker,
    >;
    fn build() -> Self::Svc {
        // One breaker for the process: it stays closed (every call succeeds).
        static BREAKER: OnceLock<warden_breaker::CircuitBreaker> = OnceLock::new();
        warden_tower::CircuitBreakerLayer::from_static(BREAKER.get_or_init(warden_breaker))
            .layer(Backend)
    }
    fn called(r: Result<u64, warden_tower::BoxError>) -> Called {
        warden_called(r)
    }
}

/// warden's layer with the breaker in an `Arc` (`CircuitBreakerLayer::new`).
pub(crate) struct WardenArc;

impl Stack for WardenArc {
    const NAME: &'static str = "warden-tower-arc";
    type Svc = warden_tower::CircuitBreakerService<Backend>;
    fn build() -> Self::Svc {
        warden_tower::CircuitBreakerLayer::new(warden_breaker()).layer(Backend)
    }
    fn called(r: Result<u64, warden_tower::BoxError>) -> Called {
        warden_called(r)
    }
}

/// `tower-resilience-circuitbreaker` 0.14 with its default configuration.
pub(crate) struct TowerResilience;

impl Stack for TowerResilience {
    const NAME: &'static str = "tower-resilience";
    type Svc = tower_resilience_circuitbreaker::CircuitBreaker<
        Backend,
        tower_resilience_circuitbreaker::DefaultClassifier,
    >;
    fn build() -> Self::Svc {
        tower_resilience_circuitbreaker::CircuitBreakerLayer::builder()
            .build()
            .expect("the default configuration")
            .layer(Backend)
    }
    fn called(
        r: Result<u64, tower_resilience_circuitbreaker::CircuitBreakerError<Failed>>,
    ) -> Called {
        match r {
            Ok(v) => Called::Ok(v),
            Err(e) => match e.into_inner() {
                Some(f) => Called::Failed(f.0),
                None => Called::Rejected,
            },
        }
    }
}
