//! Stress: many more threads than cores hammering one breaker, then invariants.
//!
//! 16 threads (the CI machine has 2 cores) share one breaker with
//! `max_requests = 3`, a 2 ms timeout and a `ManualClock` that one of the threads
//! moves forward as it goes (nobody sleeps). Every call is a success, a failure,
//! an ignored outcome, a dropped permit or a panic while holding the permit, so
//! the breaker keeps tripping, probing, closing and reopening. Afterwards:
//!
//! * **no permit lost**: the observer saw `admitted = successes + failures +
//!   ignored + dropped`, and every observer count equals what the threads did;
//! * **the half-open cap**: probes of one half-open generation never held more
//!   than `max_requests` slots at once (see [`Probes`] for how a probe is tied to
//!   its generation from outside the breaker);
//! * **transitions**: one callback per transition, never two at once, forming one
//!   valid chain from `Closed`, identical for the builder callback and the
//!   observer, ending in the breaker's state;
//! * **counts**: once the breaker is closed again and quiet, 16 threads make a
//!   known mix of calls in one generation, and `counts()` equals exactly what they
//!   did.
//!
//! Three breakers are hammered: observed without an interval, observed with a 3 ms
//! counting interval (resets racing everything), and without an observer (the
//! core's observer-free fast paths, checked by chain and counts).
//!
//! Then every trip policy (the default rule, a count window, a time window, slow
//! calls, an open backoff, a half-open max wait, a counting interval) is hammered by
//! 4 threads that also issue manual commands (`reset`, `force_open`,
//! `force_open_for`, `force_closed`, `disable`) at random moments: the callbacks
//! and the observer must still form one unbroken chain (each `from` the previous
//! `to`, none overlapping another), ending in the breaker's state once it is quiet.
//!
//! `cargo test -p warden-breaker --release --test stress` makes 32 million calls
//! per breaker (about 3 s for all three on 2 cores); a debug build makes 1.6
//! million per breaker (under 1 s).
#![cfg(not(loom))]

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use warden_breaker::{
    CircuitBreaker, CountWindow, Counts, Error, ManualClock, Observer, OpenBackoff, Rejected,
    SlowCalls, State, TimeWindow,
};

const THREADS: usize = 16;
const MAX_REQUESTS: u32 = 3;
const TIMEOUT: Duration = Duration::from_millis(2);
/// Consecutive failures that trip the breaker (while tripping is armed).
const TRIP_AFTER: u32 = 4;
/// Time moves 1 ms forward every this many calls, summed over the threads: each
/// thread moves it every `ADVANCE_EVERY * THREADS` of its own calls (staggered), so
/// the breaker keeps cycling for as long as any thread still hammers. (With one
/// clock thread, a scheduler that ran it to the end early left the others an
/// open breaker and too few cycles: the test was flaky on a loaded machine.)
const ADVANCE_EVERY: u64 = 8;

/// Calls per thread while hammering.
fn hammer_calls() -> u64 {
    if cfg!(debug_assertions) {
        100_000
    } else {
        2_000_000
    }
}

