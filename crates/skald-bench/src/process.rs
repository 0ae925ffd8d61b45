//! The benchmarked processes: a server this tool starts (this same binary, `skald
//! server`), or the processes of a running cluster; their CPU time and memory from
//! `/proc`, and the bytes a data directory holds.

use crate::BenchArgs;
use anyhow::{Context, bail};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The benchmarked system: a server this tool started, or a cluster's processes.
pub struct Server {
    pub child: Option<Child>,
    /// Where pushes go (the distributor of a cluster).
    pub base: String,
    /// Where queries go (the query frontend of a cluster).
    pub query_base: String,
    /// Every process whose CPU and memory count.
    pub pids: Vec<u32>,
}

impl Server {
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        self.pids.iter().map(|pid| cpu_seconds(*pid)).sum()
    }

    /// Peak and current RSS, summed over the processes.
    pub fn rss(&self) -> anyhow::Result<(u64, u64)> {
        let mut total = (0, 0);
        for pid in &self.pids {
            let (peak, current) = rss(*pid)?;
            total = (total.0 + peak, total.1 + current);
        }
        Ok(total)
    }
}

/// A cluster started by `examples/cluster/up.sh DIR` (it writes `DIR/push.url`,
/// `DIR/query.url` and `DIR/pids/*.pid`); s3s-fs does not count as Skald.
pub fn attach_cluster(dir: &std::path::Path) -> anyhow::Result<Server> {
    let read = |name: &str| -> anyhow::Result<String> {
        Ok(std::fs::read_to_string(dir.join(name)).with_context(|| format!("reading {}", dir.join(name).display()))?.trim().to_string())
    };
    let mut pids = Vec::new();
    for entry in std::fs::read_dir(dir.join("pids"))? {
        let path = entry?.path();
        if path.file_name().is_some_and(|n| n == "s3s-fs.pid") {
            continue;
        }
        pids.push(std::fs::read_to_string(&path)?.trim().parse::<u32>().with_context(|| format!("{}", path.display()))?);
    }
    Ok(Server { child: None, base: read("push.url")?, query_base: read("query.url")?, pids })
}

impl Drop for Server {
    fn drop(&mut self) {
        let Some(child) = self.child.as_mut() else { return };
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// CPU seconds (user + system) of a process, from /proc.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).context("bad /proc stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields[11].parse()?;
    let stime: f64 = fields[12].parse()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok((utime + stime) / ticks)
}

/// Peak and current resident set size in bytes.
pub fn rss(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    Ok((field("VmHWM:"), field("VmRSS:")))
}

pub fn dir_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Disk space the files under `path` take: allocated 512-byte blocks, as `du` counts.
pub fn allocated_bytes(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => allocated_bytes(&e.path()),
            Ok(m) => m.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}

pub async fn start_server(args: &BenchArgs, fresh: bool) -> anyhow::Result<Server> {
    if fresh {
        let _ = std::fs::remove_dir_all(&args.data_dir);
    }
    std::fs::create_dir_all(&args.data_dir)?;
    let config = format!(
        "limits_config:\n  reject_old_samples: false\n  ingestion_rate_mb: 100000\n  ingestion_burst_size_mb: 100000\n  max_entries_limit_per_query: 100000\n  max_query_length: 0\n  max_global_streams_per_user: 0\nserver:\n  log_level: warn\n{}",
        args.extra_config.clone().unwrap_or_default()
    );
    let config_path = args.data_dir.join("bench-config.yaml");
    std::fs::write(&config_path, config)?;
    let exe = match &args.server_bin {
        Some(path) => path.clone(),
        None => std::env::current_exe()?,
    };
    let child = Command::new(exe)
        .args(["server", "--http-addr", &format!("127.0.0.1:{}", args.port), "--data-dir"])
        .arg(args.data_dir.join("data"))
        .arg("--config")
        .arg(&config_path)
        .stdout(Stdio::null())
        .spawn()
        .context("starting the server")?;
    let base = format!("http://127.0.0.1:{}", args.port);
    let server = Server { pids: vec![child.id()], child: Some(child), query_base: base.clone(), base };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(response) = client.get(format!("{}/ready", server.base)).send().await
            && response.status().is_success()
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("server did not become ready");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(server)
}

impl Server {
    /// Stops the server this tool started (SIGKILL, or SIGTERM: a graceful stop that
    /// flushes) and waits for it to exit.
    pub fn stop(&mut self, graceful: bool) {
        if let Some(child) = self.child.as_mut() {
            let signal = if graceful { libc::SIGTERM } else { libc::SIGKILL };
            // SAFETY: kill has no memory-safety preconditions.
            unsafe {
                libc::kill(child.id() as i32, signal);
            }
            let _ = child.wait();
        }
        self.child = None;
    }
}
