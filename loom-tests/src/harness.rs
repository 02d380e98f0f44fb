//! The harness proper (see the crate docs); compiled only under `cfg(loom)`.

use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread::ThreadId;
use warden_breaker::{
    Builder, CircuitBreaker, ManualClock, Observer, OwnedPermit, Rejected, State,
};

/// Preemption bound used when `LOOM_MAX_PREEMPTIONS` is not set.
pub const DEFAULT_PREEMPTIONS: usize = 3;

/// Branch limit per execution. loom's default (1,000) is too low for models whose
/// threads each make a few breaker calls, every one several atomic operations.
const MAX_BRANCHES: usize = 20_000;

/// What [`explore`] measured.
#[derive(Clone, Copy, Debug)]
pub struct Explored {
    /// Interleavings (loom iterations) explored.
    pub iterations: usize,
    /// Preemption bound used.
    pub preemptions: usize,
    /// Wall time of the exploration.
    pub elapsed: Duration,
}

/// Explores every interleaving of `model` with at most `min(LOOM_MAX_PREEMPTIONS,
/// max_preemptions)` preemptions (`LOOM_MAX_PREEMPTIONS` defaults to
/// [`DEFAULT_PREEMPTIONS`]) and prints `loom <name>: <n> interleavings, ...`.
///
/// `max_preemptions` is the model's own cap: the bound at which it stays within its
/// share of the suite's CI budget (see `loom-tests/README.md`).
pub fn explore<F>(name: &str, max_preemptions: usize, model: F) -> Explored
where
    F: Fn() + Send + Sync + 'static,
{
    let requested = std::env::var("LOOM_MAX_PREEMPTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_PREEMPTIONS);
    let preemptions = requested.min(max_preemptions);
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(preemptions);
    builder.max_branches = builder.max_branches.max(MAX_BRANCHES);

    // A std atomic: it counts across executions, outside the model.
    let iterations = Arc::new(StdAtomicUsize::new(0));
    let counter = Arc::clone(&iterations);
    let start = Instant::now();
    builder.check(move || {
        counter.fetch_add(1, StdOrdering::Relaxed);
        model();
    });
    let explored = Explored {
        iterations: iterations.load(StdOrdering::Relaxed),
        preemptions,
        elapsed: start.elapsed(),
    };
    println!(
        "loom {name}: {} interleavings, preemption bound {}, {:.2} s",
        explored.iterations,
        explored.preemptions,
        explored.elapsed.as_secs_f64()
    );
    explored
}

/// A counter of how often a model reached a situation it exists to exercise; a model
/// asserts it is non-zero after [`explore`], so a change that makes the situation
/// unreachable fails the model instead of silently passing it.
#[derive(Clone, Debug, Default)]
pub struct Coverage(Arc<StdAtomicUsize>);

impl Coverage {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one execution that reached the situation.
    pub fn hit(&self) {
        self.0.fetch_add(1, StdOrdering::Relaxed);
    }

    /// Executions that reached it.
    pub fn hits(&self) -> usize {
        self.0.load(StdOrdering::Relaxed)
    }
}

/// Per-call events seen by a [`Recorder`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// `on_admitted(Closed)`.
    pub admitted_closed: u32,
    /// `on_admitted(HalfOpen)`: probes.
    pub admitted_half_open: u32,
    /// `on_rejected(Open)`.
    pub rejected_open: u32,
    /// `on_rejected(TooManyRequests)`.
    pub rejected_too_many: u32,
    /// `on_rejected(Throttled)`.
    pub rejected_throttled: u32,
    /// `on_success`.
    pub successes: u32,
    /// `on_failure` (panics included).
    pub failures: u32,
    /// `on_ignored`.
    pub ignored: u32,
    /// `on_dropped`.
    pub dropped: u32,
}

impl Tally {
    /// Calls admitted in any state.
    pub fn admitted(&self) -> u32 {
        self.admitted_closed + self.admitted_half_open
    }

