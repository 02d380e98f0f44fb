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
/// bits above the word's 20, in the payload). A permit is current only in its full
/// generation, so one held across any number of transitions is never taken for a
/// permit of a later generation whose 20 bits are the same. A closed permit admitted
/// on the plain path is the plain-closed word itself, lap included: it equals the
/// live word, minus `PENDING`, for as long as the breaker stays in that generation
/// without an interval, so recording a success checks the permit with one
/// comparison. (Admitted while `PENDING` was set, it keeps the flag, never equals
/// a word less `PENDING`, and is checked by full generation on the general path.)
///
/// With [`SlowCalls`](crate::SlowCalls), a closed ticket instead carries its
/// admission time in the payload bits (whole microseconds of the breaker's
/// clock, modulo 2^40: 12.7 days), which [`word`](Self::word) masks off. Such a
/// ticket has no room for the lap: it is compared by its 20-bit generation (see
/// the bit budget in `state.rs`). One
/// word keeps a permit at two words, returned in registers: a second field for
/// the time made it three, returned through memory, and cost the default path
/// 9 ns a call (a 16-byte load of two 8-byte stores defeats store forwarding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ticket(u64);

const PAYLOAD_MASK: u64 = (1 << PAYLOAD_BITS) - 1;
/// Set in a ticket that carries a start time. The state word's `REQ` bit, which
/// no ticket otherwise has (a ticket is a word of an admitting state, and a word
/// with `REQ` is logically open): it tells a call timed at tick 0 from a call
/// admitted untimed, before a reconfiguration added [`SlowCalls`](crate::SlowCalls).
const TIMED: u64 = 1 << (PAYLOAD_BITS + GEN_BITS);
/// Set in a half-open ticket: the state word's `PENDING` bit, which a word less
/// `PENDING` (what tickets are compared with) never has.
const HALF_OPEN: u64 = TIMED << 1;

impl Ticket {
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
        Self(s.0)
    }
    /// A closed ticket of `generation` in lap `lap` (see [`lap_of`]).
    #[inline]
    pub(crate) const fn closed_in(generation: u32, lap: u64) -> Self {
        Self(crate::counters::tag_of(generation) | lap)
    }
    /// A half-open ticket of `generation` in lap `lap` (see [`Self::half_open`]).
    #[inline]
    pub(crate) const fn half_open_in(generation: u32, lap: u64) -> Self {
        Self(Snapshot::half_open(generation, 0, 0).0 | HALF_OPEN | lap)
    }
    /// A half-open ticket of the full generation `full`. It carries [`HALF_OPEN`], so
    /// it never equals a word less `PENDING`: its lap sits where a half-open word
    /// counts its probes, and the closed success's one comparison must never take it
    /// for a closed ticket.
    #[inline]
    pub(crate) const fn half_open(full: u64) -> Self {
        Self::half_open_in(crate::state::low_bits(full), lap_of(full))
    }
    /// This ticket, for a call admitted at `start_micros` (kept modulo 2^40).
    #[inline]
    pub(crate) const fn started_at(self, start_micros: u64) -> Self {
        Self((self.0 & !PAYLOAD_MASK) | TIMED | (start_micros & PAYLOAD_MASK))
    }
    /// The admission time given to [`started_at`](Self::started_at), modulo 2^40
    /// microseconds (`None` if none was).
    #[inline]
    pub(crate) const fn start_micros(self) -> Option<u64> {
        if self.0 & TIMED == 0 {
            None
        } else {
            Some(self.0 & PAYLOAD_MASK)
        }
    }
    /// Whether this closed ticket was admitted in the generation of `s`, a plain-closed
    /// word (`false` for any other word): the word less `PENDING` is the ticket, or,
    /// for a ticket that holds a start time where the lap would be, its state and
    /// generation are.
    #[inline]
    pub(crate) const fn is_current_plain(self, s: Snapshot) -> bool {
        if self.0 & TIMED == 0 {
            s.without_pending() == self.0
        } else {
            s.without_pending_and_lap() == self.word()
        }
    }
    /// The whole ticket: [`word`](Self::word) plus any start time.
    #[inline]
    pub(crate) const fn bits(self) -> u64 {
        self.0
    }
    /// State and generation: a closed ticket's counter tag.
    #[inline]
    pub(crate) const fn word(self) -> u64 {
        Snapshot(self.0).state_and_generation()
    }
    #[inline]
    pub(crate) const fn generation(self) -> u32 {
        Snapshot(self.0).generation()
    }
    /// The lap of the full generation that admitted the call (its bits above the
    /// 20 of [`generation`](Self::generation)); `None` for a ticket that carries a
    /// start time instead.
    #[inline]
    pub(crate) const fn lap(self) -> Option<u64> {
        if self.0 & TIMED != 0 {
            None
        } else {
            Some(self.0 & PAYLOAD_MASK)
        }
    }
    /// The full generation that admitted the call; `None` for a ticket that carries
    /// a start time instead of its lap.
    #[cfg(test)]
    pub(crate) const fn full_generation(self) -> Option<u64> {
        if self.0 & TIMED != 0 {
            None
        } else {
            Some(((self.0 & PAYLOAD_MASK) << GEN_BITS) | self.generation() as u64)
        }
    }
    #[inline]
    pub(crate) const fn is_half_open(self) -> bool {
        matches!(Snapshot(self.0).tag(), Tag::HalfOpen)
    }
    pub(crate) const fn state(self) -> State {
        if self.is_half_open() {
            State::HalfOpen
        } else {
            State::Closed
        }
    }
}

