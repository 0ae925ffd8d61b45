//! Per-tenant overrides (`runtime_config.file`), read at start and every
//! `runtime_config.period` after; a file that has become broken keeps the last good
//! overrides in force and says why (log, and `loki_runtime_config_last_reload_successful`
//! on `/metrics`). Also the two admin pages Loki has: `GET /config` and
//! `GET /runtime_config` (`?mode=diff|defaults`).

use crate::startup::Startup;
use axum::extract::Query;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use skald_config::overrides::{RuntimeOverrides, TenantLimits, limits_tree, parse_runtime};
use skald_config::print::{Mode, diff, render};
use skald_config::{Config, ConfigError};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether the last reading of the runtime config succeeded (for `/metrics`).
static LAST_RELOAD_OK: AtomicBool = AtomicBool::new(true);

/// Reads the files once; empty overrides when none is configured.
pub fn load_now(config: &Config, tree: &serde_yaml_ng::Value) -> Result<RuntimeOverrides, ConfigError> {
    let files = config.runtime_config.files();
    if files.is_empty() {
        return Ok(RuntimeOverrides::default());
    }
    let texts = read(&files)?;
    parse_runtime(&texts.iter().map(String::as_str).collect::<Vec<_>>(), &limits_tree(tree))
}

fn read(files: &[std::path::PathBuf]) -> Result<Vec<String>, ConfigError> {
    files.iter().map(|path| std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.clone(), source })).collect()
}

/// Rereads the files every period while the server runs.
pub fn spawn_reload(startup: &Startup) {
    let config = startup.config();
    let files = config.runtime_config.files();
    if files.is_empty() || config.runtime_config.period <= 0 {
        return;
    }
    let period = crate::server::nanos(config.runtime_config.period);
    let base = limits_tree(&startup.loaded.tree);
    let tenants = startup.tenants.clone();
    tokio::spawn(async move {
        let mut last_texts = read(&files).ok();
        let mut interval = tokio::time::interval(period);
        interval.tick().await;
        loop {
            interval.tick().await;
            let texts = match read(&files) {
                Ok(texts) => texts,
                Err(error) => {
                    LAST_RELOAD_OK.store(false, Ordering::Relaxed);
                    tracing::warn!(%error, "runtime config not reloaded: keeping the last good overrides");
                    continue;
                }
            };
            if last_texts.as_ref() == Some(&texts) {
                continue;
            }
            match parse_runtime(&texts.iter().map(String::as_str).collect::<Vec<_>>(), &base) {
                Ok(overrides) => {
                    tracing::info!(tenants = overrides.tenants.len(), ignored = %overrides.ignored.join(", "), "runtime config reloaded");
                    tenants.replace(overrides);
                    LAST_RELOAD_OK.store(true, Ordering::Relaxed);
                }
                Err(error) => {
                    LAST_RELOAD_OK.store(false, Ordering::Relaxed);
                    tracing::warn!(%error, "runtime config is invalid: keeping the last good overrides");
                }
            }
            last_texts = Some(texts);
        }
    });
}

/// Loki's metric of the reload status.
pub fn render_metrics() -> String {
    let ok = u8::from(LAST_RELOAD_OK.load(Ordering::Relaxed));
    format!(
        "# HELP loki_runtime_config_last_reload_successful Whether the last runtime config reload attempt was successful.\n# TYPE loki_runtime_config_last_reload_successful gauge\nloki_runtime_config_last_reload_successful {ok}\n"
    )
}

/// `GET /config` and `GET /runtime_config`.
pub fn router(config: Arc<Config>, tenants: Arc<TenantLimits>) -> axum::Router {
    axum::Router::new()
        .route(
            "/config",
            axum::routing::get(move |Query(params): Query<HashMap<String, String>>| {
                let config = config.clone();
                async move {
                    match Mode::parse(params.get("mode").map(String::as_str)) {
                        Some(mode) => yaml(render(config.as_ref(), &Config::default(), mode)),
                        None => bad_mode(),
                    }
                }
            }),
        )
        .route(
            "/runtime_config",
            axum::routing::get(move |Query(params): Query<HashMap<String, String>>| {
                let tenants = tenants.clone();
                async move {
                    match Mode::parse(params.get("mode").map(String::as_str)) {
                        Some(mode) => yaml(runtime_yaml(&tenants, mode)),
                        None => bad_mode(),
                    }
                }
            }),
        )
}

/// The overrides in force: each tenant's limits in full, or (`diff`) only what differs
/// from `limits_config`.
fn runtime_yaml(tenants: &TenantLimits, mode: Mode) -> String {
    let to_value = |v: &skald_common::Limits| serde_yaml_ng::to_value(v).unwrap_or_default();
    let defaults = to_value(tenants.defaults());
    let mut overrides = serde_yaml_ng::Mapping::new();
    if mode != Mode::Defaults {
        for (tenant, limits) in &tenants.current().tenants {
            let value = to_value(limits);
            let shown = if mode == Mode::Diff { diff(&defaults, &value).unwrap_or_default() } else { value };
            overrides.insert(tenant.clone().into(), shown);
        }
    }
    let mut top = serde_yaml_ng::Mapping::new();
    top.insert("overrides".into(), serde_yaml_ng::Value::Mapping(overrides));
    serde_yaml_ng::to_string(&top).unwrap_or_default()
}

fn yaml(text: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}

fn bad_mode() -> Response {
    (StatusCode::BAD_REQUEST, "unknown value for mode query parameter (use diff or defaults)\n").into_response()
}
