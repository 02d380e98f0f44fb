//! Several instances (each a `Fleet` with its own connection and breaker) sharing
//! one real `redis-server`, started by the test on a free loopback port.
//!
//! Waits are bounded polls (`support::wait_for`). The only wall-clock bounds
//! asserted are the documented convergence bound with a wide margin: an instance
//! learns a fleet decision within one slice plus one round trip after it is made,
//! and a decision is made within one slice of the outcomes that cause it; the tests
//! use a 20 ms slice and allow 2 s.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::{RedisServer, wait_for};
use warden_breaker::{CircuitBreaker, Mode, Rejected, State};
use warden_redis::{Coordination, Fleet, FleetBreaker, FleetConfig};

const SLICE: Duration = Duration::from_millis(20);
/// The generous bound on "an instance sees a fleet decision" (documented: 2 slices
/// plus a round trip, about 41 ms here).
const BOUND: Duration = Duration::from_secs(2);
/// The bound on waits that involve Redis restarting or token expiry.
const LONG: Duration = Duration::from_secs(5);

fn config(url: &str) -> FleetConfig {
    FleetConfig::new(url)
        .slice(SLICE)
        .redis_timeout(Duration::from_millis(200))
        .reconnect_max(Duration::from_millis(100))
}

struct Instance {
    fleet: Fleet,
    cb: FleetBreaker,
}

fn instance(config: FleetConfig, breaker: CircuitBreaker) -> Instance {
    let fleet = Fleet::start(config).unwrap();
    let cb = fleet.attach(Arc::new(breaker)).unwrap();
    Instance { fleet, cb }
}

fn fleet_of(n: usize, server: &RedisServer, build: impl Fn() -> CircuitBreaker) -> Vec<Instance> {
    (0..n)
        .map(|_| instance(config(&server.url()), build()))
        .collect()
}

async fn all_coordinated(fleet: &[Instance]) {
    wait_for(LONG, "every instance to coordinate", || {
        fleet
            .iter()
            .all(|i| i.cb.coordination() == Coordination::Fleet && i.cb.fleet_state().is_some())
    })
    .await;
}

