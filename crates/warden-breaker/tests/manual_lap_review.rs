//! A manual word without a deadline (forced open, forced closed, disabled) holds
//! its generation's lap, as a plain-closed word does. These cases hold a permit
//! across exactly 2^20 (and 2^21) generation changes that begin or end in such a
//! word, and check that it is stale there; and that a fresh permit of such a word
//! counts once the lap is no longer 0, whichever word the command replaced (a
//! word that holds its lap, or one whose lap comes from the generation word).
//! Commands issued from inside a state-change callback across a lap are
//! delivered as their net change.
#![cfg(not(loom))]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use warden_breaker::{CircuitBreaker, Counts, ManualClock, Mode, SlowCalls, State, Totals};

/// Generations the state word's 20-bit field tells apart.
const LAP: u32 = 1 << 20;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Trips at the first failure; 1 ms timeout; one probe closes it.
fn trip_on_first_failure() -> (CircuitBreaker, ManualClock) {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::builder("review")
        .ready_to_trip(|c| c.consecutive_failures >= 1)
        .timeout(ms(1))
        .clock(clock.clone())
        .build()
        .expect("valid settings");
    (cb, clock)
}

/// [`trip_on_first_failure`] with slow calls (10 ms, one of one trips): every
/// closed and disabled permit times its call.
fn timed_trip_on_first_failure() -> (CircuitBreaker, ManualClock) {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::builder("review")
        .ready_to_trip(|c| c.consecutive_failures >= 1)
        .timeout(ms(1))
        .slow_calls(
            SlowCalls::new(ms(10))
                .with_slow_rate_percent(100)
                .with_min_calls(1),
        )
        .clock(clock.clone())
        .build()
        .expect("valid settings");
    (cb, clock)
}

/// The generation field `Debug` shows (the state word's 20 bits).
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

/// `step` `n` times; the field moved by `n` (mod 2^20) in all.
fn steps(cb: &CircuitBreaker, n: u32, mut step: impl FnMut()) {
    let from = generation(cb);
    for _ in 0..n {
        step();
    }
    let mask = u64::from(LAP) - 1;
    assert_eq!(
        generation(cb).wrapping_sub(from) & mask,
        u64::from(n) & mask,
        "{cb:?}"
    );
}

/// The report left the breaker as it was, but for the one outcome in the totals.
fn only_the_total_moved(before: &Totals, after: &Totals) {
    assert_eq!(
        after.transitions, before.transitions,
        "a stale outcome moved it"
    );
    assert_eq!(
        after.successes + after.failures + after.ignored,
        before.successes + before.failures + before.ignored + 1,
        "the outcome is in the totals once"
    );
}

/// One success and one failure, fresh, counted in the current generation.
fn counts_one_of_each(cb: &CircuitBreaker) {
    cb.try_acquire().expect("admits").success();
    cb.try_acquire().expect("admits").failure();
    let c = cb.counts();
    assert_eq!(
        (c.requests, c.total_successes, c.total_failures),
        (2, 1, 1),
        "fresh outcomes count: {cb:?}"
    );
}

