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

use skald_common::binary::{ByteReader, DecodeError, put_str, put_uvarint, zigzag};
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
            put_uvarint(&mut out, zigzag(entry.ts));
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
    decode_record(bytes).map_err(|e| format!("wal record: {e}"))
}

fn decode_record(bytes: &[u8]) -> Result<Record, DecodeError> {
    let mut r = ByteReader::new(bytes);
    if r.u8()? != 1 {
        return Err(DecodeError("unknown version"));
    }
    let tenant = r.string()?;
    let count = r.length()?;
    let mut streams = Vec::with_capacity(count.min(4096));
    for _ in 0..count {
        let fp = r.u64_le()?;
        let labels = parse_label_set(&r.string()?).map_err(|_| DecodeError("bad stream labels"))?;
        let n = r.length()?;
        let mut entries = Vec::with_capacity(n.min(1 << 16));
        for _ in 0..n {
            let ts = r.varint()?;
            let line = r.string()?;
            let m = r.length()?;
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
