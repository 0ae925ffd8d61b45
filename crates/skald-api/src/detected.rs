//! Logs Drilldown's metadata endpoints: `detected_labels`, `detected_fields`,
//! `detected_field/{name}/values` (`pkg/loghttp/params.go` ParseDetectedFieldsQuery,
//! `pkg/querier/queryrange/detected_fields.go`) and `drilldown-limits`
//! (`pkg/loki/drilldown_config.go`).

use crate::params::{Params, tenant};
use crate::volume::{checked_step, positive};
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use skald_common::format_duration;
use skald_querier::{DEFAULT_FIELD_LIMIT, DEFAULT_LINE_LIMIT, DetectedFieldsRequest};
use std::sync::Arc;

/// Loki's default range of a request without `start` (1h).
const DEFAULT_SPAN: i64 = 3600 * 1_000_000_000;

pub async fn detected_labels(State(state): State<Arc<AppState>>, params: Params) -> Result<Json<Value>, ApiError> {
    let tenant = tenant(&state, &params.headers)?;
    let (start, end) = params.range(DEFAULT_SPAN)?;
    let labels = state.querier()?.detected_labels(&tenant, params.get("query"), start, end).await?;
    let list: Vec<Value> = labels.iter().map(|l| json!({"label": l.label, "cardinality": l.cardinality})).collect();
    Ok(Json(json!({"detectedLabels": list})))
}

fn fields_request(params: &Params) -> Result<DetectedFieldsRequest, ApiError> {
    let query = params.query()?.to_string();
    let (start, end) = params.range(DEFAULT_SPAN)?;
    checked_step(params, start, end)?;
    let line_limit = positive(params, "line_limit", DEFAULT_LINE_LIMIT, false)?;
    let limit = if params.get("limit").is_some() {
        positive(params, "limit", DEFAULT_FIELD_LIMIT, false)?
    } else {
        positive(params, "field_limit", DEFAULT_FIELD_LIMIT, false)?
    };
    Ok(DetectedFieldsRequest { query, start, end, line_limit, limit })
}

pub async fn detected_fields(State(state): State<Arc<AppState>>, params: Params) -> Result<Json<Value>, ApiError> {
    let tenant = tenant(&state, &params.headers)?;
    let request = fields_request(&params)?;
    let fields = state.querier()?.detected_fields(&tenant, &request).await?;
    let list: Vec<Value> = fields
        .iter()
        .map(|f| {
            json!({
                "label": f.label,
                "type": f.field_type,
                "cardinality": f.cardinality,
                "parsers": f.parsers,
                "jsonPath": f.json_path,
            })
        })
        .collect();
    Ok(Json(json!({"fields": list, "limit": request.limit})))
}

pub async fn detected_field_values(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let tenant = tenant(&state, &params.headers)?;
    let request = fields_request(&params)?;
    let values = state.querier()?.detected_field_values(&tenant, &name, &request).await?;
    Ok(Json(json!({"values": values, "limit": request.limit})))
}

/// The tenant's limits that Logs Drilldown reads, in Loki's units and names.
pub async fn drilldown_limits(State(state): State<Arc<AppState>>, params: Params) -> Result<Json<Value>, ApiError> {
    let tenant = tenant(&state, &params.headers)?;
    let limits = state.querier()?.limits(&tenant);
    Ok(Json(json!({
        "limits": {
            "discover_log_levels": limits.discover_log_levels,
            "discover_service_name": limits.discover_service_name,
            "log_level_fields": ["level", "LEVEL", "Level", "severity", "SEVERITY", "Severity", "lvl", "LVL", "Lvl"],
            "max_entries_limit_per_query": limits.max_entries_limit_per_query,
            "max_line_size_truncate": limits.max_line_size_truncate,
            "max_query_bytes_read": "0B",
            "max_query_length": format_duration(limits.max_query_length),
            "max_query_lookback": "0s",
            "max_query_range": "0s",
            "max_query_series": limits.max_query_series,
            "metric_aggregation_enabled": false,
            "pattern_persistence_enabled": false,
            "query_timeout": format_duration(limits.query_timeout),
            "retention_period": "0s",
            "volume_enabled": true,
            "volume_max_series": 1000,
        },
        "pattern_ingester_enabled": true,
        "version": crate::LOKI_API_VERSION,
    })))
}
