//! What a long run keeps: bounded errors, O(1) waits.

use std::time::{Duration, Instant};

use warden_retry::{DEFAULT_KEPT, DelayCursor, Jitter, Retention, RetryPolicy, retry};

#[test]
fn a_long_run_keeps_the_first_and_last_errors_only() {
    let policy = RetryPolicy::builder()
        .max_attempts(100_000)
        .base_delay(Duration::ZERO)
        .build()
        .unwrap();
    let mut n = 0u32;
    let err = retry(&policy, || {
        n += 1;
        Err::<(), _>(n)
    })
    .unwrap_err();
    let kept = 2 * DEFAULT_KEPT as usize;
    assert_eq!(err.kept(), kept);
    assert_eq!(err.dropped() as usize, 100_000 - kept);
    let numbered: Vec<(u32, u32)> = err.numbered().map(|(i, e)| (i, *e)).collect();
    assert_eq!(numbered.len(), kept);
    assert!(
        numbered.iter().all(|(i, e)| i == e),
        "numbers match attempts"
    );
    assert_eq!(numbered[9], (10, 10));
    assert_eq!(numbered[10], (100_000 - 9, 100_000 - 9));
    let shown = err.to_string();
    assert!(
        shown.contains("#10: 10; (99980 more); #99991: 99991"),
        "{shown}"
    );
    assert!(shown.len() < 400);
}

#[test]
fn all_and_last_keep_what_they_say() {
    let run = |r: Retention| {
        let p = RetryPolicy::builder()
            .max_attempts(5)
            .base_delay(Duration::ZERO)
            .retention(r)
            .build()
            .unwrap();
        let mut n = 0;
        let e = retry(&p, || {
            n += 1;
            Err::<(), _>(n)
        })
        .unwrap_err();
        (
            e.kept(),
            e.dropped(),
            e.numbered().map(|(i, _)| i).collect::<Vec<_>>(),
        )
    };
    assert_eq!(run(Retention::All), (5, 0, vec![1, 2, 3, 4, 5]));
    assert_eq!(run(Retention::Last), (1, 4, vec![5]));
    assert_eq!(run(Retention::Ends(0)), (1, 4, vec![5]));
    assert_eq!(run(Retention::Ends(1)), (2, 3, vec![1, 5]));
    assert_eq!(run(Retention::Ends(3)), (5, 0, vec![1, 2, 3, 4, 5]));
}

#[test]
fn a_delay_cursor_draws_in_constant_time() {
    let p = RetryPolicy::<()>::builder()
        .until_success(Duration::from_secs(1))
        .jitter(Jitter::Decorrelated)
        .rng_seed(3)
        .build()
        .unwrap();
    let mut cursor = DelayCursor::new();
    let mut delays = p.delays();
    let start = Instant::now();
    for _ in 0..200_000 {
        assert_eq!(Some(cursor.next_wait(&p)), delays.next());
    }
    // O(1) each: 200k draws take milliseconds (O(k) would be 2·10¹⁰ steps).
    assert!(start.elapsed() < Duration::from_secs(20));
}
