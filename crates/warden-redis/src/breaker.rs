//! [`FleetBreaker`]: a local breaker plus the fleet's verdict, and its permits.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crossbeam_utils::CachePadded;
use tokio::sync::Notify;
use warden_breaker::{
    Breaker, BreakerPermit, CircuitBreaker, Counts, Error, Mode, Outcome, OwnedPermit, Permit,
    Rejected, State,
};

use crate::script::{REPORT_FAILURE, REPORT_RELEASE, REPORT_SUCCESS};

/// Whether a [`Fleet`](crate::Fleet) is coordinating its breakers through Redis.
///
/// ```
/// use warden_redis::Coordination;
/// assert_eq!(Coordination::LocalOnly.to_string(), "local-only");
/// assert_eq!(Coordination::Fleet.as_gauge(), 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "kebab-case")
)]
#[repr(u8)]
pub enum Coordination {
    /// Not connected yet: every breaker decides locally.
    Connecting = 2,
    /// Redis answers: counts are shared and fleet decisions apply.
    Fleet = 1,
    /// Redis is down or too slow: every breaker decides locally (its own trips
    /// still protect the instance) while the fleet reconnects with backoff.
    LocalOnly = 0,
    /// This breaker's keys in Redis hold something the fleet cannot read (a key
    /// of the wrong type, written by something else): this breaker decides
    /// locally and is retried every `reconnect_max`; the others are unaffected.
    /// Only [`FleetBreaker::coordination`] and [`FleetStatus`] report it.
    BadKey = 3,
    /// Another instance shares this breaker with different settings (timeout,
    /// interval, `max_requests`, trip policy): this instance's breaker decides
    /// locally rather than mix decisions made under other rules, and is retried
    /// every `reconnect_max`. Only [`FleetBreaker::coordination`] and
    /// [`FleetStatus`] report it.
    SettingsMismatch = 4,
}

impl Coordination {
    /// A gauge value: 0 local-only, 1 fleet, 2 connecting, 3 bad key, 4 settings
    /// mismatch.
    ///
    /// ```
    /// assert_eq!(warden_redis::Coordination::LocalOnly.as_gauge(), 0);
    /// ```
    pub const fn as_gauge(self) -> i64 {
        self as i64
    }

    pub(crate) const fn from_u8(v: u8) -> Self {
        match v {
            1 => Coordination::Fleet,
            2 => Coordination::Connecting,
            3 => Coordination::BadKey,
            4 => Coordination::SettingsMismatch,
            _ => Coordination::LocalOnly,
        }
    }
}

impl fmt::Display for Coordination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Coordination::Connecting => "connecting",
            Coordination::Fleet => "fleet",
            Coordination::LocalOnly => "local-only",
            Coordination::BadKey => "bad-key",
            Coordination::SettingsMismatch => "settings-mismatch",
        })
    }
}

/// The fleet-wide state of one breaker, as this instance last read it from Redis.
///
/// ```
/// use warden_breaker::State;
/// let v = warden_redis::FleetView { state: State::Open, generation: 4 };
/// assert_eq!(v.state, State::Open);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct FleetView {
    /// The fleet's state.
    pub state: State,
    /// The fleet's generation (bumped on every fleet transition and interval reset).
    pub generation: u64,
}

impl FleetView {
    const UNKNOWN: u64 = u64::MAX;

    pub(crate) fn encode(state: i64, generation: u64) -> u64 {
        let s = u64::try_from(state).unwrap_or(0) & 3;
        (s << 62) | (generation & ((1 << 62) - 1))
    }

    fn decode(word: u64) -> Option<Self> {
        if word == Self::UNKNOWN {
            return None;
        }
        let state = match word >> 62 {
            0 => State::Closed,
            1 => State::Open,
            _ => State::HalfOpen,
        };
        Some(Self {
            state,
            generation: word & ((1 << 62) - 1),
        })
    }
}

