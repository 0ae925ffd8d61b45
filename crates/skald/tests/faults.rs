//! Faults caused for real: the disk holding the WAL fills up, and the server is killed
//! while it flushes. Nothing acknowledged may be lost or counted twice.
//!
//! The disk-full test mounts a small tmpfs on the data directory, so it needs root (as
//! CI runs); it fails with a clear message when mounting is not allowed.

mod common;

use common::*;
use skald_common::Entry;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const CONFIG: &str = "\
limits_config:
  discover_service_name: []
  discover_log_levels: false
  max_entries_limit_per_query: 100000
  ingestion_rate_mb: 1000
  ingestion_burst_size_mb: 1000
";

/// Unmounts the tmpfs when the test ends (also on panic), after the server is gone.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mount_tmpfs(dir: &Path, size: &str) {
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .expect("running mount");
    assert!(status.success(), "mounting a {size} tmpfs on {} failed: this test needs root (CI runs as root)", dir.display());
}

/// Fills the filesystem of `dir` with a file until writes fail; returns the file.
fn fill_disk(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let block = vec![0xAAu8; 64 * 1024];
    while file.write_all(&block).is_ok() {}
    // Fill the last partial block too.
    while file.write_all(&[0xAA]).is_ok() {}
    let _ = file.sync_all();
    path
}

fn batch(job: &str, base: i64, from: i64, count: i64) -> Vec<skald_common::PushStream> {
    let entries = (from..from + count).map(|i| Entry::new(base + i * 1_000_000, format!("line {i:06} {}", "p".repeat(200)))).collect();
    vec![stream(&[("job", job)], entries)]
}

async fn count_lines(server: &Server, job: &str, base: i64) -> Vec<String> {
    let streams = server.query_streams(&format!("{{job=\"{job}\"}}"), base - SECOND, now_ns() + SECOND, 100_000, None).await;
    streams.values().flatten().map(|(_, line)| line[..11].to_string()).collect()
}

#[tokio::test]
async fn a_full_disk_fails_pushes_with_5xx_and_loses_nothing_acknowledged() {
    let mut mount = None;
    let mut server = Server::start_with_setup(CONFIG, |data| {
        mount_tmpfs(data, "48m");
        mount = Some(Mount(data.to_path_buf()));
    })
    .await;
    let _mount = mount;
    let base = now_ns() - 120 * SECOND;
    let mut acknowledged = 0i64;
    for round in 0..5 {
        server.push_streams(None, &batch("disk", base, round * 100, 100)).await;
        acknowledged += 100;
    }

    let filler = fill_disk(&server.data_dir());
    // Pushes now fail with a server error that says why; none is acknowledged.
    let mut failures = 0;
    let mut attempted = acknowledged;
    for _ in 0..5 {
        let body = skald_push::encode_json(&batch("disk", base, attempted, 100));
        let (status, message) = server.push_json(None, body).await;
        attempted += 100;
        if status == 204 {
            acknowledged = attempted; // Room was left (page cache); count it as acknowledged.
            continue;
        }
        failures += 1;
        eprintln!("push on a full disk: {status} {message}");
        assert!((500..600).contains(&status), "a full disk must give 5xx, got {status}: {message}");
        assert!(message.to_lowercase().contains("no space"), "the message should say the disk is full: {message}");
    }
    assert!(failures > 0, "no push failed on a full disk");
    // What was acknowledged is still there, once.
    let lines = count_lines(&server, "disk", base).await;
    assert!(lines.len() as i64 >= acknowledged.min(500), "lines lost while the disk was full: {}", lines.len());

    // Space returns: pushes succeed again.
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body = skald_push::encode_json(&batch("disk", base, 10_000, 100));
        let (status, message) = server.push_json(None, body).await;
        if status == 204 {
            break;
        }
        assert!(Instant::now() < deadline, "pushes still fail after space returned: {status} {message}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // After a crash and a replay: every acknowledged line exactly once.
    server.restart().await;
    let lines = count_lines(&server, "disk", base).await;
    let mut unique = lines.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), lines.len(), "an entry was counted twice after replay");
    for i in (0..500).chain(10_000..10_100) {
        let wanted = format!("line {i:06}");
        assert!(unique.binary_search(&wanted).is_ok(), "acknowledged {wanted} lost after restart");
    }
    server.kill9();
}

#[tokio::test]
async fn kill_during_flush_loses_nothing_and_counts_nothing_twice() {
    let mut server = Server::start(CONFIG).await;
    let base = now_ns() - 300 * SECOND;
    let mut pushed = 0i64;
    // Kill at several moments of a flush (from before it starts writing to near its end).
    for delay_ms in [0u64, 5, 20, 60, 150] {
        for stream_index in 0..50 {
            let job = format!("flush-{stream_index}");
            server.push_streams(None, &batch(&job, base, pushed, 100)).await;
            pushed += 100;
        }
        let url = server.url("/flush");
        let flushing = tokio::spawn(async move {
            let _ = reqwest::Client::new().post(url).send().await;
        });
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        server.kill9();
        flushing.abort();
        server.restart().await;
        let lines = all_flush_lines(&server, base).await;
        let mut unique = lines.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(lines.len(), unique.len(), "entries counted twice after a kill {delay_ms} ms into a flush");
        assert_eq!(unique.len() as i64, pushed, "entries lost after a kill {delay_ms} ms into a flush");
    }
    // Once the restarted server has flushed everything, the answer is the same.
    let (status, _) = server.post("/flush", &[], Vec::new()).await;
    assert!(status == 204 || status == 200, "flush: {status}");
    server.restart().await;
    let lines = all_flush_lines(&server, base).await;
    assert_eq!(lines.len() as i64, pushed, "after a full flush and restart");
}

async fn all_flush_lines(server: &Server, base: i64) -> Vec<String> {
    let streams = server.query_streams("{job=~\"flush-.*\"}", base - SECOND, now_ns() + SECOND, 100_000, None).await;
    streams.values().flatten().map(|(_, line)| line[..11].to_string()).collect()
}
