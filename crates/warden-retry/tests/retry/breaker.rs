//! The breaker combinators against a real warden-breaker.

use std::sync::Arc;
use std::time::Duration;

use warden_breaker::{CircuitBreaker, Error, ManualClock, Rejected, State};
use warden_retry::{
    Backoff, Jitter, ManualSleeper, RetryObserver, RetryPolicy, StopReason, with_breaker_and_retry,
    with_breaker_and_retry_with_fallback,
};
#[cfg(feature = "tokio")]
use warden_retry::{with_breaker_and_retry_async, with_breaker_and_retry_with_fallback_async};

use crate::{Log, ms};

fn breaker(trip_after: u32, clock: &ManualClock) -> CircuitBreaker {
    CircuitBreaker::builder("dep")
        .ready_to_trip(move |c| c.consecutive_failures >= trip_after)
        .timeout(Duration::from_secs(1))
        .clock(clock.clone())
        .build()
        .unwrap()
}

fn policy(attempts: u32, wait: Duration, clock: &ManualClock) -> RetryPolicy<&'static str> {
    RetryPolicy::builder()
        .max_attempts(attempts)
        .base_delay(wait)
        .backoff(Backoff::Constant)
        .jitter(Jitter::None)
        .sleeper(ManualSleeper::with_clock(clock.clone()))
        .build()
        .unwrap()
}

#[test]
fn every_attempt_goes_through_the_breaker() {
    let clock = ManualClock::new();
    let cb = breaker(100, &clock);
    let p = policy(3, ms(10), &clock);
    let err = with_breaker_and_retry(&cb, &p, || Err::<(), _>("500")).unwrap_err();
    assert_eq!(err.attempts(), 3);
    assert_eq!(cb.counts().requests, 3);
    assert_eq!(cb.counts().total_failures, 3);
    assert_eq!(err.reason(), StopReason::Exhausted);
    assert!(!err.is_rejection());
    assert_eq!(err.into_errors(), [Error::Inner("500"); 3]);

    let mut calls = 0;
    let ok = with_breaker_and_retry(&cb, &p, || {
        calls += 1;
        if calls == 2 { Ok(calls) } else { Err("500") }
    });
    assert_eq!(ok, Ok(2));
    assert_eq!(cb.counts().total_successes, 1);
}

#[test]
fn an_open_breaker_stops_the_retries() {
    let clock = ManualClock::new();
    let cb = breaker(2, &clock);
    let p = policy(10, ms(100), &clock);
    let sleeper_log = Log::default();
    let hook = sleeper_log.clone();
    let p = p
        .to_builder()
        .on_retry(move |n, e, _| hook.push(format!("{n} {e}")))
        .build()
        .unwrap();
    let mut calls = 0;
    let err = with_breaker_and_retry(&cb, &p, || {
        calls += 1;
        Err::<(), _>("refused")
    })
    .unwrap_err();
    // Two calls trip the breaker; the third attempt is rejected and ends the run.
    assert_eq!(calls, 2);
    assert_eq!(err.attempts(), 3);
    assert_eq!(err.reason(), StopReason::Rejected(Rejected::Open));
    assert_eq!(err.rejection(), Some(Rejected::Open));
    assert_eq!(err.last(), &Error::Rejected(Rejected::Open));
    assert_eq!(err.last_call_error(), Some(&"refused"));
    assert_eq!(sleeper_log.take(), ["1 refused", "2 refused"]);
    assert_eq!(
        err.to_string(),
        "gave up after 3 attempts (rejected by the circuit breaker): #1: refused; #2: refused; #3: circuit breaker is open: call not made"
    );

    // A run that meets the open breaker makes no call and does not wait.
    let sleeper = ManualSleeper::new();
    let p = p.to_builder().sleeper(sleeper.clone()).build().unwrap();
    let err = with_breaker_and_retry(&cb, &p, || -> Result<(), &str> {
        unreachable!("the breaker is open")
    })
    .unwrap_err();
    assert_eq!(
        (err.attempts(), err.reason()),
        (1, StopReason::Rejected(Rejected::Open))
    );
    assert!(sleeper.sleeps().is_empty());
    assert_eq!(err.last_call_error(), None);
}

