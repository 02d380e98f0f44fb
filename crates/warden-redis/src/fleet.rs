//! [`Fleet`]: one Redis connection and one background task per instance (plus a
//! listener for other instances' change notices),
//! coordinating every attached breaker.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, Cmd, Script, ServerError, Value};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout};
use warden_breaker::{CircuitBreaker, Counts, Mode, Settings, State};

use crate::breaker::{FleetView, HALF_OPEN, Report, Shared, Signals, Token, lock};
use crate::config::Client;
use crate::delta::{Delta, fleet_counts};
use crate::script::{
    ANNOUNCE_LUA, LUA, MISMATCH, OP_CLAIM, OP_REPORT, OP_SYNC, REPORT_RELEASE, Reply,
};
use crate::track::Track;
use crate::{Coordination, FleetBreaker, FleetConfig, FleetError, FleetStatus};

#[path = "fleet_throttle.rs"]
mod fleet_throttle;

/// The most probe tokens one breaker claims in one round trip: a flood of
/// refused calls costs one bounded claim per slice, never one per call.
const CLAIM_BATCH: u32 = 64;
/// The most commands sent in one pipeline (a full resync of many breakers is cut
/// into pipelines of this size, each bounded by the command timeout).
const PIPELINE_MAX: usize = 256;
/// The most breakers synced per slice (or per wake-up between slices) only to
/// join (attached, after a connection, or when Redis lost the change log);
/// traffic, trips and held decisions never wait.
const JOIN_PER_SLICE: usize = 500;
/// A breaker the fleet holds open is synced at least once per this many slices.
const RECHECK_SLICES: u32 = 10;
/// Breakers looked at between two yields of a walk ([`yield_every`]).
const WALK_CHUNK: usize = 256;
/// Change-log entries read per slice; a bigger gap resyncs every breaker.
const CHANGES_MAX: usize = 1000;
/// The most bytes of names in one change notice (a bigger batch is cut into
/// several), well under Redis's output buffer limit for a subscriber.
const NOTICE_MAX: usize = 64 * 1024;

/// What one `Fleet`'s handles and task share.
struct Inner {
    config: FleetConfig,
    breakers: Mutex<Vec<Arc<Shared>>>,
    /// The attached breakers by name (locked after `breakers`): a duplicate check
    /// and the lookup of an announced name in O(1).
    names: Mutex<HashMap<String, Arc<Shared>>>,
    signals: Arc<Signals>,
    coordination: Arc<AtomicU8>,
    stop: AtomicBool,
    instance: u64,
    task: Mutex<Option<JoinHandle<()>>>,
    /// The task listening for other instances' change notices (pub/sub).
    listener: Mutex<Option<JoinHandle<()>>>,
    /// Probe tokens taken from the breakers when the fleet stopped, for the task
    /// to give back.
    leftover: Mutex<Vec<(Arc<Shared>, Token)>>,
    lagging: AtomicBool,
    stats: Stats,
}

#[derive(Default)]
struct Stats {
    scripts: AtomicU64,
    round_trips: AtomicU64,
    errors: AtomicU64,
    connects: AtomicU64,
    bad_keys: AtomicU64,
    mismatches: AtomicU64,
    restores: AtomicU64,
    overruns: AtomicU64,
    released: AtomicU64,
    subscriptions: AtomicU64,
    notices: AtomicU64,
}

fn bump(c: &AtomicU64, n: u64) {
    // Relaxed: a statistics counter.
    c.fetch_add(n, Ordering::Relaxed);
}

/// Counters of what a [`Fleet`]'s background task did, to measure its cost and
/// to alert on.
///
/// ```
/// let s = warden_redis::FleetStats::default();
/// assert_eq!(s.scripts, 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FleetStats {
    /// Scripts run (`EVALSHA`), one per breaker that had something to say.
    pub scripts: u64,
    /// Redis round trips (pipelines; on a Redis Cluster, batches of commands sent
    /// to their masters concurrently): one per slice at idle.
    pub round_trips: u64,
    /// Redis round trips that failed or timed out, or were refused by the server
    /// (each sends the fleet local-only and lengthens the backoff, except one
    /// giving tokens back, which is tried again).
    pub errors: u64,
    /// Connections established (the first one and every reconnection).
    pub connects: u64,
    /// Scripts refused because a breaker's keys hold something unreadable
    /// ([`Coordination::BadKey`]); other breakers are unaffected.
    pub bad_keys: u64,
    /// Scripts refused because another instance shares a breaker with different
    /// settings ([`Coordination::SettingsMismatch`]).
    pub mismatches: u64,
    /// Decisions republished after Redis lost them (flush, restart from empty,
    /// failover to a replica that missed writes).
    pub restores: u64,
    /// Slices whose round trips took longer than the slice ([`Fleet::lagging`]).
    pub overruns: u64,
    /// Unused probe tokens given back: when the fleet stopped ([`Fleet::shutdown`],
    /// drop), a breaker was detached, or Redis answered again after a failed
    /// round trip.
    pub tokens_released: u64,
    /// Subscriptions to the fleet's change notices (pub/sub) established: the
    /// first one and every re-subscription after the listening connection broke.
    pub subscriptions: u64,
    /// Transitions of this instance's breakers that other instances announced
    /// through pub/sub, each synced at once rather than at the next slice.
    pub notices: u64,
}

/// Coordinates local breakers across every instance that shares a Redis, a key
/// namespace and breaker names.
///
/// [`start`](Self::start) spawns one background task on the current tokio
/// runtime; it connects (in the background: starting never waits for Redis) and,
/// every [`slice`](FleetConfig::slice), makes one Redis round trip: it reads what
/// changed in the fleet since the last slice and, for each breaker with news
/// (calls to publish, a probe, an announced change), runs one Lua script that
/// publishes the counts the local breaker gained and returns the fleet's state.
/// An idle breaker costs nothing; the local policy (`ready_to_trip` or the count
/// window) is applied to the fleet-wide counts. Between slices the task syncs at
/// once a breaker whose local breaker a failure opened, and one another instance
/// announced a transition of (a change notice, heard by a second task on a
/// connection of its own). Dropping the `Fleet` (or
/// [`shutdown`](Self::shutdown)) stops both tasks, gives unused probe tokens back
/// and leaves every breaker local (a breaker the fleet held open stays open until
/// the fleet's deadline, then probes on its own).
///
/// ```no_run
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use warden_breaker::CircuitBreaker;
/// use warden_redis::{Fleet, FleetConfig};
///
/// let fleet = Fleet::start(
///     FleetConfig::new("redis://127.0.0.1:6379/")
///         .namespace("checkout")
///         .on_coordination_change(|c| eprintln!("fleet: {c}")),
/// )?;
/// let payments = fleet.attach(Arc::new(
///     CircuitBreaker::builder("payments").timeout(Duration::from_secs(30)).build()?,
/// ))?;
/// let _ = payments.call(|| Ok::<_, std::io::Error>(()));
/// for row in fleet.list() {
///     println!("{}: local {} fleet {:?} ({})", row.name, row.state, row.fleet, row.coordination);
/// }
/// fleet.shutdown().await;
/// # Ok(()) }
/// ```
pub struct Fleet {
    inner: Arc<Inner>,
}

impl fmt::Debug for Fleet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fleet")
            .field("config", &self.inner.config)
            .field("coordination", &self.coordination())
            .field("breakers", &lock(&self.inner.breakers).len())
            .finish()
    }
}

impl Fleet {
    /// Validates `config` and starts the background task on the current tokio
    /// runtime. Returns at once; the task connects in the background and reports
    /// [`Coordination::Fleet`] once Redis answers.
    ///
    /// ```
    /// use warden_redis::{Fleet, FleetConfig, FleetError};
    /// // Outside a runtime:
    /// let err = Fleet::start(FleetConfig::new("redis://127.0.0.1/")).unwrap_err();
    /// assert_eq!(err, FleetError::NoRuntime);
    /// ```
    pub fn start(config: FleetConfig) -> Result<Self, FleetError> {
        let client = config.client()?;
        let handle = tokio::runtime::Handle::try_current().map_err(|_| FleetError::NoRuntime)?;
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        h.write_u32(std::process::id());
        let inner = Arc::new(Inner {
            config,
            breakers: Mutex::new(Vec::new()),
            names: Mutex::new(HashMap::new()),
            signals: Arc::new(Signals::new()),
            coordination: Arc::new(AtomicU8::new(Coordination::Connecting as u8)),
            stop: AtomicBool::new(false),
            instance: h.finish(),
            task: Mutex::new(None),
            listener: Mutex::new(None),
            leftover: Mutex::new(Vec::new()),
            lagging: AtomicBool::new(false),
            stats: Stats::default(),
        });
        inner.set_coordination(Coordination::Connecting);
        let task = handle.spawn(run(Arc::clone(&inner), client));
        *lock(&inner.task) = Some(task);
        let listener = handle.spawn(listen(Arc::clone(&inner)));
        *lock(&inner.listener) = Some(listener);
        Ok(Self { inner })
    }

