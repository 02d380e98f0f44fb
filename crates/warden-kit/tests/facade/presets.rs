//! The presets trip where their documentation says, and give pipelines with
//! the strategies their documentation lists: no retry by default, the
//! preset's retry only for idempotent calls.

use std::time::Duration;

use warden_kit::{
    BreakerConfig, ManualClock, NameError, Preset, Registry, RegistryConfig, RegistryError, State,
    TripRule,
};

const ALL: [Preset; 5] = [
    Preset::Default,
    Preset::Kafka,
    Preset::Clickhouse,
    Preset::Notification,
    Preset::Http,
];

/// Failures (after `successes` successes) needed to open a fresh breaker with
/// `config`, counting up to `limit`.
fn failures_to_trip(config: BreakerConfig, successes: u32, limit: u32) -> Option<u32> {
    let registry = Registry::builder()
        .default_config(config)
        .clock(ManualClock::new())
        .build()
        .unwrap();
    for _ in 0..successes {
        assert!(
            registry
                .pipeline("x")
                .unwrap()
                .execute(|| Ok::<_, ()>(()))
                .has_value()
        );
    }
    (1..=limit).find(|_| {
        registry
            .pipeline("x")
            .unwrap()
            .execute(|| Err::<(), _>(()))
            .state()
            == Some(State::Open)
    })
}

#[test]
fn default_trips_like_gobreaker_after_more_than_five_consecutive_failures() {
    assert_eq!(failures_to_trip(BreakerConfig::default(), 0, 100), Some(6));
    let registry = Registry::builder().build().unwrap();
    let _ = Preset::Default.pipeline::<(), ()>(&registry, "x").unwrap();
    let x = registry.breaker("x").unwrap();
    let cb = x.breaker();
    assert_eq!(cb.settings().max_requests(), 1);
    assert_eq!(cb.settings().interval(), Duration::ZERO);
    assert_eq!(cb.settings().timeout(), Duration::from_secs(60));
}

#[test]
fn kafka_trips_at_half_failures_of_at_least_twenty_calls() {
    // All failures: nothing happens before the 20th call.
    assert_eq!(failures_to_trip(BreakerConfig::kafka(), 0, 100), Some(20));
    // 15 successes first: trips when failures reach half of the calls (15 of 30).
    assert_eq!(failures_to_trip(BreakerConfig::kafka(), 15, 100), Some(15));
    let registry = Registry::builder().build().unwrap();
    let _ = Preset::Kafka
        .pipeline::<(), ()>(&registry, "orders")
        .unwrap();
    let orders = registry.breaker("orders").unwrap();
    let cb = orders.breaker();
    assert_eq!(cb.name(), "orders");
    assert_eq!(
        (
            cb.settings().max_requests(),
            cb.settings().interval(),
            cb.settings().timeout()
        ),
        (5, Duration::from_secs(60), Duration::from_secs(30))
    );
}

#[test]
fn kafka_counts_restart_every_interval() {
    let clock = ManualClock::new();
    let registry = Registry::builder()
        .configure("kafka", BreakerConfig::kafka())
        .clock(clock.clone())
        .build()
        .unwrap();
    for _ in 0..19 {
        let _ = registry
            .pipeline("kafka")
            .unwrap()
            .execute(|| Err::<(), _>(()));
    }
    clock.advance(Duration::from_millis(60_001));
    // A new interval: the 20th failure is only the first of this minute.
    let ex = registry
        .pipeline("kafka")
        .unwrap()
        .execute(|| Err::<(), _>(()));
    assert_eq!(ex.state(), Some(State::Closed));
    assert_eq!(registry.breaker("kafka").unwrap().counts().requests, 1);
}

