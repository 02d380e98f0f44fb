//! Claims (see `claims.rs` in the core): an outcome claims its generation's 20
//! bits before it checks them, and every generation-changing exchange fences and
//! skips a claimed generation. The core's own model checks the fences' pairing;
//! these run the breaker's paths with claims kept (every other model leaves them
//! out, see `Claims::is_modelled`): a failure racing a reset, and the same across
//! the first generation of a sweep period, where the reset sweeps every shared
//! word before its exchange while the failure writes and checks after. No model
//! makes 2^20 changes, so none skips; what they show is that the claim, the
//! fences and the sweep change nothing else: the failure counts in its
//! generation or nowhere, and the claim is given up.
#![cfg(loom)]

use warden_breaker::__private::loom_claims;
use warden_breaker::{Counts, State};
use warden_loom_tests::{explore, setup_bare_at_generation};

/// The last generation of the first sweep period: the reset's exchange begins
/// the next one.
const BEFORE_SWEEP: u32 = (1 << 16) - 1;

fn failure_races_reset(name: &str, generation: u32) {
    explore(name, 3, move || {
        loom_claims(true);
        let rig = setup_bare_at_generation(generation, |b| b);
        let permit = rig.acquire();
        let t = rig.spawn(move |_| permit.failure());
        rig.start();
        rig.cb.reset();
        t.join().expect("model thread");
        // Counted before the reset, then cleared by it; or stale after it.
        assert_eq!(rig.cb.counts(), Counts::default());
        assert_eq!(rig.cb.state(), State::Closed);
        // The claim was given up: a failure now counts.
        assert!(rig.cb.call(|| Err::<(), _>(())).is_err(), "closed admits");
        assert_eq!(rig.cb.counts().total_failures, 1, "{:?}", rig.cb);
    });
}

#[test]
fn a_claimed_failure_racing_a_reset_counts_in_its_generation_or_nowhere() {
    failure_races_reset(
        "claims::a_claimed_failure_racing_a_reset_counts_in_its_generation_or_nowhere",
        7,
    );
}

#[test]
fn a_claimed_failure_racing_a_sweeping_reset_counts_in_its_generation_or_nowhere() {
    failure_races_reset(
        "claims::a_claimed_failure_racing_a_sweeping_reset_counts_in_its_generation_or_nowhere",
        BEFORE_SWEEP,
    );
}
