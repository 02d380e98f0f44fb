//! [`OnceBox`]: a box set at most once, behind one atomic pointer.
//!
//! The counter cells of a breaker are allocated on a thread's first call and
//! then read on every call, so the cell that holds them must be one pointer
//! wide (a breaker keeps several) and cost one load to read. `std`'s
//! `OnceLock<Box<T>>` is two words (a state word and the box) and loom has no
//! twin of it, so its races could not be model-checked; this is the smallest
//! structure that is both: an `AtomicPtr` from the [`sync`](crate::sync)
//! shim, so under `--cfg loom` the same code runs on loom's atomics and its
//! publication race is explored (see `loom_models` below and the owned-slot
//! models in `loom-tests`).
//!
//! This is the only module of the crate with `unsafe` code: turning the
//! published pointer back into a reference, and freeing it on drop.

#![allow(unsafe_code)]

use std::marker::PhantomData;
use std::ptr;

use crate::sync::{AtomicPtr, Ordering};

/// A `Box<T>` set at most once, then read with one load.
///
/// Racing initialisers each build a box; the first exchange wins and the
/// others drop theirs and return the winner's. The value is never replaced or
/// freed before the `OnceBox` itself is dropped.
pub(crate) struct OnceBox<T> {
    ptr: AtomicPtr<T>,
    /// Owns a `T` (drop check, `Send`), and is `Sync` only if `T` is `Send` (any
    /// thread may move its value in) and `Sync` (every thread reads it).
    _owns: PhantomData<(Box<T>, std::sync::Mutex<T>)>,
}

impl<T> OnceBox<T> {
    /// An empty cell.
    pub(crate) fn new() -> Self {
        Self {
            ptr: AtomicPtr::new(ptr::null_mut()),
            _owns: PhantomData,
        }
    }

    /// The value, if set.
    #[inline]
    pub(crate) fn get(&self) -> Option<&T> {
        // Acquire: pairs with the Release exchange in `get_or_init` that published the
        // box, so the value's initialisation is visible before it is read.
        let p = self.ptr.load(Ordering::Acquire);
        // SAFETY: `p` is null or the pointer of a `Box<T>` published by the exchange in
        // `get_or_init`, whose writes the Acquire above makes visible. A published box is
        // never replaced, and freed only in `drop`, which takes `&mut self`: it outlives
        // the returned borrow of `self`. Only shared references to it are ever made.
        unsafe { p.as_ref() }
    }

    /// The value, set to `init()` first if empty. `init` may run on several racing
    /// threads; one value is kept.
    #[cold]
    pub(crate) fn get_or_init(&self, init: impl FnOnce() -> T) -> &T {
        if let Some(value) = self.get() {
            return value;
        }
        let mine = Box::into_raw(Box::new(init()));
        match self.ptr.compare_exchange(
            ptr::null_mut(),
            mine,
            // Release: publishes the box's contents to `get`'s Acquire load (and to the
            // Acquire failure below of a racing initialiser). A success reads null,
            // which publishes nothing, so it needs no Acquire.
            Ordering::Release,
            // Acquire: a failure reads the winner's pointer, published by its Release.
            Ordering::Acquire,
        ) {
            // SAFETY: `mine` came from `Box::into_raw` just above and is now published;
            // from here on it is only read through shared references (see `get`).
            Ok(_) => unsafe { &*mine },
            Err(winner) => {
                // SAFETY: `mine` was never published (the exchange failed), so this
                // thread still owns it alone.
                drop(unsafe { Box::from_raw(mine) });
                // SAFETY: `winner` is non-null (the exchange only fails on a non-null
                // value) and was published by the winner's Release, which the Acquire
                // failure ordering read; it lives as long as `self` (see `get`).
                unsafe { &*winner }
            }
        }
    }
}

impl<T> Drop for OnceBox<T> {
    fn drop(&mut self) {
        // Relaxed: `&mut self` means every other access to this cell happened before.
        let p = self.ptr.load(Ordering::Relaxed);
        if !p.is_null() {
            // SAFETY: a non-null pointer came from `Box::into_raw` in `get_or_init` and
            // was published once; no reference to it outlives `&mut self`, and it is
            // freed only here.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for OnceBox<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("OnceBox").field(&self.get()).finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::OnceBox;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn set_once_then_read() {
        let cell = OnceBox::new();
        assert_eq!(cell.get(), None);
        assert_eq!(*cell.get_or_init(|| 7u64), 7);
        assert_eq!(*cell.get_or_init(|| 8u64), 7);
        assert_eq!(cell.get(), Some(&7));
    }

    /// Racing initialisers: one value is kept, every loser's box is freed, and the
    /// kept one is freed with the cell.
    #[test]
    fn racing_initialisers_keep_one_and_free_the_rest() {
        struct Counted(Arc<AtomicUsize>);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let drops = Arc::new(AtomicUsize::new(0));
        let inits = Arc::new(AtomicUsize::new(0));
        let cell = Arc::new(OnceBox::new());
        let start = Arc::new(std::sync::Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (cell, drops, inits) =
                    (Arc::clone(&cell), Arc::clone(&drops), Arc::clone(&inits));
                let start = Arc::clone(&start);
                std::thread::spawn(move || {
                    start.wait();
                    let v: *const Counted = cell.get_or_init(|| {
                        inits.fetch_add(1, Ordering::Relaxed);
                        Counted(drops)
                    });
                    v as usize
                })
            })
            .collect();
        let seen: Vec<usize> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert!(seen.windows(2).all(|w| w[0] == w[1]), "one value for all");
        let inits = inits.load(Ordering::Relaxed);
        assert!(inits >= 1);
        assert_eq!(drops.load(Ordering::Relaxed), inits - 1);
        drop(cell);
        assert_eq!(drops.load(Ordering::Relaxed), inits);
    }
}

/// The publication race under loom.
#[cfg(all(test, loom))]
mod loom_models {
    use super::OnceBox;
    use crate::sync::{Arc, AtomicU64, Ordering};

    /// Two threads initialise the same cell with different values (each written
    /// with a Relaxed store inside `init`, after the box is built) while the main
    /// thread reads it: every reader sees nothing or one fully initialised value,
    /// the same one for everybody; the loser's box is freed (loom checks leaks).
    /// Weakening the exchange's Release or `get`'s Acquire fails this model.
    #[test]
    fn racing_first_calls_publish_one_initialised_value() {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(3);
        builder.check(|| {
            let cell = Arc::new(OnceBox::<AtomicU64>::new());
            let init = |v: u64| {
                move || {
                    let a = AtomicU64::new(0);
                    // Relaxed: published by the exchange's Release, as production's
                    // cells' counts are.
                    a.store(v, Ordering::Relaxed);
                    a
                }
            };
            let spawn = |v: u64| {
                let cell = Arc::clone(&cell);
                loom::thread::spawn(move || cell.get_or_init(init(v)).load(Ordering::Relaxed))
            };
            let (a, b) = (spawn(1), spawn(2));
            if let Some(v) = cell.get() {
                let v = v.load(Ordering::Relaxed);
                assert!(v == 1 || v == 2, "read an uninitialised value: {v}");
            }
            let (a, b) = (a.join().unwrap(), b.join().unwrap());
            assert_eq!(a, b, "both threads use one value");
            assert_eq!(cell.get().map(|v| v.load(Ordering::Relaxed)), Some(a));
        });
    }
}
