//! Every backoff and jitter formula against hand-computed values, the cap, and
//! overflow at huge attempt numbers.

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::SmallRng;
use warden_retry::{Backoff, Jitter, RetryPolicy};

use crate::{HI, LO, MID, Seq, ms};

fn waits(policy: &RetryPolicy<()>, n: usize) -> Vec<Duration> {
    policy.delays().take(n).collect()
}

fn policy(backoff: Backoff, jitter: Jitter, draws: &[u64]) -> RetryPolicy<()> {
    let seq = Seq::new(draws);
    RetryPolicy::builder()
        .max_attempts(100)
        .base_delay(ms(100))
        .max_delay(ms(1000))
        .backoff(backoff)
        .jitter(jitter)
        .rng(move || seq.clone())
        .build()
        .unwrap()
}

#[test]
fn constant_linear_exponential_without_jitter() {
    let constant = policy(Backoff::Constant, Jitter::None, &[LO]);
    assert_eq!(waits(&constant, 4), [ms(100); 4]);

    let linear = policy(Backoff::Linear, Jitter::None, &[LO]);
    assert_eq!(
        waits(&linear, 12),
        [
            100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1000, 1000
        ]
        .map(ms)
    );

    let doubling = policy(Backoff::exponential(), Jitter::None, &[LO]);
    assert_eq!(
        waits(&doubling, 6),
        [100, 200, 400, 800, 1000, 1000].map(ms)
    );

    let tripling = policy(Backoff::Exponential { factor: 3 }, Jitter::None, &[LO]);
    assert_eq!(waits(&tripling, 4), [100, 300, 900, 1000].map(ms));
}

#[test]
fn max_delay_caps_exactly_at_the_boundary() {
    let p = RetryPolicy::<()>::builder()
        .max_attempts(5)
        .base_delay(ms(100))
        .max_delay(ms(400))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    // 100, 200, 400 (== cap, not above it), then capped.
    assert_eq!(waits(&p, 4), [100, 200, 400, 400].map(ms));
}

#[test]
fn full_jitter_draws_in_zero_to_the_backoff() {
    // Backoff 100, 200, 400 ms; draws low, high, midpoint.
    let p = policy(Backoff::exponential(), Jitter::Full, &[LO, HI, MID]);
    // 0; 200 ms; ⌊(400_000_000 + 1) / 2⌋ ns = 200 ms.
    assert_eq!(waits(&p, 3), [ms(0), ms(200), ms(200)]);
}

#[test]
fn equal_jitter_keeps_half_and_draws_the_rest() {
    let p = policy(Backoff::exponential(), Jitter::Equal, &[LO, HI, MID]);
    // 50 + 0; 100 + 100; 200 + ⌊(200_000_000 + 1) / 2⌋ ns = 300 ms.
    assert_eq!(waits(&p, 3), [ms(50), ms(200), ms(300)]);
}

#[test]
fn equal_jitter_on_an_odd_number_of_nanoseconds() {
    let p = RetryPolicy::<()>::builder()
        .base_delay(Duration::from_nanos(7))
        .backoff(Backoff::Constant)
        .jitter(Jitter::Equal)
        .rng(|| Seq::new(&[LO, HI]))
        .build()
        .unwrap();
    // half = 3, rest drawn in [0, 4]: 3 and 7.
    assert_eq!(
        waits(&p, 2),
        [Duration::from_nanos(3), Duration::from_nanos(7)]
    );
}

#[test]
fn decorrelated_jitter_grows_from_the_previous_wait() {
    // base 100 ms, cap 1 s; each wait is uniform in [100 ms, 3 × previous].
    let p = policy(
        Backoff::Constant,
        Jitter::Decorrelated,
        &[HI, HI, MID, LO, HI],
    );
    // [100, 300] → 300; [100, 900] → 900; [100, 2700] → 100 + 1300 = 1400 → capped 1000;
    // [100, 3000] → 100; [100, 300] → 300.
    assert_eq!(waits(&p, 5), [300, 900, 1000, 100, 300].map(ms));
}

#[test]
fn decorrelated_ignores_the_backoff_kind() {
    let a = policy(Backoff::Constant, Jitter::Decorrelated, &[MID, HI, LO]);
    let b = policy(Backoff::Linear, Jitter::Decorrelated, &[MID, HI, LO]);
    assert_eq!(waits(&a, 6), waits(&b, 6));
}

