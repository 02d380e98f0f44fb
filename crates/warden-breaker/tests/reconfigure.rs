//! `CircuitBreaker::reconfigure`: the rule for each setting, driven by a
//! `ManualClock`, the refusals, and calls racing reconfigurations.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use warden_breaker::{
    CircuitBreaker, CountWindow, Error, ManualClock, Mode, ReconfigureError, Rejected, SlowCalls,
    State, TimeWindow,
};

const MS: Duration = Duration::from_millis(1);

fn fail(cb: &CircuitBreaker) {
    let _ = cb.call(|| Err::<(), _>("down"));
}

fn succeed(cb: &CircuitBreaker) {
    let _ = cb.call(|| Ok::<_, ()>(()));
}

/// A breaker that trips on its first failure, with `timeout`.
fn tripping(timeout: Duration) -> (CircuitBreaker, ManualClock) {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::builder("db")
        .ready_to_trip(|c| c.consecutive_failures >= 1)
        .timeout(timeout)
        .clock(clock.clone())
        .build()
        .expect("valid settings");
    (cb, clock)
}

#[test]
fn timeout_applies_from_the_next_trip() {
    let (cb, clock) = tripping(Duration::from_secs(10));
    fail(&cb);
    assert_eq!(cb.state(), State::Open);
    cb.reconfigure(
        CircuitBreaker::builder("db")
            .ready_to_trip(|c| c.consecutive_failures >= 1)
            .timeout(Duration::from_secs(1)),
    )
    .expect("valid");
    // The current open period keeps its 10 s deadline.
    clock.advance(Duration::from_millis(1001));
    assert_eq!(cb.state(), State::Open);
    clock.advance(Duration::from_secs(9));
    assert_eq!(cb.state(), State::HalfOpen);
    // The failed probe re-opens it for the new timeout.
    fail(&cb);
    assert_eq!(cb.state(), State::Open);
    clock.advance(Duration::from_millis(1000));
    assert_eq!(cb.state(), State::Open);
    clock.advance(MS);
    assert_eq!(cb.state(), State::HalfOpen);
}

#[test]
fn max_requests_applies_at_once_to_a_half_open_breaker() {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::builder("db")
        .ready_to_trip(|c| c.consecutive_failures >= 1)
        .max_requests(3)
        .timeout(Duration::from_secs(1))
        .clock(clock.clone())
        .build()
        .expect("valid");
    fail(&cb);
    clock.advance(Duration::from_millis(1001));
    let probe = cb.try_acquire().expect("the first probe");
    let second = cb
        .try_acquire()
        .expect("a second probe under the old limit");
    cb.reconfigure(
        CircuitBreaker::builder("db")
            .ready_to_trip(|c| c.consecutive_failures >= 1)
            .max_requests(2)
            .timeout(Duration::from_secs(1)),
    )
    .expect("valid");
    // Two probes hold slots: the new limit admits no third one.
    assert_eq!(cb.try_acquire().err(), Some(Rejected::TooManyRequests));
    probe.success();
    assert_eq!(cb.state(), State::HalfOpen);
    second.success(); // 2 successes reach the new limit
    assert_eq!(cb.state(), State::Closed);
}

#[test]
fn half_open_max_wait_applies_from_the_next_half_open_period() {
    let (cb, clock) = tripping(Duration::from_secs(1));
    fail(&cb);
    clock.advance(Duration::from_millis(1001));
    let held = cb.try_acquire().expect("probe"); // half-open, no max wait
    cb.reconfigure(
        CircuitBreaker::builder("db")
            .ready_to_trip(|c| c.consecutive_failures >= 1)
            .timeout(Duration::from_secs(1))
            .half_open_max_wait(Duration::from_millis(100)),
    )
    .expect("valid");
    clock.advance(Duration::from_secs(5));
    assert_eq!(cb.state(), State::HalfOpen, "this period began without one");
    held.failure();
    assert_eq!(cb.state(), State::Open);
    clock.advance(Duration::from_millis(1001));
    let stuck = cb.try_acquire().expect("probe of the next period");
    clock.advance(Duration::from_millis(101));
    assert_eq!(cb.state(), State::Open, "the next period has the max wait");
    drop(stuck);
}

