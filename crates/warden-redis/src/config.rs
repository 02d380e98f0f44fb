//! [`FleetConfig`]: where Redis is, how keys are named and how often instances
//! talk to it, validated into typed [`FleetError`]s.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::Coordination;

/// The default sync period ([`FleetConfig::slice`]).
///
/// ```
/// assert_eq!(warden_redis::DEFAULT_SLICE.as_millis(), 100);
/// ```
pub const DEFAULT_SLICE: Duration = Duration::from_millis(100);
/// The default bound on every Redis command ([`FleetConfig::redis_timeout`]).
///
/// ```
/// assert_eq!(warden_redis::DEFAULT_REDIS_TIMEOUT.as_millis(), 250);
/// ```
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_millis(250);
/// The default life of a half-open probe token ([`FleetConfig::probe_ttl`]).
///
/// ```
/// assert_eq!(warden_redis::DEFAULT_PROBE_TTL.as_secs(), 10);
/// ```
pub const DEFAULT_PROBE_TTL: Duration = Duration::from_secs(10);
/// The default longest wait between reconnection attempts ([`FleetConfig::reconnect_max`]).
///
/// ```
/// assert_eq!(warden_redis::DEFAULT_RECONNECT_MAX.as_secs(), 1);
/// ```
pub const DEFAULT_RECONNECT_MAX: Duration = Duration::from_secs(1);
/// The default key namespace ([`FleetConfig::namespace`]).
///
/// ```
/// assert_eq!(warden_redis::DEFAULT_NAMESPACE, "warden");
/// ```
pub const DEFAULT_NAMESPACE: &str = "warden";
/// The default time-to-live of a breaker's keys ([`FleetConfig::key_ttl`]).
///
/// ```
/// assert_eq!(warden_redis::DEFAULT_KEY_TTL.as_secs(), 600);
/// ```
pub const DEFAULT_KEY_TTL: Duration = Duration::from_secs(600);

type CoordinationFn = dyn Fn(Coordination) + Send + Sync;

/// How a [`Fleet`](crate::Fleet) reaches Redis and coordinates its breakers.
///
/// Every setting has a default except the URL; [`Fleet::start`](crate::Fleet::start)
/// validates them all and names the first bad one in a [`FleetError`].
///
/// ```
/// use std::time::Duration;
/// use warden_redis::FleetConfig;
///
/// let config = FleetConfig::new("redis://127.0.0.1:6379/0")
///     .namespace("checkout")
///     .slice(Duration::from_millis(50))
///     .redis_timeout(Duration::from_millis(100))
///     .on_coordination_change(|c| eprintln!("fleet coordination: {c}"));
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone)]
pub struct FleetConfig {
    pub(crate) url: String,
    /// Redis Cluster: the other seed nodes (`url` is the first); `None` for one
    /// Redis server.
    pub(crate) cluster: Option<Vec<String>>,
    pub(crate) namespace: String,
    pub(crate) slice: Duration,
    pub(crate) redis_timeout: Duration,
    pub(crate) probe_ttl: Duration,
    pub(crate) reconnect_max: Duration,
    pub(crate) key_ttl: Duration,
    pub(crate) propagate_local_trips: bool,
    pub(crate) on_coordination_change: Option<Arc<CoordinationFn>>,
}

impl fmt::Debug for FleetConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry a password: show it rebuilt without credentials.
        f.debug_struct("FleetConfig")
            .field("url", &format_args!("{}", redact(&self.url)))
            .field(
                "cluster",
                &self
                    .cluster
                    .as_ref()
                    .map(|seeds| seeds.iter().map(|u| redact(u)).collect::<Vec<_>>()),
            )
            .field("namespace", &self.namespace)
            .field("slice", &self.slice)
            .field("redis_timeout", &self.redis_timeout)
            .field("probe_ttl", &self.probe_ttl)
            .field("reconnect_max", &self.reconnect_max)
            .field("key_ttl", &self.key_ttl)
            .field("propagate_local_trips", &self.propagate_local_trips)
            .field(
                "on_coordination_change",
                &self.on_coordination_change.is_some(),
            )
            .finish()
    }
}

