//! Google Cloud Storage over its JSON API, as Google's own clients (and so Loki) talk
//! to it: uploads to `/upload/storage/v1/b/B/o?uploadType=media`, reads with
//! `alt=media`, listing and deletes on `/storage/v1/b/B/o`. `object_store`'s GCS client
//! speaks the XML API instead, which the emulators (the one the tests use among them)
//! do not serve; its credential chain (service account key, application default
//! credentials, the metadata server) is reused here for the bearer token.
//!
//! Failed requests (connection errors, 429, 5xx) are tried again with the given backoff.

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use object_store::client::{HttpClient, HttpRequest, HttpResponse};
use object_store::gcp::GcpCredential;
use object_store::path::Path;
use object_store::{
    Attributes, CredentialProvider, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMode,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result, RetryConfig,
};
use std::sync::Arc;

type Credentials = Arc<dyn CredentialProvider<Credential = GcpCredential>>;

/// One bucket on the JSON API.
#[derive(Debug, Clone)]
pub struct GcsJson {
    base_url: String,
    bucket: String,
    http: HttpClient,
    /// `None`: no `Authorization` (an emulator).
    credentials: Option<Credentials>,
    retry: RetryConfig,
}

fn generic(message: impl Into<String>) -> object_store::Error {
    object_store::Error::Generic { store: "GCS", source: message.into().into() }
}

/// A path segment or query value, percent-encoded (`/` included).
fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>().replace('+', "%20")
}

impl GcsJson {
    pub fn new(base_url: String, bucket: String, http: HttpClient, credentials: Option<Credentials>, retry: RetryConfig) -> GcsJson {
        GcsJson { base_url: base_url.trim_end_matches('/').to_string(), bucket, http, credentials, retry }
    }

    fn object_url(&self, location: &Path) -> String {
        format!("{}/storage/v1/b/{}/o/{}", self.base_url, encode(&self.bucket), encode(location.as_ref()))
    }

    /// Sends a request built by `build` (again on a retryable failure).
    async fn send(&self, build: impl Fn() -> http::request::Builder, body: Bytes) -> Result<(http::StatusCode, Bytes)> {
        let mut attempt = 0;
        let mut delay = self.retry.backoff.init_backoff;
        loop {
            let mut builder = build();
            if let Some(credentials) = &self.credentials {
                let token = credentials.get_credential().await?;
                builder = builder.header(http::header::AUTHORIZATION, format!("Bearer {}", token.bearer));
            }
            let request: HttpRequest = builder.body(body.clone().into()).map_err(|e| generic(e.to_string()))?;
            let outcome = match self.http.execute(request).await {
                Ok(response) => read(response).await,
                Err(error) => Err(generic(error.to_string())),
            };
            let retryable = match &outcome {
                Ok((status, _)) => status.is_server_error() || *status == http::StatusCode::TOO_MANY_REQUESTS,
                Err(_) => true,
            };
            if !retryable || attempt >= self.retry.max_retries {
                return outcome;
            }
            attempt += 1;
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(self.retry.backoff.max_backoff);
        }
    }

    async fn metadata(&self, location: &Path) -> Result<ObjectMeta> {
        let url = self.object_url(location);
        let (status, body) = self.send(|| http::Request::get(&url), Bytes::new()).await?;
        check(status, &body, location)?;
        let item: serde_json::Value = serde_json::from_slice(&body).map_err(|e| generic(format!("object metadata is not JSON: {e}")))?;
        object_meta(&item)
    }

    async fn list_page(&self, prefix: Option<&Path>, delimiter: bool, page: Option<String>) -> Result<serde_json::Value> {
        let mut url = format!("{}/storage/v1/b/{}/o?maxResults=1000", self.base_url, encode(&self.bucket));
        if let Some(prefix) = prefix.filter(|p| !p.as_ref().is_empty()) {
            url.push_str(&format!("&prefix={}", encode(&format!("{}/", prefix.as_ref()))));
        }
        if delimiter {
            url.push_str("&delimiter=%2F");
        }
        if let Some(token) = page {
            url.push_str(&format!("&pageToken={}", encode(&token)));
        }
        let (status, body) = self.send(|| http::Request::get(&url), Bytes::new()).await?;
        check(status, &body, &Path::from(self.bucket.as_str()))?;
        serde_json::from_slice(&body).map_err(|e| generic(format!("listing is not JSON: {e}")))
    }
}

async fn read(response: HttpResponse) -> Result<(http::StatusCode, Bytes)> {
    let status = response.status();
    let body = response.into_body().bytes().await.map_err(|e| generic(e.to_string()))?;
    Ok((status, body))
}

/// Maps an answer's status to object_store's errors.
fn check(status: http::StatusCode, body: &Bytes, location: &Path) -> Result<()> {
    match status {
        s if s.is_success() => Ok(()),
        http::StatusCode::NOT_FOUND => {
            Err(object_store::Error::NotFound { path: location.to_string(), source: String::from_utf8_lossy(body).to_string().into() })
        }
        http::StatusCode::PRECONDITION_FAILED => {
            Err(object_store::Error::AlreadyExists { path: location.to_string(), source: String::from_utf8_lossy(body).to_string().into() })
        }
        other => Err(generic(format!("{location}: {other}: {}", String::from_utf8_lossy(body)))),
    }
}

/// An object resource of the JSON API as object_store's metadata.
fn object_meta(item: &serde_json::Value) -> Result<ObjectMeta> {
    let name = item["name"].as_str().ok_or_else(|| generic("object without a name"))?;
    let size = match &item["size"] {
        serde_json::Value::String(text) => text.parse().unwrap_or(0),
        other => other.as_u64().unwrap_or(0),
    };
    let updated =
        item["updated"].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&chrono::Utc));
    Ok(ObjectMeta {
        location: Path::from(name),
        last_modified: updated.unwrap_or_default(),
        size,
        e_tag: item["etag"].as_str().map(str::to_string),
        version: item["generation"].as_str().map(str::to_string),
    })
}

