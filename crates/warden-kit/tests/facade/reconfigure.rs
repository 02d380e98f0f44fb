//! `Registry::reconfigure` and `Registry::reload`: state kept by the core's rules,
//! typed errors, the bulkhead resized, all-or-nothing reloads, and calls racing
//! reconfigurations.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::Duration;

use warden_kit::{
    BreakerConfig, ExecuteError, ManualClock, NameError, Registry, RegistryConfig, RegistryError,
    State, TripRule,
};

fn trips_at(n: u32, timeout: Duration) -> BreakerConfig {
    BreakerConfig::default()
        .with_trip(TripRule::ConsecutiveFailures(n))
        .with_timeout(timeout)
}

fn registry() -> (Registry, ManualClock) {
    let clock = ManualClock::new();
    let registry = Registry::builder()
        .default_config(trips_at(3, Duration::from_secs(10)))
        .clock(clock.clone())
        .build()
        .unwrap();
    (registry, clock)
}

#[test]
fn reconfigure_keeps_state_and_counts_by_the_core_rules() {
    let (registry, clock) = registry();
    for _ in 0..2 {
        let _ = registry
            .pipeline("db")
            .unwrap()
            .execute(|| Err::<(), _>("down"));
    }
    registry
        .reconfigure("db", trips_at(2, Duration::from_secs(1)))
        .unwrap();
    let db = registry.breaker("db").unwrap();
    assert_eq!(db.counts().consecutive_failures, 2, "counts kept");
    assert_eq!(*db.config(), trips_at(2, Duration::from_secs(1)));
    let _ = registry
        .pipeline("db")
        .unwrap()
        .execute(|| Err::<(), _>("down"));
    assert_eq!(
        db.state(),
        State::Open,
        "2 consecutive failures: the new rule"
    );
    clock.advance(Duration::from_millis(1001));
    assert_eq!(db.state(), State::HalfOpen, "the new timeout");
}

