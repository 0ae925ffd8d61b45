//! TLS for the HTTP server (rustls with the `ring` provider), from PEM files named as in
//! Loki's `server.http_tls_config`: `cert_file`, `key_file`, and optionally
//! `client_ca_file` to require client certificates signed by that CA.

use std::path::Path;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {what} {path}: {message}")]
    Pem { what: &'static str, path: String, message: String },
    #[error("{what} {path} holds no PEM certificate")]
    Empty { what: &'static str, path: String },
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// Builds the acceptor. `client_ca_file`, when given, makes client certificates
/// required (Loki's `client_auth_type: RequireAndVerifyClientCert`).
pub fn acceptor(cert_file: &Path, key_file: &Path, client_ca_file: Option<&Path>) -> Result<TlsAcceptor, TlsError> {
    let certs = read_certs("cert_file", cert_file)?;
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| TlsError::Pem {
        what: "key_file",
        path: key_file.display().to_string(),
        message: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match client_ca_file {
        None => builder.with_no_client_auth(),
        Some(ca_file) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in read_certs("client_ca_file", ca_file)? {
                roots.add(cert).map_err(|e| TlsError::Config(format!("client_ca_file: {e}")))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError::Config(format!("client_ca_file: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn read_certs(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_error = |message: String| TlsError::Pem { what, path: path.display().to_string(), message };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::Empty { what, path: path.display().to_string() });
    }
    Ok(certs)
}
