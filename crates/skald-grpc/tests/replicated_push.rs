//! Replicated writes over gRPC: real ingesters on loopback, RF=3, quorum 2.

mod common;

use common::{Cluster, raw, stream};
use std::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_replica_holds_the_stream() {
    let cluster = Cluster::start(3, 0).await;
    let summary = cluster.distributor.push("team-a", vec![raw(stream(&[("app", "a")], 50, "x"))]).await.expect("push");
    assert_eq!(summary.entries, 50);
    // The push returns at quorum; the third copy lands just after.
    let deadline = Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let held: Vec<usize> = cluster.ingesters.iter().map(|i| i.entries("team-a", "a")).collect();
        if held.iter().all(|n| *n == 50) {
            break;
        }
        assert!(Instant::now() < deadline, "replicas hold {held:?} entries, want 50 each");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Another tenant sees nothing: the tenant travelled in the metadata.
    assert_eq!(cluster.ingesters[0].entries("team-b", "a"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_ingester_down_still_reaches_quorum() {
    let mut cluster = Cluster::start(3, 0).await;
    cluster.ingesters[2].stop().await;
    cluster.distributor.push("t", vec![raw(stream(&[("app", "a")], 10, "x"))]).await.expect("push with one replica down");
    assert_eq!(cluster.ingesters[0].entries("t", "a"), 10);
    assert_eq!(cluster.ingesters[1].entries("t", "a"), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ingesters_down_fail_with_a_clear_5xx() {
    let mut cluster = Cluster::start(3, 0).await;
    cluster.ingesters[1].stop().await;
    cluster.ingesters[2].stop().await;
    let error = cluster.distributor.push("t", vec![raw(stream(&[("app", "a")], 10, "x"))]).await.expect_err("quorum is impossible");
    assert_eq!(error.status(), 500, "{error}");
    let message = error.to_string();
    assert!(message.contains("quorum"), "{message}");
    assert!(message.contains("{app=\"a\", service_name=\"a\"}"), "names the stream: {message}");
    assert!(message.contains("2 of 3 replicas failed, at most 1 may"), "{message}");
    // A stopped server's port refuses connections, or (when the stop races the
    // connect) resets the one it had accepted.
    assert!(message.contains("Connection refused") || message.contains("connection reset"), "says why: {message}");
    assert!(message.contains("ingester-1") && message.contains("ingester-2"), "names the failed ingesters: {message}");
    assert!(!message.contains("ingester-0 ("), "the healthy ingester is not blamed: {message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_limit_429_passes_through() {
    // Each ingester takes one stream per tenant.
    let cluster = Cluster::start(3, 1).await;
    cluster.distributor.push("t", vec![raw(stream(&[("app", "a")], 5, "x"))]).await.expect("first stream fits");
    let error =
        cluster.distributor.push("t", vec![raw(stream(&[("app", "b")], 5, "x"))]).await.expect_err("second stream is over the limit");
    assert_eq!(error.status(), 429, "{error}");
    let message = error.to_string();
    assert!(message.contains("Maximum active stream limit exceeded"), "{message}");
    assert!(message.contains("{app=\"b\", service_name=\"b\"}"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_entries_are_reported_once_and_the_rest_is_written() {
    let cluster = Cluster::start(3, 0).await;
    cluster.distributor.push("t", vec![raw(stream(&[("app", "a")], 5, "new"))]).await.expect("push");
    // Two hours back is far behind the stream's newest entry (window: max_chunk_age / 2).
    let mut old = stream(&[("app", "a")], 3, "old");
    for entry in &mut old.entries {
        entry.ts -= 2 * 3600 * 1_000_000_000;
    }
    let error = cluster.distributor.push("t", vec![raw(old)]).await.expect_err("too far behind");
    assert_eq!(error.status(), 400, "{error}");
    let message = error.to_string();
    assert_eq!(message.matches("entry too far behind").count(), 1, "one message, not one per replica: {message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_third_replica_does_not_delay_the_push() {
    use skald_grpc::{ClientConfig, IngesterClientPool, Instance, ReplicatedPush};
    use std::sync::Arc;
    use std::time::Duration;
    let cluster = Cluster::start(2, 0).await;
    // A peer that accepts connections and never answers (a hung machine).
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let silent_addr = silent.local_addr().expect("addr");
    let _keep = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let mut instances: Vec<Instance> = cluster.ingesters.iter().map(|i| i.instance()).collect();
    instances.push(Instance { id: "silent".into(), grpc_addr: silent_addr.to_string() });
    let pool = Arc::new(IngesterClientPool::new(ClientConfig { remote_timeout: Duration::from_secs(5), ..ClientConfig::default() }));
    let picker = Arc::new(common::AllReplicas { instances, max_errors: 1 });
    let push = ReplicatedPush::new(picker, pool);
    let started = Instant::now();
    let outcome = skald_distributor::IngesterPush::push(&push, "t", vec![stream(&[("app", "a")], 10, "x")]).await.expect("quorum of 2");
    let elapsed = started.elapsed();
    assert_eq!(outcome.accepted_entries, 10);
    assert!(elapsed < Duration::from_secs(2), "returned after {elapsed:?}, not at quorum");
    assert_eq!(cluster.ingesters[0].entries("t", "a"), 10);
    assert_eq!(cluster.ingesters[1].entries("t", "a"), 10);
}

/// Measures a 1 MiB push through `ReplicatedPush` (RF=3, loopback, WAL with fsync).
/// `cargo test -p skald-grpc --test replicated_push -- --ignored --nocapture push_latency`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn push_latency_1mib() {
    let cluster = Cluster::start(3, 0).await;
    // Baseline: the same pushes into one in-process ingester (WAL included).
    let local = common::TestIngester::start("local", 0, skald_grpc::MessageLimits::default()).await;
    let limits = skald_common::Limits { ingestion_rate_mb: 1024.0, ingestion_burst_size_mb: 1024.0, ..Default::default() };
    let local_distributor = skald_distributor::Distributor::new(common::limits_fn(limits), std::sync::Arc::new(local.ingester.clone()));
    let single = Cluster::start(1, 0).await;
    let paths = [
        ("in-process ingester", &local_distributor),
        ("ReplicatedPush RF=1", &*single.distributor),
        ("ReplicatedPush RF=3", &*cluster.distributor),
    ];
    for (name, distributor) in paths {
        let timings = measure(distributor).await;
        println!("1 MiB push, {name}: min {:?} median {:?} p90 {:?} max {:?}", timings[0], timings[10], timings[18], timings[19]);
    }
}

async fn measure(distributor: &skald_distributor::Distributor) -> Vec<std::time::Duration> {
    let mut timings = Vec::new();
    for round in 0..20 {
        // 4096 lines of 256 bytes = 1 MiB of line text, in 8 streams.
        let mut streams = Vec::new();
        for s in 0..8 {
            let mut part = stream(&[("app", "bench"), ("shard", &s.to_string())], 512, &format!("r{round}"));
            for entry in &mut part.entries {
                let pad = 256usize.saturating_sub(entry.line.len());
                entry.line.push_str(&"p".repeat(pad));
            }
            streams.push(raw(part));
        }
        let started = Instant::now();
        distributor.push("bench", streams).await.expect("push");
        timings.push(started.elapsed());
    }
    timings.sort();
    timings
}
