//! S3 and the S3-compatible clouds: Loki's `aws` block in every spelling Loki accepts
//! (the `s3:` URL with credentials and region or endpoint, `bucketnames` lists,
//! `s3forcepathstyle`, `insecure`, `sse`, `http_config`), and the settings every
//! S3-compatible store is built from ([`S3Settings`]: IBM COS, Baidu BOS and Alibaba
//! OSS go through it too, see `clouds.rs`).

use super::{BackoffSection, HttpConfig};
use crate::StorageError;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// `storage_config.aws` / `common.storage.s3`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(default)]
pub struct AwsConfig {
    /// `s3://key:secret@region/bucket`, `s3://key:secret@host.with.dots/bucket` (an
    /// endpoint, plain http), `https://...`; the bucket in the path. Keys set below win.
    #[serde(serialize_with = "skald_common::limits::ser_secret")]
    pub s3: String,
    /// `host:port` (scheme from `insecure`) or a full URL; empty = AWS for `region`.
    pub endpoint: String,
    /// One bucket, or a comma-separated list: objects are spread over them by a hash of
    /// their key, as Loki does.
    pub bucketnames: String,
    pub region: String,
    pub access_key_id: String,
    #[serde(serialize_with = "skald_common::limits::ser_secret")]
    pub secret_access_key: String,
    #[serde(serialize_with = "skald_common::limits::ser_secret")]
    pub session_token: String,
    /// Path-style URLs (`endpoint/bucket/key`), as MinIO and most S3 clones need.
    pub s3forcepathstyle: bool,
    /// Plain HTTP to `endpoint`.
    pub insecure: bool,
    /// Only `v4` exists in Loki 3 (and in Skald).
    pub signature_version: String,
    pub sse: SseConfig,
    /// Older Loki: `true` = SSE-S3.
    pub sse_encryption: bool,
    pub http_config: HttpConfig,
    pub backoff_config: BackoffSection,
}

/// `sse`: server-side encryption of every object written.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(default)]
pub struct SseConfig {
    /// `SSE-S3` or `SSE-KMS` (empty: the bucket's default).
    #[serde(rename = "type")]
    pub kind: String,
    pub kms_key_id: String,
    pub kms_encryption_context: String,
}

/// Server-side encryption asked of the store.
#[derive(Debug, Clone, PartialEq)]
pub enum Encryption {
    SseS3,
    SseKms(String),
}

/// IBM Cloud IAM: COS requests carry a bearer token got for an API key or a trusted
/// profile instead of an S3 signature.
#[derive(Debug, Clone, PartialEq)]
pub struct IamAuth {
    pub auth_endpoint: String,
    pub grant: IamGrant,
    pub service_instance_id: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum IamGrant {
    ApiKey(String),
    TrustedProfile { cr_token_file: String, profile_name: String, profile_id: String },
}

/// Everything an S3-compatible store is built from, whichever block it came from.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct S3Settings {
    /// The block it came from, for messages (`storage_config.aws`).
    pub source: String,
    /// A full URL, or empty for AWS itself.
    pub endpoint: String,
    pub region: String,
    pub buckets: Vec<String>,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub path_style: bool,
    pub encryption: Option<Encryption>,
    pub http: HttpConfig,
    pub backoff: BackoffSection,
    pub iam: Option<IamAuth>,
}

