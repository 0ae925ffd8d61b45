//! Rewriting one chunk without the entries delete requests remove.
//!
//! The new chunk is returned, not written: the day's pass writes it into the pack it
//! writes anyway (`compact.rs`), before any index names it; the old chunk's object is
//! only marked for deletion once no index names anything in it.

use crate::CompactorError;
use crate::chunk_writer::ChunkWriter;
use crate::deletes::{CompiledDelete, EntryMatcher};
use skald_chunk::PackInput;
use skald_common::LabelSet;
use skald_index::ChunkRef;
use skald_storage::Store;

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
    let mut writer = ChunkWriter::new(fingerprint, chunk.codec);
    let mut removed = 0u64;
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
            writer.append(ts, &line, metadata);
        }
    }
    if removed == 0 {
        return Ok(Rewrite::Unchanged);
    }
    match writer.seal() {
        None => Ok(Rewrite::Emptied),
        Some(chunk) => Ok(Rewrite::Replaced(chunk)),
    }
}
