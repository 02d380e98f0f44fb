//! The timed success path (a time window or an adaptive throttle) and the
//! throttle's admission with more threads than the counters have direct cells:
//! the threads past them take the general path, and nothing may be lost on
//! either path, on the default clock (the ticker's time) or a manual one.

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use warden_breaker::{AdaptiveThrottle, Builder, CircuitBreaker, ManualClock, TimeWindow};

/// More threads than direct cells (4), all alive at once so they hold distinct slots.
const THREADS: u32 = 12;
const CALLS: u32 = 2_000;

/// Runs `CALLS` successful calls on each of `THREADS` threads, moving `clock` (if
/// any) a millisecond every 100 calls of the first thread, so buckets turn.
fn run(cb: &Arc<CircuitBreaker>, clock: Option<&ManualClock>) {
    let start = Arc::new(Barrier::new(THREADS as usize));
    let done = Arc::new(Barrier::new(THREADS as usize));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (cb, start, done) = (Arc::clone(cb), Arc::clone(&start), Arc::clone(&done));
            let clock = clock.cloned();
            thread::spawn(move || {
                start.wait();
                for i in 0..CALLS {
                    if t == 0 && i % 100 == 0 {
                        if let Some(c) = &clock {
                            c.advance(Duration::from_millis(1));
                        }
                    }
                    assert_eq!(cb.call(|| Ok::<_, ()>(i)), Ok(i));
                }
                // Every thread keeps its slot until all are done.
                done.wait();
            })
        })
        .collect();
    for h in handles {
        h.join().expect("no thread panics");
    }
}

fn check(build: impl Fn(Builder) -> Builder, clock: Option<ManualClock>) -> Arc<CircuitBreaker> {
    let builder = build(CircuitBreaker::builder("timed"));
    let builder = match &clock {
        Some(c) => builder.clock(c.clone()),
        None => builder,
    };
    let cb = Arc::new(builder.build().expect("valid"));
    run(&cb, clock.as_ref());
    let counts = cb.counts();
    let all = THREADS * CALLS;
    assert_eq!(
        (counts.requests, counts.total_successes),
        (all, all),
        "every admission and success counted"
    );
    assert_eq!(cb.totals().successes, u64::from(all));
    cb
}

#[test]
fn a_time_window_counts_every_threads_successes() {
    let window = |b: Builder| b.time_window(TimeWindow::new(Duration::from_secs(10)));
    check(window, None);
    let window =
        |b: Builder| b.time_window(TimeWindow::new(Duration::from_millis(100)).with_buckets(10));
    check(window, Some(ManualClock::new()));
}

#[test]
fn an_adaptive_throttle_counts_every_threads_requests_and_accepts() {
    let all = u64::from(THREADS * CALLS);
    let throttle = |b: Builder| b.adaptive_throttle(AdaptiveThrottle::new(Duration::from_secs(10)));
    let cb = check(throttle, None);
    assert_eq!(cb.throttle_window(), Some((all, all)));
    assert_eq!(cb.throttle_probability(), 0.0);
    // 10 s in 10 buckets on a manual clock moved 20 ms in all: one bucket.
    let throttle = |b: Builder| b.adaptive_throttle(AdaptiveThrottle::new(Duration::from_secs(10)));
    let cb = check(throttle, Some(ManualClock::new()));
    assert_eq!(cb.throttle_window(), Some((all, all)));
}
