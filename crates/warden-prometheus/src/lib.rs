//! Prometheus metrics for warden circuit breakers and retries.
//!
//! `warden-prometheus` registers the Go `resilience` package's metric families in a
//! [`prometheus::Registry`] you supply, labelled by breaker name. Breaker
//! families are **pulled**: [`Metrics::watch`] hands the metrics a breaker, and
//! every scrape reads its [`state`](CircuitBreaker::state) and lifetime
//! [`totals`](CircuitBreaker::totals) at that moment, so a guarded call pays
//! nothing for being exported.
//!
//! | family | type | labels | meaning |
//! | --- | --- | --- | --- |
//! | `warden_circuit_breaker_state` | gauge | `name` | 0 closed, 1 open, 2 half-open ([`State::as_gauge`]), read at scrape time |
//! | `warden_circuit_breaker_successes_total` | counter | `name` | calls that reported success |
//! | `warden_circuit_breaker_failures_total` | counter | `name` | calls that reported failure (timeouts and panics included) |
//! | `warden_circuit_breaker_timeouts_total` | counter | `name` | failures that were timeouts ([`BreakerMetrics::record_timeout`]) |
//! | `warden_circuit_breaker_rejections_total` | counter | `name`, `reason` | calls refused: `open`, `too_many_requests`, `throttled`, `bulkhead_full` |
//! | `warden_circuit_breaker_transitions_total` | counter | `name`, `from`, `to` | state changes (`closed`, `open`, `half_open`) |
//! | `warden_circuit_breaker_throttle_probability` | gauge | `name` | for a breaker whose trip rule is an adaptive throttle only: the probability, 0 to 1, with which it rejects a call now ([`CircuitBreaker::throttle_probability`]), read at scrape time |
//! | `warden_retry_attempts_total` | counter | `name` | attempts of retry runs, first attempts included (with a breaker, refused attempts too) |
//! | `warden_retry_retries_total` | counter | `name` | retries (attempts after a failure) |
//! | `warden_registry_evictions_total` | counter | `reason` | names a registry of breakers dropped ([`Metrics::record_eviction`]): `removed`, `idle`, `capacity` |
//!
//! A watched breaker has 11 series of its own (`state`, `successes_total`,
//! `failures_total`, `timeouts_total`, three `rejections_total` reasons, four
//! `transitions_total` edges, plus any other edge a manual command caused, and
//! the `throttled` reason once an adaptive throttle shed a call, and the
//! throttle probability while its trip rule is an adaptive throttle) and a retry
//! observer 2 more; [`Metrics::remove`] drops a name's series when the
//! name goes away.
//!
//! The `warden` prefix is the default namespace; [`MetricsBuilder::namespace`]
//! changes it.
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//! use prometheus::{Encoder, TextEncoder};
//! use warden_breaker::CircuitBreaker;
//! use warden_prometheus::Metrics;
//!
//! let registry = prometheus::Registry::new();
//! let metrics = Metrics::register(&registry)?;
//!
//! let cb = Arc::new(CircuitBreaker::builder("kafka").build()?);
//! metrics.watch(&cb);
//! let _ = cb.call(|| Ok::<_, std::io::Error>(()));
//!
//! let mut text = Vec::new();
//! TextEncoder::new().encode(&registry.gather(), &mut text)?;
//! let text = String::from_utf8(text)?;
//! assert!(text.contains(r#"warden_circuit_breaker_successes_total{name="kafka"} 1"#));
//! assert!(text.contains(r#"warden_circuit_breaker_state{name="kafka"} 0"#));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Cost
//!
//! Nothing per call for the pulled families: the breaker counts its lifetime
//! totals anyway (successes and rejections on the calling thread's own counter
//! line, the rest on paths that already write shared words), and a scrape
//! reads them. A scrape costs, per watched breaker, one
//! [`state`](CircuitBreaker::state) and one [`totals`](CircuitBreaker::totals)
//! per family (a pass over the counter lines of the threads that ever called
//! it), and for the throttle gauge one more such pass and one load, plus
//! building the text. What only the caller knows is pushed, on
//! paths that are not the fast one: [`BreakerMetrics::record_timeout`] (one
//! relaxed increment when a timer fired), [`BreakerMetrics::record_bulkhead_rejection`],
//! the retry observer (one increment per attempt) and evictions.
//!
//! Measured by instruction counts, which a machine busy with other work does
//! not change (callgrind, `--toggle-collect` on a loop of 100,000
//! `CircuitBreaker::call`s on one thread, 2026-12-06): with the breaker
//! counting its lifetime totals, a closed success takes 68 instructions (69
//! before the totals existed), an open rejection 141 (131) and a forced-open
//! rejection 78 (69): the rejection's stripe bump is the thread's slot lookup
//! and a plain load and store. Watching the breaker changes none of these:
//! the collector only reads. The criterion comparison (`benches/run.sh`
//! workloads `closed_success` and `open_reject`, contender
//! `warden-prometheus` against `warden-breaker`) could not resolve 1 ns on the
//! shared 2-core machine that day (load average 8 to 11: the same breaker,
//! one thread, took 28.4 ns per closed success in one run and 14.7 ns in the
//! next, and metrics-on figures came out both above and below it).
//!
//! # State gauge
//!
//! Read at scrape time with [`CircuitBreaker::state`], which performs a due
//! transition first: an open breaker whose timeout passed turns half-open
//! when scraped (its state-change callbacks then run on the scraping thread).
//!
//! # Throttle gauge
//!
//! An adaptive throttle sheds a share of the calls while its breaker stays
//! closed: the state gauge says `0` and the `throttled` rejections say how many
//! calls were shed, while `warden_circuit_breaker_throttle_probability` says how
//! hard it sheds now. It is the throttle's last evaluation, brought up to date
//! by the calls' outcomes (0 while the breaker is not closed by its rules, and
//! with a fleet it counts the other instances' window too). Breakers with
//! another trip rule have no series of it. The windowed requests and accepts it
//! is computed from are not exported: they are the rates of the
//! successes, failures and `throttled` rejections above over the window, which a
//! query computes over any range.
//!
//! # Consistency
//!
//! Totals are exact when no call is in flight; otherwise each value is some
//! recent count, and families are not a consistent snapshot of each other
//! (as with `prometheus`'s own counters).

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]
#![doc(test(attr(deny(warnings))))]

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{GaugeVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry};
use warden_breaker::{CircuitBreaker, State, Totals};
use warden_retry::RetryObserver;

