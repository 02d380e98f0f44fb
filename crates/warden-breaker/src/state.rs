//! The packed state word: state, generation and deadline in one `u64`.
//!
//! Every transition of the breaker is one `compare_exchange` on this word, so
//! the state, the generation that tags counts and permits, and the time the
//! state expires can never be observed out of step with one another (the bug
//! of breakers that CAS a state byte and then store a timestamp beside it).
//!
//! This file is pure bit logic: [`Snapshot`] is a `Copy` view with named
//! fields; nothing here touches an atomic, so the encoding is unit-tested and
//! fuzzed on its own.
//!
//! # Layout
//!
//! ```text
//!  63 62 | 61      | 60  | 59 ........ 40 | 39 ..................... 0
//!  state | PENDING | REQ | generation (20) | payload (40)
//! ```
//!
//! | field | bits | meaning |
//! | --- | --- | --- |
//! | state | 2 | `0` closed, `1` half-open, `2` open, `3` manual (a mode set by [`force_open`](crate::CircuitBreaker::force_open) and friends) |
//! | `PENDING` | 1 | a transition into this state has happened and its callbacks are still running; no further transition may start until they finish (this is what keeps callbacks in order) |
//! | `REQ` | 1 | while `PENDING`: a caller asked to open (a trip in closed, a probe failure in half-open); the thread running the callbacks performs it next. A word with `REQ` is logically open |
//! | generation | 20 | the low 20 bits of the generation, bumped by every state change and every closed-state interval reset; counts and permits carry it, so an outcome from an older generation changes nothing |
//! | payload, closed | 1 + 39 | bit 39 set: the counting interval expires at the tick in bits 0..39; clear (a plain-closed word, no interval): bits 0..38 are the generation's lap, so the word holds its full generation |
//! | payload, open | 40 | tick after which the breaker may go half-open |
//! | payload, half-open | 20 + 20 | probes holding a slot (bits 0..20) and probe successes (bits 20..40) |
//! | payload, manual | 2 + 38 | the manual mode (bits 38..40: forced open, forced open until a deadline, forced closed, disabled) and, for the deadline mode, the tick after which the breaker may go half-open (bits 0..38); for the other modes the generation's lap there, so those words hold their full generation |
//!
//! # Bit budget
//!
//! * **Time**: one tick is one millisecond since the breaker was built; 40 bits
//!   hold 2^40 ms, about 34.8 years. Timeouts and intervals are limited to
//!   [`MAX_DURATION_TICKS`] (2^39 ms, about 17.4 years), so any timeout works for
//!   at least 17.4 years of uptime and the default 60 s timeout for 34.8. Past
//!   the end, ticks saturate at [`MAX_TICK`]: a deadline saturates too and the
//!   breaker stays in its state instead of wrapping into nonsense. A closed word's
//!   counting interval ends at a tick of 39 bits (the payload's top bit marks it):
//!   an interval that would end at or after [`MAX_CLOSED_EXPIRY`] (about 17.4
//!   years after the breaker was built) never ends, and its counts are then kept
//!   as with no interval, so an interval works while uptime plus interval stay
//!   below 17.4 years.
//! * **Generation**: the word holds the low 20 bits of a 58-bit full generation
//!   (2^58 generation changes at one a nanosecond take 9 years; a change is an
//!   exchange of a shared word, tens of nanoseconds). Its upper 38 bits, the
//!   *lap*, are carried by every permit, by a plain-closed word itself and by a
//!   manual word without a deadline (forced open, forced closed, disabled),
//!   whose payloads have room for them; for any other word the breaker's
//!   generation word holds them: it is raised to the full generation just
//!   before the new word's (the old word's, unless claimed generations were
//!   skipped, see below) before every exchange that moves the generation on (and published by that
//!   exchange's `Release`), so whoever loads the word (`Acquire`) and then the
//!   generation word finds the latter at most one generation behind, and
//!   rebuilds the full generation as the latest with the word's 20 bits not
//!   after one past it (never, then, a generation the breaker has not reached
//!   but one). So a permit held across any number of generation changes is never
//!   taken for a permit of a later generation whose 20 bits are the same:
//!   commands (2^20 [`reset`](crate::CircuitBreaker::reset)s take about 10 ms)
//!   and natural flapping (three generations per open timeout) change nothing
//!   about that. A permit that times its call (slow calls) keeps its start time
//!   in a second ticket word, so it carries its full generation as every other
//!   permit does. A word that holds its lap (plain closed, or manual without a
//!   deadline) never repeats either, so an exchange decided on one can never
//!   land on the same word a lap later. A thread's own counter cell (the
//!   admissions and closed successes of the threads that own a slot: nearly
//!   every count) names the full generation of its counts in a word of its own,
//!   so a thread that checked its generation and is preempted before its write,
//!   however many generations later it resumes, writes under that old
//!   generation, which no reader counts (`counters.rs`, the cell's seqlock).
//!   The breaker's shared words (failures, exclusions, streaks, half-open
//!   slots given back, slow calls, the windows' slots, the throttle's
//!   evaluation, and the cell of threads past the owned slots) keep 20-bit tags
//!   (a 64-bit word holds a 40-bit count beside them) and are updated by
//!   compare-and-swap from many threads, after a check of the state word. A
//!   thread preempted between that check and its write, while the breaker made
//!   an exact multiple of 2^20 generation changes, would write into the current
//!   generation. That cannot happen: an outcome recorded off the fast path
//!   (failures, ignored outcomes, half-open outcomes), and any path about to
//!   write a shared word after its check (a success ending a failure streak,
//!   entering a time-window bucket, counting a slow call or a count of the
//!   shared cell, evaluating the throttle), first *claims* its generation's 20
//!   bits, then fences, then checks (the fast path checks again), and every
//!   transition fences after its load of the state word and skips a generation
//!   whose 20 bits are claimed (`claims.rs`, loom models `claims::loom_models`
//!   and `loom-tests/tests/claims.rs`): while the writer may still write, no
//!   generation with its bits begins. The same claim covers the exchanges the
//!   outcome decides on the word it loaded (a trip, a probe's result): that word
//!   cannot come back a lap later while it is held. Before it gives the claim
//!   up, an outcome that wrote and finds the breaker 2^18 or more generations
//!   past its own forgets every word still tagged with its generation (its
//!   writes may have landed after the generation ended, and tagged that far
//!   back they read as *later* than the breaker's, which the sweep leaves
//!   alone); a write less late is re-tagged by the sweep every
//!   [`SWEEP_PERIOD`] generations, long before its 20 bits come round
//!   (`CircuitBreaker::forget_if_late`, `new_generation`; the two fences pair as
//!   the claims' do). Every generation-changing exchange also takes the new
//!   word's lap from the exchanging thread's own look at the generation word,
//!   so an exchange decided on a word without its lap that is back, identical,
//!   a lap later installs the current lap (the decision, a pure function of that
//!   word, holds for it). Skipping a claimed generation costs nothing but the
//!   generation number; a breaker's claims cost one chunk of eight words,
//!   allocated on its first claim, plus one more for every eight claims held at
//!   once at its peak, and a transition reads them all after one fence.
//!   `tests/check_to_write_window.rs` and `tests/review_late_bucket.rs` hold
//!   writers in the window on purpose while 2^20 and 2^20 - 1 resets run.
//!
//!   The counts of a thread that owns no counter cell (past the 65,536 threads
//!   alive at once that own one, or calling from a thread-local destructor
//!   after its slot was given back), an admission's and a reconfiguration's
//!   throttle evaluation, and a half-open probe's give-back are written under
//!   claims too (`tests/check_to_write_window.rs`,
//!   `tests/review2_claims_half_open_release.rs`). One limit is stated rather
//!   than closed: a sweep preempted between the exchange that began its period
//!   and its re-tags for 2^19 generation changes or more may re-tag words of
//!   the generation current by then (a count lost, never one added).
//!
//!   A closed or disabled outcome about to re-tag one of the shared words
//!   because it holds another generation's first claims that generation's 20
//!   bits and asks whether its own generation is still the breaker's (the
//!   claim, held until its exchange, keeps the word from coming back to the
//!   value it saw): the state word, by full generation,
//!   after an Acquire fence that pairs with the Release every writer of those
//!   words publishes with (`counters::retag_allowed`, loom models
//!   `interval::interval_reset_races_failure`,
//!   `interval::a_stale_slow_call_keeps_the_new_intervals_slow_calls`,
//!   `stale_slots::stale_failure_never_overwrites_the_new_generations_window`,
//!   `stale_slots::stale_failure_never_claims_the_new_generations_bucket`). A
//!   stale outcome then leaves the word alone, and a current one re-tags a word
//!   tagged ahead (a late write not yet forgotten), its stale count dropped.
//!
//!   The shared words (the cell of the threads past the owned slots included)
//!   are swept every [`SWEEP_PERIOD`] generations so a long-idle word is never
//!   mistaken for the current generation. A thread's own cell is not swept: it
//!   names its full generation, compared modulo 2^58 by half the range, so a
//!   cell whose thread last counted more than 2^57 generations ago reads as
//!   later than the current one, and takes none of that thread's counts until
//!   the full generation wraps (a horizon as far off as the permits' 2^58).
//! * **Half-open**: 20 bits of held probes and 20 of successes, so
//!   `max_requests` is at most [`MAX_REQUESTS`] (1,048,575).
//! * **Manual**: 2 bits of mode leave 38 bits for a forced-open deadline, so a
//!   deadline must fall within the first [`MAX_FORCED_DEADLINE`] ticks (2^38 ms,
//!   about 8.7 years) of the breaker's life; a later one is treated as no
//!   deadline (forced open until the next command).

