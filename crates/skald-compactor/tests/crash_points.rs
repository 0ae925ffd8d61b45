//! Compaction interrupted at each step (simulated by restoring the objects a crash
//! would have left) leaves every entry readable exactly once (as queries read it:
//! two copies of a chunk, one in a merged pack and one not yet deleted, hold the same
//! entries, which queries deduplicate), and the next pass finishes the work, leaving
//! one copy. Chunks are flushed as chunk objects of the layout before packs, so the
//! passes also convert them into packs. Runs on the local filesystem through the real
//! `object_store`.

use skald_chunk::{Codec, HeadBlock, encode_chunk};
use skald_common::LabelSet;
use skald_compactor::deletes::{DeleteRequest, DeleteStatus, put_request};
use skald_compactor::{Compactor, CompactorConfig, Retention};
use skald_index::LabelMatcher;
use skald_storage::{ChunkSummary, Store};
use std::path::Path;
use std::sync::Arc;

fn files(dir: &Path, prefix: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.join(prefix)];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if entry.path().is_dir() {
                stack.push(entry.path());
            } else {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    out
}

async fn flush(store: &Store, lines: &[(i64, &str)]) {
    let mut head = HeadBlock::new();
    for (ts, line) in lines {
        head.append(*ts, line, &[]);
    }
    let bytes = encode_chunk(&[head.cut(Codec::Zstd(3)).unwrap()]);
    let from = lines.first().unwrap().0;
    let through = lines.last().unwrap().0;
    let summary = ChunkSummary { from, through, entries: lines.len() as u64, raw_bytes: 10 };
    let chunk = store.put_chunk("t", 7, bytes, summary).await.unwrap();
    store.index_chunks("t", vec![(7, LabelSet::from_pairs([("app", "x")]), chunk)]).await.unwrap();
}

/// Every entry a fresh reader of the bucket sees, as queries see them (duplicate
/// entries once), and whether some chunk was read twice.
async fn read_all(dir: &Path) -> Vec<String> {
    let raw = read_raw(dir).await;
    let mut distinct = raw.clone();
    distinct.dedup();
    distinct
}

/// Every line of every chunk the index names, sorted, duplicates included.
async fn read_raw(dir: &Path) -> Vec<String> {
    let reader = Store::local(dir, "reader", 1 << 20).unwrap();
    reader.load_index().await.unwrap();
    let mut out = Vec::new();
    for selected in reader.select("t", &[LabelMatcher::Eq("app".into(), "x".into())], 0, i64::MAX) {
        for chunk_ref in selected.chunks {
            let chunk = reader.get_chunk(&chunk_ref.key).await.unwrap();
            for i in 0..chunk.blocks.len() {
                let block = chunk.decode_block(i, true).unwrap();
                for j in 0..block.len() {
                    out.push(String::from_utf8_lossy(block.line(j)).into_owned());
                }
            }
        }
    }
    out.sort();
    out
}

fn config() -> CompactorConfig {
    CompactorConfig { retention_delete_delay: 0, delete_request_cancel_period: 0, ..CompactorConfig::default() }
}

/// Objects under a prefix that are not temporary files of a write in progress.
fn objects(dir: &Path, prefix: &str) -> usize {
    files(dir, prefix).iter().filter(|p| !p.to_string_lossy().contains("#")).count()
}

#[tokio::test]
async fn a_crash_between_merged_write_and_input_delete_counts_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::local(dir.path(), "w", 1 << 20).unwrap());
    flush(&store, &[(1_000, "a"), (2_000, "b")]).await;
    flush(&store, &[(3_000, "c")]).await;
    flush(&store, &[(4_000, "d")]).await;
    let inputs: Vec<(std::path::PathBuf, Vec<u8>)> =
        files(dir.path(), "index").into_iter().map(|p| (p.clone(), std::fs::read(&p).unwrap())).collect();
    assert_eq!(inputs.len(), 3);
    // Objects are deleted a while after the index stops naming them: the crash below
    // comes before that.
    let config = CompactorConfig { retention_delete_delay: 100_000, ..config() };
    let compactor = Compactor::new(store.clone(), config, Retention::default());
    let report = compactor.run_once(10_000).await.unwrap();
    assert_eq!((report.objects_merged, report.packs_written), (3, 1), "the three chunk objects became one pack");
    assert_eq!(files(dir.path(), "index").len(), 1);
    // The crash: inputs still there beside the merged file.
    for (path, bytes) in &inputs {
        std::fs::write(path, bytes).unwrap();
    }
    assert_eq!(read_all(dir.path()).await, vec!["a", "b", "c", "d"]);
    compactor.run_once(20_000).await.unwrap();
    assert_eq!(files(dir.path(), "index").len(), 1);
    assert_eq!(read_raw(dir.path()).await, vec!["a", "b", "c", "d"], "one copy of each chunk is named");
    // Once the delay is over, the chunk objects and the first pack go.
    compactor.run_once(200_000).await.unwrap();
    assert_eq!((objects(dir.path(), "chunks"), objects(dir.path(), "packs")), (0, 1));
    assert_eq!(read_raw(dir.path()).await, vec!["a", "b", "c", "d"]);
}

#[tokio::test]
async fn a_delete_request_rerun_after_a_crash_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::local(dir.path(), "w", 1 << 20).unwrap());
    flush(&store, &[(1_000, "keep 1"), (2_000, "secret 2"), (3_000, "keep 3")]).await;
    let index_before: Vec<(std::path::PathBuf, Vec<u8>)> =
        files(dir.path(), "index").into_iter().map(|p| (p.clone(), std::fs::read(&p).unwrap())).collect();
    let request = DeleteRequest {
        request_id: "r1".into(),
        tenant: "t".into(),
        query: r#"{app="x"} |= "secret""#.into(),
        start: 0,
        end: 5_000,
        created_at: 0,
        status: DeleteStatus::Received,
    };
    put_request(store.objects().as_ref(), &request).await.unwrap();
    let compactor = Compactor::new(store.clone(), config(), Retention::default());
    let report = compactor.run_once(10_000).await.unwrap();
    assert_eq!((report.chunks_rewritten, report.delete_requests_processed), (1, 1));
    assert_eq!(read_all(dir.path()).await, vec!["keep 1", "keep 3"]);
    // The crash: the old index file is back (the input delete was lost) and the request
    // was never marked processed. The old chunk was already swept, so only the rerun
    // can make the index whole again; it must converge to the same state.
    for (path, bytes) in &index_before {
        std::fs::write(path, bytes).unwrap();
    }
    put_request(store.objects().as_ref(), &request).await.unwrap();
    compactor.run_once(20_000).await.unwrap();
    assert_eq!(files(dir.path(), "index").len(), 1);
    assert_eq!((objects(dir.path(), "chunks"), objects(dir.path(), "packs")), (0, 1));
    assert_eq!(read_raw(dir.path()).await, vec!["keep 1", "keep 3"]);
}
