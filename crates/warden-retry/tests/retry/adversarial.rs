//! Adversarial use of the drivers: instant failures in an async loop, rejected
//! attempts and the budget, panicking hooks, cancellation mid-wait, a clock
//! stepping back, derived policies.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use warden_breaker::{CircuitBreaker, Clock, ManualClock, Rejected, State};
use warden_retry::{
    Backoff, Jitter, RetryBudget, RetryPolicy, Sleeper, StopReason, retry, with_breaker_and_retry,
};

use crate::ms;

fn budget(ratio: f64, per_sec: u32) -> Arc<RetryBudget> {
    Arc::new(
        RetryBudget::builder()
            .retry_ratio(ratio)
            .min_per_sec(per_sec)
            .clock(ManualClock::new())
            .build()
            .unwrap(),
    )
}

/// A breaker on a manual clock, open after one failure and for an hour.
fn open_breaker() -> CircuitBreaker {
    let cb = CircuitBreaker::builder("down")
        .ready_to_trip(|c| c.consecutive_failures >= 1)
        .timeout(Duration::from_secs(3600))
        .clock(ManualClock::new())
        .build()
        .unwrap();
    let _ = cb.call(|| Err::<(), _>("boom"));
    assert_eq!(cb.state(), State::Open);
    cb
}

#[cfg(feature = "tokio")]
#[test]
fn zero_wait_async_retries_return_to_the_runtime_between_attempts() {
    let policy = RetryPolicy::builder()
        .max_attempts(1_000)
        .base_delay(Duration::ZERO)
        .build()
        .unwrap();
    let calls = AtomicU32::new(0);
    let mut run = pin!(warden_retry::retry_async(&policy, || {
        // Relaxed: a single-threaded counter.
        calls.fetch_add(1, Ordering::Relaxed);
        async { Err::<(), _>("instant failure") }
    }));
    let mut cx = Context::from_waker(Waker::noop());
    // One poll makes one attempt, then yields: a surrounding timeout or
    // select! gets the thread back.
    assert!(run.as_mut().poll(&mut cx).is_pending());
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    assert!(run.as_mut().poll(&mut cx).is_pending());
    assert_eq!(calls.load(Ordering::Relaxed), 2);
    let mut polls = 2;
    let err = loop {
        polls += 1;
        if let Poll::Ready(r) = run.as_mut().poll(&mut cx) {
            break r.unwrap_err();
        }
    };
    assert_eq!((err.attempts(), polls), (1_000, 1_000));
}

#[cfg(feature = "tokio")]
#[test]
fn zero_wait_async_breaker_retries_yield_too() {
    let cb = CircuitBreaker::builder("flaky")
        .ready_to_trip(|_| false)
        .build()
        .unwrap();
    let policy = RetryPolicy::builder()
        .max_attempts(100)
        .base_delay(Duration::ZERO)
        .build()
        .unwrap();
    let mut run = pin!(warden_retry::with_breaker_and_retry_async(
        &cb,
        &policy,
        || async { Err::<(), _>("instant failure") }
    ));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(run.as_mut().poll(&mut cx).is_pending());
    assert_eq!(cb.counts().total_failures, 1);
}

