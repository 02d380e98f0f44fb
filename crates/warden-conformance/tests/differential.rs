//! The lock-free breaker against the mutex reference: seeded random operation
//! sequences (at least 1,000,000 operations per run) and hand-written sequences
//! for the tricky cases.
//!
//! Environment:
//! * `WARDEN_DIFF_SEED=<u64>`: the run's seed (default: from the system time;
//!   always printed).
//! * `WARDEN_DIFF_CASE_SEED=<u64>`: replay one case (printed on failure).
//! * `WARDEN_DIFF_OPS=<n>`: operations per run (default 1,000,000).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{SystemTime, UNIX_EPOCH};

use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};
use std::time::Duration;

use warden_breaker::{Outcome, SlowCalls};
use warden_conformance::{Config, Op, TripRule, decode, run};

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    match v.trim().parse() {
        Ok(n) => Some(n),
        Err(e) => panic!("{name}={v:?}: {e}"),
    }
}

/// splitmix64: derives independent case seeds from the run's seed.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The case a seed stands for: random bytes through the fuzz target's decoder, so
/// the test and the fuzzer explore the same space.
fn case(case_seed: u64) -> (Config, Vec<Op>) {
    let mut rng = SmallRng::seed_from_u64(case_seed);
    let len = rng.random_range(8..=3000);
    let mut bytes = vec![0u8; len];
    rng.fill_bytes(&mut bytes);
    decode(&bytes, usize::MAX)
}

/// `Some(description)` if the run fails (a mismatch or a panic).
fn failure(config: &Config, ops: &[Op]) -> Option<(usize, String)> {
    match catch_unwind(AssertUnwindSafe(|| run(config, ops))) {
        Ok(Ok(())) => None,
        Ok(Err(m)) => Some((m.step, m.to_string())),
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Some((ops.len(), format!("panic: {msg}")))
        }
    }
}

/// The failing prefix, then greedy removal of single ops while it still fails.
fn shrink(config: &Config, ops: &[Op]) -> (Vec<Op>, String) {
    let (step, mut why) = failure(config, ops).expect("shrink is given a failing case");
    let mut ops = ops[..ops.len().min(step + 1)].to_vec();
    loop {
        let mut changed = false;
        let mut i = ops.len();
        while i > 0 {
            i -= 1;
            let mut fewer = ops.clone();
            fewer.remove(i);
            if let Some((_, w)) = failure(config, &fewer) {
                ops = fewer;
                why = w;
                changed = true;
            }
        }
        if !changed {
            return (ops, why);
        }
    }
}

/// What the random cases covered, so a decoder change that stops generating the
/// issue-8 policies fails the test instead of silently testing less.
#[derive(Debug, Default)]
struct Coverage {
    time_windows: u64,
    count_windows: u64,
    slow_calls: u64,
    slow_call_ops: u64,
    reconfigure_ops: u64,
    adaptive: u64,
}

impl Coverage {
    fn add(&mut self, config: &Config, ops: &[Op]) {
        self.reconfigure_ops += ops
            .iter()
            .filter(|op| matches!(op, Op::Reconfigure(_)))
            .count() as u64;
        match config.trip {
            TripRule::TimeWindow { .. } => self.time_windows += 1,
            TripRule::CountWindow { .. } => self.count_windows += 1,
            TripRule::Adaptive { .. } => self.adaptive += 1,
            _ => {}
        }
        if config.slow_calls.is_some() {
            self.slow_calls += 1;
            self.slow_call_ops += ops
                .iter()
                .filter(|op| matches!(op, Op::SlowCall(..)))
                .count() as u64;
        }
    }
}

fn check_case(case_seed: u64, label: &str, coverage: &mut Coverage) -> usize {
    let (config, ops) = case(case_seed);
    coverage.add(&config, &ops);
    if failure(&config, &ops).is_some() {
        let (small, why) = shrink(&config, &ops);
        panic!(
            "{label}: the breakers disagree (replay: WARDEN_DIFF_CASE_SEED={case_seed})\n\
             config: {config:?}\n{why}\n\
             shortest failing sequence found ({} of {} ops): {small:?}",
            small.len(),
            ops.len()
        );
    }
    ops.len()
}

