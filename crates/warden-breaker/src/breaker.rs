//! [`CircuitBreaker`]: admission, outcome recording and transitions, each a
//! compare-and-swap on the packed state word.
//!
//! # Transitions and callbacks
//!
//! A transition installs the new state with `PENDING` set. The thread whose
//! exchange won, and only it, then runs the transition's side effects: the
//! `on_state_change` callback and the observers. While `PENDING` is set no
//! other transition can start, so callbacks run one at a time and in
//! transition order, yet nobody waits: calls are admitted and recorded as
//! usual, and a caller that needs a transition meanwhile either leaves it for
//! later (an open breaker whose timeout passed simply stays open a moment
//! longer) or hands it over by setting `REQ` (a trip, a failed probe), which
//! the callback thread performs next. A half-open breaker whose probes
//! succeeded meanwhile is closed by the callback thread too. Finally it clears
//! `PENDING` with a release exchange that the next transition's acquire
//! exchange reads, so each callback happens-before the next.
//!
//! Manual commands (`force_open`, `reset`, ...) are the exception to "no
//! transition while `PENDING`": an operator's command must take effect at once,
//! even from inside a callback, so it installs its word over whatever is there,
//! keeping `PENDING` if it was set. The delivering thread notices the new
//! generation when its callback returns and delivers one catch-up transition
//! from the state it last reported to the state the command left (none if they
//! are the same), then carries on from the command's word (a trip requested on
//! it meanwhile included). Commands issued during one callback are therefore
//! delivered as their net change; every delivered transition still starts where
//! the previous one ended.
//!
//! # Memory ordering
//!
//! The state word publishes no memory besides itself: every count it gates is
//! an atomic tagged with its generation (see `counters.rs`). So loads of the
//! word and exchanges that only change counters are `Relaxed`. The one
//! happens-before edge is the callback chain above: transition exchanges are
//! `Acquire`, the exchange that clears `PENDING` is `Release`. With an open
//! backoff one more count rides on that edge: the re-trip count, stored by the
//! thread that re-opened the breaker before it clears `PENDING`, and read behind
//! an `Acquire` fence by the thread whose failed probe re-opens it next.

use std::fmt;
use std::sync::Arc as StdArc;

use crossbeam_utils::CachePadded;

use crate::buckets::Buckets;
use crate::clock::NANOS_PER_TICK;
use crate::config::{self, RecordPath};
use crate::counters::{Calls, Counters, tag_of};
use crate::permit::{OwnedPermit, Permit, Ticket};
use crate::state::{
    MAX_FORCED_DEADLINE, MAX_TICK, Manual, SWEEP_PERIOD, Snapshot, Tag, next_generation,
    prev_generation,
};
use crate::sync::{AtomicU64, Ordering, fence};
use crate::throttle::Throttle;
use crate::window::EventRing;

#[path = "throttle_breaker.rs"]
mod throttle_breaker;
use crate::{Builder, Counts, Error, Mode, Outcome, Rejected, Settings, State};

/// A lock-free circuit breaker with gobreaker's semantics.
///
/// * **Closed**: calls are admitted; after every failure `ready_to_trip(&counts)`
///   decides whether to open (default: more than 5 consecutive failures). With
///   an `interval`, counts restart every interval.
/// * **Open**: calls are rejected with [`Rejected::Open`](crate::Rejected::Open) until the timeout has
///   passed; the next look at the breaker turns it half-open.
/// * **Half-open**: at most `max_requests` probes are admitted (others get
///   [`Rejected::TooManyRequests`](crate::Rejected::TooManyRequests)); `max_requests` consecutive successes close
///   it, any failure opens it again.
///
/// Every state change and interval reset starts a new *generation*; outcomes of
/// calls admitted in an older generation are ignored.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use warden_breaker::{CircuitBreaker, Error, ManualClock, Rejected, State};
///
/// let clock = ManualClock::new();
/// let cb = CircuitBreaker::builder("payments")
///     .timeout(Duration::from_secs(10))
///     .clock(clock.clone())
///     .build()?;
///
/// for _ in 0..6 {
///     let _ = cb.call(|| Err::<(), _>("connection refused"));
/// }
/// assert_eq!(cb.state(), State::Open);
/// assert!(matches!(cb.call(|| Ok::<_, &str>(1)), Err(Error::Rejected(Rejected::Open))));
///
/// clock.advance(Duration::from_millis(10_001));
/// assert_eq!(cb.call(|| Ok::<_, &str>(2)), Ok(2)); // the probe succeeds
/// assert_eq!(cb.state(), State::Closed);
/// # Ok::<(), warden_breaker::ConfigError>(())
/// ```
pub struct CircuitBreaker {
    state: CachePadded<AtomicU64>,
    counters: Counters,
    /// Where the failures happened, with a [`CountWindow`](crate::CountWindow).
    window: Option<EventRing>,
    /// Where the slow calls happened, with a count window and [`SlowCalls`](crate::SlowCalls).
    slow_window: Option<EventRing>,
    /// Each time bucket's start, with a [`TimeWindow`](crate::TimeWindow).
    buckets: Option<Buckets>,
    /// The last evaluation of an [`AdaptiveThrottle`](crate::AdaptiveThrottle).
    throttle: Option<Throttle>,
    settings: Settings,
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.name())
            .field("state", &self.load())
            .field("counts", &self.counts())
            .finish()
    }
}

impl CircuitBreaker {
    /// Starts configuring a breaker named `name`.
    ///
    /// ```
    /// let cb = warden_breaker::CircuitBreaker::builder("kafka").build()?;
    /// assert_eq!(cb.name(), "kafka");
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn builder(name: &str) -> Builder {
        Builder::new(name)
    }

    /// A breaker from already validated settings.
    ///
    /// ```
    /// let s = warden_breaker::CircuitBreaker::builder("x").settings()?;
    /// let cb = warden_breaker::CircuitBreaker::from_settings(s);
    /// assert_eq!(cb.state(), warden_breaker::State::Closed);
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn from_settings(settings: Settings) -> Self {
        Self::with_generation(settings, 1)
    }

    /// gobreaker's first generation is 1; tests start elsewhere to reach the wrap.
    pub(crate) fn with_generation(settings: Settings, generation: u32) -> Self {
        let expiry = match settings.interval_ticks() {
            0 => 0,
            i => settings.now_ticks().saturating_add(i).min(MAX_TICK),
        };
        let counters = Counters::new(generation);
        let ring = |w: crate::CountWindow| EventRing::new(w.size() as usize);
        let window = settings.count_window().map(ring);
        let slow_window = settings
            .count_window()
            .filter(|_| settings.slow_calls().is_some())
            .map(ring);
        let throttle = settings.adaptive_throttle();
        let buckets = settings
            .time_window()
            .map(|w| (w.buckets(), w.width_ticks()))
            .or(throttle.map(|t| (t.buckets(), t.width_ticks())))
            .map(|(n, width)| Buckets::new(n as usize, width));
        Self {
            window,
            slow_window,
            buckets,
            throttle: throttle.map(Throttle::new),
            state: CachePadded::new(AtomicU64::new(Snapshot::closed(generation, expiry).0)),
            counters,
            settings,
        }
    }

