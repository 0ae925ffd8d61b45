//! Scaling an ingester down without loss, with Loki's endpoints:
//! - `GET|POST /ingester/shutdown?flush=true&delete_ring_tokens=false&terminate=true`:
//!   stop taking writes (LEAVING), flush everything in memory to storage, leave the
//!   ring, delete the tokens file if asked, and end the process unless `terminate=false`;
//!   answered 204 once the data is in storage;
//! - `GET|POST|DELETE /ingester/prepare_shutdown`: the next SIGTERM also unregisters the
//!   ingester from the ring even with `ingester.lifecycler.unregister_on_shutdown: false`
//!   (`GET` answers `set` or `unset`).
//!
//! And `ingester.autoforget_unhealthy`: every heartbeat period, ingesters whose
//! heartbeat is older than the ring's heartbeat timeout are forgotten, as the /ring page's
//! button does (not when every other ingester looks dead: that is this node cut off).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use skald_ingester::Ingester;
use skald_ring::{Cluster, InstanceState};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

/// What the shutdown endpoints change, shared with the serve loop.
#[derive(Default)]
pub struct ShutdownControl {
    /// `prepare_shutdown` was posted: unregister on the next SIGTERM.
    prepared: AtomicBool,
    /// `/ingester/shutdown` asked the process to end.
    requested: Notify,
    /// The ingester already left the ring through `/ingester/shutdown`.
    left: AtomicBool,
}

impl ShutdownControl {
    /// Resolves when `/ingester/shutdown` asked the process to end.
    pub async fn requested(&self) {
        self.requested.notified().await;
    }

    /// Whether a clean shutdown unregisters from the ring.
    pub fn unregister(&self, configured: bool) -> bool {
        configured || self.prepared.load(Ordering::SeqCst)
    }

    /// Whether `/ingester/shutdown` already left the ring.
    pub fn already_left(&self) -> bool {
        self.left.load(Ordering::SeqCst)
    }
}

/// The node parts the endpoints act on (a single binary has no cluster).
#[derive(Clone)]
pub struct ShutdownTarget {
    pub control: Arc<ShutdownControl>,
    pub ingester: Arc<Ingester>,
    pub cluster: Option<Cluster>,
    pub tokens_file: Option<PathBuf>,
}

pub fn router(target: ShutdownTarget) -> axum::Router {
    axum::Router::new()
        .route("/ingester/prepare_shutdown", get(prepare_status).post(prepare).delete(unprepare))
        .route("/ingester/shutdown", get(shutdown).post(shutdown))
        .with_state(target)
}

async fn prepare_status(State(target): State<ShutdownTarget>) -> &'static str {
    if target.control.prepared.load(Ordering::SeqCst) { "set\n" } else { "unset\n" }
}

async fn prepare(State(target): State<ShutdownTarget>) -> StatusCode {
    target.control.prepared.store(true, Ordering::SeqCst);
    tracing::info!("prepared for shutdown: the next SIGTERM flushes and unregisters from the ring");
    StatusCode::NO_CONTENT
}

async fn unprepare(State(target): State<ShutdownTarget>) -> StatusCode {
    target.control.prepared.store(false, Ordering::SeqCst);
    StatusCode::NO_CONTENT
}

/// A boolean query parameter with Loki's default (`strconv.ParseBool` spellings).
fn flag(params: &HashMap<String, String>, name: &str, default: bool) -> Result<bool, (StatusCode, String)> {
    match params.get(name).map(String::as_str) {
        None | Some("") => Ok(default),
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
        Some(other) => Err((StatusCode::BAD_REQUEST, format!("invalid value for {name}: {other:?} is not a boolean\n"))),
    }
}

async fn shutdown(
    State(target): State<ShutdownTarget>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<StatusCode, (StatusCode, String)> {
    let flush = flag(&params, "flush", true)?;
    let delete_tokens = flag(&params, "delete_ring_tokens", false)?;
    let terminate = flag(&params, "terminate", true)?;
    tracing::info!(flush, delete_tokens, terminate, "shutdown requested through /ingester/shutdown");
    if let Some(cluster) = &target.cluster {
        // No new writes from here on; reads still reach this ingester while it flushes.
        cluster.set_state(InstanceState::Leaving);
    }
    if flush {
        let report = target
            .ingester
            .flush(true)
            .await
            .map_err(|error| (StatusCode::INTERNAL_SERVER_ERROR, format!("flush failed (the WAL still holds the data): {error}\n")))?;
        tracing::info!(chunks = report.chunks, "flushed before leaving");
    }
    if let Some(cluster) = &target.cluster
        && !target.control.left.swap(true, Ordering::SeqCst)
    {
        cluster.leave().await;
    }
    if delete_tokens && let Some(path) = &target.tokens_file {
        match std::fs::remove_file(path) {
            Ok(()) => tracing::info!(path = %path.display(), "ring tokens file deleted"),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => tracing::warn!(path = %path.display(), %error, "cannot delete the ring tokens file"),
        }
    }
    if terminate {
        target.control.requested.notify_one();
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `ingester.autoforget_unhealthy`: forgets ingesters without a heartbeat for longer than
/// the heartbeat timeout, every heartbeat period.
pub fn spawn_autoforget(cluster: Cluster) {
    let period = cluster.config().heartbeat_period.max(Duration::from_millis(100));
    let timeout_ms = i64::try_from(cluster.config().heartbeat_timeout.as_millis()).unwrap_or(i64::MAX);
    tracing::info!(after = ?cluster.config().heartbeat_timeout, "autoforget removes ingesters without a heartbeat from the ring");
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(period).await;
            let now = skald_common::unix_nanos_now() / 1_000_000;
            for id in skald_ring::stale_ingesters(&cluster.members(), cluster.id(), now, timeout_ms) {
                tracing::info!(ingester = %id, "autoforget: removed from the ring, no heartbeat within the timeout");
                cluster.forget(&id);
            }
        }
    });
}
