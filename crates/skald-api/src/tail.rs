//! `GET /loki/api/v1/tail`: a websocket that first sends recent entries (since `start`,
//! up to `limit`) and then every new entry matching the query, as Loki's tailer does.
//! Frames are `{"streams":[{"stream":{..},"values":[["<ns>","<line>"]]}],"dropped_entries":null}`.

use crate::encode::labels_object;
use crate::params::{Params, tenant};
use crate::{ApiError, AppState};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use serde_json::{Value, json};
use skald_common::LabelSet;
use skald_ingester::{Ingester, TailBatch};
use skald_logql::engine::{Direction, QueryResult};
use skald_logql::pipeline::Pipeline;
use skald_logql::{Expr, LogExpr, parse_expr};
use skald_querier::QueryRequest;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

/// Where a live tail gets new entries: this process's ingester, or (in a cluster) every
/// ingester over gRPC. A subscription yields batches of one tenant (possibly more
/// streams than `matchers` select: the tail filters again); it ends when dropped.
#[async_trait::async_trait]
pub trait TailFeed: Send + Sync {
    async fn subscribe(&self, tenant: &str, matchers: &[skald_index::LabelMatcher]) -> Result<mpsc::Receiver<Arc<TailBatch>>, ApiError>;
}

/// This process's ingester: its broadcast of appended entries, filtered by tenant.
#[async_trait::async_trait]
impl TailFeed for Ingester {
    async fn subscribe(&self, tenant: &str, _matchers: &[skald_index::LabelMatcher]) -> Result<mpsc::Receiver<Arc<TailBatch>>, ApiError> {
        let mut live = self.subscribe_tail();
        let (sender, receiver) = mpsc::channel(64);
        let tenant = tenant.to_string();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    batch = live.recv() => match batch {
                        Ok(batch) if batch.tenant == tenant => {
                            if sender.send(batch).await.is_err() {
                                return;
                            }
                        }
                        Ok(_) => {}
                        Err(RecvError::Lagged(skipped)) => tracing::warn!(skipped, "tail client fell behind; batches dropped"),
                        Err(RecvError::Closed) => return,
                    },
                    _ = sender.closed() => return,
                }
            }
        });
        Ok(receiver)
    }
}

pub async fn tail(State(state): State<Arc<AppState>>, ws: WebSocketUpgrade, params: Params) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &params.headers)?;
    let query = params.query()?.to_string();
    let Expr::Log(log) = parse_expr(&query).map_err(|e| ApiError::bad_request(e.to_string()))? else {
        return Err(ApiError::bad_request("tail requires a log query, not a metric query"));
    };
    let pipeline = Pipeline::new(&log.pipeline).map_err(|e| ApiError::bad_request(e.0))?;
    let matchers = skald_querier::compile_matchers(&log.matchers).map_err(|e| ApiError::bad_request(e.message))?;
    let now = skald_common::unix_nanos_now();
    let start = params.time("start", now - 3600 * 1_000_000_000)?;
    let limit = params.limit(100)?;
    Ok(ws.on_upgrade(move |socket| run(socket, state, tenant, query, log, pipeline, matchers, start, limit)))
}

#[allow(clippy::too_many_arguments)]
async fn run(
    mut socket: WebSocket,
    state: Arc<AppState>,
    tenant: String,
    query: String,
    log: LogExpr,
    pipeline: Pipeline,
    matchers: Vec<skald_index::LabelMatcher>,
    start: i64,
    limit: usize,
) {
    // Subscribe before reading history so nothing falls between the two.
    let Some(feed) = state.tail.clone() else {
        close(&mut socket, "this node cannot tail: it runs no querier").await;
        return;
    };
    let mut live = match feed.subscribe(&tenant, &matchers).await {
        Ok(live) => live,
        Err(error) => {
            close(&mut socket, &error.message).await;
            return;
        }
    };
    let now = skald_common::unix_nanos_now();
    let history = QueryRequest {
        query,
        start,
        end: now + 1,
        step: 0,
        limit,
        direction: Direction::Forward,
        instant: false,
        categorize_labels: false,
    };
    let Some(querier) = state.querier.clone() else {
        close(&mut socket, "this node runs no querier").await;
        return;
    };
    match querier.query(&tenant, history).await {
        Ok(output) => {
            if let QueryResult::Streams(streams) = output.result
                && !streams.is_empty()
            {
                let frame: Vec<Value> = streams
                    .iter()
                    .map(|s| {
                        let values: Vec<Value> = s.entries.iter().map(|e| json!([e.ts.to_string(), e.line])).collect();
                        json!({"stream": labels_object(&s.labels), "values": values})
                    })
                    .collect();
                if send(&mut socket, frame).await.is_err() {
                    return;
                }
            }
        }
        Err(error) => {
            close(&mut socket, &error.to_string()).await;
            return;
        }
    }
    let _ = &log;
    let mut ping = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            batch = live.recv() => {
                let Some(batch) = batch else { break };
                if batch.tenant != tenant {
                    continue;
                }
                let mut grouped: BTreeMap<LabelSet, Vec<Value>> = BTreeMap::new();
                for stream in &batch.streams {
                    if !matchers.iter().all(|m| m.matches(&stream.labels)) {
                        continue;
                    }
                    let mut processor = pipeline.for_stream(&stream.labels);
                    for entry in &stream.entries {
                        if let Some(processed) = processor.process(entry.ts, &entry.line, &entry.metadata) {
                            grouped.entry(processed.labels.all()).or_default().push(json!([entry.ts.to_string(), processed.line]));
                        }
                    }
                }
                if grouped.is_empty() {
                    continue;
                }
                let frame: Vec<Value> = grouped.into_iter().map(|(labels, values)| json!({"stream": labels_object(&labels), "values": values})).collect();
                if send(&mut socket, frame).await.is_err() {
                    break;
                }
            }
            message = socket.recv() => {
                match message {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                    Some(Ok(_)) => {}
                }
            }
            _ = ping.tick() => {
                if send_within(&mut socket, Message::Ping(Vec::new().into())).await.is_err() {
                    break;
                }
            }
        }
    }
}

/// How long one frame (entries or a ping) may take to go out before the tail ends: a
/// client that does not read cannot hold the server, nor make it buffer.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

async fn send(socket: &mut WebSocket, streams: Vec<Value>) -> Result<(), axum::Error> {
    let frame = json!({"streams": streams, "dropped_entries": null});
    send_within(socket, Message::Text(frame.to_string().into())).await
}

async fn send_within(socket: &mut WebSocket, message: Message) -> Result<(), axum::Error> {
    match tokio::time::timeout(SEND_TIMEOUT, socket.send(message)).await {
        Ok(result) => result,
        Err(_) => Err(axum::Error::new("tail client is not reading")),
    }
}

async fn close(socket: &mut WebSocket, reason: &str) {
    let frame = CloseFrame { code: 1011, reason: reason.chars().take(120).collect::<String>().into() };
    let _ = socket.send(Message::Close(Some(frame))).await;
}
