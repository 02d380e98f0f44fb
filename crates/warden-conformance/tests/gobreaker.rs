//! sony/gobreaker's own test suite, re-expressed in Rust and run against both
//! the lock-free breaker and the mutex reference.
//!
//! gobreaker's tests move time with `pseudoSleep` (shifting the expiry back)
//! and rely on a little real time passing; here a `ManualClock` moves instead,
//! and since expiry is strict (`expiry < now`) at 1 ms resolution, "over the
//! timeout" is one millisecond past it. Each boundary is also checked at
//! exactly the deadline, where the breaker must not have moved yet.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use warden_breaker::{
    Breaker, BreakerPermit, Counts, Error, ManualClock, Outcome, Rejected, Settings, State,
};

/// gobreaker's `Counts{Requests, TotalSuccesses, TotalFailures, ConsecutiveSuccesses, ConsecutiveFailures}`.
fn c(
    requests: u32,
    total_successes: u32,
    total_failures: u32,
    consecutive_successes: u32,
    consecutive_failures: u32,
) -> Counts {
    Counts {
        requests,
        total_successes,
        total_failures,
        total_exclusions: 0,
        consecutive_successes,
        consecutive_failures,
    }
}

const MS: Duration = Duration::from_millis(1);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

type Changes = Arc<Mutex<Vec<(String, State, State)>>>;

/// A breaker implementation under test.
trait Make: Breaker + Sized {
    fn make(settings: Settings) -> Self;
}

impl Make for warden_breaker::CircuitBreaker {
    fn make(settings: Settings) -> Self {
        Self::from_settings(settings)
    }
}

impl Make for warden_mutex::CircuitBreaker {
    fn make(settings: Settings) -> Self {
        Self::from_settings(settings)
    }
}

fn succeed<B: Breaker>(cb: &B) -> Result<(), Error<&'static str>> {
    cb.call(|| Ok(()))
}

fn fail<B: Breaker>(cb: &B) -> Result<(), Error<&'static str>> {
    match cb.call(|| Err("fail")) {
        Err(Error::Inner("fail")) => Ok(()),
        Err(e) => Err(e),
        Ok(()) => unreachable!("the call always fails"),
    }
}

fn new_default<B: Make>() -> (B, ManualClock) {
    let clock = ManualClock::new();
    let s = warden_breaker::CircuitBreaker::builder("")
        .clock(clock.clone())
        .settings()
        .expect("valid");
    (B::make(s), clock)
}

/// gobreaker's `newCustom()`: MaxRequests 3, Interval 30 s, Timeout 90 s, trip on a
/// failure ratio >= 0.6 with at least 3 requests, state changes recorded.
fn new_custom<B: Make>() -> (B, ManualClock, Changes) {
    let clock = ManualClock::new();
    let changes: Changes = Arc::default();
    let log = Arc::clone(&changes);
    let s = warden_breaker::CircuitBreaker::builder("cb")
        .max_requests(3)
        .interval(secs(30))
        .timeout(secs(90))
        .ready_to_trip(|counts: &Counts| {
            let ratio = f64::from(counts.total_failures) / f64::from(counts.requests);
            counts.requests >= 3 && ratio >= 0.6
        })
        .on_state_change(move |name, from, to| {
            log.lock().unwrap().push((name.to_owned(), from, to))
        })
        .clock(clock.clone())
        .settings()
        .expect("valid");
    (B::make(s), clock, changes)
}

fn last(changes: &Changes) -> (String, State, State) {
    changes
        .lock()
        .unwrap()
        .last()
        .cloned()
        .expect("a state change was recorded")
}

fn new_circuit_breaker<B: Make>() {
    let (cb, _clock) = new_default::<B>();
    assert_eq!(cb.name(), "");
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(cb.counts(), Counts::default());

    let (custom, _clock, _) = new_custom::<B>();
    assert_eq!(custom.name(), "cb");
    assert_eq!(custom.state(), State::Closed);
    assert_eq!(custom.counts(), Counts::default());
}

