//! The time window of [`TimeWindow`](crate::TimeWindow): where each bucket's
//! calls began, so that a failure can count the calls of the last `buckets`
//! buckets without successes ever leaving their thread.
//!
//! The generation's counters are cumulative (successes on the calling thread's
//! stripe, failures and slow calls on shared words). Slot `b % buckets` of a ring
//! holds a *start snapshot* of bucket `b`: those cumulative counts just before the
//! bucket's first outcome was counted. Every closed-state outcome first makes sure
//! its bucket has one: one load of the slot's tag, which a bucket's first outcome
//! finds stale and then claims with a compare-and-swap, snapshots the counters
//! (one pass over the stripes in use) and publishes. At a failure in bucket `t`,
//! the window's calls are the counts now minus the start snapshot of the oldest
//! bucket in `t - buckets + 1 ..= t` that has one: a bucket without a snapshot
//! had no outcome, so nothing is lost.
//!
//! A slot is a small seqlock written once per lap: `tag` is
//! `[WRITING: 1 | 0: 0 | generation: 20 | bucket: 43]` (the full bucket number:
//! 2^43 ticks is 278 years, so a tag never aliases), the snapshot next to it.
//! Exact whenever outcomes do not overlap a bucket's first outcome (every
//! sequential history, which the differential test checks). Under concurrency an
//! outcome counted while a bucket's snapshot is being taken may be attributed to
//! the bucket before, and a failure that finds its own bucket still being
//! written by another thread, and no older snapshot in the window, counts only
//! itself (both documented on [`TimeWindow`](crate::TimeWindow)).

use crate::claims::Claim;
use crate::counters::{Calls, Counters, generation_of};
use crate::state::GEN_BITS;
use crate::sync::{AtomicU64, Ordering, fence};

const BUCKET_BITS: u32 = 43;
const BUCKET_MASK: u64 = (1 << BUCKET_BITS) - 1;
const GEN_MASK: u64 = (1 << GEN_BITS) - 1;
const WRITING: u64 = 1 << 63;
/// The tag of a slot that never held a snapshot: WRITING with no writer, so it
/// never matches and is claimed from by the tag's own rule (see `claimable`).
const NEVER: u64 = WRITING | (1 << 62);

#[derive(Debug)]
struct Slot {
    tag: AtomicU64,
    successes: AtomicU64,
    failures: AtomicU64,
    slow: AtomicU64,
}

#[derive(Debug)]
pub(crate) struct Buckets {
    width: u64,
    /// `[generation: 20 | end: 44]`: the bucket ending at tick `end` (exclusive)
    /// has its snapshot in that generation. A cache in front of the slots, so the
    /// common case (the bucket is already entered) costs one load and no division.
    cursor: AtomicU64,
    slots: Box<[Slot]>,
}

const END_BITS: u32 = 44;
const END_MASK: u64 = (1 << END_BITS) - 1;

const fn cursor(generation: u32, end: u64) -> u64 {
    ((generation as u64 & GEN_MASK) << END_BITS) | (end & END_MASK)
}

const fn tag(generation: u32, bucket: u64) -> u64 {
    ((generation as u64 & GEN_MASK) << BUCKET_BITS) | (bucket & BUCKET_MASK)
}

/// Whether a bucket of generation `generation` may take over a slot tagged `cur`
/// of the same generation (or never used): a never-used slot, or a published one
/// of an older bucket. Never a slot being written (its writer finishes), nor a
/// later bucket (a thread that read the clock earlier). A slot published in
/// another generation is [`published_elsewhere`], and taken over only by a
/// generation that is still current (see [`Buckets::rotate`]).
fn claimable(cur: u64, bucket: u64) -> bool {
    if cur == NEVER {
        return true;
    }
    if cur & WRITING != 0 {
        return false;
    }
    cur & BUCKET_MASK < bucket & BUCKET_MASK
}

/// Whether `cur` is a slot published in a generation other than `generation`.
fn published_elsewhere(cur: u64, generation: u32) -> bool {
    cur != NEVER
        && cur & WRITING == 0
        && (cur >> BUCKET_BITS) & GEN_MASK != u64::from(generation) & GEN_MASK
}

