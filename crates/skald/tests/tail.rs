//! Live tailing over the websocket `/loki/api/v1/tail`.

mod common;

use common::*;
use futures::StreamExt;
use serde_json::{Value, json};
use skald_common::Entry;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(server: &Server, query: &str, start: i64) -> Socket {
    let url = reqwest::Url::parse_with_params(
        &format!("ws://127.0.0.1:{}/loki/api/v1/tail", server.port),
        &[("query", query.to_string()), ("start", start.to_string())],
    )
    .unwrap();
    let (socket, response) = tokio_tungstenite::connect_async(url.as_str()).await.expect("websocket connect");
    assert_eq!(response.status().as_u16(), 101);
    socket
}

/// The next data frame (pings skipped), or a panic after `timeout`.
async fn next_frame(socket: &mut Socket, timeout: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .expect("no tail frame within the timeout")
            .expect("websocket closed")
            .expect("websocket error");
        match message {
            Message::Text(text) => {
                return serde_json::from_str(text.as_str()).unwrap_or_else(|e| panic!("frame is not JSON ({e}): {text}"));
            }
            Message::Close(frame) => panic!("server closed the tail: {frame:?}"),
            _ => continue,
        }
    }
}

/// `(labels, [ts, line])` pairs of a frame, checking its shape.
fn frame_entries(frame: &Value) -> Vec<(Value, String, String)> {
    let streams = frame["streams"].as_array().unwrap_or_else(|| panic!("frame without streams: {frame}"));
    let mut out = Vec::new();
    for stream in streams {
        assert!(stream["stream"].is_object(), "{frame}");
        for value in stream["values"].as_array().unwrap_or_else(|| panic!("stream without values: {frame}")) {
            let pair = value.as_array().unwrap();
            assert_eq!(pair.len(), 2, "{frame}");
            out.push((stream["stream"].clone(), pair[0].as_str().unwrap().to_string(), pair[1].as_str().unwrap().to_string()));
        }
    }
    out
}

