//! Claims: the 20-bit generation tags that threads between a check of the state
//! word and their write may still write under, which no transition installs.
//!
//! The state word and the breaker's shared counter words hold 20 bits of a
//! generation (see the bit budget in `state.rs`). A thread that checked that its
//! generation is current and then writes (a failure's counts, a window slot, an
//! exchange decided on the word it loaded) may be preempted between the two
//! while the breaker makes any number of generation changes; had those been an
//! exact multiple of 2^20, its write would land in a generation with the same 20
//! bits and count there. So such a thread first *claims* its generation's 20
//! bits here, and every exchange that moves the generation on skips a
//! generation whose 20 bits are claimed ([`Claims::first_free`]): while the
//! claim stands, no generation aliasing it exists, and the write lands in its
//! own generation or in one with other bits, which its tag check refuses.
//!
//! The pairing is Dekker's: the claimant stores its claim, then a `SeqCst`
//! fence, then loads the state word; a transition loads the state word, then a
//! `SeqCst` fence, then reads the claims. If the claimant's load found a word
//! older than the one the transition loaded, the fences' order makes the
//! transition read the claim (the loom models `claims::*`). A claimant whose
//! load found the transition's word or a later one claims a generation no older
//! than that word's, whose next alias is 2^20 generations on, and every
//! transition from a later word reads the claim.
//!
//! A claim is one word of a chain of eight-word chunks, allocated on the first
//! claim (a breaker whose calls all succeed on the fast path allocates none) and grown only
//! while every word is held: the chain's length is the most claims a breaker
//! ever held at once (the threads inside a failure's record at the same time),
//! and a transition reads all of it.

use crate::once_box::OnceBox;
use crate::state::{GEN_MASK, low_bits};
use crate::sync::{AtomicU64, Ordering, fence};

/// Words per chunk: a cache line of claims (the chunk is that and the pointer to
/// the next; 72 bytes).
const CHUNK: usize = 8;

/// Eight claim words (0: free; else the claimed 20 bits plus one), and the next
/// chunk, allocated when all eight were held at once.
#[derive(Debug)]
struct Chunk {
    words: [AtomicU64; CHUNK],
    next: OnceBox<Chunk>,
}

impl Chunk {
    fn new() -> Self {
        Self {
            words: std::array::from_fn(|_| AtomicU64::new(0)),
            next: OnceBox::new(),
        }
    }
}

/// Whether breakers built from now on model their claims (loom only; see
/// [`Claims::is_modelled`]).
#[cfg(loom)]
pub(crate) static MODEL_CLAIMS: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// A breaker's claims (see the module docs).
#[derive(Debug)]
pub(crate) struct Claims {
    head: OnceBox<Chunk>,
    #[cfg(loom)]
    modelled: bool,
}

/// A claim of one generation's 20 bits, given up on drop.
#[derive(Debug)]
#[must_use = "a claim protects only while it is held"]
pub(crate) struct Claim<'a> {
    /// `None` only in loom models that leave claims out.
    word: Option<&'a AtomicU64>,
}