    /// Puts `breaker` under fleet coordination. Instances coordinate a breaker by
    /// its name, so give every instance's breaker of one dependency the same name
    /// and the same settings (`max_requests`, `timeout`, `interval`, trip policy):
    /// an instance whose settings differ from the fleet's stays local and says so
    /// ([`Coordination::SettingsMismatch`]). To fingerprint the trip rule, this
    /// calls the breaker's `ready_to_trip` on a fixed set of 33 counts, once. Fails
    /// if a breaker of that name is already attached.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::sync::Arc;
    /// use warden_breaker::CircuitBreaker;
    /// use warden_redis::{Fleet, FleetConfig, FleetError};
    /// let fleet = Fleet::start(FleetConfig::new("redis://127.0.0.1:1/"))?;
    /// let cb = Arc::new(CircuitBreaker::builder("db").build()?);
    /// let db = fleet.attach(cb.clone())?;
    /// assert!(matches!(fleet.attach(cb), Err(FleetError::Duplicate(_))));
    /// # let _ = db;
    /// # Ok(()) }
    /// ```
    pub fn attach(&self, breaker: Arc<CircuitBreaker>) -> Result<FleetBreaker, FleetError> {
        let fingerprint = fingerprint(&breaker.settings());
        let mut list = lock(&self.inner.breakers);
        let mut names = lock(&self.inner.names);
        if names.contains_key(breaker.name()) {
            let name: String = breaker.name().chars().take(64).collect();
            return Err(FleetError::Duplicate(name));
        }
        let shared = Arc::new(Shared::new(
            breaker,
            fingerprint,
            hash_tag,
            Arc::clone(&self.inner.signals),
            Arc::clone(&self.inner.coordination),
        ));
        names.insert(shared.breaker.name().to_owned(), Arc::clone(&shared));
        list.push(Arc::clone(&shared));
        drop(names);
        drop(list);
        self.inner.signals.poke();
        Ok(FleetBreaker {
            breaker: Arc::clone(&shared.breaker),
            shared,
        })
    }

    /// Stops coordinating the breaker named `name`: it decides locally from now
    /// on (one the fleet held open stays open until the fleet's deadline), the
    /// probe tokens this instance claimed for it but has not used go back to the
    /// fleet on the next round trip (a fleet probe still running reports its
    /// outcome to the fleet when it finishes, so its slot is not held until the
    /// token's [`probe_ttl`](FleetConfig::probe_ttl)), and this instance stops refreshing its keys,
    /// which Redis then drops after [`key_ttl`](FleetConfig::key_ttl) unless
    /// another instance still uses the name (an open decision's keys live until
    /// its deadline first). Returns whether the name was attached. The name can
    /// be attached again later.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::sync::Arc;
    /// use warden_breaker::CircuitBreaker;
    /// let fleet = warden_redis::Fleet::start(warden_redis::FleetConfig::new("redis://127.0.0.1:1/"))?;
    /// let _db = fleet.attach(Arc::new(CircuitBreaker::builder("db").build()?))?;
    /// assert!(fleet.detach("db"));
    /// assert!(!fleet.detach("db"));
    /// # Ok(()) }
    /// ```
    pub fn detach(&self, name: &str) -> bool {
        let mut list = lock(&self.inner.breakers);
        let Some(i) = list.iter().position(|s| s.breaker.name() == name) else {
            return false;
        };
        let shared = list.remove(i);
        lock(&self.inner.names).remove(name);
        drop(list);
        // Before the pool and the track are locked: a round trip still in flight
        // about this breaker then leaves it alone (see `apply`).
        shared.mark_detached();
        let tokens = std::mem::take(&mut *lock(&shared.pool));
        lock(&self.inner.leftover).extend(tokens.into_iter().map(|t| (Arc::clone(&shared), t)));
        // Outcomes of probes not yet sent, and (see `Probe::report`) those of the
        // probes still in flight, go to Redis apart: the task walks only attached
        // breakers, and an unsent report holds its fleet probe slot until its TTL.
        let reports = std::mem::take(&mut *lock(&shared.reports));
        self.inner.signals.orphan(&shared, reports);
        go_local(&shared);
        self.inner.signals.poke();
        true
    }

    /// Whether the fleet coordinates through Redis right now.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let fleet = warden_redis::Fleet::start(warden_redis::FleetConfig::new("redis://127.0.0.1:1/"))?;
    /// assert_ne!(fleet.coordination(), warden_redis::Coordination::Fleet);
    /// # Ok(()) }
    /// ```
    pub fn coordination(&self) -> Coordination {
        // Relaxed: a status value read on its own.
        Coordination::from_u8(self.inner.coordination.load(Ordering::Relaxed))
    }

    /// Whether the last slice's round trips took longer than the slice (Redis or
    /// this instance is slow): fleet decisions then reach this instance late. Each
    /// such slice is counted in [`FleetStats::overruns`] and the first of a run is
    /// logged.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let fleet = warden_redis::Fleet::start(warden_redis::FleetConfig::new("redis://127.0.0.1:1/"))?;
    /// assert!(!fleet.lagging());
    /// # Ok(()) }
    /// ```
    pub fn lagging(&self) -> bool {
        // Relaxed: a status value read on its own.
        self.inner.lagging.load(Ordering::Relaxed)
    }

    /// One row per attached breaker, sorted by name.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc;
    /// let fleet = warden_redis::Fleet::start(warden_redis::FleetConfig::new("redis://127.0.0.1:1/"))?;
    /// fleet.attach(Arc::new(warden_breaker::CircuitBreaker::builder("b").build()?))?;
    /// fleet.attach(Arc::new(warden_breaker::CircuitBreaker::builder("a").build()?))?;
    /// let names: Vec<_> = fleet.list().into_iter().map(|r| r.name).collect();
    /// assert_eq!(names, ["a", "b"]);
    /// # Ok(()) }
    /// ```
    pub fn list(&self) -> Vec<FleetStatus> {
        let list: Vec<_> = lock(&self.inner.breakers).clone();
        let mut rows: Vec<_> = list.iter().map(|s| s.status()).collect();
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        rows
    }

    /// What the background task has done so far (round trips, errors, connections).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let fleet = warden_redis::Fleet::start(warden_redis::FleetConfig::new("redis://127.0.0.1:1/"))?;
    /// assert_eq!(fleet.stats().connects, 0);
    /// # Ok(()) }
    /// ```
    pub fn stats(&self) -> FleetStats {
        // Relaxed: independent counters, read on their own.
        let s = &self.inner.stats;
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        FleetStats {
            scripts: n(&s.scripts),
            round_trips: n(&s.round_trips),
            errors: n(&s.errors),
            connects: n(&s.connects),
            bad_keys: n(&s.bad_keys),
            mismatches: n(&s.mismatches),
            restores: n(&s.restores),
            overruns: n(&s.overruns),
            tokens_released: n(&s.released),
            subscriptions: n(&s.subscriptions),
            notices: n(&s.notices),
        }
    }

    /// Stops the fleet: every breaker decides locally from now on (one the fleet
    /// held open stays open until the fleet's deadline), the probe tokens this
    /// instance claimed but has not used are given back to the fleet at once (one
    /// round trip, after a new connection if the fleet had lost its own, each
    /// bounded by [`redis_timeout`](FleetConfig::redis_timeout)) with the
    /// outcomes of finished probes not sent yet, and the background task ends.
    /// Returns how many tokens were given back (0 if Redis was unreachable: they
    /// then expire after
    /// [`probe_ttl`](FleetConfig::probe_ttl)). Probes still in flight keep their
    /// tokens until those expire. Calling it again returns 0; dropping the `Fleet`
    /// does the same without waiting.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let fleet = warden_redis::Fleet::start(warden_redis::FleetConfig::new("redis://127.0.0.1:1/"))?;
    /// assert_eq!(fleet.shutdown().await, 0);
    /// # Ok(()) }
    /// ```
    pub async fn shutdown(&self) -> usize {
        let before = self.stats().tokens_released;
        self.inner.begin_stop();
        let task = lock(&self.inner.task).take();
        let Some(task) = task else {
            return 0;
        };
        let _ = task.await;
        usize::try_from(self.stats().tokens_released - before).unwrap_or(usize::MAX)
    }
}

impl Fleet {
    /// [`shutdown`](Self::shutdown) without waiting, for code that is not async
    /// (the facade's `Registry::shutdown` calls it): every breaker decides
    /// locally from now on, and the background task gives the unused probe
    /// tokens back and ends on its own within a round trip. Calling it again, or
    /// `shutdown` after it, changes nothing.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let fleet = warden_redis::Fleet::start(warden_redis::FleetConfig::new("redis://127.0.0.1:1/"))?;
    /// fleet.stop();
    /// assert!(fleet.is_stopped());
    /// # Ok(()) }
    /// ```
    pub fn stop(&self) {
        self.inner.begin_stop();
    }

    /// Whether [`stop`](Self::stop) or [`shutdown`](Self::shutdown) was called.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let fleet = warden_redis::Fleet::start(warden_redis::FleetConfig::new("redis://127.0.0.1:1/"))?;
    /// assert!(!fleet.is_stopped());
    /// # Ok(()) }
    /// ```
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The task never ran to its end (its runtime was dropped): nothing sends
        // queued outcomes, which would keep their breakers and these signals.
        self.signals.close_orphans();
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // The task gives the tokens back and ends on its own.
        self.inner.begin_stop();
    }
}

impl Inner {
    fn set_coordination(&self, c: Coordination) {
        // Relaxed: only this task writes it; readers take it as a status value.
        let old = self.coordination.swap(c as u8, Ordering::Relaxed);
        if old == c as u8 {
            return;
        }
        match c {
            Coordination::Fleet => tracing::info!(
                namespace = %self.config.namespace,
                "warden-redis: Redis reachable, breakers coordinate fleet-wide"
            ),
            _ => tracing::warn!(
                namespace = %self.config.namespace,
                coordination = %c,
                "warden-redis: Redis unreachable, every breaker decides locally until it is back"
            ),
        }
        if let Some(f) = &self.config.on_coordination_change {
            f(c);
        }
    }

