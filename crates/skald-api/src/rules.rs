//! Loki's ruler API: rule groups listed, read, created and deleted as YAML
//! (`/loki/api/v1/rules...` and the `/api/prom/rules...` aliases, what `lokitool rules`
//! and Grafana's alerting UI call), and the rules and alerts in Prometheus' JSON
//! (`/prometheus/api/v1/rules`, `/prometheus/api/v1/alerts`). Statuses and messages are
//! Loki's (`pkg/ruler/base/api.go`); where Loki accepts what it then fails on (an unknown
//! field, a log query as expression), Skald refuses it with a 400 naming the problem.

use crate::params::{Params, tenant};
use crate::{ApiError, AppState};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use skald_ruler::{GroupSnapshot, Ruler, StoreError};
use skald_rules::alert::AlertState;
use skald_rules::format::{RuleGroups, from_yaml, to_yaml, validate_groups};
use skald_rules::{RuleGroup, notify::rfc3339_ms};
use std::collections::BTreeMap;
use std::sync::Arc;

fn ruler(state: &AppState) -> Result<&Arc<Ruler>, ApiError> {
    state.ruler.as_ref().ok_or_else(|| ApiError::new(404, "this node runs no ruler"))
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let status = match e {
            StoreError::GroupNotFound | StoreError::NamespaceNotFound => 404,
            StoreError::Unsupported(_) | StoreError::Io(_) => 500,
            StoreError::Invalid(_) => 400,
        };
        ApiError::new(status, e.to_string())
    }
}

/// Loki decodes a path segment once more after the router did (`%252F` is a `/`).
fn unescape(segment: &str) -> Result<String, ApiError> {
    let decoded = url::form_urlencoded::parse(format!("x={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if decoded.is_empty() || decoded == "." || decoded == ".." || decoded.starts_with('/') || decoded.starts_with("../") {
        return Err(ApiError::bad_request("invalid namespace: path traversal not allowed"));
    }
    Ok(decoded)
}

fn yaml(body: String) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/yaml")], body).into_response()
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, [(header::CONTENT_TYPE, "application/json")], r#"{"status":"success","data":null,"errorType":"","error":""}"#)
        .into_response()
}

/// `labels=k1:v1,k2:v2`: a rule is kept when one of its labels is one of these.
fn label_filter(params: &Params) -> Result<Vec<(String, String)>, ApiError> {
    let Some(raw) = params.get("labels").filter(|s| !s.is_empty()) else { return Ok(Vec::new()) };
    raw.split(',')
        .map(|pair| match pair.split_once(':') {
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Err(ApiError::bad_request(format!("invalid labels parameter {pair:?}: expected name:value"))),
        })
        .collect()
}

async fn list(state: &AppState, params: &Params, namespace: Option<String>) -> Result<Response, ApiError> {
    let tenant = tenant(state, &params.headers)?;
    let ruler = ruler(state)?;
    let wanted = label_filter(params)?;
    let namespaces = ruler.store().list(&tenant, namespace.as_deref()).await.map_err(|e| ApiError::bad_request(e.to_string()))?;
    if namespaces.values().all(Vec::is_empty) {
        return Err(ApiError::new(404, "no rule groups found"));
    }
    let mut out: BTreeMap<String, Vec<RuleGroup>> = BTreeMap::new();
    for (ns, groups) in namespaces {
        for mut group in groups {
            if !wanted.is_empty() {
                group.rules.retain(|r| wanted.iter().any(|(k, v)| r.labels.get(k) == Some(v)));
                if group.rules.is_empty() {
                    continue;
                }
            }
            out.entry(ns.clone()).or_default().push(group);
        }
    }
    Ok(yaml(if out.is_empty() { "{}\n".to_string() } else { to_yaml(&out) }))
}

pub async fn list_all(State(state): State<Arc<AppState>>, params: Params) -> Result<Response, ApiError> {
    list(&state, &params, None).await
}

pub async fn list_namespace(State(state): State<Arc<AppState>>, Path(ns): Path<String>, params: Params) -> Result<Response, ApiError> {
    list(&state, &params, Some(unescape(&ns)?)).await
}

pub async fn get_group(
    State(state): State<Arc<AppState>>,
    Path((ns, group)): Path<(String, String)>,
    params: Params,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &params.headers)?;
    let group = ruler(&state)?.store().get(&tenant, &unescape(&ns)?, &unescape(&group)?).await?;
    Ok(yaml(to_yaml(&group)))
}