impl Buckets {
    /// A ring of `buckets` (>= 1) buckets `width` (>= 1) ticks wide.
    pub(crate) fn new(buckets: usize, width: u64) -> Self {
        let slot = || Slot {
            tag: AtomicU64::new(NEVER),
            successes: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            slow: AtomicU64::new(0),
        };
        Self {
            width: width.max(1),
            // End 0: no tick is before it, so it never matches.
            cursor: AtomicU64::new(0),
            slots: (0..buckets.max(1)).map(|_| slot()).collect(),
        }
    }

    fn slot(&self, bucket: u64) -> &Slot {
        &self.slots[(bucket % self.slots.len() as u64) as usize]
    }

    /// Makes sure the bucket of tick `now` has its start snapshot in the generation
    /// keyed `key` (see `counters::key_of`),
    /// before an outcome of that bucket is counted. The breaker uses
    /// [`Self::enter_at`]; the tests drive a tick directly (also one before the
    /// cursor's bucket).
    #[cfg(test)]
    pub(crate) fn enter(&self, key: u64, now: u64, counters: &Counters) {
        let generation = generation_of(key);
        // Relaxed: a cache of slot tags already seen published; the snapshot itself
        // is read through `start`'s seqlock, never through the cursor.
        let c = self.cursor.load(Ordering::Relaxed);
        let end = c & END_MASK;
        let fresh = c >> END_BITS == u64::from(generation) & GEN_MASK
            && now < end
            && now.saturating_add(self.width) >= end;
        if !fresh {
            // The tests' generation is always current (a stale one calls
            // `enter_slow` with its own answer).
            self.enter_slow(key, now, counters, &|_| Some(Claim::unheld()));
        }
    }

