//! [`Fleet`]: one Redis connection and one background task per instance,
//! coordinating every attached breaker.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Script};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until, timeout};
use warden_breaker::{CircuitBreaker, Counts, Mode, State};

use crate::breaker::{FleetView, HALF_OPEN, Shared, Token, lock};
use crate::delta::{Delta, fleet_counts};
use crate::script::{LUA, OP_CLAIM, OP_REPORT, OP_SYNC, REPORT_RELEASE, Reply};
use crate::{Coordination, FleetBreaker, FleetConfig, FleetError, FleetStatus};

/// The task's bookkeeping for one breaker (behind a mutex never held across an
/// `.await`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Track {
    /// Local counts at the previous poll.
    prev: Counts,
    /// The fleet state last applied: (0 closed / 1 open / 2 half-open, generation).
    fleet: Option<(i64, u64)>,
    /// The fleet's counts of its current generation as of the last sync (zero
    /// while the fleet is open or half-open).
    pub(crate) fleet_counts: Option<Counts>,
    /// The fleet forced the local breaker open; when Redis goes away it keeps
    /// protecting until this instant, then probes locally.
    forced_until: Option<Instant>,
    /// The local breaker is in a manual mode that the fleet set.
    forced_by_fleet: bool,
    /// This local open episode was already reported as a trip.
    trip_voted: bool,
    /// The last probe-token claim was refused (the fleet's probes are all out).
    claims_blocked: bool,
}

impl Track {
    pub(crate) fn new(prev: Counts) -> Self {
        Self {
            prev,
            fleet: None,
            fleet_counts: None,
            forced_until: None,
            forced_by_fleet: false,
            trip_voted: false,
            claims_blocked: false,
        }
    }
}

/// What one `Fleet`'s handles and task share.
struct Inner {
    config: FleetConfig,
    breakers: Mutex<Vec<Arc<Shared>>>,
    wake: Arc<Notify>,
    coordination: Arc<AtomicU8>,
    stop: AtomicBool,
    instance: u64,
    scripts: AtomicU64,
    errors: AtomicU64,
    connects: AtomicU64,
}

/// Counters of what a [`Fleet`]'s background task did, to measure its cost.
///
/// ```
/// let s = warden_redis::FleetStats::default();
/// assert_eq!(s.scripts, 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FleetStats {
    /// Redis round trips made (each runs the one script, `EVALSHA`).
    pub scripts: u64,
    /// Redis calls that failed or timed out (each sends the fleet local-only).
    pub errors: u64,
    /// Connections established (the first one and every reconnection).
    pub connects: u64,
}

/// Coordinates local breakers across every instance that shares a Redis, a key
/// namespace and breaker names.
///
/// [`start`](Self::start) spawns one background task on the current tokio
/// runtime; it connects (in the background: starting never waits for Redis) and,
/// every [`slice`](FleetConfig::slice), runs one Lua script per attached breaker
/// that publishes the counts the local breaker gained since the last slice and
/// returns the fleet's state; the local policy (`ready_to_trip` or the count
/// window) is applied to the fleet-wide counts. Dropping the `Fleet` stops the task
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
/// # Ok(()) }
/// ```
pub struct Fleet {
    inner: Arc<Inner>,
    task: JoinHandle<()>,
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
            wake: Arc::new(Notify::new()),
            coordination: Arc::new(AtomicU8::new(Coordination::Connecting as u8)),
            stop: AtomicBool::new(false),
            instance: h.finish(),
            scripts: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            connects: AtomicU64::new(0),
        });
        inner.set_coordination(Coordination::Connecting);
        let task = handle.spawn(run(Arc::clone(&inner), client));
        Ok(Self { inner, task })
    }

    /// Puts `breaker` under fleet coordination. Instances coordinate a breaker by
    /// its name, so give every instance's breaker of one dependency the same name
    /// and the same settings (`max_requests`, `timeout`, `interval`, trip policy).
    /// Fails if a breaker of that name is already attached.
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
        let mut list = lock(&self.inner.breakers);
        if list.iter().any(|s| s.breaker.name() == breaker.name()) {
            return Err(FleetError::Duplicate(breaker.name().to_owned()));
        }
        let shared = Arc::new(Shared::new(
            breaker,
            Arc::clone(&self.inner.wake),
            Arc::clone(&self.inner.coordination),
        ));
        list.push(Arc::clone(&shared));
        drop(list);
        self.inner.wake.notify_one();
        Ok(FleetBreaker {
            breaker: Arc::clone(&shared.breaker),
            shared,
        })
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
        FleetStats {
            scripts: self.inner.scripts.load(Ordering::Relaxed),
            errors: self.inner.errors.load(Ordering::Relaxed),
            connects: self.inner.connects.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // SeqCst is not needed: each breaker's track mutex orders this flag against
        // a task step that is applying a fleet decision (see `apply`). Relaxed store.
        self.inner.stop.store(true, Ordering::Relaxed);
        self.task.abort();
        let list: Vec<_> = lock(&self.inner.breakers).clone();
        for s in &list {
            go_local(s);
        }
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
        // Relaxed: see `Fleet::drop`.
        self.stop.load(Ordering::Relaxed)
    }
}

