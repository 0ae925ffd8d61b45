//! `skald server`: wires store, ingester, distributor, querier and HTTP API together.

use crate::ServerArgs;
use crate::config::Config;
use anyhow::Context;
use skald_api::AppState;
use skald_distributor::{Distributor, IngesterPush};
use skald_ingester::{Ingester, IngesterConfig};
use skald_querier::Querier;
use skald_storage::Store;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Chunk cache size of the querier.
const CHUNK_CACHE_BYTES: usize = 256 << 20;

pub fn run(args: ServerArgs) -> anyhow::Result<()> {
    limit_malloc_arenas();
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let log_level = std::env::var("RUST_LOG").unwrap_or_else(|_| config.server.log_level.clone());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&log_level).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let target = args.target.clone().or(config.target.clone()).unwrap_or_else(|| "all".into());
    if target != "all" {
        anyhow::bail!("target '{target}' is not available yet: this version runs every role in one process (target=all)");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(serve(args, config))
}

async fn serve(args: ServerArgs, config: Config) -> anyhow::Result<()> {
    let data_dir = args.data_dir.clone().or(config.common.path_prefix.clone()).unwrap_or_else(|| PathBuf::from("./data"));
    std::fs::create_dir_all(&data_dir).with_context(|| format!("creating data directory {}", data_dir.display()))?;
    let store_dir = config.storage_config.filesystem.as_ref().and_then(|f| f.directory.clone()).unwrap_or_else(|| data_dir.clone());
    let writer = format!("{}-{}", std::process::id(), skald_common::unix_nanos_now());
    let store = Arc::new(Store::local(&store_dir, &writer, CHUNK_CACHE_BYTES)?);
    let index_files = store.load_index().await.context("loading the index from storage")?;
    tracing::info!(dir = %store_dir.display(), index_files, "storage ready");

    let mut ingester_config = IngesterConfig::new(&data_dir);
    let section = &config.ingester;
    ingester_config.wal_enabled = section.wal.enabled;
    if let Some(dir) = &section.wal.dir {
        ingester_config.wal_dir = dir.clone();
    }
    ingester_config.chunk_idle_period = nanos(section.chunk_idle_period);
    ingester_config.max_chunk_age = nanos(section.max_chunk_age);
    ingester_config.chunk_target_size = section.chunk_target_size as usize;
    ingester_config.block_size = section.chunk_block_size as usize;
    ingester_config.flush_check_period = nanos(section.flush_check_period);
    ingester_config.head_memory_budget = section.head_memory_budget as usize;
    ingester_config.max_streams_per_tenant = config.limits_config.max_global_streams_per_user;
    ingester_config.codec = skald_chunk::Codec::parse(&section.chunk_encoding).context("ingester.chunk_encoding")?;
    let (ingester, replay) = Ingester::open(ingester_config, store.clone())?;

    let limits = config.limits_config.clone();
    let limits_fn: Arc<dyn Fn(&str) -> skald_common::Limits + Send + Sync> = Arc::new(move |_tenant: &str| limits.clone());
    let pusher: Arc<dyn IngesterPush> = Arc::new(ingester.clone());
    let distributor = Arc::new(Distributor::new(limits_fn.clone(), pusher));
    let querier = Arc::new(Querier::new(ingester.clone(), store.clone(), limits_fn));
    let state = Arc::new(AppState::new(distributor, querier, ingester.clone(), config.auth_enabled));
    let app = skald_api::router(state).merge(skald_ui::router());

    let addr =
        args.http_addr.clone().unwrap_or_else(|| format!("{}:{}", config.server.http_listen_address, config.server.http_listen_port));
    let listener = tokio::net::TcpListener::bind(&addr).await.with_context(|| format!("listening on {addr}"))?;
    tracing::info!(%addr, data_dir = %data_dir.display(), auth_enabled = config.auth_enabled, "skald listening");

    // Serve (reporting not ready) while the WAL replays.
    if let Some(replay) = replay {
        let replaying = ingester.clone();
        tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            match replaying.replay(replay) {
                Ok(report) => tracing::info!(
                    records = report.records,
                    bytes = report.bytes,
                    truncated_bytes = report.truncated_bytes,
                    seconds = started.elapsed().as_secs_f64(),
                    "write-ahead log replayed; ready"
                ),
                Err(error) => tracing::error!(%error, "write-ahead log replay failed"),
            }
        });
    }
    tokio::spawn(ingester.clone().run_flush_loop());
    ingester.start_cutter().context("starting the head cutter thread")?;

    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
    tracing::info!("shutting down: flushing in-memory data");
    match ingester.flush(true).await {
        Ok(report) => tracing::info!(chunks = report.chunks, "flushed"),
        Err(error) => tracing::warn!(%error, "flush on shutdown failed; the WAL still holds the data"),
    }
    Ok(())
}

/// glibc gives every thread that allocates its own arena; with pushes decoded on many
/// blocking threads that fragments memory (measured: peak RSS well above the data held).
/// Two arenas keep the peak close to what is live, at no measurable CPU cost.
fn limit_malloc_arenas() {
    // SAFETY: mallopt only changes allocator tuning; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

fn nanos(value: i64) -> Duration {
    Duration::from_nanos(value.max(0) as u64)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
