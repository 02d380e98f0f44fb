//! Found in review of the claims (d92846b): a stale half-open release wiped the
//! current half-open generation's counts.
//!
//! A half-open outcome that gives its slot back (ignored, or dropped) counted
//! the release and the exclusion with no ask before a re-tag (the tag alone
//! decided). The outcome holds a claim of its own generation H, which keeps
//! H's 20 bits from coming back, but nothing stopped it from re-tagging a word
//! of the current generation C whose tag reads as *older* than H, that is, when
//! C is between 2^19 and 2^20 generations past H (modulo 2^20): C's count was
//! replaced by `[H | 1]`, which the outcome then forgot (`forget_if_late`). C's
//! releases (its `requests`) and exclusions were lost. Both counts now ask, as a
//! closed outcome's do (`Counters::record_release_in`, `record_exclusion_in`).
//!
//! The window is held open deterministically: with a half-open max wait set,
//! the outcome reads the clock (`half_open_expired`) after its check and before
//! it counts; the clock hook makes LAP - 10 resets, trips, enters half-open
//! generation C, and gives one probe back there.
#![cfg(not(loom))]

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use warden_breaker::{CircuitBreaker, Counts, OwnedPermit, State};

mod hook_clock;
use hook_clock::HookClock;

const LAP: u32 = 1 << 20;
const MS: u64 = 1_000_000;

/// What the hook saw in the current half-open generation before it returned, and
/// the probe it keeps holding there.
type Seen = Arc<Mutex<(Option<Counts>, Option<OwnedPermit>)>>;

/// A breaker tripping on its first failure, 1 ms timeout, a long half-open max
/// wait (so a half-open outcome reads the clock after its check), 5 probes.
/// Trips it, enters half-open H, takes a probe in H, arms the hook with
/// `resets`, and gives the probe back with `give_back` (stale by then).
fn stale_release(resets: u32, give_back: impl FnOnce(OwnedPermit)) -> (Arc<CircuitBreaker>, Seen) {
    let (cb, clock) = HookClock::breaker(
        CircuitBreaker::builder("review2-half-open")
            .ready_to_trip(|c| c.consecutive_failures >= 1)
            .timeout(Duration::from_millis(1))
            .half_open_max_wait(Duration::from_secs(3600))
            .max_requests(5),
        1_000 * MS,
    );
    assert!(cb.call(|| Err::<(), _>(())).is_err());
    assert_eq!(cb.state(), State::Open);
    clock.advance(2 * MS);
    assert_eq!(cb.state(), State::HalfOpen);
    let p = cb.try_acquire_owned().expect("a probe in H");
    let seen: Seen = Arc::default();
    let out = Arc::clone(&seen);
    clock.arm(move |cb, clock| {
        for _ in 0..resets {
            cb.reset();
        }
        // Trip, wait out the timeout, enter half-open C; one probe gives its slot
        // back (released + excluded), one stays held.
        assert!(cb.call(|| Err::<(), _>(())).is_err());
        assert_eq!(cb.state(), State::Open);
        clock.advance(2 * MS);
        assert_eq!(cb.state(), State::HalfOpen);
        let q = cb.try_acquire_owned().expect("a probe in C");
        q.ignore();
        let r = cb.try_acquire_owned().expect("a second probe in C");
        *out.lock().unwrap_or_else(PoisonError::into_inner) = (Some(cb.counts()), Some(r));
        None
    });
    give_back(p);
    assert_eq!(clock.runs(), 1, "the hook ran once");
    (cb, seen)
}

fn check(resets: u32, give_back: impl FnOnce(OwnedPermit)) {
    let (cb, seen) = stale_release(resets, give_back);
    let seen = seen
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .0
        .expect("seen");
    assert_eq!(
        (seen.requests, seen.total_exclusions),
        (2, 1),
        "C before the stale release: one held, one released (ignored)"
    );
    assert_eq!(cb.state(), State::HalfOpen);
    assert_eq!(
        cb.counts(),
        seen,
        "the stale half-open release of H changed current half-open generation C's counts: {cb:?}"
    );
}

#[test]
fn a_stale_ignored_probe_a_lap_less_ten_late_keeps_the_current_half_open_counts() {
    check(LAP - 10, |p| p.ignore());
}

#[test]
fn a_stale_dropped_probe_a_lap_less_ten_late_keeps_the_current_half_open_counts() {
    check(LAP - 10, drop);
}

#[test]
fn a_stale_ignored_probe_half_a_lap_and_ten_late_keeps_the_current_half_open_counts() {
    check(LAP / 2 + 10, |p| p.ignore());
}

#[test]
fn control_a_stale_ignored_probe_ten_late_keeps_the_current_half_open_counts() {
    check(10, |p| p.ignore());
}