    fn stopped(&self) -> bool {
        // Relaxed: each breaker's track mutex orders this flag against a task step
        // that is applying a fleet decision (see `apply`).
        self.stop.load(Ordering::Relaxed)
    }

    /// Marks the fleet stopped, hands every breaker back to its local breaker
    /// and moves their unused probe tokens to `leftover` for the task to give back.
    fn begin_stop(&self) {
        // Relaxed: see `stopped`.
        if self.stop.swap(true, Ordering::Relaxed) {
            return;
        }
        if let Some(listener) = lock(&self.listener).take() {
            listener.abort();
        }
        let list: Vec<_> = lock(&self.breakers).clone();
        let mut leftover = lock(&self.leftover);
        for s in &list {
            let tokens = std::mem::take(&mut *lock(&s.pool));
            leftover.extend(tokens.into_iter().map(|t| (Arc::clone(s), t)));
            // Outcomes of finished probes not sent yet: the task's last round
            // trip sends them with the tokens.
            let reports = std::mem::take(&mut *lock(&s.reports));
            self.signals.orphan(s, reports);
            go_local(s);
        }
        drop(leftover);
        self.signals.wake();
    }

    fn set_lagging(&self, lagging: bool) {
        // Relaxed: a status value read on its own.
        if self.lagging.swap(lagging, Ordering::Relaxed) == lagging {
            return;
        }
        if lagging {
            tracing::warn!(
                namespace = %self.config.namespace,
                slice = ?self.config.slice,
                "warden-redis: a slice's round trips took longer than the slice; fleet decisions reach this instance late"
            );
        } else {
            tracing::info!(namespace = %self.config.namespace, "warden-redis: slices on time again");
        }
    }
}

/// Why a round trip failed.
#[derive(Debug)]
enum Fault {
    /// The connection broke or timed out: reconnect.
    Io,
    /// The server refused (out of memory, read-only replica, loading, ...): keep
    /// the connection, back off.
    Server,
}

/// What a script call is for, so its reply can be applied.
enum Job {
    /// A probe's outcome (fenced in Redis: sent twice, it counts once).
    Report(Report),
    /// Up to `n` probe tokens named `<prefix>.1..=n`.
    Claim {
        generation: u64,
        prefix: String,
        n: u32,
        claimed_at: std::time::Instant,
    },
    Sync {
        trip: bool,
        /// New counts were published (or a lost reply's are to be judged, see
        /// `Track::judge`): the reply's counts are judged by the trip rule.
        published: bool,
    },
    Vote,
}

struct Item {
    s: Arc<Shared>,
    cmd: Cmd,
    job: Job,
}

/// The task: connect, then one round trip per slice (and on wake-ups for probe
/// tokens, reports, local trips and other instances' change notices); on a failure
/// go local-only and retry with a backoff that only a fully successful slice
/// resets.
async fn run(inner: Arc<Inner>, client: Client) {
    let cfg = &inner.config;
    let conn_config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(cfg.redis_timeout))
        .set_response_timeout(Some(cfg.redis_timeout));
    let script = Script::new(LUA);
    let mut backoff = cfg.slice;
    let mut conn: Option<Conn> = None;
    let mut next_slice = Instant::now();
    let mut version: Option<LogPosition> = None;
    let mut woken = true;
    loop {
        if inner.stopped() {
            // Tokens to give back (and a lost round trip's reports to send again):
            // a second attempt on a new connection if the first fails, each step
            // bounded by the timeout.
            for _ in 0..2 {
                if conn.is_none() {
                    if lock(&inner.leftover).is_empty() && !inner.signals.has_orphans() {
                        break;
                    }
                    conn = connect(&client, &conn_config, cfg.redis_timeout).await;
                    if conn.is_some() {
                        bump(&inner.stats.connects, 1);
                    }
                }
                let Some(c) = conn.as_mut() else {
                    break;
                };
                if release_leftovers(&inner, &script, c, true).await {
                    break;
                }
                conn = None;
            }
            // Unsent (Redis unreachable), or queued from now on: their tokens
            // expire in Redis. Dropped here, since each holds its breaker, which
            // holds these signals.
            inner.signals.close_orphans();
            return;
        }
        // Tokens and probe outcomes of detached breakers go to Redis as soon as
        // there is a connection.
        if let Some(c) = conn.as_mut()
            && (!lock(&inner.leftover).is_empty() || inner.signals.has_orphans())
        {
            release_leftovers(&inner, &script, c, false).await;
        }
        let Some(c) = conn.as_mut() else {
            match connect(&client, &conn_config, cfg.redis_timeout).await {
                Some(c) => {
                    bump(&inner.stats.connects, 1);
                    conn = Some(c);
                    version = None;
                    next_slice = Instant::now();
                }
                None => {
                    bump(&inner.stats.errors, 1);
                    lose_redis(&inner);
                    pause(&inner, backoff).await;
                    backoff = (backoff * 2).min(cfg.reconnect_max);
                }
            }
            continue;
        };
        let started = Instant::now();
        let slice_due = started >= next_slice;
        if slice_due {
            next_slice = (next_slice + cfg.slice).max(started);
        }
        let kind = if slice_due {
            Round::Slice
        } else if woken {
            Round::Woken
        } else {
            Round::Check
        };
        match round(&inner, &script, c, kind, &mut version).await {
            Ok(()) => {
                if slice_due {
                    inner.set_coordination(Coordination::Fleet);
                    backoff = cfg.slice;
                    let overran = started.elapsed() > cfg.slice;
                    if overran {
                        bump(&inner.stats.overruns, 1);
                    }
                    inner.set_lagging(overran);
                }
            }
            Err(fault) => {
                bump(&inner.stats.errors, 1);
                if matches!(fault, Fault::Io) {
                    conn = None;
                }
                version = None;
                lose_redis(&inner);
                pause(&inner, backoff).await;
                backoff = (backoff * 2).min(cfg.reconnect_max);
                next_slice = Instant::now();
                continue;
            }
        }
        // Local breakers are looked at (no Redis) five times per slice for trips the
        // task was not woken for (a failure recorded through an owned permit or on
        // the local breaker itself, a slow-call trip).
        let check = (cfg.slice / 5).max(Duration::from_millis(1));
        woken = tokio::select! {
            () = sleep_until(next_slice.min(Instant::now() + check)) => false,
            () = inner.signals.notified() => true,
        };
    }
}

/// One connection attempt, bounded by `limit`.
async fn connect(client: &Client, config: &AsyncConnectionConfig, limit: Duration) -> Option<Conn> {
    let attempt = timeout(limit, async {
        match client {
            Client::Single(client) => client
                .get_multiplexed_async_connection_with_config(config)
                .await
                .map(Conn::Single),
            Client::Cluster(client) => client.get_async_connection().await.map(Conn::Cluster),
        }
    })
    .await;
    attempt.ok()?.ok()
}

/// Gives the runtime's worker to other tasks every [`WALK_CHUNK`] breakers of a
/// walk, so that a walk over many breakers never holds a worker for long: the
/// notice listener, the connections' drivers and the application's own tasks
/// run in between.
async fn yield_every(k: usize) {
    if k % WALK_CHUNK == WALK_CHUNK - 1 {
        tokio::task::yield_now().await;
    }
}

/// Where this instance last read the fleet's change log.
struct LogPosition {
    /// The version counter.
    counter: i64,
    /// The log's epoch (`None` if it was missing: set at the next read).
    epoch: Option<String>,
}

/// Why a round runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Round {
    /// The slice is due: the change log, every breaker with news.
    Slice,
    /// Woken: breakers queued for an immediate sync (a local trip, another
    /// instance's change notice), and a walk over every breaker if a guarded call
    /// asked for one (a probe report, a token wanted, a breaker attached).
    Woken,
    /// A timer between slices: queued breakers, and local trips looked for (no
    /// lock but the breaker's track, no Redis unless one tripped).
    Check,
}

/// Sleeps `d`, or less if the fleet is stopped meanwhile.
async fn pause(inner: &Inner, d: Duration) {
    let until = Instant::now() + d;
    while !inner.stopped() && Instant::now() < until {
        tokio::select! {
            () = sleep_until(until) => {}
            () = inner.signals.notified() => {}
        }
    }
}

fn lose_redis(inner: &Inner) {
    let list: Vec<_> = lock(&inner.breakers).clone();
    for s in &list {
        // Unused probe tokens go back to the fleet with the next connection's
        // first round trip: forgotten, each held its fleet probe slot for its
        // time to live (no instance could probe after a single slow round trip).
        let tokens = std::mem::take(&mut *lock(&s.pool));
        if !tokens.is_empty() {
            lock(&inner.leftover).extend(tokens.into_iter().map(|t| (Arc::clone(s), t)));
        }
        go_local(s);
    }
    if !inner.stopped() {
        inner.set_coordination(Coordination::LocalOnly);
    }
}

