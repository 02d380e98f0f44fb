//! Names at scale: bounds, removal, safe eviction, the eviction attack, drain.

use std::sync::{Arc, Barrier, OnceLock, Weak, mpsc};
use std::thread;
use std::time::Duration;

use warden_kit::{
    BreakerConfig, ExecuteError, ManualClock, NameError, Registry, RegistryError, Rejected, State,
    TripRule,
};

fn trips_at(n: u32) -> BreakerConfig {
    BreakerConfig::default()
        .with_trip(TripRule::ConsecutiveFailures(n))
        .with_timeout(Duration::from_secs(30))
}

#[test]
fn a_long_name_is_refused_with_a_bounded_error() {
    let registry = Registry::builder().build().unwrap();
    let name = "n".repeat(1 << 20); // 1 MiB
    let err = registry.breaker(&name).unwrap_err();
    assert!(
        matches!(&err, RegistryError::Name(NameError::TooLong { len, max: 256, .. }) if *len == 1 << 20)
    );
    assert!(err.to_string().len() < 200, "{}", err.to_string().len());
    assert!(matches!(
        registry.pipeline::<(), ()>(&name),
        Err(RegistryError::Name(NameError::TooLong { .. }))
    ));
    assert!(matches!(
        registry.configure(&name, BreakerConfig::default()),
        Err(RegistryError::Name(NameError::TooLong { .. }))
    ));
    assert!(registry.is_empty());
    // Exactly at the limit is fine.
    assert!(registry.breaker(&"n".repeat(256)).is_ok());
}

#[test]
fn a_strict_registry_refuses_names_it_was_not_given() {
    let registry = Registry::builder()
        .strict(true)
        .configure("kafka", BreakerConfig::kafka())
        .build()
        .unwrap();
    registry
        .configure("sms", BreakerConfig::notification())
        .unwrap();
    assert!(
        registry
            .pipeline("kafka")
            .unwrap()
            .execute(|| Ok::<_, ()>(()))
            .has_value()
    );
    assert!(
        registry
            .pipeline("sms")
            .unwrap()
            .execute(|| Ok::<_, ()>(()))
            .has_value()
    );
    assert!(matches!(
        registry.pipeline::<(), ()>("kafak"),
        Err(RegistryError::Name(NameError::NotConfigured { name })) if name == "kafak"
    ));
    assert_eq!(registry.len(), 2);
}

#[test]
fn at_the_cap_with_nothing_idle_a_new_name_is_refused_and_state_stays() {
    let clock = ManualClock::new();
    let registry = Registry::builder()
        .default_config(trips_at(2))
        .clock(clock.clone())
        .max_breakers(3)
        .build()
        .unwrap();
    // Each carries information: open, failing, held by a handle.
    for _ in 0..2 {
        let _ = registry
            .pipeline("open")
            .unwrap()
            .execute(|| Err::<(), _>("down"));
    }
    let _ = registry
        .pipeline("failing")
        .unwrap()
        .execute(|| Err::<(), _>("down"));
    let held = registry.breaker("held").unwrap();
    assert!(matches!(
        registry.pipeline::<(), ()>("new"),
        Err(RegistryError::Name(NameError::Full { max: 3 }))
    ));
    assert_eq!(registry.breaker("open").unwrap().state(), State::Open);
    assert_eq!(
        registry
            .breaker("failing")
            .unwrap()
            .counts()
            .consecutive_failures,
        1
    );
    assert_eq!(registry.len(), 3);
    // Once the handle is dropped, its breaker (closed, no failure) may go.
    drop(held);
    assert!(
        registry
            .pipeline("new")
            .unwrap()
            .execute(|| Ok::<_, ()>(()))
            .has_value()
    );
    assert!(registry.get("held").is_none());
    assert!(registry.get("open").is_some() && registry.get("failing").is_some());
}

