//! A breaker guarding a flaky dependency, printing every transition.
//!
//! The dependency is healthy, has an outage from t = 2 s to t = 5 s, then
//! recovers. A caller sends one request every 100 ms of simulated time (a
//! `ManualClock`, so the demo runs instantly and the same way every time).
//!
//! Run: `cargo run -p warden-breaker --example flaky`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use warden_breaker::{CircuitBreaker, Error, ManualClock};

/// The flaky dependency: counts the calls that actually reached it.
struct Dependency {
    clock: ManualClock,
    hits: AtomicU64,
}

impl Dependency {
    fn query(&self) -> Result<&'static str, String> {
        use warden_breaker::Clock;
        self.hits.fetch_add(1, Ordering::Relaxed);
        let ms = self.clock.now_nanos() / 1_000_000;
        if (2_000..5_000).contains(&ms) {
            Err(format!("connection refused at {ms} ms"))
        } else {
            Ok("rows")
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let clock = ManualClock::new();
    let now = {
        let clock = clock.clone();
        move || {
            use warden_breaker::Clock;
            clock.now_nanos() / 1_000_000
        }
    };
    let transitions = Arc::new(AtomicU64::new(0));
    let cb = {
        let transitions = Arc::clone(&transitions);
        let now = now.clone();
        CircuitBreaker::builder("clickhouse")
            .max_requests(2)
            .timeout(Duration::from_secs(1))
            .ready_to_trip(|c| c.consecutive_failures >= 3)
            .on_state_change(move |name, from, to| {
                transitions.fetch_add(1, Ordering::Relaxed);
                println!("{:>6} ms  {name}: {from} -> {to}", now());
            })
            .clock(clock.clone())
            .build()?
    };
    let dep = Dependency {
        clock: clock.clone(),
        hits: AtomicU64::new(0),
    };

    let (mut ok, mut failed, mut rejected) = (0, 0, 0);
    for _ in 0..80 {
        match cb.call(|| dep.query()) {
            Ok(_) => ok += 1,
            Err(Error::Inner(_)) => failed += 1,
            Err(Error::Rejected(_)) => rejected += 1,
        }
        clock.advance(Duration::from_millis(100));
    }

    println!(
        "\n80 calls over 8 s: {ok} ok, {failed} failed, {rejected} rejected without reaching the dependency \
         ({} reached it); {} transitions; final state {}",
        dep.hits.load(Ordering::Relaxed),
        transitions.load(Ordering::Relaxed),
        cb.state(),
    );
    Ok(())
}
