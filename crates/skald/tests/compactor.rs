//! The compactor in the real binary, on S3 (`s3s-fs`): index files are merged into one
//! per tenant and day, retention drops expired chunks, the delete API removes matching
//! entries, and `kill -9` in the middle of compaction loses nothing and counts nothing
//! twice.

mod common;

use common::*;
use skald_common::Entry;
use std::time::{Duration, Instant};

const HOUR: i64 = 3600 * SECOND;

fn config(s3: &S3Server, compactor: &str, limits: &str) -> String {
    format!(
        "limits_config:\n  discover_service_name: []\n  discover_log_levels: false\n{limits}ingester:\n  flush_check_period: 500ms\ncompactor:\n  compaction_interval: 1s\n{compactor}{}",
        s3.storage_yaml()
    )
}

fn entries(prefix: &str, start: i64, count: usize) -> Vec<Entry> {
    (0..count).map(|i| Entry::new(start + i as i64 * 1_000_000, format!("{prefix} line {i}"))).collect()
}

async fn wait_for<F: std::future::Future<Output = bool>>(what: &str, timeout: Duration, mut check: impl FnMut() -> F) {
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Index files per tenant and day in the bucket.
fn index_files_per_day(s3: &S3Server) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    for key in s3.keys("index/") {
        let day: Vec<&str> = key.split('/').take(3).collect();
        *out.entry(day.join("/")).or_default() += 1;
    }
    out
}

