//! Storage configuration with Loki's key names, and the object store it builds.
//!
//! Loki names the backend in two places: `storage_config` (`filesystem`, `aws`, and
//! `tsdb_shipper` for the index sync) and `common.storage` (`filesystem`, `s3`, the
//! same keys). `schema_config.configs[].object_store` picks one (`filesystem`, `s3` or
//! `aws`); without it, S3 is used when configured and the filesystem otherwise.
//!
//! Every section refuses unknown keys, naming them, so a typo never silently falls back
//! to the local filesystem.

use crate::StorageError;
use object_store::aws::AmazonS3Builder;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};
use serde::Deserialize;
use skald_common::limits::de_duration;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const SECOND: i64 = 1_000_000_000;

/// `storage_config`.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    pub filesystem: Option<FilesystemConfig>,
    pub aws: Option<AwsConfig>,
    pub tsdb_shipper: ShipperConfig,
}

/// `common.storage`.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CommonStorageConfig {
    pub filesystem: Option<CommonFilesystemConfig>,
    pub s3: Option<AwsConfig>,
}

/// `storage_config.filesystem`.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FilesystemConfig {
    pub directory: Option<PathBuf>,
}

/// `common.storage.filesystem`: Loki splits chunks and rules; Skald keeps chunks and
/// index files under `chunks_directory` and has no rules.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CommonFilesystemConfig {
    pub chunks_directory: Option<PathBuf>,
    pub rules_directory: Option<PathBuf>,
}

/// `storage_config.aws` / `common.storage.s3`: an S3-compatible bucket.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AwsConfig {
    /// `host:port` (scheme from `insecure`) or a full URL; empty = AWS for `region`.
    pub endpoint: String,
    /// Loki allows a comma-separated list; Skald uses exactly one bucket.
    pub bucketnames: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// Path-style URLs (`endpoint/bucket/key`), as MinIO and most S3 clones need.
    pub s3forcepathstyle: bool,
    /// Plain HTTP to `endpoint`.
    pub insecure: bool,
    pub http_config: HttpConfig,
    pub backoff_config: BackoffSection,
}

/// `http_config` of the S3 client.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    #[serde(deserialize_with = "de_duration")]
    pub idle_conn_timeout: i64,
    /// Time allowed for one request until the response headers arrive (0 = none).
    #[serde(deserialize_with = "de_duration")]
    pub response_header_timeout: i64,
    pub insecure_skip_verify: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig { idle_conn_timeout: 90 * SECOND, response_header_timeout: 0, insecure_skip_verify: false }
    }
}

/// `backoff_config`: retries of one failed S3 request (Loki's defaults).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BackoffSection {
    #[serde(deserialize_with = "de_duration")]
    pub min_period: i64,
    #[serde(deserialize_with = "de_duration")]
    pub max_period: i64,
    pub max_retries: usize,
}

impl Default for BackoffSection {
    fn default() -> Self {
        BackoffSection { min_period: SECOND / 10, max_period: 3 * SECOND, max_retries: 5 }
    }
}

/// `storage_config.tsdb_shipper`: how often a node lists index files written by others.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ShipperConfig {
    /// Index files are listed again this often (0 = only at start).
    #[serde(deserialize_with = "de_duration")]
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

/// The backend chosen from the configuration.
#[derive(Debug, Clone, PartialEq)]
pub enum Backend {
    Filesystem(PathBuf),
    S3(AwsConfig),
}

impl StorageConfig {
    /// Picks the backend: `object_store` from the schema when given (`filesystem`, `s3`,
    /// `aws`), else S3 when configured, else the filesystem under `default_dir`.
    pub fn backend(&self, common: &CommonStorageConfig, object_store: Option<&str>, default_dir: &Path) -> Result<Backend, StorageError> {
        let aws = self.aws.clone().or_else(|| common.s3.clone());
        let directory = self
            .filesystem
            .as_ref()
            .and_then(|f| f.directory.clone())
            .or_else(|| common.filesystem.as_ref().and_then(|f| f.chunks_directory.clone()))
            .unwrap_or_else(|| default_dir.to_path_buf());
        match object_store.unwrap_or("") {
            "s3" | "aws" => match aws {
                Some(aws) => Ok(Backend::S3(aws)),
                None => Err(StorageError::Setup(
                    "schema_config names object_store s3, but neither storage_config.aws nor common.storage.s3 is set".into(),
                )),
            },
            "filesystem" => Ok(Backend::Filesystem(directory)),
            "" => Ok(match aws {
                Some(aws) => Backend::S3(aws),
                None => Backend::Filesystem(directory),
            }),
            other => Err(StorageError::Setup(format!("object_store '{other}' is not supported (filesystem, s3, aws)"))),
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
            Backend::S3(aws) => Ok(Arc::new(aws.build()?)),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Backend::Filesystem(dir) => format!("filesystem {}", dir.display()),
            Backend::S3(aws) => format!("s3 bucket {} at {}", aws.bucketnames, aws.endpoint_url().unwrap_or_else(|_| "?".into())),
        }
    }
}

