//! Fleet-wide adaptive throttling: two instances (each a `Fleet` with its own
//! connection and breaker) sharing one real `redis-server`, started by the test
//! on a free loopback port. The breakers' windows run on one `ManualClock` that
//! never moves, so nothing ages out; waits are bounded polls (`support::wait_for`).

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::{RedisServer, wait_for};
use warden_breaker::{AdaptiveThrottle, CircuitBreaker, ManualClock, State};
use warden_redis::{Coordination, Fleet, FleetConfig};

const SLICE: Duration = Duration::from_millis(20);
/// The bound on every wait (a few slices are expected).
const LONG: Duration = Duration::from_secs(5);

fn config(url: &str) -> FleetConfig {
    FleetConfig::new(url)
        .slice(SLICE)
        .redis_timeout(Duration::from_millis(200))
        .reconnect_max(Duration::from_millis(100))
}

fn throttled(clock: &ManualClock) -> Arc<CircuitBreaker> {
    Arc::new(
        CircuitBreaker::builder("api")
            .adaptive_throttle(AdaptiveThrottle::new(Duration::from_secs(10)).with_min_requests(1))
            .clock(clock.clone())
            .build()
            .unwrap(),
    )
}

/// `(requests - 2 accepts) / (requests + 1)`, at least 0: the rule with k = 2.
fn rule(requests: u64, accepts: u64) -> f64 {
    let excess = requests as f64 - 2.0 * accepts as f64;
    (excess / (requests as f64 + 1.0)).max(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_instance_sheds_the_share_of_the_fleets_window() {
    let mut server = RedisServer::start();
    let clock = ManualClock::new();
    let (fleet_a, fleet_b) = (
        Fleet::start(config(&server.url())).unwrap(),
        Fleet::start(config(&server.url())).unwrap(),
    );
    let a = fleet_a.attach(throttled(&clock)).unwrap();
    let b = fleet_b.attach(throttled(&clock)).unwrap();
    wait_for(LONG, "both instances to coordinate", || {
        a.coordination() == Coordination::Fleet && b.coordination() == Coordination::Fleet
    })
    .await;

    // B's dependency answers every call; A's fails every call.
    for _ in 0..30 {
        assert_eq!(b.call(|| Ok::<_, ()>(())), Ok(()));
    }
    assert_eq!(b.breaker().throttle_window(), Some((30, 30)));
    for _ in 0..200 {
        let _ = a.call(|| Err::<(), _>(()));
    }
    let (a_requests, a_accepts) = a.breaker().throttle_window().unwrap();
    assert_eq!(
        (a_requests, a_accepts),
        (200, 0),
        "shed calls are requests too"
    );

    // Both evaluate the fleet's window (230 requests, 30 accepts) once each has
    // read the other's: B sheds the same share as A although its own calls all
    // succeeded, and A a smaller share than its own window alone would give.
    let fleet = rule(230, 30);
    wait_for(LONG, "both instances to shed the fleet's share", || {
        let (pa, pb) = (
            a.breaker().throttle_probability(),
            b.breaker().throttle_probability(),
        );
        (pa - fleet).abs() < 1e-6 && (pb - fleet).abs() < 1e-6
    })
    .await;
    assert!(fleet > 0.5 && fleet < rule(200, 0));
    assert_eq!(
        (a.breaker().state(), b.breaker().state()),
        (State::Closed, State::Closed),
        "a throttle never opens, locally or in the fleet"
    );
    let shed = (0..200)
        .filter(|_| b.call(|| Ok::<_, ()>(())).is_err_and(|e| e.is_rejection()))
        .count();
    assert!(shed > 50, "B sheds its calls: {shed} of 200");

    // Without Redis each instance sheds on its own window again.
    server.kill();
    let own = |i: &warden_redis::FleetBreaker| {
        let (requests, accepts) = i.breaker().throttle_window().unwrap();
        (i.breaker().throttle_probability() - rule(requests, accepts)).abs() < 1e-6
    };
    wait_for(LONG, "both instances to shed on their own windows", || {
        a.coordination() == Coordination::LocalOnly
            && b.coordination() == Coordination::LocalOnly
            && own(&a)
            && own(&b)
    })
    .await;
    assert!(a.breaker().throttle_probability() > b.breaker().throttle_probability());
}

/// An instance detached (or stopped) while its share of the window is in
/// flight (held up by a Redis pausing writes) sheds on its own window from
/// then on: the late reply no longer hands it the other instances' counts,
/// which it used to keep for good (nothing refreshes a detached or stopped
/// fleet's breakers), shedding calls on a fleet it had left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detached_instance_keeps_no_late_peer_counts() {
    leaves_mid_share(|fleet: &Fleet| assert!(fleet.detach("api"))).await;
}

/// [`a_detached_instance_keeps_no_late_peer_counts`] with the fleet stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_instance_keeps_no_late_peer_counts() {
    leaves_mid_share(Fleet::stop).await;
}

async fn leaves_mid_share(leave: impl FnOnce(&Fleet)) {
    let server = RedisServer::start();
    let clock = ManualClock::new();
    let (fleet_a, fleet_b) = (
        // A 100 ms slice: B's share stays fresh (10 slices) across the pause.
        Fleet::start(
            config(&server.url())
                .slice(Duration::from_millis(100))
                .redis_timeout(Duration::from_secs(3)),
        )
        .unwrap(),
        Fleet::start(config(&server.url())).unwrap(),
    );
    let a = fleet_a.attach(throttled(&clock)).unwrap();
    let b = fleet_b.attach(throttled(&clock)).unwrap();
    wait_for(LONG, "both instances to coordinate", || {
        a.coordination() == Coordination::Fleet && b.coordination() == Coordination::Fleet
    })
    .await;
    // B's dependency fails: A sheds on B's window alone (50 / 51 of its calls).
    for _ in 0..50 {
        let _ = b.call(|| Err::<(), _>(()));
    }
    wait_for(LONG, "A to shed on B's window", || {
        a.breaker().throttle_probability() > 0.5
    })
    .await;
    // Scripts write: they wait out the pause; this client does not.
    assert_eq!(
        server.command("CLIENT PAUSE 700 WRITE").as_deref(),
        Some("+OK\r\n")
    );
    support::real_sleep(Duration::from_millis(200)).await;
    leave(&fleet_a);
    assert_eq!(a.breaker().throttle_probability(), 0.0, "local: own window");
    support::real_sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        a.breaker().throttle_probability(),
        0.0,
        "a late share gave the breaker the fleet's counts"
    );
}
