//! Transitions on time: the ticker moves a breaker at its deadline, without a call.
//!
//! Without this, transitions are lazy: an open breaker whose timeout passed turns
//! half-open (callbacks, observers, totals, a new generation) only when something
//! looks at it. A breaker shared in an `Arc` can let the ticker look at it instead
//! ([`CircuitBreaker::schedule_transitions`]), at each deadline of its word: the
//! open timeout, a forced-open-until deadline, the half-open max wait.
//!
//! # Registration
//!
//! Such a breaker carries one [`Scheduled`], shared with the ticker: a weak
//! reference to the breaker (the ticker never keeps it alive) and `due`, the
//! earliest deadline registered since the ticker last looked at it. A deadline is
//! registered once the word that carries it is installed with `PENDING` clear:
//! where a delivery of callbacks ends, and where a command installs its word
//! without one. Registering is one `fetch_min` on `due`; only when that moves
//! `due` earlier is the ticker told (an `Arc` clone sent through a lock-free
//! channel, whose blocks of 31 messages are allocated by the sender) and woken if
//! it stopped. Rejections register nothing: they neither allocate nor write.
//!
//! # The agenda
//!
//! The ticker thread keeps the breakers it was told about in a heap ordered by
//! the time of their next look, one live entry per breaker (a registration for an
//! earlier time supersedes it, and the old entry is skipped when it comes up). Each
//! tick it takes the messages, then looks at every breaker whose time came: it
//! takes `due` (an `Acquire` swap that reads every registration made before it,
//! and with it the word each registration describes), performs the due transition
//! with [`CircuitBreaker::state`] (the code a call's look runs, one exchange
//! deciding who delivers it), and reads the word's next deadline, if any, for the
//! next look. A registration that the swap misses comes after it, finds `due`
//! empty and tells the ticker again, so none is lost (loom:
//! `schedule::a_registration_racing_the_look_is_never_lost`).
//!
//! A look runs on the ticker thread, so the transition's callbacks and observers
//! do too; one that panics is caught there (the panic message is printed by the
//! panic hook as usual) and the breaker is looked at again on the next tick. While
//! the looks run, the ticker publishes no time: a callback that blocks holds up
//! the other looks, but not the calls of other breakers, which read the clock. A
//! dropped breaker's entry is dropped at its time, or sooner by a sweep every
//! [`SWEEP_TICKS`] ticks; the thread runs while the agenda holds an entry.
//!
//! # Cost
//!
//! Per breaker: one pointer in the breaker (8 bytes), and, once scheduled, a
//! 56-byte allocation (the [`Scheduled`] in its `Arc`). Per open period: one
//! registration and one message; on the ticker thread, one heap entry (24 bytes)
//! and one look at the deadline (a clock read, the transition, the callbacks).

use std::sync::{Arc as StdArc, Weak};

use super::{Cfg, CircuitBreaker};
use crate::state::{Snapshot, Tag};
use crate::sync::{AtomicU64, Ordering, fence};
#[cfg(not(loom))]
use crate::ticker;

/// `due` holding no registration.
const NONE: u64 = u64::MAX;

/// Ticks between the agenda's sweeps of dropped breakers (about 0.1 s).
#[cfg(not(loom))]
const SWEEP_TICKS: u64 = 100;

/// What the ticker needs of a breaker it may move on time (see the module docs).
#[derive(Debug)]
pub(crate) struct Scheduled {
    /// The breaker: the ticker never keeps it alive. (Loom models look at the
    /// breaker they hold instead.)
    #[cfg_attr(loom, allow(dead_code))]
    breaker: Weak<CircuitBreaker>,
    /// The earliest time (the breaker's clock, nanoseconds) registered since the
    /// ticker last looked at the breaker, [`NONE`] if none.
    due: AtomicU64,
    /// Registrations tell the process's ticker (`false`: a unit test's or a loom
    /// model's breaker, looked at by the test itself).
    process: bool,
    /// Tests and models: whether a registration told the ticker.
    #[cfg(any(test, loom))]
    told: std::sync::atomic::AtomicBool,
    /// Ticker threads only, under the agenda's lock: the id of the entry that
    /// stands for this breaker in the agenda (0: none), and its time (`NONE`: none).
    #[cfg(not(loom))]
    entry: std::sync::atomic::AtomicU64,
    #[cfg(not(loom))]
    entry_at: std::sync::atomic::AtomicU64,
}

