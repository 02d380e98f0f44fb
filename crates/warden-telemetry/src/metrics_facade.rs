//! The [`metrics`] facade (feature `metrics`): the families set from the
//! breakers' totals by a periodic task or at transitions, never per call.
//!
//! | name | kind | labels |
//! | --- | --- | --- |
//! | `warden_circuit_breaker_state` | gauge | `name` (0 closed, 1 open, 2 half-open) |
//! | `warden_circuit_breaker_successes_total` | counter | `name` |
//! | `warden_circuit_breaker_failures_total` | counter | `name` |
//! | `warden_circuit_breaker_timeouts_total` | counter | `name` |
//! | `warden_circuit_breaker_rejections_total` | counter | `name`, `reason` (`open`, `too_many_requests`, `bulkhead_full`; `throttled` once an adaptive throttle shed a call) |
//! | `warden_circuit_breaker_transitions_total` | counter | `name`, `from`, `to` |
//! | `warden_circuit_breaker_throttle_probability` | gauge | `name` (only breakers whose trip rule is an adaptive throttle): the probability, 0 to 1, with which it rejects a call now |
//! | `warden_retry_attempts_total` | counter | `name` (once a retry attempt was counted) |
//! | `warden_retry_retries_total` | counter | `name` (likewise) |
//!
//! Timeouts, bulkhead rejections and retry attempts are the breaker name's
//! [`CallerCounts`], which the caller records (the
//! `warden-kit` facade does for every name it creates); the rest is read from
//! the breaker itself. The throttle gauge is
//! [`CircuitBreaker::throttle_probability`] at the export: the throttle's last
//! evaluation, 0 while the breaker is not closed by its rules. A breaker
//! reconfigured away from its throttle has its gauge set to 0 at the next
//! export, then no longer exported (the facade cannot remove a series); a
//! dropped breaker's series keep their last values in the recorder.
//!
//! Counters are added to ([`Counter::increment`](metrics::Counter::increment))
//! by what the breaker's lifetime totals gained since the last export, so
//! missing an export loses nothing (the next one catches up), and a breaker
//! that replaces another of its name (a registry evicting an idle name and
//! creating it again) continues the name's series in any recorder, also one
//! that keeps a counter for the process's life (setting counters to the new
//! breaker's smaller totals left them stuck there). What was counted before
//! the recorder was installed is not in it. Call [`MetricsFacade::export`] from your own periodic task,
//! or let [`MetricsFacade::every`] run one on a thread; install
//! [`MetricsFacade::on_state_change`] as a breaker's callback to export it at
//! each transition as well (the state gauge is then exact in transition order).
//!
//! ```
//! use std::sync::Arc;
//! use warden_breaker::CircuitBreaker;
//! use warden_telemetry::metrics_facade::MetricsFacade;
//!
//! let facade = Arc::new(MetricsFacade::new());
//! let cb = Arc::new(CircuitBreaker::builder("db").build()?);
//! facade.watch(&cb);
//! let _ = cb.call(|| Ok::<_, ()>(()));
//! facade.export(); // into whatever recorder is installed (none here: a no-op)
//! # Ok::<(), warden_breaker::ConfigError>(())
//! ```

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use warden_breaker::{CircuitBreaker, State};

use crate::periodic::Periodic;
use crate::watched::{Replaced, Watched};
use crate::{CallerCounts, edges, label, rejections};

/// Exports the breakers it watches through the `metrics` facade.
#[derive(Default)]
pub struct MetricsFacade {
    watched: Watched<Sent>,
}

impl fmt::Debug for MetricsFacade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsFacade").finish_non_exhaustive()
    }
}

impl MetricsFacade {
    /// No breakers yet.
    ///
    /// ```
    /// let _m = warden_telemetry::metrics_facade::MetricsFacade::new();
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Exports `breaker` (held weakly) from now on, starting with its current
    /// values, and returns the [`CallerCounts`] exported with it: record its
    /// timeouts, bulkhead rejections and retry attempts there. A later breaker
    /// of the same name replaces it and keeps the counts. Watching the same
    /// breaker again changes nothing; watching a breaker again after another
    /// of its name replaced it counts its totals once more (only the latest
    /// breaker of a name is remembered): replace a name's breaker with a new
    /// one, never with an earlier one.
    ///
    /// ```
    /// let m = warden_telemetry::metrics_facade::MetricsFacade::new();
    /// let counts = m.watch(&std::sync::Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?));
    /// counts.record_bulkhead_rejection(); // exported at the next export
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn watch(&self, breaker: &Arc<CircuitBreaker>) -> Arc<CallerCounts> {
        let (counts, sent) = self.watched.watch_with_extra(breaker, None, Sent::after);
        export_one(breaker, &counts, &sent, None);
        counts
    }

