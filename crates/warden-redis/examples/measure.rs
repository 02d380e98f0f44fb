//! Measures what fleet coordination costs in Redis operations and how fast an open
//! decision converges, on a private `redis-server` (started on a free loopback
//! port, killed at the end).
//!
//! `cargo run --release -p warden-redis --example measure [-- SECONDS]`
//!
//! 1. Redis operations per guarded call: 4 instances (each its own `Fleet`,
//!    connection and breaker) each make 10 000 calls/s for SECONDS (default 5);
//!    the scripts the fleets sent (round trips) and the commands Redis served
//!    (`INFO commandstats`, which also counts each `redis.call` inside a script)
//!    are divided by the calls made.
//! 2. Time to converge on open across 4 instances, at the default 100 ms slice and
//!    at 20 ms: one instance trips locally; the time from the failing call until
//!    every instance's local breaker is open, over 20 trials (min / median / max).
//! 3. Scale: 10 000 breakers on each of 4 instances, idle, at the default 100 ms
//!    slice: Redis commands per second in all (`INFO commandstats`), slices (round
//!    trips) per second per instance, slices that overran, then the time for an
//!    open on one instance to reach the 3 others, over 10 trials, and a burst: every
//!    other breaker of one instance opening at once, the time until all 4
//!    instances have them all open, and the round trips each instance made
//!    meanwhile.

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use support::RedisServer;
use warden_breaker::{CircuitBreaker, State};
use warden_redis::{Coordination, Fleet, FleetBreaker, FleetConfig};

const INSTANCES: usize = 4;
const RATE: u64 = 10_000;

