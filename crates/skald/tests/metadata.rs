//! Metadata endpoints (labels, label values, series, index stats, build info, metrics),
//! answered the same from memory, after `/flush` from storage, and after a restart.

mod common;

use common::*;
use serde_json::{Value, json};
use skald_common::Entry;

struct Data {
    start: i64,
    streams: Vec<skald_common::PushStream>,
}

fn data() -> Data {
    let start = now_ns() - 60 * SECOND;
    let mk = |offset: i64, n: i64, prefix: &str| -> Vec<Entry> {
        (0..n).map(|i| Entry::new(start + offset + i * SECOND, format!("{prefix} {i}"))).collect()
    };
    Data {
        start,
        streams: vec![
            stream(&[("job", "api"), ("env", "prod"), ("region", "eu")], mk(0, 5, "api prod eu")),
            stream(&[("job", "api"), ("env", "dev"), ("region", "us")], mk(1, 3, "api dev us")),
            stream(&[("job", "db"), ("env", "prod")], mk(2, 4, "db prod, a longer line")),
            stream(&[("job", "cache"), ("tier", "hot")], mk(3, 2, "cache")),
        ],
    }
}

fn range(d: &Data) -> Vec<(&'static str, String)> {
    vec![("start", (d.start - SECOND).to_string()), ("end", (now_ns() + SECOND).to_string())]
}

fn sorted(v: &Value) -> Vec<Value> {
    let mut list = v.as_array().unwrap_or_else(|| panic!("not an array: {v}")).clone();
    // Key order inside objects is not significant: sort by a canonical form.
    list.sort_by_key(|x| match x.as_object() {
        Some(o) => format!("{:?}", o.iter().collect::<std::collections::BTreeMap<_, _>>()),
        None => x.to_string(),
    });
    list
}

/// `{streams, chunks, entries, bytes}` of `/index/stats` for a selector.
async fn index_stats(s: &Server, d: &Data, query: &str) -> Value {
    let mut params = range(d);
    params.push(("query", query.to_string()));
    s.get_json("/loki/api/v1/index/stats", &params, None).await
}

fn bytes_of(d: &Data, pick: impl Fn(&skald_common::LabelSet) -> bool) -> (u64, u64, u64) {
    let picked: Vec<_> = d.streams.iter().filter(|s| pick(&s.labels)).collect();
    let entries = picked.iter().map(|s| s.entries.len() as u64).sum();
    let bytes = picked.iter().flat_map(|s| s.entries.iter()).map(|e| e.line.len() as u64).sum();
    (picked.len() as u64, entries, bytes)
}