fn default_circuit_breaker<B: Make>() {
    let (cb, clock) = new_default::<B>();
    for _ in 0..5 {
        assert_eq!(fail(&cb), Ok(()));
    }
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(cb.counts(), c(5, 0, 5, 0, 5));

    assert_eq!(succeed(&cb), Ok(()));
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(cb.counts(), c(6, 1, 5, 1, 0));

    assert_eq!(fail(&cb), Ok(()));
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(cb.counts(), c(7, 1, 6, 0, 1));

    // Closed -> Open: 6 consecutive failures.
    for _ in 0..5 {
        assert_eq!(fail(&cb), Ok(()));
    }
    assert_eq!(cb.state(), State::Open);
    assert_eq!(cb.counts(), c(0, 0, 0, 0, 0));
    assert_eq!(succeed(&cb), Err(Error::Rejected(Rejected::Open)));
    assert_eq!(fail(&cb), Err(Error::Rejected(Rejected::Open)));
    assert_eq!(cb.counts(), c(0, 0, 0, 0, 0));

    clock.advance(secs(59));
    assert_eq!(cb.state(), State::Open);
    clock.advance(secs(1)); // exactly the timeout: still open (strict expiry)
    assert_eq!(cb.state(), State::Open);

    // Open -> HalfOpen.
    clock.advance(MS);
    assert_eq!(cb.state(), State::HalfOpen);

    // HalfOpen -> Open.
    assert_eq!(fail(&cb), Ok(()));
    assert_eq!(cb.state(), State::Open);
    assert_eq!(cb.counts(), c(0, 0, 0, 0, 0));

    // Open -> HalfOpen.
    clock.advance(secs(60) + MS);
    assert_eq!(cb.state(), State::HalfOpen);

    // HalfOpen -> Closed.
    assert_eq!(succeed(&cb), Ok(()));
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(cb.counts(), c(0, 0, 0, 0, 0));
}

fn custom_circuit_breaker<B: Make>() {
    let (cb, clock, changes) = new_custom::<B>();
    for _ in 0..5 {
        assert_eq!(succeed(&cb), Ok(()));
        assert_eq!(fail(&cb), Ok(()));
    }
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(cb.counts(), c(10, 5, 5, 0, 1));

    clock.advance(secs(29));
    assert_eq!(succeed(&cb), Ok(()));
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(cb.counts(), c(11, 6, 5, 1, 0));

    clock.advance(secs(1)); // exactly the interval: not expired yet
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(cb.counts(), c(11, 6, 5, 1, 0));
    clock.advance(MS); // over the interval
    assert_eq!(fail(&cb), Ok(()));
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(cb.counts(), c(1, 0, 1, 0, 1));

    // Closed -> Open: failure ratio 2/3 >= 0.6.
    assert_eq!(succeed(&cb), Ok(()));
    assert_eq!(fail(&cb), Ok(()));
    assert_eq!(cb.state(), State::Open);
    assert_eq!(cb.counts(), c(0, 0, 0, 0, 0));
    assert_eq!(
        last(&changes),
        ("cb".to_owned(), State::Closed, State::Open)
    );

    // Open -> HalfOpen.
    clock.advance(secs(90) + MS);
    assert_eq!(cb.state(), State::HalfOpen);
    assert_eq!(
        last(&changes),
        ("cb".to_owned(), State::Open, State::HalfOpen)
    );

    assert_eq!(succeed(&cb), Ok(()));
    assert_eq!(succeed(&cb), Ok(()));
    assert_eq!(cb.state(), State::HalfOpen);
    assert_eq!(cb.counts(), c(2, 2, 0, 2, 0));

    // HalfOpen -> Closed: the third probe is in flight ("succeedLater").
    let probe = cb.try_acquire().expect("third probe admitted");
    assert_eq!(cb.counts(), c(3, 2, 0, 2, 0));
    assert_eq!(
        succeed(&cb),
        Err(Error::Rejected(Rejected::TooManyRequests))
    ); // over MaxRequests
    probe.record(Outcome::Success);
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(cb.counts(), c(0, 0, 0, 0, 0));
    assert_eq!(
        last(&changes),
        ("cb".to_owned(), State::HalfOpen, State::Closed)
    );
    assert_eq!(changes.lock().unwrap().len(), 3);
}