pub use prometheus;

/// The default namespace: metric names start with `warden_`.
pub const DEFAULT_NAMESPACE: &str = "warden";

/// Why the metric families could not be registered. The registry is left as
/// it was: families registered before the failure are unregistered again.
///
/// ```
/// use warden_prometheus::{Error, Metrics};
/// let registry = prometheus::Registry::new();
/// let _first = Metrics::register(&registry)?;
/// let err = Metrics::register(&registry).unwrap_err();
/// assert!(matches!(&err, Error::AlreadyRegistered { metric } if metric == "warden_circuit_breaker_state"));
/// assert_eq!(
///     err.to_string(),
///     "metric warden_circuit_breaker_state is already registered in this prometheus registry"
/// );
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A family with this name is already in the registry: these metrics were
    /// registered twice with the same namespace, or another collector uses the
    /// name.
    #[error("metric {metric} is already registered in this prometheus registry")]
    AlreadyRegistered {
        /// The fully qualified metric name that clashed.
        metric: String,
    },
    /// The namespace is not a valid metric name prefix.
    #[error(
        "invalid namespace {namespace:?}: use ASCII letters, digits and underscores, not starting with a digit"
    )]
    InvalidNamespace {
        /// The namespace given; past 64 bytes, its first 64 and its length (an
        /// error never echoes a huge input whole).
        namespace: String,
    },
    /// Any other error reported by the `prometheus` crate.
    #[error("prometheus: {0}")]
    Prometheus(#[source] prometheus::Error),
}

/// Configures the metric families before registering them.
///
/// ```
/// let registry = prometheus::Registry::new();
/// let metrics = warden_prometheus::Metrics::builder().namespace("payments").register(&registry)?;
/// assert_eq!(metrics.namespace(), "payments");
/// # Ok::<(), warden_prometheus::Error>(())
/// ```
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `register` is called"]
pub struct MetricsBuilder {
    namespace: String,
}

