//! dskit's `httpgrpc` (`/httpgrpc.HTTP/Handle`): an HTTP request and its answer carried
//! over gRPC. Every node answers it on its gRPC port with its own HTTP API, as every
//! dskit server does; Loki's ruler in remote evaluation mode
//! (`ruler.evaluation.mode: remote`) sends its queries to a query frontend this way,
//! and so does Skald's ([`HttpGrpcClient`]).

use crate::connect::scheduler_endpoint;
use crate::scheduler::MAX_MESSAGE_BYTES;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, Request};
use tonic::transport::{Channel, ClientTlsConfig};
use tower::ServiceExt;

/// The generated messages and stubs.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod pb {
    tonic::include_proto!("httpgrpc");
}

use pb::http_client::HttpClient;
use pb::http_server::{Http, HttpServer};
use pb::{Header, HttpRequest, HttpResponse};

/// The gRPC service answering `Handle` with `router` (this node's HTTP API).
pub fn http_over_grpc_service(router: Router) -> HttpServer<HttpOverGrpc> {
    HttpServer::new(HttpOverGrpc { router }).max_decoding_message_size(MAX_MESSAGE_BYTES).max_encoding_message_size(MAX_MESSAGE_BYTES)
}

pub struct HttpOverGrpc {
    router: Router,
}

fn text_response(code: u16, message: &str) -> HttpResponse {
    HttpResponse {
        code: i32::from(code),
        headers: vec![Header { key: "Content-Type".into(), values: vec!["text/plain; charset=utf-8".into()] }],
        body: format!("{message}\n").into_bytes(),
    }
}

fn build_request(request: HttpRequest) -> Result<Request<Body>, String> {
    let method = Method::from_bytes(request.method.as_bytes()).map_err(|_| format!("invalid method \"{}\"", request.method))?;
    if !request.url.starts_with('/') {
        return Err(format!("invalid url \"{}\": a path is expected", request.url));
    }
    let mut builder = Request::builder().method(method).uri(&request.url);
    for header in &request.headers {
        let name = HeaderName::from_bytes(header.key.as_bytes()).map_err(|_| format!("invalid header name \"{}\"", header.key))?;
        for value in &header.values {
            let value = HeaderValue::from_str(value).map_err(|_| format!("invalid value of header {}", header.key))?;
            builder = builder.header(name.clone(), value);
        }
    }
    builder.body(Body::from(request.body)).map_err(|e| format!("invalid request: {e}"))
}

#[tonic::async_trait]
impl Http for HttpOverGrpc {
    async fn handle(&self, request: tonic::Request<HttpRequest>) -> Result<tonic::Response<HttpResponse>, tonic::Status> {
        let request = match build_request(request.into_inner()) {
            Ok(request) => request,
            Err(message) => return Ok(tonic::Response::new(text_response(400, &message))),
        };
        let response = match self.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let code = i32::from(response.status().as_u16());
        let mut headers: Vec<Header> = Vec::new();
        for (name, value) in response.headers() {
            let Ok(value) = value.to_str() else { continue };
            match headers.iter_mut().find(|h| h.key.eq_ignore_ascii_case(name.as_str())) {
                Some(header) => header.values.push(value.to_string()),
                None => headers.push(Header { key: name.to_string(), values: vec![value.to_string()] }),
            }
        }
        // Leave room for the message's other fields under the gRPC size limit.
        match axum::body::to_bytes(response.into_body(), MAX_MESSAGE_BYTES - 64 * 1024).await {
            Ok(body) => Ok(tonic::Response::new(HttpResponse { code, headers, body: body.to_vec() })),
            Err(e) => Ok(tonic::Response::new(text_response(500, &format!("reading the answer: {e}")))),
        }
    }
}

/// A client of another node's `Handle` (for example a query frontend's).
#[derive(Clone)]
pub struct HttpGrpcClient {
    client: HttpClient<Channel>,
}

impl HttpGrpcClient {
    /// Connects lazily to `address` (`host:port`, `dns:///host:port` or a URL); the error
    /// names the address when it cannot be a gRPC endpoint.
    pub fn connect(address: &str, tls: Option<&ClientTlsConfig>) -> Result<HttpGrpcClient, String> {
        let endpoint = scheduler_endpoint(address, tls).map_err(|e| e.replace("scheduler address", "address"))?;
        let client = HttpClient::new(endpoint.connect_lazy())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        Ok(HttpGrpcClient { client })
    }

    /// Sends `request` and returns the answer (any status); `Err` when the call failed.
    pub async fn handle(&self, request: HttpRequest, timeout: std::time::Duration) -> Result<HttpResponse, tonic::Status> {
        let mut call = tonic::Request::new(request);
        call.set_timeout(timeout);
        Ok(self.client.clone().handle(call).await?.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::RawQuery;
    use axum::http::HeaderMap;
    use axum::routing::post;

    #[tokio::test]
    async fn a_request_reaches_the_router_and_its_answer_comes_back() {
        let router = Router::new().route(
            "/loki/api/v1/query",
            post(|RawQuery(query): RawQuery, headers: HeaderMap, body: String| async move {
                let tenant = headers.get("x-scope-orgid").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                (axum::http::StatusCode::ACCEPTED, [("x-answer", "yes")], format!("{tenant}|{}|{body}", query.unwrap_or_default()))
            }),
        );
        let service = HttpOverGrpc { router };
        let request = HttpRequest {
            method: "POST".into(),
            url: "/loki/api/v1/query?a=1".into(),
            headers: vec![Header { key: "X-Scope-OrgID".into(), values: vec!["acme".into()] }],
            body: b"query=x".to_vec(),
        };
        let answer = service.handle(tonic::Request::new(request)).await.unwrap().into_inner();
        assert_eq!(answer.code, 202);
        assert_eq!(String::from_utf8(answer.body).unwrap(), "acme|a=1|query=x");
        assert!(answer.headers.iter().any(|h| h.key == "x-answer" && h.values == ["yes"]));

        let bad = HttpRequest { method: "GET".into(), url: "http://elsewhere/".into(), headers: vec![], body: vec![] };
        let answer = service.handle(tonic::Request::new(bad)).await.unwrap().into_inner();
        assert_eq!(answer.code, 400);
        assert!(String::from_utf8(answer.body).unwrap().contains("elsewhere"));
    }
}
