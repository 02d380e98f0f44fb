//! Sync execute paths, the registry under concurrency, the bulkhead, lifecycle.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::Duration;

use warden_kit::{
    BreakerConfig, ExecuteError, Fallback, ManualClock, Registry, RegistryError, Rejected,
    RetryPolicy, State, TripRule,
};

fn registry_with(config: BreakerConfig) -> (Registry, ManualClock) {
    let clock = ManualClock::new();
    let registry = Registry::builder()
        .default_config(config)
        .clock(clock.clone())
        .build()
        .unwrap();
    (registry, clock)
}

fn trips_at(n: u32) -> BreakerConfig {
    BreakerConfig::default()
        .with_trip(TripRule::ConsecutiveFailures(n))
        .with_timeout(Duration::from_secs(10))
}

#[test]
fn success_failure_open_and_recovery() {
    let (registry, clock) = registry_with(trips_at(2));

    let ex = registry.pipeline("db").unwrap().execute(|| {
        clock.advance(Duration::from_millis(3));
        Ok::<_, &str>(7)
    });
    assert_eq!(ex.value(), Some(&7));
    assert!(ex.succeeded() && !ex.is_rejected() && !ex.used_fallback() && !ex.timed_out());
    assert_eq!((ex.attempts(), ex.state()), (1, Some(State::Closed)));
    assert_eq!(ex.elapsed(), Duration::from_millis(3));

    let ex = registry
        .pipeline("db")
        .unwrap()
        .execute(|| Err::<u32, _>("refused"));
    assert!(matches!(ex.error(), Some(ExecuteError::Inner("refused"))));
    assert_eq!((ex.attempts(), ex.state()), (1, Some(State::Closed)));

    let ex = registry
        .pipeline("db")
        .unwrap()
        .execute(|| Err::<u32, _>("refused"));
    assert_eq!(
        ex.state(),
        Some(State::Open),
        "second consecutive failure trips"
    );

    let ran = AtomicU32::new(0);
    let ex = registry.pipeline("db").unwrap().execute(|| {
        ran.fetch_add(1, Ordering::Relaxed);
        Ok::<_, &str>(1)
    });
    assert_eq!(
        ran.load(Ordering::Relaxed),
        0,
        "an open breaker does not run the call"
    );
    assert_eq!(ex.rejection(), Some(Rejected::Open));
    assert!(matches!(
        ex.error(),
        Some(ExecuteError::Rejected {
            rejected: Rejected::Open,
            ..
        })
    ));
    // The message names the breaker and the state that refused the call.
    assert_eq!(
        ex.error().unwrap().to_string(),
        "breaker \"db\": circuit breaker is open: call not made"
    );
    assert_eq!((ex.attempts(), ex.elapsed()), (0, Duration::ZERO));

    clock.advance(Duration::from_millis(10_001));
    let ex = registry
        .pipeline("db")
        .unwrap()
        .execute(|| Ok::<_, &str>(2));
    assert_eq!((ex.value(), ex.state()), (Some(&2), Some(State::Closed)));
    assert_eq!(registry.breaker("db").unwrap().counts().total_successes, 0);
}

#[test]
fn half_open_probe_slots_give_too_many_requests() {
    let (registry, clock) = registry_with(trips_at(1).with_max_requests(1));
    let _ = registry
        .pipeline("db")
        .unwrap()
        .execute(|| Err::<(), _>(()));
    clock.advance(Duration::from_millis(10_001));
    let db = registry.breaker("db").unwrap();
    let probe = db.breaker().try_acquire().unwrap();
    let ex = registry.pipeline("db").unwrap().execute(|| Ok::<_, ()>(()));
    assert_eq!(ex.rejection(), Some(Rejected::TooManyRequests));
    assert_eq!(ex.state(), Some(State::HalfOpen));
    probe.success();
    assert_eq!(db.state(), State::Closed);
}

