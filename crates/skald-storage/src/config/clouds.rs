//! The S3-compatible clouds Loki has blocks for: IBM Cloud Object Storage (`cos`),
//! Baidu Object Storage (`bos`) and Alibaba Cloud OSS (`alibabacloud`). Each speaks
//! the S3 API, so each block becomes [`S3Settings`]:
//!
//! - COS: `endpoint` as given (COS endpoints are S3 endpoints); HMAC keys sign as S3
//!   does; an `api_key` or a trusted profile gets an IBM IAM token instead, sent as a
//!   bearer token (`iam.rs`).
//! - BOS: the S3 API of region `bj` is at `s3.bj.bcebos.com`, so Loki's native
//!   endpoint (`bj.bcebos.com`) is given an `s3.` in front; the region is its first label.
//! - OSS: the S3 API is at the same endpoint (`oss-cn-hangzhou.aliyuncs.com`), virtual
//!   hosted; the region is `region` or the endpoint's (`cn-hangzhou`).

use super::s3::{IamAuth, IamGrant, S3Settings, bucket_list, endpoint_url};
use super::{BackoffSection, HttpConfig};
use crate::StorageError;
use serde::{Deserialize, Serialize};
use skald_common::limits::ser_secret;

/// `storage_config.cos`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(default)]
pub struct CosConfig {
    pub forcepathstyle: bool,
    pub bucketnames: String,
    pub endpoint: String,
    pub region: String,
    pub access_key_id: String,
    #[serde(serialize_with = "ser_secret")]
    pub secret_access_key: String,
    pub http_config: HttpConfig,
    pub backoff_config: BackoffSection,
    #[serde(serialize_with = "ser_secret")]
    pub api_key: String,
    pub service_instance_id: String,
    pub auth_endpoint: String,
    pub cr_token_file_path: String,
    pub trusted_profile_name: String,
    pub trusted_profile_id: String,
}

/// IBM's IAM token endpoint (Loki's default `auth_endpoint`).
const IBM_IAM: &str = "https://iam.cloud.ibm.com/identity/token";

impl CosConfig {
    pub fn settings(&self, source: &str) -> Result<S3Settings, StorageError> {
        let setup = |message: String| StorageError::Setup(format!("{source}: {message}"));
        if self.endpoint.trim().is_empty() {
            return Err(setup("endpoint is empty: give the bucket's COS endpoint".into()));
        }
        let auth_endpoint = if self.auth_endpoint.is_empty() { IBM_IAM.to_string() } else { self.auth_endpoint.clone() };
        let iam = if !self.access_key_id.is_empty() {
            None
        } else if !self.api_key.is_empty() {
            Some(IamAuth {
                auth_endpoint,
                grant: IamGrant::ApiKey(self.api_key.clone()),
                service_instance_id: self.service_instance_id.clone(),
            })
        } else if !self.cr_token_file_path.is_empty() {
            if self.trusted_profile_name.is_empty() && self.trusted_profile_id.is_empty() {
                return Err(setup("cr_token_file_path needs trusted_profile_name or trusted_profile_id".into()));
            }
            let grant = IamGrant::TrustedProfile {
                cr_token_file: self.cr_token_file_path.clone(),
                profile_name: self.trusted_profile_name.clone(),
                profile_id: self.trusted_profile_id.clone(),
            };
            Some(IamAuth { auth_endpoint, grant, service_instance_id: self.service_instance_id.clone() })
        } else {
            return Err(setup(
                "no credentials: give access_key_id and secret_access_key (HMAC), api_key, or cr_token_file_path with a trusted profile"
                    .into(),
            ));
        };
        Ok(S3Settings {
            source: source.to_string(),
            endpoint: endpoint_url(&self.endpoint, false).map_err(setup)?,
            region: self.region.clone(),
            buckets: bucket_list(&self.bucketnames),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            path_style: self.forcepathstyle,
            http: self.http_config.clone(),
            backoff: self.backoff_config.clone(),
            iam,
            ..S3Settings::default()
        })
    }
}

/// `storage_config.bos`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(default)]
pub struct BosConfig {
    pub bucket_name: String,
    pub endpoint: String,
    pub access_key_id: String,
    #[serde(serialize_with = "ser_secret")]
    pub secret_access_key: String,
}

