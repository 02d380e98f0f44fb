//! A thread's own counter cell names the full generation of its counts: what
//! each writer and each reader must agree on, and what must never happen to a
//! cell.
//!
//! * Every path that counts a request or a success (plain closed, closed with a
//!   counting interval, disabled, admitted while a transition's callbacks still
//!   run, around a reconfiguration, with each trip rule, with an observer) counts
//!   in the generation `counts()` then reads, also a lap (2^20 generations) on,
//!   where the key's lap is not 0, and for a thread whose cell is in an earlier
//!   generation (the count enters it).
//! * A cell never moves back: a stale count of a thread whose cell a later call
//!   of the same thread already moved on (a nested call made between the stale
//!   call's check and its write) counts nothing and leaves the later counts alone.
//! * Cells made by a rejection, cells of a slot another thread had, and cells of
//!   threads past the first few slots count like any other.
//! * `totals()` is exact once the threads are joined, whatever the state, mode or
//!   generation the outcomes were reported in.
#![cfg(not(loom))]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex, OnceLock, Weak};
use std::thread;
use std::time::Duration;

use warden_breaker::{
    AdaptiveThrottle, Builder, CircuitBreaker, Clock, CountWindow, Counts, ManualClock, Observer,
    Outcome, OwnedPermit, Rejected, SlowCalls, State, TimeWindow,
};

/// Generations the 20-bit tag of a state word tells apart: a lap.
const LAP: u32 = 1 << 20;

mod cell_hook;

use cell_hook::{arm as arm_allocation, armed};

// ---------------------------------------------------------------------------
// Hooks: a global allocator that runs a closure on the armed thread's next
// line-aligned allocation (`cell_hook`), and a clock that runs one on its next read.
// ---------------------------------------------------------------------------

/// A clock standing at 0 that, armed, runs a hook on its next read (on the
/// reading thread). Not the process clock: the ticker never reads time for it.
#[derive(Default)]
struct HookClock {
    armed: AtomicBool,
    hook: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl std::fmt::Debug for HookClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HookClock")
    }
}

impl HookClock {
    fn arm(&self, hook: impl FnOnce() + Send + 'static) {
        *self.hook.lock().expect("hook lock") = Some(Box::new(hook));
        // SeqCst: a test's bookkeeping.
        self.armed.store(true, Ordering::SeqCst);
    }
}

#[derive(Debug)]
struct SharedClock(Arc<HookClock>);

impl Clock for SharedClock {
    fn now_nanos(&self) -> u64 {
        if self.0.armed.swap(false, Ordering::SeqCst) {
            let hook = self.0.hook.lock().expect("hook lock").take();
            if let Some(hook) = hook {
                hook();
            }
        }
        0
    }
}

// ---------------------------------------------------------------------------
// What the cases check.
// ---------------------------------------------------------------------------

/// Requests, successes and failures of the current generation.
fn rsf(cb: &CircuitBreaker) -> (u32, u32, u32) {
    let c = cb.counts();
    (c.requests, c.total_successes, c.total_failures)
}

fn ok(cb: &CircuitBreaker) {
    assert_eq!(cb.call(|| Ok::<_, ()>(())), Ok(()), "admitted");
}

fn fail(cb: &CircuitBreaker) {
    assert!(matches!(
        cb.call(|| Err::<(), _>(())),
        Err(warden_breaker::Error::Inner(()))
    ));
}

/// `n` resets.
fn resets(cb: &CircuitBreaker, n: u32) {
    for _ in 0..n {
        cb.reset();
    }
}

/// A breaker that never trips on its own (the failure rule needs 1,000 straight
/// failures), so every count stays in the generation the test makes.
fn never_trips(name: &str) -> Builder {
    CircuitBreaker::builder(name).ready_to_trip(|c| c.consecutive_failures >= 1000)
}

// ---------------------------------------------------------------------------
// A cell never moves back.
// ---------------------------------------------------------------------------

/// A breaker whose closed outcomes read `clock` after their check against the
/// state word and before their count: with `SlowCalls` (the timed record path)
/// or with a counting interval (the general path).
fn hooked_breaker(clock: &Arc<HookClock>, interval: bool) -> Arc<CircuitBreaker> {
    let builder = never_trips("back").clock(SharedClock(Arc::clone(clock)));
    let builder = if interval {
        builder.interval(Duration::from_secs(3600))
    } else {
        builder.slow_calls(SlowCalls::new(Duration::from_secs(1)))
    };
    Arc::new(builder.build().expect("valid"))
}

