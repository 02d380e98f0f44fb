//! Permits: the two-step API's admission tickets, borrowed ([`Permit`]) and
//! owned ([`OwnedPermit`]).
//!
//! A permit remembers the generation that admitted it and is consumed by
//! reporting the outcome. Dropped without one (a cancelled future, an early
//! return) it gives its half-open slot back; dropped while its thread panics it
//! records a failure.

use std::fmt;
use std::mem::ManuallyDrop;
use std::sync::Arc;

use crate::state::{GEN_BITS, PAYLOAD_BITS, Snapshot, Tag, lap_of};
use crate::{CircuitBreaker, Outcome, Rejected, State};

/// What a permit needs to report back: the state word it was admitted under,
/// reduced to state, generation and the generation's lap (the full generation's
/// bits above the word's 20, in the payload), and, for a call the slow-call rule
/// times, its admission time. A permit is current only in its full generation, so
/// one held across any number of transitions is never taken for a permit of a
/// later generation whose 20 bits are the same. A closed permit admitted on the
/// plain path is the plain-closed word itself, lap included: it equals the live
/// word, minus `PENDING`, for as long as the breaker stays in that generation
/// without an interval, so recording a success checks the permit with one
/// comparison. (Admitted while `PENDING` was set, it keeps the flag, never equals
/// a word less `PENDING`, and is checked by full generation on the general path.)
///
/// The second word is the ticket's counter tag (its state and generation), which
/// the closed success counts under without masking the ticket down to it: the
/// admission computed the tag already, to count the request. With
/// [`SlowCalls`](crate::SlowCalls), a closed ticket carries its admission time
/// there instead (whole microseconds of the breaker's clock, modulo 2^40: 12.7
/// days), so a timed permit keeps its full generation in the first word and is
/// told apart by it as an untimed one is. A timed ticket's first word carries the
/// `PENDING` bit as a marker ([`MARKER`]), so it never equals a word less
/// `PENDING`: the closed success's one comparison never takes its start time for
/// a tag. The two words travel in registers: a permit is three words, and the
/// out-of-line admission paths return an [`Admission`] of two, which comes back
/// in two registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ticket {
    bits: u64,
    /// The counter tag, or [`MARKER`] and the admission time in microseconds
    /// modulo 2^40.
    aux: u64,
}

const PAYLOAD_MASK: u64 = (1 << PAYLOAD_BITS) - 1;
/// Set in the first word of a half-open or a timed ticket: the state word's
/// `PENDING` bit, which a word less `PENDING` (what tickets are compared with)
/// never has. (A plain ticket admitted while `PENDING` was set keeps the bit too:
/// see [`Ticket::plain`].) Set in the second word of a timed ticket too, where no
/// counter tag has it: it tells a call timed at tick 0 from a call admitted
/// untimed (before a reconfiguration added [`SlowCalls`](crate::SlowCalls)), and
/// a timed ticket's first word from a half-open one's.
const MARKER: u64 = 1 << (PAYLOAD_BITS + GEN_BITS + 1);

