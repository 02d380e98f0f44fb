//! The default clock against real time: an open breaker reads half-open once its
//! timeout has passed, even in a process where quanta's own upkeep thread was
//! started and stopped (that froze `quanta::Instant::recent()`, which the default
//! clock used to read); slow calls timed on the ticker's published time, and their
//! admission leaving half-open and manual words to the general path, on every
//! thread. Bounded: about 1 s of sleeping in all.

use std::time::Duration;

use warden_breaker::{CircuitBreaker, Error, Rejected, SlowCalls, State};

fn tripped(timeout: Duration) -> CircuitBreaker {
    let cb = CircuitBreaker::builder("real")
        .timeout(timeout)
        .build()
        .expect("valid settings");
    for _ in 0..6 {
        let _ = cb.call(|| Err::<(), _>(()));
    }
    assert_eq!(cb.state(), State::Open);
    cb
}

#[test]
fn an_open_breaker_reads_half_open_once_its_timeout_passed() {
    // Someone in the process used quanta's upkeep and stopped it.
    drop(
        quanta::Upkeep::new(Duration::from_millis(1))
            .start()
            .expect("start quanta's upkeep"),
    );
    let cb = tripped(Duration::from_millis(500));
    assert!(matches!(
        cb.call(|| Ok::<_, ()>(())),
        Err(Error::Rejected(Rejected::Open))
    ));
    // Real time on purpose: the defect lived in the default clock itself (quanta's
    // `recent()` frozen), which a ManualClock replaces and so could never show.
    std::thread::sleep(Duration::from_millis(550));
    assert_eq!(cb.state(), State::HalfOpen, "550 ms into a 500 ms timeout");
}

#[test]
fn rejections_end_at_the_timeout() {
    let cb = tripped(Duration::from_millis(100));
    // Real time on purpose: only the default clock uses the ticker's published
    // time (a ManualClock never starts it), and that path is what is under test.
    std::thread::sleep(Duration::from_millis(150));
    // The first call after the timeout is the probe, whatever the ticker saw.
    assert_eq!(cb.call(|| Ok::<_, ()>(7)), Ok(7));
    assert_eq!(cb.state(), State::Closed);
}

#[test]
fn slow_calls_on_the_default_clock_are_timed_from_their_admission() {
    // Real time on purpose: a slow-call rule of 50 ms or more times its calls on the
    // time the ticker publishes, which only the default clock uses.
    let cb = CircuitBreaker::builder("slow")
        .slow_calls(
            SlowCalls::new(Duration::from_millis(50))
                .with_slow_rate_percent(50)
                .with_min_calls(4),
        )
        .build()
        .expect("valid settings");
    cb.call(|| Ok::<_, ()>(())).expect("closed");
    // Older than the threshold, and the ticker running: a call timed from anything
    // but its own admission (the breaker's start, say) would read as slow. Real time:
    // the ticker publishes the default clock's time, which no manual clock moves.
    std::thread::sleep(Duration::from_millis(120));
    for _ in 0..4 {
        cb.call(|| Ok::<_, ()>(())).expect("closed");
    }
    assert_eq!(cb.totals().slow_calls, 0, "fast calls timed as slow");
    assert_eq!(cb.state(), State::Closed);
    cb.call(|| {
        // A slow call in real time: the ticker's published time must move under it.
        std::thread::sleep(Duration::from_millis(80));
        Ok::<_, ()>(())
    })
    .expect("closed");
    assert_eq!(
        cb.totals().slow_calls,
        1,
        "an 80 ms call against a 50 ms threshold"
    );
    assert_eq!(cb.state(), State::Closed, "1 slow call of 6");
}

#[test]
fn slow_calls_on_the_default_clock_admit_only_closed_words_as_closed() {
    // Real time on purpose: the slow-call rule's admission on the ticker's time
    // (default clock only) must leave every word but the plain closed one to the
    // general path: half-open slots and manual modes are decided there.
    let cb = CircuitBreaker::builder("slow probes")
        .slow_calls(SlowCalls::new(Duration::from_millis(50)))
        .ready_to_trip(|c| c.consecutive_failures >= 1)
        .timeout(Duration::from_millis(30))
        .max_requests(1)
        .build()
        .expect("valid settings");
    assert!(cb.try_acquire().expect("closed").admitted_in() == State::Closed);
    cb.try_acquire().expect("closed").failure();
    assert_eq!(cb.try_acquire().map(drop), Err(Rejected::Open));
    // Real time past the 30 ms timeout: on the default clock (the only one whose time
    // the ticker publishes) nothing else moves the breaker's time.
    std::thread::sleep(Duration::from_millis(60));
    let probe = cb.try_acquire().expect("the timeout passed: a probe");
    assert_eq!(probe.admitted_in(), State::HalfOpen);
    assert_eq!(
        cb.try_acquire().map(drop),
        Err(Rejected::TooManyRequests),
        "one probe slot"
    );
    probe.success();
    assert_eq!(cb.state(), State::Closed);
    cb.force_open();
    assert_eq!(
        cb.try_acquire().map(drop),
        Err(Rejected::Open),
        "forced open"
    );
    cb.force_closed();
    cb.try_acquire().expect("forced closed").success();
    cb.reset();
    cb.try_acquire().expect("closed again").success();
    assert_eq!(cb.state(), State::Closed);
}

#[test]
fn slow_calls_on_the_default_clock_are_timed_on_threads_past_the_direct_cells() {
    // Six threads at once: at least two have no direct counter cell (there are
    // four), and their admissions take the general path, which must time them too.
    const THREADS: usize = 6;
    let cb = CircuitBreaker::builder("slow threads")
        .slow_calls(SlowCalls::new(Duration::from_millis(50)).with_min_calls(1_000))
        .build()
        .expect("valid settings");
    let start = std::sync::Barrier::new(THREADS);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                start.wait();
                cb.call(|| Ok::<_, ()>(())).expect("closed");
                cb.call(|| {
                    // Real time: these calls are timed on the ticker's published
                    // time, which only the default clock has.
                    std::thread::sleep(Duration::from_millis(70));
                    Ok::<_, ()>(())
                })
                .expect("closed");
            });
        }
    });
    assert_eq!(cb.counts().requests, 2 * THREADS as u32);
    assert_eq!(cb.totals().successes, 2 * THREADS as u64);
    assert_eq!(
        cb.totals().slow_calls,
        THREADS as u64,
        "every 70 ms call, on every thread"
    );
}

#[test]
fn refusals_of_an_open_breaker_are_counted_on_every_thread() {
    // The default clock: while the breaker is open the ticker publishes the time, and
    // a refusal is decided on it alone (its own short path), on direct cells and on
    // threads past them (six threads).
    let cb = std::sync::Arc::new(tripped(Duration::from_secs(60)));
    let before = cb.totals().rejected_open;
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let cb = std::sync::Arc::clone(&cb);
            std::thread::spawn(move || {
                for _ in 0..1_000 {
                    assert_eq!(cb.try_acquire().map(drop), Err(Rejected::Open));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("no thread panicked");
    }
    assert_eq!(cb.totals().rejected_open - before, 6_000);
    // Forced open: refused on the same short path, and counted the same way.
    cb.force_open();
    for _ in 0..100 {
        assert!(matches!(
            cb.call(|| Ok::<_, ()>(())),
            Err(Error::Rejected(Rejected::Open))
        ));
    }
    assert_eq!(cb.totals().rejected_open - before, 6_100);
    assert_eq!(cb.state(), State::Open);
}