#[test]
fn clickhouse_and_notification_trip_on_consecutive_failures() {
    assert_eq!(
        failures_to_trip(BreakerConfig::clickhouse(), 0, 100),
        Some(5)
    );
    assert_eq!(
        failures_to_trip(BreakerConfig::notification(), 0, 100),
        Some(3)
    );
    let registry = Registry::builder().build().unwrap();
    let _ = Preset::Clickhouse
        .pipeline::<(), ()>(&registry, "ch")
        .unwrap();
    let _ = Preset::Notification
        .pipeline::<(), ()>(&registry, "sms")
        .unwrap();
    let ch = registry.breaker("ch").unwrap();
    assert_eq!(ch.breaker().settings().max_requests(), 1);
    let n = registry.breaker("sms").unwrap();
    assert_eq!(n.breaker().settings().timeout(), Duration::from_secs(15));
}

#[test]
fn preset_bulkheads_and_timeouts_reach_the_registry() {
    let registry = Registry::builder()
        .configure("ch", BreakerConfig::clickhouse())
        .configure("sms", BreakerConfig::notification())
        .configure("kafka", BreakerConfig::kafka())
        .build()
        .unwrap();
    let list: Vec<_> = ["ch", "kafka", "sms"]
        .iter()
        .map(|n| registry.breaker(n).unwrap().config().call_timeout())
        .collect();
    assert_eq!(list, [30, 5, 3].map(|s| Some(Duration::from_secs(s))));
    let statuses = registry.list();
    let max: Vec<_> = statuses.iter().map(|s| s.max_concurrent).collect();
    assert_eq!(max, [Some(8), None, Some(32)]);
}

#[test]
fn http_trips_at_half_of_the_last_hundred_calls() {
    // All failures: nothing happens before the 20th call.
    assert_eq!(failures_to_trip(BreakerConfig::http(), 0, 100), Some(20));
    // 30 successes first: trips when failures are half the window (30 of 60).
    assert_eq!(failures_to_trip(BreakerConfig::http(), 30, 100), Some(30));
    // 100 successes fill the window: each failure pushes a success out,
    // so half of the last 100 calls failed at the 50th failure.
    assert_eq!(failures_to_trip(BreakerConfig::http(), 100, 200), Some(50));
    assert_eq!(
        BreakerConfig::http().trip(),
        &TripRule::CountWindow {
            size: 100,
            min_calls: 20,
            failure_rate_percent: 50
        }
    );
}

#[test]
fn every_preset_is_a_file_preset_and_a_valid_configuration() {
    for preset in ALL {
        preset.config().validate("breakers.x").unwrap();
        let name = format!("{preset:?}").to_lowercase();
        let file = format!("[breakers.x]\npreset = \"{name}\"\n");
        let config = RegistryConfig::from_toml_str(&file).unwrap();
        assert_eq!(config.resolve().unwrap().1["x"], preset.config(), "{name}");
    }
    // An unknown preset names the ones there are.
    let err = RegistryConfig::from_toml_str("[breakers.x]\npreset = \"grpc\"\n").unwrap_err();
    assert_eq!(err.path(), "breakers.x.preset");
    let message = err.to_string();
    for name in ["default", "kafka", "clickhouse", "notification", "http"] {
        assert!(message.contains(name), "{message}");
    }
}

#[test]
fn preset_pipelines_carry_the_preset_bulkhead_and_call_timeout() {
    let registry = Registry::builder().build().unwrap();
    for (i, preset) in ALL.into_iter().enumerate() {
        let name = format!("n{i}");
        let _ = preset.pipeline::<(), ()>(&registry, &name).unwrap();
        let named = registry.breaker(&name).unwrap();
        assert_eq!(*named.config(), preset.config(), "{preset:?}");
        let max = preset.config().max_concurrent();
        assert_eq!(named.in_flight(), (max != 0).then_some(0), "{preset:?}");
    }
    let max: Vec<_> = registry.list().iter().map(|s| s.max_concurrent).collect();
    assert_eq!(max, [None, None, Some(8), Some(32), Some(64)]);
}

#[test]
fn preset_pipelines_never_retry_by_default() {
    let registry = Registry::builder().build().unwrap();
    for (i, preset) in ALL.into_iter().enumerate() {
        let p = preset.pipeline(&registry, &format!("n{i}")).unwrap();
        let mut calls = 0;
        let ex = p.execute(|| {
            calls += 1;
            Err::<(), _>("reset")
        });
        assert_eq!((calls, ex.attempts()), (1, 1), "{preset:?}");
    }
}

