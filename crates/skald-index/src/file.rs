//! Index files: what one flush added to the index of one tenant, written to object
//! storage beside the chunks so that a restarted node or a querier can rebuild the
//! index without listing chunks.
//!
//! Layout (integers little-endian, varints LEB128, strings as uvarint length + bytes):
//! ```text
//! 4   magic "SKI1"
//! ..  uvarint entry count e
//!     e x ( u64 fingerprint, uvarint label count, (string name, string value)...,
//!           string chunk key, varint from, varint through, uvarint entries,
//!           uvarint raw bytes, uvarint size )
//! 4   u32 crc32c of everything before it
//! ```

use crate::tenant::ChunkRef;
use skald_common::binary::{ByteReader, put_str, put_uvarint, unzigzag, zigzag};
use skald_common::{Label, LabelSet};

const MAGIC: &[u8; 4] = b"SKI1";

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
        let mut out = Vec::with_capacity(64 + self.entries.len() * 160);
        out.extend_from_slice(MAGIC);
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
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<IndexFile, IndexFileError> {
        let err = |m: &str| IndexFileError(m.to_string());
        if bytes.len() < 8 || &bytes[..4] != MAGIC {
            return Err(err("bad magic"));
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32c::crc32c(body) != u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]) {
            return Err(err("checksum mismatch"));
        }
        let mut r = ByteReader::new(body);
        let corrupt = |e: skald_common::binary::DecodeError| IndexFileError(e.0.to_string());
        r.take(4).map_err(corrupt)?;
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
    }
}
