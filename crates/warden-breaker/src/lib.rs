//! A lock-free circuit breaker for hot paths.
//!
//! `warden-breaker` guards calls to a dependency (Kafka, ClickHouse, an HTTP
//! or gRPC peer) and stops calling it while it is failing. It has the
//! semantics of Go's `sony/gobreaker` (settings and their zero values,
//! [`Counts`], generations, lazy transitions, `max_requests` as both the
//! half-open probe cap and the close threshold, panics counted as failures),
//! with the breaker's state, generation and deadline packed into one atomic
//! word that only compare-and-swap moves.
//!
//! # Why
//!
//! A guarded call on the closed success path costs an atomic load, a plain
//! load and store on a counter line only the calling thread writes (found with
//! one more load), and one more load: no lock, no allocation, no clock read, no shared-line
//! read-modify-write. Mutex-based breakers serialise every call of every core
//! on one lock.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use warden_breaker::{CircuitBreaker, Error, State};
//!
//! let cb = CircuitBreaker::builder("clickhouse")
//!     .timeout(Duration::from_secs(30))
//!     .on_state_change(|name, from, to| eprintln!("{name}: {from} -> {to}"))
//!     .build()?;
//!
//! match cb.call(|| query()) {
//!     Ok(rows) => assert_eq!(rows, 3),
//!     Err(Error::Rejected(_)) => { /* shed load, serve a fallback */ }
//!     Err(Error::Inner(e)) => eprintln!("query failed: {e}"),
//! }
//! assert_eq!(cb.state(), State::Closed);
//! # fn query() -> Result<u32, std::io::Error> { Ok(3) }
//! # Ok::<(), warden_breaker::ConfigError>(())
//! ```
//!
//! Two-step use, for work that does not fit in a closure (async code holds an
//! [`OwnedPermit`] across `.await`):
//!
//! ```
//! let cb = warden_breaker::CircuitBreaker::builder("grpc").build()?;
//! if let Ok(permit) = cb.try_acquire() {
//!     // ... send the request ...
//!     permit.success();
//! }
//! # Ok::<(), warden_breaker::ConfigError>(())
//! ```
//!
//! # Memory and threads
//!
//! A breaker allocates its per-thread counters lazily: building one allocates
//! only its settings, and each thread's first call allocates that thread's
//! 64-byte counter cell. The settings are one shared value (they sit behind the
//! pointer that [`CircuitBreaker::reconfigure`] swaps): breakers whose settings
//! are equal and carry nothing of their own (no closure, observer, open backoff,
//! window or slow-call rule; the default configuration is one) share a single
//! allocation, while a breaker with a window or hooks pays for its own. A
//! breaker on shared settings that one thread has called costs about 380
//! bytes in all (`tests/memory.rs`; 100,000 of them fit in ~38 MB); one called by `n` threads adds
//! `n` cells and, past the first four threads, a small directory (8 bytes per
//! thread slot). Thread slots are process-wide, dense and recycled when a thread
//! exits, so counter memory follows the threads that call a breaker, never the
//! number of threads in the process. Up to 2^16 threads at once each write a
//! cell of their own with a plain load and store (no cliff at 64 or 256
//! threads); beyond that they share one compare-and-swap cell. Details and the
//! alternatives considered (`LongAdder`, per-object thread-locals, per-CPU
//! counters) are in the `counters` module's source docs.
//!
//! # Semantics beyond gobreaker
//!
//! * Time has 1 ms resolution: an open breaker turns half-open at the first
//!   millisecond tick after `opened + timeout`. Durations that are not whole
//!   milliseconds are rejected rather than rounded.
//! * A permit dropped without an outcome gives its half-open slot back, so a
//!   cancelled probe cannot wedge the breaker; dropped during a panic it counts
//!   as a failure. A permit never dropped (`std::mem::forget`) holds its
//!   half-open slot until [`Builder::half_open_max_wait`] re-opens the breaker
//!   (without a max wait, until a command or a failed probe), like gobreaker's
//!   `done` never called.
//! * A panicking callback or observer never aborts the process and never keeps
//!   another hook, a later transition, a count or a half-open slot from
//!   happening: each hook runs under its own `catch_unwind`, and the first panic
//!   reaches the caller once the breaker's bookkeeping is done (unless the caller
//!   is already unwinding, when its own panic carries on). A panicking
//!   `ready_to_trip` rule never aborts the process either (see
//!   [`Builder::ready_to_trip`]).
//! * A clock that steps back is treated as standing still until it catches up:
//!   no call reads as slow, no deadline as passed, no time-window bucket as
//!   entered because time ran backwards.
//! * State-change callbacks run outside any lock, exactly once per transition
//!   and in transition order; they may call back into the breaker (gobreaker
//!   deadlocks, issue #37).
//! * Invalid settings are errors ([`ConfigError`]), never silently normalised,
//!   except the documented zero values.
//! * In closed state `requests` counts admissions like gobreaker; totals are
//!   exact whenever no call is in flight.
//! * Open-duration backoff ([`OpenBackoff`] on
//!   [`Builder::open_backoff`]): each consecutive failed probe multiplies the
//!   open duration, up to a cap, with optional seeded jitter; closing (or any
//!   command) starts over. It costs nothing per call: the re-trip count lives in
//!   a generation-tagged side word read and written only when a probe fails.
//! * Built-in trip rules instead of `ready_to_trip` (which stays for custom
//!   logic): the failure rate over the last N calls ([`CountWindow`] on
//!   [`Builder::count_window`]) or over the last span of time in buckets
//!   ([`TimeWindow`] on [`Builder::time_window`]), each with a minimum number of
//!   calls, and the share of slow calls ([`SlowCalls`] on
//!   [`Builder::slow_calls`]) over the same window. All lock-free and exact for
//!   outcomes that do not overlap. Successes stay on the calling thread's own
//!   counters under every rule: the count window costs nothing on a success (a
//!   failure records its position in a ring), the time window one clock read and
//!   one read-mostly load (a bucket's first outcome snapshots the counts into a
//!   seqlock slot), slow calls a time read at admission and one at the outcome.
//!   On the default clock, rules of 50 ms or more (buckets, threshold) read the
//!   ticker's time, one load (see "Time" below). Costs in `BENCHMARKS.md`.
//! * Half-open max wait ([`Builder::half_open_max_wait`]): a half-open
//!   generation that lasts longer than the bound (probes that hang or leak)
//!   re-opens on the next look, as if a probe had failed. Its deadline lives in a
//!   generation-tagged side word, so the half-open payload keeps its 20 + 20 bits;
//!   only breakers with a max wait look at the time on half-open admissions (on
//!   the default clock, the ticker's while it runs: one load).
//! * Manual control: [`force_open`](CircuitBreaker::force_open) (optionally for a
//!   duration, [`force_open_for`](CircuitBreaker::force_open_for), then half-open
//!   probes decide), [`force_closed`](CircuitBreaker::force_closed),
//!   [`disable`](CircuitBreaker::disable) (admit and count, never trip) and
//!   [`reset`](CircuitBreaker::reset). Each is one compare-and-swap racing calls
//!   safely; [`mode`](CircuitBreaker::mode) reports the [`Mode`], while
//!   [`State`] keeps gobreaker's three states (forced open reads as open, forced
//!   closed and disabled as closed), so gauges and callbacks are unchanged.
//!
//! # Time
//!
//! Transitions are lazy, as in gobreaker: an open breaker turns half-open when
//! something looks at it after its timeout (a call, [`state`](CircuitBreaker::state)),
//! and [`state`](CircuitBreaker::state) reads the clock, so it reads half-open as
//! soon as the timeout has passed. The transition's callbacks run on the thread
//! that looked.
//!
//! A breaker shared in an `Arc` on the default clock can be moved on time instead,
//! as Resilience4j's automatic transition does:
//! [`schedule_transitions`](CircuitBreaker::schedule_transitions) lets the ticker
//! (below) turn it half-open at its timeout (or at the end of a
//! [`force_open_for`](CircuitBreaker::force_open_for)) and re-open it at its
//! half-open max wait, within a millisecond plus the thread's scheduling delay of
//! the deadline, with the callbacks and observers run on the `warden-ticker`
//! thread. The transition is the one a call performs (one compare-and-swap
//! decides who delivers it), so calls and commands racing it see each
//! transition once and in order, and the lazy check stays as the fallback. The
//! ticker holds only a weak reference; it costs a 56-byte allocation once per
//! breaker and one registration per open period, nothing on calls or rejections.
//!
//! On the default clock ([`QuantaClock`]) the paths that only need "about now"
//! load the time a `warden-ticker` thread publishes once a millisecond, instead
//! of reading the clock (9-10 ns on a VM): an open breaker's rejection (is the
//! deadline still ahead?), and the time a [`TimeWindow`] or [`SlowCalls`] rule of
//! 50 ms or more gives a call. That time lags the clock by at most one
//! millisecond plus the thread's scheduling delay, so an open breaker may reject
//! that much longer than its timeout, and a call is timed to within that much.
//! The thread runs only while a breaker on the default clock is open (until its
//! deadline, or until the ticker moved it), a scheduled breaker has a deadline
//! ahead, or settings with such a rule are alive (until the last clone is
//! dropped); then it stops by itself. While it runs it wakes once a millisecond
//! (about 1 % of one core). [`ManualClock`] and clocks of your own never start
//! it: every read is theirs, exact and deterministic.
//!
//! # Bit budget
//!
//! The state word is `state:2 | PENDING:1 | REQ:1 | generation:20 | payload:40`
//! (state 3 is a manual mode, whose payload holds the mode and a 38-bit
//! forced-open deadline: [`MAX_FORCED_DEADLINE`], about 8.7 years of uptime).
//! Ticks are milliseconds since the breaker was built: 40 bits last 34.8 years;
//! timeouts and intervals are capped at 2^39 ms ([`MAX_DURATION_TICKS`]) so
//! every timeout works for at least 17.4 years of uptime; past [`MAX_TICK`]
//! time saturates. A closed word keeps its interval's end in 39 bits: an
//! interval that would end 2^39 ms (17.4 years) or more after the breaker was
//! built never ends. The word holds the generation's low 20 bits; permits carry
//! the rest (a 58-bit generation), so a permit held across any number of
//! generation changes is never taken for a current one, and a thread's own
//! counter cell names its counts' full generation (see the state word's docs
//! for the one limit left: a thread preempted between its check and a write to
//! the breaker's shared words). Half-open probe counts have 20 bits, so
//! `max_requests` is at most [`MAX_REQUESTS`]. Shared counts are 40 bits wide
//! (a thread's own, 64); [`Counts`] shows their low 32 bits like gobreaker, but
//! the built-in trip rules use all of them.
//!
//! The word is a plain `AtomicU64` behind a typed, pure `Snapshot` view
//! rather than the `atomic` crate's `Atomic<Snapshot>`: every transition is
//! already one exchange of a snapshot through one function (decided from a
//! snapshot first, named only once the exchange succeeded), the hot path
//! compares the raw word with the first word of a permit's ticket, and loom has
//! no twin of `Atomic<T>`, so the wrapper would add a dependency and a
//! hand-written loom shim without removing any bit logic.
//!
//! # Memory ordering
//!
//! What callers may rely on: a callback or observer `on_state_change` for one
//! transition happens-before the callbacks of the next transition of the same
//! breaker. Counts read after the calls that produced them have finished
//! (joined threads, a channel) are exact. Nothing else is promised.

