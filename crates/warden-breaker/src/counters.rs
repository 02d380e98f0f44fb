//! Per-generation counts: owned stripes for the hot path, shared words for
//! the rare one.
//!
//! Every shared word is `[0: 4 | generation tag: 20 | count: 40]`, the tag in
//! the same bit position as in the state word. [`Counts`] reads counts as their
//! low 32 bits (gobreaker's `uint32`, wrapping), but the trip rules use all of
//! them: a rule that compares counts (the calls in a count window, a slow-call
//! rate without a window, consecutive successes as successes minus those at the
//! last failure) stays exact past 2^32 calls in one generation (about 12 hours at
//! 100,000 calls a second, and with no counting interval a closed generation
//! lasts forever) and up to 2^40. A word whose tag is not the current generation
//! reads as zero, so a new generation starts from zero without anyone writing,
//! and an increment from a call admitted in an older generation (which tags with
//! its own generation) can never leak into a newer one (short of an exact
//! multiple of 2^20 generations between a writer's check and its write, when the
//! tag repeats: see the bit budget in `state.rs`). That is what keeps counts
//! exact across transitions without a lock. Every write of a shared tagged word
//! is `Release`, after its writer checked the state word, so a closed outcome
//! about to re-tag a word of another generation can first ask whether its own
//! generation is still current ([`retag_allowed`]): a stale one then leaves a
//! newer generation's word alone even when the 20 bits say it is older, and a
//! current one knows a word tagged *ahead* for a write 2^19 to 2^20 generations
//! late and re-tags it rather than stop counting.
//!
//! * Cells (one per [`slot`](crate::slot) that has called this breaker, 64
//!   bytes each): `requests` and `successes`, the only counts bumped on every
//!   closed-state call. The owning thread bumps them with a plain load and store.
//!   An owned cell's counts are plain 64-bit counts, and a word of the cell names
//!   the full generation they belong to by its *key* ([`key_of`]: the tag with
//!   the lap below it, which is the generation's plain-closed state word, so a
//!   closed permit's ticket is its key and the hot path uses it as it is). A
//!   write of a generation the cell has left counts nothing; a reader counts the
//!   cell only in the generation it names, read as a seqlock
//!   ([`Stripe::counts_in`]). So a thread that checked its generation and was
//!   preempted before its write lands under its old generation, however many
//!   generations passed: nothing a reader counts.
//! * Rare words (shared by every thread, a few lines): failures, consecutive failures, exclusions,
//!   successes at the last failure (consecutive successes are derived from it
//!   rather than stored on every success), half-open slots released, and the
//!   re-trip count of an open generation (for [`OpenBackoff`](crate::OpenBackoff)),
//!   and slow calls (for [`SlowCalls`](crate::SlowCalls); with an
//!   [`AdaptiveThrottle`](crate::AdaptiveThrottle), which cannot be combined with
//!   slow calls, the same word counts the throttle's rejections).
//!   The re-trip count is tagged with the *open* generation it belongs to, so a
//!   half-open generation reads its predecessor's count, and anything else (a
//!   trip from closed, a forced open) reads as 0.
//!
//! Lifetime totals ([`Totals`]) sit beside them, untagged: plain monotonic
//! `u64`s that never restart. The ones bumped on hot paths (successes, open and
//! too-many-requests rejections, failures, and permits dropped without an
//! outcome) are more words of the calling thread's cell, bumped with the same
//! plain load and store; the rest (ignored outcomes, slow calls, rejections by an
//! [`AdaptiveThrottle`](crate::AdaptiveThrottle), transitions by edge) are shared
//! words bumped with `fetch_add`. `totals()` sums
//! them at collection time.
//!
//! # Where the cells live, and what they cost
//!
//! A breaker allocates no cell when built. A thread's first call allocates its
//! cell (one 64-byte, line-aligned box, so no two threads' cells share a line)
//! and publishes it in the breaker's directory; every later call of that thread
//! finds it with one load for the first four slots (`direct`, in the breaker
//! itself) or three dependent loads past them (a table of levels, the level,
//! the cell; level `k` holds slots `4·2^k .. 4·2^(k+1)`, up to 2^16 slots).
//! Threads beyond 2^16 live at once share one cell per breaker, updated by
//! compare-and-swap. So:
//!
//! * a breaker called by one thread costs its struct, its name and one 64-byte
//!   cell: 424 requested bytes in all with default settings and a 15-byte name
//!   (the memory test; plain settings are shared between breakers, see `live.rs`);
//! * a breaker called by `n` threads whose slots are below `h` costs `n` cells
//!   plus, once `h > 4`, the directory: a 120-byte table and levels of 8 bytes
//!   per slot up to the next power of two of `h` (slots are dense, so `h` is at
//!   most the number of threads alive at once);
//! * threads that never call a breaker cost it nothing, and a thread that exits
//!   hands its slot, with its cells in every breaker, to the next thread;
//!   cells are freed with the breaker.
//!
//! Readers (counts, trip decisions, the sweep) visit the cells created so far,
//! bounded by the highest slot ever taken.
//!
//! # Why this design
//!
//! * Java's `LongAdder` (`Striped64`) creates cells on contention and caps them
//!   near the CPU count, but every increment is a compare-and-swap: a locked
//!   read-modify-write costs ~4.7 ns here, more than the whole closed success
//!   path (~3 ns), even uncontended. Owned cells are written with a plain load
//!   and store.
//! * The `thread_local` crate gives per-object thread-local storage with
//!   geometric buckets of *inline* entries: a thread whose id is 200 allocates
//!   a 128-entry bucket of entries in every object it touches. Here a level is
//!   only pointers (8 bytes per slot) and each cell is its own box, so memory
//!   follows the threads that call; and our directory is model-checked with
//!   loom (`once_box.rs`, `loom-tests/tests/owned_slots.rs`).
//! * Per-CPU counters would bound memory by the CPU count, but stable Rust has
//!   no restartable sequences: a thread can be preempted and migrated between
//!   reading its CPU and writing the counter, so every write would need a
//!   read-modify-write again.
//! * The previous layout (64 cache-padded stripes per breaker, 63 owned slots)
//!   cost ~9 KiB per breaker whatever its callers, and made every thread past
//!   the 63rd share one compare-and-swap line.

use crate::claims::Claim;
use crate::once_box::OnceBox;
use crate::slot::{self, MAX_SLOTS};
use crate::state::{FULL_GENERATION_MASK, GEN_BITS, GEN_MASK, PAYLOAD_BITS};
use crate::sync::{AtomicU64, Ordering, fence};
use crate::{Counts, Rejected, State, Totals};

/// Bits below the tag.
const COUNT_BITS: u32 = PAYLOAD_BITS;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

/// The tag of `generation`: the generation in its state-word position.
#[inline]
pub(crate) const fn tag_of(generation: u32) -> u64 {
    (generation as u64 & GEN_MASK) << COUNT_BITS
}

/// The generation whose tag (or key, see [`key_of`]) is `tag` ([`tag_of`]'s inverse).
#[inline]
pub(crate) const fn generation_of(tag: u64) -> u32 {
    ((tag >> COUNT_BITS) & GEN_MASK) as u32
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
    update_tagged(word, generation, f, |cur| {
        (!tagged_after(cur, generation)).then(Claim::unheld)
    })
}

/// Compare-and-swap update of a shared tagged word; returns the new count, or 0
/// when `may_retag`, asked about a word found tagged with another generation,
/// says to leave it (`None`). What it returns when it allows the re-tag (a claim
/// of the generation found, see [`retag_allowed`]) is held until the exchange.
#[inline]
fn update_tagged<'c>(
    word: &AtomicU64,
    generation: u32,
    f: impl Fn(u64) -> u64,
    may_retag: impl Fn(u64) -> Option<Claim<'c>>,
) -> u64 {
    let tag = tag_of(generation);
    // Relaxed: a look that feeds the exchange; `may_retag` orders what it decides
    // on (see `retag_allowed`).
    let mut cur = word.load(Ordering::Relaxed);
    let mut _seen = None;
    loop {
        if cur & !COUNT_MASK != tag {
            match may_retag(cur) {
                Some(claim) => _seen = Some(claim),
                None => return 0,
            }
        }
        let next = f(wide_in(cur, generation)) & COUNT_MASK;
        match word.compare_exchange_weak(
            cur,
            tagged(generation, next),
            // Release: pairs with the Acquire fence in `retag_allowed` of a thread
            // that finds this word tagged otherwise than its generation: this
            // thread's check of the state word, made before, happens before that
            // thread's look at the state word. No other memory is published through
            // these counts, and the exchange alone keeps increments from being lost.
            Ordering::Release,
            // Relaxed: a failed exchange only feeds the next look.
            Ordering::Relaxed,
        ) {
            Ok(_) => return next,
            Err(actual) => cur = actual,
        }
    }
}

