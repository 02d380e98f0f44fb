//! The ticker: the process clock's time, published once a millisecond in one
//! atomic word, so that the paths that only need "about now" (an open breaker
//! rejecting a call, a time window placing a call in its bucket, a slow-call
//! rule timing a call of a second) load a word instead of reading the clock.
//!
//! On this crate's benchmark machine a TSC read costs 9-10 ns, a vDSO
//! `CLOCK_MONOTONIC_COARSE` read 3.7-5 ns, and a load of this word about 1 ns
//! (see BENCHMARKS.md).
//!
//! # When a thread runs
//!
//! A thread named `warden-ticker` runs only while something needs the word:
//!
//! * a breaker on the default clock ([`QuantaClock`](crate::QuantaClock)) is open
//!   (or forced open for a while): the ticker runs until the latest such
//!   deadline has passed, then stops by itself;
//! * a breaker that lets the ticker move it on time
//!   ([`schedule_transitions`](crate::CircuitBreaker::schedule_transitions)) has
//!   a deadline in the ticker's agenda (see `breaker/schedule.rs`): the ticker
//!   runs until it looked at it, or found it dropped;
//! * settings with a [`TimeWindow`](crate::TimeWindow) or
//!   [`SlowCalls`](crate::SlowCalls) on the default clock are alive: each holds a
//!   lease, given back when the last clone of those settings (and so the last
//!   breaker built from them) is dropped.
//!
//! Its cost while it runs: one wake-up a millisecond that reads the clock and
//! stores one word: about 1 % of one core (90 ms of CPU in 10 s on the benchmark
//! machine). A breaker on any other clock ([`ManualClock`](crate::ManualClock),
//! a clock of your own) never starts it and reads its clock exactly as before.
//!
//! # Accuracy
//!
//! The word is never ahead of the clock: it is the time of the last tick, so it
//! lags by at most one tick plus however long the thread waited to be
//! scheduled. An open breaker therefore rejects for at most that much longer
//! than its timeout (its first call after that is the probe, and
//! [`state`](crate::CircuitBreaker::state) reads the clock itself, so it reads
//! half-open as soon as the timeout has passed); a half-open breaker's max wait
//! ends at most that much later. A time window places a call
//! in a bucket at most that much earlier; a slow-call rule times a call to within
//! that much, which is why rules finer than [`COARSE_MIN`] read the clock.
//!
//! # Starting and stopping without a lock
//!
//! `control` holds a `RUNNING` bit and a count of registrations. Whoever needs
//! the ticker first records why (a lease, a deadline, a message to the agenda),
//! then bumps the count
//! with an exchange that also sets `RUNNING`; if `RUNNING` was clear, it starts
//! the thread. The thread stops only with an exchange from the `control` word it
//! loaded before it looked at the leases and deadlines: a registration after
//! that look changed the word, so the exchange fails and the thread keeps
//! ticking; a registration after the exchange finds `RUNNING` clear and starts
//! a new thread. Either way nobody is left with a stopped ticker (loom:
//! `ticker::loom_models`).

// Under loom no thread ticks (every clock read is the model's); the protocol is
// exercised only by this module's own models.
#![cfg_attr(loom, allow(dead_code))]

use crate::sync::{AtomicU64, Ordering};

/// The ticker's period.
pub(crate) const TICK: std::time::Duration = std::time::Duration::from_millis(1);

/// Slow-call thresholds and time-window buckets at least this long use the
/// ticker's time; finer ones read the clock on every call (the ticker's lag would
/// be a noticeable share of them).
pub(crate) const COARSE_MIN: std::time::Duration = std::time::Duration::from_millis(50);

const RUNNING: u64 = 1 << 63;

/// The shared part of the ticker: what the thread publishes and what it needs to
/// decide whether to go on.
#[derive(Debug)]
pub(crate) struct Ticker {
    /// The process clock's time at the last tick, `0` while no thread ticks.
    recent: AtomicU64,
    /// `[RUNNING: 1 | registrations: 63]`.
    control: AtomicU64,
    /// Live leases.
    leases: AtomicU64,
    /// Process time until which the ticker must run.
    until: AtomicU64,
}

