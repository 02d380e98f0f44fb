//! The count-window trip rule: failure rate over the last N calls with a minimum
//! number of calls, on a `ManualClock`.

use std::time::Duration;

use warden_breaker::{CircuitBreaker, ConfigError, CountWindow, ManualClock, State};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn rig(window: CountWindow, interval: Duration) -> (CircuitBreaker, ManualClock) {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::builder("window")
        .count_window(window)
        .interval(interval)
        .timeout(ms(10))
        .clock(clock.clone())
        .build()
        .unwrap();
    (cb, clock)
}

fn calls(cb: &CircuitBreaker, outcomes: &str) {
    for c in outcomes.chars() {
        let _ = match c {
            'F' => cb.call(|| Err::<(), _>(())),
            _ => cb.call(|| Ok::<_, ()>(())),
        };
    }
}

#[test]
fn trips_on_the_rate_over_the_last_calls_only() {
    let (cb, _) = rig(
        CountWindow::new(4)
            .with_min_calls(4)
            .with_failure_rate_percent(50),
        Duration::ZERO,
    );
    calls(&cb, "FSSS"); // 1 of 4
    calls(&cb, "F"); // window SSSF: 1 of 4
    assert_eq!(cb.state(), State::Closed);
    calls(&cb, "F"); // window SSFF: 2 of 4
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn old_failures_slide_out() {
    let (cb, _) = rig(
        CountWindow::new(3)
            .with_min_calls(3)
            .with_failure_rate_percent(60),
        Duration::ZERO,
    );
    calls(&cb, "FSF"); // 2 of 3 = 66 %: trips on the 2nd failure
    assert_eq!(cb.state(), State::Open);
    let (cb, _) = rig(
        CountWindow::new(3)
            .with_min_calls(3)
            .with_failure_rate_percent(60),
        Duration::ZERO,
    );
    calls(&cb, "FSSSF"); // window SSF: 1 of 3
    assert_eq!(cb.state(), State::Closed);
    calls(&cb, "F"); // SFF: 2 of 3
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn needs_the_minimum_number_of_calls() {
    let (cb, _) = rig(
        CountWindow::new(10)
            .with_min_calls(4)
            .with_failure_rate_percent(50),
        Duration::ZERO,
    );
    calls(&cb, "FFF");
    assert_eq!(cb.state(), State::Closed, "3 calls, minimum 4");
    calls(&cb, "F");
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn ignored_and_dropped_calls_are_not_in_the_window() {
    let (cb, _) = rig(
        CountWindow::new(2)
            .with_min_calls(2)
            .with_failure_rate_percent(100),
        Duration::ZERO,
    );
    calls(&cb, "F");
    cb.try_acquire().unwrap().ignore();
    drop(cb.try_acquire().unwrap());
    assert_eq!(cb.state(), State::Closed);
    calls(&cb, "F"); // the window is F F, not F ignored
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn each_generation_starts_an_empty_window() {
    let (cb, clock) = rig(
        CountWindow::new(4)
            .with_min_calls(2)
            .with_failure_rate_percent(100),
        ms(5),
    );
    calls(&cb, "F");
    clock.advance(ms(6)); // the interval expires: a new generation
    calls(&cb, "F");
    assert_eq!(cb.state(), State::Closed, "one failure per generation");
    calls(&cb, "F");
    assert_eq!(cb.state(), State::Open);
    // Recovery: half-open, a successful probe closes it, the window is empty again.
    clock.advance(ms(11));
    calls(&cb, "S");
    assert_eq!(cb.state(), State::Closed);
    calls(&cb, "F");
    assert_eq!(cb.state(), State::Closed, "one call, minimum 2");
}

#[test]
fn disabled_never_trips_on_the_window() {
    let (cb, _) = rig(
        CountWindow::new(2)
            .with_min_calls(1)
            .with_failure_rate_percent(50),
        Duration::ZERO,
    );
    cb.disable();
    calls(&cb, "FFFF");
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(cb.counts().total_failures, 4);
}

#[test]
fn builder_rejects_invalid_windows_with_typed_errors() {
    let field = |w: CountWindow| match CircuitBreaker::builder("x").count_window(w).build() {
        Err(ConfigError::OutOfRange { field, .. }) => field,
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(
        field(
            CountWindow::new(0)
                .with_min_calls(1)
                .with_failure_rate_percent(50)
        ),
        "count_window.size"
    );
    assert_eq!(
        field(
            CountWindow::new(1025)
                .with_min_calls(1)
                .with_failure_rate_percent(50)
        ),
        "count_window.size"
    );
    assert_eq!(
        field(
            CountWindow::new(10)
                .with_min_calls(0)
                .with_failure_rate_percent(50)
        ),
        "count_window.min_calls"
    );
    assert_eq!(
        field(
            CountWindow::new(10)
                .with_min_calls(11)
                .with_failure_rate_percent(50)
        ),
        "count_window.min_calls"
    );
    assert_eq!(
        field(
            CountWindow::new(10)
                .with_min_calls(5)
                .with_failure_rate_percent(0)
        ),
        "count_window.failure_rate_percent"
    );
    assert_eq!(
        field(
            CountWindow::new(10)
                .with_min_calls(5)
                .with_failure_rate_percent(101)
        ),
        "count_window.failure_rate_percent"
    );
    let err = CircuitBreaker::builder("x")
        .count_window(
            CountWindow::new(10)
                .with_min_calls(5)
                .with_failure_rate_percent(50),
        )
        .ready_to_trip(|c| c.total_failures > 1)
        .build()
        .unwrap_err();
    assert_eq!(
        err,
        ConfigError::Conflict {
            field: "count_window",
            other: "ready_to_trip"
        }
    );
    assert!(
        CircuitBreaker::builder("x")
            .count_window(
                CountWindow::new(1024)
                    .with_min_calls(1024)
                    .with_failure_rate_percent(100)
            )
            .build()
            .is_ok()
    );
}