/// Whether an update of a closed (or disabled) generation may re-tag a shared
/// word it found tagged with another generation: only if `current` says its
/// generation is still the breaker's.
///
/// Every writer of a shared tagged word checks its generation against the state
/// word and then writes with Release; the Acquire fence here pairs with that
/// write, so `current`'s load of the state word finds at least the generation
/// that writer had checked. Hence:
///
/// * a word of a *later* generation is never re-tagged by a stale update (it
///   finds its generation over), which before asked nothing and was refused by
///   the tag alone; so is a word of the *current* generation found by an update
///   a lap late, whose 20 bits make that word read as older: left to the tag
///   alone, the late update would re-tag it with its own generation and wipe the
///   current generation's count;
/// * a word that reads as ahead of a generation found still current can only
///   have been written by a thread of the check-to-write window, between 2^19 and
///   2^20 generations late (see the bit budget in `state.rs`): it is re-tagged
///   (its stale count dropped), where the tag alone would refuse every update of
///   the current generation until the generation reached it (in a closed
///   generation without an interval, possibly never: the breaker would stop
///   counting failures);
/// * a word of an earlier generation is re-tagged as before, once per word and
///   generation (the first update of each generation pays for one more look at
///   the state word).
///
/// The ask and the exchange that follows it are a check-to-write window of their
/// own: preempted between them while the word changes and changes back to the
/// value seen (a failure streak ended and begun again, in a generation with the
/// 20 bits of the one found), the exchange would succeed on that generation's
/// word. So `current` first claims the 20 bits of the generation `word` is tagged
/// with (see `claims.rs`), and the claim it returns is held until the exchange:
/// no generation with those bits begins meanwhile, so the word cannot come back
/// to the value seen.
#[cold]
#[inline(never)]
fn retag_allowed<'c>(current: &dyn Fn(u32) -> Option<Claim<'c>>, word: u64) -> Option<Claim<'c>> {
    // Acquire: pairs with the Release of the write that tagged the word (see above).
    fence(Ordering::Acquire);
    current(generation_of(word))
}

/// The key of the full generation `lap << 20 | generation`: its counter tag with
/// the lap in the count's bits, which is the generation's plain-closed state word
/// (and a closed ticket's first word, less its marker). An owned cell names the
/// generation of its counts by it (see [`Stripe::generation`]); its tag is the key
/// less the lap ([`tag_of_key`]), and its 20 bits [`generation_of`] the key.
#[inline]
pub(crate) const fn key_of(generation: u32, lap: u64) -> u64 {
    tag_of(generation) | (lap & LAP_MASK)
}

/// Bits of a key's lap (what the count's bits hold in a key).
const LAP_MASK: u64 = FULL_GENERATION_MASK >> GEN_BITS;

/// A key's bits: the tag's and the lap's.
pub(crate) const KEY_MASK: u64 = (GEN_MASK << COUNT_BITS) | LAP_MASK;

/// The counter tag of the generation keyed `key` (its 20 bits).
#[inline]
pub(crate) const fn tag_of_key(key: u64) -> u64 {
    key & (GEN_MASK << COUNT_BITS)
}

/// Whether `key` is a key ([`key_of`]): a tag and a lap, and nothing else but,
/// from a plain-closed state word, its `PENDING` flag (see `Snapshot::plain_key`),
/// which [`Stripe::enter`] takes off.
#[inline]
const fn is_key(key: u64) -> bool {
    key & !KEY_MASK & !crate::state::PENDING == 0
}

/// The full generation keyed `key`.
#[inline]
pub(crate) const fn full_of_key(key: u64) -> u64 {
    ((key & LAP_MASK) << GEN_BITS) | generation_of(key) as u64
}

/// An owned cell's generation word while its owner moves it to a new generation,
/// and before its first count of any: no key (a key has 60 bits), which readers
/// count in no generation and [`Stripe::enter`] takes as earlier than every one.
/// A new cell starts here rather than with the key of the call that makes it: a
/// rejection makes a thread's cell with no generation at hand, and any key but
/// the current one's could read as later than the generations to come (full
/// generations compare modulo 2^58, by half the range).
const ENTERING: u64 = u64::MAX;

/// Adds one to a count of an owned cell, whose generation the caller checked is
/// the count's: a Relaxed load and store, no read-modify-write. Only the cell's
/// owning thread writes it. A count whose generation is not the cell's goes
/// through [`Stripe::enter`] first: a cell still in an earlier generation enters
/// the count's, and one already in a later generation takes no count (the call is
/// stale: its thread checked its generation, then the breaker moved on before
/// this write). Readers count the cell only in the generation it names
/// ([`Stripe::counts_in`]), so a stale write lands under a full generation no
/// reader counts, however many generations passed: the check-to-write window is
/// closed for owned cells. A slot's next owner continues from its predecessor's
/// stores, ordered by the slot registry's lock.
#[inline]
fn bump_plain(word: &AtomicU64) {
    // Relaxed: only this thread writes the count; readers check the generation
    // around it (see `Stripe::counts_in`).
    let w = word.load(Ordering::Relaxed);
    word.store(w.wrapping_add(1), Ordering::Relaxed);
}

/// A success counted in the calling thread's own cell, whose generation was
/// checked (`current`: the success's; otherwise the success is stale and only its
/// lifetime total counts): every success path's owned half.
#[inline]
fn success_counted(cell: &Stripe, current: bool) {
    if current {
        bump_plain(&cell.successes);
    }
    bump_owned_total(&cell.total_successes);
}

/// A success counted in the cell shared by threads past the owned slots.
#[inline]
/// A shared cell's count written as it is, not under a claim: what unit tests of
/// the counters pass for `under` (see [`Counters::record_request`]).
#[cfg(test)]
pub(crate) fn direct(write: &dyn Fn()) {
    write();
}

