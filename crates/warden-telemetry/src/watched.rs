//! The breakers a backend reads: held weakly, by name, each with the counts
//! only its caller knows, and whatever the backend keeps beside them (`X`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use warden_breaker::CircuitBreaker;

use crate::CallerCounts;

/// One watched name.
#[derive(Debug)]
struct Entry<X> {
    breaker: Weak<CircuitBreaker>,
    counts: Arc<CallerCounts>,
    extra: Arc<X>,
}

/// Breakers by name (the latest watched for a name wins). The lock is held only
/// to update or copy out the list, never while a breaker is read: reading its
/// state may run its state-change callbacks, which may come back here.
#[derive(Debug)]
pub(crate) struct Watched<X = ()> {
    breakers: Mutex<BTreeMap<Arc<str>, Entry<X>>>,
}

impl<X> Default for Watched<X> {
    fn default() -> Self {
        Self {
            breakers: Mutex::default(),
        }
    }
}

/// What a name was watched with when a new breaker of the name replaces it.
// The `metrics` facade reads only `extra` and `counts_kept`; `tracing` none.
#[cfg_attr(not(feature = "otel"), allow(dead_code))]
pub(crate) struct Replaced<'a, X> {
    /// The old breaker, if it is still alive.
    pub(crate) breaker: Option<&'a CircuitBreaker>,
    /// Its caller's counts.
    pub(crate) counts: &'a CallerCounts,
    /// The backend's extra.
    pub(crate) extra: &'a X,
    /// Whether the name goes on with these counts.
    pub(crate) counts_kept: bool,
    /// Whether the name goes on with this breaker (watched again).
    pub(crate) same_breaker: bool,
}

/// A live watched breaker: the breaker, its caller's counts, the backend's extra.
#[cfg(feature = "metrics")]
pub(crate) type Live<X> = (Arc<CircuitBreaker>, Arc<CallerCounts>, Arc<X>);

impl<X> Watched<X> {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<Arc<str>, Entry<X>>> {
        // Every update under the lock is complete before anything can panic.
        self.breakers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Watches `breaker` with `counts`, or with the counts its name already
    /// has here (new ones for a new name); returns the counts.
    #[cfg(feature = "tracing")]
    pub(crate) fn watch(
        &self,
        breaker: &Arc<CircuitBreaker>,
        counts: Option<&Arc<CallerCounts>>,
    ) -> Arc<CallerCounts>
    where
        X: Default,
    {
        self.watch_with_extra(breaker, counts, |_| X::default()).0
    }

    /// [`Self::watch`], with the backend's extra for the new entry made by
    /// `extra` from what the name was watched with before (`None` for a new
    /// name); returns the counts and the extra.
    pub(crate) fn watch_with_extra(
        &self,
        breaker: &Arc<CircuitBreaker>,
        counts: Option<&Arc<CallerCounts>>,
        extra: impl FnOnce(Option<Replaced<'_, X>>) -> X,
    ) -> (Arc<CallerCounts>, Arc<X>) {
        let mut map = self.lock();
        let old = map.get(breaker.name());
        let counts = match (counts, old) {
            (Some(c), _) => Arc::clone(c),
            (None, Some(e)) => Arc::clone(&e.counts),
            (None, None) => Arc::default(),
        };
        // Dropped after the lock is let go: it may be the last reference.
        let old_breaker = old.and_then(|e| e.breaker.upgrade());
        let extra = Arc::new(extra(old.map(|e| {
            Replaced {
                breaker: old_breaker.as_deref(),
                counts: &e.counts,
                extra: &*e.extra,
                counts_kept: Arc::ptr_eq(&e.counts, &counts),
                same_breaker: old_breaker
                    .as_ref()
                    .is_some_and(|o| Arc::ptr_eq(o, breaker)),
            }
        })));
        map.insert(
            Arc::from(breaker.name()),
            Entry {
                breaker: Arc::downgrade(breaker),
                counts: Arc::clone(&counts),
                extra: Arc::clone(&extra),
            },
        );
        drop(map);
        drop(old_breaker);
        (counts, extra)
    }

    #[cfg(feature = "tracing")]
    pub(crate) fn get(&self, name: &str) -> Option<(Arc<CircuitBreaker>, Arc<CallerCounts>)> {
        let map = self.lock();
        let e = map.get(name)?;
        Some((e.breaker.upgrade()?, Arc::clone(&e.counts)))
    }

    /// The live breaker watched as `name`, its counts and the backend's extra.
    #[cfg(feature = "metrics")]
    pub(crate) fn get_with_extra(&self, name: &str) -> Option<Live<X>> {
        let map = self.lock();
        let e = map.get(name)?;
        Some((
            e.breaker.upgrade()?,
            Arc::clone(&e.counts),
            Arc::clone(&e.extra),
        ))
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
    #[cfg(feature = "tracing")]
    pub(crate) fn live(&self) -> Vec<(Arc<CircuitBreaker>, Arc<CallerCounts>)> {
        self.live_with_extra()
            .into_iter()
            .map(|(cb, counts, _)| (cb, counts))
            .collect()
    }

    /// [`Self::live`] with the backend's extra.
    pub(crate) fn live_with_extra(&self) -> Vec<(Arc<CircuitBreaker>, Arc<CallerCounts>, Arc<X>)> {
        let mut map = self.lock();
        map.retain(|_, e| e.breaker.strong_count() > 0);
        map.values()
            .filter_map(|e| {
                Some((
                    e.breaker.upgrade()?,
                    Arc::clone(&e.counts),
                    Arc::clone(&e.extra),
                ))
            })
            .collect()
    }
}
