//! Half-open max wait: a half-open generation whose probes never report re-opens
//! after the bound, on a `ManualClock`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use warden_breaker::{CircuitBreaker, ConfigError, ManualClock, OpenBackoff, Rejected, State};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

type Changes = Arc<Mutex<Vec<(State, State)>>>;

/// Trip at the first failure, 10 ms timeout, 50 ms max wait, `max_requests = 1`.
fn rig(backoff: Option<OpenBackoff>) -> (CircuitBreaker, ManualClock, Changes) {
    let clock = ManualClock::new();
    let changes = Changes::default();
    let c = Arc::clone(&changes);
    let mut b = CircuitBreaker::builder("max-wait")
        .timeout(ms(10))
        .half_open_max_wait(ms(50))
        .ready_to_trip(|c| c.consecutive_failures >= 1)
        .clock(clock.clone())
        .on_state_change(move |_, from, to| c.lock().unwrap().push((from, to)));
    if let Some(backoff) = backoff {
        b = b.open_backoff(backoff);
    }
    (b.build().unwrap(), clock, changes)
}

fn trip_and_expire(cb: &CircuitBreaker, clock: &ManualClock) {
    let _ = cb.call(|| Err::<(), _>(()));
    clock.advance(ms(11));
}

#[test]
fn a_hung_probe_reopens_strictly_after_the_max_wait() {
    let (cb, clock, changes) = rig(None);
    trip_and_expire(&cb, &clock);
    let hung = cb.try_acquire().unwrap(); // half-open from tick 11
    clock.advance(ms(50)); // tick 61: the last tick of the bound
    assert_eq!(cb.try_acquire().unwrap_err(), Rejected::TooManyRequests);
    assert_eq!(cb.state(), State::HalfOpen);
    clock.advance(ms(1));
    assert_eq!(cb.try_acquire().unwrap_err(), Rejected::Open, "re-opened");
    hung.success(); // of the expired generation: ignored
    assert_eq!(cb.state(), State::Open);
    // Another open period, then fresh probes.
    clock.advance(ms(11));
    cb.try_acquire().unwrap().success();
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(
        *changes.lock().unwrap(),
        [
            (State::Closed, State::Open),
            (State::Open, State::HalfOpen),
            (State::HalfOpen, State::Open),
            (State::Open, State::HalfOpen),
            (State::HalfOpen, State::Closed)
        ]
    );
}

#[test]
fn a_late_outcome_is_what_notices_the_expiry() {
    let (cb, clock, changes) = rig(None);
    trip_and_expire(&cb, &clock);
    let late = cb.try_acquire().unwrap();
    clock.advance(ms(51));
    // Nobody looked since the bound passed: the outcome itself re-opens first, and
    // is then stale (the mutex reference and gobreaker evaluate time first too).
    late.success();
    assert_eq!(cb.state(), State::Open);
    assert_eq!(
        changes.lock().unwrap().last(),
        Some(&(State::HalfOpen, State::Open))
    );
}

#[test]
fn a_reopen_by_max_wait_is_a_retrip_for_the_backoff() {
    let (cb, clock, _) = rig(Some(OpenBackoff::exponential(4, ms(1000))));
    trip_and_expire(&cb, &clock);
    let _hung = cb.try_acquire().unwrap();
    clock.advance(ms(51));
    assert_eq!(cb.state(), State::Open); // 1st re-trip: open 40 ms
    clock.advance(ms(40));
    assert_eq!(cb.state(), State::Open);
    clock.advance(ms(1));
    assert_eq!(cb.state(), State::HalfOpen);
}

#[test]
fn without_a_max_wait_half_open_lasts_until_probes_report() {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::builder("no-max-wait")
        .timeout(ms(10))
        .ready_to_trip(|c| c.consecutive_failures >= 1)
        .clock(clock.clone())
        .build()
        .unwrap();
    trip_and_expire(&cb, &clock);
    let hung = cb.try_acquire().unwrap();
    clock.advance(Duration::from_secs(24 * 3600));
    assert_eq!(cb.state(), State::HalfOpen);
    hung.success();
    assert_eq!(cb.state(), State::Closed);
}

#[test]
fn a_forced_open_deadline_leads_into_a_bounded_half_open() {
    let (cb, clock, _) = rig(None);
    cb.force_open_for(ms(5));
    clock.advance(ms(6));
    let _hung = cb.try_acquire().unwrap();
    clock.advance(ms(51));
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn builder_validates_the_max_wait() {
    let err = |d: Duration| {
        CircuitBreaker::builder("x")
            .half_open_max_wait(d)
            .build()
            .unwrap_err()
    };
    assert!(matches!(
        err(Duration::from_micros(1500)),
        ConfigError::NotWholeMillis {
            field: "half_open_max_wait",
            ..
        }
    ));
    assert!(matches!(
        err(Duration::from_secs(u64::MAX / 1000)),
        ConfigError::OutOfRange {
            field: "half_open_max_wait",
            ..
        }
    ));
    let cb = CircuitBreaker::builder("x")
        .half_open_max_wait(ms(250))
        .build()
        .unwrap();
    assert_eq!(cb.settings().half_open_max_wait_ticks(), 250);
}