#[tokio::test]
async fn many_index_files_are_merged_into_one_per_tenant_and_day() {
    let s3 = S3Server::start().await;
    // A long interval while files accumulate, then a restart with a short one.
    let server_config = config(&s3, "", "").replace("compaction_interval: 1s", "compaction_interval: 1h");
    let mut server = Server::start(&server_config).await;
    let start = now_ns() - 60 * SECOND;
    let mut all = Vec::new();
    for round in 0..6 {
        let batch = entries(&format!("round {round}"), start + round * 100_000_000, 5);
        server.push_streams(None, &[stream(&[("job", "merge")], batch.clone())]).await;
        assert_eq!(server.post("/flush", &[], Vec::new()).await.0, 204);
        all.extend(batch);
    }
    assert!(index_files_per_day(&s3).values().all(|n| *n >= 6), "{:?}", s3.keys("index/"));
    std::fs::write(server.data_dir().join("../config.yaml"), config(&s3, "", "")).unwrap();
    server.restart().await;
    wait_for("one index file per day", Duration::from_secs(15), || async { index_files_per_day(&s3).values().all(|n| *n == 1) }).await;
    let got = server.query_streams(r#"{job="merge"}"#, start, now_ns(), 1000, None).await;
    assert_eq!(got[&labels(&[("job", "merge")])], expected(&all));
}

#[tokio::test]
async fn retention_drops_expired_chunks_by_stream_rule() {
    let s3 = S3Server::start().await;
    let limits = "  retention_period: 2h\n  retention_stream:\n    - selector: '{app=\"keep\"}'\n      priority: 1\n      period: 24h\n";
    let server = Server::start(&config(&s3, "  retention_enabled: true\n  retention_delete_delay: 0s\n", limits)).await;
    let old = now_ns() - 3 * HOUR;
    let recent = now_ns() - 60 * SECOND;
    let expiring = entries("old", old, 5);
    let kept_by_rule = entries("kept", old, 5);
    let fresh = entries("fresh", recent, 5);
    server
        .push_streams(
            None,
            &[
                stream(&[("app", "old")], expiring.clone()),
                stream(&[("app", "keep")], kept_by_rule.clone()),
                stream(&[("app", "new")], fresh.clone()),
            ],
        )
        .await;
    assert_eq!(server.post("/flush", &[], Vec::new()).await.0, 204);
    // Packs are per day: one holds the three streams' chunks (two when the old entries
    // fall on the previous UTC day, as they do shortly after midnight); retention
    // rewrites the one with the expired chunk and deletes it.
    let days = if old.div_euclid(24 * HOUR) == recent.div_euclid(24 * HOUR) { 1 } else { 2 };
    let packs_before = s3.keys("packs/fake/");
    assert_eq!(packs_before.len(), days, "{packs_before:?}");
    wait_for("the pack with the expired chunk to be replaced", Duration::from_secs(15), || async {
        let packs = s3.keys("packs/fake/");
        packs.len() == days && packs != packs_before
    })
    .await;
    let got = server.query_streams(r#"{app=~".+"}"#, old - HOUR, now_ns(), 1000, None).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[&labels(&[("app", "keep")])], expected(&kept_by_rule));
    assert_eq!(got[&labels(&[("app", "new")])], expected(&fresh));
}

#[tokio::test]
async fn delete_api_cancels_lists_and_removes_matching_entries() {
    let s3 = S3Server::start().await;
    let compactor = "  delete_request_cancel_period: 3s\n";
    let server = Server::start(&format!("auth_enabled: true\n{}", config(&s3, compactor, ""))).await;
    let tenant = Some("acme");
    let start = now_ns() - 120 * SECOND;
    let pushed: Vec<Entry> =
        (0..20).map(|i| Entry::new(start + i * SECOND, &if i % 2 == 0 { format!("secret {i}") } else { format!("public {i}") })).collect();
    server.push_streams(tenant, &[stream(&[("app", "d")], pushed.clone()), stream(&[("app", "other")], pushed.clone())]).await;
    assert_eq!(server.post("/flush", &[], Vec::new()).await.0, 204);

    let url = |path: &str| server.url(path);
    let client = &server.client;
    let post = |query: &str, start: i64, end: i64| {
        client
            .post(url("/loki/api/v1/delete"))
            .header("X-Scope-OrgID", "acme")
            .query(&[("query", query.to_string()), ("start", (start / SECOND).to_string()), ("end", (end / SECOND + 1).to_string())])
            .send()
    };
    let list = || async {
        let response = client.get(url("/loki/api/v1/delete")).header("X-Scope-OrgID", "acme").send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        response.json::<serde_json::Value>().await.unwrap().as_array().cloned().unwrap_or_default()
    };
    // Bad requests are refused with a reason.
    let response = post("not a query", start, start).await.unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert!(response.text().await.unwrap().contains("invalid query"));

    // A request cancelled in time does nothing.
    assert_eq!(post(r#"{app="other"}"#, start, now_ns() - 2 * SECOND).await.unwrap().status().as_u16(), 204);
    let listed = list().await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["status"], "received");
    let id = listed[0]["request_id"].as_str().unwrap().to_string();
    let cancel = client.delete(url("/loki/api/v1/delete")).header("X-Scope-OrgID", "acme").query(&[("request_id", id.as_str())]);
    assert_eq!(cancel.send().await.unwrap().status().as_u16(), 204);
    assert!(list().await.is_empty());

    // Deletes `secret` lines of app=d in the range; the rest stays.
    let last = pushed.last().unwrap().ts;
    let response = post(r#"{app="d"} |= "secret""#, start, last).await.unwrap();
    assert_eq!(response.status().as_u16(), 204, "{}", response.text().await.unwrap_or_default());
    wait_for("the request to be processed", Duration::from_secs(20), || async {
        list().await.first().is_some_and(|r| r["status"] == "processed")
    })
    .await;
    let id = list().await[0]["request_id"].as_str().unwrap().to_string();
    let cancel = client.delete(url("/loki/api/v1/delete")).header("X-Scope-OrgID", "acme").query(&[("request_id", id.as_str())]);
    assert_eq!(cancel.send().await.unwrap().status().as_u16(), 400, "a processed request cannot be cancelled");

    let got = server.query_streams(r#"{app=~"d|other"}"#, start, now_ns(), 1000, tenant).await;
    let public: Vec<Entry> = pushed.iter().filter(|e| e.line.starts_with("public")).cloned().collect();
    assert_eq!(got[&labels(&[("app", "d")])], expected(&public));
    assert_eq!(got[&labels(&[("app", "other")])], expected(&pushed));
}

#[tokio::test]
async fn kill_9_during_compaction_loses_and_duplicates_nothing() {
    let s3 = S3Server::start().await;
    let quiet = config(&s3, "", "").replace("compaction_interval: 1s", "compaction_interval: 1h");
    let mut server = Server::start(&quiet).await;
    let start = now_ns() - 600 * SECOND;
    let mut all: Vec<Entry> = Vec::new();
    for round in 0..20 {
        let batch = entries(&format!("round {round}"), start + round * 1_000_000_000, 10);
        server.push_streams(None, &[stream(&[("job", "crash")], batch.clone())]).await;
        assert_eq!(server.post("/flush", &[], Vec::new()).await.0, 204);
        all.extend(batch);
    }
    let fast = config(&s3, "  compaction_interval: 100ms\n", "").replace("  compaction_interval: 1s\n", "");
    std::fs::write(server.data_dir().join("../config.yaml"), fast).unwrap();
    // Kill at varying moments of the compaction passes, then restart.
    for attempt in 0..5u64 {
        server.restart().await;
        tokio::time::sleep(Duration::from_millis(60 + attempt * 40)).await;
        server.kill9();
    }
    server.restart().await;
    wait_for("one index file per day", Duration::from_secs(15), || async { index_files_per_day(&s3).values().all(|n| *n == 1) }).await;
    let got = server.query_streams(r#"{job="crash"}"#, start, now_ns(), 5000, None).await;
    assert_eq!(got[&labels(&[("job", "crash")])], expected(&all));
    let params = [("query", r#"sum(count_over_time({job="crash"}[1h]))"#.to_string()), ("time", now_ns().to_string())];
    let (status, body) = server.get("/loki/api/v1/query", &params, None).await;
    assert_eq!(status, 200, "{body}");
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(value["data"]["result"][0]["value"][1], all.len().to_string(), "{value}");
}
