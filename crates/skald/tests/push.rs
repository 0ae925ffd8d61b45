//! Push API: every body format and encoding is accepted and read back exactly.

mod common;

use common::*;
use serde_json::json;
use skald_common::Entry;
use std::io::Write;

/// Entries `base + i ms + 7 ns` with distinct lines (odd nanoseconds check that
/// timestamps survive at full precision).
fn entries(base: i64, prefix: &str, n: usize) -> Vec<Entry> {
    (0..n).map(|i| Entry::new(base + i as i64 * 1_000_000 + 7, format!("{prefix} line {i} ünïcødé ✓ \"quoted\" \\ tab\t"))).collect()
}

async fn read_back(server: &Server, selector: &str, base: i64) -> Streams {
    server.query_streams(selector, base - SECOND, now_ns() + SECOND, 1000, None).await
}

#[tokio::test]
async fn json_push_is_read_back_exactly() {
    let server = Server::start_default().await;
    let base = now_ns() - 30 * SECOND;
    let a = entries(base, "a", 5);
    let b = entries(base + 3, "b", 3);
    let body = skald_push::encode_json(&[
        stream(&[("job", "json"), ("env", "prod")], a.clone()),
        stream(&[("job", "json"), ("env", "dev")], b.clone()),
    ]);
    let (status, text) = server.push_json(None, body).await;
    assert_eq!(status, 204, "{text}");
    assert!(text.is_empty(), "204 with a body: {text:?}");

    let got = read_back(&server, r#"{job="json"}"#, base).await;
    let mut want = Streams::new();
    want.insert(labels(&[("job", "json"), ("env", "prod")]), expected(&a));
    want.insert(labels(&[("job", "json"), ("env", "dev")]), expected(&b));
    assert_eq!(got, want);

    // A selector narrows to one stream.
    let got = read_back(&server, r#"{job="json", env="dev"}"#, base).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[&labels(&[("job", "json"), ("env", "dev")])], expected(&b));
}

#[tokio::test]
async fn protobuf_snappy_push_is_read_back_exactly() {
    let server = Server::start_default().await;
    let base = now_ns() - 20 * SECOND;
    let a = entries(base, "proto", 4);
    let body = skald_push::encode_protobuf(&[stream(&[("job", "proto"), ("host", "h1")], a.clone())]);
    // Really snappy-compressed protobuf, not JSON.
    assert!(snap::raw::Decoder::new().decompress_vec(&body).is_ok());
    let (status, text) = server.post("/loki/api/v1/push", &[("Content-Type", "application/x-protobuf")], body).await;
    assert_eq!(status, 204, "{text}");
    let got = read_back(&server, r#"{job="proto"}"#, base).await;
    let mut want = Streams::new();
    want.insert(labels(&[("job", "proto"), ("host", "h1")]), expected(&a));
    assert_eq!(got, want);
}

#[tokio::test]
async fn gzip_and_deflate_json_pushes_are_read_back_exactly() {
    let server = Server::start_default().await;
    let base = now_ns() - 20 * SECOND;
    let gz = entries(base, "gzip", 6);
    let zlib = entries(base + 1, "zlib", 2);
    let raw = entries(base + 2, "rawdeflate", 3);

    let json = skald_push::encode_json(&[stream(&[("job", "gzip")], gz.clone())]);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&json).unwrap();
    let body = encoder.finish().unwrap();
    assert_ne!(body, json);
    let (status, text) =
        server.post("/loki/api/v1/push", &[("Content-Type", "application/json"), ("Content-Encoding", "gzip")], body).await;
    assert_eq!(status, 204, "gzip: {text}");

    // `deflate` as HTTP defines it (zlib-wrapped) and as Go's flate reader reads it (raw).
    let json = skald_push::encode_json(&[stream(&[("job", "zlib")], zlib.clone())]);
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&json).unwrap();
    let (status, text) = server
        .post("/loki/api/v1/push", &[("Content-Type", "application/json"), ("Content-Encoding", "deflate")], encoder.finish().unwrap())
        .await;
    assert_eq!(status, 204, "zlib deflate: {text}");
    let json = skald_push::encode_json(&[stream(&[("job", "rawdeflate")], raw.clone())]);
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&json).unwrap();
    let (status, text) = server
        .post("/loki/api/v1/push", &[("Content-Type", "application/json"), ("Content-Encoding", "deflate")], encoder.finish().unwrap())
        .await;
    assert_eq!(status, 204, "raw deflate: {text}");

    let got = read_back(&server, r#"{job=~"gzip|zlib|rawdeflate"}"#, base).await;
    let mut want = Streams::new();
    want.insert(labels(&[("job", "gzip")]), expected(&gz));
    want.insert(labels(&[("job", "zlib")]), expected(&zlib));
    want.insert(labels(&[("job", "rawdeflate")]), expected(&raw));
    assert_eq!(got, want);
}

#[tokio::test]
async fn legacy_prom_push_is_read_back_exactly() {
    let server = Server::start_default().await;
    // RFC3339 timestamps with nanoseconds.
    let base = now_ns() - 10 * SECOND;
    let ts: Vec<i64> = vec![base + 123_456_789, base + SECOND + 1, base + 2 * SECOND];
    let body = json!({"streams": [{
        "labels": "{job=\"legacy\", region=\"eu-west\"}",
        "entries": ts.iter().enumerate().map(|(i, t)| json!({"ts": skald_common::format_rfc3339_nanos(*t), "line": format!("legacy {i}")})).collect::<Vec<_>>(),
    }]});
    let (status, text) = server.post("/api/prom/push", &[("Content-Type", "application/json")], body.to_string().into_bytes()).await;
    assert_eq!(status, 204, "{text}");
    let got = read_back(&server, r#"{job="legacy"}"#, base).await;
    let mut want = Streams::new();
    want.insert(
        labels(&[("job", "legacy"), ("region", "eu-west")]),
        ts.iter().enumerate().map(|(i, t)| (t.to_string(), format!("legacy {i}"))).collect(),
    );
    assert_eq!(got, want);
}

#[tokio::test]
async fn structured_metadata_is_categorized_or_merged() {
    let server = Server::start_default().await;
    let base = now_ns() - 10 * SECOND;
    let with = entry_with_metadata(base, "with metadata", &[("trace_id", "abc123"), ("user", "alice")]);
    let without = Entry::new(base + 1000, "without metadata");
    server.push_streams(None, &[stream(&[("job", "sm")], vec![with.clone(), without.clone()])]).await;
    let params = [
        ("query", r#"{job="sm"}"#.to_string()),
        ("start", (base - SECOND).to_string()),
        ("end", (now_ns() + SECOND).to_string()),
        ("direction", "forward".to_string()),
    ];

    // With the flag: one stream (the pushed labels), metadata beside each entry.
    let request = server
        .client
        .get(server.url("/loki/api/v1/query_range"))
        .query(&params)
        .header("X-Loki-Response-Encoding-Flags", "categorize-labels");
    let response = request.send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    let result = body["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 1, "{body}");
    assert_eq!(result[0]["stream"], json!({"job": "sm"}), "{body}");
    let values = result[0]["values"].as_array().unwrap();
    assert_eq!(values.len(), 2, "{body}");
    assert_eq!(values[0][0], json!(base.to_string()));
    assert_eq!(values[0][1], json!("with metadata"));
    assert_eq!(values[0][2]["structuredMetadata"], json!({"trace_id": "abc123", "user": "alice"}), "{body}");
    assert_eq!(values[1][1], json!("without metadata"));
    assert!(values[1].get(2).is_none_or(|extra| extra["structuredMetadata"].as_object().is_none_or(|m| m.is_empty())), "{body}");
    assert_eq!(body["data"]["encodingFlags"], json!(["categorize-labels"]), "{body}");

    // Without the flag: metadata merged into the stream labels, so two streams.
    let got = server.query_streams(r#"{job="sm"}"#, base - SECOND, now_ns() + SECOND, 100, None).await;
    let mut want = Streams::new();
    want.insert(labels(&[("job", "sm"), ("trace_id", "abc123"), ("user", "alice")]), expected(&[with]));
    want.insert(labels(&[("job", "sm")]), expected(&[without]));
    assert_eq!(got, want);

    // Metadata can be filtered on like a label.
    let got = server.query_streams(r#"{job="sm"} | trace_id="abc123""#, base - SECOND, now_ns() + SECOND, 100, None).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got.values().next().unwrap()[0].1, "with metadata");
}

#[tokio::test]
async fn duplicates_are_stored_once() {
    let server = Server::start_default().await;
    let base = now_ns() - 10 * SECOND;
    let one = Entry::new(base, "dup");
    let same_ts_other_line = Entry::new(base, "not a dup");
    let later = Entry::new(base + 5, "later");
    // Twice within one request, and again in a second request.
    server.push_streams(None, &[stream(&[("job", "dup")], vec![one.clone(), one.clone(), same_ts_other_line.clone()])]).await;
    server.push_streams(None, &[stream(&[("job", "dup")], vec![one.clone(), later.clone()])]).await;
    let got = read_back(&server, r#"{job="dup"}"#, base).await;
    let values = &got[&labels(&[("job", "dup")])];
    assert_eq!(values.len(), 3, "{values:?}");
    let mut lines: Vec<&str> = values.iter().map(|(_, l)| l.as_str()).collect();
    lines.sort();
    assert_eq!(lines, ["dup", "later", "not a dup"]);
    assert_eq!(values[2], (later.ts.to_string(), "later".to_string()));
    assert_eq!(values[0].0, base.to_string());
    assert_eq!(values[1].0, base.to_string());

    // A client retrying a whole batch (e.g. after a timeout) stores nothing twice.
    let batch = entries(base + 1_000_000, "retried", 5);
    server.push_streams(None, &[stream(&[("job", "retry")], batch.clone())]).await;
    server.push_streams(None, &[stream(&[("job", "retry")], batch.clone())]).await;
    let got = read_back(&server, r#"{job="retry"}"#, base).await;
    assert_eq!(got[&labels(&[("job", "retry")])], expected(&batch));
}

#[tokio::test]
async fn out_of_order_entries_within_the_window_are_accepted() {
    let server = Server::start_default().await;
    let newest = now_ns() - 5 * SECOND;
    let first = Entry::new(newest, "newest first");
    let older = Entry::new(newest - 600 * SECOND, "ten minutes older");
    let middle = Entry::new(newest - 30 * SECOND, "thirty seconds older");
    server.push_streams(None, &[stream(&[("job", "ooo")], vec![first.clone()])]).await;
    server.push_streams(None, &[stream(&[("job", "ooo")], vec![older.clone(), middle.clone()])]).await;
    let got = read_back(&server, r#"{job="ooo"}"#, older.ts).await;
    // Returned in time order (forward), whatever the push order.
    assert_eq!(got[&labels(&[("job", "ooo")])], expected(&[older.clone(), middle.clone(), first.clone()]));

    // Beyond the window (max_chunk_age / 2 = 1h behind the newest entry): refused with
    // 400 naming the stream, and nothing stored.
    let too_old = Entry::new(newest - 2 * 3600 * SECOND, "two hours older");
    let (status, text) = server.push_json(None, skald_push::encode_json(&[stream(&[("job", "ooo")], vec![too_old.clone()])])).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("too far behind") && text.contains(r#"{job="ooo"}"#), "{text}");
    let got = read_back(&server, r#"{job="ooo"}"#, too_old.ts).await;
    assert_eq!(got[&labels(&[("job", "ooo")])].len(), 3);
}

#[tokio::test]
async fn default_limits_add_service_name() {
    // No limits configured: Loki's defaults discover `service_name` from `job`.
    let server = Server::start("server:\n  log_level: info\n").await;
    let base = now_ns() - 5 * SECOND;
    server.push_streams(None, &[stream(&[("job", "svc")], vec![Entry::new(base, "hello")])]).await;
    let got = read_back(&server, r#"{service_name="svc"}"#, base).await;
    let (labels_got, values) = got.iter().next().expect("no stream found by service_name");
    assert_eq!(labels_got.get("job").map(String::as_str), Some("svc"));
    assert_eq!(labels_got.get("service_name").map(String::as_str), Some("svc"));
    assert_eq!(values, &vec![(base.to_string(), "hello".to_string())]);
}

#[tokio::test]
async fn a_push_without_streams_is_refused_like_loki() {
    let server = Server::start_default().await;
    let (status, text) = server.push_json(None, br#"{"streams":[]}"#.to_vec()).await;
    assert_eq!(status, 422, "{text}");
    assert_eq!(text, "error at least one valid stream is required for ingestion\n");
    // Without the field at all: a malformed request, named.
    let (status, text) = server.push_json(None, b"{}".to_vec()).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("missing field `streams`"), "{text}");
    // A stream without entries is a stream: accepted, nothing stored.
    let (status, text) = server.push_json(None, br#"{"streams":[{"stream":{"job":"x"},"values":[]}]}"#.to_vec()).await;
    assert_eq!(status, 204, "{text}");
}