/// Bits of the payload field.
pub(crate) const PAYLOAD_BITS: u32 = 40;
/// Bits of the generation field.
pub(crate) const GEN_BITS: u32 = 20;
const GEN_SHIFT: u32 = PAYLOAD_BITS;
const REQ_SHIFT: u32 = GEN_SHIFT + GEN_BITS;
const PENDING_SHIFT: u32 = REQ_SHIFT + 1;
const STATE_SHIFT: u32 = PENDING_SHIFT + 1;

const PAYLOAD_MASK: u64 = (1 << PAYLOAD_BITS) - 1;
/// Largest generation; the next one is 0.
pub(crate) const GEN_MASK: u64 = (1 << GEN_BITS) - 1;
const REQ: u64 = 1 << REQ_SHIFT;
pub(crate) const PENDING: u64 = 1 << PENDING_SHIFT;

/// A closed word's payload flag: the payload below it is the tick at which the counting
/// interval expires. Without it (a plain-closed word) the payload is the generation's lap.
const EXPIRES: u64 = 1 << (PAYLOAD_BITS - 1);
/// Bits of a word's lap: the full generation is `lap << GEN_BITS | generation`. As
/// many as a manual word's deadline field holds, so that a manual word without a
/// deadline holds its lap there (a plain-closed word has a bit to spare).
const LAP_BITS: u32 = PAYLOAD_BITS - 2;
const LAP_MASK: u64 = (1 << LAP_BITS) - 1;
/// Full generations are counted modulo 2^58 (see the bit budget).
pub(crate) const FULL_GENERATION_MASK: u64 = (1 << (LAP_BITS + GEN_BITS)) - 1;

