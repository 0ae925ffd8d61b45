//! JSON push bodies: the v1 shape and the legacy `/api/prom/push` shape.
//!
//! Hand-written serde visitors stream straight from the body into [`RawStream`]s: no
//! `serde_json::Value`, timestamps parsed from the borrowed string without allocating,
//! and every error located by a path such as `streams[1].values[4][0]`.

use std::fmt::{self, Write as _};

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use skald_common::{Entry, Label, PushStream};

use crate::{Api, PushDecodeError, RawStream, StreamLabels};

pub(crate) fn decode_json(api: Api, body: &[u8]) -> Result<Vec<RawStream>, PushDecodeError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let streams = de.deserialize_map(RequestVisitor { api }).map_err(malformed)?;
    de.end().map_err(malformed)?;
    Ok(streams)
}

fn malformed(e: serde_json::Error) -> PushDecodeError {
    PushDecodeError::Malformed(e.to_string())
}

/// Prefixes an error with where it happened, unless an inner level already did.
fn at<E: de::Error>(e: E, path: impl FnOnce() -> String) -> E {
    let msg = e.to_string();
    if msg.starts_with("streams") {
        return e;
    }
    // serde_json appends " at line L column C" to errors it positions; it positions
    // ours again when it propagates, so drop the inner position.
    let msg = match msg.rfind(" at line ") {
        Some(i) if msg[i..].contains(" column ") => &msg[..i],
        _ => &msg[..],
    };
    E::custom(format_args!("{}: {msg}", path()))
}

/// Parses decimal Unix nanoseconds as Go's `strconv.ParseInt(s, 10, 64)`.
pub(crate) fn parse_nanos(s: &str) -> Option<i64> {
    let bytes = s.as_bytes();
    let (negative, digits) = match bytes.first()? {
        b'-' => (true, &bytes[1..]),
        b'+' => (false, &bytes[1..]),
        _ => (false, bytes),
    };
    if digits.is_empty() {
        return None;
    }
    // Accumulate towards the sign so that i64::MIN parses.
    let mut value: i64 = 0;
    for &b in digits {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        value = value.checked_mul(10)?;
        value = if negative { value.checked_sub(i64::from(d))? } else { value.checked_add(i64::from(d))? };
    }
    Some(value)
}

/// Which of a fixed list of keys a JSON object key is (`None`: unknown, ignored).
struct KeySeed(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|k| *k == v))
    }
}

fn duplicate<E: de::Error>(path: impl FnOnce() -> String, field: &str) -> E {
    E::custom(format_args!("{}: duplicate field `{field}`", path()))
}

fn missing<E: de::Error>(path: impl FnOnce() -> String, field: &str) -> E {
    E::custom(format_args!("{}: missing field `{field}`", path()))
}

// ---------------------------------------------------------------------------
// {"streams": [...]}

struct RequestVisitor {
    api: Api,
}

