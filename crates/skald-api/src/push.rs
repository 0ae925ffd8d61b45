//! `POST /loki/api/v1/push` and `POST /api/prom/push`.

use crate::params::tenant;
use crate::{ApiError, AppState};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use skald_push::{Api, DecodeLimits, decode_push};
use std::sync::Arc;

/// Loki's `validation.MissingStreamsErrorMsg`.
const NO_STREAMS: &str = "error at least one valid stream is required for ingestion";

pub async fn push_v1(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Result<StatusCode, ApiError> {
    push(state, headers, body, Api::V1).await
}

pub async fn push_legacy(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Result<StatusCode, ApiError> {
    push(state, headers, body, Api::Legacy).await
}

async fn push(state: Arc<AppState>, headers: HeaderMap, body: Bytes, api: Api) -> Result<StatusCode, ApiError> {
    let tenant = tenant(&state, &headers)?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let encoding = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).map(str::to_string);
    let limits = DecodeLimits::default();
    // Decoding is CPU work on up to 100 MiB: keep it off the async workers.
    let streams = tokio::task::spawn_blocking(move || decode_push(api, content_type.as_deref(), encoding.as_deref(), &body, &limits))
        .await
        .map_err(|e| ApiError::new(500, format!("push decoding failed: {e}")))??;
    if streams.is_empty() {
        // Loki (3.x) refuses a push without streams before any validation.
        return Err(ApiError::new(422, NO_STREAMS));
    }
    state.distributor()?.push(&tenant, streams).await?;
    Ok(StatusCode::NO_CONTENT)
}
