//! Found in review of the claims (3ad7005): a transition into a new sweep
//! period swept every shared word to the generation of the word it had loaded,
//! *before* its exchange and whether or not the exchange then succeeded. A
//! transition decided on a word at the end of a sweep period (its generation
//! ≡ 65535 mod 65536), held up between its load and its exchange while the
//! breaker moved 2^19..2^20 generations on, swept to that *old* generation: the
//! current generation's words then read as behind it and were re-tagged
//! `[old | 0]`, wiping the current generation's counts, and the exchange failed
//! too late. Sweeps now run only after the exchange that began their period
//! (`CircuitBreaker::new_generation`), as before the claims.
//!
//! Here the held-up transition is `state()`'s interval reset of a closed word:
//! it loads the word, then reads the clock (a user clock whose hook makes the
//! resets and three current failures), then `reset_interval` -> `exchange`.
#![cfg(not(loom))]

use std::time::Duration;

use warden_breaker::{CircuitBreaker, State};

mod hook_clock;
use hook_clock::HookClock;

const PERIOD: u64 = 1 << 16;

fn generation(cb: &CircuitBreaker) -> u64 {
    let text = format!("{cb:?}");
    let (_, rest) = text
        .split_once("generation: ")
        .expect("Debug shows generation");
    rest.split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// A breaker with a 1 s interval whose 20-bit generation is `at` (mod 2^16);
/// `state()` is called with the hook armed to make `resets` resets and three
/// current failures. Returns the current generation's counts afterwards.
fn run(at: u64, resets: u32) -> (u32, u32, String) {
    let (cb, clock) = HookClock::breaker(
        CircuitBreaker::builder("stale-sweep").interval(Duration::from_secs(1)),
        0,
    );
    let g = generation(&cb);
    let to = (at + PERIOD - g % PERIOD) % PERIOD;
    for _ in 0..to {
        cb.reset();
    }
    assert_eq!(generation(&cb) % PERIOD, at, "{cb:?}");
    clock.arm(move |cb, _| {
        for _ in 0..resets {
            cb.reset();
        }
        for _ in 0..3 {
            assert!(cb.call(|| Err::<(), _>(())).is_err(), "closed admits");
        }
        assert_eq!(cb.counts().total_failures, 3, "hook's failures counted");
        // Past the old word's interval (1 s), for this read only: `state()` goes
        // to reset it.
        Some(10_000_000_000)
    });
    assert_eq!(cb.state(), State::Closed);
    assert!(!clock.armed(), "the hook ran");
    let c = cb.counts();
    (c.total_failures, c.consecutive_failures, format!("{cb:?}"))
}

const LATE: u32 = (1 << 19) + 5;

#[test]
fn a_stale_period_crossing_transition_keeps_the_current_generations_counts() {
    let (total, consecutive, dbg) = run(PERIOD - 1, LATE);
    assert_eq!(
        (total, consecutive),
        (3, 3),
        "the current generation's failures were wiped by a stale sweep_before: {dbg}"
    );
}

#[test]
fn control_not_at_a_period_end() {
    let (total, consecutive, dbg) = run(100, LATE);
    assert_eq!((total, consecutive), (3, 3), "{dbg}");
}

#[test]
fn control_at_a_period_end_few_resets() {
    let (total, consecutive, dbg) = run(PERIOD - 1, 10);
    assert_eq!((total, consecutive), (3, 3), "{dbg}");
}