#[test]
fn seeded_jitter_stays_in_its_bounds_and_varies() {
    let base = ms(10);
    let max = ms(5000);
    for jitter in [Jitter::Full, Jitter::Equal, Jitter::Decorrelated] {
        let p = RetryPolicy::<()>::builder()
            .max_attempts(2000)
            .base_delay(base)
            .max_delay(max)
            .jitter(jitter)
            .rng(|| SmallRng::seed_from_u64(0x5eed))
            .build()
            .unwrap();
        let got: Vec<Duration> = p.delays().collect();
        assert_eq!(got.len(), 1999);
        let mut previous = base;
        for (i, d) in got.iter().enumerate() {
            let k = i as u32 + 1;
            let ceiling = Backoff::exponential().delay(base, max, k);
            match jitter {
                Jitter::Full => assert!(*d <= ceiling, "{jitter:?} #{k}: {d:?} > {ceiling:?}"),
                Jitter::Equal => assert!(
                    *d >= ceiling / 2 && *d <= ceiling,
                    "{jitter:?} #{k}: {d:?} outside [{:?}, {ceiling:?}]",
                    ceiling / 2
                ),
                _ => {
                    let hi = (previous * 3).min(max);
                    assert!(
                        *d >= base && *d <= hi,
                        "#{k}: {d:?} outside [{base:?}, {hi:?}]"
                    );
                    previous = *d;
                }
            }
        }
        // Randomness is there: the capped tail is not one repeated value.
        let mut tail: Vec<_> = got[100..].to_vec();
        tail.sort();
        tail.dedup();
        assert!(
            tail.len() > 300,
            "{jitter:?}: only {} distinct waits",
            tail.len()
        );
        // And the same seed gives the same waits.
        assert!(p.delays().eq(got.iter().copied()));
    }
}

#[test]
fn unseeded_runs_draw_different_sequences() {
    let p = RetryPolicy::<()>::builder()
        .max_attempts(20)
        .jitter(Jitter::Full)
        .build()
        .unwrap();
    let a: Vec<_> = p.delays().collect();
    let b: Vec<_> = p.delays().collect();
    assert_ne!(a, b);
}

#[test]
fn no_overflow_at_any_attempt_number() {
    let huge = Duration::MAX;
    for backoff in [
        Backoff::Constant,
        Backoff::Linear,
        Backoff::exponential(),
        Backoff::Exponential { factor: u32::MAX },
    ] {
        for retry in [
            0,
            1,
            2,
            63,
            64,
            65,
            127,
            128,
            129,
            1 << 20,
            u32::MAX - 1,
            u32::MAX,
        ] {
            let d = backoff.delay(ms(1), ms(30_000), retry);
            assert!(d <= ms(30_000), "{backoff:?} {retry}");
            assert_eq!(
                backoff.delay(huge, huge, retry),
                huge,
                "{backoff:?} {retry}"
            );
        }
        assert_eq!(
            backoff.delay(Duration::ZERO, huge, u32::MAX),
            Duration::ZERO
        );
    }
    let ns = Duration::from_nanos(1);
    // 2^93 ns is below Duration::MAX (~2^94 ns): exact. 2^94 ns is above: capped.
    assert_eq!(
        Backoff::exponential()
            .delay(ns, Duration::MAX, 94)
            .as_nanos(),
        1u128 << 93
    );
    assert_eq!(
        Backoff::exponential().delay(ns, Duration::MAX, 95),
        Duration::MAX
    );
    assert_eq!(
        Backoff::Linear.delay(Duration::from_secs(u64::MAX / 2), Duration::MAX, 3),
        Duration::MAX
    );
    // Retry 0 is treated as retry 1.
    assert_eq!(Backoff::Linear.delay(ms(5), ms(100), 0), ms(5));
    assert_eq!(Backoff::exponential().delay(ms(5), ms(100), 0), ms(5));
}

#[test]
fn jitter_on_delays_beyond_u64_nanoseconds_does_not_panic() {
    for jitter in [
        Jitter::None,
        Jitter::Full,
        Jitter::Equal,
        Jitter::Decorrelated,
    ] {
        let p = RetryPolicy::<()>::builder()
            .max_attempts(200)
            .base_delay(Duration::MAX)
            .max_delay(Duration::MAX)
            .jitter(jitter)
            .rng(|| Seq::new(&[HI]))
            .build()
            .unwrap();
        let last = p.delays().last().unwrap();
        match jitter {
            Jitter::None => assert_eq!(last, Duration::MAX),
            // Jitter works in u64 nanoseconds (584 years).
            _ => assert_eq!(last, Duration::from_nanos(u64::MAX)),
        }
    }
}

#[test]
fn until_success_delays_are_endless_and_capped() {
    let p = RetryPolicy::<()>::builder()
        .until_success(Duration::from_secs(60))
        .base_delay(ms(1))
        .max_delay(ms(50))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    assert_eq!(p.delays().nth(100_000), Some(ms(50)));
}