#![deny(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]
#![doc(test(attr(deny(warnings))))]

mod api;
mod breaker;
mod buckets;
mod claims;
mod clock;
mod config;
mod counters;
mod error;
mod future;
mod live;
mod observer;
mod once_box;
mod permit;
mod policy;
#[cfg(feature = "serde")]
mod serde_units;
mod slot;
mod state;
mod sync;
mod throttle;
mod ticker;
mod types;
mod window;

pub use api::{Breaker, BreakerPermit};
pub use breaker::CircuitBreaker;
pub use clock::{Clock, ManualClock, QuantaClock};
pub use config::{
    Builder, CountWindow, DEFAULT_CONSECUTIVE_FAILURES, DEFAULT_TIMEOUT, MAX_COUNT_WINDOW,
    OpenBackoff, Settings,
};
pub use error::{ConfigError, Error, ReconfigureError, Rejected};
pub use observer::Observer;
pub use permit::{OwnedPermit, Permit};
pub use policy::{MAX_TIME_BUCKETS, SlowCalls, TimeWindow};
pub use state::{MAX_DURATION_TICKS, MAX_FORCED_DEADLINE, MAX_REQUESTS, MAX_TICK};
pub use throttle::AdaptiveThrottle;
pub use types::{Counts, Mode, Outcome, State, Totals};

