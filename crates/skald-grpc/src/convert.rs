//! Conversions between Skald's types and the protobuf messages of `skald-proto`.
//!
//! Everything coming from the network is checked here (timestamps in range, codec ids,
//! regular expressions, label text), so the services and clients above only see valid
//! Skald values; a bad message becomes an error naming the field, never a panic.

use crate::error::GrpcError;
use prost::bytes::Bytes;
use skald_chunk::{BlockMeta, Codec, EncodedBlock};
use skald_common::{Entry, Label, LabelSet, PushStream};
use skald_index::LabelMatcher;
use skald_ingester::StreamSnapshot;
use skald_proto::ingester as pb;
use skald_proto::logproto;
use skald_push::{RawStream, StreamLabels};
use std::sync::Arc;

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// UTF-8 text, lossily converted when invalid (as the HTTP push does).
pub(crate) fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub(crate) fn timestamp_from_nanos(ts: i64) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: ts.div_euclid(NANOS_PER_SECOND), nanos: ts.rem_euclid(NANOS_PER_SECOND) as i32 }
}

/// Unix nanoseconds of a protobuf timestamp; `None` when outside what i64 nanoseconds
/// hold or when `nanos` is not in `0..1e9`.
pub(crate) fn nanos_from_timestamp(ts: &prost_types::Timestamp) -> Option<i64> {
    if !(0..1_000_000_000).contains(&ts.nanos) {
        return None;
    }
    ts.seconds.checked_mul(NANOS_PER_SECOND)?.checked_add(i64::from(ts.nanos))
}

/// Loki's `PushRequest` into the distributor's raw streams (labels still text: the
/// distributor parses and validates them).
pub fn raw_streams_from_proto(request: logproto::PushRequest) -> Result<Vec<RawStream>, GrpcError> {
    let mut out = Vec::with_capacity(request.streams.len());
    for (i, stream) in request.streams.into_iter().enumerate() {
        let entries = entries_from_proto(i, stream.entries)?;
        out.push(RawStream { labels: StreamLabels::Text(lossy(&stream.labels)), entries });
    }
    Ok(out)
}

fn entries_from_proto(stream_index: usize, entries: Vec<logproto::EntryAdapter>) -> Result<Vec<Entry>, GrpcError> {
    let mut out = Vec::with_capacity(entries.len());
    for (j, entry) in entries.into_iter().enumerate() {
        let Some(timestamp) = entry.timestamp else {
            return Err(GrpcError::BadMessage(format!("streams[{stream_index}].entries[{j}]: missing timestamp")));
        };
        let Some(ts) = nanos_from_timestamp(&timestamp) else {
            return Err(GrpcError::BadMessage(format!(
                "streams[{stream_index}].entries[{j}].timestamp: seconds={} nanos={} is out of range",
                timestamp.seconds, timestamp.nanos
            )));
        };
        let metadata = entry.structured_metadata.into_iter().map(|p| Label { name: lossy(&p.name), value: lossy(&p.value) }).collect();
        out.push(Entry { ts, line: lossy(&entry.line), metadata });
    }
    Ok(out)
}

/// A validated stream (what a distributor forwards) as a `StreamAdapter`. Lines move
/// into `Bytes` without a copy, so the adapter can be cloned for each replica cheaply.
pub fn stream_to_proto(stream: PushStream) -> logproto::StreamAdapter {
    let mut entries = Vec::with_capacity(stream.entries.len());
    for entry in stream.entries {
        let structured_metadata = entry
            .metadata
            .into_iter()
            .map(|l| logproto::LabelPairAdapter { name: Bytes::from(l.name), value: Bytes::from(l.value) })
            .collect();
        entries.push(logproto::EntryAdapter {
            timestamp: Some(timestamp_from_nanos(entry.ts)),
            line: Bytes::from(entry.line),
            structured_metadata,
        });
    }
    logproto::StreamAdapter { labels: Bytes::from(stream.labels.to_string()), entries, hash: 0 }
}

/// An ingester's view of a forwarded push: labels parsed back from their text form.
pub fn push_streams_from_proto(request: logproto::PushRequest) -> Result<Vec<PushStream>, GrpcError> {
    let mut out = Vec::with_capacity(request.streams.len());
    for (i, stream) in request.streams.into_iter().enumerate() {
        let text = lossy(&stream.labels);
        let labels = skald_common::parse_label_set(&text)
            .map_err(|e| GrpcError::BadMessage(format!("streams[{i}].labels: cannot parse '{text}': {e}")))?;
        let entries = entries_from_proto(i, stream.entries)?;
        out.push(PushStream { labels, entries });
    }
    Ok(out)
}

pub fn labels_to_proto(labels: &LabelSet) -> Vec<pb::Label> {
    labels.iter().map(|l| pb::Label { name: l.name.clone(), value: l.value.clone() }).collect()
}

