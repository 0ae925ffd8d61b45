//! `query`, `query_range` and `format_query`.

use crate::encode::query_data;
use crate::params::{Params, tenants};
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use skald_logql::engine::Direction;
use skald_querier::QueryRequest;
use std::sync::Arc;

/// Loki refuses range queries of more than this many steps.
const MAX_POINTS: i64 = 11_000;

pub async fn range(State(state): State<Arc<AppState>>, params: Params) -> Result<Json<Value>, ApiError> {
    let tenants = tenants(&state, &params.headers)?;
    let query = params.query()?.to_string();
    let (start, end) = params.range(3600 * 1_000_000_000)?;
    let step = params.step(start, end)?;
    if (end - start) / step > MAX_POINTS {
        return Err(ApiError::bad_request(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let categorize = params.categorize_labels();
    let request = QueryRequest {
        query,
        start,
        end,
        step,
        limit: params.limit(100)?,
        direction: params.direction()?,
        instant: false,
        categorize_labels: categorize,
    };
    let shard = shard(&params)?;
    let output = state.querier()?.query_shard(&tenants, request, shard).await?;
    Ok(Json(query_data(&output.result, &output.stats, &output.warnings, categorize)))
}

/// Loki's `shards=<index>_of_<count>`: one shard of the streams (a frontend's sharded
/// metric query).
fn shard(params: &Params) -> Result<Option<(u64, u64)>, ApiError> {
    let Some(text) = params.get("shards") else { return Ok(None) };
    let invalid = || ApiError::bad_request(format!("invalid shard {text:?}: expected <index>_of_<count>"));
    let (index, count) = text.split_once("_of_").ok_or_else(invalid)?;
    let (index, count): (u64, u64) = (index.parse().map_err(|_| invalid())?, count.parse().map_err(|_| invalid())?);
    if count == 0 || index >= count {
        return Err(invalid());
    }
    Ok(Some((index, count)))
}

pub async fn instant(State(state): State<Arc<AppState>>, params: Params) -> Result<Json<Value>, ApiError> {
    let tenants = tenants(&state, &params.headers)?;
    let query = params.query()?.to_string();
    let time = params.time("time", skald_common::unix_nanos_now())?;
    let categorize = params.categorize_labels();
    let request = QueryRequest {
        query,
        start: time,
        end: time,
        step: 0,
        limit: params.limit(100)?,
        direction: params.direction().unwrap_or(Direction::Backward),
        instant: true,
        categorize_labels: categorize,
    };
    let output = state.querier()?.query_tenants(&tenants, request).await?;
    Ok(Json(query_data(&output.result, &output.stats, &output.warnings, categorize)))
}

pub async fn format(params: Params) -> Result<Json<Value>, ApiError> {
    let query = params.query()?;
    let expr = skald_logql::parse_expr(query).map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(Json(json!({"status": "success", "data": skald_logql::prettify(&expr)})))
}