/// A failed Redis round trip (error or timeout).
#[derive(Debug)]
struct Down;

/// The task: connect, then one step per breaker per slice (and on wake-ups for
/// probe tokens and reports); on any failure go local-only and reconnect with
/// backoff.
async fn run(inner: Arc<Inner>, client: Client) {
    let cfg = &inner.config;
    let conn_config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(cfg.redis_timeout))
        .set_response_timeout(Some(cfg.redis_timeout));
    let script = Script::new(LUA);
    let mut backoff = cfg.slice;
    let mut conn: Option<MultiplexedConnection> = None;
    let mut next_sync = Instant::now();
    loop {
        if inner.stopped() {
            return;
        }
        let Some(c) = conn.as_mut() else {
            let attempt = timeout(
                cfg.redis_timeout,
                client.get_multiplexed_async_connection_with_config(&conn_config),
            )
            .await;
            match attempt {
                Ok(Ok(c)) => {
                    // Relaxed: a statistics counter.
                    inner.connects.fetch_add(1, Ordering::Relaxed);
                    conn = Some(c);
                    backoff = cfg.slice;
                    next_sync = Instant::now();
                }
                _ => {
                    // Relaxed: a statistics counter.
                    inner.errors.fetch_add(1, Ordering::Relaxed);
                    lose_redis(&inner);
                    sleep(backoff).await;
                    backoff = (backoff * 2).min(cfg.reconnect_max);
                }
            }
            continue;
        };
        let now = Instant::now();
        let sync_all = now >= next_sync;
        if sync_all {
            next_sync = now + cfg.slice;
        }
        let list: Vec<_> = lock(&inner.breakers).clone();
        let mut ok = true;
        for s in &list {
            // A local trip is published at once, not at the next slice.
            let sync = sync_all || wants_trip_vote(&inner, s);
            if step(&inner, &script, c, s, sync).await.is_err() {
                ok = false;
                break;
            }
        }
        if !ok {
            // Relaxed: a statistics counter.
            inner.errors.fetch_add(1, Ordering::Relaxed);
            conn = None;
            lose_redis(&inner);
            sleep(backoff).await;
            backoff = (backoff * 2).min(cfg.reconnect_max);
            continue;
        }
        if sync_all {
            inner.set_coordination(Coordination::Fleet);
        }
        // Local breakers are looked at (no Redis) five times per slice for trips.
        let check = (cfg.slice / 5).max(Duration::from_millis(1));
        tokio::select! {
            () = sleep_until(next_sync.min(Instant::now() + check)) => {}
            () = inner.wake.notified() => {}
        }
    }
}

fn lose_redis(inner: &Inner) {
    let list: Vec<_> = lock(&inner.breakers).clone();
    for s in &list {
        go_local(s);
    }
    if !inner.stopped() {
        inner.set_coordination(Coordination::LocalOnly);
    }
}

/// Hands `s` back to its local breaker: no fleet verdict, no tokens; a breaker the
/// fleet held open stays open until the fleet's deadline, then probes locally.
fn go_local(s: &Shared) {
    let mut t = lock(&s.track);
    s.set_verdict(0);
    s.set_known(None);
    lock(&s.pool).clear();
    lock(&s.reports).clear();
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
}

/// Runs the script once for `s`.
async fn eval(
    inner: &Inner,
    script: &Script,
    c: &mut MultiplexedConnection,
    s: &Shared,
    args: &[i64],
    member: Option<&str>,
) -> Result<Reply, Down> {
    let name = s.breaker.name();
    let ns = &inner.config.namespace;
    let settings = s.breaker.settings();
    let key_ttl = (settings.timeout_ticks())
        .max(settings.interval_ticks())
        .max(inner.config.probe_ttl.as_millis() as u64)
        .saturating_mul(2)
        .max(60_000);
    let mut inv = script.key(format!("{ns}:{{{name}}}:state"));
    inv.key(format!("{ns}:{{{name}}}:counts"))
        .key(format!("{ns}:{{{name}}}:probes"))
        .arg(args[0])
        .arg(settings.timeout_ticks())
        .arg(settings.interval_ticks())
        .arg(key_ttl)
        .arg(settings.max_requests());
    for (i, a) in args[1..].iter().enumerate() {
        // Claims and reports carry the token's member as their second argument.
        match (i, member) {
            (1, Some(m)) => inv.arg(m),
            _ => inv.arg(*a),
        };
    }
    // Relaxed: a statistics counter.
    inner.scripts.fetch_add(1, Ordering::Relaxed);
    let reply: Vec<i64> = match timeout(inner.config.redis_timeout, inv.invoke_async(c)).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, breaker = name, "warden-redis: script failed");
            return Err(Down);
        }
        Err(_) => return Err(Down),
    };
    Reply::parse(&reply).ok_or(Down)
}

