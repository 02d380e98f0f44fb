//! Open-duration backoff: growth per consecutive re-trip, the cap, jitter, the
//! reset on close, and builder validation, on a `ManualClock`.

use std::time::Duration;

use warden_breaker::{CircuitBreaker, ConfigError, ManualClock, OpenBackoff, State};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Trip at the first failure, 100 ms timeout, `backoff`.
fn rig(backoff: OpenBackoff) -> (CircuitBreaker, ManualClock) {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::builder("backoff")
        .timeout(ms(100))
        .ready_to_trip(|c| c.consecutive_failures >= 1)
        .open_backoff(backoff)
        .clock(clock.clone())
        .build()
        .unwrap();
    (cb, clock)
}

/// Asserts the breaker, just opened, stays open exactly `ticks` ms (half-open at
/// the first tick after), and leaves it half-open.
fn assert_open_for(cb: &CircuitBreaker, clock: &ManualClock, ticks: u64) {
    assert_eq!(cb.state(), State::Open);
    clock.advance(ms(ticks));
    assert_eq!(cb.state(), State::Open, "still open after {ticks} ms");
    clock.advance(ms(1));
    assert_eq!(
        cb.state(),
        State::HalfOpen,
        "half-open after {ticks} + 1 ms"
    );
}

fn fail(cb: &CircuitBreaker) {
    let _ = cb.call(|| Err::<(), _>(()));
}

#[test]
fn open_durations_grow_per_failed_probe_up_to_the_cap_and_reset_on_close() {
    let (cb, clock) = rig(OpenBackoff::exponential(2, ms(350)));
    fail(&cb);
    assert_open_for(&cb, &clock, 100); // a trip from closed: the timeout
    fail(&cb);
    assert_open_for(&cb, &clock, 200); // 1st re-trip
    fail(&cb);
    assert_open_for(&cb, &clock, 350); // 2nd: 400, capped
    fail(&cb);
    assert_open_for(&cb, &clock, 350);
    assert_eq!(cb.call(|| Ok::<_, ()>(())), Ok(()));
    assert_eq!(cb.state(), State::Closed);
    fail(&cb);
    assert_open_for(&cb, &clock, 100); // closed in between: back to the timeout
    fail(&cb);
    assert_open_for(&cb, &clock, 200);
}

#[test]
fn commands_restart_the_count() {
    let (cb, clock) = rig(OpenBackoff::exponential(3, ms(10_000)));
    fail(&cb);
    assert_open_for(&cb, &clock, 100);
    fail(&cb);
    assert_open_for(&cb, &clock, 300);
    cb.reset();
    fail(&cb);
    assert_open_for(&cb, &clock, 100);
    // A forced open with a deadline is not a re-trip: the probe after it is the 1st.
    cb.force_open_for(ms(50));
    clock.advance(ms(51));
    fail(&cb);
    assert_open_for(&cb, &clock, 300);
}

#[test]
fn a_multiplier_of_one_keeps_the_timeout() {
    let (cb, clock) = rig(OpenBackoff::exponential(1, ms(100)));
    for _ in 0..4 {
        fail(&cb);
        assert_open_for(&cb, &clock, 100);
    }
}

#[test]
fn jitter_shortens_within_its_share_and_replays_per_seed() {
    let durations = |seed: u64| -> Vec<u64> {
        let (cb, clock) = rig(OpenBackoff::exponential(2, ms(100_000))
            .jitter(50)
            .seed(seed));
        let mut out = Vec::new();
        fail(&cb);
        for k in 0..8u64 {
            let full = 100 << k;
            // Find the open duration: the last tick still open.
            let mut open = 0;
            while cb.state() == State::Open {
                clock.advance(ms(1));
                open += 1;
            }
            let d = open - 1;
            assert!(
                (full / 2..=full).contains(&d),
                "re-trip {k}: {d} ms outside [{}, {full}]",
                full / 2
            );
            out.push(d);
            fail(&cb); // the probe fails: next re-trip
        }
        out
    };
    let a = durations(1);
    assert_eq!(a, durations(1), "one seed replays exactly");
    assert_ne!(a, durations(2), "another seed jitters differently");
    assert!(
        a.iter().enumerate().any(|(k, &d)| d != 100 << k),
        "jitter 50 % shortened nothing: {a:?}"
    );
}

#[test]
fn builder_rejects_invalid_backoffs_with_typed_errors() {
    let build = |b: OpenBackoff| {
        CircuitBreaker::builder("x")
            .timeout(ms(100))
            .open_backoff(b)
            .build()
            .unwrap_err()
    };
    let field = |e: ConfigError| match e {
        ConfigError::OutOfRange { field, .. } | ConfigError::NotWholeMillis { field, .. } => field,
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(
        field(build(OpenBackoff::exponential(0, ms(500)))),
        "open_backoff.multiplier"
    );
    assert_eq!(
        field(build(OpenBackoff::exponential(2, ms(500)).jitter(101))),
        "open_backoff.jitter"
    );
    assert_eq!(
        field(build(OpenBackoff::exponential(2, ms(99)))),
        "open_backoff.max"
    );
    assert!(matches!(
        build(OpenBackoff::exponential(2, Duration::from_micros(100_500))),
        ConfigError::NotWholeMillis {
            field: "open_backoff.max",
            ..
        }
    ));
    assert!(matches!(
        build(OpenBackoff::exponential(
            2,
            Duration::from_secs(u64::MAX / 1000)
        )),
        ConfigError::OutOfRange {
            field: "open_backoff.max",
            ..
        }
    ));
    // The zero timeout means 60 s, so the cap must cover it.
    assert!(
        CircuitBreaker::builder("x")
            .open_backoff(OpenBackoff::exponential(2, ms(59_999)))
            .build()
            .is_err()
    );
    assert!(
        CircuitBreaker::builder("x")
            .open_backoff(OpenBackoff::exponential(2, ms(60_000)).jitter(100))
            .build()
            .is_ok()
    );
}