impl Scheduled {
    fn new(breaker: Weak<CircuitBreaker>, process: bool) -> Self {
        Self {
            breaker,
            due: AtomicU64::new(NONE),
            process,
            #[cfg(any(test, loom))]
            told: std::sync::atomic::AtomicBool::new(false),
            #[cfg(not(loom))]
            entry: std::sync::atomic::AtomicU64::new(0),
            #[cfg(not(loom))]
            entry_at: std::sync::atomic::AtomicU64::new(NONE),
        }
    }

    /// Registers a look at time `at`: `true` if the ticker must be told (no
    /// registration as early is waiting for it).
    fn register(&self, at: u64) -> bool {
        // Release: pairs with the Acquire swap in `take_due`: a look that reads this
        // registration sees the word it describes (installed before it), or a later one.
        self.due.fetch_min(at, Ordering::Release) > at
    }

    /// The start of a look: every registration so far is taken care of by it.
    fn take_due(&self) {
        // Acquire: pairs with the Release of `register` (see there).
        self.due.swap(NONE, Ordering::Acquire);
    }

    /// Tests and models: whether a registration told the ticker since the last call.
    #[cfg(any(test, loom))]
    fn take_told(&self) -> bool {
        self.told.swap(false, std::sync::atomic::Ordering::Relaxed)
    }
}

impl CircuitBreaker {
    /// Lets the process's ticker move this breaker on time, without a call: an open
    /// breaker turns half-open at its timeout (a breaker forced open for a while, at
    /// the end of it), and a half-open one that outlives its
    /// [`half_open_max_wait`](crate::Builder::half_open_max_wait) re-opens, with
    /// its state-change callback and observers run at that moment, on the
    /// `warden-ticker` thread (like Resilience4j's automatic transition from open
    /// to half-open).
    ///
    /// Without it transitions are lazy: they happen, with their callbacks, when
    /// something looks at the breaker (a call, [`state`](Self::state)).
    ///
    /// The ticker looks within one millisecond plus the thread's scheduling delay
    /// of the deadline. It holds only a weak reference: dropping the last `Arc`
    /// drops the breaker as usual, and the ticker forgets it. The transition is
    /// the one a call would perform (one compare-and-swap decides who delivers
    /// it), so racing calls and commands still see each transition exactly once
    /// and in order. A callback that panics on the ticker thread is caught there.
    /// One that blocks holds up the ticker's other looks (other scheduled breakers
    /// then move late, or lazily when called: while the ticker looks, calls read
    /// the clock instead of its time), so keep callbacks short.
    ///
    /// Only breakers on the default clock ([`QuantaClock`](crate::QuantaClock))
    /// are moved; on any other clock (a [`ManualClock`](crate::ManualClock) in
    /// tests) this does nothing and the breaker stays lazy. It costs a 56-byte
    /// allocation once, and per open period one registration (no work on the
    /// call paths, none on a rejection); see the crate docs, "Time". Calling it
    /// again does nothing more.
    ///
    /// ```
    /// use std::sync::{Arc, mpsc};
    /// use std::time::Duration;
    /// use warden_breaker::{CircuitBreaker, State};
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let cb = Arc::new(
    ///     CircuitBreaker::builder("db")
    ///         .on_state_change(move |_, from, to| {
    ///             let _ = tx.send((from, to));
    ///         })
    ///         .build()?,
    /// );
    /// cb.schedule_transitions();
    /// cb.force_open_for(Duration::from_millis(20));
    /// assert_eq!(rx.recv()?, (State::Closed, State::Open));
    /// // No call: the ticker turns it half-open at the deadline.
    /// assert_eq!(rx.recv_timeout(Duration::from_secs(10))?, (State::Open, State::HalfOpen));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn schedule_transitions(self: &StdArc<Self>) {
        if self.time.is_process() {
            self.attach(StdArc::downgrade(self), true);
        }
    }