#[test]
fn preset_retries_follow_the_documented_schedules() {
    let ms = Duration::from_millis;
    let expected = [
        (Preset::Default, 3, ms(100)),
        (Preset::Kafka, 5, ms(200)),
        (Preset::Clickhouse, 4, ms(150)),
        (Preset::Notification, 3, ms(100)),
        (Preset::Http, 3, ms(100)),
    ];
    for (preset, attempts, base) in expected {
        let retry = preset.retry::<()>();
        assert_eq!(
            (retry.max_attempts(), retry.base_delay()),
            (Some(attempts), base),
            "{preset:?}"
        );
        // Errors and timeouts are repeated; refusals end a run in the pipeline.
        assert!(retry.is_retryable(&warden_kit::ExecuteError::Inner(())));
        assert!(retry.is_retryable(&warden_kit::ExecuteError::Timeout(ms(1))));
        assert!(!retry.retries_rejections());
    }
}

#[test]
fn a_refused_attempt_is_not_retried() {
    let registry = Registry::builder().build().unwrap();
    let p = Preset::Kafka
        .idempotent_pipeline::<(), &str>(&registry, "orders")
        .unwrap();
    registry.breaker("orders").unwrap().breaker().force_open();
    let mut calls = 0;
    let ex = p.execute(|| {
        calls += 1;
        Ok(())
    });
    assert!(ex.is_rejected());
    assert_eq!((calls, ex.attempts()), (0, 0));
}

#[test]
fn both_pipelines_of_a_name_share_its_breaker() {
    let registry = Registry::builder().build().unwrap();
    let read = Preset::Http
        .idempotent_pipeline::<u32, &str>(&registry, "users")
        .unwrap();
    let write = Preset::Http
        .pipeline::<u32, &str>(&registry, "users")
        .unwrap();
    assert_eq!(read.execute(|| Ok(1)).value(), Some(&1));
    assert_eq!(write.execute(|| Ok(2)).value(), Some(&2));
    assert_eq!(
        registry.breaker("users").unwrap().counts().total_successes,
        2
    );
    assert_eq!(registry.len(), 1);
}

#[test]
fn a_configured_name_keeps_its_configuration() {
    // A file adjusts the preset; the code's preset adds only the pipeline.
    let file = RegistryConfig::from_toml_str(
        "[breakers.users]\npreset = \"http\"\nmax_concurrent = 4\n\n[breakers.db]\npreset = \"clickhouse\"\n",
    )
    .unwrap();
    let registry = Registry::builder().config(file).build().unwrap();
    let _ = Preset::Http
        .idempotent_pipeline::<(), ()>(&registry, "users")
        .unwrap();
    let users = registry.breaker("users").unwrap().config();
    assert_eq!(users.max_concurrent(), 4);
    assert_eq!(users.call_timeout(), Some(Duration::from_secs(10)));
    // Another preset in code does not replace the file's.
    let _ = Preset::Kafka.pipeline::<(), ()>(&registry, "db").unwrap();
    assert_eq!(
        *registry.breaker("db").unwrap().config(),
        BreakerConfig::clickhouse()
    );
    // So does a name configured in code.
    registry
        .configure("search", BreakerConfig::default().with_max_concurrent(2))
        .unwrap();
    let _ = Preset::Http
        .pipeline::<(), ()>(&registry, "search")
        .unwrap();
    assert_eq!(registry.breaker("search").unwrap().in_flight(), Some(0));
    assert_eq!(
        registry
            .breaker("search")
            .unwrap()
            .config()
            .max_concurrent(),
        2
    );
}

#[test]
fn a_name_in_use_with_the_default_configuration_is_refused() {
    let registry = Registry::builder().build().unwrap();
    let _ = registry
        .pipeline::<(), ()>("users")
        .unwrap()
        .execute(|| Ok(()));
    let err = Preset::Http
        .pipeline::<(), ()>(&registry, "users")
        .unwrap_err();
    assert!(matches!(err, RegistryError::AlreadyCreated { .. }), "{err}");
    assert_eq!(
        *registry.breaker("users").unwrap().config(),
        BreakerConfig::default()
    );
}

