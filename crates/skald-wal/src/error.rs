use std::io;
use std::path::PathBuf;

/// Errors returned by the WAL.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// An I/O operation failed. `context` says which one, e.g.
    /// `"wal write failed"`, `"wal sync failed"`, `"wal segment create failed"`.
    #[error("{context}: {source}")]
    Io {
        context: String,
        path: Option<PathBuf>,
        #[source]
        source: io::Error,
    },
    /// The payload exceeds [`crate::MAX_RECORD_SIZE`]; nothing was written.
    #[error("wal record too large: {size} bytes exceeds the maximum of {max} bytes")]
    RecordTooLarge { size: usize, max: usize },
    /// Empty payloads are not allowed (a zero length marks corruption on disk).
    #[error("wal record is empty")]
    EmptyRecord,
}

impl WalError {
    pub(crate) fn io(context: impl Into<String>, path: Option<PathBuf>, source: io::Error) -> Self {
        WalError::Io { context: context.into(), path, source }
    }

    /// The underlying I/O error kind, if this is an I/O error.
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            WalError::Io { source, .. } => Some(source.kind()),
            _ => None,
        }
    }
}
