//! The facade's `redis` feature: a `warden_kit::Registry` whose breakers are
//! coordinated by a fleet, on a real `redis-server` started by the test.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::{RedisServer, wait_for};
use warden_kit::fleet::{Coordination, Fleet, FleetConfig};
use warden_kit::{ExecuteError, Registry, Rejected, State};

const LONG: Duration = Duration::from_secs(5);

fn registry(url: &str) -> Registry {
    let fleet = Fleet::start(
        FleetConfig::new(url)
            .slice(Duration::from_millis(20))
            .reconnect_max(Duration::from_millis(100)),
    )
    .unwrap();
    Registry::builder().fleet(Arc::new(fleet)).build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registries_on_two_instances_trip_together_and_list_the_fleet_state() {
    let mut server = RedisServer::start();
    let a = registry(&server.url());
    let b = registry(&server.url());
    // Without a fleet there is nothing to report.
    let plain = Registry::builder().build().unwrap();
    let _ = plain.pipeline("db").unwrap().execute(|| Ok::<_, ()>(()));
    assert_eq!(plain.list()[0].coordination, None);

    // Created without a call: a success recorded after the breaker joined the
    // fleet could be published in one slice with the failures below, and a
    // slice's counts merge in as one run (a success among them ends the fleet's
    // run of failures: 3 in a row, not 6).
    a.breaker("db").unwrap();
    b.breaker("db").unwrap();
    wait_for(LONG, "both registries to coordinate", || {
        [&a, &b].iter().all(|r| {
            let row = &r.list()[0];
            row.coordination == Some(Coordination::Fleet) && row.fleet.is_some()
        })
    })
    .await;
    // Three failures each: neither trips alone (the default needs 6 in a row), the fleet does.
    for _ in 0..3 {
        let _ = a
            .pipeline("db")
            .unwrap()
            .execute(|| Err::<(), _>("timeout"));
        let _ = b
            .pipeline("db")
            .unwrap()
            .execute(|| Err::<(), _>("timeout"));
    }
    wait_for(LONG, "both registries to open", || {
        [&a, &b].iter().all(|r| {
            let row = &r.list()[0];
            row.state == State::Open && row.fleet.map(|f| f.state) == Some(State::Open)
        })
    })
    .await;
    let ex = a.pipeline("db").unwrap().execute(|| Ok::<_, ()>(()));
    assert!(matches!(
        ex.error(),
        Some(ExecuteError::Rejected {
            rejected: Rejected::Open,
            ..
        })
    ));
    assert!(a.breaker("db").unwrap().fleet().is_some());

    // Redis goes away: the listing says so.
    server.kill();
    wait_for(LONG, "the listing to say local-only", || {
        a.list()[0].coordination == Some(Coordination::LocalOnly) && a.list()[0].fleet.is_none()
    })
    .await;
}

/// `total_commands_processed` from `INFO stats` (each INFO call counts itself).
fn commands_processed(server: &RedisServer) -> u64 {
    let info = server.command("INFO stats").unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix("total_commands_processed:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("INFO stats reports total_commands_processed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutting_the_registry_down_stops_its_fleets_work() {
    let server = RedisServer::start();
    let fleet = Arc::new(
        Fleet::start(
            FleetConfig::new(server.url())
                .slice(Duration::from_millis(20))
                .reconnect_max(Duration::from_millis(100)),
        )
        .unwrap(),
    );
    let registry = Registry::builder()
        .fleet(Arc::clone(&fleet))
        .build()
        .unwrap();
    let _ = registry.pipeline("db").unwrap().execute(|| Ok::<_, ()>(()));
    wait_for(LONG, "the registry to coordinate", || {
        registry.list()[0].coordination == Some(Coordination::Fleet)
    })
    .await;
    // Working: every 20 ms slice sends at least one command.
    let before = commands_processed(&server);
    support::real_sleep(Duration::from_millis(200)).await;
    assert!(
        commands_processed(&server) - before > 3,
        "the fleet is working"
    );

    registry.shutdown();
    assert!(fleet.is_stopped());
    // Let a slice already on the wire finish, then nothing more arrives but INFO.
    support::real_sleep(Duration::from_millis(100)).await;
    let before = commands_processed(&server);
    support::real_sleep(Duration::from_millis(300)).await;
    let after = commands_processed(&server);
    assert!(
        after - before <= 1,
        "{} commands after shutdown",
        after - before - 1
    );
}
