//! OpenTelemetry, `metrics` facade and `tracing` backends for warden circuit
//! breakers.
//!
//! Every backend reads what the breakers count anyway, their lifetime
//! [`Totals`](warden_breaker::Totals) and their state, at collection time or at
//! a transition, never per call: a guarded call costs the same with any of
//! them on. Each is a feature with only its own dependency (none is on by
//! default):
//!
//! | feature | module | what | dependency |
//! | --- | --- | --- | --- |
//! | `otel` | `otel` | observable instruments, read when the SDK collects | `opentelemetry` (the API) |
//! | `metrics` | `metrics_facade` | `metrics::counter!`/`gauge!` set from the totals by a periodic task or at transitions | `metrics` |
//! | `tracing` | `events` | one event per state change; rejections as rate-limited debug events | `tracing` |
//!
//! The families are those of `warden-prometheus`: the state gauge, successes,
//! failures, timeouts, rejections by reason (`open`, `too_many_requests`,
//! `bulkhead_full`, and `throttled` once an adaptive throttle shed a call),
//! transitions by `from`/`to`, and retry attempts and retries; for a breaker
//! whose trip rule is an adaptive throttle, also the probability with which it
//! rejects a call now ([`CircuitBreaker::throttle_probability`](warden_breaker::CircuitBreaker::throttle_probability),
//! 0 to 1), so a throttle that sheds most calls while its breaker stays closed
//! shows as such. Timeouts,
//! bulkhead rejections and retry attempts are known only to the caller: it
//! records them in the name's [`CallerCounts`] (one relaxed atomic add per
//! timeout, bulkhead rejection or retry attempt, never on a plain guarded
//! call), which `otel` and `metrics` read with the breaker's totals. The facade
//! (`warden-kit`) does that for every name it creates.
//!
//! Breakers are held weakly: a dropped breaker leaves every backend.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]
#![doc(test(attr(deny(warnings))))]

mod counts;
#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub mod events;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics_facade;
#[cfg(feature = "otel")]
#[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
pub mod otel;
#[cfg(any(feature = "metrics", feature = "tracing"))]
mod periodic;

#[cfg(any(feature = "otel", feature = "metrics", feature = "tracing"))]
mod watched;

pub use counts::CallerCounts;
#[cfg(any(feature = "otel", feature = "metrics", feature = "tracing"))]
use warden_breaker::CircuitBreaker;
pub use warden_breaker::State;

/// The label value of a state, as `warden-prometheus` writes it: `closed`,
/// `open`, `half_open`.
///
/// ```
/// assert_eq!(warden_telemetry::label(warden_telemetry::State::HalfOpen), "half_open");
/// ```
pub const fn label(state: State) -> &'static str {
    match state {
        State::Closed => "closed",
        State::Open => "open",
        State::HalfOpen => "half_open",
    }
}

/// `breaker.state()` for an exporter: a panic of a state-change callback run by
/// the due transition does not reach the collecting thread (the transition
/// itself is complete by then; the state is read again).
#[cfg(any(feature = "otel", feature = "metrics", feature = "tracing"))]
pub(crate) fn state_of(breaker: &CircuitBreaker) -> State {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| breaker.state()))
        .unwrap_or_else(|_| breaker.state())
}

/// The rejection series exported for a breaker, by `reason`, as
/// `warden-prometheus` writes them: `open`, `too_many_requests` and
/// `bulkhead_full` always, `throttled` once an adaptive throttle shed a call
/// (a breaker without one carries no series that is always 0).
#[cfg(any(feature = "otel", feature = "metrics"))]
pub(crate) fn rejections(
    t: &warden_breaker::Totals,
    bulkhead_full: u64,
) -> impl Iterator<Item = (&'static str, u64)> {
    let throttled = (t.rejected_throttled != 0).then_some(("throttled", t.rejected_throttled));
    [
        ("open", t.rejected_open),
        ("too_many_requests", t.rejected_too_many_requests),
        ("bulkhead_full", bulkhead_full),
    ]
    .into_iter()
    .chain(throttled)
}

/// The probability with which `breaker`'s adaptive throttle rejects a call now
/// (see [`CircuitBreaker::throttle_probability`]), or `None` if its trip rule is
/// not an adaptive throttle (it then carries no series of it). Read at
/// collection or report time: a pass over the breaker's counter lines for the
/// window, as for its totals, and one load.
#[cfg(any(feature = "otel", feature = "metrics", feature = "tracing"))]
pub(crate) fn throttle_probability(breaker: &CircuitBreaker) -> Option<f64> {
    breaker.throttle_window()?;
    Some(breaker.throttle_probability())
}

/// The transitions exported for a breaker: gobreaker's four edges always, any
/// other edge (a manual command's) once it happened.
#[cfg(any(feature = "otel", feature = "metrics"))]
pub(crate) fn edges(t: &warden_breaker::Totals) -> impl Iterator<Item = (State, State)> + '_ {
    const STANDARD: [(State, State); 4] = [
        (State::Closed, State::Open),
        (State::Open, State::HalfOpen),
        (State::HalfOpen, State::Closed),
        (State::HalfOpen, State::Open),
    ];
    State::ALL
        .into_iter()
        .flat_map(|from| State::ALL.into_iter().map(move |to| (from, to)))
        .filter(move |&(from, to)| {
            from != to && (STANDARD.contains(&(from, to)) || t.transitions(from, to) != 0)
        })
}