/// A success of generation `G` is checked current, then, at its clock read and
/// before its count, the same thread makes `moves` generation changes and one
/// call in the new generation (so its cell moves on to it). The stale success must
/// count nothing, and must leave the nested call's counts alone: a cell that
/// re-entered `G` for it would zero the current generation's counts (and, a lap
/// on, count the stale success there).
fn a_nested_call_moves_the_cell_on(moves: u32, interval: bool) -> (u32, u32, u32) {
    let clock = Arc::new(HookClock::default());
    let cb = hooked_breaker(&clock, interval);
    let permit = cb.try_acquire().expect("closed admits"); // the cell enters G
    let breaker = Arc::clone(&cb);
    clock.arm(move || {
        resets(&breaker, moves);
        ok(&breaker);
    });
    permit.success();
    assert!(
        !clock.armed.load(Ordering::SeqCst),
        "the success read the clock"
    );
    rsf(&cb)
}

#[test]
fn a_stale_timed_success_leaves_a_cell_moved_on_by_a_nested_call_alone() {
    for moves in [1, LAP] {
        assert_eq!(
            a_nested_call_moves_the_cell_on(moves, false),
            (1, 1, 0),
            "{moves} generations later: only the nested call counts"
        );
    }
    // Control: no generation change, both calls count.
    assert_eq!(a_nested_call_moves_the_cell_on(0, false), (2, 2, 0));
}

#[test]
fn a_stale_interval_success_leaves_a_cell_moved_on_by_a_nested_call_alone() {
    for moves in [1, LAP] {
        assert_eq!(
            a_nested_call_moves_the_cell_on(moves, true),
            (1, 1, 0),
            "{moves} generations later: only the nested call counts"
        );
    }
    assert_eq!(a_nested_call_moves_the_cell_on(0, true), (2, 2, 0));
}

/// A thread's first admission loads the state word (generation `G`), then, while
/// its cell is allocated and before its request is counted, the same thread makes
/// `moves` generation changes and a call that creates (and publishes) the cell in
/// the new generation. The first admission's allocation then loses the race for
/// the slot's cell and counts in the nested call's cell, which is in a later
/// generation: its stale request must count nothing.
fn a_nested_first_call_makes_the_cell(moves: u32) -> (u32, u32, u32) {
    let cb = Arc::new(never_trips("first").build().expect("valid"));
    let (outer, nested) = (Arc::clone(&cb), Arc::clone(&cb));
    thread::spawn(move || {
        arm_allocation(move || {
            resets(&nested, moves);
            ok(&nested);
        });
        let permit = outer.try_acquire().expect("closed admits");
        assert!(!armed(), "the first call allocated its cell");
        drop(permit);
    })
    .join()
    .expect("the first call's thread");
    rsf(&cb)
}

#[test]
fn a_stale_first_admission_leaves_the_cell_a_nested_call_made_alone() {
    for moves in [1, LAP] {
        assert_eq!(
            a_nested_first_call_makes_the_cell(moves),
            (1, 1, 0),
            "{moves} generations later: only the nested call counts"
        );
    }
    // Control: the same generation; the outer request counts in the nested call's cell.
    assert_eq!(a_nested_first_call_makes_the_cell(0), (2, 1, 0));
}

/// An owned permit of generation `G` reported by a thread whose cell already
/// counts in a later generation (it admitted there): nothing counts, and the
/// later generation's counts stay.
#[test]
fn a_stale_report_on_a_thread_already_counting_later_counts_nothing() {
    let cb = Arc::new(never_trips("later").build().expect("valid"));
    for moves in [1, LAP] {
        let old: OwnedPermit = cb.try_acquire_owned().expect("closed admits");
        resets(&cb, moves);
        ok(&cb);
        ok(&cb);
        old.success();
        assert_eq!(rsf(&cb), (2, 2, 0), "{moves} generations later");
        ok(&cb);
        assert_eq!(rsf(&cb), (3, 3, 0));
        cb.reset();
    }
}