#[test]
fn random_sequences_agree() {
    if let Some(case_seed) = env_u64("WARDEN_DIFF_CASE_SEED") {
        check_case(case_seed, "replayed case", &mut Coverage::default());
        return;
    }
    let seed = env_u64("WARDEN_DIFF_SEED").unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    let target = env_u64("WARDEN_DIFF_OPS").unwrap_or(1_000_000) as usize;
    println!("differential: WARDEN_DIFF_SEED={seed}");
    let (mut total, mut cases) = (0, 0u64);
    let mut coverage = Coverage::default();
    while total < target {
        let case_seed = mix(seed ^ mix(cases));
        total += check_case(
            case_seed,
            &format!("seed {seed}, case {cases}"),
            &mut coverage,
        );
        cases += 1;
    }
    println!("differential: {total} operations in {cases} sequences agree; {coverage:?}");
    if target >= 100_000 {
        // About 1 case in 4 has a time window, 1 in 8 a count window, 1 in 2 slow
        // calls, 1 in 6 an adaptive throttle; at 100,000 operations (some 65 cases)
        // none of these can be zero but by a decoder change.
        assert!(
            coverage.time_windows > 0
                && coverage.count_windows > 0
                && coverage.slow_calls > 0
                && coverage.slow_call_ops > 0
                && coverage.reconfigure_ops > 0
                && coverage.adaptive > 0,
            "the decoder no longer covers every policy: {coverage:?}"
        );
    }
}

// Hand-written sequences for the tricky cases. Each also checks a fact about the
// outcome through the mutex reference, so a sequence that stops exercising its
// case fails instead of passing vacuously.

fn trip_on_first(max_requests: u32, interval_ms: u64, timeout_ms: u64) -> Config {
    Config {
        max_requests,
        interval_ms,
        timeout_ms,
        trip: TripRule::ConsecutiveFailures(1),
        ..Config::default()
    }
}

fn agree(config: &Config, ops: &[Op]) {
    if let Err(m) = run(config, ops) {
        panic!("{m}\nconfig: {config:?}\nops: {ops:?}");
    }
}

/// The mutex reference alone, driven by the same kind of sequence, for the
/// expectations the hand-written cases assert.
mod oracle {
    use std::time::Duration;
    use warden_breaker::ManualClock;
    use warden_mutex::CircuitBreaker;

    pub(crate) fn breaker(
        max_requests: u32,
        interval_ms: u64,
        timeout_ms: u64,
    ) -> (CircuitBreaker, ManualClock) {
        let clock = ManualClock::new();
        let cb = CircuitBreaker::builder("oracle")
            .max_requests(max_requests)
            .interval(Duration::from_millis(interval_ms))
            .timeout(Duration::from_millis(timeout_ms))
            .ready_to_trip(|c| c.consecutive_failures >= 1)
            .clock(clock.clone())
            .build()
            .expect("valid settings");
        (cb, clock)
    }

    pub(crate) fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }
}

#[test]
fn stale_permit_after_reopen() {
    let config = trip_on_first(1, 0, 5);
    // A closed-state permit outlives trip, half-open and a failed probe (re-open),
    // then reports: twice stale, it must change nothing.
    agree(
        &config,
        &[
            Op::Acquire,
            Op::Call(Outcome::Failure),
            Op::Advance(6),
            Op::Acquire,
            Op::Failure(1), // the probe fails: open again
            Op::Advance(6),
            Op::Success(0), // stale; evaluates time: half-open
            Op::Counts,
            Op::Acquire,
            Op::Success(0),
        ],
    );
    let (cb, clock) = oracle::breaker(1, 0, 5);
    let stale = cb.try_acquire().expect("closed");
    let _ = cb.call(|| Err::<(), _>(()));
    clock.advance(oracle::ms(6));
    cb.try_acquire().expect("probe").failure();
    clock.advance(oracle::ms(6));
    stale.success();
    assert_eq!(
        cb.counts(),
        Default::default(),
        "the stale success is ignored"
    );
    assert_eq!(cb.state(), warden_breaker::State::HalfOpen);
}