    /// The breaker's name.
    ///
    /// ```
    /// assert_eq!(warden_breaker::CircuitBreaker::builder("db").build()?.name(), "db");
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn name(&self) -> &str {
        self.settings.name()
    }

    /// The settings this breaker was built with.
    ///
    /// ```
    /// let cb = warden_breaker::CircuitBreaker::builder("db").build()?;
    /// assert_eq!(cb.settings().max_requests(), 1);
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    #[inline]
    fn load(&self) -> Snapshot {
        // Relaxed: the word publishes nothing but itself (see "Memory ordering").
        Snapshot(self.state.load(Ordering::Relaxed))
    }

    /// Installs `next` if the word is still `cur`; `Err` carries the word found.
    #[inline]
    fn exchange(&self, cur: Snapshot, next: Snapshot) -> Result<(), Snapshot> {
        // Transitions (they set PENDING) acquire: pairs with the Release that cleared
        // PENDING after the previous transition's callbacks, ordering the callbacks.
        // Other updates only touch the word itself: Relaxed.
        let success = if next.is_pending() && !cur.is_pending() {
            Ordering::Acquire
        } else {
            Ordering::Relaxed
        };
        self.state
            .compare_exchange(cur.0, next.0, success, Ordering::Relaxed)
            .map(|_| ())
            .map_err(Snapshot)
    }

    /// The current state, performing a due transition first (an open breaker whose
    /// timeout passed turns half-open; a closed breaker whose interval passed clears its
    /// counts).
    ///
    /// ```
    /// let cb = warden_breaker::CircuitBreaker::builder("db").build()?;
    /// assert_eq!(cb.state(), warden_breaker::State::Closed);
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn state(&self) -> State {
        let mut s = self.load();
        loop {
            match s.tag() {
                _ if s.is_open_requested() => return State::Open,
                Tag::HalfOpen => {
                    if !self.half_open_expired(s) {
                        return State::HalfOpen;
                    }
                    match self.reopen(s) {
                        Ok(()) => s = self.load(),
                        Err(actual) => s = actual,
                    }
                }
                Tag::Closed => {
                    if s.payload() != 0 && !s.is_pending() {
                        let now = self.settings.now_ticks();
                        if now > s.payload() {
                            match self.reset_interval(s, now) {
                                Ok(()) => return State::Closed,
                                Err(actual) => {
                                    s = actual;
                                    continue;
                                }
                            }
                        }
                    }
                    return State::Closed;
                }
                Tag::Open | Tag::Manual => {
                    // Forced closed or disabled, or forced open with no deadline: no
                    // transition is ever due.
                    let Some(deadline) = s.open_deadline() else {
                        return s.visible();
                    };
                    if s.is_pending() {
                        return State::Open;
                    }
                    let now = self.settings.now_ticks();
                    if now <= deadline {
                        return State::Open;
                    }
                    let next = Snapshot::half_open(next_generation(s.generation()), 0, 0)
                        .with_pending(true);
                    match self.exchange(s, next) {
                        Ok(()) => {
                            self.entered_half_open(next, now);
                            self.deliver(next, State::Open, State::HalfOpen);
                            s = self.load();
                        }
                        Err(actual) => s = actual,
                    }
                }
            }
        }
    }

    /// Counts of the current generation. Like gobreaker it does not look at the
    /// clock, so after an interval or timeout passes the counts change only once
    /// something calls [`state`](Self::state) or makes a call.
    ///
    /// ```
    /// let cb = warden_breaker::CircuitBreaker::builder("db").build()?;
    /// let _ = cb.call(|| Ok::<_, ()>(()));
    /// assert_eq!(cb.counts().total_successes, 1);
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn counts(&self) -> Counts {
        let s = self.load();
        match s.tag() {
            _ if s.is_open_requested() => Counts::default(),
            Tag::Closed => self.counters.closed_counts(s.generation()),
            Tag::HalfOpen => {
                self.counters
                    .half_open_counts(s.generation(), s.held(), s.successes())
            }
            Tag::Manual if s.manual_mode() == Manual::Disabled => {
                self.counters.closed_counts(s.generation())
            }
            Tag::Open | Tag::Manual => Counts::default(),
        }
    }

