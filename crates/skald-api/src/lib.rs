//! Loki's HTTP API: push, query, metadata, tail, readiness and metrics, in front of the
//! distributor, querier and ingester.
//!
//! Every error becomes a plain-text body with Loki's status code in one place
//! ([`error::ApiError`]); every success uses Loki's JSON envelope ([`encode`]).

mod detected;
mod encode;
mod error;
mod meta;
mod metrics;
mod params;
mod patterns;
mod push;
mod query;
mod tail;
mod volume;

pub use error::ApiError;

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

/// What the handlers share.
pub struct AppState {
    pub distributor: Arc<Distributor>,
    pub querier: Arc<Querier>,
    pub ingester: Arc<Ingester>,
    pub auth_enabled: bool,
    pub started: Instant,
    pub version: &'static str,
    pub http_metrics: metrics::HttpMetrics,
}

impl AppState {
    pub fn new(distributor: Arc<Distributor>, querier: Arc<Querier>, ingester: Arc<Ingester>, auth_enabled: bool) -> Self {
        AppState {
            distributor,
            querier,
            ingester,
            auth_enabled,
            started: Instant::now(),
            version: env!("CARGO_PKG_VERSION"),
            http_metrics: metrics::HttpMetrics::default(),
        }
    }
}

/// The HTTP routes of a single-binary (`-target=all`) node.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/loki/api/v1/push", post(push::push_v1))
        .route("/api/prom/push", post(push::push_legacy))
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
        .route("/loki/api/v1/status/buildinfo", get(meta::buildinfo))
        .route("/loki/api/v1/tail", get(tail::tail))
        .route("/ready", get(meta::ready))
        .route("/metrics", get(metrics::metrics))
        .route("/flush", post(meta::flush))
        .route("/ingester/flush", post(meta::flush))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(DefaultBodyLimit::max(MAX_PUSH_BODY))
        .with_state(state)
}