#[test]
fn dropped_half_open_probe_then_new_probe() {
    let config = trip_on_first(2, 0, 3);
    agree(
        &config,
        &[
            Op::Call(Outcome::Failure),
            Op::Advance(4),
            Op::Acquire,
            Op::Acquire,
            Op::Acquire, // too many requests
            Op::Drop(0),
            Op::Counts, // requests still 2
            Op::Acquire,
            Op::Success(0),
            Op::Success(0), // closes
            Op::Acquire,
            Op::DropPanicking(0), // closed: a failure, which trips
            Op::State,
        ],
    );
    let (cb, clock) = oracle::breaker(2, 0, 3);
    let _ = cb.call(|| Err::<(), _>(()));
    clock.advance(oracle::ms(4));
    let (p1, _p2) = (cb.try_acquire().expect("1"), cb.try_acquire().expect("2"));
    assert!(cb.try_acquire().is_err());
    drop(p1);
    assert_eq!(cb.counts().requests, 2);
    assert!(cb.try_acquire().is_ok(), "the dropped probe's slot is free");
}

#[test]
fn ignore_in_half_open() {
    let config = trip_on_first(1, 0, 2);
    agree(
        &config,
        &[
            Op::Call(Outcome::Failure),
            Op::Advance(3),
            Op::Acquire,
            Op::Ignore(0), // frees the slot, counts an exclusion
            Op::Counts,
            Op::Call(Outcome::Ignored),
            Op::Call(Outcome::Success), // closes
            Op::Counts,
        ],
    );
    let (cb, clock) = oracle::breaker(1, 0, 2);
    let _ = cb.call(|| Err::<(), _>(()));
    clock.advance(oracle::ms(3));
    cb.try_acquire().expect("probe").ignore();
    let c = cb.counts();
    assert_eq!((c.requests, c.total_exclusions), (1, 1));
    assert_eq!(cb.state(), warden_breaker::State::HalfOpen);
}

#[test]
fn interval_reset_racing_an_outstanding_permit() {
    let config = Config {
        max_requests: 1,
        interval_ms: 5,
        timeout_ms: 10,
        trip: TripRule::TotalFailures(2),
        ..Config::default()
    };
    agree(
        &config,
        &[
            Op::Call(Outcome::Failure),
            Op::Acquire,
            Op::Advance(5), // expiry exactly now: no reset yet
            Op::Counts,
            Op::Advance(1),
            Op::Counts,     // counts do not evaluate time
            Op::Failure(0), // evaluates time: reset, then stale
            Op::Counts,
            Op::Call(Outcome::Failure), // one failure of the new window: no trip
            Op::State,
            Op::Acquire,
            Op::Advance(6),
            Op::Acquire, // resets the window; the older permit is stale
            Op::Failure(0),
            Op::Failure(0),
            Op::State,
        ],
    );
    let (cb, clock) = oracle::breaker(1, 5, 10);
    let p = cb.try_acquire().expect("closed");
    clock.advance(oracle::ms(6));
    assert_eq!(cb.counts().requests, 1, "not evaluated yet");
    p.failure();
    assert_eq!(
        cb.counts(),
        Default::default(),
        "reset, and the failure is stale"
    );
    assert_eq!(cb.state(), warden_breaker::State::Closed);
}

#[test]
fn timeout_boundary_exactly_at_t_plus_timeout_and_one_more_ms() {
    for timeout in [1, 2, 7] {
        let config = trip_on_first(1, 0, timeout);
        agree(
            &config,
            &[
                Op::Advance(3),
                Op::Call(Outcome::Failure), // opens at t = 3
                Op::Advance(timeout),       // t + T: still open
                Op::Acquire,
                Op::State,
                Op::Advance(1), // t + T + 1 ms: half-open on the next look
                Op::Counts,
                Op::Acquire,
                Op::Counts,
                Op::Success(0),
            ],
        );
        let (cb, clock) = oracle::breaker(1, 0, timeout);
        let _ = cb.call(|| Err::<(), _>(()));
        clock.advance(oracle::ms(timeout));
        assert_eq!(cb.state(), warden_breaker::State::Open);
        clock.advance(oracle::ms(1));
        assert_eq!(cb.state(), warden_breaker::State::HalfOpen);
    }
}