/// Every metadata answer for the data set; the same wherever the data lives.
async fn assert_metadata(s: &Server, d: &Data) {
    let names = s.get_json("/loki/api/v1/labels", &range(d), None).await;
    assert_eq!(names["status"], "success");
    assert_eq!(names["data"], json!(["env", "job", "region", "tier"]), "{names}");

    // Narrowed by a selector.
    let mut params = range(d);
    params.push(("query", r#"{job="db"}"#.to_string()));
    let names = s.get_json("/loki/api/v1/labels", &params, None).await;
    assert_eq!(names["data"], json!(["env", "job"]), "{names}");

    let values = s.get_json("/loki/api/v1/label/job/values", &range(d), None).await;
    assert_eq!(values["data"], json!(["api", "cache", "db"]), "{values}");
    let values = s.get_json("/loki/api/v1/label/env/values", &range(d), None).await;
    assert_eq!(values["data"], json!(["dev", "prod"]), "{values}");
    let mut params = range(d);
    params.push(("query", r#"{job="api"}"#.to_string()));
    let values = s.get_json("/loki/api/v1/label/region/values", &params, None).await;
    assert_eq!(values["data"], json!(["eu", "us"]), "{values}");
    let values = s.get_json("/loki/api/v1/label/nonexistent/values", &range(d), None).await;
    assert_eq!(values["data"], json!([]), "{values}");

    // Series: repeated match[] is a union (without duplicates).
    let mut params = range(d);
    params.push(("match[]", r#"{job="db"}"#.to_string()));
    params.push(("match[]", r#"{env="prod"}"#.to_string()));
    params.push(("match[]", r#"{tier="hot"}"#.to_string()));
    let series = s.get_json("/loki/api/v1/series", &params, None).await;
    assert_eq!(
        sorted(&series["data"]),
        sorted(&json!([{"job": "api", "env": "prod", "region": "eu"}, {"job": "db", "env": "prod"}, {"job": "cache", "tier": "hot"}])),
        "{series}"
    );
    let mut params = range(d);
    params.push(("match[]", r#"{job="api", region!="eu"}"#.to_string()));
    let series = s.get_json("/loki/api/v1/series", &params, None).await;
    assert_eq!(series["data"], json!([{"job": "api", "env": "dev", "region": "us"}]), "{series}");
    // No match[]: 400.
    let (status, _) = s.get("/loki/api/v1/series", &range(d), None).await;
    assert_eq!(status, 400);

    // Index stats.
    for (query, pick) in [
        (r#"{job=~".+"}"#, Box::new(|_: &skald_common::LabelSet| true) as Box<dyn Fn(&skald_common::LabelSet) -> bool>),
        (r#"{job="api"}"#, Box::new(|l: &skald_common::LabelSet| l.get("job") == Some("api"))),
        (r#"{env="prod"}"#, Box::new(|l: &skald_common::LabelSet| l.get("env") == Some("prod"))),
        (r#"{job="none"}"#, Box::new(|_: &skald_common::LabelSet| false)),
    ] {
        let stats = index_stats(s, d, query).await;
        let (streams, entries, bytes) = bytes_of(d, pick);
        assert_eq!(stats["streams"].as_u64(), Some(streams), "{query}: {stats}");
        assert_eq!(stats["entries"].as_u64(), Some(entries), "{query}: {stats}");
        assert_eq!(stats["bytes"].as_u64(), Some(bytes), "{query}: {stats}");
        let chunks = stats["chunks"].as_u64().unwrap_or_else(|| panic!("no chunks: {stats}"));
        assert!(chunks >= streams && (streams > 0 || chunks == 0), "{query}: {stats}");
    }

    // The data itself.
    let got = s.query_streams(r#"{job=~".+"}"#, d.start - SECOND, now_ns() + SECOND, 1000, None).await;
    let want: Streams =
        d.streams.iter().map(|st| (st.labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect(), expected(&st.entries))).collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn metadata_from_memory_storage_and_after_restart() {
    let mut s = Server::start_default().await;
    let d = data();
    s.push_streams(None, &d.streams).await;
    assert_metadata(&s, &d).await;

    let (_, metrics) = s.get("/metrics", &[], None).await;
    assert_eq!(metric_value(&metrics, "loki_ingester_chunks_flushed_total"), Some(0.0), "{metrics}");

    let (status, body) = s.post("/flush", &[], Vec::new()).await;
    assert_eq!(status, 204, "{body}");
    let (_, metrics) = s.get("/metrics", &[], None).await;
    let flushed = metric_value(&metrics, "loki_ingester_chunks_flushed_total").unwrap();
    assert!(flushed >= d.streams.len() as f64, "only {flushed} chunks flushed: {metrics}");
    assert!(metric_value(&metrics, "loki_ingester_chunk_stored_bytes_total").unwrap() > 0.0, "{metrics}");
    assert_metadata(&s, &d).await;

    // Flushed data comes back from storage after a crash, exactly once.
    s.kill9();
    s.restart().await;
    let (_, metrics) = s.get("/metrics", &[], None).await;
    assert_eq!(metric_value(&metrics, "loki_ingester_memory_streams"), Some(0.0), "flushed data replayed from the WAL: {metrics}");
    assert_metadata(&s, &d).await;
    // And after a graceful stop.
    assert!(s.terminate(std::time::Duration::from_secs(10)), "graceful shutdown failed:\n{}", s.logs());
    s.restart().await;
    assert_metadata(&s, &d).await;
}

#[tokio::test]
async fn unflushed_data_survives_a_graceful_restart() {
    let mut s = Server::start_default().await;
    let d = data();
    s.push_streams(None, &d.streams).await;
    // SIGTERM flushes on the way out.
    assert!(s.terminate(std::time::Duration::from_secs(10)), "graceful shutdown failed:\n{}", s.logs());
    assert!(s.logs().contains("flushed"), "{}", s.logs());
    s.restart().await;
    assert_metadata(&s, &d).await;
}

#[tokio::test]
async fn buildinfo_and_metrics() {
    let s = Server::start_default().await;
    let info = s.get_json("/loki/api/v1/status/buildinfo", &[], None).await;
    for key in ["version", "revision", "branch", "buildUser", "buildDate", "goVersion"] {
        assert!(info[key].is_string(), "{key} missing: {info}");
    }
    assert!(!info["version"].as_str().unwrap().is_empty(), "{info}");

    let (status, metrics) = s.get("/metrics", &[], None).await;
    assert_eq!(status, 200);
    assert!(metrics.contains("# TYPE loki_distributor_lines_received_total counter"), "{metrics}");
    assert_eq!(metric_value(&metrics, "loki_distributor_lines_received_total"), Some(0.0), "{metrics}");

    let d = data();
    s.push_streams(None, &d.streams).await;
    let total_lines: usize = d.streams.iter().map(|s| s.entries.len()).sum();
    let total_bytes: usize = d.streams.iter().flat_map(|s| s.entries.iter()).map(|e| e.line.len()).sum();
    let (_, metrics) = s.get("/metrics", &[], None).await;
    assert_eq!(metric_value(&metrics, "loki_distributor_lines_received_total"), Some(total_lines as f64), "{metrics}");
    assert_eq!(metric_value(&metrics, "loki_distributor_bytes_received_total"), Some(total_bytes as f64), "{metrics}");
    assert_eq!(metric_value(&metrics, "loki_ingester_memory_streams"), Some(d.streams.len() as f64), "{metrics}");
    // Requests are counted by route and status.
    assert!(metrics.contains(r#"loki_request_duration_seconds_count{route="loki_api_v1_push",status_code="204"} 1"#), "{metrics}");

    let (status, body) = s.get("/ready", &[], None).await;
    assert_eq!((status, body.trim()), (200, "ready"));
}

/// `format_query` answers Loki's pretty form, and a parse error as 400 with its position.
#[tokio::test]
async fn format_query_pretty_prints_and_reports_errors() {
    let s = Server::start_default().await;
    let short =
        s.get_json("/loki/api/v1/format_query", &[("query", r#"sum by (env)(rate({job="nginx"} |= "x"[5m]))"#.to_string())], None).await;
    assert_eq!(short["status"], "success", "{short}");
    let text = short["data"].as_str().unwrap_or_default();
    assert!(!text.contains('\n') && text.contains("rate(") && text.contains("by (env)"), "{short}");
    let long_query = r#"sum by (namespace, pod) (count_over_time({app="frontend", env="prod", cluster="eu-west-1"} |= "error" | logfmt | level="error" | duration > 500ms [5m]))"#;
    let long = s.get_json("/loki/api/v1/format_query", &[("query", long_query.to_string())], None).await;
    let text = long["data"].as_str().unwrap_or_default();
    assert!(text.lines().count() > 1, "a query over 100 characters breaks over lines: {long}");
    assert!(text.lines().all(|l| l.len() <= 100 || !l.starts_with(' ')), "{text}");
    let (status, body) = s.get("/loki/api/v1/format_query", &[("query", "sum(rate({job=\"x\"}[5m])".to_string())], None).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("parse error at line 1, col"), "{body}");
}
