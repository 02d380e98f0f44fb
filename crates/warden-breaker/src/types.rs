//! The plain values callers see: [`State`], [`Counts`] and [`Outcome`].

use std::fmt;

/// The state of a circuit breaker.
///
/// ```
/// use warden_breaker::State;
/// assert_eq!(State::HalfOpen.to_string(), "half-open");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Calls are admitted and their outcomes counted.
    Closed,
    /// A limited number of probe calls are admitted to test recovery.
    HalfOpen,
    /// Calls are rejected until the timeout passes.
    Open,
}

impl State {
    /// The gauge value the seed's Prometheus metric uses: 0 closed, 1 open, 2 half-open.
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
pub enum Outcome {
    /// Counts as a success (gobreaker's `IsSuccessful` returned true).
    Success,
    /// Counts as a failure and may trip the breaker.
    Failure,
    /// Counted only in `total_exclusions`; frees a half-open slot (gobreaker's `IsExcluded`).
    Ignored,
}
