//! Every Rust block of the workspace's README files, compiled and run by
//! `cargo test --doc` (the blocks marked `no_run` need a network peer and are
//! only compiled). A block that stops compiling fails CI, so the README cannot
//! drift from the code.
#![forbid(unsafe_code)]

/// The workspace README (`README.md`).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct WorkspaceReadme;

/// warden-redis's README (`crates/warden-redis/README.md`).
#[cfg(doctest)]
#[doc = include_str!("../../crates/warden-redis/README.md")]
pub struct RedisReadme;
