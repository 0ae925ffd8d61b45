//! The querier's side of the scheduler: a worker that keeps a `Pull` stream open, runs
//! each part it receives through the querier's own Loki API router (so a part is
//! answered exactly as the same HTTP request would be), and sends status and body back.
//! When the scheduler is away, it reconnects with exponential backoff.

use crate::connect::scheduler_endpoint;
use crate::proto::scheduler_client::SchedulerClient;
use crate::proto::{PartDone, PartResult, QuerierHello, QuerierMessage, QueryPart, querier_message, scheduler_message};
use crate::scheduler::MAX_MESSAGE_BYTES;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, Request, header};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::ClientTlsConfig;
use tower::ServiceExt;

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Pulls parts from the scheduler at `scheduler_addr` (`host:port` or a URL) and runs up
/// to `concurrency` of them at once through `handler`. Runs until the task is dropped or
/// aborted (which also aborts the parts it is running; the scheduler then queues them
/// again for another querier). `tls` is `frontend_worker.grpc_client_config`'s.
pub async fn run_querier_worker(
    scheduler_addr: impl Into<String>,
    querier_id: impl Into<String>,
    concurrency: usize,
    handler: Router,
    tls: Option<ClientTlsConfig>,
) {
    let url = scheduler_addr.into();
    let querier_id = querier_id.into();
    let concurrency = concurrency.max(1);
    let mut backoff = MIN_BACKOFF;
    loop {
        match pull_once(&url, tls.as_ref(), &querier_id, concurrency, &handler).await {
            Ok(()) => {
                tracing::info!(scheduler = %url, "scheduler closed the pull stream; reconnecting");
                backoff = MIN_BACKOFF;
            }
            Err(PullError { connected, message }) => {
                if connected {
                    backoff = MIN_BACKOFF;
                }
                tracing::warn!(scheduler = %url, error = %message, retry_in = ?backoff, "querier worker lost the scheduler");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

struct PullError {
    /// Whether the stream had been opened (then the next attempt starts from the
    /// shortest backoff).
    connected: bool,
    message: String,
}

fn failed(connected: bool) -> impl Fn(tonic::Status) -> PullError {
    move |status| PullError { connected, message: status.to_string() }
}

/// One pull stream, from hello to its end.
async fn pull_once(
    url: &str,
    tls: Option<&ClientTlsConfig>,
    querier_id: &str,
    concurrency: usize,
    handler: &Router,
) -> Result<(), PullError> {
    let endpoint = scheduler_endpoint(url, tls).map_err(|message| PullError { connected: false, message })?;
    let channel = endpoint.connect().await.map_err(|e| PullError { connected: false, message: e.to_string() })?;
    let mut client =
        SchedulerClient::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES).max_encoding_message_size(MAX_MESSAGE_BYTES);
    let (outbound, receiver) = mpsc::channel(concurrency * 2 + 2);
    let hello = QuerierHello { querier_id: querier_id.to_string(), concurrency: u32::try_from(concurrency).unwrap_or(u32::MAX) };
    let _ = outbound.send(QuerierMessage { message: Some(querier_message::Message::Hello(hello)) }).await;
    let mut inbound = client.pull(ReceiverStream::new(receiver)).await.map_err(failed(false))?.into_inner();
    tracing::info!(scheduler = %url, querier = querier_id, concurrency, "querier worker connected");
    // Dropping the set (on any return) aborts the parts still running.
    let mut running: JoinSet<PartResult> = JoinSet::new();
    let mut part_ids: HashMap<tokio::task::Id, u64> = HashMap::new();
    loop {
        tokio::select! {
            message = inbound.message() => {
                let Some(message) = message.map_err(failed(true))? else { return Ok(()) };
                let Some(scheduler_message::Message::Part(assigned)) = message.message else { continue };
                let part = assigned.part.unwrap_or_default();
                let task = running.spawn(run_part(handler.clone(), part));
                part_ids.insert(task.id(), assigned.part_id);
            }
            Some(finished) = running.join_next_with_id(), if !running.is_empty() => {
                let (task, result) = match finished {
                    Ok((task, result)) => (task, result),
                    Err(error) => (error.id(), text_result(500, "the querier failed while running the query part")),
                };
                let Some(part_id) = part_ids.remove(&task) else { continue };
                let done = PartDone { part_id, result: Some(result) };
                if outbound.send(QuerierMessage { message: Some(querier_message::Message::Done(done)) }).await.is_err() {
                    return Err(PullError { connected: true, message: "the pull stream closed".to_string() });
                }
            }
        }
    }
}

fn text_result(status: u16, message: &str) -> PartResult {
    PartResult { status: u32::from(status), content_type: crate::error::TEXT_PLAIN.to_string(), body: format!("{message}\n").into_bytes() }
}

/// Runs one part through the router as the HTTP request it stands for.
pub(crate) async fn run_part(handler: Router, part: QueryPart) -> PartResult {
    let request = match build_request(&part) {
        Ok(request) => request,
        Err(message) => return text_result(400, &message),
    };
    let response = match handler.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let status = response.status().as_u16();
    let content_type = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    // Leave room for the message's other fields under the gRPC size limit.
    match axum::body::to_bytes(response.into_body(), MAX_MESSAGE_BYTES - 4096).await {
        Ok(body) => PartResult { status: u32::from(status), content_type, body: body.to_vec() },
        Err(e) => text_result(500, &format!("reading the query part's answer: {e}")),
    }
}

fn build_request(part: &QueryPart) -> Result<Request<Body>, String> {
    let method = Method::from_bytes(part.method.as_bytes()).map_err(|_| format!("invalid method \"{}\"", part.method))?;
    if !part.path.starts_with('/') {
        return Err(format!("invalid path \"{}\"", part.path));
    }
    let mut encoder = url::form_urlencoded::Serializer::new(String::new());
    for pair in &part.params {
        encoder.append_pair(&pair.name, &pair.value);
    }
    let encoded = encoder.finish();
    let as_form = method == Method::POST;
    let uri = if as_form || encoded.is_empty() { part.path.clone() } else { format!("{}?{encoded}", part.path) };
    let mut builder = Request::builder().method(method).uri(uri);
    for pair in &part.headers {
        let name = HeaderName::from_bytes(pair.name.as_bytes()).map_err(|_| format!("invalid header name \"{}\"", pair.name))?;
        let value = HeaderValue::from_str(&pair.value).map_err(|_| format!("invalid value of header {}", pair.name))?;
        builder = builder.header(name, value);
    }
    let body = if as_form {
        builder = builder.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        Body::from(encoded)
    } else {
        Body::empty()
    };
    builder.body(body).map_err(|e| format!("invalid request: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Pair;
    use axum::extract::RawQuery;
    use axum::routing::{get, post};

    fn pair(name: &str, value: &str) -> Pair {
        Pair { name: name.to_string(), value: value.to_string() }
    }

    #[tokio::test]
    async fn parts_become_http_requests() {
        let router = Router::new()
            .route(
                "/echo",
                get(|RawQuery(query): RawQuery, headers: axum::http::HeaderMap| async move {
                    let tags = headers.get("x-query-tags").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
                    format!("{}|{tags}", query.unwrap_or_default())
                }),
            )
            .route("/form", post(|body: String| async move { (axum::http::StatusCode::ACCEPTED, body) }));
        let part = QueryPart {
            tenant: "t".into(),
            method: "GET".into(),
            path: "/echo".into(),
            params: vec![pair("query", "{a=\"b c\"}"), pair("limit", "5")],
            headers: vec![pair("X-Query-Tags", "source=test")],
        };
        let result = run_part(router.clone(), part.clone()).await;
        assert_eq!(result.status, 200);
        assert_eq!(String::from_utf8_lossy(&result.body), "query=%7Ba%3D%22b+c%22%7D&limit=5|source=test");
        let form = QueryPart { method: "POST".into(), path: "/form".into(), ..part.clone() };
        let result = run_part(router.clone(), form).await;
        assert_eq!(result.status, 202);
        assert_eq!(String::from_utf8_lossy(&result.body), "query=%7Ba%3D%22b+c%22%7D&limit=5");
        let bad = QueryPart { headers: vec![pair("bad header", "x")], ..part };
        let result = run_part(router, bad).await;
        assert_eq!(result.status, 400);
        assert!(String::from_utf8_lossy(&result.body).contains("bad header"));
    }
}