    /// The breaker's lifetime totals: successes, failures, ignored and dropped
    /// outcomes, slow calls, rejections by reason and transitions by edge since it
    /// was built. Unlike [`counts`](Self::counts) they never restart, and recording
    /// them costs a call no shared-line write it did not already make: successes
    /// and rejections are plain stores on the calling thread's own counter line,
    /// the rest ride on paths that already write shared words. This is what a
    /// metrics exporter reads at collection time (one pass over the threads'
    /// counter lines). Exact when no call is in flight; see [`Totals`](crate::Totals).
    ///
    /// ```
    /// use warden_breaker::{CircuitBreaker, Outcome};
    /// let cb = CircuitBreaker::builder("db").build()?;
    /// let _ = cb.call(|| Ok::<_, ()>(()));
    /// let _ = cb.call(|| Err::<(), _>("down"));
    /// let _ = cb.call_with(|| Err::<(), _>(404), |_| Outcome::Ignored);
    /// drop(cb.try_acquire()?); // cancelled: no outcome
    /// let t = cb.totals();
    /// assert_eq!((t.successes, t.failures, t.ignored, t.dropped), (1, 1, 1, 1));
    /// assert_eq!(t.all_transitions(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn totals(&self) -> crate::Totals {
        self.counters.totals()
    }

    /// Whether the breaker follows its state machine ([`Mode::Normal`]) or a manual
    /// command. Like [`counts`](Self::counts) it does not look at the clock: a
    /// breaker forced open until a deadline reports [`Mode::ForcedOpen`] until
    /// something (a call, [`state`](Self::state)) notices the deadline passed and
    /// turns it half-open.
    ///
    /// ```
    /// use warden_breaker::{CircuitBreaker, Mode};
    /// let cb = CircuitBreaker::builder("db").build()?;
    /// assert_eq!(cb.mode(), Mode::Normal);
    /// cb.disable();
    /// assert_eq!(cb.mode(), Mode::Disabled);
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn mode(&self) -> Mode {
        let s = self.load();
        if s.tag() != Tag::Manual || s.is_open_requested() {
            return Mode::Normal;
        }
        match s.manual_mode() {
            Manual::ForcedOpen | Manual::ForcedOpenUntil => Mode::ForcedOpen,
            Manual::ForcedClosed => Mode::ForcedClosed,
            Manual::Disabled => Mode::Disabled,
        }
    }

    /// Forces the breaker open until the next command: every call is rejected with
    /// [`Rejected::Open`](crate::Rejected::Open). Use it to take a dependency out of service by hand (a
    /// failover, maintenance) or from a fleet-wide signal.
    ///
    /// Like every command it takes effect at once, whatever the state, racing
    /// calls safely (one compare-and-swap on the state word): it starts a new
    /// generation, so outcomes of calls admitted before it are ignored, and the
    /// state-change callback and observers see the change of [`State`] (here to
    /// `Open`, if it was not open) exactly once and in order with every other
    /// transition. A command issued while an earlier transition's callbacks are
    /// still running (from another thread, or from the callback itself) takes
    /// effect at once too; the callbacks then catch up with the net change when
    /// the running one returns (one transition from the state it reported to the
    /// state the commands left, none if they are the same).
    ///
    /// ```
    /// use warden_breaker::{CircuitBreaker, Error, Mode, Rejected};
    /// let cb = CircuitBreaker::builder("redis")
    ///     .on_state_change(|name, from, to| println!("{name}: {from} -> {to}"))
    ///     .build()?;
    /// cb.force_open(); // prints "redis: closed -> open"
    /// assert!(matches!(cb.call(|| Ok::<_, ()>(())), Err(Error::Rejected(Rejected::Open))));
    /// assert_eq!(cb.mode(), Mode::ForcedOpen);
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn force_open(&self) {
        self.command(|g| Snapshot::manual(g, Manual::ForcedOpen, 0));
    }

    /// Forces the breaker open for `duration`, rounded **up** to whole
    /// milliseconds (the clock's tick), so the breaker is never open shorter than
    /// asked. Unlike the builder, which rejects a setting such as 1.5 ms (a typo in
    /// a configuration should surface), a command takes any duration: it is often
    /// computed from a clock (time left until a deadline), and rounding it up is
    /// always safe. Every call is rejected until the first tick after
    /// `now + duration`, then the
    /// breaker turns half-open and probes, exactly as after an open timeout (and
    /// back in [`Mode::Normal`]). A deadline later than [`MAX_FORCED_DEADLINE`]
    /// ticks after the breaker was built (about 8.7 years) cannot be stored and
    /// means [`force_open`](Self::force_open). See `force_open` for how commands
    /// race calls and callbacks.
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_breaker::{CircuitBreaker, ManualClock, Mode, State};
    /// let clock = ManualClock::new();
    /// let cb = CircuitBreaker::builder("redis").clock(clock.clone()).build()?;
    /// cb.force_open_for(Duration::from_secs(30)); // a fleet-wide "redis is down"
    /// clock.advance(Duration::from_millis(30_001));
    /// assert_eq!(cb.state(), State::HalfOpen);
    /// assert_eq!(cb.mode(), Mode::Normal);
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn force_open_for(&self, duration: std::time::Duration) {
        let deadline = self.settings.deadline_after(duration);
        if deadline > MAX_FORCED_DEADLINE {
            self.force_open();
        } else {
            self.command(|g| Snapshot::manual(g, Manual::ForcedOpenUntil, deadline));
        }
    }

    /// Forces the breaker closed until the next command: every call is admitted,
    /// no outcome is counted and nothing trips (Resilience4j's `DISABLED`). See
    /// [`force_open`](Self::force_open) for how commands race calls and callbacks.
    ///
    /// ```
    /// use warden_breaker::{CircuitBreaker, Counts, State};
    /// let cb = CircuitBreaker::builder("db").build()?;
    /// cb.force_closed();
    /// for _ in 0..10 {
    ///     let _ = cb.call(|| Err::<(), _>("down"));
    /// }
    /// assert_eq!((cb.state(), cb.counts()), (State::Closed, Counts::default()));
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn force_closed(&self) {
        self.command(|g| Snapshot::manual(g, Manual::ForcedClosed, 0));
    }

    /// Disables the breaker until the next command: every call is admitted and
    /// counted as in the closed state (counts start from zero at the command and
    /// the counting interval does not apply), but nothing trips (Resilience4j's
    /// `METRICS_ONLY`): to watch what a breaker would do before enforcing it. See
    /// [`force_open`](Self::force_open) for how commands race calls and callbacks.
    ///
    /// ```
    /// use warden_breaker::{CircuitBreaker, State};
    /// let cb = CircuitBreaker::builder("db").build()?;
    /// cb.disable();
    /// for _ in 0..10 {
    ///     let _ = cb.call(|| Err::<(), _>("down"));
    /// }
    /// assert_eq!(cb.state(), State::Closed);
    /// assert_eq!(cb.counts().consecutive_failures, 10);
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn disable(&self) {
        self.command(|g| Snapshot::manual(g, Manual::Disabled, 0));
    }

    /// Puts the breaker back into [`Mode::Normal`] and the closed state with fresh
    /// counts (a new generation, a new counting interval), whatever its state or
    /// mode. See [`force_open`](Self::force_open) for how commands race calls and
    /// callbacks.
    ///
    /// ```
    /// use warden_breaker::{CircuitBreaker, Mode, State};
    /// let cb = CircuitBreaker::builder("db").build()?;
    /// for _ in 0..6 {
    ///     let _ = cb.call(|| Err::<(), _>("down"));
    /// }
    /// assert_eq!(cb.state(), State::Open);
    /// cb.reset();
    /// assert_eq!((cb.state(), cb.mode()), (State::Closed, Mode::Normal));
    /// assert_eq!(cb.call(|| Ok::<_, ()>(1)), Ok(1));
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn reset(&self) {
        let expiry = match self.settings.interval_ticks() {
            0 => 0,
            i => self.settings.now_ticks().saturating_add(i).min(MAX_TICK),
        };
        self.command(|g| Snapshot::closed(g, expiry));
    }

    /// Installs `make(next generation)` over whatever the word holds (see
    /// [`force_open`](Self::force_open)).
    #[cold]
    fn command(&self, make: impl Fn(u32) -> Snapshot) {
        let mut s = self.load();
        loop {
            let generation = next_generation(s.generation());
            let target = make(generation);
            let (from, to) = (s.visible(), target.visible());
            // While PENDING the new word keeps it: the thread delivering callbacks sees
            // the generation change when its callback returns and catches up (see
            // `deliver`). Otherwise a change of state is a transition like any other;
            // a command that keeps the state is like an interval reset.
            let next = if s.is_pending() || from != to {
                target.with_pending(true)
            } else {
                target
            };
            match self.exchange(s, next) {
                Ok(()) if from != to && !s.is_pending() => {
                    return self.deliver(next, from, to);
                }
                Ok(()) => return self.new_generation(generation),
                Err(actual) => s = actual,
            }
        }
    }

    /// Runs `f` if the breaker admits it; `Err` outcomes count as failures, and a
    /// panic counts as a failure and continues unwinding.
    ///
    /// ```
    /// let cb = warden_breaker::CircuitBreaker::builder("db").build()?;
    /// assert_eq!(cb.call(|| "42".parse::<u32>()), Ok(42));
    /// assert!(cb.call(|| "x".parse::<u32>()).unwrap_err().into_inner().is_some());
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    #[inline]
    pub fn call<T, E, F>(&self, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Result<T, E>,
    {
        self.call_with(f, |r| {
            if r.is_ok() {
                Outcome::Success
            } else {
                Outcome::Failure
            }
        })
    }

    /// Like [`call`](Self::call), with `classify` deciding what the result means to
    /// the breaker (gobreaker's `IsSuccessful` and `IsExcluded`). The result is
    /// returned unchanged whatever the classification.
    ///
    /// ```
    /// use warden_breaker::{CircuitBreaker, Outcome};
    /// let cb = CircuitBreaker::builder("http").build()?;
    /// let r = cb.call_with(|| Err::<(), u16>(404), |r| match r {
    ///     Err(code) if *code < 500 => Outcome::Ignored, // the peer is fine
    ///     Err(_) => Outcome::Failure,
    ///     Ok(_) => Outcome::Success,
    /// });
    /// assert!(r.is_err());
    /// assert_eq!(cb.counts().total_failures, 0);
    /// assert_eq!(cb.counts().total_exclusions, 1);
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    #[inline]
    pub fn call_with<T, E, F, C>(&self, f: F, classify: C) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Result<T, E>,
        C: FnOnce(&Result<T, E>) -> Outcome,
    {
        let permit = self.try_acquire()?;
        // If `f` panics, `permit` drops while panicking and records a failure.
        let result = f();
        permit.record(classify(&result));
        result.map_err(Error::Inner)
    }

    /// Two-step use: asks for admission now and reports the outcome later through
    /// the returned [`Permit`].
    ///
    /// ```
    /// let cb = warden_breaker::CircuitBreaker::builder("db").build()?;
    /// let permit = cb.try_acquire()?;
    /// permit.success();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit<'_>, Rejected> {
        self.admit().map(|ticket| Permit::new(self, ticket))
    }

    /// [`try_acquire`](Self::try_acquire) for a shared breaker: the permit owns an
    /// `Arc`, so a future can hold it across `.await`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let cb = Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?);
    /// let permit = cb.try_acquire_owned()?;
    /// std::thread::spawn(move || permit.success()).join().unwrap();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_acquire_owned(self: &StdArc<Self>) -> Result<OwnedPermit, Rejected> {
        self.admit()
            .map(|ticket| OwnedPermit::new(StdArc::clone(self), ticket))
    }

    #[inline]
    fn admit(&self) -> Result<Ticket, Rejected> {
        let s = self.load();
        // Every path returns straight from here (a call's result or a built value),
        // never merged into one variable first: merged, the ticket went through the
        // stack, and a 16-byte load of two smaller stores defeats store forwarding
        // (criterion: closed success 3.0 -> 8.3 ns, half-open rejection 2.6 -> 8.8 ns).
        if self.settings.has_admission_hooks() {
            return self.admit_hooked(s);
        }
        // The hot path: closed, no interval to check, nothing requested.
        if s.is_plain_closed() {
            // A plain-closed word, less PENDING, is its generation's counter tag.
            self.counters.record_request(s.without_pending());
            return Ok(Ticket::closed(s.generation()));
        }
        self.admit_slow(s).map_err(|r| self.rejected(r))
    }

    /// Counts a refusal in the lifetime totals (a plain load and store on the
    /// calling thread's stripe) and returns it.
    #[inline]
    fn rejected(&self, rejected: Rejected) -> Rejected {
        self.counters.record_rejection(rejected);
        rejected
    }

    /// An admission with observers to notify or a call to time.
    #[cold]
    #[inline(never)]
    fn admit_hooked(&self, s: Snapshot) -> Result<Ticket, Rejected> {
        if self.throttles(s) {
            return self.admission_hooks(Err(self.rejected(Rejected::Throttled)));
        }
        let result = if s.is_plain_closed() {
            self.counters.record_request(s.without_pending());
            Ok(Ticket::closed(s.generation()))
        } else {
            self.admit_slow(s).map_err(|r| self.rejected(r))
        };
        self.admission_hooks(result)
    }

    /// What an admission does beyond the state word and the counters: a closed
    /// ticket takes its start time for [`SlowCalls`](crate::SlowCalls) (the only rule
    /// that reads the clock at admission), and observers hear of it.
    fn admission_hooks(&self, result: Result<Ticket, Rejected>) -> Result<Ticket, Rejected> {
        let result = match result {
            Ok(t) if self.settings.times_calls() && !t.is_half_open() => {
                Ok(t.started_at(self.settings.now_nanos() / 1_000))
            }
            other => other,
        };
        let panic = match result {
            Ok(t) => self.settings.observe_caught(|o| o.on_admitted(t.state())),
            Err(r) => self.settings.observe_caught(|o| o.on_rejected(r)),
        };
        if let Some(p) = panic
            && !std::thread::panicking()
        {
            // The observer's panic goes to the caller instead of a permit: give the
            // admission back first, as a dropped permit would, so the panic costs no
            // half-open slot.
            if let Ok(t) = result {
                self.record(t, None);
            }
            config::rethrow(Some(p));
        }
        result
    }

    #[cold]
    fn admit_slow(&self, mut s: Snapshot) -> Result<Ticket, Rejected> {
        loop {
            match s.tag() {
                _ if s.is_open_requested() => return Err(Rejected::Open),
                Tag::Closed => {
                    if s.payload() != 0 && !s.is_pending() {
                        let now = self.settings.now_ticks();
                        if now > s.payload() {
                            match self.reset_interval(s, now) {
                                Ok(()) => s = self.load(),
                                Err(actual) => s = actual,
                            }
                            continue;
                        }
                    }
                    self.counters.record_request(tag_of(s.generation()));
                    return Ok(Ticket::closed(s.generation()));
                }
                Tag::Manual if s.visible() == State::Closed => {
                    if s.manual_mode() == Manual::Disabled {
                        self.counters.record_request(tag_of(s.generation()));
                    }
                    return Ok(Ticket::closed(s.generation()));
                }
                Tag::Open | Tag::Manual => {
                    let Some(deadline) = s.open_deadline() else {
                        return Err(Rejected::Open); // forced open until the next command
                    };
                    if s.is_pending() {
                        return Err(Rejected::Open);
                    }
                    let now = self.settings.now_ticks();
                    if now <= deadline {
                        return Err(Rejected::Open);
                    }
                    // Timeout passed: turn half-open, taking the first probe slot in the
                    // same exchange.
                    let generation = next_generation(s.generation());
                    let next = Snapshot::half_open(generation, 1, 0).with_pending(true);
                    match self.exchange(s, next) {
                        Ok(()) => {
                            self.entered_half_open(next, now);
                            self.deliver(next, State::Open, State::HalfOpen);
                            return Ok(Ticket::half_open(generation));
                        }
                        Err(actual) => s = actual,
                    }
                }
                Tag::HalfOpen => {
                    if self.half_open_expired(s) {
                        match self.reopen(s) {
                            Ok(()) => return Err(Rejected::Open),
                            Err(actual) => {
                                s = actual;
                                continue;
                            }
                        }
                    }
                    if s.held() >= self.settings.max_requests() {
                        return Err(Rejected::TooManyRequests);
                    }
                    let next = s.with_probes(s.held() + 1, s.successes());
                    // The loom suite's negative control: a load-and-store instead of the
                    // exchange lets two probes take the same slot (and can undo a
                    // transition that happened in between). Never built outside that check.
                    #[cfg(warden_mutant)]
                    {
                        self.state.store(next.0, Ordering::Relaxed);
                        return Ok(Ticket::half_open(s.generation()));
                    }
                    #[cfg(not(warden_mutant))]
                    match self.exchange(s, next) {
                        Ok(()) => return Ok(Ticket::half_open(s.generation())),
                        Err(actual) => s = actual,
                    }
                }
            }
        }
    }

    /// Starts a new closed generation because the counting interval expired.
    fn reset_interval(&self, s: Snapshot, now: u64) -> Result<(), Snapshot> {
        let generation = next_generation(s.generation());
        let expiry = now
            .saturating_add(self.settings.interval_ticks())
            .min(MAX_TICK);
        self.exchange(s, Snapshot::closed(generation, expiry))?;
        self.new_generation(generation);
        Ok(())
    }

    fn new_generation(&self, generation: u32) {
        if generation.is_multiple_of(SWEEP_PERIOD) {
            self.counters.sweep(generation);
            for ring in [&self.window, &self.slow_window].into_iter().flatten() {
                ring.sweep(generation);
            }
            if let Some(b) = &self.buckets {
                b.sweep(generation);
            }
        }
    }

    /// Records the outcome of a call admitted with `ticket`; `None` is a permit
    /// dropped without an outcome.
    #[inline]
    pub(crate) fn record(&self, ticket: Ticket, outcome: Option<Outcome>) {
        // The hot path: a success, no observer, and the breaker still in the plain
        // closed generation that admitted the call.
        // The word equals a ticket only for a closed ticket: a half-open word of the
        // ticket's generation holds at least this permit's slot, a ticket holds none.
        if outcome == Some(Outcome::Success)
            && self.settings.record_path() == RecordPath::Plain
            && self.load().without_pending() == ticket.bits()
        {
            // A closed ticket is its generation's counter tag. (`bits`, not `word`: on
            // the plain path no ticket carries a start time, so no mask is needed.)
            self.counters.record_success(ticket.bits());
            return;
        }
        self.record_slow(ticket, outcome);
    }

    /// The fast path's success with a time window or slow calls: one clock read,
    /// the bucket check, the stripe, and the slow-call rule if the call was slow.
    #[inline]
    fn record_timed_success(&self, ticket: Ticket) {
        let now_ns = self.settings.now_nanos();
        let now = (now_ns / NANOS_PER_TICK).min(MAX_TICK);
        let generation = ticket.generation();
        if let Some(b) = &self.buckets {
            b.enter(
                generation,
                b.standing_still(generation, now),
                &self.counters,
            );
        }
        self.counters.record_success(ticket.word());
        if self.throttle.is_some() {
            self.throttle_success(generation, now);
        }
        if self.is_slow(ticket, now_ns) && self.slow_calls_trip(generation, now) {
            self.trip(generation);
        }
    }

    fn record_slow(&self, ticket: Ticket, outcome: Option<Outcome>) {
        if outcome == Some(Outcome::Success)
            && self.settings.record_path() == RecordPath::Timed
            && self.load().without_pending() == ticket.word()
        {
            // The plain fast path's case with a time window or slow calls.
            return self.record_timed_success(ticket);
        }
        self.counters.record_outcome_total(outcome);
        // An observer's panic waits until the outcome is recorded: it never costs a
        // count or a half-open slot.
        let panic = self.settings.observe_caught(|o| match outcome {
            Some(Outcome::Success) => o.on_success(),
            Some(Outcome::Failure) => o.on_failure(),
            Some(Outcome::Ignored) => o.on_ignored(),
            None => o.on_dropped(),
        });
        self.record_observed(ticket, outcome);
        config::rethrow(panic);
    }

    /// [`Self::record_slow`] once the observers heard of the outcome.
    fn record_observed(&self, ticket: Ticket, outcome: Option<Outcome>) {
        let s = self.load();
        if s.generation() != ticket.generation() || s.is_open_requested() {
            // Stale: the generation this call belonged to is over. gobreaker still
            // evaluates time here (an open breaker may turn half-open, an interval may
            // expire), so do the same to stay observably identical.
            let max_wait = self.settings.half_open_max_wait_ticks() != 0;
            if s.open_deadline().is_some()
                || (s.tag() == Tag::Closed && s.payload() != 0)
                || (s.tag() == Tag::HalfOpen && max_wait)
            {
                self.state();
            }
            return;
        }
        if ticket.is_half_open() && self.half_open_expired(s) {
            // The generation outlived its max wait: re-open it (like gobreaker's lazy
            // evaluation of time before an outcome); this outcome is then stale.
            self.state();
            return;
        }
        if s.tag() == Tag::Manual {
            // Admitted by this manual generation: forced closed or disabled.
            if s.manual_mode() == Manual::Disabled {
                self.record_disabled(ticket.generation(), outcome);
            }
        } else if ticket.is_half_open() {
            self.record_half_open(ticket.generation(), outcome, s);
        } else {
            self.record_closed(ticket, outcome, s);
        }
    }

    #[inline]
    fn record_closed(&self, ticket: Ticket, outcome: Option<Outcome>, s: Snapshot) {
        let generation = ticket.generation();
        let timed = self.buckets.is_some() || self.settings.times_calls();
        let interval = s.payload() != 0 && !s.is_pending();
        // One clock read for everything this outcome needs the time for (an ignored
        // or dropped outcome enters no bucket and is never slow).
        let counted = matches!(outcome, Some(Outcome::Success | Outcome::Failure));
        let now_ns = if interval || (timed && counted) {
            self.settings.now_nanos()
        } else {
            0
        };
        let now = (now_ns / NANOS_PER_TICK).min(MAX_TICK);
        if interval && now > s.payload() {
            // The interval expired: whoever resets it, this outcome is now stale.
            let _ = self.reset_interval(s, now);
            return;
        }
        let slow = || self.is_slow(ticket, now_ns);
        match outcome {
            Some(Outcome::Success) => {
                if let Some(b) = &self.buckets {
                    b.enter(
                        generation,
                        b.standing_still(generation, now),
                        &self.counters,
                    );
                }
                self.counters.record_counted_success(tag_of(generation));
                if self.throttle.is_some() {
                    self.throttle_success(generation, now);
                }
                if slow() && self.slow_calls_trip(generation, now) {
                    self.trip(generation);
                }
            }
            Some(Outcome::Ignored) => self.counters.record_exclusion(generation),
            Some(Outcome::Failure) => {
                if let Some(b) = &self.buckets {
                    b.enter(
                        generation,
                        b.standing_still(generation, now),
                        &self.counters,
                    );
                }
                let (counts, calls) = self.counters.record_failure(generation);
                let trips = if self.failures_trip(generation, now, &counts, calls) {
                    // The slow-call rule is not evaluated, but the lifetime total
                    // still counts a slow failure.
                    if slow() {
                        self.counters.record_slow_total();
                    }
                    true
                } else {
                    slow() && self.slow_calls_trip(generation, now)
                };
                if trips {
                    self.trip(generation);
                }
            }
            None => {} // still counted in `requests`, like gobreaker's unreported `done`
        }
    }

    /// Whether the call admitted with `ticket` and recorded at `now_ns` is slow
    /// (never, without [`SlowCalls`](crate::SlowCalls)).
    #[inline]
    fn is_slow(&self, ticket: Ticket, now_ns: u64) -> bool {
        self.settings
            .slow_calls()
            .is_some_and(|rule| rule.is_slow_since(ticket.start_micros(), now_ns))
    }

    /// Whether a closed-state failure, just counted in `counts` (`calls`: the
    /// generation's successes and failures, all 40 bits), trips the breaker's failure
    /// rule: its window's rate, or `ready_to_trip`.
    fn failures_trip(&self, generation: u32, now: u64, counts: &Counts, calls: u64) -> bool {
        if let Some(t) = &self.throttle {
            self.throttle_evaluate(t, generation, now);
            return false; // the throttle sheds load; it never opens the breaker
        }
        if let (Some(ring), Some(rule)) = (&self.window, self.settings.count_window()) {
            // The failure's index among the generation's failures, modulo 2^32 like the
            // counts; the ring only compares indices a window apart.
            let index = u64::from(counts.total_failures);
            ring.record(generation, index, calls);
            let failures = ring.in_window(generation, index, calls, rule.size());
            // All 40 bits: `calls` modulo 2^32 would say a window of 2^32 + 10 calls
            // holds 10.
            let size = u64::from(rule.size());
            return rule.trips(calls.min(size) as u32, failures as u32);
        }
        if let (Some(b), Some(rule)) = (&self.buckets, self.settings.time_window()) {
            let so_far = Calls {
                successes: counts.total_successes,
                failures: counts.total_failures,
                slow: 0,
            };
            // The window's calls are a difference modulo 2^32: exact while a window
            // holds fewer than 2^32 calls.
            let in_window = self.since_window_start(b, generation, now, so_far);
            return rule.trips(in_window.total(), in_window.failures);
        }
        self.settings.ready_to_trip(counts)
    }

    /// Counts a slow closed-state call (its success or failure already counted)
    /// and says whether the slow-call rate trips.
    #[cold]
    fn slow_calls_trip(&self, generation: u32, now: u64) -> bool {
        let Some(rule) = self.settings.slow_calls() else {
            return false;
        };
        // The calls are read after the slow count, never before: of two racing slow
        // calls, the one counted second then sees the other's call too (the loom
        // models `slow_calls::racing_slow_*_trip_once`; see `Counters::record_slow`).
        let slow = self.counters.record_slow(generation);
        let (so_far, calls) = self.counters.calls_and_total(generation);
        let so_far = Calls {
            slow: slow as u32,
            ..so_far
        };
        // `calls` and `slow` with all 40 bits: modulo 2^32, 2^32 + 20 calls of which 5
        // were slow would read as a 25 % rate.
        match (
            &self.slow_window,
            self.settings.count_window(),
            &self.buckets,
        ) {
            (Some(ring), Some(window), _) => {
                ring.record(generation, slow, calls);
                let in_window = ring.in_window(generation, slow, calls, window.size());
                rule.trips_wide(calls.min(u64::from(window.size())), in_window)
            }
            (_, _, Some(b)) => {
                let in_window = self.since_window_start(b, generation, now, so_far);
                rule.trips(in_window.total(), in_window.slow)
            }
            _ => rule.trips_wide(calls, slow),
        }
    }

    /// The outcomes of the time window ending in the bucket of tick `now`: `so_far`
    /// (the generation's, this outcome included) minus the window's start snapshot.
    /// Without one (another thread is still writing this bucket's, and no older
    /// bucket in the window has one) only this outcome is known to be in it.
    fn since_window_start(&self, b: &Buckets, generation: u32, now: u64, so_far: Calls) -> Calls {
        match b.start(generation, b.standing_still(generation, now)) {
            Some(start) => so_far.since(start),
            None => Calls {
                successes: 0,
                failures: 1,
                slow: 1,
            },
        }
    }

    /// An outcome in a disabled generation: counted as in closed, never trips.
    #[cold]
    fn record_disabled(&self, generation: u32, outcome: Option<Outcome>) {
        match outcome {
            Some(Outcome::Success) => self.counters.record_counted_success(tag_of(generation)),
            Some(Outcome::Ignored) => self.counters.record_exclusion(generation),
            Some(Outcome::Failure) => {
                self.counters.record_failure(generation);
            }
            None => {}
        }
    }

    #[cold]
    fn trip(&self, generation: u32) {
        let mut s = self.load();
        loop {
            if s.generation() != generation || s.tag() != Tag::Closed || s.is_open_requested() {
                return;
            }
            let next = if s.is_pending() {
                s.with_open_requested()
            } else {
                self.open_after(s).0
            };
            match self.exchange(s, next) {
                Ok(()) if next.is_pending() && !s.is_pending() => {
                    return self.deliver(next, State::Closed, State::Open);
                }
                Ok(()) => return,
                Err(actual) => s = actual,
            }
        }
    }

    /// The open word that follows `s`, and the consecutive re-trips it is (0 for a
    /// trip from closed, or without an [`OpenBackoff`](crate::OpenBackoff)). Whoever
    /// installs it records a non-zero count with [`Self::opened`].
    fn open_after(&self, s: Snapshot) -> (Snapshot, u32) {
        self.open_after_at(s, self.settings.now_ticks())
    }

    /// [`Self::open_after`] at tick `now`.
    fn open_after_at(&self, s: Snapshot, now: u64) -> (Snapshot, u32) {
        let retrips = if s.tag() == Tag::HalfOpen && self.settings.has_open_backoff() {
            // Acquire: `s` was loaded Relaxed from the half-open generation, whose
            // Open -> HalfOpen exchange continues the release sequence of the Release
            // that cleared PENDING after the previous open generation was installed,
            // and that thread stored the previous count before it (`opened`).
            fence(Ordering::Acquire);
            self.counters
                .retrips(prev_generation(s.generation()))
                .saturating_add(1)
        } else {
            0
        };
        let deadline = now
            .saturating_add(self.settings.open_ticks(u64::from(retrips), now))
            .min(MAX_TICK);
        let next = Snapshot::open(next_generation(s.generation()), deadline).with_pending(true);
        (next, retrips)
    }

    /// Whether half-open `s` outlived its max wait (never without one, nor while the
    /// callbacks of its Open -> HalfOpen still run, nor before its deadline is
    /// recorded). Reads the clock only with a max wait set.
    #[inline]
    fn half_open_expired(&self, s: Snapshot) -> bool {
        if self.settings.half_open_max_wait_ticks() == 0 || s.is_pending() {
            return false;
        }
        self.counters
            .half_open_deadline(s.generation())
            .is_some_and(|deadline| self.settings.now_ticks() > deadline)
    }

    /// Re-opens half-open `s` whose max wait passed, as a failed probe would.
    #[cold]
    fn reopen(&self, s: Snapshot) -> Result<(), Snapshot> {
        let (next, retrips) = self.open_after(s);
        self.exchange(s, next)?;
        self.opened(next, retrips);
        self.deliver(next, State::HalfOpen, State::Open);
        Ok(())
    }

    /// After this thread installed half-open `next` at tick `now`, before it clears
    /// `PENDING`: records the generation's max-wait deadline, if there is one.
    fn entered_half_open(&self, next: Snapshot, now: u64) {
        let max_wait = self.settings.half_open_max_wait_ticks();
        if max_wait != 0 {
            let deadline = now.saturating_add(max_wait).min(MAX_TICK);
            self.counters
                .set_half_open_deadline(next.generation(), deadline);
        }
    }

    /// After this thread installed `open` (from `open_after`), before it clears
    /// `PENDING`: records a re-trip count for the next half-open generation.
    fn opened(&self, open: Snapshot, retrips: u32) {
        if retrips != 0 {
            self.counters.set_retrips(open.generation(), retrips);
        }
    }

    /// The closed word that follows `s`.
    fn closed_after(&self, s: Snapshot) -> Snapshot {
        self.closed_after_at(s, || self.settings.now_ticks())
    }

    /// [`Self::closed_after`], reading the time from `now` only with an interval.
    fn closed_after_at(&self, s: Snapshot, now: impl FnOnce() -> u64) -> Snapshot {
        let expiry = match self.settings.interval_ticks() {
            0 => 0,
            i => now().saturating_add(i).min(MAX_TICK),
        };
        Snapshot::closed(next_generation(s.generation()), expiry).with_pending(true)
    }

    #[cold]
    fn record_half_open(&self, generation: u32, outcome: Option<Outcome>, mut s: Snapshot) {
        let releases = matches!(outcome, None | Some(Outcome::Ignored));
        if releases {
            // Count the release before giving the slot back, so `requests` never dips.
            self.counters.record_release(generation);
            if outcome.is_some() {
                self.counters.record_exclusion(generation);
            }
        }
        loop {
            if s.generation() != generation || s.is_open_requested() {
                return;
            }
            let (held, successes) = (s.held(), s.successes());
            let mut retrips = 0;
            let next = match outcome {
                _ if releases => s.with_probes(held.saturating_sub(1), successes),
                Some(Outcome::Failure) if s.is_pending() => s.with_open_requested(),
                Some(Outcome::Failure) => {
                    let (next, k) = self.open_after(s);
                    retrips = k;
                    next
                }
                _ if successes + 1 >= self.settings.max_requests() && !s.is_pending() => {
                    self.closed_after(s)
                }
                _ => s.with_probes(held, successes + 1),
            };
            match self.exchange(s, next) {
                Ok(()) if next.is_pending() && !s.is_pending() => {
                    self.opened(next, retrips);
                    let to = if next.tag() == Tag::Open {
                        State::Open
                    } else {
                        State::Closed
                    };
                    return self.deliver(next, State::HalfOpen, to);
                }
                Ok(()) => return,
                Err(actual) => s = actual,
            }
        }
    }

    /// Runs the callbacks of the transition that installed `installed` (this thread's
    /// exchange won), then clears `PENDING`, first performing any transition that was
    /// handed over meanwhile (see the module docs).
    ///
    /// Each round decides what follows the callbacks from one snapshot of the word
    /// ([`Self::settle`], which names nothing), commits that decision with one
    /// exchange, and only once the exchange succeeded names the transition it made:
    /// a command that replaces the word between the snapshot and the exchange makes
    /// the exchange fail and the decision is taken again from the word it left, so
    /// every `from` is the previous `to`.
    ///
    /// Every hook runs on its own; a panicking one stops neither the others nor the
    /// later transitions, and the first panic resumes once `PENDING` is cleared
    /// (never while this thread is already unwinding, which would abort).
    fn deliver(&self, installed: Snapshot, from: State, to: State) {
        let mut generation = installed.generation();
        // The state the callbacks last named: always the visible state of the word of
        // `generation`.
        let mut reported = to;
        let mut panic = None;
        self.new_generation(generation);
        let mut note = |from, to| {
            self.counters.record_transition(from, to);
            if let Some(p) = self.settings.notify_state_change_caught(from, to) {
                panic.get_or_insert(p);
            }
        };
        note(from, to);
        let mut s = self.load();
        loop {
            let settle = self.settle(s, generation, reported, || self.settings.now_ticks());
            match settle {
                Settle::Adopt { generation: g, to } => {
                    // Nothing to exchange: the command's word stays, PENDING with it.
                    generation = g;
                    if let Some(to) = to {
                        note(reported, to);
                        reported = to;
                    }
                    s = self.load();
                }
                Settle::Commit { next, to, retrips } => {
                    // Release: pairs with the Acquire of the next transition's exchange
                    // (and of the transition installed here, on this thread), so these
                    // callbacks happen-before the next ones.
                    if let Err(actual) = self.state.compare_exchange(
                        s.0,
                        next.0,
                        Ordering::Release,
                        Ordering::Relaxed,
                    ) {
                        s = Snapshot(actual);
                        continue;
                    }
                    if next.tag() == Tag::Open {
                        self.opened(next, retrips);
                    }
                    let Some(to) = to else { break };
                    generation = next.generation();
                    self.new_generation(generation);
                    note(reported, to);
                    reported = to;
                    s = self.load();
                }
            }
        }
        config::rethrow(panic);
    }

    /// What follows a transition's callbacks, decided from the snapshot `s` of a word
    /// that has `PENDING` set, given the `generation` and the state the callbacks
    /// last `reported`. Pure apart from reading the time (`now`, only when an open or
    /// closed word needs a deadline) and a re-trip count: nothing is stored and no
    /// transition is named until the caller's exchange succeeds.
    fn settle(
        &self,
        s: Snapshot,
        generation: u32,
        reported: State,
        now: impl FnOnce() -> u64,
    ) -> Settle {
        debug_assert!(s.is_pending(), "{s:?}");
        if s.generation() != generation {
            // A command replaced the word while the callbacks ran (it keeps PENDING):
            // catch the callbacks up with the state it left, then go on from its
            // generation.
            let to = s.visible();
            return Settle::Adopt {
                generation: s.generation(),
                to: (to != reported).then_some(to),
            };
        }
        if s.is_open_requested() {
            let (next, retrips) = self.open_after_at(s, now());
            return Settle::Commit {
                next,
                to: Some(State::Open),
                retrips,
            };
        }
        if s.tag() == Tag::HalfOpen && s.successes() >= self.settings.max_requests() {
            return Settle::Commit {
                next: self.closed_after_at(s, now),
                to: Some(State::Closed),
                retrips: 0,
            };
        }
        Settle::Commit {
            next: s.with_pending(false),
            to: None,
            retrips: 0,
        }
    }
}

