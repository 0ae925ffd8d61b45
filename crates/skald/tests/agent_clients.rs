//! The agent's client settings against real servers: TLS with a private CA, a client
//! certificate and `server_name`; extra `headers`; `proxy_url`; `drop_rate_limited_batches`;
//! the global `readline_rate` limit; `server.http_path_prefix` and `log_format: json`.

mod common;

use common::agent::*;
use common::*;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const SERVER_LIMITS: &str =
    "limits_config:\n  discover_service_name: []\n  discover_log_levels: false\n  max_entries_limit_per_query: 100000\n";

/// A CA, and a certificate it signed for `name` only, as `NAME-ca.pem`, `NAME.pem`,
/// `NAME.key` in `dir`.
fn issue(dir: &Path, name: &str, subject: &str) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec![subject.to_string()]).unwrap().signed_by(&key, &ca).unwrap();
    std::fs::write(dir.join(format!("{name}-ca.pem")), ca.pem()).unwrap();
    std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
    std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
}

/// Polls until `probe` returns `Some`, or panics naming `what`.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(what: &str, logs: impl Fn() -> String, probe: impl Fn() -> F) -> T {
    let deadline = Instant::now() + ARRIVAL_TIMEOUT;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}\n{}", logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn get_text(client: &reqwest::Client, url: &str) -> Option<String> {
    let response = client.get(url).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.text().await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_private_ca_a_client_certificate_and_headers() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path();
    // The server's certificate names only `skald.test`: the agent connects to 127.0.0.1
    // and must verify it by `server_name`. Client certificates come from another CA.
    issue(certs, "server", "skald.test");
    issue(certs, "agent", "agent");
    let port = free_port();
    let server_config = format!(
        "auth_enabled: true\nserver:\n  http_tls_config:\n    cert_file: {c}/server.pem\n    key_file: {c}/server.key\n    client_auth_type: RequireAndVerifyClientCert\n    client_ca_file: {c}/agent-ca.pem\n{SERVER_LIMITS}",
        c = certs.display()
    );
    std::fs::write(certs.join("server.yaml"), server_config).unwrap();
    let server_log = std::fs::File::create(certs.join("server.log")).unwrap();
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_skald"))
        .args(["server", "--http-addr", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(certs.join("data"))
        .arg("--config")
        .arg(certs.join("server.yaml"))
        .stdout(server_log.try_clone().unwrap())
        .stderr(server_log)
        .spawn()
        .unwrap();

    // The test's own client: trusts the server CA, shows the agent certificate, and
    // resolves skald.test to the loopback address.
    let ca = reqwest::Certificate::from_pem(&std::fs::read(certs.join("server-ca.pem")).unwrap()).unwrap();
    let mut identity_pem = std::fs::read(certs.join("agent.pem")).unwrap();
    identity_pem.extend(std::fs::read(certs.join("agent.key")).unwrap());
    let identity = reqwest::Identity::from_pem(&identity_pem).unwrap();
    let https = reqwest::Client::builder()
        .add_root_certificate(ca)
        .identity(identity)
        .resolve("skald.test", ([127, 0, 0, 1], port).into())
        .no_proxy()
        .build()
        .unwrap();
    let base = format!("https://skald.test:{port}");
    let server_logs = || std::fs::read_to_string(certs.join("server.log")).unwrap_or_default();
    let ready_url = format!("{base}/ready");
    eventually("the TLS server to be ready", server_logs, || get_text(&https, &ready_url)).await;

    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    append(&logs.join("a.log"), "over tls 1\nover tls 2\n");
    let client = |extra: &str| {
        format!(
            "clients:\n  - url: https://127.0.0.1:{port}/loki/api/v1/push\n    batchwait: 100ms\n    headers: {{X-Scope-OrgID: team-a}}\n    backoff_config: {{min_period: 100ms, max_period: 500ms, max_retries: 0}}\n    tls_config:\n      ca_file: {c}/server-ca.pem\n      server_name: skald.test\n{extra}",
            c = certs.display()
        )
    };
    let job = |name: &str, file: &str| {
        format!(
            "scrape_configs:\n- job_name: {name}\n  static_configs:\n  - labels: {{job: {name}, __path__: {}/{file}}}\n",
            logs.display()
        )
    };
    let with_cert = format!("      cert_file: {c}/agent.pem\n      key_file: {c}/agent.key\n", c = certs.display());
    let agent_dir = dir.path().join("agent");
    std::fs::create_dir_all(&agent_dir).unwrap();
    let agent_config = format!(
        "server: {{disable: true}}\npositions: {{filename: {}/positions.yaml, sync_period: 200ms}}\n{}{}",
        agent_dir.display(),
        client(&with_cert),
        job("tls", "a.log")
    );
    let agent = Agent::start(&agent_dir, &agent_config);

    // A second agent without a client certificate is refused at the handshake.
    append(&logs.join("b.log"), "no certificate\n");
    let refused_dir = dir.path().join("refused");
    std::fs::create_dir_all(&refused_dir).unwrap();
    let refused_config = format!(
        "server: {{disable: true}}\npositions: {{filename: {}/positions.yaml, sync_period: 200ms}}\n{}{}",
        refused_dir.display(),
        client(""),
        job("refused", "b.log")
    );
    let refused = Agent::start(&refused_dir, &refused_config);

    let query = |tenant: &'static str| {
        let https = https.clone();
        let url = format!("{base}/loki/api/v1/query_range?query=%7Bjob%3D~%22.%2B%22%7D&limit=100&since=1h");
        async move {
            let response = https.get(url).header("X-Scope-OrgID", tenant).send().await.ok()?;
            let body: serde_json::Value = response.json().await.ok()?;
            let lines: Vec<String> = body["data"]["result"]
                .as_array()?
                .iter()
                .flat_map(|s| s["values"].as_array().cloned().unwrap_or_default())
                .map(|v| v[1].as_str().unwrap_or_default().to_string())
                .collect();
            Some(lines)
        }
    };
    let mut lines =
        eventually("the lines sent over TLS", || agent.logs(), || async { query("team-a").await.filter(|lines| lines.len() >= 2) }).await;
    lines.sort();
    assert_eq!(lines, vec!["over tls 1", "over tls 2"], "the header's tenant holds exactly the TLS agent's lines");
    assert_eq!(query("fake").await, Some(Vec::new()), "nothing under another tenant");
    eventually(
        "the refused handshake in the second agent's log",
        || refused.logs(),
        || async { refused.logs().contains("push failed; retrying").then_some(()) },
    )
    .await;
    server.kill().unwrap();
    let _ = server.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_url_prefix_json_logs_and_the_readline_limit() {
    let server = Server::start(SERVER_LIMITS).await;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let text: String = (0..100).map(|i| format!("limited {i}\n")).collect();
    append(&logs.join("app.log"), &text);
    let admin_port = free_port();
    // The push URL names a host that cannot resolve: lines arrive only through the proxy
    // (the server itself, which serves absolute-form requests as a forward proxy would pass them).
    let config = format!(
        "server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: {admin_port}\n  http_path_prefix: /promtail/\n  log_format: json\n\
         positions: {{filename: {d}/positions.yaml, sync_period: 200ms}}\n\
         clients:\n  - url: http://skald.invalid:3100/loki/api/v1/push\n    proxy_url: {proxy}\n    batchwait: 100ms\n    backoff_config: {{min_period: 100ms, max_period: 500ms, max_retries: 0}}\n\
         limits_config:\n  readline_rate_enabled: true\n  readline_rate: 2\n  readline_burst: 10\n\
         tracing: {{enabled: false}}\n\
         scrape_configs:\n- job_name: limited\n  static_configs:\n  - labels: {{job: limited, __path__: {l}/app.log}}\n",
        d = dir.path().display(),
        proxy = server.base_url(),
        l = logs.display(),
    );
    let agent = Agent::start(dir.path(), &config);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let metrics_url = format!("http://127.0.0.1:{admin_port}/promtail/metrics");
    // Every line read is either sent or dropped by the limiter.
    let dropped = eventually(
        "all 100 lines to be read and sent or dropped",
        || agent.logs(),
        || async {
            let metrics = get_text(&http, &metrics_url).await?;
            let value = |prefix: &str| -> u64 {
                metrics.lines().filter(|l| l.starts_with(prefix)).filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok()).sum()
            };
            let dropped = value("logentry_dropped_lines_total{reason=\"global_rate_limiter_drop\"}");
            let sent = value("promtail_sent_entries_total{");
            (sent + dropped == 100).then_some(dropped)
        },
    )
    .await;
    assert!((80..=90).contains(&dropped), "a burst of 10 (plus a few refills) passes, the rest is dropped: {dropped}");
    let streams = wait_for(&server, &agent, "{job=\"limited\"}", |s| all_lines(s).len() as u64 == 100 - dropped).await;
    assert!(all_lines(&streams).contains(&"limited 0".to_string()), "the burst passes first");

    let unprefixed = http.get(format!("http://127.0.0.1:{admin_port}/metrics")).send().await.unwrap();
    assert_eq!(unprefixed.status().as_u16(), 404, "paths move under http_path_prefix");
    let ready = http.get(format!("http://127.0.0.1:{admin_port}/promtail/ready")).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    let log_text = agent.logs();
    let first = log_text.lines().find(|l| !l.trim().is_empty()).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(first).unwrap_or_else(|e| panic!("log_format json: {e}: {first}"));
    assert!(parsed["fields"]["message"].is_string() || parsed["message"].is_string(), "{parsed}");
}