/// Calls per thread in the final, closed phase.
fn closed_calls() -> u64 {
    if cfg!(debug_assertions) {
        10_000
    } else {
        200_000
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The payload of the injected panics: `resume_unwind` skips the panic hook, so a
/// million panics print nothing.
struct Injected;

fn panic_holding<P>(permit: P) {
    let payload = catch_unwind(AssertUnwindSafe(move || {
        let _held = permit;
        resume_unwind(Box::new(Injected))
    }))
    .expect_err("the call panics");
    assert!(
        payload.is::<Injected>(),
        "a panic other than the injected one"
    );
}

/// Observer counts. Relaxed everywhere: read only after the threads are joined.
#[derive(Debug, Default)]
struct Events {
    admitted_closed: AtomicU64,
    admitted_half_open: AtomicU64,
    rejected: AtomicU64,
    successes: AtomicU64,
    failures: AtomicU64,
    ignored: AtomicU64,
    dropped: AtomicU64,
    transitions: Mutex<Vec<(State, State)>>,
}

fn bump(c: &AtomicU64) {
    // Relaxed: a statistic read after joining the threads that wrote it.
    c.fetch_add(1, Ordering::Relaxed);
}

fn get(c: &AtomicU64) -> u64 {
    // Relaxed: see `bump`.
    c.load(Ordering::Relaxed)
}

impl Observer for Events {
    fn on_admitted(&self, state: State) {
        match state {
            State::HalfOpen => bump(&self.admitted_half_open),
            _ => bump(&self.admitted_closed),
        }
    }
    fn on_rejected(&self, _: Rejected) {
        bump(&self.rejected);
    }
    fn on_success(&self) {
        bump(&self.successes);
    }
    fn on_failure(&self) {
        bump(&self.failures);
    }
    fn on_ignored(&self) {
        bump(&self.ignored);
    }
    fn on_dropped(&self) {
        bump(&self.dropped);
    }
    fn on_state_change(&self, _: &str, from: State, to: State) {
        lock(&self.transitions).push((from, to));
    }
}

/// What the builder's `on_state_change` callback records.
#[derive(Debug, Default)]
struct Chain {
    delivered: Mutex<Vec<(State, State)>>,
    /// Transitions delivered, published at the end of each callback.
    epoch: AtomicU64,
    /// Set while a callback runs: a second callback finding it set overlaps one.
    running: AtomicBool,
    overlaps: AtomicU64,
}

impl Chain {
    fn deliver(&self, from: State, to: State) {
        // SeqCst: the overlap detector needs a single order of all callbacks' flags.
        if self.running.swap(true, Ordering::SeqCst) {
            bump(&self.overlaps);
        }
        let k = {
            let mut d = lock(&self.delivered);
            d.push((from, to));
            d.len() as u64
        };
        // SeqCst: read by the probe attribution in `admit` (see `Probes`).
        self.epoch.store(k, Ordering::SeqCst);
        // SeqCst: pairs with the swap above.
        self.running.store(false, Ordering::SeqCst);
    }

    fn epoch(&self) -> u64 {
        // SeqCst: see `deliver`.
        self.epoch.load(Ordering::SeqCst)
    }

    /// The half-open generation of a probe that read `e1` transitions delivered
    /// before its admission and `e2` after it, if only one is possible (see
    /// [`Probes`]).
    fn attribute(&self, e1: u64, e2: u64) -> Option<u64> {
        let delivered = lock(&self.delivered);
        let entered = |j: u64| delivered.get(j as usize - 1).map(|t| t.1);
        let mut candidates = (e1.max(1)..=e2 + 1).filter(|&j| match entered(j) {
            Some(to) => to == State::HalfOpen,
            // Not delivered yet (only `e2 + 1` can be missing): the transition after
            // an Open one is always Open -> HalfOpen.
            None => entered(e2) == Some(State::Open),
        });
        match (candidates.next(), candidates.next()) {
            (Some(j), None) => Some(j),
            _ => None,
        }
    }
}

/// Ties half-open probes to their generation from outside the breaker, and tracks
/// per generation how many slots the probes hold.
///
/// A generation is named by the index `j` (1-based) of the Open → HalfOpen
/// transition that started it. Its callback runs after the exchange that installed
/// it, and the callback of transition `j - 1` finished before that exchange
/// (`PENDING`), so a probe reading the epoch `e1` just before admission and `e2`
/// just after (behind an acquire fence, which synchronises with the `Release` that
/// ended callback `j - 1` through the chain of exchanges on the state word) has
/// `e1 <= j` (the generation ends with transition `j + 1`, after admission) and
/// `e2 >= j - 1`: `j` is one of the transitions `e1 ..= e2 + 1` that entered
/// half-open (transition `e2 + 1` may not be delivered yet: it entered half-open if
/// transition `e2` entered open). Half-open and open alternate, so the range almost
/// always holds exactly one; a probe whose range holds more (several cycles passed
/// during its admission) is not attributed, which only makes the check weaker.
///
/// Soundness of the check: admissions are counted after they happen and releases
/// (ignore, drop) before the slot is given back, so `admitted - released` never
/// exceeds the slots the breaker really has held (unattributed probes hold slots
/// the count does not see).
#[derive(Debug, Default)]
struct Probes(Mutex<HashMap<u64, Generation>>);

#[derive(Clone, Copy, Debug, Default)]
struct Generation {
    admitted: u64,
    released: u64,
    max_held: u64,
}

impl Probes {
    fn admitted(&self, generation: u64) {
        let mut map = lock(&self.0);
        let g = map.entry(generation).or_default();
        g.admitted += 1;
        g.max_held = g.max_held.max(g.admitted - g.released);
    }

    fn released(&self, generation: u64) {
        lock(&self.0).entry(generation).or_default().released += 1;
    }
}

/// What one thread did, summed over threads after the join.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Did {
    admitted_closed: u64,
    admitted_half_open: u64,
    rejected: u64,
    successes: u64,
    failures: u64,
    ignored: u64,
    dropped: u64,
    unattributed: u64,
}

impl std::ops::AddAssign for Did {
    fn add_assign(&mut self, o: Self) {
        self.admitted_closed += o.admitted_closed;
        self.admitted_half_open += o.admitted_half_open;
        self.rejected += o.rejected;
        self.successes += o.successes;
        self.failures += o.failures;
        self.ignored += o.ignored;
        self.dropped += o.dropped;
        self.unattributed += o.unattributed;
    }
}

struct Bench {
    cb: CircuitBreaker,
    clock: ManualClock,
    chain: Arc<Chain>,
    events: Option<Arc<Events>>,
    probes: Probes,
    armed: Arc<AtomicBool>,
}

impl Bench {
    fn new(interval: Duration, observed: bool) -> Self {
        let clock = ManualClock::new();
        let chain = Arc::new(Chain::default());
        let armed = Arc::new(AtomicBool::new(true));
        let events = observed.then(|| Arc::new(Events::default()));
        let c = Arc::clone(&chain);
        let a = Arc::clone(&armed);
        let mut b = CircuitBreaker::builder("stress")
            .max_requests(MAX_REQUESTS)
            .timeout(TIMEOUT)
            .interval(interval)
            .clock(clock.clone())
            // Relaxed: a switch flipped between phases, with the threads joined.
            .ready_to_trip(move |c| {
                a.load(Ordering::Relaxed) && c.consecutive_failures >= TRIP_AFTER
            })
            .on_state_change(move |_, from, to| c.deliver(from, to));
        if let Some(e) = &events {
            b = b.observer(Arc::clone(e));
        }
        Self {
            cb: b.build().expect("valid settings"),
            clock,
            chain,
            events,
            probes: Probes::default(),
            armed,
        }
    }

    /// One call of the hammer phase.
    fn hammer_call(&self, rng: &mut SmallRng, did: &mut Did) {
        let e1 = self.chain.epoch();
        let permit = match self.cb.try_acquire() {
            Ok(p) => p,
            Err(_) => {
                did.rejected += 1;
                return;
            }
        };
        // Acquire: see `Probes`.
        fence(Ordering::Acquire);
        let e2 = self.chain.epoch();
        let generation = if permit.admitted_in() == State::HalfOpen {
            did.admitted_half_open += 1;
            let g = self.chain.attribute(e1, e2);
            match g {
                Some(g) => self.probes.admitted(g),
                None => did.unattributed += 1,
            }
            g
        } else {
            did.admitted_closed += 1;
            None
        };
        let release = |g: Option<u64>| {
            if let Some(g) = g {
                self.probes.released(g);
            }
        };
        match rng.random_range(0..100) {
            0..60 => {
                permit.success();
                did.successes += 1;
            }
            60..72 => {
                permit.failure();
                did.failures += 1;
            }
            72..82 => {
                release(generation);
                permit.ignore();
                did.ignored += 1;
            }
            82..92 => {
                release(generation);
                drop(permit);
                did.dropped += 1;
            }
            _ => {
                panic_holding(permit);
                did.failures += 1;
            }
        }
    }

    /// Phase 1: every thread hammers and now and then moves the clock.
    fn hammer(&self) -> Did {
        let mut total = Did::default();
        thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|t| {
                    s.spawn(move || {
                        let mut rng = SmallRng::seed_from_u64(0x5eed + t as u64);
                        let mut did = Did::default();
                        for i in 0..hammer_calls() {
                            let period = ADVANCE_EVERY * THREADS as u64;
                            if i % period == t as u64 * ADVANCE_EVERY {
                                self.clock.advance(Duration::from_millis(1));
                            }
                            self.hammer_call(&mut rng, &mut did);
                        }
                        did
                    })
                })
                .collect();
            for h in handles {
                total += h.join().expect("hammer thread");
            }
        });
        total
    }

    /// Phase 2: no more trips; one thread drives the breaker back to closed.
    fn close(&self) {
        // Relaxed: see the builder.
        self.armed.store(false, Ordering::Relaxed);
        for _ in 0..100 {
            match self.cb.state() {
                State::Closed => return,
                State::Open => self.clock.advance(TIMEOUT + Duration::from_millis(1)),
                State::HalfOpen => self
                    .cb
                    .try_acquire()
                    .expect("a quiet half-open breaker has a free slot")
                    .success(),
            }
        }
        panic!("the breaker did not close");
    }

    /// Phase 3: a known mix of calls in one closed generation; returns what
    /// `counts()` must be afterwards (the generation may have begun in phase 1).
    fn closed_phase(&self) -> Counts {
        let mut expected = self.cb.counts();
        thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|t| {
                    s.spawn(move || {
                        let mut rng = SmallRng::seed_from_u64(0xc105ed + t as u64);
                        let mut c = Counts::default();
                        for _ in 0..closed_calls() {
                            c.requests += 1;
                            match rng.random_range(0..100) {
                                0..40 => {
                                    self.cb.try_acquire().expect("closed").success();
                                    c.total_successes += 1;
                                }
                                40..55 => {
                                    assert_eq!(self.cb.call(|| Ok::<_, ()>(1)), Ok(1));
                                    c.total_successes += 1;
                                }
                                55..70 => {
                                    self.cb.try_acquire().expect("closed").failure();
                                    c.total_failures += 1;
                                }
                                70..78 => {
                                    let r = self.cb.call(|| Err::<(), _>("down"));
                                    assert!(matches!(r, Err(Error::Inner("down"))));
                                    c.total_failures += 1;
                                }
                                78..86 => {
                                    self.cb.try_acquire().expect("closed").ignore();
                                    c.total_exclusions += 1;
                                }
                                86..94 => drop(self.cb.try_acquire().expect("closed")),
                                _ => {
                                    let payload = catch_unwind(AssertUnwindSafe(|| {
                                        self.cb.call(|| -> Result<(), ()> {
                                            resume_unwind(Box::new(Injected))
                                        })
                                    }))
                                    .expect_err("the call panics");
                                    assert!(payload.is::<Injected>());
                                    c.total_failures += 1;
                                }
                            }
                        }
                        c
                    })
                })
                .collect();
            for h in handles {
                let c = h.join().expect("closed-phase thread");
                expected.requests += c.requests;
                expected.total_successes += c.total_successes;
                expected.total_failures += c.total_failures;
                expected.total_exclusions += c.total_exclusions;
            }
        });
        expected
    }

    fn delivered(&self) -> Vec<(State, State)> {
        lock(&self.chain.delivered).clone()
    }
}