    /// Outcomes reported, including drops: equals [`admitted`](Self::admitted) once
    /// every permit is gone.
    pub fn settled(&self) -> u32 {
        self.successes + self.failures + self.ignored + self.dropped
    }
}

/// One delivered state change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    /// State left.
    pub from: State,
    /// State entered.
    pub to: State,
    /// The loom thread that ran the callbacks.
    pub thread: ThreadId,
}

/// Records a breaker's events and checks the transition contract as the callbacks
/// run.
///
/// The builder's `on_state_change` callback does the checking:
///
/// * it reads, with a `Relaxed` load of a loom atomic, how many transitions were
///   published, and stores one more at its end with a `Relaxed` store. A `Relaxed`
///   load may return any store not ordered before it, and loom tries them all, so
///   the count only matches the transitions recorded so far if every earlier
///   callback happens-before this one. Between the load and the store loom can
///   switch threads: the callback "takes time", and a callback starting meanwhile
///   is caught too;
/// * each transition must start where the previous one ended (the chain starts in
///   `Closed`) and be one the state machine has.
///
/// Attached as an [`Observer`] too (see [`setup`]), it counts per-call events in a
/// [`Tally`] and keeps the observer's own list of transitions, which must equal the
/// callback's. Without an observer the breaker takes its observer-free fast paths,
/// which [`setup_bare`] models exercise.
#[derive(Debug)]
pub struct Recorder {
    tally: Mutex<Tally>,
    /// Builder callback, in delivery order.
    delivered: Mutex<Vec<Transition>>,
    /// Observer `on_state_change`, in delivery order (`None`: not attached).
    observed: Mutex<Option<Vec<(State, State)>>>,
    /// Transitions whose callback finished; written and read `Relaxed` on purpose
    /// (see the type docs).
    published: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A failed assertion inside a callback poisons the lock; the panic that did it
    // is what the model reports, so read through the poison.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Recorder {
    /// A recorder that has seen nothing.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            tally: Mutex::new(Tally::default()),
            delivered: Mutex::new(Vec::new()),
            observed: Mutex::new(None),
            published: AtomicUsize::new(0),
        })
    }

    /// Installs this recorder on `builder` as the `on_state_change` callback, and as
    /// an observer too if `observe`.
    pub fn attach(self: &Arc<Self>, builder: Builder, observe: bool) -> Builder {
        let rec = Arc::clone(self);
        let builder = builder.on_state_change(move |_, from, to| rec.delivered(from, to));
        if observe {
            *lock(&self.observed) = Some(Vec::new());
            builder.observer(Arc::clone(self))
        } else {
            builder
        }
    }

    /// Per-call events so far (all zero without an observer).
    pub fn tally(&self) -> Tally {
        *lock(&self.tally)
    }

    /// Transitions delivered so far, in order.
    pub fn transitions(&self) -> Vec<Transition> {
        lock(&self.delivered).clone()
    }

    /// `(from, to)` of the transitions delivered so far.
    pub fn changes(&self) -> Vec<(State, State)> {
        lock(&self.delivered)
            .iter()
            .map(|t| (t.from, t.to))
            .collect()
    }

    /// Transitions delivered after the first `skip` (those of a model's setup).
    pub fn changes_after(&self, skip: usize) -> Vec<(State, State)> {
        self.changes().split_off(skip)
    }

    /// Checks, once the model's threads are joined, that the breaker is where the last
    /// delivered transition left it and that the observer (if attached) saw the same
    /// transitions as the callback. Reads the state with [`CircuitBreaker::state`],
    /// which may itself perform a due transition first.
    pub fn assert_settled(&self, cb: &CircuitBreaker) {
        let state = cb.state();
        let changes = self.changes();
        let last = changes.last().map_or(State::Closed, |&(_, to)| to);
        assert_eq!(
            state, last,
            "state differs from the last delivered transition"
        );
        if let Some(observed) = &*lock(&self.observed) {
            assert_eq!(*observed, changes, "observer and callback disagree");
        }
    }

    fn count(&self, f: impl FnOnce(&mut Tally)) {
        f(&mut lock(&self.tally));
    }

    /// The checking callback (see the type docs).
    fn delivered(&self, from: State, to: State) {
        // Relaxed on purpose: only the breaker's own ordering may make the previous
        // callback's store visible here (see the type docs).
        let seen = self.published.load(Ordering::Relaxed);
        {
            let mut delivered = lock(&self.delivered);
            assert_eq!(
                seen,
                delivered.len(),
                "callback for {from:?} -> {to:?} does not happen-after the previous one \
                 (or overlaps it): it saw {seen} of {} earlier transitions",
                delivered.len()
            );
            let expected_from = delivered.last().map_or(State::Closed, |t| t.to);
            assert_eq!(
                from, expected_from,
                "transition chain broken: {from:?} -> {to:?} after {delivered:?}"
            );
            assert!(
                matches!(
                    (from, to),
                    (State::Closed, State::Open)
                        | (State::Open, State::HalfOpen)
                        | (State::HalfOpen, State::Open | State::Closed)
                        // only by a manual command (force_closed, disable, reset)
                        | (State::Open, State::Closed)
                ),
                "impossible transition {from:?} -> {to:?}"
            );
            delivered.push(Transition {
                from,
                to,
                thread: loom::thread::current().id(),
            });
        }
        // Relaxed: see above; the next callback must be ordered after this store by
        // the breaker.
        self.published.store(seen + 1, Ordering::Relaxed);
    }
}

