//! The pipeline: the order of its strategies (fallback, retry, bulkhead,
//! breaker, timeout, outermost first), each fallback strategy, classifiers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use warden_kit::breaker::Outcome;
use warden_kit::{
    BreakerConfig, ExecuteError, Fallback, ManualClock, Registry, Rejected, RetryPolicy, State,
    TripRule,
};

fn no_wait<E: 'static>(attempts: u32) -> RetryPolicy<ExecuteError<E>> {
    RetryPolicy::builder()
        .max_attempts(attempts)
        .base_delay(Duration::ZERO)
        .retry_if(ExecuteError::is_retryable)
        .build()
        .unwrap()
}

#[test]
fn the_fallback_is_outermost_it_runs_once_after_every_retry() {
    let registry = Registry::builder().build().unwrap();
    let fallbacks = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&fallbacks);
    let p = registry
        .pipeline("db")
        .unwrap()
        .with_retry(no_wait(3))
        .with_fallback(Fallback::from_fn(move |err| {
            seen.fetch_add(1, Ordering::Relaxed);
            assert!(matches!(err, ExecuteError::Inner("down")));
            Ok(0)
        }));
    let ex = p.execute(|| Err::<u32, _>("down"));
    assert_eq!((ex.value(), ex.attempts()), (Some(&0), 3));
    assert!(ex.used_fallback() && !ex.succeeded());
    assert_eq!(fallbacks.load(Ordering::Relaxed), 1);
    // Every attempt was judged by the breaker.
    assert_eq!(registry.breaker("db").unwrap().counts().total_failures, 3);
}

#[test]
fn the_retry_is_outside_the_breaker_a_trip_ends_the_run() {
    let registry = Registry::builder()
        .configure(
            "db",
            BreakerConfig::default().with_trip(TripRule::ConsecutiveFailures(2)),
        )
        .build()
        .unwrap();
    let p = registry
        .pipeline("db")
        .unwrap()
        .with_retry(no_wait(5))
        .with_fallback(Fallback::from_fn(|err| {
            // The fallback sees the rejection that ended the run.
            assert_eq!(err.rejection(), Some(Rejected::Open));
            Ok(())
        }));
    let ex = p.execute(|| Err("down"));
    assert_eq!(ex.attempts(), 2);
    assert!(ex.is_rejected() && ex.used_fallback() && ex.has_value());
    assert_eq!(ex.state(), Some(State::Open));
}

#[tokio::test(start_paused = true)]
async fn the_timeout_is_per_attempt_and_inside_the_breaker() {
    let registry = Registry::builder().build().unwrap();
    let p = registry
        .pipeline("api")
        .unwrap()
        .with_timeout(Some(Duration::from_secs(1)))
        .with_retry(no_wait(3));
    let calls = AtomicU32::new(0);
    let start = tokio::time::Instant::now();
    let ex = p
        .execute_async(|| {
            let n = calls.fetch_add(1, Ordering::Relaxed);
            async move {
                // Each attempt takes 1.5 s; the third would make it in 0.5 s.
                let took = if n < 2 { 1500 } else { 500 };
                tokio::time::sleep(Duration::from_millis(took)).await;
                Ok::<_, ()>(n)
            }
        })
        .await;
    // A total timeout would have cut the run at 1 s; per attempt, the third gets
    // a fresh second and succeeds.
    assert_eq!((ex.value(), ex.attempts()), (Some(&2), 3));
    assert_eq!(start.elapsed(), Duration::from_millis(2500));
    // Inside the breaker: both timeouts were counted as failures.
    let c = registry.breaker("api").unwrap().counts();
    assert_eq!((c.total_failures, c.total_successes), (2, 1));
}

#[tokio::test(start_paused = true)]
async fn the_bulkhead_is_inside_the_retry_its_slot_is_free_during_waits() {
    let registry = Registry::builder()
        .configure("db", BreakerConfig::default().with_max_concurrent(1))
        .build()
        .unwrap();
    let retrying = registry.pipeline("db").unwrap().with_retry(
        RetryPolicy::builder()
            .max_attempts(2)
            .base_delay(Duration::from_secs(1))
            .jitter(warden_kit::Jitter::None)
            .retry_if(ExecuteError::is_retryable)
            .build()
            .unwrap(),
    );
    let other = registry.pipeline("db").unwrap();
    let (first, second) = tokio::join!(
        retrying.execute_async(|| async { Err::<(), _>("down") }),
        async {
            // Half-way through the first run's backoff wait.
            tokio::time::sleep(Duration::from_millis(500)).await;
            other.execute_async(|| async { Ok::<_, &str>(()) }).await
        }
    );
    assert_eq!(first.attempts(), 2);
    assert!(second.succeeded(), "{:?}", second.error());
}