/// A success in the shared cell: its tagged count under `under` (see
/// [`Counters::record_request`]), its lifetime total whatever the generation.
fn success_shared(cell: &Stripe, generation: u32, under: impl Fn(&dyn Fn())) {
    under(&|| {
        update_shared(&cell.successes, generation, |c| c + 1);
    });
    bump_shared_total(&cell.total_successes);
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

/// One thread's counts in one breaker: the words bumped on every closed-state
/// call and the per-call lifetime totals, each written by the cell's owning
/// thread alone with a plain load and store (or, in the shared cell, by
/// compare-and-swap and `fetch_add`).
///
/// Aligned to a cache line, so no two threads' cells (each its own allocation)
/// share one: 64 bytes, all used.
#[derive(Debug)]
#[repr(align(64))]
struct Stripe {
    /// An owned cell's generation: the key ([`key_of`]) of the full generation whose
    /// counts `requests` and `successes` hold, or [`ENTERING`] while the owner moves
    /// the cell to a new one (and before its first). Only the owner writes it, and
    /// only forwards (a write
    /// of an earlier generation is stale and counts nothing). Unused in the shared
    /// cell, whose counts carry their tags.
    generation: AtomicU64,
    /// This generation's admissions (owned: a plain count; shared: tagged).
    requests: AtomicU64,
    /// This generation's closed-state successes (owned: a plain count; shared: tagged).
    successes: AtomicU64,
    /// Untagged lifetime total: every success reported.
    total_successes: AtomicU64,
    /// Untagged lifetime total: `Rejected::Open` refusals.
    rejected_open: AtomicU64,
    /// Untagged lifetime total: `Rejected::TooManyRequests` refusals.
    rejected_too_many: AtomicU64,
    /// Untagged lifetime totals of failures and of permits dropped without an
    /// outcome. Rare, but counted here rather than in the breaker's shared words:
    /// the cell has room for them, and a dropped permit (a cancelled call: a hedged
    /// request's loser, a timeout) writes no shared word otherwise. (Ignored
    /// outcomes, which write the shared exclusion count anyway, are totalled there.)
    total_failures: AtomicU64,
    total_dropped: AtomicU64,
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
    total_slow: AtomicU64,
    /// `Rejected::Throttled` refusals: on the path that writes `slow` anyway.
    total_throttled: AtomicU64,
    /// Ignored outcomes. Not in the cell, which is full: a shared `fetch_add`, which
    /// an ignored outcome counted in closed, disabled or half-open pays beside the
    /// shared word it writes anyway (exclusions, or half-open slots released: not
    /// necessarily on the same line, the layout is the compiler's), and one that
    /// counts nowhere else (forced closed, or stale) pays alone.
    total_ignored: AtomicU64,
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
    /// A fresh owned cell: zero counts in no generation yet ([`ENTERING`]); its
    /// owner's first count enters its own.
    fn owned() -> Self {
        Self::with(ENTERING, 0)
    }

    /// A fresh owned cell already in the generation keyed `key` (what [`Self::owned`]
    /// and a count of `key` leave): the unit tests' and models' start.
    #[cfg(test)]
    fn owned_in(key: u64) -> Self {
        Self::with(key & KEY_MASK, 0)
    }

    /// A fresh shared cell: zero counts tagged `tag`, the generation of the call that
    /// creates it (the shared cell's updates never overwrite a later tag, so a fresh
    /// cell must not carry one that reads as later).
    fn shared(tag: u64) -> Self {
        Self::with(tag, tag)
    }

    fn with(generation: u64, counts: u64) -> Self {
        Self {
            generation: AtomicU64::new(generation),
            requests: AtomicU64::new(counts),
            successes: AtomicU64::new(counts),
            total_successes: AtomicU64::new(0),
            rejected_open: AtomicU64::new(0),
            rejected_too_many: AtomicU64::new(0),
            total_failures: AtomicU64::new(0),
            total_dropped: AtomicU64::new(0),
        }
    }

    /// The shared cell's tagged words (what the sweep rewrites).
    fn words(&self) -> [&AtomicU64; 2] {
        [&self.requests, &self.successes]
    }

    /// Moves this owned cell, whose generation is not `key`'s, to `key`'s generation
    /// with zero counts; `false` (and nothing written) if the cell is in a later
    /// generation already. Only the owning thread calls it. A cell in no generation
    /// yet ([`ENTERING`]: a new one) enters any.
    ///
    /// A seqlock's write: the generation word reads [`ENTERING`] while the counts
    /// are zeroed, so a reader that saw the old generation and then a zeroed count
    /// (or a count of the new generation) sees the generation word change.
    fn enter(&self, key: u64) -> bool {
        let key = key & KEY_MASK;
        // Relaxed: only this thread writes the word.
        let at = self.generation.load(Ordering::Relaxed);
        if at == key {
            // In `key`'s generation already: the count came from a word with `PENDING`.
            return true;
        }
        let ahead = full_of_key(at).wrapping_sub(full_of_key(key)) & FULL_GENERATION_MASK;
        if at != ENTERING && ahead != 0 && ahead <= FULL_GENERATION_MASK >> 1 {
            return false;
        }
        // Relaxed, then the Release fence: pairs with the Acquire fence in
        // `counts_in`; a reader whose count loads see any store below sees this
        // `ENTERING` (or a later key) at its second look at the word.
        self.generation.store(ENTERING, Ordering::Relaxed);
        fence(Ordering::Release);
        self.requests.store(0, Ordering::Relaxed);
        self.successes.store(0, Ordering::Relaxed);
        // Release: pairs with the Acquire first look in `counts_in`; a reader that
        // sees `key` sees the zeroed counts (or later ones of `key`).
        self.generation.store(key, Ordering::Release);
        true
    }

    /// What a count of the generation keyed `key` does to this owned cell's `word`
    /// (see [`Counters::on_cell`]): the unit tests' and models' way in.
    #[cfg(test)]
    fn bump_in(&self, word: &AtomicU64, key: u64) {
        // Relaxed: as `on_cell`'s.
        if self.generation.load(Ordering::Relaxed) == key || self.enter(key) {
            bump_plain(word);
        }
    }

    /// An owned cell's requests and successes in the generation keyed `key` (0 and 0
    /// if the cell is in another one, or moves on while read).
    fn counts_in(&self, key: u64) -> (u64, u64) {
        // Acquire: pairs with the Release store of `key` in `enter`.
        if self.generation.load(Ordering::Acquire) != key {
            return (0, 0);
        }
        // Relaxed: the owner's bumps within the generation publish nothing; the
        // generation word around them tells which generation they count.
        let requests = self.requests.load(Ordering::Relaxed);
        let successes = self.successes.load(Ordering::Relaxed);
        // Acquire fence: pairs with the Release fence in `enter` (see there).
        fence(Ordering::Acquire);
        // Relaxed: ordered by the fence above.
        if self.generation.load(Ordering::Relaxed) != key {
            return (0, 0);
        }
        (requests, successes)
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
            total_slow: AtomicU64::new(0),
            total_throttled: AtomicU64::new(0),
            total_ignored: AtomicU64::new(0),
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

/// Cells reached without the directory: the slots of the first few threads.
#[cfg(not(loom))]
const DIRECT: usize = 4;
#[cfg(loom)]
const DIRECT: usize = 2;

/// Levels of the directory: level `k` holds the cells of slots
/// `DIRECT << k .. DIRECT << (k + 1)`, enough levels to reach `MAX_SLOTS`.
const LEVELS: usize = {
    let mut k = 0;
    while DIRECT << k < MAX_SLOTS {
        k += 1;
    }
    k
};

/// A level: one lazily set cell per slot of its range.
type Level = Box<[OnceBox<Stripe>]>;

/// Where slot `i` (`DIRECT <= i < MAX_SLOTS`) lives: its level and the index in it.
#[inline]
const fn level_of(i: usize) -> (usize, usize) {
    let k = (usize::BITS - 1 - (i / DIRECT).leading_zeros()) as usize;
    (k, i - (DIRECT << k))
}

/// Every thread's cell in one breaker, each allocated on that thread's first
/// call (see the module docs: memory follows the threads that call).
#[derive(Debug)]
struct Cells {
    /// Slots `0..DIRECT`: one load from the breaker to the cell.
    direct: [OnceBox<Stripe>; DIRECT],
    /// Slots `DIRECT..MAX_SLOTS` and the shared cell: allocated when the first of
    /// them calls.
    far: OnceBox<Far>,
}

/// The cells of threads past the first [`DIRECT`] slots.
#[derive(Debug)]
struct Far {
    /// The level, then the cell; each allocated when the first slot of its range calls.
    levels: [OnceBox<Level>; LEVELS],
    /// The cell of threads without a slot ([`SHARED`](slot::SHARED)), updated by
    /// compare-and-swap.
    shared: OnceBox<Stripe>,
}

impl Far {
    fn new() -> Self {
        Self {
            levels: std::array::from_fn(|_| OnceBox::new()),
            shared: OnceBox::new(),
        }
    }
}

impl Cells {
    fn new() -> Self {
        Self {
            direct: std::array::from_fn(|_| OnceBox::new()),
            far: OnceBox::new(),
        }
    }

    /// Slot `i`'s cell, if that slot has called this breaker.
    #[inline]
    fn owned(&self, i: usize) -> Option<&Stripe> {
        match self.direct.get(i) {
            Some(cell) => cell.get(),
            None => self.in_levels(i),
        }
    }

    #[inline(never)]
    fn in_levels(&self, i: usize) -> Option<&Stripe> {
        let (k, at) = level_of(i);
        self.far.get()?.levels.get(k)?.get()?.get(at)?.get()
    }

    /// Slot `i`'s cell (`i < MAX_SLOTS`), allocated (with its level) on first use;
    /// a new cell's counts are 0, in no generation until its first count (see
    /// [`Stripe::owned`]). `key`: the generation a shared cell made here starts in.
    #[cold]
    #[inline(never)]
    fn owned_or_new(&self, i: usize, key: u64) -> &Stripe {
        let new = Stripe::owned;
        if let Some(cell) = self.direct.get(i) {
            return cell.get_or_init(new);
        }
        let (k, at) = level_of(i);
        let far = self.far.get_or_init(Far::new);
        let level = far
            .levels
            .get(k)
            .map(|l| l.get_or_init(|| (0..DIRECT << k).map(|_| OnceBox::new()).collect()));
        match level.and_then(|l| l.get(at)) {
            Some(cell) => cell.get_or_init(new),
            // Unreachable: `level_of` maps every slot below MAX_SLOTS into a level.
            None => far.shared.get_or_init(|| Stripe::shared(tag_of_key(key))),
        }
    }

    /// Every cell created so far, and whether it is the shared one (the owned ones
    /// first). `high_water` bounds the slots that may have one (see
    /// [`slot::high_water`]).
    fn each(&self, high_water: usize, mut f: impl FnMut(&Stripe, bool)) {
        for cell in self.direct.iter().take(high_water) {
            if let Some(c) = cell.get() {
                f(c, false);
            }
        }
        let Some(far) = self.far.get() else { return };
        for (k, level) in far.levels.iter().enumerate() {
            let start = DIRECT << k;
            if start >= high_water {
                break;
            }
            let Some(level) = level.get() else { continue };
            for cell in level.iter().take(high_water - start) {
                if let Some(c) = cell.get() {
                    f(c, false);
                }
            }
        }
        if let Some(c) = far.shared.get() {
            f(c, true);
        }
    }
}

/// A breaker's counts: the per-thread cells and the rare words.
#[derive(Debug)]
pub(crate) struct Counters {
    cells: Cells,
    rare: Rare,
    /// Loom only, for the models that leave owned slots off: every thread's shared
    /// cell, created with the breaker, so those models (which check transitions, not
    /// the cells) do not explore the directory's loads on every count. The models
    /// with owned slots on take the production path, the lazy shared cell included.
    #[cfg(loom)]
    loom_shared: Stripe,
}

/// The calling thread's own cell, found by [`Counters::direct_cell`] in the
/// generation its counts are for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DirectCell<'a>(&'a Stripe);

impl DirectCell<'_> {
    /// [`Counters::record_request`] on this cell.
    #[inline]
    pub(crate) fn record_request(self) {
        bump_plain(&self.0.requests);
    }

    /// The cell's half of [`Counters::record_success`]: the caller then ends the
    /// failure streak ([`Counters::end_failure_streak`]).
    #[inline]
    pub(crate) fn count_success(self) {
        success_counted(self.0, true);
    }
}

impl Counters {
    /// Counters whose every word is tagged with `generation`, the breaker's first: an
    /// update never overwrites a word tagged with a later generation, so an initial
    /// tag 0 would read as "later" than the generations in the upper half of the range.
    /// (Cells are created later, tagged with the generation of the call that creates
    /// them.) Allocates nothing: cells come with the threads' first calls.
    pub(crate) fn new(generation: u32) -> Self {
        let word = tagged(generation, 0);
        Self {
            cells: Cells::new(),
            rare: Rare::new(word),
            #[cfg(loom)]
            loom_shared: Stripe::shared(word),
        }
    }

    /// The calling thread's cell, created on its first call (in no generation yet;
    /// `key` is only for the directory's unreachable fallback to the shared cell, see
    /// [`Cells::owned_or_new`]). `None`: the thread has no slot, and shares the
    /// shared cell.
    fn own_cell(&self, key: u64) -> Option<&Stripe> {
        let i = slot::current();
        match self.cells.owned(i) {
            Some(cell) => Some(cell),
            None if i < MAX_SLOTS => Some(self.cells.owned_or_new(i, key)),
            None => None,
        }
    }

    /// Runs `owned` on the calling thread's cell, or `shared` on the shared cell if
    /// the thread has no slot; `key` is the generation a shared cell created now
    /// starts in (an owned one starts in none, see [`Stripe::owned`]). `KEYED`: the count is `key`'s generation's, and `owned` is told whether the cell
    /// is in that generation (entering it if it is in an earlier one: see
    /// [`Stripe::enter`]); `false` means the count is stale, and only a lifetime
    /// total may be counted. Not `KEYED` (a lifetime total alone), `owned` is told
    /// `true` and the cell's generation is left as it is.
    ///
    /// The inlined part is the path of a thread among the first [`DIRECT`] slots
    /// whose cell exists: one thread-local load, one bounds check, one load of the
    /// cell pointer, a null check, then `owned`. Everything else (a thread's first
    /// call, which takes its slot and creates its cell; the directory's levels; the
    /// shared cell) is one out-of-line call, so the caller saves no registers for it,
    /// laid out away from the inlined path (the callee is `#[cold]`): placed after it, the
    /// inlined path jumped over the call on every count (callgrind: 4 instructions
    /// of the tower layer's closed call, 2 of the benches' `closed_success`). A
    /// thread past the direct slots pays a jump there and back to a call it makes
    /// anyway.
    ///
    /// The generation check is one more comparison on the inlined path, whose
    /// mismatch joins the out-of-line call: a call of its own there (to enter the
    /// generation) made the compiler split the store of the caller's permit, which
    /// its success then reloaded whole (a store-forwarding stall: the benches'
    /// `closed_success` 4.0 -> 10.3 ns).
    #[inline]
    fn on_cell<const KEYED: bool>(
        &self,
        key: u64,
        owned: impl Fn(&Stripe, bool),
        shared: impl Fn(&Stripe),
    ) {
        #[cfg(loom)]
        if !slot::loom_owned() {
            return shared(&self.loom_shared);
        }
        // `slot::UNCLAIMED` (a thread's first call) is past `DIRECT` too.
        let direct = self.cells.direct.get(slot::peek());
        match direct.and_then(OnceBox::get) {
            // Relaxed: only this thread writes its cell's generation word.
            Some(cell) if !KEYED || cell.generation.load(Ordering::Relaxed) == key => {
                owned(cell, true)
            }
            _ => self.on_cell_elsewhere::<KEYED>(key, owned, shared),
        }
    }

    /// [`Self::on_cell`] off the direct path. Cold for where its callers place it
    /// (see [`Self::on_cell`]), not for how often it runs: every count of a thread
    /// past the direct slots comes here.
    #[cold]
    #[inline(never)]
    fn on_cell_elsewhere<const KEYED: bool>(
        &self,
        key: u64,
        owned: impl Fn(&Stripe, bool),
        shared: impl Fn(&Stripe),
    ) {
        match self.own_cell(key) {
            Some(cell) => owned(cell, !KEYED || cell.enter(key)),
            None => {
                let far = self.cells.far.get_or_init(Far::new);
                // A lifetime total has no generation at hand: the shared cell then
                // starts tagged with one the breaker has used.
                shared(far.shared.get_or_init(|| {
                    Stripe::shared(if KEYED {
                        tag_of_key(key)
                    } else {
                        self.known_tag()
                    })
                }));
            }
        }
    }

    /// The calling thread's cell if it is a direct one in the generation keyed `key`
    /// ([`Self::on_cell`]'s inlined part alone), else `None`: the caller then counts
    /// with the general functions, on a path of its own (which enters a cell in an
    /// earlier generation into `key`'s, see [`Stripe::enter`]). Best looked up first thing, while the caller holds few
    /// values: the slot's thread-local is compiled as a call to the thread-local
    /// resolver (this crate may end up in a shared object; an executable's linker
    /// turns it into two loads), so whatever is live across it is kept in a
    /// register the function must save and restore.
    #[inline]
    pub(crate) fn direct_cell(&self, key: u64) -> Option<DirectCell<'_>> {
        #[cfg(loom)]
        if !slot::loom_owned() {
            return None;
        }
        self.cells
            .direct
            .get(slot::peek())
            .and_then(OnceBox::get)
            // Relaxed: only this thread writes its cell's generation word.
            .filter(|cell| cell.generation.load(Ordering::Relaxed) == key)
            .map(DirectCell)
    }

    /// [`Self::record_request`] for a thread [`Self::direct_cell`] found no direct
    /// cell for: the rest of [`Self::on_cell`], without a second direct look.
    pub(crate) fn record_request_elsewhere(&self, key: u64, under: impl Fn(&dyn Fn()) + Copy) {
        debug_assert!(is_key(key), "not a key: {key:#x}");
        #[cfg(loom)]
        if !slot::loom_owned() {
            return self.record_request(key, under);
        }
        self.bump_stripe_elsewhere(key, |s| &s.requests, under);
    }

    /// [`Self::record_success`] for a thread [`Self::direct_cell`] found no direct
    /// cell for: the rest of [`Self::on_cell`], without a second direct look.
    pub(crate) fn count_success_elsewhere(&self, key: u64, under: impl Fn(&dyn Fn()) + Copy) {
        debug_assert!(is_key(key), "not a key: {key:#x}");
        #[cfg(loom)]
        if !slot::loom_owned() {
            return self.count_success(key, under);
        }
        // `move`: see `bump_stripe`.
        self.on_cell_elsewhere::<true>(key, success_counted, move |cell| {
            success_shared(cell, generation_of(key), under);
        });
    }

    /// Bumps `pick(stripe)` of the calling thread's cell in the generation keyed `key`.
    ///
    /// The closures capture `key` by value (`move`): captured by reference, they
    /// made every inlined caller store it to the stack on every call, for the
    /// out-of-line path alone. The shared cell's closure derives the generation
    /// from it there: a generation captured was computed on every call, for that
    /// path alone too (two instructions a count).
    #[inline]
    fn bump_stripe(
        &self,
        key: u64,
        pick: impl Fn(&Stripe) -> &AtomicU64 + Copy,
        under: impl Fn(&dyn Fn()) + Copy,
    ) {
        self.on_cell::<true>(
            key,
            move |cell, current| {
                if current {
                    bump_plain(pick(cell));
                }
            },
            move |cell| {
                under(&|| {
                    update_shared(pick(cell), generation_of(key), |c| c + 1);
                });
            },
        );
    }

    /// [`Self::bump_stripe`] for a thread [`Self::direct_cell`] found no direct
    /// cell for: the rest of [`Self::on_cell`], without a second direct look.
    fn bump_stripe_elsewhere(
        &self,
        key: u64,
        pick: impl Fn(&Stripe) -> &AtomicU64 + Copy,
        under: impl Fn(&dyn Fn()) + Copy,
    ) {
        self.on_cell_elsewhere::<true>(
            key,
            move |cell, current| {
                if current {
                    bump_plain(pick(cell));
                }
            },
            move |cell| {
                under(&|| {
                    update_shared(pick(cell), generation_of(key), |c| c + 1);
                });
            },
        );
    }

    /// Every cell created so far, and whether it is a shared one (see
    /// [`Cells::each`]).
    fn each_cell(&self, f: impl FnMut(&Stripe, bool)) {
        #[cfg(loom)]
        let f = {
            let mut f = f;
            f(&self.loom_shared, true);
            f
        };
        self.cells.each(slot::high_water(), f);
    }

    /// A tag for the shared cell created where no generation is at hand (a
    /// rejection): one the breaker has used, so no later than the current generation,
    /// which is all a fresh cell's zero counts need (see [`Stripe::shared`]; an owned
    /// cell starts in no generation, see [`Stripe::owned`]).
    fn known_tag(&self) -> u64 {
        // Relaxed: any generation this word was ever tagged with will do.
        self.rare.exclusions.load(Ordering::Relaxed) & !COUNT_MASK
    }

    /// Requests and successes of the generation keyed `key` over the cells created
    /// so far: an owned cell's plain counts if it is in that generation, all 40 bits
    /// of the shared cell's words tagged with its 20.
    fn stripe_sums(&self, key: u64) -> (u64, u64) {
        let generation = generation_of(key);
        let mut requests = 0u64;
        let mut successes = 0u64;
        let mut shared = (0u64, 0u64);
        self.each_cell(|cell, is_shared| {
            if is_shared {
                // Relaxed: statistics, see `update_shared`.
                shared.0 += wide_in(cell.requests.load(Ordering::Relaxed), generation);
                shared.1 += wide_in(cell.successes.load(Ordering::Relaxed), generation);
            } else {
                let (r, s) = cell.counts_in(key);
                requests = requests.wrapping_add(r);
                successes = successes.wrapping_add(s);
            }
        });
        (
            requests.wrapping_add(shared.0),
            successes.wrapping_add(shared.1),
        )
    }

    /// A closed-state admission in the generation keyed `key` ([`key_of`]: a
    /// plain-closed state word less its flags is one).
    ///
    /// `under` runs a count of the shared cell (a thread that owns no cell) under a
    /// claim of the generation, if it is still current (see `CircuitBreaker::claimed`):
    /// that count is a tagged word, written after the caller's check.
    #[inline]
    pub(crate) fn record_request(&self, key: u64, under: impl Fn(&dyn Fn()) + Copy) {
        debug_assert!(is_key(key), "not a key: {key:#x}");
        self.bump_stripe(key, |s| &s.requests, under);
    }

    /// A closed-state success in the generation keyed `key` (a closed ticket's first
    /// word less its marker is one), whose counter tag is `tag`, also counted in the
    /// lifetime total: what a success reported on the fast paths does (one stripe
    /// lookup for both words). The tag is passed beside the key because the hot path
    /// holds both in registers (the ticket's two words).
    #[cfg(test)]
    pub(crate) fn record_success(&self, key: u64, tag: u64) {
        debug_assert_eq!(tag, tag_of_key(key));
        self.count_success(key, direct);
        self.end_failure_streak(tag);
    }

    /// [`Self::record_success`] without the end of the failure streak, which the
    /// fast paths make under a claim (see `CircuitBreaker::end_failure_streak`).
    #[inline]
    ///
    /// `under`: as for [`Self::record_request`].
    pub(crate) fn count_success(&self, key: u64, under: impl Fn(&dyn Fn()) + Copy) {
        debug_assert!(is_key(key), "not a key: {key:#x}");
        // `move`: see `bump_stripe`.
        self.on_cell::<true>(key, success_counted, move |cell| {
            success_shared(cell, generation_of(key), under);
        });
    }

    /// A closed-state success whose lifetime total [`Self::record_outcome_total`]
    /// already counted, without the end of the failure streak, which the breaker
    /// makes under a claim (see `CircuitBreaker::end_failure_streak`).
    #[inline]
    pub(crate) fn count_counted_success(&self, key: u64, under: impl Fn(&dyn Fn()) + Copy) {
        debug_assert!(is_key(key), "not a key: {key:#x}");
        self.bump_stripe(key, |s| &s.successes, under);
    }

    /// Ends the failure streak of the generation tagged `tag`, if it has one.
    ///
    /// Inlined, this is one load and one comparison: the word is usually `tag`
    /// itself (no streak in this generation), and anything else goes to
    /// [`Self::end_failure_streak_at`]. (Testing the word's tag and count inline
    /// took 10 instructions on every success, 3 now; callgrind, the benches'
    /// `closed_success`.)
    #[cfg(test)]
    pub(crate) fn end_failure_streak(&self, tag: u64) {
        if self.has_streak_word(tag) {
            self.end_failure_streak_at(tag);
        }
    }

    /// Whether the consecutive-failures word is other than `tag` (a streak of its
    /// generation, or a word of another): the inline half of
    /// [`Self::end_failure_streak`].
    #[inline]
    pub(crate) fn has_streak_word(&self, tag: u64) -> bool {
        // Relaxed: statistics. Read on every success, written only when a failure streak
        // has to be ended or the word still carries an older generation's tag, so the
        // line stays shared in every core's cache.
        self.rare.consecutive_failures.load(Ordering::Relaxed) != tag
    }

    /// [`Self::end_failure_streak`] for a consecutive-failures word that is not
    /// `tag`: a streak of this generation, a word still tagged with an older
    /// generation (after a transition, until this generation's first failure or
    /// success), or one of a later generation (this success is late). The first two
    /// read as no streak once the word is `tag`: count 0, in this generation. For
    /// an older word that rewrite is the sweep's (it reads as 0 either way), and it
    /// keeps the generation's later successes on the inlined comparison.
    #[cold]
    #[inline(never)]
    pub(crate) fn end_failure_streak_at(&self, tag: u64) {
        // Relaxed: a look that feeds the exchange (loaded again: the caller may have
        // claimed its generation since its first look, see `claims.rs`).
        let cf = self.rare.consecutive_failures.load(Ordering::Relaxed);
        if cf == tag || tagged_after(cf, generation_of(tag)) {
            return;
        }
        // A exchange, not a store: a store could overwrite a newer generation's streak.
        let _ = self.rare.consecutive_failures.compare_exchange(
            cf,
            tag,
            // Release: pairs with the Acquire fence of a thread that finds this word
            // tagged otherwise than its generation (see `retag_allowed`), as for every shared
            // write.
            Ordering::Release,
            // Relaxed: losing this race means a failure (or the sweep, or another
            // success) wrote the word after our load.
            Ordering::Relaxed,
        );
    }

    /// Counts a reported outcome (`None`: a permit dropped without one) in the
    /// lifetime totals, whatever the state, mode or generation: every outcome
    /// except the fast paths' successes, which [`Self::record_success`] counts.
    pub(crate) fn record_outcome_total(&self, outcome: Option<crate::Outcome>) {
        match outcome {
            Some(crate::Outcome::Success) => self.bump_total(|s| &s.total_successes),
            Some(crate::Outcome::Failure) => self.bump_total(|s| &s.total_failures),
            Some(crate::Outcome::Ignored) => bump_shared_total(&self.rare.total_ignored),
            None => self.bump_total(|s| &s.total_dropped),
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
            // Not in the cell, which is full (64 bytes): a throttled rejection already
            // writes the shared line (the window's count of this rule's rejections,
            // `count_slow`), so one more word there costs it no new line.
            Rejected::Throttled => bump_shared_total(&self.rare.total_throttled),
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
        self.on_cell::<false>(
            // No generation: a new owned cell starts in none, and the shared cell
            // takes a known tag where it is made (see `on_cell_elsewhere`).
            0,
            |cell, _| bump_owned_total(pick(cell)),
            |cell| bump_shared_total(pick(cell)),
        );
    }

    /// The lifetime totals: one pass over the stripes ever written and the shared
    /// words. Exact when no call is in flight (see [`Totals`]).
    pub(crate) fn totals(&self) -> Totals {
        let mut t = Totals::default();
        self.each_cell(|cell, _| {
            // Relaxed: statistics, see `bump_stripe`. Wrapping: each word is a u64
            // total; their sum passes 2^64 no sooner than the breaker's events do.
            t.successes = t
                .successes
                .wrapping_add(cell.total_successes.load(Ordering::Relaxed));
            t.rejected_open = t
                .rejected_open
                .wrapping_add(cell.rejected_open.load(Ordering::Relaxed));
            t.rejected_too_many_requests = t
                .rejected_too_many_requests
                .wrapping_add(cell.rejected_too_many.load(Ordering::Relaxed));
            t.failures = t
                .failures
                .wrapping_add(cell.total_failures.load(Ordering::Relaxed));
            t.dropped = t
                .dropped
                .wrapping_add(cell.total_dropped.load(Ordering::Relaxed));
        });
        let r = &self.rare;
        // Relaxed: statistics.
        t.slow_calls = r.total_slow.load(Ordering::Relaxed);
        t.rejected_throttled = r.total_throttled.load(Ordering::Relaxed);
        t.ignored = r.total_ignored.load(Ordering::Relaxed);
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

    /// A closed-state failure in the generation keyed `key`, taken for the
    /// breaker's current generation; see [`Self::record_failure_in`].
    #[cfg(test)]
    pub(crate) fn record_failure(&self, key: u64) -> (Counts, u64) {
        self.record_failure_in(key, |_| Some(Claim::unheld()))
    }

    /// A closed-state failure in the generation keyed `key`; returns the
    /// generation's counts including it. `current` says whether that generation is
    /// still the breaker's, asked only before a shared word tagged with another
    /// generation is re-tagged (see [`retag_allowed`]).
    pub(crate) fn record_failure_in<'c>(
        &self,
        key: u64,
        current: impl Fn(u32) -> Option<Claim<'c>>,
    ) -> (Counts, u64) {
        let generation = generation_of(key);
        let total_failures = self.update_rare(&self.rare.failures, generation, |c| c + 1, &current);
        let consecutive_failures = self.update_rare(
            &self.rare.consecutive_failures,
            generation,
            |c| c + 1,
            &current,
        );
        let (requests, total_successes) = self.stripe_sums(key);
        // Consecutive successes are derived as successes minus successes at the last
        // failure; concurrent failures may store out of order, so keep the largest.
        self.update_rare(
            &self.rare.successes_at_failure,
            generation,
            |c| c.max(total_successes),
            &current,
        );
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
    /// `current` says whether `generation` is still the breaker's, asked only
    /// before the word of another generation is re-tagged (see [`retag_allowed`]).
    pub(crate) fn record_slow<'c>(
        &self,
        generation: u32,
        current: impl Fn(u32) -> Option<Claim<'c>>,
    ) -> u64 {
        self.record_slow_total();
        self.count_slow(generation, current)
    }

    /// [`Self::record_slow`] without the lifetime total: the generation's slow-call
    /// word, which an [`AdaptiveThrottle`](crate::AdaptiveThrottle) (never combined
    /// with slow calls) uses for its rejections.
    pub(crate) fn count_slow<'c>(
        &self,
        generation: u32,
        current: impl Fn(u32) -> Option<Claim<'c>>,
    ) -> u64 {
        let word = &self.rare.slow;
        // Relaxed: the first look only feeds the exchange.
        let mut cur = word.load(Ordering::Relaxed);
        // A claim of the generation found, held until the exchange (see `retag_allowed`).
        let mut _seen = None;
        loop {
            if cur & !COUNT_MASK != tag_of(generation) {
                match retag_allowed(&current, cur) {
                    Some(claim) => _seen = Some(claim),
                    None => return 0,
                }
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

    /// The outcomes so far of the closed generation keyed `key`: what the trip-rule
    /// windows measure from. One pass over the stripes in use.
    pub(crate) fn calls(&self, key: u64) -> Calls {
        self.calls_and_total(key).0
    }

    /// [`Self::calls`], and the successes and failures with all 40 bits (what a rule
    /// comparing counts uses; `Calls` wraps modulo 2^32, exact only for differences).
    pub(crate) fn calls_and_total(&self, key: u64) -> (Calls, u64) {
        let generation = generation_of(key);
        let successes = self.stripe_sums(key).1;
        // Relaxed: statistics.
        let failures = wide_in(self.rare.failures.load(Ordering::Relaxed), generation);
        let calls = Calls {
            successes: successes as u32,
            failures: failures as u32,
            slow: self.get(&self.rare.slow, generation),
        };
        (calls, successes + failures)
    }

    /// An outcome that counts as neither success nor failure, the tag alone deciding
    /// a re-tag (unit tests; the breaker asks, see [`Self::record_exclusion_in`]).
    #[cfg(test)]
    pub(crate) fn record_exclusion(&self, generation: u32) {
        update_shared(&self.rare.exclusions, generation, |c| c + 1);
    }

    /// An outcome that counts as neither success nor failure, `current` saying
    /// whether its generation is still the breaker's (see [`retag_allowed`]).
    pub(crate) fn record_exclusion_in<'c>(
        &self,
        generation: u32,
        current: impl Fn(u32) -> Option<Claim<'c>>,
    ) {
        self.update_rare(&self.rare.exclusions, generation, |c| c + 1, &current);
    }

    /// [`update_shared`] of a word of `rare` in a closed (or disabled) generation,
    /// `current` saying whether `generation` is still the breaker's: a word tagged
    /// with another generation is asked about first (see [`retag_allowed`]).
    #[inline]
    fn update_rare<'c>(
        &self,
        word: &AtomicU64,
        generation: u32,
        f: impl Fn(u64) -> u64,
        current: &impl Fn(u32) -> Option<Claim<'c>>,
    ) -> u64 {
        update_tagged(word, generation, f, |cur| retag_allowed(current, cur))
    }

    /// A half-open probe that gave its slot back (ignored or dropped), `current`
    /// asked before a word of another generation is re-tagged (see
    /// [`retag_allowed`]).
    pub(crate) fn record_release_in<'c>(
        &self,
        generation: u32,
        current: impl Fn(u32) -> Option<Claim<'c>>,
    ) {
        self.update_rare(&self.rare.released, generation, |c| c + 1, &current);
    }

    /// The consecutive re-trips that opened `open_generation` (0 if it was not
    /// opened by a re-trip, or is gone).
    pub(crate) fn retrips(&self, open_generation: u32) -> u32 {
        self.get(&self.rare.retrips, open_generation)
    }

    /// Records that `open_generation` was opened by the `retrips`-th consecutive
    /// re-trip. Only the thread whose exchange installed that generation calls it,
    /// before it clears `PENDING`, so no later generation's count can exist yet but
    /// a command's (a command may move the generation on while `PENDING`), and a
    /// command installs a closed or manual word, which never reads this one.
    pub(crate) fn set_retrips(&self, open_generation: u32, retrips: u32) {
        // Release: pairs with the Acquire fence of a thread that finds this word
        // tagged otherwise than its generation (see `retag_allowed`), as for every shared
        // write. (The count itself reaches the next half-open generation's re-trip by
        // the Release that clears PENDING after this transition: see `open_after`.)
        self.rare
            .retrips
            .store(tagged(open_generation, retrips.into()), Ordering::Release);
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
    /// any later generation from starting but a command's, whose closed or manual
    /// word never reads this one.
    pub(crate) fn set_half_open_deadline(&self, generation: u32, deadline: u64) {
        // Release: pairs with the Acquire fence of a thread that finds this word
        // tagged otherwise than its generation (see `retag_allowed`), as for every shared
        // write; the deadline itself may be seen late (see `half_open_deadline`).
        self.rare.half_open_deadline.store(
            tag_of(generation) | (deadline & COUNT_MASK),
            Ordering::Release,
        );
    }

    fn get(&self, word: &AtomicU64, generation: u32) -> u32 {
        // Relaxed: statistics.
        count_in(word.load(Ordering::Relaxed), generation)
    }

    /// Counts of the closed (or disabled) generation keyed `key`.
    pub(crate) fn closed_counts(&self, key: u64) -> Counts {
        let generation = generation_of(key);
        let (requests, total_successes) = self.stripe_sums(key);
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

    /// Test seam: exactly what `successes` closed-state successes of the generation
    /// keyed `key` leave behind when they all ran on this thread (its stripe's
    /// requests and successes), so a test reaches 2^32 calls without making them.
    #[cfg(test)]
    pub(crate) fn preset_successes(&self, key: u64, successes: u64) {
        let stripe = self.own_cell(key).expect("an owned slot");
        // Relaxed: a test's single thread.
        stripe.generation.store(key & KEY_MASK, Ordering::Relaxed);
        for word in stripe.words() {
            word.store(successes, Ordering::Relaxed);
        }
    }

    /// Rewrites every tagged word not tagged `generation` to `[generation | 0]`, which
    /// it already reads as. Run every `SWEEP_PERIOD` generations so no tag stays
    /// behind long enough for the 20-bit generation to wrap back onto it. Owned cells
    /// name their generation in full and need no sweep. A word already tagged with a
    /// later generation (the breaker moved on while this sweep ran) holds live
    /// counts: it is left alone.
    pub(crate) fn sweep(&self, generation: u32) {
        self.retag_where(generation, |w| {
            w & !COUNT_MASK != tag_of(generation) && !tagged_after(w, generation)
        });
    }

    /// Rewrites every tagged word still tagged `stale`, a generation that ended, to
    /// `[current | 0]`: what an outcome that wrote them after its generation ended,
    /// long enough after that their tags may read as later than the breaker's, does
    /// before it gives its claim up (see `claims.rs`), as the sweep cannot tell
    /// them from a later generation's.
    pub(crate) fn forget(&self, stale: u32, current: u32) {
        self.retag_where(current, |w| w & !COUNT_MASK == tag_of(stale));
    }

    /// Rewrites every tagged word `stale` picks to `[generation | 0]`.
    fn retag_where(&self, generation: u32, stale: impl Fn(u64) -> bool) {
        let retag = |word: &AtomicU64| {
            // Relaxed: see `update_shared`; a lost exchange means someone wrote a fresh tag.
            let w = word.load(Ordering::Relaxed);
            if stale(w) {
                let _ = word.compare_exchange(
                    w,
                    tagged(generation, 0),
                    // Release: pairs with the Acquire fence of a thread that finds this
                    // word tagged otherwise than its generation (see `retag_allowed`): a
                    // sweep runs after the exchange that installed `generation`, a
                    // forgetting outcome after its load of the state word found it.
                    Ordering::Release,
                    Ordering::Relaxed,
                );
            }
        };
        // A cell created during the sweep starts tagged with its creator's generation.
        self.each_cell(|cell, is_shared| {
            if is_shared {
                cell.words().into_iter().for_each(retag);
            }
        });
        self.rare.words().into_iter().for_each(retag);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A thread whose first call is refused creates its cell for the refusal's
    /// total; its later counts must find the cell in no later generation than
    /// theirs, even when the shared word the refusal took its tag from reads as
    /// ahead of the breaker (a write of the shared words' check-to-write window).
    #[test]
    fn a_cell_created_by_a_refusal_counts_the_next_generation() {
        let c = Counters::new(5);
        c.rare.exclusions.store(tagged(9, 1), Ordering::Relaxed);
        std::thread::scope(|s| {
            s.spawn(|| {
                c.record_rejection(Rejected::Open);
                c.record_request(key_of(5, 0), direct);
                c.record_success(key_of(5, 0), tag_of(5));
            });
        });
        let counts = c.closed_counts(key_of(5, 0));
        assert_eq!((counts.requests, counts.total_successes), (1, 1));
        assert_eq!(c.totals().rejected_open, 1);
    }

    /// A failure (or ignored or slow call) whose generation is current re-tags the
    /// shared words it writes that are tagged ahead of it (written by a thread of
    /// the check-to-write window) and counts; one whose generation is not current
    /// leaves them (a later generation's) and counts nothing; the current
    /// generation is asked about only before a word of another generation is
    /// re-tagged, and a stale update never re-tags a word, whatever its 20 bits say
    /// (a word of the current generation reads as older to an update a lap late).
    #[test]
    fn a_closed_update_asks_before_it_retags_a_word() {
        let poisoned = || {
            let c = Counters::new(5);
            for word in c.rare.words() {
                word.store(tagged(9, 3), Ordering::Relaxed);
            }
            c
        };
        let c = poisoned();
        let (counts, calls) = c.record_failure_in(key_of(5, 0), |_| Some(Claim::unheld()));
        assert_eq!((counts.total_failures, counts.consecutive_failures), (1, 1));
        assert_eq!(calls, 1);
        // Words this failure does not write keep their tag until their own update.
        assert_eq!(c.rare.released.load(Ordering::Relaxed), tagged(9, 3));
        let c = poisoned();
        let (counts, _) = c.record_failure_in(key_of(5, 0), |_| None);
        assert_eq!((counts.total_failures, counts.consecutive_failures), (0, 0));
        for word in c.rare.words() {
            assert_eq!(word.load(Ordering::Relaxed), tagged(9, 3));
        }
        assert_eq!(c.closed_counts(key_of(9, 0)).total_failures, 3);

        let c = poisoned();
        c.record_exclusion_in(5, |_| Some(Claim::unheld()));
        assert_eq!(c.closed_counts(key_of(5, 0)).total_exclusions, 1);
        let c = poisoned();
        c.record_exclusion_in(5, |_| None);
        assert_eq!(c.closed_counts(key_of(9, 0)).total_exclusions, 3);

        let c = poisoned();
        assert_eq!(c.count_slow(5, |_| Some(Claim::unheld())), 1);
        let c = poisoned();
        assert_eq!(c.count_slow(5, |_| None), 0);
        assert_eq!(c.rare.slow.load(Ordering::Relaxed), tagged(9, 3));

        // Words of this generation: nobody is asked.
        let c = Counters::new(5);
        let (counts, _) = c.record_failure_in(key_of(5, 0), |_| unreachable!());
        assert_eq!(counts.total_failures, 1);
        c.record_exclusion_in(5, |_| unreachable!());
        assert_eq!(c.count_slow(5, |_| unreachable!()), 1);
        // A word of an earlier generation is re-tagged once asked...
        c.rare.failures.store(tagged(2, 7), Ordering::Relaxed);
        let (counts, _) = c.record_failure_in(key_of(5, 0), |_| Some(Claim::unheld()));
        assert_eq!(counts.total_failures, 1);
        // ... and a generation no longer current leaves it, even when its 20 bits
        // read as older: generation 5 a lap late finds generation 4 + 2^20's word.
        let c = Counters::new(5);
        c.rare.failures.store(tagged(4, 2), Ordering::Relaxed);
        let (counts, _) = c.record_failure_in(key_of(5, 0), |_| None);
        assert_eq!(counts.total_failures, 0);
        assert_eq!(c.rare.failures.load(Ordering::Relaxed), tagged(4, 2));
    }

    /// Review (s13): an update that found its generation current is preempted
    /// before its exchange; had the breaker moved on to the very generation the
    /// stale word is tagged with, whose own success ends the (stale) streak and
    /// whose own failure starts one of the same length, the word would hold
    /// exactly what the update saw, and its exchange would succeed (ABA) and wipe
    /// the newer generation's streak. The ask claims the 20 bits of the generation
    /// it found (see `retag_allowed`): held, the breaker's next generation skips
    /// them (here: 7, not 6), so the word never comes back to what the update saw.
    /// Without the claim (the next generation taken as 6) the newer streak is
    /// wiped, which this test shows first.
    #[test]
    fn an_update_preempted_between_its_ask_and_its_exchange_keeps_a_newer_generations_streak() {
        for claimed in [false, true] {
            let claims = crate::claims::Claims::new();
            let c = Counters::new(5);
            // A failure 2^20 - 1 generations late wrote only the streak (preempted
            // after the failure count): generation 6's tag, one failure.
            c.rare
                .consecutive_failures
                .store(tagged(6, 1), Ordering::Relaxed);
            let asked = std::cell::Cell::new(0);
            let next = std::cell::Cell::new(0);
            let current = |seen: u32| {
                asked.set(asked.get() + 1);
                let claim = claimed.then(|| claims.claim(seen));
                if asked.get() == 1 {
                    // This thread's load of the state word found generation 5; then,
                    // before its exchange, the breaker moves on to its next
                    // generation, where a success ends the streak and a failure
                    // starts a new one.
                    let n = claims.first_free(6) as u32;
                    next.set(n);
                    c.end_failure_streak(tag_of(n));
                    let (counts, _) = c.record_failure_in(key_of(n, 0), |_| None);
                    assert_eq!(counts.consecutive_failures, 1);
                    Some(claim.unwrap_or(Claim::unheld()))
                } else {
                    None // the next generation is the breaker's now
                }
            };
            c.record_failure_in(key_of(5, 0), current);
            let streak = c.closed_counts(key_of(next.get(), 0)).consecutive_failures;
            if claimed {
                assert_eq!(next.get(), 7, "the claimed generation is skipped");
                assert_eq!(streak, 1, "the next generation's streak was wiped");
            } else {
                assert_eq!((next.get(), streak), (6, 0), "unclaimed, the ABA wipes it");
            }
        }
    }

    #[test]
    fn words_of_another_generation_read_as_zero() {
        assert_eq!(count_in(tagged(3, 9), 3), 9);
        assert_eq!(count_in(tagged(2, 9), 3), 0);
        // Counts read modulo 2^32, like gobreaker's uint32; `wide_in` has all 40 bits.
        assert_eq!(count_in(tagged(3, 1 << 32), 3), 0);
        assert_eq!(wide_in(tagged(3, 1 << 32), 3), 1 << 32);
    }

    /// An owned cell names the full generation of its counts: the same 20 bits a lap
    /// later are another generation, and a write of an earlier generation (a thread
    /// that checked its generation, then wrote after the breaker moved on) counts
    /// nothing, however many laps passed.
    #[test]
    fn an_owned_cell_counts_only_in_the_full_generation_it_names() {
        let relaxed = Ordering::Relaxed;
        let cell = Stripe::owned_in(key_of(3, 0));
        cell.bump_in(&cell.successes, key_of(3, 0));
        assert_eq!(cell.counts_in(key_of(3, 0)), (0, 1));
        // A lap later: the same 20 bits, another generation, which starts from zero.
        assert_eq!(cell.counts_in(key_of(3, 1)), (0, 0));
        cell.bump_in(&cell.requests, key_of(3, 1));
        assert_eq!(cell.counts_in(key_of(3, 1)), (1, 0));
        assert_eq!(cell.counts_in(key_of(3, 0)), (0, 0));
        // Stale writes, of the same 20 bits a lap before and of any earlier generation,
        // leave the cell as it was.
        for stale in [key_of(3, 0), key_of(9, 0), key_of(2, 1)] {
            cell.bump_in(&cell.requests, stale);
            cell.bump_in(&cell.successes, stale);
        }
        assert_eq!(cell.counts_in(key_of(3, 1)), (1, 0));
        assert_eq!(cell.generation.load(relaxed), key_of(3, 1));
        // A count past the shared words' 40 bits stays exact in an owned cell.
        cell.requests.store(COUNT_MASK, relaxed);
        cell.bump_in(&cell.requests, key_of(3, 1));
        assert_eq!(cell.counts_in(key_of(3, 1)), (1 << COUNT_BITS, 0));
        // The last full generation (2^58 - 1) is followed by 0.
        let top = key_of(GEN_MASK as u32, LAP_MASK);
        assert_eq!(full_of_key(top), FULL_GENERATION_MASK);
        let cell = Stripe::owned_in(top);
        cell.bump_in(&cell.successes, top);
        assert_eq!(cell.counts_in(top), (0, 1));
        cell.bump_in(&cell.successes, key_of(0, 0));
        assert_eq!(cell.counts_in(key_of(0, 0)), (0, 1));
        cell.bump_in(&cell.successes, top);
        assert_eq!(cell.counts_in(key_of(0, 0)), (0, 1));
        assert_eq!(cell.counts_in(top), (0, 0));
    }

    /// A rejection has no generation at hand, but makes the thread's cell if it is
    /// the thread's first call: the cell must then take its thread's counts in any
    /// later generation, also once the breaker is past half of the 2^58 full
    /// generations, where a cell named with the lap-0 key of the known tag would
    /// read as a later generation than the current one (and refuse every count).
    #[test]
    fn a_cell_made_by_a_rejection_counts_in_any_later_generation() {
        for lap in [0, 1, (1 << 37) - 1, (1 << 37) + 1, LAP_MASK] {
            let c = Counters::new(5);
            c.record_rejection(Rejected::Open);
            for generation in [5, 6] {
                let key = key_of(generation, lap);
                c.record_request(key, direct);
                c.record_success(key, tag_of_key(key));
                let counts = c.closed_counts(key);
                let case = format!("lap {lap:#x}, generation {generation}");
                assert_eq!((counts.requests, counts.total_successes), (1, 1), "{case}");
            }
        }
    }

    #[test]
    fn late_updates_from_an_older_generation_change_nothing() {
        let c = Counters::new(1);
        c.record_exclusion(2);
        c.record_exclusion(1); // generation 1 ended before this landed
        assert_eq!(c.closed_counts(tag_of(2)).total_exclusions, 1);
        // An older tag is still overwritten by a newer generation.
        c.record_exclusion(5);
        assert_eq!(c.closed_counts(tag_of(5)).total_exclusions, 1);
        // Across the wrap: generation 0 follows GEN_MASK.
        let c = Counters::new(GEN_MASK as u32 - 1);
        c.record_exclusion(0);
        c.record_exclusion(GEN_MASK as u32);
        assert_eq!(c.closed_counts(tag_of(0)).total_exclusions, 1);
    }

    /// `end_failure_streak` (one comparison inline, the rest out of line) against
    /// what a success must leave: count 0 in its own generation (the streak ended,
    /// or there was none), and a word of a later generation untouched (the success
    /// is late). Every count a reader sees is the low 32 bits (`count_at`), so the
    /// old rule (reset when those bits are not 0) and this one (reset when the word
    /// is anything else than `tag` and not later) leave the same readings, also for
    /// a streak of exactly 2^32 failures (low bits 0: the old rule left it, this one
    /// resets it; both read 0, and the next failure reads 1).
    #[test]
    fn a_success_ends_the_streak_of_its_generation_only() {
        let half = 1u32 << (GEN_BITS - 1);
        let top = GEN_MASK as u32;
        let counts = [0, 1, 7, u32::MAX.into(), 1 << 32, (1 << 32) + 1, COUNT_MASK];
        for generation in [0, 1, 5, half - 1, half, top - 1, top] {
            let tag = tag_of(generation);
            let gen_at = |d: u32| generation.wrapping_add(d) & top;
            // Older (up to half the generation space behind), the same, later.
            for word_generation in [
                gen_at(top),
                gen_at(top - 1),
                gen_at(half + 1),
                generation,
                gen_at(1),
                gen_at(2),
                gen_at(half - 1),
            ] {
                for count in counts {
                    let word = tagged(word_generation, count);
                    let c = Counters::new(generation);
                    c.rare.consecutive_failures.store(word, Ordering::Relaxed);
                    c.end_failure_streak(tag);
                    let after = c.rare.consecutive_failures.load(Ordering::Relaxed);
                    let case = format!("generation {generation}, word {word:#x}");
                    if tagged_after(word, generation) {
                        assert_eq!(after, word, "a later word is kept: {case}");
                    } else {
                        assert_eq!(after, tag, "no streak in the generation: {case}");
                    }
                    // The reading the old rule left (the word, or `tag` if its low 32
                    // bits counted a streak of this generation) is the same.
                    let old = if count_at(word, tag) != 0 { tag } else { word };
                    assert_eq!(count_in(after, generation), count_in(old, generation));
                    assert_eq!(count_in(after, generation), 0, "{case}");
                    // And so is the next failure's streak.
                    let next = c.record_failure(tag_of(generation)).0.consecutive_failures;
                    let c_old = Counters::new(generation);
                    c_old
                        .rare
                        .consecutive_failures
                        .store(old, Ordering::Relaxed);
                    let next_old = c_old
                        .record_failure(tag_of(generation))
                        .0
                        .consecutive_failures;
                    assert_eq!(next, next_old, "{case}");
                }
            }
        }
    }

    #[test]
    fn a_success_retags_an_older_streak_word_once() {
        let c = Counters::new(1);
        c.record_failure(tag_of(1));
        c.record_failure(tag_of(1));
        // Generation 3's first success: the word of generation 1 reads as 0 in 3, and
        // becomes 3's own zero, so the next successes find it equal to their tag.
        c.record_success(tag_of(3), tag_of(3));
        let word = c.rare.consecutive_failures.load(Ordering::Relaxed);
        assert_eq!(word, tag_of(3));
        c.record_success(tag_of(3), tag_of(3));
        assert_eq!(c.rare.consecutive_failures.load(Ordering::Relaxed), word);
        assert_eq!(c.record_failure(tag_of(3)).0.consecutive_failures, 1);
        // A late success of generation 2 leaves generation 3's streak alone.
        c.record_success(tag_of(2), tag_of(2));
        assert_eq!(c.closed_counts(tag_of(3)).consecutive_failures, 1);
        c.record_success(tag_of(3), tag_of(3));
        assert_eq!(c.closed_counts(tag_of(3)).consecutive_failures, 0);
    }

    #[test]
    fn sweep_retags_stale_words_and_keeps_current_ones() {
        let c = Counters::new(1);
        c.record_request(tag_of(1), direct);
        c.record_exclusion(1);
        c.record_request(tag_of(2), direct);
        c.sweep(2);
        assert_eq!(c.closed_counts(tag_of(2)).requests, 1);
        assert_eq!(c.closed_counts(tag_of(2)).total_exclusions, 0);
        // After the sweep no word still carries tag 1.
        assert_eq!(c.closed_counts(tag_of(1)), Counts::default());
        // A sweep never wipes a word of a later generation.
        c.record_exclusion(3);
        c.sweep(2);
        assert_eq!(c.closed_counts(tag_of(3)).total_exclusions, 1);
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
        c.record_success(tag_of(1), tag_of(1));
        c.record_outcome_total(Some(crate::Outcome::Failure));
        c.record_rejection(Rejected::Open);
        c.record_transition(State::Closed, State::Open);
        c.sweep(5);
        let t = c.totals();
        assert_eq!((t.successes, t.failures, t.rejected_open), (1, 1, 1));
        assert_eq!(t.transitions(State::Closed, State::Open), 1);
        // The generation's own counts are gone; the lifetime totals are not.
        assert_eq!(c.closed_counts(tag_of(5)), Counts::default());
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use crate::sync::Arc;

    /// An owned cell's seqlock: its owner counts 3 successes in generation `k1`,
    /// then 2 requests in `k2` (entering it: the cell's generation word moves, the
    /// counts are zeroed), while a reader reads the cell in each generation. `k1`
    /// never has a request and `k2` never a success, so a reader that mixes the two
    /// generations' counts is seen. Weakening the key's Release store or the first
    /// Acquire load (a reader sees `k2` with `k1`'s successes), or removing either
    /// fence (a reader sees `k1` on both looks with `k2`'s requests between them),
    /// fails this model.
    #[test]
    fn a_reader_never_mixes_an_owned_cells_generations() {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(3);
        builder.check(|| {
            let (k1, k2) = (key_of(1, 0), key_of(1, 1));
            let cell = Arc::new(Stripe::owned_in(k1));
            let owner = {
                let cell = Arc::clone(&cell);
                loom::thread::spawn(move || {
                    for _ in 0..3 {
                        cell.bump_in(&cell.successes, k1);
                    }
                    for _ in 0..2 {
                        cell.bump_in(&cell.requests, k2);
                    }
                })
            };
            let (requests, _) = cell.counts_in(k1);
            assert_eq!(requests, 0, "a later generation's requests read in k1");
            let (_, successes) = cell.counts_in(k2);
            assert_eq!(successes, 0, "an earlier generation's successes read in k2");
            owner.join().expect("model thread");
            assert_eq!(cell.counts_in(k2), (2, 0));
            assert_eq!(cell.counts_in(k1), (0, 0));
        });
    }
}