    /// Makes this breaker reachable through `me` by the process's ticker
    /// (`process`), or only by the looks of a test or model, whatever its clock.
    pub(crate) fn attach(&self, me: Weak<CircuitBreaker>, process: bool) {
        self.scheduled
            .get_or_init(|| StdArc::new(Scheduled::new(me, process)));
        // The word read by a read-modify-write, ordered with the exchanges of the
        // deliveries and commands that reschedule. Release: pairs with the Acquire
        // fence in `reschedule`: a delivery or command whose exchange comes later in
        // the word's order sees the cell just published and registers its word; one
        // whose exchange came earlier left the word read here. (A plain load here and
        // there could each miss the other.)
        let s = Snapshot(self.state.fetch_add(0, Ordering::Release));
        self.reschedule(s);
    }

    /// `word` was just installed with `PENDING` clear (a delivery ended, or a command
    /// installed it without one): registers its next deadline with the ticker, if
    /// the ticker may move this breaker.
    pub(super) fn reschedule(&self, word: Snapshot) {
        // Acquire: pairs with the Release read-modify-write in `attach`, read (or
        // followed in the word's order) by the exchange that installed `word`.
        fence(Ordering::Acquire);
        let Some(sched) = self.scheduled.get() else {
            return;
        };
        let Some(tick) = self.next_deadline(word) else {
            return;
        };
        let at = self.time.passed_at(tick);
        if sched.register(at) {
            tell(sched, at);
        }
    }

    /// The tick after which `s` has a transition due that the ticker should perform
    /// (none while `PENDING`: whoever clears it reschedules).
    fn next_deadline(&self, s: Snapshot) -> Option<u64> {
        if s.is_pending() {
            return None;
        }
        match s.tag() {
            Tag::Open | Tag::Manual => s.open_deadline(),
            Tag::HalfOpen => {
                let max_wait = Cfg::lazy(&self.live).settings().half_open_max_wait_ticks();
                (max_wait != 0)
                    .then(|| self.counters.half_open_deadline(s.generation()))
                    .flatten()
            }
            Tag::Closed => None,
        }
    }

    /// The ticker's look: performs the transition that is due, if any, and says
    /// when to look next (the breaker's clock, nanoseconds).
    pub(super) fn look(&self, sched: &Scheduled) -> Option<u64> {
        sched.take_due();
        let _ = self.state();
        self.next_deadline(self.load())
            .map(|tick| self.time.passed_at(tick))
    }

    /// An open word with deadline `tick` is about to be installed: unless the ticker
    /// moves this breaker (its agenda then keeps the thread running), keeps the
    /// ticker running until then, so rejections need no clock read.
    pub(super) fn open_until(&self, tick: u64) {
        if self.scheduled.get().is_none() {
            self.time.open_until(tick);
        }
    }
}

/// Loom models' view of the scheduler (see `__private` in the crate root).
#[cfg(loom)]
impl CircuitBreaker {
    /// The ticker's look, if the breaker is attached.
    pub(crate) fn loom_look(&self) -> Option<u64> {
        self.scheduled.get().and_then(|s| self.look(s))
    }

    /// Whether a registration told the ticker since the last call.
    pub(crate) fn loom_told(&self) -> bool {
        self.scheduled.get().is_some_and(|s| s.take_told())
    }

    /// When the ticker should look next at the word as it is.
    pub(crate) fn loom_next_look(&self) -> Option<u64> {
        self.next_deadline(self.load())
            .map(|tick| self.time.passed_at(tick))
    }
}

/// Tells the ticker to look at `sched`'s breaker at `at`.
fn tell(sched: &StdArc<Scheduled>, at: u64) {
    #[cfg(any(test, loom))]
    sched.told.store(true, std::sync::atomic::Ordering::Relaxed);
    #[cfg(not(loom))]
    if sched.process {
        process::send(StdArc::clone(sched), at);
        ticker::wake();
    }
    #[cfg(loom)]
    let _ = (at, sched.process);
}

#[cfg(not(loom))]
pub(crate) use process::run;

