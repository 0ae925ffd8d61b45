//! Loki's `logproto.PushRequest` in protobuf, with hand-written `prost` messages.
//!
//! Wire schema (`pkg/push/push.proto`):
//!
//! ```text
//! message PushRequest      { repeated StreamAdapter streams = 1; }
//! message StreamAdapter    { string labels = 1; repeated EntryAdapter entries = 2; uint64 hash = 3; }
//! message EntryAdapter     { google.protobuf.Timestamp timestamp = 1; string line = 2;
//!                            repeated LabelPairAdapter structuredMetadata = 3; }
//! message LabelPairAdapter { string name = 1; string value = 2; }
//! message Timestamp        { int64 seconds = 1; int32 nanos = 2; }
//! ```
//!
//! Strings are decoded as `bytes` so that invalid UTF-8 (which Go accepts) degrades to
//! U+FFFD instead of failing the request.

use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};
use skald_common::{Entry, Label, PushStream};

use crate::{PushDecodeError, RawStream, StreamLabels};

#[derive(Clone, PartialEq, Message)]
struct PushRequest {
    #[prost(message, repeated, tag = "1")]
    streams: Vec<StreamAdapter>,
}

#[derive(Clone, PartialEq, Message)]
struct StreamAdapter {
    #[prost(bytes = "vec", tag = "1")]
    labels: Vec<u8>,
    #[prost(message, repeated, tag = "2")]
    entries: Vec<EntryAdapter>,
    #[prost(uint64, tag = "3")]
    hash: u64,
}

#[derive(Clone, PartialEq, Message)]
struct EntryAdapter {
    #[prost(message, optional, tag = "1")]
    timestamp: Option<Timestamp>,
    #[prost(bytes = "vec", tag = "2")]
    line: Vec<u8>,
    #[prost(message, repeated, tag = "3")]
    structured_metadata: Vec<LabelPairAdapter>,
}

#[derive(Clone, PartialEq, Message)]
struct LabelPairAdapter {
    #[prost(bytes = "vec", tag = "1")]
    name: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq, Message)]
struct Timestamp {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

/// UTF-8 without copying when valid, lossily converted otherwise.
fn lossy(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// Decodes an uncompressed (already snappy-decoded) `PushRequest`.
pub(crate) fn decode_protobuf(buf: &[u8]) -> Result<Vec<RawStream>, PushDecodeError> {
    let request = PushRequest::decode(buf).map_err(|e| PushDecodeError::Malformed(e.to_string()))?;
    let mut out = Vec::with_capacity(request.streams.len());
    for (i, stream) in request.streams.into_iter().enumerate() {
        let mut entries = Vec::with_capacity(stream.entries.len());
        for (j, entry) in stream.entries.into_iter().enumerate() {
            let ts = match entry.timestamp {
                None => {
                    return Err(PushDecodeError::Malformed(format!("streams[{i}].entries[{j}]: missing timestamp")));
                }
                Some(t) => timestamp_nanos(t).ok_or_else(|| {
                    PushDecodeError::Malformed(format!(
                        "streams[{i}].entries[{j}].timestamp: seconds={} nanos={} is out of range \
                         (nanos must be in 0..1e9 and the time between years 1678 and 2261)",
                        t.seconds, t.nanos
                    ))
                })?,
            };
            let metadata = entry.structured_metadata.into_iter().map(|p| Label { name: lossy(p.name), value: lossy(p.value) }).collect();
            entries.push(Entry { ts, line: lossy(entry.line), metadata });
        }
        out.push(RawStream { labels: StreamLabels::Text(lossy(stream.labels)), entries });
    }
    Ok(out)
}

fn timestamp_nanos(t: Timestamp) -> Option<i64> {
    if !(0..1_000_000_000).contains(&t.nanos) {
        return None;
    }
    t.seconds.checked_mul(1_000_000_000)?.checked_add(i64::from(t.nanos))
}

// ---------------------------------------------------------------------------
// Encoding, straight from borrowed data (no intermediate prost structs).

fn bytes_field_len(tag: u32, len: usize) -> usize {
    if len == 0 { 0 } else { prost::encoding::key_len(tag) + encoded_len_varint(len as u64) + len }
}

fn message_field_len(tag: u32, len: usize) -> usize {
    prost::encoding::key_len(tag) + encoded_len_varint(len as u64) + len
}

fn put_bytes(out: &mut Vec<u8>, tag: u32, data: &[u8]) {
    if !data.is_empty() {
        encode_key(tag, WireType::LengthDelimited, out);
        encode_varint(data.len() as u64, out);
        out.extend_from_slice(data);
    }
}

fn put_message_header(out: &mut Vec<u8>, tag: u32, len: usize) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(len as u64, out);
}

fn split_ts(ts: i64) -> (i64, i64) {
    (ts.div_euclid(1_000_000_000), ts.rem_euclid(1_000_000_000))
}

fn timestamp_len(ts: i64) -> usize {
    let (s, n) = split_ts(ts);
    let mut len = 0;
    if s != 0 {
        len += 1 + encoded_len_varint(s as u64);
    }
    if n != 0 {
        len += 1 + encoded_len_varint(n as u64);
    }
    len
}

fn label_pair_len(l: &Label) -> usize {
    bytes_field_len(1, l.name.len()) + bytes_field_len(2, l.value.len())
}

fn entry_len(e: &Entry) -> usize {
    message_field_len(1, timestamp_len(e.ts))
        + bytes_field_len(2, e.line.len())
        + e.metadata.iter().map(|l| message_field_len(3, label_pair_len(l))).sum::<usize>()
}

/// Encodes streams as a snappy-compressed (block format) protobuf `PushRequest`,
/// the body Promtail and Alloy send with `Content-Type: application/x-protobuf`.
pub fn encode_protobuf(streams: &[PushStream]) -> Vec<u8> {
    let mut raw = Vec::new();
    for stream in streams {
        let labels = stream.labels.to_string();
        let entry_lens: Vec<usize> = stream.entries.iter().map(entry_len).collect();
        let stream_len = bytes_field_len(1, labels.len()) + entry_lens.iter().map(|&l| message_field_len(2, l)).sum::<usize>();
        raw.reserve(message_field_len(1, stream_len));
        put_message_header(&mut raw, 1, stream_len);
        put_bytes(&mut raw, 1, labels.as_bytes());
        for (entry, &len) in stream.entries.iter().zip(&entry_lens) {
            put_message_header(&mut raw, 2, len);
            put_message_header(&mut raw, 1, timestamp_len(entry.ts));
            let (s, n) = split_ts(entry.ts);
            if s != 0 {
                encode_key(1, WireType::Varint, &mut raw);
                encode_varint(s as u64, &mut raw);
            }
            if n != 0 {
                encode_key(2, WireType::Varint, &mut raw);
                encode_varint(n as u64, &mut raw);
            }
            put_bytes(&mut raw, 2, entry.line.as_bytes());
            for label in &entry.metadata {
                put_message_header(&mut raw, 3, label_pair_len(label));
                put_bytes(&mut raw, 1, label.name.as_bytes());
                put_bytes(&mut raw, 2, label.value.as_bytes());
            }
        }
    }
    snap::raw::Encoder::new().compress_vec(&raw).expect("snappy block compression of an in-memory buffer")
}

#[cfg(test)]
mod tests {
    use super::*;
    use skald_common::LabelSet;