#[cfg(feature = "tokio")]
#[tokio::test(flavor = "current_thread")]
async fn a_timeout_around_instant_failures_fires_on_time() {
    // Real time: the point is that the runtime's timer gets to run. Bounded:
    // the timeout is 50 ms, the run's own deadline 2 s.
    let policy = RetryPolicy::builder()
        .until_success(Duration::from_secs(2))
        .base_delay(Duration::ZERO)
        .build()
        .unwrap();
    let start = std::time::Instant::now();
    let out = tokio::time::timeout(
        ms(50),
        warden_retry::retry_async(&policy, || async { Err::<(), _>("down") }),
    )
    .await;
    assert!(out.is_err(), "the timeout fired");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn rejected_runs_pay_nothing_into_the_budget() {
    let cb = open_breaker();
    let b = budget(1.0, 0);
    let policy = RetryPolicy::builder()
        .max_attempts(3)
        .base_delay(Duration::ZERO)
        .budget(b.clone())
        .build()
        .unwrap();
    for _ in 0..1_000 {
        let err = with_breaker_and_retry(&cb, &policy, || Ok::<(), &str>(())).unwrap_err();
        assert_eq!(err.reason(), StopReason::Rejected(Rejected::Open));
    }
    assert_eq!(b.available(), 0, "no call reached the downstream");
}

#[test]
fn retried_rejections_take_nothing_from_the_budget() {
    let cb = open_breaker();
    let b = budget(0.0, 10); // a reserve of 100 retries
    let policy = RetryPolicy::builder()
        .max_attempts(101)
        .base_delay(Duration::ZERO)
        .retry_rejections(true)
        .budget(b.clone())
        .build()
        .unwrap();
    let mut calls = 0;
    let err = with_breaker_and_retry(&cb, &policy, || {
        calls += 1;
        Ok::<(), &str>(())
    })
    .unwrap_err();
    assert_eq!((err.attempts(), calls), (101, 0));
    assert_eq!(b.available(), 100, "rejected retries are refunded");
}

#[test]
fn a_panicking_on_retry_gives_its_token_back() {
    let b = budget(0.0, 1); // 10 in reserve
    let policy = RetryPolicy::builder()
        .base_delay(Duration::ZERO)
        .budget(b.clone())
        .on_retry(|_, _: &&str, _| panic!("hook bug"))
        .build()
        .unwrap();
    let out = catch_unwind(AssertUnwindSafe(|| retry(&policy, || Err::<(), _>("down"))));
    assert!(out.is_err());
    assert_eq!(b.available(), 10);
}

#[cfg(feature = "tokio")]
#[tokio::test(start_paused = true)]
async fn a_run_cancelled_while_waiting_gives_its_token_back() {
    let b = budget(0.0, 1);
    let policy = RetryPolicy::builder()
        .base_delay(Duration::from_secs(1))
        .budget(b.clone())
        .build()
        .unwrap();
    let out = tokio::time::timeout(
        ms(10),
        warden_retry::retry_async(&policy, || async { Err::<(), _>("down") }),
    )
    .await;
    assert!(out.is_err(), "cancelled during the first wait");
    assert_eq!(b.available(), 10);
}

/// A clock a test sets by hand, backwards too.
#[derive(Debug, Clone, Default)]
struct SteppingClock(Arc<AtomicU64>);

impl Clock for SteppingClock {
    fn now_nanos(&self) -> u64 {
        // Relaxed: single-threaded test clock.
        self.0.load(Ordering::Relaxed)
    }
}

impl Sleeper for SteppingClock {
    fn sleep(&self, d: Duration) {
        self.0.fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }
}

#[test]
fn a_clock_stepping_back_never_extends_the_deadline() {
    let clock = SteppingClock(Arc::new(AtomicU64::new(20_000_000_000)));
    let policy = RetryPolicy::builder()
        .until_success(ms(100))
        .base_delay(ms(10))
        .backoff(Backoff::Constant)
        .jitter(Jitter::None)
        .clock(clock.clone())
        .sleeper(clock.clone())
        .build()
        .unwrap();
    let mut calls = 0;
    let err = retry(&policy, || {
        calls += 1;
        if calls == 3 {
            clock.0.fetch_sub(9_000_000_000, Ordering::Relaxed); // NTP steps back 9 s
        }
        Err::<(), _>("down")
    })
    .unwrap_err();
    assert_eq!(err.reason(), StopReason::Deadline);
    // Waits of 10 ms within 100 ms: 11 calls at 0, 10, ..., 100 ms of time
    // moving forward. The step back counts as no time, and hides at most the
    // forward time since the previous reading (here one 10 ms wait): 12.
    // Measured from the first reading instead, it took 9 s more: 911 calls.
    assert_eq!(err.attempts(), 12);
}

#[test]
fn a_derived_policy_may_lengthen_its_base_delay() {
    let p = RetryPolicy::<()>::kafka()
        .to_builder()
        .base_delay(Duration::from_secs(10))
        .build()
        .unwrap();
    assert_eq!(p.max_delay(), Duration::from_secs(10));
    // An explicit cap below the base is still an error.
    let err = RetryPolicy::<()>::kafka()
        .to_builder()
        .base_delay(Duration::from_secs(10))
        .max_delay(Duration::from_secs(5))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "max_delay");
}

#[cfg(feature = "tokio")]
#[test]
fn a_panic_caught_around_the_async_combinator_is_a_failure() {
    let cb = CircuitBreaker::builder("bomb")
        .ready_to_trip(|c| c.consecutive_failures >= 1)
        .clock(ManualClock::new())
        .build()
        .unwrap();
    let policy = RetryPolicy::<&str>::builder()
        .base_delay(Duration::ZERO)
        .build()
        .unwrap();
    let mut run = pin!(warden_retry::with_breaker_and_retry_async(
        &cb,
        &policy,
        || async {
            panic!("inner future panicked");
            #[allow(unreachable_code)]
            Ok::<(), &str>(())
        }
    ));
    let mut cx = Context::from_waker(Waker::noop());
    // A catch_unwind around the poll keeps the future alive after the panic.
    let caught = catch_unwind(AssertUnwindSafe(|| run.as_mut().poll(&mut cx)));
    assert!(caught.is_err());
    assert_eq!(
        cb.state(),
        State::Open,
        "the permit recorded a failure while unwinding"
    );
}
