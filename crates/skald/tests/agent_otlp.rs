//! The agent's `otlp` receiver against a real `skald server`: the real OpenTelemetry
//! SDKs send to the agent (OTLP/HTTP and OTLP/gRPC), the agent maps the records as Loki
//! does, runs the pipeline stages and forwards; a server outage loses nothing the agent
//! acknowledged.

mod common;

use common::agent::*;
use common::*;
use serde_json::json;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const SERVER_CONFIG: &str = "limits_config:\n  discover_log_levels: false\n  max_entries_limit_per_query: 100000\n";

fn agent_config(server: &Server, dir: &std::path::Path, http: u16, grpc: u16) -> String {
    format!(
        "{}scrape_configs:
- job_name: otlp
  otlp:
    server: {{http_listen_address: 127.0.0.1, http_listen_port: {http}, grpc_listen_address: 127.0.0.1, grpc_listen_port: {grpc}}}
    labels: {{via: agent}}
    otlp_config:
      log_attributes:
        - action: drop
          attributes: [stock]
  pipeline_stages:
    - static_labels: {{piped: 'yes'}}
",
        base_yaml(server, dir)
    )
}

/// Polls until the agent's HTTP receiver answers.
async fn wait_listening(agent: &Agent, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let http = reqwest::Client::new();
    while http.post(url).header("Content-Type", "application/json").body("{}").send().await.is_err() {
        assert!(Instant::now() < deadline, "otlp receiver not up:\n{}", agent.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn run(program: &str, args: &[&str]) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/otlp-clients");
    let output = Command::new(program).args(args).current_dir(dir).output().unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?}:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdks_send_through_the_agent() {
    let server = Server::start(SERVER_CONFIG).await;
    let dir = tempfile::tempdir().unwrap();
    let (http, grpc) = (free_port(), free_port());
    let agent = Agent::start(dir.path(), &agent_config(&server, dir.path(), http, grpc));
    let url = format!("http://127.0.0.1:{http}/v1/logs");
    wait_listening(&agent, &url).await;
    run("python3", &["send.py", "http", &url, "py-http"]);
    run("python3", &["send.py", "grpc", &format!("127.0.0.1:{grpc}"), "py-grpc"]);
    run("node", &["send.mjs", "proto", &format!("http://127.0.0.1:{http}/otlp/v1/logs"), "js-proto"]);
    wait_for(&server, &agent, r#"{via="agent"}"#, |s| all_lines(s).len() >= 11).await;
    let got = server.categorized(r#"{via="agent"}"#, None).await;
    assert_eq!(got.len(), 11);
    for (labels, line, metadata) in &got {
        // Loki's mapping (default index labels), then the target's labels and the stages'.
        let service = labels["service_name"].as_str();
        let mut names: Vec<&str> = labels.keys().map(String::as_str).collect();
        names.retain(|n| !["via", "piped", "service_name"].contains(n));
        match service {
            "py-http" | "py-grpc" => assert_eq!(names, ["deployment_environment", "k8s_namespace_name", "service_instance_id"]),
            "js-proto" => assert_eq!(names, ["k8s_pod_name"]),
            other => panic!("unexpected service {other}"),
        }
        assert_eq!((labels["via"].as_str(), labels["piped"].as_str()), ("agent", "yes"), "{labels:?}");
        // Structured metadata made it through, minus the attribute the target drops.
        assert!(metadata.contains_key("scope_name"), "{metadata:?}");
        if line == "stock low" {
            assert_eq!(metadata.get("item_sku").map(String::as_str), Some("A-17"), "{metadata:?}");
            assert!(!metadata.contains_key("stock"), "{metadata:?}");
            assert_eq!(metadata["severity_text"], "WARN");
        }
    }
    let services: std::collections::BTreeSet<&str> = got.iter().map(|(labels, _, _)| labels["service_name"].as_str()).collect();
    assert_eq!(services.into_iter().collect::<Vec<_>>(), ["js-proto", "py-grpc", "py-http"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_outage_loses_nothing_the_agent_acknowledged() {
    let mut server = Server::start(SERVER_CONFIG).await;
    let dir = tempfile::tempdir().unwrap();
    let (http, grpc) = (free_port(), free_port());
    let agent = Agent::start(dir.path(), &agent_config(&server, dir.path(), http, grpc));
    let url = format!("http://127.0.0.1:{http}/v1/logs");
    wait_listening(&agent, &url).await;
    let client = reqwest::Client::new();
    let send = |from: usize, to: usize| {
        let records: Vec<_> = (from..to)
            .map(|i| json!({"timeUnixNano": (now_ns() + i as i64).to_string(), "body": {"stringValue": format!("record {i:05}")}}))
            .collect();
        let body = json!({"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "outage"}}]}, "scopeLogs": [{"logRecords": records}]}]});
        client.post(&url).header("Content-Type", "application/json").body(body.to_string()).send()
    };
    for batch in 0..5 {
        let response = send(batch * 20, batch * 20 + 20).await.unwrap();
        assert_eq!(response.status(), 200);
    }
    let query = r#"{service_name="outage"}"#;
    wait_for(&server, &agent, query, |s| all_lines(s).len() >= 100).await;
    server.kill9();
    // Acknowledged while the server is down: the agent holds them and retries.
    for batch in 5..30 {
        let response = send(batch * 20, batch * 20 + 20).await.unwrap();
        assert_eq!(response.status(), 200);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.restart_same_port().await;
    let streams = wait_for(&server, &agent, query, |s| all_lines(s).len() >= 600).await;
    let counts = line_counts(&streams);
    assert_eq!(counts.len(), 600, "every acknowledged record arrived");
    assert!(counts.values().all(|&n| n == 1), "no duplicates");
    assert!(agent.logs().contains("retrying"), "the agent should have retried:\n{}", agent.logs());
}
