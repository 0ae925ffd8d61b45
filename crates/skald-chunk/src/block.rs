//! One compressed block: a meta section (timestamps, lengths, metadata) and a lines
//! section, compressed separately. Byte layout in the crate docs.

use crate::ChunkError;
use crate::codec::Codec;
use crate::varint::{Reader, put_uvarint};
use rustc_hash::FxHashMap as HashMap;
use skald_common::Label;

/// Most entries a block may claim (guards allocations when decoding corrupt bytes).
const MAX_BLOCK_ENTRIES: usize = 1 << 24;
/// Most raw bytes a block section may claim.
const MAX_SECTION_BYTES: usize = 1 << 30;

/// What the chunk index records about a block: enough to skip it or count it without
/// decompressing anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlockMeta {
    pub min_ts: i64,
    pub max_ts: i64,
    pub entries: u32,
    /// Bytes of line text.
    pub raw_bytes: u64,
    pub meta_len: u32,
    pub meta_raw_len: u32,
    pub meta_crc: u32,
    pub lines_len: u32,
    pub lines_raw_len: u32,
    pub lines_crc: u32,
}

/// A block as held in memory by the ingester before its chunk is sealed.
#[derive(Debug, Clone)]
pub struct EncodedBlock {
    pub meta: BlockMeta,
    pub codec: Codec,
    pub meta_section: Vec<u8>,
    pub lines_section: Vec<u8>,
    /// The block's word filter (`tokens.rs`); empty when none was built (a head
    /// snapshot), which rules nothing out.
    pub word_filter: Vec<u8>,
}

impl EncodedBlock {
    pub fn compressed_bytes(&self) -> usize {
        self.meta_section.len() + self.lines_section.len()
    }

    pub fn decode(&self, with_lines: bool) -> Result<DecodedBlock, ChunkError> {
        let lines = with_lines.then_some(self.lines_section.as_slice());
        DecodedBlock::decode(&self.meta, self.codec, &self.meta_section, lines)
    }

    pub fn decompress_lines(&self) -> Result<Vec<u8>, ChunkError> {
        decompress_lines(&self.meta, self.codec, &self.lines_section)
    }

    /// Checks both sections against their checksums: for a block received from
    /// elsewhere (another ingester). Blocks built here need no check, and decoding
    /// does not repeat it.
    pub fn verify(&self) -> Result<(), ChunkError> {
        verify_sections(&self.meta, &self.meta_section, &self.lines_section)
    }

    /// False when the block certainly holds no line with `word` as a whole token. A
    /// block without a filter that is not compressed (a snapshot of an open head) is
    /// searched directly: a word absent from its lines' bytes is no token of them.
    pub fn may_contain_word(&self, word: &[u8]) -> bool {
        if !self.word_filter.is_empty() {
            return crate::tokens::may_contain(&self.word_filter, word);
        }
        match self.codec {
            Codec::None => memchr::memmem::find(&self.lines_section, word).is_some(),
            _ => true,
        }
    }
}

