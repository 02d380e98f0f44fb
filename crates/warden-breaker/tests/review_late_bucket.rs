//! A late write (2^20 - 1 generation changes inside a stale outcome's
//! check-to-write window, made by a clock hook, followed by three current
//! failures) over a bucket slot or a counter word the current generation has
//! already written, found in review of `a0acb60`, where both cases failed:
//!
//! * the stale success claimed the time window's slot (the current generation's
//!   tag read as older to it, and an older slot was claimed without asking),
//!   and the current generation's next outcome took it back with a snapshot
//!   taken then: every call counted in the bucket before the late write left
//!   the window (four failures of four calls did not trip);
//! * the stale failure re-tagged the failure word the same way, and the next
//!   current failure reset it: the generation's three earlier failures were
//!   gone from its counts.
//!
//! Both now ask whether their generation is still current before re-tagging a
//! word of another generation (`counters::retag_allowed`, `Buckets::rotate`),
//! and leave it. The controls make one reset instead of 2^20 - 1.
#![cfg(not(loom))]

use std::sync::Arc;
use std::time::Duration;

use warden_breaker::{CircuitBreaker, SlowCalls, State, TimeWindow};

mod hook_clock;
use hook_clock::HookClock;

const LAP: u32 = 1 << 20;

/// A breaker built by `builder` on a [`HookClock`], whose first call's `report`
/// (a stale one: the hook makes `resets` changes and three current failures at
/// its clock read) is followed by one more current failure.
fn late_report_then_one_failure(
    builder: warden_breaker::Builder,
    resets: u32,
    report: impl FnOnce(warden_breaker::Permit<'_>),
) -> Arc<CircuitBreaker> {
    let (cb, clock) = HookClock::breaker(builder, 0);
    let permit = cb.try_acquire().expect("closed admits");
    clock.arm(move |cb, _| {
        for _ in 0..resets {
            cb.reset();
        }
        for _ in 0..3 {
            assert!(cb.call(|| Err::<(), _>(())).is_err(), "closed admits");
        }
        assert_eq!(cb.state(), State::Closed, "3 of a minimum of 4");
        None
    });
    report(permit); // stale: `resets` changes happen at its clock read
    assert_eq!(clock.runs(), 1, "the hook ran once");
    assert_eq!(cb.state(), State::Closed);
    let c = cb.counts();
    assert_eq!(
        (c.total_failures, c.total_successes),
        (3, 0),
        "the stale outcome counted: {cb:?}"
    );
    assert!(cb.call(|| Err::<(), _>(())).is_err(), "closed admits");
    cb
}

/// One bucket, 100 % of at least 4 calls; the late outcome is a success.
fn late_success_then_one_failure(resets: u32) -> Arc<CircuitBreaker> {
    let builder = CircuitBreaker::builder("late-bucket").time_window(
        TimeWindow::new(Duration::from_millis(10))
            .with_buckets(1)
            .with_min_calls(4)
            .with_failure_rate_percent(100),
    );
    late_report_then_one_failure(builder, resets, |p| p.success())
}

#[test]
fn a_late_success_a_lap_less_one_behind_keeps_the_bucket_s_earlier_failures_in_the_window() {
    let cb = late_success_then_one_failure(LAP - 1);
    assert_eq!(
        cb.state(),
        State::Open,
        "4 failures of 4 calls in one bucket did not trip: {cb:?}"
    );
}

#[test]
fn control_a_late_success_one_behind_then_one_failure_trips() {
    let cb = late_success_then_one_failure(1);
    assert_eq!(cb.state(), State::Open, "{cb:?}");
}

/// The shared failure word, the same shape: a late *failure* (a lap less one
/// behind) reaches the word after the current generation counted three
/// failures, and must leave it (the word's tag reads as older to it).
fn late_failure_then_one_failure(resets: u32) -> Arc<CircuitBreaker> {
    let builder =
        CircuitBreaker::builder("late-failure").slow_calls(SlowCalls::new(Duration::from_secs(1)));
    late_report_then_one_failure(builder, resets, |p| p.failure())
}

#[test]
fn a_late_failure_a_lap_less_one_behind_keeps_the_generation_s_earlier_failures() {
    let cb = late_failure_then_one_failure(LAP - 1);
    let c = cb.counts();
    assert_eq!(
        (c.total_failures, c.consecutive_failures),
        (4, 4),
        "the current generation's failures before the late write: {cb:?}"
    );
}

#[test]
fn control_a_late_failure_one_behind_keeps_the_generation_s_failures() {
    let cb = late_failure_then_one_failure(1);
    let c = cb.counts();
    assert_eq!((c.total_failures, c.consecutive_failures), (4, 4), "{cb:?}");
}

/// A late failure exactly a lap behind would find the word tagged with the
/// current generation's 20 bits, its own, and count there; but the failure
/// claims its generation's 20 bits before it checks its generation (see
/// `claims.rs`), so the resets skip the one generation that would have had them,
/// and the word the late failure finds is another generation's: it asks, and
/// leaves it.
#[test]
fn a_late_failure_exactly_a_lap_behind_keeps_the_generation_s_failures() {
    let cb = late_failure_then_one_failure(LAP);
    let c = cb.counts();
    assert_eq!((c.total_failures, c.consecutive_failures), (4, 4), "{cb:?}");
}