impl AwsConfig {
    /// The settings, the `s3` URL resolved as Loki resolves it.
    pub fn settings(&self, source: &str) -> Result<S3Settings, StorageError> {
        let setup = |message: String| StorageError::Setup(format!("{source}: {message}"));
        let mut settings = S3Settings {
            source: source.to_string(),
            path_style: self.s3forcepathstyle,
            http: self.http_config.clone(),
            backoff: self.backoff_config.clone(),
            session_token: self.session_token.clone(),
            ..S3Settings::default()
        };
        if !self.s3.trim().is_empty() {
            let url = url::Url::parse(self.s3.trim()).map_err(|e| setup(format!("s3: not a URL ({e})")))?;
            let host = url.host_str().unwrap_or_default().to_string();
            settings.access_key_id = decode(url.username());
            settings.secret_access_key = url.password().map(decode).unwrap_or_default();
            // Loki: a host with a dot is an endpoint (plain http for s3://), else a region.
            if host.contains('.') {
                let authority = match url.port() {
                    Some(port) => format!("{host}:{port}"),
                    None => host.clone(),
                };
                settings.endpoint = match url.scheme() {
                    "https" | "http" => format!("{}://{authority}", url.scheme()),
                    _ => format!("http://{authority}"),
                };
            } else {
                settings.region = host;
            }
            let bucket = url.path().trim_start_matches('/').to_string();
            if !bucket.is_empty() {
                settings.buckets = vec![bucket];
            }
        }
        if !self.endpoint.trim().is_empty() {
            settings.endpoint = endpoint_url(&self.endpoint, self.insecure).map_err(setup)?;
        }
        if !self.region.is_empty() {
            settings.region = self.region.clone();
        }
        if !self.bucketnames.trim().is_empty() {
            settings.buckets = bucket_list(&self.bucketnames);
        }
        if !self.access_key_id.is_empty() {
            settings.access_key_id = self.access_key_id.clone();
            settings.secret_access_key = self.secret_access_key.clone();
        }
        match self.signature_version.as_str() {
            "" | "v4" => {}
            other => return Err(setup(format!("signature_version '{other}' is not supported (v4)"))),
        }
        settings.encryption = self.sse.encryption(self.sse_encryption).map_err(setup)?;
        Ok(settings)
    }
}

impl SseConfig {
    pub(super) fn encryption(&self, legacy_sse_s3: bool) -> Result<Option<Encryption>, String> {
        if !self.kms_encryption_context.is_empty() {
            return Err("sse.kms_encryption_context is not supported (the bucket key policy can require the context instead)".into());
        }
        match self.kind.as_str() {
            "" if legacy_sse_s3 => Ok(Some(Encryption::SseS3)),
            "" => Ok(None),
            "SSE-S3" => Ok(Some(Encryption::SseS3)),
            "SSE-KMS" if self.kms_key_id.is_empty() => Err("sse.type SSE-KMS needs sse.kms_key_id".into()),
            "SSE-KMS" => Ok(Some(Encryption::SseKms(self.kms_key_id.clone()))),
            other => Err(format!("sse.type '{other}' is not supported (SSE-S3, SSE-KMS)")),
        }
    }
}

/// A URL-escaped user or password of an `s3:` URL.
fn decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// `host:port` with the scheme `insecure` picks, or a full http(s) URL as it is.
pub fn endpoint_url(endpoint: &str, insecure: bool) -> Result<String, String> {
    let endpoint = endpoint.trim().trim_end_matches('/');
    if endpoint.contains("://") {
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(format!("endpoint '{endpoint}': only http:// and https:// are supported"));
        }
        return Ok(endpoint.to_string());
    }
    let scheme = if insecure { "http" } else { "https" };
    Ok(format!("{scheme}://{endpoint}"))
}

/// `a, b,c` -> `[a, b, c]`.
pub fn bucket_list(names: &str) -> Vec<String> {
    names.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_string).collect()
}

impl S3Settings {
    /// The object store: one bucket, or several with objects spread by key.
    pub fn build(&self) -> Result<Arc<dyn ObjectStore>, StorageError> {
        if self.buckets.is_empty() {
            return Err(StorageError::Setup(format!("{}: no bucket: name one (bucketnames, or the path of the s3 URL)", self.source)));
        }
        let mut stores: Vec<Arc<dyn ObjectStore>> = Vec::new();
        for bucket in &self.buckets {
            stores.push(Arc::new(self.build_bucket(bucket)?));
        }
        Ok(crate::sharded::spread(stores))
    }

