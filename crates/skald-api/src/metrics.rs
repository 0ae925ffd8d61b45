//! `/metrics` in the Prometheus text format, with Loki's metric names where Loki has
//! the metric. Values are read from the components' own counters at scrape time, so
//! there is no second copy of any figure to keep in step.

use crate::AppState;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;
use std::sync::Mutex;

/// Requests by route and status.
#[derive(Default)]
pub struct HttpMetrics {
    requests: Mutex<BTreeMap<(String, u16), (u64, f64)>>,
}

pub async fn track(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let route = route_name(request.uri().path());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed().as_secs_f64();
    if let Ok(mut map) = state.http_metrics.requests.lock() {
        let entry = map.entry((route, response.status().as_u16())).or_default();
        entry.0 += 1;
        entry.1 += elapsed;
    }
    response
}

/// Collapses path parameters so routes stay few.
fn route_name(path: &str) -> String {
    if path.starts_with("/loki/api/v1/label/") {
        return "loki_api_v1_label_name_values".to_string();
    }
    let trimmed = path.trim_matches('/').replace('/', "_");
    if trimmed.is_empty() { "root".to_string() } else { trimmed }
}

pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, kind: &str, value: f64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
    };
    gauge("skald_up_seconds", "Seconds since start.", "gauge", state.started.elapsed().as_secs_f64());
    if let Some(distributor) = &state.distributor {
        let (lines, bytes) = distributor.received();
        gauge("loki_distributor_lines_received_total", "Lines received by the distributor.", "counter", lines as f64);
        gauge("loki_distributor_bytes_received_total", "Bytes of lines and metadata received.", "counter", bytes as f64);
        let _ =
            writeln!(out, "# HELP loki_discarded_samples_total Entries refused, by reason.\n# TYPE loki_discarded_samples_total counter");
        for (reason, count) in distributor.discarded() {
            let _ = writeln!(out, "loki_discarded_samples_total{{reason=\"{reason}\"}} {count}");
        }
    }
    if let Some(ingester) = &state.ingester {
        ingester_metrics(&mut out, ingester);
    }
    let _ = writeln!(
        out,
        "# HELP loki_request_duration_seconds_count Requests by route and status.\n# TYPE loki_request_duration_seconds_count counter"
    );
    if let Ok(map) = state.http_metrics.requests.lock() {
        for ((route, status), (count, seconds)) in map.iter() {
            let _ = writeln!(out, "loki_request_duration_seconds_count{{route=\"{route}\",status_code=\"{status}\"}} {count}");
            let _ = writeln!(out, "loki_request_duration_seconds_sum{{route=\"{route}\",status_code=\"{status}\"}} {seconds}");
        }
    }
    for extra in &state.extra_metrics {
        out.push_str(&extra());
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}

fn ingester_metrics(out: &mut String, ingester: &skald_ingester::Ingester) {
    let stats = ingester.stats();
    let store = ingester.store().stats();
    let mut gauge = |name: &str, help: &str, kind: &str, value: f64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
    };
    gauge("loki_ingester_memory_streams", "Streams held in memory.", "gauge", stats.streams as f64);
    gauge("skald_ingester_head_bytes", "Bytes held in uncompressed head blocks.", "gauge", stats.head_bytes as f64);
    gauge("skald_ingester_entries_appended_total", "Entries appended.", "counter", stats.entries_appended as f64);
    gauge("loki_ingester_chunks_flushed_total", "Chunks flushed to storage.", "counter", stats.chunks_flushed as f64);
    gauge("skald_ingester_chunks_pending_flush", "Sealed chunks waiting for the flush loop.", "gauge", stats.chunks_sealed_pending as f64);
    gauge("skald_ingester_wal_replayed_records_total", "WAL records replayed at start.", "counter", stats.wal_replayed_records as f64);
    if let Some(wal) = ingester.wal_stats() {
        gauge("loki_ingester_wal_records_logged_total", "Records written to the WAL.", "counter", wal.records as f64);
        gauge("loki_ingester_wal_logged_bytes_total", "Bytes written to the WAL.", "counter", wal.bytes as f64);
        gauge("skald_ingester_wal_fsyncs_total", "fdatasync rounds of the WAL (one per group commit).", "counter", wal.syncs as f64);
        gauge(
            "skald_ingester_wal_fsync_seconds_total",
            "Seconds spent in WAL fdatasync rounds; divided by the rounds, the disk's share of push latency.",
            "counter",
            wal.sync_nanos as f64 / 1e9,
        );
    }
    gauge("loki_ingester_chunk_stored_bytes_total", "Bytes of chunks written to storage.", "counter", store.chunk_bytes_written as f64);
    gauge("skald_store_index_files_written_total", "Index files written to storage.", "counter", store.index_files_written as f64);
    gauge("skald_store_chunks_fetched_total", "Chunks read from storage.", "counter", store.chunks_fetched as f64);
    gauge("skald_store_chunk_cache_bytes", "Bytes held by the chunk cache.", "gauge", store.cache_bytes as f64);
    let _ = writeln!(
        out,
        "# HELP loki_ingester_chunks_flushed_by_reason_total Chunks flushed, by reason.\n# TYPE loki_ingester_chunks_flushed_by_reason_total counter"
    );
    for (reason, count) in ingester.flush_reasons() {
        let _ = writeln!(out, "loki_ingester_chunks_flushed_by_reason_total{{reason=\"{reason}\"}} {count}");
    }
}
