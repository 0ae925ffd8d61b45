//! Packs: many streams' chunks in one object, with a directory (layout in
//! `docs/packs.md`). A chunk in a pack is a complete chunk encoding, so a byte range of a
//! pack decodes with [`crate::decode_chunk`] as a chunk object does.

use crate::ChunkError;
use crate::varint::{Reader, put_uvarint, put_varint};

const MAGIC: &[u8; 4] = b"SKP1";
const FOOTER_LEN: usize = 16;

/// One chunk of a pack, as its directory lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackEntry {
    pub fingerprint: u64,
    /// Where the chunk's bytes sit in the pack.
    pub offset: u64,
    pub length: u64,
    pub from: i64,
    pub through: i64,
    pub entries: u64,
    pub raw_bytes: u64,
    /// crc32c of the chunk's bytes: with the stream and time range, what tells two
    /// copies of one chunk (a WAL replay flushes it again) apart from two chunks.
    pub crc: u32,
}

/// A chunk to pack: its stream, what it covers, and its encoded bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackInput {
    pub fingerprint: u64,
    pub from: i64,
    pub through: i64,
    pub entries: u64,
    pub raw_bytes: u64,
    pub bytes: Vec<u8>,
}

/// Builds a pack. Returns its parts in order (header, chunks, directory with footer),
/// so the caller can send them without copying the chunks again, and the directory.
/// The chunks keep the order given (callers sort by fingerprint, then time).
pub fn encode_pack(chunks: Vec<PackInput>) -> (Vec<Vec<u8>>, Vec<PackEntry>) {
    let mut parts = Vec::with_capacity(chunks.len() + 2);
    parts.push(MAGIC.to_vec());
    let mut offset = MAGIC.len() as u64;
    let mut entries = Vec::with_capacity(chunks.len());
    for chunk in chunks {
        let length = chunk.bytes.len() as u64;
        entries.push(PackEntry {
            fingerprint: chunk.fingerprint,
            offset,
            length,
            from: chunk.from,
            through: chunk.through,
            entries: chunk.entries,
            raw_bytes: chunk.raw_bytes,
            crc: crc32c::crc32c(&chunk.bytes),
        });
        offset += length;
        parts.push(chunk.bytes);
    }
    let mut directory = Vec::with_capacity(16 + entries.len() * 40);
    put_uvarint(&mut directory, entries.len() as u64);
    for entry in &entries {
        directory.extend_from_slice(&entry.fingerprint.to_le_bytes());
        put_uvarint(&mut directory, entry.offset);
        put_uvarint(&mut directory, entry.length);
        put_varint(&mut directory, entry.from);
        put_varint(&mut directory, entry.through);
        put_uvarint(&mut directory, entry.entries);
        put_uvarint(&mut directory, entry.raw_bytes);
        directory.extend_from_slice(&entry.crc.to_le_bytes());
    }
    let crc = crc32c::crc32c(&directory);
    directory.extend_from_slice(&offset.to_le_bytes());
    directory.extend_from_slice(&crc.to_le_bytes());
    directory.extend_from_slice(MAGIC);
    parts.push(directory);
    (parts, entries)
}

