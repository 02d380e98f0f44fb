//! Per-generation counts: owned stripes for the hot path, shared words for
//! the rare one.
//!
//! Every word is `[0: 4 | generation tag: 20 | count: 40]`, the tag in the same
//! bit position as in the state word, so a plain-closed state word (and a closed
//! permit's ticket) *is* the tag of its generation with count 0, and the hot path
//! uses it without shifting. [`Counts`] reads them as their low 32 bits
//! (gobreaker's `uint32`, wrapping), but the trip rules use all 40 bits: a rule
//! that compares counts (the calls in a count window, a slow-call rate without a
//! window, consecutive successes as successes minus those at the last failure)
//! stays exact past 2^32 calls in one generation (about 12 hours at 100,000 calls
//! a second, and with no counting interval a closed generation lasts forever) and
//! up to 2^40. A word whose tag is not
//! the current generation reads as zero, so a new generation starts from zero
//! without anyone writing, and an increment from a call admitted in an older
//! generation (which tags with its own generation) can never leak into a newer
//! one. That is what keeps counts exact across transitions without a lock.
//!
//! * Stripes (one per [`slot`](crate::slot), `CachePadded`): `requests` and
//!   `successes`, the only counts bumped on every closed-state call. The
//!   owning thread bumps them with a plain load and store.
//! * Rare words (one shared line): failures, consecutive failures, exclusions,
//!   successes at the last failure (consecutive successes are derived from it
//!   rather than stored on every success), half-open slots released, and the
//!   re-trip count of an open generation (for [`OpenBackoff`](crate::OpenBackoff)),
//!   and slow calls (for [`SlowCalls`](crate::SlowCalls)).
//!
//! Lifetime totals ([`Totals`]) sit beside them, untagged: plain monotonic
//! `u64`s that never restart. The ones bumped on hot paths (successes, open and
//! too-many-requests rejections) are more words of the calling thread's stripe,
//! bumped with the same plain load and store; the rare ones (failures, ignored
//! and dropped outcomes, slow calls, transitions by edge) are shared words bumped
//! with `fetch_add` on paths that already write the shared line. `totals()` sums
//! them at collection time.
//!   The re-trip count is tagged with the *open* generation it belongs to, so a
//!   half-open generation reads its predecessor's count, and anything else (a
//!   trip from closed, a forced open) reads as 0.

use crossbeam_utils::CachePadded;

use crate::slot::{self, INDEX_MASK, OVERFLOW, STRIPES};
use crate::state::{GEN_BITS, GEN_MASK, PAYLOAD_BITS};
use crate::sync::{AtomicU64, Ordering};
use crate::{Counts, Rejected, State, Totals};

/// Bits below the tag.
const COUNT_BITS: u32 = PAYLOAD_BITS;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

/// The tag of `generation`: the generation in its state-word position.
#[inline]
pub(crate) const fn tag_of(generation: u32) -> u64 {
    (generation as u64 & GEN_MASK) << COUNT_BITS
}

/// `count` (modulo 2^40) tagged with `generation`.
#[inline]
const fn tagged(generation: u32, count: u64) -> u64 {
    tag_of(generation) | (count & COUNT_MASK)
}

/// The count `word` holds for the generation tagged `tag` (0 if tagged otherwise).
#[inline]
const fn count_at(word: u64, tag: u64) -> u32 {
    if word & !COUNT_MASK == tag {
        word as u32
    } else {
        0
    }
}

/// The count `word` holds for `generation` (0 if tagged with another one).
#[inline]
const fn count_in(word: u64, generation: u32) -> u32 {
    count_at(word, tag_of(generation))
}

/// All 40 bits of the count `word` holds for `generation` (0 if tagged with
/// another one): what the trip rules compare.
#[inline]
const fn wide_in(word: u64, generation: u32) -> u64 {
    if word & !COUNT_MASK == tag_of(generation) {
        word & COUNT_MASK
    } else {
        0
    }
}

/// `word` plus one in the generation tagged `tag`. Counts are read modulo 2^32;
/// a carry out of the 40-bit count field after 2^40 bumps moves the tag on,
/// which reads as 0 (2^40 is 0 modulo 2^32) until a later bump re-tags the word.
#[inline]
const fn bumped(word: u64, tag: u64) -> u64 {
    let base = if word & !COUNT_MASK == tag { word } else { tag };
    base + 1
}

