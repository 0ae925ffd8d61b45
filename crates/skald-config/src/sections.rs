//! The configuration's sections, with Loki's key names and defaults where the setting is
//! the same. What Skald does not read is not here: the loader names it as ignored (a
//! key of Loki's) or refuses it (a key of no Loki version), see [`crate::load`].

use serde::{Deserialize, Serialize};
use skald_common::Limits;
use skald_common::limits::{de_bytes, de_duration};
use std::path::PathBuf;

pub use crate::cluster::{IngesterClientSection, LifecyclerSection, MemberlistSection, RingSection};

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct Config {
    /// Loki defaults to true; Skald's embedded default is false (single user, tenant
    /// `fake`), as in Loki's single-binary example configuration.
    pub auth_enabled: bool,
    pub target: Option<String>,
    pub server: ServerConfig,
    pub common: CommonConfig,
    pub ingester: IngesterSection,
    pub distributor: DistributorSection,
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
    /// Alerting and recording rules (`ruler`).
    pub ruler: skald_ruler::RulerConfig,
    /// Per-tenant overrides (`runtime_config.file`, reloaded every `period`).
    pub runtime_config: RuntimeConfigSection,
    /// Built-in credentials (Skald's own section; Loki has none).
    pub auth: AuthSection,
}

/// `distributor`: what Skald reads of Loki's block.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct DistributorSection {
    pub otlp_config: DistributorOtlpSection,
}

/// `distributor.otlp_config`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct DistributorOtlpSection {
    /// Resource attributes every tenant indexes (unless its `otlp_config` sets
    /// `ignore_defaults`); Loki's list by default.
    pub default_resource_attributes_as_index_labels: Vec<String>,
}

