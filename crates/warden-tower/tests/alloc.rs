//! Zero allocations (and, with the default settings, no clock read) per
//! request through the layer: a counting global
//! allocator proves that `poll_ready`, `call` and the response future's
//! `poll` allocate nothing on the closed path (success, a failure whose error
//! boxes without allocating, an outcome the classifier ignores), on an open
//! rejection, in half-open (probe admitted, probe slot taken, a dropped
//! future giving its slot back), with the breaker in an `Arc` and with a
//! `&'static` one.
//!
//! Futures are polled by hand with a no-op waker, so no runtime allocates
//! behind the test's back. The allocator counts per thread, so tests running
//! in parallel on other threads do not disturb the count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;
use std::fmt;
use std::future::{Future, Ready, ready};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tower::{Layer, Service};
use warden_breaker::{CircuitBreaker, ManualClock, Outcome, Rejected, State};
use warden_tower::classify::DefaultClassifier;
use warden_tower::holder::Holder;
use warden_tower::{BoxError, CircuitBreakerLayer, error};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

#[allow(unsafe_code)]
// SAFETY: every method forwards to `System` with the caller's arguments unchanged;
// the extra work is a thread-local counter bump, which does not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_in(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

/// An error that boxes without allocating (a zero-sized type), so that a
/// failure's `Into<BoxError>` is not counted against the layer.
#[derive(Debug)]
struct Refused;

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("refused")
    }
}

impl std::error::Error for Refused {}

/// Answers at once: `Ok(n)` for a positive `n`, `Err(Refused)` for 0.
#[derive(Clone, Copy)]
struct Echo;

impl Service<u32> for Echo {
    type Response = u32;
    type Error = Refused;
    type Future = Ready<Result<u32, Refused>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Refused>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, n: u32) -> Self::Future {
        ready(if n == 0 { Err(Refused) } else { Ok(n) })
    }
}

/// Never answers: its futures are dropped unfinished.
#[derive(Clone, Copy)]
struct Hang;

impl Service<u32> for Hang {
    type Response = u32;
    type Error = Infallible;
    type Future = std::future::Pending<Result<u32, Infallible>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, _: u32) -> Self::Future {
        std::future::pending()
    }
}

/// `poll_ready` + `call` + one `poll`, by hand.
fn request<S: Service<u32>>(svc: &mut S, n: u32) -> Poll<Result<S::Response, S::Error>> {
    let mut cx = Context::from_waker(Waker::noop());
    match svc.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => {}
        _ => panic!("not ready"),
    }
    let fut = pin!(svc.call(n));
    fut.poll(&mut cx)
}

fn breaker(clock: &ManualClock) -> CircuitBreaker {
    CircuitBreaker::builder("alloc")
        .timeout(Duration::from_secs(1))
        .max_requests(1)
        .ready_to_trip(|c| c.consecutive_failures >= 3)
        .clock(clock.clone())
        .build()
        .expect("valid settings")
}

