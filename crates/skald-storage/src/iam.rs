//! IBM Cloud IAM for COS (`cos.api_key`, or `cos.cr_token_file_path` with a trusted
//! profile): instead of an S3 signature, every request carries `Authorization: Bearer`
//! with an IAM access token, got from `auth_endpoint` and got again a minute before it
//! expires, and `ibm-service-instance-id` when one is configured.
//!
//! It sits below the S3 client as its HTTP connector (the S3 client is told not to
//! sign), so retries, listing and everything else stay the S3 client's.

use crate::config::{IamAuth, IamGrant};
use async_trait::async_trait;
use object_store::ClientOptions;
use object_store::client::{HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse, HttpService, ReqwestConnector};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Builds HTTP clients that add IAM bearer tokens.
#[derive(Debug)]
pub struct IamConnector {
    auth: IamAuth,
}

impl IamConnector {
    pub fn new(auth: IamAuth) -> IamConnector {
        IamConnector { auth }
    }
}

impl HttpConnector for IamConnector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let inner = ReqwestConnector::default().connect(options)?;
        Ok(HttpClient::new(IamService { inner, auth: self.auth.clone(), token: Arc::new(Mutex::new(None)) }))
    }
}

#[derive(Debug)]
struct IamService {
    inner: HttpClient,
    auth: IamAuth,
    /// The token and when to get a new one.
    token: Arc<Mutex<Option<(String, Instant)>>>,
}

impl IamService {
    async fn token(&self) -> Result<String, HttpError> {
        let mut cached = self.token.lock().await;
        if let Some((token, renew_at)) = cached.as_ref()
            && Instant::now() < *renew_at
        {
            return Ok(token.clone());
        }
        let (token, lifetime) = self.fetch().await?;
        let renew_in = lifetime.saturating_sub(Duration::from_secs(60)).max(Duration::from_secs(1));
        *cached = Some((token.clone(), Instant::now() + renew_in));
        Ok(token)
    }

    /// POSTs the grant to the IAM endpoint; the access token and its lifetime.
    async fn fetch(&self) -> Result<(String, Duration), HttpError> {
        let failed = |message: String| HttpError::new(HttpErrorKind::Request, std::io::Error::other(message));
        let form = match &self.auth.grant {
            IamGrant::ApiKey(key) => format!("grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey={}", encode(key)),
            IamGrant::TrustedProfile { cr_token_file, profile_name, profile_id } => {
                let cr_token =
                    std::fs::read_to_string(cr_token_file).map_err(|e| failed(format!("cos.cr_token_file_path {cr_token_file}: {e}")))?;
                let mut form = format!("grant_type=urn:ibm:params:oauth:grant-type:cr-token&cr_token={}", encode(cr_token.trim()));
                if !profile_id.is_empty() {
                    form.push_str(&format!("&profile_id={}", encode(profile_id)));
                }
                if !profile_name.is_empty() {
                    form.push_str(&format!("&profile_name={}", encode(profile_name)));
                }
                form
            }
        };
        let request = http::Request::builder()
            .method(http::Method::POST)
            .uri(&self.auth.auth_endpoint)
            .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(http::header::ACCEPT, "application/json")
            .body(form.into())
            .map_err(|e| failed(format!("cos.auth_endpoint {}: {e}", self.auth.auth_endpoint)))?;
        let response = self.inner.execute(request).await?;
        let status = response.status();
        let body = response.into_body().bytes().await?;
        if !status.is_success() {
            return Err(failed(format!("IBM IAM at {} answered {status}: {}", self.auth.auth_endpoint, String::from_utf8_lossy(&body))));
        }
        let answer: serde_json::Value = serde_json::from_slice(&body).map_err(|e| failed(format!("IBM IAM answer is not JSON: {e}")))?;
        let token = answer["access_token"].as_str().ok_or_else(|| failed("IBM IAM answer has no access_token".into()))?;
        let lifetime = answer["expires_in"].as_u64().unwrap_or(3600);
        Ok((token.to_string(), Duration::from_secs(lifetime)))
    }
}

#[async_trait]
impl HttpService for IamService {
    async fn call(&self, mut request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let token = self.token().await?;
        let headers = request.headers_mut();
        let bearer = http::HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|e| HttpError::new(HttpErrorKind::Request, std::io::Error::other(e.to_string())))?;
        headers.insert(http::header::AUTHORIZATION, bearer);
        if !self.auth.service_instance_id.is_empty()
            && let Ok(id) = http::HeaderValue::from_str(&self.auth.service_instance_id)
        {
            headers.insert("ibm-service-instance-id", id);
        }
        self.inner.execute(request).await
    }
}

/// `application/x-www-form-urlencoded` value encoding.
fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_http::serve;
    use object_store::{ObjectStoreExt, PutPayload};

    #[tokio::test]
    async fn requests_carry_a_bearer_token_got_once() {
        let (iam, iam_seen) = serve(|_| r#"{"access_token":"tok-1","expires_in":3600}"#.to_string()).await;
        let (cos, cos_seen) = serve(|_| String::new()).await;
        let auth = IamAuth {
            auth_endpoint: format!("{iam}/identity/token"),
            grant: IamGrant::ApiKey("k&y".into()),
            service_instance_id: "crn:1".into(),
        };
        let settings = crate::config::S3Settings {
            source: "cos".into(),
            endpoint: cos,
            buckets: vec!["b".into()],
            path_style: true,
            iam: Some(auth),
            ..Default::default()
        };
        let store = settings.build().unwrap();
        for i in 0..2 {
            store.put(&object_store::path::Path::from(format!("k{i}")), PutPayload::from_static(b"x")).await.unwrap();
        }
        let iam_requests = iam_seen.lock().unwrap().clone();
        assert_eq!(iam_requests.len(), 1, "the token is reused");
        assert!(iam_requests[0].contains("grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey=k%26y"), "{}", iam_requests[0]);
        let cos_requests = cos_seen.lock().unwrap().clone();
        assert_eq!(cos_requests.len(), 2);
        for request in cos_requests {
            let lower = request.to_lowercase();
            assert!(lower.contains("authorization: bearer tok-1") && lower.contains("ibm-service-instance-id: crn:1"), "{request}");
            assert!(!lower.contains("aws4-hmac-sha256"), "no S3 signature: {request}");
        }
    }
}