#[test]
fn interval_boundary_and_default_timeout() {
    // Interval 1 ms, the 60 s default timeout, the default trip rule.
    let config = Config {
        max_requests: 0,
        interval_ms: 1,
        timeout_ms: 0,
        trip: TripRule::Default,
        ..Config::default()
    };
    let mut ops = vec![Op::Acquire];
    ops.extend([Op::Call(Outcome::Failure); 6]);
    ops.extend([
        Op::Advance(60_000),
        Op::Acquire,
        Op::Advance(1),
        Op::Acquire,
    ]);
    ops.extend([
        Op::Success(1),
        Op::Failure(0),
        Op::Advance(1),
        Op::Advance(1),
    ]);
    ops.extend([Op::Counts, Op::Acquire, Op::Drop(0)]);
    agree(&config, &ops);
}

#[test]
fn many_generations_cross_the_counter_sweep() {
    // Each cycle is three generations (trip, half-open, close); 22,000 cycles pass
    // generation 65,536, where the lock-free breaker sweeps its counter tags.
    let config = trip_on_first(1, 0, 1);
    let mut ops = vec![Op::Acquire];
    for k in 0..22_000 {
        ops.extend([Op::Call(Outcome::Success), Op::Call(Outcome::Failure)]);
        ops.extend([Op::Advance(2), Op::Acquire, Op::Success(1)]);
        if k % 5_000 == 0 {
            ops.push(Op::Failure(0)); // stale; then hold a new one
            ops.push(Op::Acquire);
        }
    }
    ops.extend([Op::Call(Outcome::Success), Op::Call(Outcome::Ignored)]);
    agree(&config, &ops);
}

#[test]
fn panicking_calls_count_as_failures_in_both() {
    let config = Config {
        max_requests: 2,
        interval_ms: 0,
        timeout_ms: 1,
        trip: TripRule::FailureRatio {
            min_requests: 3,
            percent: 60,
        },
        ..Config::default()
    };
    agree(
        &config,
        &[
            Op::CallPanicking,
            Op::Call(Outcome::Success),
            Op::CallPanicking, // 2 of 3 failed: trips
            Op::CallPanicking, // rejected: open
            Op::Advance(2),
            Op::CallPanicking, // a probe that panics: open again
            Op::Advance(2),
            Op::Acquire,
            Op::AcquireOwned,
            Op::Acquire, // too many
            Op::DropPanicking(1),
            Op::State,
        ],
    );
}

#[test]
fn manual_commands_racing_permits_and_the_forced_deadline() {
    let config = trip_on_first(2, 5, 10);
    agree(
        &config,
        &[
            Op::Acquire, // closed permit, outlives every command below
            Op::Disable, // counts restart; the permit is stale
            Op::Call(Outcome::Failure),
            Op::Call(Outcome::Failure), // counted, no trip
            Op::Advance(20),            // no interval while disabled
            Op::Counts,
            Op::ForceOpenFor(7),
            Op::Failure(0), // stale: evaluates time, still forced open
            Op::Advance(7),
            Op::Acquire, // at the deadline: rejected
            Op::Advance(1),
            Op::Acquire, // after it: half-open, a probe
            Op::ForceClosed,
            Op::Success(0), // the probe is stale
            Op::Call(Outcome::Failure),
            Op::ForceOpen,
            Op::Advance(1000),
            Op::State,
            Op::Reset,
            Op::Call(Outcome::Failure), // trips again
            Op::State,
        ],
    );
    let (cb, clock) = oracle::breaker(2, 5, 10);
    cb.disable();
    let _ = cb.call(|| Err::<(), _>(()));
    let _ = cb.call(|| Err::<(), _>(()));
    clock.advance(oracle::ms(20));
    assert_eq!(
        cb.counts().consecutive_failures,
        2,
        "disabled: counted, kept"
    );
    cb.force_open_for(oracle::ms(7));
    clock.advance(oracle::ms(7));
    assert!(
        cb.try_acquire().is_err(),
        "still forced open at the deadline"
    );
    clock.advance(oracle::ms(1));
    assert_eq!(
        cb.try_acquire().expect("half-open").admitted_in(),
        warden_breaker::State::HalfOpen
    );
}

// The issue-8 policies: time window and slow calls.

