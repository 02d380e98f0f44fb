//! The one import point for concurrency primitives.
//!
//! Everything in this crate that touches an atomic gets it from here, so the
//! same code runs under [loom](https://docs.rs/loom) when built with
//! `RUSTFLAGS="--cfg loom"` (the model's atomics) and on `std` otherwise. This is
//! tokio's `src/loom/` shim, shrunk to what the breaker uses. `AtomicPtr` is
//! what [`OnceBox`](crate::once_box::OnceBox) (the counter cells' lazily set
//! boxes) is built on: under loom, its publication race is model-checked too.

#[cfg(not(loom))]
pub(crate) use std::sync::Arc;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering, fence};

#[cfg(loom)]
pub(crate) use loom::sync::Arc;
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU64, Ordering, fence};