#[test]
fn forced_configured_half_open_and_in_flight_breakers_are_never_evicted() {
    let clock = ManualClock::new();
    let registry = Arc::new(
        Registry::builder()
            .default_config(trips_at(1))
            .configure("configured", BreakerConfig::default())
            .clock(clock.clone())
            .max_breakers(5)
            .build()
            .unwrap(),
    );
    let _ = registry
        .pipeline("configured")
        .unwrap()
        .execute(|| Ok::<_, ()>(()));
    registry.breaker("forced").unwrap().breaker().force_closed();
    let _ = registry
        .pipeline("half-open")
        .unwrap()
        .execute(|| Err::<(), _>("down"));
    clock.advance(Duration::from_secs(31));
    assert_eq!(
        registry.breaker("half-open").unwrap().state(),
        State::HalfOpen
    );
    let _ = registry
        .pipeline("disabled")
        .unwrap()
        .execute(|| Ok::<_, ()>(()));
    registry.breaker("disabled").unwrap().breaker().disable();
    // A call running in another thread.
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let r = Arc::clone(&registry);
    let running = thread::spawn(move || {
        r.pipeline("running").unwrap().execute(|| {
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            Ok::<_, ()>(())
        })
    });
    started.recv().unwrap();
    assert_eq!(registry.len(), 5);
    for i in 0..100 {
        assert!(matches!(
            registry.pipeline::<(), ()>(&format!("made-up-{i}")),
            Err(RegistryError::Name(NameError::Full { .. }))
        ));
    }
    release.send(()).unwrap();
    assert!(running.join().unwrap().has_value());
    // Finished, closed, no failure: now it can go.
    assert!(
        registry
            .pipeline("made-up")
            .unwrap()
            .execute(|| Ok::<_, ()>(()))
            .has_value()
    );
    assert!(registry.get("running").is_none());
    for name in ["configured", "forced", "half-open", "disabled"] {
        assert!(registry.get(name).is_some(), "{name}");
    }
}

/// A client alternates a route whose upstream always fails with thousands of
/// made-up routes under a small cap: the failing route's breaker still trips,
/// stays open for its timeout, and is never pushed out.
#[test]
fn made_up_names_cannot_evict_a_failing_breaker() {
    let clock = ManualClock::new();
    let registry = Registry::builder()
        .default_config(trips_at(5))
        .clock(clock.clone())
        .max_breakers(16)
        .build()
        .unwrap();
    let mut upstream_calls = 0;
    let mut first = None;
    for i in 0..5000 {
        let _ = registry.pipeline("/failing").unwrap().execute(|| {
            upstream_calls += 1;
            Err::<(), _>("503")
        });
        // No handle is kept across the made-up call: a kept handle alone
        // would protect the breaker.
        let ptr = std::ptr::from_ref(registry.get("/failing").unwrap().breaker()) as usize;
        assert_eq!(*first.get_or_insert(ptr), ptr, "replaced at round {i}");
        let _ = registry
            .pipeline(&format!("/made-up/{i}"))
            .unwrap()
            .execute(|| Ok::<_, ()>(()));
        clock.advance(Duration::from_millis(5)); // 25 s over the run: within the timeout
    }
    // Five failures tripped it; every later call was refused without running.
    assert_eq!(upstream_calls, 5);
    let failing = registry.get("/failing").unwrap();
    assert_eq!(failing.state(), State::Open);
    let ex = registry
        .pipeline("/failing")
        .unwrap()
        .execute(|| Ok::<_, &str>(()));
    assert_eq!(ex.rejection(), Some(Rejected::Open));
    assert_eq!(registry.len(), 16);
    clock.advance(Duration::from_secs(6));
    assert_eq!(failing.state(), State::HalfOpen);
}

#[test]
fn a_full_registry_can_send_new_names_to_an_overflow_breaker() {
    let registry = Registry::builder()
        .default_config(trips_at(2))
        .max_breakers(1)
        .overflow_breaker("unknown")
        .build()
        .unwrap();
    let _ = registry
        .pipeline("db")
        .unwrap()
        .execute(|| Err::<(), _>("down"));
    for name in ["a", "b"] {
        let ex = registry
            .pipeline(name)
            .unwrap()
            .execute(|| Err::<(), _>("down"));
        assert!(matches!(ex.error(), Some(ExecuteError::Inner(_))));
    }
    // Both went through one shared breaker, which tripped.
    assert_eq!(
        registry
            .pipeline("c")
            .unwrap()
            .execute(|| Ok::<_, &str>(()))
            .rejection(),
        Some(Rejected::Open)
    );
    assert_eq!(registry.breaker("d").unwrap().name(), "unknown");
    let names: Vec<_> = registry.list().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["db"]);
}