impl Ticket {
    /// An untimed ticket of first word `bits`, whose tag is its state and generation.
    #[inline]
    const fn untimed(bits: u64) -> Self {
        Self {
            bits,
            aux: Snapshot(bits).state_and_generation(),
        }
    }
    /// A closed ticket of the full generation `full`.
    #[cfg(test)]
    pub(crate) const fn closed(full: u64) -> Self {
        Self::closed_in(crate::state::low_bits(full), lap_of(full))
    }
    /// The ticket of plain-closed word `s`: the word itself (it holds its lap). A
    /// word with `PENDING` (callbacks of the transition into it still ran) keeps it:
    /// the closed success's one comparison, with a word less `PENDING`, then fails
    /// and the general path checks the ticket by its full generation instead. That
    /// saves the admission a mask (callgrind, the benches' `closed_success`).
    #[inline]
    pub(crate) const fn plain(s: Snapshot) -> Self {
        Self::untimed(s.0)
    }
    /// A closed ticket of `generation` in lap `lap` (see [`lap_of`]).
    #[inline]
    pub(crate) const fn closed_in(generation: u32, lap: u64) -> Self {
        Self::untimed(crate::counters::tag_of(generation) | lap)
    }
    /// A half-open ticket of `generation` in lap `lap` (see [`Self::half_open`]).
    #[inline]
    pub(crate) const fn half_open_in(generation: u32, lap: u64) -> Self {
        Self::untimed(Snapshot::half_open(generation, 0, 0).0 | MARKER | lap)
    }
    /// A half-open ticket of the full generation `full`. It carries [`MARKER`], so
    /// it never equals a word less `PENDING`: its lap sits where a half-open word
    /// counts its probes, and the closed success's one comparison must never take it
    /// for a closed ticket.
    #[inline]
    pub(crate) const fn half_open(full: u64) -> Self {
        Self::half_open_in(crate::state::low_bits(full), lap_of(full))
    }
    /// This closed ticket, for a call admitted at `start_micros` (kept modulo 2^40).
    #[inline]
    pub(crate) const fn started_at(self, start_micros: u64) -> Self {
        Self {
            bits: self.bits | MARKER,
            aux: MARKER | (start_micros & PAYLOAD_MASK),
        }
    }
    /// The admission time given to [`started_at`](Self::started_at), modulo 2^40
    /// microseconds (`None` if none was).
    #[inline]
    pub(crate) const fn start_micros(self) -> Option<u64> {
        if self.aux & MARKER == 0 {
            None
        } else {
            Some(self.aux & PAYLOAD_MASK)
        }
    }
    /// Whether this closed ticket was admitted in the generation of `s`, a
    /// plain-closed word (`false` for any other word): the word less `PENDING` is
    /// the ticket, less its marker if it is a timed one (a half-open ticket keeps
    /// its marker and never matches: its lap sits where a half-open word counts its
    /// probes).
    #[inline]
    pub(crate) const fn is_current_plain(self, s: Snapshot) -> bool {
        s.without_pending() == self.bits ^ (self.aux & MARKER)
    }
    /// The ticket's first word: state, generation, lap and markers.
    #[inline]
    pub(crate) const fn bits(self) -> u64 {
        self.bits
    }
    /// The counter tag of a ticket whose first word equals a word less `PENDING`
    /// (so it carries no marker and is untimed): its second word as it is.
    #[inline]
    pub(crate) const fn plain_tag(self) -> u64 {
        debug_assert!(self.aux & MARKER == 0);
        self.aux
    }
    /// State and generation: a closed ticket's counter tag.
    #[inline]
    pub(crate) const fn word(self) -> u64 {
        Snapshot(self.bits).state_and_generation()
    }
    /// The counter key of the full generation that admitted the call (see
    /// `counters::key_of`): the first word's generation and lap, less state and
    /// markers.
    #[inline]
    pub(crate) const fn key(self) -> u64 {
        self.bits & crate::counters::KEY_MASK
    }
    #[inline]
    pub(crate) const fn generation(self) -> u32 {
        Snapshot(self.bits).generation()
    }
    /// The lap of the full generation that admitted the call (its bits above the
    /// 20 of [`generation`](Self::generation)).
    #[inline]
    pub(crate) const fn lap(self) -> u64 {
        self.bits & PAYLOAD_MASK
    }
    /// The full generation that admitted the call.
    pub(crate) const fn full_generation(self) -> u64 {
        (self.lap() << GEN_BITS) | self.generation() as u64
    }
    #[inline]
    pub(crate) const fn is_half_open(self) -> bool {
        matches!(Snapshot(self.bits).tag(), Tag::HalfOpen)
    }
    pub(crate) const fn state(self) -> State {
        if self.is_half_open() {
            State::HalfOpen
        } else {
            State::Closed
        }
    }
}

/// An admission's result in two words: what the out-of-line admission paths
/// return. A `Result<Ticket, Rejected>` has a discriminant beside the ticket's
/// two words, and a function that is not inlined returns it through memory;
/// `admit` then merged the inlined closed path's ticket into the same stack slot,
/// two stores and two loads more on every closed call. Two words come back in two
/// registers. They are one `u128`, not a pair: a function returning a pair of
/// words that another function returned made a call and a stack frame of what
/// was a jump (callgrind, the benches' `half_open_saturated`: `admit_counted` 6
/// -> 10 instructions a call).
///
/// A ticket's state is closed or half-open (tags 0 and 1), so its top bit is
/// clear; a refusal is that bit, plus 1 for `TooManyRequests` and 2 for
/// `Throttled`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Admission(u128);