/// What the thread delivering callbacks does next ([`CircuitBreaker::settle`]).
#[derive(Debug)]
enum Settle {
    /// A command replaced the word: go on from its `generation`, first catching the
    /// callbacks up `to` the state it left (`None`: the state they last named).
    Adopt { generation: u32, to: Option<State> },
    /// Exchange the snapshot for `next`: a transition `to` that state (its callbacks
    /// run next), or, with `None`, the end of the delivery (`PENDING` cleared).
    /// `retrips` is recorded for an open `next` (see [`CircuitBreaker::opened`]).
    Commit {
        next: Snapshot,
        to: Option<State>,
        retrips: u32,
    },
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::ManualClock;
    use crate::state::GEN_MASK;
    use std::time::Duration;

    fn trip_on_first_failure(generation: u32) -> (CircuitBreaker, ManualClock) {
        let clock = ManualClock::new();
        let s = CircuitBreaker::builder("wrap")
            .ready_to_trip(|c| c.consecutive_failures >= 1)
            .timeout(Duration::from_millis(1))
            .clock(clock.clone())
            .settings()
            .expect("valid settings");
        (CircuitBreaker::with_generation(s, generation), clock)
    }

    #[test]
    fn generation_wraps_and_stale_permits_stay_stale() {
        let (cb, clock) = trip_on_first_failure(GEN_MASK as u32);
        let stale = cb.try_acquire().expect("closed admits");
        let _ = cb.call(|| Err::<(), _>(()));
        assert_eq!(cb.load().generation(), 0, "generation wrapped to 0");
        clock.advance(Duration::from_millis(2));
        assert_eq!(cb.state(), State::HalfOpen);
        stale.failure(); // from the pre-wrap generation: changes nothing
        assert_eq!(cb.state(), State::HalfOpen);
        assert_eq!(cb.call(|| Ok::<_, ()>(())), Ok(()));
        assert_eq!(cb.state(), State::Closed);
    }