/// One breaker's row in [`Fleet::list`](crate::Fleet::list): the local breaker,
/// what the fleet decided, and whether the two are connected.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use warden_breaker::{CircuitBreaker, State};
/// use warden_redis::{Coordination, Fleet, FleetConfig};
///
/// let fleet = Fleet::start(FleetConfig::new("redis://127.0.0.1:1/"))?; // nothing listens there
/// fleet.attach(Arc::new(CircuitBreaker::builder("db").build()?))?;
/// let row = &fleet.list()[0];
/// assert_eq!((row.name.as_str(), row.state), ("db", State::Closed));
/// assert_ne!(row.coordination, Coordination::Fleet);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetStatus {
    /// The breaker's name.
    pub name: String,
    /// The local breaker's state (a due transition is made first).
    pub state: State,
    /// The local breaker's mode (the fleet forces it open while the fleet is open).
    pub mode: Mode,
    /// The local breaker's counts.
    pub counts: Counts,
    /// The fleet's state as last read, `None` before the first read or while
    /// Redis is unreachable.
    pub fleet: Option<FleetView>,
    /// The fleet-wide counts of the fleet's current generation as of the last
    /// sync (all instances' outcomes merged; zero while the fleet is open or
    /// half-open), `None` when [`fleet`](Self::fleet) is.
    pub fleet_counts: Option<Counts>,
    /// Whether this breaker coordinates through Redis right now: the fleet's
    /// coordination, or this breaker's own problem
    /// ([`BadKey`](Coordination::BadKey), [`SettingsMismatch`](Coordination::SettingsMismatch)).
    pub coordination: Coordination,
}

/// A half-open probe token held by this instance.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub(crate) generation: u64,
    pub(crate) member: String,
    /// When the task claimed it (an unused token is given back after a slice).
    pub(crate) claimed_at: Instant,
    /// After this the token may have expired in Redis (a margin before its TTL).
    pub(crate) usable_until: Instant,
}

/// A probe's outcome to report to Redis.
#[derive(Clone, Debug)]
pub(crate) struct Report {
    pub(crate) generation: u64,
    pub(crate) member: String,
    pub(crate) code: i64,
}

/// The verdict word: 0 lets every call through to the local breaker (fleet closed
/// or open, both enforced by the local breaker itself, or Redis unreachable);
/// `HALF_OPEN | generation` makes probes take a fleet token first.
pub(crate) const HALF_OPEN: u64 = 1 << 63;

/// How guarded calls and the notice listener reach a fleet's background task.
/// One per [`Fleet`](crate::Fleet), shared by its breakers.
pub(crate) struct Signals {
    wake: Notify,
    /// The wake-up needs a walk over every breaker (a probe token wanted, a probe
    /// reported, a breaker attached or detached).
    scan: AtomicBool,
    /// Breakers to sync at once, without a walk: a local breaker that opened on a
    /// recorded failure (its trip is published), or one another instance announced
    /// a change of. At most one entry per breaker ([`Shared::queued`]).
    due: Mutex<Vec<Arc<Shared>>>,
    /// Outcomes of probes that finished after their breaker was detached (or
    /// were queued when it was): the task no longer walks that breaker, so it
    /// sends these apart, and their tokens do not stay taken in Redis until
    /// their time to live. Also the reports and token releases of a round trip
    /// that failed, to send again (see `resend_unanswered`). `None` once the task ended or its fleet was dropped:
    /// an outcome queued then would hold its breaker, which holds these
    /// signals, for good.
    orphans: Mutex<Option<Vec<Orphan>>>,
}

/// A probe outcome (or a token release) to send apart from the walk.
pub(crate) type Orphan = (Arc<Shared>, Report);

impl Signals {
    pub(crate) fn new() -> Self {
        Self {
            wake: Notify::new(),
            scan: AtomicBool::new(false),
            due: Mutex::new(Vec::new()),
            orphans: Mutex::new(Some(Vec::new())),
        }
    }

    /// Queues reports of `s` for the task to send apart (`s` detached, or their
    /// round trip failed), and wakes it;
    /// once the task ended ([`Self::close_orphans`]) they are dropped, and
    /// their tokens expire in Redis.
    pub(crate) fn orphan(&self, s: &Arc<Shared>, reports: impl IntoIterator<Item = Report>) {
        let mut orphans = lock(&self.orphans);
        let Some(queue) = orphans.as_mut() else {
            return;
        };
        let before = queue.len();
        queue.extend(reports.into_iter().map(|r| (Arc::clone(s), r)));
        if queue.len() > before {
            drop(orphans);
            self.wake.notify_one();
        }
    }

    /// Whether reports of detached breakers wait to be sent.
    pub(crate) fn has_orphans(&self) -> bool {
        lock(&self.orphans).as_ref().is_some_and(|q| !q.is_empty())
    }

