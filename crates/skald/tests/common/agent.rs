//! A running `skald agent` for the agent tests, and helpers to wait for what it sends
//! to arrive at a [`Server`].

use super::{SECOND, Server, Streams, now_ns};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long everything may take to arrive.
pub const ARRIVAL_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `skald agent` and its directory (`DIR/agent.yaml`, `DIR/positions.yaml`,
/// `DIR/agent-N.log`).
pub struct Agent {
    child: Option<Child>,
    pub dir: PathBuf,
    starts: usize,
    /// Extra environment variables of every start.
    env: Vec<(String, String)>,
}

impl Agent {
    pub fn start(dir: &Path, config: &str) -> Agent {
        Agent::start_with_env(dir, config, &[])
    }

    pub fn start_with_env(dir: &Path, config: &str, env: &[(&str, &str)]) -> Agent {
        std::fs::write(dir.join("agent.yaml"), config).unwrap();
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut agent = Agent { child: None, dir: dir.to_path_buf(), starts: 0, env };
        agent.spawn();
        agent
    }

    pub fn spawn(&mut self) {
        self.starts += 1;
        let log = std::fs::File::create(self.log_path()).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_skald"))
            .arg("agent")
            .arg("--config")
            .arg(self.dir.join("agent.yaml"))
            .env("RUST_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawning skald agent");
        self.child = Some(child);
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join(format!("agent-{}.log", self.starts))
    }

    /// The output of every start so far, oldest first.
    pub fn all_logs(&self) -> String {
        (1..=self.starts)
            .map(|n| format!("--- start {n}\n{}", std::fs::read_to_string(self.dir.join(format!("agent-{n}.log"))).unwrap_or_default()))
            .collect()
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGKILL);
            }
            let _ = child.wait();
        }
    }

    /// SIGTERM; true when it exited by itself with success within the timeout.
    pub fn terminate(&mut self, timeout: Duration) -> bool {
        let Some(mut child) = self.child.take() else { return false };
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn push_url(server: &Server) -> String {
    server.url("/loki/api/v1/push")
}

/// A client section with small waits so tests run in seconds.
pub fn client_yaml(server: &Server) -> String {
    format!(
        "clients:\n  - url: {}\n    batchwait: 100ms\n    batchsize: 64KiB\n    backoff_config: {{min_period: 100ms, max_period: 500ms, max_retries: 0}}\n",
        push_url(server)
    )
}

pub fn base_yaml(server: &Server, dir: &Path) -> String {
    format!(
        "server: {{disable: true}}\npositions: {{filename: {}/positions.yaml, sync_period: 200ms}}\ntarget_config: {{sync_period: 200ms}}\n{}",
        dir.display(),
        client_yaml(server)
    )
}

pub fn append(path: &Path, text: &str) {
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

/// Polls a log query until `done` accepts the result (or panics with the agent's logs).
pub async fn wait_for(server: &Server, agent: &Agent, query: &str, done: impl Fn(&Streams) -> bool) -> Streams {
    let deadline = Instant::now() + ARRIVAL_TIMEOUT;
    let start = now_ns() - 3600 * SECOND;
    loop {
        let streams = server.query_streams(query, start, now_ns() + 60 * SECOND, 100_000, None).await;
        if done(&streams) {
            return streams;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {query}; got {} streams: {:?}\nagent logs:\n{}", streams.len(), summary(&streams), agent.logs());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn summary(streams: &Streams) -> Vec<(BTreeMap<String, String>, usize)> {
    streams.iter().map(|(k, v)| (k.clone(), v.len())).collect()
}

pub fn all_lines(streams: &Streams) -> Vec<String> {
    streams.values().flat_map(|v| v.iter().map(|(_, line)| line.clone())).collect()
}

/// How many times each line arrived.
pub fn line_counts(streams: &Streams) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in all_lines(streams) {
        *counts.entry(line).or_insert(0) += 1;
    }
    counts
}

pub fn has_all(streams: &Streams, expected: &[String]) -> bool {
    let counts = line_counts(streams);
    expected.iter().all(|l| counts.contains_key(l))
}
