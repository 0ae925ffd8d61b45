//! Loki's log deletion API, per tenant (`X-Scope-OrgID`, or `fake` without auth):
//! - `POST /loki/api/v1/delete?query=..&start=..[&end=..][&max_interval=..]` -> 204
//! - `GET /loki/api/v1/delete` -> the tenant's requests with their status
//! - `DELETE /loki/api/v1/delete?request_id=..[&force=true]` -> 204, while received
//!
//! Errors are plain text with Loki's status codes (400 for bad parameters, 404 for an
//! unknown request id, 503 when the object store does not answer).

use crate::deletes::{self, DeleteRequest, DeleteStatus, parse_delete_query};
use crate::{CompactorConfig, CompactorError};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use object_store::ObjectStore;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

const NANOS: i64 = 1_000_000_000;

/// What the handlers share.
#[derive(Clone)]
pub struct DeleteApi {
    pub objects: Arc<dyn ObjectStore>,
    pub auth_enabled: bool,
    pub delete_max_interval: i64,
}

impl DeleteApi {
    pub fn new(objects: Arc<dyn ObjectStore>, config: &CompactorConfig, auth_enabled: bool) -> DeleteApi {
        DeleteApi { objects, auth_enabled, delete_max_interval: config.delete_max_interval }
    }
}

/// The delete API routes, ready to merge into the server's router.
pub fn router(api: DeleteApi) -> Router {
    Router::new().route("/loki/api/v1/delete", get(list).post(create).delete(cancel)).with_state(Arc::new(api))
}

impl IntoResponse for CompactorError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, format!("{self}\n")).into_response()
    }
}

fn tenant(api: &DeleteApi, headers: &HeaderMap) -> Result<String, CompactorError> {
    if !api.auth_enabled {
        return Ok("fake".to_string());
    }
    let Some(value) = headers.get("X-Scope-OrgID") else {
        return Err(CompactorError::Unauthorized("no org id".into()));
    };
    let tenant = value.to_str().map_err(|_| CompactorError::BadRequest("X-Scope-OrgID is not valid text".into()))?;
    if tenant.contains('|') {
        return Err(CompactorError::BadRequest("delete requests name exactly one tenant".into()));
    }
    skald_common::validate_tenant(tenant).map_err(|e| CompactorError::BadRequest(e.to_string()))?;
    Ok(tenant.to_string())
}

fn timestamp(params: &HashMap<String, String>, name: &str) -> Result<Option<i64>, CompactorError> {
    match params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(value) => skald_common::parse_timestamp(value)
            .map(Some)
            .map_err(|_| CompactorError::BadRequest(format!("invalid {name} parameter '{value}': use RFC3339 or Unix seconds"))),
    }
}

async fn create(State(api): State<Arc<DeleteApi>>, headers: HeaderMap, Query(params): Query<HashMap<String, String>>) -> Response {
    match create_request(&api, &headers, &params).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => error.into_response(),
    }
}

async fn create_request(api: &DeleteApi, headers: &HeaderMap, params: &HashMap<String, String>) -> Result<(), CompactorError> {
    let tenant = tenant(api, headers)?;
    let query = params.get("query").map(|q| q.trim()).unwrap_or("");
    if query.is_empty() {
        return Err(CompactorError::BadRequest("query parameter is required".into()));
    }
    parse_delete_query(query).map_err(|message| CompactorError::BadRequest(format!("invalid query: {message}")))?;
    let now = skald_common::unix_nanos_now();
    let start = timestamp(params, "start")?.ok_or_else(|| CompactorError::BadRequest("start parameter is required".into()))?;
    let end = timestamp(params, "end")?.unwrap_or(now);
    if end < start {
        return Err(CompactorError::BadRequest("end time must be after start time".into()));
    }
    if end > now {
        return Err(CompactorError::BadRequest("deletes in the future are not allowed".into()));
    }
    if let Some(value) = params.get("max_interval").filter(|v| !v.is_empty()) {
        let interval = skald_common::parse_duration(value)
            .map_err(|_| CompactorError::BadRequest(format!("invalid max_interval parameter '{value}'")))?;
        if interval <= 0 {
            return Err(CompactorError::BadRequest("max_interval must be positive".into()));
        }
        if api.delete_max_interval > 0 && interval > api.delete_max_interval {
            return Err(CompactorError::BadRequest("max_interval can't be greater than compactor.delete_max_interval".into()));
        }
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (&tenant, query, start, end, now).hash(&mut hasher);
    let request = DeleteRequest {
        request_id: format!("{:08x}", hasher.finish() as u32),
        tenant,
        query: query.to_string(),
        start,
        end,
        created_at: now,
        status: DeleteStatus::Received,
    };
    deletes::put_request(api.objects.as_ref(), &request).await?;
    tracing::info!(tenant = %request.tenant, request_id = %request.request_id, query = %request.query, "delete request received");
    Ok(())
}

/// Loki writes times as Unix seconds with millisecond decimals.
fn seconds(nanos: i64) -> Value {
    let millis = nanos.div_euclid(NANOS / 1000);
    if millis % 1000 == 0 {
        return json!(millis / 1000);
    }
    json!(millis as f64 / 1000.0)
}

async fn list(State(api): State<Arc<DeleteApi>>, headers: HeaderMap) -> Response {
    let result = async {
        let tenant = tenant(&api, &headers)?;
        deletes::list_requests(api.objects.as_ref(), Some(&tenant)).await
    }
    .await;
    match result {
        Ok(requests) => {
            let body: Vec<Value> = requests
                .iter()
                .map(|r| {
                    json!({
                        "request_id": r.request_id,
                        "start_time": seconds(r.start),
                        "end_time": seconds(r.end),
                        "query": r.query,
                        "status": r.status,
                        "created_at": seconds(r.created_at),
                    })
                })
                .collect();
            axum::Json(body).into_response()
        }
        Err(error) => error.into_response(),
    }
}

async fn cancel(State(api): State<Arc<DeleteApi>>, headers: HeaderMap, Query(params): Query<HashMap<String, String>>) -> Response {
    let result = async {
        let tenant = tenant(&api, &headers)?;
        let Some(id) = params.get("request_id").filter(|v| !v.is_empty()) else {
            return Err(CompactorError::BadRequest("request_id parameter is required".into()));
        };
        let requests = deletes::list_requests(api.objects.as_ref(), Some(&tenant)).await?;
        let Some(request) = requests.iter().find(|r| &r.request_id == id) else {
            return Err(CompactorError::NotFound("could not find delete request with given id".into()));
        };
        // `force` cancels a partly processed request in Loki; a Skald request is
        // processed in one pass, so a processed one is past cancelling either way.
        if request.status == DeleteStatus::Processed {
            return Err(CompactorError::BadRequest("deletion of request which is in process or already processed is not allowed".into()));
        }
        deletes::delete_request(api.objects.as_ref(), &tenant, id).await
    }
    .await;
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => error.into_response(),
    }
}