impl BosConfig {
    pub fn settings(&self, source: &str) -> Result<S3Settings, StorageError> {
        let setup = |message: String| StorageError::Setup(format!("{source}: {message}"));
        let native = self.endpoint.trim().trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/');
        if native.is_empty() {
            return Err(setup("endpoint is empty (for example bj.bcebos.com)".into()));
        }
        let host = if native.starts_with("s3.") { native.to_string() } else { format!("s3.{native}") };
        let region = host.trim_start_matches("s3.").split('.').next().unwrap_or_default().to_string();
        Ok(S3Settings {
            source: source.to_string(),
            endpoint: format!("https://{host}"),
            region,
            buckets: bucket_list(&self.bucket_name),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            ..S3Settings::default()
        })
    }
}

/// `storage_config.alibabacloud`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(default)]
pub struct AlibabaConfig {
    pub bucket: String,
    pub endpoint: String,
    pub region: String,
    pub access_key_id: String,
    #[serde(serialize_with = "ser_secret")]
    pub secret_access_key: String,
    pub ram_role_name: String,
}

impl AlibabaConfig {
    pub fn settings(&self, source: &str) -> Result<S3Settings, StorageError> {
        let setup = |message: String| StorageError::Setup(format!("{source}: {message}"));
        if self.endpoint.trim().is_empty() {
            return Err(setup("endpoint is empty (for example oss-cn-hangzhou.aliyuncs.com)".into()));
        }
        if self.access_key_id.is_empty() {
            let why = if self.ram_role_name.is_empty() { "" } else { " (ECS RAM roles are not supported)" };
            return Err(setup(format!("access_key_id and secret_access_key are needed{why}")));
        }
        let endpoint = endpoint_url(&self.endpoint, false).map_err(setup)?;
        let region = if self.region.is_empty() {
            let host = endpoint.split("://").nth(1).unwrap_or_default();
            host.split('.').next().unwrap_or_default().trim_start_matches("oss-").trim_end_matches("-internal").to_string()
        } else {
            self.region.clone()
        };
        Ok(S3Settings {
            source: source.to_string(),
            endpoint,
            region,
            buckets: bucket_list(&self.bucket),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            ..S3Settings::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cloud_becomes_s3() {
        let cos: CosConfig = serde_yaml_ng::from_str(
            "bucketnames: a, b\nendpoint: s3.us-south.cloud-object-storage.appdomain.cloud\nregion: us-south\naccess_key_id: k\nsecret_access_key: s\n",
        )
        .unwrap();
        let settings = cos.settings("storage_config.cos").unwrap();
        assert_eq!(settings.endpoint, "https://s3.us-south.cloud-object-storage.appdomain.cloud");
        assert_eq!(settings.buckets, vec!["a", "b"]);
        assert!(settings.iam.is_none() && settings.build().is_ok());
        let api_key: CosConfig =
            serde_yaml_ng::from_str("bucketnames: a\nendpoint: e.example\napi_key: KEY\nservice_instance_id: crn\n").unwrap();
        let iam = api_key.settings("cos").unwrap().iam.unwrap();
        assert_eq!((iam.auth_endpoint.as_str(), iam.grant), (IBM_IAM, IamGrant::ApiKey("KEY".into())));
        assert!(api_key.settings("cos").unwrap().build().is_ok());

        let bos: BosConfig =
            serde_yaml_ng::from_str("bucket_name: b\nendpoint: bj.bcebos.com\naccess_key_id: k\nsecret_access_key: s\n").unwrap();
        let settings = bos.settings("bos").unwrap();
        assert_eq!((settings.endpoint.as_str(), settings.region.as_str()), ("https://s3.bj.bcebos.com", "bj"));

        let oss: AlibabaConfig =
            serde_yaml_ng::from_str("bucket: b\nendpoint: oss-cn-hangzhou.aliyuncs.com\naccess_key_id: k\nsecret_access_key: s\n").unwrap();
        let settings = oss.settings("oss").unwrap();
        assert_eq!((settings.endpoint.as_str(), settings.region.as_str()), ("https://oss-cn-hangzhou.aliyuncs.com", "cn-hangzhou"));
        assert!(settings.build().is_ok());
    }

    #[test]
    fn missing_credentials_are_named() {
        let cos = CosConfig { endpoint: "e".into(), ..CosConfig::default() };
        assert!(cos.settings("storage_config.cos").unwrap_err().to_string().contains("api_key"));
        let oss = AlibabaConfig { endpoint: "e".into(), ram_role_name: "r".into(), ..AlibabaConfig::default() };
        assert!(oss.settings("oss").unwrap_err().to_string().contains("RAM roles"));
    }
}
