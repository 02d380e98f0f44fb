//! `tracing` events: one per state change, and rejections as debug events
//! limited to one per breaker per transition (feature `tracing`).
//!
//! # Events
//!
//! | target | level | when | fields |
//! | --- | --- | --- | --- |
//! | [`STATE_TARGET`] `warden::state` | `WARN` to open, `INFO` to half-open or closed | every state change, from the thread whose transition won | `breaker`, `from`, `to` (`closed`, `open`, `half_open`) |
//! | [`REJECTIONS_TARGET`] `warden::rejections` | `DEBUG` | at a state change (or a [`Tracing::report`]) if calls were refused since the last one | `breaker`, `state` (the state they were refused in), `open`, `too_many_requests`, `throttled` (refused since the last event, by reason), `total` (refused over the breaker's life), and for a breaker whose trip rule is an adaptive throttle `throttle_probability` (0 to 1: the probability with which it rejects a call at the time of the event) |
//!
//! Levels: opening means a dependency is failing and calls are being refused,
//! which an operator wants to see at the default `INFO` filter and above, so
//! `WARN`; probing and recovering are routine, `INFO`. Rejections can be
//! thousands a second while open: one `DEBUG` summary per breaker and
//! transition says how many without flooding the log, and costs the
//! rejected calls nothing (the counts are the breaker's own totals, read at
//! the transition; no clock read, no per-call event).
//!
//! A breaker with an adaptive throttle sheds calls (`throttled`) while it
//! stays closed, with no transition to report them at: [`Tracing::every`]
//! summarizes them periodically (or call [`Tracing::report_all`] from a task
//! of yours), one event per breaker and period at most. Its summaries carry
//! `throttle_probability`, read then with
//! [`CircuitBreaker::throttle_probability`]: how hard the throttle sheds, not
//! only how many calls it shed. In the summary made at a transition away from
//! the closed state it is 0 (the throttle rejects nothing while the breaker is
//! not closed).
//!
//! ```
//! use std::sync::Arc;
//! use warden_breaker::CircuitBreaker;
//! use warden_telemetry::events::Tracing;
//!
//! let tracing = Arc::new(Tracing::new());
//! let hook = Arc::clone(&tracing);
//! let cb = Arc::new(
//!     CircuitBreaker::builder("db")
//!         .on_state_change(move |name, from, to| hook.on_state_change(name, from, to))
//!         .build()?,
//! );
//! tracing.watch(&cb);
//! cb.force_open(); // WARN warden::state breaker="db" from="closed" to="open"
//! # Ok::<(), warden_breaker::ConfigError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::Level;
use warden_breaker::{CircuitBreaker, State};

use crate::label;
use crate::periodic::Periodic;
use crate::watched::Watched;

/// The target of state-change events.
pub const STATE_TARGET: &str = "warden::state";
/// The target of rejection summaries.
pub const REJECTIONS_TARGET: &str = "warden::rejections";

/// The level of the state-change event for a move to `to`: `WARN` to open,
/// `INFO` otherwise.
///
/// ```
/// use warden_telemetry::{State, events::level};
/// assert_eq!(level(State::Open), tracing::Level::WARN);
/// ```
pub const fn level(to: State) -> Level {
    match to {
        State::Open => Level::WARN,
        State::Closed | State::HalfOpen => Level::INFO,
    }
}

/// Emits the state-change event of `name` (see the module docs). Works as a
/// breaker's `on_state_change` callback by itself, without rejection summaries.
///
/// ```
/// let cb = warden_breaker::CircuitBreaker::builder("db")
///     .on_state_change(warden_telemetry::events::state_changed)
///     .build()?;
/// cb.force_open();
/// # Ok::<(), warden_breaker::ConfigError>(())
/// ```
pub fn state_changed(name: &str, from: State, to: State) {
    let (from_label, to_label) = (label(from), label(to));
    if to == State::Open {
        tracing::warn!(target: STATE_TARGET, breaker = name, from = from_label, to = to_label, "circuit breaker state changed");
    } else {
        tracing::info!(target: STATE_TARGET, breaker = name, from = from_label, to = to_label, "circuit breaker state changed");
    }
}

/// State-change events and per-breaker rejection summaries for the breakers
/// it [watches](Self::watch). Install [`on_state_change`](Self::on_state_change)
/// as each breaker's callback (the facade does both with one builder call).
#[derive(Default)]
pub struct Tracing {
    watched: Watched,
    /// Per name: the rejections already reported.
    reported: Mutex<BTreeMap<Arc<str>, Refused>>,
}

/// A breaker's lifetime rejections by reason, as its totals count them.
#[derive(Clone, Copy, Debug, Default)]
struct Refused {
    open: u64,
    too_many_requests: u64,
    throttled: u64,
}

