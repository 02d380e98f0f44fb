//! `metrics_facade::MetricsFacade` into metrics-util's `DebuggingRecorder`:
//! the families set from the totals at transitions and by `export`, never
//! per call.
#![cfg(feature = "metrics")]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::{CompositeKey, MetricKind};
use warden_breaker::{AdaptiveThrottle, CircuitBreaker, Error, ManualClock, Rejected, State};
use warden_telemetry::metrics_facade::MetricsFacade;

type Values = BTreeMap<(String, Vec<(String, String)>), f64>;

fn values(snapshotter: &Snapshotter) -> Values {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value): (CompositeKey, _, _, DebugValue)| {
            let (kind, key) = key.into_parts();
            let mut labels: Vec<_> = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            labels.sort();
            let v = match (kind, value) {
                (MetricKind::Counter, DebugValue::Counter(c)) => c as f64,
                (MetricKind::Gauge, DebugValue::Gauge(g)) => g.into_inner(),
                other => panic!("unexpected {other:?}"),
            };
            ((key.name().to_owned(), labels), v)
        })
        .collect()
}

fn get(v: &Values, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut labels: Vec<_> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    labels.sort();
    v.get(&(name.to_owned(), labels)).copied()
}

#[test]
fn families_follow_the_totals_at_transitions_and_on_export() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let clock = ManualClock::new();
        let facade = Arc::new(MetricsFacade::new());
        let hook = Arc::clone(&facade);
        let cb = Arc::new(
            CircuitBreaker::builder("db")
                .ready_to_trip(|c| c.consecutive_failures >= 2)
                .timeout(Duration::from_millis(10))
                .clock(clock.clone())
                .on_state_change(move |name, from, to| hook.on_state_change(name, from, to))
                .build()
                .unwrap(),
        );
        facade.watch(&cb);
        for _ in 0..3 {
            cb.call(|| Ok::<_, ()>(())).unwrap();
        }
        // Calls alone export nothing: the successes are not there yet.
        let v = values(&snapshotter);
        let name = [("name", "db")];
        assert_eq!(
            get(&v, "warden_circuit_breaker_successes_total", &name),
            Some(0.0)
        );

        for _ in 0..2 {
            let _ = cb.call(|| Err::<(), _>(())); // the second trips: exported
        }
        let v = values(&snapshotter);
        assert_eq!(get(&v, "warden_circuit_breaker_state", &name), Some(1.0));
        assert_eq!(
            get(&v, "warden_circuit_breaker_successes_total", &name),
            Some(3.0)
        );
        assert_eq!(
            get(&v, "warden_circuit_breaker_failures_total", &name),
            Some(2.0)
        );
        let edge = |from, to| {
            get(
                &v,
                "warden_circuit_breaker_transitions_total",
                &[("from", from), ("name", "db"), ("to", to)],
            )
        };
        assert_eq!(edge("closed", "open"), Some(1.0));
        assert_eq!(edge("open", "half_open"), Some(0.0));

        for _ in 0..4 {
            let _ = cb.call(|| Ok::<_, ()>(()));
        }
        clock.advance(Duration::from_millis(11));
        assert_eq!(facade.export(), 1); // the state read turns it half-open
        let v = values(&snapshotter);
        assert_eq!(get(&v, "warden_circuit_breaker_state", &name), Some(2.0));
        let reason = |r| {
            get(
                &v,
                "warden_circuit_breaker_rejections_total",
                &[("name", "db"), ("reason", r)],
            )
        };
        assert_eq!(reason("open"), Some(4.0));
        assert_eq!(reason("too_many_requests"), Some(0.0));
        assert_eq!(cb.state(), State::HalfOpen);
    });
}

#[test]
fn a_periodic_export_runs_and_stops_when_dropped() {
    // The exporting thread records into the global recorder (the other tests
    // here install their own for their thread, which wins there).
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();
    let facade = Arc::new(MetricsFacade::new());
    let cb = Arc::new(CircuitBreaker::builder("periodic").build().unwrap());
    facade.watch(&cb);
    for _ in 0..2 {
        cb.call(|| Ok::<_, ()>(())).unwrap();
    }
    let successes = |s: &Snapshotter| {
        get(
            &values(s),
            "warden_circuit_breaker_successes_total",
            &[("name", "periodic")],
        )
    };
    assert_eq!(successes(&snapshotter), Some(0.0), "exported when watched");
    // The thread exports once at once; dropping the handle joins it after
    // that export (the hour-long period never elapses).
    drop(facade.every(Duration::from_secs(3600)).unwrap());
    assert_eq!(successes(&snapshotter), Some(2.0));
    drop(cb);
    assert_eq!(facade.export(), 0, "a dropped breaker is forgotten");
}

