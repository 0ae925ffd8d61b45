//! Writing entries (in time order, or not: blocks sort their entries) as chunks of the
//! ingester's shape: blocks of `BLOCK_BYTES` raw line bytes, sealed on demand.

use skald_chunk::{Codec, HeadBlock, PackInput, encode_chunk};
use skald_common::Label;

/// Raw line bytes per block of a rewritten chunk (the ingester's default block size).
const BLOCK_BYTES: usize = 1 << 20;

/// Builds one chunk at a time from entries in time order.
pub struct ChunkWriter {
    fingerprint: u64,
    codec: Codec,
    head: HeadBlock,
    blocks: Vec<skald_chunk::EncodedBlock>,
    compressed: usize,
    entries: u64,
    raw_bytes: u64,
    from: i64,
    through: i64,
}

impl ChunkWriter {
    /// A writer in `codec`. A chunk read back names zstd without its level, so zstd is
    /// written at the level the ingester writes (`chunk_encoding: zstd`), not zstd's
    /// default, which would grow every rewritten chunk.
    pub fn new(fingerprint: u64, codec: Codec) -> ChunkWriter {
        let codec = match codec {
            Codec::Zstd(_) => Codec::parse("zstd").unwrap_or(codec),
            other => other,
        };
        ChunkWriter {
            fingerprint,
            codec,
            head: HeadBlock::new(),
            blocks: Vec::new(),
            compressed: 0,
            entries: 0,
            raw_bytes: 0,
            from: i64::MAX,
            through: i64::MIN,
        }
    }

    pub fn append(&mut self, ts: i64, line: &str, metadata: &[Label]) {
        self.head.append(ts, line, metadata);
        self.entries += 1;
        self.raw_bytes += line.len() as u64;
        self.from = self.from.min(ts);
        self.through = self.through.max(ts);
        if self.head.raw_bytes() >= BLOCK_BYTES {
            self.cut();
        }
    }

    /// Compressed bytes of the blocks cut so far.
    pub fn compressed_bytes(&self) -> usize {
        self.compressed
    }

    fn cut(&mut self) {
        if let Some(block) = self.head.cut(self.codec) {
            self.compressed += block.compressed_bytes();
            self.blocks.push(block);
        }
    }

    /// The chunk so far (none when empty); the writer starts a new one.
    pub fn seal(&mut self) -> Option<PackInput> {
        self.cut();
        if self.blocks.is_empty() {
            return None;
        }
        let bytes = encode_chunk(&self.blocks);
        let chunk = PackInput {
            fingerprint: self.fingerprint,
            from: self.from,
            through: self.through,
            entries: self.entries,
            raw_bytes: self.raw_bytes,
            bytes,
        };
        *self = ChunkWriter::new(self.fingerprint, self.codec);
        Some(chunk)
    }
}
