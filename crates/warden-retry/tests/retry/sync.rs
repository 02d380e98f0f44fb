//! The synchronous driver: attempt counting, retry_if, on_retry, deadline,
//! until_success, aggregation and Display, retention, fallback, observer.

use std::sync::Arc;
use std::time::Duration;

use warden_breaker::ManualClock;
use warden_retry::{
    Backoff, Jitter, ManualSleeper, Retention, RetryError, RetryObserver, RetryPolicy, StopReason,
    retry, with_fallback,
};

use crate::{Log, LogSleeper, ms};

fn constant(attempts: u32, wait: Duration) -> warden_retry::RetryPolicyBuilder<String> {
    RetryPolicy::builder()
        .max_attempts(attempts)
        .base_delay(wait)
        .backoff(Backoff::Constant)
        .jitter(Jitter::None)
}

#[test]
fn attempts_count_calls() {
    for n in 1..=6 {
        let sleeper = ManualSleeper::new();
        let p = constant(n, ms(10))
            .sleeper(sleeper.clone())
            .build()
            .unwrap();
        let mut calls = 0;
        let err = retry(&p, || {
            calls += 1;
            Err::<(), _>(format!("e{calls}"))
        })
        .unwrap_err();
        assert_eq!(calls, n);
        assert_eq!(err.attempts(), n);
        assert_eq!(err.reason(), StopReason::Exhausted);
        // No wait after the last attempt.
        assert_eq!(sleeper.sleeps(), vec![ms(10); n as usize - 1]);
    }
}

#[test]
fn success_returns_the_value_and_stops() {
    let sleeper = ManualSleeper::new();
    let p = constant(5, ms(10))
        .sleeper(sleeper.clone())
        .build()
        .unwrap();
    let mut calls = 0;
    let v = retry(&p, || {
        calls += 1;
        if calls == 3 {
            Ok(calls * 10)
        } else {
            Err(format!("e{calls}"))
        }
    });
    assert_eq!(v, Ok(30));
    assert_eq!(calls, 3);
    assert_eq!(sleeper.sleeps(), [ms(10), ms(10)]);
}

#[test]
fn first_time_success_never_waits() {
    let sleeper = ManualSleeper::new();
    let p = constant(3, ms(10))
        .sleeper(sleeper.clone())
        .build()
        .unwrap();
    assert_eq!(retry(&p, || Ok::<_, String>(1)), Ok(1));
    assert!(sleeper.sleeps().is_empty());
}

#[test]
fn zero_waits_do_not_call_the_sleeper() {
    let sleeper = ManualSleeper::new();
    let p = constant(4, Duration::ZERO)
        .sleeper(sleeper.clone())
        .build()
        .unwrap();
    let _ = retry(&p, || Err::<(), _>(String::new()));
    assert!(sleeper.sleeps().is_empty());
}

#[test]
fn retry_if_stops_on_the_first_non_retryable_error() {
    let sleeper = ManualSleeper::new();
    let p = constant(10, ms(1))
        .sleeper(sleeper.clone())
        .retry_if(|e: &String| e.starts_with("transient"))
        .build()
        .unwrap();
    let script = ["transient 1", "transient 2", "fatal", "transient 3"];
    let mut calls = 0;
    let err = retry(&p, || {
        calls += 1;
        Err::<(), _>(script[calls - 1].to_string())
    })
    .unwrap_err();
    assert_eq!(calls, 3);
    assert_eq!(err.reason(), StopReason::NotRetryable);
    assert_eq!(
        err.clone().into_errors(),
        ["transient 1", "transient 2", "fatal"]
    );
    assert_eq!(sleeper.sleeps().len(), 2); // no wait after the fatal error
    assert_eq!(
        err.to_string(),
        "gave up after 3 attempts (error not retryable): #1: transient 1; #2: transient 2; #3: fatal"
    );
}

#[test]
fn on_retry_runs_before_each_wait_with_attempt_error_and_wait() {
    let log = Log::default();
    let hook_log = log.clone();
    let p = RetryPolicy::builder()
        .max_attempts(4)
        .base_delay(ms(10))
        .backoff(Backoff::Linear)
        .jitter(Jitter::None)
        .sleeper(LogSleeper(log.clone()))
        .on_retry(move |attempt, e: &String, wait| {
            hook_log.push(format!("on_retry {attempt} {e} {wait:?}"))
        })
        .build()
        .unwrap();
    let mut calls = 0;
    let _ = retry(&p, || {
        calls += 1;
        log.push(format!("call {calls}"));
        Err::<(), _>(format!("e{calls}"))
    });
    assert_eq!(
        log.take(),
        [
            "call 1",
            "on_retry 1 e1 10ms",
            "sleep 10ms",
            "call 2",
            "on_retry 2 e2 20ms",
            "sleep 20ms",
            "call 3",
            "on_retry 3 e3 30ms",
            "sleep 30ms",
            "call 4", // no on_retry after the last attempt
        ]
    );
}

