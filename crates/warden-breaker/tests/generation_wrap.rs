//! A permit held across exactly 2^20 (and 2^21) generation changes, the point
//! where the state word's 20-bit generation field repeats, must still be told
//! apart from the current generation: a permit carries its full generation.
//! Each case admits a call, moves the breaker through exactly that many
//! generations (resets, force-open/reset pairs, natural flapping on a
//! `ManualClock`, counting-interval resets, disable commands), reports the
//! outcome, and checks that nothing changed: the state and mode, the counts,
//! the transitions the breaker counted, and that the breaker still admits and
//! counts normally afterwards. The same cases run against the mutex reference
//! in `warden-mutex/tests/generation_wrap.rs`.
//!
//! The same for paths the cases above do not take: a permit admitted while the
//! callbacks of a transition into closed still run (its ticket is the word with
//! `PENDING`), reconfigurations that add or remove the counting interval around a
//! held permit (the closed word turns from plain to interval and back in the same
//! generation), half-open probes given back (dropped, ignored) a lap later,
//! observers, and the time and count windows' record paths. And an interval
//! breaker past 2^39 ms of uptime: a closed word keeps its interval's end in 39
//! bits, and an end saturated there must never pass (if it did, an admission would
//! find every new interval ended at once and loop, starting generation after
//! generation, without returning).
//!
//! A permit that times its call (a breaker with `SlowCalls`: its ticket keeps the
//! call's start time) must carry its full generation too. The same laps for such
//! permits, borrowed and owned (reported on another thread): a closed failure, a
//! success two laps later, a slow success (the clock past the threshold) that must
//! count neither as a call nor as slow, force-open/reset pairs, natural flapping,
//! counting-interval expiries, disable commands, the time window's record path,
//! the observed path, a permit admitted while `PENDING`, and reconfigurations that
//! add or remove `SlowCalls` around a held permit (an untimed permit reported to a
//! breaker that now times calls, a timed one to a breaker that no longer does:
//! each counts normally in its generation, and a lap later not at all). Cases in
//! the admitting generation show that each such report (a failure, a slow success,
//! on each path) would count, and trip, if it were current.
//!
//! A manual word without a deadline (forced open, forced closed, disabled) holds
//! its lap as a plain-closed word does: laps that begin or end in such a word,
//! fresh disabled permits a lap on from every kind of word, and a lap of commands
//! made inside a state-change callback.
#![cfg(not(loom))]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak, mpsc};
use std::thread;
use std::time::Duration;

use warden_breaker::{
    CircuitBreaker, CountWindow, Counts, ManualClock, Mode, Observer, OwnedPermit, SlowCalls,
    State, TimeWindow, Totals,
};

/// Generations the state word's 20-bit field tells apart.
const LAP: u32 = 1 << 20;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Trips at the first failure; 1 ms timeout; one probe closes it.
fn trip_on_first_failure() -> (CircuitBreaker, ManualClock) {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::builder("wrap")
        .ready_to_trip(|c| c.consecutive_failures >= 1)
        .timeout(ms(1))
        .clock(clock.clone())
        .build()
        .expect("valid settings");
    (cb, clock)
}

/// The generation the breaker's `Debug` output shows (its state word's field,
/// or a wider one: only its low 20 bits are compared).
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

/// Checks that the generation moved by `by` since `from`, modulo the field's
/// 2^20. Each case checks this after its first step (one step is exactly the
/// generations it says) and after the whole lap (the field is back where the
/// permit was admitted, so only a full generation tells them apart).
fn assert_moved(cb: &CircuitBreaker, from: u64, by: u64) {
    let mask = u64::from(LAP) - 1;
    assert_eq!(
        generation(cb).wrapping_sub(from) & mask,
        by & mask,
        "the generation moved by {by} (mod 2^20) since {from}: {cb:?}"
    );
}

/// `step` issued `n` times, each exactly `per_step` generations (checked after
/// the first), `n * per_step` generations in all (checked modulo 2^20).
fn steps(cb: &CircuitBreaker, n: u32, per_step: u64, mut step: impl FnMut()) {
    let from = generation(cb);
    step();
    assert_moved(cb, from, per_step);
    for _ in 1..n {
        step();
    }
    assert_moved(cb, from, u64::from(n) * per_step);
}

/// What a report must leave as it was: the breaker's transitions so far, and every
/// total but the outcome counted (stale outcomes count in `Totals` too).
fn same_but_outcome(before: &Totals, after: &Totals) {
    assert_eq!(
        after.transitions, before.transitions,
        "a stale outcome moved the breaker"
    );
    assert_eq!(
        (
            after.dropped,
            after.rejected_open,
            after.rejected_too_many_requests
        ),
        (
            before.dropped,
            before.rejected_open,
            before.rejected_too_many_requests
        ),
    );
    assert_eq!(
        after.successes + after.failures + after.ignored,
        before.successes + before.failures + before.ignored + 1,
        "the outcome is in the totals once"
    );
}

