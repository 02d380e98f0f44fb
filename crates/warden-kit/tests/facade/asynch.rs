//! Async execute paths on tokio's paused clock: timeouts, cancellation, retry.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::time::{Instant, sleep};
use warden_kit::{
    BreakerConfig, ExecuteError, Fallback, ManualClock, Registry, Rejected, RetryPolicy, State,
    TripRule,
};

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test(start_paused = true)]
async fn a_slow_call_times_out_and_counts_as_a_failure() {
    let registry = Registry::builder()
        .configure(
            "api",
            BreakerConfig::default()
                .with_trip(TripRule::ConsecutiveFailures(2))
                .with_call_timeout(Some(Duration::from_millis(100))),
        )
        .build()
        .unwrap();

    let fast = registry
        .pipeline("api")
        .unwrap()
        .execute_async(|| async {
            sleep(Duration::from_millis(99)).await;
            Ok::<_, &str>("fast")
        })
        .await;
    assert_eq!(fast.value(), Some(&"fast"));
    assert_eq!(fast.elapsed(), Duration::from_millis(99));

    let start = Instant::now();
    let slow = registry
        .pipeline("api")
        .unwrap()
        .execute_async(|| async {
            sleep(SECOND).await;
            Ok::<_, &str>("slow")
        })
        .await;
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(100),
        "cut at the limit"
    );
    assert!(slow.timed_out() && !slow.is_rejected());
    assert!(
        matches!(slow.error(), Some(ExecuteError::Timeout(d)) if *d == Duration::from_millis(100))
    );
    assert_eq!(
        (slow.attempts(), slow.elapsed()),
        (1, Duration::from_millis(100))
    );
    let api = registry.breaker("api").unwrap();
    assert_eq!(api.counts().total_failures, 1);

    // A second timeout trips the breaker; the next call is refused without running.
    let _ = registry
        .pipeline("api")
        .unwrap()
        .execute_async(std::future::pending::<Result<(), &str>>)
        .await;
    assert_eq!(api.state(), State::Open);
    let ran = AtomicU32::new(0);
    let ex = registry
        .pipeline("api")
        .unwrap()
        .execute_async(|| {
            ran.fetch_add(1, Ordering::Relaxed);
            async { Ok::<_, &str>(()) }
        })
        .await;
    assert_eq!(ex.rejection(), Some(Rejected::Open));
    assert_eq!(
        ran.load(Ordering::Relaxed),
        0,
        "f is not even called when refused"
    );
}

#[tokio::test(start_paused = true)]
async fn per_call_timeout_overrides_the_configured_one() {
    let registry = Registry::builder()
        .default_config(BreakerConfig::default().with_call_timeout(Some(SECOND)))
        .build()
        .unwrap();
    let ex = registry
        .pipeline("db")
        .unwrap()
        .with_timeout(Some(Duration::from_millis(10)))
        .execute_async(|| async {
            sleep(Duration::from_millis(20)).await;
            Ok::<_, ()>(())
        })
        .await;
    assert!(ex.timed_out());
    let ex = registry
        .pipeline("db")
        .unwrap()
        .with_timeout(None)
        .execute_async(|| async {
            sleep(10 * SECOND).await;
            Ok::<_, ()>(())
        })
        .await;
    assert!(ex.has_value(), "no timeout at all");
}

async fn until(mut condition: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if condition() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("condition never became true");
}