    /// The hand-rolled encoder must agree byte for byte with prost's.
    #[test]
    fn encoder_matches_prost() {
        let streams = vec![PushStream {
            labels: LabelSet::from_pairs([("job", "a\"b"), ("env", "prod")]),
            entries: vec![
                Entry { ts: 1_700_000_000_123_456_789, line: "hello".into(), metadata: vec![Label::new("trace", "t1")] },
                Entry { ts: -1_500_000_000, line: String::new(), metadata: vec![Label::new("", "")] },
                Entry::new(0, "zero"),
            ],
        }];
        let ours = snap::raw::Decoder::new().decompress_vec(&encode_protobuf(&streams)).unwrap();
        let reference = PushRequest {
            streams: streams
                .iter()
                .map(|s| StreamAdapter {
                    labels: s.labels.to_string().into_bytes(),
                    hash: 0,
                    entries: s
                        .entries
                        .iter()
                        .map(|e| {
                            let (seconds, nanos) = split_ts(e.ts);
                            EntryAdapter {
                                timestamp: Some(Timestamp { seconds, nanos: nanos as i32 }),
                                line: e.line.clone().into_bytes(),
                                structured_metadata: e
                                    .metadata
                                    .iter()
                                    .map(|l| LabelPairAdapter { name: l.name.clone().into_bytes(), value: l.value.clone().into_bytes() })
                                    .collect(),
                            }
                        })
                        .collect(),
                })
                .collect(),
        }
        .encode_to_vec();
        assert_eq!(ours, reference);
    }

    #[test]
    fn timestamp_range() {
        assert_eq!(timestamp_nanos(Timestamp { seconds: 1, nanos: 5 }), Some(1_000_000_005));
        assert_eq!(timestamp_nanos(Timestamp { seconds: -2, nanos: 500_000_000 }), Some(-1_500_000_000));
        assert_eq!(timestamp_nanos(Timestamp { seconds: 1, nanos: -1 }), None);
        assert_eq!(timestamp_nanos(Timestamp { seconds: 1, nanos: 1_000_000_000 }), None);
        assert_eq!(timestamp_nanos(Timestamp { seconds: i64::MAX / 1_000_000_000 + 1, nanos: 0 }), None);
    }
}
