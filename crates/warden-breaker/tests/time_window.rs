//! The time-window trip rule: failure rate over the last span of time, kept in
//! buckets, with a minimum number of calls, on a `ManualClock`.

use std::time::Duration;

use warden_breaker::{CircuitBreaker, ConfigError, ManualClock, State, TimeWindow};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn rig(window: TimeWindow) -> (CircuitBreaker, ManualClock) {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::builder("window")
        .time_window(window)
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
fn trips_on_the_rate_within_the_window() {
    // 100 ms in 10 buckets of 10 ms; at least 4 calls; 50 %.
    let (cb, _) = rig(TimeWindow::new(ms(100))
        .with_buckets(10)
        .with_min_calls(4)
        .with_failure_rate_percent(50));
    calls(&cb, "SSSF"); // 1 of 4
    calls(&cb, "F"); // 2 of 5
    assert_eq!(cb.state(), State::Closed);
    calls(&cb, "F"); // 3 of 6
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn whole_buckets_leave_the_window() {
    let (cb, clock) = rig(TimeWindow::new(ms(100))
        .with_buckets(10)
        .with_min_calls(2)
        .with_failure_rate_percent(50));
    calls(&cb, "F"); // tick 0, bucket 0: 1 call, under the minimum
    clock.advance(ms(50));
    calls(&cb, "SS"); // bucket 5
    clock.advance(ms(49)); // tick 99, bucket 9: bucket 0 is still in
    calls(&cb, "F"); // F S S F: 2 of 4 = 50 %
    assert_eq!(cb.state(), State::Open);

    let (cb, clock) = rig(TimeWindow::new(ms(100))
        .with_buckets(10)
        .with_min_calls(2)
        .with_failure_rate_percent(50));
    calls(&cb, "F");
    clock.advance(ms(50));
    calls(&cb, "SS");
    clock.advance(ms(50)); // tick 100, bucket 10: bucket 0 has left
    calls(&cb, "F"); // S S F: 1 of 3
    assert_eq!(cb.state(), State::Closed);
    calls(&cb, "F"); // S S F F: 2 of 4
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn the_bucket_is_the_record_time_not_the_admission_time() {
    let (cb, clock) = rig(TimeWindow::new(ms(20))
        .with_buckets(2)
        .with_min_calls(2)
        .with_failure_rate_percent(100));
    let early = cb.try_acquire().unwrap(); // admitted at tick 0
    calls(&cb, "F"); // bucket 0
    clock.advance(ms(20)); // bucket 2: bucket 0 has left
    early.failure(); // recorded in bucket 2: alone in the window
    assert_eq!(cb.state(), State::Closed, "1 call, minimum 2");
    calls(&cb, "F");
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn needs_the_minimum_and_ignores_exclusions_and_drops() {
    let (cb, _) = rig(TimeWindow::new(ms(1000))
        .with_buckets(1)
        .with_min_calls(3)
        .with_failure_rate_percent(50));
    calls(&cb, "FF");
    cb.try_acquire().unwrap().ignore();
    drop(cb.try_acquire().unwrap());
    assert_eq!(cb.state(), State::Closed, "2 calls, minimum 3");
    calls(&cb, "F");
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn each_generation_starts_empty() {
    let (cb, clock) = rig(TimeWindow::new(ms(1000))
        .with_buckets(10)
        .with_min_calls(2)
        .with_failure_rate_percent(100));
    calls(&cb, "FF");
    assert_eq!(cb.state(), State::Open);
    clock.advance(ms(11));
    calls(&cb, "S"); // the probe closes it: a new generation in the same buckets
    assert_eq!(cb.state(), State::Closed);
    calls(&cb, "F");
    assert_eq!(
        cb.state(),
        State::Closed,
        "the old failures are not in the new window"
    );
    calls(&cb, "F");
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn a_long_idle_gap_empties_the_window() {
    let (cb, clock) = rig(TimeWindow::new(ms(100))
        .with_buckets(4)
        .with_min_calls(3)
        .with_failure_rate_percent(50));
    calls(&cb, "SSFSF"); // 2 of 5: 40 %
    clock.advance(Duration::from_secs(3600));
    calls(&cb, "F");
    assert_eq!(
        cb.state(),
        State::Closed,
        "an hour later only this call is in"
    );
    calls(&cb, "SF"); // 2 of 3
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn the_ring_is_reused_lap_after_lap() {
    let (cb, clock) = rig(TimeWindow::new(ms(40))
        .with_buckets(4)
        .with_min_calls(5)
        .with_failure_rate_percent(50));
    // Every 10 ms bucket gets one failure and two successes: 33 %, never tripping,
    // across many laps of the 4-slot ring.
    for _ in 0..50 {
        calls(&cb, "SFS");
        clock.advance(ms(10));
    }
    assert_eq!(cb.state(), State::Closed);
    // Tick 500, bucket 50: the window holds buckets 47..=50, three times S F S
    // and now a failure: 4 of 10 calls, 40 %.
    calls(&cb, "F");
    assert_eq!(cb.state(), State::Closed);
    calls(&cb, "F"); // 5 of 11: 45 %
    assert_eq!(cb.state(), State::Closed);
    calls(&cb, "F"); // 6 of 12: 50 %
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn builder_rejects_invalid_time_windows_with_typed_errors() {
    let build = |w: TimeWindow| {
        CircuitBreaker::builder("x")
            .time_window(w)
            .build()
            .map(|_| ())
    };
    let field = |r: Result<(), ConfigError>| match r {
        Err(ConfigError::OutOfRange { field, .. } | ConfigError::NotWholeMillis { field, .. }) => {
            field
        }
        Err(ConfigError::Conflict { field, other }) => {
            if field == "time_window" {
                other
            } else {
                field
            }
        }
        other => panic!("expected an error, got {other:?}"),
    };
    assert_eq!(
        field(build(
            TimeWindow::new(ms(0))
                .with_buckets(1)
                .with_min_calls(1)
                .with_failure_rate_percent(50)
        )),
        "time_window.length"
    );
    assert_eq!(
        field(build(
            TimeWindow::new(Duration::from_micros(1500))
                .with_buckets(1)
                .with_min_calls(1)
                .with_failure_rate_percent(50)
        )),
        "time_window.length"
    );
    assert_eq!(
        field(build(
            TimeWindow::new(Duration::from_secs(u64::MAX / 4))
                .with_buckets(1)
                .with_min_calls(1)
                .with_failure_rate_percent(50)
        )),
        "time_window.length"
    );
    assert_eq!(
        field(build(
            TimeWindow::new(ms(10))
                .with_buckets(0)
                .with_min_calls(1)
                .with_failure_rate_percent(50)
        )),
        "time_window.buckets"
    );
    assert_eq!(
        field(build(
            TimeWindow::new(ms(10))
                .with_buckets(3)
                .with_min_calls(1)
                .with_failure_rate_percent(50)
        )),
        "time_window.buckets"
    );
    assert_eq!(
        field(build(
            TimeWindow::new(ms(2048))
                .with_buckets(2048)
                .with_min_calls(1)
                .with_failure_rate_percent(50)
        )),
        "time_window.buckets"
    );
    assert_eq!(
        field(build(
            TimeWindow::new(ms(10))
                .with_buckets(10)
                .with_min_calls(0)
                .with_failure_rate_percent(50)
        )),
        "time_window.min_calls"
    );
    assert_eq!(
        field(build(
            TimeWindow::new(ms(10))
                .with_buckets(10)
                .with_min_calls(1)
                .with_failure_rate_percent(0)
        )),
        "time_window.failure_rate_percent"
    );
    assert_eq!(
        field(build(
            TimeWindow::new(ms(10))
                .with_buckets(10)
                .with_min_calls(1)
                .with_failure_rate_percent(101)
        )),
        "time_window.failure_rate_percent"
    );
    // The boundaries themselves are fine.
    build(
        TimeWindow::new(ms(1))
            .with_buckets(1)
            .with_min_calls(1)
            .with_failure_rate_percent(1),
    )
    .unwrap();
    build(
        TimeWindow::new(ms(1024))
            .with_buckets(1024)
            .with_min_calls(u32::MAX)
            .with_failure_rate_percent(100),
    )
    .unwrap();
    // Conflicts name both settings.
    let w = TimeWindow::new(ms(10))
        .with_buckets(10)
        .with_min_calls(1)
        .with_failure_rate_percent(50);
    let err = CircuitBreaker::builder("x")
        .time_window(w)
        .count_window(
            warden_breaker::CountWindow::new(10)
                .with_min_calls(1)
                .with_failure_rate_percent(50),
        )
        .build()
        .unwrap_err();
    assert_eq!(
        err,
        ConfigError::Conflict {
            field: "time_window",
            other: "count_window"
        }
    );
    let err = CircuitBreaker::builder("x")
        .time_window(w)
        .ready_to_trip(|_| true)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("ready_to_trip"), "{err}");
}