impl MetricsBuilder {
    /// The prefix of every metric name (default [`DEFAULT_NAMESPACE`]). An
    /// empty namespace drops the prefix (`circuit_breaker_state`).
    ///
    /// ```
    /// let registry = prometheus::Registry::new();
    /// let m = warden_prometheus::Metrics::builder().namespace("").register(&registry)?;
    /// let cb = std::sync::Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?);
    /// m.watch(&cb);
    /// assert!(registry.gather().iter().any(|f| f.name() == "circuit_breaker_state"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Creates the families and registers them in `registry`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidNamespace`] for a namespace that cannot start a metric
    /// name, [`Error::AlreadyRegistered`] when a family of the same name is
    /// already registered (nothing is registered then).
    ///
    /// ```
    /// let registry = prometheus::Registry::new();
    /// let err = warden_prometheus::Metrics::builder().namespace("9lives").register(&registry);
    /// assert!(matches!(err, Err(warden_prometheus::Error::InvalidNamespace { .. })));
    /// ```
    pub fn register(self, registry: &Registry) -> Result<Metrics, Error> {
        if !valid_namespace(&self.namespace) {
            return Err(Error::InvalidNamespace {
                namespace: bounded(&self.namespace),
            });
        }
        let ns = self.namespace.as_str();
        let breaker = |name: &str, help: &str| {
            Opts::new(name, help)
                .namespace(ns)
                .subsystem("circuit_breaker")
        };
        let retry = |name: &str, help: &str| Opts::new(name, help).namespace(ns).subsystem("retry");
        let registry_opts =
            |name: &str, help: &str| Opts::new(name, help).namespace(ns).subsystem("registry");
        let families = Families {
            state: IntGaugeVec::new(
                breaker(
                    "state",
                    "Current state of the circuit breaker (0 - Closed, 1 - Open, 2 - HalfOpen)",
                ),
                &["name"],
            )
            .map_err(Error::Prometheus)?,
            throttle: GaugeVec::new(
                breaker(
                    "throttle_probability",
                    "Probability with which the adaptive throttle rejects a call now (0 to 1)",
                ),
                &["name"],
            )
            .map_err(Error::Prometheus)?,
            successes: IntCounterVec::new(
                breaker(
                    "successes_total",
                    "Total number of circuit breaker successes",
                ),
                &["name"],
            )
            .map_err(Error::Prometheus)?,
            failures: IntCounterVec::new(
                breaker("failures_total", "Total number of circuit breaker failures"),
                &["name"],
            )
            .map_err(Error::Prometheus)?,
            timeouts: IntCounterVec::new(
                breaker("timeouts_total", "Total number of circuit breaker timeouts"),
                &["name"],
            )
            .map_err(Error::Prometheus)?,
            rejections: IntCounterVec::new(
                breaker(
                    "rejections_total",
                    "Total number of calls the circuit breaker refused, by reason",
                ),
                &["name", "reason"],
            )
            .map_err(Error::Prometheus)?,
            transitions: IntCounterVec::new(
                breaker(
                    "transitions_total",
                    "Total number of circuit breaker state changes",
                ),
                &["name", "from", "to"],
            )
            .map_err(Error::Prometheus)?,
            attempts: IntCounterVec::new(
                retry("attempts_total", "Total number of retry attempts"),
                &["name"],
            )
            .map_err(Error::Prometheus)?,
            retries: IntCounterVec::new(
                retry(
                    "retries_total",
                    "Total number of retries (attempts after a failed one)",
                ),
                &["name"],
            )
            .map_err(Error::Prometheus)?,
            evictions: IntCounterVec::new(
                registry_opts(
                    "evictions_total",
                    "Total number of names a registry of breakers dropped, by reason",
                ),
                &["reason"],
            )
            .map_err(Error::Prometheus)?,
        };
        let bulkhead = IntCounterVec::new(
            breaker(
                "rejections_total",
                "Total number of calls the circuit breaker refused, by reason",
            ),
            &["name"],
        )
        .map_err(Error::Prometheus)?;
        let shared = Arc::new(Shared {
            namespace: self.namespace,
            entries: Mutex::new(BTreeMap::new()),
            timeouts: families.timeouts.clone(),
            bulkhead,
        });
        families.register(registry, &shared)?;
        Ok(Metrics {
            shared,
            families: Arc::new(families),
        })
    }
}

/// `s`, cut to its first 64 bytes (on a character boundary) with its length
/// said after it when longer.
fn bounded(s: &str) -> String {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &s[..end], s.len())
}

fn valid_namespace(ns: &str) -> bool {
    let mut chars = ns.chars();
    match chars.next() {
        None => true,
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {
            chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        Some(_) => false,
    }
}

struct Families {
    state: IntGaugeVec,
    throttle: GaugeVec,
    successes: IntCounterVec,
    failures: IntCounterVec,
    timeouts: IntCounterVec,
    rejections: IntCounterVec,
    transitions: IntCounterVec,
    attempts: IntCounterVec,
    retries: IntCounterVec,
    evictions: IntCounterVec,
}

/// A pulled family: which one, for [`Pulled::collect`].
#[derive(Clone, Copy, Debug)]
enum Family {
    State,
    Throttle,
    Successes,
    Failures,
    Rejections,
    Transitions,
}

/// A family read from the watched breakers at scrape time. Its template vector
/// (never given series) provides the descriptor; a scrape fills a fresh one.
struct Pulled {
    family: Family,
    template: Template,
    shared: Arc<Shared>,
}

#[derive(Clone)]
enum Template {
    Gauge(IntGaugeVec, Opts),
    FloatGauge(GaugeVec, Opts),
    Counter(IntCounterVec, Opts, &'static [&'static str]),
}

impl Collector for Pulled {
    fn desc(&self) -> Vec<&Desc> {
        match &self.template {
            Template::Gauge(v, _) => v.desc(),
            Template::FloatGauge(v, _) => v.desc(),
            Template::Counter(v, _, _) => v.desc(),
        }
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let sources = self.shared.sources();
        match &self.template {
            Template::Gauge(_, opts) => {
                let Ok(vec) = IntGaugeVec::new(opts.clone(), &["name"]) else {
                    return Vec::new();
                };
                for s in &sources {
                    if let Some(cb) = &s.breaker {
                        vec.with_label_values(&[&*s.name])
                            .set(state_of(cb).as_gauge());
                    }
                }
                vec.collect()
            }
            Template::FloatGauge(_, opts) => {
                let Ok(vec) = GaugeVec::new(opts.clone(), &["name"]) else {
                    return Vec::new();
                };
                for s in &sources {
                    if let Some(p) = s.breaker.as_deref().and_then(throttle_probability) {
                        vec.with_label_values(&[&*s.name]).set(p);
                    }
                }
                vec.collect()
            }
            Template::Counter(_, opts, labels) => {
                let Ok(vec) = IntCounterVec::new(opts.clone(), labels) else {
                    return Vec::new();
                };
                for s in &sources {
                    self.fill(&vec, s);
                }
                vec.collect()
            }
        }
    }
}