#[cfg(not(loom))]
mod process {
    use std::sync::mpsc::{Receiver, Sender, channel};
    use std::sync::{Arc, Mutex, OnceLock, PoisonError};

    use super::{Agenda, Scheduled};

    type Message = (Arc<Scheduled>, u64);

    struct Inbox {
        tx: Sender<Message>,
        agenda: Mutex<(Receiver<Message>, Agenda)>,
    }

    static INBOX: OnceLock<Inbox> = OnceLock::new();

    fn inbox() -> &'static Inbox {
        INBOX.get_or_init(|| {
            let (tx, rx) = channel();
            Inbox {
                tx,
                agenda: Mutex::new((rx, Agenda::default())),
            }
        })
    }

    pub(super) fn send(sched: Arc<Scheduled>, at: u64) {
        // The receiver lives in a static: it is never dropped, so sending cannot fail.
        let _ = inbox().tx.send((sched, at));
    }

    /// One tick of the agenda at process time `now`, on the ticker thread: `true`
    /// while it holds entries (the thread must go on).
    pub(crate) fn run(now: u64) -> bool {
        let Some(inbox) = INBOX.get() else {
            return false;
        };
        // Only ticker threads lock it, one at a time; a look's panic is caught inside,
        // so it is never poisoned, but a poisoned agenda is still a valid one.
        let mut guard = inbox.agenda.lock().unwrap_or_else(PoisonError::into_inner);
        let (rx, agenda) = &mut *guard;
        while let Ok((sched, at)) = rx.try_recv() {
            agenda.push(sched, at);
        }
        agenda.run(now, crate::ticker::looking)
    }
}

/// The ticker thread's heap of breakers to look at (see the module docs).
#[cfg(not(loom))]
#[derive(Default)]
struct Agenda {
    heap: std::collections::BinaryHeap<Entry>,
    /// The last entry id given out (ids start at 1; 0 is "no entry").
    last_id: u64,
    ticks: u64,
}

#[cfg(not(loom))]
struct Entry {
    at: u64,
    id: u64,
    sched: StdArc<Scheduled>,
}

#[cfg(not(loom))]
impl Entry {
    fn key(&self) -> std::cmp::Reverse<(u64, u64)> {
        std::cmp::Reverse((self.at, self.id))
    }
}

#[cfg(not(loom))]
impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

#[cfg(not(loom))]
impl Eq for Entry {}

#[cfg(not(loom))]
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(not(loom))]
impl Ord for Entry {
    /// The earliest entry is the greatest: `BinaryHeap` pops it first.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

#[cfg(not(loom))]
impl Agenda {
    /// Looks at `sched`'s breaker no later than `at`: a new entry, unless the one
    /// that stands for it already comes as early.
    fn push(&mut self, sched: StdArc<Scheduled>, at: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        // Relaxed: `entry` and `entry_at` are read and written only under the agenda's lock.
        if sched.entry_at.load(Relaxed) <= at {
            return;
        }
        self.last_id += 1;
        let id = self.last_id;
        sched.entry.store(id, Relaxed);
        sched.entry_at.store(at, Relaxed);
        self.heap.push(Entry { at, id, sched });
    }