/// An admission from a closed word with a counting interval reads the clock
/// between its load of the state word and its load of the breaker's generation
/// word, which gives the state word's 20 bits their lap. Made there, `moves`
/// generation changes (more than 2^19 + 1, fewer than 2^20) make the lap nearest the
/// generation word the *next* one: the admission's key is a generation the breaker
/// has not reached yet. The admission is stale either way (the bit budget's
/// window), but its request must not take the thread's cell into that future
/// generation: the cell would then refuse every later count of its thread as
/// stale, in the current generation and the next 2^20 - `moves` ones.
fn an_interval_admission_with_changes_at_its_clock_read(moves: u32) -> (u32, u32, u32) {
    let clock = Arc::new(HookClock::default());
    let cb = hooked_breaker(&clock, true);
    ok(&cb); // this thread's cell, in the current generation
    let breaker = Arc::clone(&cb);
    clock.arm(move || resets(&breaker, moves));
    drop(cb.try_acquire().expect("closed admits"));
    assert!(
        !clock.armed.load(Ordering::SeqCst),
        "the admission read the clock"
    );
    // This thread's calls in the current generation.
    ok(&cb);
    ok(&cb);
    fail(&cb);
    rsf(&cb)
}

#[test]
fn a_stale_admission_never_takes_its_cell_into_a_future_generation() {
    for moves in [LAP / 2 + 2, 3 * LAP / 4, LAP - 2] {
        assert_eq!(
            an_interval_admission_with_changes_at_its_clock_read(moves),
            (3, 2, 1),
            "{moves} generation changes at the admission's clock read"
        );
    }
}

#[test]
fn control_a_stale_admission_up_to_half_a_lap_behind_counts_nothing() {
    for moves in [1, LAP / 2 + 1] {
        assert_eq!(
            an_interval_admission_with_changes_at_its_clock_read(moves),
            (3, 2, 1),
            "{moves} generation changes at the admission's clock read"
        );
    }
}

// ---------------------------------------------------------------------------
// Writers and readers agree on the key, on every path.
// ---------------------------------------------------------------------------

/// One thread's calls over two generations of `cb` (`move_on` moves it to the
/// next), the second starting with a cell in the first: the second's counts are
/// exactly its own calls.
fn counts_in_each_generation(cb: &CircuitBreaker, move_on: &dyn Fn(&CircuitBreaker), what: &str) {
    let (r, s, f) = rsf(cb);
    ok(cb);
    ok(cb);
    fail(cb);
    assert_eq!(
        rsf(cb),
        (r + 3, s + 2, f + 1),
        "{what}: the first generation"
    );
    move_on(cb);
    assert_eq!(rsf(cb), (0, 0, 0), "{what}: a new generation starts empty");
    ok(cb);
    fail(cb);
    ok(cb);
    drop(cb.try_acquire().expect("admits"));
    cb.try_acquire().expect("admits").ignore();
    assert_eq!(rsf(cb), (5, 2, 1), "{what}: the second generation");
    assert_eq!(cb.counts().consecutive_successes, 1, "{what}");
    assert_eq!(cb.counts().total_exclusions, 1, "{what}");
}