#[tokio::test]
async fn a_pushed_line_arrives_on_the_tail() {
    let server = Server::start_default().await;
    let mut socket = connect(&server, r#"{job="tail"}"#, now_ns()).await;
    let ts = now_ns();
    server.push_streams(None, &[stream(&[("job", "tail")], vec![Entry::new(ts, "hello tail")])]).await;
    let frame = next_frame(&mut socket, Duration::from_secs(5)).await;
    assert_eq!(frame["streams"], json!([{"stream": {"job": "tail"}, "values": [[ts.to_string(), "hello tail"]]}]), "{frame}");

    // Another stream that does not match the selector is not sent; the next one is.
    let ts2 = now_ns();
    server.push_streams(None, &[stream(&[("job", "other")], vec![Entry::new(ts2, "not for this tail")])]).await;
    server.push_streams(None, &[stream(&[("job", "tail")], vec![Entry::new(ts2, "second")])]).await;
    let frame = next_frame(&mut socket, Duration::from_secs(5)).await;
    assert_eq!(frame_entries(&frame), vec![(json!({"job": "tail"}), ts2.to_string(), "second".to_string())], "{frame}");
}

#[tokio::test]
async fn history_since_start_is_sent_first() {
    let server = Server::start_default().await;
    let start = now_ns() - 10 * SECOND;
    let old = Entry::new(start - SECOND, "before start");
    let history: Vec<Entry> = (0..3).map(|i| Entry::new(start + i * SECOND, format!("history {i}"))).collect();
    let mut all = vec![old];
    all.extend(history.iter().cloned());
    server.push_streams(None, &[stream(&[("job", "hist")], all)]).await;

    let mut socket = connect(&server, r#"{job="hist"}"#, start).await;
    let frame = next_frame(&mut socket, Duration::from_secs(5)).await;
    let got = frame_entries(&frame);
    let want: Vec<(Value, String, String)> = history.iter().map(|e| (json!({"job": "hist"}), e.ts.to_string(), e.line.clone())).collect();
    assert_eq!(got, want, "{frame}");

    let ts = now_ns();
    server.push_streams(None, &[stream(&[("job", "hist")], vec![Entry::new(ts, "live")])]).await;
    let frame = next_frame(&mut socket, Duration::from_secs(5)).await;
    assert_eq!(frame_entries(&frame), vec![(json!({"job": "hist"}), ts.to_string(), "live".to_string())], "{frame}");
}

#[tokio::test]
async fn a_line_filter_excludes_lines() {
    let server = Server::start_default().await;
    let mut socket = connect(&server, r#"{job="filter"} |= "keep""#, now_ns()).await;
    let ts = now_ns();
    // In one push: a kept and a dropped line; then a second kept line. If the filter
    // let "drop" through, it would arrive before "keep 3".
    server.push_streams(None, &[stream(&[("job", "filter")], vec![Entry::new(ts, "keep 1"), Entry::new(ts + 1, "drop 2")])]).await;
    server.push_streams(None, &[stream(&[("job", "filter")], vec![Entry::new(ts + 2, "drop 3"), Entry::new(ts + 3, "keep 4")])]).await;
    let mut lines: Vec<String> = Vec::new();
    while !lines.iter().any(|l| l == "keep 4") {
        let frame = next_frame(&mut socket, Duration::from_secs(5)).await;
        lines.extend(frame_entries(&frame).into_iter().map(|(_, _, line)| line));
    }
    assert_eq!(lines, ["keep 1", "keep 4"]);
}

#[tokio::test]
async fn a_metric_query_cannot_be_tailed() {
    let server = Server::start_default().await;
    let url = reqwest::Url::parse_with_params(
        &format!("ws://127.0.0.1:{}/loki/api/v1/tail", server.port),
        &[("query", r#"count_over_time({job="x"}[1m])"#)],
    )
    .unwrap();
    match tokio_tungstenite::connect_async(url.as_str()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 400);
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).to_string();
            assert!(body.contains("log query"), "{body}");
        }
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("a metric query was accepted for tailing"),
    }
}

/// The server's resident memory, from `/proc`.
fn rss_mib(pid: i32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).unwrap().trim().trim_end_matches("kB").trim().parse().unwrap();
    kib / 1024.0
}

#[tokio::test]
async fn a_tail_client_that_never_reads_is_dropped_while_others_carry_on() {
    let config =
        format!("server:\n  http_server_write_timeout: 3s\n{BASE_CONFIG}  ingestion_rate_mb: 1000\n  ingestion_burst_size_mb: 1000\n");
    let server = Server::start(&config).await;
    let start = now_ns();
    // Opened and then never read: the kernel's socket buffers fill, then the server's
    // writes stall.
    let stuck = connect(&server, r#"{app="flood"}"#, start).await;
    let mut reader = connect(&server, r#"{app="flood"}"#, start).await;
    let marker = "the last line";
    let reading = tokio::spawn(async move {
        let mut seen = 0usize;
        loop {
            let frame = next_frame(&mut reader, Duration::from_secs(60)).await;
            for (_, _, line) in frame_entries(&frame) {
                if line == marker {
                    return seen;
                }
                seen += 1;
            }
        }
    });

    // 24 MiB of matching lines, far more than loopback socket buffers hold.
    let rss_before = rss_mib(server.pid());
    let line = "x".repeat(1000);
    for push in 0..24i64 {
        let entries: Vec<Entry> = (0..1000i64).map(|i| Entry::new(start + push * 1_000_000 + i, format!("{push}-{i} {line}"))).collect();
        server.push_streams(None, &[stream(&[("app", "flood")], entries)]).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.push_streams(None, &[stream(&[("app", "flood")], vec![Entry::new(start + 100_000_000, marker)])]).await;
    let seen = tokio::time::timeout(Duration::from_secs(60), reading).await.expect("the reading client got the last line").unwrap();
    assert!(seen > 0, "the reading client saw none of the flood");
    let growth = rss_mib(server.pid()) - rss_before;
    // The ingested lines take memory of their own; a tail buffering 24 MiB of frames
    // for the stuck client would double it.
    assert!(growth < 64.0, "RSS grew by {growth:.1} MiB while a tail client was stuck");

    // The server gives up on the stuck client: once its socket is drained, the stream
    // ends instead of going on (pings would keep it alive forever otherwise), and it
    // got only part of the flood.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let mut stuck = stuck;
    let mut received = 0usize;
    let drained = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(message)) = stuck.next().await {
            if let Message::Text(text) = message {
                received += text.len();
            }
        }
    })
    .await;
    assert!(drained.is_ok(), "the stuck tail was never closed ({received} bytes received)");
    assert!(received < 24 << 20, "the stuck client received the whole flood ({received} bytes)");
}

#[tokio::test]
async fn a_read_node_tails_through_its_own_querier() {
    // `-target=write,read` on a cluster of one: the frontend's tail is its querier's.
    let (grpc, gossip) = (free_port(), free_port());
    let config = format!(
        "{BASE_CONFIG}target: write,read\nserver:\n  grpc_listen_address: 127.0.0.1\n  grpc_listen_port: {grpc}\ncommon:\n  replication_factor: 1\nmemberlist:\n  bind_addr: [127.0.0.1]\n  bind_port: {gossip}\n  join_members: [127.0.0.1:{gossip}]\n  gossip_interval: 100ms\n"
    );
    let server = Server::start(&config).await;
    let mut socket = connect(&server, r#"{job="tail"}"#, now_ns()).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let ts = now_ns();
    // The node's own ingester turns ACTIVE on the ring a moment after it is ready.
    loop {
        let body = skald_push::encode_json(&[stream(&[("job", "tail")], vec![Entry::new(ts, "through the frontend")])]);
        if server.push_json(None, body).await.0 == 204 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}", server.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let frame = next_frame(&mut socket, Duration::from_secs(5)).await;
    assert_eq!(frame_entries(&frame), vec![(json!({"job": "tail"}), ts.to_string(), "through the frontend".to_string())], "{frame}");
}
