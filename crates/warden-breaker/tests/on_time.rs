//! Transitions on time (`CircuitBreaker::schedule_transitions`) against real time:
//! with no call at all, the ticker turns an open breaker half-open at its timeout,
//! a forced-open one at the end of its duration, and re-opens a half-open one at
//! its max wait, delivering the callbacks on the `warden-ticker` thread; it keeps
//! no dropped breaker alive, survives a panicking callback, and stops once nothing
//! needs it.
//!
//! Real time on purpose: the ticker is a real thread that runs only for the default
//! clock (a ManualClock never starts it), and it is what is under test. The
//! agenda's logic is tested with a manual clock in `breaker/schedule.rs`. One test
//! function, so that nothing else in this process starts or stops the ticker.
//! Bounded: about 0.5 s of waiting on an idle machine, at most 5 s per step.
#![cfg(target_os = "linux")]

use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use warden_breaker::{CircuitBreaker, Mode, State};

/// How late after its deadline a transition may arrive: one tick plus the
/// scheduling delay, which on this machine (2 cores shared by several busy
/// sessions) reached 500 ms once. The printed figures are typically 1-5 ms; a
/// look that never came would time out at [`PATIENCE`] (nothing here calls the
/// breakers, so nothing else would move them).
const LATE: Duration = Duration::from_secs(2);

/// At most this long for anything to happen.
const PATIENCE: Duration = Duration::from_secs(5);

type Seen = (State, State, Instant, bool);

/// A scheduled breaker whose callbacks report each change, when, and whether on
/// the ticker thread.
fn scheduled(b: warden_breaker::Builder) -> (Arc<CircuitBreaker>, Receiver<Seen>) {
    let (tx, rx) = channel();
    let cb = Arc::new(
        b.ready_to_trip(|c| c.consecutive_failures >= 1)
            .on_state_change(move |_, from, to| {
                let ticker = std::thread::current().name() == Some("warden-ticker");
                let _ = tx.send((from, to, Instant::now(), ticker));
            })
            .build()
            .expect("valid settings"),
    );
    cb.schedule_transitions();
    (cb, rx)
}

/// The next change, which must be `from -> to`, made by the ticker, not before
/// `deadline` and at most [`LATE`] after it; returns when it came.
fn expect_on_time(rx: &Receiver<Seen>, from: State, to: State, deadline: Instant) -> Instant {
    let (f, t, at, ticker) = rx.recv_timeout(PATIENCE).expect("a transition in time");
    assert_eq!((f, t), (from, to));
    assert!(ticker, "{from:?} -> {to:?} was not delivered by the ticker");
    assert!(at >= deadline, "{from:?} -> {to:?} before its deadline");
    let late = at - deadline;
    println!(
        "{from:?} -> {to:?}: {:.1} ms after the deadline",
        late.as_secs_f64() * 1e3
    );
    assert!(late <= LATE, "{from:?} -> {to:?} {late:?} late");
    at
}

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

#[test]
fn the_ticker_moves_scheduled_breakers_on_time() {
    let timeout = Duration::from_millis(50);
    let max_wait = Duration::from_millis(60);

    // Open -> half-open at the timeout, then half-open -> open at the max wait.
    let (cb, rx) = scheduled(
        CircuitBreaker::builder("timeout")
            .timeout(timeout)
            .half_open_max_wait(max_wait),
    );
    let before_trip = Instant::now();
    let _ = cb.call(|| Err::<(), _>("down"));
    let (_, to, _, _) = rx.recv_timeout(PATIENCE).expect("the trip");
    assert_eq!(to, State::Open);
    expect_on_time(&rx, State::Open, State::HalfOpen, before_trip + timeout);
    // Its max wait counts from the tick it turned half-open, itself after the timeout.
    expect_on_time(
        &rx,
        State::HalfOpen,
        State::Open,
        before_trip + timeout + max_wait,
    );
    // Dropped while it goes on cycling (open 50 ms, half-open 60 ms) on its own.
    drop(cb);

    // Forced open for a while: half-open at the end of it.
    let (forced, rx) = scheduled(CircuitBreaker::builder("forced"));
    let before = Instant::now();
    forced.force_open_for(timeout);
    assert_eq!(rx.recv_timeout(PATIENCE).expect("forced").1, State::Open);
    expect_on_time(&rx, State::Open, State::HalfOpen, before + timeout);
    assert_eq!(
        (forced.state(), forced.mode()),
        (State::HalfOpen, Mode::Normal)
    );

    // A callback that panics on the ticker thread: caught there (the transition
    // happened), and the ticker goes on moving the other breakers.
    let panicky = Arc::new(
        CircuitBreaker::builder("panicky")
            .on_state_change(|_, _, to| assert_ne!(to, State::HalfOpen, "a callback that panics"))
            .build()
            .expect("valid settings"),
    );
    panicky.schedule_transitions();
    let (other, rx) = scheduled(CircuitBreaker::builder("other"));
    let before = Instant::now();
    panicky.force_open_for(Duration::from_millis(20));
    other.force_open_for(Duration::from_millis(40));
    assert_eq!(rx.recv_timeout(PATIENCE).expect("forced").1, State::Open);
    expect_on_time(
        &rx,
        State::Open,
        State::HalfOpen,
        before + Duration::from_millis(40),
    );
    assert_eq!(
        panicky.totals().all_transitions(),
        2,
        "its half-open happened"
    );

    // A breaker dropped while open is not kept alive: its callback (and what it
    // holds) goes with it, the agenda forgets it long before its deadline, and the
    // ticker stops once no breaker needs it.
    drop((forced, panicky, other));
    let held = Arc::new(());
    let inside = Arc::clone(&held);
    let long = Arc::new(
        CircuitBreaker::builder("long")
            .timeout(Duration::from_secs(3600))
            .ready_to_trip(|c| c.consecutive_failures >= 1)
            .on_state_change(move |_, _, _| {
                let _ = &inside;
            })
            .build()
            .expect("valid settings"),
    );
    long.schedule_transitions();
    let _ = long.call(|| Err::<(), _>("down"));
    assert_eq!(long.state(), State::Open);
    // The thread names itself once it runs: wait for it (bounded).
    wait_until("the ticker runs for the open breaker", || {
        ticker_threads() >= 1
    });
    drop(long);
    assert_eq!(
        Arc::strong_count(&held),
        1,
        "the ticker kept the breaker alive"
    );
    wait_until(
        "the ticker stops once the dropped breaker is forgotten",
        || ticker_threads() == 0,
    );
}

/// Polls `done` every 5 ms, for at most [`PATIENCE`].
fn wait_until(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "{what}: not after {PATIENCE:?}");
        // Real time: the ticker thread under test runs only on the default clock
        // (see the module's docs), so waiting for it means waiting on the clock.
        std::thread::sleep(Duration::from_millis(5));
    }
}
