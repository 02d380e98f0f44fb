//! The adaptive throttle's accept path next to the default policy's closed
//! success, each in its own function so that callgrind counts only its loop:
//!
//! ```sh
//! cargo build --release -p warden-breaker --example accept_loop
//! valgrind --tool=callgrind --toggle-collect='*run_throttle*' \
//!     target/release/examples/accept_loop throttle 200000   # or default
//! ```
//!
//! Instructions per call: the collected total divided by the number of calls.
//! Both breakers use the default clock; the throttle is the benches' (the last
//! 10 s in 10 buckets, k = 2) and every call succeeds, so nothing is shed.

use std::hint::black_box;
use std::time::Duration;

use warden_breaker::{AdaptiveThrottle, CircuitBreaker};

#[inline(never)]
fn run_default(cb: &CircuitBreaker, calls: u64) -> u64 {
    let mut ok = 0;
    for i in 0..calls {
        ok += u64::from(cb.call(|| Ok::<_, ()>(black_box(i))).is_ok());
    }
    ok
}

#[inline(never)]
fn run_throttle(cb: &CircuitBreaker, calls: u64) -> u64 {
    let mut ok = 0;
    for i in 0..calls {
        ok += u64::from(cb.call(|| Ok::<_, ()>(black_box(i))).is_ok());
    }
    ok
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "throttle".into());
    let calls: u64 = args.next().map_or(Ok(200_000), |n| n.parse())?;
    let ok = match which.as_str() {
        "default" => {
            let cb = CircuitBreaker::builder("default").build()?;
            let _ = cb.call(|| Ok::<_, ()>(0)); // the thread's first call allocates its cell
            run_default(&cb, calls)
        }
        "throttle" => {
            let cb = CircuitBreaker::builder("throttle")
                .adaptive_throttle(
                    AdaptiveThrottle::new(Duration::from_secs(10))
                        .with_buckets(10)
                        .with_k(2.0),
                )
                .build()?;
            let _ = cb.call(|| Ok::<_, ()>(0));
            run_throttle(&cb, calls)
        }
        other => return Err(format!("unknown loop {other:?}: default or throttle").into()),
    };
    assert_eq!(ok, calls, "every call was admitted and succeeded");
    println!("{which}: {calls} calls");
    Ok(())
}