fn two_step_circuit_breaker<B: Make>() {
    let (cb, clock) = new_default::<B>();
    let step = |ok: bool| -> Result<(), Rejected> {
        let p = cb.try_acquire()?;
        p.record(if ok {
            Outcome::Success
        } else {
            Outcome::Failure
        });
        Ok(())
    };
    for _ in 0..5 {
        assert_eq!(step(false), Ok(()));
    }
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(cb.counts(), c(5, 0, 5, 0, 5));
    assert_eq!(step(true), Ok(()));
    assert_eq!(cb.counts(), c(6, 1, 5, 1, 0));
    assert_eq!(step(false), Ok(()));
    assert_eq!(cb.counts(), c(7, 1, 6, 0, 1));
    for _ in 0..5 {
        assert_eq!(step(false), Ok(()));
    }
    assert_eq!(cb.state(), State::Open);
    assert_eq!(cb.counts(), c(0, 0, 0, 0, 0));
    assert_eq!(step(true), Err(Rejected::Open));
    assert_eq!(step(false), Err(Rejected::Open));
    clock.advance(secs(59));
    assert_eq!(cb.state(), State::Open);
    clock.advance(secs(1) + MS);
    assert_eq!(cb.state(), State::HalfOpen);
    assert_eq!(step(false), Ok(()));
    assert_eq!(cb.state(), State::Open);
    clock.advance(secs(60) + MS);
    assert_eq!(cb.state(), State::HalfOpen);
    assert_eq!(step(true), Ok(()));
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(cb.counts(), c(0, 0, 0, 0, 0));
}

fn panic_in_request<B: Make>() {
    let (cb, _clock) = new_default::<B>();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = cb.call(|| -> Result<(), ()> { panic!("oops") });
    }));
    let payload = caught.expect_err("the panic propagates to the caller");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"oops"),
        "the same panic value"
    );
    assert_eq!(cb.counts(), c(1, 0, 1, 0, 1));
}

fn generation<B: Make>() {
    let (cb, clock, _) = new_custom::<B>();
    clock.advance(secs(29));
    assert_eq!(succeed(&cb), Ok(()));
    let later = cb.try_acquire().expect("admitted");
    assert_eq!(cb.counts(), c(2, 1, 0, 1, 0));
    clock.advance(secs(1) + MS); // over the interval
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(cb.counts(), c(0, 0, 0, 0, 0));
    // The request from the previous generation has no effect.
    later.record(Outcome::Success);
    assert_eq!(cb.counts(), c(0, 0, 0, 0, 0));
}

fn custom_is_successful<B: Make>() {
    let (cb, _clock) = new_default::<B>();
    let always_ok = |_: &Result<(), &str>| Outcome::Success;
    for _ in 0..5 {
        assert_eq!(
            cb.call_with(|| Err("fail"), always_ok),
            Err(Error::Inner("fail"))
        );
    }
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(cb.counts(), c(5, 5, 0, 5, 0));
    for _ in 0..6 {
        let _ = fail(&cb);
    }
    assert_eq!(cb.state(), State::Open);
}

fn excluded_outcomes<B: Make>() {
    // gobreaker v2.4 IsExcluded: neutral outcomes count only as exclusions and
    // neither extend nor break streaks; in half-open they free their slot.
    let (cb, clock) = new_default::<B>();
    let exclude = |_: &Result<(), &str>| Outcome::Ignored;
    assert_eq!(succeed(&cb), Ok(()));
    assert_eq!(
        cb.call_with(|| Err("cancelled"), exclude),
        Err(Error::Inner("cancelled"))
    );
    assert_eq!(succeed(&cb), Ok(()));
    assert_eq!(
        cb.counts(),
        Counts {
            total_exclusions: 1,
            ..c(3, 2, 0, 2, 0)
        }
    );
    for _ in 0..6 {
        let _ = fail(&cb);
    }
    clock.advance(secs(60) + MS);
    assert_eq!(cb.state(), State::HalfOpen);
    let probe = cb.try_acquire().expect("probe");
    assert_eq!(cb.try_acquire().err(), Some(Rejected::TooManyRequests));
    probe.record(Outcome::Ignored);
    assert_eq!(
        cb.counts(),
        Counts {
            total_exclusions: 1,
            ..c(1, 0, 0, 0, 0)
        }
    );
    let probe = cb.try_acquire().expect("the excluded probe freed its slot");
    assert_eq!(
        cb.counts(),
        Counts {
            total_exclusions: 1,
            ..c(2, 0, 0, 0, 0)
        }
    );
    probe.record(Outcome::Success);
    assert_eq!(cb.state(), State::Closed);
}