/// Disabled, a permit admitted, then `laps` laps of disable commands; the held
/// permit's `report` counts nothing, and fresh calls count.
fn disabled_permit_across_laps_of_disables(
    cb: &CircuitBreaker,
    laps: u32,
    report: impl FnOnce(warden_breaker::Permit<'_>),
) {
    cb.disable();
    let held = cb.try_acquire().expect("disabled admits");
    steps(cb, laps * LAP, || cb.disable());
    let before = cb.totals();
    report(held);
    assert_eq!((cb.state(), cb.mode()), (State::Closed, Mode::Disabled));
    assert_eq!(
        cb.counts(),
        Counts::default(),
        "a stale outcome was counted"
    );
    only_the_total_moved(&before, &cb.totals());
    counts_one_of_each(cb);
    assert_eq!(cb.mode(), Mode::Disabled, "disabled never trips");
}

#[test]
fn disabled_success_after_a_lap_of_disable_commands_is_not_counted() {
    // The success's one comparison of the live word with the disabled word of the
    // permit's full generation.
    let (cb, _clock) = trip_on_first_failure();
    disabled_permit_across_laps_of_disables(&cb, 1, |p| p.success());
}

#[test]
fn disabled_success_after_two_laps_of_disable_commands_is_not_counted() {
    let (cb, _clock) = trip_on_first_failure();
    disabled_permit_across_laps_of_disables(&cb, 2, |p| p.success());
}

#[test]
fn disabled_ignored_and_dropped_after_a_lap_are_not_counted() {
    let (cb, _clock) = trip_on_first_failure();
    disabled_permit_across_laps_of_disables(&cb, 1, |p| p.ignore());
    let (cb, _clock) = trip_on_first_failure();
    cb.disable();
    let held = cb.try_acquire().expect("disabled admits");
    steps(&cb, LAP, || cb.disable());
    drop(held);
    assert_eq!(cb.counts(), Counts::default());
}

#[test]
fn disabled_permits_count_a_lap_on_from_every_kind_of_word() {
    // A disabled word a lap on holds lap 1: built from a plain-closed word (which
    // holds its lap), from a manual word (which does), from an open word, a
    // half-open word and a word forced open until a deadline (whose laps come
    // from the generation word).
    type Into = fn(&CircuitBreaker, &ManualClock);
    let ways: [(&str, Into); 6] = [
        ("plain closed", |_, _| {}),
        ("forced closed", |cb, _| cb.force_closed()),
        ("forced open", |cb, _| cb.force_open()),
        ("open", |cb, _| {
            let _ = cb.call(|| Err::<(), _>(()));
            assert_eq!(cb.state(), State::Open);
        }),
        ("half-open", |cb, clock| {
            let _ = cb.call(|| Err::<(), _>(()));
            clock.advance(ms(2));
            assert_eq!(cb.state(), State::HalfOpen);
        }),
        ("forced open until", |cb, _| cb.force_open_for(ms(50))),
    ];
    for (name, into) in ways {
        // One lap for each, two for a word that holds its lap and one that does not.
        let laps: &[u32] = match name {
            "forced closed" | "open" => &[1, 2],
            _ => &[1],
        };
        for &laps in laps {
            let (cb, clock) = trip_on_first_failure();
            steps(&cb, laps * LAP + 3, || cb.reset());
            into(&cb, &clock);
            cb.disable();
            assert_eq!(cb.mode(), Mode::Disabled, "{name}");
            counts_one_of_each(&cb);
            // A permit of this generation: counted through both paths.
            let p = cb.try_acquire().expect("disabled admits");
            let q = cb.try_acquire().expect("disabled admits");
            p.success();
            q.failure();
            let c = cb.counts();
            assert_eq!(
                (c.requests, c.total_successes, c.total_failures),
                (4, 2, 2),
                "{name}, {laps} laps on: {cb:?}"
            );
        }
    }
}

#[test]
fn timed_disabled_permits_count_a_lap_on() {
    let (cb, _clock) = timed_trip_on_first_failure();
    steps(&cb, LAP + 7, || cb.reset());
    cb.disable();
    counts_one_of_each(&cb);
    assert_eq!(cb.mode(), Mode::Disabled);
}

#[test]
fn disabled_permit_a_lap_old_is_stale_in_a_plain_closed_word() {
    // The lap ends on a reset: a plain-closed word of the permit's 20 bits.
    let reports: [Report; 2] = [|p| p.success(), |p| p.failure()];
    for report in reports {
        let (cb, _clock) = trip_on_first_failure();
        cb.disable();
        let held = cb.try_acquire().expect("disabled admits");
        steps(&cb, LAP, || cb.reset());
        assert_eq!(cb.mode(), Mode::Normal);
        let before = cb.totals();
        report(held);
        assert_eq!((cb.state(), cb.mode()), (State::Closed, Mode::Normal));
        assert_eq!(
            cb.counts(),
            Counts::default(),
            "a stale outcome was counted"
        );
        only_the_total_moved(&before, &cb.totals());
    }
}

#[test]
fn closed_permit_a_lap_old_is_stale_in_a_disabled_word() {
    // Admitted plain closed (the ticket is the word, lap included); the lap ends
    // on a disable command: a disabled word of the permit's 20 bits.
    let reports: [Report; 2] = [|p| p.success(), |p| p.failure()];
    for report in reports {
        let (cb, _clock) = trip_on_first_failure();
        let held = cb.try_acquire().expect("closed admits");
        steps(&cb, LAP - 1, || cb.reset());
        cb.disable();
        let before = cb.totals();
        report(held);
        assert_eq!((cb.state(), cb.mode()), (State::Closed, Mode::Disabled));
        assert_eq!(
            cb.counts(),
            Counts::default(),
            "a stale outcome was counted"
        );
        only_the_total_moved(&before, &cb.totals());
    }
}

#[test]
fn forced_closed_permit_a_lap_old_is_stale_in_a_disabled_word() {
    // A forced-closed permit and a disabled one are the same kind of ticket: only
    // the full generation tells them apart.
    let reports: [Report; 2] = [|p| p.success(), |p| p.failure()];
    for report in reports {
        let (cb, _clock) = trip_on_first_failure();
        cb.force_closed();
        let held = cb.try_acquire().expect("forced closed admits");
        steps(&cb, LAP - 1, || cb.force_closed());
        cb.disable();
        let before = cb.totals();
        report(held);
        assert_eq!((cb.state(), cb.mode()), (State::Closed, Mode::Disabled));
        assert_eq!(
            cb.counts(),
            Counts::default(),
            "a stale outcome was counted"
        );
        only_the_total_moved(&before, &cb.totals());
        counts_one_of_each(&cb);
    }
}

#[test]
fn forced_closed_counts_nothing_and_never_trips_a_lap_on() {
    let (cb, _clock) = trip_on_first_failure();
    steps(&cb, LAP + 1, || cb.force_closed());
    for _ in 0..5 {
        let _ = cb.call(|| Err::<(), _>(()));
    }
    assert_eq!((cb.state(), cb.mode()), (State::Closed, Mode::ForcedClosed));
    assert_eq!(cb.counts(), Counts::default());
    assert_eq!(cb.totals().failures, 5);
}

/// How a held permit is reported.
type Report = fn(warden_breaker::Permit<'_>);

/// The state changes a callback saw, in order.
type Changes = Arc<Mutex<Vec<(State, State)>>>;

/// A breaker whose state-change callback records every change and calls `on`
/// with the breaker.
fn reentrant(
    on: impl Fn(&CircuitBreaker, State, State) + Send + Sync + 'static,
) -> (Arc<CircuitBreaker>, Changes) {
    let changes = Changes::default();
    let c = Arc::clone(&changes);
    let me: Arc<OnceLock<Weak<CircuitBreaker>>> = Arc::new(OnceLock::new());
    let m = Arc::clone(&me);
    let cb = Arc::new(
        CircuitBreaker::builder("reentrant")
            .ready_to_trip(|c| c.consecutive_failures >= 1)
            .clock(ManualClock::new())
            .on_state_change(move |_, from, to| {
                c.lock().unwrap().push((from, to));
                if let Some(cb) = m.get().and_then(Weak::upgrade) {
                    on(&cb, from, to);
                }
            })
            .build()
            .unwrap(),
    );
    me.set(Arc::downgrade(&cb)).unwrap();
    (cb, changes)
}

#[test]
fn a_lap_of_commands_inside_a_callback_is_delivered_as_its_net_change() {
    // Closed -> Open (force_open); its callback disables the breaker a lap of
    // times less one: the word ends disabled with the 20 bits the callbacks'
    // thread installed one lap before. The callbacks catch up with Open -> Closed.
    let once = AtomicBool::new(true);
    let (cb, changes) = reentrant(move |cb, from, to| {
        if (from, to) == (State::Closed, State::Open) && once.swap(false, Ordering::Relaxed) {
            for _ in 0..LAP {
                cb.disable();
            }
        }
    });
    let held = cb.try_acquire().expect("closed admits");
    cb.force_open();
    assert_eq!(
        *changes.lock().unwrap(),
        [(State::Closed, State::Open), (State::Open, State::Closed)]
    );
    assert_eq!((cb.state(), cb.mode()), (State::Closed, Mode::Disabled));
    held.failure();
    assert_eq!(
        cb.counts(),
        Counts::default(),
        "a stale outcome was counted"
    );
    counts_one_of_each(&cb);

    // The same commands making no net change: force_open's callback forces it open
    // a lap of times, back to the installed word's 20 bits and mode.
    let once = AtomicBool::new(true);
    let (cb, changes) = reentrant(move |cb, from, to| {
        if (from, to) == (State::Closed, State::Open) && once.swap(false, Ordering::Relaxed) {
            for _ in 0..LAP {
                cb.force_open();
            }
        }
    });
    cb.force_open();
    assert_eq!(*changes.lock().unwrap(), [(State::Closed, State::Open)]);
    assert_eq!((cb.state(), cb.mode()), (State::Open, Mode::ForcedOpen));
    cb.reset();
    assert_eq!((cb.state(), cb.mode()), (State::Closed, Mode::Normal));
    assert_eq!(
        *changes.lock().unwrap(),
        [(State::Closed, State::Open), (State::Open, State::Closed)]
    );
}

#[test]
fn owned_disabled_permit_reported_elsewhere_a_lap_later_is_not_counted() {
    let (cb, _clock) = trip_on_first_failure();
    let cb = Arc::new(cb);
    cb.disable();
    let held = cb.try_acquire_owned().expect("disabled admits");
    steps(&cb, LAP, || cb.disable());
    std::thread::spawn(move || held.success())
        .join()
        .expect("the report does not panic");
    assert_eq!(
        cb.counts(),
        Counts::default(),
        "a stale success was counted"
    );
}
