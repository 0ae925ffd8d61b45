//! Request parameters from the query string and form bodies, the tenant, and Loki's
//! defaults for time ranges, limits and steps (`pkg/loghttp/params.go`).

use crate::{ApiError, AppState};
use axum::extract::{FromRequest, Request};
use axum::http::HeaderMap;
use skald_common::{parse_duration, parse_duration_or_seconds, parse_timestamp, unix_nanos_now, validate_tenant};
use skald_logql::engine::Direction;

/// Most bytes of a form body on a query endpoint.
const MAX_FORM_BODY: usize = 8 << 20;

/// Parameters of a GET query string or a POSTed form, in order.
pub struct Params {
    pairs: Vec<(String, String)>,
    pub headers: HeaderMap,
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let mut pairs: Vec<(String, String)> =
            parts.uri.query().map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
        let is_form = parts
            .headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if is_form {
            let bytes =
                axum::body::to_bytes(body, MAX_FORM_BODY).await.map_err(|e| ApiError::bad_request(format!("reading form body: {e}")))?;
            pairs.extend(url::form_urlencoded::parse(&bytes).into_owned());
        }
        Ok(Params { pairs, headers: parts.headers })
    }
}

impl Params {
    /// The parameters as a query string (`a=1&b=2`).
    pub fn encoded(&self) -> String {
        let mut encoder = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in &self.pairs {
            encoder.append_pair(name, value);
        }
        encoder.finish()
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
    }

    pub fn time(&self, name: &str, default: i64) -> Result<i64, ApiError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => {
                parse_timestamp(v).map_err(|_| ApiError::bad_request(format!("invalid {name}: cannot parse \"{v}\" to a valid timestamp")))
            }
        }
    }

    /// `start`/`end` with Loki's defaults (`end` = now, `start` = end - `since` or 1h).
    pub fn range(&self, default_span: i64) -> Result<(i64, i64), ApiError> {
        let now = unix_nanos_now();
        let end = self.time("end", now)?;
        let span = match self.get("since") {
            Some(v) => parse_duration(v).map_err(|_| ApiError::bad_request(format!("invalid since: cannot parse \"{v}\"")))?,
            None => default_span,
        };
        let start = self.time("start", end - span)?;
        if end < start {
            return Err(ApiError::bad_request("end timestamp must not be before or equal to start time"));
        }
        Ok((start, end))
    }

    pub fn limit(&self, default: usize) -> Result<usize, ApiError> {
        match self.get("limit") {
            None => Ok(default),
            Some(v) => {
                let limit: i64 = v.parse().map_err(|_| ApiError::bad_request(format!("invalid limit: cannot parse \"{v}\"")))?;
                if limit <= 0 {
                    return Err(ApiError::bad_request("limit must be a positive value"));
                }
                Ok(limit as usize)
            }
        }
    }

    pub fn direction(&self) -> Result<Direction, ApiError> {
        match self.get("direction").map(str::to_ascii_lowercase).as_deref() {
            None | Some("backward") => Ok(Direction::Backward),
            Some("forward") => Ok(Direction::Forward),
            Some(other) => Err(ApiError::bad_request(format!("invalid direction '{other}'"))),
        }
    }

    /// `step` (or `interval`-free default `max(floor(range/250 s), 1 s)`).
    pub fn step(&self, start: i64, end: i64) -> Result<i64, ApiError> {
        match self.get("step") {
            Some(v) => {
                let step =
                    parse_duration_or_seconds(v).map_err(|_| ApiError::bad_request(format!("invalid step: cannot parse \"{v}\"")))?;
                if step <= 0 {
                    return Err(ApiError::bad_request(
                        "zero or negative query resolution step widths are not accepted. Try a positive integer",
                    ));
                }
                Ok(step)
            }
            None => {
                let seconds = ((end - start) / 1_000_000_000 / 250).max(1);
                Ok(seconds * 1_000_000_000)
            }
        }
    }

    pub fn query(&self) -> Result<&str, ApiError> {
        self.get("query").ok_or_else(|| ApiError::bad_request("query parameter is required"))
    }

    pub fn categorize_labels(&self) -> bool {
        self.headers
            .get_all("X-Loki-Response-Encoding-Flags")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|f| f.trim() == "categorize-labels"))
    }
}

/// The tenant of a request: `X-Scope-OrgID` when auth is enabled (401 without it),
/// `fake` otherwise.
pub fn tenant(state: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    let mut tenants = tenant_ids(state, headers)?;
    if tenants.len() > 1 {
        return Err(ApiError::bad_request(if state.multi_tenant_queries {
            "multiple org IDs present: this endpoint answers for one tenant"
        } else {
            "multiple org IDs present"
        }));
    }
    Ok(tenants.remove(0))
}

/// The tenants of a query: `X-Scope-OrgID: a|b` names several (sorted, once each, as
/// dskit normalises them) when `querier.multi_tenant_queries_enabled` is on; one
/// otherwise (Loki's `multiple org IDs present` for more).
pub fn tenants(state: &AppState, headers: &HeaderMap) -> Result<Vec<String>, ApiError> {
    let tenants = tenant_ids(state, headers)?;
    if tenants.len() > 1 && !state.multi_tenant_queries {
        return Err(ApiError::bad_request("multiple org IDs present"));
    }
    Ok(tenants)
}

fn tenant_ids(state: &AppState, headers: &HeaderMap) -> Result<Vec<String>, ApiError> {
    if !state.auth_enabled {
        return Ok(vec!["fake".to_string()]);
    }
    let Some(value) = headers.get("X-Scope-OrgID") else {
        return Err(ApiError::new(401, "no org id"));
    };
    let header = value.to_str().map_err(|_| ApiError::new(401, "no org id"))?.trim();
    let mut ids = Vec::new();
    for id in header.split('|') {
        validate_tenant(id).map_err(|e| ApiError::bad_request(e.to_string()))?;
        ids.push(id.to_string());
    }
    ids.sort();
    ids.dedup();
    Ok(ids)
}
