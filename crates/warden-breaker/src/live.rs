//! The part of a breaker that [`CircuitBreaker::reconfigure`] replaces: the
//! settings and the trip rule's windows, built together and published as one
//! value behind one pointer ([`crate::sync::SwapCell`]).
//!
//! A window is sized when it is built, so a reconfiguration that changes its
//! shape builds a new one before publishing it: a concurrent call reads either
//! the old value (old settings, old windows) or the new one, never a window that
//! is still being built. A window whose shape stays is shared by the old and new
//! values, so its events are kept.
//!
//! A value with no window and no per-breaker parts (plain settings, see
//! `Settings::is_plain`: no closure, observer, backoff, window or slow-call rule,
//! which includes the default configuration) is interned: every breaker whose
//! settings are plain and equal shares one `Arc`, so such a breaker pays no heap
//! allocation for its settings (a breaker's name and time origin stay in the
//! breaker itself). The table holds weak references and drops dead ones as it
//! grows, so it never keeps a value alive nor grows with breakers that are gone.
//!
//! [`CircuitBreaker::reconfigure`]: crate::CircuitBreaker::reconfigure

use std::sync::Arc;

use crate::Settings;
use crate::buckets::Buckets;
use crate::window::EventRing;

/// One version of a breaker's settings and the windows they use.
pub(crate) struct Live {
    pub(crate) settings: Settings,
    /// Where the failures happened, with a [`CountWindow`](crate::CountWindow).
    pub(crate) window: Option<Arc<EventRing>>,
    /// Where the slow calls happened, with a count window and [`SlowCalls`](crate::SlowCalls).
    pub(crate) slow_window: Option<Arc<EventRing>>,
    /// Each time bucket's start, with a [`TimeWindow`](crate::TimeWindow) or an
    /// [`AdaptiveThrottle`](crate::AdaptiveThrottle) (never both).
    pub(crate) buckets: Option<Arc<Buckets>>,
}

/// What a reconfiguration does to the closed state's counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Restart {
    /// Nothing: same windows, same interval.
    Nothing,
    /// The counting interval changed: the current closed generation keeps its
    /// counts and ends `interval` from now (never, for 0).
    Interval,
    /// The trip rule's window changed shape: a closed breaker starts a new
    /// generation with fresh counts.
    Generation,
}

impl Live {
    pub(crate) fn new(settings: Settings) -> Self {
        let ring = |w: crate::CountWindow| Arc::new(EventRing::new(w.size() as usize));
        let window = settings.count_window().map(ring);
        let slow_window = settings
            .count_window()
            .filter(|_| settings.slow_calls().is_some())
            .map(ring);
        let buckets = settings
            .time_window()
            .map(|w| (w.buckets(), w.width_ticks()))
            .or(settings
                .adaptive_throttle()
                .map(|t| (t.buckets(), t.width_ticks())))
            .map(|(n, width)| Arc::new(Buckets::new(n as usize, width)));
        Self {
            settings,
            window,
            slow_window,
            buckets,
        }
    }

    /// The value that replaces `self` with `settings`, keeping every window whose
    /// shape stays, and what the closed state must do about it.
    pub(crate) fn next(&self, settings: Settings) -> (Self, Restart) {
        let mut next = Self::new(settings);
        let (old, new) = (&self.settings, &next.settings);
        let size = |s: &Settings| s.count_window().map(|w| w.size());
        let shape = |s: &Settings| s.time_window().map(|w| (w.buckets(), w.width_ticks()));
        let throttle = |s: &Settings| {
            s.adaptive_throttle()
                .map(|t| (t.buckets(), t.width_ticks()))
        };
        // The kind of rule: a closure or the default (counts only), a count window,
        // a time window, an adaptive throttle. Its parameters (rates, minimums, k,
        // caps) may change freely.
        let same_shape =
            size(old) == size(new) && shape(old) == shape(new) && throttle(old) == throttle(new);
        if same_shape {
            next.window.clone_from(&self.window);
            next.buckets.clone_from(&self.buckets);
            if self.slow_window.is_some() && next.slow_window.is_some() {
                // Slow calls were and are timed over the same count window.
                next.slow_window.clone_from(&self.slow_window);
            }
        }
        let restart = if !same_shape {
            Restart::Generation
        } else if old.interval_ticks() != new.interval_ticks() {
            Restart::Interval
        } else {
            Restart::Nothing
        };
        (next, restart)
    }

    /// The value to publish: shared with every other breaker whose settings are
    /// plain and equal (see the module's docs), else `self` alone.
    pub(crate) fn publish(self) -> Arc<Self> {
        #[cfg(not(loom))]
        if self.settings.is_plain() {
            return intern(self);
        }
        Arc::new(self)
    }
}

/// The interned plain values, by `Settings::plain_key`. (Not under loom: the
/// models build few breakers, and a static would outlive a model's run.)
#[cfg(not(loom))]
fn intern(live: Live) -> Arc<Live> {
    use std::collections::HashMap;
    use std::sync::{Mutex, PoisonError, Weak};

    struct Table {
        values: HashMap<[u64; 4], Weak<Live>>,
        /// Dead entries are dropped when the table reaches this size.
        prune_at: usize,
    }
    static TABLE: Mutex<Option<Table>> = Mutex::new(None);

    let key = live.settings.plain_key();
    // Poisoning cannot leave the table inconsistent (each step below is whole).
    let mut guard = TABLE.lock().unwrap_or_else(PoisonError::into_inner);
    let table = guard.get_or_insert_with(|| Table {
        values: HashMap::new(),
        prune_at: 64,
    });
    if let Some(shared) = table.values.get(&key).and_then(Weak::upgrade) {
        return shared;
    }
    let shared = Arc::new(live);
    table.values.insert(key, Arc::downgrade(&shared));
    if table.values.len() >= table.prune_at {
        table.values.retain(|_, w| w.strong_count() > 0);
        table.prune_at = (table.values.len() * 2).max(64);
    }
    shared
}
