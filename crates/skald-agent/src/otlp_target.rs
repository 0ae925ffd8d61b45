//! `otlp` targets: an OpenTelemetry logs receiver on the node, so applications (their
//! SDKs' OTLP exporters, or a Collector) can send to the local agent instead of to the
//! server. It speaks OTLP/HTTP (`POST /v1/logs`, the path exporters add to a base
//! endpoint, and Loki's `/otlp/v1/logs`; protobuf or JSON, gzip/zstd/lz4, decoded by
//! `skald_push::otlp`) and, when `grpc_listen_port` is set, OTLP/gRPC
//! (`LogsService/Export`).
//!
//! Records are mapped to streams exactly as the server (and Loki) map them, with the
//! target's `otlp_config`; then the target's labels and relabel rules apply and the
//! entries go through the scrape config's pipeline to the clients, which batch and
//! retry them like any other entry. The incoming tenant (`X-Scope-OrgID`) is kept.
//!
//! Answers follow the OTLP specification rather than Loki (this is a receiver, as the
//! Collector's is): success once the entries are queued for the clients (HTTP 200 with
//! an empty `ExportLogsServiceResponse`, protobuf or JSON as asked; gRPC OK), so an
//! acknowledged record is in the agent's hands; 400 / `INVALID_ARGUMENT` (not retried)
//! for what does not decode or map, 413 past the size cap, 503 / `UNAVAILABLE`
//! (retried) while the agent stops. A full queue delays the answer.

use crate::config::OtlpReceiverConfig;
use crate::metrics::{self, Metrics};
use crate::push_api::{MAX_BODY_BYTES, relay_streams};
use crate::relabel::Rule;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{LogsService, LogsServiceServer};
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use skald_agent_stages::LogEntry;
use skald_push::DecodeLimits;
use skald_push::otlp::{MappingOptions, decode_otlp, encode_status, to_streams};
use std::sync::Arc;
use tokio::sync::mpsc;

pub struct OtlpTarget {
    pub config: OtlpReceiverConfig,
    pub relabel: Vec<Rule>,
    pub metrics: Arc<Metrics>,
    pub entries: mpsc::Sender<Vec<LogEntry>>,
    /// Loki's default `discover_service_name` (a resource without `service.name` gets
    /// the first of these it indexes, else `unknown_service`).
    pub discover_service_name: Vec<String>,
}

/// Why a request was not taken: an HTTP status and a message.
struct Refusal {
    status: u16,
    message: String,
}

impl OtlpTarget {
    pub fn new(config: OtlpReceiverConfig, relabel: Vec<Rule>, metrics: Arc<Metrics>, entries: mpsc::Sender<Vec<LogEntry>>) -> OtlpTarget {
        let discover_service_name = skald_common::Limits::default().discover_service_name;
        OtlpTarget { config, relabel, metrics, entries, discover_service_name }
    }

    /// Checks the `otlp_config` (its regexes compile) by mapping an empty request.
    pub fn check(config: &OtlpReceiverConfig) -> Result<(), String> {
        let options = MappingOptions {
            config: &config.otlp_config,
            default_index_labels: &config.default_resource_attributes_as_index_labels,
            discover_service_name: &[],
            now: 0,
        };
        to_streams(&ExportLogsServiceRequest::default(), &options).map(|_| ()).map_err(|e| e.to_string())
    }

    /// Maps a request and queues its entries for the pipeline.
    async fn take(&self, request: &ExportLogsServiceRequest, tenant: Option<String>) -> Result<(), Refusal> {
        let options = MappingOptions {
            config: &self.config.otlp_config,
            default_index_labels: &self.config.default_resource_attributes_as_index_labels,
            discover_service_name: &self.discover_service_name,
            now: skald_common::unix_nanos_now(),
        };
        let streams = to_streams(request, &options).map_err(|e| Refusal { status: 400, message: e.to_string() })?;
        let out = relay_streams(streams, &self.config.labels, &self.relabel, self.config.use_incoming_timestamp, tenant)
            .map_err(|message| Refusal { status: 400, message })?;
        self.metrics.add(metrics::OTLP_ENTRIES, &[], out.len() as u64);
        if !out.is_empty() && self.entries.send(out).await.is_err() {
            return Err(Refusal { status: 503, message: "agent is stopping".into() });
        }
        Ok(())
    }
}

pub fn http_router(target: Arc<OtlpTarget>) -> Router {
    Router::new()
        .route("/v1/logs", post(export_http))
        .route("/otlp/v1/logs", post(export_http))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(target)
}

async fn export_http(State(target): State<Arc<OtlpTarget>>, headers: HeaderMap, body: Bytes) -> Response {
    let value = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (content_type, encoding) = (value(header::CONTENT_TYPE), value(header::CONTENT_ENCODING));
    let tenant = headers.get("x-scope-orgid").and_then(|v| v.to_str().ok()).filter(|t| !t.is_empty()).map(str::to_string);
    let decode_type = content_type.clone();
    let decoded =
        tokio::task::spawn_blocking(move || decode_otlp(decode_type.as_deref(), encoding.as_deref(), &body, &DecodeLimits::default()))
            .await;
    let request = match decoded {
        Ok(Ok(request)) => request,
        Ok(Err(e)) => return refusal(Refusal { status: e.status(), message: e.to_string() }),
        Err(e) => return refusal(Refusal { status: 500, message: format!("decoding failed: {e}") }),
    };
    if let Err(refused) = target.take(&request, tenant).await {
        return refusal(refused);
    }
    // An empty ExportLogsServiceResponse: no bytes in protobuf, `{}` in JSON.
    if content_type.as_deref() == Some("application/json") {
        (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], "{}").into_response()
    } else {
        (StatusCode::OK, [(header::CONTENT_TYPE, "application/x-protobuf")], Vec::new()).into_response()
    }
}

fn refusal(refused: Refusal) -> Response {
    let status = StatusCode::from_u16(refused.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    (status, [(header::CONTENT_TYPE, "application/x-protobuf")], encode_status(&refused.message)).into_response()
}

/// The gRPC side.
pub struct GrpcLogs(pub Arc<OtlpTarget>);

pub fn grpc_service(target: Arc<OtlpTarget>) -> LogsServiceServer<GrpcLogs> {
    LogsServiceServer::new(GrpcLogs(target))
        .max_decoding_message_size(MAX_BODY_BYTES)
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
}

#[tonic::async_trait]
impl LogsService for GrpcLogs {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        let tenant = request.metadata().get("x-scope-orgid").and_then(|v| v.to_str().ok()).filter(|t| !t.is_empty()).map(str::to_string);
        match self.0.take(request.get_ref(), tenant).await {
            Ok(()) => Ok(tonic::Response::new(ExportLogsServiceResponse { partial_success: None })),
            Err(Refusal { status: 503, message }) => Err(tonic::Status::unavailable(message)),
            Err(Refusal { message, .. }) => Err(tonic::Status::invalid_argument(message)),
        }
    }
}

/// Serves the gRPC side on `listener` until the task is aborted.
pub async fn serve_grpc(listener: tokio::net::TcpListener, target: Arc<OtlpTarget>) {
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    if let Err(error) = tonic::transport::Server::builder().add_service(grpc_service(target)).serve_with_incoming(incoming).await {
        tracing::error!(%error, "otlp grpc receiver stopped");
    }
}