/// A closed breaker that trips at the first failure still counts a fresh call
/// from zero after the stale report.
fn counts_fresh_calls(cb: &CircuitBreaker) {
    cb.try_acquire().expect("closed admits").success();
    assert_eq!(
        cb.counts(),
        Counts {
            requests: 1,
            total_successes: 1,
            consecutive_successes: 1,
            ..Counts::default()
        }
    );
}

/// What a stale closed-state outcome (a failure, or a success that may be slow)
/// reported after its lap leaves, whatever moved the breaker meanwhile: the
/// breaker closed in normal mode, no count, the totals up by the one outcome (and
/// no slow call among them), and a fresh call counted from zero.
fn a_stale_outcome_left_it_closed(cb: &CircuitBreaker, before: &Totals) {
    assert_eq!(
        (cb.state(), cb.mode()),
        (State::Closed, Mode::Normal),
        "a stale outcome tripped the breaker"
    );
    assert_eq!(
        cb.counts(),
        Counts::default(),
        "a stale outcome was counted"
    );
    same_but_outcome(before, &cb.totals());
    assert_eq!(
        cb.totals().slow_calls,
        before.slow_calls,
        "a stale outcome was counted slow"
    );
    counts_fresh_calls(cb);
}

/// [`a_stale_outcome_left_it_closed`], and no transition since the breaker was
/// built.
fn a_stale_outcome_changed_nothing(cb: &CircuitBreaker, before: &Totals) {
    a_stale_outcome_left_it_closed(cb, before);
    assert_eq!(cb.totals().all_transitions(), 0);
}

/// A closed permit of `cb`, held across `laps` laps of resets, then `report`ed:
/// it changes nothing.
fn stale_after_laps_of_resets(cb: &CircuitBreaker, laps: u32, report: Report) {
    let held = cb.try_acquire().expect("closed admits");
    steps(cb, laps * LAP, 1, || cb.reset());
    let before = cb.totals();
    report(held);
    a_stale_outcome_changed_nothing(cb, &before);
}

#[test]
fn closed_failure_after_a_lap_of_resets_changes_nothing() {
    let (cb, _clock) = trip_on_first_failure();
    stale_after_laps_of_resets(&cb, 1, |p| p.failure());
}

#[test]
fn closed_success_after_two_laps_of_resets_is_not_counted() {
    let (cb, _clock) = trip_on_first_failure();
    let held = cb.try_acquire().expect("closed admits");
    steps(&cb, 2 * LAP, 1, || cb.reset());
    let before = cb.totals();
    held.success();
    assert_eq!((cb.state(), cb.mode()), (State::Closed, Mode::Normal));
    assert_eq!(
        cb.counts(),
        Counts::default(),
        "a stale success was counted"
    );
    same_but_outcome(&before, &cb.totals());
    assert_eq!(cb.totals().all_transitions(), 0);
    counts_fresh_calls(&cb);
}

#[test]
fn owned_permit_across_a_lap_of_force_open_and_reset() {
    let (cb, _clock) = trip_on_first_failure();
    let cb = Arc::new(cb);
    let held = cb.try_acquire_owned().expect("closed admits");
    steps(&cb, LAP / 2, 2, || {
        cb.force_open();
        cb.reset();
    });
    assert_eq!(
        cb.totals().transitions(State::Closed, State::Open),
        u64::from(LAP / 2)
    );
    let before = cb.totals();
    held.failure();
    a_stale_outcome_left_it_closed(&cb, &before);
}

/// Runs `lap` here, then reports `held` with `report` on a thread of its own,
/// waiting at most 10 s for the report.
fn report_elsewhere_after(
    held: OwnedPermit,
    lap: impl FnOnce(),
    report: impl FnOnce(OwnedPermit) + Send + 'static,
) {
    let (go, wait) = mpsc::channel::<()>();
    let (done, reported) = mpsc::channel::<()>();
    let reporter = thread::spawn(move || {
        // An error: this thread's test failed before the lap was done.
        if wait.recv().is_ok() {
            report(held);
            let _ = done.send(());
        }
    });
    lap();
    go.send(()).expect("the reporter waits");
    assert_eq!(
        reported.recv_timeout(Duration::from_secs(10)),
        Ok(()),
        "the report on the other thread did not return"
    );
    reporter.join().expect("the reporter does not panic");
}

#[test]
fn owned_permit_reported_on_another_thread_after_a_lap_of_resets() {
    let (cb, _clock) = trip_on_first_failure();
    let cb = Arc::new(cb);
    let held = cb.try_acquire_owned().expect("closed admits");
    let mut before = None;
    report_elsewhere_after(
        held,
        || {
            steps(&cb, LAP, 1, || cb.reset());
            before = Some(cb.totals());
        },
        |p| p.failure(),
    );
    a_stale_outcome_changed_nothing(&cb, &before.expect("the lap ran"));
}

