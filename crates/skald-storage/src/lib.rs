//! Object storage for flushed data: chunk objects, index files, and the in-memory
//! index and chunk cache built from them.
//!
//! Everything goes through the `object_store` crate, so the local filesystem (the
//! default, under `<data-dir>/chunks`-style keys) and S3-compatible stores (see
//! [`config`]) run the same code.
//!
//! Object keys:
//! - `chunks/<tenant>/<fingerprint:016x>/<from:x>-<through:x>-<crc32c:08x>`: one chunk
//!   (format in `skald-chunk`). The key holds a checksum of the bytes, so a chunk written
//!   twice (for example after a WAL replay) gets the same key and is stored once.
//! - `index/<tenant>/<day>/<writer>-<sequence:016x>.idx`: the chunks one flush added
//!   (format in `skald_index::file`), or, written by the compactor, all chunks of one
//!   tenant and day. Chunks are always written before the index file that names them,
//!   so a reader never sees a reference to a missing chunk.
//!
//! Invariants:
//! - Objects are written whole: a `put` becomes visible atomically (a rename on the
//!   local filesystem, a single PUT on S3), so no reader sees half a chunk or index file.
//! - A chunk becomes visible to queries only through the index, after its object is
//!   fully written, and stays visible while any loaded index file names it
//!   (`catalog.rs`).
//! - Several processes may share one bucket: each writes index files under its own
//!   writer id, and [`Store::refresh_index`] picks up what the others wrote.

mod cache;
mod catalog;
pub mod config;
mod gcs_json;
mod iam;
mod refresh;
mod sharded;
mod store;
#[cfg(test)]
mod test_http;
mod tls;

pub use config::{AwsConfig, AzureConfig, Backend, CommonStorageConfig, GcsConfig, StorageConfig};
pub use refresh::RefreshReport;
pub use store::{ChunkSummary, PACK_TARGET_BYTES, Store, StoreStats};

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The object store did not answer, or failed, after the client's retries.
    #[error("object store unavailable: {0}")]
    Unavailable(std::sync::Arc<object_store::Error>),
    #[error("object {key} not found in the object store")]
    NotFound { key: String },
    #[error("chunk {key} is corrupt: {source}")]
    Chunk { key: String, source: skald_chunk::ChunkError },
    #[error("index file {key} is corrupt: {source}")]
    Index { key: String, source: skald_index::IndexFileError },
    #[error("storage setup failed: {0}")]
    Setup(String),
}

impl From<object_store::Error> for StorageError {
    fn from(error: object_store::Error) -> Self {
        match error {
            object_store::Error::NotFound { path, .. } => StorageError::NotFound { key: path },
            other => StorageError::Unavailable(std::sync::Arc::new(other)),
        }
    }
}

/// Reads a whole object.
pub async fn read_object(objects: &dyn ObjectStore, key: &str) -> Result<bytes::Bytes, StorageError> {
    let path = ObjectPath::from(key);
    let result = objects.get(&path).await.map_err(|e| with_key(e, key))?;
    result.bytes().await.map_err(|e| with_key(e, key))
}

fn with_key(error: object_store::Error, key: &str) -> StorageError {
    match error {
        object_store::Error::NotFound { .. } => StorageError::NotFound { key: key.to_string() },
        other => StorageError::Unavailable(std::sync::Arc::new(other)),
    }
}