impl Pulled {
    /// Adds the series of one name to a fresh counter vector of this family.
    fn fill(&self, vec: &IntCounterVec, s: &Source) {
        let name = &*s.name;
        if let Family::Rejections = self.family {
            vec.with_label_values(&[name, "bulkhead_full"])
                .inc_by(s.push.bulkhead.get());
        }
        let Some(cb) = &s.breaker else { return };
        let t = cb.totals();
        match self.family {
            Family::State | Family::Throttle => {}
            Family::Successes => vec.with_label_values(&[name]).inc_by(t.successes),
            Family::Failures => vec.with_label_values(&[name]).inc_by(t.failures),
            Family::Rejections => {
                vec.with_label_values(&[name, "open"])
                    .inc_by(t.rejected_open);
                vec.with_label_values(&[name, "too_many_requests"])
                    .inc_by(t.rejected_too_many_requests);
                // Only breakers with an adaptive throttle shed calls: the others
                // carry no series that is always 0.
                if t.rejected_throttled != 0 {
                    vec.with_label_values(&[name, "throttled"])
                        .inc_by(t.rejected_throttled);
                }
            }
            Family::Transitions => {
                for (from, to) in edges(&t) {
                    vec.with_label_values(&[name, label(from), label(to)])
                        .inc_by(t.transitions(from, to));
                }
            }
        }
    }
}

/// The transitions exported for `t`: gobreaker's four edges always, any other
/// edge (a manual command's) once it happened.
fn edges(t: &Totals) -> impl Iterator<Item = (State, State)> + '_ {
    State::ALL
        .into_iter()
        .flat_map(|from| State::ALL.into_iter().map(move |to| (from, to)))
        .filter(move |&(from, to)| {
            from != to && (STANDARD_EDGES.contains(&(from, to)) || t.transitions(from, to) != 0)
        })
}

/// The transitions gobreaker's rules make.
const STANDARD_EDGES: [(State, State); 4] = [
    (State::Closed, State::Open),
    (State::Open, State::HalfOpen),
    (State::HalfOpen, State::Closed),
    (State::HalfOpen, State::Open),
];

impl Families {
    fn pulled(&self, shared: &Arc<Shared>) -> [Box<dyn Collector>; 6] {
        let counter = |family, v: &IntCounterVec, labels| -> Box<dyn Collector> {
            let opts = opts_of(v);
            Box::new(Pulled {
                family,
                template: Template::Counter(v.clone(), opts, labels),
                shared: Arc::clone(shared),
            })
        };
        [
            Box::new(Pulled {
                family: Family::State,
                template: Template::Gauge(self.state.clone(), opts_of(&self.state)),
                shared: Arc::clone(shared),
            }),
            Box::new(Pulled {
                family: Family::Throttle,
                template: Template::FloatGauge(self.throttle.clone(), opts_of(&self.throttle)),
                shared: Arc::clone(shared),
            }),
            counter(Family::Successes, &self.successes, &["name"]),
            counter(Family::Failures, &self.failures, &["name"]),
            counter(Family::Rejections, &self.rejections, &["name", "reason"]),
            counter(
                Family::Transitions,
                &self.transitions,
                &["name", "from", "to"],
            ),
        ]
    }

    /// Every collector to register, in registration order: the pulled breaker
    /// families and the pushed ones.
    fn collectors(&self, shared: &Arc<Shared>) -> Vec<Box<dyn Collector>> {
        let [
            state,
            throttle,
            successes,
            failures,
            rejections,
            transitions,
        ] = self.pulled(shared);
        vec![
            state,
            successes,
            failures,
            Box::new(self.timeouts.clone()),
            rejections,
            transitions,
            throttle,
            Box::new(self.attempts.clone()),
            Box::new(self.retries.clone()),
            Box::new(self.evictions.clone()),
        ]
    }

    /// Registers every family, or none: on a failure the ones already
    /// registered are unregistered again.
    fn register(&self, registry: &Registry, shared: &Arc<Shared>) -> Result<(), Error> {
        for (i, c) in self.collectors(shared).into_iter().enumerate() {
            let name = c
                .desc()
                .first()
                .map(|d| d.fq_name.clone())
                .unwrap_or_default();
            if let Err(e) = registry.register(c) {
                for done in self.collectors(shared).into_iter().take(i) {
                    // Cannot fail: registered just above (unregistering goes by
                    // descriptor, which a fresh collector of the family shares).
                    let _ = registry.unregister(done);
                }
                return Err(match e {
                    // The same family registered twice.
                    prometheus::Error::AlreadyReg => Error::AlreadyRegistered { metric: name },
                    // The same name with other labels or help.
                    prometheus::Error::Msg(m) if m.contains("previously registered") => {
                        Error::AlreadyRegistered { metric: name }
                    }
                    other => Error::Prometheus(other),
                });
            }
        }
        Ok(())
    }
}

/// The options a family vector was made with, rebuilt from its descriptor.
fn opts_of<C: Collector>(c: &C) -> Opts {
    match c.desc().first() {
        Some(d) => Opts::new(d.fq_name.clone(), d.help.clone()),
        None => Opts::new("unnamed", "unnamed"),
    }
}

