//! The YAML configuration, with Loki's key names where the setting is the same. Unknown
//! keys are refused with their name, so a typo never silently falls back to a default.

use serde::Deserialize;
use skald_common::Limits;
use skald_common::limits::{de_bytes, de_duration};
use std::path::{Path, PathBuf};

mod cluster;
pub use cluster::{IngesterClientSection, LifecyclerSection, MemberlistSection, RingSection};

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Loki defaults to true; Skald's embedded default is false (single user, tenant
    /// `fake`), as in Loki's single-binary example configuration.
    pub auth_enabled: bool,
    pub target: Option<String>,
    pub server: ServerConfig,
    pub common: CommonConfig,
    pub ingester: IngesterSection,
    pub limits_config: Limits,
    pub storage_config: StorageConfig,
    pub schema_config: SchemaConfig,
    pub querier: QuerierSection,
    pub query_scheduler: skald_frontend::QuerySchedulerBlock,
    pub frontend: skald_frontend::FrontendBlock,
    pub frontend_worker: skald_frontend::FrontendWorkerBlock,
    pub query_range: skald_frontend::QueryRangeBlock,
    pub memberlist: MemberlistSection,
    pub ingester_client: IngesterClientSection,
    pub compactor: skald_compactor::CompactorConfig,
    /// Built-in credentials (Skald's own section; Loki has none).
    pub auth: AuthSection,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub http_listen_address: String,
    pub http_listen_port: u16,
    pub grpc_listen_address: String,
    /// Loki's default is 9095; the single-binary server serves gRPC only when it is set.
    pub grpc_listen_port: Option<u16>,
    pub grpc_server_max_recv_msg_size: usize,
    pub grpc_server_max_send_msg_size: usize,
    pub log_level: String,
    #[serde(deserialize_with = "de_duration")]
    pub http_server_read_timeout: i64,
    #[serde(deserialize_with = "de_duration")]
    pub http_server_write_timeout: i64,
    #[serde(deserialize_with = "de_duration")]
    pub http_server_idle_timeout: i64,
    /// Connections served at once; 0 = no limit.
    pub http_conn_limit: usize,
    pub http_tls_config: TlsSection,
    /// TLS of the gRPC port (Loki's `server.grpc_tls_config`).
    pub grpc_tls_config: TlsSection,
}

impl Default for ServerConfig {
    fn default() -> Self {
        let second = 1_000_000_000;
        ServerConfig {
            http_listen_address: "0.0.0.0".into(),
            http_listen_port: 3100,
            grpc_listen_address: String::new(),
            grpc_listen_port: None,
            grpc_server_max_recv_msg_size: 4 << 20,
            grpc_server_max_send_msg_size: 4 << 20,
            log_level: "info".into(),
            http_server_read_timeout: 30 * second,
            http_server_write_timeout: 30 * second,
            http_server_idle_timeout: 120 * second,
            http_conn_limit: 0,
            http_tls_config: TlsSection::default(),
            grpc_tls_config: TlsSection::default(),
        }
    }
}

/// Loki's `server.http_tls_config` and `server.grpc_tls_config`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSection {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub client_ca_file: Option<PathBuf>,
    /// `NoClientCert` (default) or `RequireAndVerifyClientCert` (needs `client_ca_file`).
    pub client_auth_type: Option<String>,
}

impl TlsSection {
    /// Refuses combinations that cannot work; `block` names the section in errors.
    fn validate(&self, block: &str) -> anyhow::Result<()> {
        if self.cert_file.is_some() != self.key_file.is_some() {
            anyhow::bail!("{block}: cert_file and key_file go together");
        }
        if self.cert_file.is_none() && self.client_ca_file.is_some() {
            anyhow::bail!("{block}: client_ca_file needs cert_file and key_file (client certificates are checked only over TLS)");
        }
        match self.client_auth_type.as_deref() {
            None | Some("") | Some("NoClientCert") => Ok(()),
            Some("RequireAndVerifyClientCert") if self.client_ca_file.is_some() => Ok(()),
            Some("RequireAndVerifyClientCert") => anyhow::bail!("{block}: RequireAndVerifyClientCert needs client_ca_file"),
            Some(other) => {
                anyhow::bail!("{block}.client_auth_type: '{other}' is not supported (NoClientCert, RequireAndVerifyClientCert)")
            }
        }
    }
}

