//! Serving the gRPC services: message size limits (Loki's
//! `server.grpc_server_max_recv_msg_size` / `grpc_server_max_send_msg_size`) and a
//! helper that runs a tonic server on a bound listener until shutdown, with TLS when
//! given (Loki's `server.grpc_tls_config`).

use std::future::Future;
use tonic::service::Routes;
use tonic::transport::ServerTlsConfig;
use tonic::transport::server::TcpIncoming;

/// Loki's default for both directions: 4 MiB.
pub const DEFAULT_MAX_MSG_SIZE: usize = 4 << 20;

/// Largest message a service accepts (`max_recv_msg_size`) and sends
/// (`max_send_msg_size`). A push larger than the receive limit is refused with
/// RESOURCE_EXHAUSTED; set it at least as high as the HTTP push limit when gRPC pushes
/// must accept the same bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageLimits {
    pub max_recv_msg_size: usize,
    pub max_send_msg_size: usize,
}

impl Default for MessageLimits {
    fn default() -> Self {
        MessageLimits { max_recv_msg_size: DEFAULT_MAX_MSG_SIZE, max_send_msg_size: DEFAULT_MAX_MSG_SIZE }
    }
}

/// Serves `routes` on `listener` until `shutdown` completes. Build `routes` with
/// `tonic::service::Routes::new(svc).add_service(other)`. With `tls`, every connection
/// must complete a TLS handshake (and present a client certificate if the config names
/// a client CA); plain-text clients are refused.
pub async fn serve(
    listener: tokio::net::TcpListener,
    routes: Routes,
    tls: Option<ServerTlsConfig>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        builder = builder.tls_config(tls)?;
    }
    builder.add_routes(routes).serve_with_incoming_shutdown(incoming, shutdown).await
}
