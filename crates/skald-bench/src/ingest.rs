//! Pushing the corpus (its bodies over HTTP, `--concurrency` at once) while sampling the
//! server's memory, and the flush that follows.

use crate::process::{Server, rss};
use anyhow::bail;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What pushing the corpus cost.
pub struct Ingest {
    pub seconds: f64,
    pub cpu: f64,
    /// Highest RSS seen while pushing (sampled every 50 ms), and the kernel's high-water mark.
    pub peak_rss: u64,
    pub hwm: u64,
}

/// Pushes every body and waits for every acknowledgement.
pub async fn push_all(
    server: &Server,
    client: &reqwest::Client,
    push: &Arc<crate::formats::Push>,
    concurrency: usize,
) -> anyhow::Result<Ingest> {
    let cpu_before = server.cpu_seconds()?;
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let peak = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, next, push, base) = (client.clone(), next.clone(), push.clone(), server.base.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(body) = push.bodies.get(i) else { return Ok::<(), anyhow::Error>(()) };
                let response =
                    client.post(format!("{base}{}", push.path)).header("Content-Type", push.content_type).body(body.clone()).send().await?;
                if response.status().as_u16() != 204 {
                    let status = response.status();
                    let text: String = response.text().await.unwrap_or_default().chars().take(300).collect();
                    bail!("push {i} failed: {status} {text}");
                }
            }
        }));
    }
    let sampler = {
        let peak = peak.clone();
        let pids = server.pids.clone();
        tokio::spawn(async move {
            loop {
                let current: u64 = pids.iter().filter_map(|pid| rss(*pid).ok()).map(|(_, current)| current).sum();
                peak.fetch_max(current, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    for task in tasks {
        task.await??;
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = server.cpu_seconds()? - cpu_before;
    let (hwm, _) = server.rss()?;
    sampler.abort();
    Ok(Ingest { seconds, cpu, peak_rss: peak.load(Ordering::Relaxed), hwm })
}

/// `POST /flush`: wall and server CPU seconds.
pub async fn flush(server: &Server, client: &reqwest::Client) -> anyhow::Result<(f64, f64)> {
    let cpu_before = server.cpu_seconds()?;
    let started = Instant::now();
    let response = client.post(format!("{}/flush", server.base)).send().await?;
    if !response.status().is_success() {
        bail!("flush failed: {}", response.status());
    }
    Ok((started.elapsed().as_secs_f64(), server.cpu_seconds()? - cpu_before))
}

/// Splits the corpus into request bodies (one per line) without copying them.
pub fn split_lines(data: Vec<u8>) -> Vec<bytes::Bytes> {
    let data = bytes::Bytes::from(data);
    let mut out = Vec::new();
    let mut start = 0;
    for (i, b) in data.iter().enumerate() {
        if *b == b'\n' {
            if i > start {
                out.push(data.slice(start..i));
            }
            start = i + 1;
        }
    }
    if start < data.len() {
        out.push(data.slice(start..));
    }
    out
}