/// Checks the delivered transitions form one valid chain from `Closed`.
fn assert_chain(delivered: &[(State, State)]) {
    let mut at = State::Closed;
    for (i, &(from, to)) in delivered.iter().enumerate() {
        assert_eq!(
            from,
            at,
            "transition {} starts in {from:?}, not {at:?}",
            i + 1
        );
        assert!(
            matches!(
                (from, to),
                (State::Closed, State::Open)
                    | (State::Open, State::HalfOpen)
                    | (State::HalfOpen, State::Open | State::Closed)
            ),
            "transition {} is {from:?} -> {to:?}",
            i + 1
        );
        at = to;
    }
}

fn run(name: &str, interval: Duration, observed: bool) {
    let bench = Bench::new(interval, observed);
    let start = Instant::now();

    // Phase 1.
    let did = bench.hammer();
    let hammered = start.elapsed();
    let delivered = bench.delivered();
    assert_chain(&delivered);
    assert_eq!(
        bench.cb.state(),
        delivered.last().map_or(State::Closed, |t| t.1)
    );
    assert_eq!(get(&bench.chain.overlaps), 0, "two callbacks ran at once");
    let opened = delivered.iter().filter(|t| t.1 == State::Open).count();
    let closed = delivered.iter().filter(|t| t.1 == State::Closed).count();
    assert!(
        opened > 10 && closed > 10,
        "too few cycles to mean anything: {opened} opened, {closed} closed"
    );

    if let Some(ev) = &bench.events {
        assert_eq!(
            *lock(&ev.transitions),
            delivered,
            "observer and callback disagree"
        );
        let observed = Did {
            admitted_closed: get(&ev.admitted_closed),
            admitted_half_open: get(&ev.admitted_half_open),
            rejected: get(&ev.rejected),
            successes: get(&ev.successes),
            failures: get(&ev.failures),
            ignored: get(&ev.ignored),
            dropped: get(&ev.dropped),
            unattributed: did.unattributed,
        };
        assert_eq!(
            observed, did,
            "observer events differ from what the threads did"
        );
        assert_eq!(
            observed.admitted_closed + observed.admitted_half_open,
            observed.successes + observed.failures + observed.ignored + observed.dropped,
            "a permit was lost"
        );
    }
    assert_eq!(
        did.admitted_closed + did.admitted_half_open + did.rejected,
        THREADS as u64 * hammer_calls()
    );

    let probes = lock(&bench.probes.0).clone();
    let mut most = 0;
    for (&g, slots) in &probes {
        let entered = delivered.get(g as usize - 1).map(|t| t.1);
        assert_eq!(
            entered,
            Some(State::HalfOpen),
            "probe attributed to transition {g}, which is {entered:?}"
        );
        assert!(
            slots.max_held <= u64::from(MAX_REQUESTS),
            "half-open generation of transition {g}: {} probes held at once (max_requests {MAX_REQUESTS})",
            slots.max_held
        );
        most = most.max(slots.admitted);
    }
    assert!(!probes.is_empty());

    // Phases 2 and 3.
    bench.close();
    let before = bench.delivered().len();
    let expected = bench.closed_phase();
    assert_eq!(
        bench.delivered().len(),
        before,
        "no transition while closed and disarmed"
    );
    let counts = bench.cb.counts();
    assert_eq!(
        (
            counts.requests,
            counts.total_successes,
            counts.total_failures,
            counts.total_exclusions
        ),
        (
            expected.requests,
            expected.total_successes,
            expected.total_failures,
            expected.total_exclusions
        ),
        "closed-state counts differ from what the threads did"
    );
    // The streaks the threads left depend on the interleaving; three more calls
    // pin them down.
    bench.cb.try_acquire().expect("closed").success();
    let c = bench.cb.counts();
    assert_eq!(c.consecutive_failures, 0);
    assert!(c.consecutive_successes >= 1);
    bench.cb.try_acquire().expect("closed").failure();
    let c = bench.cb.counts();
    assert_eq!((c.consecutive_failures, c.consecutive_successes), (1, 0));
    bench.cb.try_acquire().expect("closed").success();
    let c = bench.cb.counts();
    assert_eq!((c.consecutive_failures, c.consecutive_successes), (0, 1));
    assert_eq!(
        (c.requests, c.total_successes, c.total_failures),
        (
            expected.requests + 3,
            expected.total_successes + 2,
            expected.total_failures + 1
        )
    );

    eprintln!(
        "stress {name}: {} calls in {:.2} s ({:.0} ns/call), {} transitions ({opened} opens, \
         {closed} closes), {} half-open generations attributed (most probes admitted in one: \
         {most}), {} of {} probes unattributed; then {} closed calls, {:.2} s in all",
        THREADS as u64 * hammer_calls(),
        hammered.as_secs_f64(),
        hammered.as_nanos() as f64 / (THREADS as u64 * hammer_calls()) as f64,
        delivered.len(),
        probes.len(),
        did.unattributed,
        did.admitted_half_open,
        expected.requests,
        start.elapsed().as_secs_f64(),
    );
}

