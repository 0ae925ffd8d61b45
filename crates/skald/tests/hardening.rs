//! The HTTP server on an open network: slow and stuck clients are cut off by timeouts,
//! connections are bounded, built-in credentials pin tenants, and TLS works.

mod common;

use common::*;
use skald_common::Entry;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const TIGHT_SERVER: &str = "\
server:
  http_server_read_timeout: 1s
  http_server_write_timeout: 1s
  http_server_idle_timeout: 2s
  http_listen_conn_limit: 3
limits_config:
  discover_service_name: []
  discover_log_levels: false
  max_entries_limit_per_query: 100000
  ingestion_rate_mb: 1000
  ingestion_burst_size_mb: 1000
";

/// `/ready` over a fresh connection (the harness's pooled one may have been closed by
/// the short idle timeout these tests configure).
async fn ready_on_a_new_connection(server: &Server) -> u16 {
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).no_proxy().build().unwrap();
    client.get(server.url("/ready")).send().await.map(|r| r.status().as_u16()).unwrap_or(0)
}

/// Reads until EOF or error; returns the bytes and how long it took.
fn read_to_close(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Duration) {
    stream.set_read_timeout(Some(limit)).unwrap();
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
        }
    }
    (received, started.elapsed())
}

#[tokio::test]
async fn slowloris_headers_are_cut_off_and_others_are_served() {
    let server = Server::start(TIGHT_SERVER).await;
    let mut slow = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    slow.write_all(b"GET /ready HTTP/1.1\r\nHost: x\r\nX-Slow: ").unwrap();
    // Headers never finish: the read timeout (1 s) closes the connection.
    let (_, waited) = read_to_close(&mut slow, Duration::from_secs(10));
    assert!(waited < Duration::from_secs(8), "a half-sent request held the connection for {waited:?}");
    // The server still answers everyone else.
    assert_eq!(ready_on_a_new_connection(&server).await, 200);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let server = Server::start(TIGHT_SERVER).await;
    let mut idle = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    idle.write_all(b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let (received, waited) = read_to_close(&mut idle, Duration::from_secs(15));
    assert!(String::from_utf8_lossy(&received).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&received));
    assert!(waited < Duration::from_secs(10), "an idle connection stayed open {waited:?}");
}

#[tokio::test]
async fn a_client_that_never_reads_its_response_is_dropped() {
    // A long idle timeout, so that only the write timeout can end the connection.
    let server = Server::start(&TIGHT_SERVER.replace("http_server_idle_timeout: 2s", "http_server_idle_timeout: 60s")).await;
    // About 40 MB of lines: far more than loopback socket buffers hold.
    let base = now_ns() - 600 * SECOND;
    let line = "x".repeat(1000);
    for batch in 0..4 {
        let entries = (0..10_000).map(|i| Entry::new(base + (batch * 10_000 + i) * 1000, line.clone())).collect();
        server.push_streams(None, &[stream(&[("job", "big")], entries)]).await;
    }
    let mut stuck = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let query = format!(
        "GET /loki/api/v1/query_range?query=%7Bjob%3D%22big%22%7D&limit=40000&start={}&end={} HTTP/1.1\r\nHost: x\r\n\r\n",
        base - SECOND,
        now_ns()
    );
    stuck.write_all(query.as_bytes()).unwrap();
    // Do not read for a while: the server's writes stall, and it gives up after 1 s.
    std::thread::sleep(Duration::from_secs(5));
    let (received, _) = read_to_close(&mut stuck, Duration::from_secs(10));
    assert!(received.len() < 40_000_000, "the whole response ({} bytes) was delivered: the stuck client was not dropped", received.len());
    assert_eq!(ready_on_a_new_connection(&server).await, 200);
}

#[tokio::test]
async fn connections_beyond_the_limit_are_refused_until_one_closes() {
    let server = Server::start(TIGHT_SERVER).await;
    // The harness's client may hold a pooled connection; use fresh sockets only.
    let open: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(("127.0.0.1", server.port)).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    extra.write_all(b"GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap_or(());
    let (received, _) = read_to_close(&mut extra, Duration::from_secs(5));
    assert!(received.is_empty(), "a connection over the limit was served: {}", String::from_utf8_lossy(&received));
    drop(open);
    // The idle ones are gone (closed by us): a new connection is served again.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        again.write_all(b"GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap_or(());
        let (received, _) = read_to_close(&mut again, Duration::from_secs(5));
        if String::from_utf8_lossy(&received).starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "no connection was served after the others closed");
        std::thread::sleep(Duration::from_millis(100));
    }
}

const AUTH_CONFIG: &str = "\
auth_enabled: true
auth:
  basic:
    - username: grafana
      password: s3cret
      tenants: [team-a, team-b]
  bearer:
    - token: tok-c
      tenants: [team-c]
limits_config:
  discover_service_name: []
  discover_log_levels: false
";

async fn send(server: &Server, request: reqwest::RequestBuilder) -> (u16, String) {
    let response = request.send().await.unwrap_or_else(|e| panic!("request failed: {e}\n{}", server.logs()));
    (response.status().as_u16(), response.text().await.unwrap_or_default())
}