    #[test]
    fn sweep_at_the_period_boundary_clears_stale_tags() {
        // Closed generation SWEEP_PERIOD - 1 records; the trip to SWEEP_PERIOD sweeps.
        let (cb, _clock) = trip_on_first_failure(SWEEP_PERIOD - 1);
        let _ = cb.call(|| Ok::<_, ()>(()));
        let _ = cb.call(|| Err::<(), _>(()));
        assert_eq!(cb.load().generation(), SWEEP_PERIOD);
        // Every word now carries the new tag, so the old generation reads as zero.
        assert_eq!(
            cb.counters.closed_counts(SWEEP_PERIOD - 1),
            Counts::default()
        );
    }

    /// A breaker whose current generation already made `successes` successes on
    /// this thread (the counters hold exactly what those calls leave behind).
    fn after_successes(builder: crate::Builder, successes: u64) -> CircuitBreaker {
        let cb = CircuitBreaker::from_settings(builder.settings().expect("valid settings"));
        cb.counters
            .preset_successes(cb.load().generation(), successes);
        cb
    }

    const WRAP: u64 = 1 << 32;

    #[test]
    fn count_window_past_2_pow_32_calls_counts_its_real_last_calls() {
        // 2^32 - 50 successes, then a steady 10 % failure rate against a 50 % rule
        // over the last 100 calls (at least 10): it must never trip. Before: past the
        // 2^32 wrap `calls.min(size)` read the few calls since the wrap while the ring
        // still counted the failures among the real last 100, and it tripped at call 59.
        let b = CircuitBreaker::builder("wrap").count_window(
            crate::CountWindow::new(100)
                .with_min_calls(10)
                .with_failure_rate_percent(50),
        );
        let cb = after_successes(b, WRAP - 50);
        for call in 0..1_000 {
            let r = if call % 10 == 9 { Err(()) } else { Ok(()) };
            let _ = cb.call(|| r);
            assert_eq!(cb.state(), State::Closed, "tripped at call {call}");
        }
        // And the rule still works past the wrap: a burst of failures trips it.
        for _ in 0..60 {
            let _ = cb.call(|| Err::<(), _>(()));
        }
        assert_eq!(cb.state(), State::Open);
    }