#[test]
fn observed_breaker_under_contention() {
    run("observed", Duration::ZERO, true);
}

#[test]
fn observed_breaker_with_interval_resets() {
    run("interval", Duration::from_millis(3), true);
}

#[test]
fn observer_free_fast_paths_under_contention() {
    run("bare", Duration::ZERO, false);
}

/// Operations per thread in the commands-and-policies stress, per policy.
fn command_ops() -> u64 {
    if cfg!(debug_assertions) {
        20_000
    } else {
        300_000
    }
}

/// Records every transition a hook names, and whether two ever overlapped.
#[derive(Debug, Default)]
struct Named {
    seen: Mutex<Vec<(State, State)>>,
    running: AtomicBool,
    overlaps: AtomicU64,
}

impl Named {
    fn name(&self, from: State, to: State) {
        // SeqCst: the overlap detector needs a single order of all callbacks' flags.
        if self.running.swap(true, Ordering::SeqCst) {
            bump(&self.overlaps);
        }
        lock(&self.seen).push((from, to));
        // SeqCst: pairs with the swap above.
        self.running.store(false, Ordering::SeqCst);
    }
}

#[derive(Debug, Default)]
struct NamedObserver(Arc<Named>);

impl Observer for NamedObserver {
    fn on_state_change(&self, _: &str, from: State, to: State) {
        self.0.name(from, to);
    }
}