#[test]
fn unknown_names_shutdown_and_invalid_configs_are_typed_errors() {
    let (registry, _clock) = registry();
    let long = "n".repeat(1 << 20);
    let err = registry
        .reconfigure(&long, BreakerConfig::default())
        .unwrap_err();
    assert!(matches!(err, RegistryError::NotFound { .. }), "{err}");
    assert!(err.to_string().len() < 200, "a bounded quote");
    // A configured name not used yet just gets the new configuration.
    registry.configure("sms", BreakerConfig::default()).unwrap();
    registry
        .reconfigure("sms", BreakerConfig::notification())
        .unwrap();
    assert_eq!(
        *registry.breaker("sms").unwrap().config(),
        BreakerConfig::notification()
    );
    let bad = BreakerConfig::default().with_timeout(Duration::from_micros(1500));
    match registry.reconfigure("sms", bad) {
        Err(RegistryError::Config(e)) => assert_eq!(e.path(), "breakers.sms.timeout"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        *registry.breaker("sms").unwrap().config(),
        BreakerConfig::notification(),
        "unchanged"
    );
    // `configure` on a name in use points at `reconfigure`.
    let err = registry
        .configure("sms", BreakerConfig::default())
        .unwrap_err();
    assert!(err.to_string().contains("reconfigure"), "{err}");
    registry.shutdown();
    assert_eq!(
        registry.reconfigure("sms", BreakerConfig::default()),
        Err(RegistryError::Shutdown)
    );
}

/// Holds `n` calls in flight through `name`; returns once all `n` are inside, with
/// one [`Held`] per call.
fn hold(registry: &Arc<Registry>, name: &'static str, n: usize) -> Vec<Held> {
    let inside = Arc::new(Barrier::new(n + 1));
    let mut held = Vec::new();
    for _ in 0..n {
        let (tx, rx) = mpsc::channel::<()>();
        let (registry, inside) = (Arc::clone(registry), Arc::clone(&inside));
        let thread = thread::spawn(move || {
            let ex = registry.pipeline(name).unwrap().execute(|| {
                inside.wait();
                let _ = rx.recv();
                Ok::<_, ()>(())
            });
            assert!(ex.succeeded());
        });
        held.push(Held { tx, thread });
    }
    inside.wait();
    held
}

/// One call held in flight by [`hold`].
struct Held {
    tx: mpsc::Sender<()>,
    thread: thread::JoinHandle<()>,
}

impl Held {
    /// Lets the call finish and waits until it has: its bulkhead slot is free
    /// when this returns (the call's run ends before its thread does).
    fn finish(self) {
        drop(self.tx);
        self.thread.join().unwrap();
    }
}

fn in_flight(registry: &Registry, name: &str) -> Option<u32> {
    registry.breaker(name).unwrap().in_flight()
}

#[test]
fn a_smaller_bulkhead_lets_calls_in_flight_finish_and_admits_below_the_new_limit() {
    let registry = Arc::new(Registry::builder().build().unwrap());
    let wide = BreakerConfig::default().with_max_concurrent(3);
    registry.configure("ch", wide).unwrap();
    let mut release = hold(&registry, "ch", 3);
    registry
        .reconfigure("ch", BreakerConfig::default().with_max_concurrent(1))
        .unwrap();
    assert_eq!(in_flight(&registry, "ch"), Some(3), "nobody was cut off");
    let refused = |registry: &Registry| {
        matches!(
            registry
                .pipeline("ch")
                .unwrap()
                .execute(|| Ok::<_, ()>(()))
                .into_result(),
            Err(ExecuteError::BulkheadFull {
                max_concurrent: 1,
                ..
            })
        )
    };
    assert!(refused(&registry));
    release.pop().unwrap().finish();
    release.pop().unwrap().finish();
    assert_eq!(in_flight(&registry, "ch"), Some(1));
    assert!(refused(&registry), "one in flight: at the new limit");
    release.pop().unwrap().finish();
    assert_eq!(in_flight(&registry, "ch"), Some(0));
    assert!(
        registry
            .pipeline("ch")
            .unwrap()
            .execute(|| Ok::<_, ()>(()))
            .succeeded()
    );
    // No bulkhead, then one again.
    registry
        .reconfigure("ch", BreakerConfig::default())
        .unwrap();
    assert_eq!(in_flight(&registry, "ch"), None);
    registry
        .reconfigure("ch", BreakerConfig::default().with_max_concurrent(2))
        .unwrap();
    assert_eq!(in_flight(&registry, "ch"), Some(0));
}

#[test]
fn reload_is_all_or_nothing_and_leaves_missing_names_alone() {
    let (registry, _clock) = registry();
    let _ = registry
        .pipeline("db")
        .unwrap()
        .execute(|| Err::<(), _>("down"));
    let _ = registry
        .pipeline("cache")
        .unwrap()
        .execute(|| Ok::<_, ()>(()));
    let before = |name: &str| registry.breaker(name).unwrap().config();
    let (db, cache) = (before("db"), before("cache"));

    // One bad section (a 1 MiB name: over the registry's name limit) fails the
    // whole file: nothing changes, not even the good section or the default.
    let long = "k".repeat(1 << 20);
    let bad = RegistryConfig::from_toml_str(&format!(
        "[default]\nmax_requests = 4\n[breakers.db]\ntimeout = \"1s\"\n[breakers.{long}]\nmax_requests = 2\n"
    ))
    .unwrap();
    let err = registry.reload(bad).unwrap_err();
    assert!(
        matches!(err, RegistryError::Name(NameError::TooLong { .. })),
        "{err}"
    );
    assert!(
        err.to_string().len() < 400,
        "bounded: {} bytes",
        err.to_string().len()
    );
    assert_eq!((before("db"), before("cache")), (db.clone(), cache.clone()));
    assert_eq!(
        before("fresh").max_requests(),
        trips_at(3, Duration::from_secs(10)).max_requests(),
        "the default did not change either"
    );

    let good = RegistryConfig::from_toml_str(
        "[default]\nmax_requests = 4\n[breakers.db]\ntimeout = \"1s\"\n[breakers.new]\npreset = \"kafka\"\n",
    )
    .unwrap();
    registry.reload(good).unwrap();
    let db_now = registry.breaker("db").unwrap();
    assert_eq!(db_now.config().timeout(), Duration::from_secs(1));
    assert_eq!(db_now.counts().total_failures, 1, "counts kept");
    assert_eq!(before("cache"), cache, "missing from the file: left alone");
    assert_eq!(
        *before("new"),
        BreakerConfig::kafka(),
        "configured for its first use"
    );
    assert_eq!(before("later").max_requests(), 4, "the new default");
}

#[test]
fn counts_stay_exact_while_reconfigure_and_reload_race_calls() {
    // 4 threads x 5,000 calls, every other one failing, on a rule that never trips,
    // against a thread switching the interval, max_requests and the bulkhead (on,
    // off, resized: never below the 4 callers) through reconfigure and reload.
    const THREADS: u32 = 4;
    const CALLS: u32 = 5_000;
    let registry = Arc::new(Registry::builder().build().unwrap());
    let never = || BreakerConfig::default().with_ready_to_trip(|_| false);
    registry.configure("db", never()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let switcher = {
        let (registry, stop) = (Arc::clone(&registry), Arc::clone(&stop));
        thread::spawn(move || {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) && n < 100_000 {
                let config = never()
                    .with_max_requests(1 + n % 3)
                    .with_max_concurrent([0, 8, 64][(n % 3) as usize])
                    .with_interval(Duration::from_secs(if n.is_multiple_of(2) {
                        0
                    } else {
                        3600
                    }));
                registry.reconfigure("db", config).unwrap();
                if n.is_multiple_of(16) {
                    let file =
                        RegistryConfig::from_toml_str("[breakers.other]\nmax_requests = 2\n")
                            .unwrap();
                    registry.reload(file).unwrap();
                }
                n += 1;
            }
            n
        })
    };
    let callers: Vec<_> = (0..THREADS)
        .map(|_| {
            let registry = Arc::clone(&registry);
            thread::spawn(move || {
                for i in 0..CALLS {
                    let ex = registry
                        .pipeline("db")
                        .unwrap()
                        .execute(|| if i % 2 == 0 { Ok(()) } else { Err(()) });
                    assert!(!ex.is_rejected(), "nothing trips or fills up");
                }
            })
        })
        .collect();
    for c in callers {
        c.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    assert!(switcher.join().unwrap() > 0);
    let c = registry.breaker("db").unwrap().counts();
    let total = THREADS * CALLS;
    assert_eq!(
        (c.requests, c.total_successes, c.total_failures),
        (total, total / 2, total / 2)
    );
    assert_eq!(registry.breaker("db").unwrap().in_flight().unwrap_or(0), 0);
}