const REFUSED: u64 = 1 << 63;

impl Admission {
    #[inline]
    pub(crate) const fn new(result: Result<Ticket, Rejected>) -> Self {
        match result {
            Ok(ticket) => {
                debug_assert!(ticket.bits & REFUSED == 0);
                Self(ticket.bits as u128 | (ticket.aux as u128) << 64)
            }
            Err(Rejected::Open) => Self(REFUSED as u128),
            Err(Rejected::TooManyRequests) => Self((REFUSED | 1) as u128),
            Err(Rejected::Throttled) => Self((REFUSED | 2) as u128),
        }
    }

    #[inline]
    pub(crate) const fn get(self) -> Result<Ticket, Rejected> {
        let bits = self.0 as u64;
        if bits & REFUSED == 0 {
            Ok(Ticket {
                bits,
                aux: (self.0 >> 64) as u64,
            })
        } else {
            match bits & 3 {
                0 => Err(Rejected::Open),
                1 => Err(Rejected::TooManyRequests),
                _ => Err(Rejected::Throttled),
            }
        }
    }
}

/// The outcome a permit records when dropped unreported.
fn drop_outcome() -> Option<Outcome> {
    if std::thread::panicking() {
        Some(Outcome::Failure)
    } else {
        None
    }
}

/// Admission to one call, borrowed from its breaker.
///
/// Report the outcome with [`success`](Self::success),
/// [`failure`](Self::failure) or [`ignore`](Self::ignore). Dropping it
/// unreported releases a half-open slot (a cancelled call); dropping it while
/// the thread panics records a failure.
///
/// A half-open permit that is never reported nor dropped (`std::mem::forget`,
/// a leaked `Box`) holds its probe slot until the generation ends: with
/// [`Builder::half_open_max_wait`](crate::Builder::half_open_max_wait) the
/// half-open state re-opens once the max wait passed, without one the slot is
/// held until a command ([`reset`](crate::CircuitBreaker::reset) and friends) or
/// another probe's failure ends the generation (gobreaker's `done` never called).
/// A forgotten closed permit costs nothing but its outcome.
///
/// ```
/// let cb = warden_breaker::CircuitBreaker::builder("db").build()?;
/// match cb.try_acquire() {
///     Ok(permit) => permit.failure(),
///     Err(rejected) => eprintln!("not sent: {rejected}"),
/// }
/// assert_eq!(cb.counts().total_failures, 1);
/// # Ok::<(), warden_breaker::ConfigError>(())
/// ```
#[must_use = "a permit records a failure or releases its slot when dropped; report the outcome"]
#[clippy::has_significant_drop]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    ticket: Ticket,
}

impl<'a> Permit<'a> {
    #[inline]
    pub(crate) fn new(breaker: &'a CircuitBreaker, ticket: Ticket) -> Self {
        Self { breaker, ticket }
    }

    /// Records `outcome` for the admitted call.
    ///
    /// ```
    /// use warden_breaker::Outcome;
    /// let cb = warden_breaker::CircuitBreaker::builder("db").build()?;
    /// cb.try_acquire()?.record(Outcome::Ignored);
    /// assert_eq!(cb.counts().total_exclusions, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn record(self, outcome: Outcome) {
        let this = ManuallyDrop::new(self);
        this.breaker.record(this.ticket, Some(outcome));
    }

    /// Records a success.
    ///
    /// ```
    /// let cb = warden_breaker::CircuitBreaker::builder("db").build()?;
    /// cb.try_acquire()?.success();
    /// assert_eq!(cb.counts().total_successes, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn success(self) {
        self.record(Outcome::Success)
    }

    /// Records a failure.
    ///
    /// ```
    /// let cb = warden_breaker::CircuitBreaker::builder("db").build()?;
    /// cb.try_acquire()?.failure();
    /// assert_eq!(cb.counts().consecutive_failures, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn failure(self) {
        self.record(Outcome::Failure)
    }

    /// Records an outcome that is neither success nor failure; in half-open the
    /// probe slot is freed.
    ///
    /// ```
    /// let cb = warden_breaker::CircuitBreaker::builder("db").build()?;
    /// cb.try_acquire()?.ignore();
    /// assert_eq!(cb.counts().total_exclusions, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn ignore(self) {
        self.record(Outcome::Ignored)
    }

    /// The state the call was admitted in (closed, or half-open for a probe).
    ///
    /// ```
    /// let cb = warden_breaker::CircuitBreaker::builder("db").build()?;
    /// let p = cb.try_acquire()?;
    /// assert_eq!(p.admitted_in(), warden_breaker::State::Closed);
    /// p.success();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn admitted_in(&self) -> State {
        self.ticket.state()
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.breaker.record(self.ticket, drop_outcome());
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.breaker.name())
            .field("generation", &self.ticket.generation())
            .field("admitted_in", &self.ticket.state())
            .finish()
    }
}

