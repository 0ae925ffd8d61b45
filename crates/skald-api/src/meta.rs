//! Metadata endpoints: labels, label values, series, index stats, build info, readiness
//! and flush.

use crate::encode::labels_object;
use crate::params::{Params, tenants};
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;

/// Loki's code default for metadata queries without `start` (the docs say 6h).
const DEFAULT_META_SPAN: i64 = 3600 * 1_000_000_000;

pub async fn labels(State(state): State<Arc<AppState>>, params: Params) -> Result<Json<Value>, ApiError> {
    let tenants = tenants(&state, &params.headers)?;
    let (start, end) = params.range(DEFAULT_META_SPAN)?;
    let names = state.querier()?.label_names_tenants(&tenants, start, end, params.get("query")).await?;
    Ok(Json(json!({"status": "success", "data": names})))
}

pub async fn label_values(State(state): State<Arc<AppState>>, Path(name): Path<String>, params: Params) -> Result<Json<Value>, ApiError> {
    let tenants = tenants(&state, &params.headers)?;
    let (start, end) = params.range(DEFAULT_META_SPAN)?;
    let values = state.querier()?.label_values_tenants(&tenants, &name, start, end, params.get("query")).await?;
    Ok(Json(json!({"status": "success", "data": values})))
}

pub async fn series(State(state): State<Arc<AppState>>, params: Params) -> Result<Json<Value>, ApiError> {
    let tenants = tenants(&state, &params.headers)?;
    let (start, end) = params.range(DEFAULT_META_SPAN)?;
    let mut selectors = params.all("match[]");
    selectors.extend(params.all("match"));
    if selectors.is_empty() {
        return Err(ApiError::bad_request("at least one match[] argument is required"));
    }
    let series = state.querier()?.series_tenants(&tenants, &selectors, start, end).await?;
    let data: Vec<Value> = series.iter().map(labels_object).collect();
    Ok(Json(json!({"status": "success", "data": data})))
}

pub async fn index_stats(State(state): State<Arc<AppState>>, params: Params) -> Result<Json<Value>, ApiError> {
    let tenants = tenants(&state, &params.headers)?;
    let (start, end) = params.range(DEFAULT_META_SPAN)?;
    let query = params.query()?;
    let stats = state.querier()?.index_stats_tenants(&tenants, query, start, end).await?;
    Ok(Json(json!({"streams": stats.streams, "chunks": stats.chunks, "bytes": stats.bytes, "entries": stats.entries})))
}

pub async fn buildinfo(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({
        "version": crate::LOKI_API_VERSION,
        "revision": format!("skald-{}", state.version),
        "branch": "main",
        "buildUser": "skald",
        "buildDate": "",
        "goVersion": "",
    }))
}

pub async fn ready(State(state): State<Arc<AppState>>) -> (StatusCode, String) {
    if let Some(ingester) = &state.ingester
        && !ingester.is_ready()
    {
        return (StatusCode::SERVICE_UNAVAILABLE, "Ingester not ready: replaying the write-ahead log\n".to_string());
    }
    for check in &state.readiness {
        if let Err(message) = check() {
            return (StatusCode::SERVICE_UNAVAILABLE, format!("{message}\n"));
        }
    }
    (StatusCode::OK, "ready\n".to_string())
}

pub async fn flush(State(state): State<Arc<AppState>>) -> Result<StatusCode, ApiError> {
    let ingester = state.ingester.as_ref().ok_or_else(|| ApiError::new(404, "this node runs no ingester"))?;
    ingester.flush(true).await.map_err(|e| ApiError::new(e.status(), format!("flush failed: {e}")))?;
    Ok(StatusCode::NO_CONTENT)
}
