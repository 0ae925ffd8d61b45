//! Rewriting one chunk without the entries delete requests remove.
//!
//! The new chunk is returned, not written: the day's pass writes it into the pack it
//! writes anyway (`compact.rs`), before any index names it; the old chunk's object is
//! only marked for deletion once no index names anything in it.

use crate::CompactorError;
use crate::deletes::{CompiledDelete, EntryMatcher};
use skald_chunk::{Codec, HeadBlock, PackInput, encode_chunk};
use skald_common::LabelSet;
use skald_index::ChunkRef;
use skald_storage::Store;

/// Raw line bytes per block of a rewritten chunk (the ingester's default block size).
const BLOCK_BYTES: usize = 1 << 20;

/// What became of a chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rewrite {
    /// No entry matched: the chunk stays as it is.
    Unchanged,
    /// Every entry matched: the chunk leaves the index.
    Emptied,
    /// Some entries matched: this new chunk (not yet written) replaces it.
    Replaced(PackInput),
}

/// Applies every request in `requests` that touches the chunk.
pub async fn rewrite_chunk(
    store: &Store,
    fingerprint: u64,
    labels: &LabelSet,
    chunk_ref: &ChunkRef,
    requests: &[&CompiledDelete],
) -> Result<Rewrite, CompactorError> {
    let chunk = store.get_chunk(&chunk_ref.key).await?;
    let mut matchers: Vec<EntryMatcher> = requests.iter().map(|r| r.for_stream(labels)).collect();
    // Rewritten blocks keep the chunk's codec.
    let codec: Codec = chunk.codec;
    let mut blocks = Vec::new();
    let mut head = HeadBlock::new();
    let mut removed = 0u64;
    let mut kept = 0u64;
    let mut raw_bytes = 0u64;
    let (mut from, mut through) = (i64::MAX, i64::MIN);
    for i in 0..chunk.blocks.len() {
        let block = chunk.decode_block(i, true).map_err(|source| CompactorError::Chunk { key: chunk_ref.key.clone(), source })?;
        for j in 0..block.len() {
            let ts = block.ts[j];
            let line = String::from_utf8_lossy(block.line(j));
            let metadata = block.metadata(j);
            let mut delete = false;
            for matcher in matchers.iter_mut() {
                if matcher.deletes(ts, &line, metadata) {
                    delete = true;
                    break;
                }
            }
            if delete {
                removed += 1;
                continue;
            }
            kept += 1;
            raw_bytes += line.len() as u64;
            from = from.min(ts);
            through = through.max(ts);
            head.append(ts, &line, metadata);
            if head.raw_bytes() >= BLOCK_BYTES
                && let Some(encoded) = head.cut(codec)
            {
                blocks.push(encoded);
            }
        }
    }
    if removed == 0 {
        return Ok(Rewrite::Unchanged);
    }
    if kept == 0 {
        return Ok(Rewrite::Emptied);
    }
    if let Some(encoded) = head.cut(codec) {
        blocks.push(encoded);
    }
    let bytes = encode_chunk(&blocks);
    Ok(Rewrite::Replaced(PackInput { fingerprint, from, through, entries: kept, raw_bytes, bytes }))
}
