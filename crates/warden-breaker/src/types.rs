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