/// Bits of each half-open sub-field (held probes, probe successes).
const PROBE_BITS: u32 = PAYLOAD_BITS / 2;
const PROBE_MASK: u64 = (1 << PROBE_BITS) - 1;

/// The last representable tick; time saturates here.
pub const MAX_TICK: u64 = PAYLOAD_MASK;
/// Longest timeout or interval, in ticks (milliseconds): 2^39 ms, about 17.4 years.
pub const MAX_DURATION_TICKS: u64 = 1 << (PAYLOAD_BITS - 1);
/// Largest `max_requests` the half-open payload can count.
pub const MAX_REQUESTS: u32 = PROBE_MASK as u32;
/// The last tick a closed word's counting interval can expire at (2^39 - 1 ms, about
/// 17.4 years after the breaker was built): a later expiry saturates here.
pub(crate) const MAX_CLOSED_EXPIRY: u64 = EXPIRES - 1;
/// Bits of the manual payload that hold a forced-open deadline.
const MANUAL_DEADLINE_BITS: u32 = PAYLOAD_BITS - 2;
const MANUAL_DEADLINE_MASK: u64 = (1 << MANUAL_DEADLINE_BITS) - 1;
/// The last tick a forced-open deadline can name (2^38 - 1 ms, about 8.7 years
/// after the breaker was built); a later deadline means "until the next command".
pub const MAX_FORCED_DEADLINE: u64 = MANUAL_DEADLINE_MASK;
/// Striped counters are swept of stale generation tags whenever a new generation is a
/// multiple of this (see the bit budget above).
pub(crate) const SWEEP_PERIOD: u32 = 1 << 16;

