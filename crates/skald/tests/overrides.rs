//! Per-tenant overrides from Loki's runtime config file (`runtime_config.file`): one
//! tenant's `ingestion_rate_mb` and `max_entries_limit_per_query` change, for that
//! tenant only, within one reload period and without a restart; a broken file keeps the
//! last good overrides and says why; `/runtime_config` and `/config` show them.

mod common;

use common::*;
use skald_common::Entry;
use std::time::{Duration, Instant};

/// A push of about 6 KB (more than a 0.004 MB burst) as `tenant`.
async fn push_6kb(server: &Server, tenant: &str) -> (u16, String) {
    let line = "x".repeat(1000);
    let entries: Vec<Entry> = (0..6).map(|i| Entry::new(now_ns() - 10 * SECOND + i, line.clone())).collect();
    server.push_json(Some(tenant), skald_push::encode_json(&[stream(&[("job", "o")], entries)])).await
}

/// `query_range` with `limit=50`, as `tenant`: the status.
async fn query_50(server: &Server, tenant: &str) -> (u16, String) {
    let params = [("query", r#"{job="o"}"#.to_string()), ("limit", "50".to_string()), ("start", (now_ns() - 60 * SECOND).to_string())];
    server.get("/loki/api/v1/query_range", &params, Some(tenant)).await
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    // One reload period is 1s here; allow a few.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check().await {
        assert!(Instant::now() < deadline, "not within the reload period: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn one_tenants_overrides_take_effect_without_a_restart() {
    let overrides =
        "overrides:\n  small:\n    ingestion_rate_mb: 0.004\n    ingestion_burst_size_mb: 0.004\n    max_entries_limit_per_query: 20\n";
    let config = "auth_enabled: true\ncommon:\n  path_prefix: ROOT/data\nruntime_config:\n  file: ROOT/overrides.yaml\n  period: 1s\nlimits_config:\n  ingestion_rate_mb: 8\n  discover_service_name: []\n";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("overrides.yaml");
    std::fs::write(&file, overrides).unwrap();
    let config = config.replace("ROOT/overrides.yaml", &file.display().to_string());
    let server = Server::start_loki(&config, LokiLaunch::default()).await;

    // In force for `small` only.
    let (status, body) = push_6kb(&server, "small").await;
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("Ingestion rate limit exceeded for user small"), "{body}");
    assert_eq!(push_6kb(&server, "other").await.0, 204);
    let (status, body) = query_50(&server, "small").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("max_entries_limit_per_query (50 > 20)"), "{body}");
    assert_eq!(query_50(&server, "other").await.0, 200);
    let (status, shown) = server.get("/runtime_config", &[("mode", "diff".to_string())], Some("small")).await;
    assert_eq!(status, 200);
    assert!(
        shown.contains("small:") && shown.contains("max_entries_limit_per_query: 20") && !shown.contains("max_query_series"),
        "{shown}"
    );

    // Changed: in force within the period, no restart.
    std::fs::write(&file, overrides.replace("0.004", "1").replace("max_entries_limit_per_query: 20", "max_entries_limit_per_query: 100"))
        .unwrap();
    eventually("the raised limits", async || push_6kb(&server, "small").await.0 == 204 && query_50(&server, "small").await.0 == 200).await;

    // Broken: the last good overrides stay, and the log and /metrics say why.
    std::fs::write(&file, "overrides:\n  small:\n    ingestion_rate_mbb: 1\n").unwrap();
    eventually("the reload failure to be reported", async || {
        let (_, metrics) = server.get("/metrics", &[], None).await;
        metric_value(&metrics, "loki_runtime_config_last_reload_successful") == Some(0.0)
    })
    .await;
    assert!(server.logs().contains("did you mean limits_config.ingestion_rate_mb"), "{}", server.logs());
    assert_eq!(query_50(&server, "small").await.0, 200, "the last good overrides are still in force");
    let (_, shown) = server.get("/runtime_config", &[], Some("small")).await;
    assert!(shown.contains("max_entries_limit_per_query: 100"), "{shown}");

    // Fixed again: taken.
    std::fs::write(&file, overrides).unwrap();
    eventually("the fixed file", async || query_50(&server, "small").await.0 == 400).await;
    let (_, metrics) = server.get("/metrics", &[], None).await;
    assert_eq!(metric_value(&metrics, "loki_runtime_config_last_reload_successful"), Some(1.0));
}

#[tokio::test]
async fn a_broken_override_file_stops_the_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("overrides.yaml");
    std::fs::write(&file, "overrides:\n  t:\n    max_entries_limit_per_querry: 5\n").unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, format!("runtime_config:\n  file: {}\n", file.display())).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_skald"))
        .args([&format!("-config.file={}", config.display()), "-verify-config"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("overrides.t.max_entries_limit_per_querry") && stderr.contains("did you mean"), "{stderr}");
}