/// The body is one group (Loki's API), or a whole rule file (`groups:`), stored group
/// by group.
fn parse_body(body: &[u8]) -> Result<Vec<RuleGroup>, ApiError> {
    let text = std::str::from_utf8(body).map_err(|_| ApiError::bad_request("unable to decoded rule group: the body is not UTF-8"))?;
    let is_file =
        matches!(serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text), Ok(serde_yaml_ng::Value::Mapping(m)) if m.contains_key("groups"));
    let groups = if is_file { from_yaml::<RuleGroups>(text).map(|f| f.groups) } else { from_yaml::<RuleGroup>(text).map(|g| vec![g]) };
    let groups = groups.map_err(|e| ApiError::bad_request(format!("unable to decoded rule group: {e}")))?;
    let errors = validate_groups(&groups);
    if !errors.is_empty() {
        return Err(ApiError::bad_request(errors.join(", ")));
    }
    Ok(groups)
}

pub async fn create_group(
    State(state): State<Arc<AppState>>,
    Path(ns): Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers)?;
    let ruler = ruler(&state)?;
    let namespace = unescape(&ns)?;
    let groups = parse_body(&body)?;
    check_limits(&state, ruler, &tenant, &namespace, &groups).await?;
    for group in groups {
        ruler.store().set(&tenant, &namespace, &group).await?;
    }
    if let Err(error) = ruler.sync(Some(&tenant)).await {
        tracing::warn!(%tenant, %error, "applying changed rules failed; the next poll retries");
    }
    Ok(accepted())
}

/// The tenant's `ruler_max_rules_per_rule_group` and `ruler_max_rule_groups_per_tenant`
/// (Loki's messages). Unlike Loki, a group that replaces one of the same name does not
/// count twice, so a tenant at its limit can still change its groups.
async fn check_limits(state: &AppState, ruler: &Ruler, tenant: &str, namespace: &str, groups: &[RuleGroup]) -> Result<(), ApiError> {
    let Some(querier) = state.querier.as_ref() else { return Ok(()) };
    let limits = querier.limits(tenant);
    let per_group = limits.ruler_max_rules_per_rule_group;
    for group in groups {
        if per_group > 0 && group.rules.len() > per_group {
            return Err(ApiError::bad_request(format!(
                "per-user rules per rule group limit (limit: {per_group} actual: {}) exceeded",
                group.rules.len()
            )));
        }
    }
    let max_groups = limits.ruler_max_rule_groups_per_tenant;
    if max_groups > 0 {
        let existing = ruler.store().list(tenant, None).await.map_err(|e| ApiError::new(500, e.to_string()))?;
        let kept = existing
            .iter()
            .flat_map(|(ns, gs)| gs.iter().map(move |g| (ns, g)))
            .filter(|(ns, g)| !(ns.as_str() == namespace && groups.iter().any(|n| n.name == g.name)))
            .count();
        let total = kept + groups.len();
        if total > max_groups {
            return Err(ApiError::bad_request(format!("per-user rule groups limit (limit: {max_groups} actual: {total}) exceeded")));
        }
    }
    Ok(())
}

pub async fn delete_namespace(State(state): State<Arc<AppState>>, Path(ns): Path<String>, params: Params) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &params.headers)?;
    let ruler = ruler(&state)?;
    ruler.store().delete_namespace(&tenant, &unescape(&ns)?).await?;
    let _ = ruler.sync(Some(&tenant)).await;
    Ok(accepted())
}

pub async fn delete_group(
    State(state): State<Arc<AppState>>,
    Path((ns, group)): Path<(String, String)>,
    params: Params,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &params.headers)?;
    let ruler = ruler(&state)?;
    ruler.store().delete_group(&tenant, &unescape(&ns)?, &unescape(&group)?).await?;
    let _ = ruler.sync(Some(&tenant)).await;
    Ok(accepted())
}