/// The state-word encoding, exposed for the encoding fuzz target only. Not part
/// of the API: no semver guarantees.
#[doc(hidden)]
pub mod __private {
    use crate::state::{Manual, Snapshot, Tag};

    /// Loom models only: whether the model's threads own counter cells (as up to
    /// 2^16 threads at once do in production) instead of all sharing one.
    #[cfg(loom)]
    pub fn loom_owned_slots(on: bool) {
        crate::slot::loom_owned_slots(on);
    }

    /// Loom models only: the calling model thread exits, as far as counter slots
    /// go: it gives its slot back (what production's thread-local destructor
    /// does), and any later call of it uses the shared cell.
    #[cfg(loom)]
    pub fn loom_exit_thread() {
        crate::slot::exit_thread();
    }

    /// Loom models only: a breaker whose first generation is `generation` (to
    /// reach the counters' sweep without 2^16 transitions first).
    #[cfg(loom)]
    pub fn breaker_at_generation(
        settings: crate::Settings,
        generation: u32,
    ) -> crate::CircuitBreaker {
        crate::CircuitBreaker::with_generation(settings, generation)
    }

    /// Loom models only: lets the model look at `cb` as the ticker would, after
    /// [`CircuitBreaker::schedule_transitions`](crate::CircuitBreaker::schedule_transitions)
    /// (registrations are recorded, no thread is told).
    #[cfg(loom)]
    pub fn loom_schedule(cb: &std::sync::Arc<crate::CircuitBreaker>) {
        cb.attach(std::sync::Arc::downgrade(cb), false);
    }

