//! Shared harness of the integration tests: runs the real `skald` binary as a child
//! process on a free loopback port with a fresh data directory, and talks HTTP to it.
//!
//! Every test file includes this module; not every file uses every helper.
#![allow(dead_code)]

pub mod agent;
pub mod cluster;
pub mod conformance;
pub mod emulators;
pub mod receivers;

use serde_json::Value;
use skald_common::{Entry, Label, LabelSet, PushStream};
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Configuration most tests use: Loki's defaults, minus the two push-time additions
/// (`service_name` label, `detected_level` metadata) so that what is read back can be
/// compared exactly with what was pushed.
pub const BASE_CONFIG: &str = "\
limits_config:
  discover_service_name: []
  discover_log_levels: false
";

/// How long a start (or restart) may take to report ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);

pub const SECOND: i64 = 1_000_000_000;

pub fn now_ns() -> i64 {
    skald_common::unix_nanos_now()
}

/// A free loopback port (the OS picks it; the listener is closed before returning).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("binding an ephemeral port").local_addr().unwrap().port()
}

/// A running `skald server` child process and its private directory
/// (`ROOT/data` is the data dir, `ROOT/config.yaml` the config, `ROOT/server-N.log`
/// the output of the N-th start). The process is killed when this is dropped.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
    root: tempfile::TempDir,
    pub client: reqwest::Client,
    starts: usize,
    /// Started as Loki is (see [`Server::start_loki`]): the flags and environment.
    loki: Option<LokiLaunch>,
}

/// How [`Server::start_loki`] runs the binary.
#[derive(Clone, Default)]
pub struct LokiLaunch {
    /// Flags after `-config.file=...` (the HTTP port flag is added).
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl Server {
    /// Starts the binary with this YAML configuration and waits until `/ready` is 200.
    pub async fn start(config_yaml: &str) -> Server {
        let root = tempfile::Builder::new().prefix("skald-it-").tempdir().expect("creating a temp dir");
        std::fs::write(root.path().join("config.yaml"), config_yaml).unwrap();
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).no_proxy().build().unwrap();
        let mut server = Server { child: None, port: 0, root, client, starts: 0, loki: None };
        server.spawn_and_wait_ready().await;
        server
    }