/// Whether `word` is tagged with a generation after `generation` (modulo the
/// 20-bit wrap: up to half the generation space ahead).
#[inline]
const fn tagged_after(word: u64, generation: u32) -> bool {
    let ahead = (word >> COUNT_BITS).wrapping_sub(generation as u64) & GEN_MASK;
    ahead != 0 && ahead < 1 << (GEN_BITS - 1)
}

/// Compare-and-swap update of a shared tagged word; returns the new count.
///
/// A word already tagged with a later generation is left alone (the update is
/// stale, and 0 is returned): callers check their generation against the state
/// word first, but the generation can move on between that check and this
/// exchange, and re-tagging the word with the old generation would wipe the
/// newer generation's count (found by the loom models `interval_reset_races_failure`
/// and `stale_fast_path_success_keeps_new_counts`).
#[inline]
fn update_shared(word: &AtomicU64, generation: u32, f: impl Fn(u64) -> u64) -> u64 {
    // Relaxed throughout: these are statistics tagged with their generation; no other
    // memory is published through them, and the exchange alone keeps increments from
    // being lost.
    let mut cur = word.load(Ordering::Relaxed);
    loop {
        if tagged_after(cur, generation) {
            return 0;
        }
        let next = f(wide_in(cur, generation)) & COUNT_MASK;
        match word.compare_exchange_weak(
            cur,
            tagged(generation, next),
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => return next,
            Err(actual) => cur = actual,
        }
    }
}

/// A closed generation's successes, failures and slow calls (each modulo 2^32).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Calls {
    pub(crate) successes: u32,
    pub(crate) failures: u32,
    pub(crate) slow: u32,
}

impl Calls {
    /// Successes and failures.
    pub(crate) fn total(self) -> u32 {
        self.successes.wrapping_add(self.failures)
    }

    /// The outcomes since `earlier` (counts wrap modulo 2^32).
    pub(crate) fn since(self, earlier: Calls) -> Calls {
        Calls {
            successes: self.successes.wrapping_sub(earlier.successes),
            failures: self.failures.wrapping_sub(earlier.failures),
            slow: self.slow.wrapping_sub(earlier.slow),
        }
    }
}

/// One thread's counts in one breaker. Only the owning thread writes an owned
/// stripe (plain load and store); the overflow stripe is shared (exchanges and
/// `fetch_add`).
#[derive(Debug)]
struct Stripe {
    /// Tagged: this generation's admissions.
    requests: AtomicU64,
    /// Tagged: this generation's closed-state successes.
    successes: AtomicU64,
    /// Untagged lifetime total: every success reported.
    total_successes: AtomicU64,
    /// Untagged lifetime total: `Rejected::Open` refusals.
    rejected_open: AtomicU64,
    /// Untagged lifetime total: `Rejected::TooManyRequests` refusals.
    rejected_too_many: AtomicU64,
    /// Untagged lifetime total: `Rejected::Throttled` refusals.
    rejected_throttled: AtomicU64,
}

#[derive(Debug)]
struct Rare {
    failures: AtomicU64,
    consecutive_failures: AtomicU64,
    exclusions: AtomicU64,
    successes_at_failure: AtomicU64,
    released: AtomicU64,
    retrips: AtomicU64,
    half_open_deadline: AtomicU64,
    slow: AtomicU64,
    /// Untagged lifetime totals (not among `words()`: the sweep never touches them).
    total_failures: AtomicU64,
    total_ignored: AtomicU64,
    total_dropped: AtomicU64,
    total_slow: AtomicU64,
    /// By edge: see [`edge`].
    total_transitions: [AtomicU64; EDGES],
}

/// The six edges between the three states.
const EDGES: usize = 6;

/// The slot of the edge `from -> to` (`from != to`) among the `EDGES`.
const fn edge(from: State, to: State) -> usize {
    let (f, t) = (from.index(), to.index());
    f * 2 + if t > f { t - 1 } else { t }
}

/// Adds one to an untagged total that only the calling thread writes.
#[inline]
fn bump_owned_total(word: &AtomicU64) {
    // Relaxed load and store, no read-modify-write: see `Counters::bump_stripe`.
    let w = word.load(Ordering::Relaxed);
    word.store(w.wrapping_add(1), Ordering::Relaxed);
}