#[test]
fn a_full_half_open_breaker_stops_the_retries() {
    let clock = ManualClock::new();
    let cb = breaker(1, &clock);
    let _ = cb.call(|| Err::<(), _>("trip"));
    clock.advance(ms(1001));
    assert_eq!(cb.state(), State::HalfOpen);
    let probe = cb.try_acquire().unwrap(); // the only probe slot
    let p = policy(5, ms(1), &clock);
    let err = with_breaker_and_retry(&cb, &p, || Ok::<_, &str>(())).unwrap_err();
    assert_eq!(
        err.reason(),
        StopReason::Rejected(Rejected::TooManyRequests)
    );
    assert_eq!(err.last(), &Error::Rejected(Rejected::TooManyRequests));
    probe.success();
    assert_eq!(cb.state(), State::Closed);
}

#[derive(Default)]
struct Retries(Log);
impl RetryObserver for Retries {
    fn on_retry(&self, attempt: u32, wait: Duration) {
        self.0.push(format!("retry {attempt} {wait:?}"));
    }
}

#[test]
fn retrying_rejections_is_opt_in() {
    let clock = ManualClock::new();
    let cb = breaker(1, &clock); // opens on the first failure, half-open after 1 s
    let hook_log = Log::default();
    let hook = hook_log.clone();
    let observer = Arc::new(Retries::default());
    let p = policy(5, ms(600), &clock)
        .to_builder()
        .retry_rejections(true)
        .on_retry(move |n, e, _| hook.push(format!("{n} {e}")))
        .observer(observer.clone())
        .build()
        .unwrap();
    let mut calls = 0;
    let v = with_breaker_and_retry(&cb, &p, || {
        calls += 1;
        if calls == 1 { Err("down") } else { Ok("up") }
    });
    // t=0 fails (opens); t=600 ms rejected, retried; t=1200 ms half-open probe succeeds.
    assert_eq!(v, Ok("up"));
    assert_eq!(calls, 2);
    assert_eq!(cb.state(), State::Closed);
    // on_retry sees call errors only; the observer sees every retry.
    assert_eq!(hook_log.take(), ["1 down"]);
    assert_eq!(observer.0.take(), ["retry 1 600ms", "retry 2 600ms"]);
}

#[test]
fn retry_if_applies_to_call_errors() {
    let clock = ManualClock::new();
    let cb = breaker(100, &clock);
    let p = policy(5, ms(1), &clock)
        .to_builder()
        .retry_if(|e| *e != "404")
        .build()
        .unwrap();
    let err = with_breaker_and_retry(&cb, &p, || Err::<(), _>("404")).unwrap_err();
    assert_eq!(
        (err.attempts(), err.reason()),
        (1, StopReason::NotRetryable)
    );
    assert_eq!(cb.counts().total_failures, 1); // still a failure to the breaker
}

#[test]
fn fallback_learns_whether_the_breaker_or_the_call_failed() {
    let clock = ManualClock::new();
    let cb = breaker(3, &clock);
    let p = policy(2, ms(1), &clock);
    let seen = |cb: &CircuitBreaker| {
        with_breaker_and_retry_with_fallback(
            cb,
            &p,
            || Err::<&str, _>("timeout"),
            |err| {
                Ok::<_, ()>(if err.is_rejection() {
                    "breaker"
                } else {
                    "call"
                })
            },
        )
    };
    assert_eq!(seen(&cb), Ok("call")); // 2 failures
    assert_eq!(seen(&cb), Ok("breaker")); // 3rd failure opens, 4th attempt rejected
    assert_eq!(seen(&cb), Ok("breaker"));
    let ok = with_breaker_and_retry_with_fallback(
        &breaker(3, &clock),
        &p,
        || Ok::<_, &str>("value"),
        |_| Err::<&str, ()>(()),
    );
    assert_eq!(ok, Ok("value"));
}

