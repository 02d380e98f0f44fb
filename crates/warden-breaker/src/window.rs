//! The count window of [`CountWindow`](crate::CountWindow): the outcomes of the
//! last `size` calls of a closed generation, lock-free and exact when quiescent.
//!
//! A sequence word `[0: 4 | generation tag: 20 | next sequence number: 40]` hands
//! every recorded outcome a number with one compare-and-swap (never moving a word
//! tagged with a later generation, like the shared counters). Outcome `n` goes to
//! slot `n % size` as `[0: 4 | tag: 20 | n + 1: 39 | failure: 1]` (0 in the number
//! field is an empty slot); a slot only ever moves to a larger `n` of its generation, so when two outcomes `size` apart race
//! for a slot the later one stays. Reading the window (on a failure, to decide a
//! trip) counts the slots of this generation whose number is among the last `size`
//! handed out: once no outcome is being recorded, that is exactly the last `size`
//! outcomes in the order they took their numbers. A word of another generation
//! reads as empty, so a new generation starts with an empty window without anyone
//! writing.
//!
//! A failure publishes its slot before it reads the window: one more
//! read-modify-write on the sequence word (adding 0), `AcqRel`. Of two racing
//! failures, the one whose publish comes second in that word's order sees the
//! other's slot, so two failures can never both miss each other (the
//! store-buffering outcome of two relaxed writes followed by two relaxed reads).
//! Successes skip it: a failure's read may miss a success still being recorded,
//! like every count lags the calls in flight.

use crate::counters::tag_of;
use crate::state::PAYLOAD_BITS;
use crate::sync::{AtomicU64, Ordering};

const COUNT_MASK: u64 = (1 << PAYLOAD_BITS) - 1;
/// Sequence numbers kept in a slot (39 bits; compared modulo 2^39).
const SEQ_MASK: u64 = (1 << (PAYLOAD_BITS - 1)) - 1;
const GEN_BITS: u32 = crate::state::GEN_BITS;

/// Whether `word`'s tag is a generation after `generation` (see `counters.rs`).
fn tagged_after(word: u64, generation: u32) -> bool {
    let gen_mask = (1u64 << GEN_BITS) - 1;
    let ahead = (word >> PAYLOAD_BITS).wrapping_sub(u64::from(generation)) & gen_mask;
    ahead != 0 && ahead < 1 << (GEN_BITS - 1)
}

#[derive(Debug)]
pub(crate) struct Window {
    next: AtomicU64,
    slots: Box<[AtomicU64]>,
}

impl Window {
    /// An empty window of `size` (>= 1) slots, tagged with the first generation.
    pub(crate) fn new(size: usize, generation: u32) -> Self {
        let empty = tag_of(generation);
        Self {
            next: AtomicU64::new(empty),
            slots: (0..size).map(|_| AtomicU64::new(empty)).collect(),
        }
    }

    /// Records one outcome of `generation`; a failure then publishes it for the
    /// failures that read the window after it (see the module docs).
    pub(crate) fn record(&self, generation: u32, failure: bool) {
        self.write(generation, failure);
        if failure {
            // AcqRel: the Release half publishes this failure's slot to the failures
            // whose publish comes later in this word's order; the Acquire half makes
            // the slots of those published earlier visible to the read that follows.
            self.next.fetch_add(0, Ordering::AcqRel);
        }
    }

    fn write(&self, generation: u32, failure: bool) {
        let tag = tag_of(generation);
        // Relaxed throughout: statistics tagged with their generation, like the
        // counters; the exchanges alone keep numbers unique and slots monotonic.
        let mut cur = self.next.load(Ordering::Relaxed);
        let n = loop {
            if tagged_after(cur, generation) {
                return; // the generation is over
            }
            let n = if cur & !COUNT_MASK == tag {
                cur & COUNT_MASK
            } else {
                0
            };
            let next = tag | ((n + 1) & COUNT_MASK);
            match self
                .next
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => break n,
                Err(actual) => cur = actual,
            }
        };
        let slot = &self.slots[(n % self.slots.len() as u64) as usize];
        // Stored 1-based: 0 is an empty slot (a number wraps to 0 only after 2^39
        // outcomes in one generation).
        let m = (n + 1) & SEQ_MASK;
        let word = tag | (m << 1) | u64::from(failure);
        let mut cur = slot.load(Ordering::Relaxed);
        loop {
            if tagged_after(cur, generation) {
                return;
            }
            if cur & !COUNT_MASK == tag {
                // Keep the later of two outcomes `size` apart (modulo 2^39).
                let held = (cur >> 1) & SEQ_MASK;
                let ahead = held.wrapping_sub(m) & SEQ_MASK;
                if ahead != 0 && ahead < 1 << (PAYLOAD_BITS - 2) {
                    return;
                }
            }
            match slot.compare_exchange_weak(cur, word, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// `(calls, failures)` among the last `size` outcomes of `generation`.
    pub(crate) fn read(&self, generation: u32) -> (u32, u32) {
        let tag = tag_of(generation);
        // Relaxed: see `record`.
        let next = self.next.load(Ordering::Relaxed);
        if next & !COUNT_MASK != tag {
            return (0, 0);
        }
        let end = next & COUNT_MASK;
        let size = self.slots.len() as u64;
        let (mut calls, mut failures) = (0u32, 0u32);
        for slot in self.slots.iter() {
            let w = slot.load(Ordering::Relaxed);
            let m = (w >> 1) & SEQ_MASK;
            if w & !COUNT_MASK != tag || m == 0 {
                continue; // another generation's, or empty
            }
            // How far behind the end this outcome is (modulo 2^39): 0..size is in
            // (`m` is the 1-based number, `end` the next 0-based one).
            let behind = (end & SEQ_MASK).wrapping_sub(m) & SEQ_MASK;
            if behind < size {
                calls += 1;
                failures += (w & 1) as u32;
            }
        }
        (calls, failures)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_size_outcomes_of_its_generation() {
        let w = Window::new(4, 1);
        for failure in [true, true, false, false, false, true] {
            w.record(1, failure);
        }
        // The last four: false, false, false, true.
        assert_eq!(w.read(1), (4, 1));
        assert_eq!(w.read(2), (0, 0), "another generation is empty");
        w.record(2, true);
        assert_eq!(w.read(2), (1, 1));
        w.record(1, false); // the old generation is over: ignored
        assert_eq!(w.read(2), (1, 1));
        assert_eq!(w.read(1), (0, 0));
    }

    #[test]
    fn a_slot_keeps_the_later_of_two_outcomes() {
        let w = Window::new(2, 1);
        w.record(1, true); // 0
        w.record(1, true); // 1
        w.record(1, false); // 2 -> slot 0
        // A late write of number 0 into slot 0 is refused.
        let slot = &w.slots[0];
        let before = slot.load(Ordering::Relaxed);
        assert_eq!((before >> 1) & SEQ_MASK, 3, "number 2, stored 1-based");
        assert_eq!(w.read(1), (2, 1));
        // An empty window of the current generation holds nothing.
        let e = Window::new(8, 1);
        e.record(1, true);
        assert_eq!(e.read(1), (1, 1), "empty slots are not outcomes");
    }
}