#[test]
fn a_full_bulkhead_refuses_before_the_breaker_is_asked() {
    let registry = Registry::builder()
        .configure("db", BreakerConfig::default().with_max_concurrent(1))
        .build()
        .unwrap();
    let p = registry.pipeline("db").unwrap();
    let inner = p.clone();
    let ex = p.execute(|| {
        // A nested call on the same name finds the only slot taken.
        let nested = inner.execute(|| Ok::<_, &str>(()));
        assert!(matches!(
            nested.error(),
            Some(ExecuteError::BulkheadFull { .. })
        ));
        Ok(())
    });
    assert!(ex.succeeded());
    // The refused call never reached the breaker.
    assert_eq!(registry.breaker("db").unwrap().counts().requests, 1);
}

#[test]
fn last_good_serves_a_fresh_enough_value_only() {
    let clock = ManualClock::new();
    let registry = Registry::builder().clock(clock.clone()).build().unwrap();
    let p = registry
        .pipeline("rates")
        .unwrap()
        .with_fallback(Fallback::last_good(Duration::from_secs(60)));
    // Nothing remembered yet: the error stands.
    let ex = p.execute(|| Err::<u32, _>("down"));
    assert!(matches!(ex.error(), Some(ExecuteError::Inner("down"))));
    assert!(!ex.used_fallback());

    assert!(p.execute(|| Ok(1)).succeeded());
    clock.advance(Duration::from_secs(60));
    let ex = p.execute(|| Err("down"));
    assert_eq!(ex.value(), Some(&1));
    assert!(ex.used_fallback() && !ex.succeeded());

    // A clone shares the memory; a newer value replaces the older.
    let clone = p.clone();
    assert!(clone.execute(|| Ok(2)).succeeded());
    clock.advance(Duration::from_secs(30));
    assert_eq!(p.execute(|| Err("down")).value(), Some(&2));

    clock.advance(Duration::from_millis(30_001));
    let ex = p.execute(|| Err("down"));
    assert!(ex.value().is_none() && !ex.used_fallback());
}

/// Two successes overlapping: the one seen earlier (its clock read first) is
/// stored last, here because its value's clone is slow. The memory keeps the
/// newer value; it used to be overwritten by the older one with its older time,
/// so a failure 65 s later found nothing fresh though a 55 s old value had been
/// seen.
#[test]
fn last_good_keeps_the_newer_of_two_overlapping_successes() {
    use std::sync::Barrier;
    struct Gate {
        entered: Barrier,
        release: Barrier,
    }
    /// A value whose first clone waits at the gate (the clone `remember` makes).
    struct Value {
        tag: &'static str,
        gate: Option<Arc<Gate>>,
    }
    impl Clone for Value {
        fn clone(&self) -> Self {
            if let Some(g) = &self.gate {
                g.entered.wait();
                g.release.wait();
            }
            Value {
                tag: self.tag,
                gate: None,
            }
        }
    }
    let clock = ManualClock::new();
    let registry = Registry::builder().clock(clock.clone()).build().unwrap();
    let p = registry
        .pipeline("rates")
        .unwrap()
        .with_fallback(Fallback::last_good(Duration::from_secs(60)));
    let gate = Arc::new(Gate {
        entered: Barrier::new(2),
        release: Barrier::new(2),
    });
    let older = {
        let (p, gate) = (p.clone(), Arc::clone(&gate));
        std::thread::spawn(move || {
            let mut value = Some(Value {
                tag: "older",
                gate: Some(gate),
            });
            assert!(
                p.execute(|| Ok::<_, &str>(value.take().unwrap()))
                    .succeeded()
            );
        })
    };
    gate.entered.wait(); // "older" was seen at 0 s and is being stored
    clock.advance(Duration::from_secs(10));
    let mut newer = Some(Value {
        tag: "newer",
        gate: None,
    });
    assert!(p.execute(|| Ok(newer.take().unwrap())).succeeded()); // seen at 10 s
    gate.release.wait();
    older.join().unwrap();
    clock.advance(Duration::from_secs(55)); // 65 s: "older" too old, "newer" fresh
    let ex = p.execute(|| Err("down"));
    assert_eq!(ex.value().map(|v| v.tag), Some("newer"));
}