impl Default for DistributorOtlpSection {
    fn default() -> Self {
        DistributorOtlpSection {
            default_resource_attributes_as_index_labels: skald_common::otlp_config::DEFAULT_RESOURCE_ATTRIBUTES_AS_INDEX_LABELS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

/// `runtime_config`: Loki's file of per-tenant overrides ([`crate::overrides`]).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RuntimeConfigSection {
    /// Comma-separated paths; later files go over earlier ones. Empty: no overrides.
    pub file: String,
    /// How often the files are read again.
    #[serde(deserialize_with = "de_duration", serialize_with = "skald_common::limits::ser_duration")]
    pub period: i64,
}

impl Default for RuntimeConfigSection {
    fn default() -> Self {
        RuntimeConfigSection { file: String::new(), period: 10 * 1_000_000_000 }
    }
}

impl RuntimeConfigSection {
    /// The files, in order.
    pub fn files(&self) -> Vec<PathBuf> {
        self.file.split(',').map(str::trim).filter(|f| !f.is_empty()).map(PathBuf::from).collect()
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ServerConfig {
    pub http_listen_address: String,
    pub http_listen_port: u16,
    pub grpc_listen_address: String,
    /// Loki's default is 9095; the single-binary server serves gRPC only when it is set.
    pub grpc_listen_port: Option<u16>,
    pub grpc_server_max_recv_msg_size: usize,
    pub grpc_server_max_send_msg_size: usize,
    /// `debug`, `info`, `warn`, `error` (Loki's `-log.level`; `RUST_LOG` overrides it).
    pub log_level: String,
    /// `logfmt` (text; coloured only on a terminal) or `json` (one object per line).
    pub log_format: String,
    #[serde(deserialize_with = "de_duration", serialize_with = "skald_common::limits::ser_duration")]
    pub http_server_read_timeout: i64,
    #[serde(deserialize_with = "de_duration", serialize_with = "skald_common::limits::ser_duration")]
    pub http_server_write_timeout: i64,
    #[serde(deserialize_with = "de_duration", serialize_with = "skald_common::limits::ser_duration")]
    pub http_server_idle_timeout: i64,
    /// Connections served at once; 0 = no limit.
    pub http_listen_conn_limit: usize,
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
            log_format: "logfmt".into(),
            http_server_read_timeout: 30 * second,
            http_server_write_timeout: 30 * second,
            http_server_idle_timeout: 120 * second,
            http_listen_conn_limit: 0,
            http_tls_config: TlsSection::default(),
            grpc_tls_config: TlsSection::default(),
        }
    }
}

/// Loki's `server.http_tls_config` and `server.grpc_tls_config`.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct TlsSection {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub client_ca_file: Option<PathBuf>,
    /// `NoClientCert` (default) or `RequireAndVerifyClientCert` (needs `client_ca_file`).
    pub client_auth_type: Option<String>,
}

impl TlsSection {
    /// Refuses combinations that cannot work; `block` names the section in errors.
    pub(crate) fn validate(&self, block: &str) -> Result<(), String> {
        if self.cert_file.is_some() != self.key_file.is_some() {
            return Err(format!("{block}: cert_file and key_file go together"));
        }
        if self.cert_file.is_none() && self.client_ca_file.is_some() {
            return Err(format!("{block}: client_ca_file needs cert_file and key_file (client certificates are checked only over TLS)"));
        }
        match self.client_auth_type.as_deref() {
            None | Some("") | Some("NoClientCert") => Ok(()),
            Some("RequireAndVerifyClientCert") if self.client_ca_file.is_some() => Ok(()),
            Some("RequireAndVerifyClientCert") => Err(format!("{block}: RequireAndVerifyClientCert needs client_ca_file")),
            Some(other) => Err(format!("{block}.client_auth_type: '{other}' is not supported (NoClientCert, RequireAndVerifyClientCert)")),
        }
    }
}

/// `auth`: credentials mapped to tenants. Empty means Loki's behaviour (the tenant
/// comes from `X-Scope-OrgID`, set by a trusted proxy).
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct AuthSection {
    pub basic: Vec<BasicCredential>,
    pub bearer: Vec<BearerCredential>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct BasicCredential {
    pub username: String,
    #[serde(serialize_with = "skald_common::limits::ser_secret_option")]
    pub password: Option<String>,
    pub password_file: Option<PathBuf>,
    /// Tenants this credential may act as; the first is used when the request names none.
    pub tenants: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct BearerCredential {
    #[serde(serialize_with = "skald_common::limits::ser_secret_option")]
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
    pub tenants: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct CommonConfig {
    /// Where data lives when nothing more specific is set (`./data` by default).
    pub path_prefix: Option<PathBuf>,
    pub storage: skald_storage::CommonStorageConfig,
    pub replication_factor: Option<u32>,
    pub ring: Option<RingSection>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct IngesterSection {
    #[serde(deserialize_with = "de_duration", serialize_with = "skald_common::limits::ser_duration")]
    pub chunk_idle_period: i64,
    #[serde(deserialize_with = "de_duration", serialize_with = "skald_common::limits::ser_duration")]
    pub max_chunk_age: i64,
    #[serde(deserialize_with = "de_bytes", serialize_with = "skald_common::limits::ser_bytes")]
    pub chunk_target_size: u64,
    #[serde(deserialize_with = "de_bytes", serialize_with = "skald_common::limits::ser_bytes")]
    pub chunk_block_size: u64,
    /// `none`, `lz4`, `zstd` or `zstd:LEVEL`.
    pub chunk_encoding: String,
    #[serde(deserialize_with = "de_duration", serialize_with = "skald_common::limits::ser_duration")]
    pub flush_check_period: i64,
    #[serde(deserialize_with = "de_bytes", serialize_with = "skald_common::limits::ser_bytes")]
    pub head_memory_budget: u64,
    pub wal: WalSection,
    pub lifecycler: LifecyclerSection,
    /// Forget ingesters whose heartbeat is older than the ring's heartbeat timeout.
    pub autoforget_unhealthy: bool,
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
            autoforget_unhealthy: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct WalSection {
    pub enabled: bool,
    pub dir: Option<PathBuf>,
    #[serde(deserialize_with = "de_duration", serialize_with = "skald_common::limits::ser_duration")]
    pub checkpoint_duration: i64,
}

impl Default for WalSection {
    fn default() -> Self {
        WalSection { enabled: true, dir: None, checkpoint_duration: 5 * 60 * 1_000_000_000 }
    }
}

pub use skald_storage::StorageConfig;

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct SchemaConfig {
    pub configs: Vec<PeriodConfig>,
}

/// A Loki schema period. Skald has one storage format, so the period is accepted for
/// compatibility and checked only for values Skald cannot honour.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct PeriodConfig {
    pub from: String,
    pub store: String,
    pub object_store: String,
    pub schema: String,
    pub index: IndexPeriod,
}

impl SchemaConfig {
    /// The `object_store` of the period in force at `now` (nanoseconds): the last one
    /// whose `from` day has begun. Skald has one storage format, so only where the
    /// objects go follows the periods.
    pub fn active_object_store(&self, now: i64) -> Option<&str> {
        let mut active = None;
        for period in &self.configs {
            match period_start(&period.from) {
                Some(start) if start > now => break,
                _ => active = Some(period.object_store.as_str()),
            }
        }
        active.or_else(|| self.configs.first().map(|p| p.object_store.as_str())).filter(|name| !name.is_empty())
    }
}

/// Nanoseconds of a period's `from` (`YYYY-MM-DD`, midnight UTC).
pub fn period_start(from: &str) -> Option<i64> {
    let mut parts = from.trim().splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (Some(Some(year)), Some(Some(month)), Some(Some(day))) = (parts.next(), parts.next(), parts.next()) else { return None };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    Some(skald_common::days_from_civil(year, month, day).saturating_mul(86_400 * 1_000_000_000))
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct IndexPeriod {
    pub prefix: String,
    pub period: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct QuerierSection {
    /// Queries run at once (Loki's default 4); more wait.
    pub max_concurrent: Option<usize>,
    /// Ingesters are asked only for queries reaching into this recent past (3h).
    #[serde(deserialize_with = "de_duration", serialize_with = "skald_common::limits::ser_duration")]
    pub query_ingesters_within: i64,
    /// Queries may name several tenants (`X-Scope-OrgID: a|b`).
    pub multi_tenant_queries_enabled: bool,
}

impl Default for QuerierSection {
    fn default() -> Self {
        QuerierSection { max_concurrent: None, query_ingesters_within: 3 * 3600 * 1_000_000_000, multi_tenant_queries_enabled: false }
    }
}