/// What a name's caller pushes: the counters only it knows.
struct Push {
    timeouts: IntCounter,
    bulkhead: IntCounter,
}

/// One exported name.
struct Entry {
    push: Arc<Push>,
    breaker: Option<Weak<CircuitBreaker>>,
}

/// One name at scrape time.
struct Source {
    name: Arc<str>,
    push: Arc<Push>,
    breaker: Option<Arc<CircuitBreaker>>,
}

struct Shared {
    namespace: String,
    /// Exported names, sorted. Held only to look up, update or copy out (a
    /// name's pushed series are added and dropped under it), never while a
    /// breaker is read (its state-change callbacks may call back in).
    entries: Mutex<BTreeMap<Arc<str>, Entry>>,
    timeouts: IntCounterVec,
    /// Bulkhead rejections per name: not registered (the rejections family is
    /// pulled and merges them in).
    bulkhead: IntCounterVec,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<Arc<str>, Entry>> {
        // Every update under the lock is complete before it can panic.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The exported names with their breakers (dropped breakers are forgotten).
    fn sources(&self) -> Vec<Source> {
        let mut entries = self.lock();
        let mut out = Vec::with_capacity(entries.len());
        for (name, e) in entries.iter_mut() {
            let breaker = e.breaker.as_ref().and_then(Weak::upgrade);
            if breaker.is_none() {
                e.breaker = None;
            }
            out.push(Source {
                name: Arc::clone(name),
                push: Arc::clone(&e.push),
                breaker,
            });
        }
        out
    }

    /// The entry of `name`, created with its pushed series if new, watching
    /// `breaker` if given: in one hold of the lock, so a concurrent `remove` of
    /// the name comes wholly before or wholly after.
    fn entry(&self, name: &str, breaker: Option<&Arc<CircuitBreaker>>) -> (Arc<str>, Arc<Push>) {
        let mut entries = self.lock();
        if let Some((k, e)) = entries.get_key_value(name) {
            let found = (Arc::clone(k), Arc::clone(&e.push));
            if let (Some(cb), Some(e)) = (breaker, entries.get_mut(name)) {
                e.breaker = Some(Arc::downgrade(cb));
            }
            return found;
        }
        let key: Arc<str> = Arc::from(name);
        let push = Arc::new(Push {
            timeouts: self.timeouts.with_label_values(&[name]),
            bulkhead: self.bulkhead.with_label_values(&[name]),
        });
        entries.insert(
            Arc::clone(&key),
            Entry {
                push: Arc::clone(&push),
                breaker: breaker.map(Arc::downgrade),
            },
        );
        (key, push)
    }

    fn breaker(&self, name: &str) -> Option<Arc<CircuitBreaker>> {
        self.lock()
            .get(name)
            .and_then(|e| e.breaker.as_ref())
            .and_then(Weak::upgrade)
    }
}

/// The registered metric families; hands out per-breaker and per-retry
/// handles. Cheap to clone (clones share the families).
///
/// ```
/// let registry = prometheus::Registry::new();
/// let metrics = warden_prometheus::Metrics::register(&registry)?;
/// let kafka = metrics.breaker("kafka");
/// kafka.record_timeout();
/// assert_eq!(kafka.timeouts(), 1);
/// # Ok::<(), warden_prometheus::Error>(())
/// ```
#[derive(Clone)]
pub struct Metrics {
    shared: Arc<Shared>,
    families: Arc<Families>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("namespace", &self.shared.namespace)
            .finish_non_exhaustive()
    }
}

impl Metrics {
    /// Starts configuring the families (namespace).
    ///
    /// ```
    /// let b = warden_prometheus::Metrics::builder();
    /// # let _ = b;
    /// ```
    pub fn builder() -> MetricsBuilder {
        MetricsBuilder {
            namespace: DEFAULT_NAMESPACE.to_owned(),
        }
    }

    /// Registers the families with the default namespace `warden`.
    ///
    /// # Errors
    ///
    /// As [`MetricsBuilder::register`].
    ///
    /// ```
    /// let metrics = warden_prometheus::Metrics::register(&prometheus::Registry::new())?;
    /// assert_eq!(metrics.namespace(), "warden");
    /// # Ok::<(), warden_prometheus::Error>(())
    /// ```
    pub fn register(registry: &Registry) -> Result<Metrics, Error> {
        Self::builder().register(registry)
    }

    /// The namespace the metric names start with.
    ///
    /// ```
    /// let metrics = warden_prometheus::Metrics::register(&prometheus::Registry::new())?;
    /// assert_eq!(metrics.namespace(), warden_prometheus::DEFAULT_NAMESPACE);
    /// # Ok::<(), warden_prometheus::Error>(())
    /// ```
    pub fn namespace(&self) -> &str {
        &self.shared.namespace
    }

