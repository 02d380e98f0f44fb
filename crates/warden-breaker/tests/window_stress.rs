//! The window rules under concurrency: threads hammer a breaker with a count or a
//! time window and slow calls while the clock moves (buckets rotate, rings wrap,
//! the breaker trips and recovers), then, quiescent, it must behave exactly like a
//! fresh breaker built from the same settings: no slot left half-written, no
//! count leaked across generations, no permit lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use warden_breaker::{
    CircuitBreaker, CountWindow, ManualClock, Outcome, Settings, SlowCalls, TimeWindow,
};

const THREADS: usize = 4;

fn calls_per_thread() -> u64 {
    if cfg!(debug_assertions) {
        20_000
    } else {
        200_000
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A xorshift step: deterministic per thread, no dependency.
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

fn hammer(cb: &Arc<CircuitBreaker>, clock: &ManualClock) -> (u64, u64) {
    let admitted = Arc::new(AtomicU64::new(0));
    let reported = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (cb, clock) = (Arc::clone(cb), clock.clone());
            let (admitted, reported) = (Arc::clone(&admitted), Arc::clone(&reported));
            thread::spawn(move || {
                let mut x = 0x9e37_79b9_7f4a_7c15 ^ (t as u64 + 1);
                for _ in 0..calls_per_thread() {
                    let r = next(&mut x);
                    if t == 0 && r.is_multiple_of(64) {
                        clock.advance(ms(1)); // buckets rotate, open timeouts pass
                    }
                    let Ok(permit) = cb.try_acquire() else {
                        continue;
                    };
                    // Relaxed: totals read after the threads are joined.
                    admitted.fetch_add(1, Ordering::Relaxed);
                    if r.is_multiple_of(97) {
                        clock.advance(ms(4)); // a slow call
                    }
                    match r % 10 {
                        0..=2 => permit.record(Outcome::Failure),
                        3 => permit.record(Outcome::Ignored),
                        4 => drop(permit),
                        _ => permit.record(Outcome::Success),
                    }
                    reported.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("no thread panics");
    }
    // Relaxed: the threads are joined.
    (
        admitted.load(Ordering::Relaxed),
        reported.load(Ordering::Relaxed),
    )
}

fn check(settings: Settings, clock: &ManualClock, opened: &AtomicU64) {
    let used = Arc::new(CircuitBreaker::from_settings(settings.clone()));
    let (admitted, reported) = hammer(&used, clock);
    assert_eq!(
        admitted, reported,
        "every admitted permit reported or dropped"
    );
    // Relaxed: the threads are joined.
    let trips = opened.load(Ordering::Relaxed);
    assert!(
        trips >= 5,
        "the hammer should trip and recover the breaker: {trips} trips in {admitted} calls"
    );
    // Quiescent: a reset starts a new closed generation; from here the used
    // breaker must decide exactly like a fresh one on the same clock and origin.
    // Both share the clock and its origin (clones of one `Settings`), so they see
    // the same ticks and buckets; they are driven in lockstep.
    used.reset();
    let fresh = CircuitBreaker::from_settings(settings);
    let (mut xa, mut states) = (7u64, 0usize);
    for _ in 0..5_000 {
        let r = next(&mut xa);
        if r.is_multiple_of(7) {
            clock.advance(ms(r % 5));
        }
        let pa = used.try_acquire();
        let pb = fresh.try_acquire();
        assert_eq!(
            pa.is_ok(),
            pb.is_ok(),
            "admission differs after {states} steps"
        );
        if r.is_multiple_of(13) {
            clock.advance(ms(4));
        }
        let outcome = if r.is_multiple_of(3) {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        if let (Ok(a), Ok(b)) = (pa, pb) {
            a.record(outcome);
            b.record(outcome);
        }
        assert_eq!(
            used.state(),
            fresh.state(),
            "state differs after {states} steps"
        );
        assert_eq!(
            used.counts(),
            fresh.counts(),
            "counts differ after {states} steps"
        );
        states += 1;
    }
}

#[test]
fn a_count_window_with_slow_calls_stays_exact() {
    let clock = ManualClock::new();
    let opened = Arc::new(AtomicU64::new(0));
    let o = Arc::clone(&opened);
    let settings = CircuitBreaker::builder("count")
        // Relaxed: read after the threads are joined.
        .on_state_change(move |_, _, to| {
            if to == warden_breaker::State::Open {
                o.fetch_add(1, Ordering::Relaxed);
            }
        })
        .count_window(
            CountWindow::new(50)
                .with_min_calls(10)
                .with_failure_rate_percent(40),
        )
        .slow_calls(
            SlowCalls::new(ms(3))
                .with_slow_rate_percent(30)
                .with_min_calls(10),
        )
        .timeout(ms(20))
        .max_requests(3)
        .clock(clock.clone())
        .settings()
        .expect("valid");
    check(settings, &clock, &opened);
}

#[test]
fn a_time_window_with_slow_calls_stays_exact() {
    let clock = ManualClock::new();
    let opened = Arc::new(AtomicU64::new(0));
    let o = Arc::clone(&opened);
    let settings = CircuitBreaker::builder("time")
        // Relaxed: read after the threads are joined.
        .on_state_change(move |_, _, to| {
            if to == warden_breaker::State::Open {
                o.fetch_add(1, Ordering::Relaxed);
            }
        })
        .time_window(
            TimeWindow::new(ms(50))
                .with_buckets(5)
                .with_min_calls(10)
                .with_failure_rate_percent(40),
        )
        .slow_calls(
            SlowCalls::new(ms(3))
                .with_slow_rate_percent(30)
                .with_min_calls(10),
        )
        .timeout(ms(20))
        .max_requests(3)
        .clock(clock.clone())
        .settings()
        .expect("valid");
    check(settings, &clock, &opened);
}