impl FleetConfig {
    /// A configuration for the Redis at `url` (`redis://[user:password@]host[:port][/db]`,
    /// or `unix:///path/to/socket`; TLS, `rediss://`, is not built in), with every
    /// other setting at its default.
    ///
    /// ```
    /// let c = warden_redis::FleetConfig::new("redis://127.0.0.1/");
    /// assert!(c.validate().is_ok());
    /// ```
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            cluster: None,
            namespace: DEFAULT_NAMESPACE.to_owned(),
            slice: DEFAULT_SLICE,
            redis_timeout: DEFAULT_REDIS_TIMEOUT,
            probe_ttl: DEFAULT_PROBE_TTL,
            reconnect_max: DEFAULT_RECONNECT_MAX,
            key_ttl: DEFAULT_KEY_TTL,
            propagate_local_trips: true,
            on_coordination_change: None,
        }
    }

    /// A configuration for a Redis Cluster, reached through `nodes`: seed URLs
    /// (`redis://[user:password@]host:port`, database 0, no Unix sockets) from which
    /// the client learns every master and follows failovers and slot moves. One
    /// seed is enough; give several so that a fleet can (re)connect while a seed is
    /// down. Every key of a breaker shares one hash slot; the fleet's change log
    /// lives in a slot of its own (see [`namespace`](Self::namespace)).
    ///
    /// ```
    /// use warden_redis::{FleetConfig, FleetError};
    /// let c = FleetConfig::cluster(["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"]);
    /// assert!(c.validate().is_ok());
    /// // A cluster has one database only.
    /// let err = FleetConfig::cluster(["redis://10.0.0.1:7000/3"]).validate().unwrap_err();
    /// assert!(matches!(err, FleetError::Invalid { field: "url", .. }));
    /// let none: [&str; 0] = [];
    /// assert!(FleetConfig::cluster(none).validate().is_err());
    /// ```
    pub fn cluster<I, S>(nodes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut nodes = nodes.into_iter().map(Into::into);
        let first = nodes.next().unwrap_or_default();
        let mut c = Self::new(first);
        c.cluster = Some(nodes.collect());
        c
    }

    /// The prefix of every key (default `warden`): a breaker named `db` uses
    /// `<namespace>:{db}:state`, `…:counts` and `…:probes` (in the name, `%`, `{`
    /// and `}` are written `%25`, `%7B` and `%7D`, and the empty name `%`), plus
    /// `<namespace>:version` and `<namespace>:changes` for the fleet's change log
    /// (on a Redis Cluster `<namespace>:{%log}:version` and
    /// `<namespace>:{%log}:changes`, so that both share a slot; no breaker's tag
    /// can be `%log`), and the pub/sub channel `<namespace>:notices`
    /// (`<namespace>:{%log}:notices` on a cluster) for change notices.
    /// 1 to 64 bytes, no
    /// whitespace, `{` or `}`. Instances share a breaker when they share the
    /// namespace and the breaker's name.
    ///
    /// ```
    /// use warden_redis::{FleetConfig, FleetError};
    /// let err = FleetConfig::new("redis://127.0.0.1/").namespace("a b").validate().unwrap_err();
    /// assert!(matches!(err, FleetError::Invalid { field: "namespace", .. }));
    /// ```
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// How often each instance talks to Redis: one round trip per slice, which
    /// reads the fleet's change log and runs one script for each breaker with news
    /// (default 100 ms; 1 ms to 60 s, whole milliseconds). It bounds how late an
    /// instance publishes its calls. Transitions do not wait for it: a local trip
    /// is published at once, and other instances hear of every transition through
    /// a change notice (pub/sub) and sync at once; the slice bounds only how late
    /// an instance that missed a notice learns of it (one slice plus two round
    /// trips).
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = warden_redis::FleetConfig::new("redis://127.0.0.1/").slice(Duration::from_millis(20));
    /// assert!(c.validate().is_ok());
    /// ```
    pub fn slice(mut self, slice: Duration) -> Self {
        self.slice = slice;
        self
    }

    /// The longest any one Redis command (or a connection attempt) may take before
    /// the instance treats Redis as down (default 250 ms; 1 ms to 10 s, whole
    /// milliseconds). No guarded call ever waits for Redis: this bounds only the
    /// background task.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = warden_redis::FleetConfig::new("redis://127.0.0.1/").redis_timeout(Duration::ZERO);
    /// assert!(c.validate().is_err());
    /// ```
    pub fn redis_timeout(mut self, timeout: Duration) -> Self {
        self.redis_timeout = timeout;
        self
    }

    /// How long a half-open probe token lives in Redis when its probe never
    /// reports (the instance died or lost Redis): after it the slot goes to another
    /// probe, so no dead instance strands the fleet in half-open (default 10 s;
    /// 1 ms to 1 h, whole milliseconds). Make it longer than a probe call takes.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = warden_redis::FleetConfig::new("redis://127.0.0.1/").probe_ttl(Duration::from_secs(2));
    /// assert!(c.validate().is_ok());
    /// ```
    pub fn probe_ttl(mut self, ttl: Duration) -> Self {
        self.probe_ttl = ttl;
        self
    }

    /// The longest wait between reconnection attempts while Redis is down; waits
    /// start at one slice and double up to this (default 1 s; from the slice to
    /// 5 min, whole milliseconds).
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = warden_redis::FleetConfig::new("redis://127.0.0.1/").reconnect_max(Duration::from_secs(5));
    /// assert!(c.validate().is_ok());
    /// ```
    pub fn reconnect_max(mut self, max: Duration) -> Self {
        self.reconnect_max = max;
        self
    }

    /// How long a breaker's keys stay in Redis after the last instance used the
    /// name (default 10 min; 1 ms to 30 days, whole milliseconds). Every script
    /// run on a name (an instance publishing calls, a probe, a transition) sets
    /// its keys' time-to-live again, so a name that no instance uses any more
    /// disappears from Redis by itself; an open decision's keys live until its
    /// deadline plus this, so it never expires early.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = warden_redis::FleetConfig::new("redis://127.0.0.1/").key_ttl(Duration::from_secs(3600));
    /// assert!(c.validate().is_ok());
    /// ```
    pub fn key_ttl(mut self, ttl: Duration) -> Self {
        self.key_ttl = ttl;
        self
    }

    /// The URL with every credential removed: rebuilt from its host, port (or
    /// socket path) and database, never echoing the text given. A URL that does
    /// not parse shows only its length.
    ///
    /// ```
    /// use warden_redis::FleetConfig;
    /// let c = FleetConfig::new("redis://user:hunter2@10.0.0.7:6380/2");
    /// assert_eq!(c.redacted_url(), "redis://…@10.0.0.7:6380/2");
    /// let c = FleetConfig::new("unix:///run/redis.sock?db=1&pass=hunter2");
    /// assert_eq!(c.redacted_url(), "unix:///run/redis.sock?db=1");
    /// ```
    pub fn redacted_url(&self) -> String {
        redact(&self.url)
    }

    /// Whether a local trip (the local breaker opened by its own counts, which
    /// follow the same policy) opens the whole fleet (default `true`). With
    /// `false` only the fleet-wide counts published each slice decide; outcomes of
    /// the slice in which the local breaker tripped are then not published (the
    /// trip zeroes the local counts before the next poll).
    ///
    /// ```
    /// let c = warden_redis::FleetConfig::new("redis://127.0.0.1/").propagate_local_trips(false);
    /// assert!(c.validate().is_ok());
    /// ```
    pub fn propagate_local_trips(mut self, propagate: bool) -> Self {
        self.propagate_local_trips = propagate;
        self
    }

    /// Called (on the background task) every time the fleet's [`Coordination`]
    /// changes, e.g. to set a gauge or page someone; a warning is logged through
    /// `tracing` on each change as well.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicI64, Ordering};
    /// use std::sync::Arc;
    /// let gauge = Arc::new(AtomicI64::new(0));
    /// let g = gauge.clone();
    /// let c = warden_redis::FleetConfig::new("redis://127.0.0.1/")
    ///     .on_coordination_change(move |c| g.store(c.as_gauge(), Ordering::Relaxed));
    /// # let _ = c;
    /// ```
    pub fn on_coordination_change<F>(mut self, f: F) -> Self
    where
        F: Fn(Coordination) + Send + Sync + 'static,
    {
        self.on_coordination_change = Some(Arc::new(f));
        self
    }

    /// Checks every setting, naming the first bad one.
    ///
    /// ```
    /// use warden_redis::{FleetConfig, FleetError};
    /// let err = FleetConfig::new("http://127.0.0.1/").validate().unwrap_err();
    /// assert!(matches!(err, FleetError::Invalid { field: "url", .. }));
    /// ```
    pub fn validate(&self) -> Result<(), FleetError> {
        self.client().map(|_| ())
    }

    /// Validates and builds the Redis client.
    pub(crate) fn client(&self) -> Result<Client, FleetError> {
        let ns = &self.namespace;
        if ns.is_empty()
            || ns.len() > 64
            || ns
                .chars()
                .any(|c| c.is_whitespace() || c == '{' || c == '}')
        {
            return Err(FleetError::Invalid {
                field: "namespace",
                value: quote_bounded(ns),
                allowed: "1 to 64 bytes without whitespace, '{' or '}'",
            });
        }
        millis(
            "slice",
            self.slice,
            Duration::from_millis(1),
            Duration::from_secs(60),
            "1 ms to 60 s",
        )?;
        millis(
            "redis_timeout",
            self.redis_timeout,
            Duration::from_millis(1),
            Duration::from_secs(10),
            "1 ms to 10 s",
        )?;
        millis(
            "probe_ttl",
            self.probe_ttl,
            Duration::from_millis(1),
            Duration::from_secs(3600),
            "1 ms to 1 h",
        )?;
        millis(
            "reconnect_max",
            self.reconnect_max,
            self.slice,
            Duration::from_secs(300),
            "from the slice to 5 min",
        )?;
        millis(
            "key_ttl",
            self.key_ttl,
            Duration::from_millis(1),
            Duration::from_secs(30 * 86_400),
            "1 ms to 30 days",
        )?;
        if let Some(seeds) = &self.cluster {
            let nodes: Vec<&str> = std::iter::once(self.url.as_str())
                .chain(seeds.iter().map(String::as_str))
                .collect();
            for url in &nodes {
                use redis::IntoConnectionInfo;
                let ok = url.starts_with("redis://")
                    && url
                        .into_connection_info()
                        .is_ok_and(|i| i.redis_settings().db() == 0);
                if !ok {
                    return Err(FleetError::Invalid {
                        field: "url",
                        value: redact(url),
                        allowed: "a Redis Cluster node: redis://[user:password@]host[:port] (database 0, no TLS)",
                    });
                }
            }
            // Fail fast: the fleet's own timeout bounds every round trip, and the
            // task retries with its backoff.
            return redis::cluster::ClusterClient::builder(nodes)
                .retries(2)
                .min_retry_wait(5)
                .max_retry_wait(50)
                .connection_timeout(self.redis_timeout)
                .response_timeout(self.redis_timeout)
                .build()
                .map(|c| Client::Cluster(Box::new(c)))
                .map_err(|_| FleetError::Invalid {
                    field: "url",
                    value: redact(&self.url),
                    allowed: "Redis Cluster nodes sharing one user name and password",
                });
        }
        let scheme_ok = ["redis://", "redis+unix://", "unix://"]
            .iter()
            .any(|s| self.url.starts_with(s));
        let client = if scheme_ok {
            redis::Client::open(self.url.as_str()).ok()
        } else {
            None
        };
        client.map(Client::Single).ok_or_else(|| FleetError::Invalid {
            field: "url",
            value: redact(&self.url),
            allowed: "a Redis URL: redis://[user:password@]host[:port][/db] or unix:///path (no TLS)",
        })
    }

    /// The fleet's change-log keys: (version counter, changes sorted set).
    pub(crate) fn log_keys(&self) -> (String, String) {
        let ns = &self.namespace;
        if self.cluster.is_some() {
            (
                format!("{ns}:{{%log}}:version"),
                format!("{ns}:{{%log}}:changes"),
            )
        } else {
            (format!("{ns}:version"), format!("{ns}:changes"))
        }
    }

    /// The pub/sub channel of the fleet's change notices.
    pub(crate) fn notice_channel(&self) -> String {
        let ns = &self.namespace;
        if self.cluster.is_some() {
            format!("{ns}:{{%log}}:notices")
        } else {
            format!("{ns}:notices")
        }
    }
}

