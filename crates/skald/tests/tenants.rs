//! Multi-tenancy: with `auth_enabled: true` a tenant sees only its own data, through
//! every read endpoint, from memory and from storage; with
//! `querier.multi_tenant_queries_enabled`, `X-Scope-OrgID: a|b` reads both tenants
//! (each stream labelled `__tenant_id__`) and never a tenant it does not name.

mod common;

use common::*;
use serde_json::{Value, json};
use skald_common::Entry;

const A: &str = "tenant-a";
const B: &str = "tenant-b";

struct Fixture {
    server: Server,
    start: i64,
    a_entries: Vec<Entry>,
    b_entries: Vec<Entry>,
}

async fn fixture() -> Fixture {
    fixture_with("").await
}

async fn fixture_with(extra: &str) -> Fixture {
    let server = Server::start(&format!("auth_enabled: true\n{BASE_CONFIG}{extra}")).await;
    let start = now_ns() - 30 * SECOND;
    let a_entries: Vec<Entry> = (0..3).map(|i| Entry::new(start + i * SECOND, format!("alpha secret {i}"))).collect();
    let b_entries: Vec<Entry> = (0..4).map(|i| Entry::new(start + i * SECOND + 1, format!("beta secret {i}"))).collect();
    // Both push a stream with the same labels too: it must stay two streams.
    server
        .push_streams(
            Some(A),
            &[
                stream(&[("job", "alpha"), ("team", "a")], a_entries.clone()),
                stream(&[("job", "shared")], vec![Entry::new(start, "shared from a")]),
            ],
        )
        .await;
    server
        .push_streams(
            Some(B),
            &[
                stream(&[("job", "beta"), ("b_only", "yes")], b_entries.clone()),
                stream(&[("job", "shared")], vec![Entry::new(start, "shared from b")]),
            ],
        )
        .await;
    Fixture { server, start, a_entries, b_entries }
}

fn range(start: i64) -> Vec<(&'static str, String)> {
    vec![("start", (start - SECOND).to_string()), ("end", (now_ns() + SECOND).to_string())]
}

