//! Open-duration backoff: the count of consecutive re-trips is written by the thread
//! that re-opens the breaker and read, on another thread, by the next failed probe.
#![cfg(loom)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use warden_breaker::{Clock, ManualClock, Observer, OpenBackoff, State};
use warden_loom_tests::{Coverage, explore, setup};

/// A second observer: the tick at which each state was entered.
#[derive(Debug)]
struct Entered {
    clock: ManualClock,
    log: Mutex<Vec<(State, u64)>>,
}

impl Entered {
    fn tick(&self) -> u64 {
        self.clock.now_nanos() / 1_000_000
    }
}

impl Observer for Entered {
    fn on_state_change(&self, _: &str, _: State, to: State) {
        let now = self.tick();
        self.log.lock().expect("not poisoned").push((to, now));
    }
}

/// Half-open, `max_requests = 1`, 1 ms timeout doubling per re-trip. One thread
/// takes the probe and fails it (1st re-trip: open 2 ms); the main thread moves the
/// clock 3 ms, then probes and fails if admitted (2nd re-trip: open 4 ms, computed
/// from the count the other thread wrote); a third thread only looks at the state,
/// which may perform Open → HalfOpen for the main thread. Whatever the interleaving, the last open
/// state lasts exactly 1 ms × 2^(re-trips delivered).
///
/// Coverage: some interleaving must re-trip twice.
#[test]
fn retrip_count_crosses_threads() {
    let twice = Coverage::new();
    let seen = twice.clone();
    explore("backoff::retrip_count_crosses_threads", 3, move || {
        // The breaker runs on this clock (it replaces the rig's own).
        let clock = ManualClock::new();
        let entered = Arc::new(Entered {
            clock: clock.clone(),
            log: Mutex::new(Vec::new()),
        });
        let observer = Arc::clone(&entered);
        let rig = setup(move |b| {
            b.ready_to_trip(|c| c.total_failures >= 1)
                .open_backoff(OpenBackoff::exponential(2, Duration::from_secs(1)))
                .observer(observer)
                .clock(clock)
        });
        let clock = entered.clock.clone();
        rig.open();
        clock.advance(Duration::from_millis(2));
        assert_eq!(rig.cb.state(), State::HalfOpen);
        let before = rig.begin();

        let t = rig.spawn(|rig| {
            if let Ok(p) = rig.cb.try_acquire_owned() {
                p.failure();
            }
        });
        // Turns the breaker half-open if it finds it due, so the main thread may take
        // its probe slot with a plain (Relaxed) exchange rather than the transition.
        let looker = rig.spawn(|rig| {
            let _ = rig.cb.state();
        });
        rig.start();
        clock.advance(Duration::from_millis(3));
        if let Ok(p) = rig.cb.try_acquire_owned() {
            p.failure();
        }
        t.join().expect("model thread");
        looker.join().expect("model thread");

        let changes = rig.rec.changes_after(before);
        let retrips = changes
            .iter()
            .filter(|c| **c == (State::HalfOpen, State::Open))
            .count() as u32;
        assert!(retrips >= 1, "{changes:?}");
        if retrips == 2 {
            seen.hit();
        }
        let log = entered.log.lock().expect("not poisoned").clone();
        let &(last, at) = log.last().expect("transitions");
        if last == State::Open {
            // The deadline is `t + 2^retrips` for the tick `t` the re-opening thread
            // read: 2 or 5 (the only ticks there are), and not after the callback ran.
            let open_for = 1u64 << retrips;
            let mut now = entered.tick();
            let was_open = rig.cb.state() == State::Open;
            while rig.cb.state() == State::Open {
                clock.advance(Duration::from_millis(1));
                now += 1;
                assert!(now < 100, "never half-open: {log:?}");
            }
            let fits =
                |t: u64| t <= at && (t + open_for + 1 == now || !was_open && t + open_for < now);
            assert!(
                fits(2) || fits(5),
                "open {open_for} ms after re-trip {retrips}: half-open at {now}, {log:?}"
            );
        }
        rig.rec.assert_settled(&rig.cb);
    });
    assert!(twice.hits() > 0, "no interleaving re-tripped twice");
}

/// Open and due, `max_requests = 2`, trip at the first failure, timeout 1 ms doubling
/// per re-trip. Two callers race to turn the breaker half-open at tick 2; one
/// succeeds, the other fails: the 1st re-trip (open 2 ms, until tick 4). When the
/// failure arrives while the winner is still delivering Open → HalfOpen, it hands
/// the re-trip over and the winner performs it. Then, on the main thread alone, the
/// breaker turns half-open at tick 5 and its probe fails: the 2nd re-trip, which
/// reads the count the 1st recorded, whichever thread performed it, and opens for
/// 4 ms (until tick 9). A failing probe that installed the open state itself while
/// Open → HalfOpen was still being delivered would leave the count unrecorded: the
/// 2nd re-trip would count as a 1st and open for 2 ms only.
///
/// Coverage: some interleaving must hand the 1st re-trip over.
#[test]
fn handed_over_retrip_counts_for_the_next() {
    let handed_over = Coverage::new();
    let seen = handed_over.clone();
    explore(
        "backoff::handed_over_retrip_counts_for_the_next",
        3,
        move || {
            let rig = setup(|b| {
                b.max_requests(2)
                    .ready_to_trip(|c| c.total_failures >= 1)
                    .open_backoff(OpenBackoff::exponential(2, Duration::from_secs(1)))
            });
            rig.open_and_expire(); // open at tick 0 for 1 ms; now tick 2
            let before = rig.begin();

            let t = rig.spawn(|rig| {
                // Refused only if the other probe already failed.
                if let Ok(p) = rig.cb.try_acquire_owned() {
                    p.success();
                }
                loom::thread::current().id()
            });
            rig.start();
            rig.cb
                .try_acquire_owned()
                .expect("the first probe, or the second of two slots")
                .failure();
            let other = t.join().expect("model thread");

            assert_eq!(
                rig.rec.changes_after(before),
                [
                    (State::Open, State::HalfOpen),
                    (State::HalfOpen, State::Open)
                ]
            );
            let delivered = rig.rec.transitions();
            if delivered[before].thread == other && delivered[before + 1].thread == other {
                seen.hit();
            }
            // 1st re-trip at tick 2: open 2 ms, half-open from tick 5.
            rig.clock.advance(Duration::from_millis(2));
            assert_eq!(
                rig.cb.state(),
                State::Open,
                "1st re-trip: open until tick 4"
            );
            rig.clock.advance(Duration::from_millis(1));
            rig.acquire().failure();
            // 2nd re-trip at tick 5: open 4 ms, half-open from tick 10.
            rig.clock.advance(Duration::from_millis(4));
            assert_eq!(
                rig.cb.state(),
                State::Open,
                "2nd re-trip: open until tick 9 (a lost count opens it until tick 7)"
            );
            rig.clock.advance(Duration::from_millis(1));
            assert_eq!(rig.cb.state(), State::HalfOpen);
            rig.rec.assert_settled(&rig.cb);
        },
    );
    assert!(
        handed_over.hits() > 0,
        "no interleaving handed the re-trip over"
    );
}
