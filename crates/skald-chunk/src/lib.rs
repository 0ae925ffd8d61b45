//! Skald's chunk format: one stream's entries, in time-ordered, columnar, compressed
//! blocks, sealed into chunks that are written to object storage as single objects.
//!
//! The crate is pure: it encodes and decodes bytes and keeps the in-memory head block,
//! but does no IO.
//!
//! # Why this layout (measured on the reference corpus, see BENCHMARKS.md)
//! - Blocks are columnar: timestamps, line lengths and structured metadata sit in a
//!   small *meta section*, the line bytes in a separate *lines section*, each compressed
//!   on its own. A count or rate over a time range reads only the meta sections (~4 MB
//!   for the 200 MB corpus) and never decompresses a line.
//! - zstd level 6 on blocks of up to 1 MiB of lines (the `codec_probe` example measures
//!   the alternatives): the lines of the reference corpus come out 8% smaller than
//!   whole-stream `zstd -3`, compression runs at about 130 MB/s and decoding at about
//!   2 GB/s per core. Lines sections are compressed with a minimum match length of 7
//!   (`Codec::compress_lines`): 2.6% smaller and 9% faster to decode on this corpus of
//!   random IDs, at the same compression speed. Level 9 saves another 3% of disk for
//!   30% more ingest CPU; LZ4 decodes faster but is 1.7x larger on this high-entropy
//!   data. Loki's 256 KB blocks compress 2% worse than 1 MiB ones.
//!
//! # Block encoding (all integers little-endian; varints are LEB128)
//! Meta section (before compression):
//! ```text
//! uvarint  entry count n
//! n x uvarint  timestamp delta (first is relative to the block's min_ts; entries are
//!              sorted by timestamp, so deltas are >= 0)
//! n x uvarint  line length in bytes
//! u8       has_metadata (0 or 1)
//! if has_metadata:
//!   uvarint  symbol count s, then s x (uvarint len, bytes) symbols
//!   n x ( uvarint pair count k, k x (uvarint name symbol, uvarint value symbol) )
//! ```
//! Lines section (before compression): the n lines concatenated.
//!
//! # Chunk encoding
//! ```text
//! 0    4  magic "SKC2" ("SKC1": the same without word filters, still readable)
//! 4    1  codec (0 none, 1 zstd, 2 lz4)
//! 5    3  reserved (0)
//! 8    .. blocks: for each block its compressed meta section then compressed lines section
//! ..   .. block index:
//!           uvarint block count b
//!           b x ( varint min_ts, varint max_ts, uvarint entries, uvarint raw line bytes,
//!                 uvarint offset, uvarint meta_len, uvarint meta_raw_len, u32 meta_crc32c,
//!                 uvarint lines_len, uvarint lines_raw_len, u32 lines_crc32c,
//!                 uvarint word filter length, word filter bytes (see `tokens`) )
//! end-12 4 u32 offset of the block index
//! end-8  4 u32 crc32c of the block index
//! end-4  4 magic "SKC2"
//! ```
//! Every section is checked against its CRC32C once, when the chunk is read
//! (`decode_chunk`) or a block arrives from another process (`EncodedBlock::verify`),
//! not at each of the many decodes of a cached chunk; every decoded length is bounded
//! by the lengths in the index, so corrupt bytes give an error, never a panic or an
//! unbounded allocation.

mod block;
mod chunk;
mod codec;
mod head;
mod pack;
pub mod tokens;
mod varint;

pub use block::{BlockMeta, DecodedBlock, EncodedBlock};
pub use chunk::{Chunk, ChunkBlock, decode_chunk, encode_chunk};
pub use codec::Codec;
pub use head::HeadBlock;
pub use pack::{PackEntry, PackInput, decode_pack_directory, encode_pack};

/// Errors decoding chunk bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("chunk is corrupt: {0}")]
    Corrupt(String),
    #[error("chunk checksum mismatch in {0}")]
    Checksum(&'static str),
    #[error("unsupported chunk codec {0}")]
    Codec(u8),
    #[error("decompression failed: {0}")]
    Decompress(String),
}