#[tokio::test]
async fn the_effective_configuration_is_shown_as_loki_shows_it() {
    let server = Server::start_loki("server:\n  log_level: warn\nstorage_config:\n  aws:\n    bucketnames: b\n    secret_access_key: hush\n  filesystem:\n    directory: ROOT/chunks\nschema_config:\n  configs:\n    - from: 2024-01-01\n      object_store: filesystem\ncommon:\n  path_prefix: ROOT/data\n", LokiLaunch::default()).await;
    let (status, full) = server.get("/config", &[], None).await;
    assert_eq!(status, 200);
    assert!(full.contains("log_level: warn") && full.contains("chunk_idle_period: 30m"), "{full}");
    assert!(full.contains("secret_access_key: <secret>") && !full.contains("hush"), "secrets are not shown: {full}");
    let (_, changed) = server.get("/config", &[("mode", "diff".to_string())], None).await;
    assert!(changed.contains("log_level: warn") && !changed.contains("chunk_idle_period"), "{changed}");
    let (_, defaults) = server.get("/config", &[("mode", "defaults".to_string())], None).await;
    assert!(defaults.contains("log_level: info"), "{defaults}");
    assert_eq!(server.get("/config", &[("mode", "nope".to_string())], None).await.0, 400);
}

#[tokio::test]
async fn retention_and_stream_limits_follow_each_tenants_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("overrides.yaml");
    std::fs::write(&file, "overrides:\n  short:\n    retention_period: 2h\n    max_global_streams_per_user: 1\n").unwrap();
    let config = format!(
        "auth_enabled: true\ncommon:\n  path_prefix: ROOT/data\nruntime_config:\n  file: {}\nlimits_config:\n  discover_service_name: []\ncompactor:\n  compaction_interval: 1s\n  retention_enabled: true\n  retention_delete_delay: 0s\n",
        file.display()
    );
    let server = Server::start_loki(&config, LokiLaunch::default()).await;
    let old = now_ns() - 3 * 3600 * SECOND;
    for tenant in ["short", "long"] {
        server.push_streams(Some(tenant), &[stream(&[("app", "a")], vec![Entry::new(old, "old line")])]).await;
    }
    // One active stream for `short`: a second is refused, `long` is not limited.
    let second = skald_push::encode_json(&[stream(&[("app", "b")], vec![Entry::new(now_ns(), "x")])]);
    assert_eq!(server.push_json(Some("short"), second.clone()).await.0, 429);
    assert_eq!(server.push_json(Some("long"), second).await.0, 204);
    assert_eq!(server.post("/flush", &[], Vec::new()).await.0, 204);
    let old_lines = async |tenant: &str| {
        server.query_streams(r#"{app="a"}"#, old - SECOND, old + SECOND, 100, Some(tenant)).await.values().flatten().count()
    };
    assert_eq!((old_lines("short").await, old_lines("long").await), (1, 1));
    let packs = |tenant: &str| files_under(&server.root().join("data/packs").join(tenant)).len();
    eventually("short's expired chunk and its pack to go", async || packs("short") == 0).await;
    assert_eq!((old_lines("short").await, old_lines("long").await), (0, 1), "no retention for long");
}
