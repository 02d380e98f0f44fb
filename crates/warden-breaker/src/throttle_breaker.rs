//! How a [`CircuitBreaker`] applies its [`AdaptiveThrottle`](crate::AdaptiveThrottle):
//! the few steps the admission and recording paths dispatch to (the rule and its
//! semantics are in `throttle.rs`).
//!
//! The throttle's window is the breaker's time-window machinery: a [`Buckets`]
//! ring of start snapshots over the generation's counts, built with the settings
//! (see `live.rs`). Accepts are the successes (on the calling thread's cell),
//! requests are successes, failures and this rule's rejections. The rejections
//! are kept in the generation's slow-call count, free here since
//! [`SlowCalls`](crate::SlowCalls) cannot be combined with the throttle, so that
//! the bucket snapshots carry them with no change to the ring.
//!
//! The last evaluation lives in the breaker itself ([`Throttle`]), and the
//! breaker's hot byte has a bit that follows it (see
//! [`CircuitBreaker::sync_shedding`]): while the last evaluation sheds nothing,
//! an admission is the plain one and does not look at the throttle at all
//! (callgrind, the benches' `adaptive_success`: 177 -> 152 instructions a call,
//! against 82 for the default policy's closed success).

use super::*;
use crate::AdaptiveThrottle;
use crate::counters::tag_of_key;

impl CircuitBreaker {
    /// Whether the throttle rejects a call admitted from state word `s` (never
    /// unless the breaker is closed by its rules). A rejection is counted (the
    /// window's requests, the lifetime total) before this returns.
    #[inline]
    pub(super) fn throttles(&self, l: &Cfg<'_>, s: Snapshot) -> bool {
        if s.tag() != Tag::Closed || s.is_open_requested() {
            return false;
        }
        // The common case: the last evaluation sheds nothing, no draw.
        self.throttle.probability(s.generation()) != 0 && self.throttle_draw(l, s)
    }

    /// Whether an admission from state word `s` is the throttle's common case: the
    /// throttle is the only admission hook, the breaker is closed by its rules with
    /// nothing else to check (the plain path's word), and the last evaluation of
    /// this generation sheds nothing (a failing window whose probability is still 0
    /// goes on to the hooked path, which admits it the same way). Such an admission
    /// is the plain one: the decision [`Self::throttles`] and the hooked path would
    /// reach, with one more load (the last evaluation) and no settings.
    #[inline]
    pub(super) fn throttle_admits_plainly(&self, s: Snapshot) -> bool {
        // Relaxed: see `hot`.
        let bits = self.hot.load(Ordering::Relaxed);
        bits & (config::HOT_THROTTLE | config::HOT_HOOKS) == config::HOT_THROTTLE
            && s.is_plain_closed()
            && !self.throttle.may_shed(s.generation())
    }

    /// A draw against the current probability; a rejection is counted and
    /// re-evaluates.
    #[cold]
    #[inline(never)]
    fn throttle_draw(&self, l: &Cfg<'_>, s: Snapshot) -> bool {
        let (true, Some(b)) = (l.settings().adaptive_throttle().is_some(), &l.get().buckets) else {
            // Reconfigured away meanwhile: the new settings shed nothing.
            return false;
        };
        if s.expiry()
            .is_some_and(|expiry| !s.is_pending() && self.now_ticks() > expiry)
        {
            // The counting interval expired: the admission starts a new generation,
            // whose window is empty.
            return false;
        }
        let generation = s.generation();
        let key = self.key_of_word(s);
        let now = (self.timed_nanos(l) / NANOS_PER_TICK).min(MAX_TICK);
        // Under a claim, as every write of a shared word after a check (see
        // `claimed`): the evaluation, the bucket and the throttle's requests are
        // tagged words, and the clock was read since `s` was loaded. A generation
        // gone meanwhile sheds nothing.
        self.claimed_then(key, true, || {
            let p = if self.throttle.bucket_moved(now) {
                self.throttle_evaluate(l, key, now)
            } else {
                self.throttle.probability(generation)
            };
            if AdaptiveThrottle::draw() >= p {
                return false;
            }
            b.enter_at(key, now, &self.counters, |seen| self.ask(key, seen));
            self.counters
                .count_slow(generation, |seen| self.ask(key, seen));
            self.counters.record_rejection(Rejected::Throttled);
            self.throttle_evaluate(l, key, now);
            true
        })
        .unwrap_or(false)
    }

    /// After a closed-state success at `now_ns` (since the epoch), already counted,
    /// with a throttle in the settings `l`: one load of the last evaluation, which
    /// says whether the success can change it.
    #[inline]
    pub(super) fn throttle_success(&self, l: &Cfg<'_>, key: u64, now_ns: u64) {
        if self.throttle.success_evaluates(tag_of_key(key), now_ns) {
            // Under a claim, as every success's write of a shared word (see `claimed`).
            self.claimed(key, || {
                self.throttle_evaluate(l, key, to_ticks(now_ns));
            });
        }
    }