/// Adds one to an untagged shared total.
#[inline]
fn bump_shared_total(word: &AtomicU64) {
    // Relaxed: a statistic that publishes nothing; readers synchronise with the
    // calls they wait for by their own means (joining threads).
    word.fetch_add(1, Ordering::Relaxed);
}

impl Stripe {
    fn new(word: u64) -> Self {
        Self {
            requests: AtomicU64::new(word),
            successes: AtomicU64::new(word),
            total_successes: AtomicU64::new(0),
            rejected_open: AtomicU64::new(0),
            rejected_too_many: AtomicU64::new(0),
            rejected_throttled: AtomicU64::new(0),
        }
    }
}

impl Rare {
    fn new(word: u64) -> Self {
        Self {
            failures: AtomicU64::new(word),
            consecutive_failures: AtomicU64::new(word),
            exclusions: AtomicU64::new(word),
            successes_at_failure: AtomicU64::new(word),
            released: AtomicU64::new(word),
            retrips: AtomicU64::new(word),
            half_open_deadline: AtomicU64::new(word),
            slow: AtomicU64::new(word),
            total_failures: AtomicU64::new(0),
            total_ignored: AtomicU64::new(0),
            total_dropped: AtomicU64::new(0),
            total_slow: AtomicU64::new(0),
            total_transitions: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    fn words(&self) -> [&AtomicU64; 8] {
        [
            &self.failures,
            &self.consecutive_failures,
            &self.exclusions,
            &self.successes_at_failure,
            &self.released,
            &self.retrips,
            &self.half_open_deadline,
            &self.slow,
        ]
    }
}

#[derive(Debug)]
pub(crate) struct Counters {
    /// `SLOTS` owned stripes, then the shared overflow stripe.
    stripes: Box<[CachePadded<Stripe>; STRIPES]>,
    rare: CachePadded<Rare>,
}

impl Counters {
    /// Counters whose every word is tagged with `generation`, the breaker's first: an
    /// update never overwrites a word tagged with a later generation, so an initial
    /// tag 0 would read as "later" than the generations in the upper half of the range.
    pub(crate) fn new(generation: u32) -> Self {
        let word = tagged(generation, 0);
        Self {
            stripes: Box::new(std::array::from_fn(|_| CachePadded::new(Stripe::new(word)))),
            rare: CachePadded::new(Rare::new(word)),
        }
    }

    /// Bumps `pick(stripe)` of the calling thread's stripe in `generation`.
    #[inline]
    fn bump_stripe(&self, tag: u64, pick: impl Fn(&Stripe) -> &AtomicU64) {
        let index = slot::current() & INDEX_MASK;
        let word = pick(&self.stripes[index]);
        if index == OVERFLOW {
            update_shared(word, (tag >> COUNT_BITS) as u32, |c| c + 1);
        } else {
            // Relaxed load and store, no read-modify-write: only this thread writes an
            // owned stripe (a sweep may rewrite a stale tag concurrently; whichever store
            // lands, the word is right for the generation each writer saw). Readers sum
            // statistics and synchronise with writers by their own means (joining threads).
            let w = word.load(Ordering::Relaxed);
            word.store(bumped(w, tag), Ordering::Relaxed);
        }
    }

    /// Requests and successes of `generation` over the stripes ever written, all 40
    /// bits of each.
    fn stripe_sums(&self, generation: u32) -> (u64, u64) {
        let used = slot::high_water();
        let mut requests = 0u64;
        let mut successes = 0u64;
        for stripe in self.stripes[..used]
            .iter()
            .chain(std::iter::once(&self.stripes[OVERFLOW]))
        {
            // Relaxed: statistics, see `bump_stripe`.
            requests += wide_in(stripe.requests.load(Ordering::Relaxed), generation);
            successes += wide_in(stripe.successes.load(Ordering::Relaxed), generation);
        }
        (requests, successes)
    }

    /// A closed-state admission.
    #[inline]
    /// `tag` is [`tag_of`] the generation: a plain-closed state word is one.
    pub(crate) fn record_request(&self, tag: u64) {
        debug_assert_eq!(tag & !(GEN_MASK << COUNT_BITS), 0, "not a tag: {tag:#x}");
        self.bump_stripe(tag, |s| &s.requests);
    }

    /// A closed-state success, also counted in the lifetime total: what a success
    /// reported on the fast paths does (one stripe lookup for both words).
    #[inline]
    /// `tag` is [`tag_of`] the generation: a closed permit's ticket is one.
    pub(crate) fn record_success(&self, tag: u64) {
        debug_assert_eq!(tag & !(GEN_MASK << COUNT_BITS), 0, "not a tag: {tag:#x}");
        let index = slot::current() & INDEX_MASK;
        let stripe = &self.stripes[index];
        if index == OVERFLOW {
            update_shared(&stripe.successes, (tag >> COUNT_BITS) as u32, |c| c + 1);
            bump_shared_total(&stripe.total_successes);
        } else {
            // Relaxed load and store: see `bump_stripe`.
            let w = stripe.successes.load(Ordering::Relaxed);
            stripe.successes.store(bumped(w, tag), Ordering::Relaxed);
            bump_owned_total(&stripe.total_successes);
        }
        self.end_failure_streak(tag);
    }

    /// A closed-state success whose lifetime total [`Self::record_outcome_total`]
    /// already counted.
    #[inline]
    pub(crate) fn record_counted_success(&self, tag: u64) {
        debug_assert_eq!(tag & !(GEN_MASK << COUNT_BITS), 0, "not a tag: {tag:#x}");
        self.bump_stripe(tag, |s| &s.successes);
        self.end_failure_streak(tag);
    }

    #[inline]
    fn end_failure_streak(&self, tag: u64) {
        // Relaxed: statistics. Read on every success, written only when a failure streak
        // has to be ended, so the line stays shared in every core's cache.
        let cf = self.rare.consecutive_failures.load(Ordering::Relaxed);
        if count_at(cf, tag) != 0 {
            // A exchange, not a store: a store could overwrite a newer generation's streak.
            let _ = self.rare.consecutive_failures.compare_exchange(
                cf,
                tag,
                // Relaxed: statistics; losing this race means a failure came after us.
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }

    /// Counts a reported outcome (`None`: a permit dropped without one) in the
    /// lifetime totals, whatever the state, mode or generation: every outcome
    /// except the fast paths' successes, which [`Self::record_success`] counts.
    pub(crate) fn record_outcome_total(&self, outcome: Option<crate::Outcome>) {
        match outcome {
            Some(crate::Outcome::Success) => self.bump_total(|s| &s.total_successes),
            Some(crate::Outcome::Failure) => bump_shared_total(&self.rare.total_failures),
            Some(crate::Outcome::Ignored) => bump_shared_total(&self.rare.total_ignored),
            None => bump_shared_total(&self.rare.total_dropped),
        }
    }

    /// Counts a slow call in the lifetime totals (what [`Self::record_slow`] does
    /// too, for a slow call whose rule is not evaluated).
    pub(crate) fn record_slow_total(&self) {
        bump_shared_total(&self.rare.total_slow);
    }

    /// Counts a refused call in the lifetime totals, on the calling thread's stripe.
    #[inline]
    pub(crate) fn record_rejection(&self, rejected: Rejected) {
        match rejected {
            Rejected::Open => self.bump_total(|s| &s.rejected_open),
            Rejected::TooManyRequests => self.bump_total(|s| &s.rejected_too_many),
            Rejected::Throttled => self.bump_total(|s| &s.rejected_throttled),
        }
    }

    /// Counts a state change the callbacks were told of.
    pub(crate) fn record_transition(&self, from: State, to: State) {
        if from != to {
            bump_shared_total(&self.rare.total_transitions[edge(from, to)]);
        }
    }

    /// Adds one to `pick(stripe)`, an untagged total, on the calling thread's stripe.
    #[inline]
    fn bump_total(&self, pick: impl Fn(&Stripe) -> &AtomicU64) {
        let index = slot::current() & INDEX_MASK;
        let word = pick(&self.stripes[index]);
        if index == OVERFLOW {
            bump_shared_total(word);
        } else {
            bump_owned_total(word);
        }
    }

    /// The lifetime totals: one pass over the stripes ever written and the shared
    /// words. Exact when no call is in flight (see [`Totals`]).
    pub(crate) fn totals(&self) -> Totals {
        let used = slot::high_water();
        let mut t = Totals::default();
        for stripe in self.stripes[..used]
            .iter()
            .chain(std::iter::once(&self.stripes[OVERFLOW]))
        {
            // Relaxed: statistics, see `bump_stripe`. Wrapping: each word is a u64
            // total; their sum passes 2^64 no sooner than the breaker's events do.
            t.successes = t
                .successes
                .wrapping_add(stripe.total_successes.load(Ordering::Relaxed));
            t.rejected_open = t
                .rejected_open
                .wrapping_add(stripe.rejected_open.load(Ordering::Relaxed));
            t.rejected_too_many_requests = t
                .rejected_too_many_requests
                .wrapping_add(stripe.rejected_too_many.load(Ordering::Relaxed));
            t.rejected_throttled = t
                .rejected_throttled
                .wrapping_add(stripe.rejected_throttled.load(Ordering::Relaxed));
        }
        let r = &self.rare;
        // Relaxed: statistics.
        t.failures = r.total_failures.load(Ordering::Relaxed);
        t.ignored = r.total_ignored.load(Ordering::Relaxed);
        t.dropped = r.total_dropped.load(Ordering::Relaxed);
        t.slow_calls = r.total_slow.load(Ordering::Relaxed);
        for from in State::ALL {
            for to in State::ALL {
                if from != to {
                    t.transitions[from.index()][to.index()] =
                        r.total_transitions[edge(from, to)].load(Ordering::Relaxed);
                }
            }
        }
        t
    }

    /// A closed-state failure; returns the generation's counts including it.
    pub(crate) fn record_failure(&self, generation: u32) -> (Counts, u64) {
        let total_failures = update_shared(&self.rare.failures, generation, |c| c + 1);
        let consecutive_failures =
            update_shared(&self.rare.consecutive_failures, generation, |c| c + 1);
        let (requests, total_successes) = self.stripe_sums(generation);
        // Consecutive successes are derived as successes minus successes at the last
        // failure; concurrent failures may store out of order, so keep the largest.
        update_shared(&self.rare.successes_at_failure, generation, |c| {
            c.max(total_successes)
        });
        let counts = Counts {
            requests: requests as u32,
            total_successes: total_successes as u32,
            total_failures: total_failures as u32,
            total_exclusions: self.get(&self.rare.exclusions, generation),
            consecutive_successes: 0,
            consecutive_failures: consecutive_failures as u32,
        };
        (counts, total_successes + total_failures)
    }

    /// A slow closed-state call, whose success or failure this thread has already
    /// counted; returns the generation's slow calls including it.
    pub(crate) fn record_slow(&self, generation: u32) -> u64 {
        self.record_slow_total();
        self.count_slow(generation)
    }

    /// [`Self::record_slow`] without the lifetime total: the generation's slow-call
    /// word, which an [`AdaptiveThrottle`](crate::AdaptiveThrottle) (never combined
    /// with slow calls) uses for its rejections.
    pub(crate) fn count_slow(&self, generation: u32) -> u64 {
        let word = &self.rare.slow;
        // Relaxed: the first look only feeds the exchange.
        let mut cur = word.load(Ordering::Relaxed);
        loop {
            if tagged_after(cur, generation) {
                return 0;
            }
            let next = (wide_in(cur, generation) + 1) & COUNT_MASK;
            match word.compare_exchange_weak(
                cur,
                tagged(generation, next),
                // AcqRel: the Release half publishes this thread's success or failure
                // count (stored before) to the slow calls counted after it; the Acquire
                // half makes the calls of those counted before visible to the read of
                // the counts that follows, so two racing slow calls cannot both miss
                // each other's call (loom: slow_calls::racing_slow_successes_trip_once).
                Ordering::AcqRel,
                // Relaxed: a failed exchange only feeds the next attempt.
                Ordering::Relaxed,
            ) {
                Ok(_) => return next,
                Err(actual) => cur = actual,
            }
        }
    }

    /// The closed `generation`'s outcomes so far: what the trip-rule windows
    /// measure from. One pass over the stripes in use.
    pub(crate) fn calls(&self, generation: u32) -> Calls {
        self.calls_and_total(generation).0
    }

    /// [`Self::calls`], and the successes and failures with all 40 bits (what a rule
    /// comparing counts uses; `Calls` wraps modulo 2^32, exact only for differences).
    pub(crate) fn calls_and_total(&self, generation: u32) -> (Calls, u64) {
        let successes = self.stripe_sums(generation).1;
        // Relaxed: statistics.
        let failures = wide_in(self.rare.failures.load(Ordering::Relaxed), generation);
        let calls = Calls {
            successes: successes as u32,
            failures: failures as u32,
            slow: self.get(&self.rare.slow, generation),
        };
        (calls, successes + failures)
    }

    /// An outcome that counts as neither success nor failure.
    pub(crate) fn record_exclusion(&self, generation: u32) {
        update_shared(&self.rare.exclusions, generation, |c| c + 1);
    }

    /// A half-open probe that gave its slot back (ignored or dropped).
    pub(crate) fn record_release(&self, generation: u32) {
        update_shared(&self.rare.released, generation, |c| c + 1);
    }

    /// The consecutive re-trips that opened `open_generation` (0 if it was not
    /// opened by a re-trip, or is gone).
    pub(crate) fn retrips(&self, open_generation: u32) -> u32 {
        self.get(&self.rare.retrips, open_generation)
    }

    /// Records that `open_generation` was opened by the `retrips`-th consecutive
    /// re-trip. Only the thread whose exchange installed that generation calls it,
    /// before it clears `PENDING`, so no later generation's count can exist yet.
    pub(crate) fn set_retrips(&self, open_generation: u32, retrips: u32) {
        // Relaxed: published to the next half-open generation's re-trip by the
        // Release that clears PENDING after this transition (see `open_after`).
        self.rare
            .retrips
            .store(tagged(open_generation, retrips.into()), Ordering::Relaxed);
    }

    /// The tick after which half-open `generation` re-opens (`None`: not recorded,
    /// or the generation is gone). See [`Builder::half_open_max_wait`](crate::Builder::half_open_max_wait).
    pub(crate) fn half_open_deadline(&self, generation: u32) -> Option<u64> {
        // Relaxed: a deadline not seen yet reads as none, which only delays the
        // re-open to a later look.
        let w = self.rare.half_open_deadline.load(Ordering::Relaxed);
        (w & !COUNT_MASK == tag_of(generation)).then_some(w & COUNT_MASK)
    }

    /// Records the max-wait deadline of half-open `generation`. Only the thread whose
    /// exchange installed that generation calls it, right after, while `PENDING` keeps
    /// any later generation from starting.
    pub(crate) fn set_half_open_deadline(&self, generation: u32, deadline: u64) {
        // Relaxed: see `half_open_deadline`.
        self.rare.half_open_deadline.store(
            tag_of(generation) | (deadline & COUNT_MASK),
            Ordering::Relaxed,
        );
    }

    fn get(&self, word: &AtomicU64, generation: u32) -> u32 {
        // Relaxed: statistics.
        count_in(word.load(Ordering::Relaxed), generation)
    }

    /// Counts of a closed `generation`.
    pub(crate) fn closed_counts(&self, generation: u32) -> Counts {
        let (requests, total_successes) = self.stripe_sums(generation);
        // Relaxed: statistics. All 40 bits: successes minus those at the last failure
        // is right across the 2^32 wrap of the counts' low bits.
        let at_failure = wide_in(
            self.rare.successes_at_failure.load(Ordering::Relaxed),
            generation,
        );
        Counts {
            requests: requests as u32,
            total_successes: total_successes as u32,
            total_failures: self.get(&self.rare.failures, generation),
            total_exclusions: self.get(&self.rare.exclusions, generation),
            consecutive_successes: total_successes.saturating_sub(at_failure) as u32,
            consecutive_failures: self.get(&self.rare.consecutive_failures, generation),
        }
    }

    /// Counts of a half-open `generation` whose state word holds `held` and `successes`.
    pub(crate) fn half_open_counts(&self, generation: u32, held: u32, successes: u32) -> Counts {
        Counts {
            requests: held.wrapping_add(self.get(&self.rare.released, generation)),
            total_successes: successes,
            total_failures: 0,
            total_exclusions: self.get(&self.rare.exclusions, generation),
            consecutive_successes: successes,
            consecutive_failures: 0,
        }
    }

    /// Test seam: exactly what `successes` closed-state successes of `generation`
    /// leave behind when they all ran on this thread (its stripe's requests and
    /// successes), so a test reaches 2^32 calls without making them.
    #[cfg(test)]
    pub(crate) fn preset_successes(&self, generation: u32, successes: u64) {
        let stripe = &self.stripes[slot::current() & INDEX_MASK];
        // Relaxed: a test's single thread.
        for word in [&stripe.requests, &stripe.successes] {
            word.store(tagged(generation, successes), Ordering::Relaxed);
        }
    }

    /// Rewrites every word not tagged `generation` to `[generation | 0]`, which it
    /// already reads as. Run every `SWEEP_PERIOD` generations so no tag stays behind
    /// long enough for the 20-bit generation to wrap back onto it.
    pub(crate) fn sweep(&self, generation: u32) {
        let stripes = self
            .stripes
            .iter()
            .flat_map(|s| [&s.requests, &s.successes]);
        for word in stripes.chain(self.rare.words()) {
            // Relaxed: see `update_shared`; a lost exchange means someone wrote a fresh tag.
            let w = word.load(Ordering::Relaxed);
            // A word already tagged with a later generation (the breaker moved on while
            // this sweep ran) holds live counts: leave it.
            if w & !COUNT_MASK != tag_of(generation) && !tagged_after(w, generation) {
                let _ = word.compare_exchange(
                    w,
                    tagged(generation, 0),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn words_of_another_generation_read_as_zero() {
        assert_eq!(count_in(tagged(3, 9), 3), 9);
        assert_eq!(count_in(tagged(2, 9), 3), 0);
        assert_eq!(bumped(tagged(2, 9), tag_of(3)), tagged(3, 1));
        // Counts read modulo 2^32, like gobreaker's uint32.
        assert_eq!(
            count_in(bumped(tagged(3, u32::MAX.into()), tag_of(3)), 3),
            0
        );
        // Past the 40-bit field the carry moves the tag on: still 0 modulo 2^32, and
        // the next bump re-tags the word.
        let full = tag_of(3) | COUNT_MASK;
        assert_eq!(count_in(bumped(full, tag_of(3)), 3), 0);
        assert_eq!(count_in(bumped(bumped(full, tag_of(3)), tag_of(3)), 3), 1);
        // The top generation's carry leaves the 20-bit field and reads as no generation.
        let top = tag_of(GEN_MASK as u32) | COUNT_MASK;
        assert_eq!(count_in(bumped(top, tag_of(GEN_MASK as u32)), 0), 0);
    }

    #[test]
    fn late_updates_from_an_older_generation_change_nothing() {
        let c = Counters::new(1);
        c.record_exclusion(2);
        c.record_exclusion(1); // generation 1 ended before this landed
        assert_eq!(c.closed_counts(2).total_exclusions, 1);
        // An older tag is still overwritten by a newer generation.
        c.record_exclusion(5);
        assert_eq!(c.closed_counts(5).total_exclusions, 1);
        // Across the wrap: generation 0 follows GEN_MASK.
        let c = Counters::new(GEN_MASK as u32 - 1);
        c.record_exclusion(0);
        c.record_exclusion(GEN_MASK as u32);
        assert_eq!(c.closed_counts(0).total_exclusions, 1);
    }

    #[test]
    fn sweep_retags_stale_words_and_keeps_current_ones() {
        let c = Counters::new(1);
        c.record_request(tag_of(1));
        c.record_exclusion(1);
        c.record_request(tag_of(2));
        c.sweep(2);
        assert_eq!(c.closed_counts(2).requests, 1);
        assert_eq!(c.closed_counts(2).total_exclusions, 0);
        // After the sweep no word still carries tag 1.
        assert_eq!(c.closed_counts(1), Counts::default());
        // A sweep never wipes a word of a later generation.
        c.record_exclusion(3);
        c.sweep(2);
        assert_eq!(c.closed_counts(3).total_exclusions, 1);
    }

    #[test]
    fn edges_are_distinct_and_dense() {
        let mut seen = [false; EDGES];
        for from in State::ALL {
            for to in State::ALL {
                if from != to {
                    assert!(!std::mem::replace(&mut seen[edge(from, to)], true));
                }
            }
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn totals_survive_generations_and_sweeps() {
        let c = Counters::new(1);
        c.record_success(tag_of(1));
        c.record_outcome_total(Some(crate::Outcome::Failure));
        c.record_rejection(Rejected::Open);
        c.record_transition(State::Closed, State::Open);
        c.sweep(5);
        let t = c.totals();
        assert_eq!((t.successes, t.failures, t.rejected_open), (1, 1, 1));
        assert_eq!(t.transitions(State::Closed, State::Open), 1);
        // The generation's own counts are gone; the lifetime totals are not.
        assert_eq!(c.closed_counts(5), Counts::default());
    }
}
