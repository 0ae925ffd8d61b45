//! The HTTP client of one `clients` entry: TLS (`tls_config`), proxy, redirects,
//! extra headers and the `Authorization` header, from Prometheus' HTTP client keys.
//!
//! TLS is rustls with the `ring` provider. Without `tls_config` reqwest's defaults
//! apply (the public Mozilla roots). With it, the rustls configuration is built here:
//! roots from `ca`/`ca_file` (else the public roots), a client certificate, a fixed
//! `server_name` to verify the certificate by (the URL's host still names the
//! connection), or `insecure_skip_verify` (handshake signatures are still checked).

use crate::config::ClientConfig;
use crate::config_client::TlsConfig;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// What went wrong building a client; `field` is relative to `clients[i]`.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub struct HttpClientError {
    pub field: String,
    pub message: String,
}

fn fail(field: &str, message: impl std::fmt::Display) -> HttpClientError {
    HttpClientError { field: field.to_string(), message: message.to_string() }
}

/// Builds the reqwest client; reads every file named in the config (CA, certificate,
/// key, secrets) now, so a missing file stops the agent at start with its name.
pub fn build(config: &ClientConfig, user_agent: &str) -> Result<reqwest::Client, HttpClientError> {
    let timeout = Duration::from_nanos(config.timeout.max(1) as u64);
    let mut builder = reqwest::Client::builder().timeout(timeout).user_agent(user_agent).default_headers(headers(config)?);
    builder = match (&config.proxy_url, config.proxy_from_environment) {
        (Some(url), _) => {
            let mut proxy = reqwest::Proxy::all(url).map_err(|e| fail("proxy_url", e))?;
            if let Some(hosts) = &config.no_proxy {
                proxy = proxy.no_proxy(reqwest::NoProxy::from_string(hosts));
            }
            builder.proxy(proxy)
        }
        // reqwest reads HTTP_PROXY/HTTPS_PROXY/NO_PROXY unless told not to.
        (None, true) => builder,
        (None, false) => builder.no_proxy(),
    };
    if !config.follow_redirects {
        builder = builder.redirect(reqwest::redirect::Policy::none());
    }
    if config.tls_config.is_set() {
        builder = builder.use_preconfigured_tls(rustls_config(&config.tls_config)?);
    }
    builder.build().map_err(|e| fail("url", e))
}

/// `headers` plus the `Authorization` header, sent with every request.
fn headers(config: &ClientConfig) -> Result<HeaderMap, HttpClientError> {
    let mut map = HeaderMap::new();
    for (name, value) in &config.headers {
        let field = format!("headers.{name}");
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| fail(&field, e))?;
        let value = HeaderValue::from_str(value).map_err(|e| fail(&field, e))?;
        map.insert(name, value);
    }
    if let Some(auth) = authorization(config)? {
        let mut value = HeaderValue::from_str(&auth).map_err(|e| fail("authorization", e))?;
        value.set_sensitive(true);
        map.insert(reqwest::header::AUTHORIZATION, value);
    }
    Ok(map)
}

fn read_secret(field: &str, path: &Path) -> Result<String, HttpClientError> {
    std::fs::read_to_string(path).map(|s| s.trim().to_string()).map_err(|e| fail(field, format!("reading {}: {e}", path.display())))
}

/// The `Authorization` header from `basic_auth`, `authorization` or `bearer_token(_file)`.
fn authorization(config: &ClientConfig) -> Result<Option<String>, HttpClientError> {
    if let Some(basic) = &config.basic_auth {
        let password = match (&basic.password, &basic.password_file) {
            (_, Some(path)) => read_secret("basic_auth.password_file", path)?,
            (Some(password), None) => password.clone(),
            (None, None) => String::new(),
        };
        let encoded = base64(format!("{}:{}", basic.username, password).as_bytes());
        return Ok(Some(format!("Basic {encoded}")));
    }
    if let Some(auth) = &config.authorization {
        let credentials = match (&auth.credentials, &auth.credentials_file) {
            (_, Some(path)) => read_secret("authorization.credentials_file", path)?,
            (Some(credentials), None) => credentials.clone(),
            (None, None) => return Err(fail("authorization", "needs credentials or credentials_file")),
        };
        return Ok(Some(format!("{} {credentials}", auth.kind)));
    }
    if let Some(path) = &config.bearer_token_file {
        return Ok(Some(format!("Bearer {}", read_secret("bearer_token_file", path)?)));
    }
    Ok(config.bearer_token.as_ref().map(|t| format!("Bearer {t}")))
}

