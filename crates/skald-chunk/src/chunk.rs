//! Sealed chunks: blocks concatenated with an index and footer (layout in crate docs).

use crate::ChunkError;
use crate::block::{BlockMeta, DecodedBlock, EncodedBlock};
use crate::codec::Codec;
use crate::varint::{Reader, put_uvarint, put_varint};

const MAGIC: &[u8; 4] = b"SKC2";
/// Chunks written before word filters existed: the same layout without them.
const MAGIC_V1: &[u8; 4] = b"SKC1";
const HEADER_LEN: usize = 8;
const FOOTER_LEN: usize = 12;

/// A block inside a decoded chunk: its metadata, where its sections sit, and its word
/// filter (empty in version-1 chunks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkBlock {
    pub meta: BlockMeta,
    pub offset: usize,
    pub word_filter: Vec<u8>,
}

impl ChunkBlock {
    /// False when the block certainly holds no line with `word` as a whole token.
    pub fn may_contain_word(&self, word: &[u8]) -> bool {
        self.word_filter.is_empty() || crate::tokens::may_contain(&self.word_filter, word)
    }
}

/// A chunk read back from bytes: the block index, with the bytes kept for lazy block
/// decoding.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub codec: Codec,
    pub blocks: Vec<ChunkBlock>,
    pub bytes: Vec<u8>,
}

impl Chunk {
    pub fn min_ts(&self) -> i64 {
        self.blocks.iter().map(|b| b.meta.min_ts).min().unwrap_or(0)
    }

    pub fn max_ts(&self) -> i64 {
        self.blocks.iter().map(|b| b.meta.max_ts).max().unwrap_or(0)
    }

    pub fn entries(&self) -> u64 {
        self.blocks.iter().map(|b| u64::from(b.meta.entries)).sum()
    }

    /// The compressed sections of block `i`.
    pub fn sections(&self, i: usize) -> (&[u8], &[u8]) {
        let block = &self.blocks[i];
        let meta_end = block.offset + block.meta.meta_len as usize;
        let lines_end = meta_end + block.meta.lines_len as usize;
        (&self.bytes[block.offset..meta_end], &self.bytes[meta_end..lines_end])
    }

    pub fn decompress_lines(&self, i: usize) -> Result<Vec<u8>, ChunkError> {
        let (_, lines_section) = self.sections(i);
        crate::block::decompress_lines(&self.blocks[i].meta, self.codec, lines_section)
    }

    pub fn decode_block(&self, i: usize, with_lines: bool) -> Result<DecodedBlock, ChunkError> {
        let (meta_section, lines_section) = self.sections(i);
        DecodedBlock::decode(&self.blocks[i].meta, self.codec, meta_section, with_lines.then_some(lines_section))
    }
}

/// Seals blocks (sorted by their min timestamp by the caller or not: readers do not
/// assume it) into chunk bytes.
pub fn encode_chunk(blocks: &[impl AsRef<EncodedBlock>]) -> Vec<u8> {
    let codec = blocks.first().map(|b| b.as_ref().codec).unwrap_or(Codec::None);
    let data_len: usize = blocks.iter().map(|b| b.as_ref().compressed_bytes()).sum();
    let mut out = Vec::with_capacity(HEADER_LEN + data_len + blocks.len() * 40 + FOOTER_LEN);
    out.extend_from_slice(MAGIC);
    out.push(codec.id());
    out.extend_from_slice(&[0, 0, 0]);
    let mut index = Vec::with_capacity(blocks.len() * 40);
    put_uvarint(&mut index, blocks.len() as u64);
    for block in blocks {
        let block = block.as_ref();
        debug_assert_eq!(block.codec.id(), codec.id(), "one codec per chunk");
        let offset = out.len();
        out.extend_from_slice(&block.meta_section);
        out.extend_from_slice(&block.lines_section);
        let m = &block.meta;
        put_varint(&mut index, m.min_ts);
        put_varint(&mut index, m.max_ts);
        put_uvarint(&mut index, u64::from(m.entries));
        put_uvarint(&mut index, m.raw_bytes);
        put_uvarint(&mut index, offset as u64);
        put_uvarint(&mut index, u64::from(m.meta_len));
        put_uvarint(&mut index, u64::from(m.meta_raw_len));
        index.extend_from_slice(&m.meta_crc.to_le_bytes());
        put_uvarint(&mut index, u64::from(m.lines_len));
        put_uvarint(&mut index, u64::from(m.lines_raw_len));
        index.extend_from_slice(&m.lines_crc.to_le_bytes());
        put_uvarint(&mut index, block.word_filter.len() as u64);
        index.extend_from_slice(&block.word_filter);
    }
    let index_offset = out.len() as u32;
    let index_crc = crc32c::crc32c(&index);
    out.extend_from_slice(&index);
    out.extend_from_slice(&index_offset.to_le_bytes());
    out.extend_from_slice(&index_crc.to_le_bytes());
    out.extend_from_slice(MAGIC);
    out
}