#[test]
fn caller_counts_are_exported_with_the_breaker() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let facade = MetricsFacade::new();
        let cb = Arc::new(CircuitBreaker::builder("db").build().unwrap());
        let counts = facade.watch(&cb);
        let name = [("name", "db")];
        let bulkhead = [("name", "db"), ("reason", "bulkhead_full")];
        let v = values(&snapshotter);
        assert_eq!(
            get(&v, "warden_circuit_breaker_timeouts_total", &name),
            Some(0.0)
        );
        assert_eq!(
            get(&v, "warden_circuit_breaker_rejections_total", &bulkhead),
            Some(0.0)
        );
        assert_eq!(get(&v, "warden_retry_attempts_total", &name), None);

        counts.record_timeout();
        counts.record_bulkhead_rejection();
        counts.record_bulkhead_rejection();
        counts.record_attempt();
        counts.record_attempt();
        counts.record_retry();
        // Recorded counts alone export nothing: the next export does.
        assert_eq!(
            get(
                &values(&snapshotter),
                "warden_circuit_breaker_timeouts_total",
                &name
            ),
            Some(0.0)
        );
        assert_eq!(facade.export(), 1);
        let v = values(&snapshotter);
        assert_eq!(
            get(&v, "warden_circuit_breaker_timeouts_total", &name),
            Some(1.0)
        );
        assert_eq!(
            get(&v, "warden_circuit_breaker_rejections_total", &bulkhead),
            Some(2.0)
        );
        assert_eq!(get(&v, "warden_retry_attempts_total", &name), Some(2.0));
        assert_eq!(get(&v, "warden_retry_retries_total", &name), Some(1.0));
    });
}

#[test]
fn throttled_rejections_are_exported_once_a_throttle_sheds() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let facade = MetricsFacade::new();
        let cb = Arc::new(
            CircuitBreaker::builder("api")
                .adaptive_throttle(AdaptiveThrottle::new(Duration::from_secs(10)))
                .clock(ManualClock::new())
                .build()
                .unwrap(),
        );
        facade.watch(&cb);
        let rejections = "warden_circuit_breaker_rejections_total";
        let throttled = [("name", "api"), ("reason", "throttled")];
        AdaptiveThrottle::set_thread_draws(3);
        // Fewer requests than the minimum (10): every call runs, nothing is shed.
        for _ in 0..5 {
            assert_eq!(cb.call(|| Err::<(), _>("503")), Err(Error::Inner("503")));
        }
        assert_eq!(facade.export(), 1);
        let v = values(&snapshotter);
        assert_eq!(
            get(&v, rejections, &throttled),
            None,
            "no throttled series before a call was shed"
        );
        assert_eq!(
            get(&v, rejections, &[("name", "api"), ("reason", "open")]),
            Some(0.0)
        );
        let probability = "warden_circuit_breaker_throttle_probability";
        assert_eq!(get(&v, probability, &[("name", "api")]), Some(0.0));
        let shed = (0..100)
            .filter(|_| {
                cb.call(|| Err::<(), _>("503")) == Err(Error::Rejected(Rejected::Throttled))
            })
            .count() as f64;
        assert!(shed > 50.0, "{shed}");
        assert_eq!(facade.export(), 1);
        let v = values(&snapshotter);
        assert_eq!(get(&v, rejections, &throttled), Some(shed));
        // The debugging recorder's snapshot takes what the counters hold: the
        // failures since the last one (5 before it, 105 - shed in all).
        assert_eq!(
            get(
                &v,
                "warden_circuit_breaker_failures_total",
                &[("name", "api")]
            ),
            Some(100.0 - shed)
        );
        // The probability at the export, exactly.
        assert!(cb.throttle_probability() > 0.5);
        assert_eq!(
            get(&v, probability, &[("name", "api")]),
            Some(cb.throttle_probability())
        );
    });
}