/// One unbroken chain from `Closed` to `now`: each transition starts where the last
/// ended and changes the state (with commands any change of state is possible).
fn assert_unbroken(policy: &str, named: &[(State, State)], now: State) {
    let mut at = State::Closed;
    for (i, &(from, to)) in named.iter().enumerate() {
        assert_eq!(
            from,
            at,
            "{policy}: transition {} ({from:?} -> {to:?}) starts where the last did not end",
            i + 1
        );
        assert_ne!(from, to, "{policy}: transition {} changes nothing", i + 1);
        at = to;
    }
    assert_eq!(
        at, now,
        "{policy}: the last transition is not the breaker's state"
    );
}

fn chain_under_commands(
    policy: &str,
    configure: fn(warden_breaker::Builder) -> warden_breaker::Builder,
) {
    const PLAYERS: usize = 4;
    let clock = ManualClock::new();
    let callback = Arc::new(Named::default());
    let observer = Arc::new(Named::default());
    let c = Arc::clone(&callback);
    let builder = CircuitBreaker::builder(policy)
        .max_requests(2)
        .timeout(Duration::from_millis(2))
        .clock(clock.clone())
        .on_state_change(move |_, from, to| c.name(from, to))
        .observer(NamedObserver(Arc::clone(&observer)));
    let cb = configure(builder).build().unwrap();
    let start = Instant::now();
    thread::scope(|scope| {
        for seed in 0..PLAYERS as u64 {
            let (cb, clock) = (&cb, &clock);
            scope.spawn(move || {
                let mut rng = SmallRng::seed_from_u64(0x5eed_0000 + seed);
                for _ in 0..command_ops() {
                    match rng.random_range(0..1000u32) {
                        0 => cb.reset(),
                        1 => cb.force_open(),
                        2 => cb.force_open_for(Duration::from_millis(1)),
                        3 => cb.force_closed(),
                        4 => cb.disable(),
                        5..=60 => clock.advance(Duration::from_micros(rng.random_range(1..1500))),
                        61..=80 => {
                            let _ = cb.state();
                        }
                        n => {
                            let Ok(permit) = cb.try_acquire() else {
                                continue;
                            };
                            if n % 7 == 0 {
                                // A call that takes time (slow, under a slow-call rule).
                                clock.advance(Duration::from_micros(300));
                            }
                            match n % 5 {
                                0 | 1 => permit.failure(),
                                2 => permit.ignore(),
                                3 => drop(permit),
                                _ => permit.success(),
                            }
                        }
                    }
                }
            });
        }
    });
    let now = cb.state(); // any transition due is delivered before the chain is read
    let named = lock(&callback.seen).clone();
    assert_unbroken(policy, &named, now);
    assert_eq!(
        named,
        *lock(&observer.seen),
        "{policy}: the observer saw another chain"
    );
    assert_eq!(get(&callback.overlaps), 0, "{policy}: callbacks overlapped");
    eprintln!(
        "stress commands {policy}: {} operations, {} transitions, {:.2} s",
        PLAYERS as u64 * command_ops(),
        named.len(),
        start.elapsed().as_secs_f64()
    );
}