    /// The reports of detached breakers queued so far.
    pub(crate) fn take_orphans(&self) -> Vec<Orphan> {
        lock(&self.orphans)
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Drops the queued reports and every later one: nobody will send them.
    pub(crate) fn close_orphans(&self) {
        let queued = lock(&self.orphans).take();
        drop(queued); // outside the lock: it may hold the last breaker handles
    }

    /// Wakes the task for a walk over every breaker.
    pub(crate) fn poke(&self) {
        // Relaxed: the Notify orders it (`notify_one` before the task's `notified`
        // returns); a flag missed that way is only a walk one slice later.
        self.scan.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// Wakes the task (to see that the fleet stopped).
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Completes when the task is woken (a stored wake-up completes at once).
    pub(crate) async fn notified(&self) {
        self.wake.notified().await;
    }

    /// Whether a walk was asked for since the last call.
    pub(crate) fn take_scan(&self) -> bool {
        // Relaxed: see `poke`.
        self.scan.swap(false, Ordering::Relaxed)
    }

    /// Queues `s` to be synced at once (once until the task takes it) and wakes
    /// the task. A burst of breakers queued while the task is busy is synced in
    /// one batch of pipelines.
    pub(crate) fn sync_soon(&self, s: &Arc<Shared>) {
        // Relaxed: a de-duplication flag; the queue's mutex orders the rest.
        if !s.queued.swap(true, Ordering::Relaxed) {
            lock(&self.due).push(Arc::clone(s));
            self.wake.notify_one();
        }
    }

    /// The breakers queued by [`sync_soon`](Self::sync_soon); each can be
    /// queued again from now on.
    pub(crate) fn take_due(&self) -> Vec<Arc<Shared>> {
        let due = std::mem::take(&mut *lock(&self.due));
        for s in &due {
            // Relaxed: see `sync_soon`.
            s.queued.store(false, Ordering::Relaxed);
        }
        due
    }
}

/// What a breaker shares with the fleet's background task.
pub(crate) struct Shared {
    pub(crate) breaker: Arc<CircuitBreaker>,
    /// The settings that must agree across instances ([`crate::fleet::fingerprint`]).
    pub(crate) fingerprint: String,
    /// The hash tag of its keys ([`crate::fleet::hash_tag`]).
    pub(crate) tag: String,
    /// Read on every guarded call, written only when the fleet state changes.
    verdict: CachePadded<AtomicU64>,
    /// [`FleetView`] encoded, or `FleetView::UNKNOWN`.
    known: AtomicU64,
    pub(crate) pool: Mutex<Vec<Token>>,
    pub(crate) reports: Mutex<Vec<Report>>,
    /// Probes refused for want of a token since the task last looked.
    pub(crate) wanted: AtomicU32,
    pub(crate) signals: Arc<Signals>,
    /// In [`Signals::due`] already.
    queued: AtomicBool,
    pub(crate) coordination: Arc<AtomicU8>,
    /// The task's bookkeeping for this breaker.
    pub(crate) track: Mutex<crate::track::Track>,
    /// 0, or the [`Coordination`] problem of this breaker alone (bad key,
    /// settings mismatch), set by the task.
    pub(crate) issue: AtomicU8,
    /// Set by [`Fleet::detach`](crate::Fleet::detach): replies still in flight
    /// about this breaker change nothing (see [`Self::detached`]).
    detached: AtomicBool,
}

/// Locks `m`, ignoring poisoning (every critical section leaves the data valid).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("name", &self.breaker.name())
            .finish_non_exhaustive()
    }
}

/// After a failure was recorded: if it opened the local breaker, the task is
/// woken to publish the trip now rather than at its next check. Costs one load
/// of the breaker's state word on the failure path only.
#[inline]
fn after_failure(shared: &Arc<Shared>) {
    if shared.breaker.state() == State::Open {
        tripped(shared);
    }
}

#[cold]
#[inline(never)]
fn tripped(shared: &Arc<Shared>) {
    // A breaker the fleet (or a person) forced open has no trip to publish.
    if shared.breaker.mode() == Mode::Normal {
        shared.signals.sync_soon(shared);
    }
}

impl Shared {
    pub(crate) fn new(
        breaker: Arc<CircuitBreaker>,
        fingerprint: String,
        tag: fn(&str) -> String,
        signals: Arc<Signals>,
        coordination: Arc<AtomicU8>,
    ) -> Self {
        let track = crate::track::Track::new(breaker.counts());
        let tag = tag(breaker.name());
        Self {
            breaker,
            fingerprint,
            tag,
            verdict: CachePadded::new(AtomicU64::new(0)),
            known: AtomicU64::new(FleetView::UNKNOWN),
            pool: Mutex::new(Vec::new()),
            reports: Mutex::new(Vec::new()),
            wanted: AtomicU32::new(0),
            signals,
            queued: AtomicBool::new(false),
            coordination,
            track: Mutex::new(track),
            issue: AtomicU8::new(0),
            detached: AtomicBool::new(false),
        }
    }