/// A named way to build a breaker.
type Case = (&'static str, fn() -> Builder);

/// The builders whose paths differ: plain, a counting interval (the state word
/// then holds no lap), each trip rule, an observer.
fn builders() -> Vec<Case> {
    #[derive(Debug)]
    struct Quiet;
    impl Observer for Quiet {}
    vec![
        ("plain", || never_trips("plain")),
        ("interval", || {
            never_trips("interval").interval(Duration::from_secs(3600))
        }),
        ("count window", || {
            CircuitBreaker::builder("count").count_window(CountWindow::new(100).with_min_calls(100))
        }),
        ("time window", || {
            CircuitBreaker::builder("time")
                .time_window(TimeWindow::new(Duration::from_secs(10)).with_min_calls(1000))
        }),
        ("slow calls", || {
            never_trips("slow").slow_calls(SlowCalls::new(Duration::from_secs(60)))
        }),
        ("adaptive throttle", || {
            CircuitBreaker::builder("throttle").adaptive_throttle(
                AdaptiveThrottle::new(Duration::from_secs(10)).with_min_requests(1000),
            )
        }),
        ("observer", || never_trips("observer").observer(Quiet)),
        ("observer and interval", || {
            never_trips("both")
                .observer(Quiet)
                .interval(Duration::from_secs(3600))
        }),
    ]
}

#[test]
fn every_path_counts_in_the_generation_counts_reads() {
    for (what, builder) in builders() {
        let cb = builder().build().expect("valid");
        counts_in_each_generation(&cb, &|cb| cb.reset(), what);
        // A lap on: the same 20 bits as a generation counted in above, another lap.
        counts_in_each_generation(&cb, &|cb| resets(cb, LAP), &format!("{what}, a lap on"));
        counts_in_each_generation(
            &cb,
            &|cb| resets(cb, LAP - 1),
            &format!("{what}, a lap less one on"),
        );
    }
}

#[test]
fn an_expired_interval_starts_a_generation_its_counts_are_read_in() {
    let clock = ManualClock::new();
    let cb = never_trips("expiry")
        .interval(Duration::from_secs(1))
        .clock(clock.clone())
        .build()
        .expect("valid");
    resets(&cb, LAP);
    counts_in_each_generation(
        &cb,
        &|cb| {
            clock.advance(Duration::from_millis(1001));
            // Counts change once something looks at the state (see `counts`).
            assert_eq!(cb.state(), State::Closed);
        },
        "interval expiry",
    );
}

#[test]
fn a_disabled_breaker_counts_in_the_generation_counts_reads() {
    let cb = never_trips("disabled").build().expect("valid");
    ok(&cb); // the cell exists, in the closed generation
    for moves in [0, LAP] {
        resets(&cb, moves);
        cb.disable();
        assert_eq!(rsf(&cb), (0, 0, 0));
        ok(&cb);
        fail(&cb);
        let held = cb.try_acquire().expect("disabled admits");
        held.success();
        assert_eq!(rsf(&cb), (3, 2, 1), "{moves} resets, then disabled");
        // Forced closed counts nothing, and the disabled counts are not read there.
        cb.force_closed();
        ok(&cb);
        assert_eq!(rsf(&cb), (0, 0, 0), "forced closed");
        cb.disable();
        ok(&cb);
        assert_eq!(rsf(&cb), (1, 1, 0), "disabled again: a new generation");
        cb.reset();
        ok(&cb);
        assert_eq!(rsf(&cb), (1, 1, 0), "closed again");
    }
}

/// Calls admitted and reported while the transition into closed still runs its
/// callbacks (the state word carries `PENDING`, which the admission passes on as
/// part of its key), by the callback's thread, whose cell is in an older
/// generation: they count in the new generation, as do the permits admitted
/// there and reported afterwards.
#[test]
fn calls_made_while_pending_count_in_their_generation() {
    let me: Arc<OnceLock<Weak<CircuitBreaker>>> = Arc::new(OnceLock::new());
    let held: Arc<Mutex<Vec<OwnedPermit>>> = Arc::new(Mutex::new(Vec::new()));
    let (in_callback, kept) = (Arc::clone(&me), Arc::clone(&held));
    let cb = Arc::new(
        never_trips("pending")
            .slow_calls(SlowCalls::new(Duration::from_secs(60)))
            .on_state_change(move |_, _, to| {
                if to != State::Closed {
                    return;
                }
                let cb = in_callback.get().and_then(Weak::upgrade).expect("alive");
                ok(&cb);
                fail(&cb);
                let mut kept = kept.lock().expect("lock");
                kept.push(cb.try_acquire_owned().expect("closed admits"));
                kept.push(cb.try_acquire_owned().expect("closed admits"));
            })
            .build()
            .expect("valid"),
    );
    me.set(Arc::downgrade(&cb)).expect("set once");
    for moves in [0, LAP] {
        ok(&cb); // this thread's cell, in the generation before
        resets(&cb, moves);
        cb.force_open();
        cb.reset(); // the callback runs on this thread, PENDING set
        assert_eq!(rsf(&cb), (4, 1, 1), "{moves}: the callback's calls");
        let permits = std::mem::take(&mut *held.lock().expect("lock"));
        let mut permits = permits.into_iter();
        permits.next().expect("held").success();
        // Reported on another thread, whose cell is new.
        let other = permits.next().expect("held");
        thread::spawn(move || other.success())
            .join()
            .expect("thread");
        assert_eq!(rsf(&cb), (4, 3, 1), "{moves}: reported after the callback");
        ok(&cb);
        assert_eq!(rsf(&cb), (5, 4, 1), "{moves}: and later calls");
    }
}

/// A reconfiguration that adds or removes a counting interval keeps the
/// generation (and its counts), but changes how the state word holds the lap:
/// permits admitted before it count after it, in the same generation. Likewise a
/// permit admitted untimed and reported once `SlowCalls` is on, and the reverse.
#[test]
fn permits_held_across_a_reconfiguration_count_in_their_generation() {
    let cb = Arc::new(never_trips("reconfigured").build().expect("valid"));
    resets(&cb, LAP + 3); // a lap that is not 0
    let steps: [(&str, Builder); 4] = [
        (
            "an interval added",
            never_trips("reconfigured").interval(Duration::from_secs(3600)),
        ),
        ("the interval removed", never_trips("reconfigured")),
        (
            "slow calls added",
            never_trips("reconfigured").slow_calls(SlowCalls::new(Duration::from_secs(60))),
        ),
        ("slow calls removed", never_trips("reconfigured")),
    ];
    let mut expected = (0, 0, 0);
    for (what, builder) in steps {
        let held = [
            cb.try_acquire().expect("admits"),
            cb.try_acquire().expect("admits"),
        ];
        let owned = cb.try_acquire_owned().expect("admits");
        expected.0 += 3;
        cb.reconfigure(builder).expect("reconfigured");
        assert_eq!(rsf(&cb), expected, "{what}: counts kept");
        let [a, b] = held;
        a.success();
        b.failure();
        thread::spawn(move || owned.success())
            .join()
            .expect("thread");
        expected.1 += 2;
        expected.2 += 1;
        assert_eq!(rsf(&cb), expected, "{what}: held permits counted");
        ok(&cb);
        expected.0 += 1;
        expected.1 += 1;
        assert_eq!(rsf(&cb), expected, "{what}: new calls counted");
    }
}

// ---------------------------------------------------------------------------
// Cells made by rejections, reused slots, threads past the direct slots.
// ---------------------------------------------------------------------------

/// A thread whose first call to the breaker is refused (open, or too many
/// half-open probes) gets a cell then, in no particular generation; its later
/// closed calls count, also laps later.
#[test]
fn a_cell_made_by_a_rejection_counts_later_calls() {
    for moves in [0, LAP, 2 * LAP + 5] {
        // A new breaker each time: no thread has a cell in it yet (the main thread
        // only makes commands, which count nothing).
        let clock = ManualClock::new();
        let cb = Arc::new(
            CircuitBreaker::builder("rejected")
                .ready_to_trip(|c| c.consecutive_failures >= 1)
                .timeout(Duration::from_millis(10))
                .clock(clock.clone())
                .build()
                .expect("valid"),
        );
        resets(&cb, moves);
        cb.force_open();
        let breaker = Arc::clone(&cb);
        thread::spawn(move || {
            assert_eq!(breaker.try_acquire().unwrap_err(), Rejected::Open);
            breaker.reset();
            ok(&breaker);
            ok(&breaker);
            assert_eq!(rsf(&breaker), (2, 2, 0));
            // Tripped and half-open: this thread's cell is in the last closed
            // generation; another thread's first call is refused as a second probe.
            fail(&breaker);
            clock.advance(Duration::from_millis(11));
            let probe = breaker.try_acquire_owned().expect("a probe");
            let other = Arc::clone(&breaker);
            let other = thread::spawn(move || {
                assert_eq!(other.try_acquire().unwrap_err(), Rejected::TooManyRequests);
                probe.success(); // closed again, reported by the refused thread
                ok(&other);
                ok(&other);
                other
            });
            let breaker = other.join().expect("thread");
            ok(&breaker);
            assert_eq!(rsf(&breaker), (3, 3, 0));
        })
        .join()
        .expect("thread");
        assert_eq!(rsf(&cb), (3, 3, 0), "{moves} resets first");
    }
}

/// A thread that exits hands its slot (and its cells) to the next thread: that
/// thread continues the counts of the generation they share, and starts a later
/// generation from zero.
#[test]
fn a_reused_slot_continues_its_generation_and_starts_the_next() {
    let cb = Arc::new(never_trips("reused").build().expect("valid"));
    let calls = |n: u32| {
        let cb = Arc::clone(&cb);
        thread::spawn(move || {
            for _ in 0..n {
                ok(&cb);
            }
        })
        .join()
        .expect("thread");
    };
    calls(3);
    calls(2);
    assert_eq!(rsf(&cb), (5, 5, 0), "one generation, two threads");
    resets(&cb, LAP);
    assert_eq!(rsf(&cb), (0, 0, 0), "a lap on: the same 20 bits");
    calls(1);
    assert_eq!(rsf(&cb), (1, 1, 0), "a lap on");
}

/// Threads past the breaker's direct cells (in the directory's levels), all
/// alive at once, over generations a lap apart: the counts are exactly each
/// generation's calls.
#[test]
fn threads_past_the_direct_cells_count_in_each_generation() {
    const THREADS: usize = 12;
    const ROUNDS: usize = 3;
    let cb = Arc::new(never_trips("many").build().expect("valid"));
    let barrier = Arc::new(Barrier::new(THREADS + 1));
    let threads: Vec<_> = (0..THREADS)
        .map(|i| {
            let (cb, barrier) = (Arc::clone(&cb), Arc::clone(&barrier));
            thread::spawn(move || {
                for _ in 0..ROUNDS {
                    for _ in 0..=i {
                        ok(&cb);
                    }
                    fail(&cb);
                    barrier.wait(); // counted
                    barrier.wait(); // the generation moved on
                }
            })
        })
        .collect();
    let calls = (THREADS * (THREADS + 1) / 2) as u32;
    for round in 0..ROUNDS {
        barrier.wait();
        assert_eq!(
            rsf(&cb),
            (calls + THREADS as u32, calls, THREADS as u32),
            "round {round}"
        );
        resets(&cb, if round == 0 { LAP } else { 1 });
        assert_eq!(rsf(&cb), (0, 0, 0));
        barrier.wait();
    }
    for t in threads {
        t.join().expect("thread");
    }
}

// ---------------------------------------------------------------------------
// Lifetime totals.
// ---------------------------------------------------------------------------

/// Every kind of outcome, from threads with and without a direct cell, in closed,
/// forced closed, disabled and stale generations: `totals()` is exact once they
/// are joined.
#[test]
fn totals_are_exact_once_the_threads_are_joined() {
    const THREADS: u64 = 9;
    let cb = Arc::new(never_trips("totals").build().expect("valid"));
    let barrier = Arc::new(Barrier::new(THREADS as usize));
    let threads: Vec<_> = (0..THREADS)
        .map(|i| {
            let (cb, barrier) = (Arc::clone(&cb), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait(); // all alive at once: slots past the direct ones
                for _ in 0..=i {
                    ok(&cb);
                    fail(&cb);
                    let _ = cb.call_with(|| Err::<(), _>(404), |_| Outcome::Ignored);
                    drop(cb.try_acquire().expect("admits"));
                }
                // Stale: admitted, then the generation moves on.
                let stale = [
                    cb.try_acquire().expect("admits"),
                    cb.try_acquire().expect("admits"),
                    cb.try_acquire().expect("admits"),
                ];
                barrier.wait();
                if i == 0 {
                    cb.reset();
                }
                barrier.wait();
                let [s, f, g] = stale;
                s.success();
                f.failure();
                g.ignore();
                barrier.wait();
                if i == 0 {
                    cb.force_closed();
                }
                barrier.wait();
                let _ = cb.call_with(|| Err::<(), _>(404), |_| Outcome::Ignored);
                ok(&cb);
                barrier.wait();
                if i == 0 {
                    cb.disable();
                }
                barrier.wait();
                let _ = cb.call_with(|| Err::<(), _>(404), |_| Outcome::Ignored);
                fail(&cb);
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    let per_thread_loops: u64 = (1..=THREADS).sum();
    let t = cb.totals();
    assert_eq!(t.successes, per_thread_loops + 2 * THREADS, "{t:?}");
    assert_eq!(t.failures, per_thread_loops + 2 * THREADS, "{t:?}");
    assert_eq!(t.ignored, per_thread_loops + 3 * THREADS, "{t:?}");
    assert_eq!(t.dropped, per_thread_loops, "{t:?}");
    assert_eq!(cb.state(), State::Closed);
    let c: Counts = cb.counts();
    assert_eq!(
        (c.requests, c.total_failures, c.total_exclusions),
        (2 * THREADS as u32, THREADS as u32, THREADS as u32),
        "the disabled generation"
    );
}
