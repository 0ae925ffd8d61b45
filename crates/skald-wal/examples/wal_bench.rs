//! Append throughput with group commit.
//!
//! `cargo run --release -p skald-wal --example wal_bench [-- <dir>]`
//! (default dir: a temporary directory; set `WAL_BENCH_NOSYNC=1` to disable
//! fdatasync for comparison).

use std::sync::Arc;
use std::time::Instant;

use skald_wal::{Wal, WalOptions};

fn run(base: &std::path::Path, name: &str, threads: usize, payload: usize, total_bytes: usize, sync: bool) {
    let dir = base.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    let (wal, _) = Wal::open(&dir, WalOptions { sync, ..WalOptions::default() }).unwrap();
    let wal = Arc::new(wal);
    let per_thread = total_bytes / payload / threads;
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let wal = wal.clone();
            std::thread::spawn(move || {
                let buf = vec![t as u8 ^ 0x5a; payload];
                for _ in 0..per_thread {
                    wal.append(&buf).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let st = wal.stats();
    let mb = st.bytes as f64 / 1e6;
    println!(
        "{name:>24}: {threads} threads x {payload:>8} B payloads: {:>8.1} MB/s, {:>9.0} appends/s, {} appends in {} fdatasyncs ({:.1} appends/sync), {:.2}s",
        mb / secs,
        st.records as f64 / secs,
        st.records,
        st.syncs,
        st.records as f64 / st.syncs.max(1) as f64,
        secs
    );
    drop(wal);
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let base = std::env::args().nth(1).map(std::path::PathBuf::from).unwrap_or_else(|| tmp.path().to_path_buf());
    let sync = std::env::var_os("WAL_BENCH_NOSYNC").is_none();
    println!("dir: {} sync: {sync}", base.display());
    run(&base, "1MiB-x8", 8, 1 << 20, 1 << 30, sync);
    run(&base, "64KiB-x8", 8, 64 << 10, 1 << 30, sync);
    run(&base, "1KiB-x8", 8, 1 << 10, 32 << 20, sync);
    run(&base, "1MiB-x1", 1, 1 << 20, 1 << 30, sync);
}