#[test]
fn works_with_any_breaker_implementation() {
    // The generic `Breaker` trait: a borrowed Arc'd breaker works the same.
    let clock = ManualClock::new();
    let cb = Arc::new(breaker(2, &clock));
    let p = policy(5, ms(1), &clock);
    let err = with_breaker_and_retry(cb.as_ref(), &p, || Err::<(), _>("x")).unwrap_err();
    assert_eq!(err.attempts(), 3);
}

#[cfg(feature = "tokio")]
#[tokio::test(start_paused = true)]
async fn async_open_breaker_stops_the_retries() {
    let clock = ManualClock::new();
    let cb = breaker(2, &clock);
    let p = RetryPolicy::builder()
        .max_attempts(10)
        .base_delay(ms(100))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let start = tokio::time::Instant::now();
    let mut calls = 0;
    let err = with_breaker_and_retry_async(&cb, &p, || {
        calls += 1;
        async { Err::<(), _>("refused") }
    })
    .await
    .unwrap_err();
    assert_eq!((calls, err.attempts()), (2, 3));
    assert_eq!(err.reason(), StopReason::Rejected(Rejected::Open));
    assert_eq!(start.elapsed(), ms(300)); // waits 100 + 200, none after the rejection
}

#[cfg(feature = "tokio")]
#[tokio::test(start_paused = true)]
async fn async_cancellation_gives_the_half_open_slot_back() {
    let clock = ManualClock::new();
    let cb = breaker(1, &clock);
    let _ = cb.call(|| Err::<(), _>("trip"));
    clock.advance(ms(1001));
    assert_eq!(cb.state(), State::HalfOpen);
    let p = RetryPolicy::<&str>::default();
    let run = with_breaker_and_retry_async(&cb, &p, || async {
        // A hung probe; the test runs on the paused clock, so this is virtual time.
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok::<_, &str>(())
    });
    assert!(tokio::time::timeout(ms(100), run).await.is_err());
    // The probe's permit was dropped unreported: its slot is free, nothing counted.
    assert_eq!(cb.state(), State::HalfOpen);
    assert_eq!(cb.counts().total_failures, 0);
    let probe = cb
        .try_acquire()
        .expect("the cancelled probe released its slot");
    probe.success();
    assert_eq!(cb.state(), State::Closed);
}

#[cfg(feature = "tokio")]
#[tokio::test(start_paused = true)]
async fn async_combinator_records_outcomes_and_falls_back() {
    let clock = ManualClock::new();
    let cb = breaker(100, &clock);
    let p = RetryPolicy::builder()
        .max_attempts(3)
        .base_delay(ms(10))
        .build()
        .unwrap();
    let v = with_breaker_and_retry_with_fallback_async(
        &cb,
        &p,
        || async { Err::<u32, _>("500") },
        |err| async move { Ok::<_, ()>(err.attempts()) },
    )
    .await;
    assert_eq!(v, Ok(3));
    assert_eq!(cb.counts().total_failures, 3);
    let mut calls = 0;
    let v = with_breaker_and_retry_async(&cb, &p, || {
        calls += 1;
        let n = calls;
        async move { if n == 2 { Ok(n) } else { Err("500") } }
    })
    .await;
    assert_eq!(v, Ok(2));
    assert_eq!(cb.counts().total_successes, 1);
}

#[cfg(feature = "tokio")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_combinator_future_is_send() {
    let cb = Arc::new(CircuitBreaker::builder("send").build().unwrap());
    let p = Arc::new(
        RetryPolicy::<&str>::builder()
            .max_attempts(1)
            .build()
            .unwrap(),
    );
    let handle = tokio::spawn(async move {
        with_breaker_and_retry_async(cb.as_ref(), &p, || async { Ok::<_, &str>(5) }).await
    });
    assert_eq!(handle.await.unwrap(), Ok(5));
}
