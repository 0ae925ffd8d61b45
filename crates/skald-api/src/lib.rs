//! Loki's HTTP API: push, query, metadata, tail, readiness and metrics, in front of the
//! distributor, querier and ingester.
//!
//! Every error becomes a plain-text body with Loki's status code in one place
//! ([`error::ApiError`]); every success uses Loki's JSON envelope ([`encode`]).

pub mod auth;
mod detected;
mod encode;
mod error;
mod meta;
mod metrics;
pub mod otlp;
mod params;
mod patterns;
mod push;
mod query;
pub mod rule_querier;
pub mod rules;
pub mod serve;
mod stall;
mod tail;
pub mod tls;
mod volume;

pub use error::ApiError;

/// The Loki version Skald reports (`status/buildinfo`, `-version`); Grafana's Logs
/// Drilldown enables `jsonPath` handling from 3.5.
pub const LOKI_API_VERSION: &str = "3.5.0";
pub use tail::TailFeed;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use skald_distributor::Distributor;
use skald_ingester::Ingester;
use skald_querier::Querier;
use std::sync::Arc;
use std::time::Instant;

/// Most bytes a push body may have on the wire (Loki's 100 MB server limit).
pub const MAX_PUSH_BODY: usize = 100 << 20;

/// What the handlers share. A node runs some roles, so each component is optional:
/// the routes of a missing component are not mounted ([`router`]).
pub struct AppState {
    pub distributor: Option<Arc<Distributor>>,
    pub querier: Option<Arc<Querier>>,
    /// This process's ingester (`/flush`, readiness, its metrics).
    pub ingester: Option<Arc<Ingester>>,
    /// Where live tails get new entries: this process's ingester, or a cluster's.
    pub tail: Option<Arc<dyn TailFeed>>,
    /// The ruler (its API is mounted when set and `ruler.enable_api` is on).
    pub ruler: Option<Arc<skald_ruler::Ruler>>,
    /// On a cluster, the other rulers: the Prometheus rules and alerts endpoints list
    /// every ruler's groups (each ruler evaluates its share).
    pub ruler_peers: Option<Arc<dyn rules::RulerPeers>>,
    pub auth_enabled: bool,
    /// `querier.multi_tenant_queries_enabled`: queries may name several tenants.
    pub multi_tenant_queries: bool,
    pub started: Instant,
    pub version: &'static str,
    pub http_metrics: metrics::HttpMetrics,
    /// Extra readiness conditions (the ring joined, the scheduler reachable...): the
    /// first that returns `Err` makes `/ready` answer 503 with its message.
    pub readiness: Vec<Arc<dyn Fn() -> Result<(), String> + Send + Sync>>,
    /// Extra Prometheus text appended to `/metrics` (other crates' metrics).
    pub extra_metrics: Vec<Arc<dyn Fn() -> String + Send + Sync>>,
}

impl AppState {
    pub fn new(auth_enabled: bool) -> Self {
        AppState {
            distributor: None,
            querier: None,
            ingester: None,
            tail: None,
            ruler: None,
            ruler_peers: None,
            auth_enabled,
            multi_tenant_queries: false,
            started: Instant::now(),
            version: env!("CARGO_PKG_VERSION"),
            http_metrics: metrics::HttpMetrics::default(),
            readiness: Vec::new(),
            extra_metrics: Vec::new(),
        }
    }

    /// Every role in one process: the distributor, the querier and the local ingester
    /// (which also feeds live tails).
    pub fn single_binary(distributor: Arc<Distributor>, querier: Arc<Querier>, ingester: Arc<Ingester>, auth_enabled: bool) -> Self {
        let mut state = AppState::new(auth_enabled);
        state.distributor = Some(distributor);
        state.querier = Some(querier);
        state.tail = Some(ingester.clone());
        state.ingester = Some(ingester);
        state
    }