    /// Loom models only: the ticker's look at a breaker given to [`loom_schedule`]
    /// (the due transition performed, the time of the next look returned).
    #[cfg(loom)]
    pub fn loom_look(cb: &crate::CircuitBreaker) -> Option<u64> {
        cb.loom_look()
    }

    /// Loom models only: whether a registration told the ticker since the last call.
    #[cfg(loom)]
    pub fn loom_told(cb: &crate::CircuitBreaker) -> bool {
        cb.loom_told()
    }

    /// Loom models only: when the ticker should look next at the breaker's word as
    /// it is (no transition performed).
    #[cfg(loom)]
    pub fn loom_next_look(cb: &crate::CircuitBreaker) -> Option<u64> {
        cb.loom_next_look()
    }

    /// Loom models only: whether breakers built from now on model their generation
    /// word with loom's atomic (the models of that word) or keep it a `std` atomic
    /// that loom does not branch on (every other model; see `sync.rs`).
    #[cfg(loom)]
    pub fn loom_generation_word(on: bool) {
        // Relaxed: read by the same thread when it builds the model's breaker.
        crate::sync::MODEL_GENERATION_WORD.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Loom models only: whether breakers built from now on keep their claims (see
    /// `claims.rs`: the models of claims) or leave them out (every other model).
    #[cfg(loom)]
    pub fn loom_claims(on: bool) {
        // Relaxed: read by the same thread when it builds the model's breaker.
        crate::claims::MODEL_CLAIMS.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Loom models only: what a thread that needs the full generation of the state word
    /// reads, in the order it reads them: the word's 20-bit generation, the breaker's
    /// generation word, and the full generation rebuilt from the two (taken from the
    /// word itself if it holds its lap: plain closed, or manual without a deadline);
    /// then the full generation of the word loaded again after them.
    #[cfg(loom)]
    pub fn loom_full_generation(cb: &crate::CircuitBreaker) -> (u32, u64, u64, u64) {
        cb.loom_full_generation()
    }

    /// Loom models only: generations whose start sweeps the counters (multiples).
    #[cfg(loom)]
    pub const SWEEP_PERIOD: u32 = crate::state::SWEEP_PERIOD;

    /// A state word taken apart.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Fields {
        /// 0 closed, 1 half-open, 2 open, 3 manual.
        pub tag: u8,
        /// Generation (20 bits).
        pub generation: u32,
        /// Callbacks of the last transition still running.
        pub pending: bool,
        /// An open was requested while pending.
        pub open_requested: bool,
        /// The 40-bit payload.
        pub payload: u64,
        /// Half-open: probes holding a slot.
        pub held: u32,
        /// Half-open: probe successes.
        pub successes: u32,
        /// Manual: 0 forced open, 1 forced open until `deadline`, 2 forced closed,
        /// 3 disabled.
        pub mode: u8,
        /// Open, or manual mode 1: the tick after which it may go half-open.
        pub deadline: Option<u64>,
        /// A word that holds its generation's lap (the full generation's bits above
        /// the word's 20): plain closed, or manual in a mode other than 1.
        pub lap: Option<u64>,
    }

    /// Encodes a closed word with its 40-bit payload as given (bit 39 set: the
    /// rest is the tick its counting interval expires at; clear: the generation's
    /// lap, the full generation's bits above the word's 20).
    pub fn closed(generation: u32, payload: u64) -> u64 {
        Snapshot::closed_with_payload(generation, payload).0
    }
    /// Encodes an open word.
    pub fn open(generation: u32, deadline: u64) -> u64 {
        Snapshot::open(generation, deadline).0
    }
    /// Encodes a half-open word.
    pub fn half_open(generation: u32, held: u32, successes: u32) -> u64 {
        Snapshot::half_open(generation, held, successes).0
    }
    /// Encodes a manual word (`mode` as in [`Fields::mode`], taken modulo 4): the
    /// low 38 bits of `rest` are the deadline in mode 1 and the lap in the others.
    pub fn manual(generation: u32, mode: u8, rest: u64) -> u64 {
        let mode = match mode % 4 {
            0 => Manual::ForcedOpen,
            1 => Manual::ForcedOpenUntil,
            2 => Manual::ForcedClosed,
            _ => Manual::Disabled,
        };
        Snapshot::manual(generation, mode, rest, rest).0
    }
    /// Sets the flags of a word.
    pub fn with_flags(word: u64, pending: bool, open_requested: bool) -> u64 {
        let s = Snapshot(word).with_pending(pending);
        if open_requested {
            s.with_open_requested().0
        } else {
            s.0
        }
    }
    /// Decodes a word.
    pub fn decode(word: u64) -> Fields {
        let s = Snapshot(word);
        Fields {
            tag: match s.tag() {
                Tag::Closed => 0,
                Tag::HalfOpen => 1,
                Tag::Open => 2,
                Tag::Manual => 3,
            },
            generation: s.generation(),
            pending: s.is_pending(),
            open_requested: s.is_open_requested(),
            payload: s.payload(),
            held: s.held(),
            successes: s.successes(),
            mode: s.manual_mode() as u8,
            deadline: s.open_deadline(),
            lap: s.own_lap(),
        }
    }
}
