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
        let mut r = Cursor { bytes: body, pos: 4 };
        let count = r.len()?;
        let mut entries = Vec::with_capacity(count.min(1 << 16));
        for _ in 0..count {
            let fp = u64::from_le_bytes(r.take(8)?.try_into().map_err(|_| err("short fingerprint"))?);
            let label_count = r.len()?;
            let mut labels = Vec::with_capacity(label_count.min(64));
            for _ in 0..label_count {
                let name = r.string()?;
                let value = r.string()?;
                labels.push(Label { name, value });
            }
            let key = r.string()?;
            let from = unzigzag(r.uvarint()?);
            let through = unzigzag(r.uvarint()?);
            let chunk = ChunkRef { key, from, through, entries: r.uvarint()?, raw_bytes: r.uvarint()?, size: r.uvarint()? };
            entries.push((fp, LabelSet::from_labels(labels), chunk));
        }
        if r.pos != body.len() {
            return Err(err("trailing bytes"));
        }
        Ok(IndexFile { entries })
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_uvarint(buf: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        buf.push((value as u8) | 0x80);
        value >>= 7;
    }
    buf.push(value as u8);
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_uvarint(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn uvarint(&mut self) -> Result<u64, IndexFileError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.bytes.get(self.pos).ok_or_else(|| IndexFileError("truncated".into()))?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(IndexFileError("varint overflow".into()))
    }

    fn len(&mut self) -> Result<usize, IndexFileError> {
        let n = self.uvarint()?;
        if n > (self.bytes.len() - self.pos) as u64 {
            return Err(IndexFileError("length exceeds file".into()));
        }
        Ok(n as usize)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], IndexFileError> {
        if self.bytes.len() - self.pos < n {
            return Err(IndexFileError("truncated".into()));
        }
        let slice = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    fn string(&mut self) -> Result<String, IndexFileError> {
        let n = self.len()?;
        let bytes = self.take(n)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| IndexFileError("invalid utf-8".into()))
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
