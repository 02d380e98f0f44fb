//! Breaker + retry + fallback around a flaky Kafka producer, with the Go `resilience` package's
//! Kafka preset: `cargo run -p warden-retry --example breaker_retry_fallback`.
//!
//! The first message gets through on its third attempt; then the broker goes
//! down, the breaker opens during the second message's retries, and every
//! later message is spooled by the fallback at once, without calling the
//! broker or waiting.

use std::cell::Cell;

use warden_breaker::CircuitBreaker;
use warden_retry::{RetryPolicy, with_breaker_and_retry_with_fallback};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let calls = Cell::new(0u32);
    // Fails twice, succeeds once, then fails for good.
    let produce = |_topic: &str, _payload: &[u8]| {
        calls.set(calls.get() + 1);
        match calls.get() {
            3 => Ok(true),
            n => Err(std::io::Error::other(format!(
                "broker unavailable (call {n})"
            ))),
        }
    };

    let breaker = CircuitBreaker::builder("kafka")
        .ready_to_trip(|c| c.consecutive_failures >= 4)
        .build()?;
    let policy = RetryPolicy::kafka(); // 5 attempts, 200 ms doubling backoff, full jitter
    for order in 1..=3 {
        let delivered = with_breaker_and_retry_with_fallback(
            &breaker,
            &policy,
            || produce("orders", format!("order-{order}").as_bytes()),
            |err| {
                // Every attempt's error, in order; err.rejection() says whether the breaker stopped us.
                let why = if err.is_rejection() {
                    "breaker open"
                } else {
                    "calls failed"
                };
                println!("order-{order}: spooled locally ({why}): {err}");
                Ok::<_, std::io::Error>(false)
            },
        )?;
        println!(
            "order-{order}: delivered={delivered}, breaker {}",
            breaker.state()
        );
    }
    Ok(())
}