fn time_window(length_ms: u64, buckets: u32, min_calls: u32, percent: u32) -> Config {
    Config {
        max_requests: 1,
        timeout_ms: 5,
        trip: TripRule::TimeWindow {
            length_ms,
            buckets,
            min_calls,
            percent,
        },
        ..Config::default()
    }
}

#[test]
fn time_window_bucket_edges_and_record_time() {
    // 4 ms in 2 buckets of 2 ms; 2 calls, 100 %.
    let config = time_window(4, 2, 2, 100);
    agree(
        &config,
        &[
            Op::Advance(1),
            Op::Call(Outcome::Failure), // tick 1, bucket 0
            Op::Acquire,                // admitted at tick 1...
            Op::Advance(3),
            Op::Call(Outcome::Failure), // tick 4, bucket 2: bucket 0 is out
            Op::State,
            Op::Failure(0), // ...recorded at tick 4, bucket 2: 2 of 2
            Op::State,
            Op::Advance(6),
            Op::Acquire, // half-open probe
            Op::Success(0),
            Op::Call(Outcome::Failure), // a new closed generation: 1 call
            Op::Advance(1),
            Op::Call(Outcome::Ignored),
            Op::Call(Outcome::Success),
            Op::Call(Outcome::Failure), // tick 12, bucket 6: 2 of 3
            Op::State,
        ],
    );
    let clock = warden_breaker::ManualClock::new();
    let cb = warden_mutex::CircuitBreaker::builder("oracle")
        .time_window(
            warden_breaker::TimeWindow::new(oracle::ms(4))
                .with_buckets(2)
                .with_min_calls(2)
                .with_failure_rate_percent(100),
        )
        .clock(clock.clone())
        .build()
        .expect("valid");
    clock.advance(oracle::ms(1));
    let _ = cb.call(|| Err::<(), _>(()));
    let p = cb.try_acquire().expect("closed");
    clock.advance(oracle::ms(3));
    let _ = cb.call(|| Err::<(), _>(()));
    assert_eq!(cb.state(), warden_breaker::State::Closed, "bucket 0 left");
    p.failure();
    assert_eq!(
        cb.state(),
        warden_breaker::State::Open,
        "record time counts"
    );
}

#[test]
fn time_window_across_interval_resets_and_manual_commands() {
    let config = Config {
        interval_ms: 3,
        ..time_window(6, 3, 2, 50)
    };
    agree(
        &config,
        &[
            Op::Call(Outcome::Failure),
            Op::Advance(4), // the interval resets the window on the next look
            Op::Call(Outcome::Failure),
            Op::Call(Outcome::Success),
            Op::Disable,
            Op::Call(Outcome::Failure),
            Op::Call(Outcome::Failure),
            Op::Reset,
            Op::Call(Outcome::Success),
            Op::Call(Outcome::Failure), // 1 of 2: 50 %
            Op::State,
        ],
    );
}

fn slow(threshold_ns: u64, rate: u32, min_calls: u32, trip: TripRule) -> Config {
    Config {
        max_requests: 1,
        timeout_ms: 5,
        trip,
        slow_calls: Some(
            SlowCalls::new(Duration::from_nanos(threshold_ns))
                .with_slow_rate_percent(rate)
                .with_min_calls(min_calls),
        ),
        ..Config::default()
    }
}

#[test]
fn slow_calls_threshold_and_generation_window() {
    // 1.5 ms, 50 % of at least 3; failures never trip (100 of them needed).
    let config = slow(1_500_000, 50, 3, TripRule::TotalFailures(100));
    agree(
        &config,
        &[
            Op::SlowCall(Outcome::Success, 1_499_999), // not slow
            Op::SlowCall(Outcome::Failure, 1_500_000), // slow: 1 of 2
            Op::SlowCall(Outcome::Ignored, 9_000_000), // not a call
            Op::Acquire,
            Op::Advance(2),
            Op::Success(0), // slow through a permit: 2 of 3, trips
            Op::State,
            Op::Advance(6),
            Op::SlowCall(Outcome::Success, 5_000_000), // a slow probe closes anyway
            Op::State,
            Op::SlowCall(Outcome::Success, 0),
            Op::SlowCall(Outcome::Failure, 1),
            Op::SlowCall(Outcome::Success, 1_500_001), // 1 of 3
            Op::State,
        ],
    );
    let clock = warden_breaker::ManualClock::new();
    let cb = warden_mutex::CircuitBreaker::builder("oracle")
        .ready_to_trip(|c| c.total_failures >= 100)
        .slow_calls(
            SlowCalls::new(Duration::from_nanos(1_500_000))
                .with_slow_rate_percent(50)
                .with_min_calls(3),
        )
        .clock(clock.clone())
        .build()
        .expect("valid");
    let _ = cb.call(|| {
        clock.advance(Duration::from_nanos(1_500_000));
        Err::<(), _>(())
    });
    let _ = cb.call(|| Ok::<_, ()>(()));
    assert_eq!(cb.state(), warden_breaker::State::Closed);
    let p = cb.try_acquire().expect("closed");
    clock.advance(oracle::ms(2));
    p.success();
    assert_eq!(cb.state(), warden_breaker::State::Open, "2 slow of 3");
}