#[test]
fn last_good_does_not_remember_a_value_the_classifier_failed() {
    let clock = ManualClock::new();
    let registry = Registry::builder().clock(clock.clone()).build().unwrap();
    let p = registry
        .pipeline("http")
        .unwrap()
        .with_classifier(|r: &Result<u16, &str>| match r {
            Ok(status) if *status >= 500 => Outcome::Failure,
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        })
        .with_fallback(Fallback::last_good(Duration::from_secs(60)));
    assert!(p.execute(|| Ok(200)).succeeded());
    let ex = p.execute(|| Ok(503));
    assert_eq!(ex.value(), Some(&503)); // returned as is
    assert!(!ex.succeeded() && !ex.used_fallback());
    assert_eq!(p.execute(|| Err("reset")).value(), Some(&200));
}

#[test]
fn a_secondary_runs_through_its_own_breaker() {
    let registry = Registry::builder()
        .configure(
            "replica",
            BreakerConfig::default().with_trip(TripRule::ConsecutiveFailures(1)),
        )
        .build()
        .unwrap();
    let replica_calls = Arc::new(AtomicU32::new(0));
    let calls = Arc::clone(&replica_calls);
    let p = registry
        .pipeline("primary")
        .unwrap()
        .with_fallback(Fallback::secondary(
            registry.pipeline("replica").unwrap(),
            move || {
                calls.fetch_add(1, Ordering::Relaxed);
                Err::<u32, _>("replica down")
            },
        ));
    // The secondary's own error, as the fallback's.
    let ex = p.execute(|| Err("primary down"));
    assert!(matches!(
        ex.error(),
        Some(ExecuteError::Fallback("replica down"))
    ));
    assert!(ex.used_fallback());
    // The replica's breaker tripped: now it refuses, naming itself.
    let ex = p.execute(|| Err("primary down"));
    match ex.error() {
        Some(ExecuteError::Rejected { breaker, rejected }) => {
            assert_eq!((&**breaker, *rejected), ("replica", Rejected::Open));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(replica_calls.load(Ordering::Relaxed), 1);
    assert_eq!(
        registry.breaker("primary").unwrap().counts().total_failures,
        2
    );
}

#[tokio::test]
async fn an_async_secondary_runs_only_in_async_runs() {
    let registry = Registry::builder().build().unwrap();
    let p = registry
        .pipeline("sms")
        .unwrap()
        .with_fallback(Fallback::secondary_async(
            registry.pipeline("sms-backup").unwrap(),
            || async { Ok::<_, String>("backup") },
        ));
    let ex = p
        .execute_async(|| async { Err("provider down".to_owned()) })
        .await;
    assert_eq!(ex.value(), Some(&"backup"));
    assert!(ex.used_fallback());
    let backup = registry.breaker("sms-backup").unwrap();
    assert_eq!(backup.counts().total_successes, 1);
    // A sync run cannot await it: the error stands.
    let ex = p.execute(|| Err("provider down".to_owned()));
    assert!(ex.error().is_some() && !ex.used_fallback());
}

#[test]
fn the_classifier_decides_what_the_breaker_counts() {
    let registry = Registry::builder()
        .configure(
            "users",
            BreakerConfig::default().with_trip(TripRule::ConsecutiveFailures(2)),
        )
        .build()
        .unwrap();
    let p = registry
        .pipeline("users")
        .unwrap()
        .with_classifier(|r: &Result<u16, &str>| match r {
            Err(e) if *e == "not found" => Outcome::Ignored,
            Ok(s) if *s >= 500 => Outcome::Failure,
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        });
    for _ in 0..5 {
        let _ = p.execute(|| Err("not found"));
    }
    let c = registry.breaker("users").unwrap().counts();
    assert_eq!((c.total_failures, c.total_exclusions), (0, 5));
    assert_eq!(p.state(), State::Closed);
    for _ in 0..2 {
        assert!(p.execute(|| Ok(500)).has_value());
    }
    assert_eq!(p.state(), State::Open);
}

#[test]
fn a_sync_attempt_past_its_timeout_is_a_failure() {
    let clock = ManualClock::new();
    let registry = Registry::builder()
        .clock(clock.clone())
        .configure(
            "db",
            BreakerConfig::default().with_call_timeout(Some(Duration::from_millis(100))),
        )
        .build()
        .unwrap();
    // The name's call timeout applies to sync runs too.
    let p = registry.pipeline("db").unwrap();
    let ex = p.execute(|| {
        clock.advance(Duration::from_millis(100));
        Ok::<_, ()>("on time")
    });
    assert!(ex.succeeded());
    let ex = p.execute(|| {
        clock.advance(Duration::from_millis(101));
        Ok::<_, ()>("late")
    });
    assert!(ex.timed_out());
    assert!(
        matches!(ex.error(), Some(ExecuteError::Timeout(d)) if *d == Duration::from_millis(100))
    );
    let c = registry.breaker("db").unwrap().counts();
    assert_eq!((c.total_successes, c.total_failures), (1, 1));
    // Without a timeout, the same call is on time.
    let ex = p.with_timeout(None).execute(|| {
        clock.advance(Duration::from_secs(5));
        Ok::<_, ()>("slow")
    });
    assert!(ex.succeeded());
}

/// What a run came to, for comparing the paths a pipeline may take.
fn summary(ex: &warden_kit::Execution<u32, &str>) -> String {
    format!(
        "{:?} {:?} ok={} rejected={} timed_out={} attempts={} state={:?} elapsed={:?}",
        ex.value(),
        ex.error().map(ToString::to_string),
        ex.succeeded(),
        ex.is_rejected(),
        ex.timed_out(),
        ex.attempts(),
        ex.state(),
        ex.elapsed()
    )
}

#[test]
fn every_path_of_a_pipeline_gives_the_same_run_for_the_same_call() {
    // With only the breaker a pipeline takes its shortest path; a classifier
    // that says what the default says, a timeout never reached, or a retry of
    // one attempt take the others. All must agree.
    let clock = ManualClock::new();
    let registry = Registry::builder()
        .clock(clock.clone())
        .configure(
            "db",
            BreakerConfig::default()
                .with_trip(TripRule::ConsecutiveFailures(100))
                .with_max_concurrent(1),
        )
        .build()
        .unwrap();
    let bare = registry.pipeline::<u32, &str>("db").unwrap();
    let paths = [
        bare.clone(),
        bare.clone().with_classifier(|r: &Result<u32, &str>| {
            if r.is_ok() {
                Outcome::Success
            } else {
                Outcome::Failure
            }
        }),
        bare.clone().with_timeout(Some(Duration::from_secs(60))),
        bare.clone().with_retry(no_wait(1)),
        // A timeout added and taken away again: back on the shortest path.
        bare.clone()
            .with_timeout(Some(Duration::from_millis(1)))
            .with_timeout(None),
    ];
    let db = registry.breaker("db").unwrap();
    let mut runs = Vec::new();
    for p in &paths {
        let ok = p.execute(|| {
            clock.advance(Duration::from_millis(5));
            Ok(7)
        });
        let err = p.execute(|| {
            clock.advance(Duration::from_millis(5));
            Err("down")
        });
        db.breaker().force_open();
        let refused = p.execute(|| Ok(0));
        db.breaker().reset();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            p.execute(|| -> Result<u32, &str> { panic!("boom") })
        }));
        assert!(panicked.is_err());
        // The panic gave the bulkhead slot back and counted as a failure.
        assert_eq!(db.in_flight(), Some(0));
        assert_eq!(db.counts().consecutive_failures, 1);
        runs.push([summary(&ok), summary(&err), summary(&refused)]);
        db.breaker().reset();
    }
    assert_eq!(
        runs[0][0],
        "Some(7) None ok=true rejected=false timed_out=false attempts=1 state=Some(Closed) elapsed=5ms"
    );
    assert!(runs[0][2].contains("rejected=true") && runs[0][2].contains("attempts=0"));
    for run in &runs[1..] {
        assert_eq!(run, &runs[0]);
    }
}

