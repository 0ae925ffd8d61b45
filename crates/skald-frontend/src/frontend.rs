//! The query frontend: Loki's read endpoints over the scheduler.
//!
//! `query_range` is split ([`request::plan_range`]), its parts run through the scheduler
//! at most `max_query_parallelism` at a time and in merge order (newest first for a
//! backward log query, which stops as soon as `limit` entries are in), and their
//! answers are merged ([`crate::merge`]). The first part that fails decides the answer
//! (its status and message, as Loki). Every other read endpoint is sent whole, as one
//! part, and its answer returned as it is.

mod request;

use crate::cache::ResultsCache;
use crate::config::FrontendConfig;
use crate::config::TenantLimits;
use crate::error::FrontendError;
use crate::merge::{MergeKind, merge_responses};
use crate::proto::{PartResult, QueryPart};
use crate::scheduler::MAX_MESSAGE_BYTES;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use futures::StreamExt;
use request::{Incoming, Plan, PlannedPart, plan_range};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tonic::transport::{Channel, ClientTlsConfig};

/// The scheduler's gRPC client as the frontend uses it.
pub type SchedulerClient = crate::proto::scheduler_client::SchedulerClient<Channel>;

/// Most bytes of a form body on a query endpoint.
const MAX_FORM_BODY: usize = 8 << 20;

/// Read endpoints sent to a querier whole.
const FORWARDED_PATHS: [&str; 14] = [
    "/loki/api/v1/query",
    "/loki/api/v1/labels",
    "/loki/api/v1/label",
    "/loki/api/v1/label/{name}/values",
    "/loki/api/v1/series",
    "/loki/api/v1/index/stats",
    "/loki/api/v1/index/volume",
    "/loki/api/v1/index/volume_range",
    "/loki/api/v1/detected_labels",
    "/loki/api/v1/detected_fields",
    "/loki/api/v1/detected_field/{name}/values",
    "/loki/api/v1/patterns",
    "/loki/api/v1/format_query",
    "/loki/api/v1/drilldown-limits",
];

/// A client for the scheduler at `address` (`host:port` or a URL), over TLS when `tls`
/// is given (`frontend.grpc_client_config`). The connection is made on first use, so a
/// frontend may start before its scheduler; calls fail with 503 while it is unreachable.
pub fn connect_scheduler(address: &str, tls: Option<&ClientTlsConfig>) -> Result<SchedulerClient, FrontendError> {
    let endpoint = crate::connect::scheduler_endpoint(address, tls).map_err(FrontendError::SchedulerUnavailable)?;
    Ok(SchedulerClient::new(endpoint.connect_lazy())
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES))
}

struct FrontendState {
    client: SchedulerClient,
    config: FrontendConfig,
    cache: Option<ResultsCache>,
    split_queries: AtomicU64,
    sharded_queries: AtomicU64,
    parts: AtomicU64,
}

/// The frontend's routes: Loki's read API, answered through the scheduler.
pub fn frontend_router(client: SchedulerClient, config: FrontendConfig) -> Router {
    frontend_router_with_handle(client, config).0
}

/// [`frontend_router`], plus a handle for the frontend's metrics.
pub fn frontend_router_with_handle(client: SchedulerClient, config: FrontendConfig) -> (Router, FrontendHandle) {
    let cache = config.results_cache.map(ResultsCache::new);
    let state = Arc::new(FrontendState {
        client,
        config,
        cache,
        split_queries: AtomicU64::new(0),
        sharded_queries: AtomicU64::new(0),
        parts: AtomicU64::new(0),
    });
    let mut router = Router::new().route("/loki/api/v1/query_range", get(query_range).post(query_range));
    for path in FORWARDED_PATHS {
        router = router.route(path, get(forward).post(forward));
    }
    (router.with_state(state.clone()), FrontendHandle { state })
}

/// Counters of a frontend, for `/metrics`.
#[derive(Clone)]
pub struct FrontendHandle {
    state: Arc<FrontendState>,
}

impl FrontendHandle {
    /// (hits, misses) of the results cache; zeros without one.
    pub fn cache_counts(&self) -> (u64, u64) {
        self.state.cache.as_ref().map_or((0, 0), ResultsCache::counts)
    }