#[test]
fn interval_closed_failure_after_a_lap_of_resets_changes_nothing() {
    // A counting interval: the closed word holds an expiry, the same one for every
    // reset here (the clock stands still), so the word after the lap is the word
    // the permit was admitted in.
    let clock = ManualClock::new();
    let cb = CircuitBreaker::builder("wrap")
        .ready_to_trip(|c| c.consecutive_failures >= 1)
        .interval(Duration::from_secs(60))
        .clock(clock.clone())
        .build()
        .expect("valid settings");
    clock.advance(ms(5));
    cb.reset(); // the expiry is now + 60 s from here on
    let held = cb.try_acquire().expect("closed admits");
    steps(&cb, LAP, 1, || cb.reset());
    let before = cb.totals();
    held.failure();
    a_stale_outcome_changed_nothing(&cb, &before);
}

#[test]
fn interval_closed_failure_after_a_lap_of_interval_expiries_changes_nothing() {
    // Each step lets the 1 ms interval pass and looks at the breaker: one new
    // closed generation, with an expiry 2 ms later than the last.
    let clock = ManualClock::new();
    let cb = CircuitBreaker::builder("wrap")
        .ready_to_trip(|c| c.consecutive_failures >= 1)
        .interval(ms(1))
        .clock(clock.clone())
        .build()
        .expect("valid settings");
    let held = cb.try_acquire().expect("closed admits");
    steps(&cb, LAP, 1, || {
        clock.advance(ms(2));
        assert_eq!(cb.state(), State::Closed);
    });
    let before = cb.totals();
    held.failure();
    a_stale_outcome_changed_nothing(&cb, &before);
}

