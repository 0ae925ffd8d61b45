//! `storage_config.object_store` (with `use_thanos_objstore: true`): Loki's newer
//! clients, configured the way Thanos configures its object stores.

use super::s3::{S3Settings, SseConfig, endpoint_url};
use super::{AzureConfig, Backend, BackoffSection, GcsConfig, HttpConfig};
use crate::StorageError;
use serde::{Deserialize, Serialize};
use skald_common::limits::{de_duration, ser_duration, ser_secret};
use std::path::{Path, PathBuf};

/// `storage_config.object_store`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(default)]
pub struct ThanosConfig {
    pub s3: Option<ThanosS3>,
    pub gcs: Option<GcsConfig>,
    pub azure: Option<AzureConfig>,
    pub filesystem: Option<ThanosFilesystem>,
}

/// `object_store.filesystem`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(default)]
pub struct ThanosFilesystem {
    pub dir: Option<PathBuf>,
}

/// `object_store.s3`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ThanosS3 {
    pub bucket_name: String,
    /// `host[:port]` without a scheme (`insecure` picks http).
    pub endpoint: String,
    pub region: String,
    pub access_key_id: String,
    #[serde(serialize_with = "ser_secret")]
    pub secret_access_key: String,
    #[serde(serialize_with = "ser_secret")]
    pub session_token: String,
    pub insecure: bool,
    /// `auto` (path style off AWS), `virtual-hosted` or `path` (or 0, 1, 2).
    pub bucket_lookup_type: LookupType,
    pub sse: SseConfig,
    pub http: ThanosHttp,
    pub max_retries: usize,
}

impl Default for ThanosS3 {
    fn default() -> Self {
        ThanosS3 {
            bucket_name: String::new(),
            endpoint: String::new(),
            region: String::new(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            session_token: String::new(),
            insecure: false,
            bucket_lookup_type: LookupType::Name("auto".into()),
            sse: SseConfig::default(),
            http: ThanosHttp::default(),
            max_retries: 10,
        }
    }
}

/// `bucket_lookup_type`, by name or by Thanos' number.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum LookupType {
    Number(i64),
    Name(String),
}

/// `object_store.s3.http`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ThanosHttp {
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub idle_conn_timeout: i64,
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub response_header_timeout: i64,
    pub insecure_skip_verify: bool,
    pub tls_ca_path: String,
}

impl Default for ThanosHttp {
    fn default() -> Self {
        ThanosHttp {
            idle_conn_timeout: 90 * 1_000_000_000,
            response_header_timeout: 2 * 60 * 1_000_000_000,
            insecure_skip_verify: false,
            tls_ca_path: String::new(),
        }
    }
}

impl ThanosS3 {
    fn settings(&self) -> Result<S3Settings, StorageError> {
        let source = "storage_config.object_store.s3";
        let setup = |message: String| StorageError::Setup(format!("{source}: {message}"));
        let endpoint = if self.endpoint.is_empty() { String::new() } else { endpoint_url(&self.endpoint, self.insecure).map_err(setup)? };
        let lookup = match &self.bucket_lookup_type {
            LookupType::Number(n) => n.to_string(),
            LookupType::Name(name) => name.clone(),
        };
        let path_style = match lookup.as_str() {
            "path" | "2" => true,
            "virtual-hosted" | "1" => false,
            "auto" | "0" | "" => !endpoint.is_empty() && !endpoint.contains("amazonaws.com"),
            other => return Err(setup(format!("bucket_lookup_type '{other}' is not one of auto, virtual-hosted, path"))),
        };
        let http = HttpConfig {
            idle_conn_timeout: self.http.idle_conn_timeout,
            response_header_timeout: self.http.response_header_timeout,
            timeout: 0,
            insecure_skip_verify: self.http.insecure_skip_verify,
            ca_file: self.http.tls_ca_path.clone(),
        };
        let backoff = BackoffSection { max_retries: self.max_retries, ..BackoffSection::default() };
        Ok(S3Settings {
            source: source.into(),
            endpoint,
            region: self.region.clone(),
            buckets: super::s3::bucket_list(&self.bucket_name),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            session_token: self.session_token.clone(),
            path_style,
            encryption: self.sse.encryption(false).map_err(setup)?,
            http,
            backoff,
            iam: None,
        })
    }
}

impl ThanosConfig {
    pub(super) fn backend(&self, object_store: &str, default_dir: &Path) -> Result<Backend, StorageError> {
        let missing = |name: &str| {
            StorageError::Setup(format!("schema_config names object_store {name}, but storage_config.object_store.{name} is not set"))
        };
        let filesystem =
            || Backend::Filesystem(self.filesystem.as_ref().and_then(|f| f.dir.clone()).unwrap_or_else(|| default_dir.to_path_buf()));
        match object_store {
            "s3" | "aws" => Ok(Backend::S3(self.s3.as_ref().ok_or_else(|| missing("s3"))?.settings()?)),
            "gcs" => self.gcs.clone().map(Backend::Gcs).ok_or_else(|| missing("gcs")),
            "azure" => self.azure.clone().map(Backend::Azure).ok_or_else(|| missing("azure")),
            "filesystem" => Ok(filesystem()),
            "" => Ok(match (&self.s3, &self.gcs, &self.azure) {
                (Some(s3), _, _) => Backend::S3(s3.settings()?),
                (None, Some(gcs), _) => Backend::Gcs(gcs.clone()),
                (None, None, Some(azure)) => Backend::Azure(azure.clone()),
                _ => filesystem(),
            }),
            other => Err(StorageError::Setup(format!(
                "object_store '{other}' has no client under storage_config.object_store (s3, gcs, azure, filesystem)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_types_and_endpoints() {
        let config: ThanosConfig = serde_yaml_ng::from_str(
            "s3:\n  bucket_name: b\n  endpoint: minio:9000\n  access_key_id: k\n  secret_access_key: s\n  insecure: true\n  bucket_lookup_type: path\n",
        )
        .unwrap();
        let Backend::S3(settings) = config.backend("s3", Path::new("d")).unwrap() else { panic!() };
        assert_eq!(settings.endpoint, "http://minio:9000");
        assert!(settings.path_style);
        let aws: ThanosS3 = serde_yaml_ng::from_str("bucket_name: b\nendpoint: s3.eu-west-1.amazonaws.com\n").unwrap();
        assert!(!aws.settings().unwrap().path_style);
        assert_eq!(aws.settings().unwrap().endpoint, "https://s3.eu-west-1.amazonaws.com");
        assert!(config.backend("gcs", Path::new("d")).unwrap_err().to_string().contains("object_store.gcs"));
    }
}
