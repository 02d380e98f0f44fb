//! Permits that carry the lap of their generation, plain-closed words that hold
//! their own lap, and closed words whose payload is an expiry flagged by bit 39,
//! on paths `generation_wrap.rs` does not take.
//!
//! An untimed permit is current exactly in the full generation that admitted it:
//! a permit admitted while the callbacks of a transition into closed still run
//! (its ticket is the word with `PENDING`), reconfigurations that add or remove
//! the counting interval around a held permit (the closed word turns from plain
//! to interval and back in the same generation), half-open probes given back
//! (dropped, ignored) a lap later, observers, and the time and count windows'
//! record paths.
//!
//! `interval_breaker_admits_past_2_pow_39_ms`: a closed word's interval end is
//! kept in 39 bits and saturates at 2^39 - 1 ms. An end saturated there must
//! never pass; if it does, an admission past that uptime finds every new
//! interval ended at once and loops, starting generation after generation,
//! without returning.
#![cfg(not(loom))]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::Duration;

use warden_breaker::{
    CircuitBreaker, CountWindow, Counts, ManualClock, Mode, Observer, OwnedPermit, State,
    TimeWindow,
};

/// Generations the state word's 20-bit field tells apart.
const LAP: u32 = 1 << 20;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The generation the breaker's `Debug` output shows (its low 20 bits).
fn generation(cb: &CircuitBreaker) -> u64 {
    let text = format!("{cb:?}");
    let (_, rest) = text
        .split_once("generation: ")
        .expect("Debug shows the generation");
    rest.split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a number")
}

/// `n` resets, checked to move the 20-bit field by `n` modulo 2^20.
fn resets(cb: &CircuitBreaker, n: u32) {
    let from = generation(cb);
    for _ in 0..n {
        cb.reset();
    }
    let mask = u64::from(LAP) - 1;
    assert_eq!(
        generation(cb).wrapping_sub(from) & mask,
        u64::from(n) & mask,
        "{cb:?}"
    );
}

fn trips_at(n: u32, clock: &ManualClock) -> warden_breaker::Builder {
    rule(n).clock(clock.clone())
}

/// [`trips_at`] without the clock: what `reconfigure` takes (the clock is fixed).
fn rule(n: u32) -> warden_breaker::Builder {
    CircuitBreaker::builder("review")
        .ready_to_trip(move |c| c.consecutive_failures >= n)
        .timeout(ms(1))
}

// ---------------------------------------------------------------------------
// Reconfiguration: interval on and off around held permits.
// ---------------------------------------------------------------------------

#[test]
fn plain_permit_counts_after_an_interval_is_added() {
    let clock = ManualClock::new();
    let cb = trips_at(2, &clock).build().unwrap();
    let held = cb.try_acquire().unwrap(); // plain-closed ticket (word with its lap)
    let _ = cb.call(|| Err::<(), _>(()));
    cb.reconfigure(rule(2).interval(Duration::from_secs(60)))
        .unwrap();
    assert_eq!(cb.counts().consecutive_failures, 1, "counts kept");
    held.failure(); // same generation, now an interval word: counted, trips
    assert_eq!(cb.state(), State::Open, "the held failure was not counted");
}

#[test]
fn interval_permit_counts_after_the_interval_is_removed() {
    let clock = ManualClock::new();
    let cb = trips_at(2, &clock)
        .interval(Duration::from_secs(60))
        .build()
        .unwrap();
    let held = cb.try_acquire().unwrap(); // interval ticket (lap from the generation word)
    let _ = cb.call(|| Err::<(), _>(()));
    cb.reconfigure(rule(2)).unwrap();
    held.failure();
    assert_eq!(cb.state(), State::Open, "the held failure was not counted");
}

#[test]
fn interval_permit_success_counts_on_the_plain_fast_path_after_removal() {
    let clock = ManualClock::new();
    let cb = trips_at(5, &clock)
        .interval(Duration::from_secs(60))
        .build()
        .unwrap();
    let held = cb.try_acquire().unwrap();
    cb.reconfigure(rule(5)).unwrap();
    held.success(); // word == ticket: the one-comparison path
    assert_eq!(cb.counts().total_successes, 1);
    assert_eq!(cb.counts().requests, 1);
}

#[test]
fn plain_permit_a_lap_old_is_stale_after_an_interval_is_added() {
    let clock = ManualClock::new();
    let cb = trips_at(1, &clock).build().unwrap();
    let held = cb.try_acquire().unwrap();
    resets(&cb, LAP);
    // Same 20 bits as the permit, a lap later; the word stops holding its lap.
    cb.reconfigure(rule(1).interval(Duration::from_secs(60)))
        .unwrap();
    held.failure();
    assert_eq!(cb.state(), State::Closed, "a stale failure tripped");
    assert_eq!(cb.counts(), Counts::default());
}

