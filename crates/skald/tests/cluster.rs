//! A real cluster on loopback, started by `examples/cluster/up.sh`: one distributor,
//! three ingesters (replication factor 3), two queriers, a query frontend, a query
//! scheduler and a compactor, on an S3-compatible store (s3s-fs), each its own
//! process of the real binary. The recorded Loki answers must come back through the
//! query frontend exactly as from the single binary, and with an ingester killed.

mod common;

use common::cluster::*;
use common::conformance::*;
use common::*;
use skald_common::Entry;
use std::time::{Duration, Instant};

async fn run_cases(client: &reqwest::Client, cluster: &Cluster) -> Vec<String> {
    let mut failures = Vec::new();
    for case in &cases() {
        let (status, body) = ask_at(client, &cluster.query, case).await;
        if let Some(reason) = mismatch(case, status, &body) {
            failures.push(format!("FAIL {} {}\n     {reason}", case["path"], case["params"]["query"]));
        }
    }
    failures
}

#[tokio::test]
async fn a_cluster_answers_like_loki_and_survives_an_ingester() {
    let cluster = Cluster::up(0);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).no_proxy().build().unwrap();
    for (i, line) in read("dataset.jsonl").lines().enumerate() {
        let (status, body) = push(&client, &cluster.push, line.as_bytes().to_vec()).await;
        assert_eq!(status, 204, "dataset line {}: {body}\n{}", i + 1, cluster.logs());
    }
    let failures = run_cases(&client, &cluster).await;
    assert!(failures.is_empty(), "{} cases differ through the frontend:\n{}\n{}", failures.len(), failures.join("\n"), cluster.logs());
    // Shardable metric queries were sharded (1KB a shard: up to four shards each), by
    // two queriers; the answers above are the unsharded single binary's.
    let frontend_metrics = client.get(format!("{}/metrics", cluster.query)).send().await.unwrap().text().await.unwrap();
    assert!(metric_value(&frontend_metrics, "skald_frontend_sharded_queries_total").unwrap_or(0.0) >= 1.0, "{frontend_metrics}");
    let scheduler = format!("http://127.0.0.1:{}/metrics", cluster.base + 10);
    let scheduler_metrics = client.get(scheduler).send().await.unwrap().text().await.unwrap();
    assert_eq!(metric_value(&scheduler_metrics, "loki_query_scheduler_connected_querier_clients"), Some(2.0), "{scheduler_metrics}");

    // One ingester dies: pushes still reach a quorum, answers stay exact (each entry
    // lives on the two others too).
    // SAFETY: plain FFI call with the pid of a process the cluster script started.
    unsafe {
        libc::kill(cluster.pid("ingester-1"), libc::SIGKILL);
    }
    let now = now_ns();
    let entries: Vec<Entry> = (0..50).map(|i| Entry::new(now - 10 * SECOND + i * 1000, format!("after the crash {i}"))).collect();
    let body = skald_push::encode_json(&[stream(&[("job", "survivor")], entries)]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, message) = push(&client, &cluster.push, body.clone()).await;
        if status == 204 {
            break;
        }
        assert!(Instant::now() < deadline, "push with one ingester down: {status} {message}\n{}", cluster.logs());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let response = client
        .get(format!("{}/loki/api/v1/query", cluster.query))
        .query(&[("query", "sum(count_over_time({job=\"survivor\"}[1m]))".to_string()), ("time", now_ns().to_string())])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{text}\n{}", cluster.logs());
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["data"]["result"][0]["value"][1], "50", "every entry once, with an ingester down: {text}");
    let failures = run_cases(&client, &cluster).await;
    assert!(failures.is_empty(), "{} cases differ with an ingester down:\n{}", failures.len(), failures.join("\n"));

    // A query over three hours is split by the frontend (1h intervals), and its answer is
    // the querier's unsplit one.
    let end = now_ns();
    let params = [
        ("query", "sum by (job) (count_over_time({job=\"survivor\"}[5m]))".to_string()),
        ("start", (end - 3 * 3600 * SECOND).to_string()),
        ("end", end.to_string()),
        ("step", "60".to_string()),
    ];
    let get = |base: String| {
        let client = client.clone();
        let params = params.clone();
        async move {
            let response = client.get(format!("{base}/loki/api/v1/query_range")).query(&params).send().await.unwrap();
            assert_eq!(response.status().as_u16(), 200);
            response.json::<serde_json::Value>().await.unwrap()
        }
    };
    let split = get(cluster.query.clone()).await;
    let whole = get(cluster.querier_url()).await;
    assert!(split["data"]["stats"]["summary"]["splits"].as_u64().unwrap_or(0) >= 3, "not split: {}", split["data"]["stats"]);
    assert_eq!(split["data"]["result"], whole["data"]["result"], "the split answer differs from the querier's");
    let metrics = client.get(format!("{}/metrics", cluster.query)).send().await.unwrap().text().await.unwrap();
    assert!(metric_value(&metrics, "skald_frontend_split_queries_total").unwrap_or(0.0) >= 1.0, "{metrics}");
}

