//! The retry budget: exact accounting under concurrency, the reserve, the
//! window, and policies sharing one budget across threads.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use warden_breaker::ManualClock;
use warden_retry::{RetryBudget, RetryObserver, RetryPolicy, StopReason, retry};

fn budget(ratio: f64, per_sec: u32, clock: &ManualClock) -> Arc<RetryBudget> {
    Arc::new(
        RetryBudget::builder()
            .retry_ratio(ratio)
            .min_per_sec(per_sec)
            .window(Duration::from_secs(10))
            .clock(clock.clone())
            .build()
            .unwrap(),
    )
}

#[test]
fn concurrent_refunds_restore_the_balance_and_never_overdraw() {
    let clock = ManualClock::new();
    let b = budget(0.0, 1, &clock); // 10 in reserve, nothing deposited
    let held = AtomicU32::new(0);
    let max_held = AtomicU32::new(0);
    // 8 threads withdraw and refund 2,000 times each while a ninth moves the
    // clock through the window's slots: never more than 10 held at once, and
    // every token back at the end.
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..2_000 {
                    if let Some(receipt) = b.withdraw() {
                        // Relaxed: statistics of this test, read after the scope.
                        let now = held.fetch_add(1, Ordering::Relaxed) + 1;
                        max_held.fetch_max(now, Ordering::Relaxed);
                        held.fetch_sub(1, Ordering::Relaxed);
                        b.refund(receipt);
                    }
                }
            });
        }
        s.spawn(|| {
            for _ in 0..50 {
                clock.advance(Duration::from_millis(100)); // 1/10 of a slot
                std::thread::yield_now();
            }
        });
    });
    assert!(max_held.load(Ordering::Relaxed) <= 10);
    assert_eq!(b.available(), 10, "every withdrawal was refunded");
}

#[test]
fn concurrent_withdrawals_never_overdraw() {
    let clock = ManualClock::new();
    let b = budget(0.5, 1, &clock);
    // 4 threads × 1000 first attempts × 0.5 = 2000 retries, + reserve 1/s × 10 s.
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| (0..1000).for_each(|_| b.deposit()));
        }
    });
    assert_eq!(b.available(), 2010);
    let granted = AtomicU32::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..1000 {
                    if b.try_withdraw() {
                        granted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(granted.load(Ordering::Relaxed), 2010);
    assert_eq!(b.available(), 0);
}

#[test]
fn interleaved_deposits_and_withdrawals_stay_consistent() {
    let clock = ManualClock::new();
    let b = budget(0.25, 2, &clock);
    let granted = AtomicU32::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for i in 0..2000 {
                    b.deposit();
                    if i % 3 == 0 {
                        clock.advance(Duration::from_micros(250)); // slots turn while we race
                    }
                    for _ in 0..2 {
                        if b.try_withdraw() {
                            granted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    let granted = u64::from(granted.load(Ordering::Relaxed));
    // Time moved 4 × 667 × 0.25 ms ≈ 0.67 s: nothing expired, so the totals are exact:
    // 8000 deposits × 0.25 + 20 reserve = 2020 tokens.
    assert!(clock_secs(&clock) < 1.0);
    assert_eq!(granted + b.available(), 2020);
    assert!(granted >= 2000, "{granted}"); // each deposit is followed by withdrawal attempts
}

fn clock_secs(clock: &ManualClock) -> f64 {
    use warden_breaker::Clock;
    clock.now_nanos() as f64 / 1e9
}

#[test]
fn the_reserve_refills_as_withdrawals_leave_the_window() {
    let clock = ManualClock::new();
    let b = budget(0.0, 1, &clock);
    assert_eq!((0..20).filter(|_| b.try_withdraw()).count(), 10);
    clock.advance(Duration::from_secs(5));
    assert!(!b.try_withdraw());
    clock.advance(Duration::from_secs(5)); // the withdrawals' slot leaves the window
    assert_eq!((0..20).filter(|_| b.try_withdraw()).count(), 10);
}

#[test]
fn deposits_expire_after_the_window() {
    let clock = ManualClock::new();
    let b = budget(1.0, 0, &clock);
    for _ in 0..5 {
        b.deposit();
    }
    clock.advance(Duration::from_millis(9_500));
    assert_eq!(b.available(), 5);
    clock.advance(Duration::from_millis(500));
    assert_eq!(b.available(), 0);
    // Deposits spread over the window expire slot by slot.
    for _ in 0..10 {
        b.deposit();
        clock.advance(Duration::from_secs(1));
    }
    assert_eq!(b.available(), 9);
    clock.advance(Duration::from_secs(5));
    assert_eq!(b.available(), 4);
}

#[derive(Default)]
struct Count {
    attempts: AtomicU32,
    runs: AtomicU32,
}
impl RetryObserver for Count {
    fn on_attempt(&self, attempt: u32) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        if attempt == 1 {
            self.runs.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[test]
fn shared_budget_caps_retries_across_threads_and_policies() {
    let clock = ManualClock::new();
    let b = budget(0.1, 0, &clock);
    let count = Arc::new(Count::default());
    let make = |attempts| {
        RetryPolicy::builder()
            .max_attempts(attempts)
            .base_delay(Duration::ZERO)
            .budget(b.clone())
            .observer(count.clone())
            .build()
            .unwrap()
    };
    let (kafka, clickhouse) = (make(10), make(4));
    let stopped_by_budget = AtomicU32::new(0);
    std::thread::scope(|s| {
        for t in 0..4 {
            let p = if t % 2 == 0 { &kafka } else { &clickhouse };
            let stopped = &stopped_by_budget;
            s.spawn(move || {
                for _ in 0..250 {
                    let err = retry(p, || Err::<(), _>("down")).unwrap_err();
                    if err.reason() == StopReason::Budget {
                        stopped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let runs = count.runs.load(Ordering::Relaxed);
    let retries = count.attempts.load(Ordering::Relaxed) - runs;
    assert_eq!(runs, 1000);
    // 1000 first attempts × 0.1 = 100 tokens: every retry took one, the rest is left.
    assert_eq!(u64::from(retries) + b.available(), 100);
    assert!(retries > 0 && retries <= 100, "{retries}");
    // Without the budget these runs would have made 7000 retries.
    assert!(stopped_by_budget.load(Ordering::Relaxed) >= 900);
}
