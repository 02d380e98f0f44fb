//! [`Op`]: one step of a differential run, and the byte decoder shared by the
//! fuzz target and the seeded test.

use warden_breaker::Outcome;

use crate::Config;
use crate::bytes::Bytes;

/// One step applied to both breakers.
///
/// Permit operations take an index into the permits currently held (taken
/// modulo their number; with none held the step does nothing).
///
/// ```
/// use warden_breaker::Outcome;
/// use warden_conformance::{Config, Op, TripRule, run};
/// let config = Config { max_requests: 1, interval_ms: 0, timeout_ms: 5, trip: TripRule::ConsecutiveFailures(1), ..Config::default() };
/// run(&config, &[Op::Call(Outcome::Failure), Op::Advance(6), Op::Acquire, Op::Success(0)])?;
/// # Ok::<(), warden_conformance::Mismatch>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `try_acquire`; an admitted pair of permits is held for later steps.
    Acquire,
    /// `try_acquire_owned`; like [`Op::Acquire`], with `OwnedPermit`s.
    AcquireOwned,
    /// Reports success on the i-th held permit.
    Success(usize),
    /// Reports failure on the i-th held permit.
    Failure(usize),
    /// Reports [`Outcome::Ignored`] on the i-th held permit.
    Ignore(usize),
    /// Drops the i-th held permit without an outcome (a cancelled call).
    Drop(usize),
    /// Drops the i-th held permit while the thread panics (the panic is caught).
    DropPanicking(usize),
    /// `call_with` a closure returning `Ok` for [`Outcome::Success`] and `Err`
    /// otherwise, classified as the given outcome.
    Call(Outcome),
    /// `call` with a closure that panics, inside `catch_unwind`.
    CallPanicking,
    /// `call_with` whose closure moves the shared clock forward by this many
    /// **nanoseconds** before returning like [`Op::Call`]: a call that takes that
    /// long, slow or not for the config's
    /// [`SlowCalls`](warden_breaker::SlowCalls). The two breakers' calls are
    /// nested (the mutex reference's inside the lock-free one's), so both are
    /// admitted at the same instant and both report after the same advance.
    SlowCall(Outcome, u64),
    /// Moves the shared [`ManualClock`](warden_breaker::ManualClock) forward by
    /// this many milliseconds.
    Advance(u64),
    /// Compares `state()` (which performs due transitions).
    State,
    /// Compares `counts()` (which does not look at the clock).
    Counts,
    /// `force_open()`.
    ForceOpen,
    /// `force_open_for` this many milliseconds.
    ForceOpenFor(u64),
    /// `force_closed()`.
    ForceClosed,
    /// `disable()`.
    Disable,
    /// `reset()`.
    Reset,
    /// `reconfigure` both breakers to the [`Config`] decoded from these bytes
    /// (with [`Config::from_bytes`]; the breakers keep their clock and hooks).
    Reconfigure([u8; RECONFIGURE_BYTES]),
}

/// Bytes of an [`Op::Reconfigure`]: enough for every field of a decoded [`Config`].
pub const RECONFIGURE_BYTES: usize = 12;

/// Weighted choice of the next op kind: 48 entries, one byte modulo 48.
const KINDS: [u8; 48] = [
    0, 0, 0, 0, // Acquire
    1, 1, // AcquireOwned
    2, 2, 2, // Success
    3, 3, 3, 3, // Failure
    4, 4, // Ignore
    5, 5, // Drop
    6, // DropPanicking
    7, 7, 7, // Call(Success)
    8, 8, 8,  // Call(Failure)
    9,  // Call(Ignored)
    10, // CallPanicking
    11, 11, 11, 11, // Advance
    12, // State
    13, // Counts
    14, // ForceOpen
    15, 15, // ForceOpenFor
    16, // ForceClosed
    17, 17, // Disable
    18, 18, // Reset
    19, 19, 19, // SlowCall(Success)
    20, 20, // SlowCall(Failure)
    21, // SlowCall(Ignored)
    22, 22, // Reconfigure
];