#[tokio::test]
async fn credentials_pin_requests_to_their_tenants() {
    let server = Server::start(AUTH_CONFIG).await;
    let body = skald_push::encode_json(&[stream(&[("job", "auth")], vec![Entry::new(now_ns(), "from a")])]);
    let push = |tenant: Option<&str>| {
        let mut request = server
            .client
            .post(server.url("/loki/api/v1/push"))
            .header("Content-Type", "application/json")
            .body(body.clone())
            .basic_auth("grafana", Some("s3cret"));
        if let Some(tenant) = tenant {
            request = request.header("X-Scope-OrgID", tenant);
        }
        request
    };
    // No credentials, or wrong ones: 401 with a challenge; /ready stays open.
    let (status, _) = send(&server, server.client.post(server.url("/loki/api/v1/push")).body(body.clone())).await;
    assert_eq!(status, 401);
    let response = server.client.get(server.url("/loki/api/v1/labels")).basic_auth("grafana", Some("nope")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert!(response.headers().get("www-authenticate").is_some());
    let (status, _) = server.get("/ready", &[], None).await;
    assert_eq!(status, 200);
    // A tenant the credential does not name: 403, even with a valid password.
    let (status, message) = send(&server, push(Some("team-c"))).await;
    assert_eq!(status, 403, "{message}");
    assert!(message.contains("team-c"), "{message}");
    // The default tenant is the credential's first.
    let (status, message) = send(&server, push(None)).await;
    assert_eq!(status, 204, "{message}");
    let query = |tenant: &str| {
        server
            .client
            .get(server.url("/loki/api/v1/query_range"))
            .query(&[("query", "{job=\"auth\"}"), ("limit", "10")])
            .basic_auth("grafana", Some("s3cret"))
            .header("X-Scope-OrgID", tenant)
    };
    let (status, text) = send(&server, query("team-a")).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("from a"), "team-a should see its line: {text}");
    let (status, text) = send(&server, query("team-b")).await;
    assert_eq!(status, 200, "{text}");
    assert!(!text.contains("from a"), "team-b must not see team-a's line: {text}");
    // A bearer token reaches only its own tenant, whatever header it sends.
    let bearer = server
        .client
        .get(server.url("/loki/api/v1/query_range"))
        .query(&[("query", "{job=\"auth\"}")])
        .bearer_auth("tok-c")
        .header("X-Scope-OrgID", "team-a");
    let (status, _) = send(&server, bearer).await;
    assert_eq!(status, 403);
    let bearer = server.client.get(server.url("/loki/api/v1/query_range")).query(&[("query", "{job=\"auth\"}")]).bearer_auth("tok-c");
    let (status, text) = send(&server, bearer).await;
    assert_eq!(status, 200, "{text}");
    assert!(!text.contains("from a"), "{text}");
}

#[test]
fn credentials_without_auth_enabled_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "auth:\n  bearer:\n    - token: x\n      tenants: [a]\n").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_skald"))
        .args(["server", "--http-addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("auth_enabled"), "{stderr}");
}

#[tokio::test]
async fn tls_serves_https_with_the_configured_certificate() {
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls;

    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(dir.path().join("cert.pem"), certified.cert.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), certified.signing_key.serialize_pem()).unwrap();
    let config =
        format!("server:\n  http_tls_config:\n    cert_file: {0}/cert.pem\n    key_file: {0}/key.pem\n{BASE_CONFIG}", dir.path().display());
    std::fs::write(dir.path().join("config.yaml"), config).unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_skald"))
        .args(["server", "--http-addr", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(dir.path().join("config.yaml"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();

    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config));
    let deadline = Instant::now() + READY_TIMEOUT;
    let answer = loop {
        let attempt = async {
            let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let mut tls = connector.connect(name, tcp).await?;
            tls.write_all(b"GET /ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await?;
            let mut answer = Vec::new();
            tls.read_to_end(&mut answer).await?;
            std::io::Result::Ok(String::from_utf8_lossy(&answer).to_string())
        };
        match attempt.await {
            Ok(answer) if answer.starts_with("HTTP/1.1 200") => break answer,
            _ if Instant::now() > deadline => {
                let _ = child.kill();
                panic!("no TLS answer: {}", std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default());
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    assert!(answer.contains("ready"), "{answer}");
    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut plain = TcpStream::connect(("127.0.0.1", port)).unwrap();
    plain.write_all(b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let (received, _) = read_to_close(&mut plain, Duration::from_secs(5));
    assert!(!String::from_utf8_lossy(&received).contains("200 OK"));
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn a_query_that_would_read_too_many_bytes_fails_fast_with_lokis_message() {
    // 50KB is 51,200 bytes (dskit sizes are base 2), printed "51 kB" as Loki does.
    let config = format!("{BASE_CONFIG}  max_query_bytes_read: 50KB\n");
    let server = Server::start(&config).await;
    let base = now_ns() - 60 * SECOND;
    let line = "y".repeat(100);
    let entries = (0..1000).map(|i| Entry::new(base + i * 1000, line.clone())).collect();
    server.push_streams(None, &[stream(&[("job", "wide")], entries)]).await;
    server.push_streams(None, &[stream(&[("job", "narrow")], vec![Entry::new(base, "small")])]).await;
    let range = |query: &str| {
        vec![
            ("query", query.to_string()),
            ("start", (base - SECOND).to_string()),
            ("end", now_ns().to_string()),
            ("limit", "10".to_string()),
        ]
    };
    let (status, message) = server.get("/loki/api/v1/query_range", &range("{job=\"wide\"}"), None).await;
    assert_eq!(status, 400, "{message}");
    assert!(message.starts_with("the query would read too many bytes (query: 100 kB, limit: 51 kB)"), "{message}");
    let (status, message) = server.get("/loki/api/v1/query_range", &range("sum(count_over_time({job=\"wide\"}[1m]))"), None).await;
    assert_eq!(status, 400, "{message}");
    let (status, message) = server.get("/loki/api/v1/query_range", &range("{job=\"narrow\"}"), None).await;
    assert_eq!(status, 200, "{message}");
}
