//! The fleet task's bookkeeping for one breaker: what it last saw of the local
//! breaker and of the fleet. Held by the breaker's shared part (`breaker.rs`) and
//! read and written by the task (`fleet.rs`), which alone gives it meaning.

use tokio::time::Instant;
use warden_breaker::Counts;

/// The task's bookkeeping for one breaker (behind a mutex never held across an
/// `.await`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Track {
    /// Local counts at the previous poll.
    pub(crate) prev: Counts,
    /// The fleet state last applied: (0 closed / 1 open / 2 half-open, generation).
    pub(crate) fleet: Option<(i64, u64)>,
    /// The fleet's counts of its current generation as of the last sync (zero
    /// while the fleet is open or half-open).
    pub(crate) fleet_counts: Option<Counts>,
    /// The fleet forced the local breaker open; when Redis goes away it keeps
    /// protecting until this instant, then probes locally.
    pub(crate) forced_until: Option<Instant>,
    /// The local breaker is in a manual mode that the fleet set.
    pub(crate) forced_by_fleet: bool,
    /// This local open episode was already reported as a trip.
    pub(crate) trip_voted: bool,
    /// A round trip that published counts (or voted on the fleet's) got no
    /// reply: Redis may hold counts that trip the fleet with nobody having
    /// judged them, so the next sync's reply is judged as if it published.
    pub(crate) judge: bool,
    /// The last probe-token claim was refused (the fleet's probes are all out).
    pub(crate) claims_blocked: bool,
    /// The incarnation of the fleet state last seen (0: none). Kept while Redis is
    /// away, so a state that came back different is recognised as lost.
    pub(crate) incarnation: u64,
    /// The fleet's open decision as last seen (capped at the timeout). Kept while
    /// Redis is away and republished if Redis lost it.
    pub(crate) hold_until: Option<Instant>,
    /// Sync at the next slice whatever the traffic (a change was announced, or
    /// every breaker is resynced).
    pub(crate) dirty: bool,
    /// This breaker has its own problem (bad key, settings mismatch): left alone
    /// until this instant.
    pub(crate) retry_at: Option<Instant>,
    /// When the last sync was sent: a held open decision is checked every
    /// `RECHECK_SLICES` (`fleet.rs`) slices, so a key lost on its own (evicted, deleted, its
    /// slot failed over) is republished without waiting for a fleet-wide signal.
    pub(crate) last_sync: Option<Instant>,
}

impl Track {
    pub(crate) fn new(prev: Counts) -> Self {
        Self {
            prev,
            fleet: None,
            fleet_counts: None,
            forced_until: None,
            forced_by_fleet: false,
            trip_voted: false,
            judge: false,
            claims_blocked: false,
            incarnation: 0,
            hold_until: None,
            dirty: true,
            retry_at: None,
            last_sync: None,
        }
    }
}
