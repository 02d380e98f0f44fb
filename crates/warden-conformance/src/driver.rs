//! The lockstep driver: [`run`] applies each [`Op`] to the lock-free breaker,
//! then to the mutex reference, and compares everything observable.

use std::any::Any;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use warden_breaker::{
    BreakerPermit, CircuitBreaker as LockFree, Counts, Error, ManualClock, Observer, Outcome,
    ReconfigureError, Rejected, State,
};
use warden_mutex::CircuitBreaker as Reference;

use crate::{Config, Op};

/// Permits held at once; an admission beyond this is dropped at once.
const MAX_HELD: usize = 32;

/// Where two breakers disagreed.
///
/// ```
/// use warden_conformance::{Config, Op, run};
/// let r = run(&Config::default(), &[Op::Acquire, Op::Success(0)]);
/// assert!(r.is_ok());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// Index of the op in the sequence; indices past the end are the final
    /// drops of permits still held.
    pub step: usize,
    /// The op (`None` for the final drops).
    pub op: Option<Op>,
    /// What differed: `"result"` (of the op), `"events"` (callbacks and observer
    /// events, in order), `"counts"`, `"mode"` or `"state"`; `"config"` when the builder
    /// rejected the [`Config`] (possible only for hand-made configs with
    /// out-of-range values), with the error on both sides.
    pub what: &'static str,
    /// The lock-free breaker's answer.
    pub lock_free: String,
    /// The mutex reference's answer.
    pub mutex: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "step {} ({}): {} differ\n  lock-free: {}\n  mutex:     {}",
            self.step,
            match &self.op {
                Some(op) => format!("{op:?}"),
                None => "final drop of held permits".to_owned(),
            },
            self.what,
            self.lock_free,
            self.mutex
        )
    }
}

impl std::error::Error for Mismatch {}

/// Something the breakers told the outside world: a state-change callback or an
/// observer event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Event {
    Callback(State, State),
    Admitted(State),
    Rejected(Rejected),
    Success,
    Failure,
    Ignored,
    Dropped,
    ObservedChange(State, State),
}

/// The one log both breakers write to (they share the settings, hence the
/// callback and observer); the driver takes it after each breaker's half of a
/// step, which attributes every event to its breaker.
#[derive(Clone, Debug, Default)]
struct Log(Arc<Mutex<Vec<Event>>>);

impl Log {
    fn push(&self, e: Event) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(e);
    }
    fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Observer for Log {
    fn on_admitted(&self, state: State) {
        self.push(Event::Admitted(state))
    }
    fn on_rejected(&self, rejected: Rejected) {
        self.push(Event::Rejected(rejected))
    }
    fn on_success(&self) {
        self.push(Event::Success)
    }
    fn on_failure(&self) {
        self.push(Event::Failure)
    }
    fn on_ignored(&self) {
        self.push(Event::Ignored)
    }
    fn on_dropped(&self) {
        self.push(Event::Dropped)
    }
    fn on_state_change(&self, _name: &str, from: State, to: State) {
        self.push(Event::ObservedChange(from, to))
    }
}

/// The payload of the driver's own deliberate panics. They are raised with
/// [`resume_unwind`], which skips the panic hook: they are expected, they would
/// flood the output, and under libFuzzer the hook aborts the process.
struct DriverPanic;

/// Drops `value` while the thread unwinds, then catches the unwind.
fn drop_while_panicking<T>(value: T) -> Result<(), Box<dyn Any + Send>> {
    catch_unwind(AssertUnwindSafe(move || {
        let _value = value;
        resume_unwind(Box::new(DriverPanic))
    }))
}

/// A permit of each breaker, admitted by the same step.
enum Held<'a> {
    Borrowed(warden_breaker::Permit<'a>, warden_mutex::Permit<'a>),
    Owned(warden_breaker::OwnedPermit, warden_mutex::OwnedPermit),
}

/// What a breaker answered to one op, in a form both can be compared in.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Nothing,
    Call(Result<u32, Error<u32>>),
    Unwound,
    State(State),
    Counts(Counts),
    Reconfigured(Result<(), ReconfigureError>),
}

/// Applies a manual command to both breakers, lock-free first, and compares the
/// events it caused.
fn command(
    pair: &Pair,
    step: &Step,
    on_lock_free: impl FnOnce(&LockFree),
    on_mutex: impl FnOnce(&Reference),
) -> Result<(), Mismatch> {
    step.both(
        pair,
        || {
            on_lock_free(&pair.lock_free);
            Answer::Nothing
        },
        || {
            on_mutex(&pair.mutex);
            Answer::Nothing
        },
    )
}

