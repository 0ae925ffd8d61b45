//! Azure Blob Storage (Loki's `azure` block): an account key, a connection string
//! (what Azurite, Microsoft's emulator, and SAS-token users give), a service
//! principal, a managed identity or a federated (workload identity) token.

use super::BackoffSection;
use crate::StorageError;
use object_store::ObjectStore;
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use serde::{Deserialize, Serialize};
use skald_common::limits::{de_duration, ser_duration, ser_secret};
use std::sync::Arc;
use std::time::Duration;

/// `storage_config.azure` / `common.storage.azure`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct AzureConfig {
    /// `AzureGlobal`, `AzureChinaCloud`, `AzureGermanCloud`, `AzureUSGovernment`.
    pub environment: String,
    pub account_name: String,
    #[serde(serialize_with = "ser_secret")]
    pub account_key: String,
    /// `AccountName=..;AccountKey=..;BlobEndpoint=..` (wins over name and suffix).
    #[serde(serialize_with = "ser_secret")]
    pub connection_string: String,
    pub container_name: String,
    /// `blob.<suffix>` instead of the environment's (Azure Stack Hub, private clouds).
    pub endpoint_suffix: String,
    pub use_managed_identity: bool,
    pub use_federated_token: bool,
    pub user_assigned_id: String,
    pub use_service_principal: bool,
    pub client_id: String,
    #[serde(serialize_with = "ser_secret")]
    pub client_secret: String,
    pub tenant_id: String,
    pub active_directory_endpoint: String,
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub request_timeout: i64,
    pub max_retries: usize,
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub min_retry_delay: i64,
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub max_retry_delay: i64,
}

impl Default for AzureConfig {
    fn default() -> Self {
        AzureConfig {
            environment: "AzureGlobal".into(),
            account_name: String::new(),
            account_key: String::new(),
            connection_string: String::new(),
            container_name: "loki".into(),
            endpoint_suffix: String::new(),
            use_managed_identity: false,
            use_federated_token: false,
            user_assigned_id: String::new(),
            use_service_principal: false,
            client_id: String::new(),
            client_secret: String::new(),
            tenant_id: String::new(),
            active_directory_endpoint: "https://login.microsoftonline.com".into(),
            request_timeout: 30 * 1_000_000_000,
            max_retries: 5,
            min_retry_delay: 10_000_000,
            max_retry_delay: 500_000_000,
        }
    }
}

impl AzureConfig {
    /// The blob service URL: the connection string's `BlobEndpoint`, else
    /// `<scheme>://<account>.blob.<suffix>`.
    fn service_url(&self, connection: &ConnectionString) -> Result<String, String> {
        if let Some(endpoint) = &connection.blob_endpoint {
            return Ok(endpoint.trim_end_matches('/').to_string());
        }
        let account = connection.account_name.as_deref().unwrap_or(&self.account_name);
        if account.is_empty() {
            return Err("account_name is empty: name the storage account (or give connection_string)".into());
        }
        let suffix = match (&connection.endpoint_suffix, self.endpoint_suffix.as_str(), self.environment.as_str()) {
            (Some(suffix), _, _) => format!("blob.{suffix}"),
            (None, "", "AzureChinaCloud") => "blob.core.chinacloudapi.cn".into(),
            (None, "", "AzureGermanCloud") => "blob.core.cloudapi.de".into(),
            (None, "", "AzureUSGovernment") => "blob.core.usgovcloudapi.net".into(),
            (None, "", "AzureGlobal" | "") => "blob.core.windows.net".into(),
            (None, "", other) => {
                return Err(format!(
                    "environment '{other}' is not one of AzureGlobal, AzureChinaCloud, AzureGermanCloud, AzureUSGovernment"
                ));
            }
            (None, suffix, _) if suffix.starts_with("blob.") => suffix.to_string(),
            (None, suffix, _) => format!("blob.{suffix}"),
        };
        Ok(format!("{}://{account}.{suffix}", connection.protocol.as_deref().unwrap_or("https")))
    }