    /// Exports `breaker` under its name: every scrape reads its state and
    /// lifetime totals. Returns the name's handle for what only the caller
    /// knows (timeouts, bulkhead rejections). The metrics hold the breaker
    /// weakly: once it is dropped its pulled series disappear. Watching another
    /// breaker of the same name replaces the first (one set of series per name);
    /// its counters then restart from the new breaker's totals, a counter reset
    /// that Prometheus queries handle.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use warden_breaker::{CircuitBreaker, State};
    /// let metrics = warden_prometheus::Metrics::register(&prometheus::Registry::new())?;
    /// let cb = Arc::new(CircuitBreaker::builder("db").ready_to_trip(|c| c.consecutive_failures >= 1).build()?);
    /// let m = metrics.watch(&cb);
    /// let _ = cb.call(|| Err::<(), _>("down"));
    /// assert_eq!((m.failures(), m.state()), (1, State::Open.as_gauge()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn watch(&self, breaker: &Arc<CircuitBreaker>) -> BreakerMetrics {
        let (name, push) = self.shared.entry(breaker.name(), Some(breaker));
        BreakerMetrics {
            name,
            push,
            shared: Arc::clone(&self.shared),
        }
    }

    /// The handle of the name `name`: what only the caller knows
    /// ([`BreakerMetrics::record_timeout`],
    /// [`BreakerMetrics::record_bulkhead_rejection`]), and reads of the watched
    /// breaker's series. Label values are resolved here, once.
    ///
    /// ```
    /// let metrics = warden_prometheus::Metrics::register(&prometheus::Registry::new())?;
    /// let m = metrics.breaker("db");
    /// m.record_bulkhead_rejection();
    /// assert_eq!(m.rejections("bulkhead_full"), 1);
    /// assert_eq!(m.successes(), 0); // no breaker watched under this name
    /// # Ok::<(), warden_prometheus::Error>(())
    /// ```
    pub fn breaker(&self, name: &str) -> BreakerMetrics {
        let (name, push) = self.shared.entry(name, None);
        BreakerMetrics {
            name,
            push,
            shared: Arc::clone(&self.shared),
        }
    }

    /// Drops every series labelled with `name` (the breaker's and the retry
    /// observer's), for a name that is gone, and stops watching its breaker;
    /// returns how many series existed. Handles made before keep counting into
    /// series that are no longer exported; a later [`breaker`](Self::breaker)
    /// or [`watch`](Self::watch) for the name starts them again from zero (a
    /// counter reset, which Prometheus queries handle).
    ///
    /// ```
    /// use std::sync::Arc;
    /// let registry = prometheus::Registry::new();
    /// let metrics = warden_prometheus::Metrics::register(&registry)?;
    /// let db = Arc::new(warden_breaker::CircuitBreaker::builder("db").build()?);
    /// metrics.watch(&db);
    /// assert_eq!(metrics.remove("db"), 11);
    /// assert_eq!(metrics.remove("db"), 0);
    /// assert!(registry.gather().iter().all(|f| f.get_metric().is_empty()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn remove(&self, name: &str) -> usize {
        let gone = |r: prometheus::Result<()>| usize::from(r.is_ok());
        let mut removed = 0;
        let entry = {
            let mut entries = self.shared.lock();
            // Under the names' lock, as `entry` creates them: a `breaker` or
            // `watch` of the name right after this removal creates its series
            // afresh, which a removal after the unlock would take away for good.
            let _ = self.shared.timeouts.remove_label_values(&[name]);
            let _ = self.shared.bulkhead.remove_label_values(&[name]);
            entries.remove(name)
        };
        if let Some(e) = entry {
            removed += 2; // timeouts and bulkhead_full
            if let Some(cb) = e.breaker.as_ref().and_then(Weak::upgrade) {
                let t = cb.totals();
                // state, successes, failures, two rejection reasons (three once
                // throttled), the edges, the throttle probability.
                removed += 5
                    + usize::from(t.rejected_throttled != 0)
                    + edges(&t).count()
                    + usize::from(cb.throttle_window().is_some());
            }
        }
        let f = &self.families;
        for family in [&f.attempts, &f.retries] {
            removed += gone(family.remove_label_values(&[name]));
        }
        removed
    }

    /// Counts one name dropped by a registry of breakers, in
    /// `warden_registry_evictions_total{reason}` (`removed`, `idle`,
    /// `capacity`), so dashboards see the churn that [`remove`](Self::remove)
    /// hides.
    ///
    /// ```
    /// let metrics = warden_prometheus::Metrics::register(&prometheus::Registry::new())?;
    /// metrics.record_eviction("idle");
    /// assert_eq!(metrics.evictions("idle"), 1);
    /// # Ok::<(), warden_prometheus::Error>(())
    /// ```
    pub fn record_eviction(&self, reason: &str) {
        self.families.evictions.with_label_values(&[reason]).inc();
    }

    /// The count of [`record_eviction`](Self::record_eviction) for `reason`.
    ///
    /// ```
    /// let metrics = warden_prometheus::Metrics::register(&prometheus::Registry::new())?;
    /// assert_eq!(metrics.evictions("capacity"), 0);
    /// # Ok::<(), warden_prometheus::Error>(())
    /// ```
    pub fn evictions(&self, reason: &str) -> u64 {
        self.families
            .evictions
            .get_metric_with_label_values(&[reason])
            .map_or(0, |c| c.get())
    }

    /// The retry observer for runs against the dependency named `name`
    /// (install it with `RetryPolicyBuilder::observer`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_retry::{retry, RetryPolicy};
    /// let metrics = warden_prometheus::Metrics::register(&prometheus::Registry::new())?;
    /// let m = metrics.retry("db");
    /// let policy = RetryPolicy::builder().base_delay(Duration::ZERO).observer(m.clone()).build()?;
    /// let _ = retry(&policy, || Err::<(), _>("down"));
    /// assert_eq!((m.attempts(), m.retries()), (3, 2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn retry(&self, name: &str) -> RetryMetrics {
        let f = &self.families;
        RetryMetrics {
            attempts: f.attempts.with_label_values(&[name]),
            retries: f.retries.with_label_values(&[name]),
        }
    }
}

