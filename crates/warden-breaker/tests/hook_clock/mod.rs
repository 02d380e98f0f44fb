//! A test clock that, once armed, runs a hook on its next read: the breaker
//! reads its clock between an outcome's (or a look's) check of the state word
//! and its write, so the hook runs with that thread held inside the
//! check-to-write window, and can change the breaker meanwhile (2^20 resets, a
//! trip, current calls). Shared by the test binaries that include it
//! (`mod hook_clock;`).
#![allow(dead_code)] // each test binary uses its own part

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

use warden_breaker::{Builder, CircuitBreaker, Clock};

/// Runs on the armed read; `Some(t)`: that read returns `t` (the clock itself
/// stays where it stands).
type Hook = Box<dyn FnOnce(&Arc<CircuitBreaker>, &HookClock) -> Option<u64> + Send>;

/// Stands at the time it is set to; armed, its next read runs the hook first.
#[derive(Default)]
pub(crate) struct HookClock {
    now: AtomicU64,
    hook: Mutex<Option<Hook>>,
    runs: AtomicU64,
    breaker: OnceLock<Weak<CircuitBreaker>>,
}

impl fmt::Debug for HookClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookClock")
            .field("now", &self.now())
            .field("runs", &self.runs())
            .finish_non_exhaustive()
    }
}

impl HookClock {
    /// A breaker built by `builder` on a new hook clock standing at `now`
    /// nanoseconds.
    pub(crate) fn breaker(builder: Builder, now: u64) -> (Arc<CircuitBreaker>, Arc<HookClock>) {
        let clock = Arc::new(HookClock::default());
        clock.set(now);
        let cb = Arc::new(
            builder
                .clock(Shared(Arc::clone(&clock)))
                .build()
                .expect("valid settings"),
        );
        clock.breaker.set(Arc::downgrade(&cb)).expect("set once");
        (cb, clock)
    }

    /// Runs `hook` on the next read of the clock (once).
    pub(crate) fn arm(
        &self,
        hook: impl FnOnce(&Arc<CircuitBreaker>, &HookClock) -> Option<u64> + Send + 'static,
    ) {
        *self.hook.lock().unwrap_or_else(PoisonError::into_inner) = Some(Box::new(hook));
    }

    /// Whether the hook is still waiting for a read.
    pub(crate) fn armed(&self) -> bool {
        self.hook
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// How many hooks ran.
    pub(crate) fn runs(&self) -> u64 {
        // SeqCst throughout: a test's bookkeeping, simplest to read.
        self.runs.load(Ordering::SeqCst)
    }

    pub(crate) fn now(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }

    pub(crate) fn set(&self, nanos: u64) {
        self.now.store(nanos, Ordering::SeqCst);
    }

    pub(crate) fn advance(&self, nanos: u64) {
        self.now.fetch_add(nanos, Ordering::SeqCst);
    }
}

/// The breaker owns its clock; the test keeps a handle to arm it.
#[derive(Debug)]
struct Shared(Arc<HookClock>);

impl Clock for Shared {
    fn now_nanos(&self) -> u64 {
        let c = &self.0;
        // Taken out before it runs: the hook's own calls read the clock too.
        let hook = c.hook.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(hook) = hook {
            let cb = c.breaker.get().and_then(Weak::upgrade).expect("alive");
            let this_read = hook(&cb, c);
            c.runs.fetch_add(1, Ordering::SeqCst);
            if let Some(t) = this_read {
                return t;
            }
        }
        c.now()
    }
}
