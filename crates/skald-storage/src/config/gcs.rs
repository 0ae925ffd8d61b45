//! Google Cloud Storage (Loki's `gcs` block). Credentials as Google's clients find
//! them: `service_account` (the key file's JSON), else `GOOGLE_APPLICATION_CREDENTIALS`
//! or the instance's metadata server. `STORAGE_EMULATOR_HOST` (Google's convention,
//! which Loki's GCS client follows) points every request at an emulator, without auth.
//! Requests go over the JSON API (`gcs_json.rs`), as with Google's own clients.

use crate::StorageError;
use crate::gcs_json::GcsJson;
use object_store::ObjectStore;
use object_store::client::{HttpConnector, ReqwestConnector};
use object_store::gcp::GoogleCloudStorageBuilder;
use serde::{Deserialize, Serialize};
use skald_common::limits::{de_duration, ser_duration, ser_secret};
use std::sync::Arc;
use std::time::Duration;

/// `storage_config.gcs` / `common.storage.gcs`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct GcsConfig {
    pub bucket_name: String,
    /// A custom endpoint (`https://storage.example.com`).
    pub endpoint: String,
    /// The service account key file's contents (JSON).
    #[serde(serialize_with = "ser_secret")]
    pub service_account: String,
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub request_timeout: i64,
    pub enable_retries: bool,
    /// Loki's thanos client: retries of one request.
    pub max_retries: usize,
}

impl Default for GcsConfig {
    fn default() -> Self {
        GcsConfig {
            bucket_name: String::new(),
            endpoint: String::new(),
            service_account: String::new(),
            request_timeout: 0,
            enable_retries: true,
            max_retries: 10,
        }
    }
}

impl GcsConfig {
    pub fn build(&self, source: &str) -> Result<Arc<dyn ObjectStore>, StorageError> {
        self.build_with(source, std::env::var("STORAGE_EMULATOR_HOST").ok().filter(|h| !h.is_empty()))
    }

    fn build_with(&self, source: &str, emulator: Option<String>) -> Result<Arc<dyn ObjectStore>, StorageError> {
        crate::tls::install_crypto_provider();
        let setup = |message: String| StorageError::Setup(format!("{source}: {message}"));
        if self.bucket_name.is_empty() {
            return Err(setup("bucket_name is empty: name the bucket".into()));
        }
        let base_url = match &emulator {
            Some(host) if host.contains("://") => host.trim_end_matches('/').to_string(),
            Some(host) => format!("http://{}", host.trim_end_matches('/')),
            None if !self.endpoint.is_empty() => self.endpoint.trim_end_matches('/').to_string(),
            None => "https://storage.googleapis.com".to_string(),
        };
        let mut options = object_store::ClientOptions::new()
            .with_allow_http(base_url.starts_with("http://"))
            .with_connect_timeout(Duration::from_secs(5));
        if self.request_timeout > 0 {
            options = options.with_timeout(Duration::from_nanos(self.request_timeout as u64));
        }
        let retries = if self.enable_retries { self.max_retries } else { 0 };
        let retry = super::BackoffSection { min_period: 100_000_000, max_period: 10 * 1_000_000_000, max_retries: retries }.retry();
        // object_store's client resolves the credentials (a key, application default
        // credentials or the metadata server); the requests are the JSON API's.
        let credentials = if emulator.is_some() {
            None
        } else {
            let mut builder = GoogleCloudStorageBuilder::new().with_bucket_name(&self.bucket_name).with_retry(retry.clone());
            if !self.service_account.trim().is_empty() {
                builder = builder.with_service_account_key(self.service_account.trim());
            } else if let Ok(path) = std::env::var("GOOGLE_APPLICATION_CREDENTIALS") {
                builder = builder.with_application_credentials(path);
            }
            Some(builder.build().map_err(|e| setup(e.to_string()))?.credentials().clone())
        };
        let http = ReqwestConnector::default().connect(&options).map_err(|e| setup(e.to_string()))?;
        Ok(Arc::new(GcsJson::new(base_url, self.bucket_name.clone(), http, credentials, retry)))
    }

    pub fn describe(&self) -> String {
        let at = match std::env::var("STORAGE_EMULATOR_HOST") {
            Ok(host) if !host.is_empty() => format!("{host} (STORAGE_EMULATOR_HOST)"),
            _ if !self.endpoint.is_empty() => self.endpoint.clone(),
            _ => "storage.googleapis.com".to_string(),
        };
        format!("gcs bucket {} at {at}", self.bucket_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_is_needed_and_the_emulator_needs_no_credentials() {
        let error = GcsConfig::default().build_with("storage_config.gcs", None).err().unwrap().to_string();
        assert!(error.contains("storage_config.gcs") && error.contains("bucket_name"), "{error}");
        let config = GcsConfig { bucket_name: "b".into(), ..GcsConfig::default() };
        assert!(config.build_with("g", Some("127.0.0.1:4443".into())).is_ok());
        let error = GcsConfig { service_account: "{not json".into(), ..config }.build_with("g", None).err().unwrap().to_string();
        assert!(error.starts_with("storage setup failed: g: "), "{error}");
    }
}