#[test]
fn a_throttle_reconfigured_away_leaves_its_gauge_at_zero() {
    // A recorder that keeps a gauge's last value, as production exporters do.
    let recorder = Kept::default();
    metrics::with_local_recorder(&recorder, || {
        let facade = MetricsFacade::new();
        let cb = Arc::new(
            CircuitBreaker::builder("api")
                .adaptive_throttle(AdaptiveThrottle::new(Duration::from_secs(10)))
                .clock(ManualClock::new())
                .build()
                .unwrap(),
        );
        facade.watch(&cb);
        AdaptiveThrottle::set_thread_draws(3);
        for _ in 0..40 {
            let _ = cb.call(|| Err::<(), _>("503"));
        }
        assert!(cb.throttle_probability() > 0.5);
        assert_eq!(facade.export(), 1);
        let probability = "warden_circuit_breaker_throttle_probability";
        let name = [("name", "api")];
        assert_eq!(
            recorder.gauge(probability, &name),
            Some(cb.throttle_probability())
        );
        // The same breaker, its trip rule now gobreaker's default: nothing is shed.
        cb.reconfigure(CircuitBreaker::builder("api")).unwrap();
        assert_eq!(cb.throttle_probability(), 0.0);
        assert_eq!(facade.export(), 1);
        assert_eq!(
            recorder.gauge(probability, &name),
            Some(0.0),
            "the gauge kept the shedding probability of a throttle that is gone"
        );
    });
}

/// A recorder that keeps every counter as the production exporters built on
/// `metrics-util` do (`metrics-exporter-prometheus` among them): one
/// `AtomicU64` per series for the process's life, where `absolute` keeps the
/// largest value it was ever given and `increment` adds.
/// Gauges likewise: the last value set, for the process's life.
#[derive(Default)]
struct Kept {
    counters: std::sync::Mutex<BTreeMap<String, Arc<std::sync::atomic::AtomicU64>>>,
    gauges: std::sync::Mutex<BTreeMap<String, Arc<std::sync::atomic::AtomicU64>>>,
}

fn key_of(name: &str, labels: &[(&str, &str)]) -> String {
    let key = metrics::Key::from_parts(
        name.to_owned(),
        labels
            .iter()
            .map(|(k, v)| metrics::Label::new(k.to_string(), v.to_string()))
            .collect::<Vec<_>>(),
    );
    format!("{key:?}")
}

impl Kept {
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.counters
            .lock()
            .unwrap()
            .get(&key_of(name, labels))
            .map_or(0, |c| c.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// The gauge's last value (`None` if it was never registered).
    fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.gauges
            .lock()
            .unwrap()
            .get(&key_of(name, labels))
            .map(|g| f64::from_bits(g.load(std::sync::atomic::Ordering::Relaxed)))
    }
}

