//! OpenTelemetry's `opentelemetry.proto.collector.logs.v1.LogsService/Export` on the
//! gRPC port, so OTLP/gRPC exporters (the SDKs' `grpc` exporters, the Collector's `otlp`
//! exporter) can send to Skald directly. Loki has no such service; the mapping is the
//! one of `POST /otlp/v1/logs` (`Distributor::push_otlp`), the tenant comes from
//! `X-Scope-OrgID` metadata as for Loki's push service, and failures take the gRPC
//! codes the OTLP exporters act on: `INVALID_ARGUMENT` (not retried) for what was
//! refused, `RESOURCE_EXHAUSTED` and `UNAVAILABLE` (retried) for limits and outages.

use crate::error::code_for_http;
use crate::server::MessageLimits;
use crate::tenant::tenant_from_metadata;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{LogsService, LogsServiceServer};
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use skald_distributor::Distributor;
use std::sync::Arc;
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

pub struct OtlpLogsService {
    distributor: Arc<Distributor>,
    auth_enabled: bool,
}

/// The service to add to a tonic server (see [`crate::server`]).
pub fn otlp_logs_service(distributor: Arc<Distributor>, auth_enabled: bool, limits: MessageLimits) -> LogsServiceServer<OtlpLogsService> {
    LogsServiceServer::new(OtlpLogsService { distributor, auth_enabled })
        .max_decoding_message_size(limits.max_recv_msg_size)
        .max_encoding_message_size(limits.max_send_msg_size)
        .accept_compressed(CompressionEncoding::Gzip)
}

#[tonic::async_trait]
impl LogsService for OtlpLogsService {
    async fn export(&self, request: Request<ExportLogsServiceRequest>) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let tenant = tenant_from_metadata(request.metadata(), self.auth_enabled)?;
        match self.distributor.push_otlp(&tenant, request.get_ref()).await {
            Ok(outcome) if outcome.rejected == 0 => Ok(Response::new(ExportLogsServiceResponse { partial_success: None })),
            Ok(outcome) => Ok(Response::new(skald_push::otlp::partial_success_response(outcome.rejected, &outcome.message))),
            Err(error) => {
                // 500 is 503 for OTLP, as on the HTTP side: exporters retry it.
                let status = match error.status() {
                    500 => 503,
                    other => other,
                };
                if status >= 500 {
                    tracing::warn!(%tenant, %error, "otlp grpc export failed");
                }
                Err(Status::new(code_for_http(status), error.to_string()))
            }
        }
    }
}
