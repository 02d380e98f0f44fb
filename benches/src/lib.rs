//! The criterion comparison of `warden-breaker` with `warden-mutex`, failsafe,
//! recloser and a bare call, and the report built from its results.
//!
//! * [`harness`]: workloads, the [`Contender`](harness::Contender) trait and
//!   the thread [`Team`](harness::Team) that runs one benchmark.
//! * [`contenders`]: the bare call, `warden-breaker`, `warden-mutex` (the
//!   peers, dev-dependencies, are adapted in `benches/compare/peers.rs`).
//! * [`paired`]: the policy benchmarks' paired measurement against the
//!   default policy's closed success, and the file it is written to.
//! * [`report`]: reads criterion's `estimates.json` files and writes the
//!   Markdown table and the SVG plot (`cargo run -p warden-benches --release
//!   --bin report`).
//!
//! Run everything with `benches/run.sh`; see `BENCHMARKS.md`.

pub mod contenders;
pub mod harness;
pub mod paired;
pub mod report;
