//! The contenders that are normal dependencies of this crate: the bare call,
//! `warden-breaker` and `warden-mutex`. The peers (failsafe, recloser) are
//! dev-dependencies and live with the benchmark (`benches/compare/peers.rs`).
//!
//! Every breaker is configured the same way: trip on more than 5 consecutive
//! failures, stay open 60 s, one half-open probe.

use std::time::Duration;

use warden_breaker::{Breaker, Error, ManualClock, Settings, State};

use crate::harness::{Called, Contender, Workload, backend};

/// How long a tripped breaker stays open.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(60);

/// Failing calls after which every contender must be open. It takes 6
/// consecutive failures (recloser: 7 on a fresh breaker, as it evaluates its
/// ring only once it has seen 6 calls); a contender admitting calls after this
/// many is misconfigured.
const TRIP_ATTEMPTS: usize = 8;

/// Fails calls into `c` until it rejects one; returns how many failures it
/// took, or panics if it never rejects.
pub fn trip<C: Contender>(c: &C) -> usize {
    for failures in 0..TRIP_ATTEMPTS {
        if c.call(|| backend(0, true)) == Called::Rejected {
            return failures;
        }
    }
    panic!("{} admits calls after {TRIP_ATTEMPTS} failures", C::NAME);
}

/// Maps the result of a gobreaker-style `call`.
#[inline]
fn called(r: Result<u64, Error<u64>>) -> Called {
    match r {
        Ok(v) => Called::Ok(v),
        Err(Error::Inner(e)) => Called::Failed(e),
        Err(_) => Called::Rejected,
    }
}

/// No breaker: the operation is called directly. It has no open or half-open
/// state, so it takes part in the closed workloads only.
#[derive(Debug)]
pub struct Bare;

impl Contender for Bare {
    const NAME: &'static str = "bare";

    fn prepare(workload: Workload, _calls: u64) -> Option<Self> {
        matches!(workload, Workload::ClosedSuccess | Workload::ClosedMixed).then_some(Bare)
    }

    #[inline]
    fn call(&self, op: impl FnOnce() -> Result<u64, u64>) -> Called {
        match op() {
            Ok(v) => Called::Ok(v),
            Err(e) => Called::Failed(e),
        }
    }
}

/// A breaker with warden's settings and [`Breaker`] API.
pub trait FromSettings: Breaker + Sized + 'static {
    /// The contender's name.
    const NAME: &'static str;
    /// The breaker.
    fn from_settings(settings: Settings) -> Self;
    /// Manual control: forces it open.
    fn force_open(&self);
    /// Manual control: disables it (admits and counts, never trips).
    fn disable(&self);
}

impl FromSettings for warden_breaker::CircuitBreaker {
    const NAME: &'static str = "warden-breaker";
    fn from_settings(settings: Settings) -> Self {
        Self::from_settings(settings)
    }
    fn force_open(&self) {
        Self::force_open(self)
    }
    fn disable(&self) {
        Self::disable(self)
    }
}

impl FromSettings for warden_mutex::CircuitBreaker {
    const NAME: &'static str = "warden-mutex";
    fn from_settings(settings: Settings) -> Self {
        Self::from_settings(settings)
    }
    fn force_open(&self) {
        Self::force_open(self)
    }
    fn disable(&self) {
        Self::disable(self)
    }
}

/// `warden-breaker` or `warden-mutex`, built from the same [`Settings`].
///
/// The clock is warden's default [`QuantaClock`](warden_breaker::QuantaClock)
/// except in `half_open_saturated`, where a [`ManualClock`] moves past the open
/// timeout without waiting 60 s (no clock is read on that path).
#[derive(Debug)]
pub struct Warden<B>(B);

/// The lock-free breaker.
pub type WardenBreaker = Warden<warden_breaker::CircuitBreaker>;
/// The mutex reference.
pub type WardenMutex = Warden<warden_mutex::CircuitBreaker>;

impl<B: FromSettings> Warden<B> {
    fn build(workload: Workload) -> Self {
        let clock = ManualClock::new();
        let builder = warden_breaker::CircuitBreaker::builder(B::NAME)
            .max_requests(1)
            .timeout(OPEN_TIMEOUT); // default ready_to_trip: > 5 consecutive failures
        let builder = match workload {
            Workload::HalfOpenSaturated => builder.clock(clock.clone()),
            Workload::HalfOpenMaxWait => builder
                .clock(clock.clone())
                .half_open_max_wait(Duration::from_secs(3600)),
            Workload::CountWindowSuccess => builder.count_window(
                warden_breaker::CountWindow::new(100)
                    .with_min_calls(20)
                    .with_failure_rate_percent(50),
            ),
            Workload::TimeWindowSuccess => builder.time_window(
                warden_breaker::TimeWindow::new(Duration::from_secs(10))
                    .with_buckets(10)
                    .with_min_calls(20)
                    .with_failure_rate_percent(50),
            ),
            Workload::AdaptiveSuccess => builder.adaptive_throttle(
                warden_breaker::AdaptiveThrottle::new(Duration::from_secs(10))
                    .with_buckets(10)
                    .with_k(2.0),
            ),
            Workload::SlowCallsSuccess => builder.slow_calls(
                warden_breaker::SlowCalls::new(Duration::from_secs(1))
                    .with_slow_rate_percent(50)
                    .with_min_calls(20),
            ),
            _ => builder,
        };
        let this = Warden(B::from_settings(
            builder.settings().expect("valid benchmark settings"),
        ));
        match workload {
            Workload::ClosedSuccess
            | Workload::ClosedMixed
            | Workload::CountWindowSuccess
            | Workload::TimeWindowSuccess
            | Workload::SlowCallsSuccess
            | Workload::AdaptiveSuccess
            | Workload::TowerLayer => {}
            Workload::ForcedOpenReject => this.0.force_open(),
            Workload::DisabledSuccess => this.0.disable(),
            Workload::OpenReject => {
                trip(&this);
            }
            Workload::HalfOpenSaturated | Workload::HalfOpenMaxWait => {
                trip(&this);
                clock.advance(OPEN_TIMEOUT + Duration::from_millis(1));
                let probe = this.0.try_acquire().expect("the first half-open probe");
                // A probe that never reports: its slot stays taken for the breaker's
                // life. Forgetting a permit leaks nothing (a reference and a ticket).
                std::mem::forget(probe);
            }
        }
        let want = match workload {
            Workload::ClosedSuccess
            | Workload::ClosedMixed
            | Workload::DisabledSuccess
            | Workload::CountWindowSuccess
            | Workload::TimeWindowSuccess
            | Workload::SlowCallsSuccess
            | Workload::AdaptiveSuccess
            | Workload::TowerLayer => State::Closed,
            Workload::OpenReject | Workload::ForcedOpenReject => State::Open,
            Workload::HalfOpenSaturated | Workload::HalfOpenMaxWait => State::HalfOpen,
        };
        assert_eq!(
            this.0.state(),
            want,
            "{} prepared for {workload:?}",
            B::NAME
        );
        this
    }
}

impl<B: FromSettings> Contender for Warden<B> {
    const NAME: &'static str = B::NAME;

    fn prepare(workload: Workload, _calls: u64) -> Option<Self> {
        // Through a tower layer: `benches/compare/tower.rs`.
        (workload != Workload::TowerLayer).then(|| Self::build(workload))
    }

    #[inline]
    fn call(&self, op: impl FnOnce() -> Result<u64, u64>) -> Called {
        called(self.0.call(op))
    }
}