/// A server that answers every push with 429, counting requests.
async fn always_429() -> (u16, Arc<AtomicUsize>) {
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    let router = axum::Router::new().route(
        "/loki/api/v1/push",
        axum::routing::post(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                (axum::http::StatusCode::TOO_MANY_REQUESTS, "Ingestion rate limit exceeded")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (port, requests)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_batches_are_dropped_only_when_asked() {
    for drop in [true, false] {
        let (port, requests) = always_429().await;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        append(&log, "one\ntwo\n");
        let admin_port = free_port();
        let config = format!(
            "server: {{http_listen_address: 127.0.0.1, http_listen_port: {admin_port}}}\n\
             positions: {{filename: {d}/positions.yaml, sync_period: 200ms}}\n\
             clients:\n  - url: http://127.0.0.1:{port}/loki/api/v1/push\n    tenant_id: t1\n    drop_rate_limited_batches: {drop}\n    batchwait: 100ms\n    backoff_config: {{min_period: 100ms, max_period: 100ms, max_retries: 0}}\n\
             scrape_configs:\n- job_name: j\n  static_configs:\n  - labels: {{job: j, __path__: {l}}}\n",
            d = dir.path().display(),
            l = log.display(),
        );
        let agent = Agent::start(dir.path(), &config);
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let url = format!("http://127.0.0.1:{admin_port}/metrics");
        let metrics = eventually(
            "a 429 answer",
            || agent.logs(),
            || async {
                let metrics = get_text(&http, &url).await?;
                metrics.contains("promtail_request_duration_seconds_count{status_code=\"429\"").then_some(metrics)
            },
        )
        .await;
        if drop {
            let dropped = eventually(
                "the rate-limited batch to be dropped",
                || agent.logs(),
                || async {
                    let metrics = get_text(&http, &url).await?;
                    metrics.contains("promtail_dropped_entries_total{host=").then_some(metrics)
                },
            )
            .await;
            let line = dropped.lines().find(|l| l.starts_with("promtail_dropped_entries_total{")).unwrap();
            assert!(line.contains("tenant=\"t1\"") && line.contains("reason=\"rate_limited\"") && line.ends_with(" 2"), "{dropped}");
            // No retries: with nothing more to read, no more requests come.
            tokio::time::sleep(Duration::from_millis(800)).await;
            assert_eq!(requests.load(Ordering::SeqCst), 1, "{}", agent.logs());
        } else {
            eventually(
                "retries of the rate-limited batch",
                || agent.logs(),
                || async { (requests.load(Ordering::SeqCst) >= 3).then_some(()) },
            )
            .await;
            assert!(!metrics.contains("promtail_dropped_entries_total{"), "{metrics}");
        }
    }
}