/// Disabled counts like closed from each command on and never trips: a stale
/// outcome would show in the counts only. `cb` is disabled, admits a call, moves
/// through a lap of disable commands; then `report` reports the held call, which
/// must count nothing.
fn disabled_outcome_after_a_lap_of_disable_commands(
    cb: &CircuitBreaker,
    report: impl FnOnce(warden_breaker::Permit<'_>),
) {
    cb.disable();
    let held = cb.try_acquire().expect("disabled admits");
    steps(cb, LAP, 1, || cb.disable());
    let before = cb.totals();
    report(held);
    assert_eq!((cb.state(), cb.mode()), (State::Closed, Mode::Disabled));
    assert_eq!(
        cb.counts(),
        Counts::default(),
        "a stale outcome was counted"
    );
    same_but_outcome(&before, &cb.totals());
    assert_eq!(cb.totals().all_transitions(), 0);
    counts_fresh_calls(cb);
    assert_eq!(cb.mode(), Mode::Disabled);
}

#[test]
fn disabled_failure_after_a_lap_of_disable_commands_is_not_counted() {
    let (cb, _clock) = trip_on_first_failure();
    disabled_outcome_after_a_lap_of_disable_commands(&cb, |p| p.failure());
}

/// Open, then half-open with one probe admitted (after `laps_before` laps of
/// resets, so the probe's full generation is in that lap), held while the breaker
/// moves through exactly one lap of generations back to half-open (`LAP - 2`
/// resets, a trip, the timeout); then, if `fresh`, a fresh probe takes the new
/// half-open generation's one slot; then `report` reports the held probe, which
/// must change nothing: no close, no re-open, no count, the slot as it was.
fn probe_held_across_a_lap(
    laps_before: u32,
    fresh: bool,
    report: impl FnOnce(warden_breaker::Permit<'_>),
) {
    let (cb, clock) = trip_on_first_failure();
    if laps_before > 0 {
        steps(&cb, laps_before * LAP, 1, || cb.reset());
    }
    let _ = cb.call(|| Err::<(), _>(()));
    clock.advance(ms(2));
    let probe = cb.try_acquire().expect("half-open admits a probe");
    assert_eq!(cb.state(), State::HalfOpen);
    let admitted = generation(&cb);
    steps(&cb, LAP - 2, 1, || cb.reset());
    let _ = cb.call(|| Err::<(), _>(()));
    clock.advance(ms(2));
    assert_eq!(cb.state(), State::HalfOpen, "a lap later, half-open again");
    assert_moved(&cb, admitted, u64::from(LAP));
    assert_eq!(cb.counts(), Counts::default(), "no probe admitted yet");
    let fresh = fresh.then(|| cb.try_acquire().expect("the probe slot is free"));
    let counts = cb.counts();
    let before = cb.totals();
    report(probe);
    same_but_outcome(&before, &cb.totals());
    assert_eq!(
        (cb.state(), cb.mode()),
        (State::HalfOpen, Mode::Normal),
        "a stale probe closed or re-opened the breaker"
    );
    assert_eq!(cb.counts(), counts, "a stale probe was counted");
    // The slot is as it was: held by the fresh probe, or free for one.
    let fresh = fresh.unwrap_or_else(|| cb.try_acquire().expect("the probe slot is free"));
    assert!(cb.try_acquire().is_err(), "one probe at a time");
    assert_eq!(cb.counts().requests, 1);
    fresh.success();
    assert_eq!(
        cb.state(),
        State::Closed,
        "the fresh probe closes the breaker"
    );
    assert_eq!(cb.counts(), Counts::default(), "a new closed generation");
    counts_fresh_calls(&cb);
}

#[test]
fn half_open_probe_success_after_a_lap_does_not_close() {
    probe_held_across_a_lap(0, false, |p| p.success());
}

#[test]
fn half_open_probe_failure_after_a_lap_does_not_reopen() {
    probe_held_across_a_lap(0, false, |p| p.failure());
}

#[test]
fn half_open_probe_success_after_a_lap_beside_a_fresh_probe_is_not_counted() {
    probe_held_across_a_lap(0, true, |p| p.success());
}

#[test]
fn second_lap_probe_success_after_a_lap_beside_a_fresh_probe_is_not_counted() {
    // The probe is admitted in the second lap of generations: whatever a permit
    // keeps of its lap must not read as the probe count of a later half-open word.
    probe_held_across_a_lap(1, true, |p| p.success());
}

#[test]
fn second_lap_probe_failure_after_a_lap_does_not_reopen() {
    probe_held_across_a_lap(1, false, |p| p.failure());
}

#[test]
fn closed_failure_after_a_lap_of_natural_flapping_changes_nothing() {
    // Each cycle is three generations (trip, half-open, close): LAP cycles are three
    // laps, back to the admitting generation's field value.
    let (cb, clock) = trip_on_first_failure();
    let held = cb.try_acquire().expect("closed admits");
    steps(&cb, LAP, 3, || {
        let _ = cb.call(|| Err::<(), _>(()));
        clock.advance(ms(2));
        let _ = cb.call(|| Ok::<_, ()>(()));
    });
    assert_eq!(cb.state(), State::Closed);
    let cycles = u64::from(LAP);
    let t = cb.totals();
    assert_eq!(
        (
            t.transitions(State::Closed, State::Open),
            t.transitions(State::Open, State::HalfOpen),
            t.transitions(State::HalfOpen, State::Closed),
            t.all_transitions(),
        ),
        (cycles, cycles, cycles, 3 * cycles),
    );
    let before = cb.totals();
    held.failure();
    a_stale_outcome_left_it_closed(&cb, &before);
}

/// A breaker that trips at `n` consecutive failures, on `clock`.
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
    steps(&cb, LAP, 1, || cb.reset());
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
    steps(&cb, LAP, 1, || cb.reset());
    cb.reconfigure(rule(1)).unwrap();
    held.failure();
    assert_eq!(cb.state(), State::Closed, "a stale failure tripped");
    assert_eq!(cb.counts(), Counts::default());
    let held = cb.try_acquire().unwrap();
    steps(&cb, LAP, 1, || cb.reset());
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

/// A breaker that trips at the first failure (and times its calls with
/// [`SLOW_CALLS`] if `timed`), whose HalfOpen -> Closed callback admits one call
/// (the word still has PENDING): the breaker, its clock and that call's permit.
fn pending_admission(timed: bool) -> (Arc<CircuitBreaker>, ManualClock, OwnedPermit) {
    let clock = ManualClock::new();
    let slot: Arc<OnceLock<std::sync::Weak<CircuitBreaker>>> = Arc::new(OnceLock::new());
    let kept: Arc<Mutex<Option<OwnedPermit>>> = Arc::new(Mutex::new(None));
    let (s, k) = (Arc::clone(&slot), Arc::clone(&kept));
    let cb = Arc::new(
        rule_timed(1, timed)
            .clock(clock.clone())
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
    let held = kept
        .lock()
        .unwrap()
        .take()
        .expect("the callback admitted one");
    (cb, clock, held)
}

/// The failure of a permit admitted while `PENDING` was set trips the breaker in
/// its generation.
fn pending_failure_trips(timed: bool) {
    let (cb, _clock, held) = pending_admission(timed);
    held.failure();
    assert_eq!(
        cb.state(),
        State::Open,
        "timed: {timed}: the failure of its generation trips"
    );
}

#[test]
fn pending_plain_permit_counts_in_its_generation() {
    let (cb, _clock, held) = pending_admission(false);
    held.success();
    assert_eq!(cb.counts().total_successes, 1, "{cb:?}");
    pending_failure_trips(false);
}

#[test]
fn pending_plain_permit_a_lap_old_is_stale() {
    let (cb, _clock, held) = pending_admission(false);
    steps(&cb, LAP, 1, || cb.reset());
    held.failure();
    assert_eq!(cb.state(), State::Closed, "a stale failure tripped");
    assert_eq!(cb.counts(), Counts::default());
    let (cb, _clock, held) = pending_admission(false);
    steps(&cb, LAP, 1, || cb.reset());
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
    steps(&cb, LAP - 2, 1, || cb.reset());
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
    steps(&cb, LAP, 1, || cb.reset());
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
    steps(&cb, LAP, 1, || cb.reset());
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
    steps(&cb, LAP, 1, || cb.reset());
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

// ---------------------------------------------------------------------------
// Timed permits (slow calls): the ticket holds the call's start time.
// ---------------------------------------------------------------------------

/// Calls of 10 ms or more are slow, and one slow call of one trips: a stale
/// success counted as a slow call opens the breaker.
const SLOW_CALLS: SlowCalls = SlowCalls::new(Duration::from_millis(10))
    .with_slow_rate_percent(100)
    .with_min_calls(1);

/// Past [`SLOW_CALLS`]' threshold.
const SLOW: Duration = Duration::from_millis(20);

/// [`trip_on_first_failure`] with [`SLOW_CALLS`]: every closed permit times its
/// call.
fn timed_trip_on_first_failure() -> (CircuitBreaker, ManualClock) {
    let clock = ManualClock::new();
    let cb = trips_at(1, &clock)
        .slow_calls(SLOW_CALLS)
        .build()
        .expect("valid settings");
    (cb, clock)
}

#[test]
fn timed_permits_count_in_their_generation() {
    // What the stale cases below report, reported in the generation that admitted
    // it: a failure trips, a slow success trips (counted slow), and so does an
    // owned permit's failure reported on another thread.
    let (cb, _clock) = timed_trip_on_first_failure();
    cb.try_acquire().expect("closed admits").failure();
    assert_eq!(
        cb.state(),
        State::Open,
        "the failure of its generation trips"
    );
    let (cb, clock) = timed_trip_on_first_failure();
    let held = cb.try_acquire().expect("closed admits");
    clock.advance(SLOW);
    held.success();
    assert_eq!(
        (cb.state(), cb.totals().slow_calls),
        (State::Open, 1),
        "the slow success of its generation trips"
    );
    let (cb, _clock) = timed_trip_on_first_failure();
    counts_fresh_calls(&cb);
    let cb = Arc::new(cb);
    let held = cb.try_acquire_owned().expect("closed admits");
    report_elsewhere_after(held, || {}, |p| p.failure());
    assert_eq!(
        cb.state(),
        State::Open,
        "the owned failure of its generation trips"
    );
}

#[test]
fn timed_closed_failure_after_a_lap_of_resets_changes_nothing() {
    let (cb, _clock) = timed_trip_on_first_failure();
    stale_after_laps_of_resets(&cb, 1, |p| p.failure());
}

#[test]
fn timed_closed_success_after_two_laps_of_resets_is_not_counted() {
    let (cb, _clock) = timed_trip_on_first_failure();
    stale_after_laps_of_resets(&cb, 2, |p| p.success());
}

#[test]
fn timed_slow_success_a_lap_later_is_neither_counted_nor_slow() {
    let (cb, clock) = timed_trip_on_first_failure();
    let held = cb.try_acquire().expect("closed admits");
    steps(&cb, LAP, 1, || cb.reset());
    clock.advance(SLOW);
    let before = cb.totals();
    held.success();
    a_stale_outcome_changed_nothing(&cb, &before);
}

#[test]
fn timed_owned_failure_on_another_thread_after_a_lap_of_force_open_and_reset() {
    let (cb, _clock) = timed_trip_on_first_failure();
    let cb = Arc::new(cb);
    let held = cb.try_acquire_owned().expect("closed admits");
    let mut before = None;
    report_elsewhere_after(
        held,
        || {
            steps(&cb, LAP / 2, 2, || {
                cb.force_open();
                cb.reset();
            });
            before = Some(cb.totals());
        },
        |p| p.failure(),
    );
    let before = before.expect("the lap ran");
    assert_eq!(
        before.transitions(State::Closed, State::Open),
        u64::from(LAP / 2)
    );
    a_stale_outcome_left_it_closed(&cb, &before);
}

#[test]
fn timed_owned_slow_success_on_another_thread_after_a_lap_of_resets() {
    let (cb, clock) = timed_trip_on_first_failure();
    let cb = Arc::new(cb);
    let held = cb.try_acquire_owned().expect("closed admits");
    let mut before = None;
    report_elsewhere_after(
        held,
        || {
            steps(&cb, LAP, 1, || cb.reset());
            clock.advance(SLOW);
            before = Some(cb.totals());
        },
        |p| p.success(),
    );
    a_stale_outcome_changed_nothing(&cb, &before.expect("the lap ran"));
}

#[test]
fn timed_closed_failure_after_a_lap_of_natural_flapping_changes_nothing() {
    // As `closed_failure_after_a_lap_of_natural_flapping_changes_nothing`: LAP
    // cycles of three generations. The clock moves 2 ms a cycle, so the held call
    // is slow by its report too.
    let (cb, clock) = timed_trip_on_first_failure();
    let held = cb.try_acquire().expect("closed admits");
    steps(&cb, LAP, 3, || {
        let _ = cb.call(|| Err::<(), _>(()));
        clock.advance(ms(2));
        let _ = cb.call(|| Ok::<_, ()>(()));
    });
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(cb.totals().all_transitions(), 3 * u64::from(LAP));
    let before = cb.totals();
    held.failure();
    a_stale_outcome_left_it_closed(&cb, &before);
}

#[test]
fn timed_interval_failure_after_a_lap_of_interval_expiries_changes_nothing() {
    // As `interval_closed_failure_after_a_lap_of_interval_expiries_changes_nothing`,
    // timed: each step lets the 1 ms interval pass and looks at the breaker.
    let clock = ManualClock::new();
    let cb = trips_at(1, &clock)
        .interval(ms(1))
        .slow_calls(SLOW_CALLS)
        .build()
        .expect("valid settings");
    let held = cb.try_acquire().expect("closed admits");
    steps(&cb, LAP, 1, || {
        clock.advance(ms(2));
        assert_eq!(cb.state(), State::Closed);
    });
    let before = cb.totals();
    held.failure();
    a_stale_outcome_changed_nothing(&cb, &before);
}

/// A time window that trips at one failure of one call, with [`SLOW_CALLS`]: the
/// timed record path.
fn timed_time_window() -> (CircuitBreaker, ManualClock) {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::builder("review")
        .timeout(ms(1))
        .clock(clock.clone())
        .time_window(
            TimeWindow::new(Duration::from_secs(10))
                .with_min_calls(1)
                .with_failure_rate_percent(50),
        )
        .slow_calls(SLOW_CALLS)
        .build()
        .expect("valid settings");
    (cb, clock)
}

/// On breakers `make` builds (trip at one failure, timed): a slow success of the
/// admitting generation trips one, and a failure trips another; `after_failure`
/// then checks what else the failure did.
fn timed_outcomes_trip(
    make: impl Fn() -> (CircuitBreaker, ManualClock),
    after_failure: impl FnOnce(),
) {
    let (cb, clock) = make();
    let held = cb.try_acquire().expect("closed admits");
    clock.advance(SLOW);
    held.success();
    assert_eq!(
        (cb.state(), cb.totals().slow_calls),
        (State::Open, 1),
        "the slow success of its generation trips"
    );
    let (cb, _clock) = make();
    cb.try_acquire().expect("closed admits").failure();
    after_failure();
    assert_eq!(
        cb.state(),
        State::Open,
        "the failure of its generation trips"
    );
}

/// Two timed permits of `cb` held across a lap of resets: a slow success, then
/// a failure, each changing nothing; `after_failure` checks what else the failure
/// did before the breaker is checked for fresh calls.
fn timed_outcomes_a_lap_old_are_stale(
    cb: &CircuitBreaker,
    clock: &ManualClock,
    after_failure: impl FnOnce(),
) {
    let slow = cb.try_acquire().expect("closed admits");
    let held = cb.try_acquire().expect("closed admits");
    steps(cb, LAP, 1, || cb.reset());
    clock.advance(SLOW);
    let before = cb.totals();
    slow.success();
    assert_eq!(
        (cb.state(), cb.counts(), cb.totals().slow_calls),
        (State::Closed, Counts::default(), 0),
        "a stale slow success tripped the breaker or was counted"
    );
    same_but_outcome(&before, &cb.totals());
    let before = cb.totals();
    held.failure();
    after_failure();
    a_stale_outcome_changed_nothing(cb, &before);
}

#[test]
fn timed_time_window_permits_count_in_their_generation() {
    timed_outcomes_trip(timed_time_window, || {});
}

#[test]
fn timed_time_window_permits_a_lap_old_are_stale() {
    let (cb, clock) = timed_time_window();
    timed_outcomes_a_lap_old_are_stale(&cb, &clock, || {});
}

/// A breaker that trips at the first failure, times its calls, and has `seen` for
/// an observer: the observed record path.
fn timed_observed(seen: &Arc<Seen>) -> (CircuitBreaker, ManualClock) {
    let clock = ManualClock::new();
    let cb = trips_at(1, &clock)
        .slow_calls(SLOW_CALLS)
        .observer(Arc::clone(seen))
        .build()
        .expect("valid settings");
    (cb, clock)
}

#[test]
fn timed_observed_permits_count_in_their_generation() {
    let seen = Arc::new(Seen::default());
    timed_outcomes_trip(
        || timed_observed(&seen),
        || assert_eq!(seen.0.load(Ordering::Relaxed), 1, "observers hear it"),
    );
}

#[test]
fn timed_observed_permits_a_lap_old_are_stale() {
    let seen = Arc::new(Seen::default());
    let (cb, clock) = timed_observed(&seen);
    timed_outcomes_a_lap_old_are_stale(&cb, &clock, || {
        assert_eq!(seen.0.load(Ordering::Relaxed), 1, "observers hear it")
    });
}

#[test]
fn pending_timed_permit_counts_in_its_generation() {
    let (cb, clock, held) = pending_admission(true);
    clock.advance(SLOW);
    held.success();
    assert_eq!(
        (cb.state(), cb.totals().slow_calls),
        (State::Open, 1),
        "the slow success of its generation trips"
    );
    pending_failure_trips(true);
}

#[test]
fn pending_timed_permit_a_lap_old_is_stale() {
    let (cb, clock, held) = pending_admission(true);
    steps(&cb, LAP, 1, || cb.reset());
    clock.advance(SLOW);
    let before = cb.totals();
    held.success();
    a_stale_outcome_left_it_closed(&cb, &before);
}

// Reconfiguration: slow calls on and off around held permits (the same
// generation: the counts are kept).

/// `rule(n)`, with slow calls if `timed`.
fn rule_timed(n: u32, timed: bool) -> warden_breaker::Builder {
    if timed {
        rule(n).slow_calls(SLOW_CALLS)
    } else {
        rule(n)
    }
}

/// A permit admitted with slow calls on (`timed`) or off, reported after a
/// reconfiguration turned them the other way in the same generation: a failure
/// counts, and a success counts and is never slow (an untimed call has no start
/// time; a timed one has no rule left to judge it).
fn held_across_a_slow_calls_change_counts(timed: bool) {
    let clock = ManualClock::new();
    let build = || rule_timed(2, timed).clock(clock.clone()).build().unwrap();
    let cb = build();
    let held = cb.try_acquire().unwrap();
    let _ = cb.call(|| Err::<(), _>(()));
    cb.reconfigure(rule_timed(2, !timed)).unwrap();
    assert_eq!(cb.counts().consecutive_failures, 1, "counts kept");
    held.failure();
    assert_eq!(cb.state(), State::Open, "the held failure was not counted");
    let cb = build();
    let held = cb.try_acquire().unwrap();
    cb.reconfigure(rule_timed(2, !timed)).unwrap();
    clock.advance(SLOW);
    held.success();
    assert_eq!(
        (
            cb.state(),
            cb.counts().total_successes,
            cb.totals().slow_calls
        ),
        (State::Closed, 1, 0),
        "timed: {timed}: the held success was not counted, or counted slow"
    );
}

#[test]
fn untimed_permit_counts_after_slow_calls_are_added() {
    held_across_a_slow_calls_change_counts(false);
}

#[test]
fn untimed_permit_a_lap_old_is_stale_after_slow_calls_are_added() {
    let clock = ManualClock::new();
    let cb = trips_at(1, &clock).build().unwrap();
    let held = cb.try_acquire().unwrap();
    steps(&cb, LAP, 1, || cb.reset());
    cb.reconfigure(rule(1).slow_calls(SLOW_CALLS)).unwrap();
    let before = cb.totals();
    held.failure();
    a_stale_outcome_changed_nothing(&cb, &before);
}

#[test]
fn timed_permit_counts_after_slow_calls_are_removed() {
    held_across_a_slow_calls_change_counts(true);
}

#[test]
fn timed_permit_a_lap_old_is_stale_after_slow_calls_are_removed() {
    let clock = ManualClock::new();
    let cb = trips_at(1, &clock).slow_calls(SLOW_CALLS).build().unwrap();
    let held = cb.try_acquire().unwrap();
    steps(&cb, LAP, 1, || cb.reset());
    cb.reconfigure(rule(1)).unwrap();
    let before = cb.totals();
    held.failure();
    a_stale_outcome_changed_nothing(&cb, &before);
}

#[test]
fn timed_disabled_failure_after_a_lap_of_disable_commands_is_not_counted() {
    // A disabled admission is timed too (the slow-call rule is not evaluated
    // there, but the ticket holds the start time all the same).
    let (cb, _clock) = timed_trip_on_first_failure();
    disabled_outcome_after_a_lap_of_disable_commands(&cb, |p| p.failure());
}

#[test]
fn timed_disabled_success_after_a_lap_of_disable_commands_is_not_counted() {
    let (cb, _clock) = timed_trip_on_first_failure();
    disabled_outcome_after_a_lap_of_disable_commands(&cb, |p| p.success());
}

#[test]
fn timed_disabled_outcomes_count_in_their_generation() {
    let (cb, _clock) = timed_trip_on_first_failure();
    cb.disable();
    let held = cb.try_acquire().expect("disabled admits");
    let other = cb.try_acquire().expect("disabled admits");
    held.failure();
    other.success();
    assert_eq!(
        (cb.state(), cb.mode()),
        (State::Closed, Mode::Disabled),
        "disabled never trips"
    );
    let c = cb.counts();
    assert_eq!(
        (c.requests, c.total_failures, c.total_successes),
        (2, 1, 1),
        "the outcomes of their generation count"
    );
}

// ---------------------------------------------------------------------------
// Manual words that hold their lap: a manual word without a deadline (forced
// open, forced closed, disabled) holds its generation's lap, as a plain-closed
// word does. Permits held across exactly 2^20 (and 2^21) generation changes that
// begin or end in such a word are stale there; a fresh permit of such a word
// counts once the lap is no longer 0, whichever word the command replaced (one
// that holds its lap, or one whose lap comes from the generation word); commands
// issued from inside a state-change callback across a lap are delivered as their
// net change.
// ---------------------------------------------------------------------------

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
    steps(cb, laps * LAP, 1, || cb.disable());
    let before = cb.totals();
    report(held);
    assert_eq!((cb.state(), cb.mode()), (State::Closed, Mode::Disabled));
    assert_eq!(
        cb.counts(),
        Counts::default(),
        "a stale outcome was counted"
    );
    same_but_outcome(&before, &cb.totals());
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
    steps(&cb, LAP, 1, || cb.disable());
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
            steps(&cb, laps * LAP + 3, 1, || cb.reset());
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
    steps(&cb, LAP + 7, 1, || cb.reset());
    cb.disable();
    counts_one_of_each(&cb);
    assert_eq!(cb.mode(), Mode::Disabled);
}

/// A permit admitted after `admit_in`, held while `lap` makes exactly 2^20
/// generation changes: its success or failure leaves the breaker closed in
/// `mode`, counts nothing and moves only the totals; a disabled breaker then still
/// counts fresh calls.
fn stale_a_lap_later(admit_in: fn(&CircuitBreaker), lap: fn(&CircuitBreaker), mode: Mode) {
    let reports: [Report; 2] = [|p| p.success(), |p| p.failure()];
    for report in reports {
        let (cb, _clock) = trip_on_first_failure();
        admit_in(&cb);
        let held = cb.try_acquire().expect("admits");
        lap(&cb);
        let before = cb.totals();
        report(held);
        assert_eq!((cb.state(), cb.mode()), (State::Closed, mode));
        assert_eq!(
            cb.counts(),
            Counts::default(),
            "a stale outcome was counted"
        );
        same_but_outcome(&before, &cb.totals());
        if mode == Mode::Disabled {
            counts_one_of_each(&cb);
        }
    }
}

#[test]
fn disabled_permit_a_lap_old_is_stale_in_a_plain_closed_word() {
    // The lap ends on a reset: a plain-closed word of the permit's 20 bits.
    stale_a_lap_later(
        |cb| cb.disable(),
        |cb| steps(cb, LAP, 1, || cb.reset()),
        Mode::Normal,
    );
}

#[test]
fn closed_permit_a_lap_old_is_stale_in_a_disabled_word() {
    // Admitted plain closed (the ticket is the word, lap included); the lap ends
    // on a disable command: a disabled word of the permit's 20 bits.
    stale_a_lap_later(
        |_| {},
        |cb| {
            steps(cb, LAP - 1, 1, || cb.reset());
            cb.disable();
        },
        Mode::Disabled,
    );
}

#[test]
fn forced_closed_permit_a_lap_old_is_stale_in_a_disabled_word() {
    // A forced-closed permit and a disabled one are the same kind of ticket: only
    // the full generation tells them apart.
    stale_a_lap_later(
        |cb| cb.force_closed(),
        |cb| {
            steps(cb, LAP - 1, 1, || cb.force_closed());
            cb.disable();
        },
        Mode::Disabled,
    );
}

#[test]
fn forced_closed_counts_nothing_and_never_trips_a_lap_on() {
    let (cb, _clock) = trip_on_first_failure();
    steps(&cb, LAP + 1, 1, || cb.force_closed());
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
    report_elsewhere_after(
        held,
        || steps(&cb, LAP, 1, || cb.disable()),
        |p| p.success(),
    );
    assert_eq!(
        cb.counts(),
        Counts::default(),
        "a stale success was counted"
    );
}

/// A stale outcome leaves the current generation's counts alone, whatever their
/// 20 bits: a failure of a permit held across exactly a lap of resets (so the
/// current generation has its 20 bits, and has counted two failures and an
/// ignored call) and across 2^18 resets (the lateness from which an outcome that
/// wrote forgets its generation's words, see `CircuitBreaker::forget_if_late`).
/// Found in review of the claims: forgetting on every outcome that found the
/// breaker that far on, written or not, wiped the current generation's words
/// that carried the stale permit's 20 bits.
#[test]
fn a_stale_failure_leaves_the_current_generations_counts_whatever_their_bits() {
    for resets in [LAP, 2 * LAP, 1 << 18, (1 << 18) + 1] {
        let cb = CircuitBreaker::builder("wrap").build().expect("valid");
        let permit = cb.try_acquire().expect("closed admits");
        for _ in 0..resets {
            cb.reset();
        }
        for _ in 0..2 {
            assert!(cb.call(|| Err::<(), _>(())).is_err(), "closed admits");
        }
        let ignored = cb.try_acquire().expect("closed admits");
        ignored.ignore();
        let before = cb.counts();
        assert_eq!(
            (
                before.total_failures,
                before.consecutive_failures,
                before.total_exclusions
            ),
            (2, 2, 1)
        );
        permit.failure();
        assert_eq!(cb.counts(), before, "after {resets} resets: {cb:?}");
        assert_eq!(cb.state(), State::Closed);
    }
}