#[test]
fn remove_drops_the_breaker_and_a_new_use_starts_fresh() {
    let registry = Registry::builder()
        .default_config(trips_at(2))
        .build()
        .unwrap();
    let _ = registry
        .pipeline("db")
        .unwrap()
        .execute(|| Err::<(), _>("down"));
    let last = registry.remove("db").unwrap();
    assert_eq!((last.state, last.counts.total_failures), (State::Closed, 1));
    assert!(registry.get("db").is_none() && registry.is_empty());
    assert!(registry.remove("db").is_none());
    assert!(
        registry
            .pipeline("db")
            .unwrap()
            .execute(|| Ok::<_, ()>(()))
            .has_value()
    );
    assert_eq!(registry.breaker("db").unwrap().counts().total_successes, 1);
}

#[test]
fn idle_eviction_takes_only_unused_breakers_without_information() {
    let clock = ManualClock::new();
    let registry = Registry::builder()
        .default_config(trips_at(3))
        .clock(clock.clone())
        .idle_eviction(Duration::from_secs(60))
        .build()
        .unwrap();
    let _ = registry
        .pipeline("idle")
        .unwrap()
        .execute(|| Ok::<_, ()>(()));
    let _ = registry
        .pipeline("failed-once")
        .unwrap()
        .execute(|| Err::<(), _>("down"));
    let _ = registry
        .pipeline("busy")
        .unwrap()
        .execute(|| Ok::<_, ()>(()));
    clock.advance(Duration::from_secs(60));
    assert_eq!(registry.evict_idle(), 0, "all used since the start");
    let _ = registry
        .pipeline("busy")
        .unwrap()
        .execute(|| Ok::<_, ()>(()));
    clock.advance(Duration::from_secs(60));
    assert_eq!(registry.evict_idle(), 1);
    assert!(registry.get("idle").is_none());
    assert!(registry.get("failed-once").is_some() && registry.get("busy").is_some());
    // A new name sweeps by itself once a period passed.
    clock.advance(Duration::from_secs(120));
    let _ = registry
        .pipeline("new")
        .unwrap()
        .execute(|| Ok::<_, ()>(()));
    assert!(registry.get("busy").is_none());
    assert_eq!(registry.len(), 2);
}

#[test]
fn drain_waits_for_calls_in_flight_and_returns_their_counts() {
    let registry = Arc::new(Registry::builder().build().unwrap());
    let started = Arc::new(Barrier::new(9));
    let (release, release_rx) = mpsc::channel::<()>();
    let release_rx = Arc::new(std::sync::Mutex::new(release_rx));
    let calls: Vec<_> = (0..8)
        .map(|i| {
            let (r, started, rx) = (registry.clone(), started.clone(), release_rx.clone());
            thread::spawn(move || {
                r.pipeline("db").unwrap().execute(|| {
                    started.wait();
                    rx.lock().unwrap().recv().unwrap();
                    if i % 2 == 0 { Ok(()) } else { Err("down") }
                })
            })
        })
        .collect();
    started.wait();
    let r = registry.clone();
    let drain = thread::spawn(move || r.drain(Duration::from_secs(30)));
    // New calls are refused at once.
    while !registry.is_shut_down() {
        thread::yield_now();
    }
    assert!(matches!(
        registry.pipeline::<(), ()>("db"),
        Err(RegistryError::Shutdown)
    ));
    for _ in 0..8 {
        release.send(()).unwrap();
    }
    let drained = drain.join().unwrap();
    assert_eq!(drained.unfinished, 0);
    let c = drained.statuses[0].counts;
    assert_eq!((c.requests, c.total_successes, c.total_failures), (8, 4, 4));
    for call in calls {
        call.join().unwrap().into_result().ok();
    }
}

#[test]
fn drain_gives_up_at_its_deadline() {
    let registry = Arc::new(Registry::builder().build().unwrap());
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let r = registry.clone();
    let call = thread::spawn(move || {
        r.pipeline("db").unwrap().execute(|| {
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            Ok::<_, ()>(())
        })
    });
    started.recv().unwrap();
    let drained = registry.drain(Duration::from_millis(20));
    assert_eq!(drained.unfinished, 1);
    assert_eq!(drained.statuses[0].counts.requests, 1);
    release.send(()).unwrap();
    assert!(call.join().unwrap().has_value());
}