#[test]
fn fallbacks_see_why_and_their_failures_are_reported() {
    let (registry, _clock) = registry_with(trips_at(1));
    // The call fails: the fallback sees the call's error.
    let ex = registry
        .pipeline("db")
        .unwrap()
        .with_fallback(Fallback::from_fn(|err| match err {
            ExecuteError::Inner(e) => {
                assert_eq!(e, "refused");
                Ok(0)
            }
            other => panic!("unexpected {other:?}"),
        }))
        .execute(|| Err::<u32, _>("refused"));
    assert_eq!(ex.value(), Some(&0));
    assert!(ex.used_fallback() && !ex.succeeded() && !ex.is_rejected());
    assert_eq!(ex.state(), Some(State::Open));

    // Rejected: the fallback sees the rejection, the execution says it was rejected.
    let ex = registry
        .pipeline("db")
        .unwrap()
        .with_fallback(Fallback::from_fn(|err| {
            assert_eq!(err.rejection(), Some(Rejected::Open));
            Ok(0)
        }))
        .execute(|| Ok::<u32, &str>(1));
    assert_eq!(ex.value(), Some(&0));
    assert!(ex.is_rejected() && ex.used_fallback());

    // The fallback fails too.
    let ex = registry
        .pipeline("db")
        .unwrap()
        .with_fallback(Fallback::from_fn(|_| Err("no cache")))
        .execute(|| Ok::<u32, &str>(1));
    assert!(matches!(
        ex.error(),
        Some(ExecuteError::Fallback("no cache"))
    ));

    // A success never calls the fallback.
    let ex = registry
        .pipeline("other")
        .unwrap()
        .with_fallback(Fallback::from_fn(|_| panic!("not called")))
        .execute(|| Ok::<u32, &str>(5));
    assert_eq!(ex.value(), Some(&5));
    assert!(!ex.used_fallback());
}

#[test]
fn a_panicking_call_counts_as_a_failure_and_unwinds() {
    let (registry, _clock) = registry_with(trips_at(1));
    let caught = catch_unwind(AssertUnwindSafe(|| {
        let _ = registry
            .pipeline("db")
            .unwrap()
            .execute(|| -> Result<(), ()> { panic!("boom") });
    }));
    assert!(caught.is_err());
    assert_eq!(registry.breaker("db").unwrap().state(), State::Open);
}

#[test]
fn retry_counts_attempts_and_stops_on_rejection() {
    let (registry, _clock) = registry_with(trips_at(2));
    let policy = RetryPolicy::<ExecuteError<&str>>::builder()
        .max_attempts(5)
        .base_delay(Duration::ZERO)
        .retry_if(ExecuteError::is_retryable)
        .build()
        .unwrap();
    let mut calls = 0;
    let ex = registry
        .pipeline("flaky")
        .unwrap()
        .with_retry(policy.clone())
        .execute(|| {
            calls += 1;
            if calls < 3 { Err("reset") } else { Ok(calls) }
        });
    // Failures 1 and 2 are consecutive: the breaker trips on the second, so the
    // third attempt is refused and the run stops there.
    assert_eq!(calls, 2);
    assert_eq!(ex.attempts(), 2);
    assert_eq!(ex.rejection(), Some(Rejected::Open));
    assert_eq!(ex.state(), Some(State::Open));

    let (registry, _clock) = registry_with(trips_at(10));
    let mut calls = 0;
    let ex = registry
        .pipeline("flaky")
        .unwrap()
        .with_retry(policy.clone())
        .execute(|| {
            calls += 1;
            if calls < 3 { Err("reset") } else { Ok(calls) }
        });
    assert_eq!((ex.value(), ex.attempts()), (Some(&3), 3));
    assert_eq!(
        registry.breaker("flaky").unwrap().counts().total_failures,
        2
    );
}

#[test]
fn a_rejection_ends_the_retries_even_without_retry_if() {
    // The policy retries every error (no retry_if): the registry still stops at
    // the first refused attempt instead of waiting out backoffs into an open breaker,
    // unless the policy asks to retry rejections.
    for retry_rejections in [false, true] {
        let (registry, _clock) = registry_with(trips_at(2));
        let sleeper = warden_kit::retry::ManualSleeper::new();
        let policy = RetryPolicy::<ExecuteError<&str>>::builder()
            .max_attempts(5)
            .base_delay(Duration::from_millis(10))
            .sleeper(sleeper.clone())
            .retry_rejections(retry_rejections)
            .build()
            .unwrap();
        let mut calls = 0;
        let ex = registry
            .pipeline("flaky")
            .unwrap()
            .with_retry(policy.clone())
            .execute(|| {
                calls += 1;
                Err::<(), _>("reset")
            });
        assert_eq!(
            (calls, ex.attempts()),
            (2, 2),
            "only the admitted attempts ran"
        );
        assert_eq!(ex.rejection(), Some(Rejected::Open));
        // Waits after attempts 1 and 2 (failures); with rejections retried, also after
        // the refused attempts 3 and 4.
        let waits = if retry_rejections { 4 } else { 2 };
        assert_eq!(
            sleeper.sleeps().len(),
            waits,
            "retry_rejections = {retry_rejections}"
        );
    }
}

