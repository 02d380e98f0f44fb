//! Presets: a ready [`Pipeline`] from a [`Preset`] and a name.
//!
//! A preset sets each strategy of a pipeline as fits one kind of dependency:
//! the breaker, the bulkhead and the call timeout (its [`BreakerConfig`](crate::BreakerConfig),
//! which is also what `preset = "kafka"` gives a section of a configuration
//! file), and a retry for calls that are safe to repeat.
//! [`Preset::pipeline`] gives a name's pipeline without retry;
//! [`Preset::idempotent_pipeline`] adds the preset's retry
//! ([`Preset::retry`]). Both pipelines of one name share its breaker and
//! bulkhead, so a service builds one of each where it has both kinds of calls.
//!
//! | preset | breaker | bulkhead | call timeout | retry ([`idempotent_pipeline`](Preset::idempotent_pipeline) only) |
//! | --- | --- | --- | --- | --- |
//! | [`Default`](Preset::Default) ([`BreakerConfig::default`](crate::BreakerConfig::default)) | opens at 6 consecutive failures; 60 s open, 1 probe | none | none | 3 attempts; waits 50–100, 100–200 ms (doubling, equal jitter) |
//! | [`Kafka`](Preset::Kafka) ([`BreakerConfig::kafka`](crate::BreakerConfig::kafka)) | ≥ 50 % of ≥ 20 calls per 60 s; 30 s open, 5 probes | none | 5 s | 5 attempts; waits up to 200, 400, 800, 1600 ms (full jitter) |
//! | [`Clickhouse`](Preset::Clickhouse) ([`BreakerConfig::clickhouse`](crate::BreakerConfig::clickhouse)) | 5 consecutive failures; 60 s open, 1 probe | 8 | 30 s | 4 attempts; waits 75–150, 150–300, 300–600 ms (equal jitter) |
//! | [`Notification`](Preset::Notification) ([`BreakerConfig::notification`](crate::BreakerConfig::notification)) | 3 consecutive failures; 15 s open, 2 probes | 32 | 3 s | 3 attempts; waits 50–100, 100–200 ms (equal jitter) |
//! | [`Http`](Preset::Http) ([`BreakerConfig::http`](crate::BreakerConfig::http)) | ≥ 50 % of the last 100 calls (≥ 20); 30 s open, 3 probes | 64 | 10 s | 3 attempts; waits 50–100, 100–200 ms (equal jitter) |
//!
//! Why each breaker setting: on [`BreakerConfig`](crate::BreakerConfig)'s presets. Why each retry
//! schedule: [`RetryPolicy::kafka`], [`RetryPolicy::clickhouse`] and
//! [`RetryPolicy::default`] (a short schedule that rides out a reset
//! connection or one bad instance behind a load balancer without adding
//! more than a few hundred milliseconds to a request).
//!
//! # Retries and idempotency
//!
//! No preset retries by default. A call that failed or timed out may still
//! have taken effect on the other side (the request arrived, the answer was
//! lost; a sync call past its timeout even ran to its end), so repeating it
//! is only safe for calls whose repetition has the effect of one call
//! (idempotent calls): reads, HTTP `GET`/`PUT`/`DELETE`, a Kafka send from an idempotent producer, an
//! insert the server deduplicates, a notification sent with the provider's
//! idempotency key. Use [`idempotent_pipeline`](Preset::idempotent_pipeline)
//! for those only, and [`pipeline`](Preset::pipeline) for the rest.
//!
//! The preset's retry repeats the call's own errors and timeouts. As in every
//! pipeline, each attempt goes through the bulkhead, the breaker and the
//! timeout, and a refused attempt (an open breaker, a full bulkhead) or a
//! shut-down registry ends the run at once. A classifier's verdict does not
//! make an `Ok` retried: an HTTP `503` returned as `Ok(response)` counts as
//! a failure but is not repeated.
//!
//! # Names with their own configuration
//!
//! A name configured already (by [`RegistryBuilder::configure`](crate::RegistryBuilder::configure),
//! a file's `[breakers.<name>]` section or [`Registry::configure`]) keeps
//! that configuration: the file stays the place to adjust a preset
//! (`preset = "http"` and `max_concurrent = 16`), the code chooses the
//! pipeline and its retry. Any other name gets the preset's configuration
//! when its pipeline is first built this way.
//!
//! ```
//! use warden_kit::{Preset, Registry};
//! let registry = Registry::builder().build()?;
//! // Queries may run twice: retried; inserts are not.
//! let select = Preset::Clickhouse.idempotent_pipeline::<u64, String>(&registry, "clickhouse")?;
//! let insert = Preset::Clickhouse.pipeline::<(), String>(&registry, "clickhouse")?;
//! assert_eq!(registry.breaker("clickhouse")?.in_flight(), Some(0)); // the preset's bulkhead
//! assert!(insert.execute(|| Ok(())).succeeded());
//! assert_eq!(select.execute(|| Ok(42)).value(), Some(&42));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use warden_retry::RetryPolicy;