/// One side of the pair, abstracted over just enough to drive it with one code
/// path per op.
trait Side {
    fn state(&self) -> State;
    fn counts(&self) -> Counts;
    fn call_with(&self, outcome: Outcome) -> Result<u32, Error<u32>>;
    fn call_panicking(&self) -> Result<u32, Error<u32>>;
}

macro_rules! side {
    ($t:ty) => {
        impl Side for $t {
            fn state(&self) -> State {
                <$t>::state(self)
            }
            fn counts(&self) -> Counts {
                <$t>::counts(self)
            }
            fn call_with(&self, outcome: Outcome) -> Result<u32, Error<u32>> {
                <$t>::call_with(self, || returned(outcome), |_| outcome)
            }
            fn call_panicking(&self) -> Result<u32, Error<u32>> {
                <$t>::call(self, || -> Result<u32, u32> {
                    resume_unwind(Box::new(DriverPanic))
                })
            }
        }
    };
}
side!(LockFree);
side!(Reference);

struct Pair {
    lock_free: Arc<LockFree>,
    mutex: Arc<Reference>,
    clock: ManualClock,
    log: Log,
}

/// Compares the two halves of a step.
struct Step {
    step: usize,
    op: Option<Op>,
}

impl Step {
    /// Sets this thread's draws for the step, before each breaker's admission, so
    /// that an adaptive throttle draws the same number in both.
    fn fix_draws(&self) {
        warden_breaker::AdaptiveThrottle::set_thread_draws(
            (self.step as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        );
    }

    fn check<T: PartialEq + fmt::Debug>(
        &self,
        what: &'static str,
        lock_free: T,
        mutex: T,
    ) -> Result<(), Mismatch> {
        if lock_free == mutex {
            return Ok(());
        }
        Err(Mismatch {
            step: self.step,
            op: self.op,
            what,
            lock_free: format!("{lock_free:?}"),
            mutex: format!("{mutex:?}"),
        })
    }

    /// Runs `on_lock_free` then `on_mutex`, each followed by taking the event log,
    /// and compares answers and events.
    fn both(
        &self,
        pair: &Pair,
        on_lock_free: impl FnOnce() -> Answer,
        on_mutex: impl FnOnce() -> Answer,
    ) -> Result<(), Mismatch> {
        self.fix_draws();
        let a = on_lock_free();
        let a_events = pair.log.take();
        self.fix_draws();
        let b = on_mutex();
        let b_events = pair.log.take();
        self.check("result", a, b)?;
        self.check("events", a_events, b_events)
    }
}

/// Drives the lock-free breaker and the mutex reference, built from clones of
/// one [`Settings`](warden_breaker::Settings) with one
/// [`ManualClock`], through `ops` in lockstep.
///
/// After every op it compares the op's result (admission, call result or
/// panic), the callbacks and observer events the op caused (in order), and
/// `counts()`, `totals()` and `mode()`; after every op except [`Op::Advance`] and [`Op::Counts`] it also
/// compares `state()`. Those two are skipped because `state()` performs due
/// transitions: checking it right after the clock moves would make every
/// transition eager and hide the lazy paths (the first admission after a
/// timeout, `counts()` before anyone looked). Permits still held at the end are
/// dropped one by one, with the same comparisons.
///
/// ```
/// use warden_breaker::Outcome;
/// use warden_conformance::{Config, Op, TripRule, run};
/// let config = Config { max_requests: 2, interval_ms: 5, timeout_ms: 3, trip: TripRule::ConsecutiveFailures(2), ..Config::default() };
/// let ops = [Op::Acquire, Op::Call(Outcome::Failure), Op::Failure(0), Op::Advance(4), Op::Acquire, Op::Acquire, Op::Acquire];
/// run(&config, &ops)?;
/// # Ok::<(), warden_conformance::Mismatch>(())
/// ```
pub fn run(config: &Config, ops: &[Op]) -> Result<(), Mismatch> {
    let clock = ManualClock::new();
    let log = Log::default();
    let callback_log = log.clone();
    let settings = config
        .settings(
            &clock,
            move |_, from, to| callback_log.push(Event::Callback(from, to)),
            log.clone(),
        )
        .map_err(|e| Mismatch {
            step: 0,
            op: None,
            what: "config",
            lock_free: e.to_string(),
            mutex: e.to_string(),
        })?;
    let pair = Pair {
        lock_free: Arc::new(LockFree::from_settings(settings.clone())),
        mutex: Arc::new(Reference::from_settings(settings)),
        clock,
        log,
    };
    let mut held: Vec<Held<'_>> = Vec::new();
    for (i, &op) in ops.iter().enumerate() {
        let step = Step {
            step: i,
            op: Some(op),
        };
        apply(&pair, &mut held, &step, op)?;
        step.check("counts", pair.lock_free.counts(), pair.mutex.counts())?;
        step.check("totals", pair.lock_free.totals(), pair.mutex.totals())?;
        step.check("mode", pair.lock_free.mode(), pair.mutex.mode())?;
        if !matches!(op, Op::Advance(_) | Op::Counts) {
            compare_state(&pair, &step)?;
        }
    }
    let mut step = Step {
        step: ops.len(),
        op: None,
    };
    for h in held.drain(..) {
        drop_pair(&pair, &step, h)?;
        step.check("counts", pair.lock_free.counts(), pair.mutex.counts())?;
        step.check("totals", pair.lock_free.totals(), pair.mutex.totals())?;
        step.step += 1;
    }
    compare_state(&pair, &step)
}

/// Compares `state()` and the transitions it performed.
fn compare_state(pair: &Pair, step: &Step) -> Result<(), Mismatch> {
    step.both(
        pair,
        || Answer::State(pair.lock_free.state()),
        || Answer::State(pair.mutex.state()),
    )
    .map_err(|m| match m.what {
        "result" => Mismatch { what: "state", ..m },
        _ => m,
    })
}

/// Something to drop: either breaker's permit, borrowed or owned.
trait Droppable {}
impl<T> Droppable for T {}

type Boxed<'a> = Box<dyn Droppable + 'a>;

/// The two permits of a held pair, type-erased: all that is left to do is drop them.
fn split(h: Held<'_>) -> (Boxed<'_>, Boxed<'_>) {
    match h {
        Held::Borrowed(a, b) => (Box::new(a), Box::new(b)),
        Held::Owned(a, b) => (Box::new(a), Box::new(b)),
    }
}

/// Drops both permits of `h`, lock-free first, and compares.
fn drop_pair(pair: &Pair, step: &Step, h: Held<'_>) -> Result<(), Mismatch> {
    let (a, b) = split(h);
    step.both(
        pair,
        || {
            drop(a);
            Answer::Nothing
        },
        || {
            drop(b);
            Answer::Nothing
        },
    )
}

/// Records `outcome` on both permits, lock-free first, and compares.
fn record_pair(
    pair: &Pair,
    step: &Step,
    a: impl BreakerPermit,
    b: impl BreakerPermit,
    outcome: Outcome,
) -> Result<(), Mismatch> {
    step.both(
        pair,
        || {
            a.record(outcome);
            Answer::Nothing
        },
        || {
            b.record(outcome);
            Answer::Nothing
        },
    )
}

/// What a call classified as `outcome` returns (as [`Side::call_with`]).
fn returned(outcome: Outcome) -> Result<u32, u32> {
    match outcome {
        Outcome::Success => Ok(1),
        Outcome::Failure => Err(2),
        Outcome::Ignored => Err(3),
    }
}

/// [`Op::SlowCall`]: the mutex reference's call runs inside the lock-free
/// breaker's, and the innermost closure moves the clock, so both breakers admit
/// at the same instant and record after the same advance (two calls one after
/// the other would each see the other's time pass). Events are taken at each
/// boundary and attributed to their breaker: the lock-free admission, the mutex
/// admission, the mutex outcome, the lock-free outcome.
fn slow_call(pair: &Pair, step: &Step, outcome: Outcome, took: Duration) -> Result<(), Mismatch> {
    let (lf, mx) = (&*pair.lock_free, &*pair.mutex);
    let mut a_events = Vec::new();
    let mut b_events = Vec::new();
    let mut b = None;
    step.fix_draws();
    let a = lf.call_with(
        || {
            a_events = pair.log.take();
            step.fix_draws();
            let r = mx.call_with(
                || {
                    b_events = pair.log.take();
                    pair.clock.advance(took);
                    returned(outcome)
                },
                |_| outcome,
            );
            b_events.extend(pair.log.take());
            b = Some(r);
            returned(outcome)
        },
        |_| outcome,
    );
    a_events.extend(pair.log.take());
    // The lock-free breaker refused: the reference makes its call alone (the
    // results then differ unless it refuses too).
    let b = b.unwrap_or_else(|| {
        step.fix_draws();
        let r = mx.call_with(
            || {
                pair.clock.advance(took);
                returned(outcome)
            },
            |_| outcome,
        );
        b_events = pair.log.take();
        r
    });
    step.check("result", Answer::Call(a), Answer::Call(b))?;
    step.check("events", a_events, b_events)
}

/// A permit either breaker admitted.
enum Admitted<B, O> {
    Borrowed(B),
    Owned(O),
}

impl<B, O> Admitted<B, O> {
    fn state(&self, borrowed: impl Fn(&B) -> State, owned: impl Fn(&O) -> State) -> State {
        match self {
            Admitted::Borrowed(p) => borrowed(p),
            Admitted::Owned(p) => owned(p),
        }
    }
}

fn apply<'a>(
    pair: &'a Pair,
    held: &mut Vec<Held<'a>>,
    step: &Step,
    op: Op,
) -> Result<(), Mismatch> {
    let lf = &*pair.lock_free;
    let mx = &*pair.mutex;
    match op {
        Op::Acquire | Op::AcquireOwned => {
            let owned = op == Op::AcquireOwned;
            step.fix_draws();
            let a = if owned {
                pair.lock_free.try_acquire_owned().map(Admitted::Owned)
            } else {
                lf.try_acquire().map(Admitted::Borrowed)
            };
            let a_events = pair.log.take();
            step.fix_draws();
            let b = if owned {
                pair.mutex.try_acquire_owned().map(Admitted::Owned)
            } else {
                mx.try_acquire().map(Admitted::Borrowed)
            };
            let b_events = pair.log.take();
            step.check(
                "result",
                a.as_ref()
                    .map(|p| p.state(|p| p.admitted_in(), |p| p.admitted_in())),
                b.as_ref()
                    .map(|p| p.state(|p| p.admitted_in(), |p| p.admitted_in())),
            )?;
            step.check("events", a_events, b_events)?;
            let h = match (a, b) {
                (Ok(Admitted::Borrowed(a)), Ok(Admitted::Borrowed(b))) => Held::Borrowed(a, b),
                (Ok(Admitted::Owned(a)), Ok(Admitted::Owned(b))) => Held::Owned(a, b),
                // Both rejected: the results were compared above.
                _ => return Ok(()),
            };
            if held.len() < MAX_HELD {
                held.push(h);
                Ok(())
            } else {
                drop_pair(pair, step, h)
            }
        }
        Op::Success(i) | Op::Failure(i) | Op::Ignore(i) => {
            let outcome = match op {
                Op::Success(_) => Outcome::Success,
                Op::Failure(_) => Outcome::Failure,
                _ => Outcome::Ignored,
            };
            if held.is_empty() {
                return Ok(());
            }
            match held.remove(i % held.len()) {
                Held::Borrowed(a, b) => record_pair(pair, step, a, b, outcome),
                Held::Owned(a, b) => record_pair(pair, step, a, b, outcome),
            }
        }
        Op::Drop(i) => {
            if held.is_empty() {
                return Ok(());
            }
            let h = held.remove(i % held.len());
            drop_pair(pair, step, h)
        }
        Op::DropPanicking(i) => {
            if held.is_empty() {
                return Ok(());
            }
            let (a, b) = split(held.remove(i % held.len()));
            let unwound = |r: Result<(), Box<dyn Any + Send>>| match r {
                Err(p) if p.is::<DriverPanic>() => Answer::Unwound,
                _ => Answer::Nothing,
            };
            step.both(
                pair,
                || unwound(drop_while_panicking(a)),
                || unwound(drop_while_panicking(b)),
            )
        }
        Op::Call(outcome) => step.both(
            pair,
            || Answer::Call(Side::call_with(lf, outcome)),
            || Answer::Call(Side::call_with(mx, outcome)),
        ),
        Op::SlowCall(outcome, nanos) => slow_call(pair, step, outcome, Duration::from_nanos(nanos)),
        Op::CallPanicking => {
            let call = |s: &dyn Side| match catch_unwind(AssertUnwindSafe(|| s.call_panicking())) {
                Ok(r) => Answer::Call(r),
                Err(p) if p.is::<DriverPanic>() => Answer::Unwound,
                Err(p) => resume_unwind(p),
            };
            step.both(pair, || call(lf), || call(mx))
        }
        Op::Advance(ms) => {
            pair.clock.advance(Duration::from_millis(ms));
            Ok(())
        }
        Op::State => step.both(
            pair,
            || Answer::State(Side::state(lf)),
            || Answer::State(Side::state(mx)),
        ),
        Op::Counts => step.both(
            pair,
            || Answer::Counts(Side::counts(lf)),
            || Answer::Counts(Side::counts(mx)),
        ),
        Op::ForceOpen => command(pair, step, LockFree::force_open, Reference::force_open),
        Op::ForceOpenFor(ms) => {
            let d = Duration::from_millis(ms);
            command(pair, step, |b| b.force_open_for(d), |b| b.force_open_for(d))
        }
        Op::ForceClosed => command(pair, step, LockFree::force_closed, Reference::force_closed),
        Op::Disable => command(pair, step, LockFree::disable, Reference::disable),
        Op::Reset => command(pair, step, LockFree::reset, Reference::reset),
        Op::Reconfigure(bytes) => {
            let config = Config::from_bytes(&bytes);
            step.both(
                pair,
                || Answer::Reconfigured(lf.reconfigure(config.builder())),
                || Answer::Reconfigured(mx.reconfigure(config.builder().into())),
            )
        }
    }
}
