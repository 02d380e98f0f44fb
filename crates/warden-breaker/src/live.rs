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
use crate::clock::NANOS_PER_TICK;
use crate::sync::{AtomicU64, Ordering};
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

/// Inline copies of the few settings the frequent paths other than the plain
/// closed success need, so that those paths read one word of the breaker instead
/// of loading the live settings (an arc-swap load: a thread-local debt slot, a
/// sequentially consistent store and its release when the guard drops; with the
/// lazy cell around it about 15 ns per call on the benchmark VM, see
/// BENCHMARKS.md).
///
/// Each word is the copy of one version of the settings, whole: an operation that
/// decides from a word uses nothing else of the settings, and an operation that
/// needs more loads the settings and decides everything from them (the word then
/// only told it to load them). `CircuitBreaker::reconfigure` stores the words after
/// it publishes the new settings, as it stores the `hot` byte, so a call that reads
/// a word while a reconfiguration runs decides with the settings of just before it,
/// exactly as a call that started a moment earlier would.
///
/// * `half_open`: `[max wait in ticks: 40 | max_requests: 20]` (both fit:
///   a duration is at most 2^39 ticks, `max_requests` at most 2^20 - 1). A
///   half-open admission that is rejected or admitted reads only this word. One
///   whose max wait passed by this word loads the settings and decides again.
/// * `timed`: `[threshold in µs: 40 | 20 | throttle: 1 | slow-call rule: 1 |
///   lease: 1 | time window: 1]`: what a closed success recorded on the timed path needs
///   (which time to read, whether to enter a bucket, whether the call was slow,
///   whether the throttle may evaluate). A slow call loads the settings and is
///   judged again by them before it counts as slow; an evaluation loads them too.
/// * `cursor`: `[generation: 20 | end: 44]`, the time window's bucket last
///   entered, as [`Buckets`]' own cursor: a success of that generation before
///   `end` needs no bucket entry, so it needs neither the settings nor the window.
///   Cleared when a reconfiguration replaces the window and at every sweep, like
///   the window's own cursor.
#[derive(Debug)]
pub(crate) struct Quick {
    half_open: AtomicU64,
    timed: AtomicU64,
    cursor: AtomicU64,
}

const REQUESTS_BITS: u32 = 20;
const REQUESTS_MASK: u64 = (1 << REQUESTS_BITS) - 1;
const THRESHOLD_MASK: u64 = (1 << 40) - 1;
/// The threshold's place in `timed`, its top bits: read with one shift.
const THRESHOLD_SHIFT: u32 = 24;
// The flags in the low byte of `timed`: each tested with a byte immediate.
const WINDOW: u64 = 1;
const LEASE: u64 = 2;
const SLOW_RULE: u64 = 4;
const THROTTLE: u64 = 8;
const CURSOR_END_BITS: u32 = 44;
const CURSOR_END_MASK: u64 = (1 << CURSOR_END_BITS) - 1;

/// What a closed success on the timed path reads of the settings (see [`Quick`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timed(u64);

impl Timed {
    /// Whether the settings time calls with the ticker's time (see
    /// `TimeBase::timed_nanos_if`).
    #[inline]
    pub(crate) fn leased(self) -> bool {
        self.0 & LEASE != 0
    }

    /// Whether the settings have a time window (or an adaptive throttle's).
    #[inline]
    pub(crate) fn window(self) -> bool {
        self.0 & WINDOW != 0
    }

    /// Whether the settings have an adaptive throttle.
    #[inline]
    pub(crate) fn throttle(self) -> bool {
        self.0 & THROTTLE != 0
    }

    /// Whether a call admitted at `start_micros` (none: untimed) and recorded at
    /// `now_nanos` is slow by the settings' slow-call threshold (never without one).
    #[inline]
    pub(crate) fn is_slow(self, start_micros: Option<u64>, now_nanos: u64) -> bool {
        match start_micros {
            // `SlowCalls::is_slow_since` on the threshold in microseconds, with no
            // `Duration` between (whose round trip the compiler kept for a shifted
            // threshold: callgrind, 11 instructions a call).
            Some(start) if self.0 & SLOW_RULE != 0 => {
                crate::policy::took_micros(start, now_nanos) >= self.0 >> THRESHOLD_SHIFT
            }
            _ => false,
        }
    }
}

impl Quick {
    pub(crate) fn new(settings: &Settings) -> Self {
        let (half_open, timed) = Self::words(settings);
        Self {
            half_open: AtomicU64::new(half_open),
            timed: AtomicU64::new(timed),
            cursor: AtomicU64::new(0),
        }
    }

