//! Manual control: force open (with and without a deadline), force closed,
//! disable, reset, on a `ManualClock`, including commands issued from inside a
//! state-change callback.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use warden_breaker::{
    CircuitBreaker, Counts, Error, MAX_FORCED_DEADLINE, ManualClock, Mode, Observer, Rejected,
    State,
};

type Changes = Arc<Mutex<Vec<(State, State)>>>;

#[derive(Debug, Default)]
struct Seen(Changes);

impl Observer for Seen {
    fn on_state_change(&self, _: &str, from: State, to: State) {
        self.0.lock().unwrap().push((from, to));
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Trip at the first failure, 10 ms timeout; the callback and an observer record
/// every change (both must agree).
fn rig() -> (CircuitBreaker, ManualClock, Changes) {
    let clock = ManualClock::new();
    let changes = Changes::default();
    let observed = Changes::default();
    let c = Arc::clone(&changes);
    let cb = CircuitBreaker::builder("manual")
        .timeout(ms(10))
        .ready_to_trip(|c| c.consecutive_failures >= 1)
        .clock(clock.clone())
        .on_state_change(move |_, from, to| c.lock().unwrap().push((from, to)))
        .observer(Seen(Arc::clone(&observed)))
        .build()
        .unwrap();
    (cb, clock, changes)
}

fn fail(cb: &CircuitBreaker) {
    let _ = cb.call(|| Err::<(), _>(()));
}

#[test]
fn force_open_rejects_until_reset_and_makes_outstanding_permits_stale() {
    let (cb, clock, changes) = rig();
    let before = cb.try_acquire().unwrap();
    cb.force_open();
    assert_eq!((cb.state(), cb.mode()), (State::Open, Mode::ForcedOpen));
    assert_eq!(cb.try_acquire().unwrap_err(), Rejected::Open);
    before.success(); // admitted before the command: ignored
    assert_eq!(cb.counts(), Counts::default());
    clock.advance(Duration::from_secs(3600));
    assert_eq!(cb.state(), State::Open, "no deadline: never half-open");
    assert_eq!(cb.mode(), Mode::ForcedOpen);
    // Forcing open again changes no state: no callback.
    cb.force_open();
    cb.reset();
    assert_eq!((cb.state(), cb.mode()), (State::Closed, Mode::Normal));
    assert_eq!(
        *changes.lock().unwrap(),
        [(State::Closed, State::Open), (State::Open, State::Closed)]
    );
    assert_eq!(cb.call(|| Ok::<_, ()>(1)), Ok(1));
    assert_eq!(cb.counts().requests, 1);
}

#[test]
fn force_open_for_turns_half_open_strictly_after_the_deadline() {
    let (cb, clock, changes) = rig();
    clock.advance(ms(5));
    cb.force_open_for(Duration::from_micros(29_500)); // rounds up to 30 ms
    clock.advance(ms(30));
    assert!(matches!(
        cb.call(|| Ok::<_, ()>(())),
        Err(Error::Rejected(Rejected::Open))
    ));
    assert_eq!(cb.mode(), Mode::ForcedOpen);
    clock.advance(ms(1));
    // The first look after the deadline turns it half-open, like an open timeout.
    let probe = cb.try_acquire().unwrap();
    assert_eq!(probe.admitted_in(), State::HalfOpen);
    assert_eq!(cb.mode(), Mode::Normal);
    probe.success();
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(
        *changes.lock().unwrap(),
        [
            (State::Closed, State::Open),
            (State::Open, State::HalfOpen),
            (State::HalfOpen, State::Closed)
        ]
    );
}

#[test]
fn a_deadline_past_the_field_means_until_the_next_command() {
    let (cb, clock, _) = rig();
    cb.force_open_for(Duration::from_millis(MAX_FORCED_DEADLINE + 1));
    assert_eq!(cb.mode(), Mode::ForcedOpen);
    clock.advance(Duration::from_millis(MAX_FORCED_DEADLINE + 10));
    assert_eq!(cb.state(), State::Open);
    // The last tick the field can name still works as a deadline.
    let (cb, clock, _) = rig();
    cb.force_open_for(Duration::from_millis(MAX_FORCED_DEADLINE));
    clock.advance(Duration::from_millis(MAX_FORCED_DEADLINE + 1));
    assert_eq!(cb.state(), State::HalfOpen);
}

#[test]
fn force_closed_admits_everything_counts_nothing_and_never_trips() {
    let (cb, clock, changes) = rig();
    fail(&cb);
    assert_eq!(cb.state(), State::Open);
    cb.force_closed();
    assert_eq!((cb.state(), cb.mode()), (State::Closed, Mode::ForcedClosed));
    for _ in 0..20 {
        fail(&cb);
    }
    cb.try_acquire().unwrap().ignore();
    assert_eq!(cb.counts(), Counts::default());
    clock.advance(ms(100));
    assert_eq!((cb.state(), cb.mode()), (State::Closed, Mode::ForcedClosed));
    assert_eq!(
        *changes.lock().unwrap(),
        [(State::Closed, State::Open), (State::Open, State::Closed)]
    );
}

#[test]
fn disable_counts_like_closed_but_never_trips_or_resets_its_interval() {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::builder("disabled")
        .interval(ms(5))
        .ready_to_trip(|c| c.consecutive_failures >= 1)
        .clock(clock.clone())
        .build()
        .unwrap();
    let _ = cb.call(|| Ok::<_, ()>(()));
    cb.disable();
    assert_eq!(
        cb.counts(),
        Counts::default(),
        "a command starts a generation"
    );
    for _ in 0..3 {
        fail(&cb);
    }
    let _ = cb.call(|| Ok::<_, ()>(()));
    cb.try_acquire().unwrap().ignore();
    drop(cb.try_acquire().unwrap());
    clock.advance(ms(50)); // many intervals: counts are kept
    assert_eq!((cb.state(), cb.mode()), (State::Closed, Mode::Disabled));
    assert_eq!(
        cb.counts(),
        Counts {
            requests: 6,
            total_successes: 1,
            total_failures: 3,
            total_exclusions: 1,
            consecutive_successes: 1,
            consecutive_failures: 0,
        }
    );
    // Back to normal: the interval applies again and a failure trips.
    cb.reset();
    assert_eq!(cb.counts(), Counts::default());
    fail(&cb);
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn reset_while_closed_starts_a_generation_without_a_callback() {
    let (cb, _clock, changes) = rig();
    let _ = cb.call(|| Ok::<_, ()>(()));
    let stale = cb.try_acquire().unwrap();
    cb.reset();
    stale.failure(); // from before the reset: would trip, is ignored
    assert_eq!(
        (cb.state(), cb.counts()),
        (State::Closed, Counts::default())
    );
    assert!(changes.lock().unwrap().is_empty());
}

#[test]
fn reset_from_half_open_closes() {
    let (cb, clock, changes) = rig();
    fail(&cb);
    clock.advance(ms(11));
    let probe = cb.try_acquire().unwrap();
    cb.reset();
    probe.failure(); // a probe of the old half-open generation: ignored
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(
        *changes.lock().unwrap(),
        [
            (State::Closed, State::Open),
            (State::Open, State::HalfOpen),
            (State::HalfOpen, State::Closed)
        ]
    );
}

/// A breaker whose callback runs `on(&cb, from, to)`: commands from inside a
/// callback must neither deadlock nor break the chain of transitions.
fn reentrant(
    on: impl Fn(&CircuitBreaker, State, State) + Send + Sync + 'static,
) -> (Arc<CircuitBreaker>, Changes) {
    let changes = Changes::default();
    let c = Arc::clone(&changes);
    let cb = Arc::new_cyclic(|weak: &Weak<CircuitBreaker>| {
        let weak = weak.clone();
        CircuitBreaker::builder("reentrant")
            .ready_to_trip(|c| c.consecutive_failures >= 1)
            .clock(ManualClock::new())
            .on_state_change(move |_, from, to| {
                c.lock().unwrap().push((from, to));
                if let Some(cb) = weak.upgrade() {
                    on(&cb, from, to);
                }
            })
            .build()
            .unwrap()
    });
    (cb, changes)
}

#[test]
fn a_command_from_a_callback_is_delivered_after_it() {
    let (cb, changes) = reentrant(|cb, _, to| {
        if to == State::Open {
            cb.force_closed();
            // Takes effect at once, before the callback returns.
            assert_eq!(cb.mode(), Mode::ForcedClosed);
        }
    });
    fail(&cb);
    assert_eq!(
        *changes.lock().unwrap(),
        [(State::Closed, State::Open), (State::Open, State::Closed)]
    );
    assert_eq!((cb.state(), cb.mode()), (State::Closed, Mode::ForcedClosed));
}

#[test]
fn commands_during_one_callback_are_delivered_as_their_net_change() {
    let (cb, changes) = reentrant(|cb, from, to| {
        if (from, to) == (State::Closed, State::Open) {
            cb.force_closed(); // Open -> Closed ...
            cb.force_open(); // ... -> Open: nothing changed, as far as states go
        }
    });
    fail(&cb);
    assert_eq!(*changes.lock().unwrap(), [(State::Closed, State::Open)]);
    assert_eq!((cb.state(), cb.mode()), (State::Open, Mode::ForcedOpen));
    let once = std::sync::atomic::AtomicBool::new(true);
    let (cb, changes) = reentrant(move |cb, from, to| {
        let first = once.swap(false, std::sync::atomic::Ordering::Relaxed);
        if first && (from, to) == (State::Closed, State::Open) {
            cb.reset();
            // A trip requested on the reset's generation while this callback runs is
            // delivered after the catch-up.
            let _ = cb.call(|| Err::<(), _>(()));
        }
    });
    fail(&cb);
    assert_eq!(
        *changes.lock().unwrap(),
        [
            (State::Closed, State::Open),
            (State::Open, State::Closed),
            (State::Closed, State::Open)
        ]
    );
    assert_eq!((cb.state(), cb.mode()), (State::Open, Mode::Normal));
}

#[test]
fn mode_is_displayed_in_kebab_case() {
    assert_eq!(Mode::ForcedOpen.to_string(), "forced-open");
    assert_eq!(Mode::Normal.to_string(), "normal");
}