impl Observer for Recorder {
    fn on_admitted(&self, state: State) {
        self.count(|t| match state {
            State::HalfOpen => t.admitted_half_open += 1,
            _ => t.admitted_closed += 1,
        });
    }
    fn on_rejected(&self, rejected: Rejected) {
        self.count(|t| match rejected {
            Rejected::Open => t.rejected_open += 1,
            Rejected::TooManyRequests => t.rejected_too_many += 1,
            Rejected::Throttled => t.rejected_throttled += 1,
        });
    }
    fn on_success(&self) {
        self.count(|t| t.successes += 1);
    }
    fn on_failure(&self) {
        self.count(|t| t.failures += 1);
    }
    fn on_ignored(&self) {
        self.count(|t| t.ignored += 1);
    }
    fn on_dropped(&self) {
        self.count(|t| t.dropped += 1);
    }
    fn on_state_change(&self, _name: &str, from: State, to: State) {
        if let Some(observed) = &mut *lock(&self.observed) {
            observed.push((from, to));
        }
    }
}

/// A breaker for a model: built on a [`ManualClock`] with a 1 ms timeout and a
/// [`Recorder`] attached. Clones share everything.
#[derive(Clone, Debug)]
pub struct Rig {
    /// The breaker, shared with the model's threads.
    pub cb: Arc<CircuitBreaker>,
    /// Its clock.
    pub clock: ManualClock,
    /// Its recorder.
    pub rec: Arc<Recorder>,
    /// See [`Rig::start`].
    gate: Arc<AtomicUsize>,
}

/// Timeout of every rig: the shortest the breaker accepts.
pub const TIMEOUT: Duration = Duration::from_millis(1);

/// Builds a [`Rig`] whose [`Recorder`] is both callback and observer; `configure`
/// sets what the model needs (`max_requests`, `ready_to_trip`, `interval`) on a
/// builder that already has the clock, the timeout and the recorder.
pub fn setup(configure: impl FnOnce(Builder) -> Builder) -> Rig {
    build(configure, true)
}

/// [`setup`] without the observer: the breaker takes its observer-free fast paths
/// (a closed success is then one comparison with the admission word and a counter
/// bump), and the [`Tally`] stays empty.
pub fn setup_bare(configure: impl FnOnce(Builder) -> Builder) -> Rig {
    build(configure, false)
}