    /// The frontend's metrics in Prometheus' text format.
    pub fn render_metrics(&self) -> String {
        let (hits, misses) = self.cache_counts();
        let counters = [
            ("skald_frontend_split_queries_total", "Range queries split into parts.", self.state.split_queries.load(Ordering::Relaxed)),
            (
                "skald_frontend_sharded_queries_total",
                "Metric queries sharded by streams.",
                self.state.sharded_queries.load(Ordering::Relaxed),
            ),
            (
                "skald_frontend_query_parts_total",
                "Parts sent to the scheduler or served from the results cache.",
                self.state.parts.load(Ordering::Relaxed),
            ),
            ("skald_frontend_results_cache_hits_total", "Split parts answered from the results cache.", hits),
            ("skald_frontend_results_cache_misses_total", "Cacheable split parts not found in the results cache.", misses),
        ];
        let mut out = String::new();
        for (name, help, value) in counters {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"));
        }
        out
    }
}

async fn query_range(State(state): State<Arc<FrontendState>>, request: Request) -> Response {
    let incoming = match read_incoming(request).await {
        Ok(incoming) => incoming,
        Err(response) => return response,
    };
    let limits = (state.config.limits)(&incoming.tenant);
    let work = async {
        if let Some(plan) = sharded_plan(&state, &incoming, &limits).await {
            return run_plan(&state, &incoming, plan, limits.split.max_query_parallelism).await;
        }
        match plan_range(&incoming, &limits, 2) {
            Some(plan) => run_plan(&state, &incoming, plan, limits.split.max_query_parallelism).await,
            None => run_part(&state, incoming.whole()).await,
        }
    };
    respond(with_timeout(&state, work).await)
}

/// The plan of a metric query sharded by streams (`shard.rs`), when it shards exactly
/// and the index says it reads more than one shard's bytes; `None` otherwise (the
/// statistics failing too: the query then runs unsharded, and fails there if it must).
async fn sharded_plan(state: &FrontendState, incoming: &Incoming, limits: &TenantLimits) -> Option<Plan> {
    if !state.config.shard_queries || limits.max_bytes_per_shard == 0 {
        return None;
    }
    let shardable = crate::shard::shardable(incoming.get("query")?)?;
    let plan = plan_range(incoming, limits, 1)?;
    let stats = run_part(state, incoming.stats_part(&shardable.selector)).await.ok().filter(|r| r.status == 200)?;
    let bytes = serde_json::from_slice::<Value>(&stats.body).ok()?["bytes"].as_u64()?;
    let shards = crate::shard::shard_count(bytes, limits.max_bytes_per_shard, limits.max_shards);
    if shards < 2 {
        return None;
    }
    state.sharded_queries.fetch_add(1, Ordering::Relaxed);
    Some(plan.sharded(shards, shardable.combine))
}

async fn forward(State(state): State<Arc<FrontendState>>, request: Request) -> Response {
    let incoming = match read_incoming(request).await {
        Ok(incoming) => incoming,
        Err(response) => return response,
    };
    respond(with_timeout(&state, run_part(&state, incoming.whole())).await)
}

async fn with_timeout(
    state: &FrontendState,
    work: impl Future<Output = Result<PartResult, FrontendError>>,
) -> Result<PartResult, FrontendError> {
    let timeout = state.config.query_timeout;
    tokio::time::timeout(timeout, work).await.unwrap_or(Err(FrontendError::Timeout(timeout)))
}

/// Query string and form body, path, headers and tenant of a request.
async fn read_incoming(request: Request) -> Result<Incoming, Response> {
    let (parts, body) = request.into_parts();
    let mut params: Vec<(String, String)> =
        parts.uri.query().map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        let bytes = axum::body::to_bytes(body, MAX_FORM_BODY)
            .await
            .map_err(|e| text_response(StatusCode::BAD_REQUEST, &format!("reading form body: {e}")))?;
        params.extend(url::form_urlencoded::parse(&bytes).into_owned());
    }
    Ok(Incoming::new(parts.method, parts.uri.path().to_string(), params, &parts.headers))
}

