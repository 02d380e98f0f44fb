//! Panicking hooks: a panic in the state-change callback or in an observer never
//! aborts the process, never hides a transition from another hook, never stops a
//! later delivery, and never costs a half-open slot or a count. The hook's panic
//! reaches the caller once the breaker's bookkeeping is done (unless the caller is
//! already unwinding: then the caller's own panic carries on).
#![cfg(not(loom))]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use warden_breaker::{CircuitBreaker, ManualClock, Observer, Rejected, State};

type Changes = Arc<Mutex<Vec<(State, State)>>>;

/// An observer that records transitions and panics in the events that are armed.
#[derive(Debug, Default)]
struct Hook {
    changes: Changes,
    panic_on_change: AtomicBool,
    panic_on_admitted: AtomicBool,
    panic_on_failure: AtomicBool,
    panic_on_dropped: AtomicBool,
}

fn armed(flag: &AtomicBool, what: &str) {
    // Relaxed: the flag is set and read on the test's one thread.
    if flag.load(Ordering::Relaxed) {
        panic!("observer panics in {what}");
    }
}

impl Observer for Hook {
    fn on_admitted(&self, _: State) {
        armed(&self.panic_on_admitted, "on_admitted");
    }
    fn on_failure(&self) {
        armed(&self.panic_on_failure, "on_failure");
    }
    fn on_dropped(&self) {
        armed(&self.panic_on_dropped, "on_dropped");
    }
    fn on_state_change(&self, _: &str, from: State, to: State) {
        self.changes.lock().unwrap().push((from, to));
        armed(&self.panic_on_change, "on_state_change");
    }
}

fn set(flag: &AtomicBool, on: bool) {
    flag.store(on, Ordering::Relaxed);
}

struct Rig {
    cb: Arc<CircuitBreaker>,
    clock: ManualClock,
    /// Observed by the first observer (which may panic) and the second (which never does).
    first: Arc<Hook>,
    second: Arc<Hook>,
    callback: Changes,
    callback_panics: Arc<AtomicBool>,
}

/// Trips at the first failure, 10 ms timeout, one probe; a callback and two
/// observers record every transition.
fn rig() -> Rig {
    let clock = ManualClock::new();
    let first = Arc::new(Hook::default());
    let second = Arc::new(Hook::default());
    let callback = Changes::default();
    let callback_panics = Arc::new(AtomicBool::new(false));
    let (c, p) = (Arc::clone(&callback), Arc::clone(&callback_panics));
    let cb = CircuitBreaker::builder("hooks")
        .timeout(Duration::from_millis(10))
        .ready_to_trip(|c| c.consecutive_failures >= 1)
        .clock(clock.clone())
        .on_state_change(move |_, from, to| {
            c.lock().unwrap().push((from, to));
            armed(&p, "on_state_change callback");
        })
        .observer(Arc::clone(&first))
        .observer(Arc::clone(&second))
        .build()
        .unwrap();
    Rig {
        cb: Arc::new(cb),
        clock,
        first,
        second,
        callback,
        callback_panics,
    }
}

fn changes(c: &Changes) -> Vec<(State, State)> {
    c.lock().unwrap().clone()
}

fn message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

#[test]
fn a_panicking_callback_during_a_panicking_call_does_not_abort() {
    // Before: the permit's Drop recorded the failure that tripped the breaker, the
    // callback panicked, and re-raising it inside a Drop that runs while unwinding
    // aborted the whole process (this test binary).
    let r = rig();
    set(&r.callback_panics, true);
    let caught = catch_unwind(AssertUnwindSafe(|| {
        r.cb.call(|| -> Result<(), ()> { panic!("the guarded call panics") })
    }))
    .unwrap_err();
    assert_eq!(
        message(&*caught),
        "the guarded call panics",
        "the call's panic carries on"
    );
    assert_eq!(r.cb.state(), State::Open);
    let trip = vec![(State::Closed, State::Open)];
    assert_eq!(changes(&r.callback), trip);
    assert_eq!(changes(&r.first.changes), trip);
    assert_eq!(changes(&r.second.changes), trip);
}

#[test]
fn a_panicking_callback_hides_the_transition_from_no_observer_and_stops_no_later_one() {
    let r = rig();
    set(&r.callback_panics, true);
    let caught = catch_unwind(AssertUnwindSafe(|| {
        let _ = r.cb.call(|| Err::<(), _>(()));
    }))
    .unwrap_err();
    assert_eq!(
        message(&*caught),
        "observer panics in on_state_change callback"
    );
    assert_eq!(r.cb.state(), State::Open);
    let trip = vec![(State::Closed, State::Open)];
    assert_eq!(changes(&r.first.changes), trip, "the observers heard of it");
    assert_eq!(changes(&r.second.changes), trip);

    // The breaker is not stuck: later transitions are delivered as usual.
    set(&r.callback_panics, false);
    r.clock.advance(Duration::from_millis(11));
    assert_eq!(r.cb.call(|| Ok::<_, ()>(())), Ok(()));
    let all = vec![
        (State::Closed, State::Open),
        (State::Open, State::HalfOpen),
        (State::HalfOpen, State::Closed),
    ];
    assert_eq!(changes(&r.callback), all);
    assert_eq!(changes(&r.second.changes), all);
    assert_eq!(r.cb.state(), State::Closed);
}

