//! Storage configuration with Loki's key names, and the object store it builds.
//!
//! Loki names a backend in several places: `storage_config` (`filesystem`, `aws`,
//! `gcs`, `azure`, `cos`, `bos`, `alibabacloud`, `named_stores`, and, with
//! `use_thanos_objstore: true`, `object_store`), and `common.storage` (the same
//! clients, used where `storage_config` sets none). The schema period in force picks
//! one by `object_store` (`filesystem`, `s3`/`aws`, `gcs`, `azure`, `cos`, `bos`,
//! `alibabacloud`, or a named store); without a schema, the first configured client
//! is used, else the local filesystem.
//!
//! Keys Skald does not read are named as ignored, and keys no Loki version has are
//! refused, when the configuration is read (`skald-config`).

mod azure;
mod clouds;
mod gcs;
mod s3;
mod thanos;

pub use azure::AzureConfig;
pub use clouds::{AlibabaConfig, BosConfig, CosConfig};
pub use gcs::GcsConfig;
pub use s3::{AwsConfig, Encryption, IamAuth, IamGrant, S3Settings, SseConfig};
pub use thanos::ThanosConfig;

use crate::StorageError;
use object_store::ObjectStore;
use serde::{Deserialize, Serialize};
use skald_common::limits::{de_duration, ser_duration};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const SECOND: i64 = 1_000_000_000;

/// `storage_config`.
#[derive(Debug, Clone, Deserialize, Serialize, Default, PartialEq)]
#[serde(default)]
pub struct StorageConfig {
    pub filesystem: Option<FilesystemConfig>,
    pub aws: Option<AwsConfig>,
    pub gcs: Option<GcsConfig>,
    pub azure: Option<AzureConfig>,
    pub cos: Option<CosConfig>,
    pub bos: Option<BosConfig>,
    pub alibabacloud: Option<AlibabaConfig>,
    /// Clients under names of the user's, which a schema period's `object_store` names.
    pub named_stores: NamedStores,
    /// Use `object_store` (Loki's Thanos-based clients) instead of the blocks above.
    pub use_thanos_objstore: bool,
    pub object_store: Option<ThanosConfig>,
    /// Put every object under this prefix in the bucket.
    pub object_prefix: String,
    pub tsdb_shipper: ShipperConfig,
}

/// `storage_config.named_stores`.
#[derive(Debug, Clone, Deserialize, Serialize, Default, PartialEq)]
#[serde(default)]
pub struct NamedStores {
    pub aws: BTreeMap<String, AwsConfig>,
    pub gcs: BTreeMap<String, GcsConfig>,
    pub azure: BTreeMap<String, AzureConfig>,
    pub filesystem: BTreeMap<String, FilesystemConfig>,
    pub cos: BTreeMap<String, CosConfig>,
    pub bos: BTreeMap<String, BosConfig>,
    pub alibabacloud: BTreeMap<String, AlibabaConfig>,
}

/// `common.storage`.
#[derive(Debug, Clone, Deserialize, Serialize, Default, PartialEq)]
#[serde(default)]
pub struct CommonStorageConfig {
    pub filesystem: Option<CommonFilesystemConfig>,
    pub s3: Option<AwsConfig>,
    pub gcs: Option<GcsConfig>,
    pub azure: Option<AzureConfig>,
    pub cos: Option<CosConfig>,
    pub bos: Option<BosConfig>,
    pub alibabacloud: Option<AlibabaConfig>,
    pub object_store: Option<ThanosConfig>,
}

/// `storage_config.filesystem`.
#[derive(Debug, Clone, Deserialize, Serialize, Default, PartialEq)]
#[serde(default)]
pub struct FilesystemConfig {
    pub directory: Option<PathBuf>,
}

/// `common.storage.filesystem`: Loki splits chunks and rules; Skald keeps chunks and
/// index files under `chunks_directory` and has no rules.
#[derive(Debug, Clone, Deserialize, Serialize, Default, PartialEq)]
#[serde(default)]
pub struct CommonFilesystemConfig {
    pub chunks_directory: Option<PathBuf>,
    pub rules_directory: Option<PathBuf>,
}