fn redis_commands(server: &RedisServer) -> u64 {
    let info = server.command("INFO commandstats").unwrap_or_default();
    info.lines()
        .filter(|l| l.starts_with("cmdstat_") && !l.starts_with("cmdstat_info:"))
        .filter_map(|l| {
            l.split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

async fn until(limit: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    None
}

async fn ops_per_call(server: &RedisServer, seconds: u64) {
    let fleets: Vec<Fleet> = (0..INSTANCES)
        .map(|_| Fleet::start(FleetConfig::new(server.url()).namespace("ops")).expect("config"))
        .collect();
    let cbs: Vec<FleetBreaker> = fleets
        .iter()
        .map(|f| {
            let cb = CircuitBreaker::builder("orders").build().expect("valid");
            f.attach(Arc::new(cb)).expect("attach")
        })
        .collect();
    until(Duration::from_secs(10), || {
        cbs.iter()
            .all(|c| c.coordination() == Coordination::Fleet && c.fleet_state().is_some())
    })
    .await
    .expect("fleets connect");
    let scripts_before: u64 = fleets.iter().map(|f| f.stats().scripts).sum();
    let trips_before: u64 = fleets.iter().map(|f| f.stats().round_trips).sum();
    let commands_before = redis_commands(server);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for cb in cbs.clone() {
        tasks.push(tokio::spawn(async move {
            // 100 calls every 10 ms: 10 000 calls/s; one in 50 fails (never 6 in a row).
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            let mut calls = 0u64;
            for _ in 0..seconds * 100 {
                tick.tick().await;
                for k in 0..RATE / 100 {
                    let _ = cb.call(|| if k % 50 == 0 { Err("timeout") } else { Ok(()) });
                    calls += 1;
                }
            }
            calls
        }));
    }
    let mut calls = 0;
    for t in tasks {
        calls += t.await.expect("caller");
    }
    let elapsed = start.elapsed();
    let scripts = fleets.iter().map(|f| f.stats().scripts).sum::<u64>() - scripts_before;
    let trips = fleets.iter().map(|f| f.stats().round_trips).sum::<u64>() - trips_before;
    let commands = redis_commands(server) - commands_before;
    for cb in &cbs {
        assert_eq!(cb.state(), State::Closed, "the load must not trip");
    }
    println!(
        "ops per call: {INSTANCES} instances x {RATE} calls/s for {elapsed:.2?}: {calls} calls; \
         {trips} round trips = {:.5} per call, carrying {scripts} scripts; {commands} commands served \
         by Redis, counting those inside the scripts (INFO commandstats) = {:.5} per call \
         ({:.1} per second per instance)",
        trips as f64 / calls as f64,
        commands as f64 / calls as f64,
        commands as f64 / elapsed.as_secs_f64() / INSTANCES as f64,
    );
}

async fn convergence(server: &RedisServer, slice: Duration) {
    let fleets: Vec<Fleet> = (0..INSTANCES)
        .map(|_| {
            Fleet::start(
                FleetConfig::new(server.url())
                    .namespace("conv")
                    .slice(slice),
            )
            .expect("config")
        })
        .collect();
    let mut times = Vec::new();
    for trial in 0..20 {
        let name = format!("trial-{}-{trial}", slice.as_millis());
        let cbs: Vec<FleetBreaker> = fleets
            .iter()
            .map(|f| {
                let cb = CircuitBreaker::builder(&name)
                    .ready_to_trip(|c| c.total_failures >= 1)
                    .build()
                    .expect("valid");
                f.attach(Arc::new(cb)).expect("attach")
            })
            .collect();
        until(Duration::from_secs(10), || {
            cbs.iter().all(|c| c.fleet_state().is_some())
        })
        .await
        .expect("fleets see the breaker");
        // Trip at a random point of the slice.
        tokio::time::sleep(Duration::from_millis(7 * trial % slice.as_millis() as u64)).await;
        let start = Instant::now();
        let _ = cbs[trial as usize % INSTANCES].call(|| Err::<(), _>("down"));
        until(Duration::from_secs(10), || {
            cbs.iter().all(|c| c.state() == State::Open)
        })
        .await
        .expect("every instance opens");
        times.push(start.elapsed());
    }
    times.sort();
    println!(
        "convergence on open, {INSTANCES} instances, slice {slice:?}: min {:.1?} median {:.1?} max {:.1?} (20 trials)",
        times[0],
        times[times.len() / 2],
        times[times.len() - 1],
    );
}

async fn scale(server: &RedisServer, breakers: usize) {
    let joined = Instant::now();
    let fleets: Vec<Fleet> = (0..INSTANCES)
        .map(|_| Fleet::start(FleetConfig::new(server.url()).namespace("scale")).expect("config"))
        .collect();
    let cbs: Vec<Vec<FleetBreaker>> = fleets
        .iter()
        .map(|f| {
            (0..breakers)
                .map(|k| {
                    let cb = CircuitBreaker::builder(&format!("dep-{k}"))
                        .timeout(Duration::from_secs(30))
                        .ready_to_trip(|c| c.total_failures >= 1)
                        .build()
                        .expect("valid");
                    f.attach(Arc::new(cb)).expect("attach")
                })
                .collect()
        })
        .collect();
    until(Duration::from_secs(60), || {
        cbs.iter().flatten().all(|c| c.fleet_state().is_some())
    })
    .await
    .expect("every breaker joins");
    println!(
        "scale: {INSTANCES} instances x {breakers} breakers attached and joined in {:.2?}",
        joined.elapsed()
    );
    // Settle, then measure 10 s of idling.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before: Vec<_> = fleets.iter().map(Fleet::stats).collect();
    let commands_before = redis_commands(server);
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let secs = start.elapsed().as_secs_f64();
    let commands = redis_commands(server) - commands_before;
    let after: Vec<_> = fleets.iter().map(Fleet::stats).collect();
    let trips: Vec<f64> = before
        .iter()
        .zip(&after)
        .map(|(b, a)| (a.round_trips - b.round_trips) as f64 / secs)
        .collect();
    let scripts: u64 = before
        .iter()
        .zip(&after)
        .map(|(b, a)| a.scripts - b.scripts)
        .sum();
    let overruns: u64 = before
        .iter()
        .zip(&after)
        .map(|(b, a)| a.overruns - b.overruns)
        .sum();
    println!(
        "scale: {INSTANCES} x {breakers} idle breakers, 100 ms slice, {secs:.1} s: {:.0} Redis commands/s in all \
         (INFO commandstats), {scripts} scripts; round trips per second per instance {:.1?}; {overruns} slices overran",
        commands as f64 / secs,
        trips,
    );
    let mut times = Vec::new();
    for trial in 0..10 {
        let k = trial * (breakers / 10);
        tokio::time::sleep(Duration::from_millis(37 * trial as u64 % 100)).await;
        let start = Instant::now();
        let _ = cbs[trial % INSTANCES][k].call(|| Err::<(), _>("down"));
        until(Duration::from_secs(10), || {
            cbs.iter().all(|c| c[k].state() == State::Open)
        })
        .await
        .expect("every instance opens");
        times.push(start.elapsed());
    }
    times.sort();
    println!(
        "scale: an open reached all {INSTANCES} instances (of {breakers} breakers each) in min {:.1?} median {:.1?} max {:.1?} (10 trials)",
        times[0],
        times[times.len() / 2],
        times[times.len() - 1],
    );
    // A burst: every breaker of instance 0 that is still closed opens at once.
    let before: Vec<_> = fleets.iter().map(Fleet::stats).collect();
    let start = Instant::now();
    let mut opened = 0;
    for cb in &cbs[0] {
        if cb.state() == State::Closed {
            let _ = cb.call(|| Err::<(), _>("down"));
            opened += 1;
        }
    }
    let calls = start.elapsed();
    // Opens last 30 s: each instance's progress only moves forward.
    let mut next = [0usize; INSTANCES];
    until(Duration::from_secs(60), || {
        for (n, c) in next.iter_mut().zip(&cbs) {
            while *n < c.len() && c[*n].state() == State::Open {
                *n += 1;
            }
        }
        next.iter().all(|&n| n == breakers)
    })
    .await
    .expect("every instance opens every breaker");
    let took = start.elapsed();
    let after: Vec<_> = fleets.iter().map(Fleet::stats).collect();
    let trips: Vec<u64> = before
        .iter()
        .zip(&after)
        .map(|(b, a)| a.round_trips - b.round_trips)
        .collect();
    let scripts: Vec<u64> = before
        .iter()
        .zip(&after)
        .map(|(b, a)| a.scripts - b.scripts)
        .collect();
    println!(
        "scale: a burst of {opened} opens on one instance (calls made in {calls:.1?}) reached all {INSTANCES} instances in {took:.1?}; \
         round trips per instance meanwhile {trips:?}, scripts {scripts:?}"
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let server = RedisServer::start();
    ops_per_call(&server, seconds).await;
    convergence(&server, Duration::from_millis(100)).await;
    convergence(&server, Duration::from_millis(20)).await;
    scale(&server, 10_000).await;
}
