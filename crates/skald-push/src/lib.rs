//! Decoding of Loki push requests: the bodies that Promtail, Alloy, the Docker driver,
//! `logcli` and hand-written scripts POST to `/loki/api/v1/push` and `/api/prom/push`.
//!
//! This crate is pure: no IO, no async. The HTTP layer hands [`decode_push`] the body
//! bytes and two headers; it gets back [`RawStream`]s whose labels are still unparsed
//! text (protobuf, legacy JSON) or a name/value list (v1 JSON). Label parsing,
//! validation, rate limits and tenant rules are the caller's business.
//!
//! # Pipeline
//!
//! The behaviour follows Loki's `pkg/loghttp/push/push.go` (`ParseLokiRequest`):
//!
//! 1. **`Content-Encoding`** (compared case-insensitively, surrounding blanks ignored):
//!    - absent, empty or `identity`: the body is used as is;
//!    - `gzip`: RFC 1952, concatenated members accepted (as Go's `gzip.Reader`);
//!    - `deflate`: Loki uses Go's `flate.NewReader`, i.e. *raw* RFC 1951 deflate. HTTP
//!      says `deflate` means zlib-wrapped (RFC 1950), and many clients send that, so a
//!      body that starts with a valid zlib header is inflated as zlib first, falling
//!      back to raw deflate if that fails;
//!    - `snappy`: Loki passes the body through untouched, because the protobuf path
//!      always snappy-decodes (clients set the header spuriously, Loki issue #3407).
//!      We do the same for protobuf. For JSON (where Loki would simply fail) a body
//!      that does not look like JSON is snappy-decoded, block or framed format;
//!    - anything else: [`PushDecodeError::UnsupportedEncoding`].
//! 2. **`Content-Type`**, parameters (`; charset=utf-8`) ignored, case-insensitive:
//!    - `application/json`: JSON, see below;
//!    - absent, empty, `application/x-protobuf`, or any other well-formed media type:
//!      a snappy **block** compressed (`snap::raw`, not the framing format)
//!      `logproto.PushRequest`. Loki treats every non-JSON media type this way (its
//!      `default:` branch), so `text/plain` is tried as protobuf and fails as
//!      [`PushDecodeError::Malformed`] unless it really is one;
//!    - a header that is not a media type at all (`"foo"`, `"a b/c"`):
//!      [`PushDecodeError::UnsupportedContentType`] (Go's `mime.ParseMediaType` fails).
//!
//! # Formats
//!
//! **JSON v1** ([`Api::V1`] and [`Api::Legacy`]):
//! `{"streams":[{"stream":{"job":"x"},"values":[["<ns>","<line>"],["<ns>","<line>",{"k":"v"}]]}]}`.
//! The timestamp must be a JSON *string* of decimal Unix nanoseconds (optionally
//! signed), exactly as Loki's `readTimestamp` (`strconv.ParseInt(s, 10, 64)`); JSON
//! numbers are rejected like Loki rejects them. The optional third element is the
//! entry's structured metadata, an object of string values (a repeated name keeps
//! its last value, as Go's map does). Stream labels must be strings too.
//!
//! **Legacy JSON** (only [`Api::Legacy`], i.e. `/api/prom/push`, which also accepts
//! the v1 shape per stream):
//! `{"streams":[{"labels":"{job=\"x\"}","entries":[{"ts":"2024-06-01T00:00:00Z","line":"..."}]}]}`.
//! `ts` is RFC3339 (anything [`skald_common::parse_timestamp`] accepts); an optional
//! `structuredMetadata: [{"name":..,"value":..}]` is honoured.
//!
//! **Protobuf**: `logproto.PushRequest { repeated StreamAdapter streams = 1 }`,
//! `StreamAdapter { string labels = 1; repeated EntryAdapter entries = 2; uint64 hash = 3 }`,
//! `EntryAdapter { google.protobuf.Timestamp timestamp = 1; string line = 2;
//! repeated LabelPairAdapter structuredMetadata = 3 }`. Decoded with `prost`
//! (hand-written message structs, no codegen). Go's protobuf does not validate UTF-8,
//! so lines, labels and metadata are decoded as bytes and converted lossily: an
//! invalid byte becomes U+FFFD instead of failing the whole request. The timestamp
//! must be present, `nanos` within `0..1e9`, and the instant representable as `i64`
//! nanoseconds (years 1677..2262).
//!
//! Unknown JSON fields and unknown protobuf fields are ignored, as in Loki. Missing
//! required fields, wrong JSON types and bad timestamps are
//! [`PushDecodeError::Malformed`] with a message naming the place, e.g.
//! `streams[2].values[17][0]: invalid timestamp "abc": ... at line 1 column 311`.
//! An empty `streams` list is not an error here.
//!
//! # Limits
//!
//! The HTTP layer caps the *received* body (Loki: 100 MB). This crate caps the
//! *decompressed* body at [`DecodeLimits::max_decompressed_bytes`], by default
//! [`DEFAULT_MAX_DECOMPRESSED_BYTES`] = 100 MiB. Without it a 100 KB gzip body could
//! expand to 100 MB and a 1 MB one to 1 GB (deflate tops out near 1032:1), and a
//! 10-byte snappy header can claim 4 GiB. The cap is enforced without ever holding
//! more than `limit + 1` decompressed bytes: gzip/deflate/framed snappy are streamed
//! into a buffer that grows geometrically but never past `limit + 1`, and a snappy
//! block's declared length is read from its header and refused before allocating.
//! An uncompressed body larger than the limit is refused too, so the limit is a bound
//! on what the decoders below see, whatever the encoding. Exceeding it is
//! [`PushDecodeError::TooLarge`] (HTTP 413).
//!
//! Past decompression, memory is bounded by the buffer: serde_json and prost never
//! preallocate from length claims they cannot back with bytes. Arbitrary input
//! returns an error, never panics (this is property-tested).
//!
//! # Encoding
//!
//! [`encode_protobuf`] (snappy-compressed, what Promtail sends) and [`encode_json`]
//! (v1 shape) build request bodies, for tests and the benchmark client.

