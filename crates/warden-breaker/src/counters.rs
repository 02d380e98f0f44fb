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
//! one (short of an exact multiple of 2^20 generations, when the tag repeats: see
//! the bit budget in `state.rs`). That is what keeps counts exact across
//! transitions without a lock.
//!
//! * Cells (one per [`slot`](crate::slot) that has called this breaker, 64
//!   bytes each): `requests` and `successes`, the only counts bumped on every
//!   closed-state call. The owning thread bumps them with a plain load and store.
//! * Rare words (one shared line): failures, consecutive failures, exclusions,
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
//! too-many-requests rejections, and failures, ignored and dropped outcomes) are
//! more words of the calling thread's cell, bumped with the same plain load and
//! store; the rest (slow calls, rejections by an
//! [`AdaptiveThrottle`](crate::AdaptiveThrottle), transitions by edge) are shared
//! words bumped with `fetch_add` on paths that already write the shared line. `totals()` sums
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
//!   cell: 408 requested bytes in all with default settings and a 15-byte name
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

use crate::once_box::OnceBox;
use crate::slot::{self, MAX_SLOTS};
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

/// The generation whose tag is `tag` ([`tag_of`]'s inverse).
#[inline]
const fn generation_of(tag: u64) -> u32 {
    (tag >> COUNT_BITS) as u32
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

/// Bumps a word of an owned cell: a Relaxed load and store, no read-modify-write.
/// Only the cell's owning thread writes it (a sweep may rewrite a stale tag
/// concurrently; whichever store lands, the word is right for the generation each
/// writer saw). Readers sum statistics and synchronise with writers by their own
/// means (joining threads); a slot's next owner continues from its predecessor's
/// stores, ordered by the slot registry's lock.
#[inline]
fn bump_owned(word: &AtomicU64, tag: u64) {
    let w = word.load(Ordering::Relaxed);
    word.store(bumped(w, tag), Ordering::Relaxed);
}

/// A success counted in the calling thread's own cell (`tag`'s generation and
/// the lifetime total): every success path's owned half.
#[inline]
fn success_owned(cell: &Stripe, tag: u64) {
    bump_owned(&cell.successes, tag);
    bump_owned_total(&cell.total_successes);
}

/// A success counted in the cell shared by threads past the owned slots.
#[inline]
fn success_shared(cell: &Stripe, generation: u32) {
    update_shared(&cell.successes, generation, |c| c + 1);
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
    /// Untagged lifetime totals of the other outcomes: failures, ignored and
    /// dropped. Rare, but counted here rather than in the breaker's shared words:
    /// the cell has room for them, and the breaker itself stays within its size.
    total_failures: AtomicU64,
    total_ignored: AtomicU64,
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
    /// A fresh cell: zero counts tagged `tag`, the generation of the call that
    /// creates it (the shared cell's updates never overwrite a later tag, so a fresh
    /// cell must not carry one that reads as later).
    fn new(tag: u64) -> Self {
        Self {
            requests: AtomicU64::new(tag),
            successes: AtomicU64::new(tag),
            total_successes: AtomicU64::new(0),
            rejected_open: AtomicU64::new(0),
            rejected_too_many: AtomicU64::new(0),
            total_failures: AtomicU64::new(0),
            total_ignored: AtomicU64::new(0),
            total_dropped: AtomicU64::new(0),
        }
    }

    fn words(&self) -> [&AtomicU64; 2] {
        [&self.requests, &self.successes]
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
    /// a new cell's counts are 0 tagged `tag`.
    #[cold]
    #[inline(never)]
    fn owned_or_new(&self, i: usize, tag: u64) -> &Stripe {
        let new = || Stripe::new(tag);
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
            None => far.shared.get_or_init(new),
        }
    }

    /// Every cell created so far, the shared one included. `high_water` bounds the
    /// slots that may have one (see [`slot::high_water`]).
    fn each(&self, high_water: usize, mut f: impl FnMut(&Stripe)) {
        for cell in self.direct.iter().take(high_water) {
            if let Some(c) = cell.get() {
                f(c);
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
                    f(c);
                }
            }
        }
        if let Some(c) = far.shared.get() {
            f(c);
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

/// The calling thread's own cell, found by [`Counters::direct_cell`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct DirectCell<'a>(&'a Stripe);

impl DirectCell<'_> {
    /// [`Counters::record_request`] on this cell.
    #[inline]
    pub(crate) fn record_request(self, tag: u64) {
        debug_assert_eq!(tag & !(GEN_MASK << COUNT_BITS), 0, "not a tag: {tag:#x}");
        bump_owned(&self.0.requests, tag);
    }

    /// The cell's half of [`Counters::record_success`]: the caller then ends the
    /// failure streak ([`Counters::end_failure_streak`]).
    #[inline]
    pub(crate) fn count_success(self, tag: u64) {
        debug_assert_eq!(tag & !(GEN_MASK << COUNT_BITS), 0, "not a tag: {tag:#x}");
        success_owned(self.0, tag);
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
            loom_shared: Stripe::new(word),
        }
    }

    /// The calling thread's cell, created on its first call. `None`: the thread has no
    /// slot, and shares the shared cell.
    fn own_cell(&self, tag: u64) -> Option<&Stripe> {
        let i = slot::current();
        match self.cells.owned(i) {
            Some(cell) => Some(cell),
            None if i < MAX_SLOTS => Some(self.cells.owned_or_new(i, tag)),
            None => None,
        }
    }

    /// Runs `owned` on the calling thread's cell, or `shared` on the shared cell if
    /// the thread has no slot; `tag` is the generation a cell created now starts in.
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
    #[inline]
    fn on_cell(&self, tag: u64, owned: impl Fn(&Stripe), shared: impl Fn(&Stripe)) {
        #[cfg(loom)]
        if !slot::loom_owned() {
            return shared(&self.loom_shared);
        }
        // `slot::UNCLAIMED` (a thread's first call) is past `DIRECT` too.
        let direct = self.cells.direct.get(slot::peek());
        match direct.and_then(OnceBox::get) {
            Some(cell) => owned(cell),
            None => self.on_cell_elsewhere(tag, owned, shared),
        }
    }

    /// [`Self::on_cell`] off the direct path. Cold for where its callers place it
    /// (see [`Self::on_cell`]), not for how often it runs: every count of a thread
    /// past the direct slots comes here.
    #[cold]
    #[inline(never)]
    fn on_cell_elsewhere(&self, tag: u64, owned: impl Fn(&Stripe), shared: impl Fn(&Stripe)) {
        match self.own_cell(tag) {
            Some(cell) => owned(cell),
            None => {
                let far = self.cells.far.get_or_init(Far::new);
                shared(far.shared.get_or_init(|| Stripe::new(tag)));
            }
        }
    }

    /// The calling thread's cell if it is a direct one ([`Self::on_cell`]'s inlined
    /// part alone), else `None`: the caller then counts with the general functions,
    /// on a path of its own. Best looked up first thing, while the caller holds few
    /// values: the slot's thread-local is compiled as a call to the thread-local
    /// resolver (this crate may end up in a shared object; an executable's linker
    /// turns it into two loads), so whatever is live across it is kept in a
    /// register the function must save and restore.
    #[inline]
    pub(crate) fn direct_cell(&self) -> Option<DirectCell<'_>> {
        #[cfg(loom)]
        if !slot::loom_owned() {
            return None;
        }
        self.cells
            .direct
            .get(slot::peek())
            .and_then(OnceBox::get)
            .map(DirectCell)
    }

    /// [`Self::record_request`] for a thread [`Self::direct_cell`] found no direct
    /// cell for: the rest of [`Self::on_cell`], without a second direct look.
    pub(crate) fn record_request_elsewhere(&self, tag: u64) {
        debug_assert_eq!(tag & !(GEN_MASK << COUNT_BITS), 0, "not a tag: {tag:#x}");
        #[cfg(loom)]
        if !slot::loom_owned() {
            return self.record_request(tag);
        }
        self.bump_stripe_elsewhere(tag, |s| &s.requests);
    }

    /// [`Self::record_success`] for a thread [`Self::direct_cell`] found no direct
    /// cell for: the rest of [`Self::on_cell`], without a second direct look.
    pub(crate) fn record_success_elsewhere(&self, tag: u64) {
        debug_assert_eq!(tag & !(GEN_MASK << COUNT_BITS), 0, "not a tag: {tag:#x}");
        #[cfg(loom)]
        if !slot::loom_owned() {
            return self.record_success(tag);
        }
        // `move`: see `bump_stripe`.
        self.on_cell_elsewhere(
            tag,
            move |cell| success_owned(cell, tag),
            move |cell| success_shared(cell, generation_of(tag)),
        );
        self.end_failure_streak(tag);
    }

    /// Bumps `pick(stripe)` of the calling thread's cell in `generation`.
    ///
    /// The closures capture `tag` by value (`move`): captured by reference, they
    /// made every inlined caller store it to the stack on every call, for the
    /// out-of-line path alone. The shared cell's closure derives the generation
    /// from it there: a generation captured was computed on every call, for that
    /// path alone too (two instructions a count).
    #[inline]
    fn bump_stripe(&self, tag: u64, pick: impl Fn(&Stripe) -> &AtomicU64 + Copy) {
        self.on_cell(
            tag,
            move |cell| bump_owned(pick(cell), tag),
            move |cell| {
                update_shared(pick(cell), generation_of(tag), |c| c + 1);
            },
        );
    }

    /// [`Self::bump_stripe`] for a thread [`Self::direct_cell`] found no direct
    /// cell for: the rest of [`Self::on_cell`], without a second direct look.
    fn bump_stripe_elsewhere(&self, tag: u64, pick: impl Fn(&Stripe) -> &AtomicU64 + Copy) {
        self.on_cell_elsewhere(
            tag,
            move |cell| bump_owned(pick(cell), tag),
            move |cell| {
                update_shared(pick(cell), generation_of(tag), |c| c + 1);
            },
        );
    }

    /// Every cell created so far (see [`Cells::each`]).
    fn each_cell(&self, f: impl FnMut(&Stripe)) {
        #[cfg(loom)]
        let f = {
            let mut f = f;
            f(&self.loom_shared);
            f
        };
        self.cells.each(slot::high_water(), f);
    }

    /// A tag for a cell created where no generation is at hand (a rejection): one
    /// the breaker has used, so no later than the current generation, which is all a
    /// fresh cell's zero counts need (see [`Stripe::new`]).
    fn known_tag(&self) -> u64 {
        // Relaxed: any generation this word was ever tagged with will do.
        self.rare.exclusions.load(Ordering::Relaxed) & !COUNT_MASK
    }

    /// Requests and successes of `generation` over the cells created so far, all 40
    /// bits of each.
    fn stripe_sums(&self, generation: u32) -> (u64, u64) {
        let mut requests = 0u64;
        let mut successes = 0u64;
        self.each_cell(|cell| {
            // Relaxed: statistics, see `bump_stripe`.
            requests += wide_in(cell.requests.load(Ordering::Relaxed), generation);
            successes += wide_in(cell.successes.load(Ordering::Relaxed), generation);
        });
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
        // `move`: see `bump_stripe`.
        self.on_cell(
            tag,
            move |cell| success_owned(cell, tag),
            move |cell| success_shared(cell, generation_of(tag)),
        );
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

    /// Ends the failure streak of the generation tagged `tag`, if it has one.
    ///
    /// Inlined, this is one load and one comparison: the word is usually `tag`
    /// itself (no streak in this generation), and anything else goes to
    /// [`Self::end_failure_streak_at`]. (Testing the word's tag and count inline
    /// took 10 instructions on every success, 3 now; callgrind, the benches'
    /// `closed_success`.)
    #[inline]
    pub(crate) fn end_failure_streak(&self, tag: u64) {
        // Relaxed: statistics. Read on every success, written only when a failure streak
        // has to be ended or the word still carries an older generation's tag, so the
        // line stays shared in every core's cache.
        let cf = self.rare.consecutive_failures.load(Ordering::Relaxed);
        if cf != tag {
            self.end_failure_streak_at(cf, tag);
        }
    }

    /// [`Self::end_failure_streak`] for a consecutive-failures word `cf` that is not
    /// `tag`: a streak of this generation, a word still tagged with an older
    /// generation (after a transition, until this generation's first failure or
    /// success), or one of a later generation (this success is late). The first two
    /// read as no streak once the word is `tag`: count 0, in this generation. For
    /// an older word that rewrite is the sweep's (it reads as 0 either way), and it
    /// keeps the generation's later successes on the inlined comparison.
    #[cold]
    #[inline(never)]
    fn end_failure_streak_at(&self, cf: u64, tag: u64) {
        if tagged_after(cf, generation_of(tag)) {
            return;
        }
        // A exchange, not a store: a store could overwrite a newer generation's streak.
        let _ = self.rare.consecutive_failures.compare_exchange(
            cf,
            tag,
            // Relaxed: statistics; losing this race means a failure (or the sweep, or
            // another success) wrote the word after our load.
            Ordering::Relaxed,
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
            Some(crate::Outcome::Ignored) => self.bump_total(|s| &s.total_ignored),
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
        self.on_cell(
            self.known_tag(),
            |cell| bump_owned_total(pick(cell)),
            |cell| bump_shared_total(pick(cell)),
        );
    }

    /// The lifetime totals: one pass over the stripes ever written and the shared
    /// words. Exact when no call is in flight (see [`Totals`]).
    pub(crate) fn totals(&self) -> Totals {
        let mut t = Totals::default();
        self.each_cell(|cell| {
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
            t.ignored = t
                .ignored
                .wrapping_add(cell.total_ignored.load(Ordering::Relaxed));
            t.dropped = t
                .dropped
                .wrapping_add(cell.total_dropped.load(Ordering::Relaxed));
        });
        let r = &self.rare;
        // Relaxed: statistics.
        t.slow_calls = r.total_slow.load(Ordering::Relaxed);
        t.rejected_throttled = r.total_throttled.load(Ordering::Relaxed);
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
        let stripe = self.own_cell(tag_of(generation)).expect("an owned slot");
        // Relaxed: a test's single thread.
        for word in stripe.words() {
            word.store(tagged(generation, successes), Ordering::Relaxed);
        }
    }

    /// Rewrites every word not tagged `generation` to `[generation | 0]`, which it
    /// already reads as. Run every `SWEEP_PERIOD` generations so no tag stays behind
    /// long enough for the 20-bit generation to wrap back onto it.
    pub(crate) fn sweep(&self, generation: u32) {
        let sweep = |word: &AtomicU64| {
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
        };
        // A cell created during the sweep starts tagged with its creator's generation.
        self.each_cell(|cell| cell.words().into_iter().for_each(sweep));
        self.rare.words().into_iter().for_each(sweep);
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
                    let next = c.record_failure(generation).0.consecutive_failures;
                    let c_old = Counters::new(generation);
                    c_old
                        .rare
                        .consecutive_failures
                        .store(old, Ordering::Relaxed);
                    let next_old = c_old.record_failure(generation).0.consecutive_failures;
                    assert_eq!(next, next_old, "{case}");
                }
            }
        }
    }

    #[test]
    fn a_success_retags_an_older_streak_word_once() {
        let c = Counters::new(1);
        c.record_failure(1);
        c.record_failure(1);
        // Generation 3's first success: the word of generation 1 reads as 0 in 3, and
        // becomes 3's own zero, so the next successes find it equal to their tag.
        c.record_success(tag_of(3));
        let word = c.rare.consecutive_failures.load(Ordering::Relaxed);
        assert_eq!(word, tag_of(3));
        c.record_success(tag_of(3));
        assert_eq!(c.rare.consecutive_failures.load(Ordering::Relaxed), word);
        assert_eq!(c.record_failure(3).0.consecutive_failures, 1);
        // A late success of generation 2 leaves generation 3's streak alone.
        c.record_success(tag_of(2));
        assert_eq!(c.closed_counts(3).consecutive_failures, 1);
        c.record_success(tag_of(3));
        assert_eq!(c.closed_counts(3).consecutive_failures, 0);
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
