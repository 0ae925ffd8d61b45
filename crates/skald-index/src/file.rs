//! Index files: what one flush added to the index of one tenant, written to object
//! storage beside the chunks so that a restarted node or a querier can rebuild the
//! index without listing chunks.
//!
//! Layout (integers little-endian, varints LEB128, strings as uvarint length + bytes).
//! The body:
//! ```text
//! uvarint entry count e
//! e x ( u64 fingerprint, uvarint label count, (string name, string value)...,
//!       string chunk key, varint from, varint through, uvarint entries,
//!       uvarint raw bytes, uvarint size )
//! ```
//! Version 2 (written) compresses the body, version 1 (still read) does not:
//! ```text
//! 4   magic "SKI2" | "SKI1"
//! ..  zstd frame of the body | the body
//! 4   u32 crc32c of everything before it
//! ```
//! With many small streams the index grows with the stream count (labels and keys
//! repeat across entries): zstd level 3 makes it several times smaller.

use crate::tenant::ChunkRef;
use skald_common::binary::{ByteReader, put_str, put_uvarint, unzigzag, zigzag};
use skald_common::{Label, LabelSet};

const MAGIC: &[u8; 4] = b"SKI2";
const MAGIC_V1: &[u8; 4] = b"SKI1";
/// zstd level of the body: fast, and most of what the repetition gives.
const LEVEL: i32 = 3;
/// A body may be at most this many times its compressed size (a bound on what a
/// corrupt frame can make the reader allocate).
const MAX_EXPANSION: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("index file is corrupt: {0}")]
pub struct IndexFileError(pub String);

/// The entries of one index file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexFile {
    pub entries: Vec<(u64, LabelSet, ChunkRef)>,
}

impl IndexFile {
    pub fn encode(&self) -> Vec<u8> {
        let body = self.encode_body();
        let compressed = zstd::bulk::compress(&body, LEVEL).expect("compressing to memory does not fail");
        let mut out = Vec::with_capacity(compressed.len() + 8);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&compressed);
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    fn encode_body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.entries.len() * 160);
        put_uvarint(&mut out, self.entries.len() as u64);
        for (fp, labels, chunk) in &self.entries {
            out.extend_from_slice(&fp.to_le_bytes());
            put_uvarint(&mut out, labels.len() as u64);
            for label in labels {
                put_str(&mut out, &label.name);
                put_str(&mut out, &label.value);
            }
            put_str(&mut out, &chunk.key);
            put_uvarint(&mut out, zigzag(chunk.from));
            put_uvarint(&mut out, zigzag(chunk.through));
            put_uvarint(&mut out, chunk.entries);
            put_uvarint(&mut out, chunk.raw_bytes);
            put_uvarint(&mut out, chunk.size);
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<IndexFile, IndexFileError> {
        let err = |m: &str| IndexFileError(m.to_string());
        if bytes.len() < 8 {
            return Err(err("too short"));
        }
        let (content, crc) = bytes.split_at(bytes.len() - 4);
        if crc32c::crc32c(content) != u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]) {
            return Err(err("checksum mismatch"));
        }
        let (magic, payload) = content.split_at(4);
        let decompressed;
        let body = match magic {
            m if m == MAGIC => {
                let limit = payload.len().saturating_mul(MAX_EXPANSION).max(1 << 16);
                decompressed = zstd::bulk::decompress(payload, limit).map_err(|e| err(&format!("body does not decompress: {e}")))?;
                decompressed.as_slice()
            }
            m if m == MAGIC_V1 => payload,
            _ => return Err(err("bad magic")),
        };
        Self::decode_body(body)
    }

    fn decode_body(body: &[u8]) -> Result<IndexFile, IndexFileError> {
        let err = |m: &str| IndexFileError(m.to_string());
        let mut r = ByteReader::new(body);
        let corrupt = |e: skald_common::binary::DecodeError| IndexFileError(e.0.to_string());
        let count = r.length().map_err(corrupt)?;
        let mut entries = Vec::with_capacity(count.min(1 << 16));
        for _ in 0..count {
            let fp = r.u64_le().map_err(corrupt)?;
            let label_count = r.length().map_err(corrupt)?;
            let mut labels = Vec::with_capacity(label_count.min(64));
            for _ in 0..label_count {
                let name = r.string().map_err(corrupt)?;
                let value = r.string().map_err(corrupt)?;
                labels.push(Label { name, value });
            }
            let key = r.string().map_err(corrupt)?;
            let from = unzigzag(r.uvarint().map_err(corrupt)?);
            let through = unzigzag(r.uvarint().map_err(corrupt)?);
            let entries_count = r.uvarint().map_err(corrupt)?;
            let raw_bytes = r.uvarint().map_err(corrupt)?;
            let size = r.uvarint().map_err(corrupt)?;
            let chunk = ChunkRef { key, from, through, entries: entries_count, raw_bytes, size };
            entries.push((fp, LabelSet::from_labels(labels), chunk));
        }
        if !r.is_at_end() {
            return Err(err("trailing bytes"));
        }
        Ok(IndexFile { entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let file = IndexFile {
            entries: vec![(
                42,
                LabelSet::from_pairs([("job", "x"), ("env", "p")]),
                ChunkRef { key: "chunks/fake/2a/1".into(), from: -5, through: 99, entries: 3, raw_bytes: 30, size: 20 },
            )],
        };
        let bytes = file.encode();
        assert_eq!(IndexFile::decode(&bytes).unwrap(), file);
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 1;
            assert!(IndexFile::decode(&bad).is_err());
        }
        for len in 0..bytes.len() {
            assert!(IndexFile::decode(&bytes[..len]).is_err());
        }
        // Version 1 (an uncompressed body) is still read.
        let mut v1 = MAGIC_V1.to_vec();
        v1.extend_from_slice(&file.encode_body());
        let crc = crc32c::crc32c(&v1);
        v1.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(IndexFile::decode(&v1).unwrap(), file);
    }

    #[test]
    fn many_small_streams_compress() {
        let entries: Vec<_> = (0..1000u64)
            .map(|i| {
                let labels = LabelSet::from_pairs([("app", format!("svc-{}", i % 50).as_str()), ("user_id", i.to_string().as_str())]);
                let key = crate::pack_chunk_key("packs/fake/20000/w-0000000000000001.pack", 4 + i * 700, 700);
                (i.wrapping_mul(0x9e3779b97f4a7c15), labels, ChunkRef { key, from: 1, through: 2, entries: 10, raw_bytes: 900, size: 700 })
            })
            .collect();
        let file = IndexFile { entries };
        let bytes = file.encode();
        assert!(bytes.len() * 3 < file.encode_body().len(), "{} vs {}", bytes.len(), file.encode_body().len());
        assert_eq!(IndexFile::decode(&bytes).unwrap(), file);
    }
}
