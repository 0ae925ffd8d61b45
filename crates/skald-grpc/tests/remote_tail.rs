//! Live tail merged across three replicas: every entry once, even with RF=3 copies.

mod common;

use common::{Cluster, raw, stream};
use skald_grpc::RemoteTail;
use skald_index::LabelMatcher;
use std::collections::BTreeSet;
use std::time::Duration;

async fn wait_connected(tail: &RemoteTail, want: usize) {
    for _ in 0..250 {
        if tail.connected() == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("tail connected to {} ingesters, want {want}", tail.connected());
}

/// Collects entries (ts, line) until nothing arrives for `quiet`.
async fn drain(tail: &mut RemoteTail, quiet: Duration) -> Vec<(i64, String)> {
    let mut got = Vec::new();
    while let Ok(Some(batch)) = tokio::time::timeout(quiet, tail.recv()).await {
        assert_eq!(batch.tenant, "t");
        for stream in batch.streams {
            assert_eq!(stream.labels.get("app"), Some("a"), "only matching streams: {}", stream.labels);
            for entry in stream.entries {
                got.push((entry.ts, entry.line));
            }
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_copies_arrive_once() {
    let mut cluster = Cluster::start(3, 0).await;
    let instances: Vec<_> = cluster.ingesters.iter().map(|i| i.instance()).collect();
    let matchers = vec![LabelMatcher::Eq("app".into(), "a".into())];
    let mut tail = RemoteTail::start(cluster.pool.clone(), instances, "t", &matchers);
    wait_connected(&tail, 3).await;

    let streams = vec![raw(stream(&[("app", "a")], 10, "first")), raw(stream(&[("app", "other")], 5, "no"))];
    cluster.distributor.push("t", streams).await.expect("push");
    // Another tenant's entries never show up.
    cluster.distributor.push("u", vec![raw(stream(&[("app", "a")], 5, "tenant-u"))]).await.expect("push");
    let got = drain(&mut tail, Duration::from_millis(500)).await;
    assert_eq!(got.len(), 10, "each entry once, not once per replica: {got:?}");
    let unique: BTreeSet<_> = got.iter().collect();
    assert_eq!(unique.len(), 10);
    assert!(got.iter().all(|(_, line)| line.starts_with("first")));

    // With one ingester gone the others still deliver everything.
    cluster.ingesters[0].stop().await;
    wait_connected(&tail, 2).await;
    cluster.distributor.push("t", vec![raw(stream(&[("app", "a")], 7, "second"))]).await.expect("push");
    let got = drain(&mut tail, Duration::from_millis(500)).await;
    assert_eq!(got.len(), 7, "{got:?}");
}