#[test]
fn interval_permit_a_lap_old_is_stale_after_the_interval_is_removed() {
    let clock = ManualClock::new();
    let cb = trips_at(1, &clock)
        .interval(Duration::from_secs(60))
        .build()
        .unwrap();
    let held = cb.try_acquire().unwrap();
    resets(&cb, LAP);
    cb.reconfigure(rule(1)).unwrap();
    held.failure();
    assert_eq!(cb.state(), State::Closed, "a stale failure tripped");
    assert_eq!(cb.counts(), Counts::default());
    let held = cb.try_acquire().unwrap();
    resets(&cb, LAP);
    cb.reconfigure(rule(1).interval(Duration::from_secs(60)))
        .unwrap();
    cb.reconfigure(rule(1)).unwrap();
    held.success();
    assert_eq!(cb.counts(), Counts::default(), "a stale success counted");
}

// ---------------------------------------------------------------------------
// A plain ticket admitted while the callbacks of the transition into closed ran
// (the ticket is the word with PENDING).
// ---------------------------------------------------------------------------

/// A breaker that trips at the first failure, whose HalfOpen -> Closed callback
/// admits one call (the word still has PENDING) and keeps its permit.
fn pending_admission() -> (
    Arc<CircuitBreaker>,
    ManualClock,
    Arc<Mutex<Option<OwnedPermit>>>,
) {
    let clock = ManualClock::new();
    let slot: Arc<OnceLock<std::sync::Weak<CircuitBreaker>>> = Arc::new(OnceLock::new());
    let kept: Arc<Mutex<Option<OwnedPermit>>> = Arc::new(Mutex::new(None));
    let (s, k) = (Arc::clone(&slot), Arc::clone(&kept));
    let cb = Arc::new(
        trips_at(1, &clock)
            .on_state_change(move |_, from, to| {
                if (from, to) == (State::HalfOpen, State::Closed) {
                    let cb = s.get().and_then(std::sync::Weak::upgrade).expect("set");
                    let mut k = k.lock().unwrap();
                    if k.is_none() {
                        *k = Some(cb.try_acquire_owned().expect("closed admits"));
                    }
                }
            })
            .build()
            .unwrap(),
    );
    slot.set(Arc::downgrade(&cb)).unwrap();
    let _ = cb.call(|| Err::<(), _>(()));
    clock.advance(ms(2));
    cb.try_acquire().expect("a probe").success();
    assert_eq!(cb.state(), State::Closed);
    assert!(kept.lock().unwrap().is_some(), "the callback admitted one");
    (cb, clock, kept)
}

#[test]
fn pending_plain_permit_counts_in_its_generation() {
    let (cb, _clock, kept) = pending_admission();
    let held = kept.lock().unwrap().take().unwrap();
    held.success();
    assert_eq!(cb.counts().total_successes, 1, "{cb:?}");
    let (cb, _clock, kept) = pending_admission();
    let held = kept.lock().unwrap().take().unwrap();
    held.failure();
    assert_eq!(
        cb.state(),
        State::Open,
        "the failure of its generation trips"
    );
}

#[test]
fn pending_plain_permit_a_lap_old_is_stale() {
    let (cb, _clock, kept) = pending_admission();
    let held = kept.lock().unwrap().take().unwrap();
    resets(&cb, LAP);
    held.failure();
    assert_eq!(cb.state(), State::Closed, "a stale failure tripped");
    assert_eq!(cb.counts(), Counts::default());
    let (cb, _clock, kept) = pending_admission();
    let held = kept.lock().unwrap().take().unwrap();
    resets(&cb, LAP);
    held.success();
    assert_eq!(cb.counts(), Counts::default(), "a stale success counted");
}

// ---------------------------------------------------------------------------
// Half-open probes given back a lap later; an observer; a time window.
// ---------------------------------------------------------------------------

