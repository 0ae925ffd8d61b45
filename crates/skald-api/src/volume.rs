//! `/index/volume` and `/index/volume_range`: bytes of log lines per stream (or per
//! label) for a selector, in Prometheus' vector/matrix shape as Loki answers
//! (`pkg/loghttp/params.go` ParseVolume*Query, `pkg/querier/queryrange/volume.go`).

use crate::encode::{labels_object, seconds, stats_json};
use crate::params::{Params, tenant};
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};
use skald_querier::{AggregateBy, DEFAULT_VOLUME_LIMIT, QueryStats, VolumeRequest};
use std::sync::Arc;

/// Loki's default range of a request without `start` (1h).
const DEFAULT_SPAN: i64 = 3600 * 1_000_000_000;
/// Loki's most points per series of a range request.
const MAX_POINTS: i64 = 11_000;

/// `step` with Loki's default and its 11,000-points limit (range volumes, patterns,
/// detected fields).
pub(crate) fn checked_step(params: &Params, start: i64, end: i64) -> Result<i64, ApiError> {
    let step = params.step(start, end)?;
    if (end - start) / step > MAX_POINTS {
        return Err(ApiError::bad_request(
            "exceeded maximum resolution of 11,000 points per timeseries. Try increasing the value of the step parameter",
        ));
    }
    Ok(step)
}

/// A `limit` that must be positive, with a default when absent (or, when
/// `zero_is_default`, `0` as Loki's volume limit).
pub(crate) fn positive(params: &Params, name: &str, default: usize, zero_is_default: bool) -> Result<usize, ApiError> {
    let Some(raw) = params.get(name) else { return Ok(default) };
    let value: i64 = raw.parse().map_err(|_| ApiError::bad_request(format!("invalid {name}: cannot parse \"{raw}\" as an integer")))?;
    match value {
        0 if zero_is_default => Ok(default),
        v if v <= 0 => Err(ApiError::bad_request(format!("invalid {name}: {name} must be a positive value"))),
        v => Ok(v as usize),
    }
}

pub async fn volume(State(state): State<Arc<AppState>>, params: Params) -> Result<Json<Value>, ApiError> {
    answer(&state, &params, false).await
}

pub async fn volume_range(State(state): State<Arc<AppState>>, params: Params) -> Result<Json<Value>, ApiError> {
    answer(&state, &params, true).await
}

async fn answer(state: &AppState, params: &Params, range: bool) -> Result<Json<Value>, ApiError> {
    let tenant = tenant(state, &params.headers)?;
    let limit = positive(params, "limit", DEFAULT_VOLUME_LIMIT, true)?;
    let query = params.query()?.to_string();
    let (start, end) = params.range(DEFAULT_SPAN)?;
    let step = if range { Some(checked_step(params, start, end)?) } else { None };
    let aggregate_by = match params.get("aggregateBy") {
        None => AggregateBy::Series,
        Some(v) => AggregateBy::parse(v)
            .ok_or_else(|| ApiError::bad_request(format!("invalid aggregateBy: invalid aggregation option \"{v}\" (series or labels)")))?,
    };
    let target_labels: Vec<String> = params
        .get("targetLabels")
        .map(|v| v.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_string).collect())
        .unwrap_or_default();
    let request = VolumeRequest { query, start, end, step, limit, target_labels, aggregate_by };
    let result = state.querier()?.volume(&tenant, request).await?;
    let list: Vec<Value> = result
        .series
        .iter()
        .map(|s| {
            if result.matrix {
                let values: Vec<Value> = s.points.iter().map(|(t, v)| json!([seconds(*t), v.to_string()])).collect();
                json!({"metric": labels_object(&s.labels), "values": values})
            } else {
                let (t, v) = s.points[0];
                json!({"metric": labels_object(&s.labels), "value": [seconds(t), v.to_string()]})
            }
        })
        .collect();
    let mut data = Map::new();
    data.insert("resultType".into(), json!(if result.matrix { "matrix" } else { "vector" }));
    data.insert("result".into(), Value::Array(list));
    data.insert("stats".into(), stats_json(&QueryStats::default()));
    Ok(Json(json!({"status": "success", "data": Value::Object(data)})))
}