/// The state field's encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tag {
    Closed = 0,
    HalfOpen = 1,
    Open = 2,
    /// A mode set by a manual command; [`Manual`] says which.
    Manual = 3,
}

/// The mode held in a manual word's payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Manual {
    /// Rejects every call until the next command.
    ForcedOpen = 0,
    /// Rejects every call until the deadline in the payload, then goes half-open.
    ForcedOpenUntil = 1,
    /// Admits every call, counts nothing, never trips.
    ForcedClosed = 2,
    /// Admits every call, counts like closed, never trips.
    Disabled = 3,
}

/// A copy of the state word with named accessors. Pure: no atomics.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(transparent)]
pub(crate) struct Snapshot(pub(crate) u64);

impl Snapshot {
    /// Closed in the full generation `full`, counting interval expiring at tick
    /// `expiry` (0: never; saturated at [`MAX_CLOSED_EXPIRY`]). Without an interval the
    /// word is plain closed and its payload is the generation's lap, so the word names
    /// its full generation; with one the payload is the expiry.
    pub(crate) const fn closed(full: u64, expiry: u64) -> Self {
        let generation = (full & GEN_MASK) as u32;
        if expiry == 0 {
            Self::pack(Tag::Closed, generation, (full >> GEN_BITS) & LAP_MASK)
        } else {
            let expiry = if expiry > MAX_CLOSED_EXPIRY {
                MAX_CLOSED_EXPIRY
            } else {
                expiry
            };
            Self::pack(Tag::Closed, generation, EXPIRES | expiry)
        }
    }

    /// A closed word with `payload` as it is (a lap, or `EXPIRES` and an expiry): the
    /// encoding fuzz target's encoder, which checks the fields' bits.
    pub(crate) const fn closed_with_payload(generation: u32, payload: u64) -> Self {
        Self::pack(Tag::Closed, generation, payload)
    }

    /// Open in `generation` until after tick `deadline`.
    pub(crate) const fn open(generation: u32, deadline: u64) -> Self {
        Self::pack(Tag::Open, generation, deadline)
    }

    /// Half-open in `generation` with `held` probes holding a slot and `successes` of them
    /// succeeded.
    pub(crate) const fn half_open(generation: u32, held: u32, successes: u32) -> Self {
        let payload = (held as u64 & PROBE_MASK) | ((successes as u64 & PROBE_MASK) << PROBE_BITS);
        Self::pack(Tag::HalfOpen, generation, payload)
    }

    const fn pack(tag: Tag, generation: u32, payload: u64) -> Self {
        Self(
            ((tag as u64) << STATE_SHIFT)
                | ((generation as u64 & GEN_MASK) << GEN_SHIFT)
                | (payload & PAYLOAD_MASK),
        )
    }

    /// The state field.
    pub(crate) const fn tag(self) -> Tag {
        match self.0 >> STATE_SHIFT {
            0 => Tag::Closed,
            1 => Tag::HalfOpen,
            2 => Tag::Open,
            _ => Tag::Manual,
        }
    }

    pub(crate) const fn generation(self) -> u32 {
        ((self.0 >> GEN_SHIFT) & GEN_MASK) as u32
    }

    pub(crate) const fn payload(self) -> u64 {
        self.0 & PAYLOAD_MASK
    }

    pub(crate) const fn is_pending(self) -> bool {
        self.0 & PENDING != 0
    }

    pub(crate) const fn is_open_requested(self) -> bool {
        self.0 & REQ != 0
    }

    /// Probes holding a half-open slot.
    pub(crate) const fn held(self) -> u32 {
        (self.payload() & PROBE_MASK) as u32
    }

    /// Probe successes in half-open.
    pub(crate) const fn successes(self) -> u32 {
        ((self.payload() >> PROBE_BITS) & PROBE_MASK) as u32
    }

    pub(crate) const fn with_pending(self, pending: bool) -> Self {
        if pending {
            Self(self.0 | PENDING)
        } else {
            Self(self.0 & !PENDING)
        }
    }

    /// Closed, no counting interval, nothing requested (pending callbacks allowed):
    /// the state in which a call is admitted with no further checks.
    #[inline]
    pub(crate) const fn is_plain_closed(self) -> bool {
        self.0 & ((3 << STATE_SHIFT) | REQ | EXPIRES) == 0
    }