/// Hands `s` back to its local breaker: no fleet verdict, no tokens; a breaker the
/// fleet held open stays open until the fleet's deadline, then probes locally.
/// What the instance knows of the fleet (incarnation, open deadline) is kept, to
/// be republished if Redis comes back without it.
fn go_local(s: &Shared) {
    let mut t = lock(&s.track);
    s.set_verdict(0);
    s.set_known(None);
    lock(&s.pool).clear();
    // The outcomes of probes that finished are kept (they are sent with the
    // next round trip, or by `begin_stop` with the last): dropped, each token
    // held its fleet probe slot until its time to live.
    // Only an open-until-further-notice set by the fleet is converted (once: later
    // calls, one per failed reconnection, find `forced_until` already taken).
    if let Some(until) = t.forced_until.take()
        && t.forced_by_fleet
        && s.breaker.mode() == Mode::ForcedOpen
    {
        s.breaker
            .force_open_for(until.saturating_duration_since(Instant::now()));
    }
    t.fleet = None;
    t.fleet_counts = None;
    t.dirty = true;
    // An adaptive throttle sheds on this instance's own window until Redis is back.
    s.breaker.set_throttle_peers(0, 0);
}

/// The settings that must agree across instances for them to share a breaker:
/// timeout, interval, `max_requests`, the count or time window, and the trip
/// rule, sampled on a fixed set of counts (a custom `ready_to_trip` cannot be
/// compared otherwise).
pub(crate) fn fingerprint(s: &Settings) -> String {
    let mut rule = 0u64;
    let mut bit = 0;
    for calls in [1u32, 2, 3, 4, 5, 6, 8, 10, 20, 50, 100] {
        for failures in [calls, calls / 2, 1] {
            let c = Counts {
                requests: calls,
                total_successes: calls - failures.min(calls),
                total_failures: failures.min(calls),
                total_exclusions: 0,
                consecutive_successes: 0,
                consecutive_failures: failures.min(calls),
            };
            if s.ready_to_trip(&c) {
                rule |= 1 << bit;
            }
            bit += 1;
        }
    }
    let mut print = format!(
        "t{} i{} m{} c{:?} w{:?} r{rule:x}",
        s.timeout_ticks(),
        s.interval_ticks(),
        s.max_requests(),
        s.count_window()
            .map(|w| (w.size(), w.min_calls(), w.failure_rate_percent())),
        s.time_window().map(|w| format!("{w:?}")),
    );
    // Only when set, so that every other breaker's fingerprint stays as it was
    // (instances of an older version still agree with it).
    if let Some(a) = s.adaptive_throttle() {
        print.push_str(&format!(" a{a:?}"));
    }
    print
}

/// The hash tag of a breaker's keys: its name, with `%`, `{` and `}` escaped
/// (`%25`, `%7B`, `%7D`) and the empty name written `%`, so every name maps to a
/// non-empty tag without braces (all its keys in one Redis Cluster slot) and no two
/// names share one.
pub(crate) fn hash_tag(name: &str) -> String {
    if name.is_empty() {
        return "%".to_owned();
    }
    let mut tag = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '%' => tag.push_str("%25"),
            '{' => tag.push_str("%7B"),
            '}' => tag.push_str("%7D"),
            c => tag.push(c),
        }
    }
    tag
}

/// What the instance knows of `t`'s fleet state, for the script to republish if
/// Redis lost it: (known incarnation, held: 0 nothing / 1 open / 2 half-open, ms
/// left of the open decision).
fn knowledge(t: &Track) -> (u64, i64, u64) {
    let now = Instant::now();
    if let Some(until) = t.hold_until
        && until > now
    {
        let ms = until.duration_since(now).as_millis();
        return (
            t.incarnation,
            1,
            u64::try_from(ms).unwrap_or(u64::MAX).max(1),
        );
    }
    if matches!(t.fleet, Some((2, _))) {
        return (t.incarnation, 2, 0);
    }
    (t.incarnation, 0, 0)
}

