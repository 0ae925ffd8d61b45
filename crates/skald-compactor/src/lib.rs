//! The compactor, as in Loki: it keeps the index small and applies retention and
//! deletes, so that ingesters and queriers never have to.
//!
//! - **Compaction**: ingesters write one small index file per flush and day; the
//!   compactor merges each tenant's files of one day into one (`compact.rs`).
//! - **Retention** (`compactor.retention_enabled`, `limits_config.retention_period`,
//!   `retention_stream`): chunks whose newest entry is older than their stream's period
//!   leave the index and are deleted after `retention_delete_delay` (`retention.rs`,
//!   `markers.rs`).
//! - **Deletes** (Loki's `/loki/api/v1/delete`, `api.rs`): requests are kept in object
//!   storage (`deletes.rs`) and, after `delete_request_cancel_period`, applied by
//!   rewriting the chunks that hold matching entries (`rewrite.rs`).
//!
//! Invariant: every change writes new objects first, then swaps the index (new file,
//! then delete the old ones), then deletes unreferenced chunks, so a crash at any point
//! leaves every entry readable exactly once and a restart finishes the work.
//! Run one compactor per object store (Loki: "run the compactor as a singleton").

mod api;
mod chunk_writer;
mod compact;
mod config;
pub mod deletes;
mod markers;
mod plan;
mod replicas;
pub mod retention;
mod rewrite;

pub use api::{DeleteApi, router};
pub use compact::{CompactionReport, Compactor, RetentionFn};
pub use config::CompactorConfig;
pub use retention::Retention;

use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum CompactorError {
    #[error("{0}")]
    Storage(#[from] skald_storage::StorageError),
    #[error("chunk {key} is corrupt: {source}")]
    Chunk { key: String, source: skald_chunk::ChunkError },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<object_store::Error> for CompactorError {
    fn from(error: object_store::Error) -> Self {
        CompactorError::Storage(error.into())
    }
}

impl CompactorError {
    /// The HTTP status of the delete API for this error.
    pub fn status(&self) -> u16 {
        match self {
            CompactorError::BadRequest(_) | CompactorError::Config(_) => 400,
            CompactorError::Unauthorized(_) => 401,
            CompactorError::NotFound(_) => 404,
            CompactorError::Storage(skald_storage::StorageError::Unavailable(_)) => 503,
            CompactorError::Storage(_) | CompactorError::Chunk { .. } | CompactorError::Internal(_) => 500,
        }
    }
}

/// Runs compaction passes every `compaction_interval` until the process ends. A failed
/// pass is logged and the next one starts over (every pass is idempotent).
pub async fn run(compactor: Arc<Compactor>) {
    let interval = compactor.config().interval();
    loop {
        tokio::time::sleep(interval).await;
        match compactor.run_once(skald_common::unix_nanos_now()).await {
            Ok(report) if report != CompactionReport::default() => tracing::info!(?report, "compaction pass done"),
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "compaction pass failed; retrying next interval"),
        }
    }
}