/// Standard base64 with padding (only for the basic-auth header).
pub(crate) fn base64(input: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// PEM text given inline or in a file.
fn pem(field: &str, inline: &Option<String>, file: &Option<std::path::PathBuf>) -> Result<Option<Vec<u8>>, HttpClientError> {
    match (inline, file) {
        (Some(text), _) => Ok(Some(text.as_bytes().to_vec())),
        (None, Some(path)) => {
            std::fs::read(path).map(Some).map_err(|e| fail(&format!("tls_config.{field}_file"), format!("reading {}: {e}", path.display())))
        }
        (None, None) => Ok(None),
    }
}

fn certificates(field: &str, bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, HttpClientError> {
    let field = format!("tls_config.{field}");
    let certs = CertificateDer::pem_slice_iter(bytes).collect::<Result<Vec<_>, _>>().map_err(|e| fail(&field, e))?;
    if certs.is_empty() {
        return Err(fail(&field, "holds no PEM certificate"));
    }
    Ok(certs)
}

fn rustls_config(tls: &TlsConfig) -> Result<rustls::ClientConfig, HttpClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    match pem("ca", &tls.ca, &tls.ca_file)? {
        Some(bytes) => {
            for cert in certificates("ca", &bytes)? {
                roots.add(cert).map_err(|e| fail("tls_config.ca", e))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    let min13 = tls.min_version.as_deref() == Some("TLS13");
    let max12 = matches!(tls.max_version.as_deref(), Some("TLS10" | "TLS11" | "TLS12"));
    if !min13 {
        versions.push(&rustls::version::TLS12);
    }
    if !max12 {
        versions.push(&rustls::version::TLS13);
    }
    if versions.is_empty() {
        return Err(fail("tls_config.min_version", "min_version is above max_version"));
    }
    let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| fail("tls_config.ca", e))?;
    let verifier: Arc<dyn ServerCertVerifier> = if tls.insecure_skip_verify {
        Arc::new(AnyCertificate { provider: provider.clone() })
    } else if let Some(name) = &tls.server_name {
        let name = ServerName::try_from(name.clone()).map_err(|e| fail("tls_config.server_name", e))?;
        Arc::new(FixedName { inner: webpki, name })
    } else {
        webpki
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| fail("tls_config", e))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match pem("cert", &tls.cert, &tls.cert_file)? {
        None => builder.with_no_client_auth(),
        Some(cert) => {
            let chain = certificates("cert", &cert)?;
            let key_bytes = pem("key", &tls.key, &tls.key_file)?.unwrap_or_default();
            let key = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|e| fail("tls_config.key", e))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| fail("tls_config.key", e))?
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Verifies the certificate chain as usual, but for `server_name` instead of the host
/// the connection was made to.
#[derive(Debug)]
struct FixedName {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for FixedName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner.verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `insecure_skip_verify`: any certificate is accepted; the handshake signatures are
/// still verified, so the peer holds the key of the certificate it showed.
#[derive(Debug)]
struct AnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
    }

    fn client(yaml: &str) -> ClientConfig {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn missing_files_and_bad_headers_are_named() {
        let error = build(&client("{url: 'https://h/p', tls_config: {ca_file: /nonexistent/ca.pem}}"), "t").unwrap_err();
        assert_eq!(error.field, "tls_config.ca_file");
        assert!(error.message.contains("/nonexistent/ca.pem"), "{error}");
        let error = build(&client("{url: 'https://h/p', headers: {'bad header': x}}"), "t").unwrap_err();
        assert_eq!(error.field, "headers.bad header");
        let error = build(&client("{url: 'https://h/p', tls_config: {ca: 'not pem'}}"), "t").unwrap_err();
        assert!(error.to_string().contains("no PEM certificate"), "{error}");
    }

    #[test]
    fn authorization_forms() {
        let auth = |yaml: &str| authorization(&client(yaml)).unwrap();
        assert_eq!(auth("{url: 'http://h/p', basic_auth: {username: user, password: pass}}").unwrap(), "Basic dXNlcjpwYXNz");
        assert_eq!(auth("{url: 'http://h/p', authorization: {credentials: abc}}").unwrap(), "Bearer abc");
        assert_eq!(auth("{url: 'http://h/p', authorization: {type: Token, credentials: abc}}").unwrap(), "Token abc");
        assert_eq!(auth("{url: 'http://h/p', bearer_token: t}").unwrap(), "Bearer t");
        assert!(auth("{url: 'http://h/p'}").is_none());
    }
}
