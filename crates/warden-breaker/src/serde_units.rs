//! How durations serialize with the `serde` feature: whole milliseconds (or
//! microseconds for the slow-call threshold), the units the breaker keeps them
//! in, as plain integers that any JSON reader takes.

use std::time::Duration;

use serde::Serializer;

/// A duration as whole milliseconds (`u64`; the breaker's durations fit).
pub(crate) fn millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A duration as whole microseconds (`u64`).
pub(crate) fn micros<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}