#[test]
fn a_call_the_throttle_sheds_ends_the_run_as_throttled() {
    let registry = Registry::builder()
        .configure(
            "api",
            BreakerConfig::default().with_trip(TripRule::Adaptive {
                window: Duration::from_secs(10),
                buckets: 10,
                k: 2.0,
                min_requests: 1,
                max_reject_percent: 100,
            }),
        )
        .clock(ManualClock::new())
        .build()
        .unwrap();
    let calls = AtomicU32::new(0);
    let p = registry
        .pipeline("api")
        .unwrap()
        .with_retry(no_wait(3))
        .with_fallback(Fallback::value(0));
    warden_kit::breaker::AdaptiveThrottle::set_thread_draws(5);
    let mut shed_runs = 0;
    for _ in 0..100 {
        let ex = p.execute(|| {
            calls.fetch_add(1, Ordering::Relaxed);
            Err::<u32, _>("503")
        });
        assert_eq!(ex.value(), Some(&0), "the fallback serves either way");
        assert_eq!(ex.state(), Some(State::Closed), "a throttle never opens");
        if ex.is_rejected() {
            assert_eq!(ex.rejection(), Some(Rejected::Throttled));
            shed_runs += 1;
        }
    }
    assert!(shed_runs > 80, "{shed_runs}");
    // Every attempt made the call or was shed, and a shed attempt ended its run
    // (a refusal is never retried).
    let t = registry.breaker("api").unwrap().breaker().totals();
    assert_eq!(t.failures, u64::from(calls.load(Ordering::Relaxed)));
    assert_eq!(t.rejected_throttled, shed_runs);
}