/// Reads a pack's directory (the whole pack, or at least its tail from the directory's
/// offset, given as `bytes` with `base` = the offset of `bytes[0]` in the pack).
pub fn decode_pack_directory(bytes: &[u8], base: u64) -> Result<Vec<PackEntry>, ChunkError> {
    let corrupt = |m: &str| ChunkError::Corrupt(format!("pack: {m}"));
    if bytes.len() < FOOTER_LEN || &bytes[bytes.len() - 4..] != MAGIC {
        return Err(corrupt("bad magic or too short"));
    }
    let footer = &bytes[bytes.len() - FOOTER_LEN..];
    let directory_offset = u64::from_le_bytes(footer[0..8].try_into().expect("8 bytes"));
    let crc = u32::from_le_bytes(footer[8..12].try_into().expect("4 bytes"));
    let end = bytes.len() - FOOTER_LEN;
    let start = directory_offset
        .checked_sub(base)
        .map(|s| s as usize)
        .filter(|s| *s <= end)
        .ok_or_else(|| corrupt("directory offset out of range"))?;
    let directory = &bytes[start..end];
    if crc32c::crc32c(directory) != crc {
        return Err(ChunkError::Checksum("pack directory"));
    }
    let mut r = Reader::new(directory);
    let count = r.len(directory.len())?;
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        let fingerprint = u64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes"));
        let offset = r.uvarint()?;
        let length = r.uvarint()?;
        if offset.checked_add(length).is_none_or(|chunk_end| chunk_end > directory_offset) || offset < MAGIC.len() as u64 {
            return Err(corrupt("chunk outside the pack"));
        }
        let from = r.varint()?;
        let through = r.varint()?;
        let entries_count = r.uvarint()?;
        let raw_bytes = r.uvarint()?;
        let chunk_crc = r.u32()?;
        entries.push(PackEntry { fingerprint, offset, length, from, through, entries: entries_count, raw_bytes, crc: chunk_crc });
    }
    if r.remaining() != 0 {
        return Err(corrupt("trailing bytes in the directory"));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Codec, HeadBlock, decode_chunk, encode_chunk};

    fn chunk(fingerprint: u64, lines: &[&str]) -> PackInput {
        let mut head = HeadBlock::new();
        for (i, line) in lines.iter().enumerate() {
            head.append(100 + i as i64, line, &[]);
        }
        let bytes = encode_chunk(&[head.cut(Codec::Zstd(3)).unwrap()]);
        PackInput { fingerprint, from: 100, through: 100 + lines.len() as i64 - 1, entries: lines.len() as u64, raw_bytes: 1, bytes }
    }

    #[test]
    fn every_chunk_reads_back_from_its_range() {
        let inputs = vec![chunk(1, &["a", "b"]), chunk(2, &["c"]), chunk(3, &["d", "e", "f"])];
        let (parts, entries) = encode_pack(inputs);
        let pack: Vec<u8> = parts.concat();
        assert_eq!(decode_pack_directory(&pack, 0).unwrap(), entries);
        for (entry, lines) in entries.iter().zip([2, 1, 3]) {
            let bytes = pack[entry.offset as usize..(entry.offset + entry.length) as usize].to_vec();
            assert_eq!(crc32c::crc32c(&bytes), entry.crc);
            assert_eq!(decode_chunk(bytes).unwrap().entries(), lines);
        }
        // The directory alone, from its offset on, is enough.
        let at = u64::from_le_bytes(pack[pack.len() - 16..pack.len() - 8].try_into().unwrap());
        assert_eq!(decode_pack_directory(&pack[at as usize..], at).unwrap(), entries);
    }

    #[test]
    fn corruption_is_an_error_never_a_panic() {
        let (parts, _) = encode_pack(vec![chunk(1, &["a"]), chunk(9, &["b", "c"])]);
        let pack: Vec<u8> = parts.concat();
        for i in 0..pack.len() {
            let mut bad = pack.clone();
            bad[i] ^= 0x40;
            let _ = decode_pack_directory(&bad, 0);
        }
        let at = u64::from_le_bytes(pack[pack.len() - 16..pack.len() - 8].try_into().unwrap()) as usize;
        for i in at..pack.len() {
            let mut bad = pack.clone();
            bad[i] ^= 0x01;
            assert!(decode_pack_directory(&bad, 0).is_err(), "byte {i} of the directory or footer");
        }
        for len in 0..pack.len() {
            let _ = decode_pack_directory(&pack[..len], 0);
        }
        assert!(decode_pack_directory(&[0; 8], 0).is_err());
        let (empty, none) = encode_pack(Vec::new());
        assert!(none.is_empty());
        assert!(decode_pack_directory(&empty.concat(), 0).unwrap().is_empty());
    }
}