impl Claims {
    pub(crate) fn new() -> Self {
        Self {
            head: OnceBox::new(),
            // Relaxed: a flag the model sets before it builds its breaker, on the same
            // thread.
            #[cfg(loom)]
            modelled: MODEL_CLAIMS.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// Whether claims are kept: always, but in the loom models that leave them out.
    /// A claim protects only against a lap of 2^20 generation changes, which no
    /// model makes; kept, its words and fences multiplied the interleavings of
    /// every model with a failure or a transition (three times and more), so the
    /// models that check them turn them on (`__private::loom_claims`) and the
    /// others run without them (as the generation word's, see `sync.rs`).
    #[inline]
    pub(crate) fn is_modelled(&self) -> bool {
        #[cfg(loom)]
        return self.modelled;
        #[cfg(not(loom))]
        true
    }

    /// The `SeqCst` fence of the pairing with a claim, made by a thread that loaded
    /// the state word and is about to act on what others wrote under their claims
    /// (see `CircuitBreaker::forget_if_late` and `new_generation`).
    #[inline]
    pub(crate) fn pair_fence(&self) {
        if self.is_modelled() {
            // SeqCst: pairs with the SeqCst fence of `claim`, or of a writer's
            // `pair_fence`, as the caller says.
            fence(Ordering::SeqCst);
        }
    }

    /// Claims the 20 bits `generation`, then fences: a state word loaded after this
    /// returns and found in `generation` stays clear of every generation with the
    /// same bits while the claim is held.
    #[cold]
    pub(crate) fn claim(&self, generation: u32) -> Claim<'_> {
        if !self.is_modelled() {
            return Claim { word: None };
        }
        let value = (u64::from(generation) & GEN_MASK) + 1;
        let mut chunk = self.head.get_or_init(Chunk::new);
        loop {
            for word in &chunk.words {
                // Relaxed: the claim is ordered by the fence below, and a lost race only
                // sends this thread to the next word.
                if word.load(Ordering::Relaxed) == 0
                    && word
                        .compare_exchange(0, value, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    // SeqCst: pairs with the SeqCst fence of `first_free` (Dekker, see
                    // the module docs): the claim precedes this thread's next load of
                    // the state word.
                    fence(Ordering::SeqCst);
                    return Claim { word: Some(word) };
                }
            }
            chunk = chunk.next.get_or_init(Chunk::new);
        }
    }

    /// The first full generation at or after `from` whose 20 bits no claim holds,
    /// for a thread that loaded the state word and is about to move the generation
    /// on to `from` (see the module docs).
    pub(crate) fn first_free(&self, from: u64) -> u64 {
        if !self.is_modelled() {
            return from;
        }
        // Before the look at the chain too: a claimant may have allocated its first
        // chunk.
        self.pair_fence();
        let Some(head) = self.head.get() else {
            return from;
        };
        let mut full = from;
        // Each claimed tag moves `full` on by one at most once per lap: the loop ends
        // after at most as many steps as there are claims.
        while self.held(head, low_bits(full)) {
            full += 1;
        }
        full
    }

    /// Whether a claim holds the 20 bits `generation`.
    fn held(&self, head: &Chunk, generation: u32) -> bool {
        let value = u64::from(generation) + 1;
        let mut chunk = Some(head);
        while let Some(c) = chunk {
            // Relaxed: ordered by the fence in `first_free`. A claim given up publishes
            // nothing: the late writes of an outcome are forgotten by the outcome
            // itself or swept by the next sweep period's first transition, ordered by
            // the fences of `CircuitBreaker::forget_if_late` and `new_generation`.
            if c.words.iter().any(|w| w.load(Ordering::Relaxed) == value) {
                return true;
            }
            chunk = c.next.get();
        }
        false
    }

    /// The claims held now, each once per holder (tests).
    #[cfg(test)]
    fn held_now(&self) -> Vec<u32> {
        let mut out = Vec::new();
        let mut chunk = self.head.get();
        while let Some(c) = chunk {
            for w in &c.words {
                // Relaxed: a test's single thread.
                let v = w.load(Ordering::Relaxed);
                if v != 0 {
                    out.push((v - 1) as u32);
                }
            }
            chunk = c.next.get();
        }
        out
    }
}

impl Claim<'_> {
    /// A claim that holds nothing: what an update that needs no claim to re-tag a
    /// word (the half-open counts, which the tag alone decides) passes on, and
    /// what unit tests of the counters answer for a current generation.
    pub(crate) const fn unheld() -> Claim<'static> {
        Claim { word: None }
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if let Some(word) = self.word {
            // Relaxed: see `Claims::held`.
            word.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::state::GEN_BITS;

    const LAP: u64 = 1 << GEN_BITS;

    #[test]
    fn no_claim_skips_nothing_and_allocates_nothing() {
        let c = Claims::new();
        assert_eq!(c.first_free(7), 7);
        assert!(c.head.get().is_none());
    }

    #[test]
    fn a_claimed_tag_is_skipped_a_lap_later_and_freed_on_drop() {
        let c = Claims::new();
        let claim = c.claim(5);
        assert_eq!(c.first_free(LAP + 5), LAP + 6);
        assert_eq!(c.first_free(3 * LAP + 5), 3 * LAP + 6);
        assert_eq!(c.first_free(LAP + 4), LAP + 4);
        drop(claim);
        assert_eq!(c.first_free(LAP + 5), LAP + 5);
        assert!(c.held_now().is_empty());
    }

    #[test]
    fn consecutive_claims_are_skipped_together_and_the_wrap_too() {
        let c = Claims::new();
        let _a = c.claim(GEN_MASK as u32);
        let _b = c.claim(0);
        let _d = c.claim(1);
        assert_eq!(c.first_free(2 * LAP - 1), 2 * LAP + 2);
    }

    #[test]
    fn more_claims_than_a_chunk_grow_the_chain_and_reuse_freed_words() {
        let c = Claims::new();
        let claims: Vec<_> = (0..20).map(|g| c.claim(g * 3)).collect();
        assert_eq!(c.held_now().len(), 20);
        assert_eq!(c.first_free(LAP + 57), LAP + 58);
        assert_eq!(c.first_free(LAP + 58), LAP + 58);
        drop(claims);
        assert!(c.held_now().is_empty());
        // Freed words are taken again: the chain does not grow past its peak.
        let again: Vec<_> = (0..20).map(|g| c.claim(g)).collect();
        let mut chunks = 0;
        let mut chunk = c.head.get();
        while let Some(ch) = chunk {
            chunks += 1;
            chunk = ch.next.get();
        }
        assert_eq!(chunks, 3);
        drop(again);
    }

    #[test]
    fn the_same_tag_claimed_twice_stays_held_until_both_are_dropped() {
        let c = Claims::new();
        let a = c.claim(9);
        let b = c.claim(9);
        drop(a);
        assert_eq!(c.first_free(LAP + 9), LAP + 10);
        drop(b);
        assert_eq!(c.first_free(LAP + 9), LAP + 9);
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use crate::state::GEN_BITS;
    use crate::sync::{Arc, AtomicU64};

    const LAP: u64 = 1 << GEN_BITS;

    /// Dekker's pairing: a claimant claims generation 5's bits, then loads a word
    /// standing for the state word; a transitioner moves that word from 5 to 6,
    /// loads it, and asks for the first free generation from `LAP + 5`. If the
    /// claimant found 5 current (its write would follow), the transitioner skips
    /// `LAP + 5` (the claim is never given up here). Removing either `SeqCst` fence,
    /// or the claimant's allocating its first chunk unseen, fails this model.
    #[test]
    fn a_claimant_that_found_its_generation_current_is_never_aliased() {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(3);
        builder.check(|| {
            MODEL_CLAIMS.store(true, std::sync::atomic::Ordering::Relaxed);
            let claims = Arc::new(Claims::new());
            let state = Arc::new(AtomicU64::new(5));
            let claimant = {
                let (claims, state) = (Arc::clone(&claims), Arc::clone(&state));
                loom::thread::spawn(move || {
                    std::mem::forget(claims.claim(5));
                    // Relaxed: the fences alone pair (the breaker's loads and exchanges
                    // of the state word are stronger).
                    state.load(Ordering::Relaxed) == 5
                })
            };
            // Relaxed: as above.
            state.store(6, Ordering::Relaxed);
            assert_eq!(state.load(Ordering::Relaxed), 6);
            let free = claims.first_free(LAP + 5);
            let found_current = claimant.join().expect("model thread");
            if found_current {
                assert_eq!(free, LAP + 6, "a current claimant's bits came round");
            }
        });
    }
}
