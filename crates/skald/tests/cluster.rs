//! A real cluster on loopback, started by `examples/cluster/up.sh`: one distributor,
//! three ingesters (replication factor 3), a querier, a query frontend, a query
//! scheduler and a compactor, on an S3-compatible store (s3s-fs), each its own
//! process of the real binary. The recorded Loki answers must come back through the
//! query frontend exactly as from the single binary, and with an ingester killed.

mod common;

use common::conformance::*;
use common::*;
use skald_common::Entry;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The settings the conformance answers were recorded with, for every node.
const LIMITS: &str = "  reject_old_samples: false
  discover_service_name: []
  discover_log_levels: false
  max_entries_limit_per_query: 100000
  max_query_length: 0
  ingestion_rate_mb: 100
  ingestion_burst_size_mb: 100";

struct Cluster {
    dir: tempfile::TempDir,
    push: String,
    query: String,
}

impl Cluster {
    fn up() -> Cluster {
        let dir = tempfile::Builder::new().prefix("skald-cluster-").tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/cluster/up.sh");
        // A port range unlikely to be in use: the cluster takes 100 ports from here.
        let base = 20_000 + (std::process::id() % 300) * 100;
        let output = Command::new("bash")
            .arg(&script)
            .arg(dir.path())
            .env("SKALD", env!("CARGO_BIN_EXE_skald"))
            .env("PORT_BASE", base.to_string())
            .env("SKALD_LIMITS", LIMITS)
            // The recorded dataset is old: ask the ingesters whatever the range.
            .env("SKALD_QUERY_INGESTERS_WITHIN", "0s")
            .output()
            .expect("running examples/cluster/up.sh");
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        if !output.status.success() {
            let logs = node_logs(dir.path());
            let _ = Command::new("bash").arg(script.with_file_name("down.sh")).arg(dir.path()).status();
            panic!("up.sh failed: {}\n{stdout}\n{logs}", String::from_utf8_lossy(&output.stderr));
        }
        let url = |prefix: &str| {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(prefix))
                .unwrap_or_else(|| panic!("no '{prefix}' line in: {stdout}"))
                .trim()
                .to_string()
        };
        Cluster { push: url("push: "), query: url("query: "), dir }
    }

    fn pid(&self, role: &str) -> i32 {
        let path = self.dir.path().join("pids").join(format!("{role}.pid"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).trim().parse().unwrap()
    }

    fn logs(&self) -> String {
        node_logs(self.dir.path())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/cluster/down.sh");
        let _ = Command::new("bash").arg(script).arg(self.dir.path()).status();
    }
}

fn node_logs(dir: &Path) -> String {
    let mut out = String::new();
    let Ok(entries) = std::fs::read_dir(dir.join("logs")) else { return out };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        out.push_str(&format!("--- {} ---\n", path.display()));
        for line in tail.iter().rev() {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

async fn push(client: &reqwest::Client, url: &str, body: Vec<u8>) -> (u16, String) {
    let response = client
        .post(format!("{url}/loki/api/v1/push"))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .expect("pushing to the distributor");
    (response.status().as_u16(), response.text().await.unwrap_or_default())
}

async fn run_cases(client: &reqwest::Client, cluster: &Cluster) -> Vec<String> {
    let mut failures = Vec::new();
    for case in &cases() {
        let (status, body) = ask_at(client, &cluster.query, case).await;
        if let Some(reason) = mismatch(case, status, &body) {
            failures.push(format!("FAIL {} {}\n     {reason}", case["path"], case["params"]["query"]));
        }
    }
    failures
}

#[tokio::test]
async fn a_cluster_answers_like_loki_and_survives_an_ingester() {
    let cluster = Cluster::up();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).no_proxy().build().unwrap();
    for (i, line) in read("dataset.jsonl").lines().enumerate() {
        let (status, body) = push(&client, &cluster.push, line.as_bytes().to_vec()).await;
        assert_eq!(status, 204, "dataset line {}: {body}\n{}", i + 1, cluster.logs());
    }
    let failures = run_cases(&client, &cluster).await;
    assert!(failures.is_empty(), "{} cases differ through the frontend:\n{}\n{}", failures.len(), failures.join("\n"), cluster.logs());

    // One ingester dies: pushes still reach a quorum, answers stay exact (each entry
    // lives on the two others too).
    // SAFETY: plain FFI call with the pid of a process the cluster script started.
    unsafe {
        libc::kill(cluster.pid("ingester-1"), libc::SIGKILL);
    }
    let now = now_ns();
    let entries: Vec<Entry> = (0..50).map(|i| Entry::new(now - 10 * SECOND + i * 1000, format!("after the crash {i}"))).collect();
    let body = skald_push::encode_json(&[stream(&[("job", "survivor")], entries)]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, message) = push(&client, &cluster.push, body.clone()).await;
        if status == 204 {
            break;
        }
        assert!(Instant::now() < deadline, "push with one ingester down: {status} {message}\n{}", cluster.logs());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let response = client
        .get(format!("{}/loki/api/v1/query", cluster.query))
        .query(&[("query", "sum(count_over_time({job=\"survivor\"}[1m]))".to_string()), ("time", now_ns().to_string())])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{text}\n{}", cluster.logs());
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["data"]["result"][0]["value"][1], "50", "every entry once, with an ingester down: {text}");
    let failures = run_cases(&client, &cluster).await;
    assert!(failures.is_empty(), "{} cases differ with an ingester down:\n{}", failures.len(), failures.join("\n"));
}