impl AsRef<EncodedBlock> for EncodedBlock {
    fn as_ref(&self) -> &EncodedBlock {
        self
    }
}

/// Reads a chunk's header, index and footer and checks every block's checksums;
/// blocks are decoded on demand.
pub fn decode_chunk(bytes: Vec<u8>) -> Result<Chunk, ChunkError> {
    if bytes.len() < HEADER_LEN + FOOTER_LEN || bytes[0..4] != bytes[bytes.len() - 4..] {
        return Err(ChunkError::Corrupt("bad magic or too short".into()));
    }
    let has_filters = match &bytes[0..4] {
        m if m == MAGIC => true,
        m if m == MAGIC_V1 => false,
        _ => return Err(ChunkError::Corrupt("bad magic".into())),
    };
    let codec = Codec::from_id(bytes[4])?;
    let footer = &bytes[bytes.len() - FOOTER_LEN..];
    let index_offset = u32::from_le_bytes([footer[0], footer[1], footer[2], footer[3]]) as usize;
    let index_crc = u32::from_le_bytes([footer[4], footer[5], footer[6], footer[7]]);
    let index_end = bytes.len() - FOOTER_LEN;
    if index_offset < HEADER_LEN || index_offset > index_end {
        return Err(ChunkError::Corrupt("index offset out of range".into()));
    }
    let index = &bytes[index_offset..index_end];
    if crc32c::crc32c(index) != index_crc {
        return Err(ChunkError::Checksum("chunk index"));
    }
    let mut r = Reader::new(index);
    let count = r.len(index.len())?;
    let mut blocks = Vec::with_capacity(count);
    for _ in 0..count {
        let min_ts = r.varint()?;
        let max_ts = r.varint()?;
        let entries = r.len(u32::MAX as usize)? as u32;
        let raw_bytes = r.uvarint()?;
        let offset = r.len(index_offset)?;
        let meta_len = r.len(index_offset)? as u32;
        let meta_raw_len = r.len(u32::MAX as usize)? as u32;
        let meta_crc = r.u32()?;
        let lines_len = r.len(index_offset)? as u32;
        let lines_raw_len = r.len(u32::MAX as usize)? as u32;
        let lines_crc = r.u32()?;
        let word_filter = if has_filters {
            let len = r.len(r.remaining())?;
            r.take(len)?.to_vec()
        } else {
            Vec::new()
        };
        let end = offset + meta_len as usize + lines_len as usize;
        if offset < HEADER_LEN || end > index_offset {
            return Err(ChunkError::Corrupt("block extends beyond the data".into()));
        }
        let meta = BlockMeta { min_ts, max_ts, entries, raw_bytes, meta_len, meta_raw_len, meta_crc, lines_len, lines_raw_len, lines_crc };
        let lines_start = offset + meta_len as usize;
        crate::block::verify_sections(&meta, &bytes[offset..lines_start], &bytes[lines_start..end])?;
        blocks.push(ChunkBlock { meta, offset, word_filter });
    }
    Ok(Chunk { codec, blocks, bytes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HeadBlock;
    use proptest::prelude::*;
    use skald_common::Label;

    fn entries_of(chunk: &Chunk) -> Vec<(i64, String, Vec<Label>)> {
        let mut out = Vec::new();
        for i in 0..chunk.blocks.len() {
            let block = chunk.decode_block(i, true).unwrap();
            for j in 0..block.len() {
                out.push((block.ts[j], String::from_utf8(block.line(j).to_vec()).unwrap(), block.metadata(j).to_vec()));
            }
        }
        out
    }

    #[test]
    fn round_trip_with_metadata_and_out_of_order() {
        let mut head = HeadBlock::new();
        head.append(10, "b", &[]);
        head.append(5, "a", &[Label::new("trace_id", "x1")]);
        head.append(20, "c", &[Label::new("trace_id", "x1"), Label::new("k", "v")]);
        let block = head.cut(Codec::Zstd(3)).unwrap();
        assert!(head.is_empty());
        assert_eq!(block.meta.min_ts, 5);
        assert_eq!(block.meta.max_ts, 20);
        let chunk = decode_chunk(encode_chunk(&[block])).unwrap();
        let got = entries_of(&chunk);
        assert_eq!(got[0], (5, "a".to_string(), vec![Label::new("trace_id", "x1")]));
        assert_eq!(got[1], (10, "b".to_string(), vec![]));
        assert_eq!(got[2].2.len(), 2);
    }

    #[test]
    fn many_distinct_metadata_sets_round_trip() {
        // Sets of one and two pairs (packed by the decoder) and of three (hashed).
        let set = |i: i64| match i % 3 {
            0 => vec![],
            1 => vec![Label::new("trace_id", format!("t{}", i % 40))],
            2 if i % 2 == 0 => vec![Label::new("trace_id", format!("t{}", i % 40)), Label::new("detected_level", "info")],
            _ => vec![Label::new("a", format!("{}", i % 7)), Label::new("b", "x"), Label::new("c", format!("{}", i % 5))],
        };
        let mut head = HeadBlock::new();
        for i in 0..400 {
            head.append(i, &format!("line {i}"), &set(i));
        }
        let chunk = decode_chunk(encode_chunk(&[head.cut(Codec::Zstd(3)).unwrap()])).unwrap();
        let got = entries_of(&chunk);
        assert_eq!(got.len(), 400);
        for (i, (ts, line, metadata)) in got.into_iter().enumerate() {
            assert_eq!((ts, line.as_str(), metadata), (i as i64, format!("line {i}").as_str(), set(i as i64)));
        }
    }

    #[test]
    fn a_corrupt_block_section_is_refused_when_the_chunk_is_read() {
        let mut head = HeadBlock::new();
        for i in 0..100 {
            head.append(i, &format!("line {i} of a block"), &[Label::new("detected_level", "info")]);
        }
        let block = head.cut(Codec::Zstd(3)).unwrap();
        let meta_len = block.meta_section.len();
        let bytes = encode_chunk(&[block]);
        assert!(decode_chunk(bytes.clone()).is_ok());
        let offset = decode_chunk(bytes.clone()).unwrap().blocks[0].offset;
        for (at, section) in [(offset, "block meta section"), (offset + meta_len, "block lines section")] {
            let mut corrupt = bytes.clone();
            corrupt[at] ^= 0x40;
            match decode_chunk(corrupt) {
                Err(ChunkError::Checksum(what)) => assert_eq!(what, section),
                other => panic!("expected a checksum error in the {section}, got {:?}", other.map(|c| c.blocks.len())),
            }
        }
    }

    #[test]
    fn word_filters_survive_the_chunk_format() {
        let mut head = HeadBlock::new();
        head.append(1, "upstream timed out while reading", &[]);
        let chunk = decode_chunk(encode_chunk(&[head.cut(Codec::Zstd(1)).unwrap()])).unwrap();
        assert!(chunk.blocks[0].may_contain_word(b"timed"));
        assert!(!chunk.blocks[0].may_contain_word(b"needle"));
        // A version-1 chunk (no filters) still decodes and rules nothing out.
        let mut v1 = encode_chunk(&[{
            let mut head = HeadBlock::new();
            head.append(1, "x", &[]);
            let mut block = head.cut(Codec::None).unwrap();
            block.word_filter.clear();
            block
        }]);
        let n = v1.len();
        // Without a filter the index ends with a zero length byte; v1 has no such field.
        let index_offset = u32::from_le_bytes(v1[n - 12..n - 8].try_into().unwrap()) as usize;
        v1.remove(n - 13);
        let n = v1.len();
        let crc = crc32c::crc32c(&v1[index_offset..n - 12]);
        v1[n - 8..n - 4].copy_from_slice(&crc.to_le_bytes());
        v1[0..4].copy_from_slice(b"SKC1");
        v1[n - 4..].copy_from_slice(b"SKC1");
        let chunk = decode_chunk(v1).unwrap();
        assert!(chunk.blocks[0].may_contain_word(b"anything"));
        assert_eq!(chunk.decode_block(0, true).unwrap().line(0), b"x");
    }

    #[test]
    fn count_without_lines() {
        let mut head = HeadBlock::new();
        for i in 0..1000 {
            head.append(i, &format!("line {i}"), &[]);
        }
        let block = head.cut(Codec::Lz4).unwrap();
        let decoded = block.decode(false).unwrap();
        assert_eq!(decoded.ts.len(), 1000);
        assert!(decoded.lines.is_empty());
        assert_eq!(decoded.line_len(999), "line 999".len());
    }

    #[test]
    fn corrupt_bytes_are_errors_not_panics() {
        let mut head = HeadBlock::new();
        head.append(1, "hello", &[]);
        let bytes = encode_chunk(&[head.cut(Codec::Zstd(1)).unwrap()]);
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x55;
            if let Ok(chunk) = decode_chunk(bad) {
                let _ = chunk.decode_block(0, true);
            }
        }
        for len in 0..bytes.len() {
            assert!(decode_chunk(bytes[..len].to_vec()).is_err());
        }
    }

    proptest! {
        #[test]
        fn encode_decode_round_trip(
            entries in proptest::collection::vec((0i64..1_000_000, "\\PC{0,40}", proptest::option::of("[a-z]{1,4}")), 1..200),
            codec in prop_oneof![Just(Codec::None), Just(Codec::Lz4), Just(Codec::Zstd(3))],
            cut_every in 1usize..64,
        ) {
            let mut head = HeadBlock::new();
            let mut blocks = Vec::new();
            for (i, (ts, line, meta)) in entries.iter().enumerate() {
                let metadata: Vec<Label> = meta.iter().map(|v| Label::new("m", v.clone())).collect();
                head.append(*ts, line, &metadata);
                if (i + 1) % cut_every == 0 {
                    blocks.extend(head.cut(codec));
                }
            }
            blocks.extend(head.cut(codec));
            let chunk = decode_chunk(encode_chunk(&blocks)).unwrap();
            let mut got = entries_of(&chunk);
            let mut want: Vec<(i64, String, Vec<Label>)> = entries.iter().map(|(ts, line, meta)| {
                (*ts, line.clone(), meta.iter().map(|v| Label::new("m", v.clone())).collect())
            }).collect();
            got.sort();
            want.sort();
            prop_assert_eq!(got, want);
            prop_assert_eq!(chunk.entries(), entries.len() as u64);
        }
    }
}