    /// Marks the breaker detached, before `detach` takes its probe tokens (under
    /// `pool`) and makes it local (under `track`).
    pub(crate) fn mark_detached(&self) {
        // Relaxed: read under `pool`, `track` or `reports`, which `detach` locks
        // after this store.
        self.detached.store(true, Ordering::Relaxed);
    }

    /// Whether the breaker was detached. Read under `track` (applying a reply),
    /// `pool` (adding claimed tokens) or `reports` (a probe reporting): a reply
    /// that lands after `detach` then changes nothing, tokens it grants go back
    /// to the fleet, and a probe finishing after it still reports.
    pub(crate) fn detached(&self) -> bool {
        // Relaxed: see `mark_detached`.
        self.detached.load(Ordering::Relaxed)
    }

    pub(crate) fn set_verdict(&self, v: u64) {
        // Relaxed: the verdict is a self-contained hint; tokens it refers to are
        // handed over under the pool mutex.
        self.verdict.store(v, Ordering::Relaxed);
    }

    pub(crate) fn set_known(&self, view: Option<u64>) {
        // Relaxed: a status value read on its own.
        self.known
            .store(view.unwrap_or(FleetView::UNKNOWN), Ordering::Relaxed);
    }

    pub(crate) fn fleet_view(&self) -> Option<FleetView> {
        // Relaxed: pairs with the Relaxed store in `set_known`; nothing else depends on it.
        FleetView::decode(self.known.load(Ordering::Relaxed))
    }

    pub(crate) fn fleet_counts(&self) -> Option<Counts> {
        lock(&self.track).fleet_counts
    }

    fn coordination(&self) -> Coordination {
        // Relaxed: status values read on their own (written by the task).
        let fleet = Coordination::from_u8(self.coordination.load(Ordering::Relaxed));
        match self.issue.load(Ordering::Relaxed) {
            0 => fleet,
            _ if fleet != Coordination::Fleet => fleet,
            issue => Coordination::from_u8(issue),
        }
    }

    /// Sets (or with `None` clears) this breaker's own problem; true if it changed.
    pub(crate) fn set_issue(&self, issue: Option<Coordination>) -> bool {
        // Relaxed: a status value read on its own.
        let v = issue.map_or(0, |c| c as u8);
        self.issue.swap(v, Ordering::Relaxed) != v
    }

    pub(crate) fn status(&self) -> FleetStatus {
        FleetStatus {
            name: self.breaker.name().to_owned(),
            state: self.breaker.state(),
            mode: self.breaker.mode(),
            counts: self.breaker.counts(),
            fleet: self.fleet_view(),
            fleet_counts: self.fleet_counts(),
            coordination: self.coordination(),
        }
    }

    /// Takes a usable token of `generation`, dropping stale ones; on none, asks the
    /// task for one.
    fn take_token(&self, generation: u64) -> Option<Token> {
        let now = Instant::now();
        let token = {
            let mut pool = lock(&self.pool);
            pool.retain(|t| t.generation == generation && t.usable_until > now);
            pool.pop()
        };
        // Relaxed: a request counter; the Notify wakes the task. Only the first
        // refusal since the task last took the requests wakes it, so a burst of
        // refused calls costs one wake-up, not one per call.
        if token.is_none() && self.wanted.fetch_add(1, Ordering::Relaxed) == 0 {
            self.signals.poke();
        }
        token
    }

    fn put_back(&self, token: Token) {
        lock(&self.pool).push(token);
    }
}

/// Acquires through `local` (the local breaker's own acquire) after the fleet check.
#[inline(always)]
fn acquire<P>(
    shared: &Arc<Shared>,
    local: impl FnOnce() -> Result<P, Rejected>,
) -> Result<(P, Option<Box<Probe>>), Rejected> {
    // Relaxed: pairs with the Relaxed store in `set_verdict`; a stale read only
    // delays the fleet verdict by one more call.
    let v = shared.verdict.load(Ordering::Relaxed);
    if v == 0 {
        return local().map(|p| (p, None));
    }
    acquire_probe(shared, v & !HALF_OPEN, local)
}

