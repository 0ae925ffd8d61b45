//! Durability: every acknowledged push survives `kill -9` (WAL replay), exactly once,
//! and a damaged WAL tail does not keep the server from starting.

mod common;

use common::*;
use skald_common::Entry;
use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

const CONFIG: &str = "\
limits_config:
  discover_service_name: []
  discover_log_levels: false
  reject_old_samples: false
  max_entries_limit_per_query: 10000000
  ingestion_rate_mb: 10000
  ingestion_burst_size_mb: 10000
";

const SENDERS: usize = 4;
const ENTRIES_PER_PUSH: usize = 20;
/// Spacing of one sender's entries (its stream's timestamps only increase).
const TS_STEP: i64 = 1_000;

/// The timestamp an entry's line encodes: `c{cycle}-s{sender}-p{push}-e{i}` maps to
/// `base + (push * ENTRIES_PER_PUSH + i) * TS_STEP`, base recorded per cycle.
fn line(cycle: usize, sender: usize, push: usize, i: usize) -> String {
    format!("c{cycle}-s{sender}-p{push}-e{i}")
}

/// What the pushers saw.
#[derive(Default)]
struct Acked {
    /// line -> timestamp, for every entry of a push that got 204.
    entries: HashMap<String, i64>,
    /// Pushes answered with a status other than 204 (none are expected).
    unexpected: Vec<String>,
}

/// Runs `SENDERS` concurrent pushers against the server until one request fails
/// (the server was killed) or `stop` is set; returns what was acknowledged.
async fn load(url: String, cycle: usize, base: i64, stop: Arc<AtomicBool>) -> Acked {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).no_proxy().build().unwrap();
    let attempted = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for sender in 0..SENDERS {
        let (client, url, stop, attempted) = (client.clone(), url.clone(), stop.clone(), attempted.clone());
        tasks.push(tokio::spawn(async move {
            let mut acked = Acked::default();
            let sender_label = sender.to_string();
            let mut push = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let entries: Vec<Entry> = (0..ENTRIES_PER_PUSH)
                    .map(|i| Entry::new(base + ((push * ENTRIES_PER_PUSH + i) as i64) * TS_STEP, line(cycle, sender, push, i)))
                    .collect();
                let body = skald_push::encode_json(&[stream(&[("job", "durability"), ("sender", sender_label.as_str())], entries.clone())]);
                attempted.fetch_add(1, Ordering::Relaxed);
                let result = client.post(&url).header("Content-Type", "application/json").body(body).send().await;
                match result {
                    Ok(response) if response.status().as_u16() == 204 => {
                        for entry in entries {
                            acked.entries.insert(entry.line, entry.ts);
                        }
                    }
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let text = response.text().await.unwrap_or_default();
                        acked.unexpected.push(format!("{status}: {text}"));
                    }
                    // Connection refused or reset: the server is gone.
                    Err(_) => break,
                }
                push += 1;
            }
            acked
        }));
    }
    let mut all = Acked::default();
    for task in tasks {
        let acked = task.await.unwrap();
        all.entries.extend(acked.entries);
        all.unexpected.extend(acked.unexpected);
    }
    all
}