#[test]
fn preset_pipelines_respect_the_registry_limits() {
    // A strict registry takes only names configured ahead.
    let strict = Registry::builder()
        .strict(true)
        .configure("users", BreakerConfig::http())
        .build()
        .unwrap();
    assert!(Preset::Http.pipeline::<(), ()>(&strict, "users").is_ok());
    assert!(matches!(
        Preset::Http.pipeline::<(), ()>(&strict, "other"),
        Err(RegistryError::Name(NameError::NotConfigured { .. }))
    ));
    // Too long a name is refused before it is configured.
    let registry = Registry::builder().max_name_len(8).build().unwrap();
    let long = "x".repeat(1 << 20);
    let err = Preset::Kafka
        .pipeline::<(), ()>(&registry, &long)
        .unwrap_err();
    assert!(matches!(
        err,
        RegistryError::Name(NameError::TooLong { .. })
    ));
    assert!(err.to_string().len() < 200, "{err}");
    // ... and left unconfigured.
    assert!(matches!(
        registry.reconfigure(&long, BreakerConfig::kafka()),
        Err(RegistryError::NotFound { .. })
    ));
    // A full registry refuses the name and keeps no configuration for it.
    let full = Registry::builder().max_breakers(1).build().unwrap();
    let _kept = Preset::Http.pipeline::<(), ()>(&full, "a").unwrap();
    assert!(matches!(
        Preset::Http.pipeline::<(), ()>(&full, "b"),
        Err(RegistryError::Name(NameError::Full { max: 1 }))
    ));
    assert!(matches!(
        full.reconfigure("b", BreakerConfig::http()),
        Err(RegistryError::NotFound { .. })
    ));
    // A shut-down registry builds none.
    registry.shutdown();
    assert!(matches!(
        Preset::Kafka.pipeline::<(), ()>(&registry, "orders"),
        Err(RegistryError::Shutdown)
    ));
}

#[cfg(feature = "tokio")]
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn idempotent_pipelines_retry_with_the_preset_schedule() {
    // (preset, attempts, least and most total wait of a run that always fails)
    let ms = Duration::from_millis;
    let expected = [
        (Preset::Default, 3, ms(150), ms(300)),
        (Preset::Kafka, 5, ms(0), ms(3000)),
        (Preset::Clickhouse, 4, ms(525), ms(1050)),
        (Preset::Notification, 3, ms(150), ms(300)),
        (Preset::Http, 3, ms(150), ms(300)),
    ];
    let registry = Registry::builder().build().unwrap();
    for (preset, attempts, least, most) in expected {
        let name = format!("{preset:?}");
        let p = preset
            .idempotent_pipeline::<(), String>(&registry, &name)
            .unwrap();
        let mut calls = 0;
        let start = tokio::time::Instant::now();
        let ex = p
            .execute_async(|| {
                calls += 1;
                async { Err("connection reset".to_owned()) }
            })
            .await;
        let waited = start.elapsed();
        assert_eq!((calls, ex.attempts()), (attempts, attempts), "{name}");
        assert!(waited >= least && waited <= most, "{name}: {waited:?}");
    }
}

#[cfg(feature = "tokio")]
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_idempotent_pipeline_retries_a_timed_out_attempt() {
    let registry = Registry::builder().build().unwrap();
    let p = Preset::Http
        .idempotent_pipeline::<&str, String>(&registry, "slow")
        .unwrap();
    let mut calls = 0;
    let ex = p
        .execute_async(|| {
            calls += 1;
            let slow = calls == 1;
            async move {
                if slow {
                    // Paused tokio time (`start_paused`): no real wait; the
                    // runtime jumps past the preset's 10 s call timeout.
                    tokio::time::sleep(Duration::from_secs(11)).await;
                }
                Ok("fresh")
            }
        })
        .await;
    assert_eq!((ex.value(), ex.attempts()), (Some(&"fresh"), 2));
    let counts = registry.breaker("slow").unwrap().counts();
    assert_eq!((counts.total_failures, counts.total_successes), (1, 1));
}
