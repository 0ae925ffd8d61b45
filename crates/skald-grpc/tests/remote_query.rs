//! A querier over `RemoteRecentData`: three real ingesters, every stream on all three
//! (RF=3). Copies must count once; one ingester down still answers; two down is 503.

mod common;

use common::{Cluster, raw, stream};
use skald_logql::engine::{Direction, QueryResult};
use skald_querier::QueryRequest;
use std::time::Duration;

const TENANT: &str = "team-a";

fn request(query: &str, instant: bool) -> QueryRequest {
    let now = skald_common::unix_nanos_now();
    QueryRequest {
        query: query.to_string(),
        start: now - 3_600_000_000_000,
        end: now + 1_000_000_000,
        step: 60_000_000_000,
        limit: 5000,
        direction: Direction::Backward,
        instant,
        categorize_labels: false,
    }
}

/// Pushes 300 entries in `{app="a"}` and 200 in `{app="b"}`, and waits until every
/// replica holds them (the push itself returns at quorum).
async fn loaded_cluster() -> Cluster {
    let cluster = Cluster::start(3, 0).await;
    let streams = vec![raw(stream(&[("app", "a"), ("env", "prod")], 300, "alpha")), raw(stream(&[("app", "b")], 200, "beta"))];
    cluster.distributor.push(TENANT, streams).await.expect("push");
    for _ in 0..250 {
        if cluster.ingesters.iter().all(|i| i.entries(TENANT, "a") == 300 && i.entries(TENANT, "b") == 200) {
            return cluster;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("replicas did not all receive the push");
}

fn log_entries(result: &QueryResult) -> usize {
    match result {
        QueryResult::Streams(streams) => streams.iter().map(|s| s.entries.len()).sum(),
        other => panic!("expected streams, got {}", other.result_type()),
    }
}

fn instant_value(result: &QueryResult) -> f64 {
    match result {
        QueryResult::Vector(samples) => samples.iter().map(|s| s.value).sum(),
        other => panic!("expected a vector, got {}", other.result_type()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicated_entries_count_once() {
    let cluster = loaded_cluster().await;
    let output = cluster.querier.query(TENANT, request("{app=~\"a|b\"}", false)).await.expect("log query");
    assert_eq!(log_entries(&output.result), 500, "each of the 3 copies must count once");

    let output = cluster.querier.query(TENANT, request("{app=\"a\"} |= \"line 7\"", false)).await.expect("filtered query");
    // "line 7", "line 70".."line 79", "line 700+" do not exist (300 entries): 1 + 10.
    assert_eq!(log_entries(&output.result), 11);

    let output = cluster.querier.query(TENANT, request("sum(count_over_time({app=~\"a|b\"}[2h]))", true)).await.expect("metric query");
    assert_eq!(instant_value(&output.result), 500.0);

    let output =
        cluster.querier.query(TENANT, request("sum by (app) (count_over_time({env=\"prod\"}[2h]))", true)).await.expect("metric query");
    assert_eq!(instant_value(&output.result), 300.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_and_series_come_from_the_ingesters() {
    let cluster = loaded_cluster().await;
    let now = skald_common::unix_nanos_now();
    let names = cluster.querier.label_names(TENANT, now - 3_600_000_000_000, now, None).await.expect("labels");
    assert_eq!(names, vec!["app", "env", "service_name"]);
    let values = cluster.querier.label_values(TENANT, "app", now - 3_600_000_000_000, now, None).await.expect("values");
    assert_eq!(values, vec!["a", "b"]);
    let series = cluster.querier.series(TENANT, &["{app=~\".+\"}".to_string()], now - 3_600_000_000_000, now).await.expect("series");
    assert_eq!(series.len(), 2, "{series:?}");
    // Another tenant has nothing.
    let names = cluster.querier.label_names("other", now - 3_600_000_000_000, now, None).await.expect("labels");
    assert!(names.is_empty(), "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_ingester_down_still_answers_two_down_is_503() {
    let mut cluster = loaded_cluster().await;
    cluster.ingesters[0].stop().await;
    let output = cluster.querier.query(TENANT, request("{app=\"a\"}", false)).await.expect("one replica down");
    assert_eq!(log_entries(&output.result), 300);
    let output = cluster.querier.query(TENANT, request("sum(count_over_time({app=\"b\"}[2h]))", true)).await.expect("metric");
    assert_eq!(instant_value(&output.result), 200.0);

    cluster.ingesters[1].stop().await;
    let error = cluster.querier.query(TENANT, request("{app=\"a\"}", false)).await.err().expect("two replicas down");
    assert_eq!(error.status(), 503, "{error}");
    let message = error.to_string();
    assert!(message.contains("ingester-0") && message.contains("ingester-1"), "names the failed ingesters: {message}");
    let now = skald_common::unix_nanos_now();
    let error = cluster.querier.label_names(TENANT, now - 1, now, None).await.expect_err("labels with two down");
    assert_eq!(error.status(), 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_ranges_do_not_ask_ingesters() {
    let mut cluster = loaded_cluster().await;
    // Every ingester down: a range that ended before query_ingesters_within (3h) must
    // not need them, a recent one must.
    for ingester in &mut cluster.ingesters {
        ingester.stop().await;
    }
    let now = skald_common::unix_nanos_now();
    let mut old = request("{app=\"a\"}", false);
    old.start = now - 10 * 3_600_000_000_000;
    old.end = now - 4 * 3_600_000_000_000;
    let output = cluster.querier.query(TENANT, old).await.expect("old range needs no ingester");
    assert_eq!(log_entries(&output.result), 0);
    let error = cluster.querier.query(TENANT, request("{app=\"a\"}", false)).await.err().expect("recent range needs ingesters");
    assert_eq!(error.status(), 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_blocks_cross_the_wire_in_many_parts() {
    // A 2 MiB send limit fills Select messages to 1 MiB: about one block per message.
    let limits = skald_grpc::MessageLimits { max_recv_msg_size: 64 << 20, max_send_msg_size: 2 << 20 };
    let cluster = Cluster::start_with(3, 0, limits).await;
    // 3 MiB in one stream: the ingesters cut compressed blocks (1 MiB of lines each).
    let mut big = stream(&[("app", "big")], 24_000, "gamma");
    for entry in &mut big.entries {
        entry.line.push_str(&format!(" padding={:0>100}", entry.ts % 977));
    }
    // In 8 pushes: each push that fills a head block cuts it.
    let labels = big.labels.clone();
    for part in big.entries.chunks(3000) {
        let part = skald_common::PushStream { labels: labels.clone(), entries: part.to_vec() };
        cluster.distributor.push(TENANT, vec![raw(part)]).await.expect("push");
    }
    // Blocks are cut by a background thread, at least 1 MiB of lines each: two or three
    // blocks (with the open head) depending on how many pushes a cut takes in, each
    // message carrying about one of them. Wait for every push to reach this replica.
    let matchers = [skald_index::LabelMatcher::Eq("app".into(), "big".into())];
    let mut blocks = 0;
    for _ in 0..100 {
        let local = cluster.ingesters[0].ingester.select(TENANT, &matchers, i64::MIN, i64::MAX);
        blocks = local.iter().map(|s| s.blocks.len()).sum();
        if blocks >= 2 && cluster.ingesters[0].entries(TENANT, "big") == 24_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(blocks >= 2, "expected several cut blocks, got {blocks}");

    let output = cluster.querier.query(TENANT, request("{app=\"big\"}", false)).await.expect("log query");
    assert_eq!(log_entries(&output.result), 5000, "limit 5000");
    let output = cluster.querier.query(TENANT, request("sum(count_over_time({app=\"big\"}[2h]))", true)).await.expect("metric");
    assert_eq!(instant_value(&output.result), 24_000.0);
    let output = cluster.querier.query(TENANT, request("{app=\"big\"} |= \"line 23999 \"", false)).await.expect("filter");
    assert_eq!(log_entries(&output.result), 1);
}
