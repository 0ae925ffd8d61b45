//! One copy in storage at replication factor 3: the three ingesters of the loopback
//! cluster (`examples/cluster/up.sh`, real processes on s3s-fs) each flush their own
//! chunks of every stream, cut at different moments; once the compactor has run, the
//! bucket holds about what a single process stores for the same data, and every entry
//! reads back exactly once.

mod common;

use common::cluster::*;
use common::*;
use skald_common::{Entry, PushStream};
use std::path::Path;
use std::time::{Duration, Instant};

const STREAMS: usize = 20;
const BATCHES: usize = 60;
const LINES_PER_BATCH: usize = 25;

/// Log lines that compress like real ones: fixed words, varying numbers and IDs.
fn batch(number: usize, base: i64) -> Vec<PushStream> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ number as u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..STREAMS)
        .map(|s| {
            let entries = (0..LINES_PER_BATCH)
                .map(|i| {
                    let n = number * LINES_PER_BATCH + i;
                    let (status, method) = [(200, "GET"), (200, "POST"), (404, "GET"), (500, "PUT")][(next() % 4) as usize];
                    let line = format!(
                        "seq={n:06} level={} msg=\"request handled\" method={method} path=/api/v1/items/{} status={status} duration_ms={} trace_id={:016x}",
                        if status == 500 { "error" } else { "info" },
                        next() % 5000,
                        next() % 900,
                        next()
                    );
                    Entry::new(base + n as i64 * 2_000_000, line)
                })
                .collect();
            stream(&[("job", "replicas"), ("app", &format!("svc-{s:02}"))], entries)
        })
        .collect()
}

/// Bytes of chunks and index in a bucket directory, and the number of pack objects.
fn stored(bucket: &Path) -> (u64, usize) {
    let files = objects(bucket);
    (files.iter().map(|(_, size)| size).sum(), files.iter().filter(|(name, _)| name.starts_with("packs")).count())
}

/// The pack and index objects with their sizes.
fn objects(bucket: &Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for prefix in ["packs", "index"] {
        for file in files_under(&bucket.join(prefix)) {
            let size = std::fs::metadata(bucket.join(prefix).join(&file)).map(|m| m.len()).unwrap_or(0);
            out.push((format!("{prefix}/{file}"), size));
        }
    }
    out
}

fn index_files(bucket: &Path) -> usize {
    files_under(&bucket.join("index")).len()
}

/// Waits until the bucket holds one pack and one index file per day the data spans.
async fn wait_until_compacted(bucket: &Path, days: usize, logs: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, packs) = stored(bucket);
        if packs == days && index_files(bucket) == days {
            return;
        }
        assert!(Instant::now() < deadline, "not compacted: {:?}\n{}", files_under(bucket), logs());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Every line of `{job="replicas"}` from `url`, sorted; None while the answer is an
/// error (a querier that has not yet loaded the compacted index).
async fn all_lines(client: &reqwest::Client, url: &str, base: i64) -> Option<Vec<String>> {
    let response = client
        .get(format!("{url}/loki/api/v1/query_range"))
        .query(&[
            ("query", "{job=\"replicas\"}".to_string()),
            ("start", (base - SECOND).to_string()),
            ("end", (base + 600 * SECOND).to_string()),
            ("limit", "100000".to_string()),
        ])
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    let value: serde_json::Value = response.json().await.ok()?;
    let mut lines: Vec<String> = value["data"]["result"]
        .as_array()?
        .iter()
        .flat_map(|stream| stream["values"].as_array().into_iter().flatten())
        .map(|entry| entry[1].as_str().unwrap_or_default().to_string())
        .collect();
    lines.sort();
    Some(lines)
}

/// How an answer differs from the expected lines, briefly.
fn summary(got: &Option<Vec<String>>, expected: &[String]) -> String {
    match got {
        None => "an error".to_string(),
        Some(lines) => {
            let first_difference = lines.iter().zip(expected).position(|(a, b)| a != b);
            format!("{} lines, {} expected, first difference at {first_difference:?}", lines.len(), expected.len())
        }
    }
}