fn fleet_state(i: &Instance) -> Option<State> {
    i.cb.fleet_state().map(|v| v.state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_spread_across_instances_trip_all_of_them() {
    let server = RedisServer::start();
    // The default policy: more than 5 consecutive failures.
    let fleet = fleet_of(4, &server, || {
        CircuitBreaker::builder("db").build().unwrap()
    });
    all_coordinated(&fleet).await;

    // Two failures per instance: no local breaker trips (2 <= 5), the fleet's 8 do.
    for i in &fleet {
        for _ in 0..2 {
            let _ = i.cb.call(|| Err::<(), _>("timeout"));
        }
        assert_eq!(i.cb.breaker().counts().consecutive_failures, 2);
    }
    let took = wait_for(BOUND * 2, "all four instances to open", || {
        fleet
            .iter()
            .all(|i| i.cb.state() == State::Open && fleet_state(i) == Some(State::Open))
    })
    .await;
    eprintln!("spread failures: all 4 open {took:?} after the last failure");
    for i in &fleet {
        assert_eq!(i.cb.breaker().mode(), Mode::ForcedOpen);
        assert!(matches!(
            i.cb.call(|| Ok::<_, ()>(())),
            Err(warden_breaker::Error::Rejected(Rejected::Open))
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_decision_reaches_every_instance_within_the_bound() {
    let server = RedisServer::start();
    let fleet = fleet_of(4, &server, || {
        CircuitBreaker::builder("api")
            .ready_to_trip(|c| c.total_failures >= 3)
            .build()
            .unwrap()
    });
    all_coordinated(&fleet).await;

    // One instance trips locally; the others are idle.
    for _ in 0..3 {
        let _ = fleet[0].cb.call(|| Err::<(), _>("503"));
    }
    assert_eq!(fleet[0].cb.state(), State::Open);
    let took = wait_for(BOUND, "the open state to reach every instance", || {
        fleet[1..].iter().all(|i| i.cb.state() == State::Open)
    })
    .await;
    eprintln!("local trip reached 3 other instances in {took:?}");
    // One generation, seen by all.
    let g = fleet[0].cb.fleet_state().map(|v| v.generation);
    wait_for(BOUND, "one fleet generation everywhere", || {
        fleet
            .iter()
            .all(|i| i.cb.fleet_state().map(|v| v.generation) == g)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_reaches_idle_instances_at_once_not_at_their_next_slice() {
    // A 10 s slice: an instance that waited for its next slice (or a tripping one
    // for its next check, a fifth of a slice) would take seconds. A local trip
    // wakes its task, which publishes it at once with a change notice; the others
    // hear the notice and sync that breaker at once.
    const SLICE_LONG: Duration = Duration::from_secs(10);
    const AT_ONCE: Duration = Duration::from_secs(1);
    const TRIALS: usize = 3;
    let server = RedisServer::start();
    let fleets: Vec<Fleet> = (0..4)
        .map(|_| {
            Fleet::start(
                config(&server.url())
                    .slice(SLICE_LONG)
                    .reconnect_max(SLICE_LONG),
            )
            .unwrap()
        })
        .collect();
    // Attaching wakes the task, which joins the breaker without waiting for a slice.
    let cbs: Vec<Vec<FleetBreaker>> = (0..TRIALS)
        .map(|trial| {
            fleets
                .iter()
                .map(|f| {
                    let cb = CircuitBreaker::builder(&format!("search-{trial}"))
                        .timeout(Duration::from_secs(60))
                        .ready_to_trip(|c| c.total_failures >= 1)
                        .build()
                        .unwrap();
                    f.attach(Arc::new(cb)).unwrap()
                })
                .collect()
        })
        .collect();
    wait_for(LONG, "every instance to join and listen", || {
        cbs.iter()
            .flatten()
            .all(|cb| fleet_state_of(cb) == Some(State::Closed))
            && fleets.iter().all(|f| f.stats().subscriptions >= 1)
    })
    .await;
    for (trial, cbs) in cbs.iter().enumerate() {
        let notices: u64 = fleets.iter().map(|f| f.stats().notices).sum();
        let tripper = trial % fleets.len();
        let _ = cbs[tripper].call(|| Err::<(), _>("down"));
        assert_eq!(cbs[tripper].state(), State::Open);
        let took = wait_for(AT_ONCE, "the open to reach every instance at once", || {
            cbs.iter()
                .all(|cb| cb.state() == State::Open && fleet_state_of(cb) == Some(State::Open))
        })
        .await;
        eprintln!("open reached 3 idle instances in {took:?} with a {SLICE_LONG:?} slice");
        let heard = fleets.iter().map(|f| f.stats().notices).sum::<u64>() - notices;
        assert!(heard >= 3, "{heard} notices heard by the 3 other instances");
    }
}

fn fleet_state_of(cb: &FleetBreaker) -> Option<State> {
    cb.fleet_state().map(|v| v.state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_cap_holds_fleet_wide_and_successes_close_every_instance() {
    let server = RedisServer::start();
    let fleet = fleet_of(4, &server, || {
        CircuitBreaker::builder("kafka")
            .max_requests(2)
            .timeout(Duration::from_millis(200))
            .ready_to_trip(|c| c.total_failures >= 1)
            .build()
            .unwrap()
    });
    all_coordinated(&fleet).await;
    let _ = fleet[0].cb.call(|| Err::<(), _>("down"));
    wait_for(BOUND, "every instance to open", || {
        fleet.iter().all(|i| i.cb.state() == State::Open)
    })
    .await;
    // The local breakers follow a millisecond later (a fleet's half-open releases
    // them to half-open at the next tick): until then a call is refused as open.
    wait_for(LONG, "every instance to see the fleet half-open", || {
        fleet
            .iter()
            .all(|i| fleet_state(i) == Some(State::HalfOpen) && i.cb.state() == State::HalfOpen)
    })
    .await;

    // Every instance hammers from two tasks, holding each probe it gets.
    let held = Arc::new(AtomicUsize::new(0));
    let max_seen = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(tokio::sync::Notify::new());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for i in &fleet {
        for _ in 0..2 {
            let cb = i.cb.clone();
            let (held, max_seen, tx) = (held.clone(), max_seen.clone(), tx.clone());
            tasks.push(tokio::spawn(async move {
                for _ in 0..400 {
                    match cb.try_acquire_owned() {
                        Ok(p) => {
                            assert!(
                                p.is_fleet_probe(),
                                "a local probe, coordination {}",
                                cb.coordination()
                            );
                            let now = held.fetch_add(1, Ordering::SeqCst) + 1;
                            max_seen.fetch_max(now, Ordering::SeqCst);
                            tx.send(p).unwrap();
                        }
                        Err(r) => assert_eq!(
                            r,
                            Rejected::TooManyRequests,
                            "coordination {}",
                            cb.coordination()
                        ),
                    }
                    // Real time, not tokio's paused clock: probe tokens are granted by
                    // the fleet task's round trips to a real redis-server, so the
                    // contenders must keep asking over real time (400 x 2 ms, bounded).
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }));
        }
    }
    drop(tx);
    wait_for(LONG, "two probes to be admitted", || {
        held.load(Ordering::SeqCst) == 2
    })
    .await;
    for t in tasks {
        t.await.unwrap();
    }
    stop.notify_waiters();
    assert_eq!(
        max_seen.load(Ordering::SeqCst),
        2,
        "more probes than max_requests ran fleet-wide"
    );
    // Both probes succeed: the fleet closes and every instance with it.
    while let Ok(p) = rx.try_recv() {
        p.success();
    }
    wait_for(BOUND, "every instance to close", || {
        fleet
            .iter()
            .all(|i| fleet_state(i) == Some(State::Closed) && i.cb.state() == State::Closed)
    })
    .await;
    for i in &fleet {
        assert_eq!(i.cb.breaker().mode(), Mode::Normal);
        assert_eq!(i.cb.call(|| Ok::<_, ()>(1)), Ok(1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_dying_with_a_probe_token_does_not_strand_the_fleet() {
    let server = RedisServer::start();
    let build = || {
        CircuitBreaker::builder("search")
            .timeout(Duration::from_millis(100))
            .ready_to_trip(|c| c.total_failures >= 1)
            .build()
            .unwrap()
    };
    let ttl = Duration::from_millis(300);
    let a = instance(config(&server.url()).probe_ttl(ttl), build());
    let b = instance(config(&server.url()).probe_ttl(ttl), build());
    let both = [a, b];
    all_coordinated(&both).await;
    let [a, b] = both;
    let _ = a.cb.call(|| Err::<(), _>("down"));
    wait_for(LONG, "both to see the fleet half-open", || {
        fleet_state(&a) == Some(State::HalfOpen) && fleet_state(&b) == Some(State::HalfOpen)
    })
    .await;
    // A takes the only probe token, then dies without reporting.
    let mut probe = None;
    wait_for(LONG, "A to get the probe", || {
        probe = a.cb.try_acquire_owned().ok();
        probe.is_some()
    })
    .await;
    std::mem::forget(probe);
    drop(a);
    // B is refused while the token lives, then gets it once it expired.
    assert_eq!(b.cb.try_acquire().err(), Some(Rejected::TooManyRequests));
    let took = wait_for(
        LONG,
        "B to get a probe after the dead token expired",
        || match b.cb.try_acquire() {
            Ok(p) => {
                p.success();
                true
            }
            Err(_) => false,
        },
    )
    .await;
    eprintln!("B probed {took:?} after A died (token TTL {ttl:?})");
    wait_for(BOUND, "the fleet to close", || {
        fleet_state(&b) == Some(State::Closed)
    })
    .await;
    assert_eq!(b.cb.state(), State::Closed);
}

/// A probe in flight when its breaker is detached still reaches the fleet when it
/// finishes: its outcome used to be queued for a task that no longer looks at the
/// detached breaker, so its probe token stayed taken in Redis until its time to
/// live (10 s by default) and, with `max_requests` 1, every other instance was
/// refused all that time while the fleet stayed half-open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_finishing_after_detach_frees_the_fleets_probe_slot() {
    let server = RedisServer::start();
    let build = || {
        CircuitBreaker::builder("ledger")
            .timeout(Duration::from_millis(100))
            .ready_to_trip(|c| c.total_failures >= 1)
            .build()
            .unwrap()
    };
    // The default probe TTL (10 s): far beyond the bound waited for below.
    let a = instance(config(&server.url()), build());
    let b = instance(config(&server.url()), build());
    let both = [a, b];
    all_coordinated(&both).await;
    let [a, b] = both;
    let _ = a.cb.call(|| Err::<(), _>("down"));
    wait_for(LONG, "both to see the fleet half-open", || {
        fleet_state(&a) == Some(State::HalfOpen) && fleet_state(&b) == Some(State::HalfOpen)
    })
    .await;
    let mut probe = None;
    wait_for(LONG, "A to get the fleet's only probe", || {
        probe = a.cb.try_acquire_owned().ok();
        probe.is_some()
    })
    .await;
    let probe = probe.unwrap();
    assert!(probe.is_fleet_probe());
    assert_eq!(b.cb.try_acquire().err(), Some(Rejected::TooManyRequests));
    assert!(a.fleet.detach("ledger"));
    probe.success();
    wait_for(
        BOUND,
        "B to be admitted once A's probe finished",
        || match b.cb.try_acquire() {
            Ok(p) => {
                p.success();
                true
            }
            Err(_) => false,
        },
    )
    .await;
    wait_for(BOUND, "the fleet to close", || {
        fleet_state(&b) == Some(State::Closed)
    })
    .await;
}

/// A probe of a detached breaker finishing after its fleet stopped leaves
/// nothing behind: its breaker is freed once every handle of it is dropped.
/// The outcome, queued for a task that had ended, used to hold the breaker,
/// which held the queue: both leaked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_finishing_after_detach_and_stop_leaks_nothing() {
    let server = RedisServer::start();
    let breaker = Arc::new(
        CircuitBreaker::builder("leak")
            .timeout(Duration::from_millis(100))
            .ready_to_trip(|c| c.total_failures >= 1)
            .build()
            .unwrap(),
    );
    let weak = Arc::downgrade(&breaker);
    let fleet = Fleet::start(config(&server.url())).unwrap();
    let cb = fleet.attach(breaker).unwrap();
    wait_for(LONG, "the breaker to coordinate", || {
        cb.coordination() == Coordination::Fleet && cb.fleet_state().is_some()
    })
    .await;
    let _ = cb.call(|| Err::<(), _>("down"));
    wait_for(LONG, "the fleet half-open", || {
        fleet_state_of(&cb) == Some(State::HalfOpen)
    })
    .await;
    let mut probe = None;
    wait_for(LONG, "the fleet's probe", || {
        probe = cb.try_acquire_owned().ok();
        probe.is_some()
    })
    .await;
    let probe = probe.unwrap();
    assert!(probe.is_fleet_probe());
    assert!(fleet.detach("leak"));
    fleet.shutdown().await;
    probe.success();
    drop((cb, fleet));
    assert!(weak.upgrade().is_none(), "the breaker leaked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_keeps_local_protection_and_the_fleet_reconverges() {
    let mut server = RedisServer::start();
    let changes = Arc::new(AtomicUsize::new(0));
    let c2 = changes.clone();
    let build = || CircuitBreaker::builder("payments").build().unwrap();
    let a = instance(
        config(&server.url()).on_coordination_change(move |_| {
            c2.fetch_add(1, Ordering::SeqCst);
        }),
        build(),
    );
    let b = instance(config(&server.url()), build());
    let both = [a, b];
    all_coordinated(&both).await;
    let [a, b] = both;

    server.kill();
    wait_for(LONG, "both to go local-only", || {
        a.fleet.coordination() == Coordination::LocalOnly
            && b.fleet.coordination() == Coordination::LocalOnly
    })
    .await;
    assert_eq!(a.cb.fleet_state(), None);
    assert!(a.fleet.stats().errors > 0);
    assert!(a.fleet.list()[0].coordination == Coordination::LocalOnly);
    // Calls never wait for Redis and the local breaker still protects.
    assert_eq!(b.cb.call(|| Ok::<_, ()>(1)), Ok(1));
    for _ in 0..6 {
        let _ = a.cb.call(|| Err::<(), _>("down"));
    }
    assert_eq!(a.cb.state(), State::Open);
    assert!(matches!(
        a.cb.call(|| Ok::<_, ()>(())),
        Err(warden_breaker::Error::Rejected(Rejected::Open))
    ));
    assert_eq!(b.cb.state(), State::Closed);

    server.restart();
    wait_for(LONG, "both to rejoin", || {
        a.fleet.coordination() == Coordination::Fleet
            && b.fleet.coordination() == Coordination::Fleet
    })
    .await;
    // A's trip is published on rejoin: the fleet opens and B follows.
    wait_for(LONG, "B to follow A's trip", || b.cb.state() == State::Open).await;
    assert_eq!(fleet_state(&a), Some(State::Open));
    // connecting -> fleet -> local-only -> fleet
    assert_eq!(changes.load(Ordering::SeqCst), 3);
    assert!(a.fleet.stats().connects >= 2);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn without_redis_every_breaker_is_local() {
    // Nothing listens on this port: the fleet never connects (Redis is not involved,
    // so the backoff sleeps run on tokio's paused clock).
    let port = support::free_port();
    let i = instance(
        FleetConfig::new(format!("redis://127.0.0.1:{port}/")).slice(Duration::from_millis(50)),
        CircuitBreaker::builder("db").build().unwrap(),
    );
    assert_eq!(i.cb.call(|| Ok::<_, ()>(1)), Ok(1));
    wait_for(LONG, "local-only", || {
        i.fleet.coordination() == Coordination::LocalOnly
    })
    .await;
    for _ in 0..6 {
        let _ = i.cb.call(|| Err::<(), _>("down"));
    }
    assert_eq!(i.cb.state(), State::Open);
    assert_eq!(i.fleet.stats().scripts, 0);
    assert!(i.fleet.stats().errors >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_redis_is_treated_as_down_and_calls_never_wait_for_it() {
    let server = RedisServer::start();
    let i = instance(
        config(&server.url()),
        CircuitBreaker::builder("slow").build().unwrap(),
    );
    all_coordinated(std::slice::from_ref(&i)).await;
    // Redis stops answering for 1.5 s (longer than the 200 ms command timeout).
    assert_eq!(
        server.command("CLIENT PAUSE 1500 ALL").as_deref(),
        Some("+OK\r\n")
    );
    let paused_at = std::time::Instant::now();
    wait_for(LONG, "the fleet to go local-only", || {
        i.fleet.coordination() == Coordination::LocalOnly
    })
    .await;
    // Still paused: guarded calls run and the local breaker still counts them.
    let before = i.cb.breaker().counts().requests;
    for _ in 0..100 {
        assert_eq!(i.cb.call(|| Ok::<_, ()>(())), Ok(()));
    }
    assert_eq!(i.cb.breaker().counts().requests, before + 100);
    assert!(
        paused_at.elapsed() < Duration::from_millis(1500),
        "the pause ended too early to tell"
    );
    wait_for(LONG, "the fleet to rejoin after the pause", || {
        i.fleet.coordination() == Coordination::Fleet && i.cb.fleet_state().is_some()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_redis_while_the_fleet_is_open_keeps_the_breaker_open_until_the_fleet_deadline() {
    let mut server = RedisServer::start();
    let open_for = Duration::from_secs(3);
    let build = || {
        CircuitBreaker::builder("ledger")
            .timeout(open_for)
            .ready_to_trip(|c| c.total_failures >= 1)
            .build()
            .unwrap()
    };
    let both = [
        instance(config(&server.url()), build()),
        instance(config(&server.url()), build()),
    ];
    all_coordinated(&both).await;
    let [a, b] = both;
    let _ = a.cb.call(|| Err::<(), _>("down"));
    let tripped = std::time::Instant::now();
    wait_for(BOUND, "B to follow", || b.cb.state() == State::Open).await;
    assert_eq!(b.cb.breaker().mode(), Mode::ForcedOpen);

    server.kill();
    // Several failed reconnections (100 ms apart at most) must not shorten the open period.
    wait_for(LONG, "B to go local-only and retry a few times", || {
        b.fleet.coordination() == Coordination::LocalOnly && b.fleet.stats().errors >= 4
    })
    .await;
    let elapsed = tripped.elapsed();
    assert!(elapsed < open_for, "too slow to tell: {elapsed:?}");
    assert_eq!(
        b.cb.state(),
        State::Open,
        "B left the fleet's open state early"
    );
    assert!(matches!(
        b.cb.call(|| Ok::<_, ()>(())),
        Err(warden_breaker::Error::Rejected(Rejected::Open))
    ));
    // At the fleet's deadline B probes on its own, and a success closes it.
    wait_for(open_for + LONG, "B to turn half-open locally", || {
        b.cb.state() == State::HalfOpen
    })
    .await;
    assert!(tripped.elapsed() >= open_for);
    assert_eq!(b.cb.call(|| Ok::<_, ()>(2)), Ok(2));
    assert_eq!(b.cb.state(), State::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_counts_merge_instances_and_reset_with_the_interval() {
    let server = RedisServer::start();
    let interval = Duration::from_secs(3);
    // Only the fleet's counts may open the fleet here (a local trip would too, by default).
    let fleet: Vec<_> = (0..2)
        .map(|_| {
            let cb = CircuitBreaker::builder("interval")
                .interval(interval)
                .ready_to_trip(|c| c.total_failures >= 4)
                .build()
                .unwrap();
            instance(config(&server.url()).propagate_local_trips(false), cb)
        })
        .collect();
    all_coordinated(&fleet).await;
    // The fleet's interval started when the first instance created the state, just now.
    let started = std::time::Instant::now();
    let counts = |i: &Instance| {
        i.cb.fleet_counts()
            .map(|c| (c.requests, c.total_successes, c.total_failures))
    };
    let generation = |i: &Instance| i.cb.fleet_state().map(|v| v.generation);
    let g1 = generation(&fleet[0]);

    // 2 failures on A, then 1 success and 1 failure on B: B's sync returns all four.
    for _ in 0..2 {
        let _ = fleet[0].cb.call(|| Err::<(), _>("x"));
    }
    wait_for(BOUND, "A's failures to be published", || {
        counts(&fleet[0]) == Some((2, 0, 2))
    })
    .await;
    let _ = fleet[1].cb.call(|| Ok::<_, &str>(()));
    let _ = fleet[1].cb.call(|| Err::<(), _>("x"));
    wait_for(BOUND, "the fleet to count every outcome", || {
        counts(&fleet[1]) == Some((4, 1, 3))
    })
    .await;
    assert!(
        started.elapsed() < interval,
        "the interval ended too early to tell"
    );
    assert_eq!(generation(&fleet[1]), g1);
    assert!(fleet.iter().all(|i| i.cb.state() == State::Closed));

    // The interval ends: the fleet's counts start over, so 1 more failure does not trip.
    support::real_sleep(interval.saturating_sub(started.elapsed()) + SLICE).await;
    // (Each instance's first call after the interval shows its local reset: a
    // reset followed by as many calls as before within one slice would not.)
    let _ = fleet[0].cb.call(|| Ok::<_, &str>(()));
    wait_for(BOUND, "counts to start over", || {
        counts(&fleet[0]) == Some((1, 1, 0))
    })
    .await;
    let _ = fleet[1].cb.call(|| Err::<(), _>("x"));
    wait_for(BOUND, "B's failure to be counted", || {
        counts(&fleet[1]) == Some((2, 1, 1))
    })
    .await;
    assert_ne!(generation(&fleet[1]), g1);
    assert_eq!(fleet_state(&fleet[1]), Some(State::Closed));
    // Three more within the interval: 4 failures fleet-wide trip both instances
    // (B has seen 2 failures in this interval, so only the fleet can open it).
    for i in [0, 1, 0] {
        let _ = fleet[i].cb.call(|| Err::<(), _>("x"));
    }
    wait_for(BOUND, "both to open", || {
        fleet.iter().all(|i| i.cb.state() == State::Open)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unused_name_expires_from_redis_but_an_open_decision_outlives_its_deadline() {
    let server = RedisServer::start();
    let ttl = Duration::from_millis(400);
    let timeout = Duration::from_millis(1500);
    let fleet = Fleet::start(config(&server.url()).key_ttl(ttl)).unwrap();
    let build = |name: &str| {
        CircuitBreaker::builder(name)
            .timeout(timeout)
            .ready_to_trip(|c| c.total_failures >= 1)
            .build()
            .unwrap()
    };
    let unused = fleet.attach(Arc::new(build("unused"))).unwrap();
    let used = fleet.attach(Arc::new(build("used"))).unwrap();
    wait_for(LONG, "both to coordinate", || {
        unused.fleet_state().is_some() && used.fleet_state().is_some()
    })
    .await;
    let exists = |name: &str| server.int(&format!("EXISTS warden:{{{name}}}:state")) == 1;
    // Calls keep a name's keys alive.
    let _ = unused.call(|| Ok::<_, ()>(()));
    for _ in 0..10 {
        let _ = used.call(|| Ok::<_, ()>(()));
        support::real_sleep(ttl / 4).await;
        assert!(exists("used"), "a name in use expired");
    }
    // Nobody calls "unused" any more: its keys go by themselves.
    wait_for(LONG, "the unused name to expire", || !exists("unused")).await;
    // An open decision lives at least until its deadline, even when the instance
    // that made it stops at once.
    let _ = used.call(|| Err::<(), _>("down"));
    wait_for(BOUND, "the fleet to open", || {
        used.fleet_state().map(|v| v.state) == Some(State::Open)
    })
    .await;
    let opened = std::time::Instant::now();
    let pttl = server.int("PTTL warden:{used}:state");
    assert!(
        pttl as u128 > timeout.as_millis(),
        "an open decision set to live {pttl} ms"
    );
    fleet.shutdown().await;
    support::real_sleep(timeout.saturating_sub(opened.elapsed() + Duration::from_millis(200)))
        .await;
    assert!(
        exists("used"),
        "the open decision expired before its deadline"
    );
    wait_for(LONG, "the stopped fleet's keys to expire", || {
        !exists("used")
    })
    .await;
}