/// Runs one part through the scheduler.
async fn run_part(state: &FrontendState, part: QueryPart) -> Result<PartResult, FrontendError> {
    state.parts.fetch_add(1, Ordering::Relaxed);
    let mut client = state.client.clone();
    match client.enqueue(part).await {
        Ok(response) => Ok(response.into_inner()),
        Err(status) => Err(FrontendError::from_status(&status)),
    }
}

/// A part through the results cache when it may be cached.
async fn run_cached(state: &FrontendState, incoming: &Incoming, planned: PlannedPart, now: i64) -> Result<PartResult, FrontendError> {
    let Some(cache) = state.cache.as_ref().filter(|_| ResultsCache::cacheable(planned.end, now)) else {
        return run_part(state, planned.part).await;
    };
    let key = incoming.cache_key(&planned.part);
    if let Some(body) = cache.get(&key) {
        state.parts.fetch_add(1, Ordering::Relaxed);
        return Ok(PartResult { status: 200, content_type: JSON.to_string(), body: body.to_vec() });
    }
    let result = run_part(state, planned.part).await?;
    if result.status == 200 {
        cache.put(key, Bytes::from(result.body.clone()));
    }
    Ok(result)
}

const JSON: &str = "application/json";

/// Runs a split query's parts and merges their answers.
async fn run_plan(state: &FrontendState, incoming: &Incoming, plan: Plan, parallelism: usize) -> Result<PartResult, FrontendError> {
    let now = skald_common::unix_nanos_now();
    let limit = match plan.merge {
        MergeKind::Logs { limit, .. } => Some(limit),
        MergeKind::Metric | MergeKind::Shards { .. } => None,
    };
    let part_count = plan.parts.len();
    state.split_queries.fetch_add(1, Ordering::Relaxed);
    let runs = plan.parts.into_iter().map(|planned| run_cached(state, incoming, planned, now));
    // `buffered` keeps merge order while running up to `parallelism` parts at once;
    // dropping it early cancels (and withdraws) the parts still queued or running.
    let mut results = futures::stream::iter(runs).buffered(parallelism.max(1));
    let mut answers = Vec::with_capacity(part_count);
    let mut entries = 0usize;
    while let Some(result) = results.next().await {
        let result = result?;
        if result.status != 200 {
            return Ok(result);
        }
        let answer: Value = serde_json::from_slice(&result.body)
            .map_err(|e| FrontendError::BadPartAnswer { path: incoming.path.clone(), reason: e.to_string() })?;
        entries += count_entries(&answer);
        answers.push(answer);
        if limit.is_some_and(|limit| entries >= limit) {
            break;
        }
    }
    drop(results);
    tracing::debug!(path = %incoming.path, parts = part_count, ran = answers.len(), "merging a split query");
    let merged =
        merge_responses(answers, plan.merge).map_err(|e| FrontendError::BadPartAnswer { path: incoming.path.clone(), reason: e.0 })?;
    let body =
        serde_json::to_vec(&merged).map_err(|e| FrontendError::BadPartAnswer { path: incoming.path.clone(), reason: e.to_string() })?;
    Ok(PartResult { status: 200, content_type: JSON.to_string(), body })
}

/// Log entries in a `streams` answer (0 for other answers).
fn count_entries(answer: &Value) -> usize {
    let Some(streams) = answer["data"]["result"].as_array() else { return 0 };
    streams.iter().map(|s| s["values"].as_array().map_or(0, Vec::len)).sum()
}

fn respond(result: Result<PartResult, FrontendError>) -> Response {
    let result = result.unwrap_or_else(|e| e.to_part_result());
    let status = u16::try_from(result.status).ok().and_then(|s| StatusCode::from_u16(s).ok()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = Response::new(Body::from(result.body));
    *response.status_mut() = status;
    if let Ok(value) = header::HeaderValue::from_str(&result.content_type)
        && !result.content_type.is_empty()
    {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

fn text_response(status: StatusCode, message: &str) -> Response {
    (status, [(header::CONTENT_TYPE, crate::error::TEXT_PLAIN)], format!("{message}\n")).into_response()
}