    /// Looks at every breaker whose time came by `now`; `true` while entries remain.
    /// `looking(true)` before the first look and `looking(false)` after the last:
    /// the process's ticker hides its time meanwhile (see `ticker::looking`).
    fn run(&mut self, now: u64, mut looking: impl FnMut(bool)) -> bool {
        use std::panic::{AssertUnwindSafe, catch_unwind};
        use std::sync::atomic::Ordering::Relaxed;
        let due = self.heap.peek().is_some_and(|e| e.at <= now);
        if due {
            looking(true);
        }
        while self.heap.peek().is_some_and(|e| e.at <= now) {
            let Some(Entry { id, sched, .. }) = self.heap.pop() else {
                break;
            };
            // Relaxed: see `push`.
            if sched.entry.load(Relaxed) != id {
                continue; // superseded by an earlier registration
            }
            sched.entry.store(0, Relaxed);
            sched.entry_at.store(NONE, Relaxed);
            let Some(cb) = sched.breaker.upgrade() else {
                continue; // dropped
            };
            let next = match catch_unwind(AssertUnwindSafe(|| cb.look(&sched))) {
                Ok(next) => next,
                Err(panic) => {
                    // A callback or observer panicked (the transition itself is done):
                    // look again on the next tick. Dropping the payload may panic too.
                    let _ = catch_unwind(AssertUnwindSafe(move || drop(panic)));
                    Some(now)
                }
            };
            // Possibly the last reference: the breaker is then dropped here.
            drop(cb);
            if let Some(at) = next {
                // Strictly later than `now`: a look that changed nothing waits a tick.
                self.push(sched, at.max(now.saturating_add(1)));
            }
        }
        if due {
            looking(false);
        }
        self.ticks += 1;
        if self.ticks.is_multiple_of(SWEEP_TICKS) {
            self.heap.retain(|e| {
                e.sched.entry.load(Relaxed) == e.id && e.sched.breaker.strong_count() != 0
            });
        }
        !self.heap.is_empty()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::{Clock, ManualClock, State};
    use std::sync::Mutex;
    use std::time::Duration;

    type Log = StdArc<Mutex<Vec<(State, State)>>>;

    /// A breaker on a manual clock attached to a test agenda (not the process's):
    /// the agenda runs at the times the test gives it.
    fn rig(timeout_ms: u64) -> (StdArc<CircuitBreaker>, ManualClock, Log) {
        let clock = ManualClock::new();
        let log: Log = StdArc::default();
        let l = StdArc::clone(&log);
        let cb = StdArc::new(
            CircuitBreaker::builder("agenda")
                .timeout(Duration::from_millis(timeout_ms))
                .half_open_max_wait(Duration::from_millis(50))
                .ready_to_trip(|c| c.consecutive_failures >= 1)
                .on_state_change(move |_, from, to| l.lock().unwrap().push((from, to)))
                .clock(clock.clone())
                .build()
                .unwrap(),
        );
        cb.attach(StdArc::downgrade(&cb), false);
        (cb, clock, log)
    }

    fn advance_to(clock: &ManualClock, ms: u64) -> u64 {
        let target = ms * 1_000_000;
        clock.advance(Duration::from_nanos(target - clock.now_nanos()));
        target
    }

    impl Agenda {
        /// A look at `now` as the ticker makes it, outside the process's ticker.
        fn run_at(&mut self, now: u64) -> bool {
            self.run(now, |_| {})
        }
    }

    /// The agenda an attached breaker's registration told.
    fn agenda_of(cb: &CircuitBreaker, at: u64) -> Agenda {
        let mut a = Agenda::default();
        a.push(StdArc::clone(cb.scheduled.get().unwrap()), at);
        a
    }

    #[test]
    fn the_agenda_moves_an_open_breaker_at_its_deadline_and_re_opens_at_max_wait() {
        let (cb, clock, log) = rig(10);
        let _ = cb.call(|| Err::<(), _>(()));
        let at = 11_000_000; // opened at tick 0, timeout 10: half-open from tick 11
        assert_eq!(cb.scheduled.get().unwrap().due.load(Ordering::Relaxed), at);
        assert!(
            cb.scheduled.get().unwrap().take_told(),
            "the trip told the ticker"
        );
        let mut agenda = agenda_of(&cb, at);
        assert!(agenda.run_at(advance_to(&clock, 10)), "not due yet: kept");
        assert_eq!(log.lock().unwrap().len(), 1);
        assert!(
            agenda.run_at(advance_to(&clock, 11)),
            "half-open: max wait next"
        );
        assert_eq!(
            *log.lock().unwrap(),
            [(State::Closed, State::Open), (State::Open, State::HalfOpen)]
        );
        // Max wait 50 ms from tick 11: re-opens at tick 62 (with a 10 ms timeout).
        assert!(agenda.run_at(advance_to(&clock, 61)));
        assert_eq!(log.lock().unwrap().len(), 2);
        assert!(agenda.run_at(advance_to(&clock, 62)));
        assert_eq!(log.lock().unwrap()[2], (State::HalfOpen, State::Open));
        // The re-open registered its deadline (tick 72) from the look's own delivery.
        assert_eq!(
            cb.scheduled.get().unwrap().due.load(Ordering::Relaxed),
            73_000_000
        );
        assert!(agenda.run_at(advance_to(&clock, 73)));
        assert_eq!(cb.state(), State::HalfOpen);
        // A probe closes it: nothing is due, the entry goes.
        assert_eq!(cb.call(|| Ok::<_, ()>(1)), Ok(1));
        assert!(
            !agenda.run_at(advance_to(&clock, 200)),
            "closed: nothing to look at"
        );
        assert_eq!(log.lock().unwrap().len(), 5);
    }

    #[test]
    fn an_earlier_registration_supersedes_the_entry() {
        let (cb, clock, log) = rig(1_000);
        let _ = cb.call(|| Err::<(), _>(()));
        let mut agenda = agenda_of(&cb, 1_001_000_000);
        // A command moves the deadline earlier: the registration tells again.
        cb.take_due_for_test();
        cb.force_open_for(Duration::from_millis(5));
        let sched = StdArc::clone(cb.scheduled.get().unwrap());
        assert_eq!(sched.due.load(Ordering::Relaxed), 6_000_000);
        agenda.push(sched, 6_000_000);
        assert_eq!(agenda.heap.len(), 2);
        assert!(agenda.run_at(advance_to(&clock, 6)));
        assert_eq!(
            log.lock().unwrap().last(),
            Some(&(State::Open, State::HalfOpen))
        );
        // Max wait 50 ms from tick 6: re-opens at tick 57, open until tick 1057.
        assert!(agenda.run_at(advance_to(&clock, 57)));
        assert_eq!(
            log.lock().unwrap().last(),
            Some(&(State::HalfOpen, State::Open))
        );
        let transitions = log.lock().unwrap().len();
        // The superseded entry (1001 ms) is skipped when it comes up.
        assert!(agenda.run_at(advance_to(&clock, 1_001)));
        assert_eq!(log.lock().unwrap().len(), transitions);
        assert!(agenda.run_at(advance_to(&clock, 1_058)));
        assert_eq!(log.lock().unwrap().len(), transitions + 1);
        assert_eq!(
            log.lock().unwrap().last(),
            Some(&(State::Open, State::HalfOpen))
        );
    }

    #[test]
    fn a_dropped_breaker_is_neither_kept_nor_looked_at() {
        let (cb, _clock, _log) = rig(60_000);
        let _ = cb.call(|| Err::<(), _>(()));
        let mut agenda = agenda_of(&cb, 60_001_000_000);
        let weak = StdArc::downgrade(&cb);
        drop(cb);
        assert!(
            weak.upgrade().is_none(),
            "the agenda kept the breaker alive"
        );
        // The sweep drops the entry long before its time.
        let mut busy = true;
        for tick in 0..SWEEP_TICKS {
            busy = agenda.run_at(tick);
        }
        assert!(!busy, "the dropped breaker's entry is still there");
        assert!(agenda.heap.is_empty());
    }

    #[test]
    fn a_panicking_callback_is_caught_and_the_look_repeated_next_tick() {
        let clock = ManualClock::new();
        let cb = StdArc::new(
            CircuitBreaker::builder("panics")
                .timeout(Duration::from_millis(1))
                .ready_to_trip(|c| c.consecutive_failures >= 1)
                .on_state_change(|_, _, to| assert_ne!(to, State::HalfOpen, "callback panics"))
                .clock(clock.clone())
                .build()
                .unwrap(),
        );
        cb.attach(StdArc::downgrade(&cb), false);
        let _ = cb.call(|| Err::<(), _>(()));
        let mut agenda = agenda_of(&cb, 2_000_000);
        assert!(
            agenda.run_at(advance_to(&clock, 2)),
            "looked at again next tick"
        );
        assert_eq!(cb.state(), State::HalfOpen, "the transition happened");
        assert!(!agenda.run_at(advance_to(&clock, 3)), "nothing more to do");
    }

    impl CircuitBreaker {
        fn take_due_for_test(&self) {
            self.scheduled.get().unwrap().take_due();
        }
    }
}