pub fn labels_from_proto(labels: Vec<pb::Label>) -> LabelSet {
    LabelSet::from_labels(labels.into_iter().map(|l| Label { name: l.name, value: l.value }).collect())
}

/// The pattern a regex matcher was built from: `LabelMatcher::regex` anchors it as
/// `^(?s:PATTERN)$`, which the receiver adds again.
fn regex_pattern(anchored: &str) -> &str {
    anchored.strip_prefix("^(?s:").and_then(|rest| rest.strip_suffix(")$")).unwrap_or(anchored)
}

pub fn matchers_to_proto(matchers: &[LabelMatcher]) -> Vec<pb::LabelMatcher> {
    let mut out = Vec::with_capacity(matchers.len());
    for matcher in matchers {
        let (op, value) = match matcher {
            LabelMatcher::Eq(_, v) => (pb::MatchOp::Eq, v.clone()),
            LabelMatcher::Neq(_, v) => (pb::MatchOp::Neq, v.clone()),
            LabelMatcher::Re(_, re) => (pb::MatchOp::Re, regex_pattern(re.as_str()).to_string()),
            LabelMatcher::Nre(_, re) => (pb::MatchOp::Nre, regex_pattern(re.as_str()).to_string()),
        };
        out.push(pb::LabelMatcher { name: matcher.name().to_string(), op: op as i32, value });
    }
    out
}

pub fn matchers_from_proto(matchers: Vec<pb::LabelMatcher>) -> Result<Vec<LabelMatcher>, GrpcError> {
    let mut out = Vec::with_capacity(matchers.len());
    for matcher in matchers {
        let op = pb::MatchOp::try_from(matcher.op)
            .map_err(|_| GrpcError::BadMessage(format!("matcher on '{}': unknown operator {}", matcher.name, matcher.op)))?;
        let compiled = match op {
            pb::MatchOp::Eq => LabelMatcher::Eq(matcher.name, matcher.value),
            pb::MatchOp::Neq => LabelMatcher::Neq(matcher.name, matcher.value),
            pb::MatchOp::Re | pb::MatchOp::Nre => LabelMatcher::regex(&matcher.name, &matcher.value, op == pb::MatchOp::Nre)
                .map_err(|e| GrpcError::BadMessage(format!("matcher on '{}': {}", e.name, e.message)))?,
        };
        out.push(compiled);
    }
    Ok(out)
}

pub fn block_to_proto(block: &EncodedBlock) -> pb::Block {
    let meta = &block.meta;
    pb::Block {
        min_ts: meta.min_ts,
        max_ts: meta.max_ts,
        entries: meta.entries,
        raw_bytes: meta.raw_bytes,
        meta_len: meta.meta_len,
        meta_raw_len: meta.meta_raw_len,
        meta_crc: meta.meta_crc,
        lines_len: meta.lines_len,
        lines_raw_len: meta.lines_raw_len,
        lines_crc: meta.lines_crc,
        codec: u32::from(block.codec.id()),
        meta_section: block.meta_section.clone(),
        lines_section: block.lines_section.clone(),
        word_filter: block.word_filter.clone(),
    }
}

pub fn block_from_proto(block: pb::Block) -> Result<EncodedBlock, GrpcError> {
    let codec_id = u8::try_from(block.codec).map_err(|_| GrpcError::BadMessage(format!("block codec {} is unknown", block.codec)))?;
    let codec = Codec::from_id(codec_id).map_err(|e| GrpcError::BadMessage(format!("block codec: {e}")))?;
    let meta = BlockMeta {
        min_ts: block.min_ts,
        max_ts: block.max_ts,
        entries: block.entries,
        raw_bytes: block.raw_bytes,
        meta_len: block.meta_len,
        meta_raw_len: block.meta_raw_len,
        meta_crc: block.meta_crc,
        lines_len: block.lines_len,
        lines_raw_len: block.lines_raw_len,
        lines_crc: block.lines_crc,
    };
    if meta.meta_len as usize != block.meta_section.len() || meta.lines_len as usize != block.lines_section.len() {
        return Err(GrpcError::BadMessage(format!(
            "block sections are {} and {} bytes but its meta says {} and {}",
            block.meta_section.len(),
            block.lines_section.len(),
            meta.meta_len,
            meta.lines_len
        )));
    }
    let block =
        EncodedBlock { meta, codec, meta_section: block.meta_section, lines_section: block.lines_section, word_filter: block.word_filter };
    block.verify().map_err(|e| GrpcError::BadMessage(format!("block: {e}")))?;
    Ok(block)
}

