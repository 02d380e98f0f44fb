//! The plain values callers see: [`State`], [`Counts`] and [`Outcome`].

use std::fmt;

/// The state of a circuit breaker.
///
/// ```
/// use warden_breaker::State;
/// assert_eq!(State::HalfOpen.to_string(), "half-open");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "kebab-case")
)]
pub enum State {
    /// Calls are admitted and their outcomes counted.
    Closed,
    /// A limited number of probe calls are admitted to test recovery.
    HalfOpen,
    /// Calls are rejected until the timeout passes.
    Open,
}

impl State {
    /// The gauge value the Go `resilience` package's Prometheus metric uses: 0 closed, 1 open, 2 half-open.
    ///
    /// ```
    /// use warden_breaker::State;
    /// assert_eq!(State::Open.as_gauge(), 1);
    /// ```
    pub const fn as_gauge(self) -> i64 {
        match self {
            State::Closed => 0,
            State::Open => 1,
            State::HalfOpen => 2,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Closed => "closed",
            State::HalfOpen => "half-open",
            State::Open => "open",
        })
    }
}

/// Whether a breaker follows its state machine or a manual command.
///
/// Set with [`CircuitBreaker::force_open`](crate::CircuitBreaker::force_open),
/// [`force_open_for`](crate::CircuitBreaker::force_open_for),
/// [`force_closed`](crate::CircuitBreaker::force_closed),
/// [`disable`](crate::CircuitBreaker::disable) and left with
/// [`reset`](crate::CircuitBreaker::reset). A manual mode does not add a
/// [`State`]: forced open reads as [`State::Open`], forced closed and disabled as
/// [`State::Closed`], so gauges and `(from, to)` callbacks keep gobreaker's three
/// states.
///
/// ```
/// use warden_breaker::{CircuitBreaker, Mode, State};
/// let cb = CircuitBreaker::builder("redis").build()?;
/// cb.force_open();
/// assert_eq!((cb.state(), cb.mode()), (State::Open, Mode::ForcedOpen));
/// cb.reset();
/// assert_eq!((cb.state(), cb.mode()), (State::Closed, Mode::Normal));
/// # Ok::<(), warden_breaker::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "kebab-case")
)]
pub enum Mode {
    /// The state machine decides (gobreaker's behaviour).
    Normal,
    /// Every call is rejected with `Open`, until the next command or, when forced
    /// with a deadline, until the deadline passes (then the breaker turns half-open
    /// and probes as after a timeout).
    ForcedOpen,
    /// Every call is admitted; nothing is counted and nothing trips.
    ForcedClosed,
    /// Every call is admitted and counted as in the closed state, but nothing trips
    /// and the counting interval does not apply (counts run from the command on).
    Disabled,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Normal => "normal",
            Mode::ForcedOpen => "forced-open",
            Mode::ForcedClosed => "forced-closed",
            Mode::Disabled => "disabled",
        })
    }
}

/// Counts of the current generation (gobreaker's `Counts`, with v2.4's exclusions).
///
/// All fields restart at zero on every state change and every closed-state
/// interval reset. Totals are exact whenever no call is in flight; while calls
/// overlap, a count may lag the calls still running. The consecutive counts are
/// those of some serial order of the outcomes.
///
/// ```
/// use warden_breaker::Counts;
/// let c = Counts { requests: 3, total_failures: 2, ..Counts::default() };
/// assert_eq!(c.total_successes, 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Counts {
    /// Calls admitted in this generation (in half-open: probes admitted).
    pub requests: u32,
    /// Successful outcomes.
    pub total_successes: u32,
    /// Failed outcomes (in half-open the first failure re-opens instead).
    pub total_failures: u32,
    /// Outcomes classified as neither success nor failure ([`Outcome::Ignored`]).
    pub total_exclusions: u32,
    /// Successes since the last failure.
    pub consecutive_successes: u32,
    /// Failures since the last success.
    pub consecutive_failures: u32,
}

/// How a call ended, as far as the breaker is concerned.
///
/// ```
/// use warden_breaker::Outcome;
/// let classify = |r: &Result<u32, &str>| match r {
///     Ok(_) => Outcome::Success,
///     Err("not found") => Outcome::Ignored,
///     Err(_) => Outcome::Failure,
/// };
/// assert_eq!(classify(&Err("not found")), Outcome::Ignored);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "kebab-case")
)]
pub enum Outcome {
    /// Counts as a success (gobreaker's `IsSuccessful` returned true).
    Success,
    /// Counts as a failure and may trip the breaker.
    Failure,
    /// Counted only in `total_exclusions`; frees a half-open slot (gobreaker's `IsExcluded`).
    Ignored,
}

