//! The server on S3-compatible object storage (a real `s3s-fs` on loopback): data
//! survives a restart, two nodes on one bucket see each other's data, and an outage of
//! the object store fails flushes (retried) and queries (5xx) without losing anything.

mod common;

use common::*;
use skald_common::Entry;
use std::time::{Duration, Instant};

fn config(s3: &S3Server) -> String {
    format!("{BASE_CONFIG}ingester:\n  flush_check_period: 500ms\n{}", s3.storage_yaml())
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

#[tokio::test]
async fn single_binary_on_s3_serves_flushed_data_after_restart() {
    let s3 = S3Server::start().await;
    let mut server = Server::start(&config(&s3)).await;
    let start = now_ns() - 60 * SECOND;
    let pushed = entries("stored", start, 50);
    server.push_streams(None, &[stream(&[("job", "s3")], pushed.clone())]).await;
    let (status, body) = server.post("/flush", &[], Vec::new()).await;
    assert_eq!(status, 204, "{body}");
    assert!(!s3.keys("packs/fake/").is_empty(), "no pack in the bucket");
    assert!(!s3.keys("index/fake/").is_empty(), "no index object in the bucket");
    // Nothing local holds the data any more: the WAL was released by the flush.
    std::fs::remove_dir_all(server.wal_dir()).ok();
    server.restart().await;
    assert!(server.logs().contains("s3 bucket skald"), "{}", server.logs());
    let got = server.query_streams(r#"{job="s3"}"#, start, now_ns(), 1000, None).await;
    assert_eq!(got.get(&labels(&[("job", "s3")])), Some(&expected(&pushed)));
}

#[tokio::test]
async fn two_nodes_on_one_bucket_see_each_others_data_after_refresh() {
    let s3 = S3Server::start().await;
    let a = Server::start(&config(&s3)).await;
    let b = Server::start(&config(&s3)).await;
    let start = now_ns() - 60 * SECOND;
    let from_a = entries("from a", start, 10);
    let from_b = entries("from b", start + 500, 10);
    a.push_streams(None, &[stream(&[("job", "a")], from_a.clone())]).await;
    b.push_streams(None, &[stream(&[("job", "b")], from_b.clone())]).await;
    assert_eq!(a.post("/flush", &[], Vec::new()).await.0, 204);
    assert_eq!(b.post("/flush", &[], Vec::new()).await.0, 204);
    // resync_interval is 1s in the test config.
    for (node, name) in [(&a, "a"), (&b, "b")] {
        wait_for(&format!("node {name} to see both streams"), Duration::from_secs(10), || async {
            node.query_streams(r#"{job=~"a|b"}"#, start, now_ns(), 1000, None).await.len() == 2
        })
        .await;
        let got = node.query_streams(r#"{job=~"a|b"}"#, start, now_ns(), 1000, None).await;
        assert_eq!(got[&labels(&[("job", "a")])], expected(&from_a));
        assert_eq!(got[&labels(&[("job", "b")])], expected(&from_b));
    }
}

#[tokio::test]
async fn object_store_outage_fails_flush_and_queries_then_catches_up() {
    let mut s3 = S3Server::start().await;
    let server = Server::start(&config(&s3)).await;
    let start = now_ns() - 60 * SECOND;
    let before = entries("before", start, 20);
    server.push_streams(None, &[stream(&[("job", "outage")], before.clone())]).await;
    assert_eq!(server.post("/flush", &[], Vec::new()).await.0, 204);
    let packs_before = s3.keys("packs/").len();

    s3.kill();
    // Stored data cannot be read: a 5xx naming the object store.
    let params = [("query", r#"{job="outage"}"#.to_string()), ("start", start.to_string()), ("end", now_ns().to_string())];
    let (status, body) = server.get("/loki/api/v1/query_range", &params, None).await;
    assert!(status >= 500, "{status}: {body}");
    assert!(body.contains("object store unavailable"), "{body}");
    // Pushes still succeed (the WAL has them); flushing fails and is retried.
    let during = entries("during", start + 100 * 1_000_000, 20);
    server.push_streams(None, &[stream(&[("job", "outage")], during.clone())]).await;
    let (status, body) = server.post("/flush", &[], Vec::new()).await;
    assert!(status >= 500, "a flush with the store down must fail: {status} {body}");
    assert!(body.contains("object store unavailable"), "{body}");
    wait_for("a retried flush to fail in the logs", Duration::from_secs(10), || async { server.logs().contains("flush failed") }).await;

    s3.spawn().await;
    wait_for("the flush loop to catch up", Duration::from_secs(20), || async { s3.keys("packs/").len() > packs_before }).await;
    let got = server.query_streams(r#"{job="outage"}"#, start, now_ns(), 1000, None).await;
    let mut all = before.clone();
    all.extend(during.iter().cloned());
    assert_eq!(got[&labels(&[("job", "outage")])], expected(&all));
}