#[cold]
fn acquire_probe<P>(
    shared: &Arc<Shared>,
    generation: u64,
    local: impl FnOnce() -> Result<P, Rejected>,
) -> Result<(P, Option<Box<Probe>>), Rejected> {
    let Some(token) = shared.take_token(generation) else {
        return Err(Rejected::TooManyRequests);
    };
    match local() {
        Ok(p) => Ok((
            p,
            // Boxed: the probe adds one word to the closed path's permit.
            Some(Box::new(Probe {
                shared: Arc::clone(shared),
                token: Some(token),
            })),
        )),
        Err(e) => {
            shared.put_back(token);
            Err(e)
        }
    }
}

/// A fleet probe in flight: reports its outcome to Redis through the task, or
/// gives the token back when dropped without one (a failure while panicking).
struct Probe {
    shared: Arc<Shared>,
    token: Option<Token>,
}

impl Probe {
    /// Out of line: keeps the closed path's `record` small enough to inline. Takes
    /// the box so the caller does not move the probe out of it.
    #[cold]
    #[inline(never)]
    #[allow(clippy::boxed_local)]
    fn finish(mut self: Box<Self>, outcome: Outcome) {
        let code = match outcome {
            Outcome::Success => REPORT_SUCCESS,
            Outcome::Failure => REPORT_FAILURE,
            Outcome::Ignored => REPORT_RELEASE,
        };
        self.report(code);
    }

    /// Runs `record_local` (the local permit's record, whose state-change
    /// callbacks may panic), then reports `outcome`: also when `record_local`
    /// unwinds, since the call's outcome is known and a callback's panic says
    /// nothing of the dependency (dropped while panicking, the probe would report
    /// a failure, and a fleet whose probe succeeded would re-open).
    #[cold]
    #[inline(never)]
    fn finish_after(self: Box<Self>, outcome: Outcome, record_local: impl FnOnce()) {
        struct Finish(Option<Box<Probe>>, Outcome);
        impl Drop for Finish {
            fn drop(&mut self) {
                if let Some(p) = self.0.take() {
                    p.finish(self.1);
                }
            }
        }
        let _finish = Finish(Some(self), outcome);
        record_local();
    }

    fn report(&mut self, code: i64) {
        if let Some(t) = self.token.take() {
            let report = Report {
                generation: t.generation,
                member: t.member,
                code,
            };
            let mut reports = lock(&self.shared.reports);
            // Read under `reports`: either `detach` (which marks the breaker
            // before it locks `reports`) finds this report there, or this sees
            // the mark and hands the report to the task apart.
            if self.shared.detached() {
                drop(reports);
                self.shared.signals.orphan(&self.shared, [report]);
                return;
            }
            reports.push(report);
            drop(reports);
            self.shared.signals.poke();
        }
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        let code = if std::thread::panicking() {
            REPORT_FAILURE
        } else {
            REPORT_RELEASE
        };
        self.report(code);
    }
}

impl fmt::Debug for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Probe")
            .field("generation", &self.token.as_ref().map(|t| t.generation))
            .finish()
    }
}

/// A local breaker coordinated with the rest of the fleet; get one from
/// [`Fleet::attach`](crate::Fleet::attach). Cloning is cheap (an `Arc`).
///
/// While the fleet is closed (or open, or Redis is unreachable) a guarded call is
/// the local breaker's own admission plus one relaxed load of a read-mostly word:
/// no lock, allocation, channel or Redis. A failure recorded through a
/// [`FleetPermit`] (every [`call`](Self::call) and
/// [`try_acquire`](Self::try_acquire)) also loads the local breaker's state, and
/// the failure that opens it wakes the background task to publish the trip at
/// once (a lock and an `Arc` clone, once per trip); a trip recorded otherwise (an
/// [`OwnedFleetPermit`], the local breaker used directly, a slow-call rule) is
/// found by the task's check, five times per slice. The background task forces the local
/// breaker open while the fleet is open; while the fleet is half-open each probe
/// first takes one of the fleet's `max_requests` probe tokens (claimed from Redis
/// by the task on demand, so the first call of each instance in a half-open
/// generation is refused with [`Rejected::TooManyRequests`] and asks for one).
///
/// ```no_run
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use warden_breaker::{CircuitBreaker, Error};
/// use warden_redis::{Fleet, FleetConfig};
///
/// let fleet = Fleet::start(FleetConfig::new("redis://127.0.0.1:6379/"))?;
/// let db = fleet.attach(Arc::new(CircuitBreaker::builder("db").build()?))?;
/// match db.call(|| Ok::<_, std::io::Error>("rows")) {
///     Ok(rows) => println!("{rows}"),
///     Err(Error::Rejected(_)) => println!("shed"),
///     Err(Error::Inner(e)) => println!("failed: {e}"),
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct FleetBreaker {
    /// The local breaker, also in `shared`: kept here so a guarded call loads the
    /// breaker and the verdict independently.
    pub(crate) breaker: Arc<CircuitBreaker>,
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for FleetBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetBreaker")
            .field("name", &self.name())
            .field("fleet", &self.shared.fleet_view())
            .field("coordination", &self.coordination())
            .finish()
    }
}

