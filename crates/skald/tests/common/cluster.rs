//! A real cluster on loopback, started by `examples/cluster/up.sh` (one distributor,
//! three ingesters at replication factor 3, two queriers, a query frontend, a query
//! scheduler and a compactor on s3s-fs), for the cluster test files.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The settings the conformance answers were recorded with, for every node.
pub const LIMITS: &str = "  reject_old_samples: false
  discover_service_name: []
  discover_log_levels: false
  max_entries_limit_per_query: 100000
  max_query_length: 0
  ingestion_rate_mb: 100
  ingestion_burst_size_mb: 100
  tsdb_max_bytes_per_shard: 1KB
  tsdb_max_query_parallelism: 4";

/// One cluster at a time: each is ten processes, and the CI machine has two cores.
pub static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub struct Cluster {
    /// Held while the cluster runs (dropped last: after down.sh).
    _turn: std::sync::MutexGuard<'static, ()>,
    pub dir: tempfile::TempDir,
    /// Nodes this test restarted itself (reaped after down.sh stops them).
    restarted: std::sync::Mutex<Vec<std::process::Child>>,
    pub base: u32,
    pub push: String,
    pub query: String,
}

impl Cluster {
    /// Starts a cluster; `slot` (0 to 5) keeps the port ranges of concurrent tests apart.
    pub fn up(slot: u32) -> Cluster {
        Cluster::up_with(slot, &[])
    }

    /// [`Cluster::up`] with extra environment for up.sh (`SKALD_ZONES`).
    pub fn up_with(slot: u32, env: &[(&str, &str)]) -> Cluster {
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let dir = tempfile::Builder::new().prefix("skald-cluster-").tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/cluster/up.sh");
        // A port range unlikely to be in use: the cluster takes 100 ports from here, all
        // below Linux's ephemeral range (32768-60999), where any outgoing connection
        // of the machine could take one of them first (it did: a compactor failed to bind).
        let base = 20_000 + ((std::process::id() % 20) * 6 + slot) * 100;
        let output = Command::new("bash")
            .arg(&script)
            .arg(dir.path())
            .env("SKALD", env!("CARGO_BIN_EXE_skald"))
            .env("PORT_BASE", base.to_string())
            .env("SKALD_LIMITS", LIMITS)
            // The recorded dataset is old: ask the ingesters whatever the range.
            .env("SKALD_QUERY_INGESTERS_WITHIN", "0s")
            .envs(env.iter().copied())
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
        Cluster { _turn: turn, push: url("push: "), query: url("query: "), dir, base, restarted: std::sync::Mutex::new(Vec::new()) }
    }

    /// The querier's own HTTP API (node 6 of up.sh), which answers without splitting.
    pub fn querier_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.base + 60)
    }

    /// `kill -9` a node.
    pub fn kill(&self, role: &str) {
        // SAFETY: plain FFI call with the pid of a process the cluster script started.
        unsafe {
            libc::kill(self.pid(role), libc::SIGKILL);
        }
    }

    /// Starts a node again with its config (as up.sh did), and records its pid.
    pub fn restart(&self, role: &str) {
        let log =
            std::fs::OpenOptions::new().append(true).create(true).open(self.dir.path().join("logs").join(format!("{role}.log"))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_skald"))
            .arg("server")
            .arg("--config")
            .arg(self.dir.path().join("config").join(format!("{role}.yaml")))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        std::fs::write(self.dir.path().join("pids").join(format!("{role}.pid")), child.id().to_string()).unwrap();
        self.restarted.lock().unwrap().push(child);
    }

    pub fn pid(&self, role: &str) -> i32 {
        let path = self.dir.path().join("pids").join(format!("{role}.pid"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).trim().parse().unwrap()
    }

    pub fn logs(&self) -> String {
        node_logs(self.dir.path())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/cluster/down.sh");
        let _ = Command::new("bash").arg(script).arg(self.dir.path()).status();
        for mut child in self.restarted.lock().unwrap().drain(..) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn node_logs(dir: &Path) -> String {
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

pub async fn push(client: &reqwest::Client, url: &str, body: Vec<u8>) -> (u16, String) {
    let response = client
        .post(format!("{url}/loki/api/v1/push"))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .expect("pushing to the distributor");
    (response.status().as_u16(), response.text().await.unwrap_or_default())
}
