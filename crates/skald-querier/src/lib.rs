//! The querier: answers LogQL and metadata queries for one tenant by combining the
//! ingester's in-memory data with flushed chunks from the store.
//!
//! A stream may have data in both places (a chunk is indexed before the ingester drops
//! it, and a WAL replay can re-ingest flushed entries), so every stream is read as one
//! merged, deduplicated sequence of blocks ([`scan::BlockScan`]): entries equal in
//! timestamp, line and metadata are returned once, as Loki's merge iterators do.

mod querier;
mod scan;
mod source;

pub use querier::{IndexStats, Querier, QueryError, QueryOutput, QueryRequest, QueryStats};
pub use scan::BlockRef;
pub use source::compile_matchers;