impl metrics::Recorder for Kept {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        let c = self
            .counters
            .lock()
            .unwrap()
            .entry(format!("{key:?}"))
            .or_default()
            .clone();
        metrics::Counter::from_arc(c)
    }
    fn register_gauge(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        let g = self
            .gauges
            .lock()
            .unwrap()
            .entry(format!("{key:?}"))
            .or_default()
            .clone();
        metrics::Gauge::from_arc(g)
    }
    fn register_histogram(
        &self,
        _: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

/// A name whose breaker is replaced (a registry evicting an idle name and
/// creating it again, a service rebuilding a breaker) keeps counting where the
/// old one left off in a recorder that keeps its counters: the new breaker's
/// successes, failures, rejections and transitions are added, as are the
/// caller's counts recorded after the replacement. Setting each counter to the
/// new breaker's lifetime total (`absolute`) left them stuck at the old
/// breaker's totals in such a recorder until the new one caught up: here 5
/// successes and 1 failure of the new breaker were never seen.
#[test]
fn a_replaced_breaker_keeps_adding_to_its_names_counters() {
    let recorder = Kept::default();
    metrics::with_local_recorder(&recorder, || {
        let facade = MetricsFacade::new();
        let old = Arc::new(
            CircuitBreaker::builder("db")
                .ready_to_trip(|c| c.consecutive_failures >= 1)
                .build()
                .unwrap(),
        );
        let counts = facade.watch(&old);
        for _ in 0..10 {
            old.call(|| Ok::<_, ()>(())).unwrap();
        }
        let _ = old.call(|| Err::<(), _>(())); // trips
        let _ = old.call(|| Ok::<_, ()>(())); // refused: open
        counts.record_timeout();
        assert_eq!(facade.export(), 1);
        drop(old);

        let new = Arc::new(
            CircuitBreaker::builder("db")
                .ready_to_trip(|c| c.consecutive_failures >= 1)
                .build()
                .unwrap(),
        );
        let kept = facade.watch(&new);
        assert!(Arc::ptr_eq(&kept, &counts), "the name keeps its counts");
        for _ in 0..5 {
            new.call(|| Ok::<_, ()>(())).unwrap();
        }
        let _ = new.call(|| Err::<(), _>(())); // trips
        let _ = new.call(|| Ok::<_, ()>(())); // refused: open
        counts.record_timeout();
        assert_eq!(facade.export(), 1);
        // Exporting again adds nothing.
        assert_eq!(facade.export(), 1);

        let name = [("name", "db")];
        let counter = |family: &str, labels: &[(&str, &str)]| recorder.get(family, labels);
        assert_eq!(counter("warden_circuit_breaker_successes_total", &name), 15);
        assert_eq!(counter("warden_circuit_breaker_failures_total", &name), 2);
        assert_eq!(counter("warden_circuit_breaker_timeouts_total", &name), 2);
        assert_eq!(
            counter(
                "warden_circuit_breaker_rejections_total",
                &[("name", "db"), ("reason", "open")]
            ),
            2
        );
        assert_eq!(
            counter(
                "warden_circuit_breaker_transitions_total",
                &[("name", "db"), ("from", "closed"), ("to", "open")]
            ),
            2
        );
    });
}

/// A recorder that keeps the state gauge's value, and makes the thread named
/// `exporter` wait, when it looks that gauge up, until the test lets it go: an
/// export that read the state and is about to set the gauge, held there while a
/// transition happens.
struct HeldState {
    value: Arc<Mutex<f64>>,
    entered: Mutex<std::sync::mpsc::Sender<()>>,
    release: Mutex<std::sync::mpsc::Receiver<()>>,
}

struct HeldGauge(Arc<HeldState>);

impl metrics::GaugeFn for HeldGauge {
    fn increment(&self, _: f64) {}
    fn decrement(&self, _: f64) {}
    fn set(&self, value: f64) {
        *self.0.value.lock().unwrap() = value;
    }
}

struct HeldRecorder(Arc<HeldState>);

impl metrics::Recorder for HeldRecorder {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        metrics::Counter::noop()
    }
    fn register_gauge(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        if key.name() == "warden_circuit_breaker_state" {
            // The exporter looks its gauge up after reading the state, before
            // setting it: it waits here.
            if std::thread::current().name() == Some("exporter") {
                let _ = self.0.entered.lock().unwrap().send(());
                let _ = self.0.release.lock().unwrap().recv();
            }
            metrics::Gauge::from_arc(Arc::new(HeldGauge(Arc::clone(&self.0))))
        } else {
            metrics::Gauge::noop()
        }
    }
    fn register_histogram(
        &self,
        _: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

/// A periodic export that read the state just before a transition, and sets
/// the state gauge only after the transition's own export set it, does not
/// put the old state back: the gauge follows the transitions in order, as the
/// module promises for a facade installed as the breakers' callback. It used
/// to show the breaker closed while it was open, until the next export.
#[test]
fn an_export_racing_a_transition_never_sets_the_state_back() {
    let (entered_tx, entered) = std::sync::mpsc::channel();
    let (release, release_rx) = std::sync::mpsc::channel();
    let state = Arc::new(HeldState {
        value: Arc::new(Mutex::new(f64::NAN)),
        entered: Mutex::new(entered_tx),
        release: Mutex::new(release_rx),
    });
    let recorder = HeldRecorder(Arc::clone(&state));
    let facade = Arc::new(MetricsFacade::new());
    let hook = Arc::clone(&facade);
    let cb = Arc::new(
        CircuitBreaker::builder("db")
            .ready_to_trip(|c| c.consecutive_failures >= 1)
            .on_state_change(move |name, from, to| hook.on_state_change(name, from, to))
            .build()
            .unwrap(),
    );
    metrics::with_local_recorder(&recorder, || facade.watch(&cb));
    assert_eq!(*state.value.lock().unwrap(), 0.0);
    std::thread::scope(|s| {
        let exporter = std::thread::Builder::new()
            .name("exporter".into())
            .spawn_scoped(s, || {
                metrics::with_local_recorder(&recorder, || facade.export());
            })
            .unwrap();
        // The export read "closed" and waits to set it; the breaker trips and
        // its callback exports "open".
        entered
            .recv_timeout(Duration::from_secs(10))
            .expect("the export sets the state gauge");
        metrics::with_local_recorder(&recorder, || {
            let _ = cb.call(|| Err::<(), _>("down"));
        });
        assert_eq!(cb.state(), State::Open);
        assert_eq!(*state.value.lock().unwrap(), 1.0);
        // The held export goes on (at most one wait: it looks the gauge up once).
        let _ = release.send(());
        exporter.join().unwrap();
    });
    assert_eq!(
        *state.value.lock().unwrap(),
        1.0,
        "the gauge went back to closed while the breaker is open"
    );
}

/// Watching the same breaker again (idempotent, as before counters were added
/// to) adds nothing twice: the name's counters stay the breaker's totals.
#[test]
fn watching_the_same_breaker_again_counts_nothing_twice() {
    let recorder = Kept::default();
    metrics::with_local_recorder(&recorder, || {
        let facade = MetricsFacade::new();
        let cb = Arc::new(CircuitBreaker::builder("db").build().unwrap());
        let counts = facade.watch(&cb);
        for _ in 0..3 {
            cb.call(|| Ok::<_, ()>(())).unwrap();
        }
        counts.record_timeout();
        assert_eq!(facade.export(), 1);
        facade.watch(&cb);
        facade.watch_with(&cb, &counts);
        assert_eq!(facade.export(), 1);
        let name = [("name", "db")];
        assert_eq!(
            recorder.get("warden_circuit_breaker_successes_total", &name),
            3
        );
        assert_eq!(
            recorder.get("warden_circuit_breaker_timeouts_total", &name),
            1
        );
    });
}

/// Watching a breaker again while an export of it runs adds nothing twice: the
/// export in flight adds the successes it reads to what the name was watched
/// with, and the next export used to add them again from a copy the watch made
/// before they were added.
#[test]
fn watching_the_same_breaker_again_during_an_export_counts_nothing_twice() {
    use std::sync::mpsc;
    let recorder = Kept::default();
    let clock = ManualClock::new();
    let (entered_tx, entered) = mpsc::channel::<()>();
    let (release, release_rx) = mpsc::channel::<()>();
    let hold = Arc::new(Mutex::new(Some((entered_tx, release_rx))));
    let h = Arc::clone(&hold);
    // Its move to half-open waits once, inside the export that reads the state.
    let cb = Arc::new(
        CircuitBreaker::builder("db")
            .ready_to_trip(|c| c.consecutive_failures >= 1)
            .timeout(Duration::from_secs(1))
            .clock(clock.clone())
            .on_state_change(move |_, _, to| {
                let held = if to == State::HalfOpen {
                    h.lock().unwrap().take()
                } else {
                    None
                };
                if let Some((entered, release)) = held {
                    entered.send(()).unwrap();
                    let _ = release.recv_timeout(Duration::from_secs(10));
                }
            })
            .build()
            .unwrap(),
    );
    let facade = MetricsFacade::new();
    metrics::with_local_recorder(&recorder, || {
        facade.watch(&cb);
        for _ in 0..3 {
            cb.call(|| Ok::<_, ()>(())).unwrap();
        }
        let _ = cb.call(|| Err::<(), _>(())); // trips
        facade.export();
    });
    let name = [("name", "db")];
    assert_eq!(
        recorder.get("warden_circuit_breaker_successes_total", &name),
        3
    );
    clock.advance(Duration::from_secs(2)); // the next state read moves it to half-open
    std::thread::scope(|s| {
        let exporter = s.spawn(|| metrics::with_local_recorder(&recorder, || facade.export()));
        entered
            .recv_timeout(Duration::from_secs(10))
            .expect("the export reads the state");
        metrics::with_local_recorder(&recorder, || {
            facade.watch(&cb); // the same breaker again, mid-export
            cb.call(|| Ok::<_, ()>(())).unwrap(); // the probe: a 4th success
        });
        release.send(()).unwrap();
        exporter.join().unwrap();
    });
    metrics::with_local_recorder(&recorder, || facade.export());
    assert_eq!(cb.totals().successes, 4);
    assert_eq!(
        recorder.get("warden_circuit_breaker_successes_total", &name),
        4
    );
}