    /// [`Self::throttle_success`] on the timed fast path, which has no settings at
    /// hand: they are loaded only when the success can change the evaluation.
    /// The closed `ticket`'s word is its generation's tag, which the caller has
    /// in a register from counting the success (callgrind: `adaptive_success` 141
    /// -> 139 instructions a call against the tag made again from the generation,
    /// and `slow_calls_success` 182 -> 180: its path no longer decodes the
    /// generation, which it only needed for this).
    #[inline]
    pub(super) fn throttle_timed_success(&self, ticket: Ticket, now_ns: u64) {
        if self.throttle.success_evaluates(ticket.word(), now_ns) {
            self.throttle_evaluate_loaded(ticket.key(), now_ns);
        }
    }

    /// [`Self::throttle_evaluate`] with the settings in force now, at `now_ns`.
    #[cold]
    #[inline(never)]
    fn throttle_evaluate_loaded(&self, key: u64, now_ns: u64) {
        // Under a claim, as every fast path's write of a shared word (see `claimed`).
        self.claimed(key, || {
            self.throttle_evaluate(&Cfg::lazy(&self.live), key, to_ticks(now_ns));
        });
    }

    /// Evaluates the throttle of the settings `l` over the window ending in the
    /// bucket of tick `now` (this breaker's and the peers') and stores the result;
    /// returns its probability (a fraction of 2^32; 0 without a throttle).
    #[cold]
    #[inline(never)]
    pub(super) fn throttle_evaluate(&self, l: &Cfg<'_>, key: u64, now: u64) -> u32 {
        let (Some(rule), Some(b)) = (l.settings().adaptive_throttle(), &l.get().buckets) else {
            return 0;
        };
        let generation = generation_of(key);
        let now = b.standing_still(generation, now);
        let (requests, accepts) = self.throttle_window_at(b, key, now);
        let (peer_requests, peer_accepts) = self.throttle.peers();
        let p = self.throttle.store(
            &rule,
            generation,
            now,
            requests.saturating_add(peer_requests),
            accepts.saturating_add(peer_accepts),
        );
        self.sync_shedding();
        p
    }

