//! `events::Tracing` under a capturing subscriber: one event per state change
//! with its target, level and fields, and one rejection summary per breaker and
//! transition, however many calls were refused.
#![cfg(feature = "tracing")]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};
use warden_breaker::{AdaptiveThrottle, CircuitBreaker, Error, ManualClock, Rejected, State};
use warden_telemetry::events::{REJECTIONS_TARGET, STATE_TARGET, Tracing};

#[derive(Debug, Clone, PartialEq)]
struct Captured {
    target: String,
    level: Level,
    fields: BTreeMap<String, String>,
}

/// Keeps every event; spans are not used.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Captured>>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);
impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.to_string());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        // Display: the shortest text that parses back to the same value.
        self.0.insert(field.name().to_owned(), value.to_string());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.0.lock().unwrap().push(Captured {
            target: event.metadata().target().to_owned(),
            level: *event.metadata().level(),
            fields,
        });
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn state_changes_and_rate_limited_rejections_are_events() {
    let capture = Capture::default();
    let events = capture.0.clone();
    tracing::subscriber::with_default(capture, || {
        let clock = ManualClock::new();
        let tracing = Arc::new(Tracing::new());
        let hook = Arc::clone(&tracing);
        let cb = Arc::new(
            CircuitBreaker::builder("db")
                .ready_to_trip(|c| c.consecutive_failures >= 1)
                .timeout(Duration::from_millis(10))
                .clock(clock.clone())
                .on_state_change(move |name, from, to| hook.on_state_change(name, from, to))
                .build()
                .unwrap(),
        );
        tracing.watch(&cb);
        let _ = cb.call(|| Err::<(), _>("down")); // closed -> open
        for _ in 0..1000 {
            assert!(cb.call(|| Ok::<_, ()>(())).is_err());
        }
        clock.advance(Duration::from_millis(11));
        let probe = cb.try_acquire().unwrap(); // open -> half-open
        assert!(cb.try_acquire().is_err()); // too many requests
        probe.success(); // half-open -> closed
        assert_eq!(cb.state(), State::Closed);
    });
    let events = events.lock().unwrap().clone();
    let state = |from, to| {
        fields(&[
            ("breaker", "db"),
            ("from", from),
            ("to", to),
            ("message", "circuit breaker state changed"),
        ])
    };
    let expected = vec![
        Captured {
            target: STATE_TARGET.into(),
            level: Level::WARN,
            fields: state("closed", "open"),
        },
        Captured {
            target: STATE_TARGET.into(),
            level: Level::INFO,
            fields: state("open", "half_open"),
        },
        // The 1000 rejections while open: one summary, at the end of the open state.
        Captured {
            target: REJECTIONS_TARGET.into(),
            level: Level::DEBUG,
            fields: fields(&[
                ("breaker", "db"),
                ("state", "open"),
                ("open", "1000"),
                ("too_many_requests", "0"),
                ("throttled", "0"),
                ("total", "1000"),
                ("message", "circuit breaker rejected calls"),
            ]),
        },
        Captured {
            target: STATE_TARGET.into(),
            level: Level::INFO,
            fields: state("half_open", "closed"),
        },
        Captured {
            target: REJECTIONS_TARGET.into(),
            level: Level::DEBUG,
            fields: fields(&[
                ("breaker", "db"),
                ("state", "half_open"),
                ("open", "0"),
                ("too_many_requests", "1"),
                ("throttled", "0"),
                ("total", "1001"),
                ("message", "circuit breaker rejected calls"),
            ]),
        },
    ];
    assert_eq!(events, expected);
}

#[test]
fn a_periodic_report_summarizes_a_long_open_state_once() {
    let capture = Capture::default();
    let events = capture.0.clone();
    tracing::subscriber::with_default(capture, || {
        let tracing = Tracing::new();
        let cb = Arc::new(CircuitBreaker::builder("db").build().unwrap());
        cb.force_open(); // before watching: not reported
        let _ = cb.call(|| Ok::<_, ()>(()));
        tracing.watch(&cb);
        assert!(!tracing.report("db"));
        for _ in 0..5 {
            let _ = cb.call(|| Ok::<_, ()>(()));
        }
        assert_eq!(tracing.report_all(), 1);
        assert_eq!(tracing.report_all(), 0, "nothing new");
        drop(cb);
        assert_eq!(tracing.report_all(), 0, "a dropped breaker is forgotten");
    });
    let events = events.lock().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].fields["open"], "5");
    assert_eq!(events[0].fields["total"], "6");
}