impl Op {
    /// Decodes one op; `Advance` amounts are drawn around the config's timeout
    /// and interval boundaries.
    pub(crate) fn decode(bytes: &mut Bytes<'_>, config: &Config) -> Self {
        let kind = KINDS[usize::from(bytes.next()) % KINDS.len()];
        match kind {
            0 => Op::Acquire,
            1 => Op::AcquireOwned,
            2 => Op::Success(usize::from(bytes.next())),
            3 => Op::Failure(usize::from(bytes.next())),
            4 => Op::Ignore(usize::from(bytes.next())),
            5 => Op::Drop(usize::from(bytes.next())),
            6 => Op::DropPanicking(usize::from(bytes.next())),
            7 => Op::Call(Outcome::Success),
            8 => Op::Call(Outcome::Failure),
            9 => Op::Call(Outcome::Ignored),
            10 => Op::CallPanicking,
            11 => Op::Advance(advance(bytes.next(), config)),
            12 => Op::State,
            13 => Op::Counts,
            14 => Op::ForceOpen,
            15 => Op::ForceOpenFor(advance(bytes.next(), config)),
            16 => Op::ForceClosed,
            17 => Op::Disable,
            18 => Op::Reset,
            19 => Op::SlowCall(Outcome::Success, call_nanos(bytes.next(), config)),
            20 => Op::SlowCall(Outcome::Failure, call_nanos(bytes.next(), config)),
            21 => Op::SlowCall(Outcome::Ignored, call_nanos(bytes.next(), config)),
            _ => Op::Reconfigure(std::array::from_fn(|_| bytes.next())),
        }
    }
}

/// An advance of 0, 1 or 2 ms, or one that lands one tick before, on, or one
/// tick after a timeout or interval boundary (counted from now), or a small one.
fn advance(b: u8, config: &Config) -> u64 {
    let t = config.timeout_ticks();
    let i = config.interval_ms.max(1);
    match b % 12 {
        0 => 0,
        1 => 1,
        2 => 2,
        3 => t - 1,
        4 => t,
        5 => t + 1,
        6 => i - 1,
        7 => i,
        8 => i + 1,
        _ => u64::from(b / 12 % 8),
    }
}

/// How long a [`Op::SlowCall`] takes (ns): one nanosecond or one microsecond under,
/// at or over the config's slow-call threshold (1 ms without slow calls; calls are
/// timed in whole microseconds, so both edges matter), nothing, or a whole number
/// of ms or a few ns more (crossing the tick and bucket edges too).
fn call_nanos(b: u8, config: &Config) -> u64 {
    let threshold = config.slow_threshold_nanos().unwrap_or(1_000_000);
    let step = if (b / 8).is_multiple_of(2) { 1 } else { 1_000 };
    match b % 8 {
        0 => threshold.saturating_sub(step),
        1 | 2 => threshold,
        3 => threshold.saturating_add(step),
        4 => 0,
        5 => 1,
        _ => u64::from(b / 8 % 4) * 1_000_000 + u64::from(b / 32 % 2) * 999_999,
    }
}

/// Decodes a config and the ops that follow it from arbitrary bytes; never
/// panics. At most `max_ops` ops are decoded.
///
/// ```
/// let (config, ops) = warden_conformance::decode(&[1, 2, 3, 4, 7, 0, 0, 0, 0, 0, 11, 4], 100);
/// assert_eq!(config.max_requests, 1);
/// assert_eq!(ops.len(), 2);
/// ```
pub fn decode(data: &[u8], max_ops: usize) -> (Config, Vec<Op>) {
    let mut bytes = Bytes::new(data);
    let config = Config::decode(&mut bytes);
    let mut ops = Vec::new();
    while !bytes.is_empty() && ops.len() < max_ops {
        ops.push(Op::decode(&mut bytes, &config));
    }
    (config, ops)
}
