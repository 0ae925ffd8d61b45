//! `loki_push_api` targets and the agent's own HTTP endpoint (`/ready`, `/metrics`).
//!
//! A push target accepts what a Loki accepts on `/loki/api/v1/push` and
//! `/api/prom/push` (JSON, protobuf+snappy, gzip; decoded by `skald_push::decode_push`),
//! adds the configured labels, relabels, and relays the entries through the scrape
//! config's pipeline to the clients, so one agent can forward for others. The tenant
//! of the incoming request (`X-Scope-OrgID`) is kept. 204 is answered once the entries
//! are queued for the clients (as Promtail does); a full queue delays the answer.

use crate::metrics::{self, Metrics};
use crate::relabel::{self, Labels, Rule};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use skald_agent_stages::LogEntry;
use skald_push::{Api, DecodeLimits, RawStream};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::mpsc;

/// Largest push body accepted (compressed or not).
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

pub struct PushTarget {
    pub labels: BTreeMap<String, String>,
    pub use_incoming_timestamp: bool,
    pub relabel: Vec<Rule>,
    pub metrics: Arc<Metrics>,
    pub entries: mpsc::Sender<Vec<LogEntry>>,
}

pub fn push_router(target: PushTarget) -> Router {
    let target = Arc::new(target);
    Router::new()
        .route("/loki/api/v1/push", post(push_v1))
        .route("/api/prom/push", post(push_legacy))
        .route("/ready", get(|| async { "ready\n" }))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(target)
}

async fn push_v1(State(target): State<Arc<PushTarget>>, headers: HeaderMap, body: Bytes) -> Response {
    handle_push(&target, Api::V1, &headers, &body).await
}

async fn push_legacy(State(target): State<Arc<PushTarget>>, headers: HeaderMap, body: Bytes) -> Response {
    handle_push(&target, Api::Legacy, &headers, &body).await
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn handle_push(target: &PushTarget, api: Api, headers: &HeaderMap, body: &[u8]) -> Response {
    let decoded =
        skald_push::decode_push(api, header(headers, "content-type"), header(headers, "content-encoding"), body, &DecodeLimits::default());
    let streams = match decoded {
        Ok(streams) => streams,
        Err(e) => {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
            return (status, format!("{e}\n")).into_response();
        }
    };
    let tenant = header(headers, "x-scope-orgid").map(str::to_string).filter(|t| !t.is_empty());
    let out = match relay_streams(streams, &target.labels, &target.relabel, target.use_incoming_timestamp, tenant) {
        Ok(out) => out,
        Err(message) => return (StatusCode::BAD_REQUEST, format!("{message}\n")).into_response(),
    };
    target.metrics.add(metrics::PUSH_ENTRIES, &[], out.len() as u64);
    if !out.is_empty() && target.entries.send(out).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "agent is stopping\n").into_response();
    }
    StatusCode::NO_CONTENT.into_response()
}

/// Received streams as entries for the pipeline: the target's labels added, relabel
/// rules applied (a stream they drop is left out), the tenant kept. Without
/// `use_incoming_timestamp` entries are stamped with the time received (in order).
pub(crate) fn relay_streams(
    streams: Vec<RawStream>,
    target_labels: &BTreeMap<String, String>,
    rules: &[Rule],
    use_incoming_timestamp: bool,
    tenant: Option<String>,
) -> Result<Vec<LogEntry>, String> {
    let now_ns = skald_common::unix_nanos_now();
    let mut out = Vec::new();
    for (index, raw) in streams.into_iter().enumerate() {
        let stream = raw.into_push_stream().map_err(|e| format!("streams[{index}]: {e}"))?;
        let mut labels: Labels = stream.labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect();
        for (k, v) in target_labels {
            labels.insert(k.clone(), v.clone());
        }
        let Some(mut labels) = relabel::process(labels, rules) else { continue };
        relabel::drop_internal(&mut labels);
        for entry in stream.entries {
            let timestamp_ns = if use_incoming_timestamp { entry.ts } else { now_ns + out.len() as i64 };
            out.push(LogEntry {
                labels: labels.clone(),
                line: entry.line,
                timestamp_ns,
                structured_metadata: entry.metadata.into_iter().map(|l| (l.name, l.value)).collect(),
                tenant: tenant.clone(),
            });
        }
    }
    Ok(out)
}

/// The agent's own endpoint.
pub fn admin_router(metrics: Arc<Metrics>, ready: Arc<AtomicBool>) -> Router {
    Router::new()
        .route(
            "/ready",
            get(move || {
                let ready = ready.clone();
                async move {
                    if ready.load(Ordering::Relaxed) {
                        (StatusCode::OK, "ready\n")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move { ([("content-type", "text/plain; version=0.0.4")], metrics.render()) }
            }),
        )
}