/// A validated Redis client: one server or a cluster.
pub(crate) enum Client {
    Single(redis::Client),
    Cluster(Box<redis::cluster::ClusterClient>),
}

/// `url` without credentials: rebuilt from what the Redis client parsed (host,
/// port or socket path, database), or only its length when it does not parse.
/// Bounded: a host or path longer than 128 bytes is cut.
/// `s` quoted, cut to its first 64 bytes (on a character boundary) with its
/// length said after it when longer: an error never echoes a huge input whole.
fn quote_bounded(s: &str) -> String {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return format!("{s:?}");
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}... ({} bytes)", &s[..end], s.len())
}

pub(crate) fn redact(url: &str) -> String {
    use redis::{ConnectionAddr, IntoConnectionInfo};
    fn cut(s: &str) -> String {
        if s.len() <= 128 {
            return s.to_owned();
        }
        let mut end = 128;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    }
    let Ok(info) = url.into_connection_info() else {
        return format!(
            "<a URL that does not parse, {} bytes, not shown>",
            url.len()
        );
    };
    let settings = info.redis_settings();
    let who = if settings.username().is_some() || settings.password().is_some() {
        "…@"
    } else {
        ""
    };
    let db = settings.db();
    match info.addr() {
        ConnectionAddr::Tcp(host, port) => format!("redis://{who}{}:{port}/{db}", cut(host)),
        ConnectionAddr::TcpTls { host, port, .. } => {
            format!("rediss://{who}{}:{port}/{db}", cut(host))
        }
        ConnectionAddr::Unix(path) => {
            let path = path.to_string_lossy();
            format!("unix://{}?db={db}", cut(&path))
        }
        _ => "<a Redis address of an unknown kind, not shown>".to_owned(),
    }
}

