//! The label index: which streams exist, what their labels are, and which chunks hold
//! their entries, so that a selector finds its streams without reading any chunk.
//!
//! The index never sees log text. It is kept per tenant and per day (a chunk spanning
//! midnight is listed in both days), with postings `label name -> value -> streams`.
//! The ingester uses [`Postings`] for its in-memory streams; the store keeps a
//! [`TenantIndex`] built from index files (see [`file`]) that flushes write next to the
//! chunks in object storage.

pub mod chunk_key;
pub mod file;
mod matcher;
mod postings;
mod tenant;

pub use chunk_key::{ChunkLocation, locate, pack_chunk_key};
pub use file::{IndexFile, IndexFileError};
pub use matcher::{LabelMatcher, MatcherError};
pub use postings::Postings;
pub use tenant::{ChunkRef, SelectedStream, TenantIndex, day_of};