    /// Makes the hot byte's [`HOT_SHEDDING`](config::HOT_SHEDDING) bit say whether
    /// the last evaluation may shed (set only while the byte has a throttle), after
    /// each evaluation and sweep. Admissions look at the throttle only while it is
    /// set; with it clear they are the plain admission, which is what the throttle's
    /// common case decides anyway (see [`Self::throttle_admits_plainly`]).
    ///
    /// Racing evaluations store in either order (the rule's documented
    /// statistics); the bit follows whichever stored last: each evaluation
    /// updates it from the word it reads, then reads the word again and starts
    /// over if another evaluation stored meanwhile. In one total order (SeqCst:
    /// the word's store and loads, the byte's update) the last update is then
    /// followed by no store of the word, so at rest the bit says what the word
    /// does. A `reconfigure` stores the byte with the bit clear and evaluates
    /// again if it keeps the throttle.
    pub(super) fn sync_shedding(&self) {
        loop {
            let w = self.throttle.last_word();
            // SeqCst: see above. No write while the bit is already right.
            let _ = self
                .hot
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |bits| {
                    let shed = bits & config::HOT_THROTTLE != 0 && Throttle::sheds(w);
                    let want = if shed {
                        bits | config::HOT_SHEDDING
                    } else {
                        bits & !config::HOT_SHEDDING
                    };
                    (want != bits).then_some(want)
                });
            if self.throttle.last_word() == w {
                return;
            }
        }
    }

    /// This breaker's requests and accepts in the window ending in the bucket of
    /// tick `now` (already standing still) of the generation keyed `key`.
    fn throttle_window_at(&self, b: &Buckets, key: u64, now: u64) -> (u64, u64) {
        let generation = generation_of(key);
        let so_far = self.counters.calls(key);
        // Without a start snapshot (another thread is still writing this bucket's,
        // and no older bucket in the window has one) the window reads as empty.
        let window = b
            .start(generation, now)
            .map(|start| so_far.since(start))
            .unwrap_or_default();
        let accepts = u64::from(window.successes);
        (
            accepts + u64::from(window.failures) + u64::from(window.slow),
            accepts,
        )
    }

    /// With an [`AdaptiveThrottle`]: this breaker's own requests and accepts in
    /// the window now (`(0, 0)` while it is not closed by its rules, whose window
    /// starts empty when it closes), without the peers' (see
    /// [`set_throttle_peers`](Self::set_throttle_peers)). `None` without a throttle.
    /// What an instance of a fleet publishes to the others.
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_breaker::{AdaptiveThrottle, CircuitBreaker};
    /// let cb = CircuitBreaker::builder("api")
    ///     .adaptive_throttle(AdaptiveThrottle::new(Duration::from_secs(10)))
    ///     .build()?;
    /// let _ = cb.call(|| Ok::<_, ()>(()));
    /// let _ = cb.call(|| Err::<(), _>(()));
    /// assert_eq!(cb.throttle_window(), Some((2, 1)));
    /// assert_eq!(CircuitBreaker::builder("db").build()?.throttle_window(), None);
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn throttle_window(&self) -> Option<(u64, u64)> {
        let l = &Cfg::lazy(&self.live);
        l.settings().adaptive_throttle()?;
        let b = l.get().buckets.as_ref()?;
        let s = self.load();
        if s.tag() != Tag::Closed || s.is_open_requested() {
            return Some((0, 0));
        }
        let generation = s.generation();
        let now = (self.timed_nanos(l) / NANOS_PER_TICK).min(MAX_TICK);
        Some(self.throttle_window_at(b, self.key_of_word(s), b.standing_still(generation, now)))
    }

    /// The probability with which an [`AdaptiveThrottle`] rejects a call now: its
    /// last evaluation in the current closed generation (0 without a throttle,
    /// before any evaluation, or while the breaker is not closed by its rules).
    /// The evaluation is brought up to date by outcomes, rejections and
    /// admissions in a new bucket (see [`AdaptiveThrottle`]), not by this read.
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_breaker::{AdaptiveThrottle, CircuitBreaker};
    /// let cb = CircuitBreaker::builder("api")
    ///     .adaptive_throttle(AdaptiveThrottle::new(Duration::from_secs(10)).with_min_requests(1))
    ///     .build()?;
    /// assert_eq!(cb.throttle_probability(), 0.0);
    /// let _ = cb.call(|| Err::<(), _>(()));
    /// assert_eq!(cb.throttle_probability(), 0.5); // (1 - 2 * 0) / (1 + 1)
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn throttle_probability(&self) -> f64 {
        let s = self.load();
        if s.tag() != Tag::Closed || s.is_open_requested() {
            return 0.0;
        }
        f64::from(self.throttle.probability(s.generation())) / 4_294_967_296.0
    }

    /// Adds the requests and accepts that other instances of this breaker (a
    /// fleet: the same dependency called from several processes) count in the
    /// same window to every evaluation of this breaker's [`AdaptiveThrottle`], so
    /// that every instance sheds the same share; replaces what the last call
    /// set, and evaluates at once. Each count saturates at 2^32 - 1; accepts
    /// beyond requests count as requests. Without a throttle it is kept but
    /// unused. `warden-redis`'s fleet calls it every slice with the sums of the
    /// other instances' [`throttle_window`](Self::throttle_window).
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_breaker::{AdaptiveThrottle, CircuitBreaker};
    /// let cb = CircuitBreaker::builder("api")
    ///     .adaptive_throttle(AdaptiveThrottle::new(Duration::from_secs(10)).with_min_requests(1))
    ///     .build()?;
    /// // Elsewhere in the fleet, 99 calls of which 9 succeeded: this instance
    /// // sheds (99 - 2 * 9) / 100 of its calls before it made any.
    /// cb.set_throttle_peers(99, 9);
    /// assert!((cb.throttle_probability() - 0.81).abs() < 1e-9);
    /// # Ok::<(), warden_breaker::ConfigError>(())
    /// ```
    pub fn set_throttle_peers(&self, requests: u64, accepts: u64) {
        self.throttle.set_peers(requests, accepts);
        self.throttle_reconfigured(&Cfg::lazy(&self.live));
    }

    /// After [`reconfigure`](Self::reconfigure) published settings `l` that keep
    /// the window (a closed breaker keeps its counts), or new peers' counts:
    /// evaluates the rule at once, so a new `k`, minimum, cap or peers' window
    /// applies from the next admission.
    #[cold]
    pub(super) fn throttle_reconfigured(&self, l: &Cfg<'_>) {
        if l.settings().adaptive_throttle().is_none() {
            return;
        }
        let s = self.load();
        if s.tag() != Tag::Closed || s.is_open_requested() {
            return;
        }
        let key = self.key_of_word(s);
        let now = (self.timed_nanos(l) / NANOS_PER_TICK).min(MAX_TICK);
        // Under a claim: the clock was read since `s` was loaded (see `claimed`).
        self.claimed(key, || {
            self.throttle_evaluate(l, key, now);
        });
    }
}