impl Ticker {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        Self {
            recent: AtomicU64::new(0),
            control: AtomicU64::new(0),
            leases: AtomicU64::new(0),
            until: AtomicU64::new(0),
        }
    }

    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        Self {
            recent: AtomicU64::new(0),
            control: AtomicU64::new(0),
            leases: AtomicU64::new(0),
            until: AtomicU64::new(0),
        }
    }

    /// The time of the last tick, if a thread ticks.
    #[inline]
    pub(crate) fn recent(&self) -> Option<u64> {
        // Relaxed: the word publishes nothing but itself.
        match self.recent.load(Ordering::Relaxed) {
            0 => None,
            t => Some(t),
        }
    }

    /// Records that the ticker must run until process time `until`; `true` if the
    /// caller must start the thread (see [`Self::register`]).
    pub(crate) fn keep_until(&self, until: u64) -> bool {
        // Relaxed: published to the thread by the Release half of `register`'s exchange.
        let before = self.until.fetch_max(until, Ordering::Relaxed);
        if before >= until && self.is_running() {
            // An earlier registration asked for as much and the thread still runs (it
            // cannot stop before `before`): nothing to do, no shared write.
            return false;
        }
        self.register()
    }

    /// Takes a lease: the ticker runs until it is given back; `true` if the
    /// caller must start the thread (see [`Self::register`]).
    pub(crate) fn lease(&self) -> bool {
        // Relaxed: published to the thread by the Release half of `register`'s exchange.
        self.leases.fetch_add(1, Ordering::Relaxed);
        self.register()
    }

    /// Records nothing (the caller just sent the agenda a message, which keeps the
    /// thread running until handled): `true` if the caller must start the thread.
    pub(crate) fn wake(&self) -> bool {
        self.register()
    }

    /// Gives a lease back; the thread notices at its next tick.
    pub(crate) fn unlease(&self) {
        self.leases.fetch_sub(1, Ordering::Relaxed);
    }

    fn is_running(&self) -> bool {
        // Relaxed: only a shortcut; a stale RUNNING is caught because the thread
        // cannot stop before the deadline it was checked against.
        self.control.load(Ordering::Relaxed) & RUNNING != 0
    }

    /// Bumps the registration count and sets `RUNNING`: `true` if it was clear,
    /// and then the caller starts the thread, first publishing `now` with
    /// [`Self::started`].
    fn register(&self) -> bool {
        let mut c = self.control.load(Ordering::Relaxed);
        loop {
            let next = (c.wrapping_add(1) & !RUNNING) | RUNNING;
            // AcqRel: the Release half publishes the lease or deadline stored before
            // to the thread's Acquire load in `tick`; the Acquire half pairs with the
            // Release exchange of a thread that stopped, so its last store of `recent`
            // (0) comes before the new thread's first.
            match self.control.compare_exchange_weak(
                c,
                next,
                Ordering::AcqRel,
                // Relaxed: a failed exchange only feeds the next attempt.
                Ordering::Relaxed,
            ) {
                Ok(_) => return c & RUNNING == 0,
                Err(actual) => c = actual,
            }
        }
    }

    /// The starter's first publication, before the thread's first tick.
    pub(crate) fn started(&self, now: u64) {
        self.recent.store(now.max(1), Ordering::Relaxed);
    }

    /// Publishes no time for a while (the thread is busy): readers read the clock.
    pub(crate) fn hide(&self) {
        self.recent.store(0, Ordering::Relaxed);
    }

    /// Undoes a start whose thread could not be spawned: readers read the clock.
    pub(crate) fn not_started(&self) {
        self.recent.store(0, Ordering::Relaxed);
        self.control.fetch_and(!RUNNING, Ordering::Relaxed);
    }

    /// One tick of the thread at process time `now`: publishes it, runs the agenda
    /// (`agenda`: whether it still holds entries), and says whether to go on
    /// (`false`: the thread has given up `RUNNING` and must return).
    pub(crate) fn tick(&self, now: u64, agenda: impl FnOnce() -> bool) -> bool {
        self.recent.store(now.max(1), Ordering::Relaxed);
        // Acquire: pairs with the Release half of `register`, so every lease,
        // deadline and agenda message registered before the word loaded here is
        // seen below.
        let c = self.control.load(Ordering::Acquire);
        let busy = agenda();
        if busy
            || self.leases.load(Ordering::Relaxed) != 0
            || now <= self.until.load(Ordering::Relaxed)
        {
            return true;
        }
        self.recent.store(0, Ordering::Relaxed);
        // Release: pairs with the Acquire half of the next `register`, ordering the
        // store of 0 above before the next thread's first store.
        self.control
            .compare_exchange(c, c & !RUNNING, Ordering::Release, Ordering::Relaxed)
            .is_err()
    }
}

