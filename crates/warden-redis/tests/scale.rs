//! Scale: thousands of breakers on two instances sharing one real `redis-server`
//! (started by each test on a free loopback port). In its own test binary so its
//! initial sync of thousands of breakers does not load the timing-sensitive tests
//! running beside it, and its tests run one at a time for the same reason.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::{RedisServer, wait_for};
use warden_breaker::{CircuitBreaker, State};
use warden_redis::{Fleet, FleetBreaker, FleetConfig};

const BOUND: Duration = Duration::from_secs(2);
const LONG: Duration = Duration::from_secs(30);

/// Held by each test for its whole run: one test at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn config(url: &str) -> FleetConfig {
    FleetConfig::new(url)
        .slice(Duration::from_millis(20))
        .redis_timeout(Duration::from_secs(1))
        .reconnect_max(Duration::from_millis(100))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_breakers_cost_next_to_nothing_and_still_learn_of_opens() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = RedisServer::start();
    const N: usize = 2000;
    let fleets: Vec<Fleet> = (0..2)
        .map(|_| Fleet::start(config(&server.url())).unwrap())
        .collect();
    let cbs: Vec<Vec<FleetBreaker>> = fleets
        .iter()
        .map(|f| {
            (0..N)
                .map(|k| {
                    let cb = CircuitBreaker::builder(&format!("b{k}"))
                        .timeout(Duration::from_secs(30))
                        .ready_to_trip(|c| c.total_failures >= 1)
                        .build()
                        .unwrap();
                    f.attach(Arc::new(cb)).unwrap()
                })
                .collect()
        })
        .collect();
    wait_for(LONG, "every breaker to coordinate", || {
        cbs.iter().flatten().all(|cb| cb.fleet_state().is_some())
    })
    .await;
    // Idle: each instance reads the change log once per slice (2 commands), and
    // runs no script.
    let before = server.total_calls();
    let scripts = fleets[0].stats().scripts;
    let start = std::time::Instant::now();
    support::real_sleep(Duration::from_secs(1)).await;
    let commands = server.total_calls() - before - 1;
    let per_second = commands as f64 / start.elapsed().as_secs_f64();
    eprintln!("{N} idle breakers x 2 instances, 20 ms slice: {per_second:.0} Redis commands/s");
    assert!(per_second <= 300.0, "{per_second:.0} commands/s at idle");
    assert_eq!(
        fleets[0].stats().scripts,
        scripts,
        "idle breakers ran scripts"
    );
    // An open on one instance still reaches the idle other.
    let _ = cbs[0][N - 1].call(|| Err::<(), _>("down"));
    let took = wait_for(BOUND, "the idle instance to learn of the open", || {
        cbs[1][N - 1].state() == State::Open
    })
    .await;
    eprintln!("open reached the idle instance in {took:?}");
    assert_eq!(cbs[1][0].state(), State::Closed);
    // A held open decision is re-checked every 10 slices (200 ms here), not every slice.
    let scripts = fleets[1].stats().scripts;
    support::real_sleep(Duration::from_secs(1)).await;
    let ran = fleets[1].stats().scripts - scripts;
    assert!(ran <= 8, "{ran} scripts in 1 s for one open breaker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_opens_is_published_and_heard_in_batches() {
    // 1,000 breakers open at once on one instance: the trips are published, and
    // the other instance syncs what it heard, in a few pipelined round trips each,
    // not one round trip per breaker.
    const N: usize = 1000;
    const SLICE: Duration = Duration::from_millis(500);
    let _one = ONE_AT_A_TIME.lock().await;
    let server = RedisServer::start();
    let fleets: Vec<Fleet> = (0..2)
        .map(|_| Fleet::start(config(&server.url()).slice(SLICE).reconnect_max(SLICE)).unwrap())
        .collect();
    let cbs: Vec<Vec<FleetBreaker>> = fleets
        .iter()
        .map(|f| {
            (0..N)
                .map(|k| {
                    let cb = CircuitBreaker::builder(&format!("burst-{k}"))
                        .timeout(Duration::from_secs(60))
                        .ready_to_trip(|c| c.total_failures >= 1)
                        .build()
                        .unwrap();
                    f.attach(Arc::new(cb)).unwrap()
                })
                .collect()
        })
        .collect();
    wait_for(LONG, "every breaker to join and both to listen", || {
        cbs.iter().flatten().all(|cb| cb.fleet_state().is_some())
            && fleets.iter().all(|f| f.stats().subscriptions >= 1)
    })
    .await;
    let before: Vec<u64> = fleets.iter().map(|f| f.stats().round_trips).collect();
    let start = std::time::Instant::now();
    for cb in &cbs[0] {
        let _ = cb.call(|| Err::<(), _>("down"));
    }
    let took = wait_for(LONG, "the burst to reach the other instance", || {
        cbs[1].iter().all(|cb| cb.state() == State::Open)
    })
    .await;
    let trips: Vec<u64> = fleets
        .iter()
        .zip(&before)
        .map(|(f, b)| f.stats().round_trips - b)
        .collect();
    eprintln!(
        "{N} opens at once reached the other instance in {took:?} ({:?} since the first call); round trips meanwhile: {trips:?}",
        start.elapsed()
    );
    for t in trips {
        assert!(t <= 100, "{t} round trips for a burst of {N} opens");
    }
    assert!(fleets[1].stats().notices >= N as u64);
}