/// `http_config` of an S3-compatible client.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct HttpConfig {
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub idle_conn_timeout: i64,
    /// Time allowed for one request until the response headers arrive (0 = none).
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub response_header_timeout: i64,
    /// Time allowed for one whole request (0 = none).
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub timeout: i64,
    pub insecure_skip_verify: bool,
    /// CA bundle (PEM) the server's certificate must chain to, beside the system's.
    pub ca_file: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            idle_conn_timeout: 90 * SECOND,
            response_header_timeout: 0,
            timeout: 0,
            insecure_skip_verify: false,
            ca_file: String::new(),
        }
    }
}

/// `backoff_config`: retries of one failed request (Loki's defaults).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct BackoffSection {
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub min_period: i64,
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub max_period: i64,
    pub max_retries: usize,
}

impl Default for BackoffSection {
    fn default() -> Self {
        BackoffSection { min_period: SECOND / 10, max_period: 3 * SECOND, max_retries: 5 }
    }
}

/// `storage_config.tsdb_shipper`: how often a node lists index files written by others.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ShipperConfig {
    /// Index files are listed again this often (0 = only at start).
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub resync_interval: i64,
    /// Accepted for Loki compatibility; Skald keeps the index in memory.
    pub active_index_directory: Option<PathBuf>,
    pub cache_location: Option<PathBuf>,
}

impl Default for ShipperConfig {
    fn default() -> Self {
        ShipperConfig { resync_interval: 30 * SECOND, active_index_directory: None, cache_location: None }
    }
}

impl ShipperConfig {
    pub fn resync_every(&self) -> Option<Duration> {
        (self.resync_interval > 0).then(|| Duration::from_nanos(self.resync_interval as u64))
    }
}

/// Object store names `schema_config.configs[].object_store` may hold (besides the
/// names of `named_stores`).
pub const OBJECT_STORES: &[&str] = &["filesystem", "s3", "aws", "gcs", "azure", "cos", "bos", "alibabacloud"];

/// Refuses an `object_store` name Skald has no client for (`swift`, a typo).
pub fn check_object_store_name(name: &str, named: &NamedStores) -> Result<(), String> {
    if name.is_empty() || OBJECT_STORES.contains(&name) || named.names().any(|n| n == name) {
        return Ok(());
    }
    let why = if name == "swift" { " (OpenStack Swift has no client in Skald)" } else { "" };
    Err(format!("object_store '{name}' is not supported{why} ({}, or a name of storage_config.named_stores)", OBJECT_STORES.join(", ")))
}

impl NamedStores {
    fn names(&self) -> impl Iterator<Item = &str> {
        self.aws
            .keys()
            .chain(self.gcs.keys())
            .chain(self.azure.keys())
            .chain(self.filesystem.keys())
            .chain(self.cos.keys())
            .chain(self.bos.keys())
            .chain(self.alibabacloud.keys())
            .map(String::as_str)
    }

    fn backend(&self, name: &str, default_dir: &Path) -> Result<Option<Backend>, StorageError> {
        let source = |kind: &str| format!("storage_config.named_stores.{kind}.{name}");
        Ok(Some(if let Some(aws) = self.aws.get(name) {
            Backend::S3(aws.settings(&source("aws"))?)
        } else if let Some(gcs) = self.gcs.get(name) {
            Backend::Gcs(gcs.clone())
        } else if let Some(azure) = self.azure.get(name) {
            Backend::Azure(azure.clone())
        } else if let Some(fs) = self.filesystem.get(name) {
            Backend::Filesystem(fs.directory.clone().unwrap_or_else(|| default_dir.to_path_buf()))
        } else if let Some(cos) = self.cos.get(name) {
            Backend::S3(cos.settings(&source("cos"))?)
        } else if let Some(bos) = self.bos.get(name) {
            Backend::S3(bos.settings(&source("bos"))?)
        } else if let Some(oss) = self.alibabacloud.get(name) {
            Backend::S3(oss.settings(&source("alibabacloud"))?)
        } else {
            return Ok(None);
        }))
    }
}