/// Encodes sorted entries into a block. `count` and `raw_bytes` size the buffers.
pub(crate) fn encode_block<'a>(
    entries: impl Iterator<Item = (i64, &'a [u8], &'a [Label])> + Clone,
    count: usize,
    raw_bytes: usize,
    codec: Codec,
    with_word_filter: bool,
) -> EncodedBlock {
    let mut words = with_word_filter.then(crate::tokens::WordFilterBuilder::default);
    let mut ts_col = Vec::with_capacity(count * 5);
    let mut len_col = Vec::with_capacity(count * 2);
    let mut lines = Vec::with_capacity(raw_bytes);
    let mut meta_col = Vec::new();
    let mut symbols: HashMap<&str, u64> = HashMap::default();
    let mut symbol_list: Vec<&str> = Vec::new();
    let mut has_metadata = false;
    let (mut min_ts, mut max_ts, mut prev) = (i64::MAX, i64::MIN, 0i64);
    let mut n = 0u32;
    for (ts, line, metadata) in entries.clone() {
        if n == 0 {
            min_ts = ts;
            prev = ts;
        }
        debug_assert!(ts >= prev, "entries must be sorted");
        put_uvarint(&mut ts_col, (ts - prev) as u64);
        prev = ts;
        max_ts = max_ts.max(ts);
        put_uvarint(&mut len_col, line.len() as u64);
        lines.extend_from_slice(line);
        if let Some(words) = words.as_mut() {
            words.add_line(line);
        }
        put_uvarint(&mut meta_col, metadata.len() as u64);
        for label in metadata {
            has_metadata = true;
            for s in [label.name.as_str(), label.value.as_str()] {
                let next = symbol_list.len() as u64;
                let id = *symbols.entry(s).or_insert_with(|| {
                    symbol_list.push(s);
                    next
                });
                put_uvarint(&mut meta_col, id);
            }
        }
        n += 1;
    }
    let mut meta_raw = Vec::with_capacity(ts_col.len() + len_col.len() + 16);
    put_uvarint(&mut meta_raw, u64::from(n));
    meta_raw.extend_from_slice(&ts_col);
    meta_raw.extend_from_slice(&len_col);
    meta_raw.push(u8::from(has_metadata));
    if has_metadata {
        put_uvarint(&mut meta_raw, symbol_list.len() as u64);
        for s in &symbol_list {
            put_uvarint(&mut meta_raw, s.len() as u64);
            meta_raw.extend_from_slice(s.as_bytes());
        }
        meta_raw.extend_from_slice(&meta_col);
    }
    // The meta section is about 4% of the lines' size, so the block's level costs little.
    let meta_section = codec.compress(&meta_raw);
    let lines_section = codec.compress_lines(&lines);
    let meta = BlockMeta {
        min_ts,
        max_ts,
        entries: n,
        raw_bytes: lines.len() as u64,
        meta_len: meta_section.len() as u32,
        meta_raw_len: meta_raw.len() as u32,
        meta_crc: crc32c::crc32c(&meta_section),
        lines_len: lines_section.len() as u32,
        lines_raw_len: lines.len() as u32,
        lines_crc: crc32c::crc32c(&lines_section),
    };
    let word_filter = words.map(crate::tokens::WordFilterBuilder::finish).unwrap_or_default();
    EncodedBlock { meta, codec, meta_section, lines_section, word_filter }
}

/// Checks a block's sections against the checksums of its meta. Done once, when a
/// chunk is read ([`crate::decode_chunk`]) or a block received
/// ([`EncodedBlock::verify`]), not at every decode: queries decode the same cached
/// blocks again and again, and the check cost ~2% of a search's CPU.
pub(crate) fn verify_sections(meta: &BlockMeta, meta_section: &[u8], lines_section: &[u8]) -> Result<(), ChunkError> {
    if crc32c::crc32c(meta_section) != meta.meta_crc {
        return Err(ChunkError::Checksum("block meta section"));
    }
    if crc32c::crc32c(lines_section) != meta.lines_crc {
        return Err(ChunkError::Checksum("block lines section"));
    }
    Ok(())
}

/// The decompressed lines section of a block (all line bytes, concatenated); the
/// section was checked when it was read (see [`verify_sections`]).
pub fn decompress_lines(meta: &BlockMeta, codec: Codec, section: &[u8]) -> Result<Vec<u8>, ChunkError> {
    let mut lines = Vec::new();
    codec.decompress_into(section, bounded(meta.lines_raw_len)?, &mut lines)?;
    Ok(lines)
}

/// The metadata sets met so far while decoding a block, by their symbol ids. A block
/// usually holds a handful (the `detected_level` values) of one or two pairs: those
/// are packed into one integer and found by a linear scan, without hashing or
/// comparing vectors for every entry; other sets, and packed sets past the first
/// `LINEAR` (per-entry values such as trace ids), go through hash maps.
#[derive(Default)]
struct SeenSets {
    packed: Vec<(u64, u32)>,
    packed_map: HashMap<u64, u32>,
    map: HashMap<Vec<u64>, u32>,
}

impl SeenSets {
    const LINEAR: usize = 16;

    /// Up to four ids of 15 bits each, and the id count, in one integer.
    fn pack(ids: &[u64]) -> Option<u64> {
        if ids.len() > 4 || ids.iter().any(|&id| id >= 1 << 15) {
            return None;
        }
        Some(ids.iter().enumerate().fold(ids.len() as u64, |key, (i, &id)| key | id << (3 + 15 * i)))
    }

    fn get(&self, ids: &[u64]) -> Option<u32> {
        match Self::pack(ids) {
            Some(key) => match self.packed.iter().find(|(k, _)| *k == key) {
                Some((_, index)) => Some(*index),
                None => self.packed_map.get(&key).copied(),
            },
            None => self.map.get(ids).copied(),
        }
    }