#[test]
fn chain_unbroken_under_commands_with_every_policy() {
    chain_under_commands("consecutive failures", |b| {
        b.ready_to_trip(|c| c.consecutive_failures >= 2)
    });
    chain_under_commands("count window, slow calls, interval", |b| {
        b.count_window(
            CountWindow::new(8)
                .with_min_calls(4)
                .with_failure_rate_percent(50),
        )
        .slow_calls(
            SlowCalls::new(Duration::from_micros(200))
                .with_slow_rate_percent(50)
                .with_min_calls(4),
        )
        .interval(Duration::from_millis(5))
    });
    chain_under_commands("time window, slow calls, max wait, backoff", |b| {
        b.time_window(
            TimeWindow::new(Duration::from_millis(8))
                .with_buckets(4)
                .with_min_calls(4)
                .with_failure_rate_percent(50),
        )
        .slow_calls(
            SlowCalls::new(Duration::from_micros(200))
                .with_slow_rate_percent(50)
                .with_min_calls(4),
        )
        .half_open_max_wait(Duration::from_millis(3))
        .open_backoff(OpenBackoff::exponential(2, Duration::from_millis(16)))
    });
    chain_under_commands("count window, backoff, max wait", |b| {
        b.count_window(
            CountWindow::new(4)
                .with_min_calls(2)
                .with_failure_rate_percent(50),
        )
        .open_backoff(
            OpenBackoff::exponential(2, Duration::from_millis(16))
                .jitter(50)
                .seed(7),
        )
        .half_open_max_wait(Duration::from_millis(2))
    });
}