    /// [`Self::enter`] at [`Self::standing_still`]`(generation, now)`, with one load
    /// of the cursor when the bucket is already entered (the common case): a tick
    /// before the cursor's end in its generation is in the cursor's bucket, or is
    /// an earlier tick that stands still at the start of that bucket.
    ///
    /// `current` says whether the generation is still the breaker's, asked only
    /// when the bucket's slot was published in another generation (see
    /// [`Self::rotate`]).
    #[inline]
    pub(crate) fn enter_at<'c>(
        &self,
        key: u64,
        now: u64,
        counters: &Counters,
        current: impl Fn(u32) -> Option<Claim<'c>>,
    ) {
        let generation = generation_of(key);
        // Relaxed: see `enter`.
        let c = self.cursor.load(Ordering::Relaxed);
        if c >> END_BITS == u64::from(generation) & GEN_MASK && now < c & END_MASK {
            return;
        }
        self.enter_slow(
            key,
            self.standing_still(generation, now),
            counters,
            &current,
        );
    }

    #[cold]
    #[inline(never)]
    fn enter_slow<'c>(
        &self,
        key: u64,
        now: u64,
        counters: &Counters,
        current: &dyn Fn(u32) -> Option<Claim<'c>>,
    ) {
        let generation = generation_of(key);
        let bucket = now / self.width;
        let slot = self.slot(bucket);
        // Relaxed: only compared (see `enter`).
        let cur = slot.tag.load(Ordering::Relaxed);
        if cur != tag(generation, bucket) && !self.rotate(key, bucket, cur, counters, current) {
            return; // another thread is still writing it: look again next time
        }
        let want = cursor(generation, (bucket + 1).saturating_mul(self.width));
        let mut c = self.cursor.load(Ordering::Relaxed);
        // Move the cursor forward only: a thread that read the clock earlier must
        // not take it back (that would only cost a later outcome this slow path).
        while c >> END_BITS != want >> END_BITS || c & END_MASK < want & END_MASK {
            // Relaxed: see `enter`.
            match self
                .cursor
                .compare_exchange_weak(c, want, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(actual) => c = actual,
            }
        }
    }

    /// Claims, fills and publishes `bucket`'s slot; whether it is published now
    /// (by this thread or another), false if another thread is still writing it
    /// or a later bucket holds it.
    ///
    /// A slot published in another generation is claimed only if `current` says
    /// this generation is still the breaker's, the counters' rule for re-tagging a
    /// word (`counters::retag_allowed`; the publish is Release, after its writer
    /// checked the state word). So a stale outcome never takes a later generation's
    /// slot, even a lap late, when its 20 bits read as older; and a slot published
    /// in a later generation while this one is still current was published by a
    /// thread of the check-to-write window, 2^19 to 2^20 generations late (see the
    /// bit budget in `state.rs`): left, it would keep this generation's bucket from
    /// ever having a snapshot, so it is claimed, and the bucket's snapshot starts
    /// here rather than at its first outcome.
    fn rotate<'c>(
        &self,
        key: u64,
        bucket: u64,
        mut cur: u64,
        counters: &Counters,
        current: &dyn Fn(u32) -> Option<Claim<'c>>,
    ) -> bool {
        let generation = generation_of(key);
        let slot = self.slot(bucket);
        let published = tag(generation, bucket);
        // A claim of the generation found, held until the exchange (see
        // `counters::retag_allowed`).
        let mut _seen = None;
        loop {
            if cur == published {
                return true;
            }
            if published_elsewhere(cur, generation) {
                // Acquire: pairs with the Release exchange that published the slot
                // (below), after its writer checked the state word: `current`'s load
                // of the state word then finds that generation if it is later.
                fence(Ordering::Acquire);
                match current(((cur >> BUCKET_BITS) & GEN_MASK) as u32) {
                    Some(claim) => _seen = Some(claim),
                    None => return false,
                }
            } else if !claimable(cur, bucket) {
                return false;
            }
            match slot.tag.compare_exchange_weak(
                cur,
                published | WRITING,
                // Acquire: pairs with the Release exchange that published the previous
                // lap (or the sweep's exchange continuing its release sequence), so the
                // previous writer's snapshot stores happen-before ours: a reader that
                // synchronises with our publish can then read only ours, never a late
                // store of the previous lap (loom: `buckets::loom_models::
                // a_new_lap_overwrites_the_previous_writers_snapshot`,
                // `time_window::a_later_bucket_never_starts_with_an_earlier_snapshot`).
                // The fence below orders the claim before the snapshot's stores.
                Ordering::Acquire,
                // Relaxed: a failed claim only feeds the next attempt.
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
        // Release: pairs with the Acquire fence in `start`: a reader whose loads see
        // any of the stores below then sees the claim (or later) in its second tag
        // load, and discards what it read.
        fence(Ordering::Release);
        let calls = counters.calls(key);
        // Relaxed: published by the Release exchange below.
        slot.successes
            .store(u64::from(calls.successes), Ordering::Relaxed);
        slot.failures
            .store(u64::from(calls.failures), Ordering::Relaxed);
        slot.slow.store(u64::from(calls.slow), Ordering::Relaxed);
        // Release: pairs with the Acquire tag load in `start`, publishing the snapshot.
        // An exchange, not a store: the claim is ours until we publish, so it cannot
        // fail, but a store would be one more thing to argue about.
        slot.tag
            .compare_exchange(
                published | WRITING,
                published,
                Ordering::Release,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// The start snapshot of the oldest bucket, in the window ending with the
    /// bucket of tick `now`, that has one in `generation`.
    pub(crate) fn start(&self, generation: u32, now: u64) -> Option<Calls> {
        let last = now / self.width;
        let first = last.saturating_sub(self.slots.len() as u64 - 1);
        let mut index = (first % self.slots.len() as u64) as usize;
        (first..=last).find_map(|bucket| {
            let slot = &self.slots[index];
            index = if index + 1 == self.slots.len() {
                0
            } else {
                index + 1
            };
            let want = tag(generation, bucket);
            // Acquire: pairs with the Release exchange that published the snapshot.
            if slot.tag.load(Ordering::Acquire) != want {
                return None;
            }
            // Relaxed: validated by the second tag load below.
            let calls = Calls {
                successes: slot.successes.load(Ordering::Relaxed) as u32,
                failures: slot.failures.load(Ordering::Relaxed) as u32,
                slow: slot.slow.load(Ordering::Relaxed) as u32,
            };
            // Acquire: pairs with the writer's Release fence (see `rotate`): if any load
            // above saw a later lap's store, the tag load below sees its claim.
            fence(Ordering::Acquire);
            // Relaxed: ordered by the fence above.
            (slot.tag.load(Ordering::Relaxed) == want).then_some(calls)
        })
    }

    /// The cursor's word, `[generation: 20 | end: 44]`: the bucket ending at tick
    /// `end` is entered in that generation (the breaker keeps a copy inline, see
    /// `live::Quick`).
    #[inline]
    pub(crate) fn cursor_word(&self) -> u64 {
        // Relaxed: see `enter`.
        self.cursor.load(Ordering::Relaxed)
    }

    /// `now`, or the first tick of the latest bucket entered in `generation` if that is
    /// later: a clock that stepped back stands still, as [`Clock`](crate::Clock)
    /// promises, instead of claiming a slot for a bucket already passed or reading a
    /// window that ends in the past (and so counts the later buckets too).
    #[inline]
    pub(crate) fn standing_still(&self, generation: u32, now: u64) -> u64 {
        // Relaxed: see `enter` (a cache; a stale value only clamps less).
        let c = self.cursor.load(Ordering::Relaxed);
        let latest = (c & END_MASK).saturating_sub(self.width);
        if c >> END_BITS == u64::from(generation) & GEN_MASK && now < latest {
            latest
        } else {
            now
        }
    }

    /// Forgets every snapshot of a generation before `generation` (with the
    /// counters' sweep, so no tag stays behind long enough for the 20-bit
    /// generation to wrap onto it). A snapshot of a later generation is kept: the
    /// sweep runs after the exchange that installed `generation`, and the breaker
    /// may have moved on, and published that slot, meanwhile (forgotten, the
    /// bucket's next outcome would take a later snapshot; found in review).
    pub(crate) fn sweep(&self, generation: u32) {
        // `ahead == 0`: this generation's; below half the space: a later one's.
        self.forget_where(|g| {
            (g.wrapping_sub(u64::from(generation)) & GEN_MASK) >= 1 << (GEN_BITS - 1)
        });
    }

    /// Forgets every slot still published in `stale`, a generation that ended: see
    /// `Counters::forget`.
    pub(crate) fn forget(&self, stale: u32) {
        self.forget_where(|g| g == u64::from(stale));
    }

    /// Forgets every published slot whose generation's 20 bits `stale` picks.
    fn forget_where(&self, stale: impl Fn(u64) -> bool) {
        // Relaxed: see `enter`. Forget the cursor too (its generation would wrap):
        // it is only a cache, so losing a racing update costs one slow path.
        self.cursor.store(0, Ordering::Relaxed);
        for slot in self.slots.iter() {
            // Relaxed: a lost exchange means the slot was claimed afresh.
            let w = slot.tag.load(Ordering::Relaxed);
            if w & WRITING == 0 && w != NEVER && stale((w >> BUCKET_BITS) & GEN_MASK) {
                let _ = slot
                    .tag
                    .compare_exchange(w, NEVER, Ordering::Relaxed, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::counters::tag_of;

    /// A slot published in a generation later than one still current was published
    /// by a thread of the check-to-write window (2^19 to 2^20 generations late): the
    /// current generation claims it. Unless the generation is no longer current:
    /// then the later slot stays. Nobody is asked about a never-used slot or one of
    /// its own generation.
    #[test]
    fn a_current_outcome_claims_a_slot_a_late_write_published_ahead() {
        let c = Counters::new(5);
        let b = Buckets::new(1, 10);
        b.enter(tag_of(9), 0, &c); // the late write: bucket 0 in generation 9
        b.enter_at(tag_of(5), 3, &c, |_| None);
        assert!(
            b.start(5, 3).is_none(),
            "a stale outcome claimed a later slot"
        );
        assert!(b.start(9, 3).is_some());
        b.enter_at(tag_of(5), 3, &c, |_| Some(Claim::unheld()));
        assert!(
            b.start(5, 3).is_some(),
            "the current generation has no snapshot"
        );
        assert!(b.start(9, 3).is_none());

        let b = Buckets::new(1, 10);
        b.enter_at(tag_of(5), 3, &c, |_| unreachable!());
        b.enter_at(tag_of(4), 13, &c, |_| None);
        b.enter_at(tag_of(5), 23, &c, |_| unreachable!());
    }

    #[test]
    fn a_stale_outcome_never_claims_a_later_generations_slot() {
        let c = Counters::new(2);
        let b = Buckets::new(2, 10);
        b.enter(tag_of(2), 0, &c); // generation 2's bucket 0 snapshot: nothing before it
        c.record_failure(tag_of(2));
        // A stale outcome of generation 1 in the same bucket.
        b.enter_slow(tag_of(1), 5, &c, &|_| None);
        c.record_failure(tag_of(2));
        assert_eq!(
            b.start(2, 5).map(|s| s.failures),
            Some(0),
            "generation 2's snapshot still precedes both its failures"
        );
    }

    #[test]
    fn a_buckets_snapshot_is_taken_before_its_first_outcome() {
        let c = Counters::new(1);
        let b = Buckets::new(3, 10);
        b.enter(tag_of(1), 0, &c);
        c.record_success(tag_of(1), tag_of(1));
        c.record_success(tag_of(1), tag_of(1));
        b.enter(tag_of(1), 15, &c); // bucket 1
        c.record_failure(tag_of(1));
        assert_eq!(
            b.start(1, 15),
            Some(Calls::default()),
            "bucket 0 starts at 0"
        );
        b.enter(tag_of(1), 35, &c); // bucket 3: bucket 0 leaves the window
        c.record_success(tag_of(1), tag_of(1));
        let start = b.start(1, 35).expect("bucket 1 starts the window");
        assert_eq!(
            start,
            Calls {
                successes: 2,
                failures: 0,
                slow: 0
            }
        );
        assert_eq!(c.calls(tag_of(1)).since(start).total(), 2);
        // Another generation has no snapshot until its first outcome.
        assert_eq!(b.start(2, 35), None);
        b.enter(tag_of(2), 35, &c);
        assert_eq!(b.start(2, 35), Some(Calls::default()));
    }

    /// Review (s13-review3): as for the count window's ring, generation 5's sweep
    /// can still be running when generation 6 publishes a bucket's snapshot; the
    /// bucket sweep forgot it (NEVER, before this was fixed), unlike
    /// `Counters::sweep`, which leaves a word tagged later. Generation 6 then has no start for that bucket (a
    /// window reads as this outcome alone), and its next outcome there claims the
    /// slot with a snapshot taken then: the bucket's earlier calls leave the
    /// window.
    #[test]
    fn a_late_sweep_keeps_a_later_generations_snapshot() {
        // Control: generation 6's own sweep keeps its snapshot.
        let c = Counters::new(6);
        let b = Buckets::new(1, 10);
        b.enter(tag_of(6), 0, &c);
        c.record_failure(tag_of(6));
        b.sweep(6);
        b.enter_at(tag_of(6), 3, &c, |_| Some(Claim::unheld()));
        c.record_failure(tag_of(6));
        assert_eq!(
            b.start(6, 3).map(|s| c.calls(tag_of(6)).since(s).failures),
            Some(2)
        );

        let c = Counters::new(6);
        let b = Buckets::new(1, 10);
        b.enter(tag_of(6), 0, &c); // generation 6's bucket 0: nothing before it
        c.record_failure(tag_of(6));
        b.sweep(5); // generation 5's sweep, still running
        b.enter_at(tag_of(6), 3, &c, |_| Some(Claim::unheld()));
        c.record_failure(tag_of(6));
        assert_eq!(
            b.start(6, 3).map(|s| c.calls(tag_of(6)).since(s).failures),
            Some(2),
            "both of generation 6's failures are in its bucket"
        );
    }

    #[test]
    fn a_late_thread_never_takes_a_later_buckets_slot() {
        let c = Counters::new(1);
        let b = Buckets::new(2, 1);
        b.enter(tag_of(1), 3, &c); // bucket 3, slot 1
        c.record_success(tag_of(1), tag_of(1));
        b.enter(tag_of(1), 1, &c); // bucket 1 read its clock before: slot 1 stays bucket 3's
        assert_eq!(b.start(1, 3), Some(Calls::default()));
        b.sweep(2);
        assert_eq!(b.start(1, 3), None, "the sweep forgets other generations");
    }
}

/// The slot's seqlock under loom (the integration models in `loom-tests` drive
/// rotations through the breaker, but never reuse a slot while it is read).
#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use crate::counters::tag_of;
    use crate::sync::Arc;

    /// One slot, buckets 1 ms wide: bucket 0's snapshot (all zero) is published;
    /// then one thread counts a failure and rotates bucket 1 into the same slot,
    /// while the main thread reads both windows. A reader must get either nothing
    /// or the snapshot of the bucket it asked for: zeros for bucket 0, the failure
    /// for bucket 1 — never one bucket's tag with the other's counts. Removing
    /// either fence of the seqlock, or weakening the publishing exchange or the
    /// tag's Acquire load to Relaxed, fails this model.
    #[test]
    fn a_reader_never_mixes_two_laps() {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(3);
        builder.check(|| {
            let counters = Arc::new(Counters::new(1));
            let buckets = Arc::new(Buckets::new(1, 1));
            buckets.enter(tag_of(1), 0, &counters);
            let (b, c) = (Arc::clone(&buckets), Arc::clone(&counters));
            let writer = loom::thread::spawn(move || {
                c.record_failure(tag_of(1));
                b.enter(tag_of(1), 1, &c);
            });
            // An RMW first: loom does not schedule a thread whose first operations
            // are loads ahead of the others (see loom-tests/README.md).
            counters.record_exclusion(1);
            if let Some(start) = buckets.start(1, 0) {
                assert_eq!(start, Calls::default(), "bucket 0's tag with other counts");
            }
            if let Some(start) = buckets.start(1, 1) {
                assert_eq!(start.failures, 1, "bucket 1's tag without its snapshot");
            }
            writer.join().expect("model thread");
        });
    }

    /// One slot, buckets 1 ms wide, and a writer per lap on two threads: one rotates
    /// bucket 0 into the slot (its snapshot: the one failure counted before), the
    /// other counts a second failure and rotates bucket 1 into the same slot as soon
    /// as bucket 0's snapshot is published (its snapshot: both failures). Once both
    /// are joined, bucket 1's tag must come with bucket 1's counts. If the claim of
    /// the slot does not synchronise with the previous lap's publish, nothing orders
    /// the first writer's stores before the second's, and the read can return bucket
    /// 0's counts under bucket 1's tag (the window would then count a failure of the
    /// bucket before it).
    #[test]
    fn a_new_lap_overwrites_the_previous_writers_snapshot() {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(3);
        builder.check(|| {
            let counters = Arc::new(Counters::new(1));
            let buckets = Arc::new(Buckets::new(1, 1));
            counters.record_failure(tag_of(1));
            let (b, c) = (Arc::clone(&buckets), Arc::clone(&counters));
            let first = loom::thread::spawn(move || b.enter(tag_of(1), 0, &c));
            let (b, c) = (Arc::clone(&buckets), Arc::clone(&counters));
            let second = loom::thread::spawn(move || {
                c.record_failure(tag_of(1));
                b.enter(tag_of(1), 1, &c);
            });
            first.join().expect("model thread");
            second.join().expect("model thread");
            if let Some(start) = buckets.start(1, 1) {
                assert_eq!(start.failures, 2, "bucket 1's tag with bucket 0's counts");
            }
        });
    }
}
