//! The `warden-ticker` thread runs only while something on the default clock
//! needs it, and stops by itself: it is seen in `/proc/self/task` (Linux only).
//! One test function, so nothing else in this process starts or stops it.
//! Bounded: about 0.3 s of waiting on an idle machine, at most 10 s.
#![cfg(target_os = "linux")]

use std::time::{Duration, Instant};

use warden_breaker::{CircuitBreaker, Error, ManualClock, Rejected, SlowCalls, State, TimeWindow};

fn ticker_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|name| name.trim_end() == "warden-ticker")
        })
        .count()
}

/// Waits up to 5 s for the count of ticker threads to become `want`.
fn wait_for(want: usize, what: &str) {
    let start = Instant::now();
    while ticker_threads() != want {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{what}: {} ticker threads, want {want}",
            ticker_threads()
        );
        // Real time on purpose: the ticker is a real OS thread, started and stopped
        // by itself; polling /proc is the only way to see it (bounded by 5 s).
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn trip(cb: &CircuitBreaker) {
    for _ in 0..6 {
        let _ = cb.call(|| Err::<(), _>(()));
    }
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn the_ticker_runs_only_while_needed() {
    assert_eq!(ticker_threads(), 0, "nothing started it yet");

    // A manual clock never starts it, open or with a time window.
    let clock = ManualClock::new();
    let manual = CircuitBreaker::builder("manual")
        .clock(clock.clone())
        .time_window(TimeWindow::new(Duration::from_secs(10)))
        .build()
        .expect("valid settings");
    let plain = CircuitBreaker::builder("manual-open")
        .clock(clock)
        .build()
        .expect("valid settings");
    trip(&plain);
    let _ = manual.call(|| Ok::<_, ()>(()));
    assert_eq!(ticker_threads(), 0, "a manual clock started the ticker");
    // Neither does a closed breaker on the default clock.
    let closed = CircuitBreaker::builder("closed").build().expect("valid");
    let _ = closed.call(|| Ok::<_, ()>(()));
    assert_eq!(ticker_threads(), 0, "a closed breaker started the ticker");

    // An open breaker on the default clock: it runs until the deadline, then stops
    // without any call.
    let open = CircuitBreaker::builder("open")
        .timeout(Duration::from_millis(100))
        .build()
        .expect("valid settings");
    trip(&open);
    wait_for(1, "open breaker");
    assert!(matches!(
        open.call(|| Ok::<_, ()>(())),
        Err(Error::Rejected(Rejected::Open))
    ));
    wait_for(0, "past the open deadline");
    assert_eq!(open.state(), State::HalfOpen);

    // Settings with a time window or slow calls: it runs while they are alive.
    let window = CircuitBreaker::builder("window")
        .time_window(TimeWindow::new(Duration::from_secs(10)))
        .build()
        .expect("valid settings");
    let slow = CircuitBreaker::builder("slow")
        .slow_calls(SlowCalls::new(Duration::from_secs(1)))
        .build()
        .expect("valid settings");
    wait_for(1, "a time window and slow calls");
    for cb in [&window, &slow] {
        assert_eq!(cb.call(|| Ok::<_, ()>(1)), Ok(1));
    }
    drop(window);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(ticker_threads(), 1, "the slow-call breaker still needs it");
    drop(slow);
    wait_for(0, "the last timed breaker dropped");

    // A rule finer than 50 ms reads the clock instead: no ticker.
    let fine = CircuitBreaker::builder("fine")
        .slow_calls(SlowCalls::new(Duration::from_millis(10)))
        .build()
        .expect("valid settings");
    let _ = fine.call(|| Ok::<_, ()>(()));
    assert_eq!(ticker_threads(), 0, "a 10 ms threshold started the ticker");
}
