//! Loki's `logproto.Pusher/Push` on the distributor, so Loki's gRPC clients (and
//! Loki-compatible agents configured for gRPC) can push to Skald.
//!
//! The request goes through the same `Distributor::push` as an HTTP push: same
//! validation, limits and messages. Failures map to gRPC codes the way Loki's httpgrpc
//! errors do (400 -> INVALID_ARGUMENT, 429 -> RESOURCE_EXHAUSTED, 5xx -> INTERNAL or
//! UNAVAILABLE), with Loki's message text.

use crate::convert::raw_streams_from_proto;
use crate::error::code_for_http;
use crate::server::MessageLimits;
use crate::tenant::tenant_from_metadata;
use skald_distributor::Distributor;
use skald_proto::logproto::pusher_server::{Pusher, PusherServer};
use skald_proto::logproto::{PushRequest, PushResponse};
use std::sync::Arc;
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

pub struct PusherService {
    distributor: Arc<Distributor>,
    auth_enabled: bool,
}

/// The service to add to a tonic server (see [`crate::server`]).
pub fn pusher_service(distributor: Arc<Distributor>, auth_enabled: bool, limits: MessageLimits) -> PusherServer<PusherService> {
    PusherServer::new(PusherService { distributor, auth_enabled })
        .max_decoding_message_size(limits.max_recv_msg_size)
        .max_encoding_message_size(limits.max_send_msg_size)
        .accept_compressed(CompressionEncoding::Gzip)
}

#[tonic::async_trait]
impl Pusher for PusherService {
    async fn push(&self, request: Request<PushRequest>) -> Result<Response<PushResponse>, Status> {
        let tenant = tenant_from_metadata(request.metadata(), self.auth_enabled)?;
        let streams = raw_streams_from_proto(request.into_inner())?;
        match self.distributor.push(&tenant, streams).await {
            Ok(_) => Ok(Response::new(PushResponse {})),
            Err(error) => {
                let status = error.status();
                if status >= 500 {
                    tracing::warn!(%tenant, %error, "grpc push failed");
                }
                Err(Status::new(code_for_http(status), error.to_string()))
            }
        }
    }
}
