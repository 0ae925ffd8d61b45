//! The YAML configuration, with Loki's key names where the setting is the same. Unknown
//! keys are refused with their name, so a typo never silently falls back to a default.

use serde::Deserialize;
use skald_common::Limits;
use skald_common::limits::{de_bytes, de_duration};
use std::path::{Path, PathBuf};

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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub http_listen_address: String,
    pub http_listen_port: u16,
    pub grpc_listen_port: u16,
    pub log_level: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig { http_listen_address: "0.0.0.0".into(), http_listen_port: 3100, grpc_listen_port: 9095, log_level: "info".into() }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct CommonConfig {
    /// Where data lives when nothing more specific is set (`./data` by default).
    pub path_prefix: Option<PathBuf>,
    pub replication_factor: Option<u32>,
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

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    pub filesystem: Option<FilesystemConfig>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct FilesystemConfig {
    pub directory: Option<PathBuf>,
}

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

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct QuerierSection {
    pub max_concurrent: Option<usize>,
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
        Ok(config)
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
    fn unknown_keys_are_named() {
        let error = Config::parse("limits_config:\n  max_line_sise: 10\n").unwrap_err().to_string();
        assert!(error.contains("max_line_sise"), "{error}");
        let error = Config::parse("serverr: {}\n").unwrap_err().to_string();
        assert!(error.contains("serverr"), "{error}");
    }
}