    /// The tick at which a closed word's counting interval expires; `None` for a
    /// plain-closed word (and meaningless for other tags). An expiry saturated at
    /// [`MAX_CLOSED_EXPIRY`] is `u64::MAX`: no tick passes it, as no tick passes
    /// [`MAX_TICK`], where time itself saturates.
    #[inline]
    pub(crate) const fn expiry(self) -> Option<u64> {
        if self.0 & EXPIRES == 0 {
            None
        } else if self.0 & MAX_CLOSED_EXPIRY == MAX_CLOSED_EXPIRY {
            Some(u64::MAX)
        } else {
            Some(self.0 & MAX_CLOSED_EXPIRY)
        }
    }

    /// The full generation of a word that holds its lap ([`Self::own_lap`]), `None`
    /// for any other word: those hold 20 bits of it, and the breaker's generation word
    /// the rest (see [`full_generation_near`]).
    #[inline]
    pub(crate) const fn own_full_generation(self) -> Option<u64> {
        match self.own_lap() {
            Some(lap) => Some((lap << GEN_BITS) | self.generation() as u64),
            None => None,
        }
    }

    /// The full generation of this word, given the breaker's generation word `word`
    /// (loaded after this word): the word's own if it holds its lap, else the latest
    /// with this word's 20 bits not after `word + 1` ([`full_generation_near`]).
    #[inline]
    pub(crate) const fn full_generation_near(self, word: u64) -> u64 {
        match self.own_full_generation() {
            Some(full) => full,
            None => full_generation_near(word, self.generation()),
        }
    }

    /// The lap a word holds itself: a plain-closed word's, or a manual word's
    /// without a deadline (forced open, forced closed, disabled); `None` for any
    /// other word.
    #[inline]
    pub(crate) const fn own_lap(self) -> Option<u64> {
        let own = self.is_plain_closed()
            || (matches!(self.tag(), Tag::Manual)
                && !matches!(self.manual_mode(), Manual::ForcedOpenUntil));
        if own {
            Some(self.payload() & LAP_MASK)
        } else {
            None
        }
    }

    /// This word moved to the full generation `full`: its 20 bits, and its lap if it
    /// holds one ([`Self::own_lap`]). What a transition installs when the
    /// generation after the word it loaded is claimed (see `claims.rs`) and it skips
    /// to a later one.
    #[inline]
    pub(crate) const fn with_full_generation(self, full: u64) -> Self {
        let moved = (self.0 & !(GEN_MASK << GEN_SHIFT)) | ((full & GEN_MASK) << GEN_SHIFT);
        if self.own_lap().is_some() {
            Self((moved & !LAP_MASK) | lap_of(full))
        } else {
            Self(moved)
        }
    }

    /// The word's state and generation fields alone, as a counter tag (closed words)
    /// or a ticket's comparable part.
    #[inline]
    pub(crate) const fn state_and_generation(self) -> u64 {
        self.0 & ((3 << STATE_SHIFT) | (GEN_MASK << GEN_SHIFT))
    }

    /// A plain-closed word as a counter key (see `counters::key_of`): the word as it
    /// is. It is its generation's key, with `PENDING` if that is set (the only flag
    /// a plain-closed word may have), which the counters take off where it matters:
    /// the admission passes the very value its ticket holds (a second value derived
    /// from the word made the compiler split the ticket's store, which the success
    /// then reloaded whole: a store-forwarding stall, closed success 4.0 -> 10.6 ns).
    #[inline]
    pub(crate) const fn plain_key(self) -> u64 {
        debug_assert!(self.is_plain_closed());
        self.0
    }

    /// The word without its `PENDING` flag.
    #[inline]
    pub(crate) const fn without_pending(self) -> u64 {
        self.0 & !PENDING
    }

    pub(crate) const fn with_open_requested(self) -> Self {
        Self(self.0 | REQ)
    }

    /// A manual word in `generation`, with `deadline` for
    /// [`Manual::ForcedOpenUntil`] (truncated to [`MAX_FORCED_DEADLINE`]) and the
    /// lap `lap` (see [`lap_of`]) for any other mode, in the same bits.
    pub(crate) const fn manual(generation: u32, mode: Manual, deadline: u64, lap: u64) -> Self {
        let rest = match mode {
            Manual::ForcedOpenUntil => deadline & MANUAL_DEADLINE_MASK,
            _ => lap & LAP_MASK,
        };
        Self::pack(
            Tag::Manual,
            generation,
            ((mode as u64) << MANUAL_DEADLINE_BITS) | rest,
        )
    }

