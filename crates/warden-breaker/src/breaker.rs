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
//! The state word publishes no memory besides itself and the generation word:
//! every count it gates is an atomic tagged with its generation (see
//! `counters.rs`). So exchanges that only change counters are `Relaxed`. An
//! exchange that moves the generation on is `Release`, after raising the
//! generation word, and loads of the word are `Acquire`: whoever loads a word then
//! finds the generation word at most one behind it (see `full_generation_of`).
//! The other happens-before edge is the callback chain above: transition
//! exchanges are `Acquire`, the exchange that clears `PENDING` is `Release`. With an open
//! backoff one more count rides on that edge: the re-trip count, stored by the
//! thread that re-opened the breaker before it clears `PENDING`, and read behind
//! an `Acquire` fence by the thread whose failed probe re-opens it next.

use std::fmt;
use std::sync::Arc as StdArc;

use std::cell::OnceCell;

use crate::buckets::Buckets;
use crate::claims::{Claim, Claims};
use crate::clock::{NANOS_PER_TICK, TimeBase, to_ticks};
use crate::config::{self, RecordPath};
use crate::counters::{
    Calls, Counters, KEY_MASK, full_of_key, generation_of, key_of, tag_of, tag_of_key,
};
use crate::live::{Live, Quick, Restart};
use crate::once_box::OnceBox;
use crate::permit::{Admission, OwnedPermit, Permit, Ticket};
use crate::state::{
    MAX_FORCED_DEADLINE, MAX_TICK, Manual, SWEEP_PERIOD, Snapshot, Tag, full_generation_near,
    lap_of, low_bits, next_generation, prev_generation,
};
use crate::sync::{AtomicU8, AtomicU64, GenerationWord, Loaded, Mutex, Ordering, SwapCell, fence};
use crate::throttle::Throttle;

#[path = "throttle_breaker.rs"]
mod throttle_breaker;
use crate::{Builder, Counts, Error, Mode, Outcome, ReconfigureError, Rejected, Settings, State};

pub(crate) mod schedule;

/// How many generations past its own an outcome finds the breaker before it
/// forgets the shared words of its generation (see
/// `CircuitBreaker::forget_if_late`): a quarter of the 20-bit range, so a write
/// less late than this is re-tagged by the sweep at least a sweep period before
/// its tag would read as later than the breaker's.
const LATE: u64 = 1 << 18;

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
// No padding: the breaker's own words (the state word, the counter directory, the
// rare counts, the settings pointer, the time base) are read on every call and written
// only on failures and transitions, so they share lines; what every call writes, the
// per-thread counts, lives in separate cells (see `counters.rs`). Plain settings are
// shared between breakers (see `live.rs`). That keeps a breaker called by one thread
// within 512 bytes in all (`tests/memory.rs`).
pub struct CircuitBreaker {
    state: AtomicU64,
    /// The full generation of the state word, which holds its low 20 bits, or one
    /// less: raised before every exchange that moves the generation on (see
    /// `full_generation_of`). A plain-closed word and a manual word without a
    /// deadline hold their full generation themselves.
    full_generation: GenerationWord,
    counters: Counters,
    /// The settings and the trip rule's windows, behind one pointer that
    /// [`reconfigure`](Self::reconfigure) replaces (shared with other breakers when
    /// the settings are plain, see `live.rs`). Read only off the frequent paths
    /// (transitions, failures, observers, a new time-window bucket, a slow call), at
    /// most once per operation (see [`Cfg`]): the plain closed success reads `hot`,
    /// a half-open admission and a timed closed success read `quick`, and an open or
    /// disabled breaker's calls need no settings.
    live: SwapCell<Live>,
    /// What the closed success path needs of the settings, [`Settings::hot_bits`]:
    /// how a success is recorded and whether admissions have hooks. Stored by
    /// `reconfigure` after it publishes new settings; a call that reads the old
    /// bits meanwhile takes the old path, which the new settings also handle
    /// (see `reconfigure`).
    hot: AtomicU8,
    /// Inline copies of what the half-open admission and the timed closed success
    /// need of the settings, stored by `reconfigure` after it publishes, as `hot`
    /// is (see [`Quick`]): those paths then load no settings.
    quick: Quick,
    /// The clock and time origin (fixed: `reconfigure` keeps them), outside `live`
    /// so an open breaker checks its deadline without loading the settings.
    time: TimeBase,
    /// The name (fixed).
    name: StdArc<str>,
    /// Held by `reconfigure` from its load of the current value to its store, so
    /// two reconfigurations of this breaker never interleave.
    reconfiguring: Mutex<()>,
    /// The last evaluation of an [`AdaptiveThrottle`](crate::AdaptiveThrottle), if
    /// the settings set one (see `throttle_breaker.rs`).
    throttle: Throttle,
    /// Set once the ticker may move this breaker on time (`schedule.rs`).
    scheduled: OnceBox<StdArc<schedule::Scheduled>>,
    /// The generations threads inside an outcome's record may still write in, which
    /// no transition installs again (see `claims.rs`).
    claims: Claims,
}

/// The live settings, loaded from the breaker's cell at most once per operation
/// and only when the operation needs them: every decision one operation makes
/// sees one whole version of the settings, old or new, never a mix.
struct Cfg<'a> {
    cell: &'a SwapCell<Live>,
    loaded: OnceCell<Loaded<Live>>,
}

impl<'a> Cfg<'a> {
    #[inline]
    fn lazy(cell: &'a SwapCell<Live>) -> Self {
        Self {
            cell,
            loaded: OnceCell::new(),
        }
    }

    #[inline]
    fn get(&self) -> &Live {
        self.loaded.get_or_init(|| self.cell.load())
    }

    #[inline]
    fn settings(&self) -> &Settings {
        &self.get().settings
    }

    /// Whether this operation already loaded the settings.
    #[inline]
    fn is_loaded(&self) -> bool {
        self.loaded.get().is_some()
    }
}