#[test]
fn on_retry_is_not_called_when_the_run_stops() {
    let log = Log::default();
    let hook_log = log.clone();
    let p = constant(5, ms(1))
        .sleeper(ManualSleeper::new())
        .retry_if(|e: &String| e != "stop")
        .on_retry(move |n, _e: &String, _w| hook_log.push(format!("on_retry {n}")))
        .build()
        .unwrap();
    let mut calls = 0;
    let _ = retry(&p, || {
        calls += 1;
        Err::<(), _>(if calls == 2 {
            "stop".into()
        } else {
            "again".to_string()
        })
    });
    assert_eq!(log.take(), ["on_retry 1"]);
}

#[test]
fn deadline_stops_before_a_wait_that_would_pass_it() {
    let clock = ManualClock::new();
    let sleeper = ManualSleeper::with_clock(clock.clone());
    let p = constant(10, ms(1000))
        .max_elapsed(ms(2500))
        .sleeper(sleeper.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    let mut calls = 0;
    let err = retry(&p, || {
        calls += 1;
        Err::<(), _>(format!("e{calls}"))
    })
    .unwrap_err();
    // Calls at 0, 1, 2 s; the wait after the third would end at 3 s > 2.5 s.
    assert_eq!(calls, 3);
    assert_eq!(err.reason(), StopReason::Deadline);
    assert_eq!(sleeper.sleeps(), [ms(1000), ms(1000)]);
    assert_eq!(
        err.to_string(),
        "gave up after 3 attempts (total time limit reached): #1: e1; #2: e2; #3: e3"
    );
}

#[test]
fn deadline_counts_the_time_calls_take() {
    let clock = ManualClock::new();
    let p = constant(10, ms(1000))
        .max_elapsed(ms(2500))
        .sleeper(ManualSleeper::with_clock(clock.clone()))
        .clock(clock.clone())
        .build()
        .unwrap();
    let mut calls = 0;
    let err = retry(&p, || {
        calls += 1;
        clock.advance(ms(600)); // each call takes 600 ms
        Err::<(), _>(String::from("slow"))
    })
    .unwrap_err();
    // 0–0.6 call, 1.6–2.2 call, next wait would end at 3.2 s.
    assert_eq!((calls, err.reason()), (2, StopReason::Deadline));
}

#[test]
fn a_wait_ending_exactly_at_the_deadline_is_allowed() {
    let clock = ManualClock::new();
    let p = constant(10, ms(1000))
        .max_elapsed(ms(2000))
        .sleeper(ManualSleeper::with_clock(clock.clone()))
        .clock(clock.clone())
        .build()
        .unwrap();
    let err = retry(&p, || Err::<(), _>(String::from("x"))).unwrap_err();
    assert_eq!(err.attempts(), 3); // at 0, 1 and 2 s
}

#[test]
fn until_success_retries_without_a_count_then_hits_its_deadline() {
    let clock = ManualClock::new();
    let sleeper = ManualSleeper::with_clock(clock.clone());
    let p = RetryPolicy::builder()
        .until_success(ms(3500))
        .base_delay(ms(1000))
        .backoff(Backoff::Constant)
        .jitter(Jitter::None)
        .sleeper(sleeper.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    let mut calls = 0;
    let err = retry(&p, || {
        calls += 1;
        Err::<(), _>(format!("e{calls}"))
    })
    .unwrap_err();
    assert_eq!((calls, err.reason()), (4, StopReason::Deadline));
    // Only the last error is kept by default in this mode, with its number.
    assert_eq!(
        err.to_string(),
        "gave up after 4 attempts (total time limit reached): #4: e4"
    );

    let clock = ManualClock::new();
    let p = p
        .to_builder()
        .until_success(Duration::from_secs(3600))
        .sleeper(ManualSleeper::with_clock(clock.clone()))
        .clock(clock)
        .build()
        .unwrap();
    let mut calls = 0;
    let v = retry(&p, || {
        calls += 1;
        if calls == 50 {
            Ok(calls)
        } else {
            Err(String::from("not yet"))
        }
    });
    assert_eq!(v, Ok(50));
}

#[test]
fn display_of_every_stop_reason() {
    let single = RetryPolicy::builder().max_attempts(1).build().unwrap();
    let one: RetryError<&str> = retry(&single, || Err::<(), _>("boom")).unwrap_err();
    assert_eq!(one.to_string(), "the only attempt failed: #1: boom");

    let p = RetryPolicy::builder()
        .max_attempts(3)
        .base_delay(Duration::ZERO)
        .build()
        .unwrap();
    let mut n = 0;
    let all = retry(&p, || {
        n += 1;
        Err::<(), _>(format!("timeout after {n}s"))
    })
    .unwrap_err();
    assert_eq!(
        all.to_string(),
        "all 3 attempts failed: #1: timeout after 1s; #2: timeout after 2s; #3: timeout after 3s"
    );

    let last_only = p.to_builder().retention(Retention::Last).build().unwrap();
    let mut n = 0;
    let err = retry(&last_only, || {
        n += 1;
        Err::<(), _>(format!("e{n}"))
    })
    .unwrap_err();
    assert_eq!(err.to_string(), "all 3 attempts failed: #3: e3");
    assert_eq!(
        (err.kept(), err.last().as_str(), err.attempts()),
        (1, "e3", 3)
    );
    assert_eq!(err.numbered().collect::<Vec<_>>(), [(3, &"e3".to_string())]);

    let not_retryable = RetryPolicy::builder()
        .retry_if(|_: &&str| false)
        .build()
        .unwrap();
    let err = retry(&not_retryable, || Err::<(), _>("400 bad request")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "gave up after 1 attempt (error not retryable): #1: 400 bad request"
    );
    // No source: the messages are in Display already.
    assert!(std::error::Error::source(&err).is_none());
}

#[test]
fn errors_are_kept_in_order_and_accessible() {
    let p = constant(4, Duration::ZERO).build().unwrap();
    let mut n = 0;
    let err = retry(&p, || {
        n += 1;
        Err::<(), _>(format!("e{n}"))
    })
    .unwrap_err();
    assert_eq!(
        err.iter().map(String::as_str).collect::<Vec<_>>(),
        ["e1", "e2", "e3", "e4"]
    );
    assert_eq!(
        err.numbered()
            .map(|(i, e)| format!("{i}={e}"))
            .collect::<Vec<_>>(),
        ["1=e1", "2=e2", "3=e3", "4=e4"]
    );
    assert_eq!(err.last(), "e4");
    assert_eq!(err.kept(), 4);
    assert_eq!(err.into_last(), "e4");
}

#[test]
fn fallback_runs_only_on_failure_and_sees_the_error() {
    let p = constant(2, Duration::ZERO).build().unwrap();
    let mut fallback_calls = 0;
    let ok = with_fallback(
        || retry(&p, || Ok::<_, String>(1)),
        |_| {
            fallback_calls += 1;
            Ok::<_, String>(2)
        },
    );
    assert_eq!((ok, fallback_calls), (Ok(1), 0));

    let served = with_fallback(
        || retry(&p, || Err::<u32, _>(String::from("down"))),
        |err| Ok::<_, String>(err.attempts() * 100),
    );
    assert_eq!(served, Ok(200));

    let failed = with_fallback(
        || retry(&p, || Err::<u32, _>(String::from("down"))),
        |err| Err(format!("fallback failed too after: {err}")),
    );
    assert_eq!(
        failed,
        Err("fallback failed too after: all 2 attempts failed: #1: down; #2: down".into())
    );
}

#[derive(Default)]
struct Events(Log);

impl RetryObserver for Events {
    fn on_attempt(&self, attempt: u32) {
        self.0.push(format!("attempt {attempt}"));
    }
    fn on_retry(&self, attempt: u32, wait: Duration) {
        self.0.push(format!("retry {attempt} {wait:?}"));
    }
    fn on_success(&self, attempts: u32) {
        self.0.push(format!("success {attempts}"));
    }
    fn on_give_up(&self, attempts: u32, reason: StopReason) {
        self.0.push(format!("give up {attempts} {reason}"));
    }
}

#[test]
fn observer_sees_every_attempt_retry_and_outcome() {
    let events = Arc::new(Events::default());
    let p = constant(3, ms(5))
        .sleeper(ManualSleeper::new())
        .observer(events.clone())
        .build()
        .unwrap();
    let _ = retry(&p, || Err::<(), _>(String::new()));
    assert_eq!(
        events.0.take(),
        [
            "attempt 1",
            "retry 1 5ms",
            "attempt 2",
            "retry 2 5ms",
            "attempt 3",
            "give up 3 attempts exhausted"
        ]
    );
    let mut calls = 0;
    let _ = retry(&p, || {
        calls += 1;
        if calls == 2 {
            Ok(())
        } else {
            Err(String::new())
        }
    });
    assert_eq!(
        events.0.take(),
        ["attempt 1", "retry 1 5ms", "attempt 2", "success 2"]
    );
}

#[test]
fn extreme_settings_do_not_panic() {
    let clock = ManualClock::new();
    for jitter in [
        Jitter::None,
        Jitter::Full,
        Jitter::Equal,
        Jitter::Decorrelated,
    ] {
        for backoff in [
            Backoff::Constant,
            Backoff::Linear,
            Backoff::Exponential { factor: u32::MAX },
        ] {
            let p = RetryPolicy::builder()
                .max_attempts(6)
                .base_delay(Duration::MAX)
                .max_delay(Duration::MAX)
                .backoff(backoff)
                .jitter(jitter)
                .max_elapsed(Duration::MAX)
                .sleeper(ManualSleeper::with_clock(clock.clone()))
                .clock(clock.clone())
                .build()
                .unwrap();
            let err = retry(&p, || Err::<(), _>(0u8)).unwrap_err();
            assert!(err.attempts() >= 1);
        }
    }
}