    /// The mode of a manual word (meaningless for other tags).
    pub(crate) const fn manual_mode(self) -> Manual {
        match self.payload() >> MANUAL_DEADLINE_BITS {
            0 => Manual::ForcedOpen,
            1 => Manual::ForcedOpenUntil,
            2 => Manual::ForcedClosed,
            _ => Manual::Disabled,
        }
    }

    /// The tick after which an open word (natural, or forced with a deadline) may turn
    /// half-open; `None` for every other word.
    #[inline]
    pub(crate) const fn open_deadline(self) -> Option<u64> {
        match self.tag() {
            Tag::Open => Some(self.payload()),
            Tag::Manual => match self.manual_mode() {
                Manual::ForcedOpenUntil => Some(self.payload() & MANUAL_DEADLINE_MASK),
                _ => None,
            },
            _ => None,
        }
    }

    /// The state callers see for this word, ignoring `REQ` (a manual word reads as
    /// open or closed by its mode).
    pub(crate) const fn visible(self) -> crate::State {
        match self.tag() {
            Tag::Closed => crate::State::Closed,
            Tag::HalfOpen => crate::State::HalfOpen,
            Tag::Open => crate::State::Open,
            Tag::Manual => match self.manual_mode() {
                Manual::ForcedOpen | Manual::ForcedOpenUntil => crate::State::Open,
                Manual::ForcedClosed | Manual::Disabled => crate::State::Closed,
            },
        }
    }

    /// Same word with the half-open counters replaced; flags are kept.
    pub(crate) const fn with_probes(self, held: u32, successes: u32) -> Self {
        let flags = self.0 & (PENDING | REQ);
        Self(Self::half_open(self.generation(), held, successes).0 | flags)
    }
}

/// The 20 bits of full generation `full` that a word holds.
#[inline]
pub(crate) const fn low_bits(full: u64) -> u32 {
    (full & GEN_MASK) as u32
}

/// The lap of full generation `full` (its bits above the 20 a word holds), in
/// payload position: what a plain-closed word and a ticket's first word carry.
#[inline]
pub(crate) const fn lap_of(full: u64) -> u64 {
    (full >> GEN_BITS) & LAP_MASK
}

/// The latest full generation whose low 20 bits are `generation` and that is not
/// after `near + 1`: how a word that holds 20 bits of its generation is given the
/// rest from the breaker's generation word `near`, loaded after the word. That
/// word is at most one generation behind the word's own (it is raised before every
/// exchange that moves the generation on) and never ahead of the breaker's current
/// generation, so the result is exact while fewer than 2^20 - 1 generation changes
/// ran between the two loads, and is never a generation the breaker has not
/// reached, but for one (`near + 1`, when exactly 2^20 - 1 ran and the word was
/// raised to the current one). Rounding to the nearest full generation instead was
/// exact only up to 2^19 changes and past them named one up to 2^19 ahead: a
/// stale admission's key in a future generation, which took its thread's counter
/// cell there, and the cell then refused that thread's counts until the breaker
/// caught up.
#[inline]
pub(crate) const fn full_generation_near(near: u64, generation: u32) -> u64 {
    let top = near.wrapping_add(1);
    // How far `generation` is behind `top`'s 20 bits: 0 to 2^20 - 1.
    let behind = top.wrapping_sub(generation as u64) & GEN_MASK;
    top.wrapping_sub(behind) & FULL_GENERATION_MASK
}

/// The generation before `generation`, wrapping at 0.
pub(crate) const fn prev_generation(generation: u32) -> u32 {
    ((generation as u64).wrapping_sub(1) & GEN_MASK) as u32
}