/// One script call for `s`: the common arguments, then `args`.
fn script_cmd(inner: &Inner, script: &Script, s: &Shared, op: i64, args: &[Arg<'_>]) -> Cmd {
    let name = s.breaker.name();
    let ns = &inner.config.namespace;
    let settings = s.breaker.settings();
    let (known, held, hold) = knowledge(&lock(&s.track));
    let tag = &s.tag;
    let fresh =
        (inner.instance ^ next_member().wrapping_mul(0x9E37_79B9_7F4A_7C15)) & ((1 << 52) - 1);
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(script.get_hash());
    if inner.config.cluster.is_some() {
        // Only the breaker's own slot: the change is announced apart (`announce`).
        cmd.arg(3)
            .arg(format!("{ns}:{{{tag}}}:state"))
            .arg(format!("{ns}:{{{tag}}}:counts"))
            .arg(format!("{ns}:{{{tag}}}:probes"));
    } else {
        let (version, changes) = inner.config.log_keys();
        cmd.arg(5)
            .arg(format!("{ns}:{{{tag}}}:state"))
            .arg(format!("{ns}:{{{tag}}}:counts"))
            .arg(format!("{ns}:{{{tag}}}:probes"))
            .arg(version)
            .arg(changes);
    }
    cmd.arg(op)
        .arg(settings.timeout_ticks())
        .arg(settings.interval_ticks())
        .arg(u64::try_from(inner.config.key_ttl.as_millis()).unwrap_or(u64::MAX))
        .arg(settings.max_requests())
        .arg(s.fingerprint.as_str())
        .arg(known)
        .arg(held)
        .arg(hold)
        .arg(fresh.max(1))
        .arg(name);
    for a in args {
        match a {
            Arg::Int(n) => cmd.arg(*n),
            Arg::Str(v) => cmd.arg(*v),
        };
    }
    cmd
}

enum Arg<'a> {
    Int(i64),
    Str(&'a str),
}

/// Whether a server error is about one breaker's data (its keys hold something
/// else): anything but the errors that concern the whole server.
fn fleet_wide(code: &str) -> bool {
    matches!(
        code,
        "OOM"
            | "READONLY"
            | "LOADING"
            | "BUSY"
            | "MASTERDOWN"
            | "CLUSTERDOWN"
            | "TRYAGAIN"
            | "MOVED"
            | "ASK"
            | "NOAUTH"
            | "NOPERM"
            | "WRONGPASS"
            | "MISCONF"
            | "NOREPLICAS"
            | "NOSCRIPT"
            | "CROSSSLOT"
    )
}

/// Sends `cmds` in pipelines of at most [`PIPELINE_MAX`], each bounded by the
/// command timeout; returns one value per command (a server error as
/// `Value::ServerError`). Scripts the server does not know (it restarted) are
/// loaded and those calls sent again, once.
async fn exec(
    inner: &Inner,
    script: &Script,
    c: &mut Conn,
    cmds: &[&Cmd],
) -> Result<Vec<Value>, Fault> {
    let mut out = Vec::with_capacity(cmds.len());
    for chunk in cmds.chunks(PIPELINE_MAX) {
        let mut values = send(inner, c, chunk).await?;
        let again: Vec<usize> = values
            .iter()
            .enumerate()
            .filter(|(_, v)| matches!(v, Value::ServerError(e) if e.code() == "NOSCRIPT"))
            .map(|(i, _)| i)
            .collect();
        if !again.is_empty() {
            let loaded = match c {
                Conn::Single(c) => timeout(inner.config.redis_timeout, script.load_async(c)).await,
                // SCRIPT LOAD goes to every master.
                Conn::Cluster(c) => timeout(inner.config.redis_timeout, script.load_async(c)).await,
            };
            match loaded {
                Ok(Ok(_)) => {}
                Ok(Err(e)) if e.is_io_error() || e.is_connection_dropped() => {
                    return Err(Fault::Io);
                }
                Ok(Err(_)) => return Err(Fault::Server),
                Err(_) => return Err(Fault::Io),
            }
            let retry: Vec<&Cmd> = again.iter().map(|&i| chunk[i]).collect();
            let redone = send(inner, c, &retry).await?;
            for (i, v) in again.into_iter().zip(redone) {
                values[i] = v;
            }
        }
        out.extend(values);
    }
    Ok(out)
}

async fn send(inner: &Inner, c: &mut Conn, cmds: &[&Cmd]) -> Result<Vec<Value>, Fault> {
    bump(&inner.stats.round_trips, 1);
    let evals = cmds.iter().filter(|c| is_command(c, b"EVALSHA")).count();
    bump(&inner.stats.scripts, evals as u64);
    let values: Vec<Value> = match c {
        Conn::Single(c) => {
            let mut pipe = redis::pipe();
            for cmd in cmds {
                pipe.add_command((*cmd).clone());
            }
            pipe.ignore_errors();
            match timeout(inner.config.redis_timeout, pipe.query_async(c)).await {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => return Err(fault(&e)),
                Err(_) => return Err(Fault::Io),
            }
        }
        Conn::Cluster(c) => {
            // A cluster pipeline must stay in one slot: every command goes on its
            // own, all at once (the cluster connection pipelines those bound for one
            // node on its connection to it and follows MOVED/ASK redirections).
            let all = cmds.iter().map(|cmd| {
                let mut c = c.clone();
                async move { c.req_packed_command(cmd).await }
            });
            let Ok(results) = timeout(
                inner.config.redis_timeout,
                futures_util::future::join_all(all),
            )
            .await
            else {
                return Err(Fault::Io);
            };
            let mut values = Vec::with_capacity(results.len());
            for r in results {
                values.push(match r {
                    Ok(v) => v,
                    // A refusal of this one command, answered like a pipeline's.
                    Err(e) => Value::ServerError(ServerError::try_from(e).map_err(|e| fault(&e))?),
                });
            }
            values
        }
    };
    if values.len() != cmds.len() {
        return Err(Fault::Io);
    }
    // A refusal that concerns the whole server fails the round trip; a refused
    // change notice does not (see `announce`).
    if values.iter().zip(cmds).any(|(v, cmd)| {
        !is_command(cmd, b"PUBLISH")
            && matches!(v, Value::ServerError(e) if fleet_wide(e.code()) && e.code() != "NOSCRIPT")
    }) {
        return Err(Fault::Server);
    }
    Ok(values)
}

/// Whether `cmd` is the command `name`.
fn is_command(cmd: &Cmd, name: &[u8]) -> bool {
    cmd.args_iter()
        .next()
        .is_some_and(|a| matches!(a, redis::Arg::Simple(b) if b == name))
}

/// How a failed round trip is handled.
fn fault(e: &redis::RedisError) -> Fault {
    tracing::debug!(error = %e, "warden-redis: round trip failed");
    if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() {
        Fault::Io
    } else {
        Fault::Server
    }
}

/// The connection to one Redis server or to a Redis Cluster.
enum Conn {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

/// Announces the transitions of `names` (made by this round's scripts) in one
/// round trip: a change notice to every instance listening (pub/sub: they sync
/// those breakers at once), and on a Redis Cluster the fleet's change log too (the
/// scripts touch only their breaker's slot; the log lives in another; on one
/// server the script wrote it). The change log is what every instance reads each
/// slice; a notice only makes it learn sooner, so a refused notice is logged and
/// does not fail the round.
async fn announce(inner: &Inner, c: &mut Conn, names: &mut Vec<String>) -> Result<(), Fault> {
    if names.is_empty() {
        return Ok(());
    }
    let mut cmds = Vec::new();
    let cluster = inner.config.cluster.is_some();
    if cluster {
        let (version, changes) = inner.config.log_keys();
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(ANNOUNCE_LUA).arg(2).arg(version).arg(changes);
        for n in names.iter() {
            cmd.arg(n);
        }
        cmds.push(cmd);
    }
    let channel = inner.config.notice_channel();
    for payload in notices(inner.instance, names) {
        cmds.push(redis::cmd("PUBLISH").arg(&channel).arg(payload).clone());
    }
    names.clear();
    let refs: Vec<&Cmd> = cmds.iter().collect();
    let values = send(inner, c, &refs).await?;
    for (i, v) in values.iter().enumerate() {
        if let Value::ServerError(e) = v {
            let what: String = e.to_string().chars().take(200).collect();
            if cluster && i == 0 {
                tracing::warn!(error = %what, "warden-redis: the fleet's change log refused an announcement");
                return Err(Fault::Server);
            }
            tracing::warn!(error = %what, "warden-redis: Redis refused a change notice; other instances learn of the change at their next slice");
        }
    }
    Ok(())
}

/// Change notices for `names` from `instance`: the instance id (16 hex digits and
/// a newline), then each name as `<byte length>:<name>`; cut into several notices
/// when the names pass [`NOTICE_MAX`] bytes (a longer name goes alone).
fn notices(instance: u64, names: &[String]) -> Vec<Vec<u8>> {
    let header = format!("{instance:016x}\n");
    let mut out = Vec::new();
    let mut cur = header.clone().into_bytes();
    for n in names {
        if cur.len() > header.len() && cur.len() + n.len() > NOTICE_MAX {
            out.push(std::mem::replace(&mut cur, header.clone().into_bytes()));
        }
        cur.extend_from_slice(format!("{}:", n.len()).as_bytes());
        cur.extend_from_slice(n.as_bytes());
    }
    if cur.len() > header.len() {
        out.push(cur);
    }
    out
}

/// Reads a change notice: the sending instance and the names, or `None` if it is
/// not one (anything else published on the channel is ignored).
fn parse_notice(payload: &[u8]) -> Option<(u64, Vec<&str>)> {
    let (id, mut rest) = (payload.get(..16)?, payload.get(16..)?);
    let instance = u64::from_str_radix(std::str::from_utf8(id).ok()?, 16).ok()?;
    rest = rest.strip_prefix(b"\n")?;
    let mut names = Vec::new();
    while !rest.is_empty() {
        let colon = rest.iter().take(21).position(|&b| b == b':')?;
        let len: usize = std::str::from_utf8(&rest[..colon]).ok()?.parse().ok()?;
        let end = (colon + 1).checked_add(len)?;
        names.push(std::str::from_utf8(rest.get(colon + 1..end)?).ok()?);
        rest = &rest[end..];
    }
    Some((instance, names))
}

/// Listens for other instances' change notices (pub/sub, on its own connection)
/// and has the task sync each named breaker at once. On one Redis server it
/// subscribes there; on a Redis Cluster to one of the nodes it was given (a
/// notice published on any node reaches every node), moving to the next when the
/// connection breaks. A notice lost while the connection is down costs only speed: the task
/// reads the change log every slice. Aborted when the fleet stops.
async fn listen(inner: Arc<Inner>) {
    let cfg = &inner.config;
    let nodes: Vec<redis::Client> = std::iter::once(&cfg.url)
        .chain(cfg.cluster.iter().flatten())
        .filter_map(|url| redis::Client::open(url.as_str()).ok())
        .collect();
    if nodes.is_empty() {
        return;
    }
    let channel = cfg.notice_channel();
    let mut backoff = cfg.slice;
    for node in nodes.iter().cycle() {
        if inner.stopped() {
            return;
        }
        let subscribed = timeout(cfg.redis_timeout, async {
            let mut pubsub = node.get_async_pubsub().await?;
            pubsub.subscribe(channel.as_str()).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        if let Ok(Ok(pubsub)) = subscribed {
            bump(&inner.stats.subscriptions, 1);
            backoff = cfg.slice;
            let mut messages = pubsub.into_on_message();
            while let Some(msg) = messages.next().await {
                hear(&inner, msg.get_payload_bytes());
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(cfg.reconnect_max);
    }
}

/// Queues the breakers a change notice names for an immediate sync.
fn hear(inner: &Inner, payload: &[u8]) {
    let Some((from, names)) = parse_notice(payload) else {
        tracing::debug!(
            bytes = payload.len(),
            "warden-redis: ignored a message on the notice channel that is not a change notice"
        );
        return;
    };
    if from == inner.instance {
        return;
    }
    let found: Vec<Arc<Shared>> = {
        let map = lock(&inner.names);
        names.iter().filter_map(|n| map.get(*n).cloned()).collect()
    };
    bump(&inner.stats.notices, found.len() as u64);
    for s in &found {
        inner.signals.sync_soon(s);
    }
}

/// One round trip (plus a follow-up when a change was announced or a policy
/// trip must be voted): the fleet's change log, then every breaker with news.
async fn round(
    inner: &Inner,
    script: &Script,
    c: &mut Conn,
    kind: Round,
    version: &mut Option<LogPosition>,
) -> Result<(), Fault> {
    let slice_due = kind == Round::Slice;
    let list: Vec<_> = lock(&inner.breakers).clone();
    if slice_due {
        fleet_throttle::share(inner, c, &list).await?;
    }
    let (version_key, changes_key) = inner.config.log_keys();
    let mut head: Vec<Cmd> = Vec::new();
    let set_epoch = slice_due && version.as_ref().is_none_or(|v| v.epoch.is_none());
    if slice_due {
        // The epoch: set once to a value of its own by an instance that found
        // it missing; a different value (or none) than last read says the data
        // was lost. Set before it is read, in the same pipeline; the idle slice
        // stays two commands.
        let epoch_key = inner.config.log_epoch_key();
        if set_epoch {
            head.push(
                redis::cmd("SET")
                    .arg(&epoch_key)
                    .arg(format!("{:016x}-{}", inner.instance, next_member()))
                    .arg("NX")
                    .clone(),
            );
        }
        head.push(redis::cmd("MGET").arg(version_key).arg(&epoch_key).clone());
        let mut z = redis::cmd("ZRANGEBYSCORE");
        z.arg(changes_key)
            .arg(format!(
                "({}",
                version.as_ref().map_or(i64::MAX, |v| v.counter)
            ))
            .arg("+inf")
            .arg("LIMIT")
            .arg(0)
            .arg(CHANGES_MAX);
        head.push(z);
    }
    let mut items = Vec::new();
    let mut join_budget = JOIN_PER_SLICE;
    // A walk over every breaker: each slice, and on wake-ups that need one.
    let scan = match kind {
        Round::Slice => {
            inner.signals.take_scan();
            true
        }
        Round::Woken => inner.signals.take_scan(),
        Round::Check => false,
    };
    // Breakers to sync now whatever the walk finds: local trips and transitions
    // other instances announced, still attached and without a problem of their own.
    let due: Vec<Arc<Shared>> = {
        let due = inner.signals.take_due();
        if due.is_empty() {
            due
        } else {
            let names = lock(&inner.names);
            due.into_iter()
                .filter(|s| {
                    names
                        .get(s.breaker.name())
                        .is_some_and(|x| Arc::ptr_eq(x, s))
                })
                .collect()
        }
    };
    // Addresses as integers: a set of pointers would make the task's future `!Send`.
    let due_set: std::collections::HashSet<usize> =
        due.iter().map(|s| Arc::as_ptr(s) as usize).collect();
    if scan {
        for (k, s) in list.iter().enumerate() {
            yield_every(k).await;
            let is_due = due_set.contains(&(Arc::as_ptr(s) as usize));
            collect(
                inner,
                script,
                s,
                &mut join_budget,
                slice_due,
                is_due,
                &mut items,
            );
        }
    } else {
        for s in &due {
            if lock(&s.track).retry_at.is_none() {
                items.push(sync_item(inner, script, s, false));
            }
        }
        if kind == Round::Check {
            for (k, s) in list.iter().enumerate() {
                yield_every(k).await;
                if !due_set.contains(&(Arc::as_ptr(s) as usize)) && wants_trip_vote(inner, s) {
                    items.push(sync_item(inner, script, s, false));
                }
            }
        }
    }
    if head.is_empty() && items.is_empty() {
        return Ok(());
    }
    let cmds: Vec<&Cmd> = head.iter().chain(items.iter().map(|i| &i.cmd)).collect();
    let values = match exec(inner, script, c, &cmds).await {
        Ok(values) => values,
        Err(fault) => {
            resend_unanswered(inner, items);
            return Err(fault);
        }
    };
    let mut values = values.into_iter();
    let mut changed: Vec<String> = Vec::new();
    let mut resync_all = false;
    if slice_due {
        if set_epoch {
            let _set = values.next();
        }
        let log = values.next().unwrap_or(Value::Nil);
        let names = values.next().unwrap_or(Value::Nil);
        let (counter, epoch) =
            redis::from_redis_value::<(Option<i64>, Option<String>)>(log).unwrap_or((None, None));
        let now = LogPosition {
            counter: counter.unwrap_or(0),
            epoch,
        };
        let names: Vec<String> = redis::from_redis_value(names).unwrap_or_default();
        match version.as_ref() {
            // First read since (re)connecting: every breaker is synced anyway.
            None => {}
            // Redis lost data: the epoch changed, or the counter went back (a
            // lost counter counts again from 0, but other instances' transitions
            // may have taken it past the old value already, so the epoch is
            // what tells). Resync (and republish) all.
            Some(old)
                if now.counter < old.counter || old.epoch.is_some() && now.epoch != old.epoch =>
            {
                resync_all = true;
            }
            Some(_) if names.len() >= CHANGES_MAX => resync_all = true,
            Some(_) => changed = names,
        }
        *version = Some(now);
    }
    let mut follow = Vec::new();
    let mut announced = Vec::new();
    let mut synced = std::collections::HashSet::new();
    for (item, v) in items.into_iter().zip(values) {
        if matches!(item.job, Job::Sync { .. } | Job::Vote) {
            synced.insert(item.s.breaker.name().to_owned());
        }
        handle(inner, script, item, v, &mut follow, &mut announced);
    }
    if resync_all || !changed.is_empty() {
        let by_name: HashMap<&str, &Arc<Shared>> =
            list.iter().map(|s| (s.breaker.name(), s)).collect();
        let targets: Vec<&Arc<Shared>> = if resync_all {
            // Every breaker syncs again, over the next slices (see `JOIN_PER_SLICE`);
            // those holding an open decision at once, to republish it.
            let now = Instant::now();
            list.iter()
                .filter(|s| {
                    let mut t = lock(&s.track);
                    t.dirty = true;
                    t.hold_until.is_some_and(|u| u > now)
                })
                .collect()
        } else {
            changed
                .iter()
                .filter(|n| !synced.contains(n.as_str()))
                .filter_map(|n| by_name.get(n.as_str()).copied())
                .collect()
        };
        for s in targets {
            if lock(&s.track).retry_at.is_some() {
                continue;
            }
            follow.push(sync_item(inner, script, s, false));
        }
    }
    if follow.is_empty() {
        return announce(inner, c, &mut announced).await;
    }
    // What the first round changed is announced now (it would wait
    // for the follow-up otherwise).
    if let Err(fault) = announce(inner, c, &mut announced).await {
        resend_unanswered(inner, follow);
        return Err(fault);
    }
    let cmds: Vec<&Cmd> = follow.iter().map(|i| &i.cmd).collect();
    let values = match exec(inner, script, c, &cmds).await {
        Ok(values) => values,
        Err(fault) => {
            resend_unanswered(inner, follow);
            return Err(fault);
        }
    };
    let mut ignored = Vec::new();
    for (item, v) in follow.into_iter().zip(values) {
        handle(inner, script, item, v, &mut ignored, &mut announced);
    }
    announce(inner, c, &mut announced).await
}

/// A round trip that failed (Redis unreachable, or slower than
/// [`redis_timeout`](crate::FleetConfig::redis_timeout)) may still have run in
/// Redis: probe outcomes are sent again, and the tokens a claim may have been
/// granted are given back, with the next connection's first round trip (see
/// `release_leftovers`). Both are fenced by the token's name, so what Redis
/// already saw changes nothing; without this a claim whose reply was lost held
/// the fleet's probe slots until their time to live. The counts of a sync are
/// not sent again: Redis may already hold them, and counting them twice could
/// trip the fleet; but whether the fleet's counts (with them, if Redis ran the
/// sync) trip the fleet is judged on the breaker's next sync, as is a lost
/// policy vote's: only the instance that published counts judges them, so
/// without this counts that trip the fleet, recorded by a sync whose reply was
/// lost, opened it only when a later call was published. A lost local trip's
/// vote needs nothing: it is sent again while the local breaker stays open
/// (`wants_trip_vote`).
fn resend_unanswered(inner: &Inner, items: Vec<Item>) {
    for item in items {
        match item.job {
            Job::Report(r) => inner.signals.orphan(&item.s, [r]),
            Job::Claim {
                generation,
                prefix,
                n,
                ..
            } => inner.signals.orphan(
                &item.s,
                (1..=n).map(|j| Report {
                    generation,
                    member: format!("{prefix}.{j}"),
                    code: REPORT_RELEASE,
                }),
            ),
            Job::Sync {
                published: true, ..
            }
            | Job::Vote => lock(&item.s.track).judge = true,
            Job::Sync { .. } => {}
        }
    }
}

fn sync_item(inner: &Inner, script: &Script, s: &Arc<Shared>, force_trip: bool) -> Item {
    let (delta, trip) = poll(inner, s);
    let judge = {
        let mut t = lock(&s.track);
        t.last_sync = Some(Instant::now());
        std::mem::take(&mut t.judge)
    };
    let trip = trip || force_trip;
    let cmd = script_cmd(
        inner,
        script,
        s,
        OP_SYNC,
        &[
            Arg::Int(delta.requests as i64),
            Arg::Int(delta.successes as i64),
            Arg::Int(delta.failures as i64),
            Arg::Int(delta.exclusions as i64),
            Arg::Int(delta.last_consecutive_successes as i64),
            Arg::Int(delta.last_consecutive_failures as i64),
            Arg::Int(i64::from(trip)),
            Arg::Int(0),
        ],
    );
    Item {
        s: Arc::clone(s),
        cmd,
        job: Job::Sync {
            trip,
            published: !delta.is_empty() || judge,
        },
    }
}

/// The script calls `s` needs this round: reports, unused tokens given back, a
/// bounded claim, and (once per slice when it has news, or when `due`) the sync.
fn collect(
    inner: &Inner,
    script: &Script,
    s: &Arc<Shared>,
    join_budget: &mut usize,
    slice_due: bool,
    due: bool,
    items: &mut Vec<Item>,
) {
    let now = Instant::now();
    {
        let mut t = lock(&s.track);
        if let Some(at) = t.retry_at {
            if now < at || !slice_due {
                return;
            }
            t.retry_at = None;
            t.dirty = true;
        }
    }
    let reports = std::mem::take(&mut *lock(&s.reports));
    let reported = !reports.is_empty();
    for r in reports {
        items.push(report_item(inner, script, s, &r));
    }
    // Tokens claimed but left unused for half their TTL go back to the fleet, so an
    // instance whose demand vanished does not sit on the fleet's probes.
    let idle_after = (inner.config.probe_ttl / 2).max(inner.config.slice);
    let idle: Vec<Token> = {
        let now = std::time::Instant::now();
        let mut pool = lock(&s.pool);
        if pool.is_empty() {
            Vec::new()
        } else {
            let (idle, keep) = std::mem::take(&mut *pool)
                .into_iter()
                .partition(|t| now.duration_since(t.claimed_at) > idle_after);
            *pool = keep;
            idle
        }
    };
    for t in idle {
        let r = Report {
            generation: t.generation,
            member: t.member,
            code: REPORT_RELEASE,
        };
        items.push(report_item(inner, script, s, &r));
    }
    // After a refused claim the cap is full: claim again at the next slice (or after
    // a report), not on every refused call. Relaxed: a request counter (see
    // `Shared::take_token`); taking it re-arms the wake-up.
    let (blocked, fleet) = {
        let t = lock(&s.track);
        (t.claims_blocked && !slice_due && !reported, t.fleet)
    };
    if !blocked {
        let wanted = s.wanted.swap(0, Ordering::Relaxed);
        if let (true, Some((2, generation))) = (wanted > 0, fleet) {
            lock(&s.track).claims_blocked = false;
            let n = wanted
                .min(s.breaker.settings().max_requests())
                .min(CLAIM_BATCH);
            let prefix = format!("{:016x}-{}", inner.instance, next_member());
            let ttl = i64::try_from(inner.config.probe_ttl.as_millis()).unwrap_or(i64::MAX);
            let cmd = script_cmd(
                inner,
                script,
                s,
                OP_CLAIM,
                &[
                    Arg::Int(generation as i64),
                    Arg::Str(&prefix),
                    Arg::Int(i64::from(n)),
                    Arg::Int(ttl),
                ],
            );
            items.push(Item {
                s: Arc::clone(s),
                cmd,
                job: Job::Claim {
                    generation,
                    prefix,
                    n,
                    claimed_at: std::time::Instant::now(),
                },
            });
        }
    }
    let vote = due || wants_trip_vote(inner, s);
    let sync = vote
        || (slice_due && {
            let b = &s.breaker;
            let mut t = lock(&s.track);
            let counts = b.counts();
            let delta = Delta::between(t.prev, counts);
            if delta.is_empty() && counts != t.prev {
                // A local reset with nothing new: nothing to publish.
                t.prev = counts;
            }
            let open_due = matches!(t.fleet, Some((1, _)))
                && (t.forced_until.is_none_or(|u| u <= now)
                    || t.last_sync
                        .is_none_or(|at| now >= at + inner.config.slice * RECHECK_SLICES));
            let holds = t.hold_until.is_some_and(|u| u > now);
            if !delta.is_empty() || open_due {
                true
            } else if t.fleet.is_none() || t.dirty {
                // Only to (re)join: bounded per slice, so a full resync of many
                // breakers is spread over slices that each fit the timeout; a held
                // open decision (to republish if lost) never waits.
                holds
                    || (*join_budget > 0 && {
                        *join_budget -= 1;
                        true
                    })
            } else {
                false
            }
        })
        // Between slices (a walk asked for by a wake-up, e.g. a breaker attached):
        // a breaker that never joined joins now, within the same budget per round.
        || (!slice_due
            && lock(&s.track).fleet.is_none()
            && *join_budget > 0
            && {
                *join_budget -= 1;
                true
            });
    if sync {
        items.push(sync_item(inner, script, s, false));
    }
}

fn report_item(inner: &Inner, script: &Script, s: &Arc<Shared>, r: &Report) -> Item {
    let cmd = script_cmd(
        inner,
        script,
        s,
        OP_REPORT,
        &[
            Arg::Int(r.generation as i64),
            Arg::Str(&r.member),
            Arg::Int(r.code),
        ],
    );
    Item {
        s: Arc::clone(s),
        cmd,
        job: Job::Report(r.clone()),
    }
}

/// Applies one script reply (or its error) to its breaker.
fn handle(
    inner: &Inner,
    script: &Script,
    item: Item,
    v: Value,
    follow: &mut Vec<Item>,
    announced: &mut Vec<String>,
) {
    let s = &item.s;
    let reply = match v {
        Value::ServerError(e) => {
            let what = format!("{}: {}", e.code(), e.details().unwrap_or(""));
            breaker_problem(inner, s, Coordination::BadKey, &what);
            return;
        }
        v => match redis::from_redis_value::<Vec<i64>>(v)
            .ok()
            .and_then(|v| Reply::parse(&v))
        {
            Some(r) => r,
            None => {
                breaker_problem(
                    inner,
                    s,
                    Coordination::BadKey,
                    "the script returned an unexpected reply",
                );
                return;
            }
        },
    };
    if reply.state == MISMATCH {
        breaker_problem(
            inner,
            s,
            Coordination::SettingsMismatch,
            "another instance shares this breaker with different settings",
        );
        return;
    }
    if s.set_issue(None) {
        tracing::info!(
            breaker = s.breaker.name(),
            "warden-redis: breaker coordinates fleet-wide again"
        );
    }
    if reply.changed {
        announced.push(s.breaker.name().to_owned());
    }
    if reply.restored {
        bump(&inner.stats.restores, 1);
        tracing::warn!(
            breaker = s.breaker.name(),
            "warden-redis: Redis had lost this breaker's fleet state; republished what this instance knew"
        );
    }
    match item.job {
        Job::Report(_) | Job::Vote => apply(inner, s, reply),
        Job::Claim {
            generation,
            prefix,
            n: _,
            claimed_at,
        } => {
            if reply.granted > 0 && reply.state == 2 && reply.generation == generation {
                // A margin of a tenth of the TTL before Redis may hand the slot on.
                let usable = inner.config.probe_ttl - inner.config.probe_ttl / 10;
                let tokens = (1..=reply.granted).map(|j| Token {
                    generation,
                    member: format!("{prefix}.{j}"),
                    claimed_at,
                    usable_until: claimed_at + usable,
                });
                let mut pool = lock(&s.pool);
                if s.detached() {
                    // Detached while claiming: the tokens go back to the fleet.
                    drop(pool);
                    lock(&inner.leftover).extend(tokens.map(|t| (Arc::clone(s), t)));
                } else {
                    pool.extend(tokens);
                }
            }
            apply(inner, s, reply);
            if reply.granted == 0 {
                lock(&s.track).claims_blocked = true;
            }
        }
        Job::Sync { trip, published } => {
            {
                let mut t = lock(&s.track);
                t.dirty = false;
                if trip && reply.state == 1 {
                    t.trip_voted = true;
                }
                if reply.state == 0 {
                    t.fleet_counts = Some(fleet_counts(reply.counts));
                }
            }
            apply(inner, s, reply);
            if reply.state == 0
                && published
                && !s.detached()
                && policy_trips(&s.breaker, reply.counts)
            {
                let cmd = script_cmd(
                    inner,
                    script,
                    s,
                    OP_SYNC,
                    &[
                        Arg::Int(0),
                        Arg::Int(0),
                        Arg::Int(0),
                        Arg::Int(0),
                        Arg::Int(0),
                        Arg::Int(0),
                        Arg::Int(1),
                        Arg::Int(reply.generation as i64),
                    ],
                );
                follow.push(Item {
                    s: Arc::clone(s),
                    cmd,
                    job: Job::Vote,
                });
            }
        }
    }
}

/// One breaker cannot coordinate: it decides locally, says why (status, a
/// counter, one log line per change) and is retried after `reconnect_max`.
fn breaker_problem(inner: &Inner, s: &Shared, issue: Coordination, why: &str) {
    go_local(s);
    lock(&s.track).retry_at = Some(Instant::now() + inner.config.reconnect_max);
    bump(
        if issue == Coordination::BadKey {
            &inner.stats.bad_keys
        } else {
            &inner.stats.mismatches
        },
        1,
    );
    if s.set_issue(Some(issue)) {
        let why: String = why.chars().take(200).collect();
        tracing::warn!(
            breaker = s.breaker.name(),
            coordination = %issue,
            reason = %why,
            "warden-redis: this breaker decides locally"
        );
    }
}

/// Gives back the tokens in `leftover` (of detached breakers, or of every
/// breaker at a stop) and, with `all_pools` (the fleet is stopping), the unused
/// tokens still in every attached breaker's pool; sends the outcomes of probes
/// whose breaker was detached (their replies change nothing locally: the
/// breakers are detached) or whose round trip failed. Only the tokens given
/// back count as released. False if the round trip failed: everything is kept
/// for the next attempt.
async fn release_leftovers(inner: &Inner, script: &Script, c: &mut Conn, all_pools: bool) -> bool {
    let mut tokens = std::mem::take(&mut *lock(&inner.leftover));
    if all_pools {
        let list: Vec<_> = lock(&inner.breakers).clone();
        for s in &list {
            let pool = std::mem::take(&mut *lock(&s.pool));
            tokens.extend(pool.into_iter().map(|t| (Arc::clone(s), t)));
        }
    }
    let orphans = inner.signals.take_orphans();
    if tokens.is_empty() && orphans.is_empty() {
        return true;
    }
    let released = tokens.len();
    let items: Vec<Item> = tokens
        .iter()
        .map(|(s, t)| {
            let r = Report {
                generation: t.generation,
                member: t.member.clone(),
                code: REPORT_RELEASE,
            };
            report_item(inner, script, s, &r)
        })
        .chain(
            orphans
                .iter()
                .map(|(s, r)| report_item(inner, script, s, r)),
        )
        .collect();
    let cmds: Vec<&Cmd> = items.iter().map(|i| &i.cmd).collect();
    let Ok(values) = exec(inner, script, c, &cmds).await else {
        // Kept for the next attempt (Redis may have run some: a release or a
        // report sent twice counts once).
        bump(&inner.stats.errors, 1);
        drop(items);
        lock(&inner.leftover).extend(tokens);
        for (s, r) in orphans {
            inner.signals.orphan(&s, [r]);
        }
        return false;
    };
    let ok = values[..released.min(values.len())]
        .iter()
        .filter(|v| !matches!(v, Value::ServerError(_)))
        .count();
    bump(&inner.stats.released, ok as u64);
    true
}

fn next_member() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    // Relaxed: only uniqueness matters.
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The local breaker's policy applied to the fleet's counts. A count or time
/// window's rate rule is applied to the fleet's counts since its last transition
/// or interval reset (the fleet keeps no per-call ring or time buckets); slow
/// calls are judged locally only (a local trip still reaches the fleet). An
/// adaptive throttle never opens the breaker, so it never opens the fleet either;
/// it sheds on the fleet's window, which `fleet_throttle.rs` shares apart.
fn policy_trips(b: &CircuitBreaker, counts: [u64; 6]) -> bool {
    let c = fleet_counts(counts);
    let calls = c.total_successes.saturating_add(c.total_failures);
    let settings = b.settings();
    if settings.adaptive_throttle().is_some() {
        return false;
    }
    if let Some(w) = settings.count_window() {
        return w.trips(calls, c.total_failures);
    }
    if let Some(w) = settings.time_window() {
        return w.trips(calls, c.total_failures);
    }
    settings.ready_to_trip(&c)
}

/// Whether the local breaker is in a manual mode set by hand (the fleet leaves it alone).
fn manual_by_hand(t: &Track, mode: Mode) -> bool {
    match mode {
        Mode::Normal => false,
        Mode::ForcedOpen => !t.forced_by_fleet,
        Mode::ForcedClosed | Mode::Disabled => true,
    }
}

/// Whether the local breaker tripped on its own and the fleet should hear of it now.
fn wants_trip_vote(inner: &Inner, s: &Shared) -> bool {
    if !inner.config.propagate_local_trips {
        return false;
    }
    let t = *lock(&s.track);
    matches!(t.fleet, Some((0, _)))
        && !t.trip_voted
        && s.breaker.mode() == Mode::Normal
        && s.breaker.state() == State::Open
}

/// Reads the local breaker: the counts to publish and whether a local trip is to
/// be reported.
fn poll(inner: &Inner, s: &Shared) -> (Delta, bool) {
    let mut t = lock(&s.track);
    let b = &s.breaker;
    let state = b.state();
    let mode = b.mode();
    let counts = b.counts();
    if mode == Mode::Normal {
        t.forced_by_fleet = false;
    }
    let fleet_closed = matches!(t.fleet, Some((0, _)));
    let by_hand = manual_by_hand(&t, mode);
    let mut delta = Delta::default();
    let mut trip = false;
    if fleet_closed && !by_hand {
        match state {
            State::Closed => delta = Delta::between(t.prev, counts),
            State::Open if mode == Mode::Normal => {
                trip = inner.config.propagate_local_trips && !t.trip_voted;
            }
            _ => {}
        }
    }
    if state != State::Open {
        t.trip_voted = false;
    }
    t.prev = counts;
    (delta, trip)
}

/// Applies a fleet state to the local breaker and the verdict.
fn apply(inner: &Inner, s: &Shared, r: Reply) {
    let mut t = lock(&s.track);
    // Detached: the breaker decides locally, whatever a late reply says (applied,
    // it could force the breaker open with nothing left to release it).
    if inner.stopped() || s.detached() {
        return;
    }
    let b = &s.breaker;
    let mode = b.mode();
    let by_hand = manual_by_hand(&t, mode);
    if t.incarnation != r.incarnation {
        // Another incarnation of the state: tokens of the old one are void.
        lock(&s.pool).clear();
        t.incarnation = r.incarnation;
    }
    let changed = t.fleet != Some((r.state, r.generation));
    let was_fleet_controlled = matches!(t.fleet, Some((1 | 2, _)));
    match r.state {
        1 => {
            // Never longer than the breaker's own timeout, whatever Redis's clock says.
            let remaining = r.remaining_ms.min(b.settings().timeout_ticks());
            let until = Instant::now() + Duration::from_millis(remaining);
            if !by_hand {
                if changed {
                    b.force_open();
                    t.forced_by_fleet = true;
                    lock(&s.pool).clear();
                }
                if t.forced_by_fleet {
                    t.forced_until = Some(until);
                }
            }
            t.hold_until = Some(until);
            s.set_verdict(0);
        }
        2 => {
            if changed {
                if t.forced_by_fleet && mode == Mode::ForcedOpen {
                    // Half-open at the next millisecond tick: probes decide.
                    b.force_open_for(Duration::ZERO);
                }
                t.forced_until = None;
                lock(&s.pool).retain(|tok| tok.generation == r.generation);
            }
            t.hold_until = None;
            s.set_verdict(if by_hand { 0 } else { HALF_OPEN | r.generation });
        }
        _ => {
            if changed && was_fleet_controlled && !by_hand {
                b.reset();
                t.prev = b.counts();
            }
            if changed {
                t.forced_by_fleet = false;
                t.forced_until = None;
                lock(&s.pool).clear();
            }
            t.hold_until = None;
            s.set_verdict(0);
        }
    }
    t.fleet = Some((r.state, r.generation));
    if r.state != 0 {
        t.fleet_counts = Some(Counts::default());
    }
    s.set_known(Some(FleetView::encode(r.state, r.generation)));
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use warden_breaker::{CountWindow, TimeWindow};

    use super::*;

    /// Fleet counts as the script returns them: requests, successes, failures,
    /// exclusions, consecutive successes, consecutive failures.
    fn counts(successes: u64, failures: u64, consecutive_failures: u64) -> [u64; 6] {
        [
            successes + failures,
            successes,
            failures,
            0,
            0,
            consecutive_failures,
        ]
    }

    #[test]
    fn every_name_gets_a_brace_free_non_empty_tag_of_its_own() {
        assert_eq!(hash_tag("db"), "db");
        assert_eq!(hash_tag(""), "%");
        assert_eq!(hash_tag("a{b}c"), "a%7Bb%7Dc");
        assert_eq!(hash_tag("}{"), "%7D%7B");
        assert_eq!(hash_tag("%"), "%25");
        assert_eq!(hash_tag("%7B"), "%257B");
        let names = ["", "%", "{", "}", "%7B", "{}", "a", "a{", "a%7B", "%25"];
        let tags: std::collections::HashSet<_> = names.iter().map(|n| hash_tag(n)).collect();
        assert_eq!(tags.len(), names.len(), "two names share a tag");
        assert!(
            tags.iter()
                .all(|t| !t.is_empty() && !t.contains(['{', '}']))
        );
    }

    #[test]
    fn change_notices_carry_any_names_and_are_cut_at_the_size_limit() {
        let names: Vec<String> = ["db", "", "a:b", "7:x", "line\nbreak", "{}", "é"]
            .iter()
            .map(|n| (*n).to_owned())
            .collect();
        let out = notices(0xabc, &names);
        assert_eq!(out.len(), 1);
        let (from, got) = parse_notice(&out[0]).unwrap();
        assert_eq!(from, 0xabc);
        assert_eq!(got, names.iter().map(String::as_str).collect::<Vec<_>>());
        // 10,000 names: several notices, each within the limit, none lost.
        let many: Vec<String> = (0..10_000).map(|k| format!("dependency-{k}")).collect();
        let out = notices(1, &many);
        assert!(out.len() > 1);
        assert!(out.iter().all(|p| p.len() <= NOTICE_MAX + 17));
        let back: Vec<&str> = out
            .iter()
            .flat_map(|p| parse_notice(p).unwrap().1)
            .collect();
        assert_eq!(back, many.iter().map(String::as_str).collect::<Vec<_>>());
        // A 1 MiB name goes alone.
        let big = vec!["x".repeat(1 << 20), "y".to_owned()];
        let out = notices(2, &big);
        assert_eq!(out.len(), 2);
        assert_eq!(parse_notice(&out[0]).unwrap().1, [big[0].as_str()]);
        assert!(notices(3, &[]).is_empty());
    }

    #[test]
    fn anything_else_on_the_channel_is_not_a_notice() {
        for bad in [
            &b""[..],
            b"hello",
            b"000000000000000z\n2:db",
            b"0000000000000001",
            b"0000000000000001 2:db",
            b"0000000000000001\n3:db",
            b"0000000000000001\n2db",
            b"0000000000000001\n99999999999999999999999:db",
            b"0000000000000001\n-1:db",
            b"0000000000000001\n1:\xff",
        ] {
            assert!(parse_notice(bad).is_none(), "{bad:?}");
        }
        assert_eq!(
            parse_notice(b"0000000000000001\n").unwrap(),
            (1, Vec::<&str>::new())
        );
    }

    #[test]
    fn the_local_rule_decides_on_the_fleet_counts() {
        let default = CircuitBreaker::builder("d").build().unwrap();
        assert!(
            !policy_trips(&default, counts(0, 5, 5)),
            "more than 5 in a row"
        );
        assert!(policy_trips(&default, counts(0, 6, 6)));
        let count = CircuitBreaker::builder("c")
            .count_window(
                CountWindow::new(100)
                    .with_min_calls(10)
                    .with_failure_rate_percent(50),
            )
            .build()
            .unwrap();
        assert!(!policy_trips(&count, counts(6, 4, 1)), "40 %");
        assert!(policy_trips(&count, counts(5, 5, 1)), "50 % of 10");
        let time = CircuitBreaker::builder("t")
            .time_window(
                TimeWindow::new(Duration::from_secs(10))
                    .with_buckets(10)
                    .with_min_calls(20)
                    .with_failure_rate_percent(50),
            )
            .build()
            .unwrap();
        assert!(!policy_trips(&time, counts(5, 14, 14)), "under the minimum");
        assert!(policy_trips(&time, counts(10, 10, 1)), "50 % of 20");
        assert!(
            !policy_trips(&time, counts(11, 9, 9)),
            "45 %, whatever the streak"
        );
        // The adaptive throttle never opens: not on 100 failures in a row either
        // (the default rule would).
        let throttle = CircuitBreaker::builder("a")
            .adaptive_throttle(warden_breaker::AdaptiveThrottle::new(Duration::from_secs(
                10,
            )))
            .build()
            .unwrap();
        assert!(!policy_trips(&throttle, counts(0, 100, 100)));
    }

    #[test]
    fn the_adaptive_throttle_is_part_of_the_fingerprint() {
        let plain = CircuitBreaker::builder("p").build().unwrap();
        assert!(!fingerprint(&plain.settings()).contains(" a"));
        let fp = |k: f64| {
            let cb = CircuitBreaker::builder("a")
                .adaptive_throttle(
                    warden_breaker::AdaptiveThrottle::new(Duration::from_secs(10)).with_k(k),
                )
                .build()
                .unwrap();
            fingerprint(&cb.settings())
        };
        assert_ne!(fp(2.0), fp(1.5), "instances with different k do not share");
        assert_ne!(fp(2.0), fingerprint(&plain.settings()));
    }
}