impl FleetBreaker {
    /// The breaker's name (the local breaker's, and its key in Redis).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc;
    /// # let fleet = warden_redis::Fleet::start(warden_redis::FleetConfig::new("redis://127.0.0.1:1/"))?;
    /// let db = fleet.attach(Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?))?;
    /// assert_eq!(db.name(), "db");
    /// # Ok(()) }
    /// ```
    pub fn name(&self) -> &str {
        self.shared.breaker.name()
    }

    /// The local breaker (its state, counts, manual control). Manual modes set on it
    /// by hand ([`force_closed`](CircuitBreaker::force_closed),
    /// [`disable`](CircuitBreaker::disable), a [`force_open`](CircuitBreaker::force_open)
    /// of your own) win over the fleet: the instance then neither publishes counts
    /// nor applies fleet decisions until [`reset`](CircuitBreaker::reset).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc;
    /// # let fleet = warden_redis::Fleet::start(warden_redis::FleetConfig::new("redis://127.0.0.1:1/"))?;
    /// let db = fleet.attach(Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?))?;
    /// assert_eq!(db.breaker().counts().requests, 0);
    /// # Ok(()) }
    /// ```
    pub fn breaker(&self) -> &Arc<CircuitBreaker> {
        &self.shared.breaker
    }

    /// The local breaker's state (forced open while the fleet is open).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc;
    /// # let fleet = warden_redis::Fleet::start(warden_redis::FleetConfig::new("redis://127.0.0.1:1/"))?;
    /// let db = fleet.attach(Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?))?;
    /// assert_eq!(db.state(), warden_breaker::State::Closed);
    /// # Ok(()) }
    /// ```
    pub fn state(&self) -> State {
        self.shared.breaker.state()
    }

    /// The fleet's state as this instance last read it from Redis (`None` before
    /// the first read and while Redis is unreachable).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc;
    /// # let fleet = warden_redis::Fleet::start(warden_redis::FleetConfig::new("redis://127.0.0.1:1/"))?;
    /// let db = fleet.attach(Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?))?;
    /// assert_eq!(db.fleet_state(), None); // nothing listens on port 1
    /// # Ok(()) }
    /// ```
    pub fn fleet_state(&self) -> Option<FleetView> {
        self.shared.fleet_view()
    }

    /// The fleet-wide counts (every instance's outcomes merged) of the fleet's
    /// current generation as of the last sync; zero while the fleet is open or
    /// half-open, `None` before the first sync and while Redis is unreachable.
    /// The fleet's trip rule is the local breaker's rule applied to these.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc;
    /// # let fleet = warden_redis::Fleet::start(warden_redis::FleetConfig::new("redis://127.0.0.1:1/"))?;
    /// let db = fleet.attach(Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?))?;
    /// assert_eq!(db.fleet_counts(), None); // nothing listens on port 1
    /// # Ok(()) }
    /// ```
    pub fn fleet_counts(&self) -> Option<Counts> {
        self.shared.fleet_counts()
    }

    /// Whether this breaker coordinates through Redis right now: the fleet's
    /// [`Coordination`], or this breaker's own problem
    /// ([`BadKey`](Coordination::BadKey), [`SettingsMismatch`](Coordination::SettingsMismatch)),
    /// while the fleet itself is connected.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc;
    /// # let fleet = warden_redis::Fleet::start(warden_redis::FleetConfig::new("redis://127.0.0.1:1/"))?;
    /// let db = fleet.attach(Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?))?;
    /// assert_ne!(db.coordination(), warden_redis::Coordination::Fleet);
    /// # Ok(()) }
    /// ```
    pub fn coordination(&self) -> Coordination {
        self.shared.coordination()
    }

    /// The breaker's row: local state, mode, counts, fleet view, coordination.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc;
    /// # let fleet = warden_redis::Fleet::start(warden_redis::FleetConfig::new("redis://127.0.0.1:1/"))?;
    /// let db = fleet.attach(Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?))?;
    /// assert_eq!(db.status().name, "db");
    /// # Ok(()) }
    /// ```
    pub fn status(&self) -> FleetStatus {
        self.shared.status()
    }