/// Pushes `count` entries of one batch (five streams) and says whether they were acknowledged.
async fn push_batch(client: &reqwest::Client, url: &str, batch: usize, base: i64) -> (u16, String) {
    let streams: Vec<_> = (0..5)
        .map(|s| {
            let entries =
                (0..10).map(|i| Entry::new(base + (batch * 100 + s * 10 + i) as i64 * 1000, format!("b{batch:05} s{s} e{i}"))).collect();
            stream(&[("job", "stream"), ("shard", &s.to_string())], entries)
        })
        .collect();
    push(client, url, skald_push::encode_json(&streams)).await
}

/// Every line of the `job="stream"` streams, through the frontend.
async fn stream_lines(client: &reqwest::Client, cluster: &Cluster, base: i64) -> Vec<String> {
    let response = client
        .get(format!("{}/loki/api/v1/query_range", cluster.query))
        .query(&[
            ("query", "{job=\"stream\"}".to_string()),
            ("start", (base - SECOND).to_string()),
            ("end", now_ns().to_string()),
            ("limit", "100000".to_string()),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{text}\n{}", cluster.logs());
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut lines = Vec::new();
    for stream in value["data"]["result"].as_array().unwrap() {
        for entry in stream["values"].as_array().unwrap() {
            lines.push(entry[1].as_str().unwrap().to_string());
        }
    }
    lines.sort();
    lines
}

#[tokio::test]
async fn pushes_survive_one_dead_ingester_fail_clearly_without_two_and_recover_from_the_wal() {
    let cluster = Cluster::up(1);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).no_proxy().build().unwrap();
    let base = now_ns() - 60 * SECOND;
    let mut acknowledged = Vec::new();
    // A stream of pushes; the first ingester dies in the middle of it.
    for batch in 0..60 {
        if batch == 20 {
            cluster.kill("ingester-1");
        }
        let (status, message) = push_batch(&client, &cluster.push, batch, base).await;
        assert_eq!(status, 204, "push {batch} with one ingester down: {message}\n{}", cluster.logs());
        acknowledged.push(batch);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let expected: Vec<String> = {
        let mut lines: Vec<String> =
            acknowledged.iter().flat_map(|b| (0..5).flat_map(move |s| (0..10).map(move |i| format!("b{b:05} s{s} e{i}")))).collect();
        lines.sort();
        lines
    };
    assert_eq!(stream_lines(&client, &cluster, base).await, expected, "acknowledged entries, each exactly once");

    // A second ingester dies: no quorum, a 5xx that says why.
    cluster.kill("ingester-2");
    let (status, message) = push_batch(&client, &cluster.push, 1000, base).await;
    assert!((500..600).contains(&status), "push with two of three ingesters down: {status} {message}");
    assert!(message.contains("replica") || message.contains("live"), "the message should say replicas are missing: {message}");

    // Both come back from their WALs: nothing acknowledged is lost, pushes work again.
    cluster.restart("ingester-1");
    cluster.restart("ingester-2");
    // Ready once their WALs are replayed (ingester-N is node 2+N of up.sh); the
    // distributor then finds them ACTIVE again by gossip, so a retried push succeeds.
    for node in [3, 4] {
        let url = format!("http://127.0.0.1:{}/ready", cluster.base + 10 * node);
        let deadline = Instant::now() + Duration::from_secs(30);
        while client.get(&url).send().await.map(|r| r.status().as_u16()).unwrap_or(0) != 200 {
            assert!(Instant::now() < deadline, "{url} not ready\n{}", cluster.logs());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, message) = push_batch(&client, &cluster.push, 2000, base).await;
        if status == 204 {
            break;
        }
        assert!(Instant::now() < deadline, "push after the restarts: {status} {message}\n{}", cluster.logs());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut expected = expected;
    expected.extend((0..5).flat_map(|s| (0..10).map(move |i| format!("b02000 s{s} e{i}"))));
    expected.sort();
    let lines = stream_lines(&client, &cluster, base).await;
    // The refused push (batch 1000) may have reached the one live ingester (a client
    // retries it): all of it or none, and once.
    let (refused, lines): (Vec<String>, Vec<String>) = lines.into_iter().partition(|l| l.starts_with("b01000"));
    assert!(refused.is_empty() || refused.len() == 50, "the refused push left {} lines", refused.len());
    assert_eq!(lines, expected, "after restarting both ingesters");
}

#[tokio::test]
async fn an_ingester_shut_down_through_its_endpoint_during_pushes_loses_and_duplicates_nothing() {
    let cluster = Cluster::up(2);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).no_proxy().build().unwrap();
    let base = now_ns() - 60 * SECOND;
    let pid = cluster.pid("ingester-1");
    // ingester-1 is node 3 of up.sh.
    let shutdown_url = format!("http://127.0.0.1:{}/ingester/shutdown", cluster.base + 30);
    let mut shutdown = None;
    for batch in 0..40 {
        if batch == 15 {
            let (client, url) = (client.clone(), shutdown_url.clone());
            shutdown = Some(tokio::spawn(async move { client.post(url).send().await.map(|r| r.status().as_u16()) }));
        }
        let (status, message) = push_batch(&client, &cluster.push, batch, base).await;
        assert_eq!(status, 204, "push {batch} while ingester-1 shuts down: {message}\n{}", cluster.logs());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let answered = shutdown.unwrap().await.unwrap();
    assert_eq!(answered.ok(), Some(204), "/ingester/shutdown answers once flushed\n{}", cluster.logs());
    // The process ends by itself (terminate defaults to true).
    let deadline = Instant::now() + Duration::from_secs(30);
    // SAFETY: signal 0 only checks that the process exists.
    while unsafe { libc::kill(pid, 0) } == 0 {
        assert!(Instant::now() < deadline, "ingester-1 still running\n{}", cluster.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let expected: Vec<String> = {
        let mut lines: Vec<String> =
            (0..40).flat_map(|b| (0..5).flat_map(move |s| (0..10).map(move |i| format!("b{b:05} s{s} e{i}")))).collect();
        lines.sort();
        lines
    };
    assert_eq!(stream_lines(&client, &cluster, base).await, expected, "acknowledged entries, each exactly once");
    // What it held is in storage: packs written by its process (named `<pid>-...`).
    let packs = files_under(&cluster.dir.path().join("s3/skald/packs"));
    assert!(packs.iter().any(|p| p.rsplit('/').next().is_some_and(|name| name.starts_with(&format!("{pid}-")))), "{packs:?}");
}

#[tokio::test]
async fn with_three_zones_a_whole_zone_down_loses_no_acknowledged_write() {
    let cluster = Cluster::up_with(3, &[("SKALD_ZONES", "1")]);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).no_proxy().build().unwrap();
    // Every ingester shows its zone on the distributor's ring page.
    let ring: serde_json::Value =
        client.get(format!("{}/ring", cluster.push)).header("Accept", "application/json").send().await.unwrap().json().await.unwrap();
    let mut zones: Vec<String> = ring["shards"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|shard| shard["id"].as_str().is_some_and(|id| id.starts_with("ingester-")))
        .map(|shard| shard["zone"].as_str().unwrap_or_default().to_string())
        .collect();
    zones.sort();
    assert_eq!(zones, ["zone-1", "zone-2", "zone-3"], "{ring}");

    let base = now_ns() - 60 * SECOND;
    for batch in 0..40 {
        if batch == 15 {
            // zone-2 is lost entirely.
            cluster.kill("ingester-2");
        }
        let (status, message) = push_batch(&client, &cluster.push, batch, base).await;
        assert_eq!(status, 204, "push {batch} with zone-2 down: {message}\n{}", cluster.logs());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let expected: Vec<String> = {
        let mut lines: Vec<String> =
            (0..40).flat_map(|b| (0..5).flat_map(move |s| (0..10).map(move |i| format!("b{b:05} s{s} e{i}")))).collect();
        lines.sort();
        lines
    };
    assert_eq!(stream_lines(&client, &cluster, base).await, expected, "every acknowledged entry, once");
}

#[tokio::test]
async fn live_tail_through_the_frontend_sees_lines_pushed_to_the_distributor() {
    use futures::StreamExt;
    let cluster = Cluster::up(4);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).no_proxy().build().unwrap();
    let ws_base = cluster.query.replacen("http://", "ws://", 1);
    // A query the querier refuses comes back as its 400, through the frontend (a 503
    // while the frontend's gossip has not yet found a healthy querier).
    let bad = format!("{ws_base}/loki/api/v1/tail?query=%7Bjob%3D");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match tokio_tungstenite::connect_async(bad.as_str()).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) if response.status().as_u16() == 503 => {
                assert!(Instant::now() < deadline, "no querier to tail through\n{}", cluster.logs());
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status().as_u16(), 400);
                break;
            }
            other => panic!("a bad tail query should be refused with 400, got {:?}", other.map(|_| ())),
        }
    }
    // A tail opened before the querier sees every ingester may end at once: open it
    // again (each attempt pushes its own line) until a pushed line arrives.
    let mut attempt = 0;
    let (mut socket, line, mut seen) = loop {
        attempt += 1;
        assert!(Instant::now() < deadline, "no tail delivered a pushed line\n{}", cluster.logs());
        let url = format!("{ws_base}/loki/api/v1/tail?query=%7Bjob%3D%22tail%22%7D&start={}", now_ns() - SECOND);
        let Ok((mut socket, _)) = tokio_tungstenite::connect_async(url.as_str()).await else { continue };
        // Give the querier a moment to subscribe to every ingester, then push.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let line = format!("live line {attempt} {}", now_ns());
        let body = skald_push::encode_json(&[stream(&[("job", "tail")], vec![Entry::new(now_ns(), &line)])]);
        assert_eq!(push(&client, &cluster.push, body).await.0, 204);
        let wait_until = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut seen: Vec<String> = Vec::new();
        while !seen.contains(&line) {
            let Ok(Some(Ok(message))) = tokio::time::timeout_at(wait_until, socket.next()).await else { break };
            if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
                let frame: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
                for stream in frame["streams"].as_array().into_iter().flatten() {
                    for value in stream["values"].as_array().into_iter().flatten() {
                        seen.push(value[1].as_str().unwrap_or_default().to_string());
                    }
                }
            }
        }
        if seen.contains(&line) {
            break (socket, line, seen);
        }
    };
    // A second of frames more: the copies the other two ingesters hold must not arrive.
    let settle = tokio::time::Instant::now() + Duration::from_secs(1);
    while let Ok(Some(Ok(message))) = tokio::time::timeout_at(settle, socket.next()).await {
        if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
            seen.extend(text.as_str().matches(line.as_str()).map(str::to_string));
        }
    }
    assert_eq!(seen.iter().filter(|l| **l == line).count(), 1, "each line once, though three ingesters hold it");
}
