//! Builder validation (every field, at its boundaries), presets, to_builder.

use std::time::Duration;

use warden_retry::{
    Backoff, ConfigError, DEFAULT_MAX_DELAY, Jitter, Retention, RetryBudget, RetryPolicy,
};

use crate::ms;

fn field(err: ConfigError) -> &'static str {
    err.field()
}

#[test]
fn attempts_must_be_at_least_one() {
    let err = RetryPolicy::<()>::builder()
        .max_attempts(0)
        .build()
        .unwrap_err();
    assert_eq!(field(err.clone()), "max_attempts");
    assert!(err.to_string().contains("until_success"), "{err}");
    assert_eq!(
        RetryPolicy::<()>::builder()
            .max_attempts(1)
            .build()
            .unwrap()
            .max_attempts(),
        Some(1)
    );
    assert_eq!(
        RetryPolicy::<()>::builder()
            .max_attempts(u32::MAX)
            .build()
            .unwrap()
            .max_attempts(),
        Some(u32::MAX)
    );
}

#[test]
fn until_success_needs_a_deadline() {
    let err = RetryPolicy::<()>::builder()
        .until_success(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(field(err), "until_success");
    let p = RetryPolicy::<()>::builder()
        .until_success(Duration::from_nanos(1))
        .build()
        .unwrap();
    assert_eq!(p.max_attempts(), None);
    assert_eq!(p.max_elapsed(), Some(Duration::from_nanos(1)));
    assert_eq!(p.retention(), Retention::Last);
    // An explicit max_elapsed wins over the deadline, and retention can be set.
    let p = RetryPolicy::<()>::builder()
        .until_success(ms(500))
        .max_elapsed(ms(200))
        .retention(Retention::All)
        .build()
        .unwrap();
    assert_eq!(
        (p.max_elapsed(), p.retention()),
        (Some(ms(200)), Retention::All)
    );
    // The last of max_attempts / until_success wins; the deadline stays as max_elapsed.
    let p = RetryPolicy::<()>::builder()
        .until_success(ms(500))
        .max_attempts(2)
        .build()
        .unwrap();
    assert_eq!(
        (p.max_attempts(), p.max_elapsed()),
        (Some(2), Some(ms(500)))
    );
    // to_builder of an until_success policy accepts a new deadline.
    let p = p.to_builder().until_success(ms(900)).build().unwrap();
    assert_eq!((p.max_attempts(), p.max_elapsed()), (None, Some(ms(900))));
}

#[test]
fn max_elapsed_must_be_positive() {
    let err = RetryPolicy::<()>::builder()
        .max_elapsed(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(field(err), "max_elapsed");
    assert!(
        RetryPolicy::<()>::builder()
            .max_elapsed(Duration::from_nanos(1))
            .build()
            .is_ok()
    );
}

#[test]
fn max_delay_must_cover_the_base() {
    let err = RetryPolicy::<()>::builder()
        .base_delay(ms(100))
        .max_delay(ms(99))
        .build()
        .unwrap_err();
    assert_eq!(
        err,
        ConfigError::OutOfRange {
            field: "max_delay",
            value: "99ms".into(),
            allowed: "at least base_delay",
        }
    );
    let p = RetryPolicy::<()>::builder()
        .base_delay(ms(100))
        .max_delay(ms(100))
        .build()
        .unwrap();
    assert_eq!(p.max_delay(), ms(100));
    // Unset: 30 s, or the base when longer.
    let p = RetryPolicy::<()>::builder().build().unwrap();
    assert_eq!(p.max_delay(), DEFAULT_MAX_DELAY);
    let p = RetryPolicy::<()>::builder()
        .base_delay(Duration::MAX)
        .build()
        .unwrap();
    assert_eq!(p.max_delay(), Duration::MAX);
}

#[test]
fn exponential_factor_must_be_at_least_two() {
    for factor in [0, 1] {
        let err = RetryPolicy::<()>::builder()
            .backoff(Backoff::Exponential { factor })
            .build()
            .unwrap_err();
        assert_eq!(field(err), "backoff.factor");
    }
    for factor in [2, u32::MAX] {
        assert!(
            RetryPolicy::<()>::builder()
                .backoff(Backoff::Exponential { factor })
                .build()
                .is_ok()
        );
    }
}

#[test]
fn budget_settings_are_validated() {
    let window = |d| RetryBudget::builder().window(d).build().map(|_| ());
    assert_eq!(window(ms(999)).unwrap_err().field(), "window");
    assert!(window(Duration::from_secs(1)).is_ok());
    assert!(window(Duration::from_secs(3600)).is_ok());
    assert_eq!(
        window(Duration::from_secs(3601)).unwrap_err().field(),
        "window"
    );

    let ratio = |r| RetryBudget::builder().retry_ratio(r).build().map(|_| ());
    for bad in [-0.001, 1000.001, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert_eq!(ratio(bad).unwrap_err().field(), "retry_ratio", "{bad}");
    }
    for good in [0.0, 0.001, 1.0, 1000.0] {
        assert!(ratio(good).is_ok(), "{good}");
    }
    assert!(RetryBudget::builder().min_per_sec(u32::MAX).build().is_ok());
}

#[test]
fn config_error_display_names_field_value_and_range() {
    let err = RetryPolicy::<()>::builder()
        .backoff(Backoff::Exponential { factor: 1 })
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid backoff.factor: 1 is outside the allowed range 2..=4294967295 (use Backoff::Constant for no growth)"
    );
}

#[test]
fn presets_match_the_seed() {
    let d = RetryPolicy::<()>::default();
    assert_eq!((d.max_attempts(), d.base_delay()), (Some(3), ms(100)));
    assert_eq!(
        (d.backoff(), d.jitter()),
        (Backoff::exponential(), Jitter::Equal)
    );
    let k = RetryPolicy::<()>::kafka();
    assert_eq!(
        (k.max_attempts(), k.base_delay(), k.max_delay()),
        (Some(5), ms(200), ms(5000))
    );
    assert_eq!(
        (k.backoff(), k.jitter()),
        (Backoff::exponential(), Jitter::Full)
    );
    let c = RetryPolicy::<()>::clickhouse();
    assert_eq!(
        (c.max_attempts(), c.base_delay(), c.max_delay()),
        (Some(4), ms(150), ms(2000))
    );
    assert_eq!(
        (c.backoff(), c.jitter()),
        (Backoff::exponential(), Jitter::Equal)
    );
    for p in [d, k, c] {
        assert_eq!(p.max_elapsed(), None);
        assert_eq!(p.retention(), Retention::Ends(warden_retry::DEFAULT_KEPT));
        assert!(!p.retries_rejections());
        assert!(p.is_retryable(&()));
    }
    // The builder starts from default().
    let b = RetryPolicy::<()>::builder().build().unwrap();
    let d = RetryPolicy::<()>::default();
    assert_eq!(format!("{b:?}"), format!("{d:?}"));
}

#[test]
fn to_builder_keeps_settings_and_hooks() {
    let p = RetryPolicy::builder()
        .until_success(ms(700))
        .base_delay(ms(3))
        .max_delay(ms(9))
        .backoff(Backoff::Linear)
        .jitter(Jitter::Decorrelated)
        .retry_if(|e: &u8| *e > 1)
        .retry_rejections(true)
        .build()
        .unwrap();
    let q = p.to_builder().build().unwrap();
    assert_eq!(format!("{p:?}"), format!("{q:?}"));
    assert!(q.is_retryable(&2) && !q.is_retryable(&1));
    let r = p.to_builder().max_attempts(2).build().unwrap();
    assert_eq!(r.max_attempts(), Some(2));
}