    /// Asks for admission now; report the outcome through the permit.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc;
    /// # let fleet = warden_redis::Fleet::start(warden_redis::FleetConfig::new("redis://127.0.0.1:1/"))?;
    /// let db = fleet.attach(Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?))?;
    /// let permit = db.try_acquire()?;
    /// permit.success();
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Result<FleetPermit<'_>, Rejected> {
        let breaker = &self.breaker;
        acquire(&self.shared, || breaker.try_acquire()).map(|(inner, probe)| FleetPermit {
            inner,
            probe,
            shared: &self.shared,
        })
    }

    /// [`try_acquire`](Self::try_acquire) with a permit that owns its breaker, to
    /// hold across `.await`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc;
    /// # let fleet = warden_redis::Fleet::start(warden_redis::FleetConfig::new("redis://127.0.0.1:1/"))?;
    /// let db = fleet.attach(Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?))?;
    /// let permit = db.try_acquire_owned()?;
    /// tokio::spawn(async move { permit.success() }).await?;
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn try_acquire_owned(&self) -> Result<OwnedFleetPermit, Rejected> {
        let breaker = &self.breaker;
        acquire(&self.shared, || breaker.try_acquire_owned())
            .map(|(inner, probe)| OwnedFleetPermit { inner, probe })
    }

    /// Runs `f` if admitted; `Err` is a failure, a panic is a failure.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc;
    /// # let fleet = warden_redis::Fleet::start(warden_redis::FleetConfig::new("redis://127.0.0.1:1/"))?;
    /// let db = fleet.attach(Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?))?;
    /// assert_eq!(db.call(|| Ok::<_, ()>(7)), Ok(7));
    /// # Ok(()) }
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

    /// Like [`call`](Self::call), with `classify` deciding what the result means.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc;
    /// use warden_breaker::Outcome;
    /// # let fleet = warden_redis::Fleet::start(warden_redis::FleetConfig::new("redis://127.0.0.1:1/"))?;
    /// let db = fleet.attach(Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?))?;
    /// let r = db.call_with(|| Err::<(), u16>(404), |_| Outcome::Ignored);
    /// assert!(r.is_err());
    /// assert_eq!(db.breaker().counts().total_exclusions, 1);
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn call_with<T, E, F, C>(&self, f: F, classify: C) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Result<T, E>,
        C: FnOnce(&Result<T, E>) -> Outcome,
    {
        let permit = self.try_acquire()?;
        // If `f` panics, the local permit records a failure and a probe reports one.
        let result = f();
        permit.record(classify(&result));
        result.map_err(Error::Inner)
    }
}

impl Breaker for FleetBreaker {
    type Permit<'a> = FleetPermit<'a>;

    fn name(&self) -> &str {
        FleetBreaker::name(self)
    }
    fn state(&self) -> State {
        FleetBreaker::state(self)
    }
    fn counts(&self) -> Counts {
        self.shared.breaker.counts()
    }
    #[inline]
    fn try_acquire(&self) -> Result<FleetPermit<'_>, Rejected> {
        FleetBreaker::try_acquire(self)
    }
}

/// Admission from a [`FleetBreaker`]: the local permit, and for a fleet half-open
/// probe its token (reported to Redis with the outcome, given back if dropped).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # use std::sync::Arc;
/// # let fleet = warden_redis::Fleet::start(warden_redis::FleetConfig::new("redis://127.0.0.1:1/"))?;
/// let db = fleet.attach(Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?))?;
/// db.try_acquire()?.failure();
/// assert_eq!(db.breaker().counts().total_failures, 1);
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "a permit records nothing until an outcome is given"]
pub struct FleetPermit<'a> {
    inner: Permit<'a>,
    probe: Option<Box<Probe>>,
    /// To wake the fleet's task when a failure opens the local breaker.
    shared: &'a Arc<Shared>,
}

