//! Heads are compressed off the stream's lock (on the cutter thread, or by pushes when
//! it falls behind) while pushes and queries go on: every acknowledged entry must be
//! visible to every later query exactly once, whichever stage of cutting it is in.

use skald_common::{Entry, LabelSet, PushStream};
use skald_index::LabelMatcher;
use skald_ingester::{Ingester, IngesterConfig};
use skald_storage::Store;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

const PUSHERS: usize = 2;
const PUSHES: usize = 300;
const STREAMS: usize = 6;
const PER_STREAM: usize = 20;

fn push(ingester: &Ingester, pusher: usize, round: usize) -> usize {
    let streams = (0..STREAMS)
        .map(|s| {
            let labels = LabelSet::from_pairs([("job", format!("cutting-{s}")), ("pusher", pusher.to_string())]);
            let entries = (0..PER_STREAM)
                .map(|i| {
                    let n = round * PER_STREAM + i;
                    // Lines long and varied enough that heads fill and compress for real.
                    Entry {
                        ts: n as i64 + 1,
                        line: format!("pusher {pusher} stream {s} entry {n} {}", "x".repeat(n % 97)),
                        metadata: Vec::new(),
                    }
                })
                .collect();
            PushStream { labels, entries }
        })
        .collect();
    let outcome = ingester.push_blocking("tenant", streams).expect("push");
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    outcome.accepted_entries as usize
}

/// Every entry the ingester would give a query, checked for duplicates.
fn visible(ingester: &Ingester) -> usize {
    let matcher = LabelMatcher::Re("job".into(), regex::Regex::new("^cutting-.*$").unwrap());
    let mut seen = HashSet::new();
    for snapshot in ingester.select("tenant", &[matcher], i64::MIN, i64::MAX) {
        for block in snapshot.blocks {
            let decoded = block.decode(true).expect("block decodes");
            for i in 0..decoded.len() {
                let key = (snapshot.fingerprint, decoded.ts[i], decoded.line(i).to_vec());
                assert!(seen.insert(key), "an entry is visible twice");
            }
        }
    }
    seen.len()
}

#[test]
fn acknowledged_entries_stay_visible_exactly_once_while_heads_are_cut() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::local(&dir.path().join("store"), "test", 1 << 20).unwrap());
    let mut config = IngesterConfig::new(dir.path());
    // Small heads, blocks and budget: cuts by size and by budget happen all the time.
    config.block_size = 4 << 10;
    config.chunk_target_size = 8 << 10;
    config.head_memory_budget = 48 << 10;
    let (ingester, replay) = Ingester::open(config, store).unwrap();
    ingester.replay(replay.expect("wal enabled")).unwrap();
    ingester.start_cutter().unwrap();

    let acknowledged = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (ingester, acknowledged, done) = (ingester.clone(), acknowledged.clone(), done.clone());
        std::thread::spawn(move || {
            let mut queries = 0;
            while !done.load(Ordering::SeqCst) {
                let before = acknowledged.load(Ordering::SeqCst);
                let seen = visible(&ingester);
                assert!(seen >= before, "a query saw {seen} entries, {before} were acknowledged before it");
                queries += 1;
            }
            queries
        })
    };
    let pushers: Vec<_> = (0..PUSHERS)
        .map(|pusher| {
            let (ingester, acknowledged) = (ingester.clone(), acknowledged.clone());
            std::thread::spawn(move || {
                for round in 0..PUSHES {
                    let accepted = push(&ingester, pusher, round);
                    acknowledged.fetch_add(accepted, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for pusher in pushers {
        pusher.join().unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let queries = reader.join().unwrap();
    let total = PUSHERS * PUSHES * STREAMS * PER_STREAM;
    assert_eq!(acknowledged.load(Ordering::SeqCst), total);
    assert_eq!(visible(&ingester), total);
    assert!(queries > 1, "the reader ran alongside the pushers");
    // Cuts really happened: most of the data sits in compressed blocks.
    assert!(ingester.stats().head_bytes < (48 << 10) * 2, "heads hold {} bytes", ingester.stats().head_bytes);
}
