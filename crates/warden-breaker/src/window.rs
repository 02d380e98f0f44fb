//! The count window of [`CountWindow`](crate::CountWindow) (and the slow calls
//! of [`SlowCalls`](crate::SlowCalls) over it): where the last failures (or slow
//! calls) of a closed generation happened, so that a failure can count those
//! among the last `size` calls without successes ever leaving their thread.
//!
//! Successes only bump the calling thread's own stripe, as with every rule. A
//! failure gets a unique index `i` from the shared failure counter (its
//! compare-and-swap orders racing failures) and its *position* `p`: the calls of
//! the generation so far, itself included (the stripes' successes plus the
//! failures). It stores `p` in slot `(i - 1) % size` as
//! `[lap: 4 | generation tag: 20 | p: 40]`, lap = `(i - 1) / size` mod 16. At a
//! failure with `F` failures and `C` calls, the window is the last `min(C, size)`
//! calls, and a failure `i` in `F - size < i <= F` is in it unless its slot
//! says `C - p >= size`. Positions rise with the index, so the failures that left
//! the window are a prefix of those indices, found by binary search.
//!
//! Exact whenever outcomes do not overlap in time (every sequential history,
//! which is what the mutex reference and the differential test check). Under
//! concurrency a position may miss successes still being recorded (like every
//! count lags the calls in flight), and a slot not yet written, or holding
//! another lap's or generation's failure, counts as *in* the window: two racing
//! failures can never both miss each other, since the second index is handed out
//! after the first (the store-buffering outcome of the earlier design, which the
//! loom model `window::racing_failures_see_each_other` checks).

use crate::claims::Claim;
use crate::counters::tag_of;
use crate::state::PAYLOAD_BITS;
use crate::sync::{AtomicU64, Ordering, fence};

const POSITION_MASK: u64 = (1 << PAYLOAD_BITS) - 1;
const TAG_MASK: u64 = ((1 << crate::state::GEN_BITS) - 1) << PAYLOAD_BITS;
const LAP_SHIFT: u32 = 60;

#[derive(Debug)]
pub(crate) struct EventRing {
    slots: Box<[AtomicU64]>,
}