/// One breaker's turn: reports, token claims, then (once per slice) the sync.
async fn step(
    inner: &Inner,
    script: &Script,
    c: &mut MultiplexedConnection,
    s: &Shared,
    sync: bool,
) -> Result<(), Down> {
    let reports = std::mem::take(&mut *lock(&s.reports));
    let reported = !reports.is_empty();
    for r in reports {
        let reply = eval(
            inner,
            script,
            c,
            s,
            &[OP_REPORT, r.generation as i64, 0, r.code],
            Some(&r.member),
        )
        .await?;
        apply(inner, s, reply);
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
        let reply = eval(
            inner,
            script,
            c,
            s,
            &[OP_REPORT, t.generation as i64, 0, REPORT_RELEASE],
            Some(&t.member),
        )
        .await?;
        apply(inner, s, reply);
    }
    // After a refused claim the cap is full: claim again at the next slice (or after
    // a report), not on every refused call. Relaxed: a request counter (see
    // `Shared::take_token`); taking it re-arms the wake-up.
    let blocked = lock(&s.track).claims_blocked && !sync && !reported;
    let wanted = if blocked {
        0
    } else {
        s.wanted.swap(0, Ordering::Relaxed)
    };
    if wanted > 0 {
        lock(&s.track).claims_blocked = false;
        let max = s.breaker.settings().max_requests();
        for _ in 0..wanted.min(max) {
            let Some((2, generation)) = lock(&s.track).fleet else {
                break;
            };
            let member = format!("{:016x}-{}", inner.instance, next_member());
            let ttl = inner.config.probe_ttl.as_millis() as i64;
            let claimed_at = std::time::Instant::now();
            let reply = eval(
                inner,
                script,
                c,
                s,
                &[OP_CLAIM, generation as i64, 0, ttl],
                Some(&member),
            )
            .await?;
            if reply.granted && reply.state == 2 && reply.generation == generation {
                // A margin of a tenth of the TTL before Redis may hand the slot on.
                let usable = inner.config.probe_ttl - inner.config.probe_ttl / 10;
                lock(&s.pool).push(Token {
                    generation,
                    member,
                    claimed_at,
                    usable_until: claimed_at + usable,
                });
            }
            apply(inner, s, reply);
            if !reply.granted {
                lock(&s.track).claims_blocked = true;
                break;
            }
        }
    }
    if !sync {
        return Ok(());
    }
    let (delta, trip) = poll(inner, s);
    let reply = eval(
        inner,
        script,
        c,
        s,
        &[
            OP_SYNC,
            delta.requests as i64,
            delta.successes as i64,
            delta.failures as i64,
            delta.exclusions as i64,
            delta.last_consecutive_successes as i64,
            delta.last_consecutive_failures as i64,
            i64::from(trip),
            0,
        ],
        None,
    )
    .await?;
    {
        let mut t = lock(&s.track);
        if trip && reply.state == 1 {
            t.trip_voted = true;
        }
        if reply.state == 0 {
            t.fleet_counts = Some(fleet_counts(reply.counts));
        }
    }
    apply(inner, s, reply);
    if reply.state == 0 && !delta.is_empty() && policy_trips(&s.breaker, reply.counts) {
        let reply = eval(
            inner,
            script,
            c,
            s,
            &[OP_SYNC, 0, 0, 0, 0, 0, 0, 1, reply.generation as i64],
            None,
        )
        .await?;
        apply(inner, s, reply);
    }
    Ok(())
}

fn next_member() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    // Relaxed: only uniqueness matters.
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The local breaker's policy applied to the fleet's counts. A count or time
/// window's rate rule is applied to the fleet's counts since its last transition
/// or interval reset (the fleet keeps no per-call ring or time buckets); slow
/// calls are judged locally only (a local trip still reaches the fleet).
fn policy_trips(b: &CircuitBreaker, counts: [u64; 6]) -> bool {
    let c = fleet_counts(counts);
    let calls = c.total_successes.saturating_add(c.total_failures);
    let settings = b.settings();
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
    if inner.stopped() {
        return;
    }
    let b = &s.breaker;
    let mode = b.mode();
    let by_hand = manual_by_hand(&t, mode);
    let changed = t.fleet != Some((r.state, r.generation));
    let was_fleet_controlled = matches!(t.fleet, Some((1 | 2, _)));
    match r.state {
        1 => {
            if changed && !by_hand {
                b.force_open();
                t.forced_by_fleet = true;
                t.forced_until = Some(Instant::now() + Duration::from_millis(r.remaining_ms));
                lock(&s.pool).clear();
            }
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
    }
}
