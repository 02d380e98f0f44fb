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
//! | state | 2 | `0` closed, `1` half-open, `2` open (`3` is reserved) |
//! | `PENDING` | 1 | a transition into this state has happened and its callbacks are still running; no further transition may start until they finish (this is what keeps callbacks in order) |
//! | `REQ` | 1 | while `PENDING`: a caller asked to open (a trip in closed, a probe failure in half-open); the thread running the callbacks performs it next. A word with `REQ` is logically open |
//! | generation | 20 | bumped by every state change and every closed-state interval reset; counts and permits carry it, so an outcome from an older generation changes nothing |
//! | payload, closed | 40 | tick at which the counting interval expires (`0`: never) |
//! | payload, open | 40 | tick after which the breaker may go half-open |
//! | payload, half-open | 20 + 20 | probes holding a slot (bits 0..20) and probe successes (bits 20..40) |
//!
//! # Bit budget
//!
//! * **Time**: one tick is one millisecond since the breaker was built; 40 bits
//!   hold 2^40 ms, about 34.8 years. Timeouts and intervals are limited to
//!   [`MAX_DURATION_TICKS`] (2^39 ms, about 17.4 years), so any setting works
//!   for at least 17.4 years of uptime and the default 60 s timeout for 34.8.
//!   Past the end, ticks saturate at [`MAX_TICK`]: a deadline saturates too and
//!   the breaker stays in its state instead of wrapping into nonsense.
//! * **Generation**: 20 bits, 1,048,576 generations, then it wraps to 0. A
//!   permit is only confused with a newer generation if it is held across an
//!   exact multiple of 2^20 generation changes. A state change needs at least
//!   one open timeout (1 ms minimum, 60 s by default) per two generations, and
//!   an interval reset at least one interval, so at the fastest settings that is
//!   a permit held for about 8.7 minutes while the breaker flaps every
//!   millisecond, and with the default timeout about a year. Striped counters
//!   are swept every [`SWEEP_PERIOD`] generations so a long-idle stripe is
//!   never mistaken for the current generation.
//! * **Half-open**: 20 bits of held probes and 20 of successes, so
//!   `max_requests` is at most [`MAX_REQUESTS`] (1,048,575).

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
const PENDING: u64 = 1 << PENDING_SHIFT;

/// Bits of each half-open sub-field (held probes, probe successes).
const PROBE_BITS: u32 = PAYLOAD_BITS / 2;
const PROBE_MASK: u64 = (1 << PROBE_BITS) - 1;

/// The last representable tick; time saturates here.
pub const MAX_TICK: u64 = PAYLOAD_MASK;
/// Longest timeout or interval, in ticks (milliseconds): 2^39 ms, about 17.4 years.
pub const MAX_DURATION_TICKS: u64 = 1 << (PAYLOAD_BITS - 1);
/// Largest `max_requests` the half-open payload can count.
pub const MAX_REQUESTS: u32 = PROBE_MASK as u32;
/// Striped counters are swept of stale generation tags whenever a new generation is a
/// multiple of this (see the bit budget above).
pub(crate) const SWEEP_PERIOD: u32 = 1 << 16;

/// The state field's encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tag {
    Closed = 0,
    HalfOpen = 1,
    Open = 2,
}

/// A copy of the state word with named accessors. Pure: no atomics.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(transparent)]
pub(crate) struct Snapshot(pub(crate) u64);

impl Snapshot {
    /// Closed in `generation`, counting interval expiring at `expiry` (0: never).
    pub(crate) const fn closed(generation: u32, expiry: u64) -> Self {
        Self::pack(Tag::Closed, generation, expiry)
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

    /// The state field. The reserved encoding 3 never occurs (no constructor makes it);
    /// it reads as open, the safe side.
    pub(crate) const fn tag(self) -> Tag {
        match self.0 >> STATE_SHIFT {
            0 => Tag::Closed,
            1 => Tag::HalfOpen,
            _ => Tag::Open,
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
        self.0 & ((3 << STATE_SHIFT) | REQ | PAYLOAD_MASK) == 0
    }

    /// The word without its `PENDING` flag.
    #[inline]
    pub(crate) const fn without_pending(self) -> u64 {
        self.0 & !PENDING
    }

    pub(crate) const fn with_open_requested(self) -> Self {
        Self(self.0 | REQ)
    }

    /// Same word with the half-open counters replaced; flags are kept.
    pub(crate) const fn with_probes(self, held: u32, successes: u32) -> Self {
        let flags = self.0 & (PENDING | REQ);
        Self(Self::half_open(self.generation(), held, successes).0 | flags)
    }
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
            _ => d.field("tick", &self.payload()),
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
    fn fields_round_trip_at_their_extremes() {
        for generation in [0, 1, GEN_MASK as u32] {
            for tick in [0, 1, MAX_TICK] {
                let c = Snapshot::closed(generation, tick);
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
    fn generation_wraps_to_zero() {
        assert_eq!(next_generation(GEN_MASK as u32), 0);
        assert_eq!(next_generation(7), 8);
        // A generation larger than the field is truncated, never spills into the flags.
        let s = Snapshot::closed(u32::MAX, 0);
        assert!(!s.is_pending() && !s.is_open_requested());
        assert_eq!(s.tag(), Tag::Closed);
    }

    // Checked at compile time: ten years of uptime plus the longest setting fit,
    // and max_requests uses the whole half-open field.
    const _: () = {
        assert!(MAX_DURATION_TICKS < MAX_TICK);
        assert!(10 * 365 * 24 * 3600 * 1000 <= MAX_TICK - MAX_DURATION_TICKS);
        assert!(MAX_REQUESTS == (1 << 20) - 1);
    };
}