/// An error in Prometheus' JSON envelope (`errorType` `bad_data`...).
struct PromError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl IntoResponse for PromError {
    fn into_response(self) -> Response {
        let body = json!({"status": "error", "data": null, "errorType": self.kind, "error": self.message});
        (self.status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
    }
}

fn prom_error(status: StatusCode, kind: &'static str, message: &str) -> PromError {
    PromError { status, kind, message: message.to_string() }
}

fn prom_success(data: Value) -> Response {
    let body = json!({"status": "success", "data": data, "errorType": "", "error": ""});
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)` (an alert's `value`).
fn go_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let s = format!("{v:e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    format!("{mantissa}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
}

/// Go's `time.Time` in JSON (RFC 3339 with the fraction's trailing zeros trimmed); a
/// time never set is Go's zero time.
fn time(ms: Option<i64>) -> String {
    match ms {
        None => "0001-01-01T00:00:00Z".to_string(),
        Some(ms) => {
            let text = rfc3339_ms(ms);
            let body = text.trim_end_matches('Z');
            let body = if body.contains('.') { body.trim_end_matches('0').trim_end_matches('.') } else { body };
            format!("{body}Z")
        }
    }
}

/// A float as Go's encoding/json writes it (`1`, not `1.0`).
fn go_float(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 1e15 { json!(v as i64) } else { json!(v) }
}

fn alert_json(a: &skald_rules::Alert) -> Value {
    json!({
        "labels": a.labels,
        "annotations": a.annotations,
        "state": a.state.as_str(),
        "activeAt": time(Some(a.active_at)),
        "value": go_e(a.value),
    })
}

/// `rule_name`, `rule_group`, `file` (also with Prometheus' `[]`) and `type`.
struct Filters {
    names: Vec<String>,
    groups: Vec<String>,
    files: Vec<String>,
    kind: Option<bool>,
}

fn filters(params: &Params) -> Result<Filters, PromError> {
    let both = |name: &str| {
        let mut v = params.all(name);
        v.extend(params.all(&format!("{name}[]")));
        v
    };
    let kind = match params.get("type").map(str::to_lowercase).as_deref() {
        None | Some("") => None,
        Some("alert") => Some(true),
        Some("record") => Some(false),
        Some(other) => {
            return Err(prom_error(StatusCode::BAD_REQUEST, "bad_data", &format!("not supported value {}", skald_common::go_quote(other))));
        }
    };
    Ok(Filters { names: both("rule_name"), groups: both("rule_group"), files: both("file"), kind })
}

fn group_json(g: &GroupSnapshot, f: &Filters) -> Option<Value> {
    if (!f.groups.is_empty() && !f.groups.contains(&g.group.name)) || (!f.files.is_empty() && !f.files.contains(&g.namespace)) {
        return None;
    }
    let mut rules = Vec::new();
    for r in &g.state.rules {
        let rule = &r.rule;
        if f.kind.is_some_and(|alert| alert != rule.is_alert()) || (!f.names.is_empty() && !f.names.iter().any(|n| n == rule.name())) {
            continue;
        }
        let query = skald_ruler::manager::printed(&rule.expr);
        if rule.is_alert() {
            let active: Vec<&skald_rules::Alert> = r.alerts.active.values().filter(|a| a.resolved_at.is_none()).collect();
            let state = if active.iter().any(|a| a.state == AlertState::Firing) {
                "firing"
            } else if active.iter().any(|a| a.state == AlertState::Pending) {
                "pending"
            } else {
                "inactive"
            };
            rules.push(json!({
                "state": state,
                "name": rule.alert,
                "query": query,
                "duration": go_float(rule.for_.map(|d| d.0 as f64 / 1000.0).unwrap_or(0.0)),
                "labels": rule.labels,
                "annotations": rule.annotations,
                "alerts": active.iter().map(|a| alert_json(a)).collect::<Vec<_>>(),
                "health": r.health,
                "lastError": r.last_error,
                "type": "alerting",
                "lastEvaluation": time(r.last_evaluation),
                "evaluationTime": go_float(r.evaluation_time),
            }));
        } else {
            rules.push(json!({
                "name": rule.record,
                "query": query,
                "labels": rule.labels,
                "health": r.health,
                "lastError": r.last_error,
                "type": "recording",
                "lastEvaluation": time(r.last_evaluation),
                "evaluationTime": go_float(r.evaluation_time),
            }));
        }
    }
    if rules.is_empty() {
        return None;
    }
    Some(json!({
        "name": g.group.name,
        "file": g.namespace,
        "rules": rules,
        "interval": go_float(g.interval_ms as f64 / 1000.0),
        "limit": g.group.limit,
        "lastEvaluation": time(g.state.last_evaluation),
        "evaluationTime": go_float(g.state.evaluation_time),
    }))
}

fn prom_tenant(state: &AppState, params: &Params) -> Result<String, PromError> {
    tenant(state, &params.headers).map_err(|e| match e.status {
        400 => prom_error(StatusCode::BAD_REQUEST, "bad_data", "too many org ids found"),
        _ => prom_error(StatusCode::UNAUTHORIZED, "bad_data", "no org id"),
    })
}

/// The other rulers of a cluster, asked for their part of the Prometheus rules and
/// alerts endpoints (Loki's ruler asks every ruler of its ring the same way).
#[async_trait::async_trait]
pub trait RulerPeers: Send + Sync {
    /// `GET path_and_query` on every other healthy ruler, as `tenant` (with the
    /// caller's `Authorization`, valid on every node), with [`LOCAL_ONLY_HEADER`] set:
    /// each answer's JSON, or why it failed.
    async fn ask_all(&self, tenant: &str, authorization: Option<&str>, path_and_query: &str) -> Vec<Result<Value, String>>;
}

/// Marks a request from another ruler: answered with this ruler's groups alone.
pub const LOCAL_ONLY_HEADER: &str = "x-skald-ruler-local";

/// `data.<key>` of every other ruler's answer to this request (none when asked by a
/// ruler, or outside a cluster). A ruler that does not answer is left out, with a
/// warning: the groups it evaluates are missing from the list until it is back.
async fn from_peers(state: &AppState, params: &Params, tenant: &str, path: &str, key: &str) -> Vec<Value> {
    let Some(peers) = &state.ruler_peers else { return Vec::new() };
    if params.headers.contains_key(LOCAL_ONLY_HEADER) {
        return Vec::new();
    }
    let query = params.encoded();
    let path_and_query = if query.is_empty() { path.to_string() } else { format!("{path}?{query}") };
    let mut out = Vec::new();
    let authorization = params.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    for answer in peers.ask_all(tenant, authorization, &path_and_query).await {
        match answer {
            Ok(body) => out.extend(body["data"][key].as_array().cloned().unwrap_or_default()),
            Err(error) => tracing::warn!(%tenant, %error, "a ruler did not answer: its groups are not listed"),
        }
    }
    out
}

pub async fn prometheus_rules(State(state): State<Arc<AppState>>, params: Params) -> Response {
    let tenant = match prom_tenant(&state, &params) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let f = match filters(&params) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let Some(ruler) = state.ruler.as_ref() else { return prom_success(json!({"groups": []})) };
    let snapshot = ruler.snapshot(&tenant);
    let mut groups: Vec<Value> = snapshot.iter().filter_map(|g| group_json(g, &f)).collect();
    groups.extend(from_peers(&state, &params, &tenant, "/prometheus/api/v1/rules", "groups").await);
    // By file (namespace), then name, whichever ruler evaluates them.
    let order = |g: &Value| (g["file"].as_str().unwrap_or_default().to_string(), g["name"].as_str().unwrap_or_default().to_string());
    groups.sort_by_key(order);
    prom_success(json!({ "groups": groups }))
}

pub async fn prometheus_alerts(State(state): State<Arc<AppState>>, params: Params) -> Response {
    let tenant = match prom_tenant(&state, &params) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let mut alerts = Vec::new();
    if let Some(ruler) = state.ruler.as_ref() {
        for g in ruler.snapshot(&tenant) {
            for r in &g.state.rules {
                alerts.extend(r.alerts.active.values().filter(|a| a.resolved_at.is_none()).map(alert_json));
            }
        }
    }
    alerts.extend(from_peers(&state, &params, &tenant, "/prometheus/api/v1/alerts", "alerts").await);
    prom_success(json!({ "alerts": alerts }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_are_printed_as_go_prints_them() {
        assert_eq!(super::go_e(1.0), "1e+00");
        assert_eq!(super::go_e(0.5), "5e-01");
        assert_eq!(super::go_e(123.45), "1.2345e+02");
        assert_eq!(super::go_e(f64::INFINITY), "+Inf");
        assert_eq!(super::time(Some(1_700_000_000_000)), "2023-11-14T22:13:20Z");
        assert_eq!(super::time(Some(1_700_000_000_120)), "2023-11-14T22:13:20.12Z");
        assert_eq!(super::time(Some(1_700_000_000_100)), "2023-11-14T22:13:20.1Z");
        assert_eq!(super::time(None), "0001-01-01T00:00:00Z");
        assert_eq!(super::time(Some(1_700_000_040_000)), "2023-11-14T22:14:00Z");
        assert_eq!(super::go_float(1.0).to_string(), "1");
        assert_eq!(super::go_float(0.25).to_string(), "0.25");
    }
}
