//! The ingester: holds recent entries of every stream in memory, makes them durable in
//! the write-ahead log before acknowledging, cuts them into compressed blocks and
//! chunks, and flushes sealed chunks to object storage.
//!
//! Life of an entry:
//! 1. [`Ingester::push`] checks order and duplicates per stream, appends one WAL record
//!    for the accepted entries of the whole request (group-committed with concurrent
//!    pushes), then appends them to each stream's head block.
//! 2. A head block is cut into a compressed block when it holds `block_size` bytes of
//!    lines, or when the heads of all streams together exceed `head_memory_budget`
//!    (largest heads first), so memory follows the ingest rate, not the stream count.
//! 3. Blocks accumulate into the stream's open chunk, which is sealed when it reaches
//!    `chunk_target_size` compressed bytes, spans `max_chunk_age`, or idles for
//!    `chunk_idle_period`; the flush loop writes sealed chunks to the store, indexes
//!    them, and only then drops them from memory.
//! 4. A WAL segment is deleted once no stream holds unflushed data from it.
//!
//! Queries read the same memory through [`Ingester::select`], which hands out shared
//! blocks plus a copy of the head entries in range, so readers never hold stream locks
//! while scanning.

mod config;
mod flush;
mod ingester;
mod stream;
mod wal_record;

pub use config::IngesterConfig;
pub use flush::FlushReport;
pub use ingester::{Ingester, IngesterStats, PushOutcome, StreamLimitFn, StreamSnapshot, TailBatch};
/// A WAL replay handed back by [`Ingester::open`], to pass to [`Ingester::replay`].
pub use skald_wal::Replay;

/// Decodes one WAL record the way replay does (for fuzzing): `Err` names what is wrong.
pub fn check_wal_record(bytes: &[u8]) -> Result<(), String> {
    wal_record::decode(bytes).map(|_| ())
}

/// Errors of the ingester, each with the status it maps to.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The write-ahead log could not take the entries (disk full, I/O error): nothing
    /// of the push is acknowledged.
    #[error("writing the write-ahead log failed; the push was not acknowledged: {0}")]
    Wal(#[from] skald_wal::WalError),
    #[error("storage error: {0}")]
    Storage(#[from] skald_storage::StorageError),
    #[error("ingester is not ready: {0}")]
    NotReady(String),
    #[error("{0}")]
    Internal(String),
}

impl IngestError {
    pub fn status(&self) -> u16 {
        match self {
            IngestError::NotReady(_) => 503,
            _ => 500,
        }
    }
}