/// Every read endpoint, from tenant A's and tenant B's point of view.
async fn assert_isolated(f: &Fixture) {
    let s = &f.server;
    let (start, end) = (f.start - SECOND, now_ns() + SECOND);

    // Log queries: each tenant gets exactly its own streams.
    let all = r#"{job=~".+"}"#;
    let mut want_a = Streams::new();
    want_a.insert(labels(&[("job", "alpha"), ("team", "a")]), expected(&f.a_entries));
    want_a.insert(labels(&[("job", "shared")]), vec![(f.start.to_string(), "shared from a".to_string())]);
    let mut want_b = Streams::new();
    want_b.insert(labels(&[("job", "beta"), ("b_only", "yes")]), expected(&f.b_entries));
    want_b.insert(labels(&[("job", "shared")]), vec![(f.start.to_string(), "shared from b".to_string())]);
    assert_eq!(s.query_streams(all, start, end, 1000, Some(A)).await, want_a);
    assert_eq!(s.query_streams(all, start, end, 1000, Some(B)).await, want_b);
    // Asking for the other tenant's stream by name finds nothing.
    assert!(s.query_streams(r#"{job="beta"}"#, start, end, 1000, Some(A)).await.is_empty());
    assert!(s.query_streams(r#"{job="alpha"}"#, start, end, 1000, Some(B)).await.is_empty());
    assert!(s.query_streams(r#"{job=~".+"} |= "beta""#, start, end, 1000, Some(A)).await.is_empty());
    // An unknown tenant sees nothing at all.
    assert!(s.query_streams(all, start, end, 1000, Some("tenant-c")).await.is_empty());

    // Metric queries.
    let metric = [("query", r#"sum by (job) (count_over_time({job=~".+"}[1h]))"#.to_string()), ("time", end.to_string())];
    let counts = |v: &Value| -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["metric"]["job"].as_str().unwrap().to_string(), s["value"][1].as_str().unwrap().to_string()))
            .collect();
        out.sort();
        out
    };
    let a = s.get_json("/loki/api/v1/query", &metric, Some(A)).await;
    assert_eq!(counts(&a), [("alpha".to_string(), "3".to_string()), ("shared".to_string(), "1".to_string())], "{a}");
    let b = s.get_json("/loki/api/v1/query", &metric, Some(B)).await;
    assert_eq!(counts(&b), [("beta".to_string(), "4".to_string()), ("shared".to_string(), "1".to_string())], "{b}");

    // Labels and label values.
    let names = s.get_json("/loki/api/v1/labels", &range(f.start), Some(A)).await;
    assert_eq!(names["data"], json!(["job", "team"]), "{names}");
    let names = s.get_json("/loki/api/v1/labels", &range(f.start), Some(B)).await;
    assert_eq!(names["data"], json!(["b_only", "job"]), "{names}");
    let values = s.get_json("/loki/api/v1/label/job/values", &range(f.start), Some(A)).await;
    assert_eq!(values["data"], json!(["alpha", "shared"]), "{values}");
    let values = s.get_json("/loki/api/v1/label/job/values", &range(f.start), Some(B)).await;
    assert_eq!(values["data"], json!(["beta", "shared"]), "{values}");
    let values = s.get_json("/loki/api/v1/label/b_only/values", &range(f.start), Some(A)).await;
    assert_eq!(values["data"], json!([]), "{values}");
    let values = s.get_json("/loki/api/v1/label/team/values", &range(f.start), Some(B)).await;
    assert_eq!(values["data"], json!([]), "{values}");

    // Series.
    let mut params = range(f.start);
    params.push(("match[]", all.to_string()));
    let series = s.get_json("/loki/api/v1/series", &params, Some(A)).await;
    assert_eq!(sorted(&series["data"]), vec![json!({"job": "alpha", "team": "a"}), json!({"job": "shared"})], "{series}");
    let series = s.get_json("/loki/api/v1/series", &params, Some(B)).await;
    assert_eq!(sorted(&series["data"]), vec![json!({"b_only": "yes", "job": "beta"}), json!({"job": "shared"})], "{series}");

    // Index stats.
    let mut params = range(f.start);
    params.push(("query", all.to_string()));
    let bytes = |entries: &[Entry], extra: &str| (entries.iter().map(|e| e.line.len()).sum::<usize>() + extra.len()) as u64;
    let stats = s.get_json("/loki/api/v1/index/stats", &params, Some(A)).await;
    assert_eq!((stats["streams"].as_u64(), stats["entries"].as_u64()), (Some(2), Some(4)), "{stats}");
    assert_eq!(stats["bytes"].as_u64(), Some(bytes(&f.a_entries, "shared from a")), "{stats}");
    let stats = s.get_json("/loki/api/v1/index/stats", &params, Some(B)).await;
    assert_eq!((stats["streams"].as_u64(), stats["entries"].as_u64()), (Some(2), Some(5)), "{stats}");
    assert_eq!(stats["bytes"].as_u64(), Some(bytes(&f.b_entries, "shared from b")), "{stats}");
}

fn sorted(v: &Value) -> Vec<Value> {
    let mut list = v.as_array().unwrap().clone();
    // Key order inside objects is not significant: sort by a canonical form.
    list.sort_by_key(|x| match x.as_object() {
        Some(o) => format!("{:?}", o.iter().collect::<std::collections::BTreeMap<_, _>>()),
        None => x.to_string(),
    });
    list
}

#[tokio::test]
async fn tenants_see_only_their_own_data() {
    let f = fixture().await;
    assert_isolated(&f).await;
    // Several tenants at once only when the querier allows it (Loki's message).
    let query = [("query", r#"{job=~".+"}"#.to_string())];
    let (status, body) = f.server.get("/loki/api/v1/query_range", &query, Some("tenant-a|tenant-b")).await;
    assert_eq!((status, body.trim()), (400, "multiple org IDs present"));
}

#[tokio::test]
async fn multi_tenant_queries_read_the_tenants_named_and_label_each_stream() {
    let f = fixture_with("querier:\n  multi_tenant_queries_enabled: true\n").await;
    let s = &f.server;
    s.push_streams(Some("tenant-c"), &[stream(&[("job", "gamma")], vec![Entry::new(f.start, "gamma secret")])]).await;
    let (start, end) = (f.start - SECOND, now_ns() + SECOND);
    let all = r#"{job=~".+"}"#;
    // Named in any order, repeated: the same two tenants.
    for header in ["tenant-a|tenant-b", "tenant-b|tenant-a|tenant-b"] {
        let got = s.query_streams(all, start, end, 1000, Some(header)).await;
        let mut want = Streams::new();
        want.insert(labels(&[("__tenant_id__", A), ("job", "alpha"), ("team", "a")]), expected(&f.a_entries));
        want.insert(labels(&[("__tenant_id__", A), ("job", "shared")]), vec![(f.start.to_string(), "shared from a".to_string())]);
        want.insert(labels(&[("__tenant_id__", B), ("b_only", "yes"), ("job", "beta")]), expected(&f.b_entries));
        want.insert(labels(&[("__tenant_id__", B), ("job", "shared")]), vec![(f.start.to_string(), "shared from b".to_string())]);
        assert_eq!(got, want, "{header}");
    }
    let both = Some("tenant-a|tenant-b");
    // A selector on `__tenant_id__` picks tenants; the third tenant is never read.
    let only_b = s.query_streams(r#"{job=~".+", __tenant_id__="tenant-b"}"#, start, end, 1000, both).await;
    assert_eq!(only_b.len(), 2, "{only_b:?}");
    assert!(only_b.keys().all(|l| l["__tenant_id__"] == B));
    assert!(s.query_streams(r#"{job=~".+"} |= "gamma""#, start, end, 1000, both).await.is_empty());

    // Metric queries aggregate over the tenants, by tenant when asked.
    let metric = [("query", r#"sum by (__tenant_id__) (count_over_time({job=~".+"}[1h]))"#.to_string()), ("time", end.to_string())];
    let answer = s.get_json("/loki/api/v1/query", &metric, both).await;
    let mut counts: Vec<(String, String)> = answer["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["metric"]["__tenant_id__"].as_str().unwrap().to_string(), s["value"][1].as_str().unwrap().to_string()))
        .collect();
    counts.sort();
    assert_eq!(counts, [(A.to_string(), "4".to_string()), (B.to_string(), "5".to_string())], "{answer}");

    // Labels, label values, series and index stats.
    let names = s.get_json("/loki/api/v1/labels", &range(f.start), both).await;
    assert_eq!(names["data"], json!(["__tenant_id__", "b_only", "job", "team"]), "{names}");
    let values = s.get_json("/loki/api/v1/label/__tenant_id__/values", &range(f.start), both).await;
    assert_eq!(values["data"], json!([A, B]), "{values}");
    let values = s.get_json("/loki/api/v1/label/job/values", &range(f.start), both).await;
    assert_eq!(values["data"], json!(["alpha", "beta", "shared"]), "{values}");
    let mut params = range(f.start);
    params.push(("match[]", r#"{job="shared"}"#.to_string()));
    let series = s.get_json("/loki/api/v1/series", &params, both).await;
    assert_eq!(sorted(&series["data"]), vec![json!({"__tenant_id__": A, "job": "shared"}), json!({"__tenant_id__": B, "job": "shared"})]);
    let mut params = range(f.start);
    params.push(("query", all.to_string()));
    let stats = s.get_json("/loki/api/v1/index/stats", &params, both).await;
    assert_eq!((stats["streams"].as_u64(), stats["entries"].as_u64()), (Some(4), Some(9)), "{stats}");

    // One tenant is a plain query: no tenant label.
    let own = s.query_streams(all, start, end, 1000, Some(A)).await;
    assert!(own.keys().all(|l| !l.contains_key("__tenant_id__")), "{own:?}");
    // Endpoints that answer for one tenant say so.
    let (status, body) = s.get("/loki/api/v1/patterns", &[("query", all.to_string())], both).await;
    assert_eq!((status, body.trim()), (400, "multiple org IDs present: this endpoint answers for one tenant"));
}

#[tokio::test]
async fn tenants_stay_isolated_after_flush_and_restart() {
    let mut f = fixture().await;
    let (status, body) = f.server.post("/flush", &[], Vec::new()).await;
    assert_eq!(status, 204, "{body}");
    assert_isolated(&f).await;
    f.server.restart().await;
    assert_isolated(&f).await;
}

#[tokio::test]
async fn tail_is_isolated() {
    use futures::StreamExt;
    let f = fixture().await;
    let url = format!("ws://127.0.0.1:{}/loki/api/v1/tail?query=%7Bjob%3D~%22.%2B%22%7D&start={}", f.server.port, f.start - SECOND);
    let mut request = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url.as_str()).unwrap();
    request.headers_mut().insert("X-Scope-OrgID", A.parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("websocket connect");
    // B pushes, then A pushes; A's socket must see A's new line and never B's.
    let now = now_ns();
    f.server.push_streams(Some(B), &[stream(&[("job", "beta"), ("b_only", "yes")], vec![Entry::new(now, "beta live")])]).await;
    f.server.push_streams(Some(A), &[stream(&[("job", "alpha"), ("team", "a")], vec![Entry::new(now, "alpha live")])]).await;
    let mut seen: Vec<String> = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while !seen.iter().any(|l| l == "alpha live") {
        let message = tokio::time::timeout_at(deadline, socket.next()).await.expect("alpha live not received in 5 s").unwrap().unwrap();
        if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
            let frame: Value = serde_json::from_str(text.as_str()).unwrap();
            for stream in frame["streams"].as_array().unwrap() {
                for value in stream["values"].as_array().unwrap() {
                    seen.push(value[1].as_str().unwrap().to_string());
                }
            }
        }
    }
    assert!(seen.iter().any(|l| l == "alpha secret 0"), "history missing: {seen:?}");
    assert!(!seen.iter().any(|l| l.starts_with("beta") || l == "shared from b"), "tenant B's lines leaked: {seen:?}");
}