    /// Starts the binary as a Loki container runs Loki: `skald -config.file=ROOT/config.yaml
    /// -server.http-listen-port=PORT ARGS...`, nothing else (the config's own paths are
    /// used). `config_yaml` may name `ROOT`, replaced by the server's private directory.
    pub async fn start_loki(config_yaml: &str, launch: LokiLaunch) -> Server {
        let root = tempfile::Builder::new().prefix("skald-it-").tempdir().expect("creating a temp dir");
        let at = root.path().display().to_string();
        std::fs::write(root.path().join("config.yaml"), config_yaml.replace("ROOT", &at)).unwrap();
        let launch = LokiLaunch {
            args: launch.args.iter().map(|a| a.replace("ROOT", &at)).collect(),
            env: launch.env.iter().map(|(k, v)| (k.clone(), v.replace("ROOT", &at))).collect(),
        };
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).no_proxy().build().unwrap();
        let mut server = Server { child: None, port: 0, root, client, starts: 0, loki: Some(launch) };
        server.spawn_and_wait_ready().await;
        server
    }

    /// The server's private directory.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Starts with [`BASE_CONFIG`].
    pub async fn start_default() -> Server {
        Server::start(BASE_CONFIG).await
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    pub fn wal_dir(&self) -> PathBuf {
        self.data_dir().join("wal")
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url(), path)
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("server is not running").id() as i32
    }

    fn log_path(&self, start: usize) -> PathBuf {
        self.root.path().join(format!("server-{start}.log"))
    }

    /// Everything the current (last) process wrote to stdout and stderr.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.log_path(self.starts)).unwrap_or_default()
    }

    /// Spawns the binary (on a fresh port) and waits for `/ready`. Retries on another
    /// port if the chosen one was taken between picking and binding.
    async fn spawn_and_wait_ready(&mut self) {
        assert!(self.child.is_none(), "server already running");
        for attempt in 0..3 {
            self.port = free_port();
            self.spawn_child();
            match self.wait_ready(READY_TIMEOUT).await {
                Ok(()) => return,
                Err(exited) => {
                    let logs = self.logs();
                    if exited && logs.contains("Address already in use") && attempt < 2 {
                        self.child = None;
                        continue;
                    }
                    self.kill9();
                    panic!("skald did not become ready on port {}:\n{logs}", self.port);
                }
            }
        }
    }

    /// Starts the binary on `self.port` (a new log file per start), without waiting.
    fn spawn_child(&mut self) {
        self.starts += 1;
        let log = std::fs::File::create(self.log_path(self.starts)).unwrap();
        let config = self.root.path().join("config.yaml");
        let mut command = Command::new(env!("CARGO_BIN_EXE_skald"));
        match &self.loki {
            Some(launch) => {
                command
                    .arg(format!("-config.file={}", config.display()))
                    .arg(format!("-server.http-listen-port={}", self.port))
                    .args(&launch.args)
                    .envs(launch.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            }
            None => {
                command.arg("server").arg("--http-addr").arg(format!("127.0.0.1:{}", self.port)).arg("--data-dir").arg(self.data_dir());
                command.arg("--config").arg(config);
            }
        }
        let child = command
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawning the skald binary");
        self.child = Some(child);
    }

    /// Polls `GET /ready` until it answers 200. `Err(true)` if the process exited,
    /// `Err(false)` on timeout.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<(), bool> {
        let deadline = Instant::now() + timeout;
        let url = self.url("/ready");
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(_status)) = child.try_wait()
            {
                return Err(true);
            }
            if let Ok(response) = self.client.get(&url).timeout(Duration::from_secs(2)).send().await
                && response.status().as_u16() == 200
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(false);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `kill -9` the server and reap it. No-op when not running.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: plain FFI call with the id of a child we spawned and have not reaped.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGKILL);
            }
            let _ = child.wait();
        }
    }

    /// SIGTERM (graceful shutdown: the server flushes) and wait for the exit, with
    /// `kill -9` after `timeout`. Returns whether it exited by itself with success.
    pub fn terminate(&mut self, timeout: Duration) -> bool {
        let Some(mut child) = self.child.take() else { return false };
        // SAFETY: as in `kill9`.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            if Instant::now() > deadline {
                unsafe {
                    libc::kill(child.id() as libc::pid_t, libc::SIGKILL);
                }
                let _ = child.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the binary again on the same data directory (killing it first if it is
    /// still running) and waits until it is ready. The port may change.
    pub async fn restart(&mut self) {
        self.kill9();
        self.spawn_and_wait_ready().await;
    }

    // ---- HTTP helpers ---------------------------------------------------------------

    /// POSTs a body with the given headers; returns status and body text.
    pub async fn post(&self, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, String) {
        let mut request = self.client.post(self.url(path)).body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("POST {path} failed: {e}\n{}", self.logs()));
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    /// POSTs a v1 JSON push body (as the tenant, if any).
    pub async fn push_json(&self, tenant: Option<&str>, body: Vec<u8>) -> (u16, String) {
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(tenant) = tenant {
            headers.push(("X-Scope-OrgID", tenant));
        }
        self.post("/loki/api/v1/push", &headers, body).await
    }

    /// Pushes streams as v1 JSON and asserts 204.
    pub async fn push_streams(&self, tenant: Option<&str>, streams: &[PushStream]) {
        let (status, body) = self.push_json(tenant, skald_push::encode_json(streams)).await;
        assert_eq!(status, 204, "push failed: {body}");
    }

    /// GET with query parameters (as the tenant, if any); status and body text.
    pub async fn get(&self, path: &str, params: &[(&str, String)], tenant: Option<&str>) -> (u16, String) {
        let mut request = self.client.get(self.url(path)).query(params);
        if let Some(tenant) = tenant {
            request = request.header("X-Scope-OrgID", tenant);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("GET {path} failed: {e}\n{}", self.logs()));
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    /// GET that must answer 200 with JSON.
    pub async fn get_json(&self, path: &str, params: &[(&str, String)], tenant: Option<&str>) -> Value {
        let (status, body) = self.get(path, params, tenant).await;
        assert_eq!(status, 200, "GET {path} {params:?}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
    }

    /// The entries of the last hour a selector finds (up to 5000): stream labels, line and
    /// structured metadata, asked with `categorize-labels` so labels and metadata come
    /// apart. Sorted by labels, then line.
    pub async fn categorized(
        &self,
        query: &str,
        tenant: Option<&str>,
    ) -> Vec<(BTreeMap<String, String>, String, BTreeMap<String, String>)> {
        let now = now_ns();
        let mut request =
            self.client.get(self.url("/loki/api/v1/query_range")).header("X-Loki-Response-Encoding-Flags", "categorize-labels");
        if let Some(tenant) = tenant {
            request = request.header("X-Scope-OrgID", tenant);
        }
        let params = [
            ("query", query.to_string()),
            ("start", (now - 3600 * SECOND).to_string()),
            ("end", (now + SECOND).to_string()),
            ("limit", "5000".into()),
        ];
        let response = request.query(&params).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        let mut out = Vec::new();
        for stream in body["data"]["result"].as_array().unwrap() {
            let labels: BTreeMap<String, String> = serde_json::from_value(stream["stream"].clone()).unwrap();
            for value in stream["values"].as_array().unwrap() {
                let metadata: BTreeMap<String, String> = serde_json::from_value(value[2]["structuredMetadata"].clone()).unwrap_or_default();
                out.push((labels.clone(), value[1].as_str().unwrap().to_string(), metadata));
            }
        }
        out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        out
    }

    /// `query_range` in the forward direction; the whole response.
    pub async fn query_range(&self, query: &str, start: i64, end: i64, limit: usize, tenant: Option<&str>) -> Value {
        let params = [
            ("query", query.to_string()),
            ("start", start.to_string()),
            ("end", end.to_string()),
            ("limit", limit.to_string()),
            ("direction", "forward".to_string()),
        ];
        self.get_json("/loki/api/v1/query_range", &params, tenant).await
    }

    /// `query_range` (forward) of a log query, as label set -> entries.
    pub async fn query_streams(&self, query: &str, start: i64, end: i64, limit: usize, tenant: Option<&str>) -> Streams {
        let response = self.query_range(query, start, end, limit, tenant).await;
        assert_eq!(response["status"], "success", "{response}");
        assert_eq!(response["data"]["resultType"], "streams", "{response}");
        streams_of(&response)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Log-query results: labels -> `(timestamp ns string, line)` in response order.
pub type Streams = BTreeMap<BTreeMap<String, String>, Vec<(String, String)>>;

/// Every file under a directory, as paths relative to it, sorted.
pub fn files_under(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(relative) = path.strip_prefix(root) {
                out.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// A label map from pairs.
pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Parses a `streams` result; panics on a shape other than Loki's.
pub fn streams_of(response: &Value) -> Streams {
    let mut out = Streams::new();
    let result = response["data"]["result"].as_array().unwrap_or_else(|| panic!("no result array: {response}"));
    for stream in result {
        let labels: BTreeMap<String, String> = stream["stream"]
            .as_object()
            .unwrap_or_else(|| panic!("stream without labels: {stream}"))
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().expect("label value not a string").to_string()))
            .collect();
        let values: Vec<(String, String)> = stream["values"]
            .as_array()
            .unwrap_or_else(|| panic!("stream without values: {stream}"))
            .iter()
            .map(|v| (v[0].as_str().expect("timestamp not a string").to_string(), v[1].as_str().expect("line not a string").to_string()))
            .collect();
        assert!(out.insert(labels, values).is_none(), "the same label set appears twice in {response}");
    }
    out
}

/// Builds a push stream.
pub fn stream(pairs: &[(&str, &str)], entries: Vec<Entry>) -> PushStream {
    PushStream { labels: LabelSet::from_pairs(pairs.iter().copied()), entries }
}

/// An entry with structured metadata.
pub fn entry_with_metadata(ts: i64, line: &str, metadata: &[(&str, &str)]) -> Entry {
    let mut entry = Entry::new(ts, line);
    entry.metadata = metadata.iter().map(|(k, v)| Label::new(*k, *v)).collect();
    entry
}

/// Entries as a query returns them: `(ns string, line)`.
pub fn expected(entries: &[Entry]) -> Vec<(String, String)> {
    entries.iter().map(|e| (e.ts.to_string(), e.line.clone())).collect()
}

/// The newest WAL segment file (`NNNN.wal`, highest id) in a directory.
pub fn last_wal_segment(dir: &Path) -> Option<PathBuf> {
    let mut segments: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .collect();
    segments.sort();
    segments.pop()
}

/// A value of `/metrics` (the first sample of that exact name without labels).
pub fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.trim().parse().ok()))
}

// ---- Added for the agent tests --------------------------------------------------------

impl Server {
    /// `kill -9`s the server and starts it again on the SAME port (clients with a fixed
    /// URL, like the agent, must find it again). Retries while the port is still held.
    pub async fn restart_same_port(&mut self) {
        self.kill9();
        for _attempt in 0..50 {
            self.spawn_child();
            match self.wait_ready(READY_TIMEOUT).await {
                Ok(()) => return,
                Err(true) if self.logs().contains("Address already in use") => {
                    self.child = None;
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(_) => {
                    self.kill9();
                    panic!("skald did not become ready again on port {}:\n{}", self.port, self.logs());
                }
            }
        }
        panic!("port {} stayed busy", self.port);
    }
}

// ---- Added for the fault tests --------------------------------------------------------

impl Server {
    /// Like [`Server::start`], but runs `setup` on the (created, empty) data directory
    /// first: to mount a small filesystem there, for example.
    pub async fn start_with_setup(config_yaml: &str, setup: impl FnOnce(&Path)) -> Server {
        let root = tempfile::Builder::new().prefix("skald-it-").tempdir().expect("creating a temp dir");
        std::fs::write(root.path().join("config.yaml"), config_yaml).unwrap();
        std::fs::create_dir_all(root.path().join("data")).unwrap();
        setup(&root.path().join("data"));
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).no_proxy().build().unwrap();
        let mut server = Server { child: None, port: 0, root, client, starts: 0, loki: None };
        server.spawn_and_wait_ready().await;
        server
    }
}

// ---- Added for the S3 and compactor tests ---------------------------------------------

/// A local S3-compatible server (`s3s-fs`, installed by `scripts/test-deps`) on a free
/// loopback port, serving one bucket (`skald`) from a temporary directory. Killed on drop.
pub struct S3Server {
    child: Option<Child>,
    pub port: u16,
    root: tempfile::TempDir,
}

pub const S3_BUCKET: &str = "skald";
pub const S3_ACCESS_KEY: &str = "skaldtest";
pub const S3_SECRET_KEY: &str = "skaldtestsecret";

impl S3Server {
    pub async fn start() -> S3Server {
        let root = tempfile::Builder::new().prefix("skald-s3-").tempdir().expect("creating a temp dir");
        // s3s-fs serves each subdirectory of its root as a bucket.
        std::fs::create_dir_all(root.path().join(S3_BUCKET)).unwrap();
        let mut server = S3Server { child: None, port: free_port(), root };
        server.spawn().await;
        server
    }

    fn binary() -> PathBuf {
        if let Ok(path) = std::env::var("S3S_FS") {
            return PathBuf::from(path);
        }
        let home = std::env::var("HOME").unwrap_or_default();
        let installed = Path::new(&home).join(".cargo/bin/s3s-fs");
        if installed.exists() { installed } else { PathBuf::from("s3s-fs") }
    }

    /// Starts (again, on the same port and directory) and waits until it accepts TCP.
    pub async fn spawn(&mut self) {
        assert!(self.child.is_none(), "s3s-fs already running");
        let log = std::fs::File::create(self.root.path().join("s3s-fs.log")).unwrap();
        let child = Command::new(Self::binary())
            .arg("--host")
            .arg("127.0.0.1")
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--access-key")
            .arg(S3_ACCESS_KEY)
            .arg("--secret-key")
            .arg(S3_SECRET_KEY)
            .arg(self.root.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawning s3s-fs (run scripts/test-deps to install it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not listen on port {}", self.port);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `kill -9` (the object store becomes unreachable).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The bucket's directory: objects appear as files under it.
    pub fn bucket_dir(&self) -> PathBuf {
        self.root.path().join(S3_BUCKET)
    }

    /// Adds a bucket (s3s-fs serves every directory of its root as one).
    pub fn add_bucket(&self, name: &str) {
        std::fs::create_dir_all(self.root.path().join(name)).unwrap();
    }

    /// Object keys under a prefix in a bucket, sorted.
    pub fn keys_in(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let mut keys = files_under(&self.root.path().join(bucket));
        keys.retain(|k| k.starts_with(prefix) && !k.contains(".tmp") && !k.ends_with(".metadata.json"));
        keys
    }

    /// Object keys under a prefix (`index/`, `chunks/`), sorted.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        self.keys_in(S3_BUCKET, prefix)
    }

    /// `storage_config` pointing at this server (Loki's keys), with quick retries.
    pub fn storage_yaml(&self) -> String {
        format!(
            "storage_config:\n  aws:\n    endpoint: 127.0.0.1:{port}\n    bucketnames: {S3_BUCKET}\n    region: us-east-1\n    access_key_id: {S3_ACCESS_KEY}\n    secret_access_key: {S3_SECRET_KEY}\n    s3forcepathstyle: true\n    insecure: true\n    backoff_config:\n      min_period: 50ms\n      max_period: 200ms\n      max_retries: 2\n  tsdb_shipper:\n    resync_interval: 1s\nschema_config:\n  configs:\n    - from: 2024-01-01\n      store: tsdb\n      object_store: s3\n      schema: v13\n      index:\n        prefix: index_\n        period: 24h\n",
            port = self.port
        )
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.kill();
    }
}