#[tokio::test]
async fn at_replication_factor_three_storage_keeps_one_copy_after_compaction() {
    // Timestamps within one UTC day unless the test runs in its first minutes.
    let now = now_ns();
    let day = 86_400 * SECOND;
    let base = (now - 120 * SECOND).max(now - now.rem_euclid(day) + SECOND);
    let days = 1 + usize::from((base + (BATCHES * LINES_PER_BATCH) as i64 * 2_000_000) / day != base / day);
    let expected: Vec<String> = {
        let mut lines: Vec<String> = (0..BATCHES).flat_map(|b| batch(b, base)).flat_map(|s| s.entries).map(|e| e.line).collect();
        lines.sort();
        lines
    };
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).no_proxy().build().unwrap();

    // The single process: every batch pushed, one flush.
    let single_figure = {
        let s3 = S3Server::start().await;
        let config = format!(
            "{BASE_CONFIG}  max_entries_limit_per_query: 100000\ncompactor:\n  compaction_interval: 1s\n  retention_delete_delay: 0s\n{}",
            s3.storage_yaml()
        );
        let server = Server::start(&config).await;
        for b in 0..BATCHES {
            server.push_streams(None, &batch(b, base)).await;
        }
        assert_eq!(server.post("/flush", &[], Vec::new()).await.0, 204);
        wait_until_compacted(&s3.bucket_dir(), days, || server.logs()).await;
        let got = all_lines(&client, &server.base_url(), base).await;
        assert!(got.as_ref() == Some(&expected), "single process: {}", summary(&got, &expected));
        eprintln!("single process: {:?}", objects(&s3.bucket_dir()));
        stored(&s3.bucket_dir()).0
    };

    // The cluster: each ingester cuts its chunks at its own moments (ingester-1 flushes
    // after a third of the batches, ingester-2 after two thirds, all at the end).
    let cluster = Cluster::up_with(5, &[("SKALD_COMPACTION_INTERVAL", "1s"), ("SKALD_RETENTION_DELETE_DELAY", "0s")]);
    let flush = |node: u32| {
        // ingester-N is node 2 + N of up.sh.
        let url = format!("http://127.0.0.1:{}/flush", cluster.base + 10 * (2 + node));
        let client = client.clone();
        async move { client.post(url).send().await.map(|r| r.status().as_u16()).ok() }
    };
    for b in 0..BATCHES {
        let (status, message) = push(&client, &cluster.push, skald_push::encode_json(&batch(b, base))).await;
        assert_eq!(status, 204, "push {b}: {message}\n{}", cluster.logs());
        if b == BATCHES / 3 {
            assert_eq!(flush(1).await, Some(204));
        }
        if b == 2 * BATCHES / 3 {
            assert_eq!(flush(2).await, Some(204));
        }
    }
    for node in 1..=3 {
        assert_eq!(flush(node).await, Some(204), "flushing ingester-{node}\n{}", cluster.logs());
    }
    let bucket = cluster.dir.path().join("s3/skald");
    wait_until_compacted(&bucket, days, || cluster.logs()).await;
    let cluster_figure = stored(&bucket).0;
    eprintln!("cluster: {:?}", objects(&bucket));
    eprintln!("bytes in storage: single process {single_figure}, cluster at RF=3 {cluster_figure}");
    assert!(
        cluster_figure as f64 <= 1.15 * single_figure as f64,
        "cluster stores {cluster_figure} bytes, single process {single_figure}: {:?}",
        objects(&bucket)
    );
    // Every entry once, through the frontend, once the queriers load the new index.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = all_lines(&client, &cluster.query, base).await;
        if got.as_ref() == Some(&expected) {
            break;
        }
        assert!(Instant::now() < deadline, "through the frontend: {}\n{}", summary(&got, &expected), cluster.logs());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
