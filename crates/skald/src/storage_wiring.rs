//! Wiring of object storage (filesystem or S3) and the compactor into the server:
//! which backend the configuration names, the index refresh loop, the delete API and
//! the compaction loop.

use anyhow::Context;
use skald_compactor::{Compactor, DeleteApi, Retention, RetentionFn};
use skald_config::Config;
use skald_config::overrides::TenantLimits;
use skald_storage::Store;
use std::path::Path;
use std::sync::Arc;

/// Opens the store the configuration names and loads its index.
pub async fn open_store(config: &Config, data_dir: &Path, cache_bytes: usize) -> anyhow::Result<Arc<Store>> {
    let object_store = config.schema_config.active_object_store(skald_common::unix_nanos_now());
    let backend = config.storage_config.backend(&config.common.storage, object_store, data_dir)?;
    let writer = format!("{}-{}", std::process::id(), skald_common::unix_nanos_now());
    let objects = backend.object_store_with_prefix(&config.storage_config.object_prefix)?;
    let store = Arc::new(Store::new(objects, &writer, cache_bytes));
    let index_files = store.load_index().await.with_context(|| format!("loading the index from {}", backend.describe()))?;
    tracing::info!(storage = %backend.describe(), index_files, "storage ready");
    Ok(store)
}

/// The delete API (Loki's `/loki/api/v1/delete`), served by every node that runs the
/// compactor role (all of them in single-binary mode).
pub fn delete_router(config: &Config, store: &Arc<Store>) -> axum::Router {
    skald_compactor::router(DeleteApi::new(store.objects().clone(), &config.compactor, config.auth_enabled))
}

/// Starts the index refresh loop and the compaction loop (single binary).
pub fn spawn_background(config: &Config, store: &Arc<Store>, tenants: &Arc<TenantLimits>) -> anyhow::Result<()> {
    spawn_index_refresh(config, store);
    spawn_compactor(config, store, tenants)
}

/// Reloads index files other nodes wrote, every `tsdb_shipper.resync_interval`.
pub fn spawn_index_refresh(config: &Config, store: &Arc<Store>) {
    if let Some(every) = config.storage_config.tsdb_shipper.resync_every() {
        tokio::spawn(store.clone().run_refresh_loop(every));
    }
}

/// Starts the compaction loop (retention, deletes, index merging): one per bucket.
/// Retention is each tenant's (`limits_config` with the tenant's runtime overrides).
pub fn spawn_compactor(config: &Config, store: &Arc<Store>, tenants: &Arc<TenantLimits>) -> anyhow::Result<()> {
    let global = Retention::from_limits(&config.limits_config)?;
    let tenants = tenants.clone();
    let retention: RetentionFn = Arc::new(move |tenant: &str| {
        // Overrides were checked when read; a failure here would be a bug: keep the global rules.
        Retention::from_limits(&tenants.limits(tenant)).unwrap_or_else(|error| {
            tracing::warn!(%tenant, %error, "tenant retention rules do not compile: using limits_config's");
            global.clone()
        })
    });
    let compactor = Arc::new(Compactor::per_tenant(store.clone(), config.compactor.clone(), retention));
    tokio::spawn(skald_compactor::run(compactor));
    Ok(())
}