use crate::{ExecuteError, Pipeline, Preset, Registry, RegistryError};

impl Preset {
    /// The retry of this preset's [`idempotent_pipeline`](Self::idempotent_pipeline):
    /// the schedule in the [table](crate::presets), repeating the call's
    /// errors and timeouts (a pipeline ends a run at a refusal or a shutdown
    /// whatever the policy says). Adjust it with
    /// [`to_builder`](RetryPolicy::to_builder) (a narrower `retry_if`, an
    /// observer such as `Registry::retry_metrics`, a budget) and pass it to
    /// [`Pipeline::with_retry`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use warden_kit::{ExecuteError, Preset};
    /// let retry = Preset::Kafka.retry::<std::io::Error>();
    /// assert_eq!((retry.max_attempts(), retry.base_delay()), (Some(5), Duration::from_millis(200)));
    /// assert!(retry.is_retryable(&ExecuteError::Timeout(Duration::from_secs(5))));
    /// ```
    pub fn retry<E>(self) -> RetryPolicy<ExecuteError<E>> {
        match self {
            Preset::Kafka => RetryPolicy::kafka(),
            Preset::Clickhouse => RetryPolicy::clickhouse(),
            Preset::Default | Preset::Notification | Preset::Http => RetryPolicy::default(),
        }
    }

    /// The pipeline of `name` with this preset's breaker, bulkhead and call
    /// timeout, without retry: for calls that must not run twice. A name
    /// with its own configuration keeps it (see [the module](crate::presets)).
    /// The name becomes configured, as with [`Registry::configure`] (never
    /// evicted for being idle). Build the pipeline once and keep it (this
    /// takes the registry's lock); add a fallback or a classifier with the
    /// pipeline's `with_` methods.
    ///
    /// # Errors
    ///
    /// [`RegistryError::AlreadyCreated`] when `name` is already in use with
    /// the registry's default configuration (created by a call before the
    /// preset was chosen), and as [`Registry::breaker`].
    ///
    /// ```
    /// use warden_kit::{BreakerConfig, Preset, Registry};
    /// let registry = Registry::builder().build()?;
    /// let sms = Preset::Notification.pipeline::<(), String>(&registry, "sms")?;
    /// let ex = sms.execute(|| Err("provider down".to_owned()));
    /// assert_eq!(ex.attempts(), 1); // never retried
    /// assert_eq!(*registry.breaker("sms")?.config(), BreakerConfig::notification());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pipeline<T, E>(
        self,
        registry: &Registry,
        name: &str,
    ) -> Result<Pipeline<T, E>, RegistryError> {
        registry.pipeline_configured_as(name, || self.config())
    }

    /// [`pipeline`](Self::pipeline) with the preset's [`retry`](Self::retry):
    /// for calls that are safe to repeat (see [the module](crate::presets)).
    /// Sync runs wait between attempts on the thread (the policy's sleeper),
    /// async runs on tokio's timer.
    ///
    /// # Errors
    ///
    /// As [`pipeline`](Self::pipeline).
    ///
    #[cfg_attr(feature = "tokio", doc = "```")]
    #[cfg_attr(not(feature = "tokio"), doc = "```ignore")]
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use warden_kit::{Preset, Registry};
    /// let registry = Registry::builder().build()?;
    /// let users = Preset::Http.idempotent_pipeline(&registry, "users")?; // GETs only
    /// let mut calls = 0;
    /// let ex = users
    ///     .execute_async(|| {
    ///         calls += 1;
    ///         let n = calls;
    ///         async move { if n < 3 { Err("connection reset") } else { Ok("alice") } }
    ///     })
    ///     .await;
    /// assert_eq!((ex.value(), ex.attempts()), (Some(&"alice"), 3));
    /// # Ok(())
    /// # }
    /// ```
    pub fn idempotent_pipeline<T, E>(
        self,
        registry: &Registry,
        name: &str,
    ) -> Result<Pipeline<T, E>, RegistryError> {
        Ok(self.pipeline(registry, name)?.with_retry(self.retry()))
    }
}
