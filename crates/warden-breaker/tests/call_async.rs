//! `CircuitBreaker::call_async`: outcomes, rejections that never build the
//! future, a dropped future giving its half-open slot back, and a panic caught
//! further out still counting as a failure. Futures are polled by hand with a
//! no-op waker, so every step is deterministic.

use std::cell::Cell;
use std::future::{Future, pending};
use std::panic::{self, AssertUnwindSafe};
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use warden_breaker::{CircuitBreaker, Error, ManualClock, Outcome, Rejected, State};

fn poll_once<F: Future>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// Trips after 1 consecutive failure, 1 s timeout, one probe.
fn breaker() -> (CircuitBreaker, ManualClock) {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::builder("async")
        .max_requests(1)
        .timeout(Duration::from_secs(1))
        .ready_to_trip(|c| c.consecutive_failures >= 1)
        .clock(clock.clone())
        .build()
        .expect("valid settings");
    (cb, clock)
}

fn half_open() -> (CircuitBreaker, ManualClock) {
    let (cb, clock) = breaker();
    assert!(cb.call(|| Err::<(), _>("down")).is_err());
    assert_eq!(cb.state(), State::Open);
    clock.advance(Duration::from_millis(1_001));
    assert_eq!(cb.state(), State::HalfOpen);
    (cb, clock)
}

#[test]
fn outcomes_are_recorded_and_results_returned_unchanged() {
    let (cb, _clock) = breaker();
    let ok = pin!(cb.call_async(|| async { Ok::<_, &str>(7) }));
    assert!(matches!(poll_once(ok), Poll::Ready(Ok(7))));
    assert_eq!(cb.counts().total_successes, 1);

    let err = pin!(cb.call_async(|| async { Err::<u32, _>("boom") }));
    assert!(matches!(
        poll_once(err),
        Poll::Ready(Err(Error::Inner("boom")))
    ));
    // The failure tripped the breaker (a new generation starts with zero counts).
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn a_classifier_decides_what_the_result_means() {
    let (cb, _clock) = breaker();
    let fut = pin!(cb.call_async_with(
        || async { Err::<(), u16>(404) },
        |r| match r {
            Err(code) if *code < 500 => Outcome::Ignored,
            Err(_) => Outcome::Failure,
            Ok(_) => Outcome::Success,
        }
    ));
    assert!(matches!(
        poll_once(fut),
        Poll::Ready(Err(Error::Inner(404)))
    ));
    assert_eq!(cb.counts().total_exclusions, 1);
    assert_eq!(cb.state(), State::Closed);
}

#[test]
fn a_rejected_call_never_builds_its_future() {
    let (cb, _clock) = breaker();
    cb.force_open();
    let built = Cell::new(false);
    let fut = pin!(cb.call_async(|| {
        built.set(true);
        async { Ok::<(), ()>(()) }
    }));
    assert!(matches!(
        poll_once(fut),
        Poll::Ready(Err(Error::Rejected(Rejected::Open)))
    ));
    assert!(!built.get());
}

#[test]
fn admission_waits_for_the_first_poll() {
    let (cb, _clock) = breaker();
    let fut = cb.call_async(|| async { Ok::<(), ()>(()) });
    assert_eq!(cb.counts().requests, 0, "building the future asks nothing");
    drop(fut);
    assert_eq!(cb.counts().requests, 0);
}

#[test]
fn a_dropped_probe_gives_its_half_open_slot_back() {
    let (cb, _clock) = half_open();
    {
        let mut probe = Box::pin(cb.call_async(pending::<Result<(), ()>>));
        assert!(poll_once(probe.as_mut()).is_pending());
        // The only probe slot is held: a second call is refused.
        assert!(matches!(
            cb.call(|| Ok::<_, ()>(())),
            Err(Error::Rejected(Rejected::TooManyRequests))
        ));
    } // dropped mid-flight, like a cancelled request
    assert_eq!(cb.state(), State::HalfOpen);
    assert_eq!(cb.counts().total_failures, 0);
    assert!(cb.call(|| Ok::<_, ()>(())).is_ok(), "the slot came back");
    assert_eq!(cb.state(), State::Closed);
}

/// A future that panics when polled.
async fn panics() -> Result<(), ()> {
    panic!("the guarded future panicked")
}

#[test]
fn a_panic_caught_further_out_counts_as_a_failure() {
    let cb = CircuitBreaker::builder("never-trips")
        .ready_to_trip(|c| c.consecutive_failures > 100)
        .build()
        .expect("valid settings");
    let mut fut = Box::pin(cb.call_async(panics));
    // What tower-http's CatchPanic or `catch_unwind` around a task does: the panic
    // is caught, and the future itself is dropped later, after unwinding ended.
    let caught = panic::catch_unwind(AssertUnwindSafe(|| poll_once(fut.as_mut())));
    assert!(caught.is_err());
    assert_eq!(
        cb.counts().total_failures,
        1,
        "recorded before the panic left the future"
    );
    drop(fut);
    assert_eq!(cb.counts().total_failures, 1, "and only once");
}

#[test]
fn a_panicking_probe_reopens_the_breaker() {
    let (cb, _clock) = half_open();
    let mut fut = Box::pin(cb.call_async(panics));
    assert!(panic::catch_unwind(AssertUnwindSafe(|| poll_once(fut.as_mut()))).is_err());
    drop(fut);
    assert_eq!(cb.state(), State::Open);
}

#[test]
fn the_future_is_send_when_its_parts_are() {
    fn assert_send<T: Send>(_: &T) {}
    let (cb, _clock) = breaker();
    let fut = cb.call_async(|| async { Ok::<u8, String>(1) });
    assert_send(&fut);
}

#[tokio::test]
async fn works_on_a_runtime_across_awaits() {
    let (cb, _clock) = breaker();
    let r = cb
        .call_async(|| async {
            tokio::task::yield_now().await;
            Ok::<_, std::io::Error>("done")
        })
        .await;
    assert_eq!(r.ok(), Some("done"));
    assert_eq!(cb.counts().total_successes, 1);
}
