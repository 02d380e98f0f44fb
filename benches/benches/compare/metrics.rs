//! `warden-breaker` exported through `warden-prometheus`: the same breaker as
//! the `warden-breaker` contender, watched by a registered collector, which
//! reads its state and lifetime totals at scrape time. Its figures against
//! `warden-breaker`'s are what recording metrics costs a call (the target: at
//! most 1 ns). It runs the workloads whose paths record a total per call:
//! `closed_success` (the success total on the calling thread's stripe) and
//! `open_reject` (the rejection total, likewise).

use std::sync::Arc;

use warden_benches::contenders::{OPEN_TIMEOUT, trip};
use warden_benches::harness::{Called, Contender, Workload};
use warden_breaker::{CircuitBreaker, Error, State};
use warden_prometheus::Metrics;

/// A watched breaker and the registry that scrapes it.
#[derive(Debug)]
pub(crate) struct Prometheus {
    cb: Arc<CircuitBreaker>,
    _registry: prometheus::Registry,
}

impl Contender for Prometheus {
    const NAME: &'static str = "warden-prometheus";

    fn prepare(workload: Workload, _calls: u64) -> Option<Self> {
        if !matches!(workload, Workload::ClosedSuccess | Workload::OpenReject) {
            return None;
        }
        let registry = prometheus::Registry::new();
        let metrics = Metrics::register(&registry).expect("a fresh registry");
        let cb = Arc::new(
            CircuitBreaker::builder(Self::NAME)
                .max_requests(1)
                .timeout(OPEN_TIMEOUT)
                .build()
                .expect("valid benchmark settings"),
        );
        metrics.watch(&cb);
        let this = Prometheus {
            cb,
            _registry: registry,
        };
        let want = if workload == Workload::OpenReject {
            trip(&this);
            State::Open
        } else {
            State::Closed
        };
        assert_eq!(this.cb.state(), want);
        // The series are there: the collector reads this breaker.
        assert!(
            this._registry
                .gather()
                .iter()
                .any(|f| f.name() == "warden_circuit_breaker_state" && !f.get_metric().is_empty())
        );
        Some(this)
    }

    #[inline]
    fn call(&self, op: impl FnOnce() -> Result<u64, u64>) -> Called {
        match self.cb.call(op) {
            Ok(v) => Called::Ok(v),
            Err(Error::Inner(e)) => Called::Failed(e),
            Err(_) => Called::Rejected,
        }
    }
}