#[test]
fn slow_calls_over_count_and_time_windows() {
    let count = TripRule::CountWindow {
        size: 3,
        min_calls: 3,
        percent: 100,
    };
    agree(
        &slow(1_000_000, 60, 3, count),
        &[
            Op::SlowCall(Outcome::Success, 1_000_000),
            Op::Call(Outcome::Success),
            Op::Call(Outcome::Failure),
            Op::SlowCall(Outcome::Success, 2_000_000), // the first slow call left: 1 of 3
            Op::State,
            Op::SlowCall(Outcome::Failure, 1_000_001), // 2 of 3
            Op::State,
        ],
    );
    let time = TripRule::TimeWindow {
        length_ms: 4,
        buckets: 4,
        min_calls: 100,
        percent: 100,
    };
    agree(
        &slow(2_000_000, 100, 2, time),
        &[
            Op::SlowCall(Outcome::Failure, 2_000_000), // recorded at tick 2
            Op::Advance(3),
            Op::SlowCall(Outcome::Success, 2_000_000), // tick 7: window 4..=7
            Op::State,
            Op::SlowCall(Outcome::Success, 2_000_000), // tick 9: 2 of 2
            Op::State,
        ],
    );
    // A slow failure that trips on both rules: one transition.
    agree(
        &slow(1_000, 100, 1, TripRule::ConsecutiveFailures(1)),
        &[Op::SlowCall(Outcome::Failure, 1_000), Op::State, Op::Counts],
    );
}

/// Reconfigurations mid-run, by hand: to a config of another shape while closed
/// with counts, while half-open with a probe held, and back; both breakers must
/// keep agreeing (the random sequences add about 1 reconfiguration in 24 ops).
#[test]
fn reconfigure_mid_run_keeps_both_in_step() {
    let config = trip_on_first(2, 0, 5);
    let count_window = {
        let mut b = [0u8; warden_conformance::RECONFIGURE_BYTES];
        b[..6].copy_from_slice(&[1, 0, 3, 1, 4, 2]); // max 1, timeout 3 ms, window of 3
        b
    };
    let plain = [0u8; warden_conformance::RECONFIGURE_BYTES];
    let ops = [
        Op::Call(Outcome::Success),
        Op::Acquire,
        Op::Reconfigure(count_window),
        Op::Counts,
        Op::Failure(0),
        Op::Call(Outcome::Failure),
        Op::Advance(4),
        Op::Acquire,
        Op::Reconfigure(plain),
        Op::Acquire,
        Op::Success(0),
        Op::Success(0),
        Op::Call(Outcome::Failure),
        Op::Reconfigure(count_window),
        Op::Advance(6),
        Op::State,
    ];
    agree(&config, &ops);
    // Not vacuous: the first reconfiguration changed the trip rule's shape while
    // closed, so the call made before it is no longer counted.
    let mutex = warden_mutex::CircuitBreaker::builder("differential")
        .ready_to_trip(|c| c.consecutive_failures >= 1)
        .build()
        .expect("valid settings");
    let _ = mutex.call(|| Ok::<_, ()>(()));
    let builder = Config::from_bytes(&count_window).builder();
    mutex.reconfigure(builder.into()).expect("valid settings");
    assert_eq!(mutex.counts().requests, 0);
}
