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
//! [`CircuitBreaker::reconfigure`]: crate::CircuitBreaker::reconfigure

use std::sync::Arc;

use crate::Settings;
use crate::buckets::Buckets;
use crate::sync::Mutex;
use crate::window::EventRing;

/// One version of a breaker's settings and the windows they use.
pub(crate) struct Live {
    pub(crate) settings: Settings,
    /// Where the failures happened, with a [`CountWindow`](crate::CountWindow).
    pub(crate) window: Option<Arc<EventRing>>,
    /// Where the slow calls happened, with a count window and [`SlowCalls`](crate::SlowCalls).
    pub(crate) slow_window: Option<Arc<EventRing>>,
    /// Each time bucket's start, with a [`TimeWindow`](crate::TimeWindow).
    pub(crate) buckets: Option<Arc<Buckets>>,
    /// Held by `reconfigure` from its load of the current value to its last
    /// store, so two reconfigurations never interleave; shared by every version.
    pub(crate) reconfiguring: Arc<Mutex<()>>,
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
            .map(|w| Arc::new(Buckets::new(w.buckets() as usize, w.width_ticks())));
        Self {
            settings,
            window,
            slow_window,
            buckets,
            reconfiguring: Arc::new(Mutex::new(())),
        }
    }

    /// The value that replaces `self` with `settings`, keeping every window whose
    /// shape stays, and what the closed state must do about it.
    pub(crate) fn next(&self, settings: Settings) -> (Self, Restart) {
        let mut next = Self::new(settings);
        next.reconfiguring = Arc::clone(&self.reconfiguring);
        let (old, new) = (&self.settings, &next.settings);
        let size = |s: &Settings| s.count_window().map(|w| w.size());
        let shape = |s: &Settings| s.time_window().map(|w| (w.buckets(), w.width_ticks()));
        // The kind of rule: a closure or the default (counts only), a count window,
        // a time window. Its parameters (rates, minimums) may change freely.
        let same_shape = size(old) == size(new) && shape(old) == shape(new);
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
}