#[test]
fn calls_shed_by_a_throttle_are_summarized_by_reports_and_transitions() {
    let capture = Capture::default();
    let events = capture.0.clone();
    let mut shed = Vec::new();
    let mut probability = 0.0;
    tracing::subscriber::with_default(capture, || {
        let tracing = Arc::new(Tracing::new());
        let hook = Arc::clone(&tracing);
        let cb = Arc::new(
            CircuitBreaker::builder("api")
                .adaptive_throttle(AdaptiveThrottle::new(Duration::from_secs(10)))
                .clock(ManualClock::new())
                .on_state_change(move |name, from, to| hook.on_state_change(name, from, to))
                .build()
                .unwrap(),
        );
        tracing.watch(&cb);
        AdaptiveThrottle::set_thread_draws(3);
        let fail = |calls| {
            (0..calls)
                .filter(|_| {
                    cb.call(|| Err::<(), _>("503")) == Err(Error::Rejected(Rejected::Throttled))
                })
                .count()
        };
        assert_eq!(fail(5), 0, "fewer requests than the minimum");
        assert_eq!(tracing.report_all(), 0, "nothing shed yet");
        shed.push(fail(100));
        assert!(shed[0] > 50, "{shed:?}");
        // The throttle never changes the state: a periodic report tells, with
        // how hard it sheds now.
        probability = cb.throttle_probability();
        assert!(probability > 0.5, "{probability}");
        assert_eq!(tracing.report_all(), 1);
        assert_eq!(tracing.report_all(), 0, "nothing new");
        shed.push(fail(100));
        assert!(shed[1] > 50, "{shed:?}");
        cb.force_open(); // the transition summarizes the closed state's rejections
        assert_eq!(tracing.report_all(), 0, "already reported");
    });
    let events = events.lock().unwrap();
    let summaries: Vec<_> = events
        .iter()
        .filter(|e| e.target == REJECTIONS_TARGET)
        .map(|e| e.fields.clone())
        .collect();
    // The probability then, and 0 at the transition away from closed.
    let summary = |throttled: usize, total: usize, probability: f64| {
        fields(&[
            ("throttle_probability", &probability.to_string()),
            ("breaker", "api"),
            ("state", "closed"),
            ("open", "0"),
            ("too_many_requests", "0"),
            ("throttled", &throttled.to_string()),
            ("total", &total.to_string()),
            ("message", "circuit breaker rejected calls"),
        ])
    };
    assert_eq!(
        summaries,
        [
            summary(shed[0], shed[0], probability),
            summary(shed[1], shed[0] + shed[1], 0.0)
        ]
    );
}

#[test]
fn a_periodic_reporting_thread_summarizes_what_a_throttle_shed() {
    // The reporting thread emits to the global subscriber (the other tests
    // here set their own for their thread, which wins there).
    let capture = Capture::default();
    let events = capture.0.clone();
    tracing::subscriber::set_global_default(capture).unwrap();
    let tracing = Arc::new(Tracing::new());
    let cb = Arc::new(
        CircuitBreaker::builder("shedding")
            .adaptive_throttle(AdaptiveThrottle::new(Duration::from_secs(10)))
            .clock(ManualClock::new())
            .build()
            .unwrap(),
    );
    tracing.watch(&cb);
    AdaptiveThrottle::set_thread_draws(5);
    let shed = (0..100)
        .filter(|_| cb.call(|| Err::<(), _>("503")) == Err(Error::Rejected(Rejected::Throttled)))
        .count();
    assert!(shed > 50, "{shed}");
    // The thread reports once at once; dropping the handle returns after that
    // report (the hour-long period never elapses).
    drop(tracing.every(Duration::from_secs(3600)).unwrap());
    assert_eq!(tracing.report_all(), 0, "already reported by the thread");
    let summaries: Vec<_> = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.target == REJECTIONS_TARGET && e.fields["breaker"] == "shedding")
        .map(|e| (e.fields["throttled"].clone(), e.fields["state"].clone()))
        .collect();
    assert_eq!(summaries, [(shed.to_string(), "closed".to_owned())]);
}
