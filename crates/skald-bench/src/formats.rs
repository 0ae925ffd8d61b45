//! The corpus' push bodies in the format being measured. The corpora are Loki JSON
//! pushes; `--push-format protobuf` sends each as Loki's snappy protobuf (as Promtail and
//! Alloy do) and `--push-format otlp` as an OTLP/HTTP protobuf `ExportLogsServiceRequest`
//! (one resource per stream, its labels as resource attributes; the server is told to
//! index those attributes, so both paths make the same streams). Converted before the
//! clock starts.

use anyhow::Context;
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use skald_push::{Api, DecodeLimits};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PushFormat {
    Json,
    Protobuf,
    Otlp,
}

/// Where and how bodies of a format are sent.
pub struct Push {
    pub path: &'static str,
    pub content_type: &'static str,
    pub bodies: Vec<Bytes>,
    /// Config the server needs for this format (OTLP: the corpus' label names as the
    /// resource attributes indexed by default).
    pub server_config: String,
}

pub fn convert(bodies: &[Bytes], format: PushFormat) -> anyhow::Result<Push> {
    let (path, content_type) = match format {
        PushFormat::Json => {
            return Ok(Push {
                path: "/loki/api/v1/push",
                content_type: "application/json",
                bodies: bodies.to_vec(),
                server_config: String::new(),
            });
        }
        PushFormat::Protobuf => ("/loki/api/v1/push", "application/x-protobuf"),
        PushFormat::Otlp => ("/otlp/v1/logs", "application/x-protobuf"),
    };
    let mut out = Vec::with_capacity(bodies.len());
    let mut names = std::collections::BTreeSet::new();
    for (i, body) in bodies.iter().enumerate() {
        let raw = skald_push::decode_push(Api::V1, Some("application/json"), None, body, &DecodeLimits::default())
            .with_context(|| format!("corpus body {i}"))?;
        let streams =
            raw.into_iter().map(|s| s.into_push_stream()).collect::<Result<Vec<_>, _>>().with_context(|| format!("corpus body {i}"))?;
        names.extend(streams.iter().flat_map(|s| s.labels.iter().map(|l| l.name.clone())));
        let converted = match format {
            PushFormat::Otlp => otlp(&streams).encode_to_vec(),
            _ => skald_push::encode_protobuf(&streams),
        };
        out.push(Bytes::from(converted));
    }
    let server_config = match format {
        PushFormat::Otlp => format!(
            "distributor:\n  otlp_config:\n    default_resource_attributes_as_index_labels: [{}]\n",
            names.into_iter().collect::<Vec<_>>().join(", ")
        ),
        _ => String::new(),
    };
    Ok(Push { path, content_type, bodies: out, server_config })
}

fn otlp(streams: &[skald_common::PushStream]) -> ExportLogsServiceRequest {
    let string = |s: &str| Some(AnyValue { value: Some(any_value::Value::StringValue(s.to_string())) });
    let resource_logs = streams
        .iter()
        .map(|stream| {
            let attributes =
                stream.labels.iter().map(|l| KeyValue { key: l.name.clone(), value: string(&l.value), ..Default::default() }).collect();
            let log_records = stream
                .entries
                .iter()
                .map(|e| LogRecord { time_unix_nano: e.ts as u64, body: string(&e.line), ..Default::default() })
                .collect();
            ResourceLogs {
                resource: Some(Resource { attributes, ..Default::default() }),
                scope_logs: vec![ScopeLogs { log_records, ..Default::default() }],
                ..Default::default()
            }
        })
        .collect();
    ExportLogsServiceRequest { resource_logs }
}