    fn words(settings: &Settings) -> (u64, u64) {
        let half_open = (settings.half_open_max_wait_ticks() << REQUESTS_BITS)
            | (u64::from(settings.max_requests()) & REQUESTS_MASK);
        let mut timed = 0;
        // An adaptive throttle's window is a time window's buckets.
        if settings.time_window().is_some() || settings.adaptive_throttle().is_some() {
            timed |= WINDOW;
        }
        if settings.adaptive_throttle().is_some() {
            timed |= THROTTLE;
        }
        if settings.time().has_lease() {
            timed |= LEASE;
        }
        if let Some(rule) = settings.slow_calls() {
            // At most 2^39 µs (validated): fits in 40 bits.
            let micros = u64::try_from(rule.threshold().as_micros()).unwrap_or(THRESHOLD_MASK);
            timed |= SLOW_RULE | (micros.min(THRESHOLD_MASK) << THRESHOLD_SHIFT);
        }
        (half_open, timed)
    }

    /// Copies `next`, just published (see [`Quick`]); `new_window`: it replaced the
    /// time window, whose cursor this copy no longer describes.
    pub(crate) fn store(&self, next: &Live, new_window: bool) {
        let (half_open, timed) = Self::words(&next.settings);
        // Relaxed: like the breaker's `hot` byte, a copy of settings already
        // published; it publishes nothing itself (a call that reads an older copy
        // decides with the settings of just before the reconfiguration).
        self.half_open.store(half_open, Ordering::Relaxed);
        self.timed.store(timed, Ordering::Relaxed);
        if new_window {
            self.clear_cursor();
        }
    }

    /// `max_requests` and the max wait in ticks (0: none), of one version.
    #[inline]
    pub(crate) fn half_open(&self) -> (u32, u64) {
        // Relaxed: see `store`.
        let w = self.half_open.load(Ordering::Relaxed);
        ((w & REQUESTS_MASK) as u32, w >> REQUESTS_BITS)
    }

    /// What a timed closed success needs, of one version.
    #[inline]
    pub(crate) fn timed(&self) -> Timed {
        // Relaxed: see `store`.
        Timed(self.timed.load(Ordering::Relaxed))
    }

    /// Whether the time window's bucket of the time `now_nanos` (since the epoch)
    /// is already entered in `generation` (as `Buckets::enter_at`'s first test: a
    /// tick before the cursor's end stands still in the cursor's bucket).
    ///
    /// Compared in nanoseconds, so the caller converts nothing to ticks: a tick
    /// (`now_nanos / NANOS_PER_TICK`, saturating at `MAX_TICK`) is before the end
    /// exactly when `now_nanos` is before the end's first nanosecond, except for
    /// an end past `MAX_TICK`, where a time past the end answers `false`; a
    /// `false` only sends the success through the settings to enter the bucket,
    /// which finds it entered (callgrind, the benches' `time_window_success`: 144
    /// -> 137 instructions a call, `adaptive_success` 152 -> 146 with the
    /// throttle's bucket compared the same way, `slow_calls_success` 195 -> 191:
    /// its path converted the time though it has no window).
    #[inline]
    pub(crate) fn entered(&self, generation: u32, now_nanos: u64) -> bool {
        // Relaxed: a cache of what the window's own cursor said; the window's
        // snapshots are read through its seqlock, never through this.
        let c = self.cursor.load(Ordering::Relaxed);
        // No overflow: an end below 2^44 ticks is below 2^64 nanoseconds.
        // The caller's generation taken off the cursor's: what is left is the end
        // exactly when they are equal (no borrow: the generation's low bits are 0),
        // and above any end when not (callgrind: 2 instructions a call fewer than
        // comparing the generations and masking the end).
        let end = c.wrapping_sub(u64::from(generation) << CURSOR_END_BITS);
        end <= CURSOR_END_MASK && now_nanos < end * NANOS_PER_TICK
    }

    /// Remembers the window's cursor after an entry (`Buckets::cursor_word`).
    #[inline]
    pub(crate) fn set_cursor(&self, word: u64) {
        // Relaxed: see `entered`. A racing entry may store an older bucket's word:
        // that costs a later success one more entry through the settings, nothing else.
        self.cursor.store(word, Ordering::Relaxed);
    }

    /// Forgets the cursor (a new window, or a sweep: its generation would wrap).
    pub(crate) fn clear_cursor(&self) {
        // Relaxed: see `entered`.
        self.cursor.store(0, Ordering::Relaxed);
    }
}