#[tokio::test(start_paused = true)]
async fn cancelling_a_call_frees_its_bulkhead_slot() {
    let registry = Arc::new(
        Registry::builder()
            .configure("ch", BreakerConfig::default().with_max_concurrent(2))
            .build()
            .unwrap(),
    );
    let ch = registry.breaker("ch").unwrap();
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let registry = registry.clone();
            tokio::spawn(async move {
                registry
                    .pipeline("ch")
                    .unwrap()
                    .execute_async(std::future::pending::<Result<(), ()>>)
                    .await
            })
        })
        .collect();
    until(|| ch.in_flight() == Some(2)).await;
    let ex = registry
        .pipeline("ch")
        .unwrap()
        .execute_async(|| async { Ok::<_, ()>(()) })
        .await;
    assert!(ex.is_rejected() && ex.rejection().is_none());
    assert!(matches!(
        ex.error(),
        Some(ExecuteError::BulkheadFull {
            max_concurrent: 2,
            ..
        })
    ));

    for t in tasks {
        t.abort();
        assert!(t.await.unwrap_err().is_cancelled());
    }
    assert_eq!(ch.in_flight(), Some(0), "both slots given back");
    // The breaker counted the two admissions (not the call the bulkhead refused)
    // and no outcome for them.
    assert_eq!((ch.counts().requests, ch.counts().total_failures), (2, 0));
    assert!(
        registry
            .pipeline("ch")
            .unwrap()
            .execute_async(|| async { Ok::<_, ()>(()) })
            .await
            .has_value()
    );

    // Dropping an execute future (a `select!` losing) frees the slot too.
    let pipeline = registry.pipeline("ch").unwrap();
    let call = pipeline.execute_async(std::future::pending::<Result<(), ()>>);
    tokio::select! {
        _ = call => unreachable!("pending forever"),
        _ = sleep(SECOND) => {}
    }
    assert_eq!(ch.in_flight(), Some(0));
}