/// The backend chosen from the configuration.
#[derive(Debug, Clone, PartialEq)]
pub enum Backend {
    Filesystem(PathBuf),
    S3(S3Settings),
    Gcs(GcsConfig),
    Azure(AzureConfig),
}

impl StorageConfig {
    /// Picks the backend: `object_store` from the schema period in force when given,
    /// else the first client configured, else the filesystem under `default_dir`.
    pub fn backend(&self, common: &CommonStorageConfig, object_store: Option<&str>, default_dir: &Path) -> Result<Backend, StorageError> {
        let setup = |message: String| StorageError::Setup(message);
        let directory = self
            .filesystem
            .as_ref()
            .and_then(|f| f.directory.clone())
            .or_else(|| common.filesystem.as_ref().and_then(|f| f.chunks_directory.clone()))
            .unwrap_or_else(|| default_dir.to_path_buf());
        let thanos = if self.use_thanos_objstore { self.object_store.as_ref().or(common.object_store.as_ref()) } else { None };
        if let Some(thanos) = thanos {
            return thanos.backend(object_store.unwrap_or(""), &directory);
        }
        let aws = || match (&self.aws, &common.s3) {
            (Some(aws), _) => Some(aws.settings("storage_config.aws")),
            (None, Some(s3)) => Some(s3.settings("common.storage.s3")),
            _ => None,
        };
        let gcs = || self.gcs.clone().or_else(|| common.gcs.clone());
        let azure = || self.azure.clone().or_else(|| common.azure.clone());
        let cos = || self.cos.as_ref().or(common.cos.as_ref()).map(|c| c.settings("storage_config.cos"));
        let bos = || self.bos.as_ref().or(common.bos.as_ref()).map(|c| c.settings("storage_config.bos"));
        let oss = || self.alibabacloud.as_ref().or(common.alibabacloud.as_ref()).map(|c| c.settings("storage_config.alibabacloud"));
        let missing = |name: &str, block: &str| setup(format!("schema_config names object_store {name}, but {block} is not set"));
        match object_store.unwrap_or("") {
            "filesystem" => Ok(Backend::Filesystem(directory)),
            "s3" | "aws" => Ok(Backend::S3(aws().ok_or_else(|| missing("s3", "neither storage_config.aws nor common.storage.s3"))??)),
            "gcs" => gcs().map(Backend::Gcs).ok_or_else(|| missing("gcs", "storage_config.gcs")),
            "azure" => azure().map(Backend::Azure).ok_or_else(|| missing("azure", "storage_config.azure")),
            "cos" => Ok(Backend::S3(cos().ok_or_else(|| missing("cos", "storage_config.cos"))??)),
            "bos" => Ok(Backend::S3(bos().ok_or_else(|| missing("bos", "storage_config.bos"))??)),
            "alibabacloud" => Ok(Backend::S3(oss().ok_or_else(|| missing("alibabacloud", "storage_config.alibabacloud"))??)),
            "" => {
                if let Some(settings) = aws() {
                    return Ok(Backend::S3(settings?));
                }
                if let Some(gcs) = gcs() {
                    return Ok(Backend::Gcs(gcs));
                }
                if let Some(azure) = azure() {
                    return Ok(Backend::Azure(azure));
                }
                if let Some(settings) = [cos(), bos(), oss()].into_iter().flatten().next() {
                    return Ok(Backend::S3(settings?));
                }
                Ok(Backend::Filesystem(directory))
            }
            named => match self.named_stores.backend(named, &directory)? {
                Some(backend) => Ok(backend),
                None => Err(setup(check_object_store_name(named, &self.named_stores).err().unwrap_or_default())),
            },
        }
    }
}