fn build(configure: impl FnOnce(Builder) -> Builder, observe: bool) -> Rig {
    let clock = ManualClock::new();
    let rec = Recorder::new();
    let builder = rec.attach(
        CircuitBreaker::builder("loom")
            .clock(clock.clone())
            .timeout(TIMEOUT),
        observe,
    );
    let cb = configure(builder).build().expect("valid model settings");
    Rig {
        cb: Arc::new(cb),
        clock,
        rec,
        gate: Arc::new(AtomicUsize::new(0)),
    }
}

impl Rig {
    /// Marks the start of a model thread's part (the main thread calls it after
    /// spawning the others; [`Rig::spawn`] calls it first thing).
    ///
    /// This works around a loom 0.7 exploration gap (tokio-rs/loom#392, #166): loom
    /// remembers only the *last* access to each atomic, so when a thread's first
    /// operations are loads of the state word, the conflict between another thread's
    /// earlier load and this thread's later exchange is never noticed, and the
    /// schedules where this thread runs first are not explored at all (a model of
    /// two threads then runs in one or two interleavings). Read-modify-writes on one
    /// shared word always conflict, so starting every thread with one makes loom
    /// explore every order in which the threads start, and from there the
    /// interleavings their later accesses expose. `Relaxed`: it must not order
    /// anything, or it would hide races.
    pub fn start(&self) {
        self.gate.fetch_add(1, Ordering::Relaxed);
    }

    /// Spawns a model thread running `f` on a clone of this rig, after [`Rig::start`].
    pub fn spawn<T: 'static>(
        &self,
        f: impl FnOnce(Rig) -> T + 'static,
    ) -> loom::thread::JoinHandle<T> {
        let rig = self.clone();
        loom::thread::spawn(move || {
            rig.start();
            f(rig)
        })
    }

    /// Fails calls until the breaker opens (at most 10; models trip within a few).
    pub fn open(&self) {
        for _ in 0..10 {
            if self.cb.state() == State::Open {
                return;
            }
            self.acquire().failure();
        }
        panic!("breaker did not trip after 10 failures");
    }

    /// Moves the clock past the open timeout.
    pub fn expire(&self) {
        self.clock.advance(TIMEOUT + Duration::from_millis(1));
    }

    /// Opens the breaker and lets its timeout pass: the next look at it turns it
    /// half-open.
    pub fn open_and_expire(&self) {
        self.open();
        self.expire();
    }

    /// Opens the breaker, lets its timeout pass and turns it half-open (no probe
    /// slot taken).
    pub fn half_open(&self) {
        self.open_and_expire();
        assert_eq!(self.cb.state(), State::HalfOpen);
    }

    /// A permit that the model's setup expects to be granted.
    pub fn acquire(&self) -> OwnedPermit {
        self.cb
            .try_acquire_owned()
            .expect("setup expects admission")
    }

    /// Ends the model's setup: forgets its per-call events and returns how many
    /// transitions it delivered, for [`Recorder::changes_after`].
    pub fn begin(&self) -> usize {
        *lock(&self.rec.tally) = Tally::default();
        self.rec.changes().len()
    }
}

/// [`setup_bare`] with the breaker's first generation at `generation` instead of 1:
/// a model reaches the counters' sweep (every
/// `warden_breaker::__private::SWEEP_PERIOD`-th generation) or the generation wrap
/// without making that many transitions first.
pub fn setup_bare_at_generation(
    generation: u32,
    configure: impl FnOnce(Builder) -> Builder,
) -> Rig {
    let clock = ManualClock::new();
    let rec = Recorder::new();
    let builder = rec.attach(
        CircuitBreaker::builder("loom")
            .clock(clock.clone())
            .timeout(TIMEOUT),
        false,
    );
    let settings = configure(builder).settings().expect("valid model settings");
    let cb = warden_breaker::__private::breaker_at_generation(settings, generation);
    Rig {
        cb: Arc::new(cb),
        clock,
        rec,
        gate: Arc::new(AtomicUsize::new(0)),
    }
}