#[test]
fn many_threads_creating_the_same_names_get_one_breaker_per_name() {
    const THREADS: usize = 8;
    const NAMES: usize = 40;
    const ROUNDS: usize = 25;
    let registry = Arc::new(Registry::builder().build().unwrap());
    let names: Arc<Vec<String>> = Arc::new((0..NAMES).map(|i| format!("dep-{i}")).collect());
    let barrier = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (registry, names, barrier) = (registry.clone(), names.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                let mut seen = Vec::new();
                for round in 0..ROUNDS {
                    for i in 0..NAMES {
                        // Each thread starts the walk over all names at its own place.
                        let name = &names[(i + t * 7 + round) % NAMES];
                        let ex = registry.pipeline(name).unwrap().execute(|| Ok::<_, ()>(()));
                        assert!(ex.has_value());
                    }
                }
                for name in names.iter() {
                    let handle = registry.breaker(name).unwrap();
                    seen.push(handle.breaker() as *const _ as usize);
                }
                seen
            })
        })
        .collect();
    let seen: Vec<Vec<usize>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    for other in &seen[1..] {
        assert_eq!(
            other, &seen[0],
            "every thread sees the same breaker per name"
        );
    }
    assert_eq!(seen[0].iter().collect::<HashSet<_>>().len(), NAMES);
    let list = registry.list();
    assert_eq!(list.len(), NAMES);
    for status in list {
        // A second breaker for a name would have taken some of these calls.
        assert_eq!(
            status.counts.total_successes as usize,
            THREADS * ROUNDS,
            "{}",
            status.name
        );
    }
}

#[test]
fn configure_before_first_use_only() {
    let registry = Registry::builder().build().unwrap();
    registry
        .configure("ch", BreakerConfig::clickhouse())
        .unwrap();
    assert_eq!(
        *registry.breaker("ch").unwrap().config(),
        BreakerConfig::clickhouse()
    );
    assert_eq!(
        registry.configure("ch", BreakerConfig::default()),
        Err(RegistryError::AlreadyCreated { name: "ch".into() })
    );
    let bad = BreakerConfig::default().with_max_requests(u32::MAX);
    match registry.configure("x", bad) {
        Err(RegistryError::Config(e)) => assert_eq!(e.path(), "breakers.x.max_requests"),
        other => panic!("{other:?}"),
    }
    // Unconfigured names get the default.
    assert_eq!(
        *registry.breaker("y").unwrap().config(),
        BreakerConfig::default()
    );
}

#[test]
fn bulkhead_rejects_when_full_and_frees_slots() {
    let registry = Arc::new(
        Registry::builder()
            .configure("ch", BreakerConfig::default().with_max_concurrent(3))
            .build()
            .unwrap(),
    );
    let (entered_tx, entered) = mpsc::channel();
    let (release_tx, release) = mpsc::channel::<()>();
    let release = Arc::new(std::sync::Mutex::new(release));
    let holders: Vec<_> = (0..3)
        .map(|_| {
            let (registry, entered_tx, release) =
                (registry.clone(), entered_tx.clone(), release.clone());
            thread::spawn(move || {
                registry
                    .pipeline("ch")
                    .unwrap()
                    .execute(|| {
                        entered_tx.send(()).unwrap();
                        release.lock().unwrap().recv().unwrap();
                        Ok::<_, ()>(())
                    })
                    .has_value()
            })
        })
        .collect();
    for _ in 0..3 {
        entered.recv().unwrap();
    }
    let ch = registry.breaker("ch").unwrap();
    assert_eq!(ch.in_flight(), Some(3));
    let ran = AtomicU32::new(0);
    let ex = registry.pipeline("ch").unwrap().execute(|| {
        ran.fetch_add(1, Ordering::Relaxed);
        Ok::<_, ()>(())
    });
    assert!(ex.is_rejected() && ex.rejection().is_none());
    assert!(matches!(
        ex.error(),
        Some(ExecuteError::BulkheadFull { .. })
    ));
    assert_eq!((ex.attempts(), ran.load(Ordering::Relaxed)), (0, 0));
    // A full bulkhead is not the dependency's fault: the breaker saw nothing.
    assert_eq!(ch.counts().requests, 3);
    for _ in 0..3 {
        release_tx.send(()).unwrap();
    }
    assert!(holders.into_iter().all(|h| h.join().unwrap()));
    assert_eq!(ch.in_flight(), Some(0));
    assert!(
        registry
            .pipeline("ch")
            .unwrap()
            .execute(|| Ok::<_, ()>(()))
            .has_value()
    );
    let status = &registry.list()[0];
    assert_eq!(
        (status.in_flight, status.max_concurrent),
        (Some(0), Some(3))
    );
}