impl Backend {
    /// Builds the object store. Local directories are created when missing.
    pub fn object_store(&self) -> Result<Arc<dyn ObjectStore>, StorageError> {
        match self {
            Backend::Filesystem(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| StorageError::Setup(format!("cannot create {}: {e}", dir.display())))?;
                let fs = object_store::local::LocalFileSystem::new_with_prefix(dir)?.with_automatic_cleanup(true);
                Ok(Arc::new(fs))
            }
            Backend::S3(settings) => settings.build(),
            Backend::Gcs(gcs) => gcs.build("storage_config.gcs"),
            Backend::Azure(azure) => azure.build("storage_config.azure"),
        }
    }

    /// The object store with every key under `prefix` (`storage_config.object_prefix`).
    pub fn object_store_with_prefix(&self, prefix: &str) -> Result<Arc<dyn ObjectStore>, StorageError> {
        let store = self.object_store()?;
        let prefix = prefix.trim_matches('/');
        if prefix.is_empty() {
            return Ok(store);
        }
        Ok(Arc::new(object_store::prefix::PrefixStore::new(store, prefix)))
    }

    pub fn describe(&self) -> String {
        match self {
            Backend::Filesystem(dir) => format!("filesystem {}", dir.display()),
            Backend::S3(settings) => settings.describe(),
            Backend::Gcs(gcs) => gcs.describe(),
            Backend::Azure(azure) => azure.describe(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> StorageConfig {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn the_schema_picks_the_backend() {
        let config = parse(
            "aws:\n  endpoint: 127.0.0.1:9000\n  bucketnames: loki\n  access_key_id: a\n  secret_access_key: b\n  s3forcepathstyle: true\n  insecure: true\n  backoff_config:\n    max_retries: 2\ngcs:\n  bucket_name: g\ntsdb_shipper:\n  resync_interval: 5s\n",
        );
        let common = CommonStorageConfig::default();
        let Backend::S3(settings) = config.backend(&common, None, Path::new("d")).unwrap() else { panic!("not s3") };
        assert_eq!(settings.endpoint, "http://127.0.0.1:9000");
        assert_eq!(settings.backoff.max_retries, 2);
        assert!(settings.build().is_ok());
        assert_eq!(config.tsdb_shipper.resync_every(), Some(Duration::from_secs(5)));
        assert_eq!(config.backend(&common, Some("filesystem"), Path::new("d")).unwrap(), Backend::Filesystem("d".into()));
        assert!(matches!(config.backend(&common, Some("gcs"), Path::new("d")).unwrap(), Backend::Gcs(_)));
    }

    #[test]
    fn named_stores_and_common_storage() {
        let config = parse("named_stores:\n  aws:\n    archive:\n      bucketnames: old\n  filesystem:\n    local:\n      directory: /x\n");
        let common = CommonStorageConfig::default();
        assert!(matches!(config.backend(&common, Some("archive"), Path::new("d")).unwrap(), Backend::S3(s) if s.buckets == vec!["old"]));
        assert_eq!(config.backend(&common, Some("local"), Path::new("d")).unwrap(), Backend::Filesystem("/x".into()));
        let error = config.backend(&common, Some("swift"), Path::new("d")).unwrap_err().to_string();
        assert!(error.contains("swift"), "{error}");
        let common: CommonStorageConfig = serde_yaml_ng::from_str("s3:\n  endpoint: https://s3.example\n  bucketnames: b\n").unwrap();
        assert!(matches!(StorageConfig::default().backend(&common, Some("aws"), Path::new("d")).unwrap(), Backend::S3(_)));
        let error = StorageConfig::default().backend(&CommonStorageConfig::default(), Some("s3"), Path::new("d")).unwrap_err().to_string();
        assert!(error.contains("storage_config.aws"), "{error}");
        assert!(check_object_store_name("archive", &config.named_stores).is_ok());
        assert!(check_object_store_name("swift", &config.named_stores).unwrap_err().contains("Swift"));
    }
}