#[test]
fn interval_applies_at_once_and_keeps_the_counts() {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::builder("db")
        .clock(clock.clone())
        .build()
        .expect("valid");
    for _ in 0..3 {
        fail(&cb);
    }
    succeed(&cb);
    clock.advance(Duration::from_secs(100));
    cb.reconfigure(CircuitBreaker::builder("db").interval(Duration::from_secs(10)))
        .expect("valid");
    let c = cb.counts();
    assert_eq!((c.requests, c.total_failures, c.total_successes), (4, 3, 1));
    // The period ends 10 s after the reconfiguration.
    clock.advance(Duration::from_secs(10));
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(cb.counts().requests, 4);
    clock.advance(MS);
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(cb.counts().requests, 0, "the new interval cleared them");
    // And back to no interval: the counts stay forever.
    fail(&cb);
    cb.reconfigure(CircuitBreaker::builder("db"))
        .expect("valid");
    clock.advance(Duration::from_secs(3600));
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(cb.counts().total_failures, 1);
}

fn window(size: u32, percent: u32) -> CountWindow {
    CountWindow::new(size)
        .with_min_calls(4)
        .with_failure_rate_percent(percent)
}

#[test]
fn a_window_keeps_its_events_while_its_size_stays() {
    let cb = CircuitBreaker::builder("api")
        .count_window(window(10, 100))
        .build()
        .expect("valid");
    for ok in [true, true, false, false] {
        let _ = cb.call(|| if ok { Ok(()) } else { Err("503") });
    }
    assert_eq!(cb.state(), State::Closed, "2 of 4: under 100 %");
    cb.reconfigure(CircuitBreaker::builder("api").count_window(window(10, 60)))
        .expect("valid");
    assert_eq!(cb.counts().requests, 4);
    fail(&cb); // 3 of 5 failed: 60 %, counting the 4 calls made before
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn a_new_window_shape_starts_a_fresh_closed_generation_without_a_transition() {
    let transitions = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&transitions);
    let cb = CircuitBreaker::builder("api")
        .count_window(window(10, 50))
        .on_state_change(move |_, _, _| {
            seen.fetch_add(1, Ordering::Relaxed);
        })
        .build()
        .expect("valid");
    for _ in 0..3 {
        fail(&cb);
    }
    let before = cb.try_acquire().expect("closed");
    cb.reconfigure(CircuitBreaker::builder("api").count_window(window(20, 50)))
        .expect("valid");
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(cb.counts().requests, 0, "fresh counts");
    before.failure(); // admitted in the old generation: ignored
    assert_eq!(cb.counts().total_failures, 0);
    for _ in 0..3 {
        fail(&cb);
    }
    assert_eq!(cb.state(), State::Closed, "3 calls: under the minimum of 4");
    fail(&cb);
    assert_eq!(cb.state(), State::Open);
    assert_eq!(transitions.load(Ordering::Relaxed), 1, "only the trip");
}

