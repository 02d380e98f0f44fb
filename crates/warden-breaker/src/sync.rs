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
pub(crate) use std::sync::atomic::{AtomicPtr, AtomicU8, AtomicU64, Ordering, fence};

#[cfg(loom)]
pub(crate) use loom::sync::Arc;
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU8, AtomicU64, Ordering, fence};

#[cfg(not(loom))]
pub(crate) use std::sync::Mutex;

#[cfg(loom)]
pub(crate) use loom::sync::Mutex;

/// A shared value that can be replaced while others read it: the breaker's
/// settings ([`crate::live::Live`]). Readers get the old value or the new one,
/// whole, and keep it alive as long as they hold it.
///
/// Outside loom it is [`arc_swap::ArcSwap`]: a load is a few loads and one
/// thread-local read-modify-write, no lock and no write to a shared line. Under
/// loom it is a mutex around the `Arc` (arc-swap has no loom model of its own):
/// the models check the breaker's use of the cell (each operation loads it once
/// and sees one whole value, whatever a replacement races), not arc-swap itself.
#[cfg(not(loom))]
pub(crate) struct SwapCell<T>(arc_swap::ArcSwap<T>);

#[cfg(not(loom))]
impl<T> SwapCell<T> {
    pub(crate) fn new(value: std::sync::Arc<T>) -> Self {
        Self(arc_swap::ArcSwap::new(value))
    }

    /// The current value, held without touching its reference count.
    #[inline]
    pub(crate) fn load(&self) -> Loaded<T> {
        Loaded(self.0.load())
    }

    /// The current value as an `Arc` of its own.
    pub(crate) fn load_full(&self) -> std::sync::Arc<T> {
        self.0.load_full()
    }

    pub(crate) fn store(&self, value: std::sync::Arc<T>) {
        self.0.store(value);
    }
}

/// A value loaded from a [`SwapCell`].
#[cfg(not(loom))]
pub(crate) struct Loaded<T>(arc_swap::Guard<std::sync::Arc<T>>);

#[cfg(not(loom))]
impl<T> std::ops::Deref for Loaded<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

#[cfg(loom)]
pub(crate) struct SwapCell<T>(loom::sync::Mutex<std::sync::Arc<T>>);

#[cfg(loom)]
impl<T> SwapCell<T> {
    pub(crate) fn new(value: std::sync::Arc<T>) -> Self {
        Self(loom::sync::Mutex::new(value))
    }

    pub(crate) fn load(&self) -> Loaded<T> {
        Loaded(self.load_full())
    }

    pub(crate) fn load_full(&self) -> std::sync::Arc<T> {
        std::sync::Arc::clone(&self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub(crate) fn store(&self, value: std::sync::Arc<T>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = value;
    }
}

/// A value loaded from a [`SwapCell`].
#[cfg(loom)]
pub(crate) struct Loaded<T>(std::sync::Arc<T>);

#[cfg(loom)]
impl<T> std::ops::Deref for Loaded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// The breaker's generation word (see `CircuitBreaker::full_generation_of`).
///
/// Outside loom an [`AtomicU64`]. Under loom it is the model's atomic in the models
/// that check it (`loom-tests/tests/generation_word.rs`, which turn it on with
/// `__private::loom_generation_word`), and a `std` atomic in every other model:
/// loom runs a model's threads one at a time on one OS thread, so that atomic reads
/// what the schedule stored last, and loom does not branch on it. Each
/// transition loads and raises the word, and a full generation is rebuilt from it
/// up to 2^19 generations off, so in the models of the transitions themselves it
/// only multiplied the interleavings (the callbacks' models by 3.6) without any
/// outcome depending on which value it read; its own models check its orderings
/// and that it stays within one generation of the state word.
#[cfg(not(loom))]
pub(crate) type GenerationWord = AtomicU64;

#[cfg(loom)]
pub(crate) struct GenerationWord {
    modelled: Option<AtomicU64>,
    plain: std::sync::atomic::AtomicU64,
}

/// Whether breakers built from now on model their generation word (loom only).
#[cfg(loom)]
pub(crate) static MODEL_GENERATION_WORD: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

#[cfg(loom)]
impl GenerationWord {
    pub(crate) fn new(value: u64) -> Self {
        // Relaxed: a flag the model sets before it builds its breaker, on the same
        // thread.
        let modelled = MODEL_GENERATION_WORD
            .load(std::sync::atomic::Ordering::Relaxed)
            .then(|| AtomicU64::new(value));
        Self {
            modelled,
            plain: std::sync::atomic::AtomicU64::new(value),
        }
    }

    pub(crate) fn load(&self, order: Ordering) -> u64 {
        match &self.modelled {
            Some(word) => word.load(order),
            // Relaxed: loom runs the model's threads one at a time on one OS thread,
            // so every access sees the last one the schedule made.
            None => self.plain.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    pub(crate) fn fetch_max(&self, value: u64, order: Ordering) -> u64 {
        match &self.modelled {
            Some(word) => word.fetch_max(value, order),
            // Relaxed: as in `load`.
            None => self
                .plain
                .fetch_max(value, std::sync::atomic::Ordering::Relaxed),
        }
    }
}