#[tokio::test(start_paused = true)]
async fn cancelling_a_half_open_probe_releases_its_slot() {
    let clock = ManualClock::new();
    let registry = Arc::new(
        Registry::builder()
            .default_config(
                BreakerConfig::default()
                    .with_trip(TripRule::ConsecutiveFailures(1))
                    .with_timeout(SECOND),
            )
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    let _ = registry
        .pipeline("db")
        .unwrap()
        .execute(|| Err::<(), _>(()));
    clock.advance(Duration::from_millis(1001));
    let db = registry.breaker("db").unwrap();
    let probe = {
        let registry = registry.clone();
        tokio::spawn(async move {
            registry
                .pipeline("db")
                .unwrap()
                .execute_async(std::future::pending::<Result<(), ()>>)
                .await
        })
    };
    until(|| db.counts().requests == 1).await;
    assert_eq!(db.state(), State::HalfOpen);
    let ex = registry
        .pipeline("db")
        .unwrap()
        .execute_async(|| async { Ok::<_, ()>(()) })
        .await;
    assert_eq!(ex.rejection(), Some(Rejected::TooManyRequests));
    probe.abort();
    let _ = probe.await;
    // The slot is free again: the next probe runs and closes the breaker.
    let ex = registry
        .pipeline("db")
        .unwrap()
        .execute_async(|| async { Ok::<_, ()>(()) })
        .await;
    assert_eq!((ex.attempts(), ex.state()), (1, Some(State::Closed)));
}

#[tokio::test(start_paused = true)]
async fn async_retry_waits_on_tokio_time_and_counts_attempts() {
    let registry = Registry::builder()
        .default_config(BreakerConfig::default().with_call_timeout(Some(SECOND)))
        .build()
        .unwrap();
    let policy = RetryPolicy::<ExecuteError<&str>>::builder()
        .max_attempts(4)
        .base_delay(Duration::from_millis(100))
        .jitter(warden_kit::Jitter::None)
        .retry_if(ExecuteError::is_retryable)
        .build()
        .unwrap();
    let calls = AtomicU32::new(0);
    let start = Instant::now();
    let ex = registry
        .pipeline("db")
        .unwrap()
        .with_retry(policy.clone())
        .execute_async(|| {
            let n = calls.fetch_add(1, Ordering::Relaxed) + 1;
            async move {
                match n {
                    1 => {
                        sleep(2 * SECOND).await; // times out after 1 s
                        Ok(0)
                    }
                    2 => Err("reset"),
                    _ => Ok(n),
                }
            }
        })
        .await;
    assert_eq!((ex.value(), ex.attempts()), (Some(&3), 3));
    // 1 s timeout + 100 ms + (call 2 fails at once) + 200 ms.
    assert_eq!(start.elapsed(), Duration::from_millis(1300));
    assert_eq!(ex.elapsed(), Duration::from_millis(1300));
    let db = registry.breaker("db").unwrap();
    assert_eq!(
        (db.counts().total_failures, db.counts().total_successes),
        (2, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn async_retry_stops_at_a_rejection() {
    let registry = Registry::builder()
        .default_config(BreakerConfig::default().with_trip(TripRule::ConsecutiveFailures(2)))
        .build()
        .unwrap();
    let policy = RetryPolicy::<ExecuteError<&str>>::builder()
        .max_attempts(5)
        .retry_if(ExecuteError::is_retryable)
        .build()
        .unwrap();
    let ex = registry
        .pipeline("db")
        .unwrap()
        .with_retry(policy)
        .with_fallback(Fallback::from_fn(|err| {
            assert_eq!(err.rejection(), Some(Rejected::Open));
            Ok(())
        }))
        .execute_async(|| async { Err::<(), _>("down") })
        .await;
    assert_eq!(ex.attempts(), 2);
    assert!(ex.is_rejected() && ex.used_fallback() && ex.has_value());
}

#[tokio::test(start_paused = true)]
async fn shutdown_applies_to_async_calls() {
    let registry = Registry::builder().build().unwrap();
    let db = registry.pipeline("db").unwrap();
    let _ = db.execute_async(|| async { Ok::<_, ()>(()) }).await;
    registry.shutdown();
    let ex = db.execute_async(|| async { Ok::<_, ()>(()) }).await;
    assert!(matches!(ex.error(), Some(ExecuteError::Shutdown)));
    assert_eq!(ex.attempts(), 0);
    assert!(registry.pipeline::<(), ()>("new").is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_async_futures_are_send() {
    let registry = Arc::new(Registry::builder().build().unwrap());
    let policy = Arc::new(
        RetryPolicy::<ExecuteError<()>>::builder()
            .retry_if(ExecuteError::is_retryable)
            .build()
            .unwrap(),
    );
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let (registry, policy) = (registry.clone(), policy.clone());
            tokio::spawn(async move {
                let name = format!("n{}", i % 2);
                let a = registry
                    .pipeline(&name)
                    .unwrap()
                    .execute_async(|| async { Ok::<_, ()>(i) })
                    .await;
                let b = registry
                    .pipeline(&name)
                    .unwrap()
                    .with_retry((*policy).clone())
                    .execute_async(|| async { Ok::<_, ()>(i) })
                    .await;
                a.has_value() && b.has_value()
            })
        })
        .collect();
    for h in handles {
        assert!(h.await.unwrap());
    }
    assert_eq!(registry.list().len(), 2);
}

/// A future that blocks its thread past the deadline cannot be interrupted,
/// but finishing late is a timeout, not a success. Real time: the future
/// blocks the runtime's only thread, which a paused clock cannot stand for.
#[tokio::test(flavor = "current_thread")]
async fn a_call_that_completes_after_its_deadline_is_a_timeout() {
    let registry = Registry::builder().build().unwrap();
    let limit = Duration::from_millis(10);
    let ex = registry
        .pipeline("api")
        .unwrap()
        .with_timeout(Some(limit))
        .execute_async(|| async {
            // Real time on purpose: this future blocks its thread and never yields.
            std::thread::sleep(Duration::from_millis(60));
            Ok::<_, &str>("late")
        })
        .await;
    assert!(ex.timed_out(), "{:?}", ex.result());
    assert!(matches!(ex.error(), Some(ExecuteError::Timeout(d)) if *d == limit));
    let counts = registry.breaker("api").unwrap().counts();
    assert_eq!((counts.total_successes, counts.total_failures), (0, 1));
}