/// An admission's result in one word: what the out-of-line admission paths
/// return. A `Result<Ticket, Rejected>` has three fields, and a function that is
/// not inlined returns it through memory; `admit` then merged the inlined closed
/// path's ticket into the same stack slot, two stores and two loads more on every
/// closed call. A word comes back in a register on every target.
///
/// A ticket's state is closed or half-open (tags 0 and 1), so its top bit is
/// clear; a refusal is that bit, plus 1 for `TooManyRequests` and 2 for
/// `Throttled`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Admission(u64);

const REFUSED: u64 = 1 << 63;

impl Admission {
    #[inline]
    pub(crate) const fn new(result: Result<Ticket, Rejected>) -> Self {
        match result {
            Ok(ticket) => {
                debug_assert!(ticket.0 & REFUSED == 0);
                Self(ticket.0)
            }
            Err(Rejected::Open) => Self(REFUSED),
            Err(Rejected::TooManyRequests) => Self(REFUSED | 1),
            Err(Rejected::Throttled) => Self(REFUSED | 2),
        }
    }

    #[inline]
    pub(crate) const fn get(self) -> Result<Ticket, Rejected> {
        if self.0 & REFUSED == 0 {
            Ok(Ticket(self.0))
        } else {
            match self.0 & 3 {
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
    /// `None` once reported, so `Drop` does nothing more.
    ticket: Option<Ticket>,
}

impl OwnedPermit {
    #[inline]
    pub(crate) fn new(breaker: Arc<CircuitBreaker>, ticket: Ticket) -> Self {
        Self {
            breaker,
            ticket: Some(ticket),
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
        self.ticket.map_or(State::Closed, Ticket::state)
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

/// An [`OwnedPermit`] dropped without an outcome: what [`drop_outcome`] says.
#[inline(never)]
fn dropped_unreported(breaker: &CircuitBreaker, ticket: Ticket) {
    breaker.record(ticket, drop_outcome());
}

impl fmt::Debug for OwnedPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPermit")
            .field("breaker", &self.breaker.name())
            .field("ticket", &self.ticket)
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
            assert_eq!(closed.full_generation(), Some(full));
            assert_eq!(closed.generation() as u64, full & GEN_MASK);
            assert_eq!(closed.state(), crate::State::Closed);
            let half_open = Ticket::half_open(full);
            assert_eq!(half_open.full_generation(), Some(full));
            assert!(half_open.is_half_open());
            // The counter tag is the same for every lap.
            assert_eq!(closed.word(), Ticket::closed(full & GEN_MASK).word());
            // A timed ticket holds its start time where the lap was.
            let timed = closed.started_at(123);
            assert_eq!(
                (timed.full_generation(), timed.start_micros()),
                (None, Some(123))
            );
            assert_eq!(timed.word(), closed.word());
        }
        // Tickets of the same 20 bits a lap apart are different tickets.
        assert_ne!(Ticket::closed(7), Ticket::closed(7 + (1 << 20)));
    }

    #[test]
    fn a_ticket_matches_only_the_plain_word_of_its_full_generation() {
        let full = (5 << 20) | 9;
        let word = Snapshot::closed(full, 0).with_pending(true);
        assert!(Ticket::closed(full).is_current_plain(word));
        assert!(!Ticket::closed(full + (1 << 20)).is_current_plain(word));
        assert!(!Ticket::closed(full + 1).is_current_plain(word));
        // A timed ticket is compared by its 20 bits: it has no lap.
        assert!(
            Ticket::closed(full + (1 << 20))
                .started_at(1)
                .is_current_plain(word)
        );
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