/// Admission to one call that owns an `Arc` of its breaker, so it is `'static`
/// and can cross `.await` points and threads. Same rules as [`Permit`],
/// including `std::mem::forget`: a forgotten half-open permit holds its probe
/// slot until [`Builder::half_open_max_wait`](crate::Builder::half_open_max_wait)
/// re-opens the breaker (or, without one, until a command or a failed probe ends
/// the generation), and keeps its breaker alive (the `Arc` leaks with it).
///
/// ```
/// use std::sync::Arc;
/// let cb = Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?);
/// let permit = cb.try_acquire_owned()?;
/// let handle = std::thread::spawn(move || permit.success());
/// handle.join().unwrap();
/// assert_eq!(cb.counts().total_successes, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a permit records a failure or releases its slot when dropped; report the outcome"]
#[clippy::has_significant_drop]
pub struct OwnedPermit {
    breaker: Arc<CircuitBreaker>,
    /// Empty once reported, so `Drop` does nothing more.
    ticket: HeldTicket,
}

impl OwnedPermit {
    #[inline]
    pub(crate) fn new(breaker: Arc<CircuitBreaker>, ticket: Ticket) -> Self {
        Self {
            breaker,
            ticket: HeldTicket(ticket),
        }
    }

    /// Records `outcome` for the admitted call.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let cb = Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?);
    /// cb.try_acquire_owned()?.record(warden_breaker::Outcome::Failure);
    /// assert_eq!(cb.counts().total_failures, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn record(mut self, outcome: Outcome) {
        if let Some(ticket) = self.ticket.take() {
            self.breaker.record(ticket, Some(outcome));
        }
    }

    /// Records a success.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let cb = Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?);
    /// cb.try_acquire_owned()?.success();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn success(self) {
        self.record(Outcome::Success)
    }

    /// Records a failure.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let cb = Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?);
    /// cb.try_acquire_owned()?.failure();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn failure(self) {
        self.record(Outcome::Failure)
    }

    /// Records an outcome that is neither success nor failure.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let cb = Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?);
    /// cb.try_acquire_owned()?.ignore();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn ignore(self) {
        self.record(Outcome::Ignored)
    }

    /// The state the call was admitted in.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let cb = Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?);
    /// let p = cb.try_acquire_owned()?;
    /// assert_eq!(p.admitted_in(), warden_breaker::State::Closed);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn admitted_in(&self) -> State {
        self.ticket.get().map_or(State::Closed, Ticket::state)
    }

    /// The breaker this permit belongs to.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let cb = Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?);
    /// let p = cb.try_acquire_owned()?;
    /// assert_eq!(p.breaker().name(), "db");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn breaker(&self) -> &Arc<CircuitBreaker> {
        &self.breaker
    }
}

impl Drop for OwnedPermit {
    /// Inline, with the unreported case out of line: after [`record`](Self::record)
    /// the compiler sees the ticket gone, and the drop is only the `Arc`'s
    /// (out of line, it was a call per reported permit).
    #[inline]
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            dropped_unreported(&self.breaker, ticket);
        }
    }
}

/// An [`OwnedPermit`]'s ticket, or none once reported: an `Option<Ticket>` with
/// the refusal bit for `None` (no ticket has it, see [`Admission`]), so an owned
/// permit stays at its `Arc` and the ticket's two words (an `Option` of two words
/// with no spare value in them takes a third).
#[derive(Clone, Copy, Debug)]
struct HeldTicket(Ticket);

impl HeldTicket {
    const TAKEN: Ticket = Ticket {
        bits: REFUSED,
        aux: 0,
    };