mod decompress;
mod json;
pub mod otlp;
mod proto;

use std::borrow::Cow;

use skald_common::{Entry, Label, LabelSet, LabelsError, PushStream};

pub use json::encode_json;
pub use proto::encode_protobuf;

/// Default cap on the decompressed body: 100 MiB.
///
/// Loki caps the received body at 100 MB and does not bound what it decompresses to;
/// Promtail and Alloy send batches of ~1 MiB (uncompressed), so 100 MiB leaves two
/// orders of magnitude of headroom for legitimate clients while keeping a
/// decompression bomb to a bounded, short-lived allocation.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 100 * 1024 * 1024;

/// The labels of a decoded stream, in the form the wire format gave them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamLabels {
    /// v1 JSON: `"stream": {"name": "value", ...}`, in document order (a name may
    /// repeat; [`LabelSet::from_labels`] keeps the last).
    Map(Vec<Label>),
    /// Protobuf and legacy JSON: the Prometheus-style text `{name="value", ...}`,
    /// to be parsed with [`skald_common::parse_label_set`].
    Text(String),
}

impl StreamLabels {
    /// Turns the labels into a [`LabelSet`], parsing the text form.
    pub fn into_label_set(self) -> Result<LabelSet, LabelsError> {
        match self {
            StreamLabels::Map(labels) => Ok(LabelSet::from_labels(labels)),
            StreamLabels::Text(text) => skald_common::parse_label_set(&text),
        }
    }
}

/// One stream of a push request, labels not yet parsed or validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawStream {
    pub labels: StreamLabels,
    pub entries: Vec<Entry>,
}

impl RawStream {
    /// Parses the labels, giving the stream as the rest of Skald handles it.
    pub fn into_push_stream(self) -> Result<PushStream, LabelsError> {
        Ok(PushStream { labels: self.labels.into_label_set()?, entries: self.entries })
    }
}

/// Bounds applied while decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest body, after decompression, that is decoded. Default
    /// [`DEFAULT_MAX_DECOMPRESSED_BYTES`] (100 MiB).
    pub max_decompressed_bytes: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits { max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED_BYTES }
    }
}

/// Which push endpoint received the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `/loki/api/v1/push`: JSON must be the v1 shape.
    V1,
    /// `/api/prom/push`: JSON streams may be the legacy shape or the v1 shape.
    Legacy,
}

/// Why a push body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushDecodeError {
    /// The decompressed body is larger than [`DecodeLimits::max_decompressed_bytes`].
    #[error("push request body exceeds {limit} bytes after decompression")]
    TooLarge { limit: usize },
    /// A `Content-Encoding` other than none, gzip, deflate or snappy.
    #[error("unsupported Content-Encoding {0:?}")]
    UnsupportedEncoding(String),
    /// A `Content-Type` header that is not a media type.
    #[error("unsupported Content-Type {0:?}")]
    UnsupportedContentType(String),
    /// The body does not decode; the message says where and why.
    #[error("malformed push request: {0}")]
    Malformed(String),
    /// An OTLP request refused with Loki's own message (400).
    #[error("{0}")]
    Refused(String),
}

impl PushDecodeError {
    /// The HTTP status Loki answers with: 413 for a body too large, 400 for the rest
    /// (Loki answers 400 for an unknown encoding or media type too, not 415).
    pub fn status(&self) -> u16 {
        match self {
            PushDecodeError::TooLarge { .. } => 413,
            _ => 400,
        }
    }
}

/// Body format chosen by `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Protobuf,
}

fn parse_content_type(content_type: Option<&str>) -> Result<Format, PushDecodeError> {
    let raw = content_type.unwrap_or("");
    let media = raw.split(';').next().unwrap_or("").trim();
    if media.is_empty() {
        // Promtail-era clients that send no header get protobuf, as in Loki.
        return Ok(Format::Protobuf);
    }
    let valid = match media.split_once('/') {
        Some((ty, sub)) => is_token(ty) && is_token(sub),
        None => false,
    };
    if !valid {
        return Err(PushDecodeError::UnsupportedContentType(raw.to_string()));
    }
    if media.eq_ignore_ascii_case("application/json") { Ok(Format::Json) } else { Ok(Format::Protobuf) }
}

/// An RFC 7230 token (what `mime.ParseMediaType` accepts for type and subtype).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~')
        })
}

/// Decodes a push request body.
///
/// `content_type` and `content_encoding` are the raw header values (`None` when
/// absent). See the crate documentation for the formats accepted and the limits.
pub fn decode_push(
    api: Api,
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    body: &[u8],
    limits: &DecodeLimits,
) -> Result<Vec<RawStream>, PushDecodeError> {
    let limit = limits.max_decompressed_bytes;
    let encoding = decompress::parse_encoding(content_encoding)?;
    let format = parse_content_type(content_type)?;
    let body: Cow<'_, [u8]> = decompress::decode_content_encoding(encoding, body, limit)?;
    match format {
        Format::Json => {
            let json_body = if encoding == decompress::Encoding::Snappy && !decompress::looks_like_json(&body) {
                Cow::Owned(decompress::snappy_any(&body, limit)?)
            } else {
                body
            };
            if json_body.len() > limit {
                return Err(PushDecodeError::TooLarge { limit });
            }
            json::decode_json(api, &json_body)
        }
        Format::Protobuf => {
            let raw = decompress::snappy_block(&body, limit)?;
            proto::decode_protobuf(&raw)
        }
    }
}