/// Every entry of `{job="durability"}`, as line -> (timestamp, how many times).
async fn stored(server: &Server, from: i64) -> HashMap<String, (i64, usize)> {
    let streams = server.query_streams(r#"{job="durability"}"#, from - SECOND, now_ns() + 60 * SECOND, 10_000_000, None).await;
    let mut out: HashMap<String, (i64, usize)> = HashMap::new();
    for (labels, values) in streams {
        let sender = labels.get("sender").expect("stream without sender label").clone();
        assert_eq!(labels.len(), 2, "unexpected labels {labels:?}");
        for (ts, line) in values {
            assert!(line.contains(&format!("-s{sender}-")), "line {line} in the stream of sender {sender}");
            let slot = out.entry(line).or_insert((ts.parse().unwrap(), 0));
            slot.1 += 1;
        }
    }
    out
}

/// Every acknowledged entry is stored exactly once with its timestamp; nothing is
/// stored twice (entries of failed pushes may or may not be there).
fn assert_acked_present(acked: &HashMap<String, i64>, stored: &HashMap<String, (i64, usize)>) {
    let missing: Vec<&String> = acked.keys().filter(|line| !stored.contains_key(*line)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged entries lost, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
    for (line, ts) in acked {
        assert_eq!(stored[line].0, *ts, "timestamp of {line}");
    }
    let twice: Vec<(&String, &(i64, usize))> = stored.iter().filter(|(_, (_, n))| *n != 1).collect();
    assert!(twice.is_empty(), "entries stored more than once: {:?}", &twice[..twice.len().min(5)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_pushes_survive_kill_9_under_load() {
    let mut server = Server::start(CONFIG).await;
    let first_base = now_ns() - 60 * SECOND;
    let mut acked: HashMap<String, i64> = HashMap::new();
    for cycle in 0..2 {
        let base = if cycle == 0 { first_base } else { now_ns() - 30 * SECOND };
        let stop = Arc::new(AtomicBool::new(false));
        let pushers = tokio::spawn(load(server.url("/loki/api/v1/push"), cycle, base, stop.clone()));
        tokio::time::sleep(Duration::from_millis(1500)).await;
        server.kill9();
        stop.store(true, Ordering::SeqCst);
        let result = tokio::time::timeout(Duration::from_secs(25), pushers).await.expect("pushers did not stop").unwrap();
        assert!(result.unexpected.is_empty(), "pushes refused before the kill: {:?}", &result.unexpected[..result.unexpected.len().min(3)]);
        assert!(result.entries.len() >= 10 * ENTRIES_PER_PUSH, "cycle {cycle}: only {} entries acknowledged", result.entries.len());
        acked.extend(result.entries);

        server.restart().await;
        let stored = stored(&server, first_base).await;
        assert_acked_present(&acked, &stored);
        eprintln!("cycle {cycle}: {} acknowledged, {} stored", acked.len(), stored.len());
    }
}

/// Appends bytes to the newest WAL segment.
fn damage_wal_tail(server: &Server, bytes: &[u8]) {
    let segment = last_wal_segment(&server.wal_dir()).unwrap_or_else(|| panic!("no WAL segment in {}", server.wal_dir().display()));
    let mut file = std::fs::OpenOptions::new().append(true).open(&segment).unwrap();
    file.write_all(bytes).unwrap();
    file.sync_all().unwrap();
}

/// The replay of the last start reported a damaged tail (so the damage was really in a
/// replayed segment): its summary line has `truncated_bytes=N` with N > 0.
fn assert_replay_truncated(server: &Server) {
    let logs = strip_ansi(&server.logs());
    let line = logs.lines().find(|l| l.contains("write-ahead log replayed")).unwrap_or_else(|| panic!("no replay summary:\n{logs}"));
    let truncated: u64 = line
        .split("truncated_bytes=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no truncated_bytes in {line:?}"));
    assert!(truncated > 0, "the damaged tail was not noticed: {line}");
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ ... letter
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test]
async fn a_damaged_wal_tail_does_not_prevent_startup() {
    let mut server = Server::start(CONFIG).await;
    let base = now_ns() - 60 * SECOND;
    let mut acked: HashMap<String, i64> = HashMap::new();
    let push_batch = async |server: &Server, cycle: usize, acked: &mut HashMap<String, i64>| {
        for push in 0..5 {
            let entries: Vec<Entry> = (0..ENTRIES_PER_PUSH)
                .map(|i| Entry::new(base + (cycle * 1000 + push * ENTRIES_PER_PUSH + i) as i64 * TS_STEP, line(cycle, 0, push, i)))
                .collect();
            server.push_streams(None, &[stream(&[("job", "durability"), ("sender", "0")], entries.clone())]).await;
            acked.extend(entries.into_iter().map(|e| (e.line, e.ts)));
        }
    };

    // 1. Random-looking garbage after the last record.
    push_batch(&server, 0, &mut acked).await;
    server.kill9();
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    damage_wal_tail(&server, &garbage);
    server.restart().await;
    assert_replay_truncated(&server);
    assert_acked_present(&acked, &stored(&server, base).await);

    // 2. A torn record: a plausible header (length 100, wrong crc) and half a payload,
    //    then a zero-filled tail, as a crash mid-write can leave.
    push_batch(&server, 1, &mut acked).await;
    server.kill9();
    let mut torn = Vec::new();
    torn.extend_from_slice(&100u32.to_le_bytes());
    torn.extend_from_slice(&0xdead_beefu32.to_le_bytes());
    torn.extend_from_slice(&[b'x'; 50]);
    damage_wal_tail(&server, &torn);
    server.restart().await;
    assert_replay_truncated(&server);
    assert_acked_present(&acked, &stored(&server, base).await);

    push_batch(&server, 2, &mut acked).await;
    server.kill9();
    damage_wal_tail(&server, &[0u8; 8192]);
    server.restart().await;
    assert_replay_truncated(&server);
    let now_stored = stored(&server, base).await;
    assert_acked_present(&acked, &now_stored);
    assert_eq!(now_stored.len(), 3 * 5 * ENTRIES_PER_PUSH, "entries that were never pushed appeared");

    // Still writable, and a clean restart after all that keeps everything.
    push_batch(&server, 3, &mut acked).await;
    server.restart().await;
    assert_acked_present(&acked, &stored(&server, base).await);
}
