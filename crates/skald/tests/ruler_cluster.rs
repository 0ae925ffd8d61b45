//! Rulers on a cluster, each its own process of the real binary on S3 (s3s-fs): a
//! write-and-read node (distributor, ingester, querier, query frontend) and two
//! `-target=ruler` nodes, one evaluating through its own querier, the other through the
//! query frontend over httpgrpc (`ruler.evaluation.mode: remote`). Every group's
//! recording rule is remote-written to a receiver that notes which ruler sent each
//! sample. The rule groups are spread over both rulers, none is evaluated twice for one
//! timestamp (not while the second ruler joins, not while one dies), and a ruler killed
//! with `kill -9` has its groups taken over within the ring's heartbeat timeout, and
//! one shut down cleanly hands them over at once.

mod common;

use common::*;
use prost::Message;
use skald_common::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const GROUPS: usize = 20;
const HEARTBEAT_TIMEOUT_S: i64 = 4;

/// One sample as received: (ruler, series name, timestamp ms).
type Received = Arc<Mutex<Vec<(String, String, i64)>>>;

/// A Prometheus remote-write receiver that keeps each sample with the `X-Ruler` header
/// of the request that carried it.
async fn start_receiver() -> (u16, Received) {
    let received: Received = Arc::default();
    let keep = received.clone();
    let app = axum::Router::new().route(
        "/write",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let keep = keep.clone();
            async move {
                let ruler = headers.get("x-ruler").and_then(|v| v.to_str().ok()).unwrap_or("?").to_string();
                let Ok(raw) = snap::raw::Decoder::new().decompress_vec(&body) else { return axum::http::StatusCode::BAD_REQUEST };
                let Ok(request) = skald_ruler::remote_write::WriteRequest::decode(raw.as_slice()) else {
                    return axum::http::StatusCode::BAD_REQUEST;
                };
                let mut keep = keep.lock().unwrap();
                for series in request.timeseries {
                    let name = series.labels.iter().find(|l| l.name == "__name__").map(|l| l.value.clone()).unwrap_or_default();
                    for sample in series.samples {
                        keep.push((ruler.clone(), name.clone(), sample.timestamp));
                    }
                }
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, received)
}

struct Ports {
    grpc: u16,
    gossip: u16,
}

fn node_config(name: &str, target: &str, me: &Ports, seed_gossip: u16, s3: &S3Server, ruler: &str) -> String {
    format!(
        "target: {target}
server:
  grpc_listen_address: 127.0.0.1
  grpc_listen_port: {grpc}
common:
  replication_factor: 1
memberlist:
  node_name: {name}
  bind_addr: [127.0.0.1]
  bind_port: {gossip}
  join_members: [127.0.0.1:{seed_gossip}]
  gossip_interval: 100ms
ingester:
  lifecycler:
    heartbeat_period: 500ms
    ring:
      heartbeat_timeout: {HEARTBEAT_TIMEOUT_S}s
limits_config:
  discover_service_name: []
  discover_log_levels: false
{ruler}{storage}",
        grpc = me.grpc,
        gossip = me.gossip,
        storage = s3.storage_yaml(),
    )
}

fn ruler_block(name: &str, receiver: u16, evaluation: &str) -> String {
    format!(
        "ruler:
  poll_interval: 1s
  remote_write:
    enabled: true
    client:
      url: http://127.0.0.1:{receiver}/write
      headers:
        X-Ruler: {name}
      queue_config:
        min_backoff: 10ms
        max_backoff: 100ms
{evaluation}"
    )
}

/// Group `i` records `g<i>:lines`.
fn rule_groups() -> String {
    let mut text = String::from("groups:\n");
    for i in 0..GROUPS {
        text.push_str(&format!(
            "  - name: group-{i}\n    interval: 1s\n    rules:\n      - record: g{i}:lines\n        expr: sum(count_over_time({{app=\"ruled\"}}[10m]))\n"
        ));
    }
    text
}

fn series(i: usize) -> String {
    format!("g{i}:lines")
}

/// (series, ts) -> the rulers that sent a sample for it.
fn senders(received: &Received) -> BTreeMap<(String, i64), BTreeSet<String>> {
    let mut out: BTreeMap<(String, i64), BTreeSet<String>> = BTreeMap::new();
    for (ruler, name, ts) in received.lock().unwrap().iter() {
        out.entry((name.clone(), *ts)).or_default().insert(ruler.clone());
    }
    out
}

fn assert_no_slot_evaluated_twice(received: &Received) {
    let twice: Vec<_> = senders(received).into_iter().filter(|(_, rulers)| rulers.len() > 1).collect();
    assert!(twice.is_empty(), "evaluated by two rulers for one timestamp: {twice:?}");
}

/// The groups `ruler` sent a sample for at a timestamp after `after_ms`.
fn groups_of(received: &Received, ruler: &str, after_ms: i64) -> BTreeSet<String> {
    received.lock().unwrap().iter().filter(|(r, _, ts)| r == ruler && *ts > after_ms).map(|(_, name, _)| name.clone()).collect()
}

async fn wait_until(timeout: Duration, what: &str, mut check: impl FnMut() -> bool, logs: impl Fn() -> String) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}\n{}", logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The groups a ruler's `/prometheus/api/v1/rules` lists: every ruler's, or with
/// `local_only` (the header rulers ask each other with) the ones it evaluates.
async fn listed_groups(server: &Server, local_only: bool) -> Vec<String> {
    let mut request = server.client.get(server.url("/prometheus/api/v1/rules"));
    if local_only {
        request = request.header("X-Skald-Ruler-Local", "true");
    }
    let body: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
    let groups = body["data"]["groups"].as_array().cloned().unwrap_or_default();
    groups.iter().filter_map(|g| g["name"].as_str().map(str::to_string)).collect()
}