#[test]
fn bulkhead_limit_holds_under_concurrency() {
    const LIMIT: usize = 2;
    const THREADS: usize = 6;
    const CALLS: usize = 2000;
    let registry = Arc::new(
        Registry::builder()
            .configure(
                "db",
                BreakerConfig::default().with_max_concurrent(LIMIT as u32),
            )
            .build()
            .unwrap(),
    );
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (registry, running, peak, barrier) = (
                registry.clone(),
                running.clone(),
                peak.clone(),
                barrier.clone(),
            );
            thread::spawn(move || {
                barrier.wait();
                let (mut ran, mut full) = (0, 0);
                for _ in 0..CALLS {
                    let ex = registry.pipeline("db").unwrap().execute(|| {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        thread::yield_now();
                        running.fetch_sub(1, Ordering::SeqCst);
                        Ok::<_, ()>(())
                    });
                    match ex.error() {
                        None => ran += 1,
                        Some(ExecuteError::BulkheadFull { .. }) => full += 1,
                        Some(other) => panic!("{other:?}"),
                    }
                }
                (ran, full)
            })
        })
        .collect();
    let (ran, full) = threads
        .into_iter()
        .map(|t| t.join().unwrap())
        .fold((0, 0), |(a, b), (c, d)| (a + c, b + d));
    assert!(
        peak.load(Ordering::SeqCst) <= LIMIT,
        "peak {}",
        peak.load(Ordering::SeqCst)
    );
    assert_eq!(ran + full, THREADS * CALLS);
    let db = registry.breaker("db").unwrap();
    assert_eq!(db.counts().total_successes as usize, ran);
    assert_eq!(db.in_flight(), Some(0));
}

#[test]
fn shutdown_refuses_new_calls_and_lets_running_ones_finish() {
    let registry = Arc::new(Registry::builder().build().unwrap());
    let kept = registry.breaker("db").unwrap();
    let pipeline = registry.pipeline("db").unwrap();
    let (entered_tx, entered) = mpsc::channel();
    let (release_tx, release) = mpsc::channel::<()>();
    let running = {
        let registry = registry.clone();
        thread::spawn(move || {
            registry.pipeline("db").unwrap().execute(|| {
                entered_tx.send(()).unwrap();
                release.recv().unwrap();
                Ok::<_, ()>("finished")
            })
        })
    };
    entered.recv().unwrap();
    let last = registry.shutdown();
    assert_eq!(last.len(), 1);
    assert!(registry.is_shut_down());
    release_tx.send(()).unwrap();
    assert_eq!(running.join().unwrap().value(), Some(&"finished"));

    let ran = AtomicU32::new(0);
    let f = || {
        ran.fetch_add(1, Ordering::Relaxed);
        Ok::<_, ()>(())
    };
    let ex = pipeline.execute(f);
    assert!(matches!(ex.error(), Some(ExecuteError::Shutdown)));
    assert_eq!((ex.attempts(), ex.state()), (0, Some(State::Closed)));
    let ex = kept.pipeline().execute(f);
    assert!(matches!(ex.error(), Some(ExecuteError::Shutdown)));
    assert_eq!(
        registry.pipeline::<(), ()>("never-used").unwrap_err(),
        RegistryError::Shutdown
    );
    assert_eq!(ran.load(Ordering::Relaxed), 0);
    assert_eq!(registry.breaker("db").unwrap_err(), RegistryError::Shutdown);
    assert_eq!(
        registry.configure("late", BreakerConfig::default()),
        Err(RegistryError::Shutdown)
    );
    // Listing still works, and a second shutdown is harmless.
    assert_eq!(registry.list()[0].counts.total_successes, 1);
    assert_eq!(registry.shutdown().len(), 1);
}

/// With the default clock, the registry's breakers are moved on time: an open
/// breaker turns half-open at its timeout without any call, so `state()`, `list()`
/// and the callbacks do not lag. Real time on purpose: the ticker thread that makes
/// the move runs only for the default clock, which a `ManualClock` replaces. Bounded:
/// a 30 ms timeout, the move awaited for at most 5 s.
#[test]
fn an_open_breaker_turns_half_open_on_time_without_a_call() {
    let (tx, rx) = mpsc::channel();
    let registry = Registry::builder()
        .default_config(trips_at(1).with_timeout(Duration::from_millis(30)))
        .on_state_change(move |name, from, to| {
            let _ = tx.send((name.to_owned(), from, to));
        })
        .build()
        .unwrap();
    let db = registry.breaker("db").unwrap();
    let _ = db.breaker().call(|| Err::<(), _>("refused"));
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)).unwrap(),
        ("db".to_owned(), State::Closed, State::Open)
    );
    // No call from here on: the move to half-open comes from the ticker.
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)).unwrap(),
        ("db".to_owned(), State::Open, State::HalfOpen)
    );
    assert_eq!(db.state(), State::HalfOpen);
}