impl AwsConfig {
    /// The endpoint as a URL (`insecure` picks http), or empty for AWS itself.
    pub fn endpoint_url(&self) -> Result<String, StorageError> {
        let endpoint = self.endpoint.trim().trim_end_matches('/');
        if endpoint.is_empty() {
            return Ok(String::new());
        }
        if endpoint.contains("://") {
            if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                return Err(StorageError::Setup(format!(
                    "storage_config.aws.endpoint '{endpoint}': only http:// and https:// are supported"
                )));
            }
            return Ok(endpoint.to_string());
        }
        let scheme = if self.insecure { "http" } else { "https" };
        Ok(format!("{scheme}://{endpoint}"))
    }

    fn bucket(&self) -> Result<String, StorageError> {
        let names: Vec<&str> = self.bucketnames.split(',').map(str::trim).filter(|n| !n.is_empty()).collect();
        match names.as_slice() {
            [one] => Ok(one.to_string()),
            [] => Err(StorageError::Setup("storage_config.aws.bucketnames is empty: name the bucket".into())),
            _ => Err(StorageError::Setup(format!("storage_config.aws.bucketnames names {} buckets; Skald uses exactly one", names.len()))),
        }
    }

    /// The S3 client. Requests are retried with `backoff_config`; a request that still
    /// fails surfaces as [`StorageError::Unavailable`].
    pub fn build(&self) -> Result<object_store::aws::AmazonS3, StorageError> {
        crate::tls::install_crypto_provider();
        let endpoint = self.endpoint_url()?;
        let region = if self.region.is_empty() { "us-east-1" } else { self.region.as_str() };
        let nanos = |n: i64| Duration::from_nanos(n.max(0) as u64);
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: nanos(self.backoff_config.min_period),
                max_backoff: nanos(self.backoff_config.max_period),
                base: 2.0,
            },
            max_retries: self.backoff_config.max_retries,
            retry_timeout: Duration::from_secs(30),
        };
        let mut options = ClientOptions::new()
            .with_allow_http(endpoint.starts_with("http://"))
            .with_allow_invalid_certificates(self.http_config.insecure_skip_verify)
            .with_connect_timeout(Duration::from_secs(5))
            .with_pool_idle_timeout(nanos(self.http_config.idle_conn_timeout));
        if self.http_config.response_header_timeout > 0 {
            options = options.with_timeout(nanos(self.http_config.response_header_timeout));
        }
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(self.bucket()?)
            .with_region(region)
            .with_virtual_hosted_style_request(!self.s3forcepathstyle)
            .with_allow_http(endpoint.starts_with("http://"))
            .with_retry(retry)
            .with_client_options(options);
        if !endpoint.is_empty() {
            builder = builder.with_endpoint(endpoint);
        }
        if !self.access_key_id.is_empty() {
            builder = builder.with_access_key_id(&self.access_key_id).with_secret_access_key(&self.secret_access_key);
        }
        if !self.session_token.is_empty() {
            builder = builder.with_token(&self.session_token);
        }
        builder.build().map_err(|e| StorageError::Setup(format!("storage_config.aws: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<StorageConfig, serde_yaml_ng::Error> {
        serde_yaml_ng::from_str(yaml)
    }

    #[test]
    fn loki_keys_parse_and_pick_the_backend() {
        let config = parse(
            "aws:\n  endpoint: 127.0.0.1:9000\n  bucketnames: loki\n  access_key_id: a\n  secret_access_key: b\n  s3forcepathstyle: true\n  insecure: true\n  backoff_config:\n    max_retries: 2\ntsdb_shipper:\n  resync_interval: 5s\n",
        )
        .unwrap();
        let aws = config.aws.clone().unwrap();
        assert_eq!(aws.endpoint_url().unwrap(), "http://127.0.0.1:9000");
        assert_eq!(aws.backoff_config.max_retries, 2);
        assert_eq!(config.tsdb_shipper.resync_every(), Some(Duration::from_secs(5)));
        let common = CommonStorageConfig::default();
        assert_eq!(config.backend(&common, None, Path::new("d")).unwrap(), Backend::S3(aws.clone()));
        assert_eq!(config.backend(&common, Some("filesystem"), Path::new("d")).unwrap(), Backend::Filesystem("d".into()));
        assert!(aws.build().is_ok());
    }

    #[test]
    fn mistakes_are_named() {
        let error = parse("aws:\n  bucketname: x\n").unwrap_err().to_string();
        assert!(error.contains("bucketname"), "{error}");
        let none = StorageConfig::default();
        let error = none.backend(&CommonStorageConfig::default(), Some("s3"), Path::new("d")).unwrap_err().to_string();
        assert!(error.contains("storage_config.aws"), "{error}");
        let two = AwsConfig { bucketnames: "a,b".into(), ..AwsConfig::default() };
        assert!(two.build().unwrap_err().to_string().contains("exactly one"));
        let common: CommonStorageConfig = serde_yaml_ng::from_str("s3:\n  endpoint: https://s3.example\n  bucketnames: b\n").unwrap();
        assert!(matches!(none.backend(&common, Some("aws"), Path::new("d")).unwrap(), Backend::S3(_)));
    }
}
