//! A scheduler on a loopback port, querier workers whose handler answers from a fixed
//! synthetic dataset, and helpers to ask the frontend and the handler directly.
#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use parking_lot::Mutex;
use serde_json::{Value, json};
use skald_common::{parse_duration_or_seconds, parse_timestamp};
use skald_frontend::{
    FrontendConfig, SchedulerClient, SchedulerConfig, SchedulerHandle, TenantLimits, connect_scheduler, scheduler_service,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower::ServiceExt;

pub const SECOND: i64 = 1_000_000_000;
pub const MINUTE: i64 = 60 * SECOND;
pub const HOUR: i64 = 60 * MINUTE;
/// 2024-06-01T00:00:00Z: the dataset covers this day.
pub const DAY_START: i64 = 1_717_200_000 * SECOND;

/// A scheduler serving gRPC on a loopback port.
pub struct Scheduler {
    pub address: String,
    pub handle: SchedulerHandle,
    task: JoinHandle<()>,
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn start_scheduler(config: SchedulerConfig) -> Scheduler {
    let (service, handle) = scheduler_service(config);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binding a loopback port");
    let address = listener.local_addr().expect("local address").to_string();
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let task = tokio::spawn(async move {
        let _ = tonic::transport::Server::builder().add_service(service).serve_with_incoming(incoming).await;
    });
    Scheduler { address, handle, task }
}

pub fn client(scheduler: &Scheduler) -> SchedulerClient {
    connect_scheduler(&scheduler.address, None).expect("a scheduler client")
}

pub fn frontend(scheduler: &Scheduler, limits: TenantLimits) -> Router {
    skald_frontend::frontend_router(client(scheduler), FrontendConfig::new(limits))
}

/// A worker task, aborted when dropped.
pub struct Worker(pub JoinHandle<()>);

impl Drop for Worker {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub fn start_worker(scheduler: &Scheduler, id: &str, concurrency: usize, handler: Router) -> Worker {
    Worker(tokio::spawn(skald_frontend::run_querier_worker(scheduler.address.clone(), id.to_string(), concurrency, handler, None)))
}

/// Waits until `check` holds, up to 10 s.
pub async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

/// One request the dataset handler answered.
#[derive(Debug, Clone)]
pub struct Served {
    pub tenant: String,
    pub path: String,
    pub start: i64,
    pub end: i64,
}

/// The dataset handler's shared state.
#[derive(Clone, Default)]
pub struct Dataset {
    pub served: Arc<Mutex<Vec<Served>>>,
    /// Parts answered 500 "boom" when their start is at or after this.
    pub fail_from: Option<i64>,
}

impl Dataset {
    pub fn router(&self) -> Router {
        Router::new().route("/loki/api/v1/query_range", get(query_range)).route("/loki/api/v1/labels", get(labels)).with_state(self.clone())
    }

    pub fn served(&self) -> Vec<Served> {
        self.served.lock().clone()
    }
}

fn tenant(headers: &HeaderMap) -> String {
    headers.get("x-scope-orgid").and_then(|v| v.to_str().ok()).unwrap_or("fake").to_string()
}

async fn labels(State(data): State<Dataset>, headers: HeaderMap) -> Response {
    data.served.lock().push(Served { tenant: tenant(&headers), path: "labels".into(), start: 0, end: 0 });
    tokio::time::sleep(Duration::from_millis(3)).await;
    axum::Json(json!({"status": "success", "data": ["app"]})).into_response()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn bad(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, [("content-type", "text/plain; charset=utf-8")], format!("{message}\n")).into_response()
}

/// Answers metric queries (`count_over_time...`) with values computed from the step
/// times, and log queries from synthetic entries, the way the engine orders them.
async fn query_range(State(data): State<Dataset>, headers: HeaderMap, Query(params): Query<Vec<(String, String)>>) -> Response {
    let Some(query) = param(&params, "query") else { return bad("query parameter is required") };
    let Some(start) = param(&params, "start").and_then(|v| parse_timestamp(v).ok()) else { return bad("invalid start") };
    let Some(end) = param(&params, "end").and_then(|v| parse_timestamp(v).ok()) else { return bad("invalid end") };
    let step = match param(&params, "step") {
        Some(v) => parse_duration_or_seconds(v).unwrap_or(SECOND),
        None => ((end - start) / SECOND / 250).max(1) * SECOND,
    };
    let limit: usize = param(&params, "limit").and_then(|v| v.parse().ok()).unwrap_or(100);
    let backward = param(&params, "direction") != Some("forward");
    data.served.lock().push(Served { tenant: tenant(&headers), path: "query_range".into(), start, end });
    if data.fail_from.is_some_and(|from| start >= from) {
        return (StatusCode::INTERNAL_SERVER_ERROR, [("content-type", "text/plain; charset=utf-8")], "boom\n").into_response();
    }
    if query == "{bad" {
        return bad("parse error at line 1, col 2: syntax error: unexpected $end");
    }
    let (result_type, result, count) =
        if query.starts_with("count_over_time") { metric(start, end, step) } else { logs(start, end, limit, backward) };
    let body = json!({"status": "success", "data": {
        "resultType": result_type, "result": result,
        "stats": {"summary": {"totalEntriesReturned": count, "execTime": 0.001, "splits": 0}}
    }});
    axum::Json(body).into_response()
}

fn seconds_value(ts: i64) -> Value {
    if ts % SECOND == 0 { json!(ts / SECOND) } else { json!((ts / 1_000_000) as f64 / 1000.0) }
}

fn metric(start: i64, end: i64, step: i64) -> (&'static str, Value, usize) {
    let mut a = Vec::new();
    let mut b = Vec::new();
    let mut t = start;
    while t <= end {
        a.push(json!([seconds_value(t), format!("{}", ((t / SECOND) % 97) as f64 / 4.0)]));
        if (t / MINUTE) % 3 != 0 {
            b.push(json!([seconds_value(t), format!("{}", (t / MINUTE) % 11)]));
        }
        t += step;
    }
    let count = a.len() + b.len();
    let mut series = Vec::new();
    if !a.is_empty() {
        series.push(json!({"metric": {"job": "a"}, "values": a}));
    }
    if !b.is_empty() {
        series.push(json!({"metric": {"job": "b", "level": "x"}, "values": b}));
    }
    ("matrix", Value::Array(series), count)
}

/// Every entry of the dataset: (time, stream, line), streams `app` a, b, c every 7, 11
/// and 13 minutes over the day, with equal timestamps across streams (whole hours) and
/// within stream c (a second line at each of its times).
pub fn entries() -> Vec<(i64, &'static str, String)> {
    let mut all = Vec::new();
    for (app, period) in [("a", 7), ("b", 11), ("c", 13)] {
        let mut k = 0;
        while k * period * MINUTE < 24 * HOUR {
            let ts = DAY_START + k * period * MINUTE;
            all.push((ts, app, format!("{app} line {k}")));
            if app == "c" {
                all.push((ts, app, format!("{app} line {k} again")));
            }
            k += 1;
        }
        for hour in 0..24 {
            all.push((DAY_START + hour * HOUR + 30 * MINUTE, app, format!("{app} half past {hour}")));
        }
    }
    all.sort_by_key(|e| e.0);
    all
}

fn logs(start: i64, end: i64, limit: usize, backward: bool) -> (&'static str, Value, usize) {
    let mut candidates: Vec<(i64, &str, usize, String)> = Vec::new();
    for (position, (ts, app, line)) in entries().into_iter().enumerate() {
        if ts >= start && ts < end {
            let position = if backward { usize::MAX - position } else { position };
            candidates.push((ts, app, position, line));
        }
    }
    candidates.sort_by(|x, y| {
        let by_time = if backward { y.0.cmp(&x.0) } else { x.0.cmp(&y.0) };
        by_time.then_with(|| x.1.cmp(y.1)).then_with(|| x.2.cmp(&y.2))
    });
    candidates.truncate(limit);
    let count = candidates.len();
    let mut streams: Vec<(&str, Vec<Value>)> = Vec::new();
    for (ts, app, _, line) in candidates {
        let value = json!([ts.to_string(), line]);
        match streams.iter_mut().find(|(a, _)| *a == app) {
            Some((_, values)) => values.push(value),
            None => streams.push((app, vec![value])),
        }
    }
    let result: Vec<Value> = streams.into_iter().map(|(app, values)| json!({"stream": {"app": app}, "values": values})).collect();
    ("streams", Value::Array(result), count)
}

/// GET `path?params` on a router; status and body.
pub async fn get_from(router: &Router, path: &str, params: &[(&str, String)], tenant: &str) -> (u16, String) {
    let mut encoder = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        encoder.append_pair(k, v);
    }
    let uri = format!("{path}?{}", encoder.finish());
    let request = Request::get(uri).header("X-Scope-OrgID", tenant).body(Body::empty()).expect("a request");
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status().as_u16();
    let body = axum::body::to_bytes(response.into_body(), 64 << 20).await.expect("a body");
    (status, String::from_utf8_lossy(&body).into_owned())
}