/// The generation after `generation`, wrapping at 2^20.
pub(crate) const fn next_generation(generation: u32) -> u32 {
    ((generation as u64 + 1) & GEN_MASK) as u32
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Snapshot");
        d.field("tag", &self.tag())
            .field("generation", &self.generation());
        match self.tag() {
            Tag::HalfOpen => d
                .field("held", &self.held())
                .field("successes", &self.successes()),
            Tag::Manual => {
                d.field("mode", &self.manual_mode());
                match self.own_lap() {
                    Some(lap) => d.field("lap", &lap),
                    None => d.field("deadline", &self.open_deadline()),
                }
            }
            Tag::Closed => match self.own_lap() {
                Some(lap) => d.field("lap", &lap),
                None => d.field("expiry", &self.expiry()),
            },
            Tag::Open => d.field("tick", &self.payload()),
        };
        d.field("pending", &self.is_pending())
            .field("open_requested", &self.is_open_requested())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_moved_to_a_later_full_generation_keeps_everything_else() {
        let lap = 1u64 << GEN_BITS;
        let to = 5 * lap + 9;
        // Words that hold their lap take the new one with the 20 bits.
        for word in [
            Snapshot::closed(3 * lap + 2, 0).with_pending(true),
            Snapshot::manual(2, Manual::Disabled, 0, 3),
            Snapshot::manual(2, Manual::ForcedOpen, 0, 3),
            Snapshot::manual(2, Manual::ForcedClosed, 0, 3).with_pending(true),
        ] {
            let moved = word.with_full_generation(to);
            assert_eq!(moved.own_full_generation(), Some(to), "{word:?}");
            assert_eq!(moved.tag(), word.tag());
            assert_eq!(moved.is_pending(), word.is_pending());
            if word.tag() == Tag::Manual {
                assert_eq!(moved.manual_mode(), word.manual_mode());
            }
        }
        // Any other word keeps its payload: a deadline, an expiry, probe counts.
        for word in [
            Snapshot::closed(3 * lap + 2, 77).with_pending(true),
            Snapshot::open(2, 1234)
                .with_pending(true)
                .with_open_requested(),
            Snapshot::half_open(2, 3, 1),
            Snapshot::manual(2, Manual::ForcedOpenUntil, 999, 0),
        ] {
            let moved = word.with_full_generation(to);
            assert_eq!(moved.generation(), 9);
            assert_eq!(
                moved.0 & !(GEN_MASK << GEN_SHIFT),
                word.0 & !(GEN_MASK << GEN_SHIFT)
            );
        }
    }

    #[test]
    fn fields_round_trip_at_their_extremes() {
        for generation in [0, 1, GEN_MASK as u32] {
            for tick in [0, 1, MAX_TICK] {
                let c = Snapshot::closed_with_payload(generation, tick);
                assert_eq!(
                    (c.tag(), c.generation(), c.payload()),
                    (Tag::Closed, generation, tick)
                );
                let o = Snapshot::open(generation, tick)
                    .with_pending(true)
                    .with_open_requested();
                assert_eq!(
                    (o.tag(), o.generation(), o.payload()),
                    (Tag::Open, generation, tick)
                );
                assert!(o.is_pending() && o.is_open_requested());
                assert!(!o.with_pending(false).is_pending());
            }
            for (held, successes) in [
                (0, 0),
                (MAX_REQUESTS, 0),
                (0, MAX_REQUESTS),
                (MAX_REQUESTS, MAX_REQUESTS),
            ] {
                let h = Snapshot::half_open(generation, held, successes).with_pending(true);
                assert_eq!((h.tag(), h.generation()), (Tag::HalfOpen, generation));
                assert_eq!((h.held(), h.successes()), (held, successes));
                let h2 = h.with_probes(successes, held);
                assert_eq!(
                    (h2.held(), h2.successes(), h2.is_pending()),
                    (successes, held, true)
                );
            }
        }
    }

    #[test]
    fn manual_words_round_trip() {
        for generation in [0, 1, GEN_MASK as u32] {
            for (mode, state) in [
                (Manual::ForcedOpen, crate::State::Open),
                (Manual::ForcedOpenUntil, crate::State::Open),
                (Manual::ForcedClosed, crate::State::Closed),
                (Manual::Disabled, crate::State::Closed),
            ] {
                for (deadline, lap) in [(0, 0), (1, 2), (MAX_FORCED_DEADLINE, LAP_MASK)] {
                    let m = Snapshot::manual(generation, mode, deadline, lap).with_pending(true);
                    assert_eq!(m.tag(), Tag::Manual);
                    assert_eq!((m.generation(), m.manual_mode()), (generation, mode));
                    assert_eq!(m.visible(), state);
                    let timed = mode == Manual::ForcedOpenUntil;
                    assert_eq!(m.open_deadline(), timed.then_some(deadline));
                    // Every other mode holds its lap in the deadline's place.
                    assert_eq!(m.own_lap(), (!timed).then_some(lap));
                    let full = (lap << GEN_BITS) | generation as u64;
                    assert_eq!(m.own_full_generation(), (!timed).then_some(full));
                    assert!(m.is_pending() && !m.is_open_requested());
                    assert!(!m.is_plain_closed(), "manual words take the slow path");
                }
            }
        }
        // A deadline past the field is truncated to it, never spills into the mode.
        let m = Snapshot::manual(1, Manual::ForcedOpenUntil, MAX_TICK, 0);
        assert_eq!(m.manual_mode(), Manual::ForcedOpenUntil);
        // So is a lap past it.
        let m = Snapshot::manual(1, Manual::Disabled, 0, u64::MAX);
        assert_eq!(m.manual_mode(), Manual::Disabled);
        assert_eq!(m.own_lap(), Some(LAP_MASK));
    }

    #[test]
    fn generation_wraps_to_zero() {
        assert_eq!(next_generation(GEN_MASK as u32), 0);
        assert_eq!(next_generation(7), 8);
        // A generation larger than the field is truncated, never spills into the flags.
        let s = Snapshot::closed(u64::MAX, 0);
        assert!(!s.is_pending() && !s.is_open_requested());
        assert_eq!(s.tag(), Tag::Closed);
        assert_eq!(s.own_full_generation(), Some(FULL_GENERATION_MASK));
    }

    #[test]
    fn a_plain_closed_word_holds_its_full_generation() {
        for full in [
            0,
            1,
            GEN_MASK,
            GEN_MASK + 1,
            (77 << 20) | 3,
            FULL_GENERATION_MASK,
        ] {
            let s = Snapshot::closed(full, 0).with_pending(true);
            assert!(s.is_plain_closed(), "{s:?}");
            assert_eq!(s.own_full_generation(), Some(full));
            assert_eq!(s.generation() as u64, full & GEN_MASK);
            assert_eq!(s.expiry(), None);
            assert_eq!(s.state_and_generation(), (full & GEN_MASK) << GEN_SHIFT);
            // Words a lap apart differ: an exchange from one never lands on the other.
            assert_ne!(
                Snapshot::closed(full + (1 << GEN_BITS), 0),
                Snapshot::closed(full, 0)
            );
        }
    }

    #[test]
    fn a_closed_word_with_an_interval_holds_its_expiry() {
        for (expiry, kept) in [
            (1, 1),
            (MAX_CLOSED_EXPIRY - 1, MAX_CLOSED_EXPIRY - 1),
            (MAX_CLOSED_EXPIRY, u64::MAX),
            (MAX_CLOSED_EXPIRY + 1, u64::MAX),
            (MAX_TICK, u64::MAX),
        ] {
            let s = Snapshot::closed((9 << 20) | 4, expiry);
            assert_eq!((s.expiry(), s.generation()), (Some(kept), 4));
            assert!(!s.is_plain_closed() && s.tag() == Tag::Closed);
            assert_eq!(s.own_full_generation(), None);
        }
    }

    #[test]
    fn full_generations_are_rebuilt_from_one_near_them() {
        let lap = 1u64 << GEN_BITS;
        for full in [0, 5, lap - 1, lap, lap + 7, 40 * lap + 3] {
            let low = (full & GEN_MASK) as u32;
            // The generation word is the full generation or one less (or, read late,
            // a little ahead): any of them gives the full generation back.
            for near in [full.saturating_sub(1), full, full + 1, full + 1000] {
                assert_eq!(full_generation_near(near, low), full, "{near} {full}");
            }
        }
        // Just below a lap boundary and just past it.
        assert_eq!(full_generation_near(lap, (GEN_MASK) as u32), lap - 1);
        assert_eq!(full_generation_near(lap - 1, 0), lap);
        assert_eq!(low_bits(lap + 9), 9);
        assert_eq!(lap_of(3 * lap + 9), 3);
    }

    // Checked at compile time: ten years of uptime plus the longest setting fit,
    // and max_requests uses the whole half-open field.
    const _: () = {
        assert!(MAX_DURATION_TICKS < MAX_TICK);
        assert!(10 * 365 * 24 * 3600 * 1000 <= MAX_TICK - MAX_DURATION_TICKS);
        assert!(MAX_REQUESTS == (1 << 20) - 1);
    };
}
