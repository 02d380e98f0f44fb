//! Two-word tickets: paths the generation-wrap cases do not take. A timed permit
//! admitted on the ticker's published time (the default clock and a slow-call
//! threshold the ticker's resolution serves) carries its full generation like the
//! one a `ManualClock` times; an observer that panics in `on_admitted` gives a timed
//! admission back (closed and half-open) without counting it, slow or otherwise;
//! and a permit's size is what the adapters' futures are laid out for.
#![cfg(not(loom))]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use warden_breaker::{
    CircuitBreaker, Counts, ManualClock, Observer, OwnedPermit, Permit, Rejected, SlowCalls, State,
};

/// Generations the state word's 20-bit field tells apart.
const LAP: u32 = 1 << 20;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The default clock, calls of 50 ms or more slow (timed on the ticker's
/// published time), one slow call of two trips (the helper's own call is
/// fast), and so does one failure; `resets` generations in (a lap: its permits'
/// laps are then 1, not the 0 of a fresh breaker).
fn ticker_timed(resets: u32) -> CircuitBreaker {
    let cb = CircuitBreaker::builder("ticker timed")
        .slow_calls(
            SlowCalls::new(ms(50))
                .with_slow_rate_percent(50)
                .with_min_calls(1),
        )
        .ready_to_trip(|c| c.consecutive_failures >= 1)
        .build()
        .expect("valid settings");
    for _ in 0..resets {
        cb.reset();
    }
    // A first call, and a moment for the ticker to publish its time. Real time on
    // purpose: only the default clock's time is published by the ticker.
    cb.try_acquire().expect("closed").success();
    std::thread::sleep(ms(10));
    cb
}

#[test]
fn ticker_timed_permits_count_in_their_generation() {
    // A lap in: a permit timed with any lap but its word's (a fresh breaker's 0,
    // say) would not count.
    let cb = ticker_timed(LAP);
    cb.try_acquire().expect("closed").failure();
    assert_eq!(
        cb.state(),
        State::Open,
        "the failure of its generation trips"
    );
    let cb = ticker_timed(LAP);
    let held = cb.try_acquire().expect("closed");
    // Real time on purpose, as in `ticker_timed`: the call must be slow by the
    // ticker's published time, which only the default clock's real time moves.
    std::thread::sleep(ms(80));
    held.success();
    assert_eq!(
        (cb.state(), cb.totals().slow_calls),
        (State::Open, 1),
        "the slow success of its generation trips"
    );
}

#[test]
fn ticker_timed_failure_and_slow_success_a_lap_later_change_nothing() {
    let cb = ticker_timed(0);
    let failing = cb.try_acquire().expect("closed");
    let slow = cb.try_acquire().expect("closed");
    for _ in 0..LAP {
        cb.reset();
    }
    // Real time on purpose, as in `ticker_timed`: the stale success must be slow
    // by the ticker's published time, so that counting it would show.
    std::thread::sleep(ms(80));
    let before = cb.totals();
    failing.failure();
    slow.success();
    assert_eq!(
        (cb.state(), cb.counts()),
        (State::Closed, Counts::default())
    );
    let after = cb.totals();
    assert_eq!(
        after.slow_calls, before.slow_calls,
        "a stale success was slow"
    );
    assert_eq!(after.all_transitions(), before.all_transitions());
}

/// An observer that panics in `on_admitted` while armed.
#[derive(Debug, Default)]
struct PanicOnAdmitted(AtomicBool);

impl Observer for PanicOnAdmitted {
    fn on_admitted(&self, _: State) {
        // Relaxed: set and read on the test's one thread.
        if self.0.load(Ordering::Relaxed) {
            panic!("observer panics in on_admitted");
        }
    }
}

fn observed_timed(clock: &ManualClock, hook: &Arc<PanicOnAdmitted>) -> CircuitBreaker {
    CircuitBreaker::builder("observed timed")
        .slow_calls(
            SlowCalls::new(ms(10))
                .with_slow_rate_percent(100)
                .with_min_calls(1),
        )
        .ready_to_trip(|c| c.consecutive_failures >= 1)
        .timeout(ms(5))
        .max_requests(1)
        .clock(clock.clone())
        .observer(Arc::clone(hook))
        .build()
        .expect("valid settings")
}

#[test]
fn a_panicking_on_admitted_gives_a_timed_closed_admission_back() {
    let clock = ManualClock::new();
    let hook = Arc::new(PanicOnAdmitted::default());
    let cb = observed_timed(&clock, &hook);
    clock.advance(ms(1));
    hook.0.store(true, Ordering::Relaxed);
    catch_unwind(AssertUnwindSafe(|| cb.try_acquire().map(drop))).unwrap_err();
    hook.0.store(false, Ordering::Relaxed);
    clock.advance(ms(20));
    // Given back as a dropped permit: a request, no outcome, nothing slow.
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(
        cb.counts(),
        Counts {
            requests: 1,
            ..Counts::default()
        }
    );
    assert_eq!((cb.totals().slow_calls, cb.totals().dropped), (0, 1));
    // The next timed call counts from its own admission.
    cb.try_acquire().expect("closed").success();
    assert_eq!((cb.state(), cb.totals().slow_calls), (State::Closed, 0));
}

#[test]
fn a_panicking_on_admitted_gives_a_half_open_slot_back_with_slow_calls() {
    let clock = ManualClock::new();
    let hook = Arc::new(PanicOnAdmitted::default());
    let cb = observed_timed(&clock, &hook);
    cb.try_acquire().expect("closed").failure();
    clock.advance(ms(6));
    assert_eq!(cb.state(), State::HalfOpen);
    hook.0.store(true, Ordering::Relaxed);
    catch_unwind(AssertUnwindSafe(|| cb.try_acquire().map(drop))).unwrap_err();
    hook.0.store(false, Ordering::Relaxed);
    let probe = cb.try_acquire().expect("the slot was given back");
    assert_eq!(probe.admitted_in(), State::HalfOpen);
    assert_eq!(cb.try_acquire().map(drop), Err(Rejected::TooManyRequests));
    // A probe is never timed: however long it takes, its success closes.
    clock.advance(ms(50));
    probe.success();
    assert_eq!((cb.state(), cb.totals().slow_calls), (State::Closed, 0));
}

#[test]
#[cfg(target_pointer_width = "64")]
fn permits_are_three_words() {
    // warden-tower's response future writes the permit's words in its refused
    // arm (`zero: [usize; 3]`): a permit of another size leaves words unwritten.
    const WORD: usize = std::mem::size_of::<usize>();
    assert_eq!(std::mem::size_of::<Permit<'static>>(), 3 * WORD);
    assert_eq!(std::mem::size_of::<Option<Permit<'static>>>(), 3 * WORD);
    assert_eq!(
        std::mem::size_of::<Result<Permit<'static>, Rejected>>(),
        3 * WORD
    );
    // An owned permit's ticket is taken once reported, marked in the ticket's
    // own words: the `Arc` and the ticket's two, with a spare value left for an
    // `Option` around it.
    assert_eq!(std::mem::size_of::<OwnedPermit>(), 3 * WORD);
    assert_eq!(std::mem::size_of::<Option<OwnedPermit>>(), 3 * WORD);
}
