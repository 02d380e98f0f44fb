//! The breakers a backend reads: held weakly, by name, each with the counts
//! only its caller knows.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use warden_breaker::CircuitBreaker;

use crate::CallerCounts;

/// One watched name.
#[derive(Debug)]
struct Entry {
    breaker: Weak<CircuitBreaker>,
    counts: Arc<CallerCounts>,
}

/// Breakers by name (the latest watched for a name wins). The lock is held only
/// to update or copy out the list, never while a breaker is read: reading its
/// state may run its state-change callbacks, which may come back here.
#[derive(Debug, Default)]
pub(crate) struct Watched {
    breakers: Mutex<BTreeMap<Arc<str>, Entry>>,
}

impl Watched {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<Arc<str>, Entry>> {
        // Every update under the lock is complete before anything can panic.
        self.breakers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Watches `breaker` with `counts`, or with the counts its name already
    /// has here (new ones for a new name); returns the counts.
    pub(crate) fn watch(
        &self,
        breaker: &Arc<CircuitBreaker>,
        counts: Option<&Arc<CallerCounts>>,
    ) -> Arc<CallerCounts> {
        let mut map = self.lock();
        let counts = match (counts, map.get(breaker.name())) {
            (Some(c), _) => Arc::clone(c),
            (None, Some(e)) => Arc::clone(&e.counts),
            (None, None) => Arc::default(),
        };
        map.insert(
            Arc::from(breaker.name()),
            Entry {
                breaker: Arc::downgrade(breaker),
                counts: Arc::clone(&counts),
            },
        );
        counts
    }

    #[cfg(any(feature = "metrics", feature = "tracing"))]
    pub(crate) fn get(&self, name: &str) -> Option<(Arc<CircuitBreaker>, Arc<CallerCounts>)> {
        let map = self.lock();
        let e = map.get(name)?;
        Some((e.breaker.upgrade()?, Arc::clone(&e.counts)))
    }

    /// Whether `name`'s breaker is watched and alive. Makes no `Arc` of it, so
    /// no breaker can be dropped here (a caller may hold a lock of its own).
    #[cfg(feature = "tracing")]
    pub(crate) fn is_live(&self, name: &str) -> bool {
        self.lock()
            .get(name)
            .is_some_and(|e| e.breaker.strong_count() > 0)
    }

    /// The live breakers with their counts, in name order; dropped breakers
    /// are forgotten with their counts.
    pub(crate) fn live(&self) -> Vec<(Arc<CircuitBreaker>, Arc<CallerCounts>)> {
        let mut map = self.lock();
        map.retain(|_, e| e.breaker.strong_count() > 0);
        map.values()
            .filter_map(|e| Some((e.breaker.upgrade()?, Arc::clone(&e.counts))))
            .collect()
    }
}
