//! Securing the gRPC port: TLS for the server (`server.grpc_tls_config`) and for each
//! gRPC client (`ingester_client`, `frontend` and `frontend_worker`'s
//! `grpc_client_config`), and the built-in credentials on Loki's gRPC push service.
//!
//! With a client CA on the server (`RequireAndVerifyClientCert`) and client
//! certificates on every node, only nodes holding a certificate of that CA can push to
//! an ingester, read from it, or take query parts from the scheduler: the cluster's
//! internal traffic is then both encrypted and authenticated.

use anyhow::Context;
use skald_api::auth::{AuthRejection, Credentials};
use skald_common::GrpcClientConfig;
use skald_config::TlsSection;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// A TLS handshake that takes longer than this is dropped (a client that connects and
/// sends nothing must not hold the connection).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn read(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("{what}: cannot read {}", path.display()))
}

/// The gRPC server's TLS, if `server.grpc_tls_config` names a certificate.
pub(crate) fn server_tls(section: &TlsSection) -> anyhow::Result<Option<ServerTlsConfig>> {
    let (Some(cert), Some(key)) = (&section.cert_file, &section.key_file) else { return Ok(None) };
    let identity = Identity::from_pem(read(cert, "server.grpc_tls_config.cert_file")?, read(key, "server.grpc_tls_config.key_file")?);
    let mut tls = ServerTlsConfig::new().identity(identity).timeout(HANDSHAKE_TIMEOUT);
    if let Some(ca) = &section.client_ca_file {
        tls = tls.client_ca_root(Certificate::from_pem(read(ca, "server.grpc_tls_config.client_ca_file")?));
    }
    Ok(Some(tls))
}

/// A gRPC client's TLS, if its `grpc_client_config` enables it; `block` names the
/// block in errors.
pub(crate) fn client_tls(config: &GrpcClientConfig, block: &str) -> anyhow::Result<Option<ClientTlsConfig>> {
    config.validate(block).map_err(anyhow::Error::msg)?;
    if config.has_unused_tls_keys() {
        tracing::warn!(block, "TLS paths are set but tls_enabled is false: this client speaks plain text");
    }
    if !config.tls_enabled {
        return Ok(None);
    }
    let mut tls = ClientTlsConfig::new().timeout(HANDSHAKE_TIMEOUT);
    tls = match &config.tls_ca_path {
        Some(ca) => tls.ca_certificate(Certificate::from_pem(read(ca, &format!("{block}.tls_ca_path"))?)),
        None => tls.with_native_roots(),
    };
    if let (Some(cert), Some(key)) = (&config.tls_cert_path, &config.tls_key_path) {
        tls =
            tls.identity(Identity::from_pem(read(cert, &format!("{block}.tls_cert_path"))?, read(key, &format!("{block}.tls_key_path"))?));
    }
    if let Some(name) = &config.tls_server_name {
        tls = tls.domain_name(name.clone());
    }
    Ok(Some(tls))
}

/// An interceptor for Loki's gRPC push service that admits exactly what the HTTP push
/// admits: with credentials configured, the `authorization` metadata must carry one,
/// and the tenant it may act as replaces `x-scope-orgid`.
pub(crate) fn push_credentials(
    credentials: Arc<Credentials>,
) -> impl FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Clone {
    move |mut request: tonic::Request<()>| {
        if credentials.is_empty() {
            return Ok(request);
        }
        let metadata = request.metadata();
        let authorization = metadata.get("authorization").and_then(|v| v.to_str().ok());
        let asked = metadata.get("x-scope-orgid").and_then(|v| v.to_str().ok());
        let tenant = credentials.resolve(authorization, asked).map_err(|rejection| match rejection {
            AuthRejection::Unauthenticated => tonic::Status::unauthenticated(rejection.to_string()),
            AuthRejection::Forbidden(_) => tonic::Status::permission_denied(rejection.to_string()),
        })?;
        let value = tenant.parse().map_err(|_| tonic::Status::internal("configured tenant is not a valid metadata value"))?;
        request.metadata_mut().insert("x-scope-orgid", value);
        Ok(request)
    }
}
