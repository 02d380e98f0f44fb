//! Adapters for the peers, configured like warden: trip on more than 5
//! consecutive failures, stay open 60 s.
//!
//! Neither peer limits half-open admissions: in `half_open_saturated` both
//! admit every caller, and neither takes a clock, so that workload builds them
//! with a zero open wait to reach half-open without waiting 60 s.

use std::iter::Repeat;
use std::time::Duration;

use failsafe::failure_policy::{ConsecutiveFailures, consecutive_failures};
use failsafe::{CircuitBreaker as _, StateMachine, backoff};
use recloser::Recloser;
use warden_benches::contenders::{OPEN_TIMEOUT, trip};
use warden_benches::harness::{Called, Contender, Workload, backend};

/// Consecutive failures that trip every contender (gobreaker: `> 5`).
const TRIP_AFTER: u32 = 6;

fn open_wait(workload: Workload) -> Duration {
    match workload {
        Workload::HalfOpenSaturated => Duration::ZERO,
        _ => OPEN_TIMEOUT,
    }
}

/// Failures that trip a fresh `C`, found on a twin that stays open (with a zero
/// open wait a tripped peer never rejects, so its trip cannot be observed).
fn failures_to_trip<C: Contender>() -> usize {
    let twin = C::prepare(Workload::ClosedSuccess, 0).expect("a closed twin");
    trip(&twin)
}

/// failsafe 1.3: `consecutive_failures(6, constant(60 s))`, no instrument.
///
/// Half-open: every caller is admitted; the first success closes the breaker
/// and the first failure opens it. To stay half-open while callers keep
/// coming, this workload measures what the callers that find it half-open pay:
/// `is_call_permitted()` (admitted), then the operation, whose outcome is not
/// recorded yet (the calls are still in flight at the backend).
#[derive(Debug)]
pub(crate) struct Failsafe {
    breaker: StateMachine<ConsecutiveFailures<Repeat<Duration>>, ()>,
    record: bool,
}

impl Contender for Failsafe {
    const NAME: &'static str = "failsafe";
    const HALF_OPEN_ADMITS_ALL: bool = true;

    fn prepare(workload: Workload, _calls: u64) -> Option<Self> {
        let policy = consecutive_failures(TRIP_AFTER, backoff::constant(open_wait(workload)));
        let mut this = Failsafe {
            breaker: failsafe::Config::new().failure_policy(policy).build(),
            record: true,
        };
        match workload {
            Workload::ClosedSuccess | Workload::ClosedMixed => {}
            // No manual control in this crate.
            Workload::ForcedOpenReject
            | Workload::DisabledSuccess
            | Workload::HalfOpenMaxWait
            | Workload::CountWindowSuccess
            | Workload::TimeWindowSuccess
            | Workload::SlowCallsSuccess
            | Workload::AdaptiveSuccess
            | Workload::TowerLayer => return None,
            Workload::OpenReject => {
                trip(&this);
            }
            Workload::HalfOpenSaturated => {
                for _ in 0..failures_to_trip::<Self>() {
                    let _ = this.breaker.call(|| backend(0, true));
                }
                // The zero wait has passed: this turns it half-open and admits.
                assert!(this.breaker.is_call_permitted(), "failsafe half-open");
                this.record = false;
            }
        }
        Some(this)
    }

    #[inline]
    fn call(&self, op: impl FnOnce() -> Result<u64, u64>) -> Called {
        if !self.record {
            return if self.breaker.is_call_permitted() {
                match op() {
                    Ok(v) => Called::Ok(v),
                    Err(e) => Called::Failed(e),
                }
            } else {
                Called::Rejected
            };
        }
        match self.breaker.call(op) {
            Ok(v) => Called::Ok(v),
            Err(failsafe::Error::Inner(e)) => Called::Failed(e),
            Err(failsafe::Error::Rejected) => Called::Rejected,
        }
    }
}

/// recloser 1.4: a closed ring of 6 calls that trips at a failure rate of 1.0
/// (6 failures in the last 6 calls: 6 consecutive failures), 60 s open wait.
/// recloser evaluates the ring only once it has seen 6 calls, so a fresh one
/// trips on the 7th consecutive failure, later ones on the 6th.
///
/// Half-open: every caller is admitted and its outcome is recorded in the
/// half-open ring, which is evaluated only once full. The ring is sized past
/// the batch (`calls` + 3), so this workload measures recloser's steady
/// half-open call: admission, the operation and recording into the ring.
#[derive(Debug)]
pub(crate) struct Reclose(Recloser);

impl Contender for Reclose {
    const NAME: &'static str = "recloser";
    const HALF_OPEN_ADMITS_ALL: bool = true;

    fn prepare(workload: Workload, calls: u64) -> Option<Self> {
        let half_open_len = match workload {
            Workload::HalfOpenSaturated => usize::try_from(calls).ok()?.checked_add(3)?,
            _ => 1,
        };
        let this = Reclose(
            Recloser::custom()
                .closed_len(TRIP_AFTER as usize)
                .error_rate_closed(1.0)
                .half_open_len(half_open_len)
                .error_rate_half_open(0.5)
                .open_wait(open_wait(workload))
                .build(),
        );
        match workload {
            Workload::ClosedSuccess | Workload::ClosedMixed => {}
            // No manual control in this crate.
            Workload::ForcedOpenReject
            | Workload::DisabledSuccess
            | Workload::HalfOpenMaxWait
            | Workload::CountWindowSuccess
            | Workload::TimeWindowSuccess
            | Workload::SlowCallsSuccess
            | Workload::AdaptiveSuccess
            | Workload::TowerLayer => return None,
            Workload::OpenReject => {
                trip(&this);
            }
            Workload::HalfOpenSaturated => {
                for _ in 0..failures_to_trip::<Self>() {
                    let _ = this.0.call(|| backend(0, true));
                }
                // The zero wait has passed: this call turns it half-open.
                assert!(matches!(this.call(|| backend(0, false)), Called::Ok(_)));
            }
        }
        Some(this)
    }

    #[inline]
    fn call(&self, op: impl FnOnce() -> Result<u64, u64>) -> Called {
        match self.0.call(op) {
            Ok(v) => Called::Ok(v),
            Err(recloser::Error::Inner(e)) => Called::Failed(e),
            Err(recloser::Error::Rejected) => Called::Rejected,
        }
    }
}
