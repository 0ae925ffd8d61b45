//! OTLP log requests (`POST /otlp/v1/logs`, and the gRPC `LogsService/Export`), decoded
//! and mapped to streams as Loki does it (`pkg/loghttp/push/otlp.go`). The mapping is
//! described in `docs/otlp.md`; in short:
//!
//! - the body: `Content-Encoding` exactly `gzip`, `zstd`, `lz4` (frame format),
//!   `deflate` (which Loki refuses, but the Collector can send) or none; `Content-Type` exactly
//!   `application/x-protobuf` or `application/json` (OTLP/JSON: camelCase or snake_case
//!   names, 64-bit integers as numbers or strings, hex trace and span IDs); the same
//!   decompressed-size cap as the push API;
//! - resource attributes in Loki's default list (`service.name`, `k8s.pod.name`, ...)
//!   and those the tenant's `otlp_config` indexes become labels, named as Loki names
//!   them (`service.name` -> `service_name`); the rest, the scope's and the record's
//!   attributes, and the record's fields (`severity_text`, `trace_id`, ...) become
//!   structured metadata; maps flatten into `parent_child` names;
//! - the body becomes the line (strings as they are, other values as Loki renders them);
//! - the timestamp is `time_unix_nano`, else `observed_time_unix_nano`, else now.

mod map;
mod value;

pub use map::{MappingOptions, to_streams};
pub use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
pub use value::sanitize_name;

use crate::{DecodeLimits, PushDecodeError};
use std::io::Read;

/// Decodes an OTLP/HTTP body into the request.
pub fn decode_otlp(
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    body: &[u8],
    limits: &DecodeLimits,
) -> Result<ExportLogsServiceRequest, PushDecodeError> {
    let limit = limits.max_decompressed_bytes;
    let decompressed: std::borrow::Cow<[u8]> = match content_encoding.unwrap_or("") {
        "" => {
            if body.len() > limit {
                return Err(PushDecodeError::TooLarge { limit });
            }
            body.into()
        }
        "gzip" => read_capped(flate2::read::MultiGzDecoder::new(body), limit, "gzip")?.into(),
        "zstd" => {
            let decoder = zstd::stream::read::Decoder::new(body).map_err(|e| PushDecodeError::Refused(format!("zstd: {e}")))?;
            read_capped(decoder, limit, "zstd")?.into()
        }
        "lz4" => read_capped(lz4_flex::frame::FrameDecoder::new(body), limit, "lz4")?.into(),
        // Loki refuses deflate; the Collector's otlphttp exporter can send it.
        "deflate" => crate::decompress::inflate(body, limit)?.into(),
        other => {
            return Err(PushDecodeError::Refused(format!(
                "unsupported content encoding {other}: only gzip, deflate, lz4 and zstd are supported"
            )));
        }
    };
    match content_type.unwrap_or("") {
        "application/x-protobuf" => {
            <ExportLogsServiceRequest as prost::Message>::decode(decompressed.as_ref()).map_err(|e| PushDecodeError::Refused(e.to_string()))
        }
        "application/json" => {
            let mut value: serde_json::Value =
                serde_json::from_slice(&decompressed).map_err(|e| PushDecodeError::Refused(e.to_string()))?;
            camel_case_keys(&mut value);
            serde_json::from_value(value).map_err(|e| PushDecodeError::Refused(e.to_string()))
        }
        other => Err(PushDecodeError::Refused(format!("content type: {other} is not supported"))),
    }
}

/// OTLP/JSON field names may be written as in the `.proto` files (`resource_logs`) as
/// well as in JSON form (`resourceLogs`); pdata, which Loki uses, reads both. Object keys
/// in OTLP/JSON are only ever field names (attribute keys are `"key"` values), so every
/// key is turned into its JSON form.
fn camel_case_keys(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            if map.keys().any(|k| k.contains('_')) {
                let entries = std::mem::take(map);
                for (key, value) in entries {
                    let key = if key.contains('_') { to_camel_case(&key) } else { key };
                    map.insert(key, value);
                }
            }
            map.values_mut().for_each(camel_case_keys);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(camel_case_keys),
        _ => {}
    }
}

fn to_camel_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The answer to a request of which `rejected` records were refused, `message` saying why.
pub fn partial_success_response(rejected: u64, message: &str) -> ExportLogsServiceResponse {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsPartialSuccess;
    let partial = ExportLogsPartialSuccess { rejected_log_records: rejected as i64, error_message: message.to_string() };
    ExportLogsServiceResponse { partial_success: Some(partial) }
}

/// [`partial_success_response`] as an OTLP/HTTP body: OTLP/JSON or protobuf.
pub fn partial_success_body(rejected: u64, message: &str, json: bool) -> Vec<u8> {
    let response = partial_success_response(rejected, message);
    if json { serde_json::to_vec(&response).unwrap_or_default() } else { prost::Message::encode_to_vec(&response) }
}

/// A protobuf `google.rpc.Status` carrying only `message` (field 2; the code, 0, is
/// left out as protobuf leaves it out): the body of Loki's OTLP error answers.
pub fn encode_status(message: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(message.len() + 6);
    body.push(0x12);
    let mut length = message.len();
    while length >= 0x80 {
        body.push((length as u8) | 0x80);
        length >>= 7;
    }
    body.push(length as u8);
    body.extend_from_slice(message.as_bytes());
    body
}

/// The message of a `google.rpc.Status` body written by [`encode_status`] (for tests and
/// clients); `None` for anything else.
pub fn status_message(body: &[u8]) -> Option<String> {
    let rest = body.strip_prefix(&[0x12])?;
    let (mut length, mut shift, mut at) = (0usize, 0, 0);
    loop {
        let byte = *rest.get(at)?;
        length |= ((byte & 0x7f) as usize) << shift;
        at += 1;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 35 {
            return None;
        }
    }
    Some(String::from_utf8_lossy(rest.get(at..at + length)?).into_owned())
}

/// Reads a decompressing reader to its end, refusing more than `limit` bytes.
fn read_capped(reader: impl Read, limit: usize, what: &str) -> Result<Vec<u8>, PushDecodeError> {
    let mut out = Vec::new();
    reader.take(limit as u64 + 1).read_to_end(&mut out).map_err(|e| PushDecodeError::Refused(format!("{what}: {e}")))?;
    if out.len() > limit {
        return Err(PushDecodeError::TooLarge { limit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