#[cfg(not(loom))]
mod process {
    use super::{TICK, Ticker};
    use std::sync::OnceLock;

    /// The process's ticker.
    pub(crate) static TICKER: Ticker = Ticker::new();

    static ORIGIN: OnceLock<quanta::Instant> = OnceLock::new();

    /// The origin of the process clock, fixed at its first use.
    pub(crate) fn origin() -> quanta::Instant {
        *ORIGIN.get_or_init(quanta::Instant::now)
    }

    /// The process clock: nanoseconds since [`origin`].
    pub(crate) fn now() -> u64 {
        let d = quanta::Instant::now().saturating_duration_since(origin());
        u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
    }

    /// Starts the thread if `must` (a registration found it stopped).
    pub(crate) fn start_if(must: bool) {
        if !must {
            return;
        }
        TICKER.started(now());
        let spawned = std::thread::Builder::new()
            .name("warden-ticker".into())
            .spawn(|| {
                let _unwinding = StopOnUnwind;
                loop {
                    let now = now();
                    if !TICKER.tick(now, || crate::breaker::schedule::run(now)) {
                        return;
                    }
                    std::thread::sleep(TICK);
                }
            });
        if spawned.is_err() {
            TICKER.not_started();
        }
    }

    /// Should the thread ever unwind (the agenda catches every hook's panic, so
    /// only a bug could), readers go back to the clock and the next registration
    /// starts a new thread, rather than a frozen time staying published.
    struct StopOnUnwind;

    impl Drop for StopOnUnwind {
        fn drop(&mut self) {
            if std::thread::panicking() {
                TICKER.not_started();
            }
        }
    }
}

/// The process clock's time at the last tick, if the ticker runs.
#[inline]
pub(crate) fn recent() -> Option<u64> {
    #[cfg(not(loom))]
    return process::TICKER.recent();
    #[cfg(loom)]
    return None;
}

/// The process clock (what [`QuantaClock`](crate::QuantaClock) reads).
#[cfg(not(loom))]
pub(crate) use process::origin as process_origin;

/// Keeps the ticker running until process time `until`.
pub(crate) fn keep_until(until: u64) {
    #[cfg(not(loom))]
    process::start_if(process::TICKER.keep_until(until));
    #[cfg(loom)]
    let _ = until;
}

/// Makes sure a thread ticks: the caller just sent the agenda a message.
#[cfg(not(loom))]
pub(crate) fn wake() {
    process::start_if(process::TICKER.wake());
}

/// On the ticker thread, around the agenda's looks (`true` before, `false`
/// after): the looks run callbacks, which may take a while, so meanwhile no time
/// is published and readers read the clock, rather than a time that stopped.
#[cfg(not(loom))]
pub(crate) fn looking(start: bool) {
    if start {
        process::TICKER.hide();
    } else {
        process::TICKER.started(process::now());
    }
}

/// A lease on the ticker: it runs while one is alive.
#[derive(Debug)]
pub(crate) struct Lease(());

