//! Shared harness for the loom models of `warden-breaker`.
//!
//! The models live in `tests/*.rs` and, like this harness, compile only with
//! `RUSTFLAGS="--cfg loom"`; without it this crate is empty. Run them with
//! `loom-tests/run.sh` (see `loom-tests/README.md` for what each model covers).
//!
//! The harness gives every model the same three things:
//!
//! * `explore`: runs a model under a preemption bound, with a raised branch
//!   limit, counts the interleavings explored and prints one summary line.
//! * `Recorder`: an [`Observer`](warden_breaker::Observer) and
//!   `on_state_change` callback pair that counts every per-call event and
//!   checks, inside the callbacks, that transitions are delivered one at a
//!   time, each happening-before the next, as an unbroken chain.
//! * `setup`: breakers built on a [`ManualClock`](warden_breaker::ManualClock)
//!   and driven into a given state before any model thread starts.

#[cfg(loom)]
mod harness;

#[cfg(loom)]
pub use harness::*;