impl Refused {
    fn of(breaker: &CircuitBreaker) -> Self {
        let t = breaker.totals();
        Self {
            open: t.rejected_open,
            too_many_requests: t.rejected_too_many_requests,
            throttled: t.rejected_throttled,
        }
    }
}

impl fmt::Debug for Tracing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracing").finish_non_exhaustive()
    }
}

impl Tracing {
    /// No breakers yet.
    ///
    /// ```
    /// let _t = warden_telemetry::events::Tracing::new();
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Reports rejections of `breaker` (held weakly) at its transitions. Its
    /// rejections so far count as reported.
    ///
    /// ```
    /// let t = warden_telemetry::events::Tracing::new();
    /// t.watch(&std::sync::Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?));
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn watch(&self, breaker: &Arc<CircuitBreaker>) {
        let refused = Refused::of(breaker);
        self.watched.watch(breaker, None);
        self.lock().insert(Arc::from(breaker.name()), refused);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Arc<str>, Refused>> {
        self.reported
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The state-change callback: the event for the transition, then the
    /// rejection summary of the state it left, if calls were refused in it.
    ///
    /// ```
    /// use warden_telemetry::{State, events::Tracing};
    /// Tracing::new().on_state_change("db", State::Closed, State::Open);
    /// ```
    pub fn on_state_change(&self, name: &str, from: State, to: State) {
        state_changed(name, from, to);
        self.summarize(name, from);
    }

    /// Emits the rejection summary of `name` now if calls were refused since
    /// the last one (for a periodic task: rejections while a breaker stays
    /// open for long, or the calls an adaptive throttle sheds while the
    /// breaker stays closed); returns whether it did.
    ///
    /// ```
    /// let t = warden_telemetry::events::Tracing::new();
    /// assert!(!t.report("unknown"));
    /// ```
    pub fn report(&self, name: &str) -> bool {
        match self.watched.get(name) {
            Some((cb, _)) => self.summarize(name, crate::state_of(&cb)),
            None => false,
        }
    }

    /// [`report`](Self::report) for every watched breaker; returns how many
    /// summaries were emitted.
    ///
    /// ```
    /// assert_eq!(warden_telemetry::events::Tracing::new().report_all(), 0);
    /// ```
    pub fn report_all(&self) -> usize {
        self.watched
            .live()
            .iter()
            .filter(|(cb, _)| self.report(cb.name()))
            .count()
    }

    /// Runs [`report_all`](Self::report_all) on a thread of its own, once at
    /// once and then every `period`, until the returned [`Reporting`] is
    /// dropped (which stops and joins it; the first report is done by then):
    /// the summaries of breakers that refuse calls for long without a
    /// transition (open for long, or shedding through an adaptive throttle),
    /// at most one per breaker and period. The events are emitted on that
    /// thread, to the global subscriber.
    ///
    /// # Errors
    ///
    /// The thread could not be spawned.
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// let t = Arc::new(warden_telemetry::events::Tracing::new());
    /// let running = t.every(Duration::from_secs(10))?;
    /// drop(running); // stops at once
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn every(self: &Arc<Self>, period: Duration) -> std::io::Result<Reporting> {
        let this = Arc::clone(self);
        Periodic::spawn("warden-tracing-report", period, move || {
            this.report_all();
        })
        .map(|thread| Reporting { _thread: thread })
    }

    fn summarize(&self, name: &str, state: State) -> bool {
        let Some((cb, _)) = self.watched.get(name) else {
            return false;
        };
        let now = Refused::of(&cb);
        let before = {
            let mut reported = self.lock();
            let entry = reported.entry(Arc::from(name)).or_default();
            std::mem::replace(entry, now)
        };
        let open = now.open.saturating_sub(before.open);
        let too_many_requests = now
            .too_many_requests
            .saturating_sub(before.too_many_requests);
        let throttled = now.throttled.saturating_sub(before.throttled);
        if open == 0 && too_many_requests == 0 && throttled == 0 {
            return false;
        }
        // `None` records no field: breakers without a throttle keep their fields.
        let throttle_probability = crate::throttle_probability(&cb);
        tracing::debug!(
            target: REJECTIONS_TARGET,
            breaker = name,
            state = label(state),
            open,
            too_many_requests,
            throttled,
            total = now.open + now.too_many_requests + now.throttled,
            throttle_probability,
            "circuit breaker rejected calls"
        );
        true
    }
}

/// The thread of [`Tracing::every`]; dropping it stops the thread.
pub struct Reporting {
    /// Stops and joins the thread when dropped.
    _thread: Periodic,
}

impl fmt::Debug for Reporting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reporting").finish_non_exhaustive()
    }
}