fn millis(
    field: &'static str,
    value: Duration,
    min: Duration,
    max: Duration,
    allowed: &'static str,
) -> Result<(), FleetError> {
    if !value.subsec_nanos().is_multiple_of(1_000_000) || value < min || value > max {
        return Err(FleetError::Invalid {
            field,
            value: format!("{value:?}"),
            allowed,
        });
    }
    Ok(())
}

/// Why a [`Fleet`](crate::Fleet) could not start or a breaker could not join it.
///
/// ```
/// use std::time::Duration;
/// use warden_redis::{FleetConfig, FleetError};
/// let err = FleetConfig::new("redis://127.0.0.1/")
///     .slice(Duration::from_micros(1500))
///     .validate()
///     .unwrap_err();
/// assert!(matches!(err, FleetError::Invalid { field: "slice", .. }));
/// assert_eq!(
///     err.to_string(),
///     "invalid slice: 1.5ms is not allowed (allowed: 1 ms to 60 s, whole milliseconds)"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// A setting outside its allowed values.
    #[error("invalid {field}: {value} is not allowed (allowed: {allowed}{unit})", unit = if matches!(*field, "slice" | "redis_timeout" | "probe_ttl" | "reconnect_max" | "key_ttl") { ", whole milliseconds" } else { "" })]
    Invalid {
        /// The setting.
        field: &'static str,
        /// The value given (a URL without its credentials).
        value: String,
        /// What is allowed, in words.
        allowed: &'static str,
    },
    /// [`Fleet::start`](crate::Fleet::start) was called outside a tokio runtime.
    #[error("no tokio runtime: start the fleet from inside a tokio runtime")]
    NoRuntime,
    /// A breaker with this name (its first 64 characters) is already attached to
    /// the fleet.
    #[error("a breaker named {0:?} is already attached to this fleet")]
    Duplicate(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(c: FleetConfig) -> &'static str {
        match c.validate() {
            Err(FleetError::Invalid { field, .. }) => field,
            other => panic!("expected an invalid field, got {other:?}"),
        }
    }

    #[test]
    fn every_field_is_checked_and_named() {
        let ok = || FleetConfig::new("redis://127.0.0.1:6379/0");
        assert!(ok().validate().is_ok());
        assert!(
            FleetConfig::new("redis://u:p@host:6380/")
                .validate()
                .is_ok()
        );
        // TLS is not built in.
        assert_eq!(field(FleetConfig::new("rediss://host/")), "url");
        assert_eq!(field(FleetConfig::new("127.0.0.1:6379")), "url");
        assert_eq!(field(FleetConfig::new("redis://")), "url");
        assert_eq!(field(ok().namespace("")), "namespace");
        assert_eq!(field(ok().namespace("a{b}")), "namespace");
        assert_eq!(field(ok().namespace("x".repeat(65))), "namespace");
        assert_eq!(field(ok().slice(Duration::ZERO)), "slice");
        assert_eq!(field(ok().slice(Duration::from_secs(61))), "slice");
        assert_eq!(
            field(ok().redis_timeout(Duration::from_secs(11))),
            "redis_timeout"
        );
        assert_eq!(
            field(ok().probe_ttl(Duration::from_micros(10))),
            "probe_ttl"
        );
        assert_eq!(
            field(ok().probe_ttl(Duration::from_secs(3601))),
            "probe_ttl"
        );
        // reconnect_max may not be shorter than the slice.
        assert_eq!(
            field(
                ok().slice(Duration::from_secs(2))
                    .reconnect_max(Duration::from_secs(1))
            ),
            "reconnect_max"
        );
        assert_eq!(
            field(ok().reconnect_max(Duration::from_secs(301))),
            "reconnect_max"
        );
    }

    #[test]
    fn cluster_seeds_are_checked_one_by_one() {
        let ok = FleetConfig::cluster(["redis://127.0.0.1:7000", "redis://u:p@127.0.0.1:7001/0"]);
        assert!(ok.validate().is_ok());
        for bad in [
            "unix:///run/redis.sock",
            "redis://127.0.0.1:7001/1",
            "rediss://127.0.0.1:7001",
            "127.0.0.1:7001",
            "",
        ] {
            let err = FleetConfig::cluster(["redis://127.0.0.1:7000", bad])
                .validate()
                .unwrap_err();
            assert!(
                matches!(err, FleetError::Invalid { field: "url", .. }),
                "{bad}: {err}"
            );
        }
        // Seeds with different passwords cannot form one client.
        let err = FleetConfig::cluster(["redis://:a@127.0.0.1:7000", "redis://:b@127.0.0.1:7001"])
            .validate()
            .unwrap_err();
        assert!(matches!(err, FleetError::Invalid { field: "url", .. }));
        assert!(!err.to_string().contains(":a@"));
    }

    #[test]
    fn every_url_form_is_redacted_in_debug_display_and_errors() {
        // Every form the Redis client accepts, valid or not, with a password in
        // each place one can go.
        let forms = [
            "redis://user:hunter2@127.0.0.1:6379/0",
            "redis://:hunter2@127.0.0.1/",
            "redis://hunter2@127.0.0.1/",
            "redis://user:hunter2@127.0.0.1/?protocol=resp3",
            "redis:/user:hunter2@host",
            "redis:user:hunter2@host",
            "user:hunter2@host",
            "user:hunter2@host:6379",
            "unix:///var/run/redis/redis.sock?db=x&pass=hunter2",
            "unix:///var/run/redis/redis.sock?db=1&pass=hunter2",
            "unix:///var/run/redis/redis.sock?user=u&pass=hunter2",
            "redis+unix:///run/redis.sock?pass=hunter2",
            "rediss://user:hunter2@127.0.0.1/",
            "http://user:hunter2@127.0.0.1/",
            "redis://user:hun%74er2@127.0.0.1/",
            "redis://user:p?hunter2@127.0.0.1/",
            "unix:///s?pass=hunter2@x",
            "hunter2",
        ];
        let configs = forms.iter().flat_map(|url| {
            [
                FleetConfig::new(*url),
                // A cluster: the form as the first seed and as another one.
                FleetConfig::cluster([*url]),
                FleetConfig::cluster(["redis://127.0.0.1:7000", url]),
            ]
        });
        for c in configs {
            let url = &c.url;
            let debug = format!("{c:?}");
            let pretty = format!("{c:#?}");
            let redacted = c.redacted_url();
            let err = c.validate().err();
            let (display, err_debug) = match &err {
                Some(e) => (e.to_string(), format!("{e:?}")),
                None => (String::new(), String::new()),
            };
            for text in [&debug, &pretty, &redacted, &display, &err_debug] {
                assert!(
                    !text.contains("hunter2") && !text.contains("hun%74er2"),
                    "{url}: {text}"
                );
            }
        }
        assert_eq!(
            FleetConfig::new("unix:///var/run/redis/redis.sock?db=1&pass=hunter2").redacted_url(),
            "unix:///var/run/redis/redis.sock?db=1"
        );
        assert_eq!(
            FleetConfig::new("redis://127.0.0.1/3").redacted_url(),
            "redis://127.0.0.1:6379/3"
        );
        // A long host is cut, not echoed whole.
        let long = format!("redis://{}/", "h".repeat(1 << 20));
        assert!(FleetConfig::new(long).redacted_url().len() < 300);
    }

    /// A 1 MiB namespace is refused with an error quoting its first 64 bytes
    /// and its length, not the whole of it.
    #[test]
    fn a_huge_namespace_is_quoted_bounded() {
        let huge = "n".repeat(1 << 20);
        let err = FleetConfig::new("redis://127.0.0.1/")
            .namespace(huge)
            .validate()
            .unwrap_err();
        let text = err.to_string();
        assert!(text.len() < 300, "{} bytes", text.len());
        assert!(
            text.contains(&"n".repeat(64)) && text.contains("1048576 bytes"),
            "{text}"
        );
        // A short bad one is quoted whole.
        let err = FleetConfig::new("redis://127.0.0.1/")
            .namespace("a b")
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("\"a b\""), "{err}");
    }

    #[test]
    fn credentials_stay_out_of_debug_and_errors() {
        let c = FleetConfig::new("redis://user:hunter2@127.0.0.1/");
        assert!(!format!("{c:?}").contains("hunter2"));
        let err = FleetConfig::new("http://user:hunter2@127.0.0.1/")
            .validate()
            .unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.to_string().contains("url"));
    }
}