    /// [`watch`](Self::watch) with counts shared with other backends (or kept
    /// by the caller).
    ///
    /// ```
    /// use std::sync::Arc;
    /// let m = warden_telemetry::metrics_facade::MetricsFacade::new();
    /// let counts = Arc::new(warden_telemetry::CallerCounts::default());
    /// m.watch_with(&Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?), &counts);
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn watch_with(&self, breaker: &Arc<CircuitBreaker>, counts: &Arc<CallerCounts>) {
        let (_, sent) = self
            .watched
            .watch_with_extra(breaker, Some(counts), Sent::after);
        export_one(breaker, counts, &sent, None);
    }

    /// Sets every family of every watched breaker; returns how many breakers
    /// were exported. The state is read with [`CircuitBreaker::state`], which
    /// performs a due transition (an open breaker whose timeout passed turns
    /// half-open).
    ///
    /// ```
    /// assert_eq!(warden_telemetry::metrics_facade::MetricsFacade::new().export(), 0);
    /// ```
    pub fn export(&self) -> usize {
        let live = self.watched.live_with_extra();
        for (cb, counts, sent) in &live {
            export_one(cb, counts, sent, None);
        }
        live.len()
    }

    /// The state-change callback: exports the breaker named `name` with its new
    /// state `to`.
    ///
    /// ```
    /// use warden_telemetry::{State, metrics_facade::MetricsFacade};
    /// MetricsFacade::new().on_state_change("db", State::Closed, State::Open);
    /// ```
    pub fn on_state_change(&self, name: &str, _from: State, to: State) {
        if let Some((cb, counts, sent)) = self.watched.get_with_extra(name) {
            export_one(&cb, &counts, &sent, Some(to));
        }
    }

    /// Runs [`export`](Self::export) on a thread of its own, once at once and
    /// then every `period`, until the returned [`Exporting`] is dropped (which
    /// stops and joins it; the first export is done by then).
    ///
    /// An export that panics (a panicking recorder or subscriber) ends only
    /// that export: the thread goes on with the next one a period later.
    ///
    /// # Errors
    ///
    /// The thread could not be spawned, or `period` is zero (an error of kind
    /// [`InvalidInput`](std::io::ErrorKind::InvalidInput)).
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// let m = Arc::new(warden_telemetry::metrics_facade::MetricsFacade::new());
    /// let running = m.every(Duration::from_secs(10))?;
    /// drop(running); // stops at once
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn every(self: &Arc<Self>, period: Duration) -> std::io::Result<Exporting> {
        let this = Arc::clone(self);
        Periodic::spawn("warden-metrics-export", period, move || {
            this.export();
        })
        .map(|thread| Exporting { _thread: thread })
    }
}

/// The thread of [`MetricsFacade::every`]; dropping it stops the thread.
pub struct Exporting {
    /// Stops and joins the thread when dropped.
    _thread: Periodic,
}

impl fmt::Debug for Exporting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exporting").finish_non_exhaustive()
    }
}

/// What this facade has added to each counter of one watched breaker: an export
/// adds what the totals gained since. The breaker's part starts at 0 with each
/// breaker watched and is shared by every watch of the same breaker; the
/// caller's part goes with the name's [`CallerCounts`], kept while the name
/// keeps them.
#[derive(Debug, Default)]
struct Sent {
    own: Arc<BreakerSent>,
    caller: Arc<CallerSent>,
}

/// [`Sent`] of a breaker's own totals.
#[derive(Debug, Default)]
struct BreakerSent {
    successes: AtomicU64,
    failures: AtomicU64,
    rejected_open: AtomicU64,
    rejected_too_many: AtomicU64,
    rejected_throttled: AtomicU64,
    /// By edge: `from * 3 + to`, as gauge values.
    transitions: [AtomicU64; 9],
    /// Transitions exported so far: held while the state gauge is set (see
    /// [`set_state`]).
    transitions_seen: Mutex<u64>,
    /// Whether the throttle gauge holds a value of this breaker's throttle, so
    /// the first export after it lost its throttle sets it to 0.
    throttle_gauge: AtomicBool,
}

/// [`Sent`] of a name's [`CallerCounts`].
#[derive(Debug, Default)]
struct CallerSent {
    timeouts: AtomicU64,
    bulkhead: AtomicU64,
    attempts: AtomicU64,
    retries: AtomicU64,
}

impl Sent {
    /// The record of a breaker newly watched: its own part from 0, the caller's
    /// from `old`'s if the name keeps its counts.
    /// The same breaker watched again shares its record (not a copy, which an
    /// export running meanwhile would leave behind: its gain then added twice),
    /// so nothing is added twice.
    fn after(old: Option<Replaced<'_, Sent>>) -> Self {
        let caller = old
            .as_ref()
            .filter(|o| o.counts_kept)
            .map(|o| Arc::clone(&o.extra.caller))
            .unwrap_or_default();
        let own = old
            .as_ref()
            .filter(|o| o.same_breaker)
            .map(|o| Arc::clone(&o.extra.own))
            .unwrap_or_default();
        Self { own, caller }
    }

