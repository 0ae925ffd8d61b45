//! `POST /otlp/v1/logs`: OpenTelemetry logs over OTLP/HTTP, answered as Loki answers
//! them: 204 with an empty body when everything was taken; otherwise the status of the
//! push API (400 for a body that does not decode or nothing valid, 413 past the size
//! cap, 429 past a rate or stream limit, 503 where Loki answers 500, so exporters
//! retry) with a protobuf `google.rpc.Status` whose message says why. Where some records
//! were written and others refused, the answer is the OTLP specification's partial
//! success (200, an `ExportLogsServiceResponse` with `partial_success`, in the request's
//! encoding) where Loki answers 400: the exporter then knows what was kept.

use crate::params::tenant;
use crate::{ApiError, AppState};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use skald_distributor::OtlpOutcome;
use skald_push::DecodeLimits;
use skald_push::otlp::{decode_otlp, encode_status, partial_success_body};
use std::sync::Arc;

pub async fn push_otlp(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let json = headers.get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes() == b"application/json");
    match push(state, headers, body).await {
        Ok(outcome) if outcome.rejected == 0 => StatusCode::NO_CONTENT.into_response(),
        Ok(outcome) => partial_success(outcome.rejected, &outcome.message, json),
        // Auth errors keep the push API's plain-text shape, as Loki's middleware does.
        Err(error) if error.status == 401 || error.status == 403 => error.into_response(),
        Err(error) => status_response(error.status, &error.message),
    }
}

async fn push(state: Arc<AppState>, headers: HeaderMap, body: Bytes) -> Result<OtlpOutcome, ApiError> {
    let tenant = tenant(&state, &headers)?;
    let distributor = state.distributor()?.clone();
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let encoding = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).map(str::to_string);
    let limits = DecodeLimits::default();
    let request = tokio::task::spawn_blocking(move || decode_otlp(content_type.as_deref(), encoding.as_deref(), &body, &limits))
        .await
        .map_err(|e| ApiError::new(500, format!("push decoding failed: {e}")))??;
    Ok(distributor.push_otlp(&tenant, &request).await?)
}

/// 200 with `ExportLogsServiceResponse { partial_success }`, protobuf or OTLP/JSON.
fn partial_success(rejected: u64, message: &str, json: bool) -> Response {
    let content_type = if json { "application/json" } else { "application/x-protobuf" };
    (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], partial_success_body(rejected, message, json)).into_response()
}

/// Loki's OTLP error answer: the status (500 becomes 503) and a `google.rpc.Status`
/// with the message.
fn status_response(status: u16, message: &str) -> Response {
    let status = if status == 500 { 503 } else { status };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    (status, [(header::CONTENT_TYPE, "application/octet-stream")], encode_status(message)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use skald_push::otlp::status_message;

    #[test]
    fn status_bodies_round_trip() {
        for message in ["", "short", &"x".repeat(300)] {
            let response = status_response(400, message);
            assert_eq!(response.status(), 400);
            let body = futures::executor::block_on(axum::body::to_bytes(response.into_body(), 1 << 20)).unwrap();
            assert_eq!(status_message(&body).as_deref(), Some(message));
        }
        assert_eq!(status_response(500, "x").status(), 503);
    }
}