impl FleetPermit<'_> {
    /// Records `outcome`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc;
    /// # let fleet = warden_redis::Fleet::start(warden_redis::FleetConfig::new("redis://127.0.0.1:1/"))?;
    /// # let db = fleet.attach(Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?))?;
    /// db.try_acquire()?.record(warden_breaker::Outcome::Success);
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn record(self, outcome: Outcome) {
        match self.probe {
            None => self.inner.record(outcome),
            Some(p) => p.finish_after(outcome, || self.inner.record(outcome)),
        }
        if outcome == Outcome::Failure {
            after_failure(self.shared);
        }
    }
    /// Records a success.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc;
    /// # let fleet = warden_redis::Fleet::start(warden_redis::FleetConfig::new("redis://127.0.0.1:1/"))?;
    /// # let db = fleet.attach(Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?))?;
    /// db.try_acquire()?.success();
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn success(self) {
        self.record(Outcome::Success);
    }
    /// Records a failure.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc;
    /// # let fleet = warden_redis::Fleet::start(warden_redis::FleetConfig::new("redis://127.0.0.1:1/"))?;
    /// # let db = fleet.attach(Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?))?;
    /// db.try_acquire()?.failure();
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn failure(self) {
        self.record(Outcome::Failure);
    }
    /// Records neither (frees a half-open slot and the fleet token).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc;
    /// # let fleet = warden_redis::Fleet::start(warden_redis::FleetConfig::new("redis://127.0.0.1:1/"))?;
    /// # let db = fleet.attach(Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?))?;
    /// db.try_acquire()?.ignore();
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn ignore(self) {
        self.record(Outcome::Ignored);
    }
    /// Whether this permit is a fleet half-open probe (it holds a fleet token).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc;
    /// # let fleet = warden_redis::Fleet::start(warden_redis::FleetConfig::new("redis://127.0.0.1:1/"))?;
    /// # let db = fleet.attach(Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?))?;
    /// assert!(!db.try_acquire()?.is_fleet_probe());
    /// # Ok(()) }
    /// ```
    pub fn is_fleet_probe(&self) -> bool {
        self.probe.is_some()
    }
}

impl BreakerPermit for FleetPermit<'_> {
    #[inline]
    fn record(self, outcome: Outcome) {
        FleetPermit::record(self, outcome)
    }
}

/// [`FleetPermit`] owning its breaker, from
/// [`FleetBreaker::try_acquire_owned`]: `Send + 'static`, to hold across `.await`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # use std::sync::Arc;
/// # let fleet = warden_redis::Fleet::start(warden_redis::FleetConfig::new("redis://127.0.0.1:1/"))?;
/// let db = fleet.attach(Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?))?;
/// let permit = db.try_acquire_owned()?;
/// tokio::task::yield_now().await;
/// permit.record(warden_breaker::Outcome::Success);
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "a permit records nothing until an outcome is given"]
pub struct OwnedFleetPermit {
    inner: OwnedPermit,
    probe: Option<Box<Probe>>,
}

impl OwnedFleetPermit {
    /// Records `outcome`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc;
    /// # let fleet = warden_redis::Fleet::start(warden_redis::FleetConfig::new("redis://127.0.0.1:1/"))?;
    /// # let db = fleet.attach(Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?))?;
    /// db.try_acquire_owned()?.record(warden_breaker::Outcome::Failure);
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn record(self, outcome: Outcome) {
        match self.probe {
            None => self.inner.record(outcome),
            Some(p) => p.finish_after(outcome, || self.inner.record(outcome)),
        }
    }
    /// Records a success.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc;
    /// # let fleet = warden_redis::Fleet::start(warden_redis::FleetConfig::new("redis://127.0.0.1:1/"))?;
    /// # let db = fleet.attach(Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?))?;
    /// db.try_acquire_owned()?.success();
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn success(self) {
        self.record(Outcome::Success);
    }
    /// Records a failure.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc;
    /// # let fleet = warden_redis::Fleet::start(warden_redis::FleetConfig::new("redis://127.0.0.1:1/"))?;
    /// # let db = fleet.attach(Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?))?;
    /// db.try_acquire_owned()?.failure();
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn failure(self) {
        self.record(Outcome::Failure);
    }
    /// Records neither (frees a half-open slot and the fleet token).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc;
    /// # let fleet = warden_redis::Fleet::start(warden_redis::FleetConfig::new("redis://127.0.0.1:1/"))?;
    /// # let db = fleet.attach(Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?))?;
    /// db.try_acquire_owned()?.ignore();
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn ignore(self) {
        self.record(Outcome::Ignored);
    }
    /// Whether this permit is a fleet half-open probe (it holds a fleet token).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc;
    /// # let fleet = warden_redis::Fleet::start(warden_redis::FleetConfig::new("redis://127.0.0.1:1/"))?;
    /// # let db = fleet.attach(Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?))?;
    /// assert!(!db.try_acquire_owned()?.is_fleet_probe());
    /// # Ok(()) }
    /// ```
    pub fn is_fleet_probe(&self) -> bool {
        self.probe.is_some()
    }
}

impl BreakerPermit for OwnedFleetPermit {
    #[inline]
    fn record(self, outcome: Outcome) {
        OwnedFleetPermit::record(self, outcome)
    }
}