    fn rejected(&self, reason: &str) -> &AtomicU64 {
        match reason {
            "open" => &self.own.rejected_open,
            "too_many_requests" => &self.own.rejected_too_many,
            "bulkhead_full" => &self.caller.bulkhead,
            _ => &self.own.rejected_throttled,
        }
    }
}

/// Adds to `counter` what the total `now` gained since `sent`'s value, and
/// moves `sent` on. Counters are only ever added to: a recorder that keeps
/// them (one value per series for the process's life, where `absolute` keeps
/// the largest value given) sees a replaced breaker's counts continue its
/// name's series, where setting them to the new breaker's smaller totals
/// left them stuck until it caught up.
fn add(counter: metrics::Counter, sent: &AtomicU64, now: u64) {
    // Relaxed: `fetch_max` alone hands each unit to one export, whichever of two
    // racing ones (the periodic export and a transition's) gets it; the totals
    // publish nothing else.
    let before = sent.fetch_max(now, Ordering::Relaxed);
    counter.increment(now.saturating_sub(before));
}

/// Sets the state gauge: to `transition`'s new state for a transition's
/// export, otherwise to the state read now, unless a transition's export came
/// in between (its state is newer than the one read). A read and a
/// transition's export race when a periodic export runs beside a transition:
/// setting the state read after the transition's export set its own put the
/// old state back until the next export.
fn set_state(cb: &CircuitBreaker, sent: &Sent, transition: Option<State>) {
    let lock = || {
        sent.own
            .transitions_seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    };
    let gauge = |name: String| metrics::gauge!("warden_circuit_breaker_state", "name" => name);
    match transition {
        Some(to) => {
            let gauge = gauge(cb.name().to_owned());
            let mut seen = lock();
            *seen += 1;
            gauge.set(to.as_gauge() as f64);
        }
        None => {
            let before = *lock();
            // Outside the lock: the read may run a transition's callbacks.
            let state = crate::state_of(cb);
            let gauge = gauge(cb.name().to_owned());
            let seen = lock();
            if *seen == before {
                gauge.set(state.as_gauge() as f64);
            }
        }
    }
}

fn export_one(cb: &CircuitBreaker, counts: &CallerCounts, sent: &Sent, transition: Option<State>) {
    set_state(cb, sent, transition);
    let name = cb.name().to_owned();
    let t = cb.totals();
    let throttle =
        || metrics::gauge!("warden_circuit_breaker_throttle_probability", "name" => name.clone());
    // Relaxed: the flag orders nothing else; two exports racing at the change may
    // both set 0, which is the value either way.
    if let Some(p) = crate::throttle_probability(cb) {
        sent.own.throttle_gauge.store(true, Ordering::Relaxed);
        throttle().set(p);
    } else if sent.own.throttle_gauge.swap(false, Ordering::Relaxed) {
        // Reconfigured away from its throttle: it rejects nothing now. (The
        // facade cannot remove a series; 0 is the truth, the last value was not.)
        throttle().set(0.0);
    }
    add(
        metrics::counter!("warden_circuit_breaker_successes_total", "name" => name.clone()),
        &sent.own.successes,
        t.successes,
    );
    add(
        metrics::counter!("warden_circuit_breaker_failures_total", "name" => name.clone()),
        &sent.own.failures,
        t.failures,
    );
    add(
        metrics::counter!("warden_circuit_breaker_timeouts_total", "name" => name.clone()),
        &sent.caller.timeouts,
        counts.timeouts(),
    );
    for (reason, n) in rejections(&t, counts.bulkhead_rejections()) {
        let counter = metrics::counter!(
            "warden_circuit_breaker_rejections_total",
            "name" => name.clone(),
            "reason" => reason
        );
        add(counter, sent.rejected(reason), n);
    }
    for (from, to) in edges(&t) {
        let counter = metrics::counter!(
            "warden_circuit_breaker_transitions_total",
            "name" => name.clone(),
            "from" => label(from),
            "to" => label(to)
        );
        let edge = (from.as_gauge() * 3 + to.as_gauge()) as usize;
        add(
            counter,
            &sent.own.transitions[edge],
            t.transitions(from, to),
        );
    }
    if counts.has_retries() {
        add(
            metrics::counter!("warden_retry_attempts_total", "name" => name.clone()),
            &sent.caller.attempts,
            counts.attempts(),
        );
        add(
            metrics::counter!("warden_retry_retries_total", "name" => name),
            &sent.caller.retries,
            counts.retries(),
        );
    }
}
