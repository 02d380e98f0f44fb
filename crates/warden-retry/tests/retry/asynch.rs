//! The async driver on tokio's paused clock: waits, deadline, cancellation,
//! fallback.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use warden_retry::{Backoff, Jitter, RetryPolicy, StopReason, retry_async, with_fallback_async};

use crate::{Log, ms};

fn exponential(attempts: u32) -> RetryPolicy<String> {
    RetryPolicy::builder()
        .max_attempts(attempts)
        .base_delay(ms(100))
        .jitter(Jitter::None)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn waits_on_tokio_time_between_attempts() {
    let p = exponential(4);
    let start = Instant::now();
    let mut at = Vec::new();
    let err = retry_async(&p, || {
        at.push(start.elapsed());
        async { Err::<(), _>(String::from("down")) }
    })
    .await
    .unwrap_err();
    assert_eq!(err.attempts(), 4);
    // Waits 100, 200, 400 ms; nothing after the last attempt.
    assert_eq!(at, [0, 100, 300, 700].map(ms));
    assert_eq!(start.elapsed(), ms(700));
}

#[tokio::test(start_paused = true)]
async fn success_and_on_retry_in_async_runs() {
    let log = Log::default();
    let hook = log.clone();
    let p = exponential(5)
        .to_builder()
        .on_retry(move |n, e: &String, w| hook.push(format!("{n} {e} {w:?}")))
        .build()
        .unwrap();
    let mut calls = 0;
    let v = retry_async(&p, || {
        calls += 1;
        let n = calls;
        async move { if n < 3 { Err(format!("e{n}")) } else { Ok(n) } }
    })
    .await;
    assert_eq!(v, Ok(3));
    assert_eq!(log.take(), ["1 e1 100ms", "2 e2 200ms"]);
}

#[tokio::test(start_paused = true)]
async fn deadline_in_async_runs_uses_tokio_time() {
    let p = RetryPolicy::builder()
        .max_attempts(10)
        .base_delay(ms(100))
        .backoff(Backoff::Constant)
        .jitter(Jitter::None)
        .max_elapsed(ms(250))
        .build()
        .unwrap();
    let start = Instant::now();
    let err = retry_async(&p, || async { Err::<(), _>("x") })
        .await
        .unwrap_err();
    // Calls at 0, 100, 200 ms; a fourth would start at 300 > 250: stop without waiting.
    assert_eq!((err.attempts(), err.reason()), (3, StopReason::Deadline));
    assert_eq!(start.elapsed(), ms(200));
}

#[tokio::test(start_paused = true)]
async fn until_success_async() {
    let p = RetryPolicy::builder()
        .until_success(Duration::from_secs(60))
        .base_delay(ms(10))
        .max_delay(ms(1000))
        .jitter(Jitter::Full)
        .rng_seed(3)
        .build()
        .unwrap();
    let mut calls = 0;
    let start = Instant::now();
    let v = retry_async(&p, || {
        calls += 1;
        let n = calls;
        async move { if n < 20 { Err("not yet") } else { Ok(n) } }
    })
    .await;
    assert_eq!(v, Ok(20));
    // The run waited the policy's (seeded) waits; tokio's timer rounds each
    // one up to a whole millisecond.
    let expected: Duration = p.delays().take(19).sum();
    let elapsed = start.elapsed();
    assert!(
        elapsed >= expected && elapsed <= expected + ms(19),
        "{elapsed:?} vs {expected:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_the_future_cancels_at_once() {
    let calls = Arc::new(AtomicU32::new(0));
    let p = RetryPolicy::builder()
        .max_attempts(5)
        .base_delay(Duration::from_secs(1))
        .backoff(Backoff::Constant)
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let counter = calls.clone();
    let run = retry_async(&p, move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>("down")
        }
    });
    // Cancel in the middle of the second wait.
    let timed_out = tokio::time::timeout(ms(1500), run).await;
    assert!(timed_out.is_err());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // The future, its closure and its pending wait are gone: only our Arc is left.
    assert_eq!(Arc::strong_count(&calls), 1);
    // Nothing runs later. (Paused tokio clock: this sleep advances virtual time at
    // once; nothing waits in real time.)
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_future_mid_call_drops_the_call() {
    let p = exponential(3);
    let in_flight = Arc::new(());
    let guard = in_flight.clone();
    let run = retry_async(&p, move || {
        let guard = guard.clone();
        async move {
            // A call still in flight when the future is dropped (paused clock: virtual time).
            tokio::time::sleep(Duration::from_secs(10)).await;
            drop(guard);
            Ok::<_, String>(())
        }
    });
    assert!(tokio::time::timeout(ms(50), run).await.is_err());
    assert_eq!(Arc::strong_count(&in_flight), 1);
}

#[tokio::test(start_paused = true)]
async fn async_fallback() {
    let p = exponential(2);
    let v = with_fallback_async(
        retry_async(&p, || async { Err::<u32, _>(String::from("down")) }),
        |err| async move { Ok::<_, String>(err.attempts()) },
    )
    .await;
    assert_eq!(v, Ok(2));
    let v = with_fallback_async(
        retry_async(&p, || async { Ok::<u32, String>(7) }),
        |_err| async { Ok::<_, String>(0) },
    )
    .await;
    assert_eq!(v, Ok(7));
}

#[test]
fn runs_without_waits_need_no_timer() {
    // A runtime without the time driver: zero waits never touch tokio's timer.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let p = RetryPolicy::builder()
        .max_attempts(3)
        .base_delay(Duration::ZERO)
        .build()
        .unwrap();
    let err = rt
        .block_on(retry_async(&p, || async { Err::<(), _>("x") }))
        .unwrap_err();
    assert_eq!(err.attempts(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_runs_are_send() {
    // Spawning requires the run's future to be Send.
    let p = Arc::new(
        RetryPolicy::builder()
            .max_attempts(2)
            .base_delay(Duration::ZERO)
            .build()
            .unwrap(),
    );
    let handle =
        tokio::spawn(
            async move { retry_async(&p, || async { Err::<(), _>(String::from("x")) }).await },
        );
    assert_eq!(handle.await.unwrap().unwrap_err().attempts(), 2);
}