impl std::fmt::Display for GcsJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GcsJson({} at {})", self.bucket, self.base_url)
    }
}

#[async_trait]
impl ObjectStore for GcsJson {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        let mut url =
            format!("{}/upload/storage/v1/b/{}/o?uploadType=media&name={}", self.base_url, encode(&self.bucket), encode(location.as_ref()));
        match opts.mode {
            PutMode::Overwrite => {}
            PutMode::Create => url.push_str("&ifGenerationMatch=0"),
            PutMode::Update(_) => {
                return Err(object_store::Error::NotImplemented { operation: "conditional update".into(), implementer: "GCS".into() });
            }
        }
        let body: Bytes = payload.into();
        let build = || http::Request::post(&url).header(http::header::CONTENT_TYPE, "application/octet-stream");
        let (status, answer) = self.send(build, body).await?;
        check(status, &answer, location)?;
        let item: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
        Ok(PutResult {
            e_tag: item["etag"].as_str().map(str::to_string),
            version: item["generation"].as_str().map(str::to_string),
            extensions: Default::default(),
        })
    }

    async fn put_multipart_opts(&self, _location: &Path, _opts: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        Err(object_store::Error::NotImplemented { operation: "multipart upload".into(), implementer: "GCS".into() })
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let meta = self.metadata(location).await?;
        options.check_preconditions(&meta)?;
        let range = match &options.range {
            Some(range) => range.as_range(meta.size).map_err(|e| generic(e.to_string()))?,
            None => 0..meta.size,
        };
        let bytes = if options.head || range.is_empty() {
            Bytes::new()
        } else {
            let url = format!("{}?alt=media", self.object_url(location));
            let header = format!("bytes={}-{}", range.start, range.end - 1);
            let (status, body) = self.send(|| http::Request::get(&url).header(http::header::RANGE, &header), Bytes::new()).await?;
            check(status, &body, location)?;
            // A server that ignores Range sends everything.
            if status == http::StatusCode::OK && (body.len() as u64) == meta.size {
                body.slice(range.start as usize..range.end as usize)
            } else {
                body
            }
        };
        let stream = futures::stream::once(async move { Ok(bytes) }).boxed();
        Ok(GetResult {
            payload: GetResultPayload::Stream(stream),
            meta,
            range,
            attributes: Attributes::default(),
            extensions: Default::default(),
        })
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        let this = Arc::new(GcsJson::new(
            self.base_url.clone(),
            self.bucket.clone(),
            self.http.clone(),
            self.credentials.clone(),
            self.retry.clone(),
        ));
        locations
            .then(move |location| {
                let this = this.clone();
                async move {
                    let location = location?;
                    let url = this.object_url(&location);
                    let (status, body) = this.send(|| http::Request::delete(&url), Bytes::new()).await?;
                    check(status, &body, &location)?;
                    Ok(location)
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let this = Arc::new(GcsJson::new(
            self.base_url.clone(),
            self.bucket.clone(),
            self.http.clone(),
            self.credentials.clone(),
            self.retry.clone(),
        ));
        let prefix = prefix.cloned();
        futures::stream::try_unfold(Some(None::<String>), move |state| {
            let this = this.clone();
            let prefix = prefix.clone();
            async move {
                let Some(page) = state else { return Ok(None) };
                let answer = this.list_page(prefix.as_ref(), false, page).await?;
                let items = answer["items"].as_array().cloned().unwrap_or_default();
                let metas: Vec<Result<ObjectMeta>> = items.iter().map(object_meta).collect();
                let next = answer["nextPageToken"].as_str().map(|t| Some(t.to_string()));
                Ok(Some((futures::stream::iter(metas), next)))
            }
        })
        .map(|page: Result<_>| match page {
            Ok(items) => items.boxed(),
            Err(error) => futures::stream::once(async move { Err(error) }).boxed(),
        })
        .flatten()
        .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let mut result = ListResult { common_prefixes: Vec::new(), objects: Vec::new(), extensions: Default::default() };
        let mut page = None;
        loop {
            let answer = self.list_page(prefix, true, page).await?;
            for item in answer["items"].as_array().into_iter().flatten() {
                result.objects.push(object_meta(item)?);
            }
            for common in answer["prefixes"].as_array().into_iter().flatten() {
                if let Some(text) = common.as_str() {
                    result.common_prefixes.push(Path::from(text.trim_end_matches('/')));
                }
            }
            match answer["nextPageToken"].as_str() {
                Some(token) => page = Some(token.to_string()),
                None => return Ok(result),
            }
        }
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: object_store::CopyOptions) -> Result<()> {
        let mut url = format!("{}/copyTo/b/{}/o/{}", self.object_url(from), encode(&self.bucket), encode(to.as_ref()));
        if options.mode == object_store::CopyMode::Create {
            url.push_str("?ifGenerationMatch=0");
        }
        let (status, body) = self.send(|| http::Request::post(&url), Bytes::new()).await?;
        check(status, &body, from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_encoded_whole() {
        assert_eq!(encode("chunks/t 1/a+b"), "chunks%2Ft%201%2Fa%2Bb");
        let meta = object_meta(
            &serde_json::json!({"name": "a/b", "size": "12", "updated": "2024-01-02T03:04:05.000Z", "etag": "x", "generation": "7"}),
        )
        .unwrap();
        assert_eq!((meta.location.as_ref(), meta.size, meta.version.as_deref()), ("a/b", 12, Some("7")));
    }
}