impl EventRing {
    /// A ring for the last `size` (>= 1) events; every slot starts empty.
    pub(crate) fn new(size: usize) -> Self {
        Self {
            slots: (0..size.max(1)).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn size(&self) -> u32 {
        self.slots.len() as u32
    }

    /// The slot of the `index`-th event (1-based; counts wrap modulo 2^32: after
    /// 2^32 events of one generation the mapping jumps once, and the slots it
    /// mislabels count as in the window until they are rewritten).
    fn slot(&self, index: u64) -> (&AtomicU64, u64) {
        let i = index.wrapping_sub(1);
        let size = u64::from(self.size());
        let lap = (i / size) & 0xF;
        (&self.slots[(i % size) as usize], lap << LAP_SHIFT)
    }

    /// Records that the `index`-th event of `generation` was call number `position`.
    ///
    /// Never overwrites an event of a later generation: a failure that passed its
    /// generation check before the generation moved on is stale, and its slot may
    /// already hold the new generation's event of the same index, which must stay
    /// (overwritten, that event would count as in the window for good). Index 0 is
    /// no event (a stale failure's counter update returns 0).
    ///
    /// A slot of another generation is overwritten only if `current` says
    /// `generation` is still the breaker's, the counters' rule for re-tagging a
    /// word (`counters::retag_allowed`; every write of a slot is Release, after its
    /// writer checked the state word). So a stale failure leaves the current
    /// generation's slot alone even a lap late, when its 20 bits read as older; and
    /// a slot that reads as later while `generation` is still current was written
    /// by a thread of the check-to-write window, 2^19 to 2^20 generations late (see
    /// the bit budget in `state.rs`): left, it would count as in the window for
    /// every index that maps to it, so the next event whose index maps to it
    /// overwrites it.
    pub(crate) fn record<'c>(
        &self,
        generation: u32,
        index: u64,
        position: u64,
        current: impl Fn(u32) -> Option<Claim<'c>>,
    ) {
        if index == 0 {
            return;
        }
        let (slot, lap) = self.slot(index);
        let event = lap | tag_of(generation) | (position & POSITION_MASK);
        // Relaxed: a look that feeds the exchange; a later tag is fenced below before
        // anything is decided on it.
        let mut cur = slot.load(Ordering::Relaxed);
        // A claim of the generation found, held until the exchange (see
        // `counters::retag_allowed`).
        let mut _seen = None;
        loop {
            if cur != 0 && cur & TAG_MASK != tag_of(generation) & TAG_MASK {
                // Acquire: pairs with the Release exchange below of the thread that
                // wrote the other tag, after checking the state word: `current`'s load
                // of the state word then finds that generation if it is later.
                fence(Ordering::Acquire);
                match current(((cur & TAG_MASK) >> PAYLOAD_BITS) as u32) {
                    Some(claim) => _seen = Some(claim),
                    None => return,
                }
            }
            match slot.compare_exchange_weak(
                cur,
                event,
                // Release: pairs with the Acquire fence above of a thread that finds
                // this slot later than its generation (see there). A reader that
                // misses this write treats the slot as in the window (see the module
                // docs); nothing else is published through it.
                Ordering::Release,
                // Relaxed: a lost exchange only feeds the next look.
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Of the `events` events of `generation` so far, how many happened among its
    /// last `window` calls, `calls` calls having been made (`window` is at most
    /// the ring's size).
    pub(crate) fn in_window(&self, generation: u32, events: u64, calls: u64, window: u32) -> u64 {
        let window = u64::from(window.min(self.size()));
        if events == 0 || window == 0 {
            return 0;
        }
        // Whether event `i` is known to have left the window.
        let left = |i: u64| {
            let (slot, lap) = self.slot(i);
            // Relaxed: see `record`.
            let w = slot.load(Ordering::Relaxed);
            let position = w & POSITION_MASK;
            // Calls since the event, modulo the 40-bit position field.
            let since = calls.wrapping_sub(position) & POSITION_MASK;
            w & !POSITION_MASK == lap | (tag_of(generation) & TAG_MASK)
                && position != 0
                && since >= window
                // A position "ahead" of the count (a racing failure's) is in.
                && since < 1 << (PAYLOAD_BITS - 1)
        };
        // Candidates: the last `window` indices (an older event has `window` or more
        // events, hence calls, after it). Find the first one still in the window.
        let span = events.min(window);
        let (mut lo, mut hi) = (events - span + 1, events);
        if left(hi) {
            return 0;
        }
        // Invariant: `hi` is in; every index below `lo` has left.
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if left(mid) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        events - lo + 1
    }

    /// Empties every slot tagged with a generation before `generation` (run with
    /// the counters' sweep, so no tag stays behind long enough for the 20-bit
    /// generation to wrap onto it, nor half the generation space behind, where it
    /// would read as ahead). A slot tagged with a later generation is left: the
    /// sweep runs after the exchange that installed `generation`, and the breaker
    /// may have moved on, and written that slot, meanwhile (emptied, it would count
    /// as in the window; found in review).
    pub(crate) fn sweep(&self, generation: u32) {
        self.clear_where(|w| {
            w & TAG_MASK != tag_of(generation) & TAG_MASK && !tagged_later(w, generation)
        });
    }

    /// Clears every slot still tagged `stale`, a generation that ended: see
    /// `Counters::forget`.
    pub(crate) fn forget(&self, stale: u32) {
        self.clear_where(|w| w != 0 && w & TAG_MASK == tag_of(stale) & TAG_MASK);
    }

    fn clear_where(&self, stale: impl Fn(u64) -> bool) {
        for slot in self.slots.iter() {
            // Relaxed: see `record`; a lost exchange means a fresh event landed.
            let w = slot.load(Ordering::Relaxed);
            if stale(w) {
                let _ = slot.compare_exchange(w, 0, Ordering::Relaxed, Ordering::Relaxed);
            }
        }
    }
}

/// Whether slot word `w` holds an event of a generation after `generation`
/// (modulo the 20-bit wrap: up to half the generation space ahead).
fn tagged_later(w: u64, generation: u32) -> bool {
    let ahead = ((w & TAG_MASK) >> PAYLOAD_BITS).wrapping_sub(u64::from(generation))
        & (TAG_MASK >> PAYLOAD_BITS);
    ahead != 0 && ahead < 1 << (crate::state::GEN_BITS - 1)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A sequential run: `outcomes` (true = failure) through a ring of `size`,
    /// returning the in-window failure count after each failure.
    fn replay(size: u32, outcomes: &[bool]) -> Vec<u32> {
        let ring = EventRing::new(size as usize);
        let (mut calls, mut failures, mut seen) = (0u64, 0u64, Vec::new());
        for &failure in outcomes {
            calls += 1;
            if failure {
                failures += 1;
                ring.record(7, failures, calls, |_| None);
                seen.push(ring.in_window(7, failures, calls, size) as u32);
            }
        }
        seen
    }

    /// The same by brute force over the last `size` outcomes.
    fn brute(size: u32, outcomes: &[bool]) -> Vec<u32> {
        let mut seen = Vec::new();
        for (n, &failure) in outcomes.iter().enumerate() {
            if failure {
                let from = (n + 1).saturating_sub(size as usize);
                seen.push(outcomes[from..=n].iter().filter(|f| **f).count() as u32);
            }
        }
        seen
    }

    #[test]
    fn counts_the_failures_among_the_last_calls() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for size in [1, 2, 3, 7, 16, 100] {
            for density in [1, 3, 10, 50] {
                let outcomes: Vec<bool> = (0..2000)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        seed % 100 < density
                    })
                    .collect();
                assert_eq!(
                    replay(size, &outcomes),
                    brute(size, &outcomes),
                    "size {size}, density {density} %"
                );
            }
        }
    }

    #[test]
    fn other_generations_and_unwritten_slots_count_as_in() {
        let ring = EventRing::new(4);
        ring.record(1, 1, 1, |_| Some(Claim::unheld()));
        // Generation 2's first failure at call 10: its slot is unwritten, so in.
        assert_eq!(ring.in_window(2, 1, 10, 4), 1);
        ring.record(2, 1, 10, |_| Some(Claim::unheld()));
        assert_eq!(ring.in_window(2, 1, 10, 4), 1);
        assert_eq!(ring.in_window(2, 1, 14, 4), 0, "four calls later it left");
        // A slot of another generation at the same index reads as unknown: in.
        assert_eq!(ring.in_window(3, 1, 14, 4), 1);
        ring.sweep(2);
        assert_eq!(
            ring.in_window(2, 1, 13, 4),
            1,
            "the sweep keeps the current generation"
        );
    }

    #[test]
    fn a_stale_event_never_overwrites_a_later_generations() {
        let ring = EventRing::new(2);
        ring.record(5, 1, 1, |_| None); // the new generation's first failure, at call 1
        ring.record(4, 1, 7, |_| None); // a stale failure of the generation before, same index
        // Three calls on, the new generation's failure left a window of 2: had the
        // stale event overwritten it, it would count as in for good.
        assert_eq!(ring.in_window(5, 1, 3, 2), 0);
        ring.record(4, 0, 9, |_| None); // index 0 (a stale counter update): no event
        assert_eq!(ring.in_window(5, 1, 3, 2), 0);
        // Across the generation wrap, 0 follows the last generation.
        let ring = EventRing::new(1);
        ring.record(0, 1, 1, |_| None);
        ring.record(crate::state::GEN_MASK as u32, 1, 5, |_| None);
        assert_eq!(ring.in_window(0, 1, 2, 1), 0);
    }

    /// A slot tagged later than a generation that is still current was written by a
    /// thread of the check-to-write window (2^19 to 2^20 generations late): the
    /// current generation's event takes it, and then leaves the window as it should.
    /// Unless the generation is no longer current: then the later slot stays.
    #[test]
    fn a_current_event_takes_a_slot_a_late_write_left_ahead() {
        let ring = EventRing::new(2);
        ring.record(9, 1, 1, |_| None); // the late write: a tag ahead of 5
        ring.record(5, 1, 1, |_| Some(Claim::unheld()));
        // Three calls on, a window of 2 no longer holds call 1.
        assert_eq!(ring.in_window(5, 1, 3, 2), 0);
        let ring = EventRing::new(2);
        ring.record(9, 1, 1, |_| None);
        ring.record(5, 1, 1, |_| None); // 5 is over: 9 is real
        assert_eq!(ring.in_window(9, 1, 3, 2), 0);
        assert_eq!(ring.in_window(9, 1, 2, 2), 1);
        // Nobody is asked about an empty slot or one of its own generation.
        let ring = EventRing::new(2);
        ring.record(5, 1, 1, |_| unreachable!());
        ring.record(4, 1, 1, |_| None);
    }

    /// Review (s13-review3): the sweep of generation 5 runs after the exchange that
    /// installed 5, and the breaker can move on to 6 before it reaches the ring
    /// (it sweeps every counter cell first). `Counters::sweep` leaves a word
    /// already tagged later ("the breaker moved on while this sweep ran"); the
    /// ring's sweep emptied it (before this was fixed), and an empty slot counts
    /// as in the window for good: generation 6's first failure, four calls old, still counts in a
    /// window of 4, and 2 of 4 trips a 50 % rule on one real failure.
    #[test]
    fn a_late_sweep_keeps_a_later_generations_events() {
        // Control: generation 6's own sweep keeps its events.
        let ring = EventRing::new(4);
        ring.record(6, 1, 1, |_| Some(Claim::unheld()));
        ring.sweep(6);
        ring.record(6, 2, 6, |_| Some(Claim::unheld()));
        assert_eq!(ring.in_window(6, 2, 6, 4), 1);

        let ring = EventRing::new(4);
        ring.record(6, 1, 1, |_| Some(Claim::unheld())); // generation 6's first failure, at call 1
        ring.sweep(5); // generation 5's sweep, still running
        ring.record(6, 2, 6, |_| Some(Claim::unheld())); // its second failure, at call 6
        assert_eq!(
            ring.in_window(6, 2, 6, 4),
            1,
            "the failure at call 1 left a window of the last 4 calls (3..=6)"
        );
    }

    #[test]
    fn positions_wrap_modulo_2_pow_40() {
        let ring = EventRing::new(3);
        ring.record(1, 1, POSITION_MASK, |_| None);
        ring.record(1, 2, 1, |_| None); // two calls later, across the wrap
        assert_eq!(ring.in_window(1, 2, 1, 3), 2);
        assert_eq!(ring.in_window(1, 2, 3, 3), 1);
    }
}
