//! The generation word: a word holds 20 bits of its generation, and every thread
//! that needs the rest (a permit's full generation, a callback catching up with a
//! command) takes it from the word itself if the word holds its lap (plain closed,
//! or manual without a deadline), else rebuilds it from the breaker's generation
//! word, which each exchange that moves the generation on raises first. These
//! models start two generations before the 20-bit field wraps to 0 and check what
//! every thread reads on the way across: the generation word is the word's full
//! generation or one less (never further behind, never ahead), and the full
//! generation rebuilt from the two is the one the breaker is in (one lap more once
//! the field wraps), whatever races.
#![cfg(loom)]

use std::time::Duration;

use loom::sync::Arc;
use loom::sync::atomic::{AtomicU64, Ordering};
use warden_breaker::__private::{loom_full_generation, loom_generation_word};
use warden_breaker::State;
use warden_loom_tests::{explore, setup_bare_at_generation};

/// Largest 20-bit generation.
const TOP: u32 = (1 << 20) - 1;
/// The first generation of the model of a trip: two before the wrap (the model of
/// commands starts at the last one).
const FIRST: u32 = TOP - 1;

/// One look at the breaker: the generation word, read after the state word, is at
/// least that word's full generation minus one (never further behind: what the
/// word's `Acquire` load and the generation change's `Release` promise; it may be
/// ahead of a word this thread read late, by the generations made since); the full
/// generation rebuilt from the two agrees with the word's 20 bits, lies between the
/// first generation and `last`, and never goes back from `seen` (this thread's
/// previous look).
fn look(cb: &warden_breaker::CircuitBreaker, last: u64, seen: &mut u64) {
    let (low, word, full, later) = loom_full_generation(cb);
    assert_eq!(full & u64::from(TOP), u64::from(low), "{low} {word} {full}");
    assert!(
        word + 1 >= full,
        "generation word {word} more than one behind the full generation {full}"
    );
    assert!(
        (u64::from(FIRST)..=last).contains(&full) && full <= later && later <= last,
        "full generation {full} then {later}, outside {FIRST}..={last}"
    );
    assert!(full >= *seen, "went back from {seen} to {full}");
    *seen = later;
}

/// Manual commands only: two threads issue a command each across the wrap while a
/// third looks at the breaker twice, then once more when they are done. A disabled
/// word holds its lap; a word forced open until a deadline does not (its payload is
/// the deadline), so its full generation comes from the generation word.
#[test]
fn commands_across_the_wrap_keep_the_generation_word_in_step() {
    explore(
        "generation_word::commands_across_the_wrap_keep_the_generation_word_in_step",
        3,
        || {
            loom_generation_word(true);
            let rig = setup_bare_at_generation(TOP, |b| b);
            let last = u64::from(TOP) + 2;
            let a = rig.spawn(move |r| r.cb.force_open_for(Duration::from_secs(1)));
            let b = rig.spawn(move |r| r.cb.disable());
            rig.start();
            let mut seen = 0;
            look(&rig.cb, last, &mut seen);
            look(&rig.cb, last, &mut seen);
            a.join().expect("model thread");
            b.join().expect("model thread");
            look(&rig.cb, last, &mut seen);
            assert_eq!(seen, last, "two commands, two generations");
        },
    );
}

/// Natural transitions, whose callbacks' thread commits the next word itself: a
/// failure trips the breaker (closed -> open) while a command races it and a third
/// thread looks. The full generation a permit admitted before all of it carries is
/// never the breaker's again: its late failure changes nothing.
#[test]
fn a_trip_racing_a_command_across_the_wrap() {
    explore(
        "generation_word::a_trip_racing_a_command_across_the_wrap",
        3,
        || {
            loom_generation_word(true);
            let rig = setup_bare_at_generation(FIRST, |b| {
                b.ready_to_trip(|c| c.consecutive_failures >= 1)
            });
            let held = rig.acquire();
            let failing = rig.acquire();
            // The look thread's last full generation, for the main thread's check.
            let looked = Arc::new(AtomicU64::new(0));
            let seen_by = looked.clone();
            let last = u64::from(FIRST) + 2;
            let a = rig.spawn(move |_| failing.failure());
            let b = rig.spawn(move |r| {
                let mut seen = 0;
                look(&r.cb, last, &mut seen);
                look(&r.cb, last, &mut seen);
                seen_by.store(seen, Ordering::Relaxed);
            });
            rig.start();
            rig.cb.disable();
            a.join().expect("model thread");
            b.join().expect("model thread");
            let mut seen = looked.load(Ordering::Relaxed);
            look(&rig.cb, last, &mut seen);
            // The trip and the command are two generations, in either order; or the
            // command came first and the failure was stale: one.
            let (_, _, full, _) = loom_full_generation(&rig.cb);
            assert!(full == last || full == last - 1, "{full}");
            let counts = rig.cb.counts();
            held.failure(); // admitted in the first generation: stale now
            assert_eq!(rig.cb.counts(), counts);
            assert_eq!(rig.cb.state(), State::Closed, "disabled reads closed");
        },
    );
}
