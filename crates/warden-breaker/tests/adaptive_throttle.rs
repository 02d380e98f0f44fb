//! The adaptive throttle on a `ManualClock` with fixed draws: every decision
//! against an independent model of the documented rule, the rejection rate
//! against the formula over many windows (a computed 5-sigma bound), window
//! aging, the minimum, the cap, the classifier, validation.

use std::collections::BTreeMap;
use std::time::Duration;

use warden_breaker::{
    AdaptiveThrottle, CircuitBreaker, ConfigError, Counts, Error, ManualClock, Outcome, Rejected,
    State, TimeWindow,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn rig(rule: AdaptiveThrottle) -> (CircuitBreaker, ManualClock) {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::builder("throttle")
        .adaptive_throttle(rule)
        .clock(clock.clone())
        .build()
        .unwrap();
    (cb, clock)
}

/// The draw the breaker makes right after `AdaptiveThrottle::set_thread_draws(start)`
/// (wyrand, written out again here so the test does not trust the library's).
fn first_draw(start: u64) -> u32 {
    let x = start.wrapping_add(0xa076_1d64_78bd_642f);
    let m = u128::from(x) * u128::from(x ^ 0xe703_7ed1_a0b4_28db);
    (((m >> 64) as u64 ^ m as u64) >> 32) as u32
}

/// A small generator for the backend's behaviour and the per-call draw states.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// The documented rule, kept the obvious way: per-bucket counts in a map, the
/// probability re-evaluated at the documented events.
struct Model {
    rule: AdaptiveThrottle,
    width: u64,
    /// bucket -> (requests, accepts)
    buckets: BTreeMap<u64, (u64, u64)>,
    /// The last evaluation: probability (a fraction of 2^32), failing, first tick after its bucket.
    last: Option<(u32, bool, u64)>,
}

impl Model {
    fn new(rule: AdaptiveThrottle) -> Self {
        Self {
            rule,
            width: rule.bucket_width().as_millis() as u64,
            buckets: BTreeMap::new(),
            last: None,
        }
    }

    fn window(&self, now: u64) -> (u64, u64) {
        let last = now / self.width;
        let first = last.saturating_sub(u64::from(self.rule.buckets()) - 1);
        self.buckets
            .range(first..=last)
            .fold((0, 0), |(r, a), (_, (br, ba))| (r + br, a + ba))
    }

    fn evaluate(&mut self, now: u64) -> u32 {
        let (requests, accepts) = self.window(now);
        let p = self.rule.reject_probability(requests, accepts);
        let p32 = (p * 4_294_967_296.0).min(u32::MAX as f64) as u32;
        let failing = requests as f64 - self.rule.k() * accepts as f64 > 0.0;
        let until = (now / self.width + 1) * self.width;
        self.last = Some((p32, failing, until));
        p32
    }

    fn count(&mut self, now: u64, accept: bool) {
        let b = self.buckets.entry(now / self.width).or_default();
        b.0 += 1;
        b.1 += u64::from(accept);
    }

    /// The probability an admission at `now` is judged with (0: no draw).
    fn admission(&mut self, now: u64) -> u32 {
        match self.last {
            Some((p, _, until)) if p != 0 => {
                if now >= until {
                    self.evaluate(now)
                } else {
                    p
                }
            }
            _ => 0,
        }
    }

    fn rejected(&mut self, now: u64) {
        self.count(now, false);
        self.evaluate(now);
    }

    fn success(&mut self, now: u64) {
        self.count(now, true);
        let evaluates = match self.last {
            None => true,
            Some((p, failing, until)) => p != 0 || failing || now >= until,
        };
        if evaluates {
            self.evaluate(now);
        }
    }

    fn failure(&mut self, now: u64) {
        self.count(now, false);
        self.evaluate(now);
    }
}

/// What a run saw: rejections, the expected rejections (the sum of the model's
/// probabilities at each admission) and their variance.
#[derive(Debug, Default)]
struct Tally {
    offered: u64,
    rejected: u64,
    expected: f64,
    variance: f64,
}

/// Runs `calls` calls, one per `step_ms`, through the breaker and the model with
/// a fresh draw state before every call; `backend(i, rng)` answers the admitted call
/// `i` (true: success). Every decision must match the model's.
fn run(
    rule: AdaptiveThrottle,
    calls: u64,
    step_ms: u64,
    mut backend: impl FnMut(u64, &mut XorShift) -> bool,
) -> (Tally, CircuitBreaker) {
    let (cb, clock) = rig(rule);
    let mut model = Model::new(rule);
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let mut answers = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut tally = Tally::default();
    for i in 0..calls {
        let now = i * step_ms;
        let start = rng.next();
        AdaptiveThrottle::set_thread_draws(start);
        let p = model.admission(now);
        let want_reject = p != 0 && first_draw(start) < p;
        let got = cb.call(|| {
            if backend(i, &mut answers) {
                Ok(())
            } else {
                Err(())
            }
        });
        let pf = f64::from(p) / 4_294_967_296.0;
        tally.offered += 1;
        tally.expected += pf;
        tally.variance += pf * (1.0 - pf);
        match got {
            Err(Error::Rejected(Rejected::Throttled)) => {
                assert!(
                    want_reject,
                    "call {i} at {now} ms: rejected, model p = {pf}"
                );
                tally.rejected += 1;
                model.rejected(now);
            }
            other => {
                assert!(
                    !want_reject,
                    "call {i} at {now} ms: admitted ({other:?}), model p = {pf}"
                );
                if other.is_ok() {
                    model.success(now);
                } else {
                    model.failure(now);
                }
            }
        }
        assert_eq!(cb.state(), State::Closed);
        clock.advance(ms(step_ms));
    }
    (tally, cb)
}

/// A backend that succeeds `percent` % of the calls it gets, at random.
fn flaky(percent: u64) -> impl FnMut(u64, &mut XorShift) -> bool {
    move |_, rng| rng.chance(percent)
}

/// A backend that serves at most `per_1000` calls per 1000 offered time steps
/// (a token bucket holding up to 10): beyond that every call fails.
fn capacity(per_1000: u64) -> impl FnMut(u64, &mut XorShift) -> bool {
    let mut tokens = 10_000u64; // thousandths of a call
    let mut last = 0u64;
    move |i, _| {
        tokens = (tokens + (i - last) * per_1000).min(10_000);
        last = i;
        if tokens >= 1000 {
            tokens -= 1000;
            true
        } else {
            false
        }
    }
}

/// Five standard deviations of the number of rejections (independent draws with
/// the model's probabilities: a Poisson binomial, variance sum p (1 - p)).
fn within_5_sigma(t: &Tally) {
    let bound = 5.0 * t.variance.sqrt() + 1.0;
    assert!(
        (t.rejected as f64 - t.expected).abs() <= bound,
        "{} rejected, {:.1} expected, 5 sigma = {:.1}",
        t.rejected,
        t.expected,
        bound
    );
}

#[test]
fn every_decision_matches_the_rule_over_many_windows() {
    // 1 s window in 10 buckets, one call per ms: 300 windows through health phases.
    let rule = AdaptiveThrottle::new(ms(1000))
        .with_buckets(10)
        .with_k(2.0)
        .with_min_requests(20);
    let mut rng = XorShift(7);
    let phase = |i: u64, _: &mut XorShift| {
        let percent = match (i / 20_000) % 6 {
            0 => 100,
            1 => 60,
            2 => 30,
            3 => 0,
            4 => 10,
            _ => 90,
        };
        rng.chance(percent)
    };
    let (t, _) = run(rule, 300_000, 1, phase);
    within_5_sigma(&t);
    assert!(t.rejected > 30_000, "the failing phases shed load: {t:?}");
}

#[test]
fn sheds_down_to_k_times_the_backends_capacity() {
    // A backend serving c of the offered calls: accepts settle at c * requests, so
    // the rule lets through about k * c of the offered calls and sheds the rest:
    // (requests - k * accepts) / requests = 1 - k c.
    for (per_1000, k) in [(100u64, 2.0), (250, 2.0), (200, 1.5), (400, 2.0)] {
        let rule = AdaptiveThrottle::new(ms(1000)).with_buckets(10).with_k(k);
        let (t, _) = run(rule, 60_000, 1, capacity(per_1000));
        within_5_sigma(&t);
        let c = per_1000 as f64 / 1000.0;
        let want = (1.0 - k * c).max(0.0);
        let share = t.rejected as f64 / t.offered as f64;
        assert!(
            (share - want).abs() < 0.03,
            "capacity {c}, k {k}: shed {share:.3}, want {want:.3}"
        );
    }
}

#[test]
fn a_backend_failing_at_random_is_shed_almost_entirely() {
    // Failing calls at random (not for lack of capacity): shedding does not raise
    // the share that succeeds, so the rule sheds until requests/(requests+1) bounds it.
    let rule = AdaptiveThrottle::new(ms(1000));
    let (t, _) = run(rule, 30_000, 1, flaky(20));
    within_5_sigma(&t);
    assert!(t.rejected as f64 > 0.8 * t.offered as f64, "{t:?}");
    // With k = 2 and more than half the calls succeeding, requests - 2 accepts
    // drifts below zero: once the window holds enough calls, nearly nothing is
    // shed (a random dip early in the first window may shed a few).
    let (t, _) = run(rule.with_min_requests(100), 30_000, 1, flaky(60));
    within_5_sigma(&t);
    assert!(t.rejected < 30, "{t:?}");
}

#[test]
fn below_the_minimum_nothing_is_rejected() {
    let rule = AdaptiveThrottle::new(ms(1000)).with_min_requests(50);
    let (cb, _clock) = rig(rule);
    AdaptiveThrottle::set_thread_draws(1);
    for i in 0..49 {
        assert_eq!(
            cb.call(|| Err::<(), _>(())),
            Err(Error::Inner(())),
            "call {i}: 49 requests are below the minimum of 50"
        );
    }
    // The 50th request: the window now holds 50 failures, so it sheds (p = 50/51).
    let _ = cb.call(|| Err::<(), _>(()));
    let rejected = (0..100)
        .filter(|_| cb.call(|| Err::<(), _>(())) == Err(Error::Rejected(Rejected::Throttled)))
        .count();
    assert!(rejected > 80, "{rejected}");
}

#[test]
fn the_cap_bounds_the_rejection_probability() {
    let rule = AdaptiveThrottle::new(ms(1000)).with_max_reject_percent(30);
    let (t, _) = run(rule, 20_000, 1, flaky(0));
    within_5_sigma(&t);
    let share = t.rejected as f64 / t.offered as f64;
    assert!((share - 0.3).abs() < 0.02, "{share}");

    let (t, _) = run(rule.with_max_reject_percent(0), 5_000, 1, flaky(0));
    assert_eq!(t.rejected, 0, "a cap of 0 never rejects");
}

#[test]
fn the_window_ages_bucket_by_bucket() {
    let rule = AdaptiveThrottle::new(ms(1000))
        .with_buckets(10)
        .with_min_requests(10);
    let (cb, clock) = rig(rule);
    AdaptiveThrottle::set_thread_draws(3);
    // Bucket 0: 300 successes. Bucket 5: 200 failures, never shed: requests 500 <
    // 2 * 300 accepts all along.
    for _ in 0..300 {
        assert_eq!(cb.call(|| Ok::<_, ()>(())), Ok(()));
    }
    clock.advance(ms(500));
    for i in 0..200 {
        assert_eq!(
            cb.call(|| Err::<(), _>(())),
            Err(Error::Inner(())),
            "call {i}"
        );
    }
    // Bucket 10: bucket 0 left the window, which now holds 200 failures. The first
    // admission still goes (no outcome in the new bucket evaluated the rule yet);
    // its failure re-evaluates, and nearly everything after it is shed.
    clock.advance(ms(500));
    assert_eq!(cb.call(|| Err::<(), _>(())), Err(Error::Inner(())));
    let rejected = (0..100)
        .filter(|_| cb.call(|| Err::<(), _>(())) == Err(Error::Rejected(Rejected::Throttled)))
        .count();
    assert!(rejected > 90, "{rejected}");
    // Bucket 21: bucket 10 left too; the window is empty and the next call goes.
    clock.advance(ms(1100));
    for i in 0..9 {
        assert_eq!(
            cb.call(|| Err::<(), _>(())),
            Err(Error::Inner(())),
            "call {i}"
        );
    }
}

#[test]
fn an_admission_in_a_new_bucket_re_evaluates() {
    let rule = AdaptiveThrottle::new(ms(100))
        .with_buckets(1)
        .with_min_requests(1);
    let (cb, clock) = rig(rule);
    for _ in 0..100 {
        let _ = cb.call(|| Err::<(), _>(()));
    }
    // p is near 1 here; a bucket later the window is empty, so the next call goes.
    clock.advance(ms(100));
    for start in 0..100 {
        AdaptiveThrottle::set_thread_draws(start);
        assert_eq!(cb.call(|| Ok::<_, ()>(())), Ok(()));
    }
}

#[test]
fn the_classifier_decides_what_an_accept_is() {
    let rule = AdaptiveThrottle::new(ms(1000)).with_min_requests(1);
    let (cb, _clock) = rig(rule);
    AdaptiveThrottle::set_thread_draws(9);
    // Every call errs, but a 404 means the backend answered: an accept.
    for _ in 0..1000 {
        let r = cb.call_with(|| Err::<(), u16>(404), |_| Outcome::Success);
        assert_eq!(r, Err(Error::Inner(404)));
    }
    // Ignored outcomes are neither requests nor accepts: still nothing shed.
    for _ in 0..1000 {
        let r = cb.call_with(|| Err::<(), u16>(429), |_| Outcome::Ignored);
        assert_eq!(r, Err(Error::Inner(429)));
    }
    // Failures: 1000 accepts allow about 2000 requests before shedding starts.
    let mut first = None;
    for i in 0..3000u32 {
        let r = cb.call_with(|| Err::<(), u16>(503), |_| Outcome::Failure);
        if r == Err(Error::Rejected(Rejected::Throttled)) {
            first.get_or_insert(i);
        }
    }
    let first = first.expect("shedding starts");
    assert!(first >= 1000, "shed after {first} failures");
}

#[test]
fn a_rejection_is_throttled_the_breaker_stays_closed_and_counts_skip_it() {
    let rule = AdaptiveThrottle::new(ms(1000)).with_min_requests(1);
    let (cb, _clock) = rig(rule);
    AdaptiveThrottle::set_thread_draws(11);
    let mut rejected = 0u32;
    for _ in 0..1000 {
        match cb.try_acquire() {
            Ok(permit) => permit.failure(),
            Err(r) => {
                assert_eq!(r, Rejected::Throttled);
                rejected += 1;
            }
        }
    }
    assert!(rejected > 900);
    assert_eq!(cb.state(), State::Closed);
    assert_eq!(Rejected::Throttled.state(), State::Closed);
    assert_eq!(
        Rejected::Throttled.to_string(),
        "circuit breaker is shedding load (adaptive throttle): call not made"
    );
    let c: Counts = cb.counts();
    assert_eq!(c.requests, 1000 - rejected, "requests are admitted calls");
    assert_eq!(c.total_failures, 1000 - rejected);
    let t = cb.totals();
    assert_eq!(
        (
            t.rejected_throttled,
            t.rejections(Rejected::Throttled),
            t.slow_calls
        ),
        (u64::from(rejected), u64::from(rejected), 0),
        "shed calls are counted as such, not as slow calls"
    );
}

#[test]
fn manual_commands_override_the_throttle() {
    let rule = AdaptiveThrottle::new(ms(1000)).with_min_requests(1);
    let (cb, _clock) = rig(rule);
    AdaptiveThrottle::set_thread_draws(5);
    for _ in 0..200 {
        let _ = cb.call(|| Err::<(), _>(()));
    }
    cb.force_open();
    assert_eq!(
        cb.call(|| Ok::<_, ()>(())),
        Err(Error::Rejected(Rejected::Open))
    );
    cb.force_closed();
    for _ in 0..200 {
        assert_eq!(cb.call(|| Err::<(), _>(())), Err(Error::Inner(())));
    }
    // Back to its rules: a new generation, an empty window.
    cb.reset();
    for i in 0..1 {
        assert_eq!(
            cb.call(|| Err::<(), _>(())),
            Err(Error::Inner(())),
            "call {i}"
        );
    }
}

#[test]
fn an_interval_starts_an_empty_window() {
    let clock = ManualClock::new();
    let cb = CircuitBreaker::builder("throttle")
        .adaptive_throttle(AdaptiveThrottle::new(ms(10_000)).with_min_requests(5))
        .interval(ms(100))
        .clock(clock.clone())
        .build()
        .unwrap();
    AdaptiveThrottle::set_thread_draws(13);
    let mut rejected = 0;
    for _ in 0..500 {
        if cb
            .call(|| Err::<(), _>(()))
            .is_err_and(|e| e.is_rejection())
        {
            rejected += 1;
        }
    }
    assert!(rejected > 400);
    clock.advance(ms(101));
    for i in 0..4 {
        assert_eq!(
            cb.call(|| Err::<(), _>(())),
            Err(Error::Inner(())),
            "call {i}"
        );
    }
}

#[test]
fn validation_names_the_field() {
    let err = |rule: AdaptiveThrottle| {
        CircuitBreaker::builder("x")
            .adaptive_throttle(rule)
            .build()
            .unwrap_err()
    };
    let base = AdaptiveThrottle::new(ms(1000));
    let field = |e: ConfigError| match e {
        ConfigError::OutOfRange { field, .. } | ConfigError::NotWholeMillis { field, .. } => field,
        ConfigError::Conflict { field, other } => {
            panic!("unexpected conflict {field} / {other}")
        }
        other => panic!("{other}"),
    };
    assert_eq!(
        field(err(AdaptiveThrottle::new(Duration::ZERO))),
        "adaptive.window"
    );
    assert_eq!(
        field(err(AdaptiveThrottle::new(Duration::from_micros(1500)))),
        "adaptive.window"
    );
    assert_eq!(
        field(err(AdaptiveThrottle::new(Duration::from_secs(u64::MAX)))),
        "adaptive.window"
    );
    assert_eq!(field(err(base.with_buckets(0))), "adaptive.buckets");
    assert_eq!(field(err(base.with_buckets(3))), "adaptive.buckets");
    assert_eq!(field(err(base.with_buckets(2000))), "adaptive.buckets");
    for k in [0.0, 0.999, -1.0, f64::NAN, f64::INFINITY] {
        assert_eq!(field(err(base.with_k(k))), "adaptive.k", "k = {k}");
    }
    assert_eq!(
        field(err(base.with_max_reject_percent(101))),
        "adaptive.max_reject_percent"
    );
    assert!(
        err(base.with_k(f64::NAN))
            .to_string()
            .contains("adaptive.k")
    );
    // The edges that are allowed.
    for ok in [
        base.with_k(1.0)
            .with_max_reject_percent(0)
            .with_min_requests(0),
        base.with_buckets(1000).with_max_reject_percent(100),
        AdaptiveThrottle::new(ms(1 << 39)).with_buckets(1),
    ] {
        CircuitBreaker::builder("x")
            .adaptive_throttle(ok)
            .build()
            .unwrap();
    }
}

#[test]
fn the_throttle_conflicts_with_the_other_trip_rules() {
    let t = AdaptiveThrottle::new(ms(1000));
    let conflict = |b: warden_breaker::Builder| match b.adaptive_throttle(t).build().unwrap_err() {
        ConfigError::Conflict { field, other } => (field, other),
        e => panic!("{e}"),
    };
    assert_eq!(
        conflict(CircuitBreaker::builder("x").ready_to_trip(|_| false)),
        ("adaptive", "ready_to_trip")
    );
    assert_eq!(
        conflict(CircuitBreaker::builder("x").time_window(TimeWindow::new(ms(1000)))),
        ("adaptive", "time_window")
    );
    assert_eq!(
        conflict(CircuitBreaker::builder("x").count_window(warden_breaker::CountWindow::new(10))),
        ("adaptive", "count_window")
    );
    assert_eq!(
        conflict(CircuitBreaker::builder("x").slow_calls(warden_breaker::SlowCalls::new(ms(1)))),
        ("adaptive", "slow_calls")
    );
}

/// A clock the test sets to any time, backwards included.
#[derive(Debug, Default)]
struct Settable(std::sync::atomic::AtomicU64);

#[derive(Debug)]
struct Shared(std::sync::Arc<Settable>);

impl warden_breaker::Clock for Shared {
    fn now_nanos(&self) -> u64 {
        // Relaxed: the test's one thread sets and reads it.
        self.0.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[test]
fn a_clock_stepping_back_stands_still() {
    let time = std::sync::Arc::new(Settable::default());
    let cb = CircuitBreaker::builder("throttle")
        .adaptive_throttle(AdaptiveThrottle::new(ms(1000)).with_min_requests(1))
        .clock(Shared(std::sync::Arc::clone(&time)))
        .build()
        .unwrap();
    let set = |ms: u64| {
        time.0
            .store(ms * 1_000_000, std::sync::atomic::Ordering::Relaxed)
    };
    AdaptiveThrottle::set_thread_draws(17);
    set(5000);
    for _ in 0..200 {
        let _ = cb.call(|| Err::<(), _>(()));
    }
    // Back 3 s: the window neither moves back nor ages; shedding goes on.
    set(2000);
    let rejected = (0..200)
        .filter(|_| {
            cb.call(|| Err::<(), _>(()))
                .is_err_and(|e| e.is_rejection())
        })
        .count();
    assert!(rejected > 150, "{rejected}");
}

/// A draw state whose first draw is below `p` (a fraction of 2^32).
fn draw_below(p: u32) -> u64 {
    (0u64..)
        .find(|&start| first_draw(start) < p)
        .expect("a draw state")
}

#[test]
fn a_new_k_applies_at_once_to_the_window_so_far() {
    let rule = AdaptiveThrottle::new(ms(10_000)).with_min_requests(1);
    let (cb, _clock) = rig(rule);
    for i in 0..20 {
        let _ = cb.call(|| if i % 2 == 0 { Ok(()) } else { Err(()) });
    }
    // requests 20, accepts 10: 20 - 2 * 10 = 0, nothing is shed at k = 2.
    let low = draw_below(u32::MAX / 10);
    AdaptiveThrottle::set_thread_draws(low);
    drop(cb.try_acquire().expect("nothing is shed at k = 2"));
    // Same window, k = 1: (20 - 10) / 21 = 48 % from the next admission, with no
    // outcome in between (the counts are kept).
    cb.reconfigure(CircuitBreaker::builder("throttle").adaptive_throttle(rule.with_k(1.0)))
        .unwrap();
    assert_eq!(cb.counts().total_failures, 10, "the window is kept");
    AdaptiveThrottle::set_thread_draws(low);
    assert_eq!(cb.try_acquire().map(drop), Err(Rejected::Throttled));
    // And a cap of 0 % stops the shedding at once.
    cb.reconfigure(
        CircuitBreaker::builder("throttle")
            .adaptive_throttle(rule.with_k(1.0).with_max_reject_percent(0)),
    )
    .unwrap();
    AdaptiveThrottle::set_thread_draws(low);
    assert!(cb.try_acquire().is_ok());
}

#[test]
fn to_and_from_a_throttle_a_new_shape_starts_fresh() {
    let shedding = |cb: &CircuitBreaker| {
        AdaptiveThrottle::set_thread_draws(23);
        (0..200)
            .filter(|_| {
                cb.call(|| Err::<(), _>(()))
                    .is_err_and(|e| e.is_rejection())
            })
            .count()
    };
    // From the default rule to a throttle: a new closed generation, and the
    // throttle decides from the next admission on.
    let clock = ManualClock::new();
    let cb = CircuitBreaker::builder("throttle")
        .clock(clock.clone())
        .build()
        .unwrap();
    let _ = cb.call(|| Err::<(), _>(()));
    let rule = AdaptiveThrottle::new(ms(1000)).with_min_requests(1);
    cb.reconfigure(CircuitBreaker::builder("throttle").adaptive_throttle(rule))
        .unwrap();
    assert_eq!(cb.counts(), Counts::default(), "fresh counts");
    assert!(shedding(&cb) > 150);
    assert_eq!(cb.state(), State::Closed, "a throttle never opens");
    let shed = cb.totals().rejected_throttled;
    assert!(shed > 150);

    // Other buckets (5 of 200 ms): fresh again, so an admission is not shed.
    cb.reconfigure(CircuitBreaker::builder("throttle").adaptive_throttle(rule.with_buckets(5)))
        .unwrap();
    assert_eq!(cb.counts(), Counts::default());
    AdaptiveThrottle::set_thread_draws(draw_below(u32::MAX / 100));
    assert!(cb.try_acquire().is_ok(), "an empty window sheds nothing");

    // A time window of the very same buckets is another kind of rule: fresh, and
    // it opens instead of shedding.
    cb.reconfigure(
        CircuitBreaker::builder("throttle").time_window(
            TimeWindow::new(ms(1000))
                .with_buckets(5)
                .with_min_calls(5)
                .with_failure_rate_percent(50),
        ),
    )
    .unwrap();
    assert_eq!(cb.counts(), Counts::default());
    for _ in 0..5 {
        let _ = cb.call(|| Err::<(), _>(()));
    }
    assert_eq!(cb.state(), State::Open);
    // The lifetime total of shed calls survives every reconfiguration.
    assert_eq!(cb.totals().rejected_throttled, shed);
}
