//! Object storage for flushed data: chunk objects, index files, and the in-memory
//! index and chunk cache built from them.
//!
//! Everything goes through the `object_store` crate, so the local filesystem (the
//! default, under `<data-dir>/chunks`-style keys) and S3-compatible stores run the same
//! code.
//!
//! Object keys:
//! - `chunks/<tenant>/<fingerprint:016x>/<from:x>-<through:x>-<crc32c:08x>`: one chunk
//!   (format in `skald-chunk`). The key holds a checksum of the bytes, so a chunk written
//!   twice (for example after a WAL replay) gets the same key and is stored once.
//! - `index/<tenant>/<day>/<writer>-<sequence:016x>.idx`: the chunks one flush added
//!   (format in `skald_index::file`). Chunks are always written before the index file
//!   that names them, so a reader never sees a reference to a missing chunk.
//!
//! Invariant: a chunk becomes visible to queries only through the index, after its
//! object is fully written (object stores make a `put` visible atomically).

mod cache;
mod store;

pub use store::{ChunkSummary, Store, StoreStats};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("object store error: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error("chunk {key} is corrupt: {source}")]
    Chunk { key: String, source: skald_chunk::ChunkError },
    #[error("index file {key} is corrupt: {source}")]
    Index { key: String, source: skald_index::IndexFileError },
    #[error("storage setup failed: {0}")]
    Setup(String),
}