/// `breaker.state()` for an exporter: a panic of a state-change callback run by
/// the due transition does not reach the collecting thread (the transition
/// itself is complete by then; the state is read again).
pub(crate) fn state_of(breaker: &CircuitBreaker) -> State {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| breaker.state()))
        .unwrap_or_else(|_| breaker.state())
}

/// The probability with which `breaker`'s adaptive throttle rejects a call now,
/// or `None` if its trip rule is not an adaptive throttle (it then has no
/// series of it). A pass over the breaker's counter lines (for the window, as
/// for its totals) and one load.
fn throttle_probability(breaker: &CircuitBreaker) -> Option<f64> {
    breaker.throttle_window()?;
    Some(breaker.throttle_probability())
}

/// The label value of a state: `closed`, `open`, `half_open`.
///
/// ```
/// use warden_breaker::State;
/// assert_eq!(warden_prometheus::label(State::HalfOpen), "half_open");
/// ```
pub const fn label(state: State) -> &'static str {
    match state {
        State::Closed => "closed",
        State::Open => "open",
        State::HalfOpen => "half_open",
    }
}

/// One name's metrics: the series only the caller can count, resolved once,
/// and reads of the watched breaker's pulled series. Cheap to clone.
///
/// ```
/// use std::sync::Arc;
/// use warden_breaker::CircuitBreaker;
/// let metrics = warden_prometheus::Metrics::register(&prometheus::Registry::new())?;
/// let cb = Arc::new(CircuitBreaker::builder("search").build()?);
/// let m = metrics.watch(&cb);
/// let _ = cb.call(|| Ok::<_, ()>(()));
/// assert_eq!(m.successes(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct BreakerMetrics {
    name: Arc<str>,
    push: Arc<Push>,
    shared: Arc<Shared>,
}

impl fmt::Debug for BreakerMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerMetrics")
            .field("name", &self.name)
            .field("timeouts", &self.timeouts())
            .finish_non_exhaustive()
    }
}

impl BreakerMetrics {
    /// The breaker name these series are labelled with.
    ///
    /// ```
    /// let m = warden_prometheus::Metrics::register(&prometheus::Registry::new())?;
    /// assert_eq!(m.breaker("db").name(), "db");
    /// # Ok::<(), warden_prometheus::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Counts a call that timed out (`..._timeouts_total`). Report the call's
    /// failure to the breaker too; the failure counter counts it there.
    ///
    /// ```
    /// let m = warden_prometheus::Metrics::register(&prometheus::Registry::new())?.breaker("db");
    /// m.record_timeout();
    /// assert_eq!(m.timeouts(), 1);
    /// # Ok::<(), warden_prometheus::Error>(())
    /// ```
    #[inline]
    pub fn record_timeout(&self) {
        self.push.timeouts.inc();
    }

    /// Counts a call refused because its bulkhead was full
    /// (`..._rejections_total{reason="bulkhead_full"}`).
    ///
    /// ```
    /// let m = warden_prometheus::Metrics::register(&prometheus::Registry::new())?.breaker("db");
    /// m.record_bulkhead_rejection();
    /// assert_eq!(m.rejections("bulkhead_full"), 1);
    /// # Ok::<(), warden_prometheus::Error>(())
    /// ```
    #[inline]
    pub fn record_bulkhead_rejection(&self) {
        self.push.bulkhead.inc();
    }

    fn totals(&self) -> Totals {
        self.shared
            .breaker(&self.name)
            .map(|cb| cb.totals())
            .unwrap_or_default()
    }

    /// The state gauge's value now (0 closed, 1 open, 2 half-open; 0 with no
    /// breaker watched). Like a scrape it calls [`CircuitBreaker::state`].
    ///
    /// ```
    /// let m = warden_prometheus::Metrics::register(&prometheus::Registry::new())?.breaker("db");
    /// assert_eq!(m.state(), 0);
    /// # Ok::<(), warden_prometheus::Error>(())
    /// ```
    pub fn state(&self) -> i64 {
        self.shared
            .breaker(&self.name)
            .map_or(0, |cb| state_of(&cb).as_gauge())
    }

