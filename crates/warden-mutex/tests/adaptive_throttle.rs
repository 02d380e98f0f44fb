//! The mutex reference's adaptive throttle against the lock-free breaker's: the
//! same calls on a shared `ManualClock`, the same draw state before each admission,
//! and every decision, count and state compared.

use std::time::Duration;

use warden_breaker::{AdaptiveThrottle, CircuitBreaker as LockFree, ManualClock, Outcome};
use warden_mutex::CircuitBreaker as Reference;

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn compare(rule: AdaptiveThrottle, interval: Duration, start: u64, calls: u32) {
    let clock = ManualClock::new();
    let lock_free = LockFree::builder("t")
        .adaptive_throttle(rule)
        .interval(interval)
        .clock(clock.clone())
        .build()
        .unwrap();
    let reference = Reference::builder("t")
        .adaptive_throttle(rule)
        .interval(interval)
        .clock(clock.clone())
        .build()
        .unwrap();
    let mut rng = XorShift(start | 1);
    let mut shed = 0;
    for i in 0..calls {
        let r = rng.next();
        // Health drifts in phases; steps of 0-3 ms; now and then a manual command.
        let phase = (i / 500) % 4;
        let fail_percent = [5, 60, 95, 30][phase as usize];
        let outcome = match r % 100 {
            x if x < 3 => Outcome::Ignored,
            x if x < 3 + fail_percent => Outcome::Failure,
            _ => Outcome::Success,
        };
        let draw_start = rng.next();
        AdaptiveThrottle::set_thread_draws(draw_start);
        let a = lock_free.try_acquire();
        AdaptiveThrottle::set_thread_draws(draw_start);
        let b = reference.try_acquire();
        assert_eq!(
            a.as_ref().err(),
            b.as_ref().err(),
            "call {i}: start {start}, rule {rule:?}"
        );
        shed += u32::from(a.is_err());
        if let (Ok(a), Ok(b)) = (a, b) {
            a.record(outcome);
            b.record(outcome);
        }
        assert_eq!(lock_free.counts(), reference.counts(), "call {i}");
        assert_eq!(lock_free.state(), reference.state(), "call {i}");
        clock.advance(Duration::from_millis(rng.next() % 4));
        // Forced closed (no shedding) lasts about 250 calls, until a reset.
        match rng.next() % 1000 {
            0 => {
                lock_free.force_closed();
                reference.force_closed();
            }
            1..=4 => {
                lock_free.reset();
                reference.reset();
            }
            _ => {}
        }
    }
    assert!(shed > 0, "the run sheds load: {rule:?}");
}

#[test]
fn the_reference_decides_every_call_as_the_lock_free_breaker() {
    let rules = [
        AdaptiveThrottle::new(Duration::from_millis(1000)),
        AdaptiveThrottle::new(Duration::from_millis(100))
            .with_buckets(1)
            .with_min_requests(0),
        AdaptiveThrottle::new(Duration::from_millis(500))
            .with_buckets(5)
            .with_k(1.0)
            .with_max_reject_percent(60),
        AdaptiveThrottle::new(Duration::from_millis(64))
            .with_buckets(64)
            .with_k(3.5)
            .with_min_requests(40),
    ];
    for (n, rule) in rules.into_iter().enumerate() {
        for start in 1..4 {
            compare(rule, Duration::ZERO, start * 7919 + n as u64, 4000);
        }
        compare(rule, Duration::from_millis(300), n as u64 + 99, 4000);
    }
}