fn dropped_probe_releases_its_slot<B: Make>() {
    let (cb, clock) = new_default::<B>();
    for _ in 0..6 {
        let _ = fail(&cb);
    }
    clock.advance(secs(60) + MS);
    let probe = cb.try_acquire().expect("probe");
    assert_eq!(cb.try_acquire().err(), Some(Rejected::TooManyRequests));
    drop(probe); // a cancelled future
    assert_eq!(cb.state(), State::HalfOpen);
    assert_eq!(cb.counts(), c(1, 0, 0, 0, 0));
    assert_eq!(succeed(&cb), Ok(()));
    assert_eq!(cb.state(), State::Closed);
}

fn interval_reanchors_at_observation<B: Make>() {
    let (cb, clock, _) = new_custom::<B>();
    assert_eq!(succeed(&cb), Ok(()));
    clock.advance(secs(75)); // two intervals and a half pass unobserved
    assert_eq!(cb.state(), State::Closed); // reset here: next expiry at 75 s + 30 s
    assert_eq!(succeed(&cb), Ok(()));
    clock.advance(secs(30));
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(
        cb.counts(),
        c(1, 1, 0, 1, 0),
        "not reset at 90 s: windows drift to the observation time"
    );
    clock.advance(MS);
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(cb.counts(), c(0, 0, 0, 0, 0));
}

fn parallel<B: Make + 'static>() {
    let (cb, _clock, _) = new_custom::<B>();
    let cb = Arc::new(cb);
    const THREADS: u32 = 10;
    const CALLS: u32 = 10_000;
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let cb = Arc::clone(&cb);
            std::thread::spawn(move || {
                for _ in 0..CALLS {
                    assert_eq!(succeed(&*cb), Ok(()));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("no thread panicked");
    }
    let total = THREADS * CALLS;
    assert_eq!(cb.counts(), c(total, total, 0, total, 0));
}

fn callback_may_reenter<B: Make + 'static>() {
    let clock = ManualClock::new();
    let slot: Arc<std::sync::OnceLock<std::sync::Weak<B>>> = Arc::default();
    let seen: Arc<Mutex<Vec<(State, Counts)>>> = Arc::default();
    let (slot2, seen2) = (Arc::clone(&slot), Arc::clone(&seen));
    let s = warden_breaker::CircuitBreaker::builder("re")
        .clock(clock.clone())
        .on_state_change(move |_, _, _| {
            // gobreaker deadlocks here (issue #37).
            if let Some(cb) = slot2.get().and_then(std::sync::Weak::upgrade) {
                seen2.lock().unwrap().push((cb.state(), cb.counts()));
            }
        })
        .settings()
        .expect("valid");
    let cb = Arc::new(B::make(s));
    slot.set(Arc::downgrade(&cb)).ok();
    for _ in 0..6 {
        let _ = fail(&*cb);
    }
    assert_eq!(cb.state(), State::Open);
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        &[(State::Open, Counts::default())]
    );
}

macro_rules! suite {
    ($module:ident, $ty:ty) => {
        mod $module {
            #[test]
            fn new_circuit_breaker() {
                super::new_circuit_breaker::<$ty>()
            }
            #[test]
            fn default_circuit_breaker() {
                super::default_circuit_breaker::<$ty>()
            }
            #[test]
            fn custom_circuit_breaker() {
                super::custom_circuit_breaker::<$ty>()
            }
            #[test]
            fn two_step_circuit_breaker() {
                super::two_step_circuit_breaker::<$ty>()
            }
            #[test]
            fn panic_in_request() {
                super::panic_in_request::<$ty>()
            }
            #[test]
            fn generation() {
                super::generation::<$ty>()
            }
            #[test]
            fn custom_is_successful() {
                super::custom_is_successful::<$ty>()
            }
            #[test]
            fn excluded_outcomes() {
                super::excluded_outcomes::<$ty>()
            }
            #[test]
            fn dropped_probe_releases_its_slot() {
                super::dropped_probe_releases_its_slot::<$ty>()
            }
            #[test]
            fn interval_reanchors_at_observation() {
                super::interval_reanchors_at_observation::<$ty>()
            }
            #[test]
            fn circuit_breaker_in_parallel() {
                super::parallel::<$ty>()
            }
            #[test]
            fn callback_may_reenter() {
                super::callback_may_reenter::<$ty>()
            }
        }
    };
}

suite!(lock_free, warden_breaker::CircuitBreaker);
suite!(mutex, warden_mutex::CircuitBreaker);