/// `auth`: credentials mapped to tenants. Empty means Loki's behaviour (the tenant
/// comes from `X-Scope-OrgID`, set by a trusted proxy).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSection {
    pub basic: Vec<BasicCredential>,
    pub bearer: Vec<BearerCredential>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct BasicCredential {
    pub username: String,
    pub password: Option<String>,
    pub password_file: Option<PathBuf>,
    /// Tenants this credential may act as; the first is used when the request names none.
    pub tenants: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct BearerCredential {
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
    pub tenants: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct CommonConfig {
    /// Where data lives when nothing more specific is set (`./data` by default).
    pub path_prefix: Option<PathBuf>,
    pub storage: skald_storage::CommonStorageConfig,
    pub replication_factor: Option<u32>,
    pub ring: Option<RingSection>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngesterSection {
    #[serde(deserialize_with = "de_duration")]
    pub chunk_idle_period: i64,
    #[serde(deserialize_with = "de_duration")]
    pub max_chunk_age: i64,
    #[serde(deserialize_with = "de_bytes")]
    pub chunk_target_size: u64,
    #[serde(deserialize_with = "de_bytes")]
    pub chunk_block_size: u64,
    /// `none`, `lz4`, `zstd` or `zstd:LEVEL`.
    pub chunk_encoding: String,
    #[serde(deserialize_with = "de_duration")]
    pub flush_check_period: i64,
    #[serde(deserialize_with = "de_bytes")]
    pub head_memory_budget: u64,
    pub wal: WalSection,
    pub lifecycler: LifecyclerSection,
}

impl Default for IngesterSection {
    fn default() -> Self {
        let minute = 60 * 1_000_000_000i64;
        IngesterSection {
            chunk_idle_period: 30 * minute,
            max_chunk_age: 120 * minute,
            chunk_target_size: 1_572_864,
            chunk_block_size: 1 << 20,
            chunk_encoding: "zstd".into(),
            flush_check_period: minute / 2,
            head_memory_budget: 80 << 20,
            wal: WalSection::default(),
            lifecycler: LifecyclerSection::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WalSection {
    pub enabled: bool,
    pub dir: Option<PathBuf>,
    #[serde(deserialize_with = "de_duration")]
    pub checkpoint_duration: i64,
}

impl Default for WalSection {
    fn default() -> Self {
        WalSection { enabled: true, dir: None, checkpoint_duration: 5 * 60 * 1_000_000_000 }
    }
}

pub use skald_storage::StorageConfig;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SchemaConfig {
    pub configs: Vec<PeriodConfig>,
}

/// A Loki schema period. Skald has one storage format, so the period is accepted for
/// compatibility and checked only for values Skald cannot honour.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PeriodConfig {
    pub from: String,
    pub store: String,
    pub object_store: String,
    pub schema: String,
    pub index: IndexPeriod,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct IndexPeriod {
    pub prefix: String,
    pub period: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuerierSection {
    /// Queries run at once (Loki's default 4); more wait.
    pub max_concurrent: Option<usize>,
    /// Ingesters are asked only for queries reaching into this recent past (3h).
    #[serde(deserialize_with = "de_duration")]
    pub query_ingesters_within: i64,
}

impl Default for QuerierSection {
    fn default() -> Self {
        QuerierSection { max_concurrent: None, query_ingesters_within: 3 * 3600 * 1_000_000_000 }
    }
}

impl Config {
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
        Config::parse(&text).map_err(|e| anyhow::anyhow!("invalid config file {}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Config> {
        let config: Config = serde_yaml_ng::from_str(text)?;
        for period in &config.schema_config.configs {
            if !period.object_store.is_empty() && !matches!(period.object_store.as_str(), "filesystem" | "s3" | "aws") {
                anyhow::bail!("schema_config: object_store '{}' is not supported (use filesystem)", period.object_store);
            }
        }
        if skald_chunk::Codec::parse(&config.ingester.chunk_encoding).is_none() {
            anyhow::bail!("ingester.chunk_encoding: unknown encoding '{}' (none, lz4, zstd, zstd:LEVEL)", config.ingester.chunk_encoding);
        }
        config.server.http_tls_config.validate("server.http_tls_config")?;
        config.server.grpc_tls_config.validate("server.grpc_tls_config")?;
        for (block, client) in [
            ("ingester_client.grpc_client_config", &config.ingester_client.grpc_client_config),
            ("frontend.grpc_client_config", &config.frontend.grpc_client_config),
            ("frontend_worker.grpc_client_config", &config.frontend_worker.grpc_client_config),
        ] {
            client.validate(block).map_err(anyhow::Error::msg)?;
        }
        let auth = &config.auth;
        if (!auth.basic.is_empty() || !auth.bearer.is_empty()) && !config.auth_enabled {
            anyhow::bail!("auth: credentials give every request a tenant, so they need auth_enabled: true");
        }
        Ok(config)
    }

    /// The credentials of the `auth` section, secrets read from their files.
    pub fn credentials(&self) -> anyhow::Result<skald_api::auth::Credentials> {
        use skald_api::auth::{Credential, CredentialKind};
        let secret = |inline: &Option<String>, file: &Option<PathBuf>, what: &str| -> anyhow::Result<String> {
            match (inline, file) {
                (Some(value), None) if !value.is_empty() => Ok(value.clone()),
                (None, Some(path)) => Ok(std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("auth: cannot read {what}_file {}: {e}", path.display()))?
                    .trim_end_matches(['\r', '\n'])
                    .to_string()),
                _ => anyhow::bail!("auth: each credential needs exactly one of {what} and {what}_file"),
            }
        };
        let tenants = |list: &Vec<String>, who: &str| -> anyhow::Result<Vec<String>> {
            if list.is_empty() {
                anyhow::bail!("auth: credential {who} names no tenants");
            }
            for tenant in list {
                skald_common::validate_tenant(tenant).map_err(|e| anyhow::anyhow!("auth: credential {who}: {e}"))?;
            }
            Ok(list.clone())
        };
        let mut list = Vec::new();
        for basic in &self.auth.basic {
            if basic.username.is_empty() || basic.username.contains(':') {
                anyhow::bail!("auth.basic: username must be non-empty and without ':'");
            }
            let password = secret(&basic.password, &basic.password_file, "password")?;
            let tenants = tenants(&basic.tenants, &format!("basic/{}", basic.username))?;
            list.push(Credential { kind: CredentialKind::Basic { username: basic.username.clone(), password }, tenants });
        }
        for (index, bearer) in self.auth.bearer.iter().enumerate() {
            let token = secret(&bearer.token, &bearer.token_file, "token")?;
            let tenants = tenants(&bearer.tenants, &format!("bearer[{index}]"))?;
            list.push(Credential { kind: CredentialKind::Bearer { token }, tenants });
        }
        Ok(skald_api::auth::Credentials { list })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loki_style_config_parses() {
        let config = Config::parse(
            r#"
auth_enabled: true
server:
  http_listen_port: 3200
ingester:
  chunk_idle_period: 1h
  chunk_target_size: 2MB
  wal:
    enabled: true
limits_config:
  reject_old_samples: false
  max_line_size: 512KB
  discover_service_name: []
  ingestion_rate_mb: 16
schema_config:
  configs:
    - from: 2024-01-01
      store: tsdb
      object_store: filesystem
      schema: v13
      index:
        prefix: index_
        period: 24h
"#,
        )
        .unwrap();
        assert!(config.auth_enabled);
        assert_eq!(config.server.http_listen_port, 3200);
        assert_eq!(config.ingester.chunk_idle_period, 3600 * 1_000_000_000);
        assert_eq!(config.limits_config.max_line_size, 512 * 1024);
        assert!(!config.limits_config.reject_old_samples);
        assert!(config.limits_config.discover_service_name.is_empty());
        assert_eq!(config.limits_config.ingestion_rate_mb, 16.0);
    }

    #[test]
    fn grpc_tls_mistakes_are_named() {
        let error = Config::parse("server:\n  grpc_tls_config:\n    cert_file: a.pem\n").unwrap_err().to_string();
        assert!(error.contains("server.grpc_tls_config") && error.contains("key_file"), "{error}");
        let error = Config::parse(
            "server:\n  grpc_tls_config:\n    cert_file: a.pem\n    key_file: a.key\n    client_auth_type: RequireAndVerifyClientCert\n",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("server.grpc_tls_config") && error.contains("client_ca_file"), "{error}");
        let error = Config::parse("frontend_worker:\n  grpc_client_config:\n    tls_enabled: true\n    tls_insecure_skip_verify: true\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("frontend_worker.grpc_client_config.tls_insecure_skip_verify"), "{error}");
        let config = Config::parse("ingester_client:\n  grpc_client_config:\n    tls_enabled: true\n    tls_ca_path: ca.pem\n").unwrap();
        assert!(config.ingester_client.grpc_client_config.tls_enabled);
    }

    #[test]
    fn unknown_keys_are_named() {
        let error = Config::parse("limits_config:\n  max_line_sise: 10\n").unwrap_err().to_string();
        assert!(error.contains("max_line_sise"), "{error}");
        let error = Config::parse("serverr: {}\n").unwrap_err().to_string();
        assert!(error.contains("serverr"), "{error}");
    }
}