    pub(crate) fn querier(&self) -> Result<&Arc<Querier>, ApiError> {
        self.querier.as_ref().ok_or_else(|| ApiError::new(404, "this node runs no querier"))
    }

    pub(crate) fn distributor(&self) -> Result<&Arc<Distributor>, ApiError> {
        self.distributor.as_ref().ok_or_else(|| ApiError::new(404, "this node runs no distributor"))
    }
}

/// The HTTP routes of a node: the write routes when it runs a distributor, the read
/// routes when it runs a querier, `/flush` when it runs an ingester; `/ready`,
/// `/metrics` and buildinfo always.
pub fn router(state: Arc<AppState>) -> Router {
    let mut router = Router::new()
        .route("/loki/api/v1/status/buildinfo", get(meta::buildinfo))
        .route("/ready", get(meta::ready))
        .route("/metrics", get(metrics::metrics));
    if state.distributor.is_some() {
        router = router
            .route("/loki/api/v1/push", post(push::push_v1))
            .route("/api/prom/push", post(push::push_legacy))
            .route("/otlp/v1/logs", post(otlp::push_otlp));
    }
    if state.querier.is_some() {
        router = router.merge(read_routes());
    }
    if state.ingester.is_some() {
        router = router.route("/flush", post(meta::flush)).route("/ingester/flush", post(meta::flush));
    }
    if state.ruler.as_ref().is_some_and(|r| r.config().enable_api) {
        router = router.merge(rule_routes());
    }
    router
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(DefaultBodyLimit::max(MAX_PUSH_BODY))
        .with_state(state)
}

/// Loki's ruler API (`pkg/loki/modules.go` `initRuler`): the rule groups as YAML under
/// `/loki/api/v1/rules` and `/api/prom/rules`, their state in Prometheus' JSON.
pub fn rule_routes() -> Router<Arc<AppState>> {
    let mut router = Router::new()
        .route("/prometheus/api/v1/rules", get(rules::prometheus_rules))
        .route("/prometheus/api/v1/alerts", get(rules::prometheus_alerts));
    for base in ["/loki/api/v1/rules", "/api/prom/rules"] {
        router = router
            .route(base, get(rules::list_all))
            .route(&format!("{base}/{{namespace}}"), get(rules::list_namespace).post(rules::create_group).delete(rules::delete_namespace))
            .route(&format!("{base}/{{namespace}}/{{group}}"), get(rules::get_group).delete(rules::delete_group));
    }
    router
}

/// Loki's read endpoints (what a querier, or a query frontend in front of queriers,
/// answers).
pub fn read_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/loki/api/v1/query", get(query::instant).post(query::instant))
        .route("/loki/api/v1/query_range", get(query::range).post(query::range))
        .route("/loki/api/v1/format_query", get(query::format).post(query::format))
        .route("/loki/api/v1/labels", get(meta::labels).post(meta::labels))
        .route("/loki/api/v1/label", get(meta::labels).post(meta::labels))
        .route("/loki/api/v1/label/{name}/values", get(meta::label_values).post(meta::label_values))
        .route("/loki/api/v1/series", get(meta::series).post(meta::series))
        .route("/loki/api/v1/index/stats", get(meta::index_stats).post(meta::index_stats))
        .route("/loki/api/v1/index/volume", get(volume::volume).post(volume::volume))
        .route("/loki/api/v1/index/volume_range", get(volume::volume_range).post(volume::volume_range))
        .route("/loki/api/v1/detected_labels", get(detected::detected_labels).post(detected::detected_labels))
        .route("/loki/api/v1/detected_fields", get(detected::detected_fields).post(detected::detected_fields))
        .route("/loki/api/v1/detected_field/{name}/values", get(detected::detected_field_values))
        .route("/loki/api/v1/patterns", get(patterns::patterns).post(patterns::patterns))
        .route("/loki/api/v1/drilldown-limits", get(detected::drilldown_limits))
        .route("/loki/api/v1/tail", get(tail::tail))
}