/// Every path of one breaker's life through services made by `layer`:
/// closed (successes, failures, ignored outcomes, dropped futures), open
/// rejections, half-open (a probe dropped unfinished gives its slot back, a
/// second probe is turned away while one is in flight, a successful probe
/// closes the breaker).
fn every_path<H: Holder>(
    layer: CircuitBreakerLayer<DefaultClassifier, H>,
    cb: &CircuitBreaker,
    clock: &ManualClock,
) {
    let mut echo = layer.layer(Echo);
    let mut hang = layer.layer(Hang);
    let ignore_odd = layer
        .clone()
        .classifier(|r: &Result<u32, Refused>| match r {
            Ok(n) if n % 2 == 1 => Outcome::Ignored,
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        });
    let mut ignoring = ignore_odd.layer(Echo);
    // Warm-up: the first call of a thread claims its counter slot, and its first
    // look at the breaker's settings (here a failure) claims arc-swap's per-thread
    // node, once.
    assert!(matches!(request(&mut echo, 0), Poll::Ready(Err(_))));
    assert!(matches!(request(&mut echo, 1), Poll::Ready(Ok(1))));

    let n = allocations_in(|| {
        for i in 1..=1_000u32 {
            assert!(matches!(request(&mut echo, i), Poll::Ready(Ok(_))));
            // A failure now and then, never three in a row.
            if i % 2 == 0 {
                assert!(matches!(request(&mut echo, 0), Poll::Ready(Err(_))));
            }
            assert!(matches!(request(&mut ignoring, i), Poll::Ready(Ok(_))));
            assert!(request(&mut hang, i).is_pending()); // dropped unfinished
        }
        assert_eq!(cb.state(), State::Closed);
        assert_eq!(cb.counts().total_exclusions, 500);

        for _ in 0..3 {
            assert!(matches!(request(&mut echo, 0), Poll::Ready(Err(_))));
        }
        assert_eq!(cb.state(), State::Open);
        for i in 1..=1_000u32 {
            match request(&mut echo, i) {
                Poll::Ready(Err(e)) => assert_eq!(error::rejection(&*e), Some(Rejected::Open)),
                _ => panic!("an open breaker rejects"),
            }
        }

        clock.advance(Duration::from_secs(2));
        assert_eq!(cb.state(), State::HalfOpen);
        // A probe dropped unfinished gives its slot back, many times over.
        for i in 1..=1_000u32 {
            assert!(request(&mut hang, i).is_pending());
        }
        // While a probe is in flight, the next call is turned away.
        let mut cx = Context::from_waker(Waker::noop());
        assert!(hang.poll_ready(&mut cx).is_ready());
        let probe = hang.call(1);
        match request(&mut echo, 1) {
            Poll::Ready(Err(e)) => {
                assert_eq!(error::rejection(&*e), Some(Rejected::TooManyRequests));
            }
            _ => panic!("the probe slot is taken"),
        }
        drop(probe);
        assert!(matches!(request(&mut echo, 1), Poll::Ready(Ok(1))));
        assert_eq!(cb.state(), State::Closed);
    });
    assert_eq!(n, 0, "allocations per request through the layer");
}

#[test]
fn no_request_allocates_with_an_arc() {
    let clock = ManualClock::new();
    let cb = Arc::new(breaker(&clock));
    every_path(CircuitBreakerLayer::new(cb.clone()), &cb, &clock);
}

#[test]
fn no_request_allocates_with_a_static_breaker() {
    let clock = ManualClock::new();
    let cb: &'static CircuitBreaker = Box::leak(Box::new(breaker(&clock)));
    every_path(CircuitBreakerLayer::from_static(cb), cb, &clock);
}

/// The counter counts: boxing a real error allocates, and the test sees it.
#[test]
fn the_counter_sees_an_allocation() {
    let n = allocations_in(|| {
        let e: BoxError = std::io::Error::other("x").into();
        drop(std::hint::black_box(e));
    });
    assert!(n >= 1);
}

/// Counts its reads; time stands still.
#[derive(Debug, Clone, Default)]
struct CountingClock(Arc<std::sync::atomic::AtomicU64>);

impl warden_breaker::Clock for CountingClock {
    fn now_nanos(&self) -> u64 {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        1_000_000_000
    }
}

/// 100 successes and 100 failures through a service made by `layer`; the
/// breaker stays closed.
fn closed_calls<H: Holder>(layer: CircuitBreakerLayer<DefaultClassifier, H>) {
    let mut svc = layer.layer(Echo);
    for i in 1..=100u32 {
        assert!(matches!(request(&mut svc, i), Poll::Ready(Ok(_))));
        // Failures, never enough to trip (the default trips after more than 5 in a row).
        assert!(matches!(request(&mut svc, 0), Poll::Ready(Err(_))));
    }
    assert_eq!(layer.breaker().state(), State::Closed);
}

/// With the default settings, a closed call through the layer (`poll_ready`,
/// `call`, the future's `poll`, success or failure) reads no clock.
#[test]
fn a_closed_call_reads_no_clock() {
    let clock = CountingClock::default();
    let cb = Arc::new(
        CircuitBreaker::builder("clockless")
            .clock(clock.clone())
            .build()
            .expect("valid settings"),
    );
    let leaked: &'static CircuitBreaker = Box::leak(Box::new(
        CircuitBreaker::builder("clockless-static")
            .clock(clock.clone())
            .build()
            .expect("valid settings"),
    ));
    let before = clock.0.load(std::sync::atomic::Ordering::Relaxed);
    closed_calls(CircuitBreakerLayer::new(cb.clone()));
    closed_calls(CircuitBreakerLayer::from_static(leaked));
    assert_eq!(
        clock.0.load(std::sync::atomic::Ordering::Relaxed) - before,
        0,
        "clock reads on closed calls"
    );
}
