//! Tests that need a separate process: SIGKILL mid-append, and write failures
//! provoked with RLIMIT_FSIZE (process-wide, so it must not run in the test
//! harness's shared process). The parent re-runs this test binary with an
//! environment variable that turns the matching `child_*` test into the child.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use skald_wal::{SEGMENT_HEADER_LEN, Wal, WalOptions, segment_file_name};

const DIR_VAR: &str = "SKALD_WAL_CHILD_DIR";

fn child_dir(role: &str) -> Option<String> {
    let v = std::env::var(DIR_VAR).ok()?;
    let (r, dir) = v.split_once('=')?;
    (r == role).then(|| dir.to_string())
}

fn spawn_child(test: &str, role: &str, dir: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(DIR_VAR, format!("{role}={}", dir.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

fn crash_payload(t: u64, n: u64) -> Vec<u8> {
    let mut p = format!("{t}:{n}:").into_bytes();
    // Sizes from tiny to ~300 KiB so kills land inside big writes too.
    let pad = (t * 7919 + n * 104_729) % 300_000;
    p.resize(p.len() + pad as usize, (n % 251) as u8);
    p
}

/// Child: 4 threads append forever, printing `ACK t n` after each Ok.
#[test]
fn child_append_loop() {
    let Some(dir) = child_dir("crash") else {
        return;
    };
    let (wal, replay) = Wal::open(Path::new(&dir), WalOptions { segment_size: 4 << 20, sync: true }).unwrap();
    drop(replay);
    let wal = Arc::new(wal);
    let handles: Vec<_> = (0..4u64)
        .map(|t| {
            let wal = wal.clone();
            std::thread::spawn(move || {
                for n in 0.. {
                    wal.append(&crash_payload(t, n)).unwrap();
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ACK {t} {n}").unwrap();
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn sigkill_loses_no_acknowledged_record() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let mut total_acked = 0;
    for round in 0..3 {
        let mut child = spawn_child("child_append_loop", "crash", &dir);
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut acked = Vec::new();
            // Only complete lines count: a line cut by the kill is not an ack
            // we can read.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let mut it = line.split_whitespace();
                if it.next() != Some("ACK") {
                    continue;
                }
                let t: u64 = it.next().unwrap().parse().unwrap();
                let n: u64 = it.next().unwrap().parse().unwrap();
                acked.push((t, n));
            }
            acked
        });
        std::thread::sleep(Duration::from_millis(500 + round * 150));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let acked = reader.join().unwrap();
        assert!(!acked.is_empty(), "child acknowledged nothing");
        total_acked += acked.len();

        let (_wal, mut replay) = Wal::open(&dir, WalOptions::default()).unwrap();
        // Earlier rounds' records are present too.
        let mut present: HashSet<(u64, u64)> = HashSet::new();
        let mut per_thread: HashMap<u64, Vec<u64>> = HashMap::new();
        for rec in &mut replay {
            let rec = rec.unwrap();
            let head: Vec<&[u8]> = rec.payload.splitn(3, |&b| b == b':').collect();
            let t: u64 = std::str::from_utf8(head[0]).unwrap().parse().unwrap();
            let n: u64 = std::str::from_utf8(head[1]).unwrap().parse().unwrap();
            assert_eq!(rec.payload, crash_payload(t, n), "payload content");
            present.insert((t, n));
            per_thread.entry(t).or_default().push(n);
        }
        let report = replay.report().clone();
        for a in &acked {
            assert!(present.contains(a), "acknowledged record {a:?} lost (round {round})");
        }
        // Each round restarts every thread at n = 0, so per thread the replayed
        // sequence is a concatenation of 0..k runs with no gaps: everything
        // written reached the page cache before the kill.
        for (t, ns) in &per_thread {
            let mut expect = 0;
            for &n in ns {
                if n == 0 {
                    expect = 0;
                }
                assert_eq!(n, expect, "gap or reorder in thread {t}");
                expect += 1;
            }
        }
        eprintln!("round {round}: acked {} records, replay {report:?}", acked.len());
        assert_eq!(report.corrupt_segments, 0);
    }
    assert!(total_acked > 0);
}

/// Child: provoke EFBIG (like ENOSPC, a write failing midway) with
/// RLIMIT_FSIZE, check the rollback, then lift the limit and append again.
#[test]
fn child_write_failure() {
    let Some(dir) = child_dir("efbig") else {
        return;
    };
    let dir = Path::new(&dir);
    const REC: usize = 1000;
    let limit = SEGMENT_HEADER_LEN as usize + 10 * (REC + 8) + 500;
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let mut rl = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut rl), 0);
        let hard = rl.rlim_max;
        rl.rlim_cur = limit as libc::rlim_t;
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &rl), 0);

        let (wal, _) = Wal::open(dir, WalOptions::default()).unwrap();
        let mut ok = 0;
        let err = loop {
            match wal.append(&vec![b'r'; REC]) {
                Ok(seg) => {
                    assert_eq!(seg, 1);
                    ok += 1;
                }
                Err(e) => break e,
            }
        };
        assert_eq!(ok, 10);
        let msg = err.to_string();
        assert!(msg.starts_with("wal write failed: "), "{msg}");
        assert!(msg.contains("os error 27"), "{msg}");
        assert_eq!(err.io_kind(), Some(std::io::ErrorKind::FileTooLarge));
        let path = dir.join(segment_file_name(1));
        let good = SEGMENT_HEADER_LEN + 10 * (REC as u64 + 8);
        assert_eq!(fs::metadata(&path).unwrap().len(), good, "rolled back to last record");
        assert_eq!(wal.disk_bytes(), good);
        // Still failing while the limit holds, and still no garbage.
        assert!(wal.append(&vec![b'r'; REC]).is_err());
        assert_eq!(fs::metadata(&path).unwrap().len(), good);
        // "Space returns".
        rl.rlim_cur = hard;
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &rl), 0);
        assert_eq!(wal.append(b"after").unwrap(), 1);
        drop(wal);
        let (_wal, replay) = Wal::open(dir, WalOptions::default()).unwrap();
        let recs: Vec<_> = replay.map(|r| r.unwrap().payload).collect();
        assert_eq!(recs.len(), 11);
        assert_eq!(recs[10], b"after");
        println!("EFBIG-CHILD-OK");
    }
}

#[test]
fn write_failure_rolls_back_and_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    let child = spawn_child("child_write_failure", "efbig", tmp.path());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {stdout}");
    assert!(stdout.contains("EFBIG-CHILD-OK"), "child did not run: {stdout}");
}
