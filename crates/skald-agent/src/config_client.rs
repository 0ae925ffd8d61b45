//! `clients` entries: Promtail's client keys with Prometheus' HTTP client keys inline
//! (`basic_auth`, `authorization`, `bearer_token(_file)`, `tls_config`, `proxy_url`,
//! ...), as Promtail embeds `config.HTTPClientConfig`. Unknown keys (`oauth2`, typos)
//! are refused by name.

use serde::Deserialize;
use skald_common::limits::{de_bytes, de_duration};
use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::config::Nanos;

const SECOND: Nanos = 1_000_000_000;

/// One entry of `clients`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    pub url: String,
    /// Promtail's client name (used in its logs); accepted.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub tenant_id: Option<String>,
    #[serde(default = "default_batchwait", deserialize_with = "de_duration")]
    pub batchwait: Nanos,
    #[serde(default = "default_batchsize", deserialize_with = "de_bytes")]
    pub batchsize: u64,
    #[serde(default)]
    pub backoff_config: BackoffConfig,
    #[serde(default)]
    pub external_labels: BTreeMap<String, String>,
    /// Extra HTTP headers on every push (`X-Scope-OrgID` here is overridden by
    /// `tenant_id` and the `tenant` stage, as in Promtail).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    #[serde(default)]
    pub authorization: Option<Authorization>,
    #[serde(default)]
    pub bearer_token: Option<String>,
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    #[serde(default)]
    pub tls_config: TlsConfig,
    /// An `http://` proxy every push goes through.
    #[serde(default)]
    pub proxy_url: Option<String>,
    /// Hosts (comma-separated) reached without the proxy.
    #[serde(default)]
    pub no_proxy: Option<String>,
    /// Take the proxy from `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY`.
    #[serde(default)]
    pub proxy_from_environment: bool,
    #[serde(default = "yes")]
    pub follow_redirects: bool,
    /// Accepted; pushes use HTTP/1.1 (one request per batch, nothing to multiplex).
    #[serde(default = "yes")]
    pub enable_http2: bool,
    #[serde(default = "default_client_timeout", deserialize_with = "de_duration")]
    pub timeout: Nanos,
    /// A batch answered 429 is dropped (counted, reason `rate_limited`) instead of
    /// retried, so one throttled tenant does not hold back the others.
    #[serde(default)]
    pub drop_rate_limited_batches: bool,
}

fn yes() -> bool {
    true
}

fn default_batchwait() -> Nanos {
    SECOND
}

fn default_batchsize() -> u64 {
    1024 * 1024
}

fn default_client_timeout() -> Nanos {
    10 * SECOND
}

/// `backoff_config`: retries of 429, 5xx and connection errors.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackoffConfig {
    #[serde(deserialize_with = "de_duration")]
    pub min_period: Nanos,
    #[serde(deserialize_with = "de_duration")]
    pub max_period: Nanos,
    /// 0 retries forever (as dskit's backoff).
    pub max_retries: u32,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig { min_period: SECOND / 2, max_period: 300 * SECOND, max_retries: 10 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

/// Prometheus' `authorization`: `Authorization: <type> <credentials>`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    #[serde(default = "default_auth_type", rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub credentials: Option<String>,
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
}

fn default_auth_type() -> String {
    "Bearer".into()
}

/// Prometheus' `tls_config`: the CA that signs the server's certificate (instead of
/// the public roots), a client certificate, the name to verify the server by.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM text of the CA (instead of `ca_file`).
    pub ca: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub cert: Option<String>,
    pub cert_file: Option<PathBuf>,
    pub key: Option<String>,
    pub key_file: Option<PathBuf>,
    /// The name the server's certificate must carry (default: the URL's host).
    pub server_name: Option<String>,
    /// Accept any server certificate (signatures are still checked).
    pub insecure_skip_verify: bool,
    /// `TLS12` or `TLS13`.
    pub min_version: Option<String>,
    pub max_version: Option<String>,
}

impl TlsConfig {
    /// Whether anything differs from the defaults (public roots, no client cert).
    pub fn is_set(&self) -> bool {
        self.ca.is_some()
            || self.ca_file.is_some()
            || self.cert.is_some()
            || self.cert_file.is_some()
            || self.key.is_some()
            || self.key_file.is_some()
            || self.server_name.is_some()
            || self.insecure_skip_verify
            || self.min_version.is_some()
            || self.max_version.is_some()
    }
}

impl ClientConfig {
    /// Checks the HTTP keys serde cannot: the proxy URL, TLS pairs and versions.
    pub fn validate_http(&self) -> Result<(), (String, String)> {
        if let Some(proxy) = &self.proxy_url {
            match crate::config::url_parts(proxy) {
                Ok((scheme, _)) if scheme == "http" || scheme == "https" => {}
                _ => return Err(("proxy_url".into(), format!("need an http:// or https:// proxy URL, got {proxy:?}"))),
            }
        }
        if self.proxy_url.is_some() && self.proxy_from_environment {
            return Err(("proxy_url".into(), "use either proxy_url or proxy_from_environment, not both".into()));
        }
        let auths = usize::from(self.basic_auth.is_some())
            + usize::from(self.authorization.is_some())
            + usize::from(self.bearer_token.is_some() || self.bearer_token_file.is_some());
        if auths > 1 {
            return Err(("basic_auth".into(), "at most one of basic_auth, authorization, bearer_token(_file) may be set".into()));
        }
        let tls = &self.tls_config;
        if tls.ca.is_some() && tls.ca_file.is_some() {
            return Err(("tls_config".into(), "at most one of ca and ca_file may be set".into()));
        }
        let has_cert = tls.cert.is_some() || tls.cert_file.is_some();
        let has_key = tls.key.is_some() || tls.key_file.is_some();
        if has_cert != has_key {
            return Err(("tls_config".into(), "a client certificate needs both cert(_file) and key(_file)".into()));
        }
        for (field, version) in [("min_version", &tls.min_version), ("max_version", &tls.max_version)] {
            if let Some(version) = version
                && !matches!(version.as_str(), "TLS10" | "TLS11" | "TLS12" | "TLS13")
            {
                return Err((format!("tls_config.{field}"), format!("unknown TLS version {version:?} (TLS10, TLS11, TLS12, TLS13)")));
            }
        }
        Ok(())
    }
}