    /// The throttle gauge's value now: the probability, 0 to 1, with which the
    /// watched breaker's adaptive throttle rejects a call
    /// ([`CircuitBreaker::throttle_probability`]); `None` with no breaker
    /// watched or one whose trip rule is not an adaptive throttle (no series).
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// use warden_breaker::{AdaptiveThrottle, CircuitBreaker};
    /// let metrics = warden_prometheus::Metrics::register(&prometheus::Registry::new())?;
    /// let throttle = AdaptiveThrottle::new(Duration::from_secs(10)).with_min_requests(1);
    /// let api = Arc::new(CircuitBreaker::builder("api").adaptive_throttle(throttle).build()?);
    /// let m = metrics.watch(&api);
    /// assert_eq!(m.throttle_probability(), Some(0.0));
    /// let _ = api.call(|| Err::<(), _>("503"));
    /// assert_eq!(m.throttle_probability(), Some(0.5)); // (1 - 2 * 0) / (1 + 1)
    /// let db = Arc::new(CircuitBreaker::builder("db").build()?);
    /// assert_eq!(metrics.watch(&db).throttle_probability(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn throttle_probability(&self) -> Option<f64> {
        self.shared
            .breaker(&self.name)
            .as_deref()
            .and_then(throttle_probability)
    }

    /// Successes of the watched breaker so far.
    ///
    /// ```
    /// let m = warden_prometheus::Metrics::register(&prometheus::Registry::new())?.breaker("db");
    /// assert_eq!(m.successes(), 0);
    /// # Ok::<(), warden_prometheus::Error>(())
    /// ```
    pub fn successes(&self) -> u64 {
        self.totals().successes
    }

    /// Failures of the watched breaker so far (timeouts included).
    ///
    /// ```
    /// let m = warden_prometheus::Metrics::register(&prometheus::Registry::new())?.breaker("db");
    /// assert_eq!(m.failures(), 0);
    /// # Ok::<(), warden_prometheus::Error>(())
    /// ```
    pub fn failures(&self) -> u64 {
        self.totals().failures
    }

    /// Timeouts counted so far.
    ///
    /// ```
    /// let m = warden_prometheus::Metrics::register(&prometheus::Registry::new())?.breaker("db");
    /// assert_eq!(m.timeouts(), 0);
    /// # Ok::<(), warden_prometheus::Error>(())
    /// ```
    pub fn timeouts(&self) -> u64 {
        self.push.timeouts.get()
    }

    /// Rejections counted so far for `reason` (`open`, `too_many_requests`,
    /// `throttled`, `bulkhead_full`; 0 for any other string).
    ///
    /// ```
    /// let m = warden_prometheus::Metrics::register(&prometheus::Registry::new())?.breaker("db");
    /// assert_eq!(m.rejections("open"), 0);
    /// # Ok::<(), warden_prometheus::Error>(())
    /// ```
    pub fn rejections(&self, reason: &str) -> u64 {
        match reason {
            "open" => self.totals().rejected_open,
            "too_many_requests" => self.totals().rejected_too_many_requests,
            "throttled" => self.totals().rejected_throttled,
            "bulkhead_full" => self.push.bulkhead.get(),
            _ => 0,
        }
    }

    /// Transitions of the watched breaker from `from` to `to` so far.
    ///
    /// ```
    /// use warden_breaker::State;
    /// let m = warden_prometheus::Metrics::register(&prometheus::Registry::new())?.breaker("db");
    /// assert_eq!(m.transitions(State::Closed, State::Open), 0);
    /// # Ok::<(), warden_prometheus::Error>(())
    /// ```
    pub fn transitions(&self, from: State, to: State) -> u64 {
        self.totals().transitions(from, to)
    }
}

/// One dependency's retry metrics: a [`warden_retry::RetryObserver`]. Cheap
/// to clone.
///
/// ```
/// use warden_retry::RetryObserver;
/// let m = warden_prometheus::Metrics::register(&prometheus::Registry::new())?.retry("db");
/// m.on_attempt(1);
/// assert_eq!(m.attempts(), 1);
/// # Ok::<(), warden_prometheus::Error>(())
/// ```
#[derive(Clone)]
pub struct RetryMetrics {
    attempts: IntCounter,
    retries: IntCounter,
}

impl fmt::Debug for RetryMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryMetrics")
            .field("attempts", &self.attempts())
            .field("retries", &self.retries())
            .finish()
    }
}

impl RetryMetrics {
    /// Attempts counted so far (first attempts included).
    ///
    /// ```
    /// let m = warden_prometheus::Metrics::register(&prometheus::Registry::new())?.retry("db");
    /// assert_eq!(m.attempts(), 0);
    /// # Ok::<(), warden_prometheus::Error>(())
    /// ```
    pub fn attempts(&self) -> u64 {
        self.attempts.get()
    }

    /// Retries counted so far.
    ///
    /// ```
    /// let m = warden_prometheus::Metrics::register(&prometheus::Registry::new())?.retry("db");
    /// assert_eq!(m.retries(), 0);
    /// # Ok::<(), warden_prometheus::Error>(())
    /// ```
    pub fn retries(&self) -> u64 {
        self.retries.get()
    }
}

impl RetryObserver for RetryMetrics {
    #[inline]
    fn on_attempt(&self, _attempt: u32) {
        self.attempts.inc();
    }

    #[inline]
    fn on_retry(&self, _attempt: u32, _wait: Duration) {
        self.retries.inc();
    }
}