#[test]
fn switching_to_a_time_window_counts_in_the_new_window() {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::builder("api")
        .clock(clock.clone())
        .build()
        .expect("valid");
    for _ in 0..5 {
        fail(&cb); // 5 consecutive: one short of the default rule
    }
    let w = TimeWindow::new(Duration::from_secs(10))
        .with_buckets(10)
        .with_min_calls(2)
        .with_failure_rate_percent(50);
    cb.reconfigure(CircuitBreaker::builder("api").time_window(w))
        .expect("valid");
    assert_eq!(cb.counts().requests, 0);
    succeed(&cb);
    assert_eq!(cb.state(), State::Closed);
    fail(&cb); // 1 of 2 in the window: 50 %
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn a_call_admitted_before_slow_calls_were_added_is_never_slow() {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::builder("api")
        .clock(clock.clone())
        .build()
        .expect("valid");
    let untimed = cb.try_acquire().expect("closed");
    let rule = SlowCalls::new(Duration::from_millis(5))
        .with_slow_rate_percent(50)
        .with_min_calls(1);
    cb.reconfigure(CircuitBreaker::builder("api").slow_calls(rule))
        .expect("valid");
    clock.advance(Duration::from_secs(1));
    untimed.success();
    assert_eq!(cb.state(), State::Closed, "it was admitted untimed");
    assert_eq!(cb.counts().total_successes, 1, "and still counts");
    // A call admitted under the new rule is timed (here from tick 1000).
    let timed = cb.try_acquire().expect("closed");
    clock.advance(Duration::from_millis(5));
    timed.success();
    assert_eq!(cb.state(), State::Open, "1 slow call of 2: 50 %");
}

#[test]
fn open_and_manual_states_are_kept() {
    let (cb, _clock) = tripping(Duration::from_secs(10));
    fail(&cb);
    cb.reconfigure(CircuitBreaker::builder("db"))
        .expect("valid");
    assert_eq!(cb.state(), State::Open);
    cb.force_closed();
    cb.reconfigure(CircuitBreaker::builder("db").count_window(window(8, 50)))
        .expect("valid");
    assert_eq!((cb.state(), cb.mode()), (State::Closed, Mode::ForcedClosed));
}

#[test]
fn name_clock_and_hooks_cannot_change_and_nothing_changes_on_error() {
    let cb = CircuitBreaker::builder("db")
        .timeout(Duration::from_secs(7))
        .build()
        .expect("valid");
    let long = "x".repeat(1 << 20);
    let err = cb.reconfigure(CircuitBreaker::builder(&long)).unwrap_err();
    assert!(matches!(err, ReconfigureError::Name { .. }));
    assert!(err.to_string().len() < 300, "a bounded quote: {err}");
    assert_eq!(
        cb.reconfigure(CircuitBreaker::builder("db").clock(ManualClock::new())),
        Err(ReconfigureError::Clock)
    );
    assert_eq!(
        cb.reconfigure(CircuitBreaker::builder("db").on_state_change(|_, _, _| {})),
        Err(ReconfigureError::Hooks)
    );
    let err = cb
        .reconfigure(CircuitBreaker::builder("db").timeout(Duration::from_micros(1500)))
        .unwrap_err();
    assert!(matches!(err, ReconfigureError::Invalid(_)), "{err}");
    assert_eq!(cb.settings().timeout(), Duration::from_secs(7));
}

#[test]
fn counts_stay_exact_while_reconfigurations_race_calls() {
    // 4 threads x 20,000 calls, half failures, against a thread that keeps switching
    // between settings the counts carry over (the interval and max_requests): every
    // outcome is counted, none twice.
    const THREADS: u32 = 4;
    const CALLS: u32 = 20_000;
    let cb = Arc::new(
        CircuitBreaker::builder("db")
            .ready_to_trip(|_| false)
            .build()
            .expect("valid"),
    );
    let done = Arc::new(AtomicU32::new(0));
    let reconfigurer = {
        let (cb, done) = (Arc::clone(&cb), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut n = 0u32;
            while done.load(Ordering::Relaxed) < THREADS && n < 200_000 {
                let b = CircuitBreaker::builder("db")
                    .ready_to_trip(|_| false)
                    .max_requests(1 + n % 3)
                    .interval(if n.is_multiple_of(2) {
                        Duration::ZERO
                    } else {
                        Duration::from_secs(3600)
                    });
                cb.reconfigure(b).expect("valid");
                n += 1;
            }
            n
        })
    };
    let callers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (cb, done) = (Arc::clone(&cb), Arc::clone(&done));
            std::thread::spawn(move || {
                for i in 0..CALLS {
                    let r = cb.call(|| if i % 2 == 0 { Ok(()) } else { Err(()) });
                    assert!(!matches!(r, Err(Error::Rejected(_))));
                }
                done.fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();
    for c in callers {
        c.join().expect("caller");
    }
    let reconfigurations = reconfigurer.join().expect("reconfigurer");
    assert!(reconfigurations > 0);
    let c = cb.counts();
    let total = THREADS * CALLS;
    assert_eq!(
        (c.requests, c.total_successes, c.total_failures),
        (total, total / 2, total / 2)
    );
}

/// The timed success path reads the slow-call threshold from an inline copy that
/// `reconfigure` refreshes: a lower threshold judges the very next outcome.
#[test]
fn a_lower_slow_call_threshold_applies_at_once() {
    let clock = ManualClock::new();
    let rule = |ms| {
        SlowCalls::new(Duration::from_millis(ms))
            .with_slow_rate_percent(100)
            .with_min_calls(1)
    };
    let cb = CircuitBreaker::builder("api")
        .slow_calls(rule(50))
        .clock(clock.clone())
        .build()
        .expect("valid");
    let permit = cb.try_acquire().expect("closed");
    clock.advance(Duration::from_millis(10));
    cb.reconfigure(CircuitBreaker::builder("api").slow_calls(rule(5)))
        .expect("valid");
    permit.success();
    assert_eq!(cb.state(), State::Open, "10 ms is slow by the new 5 ms");
    assert_eq!(cb.totals().slow_calls, 1);
}

/// A half-open admission reads the probe limit and the max wait from an inline
/// copy that `reconfigure` refreshes: a max wait set back while the period is past
/// its deadline re-opens at the next admission.
#[test]
fn a_max_wait_set_back_applies_to_the_next_admission() {
    let with_max_wait = |ms| {
        CircuitBreaker::builder("db")
            .ready_to_trip(|c| c.consecutive_failures >= 1)
            .timeout(Duration::from_secs(1))
            .half_open_max_wait(Duration::from_millis(ms))
    };
    let clock = ManualClock::new();
    let cb = with_max_wait(0)
        .clock(clock.clone())
        .build()
        .expect("valid");
    cb.reconfigure(with_max_wait(100)).expect("valid");
    fail(&cb);
    clock.advance(Duration::from_millis(1001));
    let held = cb.try_acquire().expect("probe"); // its period ends 100 ms from now
    cb.reconfigure(with_max_wait(0)).expect("valid");
    clock.advance(Duration::from_millis(101));
    assert_eq!(
        cb.try_acquire().err(),
        Some(Rejected::TooManyRequests),
        "no max wait: the held probe keeps the period"
    );
    cb.reconfigure(with_max_wait(100)).expect("valid");
    assert_eq!(
        cb.try_acquire().err(),
        Some(Rejected::Open),
        "past its deadline"
    );
    drop(held);
}

/// A success in a disabled generation takes a path of its own (no settings loaded):
/// counted as in closed on every record path, never slow, never a bucket.
#[test]
fn a_disabled_breaker_counts_successes_on_the_timed_path() {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::builder("api")
        .slow_calls(
            SlowCalls::new(Duration::from_millis(1))
                .with_slow_rate_percent(100)
                .with_min_calls(1),
        )
        .clock(clock.clone())
        .build()
        .expect("valid");
    cb.disable();
    for _ in 0..3 {
        let permit = cb.try_acquire().expect("disabled admits");
        clock.advance(Duration::from_millis(5));
        permit.success();
    }
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(cb.counts().total_successes, 3);
    assert_eq!(cb.counts().consecutive_successes, 3);
    assert_eq!(cb.totals().successes, 3);
    assert_eq!(
        cb.totals().slow_calls,
        0,
        "a disabled breaker times nothing"
    );
}