    #[inline]
    fn get(self) -> Option<Ticket> {
        if self.0.bits & REFUSED == 0 {
            Some(self.0)
        } else {
            None
        }
    }

    #[inline]
    fn take(&mut self) -> Option<Ticket> {
        HeldTicket(std::mem::replace(&mut self.0, Self::TAKEN)).get()
    }
}

/// An [`OwnedPermit`] dropped without an outcome: what [`drop_outcome`] says.
#[inline(never)]
fn dropped_unreported(breaker: &CircuitBreaker, ticket: Ticket) {
    breaker.record(ticket, drop_outcome());
}

impl fmt::Debug for OwnedPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPermit")
            .field("breaker", &self.breaker.name())
            .field("ticket", &self.ticket.get())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::{Admission, Ticket};
    use crate::Rejected;
    use crate::state::{FULL_GENERATION_MASK, Snapshot};

    const GEN_MASK: u64 = crate::state::GEN_MASK;

    #[test]
    fn admission_words_round_trip() {
        let top = crate::state::FULL_GENERATION_MASK;
        let results = [
            Ok(Ticket::closed(0)),
            Ok(Ticket::closed(top)),
            Ok(Ticket::closed(GEN_MASK)),
            Ok(Ticket::closed(top).started_at(u64::MAX)),
            Ok(Ticket::closed(0).started_at(0)),
            Ok(Ticket::half_open(0)),
            Ok(Ticket::half_open(top)),
            Err(Rejected::Open),
            Err(Rejected::TooManyRequests),
            Err(Rejected::Throttled),
        ];
        for r in results {
            assert_eq!(Admission::new(r).get(), r, "{r:?}");
        }
    }

    #[test]
    fn untimed_tickets_carry_their_full_generation() {
        for full in [
            0,
            1,
            GEN_MASK,
            GEN_MASK + 1,
            3 << 20 | 5,
            FULL_GENERATION_MASK,
        ] {
            let closed = Ticket::closed(full);
            assert_eq!(closed.full_generation(), full);
            assert_eq!(closed.generation() as u64, full & GEN_MASK);
            assert_eq!(closed.state(), crate::State::Closed);
            let half_open = Ticket::half_open(full);
            assert_eq!(half_open.full_generation(), full);
            assert!(half_open.is_half_open());
            // The counter tag is the same for every lap.
            assert_eq!(closed.word(), Ticket::closed(full & GEN_MASK).word());
            // A timed ticket keeps its full generation beside its start time.
            let timed = closed.started_at(123);
            assert_eq!(
                (timed.full_generation(), timed.start_micros()),
                (full, Some(123))
            );
            assert_eq!(timed.word(), closed.word());
            assert_eq!(closed.start_micros(), None);
        }
        // Tickets of the same 20 bits a lap apart are different tickets.
        assert_ne!(Ticket::closed(7), Ticket::closed(7 + (1 << 20)));
    }

    #[test]
    fn a_ticket_matches_only_the_plain_word_of_its_full_generation() {
        let full = (1 << 20) | 9;
        let word = Snapshot::closed(full, 0).with_pending(true);
        assert!(Ticket::closed(full).is_current_plain(word));
        assert!(!Ticket::closed(full + (1 << 20)).is_current_plain(word));
        assert!(!Ticket::closed(full + 1).is_current_plain(word));
        // A timed ticket is compared by its full generation too.
        assert!(Ticket::closed(full).started_at(1).is_current_plain(word));
        assert!(
            !Ticket::closed(full + (1 << 20))
                .started_at(1)
                .is_current_plain(word)
        );
        // A half-open ticket keeps its marker: its lap (here 1) sits where a
        // half-open word of its generation counts one held probe.
        let probing = Snapshot::half_open(9, 1, 0);
        assert!(!Ticket::half_open(full).is_current_plain(probing));
        assert!(!Ticket::half_open(full).is_current_plain(probing.with_pending(true)));
        // A plain ticket admitted while `PENDING` was set keeps the flag and is
        // checked on the general path.
        assert!(!Ticket::plain(word).is_current_plain(word));
        // A closed word with an interval is never plain.
        let interval = Snapshot::closed(full, 77);
        assert!(!Ticket::closed(full).is_current_plain(interval));
        assert!(
            !Ticket::closed(full)
                .started_at(1)
                .is_current_plain(interval)
        );
    }
}
