//! `/patterns`: the log patterns of a query's streams with their counts per step
//! (`pkg/loghttp/patterns.go`, `pkg/util/marshal` WriteQueryPatternsResponseJSON).

use crate::params::{Params, tenant};
use crate::volume::checked_step;
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use skald_querier::PatternsRequest;
use std::sync::Arc;

/// Loki's default range of a request without `start` (1h).
const DEFAULT_SPAN: i64 = 3600 * 1_000_000_000;

pub async fn patterns(State(state): State<Arc<AppState>>, params: Params) -> Result<Json<Value>, ApiError> {
    let tenant = tenant(&state, &params.headers)?;
    let query = params.query()?.to_string();
    let (start, end) = params.range(DEFAULT_SPAN)?;
    let step = checked_step(&params, start, end)?;
    let series = state.querier()?.patterns(&tenant, PatternsRequest { query, start, end, step }).await?;
    let data: Vec<Value> = series
        .iter()
        .map(|p| {
            let samples: Vec<Value> = p.samples.iter().map(|(t, c)| json!([t, c])).collect();
            json!({"pattern": p.pattern, "level": p.level, "samples": samples})
        })
        .collect();
    Ok(Json(json!({"status": "success", "data": data})))
}
