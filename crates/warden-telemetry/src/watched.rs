//! The breakers a backend reads: held weakly, by name.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use warden_breaker::CircuitBreaker;

/// Breakers by name (the latest watched for a name wins). The lock is held only
/// to update or copy out the list, never while a breaker is read: reading its
/// state may run its state-change callbacks, which may come back here.
#[derive(Debug, Default)]
pub(crate) struct Watched {
    breakers: Mutex<BTreeMap<Arc<str>, Weak<CircuitBreaker>>>,
}

impl Watched {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<Arc<str>, Weak<CircuitBreaker>>> {
        // Every update under the lock is complete before anything can panic.
        self.breakers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn watch(&self, breaker: &Arc<CircuitBreaker>) {
        self.lock()
            .insert(Arc::from(breaker.name()), Arc::downgrade(breaker));
    }

    #[cfg(any(feature = "metrics", feature = "tracing"))]
    pub(crate) fn get(&self, name: &str) -> Option<Arc<CircuitBreaker>> {
        self.lock().get(name).and_then(Weak::upgrade)
    }

    /// The live breakers, in name order; dropped ones are forgotten.
    pub(crate) fn live(&self) -> Vec<Arc<CircuitBreaker>> {
        let mut map = self.lock();
        map.retain(|_, w| w.strong_count() > 0);
        map.values().filter_map(Weak::upgrade).collect()
    }
}