    pub fn build(&self, source: &str) -> Result<Arc<dyn ObjectStore>, StorageError> {
        crate::tls::install_crypto_provider();
        let setup = |message: String| StorageError::Setup(format!("{source}: {message}"));
        let connection = ConnectionString::parse(&self.connection_string).map_err(setup)?;
        let url = self.service_url(&connection).map_err(setup)?;
        let account = connection.account_name.clone().unwrap_or_else(|| self.account_name.clone());
        let nanos = |n: i64| Duration::from_nanos(n.max(0) as u64);
        let backoff = BackoffSection { min_period: self.min_retry_delay, max_period: self.max_retry_delay, max_retries: self.max_retries };
        let mut options =
            object_store::ClientOptions::new().with_allow_http(url.starts_with("http://")).with_connect_timeout(Duration::from_secs(5));
        if self.request_timeout > 0 {
            options = options.with_timeout(nanos(self.request_timeout));
        }
        let mut builder = MicrosoftAzureBuilder::new()
            .with_account(&account)
            .with_container_name(&self.container_name)
            .with_endpoint(url.clone())
            .with_allow_http(url.starts_with("http://"))
            .with_retry(backoff.retry())
            .with_client_options(options)
            .with_authority_host(&self.active_directory_endpoint);
        let key = connection.account_key.clone().unwrap_or_else(|| self.account_key.clone());
        if let Some(sas) = &connection.shared_access_signature {
            builder = builder.with_config(AzureConfigKey::SasKey, sas);
        } else if self.use_service_principal {
            if self.client_id.is_empty() || self.client_secret.is_empty() || self.tenant_id.is_empty() {
                return Err(setup("use_service_principal needs client_id, client_secret and tenant_id".into()));
            }
            builder = builder.with_client_secret_authorization(&self.client_id, &self.client_secret, &self.tenant_id);
        } else if self.use_federated_token {
            let file = std::env::var("AZURE_FEDERATED_TOKEN_FILE")
                .map_err(|_| setup("use_federated_token needs AZURE_FEDERATED_TOKEN_FILE in the environment".into()))?;
            let client_id =
                if self.client_id.is_empty() { std::env::var("AZURE_CLIENT_ID").unwrap_or_default() } else { self.client_id.clone() };
            let tenant_id =
                if self.tenant_id.is_empty() { std::env::var("AZURE_TENANT_ID").unwrap_or_default() } else { self.tenant_id.clone() };
            builder = builder.with_federated_token_file(file).with_client_id(client_id).with_tenant_id(tenant_id);
        } else if self.use_managed_identity || !self.user_assigned_id.is_empty() {
            builder = builder.with_config(AzureConfigKey::ClientId, &self.user_assigned_id);
        } else if !key.is_empty() {
            builder = builder.with_access_key(key);
        } else {
            return Err(setup(
                "no credentials: give account_key, connection_string, use_service_principal, use_managed_identity or use_federated_token"
                    .into(),
            ));
        }
        builder.build().map(|store| Arc::new(store) as Arc<dyn ObjectStore>).map_err(|e| setup(e.to_string()))
    }

    pub fn describe(&self) -> String {
        let connection = ConnectionString::parse(&self.connection_string).unwrap_or_default();
        format!("azure container {} at {}", self.container_name, self.service_url(&connection).unwrap_or_else(|e| e))
    }
}

/// The parts of an Azure Storage connection string Skald uses.
#[derive(Debug, Clone, Default, PartialEq)]
struct ConnectionString {
    protocol: Option<String>,
    account_name: Option<String>,
    account_key: Option<String>,
    blob_endpoint: Option<String>,
    endpoint_suffix: Option<String>,
    shared_access_signature: Option<String>,
}

impl ConnectionString {
    fn parse(text: &str) -> Result<ConnectionString, String> {
        let mut parsed = ConnectionString::default();
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((key, value)) = part.split_once('=') else {
                return Err(format!("connection_string: '{}' is not Key=Value", part.split('=').next().unwrap_or(part)));
            };
            let value = Some(value.to_string());
            match key {
                "DefaultEndpointsProtocol" => parsed.protocol = value,
                "AccountName" => parsed.account_name = value,
                "AccountKey" => parsed.account_key = value,
                "BlobEndpoint" => parsed.blob_endpoint = value,
                "EndpointSuffix" => parsed.endpoint_suffix = value,
                "SharedAccessSignature" => parsed.shared_access_signature = value,
                "UseDevelopmentStorage" if part.ends_with("true") => {
                    parsed.account_name = Some("devstoreaccount1".into());
                    parsed.account_key = Some(AZURITE_KEY.into());
                    parsed.blob_endpoint = Some("http://127.0.0.1:10000/devstoreaccount1".into());
                }
                // Endpoints of the other services (queues, tables, files) are not used.
                _ => {}
            }
        }
        Ok(parsed)
    }
}

/// The well-known key of the emulator's account (`devstoreaccount1`).
const AZURITE_KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_urls() {
        let config = AzureConfig { account_name: "acme".into(), ..AzureConfig::default() };
        let none = ConnectionString::default();
        assert_eq!(config.service_url(&none).unwrap(), "https://acme.blob.core.windows.net");
        let china = AzureConfig { environment: "AzureChinaCloud".into(), ..config.clone() };
        assert_eq!(china.service_url(&none).unwrap(), "https://acme.blob.core.chinacloudapi.cn");
        let stack = AzureConfig { endpoint_suffix: "azurestack.local".into(), ..config.clone() };
        assert_eq!(stack.service_url(&none).unwrap(), "https://acme.blob.azurestack.local");
        let azurite = ConnectionString::parse(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=abc==;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;",
        )
        .unwrap();
        assert_eq!(azurite.account_key.as_deref(), Some("abc=="));
        assert_eq!(config.service_url(&azurite).unwrap(), "http://127.0.0.1:10000/devstoreaccount1");
        assert!(ConnectionString::parse("nonsense").is_err());
    }

    #[test]
    fn credentials_are_required() {
        let error =
            AzureConfig { account_name: "acme".into(), ..AzureConfig::default() }.build("storage_config.azure").err().unwrap().to_string();
        assert!(error.contains("storage_config.azure") && error.contains("account_key"), "{error}");
        let with_key = AzureConfig { account_name: "acme".into(), account_key: AZURITE_KEY.into(), ..AzureConfig::default() };
        assert!(with_key.build("a").is_ok());
        let principal = AzureConfig { account_name: "acme".into(), use_service_principal: true, ..AzureConfig::default() };
        assert!(principal.build("a").err().unwrap().to_string().contains("client_secret"));
    }
}