#[tokio::test]
async fn two_rulers_share_the_groups_and_one_takes_over_when_the_other_dies() {
    let s3 = S3Server::start().await;
    let (receiver, received) = start_receiver().await;
    let ports = |_: &str| Ports { grpc: free_port(), gossip: free_port() };
    let (main, r1, r2) = (ports("main"), ports("ruler-1"), ports("ruler-2"));
    let seed = main.gossip;

    let node = Server::start(&node_config("main", "write,read", &main, seed, &s3, "")).await;
    let now = now_ns();
    let lines: Vec<Entry> = (0..5).map(|i| Entry::new(now - (5 - i) * SECOND, format!("line {i}"))).collect();
    node.push_streams(None, &[stream(&[("app", "ruled")], lines)]).await;

    // The first ruler queries the ingesters and the store itself, and has every group.
    let first_config = node_config("ruler-1", "ruler", &r1, seed, &s3, &ruler_block("ruler-1", receiver, ""));
    let mut first = Server::start(&first_config).await;
    let (status, body) = first.post("/loki/api/v1/rules/team", &[("Content-Type", "application/yaml")], rule_groups().into_bytes()).await;
    assert_eq!(status, 202, "{body}");
    let all: BTreeSet<String> = (0..GROUPS).map(series).collect();
    wait_until(Duration::from_secs(20), "ruler-1 to evaluate every group", || groups_of(&received, "ruler-1", 0) == all, || first.logs())
        .await;

    // The second asks the query frontend; once it has settled on the ring, the groups
    // are split between the two.
    let remote = format!("  evaluation:\n    mode: remote\n    query_frontend:\n      address: 127.0.0.1:{}\n", main.grpc);
    let second = Server::start(&node_config("ruler-2", "ruler", &r2, seed, &s3, &ruler_block("ruler-2", receiver, &remote))).await;
    let joined = now_ns() / 1_000_000;
    wait_until(
        Duration::from_secs(20),
        "ruler-2 to take some groups",
        || !groups_of(&received, "ruler-2", joined).is_empty(),
        || second.logs(),
    )
    .await;
    // Two full rounds after the hand-over: every group from exactly one of them.
    let split_at = now_ns() / 1_000_000 + 1_000;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (mine, theirs) = (groups_of(&received, "ruler-1", split_at), groups_of(&received, "ruler-2", split_at));
    assert!(!mine.is_empty() && !theirs.is_empty(), "both rulers evaluate: {mine:?} / {theirs:?}");
    assert!(mine.is_disjoint(&theirs), "a group on both rulers: {mine:?} / {theirs:?}");
    assert_eq!(mine.union(&theirs).cloned().collect::<BTreeSet<_>>(), all);
    // Each ruler evaluates its share; either one's API lists every group, once.
    let (own_first, own_second) = (listed_groups(&first, true).await, listed_groups(&second, true).await);
    assert!(!own_first.is_empty() && !own_second.is_empty(), "{own_first:?} / {own_second:?}");
    let mut both: Vec<String> = own_first.iter().chain(&own_second).cloned().collect();
    both.sort();
    let mut every: Vec<String> = (0..GROUPS).map(|i| format!("group-{i}")).collect();
    every.sort();
    assert_eq!(both, every, "each group on exactly one ruler");
    assert_eq!(listed_groups(&first, false).await, every);
    assert_eq!(listed_groups(&second, false).await, every);
    assert_no_slot_evaluated_twice(&received);

    // kill -9 the first: the second has every group within the heartbeat timeout.
    first.kill9();
    let killed = now_ns() / 1_000_000;
    wait_until(
        Duration::from_secs(30),
        "ruler-2 to evaluate every group",
        || groups_of(&received, "ruler-2", killed) == all,
        || second.logs(),
    )
    .await;
    for group in &mine {
        let first_taken = received
            .lock()
            .unwrap()
            .iter()
            .filter(|(r, name, ts)| r == "ruler-2" && name == group && *ts > killed)
            .map(|(_, _, ts)| *ts)
            .min()
            .unwrap();
        // The heartbeat timeout, plus one evaluation interval and gossip's refresh.
        let bound = HEARTBEAT_TIMEOUT_S * 1_000 + 1_500;
        assert!(first_taken - killed <= bound, "{group} taken over {} ms after the kill", first_taken - killed);
    }
    assert_eq!(listed_groups(&second, true).await, every, "the dead ruler's groups are on the live one");
    assert_no_slot_evaluated_twice(&received);

    // A third ruler joins, then shuts down cleanly (a rollout): it stops evaluating
    // before it leaves, and the second has every group again at once.
    let third_ports = ports("ruler-3");
    let mut third = Server::start(&node_config("ruler-3", "ruler", &third_ports, seed, &s3, &ruler_block("ruler-3", receiver, ""))).await;
    let third_joined = now_ns() / 1_000_000;
    wait_until(
        Duration::from_secs(20),
        "ruler-3 to take some groups",
        || !groups_of(&received, "ruler-3", third_joined).is_empty(),
        || third.logs(),
    )
    .await;
    assert!(third.terminate(Duration::from_secs(20)), "ruler-3 shuts down cleanly\n{}", third.logs());
    let left = now_ns() / 1_000_000;
    wait_until(
        Duration::from_secs(10),
        "ruler-2 to evaluate every group again",
        || groups_of(&received, "ruler-2", left) == all,
        || second.logs(),
    )
    .await;
    let back = received.lock().unwrap().iter().filter(|(r, _, ts)| r == "ruler-2" && *ts > left).map(|(_, _, ts)| *ts).max().unwrap();
    assert!(back - left < HEARTBEAT_TIMEOUT_S * 1_000, "a clean leave hands the groups over before the heartbeat timeout");
    assert_no_slot_evaluated_twice(&received);
}
