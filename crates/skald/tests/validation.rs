//! Validation: every refusal has Loki's status code and a message naming the stream;
//! valid data in the same request is kept; the server survives hostile bodies.

mod common;

use common::*;
use serde_json::json;
use skald_common::Entry;
use std::io::Write;
use std::time::{Duration, Instant};

const DAY: i64 = 24 * 3600 * SECOND;

/// Pushes one v1 JSON stream with one entry; returns status and body.
async fn push_one(server: &Server, pairs: &[(&str, &str)], entry: Entry) -> (u16, String) {
    server.push_json(None, skald_push::encode_json(&[stream(pairs, vec![entry])])).await
}

fn assert_refused(status: u16, body: &str, want_status: u16, needles: &[&str]) {
    assert_eq!(status, want_status, "body: {body}");
    for needle in needles {
        assert!(body.contains(needle), "{needle:?} not in {body:?}");
    }
}

/// The number of entries of every stream matching `{job=~"..."}`-style selector.
async fn count_entries(server: &Server, selector: &str, start: i64) -> usize {
    server.query_streams(selector, start, now_ns() + SECOND, 1000, None).await.values().map(Vec::len).sum()
}

#[tokio::test]
async fn invalid_labels_are_400_and_name_the_stream() {
    let server = Server::start_default().await;
    let now = now_ns();

    let (status, body) = push_one(&server, &[("job", "badname"), ("bad-name", "x")], Entry::new(now, "l")).await;
    assert_refused(status, &body, 400, &["invalid label name", "'bad-name'", r#"job="badname""#]);

    let many: Vec<(String, String)> = (0..15).map(|i| (format!("l{i:02}"), "v".to_string())).collect();
    let mut pairs: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    pairs.push(("job", "many"));
    let (status, body) = push_one(&server, &pairs, Entry::new(now, "l")).await;
    assert_refused(status, &body, 400, &["16 label names; limit 15", r#"job="many""#]);
    // 15 labels are fine.
    let (status, body) = push_one(&server, &pairs[1..], Entry::new(now, "l")).await;
    assert_eq!(status, 204, "15 labels refused: {body}");

    let long_name = "n".repeat(1025);
    let (status, body) = push_one(&server, &[("job", "longname"), (long_name.as_str(), "x")], Entry::new(now, "l")).await;
    assert_refused(status, &body, 400, &["label name too long", r#"job="longname""#]);

    let long_value = "v".repeat(2049);
    let (status, body) = push_one(&server, &[("job", "longvalue"), ("x", long_value.as_str())], Entry::new(now, "l")).await;
    assert_refused(status, &body, 400, &["label value too long", r#"job="longvalue""#]);
    // At the limit it is fine.
    let (status, body) = push_one(&server, &[("job", "longvalue"), ("x", &long_value[1..])], Entry::new(now, "l")).await;
    assert_eq!(status, 204, "2048-byte value refused: {body}");

    // Nothing of the refused streams was stored.
    let jobs = server.get_json("/loki/api/v1/label/job/values", &[], None).await;
    assert_eq!(jobs["data"], json!(["longvalue", "many"]), "{jobs}");
    assert_eq!(count_entries(&server, r#"{job="longvalue"}"#, now - SECOND).await, 1);
}

#[tokio::test]
async fn invalid_entries_are_400_and_name_the_stream() {
    let server = Server::start_default().await;
    let now = now_ns();

    // Default max_line_size: 256 KiB.
    let (status, body) = push_one(&server, &[("job", "long")], Entry::new(now, "x".repeat(256 * 1024 + 1))).await;
    assert_refused(status, &body, 400, &["Max entry size '262144' bytes exceeded", r#"{job="long"}"#, "'262145'"]);
    let (status, body) = push_one(&server, &[("job", "long")], Entry::new(now, "x".repeat(256 * 1024))).await;
    assert_eq!(status, 204, "a line of exactly 256 KiB was refused: {body}");

    // reject_old_samples (default true, 7 days).
    let (status, body) = push_one(&server, &[("job", "old")], Entry::new(now - 8 * DAY, "old")).await;
    assert_refused(status, &body, 400, &["timestamp too old", r#"{job="old"}"#]);
    let (status, body) = push_one(&server, &[("job", "old")], Entry::new(now - 6 * DAY, "six days")).await;
    assert_eq!(status, 204, "six days old was refused: {body}");

    // creation_grace_period 10m.
    let (status, body) = push_one(&server, &[("job", "new")], Entry::new(now + 3600 * SECOND, "future")).await;
    assert_refused(status, &body, 400, &["timestamp too new", r#"{job="new"}"#]);

    // Refused entries are not stored; accepted ones are.
    assert_eq!(count_entries(&server, r#"{job="long"}"#, now - SECOND).await, 1);
    assert_eq!(count_entries(&server, r#"{job="old"}"#, now - 7 * DAY).await, 1);
    assert_eq!(count_entries(&server, r#"{job="new"}"#, now - SECOND).await, 0);
    let end = now + 2 * 3600 * SECOND;
    let got = server.query_streams(r#"{job="new"}"#, now - SECOND, end, 100, None).await;
    assert!(got.is_empty(), "{got:?}");

    // The refusals are counted by reason.
    let (_, metrics) = server.get("/metrics", &[], None).await;
    for reason in ["line_too_long", "greater_than_max_sample_age", "too_far_in_future"] {
        assert!(metrics.contains(&format!("loki_discarded_samples_total{{reason=\"{reason}\"}} 1")), "{reason}: {metrics}");
    }
}

// ---- hand-built protobuf, so that the label text can be anything -------------------

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn bytes_field(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    varint(out, field << 3 | 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A snappy-compressed `logproto.PushRequest` with one stream and one entry.
fn protobuf_push(labels: &str, ts: i64, line: &str) -> Vec<u8> {
    let mut timestamp = Vec::new();
    varint(&mut timestamp, 1 << 3);
    varint(&mut timestamp, (ts / SECOND) as u64);
    varint(&mut timestamp, 2 << 3);
    varint(&mut timestamp, (ts % SECOND) as u64);
    let mut entry = Vec::new();
    bytes_field(&mut entry, 1, &timestamp);
    bytes_field(&mut entry, 2, line.as_bytes());
    let mut stream = Vec::new();
    bytes_field(&mut stream, 1, labels.as_bytes());
    bytes_field(&mut stream, 2, &entry);
    let mut request = Vec::new();
    bytes_field(&mut request, 1, &stream);
    snap::raw::Encoder::new().compress_vec(&request).unwrap()
}

#[tokio::test]
async fn invalid_label_strings_and_malformed_bodies_are_400() {
    let server = Server::start_default().await;
    let now = now_ns();
    let proto = [("Content-Type", "application/x-protobuf")];

    // The hand-built protobuf is right: with valid labels it is accepted.
    let (status, body) = server.post("/loki/api/v1/push", &proto, protobuf_push(r#"{job="proto"}"#, now, "ok")).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(count_entries(&server, r#"{job="proto"}"#, now - SECOND).await, 1);

    for labels in [r#"{job="unterminated"#, r#"{job=unquoted}"#, r#"job="nobraces""#, r#"{job=~"regex"}"#] {
        let (status, body) = server.post("/loki/api/v1/push", &proto, protobuf_push(labels, now, "bad")).await;
        assert_refused(status, &body, 400, &[labels]);
    }
    // Legacy JSON carries label strings too.
    let legacy = json!({"streams": [{"labels": "{job=\"legacy\", broken", "entries": [{"ts": skald_common::format_rfc3339_nanos(now), "line": "x"}]}]});
    let (status, body) = server.post("/api/prom/push", &[("Content-Type", "application/json")], legacy.to_string().into_bytes()).await;
    assert_refused(status, &body, 400, &[r#"{job="legacy", broken"#]);

    // Malformed JSON, a timestamp that is a JSON number, garbage protobuf.
    for bad in [
        r#"{"streams": [{"stream": {"job": "x"}, "values": [["1", "a"]"#.to_string(),
        r#"{"streams": [{"stream": {"job": "x"}, "values": [[1700000000000000000, "a"]]}]}"#.to_string(),
        "not json at all".to_string(),
    ] {
        let (status, body) = server.push_json(None, bad.clone().into_bytes()).await;
        assert_refused(status, &body, 400, &["malformed"]);
    }
    let (status, body) = server.post("/loki/api/v1/push", &proto, b"\xff\x00garbage".to_vec()).await;
    assert_eq!(status, 400, "{body}");

    // Unsupported Content-Encoding.
    let valid = skald_push::encode_json(&[stream(&[("job", "enc")], vec![Entry::new(now, "x")])]);
    let (status, body) = server.post("/loki/api/v1/push", &[("Content-Type", "application/json"), ("Content-Encoding", "br")], valid).await;
    assert_refused(status, &body, 400, &["Content-Encoding", "br"]);
    assert_eq!(count_entries(&server, r#"{job="enc"}"#, now - SECOND).await, 0);

    // Only the first valid push is stored.
    let names = server.get_json("/loki/api/v1/label/job/values", &[], None).await;
    assert_eq!(names["data"], json!(["proto"]), "{names}");
}

#[tokio::test]
async fn valid_entries_of_a_partly_invalid_request_are_kept() {
    let server = Server::start_default().await;
    let now = now_ns();
    let good = Entry::new(now - SECOND, "good entry");
    let body = skald_push::encode_json(&[
        stream(&[("job", "mixed")], vec![Entry::new(now - 8 * DAY, "too old"), good.clone(), Entry::new(now + 3600 * SECOND, "too new")]),
        stream(&[("job", "mixed"), ("bad-name", "x")], vec![Entry::new(now, "bad labels")]),
        stream(&[("job", "mixed-ok")], vec![Entry::new(now, "other good stream")]),
    ]);
    let (status, text) = server.push_json(None, body).await;
    assert_refused(status, &text, 400, &["timestamp too old", "timestamp too new", "invalid label name"]);

    let got = server.query_streams(r#"{job=~"mixed.*"}"#, now - 9 * DAY, now + 2 * 3600 * SECOND, 100, None).await;
    let mut want = Streams::new();
    want.insert(labels(&[("job", "mixed")]), expected(&[good]));
    want.insert(labels(&[("job", "mixed-ok")]), vec![(now.to_string(), "other good stream".to_string())]);
    assert_eq!(got, want);
}

#[tokio::test]
async fn gzip_bomb_is_413_and_the_server_stays_responsive() {
    let server = Server::start_default().await;
    // 200 MiB of zeros: ~200 KB on the wire, twice the 100 MiB decompression cap.
    let zeros = vec![0u8; 1 << 20];
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for _ in 0..200 {
        encoder.write_all(&zeros).unwrap();
    }
    let bomb = encoder.finish().unwrap();
    assert!(bomb.len() < 1 << 20, "bomb is {} bytes", bomb.len());
    let started = Instant::now();
    let (status, body) =
        server.post("/loki/api/v1/push", &[("Content-Type", "application/json"), ("Content-Encoding", "gzip")], bomb).await;
    assert_refused(status, &body, 413, &["exceeds"]);
    assert!(started.elapsed() < Duration::from_secs(10), "the bomb took {:?}", started.elapsed());

    // Still serving: ready, pushes and queries work.
    let (status, _) = server.get("/ready", &[], None).await;
    assert_eq!(status, 200);
    let now = now_ns();
    server.push_streams(None, &[stream(&[("job", "after-bomb")], vec![Entry::new(now, "still alive")])]).await;
    assert_eq!(count_entries(&server, r#"{job="after-bomb"}"#, now - SECOND).await, 1);
}

#[tokio::test]
async fn ingestion_rate_limit_is_429() {
    let config = format!("{BASE_CONFIG}  ingestion_rate_mb: 1\n  ingestion_burst_size_mb: 1\n");
    let server = Server::start(&config).await;
    let now = now_ns();
    // 2 MB in 20 lines of 100 KB: larger than the 1 MiB burst, so it can never fit.
    let entries: Vec<Entry> = (0..20).map(|i| Entry::new(now + i, format!("{i:03}{}", "x".repeat(100_000 - 3)))).collect();
    let (status, body) = server.push_json(None, skald_push::encode_json(&[stream(&[("job", "rate")], entries)])).await;
    assert_refused(status, &body, 429, &["Ingestion rate limit exceeded", "fake"]);
    assert_eq!(count_entries(&server, r#"{job="rate"}"#, now - SECOND).await, 0);

    // A push within the limit still goes through (the refused one took no tokens).
    let small: Vec<Entry> = (0..5).map(|i| Entry::new(now + i, format!("small {i}"))).collect();
    server.push_streams(None, &[stream(&[("job", "rate")], small)]).await;
    assert_eq!(count_entries(&server, r#"{job="rate"}"#, now - SECOND).await, 5);
    let (_, metrics) = server.get("/metrics", &[], None).await;
    assert!(metrics.contains(r#"loki_discarded_samples_total{reason="rate_limited"} 20"#), "{metrics}");
}

#[tokio::test]
async fn auth_enabled_requires_an_org_id() {
    let server = Server::start(&format!("auth_enabled: true\n{BASE_CONFIG}")).await;
    let now = now_ns();
    let body = skald_push::encode_json(&[stream(&[("job", "auth")], vec![Entry::new(now, "x")])]);
    let (status, text) = server.push_json(None, body.clone()).await;
    assert_refused(status, &text, 401, &["no org id"]);
    let params = [("query", r#"{job="auth"}"#.to_string())];
    for path in ["/loki/api/v1/query_range", "/loki/api/v1/query", "/loki/api/v1/labels", "/loki/api/v1/series"] {
        let (status, text) = server.get(path, &params, None).await;
        assert_eq!(status, 401, "{path}: {text}");
    }
    // With the header everything works.
    let (status, text) = server.push_json(Some("team-a"), body).await;
    assert_eq!(status, 204, "{text}");
    let got = server.query_streams(r#"{job="auth"}"#, now - SECOND, now + SECOND, 10, Some("team-a")).await;
    assert_eq!(got.values().map(Vec::len).sum::<usize>(), 1);
}

/// Runs the binary with a config and waits for it to exit; returns (success, stderr).
fn run_with_config(config: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("config.yaml");
    std::fs::write(&config_path, config).unwrap();
    let stderr_path = dir.path().join("stderr.log");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_skald"))
        .arg("server")
        .arg("--http-addr")
        .arg(format!("127.0.0.1:{}", free_port()))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&config_path)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("skald kept running with config {config:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status.success(), std::fs::read_to_string(&stderr_path).unwrap())
}

#[test]
fn unknown_config_keys_are_refused_by_name() {
    for (config, key) in [
        ("limits_config:\n  max_line_sise: 10\n", "max_line_sise"),
        ("serverr:\n  http_listen_port: 3100\n", "serverr"),
        ("ingester:\n  wal:\n    enabeld: true\n", "enabeld"),
    ] {
        let (success, stderr) = run_with_config(config);
        assert!(!success, "exited successfully with {config:?}");
        assert!(stderr.contains(key), "stderr does not name {key:?}: {stderr}");
    }
}

#[tokio::test]
async fn active_stream_limit_is_429_and_keeps_existing_streams_writable() {
    let config = format!("{BASE_CONFIG}  max_global_streams_per_user: 2\n");
    let server = Server::start(&config).await;
    let now = now_ns();
    let streams: Vec<_> =
        (0..3).map(|i| stream(&[("job", "limited"), ("n", &i.to_string())], vec![Entry::new(now + i, format!("line {i}"))])).collect();
    let (status, body) = server.push_json(None, skald_push::encode_json(&streams)).await;
    assert_refused(status, &body, 429, &["Maximum active stream limit exceeded", r#"n="2""#, "user: 'fake'"]);
    // The streams under the limit were written.
    assert_eq!(count_entries(&server, r#"{job="limited"}"#, now - SECOND).await, 2);
    // An existing stream still takes entries; a new one is still refused.
    let (status, body) = push_one(&server, &[("job", "limited"), ("n", "0")], Entry::new(now + 10, "again")).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = push_one(&server, &[("job", "limited"), ("n", "9")], Entry::new(now + 11, "new")).await;
    assert_refused(status, &body, 429, &["Maximum active stream limit exceeded"]);
    assert_eq!(count_entries(&server, r#"{job="limited"}"#, now - SECOND).await, 3);
}