/// Asking a breaker its state can run the state-change callback (an open
/// breaker whose timeout passed turns half-open); eviction must not do that
/// while holding the registry's lock, or a callback that uses the registry
/// deadlocks.
#[test]
fn eviction_never_runs_a_state_callback_under_the_registry_lock() {
    let clock = ManualClock::new();
    let cell: Arc<OnceLock<Weak<Registry>>> = Arc::new(OnceLock::new());
    let from_callback = Arc::clone(&cell);
    let registry = Arc::new(
        Registry::builder()
            .default_config(trips_at(1))
            .clock(clock.clone())
            .max_breakers(2)
            .on_state_change(move |_, _, to| {
                if to == State::HalfOpen
                    && let Some(r) = from_callback.get().and_then(Weak::upgrade)
                {
                    let _ = r.is_shut_down();
                    let _ = r.breaker("from-callback");
                }
            })
            .build()
            .unwrap(),
    );
    cell.set(Arc::downgrade(&registry)).unwrap();
    let _ = registry
        .pipeline("a")
        .unwrap()
        .execute(|| Err::<(), _>("down"));
    let _ = registry
        .pipeline("b")
        .unwrap()
        .execute(|| Err::<(), _>("down"));
    clock.advance(Duration::from_secs(31)); // both due to turn half-open
    let (tx, rx) = mpsc::channel();
    let r = Arc::clone(&registry);
    thread::spawn(move || {
        let _ = tx.send(matches!(
            r.breaker("c"),
            Err(RegistryError::Name(NameError::Full { max: 2 }))
        ));
    });
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(true));
}

/// A name coordinated through a fleet is detached when it is removed or
/// evicted: the fleet stops syncing it (its keys then expire in Redis), and
/// the name can come back and attach again. No Redis server is needed: the
/// fleet keeps trying to connect while the names run locally (warden-redis's
/// tests check the keys' expiry on a real server).
#[cfg(feature = "redis")]
#[tokio::test]
async fn names_in_a_fleet_are_detached_when_removed_or_evicted() {
    use warden_kit::fleet::{Fleet, FleetConfig};
    let fleet = Arc::new(Fleet::start(FleetConfig::new("redis://127.0.0.1:1/")).unwrap());
    let registry = Registry::builder()
        .fleet(Arc::clone(&fleet))
        .max_breakers(1)
        .build()
        .unwrap();
    assert!(
        registry
            .pipeline("db")
            .unwrap()
            .execute(|| Ok::<_, ()>(()))
            .has_value()
    );
    assert!(registry.breaker("db").unwrap().fleet().is_some());
    assert!(registry.remove("db").is_some());
    assert!(!fleet.detach("db"), "removing the name detached it");
    // It comes back and attaches again.
    assert!(
        registry
            .pipeline("db")
            .unwrap()
            .execute(|| Ok::<_, ()>(()))
            .has_value()
    );
    assert!(registry.breaker("db").unwrap().fleet().is_some());
    // At the cap, an idle fleet name is evicted like any other, and detached.
    assert!(
        registry
            .pipeline("other")
            .unwrap()
            .execute(|| Ok::<_, ()>(()))
            .has_value()
    );
    assert!(registry.get("db").is_none());
    assert!(!fleet.detach("db"), "evicting the name detached it");
    assert!(fleet.detach("other"), "the new name is attached");
}

/// 8 threads churn 400 names through a registry capped at 32 while every
/// thread also calls a name whose upstream always fails: the cap holds, and
/// the failing name's breaker trips exactly once (a second trip would mean it
/// was evicted and created again with its history lost).
#[test]
fn churn_under_a_cap_never_resets_a_failing_breaker() {
    use std::sync::atomic::{AtomicU32, Ordering};
    let trips = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&trips);
    let registry = Arc::new(
        Registry::builder()
            .default_config(trips_at(3))
            .clock(ManualClock::new()) // never advances: an open breaker stays open
            .max_breakers(32)
            .on_state_change(move |name, _, to| {
                if name == "failing" && to == State::Open {
                    counted.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build()
            .unwrap(),
    );
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let registry = Arc::clone(&registry);
            thread::spawn(move || {
                let mut x = t.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                for i in 0..2000 {
                    // xorshift: a different name sequence per thread
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    if i % 4 == 0 {
                        let _ = registry
                            .pipeline("failing")
                            .unwrap()
                            .execute(|| Err::<(), _>("503"));
                    } else {
                        let name = format!("route-{}", x % 400);
                        match registry.pipeline(&name) {
                            Ok(p) => assert!(p.execute(|| Ok::<_, ()>(())).has_value()),
                            Err(e) => assert!(
                                matches!(e, RegistryError::Name(NameError::Full { .. })),
                                "{e:?}"
                            ),
                        }
                    }
                    assert!(registry.len() <= 32);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(trips.load(Ordering::Relaxed), 1);
    assert_eq!(registry.breaker("failing").unwrap().state(), State::Open);
}