pub fn snapshot_from_proto(snapshot: pb::StreamSnapshot) -> Result<StreamSnapshot, GrpcError> {
    let mut blocks = Vec::with_capacity(snapshot.blocks.len());
    for block in snapshot.blocks {
        blocks.push(Arc::new(block_from_proto(block)?));
    }
    Ok(StreamSnapshot { fingerprint: snapshot.fingerprint, labels: labels_from_proto(snapshot.labels), blocks })
}

pub fn tail_stream_to_proto(stream: &PushStream) -> pb::TailStream {
    let entries = stream
        .entries
        .iter()
        .map(|e| pb::TailEntry {
            ts: e.ts,
            line: e.line.clone(),
            metadata: e.metadata.iter().map(|l| pb::Label { name: l.name.clone(), value: l.value.clone() }).collect(),
        })
        .collect();
    pb::TailStream { labels: labels_to_proto(&stream.labels), entries }
}

pub fn tail_stream_from_proto(stream: pb::TailStream) -> PushStream {
    let entries = stream
        .entries
        .into_iter()
        .map(|e| Entry {
            ts: e.ts,
            line: e.line,
            metadata: e.metadata.into_iter().map(|l| Label { name: l.name, value: l.value }).collect(),
        })
        .collect();
    PushStream { labels: labels_from_proto(stream.labels), entries }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_including_negative() {
        for ts in [0i64, 1, 1_700_000_000_123_456_789, -1, -1_500_000_000] {
            assert_eq!(nanos_from_timestamp(&timestamp_from_nanos(ts)), Some(ts), "{ts}");
        }
        assert_eq!(nanos_from_timestamp(&prost_types::Timestamp { seconds: i64::MAX, nanos: 0 }), None);
        assert_eq!(nanos_from_timestamp(&prost_types::Timestamp { seconds: 1, nanos: -1 }), None);
    }

    #[test]
    fn matchers_round_trip() {
        let matchers = vec![
            LabelMatcher::Eq("job".into(), "a\"b".into()),
            LabelMatcher::Neq("env".into(), String::new()),
            LabelMatcher::regex("app", "ngin.*|api", false).unwrap(),
            LabelMatcher::regex("level", "debug", true).unwrap(),
        ];
        let back = matchers_from_proto(matchers_to_proto(&matchers)).unwrap();
        assert_eq!(back.len(), 4);
        let sample = LabelSet::from_pairs([("job", "a\"b"), ("env", "prod"), ("app", "nginx"), ("level", "info")]);
        for (a, b) in matchers.iter().zip(&back) {
            assert_eq!(a.name(), b.name());
            assert_eq!(a.matches(&sample), b.matches(&sample));
        }
        assert!(back[2].matches_value("api") && !back[2].matches_value("xapi"));
    }

    #[test]
    fn bad_regex_and_operator_are_named() {
        let bad = vec![pb::LabelMatcher { name: "job".into(), op: pb::MatchOp::Re as i32, value: "(".into() }];
        let error = matchers_from_proto(bad).unwrap_err().to_string();
        assert!(error.contains("job"), "{error}");
        let bad = vec![pb::LabelMatcher { name: "job".into(), op: 17, value: "x".into() }];
        assert!(matchers_from_proto(bad).unwrap_err().to_string().contains("unknown operator 17"));
    }

    #[test]
    fn push_streams_round_trip_with_quoting_and_metadata() {
        let labels = LabelSet::from_pairs([("job", "we\"ird\n"), ("app", "é")]);
        let mut entry = Entry::new(1_700_000_000_000_000_001, "line one");
        entry.metadata.push(Label::new("trace_id", "abc"));
        let stream = PushStream { labels: labels.clone(), entries: vec![entry.clone()] };
        let request = logproto::PushRequest { streams: vec![stream_to_proto(stream)], format: String::new() };
        let back = push_streams_from_proto(request).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].labels, labels);
        assert_eq!(back[0].entries, vec![entry]);
    }

    #[test]
    fn missing_timestamp_is_an_error_naming_the_entry() {
        let request = logproto::PushRequest {
            streams: vec![logproto::StreamAdapter {
                labels: Bytes::from_static(b"{a=\"b\"}"),
                entries: vec![logproto::EntryAdapter { timestamp: None, line: Bytes::from_static(b"x"), structured_metadata: vec![] }],
                hash: 0,
            }],
            format: String::new(),
        };
        let error = raw_streams_from_proto(request).unwrap_err().to_string();
        assert!(error.contains("streams[0].entries[0]: missing timestamp"), "{error}");
    }

    #[test]
    fn block_sections_must_match_meta() {
        let block = pb::Block { meta_len: 5, meta_section: vec![1, 2], ..Default::default() };
        assert!(block_from_proto(block).unwrap_err().to_string().contains("sections"));
        let block = pb::Block { codec: 9, ..Default::default() };
        assert!(block_from_proto(block).is_err());
    }
}