/// A breaker's lifetime totals: everything it has counted since it was built,
/// never reset (unlike [`Counts`], which restart with every generation). What
/// a metrics exporter reads at collection time, so recording them costs the
/// calls nothing beyond the breaker's own bookkeeping (see
/// [`CircuitBreaker::totals`](crate::CircuitBreaker::totals)).
///
/// Every field is a monotonic `u64` that does not wrap before 2^64 events
/// (about 5,800 years at 100 million a second). Totals are exact whenever no
/// call is in flight; while calls overlap, a total may lag the calls still
/// running, and two fields read in one `totals()` are not a consistent
/// snapshot of each other.
///
/// ```
/// use warden_breaker::{CircuitBreaker, Rejected, State};
/// let cb = CircuitBreaker::builder("db").build()?;
/// let _ = cb.call(|| Ok::<_, ()>(()));
/// cb.force_open();
/// let _ = cb.call(|| Ok::<_, ()>(()));
/// let t = cb.totals();
/// assert_eq!((t.successes, t.rejections(Rejected::Open)), (1, 1));
/// assert_eq!(t.transitions(State::Closed, State::Open), 1);
/// # Ok::<(), warden_breaker::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Totals {
    /// Outcomes reported as [`Outcome::Success`], in every state and mode, also
    /// those of calls whose generation had already ended (which [`Counts`] ignore).
    pub successes: u64,
    /// Outcomes reported as [`Outcome::Failure`] (panics included), counted like
    /// `successes`. A timeout is a failure the caller reports; the core does not
    /// know which failures were timeouts.
    pub failures: u64,
    /// Outcomes reported as [`Outcome::Ignored`], counted like `successes`.
    pub ignored: u64,
    /// Permits dropped without an outcome (cancelled calls).
    pub dropped: u64,
    /// Closed-state calls the [`SlowCalls`](crate::SlowCalls) rule counted as slow
    /// (always 0 without that rule).
    pub slow_calls: u64,
    /// Calls refused with [`Rejected::Open`](crate::Rejected::Open).
    pub rejected_open: u64,
    /// Calls refused with [`Rejected::TooManyRequests`](crate::Rejected::TooManyRequests).
    pub rejected_too_many_requests: u64,
    /// Calls shed with [`Rejected::Throttled`](crate::Rejected::Throttled) by an
    /// [`AdaptiveThrottle`](crate::AdaptiveThrottle).
    pub rejected_throttled: u64,
    /// State changes by `[from][to]`, indexed by [`State::index`]; the diagonal
    /// is always 0. [`transitions`](Self::transitions) reads it by state.
    pub transitions: [[u64; 3]; 3],
}

impl Totals {
    /// State changes from `from` to `to`, as the state-change callbacks saw them
    /// (a catch-up transition after commands issued during a callback counts once;
    /// 0 when `from == to`).
    ///
    /// ```
    /// use warden_breaker::{CircuitBreaker, State};
    /// let cb = CircuitBreaker::builder("db").build()?;
    /// cb.force_open();
    /// cb.reset();
    /// assert_eq!(cb.totals().transitions(State::Open, State::Closed), 1);
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub const fn transitions(&self, from: State, to: State) -> u64 {
        self.transitions[from.index()][to.index()]
    }

    /// Calls refused for `reason`.
    ///
    /// ```
    /// use warden_breaker::{Rejected, Totals};
    /// assert_eq!(Totals::default().rejections(Rejected::TooManyRequests), 0);
    /// ```
    pub const fn rejections(&self, reason: crate::Rejected) -> u64 {
        match reason {
            crate::Rejected::Open => self.rejected_open,
            crate::Rejected::TooManyRequests => self.rejected_too_many_requests,
            crate::Rejected::Throttled => self.rejected_throttled,
        }
    }

    /// Every state change counted, whatever its edge.
    ///
    /// ```
    /// assert_eq!(warden_breaker::Totals::default().all_transitions(), 0);
    /// ```
    pub fn all_transitions(&self) -> u64 {
        self.transitions.iter().flatten().sum()
    }
}

impl State {
    /// Every state, in [`index`](Self::index) order.
    pub const ALL: [State; 3] = [State::Closed, State::Open, State::HalfOpen];

    /// A dense index for tables by state: 0 closed, 1 open, 2 half-open (the
    /// gauge value, as a `usize`).
    ///
    /// ```
    /// use warden_breaker::State;
    /// assert!(State::ALL.iter().enumerate().all(|(i, s)| s.index() == i));
    /// ```
    pub const fn index(self) -> usize {
        self.as_gauge() as usize
    }
}