/// Whether `a` and `b` are the same window (or both none).
fn same_arc<T>(a: &Option<StdArc<T>>, b: &Option<StdArc<T>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => StdArc::ptr_eq(a, b),
        (a, b) => a.is_none() && b.is_none(),
    }
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
        Self {
            hot: AtomicU8::new(settings.hot_bits()),
            quick: Quick::new(&settings),
            time: settings.time().fixed(),
            name: StdArc::clone(settings.name_arc()),
            reconfiguring: Mutex::new(()),
            throttle: Throttle::new(),
            live: SwapCell::new(Live::new(settings).publish()),
            state: AtomicU64::new(Snapshot::closed(generation.into(), expiry).0),
            full_generation: GenerationWord::new(generation.into()),
            counters,
            scheduled: OnceBox::new(),
            claims: Claims::new(),
        }
    }

    /// The breaker's name.
    ///
    /// ```
    /// assert_eq!(warden_breaker::CircuitBreaker::builder("db").build()?.name(), "db");
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The breaker's current settings: those it was built with, or the last ones
    /// given to [`reconfigure`](Self::reconfigure). A copy (it shares the clock and
    /// hooks): later reconfigurations do not change it.
    ///
    /// ```
    /// let cb = warden_breaker::CircuitBreaker::builder("db").build()?;
    /// assert_eq!(cb.settings().max_requests(), 1);
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn settings(&self) -> Settings {
        self.live
            .load()
            .settings
            .for_breaker(&self.name, &self.time)
    }

    /// Replaces the breaker's settings while calls run, keeping its state,
    /// generation and counts wherever the new settings can use them.
    ///
    /// `builder` describes the whole new configuration, as for
    /// [`build`](Builder::build): a setting it leaves out takes its default, not
    /// the breaker's current value. It must name this breaker and must not set a
    /// clock, a state-change callback or observers: the breaker keeps its own
    /// (its deadlines are ticks of its clock, and its hooks hear of every
    /// transition exactly once). Invalid settings change nothing.
    ///
    /// # When each setting applies
    ///
    /// | setting | takes effect |
    /// | --- | --- |
    /// | `timeout`, `open_backoff` | from the next trip: an open breaker keeps the deadline it opened with. Consecutive re-trips are counted only while a backoff is set, so one added while the breaker flaps counts from the next re-trip |
    /// | `max_requests` | at once: a half-open breaker admits new probes only below the new limit (probes in flight keep their slots) and closes once its probe successes reach it |
    /// | `half_open_max_wait` | a half-open period's deadline is set when it begins, from the max wait then in force (none if zero), so a new max wait applies from the next period; while the max wait is zero no deadline is enforced (setting it back enforces the current period's deadline again, if it had one) |
    /// | `interval` | at once: a closed breaker keeps its counts, and its current counting period ends `interval` after the reconfiguration (never, for zero) |
    /// | `ready_to_trip`; a window's minimum calls and rate; `slow_calls`' threshold, rate and minimum | at once: the next outcome is judged by the new rule on the counts so far |
    /// | an [`AdaptiveThrottle`](crate::AdaptiveThrottle)'s `k`, minimum requests and cap | at once: `reconfigure` evaluates the window so far with the new rule before it returns |
    /// | the trip rule's *shape*: the kind of rule (`ready_to_trip` or the default, [`CountWindow`](crate::CountWindow), [`TimeWindow`](crate::TimeWindow), [`AdaptiveThrottle`](crate::AdaptiveThrottle)), a count window's size, a time window's or throttle's length or buckets | a closed breaker starts a new closed generation with fresh counts and a new window (calls admitted before it are ignored, as after an interval reset; no state change, no callback). An open or half-open breaker uses the new rule from its next closed generation |
    /// | adding `slow_calls` | calls admitted from then on are timed; calls admitted before are never slow |
    /// | name, clock | cannot change: [`ReconfigureError::Name`], [`ReconfigureError::Clock`] |
    /// | `on_state_change`, observers | kept: giving any is [`ReconfigureError::Hooks`] |
    ///
    /// A breaker in a manual mode ([`force_open`](Self::force_open) and the
    /// others) stays in it. A window keeps its events only while its shape stays;
    /// reconfiguring to a new shape builds the new window before publishing it, so a
    /// concurrent call never sees a half-built one.
    ///
    /// # Concurrency
    ///
    /// Calls are never blocked. The settings and windows are one value behind one
    /// pointer, swapped whole; every operation (an admission, an outcome, a
    /// transition with its callbacks) loads it at most once, so it decides with
    /// the old settings or the new ones, never a mix. An operation already running
    /// may finish with the old settings; one that starts after `reconfigure`
    /// returned (on this thread, or on a thread synchronized with it) uses the
    /// new ones. Reconfigurations of one breaker run one at a time. The closed
    /// success path never reads the settings: it reads one byte (how to record a
    /// success), stored after the new settings are published; a call that reads
    /// the old byte meanwhile takes a path the new settings also handle. Likewise a
    /// half-open admission reads `max_requests` and the max wait from one word, and
    /// a closed success with a time window or slow calls reads the slow-call
    /// threshold and whether there is a window from one word, both copies of one
    /// version stored after it is published: a call that reads the copy of the
    /// previous version while a reconfiguration runs decides with those values,
    /// whole, as a call that started a moment earlier would. Anything more (a
    /// re-open at the max wait, a slow call counted against the rule) is decided
    /// with the settings that call then loads, alone.
    ///
    /// # Errors
    ///
    /// See [`ReconfigureError`]; on error nothing changed.
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_breaker::{CircuitBreaker, ManualClock, State};
    ///
    /// let clock = ManualClock::new();
    /// let cb = CircuitBreaker::builder("db")
    ///     .ready_to_trip(|c| c.consecutive_failures >= 3)
    ///     .clock(clock.clone())
    ///     .build()?;
    /// let _ = cb.call(|| Err::<(), _>("down"));
    /// let _ = cb.call(|| Err::<(), _>("down"));
    /// // Trip after 2 consecutive failures from now on: the 2 so far are kept.
    /// cb.reconfigure(
    ///     CircuitBreaker::builder("db")
    ///         .ready_to_trip(|c| c.consecutive_failures >= 2)
    ///         .timeout(Duration::from_secs(5)),
    /// )?;
    /// assert_eq!(cb.counts().consecutive_failures, 2);
    /// let _ = cb.call(|| Err::<(), _>("down"));
    /// assert_eq!(cb.state(), State::Open);
    /// clock.advance(Duration::from_millis(5001)); // the new timeout
    /// assert_eq!(cb.state(), State::HalfOpen);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reconfigure(&self, builder: Builder) -> Result<(), ReconfigureError> {
        let _serial = self
            .reconfiguring
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Loaded under the lock: another reconfiguration may have just ended.
        let current = self.live.load_full();
        let settings =
            builder.settings_for(&current.settings.for_breaker(&self.name, &self.time))?;
        let interval = settings.interval_ticks();
        let hot = settings.hot_bits();
        let (next, restart) = current.next(settings);
        let new_window = !same_arc(&current.buckets, &next.buckets);
        let next = next.publish();
        self.live.store(StdArc::clone(&next));
        // Relaxed: see `hot`; the settings it describes are already published.
        self.hot.store(hot, Ordering::Relaxed);
        self.quick.store(&next, new_window);
        match restart {
            Restart::Nothing => {}
            Restart::Interval => self.restart_closed(interval, false),
            Restart::Generation => self.restart_closed(interval, true),
        }
        if restart != Restart::Generation && hot & config::HOT_THROTTLE != 0 {
            self.throttle_reconfigured(&Cfg::lazy(&self.live));
        }
        Ok(())
    }

    /// After a reconfiguration changed the counting `interval` (`fresh`: or the
    /// trip rule's window shape), restarts the counting period of a closed breaker
    /// (`fresh`: in a new generation; otherwise keeping its counts). Any other
    /// state starts its next closed generation with the new settings anyway.
    #[cold]
    fn restart_closed(&self, interval: u64, fresh: bool) {
        let mut s = self.load();
        loop {
            if s.tag() != Tag::Closed || s.is_open_requested() {
                return;
            }
            let expiry = match interval {
                0 => 0,
                i => self.now_ticks().saturating_add(i).min(MAX_TICK),
            };
            let full = self.full_generation_of(s) + u64::from(fresh);
            // PENDING stays: a closed word with it is a transition into closed whose
            // callbacks still run; their thread sees the new word (a new generation:
            // no state change to report) and clears PENDING on it.
            let next = Snapshot::closed(full, expiry).with_pending(s.is_pending());
            match self.exchange(s, next) {
                Ok(next) => {
                    if fresh {
                        self.new_generation(&Cfg::lazy(&self.live), next.generation());
                    }
                    return;
                }
                Err(actual) => s = actual,
            }
        }
    }

    /// The breaker's time in ticks (fixed clock and origin, see `time`).
    #[inline]
    fn now_ticks(&self) -> u64 {
        self.time.now_ticks()
    }

    /// The breaker's time in nanoseconds.
    #[inline]
    fn now_nanos(&self) -> u64 {
        self.time.now_nanos()
    }

    /// The time a closed-state call is timed with (see `TimeBase::timed_nanos_if`):
    /// the breaker's epoch, the lease of the settings `l` holds.
    #[inline]
    fn timed_nanos(&self, l: &Cfg<'_>) -> u64 {
        self.time.timed_nanos_if(l.settings().time().has_lease())
    }

    /// How a closed success is recorded, and whether admissions have hooks
    /// (observers, slow calls) or a throttle that may shed (a throttle whose last
    /// evaluation sheds nothing admits as the plain path does).
    #[inline]
    fn hot(&self) -> (RecordPath, bool) {
        // Relaxed: a stale byte only picks a path the current settings also handle
        // (see `reconfigure`), or a throttle's evaluation before or after the last
        // one (see `sync_shedding`); it publishes nothing.
        let bits = self.hot.load(Ordering::Relaxed);
        (
            RecordPath::from_hot_bits(bits),
            bits & (config::HOT_HOOKS | config::HOT_SHEDDING) != 0,
        )
    }

    #[inline]
    fn load(&self) -> Snapshot {
        // Acquire: pairs with the Release of the exchange that moved the generation on
        // to this word's (see `exchange`), so the generation word loaded after this
        // one is at most one generation behind it (see `full_generation_of`).
        Snapshot(self.state.load(Ordering::Acquire))
    }

    /// The full generation of `s`, a word this thread loaded (see [`Self::load`]):
    /// a word that holds its lap holds it (plain closed, or manual without a
    /// deadline: see `Snapshot::own_lap`); any other word holds its low 20 bits, and
    /// the generation word, loaded after `s`, the rest. That word is at most one
    /// generation behind `s` and never ahead of the breaker's current word, so the
    /// generation is exact unless the breaker made 2^20 - 1 transitions between this
    /// thread's load of `s` and this load (the few instructions between them), and
    /// never later than the breaker's but by one (see `full_generation_near`). An
    /// exchange from `s` that succeeds afterwards shows the word did not change.
    #[inline]
    fn full_generation_of(&self, s: Snapshot) -> u64 {
        if let Some(full) = s.own_full_generation() {
            return full;
        }
        // Relaxed: `s` was loaded with Acquire (or by a failed exchange's Acquire),
        // which pairs with the Release of the exchange that raised this word first.
        s.full_generation_near(self.full_generation.load(Ordering::Relaxed))
    }

    /// The lap of `s`, a word this thread loaded: its full generation's bits above
    /// the 20 the word holds (see [`Self::full_generation_of`]).
    #[inline]
    fn lap_of_word(&self, s: Snapshot) -> u64 {
        match s.own_lap() {
            Some(lap) => lap,
            // Relaxed: see `full_generation_of`.
            None => lap_of(full_generation_near(
                self.full_generation.load(Ordering::Relaxed),
                s.generation(),
            )),
        }
    }

    /// The counter key of `s`'s full generation (see `counters::key_of`), `s` a word
    /// this thread loaded (see [`Self::full_generation_of`]).
    #[inline]
    fn key_of_word(&self, s: Snapshot) -> u64 {
        key_of(s.generation(), self.lap_of_word(s))
    }

    /// Whether the generation keyed `key` (see `counters::key_of`) is still the
    /// breaker's.
    #[cold]
    fn is_current(&self, key: u64) -> bool {
        self.key_of_word(self.load()) == key
    }

    /// What a closed or disabled outcome asks before it re-tags a shared counter word
    /// or window slot found tagged with the generation `seen` (its 20 bits): whether
    /// the generation keyed `key` is still the breaker's, after claiming `seen`'s
    /// bits; the claim, held until the outcome's exchange, keeps a generation with
    /// those bits from beginning and writing the word back to the value the
    /// outcome saw (see `counters::retag_allowed`).
    #[cold]
    fn ask(&self, key: u64, seen: u32) -> Option<Claim<'_>> {
        let claim = self.claims.claim(seen);
        self.is_current(key).then_some(claim)
    }

    /// Whether `ticket` was admitted in the generation of `s`, a word this thread
    /// loaded: by full generation (the 20 bits, then the lap).
    #[inline]
    fn admitted_in(&self, s: Snapshot, ticket: Ticket) -> bool {
        s.generation() == ticket.generation() && self.lap_of_word(s) == ticket.lap()
    }

    /// [`crate::__private::loom_full_generation`].
    #[cfg(loom)]
    pub(crate) fn loom_full_generation(&self) -> (u32, u64, u64, u64) {
        let s = self.load();
        // Relaxed, as in `full_generation_of`.
        let word = self.full_generation.load(Ordering::Relaxed);
        let full = s.full_generation_near(word);
        let later = self.load();
        (s.generation(), word, full, self.full_generation_of(later))
    }

    /// `next`, a word that moves the generation on from `cur` (a word this thread
    /// loaded) to the one after it, moved on to the first generation from there
    /// whose 20 bits no thread claims (see `claims.rs`: almost always the one after
    /// `cur`'s), with the generation word raised to the generation just before it,
    /// so that it is at most one behind the word the exchange installs. Returns the
    /// word and its full generation.
    #[inline]
    fn unclaimed(&self, cur: Snapshot, next: Snapshot) -> (Snapshot, u64) {
        // Relaxed: see `full_generation_of`; one load serves both the generation
        // after `cur` and the raise below (a second made the generation word's loom
        // models explore ten times the interleavings).
        let word = self.full_generation.load(Ordering::Relaxed);
        let after = cur.full_generation_near(word) + 1;
        debug_assert_eq!(low_bits(after), next.generation(), "{cur:?} {next:?}");
        let full = self.claims.first_free(after);
        // Its lap too, rebuilt from `cur` now: `next` was decided on a word loaded
        // before, and a word that holds no lap may be back a lap later, identical,
        // when the exchange lands (the decision, a pure function of that word, holds
        // for it; a lap taken from the first look would not).
        let next = next.with_full_generation(full);
        // Relaxed: the exchange that follows is Release, which publishes this to
        // whoever loads its word (see `load`); the word only grows.
        if word < full - 1 {
            self.full_generation.fetch_max(full - 1, Ordering::Relaxed);
        }
        (next, full)
    }

    /// Installs `next` if the word is still `cur`, and returns the word installed:
    /// `next`, or, if it moves the generation on, `next` in the first generation
    /// whose 20 bits no thread claims (see [`Self::unclaimed`]). `Err` carries the
    /// word found.
    #[inline]
    fn exchange(&self, cur: Snapshot, next: Snapshot) -> Result<Snapshot, Snapshot> {
        if next.generation() == cur.generation() {
            return self.exchange_in(cur, next);
        }
        self.exchange_full(cur, next).map(|(next, _)| next)
    }

    /// [`Self::exchange`] of a word `next` that moves the generation on; returns the
    /// word installed and its full generation.
    #[inline]
    fn exchange_full(&self, cur: Snapshot, next: Snapshot) -> Result<(Snapshot, u64), Snapshot> {
        debug_assert_ne!(next.generation(), cur.generation());
        // Unclaimed, and the generation word first reaches the generation before it,
        // so it is at most one behind `next`.
        let (next, full) = self.unclaimed(cur, next);
        // Release: pairs with the Acquire of `load` (see above). Acquire: every
        // transition (it sets PENDING) moves the generation on, and pairs with the
        // Release that cleared PENDING after the previous transition's callbacks,
        // ordering the callbacks. Acquire on failure: the word found is loaded as
        // `load` loads it.
        self.state
            .compare_exchange(cur.0, next.0, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| (next, full))
            .map_err(Snapshot)
    }

    /// [`Self::exchange`] of a word `next` in `cur`'s generation.
    #[inline]
    fn exchange_in(&self, cur: Snapshot, next: Snapshot) -> Result<Snapshot, Snapshot> {
        // Probe counts, an open request, an interval restarted in its generation: they
        // only touch the word itself, and none sets PENDING.
        debug_assert!(cur.is_pending() || !next.is_pending(), "{cur:?} {next:?}");
        self.state
            // Relaxed: publishes nothing. Acquire on failure: the word found is loaded
            // as `load` loads it.
            .compare_exchange(cur.0, next.0, Ordering::Relaxed, Ordering::Acquire)
            .map(|_| next)
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
    #[inline]
    pub fn state(&self) -> State {
        // Closed with no interval to check and nothing requested: one load, inlined
        // into callers in other crates (the tower layer asks on every request).
        if self.load().is_plain_closed() {
            return State::Closed;
        }
        self.state_slow()
    }

    #[cold]
    #[inline(never)]
    fn state_slow(&self) -> State {
        self.state_in(&Cfg::lazy(&self.live))
    }

    /// [`Self::state`] with the settings `l` of the operation calling it.
    fn state_in(&self, l: &Cfg<'_>) -> State {
        let mut s = self.load();
        loop {
            match s.tag() {
                _ if s.is_open_requested() => return State::Open,
                Tag::HalfOpen => {
                    if !self.half_open_expired(l, s) {
                        return State::HalfOpen;
                    }
                    match self.reopen(l, s) {
                        Ok(()) => s = self.load(),
                        Err(actual) => s = actual,
                    }
                }
                Tag::Closed => {
                    if let Some(expiry) = s.expiry().filter(|_| !s.is_pending()) {
                        let now = self.now_ticks();
                        if now > expiry {
                            match self.reset_interval(l, s, now) {
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
                    let now = self.now_ticks();
                    if now <= deadline {
                        return State::Open;
                    }
                    let next = Snapshot::half_open(next_generation(s.generation()), 0, 0)
                        .with_pending(true);
                    match self.exchange(s, next) {
                        Ok(next) => {
                            self.entered_half_open(l, next, now);
                            self.deliver(l, next, State::Open, State::HalfOpen);
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
            Tag::Closed => self.counters.closed_counts(self.key_of_word(s)),
            Tag::HalfOpen => {
                self.counters
                    .half_open_counts(s.generation(), s.held(), s.successes())
            }
            Tag::Manual if s.manual_mode() == Manual::Disabled => {
                self.counters.closed_counts(self.key_of_word(s))
            }
            Tag::Open | Tag::Manual => Counts::default(),
        }
    }

    /// The breaker's lifetime totals: successes, failures, ignored and dropped
    /// outcomes, slow calls, rejections by reason and transitions by edge since it
    /// was built. Unlike [`counts`](Self::counts) they never restart, and recording
    /// them costs a call little: successes, failures, dropped permits and open or
    /// too-many-requests rejections are plain stores on the calling thread's own
    /// counter line; slow calls, throttled rejections and transitions ride on paths
    /// that already write shared words; an ignored outcome adds one shared
    /// `fetch_add` (the thread's line has no room for it). This is what a
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
        self.command(&Cfg::lazy(&self.live), |g| {
            Snapshot::manual(low_bits(g), Manual::ForcedOpen, 0, lap_of(g))
        });
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
        let l = &Cfg::lazy(&self.live);
        // As `Settings::deadline_after`, on the breaker's own time (its settings may
        // be shared with breakers built at other times, see `live.rs`).
        let ms = duration.as_nanos().div_ceil(u128::from(NANOS_PER_TICK));
        let deadline = self
            .now_ticks()
            .saturating_add(u64::try_from(ms).unwrap_or(u64::MAX))
            .min(MAX_TICK);
        if deadline > MAX_FORCED_DEADLINE {
            self.force_open();
        } else {
            self.open_until(deadline);
            self.command(l, |g| {
                Snapshot::manual(low_bits(g), Manual::ForcedOpenUntil, deadline, 0)
            });
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
        self.command(&Cfg::lazy(&self.live), |g| {
            Snapshot::manual(low_bits(g), Manual::ForcedClosed, 0, lap_of(g))
        });
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
        self.command(&Cfg::lazy(&self.live), |g| {
            Snapshot::manual(low_bits(g), Manual::Disabled, 0, lap_of(g))
        });
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
        let l = &Cfg::lazy(&self.live);
        let expiry = match l.settings().interval_ticks() {
            0 => 0,
            i => self.now_ticks().saturating_add(i).min(MAX_TICK),
        };
        self.command(l, |full| Snapshot::closed(full, expiry));
    }

    /// Installs `make(next full generation)` over whatever the word holds (see
    /// [`force_open`](Self::force_open)).
    #[cold]
    fn command(&self, l: &Cfg<'_>, make: impl Fn(u64) -> Snapshot) {
        let mut s = self.load();
        loop {
            let target = make(self.full_generation_of(s) + 1);
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
                Ok(next) if from != to && !s.is_pending() => {
                    return self.deliver(l, next, from, to);
                }
                Ok(next) => {
                    self.new_generation(l, next.generation());
                    return self.reschedule(next);
                }
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
        // For the same reason the out-of-line paths return an `Admission` word, not a
        // `Result`: a `Result<Ticket, Rejected>` returned from a call comes back through
        // memory, and this path's ticket then went through that stack slot too.
        let (_, hooks) = self.hot();
        if hooks {
            return self.admit_hooked(s).get();
        }
        // The hot path: closed, no interval to check, nothing requested.
        if s.is_plain_closed() {
            // A plain-closed word less its flags is its counter key; the word is its
            // ticket (lap included; see `Ticket::plain`).
            self.counters
                .record_request(s.plain_key(), self.under(s.plain_key()));
            return Ok(Ticket::plain(s));
        }
        self.admit_counted(s).get()
    }

    /// An admission from a word that is not plain closed, without hooks: an open
    /// word to [`Self::admit_open`], a forced-open one refused at once, any other to
    /// [`Self::admit_counted_general`]. Each is a jump: this function saves no
    /// register, so the other paths pay only its comparisons (callgrind, the
    /// benches' `half_open_saturated`: 105 -> 109 instructions a call,
    /// `half_open_max_wait` 146 -> 150, `disabled_success` 169 -> 178).
    #[inline(never)]
    fn admit_counted(&self, s: Snapshot) -> Admission {
        match s.tag() {
            Tag::Open => self.admit_open(s),
            Tag::Manual if s.manual_mode() == Manual::ForcedOpen => self.refuse_open(),
            _ => self.admit_counted_general(s),
        }
    }

    /// An open breaker's refusal: the common case of every call while a breaker is
    /// open. An open word whose deadline the ticker's time has not passed is refused
    /// as [`Self::admit_slow`] refuses it (the ticker's time is never ahead of the
    /// clock, so a deadline still ahead of it is ahead of now) with no settings set
    /// up, no clock read and no register saved for the general path (callgrind, the
    /// benches' `open_reject`: 87 -> 63 instructions a call, `forced_open_reject`
    /// 77 -> 50). The deadline passed, or no ticker running: the general path.
    #[inline(never)]
    fn admit_open(&self, s: Snapshot) -> Admission {
        if self.time.ticker_ticks().is_some_and(|t| t <= s.payload()) {
            return self.refuse_open();
        }
        self.admit_counted_general(s)
    }

    /// A refusal by an open (or forced-open) word, counted in the lifetime totals.
    #[inline(never)]
    fn refuse_open(&self) -> Admission {
        self.counters.record_rejection(Rejected::Open);
        Admission::new(Err(Rejected::Open))
    }

    /// [`Self::admit_slow`], counting a refusal in the lifetime totals (a plain
    /// load and store on the calling thread's stripe). Out of line, like
    /// `admit_slow`: a `map_err` in `admit` made it too big to inline into the
    /// callers (callgrind: 69 -> 83 instructions per closed success).
    #[cold]
    #[inline(never)]
    fn admit_counted_general(&self, s: Snapshot) -> Admission {
        Admission::new(self.admit_counted_in(&Cfg::lazy(&self.live), s))
    }

    /// [`Self::admit_counted`] with the settings loaded by the caller, if it did.
    #[inline(always)]
    fn admit_counted_in(&self, l: &Cfg<'_>, s: Snapshot) -> Result<Ticket, Rejected> {
        let result = self.admit_slow(l, s);
        if let Err(rejected) = result {
            self.counters.record_rejection(rejected);
        }
        result
    }

    /// An admission with observers to notify, a call to time or a throttle. Out of
    /// line, so the inlined [`Self::admit`] stays as small as the plain path needs
    /// (a branch more there costs the plain closed path about 1 ns; inlining the
    /// throttle's common case there, tried, took the closed success from 82 to 103
    /// instructions). First the slow-call rule's common case, which only takes the
    /// start time (see [`Self::times_plainly`]), then the throttle's, which is the
    /// plain admission (see [`Self::throttle_admits_plainly`]); a thread whose cell
    /// is not a direct one takes the general path, which decides the same and
    /// counts there. The slow-call rule's case comes first because the throttle's
    /// is rare here: a throttle whose last evaluation sheds nothing admits on the
    /// inlined path, so its admissions come here while it may shed, when its
    /// common case mostly fails (callgrind, `slow_calls_success`: 189 -> 183
    /// instructions a call, with the throttle's test first).
    #[inline(never)]
    fn admit_hooked(&self, s: Snapshot) -> Admission {
        // The cell first, while little is live (see `Counters::direct_cell`).
        // Keyed by the word: a cell is found only for a plain-closed word (the only
        // one it is used for) of the cell's generation.
        let cell = self.counters.direct_cell(s.0);
        if self.times_plainly(s) {
            return match cell {
                Some(cell) => self.admit_timed(cell, s),
                None => self.admit_with_hooks(s),
            };
        }
        if !self.throttle_admits_plainly(s) {
            return self.admit_with_hooks(s);
        }
        let Some(cell) = cell else {
            return self.admit_plainly_elsewhere(s);
        };
        cell.record_request();
        Admission::new(Ok(Ticket::plain(s)))
    }

    /// Whether an admission from state word `s` only takes its start time: the
    /// slow-call rule's common case. No throttle, the timed record path (a time
    /// window or slow calls, and no observer: with one the path is the observed
    /// one), and the plain-closed word. [`Self::admit_with_hooks`] decides the same
    /// admission there, after loading the settings' cell and looking the thread's
    /// counter cell up again.
    #[inline]
    fn times_plainly(&self, s: Snapshot) -> bool {
        // Relaxed: see `hot`. The throttle's check after this one loads the byte
        // again: one byte passed between the two checks stayed live across the first
        // and cost both paths (callgrind, with the throttle's check first: slow calls
        // 195 -> 198, throttle 177 -> 181 instructions a call).
        let bits = self.hot.load(Ordering::Relaxed);
        bits & config::HOT_THROTTLE == 0
            && RecordPath::from_hot_bits(bits) == RecordPath::Timed
            && s.is_plain_closed()
    }

    /// [`Self::admit_hooked`]'s timed admission on the ticker's time, in `cell`:
    /// the request counted and the start time taken (callgrind, the benches'
    /// `slow_calls_success`: 235 -> 195 instructions a call). Without the ticker's
    /// time (no lease, or no ticker running) the clock is read on the general path.
    #[inline(always)]
    fn admit_timed(&self, cell: crate::counters::DirectCell<'_>, s: Snapshot) -> Admission {
        let Some(now_ns) = self.time.ticker_nanos_if(self.quick.timed().leased()) else {
            return self.admit_with_hooks(s);
        };
        cell.record_request();
        Admission::new(Ok(Ticket::plain(s).started_at(now_ns / 1_000)))
    }

    /// [`Self::admit_hooked`]'s plain admission for a thread past the counters'
    /// direct cells.
    #[inline(never)]
    fn admit_plainly_elsewhere(&self, s: Snapshot) -> Admission {
        self.counters
            .record_request_elsewhere(s.plain_key(), self.under(s.plain_key()));
        Admission::new(Ok(Ticket::plain(s)))
    }

    /// [`Self::admit_hooked`] past a throttle's plain admission, in a function of
    /// its own so that the throttle's common case saves no registers for it.
    #[inline(never)]
    fn admit_with_hooks(&self, s: Snapshot) -> Admission {
        let l = &Cfg::lazy(&self.live);
        // Relaxed: see `hot` (read again rather than passed: an admission reads it
        // after the state word either way, and passing it costs the common case
        // above a register).
        let bits = self.hot.load(Ordering::Relaxed);
        if bits & config::HOT_THROTTLE != 0 {
            if self.throttles(l, s) {
                return Admission::new(self.admission_hooks(l, Err(Rejected::Throttled)));
            }
            if bits & config::HOT_HOOKS == 0 {
                // A throttle and no other hook: a closed admission needs nothing more.
                if s.is_plain_closed() {
                    self.counters
                        .record_request(s.plain_key(), self.under(s.plain_key()));
                    return Admission::new(Ok(Ticket::plain(s)));
                }
                return Admission::new(self.admit_counted_in(l, s));
            }
        }
        if self.hot().0 == RecordPath::Timed && s.is_plain_closed() {
            // Slow calls and no observer (a timed record path has none): a closed
            // admission only takes its start time. (A hot byte older than the
            // settings may send a call here after slow calls were removed: its start
            // time is then never used.)
            // The lease from the inline copy (see `Quick`): no settings loaded.
            self.counters
                .record_request(s.plain_key(), self.under(s.plain_key()));
            let start = self.time.timed_nanos_if(self.quick.timed().leased()) / 1_000;
            return Admission::new(Ok(Ticket::plain(s).started_at(start)));
        }
        let result = if s.is_plain_closed() {
            self.counters
                .record_request(s.plain_key(), self.under(s.plain_key()));
            Ok(Ticket::plain(s))
        } else {
            self.admit_counted_in(l, s)
        };
        Admission::new(self.admission_hooks(l, result))
    }

    /// What an admission does beyond the state word and the counters: a closed
    /// ticket takes its start time for [`SlowCalls`](crate::SlowCalls) (the only rule
    /// that reads the clock at admission), and observers hear of it.
    fn admission_hooks(
        &self,
        l: &Cfg<'_>,
        result: Result<Ticket, Rejected>,
    ) -> Result<Ticket, Rejected> {
        let result = match result {
            Ok(t) if l.settings().times_calls() && !t.is_half_open() => {
                Ok(t.started_at(self.timed_nanos(l) / 1_000))
            }
            other => other,
        };
        let panic = match result {
            Ok(t) => l.settings().observe_caught(|o| o.on_admitted(t.state())),
            Err(r) => l.settings().observe_caught(|o| o.on_rejected(r)),
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

    /// Inlined into its one caller, [`Self::admit_counted_in`], whose callers are
    /// cold or out of line themselves (callgrind: a rejection 157 -> 141
    /// instructions, 131 before totals).
    #[inline(always)]
    fn admit_slow(&self, l: &Cfg<'_>, mut s: Snapshot) -> Result<Ticket, Rejected> {
        loop {
            match s.tag() {
                _ if s.is_open_requested() => return Err(Rejected::Open),
                Tag::Closed => {
                    if let Some(expiry) = s.expiry().filter(|_| !s.is_pending()) {
                        let now = self.now_ticks();
                        if now > expiry {
                            match self.reset_interval(l, s, now) {
                                Ok(()) => s = self.load(),
                                Err(actual) => s = actual,
                            }
                            continue;
                        }
                    }
                    let ticket = Ticket::closed_in(s.generation(), self.lap_of_word(s));
                    self.counters
                        .record_request(ticket.key(), self.under(ticket.key()));
                    return Ok(ticket);
                }
                Tag::Manual if s.visible() == State::Closed => {
                    let ticket = Ticket::closed_in(s.generation(), self.lap_of_word(s));
                    if s.manual_mode() == Manual::Disabled {
                        self.counters
                            .record_request(ticket.key(), self.under(ticket.key()));
                    }
                    return Ok(ticket);
                }
                Tag::Open | Tag::Manual => {
                    let Some(deadline) = s.open_deadline() else {
                        return Err(Rejected::Open); // forced open until the next command
                    };
                    if s.is_pending() {
                        return Err(Rejected::Open);
                    }
                    // The ticker's time is never ahead of the clock: if the deadline is
                    // still ahead of it, it is ahead of now too. While the ticker runs
                    // (it does while a breaker on the default clock is open) this is a
                    // load instead of a clock read; otherwise it is the clock.
                    if self.time.recent_ticks() <= deadline {
                        return Err(Rejected::Open);
                    }
                    let now = self.now_ticks();
                    if now <= deadline {
                        return Err(Rejected::Open);
                    }
                    // Timeout passed: turn half-open, taking the first probe slot in the
                    // same exchange.
                    let next = Snapshot::half_open(next_generation(s.generation()), 1, 0)
                        .with_pending(true);
                    match self.exchange_full(s, next) {
                        Ok((next, full)) => {
                            self.entered_half_open(l, next, now);
                            self.deliver(l, next, State::Open, State::HalfOpen);
                            return Ok(Ticket::half_open(full));
                        }
                        Err(actual) => s = actual,
                    }
                }
                Tag::HalfOpen => {
                    let max_requests = match self.half_open_limit(l, s) {
                        Some(max_requests) => max_requests,
                        None => match self.reopen(l, s) {
                            Ok(()) => return Err(Rejected::Open),
                            Err(actual) => {
                                s = actual;
                                continue;
                            }
                        },
                    };
                    if s.held() >= max_requests {
                        return Err(Rejected::TooManyRequests);
                    }
                    let next = s.with_probes(s.held() + 1, s.successes());
                    // The loom suite's negative control: a load-and-store instead of the
                    // exchange lets two probes take the same slot (and can undo a
                    // transition that happened in between). Never built outside that check.
                    #[cfg(warden_mutant)]
                    {
                        self.state.store(next.0, Ordering::Relaxed);
                        return Ok(Ticket::half_open_in(s.generation(), self.lap_of_word(s)));
                    }
                    #[cfg(not(warden_mutant))]
                    match self.exchange(s, next) {
                        // The lap once the slot is taken (`s` was the word then).
                        Ok(_) => {
                            return Ok(Ticket::half_open_in(s.generation(), self.lap_of_word(s)));
                        }
                        Err(actual) => s = actual,
                    }
                }
            }
        }
    }

    /// A half-open admission's probe limit, `None` if half-open `s` outlived its max
    /// wait (the caller re-opens it). From the inline copy of the settings while
    /// this operation has not loaded them and the copy says the max wait has not
    /// passed (a rejection or an admission then loads nothing); otherwise from the
    /// loaded settings alone, both limits of one version either way (see `Quick`).
    #[inline]
    fn half_open_limit(&self, l: &Cfg<'_>, s: Snapshot) -> Option<u32> {
        if !l.is_loaded() {
            let (max_requests, max_wait) = self.quick.half_open();
            if !self.half_open_past(max_wait, s) {
                return Some(max_requests);
            }
        }
        if self.half_open_expired(l, s) {
            return None;
        }
        Some(l.settings().max_requests())
    }

    /// Starts a new closed generation because the counting interval expired.
    fn reset_interval(&self, l: &Cfg<'_>, s: Snapshot, now: u64) -> Result<(), Snapshot> {
        let expiry = now
            .saturating_add(l.settings().interval_ticks())
            .min(MAX_TICK);
        let next = Snapshot::closed(self.full_generation_of(s) + 1, expiry);
        let next = self.exchange(s, next)?;
        self.new_generation(l, next.generation());
        Ok(())
    }

    fn new_generation(&self, l: &Cfg<'_>, generation: u32) {
        // A transition that skipped this period's first generation (its 20 bits
        // claimed, see `unclaimed`) leaves the sweep to the next period's, 65,536
        // generations on: still 15 sweeps a lap.
        if generation.is_multiple_of(SWEEP_PERIOD) {
            // Pairs with the fence of `forget_if_late`: this thread's exchange
            // installed `generation`, so either that outcome's load found it (or a
            // later word) or this sweep's loads find the outcome's writes.
            self.claims.pair_fence();
            self.counters.sweep(generation);
            self.throttle.sweep(generation);
            self.sync_shedding();
            for ring in [&l.get().window, &l.get().slow_window]
                .into_iter()
                .flatten()
            {
                ring.sweep(generation);
            }
            if let Some(b) = &l.get().buckets {
                b.sweep(generation);
            }
            self.quick.clear_cursor();
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
        if outcome == Some(Outcome::Success) && self.hot().0 == RecordPath::Plain {
            let word = self.load().without_pending();
            if word == ticket.bits() {
                // The word and the ticket hold the full generation: a ticket of an
                // earlier lap never matches. Equal to a word less `PENDING`, the ticket
                // is an untimed closed one, and its second word its counter tag; the
                // word is the generation's counter key.
                self.counters.count_success(word, self.under(word));
                self.end_failure_streak(word, ticket.plain_tag());
                return;
            }
        }
        self.record_other(ticket, outcome);
    }

    /// The fast path's success with a time window or slow calls: one time read,
    /// the bucket check, the stripe, and the slow-call rule if the call was slow.
    /// What it needs of the settings comes from their inline copy (one version, see
    /// `Quick`): the settings are loaded only to enter a new bucket, to evaluate the
    /// throttle, and to judge (again, by them alone) a call that is slow by the copy.
    ///
    /// Every case but the common one (the ticker's time, the bucket entered, not
    /// slow, the thread's cell a direct one, nothing for the throttle to evaluate)
    /// is a jump to a path that finishes the success: the common case then calls
    /// nothing and keeps its values in scratch registers (callgrind, the benches'
    /// `time_window_success`: 167 -> 144 instructions a call, `adaptive_success`
    /// 229 -> 180, with the throttle's admission).
    #[inline(never)]
    fn record_timed_success(&self, ticket: Ticket) {
        // The cell first, while little is live (see `Counters::direct_cell`).
        let cell = self.counters.direct_cell(ticket.key());
        let timed = self.quick.timed();
        // The ticker's time, or (a call) the clock's on a path of its own.
        let Some(now_ns) = self.time.ticker_nanos_if(timed.leased()) else {
            return self.record_clocked_success(ticket, timed);
        };
        self.timed_success_at(cell, ticket, timed, now_ns);
    }

    /// [`Self::record_timed_success`] on a clock the ticker does not publish (or
    /// while it does not run): the clock read, then the same steps.
    #[inline(never)]
    fn record_clocked_success(&self, ticket: Ticket, timed: crate::live::Timed) {
        let now_ns = self.time.timed_nanos_if(timed.leased());
        let cell = self.counters.direct_cell(ticket.key());
        self.timed_success_at(cell, ticket, timed, now_ns);
    }

    /// [`Self::record_timed_success`] at `now_ns`, `cell`: the calling thread's
    /// cell if it is a direct one.
    #[inline(always)]
    fn timed_success_at(
        &self,
        cell: Option<crate::counters::DirectCell<'_>>,
        ticket: Ticket,
        timed: crate::live::Timed,
        now_ns: u64,
    ) {
        let generation = ticket.generation();
        if timed.window() && !self.quick.entered(generation, now_ns) {
            return self.timed_success_entering(ticket, timed, now_ns);
        }
        if timed.is_slow(ticket.start_micros(), now_ns) {
            return self.timed_success_counting(ticket, timed, now_ns);
        }
        let Some(cell) = cell else {
            return self.timed_success_elsewhere(ticket, now_ns);
        };
        cell.count_success();
        // The throttle by the same copy as the rest (see `Quick`), already in a
        // register rather than the hot byte loaded again (callgrind: 1 instruction a
        // call). A copy older than the settings is what a stale hot byte was: a
        // throttle it still has costs a look at the last evaluation, whose
        // evaluation then finds none in the settings; one it lacks yet skips a look,
        // as a success a moment earlier would have.
        if timed.throttle() {
            self.throttle_timed_success(ticket, now_ns);
        }
        // The success's last step (the throttle does not read the streak): its
        // out-of-line path (a streak to end) then has nothing live after it, which
        // kept `generation` and `now` in registers saved on every call (callgrind,
        // the benches' `time_window_success`: 141 -> 137 instructions a call).
        self.end_failure_streak(ticket.key(), ticket.word());
    }

    /// [`Self::record_timed_success`] in a bucket not entered yet (by the inline
    /// cursor): enters it, then finishes the success.
    #[cold]
    #[inline(never)]
    fn timed_success_entering(&self, ticket: Ticket, timed: crate::live::Timed, now_ns: u64) {
        self.enter_bucket(ticket.key(), to_ticks(now_ns));
        self.timed_success_counting(ticket, timed, now_ns);
    }

    /// [`Self::record_timed_success`]'s common case for a thread past the counters'
    /// direct cells (its bucket entered, not slow): counts the success, then what
    /// the throttle does with it.
    #[inline(never)]
    fn timed_success_elsewhere(&self, ticket: Ticket, now_ns: u64) {
        self.counters
            .count_success_elsewhere(ticket.key(), self.under(ticket.key()));
        self.end_failure_streak(ticket.key(), ticket.word());
        // Relaxed: see `hot` (a stale bit only costs a look at the last evaluation,
        // whose evaluation then finds no throttle in the settings).
        if self.hot.load(Ordering::Relaxed) & config::HOT_THROTTLE != 0 {
            self.throttle_timed_success(ticket, now_ns);
        }
    }

    /// The rest of [`Self::record_timed_success`] once its bucket is entered: counts
    /// the success, then what the throttle and the slow-call rule do with it.
    #[cold]
    #[inline(never)]
    fn timed_success_counting(&self, ticket: Ticket, timed: crate::live::Timed, now_ns: u64) {
        self.counters
            .count_success(ticket.key(), self.under(ticket.key()));
        self.end_failure_streak(ticket.key(), ticket.word());
        // By the copy, as in `timed_success_at`.
        if timed.throttle() {
            self.throttle_timed_success(ticket, now_ns);
        }
        if timed.is_slow(ticket.start_micros(), now_ns) {
            self.slow_success(ticket, now_ns, to_ticks(now_ns));
        }
    }

    /// Enters the time window's bucket of tick `now` (see `Buckets::enter_at`) and
    /// remembers the window's cursor inline.
    #[cold]
    #[inline(never)]
    fn enter_bucket(&self, key: u64, now: u64) {
        if let Some(b) = &Cfg::lazy(&self.live).get().buckets {
            self.claimed(key, || {
                b.enter_at(key, now, &self.counters, |seen| self.ask(key, seen));
                self.quick.set_cursor(b.cursor_word());
            });
        }
    }

    /// A timed closed success that was slow by the inline copy of the settings: judged
    /// again by the settings themselves, then counted against the slow-call rule.
    #[cold]
    #[inline(never)]
    fn slow_success(&self, ticket: Ticket, now_ns: u64, now: u64) {
        let l = &Cfg::lazy(&self.live);
        if self.is_slow(l, ticket, now_ns) {
            self.claimed(ticket.key(), || {
                if self.slow_calls_trip(l, ticket.key(), now) {
                    self.trip(l, ticket);
                }
            });
        }
    }

    /// Every outcome but a plain success: first the plain fast path's case with a
    /// time window or slow calls, kept out of [`Self::record_slow`] so it pays for
    /// none of that function's set-up, and out of the inlined [`Self::record`] so
    /// the plain path pays nothing for it.
    #[inline(never)]
    fn record_other(&self, ticket: Ticket, outcome: Option<Outcome>) {
        if outcome == Some(Outcome::Success)
            && self.hot().0 == RecordPath::Timed
            && ticket.is_current_plain(self.load())
        {
            return self.record_timed_success(ticket);
        }
        // The byte read again rather than kept from the test above: kept, the timed
        // success paid for holding the path it decoded (callgrind: 2 instructions a
        // call). Whether the path is the observed one, all `record_untimed` asks,
        // never changes: observers are fixed for the breaker's life.
        self.record_untimed(ticket, outcome, self.hot().0);
    }

    /// [`Self::record_other`] past the timed success, in a function of its own so
    /// that the timed success saves no registers for it (both calls are jumps).
    #[inline(never)]
    fn record_untimed(&self, ticket: Ticket, outcome: Option<Outcome>, path: RecordPath) {
        if outcome == Some(Outcome::Success)
            && path != RecordPath::Observed
            && self.disabled_admitted(ticket)
        {
            // A success in the disabled generation that admitted it: counted as in
            // closed (what `record_disabled` does), with no settings to load.
            self.counters
                .count_success(ticket.key(), self.under(ticket.key()));
            self.end_failure_streak(ticket.key(), tag_of(ticket.generation()));
            return;
        }
        self.record_slow(ticket, outcome, path);
    }

    /// `path`: the hot byte's record path, as [`Self::record_other`] read it.
    #[inline(never)]
    fn record_slow(&self, ticket: Ticket, outcome: Option<Outcome>, path: RecordPath) {
        let l = &Cfg::lazy(&self.live);
        self.counters.record_outcome_total(outcome);
        // An observer's panic waits until the outcome is recorded: it never costs a
        // count or a half-open slot.
        // Observers are fixed for the breaker's life, so the hot bits tell whether
        // there are any without loading the settings (a dropped closed permit stays cheap).
        let panic = if path == RecordPath::Observed {
            l.settings().observe_caught(|o| match outcome {
                Some(Outcome::Success) => o.on_success(),
                Some(Outcome::Failure) => o.on_failure(),
                Some(Outcome::Ignored) => o.on_ignored(),
                None => o.on_dropped(),
            })
        } else {
            None
        };
        self.record_observed(l, ticket, outcome);
        config::rethrow(panic);
    }

    /// [`Self::record_slow`] once the observers heard of the outcome: under a claim
    /// of the ticket's generation, so no generation with its 20 bits begins while
    /// this thread, having found its generation current, writes the breaker's
    /// shared words or exchanges the state word it decided on (see `claims.rs`).
    fn record_observed(&self, l: &Cfg<'_>, ticket: Ticket, outcome: Option<Outcome>) {
        if !ticket.is_half_open() && matches!(outcome, Some(Outcome::Success) | None) {
            // A closed (or disabled) success writes the shared words only now and
            // then (a streak to end, a bucket to enter, a slow call, the throttle),
            // and those writes claim for themselves (see `claimed`), as on the fast
            // paths; a dropped closed permit writes none. So an observed success
            // costs no claim, and no two threads' successes share a line for one.
            self.record_claimed(l, ticket, outcome);
            return;
        }
        let claim = self.claims.claim(ticket.generation());
        if self.record_claimed(l, ticket, outcome) {
            self.forget_if_late(l, ticket.full_generation());
        }
        drop(claim);
    }

    /// [`Self::claimed`] as the counters take it: how a count of the shared cell
    /// (threads that own no cell) in the generation keyed `key` is written.
    #[inline]
    fn under(&self, key: u64) -> impl Fn(&dyn Fn()) + Copy + '_ {
        move |write| self.claimed(key, write)
    }

    /// Ends the failure streak of the closed (or disabled) generation keyed `key`,
    /// whose counter tag is `tag`, if it has one: what a fast path's success does
    /// last. Inline, one load and one comparison (see `Counters::end_failure_streak`);
    /// a streak to end is ended under a claim (see [`Self::claimed`]).
    #[inline]
    fn end_failure_streak(&self, key: u64, tag: u64) {
        if self.counters.has_streak_word(tag) {
            self.end_failure_streak_claimed(key, tag);
        }
    }

    #[cold]
    #[inline(never)]
    fn end_failure_streak_claimed(&self, key: u64, tag: u64) {
        // No post-check: the streak's end writes a count of 0, which, landed late and
        // left behind, reads as no streak in any generation (see `forget_if_late`).
        self.claimed_then(key, false, || self.counters.end_failure_streak_at(tag));
    }

    /// Runs `write`, a fast path's occasional write of the breaker's shared words
    /// for the closed (or disabled) generation keyed `key`, under a claim of that
    /// generation, if the generation is still current once claimed: as an outcome
    /// recorded off the fast path does (see [`Self::record_observed`]). A fast
    /// path checks its generation before it knows it will write such a word, and
    /// claims only then, so it checks again.
    #[cold]
    #[inline(never)]
    fn claimed(&self, key: u64, write: impl FnOnce()) {
        self.claimed_then(key, true, write);
    }

    /// [`Self::claimed`], returning what `write` returned (`None`: the generation
    /// was no longer current, and `write` did not run), with the post-check
    /// (`forget_if_late`) only if `counts`: a write of a count other than 0.
    #[inline]
    fn claimed_then<R>(&self, key: u64, counts: bool, write: impl FnOnce() -> R) -> Option<R> {
        if !self.claims.is_modelled() {
            // A loom model without claims (see `Claims::is_modelled`): the write as
            // it was before claims, its tags deciding.
            return Some(write());
        }
        // A plain-closed word is its generation's key with `PENDING` if that is set.
        let key = key & KEY_MASK;
        let claim = self.claims.claim(generation_of(key));
        let done = self.is_current(key).then(|| {
            let done = write();
            if counts {
                self.forget_if_late(&Cfg::lazy(&self.live), full_of_key(key));
            }
            done
        });
        drop(claim);
        done
    }

    /// Before an outcome that found its generation current under its claim gives
    /// the claim up (so the breaker's generation now has other 20 bits than the
    /// outcome's, and every word tagged with those is the outcome's generation's):
    /// if the breaker is now at least [`LATE`] generations past the ticket's,
    /// forgets every shared word and slot still tagged with the ticket's
    /// generation, which this outcome may have written after that generation ended
    /// (preempted between its check and its write): tagged 2^19 or more
    /// generations back, such a word reads as *later* than the breaker's, which the
    /// sweep leaves alone, and would count in the next generation with the same 20
    /// bits once the claim is gone. A write less late is re-tagged by a sweep
    /// before then: the `SeqCst` fence here pairs with the one each sweep makes
    /// after the exchange that began its period (see `new_generation`), so either
    /// this thread's load finds that exchange's word (and the generation this far
    /// on) or that sweep finds this thread's writes, fewer than 2^19 generations
    /// old.
    #[inline]
    fn forget_if_late(&self, l: &Cfg<'_>, stale: u64) {
        if !self.claims.is_modelled() {
            return; // a loom model without claims (see `Claims::is_modelled`)
        }
        // Pairs with the fence of a sweep (see above).
        self.claims.pair_fence();
        let now = self.full_generation_of(self.load());
        if now.saturating_sub(stale) >= LATE {
            self.forget(l, low_bits(stale), low_bits(now));
        }
    }

    /// Forgets every shared word and slot tagged `stale`, re-tagging words with
    /// `current` (see [`Self::forget_if_late`]).
    #[cold]
    #[inline(never)]
    fn forget(&self, l: &Cfg<'_>, stale: u32, current: u32) {
        self.counters.forget(stale, current);
        self.throttle.forget(stale, current);
        for ring in [&l.get().window, &l.get().slow_window]
            .into_iter()
            .flatten()
        {
            ring.forget(stale);
        }
        if let Some(b) = &l.get().buckets {
            b.forget(stale);
        }
    }

    /// [`Self::record_observed`] under its claim; whether the outcome found its
    /// generation current, and so may have written under it.
    fn record_claimed(&self, l: &Cfg<'_>, ticket: Ticket, outcome: Option<Outcome>) -> bool {
        let s = self.load();
        if !self.admitted_in(s, ticket) || s.is_open_requested() {
            // Stale: the generation this call belonged to is over. gobreaker still
            // evaluates time here (an open breaker may turn half-open, an interval may
            // expire), so do the same to stay observably identical.
            let max_wait = l.settings().half_open_max_wait_ticks() != 0;
            if s.open_deadline().is_some()
                || (s.tag() == Tag::Closed && s.expiry().is_some())
                || (s.tag() == Tag::HalfOpen && max_wait)
            {
                self.state_in(l);
            }
            return false;
        }
        if ticket.is_half_open() && self.half_open_expired(l, s) {
            // The generation outlived its max wait: re-open it (like gobreaker's lazy
            // evaluation of time before an outcome); this outcome is then stale.
            self.state_in(l);
            return false;
        }
        if s.tag() == Tag::Manual {
            // Admitted by this manual generation: forced closed or disabled.
            if s.manual_mode() == Manual::Disabled {
                self.record_disabled(ticket.key(), outcome);
            }
        } else if ticket.is_half_open() {
            self.record_half_open(l, ticket, outcome, s);
        } else {
            self.record_closed(l, ticket, outcome, s);
        }
        true
    }

    #[inline]
    fn record_closed(&self, l: &Cfg<'_>, ticket: Ticket, outcome: Option<Outcome>, s: Snapshot) {
        let generation = ticket.generation();
        let key = ticket.key();
        let timed = l.get().buckets.is_some() || l.settings().times_calls();
        let interval = s.expiry().filter(|_| !s.is_pending());
        // One clock read for everything this outcome needs the time for (an ignored
        // or dropped outcome enters no bucket and is never slow).
        let counted = matches!(outcome, Some(Outcome::Success | Outcome::Failure));
        let now_ns = if interval.is_some() {
            self.now_nanos()
        } else if timed && counted {
            self.timed_nanos(l)
        } else {
            0
        };
        let now = (now_ns / NANOS_PER_TICK).min(MAX_TICK);
        if interval.is_some_and(|expiry| now > expiry) {
            // The interval expired: whoever resets it, this outcome is now stale.
            let _ = self.reset_interval(l, s, now);
            return;
        }
        let slow = || self.is_slow(l, ticket, now_ns);
        match outcome {
            Some(Outcome::Success) => {
                // Not under a claim (see `record_observed`): each shared write claims.
                if let Some(b) = &l.get().buckets {
                    self.claimed(key, || {
                        b.enter_at(key, now, &self.counters, |seen| self.ask(key, seen));
                    });
                }
                self.counters.count_counted_success(key, self.under(key));
                self.end_failure_streak(key, tag_of_key(key));
                if l.settings().adaptive_throttle().is_some() {
                    self.throttle_success(l, key, now_ns);
                }
                if slow() {
                    self.claimed(key, || {
                        if self.slow_calls_trip(l, key, now) {
                            self.trip(l, ticket);
                        }
                    });
                }
            }
            Some(Outcome::Ignored) => self
                .counters
                .record_exclusion_in(generation, |seen| self.ask(key, seen)),
            Some(Outcome::Failure) => {
                if let Some(b) = &l.get().buckets {
                    b.enter_at(key, now, &self.counters, |seen| self.ask(key, seen));
                }
                let (counts, calls) = self
                    .counters
                    .record_failure_in(key, |seen| self.ask(key, seen));
                let trips = if self.failures_trip(l, key, now, &counts, calls) {
                    // The slow-call rule is not evaluated, but the lifetime total
                    // still counts a slow failure.
                    if slow() {
                        self.counters.record_slow_total();
                    }
                    true
                } else {
                    slow() && self.slow_calls_trip(l, key, now)
                };
                if trips {
                    self.trip(l, ticket);
                }
            }
            None => {} // still counted in `requests`, like gobreaker's unreported `done`
        }
    }

    /// Whether the call admitted with `ticket` and recorded at `now_ns` is slow
    /// (never, without [`SlowCalls`](crate::SlowCalls), nor for a call admitted
    /// untimed, before a reconfiguration added the rule).
    #[inline]
    fn is_slow(&self, l: &Cfg<'_>, ticket: Ticket, now_ns: u64) -> bool {
        match (l.settings().slow_calls(), ticket.start_micros()) {
            (Some(rule), Some(start)) => rule.is_slow_since(start, now_ns),
            _ => false,
        }
    }

    /// Whether a closed-state failure, just counted in `counts` (`calls`: the
    /// generation's successes and failures, all 40 bits), trips the breaker's failure
    /// rule: its window's rate, or `ready_to_trip`.
    fn failures_trip(&self, l: &Cfg<'_>, key: u64, now: u64, counts: &Counts, calls: u64) -> bool {
        let generation = generation_of(key);
        if l.settings().adaptive_throttle().is_some() {
            self.throttle_evaluate(l, key, now);
            return false; // the throttle sheds load; it never opens the breaker
        }
        if let (Some(ring), Some(rule)) = (&l.get().window, l.settings().count_window()) {
            // The failure's index among the generation's failures, modulo 2^32 like the
            // counts; the ring only compares indices a window apart.
            let index = u64::from(counts.total_failures);
            ring.record(generation, index, calls, |seen| self.ask(key, seen));
            let failures = ring.in_window(generation, index, calls, rule.size());
            // All 40 bits: `calls` modulo 2^32 would say a window of 2^32 + 10 calls
            // holds 10.
            let size = u64::from(rule.size());
            return rule.trips(calls.min(size) as u32, failures as u32);
        }
        if let (Some(b), Some(rule)) = (&l.get().buckets, l.settings().time_window()) {
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
        l.settings().ready_to_trip(counts)
    }

    /// Counts a slow closed-state call (its success or failure already counted)
    /// and says whether the slow-call rate trips.
    #[cold]
    fn slow_calls_trip(&self, l: &Cfg<'_>, key: u64, now: u64) -> bool {
        let Some(rule) = l.settings().slow_calls() else {
            return false;
        };
        let generation = generation_of(key);
        // The calls are read after the slow count, never before: of two racing slow
        // calls, the one counted second then sees the other's call too (the loom
        // models `slow_calls::racing_slow_*_trip_once`; see `Counters::record_slow`).
        let slow = self
            .counters
            .record_slow(generation, |seen| self.ask(key, seen));
        let (so_far, calls) = self.counters.calls_and_total(key);
        let so_far = Calls {
            slow: slow as u32,
            ..so_far
        };
        // `calls` and `slow` with all 40 bits: modulo 2^32, 2^32 + 20 calls of which 5
        // were slow would read as a 25 % rate.
        match (
            &l.get().slow_window,
            l.settings().count_window(),
            &l.get().buckets,
        ) {
            (Some(ring), Some(window), _) => {
                ring.record(generation, slow, calls, |seen| self.ask(key, seen));
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

    /// Whether the word is disabled in the full generation that admitted `ticket`.
    #[inline]
    fn disabled_admitted(&self, ticket: Ticket) -> bool {
        let s = self.load();
        // A disabled word holds its lap: one comparison checks the full generation.
        s.without_pending()
            == Snapshot::manual(ticket.generation(), Manual::Disabled, 0, ticket.lap()).0
    }

    /// An outcome in a disabled generation: counted as in closed, never trips.
    #[cold]
    fn record_disabled(&self, key: u64, outcome: Option<Outcome>) {
        match outcome {
            Some(Outcome::Success) => {
                // Not under a claim (see `record_observed`).
                self.counters.count_counted_success(key, self.under(key));
                self.end_failure_streak(key, tag_of_key(key));
            }
            Some(Outcome::Ignored) => self
                .counters
                .record_exclusion_in(generation_of(key), |seen| self.ask(key, seen)),
            Some(Outcome::Failure) => {
                self.counters
                    .record_failure_in(key, |seen| self.ask(key, seen));
            }
            None => {}
        }
    }

    #[cold]
    fn trip(&self, l: &Cfg<'_>, ticket: Ticket) {
        let mut s = self.load();
        // By full generation once; a retry, from the word a failed exchange found,
        // by its 20 bits (the word moved a lap on between two tries only in the
        // window the bit budget states).
        if !self.admitted_in(s, ticket) {
            return;
        }
        loop {
            if s.tag() != Tag::Closed
                || s.is_open_requested()
                || s.generation() != ticket.generation()
            {
                return;
            }
            let next = if s.is_pending() {
                s.with_open_requested()
            } else {
                self.open_after(l, s).0
            };
            match self.exchange(s, next) {
                Ok(next) if next.is_pending() && !s.is_pending() => {
                    return self.deliver(l, next, State::Closed, State::Open);
                }
                Ok(_) => return,
                Err(actual) => s = actual,
            }
        }
    }

    /// The open word that follows `s`, and the consecutive re-trips it is (0 for a
    /// trip from closed, or without an [`OpenBackoff`](crate::OpenBackoff)). Whoever
    /// installs it records a non-zero count with [`Self::opened`].
    fn open_after(&self, l: &Cfg<'_>, s: Snapshot) -> (Snapshot, u32) {
        self.open_after_at(l, s, self.now_ticks())
    }

    /// [`Self::open_after`] at tick `now`.
    fn open_after_at(&self, l: &Cfg<'_>, s: Snapshot, now: u64) -> (Snapshot, u32) {
        let retrips = if s.tag() == Tag::HalfOpen && l.settings().has_open_backoff() {
            // Acquire: `s` was loaded from the half-open generation, whose Open ->
            // HalfOpen exchange continues the release sequence of the Release that
            // cleared PENDING after the previous open generation was installed, and
            // that thread stored the previous count before it (`opened`). Loads of the
            // word and failed exchanges acquire too (the generation word's protocol),
            // which makes this fence redundant today; it keeps the count's ordering its
            // own.
            fence(Ordering::Acquire);
            self.counters
                .retrips(prev_generation(s.generation()))
                .saturating_add(1)
        } else {
            0
        };
        let deadline = now
            .saturating_add(l.settings().open_ticks(u64::from(retrips), now))
            .min(MAX_TICK);
        // Rejections until the deadline load the ticker's time (on the default clock).
        self.open_until(deadline);
        let next = Snapshot::open(next_generation(s.generation()), deadline).with_pending(true);
        (next, retrips)
    }

    /// Whether half-open `s` outlived its max wait (never without one, nor while the
    /// callbacks of its Open -> HalfOpen still run, nor before its deadline is
    /// recorded). Looks at the time only with a max wait set: the ticker's while it
    /// runs for this clock (never ahead, at most a tick late), else the clock.
    #[inline]
    fn half_open_expired(&self, l: &Cfg<'_>, s: Snapshot) -> bool {
        self.half_open_past(l.settings().half_open_max_wait_ticks(), s)
    }

    /// [`Self::half_open_expired`] with the max wait `max_wait` (0: none).
    #[inline]
    fn half_open_past(&self, max_wait: u64, s: Snapshot) -> bool {
        if max_wait == 0 || s.is_pending() {
            return false;
        }
        self.counters
            .half_open_deadline(s.generation())
            .is_some_and(|deadline| self.time.recent_ticks() > deadline)
    }

    /// Re-opens half-open `s` whose max wait passed, as a failed probe would.
    #[cold]
    fn reopen(&self, l: &Cfg<'_>, s: Snapshot) -> Result<(), Snapshot> {
        let (next, retrips) = self.open_after(l, s);
        let next = self.exchange(s, next)?;
        self.opened(next, retrips);
        self.deliver(l, next, State::HalfOpen, State::Open);
        Ok(())
    }

    /// After this thread installed half-open `next` at tick `now`, before it clears
    /// `PENDING`: records the generation's max-wait deadline, if there is one.
    fn entered_half_open(&self, l: &Cfg<'_>, next: Snapshot, now: u64) {
        let max_wait = l.settings().half_open_max_wait_ticks();
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
    fn closed_after(&self, l: &Cfg<'_>, s: Snapshot) -> Snapshot {
        self.closed_after_at(l, s, || self.now_ticks())
    }

    /// [`Self::closed_after`], reading the time from `now` only with an interval.
    fn closed_after_at(&self, l: &Cfg<'_>, s: Snapshot, now: impl FnOnce() -> u64) -> Snapshot {
        let expiry = match l.settings().interval_ticks() {
            0 => 0,
            i => now().saturating_add(i).min(MAX_TICK),
        };
        Snapshot::closed(self.full_generation_of(s) + 1, expiry).with_pending(true)
    }

    #[cold]
    fn record_half_open(
        &self,
        l: &Cfg<'_>,
        ticket: Ticket,
        outcome: Option<Outcome>,
        mut s: Snapshot,
    ) {
        let generation = ticket.generation();
        let key = ticket.key();
        let releases = matches!(outcome, None | Some(Outcome::Ignored));
        if releases {
            // Count the release before giving the slot back, so `requests` never dips.
            // Asking before a re-tag, as a closed outcome does: a stale give-back whose
            // generation's tag reads as later than the current one's would otherwise
            // re-tag the current generation's words (found in review).
            self.counters
                .record_release_in(generation, |seen| self.ask(key, seen));
            if outcome.is_some() {
                self.counters
                    .record_exclusion_in(generation, |seen| self.ask(key, seen));
            }
        }
        // `s` is a word the caller checked `ticket` against by full generation; a
        // retry, from the word a failed exchange found, is checked by its 20 bits
        // (as in `trip`).
        loop {
            if s.is_open_requested() || s.generation() != generation {
                return;
            }
            let (held, successes) = (s.held(), s.successes());
            let mut retrips = 0;
            let next = match outcome {
                _ if releases => s.with_probes(held.saturating_sub(1), successes),
                Some(Outcome::Failure) if s.is_pending() => s.with_open_requested(),
                Some(Outcome::Failure) => {
                    let (next, k) = self.open_after(l, s);
                    retrips = k;
                    next
                }
                _ if successes + 1 >= l.settings().max_requests() && !s.is_pending() => {
                    self.closed_after(l, s)
                }
                _ => s.with_probes(held, successes + 1),
            };
            match self.exchange(s, next) {
                Ok(next) if next.is_pending() && !s.is_pending() => {
                    self.opened(next, retrips);
                    let to = if next.tag() == Tag::Open {
                        State::Open
                    } else {
                        State::Closed
                    };
                    return self.deliver(l, next, State::HalfOpen, to);
                }
                Ok(_) => return,
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
    fn deliver(&self, l: &Cfg<'_>, installed: Snapshot, from: State, to: State) {
        // The full generation, so a lap of commands during a callback is never taken
        // for no command at all.
        let mut full = self.full_generation_of(installed);
        // The state the callbacks last named: always the visible state of the word of
        // `full`.
        let mut reported = to;
        let mut panic = None;
        self.new_generation(l, installed.generation());
        let mut note = |from, to| {
            self.counters.record_transition(from, to);
            if let Some(p) = l.settings().notify_state_change_caught(from, to) {
                panic.get_or_insert(p);
            }
        };
        note(from, to);
        let mut s = self.load();
        loop {
            let settle = self.settle(l, s, full, reported, || self.now_ticks());
            match settle {
                Settle::Adopt { full: f, to } => {
                    // Nothing to exchange: the command's word stays, PENDING with it.
                    full = f;
                    if let Some(to) = to {
                        note(reported, to);
                        reported = to;
                    }
                    s = self.load();
                }
                Settle::Commit { next, to, retrips } => {
                    let moves_on = next.generation() != s.generation();
                    let (next, next_full) = if moves_on {
                        // As in `exchange`: unclaimed, the generation word first raised.
                        self.unclaimed(s, next)
                    } else {
                        (next, full)
                    };
                    // Release: pairs with the Acquire of the next transition's exchange
                    // (and of the transition installed here, on this thread), so these
                    // callbacks happen-before the next ones; and with the Acquire of
                    // `load` (see `exchange`). Acquire on failure: as `load`.
                    if let Err(actual) = self.state.compare_exchange(
                        s.0,
                        next.0,
                        Ordering::Release,
                        Ordering::Acquire,
                    ) {
                        s = Snapshot(actual);
                        continue;
                    }
                    if next.tag() == Tag::Open {
                        self.opened(next, retrips);
                    }
                    let Some(to) = to else {
                        self.reschedule(next);
                        break;
                    };
                    full = next_full;
                    self.new_generation(l, next.generation());
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
    /// transition is named until the caller's exchange succeeds (an open word's
    /// deadline is registered with the ticker, which at most keeps its thread
    /// running until then).
    fn settle(
        &self,
        l: &Cfg<'_>,
        s: Snapshot,
        full: u64,
        reported: State,
        now: impl FnOnce() -> u64,
    ) -> Settle {
        debug_assert!(s.is_pending(), "{s:?}");
        let found = self.full_generation_of(s);
        if found != full {
            // A command replaced the word while the callbacks ran (it keeps PENDING):
            // catch the callbacks up with the state it left, then go on from its
            // generation.
            let to = s.visible();
            return Settle::Adopt {
                full: found,
                to: (to != reported).then_some(to),
            };
        }
        if s.is_open_requested() {
            let (next, retrips) = self.open_after_at(l, s, now());
            return Settle::Commit {
                next,
                to: Some(State::Open),
                retrips,
            };
        }
        if s.tag() == Tag::HalfOpen && s.successes() >= l.settings().max_requests() {
            return Settle::Commit {
                next: self.closed_after_at(l, s, now),
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
    /// A command replaced the word: go on from its `full` generation, first catching
    /// the callbacks up `to` the state it left (`None`: the state they last named).
    Adopt { full: u64, to: Option<State> },
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
        // Every shared word now carries the new tag, so the old generation's failure
        // reads as zero there; the thread's own cell names the old generation in full
        // (its success is that generation's, and no later one reads it), so the sweep
        // leaves it.
        let old = cb.counters.closed_counts(tag_of(SWEEP_PERIOD - 1));
        assert_eq!((old.total_failures, old.consecutive_failures), (0, 0));
        assert_eq!(old.total_successes, 1);
        assert_eq!(
            cb.counters.closed_counts(tag_of(SWEEP_PERIOD)),
            Counts::default()
        );
    }

    /// A breaker whose current generation already made `successes` successes on
    /// this thread (the counters hold exactly what those calls leave behind).
    fn after_successes(builder: crate::Builder, successes: u64) -> CircuitBreaker {
        let cb = CircuitBreaker::from_settings(builder.settings().expect("valid settings"));
        cb.counters
            .preset_successes(cb.load().plain_key(), successes);
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

    #[test]
    fn an_interval_ending_past_its_39_bits_never_ends() {
        let clock = ManualClock::new();
        let cb = CircuitBreaker::builder("late")
            .interval(Duration::from_secs(1))
            .clock(clock.clone())
            .build()
            .expect("valid settings");
        // 2 s before the last tick a closed word can end its interval at.
        clock.advance(Duration::from_millis(
            crate::state::MAX_CLOSED_EXPIRY - 2_000,
        ));
        cb.reset(); // a counting interval that ends 1 s later: still within the field
        let _ = cb.call(|| Ok::<_, ()>(()));
        clock.advance(Duration::from_millis(1_001));
        assert_eq!(cb.counts().requests, 1, "not yet at the interval's end");
        let _ = cb.call(|| Ok::<_, ()>(()));
        assert_eq!(
            cb.counts().requests,
            1,
            "the interval ended: counts restart"
        );
        // This interval would end past the field: it saturates and never ends, so
        // counts are kept (rather than restarting on every call from then on).
        for _ in 0..3 {
            clock.advance(Duration::from_secs(3600));
            let _ = cb.call(|| Ok::<_, ()>(()));
        }
        assert_eq!(cb.counts().requests, 4);
        assert_eq!(cb.counts().total_successes, 4);
    }
}