#[test]
fn a_panicking_observer_hides_the_transition_from_no_other_observer() {
    let r = rig();
    set(&r.first.panic_on_change, true);
    let caught = catch_unwind(AssertUnwindSafe(|| r.cb.force_open())).unwrap_err();
    assert_eq!(message(&*caught), "observer panics in on_state_change");
    let open = vec![(State::Closed, State::Open)];
    assert_eq!(changes(&r.callback), open);
    assert_eq!(changes(&r.second.changes), open);
    set(&r.first.panic_on_change, false);
    r.cb.reset();
    assert_eq!(
        changes(&r.second.changes).last(),
        Some(&(State::Open, State::Closed))
    );
}

/// Opens the breaker and lets its timeout pass, so the next admission is the probe.
fn half_open(r: &Rig) {
    let _ = r.cb.call(|| Err::<(), _>(()));
    r.clock.advance(Duration::from_millis(11));
    assert_eq!(r.cb.state(), State::HalfOpen);
}

#[test]
fn a_panicking_on_dropped_costs_no_half_open_slot() {
    // Before: the observer ran before the slot was released, so its panic left the
    // one probe slot held for good (every later call: TooManyRequests).
    let r = rig();
    half_open(&r);
    let probe = r.cb.try_acquire().unwrap();
    set(&r.first.panic_on_dropped, true);
    catch_unwind(AssertUnwindSafe(|| drop(probe))).unwrap_err();
    set(&r.first.panic_on_dropped, false);
    let again = r.cb.try_acquire().expect("the slot was given back");
    again.success();
    assert_eq!(r.cb.state(), State::Closed);
}

#[test]
fn a_panicking_on_admitted_costs_no_half_open_slot() {
    let r = rig();
    half_open(&r);
    set(&r.first.panic_on_admitted, true);
    let caught = catch_unwind(AssertUnwindSafe(|| r.cb.try_acquire().map(drop))).unwrap_err();
    assert_eq!(message(&*caught), "observer panics in on_admitted");
    set(&r.first.panic_on_admitted, false);
    let probe = r.cb.try_acquire().expect("the slot was given back");
    assert_eq!(r.cb.try_acquire().unwrap_err(), Rejected::TooManyRequests);
    probe.success();
    assert_eq!(r.cb.state(), State::Closed);
}

#[test]
fn a_panicking_on_failure_costs_no_count_and_still_trips() {
    // Before: the observer ran first and its panic skipped the recording.
    let r = rig();
    set(&r.first.panic_on_failure, true);
    let permit = r.cb.try_acquire().unwrap();
    catch_unwind(AssertUnwindSafe(|| permit.failure())).unwrap_err();
    assert_eq!(
        r.cb.state(),
        State::Open,
        "the failure was counted and tripped"
    );
    assert_eq!(
        changes(&r.second.changes),
        vec![(State::Closed, State::Open)]
    );
}

#[test]
fn a_panicking_observer_in_a_panicking_call_does_not_abort() {
    let r = rig();
    set(&r.first.panic_on_failure, true);
    set(&r.first.panic_on_change, true);
    set(&r.callback_panics, true);
    let caught = catch_unwind(AssertUnwindSafe(|| {
        let permit = r.cb.try_acquire().unwrap();
        let _hold = permit;
        panic!("the guarded call panics");
    }))
    .unwrap_err();
    assert_eq!(message(&*caught), "the guarded call panics");
    assert_eq!(r.cb.state(), State::Open);
    assert_eq!(
        changes(&r.second.changes),
        vec![(State::Closed, State::Open)]
    );
}

#[test]
fn a_panicking_trip_rule_in_a_panicking_call_does_not_abort() {
    // Before: the permit's Drop recorded the failure, the breaker asked
    // `ready_to_trip`, which panicked inside a Drop running while unwinding: the
    // process (this test binary) aborted.
    let clock = ManualClock::new();
    let cb = CircuitBreaker::builder("trip rule")
        .clock(clock.clone())
        .ready_to_trip(|_| panic!("the trip rule panics"))
        .build()
        .unwrap();
    let caught = catch_unwind(AssertUnwindSafe(|| {
        let _permit = cb.try_acquire().unwrap();
        panic!("the guarded call panics");
    }))
    .unwrap_err();
    assert_eq!(
        message(&*caught),
        "the guarded call panics",
        "the call's panic carries on"
    );
    // The failure is counted; the rule gave no answer, so the breaker stays closed.
    assert_eq!(cb.counts().total_failures, 1);
    assert_eq!(cb.state(), State::Closed);
    // Outside a panic the rule's panic still reaches the caller, after the count.
    let caught =
        catch_unwind(AssertUnwindSafe(|| cb.try_acquire().unwrap().failure())).unwrap_err();
    assert_eq!(message(&*caught), "the trip rule panics");
    assert_eq!(cb.counts().total_failures, 2);
    assert_eq!(cb.state(), State::Closed);
    assert!(cb.try_acquire().is_ok(), "nothing is left pending");
}