    fn build_bucket(&self, bucket: &str) -> Result<object_store::aws::AmazonS3, StorageError> {
        crate::tls::install_crypto_provider();
        let from_env = || std::env::var("AWS_REGION").or_else(|_| std::env::var("AWS_DEFAULT_REGION")).ok().filter(|r| !r.is_empty());
        let region = if self.region.is_empty() { from_env().unwrap_or_else(|| "us-east-1".into()) } else { self.region.clone() };
        let options = self.http.client_options(self.endpoint.starts_with("http://"), &self.source)?;
        // As the AWS SDK Loki uses: `AWS_*` variables (keys, session token, web identity,
        // container credentials) under what the configuration sets; else the instance role.
        let (endpoint, virtual_hosted) = self.bucket_endpoint(bucket);
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_region(region)
            .with_virtual_hosted_style_request(virtual_hosted)
            .with_allow_http(self.endpoint.starts_with("http://"))
            .with_retry(self.backoff.retry())
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
        match &self.encryption {
            Some(Encryption::SseS3) => {
                let key: AmazonS3ConfigKey =
                    "aws_server_side_encryption".parse().map_err(|e| StorageError::Setup(format!("{}: sse: {e}", self.source)))?;
                builder = builder.with_config(key, "AES256");
            }
            Some(Encryption::SseKms(key)) => builder = builder.with_sse_kms_encryption(key),
            None => {}
        }
        if let Some(iam) = &self.iam {
            builder = builder.with_skip_signature(true).with_http_connector(crate::iam::IamConnector::new(iam.clone()));
        }
        builder.build().map_err(|e| StorageError::Setup(format!("{}: {e}", self.source)))
    }

    /// The endpoint to give the S3 client for `bucket`, and whether requests are
    /// virtual-hosted. As the AWS SDK does, a virtual-hosted bucket on a custom endpoint
    /// is `scheme://bucket.host`; an endpoint that is an IP address or `localhost` can only
    /// be used path-style, so it is.
    fn bucket_endpoint(&self, bucket: &str) -> (String, bool) {
        if self.path_style || self.endpoint.is_empty() {
            return (self.endpoint.clone(), !self.path_style);
        }
        let Ok(url) = url::Url::parse(&self.endpoint) else { return (self.endpoint.clone(), false) };
        let addressable = matches!(url.host(), Some(url::Host::Domain(domain)) if domain != "localhost");
        if !addressable {
            return (self.endpoint.clone(), false);
        }
        let host = url.host_str().unwrap_or_default();
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        (format!("{}://{bucket}.{host}{port}", url.scheme()), true)
    }

    pub fn describe(&self) -> String {
        let at = if self.endpoint.is_empty() {
            format!("AWS {}", if self.region.is_empty() { "us-east-1" } else { &self.region })
        } else {
            self.endpoint.clone()
        };
        format!("s3 bucket {} at {at}", self.buckets.join(","))
    }
}

impl HttpConfig {
    /// Client options of one store: timeouts, TLS checks, a CA bundle.
    pub fn client_options(&self, allow_http: bool, source: &str) -> Result<ClientOptions, StorageError> {
        let nanos = |n: i64| Duration::from_nanos(n.max(0) as u64);
        let mut options = ClientOptions::new()
            .with_allow_http(allow_http)
            .with_allow_invalid_certificates(self.insecure_skip_verify)
            .with_connect_timeout(Duration::from_secs(5))
            .with_pool_idle_timeout(nanos(self.idle_conn_timeout));
        if self.response_header_timeout > 0 {
            options = options.with_timeout(nanos(self.response_header_timeout));
        }
        if self.timeout > 0 {
            options = options.with_timeout(nanos(self.timeout));
        }
        if !self.ca_file.is_empty() {
            let pem = std::fs::read(&self.ca_file)
                .map_err(|e| StorageError::Setup(format!("{source}.http_config.ca_file {}: {e}", self.ca_file)))?;
            for certificate in object_store::Certificate::from_pem_bundle(&pem)
                .map_err(|e| StorageError::Setup(format!("{source}.http_config.ca_file {}: {e}", self.ca_file)))?
            {
                options = options.with_root_certificate(certificate);
            }
        }
        Ok(options)
    }
}