    fn insert(&mut self, ids: &[u64], index: u32) {
        match Self::pack(ids) {
            Some(key) if self.packed.len() < Self::LINEAR => self.packed.push((key, index)),
            Some(key) => {
                self.packed_map.insert(key, index);
            }
            None => {
                self.map.insert(ids.to_vec(), index);
            }
        }
    }
}

/// A decoded block: timestamps and line boundaries, and the lines when asked for.
#[derive(Debug, Default)]
pub struct DecodedBlock {
    pub ts: Vec<i64>,
    /// End offset of each line in `lines`.
    pub ends: Vec<u32>,
    /// Empty when decoded without lines.
    pub lines: Vec<u8>,
    /// The distinct metadata sets of the block.
    pub distinct_metadata: Vec<Vec<Label>>,
    /// Per entry index into `distinct_metadata`; empty when the block has none.
    pub metadata_index: Vec<u32>,
}

impl DecodedBlock {
    pub fn decode(meta: &BlockMeta, codec: Codec, meta_section: &[u8], lines_section: Option<&[u8]>) -> Result<DecodedBlock, ChunkError> {
        let meta_codec = codec;
        let mut raw = Vec::new();
        meta_codec.decompress_into(meta_section, bounded(meta.meta_raw_len)?, &mut raw)?;
        let mut r = Reader::new(&raw);
        let n = r.len(MAX_BLOCK_ENTRIES)?;
        if n != meta.entries as usize {
            return Err(ChunkError::Corrupt("entry count mismatch".into()));
        }
        let mut block = DecodedBlock { ts: Vec::with_capacity(n), ends: Vec::with_capacity(n), ..Default::default() };
        let mut ts = meta.min_ts;
        for _ in 0..n {
            let delta = r.uvarint()?;
            ts = ts.checked_add(delta as i64).ok_or_else(|| ChunkError::Corrupt("timestamp overflow".into()))?;
            block.ts.push(ts);
        }
        let mut end: u64 = 0;
        for _ in 0..n {
            end += r.uvarint()?;
            if end > u64::from(meta.lines_raw_len) {
                return Err(ChunkError::Corrupt("line lengths exceed the lines section".into()));
            }
            block.ends.push(end as u32);
        }
        if end != u64::from(meta.lines_raw_len) {
            return Err(ChunkError::Corrupt("line lengths do not add up".into()));
        }
        if r.u8()? == 1 {
            let count = r.len(r.remaining())?;
            let mut symbols = Vec::with_capacity(count);
            for _ in 0..count {
                let len = r.len(r.remaining())?;
                let bytes = r.take(len)?;
                symbols.push(String::from_utf8_lossy(bytes).into_owned());
            }
            // Entries repeat the same few metadata sets: decode each distinct set once.
            let mut seen = SeenSets::default();
            let mut ids: Vec<u64> = Vec::new();
            block.metadata_index.reserve(n);
            for _ in 0..n {
                let pairs = r.len(r.remaining())?;
                ids.clear();
                for _ in 0..pairs * 2 {
                    let id = r.uvarint()?;
                    if id as usize >= symbols.len() {
                        return Err(ChunkError::Corrupt("bad symbol".into()));
                    }
                    ids.push(id);
                }
                let index = match seen.get(&ids) {
                    Some(index) => index,
                    None => {
                        let labels = ids
                            .chunks(2)
                            .map(|pair| Label { name: symbols[pair[0] as usize].clone(), value: symbols[pair[1] as usize].clone() })
                            .collect();
                        let index = block.distinct_metadata.len() as u32;
                        block.distinct_metadata.push(labels);
                        seen.insert(&ids, index);
                        index
                    }
                };
                block.metadata_index.push(index);
            }
        }
        if let Some(section) = lines_section {
            block.lines = decompress_lines(meta, codec, section)?;
        }
        Ok(block)
    }

    pub fn len(&self) -> usize {
        self.ts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// The line bytes of entry `i` (requires a decode with lines).
    pub fn line(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.lines[start..self.ends[i] as usize]
    }

    pub fn line_len(&self, i: usize) -> usize {
        let start = if i == 0 { 0 } else { self.ends[i - 1] } as usize;
        self.ends[i] as usize - start
    }

    pub fn metadata(&self, i: usize) -> &[Label] {
        match self.metadata_index.get(i) {
            Some(&index) => &self.distinct_metadata[index as usize],
            None => &[],
        }
    }
}

fn bounded(len: u32) -> Result<usize, ChunkError> {
    let len = len as usize;
    if len > MAX_SECTION_BYTES {
        return Err(ChunkError::Corrupt(format!("section of {len} bytes is too large")));
    }
    Ok(len)
}
