//! The WAL record of one push: the entries the ingester accepted, per stream.
//!
//! Layout (varints LEB128, strings as uvarint length + bytes):
//! ```text
//! u8      version (1)
//! string  tenant
//! uvarint stream count
//!   per stream: u64 LE fingerprint, string labels (Loki form `{a="b"}`),
//!               uvarint entry count,
//!   per entry:  varint timestamp, string line, uvarint metadata count,
//!               (string name, string value) per metadata pair
//! ```

use skald_common::{Entry, Label, LabelSet, parse_label_set};

/// One stream's accepted entries, as logged.
pub struct WalStream<'a> {
    pub fingerprint: u64,
    pub labels: &'a LabelSet,
    pub entries: &'a [Entry],
}

pub fn encode(tenant: &str, streams: &[WalStream<'_>]) -> Vec<u8> {
    let size: usize = streams.iter().flat_map(|s| s.entries.iter()).map(|e| e.line.len() + 12 + e.metadata_bytes()).sum();
    let mut out = Vec::with_capacity(size + 64 + streams.len() * 96);
    out.push(1);
    put_str(&mut out, tenant);
    put_uvarint(&mut out, streams.len() as u64);
    for stream in streams {
        out.extend_from_slice(&stream.fingerprint.to_le_bytes());
        put_str(&mut out, &stream.labels.to_string());
        put_uvarint(&mut out, stream.entries.len() as u64);
        for entry in stream.entries {
            put_uvarint(&mut out, ((entry.ts << 1) ^ (entry.ts >> 63)) as u64);
            put_str(&mut out, &entry.line);
            put_uvarint(&mut out, entry.metadata.len() as u64);
            for label in &entry.metadata {
                put_str(&mut out, &label.name);
                put_str(&mut out, &label.value);
            }
        }
    }
    out
}

/// A decoded record.
pub struct Record {
    pub tenant: String,
    pub streams: Vec<(u64, LabelSet, Vec<Entry>)>,
}

pub fn decode(bytes: &[u8]) -> Result<Record, String> {
    let mut r = Cursor { bytes, pos: 0 };
    if r.u8()? != 1 {
        return Err("unknown wal record version".into());
    }
    let tenant = r.string()?;
    let count = r.len()?;
    let mut streams = Vec::with_capacity(count.min(4096));
    for _ in 0..count {
        let fp = u64::from_le_bytes(r.take(8)?.try_into().map_err(|_| "short fingerprint")?);
        let labels = parse_label_set(&r.string()?).map_err(|e| e.to_string())?;
        let n = r.len()?;
        let mut entries = Vec::with_capacity(n.min(1 << 16));
        for _ in 0..n {
            let z = r.uvarint()?;
            let ts = ((z >> 1) as i64) ^ -((z & 1) as i64);
            let line = r.string()?;
            let m = r.len()?;
            let mut metadata = Vec::with_capacity(m.min(128));
            for _ in 0..m {
                let name = r.string()?;
                let value = r.string()?;
                metadata.push(Label { name, value });
            }
            entries.push(Entry { ts, line, metadata });
        }
        streams.push((fp, labels, entries));
    }
    Ok(Record { tenant, streams })
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
    fn u8(&mut self) -> Result<u8, String> {
        let b = *self.bytes.get(self.pos).ok_or("truncated record")?;
        self.pos += 1;
        Ok(b)
    }

    fn uvarint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err("varint overflow".into())
    }

    fn len(&mut self) -> Result<usize, String> {
        let n = self.uvarint()?;
        if n > (self.bytes.len() - self.pos) as u64 {
            return Err("length exceeds record".into());
        }
        Ok(n as usize)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.bytes.len() - self.pos < n {
            return Err("truncated record".into());
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn string(&mut self) -> Result<String, String> {
        let n = self.len()?;
        let bytes = self.take(n)?;
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let labels = LabelSet::from_pairs([("job", "a\"b")]);
        let entries = vec![Entry { ts: -3, line: "x".into(), metadata: vec![Label::new("t", "1")] }, Entry::new(9, "")];
        let bytes = encode("fake", &[WalStream { fingerprint: 5, labels: &labels, entries: &entries }]);
        let record = decode(&bytes).unwrap();
        assert_eq!(record.tenant, "fake");
        assert_eq!(record.streams[0].0, 5);
        assert_eq!(record.streams[0].1, labels);
        assert_eq!(record.streams[0].2, entries);
        for len in 0..bytes.len() {
            assert!(decode(&bytes[..len]).is_err());
        }
    }
}
