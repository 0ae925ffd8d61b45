//! The one error type of this crate. Messages follow Loki's (dskit's) wording where a
//! Loki error exists, so operators can search for them.

use std::net::SocketAddr;
use std::path::PathBuf;

/// What went wrong joining the cluster or asking the ring.
#[derive(Debug, thiserror::Error)]
pub enum RingError {
    /// The ring holds no tokens: no ingester has joined (dskit's `ErrEmptyRing`).
    #[error("empty ring")]
    EmptyRing,

    /// Fewer healthy instances than the quorum needs (dskit's replication strategy).
    #[error(
        "at least {required} live replicas required, could only find {found} - unhealthy instances: {}",
        unhealthy.join(",")
    )]
    TooManyUnhealthy {
        required: usize,
        found: usize,
        /// Addresses of the instances left out (unhealthy or in a state that cannot serve).
        unhealthy: Vec<String>,
    },

    /// The gossip socket could not be opened.
    #[error("cannot listen for gossip on {addr}: {message}")]
    Bind { addr: SocketAddr, message: String },

    /// A `join_members` entry that cannot be used.
    #[error("invalid memberlist.join_members entry {entry:?}: {reason}")]
    InvalidJoinMember { entry: String, reason: &'static str },

    /// A configuration value that cannot work (named by its Loki key).
    #[error("invalid {key}: {reason}")]
    InvalidConfig { key: &'static str, reason: String },

    /// The tokens file could not be written.
    #[error("cannot write tokens file {path}: {source}")]
    TokensFile { path: PathBuf, source: std::io::Error },
}
