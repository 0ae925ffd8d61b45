//! The querier: answers LogQL and metadata queries for one tenant by combining the
//! ingester's in-memory data with flushed chunks from the store.
//!
//! A stream may have data in both places (a chunk is indexed before the ingester drops
//! it, and a WAL replay can re-ingest flushed entries), so every stream is read as one
//! merged, deduplicated sequence of blocks ([`scan::BlockScan`]): entries equal in
//! timestamp, line and metadata are returned once, as Loki's merge iterators do.

pub mod admission;
mod detected;
mod patterns;
mod querier;
mod query_limits;
mod recent;
mod scan;
mod source;
pub mod tenants;
mod volume;

pub use querier::{IndexStats, Querier, QueryError, QueryOutput, QueryRequest, QueryStats};
pub use query_limits::humanize_bytes;
pub use recent::{RecentData, SelectHints, apply_hints, retain_blocks_with_words};
pub use scan::BlockRef;
pub use source::compile_matchers;

pub use detected::{DEFAULT_FIELD_LIMIT, DEFAULT_LINE_LIMIT, DetectedField, DetectedFieldsRequest, DetectedLabel, determine_type};
pub use patterns::{PatternMiner, PatternSeries, PatternsRequest};
pub use volume::{AggregateBy, DEFAULT_VOLUME_LIMIT, VolumeRequest, VolumeResult, VolumeSeries};
