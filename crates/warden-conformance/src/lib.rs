//! Differential testing of the lock-free [`warden_breaker::CircuitBreaker`]
//! against the mutex reference [`warden_mutex::CircuitBreaker`].
//!
//! Both breakers are built from clones of one
//! [`Settings`](warden_breaker::Settings), so they share the
//! [`ManualClock`](warden_breaker::ManualClock), its time origin, the
//! `ready_to_trip` rule, the state-change callback and the observer. [`run`]
//! drives them through a sequence of [`Op`]s in lockstep and returns the first
//! [`Mismatch`]: a different admission or call result, different callbacks or
//! observer events, different counts or a different state.
//!
//! The same driver backs the cargo-fuzz target (`fuzz/fuzz_targets/differential.rs`,
//! a shim over [`run_bytes`]) and the seeded test `tests/differential.rs`, which
//! runs on stable in CI.
//!
//! ```
//! use warden_breaker::Outcome;
//! use warden_conformance::{Config, Op, TripRule, run};
//!
//! let config = Config { max_requests: 2, interval_ms: 0, timeout_ms: 10, trip: TripRule::ConsecutiveFailures(1), ..Config::default() };
//! let ops = [
//!     Op::Acquire,                 // a call admitted while closed...
//!     Op::Call(Outcome::Failure),  // ...outlives a trip
//!     Op::Advance(11),
//!     Op::Acquire,                 // the first probe (turns the breaker half-open)
//!     Op::Failure(0),              // the stale closed-state permit: ignored
//!     Op::Success(0),
//!     Op::State,
//! ];
//! run(&config, &ops)?;
//! # Ok::<(), warden_conformance::Mismatch>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![doc(test(attr(deny(warnings))))]

mod bytes;
mod config;
mod driver;
mod op;

pub use config::{Config, TripRule};
pub use driver::{Mismatch, run};
pub use op::{Op, RECONFIGURE_BYTES, decode};

/// Most ops [`run_bytes`] decodes from one input.
pub const MAX_FUZZ_OPS: usize = 4096;

/// The fuzz entry point: decodes a [`Config`] and up to [`MAX_FUZZ_OPS`] ops
/// from `data` (any bytes are valid) and runs them.
///
/// # Panics
///
/// Only when the breakers disagree, with the [`Mismatch`], the config and the
/// ops in the message: that is the fuzzer's signal.
///
/// ```
/// warden_conformance::run_bytes(b"any bytes at all \x00\xff");
/// ```
pub fn run_bytes(data: &[u8]) {
    let (config, ops) = decode(data, MAX_FUZZ_OPS);
    if let Err(m) = run(&config, &ops) {
        let shown = ops.len().min(m.step + 1);
        panic!(
            "the lock-free breaker and the mutex reference disagree\n{m}\nconfig: {config:?}\nops: {:?}",
            &ops[..shown]
        );
    }
}