    #[test]
    fn slow_call_rate_without_a_window_past_2_pow_32_calls() {
        // 2^32 - 20 fast calls, then 5 slow ones: a rate of about 1e-9 against a 50 %
        // rule. Before: the generation's calls wrapped to the few made since 2^32, so
        // the slow ones among them read as a rate over 50 % and it tripped.
        let clock = ManualClock::new();
        let b = CircuitBreaker::builder("wrap")
            .slow_calls(
                crate::SlowCalls::new(Duration::from_millis(1))
                    .with_slow_rate_percent(50)
                    .with_min_calls(10),
            )
            .clock(clock.clone());
        let cb = after_successes(b, WRAP - 20);
        for _ in 0..40 {
            let permit = cb.try_acquire().expect("closed");
            clock.advance(Duration::from_millis(2));
            permit.success();
        }
        assert_eq!(cb.state(), State::Closed, "40 slow of 2^32 + 20 calls");
    }

    #[test]
    fn consecutive_successes_past_2_pow_32() {
        // Before: successes minus successes-at-the-last-failure on wrapped values read
        // 0 after the wrap, and stayed 0 for the next 4 billion calls.
        let b = CircuitBreaker::builder("wrap");
        let cb = after_successes(b, WRAP - 2);
        let _ = cb.call(|| Err::<(), _>(())); // the last failure at 2^32 - 2 successes
        for _ in 0..5 {
            let _ = cb.call(|| Ok::<_, ()>(()));
        }
        let c = cb.counts();
        assert_eq!(c.consecutive_successes, 5);
        assert_eq!(
            c.total_successes, 3,
            "Counts wrap modulo 2^32 like gobreaker's"
        );
        assert_eq!(c.consecutive_failures, 0);
    }

    #[test]
    fn time_saturates_at_the_end_of_the_tick_range() {
        let (cb, clock) = trip_on_first_failure(1);
        clock.advance(Duration::from_millis(MAX_TICK - 1));
        let _ = cb.call(|| Err::<(), _>(()));
        assert_eq!(cb.load().payload(), MAX_TICK, "deadline saturates");
        clock.advance(Duration::from_secs(3600));
        // `now` saturates at MAX_TICK too and never passes the deadline: it stays open
        // rather than wrapping (documented limit, 34.8 years of uptime).
        assert_eq!(cb.state(), State::Open);
    }
}
