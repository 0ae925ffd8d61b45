//! Loki's `grpc_client_config` block (its TLS keys), which every gRPC client of a
//! cluster node reads: `ingester_client`, `frontend` and `frontend_worker` each have one.
//!
//! The block is plain data here; the binary reads the files it names and builds the
//! TLS connector, so crates that only carry the setting need no TLS dependency.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `grpc_client_config:` (TLS part). With `tls_enabled: false` (the default) the client
/// speaks plain HTTP/2, as Loki's does.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct GrpcClientConfig {
    pub tls_enabled: bool,
    /// Client certificate (PEM), presented to servers that require one.
    pub tls_cert_path: Option<PathBuf>,
    /// Key of `tls_cert_path` (PEM).
    pub tls_key_path: Option<PathBuf>,
    /// CA bundle (PEM) that server certificates must chain to; the system's roots when
    /// unset.
    pub tls_ca_path: Option<PathBuf>,
    /// Name checked against the server certificate instead of the address's host.
    pub tls_server_name: Option<String>,
    /// Accepted for Loki compatibility, refused when true: Skald always verifies.
    pub tls_insecure_skip_verify: bool,
}

impl GrpcClientConfig {
    /// Checks the combinations that cannot work; `block` names the block in errors
    /// (for example `ingester_client.grpc_client_config`).
    pub fn validate(&self, block: &str) -> Result<(), String> {
        if self.tls_insecure_skip_verify {
            return Err(format!(
                "{block}.tls_insecure_skip_verify: not supported (server certificates are always verified; give tls_ca_path)"
            ));
        }
        if self.tls_cert_path.is_some() != self.tls_key_path.is_some() {
            return Err(format!("{block}: tls_cert_path and tls_key_path go together"));
        }
        Ok(())
    }

    /// Whether TLS keys are set while TLS is off (worth a warning: the client would
    /// silently speak plain text).
    pub fn has_unused_tls_keys(&self) -> bool {
        !self.tls_enabled
            && (self.tls_cert_path.is_some() || self.tls_key_path.is_some() || self.tls_ca_path.is_some() || self.tls_server_name.is_some())
    }
}

/// The URI a gRPC client connects to: `addr` as given when it names a scheme, else
/// `https://addr` with TLS and `http://addr` without.
pub fn grpc_uri(addr: &str, tls: bool) -> String {
    // grpc-go's resolver scheme, as Loki's configs write addresses: `dns:///host:port`
    // (or `dns://resolver/host:port`) is `host:port`, looked up by the system resolver.
    let addr = match addr.strip_prefix("dns://") {
        Some(rest) => rest.split_once('/').map_or(rest, |(_, target)| target),
        None => addr,
    };
    if addr.contains("://") {
        addr.to_string()
    } else if tls {
        format!("https://{addr}")
    } else {
        format!("http://{addr}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_resolver_addresses_are_their_target() {
        assert_eq!(grpc_uri("dns:///loki:9095", false), "http://loki:9095");
        assert_eq!(grpc_uri("dns://8.8.8.8/loki:9095", true), "https://loki:9095");
        assert_eq!(grpc_uri("127.0.0.1:9095", false), "http://127.0.0.1:9095");
        assert_eq!(grpc_uri("https://frontend:443", false), "https://frontend:443");
    }

    #[test]
    fn skipping_verification_is_refused_by_name() {
        let block = GrpcClientConfig { tls_enabled: true, tls_insecure_skip_verify: true, ..Default::default() };
        let error = block.validate("frontend.grpc_client_config").unwrap_err();
        assert!(error.contains("frontend.grpc_client_config.tls_insecure_skip_verify"), "{error}");
    }

    #[test]
    fn a_certificate_needs_its_key() {
        let block = GrpcClientConfig { tls_enabled: true, tls_cert_path: Some("c.pem".into()), ..Default::default() };
        assert!(block.validate("x").unwrap_err().contains("tls_key_path"));
        let ok = GrpcClientConfig { tls_key_path: Some("k.pem".into()), ..block };
        assert!(ok.validate("x").is_ok());
    }

    #[test]
    fn the_scheme_follows_tls_unless_given() {
        assert_eq!(grpc_uri("10.0.0.1:9095", false), "http://10.0.0.1:9095");
        assert_eq!(grpc_uri("10.0.0.1:9095", true), "https://10.0.0.1:9095");
        assert_eq!(grpc_uri("https://a:1", false), "https://a:1");
    }

    #[test]
    fn tls_keys_without_tls_are_noticed() {
        assert!(GrpcClientConfig { tls_ca_path: Some("ca.pem".into()), ..Default::default() }.has_unused_tls_keys());
        assert!(!GrpcClientConfig::default().has_unused_tls_keys());
    }
}
