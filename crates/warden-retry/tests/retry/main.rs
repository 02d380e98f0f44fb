//! warden-retry's integration tests, in one binary to keep `cargo test` fast.
//! No test sleeps in real time: sync runs wait on a `ManualSleeper`, async runs
//! on tokio's paused clock, breakers and budgets read a `ManualClock`.

#![allow(missing_docs)] // test helpers

mod adversarial;
#[cfg(feature = "tokio")]
mod asynch;
mod backoff;
mod bounded;
mod breaker;
mod budget;
mod policy;
mod sync;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::RngCore;

/// An RNG that returns a fixed sequence of `u64`s, cycling; with the crate's
/// documented uniform mapping (`lo + ⌊x·(hi−lo+1)/2⁶⁴⌋`), `0` draws the low
/// end, `u64::MAX` the high end and `2⁶³` the midpoint.
#[derive(Clone, Debug)]
pub struct Seq {
    values: Vec<u64>,
    next: usize,
}

impl Seq {
    pub fn new(values: &[u64]) -> Self {
        Self {
            values: values.to_vec(),
            next: 0,
        }
    }
}

impl RngCore for Seq {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        let v = self.values[self.next % self.values.len()];
        self.next += 1;
        v
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for b in dst {
            *b = self.next_u64() as u8;
        }
    }
}

pub const LO: u64 = 0;
pub const HI: u64 = u64::MAX;
pub const MID: u64 = 1 << 63;

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A shared, ordered log of events for checking call/hook/wait order.
#[derive(Clone, Debug, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn push(&self, event: impl Into<String>) {
        self.0.lock().unwrap().push(event.into());
    }
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// A sleeper that writes its waits into a [`Log`].
#[derive(Clone, Debug)]
pub struct LogSleeper(pub Log);

impl warden_retry::Sleeper for LogSleeper {
    fn sleep(&self, duration: Duration) {
        self.0.push(format!("sleep {duration:?}"));
    }
}