impl Lease {
    pub(crate) fn new() -> Self {
        #[cfg(not(loom))]
        process::start_if(process::TICKER.lease());
        Lease(())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        #[cfg(not(loom))]
        process::TICKER.unlease();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_ticker_runs_while_leased_or_before_its_deadline() {
        let t = Ticker::new();
        assert_eq!(t.recent(), None);
        assert!(t.lease(), "the first registration starts the thread");
        t.started(5);
        assert!(!t.lease(), "a running ticker is not started twice");
        assert_eq!(t.recent(), Some(5));
        t.unlease();
        assert!(t.tick(10, || false), "one lease left");
        assert_eq!(t.recent(), Some(10));
        t.unlease();
        assert!(!t.keep_until(20), "running: the deadline is enough");
        assert!(t.tick(20, || false), "not past the deadline");
        assert!(!t.tick(21, || false), "no lease, deadline passed: stops");
        assert_eq!(t.recent(), None, "a stopped ticker publishes no time");
        assert!(
            t.keep_until(30),
            "stopped: the next registration starts it again"
        );
        t.started(25);
        assert_eq!(t.recent(), Some(25));
    }

    #[test]
    fn a_registration_between_look_and_stop_keeps_it_running() {
        let t = Ticker::new();
        assert!(t.keep_until(10));
        // The thread's look happens with the old word; a registration lands before
        // its exchange (simulated: register, then tick with an older word is what
        // `tick` does internally, so check the exchange's effect directly).
        let c = t.control.load(Ordering::Relaxed);
        assert!(!t.keep_until(100));
        assert_ne!(t.control.load(Ordering::Relaxed), c);
        assert!(t.tick(50, || false), "the new deadline is seen");
    }

    #[test]
    fn a_failed_spawn_leaves_readers_on_the_clock() {
        let t = Ticker::new();
        assert!(t.lease());
        t.started(7);
        t.not_started();
        assert_eq!(t.recent(), None);
        assert!(t.lease(), "the next registration tries again");
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use crate::sync::Arc;

    /// The ticker thread decides to stop (no lease, deadline 10 passed at time 11)
    /// while another thread registers a later deadline. Afterwards, either a thread
    /// still ticks (the stop failed) or the registration was told to start one: the
    /// deadline is never left without a ticker. Weakening `register`'s exchange to
    /// Relaxed on success, or `tick`'s control load to Relaxed, fails this model (the
    /// thread stops without seeing the deadline while the registrant saw RUNNING).
    #[test]
    fn a_registration_racing_the_stop_is_never_lost() {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(3);
        builder.check(|| {
            let t = Arc::new(Ticker::new());
            assert!(t.keep_until(10));
            t.started(1);
            // Both threads start with an RMW on one word, so loom explores either
            // order (its gap with threads that start otherwise: loom-tests/README.md).
            let gate = Arc::new(AtomicU64::new(0));
            let (r, g) = (Arc::clone(&t), Arc::clone(&gate));
            let registrant = loom::thread::spawn(move || {
                g.fetch_add(1, Ordering::Relaxed);
                r.keep_until(100)
            });
            gate.fetch_add(1, Ordering::Relaxed);
            let ticking = t.tick(11, || false);
            let must_start = registrant.join().expect("registrant");
            assert!(
                ticking || must_start,
                "a deadline of 100 with no thread ticking and none to be started"
            );
            assert!(!(ticking && must_start), "two threads would tick");
        });
    }

    /// A lease taken while the thread stops: same promise as for a deadline.
    #[test]
    fn a_lease_racing_the_stop_is_never_lost() {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(3);
        builder.check(|| {
            let t = Arc::new(Ticker::new());
            assert!(t.keep_until(10));
            t.started(1);
            let gate = Arc::new(AtomicU64::new(0));
            let (r, g) = (Arc::clone(&t), Arc::clone(&gate));
            let registrant = loom::thread::spawn(move || {
                g.fetch_add(1, Ordering::Relaxed);
                r.lease()
            });
            gate.fetch_add(1, Ordering::Relaxed);
            let ticking = t.tick(11, || false);
            let must_start = registrant.join().expect("registrant");
            assert!(
                ticking != must_start,
                "ticking {ticking}, start {must_start}"
            );
        });
    }
}
