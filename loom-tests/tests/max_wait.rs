//! Half-open max wait: a half-open generation whose probe never reported re-opens
//! on the first look after the bound, once, however the lookers race.
#![cfg(loom)]

use std::time::Duration;

use warden_breaker::{Rejected, State};
use warden_loom_tests::{explore, setup};

/// Half-open with its only probe slot held, `max_requests = 1`, max wait 2 ms, and
/// the bound already passed. Racing: a `state()` caller, a caller asking for
/// admission, and the late probe reporting success. Exactly one HalfOpen → Open is
/// delivered (the success never closes the breaker: its generation expired), the
/// admission is refused as open, and the breaker ends open.
#[test]
fn expired_half_open_reopens_once() {
    explore("max_wait::expired_half_open_reopens_once", 3, || {
        let rig = setup(|b| {
            b.ready_to_trip(|c| c.total_failures >= 1)
                .half_open_max_wait(Duration::from_millis(2))
        });
        rig.open_and_expire();
        let late = rig.acquire();
        assert_eq!(late.admitted_in(), State::HalfOpen);
        rig.clock.advance(Duration::from_millis(3));
        let before = rig.begin();

        let looker = rig.spawn(|rig| {
            let _ = rig.cb.state();
        });
        let asker = rig.spawn(|rig| rig.cb.try_acquire_owned().map(|_| ()));
        rig.start();
        late.success();
        looker.join().expect("model thread");
        let asked = asker.join().expect("model thread");

        assert_eq!(asked, Err(Rejected::Open));
        assert_eq!(
            rig.rec.changes_after(before),
            [(State::HalfOpen, State::Open)]
        );
        rig.rec.assert_settled(&rig.cb);
    });
}