impl<'de> Visitor<'de> for RequestVisitor {
    type Value = Vec<RawStream>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a push request object {\"streams\": [...]}")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut streams = None;
        while let Some(key) = map.next_key_seed(KeySeed(&["streams"]))? {
            match key {
                Some(_) => {
                    if streams.is_some() {
                        return Err(duplicate(|| "streams".into(), "streams"));
                    }
                    let value = map.next_value_seed(StreamsSeed { api: self.api }).map_err(|e| at(e, || "streams".into()))?;
                    streams = Some(value);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        streams.ok_or_else(|| de::Error::custom("missing field `streams`"))
    }
}

struct StreamsSeed {
    api: Api,
}

impl<'de> DeserializeSeed<'de> for StreamsSeed {
    type Value = Vec<RawStream>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for StreamsSeed {
    type Value = Vec<RawStream>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of streams")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        loop {
            let index = out.len();
            let stream = seq.next_element_seed(StreamSeed { api: self.api, index }).map_err(|e| at(e, || format!("streams[{index}]")))?;
            match stream {
                Some(s) => out.push(s),
                None => return Ok(out),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// One stream: {"stream": {...}, "values": [...]} or {"labels": "...", "entries": [...]}

struct StreamSeed {
    api: Api,
    index: usize,
}

impl StreamSeed {
    fn path(&self) -> String {
        format!("streams[{}]", self.index)
    }
}

impl<'de> DeserializeSeed<'de> for StreamSeed {
    type Value = RawStream;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

const STREAM_KEYS: &[&str] = &["stream", "values", "labels", "entries"];

impl<'de> Visitor<'de> for StreamSeed {
    type Value = RawStream;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.api {
            Api::V1 => f.write_str("a stream object {\"stream\": {...}, \"values\": [...]}"),
            Api::Legacy => f.write_str("a stream object {\"labels\": \"...\", \"entries\": [...]}"),
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let i = self.index;
        let mut labels_map: Option<Vec<Label>> = None;
        let mut values: Option<Vec<Entry>> = None;
        let mut labels_text: Option<String> = None;
        let mut entries: Option<Vec<Entry>> = None;
        while let Some(key) = map.next_key_seed(KeySeed(STREAM_KEYS))? {
            match key {
                Some(0) => {
                    if labels_map.is_some() {
                        return Err(duplicate(|| self.path(), "stream"));
                    }
                    let v = map
                        .next_value_seed(LabelMapSeed { path: LabelPath::Stream(i) })
                        .map_err(|e| at(e, || format!("streams[{i}].stream")))?;
                    labels_map = Some(v);
                }
                Some(1) => {
                    if values.is_some() {
                        return Err(duplicate(|| self.path(), "values"));
                    }
                    let v = map.next_value_seed(ValuesSeed { stream: i }).map_err(|e| at(e, || format!("streams[{i}].values")))?;
                    values = Some(v);
                }
                Some(2) => {
                    if labels_text.is_some() {
                        return Err(duplicate(|| self.path(), "labels"));
                    }
                    let v = map.next_value::<String>().map_err(|e| at(e, || format!("streams[{i}].labels")))?;
                    labels_text = Some(v);
                }
                Some(_) => {
                    if entries.is_some() {
                        return Err(duplicate(|| self.path(), "entries"));
                    }
                    let v = map.next_value_seed(LegacyEntriesSeed { stream: i }).map_err(|e| at(e, || format!("streams[{i}].entries")))?;
                    entries = Some(v);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let v1_shape = labels_map.is_some() || values.is_some();
        let legacy_shape = labels_text.is_some() || entries.is_some();
        if self.api == Api::V1 || v1_shape || !legacy_shape {
            if self.api == Api::V1 && !v1_shape && legacy_shape {
                return Err(de::Error::custom(format_args!(
                    "{}: legacy stream fields `labels`/`entries` are only accepted on /api/prom/push; \
                     use `stream` and `values`",
                    self.path()
                )));
            }
            if self.api == Api::Legacy && legacy_shape {
                return Err(de::Error::custom(format_args!(
                    "{}: mixes v1 fields (`stream`, `values`) with legacy ones (`labels`, `entries`)",
                    self.path()
                )));
            }
            let labels = labels_map.ok_or_else(|| missing(|| self.path(), "stream"))?;
            let entries = values.ok_or_else(|| missing(|| self.path(), "values"))?;
            Ok(RawStream { labels: StreamLabels::Map(labels), entries })
        } else {
            let labels = labels_text.ok_or_else(|| missing(|| self.path(), "labels"))?;
            let entries = entries.ok_or_else(|| missing(|| self.path(), "entries"))?;
            Ok(RawStream { labels: StreamLabels::Text(labels), entries })
        }
    }
}

// ---------------------------------------------------------------------------
// Objects of string values: stream labels and structured metadata.

#[derive(Clone, Copy)]
enum LabelPath {
    Stream(usize),
    Metadata(usize, usize),
}

impl LabelPath {
    fn with_key(self, key: &str) -> String {
        let mut s = match self {
            LabelPath::Stream(i) => format!("streams[{i}].stream"),
            LabelPath::Metadata(i, j) => format!("streams[{i}].values[{j}][2]"),
        };
        let _ = write!(s, ".{key}");
        s
    }
}

struct LabelMapSeed {
    path: LabelPath,
}

impl<'de> DeserializeSeed<'de> for LabelMapSeed {
    type Value = Vec<Label>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for LabelMapSeed {
    type Value = Vec<Label>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.path {
            LabelPath::Stream(_) => f.write_str("an object of label names to string values"),
            LabelPath::Metadata(..) => f.write_str("an object of structured metadata names to string values"),
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut labels: Vec<Label> = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            let value = map.next_value::<String>().map_err(|e| at(e, || self.path.with_key(&name)))?;
            labels.push(Label { name, value });
        }
        if let LabelPath::Metadata(..) = self.path {
            dedup_last_wins(&mut labels);
        }
        Ok(labels)
    }
}

/// Keeps the last value of a repeated name (Go decodes the object into a map), in
/// the position of its first occurrence.
fn dedup_last_wins(labels: &mut Vec<Label>) {
    if labels.len() < 2 {
        return;
    }
    let mut dup = false;
    if labels.len() <= 16 {
        'outer: for i in 1..labels.len() {
            for j in 0..i {
                if labels[i].name == labels[j].name {
                    dup = true;
                    break 'outer;
                }
            }
        }
    } else {
        let mut seen = std::collections::HashSet::with_capacity(labels.len());
        dup = !labels.iter().all(|l| seen.insert(l.name.as_str()));
    }
    if !dup {
        return;
    }
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut out: Vec<Label> = Vec::with_capacity(labels.len());
    for label in labels.drain(..) {
        match index.get(&label.name) {
            Some(&at) => out[at].value = label.value,
            None => {
                index.insert(label.name.clone(), out.len());
                out.push(label);
            }
        }
    }
    *labels = out;
}

// ---------------------------------------------------------------------------
// v1 entries: [["<ns>", "<line>"], ["<ns>", "<line>", {metadata}]]

struct ValuesSeed {
    stream: usize,
}

impl<'de> DeserializeSeed<'de> for ValuesSeed {
    type Value = Vec<Entry>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ValuesSeed {
    type Value = Vec<Entry>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of [timestamp, line] entries")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        let i = self.stream;
        loop {
            let j = out.len();
            match seq.next_element_seed(EntrySeed { stream: i, entry: j }).map_err(|e| at(e, || format!("streams[{i}].values[{j}]")))? {
                Some(entry) => out.push(entry),
                None => return Ok(out),
            }
        }
    }
}

struct EntrySeed {
    stream: usize,
    entry: usize,
}

impl<'de> DeserializeSeed<'de> for EntrySeed {
    type Value = Entry;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EntrySeed {
    type Value = Entry;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an entry array [\"<unix nanoseconds>\", \"<line>\"] or [\"<ns>\", \"<line>\", {metadata}]")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let (i, j) = (self.stream, self.entry);
        let short = || {
            de::Error::custom(format_args!(
                "streams[{i}].values[{j}]: an entry needs at least 2 elements, [\"<unix nanoseconds>\", \"<line>\"]"
            ))
        };
        let ts = seq.next_element_seed(NanosSeed).map_err(|e| at(e, || format!("streams[{i}].values[{j}][0]")))?.ok_or_else(short)?;
        let line = seq.next_element::<String>().map_err(|e| at(e, || format!("streams[{i}].values[{j}][1]")))?.ok_or_else(short)?;
        let metadata = seq
            .next_element_seed(LabelMapSeed { path: LabelPath::Metadata(i, j) })
            .map_err(|e| at(e, || format!("streams[{i}].values[{j}][2]")))?
            .unwrap_or_default();
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(de::Error::custom(format_args!(
                "streams[{i}].values[{j}]: an entry has at most 3 elements (timestamp, line, metadata)"
            )));
        }
        Ok(Entry { ts, line, metadata })
    }
}

/// A v1 timestamp: a JSON string of decimal Unix nanoseconds.
struct NanosSeed;

impl<'de> DeserializeSeed<'de> for NanosSeed {
    type Value = i64;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for NanosSeed {
    type Value = i64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string of Unix epoch nanoseconds")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
        parse_nanos(v).ok_or_else(|| {
            E::custom(format_args!(
                "invalid timestamp {v:?}: expected a string of Unix epoch nanoseconds within the range of a 64-bit integer"
            ))
        })
    }
}

// ---------------------------------------------------------------------------
// Legacy entries: [{"ts": "<RFC3339>", "line": "...", "structuredMetadata": [...]}]

struct LegacyEntriesSeed {
    stream: usize,
}

impl<'de> DeserializeSeed<'de> for LegacyEntriesSeed {
    type Value = Vec<Entry>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for LegacyEntriesSeed {
    type Value = Vec<Entry>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of {\"ts\": ..., \"line\": ...} entries")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        let i = self.stream;
        loop {
            let j = out.len();
            match seq
                .next_element_seed(LegacyEntrySeed { stream: i, entry: j })
                .map_err(|e| at(e, || format!("streams[{i}].entries[{j}]")))?
            {
                Some(entry) => out.push(entry),
                None => return Ok(out),
            }
        }
    }
}

struct LegacyEntrySeed {
    stream: usize,
    entry: usize,
}

impl<'de> DeserializeSeed<'de> for LegacyEntrySeed {
    type Value = Entry;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for LegacyEntrySeed {
    type Value = Entry;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an entry object {\"ts\": \"<RFC3339>\", \"line\": \"...\"}")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (i, j) = (self.stream, self.entry);
        let path = || format!("streams[{i}].entries[{j}]");
        let mut ts: Option<i64> = None;
        let mut line: Option<String> = None;
        let mut metadata: Option<Vec<Label>> = None;
        while let Some(key) = map.next_key_seed(KeySeed(&["ts", "line", "structuredMetadata"]))? {
            match key {
                Some(0) => {
                    if ts.is_some() {
                        return Err(duplicate(path, "ts"));
                    }
                    let text = map.next_value::<std::borrow::Cow<'_, str>>().map_err(|e| at(e, || format!("{}.ts", path())))?;
                    let parsed = skald_common::parse_timestamp(&text)
                        .map_err(|_| de::Error::custom(format_args!("{}.ts: invalid timestamp {text:?}: expected RFC3339", path())))?;
                    ts = Some(parsed);
                }
                Some(1) => {
                    if line.is_some() {
                        return Err(duplicate(path, "line"));
                    }
                    line = Some(map.next_value::<String>().map_err(|e| at(e, || format!("{}.line", path())))?);
                }
                Some(_) => {
                    if metadata.is_some() {
                        return Err(duplicate(path, "structuredMetadata"));
                    }
                    let pairs =
                        map.next_value::<Option<Vec<LabelPair>>>().map_err(|e| at(e, || format!("{}.structuredMetadata", path())))?;
                    let mut labels: Vec<Label> =
                        pairs.unwrap_or_default().into_iter().map(|p| Label { name: p.name, value: p.value }).collect();
                    dedup_last_wins(&mut labels);
                    metadata = Some(labels);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let ts = ts.ok_or_else(|| missing(path, "ts"))?;
        let line = line.ok_or_else(|| missing(path, "line"))?;
        Ok(Entry { ts, line, metadata: metadata.unwrap_or_default() })
    }
}

#[derive(serde::Deserialize)]
struct LabelPair {
    name: String,
    value: String,
}

// ---------------------------------------------------------------------------
// Encoding

/// Encodes streams as a v1 JSON push body:
/// `{"streams":[{"stream":{...},"values":[["<ns>","<line>"(,{metadata})]]}]}`.
pub fn encode_json(streams: &[PushStream]) -> Vec<u8> {
    let size: usize = streams.iter().map(|s| 64 + s.entries.iter().map(|e| e.line.len() + e.metadata_bytes() + 32).sum::<usize>()).sum();
    let mut out = Vec::with_capacity(size + 16);
    out.extend_from_slice(b"{\"streams\":[");
    for (i, stream) in streams.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"stream\":");
        write_object(&mut out, stream.labels.iter());
        out.extend_from_slice(b",\"values\":[");
        for (j, entry) in stream.entries.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"[\"");
            out.extend_from_slice(entry.ts.to_string().as_bytes());
            out.extend_from_slice(b"\",");
            write_string(&mut out, &entry.line);
            if !entry.metadata.is_empty() {
                out.push(b',');
                write_object(&mut out, entry.metadata.iter());
            }
            out.push(b']');
        }
        out.extend_from_slice(b"]}");
    }
    out.extend_from_slice(b"]}");
    out
}

fn write_object<'a>(out: &mut Vec<u8>, labels: impl Iterator<Item = &'a Label>) {
    out.push(b'{');
    for (k, label) in labels.enumerate() {
        if k > 0 {
            out.push(b',');
        }
        write_string(out, &label.name);
        out.push(b':');
        write_string(out, &label.value);
    }
    out.push(b'}');
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *out, s).expect("writing a JSON string to a Vec cannot fail");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nanos() {
        assert_eq!(parse_nanos("0"), Some(0));
        assert_eq!(parse_nanos("1759312800264069219"), Some(1759312800264069219));
        assert_eq!(parse_nanos("-5"), Some(-5));
        assert_eq!(parse_nanos("+5"), Some(5));
        assert_eq!(parse_nanos("9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_nanos("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_nanos("9223372036854775808"), None);
        assert_eq!(parse_nanos(""), None);
        assert_eq!(parse_nanos("-"), None);
        assert_eq!(parse_nanos("1.5"), None);
        assert_eq!(parse_nanos(" 1"), None);
    }

    #[test]
    fn dedup() {
        let mut v = vec![Label::new("a", "1"), Label::new("b", "2"), Label::new("a", "3")];
        dedup_last_wins(&mut v);
        assert_eq!(v, vec![Label::new("a", "3"), Label::new("b", "2")]);
        let mut big: Vec<Label> = (0..40).map(|i| Label::new(format!("k{}", i % 20), i.to_string())).collect();
        dedup_last_wins(&mut big);
        assert_eq!(big.len(), 20);
        assert_eq!(big[0], Label::new("k0", "20"));
    }
}
