//! The real receivers of the ruler tests: Debian's `prometheus-alertmanager` (started on a
//! loopback port, forwarding every notification to a webhook this harness serves) and
//! Debian's `prometheus` (with its remote-write receiver). `scripts/test-deps` installs
//! both.

use super::free_port;
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Notifications Alertmanager delivered to the webhook (its JSON bodies, in order).
#[derive(Clone, Default)]
pub struct Webhook {
    pub received: Arc<Mutex<Vec<Value>>>,
    pub port: u16,
}

impl Webhook {
    pub async fn start() -> Webhook {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hook = Webhook { received: Arc::default(), port };
        let received = hook.received.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: axum::body::Bytes| {
                let received = received.clone();
                async move {
                    if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                        received.lock().unwrap().push(v);
                    }
                    "ok"
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        hook
    }

    pub fn all(&self) -> Vec<Value> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until a notification satisfies `what`, and returns it.
    pub async fn wait_for(&self, timeout: Duration, description: &str, what: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = self.all().into_iter().find(|v| what(v)) {
                return v;
            }
            assert!(Instant::now() < deadline, "no notification {description} within {timeout:?}; received: {:#?}", self.all());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A running Alertmanager, killed on drop.
pub struct Alertmanager {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    /// Starts Alertmanager routing every alert to `hook` (resolutions too), grouping by
    /// alert name and flushing every second.
    pub async fn start(hook: &Webhook) -> Alertmanager {
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            "route:\n  receiver: hook\n  group_by: ['alertname']\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: http://127.0.0.1:{}/hook\n        send_resolved: true\n",
            hook.port
        );
        std::fs::write(dir.path().join("am.yml"), config).unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("am.log")).unwrap();
        let child = Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", dir.path().join("am.yml").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--storage.path={}", dir.path().join("data").display()))
            .arg("--cluster.listen-address=")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("prometheus-alertmanager (Debian package) must be installed: scripts/test-deps");
        let am = Alertmanager { child, port, _dir: dir };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = client.get(format!("http://127.0.0.1:{port}/-/ready")).send().await
                && r.status().is_success()
            {
                return am;
            }
            assert!(Instant::now() < deadline, "Alertmanager did not start: {}", am.log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("am.log")).unwrap_or_default()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running Prometheus with its remote-write receiver on, killed on drop; stopped and
/// started again on the same port and storage by [`Prometheus::stop`]/[`Prometheus::start_again`].
pub struct Prometheus {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    starts: usize,
}

impl Prometheus {
    pub async fn start() -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("prometheus.yml"), "global:\n  scrape_interval: 1h\n").unwrap();
        let mut p = Prometheus { child: None, port: free_port(), dir, starts: 0 };
        p.start_again().await;
        p
    }

    pub async fn start_again(&mut self) {
        assert!(self.child.is_none());
        self.starts += 1;
        let log = std::fs::File::create(self.dir.path().join(format!("prometheus-{}.log", self.starts))).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", self.dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", self.dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{}", self.port))
            .arg("--web.enable-remote-write-receiver")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("prometheus (Debian package) must be installed: scripts/test-deps");
        self.child = Some(child);
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client.get(format!("http://127.0.0.1:{}/-/ready", self.port)).send().await
                && r.status().is_success()
            {
                return;
            }
            assert!(Instant::now() < deadline, "Prometheus did not start: {}", self.log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops Prometheus cleanly (SIGTERM: it keeps what it accepted).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let _ = child.wait();
        }
    }

    pub fn write_url(&self) -> String {
        format!("http://127.0.0.1:{}/api/v1/write", self.port)
    }

    /// `GET /api/v1/query` at now: the `data.result` array.
    pub async fn query(&self, promql: &str) -> Value {
        let r = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{}/api/v1/query", self.port))
            .query(&[("query", promql)])
            .send()
            .await
            .unwrap();
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["status"], "success", "{body}");
        body["data"]["result"].clone()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("prometheus-{}.log", self.starts))).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