impl BackoffSection {
    /// Retries of one failed request; one that still fails surfaces as
    /// [`StorageError::Unavailable`].
    pub fn retry(&self) -> RetryConfig {
        let nanos = |n: i64| Duration::from_nanos(n.max(0) as u64);
        RetryConfig {
            backoff: BackoffConfig { init_backoff: nanos(self.min_period), max_backoff: nanos(self.max_period), base: 2.0 },
            max_retries: self.max_retries,
            retry_timeout: Duration::from_secs(30),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aws(yaml: &str) -> AwsConfig {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn the_s3_url_as_loki_reads_it() {
        let with_endpoint =
            aws("s3: s3://access%2Fkey:se%3Acret@minio.local:9000/chunks\ns3forcepathstyle: true\n").settings("aws").unwrap();
        assert_eq!(with_endpoint.endpoint, "http://minio.local:9000");
        assert_eq!((with_endpoint.access_key_id.as_str(), with_endpoint.secret_access_key.as_str()), ("access/key", "se:cret"));
        assert_eq!(with_endpoint.buckets, vec!["chunks"]);
        assert!(with_endpoint.path_style);
        let with_region = aws("s3: s3://eu-west-1/bucket_name\n").settings("aws").unwrap();
        assert_eq!((with_region.region.as_str(), with_region.endpoint.as_str()), ("eu-west-1", ""));
        assert!(with_region.access_key_id.is_empty());
        let https = aws("s3: https://k:s@s3.us-east-2.amazonaws.com/b\nbucketnames: x, y\n").settings("aws").unwrap();
        assert_eq!(https.endpoint, "https://s3.us-east-2.amazonaws.com");
        assert_eq!(https.buckets, vec!["x", "y"], "bucketnames wins over the URL's bucket");
    }

    #[test]
    fn virtual_hosted_buckets_on_custom_endpoints() {
        let settings = |endpoint: &str, path_style: bool| S3Settings { endpoint: endpoint.into(), path_style, ..S3Settings::default() };
        assert_eq!(settings("https://minio.example:9000", false).bucket_endpoint("logs"), ("https://logs.minio.example:9000".into(), true));
        assert_eq!(settings("https://minio.example:9000", true).bucket_endpoint("logs"), ("https://minio.example:9000".into(), false));
        assert_eq!(settings("http://127.0.0.1:9000", false).bucket_endpoint("logs"), ("http://127.0.0.1:9000".into(), false));
        assert_eq!(settings("http://localhost:9000", false).bucket_endpoint("logs"), ("http://localhost:9000".into(), false));
        assert_eq!(settings("", false).bucket_endpoint("logs"), (String::new(), true), "AWS itself");
    }

    #[tokio::test]
    async fn sse_kms_is_asked_on_every_write() {
        use object_store::ObjectStoreExt;
        let (endpoint, seen) = crate::test_http::serve(|_| String::new()).await;
        let settings = aws(&format!("endpoint: {endpoint}\nbucketnames: b\naccess_key_id: k\nsecret_access_key: s\ns3forcepathstyle: true\nsse:\n  type: SSE-KMS\n  kms_key_id: key-1\n"))
            .settings("aws")
            .unwrap();
        settings.build().unwrap().put(&object_store::path::Path::from("x"), object_store::PutPayload::from_static(b"x")).await.unwrap();
        let request = seen.lock().unwrap()[0].to_lowercase();
        assert!(request.contains("x-amz-server-side-encryption: aws:kms"), "{request}");
        assert!(request.contains("x-amz-server-side-encryption-aws-kms-key-id: key-1"), "{request}");
    }

    #[test]
    fn encryption_and_mistakes() {
        let kms = aws("bucketnames: b\nsse:\n  type: SSE-KMS\n  kms_key_id: 1234abcd\n").settings("aws").unwrap();
        assert_eq!(kms.encryption, Some(Encryption::SseKms("1234abcd".into())));
        assert!(kms.build().is_ok());
        assert_eq!(aws("sse:\n  type: SSE-S3\n").settings("a").unwrap().encryption, Some(Encryption::SseS3));
        assert!(aws("sse:\n  type: SSE-KMS\n").settings("a").unwrap_err().to_string().contains("kms_key_id"));
        assert!(aws("sse:\n  type: SSE-C\n").settings("a").unwrap_err().to_string().contains("SSE-C"));
        assert!(aws("signature_version: v2\n").settings("a").unwrap_err().to_string().contains("v2"));
        let error = AwsConfig::default().settings("storage_config.aws").unwrap().build().unwrap_err().to_string();
        assert!(error.contains("storage_config.aws") && error.contains("bucket"), "{error}");
    }
}