/// A probe admitted in half-open, held while the breaker moves through exactly one
/// lap back to half-open, where a fresh probe holds the slot; then `report`.
fn stale_probe(report: impl FnOnce(warden_breaker::Permit<'_>)) {
    let clock = ManualClock::new();
    let cb = trips_at(1, &clock).build().unwrap();
    let _ = cb.call(|| Err::<(), _>(()));
    clock.advance(ms(2));
    let probe = cb.try_acquire().unwrap();
    resets(&cb, LAP - 2);
    let _ = cb.call(|| Err::<(), _>(()));
    clock.advance(ms(2));
    assert_eq!(cb.state(), State::HalfOpen);
    let fresh = cb.try_acquire().unwrap();
    let counts = cb.counts();
    report(probe);
    assert_eq!(cb.counts(), counts, "a stale probe changed the counts");
    assert!(
        cb.try_acquire().is_err(),
        "the fresh probe still holds the slot"
    );
    fresh.success();
    assert_eq!(cb.state(), State::Closed);
}

#[test]
fn stale_probe_dropped_a_lap_later_changes_nothing() {
    stale_probe(|p| drop(p));
}

#[test]
fn stale_probe_ignored_a_lap_later_changes_nothing() {
    stale_probe(|p| p.ignore());
}

#[derive(Default)]
struct Seen(AtomicUsize);
impl Observer for Seen {
    fn on_failure(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn observed_permit_a_lap_old_is_stale() {
    let clock = ManualClock::new();
    let seen = Arc::new(Seen::default());
    let cb = trips_at(1, &clock)
        .observer(Arc::clone(&seen))
        .build()
        .unwrap();
    let held = cb.try_acquire().unwrap();
    resets(&cb, LAP);
    held.failure();
    assert_eq!(seen.0.load(Ordering::Relaxed), 1, "observers hear it");
    assert_eq!(cb.state(), State::Closed, "a stale failure tripped");
    assert_eq!(cb.counts(), Counts::default());
}

#[test]
fn time_window_permit_a_lap_old_is_stale() {
    // The time window's record path compares the ticket with the plain word by
    // its full generation too.
    let clock = ManualClock::new();
    let cb = CircuitBreaker::builder("review")
        .timeout(ms(1))
        .clock(clock.clone())
        .time_window(
            TimeWindow::new(Duration::from_secs(10))
                .with_min_calls(1)
                .with_failure_rate_percent(50),
        )
        .build()
        .unwrap();
    let held = cb.try_acquire().unwrap();
    let other = cb.try_acquire().unwrap();
    resets(&cb, LAP);
    held.success();
    other.failure();
    assert_eq!(cb.state(), State::Closed, "a stale failure tripped");
    assert_eq!(cb.counts(), Counts::default(), "a stale outcome counted");
    assert_eq!(cb.mode(), Mode::Normal);
}

#[test]
fn count_window_permit_a_lap_old_is_stale() {
    // The count window's path: a stale failure must not enter the ring.
    let clock = ManualClock::new();
    let cb = CircuitBreaker::builder("review")
        .timeout(ms(1))
        .clock(clock.clone())
        .count_window(
            CountWindow::new(10)
                .with_min_calls(1)
                .with_failure_rate_percent(50),
        )
        .build()
        .unwrap();
    let held = cb.try_acquire().unwrap();
    resets(&cb, LAP);
    held.failure();
    assert_eq!(cb.state(), State::Closed, "a stale failure tripped");
    assert_eq!(cb.counts(), Counts::default(), "a stale failure counted");
    cb.try_acquire().unwrap().success();
    assert_eq!(cb.counts().total_successes, 1);
}

// ---------------------------------------------------------------------------
// The closed word's 39-bit expiry.
// ---------------------------------------------------------------------------

#[test]
fn interval_breaker_admits_past_2_pow_39_ms() {
    // 2^39 ms (17.4 years) of uptime and an hour more: past the closed word's
    // largest interval end, still inside the 40-bit tick range (34.8 years) the
    // open deadlines use. An admission that took the saturated end for one that
    // passed would start a new generation whose end saturates there too, find it
    // passed as well, and never return (as the end saturated at 2^40 - 1, which
    // the saturating clock never passes, it must never pass). Run on a thread of
    // its own so the test fails instead of hanging; a breaker stuck in that loop
    // keeps the thread spinning until the test process exits.
    let clock = ManualClock::new();
    let cb = Arc::new(
        trips_at(2, &clock)
            .interval(Duration::from_secs(60))
            .build()
            .unwrap(),
    );
    clock.advance(ms((1 << 39) + 3_600_000));
    assert_eq!(cb.state(), State::Closed);
    let (tx, rx) = mpsc::channel();
    let caller = Arc::clone(&cb);
    std::thread::spawn(move || {
        let _ = caller.call(|| Err::<(), _>(()));
        let _ = tx.send(caller.counts().consecutive_failures);
        let _ = caller.call(|| Err::<(), _>(()));
        let _ = tx.send(u32::from(caller.state() == State::Open));
    });
    let first = rx.recv_timeout(Duration::from_secs(10));
    assert_eq!(
        first,
        Ok(1),
        "the admission did not return (or its failure was not counted) past 2^39 ms"
    );
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)),
        Ok(1),
        "two failures in a row trip"
    );
}
